/* Unit tests of src/tables: the table declarations against SPEC section 7, the time
 * parser, and the flattener's rows (collected through tables_flatten_rows). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <cmocka.h>

#include "log.h"
#include "tables/convert.h"
#include "tables/tables.h"

/* ---- helpers: rows collected as JSON arrays, one list per table ---- */

typedef struct collected {
    json_t *rows[TBL_COUNT];
    int fail_after; /* >0: the n-th row call fails */
    int calls;
    pthread_mutex_t *lock; /* when set, rows must come while it is held */
    int unlocked;          /* rows that came while it was free */
} collected;

static status collect_row(void *ctx, table_id t, const tables_value *v, errinfo *err)
{
    collected *c = ctx;
    if (c->lock && pthread_mutex_trylock(c->lock) == 0) {
        c->unlocked++;
        pthread_mutex_unlock(c->lock);
    }
    if (c->fail_after > 0 && ++c->calls >= c->fail_after)
        return err_set(err, ST_IO, "sink refused the row");
    const table_def *def = tables_def(t);
    json_t *row = json_array();
    for (size_t i = 0; i < def->ncols; i++) {
        json_t *j;
        if (v[i].null)
            j = json_null();
        else if (def->cols[i].type == PQ_STRING)
            j = json_stringn(v[i].s, v[i].len);
        else if (def->cols[i].type == PQ_BOOLEAN)
            j = json_boolean(v[i].i);
        else
            j = json_integer(v[i].i);
        json_array_append_new(row, j);
    }
    json_array_append_new(c->rows[t], row);
    return ST_OK;
}

static void collected_init(collected *c)
{
    memset(c, 0, sizeof *c);
    for (int t = 0; t < TBL_COUNT; t++)
        c->rows[t] = json_array();
}

static void collected_free(collected *c)
{
    for (int t = 0; t < TBL_COUNT; t++)
        json_decref(c->rows[t]);
}

static size_t nrows(const collected *c, table_id t)
{
    return json_array_size(c->rows[t]);
}

static const json_t *cell(const collected *c, table_id t, size_t row, const char *col)
{
    const table_def *def = tables_def(t);
    for (size_t i = 0; i < def->ncols; i++)
        if (strcmp(def->cols[i].name, col) == 0)
            return json_array_get(json_array_get(c->rows[t], row), i);
    fail_msg("no column %s in %s", col, def->name);
    return NULL;
}

static void assert_cell_str(const collected *c, table_id t, size_t row, const char *col,
                            const char *want)
{
    const json_t *j = cell(c, t, row, col);
    if (!want) {
        if (!json_is_null(j))
            fail_msg("%s[%zu].%s: want null", tables_def(t)->name, row, col);
        return;
    }
    if (!json_is_string(j))
        fail_msg("%s[%zu].%s: want '%s', got a non-string", tables_def(t)->name, row, col, want);
    assert_string_equal(json_string_value(j), want);
}

static void assert_cell_int(const collected *c, table_id t, size_t row, const char *col,
                            int64_t want)
{
    const json_t *j = cell(c, t, row, col);
    if (!json_is_integer(j))
        fail_msg("%s[%zu].%s: want %lld, got null/other", tables_def(t)->name, row, col,
                 (long long)want);
    assert_int_equal(json_integer_value(j), want);
}

static void assert_cell_bool(const collected *c, table_id t, size_t row, const char *col, int want)
{
    const json_t *j = cell(c, t, row, col);
    assert_true(json_is_boolean(j));
    assert_int_equal(json_is_true(j), want);
}

static void assert_cell_null(const collected *c, table_id t, size_t row, const char *col)
{
    if (!json_is_null(cell(c, t, row, col)))
        fail_msg("%s[%zu].%s: want null", tables_def(t)->name, row, col);
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("test JSON does not parse: %s (line %d)", e.text, e.line);
    return j;
}

static status flatten_text(const char *text, collected *c, table_counts *counts, errinfo *err)
{
    json_t *snap = parse(text);
    status st = tables_flatten_rows(snap, collect_row, c, counts, err);
    json_decref(snap);
    return st;
}

/* 2021-10-05T04:38:23.945Z etc., computed independently (date -u -d ... +%s). */
#define US(sec, frac) ((int64_t)(sec)*1000000 + (frac))

/* ---- declarations ---- */

static void check_table(table_id t, const char *name, const char *const *names,
                        const pq_type *types, const int *req, size_t n, const char *const *key,
                        size_t nkey)
{
    const table_def *d = tables_def(t);
    assert_non_null(d);
    assert_string_equal(d->name, name);
    assert_int_equal(d->ncols, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(d->cols[i].name, names[i]);
        if (d->cols[i].type != types[i])
            fail_msg("%s.%s: type %d, want %d", name, names[i], d->cols[i].type, types[i]);
        if (d->cols[i].required != req[i])
            fail_msg("%s.%s: required %d, want %d", name, names[i], d->cols[i].required, req[i]);
    }
    assert_int_equal(d->nkey, nkey);
    for (size_t i = 0; i < nkey; i++)
        assert_string_equal(d->key[i], key[i]);
}

static void test_tables__declarations(void **state)
{
    (void)state;
#define S PQ_STRING
#define T PQ_TIMESTAMP
#define I PQ_INT32
#define L PQ_INT64
#define B PQ_BOOLEAN
    static const char *const ev[] = {"event_id",
                                     "user_upn",
                                     "ical_uid",
                                     "series_master_id",
                                     "event_type",
                                     "subject",
                                     "organizer_name",
                                     "organizer_email",
                                     "start_utc",
                                     "end_utc",
                                     "is_all_day",
                                     "is_cancelled",
                                     "is_online_meeting",
                                     "online_meeting_provider",
                                     "join_url",
                                     "online_meeting_id",
                                     "attendee_count",
                                     "created_utc",
                                     "last_modified_utc",
                                     "attendance_status",
                                     "run_id",
                                     "extracted_utc"};
    static const pq_type evt[] = {S, S, S, S, S, S, S, S, T, T, B, B, B, S, S, S, I, T, T, S, S, T};
    static const int evr[] = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1};
    static const char *const evk[] = {"event_id", "user_upn"};
    check_table(TBL_EVENTS, "events", ev, evt, evr, 22, evk, 2);

    static const char *const rp[] = {"report_id",
                                     "online_meeting_id",
                                     "event_id",
                                     "user_upn",
                                     "total_participant_count",
                                     "meeting_start_utc",
                                     "meeting_end_utc",
                                     "run_id",
                                     "extracted_utc"};
    static const pq_type rpt[] = {S, S, S, S, I, T, T, S, T};
    static const int rpr[] = {1, 1, 0, 1, 0, 0, 0, 1, 1};
    static const char *const rpk[] = {"report_id"};
    check_table(TBL_REPORTS, "attendance_reports", rp, rpt, rpr, 9, rpk, 1);

    static const char *const rc[] = {"record_key",
                                     "record_id",
                                     "report_id",
                                     "online_meeting_id",
                                     "user_upn",
                                     "email",
                                     "display_name",
                                     "identity_id",
                                     "identity_tenant_id",
                                     "role",
                                     "total_attendance_seconds",
                                     "first_join_utc",
                                     "last_leave_utc",
                                     "interval_count",
                                     "run_id",
                                     "extracted_utc"};
    static const pq_type rct[] = {S, S, S, S, S, S, S, S, S, S, L, T, T, I, S, T};
    static const int rcr[] = {1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1};
    static const char *const rck[] = {"report_id", "record_key"};
    check_table(TBL_RECORDS, "attendance_records", rc, rct, rcr, 16, rck, 2);

    static const char *const iv[] = {
        "report_id", "record_key", "identity_id",      "email",  "interval_index",
        "join_utc",  "leave_utc",  "duration_seconds", "run_id", "extracted_utc"};
    static const pq_type ivt[] = {S, S, S, S, I, T, T, L, S, T};
    static const int ivr[] = {1, 1, 0, 0, 1, 0, 0, 0, 1, 1};
    static const char *const ivk[] = {"report_id", "record_key", "interval_index"};
    check_table(TBL_INTERVALS, "attendance_intervals", iv, ivt, ivr, 10, ivk, 3);
#undef S
#undef T
#undef I
#undef L
#undef B

    assert_null(tables_def(TBL_COUNT));
}

