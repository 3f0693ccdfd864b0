/* The mailbox state machine (job/mailbox), driven without a network: a fake
 * submitter keeps each request, and the test answers them one by one with Graph's
 * documented shapes (or an error), then reads what the mailbox wrote: its counts,
 * its state and its snapshots in a real folder sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <poll.h>

#include <cmocka.h>

#include "config.h"
#include "job/mailbox.h"
#include "job/registry.h"
#include "log.h"
#include "tables/tables.h"
#include "util/timeutil.h"

#define JOIN "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0?context=x"
#define MAXQ 64

typedef struct queued {
    http_request *req;
    http_done_fn done;
    void *ctx;
} queued;

/* How the fake Graph answers: a URL fragment, then the status and body. Answers are
 * taken in order; `times` 0 means always. */
typedef struct answer {
    const char *match;
    status st;
    long http;
    const char *body;
    int times;
} answer;

typedef struct harness {
    config cfg;
    graph_client gc;
    store *st;
    pq_writer *writers[TBL_COUNT];
    FILE *files[TBL_COUNT];
    tmpdir tmp;
    spool_budget spill;
    int64_t upload_held;
    mailbox_env env;
    queued q[MAXQ];
    size_t nq;
    const answer *answers;
    int used[32];
    int done, storage_failed, uploaded;
    mailbox *waiting; /* asked for a block upload */
    char out[256];
    char urls[16][512]; /* the first requests' URLs */
    size_t nurls;
    int hold_final; /* pump leaves the final work uncollected (a run stopped meanwhile) */
} harness;

static status fake_submit(void *h_, http_request *req, http_done_fn done, void *ctx, errinfo *err)
{
    harness *h = h_;
    if (h->nq == MAXQ)
        return err_set(err, ST_INTERNAL, "queue full");
    if (h->nurls < 16)
        snprintf(h->urls[h->nurls++], 512, "%s", http_request_url(req));
    h->q[h->nq++] = (queued){req, done, ctx};
    return ST_OK;
}

static void on_done(void *ctx, mailbox *mb)
{
    (void)mb;
    ((harness *)ctx)->done++;
}

static void on_file(void *ctx, const char *name, size_t bytes)
{
    (void)name;
    (void)bytes;
    ((harness *)ctx)->uploaded++;
}

static void on_storage_failed(void *ctx, const errinfo *err)
{
    (void)err;
    ((harness *)ctx)->storage_failed++;
}

static void on_want_upload(void *ctx, mailbox *mb)
{
    harness *h = ctx;
    h->waiting = mb;
}

static status discard(void *ctx, const void *data, size_t len, errinfo *err)
{
    (void)err;
    return fwrite(data, 1, len, ctx) == len ? ST_OK : ST_IO;
}

static void setup(harness *h, int64_t spill_limit)
{
    memset(h, 0, sizeof *h);
    snprintf(h->out, sizeof h->out, "/tmp/test_mailbox_XXXXXX");
    assert_non_null(mkdtemp(h->out));
    h->cfg.storage = STORAGE_DIR;
    h->cfg.output_dir = h->out;
    h->cfg.prefix = "";
    h->cfg.max_pages = 100;
    h->cfg.mailbox_max_mb = 64;
    h->cfg.settle_minutes = 60;
    h->cfg.track_days = 30;
    errinfo e = {0};
    assert_int_equal(store_open(&h->st, &h->cfg, NULL, &e), ST_OK);
    assert_int_equal(tmpdir_open(&h->tmp, "/tmp", &e), ST_OK);
    h->gc.host = "https://graph.example";
    h->gc.page_size = 500;
    pq_options opts = {0};
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *d = tables_def((table_id)t);
        h->files[t] = tmpfile();
        assert_int_equal(
            pq_writer_open(&h->writers[t], d->cols, d->ncols, &opts, discard, h->files[t], &e),
            ST_OK);
    }
    h->spill.limit = spill_limit;
    h->spill.dir = h->tmp.path;
    mailbox_env *v = &h->env;
    v->cfg = &h->cfg;
    v->gc = &h->gc;
    v->submit = fake_submit;
    v->submit_ctx = h;
    v->store = h->st;
    v->writers = h->writers;
    v->tmp = &h->tmp;
    v->spill = &h->spill;
    v->upload_held = &h->upload_held;
    v->run_id = "20261203T120000Z-abcdef";
    v->date = "2026-12-03";
    v->now_us = 0;
    v->backfill = 0;
    v->done = on_done;
    v->file_written = on_file;
    v->storage_failed = on_storage_failed;
    v->want_upload = on_want_upload;
    v->ctx = h;
    timeutil_parse("2026-12-03T12:00:00Z", &v->now_us);
}

