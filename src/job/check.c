/* `check`: proves the settings work without writing anything. A Graph token, the
 * storage account and container, and for every mailbox: it resolves to a user, its
 * calendar can be read, and (when the calendar shows a Teams meeting the mailbox
 * organizes) that meeting can be looked up. Each failure is printed with its fix.
 *
 * The fix comes from one place, check_fix_for() (check.h): the failure's class (from the libcurl
 * code for network failures, else the HTTP status) and what was being reached (the
 * login endpoint, a Graph call, storage) pick the text, which names the setting or
 * the permission to change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "job/check.h"
#include "job/job.h"
#include "job/roster.h"
#include "job/run.h"
#include "log.h"
#include "util/timeutil.h"

#define FIX_MAX 1024
#define PROBE_DAYS 7 /* how far back the calendar probe looks for a meeting */
#define PROBE_PAGE_SIZE 25

/* ---- failures and their fixes -------------------------------------------- */

typedef enum fail_class {
    FC_OTHER = 0,
    FC_TLS,       /* certificate not trusted, or the TLS handshake failed */
    FC_DNS,       /* host name not resolved */
    FC_CONNECT,   /* connection refused or unreachable */
    FC_TIMEOUT,   /* no answer in time */
    FC_REFUSED,   /* 401 or 403: the credential or a permission */
    FC_NOT_FOUND, /* 404 */
} fail_class;

static fail_class classify(const errinfo *e)
{
    switch (e->curl_code) {
    case CURLE_OK:
        break;
    case CURLE_PEER_FAILED_VERIFICATION: /* also CURLE_SSL_CACERT */
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return FC_TLS;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return FC_DNS;
    case CURLE_COULDNT_CONNECT:
        return FC_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return FC_TIMEOUT;
    default:
        return FC_OTHER;
    }
    if (e->code == ST_TIMEOUT)
        return FC_TIMEOUT;
    if (e->http_status == 401 || e->http_status == 403)
        return FC_REFUSED;
    if (e->http_status == 404)
        return FC_NOT_FOUND;
    return FC_OTHER;
}

/* The setting that holds the host a target reaches, and its value. */
static void host_setting(const config *cfg, check_target t, const char **name, const char **value)
{
    switch (t) {
    case CHECK_LOGIN:
        if (cfg->cred != CRED_MANAGED_IDENTITY) {
            *name = "AZURE_AUTHORITY_HOST";
            *value = cfg->authority_host;
        } else if (cfg->identity_endpoint) {
            *name = "IDENTITY_ENDPOINT";
            *value = cfg->identity_endpoint;
        } else {
            *name = "AZURE_POD_IDENTITY_AUTHORITY_HOST (the VM metadata endpoint)";
            *value = cfg->imds_endpoint;
        }
        return;
    case CHECK_STORAGE:
        if (cfg->storage == STORAGE_CONNECTION_STRING) {
            *name = "AZURE_STORAGE_CONNECTION_STRING (BlobEndpoint, or AccountName and "
                    "EndpointSuffix)";
            *value = NULL; /* it may hold the key */
        } else {
            *name = "AZURE_STORAGE_ACCOUNT_URL";
            *value = cfg->account_url;
        }
        return;
    default:
        *name = "GRAPH_ENDPOINT";
        *value = cfg->graph_host;
        return;
    }
}

/* What refused storage: "key", "sas", "identity" or "dir". */
static const char *storage_credential(const config *cfg)
{
    if (cfg->storage == STORAGE_DIR)
        return "dir";
    if (cfg->storage == STORAGE_ACCOUNT_URL)
        return cfg->sas_token ? "sas" : "identity";
    store_connstr c;
    const char *kind = "key";
    if (cfg->connection_string && store_connstr_parse(cfg->connection_string, &c, NULL) == ST_OK) {
        if (!c.account_key && c.sas)
            kind = "sas";
        store_connstr_dispose(&c);
    }
    return kind;
}