/* The enums the flattener writes by name point at the columns of that name. */
static void test_tables__column_enums(void **state)
{
    (void)state;
    assert_int_equal(tables_def(TBL_EVENTS)->ncols, EV_NCOLS);
    assert_int_equal(tables_def(TBL_REPORTS)->ncols, REP_NCOLS);
    assert_int_equal(tables_def(TBL_RECORDS)->ncols, REC_NCOLS);
    assert_int_equal(tables_def(TBL_INTERVALS)->ncols, IV_NCOLS);
    const pq_column *ev = tables_def(TBL_EVENTS)->cols;
    assert_string_equal(ev[EV_SUBJECT].name, "subject");
    assert_string_equal(ev[EV_JOIN_URL].name, "join_url");
    assert_string_equal(ev[EV_ONLINE_MEETING_ID].name, "online_meeting_id");
    assert_string_equal(ev[EV_ATTENDANCE_STATUS].name, "attendance_status");
    assert_string_equal(ev[EV_EXTRACTED_UTC].name, "extracted_utc");
    const pq_column *rp = tables_def(TBL_REPORTS)->cols;
    assert_string_equal(rp[REP_EVENT_ID].name, "event_id");
    assert_string_equal(rp[REP_MEETING_END_UTC].name, "meeting_end_utc");
    const pq_column *rc = tables_def(TBL_RECORDS)->cols;
    assert_string_equal(rc[REC_IDENTITY_TENANT_ID].name, "identity_tenant_id");
    assert_string_equal(rc[REC_INTERVAL_COUNT].name, "interval_count");
    const pq_column *iv = tables_def(TBL_INTERVALS)->cols;
    assert_string_equal(iv[IV_INTERVAL_INDEX].name, "interval_index");
    assert_string_equal(iv[IV_DURATION_SECONDS].name, "duration_seconds");
}

/* ---- times ---- */

static int64_t pt(const char *s, int *has_zone)
{
    int64_t us = -1;
    if (tables_parse_time(s, strlen(s), &us, has_zone) != 0)
        fail_msg("'%s' should parse", s);
    return us;
}

static void test_tables__parse_time(void **state)
{
    (void)state;
    int z = -1;
    /* 2021-10-05T04:38:23Z = 1633408703 */
    assert_int_equal(pt("2021-10-05T04:38:23.945Z", &z), US(1633408703, 945000));
    assert_int_equal(z, 1);
    assert_int_equal(pt("2021-10-05T04:38:23.77Z", NULL), US(1633408703, 770000));
    assert_int_equal(pt("2021-10-05T04:38:23Z", NULL), US(1633408703, 0));
    /* 7 digits: the 7th is truncated, not rounded */
    assert_int_equal(pt("2021-10-05T04:38:23.6027229Z", NULL), US(1633408703, 602722));
    assert_int_equal(pt("2021-10-05T04:38:23.0000000", &z), US(1633408703, 0));
    assert_int_equal(z, 0);
    assert_int_equal(pt("2021-10-05T04:38:23.1", NULL), US(1633408703, 100000));
    assert_int_equal(pt("2021-10-05T06:38:23.5+02:00", NULL), US(1633408703, 500000));
    assert_int_equal(pt("2021-10-04T23:38:23-05:00", NULL), US(1633408703, 0));
    assert_int_equal(pt("1970-01-01T00:00:00Z", NULL), 0);
    assert_int_equal(pt("1969-12-31T23:59:59.999999Z", NULL), -1);
    assert_int_equal(pt("2024-02-29T00:00:00Z", NULL), US(1709164800, 0));
    assert_int_equal(pt("0001-01-01T00:00:00Z", NULL), US(-62135596800LL, 0));
    assert_int_equal(pt("9999-12-31T23:59:59.9999999Z", NULL), US(253402300799LL, 999999));

    static const char *bad[] = {"",
                                "2021-10-05",
                                "2021-10-05T04:38:23.Z",
                                "2021-10-05T04:38:23.1234567890Z",
                                "2021-13-05T04:38:23Z",
                                "2023-02-29T04:38:23Z",
                                "2021-10-05T24:00:00Z",
                                "2021-10-05T04:60:00Z",
                                "2021-10-05T04:38:23ZZ",
                                "2021-10-05T04:38:23+0200",
                                "2021-10-05T04:38:23+02:00x",
                                "2021-1a-05T04:38:23Z",
                                "2021-10-05T04:38:23 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us;
        if (tables_parse_time(bad[i], strlen(bad[i]), &us, NULL) == 0)
            fail_msg("'%s' should not parse", bad[i]);
    }
    /* the length is honoured: no read past it */
    int64_t us;
    assert_int_equal(tables_parse_time("2021-10-05T04:38:23Zgarbage", 20, &us, NULL), 0);
    assert_int_equal(us, US(1633408703, 0));
}

/* ---- the flattener ---- */

/* A final snapshot built from Microsoft's documented examples (graph-samples): the
 * online meeting event, its onlineMeeting, the report with expanded records (one
 * record lacking everything that could be a key), and an unmatched report. */
static const char *SAMPLE =
    "{\"user_upn\": \"AlexW@Contoso.OnMicrosoft.com\","
    " \"run_id\": \"20261128T173400Z-3f9a1c\","
    " \"window_start\": \"2026-10-29T17:34:00Z\", \"window_end\": \"2026-11-28T17:34:00Z\","
    " \"extracted_utc\": \"2026-11-28T17:34:00Z\","
    " \"events\": ["
    "  {\"id\": \"AAMkADAAABIGYDZAAA=\","
    "   \"createdDateTime\": \"2019-11-15T01:55:54.8022848Z\","
    "   \"lastModifiedDateTime\": \"2019-11-15T01:55:56.5162924Z\","
    "   \"iCalUId\": \"040000008200E00074C5B7101A82E008\","
    "   \"subject\": \"Prep for customer meeting \\u00e9\\u4f1a\\u8b70\","
    "   \"isAllDay\": false, \"isCancelled\": false, \"isOrganizer\": true,"
    "   \"seriesMasterId\": null, \"type\": \"singleInstance\","
    "   \"isOnlineMeeting\": true, \"onlineMeetingProvider\": \"teamsForBusiness\","
    "   \"start\": {\"dateTime\": \"2019-11-20T13:00:00.0000000\", \"timeZone\": \"UTC\"},"
    "   \"end\": {\"dateTime\": \"2019-11-20T14:00:00.0000000\", \"timeZone\": \"UTC\"},"
    "   \"attendees\": [{\"type\": \"required\", \"emailAddress\": {\"name\": \"Adele Vance\","
    "     \"address\": \"AdeleV@contoso.OnMicrosoft.com\"}}],"
    "   \"organizer\": {\"emailAddress\": {\"name\": \"Alex Wilber\","
    "     \"address\": \"AlexW@contoso.OnMicrosoft.com\"}},"
    "   \"onlineMeeting\": {\"joinUrl\": "
    "\"https://teams.microsoft.com/l/meetup-join/19%3ameeting_X\"},"
    "   \"onlineMeetingMeta\": {\"id\": \"MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ\"},"
    "   \"attendance\": [{"
    "     \"id\": \"c9b6db1c-d5eb-427d-a5c0-20088d9b22d7\", \"totalParticipantCount\": 3,"
    "     \"meetingStartDateTime\": \"2021-10-05T04:38:23.945Z\","
    "     \"meetingEndDateTime\": \"2021-10-05T04:43:49.77Z\","
    "     \"attendanceRecords\": ["
    "      {\"emailAddress\": \"frederick.cormier@contoso.com\", \"totalAttendanceInSeconds\": "
    "1152,"
    "       \"role\": \"Presenter\","
    "       \"identity\": {\"id\": \"dc17674c-81d9-4adb-bfb2-8f6a442e4623\","
    "         \"displayName\": \"Fr\\u00e9d\\u00e9rick Cormier\", \"tenantId\": null},"
    "       \"attendanceIntervals\": ["
    "        {\"joinDateTime\": \"2021-03-16T19:09:23.9834702Z\","
    "         \"leaveDateTime\": \"2021-03-16T19:16:31.1381195Z\", \"durationInSeconds\": 427},"
    "        {\"joinDateTime\": \"2021-03-16T18:59:52.2782182Z\","
    "         \"leaveDateTime\": \"2021-03-16T19:06:47.7218491Z\", \"durationInSeconds\": 415},"
    "        {\"joinDateTime\": \"2021-03-16T19:20:27.7094382Z\","
    "         \"leaveDateTime\": \"2021-03-16T19:25:37.7121956Z\", \"durationInSeconds\": 310}]},"
    "      {\"id\": \"rec-2\", \"emailAddress\": \"guest@example.com\", \"role\": \"Attendee\","
    "       \"identity\": {\"id\": \"guest-id\", \"displayName\": \"Guest\", \"tenantId\": "
    "\"t-1\"},"
    "       \"totalAttendanceInSeconds\": 60, \"attendanceIntervals\": []},"
    "      {\"emailAddress\": null, \"role\": \"Attendee\","
    "       \"identity\": {\"id\": null, \"displayName\": \"Phone user\", \"tenantId\": null},"
    "       \"totalAttendanceInSeconds\": 30,"
    "       \"attendanceIntervals\": [{\"joinDateTime\": \"2021-10-05T04:39:00Z\","
    "         \"leaveDateTime\": null, \"durationInSeconds\": 30}]}]}]}],"
    " \"unmatched_attendance\": [{"
    "   \"id\": \"2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89\", \"totalParticipantCount\": 1,"
    "   \"meetingStartDateTime\": \"2021-10-04T23:13:31.658Z\","
    "   \"meetingEndDateTime\": \"2021-10-04T23:18:57.563Z\","
    "   \"onlineMeetingId\": \"MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ\","
    "   \"attendanceRecords\": [{\"emailAddress\": \"x@contoso.com\","
    "     \"identity\": {\"displayName\": \"X\"}, \"attendanceIntervals\": null}]}]}";

