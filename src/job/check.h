/* The advice of `check`: which fix a failure calls for. One table decides it, from the
 * failure's class (the libcurl code of a network failure: TLS certificate, name not
 * resolved, connection refused, timeout; else the HTTP status) and what was being
 * reached, and names the setting, permission or role to change. */
#ifndef TA_CHECK_H
#define TA_CHECK_H

#include <stddef.h>

#include "config.h"
#include "status.h"

typedef enum check_target {
    CHECK_LOGIN,    /* the Graph token: Entra ID or the managed identity endpoint */
    CHECK_USER,     /* GET /users/{upn} */
    CHECK_CALENDAR, /* GET /users/{upn}/calendarView */
    CHECK_MEETING,  /* GET /users/{id}/onlineMeetings?$filter=JoinWebUrl eq ... */
    CHECK_GROUP,    /* GET /groups?$filter=mail eq ..., /groups/{id}/transitiveMembers */
    CHECK_STORAGE
} check_target;

/* Writes the fix for failure e, met while reaching t, into out (always terminated). */
void check_fix_for(const config *cfg, check_target t, const errinfo *e, char *out, size_t n);

#endif
