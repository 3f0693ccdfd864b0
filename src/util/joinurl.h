/* Teams join links where Graph leaves them outside `onlineMeeting`: an event that
 * another client created or edited may have `onlineMeeting` null and the link in
 * `onlineMeetingUrl`, its location or its body. Either link form counts: the long
 * `/l/meetup-join/...` and the short `/meet/<joinMeetingId>?p=...` that Teams gives
 * scheduled meetings since January 2026, on the Teams hosts of the public and
 * government clouds; a Safe Links wrapper is unwrapped.
 *
 * The order in which an event's fields are searched is declared here once
 * (joinurl_fields); each caller reads the fields from its own JSON representation.
 * Pure functions: no allocation beyond the caller's buffer. */
#ifndef TA_JOINURL_H
#define TA_JOINURL_H

#include <stddef.h>

#include "status.h"
#include "util/buf.h"

/* The fields searched after onlineMeeting.joinUrl, in order. A path is "a" or
 * "a.b"; "a[].b" means member b of each element of array a. The name is what the
 * final snapshot's `joinUrlSource` says. */
extern const char *const joinurl_fields[];
extern const size_t joinurl_nfields;

/* 1 when url (n bytes) is a Teams join link itself (scheme, host, path). */
int joinurl_is_teams(const char *url, size_t n);

/* Finds the first Teams join link in text (a URL field, a location or an HTML or
 * plain-text body): unwraps Safe Links, decodes `&amp;`, and appends the link to
 * out (cleared first). Returns 1 when found, 0 when not, -1 when out is full. */
int joinurl_scan(const char *text, size_t len, buf *out);

#endif