static void test_tables__flatten_sample(void **state)
{
    (void)state;
    collected c;
    collected_init(&c);
    table_counts counts = {{0}, 0, 0};
    errinfo err = {0};
    assert_int_equal(flatten_text(SAMPLE, &c, &counts, &err), ST_OK);

    assert_int_equal(nrows(&c, TBL_EVENTS), 1);
    assert_int_equal(nrows(&c, TBL_REPORTS), 2);
    assert_int_equal(nrows(&c, TBL_RECORDS), 4);
    assert_int_equal(nrows(&c, TBL_INTERVALS), 4);
    assert_int_equal(counts.rows[TBL_EVENTS], 1);
    assert_int_equal(counts.rows[TBL_REPORTS], 2);
    assert_int_equal(counts.rows[TBL_RECORDS], 4);
    assert_int_equal(counts.rows[TBL_INTERVALS], 4);
    assert_int_equal(counts.skipped, 0);

    /* events */
    assert_cell_str(&c, TBL_EVENTS, 0, "event_id", "AAMkADAAABIGYDZAAA=");
    assert_cell_str(&c, TBL_EVENTS, 0, "user_upn", "alexw@contoso.onmicrosoft.com");
    assert_cell_str(&c, TBL_EVENTS, 0, "ical_uid", "040000008200E00074C5B7101A82E008");
    assert_cell_str(&c, TBL_EVENTS, 0, "series_master_id", NULL);
    assert_cell_str(&c, TBL_EVENTS, 0, "event_type", "singleInstance");
    assert_cell_str(&c, TBL_EVENTS, 0, "subject",
                    "Prep for customer meeting \xc3\xa9\xe4\xbc\x9a\xe8\xad\xb0");
    assert_cell_str(&c, TBL_EVENTS, 0, "organizer_name", "Alex Wilber");
    assert_cell_str(&c, TBL_EVENTS, 0, "organizer_email", "AlexW@contoso.OnMicrosoft.com");
    assert_cell_int(&c, TBL_EVENTS, 0, "start_utc", US(1574254800, 0)); /* 2019-11-20T13:00Z */
    assert_cell_int(&c, TBL_EVENTS, 0, "end_utc", US(1574258400, 0));
    assert_cell_bool(&c, TBL_EVENTS, 0, "is_all_day", 0);
    assert_cell_bool(&c, TBL_EVENTS, 0, "is_cancelled", 0);
    assert_cell_bool(&c, TBL_EVENTS, 0, "is_online_meeting", 1);
    assert_cell_str(&c, TBL_EVENTS, 0, "online_meeting_provider", "teamsForBusiness");
    assert_cell_str(&c, TBL_EVENTS, 0, "join_url",
                    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_X");
    assert_cell_str(&c, TBL_EVENTS, 0, "online_meeting_id", "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ");
    assert_cell_int(&c, TBL_EVENTS, 0, "attendee_count", 1);
    /* 2019-11-15T01:55:54Z = 1573782954 */
    assert_cell_int(&c, TBL_EVENTS, 0, "created_utc", US(1573782954, 802284));
    assert_cell_int(&c, TBL_EVENTS, 0, "last_modified_utc", US(1573782956, 516292));
    assert_cell_str(&c, TBL_EVENTS, 0, "attendance_status", "fetched");
    assert_cell_str(&c, TBL_EVENTS, 0, "run_id", "20261128T173400Z-3f9a1c");
    /* 2026-11-28T17:34:00Z = 1795887240 */
    assert_cell_int(&c, TBL_EVENTS, 0, "extracted_utc", US(1795887240, 0));

    /* reports: the event's, then the unmatched one */
    assert_cell_str(&c, TBL_REPORTS, 0, "report_id", "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7");
    assert_cell_str(&c, TBL_REPORTS, 0, "online_meeting_id", "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ");
    assert_cell_str(&c, TBL_REPORTS, 0, "event_id", "AAMkADAAABIGYDZAAA=");
    assert_cell_str(&c, TBL_REPORTS, 0, "user_upn", "alexw@contoso.onmicrosoft.com");
    assert_cell_int(&c, TBL_REPORTS, 0, "total_participant_count", 3);
    assert_cell_int(&c, TBL_REPORTS, 0, "meeting_start_utc", US(1633408703, 945000));
    assert_cell_int(&c, TBL_REPORTS, 0, "meeting_end_utc", US(1633409029, 770000));
    assert_cell_str(&c, TBL_REPORTS, 0, "run_id", "20261128T173400Z-3f9a1c");
    assert_cell_str(&c, TBL_REPORTS, 1, "report_id", "2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89");
    assert_cell_str(&c, TBL_REPORTS, 1, "event_id", NULL);
    assert_cell_str(&c, TBL_REPORTS, 1, "online_meeting_id", "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ");
    /* 2021-10-04T23:13:31Z = 1633389211 */
    assert_cell_int(&c, TBL_REPORTS, 1, "meeting_start_utc", US(1633389211, 658000));

    /* records: key fallbacks identity.id, id, "#2"; the unmatched report's by email */
    assert_cell_str(&c, TBL_RECORDS, 0, "record_key", "dc17674c-81d9-4adb-bfb2-8f6a442e4623");
    assert_cell_str(&c, TBL_RECORDS, 0, "record_id", NULL);
    assert_cell_str(&c, TBL_RECORDS, 0, "report_id", "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7");
    assert_cell_str(&c, TBL_RECORDS, 0, "online_meeting_id", "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ");
    assert_cell_str(&c, TBL_RECORDS, 0, "email", "frederick.cormier@contoso.com");
    assert_cell_str(&c, TBL_RECORDS, 0, "display_name",
                    "Fr\xc3\xa9"
                    "d\xc3\xa9rick Cormier");
    assert_cell_str(&c, TBL_RECORDS, 0, "identity_id", "dc17674c-81d9-4adb-bfb2-8f6a442e4623");
    assert_cell_str(&c, TBL_RECORDS, 0, "identity_tenant_id", NULL);
    assert_cell_str(&c, TBL_RECORDS, 0, "role", "Presenter");
    assert_cell_int(&c, TBL_RECORDS, 0, "total_attendance_seconds", 1152);
    /* smallest join is the second interval; 2021-03-16T18:59:52Z = 1615921192 */
    assert_cell_int(&c, TBL_RECORDS, 0, "first_join_utc", US(1615921192, 278218));
    /* 2021-03-16T19:25:37Z = 1615922737 */
    assert_cell_int(&c, TBL_RECORDS, 0, "last_leave_utc", US(1615922737, 712195));
    assert_cell_int(&c, TBL_RECORDS, 0, "interval_count", 3);
    assert_cell_str(&c, TBL_RECORDS, 1, "record_key", "rec-2");
    assert_cell_str(&c, TBL_RECORDS, 1, "record_id", "rec-2");
    assert_cell_str(&c, TBL_RECORDS, 1, "identity_tenant_id", "t-1");
    assert_cell_null(&c, TBL_RECORDS, 1, "first_join_utc");
    assert_cell_null(&c, TBL_RECORDS, 1, "last_leave_utc");
    assert_cell_int(&c, TBL_RECORDS, 1, "interval_count", 0);
    assert_cell_str(&c, TBL_RECORDS, 2, "record_key", "#2");
    assert_cell_str(&c, TBL_RECORDS, 2, "email", NULL);
    assert_cell_str(&c, TBL_RECORDS, 2, "identity_id", NULL);
    assert_cell_str(&c, TBL_RECORDS, 2, "display_name", "Phone user");
    assert_cell_int(&c, TBL_RECORDS, 2, "first_join_utc", US(1633408740, 0));
    assert_cell_null(&c, TBL_RECORDS, 2, "last_leave_utc");
    assert_cell_int(&c, TBL_RECORDS, 2, "interval_count", 1);
    assert_cell_str(&c, TBL_RECORDS, 3, "record_key", "x@contoso.com");
    assert_cell_str(&c, TBL_RECORDS, 3, "report_id", "2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89");
    assert_cell_str(&c, TBL_RECORDS, 3, "identity_id", NULL);
    assert_cell_null(&c, TBL_RECORDS, 3, "total_attendance_seconds");
    assert_cell_int(&c, TBL_RECORDS, 3, "interval_count", 0);

    /* intervals keep their order; index from 0; key, identity and email copied */
    for (int i = 0; i < 3; i++) {
        assert_cell_str(&c, TBL_INTERVALS, (size_t)i, "record_key",
                        "dc17674c-81d9-4adb-bfb2-8f6a442e4623");
        assert_cell_int(&c, TBL_INTERVALS, (size_t)i, "interval_index", i);
        assert_cell_str(&c, TBL_INTERVALS, (size_t)i, "email", "frederick.cormier@contoso.com");
    }
    assert_cell_int(&c, TBL_INTERVALS, 0, "join_utc", US(1615921763, 983470));
    assert_cell_int(&c, TBL_INTERVALS, 0, "duration_seconds", 427);
    assert_cell_int(&c, TBL_INTERVALS, 1, "duration_seconds", 415);
    assert_cell_str(&c, TBL_INTERVALS, 3, "record_key", "#2");
    assert_cell_int(&c, TBL_INTERVALS, 3, "interval_index", 0);
    assert_cell_null(&c, TBL_INTERVALS, 3, "leave_utc");
    assert_cell_str(&c, TBL_INTERVALS, 3, "identity_id", NULL);
    collected_free(&c);
}

/* An event built from parts, inside a snapshot with nothing else. */
static char *snapshot_with_event(const char *event_fields)
{
    static const char head[] = "{\"user_upn\": \"u@x.com\", \"run_id\": \"R\", \"extracted_utc\": "
                               "\"2026-11-28T17:34:00Z\", \"events\": [{";
    size_t n = sizeof head + strlen(event_fields) + 8;
    char *s = malloc(n);
    snprintf(s, n, "%s%s}]}", head, event_fields);
    return s;
}

static const char *status_of(const char *event_fields)
{
    static char out[32];
    collected c;
    collected_init(&c);
    errinfo err = {0};
    char *text = snapshot_with_event(event_fields);
    status st = flatten_text(text, &c, NULL, &err);
    free(text);
    if (st != ST_OK)
        fail_msg("flatten failed: %s", err.msg);
    assert_int_equal(nrows(&c, TBL_EVENTS), 1);
    snprintf(out, sizeof out, "%s",
             json_string_value(cell(&c, TBL_EVENTS, 0, "attendance_status")));
    collected_free(&c);
    return out;
}

#define TEAMS                                                                                      \
    "\"id\": \"e1\", \"isOnlineMeeting\": true, \"onlineMeetingProvider\": \"teamsForBusiness\", "
#define URL "\"onlineMeeting\": {\"joinUrl\": \"https://t/j\"}, "

static void test_tables__attendance_status(void **state)
{
    (void)state;
    assert_string_equal(status_of("\"id\": \"e1\", \"isOnlineMeeting\": false"), "not_online");
    assert_string_equal(status_of("\"id\": \"e1\""), "not_online");
    assert_string_equal(status_of("\"id\": \"e1\", \"isOnlineMeeting\": true, "
                                  "\"onlineMeetingProvider\": \"skypeForBusiness\", " URL
                                  "\"isOrganizer\": true"),
                        "not_online");
    assert_string_equal(status_of(TEAMS "\"onlineMeeting\": null, \"isOrganizer\": true"),
                        "not_online");
    assert_string_equal(
        status_of(TEAMS "\"onlineMeeting\": {\"joinUrl\": \"\"}, \"isOrganizer\": true"),
        "not_online");
    assert_string_equal(status_of(TEAMS URL "\"isOrganizer\": false, "
                                            "\"onlineMeetingMeta\": null, \"attendance\": []"),
                        "not_organizer");
    assert_string_equal(status_of(TEAMS URL "\"isOrganizer\": true, "
                                            "\"onlineMeetingMeta\": null, \"attendance\": []"),
                        "no_meeting");
    assert_string_equal(status_of(TEAMS URL
                                  "\"isOrganizer\": true, "
                                  "\"onlineMeetingMeta\": {\"id\": \"m\"}, \"attendance\": []"),
                        "no_reports");
    assert_string_equal(status_of(TEAMS URL "\"isOrganizer\": true, "
                                            "\"onlineMeetingMeta\": {\"id\": \"m\"}, "
                                            "\"attendance\": [{\"id\": \"r\"}]"),
                        "fetched");
}

/* A join link the run found outside onlineMeeting (joinUrlSource names the field):
 * the event is a Teams meeting, join_url is the link read again from that field. */
static void test_tables__join_link_elsewhere(void **state)
{
    (void)state;
    static const char base[] =
        "\"id\": \"E1\", \"isOrganizer\": true, \"isOnlineMeeting\": false, "
        "\"onlineMeetingProvider\": \"unknown\", \"onlineMeeting\": null, "
        "\"location\": {\"displayName\": \"Teams: https://teams.microsoft.com/meet/2469?p=Xk9\"}, "
        "\"locations\": [{\"displayName\": \"Room 1\"}, "
        "{\"locationUri\": \"https://teams.microsoft.com/l/meetup-join/19%3am%40thread.v2/0\"}], "
        "\"onlineMeetingMeta\": {\"id\": \"M1\"}, \"attendance\": []";
    char ev[1024];
    collected c;
    errinfo err = {0};

    snprintf(ev, sizeof ev, "%s, \"joinUrlSource\": \"location.displayName\"", base);
    collected_init(&c);
    char *text = snapshot_with_event(ev);
    assert_int_equal(flatten_text(text, &c, NULL, &err), ST_OK);
    free(text);
    assert_cell_str(&c, TBL_EVENTS, 0, "join_url", "https://teams.microsoft.com/meet/2469?p=Xk9");
    assert_cell_str(&c, TBL_EVENTS, 0, "attendance_status", "no_reports");
    assert_cell_str(&c, TBL_EVENTS, 0, "online_meeting_id", "M1");
    collected_free(&c);

    snprintf(ev, sizeof ev, "%s, \"joinUrlSource\": \"locations[].locationUri\"", base);
    collected_init(&c);
    text = snapshot_with_event(ev);
    assert_int_equal(flatten_text(text, &c, NULL, &err), ST_OK);
    free(text);
    assert_cell_str(&c, TBL_EVENTS, 0, "join_url",
                    "https://teams.microsoft.com/l/meetup-join/19%3am%40thread.v2/0");
    collected_free(&c);

    /* without joinUrlSource the run did not look it up: not online */
    assert_string_equal(status_of(base), "not_online");
}

/* A time in a zone other than UTC cannot be placed: null, counted, the row kept. */
static void test_tables__zone_not_utc_is_bad_value(void **state)
{
    (void)state;
    collected c;
    collected_init(&c);
    errinfo err = {0};
    table_counts counts = {{0}, 0, 0};
    char *text = snapshot_with_event(
        "\"id\": \"AAMk-zone\", \"start\": {\"dateTime\": \"2019-11-20T13:00:00.0000000\", "
        "\"timeZone\": \"UTC\"}, \"end\": {\"dateTime\": \"2019-11-20T14:00:00.0000000\", "
        "\"timeZone\": \"Pacific Standard Time\"}");
    assert_int_equal(flatten_text(text, &c, &counts, &err), ST_OK);
    free(text);
    assert_int_equal(nrows(&c, TBL_EVENTS), 1);
    assert_int_equal(counts.rows[TBL_EVENTS], 1);
    assert_int_equal(counts.bad_values, 1);
    assert_cell_int(&c, TBL_EVENTS, 0, "start_utc", US(1574254800, 0));
    assert_cell_null(&c, TBL_EVENTS, 0, "end_utc");
    collected_free(&c);

    /* a zone-less dateTime with no timeZone at all is not known to be UTC either */
    collected_init(&c);
    err_clear(&err);
    memset(&counts, 0, sizeof counts);
    text =
        snapshot_with_event("\"id\": \"e2\", \"start\": {\"dateTime\": \"2019-11-20T13:00:00\"}");
    assert_int_equal(flatten_text(text, &c, &counts, &err), ST_OK);
    free(text);
    assert_int_equal(counts.bad_values, 1);
    assert_cell_null(&c, TBL_EVENTS, 0, "start_utc");
    collected_free(&c);

    /* but one that says Z, or an IANA UTC name, is fine */
    collected_init(&c);
    err_clear(&err);
    memset(&counts, 0, sizeof counts);
    text = snapshot_with_event(
        "\"id\": \"e3\", \"start\": {\"dateTime\": \"2019-11-20T13:00:00Z\"}, "
        "\"end\": {\"dateTime\": \"2019-11-20T14:00:00\", \"timeZone\": \"Etc/UTC\"}");
    assert_int_equal(flatten_text(text, &c, &counts, &err), ST_OK);
    free(text);
    assert_int_equal(counts.bad_values, 0);
    assert_cell_int(&c, TBL_EVENTS, 0, "start_utc", US(1574254800, 0));
    assert_cell_int(&c, TBL_EVENTS, 0, "end_utc", US(1574258400, 0));
    collected_free(&c);
}

/* The job asks Graph for UTC: a time with another offset is a bad value; +00:00 is UTC. */
static void test_tables__offset_not_utc_is_bad_value(void **state)
{
    (void)state;
    collected c;
    collected_init(&c);
    errinfo err = {0};
    table_counts counts = {{0}, 0, 0};
    char *text = snapshot_with_event(
        "\"id\": \"e1\", \"attendance\": [{\"id\": \"r1\", \"onlineMeetingId\": \"m\", "
        "\"meetingStartDateTime\": \"2021-10-05T04:38:23+00:00\", "
        "\"meetingEndDateTime\": \"2021-10-05T06:38:23+02:00\"}]");
    assert_int_equal(flatten_text(text, &c, &counts, &err), ST_OK);
    free(text);
    assert_int_equal(counts.bad_values, 1);
    assert_cell_int(&c, TBL_REPORTS, 0, "meeting_start_utc", US(1633408703, 0));
    assert_cell_null(&c, TBL_REPORTS, 0, "meeting_end_utc");
    collected_free(&c);
}

/* A time that does not parse, deep in the last record: that value is null, every row
 * is there, and the count says how many values were bad. */
static void test_tables__bad_time_is_null(void **state)
{
    (void)state;
    collected c;
    collected_init(&c);
    errinfo err = {0};
    table_counts counts = {{7, 7, 7, 7}, 7, 7};
    char *text = snapshot_with_event(
        "\"id\": \"e1\", \"attendance\": [{\"id\": \"r1\", \"onlineMeetingId\": \"m\", "
        "\"meetingEndDateTime\": \"\", "
        "\"attendanceRecords\": [{\"id\": \"a\"}, {\"id\": \"b\", \"attendanceIntervals\": "
        "[{\"joinDateTime\": \"2021-10-05T04:38:23Z\"}, {\"joinDateTime\": \"yesterday\"}]}]}]");
    assert_int_equal(flatten_text(text, &c, &counts, &err), ST_OK);
    free(text);
    assert_int_equal(nrows(&c, TBL_EVENTS), 1);
    assert_int_equal(nrows(&c, TBL_REPORTS), 1);
    assert_int_equal(nrows(&c, TBL_RECORDS), 2);
    assert_int_equal(nrows(&c, TBL_INTERVALS), 2);
    assert_int_equal(counts.rows[TBL_INTERVALS], 7 + 2);
    assert_int_equal(counts.bad_values, 7 + 2);
    assert_cell_null(&c, TBL_REPORTS, 0, "meeting_end_utc");
    assert_cell_int(&c, TBL_INTERVALS, 0, "join_utc", US(1633408703, 0));
    assert_cell_null(&c, TBL_INTERVALS, 1, "join_utc");
    /* the record's first join is taken over the intervals that have one */
    assert_cell_int(&c, TBL_RECORDS, 1, "first_join_utc", US(1633408703, 0));
    collected_free(&c);
}

static void test_tables__sink_error_changes_no_count(void **state)
{
    (void)state;
    collected c;
    collected_init(&c);
    c.fail_after = 3;
    errinfo err = {0};
    table_counts counts = {{0}, 0, 0};
    assert_int_equal(flatten_text(SAMPLE, &c, &counts, &err), ST_IO);
    assert_non_null(strstr(err.msg, "sink refused"));
    for (int t = 0; t < TBL_COUNT; t++)
        assert_int_equal(counts.rows[t], 0);
    collected_free(&c);
}

static void test_tables__items_without_keys_are_skipped(void **state)
{
    (void)state;
    collected c;
    collected_init(&c);
    errinfo err = {0};
    table_counts counts = {{0}, 0, 0};
    const char *text =
        "{\"user_upn\": \"u@x.com\", \"run_id\": \"R\", \"extracted_utc\": "
        "\"2026-11-28T17:34:00Z\","
        " \"events\": ["
        "  {\"subject\": \"no id\", \"onlineMeetingMeta\": {\"id\": \"m1\"},"
        "   \"attendance\": [{\"id\": \"r1\", \"attendanceRecords\": [{\"id\": \"a\"}]}]},"
        "  42,"
        "  {\"id\": \"e2\", \"attendance\": [{\"attendanceRecords\": [{\"id\": \"lost\"}]},"
        "                                   {\"id\": \"r-no-meeting\"}, null]}],"
        " \"unmatched_attendance\": [{\"id\": \"u1\"}, {\"id\": \"u2\", \"onlineMeetingId\": "
        "\"m2\","
        "   \"attendanceRecords\": [7, {\"attendanceIntervals\": [\"x\", {}]}]}]}";
    assert_int_equal(flatten_text(text, &c, &counts, &err), ST_OK);
    /* events: only e2; the id-less event's report keeps its rows with a null event_id */
    assert_int_equal(nrows(&c, TBL_EVENTS), 1);
    assert_cell_str(&c, TBL_EVENTS, 0, "event_id", "e2");
    assert_int_equal(nrows(&c, TBL_REPORTS), 2);
    assert_cell_str(&c, TBL_REPORTS, 0, "report_id", "r1");
    assert_cell_str(&c, TBL_REPORTS, 0, "event_id", NULL);
    assert_cell_str(&c, TBL_REPORTS, 0, "online_meeting_id", "m1");
    assert_cell_str(&c, TBL_REPORTS, 1, "report_id", "u2");
    assert_int_equal(nrows(&c, TBL_RECORDS), 2);
    assert_cell_str(&c, TBL_RECORDS, 0, "record_key", "a");
    /* position counts the skipped item before it */
    assert_cell_str(&c, TBL_RECORDS, 1, "record_key", "#1");
    assert_cell_int(&c, TBL_RECORDS, 1, "interval_count", 2);
    assert_int_equal(nrows(&c, TBL_INTERVALS), 1);
    assert_cell_int(&c, TBL_INTERVALS, 0, "interval_index", 1);
    /* skipped: event without id, 42, report without id, report without meeting id,
     * null report, u1 (no meeting id), record 7, interval "x" */
    assert_int_equal(counts.skipped, 8);
    assert_int_equal(counts.rows[TBL_EVENTS], 1);
    collected_free(&c);
}

static void test_tables__wrong_types_become_null(void **state)
{
    (void)state;
    collected c;
    collected_init(&c);
    errinfo err = {0};
    char *text = snapshot_with_event(
        "\"id\": \"e1\", \"subject\": 5, \"isAllDay\": \"no\", \"attendees\": {}, "
        "\"organizer\": \"me\", \"start\": {\"dateTime\": 3, \"timeZone\": \"UTC\"}, "
        "\"createdDateTime\": true, \"isOnlineMeeting\": 1, "
        "\"attendance\": [{\"id\": \"r\", \"onlineMeetingId\": \"m\", "
        "\"totalParticipantCount\": 3000000000, \"attendanceRecords\": [{\"identity\": [], "
        "\"emailAddress\": 1, \"totalAttendanceInSeconds\": 1.5, \"role\": {}, "
        "\"attendanceIntervals\": [{\"durationInSeconds\": \"4\", \"joinDateTime\": 0}]}]}]");
    assert_int_equal(flatten_text(text, &c, NULL, &err), ST_OK);
    free(text);
    assert_cell_null(&c, TBL_EVENTS, 0, "subject");
    assert_cell_null(&c, TBL_EVENTS, 0, "is_all_day");
    assert_cell_null(&c, TBL_EVENTS, 0, "attendee_count");
    assert_cell_null(&c, TBL_EVENTS, 0, "organizer_name");
    assert_cell_null(&c, TBL_EVENTS, 0, "start_utc");
    assert_cell_null(&c, TBL_EVENTS, 0, "created_utc");
    assert_cell_null(&c, TBL_EVENTS, 0, "is_online_meeting");
    assert_cell_str(&c, TBL_EVENTS, 0, "attendance_status", "not_online");
    assert_cell_null(&c, TBL_REPORTS, 0, "total_participant_count");
    assert_cell_str(&c, TBL_RECORDS, 0, "record_key", "#0");
    assert_cell_null(&c, TBL_RECORDS, 0, "email");
    assert_cell_null(&c, TBL_RECORDS, 0, "total_attendance_seconds");
    assert_cell_null(&c, TBL_RECORDS, 0, "role");
    assert_cell_null(&c, TBL_INTERVALS, 0, "duration_seconds");
    assert_cell_null(&c, TBL_INTERVALS, 0, "join_utc");
    assert_cell_null(&c, TBL_RECORDS, 0, "first_join_utc");
    collected_free(&c);

    /* an integral real is a count: 1152.0 */
    collected_init(&c);
    text = snapshot_with_event("\"id\": \"e1\", \"attendance\": [{\"id\": \"r\", "
                               "\"onlineMeetingId\": \"m\", \"totalParticipantCount\": 4.0}]");
    assert_int_equal(flatten_text(text, &c, NULL, &err), ST_OK);
    free(text);
    assert_cell_int(&c, TBL_REPORTS, 0, "total_participant_count", 4);
    collected_free(&c);
}

static void test_tables__bad_shapes_are_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *in_msg;
    } cases[] = {
        {"[]", "not a JSON object"},
        {"{\"run_id\": \"R\", \"extracted_utc\": \"2026-11-28T17:34:00Z\"}", "user_upn"},
        {"{\"user_upn\": \"u\", \"extracted_utc\": \"2026-11-28T17:34:00Z\"}", "run_id"},
        {"{\"user_upn\": \"u\", \"run_id\": \"R\", \"extracted_utc\": \"now\"}", "extracted_utc"},
        {"{\"user_upn\": \"u\", \"run_id\": \"R\", \"extracted_utc\": \"2026-11-28T17:34:00Z\","
         " \"events\": {}}",
         "events is a JSON object"},
        {"{\"user_upn\": \"u\", \"run_id\": \"R\", \"extracted_utc\": \"2026-11-28T17:34:00Z\","
         " \"events\": [{\"id\": \"e\", \"attendance\": \"none\"}]}",
         "events[0] (event 'e').attendance is a JSON string"},
        {"{\"user_upn\": \"u\", \"run_id\": \"R\", \"extracted_utc\": \"2026-11-28T17:34:00Z\","
         " \"unmatched_attendance\": [{\"id\": \"r\", \"onlineMeetingId\": \"m\","
         " \"attendanceRecords\": [{\"attendanceIntervals\": 3}]}]}",
         "unmatched_attendance[0] (report 'r').attendanceRecords[0].attendanceIntervals is a JSON "
         "number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        collected c;
        collected_init(&c);
        errinfo err = {0};
        status st = flatten_text(cases[i].text, &c, NULL, &err);
        if (st == ST_OK)
            fail_msg("case %zu should fail", i);
        if (!strstr(err.msg, cases[i].in_msg))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].in_msg);
        assert_int_equal(nrows(&c, TBL_EVENTS) + nrows(&c, TBL_REPORTS), 0);
        collected_free(&c);
    }
}

