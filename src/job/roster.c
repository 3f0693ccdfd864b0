/* The merged mailbox list and group resolution: see roster.h. */
#include "job/roster.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define MAX_UPN_LEN 320
#define ID_LEN 36

/* ---- the case-insensitive key set ------------------------------------------ */

static uint64_t hash_ci(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) {
        h ^= (unsigned char)tolower((unsigned char)*s);
        h *= 1099511628211u;
    }
    return h;
}

static status keys_grow(roster *ro, errinfo *err)
{
    size_t nslots = ro->nslots ? ro->nslots * 2 : 64;
    size_t *slots = calloc(nslots, sizeof *slots);
    char **keys = realloc(ro->keys, (nslots / 2) * sizeof *keys);
    if (!slots || !keys) {
        free(slots);
        if (keys)
            ro->keys = keys;
        return err_set(err, ST_NOMEM, "out of memory listing group members");
    }
    ro->keys = keys;
    for (size_t i = 0; i < ro->nkeys; i++) {
        size_t k = hash_ci(keys[i]) % nslots;
        while (slots[k])
            k = (k + 1) % nslots;
        slots[k] = i + 1;
    }
    free(ro->slots);
    ro->slots = slots;
    ro->nslots = nslots;
    return ST_OK;
}

/* Adds key unless it is there: 1 added, 0 already there, -1 out of memory. */
static int keys_add(roster *ro, const char *key, errinfo *err)
{
    if (ro->nkeys + 1 > ro->nslots / 2 && keys_grow(ro, err) != ST_OK)
        return -1;
    size_t k = hash_ci(key) % ro->nslots;
    while (ro->slots[k]) {
        if (strcasecmp(ro->keys[ro->slots[k] - 1], key) == 0)
            return 0;
        k = (k + 1) % ro->nslots;
    }
    char *copy = strdup(key);
    if (!copy) {
        err_set(err, ST_NOMEM, "out of memory listing group members");
        return -1;
    }
    ro->keys[ro->nkeys] = copy;
    ro->slots[k] = ++ro->nkeys;
    return 1;
}

static status entry_add(roster *ro, const char *upn, const char *source, int *added, errinfo *err)
{
    *added = 0;
    int fresh = keys_add(ro, upn, err);
    if (fresh <= 0)
        return fresh < 0 ? ST_NOMEM : ST_OK;
    if (ro->n == ro->alloc) {
        size_t alloc = ro->alloc ? ro->alloc * 2 : 16;
        roster_entry *v = realloc(ro->v, alloc * sizeof *v);
        if (!v)
            return err_set(err, ST_NOMEM, "out of memory listing group members");
        ro->v = v;
        ro->alloc = alloc;
    }
    char *copy = strdup(upn);
    if (!copy)
        return err_set(err, ST_NOMEM, "out of memory listing group members");
    ro->v[ro->n++] = (roster_entry){copy, source};
    *added = 1;
    return ST_OK;
}

/* ---- what Graph sends ------------------------------------------------------- */

/* Graph's answers are not trusted: an object id is used in a URL path and a source
 * name, so it must be a GUID. */
static const char *guid_value(const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) != ID_LEN)
        return NULL;
    for (size_t i = 0; i < ID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return NULL;
    }
    return s;
}

/* A UPN becomes a URL path segment and a folder name: the same rule as the settings. */
static int upn_usable(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!s || n == 0 || n > MAX_UPN_LEN || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '?' || c == '#')
            return 0;
    }
    return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static void group_failed(roster_group *g, const errinfo *e)
{
    if (g->err.code == ST_OK) {
        g->err = *e;
        g->ro->failed_groups++;
    }
}