static void teardown(harness *h)
{
    for (int t = 0; t < TBL_COUNT; t++) {
        pq_writer_free(h->writers[t]);
        fclose(h->files[t]);
    }
    store_free(h->st);
    tmpdir_close(&h->tmp);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", h->out);
    assert_int_equal(system(cmd), 0);
}

static size_t final_work_pending(const harness *h)
{
    return h->env.finisher && !h->hold_final ? worker_pending(h->env.finisher) : 0;
}

/* Answers queued requests until none is left (or the mailbox is over), and collects
 * the final work as the run does. */
static void pump(harness *h)
{
    int stalled = 0; /* the upload waits for room: try it again after an answer */
    while (h->nq > 0 || (h->waiting && !stalled) || final_work_pending(h) > 0) {
        if (h->nq == 0 && !(h->waiting && !stalled)) {
            struct pollfd p = {.fd = worker_fd(h->env.finisher), .events = POLLIN};
            assert_int_equal(poll(&p, 1, 10000), 1);
            assert_true(worker_collect(h->env.finisher) > 0);
            stalled = 0;
            continue;
        }
        if (h->waiting && !stalled) {
            mailbox *mb = h->waiting;
            h->waiting = NULL;
            size_t before = mb->ndeferred;
            mailbox_upload_deferred(mb);
            if (mb->ndeferred > 0) {
                h->waiting = mb; /* as the run keeps it listed */
                stalled = mb->ndeferred == before;
            }
            continue;
        }
        stalled = 0;
        queued q = h->q[0];
        memmove(h->q, h->q + 1, --h->nq * sizeof *h->q);
        const char *url = http_request_url(q.req);
        http_result res;
        memset(&res, 0, sizeof res);
        buf_init(&res.body, 0);
        const answer *a = NULL;
        for (int i = 0; h->answers[i].match; i++) {
            const answer *c = &h->answers[i];
            if (!strstr(url, c->match) || (c->times && h->used[i] >= c->times))
                continue;
            h->used[i]++;
            a = c;
            break;
        }
        if (!a)
            fail_msg("no answer for %s", url);
        res.st = a->st;
        res.http_status = a->http;
        if (a->st == ST_OK) {
            assert_int_equal(buf_appends(&res.body, a->body, &res.err), ST_OK);
            /* as the engine answers: a tree, or the body tokenized in place */
            if (http_request_flags_of(q.req) & HTTP_EXPECT_TOKENS) {
                assert_int_equal(jsontok_parse(&res.tok, res.body.data, res.body.len,
                                               JSONTOK_ALLOW_NUL, &res.err),
                                 ST_OK);
            } else {
                json_error_t je;
                res.json = json_loads(a->body, 0, &je);
                assert_non_null(res.json);
            }
        } else {
            err_set(&res.err, a->st, "HTTP %ld from %s", a->http, url);
        }
        q.done(q.ctx, &res);
        http_result_dispose(&res);
        http_request_free(q.req);
    }
}

static mailbox *start(harness *h, const answer *answers)
{
    h->answers = answers;
    mailbox *mb = mailbox_new(&h->env, 0, "Ann@Contoso.com");
    assert_non_null(mb);
    mb->source = "users";
    registry_parse(NULL, 0, &mb->reg); /* no tracked meetings yet */
    mb->window_start = h->env.now_us - (int64_t)30 * 86400 * 1000000;
    mb->window_end = h->env.now_us;
    mailbox_start(mb);
    pump(h);
    return mb;
}

/* The final snapshot the folder sink holds, parsed. */
static json_t *final_snapshot(harness *h)
{
    char path[512];
    snprintf(path, sizeof path,
             "%s/raw/final/date=2026-12-03/user=ann@contoso.com/20261203T120000Z-abcdef.json",
             h->out);
    json_error_t je;
    return json_load_file(path, 0, &je);
}

#define USER "{\"id\":\"u1\",\"userPrincipalName\":\"Ann@Contoso.com\"}"
#define EVENT_OF(type, id, start, end)                                                             \
    "{\"id\":\"" id "\",\"type\":\"" type "\",\"subject\":\"S\",\"isOrganizer\":true,"             \
    "\"isOnlineMeeting\":true,\"onlineMeetingProvider\":\"teamsForBusiness\","                     \
    "\"onlineMeeting\":{\"joinUrl\":\"" JOIN "\"},\"start\":{\"dateTime\":\"" start "\","          \
    "\"timeZone\":\"UTC\"},\"end\":{\"dateTime\":\"" end "\",\"timeZone\":\"UTC\"}}"