/* A snapshot small enough is tokenized whole; read a piece at a time (TABLES_STREAM)
 * it must give the same rows, counts and message, whatever the order of its keys,
 * repeated keys and items that are not arrays included. */
static void test_tables__whole_and_stream_agree(void **state)
{
    (void)state;
#define HEAD "\"user_upn\": \"U@x\", \"run_id\": \"R\", \"extracted_utc\": \"2026-11-28T17:34:00Z\""
#define REC                                                                                        \
    "{\"emailAddress\": \"a@x\", \"identity\": {\"id\": \"i\"}, \"attendanceIntervals\": "         \
    "[{\"joinDateTime\": \"2026-11-28T10:00:00Z\", \"leaveDateTime\": \"2026-11-28T10:05:00Z\"}]}"
    static const char *const cases[] = {
        "{" HEAD ", \"events\": [{\"id\": \"e\", \"onlineMeetingMeta\": {\"id\": \"m\"},"
        " \"attendance\": [{\"id\": \"r\", \"attendanceRecords\": [" REC "]}]}]}",
        "{\"events\": [{\"attendance\": [{\"attendanceRecords\": [" REC "], \"id\": \"r\"}],"
        " \"id\": \"e\", \"onlineMeetingMeta\": {\"id\": \"m\"}}], " HEAD "}",
        "{\"user_upn\": \"U@x\", \"unmatched_attendance\": [{\"id\": \"r\", \"eventId\": \"e\","
        " \"onlineMeetingId\": \"m\", \"attendanceRecords\": [" REC "]}], \"run_id\": \"R\","
        " \"extracted_utc\": \"2026-11-28T17:34:00Z\", \"events\": [{\"id\": \"e\"}]}",
        "{" HEAD ", \"unmatched_attendance\": [{\"id\": \"r\", \"onlineMeetingId\": \"m\","
        " \"attendanceRecords\": [" REC "]}], \"events\": [{\"id\": \"e\", \"attendance\": []}]}",
        "{" HEAD ", \"events\": [{\"id\": \"e\", \"onlineMeetingMeta\": {\"id\": \"m\"},"
        " \"attendance\": [{\"id\": \"r\", \"attendanceRecords\": [" REC "], \"id\": \"s\"}]}]}",
        "{" HEAD ", \"events\": [{\"id\": \"e\", \"onlineMeetingMeta\": {\"id\": \"m\"},"
        " \"attendance\": [], \"attendance\": []}]}",
        "{" HEAD ", \"events\": [{\"attendance\": [], \"id\": \"e\", \"attendance\": null}]}",
        "{\"events\": [], " HEAD ", \"events\": [{\"id\": \"e\"}]}",
        "{" HEAD ", \"events\": [], \"run_id\": \"S\"}",
        "{" HEAD ", \"events\": [{\"id\": \"e\", \"attendance\": [3, {\"id\": \"r\","
        " \"attendanceRecords\": null}, {\"id\": \"q\", \"onlineMeetingId\": \"m\","
        " \"attendanceRecords\": {}}]}, 7]}",
        "{\"events\": \"none\", " HEAD "}",
        "{\"events\": [{\"id\": \"e\"}], \"user_upn\": 1, \"run_id\": \"R\","
        " \"extracted_utc\": \"2026-11-28T17:34:00Z\"}",
        "{" HEAD ", \"\\u0065vents\": [{\"\\u0069d\": \"e\"}]}",
        "{" HEAD ", \"events\": [{\"id\": \"e\"}]} x",
    };
#undef REC
#undef HEAD
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        collected c[2];
        table_counts n[2];
        errinfo e[2] = {{0}, {0}};
        status st[2];
        for (int k = 0; k < 2; k++) {
            collected_init(&c[k]);
            memset(&n[k], 0, sizeof n[k]);
            st[k] = tables_flatten_text(cases[i], strlen(cases[i]), k ? TABLES_STREAM : 0, NULL,
                                        collect_row, &c[k], &n[k], &e[k]);
        }
        if (st[0] != st[1] || strcmp(e[0].msg, e[1].msg) != 0)
            fail_msg("case %zu: '%s' (%d) whole, '%s' (%d) a piece at a time", i, e[0].msg, st[0],
                     e[1].msg, st[1]);
        assert_memory_equal(&n[0], &n[1], sizeof n[0]);
        for (int t = 0; t < TBL_COUNT; t++)
            if (!json_equal(c[0].rows[t], c[1].rows[t]))
                fail_msg("case %zu: table %d differs", i, t);
        collected_free(&c[0]);
        collected_free(&c[1]);
    }
}

