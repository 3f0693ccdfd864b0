/* Window, watermark and report tying: see window.h. */
#include "job/window.h"

#define US_PER_MIN INT64_C(60000000)

void window_for_mailbox(int64_t watermark, int64_t now_us, int first_run_days, int overlap_minutes,
                        int64_t *start_us, int64_t *end_us)
{
    *end_us = now_us;
    if (watermark == WINDOW_NO_WATERMARK)
        *start_us = now_us - (int64_t)first_run_days * 24 * 60 * US_PER_MIN;
    else
        *start_us = watermark - (int64_t)overlap_minutes * US_PER_MIN;
    if (*start_us > *end_us)
        *start_us = *end_us;
}

int64_t window_new_watermark(int64_t old, const window_event *ev, size_t n, int64_t now_us,
                             int64_t win_end_us, int settle_minutes)
{
    int64_t latest = WINDOW_NO_WATERMARK;
    for (size_t i = 0; i < n; i++)
        if (ev[i].start_us <= now_us && ev[i].start_us > latest)
            latest = ev[i].start_us;
    int64_t cand = latest == WINDOW_NO_WATERMARK ? win_end_us : latest;
    for (size_t i = 0; i < n; i++)
        if (window_holds_back(&ev[i], now_us, settle_minutes) && ev[i].start_us < cand)
            cand = ev[i].start_us;
    return cand > old ? cand : old;
}

int window_holds_back(const window_event *e, int64_t now_us, int settle_minutes)
{
    if (!e->organizer_teams || e->end_us == WINDOW_NO_TIME)
        return 0;
    if (e->start_us < now_us - WINDOW_HOLD_MAX_US)
        return 0;
    return e->end_us > now_us - (int64_t)settle_minutes * US_PER_MIN;
}

int window_tie_report(int64_t report_start_us, const window_event *ev, size_t n, int meeting,
                      int channel)
{
    for (size_t i = 0; !channel && i < n; i++)
        if (ev[i].meeting == meeting && ev[i].single_instance)
            return (int)i;
    if (report_start_us == WINDOW_NO_TIME)
        return -1;
    int best = -1;
    int64_t best_dist = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i].meeting != meeting)
            continue;
        if (report_start_us < ev[i].start_us - 60 * US_PER_MIN || report_start_us > ev[i].end_us)
            continue;
        int64_t d = report_start_us - ev[i].start_us;
        if (d < 0)
            d = -d;
        if (best < 0 || d < best_dist) {
            best = (int)i;
            best_dist = d;
        }
    }
    return best;
}
