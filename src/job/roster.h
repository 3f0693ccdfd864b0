/* The mailboxes a run reads: ATTENDANCE_USERS, then SGA_UPN*, then the transitive
 * user members of each ATTENDANCE_GROUPS group (SPEC sections 3 and 7), merged with
 * case-insensitive duplicates dropped, each with where it came from.
 *
 * roster_build resolves the groups through the engine before any mailbox starts (a
 * group given by mail address is looked up first). A group Graph will not list is
 * recorded on that group (roster_group.err), not returned: the other mailboxes still
 * run. Members that are disabled, guests, or come without a userPrincipalName are
 * skipped with one warning each and counted on their group. The roster owns every
 * string in it; roster_dispose releases them (NULL-safe). */
#ifndef TA_ROSTER_H
#define TA_ROSTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "graph/graph.h"
#include "http/http.h"
#include "status.h"

typedef struct roster_entry {
    char *upn;
    const char *source; /* "users", "sga_upn", or its group's "group:<id>" */
} roster_entry;

typedef struct roster_group {
    char *given;       /* as configured: an object id or a mail address */
    char *id;          /* the object id once known, else NULL */
    char *source;      /* "group:<id>" once the id is known */
    int64_t members;   /* user members Graph listed (transitively, each once) */
    int64_t mailboxes; /* members this group added to the roster */
    int64_t disabled, guests, limited, invalid, no_mailbox; /* skipped members */
    int pages;
    errinfo err; /* code ST_OK unless the group could not be listed */
    /* working state during roster_build */
    struct roster *ro;
    char **upns; /* members kept, in Graph's order */
    size_t nupns, aupns;
} roster_group;

typedef struct roster {
    roster_entry *v;
    size_t n, alloc;
    roster_group *groups;
    size_t ngroups;
    int max_pages;
    http_engine *eng;
    graph_client *gc;
    int failed_groups;
    int64_t skipped_unique; /* skipped members, each counted once whatever its groups */
    status oom;             /* ST_NOMEM met inside a callback */
    /* case-insensitive set of the UPNs in v and of "#<id>" of members already skipped */
    char **keys;
    size_t nkeys, nslots;
    size_t *slots;
} roster;

/* Fills ro from the settings and Graph. ST_OK unless memory or the engine failed. */
TA_MUST_USE status roster_build(roster *ro, const config *cfg, http_engine *eng, graph_client *gc,
                                errinfo *err);
void roster_dispose(roster *ro);
/* 1 when the source names a group (its members are skipped, not failed, when they
 * turn out to have no mailbox). */
int roster_from_group(const char *source);
/* Counts a member of the group behind source that has no mailbox (Graph's 404
 * MailboxNotEnabledForRESTAPI or ErrorInvalidUser on calendarView). */
void roster_no_mailbox(roster *ro, const char *source);
/* 1 when the Graph error code of a 404 on calendarView means "no mailbox". */
int roster_is_no_mailbox(const char *error_code);
/* The members skipped in all (disabled, guests, limited, invalid, no mailbox), each
 * once even when it is in several groups. */
int64_t roster_skipped(const roster *ro);
/* The manifest's "groups": [{"group","id","members","mailboxes","skipped":{...},"error"}];
 * "mailboxes" leaves out the members found to have no mailbox. */
json_t *roster_groups_json(const roster *ro);

#endif