#define EVENT(id, start, end) EVENT_OF("singleInstance", id, start, end)
#define PLAIN "{\"id\":\"e2\",\"subject\":\"lunch\",\"isOnlineMeeting\":false}"
#define PAGE1                                                                                      \
    "{\"value\":[" EVENT(                                                                          \
        "e1", "2026-12-01T09:00:00.0000000",                                                       \
        "2026-12-01T10:00:00.0000000") "],\"@odata.nextLink\":\"https://graph.example/v1.0/users/" \
                                       "x/calendarView?$skiptoken=2\"}"
#define PAGE2 "{\"value\":[" PLAIN "]}"
#define MEETING "{\"value\":[{\"id\":\"m1\",\"joinWebUrl\":\"" JOIN "\",\"subject\":\"S\"}]}"
#define REPORTS(start)                                                                             \
    "{\"value\":[{\"id\":\"r1\",\"totalParticipantCount\":3,\"meetingStartDateTime\":\"" start     \
    "\",\"meetingEndDateTime\":\"2026-12-01T10:00:00Z\"}]}"
#define RECORD(id)                                                                                 \
    "{\"id\":\"" id "\",\"emailAddress\":\"" id "@x.com\",\"role\":\"Attendee\","                  \
    "\"totalAttendanceInSeconds\":60,\"identity\":{\"id\":\"i-" id "\",\"displayName\":\"D\"},"    \
    "\"attendanceIntervals\":[{\"joinDateTime\":\"2026-12-01T09:01:00Z\",\"leaveDateTime\":"       \
    "\"2026-12-01T09:02:00Z\",\"durationInSeconds\":60}]}"
#define RECORDS1                                                                                   \
    "{\"value\":[" RECORD("a") "," RECORD(                                                         \
        "b") "],\"@odata.nextLink\":"                                                              \
             "\"https://graph.example/v1.0/users/u1/onlineMeetings/m1/attendanceReports/r1/"       \
             "attendanceRecords?$skiptoken=2\"}"
#define RECORDS2 "{\"value\":[" RECORD("c") "]}"

static const answer good[] = {{"/users/Ann@Contoso.com?", ST_OK, 200, USER, 0},
                              {"skiptoken=2", ST_OK, 200, PAGE2, 1},
                              {"calendarView", ST_OK, 200, PAGE1, 1},
                              {"onlineMeetings?", ST_OK, 200, MEETING, 1},
                              {"attendanceRecords?$skiptoken=2", ST_OK, 200, RECORDS2, 1},
                              {"attendanceRecords", ST_OK, 200, RECORDS1, 1},
                              {"attendanceReports", ST_OK, 200, REPORTS("2026-12-01T09:00:00Z"), 1},
                              {NULL, ST_OK, 0, NULL, 0}};

static void check_complete(harness *h, mailbox *mb)
{
    if (mb->state != MB_SUCCEEDED)
        fail_msg("the mailbox failed: %s", mb->err.msg);
    assert_int_equal(mb->phase, MB_OVER);
    assert_int_equal(h->done, 1);
    assert_int_equal(h->uploaded, 2); /* events and final snapshots */
    assert_int_equal(mb->counts.rows[TBL_EVENTS], 2);
    assert_int_equal(mb->counts.rows[TBL_REPORTS], 1);
    assert_int_equal(mb->counts.rows[TBL_RECORDS], 3);
    assert_int_equal(mb->counts.rows[TBL_INTERVALS], 3);
    json_t *snap = final_snapshot(h);
    assert_non_null(snap);
    json_t *ev = json_array_get(json_object_get(snap, "events"), 0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "onlineMeetingMeta"), "id")), "m1");
    json_t *rep = json_array_get(json_object_get(ev, "attendance"), 0);
    assert_string_equal(json_string_value(json_object_get(rep, "id")), "r1");
    json_t *recs = json_object_get(rep, "attendanceRecords");
    assert_int_equal(json_array_size(recs), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 2), "id")), "c");
    assert_int_equal(json_array_size(json_object_get(snap, "unmatched_attendance")), 0);
    json_decref(snap);
}

/* Paging (two calendar pages, two record pages), the lookup, the tie, the rows. */
static void test_mailbox__pages_and_ties(void **state)
{
    (void)state;
    harness h;
    setup(&h, (int64_t)64 << 20);
    mailbox *mb = start(&h, good);
    check_complete(&h, mb);
    assert_int_equal(h.spill.spilled, 0);
    mailbox_free(mb);
    assert_int_equal(h.spill.held, 0);
    teardown(&h);
}