static void test_tables__empty_snapshot(void **state)
{
    (void)state;
    collected c;
    collected_init(&c);
    errinfo err = {0};
    table_counts counts = {{0}, 0, 0};
    assert_int_equal(flatten_text("{\"user_upn\": \"u\", \"run_id\": \"R\", \"extracted_utc\": "
                                  "\"2026-11-28T17:34:00Z\", \"events\": [], "
                                  "\"unmatched_attendance\": []}",
                                  &c, &counts, &err),
                     ST_OK);
    for (int t = 0; t < TBL_COUNT; t++)
        assert_int_equal(counts.rows[t], 0);
    /* counting without a sink adds up */
    json_t *snap = parse(SAMPLE);
    assert_int_equal(tables_flatten_rows(snap, NULL, NULL, &counts, &err), ST_OK);
    assert_int_equal(tables_flatten_rows(snap, NULL, NULL, &counts, &err), ST_OK);
    json_decref(snap);
    assert_int_equal(counts.rows[TBL_RECORDS], 8);
    assert_int_equal(counts.rows[TBL_INTERVALS], 8);
    collected_free(&c);
}

static char *capture(void (*print)(FILE *))
{
    FILE *f = tmpfile();
    assert_non_null(f);
    print(f);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* Every table's columns appear in file order inside its CREATE EXTERNAL TABLE. */
static void assert_columns_in_order(const char *sql, const char *create, const table_def *d,
                                    const char *const *types)
{
    const char *p = strstr(sql, create);
    if (!p)
        fail_msg("missing '%s'", create);
    const char *end = strstr(p, ") WITH (");
    assert_non_null(end);
    for (size_t i = 0; i < d->ncols; i++) {
        char want[160];
        snprintf(want, sizeof want, "\n    %s %s", d->cols[i].name, types[d->cols[i].type]);
        const char *q = strstr(p, want);
        if (!q || q > end)
            fail_msg("%s: column %zu '%s' not next in order", create, i, want);
        p = q + strlen(want);
    }
}

static void test_tables__schema_sql(void **state)
{
    (void)state;
    char *sql = capture(tables_print_sql);
    static const char *const serverless[] = {[PQ_BOOLEAN] = "BIT",
                                             [PQ_INT32] = "INT",
                                             [PQ_INT64] = "BIGINT",
                                             [PQ_STRING] = "VARCHAR(",
                                             [PQ_TIMESTAMP] = "DATETIME2(6)"};
    static const char *const dedicated[] = {[PQ_BOOLEAN] = "BIT",
                                            [PQ_INT32] = "INT",
                                            [PQ_INT64] = "BIGINT",
                                            [PQ_STRING] = "NVARCHAR(",
                                            [PQ_TIMESTAMP] = "DATETIME2(6)"};
    const char *dedicated_part = strstr(sql, "2. Dedicated SQL pool");
    assert_non_null(dedicated_part);
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *d = tables_def((table_id)t);
        char create[128], loc[160], view[128], part[256];
        snprintf(create, sizeof create, "CREATE EXTERNAL TABLE dbo.%s (", d->name);
        assert_columns_in_order(sql, create, d, serverless);
        assert_columns_in_order(dedicated_part, create, d, dedicated);
        snprintf(loc, sizeof loc, "LOCATION = 'parquet/%s/**'", d->name);
        assert_non_null(strstr(sql, loc));
        assert_true(strstr(sql, loc) < dedicated_part);
        snprintf(loc, sizeof loc, "LOCATION = '/parquet/%s/'", d->name);
        assert_true(strstr(sql, loc) > dedicated_part);
        snprintf(view, sizeof view, "CREATE VIEW dbo.%s_latest AS", d->name);
        assert_non_null(strstr(sql, view));
        assert_non_null(strstr(dedicated_part, view));
        size_t k = (size_t)snprintf(part, sizeof part, "PARTITION BY ");
        for (size_t i = 0; i < d->nkey; i++)
            k += (size_t)snprintf(part + k, sizeof part - k, "%s%s", i ? ", " : "", d->key[i]);
        snprintf(part + k, sizeof part - k,
                 "\n                                 ORDER BY extracted_utc DESC, run_id DESC)");
        assert_non_null(strstr(strstr(sql, view), part));
    }
    assert_non_null(strstr(sql, "COLLATE Latin1_General_100_BIN2_UTF8"));
    assert_non_null(strstr(sql, "TYPE = HADOOP"));
    assert_true(strstr(sql, "TYPE = HADOOP") > dedicated_part);
    assert_non_null(strstr(sql, "ATTENDANCE_PARQUET_TIMESTAMPS=int96"));
    assert_non_null(strstr(sql, "org.apache.hadoop.io.compress.SnappyCodec"));
    assert_null(strstr(sql, "NOT NULL"));
    free(sql);

    char *text = capture(tables_print_schema);
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *d = tables_def((table_id)t);
        const char *p = strstr(text, d->name);
        assert_non_null(p);
        for (size_t i = 0; i < d->ncols; i++) {
            char line[128];
            snprintf(line, sizeof line, "%2zu  %-26s ", i + 1, d->cols[i].name);
            const char *q = strstr(p, line);
            if (!q)
                fail_msg("schema: %s column %s missing or out of order", d->name, d->cols[i].name);
            const char *eol = strchr(q, '\n');
            const char *nn = strstr(q, "never null");
            assert_int_equal(nn != NULL && nn < eol, d->cols[i].required);
            p = q;
        }
    }
    assert_non_null(strstr(text, "INT64 TIMESTAMP(MICROS, UTC)"));
    free(text);
}

