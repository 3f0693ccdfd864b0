/* `check`: proves the settings work without writing anything. A Graph token, the
 * storage account and container, and for every mailbox: it resolves to a user and its
 * calendar can be read. Each failure is named with its fix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/job.h"
#include "job/run.h"
#include "log.h"
#include "util/timeutil.h"

typedef struct probe {
    const char *upn;
    int user_status; /* HTTP status, 0: no answer */
    int calendar_status;
    errinfo user_err, calendar_err;
} probe;

static void on_user(void *ctx, http_result *res)
{
    probe *p = ctx;
    p->user_status = res->st == ST_OK ? 200 : (int)res->http_status;
    if (res->st != ST_OK)
        p->user_err = res->err;
}

static void on_calendar(void *ctx, http_result *res)
{
    probe *p = ctx;
    p->calendar_status = res->st == ST_OK ? 200 : (int)res->http_status;
    if (res->st != ST_OK)
        p->calendar_err = res->err;
}

static const char *user_fix(int code)
{
    if (code == 404)
        return "the UPN does not exist in this tenant: fix ATTENDANCE_USERS";
    if (code == 403)
        return "grant the application permission User.Read.All (admin consent)";
    return "see the error; Graph may be unreachable";
}

static const char *calendar_fix(int code)
{
    if (code == 404)
        return "the user has no Exchange Online mailbox (or it is not licensed)";
    if (code == 403)
        return "grant the application permission Calendars.Read (admin consent), and check "
               "that no Exchange application access policy excludes this mailbox";
    return "see the error; Graph may be unreachable";
}

/* Resolves every mailbox and reads one event of its calendar, all at once. */
static int check_mailboxes(const config *cfg, http_engine *eng, token_source *ts)
{
    graph_client gc = {cfg->graph_host, ts, 1};
    probe *p = calloc(cfg->nusers ? cfg->nusers : 1, sizeof *p);
    if (!p)
        return 1;
    int64_t now = timeutil_now_us();
    for (size_t i = 0; i < cfg->nusers; i++) {
        p[i].upn = cfg->users[i];
        errinfo e = {0};
        http_request *u = graph_request_user(&gc, p[i].upn, (int)i, &e);
        if (u && http_submit(eng, u, on_user, &p[i], &e) != ST_OK)
            u = NULL;
        http_request *c =
            graph_request_calendar_view(&gc, p[i].upn, now - INT64_C(86400000000), now, (int)i, &e);
        if (c && http_submit(eng, c, on_calendar, &p[i], &e) != ST_OK)
            c = NULL;
        if (!u || !c) {
            p[i].user_err = e;
        }
    }
    errinfo e = {0};
    int failures = 0;
    if (http_run(eng, &e) != ST_OK) {
        printf("FAIL  mailboxes: %s\n", e.msg);
        failures++;
    }
    for (size_t i = 0; i < cfg->nusers; i++) {
        if (p[i].user_status == 200 && p[i].calendar_status == 200) {
            printf("ok    mailbox %s: found, calendar readable\n", p[i].upn);
            continue;
        }
        failures++;
        if (p[i].user_status != 200)
            printf("FAIL  mailbox %s: %s\n      fix: %s\n", p[i].upn, p[i].user_err.msg,
                   user_fix(p[i].user_status));
        else
            printf("FAIL  mailbox %s: calendar: %s\n      fix: %s\n", p[i].upn,
                   p[i].calendar_err.msg, calendar_fix(p[i].calendar_status));
    }
    free(p);
    return failures;
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
        printf("FAIL  token: %s\n", e.msg);
        printf("      fix: check AZURE_TENANT_ID, AZURE_CLIENT_ID and the credential "
               "(AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH), and that the app "
               "registration has a valid secret or certificate\n");
        failures++;
    } else {
        printf("ok    token: got a Microsoft Graph token from %s\n", cfg->authority_host);
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
        printf("FAIL  storage: %s\n", e.msg);
        printf("      fix: check the storage settings (AZURE_STORAGE_CONNECTION_STRING, "
               "AZURE_STORAGE_ACCOUNT_URL with AZURE_STORAGE_SAS_TOKEN or a managed identity, "
               "or ATTENDANCE_OUTPUT_DIR) and ATTENDANCE_CONTAINER\n");
        failures++;
    } else {
        printf("ok    storage: reached %s\n", store_describe(s));
    }
    if (have_token)
        failures += check_mailboxes(cfg, eng, ts);
    printf("%s: %d check%s failed\n", failures ? "FAILED" : "OK", failures,
           failures == 1 ? "" : "s");
    store_free(s);
    token_source_free(ts);
    http_engine_free(eng);
    return failures ? 1 : 0;
}