/* With no memory budget every byte goes to a spill file: the same result, and the
 * files are gone once the mailbox is. */
/* The final work on a worker thread, as the run gives it: the same snapshot and rows,
 * and the mailbox is done only once its final work was collected. */
static void test_mailbox__final_work_on_a_worker(void **state)
{
    (void)state;
    harness h;
    setup(&h, (int64_t)64 << 20);
    errinfo e = {0};
    /* as the run gives it on two cores: two threads, a scratch each, the writers locked */
    assert_int_equal(worker_new(&h.env.finisher, 2, &e), ST_OK);
    tables_scratch *sc[2] = {tables_scratch_new(), tables_scratch_new()};
    assert_true(sc[0] && sc[1]);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    h.env.flatten = sc;
    h.env.rows_lock = &lock;
    mailbox *mb = start(&h, good);
    check_complete(&h, mb);
    assert_int_equal(worker_pending(h.env.finisher), 0);
    assert_int_equal(pthread_mutex_trylock(&lock), 0);
    pthread_mutex_unlock(&lock);
    mailbox_free(mb);
    worker_free(h.env.finisher);
    tables_scratch_free(sc[0]);
    tables_scratch_free(sc[1]);
    teardown(&h);
}

/* A run stopped while a mailbox's final work waits on the worker: the worker stops,
 * the mailbox is freed without its done, and no composed file stays behind. */
static void test_mailbox__stopped_during_final_work(void **state)
{
    (void)state;
    harness h;
    setup(&h, (int64_t)64 << 20);
    errinfo e = {0};
    assert_int_equal(worker_new(&h.env.finisher, 1, &e), ST_OK);
    worker *w = h.env.finisher;
    h.hold_final = 1;
    mailbox *mb = start(&h, good);
    assert_int_equal(mb->phase, MB_FINISHING);
    assert_int_equal(worker_pending(w), 1);
    worker_free(w);
    h.env.finisher = NULL;
    assert_int_equal(h.done, 0);
    mailbox_free(mb);
    DIR *d = opendir(h.tmp.path);
    assert_non_null(d);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)) != NULL)
        files += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 0);
    teardown(&h);
}

static void test_mailbox__spills(void **state)
{
    (void)state;
    harness h;
    setup(&h, 0);
    mailbox *mb = start(&h, good);
    check_complete(&h, mb);
    assert_int_equal(h.spill.spilled, 1);
    assert_true(h.spill.disk_peak > 1000);
    assert_int_equal(h.spill.disk, 0); /* released when the mailbox ended */
    mailbox_free(mb);
    teardown(&h);
}

/* On the folder sink a snapshot is put by its path at once: the mailbox ends without
 * any upload held or deferred, and the snapshots are in the folder. */
static void test_mailbox__put_by_path(void **state)
{
    (void)state;
    harness h;
    setup(&h, 0);
    h.env.put_files = 1;
    h.upload_held = (int64_t)16 << 20; /* would hold a queued upload back */
    mailbox *mb = start(&h, good);
    check_complete(&h, mb);
    assert_int_equal(mb->ndeferred, 0);
    assert_null(h.waiting);
    assert_int_equal(h.upload_held, (int64_t)16 << 20);
    mailbox_free(mb);
    teardown(&h);
}

/* With the uploads held at their budget, a snapshot waits (the mailbox is not over)
 * until room is made, then is queued: no small upload runs outside the engine. */
static void test_mailbox__upload_waits_for_room(void **state)
{
    (void)state;
    harness h;
    setup(&h, (int64_t)64 << 20);
    h.upload_held = (int64_t)16 << 20;
    mailbox *mb = start(&h, good);
    assert_true(mb->phase != MB_OVER);
    assert_int_equal(h.done, 0);
    assert_int_equal(h.uploaded, 0);
    assert_non_null(h.waiting);
    assert_int_equal(mb->ndeferred, 1);
    h.upload_held = 0;
    pump(&h);
    check_complete(&h, mb);
    assert_int_equal(h.upload_held, 0);
    mailbox_free(mb);
    teardown(&h);
}

#define PAGE1_OCC                                                                                  \
    "{\"value\":[" EVENT_OF(                                                                       \
        "occurrence", "e1", "2026-12-01T09:00:00.0000000",                                         \
        "2026-12-01T10:00:00.0000000") "],\"@odata.nextLink\":\"https://graph.example/v1.0/users/" \
                                       "x/calendarView?$skiptoken=2\"}"

/* A report outside every occurrence of its meeting lands once, in
 * unmatched_attendance, with its meeting's id ahead of its records. */