/* ---- convert ---- */

static char *write_temp(const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Lists the files under dir/parquet (recursively) into out, "table/partition/name". */
static size_t list_outputs(const char *dir, char names[][256], size_t max)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && find parquet -type f 2>/dev/null | sort", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = 0;
    while (n < max && fgets(names[n], 256, p)) {
        names[n][strcspn(names[n], "\n")] = '\0';
        n++;
    }
    pclose(p);
    return n;
}

/* tables_flatten_fd_all: the rows tables_flatten_fd gives for a good snapshot, the
 * same again with the scratch reused (its tokens walked twice, then another text),
 * and none at all for one whose fault comes after rows were made, whole or a piece at
 * a time. A lock given is held while the rows go out, and free again after. */
static void test_tables__all_or_nothing(void **state)
{
    (void)state;
#define HEAD "\"user_upn\": \"U@x\", \"run_id\": \"R\", \"extracted_utc\": \"2026-11-28T17:34:00Z\""
#define EV                                                                                         \
    "{\"id\": \"e\", \"onlineMeetingMeta\": {\"id\": \"m\"}, \"attendance\": [{\"id\": \"r\", "    \
    "\"attendanceRecords\": [{\"emailAddress\": \"a@x\", \"attendanceIntervals\": "                \
    "[{\"joinDateTime\": \"2026-11-28T10:00:00Z\", \"leaveDateTime\": "                            \
    "\"2026-11-28T10:05:00Z\"}]}]}]}"
    const char *good = "{" HEAD ", \"events\": [" EV ", " EV "]}";
    const char *bad = "{" HEAD ", \"events\": [" EV ", {\"id\": \"f\", \"attendance\": \"none\"}]}";
#undef EV
#undef HEAD
    char dir[] = "/tmp/ta-tables-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *gp = write_temp(dir, "good.json", good), *bp = write_temp(dir, "bad.json", bad);
    tables_scratch *sc = tables_scratch_new();
    assert_non_null(sc);
    collected want;
    collected_init(&want);
    table_counts wn = {{0}, 0, 0};
    errinfo e = {0};
    int fd = open(gp, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(tables_flatten_fd(fd, 0, NULL, collect_row, &want, &wn, &e), ST_OK);
    assert_int_equal(nrows(&want, TBL_RECORDS), 2);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    for (int round = 0; round < 2; round++) {
        collected got;
        collected_init(&got);
        got.lock = round ? &lock : NULL;
        table_counts n = {{0}, 0, 0};
        assert_int_equal(tables_flatten_fd_all(fd, sc, collect_row, &got, got.lock, &n, &e), ST_OK);
        assert_int_equal(got.unlocked, 0);
        assert_int_equal(pthread_mutex_trylock(&lock), 0);
        pthread_mutex_unlock(&lock);
        assert_memory_equal(&n, &wn, sizeof n);
        for (int t = 0; t < TBL_COUNT; t++)
            assert_true(json_equal(got.rows[t], want.rows[t]));
        collected_free(&got);
    }
    close(fd);
    fd = open(bp, O_RDONLY);
    assert_true(fd >= 0);
    for (int k = 0; k < 2; k++) {
        collected got;
        collected_init(&got);
        table_counts n = {{0}, 0, 0};
        errinfo be = {0};
        /* with the caller's scratch and with none */
        assert_int_equal(
            tables_flatten_fd_all(fd, k ? NULL : sc, collect_row, &got, &lock, &n, &be), ST_JSON);
        assert_int_equal(pthread_mutex_trylock(&lock), 0);
        pthread_mutex_unlock(&lock);
        assert_non_null(strstr(be.msg, "attendance is a JSON string"));
        for (int t = 0; t < TBL_COUNT; t++)
            assert_int_equal(nrows(&got, (table_id)t), 0);
        assert_int_equal(n.rows[TBL_RECORDS], 0);
        collected_free(&got);
    }
    close(fd);
    tables_scratch_free(sc);
    collected_free(&want);
    unlink(gp);
    unlink(bp);
    rmdir(dir);
    free(gp);
    free(bp);
}

static void test_tables__convert(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_tables_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *in1 = write_temp(dir, "a.json", SAMPLE);
    /* an item left out logs a warning while convert runs: logging must work then */
    char *in2 = write_temp(dir, "b.json",
                           "{\"user_upn\": \"b@x.com\", \"run_id\": \"R2\", \"extracted_utc\": "
                           "\"2026-11-28T18:00:00Z\", \"events\": [{\"id\": \"e\"}, {}]}");
    char *inputs[] = {in1, in2};
    config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cmd = CMD_CONVERT;
    cfg.inputs = inputs;
    cfg.ninputs = 2;
    cfg.output_dir = dir;
    cfg.prefix = "";
    cfg.codec = PQ_CODEC_SNAPPY;
    errinfo err = {0};
    log_setup(LOG_FORMAT_JSON, LOG_DEBUG);
    assert_int_equal(convert_run(&cfg, &err), ST_OK);
    char again[600];
    snprintf(again, sizeof again, "%s/again", dir);
    cfg.output_dir = again; /* a second convert in the same process */
    assert_int_equal(convert_run(&cfg, &err), ST_OK);
    cfg.output_dir = dir;
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);

    char names[16][256];
    size_t n = list_outputs(dir, names, 16);
    assert_int_equal(n, 4);
    /* parquet/{table}/ingest_date=YYYY-MM-DD/YYYYMMDDTHHMMSSZ-xxxxxx.parquet, one run id */
    static const char *const order[] = {"attendance_intervals", "attendance_records",
                                        "attendance_reports", "events"};
    char run_id[64] = "";
    for (size_t i = 0; i < n; i++) {
        char table[64], date[16], rid[64];
        int used = 0;
        if (sscanf(names[i], "parquet/%63[a-z_]/ingest_date=%10[0-9-]/%63[^.].parquet%n", table,
                   date, rid, &used) != 3 ||
            (size_t)used != strlen(names[i]))
            fail_msg("unexpected output %s", names[i]);
        assert_string_equal(table, order[i]);
        assert_int_equal(strlen(date), 10);
        assert_int_equal(strlen(rid), 23);
        assert_int_equal(rid[15], 'Z');
        assert_int_equal(rid[16], '-');
        assert_int_equal(strspn(rid + 17, "0123456789abcdef"), 6);
        assert_int_equal(strncmp(rid, date, 4), 0);
        if (i == 0)
            snprintf(run_id, sizeof run_id, "%s", rid);
        assert_string_equal(rid, run_id);
        /* a Parquet file: PAR1 at both ends */
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char head[4], tail[4];
        assert_int_equal(fread(head, 1, 4, f), 4);
        fseek(f, -4, SEEK_END);
        assert_int_equal(fread(tail, 1, 4, f), 4);
        fclose(f);
        assert_memory_equal(head, "PAR1", 4);
        assert_memory_equal(tail, "PAR1", 4);
    }

    /* a bad input among good ones: error names it, nothing is written */
    char out2[600];
    snprintf(out2, sizeof out2, "%s/out2", dir);
    char *bad = write_temp(dir, "bad.json", "{\"user_upn\": ");
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.json", dir);
    char *inputs2[] = {in1, bad, missing};
    cfg.inputs = inputs2;
    cfg.ninputs = 3;
    cfg.output_dir = out2;
    err_clear(&err);
    status st = convert_run(&cfg, &err);
    assert_true(st == ST_JSON);
    assert_non_null(strstr(err.msg, "bad.json"));
    assert_non_null(strstr(err.msg, "1 more"));
    n = list_outputs(out2, names, 16);
    assert_int_equal(n, 0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -type f)\"", out2);
    assert_int_equal(system(cmd), 0); /* no temporary file left either */

    /* a snapshot of the wrong shape is named too (a time in another zone is not such:
     * it becomes null, see zone_not_utc_is_bad_value) */
    char *tz = write_temp(dir, "shape.json",
                          "{\"user_upn\": \"u\", \"run_id\": \"R\", \"extracted_utc\": "
                          "\"2026-11-28T17:34:00Z\", \"events\": [{\"id\": \"E9\", "
                          "\"attendance\": \"none\"}]}");
    char *inputs3[] = {tz};
    cfg.inputs = inputs3;
    cfg.ninputs = 1;
    err_clear(&err);
    assert_int_equal(convert_run(&cfg, &err), ST_JSON);
    assert_non_null(strstr(err.msg, "shape.json"));
    assert_non_null(strstr(err.msg, "E9"));
    assert_non_null(strstr(err.msg, "attendance"));

    /* usage */
    cfg.ninputs = 0;
    err_clear(&err);
    assert_int_equal(convert_run(&cfg, &err), ST_USAGE);
    cfg.ninputs = 1;
    cfg.output_dir = NULL;
    err_clear(&err);
    assert_int_equal(convert_run(&cfg, &err), ST_USAGE);

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(in1);
    free(in2);
    free(bad);
    free(tz);
}