static const char *refused_fix(const config *cfg, check_target t, const errinfo *e)
{
    switch (t) {
    case CHECK_LOGIN:
        if (cfg->cred == CRED_MANAGED_IDENTITY)
            return "the managed identity endpoint refused: check that the app has a managed "
                   "identity (a user-assigned one is named by AZURE_CLIENT_ID) and, for "
                   "IDENTITY_ENDPOINT, that IDENTITY_HEADER is the platform's current value";
        return "Entra ID refused the credential: check AZURE_TENANT_ID, AZURE_CLIENT_ID and "
               "the credential (AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or "
               "AZURE_FEDERATED_TOKEN_FILE)";
    case CHECK_USER:
    case CHECK_CALENDAR:
    case CHECK_MEETING:
        if (e->http_status == 401)
            return "Graph did not accept the token, even a new one: GRAPH_ENDPOINT and "
                   "AZURE_AUTHORITY_HOST must belong to the same cloud (with a managed identity, "
                   "the token is asked for GRAPH_ENDPOINT)";
        break;
    case CHECK_STORAGE:
    case CHECK_GROUP:
        break;
    }
    switch (t) {
    case CHECK_GROUP:
        return "grant the application permission GroupMember.Read.All (Microsoft Graph, "
               "application permission) and give it admin consent; grant User.Read.All too, "
               "or members come without their userPrincipalName";
    case CHECK_USER:
        return "grant the application permission User.Read.All (Microsoft Graph, application "
               "permission) and give it admin consent";
    case CHECK_CALENDAR:
        return "grant the application permission Calendars.Read (Microsoft Graph, application "
               "permission) with admin consent, and check that no Exchange application access "
               "policy leaves this mailbox out";
    case CHECK_MEETING:
        return "the mailbox organizes this meeting, so the application access policy is "
               "missing: New-CsApplicationAccessPolicy -AppIds <AZURE_CLIENT_ID> and "
               "Grant-CsApplicationAccessPolicy to this user (or -Global), in Teams PowerShell; "
               "and grant OnlineMeetings.Read.All and OnlineMeetingArtifact.Read.All (application "
               "permissions) with admin consent";
    default:
        break;
    }
    const char *kind = storage_credential(cfg);
    if (strcmp(kind, "sas") == 0)
        return "the SAS was refused: check its expiry (se=) and start (st=), and that it allows "
               "read, write, create and list (sp=rwcl) on the container (AZURE_STORAGE_SAS_TOKEN "
               "or SharedAccessSignature= in the connection string)";
    if (strcmp(kind, "identity") == 0)
        return "the managed identity was refused: assign it the role 'Storage Blob Data "
               "Contributor' on the storage account or the container (role assignments take a "
               "few minutes to apply; ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID names a "
               "user-assigned identity)";
    return "the account key was refused: copy AccountKey again from the "
           "storage account's Access keys into AZURE_STORAGE_CONNECTION_STRING, and check the "
           "machine's clock";
}

void check_fix_for(const config *cfg, check_target t, const errinfo *e, char *out, size_t n)
{
    const char *name, *value;
    host_setting(cfg, t, &name, &value);
    char where[320];
    if (value)
        snprintf(where, sizeof where, "%s (%.200s)", name, value);
    else
        snprintf(where, sizeof where, "%s", name);
    switch (classify(e)) {
    case FC_TLS:
        snprintf(out, n,
                 "the TLS certificate of the host in %s is not trusted (or the TLS handshake "
                 "failed): if a private CA or an inspecting proxy signs it, point SSL_CERT_FILE "
                 "or CURL_CA_BUNDLE at a PEM file holding that CA; otherwise update the system "
                 "CA certificates (the ca-certificates package). Verification is never turned off",
                 where);
        return;
    case FC_DNS:
        snprintf(out, n,
                 "the host name in %s does not resolve: check the setting for a typo (a national "
                 "cloud has its own hosts) and the machine's DNS",
                 where);
        return;
    case FC_CONNECT:
        snprintf(out, n,
                 "nothing accepts connections at %s: check its host and port, the firewall, and "
                 "HTTPS_PROXY / NO_PROXY",
                 where);
        return;
    case FC_TIMEOUT:
        snprintf(out, n,
                 "no answer from %s within ATTENDANCE_HTTP_TIMEOUT_SECONDS: check the firewall "
                 "or proxy (HTTPS_PROXY), or raise the timeout",
                 where);
        return;
    case FC_REFUSED:
        snprintf(out, n, "%s", refused_fix(cfg, t, e));
        return;
    case FC_NOT_FOUND:
        if (t == CHECK_USER) {
            snprintf(out, n, "the UPN does not exist in this tenant: fix ATTENDANCE_USERS");
            return;
        }
        if (t == CHECK_GROUP) {
            snprintf(out, n,
                     "name the group in ATTENDANCE_GROUPS by its object id, or by the mail "
                     "address of a mail-enabled group");
            return;
        }
        if (t == CHECK_CALENDAR) {
            snprintf(out, n, "the user has no Exchange Online mailbox (or it is not licensed)");
            return;
        }
        if (t == CHECK_LOGIN) {
            snprintf(out, n, "no token endpoint at %s: check the setting", where);
            return;
        }
        break;
    case FC_OTHER:
        break;
    }
    if (t == CHECK_STORAGE && cfg->storage == STORAGE_DIR)
        snprintf(out, n, "check that ATTENDANCE_OUTPUT_DIR (or --output-dir) is a writable folder");
    else
        snprintf(out, n,
                 "see the error; a 5xx or 429 passes with time, anything else names what %s "
                 "answered",
                 where);
}