static void test_mailbox__unmatched(void **state)
{
    (void)state;
    static const answer late[] = {
        {"/users/Ann@Contoso.com?", ST_OK, 200, USER, 0},
        {"skiptoken=2", ST_OK, 200, PAGE2, 1},
        {"calendarView", ST_OK, 200, PAGE1_OCC, 1},
        {"onlineMeetings?", ST_OK, 200, MEETING, 1},
        {"attendanceRecords?$skiptoken=2", ST_OK, 200, RECORDS2, 1},
        {"attendanceRecords", ST_OK, 200, RECORDS1, 1},
        {"attendanceReports", ST_OK, 200, REPORTS("2026-12-02T15:00:00Z"), 1},
        {NULL, ST_OK, 0, NULL, 0}};
    harness h;
    setup(&h, (int64_t)64 << 20);
    mailbox *mb = start(&h, late);
    if (mb->state != MB_SUCCEEDED)
        fail_msg("the mailbox failed: %s", mb->err.msg);
    assert_int_equal(mb->counts.rows[TBL_RECORDS], 3);
    json_t *snap = final_snapshot(&h);
    assert_non_null(snap);
    json_t *un = json_array_get(json_object_get(snap, "unmatched_attendance"), 0);
    assert_non_null(un);
    assert_string_equal(json_string_value(json_object_get(un, "onlineMeetingId")), "m1");
    assert_int_equal(json_array_size(json_object_get(un, "attendanceRecords")), 3);
    json_decref(snap);
    mailbox_free(mb);
    teardown(&h);
}

/* A failure in each phase fails the mailbox: no rows, no final snapshot, and the
 * spill files are gone. */
static void test_mailbox__failure_in_each_phase(void **state)
{
    (void)state;
    static const char *const where[] = {"/users/Ann@Contoso.com?", "skiptoken=2", "onlineMeetings?",
                                        "attendanceReports", "attendanceRecords?$skiptoken=2"};
    for (size_t w = 0; w < sizeof where / sizeof *where; w++) {
        answer a[16];
        size_t n = 0;
        a[n++] = (answer){where[w], ST_HTTP, 500, NULL, 0};
        for (size_t i = 0; good[i].match; i++)
            a[n++] = good[i];
        a[n] = (answer){NULL, ST_OK, 0, NULL, 0};
        harness h;
        setup(&h, 0);
        mailbox *mb = start(&h, a);
        if (mb->state != MB_FAILED)
            fail_msg("a failure at %s did not fail the mailbox", where[w]);
        assert_int_equal(h.done, 1);
        for (int t = 0; t < TBL_COUNT; t++)
            assert_int_equal(mb->counts.rows[t], 0);
        assert_null(final_snapshot(&h));
        assert_int_equal(h.spill.disk, 0);
        mailbox_free(mb);
        teardown(&h);
    }
}

/* A first calendar page over the response cap is asked again with a smaller $top,
 * not a failure. */
static void test_mailbox__smaller_page_after_too_large(void **state)
{
    (void)state;
    answer a[16];
    size_t n = 0;
    a[n++] = (answer){"calendarView", ST_TOO_LARGE, 200, NULL, 1};
    for (size_t i = 0; good[i].match; i++)
        a[n++] = good[i];
    a[n] = (answer){NULL, ST_OK, 0, NULL, 0};
    harness h;
    setup(&h, (int64_t)64 << 20);
    mailbox *mb = start(&h, a);
    check_complete(&h, mb);
    int asked_500 = 0, asked_125 = 0;
    for (size_t i = 0; i < h.nurls; i++) {
        asked_500 += strstr(h.urls[i], "top=500") != NULL;
        asked_125 += strstr(h.urls[i], "top=125") != NULL;
    }
    assert_int_equal(asked_500, 1);
    assert_int_equal(asked_125, 1);
    mailbox_free(mb);
    teardown(&h);
}

int main(void)
{
    log_setup(LOG_FORMAT_JSON, LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mailbox__pages_and_ties),
        cmocka_unit_test(test_mailbox__final_work_on_a_worker),
        cmocka_unit_test(test_mailbox__stopped_during_final_work),
        cmocka_unit_test(test_mailbox__spills),
        cmocka_unit_test(test_mailbox__upload_waits_for_room),
        cmocka_unit_test(test_mailbox__put_by_path),
        cmocka_unit_test(test_mailbox__unmatched),
        cmocka_unit_test(test_mailbox__failure_in_each_phase),
        cmocka_unit_test(test_mailbox__smaller_page_after_too_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