/* A tree the job holds can be deeper than a parsed text may be (Graph's objects sit
 * a few levels down in a snapshot): it flattens all the same. */
static void test_tables__deep_tree_flattens(void **state)
{
    (void)state;
    json_t *deep = json_array();
    for (int i = 0; i < 3000; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, deep);
        deep = outer;
    }
    json_t *snap = json_pack("{s:s,s:s,s:s,s:[{s:s,s:o}],s:[]}", "user_upn", "Deep@Contoso.com",
                             "run_id", "R1", "extracted_utc", "2021-10-05T06:00:00Z", "events",
                             "id", "AAMk-deep", "extensions", deep, "unmatched_attendance");
    assert_non_null(snap);
    collected c;
    collected_init(&c);
    table_counts counts = {{0}, 0, 0};
    errinfo err = {0};
    assert_int_equal(tables_flatten_rows(snap, collect_row, &c, &counts, &err), ST_OK);
    assert_int_equal(nrows(&c, TBL_EVENTS), 1);
    assert_string_equal(json_string_value(cell(&c, TBL_EVENTS, 0, "event_id")), "AAMk-deep");
    assert_string_equal(json_string_value(cell(&c, TBL_EVENTS, 0, "user_upn")), "deep@contoso.com");
    collected_free(&c);
    json_decref(snap);
}

