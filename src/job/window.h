/* The time rules of docs/behaviour.md, as pure functions: a mailbox's window,
 * its new watermark (with the settle rule), and which event a report belongs to. */
#ifndef TA_WINDOW_H
#define TA_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define WINDOW_NO_WATERMARK INT64_MIN
#define WINDOW_NO_TIME INT64_MIN /* a report start that is missing or unreadable */

/* What the rules need to know of one event of the window. */
typedef struct window_event {
    int64_t start_us, end_us;
    int organizer_teams; /* the mailbox organizes it; an online Teams meeting with a join URL */
    int single_instance; /* type singleInstance */
    int meeting;         /* index of its online meeting in the mailbox, -1 when none */
} window_event;

/* [start, end) of a mailbox's window: the first-run window when there is no
 * watermark, else watermark minus the overlap. end is the run's "now". */
void window_for_mailbox(int64_t watermark, int64_t now_us, int first_run_days, int overlap_minutes,
                        int64_t *start_us, int64_t *end_us);

/* The new watermark: the later of the old one and the latest start among events
 * that have started (win_end when none has), but never past the start of a meeting
 * that holds it back (window_holds_back). */
int64_t window_new_watermark(int64_t old, const window_event *ev, size_t n, int64_t now_us,
                             int64_t win_end_us, int settle_minutes);

/* 1 when an event holds the watermark back: an organized Teams meeting that ended
 * less than settle_minutes before now, or has not ended, so that a later run fetches
 * its report once Teams has written it. Bounded: a meeting that started more than
 * WINDOW_HOLD_MAX_US before now, or whose end cannot be read (end_us WINDOW_NO_TIME),
 * holds nothing; tracked meetings pick up its reports. */
#define WINDOW_HOLD_MAX_US (INT64_C(24) * 3600 * 1000000)
int window_holds_back(const window_event *e, int64_t now_us, int settle_minutes);

/* The event a report of `meeting` belongs to, or -1: a singleInstance event of
 * the meeting takes all its reports; otherwise the event whose scheduled time
 * (60 minutes before its start to its end) holds the report's start, the nearest
 * start when several do. A report_start_us of WINDOW_NO_TIME ties only to a
 * singleInstance event. For a channel meeting (channel = 1), whose listing holds the
 * reports of every meeting of the channel, only the time rule counts. */
int window_tie_report(int64_t report_start_us, const window_event *ev, size_t n, int meeting,
                      int channel);

#endif