/* Prints one failure and its fix. The token source already names the fix for an
 * answer of the login endpoint (by Entra's AADSTS code: token.c keeps that table) at
 * the end of its message, "...; fix: ..."; that fix is printed on the fix line. */
static void print_failure(const config *cfg, check_target t, const char *what, const errinfo *e)
{
    char fix[FIX_MAX];
    const char *msg = e->msg[0] ? e->msg : status_name(e->code);
    int len = (int)strlen(msg);
    const char *named = NULL;
    if (t == CHECK_LOGIN && e->http_status) {
        for (const char *p = strstr(msg, "; fix: "); p; p = strstr(p + 1, "; fix: "))
            named = p;
    }
    if (named) {
        len = (int)(named - msg);
        snprintf(fix, sizeof fix, "%s", named + strlen("; fix: "));
    } else {
        check_fix_for(cfg, t, e, fix, sizeof fix);
    }
    printf("FAIL  %s: %.*s\n      fix: %s\n", what, len, msg, fix);
}

/* ---- mailboxes ----------------------------------------------------------- */

typedef struct probe {
    http_engine *eng;
    graph_client *gc;
    int group;
    const char *upn;
    int user_status; /* HTTP status, 0: no answer */
    int calendar_status;
    char calendar_code[96]; /* Graph's error code of a failed calendar probe */
    int meeting_status;     /* -1: not looked up */
    errinfo user_err, calendar_err, meeting_err;
    char *user_id;
    char *join_url; /* a Teams meeting the mailbox organizes, from the calendar probe */
} probe;

static void on_meeting(void *ctx, http_result *res)
{
    probe *p = ctx;
    p->meeting_status = res->st == ST_OK ? 200 : (int)res->http_status;
    if (res->st != ST_OK)
        p->meeting_err = res->err;
}

/* Once both the user id and a meeting are known, looks the meeting up. */
static void probe_meeting(probe *p)
{
    if (!p->user_id || !p->join_url || p->meeting_status >= 0)
        return;
    errinfo e = {0};
    http_request *m = graph_request_meeting_by_url(p->gc, p->user_id, p->join_url, 0, p->group, &e);
    p->meeting_status = 0;
    if (!m || http_submit(p->eng, m, on_meeting, p, &e) != ST_OK)
        p->meeting_err = e;
}

static char *json_str_dup(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && *s ? strdup(s) : NULL;
}

static void on_user(void *ctx, http_result *res)
{
    probe *p = ctx;
    p->user_status = res->st == ST_OK ? 200 : (int)res->http_status;
    if (res->st != ST_OK) {
        p->user_err = res->err;
        return;
    }
    p->user_id = json_str_dup(json_object_get(res->json, "id"));
    probe_meeting(p);
}