/* The job keeps \u0000 from Graph's pages, so a snapshot can hold it in a value:
 * convert takes it as the job does (a key with it is still refused). */
static void test_tables__convert_nul_in_value(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_tables_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *in = write_temp(dir, "nul.json",
                          "{\"user_upn\": \"n@x.com\", \"run_id\": \"R3\", \"extracted_utc\": "
                          "\"2026-11-28T18:00:00Z\", \"events\": [{\"id\": \"e-nul\", "
                          "\"subject\": \"Q\\u0000Z-subject\"}]}");
    char *inputs[] = {in};
    config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cmd = CMD_CONVERT;
    cfg.inputs = inputs;
    cfg.ninputs = 1;
    cfg.output_dir = dir;
    cfg.prefix = "";
    cfg.codec = PQ_CODEC_NONE; /* the value's bytes appear as they are */
    errinfo err = {0};
    assert_int_equal(convert_run(&cfg, &err), ST_OK);
    char names[16][256];
    assert_int_equal(list_outputs(dir, names, 16), 4);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, names[3]); /* events */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char data[65536];
    size_t got = fread(data, 1, sizeof data, f);
    fclose(f);
    int found = 0;
    for (size_t i = 0; i + 11 <= got && !found; i++)
        found = memcmp(data + i, "Q\0Z-subject", 11) == 0;
    assert_true(found);

    char *bad = write_temp(dir, "nulkey.json",
                           "{\"user_upn\": \"n@x.com\", \"run_id\": \"R3\", \"extracted_utc\": "
                           "\"2026-11-28T18:00:00Z\", \"events\": [{\"id\\u0000\": \"e\"}]}");
    inputs[0] = bad;
    snprintf(path, sizeof path, "%s/refused", dir);
    cfg.output_dir = path;
    memset(&err, 0, sizeof err);
    assert_int_equal(convert_run(&cfg, &err), ST_JSON);
    assert_non_null(strstr(err.msg, "nulkey.json"));

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(in);
    free(bad);
}

int main(void)
{
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables__declarations),
        cmocka_unit_test(test_tables__column_enums),
        cmocka_unit_test(test_tables__join_link_elsewhere),
        cmocka_unit_test(test_tables__parse_time),
        cmocka_unit_test(test_tables__flatten_sample),
        cmocka_unit_test(test_tables__attendance_status),
        cmocka_unit_test(test_tables__zone_not_utc_is_bad_value),
        cmocka_unit_test(test_tables__bad_time_is_null),
        cmocka_unit_test(test_tables__offset_not_utc_is_bad_value),
        cmocka_unit_test(test_tables__sink_error_changes_no_count),
        cmocka_unit_test(test_tables__items_without_keys_are_skipped),
        cmocka_unit_test(test_tables__wrong_types_become_null),
        cmocka_unit_test(test_tables__bad_shapes_are_errors),
        cmocka_unit_test(test_tables__all_or_nothing),
        cmocka_unit_test(test_tables__empty_snapshot),
        cmocka_unit_test(test_tables__whole_and_stream_agree),
        cmocka_unit_test(test_tables__schema_sql),
        cmocka_unit_test(test_tables__convert),
        cmocka_unit_test(test_tables__deep_tree_flattens),
        cmocka_unit_test(test_tables__convert_nul_in_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
