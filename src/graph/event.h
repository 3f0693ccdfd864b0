/* What the job reads of a calendarView event (docs/behaviour.md) that more than one
 * command needs: the join link of a Teams meeting the mailbox organizes, wherever
 * Graph left it. Only such events are looked up: an attendee gets 403.
 *
 * Pure functions over Graph's JSON; the link may be written into a caller-owned
 * scratch buffer, which the returned pointer then points into. */
#ifndef TA_EVENT_H
#define TA_EVENT_H

#include <jansson.h>

#include "util/buf.h"
#include "util/jsontok.h"

/* The join URL of a Teams meeting that event e is organized by this mailbox, else
 * NULL: onlineMeeting.joinUrl when isOnlineMeeting and the provider is
 * teamsForBusiness; without it, the first Teams link in the fields of
 * joinurl_fields (util/joinurl.h), in their order. *source is NULL for
 * onlineMeeting.joinUrl, else the joinurl_fields name the link came from (then the
 * link is in scratch, valid until scratch changes). A join URL of another provider
 * in onlineMeeting means the event is not a Teams meeting. */
const char *event_organized_join_url(json_t *e, buf *scratch, const char **source);
/* The same for event token e of doc d; a link from onlineMeeting points into d. */
const char *event_organized_join_url_tok(const jsontok_doc *d, uint32_t e, buf *scratch,
                                         const char **source);

#endif