static void on_calendar(void *ctx, http_result *res)
{
    probe *p = ctx;
    p->calendar_status = res->st == ST_OK ? 200 : (int)res->http_status;
    if (res->st != ST_OK) {
        p->calendar_err = res->err;
        snprintf(p->calendar_code, sizeof p->calendar_code, "%s", res->error_code);
        return;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(res->json, "value"), i, ev)
    {
        if (!json_is_true(json_object_get(ev, "isOrganizer")))
            continue;
        p->join_url =
            json_str_dup(json_object_get(json_object_get(ev, "onlineMeeting"), "joinUrl"));
        if (p->join_url)
            break;
    }
    probe_meeting(p);
}

/* Resolves every mailbox and reads its calendar, all at once; then looks up one
 * meeting it organizes, when there is one. */
static int check_mailboxes(const config *cfg, http_engine *eng, graph_client *gcp, roster *ro)
{
    graph_client gc = *gcp;
    gc.page_size = PROBE_PAGE_SIZE;
    size_t nmb = ro->n;
    probe *p = calloc(nmb ? nmb : 1, sizeof *p);
    if (!p) {
        printf("FAIL  mailboxes: out of memory\n");
        return 1;
    }
    int64_t now = timeutil_now_us();
    int64_t from = now - INT64_C(86400000000) * PROBE_DAYS;
    for (size_t i = 0; i < nmb; i++) {
        p[i] = (probe){.eng = eng, .gc = &gc, .group = (int)i, .upn = ro->v[i].upn};
        p[i].meeting_status = -1;
        errinfo e = {0};
        http_request *u = graph_request_user(&gc, p[i].upn, (int)i, &e);
        if (u && http_submit(eng, u, on_user, &p[i], &e) != ST_OK)
            u = NULL;
        http_request *c = graph_request_calendar_view(&gc, p[i].upn, from, now, 0, 0, (int)i, &e);
        if (c && http_submit(eng, c, on_calendar, &p[i], &e) != ST_OK)
            c = NULL;
        if (!u || !c)
            p[i].user_err = e;
    }
    errinfo e = {0};
    int failures = 0;
    if (http_run(eng, &e) != ST_OK) {
        printf("FAIL  mailboxes: %s\n", e.msg);
        failures++;
    }
    char what[400];
    for (size_t i = 0; i < nmb; i++) {
        if (roster_from_group(ro->v[i].source) && p[i].calendar_status == 404 &&
            roster_is_no_mailbox(p[i].calendar_code)) {
            /* the run skips it too: counted on its group, not a failure */
            roster_no_mailbox(ro, ro->v[i].source);
            printf("skip  mailbox %s (%s): no mailbox (%s)\n", p[i].upn, ro->v[i].source,
                   p[i].calendar_code);
        } else if (p[i].user_status != 200) {
            snprintf(what, sizeof what, "mailbox %s", p[i].upn);
            print_failure(cfg, CHECK_USER, what, &p[i].user_err);
            failures++;
        } else if (p[i].calendar_status != 200) {
            snprintf(what, sizeof what, "mailbox %s: calendar", p[i].upn);
            print_failure(cfg, CHECK_CALENDAR, what, &p[i].calendar_err);
            failures++;
        } else if (p[i].meeting_status > 0 && p[i].meeting_status != 200 &&
                   p[i].meeting_status != 404) {
            /* 404: the meeting was deleted meanwhile, which says nothing of access */
            snprintf(what, sizeof what, "mailbox %s: online meeting lookup", p[i].upn);
            print_failure(cfg, CHECK_MEETING, what, &p[i].meeting_err);
            failures++;
        } else if (p[i].meeting_status == 0 && p[i].meeting_err.code != ST_OK) {
            snprintf(what, sizeof what, "mailbox %s: online meeting lookup", p[i].upn);
            print_failure(cfg, CHECK_MEETING, what, &p[i].meeting_err);
            failures++;
        } else {
            printf("ok    mailbox %s: found, calendar readable%s\n", p[i].upn,
                   p[i].meeting_status >= 0 ? ", an organized meeting found by its join URL" : "");
        }
    }
    for (size_t i = 0; i < nmb; i++) {
        free(p[i].user_id);
        free(p[i].join_url);
    }
    free(p);
    return failures;
}