/* A refused listing names the permission to grant; the engine's message is kept. */
static void group_failed_http(roster_group *g, http_result *res, const char *what)
{
    errinfo e = {0};
    if (res->http_status == 403 || res->http_status == 401)
        err_set(&e, ST_FORBIDDEN,
                "Graph refused to %s group %s (%ld): grant the application permission "
                "GroupMember.Read.All (Microsoft Graph) with admin consent [%s]",
                what, g->given, res->http_status, res->err.msg);
    else if (res->http_status == 404)
        err_set(&e, ST_NOT_FOUND,
                "group %s was not found in this tenant (404): fix ATTENDANCE_GROUPS [%s]", g->given,
                res->err.msg);
    else
        err_set(&e, res->err.code ? res->err.code : ST_HTTP, "listing the members of group %s: %s",
                g->given, res->err.msg);
    e.http_status = (int)res->http_status;
    e.curl_code = res->err.curl_code;
    group_failed(g, &e);
}

static status keep_member(roster_group *g, const char *upn, errinfo *err)
{
    if (g->nupns == g->aupns) {
        size_t a = g->aupns ? g->aupns * 2 : 64;
        char **v = realloc(g->upns, a * sizeof *v);
        if (!v)
            return err_set(err, ST_NOMEM, "out of memory listing group members");
        g->upns = v;
        g->aupns = a;
    }
    if (!(g->upns[g->nupns] = strdup(upn)))
        return err_set(err, ST_NOMEM, "out of memory listing group members");
    g->nupns++;
    return ST_OK;
}

/* One warning per skipped member, even when it is in several groups. */
static void skip_member(roster_group *g, const char *id, const char *upn, int64_t *counter,
                        const char *reason, const char *msg)
{
    (*counter)++;
    char key[ID_LEN + 2];
    snprintf(key, sizeof key, "#%s", id ? id : "");
    errinfo e = {0};
    int fresh = id ? keys_add(g->ro, key, &e) : 1;
    if (fresh < 0)
        g->ro->oom = ST_NOMEM;
    if (fresh == 1)
        g->ro->skipped_unique++;
    if (fresh == 1)
        log_warn(msg, json_pack("{s:s,s:s?,s:s?,s:s}", "group", g->given, "member_id", id, "upn",
                                upn, "reason", reason));
}

static void take_member(roster_group *g, const json_t *m)
{
    if (!json_is_object(m))
        return;
    const char *id = guid_value(json_object_get(m, "id"));
    const json_t *upn_v = json_object_get(m, "userPrincipalName");
    const char *upn = upn_usable(upn_v) ? json_string_value(upn_v) : NULL;
    const char *type = json_string_value(json_object_get(m, "userType"));
    g->members++;
    if (!upn && (!upn_v || json_is_null(upn_v))) {
        skip_member(g, id, NULL, &g->limited, "limited",
                    "Graph listed a group member without its userPrincipalName (limited "
                    "information): grant the application permission User.Read.All so members "
                    "can be read; member skipped");
        return;
    }
    /* a guest's UPN holds "#EXT#": it is a guest before it is an unusable name */
    const char *shown = json_string_value(upn_v);
    if (json_is_false(json_object_get(m, "accountEnabled"))) {
        skip_member(g, id, shown, &g->disabled, "disabled",
                    "group member's account is disabled; member skipped");
        return;
    }
    if (type && strcasecmp(type, "Guest") == 0) {
        skip_member(g, id, shown, &g->guests, "guest", "group member is a guest; member skipped");
        return;
    }
    if (!upn) {
        skip_member(g, id, NULL, &g->invalid, "invalid",
                    "Graph listed a group member whose userPrincipalName cannot name a mailbox; "
                    "member skipped");
        return;
    }
    errinfo e = {0};
    if (keep_member(g, upn, &e) != ST_OK)
        g->ro->oom = ST_NOMEM;
}

static void submit_members(roster_group *g, http_request *req, errinfo *e);

static void on_members(void *ctx, http_result *res)
{
    roster_group *g = ctx;
    if (res->st != ST_OK) {
        group_failed_http(g, res, "list the members of");
        return;
    }
    errinfo e = {0};
    json_t *value = json_object_get(res->json, "value");
    if (!json_is_array(value)) {
        err_set(&e, ST_JSON, "Graph answered the members of group %s without a \"value\" array",
                g->given);
        group_failed(g, &e);
        return;
    }
    size_t i;
    json_t *m;
    json_array_foreach(value, i, m) take_member(g, m);
    g->pages++;
    const json_t *next_v = json_object_get(res->json, "@odata.nextLink");
    const char *next = json_string_value(next_v);
    if (!next)
        return;
    if (strlen(next) != json_string_length(next_v)) {
        err_set(&e, ST_DATA, "Graph sent a nextLink holding NUL for group %s", g->given);
        group_failed(g, &e);
        return;
    }
    if (g->pages >= g->ro->max_pages) {
        err_set(&e, ST_LIMIT,
                "group %s: more than %d pages of members (ATTENDANCE_MAX_PAGES); not all listed",
                g->given, g->ro->max_pages);
        group_failed(g, &e);
        return;
    }
    http_request *req = graph_request_next(g->ro->gc, next, 0, -1, &e);
    if (req && graph_add_eventual(req, &e) != ST_OK) {
        http_request_free(req);
        req = NULL;
    }
    submit_members(g, req, &e);
}

static void submit_members(roster_group *g, http_request *req, errinfo *e)
{
    if (!req || http_submit(g->ro->eng, req, on_members, g, e) != ST_OK) {
        if (e->code == ST_NOMEM)
            g->ro->oom = ST_NOMEM;
        group_failed(g, e);
    }
}

static status set_id(roster_group *g, const char *id, errinfo *err)
{
    size_t n = strlen(id);
    g->id = malloc(n + 1);
    g->source = malloc(n + sizeof "group:");
    if (!g->id || !g->source)
        return err_set(err, ST_NOMEM, "out of memory listing group members");
    for (size_t i = 0; i <= n; i++)
        g->id[i] = (char)tolower((unsigned char)id[i]);
    snprintf(g->source, n + sizeof "group:", "group:%s", g->id);
    return ST_OK;
}

static void start_members(roster_group *g)
{
    errinfo e = {0};
    submit_members(g, graph_request_group_members(g->ro->gc, g->id, -1, &e), &e);
}

static void on_group_by_mail(void *ctx, http_result *res)
{
    roster_group *g = ctx;
    if (res->st != ST_OK) {
        group_failed_http(g, res, "look up");
        return;
    }
    errinfo e = {0};
    json_t *value = json_object_get(res->json, "value");
    size_t n = json_array_size(value);
    const char *id = guid_value(json_object_get(json_array_get(value, 0), "id"));
    if (!json_is_array(value))
        err_set(&e, ST_JSON, "Graph answered the lookup of group %s without a \"value\" array",
                g->given);
    else if (n == 0)
        err_set(&e, ST_NOT_FOUND,
                "no group has the mail address %s: fix ATTENDANCE_GROUPS (a mail-enabled "
                "group's address, or its object id)",
                g->given);
    else if (n > 1)
        err_set(&e, ST_DATA, "%zu groups have the mail address %s: name the group by its object id",
                n, g->given);
    else if (!id)
        err_set(&e, ST_JSON, "Graph returned group %s without a usable id", g->given);
    if (e.code != ST_OK) {
        if (e.code == ST_NOT_FOUND)
            e.http_status = 404;
        group_failed(g, &e);
        return;
    }
    if (set_id(g, id, &e) != ST_OK) {
        g->ro->oom = ST_NOMEM;
        group_failed(g, &e);
        return;
    }
    start_members(g);
}

/* ---- the roster -------------------------------------------------------------- */

int roster_from_group(const char *source)
{
    return source && strncmp(source, "group:", 6) == 0;
}

int roster_is_no_mailbox(const char *code)
{
    return code && (strcmp(code, "MailboxNotEnabledForRESTAPI") == 0 ||
                    strcmp(code, "ErrorInvalidUser") == 0);
}

void roster_no_mailbox(roster *ro, const char *source)
{
    ro->skipped_unique++;
    for (size_t i = 0; i < ro->ngroups; i++)
        if (ro->groups[i].source && source == ro->groups[i].source)
            ro->groups[i].no_mailbox++;
}

int64_t roster_skipped(const roster *ro)
{
    return ro->skipped_unique;
}