/* ---- groups ---------------------------------------------------------------- */

/* One line per group, after the mailbox probes (which find the members without a
 * mailbox): how many members have one, and what was skipped. */
static int check_groups(const config *cfg, const roster *ro)
{
    int failures = 0;
    char what[400];
    for (size_t i = 0; i < ro->ngroups; i++) {
        const roster_group *g = &ro->groups[i];
        snprintf(what, sizeof what, "group %s", g->given);
        if (g->err.code != ST_OK) {
            print_failure(cfg, CHECK_GROUP, what, &g->err);
            failures++;
            continue;
        }
        printf("ok    group %s (%s): %lld member%s with a mailbox of %lld listed; skipped: %lld "
               "without a mailbox, %lld disabled, %lld guest%s",
               g->given, g->id, (long long)(g->mailboxes - g->no_mailbox),
               g->mailboxes - g->no_mailbox == 1 ? "" : "s", (long long)g->members,
               (long long)g->no_mailbox, (long long)g->disabled, (long long)g->guests,
               g->guests == 1 ? "" : "s");
        if (g->invalid)
            printf(", %lld with an unusable userPrincipalName", (long long)g->invalid);
        printf("\n");
        if (g->limited)
            printf("warn  group %s: %lld member%s came without a userPrincipalName (limited "
                   "information)\n      fix: grant the application permission User.Read.All "
                   "(Microsoft Graph) with admin consent\n",
                   g->given, (long long)g->limited, g->limited == 1 ? "" : "s");
    }
    return failures;
}

/* ---- the command --------------------------------------------------------- */

static const char *token_origin(const config *cfg)
{
    if (cfg->cred != CRED_MANAGED_IDENTITY)
        return cfg->authority_host;
    return cfg->identity_endpoint ? "the managed identity endpoint (IDENTITY_ENDPOINT)"
                                  : "the VM metadata endpoint (managed identity)";
}

int job_check(const config *cfg)
{
    int failures = 0;
    errinfo e = {0};
    http_engine *eng = NULL;
    token_source *ts = NULL;
    store *s = NULL;
    http_limits lim;
    run_http_limits(cfg, &lim);
    if (http_engine_new(&eng, &lim, &e) != ST_OK) {
        log_error("cannot start", json_pack("{s:s}", "error", e.msg));
        return 1;
    }

    const char *tok;
    int have_token = 0;
    if (token_source_graph(&ts, cfg, &e) != ST_OK || token_get(ts, 0, &tok, &e) != ST_OK) {
        print_failure(cfg, CHECK_LOGIN, "token", &e);
        failures++;
    } else {
        printf("ok    token: got a Microsoft Graph token from %s\n", token_origin(cfg));
        have_token = 1;
    }
    err_clear(&e);
    status sst = store_open(&s, cfg, eng, &e);
    if (sst == ST_OK)
        sst = store_check(s, &e);
    if (sst == ST_NOT_FOUND && e.http_status == 404) {
        /* the account answered and the credential works; the first run creates the container */
        printf("ok    storage: reached %s; %s\n", store_describe(s), e.msg);
    } else if (sst != ST_OK) {
        print_failure(cfg, CHECK_STORAGE, "storage", &e);
        failures++;
    } else {
        printf("ok    storage: reached %s\n", store_describe(s));
    }
    if (have_token) {
        graph_client gc = {cfg->graph_host, ts, PROBE_PAGE_SIZE};
        roster ro;
        if (roster_build(&ro, cfg, eng, &gc, &e) != ST_OK) {
            printf("FAIL  groups: %s\n", e.msg);
            failures++;
        } else {
            failures += check_mailboxes(cfg, eng, &gc, &ro);
            failures += check_groups(cfg, &ro);
        }
        roster_dispose(&ro);
    }
    printf("%s: %d check%s failed\n", failures ? "FAILED" : "OK", failures,
           failures == 1 ? "" : "s");
    store_free(s);
    token_source_free(ts);
    http_engine_free(eng);
    return failures ? 1 : 0;
}