status roster_build(roster *ro, const config *cfg, http_engine *eng, graph_client *gc, errinfo *err)
{
    memset(ro, 0, sizeof *ro);
    ro->eng = eng;
    ro->gc = gc;
    ro->max_pages = cfg->max_pages > 0 ? cfg->max_pages : 10000;
    int added;
    for (size_t i = 0; i < cfg->nusers; i++) {
        status st =
            entry_add(ro, cfg->users[i], i < cfg->nusers_listed ? "users" : "sga_upn", &added, err);
        if (st != ST_OK)
            return st;
    }
    if (cfg->ngroups == 0)
        return ST_OK;
    ro->groups = calloc(cfg->ngroups, sizeof *ro->groups);
    if (!ro->groups)
        return err_set(err, ST_NOMEM, "out of memory listing group members");
    ro->ngroups = cfg->ngroups;
    for (size_t i = 0; i < cfg->ngroups; i++) {
        roster_group *g = &ro->groups[i];
        g->ro = ro;
        if (!(g->given = strdup(cfg->groups[i])))
            return err_set(err, ST_NOMEM, "out of memory listing group members");
        errinfo e = {0};
        if (strchr(g->given, '@')) {
            http_request *req = graph_request_group_by_mail(gc, g->given, -1, &e);
            if (!req || http_submit(eng, req, on_group_by_mail, g, &e) != ST_OK)
                group_failed(g, &e);
        } else if (set_id(g, g->given, err) != ST_OK) {
            return ST_NOMEM;
        } else {
            start_members(g);
        }
    }
    status st = http_run(eng, err);
    if (st != ST_OK)
        return st;
    if (ro->oom != ST_OK)
        return err_set(err, ST_NOMEM, "out of memory listing group members");
    /* merged in the settings' order of groups and Graph's order of members, so every
     * replica builds the same list */
    for (size_t i = 0; i < ro->ngroups; i++) {
        roster_group *g = &ro->groups[i];
        for (size_t k = 0; k < g->nupns && g->err.code == ST_OK; k++) {
            if ((st = entry_add(ro, g->upns[k], g->source, &added, err)) != ST_OK)
                return st;
            g->mailboxes += added;
        }
        if (g->err.code == ST_OK)
            log_info("group resolved",
                     json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "group", g->given, "id", g->id,
                               "members", (json_int_t)g->members, "mailboxes",
                               (json_int_t)g->mailboxes, "disabled", (json_int_t)g->disabled,
                               "guests", (json_int_t)g->guests, "limited", (json_int_t)g->limited,
                               "pages", (json_int_t)g->pages));
        else
            log_error("group not resolved; its members are not read this run",
                      json_pack("{s:s,s:s}", "group", g->given, "error", g->err.msg));
    }
    return ST_OK;
}

json_t *roster_groups_json(const roster *ro)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < ro->ngroups; i++) {
        const roster_group *g = &ro->groups[i];
        json_array_append_new(
            a, json_pack("{s:s,s:s?,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I},s:s?}", "group", g->given, "id",
                         g->id, "members", (json_int_t)g->members, "mailboxes",
                         (json_int_t)(g->mailboxes - g->no_mailbox), "skipped", "disabled",
                         (json_int_t)g->disabled, "guests", (json_int_t)g->guests, "limited",
                         (json_int_t)g->limited, "invalid", (json_int_t)g->invalid, "no_mailbox",
                         (json_int_t)g->no_mailbox, "error",
                         g->err.code != ST_OK ? g->err.msg : NULL));
    }
    return a;
}

void roster_dispose(roster *ro)
{
    if (!ro)
        return;
    for (size_t i = 0; i < ro->n; i++)
        free(ro->v[i].upn);
    free(ro->v);
    for (size_t i = 0; i < ro->ngroups; i++) {
        roster_group *g = &ro->groups[i];
        for (size_t k = 0; k < g->nupns; k++)
            free(g->upns[k]);
        free(g->upns);
        free(g->given);
        free(g->id);
        free(g->source);
    }
    free(ro->groups);
    for (size_t i = 0; i < ro->nkeys; i++)
        free(ro->keys[i]);
    free(ro->keys);
    free(ro->slots);
    memset(ro, 0, sizeof *ro);
}
