/* The four output tables (docs/format.md) declared once as data, the flattener from
 * a final snapshot to their rows, and the `schema` / `schema --sql` printers.
 * See tables.h. */
#include "tables/tables.h"

#include "util/joinurl.h"
#include "log.h"
#include "util/jsonscan.h"
#include "util/jsontok.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <strings.h>
#include <string.h>

#define S PQ_STRING
#define T PQ_TIMESTAMP
#define I32 PQ_INT32
#define I64 PQ_INT64
#define B PQ_BOOLEAN

static const pq_column events_cols[] = {
    [EV_EVENT_ID] = {"event_id", S, 1},
    [EV_USER_UPN] = {"user_upn", S, 1},
    [EV_ICAL_UID] = {"ical_uid", S, 0},
    [EV_SERIES_MASTER_ID] = {"series_master_id", S, 0},
    [EV_EVENT_TYPE] = {"event_type", S, 0},
    [EV_SUBJECT] = {"subject", S, 0},
    [EV_ORGANIZER_NAME] = {"organizer_name", S, 0},
    [EV_ORGANIZER_EMAIL] = {"organizer_email", S, 0},
    [EV_START_UTC] = {"start_utc", T, 0},
    [EV_END_UTC] = {"end_utc", T, 0},
    [EV_IS_ALL_DAY] = {"is_all_day", B, 0},
    [EV_IS_CANCELLED] = {"is_cancelled", B, 0},
    [EV_IS_ONLINE_MEETING] = {"is_online_meeting", B, 0},
    [EV_ONLINE_MEETING_PROVIDER] = {"online_meeting_provider", S, 0},
    [EV_JOIN_URL] = {"join_url", S, 0},
    [EV_ONLINE_MEETING_ID] = {"online_meeting_id", S, 0},
    [EV_ATTENDEE_COUNT] = {"attendee_count", I32, 0},
    [EV_CREATED_UTC] = {"created_utc", T, 0},
    [EV_LAST_MODIFIED_UTC] = {"last_modified_utc", T, 0},
    [EV_ATTENDANCE_STATUS] = {"attendance_status", S, 1},
    [EV_RUN_ID] = {"run_id", S, 1},
    [EV_EXTRACTED_UTC] = {"extracted_utc", T, 1},
};

static const pq_column reports_cols[] = {
    [REP_REPORT_ID] = {"report_id", S, 1},
    [REP_ONLINE_MEETING_ID] = {"online_meeting_id", S, 1},
    [REP_EVENT_ID] = {"event_id", S, 0},
    [REP_USER_UPN] = {"user_upn", S, 1},
    [REP_TOTAL_PARTICIPANT_COUNT] = {"total_participant_count", I32, 0},
    [REP_MEETING_START_UTC] = {"meeting_start_utc", T, 0},
    [REP_MEETING_END_UTC] = {"meeting_end_utc", T, 0},
    [REP_RUN_ID] = {"run_id", S, 1},
    [REP_EXTRACTED_UTC] = {"extracted_utc", T, 1},
};

static const pq_column records_cols[] = {
    [REC_RECORD_KEY] = {"record_key", S, 1},
    [REC_RECORD_ID] = {"record_id", S, 0},
    [REC_REPORT_ID] = {"report_id", S, 1},
    [REC_ONLINE_MEETING_ID] = {"online_meeting_id", S, 1},
    [REC_USER_UPN] = {"user_upn", S, 1},
    [REC_EMAIL] = {"email", S, 0},
    [REC_DISPLAY_NAME] = {"display_name", S, 0},
    [REC_IDENTITY_ID] = {"identity_id", S, 0},
    [REC_IDENTITY_TENANT_ID] = {"identity_tenant_id", S, 0},
    [REC_ROLE] = {"role", S, 0},
    [REC_TOTAL_ATTENDANCE_SECONDS] = {"total_attendance_seconds", I64, 0},
    [REC_FIRST_JOIN_UTC] = {"first_join_utc", T, 0},
    [REC_LAST_LEAVE_UTC] = {"last_leave_utc", T, 0},
    [REC_INTERVAL_COUNT] = {"interval_count", I32, 1},
    [REC_RUN_ID] = {"run_id", S, 1},
    [REC_EXTRACTED_UTC] = {"extracted_utc", T, 1},
};

static const pq_column intervals_cols[] = {
    [IV_REPORT_ID] = {"report_id", S, 1},
    [IV_RECORD_KEY] = {"record_key", S, 1},
    [IV_IDENTITY_ID] = {"identity_id", S, 0},
    [IV_EMAIL] = {"email", S, 0},
    [IV_INTERVAL_INDEX] = {"interval_index", I32, 1},
    [IV_JOIN_UTC] = {"join_utc", T, 0},
    [IV_LEAVE_UTC] = {"leave_utc", T, 0},
    [IV_DURATION_SECONDS] = {"duration_seconds", I64, 0},
    [IV_RUN_ID] = {"run_id", S, 1},
    [IV_EXTRACTED_UTC] = {"extracted_utc", T, 1},
};

#undef S
#undef T
#undef I32
#undef I64
#undef B

static const char *const events_key[] = {"event_id", "user_upn"};
static const char *const reports_key[] = {"report_id"};
static const char *const records_key[] = {"report_id", "record_key"};
static const char *const intervals_key[] = {"report_id", "record_key", "interval_index"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Each array is as long as its highest designated index: a column missing from the
 * end of a declaration, or one too many, stops the build. One missing in the middle
 * leaves a NULL name, which tables_def's unit test catches. */
_Static_assert(COUNT(events_cols) == EV_NCOLS, "events: enum and declaration differ");
_Static_assert(COUNT(reports_cols) == REP_NCOLS, "reports: enum and declaration differ");
_Static_assert(COUNT(records_cols) == REC_NCOLS, "records: enum and declaration differ");
_Static_assert(COUNT(intervals_cols) == IV_NCOLS, "intervals: enum and declaration differ");

static const table_def defs[TBL_COUNT] = {
    {"events", events_cols, COUNT(events_cols), events_key, COUNT(events_key)},
    {"attendance_reports", reports_cols, COUNT(reports_cols), reports_key, COUNT(reports_key)},
    {"attendance_records", records_cols, COUNT(records_cols), records_key, COUNT(records_key)},
    {"attendance_intervals", intervals_cols, COUNT(intervals_cols), intervals_key,
     COUNT(intervals_key)},
};

const char *const tables_parquet_kv[2] = {"format_version", "1"};

const table_def *tables_def(table_id id)
{
    if ((int)id < 0 || id >= TBL_COUNT)
        return NULL;
    return &defs[id];
}

/* ---- times ---- */

/* Graph's forms are a subset of what util/timeutil reads; a bare date is not a time. */
int tables_parse_time(const char *s, size_t len, int64_t *out_us, int *has_zone)
{
    timeutil_parsed info;
    int64_t us;
    if (timeutil_parse_ex(s, len, &us, &info) != 0 || !info.has_time)
        return -1;
    *out_us = us;
    if (has_zone)
        *has_zone = info.has_zone;
    return 0;
}

/* ---- the flattener ----
 *
 * The walk reads a snapshot a piece at a time (util/jsonscan), so that a snapshot of
 * any size costs the same memory: the snapshot's own fields, one event, one report
 * and one attendance record are each copied out and tokenized by util/jsontok (a
 * "unit"); the arrays between them (events, attendance, attendanceRecords,
 * unmatched_attendance) are walked in place. Within a unit a value is a token index
 * (JSONTOK_NONE: missing), and the column rules read units exactly as they would
 * read the whole snapshot.
 *
 * An object's items are read where they stand when the fields they need (an event's
 * id and onlineMeetingMeta for its reports, a report's id for its records, the
 * snapshot's user_upn, run_id and extracted_utc for everything) came before them,
 * which is how the job writes snapshots; otherwise the object is read to its end
 * first and its items after, going back to them. A key that comes again after the
 * items it applies to (a repeated key) is an error, since those items were read
 * with its first value.
 *
 * Rows go out as they are made. A caller that must add all of a snapshot's rows or
 * none (the run, per mailbox) walks it twice: once with no row function and
 * TABLES_SILENT, then for real. Strings are borrowed from the units (NUL-terminated
 * there) and valid during the row call only. */

#define WHERE_MAX 400
#define BAD_WARNED 20
#define ID_SHOWN 120
#define NONE JSONTOK_NONE
/* the largest unit: one event (with its body), one report, one record, the
 * snapshot's own fields */
#define UNIT_MAX ((size_t)32 << 20)
#define NO_HOLE UINT64_MAX

typedef uint32_t jv; /* a value: its token index, or NONE */

/* One piece of the snapshot, tokenized. An object read member by member keeps the
 * members copied so far in raw; text is what was tokenized (jsontok changes it). */
typedef struct unit {
    buf raw;
    buf text;
    jsontok_doc doc;
    size_t members;
    int parsed; /* doc holds raw as it stands */
} unit;

enum { U_HEAD, U_EVENT, U_REPORT, U_RECORD, U_COUNT };

typedef struct walk {
    jsonscan *s;
    const jsontok_doc *doc; /* the unit being read */
    unit u[U_COUNT];
    /* a snapshot tokenized whole (whole_walk): every unit is this doc */
    const jsontok_doc *whole;
    jsontok *wtok;  /* its tokens, for whole_object to narrow an object for a while */
    jv at[U_COUNT]; /* each unit's object: 1 in a unit of its own */
    unsigned flags;
    int quiet; /* reading fields early, before their object's end: noted at the end */
    tables_row_fn row;
    void *ctx;
    errinfo *err;

    char *upn;
    size_t upn_len;
    char *run_id;
    size_t run_id_len;
    int64_t extracted;
    int head_ok;

    table_counts add;  /* added to the caller's counts on success */
    size_t bad_values; /* values of the wrong shape, written as null */

    buf link; /* a join link read from outside onlineMeeting (joinUrlSource) */

    /* where the walk is, for messages */
    const char *section; /* "events" or "unmatched_attendance" */
    long ev, rep, rec, iv;
    const char *ev_id, *rep_id;
} walk;

static int jtype(const walk *w, jv j)
{
    return j == NONE ? 0 : w->doc->tok[j].type;
}

static int is_object(const walk *w, jv j)
{
    return jtype(w, j) == JSONTOK_OBJECT;
}

static int is_array(const walk *w, jv j)
{
    return jtype(w, j) == JSONTOK_ARRAY;
}

static int is_string(const walk *w, jv j)
{
    return jtype(w, j) == JSONTOK_STRING;
}

static const char *str_of(const walk *w, jv j)
{
    return is_string(w, j) ? jsontok_str(w->doc, j) : NULL;
}

static size_t len_of(const walk *w, jv j)
{
    return w->doc->tok[j].len;
}

/* Elements of an array (0 for anything else). */
static size_t array_size(const walk *w, jv j)
{
    return is_array(w, j) ? w->doc->tok[j].len : 0;
}

/* Steps through an array's elements: first jsontok_first(arr), then next_of. */
static jv next_of(const walk *w, jv j)
{
    return w->doc->tok[j].end;
}

static void where(const walk *w, char *out, size_t n)
{
    size_t k = 0;
    int r;
    out[0] = '\0';
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (k < n) {                                                                               \
            r = snprintf(out + k, n - k, __VA_ARGS__);                                             \
            if (r > 0)                                                                             \
                k += (size_t)r;                                                                    \
        }                                                                                          \
    } while (0)
    if (w->ev >= 0) {
        ADD("%s[%ld]", w->section, w->ev);
        if (w->ev_id)
            ADD(" (event '%.*s')", ID_SHOWN, w->ev_id);
    }
    if (w->rep >= 0) {
        ADD("%s[%ld]", w->ev >= 0 ? ".attendance" : w->section, w->rep);
        if (w->rep_id)
            ADD(" (report '%.*s')", ID_SHOWN, w->rep_id);
    }
    if (w->rec >= 0)
        ADD(".attendanceRecords[%ld]", w->rec);
    if (w->iv >= 0)
        ADD(".attendanceIntervals[%ld]", w->iv);
#undef ADD
}

/* A value of the wrong shape: the check pass counts it and warns, naming the item
 * and the field (the first BAD_WARNED of a snapshot one by one, the rest in the
 * total), and both passes write null. */
static void note_bad_value(walk *w, const char *field, const char *why)
{
    if (w->quiet)
        return;
    if (w->bad_values++ >= BAD_WARNED || (w->flags & TABLES_SILENT))
        return;
    char at[WHERE_MAX];
    where(w, at, sizeof at);
    log_warn("a value of the wrong shape was written as null",
             json_pack("{s:s,s:s,s:s,s:s}", "user_upn", w->upn, "item", at[0] ? at : "(snapshot)",
                       "field", field, "reason", why));
}

static void note_bad_type(walk *w, const char *field)
{
    note_bad_value(w, field, "unexpected JSON type");
}

static void skip_item(walk *w, const char *what)
{
    w->add.skipped++;
    if (w->flags & TABLES_SILENT)
        return;
    char at[WHERE_MAX];
    where(w, at, sizeof at);
    log_warn("item left out of the tables",
             json_pack("{s:s,s:s,s:s}", "reason", what, "item", at, "user_upn", w->upn));
}

static tables_value vnull(void)
{
    tables_value v = {1, 0, NULL, 0};
    return v;
}

static tables_value vstr(const char *s, size_t len)
{
    tables_value v = {0, 0, s, len};
    return v;
}

static tables_value vint(int64_t i)
{
    tables_value v = {0, i, NULL, 0};
    return v;
}

static tables_value vjstr(const walk *w, jv j)
{
    return vstr(jsontok_str(w->doc, j), len_of(w, j));
}

/* A member that is missing or JSON null reads as NONE. */
static jv member(walk *w, jv obj, const char *key)
{
    if (obj == NONE)
        return NONE;
    jv j = jsontok_member(w->doc, obj, key, strlen(key));
    return jtype(w, j) == JSONTOK_NULL ? NONE : j;
}

/* An object member that should be an object: NONE when missing, null or (noted) wrong. */
static jv obj_value(walk *w, jv j, const char *key)
{
    if (j != NONE && !is_object(w, j)) {
        note_bad_type(w, key);
        return NONE;
    }
    return j;
}

static jv obj_member(walk *w, jv obj, const char *key)
{
    return obj_value(w, member(w, obj, key), key);
}

/* The value j (a member, NONE when missing or null) of the column `key`. */
static tables_value str_value(walk *w, jv j, const char *key)
{
    if (j == NONE)
        return vnull();
    if (!is_string(w, j)) {
        note_bad_type(w, key);
        return vnull();
    }
    return vjstr(w, j);
}

static tables_value str_field(walk *w, jv obj, const char *key)
{
    return str_value(w, member(w, obj, key), key);
}

static tables_value bool_field(walk *w, jv obj, const char *key)
{
    jv j = member(w, obj, key);
    int t = jtype(w, j);
    if (j == NONE)
        return vnull();
    if (t != JSONTOK_TRUE && t != JSONTOK_FALSE) {
        note_bad_type(w, key);
        return vnull();
    }
    return vint(t == JSONTOK_TRUE);
}

static tables_value int_value(walk *w, jv j, const char *key, int64_t lo, int64_t hi)
{
    if (j == NONE)
        return vnull();
    int64_t v;
    int t = jtype(w, j);
    if (t == JSONTOK_INT) {
        v = jsontok_int(w->doc, j);
    } else if (t == JSONTOK_REAL) {
        double d = jsontok_real(w->doc, j);
        /* 1152.0 is 1152; a fraction or a huge value is not a count */
        if (!(d >= -9.0e18 && d <= 9.0e18) || d != (double)(int64_t)d) {
            note_bad_type(w, key);
            return vnull();
        }
        v = (int64_t)d;
    } else {
        note_bad_type(w, key);
        return vnull();
    }
    if (v < lo || v > hi) {
        note_bad_type(w, key);
        return vnull();
    }
    return vint(v);
}

static tables_value int_field(walk *w, jv obj, const char *key, int64_t lo, int64_t hi)
{
    return int_value(w, member(w, obj, key), key, lo, hi);
}

static void bad_time(walk *w, const char *field, jv j)
{
    char why[160];
    snprintf(why, sizeof why, "'%.80s' is not a time (YYYY-MM-DDTHH:MM:SS[.fffffff][Z])",
             str_of(w, j));
    note_bad_value(w, field, why);
}

/* A DateTimeOffset field ("2021-10-05T04:38:23.945Z"). */
static status time_value(walk *w, jv j, const char *key, tables_value *out)
{
    *out = vnull();
    if (j == NONE)
        return ST_OK;
    if (!is_string(w, j)) {
        note_bad_type(w, key);
        return ST_OK;
    }
    int64_t us;
    int has_zone = 0;
    const char *t = jsontok_str(w->doc, j);
    size_t n = len_of(w, j);
    if (tables_parse_time(t, n, &us, &has_zone) != 0) {
        bad_time(w, key, j);
        return ST_OK;
    }
    /* the job asks Graph for UTC: an offset other than zero is a value it cannot trust */
    if (has_zone && !(t[n - 1] == 'Z' || t[n - 1] == 'z' ||
                      (n >= 6 && strncmp(t + n - 5, "00:00", 5) == 0 &&
                       (t[n - 6] == '+' || t[n - 6] == '-')))) {
        char why[160];
        snprintf(why, sizeof why, "'%.80s' is not in UTC", t);
        note_bad_value(w, key, why);
        return ST_OK;
    }
    *out = vint(us);
    return ST_OK;
}

static status time_field(walk *w, jv obj, const char *key, tables_value *out)
{
    return time_value(w, member(w, obj, key), key, out);
}

static int is_utc_zone(const char *z)
{
    return timeutil_zone_is_utc(z) || strcasecmp(z, "tzone://Microsoft/Utc") == 0;
}

/* An event's dateTimeTimeZone ({"dateTime": "...", "timeZone": "UTC"}): the job asks
 * Graph for UTC, so a time in another zone cannot be placed: a bad value. */
static status event_time(walk *w, jv ev, const char *key, tables_value *out)
{
    *out = vnull();
    char field[24];
    snprintf(field, sizeof field, "%s.dateTime", key);
    jv o = obj_member(w, ev, key);
    if (o == NONE)
        return ST_OK;
    jv dt = member(w, o, "dateTime");
    if (dt == NONE)
        return ST_OK;
    if (!is_string(w, dt)) {
        note_bad_type(w, field);
        return ST_OK;
    }
    int64_t us;
    int has_zone;
    if (tables_parse_time(jsontok_str(w->doc, dt), len_of(w, dt), &us, &has_zone) != 0) {
        bad_time(w, field, dt);
        return ST_OK;
    }
    const char *zone = str_of(w, member(w, o, "timeZone"));
    if ((zone && !is_utc_zone(zone)) || (!zone && !has_zone)) {
        char why[256];
        snprintf(why, sizeof why,
                 "%s.timeZone is '%.80s', not UTC (the job asks Graph for UTC with Prefer: "
                 "outlook.timezone=\"UTC\")",
                 key, zone ? zone : "(none)");
        note_bad_value(w, field, why);
        return ST_OK;
    }
    *out = vint(us);
    return ST_OK;
}

static int nonempty_str(const walk *w, jv j)
{
    return is_string(w, j) && len_of(w, j) > 0;
}

/* A member holding items: missing or null is empty, anything but an array an error,
 * since its rows would otherwise vanish without a trace. */
static status array_value(walk *w, jv j, const char *key, jv *out)
{
    *out = j;
    if (j == NONE || is_array(w, j))
        return ST_OK;
    char at[WHERE_MAX];
    int t = jtype(w, j);
    where(w, at, sizeof at);
    return err_set(w->err, ST_JSON, "%s%s%s is a JSON %s, not an array", at, at[0] ? "." : "", key,
                   t == JSONTOK_OBJECT                       ? "object"
                   : t == JSONTOK_STRING                     ? "string"
                   : t == JSONTOK_TRUE || t == JSONTOK_FALSE ? "boolean"
                                                             : "number");
}

static status put_row(walk *w, table_id t, tables_value *v, size_t n)
{
    v[n - 2] = vstr(w->run_id, w->run_id_len);
    v[n - 1] = vint(w->extracted);
    if (w->row) {
        status st = w->row(w->ctx, t, v, w->err);
        if (st != ST_OK)
            return st;
    }
    w->add.rows[t]++;
    return ST_OK;
}

/* An attendance record's and an interval's members, found in one pass over the
 * object (their names differ in length) where member() would take a pass each:
 * there are millions of them. Each is what member() gives: the last one of its
 * name, NONE when missing or null. */
enum { RM_ID, RM_ROLE, RM_IDENTITY, RM_EMAIL, RM_INTERVALS, RM_TOTAL, RM_COUNT };
enum { IM_JOIN, IM_LEAVE, IM_DURATION, IM_COUNT };

/* The members of a record and of an interval the tables read, in their enums' order;
 * each name has a length of its own within its list, so a key is told by its length
 * and one compare. */
typedef struct member_name {
    const char *s;
    uint32_t len;
} member_name;
static const member_name record_names[RM_COUNT] = {{"id", 2},
                                                   {"role", 4},
                                                   {"identity", 8},
                                                   {"emailAddress", 12},
                                                   {"attendanceIntervals", 19},
                                                   {"totalAttendanceInSeconds", 24}};
static const member_name interval_names[IM_COUNT] = {
    {"joinDateTime", 12}, {"leaveDateTime", 13}, {"durationInSeconds", 17}};

/* found[i]: the value of names[i] in the object obj, NONE when absent or null; one
 * pass over its members. */
static void find_members(const walk *w, jv obj, const member_name *names, int n, jv *found)
{
    const jsontok *tok = w->doc->tok;
    for (int i = 0; i < n; i++)
        found[i] = NONE;
    jv k = obj + 1;
    for (uint32_t m = tok[obj].len; m > 0; m--, k = tok[k + 1].end) {
        const char *key = w->doc->text + tok[k].start;
        for (int i = 0; i < n; i++) {
            if (tok[k].len == names[i].len && memcmp(key, names[i].s, names[i].len) == 0) {
                found[i] = tok[k + 1].type == JSONTOK_NULL ? NONE : k + 1;
                break;
            }
        }
    }
}

static status do_record(walk *w, jv rec, const tables_value *report_id,
                        const tables_value *meeting_id)
{
    status st;
    if (!is_object(w, rec)) {
        skip_item(w, "attendance record is not a JSON object");
        return ST_OK;
    }
    jv rm[RM_COUNT];
    find_members(w, rec, record_names, RM_COUNT, rm);
    jv identity = obj_value(w, rm[RM_IDENTITY], "identity");
    tables_value record_id = str_value(w, rm[RM_ID], "id");
    tables_value email = str_value(w, rm[RM_EMAIL], "emailAddress");
    tables_value identity_id = str_field(w, identity, "id");

    char pos[24];
    tables_value key;
    if (!record_id.null && record_id.len > 0) {
        key = record_id;
    } else if (!identity_id.null && identity_id.len > 0) {
        key = identity_id;
    } else if (!email.null && email.len > 0) {
        key = email;
    } else {
        int n = snprintf(pos, sizeof pos, "#%ld", w->rec);
        key = vstr(pos, (size_t)n);
    }

    jv ivs;
    if ((st = array_value(w, rm[RM_INTERVALS], "attendanceIntervals", &ivs)) != ST_OK)
        return st;
    int have_join = 0, have_leave = 0;
    int64_t first_join = 0, last_leave = 0;
    size_t niv = array_size(w, ivs);
    jv iv = niv ? jsontok_first(ivs) : NONE;
    for (size_t i = 0; i < niv; i++, iv = next_of(w, iv)) {
        w->iv = (long)i;
        if (!is_object(w, iv)) {
            skip_item(w, "attendance interval is not a JSON object");
            continue;
        }
        tables_value v[IV_NCOLS];
        v[IV_REPORT_ID] = *report_id;
        v[IV_RECORD_KEY] = key;
        v[IV_IDENTITY_ID] = identity_id;
        v[IV_EMAIL] = email;
        v[IV_INTERVAL_INDEX] = vint((int64_t)i);
        jv im[IM_COUNT];
        find_members(w, iv, interval_names, IM_COUNT, im);
        if ((st = time_value(w, im[IM_JOIN], "joinDateTime", &v[IV_JOIN_UTC])) != ST_OK ||
            (st = time_value(w, im[IM_LEAVE], "leaveDateTime", &v[IV_LEAVE_UTC])) != ST_OK)
            return st;
        v[IV_DURATION_SECONDS] =
            int_value(w, im[IM_DURATION], "durationInSeconds", INT64_MIN, INT64_MAX);
        if (!v[IV_JOIN_UTC].null && (!have_join || v[IV_JOIN_UTC].i < first_join)) {
            first_join = v[IV_JOIN_UTC].i;
            have_join = 1;
        }
        if (!v[IV_LEAVE_UTC].null && (!have_leave || v[IV_LEAVE_UTC].i > last_leave)) {
            last_leave = v[IV_LEAVE_UTC].i;
            have_leave = 1;
        }
        if ((st = put_row(w, TBL_INTERVALS, v, IV_NCOLS)) != ST_OK)
            return st;
    }
    w->iv = -1;

    tables_value v[REC_NCOLS];
    v[REC_RECORD_KEY] = key;
    v[REC_RECORD_ID] = record_id;
    v[REC_REPORT_ID] = *report_id;
    v[REC_ONLINE_MEETING_ID] = *meeting_id;
    v[REC_USER_UPN] = vstr(w->upn, w->upn_len);
    v[REC_EMAIL] = email;
    v[REC_DISPLAY_NAME] = str_field(w, identity, "displayName");
    v[REC_IDENTITY_ID] = identity_id;
    v[REC_IDENTITY_TENANT_ID] = str_field(w, identity, "tenantId");
    v[REC_ROLE] = str_value(w, rm[RM_ROLE], "role");
    v[REC_TOTAL_ATTENDANCE_SECONDS] =
        int_value(w, rm[RM_TOTAL], "totalAttendanceInSeconds", INT64_MIN, INT64_MAX);
    v[REC_FIRST_JOIN_UTC] = have_join ? vint(first_join) : vnull();
    v[REC_LAST_LEAVE_UTC] = have_leave ? vint(last_leave) : vnull();
    v[REC_INTERVAL_COUNT] = vint((int64_t)niv);
    return put_row(w, TBL_RECORDS, v, REC_NCOLS);
}

/* The join link of an event whose final snapshot says where the run found it
 * (joinUrlSource: a joinurl_fields path such as "locations[].locationUri"): read
 * again from that field, so the run and `convert` give the same rows. */
static tables_value link_from_source(walk *w, jv ev)
{
    const char *src = str_of(w, member(w, ev, "joinUrlSource"));
    if (!src)
        return vnull();
    size_t f = 0;
    while (f < joinurl_nfields && strcmp(joinurl_fields[f], src) != 0)
        f++;
    if (f == joinurl_nfields) {
        note_bad_value(w, "joinUrlSource", "not a field a join link is read from");
        return vnull();
    }
    char first[64];
    const char *dot = strchr(src, '.');
    size_t n = dot ? (size_t)(dot - src) : strlen(src);
    int array = n > 2 && src[n - 2] == '[';
    if (array)
        n -= 2;
    if (n >= sizeof first)
        return vnull();
    memcpy(first, src, n);
    first[n] = '\0';
    jv v = member(w, ev, first);
    size_t count = array ? array_size(w, v) : (v != NONE);
    jv it = array && count ? jsontok_first(v) : v;
    for (size_t i = 0; i < count; i++, it = array ? next_of(w, it) : NONE) {
        jv s = dot ? (is_object(w, it) ? member(w, it, dot + 1) : NONE) : it;
        if (is_string(w, s) && joinurl_scan(jsontok_str(w->doc, s), len_of(w, s), &w->link) == 1)
            return vstr(w->link.data, w->link.len);
    }
    return vnull();
}

static int str_is(const tables_value *v, const char *s)
{
    return !v->null && v->len == strlen(s) && memcmp(v->s, s, v->len) == 0;
}

/* ---- units: the pieces read out of the stream ---- */

static void use(walk *w, int u)
{
    w->doc = w->whole ? w->whole : &w->u[u].doc;
}

static status unit_failed(walk *w, status st)
{
    char at[WHERE_MAX];
    where(w, at, sizeof at);
    if (at[0])
        err_prefix(w->err, "%s", at);
    return st;
}

static status unit_tokenize(walk *w, unit *u)
{
    status st = jsontok_parse(&u->doc, u->text.data, u->text.len,
                              JSONTOK_ALLOW_NUL | JSONTOK_ANY_DEPTH, w->err);
    if (st != ST_OK)
        return unit_failed(w, st);
    u->parsed = 1;
    return ST_OK;
}

/* The whole value at off as a unit: its token is 1 (inside a wrapping array, so that
 * any value tokenizes). */
static status unit_value(walk *w, int k, uint64_t off, uint64_t *end)
{
    unit *u = &w->u[k];
    status st;
    buf_reset(&u->text);
    u->members = 0;
    u->parsed = 0;
    if ((st = jsonscan_value_end(w->s, off, end, w->err)) != ST_OK ||
        (st = buf_append(&u->text, "[", 1, w->err)) != ST_OK ||
        (st = jsonscan_copy(w->s, off, *end, &u->text, w->err)) != ST_OK ||
        (st = buf_append(&u->text, "]", 1, w->err)) != ST_OK)
        return unit_failed(w, st);
    use(w, k);
    return unit_tokenize(w, u);
}

static void unit_begin(walk *w, int k)
{
    unit *u = &w->u[k];
    buf_reset(&u->raw);
    u->members = 0;
    u->parsed = 0;
}

/* Copies the member whose key starts at key and whose value ends at end. */
static status unit_member(walk *w, int k, uint64_t key, uint64_t end)
{
    unit *u = &w->u[k];
    status st = ST_OK;
    if (u->members++ > 0)
        st = buf_append(&u->raw, ",", 1, w->err);
    if (st == ST_OK)
        st = jsonscan_copy(w->s, key, end, &u->raw, w->err);
    u->parsed = 0;
    return st == ST_OK ? ST_OK : unit_failed(w, st);
}

/* The members copied so far, as an object: its token is 1. */
static status unit_object(walk *w, int k)
{
    unit *u = &w->u[k];
    use(w, k);
    if (u->parsed)
        return ST_OK;
    status st;
    buf_reset(&u->text);
    if ((st = buf_append(&u->text, "[{", 2, w->err)) != ST_OK ||
        (st = buf_append(&u->text, u->raw.data, u->raw.len, w->err)) != ST_OK ||
        (st = buf_append(&u->text, "}]", 2, w->err)) != ST_OK)
        return unit_failed(w, st);
    return unit_tokenize(w, u);
}

/* Which of names[] (NULL-terminated) the key at off reads, or -1. */
static status key_index(walk *w, uint64_t off, const char *const *names, int *which)
{
    *which = -1;
    for (int i = 0; names[i]; i++) {
        int yes;
        status st = jsonscan_key_is(w->s, off, names[i], &yes, w->err);
        if (st != ST_OK)
            return st;
        if (yes) {
            *which = i;
            return ST_OK;
        }
    }
    return ST_OK;
}

static status repeated(walk *w, const char *key, const char *items)
{
    char at[WHERE_MAX];
    where(w, at, sizeof at);
    return err_set(w->err, ST_JSON,
                   "%s%s'%s' comes again after the %s it applies to (a repeated key)", at,
                   at[0] ? ": " : "", key, items);
}

/* A hole (an array member read apart) that was not an array where it stood: null is
 * no items; anything else is an error, since its rows would otherwise vanish. */
static status not_array(walk *w, int t, const char *key)
{
    if (t == JSONTOK_NULL)
        return ST_OK;
    char at[WHERE_MAX];
    where(w, at, sizeof at);
    return err_set(w->err, ST_JSON, "%s%s%s is a JSON %s, not an array", at, at[0] ? "." : "", key,
                   t == JSONTOK_OBJECT                       ? "object"
                   : t == JSONTOK_STRING                     ? "string"
                   : t == JSONTOK_TRUE || t == JSONTOK_FALSE ? "boolean"
                                                             : "number");
}

static status hole_not_array(walk *w, uint64_t off, const char *key)
{
    uint64_t end;
    status st = unit_value(w, U_RECORD, off, &end);
    if (st != ST_OK)
        return st;
    return not_array(w, w->u[U_RECORD].doc.tok[1].type, key);
}

/* How one object is read: its members go to a unit, except its holes (keys holding
 * items read apart: keys[0, nholes)); a hole is read in place when the keys its items
 * need (keys[nholes + k] for each bit k of need) came before it, otherwise after the
 * object (the caller goes back to it). */
typedef struct object_plan {
    int unit;
    const char *const *keys; /* NULL-terminated */
    int nholes;              /* at most 2 */
    unsigned need;
    const char *items; /* what the holes hold, for messages */
    /* reads hole h's items in place; the members so far are the unit's token 1 */
    status (*in_place)(walk *w, void *ctx, int h, uint64_t value, uint64_t *end);
    void *ctx;
} object_plan;

/* Reads the object at off by its plan, and tokenizes its members (the unit's token 1).
 * later[h] is the value of hole h that must be read after it, or NO_HOLE. */
static status read_object(walk *w, const object_plan *p, uint64_t off, uint64_t *end,
                          uint64_t later[2])
{
    status st;
    unsigned seen = 0;
    int forward[2] = {0, 0};
    later[0] = later[1] = NO_HOLE;
    jsonscan_iter it;
    if ((st = jsonscan_object(w->s, off, &it, w->err)) != ST_OK)
        return st;
    unit_begin(w, p->unit);
    for (;;) {
        int more, which;
        if ((st = jsonscan_member(w->s, &it, &more, w->err)) != ST_OK)
            return st;
        if (!more)
            break;
        if ((st = key_index(w, it.key, p->keys, &which)) != ST_OK)
            return st;
        uint64_t vend;
        if (which >= 0 && which < p->nholes) {
            if (forward[which])
                return repeated(w, p->keys[which], p->items);
            later[which] = NO_HOLE;
            if (jsonscan_byte(w->s, it.value) == '[' && (seen & p->need) == p->need) {
                if ((st = unit_object(w, p->unit)) != ST_OK ||
                    (st = p->in_place(w, p->ctx, which, it.value, &vend)) != ST_OK)
                    return st;
                forward[which] = 1;
            } else {
                later[which] = it.value;
                if ((st = jsonscan_value_end(w->s, it.value, &vend, w->err)) != ST_OK)
                    return st;
            }
        } else {
            unsigned bit = which >= p->nholes ? 1u << (which - p->nholes) : 0;
            if ((bit & p->need) && (forward[0] || forward[1]))
                return repeated(w, p->keys[which], p->items);
            seen |= bit;
            if ((st = jsonscan_value_end(w->s, it.value, &vend, w->err)) != ST_OK ||
                (st = unit_member(w, p->unit, it.key, vend)) != ST_OK)
                return st;
        }
        it.pos = vend;
    }
    *end = it.pos;
    return unit_object(w, p->unit);
}

/* ---- reports and their records ---- */

static status stream_records(walk *w, uint64_t off, const tables_value *report_id,
                             const tables_value *meeting_id, uint64_t *end)
{
    jsonscan_iter it;
    status st = jsonscan_array(w->s, off, &it, w->err);
    for (long i = 0; st == ST_OK; i++) {
        int more;
        if ((st = jsonscan_element(w->s, &it, &more, w->err)) != ST_OK || !more)
            break;
        w->rec = i;
        if ((st = unit_value(w, U_RECORD, it.value, &it.pos)) != ST_OK ||
            (st = do_record(w, 1, report_id, meeting_id)) != ST_OK)
            break;
    }
    w->rec = -1;
    *end = it.pos;
    return st;
}

/* What a report's rows need from it, read from its unit (U_REPORT, token 1): its id
 * and meeting id, and for one of unmatched_attendance the event it names. */
typedef struct report_keys {
    tables_value id, meeting, event;
    int ok; /* its rows (and its records') go out */
} report_keys;

static void read_report_keys(walk *w, int unmatched, const tables_value *event_id,
                             const tables_value *meeting_id, report_keys *k)
{
    use(w, U_REPORT);
    jv rep = w->at[U_REPORT], id = member(w, rep, "id");
    w->rep_id = nonempty_str(w, id) ? jsontok_str(w->doc, id) : NULL;
    k->id = w->rep_id ? vjstr(w, id) : vnull();
    k->event = unmatched ? str_field(w, rep, "eventId") : *event_id;
    k->meeting = *meeting_id;
    if (k->meeting.null || k->meeting.len == 0)
        k->meeting = str_field(w, rep, "onlineMeetingId");
    k->ok = w->rep_id && !k->meeting.null && k->meeting.len > 0;
}

/* A report's columns before its records are looked at, read from rep (its unit, or
 * its tokens in a snapshot tokenized whole). */
static status report_fields(walk *w, jv rep, const report_keys *k, tables_value *v)
{
    v[REP_EVENT_ID] = k->event;
    v[REP_USER_UPN] = vstr(w->upn, w->upn_len);
    v[REP_TOTAL_PARTICIPANT_COUNT] =
        int_field(w, rep, "totalParticipantCount", INT32_MIN, INT32_MAX);
    status st = time_field(w, rep, "meetingStartDateTime", &v[REP_MEETING_START_UTC]);
    if (st == ST_OK)
        st = time_field(w, rep, "meetingEndDateTime", &v[REP_MEETING_END_UTC]);
    return st;
}

/* The report's row, or the reason it is left out; *landed: its records follow. */
static status report_row(walk *w, jv rep, const report_keys *k, tables_value *v, int *landed)
{
    *landed = 0;
    if (!w->rep_id) {
        use(w, U_REPORT);
        jv id = member(w, rep, "id");
        if (id != NONE && !is_string(w, id))
            note_bad_type(w, "id");
        skip_item(w, "attendance report without id (its records are left out with it)");
        return ST_OK;
    }
    if (!k->ok) {
        skip_item(w, "attendance report without an online meeting id (its records are left out "
                     "with it)");
        return ST_OK;
    }
    v[REP_REPORT_ID] = k->id;
    v[REP_ONLINE_MEETING_ID] = k->meeting;
    status st = put_row(w, TBL_REPORTS, v, REP_NCOLS);
    *landed = st == ST_OK;
    return st;
}

typedef struct report_ctx {
    int unmatched;
    const tables_value *event_id, *meeting_id;
} report_ctx;

/* The keys of a report whose records are read in place, before the rest of it: quiet,
 * since the report itself warns once it is read whole. */
static void keys_for_records(walk *w, const report_ctx *c, report_keys *k)
{
    w->quiet = 1;
    read_report_keys(w, c->unmatched, c->event_id, c->meeting_id, k);
    w->quiet = 0;
}

/* The records of a report whose keys came before them. */
static status report_in_place(walk *w, void *ctx, int h, uint64_t value, uint64_t *end)
{
    (void)h;
    report_keys k;
    keys_for_records(w, ctx, &k);
    return k.ok ? stream_records(w, value, &k.id, &k.meeting, end)
                : jsonscan_value_end(w->s, value, end, w->err);
}

/* One report, under an event (event_id and meeting_id from it) or in
 * unmatched_attendance (both from the report itself). */
static status stream_report(walk *w, uint64_t off, int unmatched, const tables_value *event_id,
                            const tables_value *meeting_id, uint64_t *end)
{
    static const char *const keys[] = {"attendanceRecords", "id", "onlineMeetingId", "eventId",
                                       NULL};
    status st;
    w->rep_id = NULL;
    if (jsonscan_byte(w->s, off) != '{') {
        if ((st = unit_value(w, U_REPORT, off, end)) != ST_OK)
            return st;
        skip_item(w, "attendance report is not a JSON object");
        return ST_OK;
    }
    /* the keys the records need before them: id always, onlineMeetingId when the
     * event gives no meeting id, eventId in unmatched_attendance */
    report_ctx c = {unmatched, event_id, meeting_id};
    object_plan plan = {
        U_REPORT,
        keys,
        1,
        1u | (meeting_id->null || meeting_id->len == 0 ? 2u : 0u) | (unmatched ? 4u : 0u),
        "records",
        report_in_place,
        &c};
    uint64_t later[2];
    if ((st = read_object(w, &plan, off, end, later)) != ST_OK)
        return st;

    report_keys k;
    read_report_keys(w, unmatched, event_id, meeting_id, &k);
    jv rep = w->at[U_REPORT];
    tables_value v[REP_NCOLS];
    if ((st = report_fields(w, rep, &k, v)) != ST_OK)
        return st;
    uint64_t hole = later[0];
    if (hole != NO_HOLE && jsonscan_byte(w->s, hole) != '[' &&
        (st = hole_not_array(w, hole, "attendanceRecords")) != ST_OK)
        return st;
    int landed;
    if ((st = report_row(w, rep, &k, v, &landed)) != ST_OK || !landed)
        return st;
    if (hole != NO_HOLE && jsonscan_byte(w->s, hole) == '[') {
        uint64_t e;
        if ((st = stream_records(w, hole, &v[REP_REPORT_ID], &v[REP_ONLINE_MEETING_ID], &e)) !=
            ST_OK)
            return st;
    }
    return ST_OK;
}

/* ---- events ---- */

static status stream_reports(walk *w, uint64_t off, const tables_value *event_id,
                             const tables_value *meeting_id, size_t *n, uint64_t *end)
{
    jsonscan_iter it;
    status st = jsonscan_array(w->s, off, &it, w->err);
    *n = 0;
    while (st == ST_OK) {
        int more;
        if ((st = jsonscan_element(w->s, &it, &more, w->err)) != ST_OK || !more)
            break;
        w->rep = (long)(*n)++;
        st = stream_report(w, it.value, 0, event_id, meeting_id, &it.pos);
    }
    w->rep = -1;
    w->rep_id = NULL;
    *end = it.pos;
    return st;
}

/* The event's id and meeting id, which its reports carry (U_EVENT, token 1). */
static void read_event_keys(walk *w, tables_value *id, tables_value *meeting)
{
    use(w, U_EVENT);
    jv ev = w->at[U_EVENT], j = member(w, ev, "id");
    w->ev_id = nonempty_str(w, j) ? jsontok_str(w->doc, j) : NULL;
    *id = w->ev_id ? vjstr(w, j) : vnull();
    if (!w->ev_id && j != NONE)
        note_bad_type(w, "id");
    *meeting = str_field(w, obj_member(w, ev, "onlineMeetingMeta"), "id");
}

/* The event's row (U_EVENT, token 1), with nrep reports tied to it. */
static status event_row(walk *w, size_t nrep, const tables_value *id, const tables_value *meeting)
{
    status st;
    use(w, U_EVENT);
    jv ev = w->at[U_EVENT];
    jv organizer = obj_member(w, ev, "organizer");
    jv org_addr = organizer != NONE ? obj_member(w, organizer, "emailAddress") : NONE;
    jv online = obj_member(w, ev, "onlineMeeting");
    jv meta = obj_member(w, ev, "onlineMeetingMeta");
    jv attendees = member(w, ev, "attendees");

    tables_value v[EV_NCOLS];
    v[EV_EVENT_ID] = *id;
    v[EV_USER_UPN] = vstr(w->upn, w->upn_len);
    v[EV_ICAL_UID] = str_field(w, ev, "iCalUId");
    v[EV_SERIES_MASTER_ID] = str_field(w, ev, "seriesMasterId");
    v[EV_EVENT_TYPE] = str_field(w, ev, "type");
    v[EV_SUBJECT] = str_field(w, ev, "subject");
    v[EV_ORGANIZER_NAME] = str_field(w, org_addr, "name");
    v[EV_ORGANIZER_EMAIL] = str_field(w, org_addr, "address");
    if ((st = event_time(w, ev, "start", &v[EV_START_UTC])) != ST_OK ||
        (st = event_time(w, ev, "end", &v[EV_END_UTC])) != ST_OK)
        return st;
    v[EV_IS_ALL_DAY] = bool_field(w, ev, "isAllDay");
    v[EV_IS_CANCELLED] = bool_field(w, ev, "isCancelled");
    v[EV_IS_ONLINE_MEETING] = bool_field(w, ev, "isOnlineMeeting");
    v[EV_ONLINE_MEETING_PROVIDER] = str_field(w, ev, "onlineMeetingProvider");
    v[EV_JOIN_URL] = str_field(w, online, "joinUrl");
    v[EV_ONLINE_MEETING_ID] = *meeting;
    if (attendees != NONE && !is_array(w, attendees)) {
        note_bad_type(w, "attendees");
        v[EV_ATTENDEE_COUNT] = vnull();
    } else {
        v[EV_ATTENDEE_COUNT] =
            attendees != NONE ? vint((int64_t)array_size(w, attendees)) : vnull();
    }
    if ((st = time_field(w, ev, "createdDateTime", &v[EV_CREATED_UTC])) != ST_OK ||
        (st = time_field(w, ev, "lastModifiedDateTime", &v[EV_LAST_MODIFIED_UTC])) != ST_OK)
        return st;

    tables_value organizer_flag = bool_field(w, ev, "isOrganizer");
    const char *status_s;
    int teams = !v[EV_IS_ONLINE_MEETING].null && v[EV_IS_ONLINE_MEETING].i &&
                str_is(&v[EV_ONLINE_MEETING_PROVIDER], "teamsForBusiness") &&
                !v[EV_JOIN_URL].null && v[EV_JOIN_URL].len > 0;
    if (!teams && (v[EV_JOIN_URL].null || v[EV_JOIN_URL].len == 0)) {
        tables_value found = link_from_source(w, ev);
        if (!found.null) {
            v[EV_JOIN_URL] = found;
            teams = 1;
        }
    }
    if (!teams)
        status_s = "not_online";
    else if (organizer_flag.null || !organizer_flag.i)
        status_s = "not_organizer";
    else if (meta == NONE)
        status_s = "no_meeting";
    else if (nrep == 0)
        status_s = "no_reports";
    else
        status_s = "fetched";
    v[EV_ATTENDANCE_STATUS] = vstr(status_s, strlen(status_s));

    if (w->ev_id)
        return put_row(w, TBL_EVENTS, v, EV_NCOLS);
    skip_item(w, "event without id");
    return ST_OK;
}

/* The reports of an event whose keys came before them. */
static status event_in_place(walk *w, void *ctx, int h, uint64_t value, uint64_t *end)
{
    (void)h;
    tables_value id, meeting;
    w->quiet = 1;
    read_event_keys(w, &id, &meeting);
    w->quiet = 0;
    return stream_reports(w, value, &id, &meeting, ctx, end);
}

/* One event and its reports. The reports keep their rows even when the event has
 * none: their own never-null columns do not depend on it. */
static status stream_event(walk *w, uint64_t off, uint64_t *end)
{
    static const char *const keys[] = {"attendance", "id", "onlineMeetingMeta", NULL};
    status st;
    w->ev_id = NULL;
    if (jsonscan_byte(w->s, off) != '{') {
        if ((st = unit_value(w, U_EVENT, off, end)) != ST_OK)
            return st;
        skip_item(w, "event is not a JSON object");
        return ST_OK;
    }
    size_t nrep = 0;
    object_plan plan = {U_EVENT, keys, 1, 3u, "reports", event_in_place, &nrep};
    uint64_t later[2];
    if ((st = read_object(w, &plan, off, end, later)) != ST_OK)
        return st;
    tables_value id, meeting;
    read_event_keys(w, &id, &meeting);
    if (later[0] != NO_HOLE) {
        uint64_t e;
        st = jsonscan_byte(w->s, later[0]) != '['
                 ? hole_not_array(w, later[0], "attendance")
                 : stream_reports(w, later[0], &id, &meeting, &nrep, &e);
        if (st != ST_OK)
            return st;
    }
    return event_row(w, nrep, &id, &meeting);
}

/* ---- the snapshot ---- */

/* The snapshot's own fields (U_HEAD, token 1): who and which run every row names. */
static status read_head(walk *w)
{
    status st;
    if (!w->whole && (st = unit_object(w, U_HEAD)) != ST_OK)
        return st;
    jv snap = w->at[U_HEAD];
    jv upn = member(w, snap, "user_upn");
    jv run_id = member(w, snap, "run_id");
    jv extracted = member(w, snap, "extracted_utc");
    if (!nonempty_str(w, upn))
        return err_set(w->err, ST_JSON, "the snapshot has no user_upn string");
    if (!nonempty_str(w, run_id))
        return err_set(w->err, ST_JSON, "the snapshot has no run_id string");
    if (!is_string(w, extracted) ||
        tables_parse_time(jsontok_str(w->doc, extracted), len_of(w, extracted), &w->extracted,
                          NULL) != 0)
        return err_set(w->err, ST_JSON, "the snapshot's extracted_utc is missing or not a time");
    if (w->head_ok)
        return ST_OK;
    w->upn_len = len_of(w, upn);
    w->run_id_len = len_of(w, run_id);
    w->upn = malloc(w->upn_len + 1);
    w->run_id = malloc(w->run_id_len + 1);
    if (!w->upn || !w->run_id)
        return err_set(w->err, ST_NOMEM, "out of memory flattening a snapshot");
    memcpy(w->upn, jsontok_str(w->doc, upn), w->upn_len + 1);
    memcpy(w->run_id, jsontok_str(w->doc, run_id), w->run_id_len + 1);
    for (size_t i = 0; i < w->upn_len; i++)
        if (w->upn[i] >= 'A' && w->upn[i] <= 'Z')
            w->upn[i] = (char)(w->upn[i] - 'A' + 'a');
    w->head_ok = 1;
    return ST_OK;
}

/* The items of events (which 0) or unmatched_attendance (which 1). */
static status stream_section(walk *w, int which, uint64_t off, uint64_t *end)
{
    static const tables_value none = {1, 0, NULL, 0};
    jsonscan_iter it;
    status st = jsonscan_array(w->s, off, &it, w->err);
    w->section = which == 0 ? "events" : "unmatched_attendance";
    for (long i = 0; st == ST_OK; i++) {
        int more;
        if ((st = jsonscan_element(w->s, &it, &more, w->err)) != ST_OK || !more)
            break;
        if (which == 0) {
            w->ev = i;
            st = stream_event(w, it.value, &it.pos);
        } else {
            w->rep = i;
            /* a report landed through a tracked meeting names its occurrence, if any */
            st = stream_report(w, it.value, 1, &none, &none, &it.pos);
        }
    }
    w->ev = w->rep = -1;
    w->ev_id = w->rep_id = NULL;
    *end = it.pos;
    return st;
}

/* The items of the snapshot's events or unmatched_attendance, once its own fields came. */
static status snapshot_in_place(walk *w, void *ctx, int h, uint64_t value, uint64_t *end)
{
    (void)ctx;
    status st = read_head(w);
    return st == ST_OK ? stream_section(w, h, value, end) : st;
}

static status stream_snapshot(walk *w)
{
    static const char *const keys[] = {"events", "unmatched_attendance", "user_upn",
                                       "run_id", "extracted_utc",        NULL};
    status st;
    uint64_t top = jsonscan_ws(w->s, 0), end;
    if (jsonscan_byte(w->s, top) != '{') {
        if (w->s->failed)
            return err_set(w->err, w->s->read_err.code, "%s", w->s->read_err.msg);
        return err_set(w->err, ST_JSON, "the snapshot is not a JSON object");
    }
    object_plan plan = {U_HEAD, keys, 2, 7u, "items", snapshot_in_place, NULL};
    uint64_t later[2];
    if ((st = read_object(w, &plan, top, &end, later)) != ST_OK ||
        (st = jsonscan_end(w->s, end, w->err)) != ST_OK || (st = read_head(w)) != ST_OK)
        return st;
    for (int k = 0; k < 2; k++) {
        if (later[k] == NO_HOLE)
            continue;
        uint64_t e;
        if (jsonscan_byte(w->s, later[k]) != '[')
            st = hole_not_array(w, later[k], keys[k]);
        else
            st = stream_section(w, k, later[k], &e);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

/* ---- a snapshot tokenized whole ----
 *
 * A snapshot of at most WHOLE_MAX bytes is read and tokenized in one piece, and the
 * walk above runs over its tokens in the same order and by the same rules (holes in
 * place or after their object, repeated keys, items that are not arrays), so the
 * rows, warnings and errors are the ones the walk a piece at a time gives, without
 * scanning for where each unit ends and copying it out first. A text that does not
 * tokenize, or whose top value is not an object, is left to that walk, which names
 * the fault as it always has. */
#define WHOLE_MAX ((size_t)4 << 20)

struct tables_scratch {
    buf text;
    jsontok_doc doc;
};

tables_scratch *tables_scratch_new(void)
{
    tables_scratch *sc = malloc(sizeof *sc);
    if (sc) {
        buf_init(&sc->text, WHOLE_MAX);
        jsontok_init(&sc->doc);
    }
    return sc;
}

void tables_scratch_free(tables_scratch *sc)
{
    if (!sc)
        return;
    buf_dispose(&sc->text);
    jsontok_dispose(&sc->doc);
    free(sc);
}

/* Which of names[] (NULL-terminated) the key token k reads, or -1. */
static int whole_key(const walk *w, jv k, const char *const *names)
{
    const jsontok *t = &w->doc->tok[k];
    const char *s = w->doc->text + t->start;
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == t->len && memcmp(names[i], s, t->len) == 0)
            return i;
    return -1;
}

/* read_object's plan, with holes as tokens. */
typedef struct whole_plan {
    const char *const *keys;
    int nholes;
    unsigned need;
    const char *items;
    status (*in_place)(walk *w, void *ctx, int h, jv value);
    void *ctx;
} whole_plan;

/* read_object over the tokens of obj: later[h] is the value of hole h to read after
 * the object, or NONE. */
static status whole_object(walk *w, const whole_plan *p, jv obj, jv later[2])
{
    status st;
    unsigned seen = 0;
    int forward[2] = {0, 0};
    later[0] = later[1] = NONE;
    jv k = jsontok_first(obj);
    uint32_t all = w->wtok[obj].len;
    for (uint32_t m = 0; m < all; m++, k = w->wtok[k + 1].end) {
        int which = whole_key(w, k, p->keys);
        jv value = k + 1;
        if (which >= 0 && which < p->nholes) {
            if (forward[which])
                return repeated(w, p->keys[which], p->items);
            later[which] = NONE;
            if (is_array(w, value) && (seen & p->need) == p->need) {
                /* items read in place see the members before them only, as a unit
                 * read so far does (a key repeated after them is an error, but the
                 * message names the item by what came first) */
                w->wtok[obj].len = m;
                st = p->in_place(w, p->ctx, which, value);
                w->wtok[obj].len = all;
                if (st != ST_OK)
                    return st;
                forward[which] = 1;
            } else {
                later[which] = value;
            }
        } else {
            unsigned bit = which >= p->nholes ? 1u << (which - p->nholes) : 0;
            if ((bit & p->need) && (forward[0] || forward[1]))
                return repeated(w, p->keys[which], p->items);
            seen |= bit;
        }
    }
    return ST_OK;
}

static status whole_records(walk *w, jv arr, const tables_value *report_id,
                            const tables_value *meeting_id)
{
    status st = ST_OK;
    size_t n = w->doc->tok[arr].len;
    jv rec = n ? jsontok_first(arr) : NONE;
    for (size_t i = 0; i < n && st == ST_OK; i++, rec = next_of(w, rec)) {
        w->rec = (long)i;
        st = do_record(w, rec, report_id, meeting_id);
    }
    w->rec = -1;
    return st;
}

static status whole_report_in_place(walk *w, void *ctx, int h, jv value)
{
    (void)h;
    report_keys k;
    keys_for_records(w, ctx, &k);
    return k.ok ? whole_records(w, value, &k.id, &k.meeting) : ST_OK;
}

/* stream_report over the tokens of rep. */
static status whole_report(walk *w, jv rep, int unmatched, const tables_value *event_id,
                           const tables_value *meeting_id)
{
    static const char *const keys[] = {"attendanceRecords", "id", "onlineMeetingId", "eventId",
                                       NULL};
    status st;
    w->rep_id = NULL;
    if (!is_object(w, rep)) {
        skip_item(w, "attendance report is not a JSON object");
        return ST_OK;
    }
    report_ctx c = {unmatched, event_id, meeting_id};
    whole_plan plan = {keys,
                       1,
                       1u | (meeting_id->null || meeting_id->len == 0 ? 2u : 0u) |
                           (unmatched ? 4u : 0u),
                       "records",
                       whole_report_in_place,
                       &c};
    jv later[2];
    w->at[U_REPORT] = rep;
    if ((st = whole_object(w, &plan, rep, later)) != ST_OK)
        return st;

    report_keys k;
    read_report_keys(w, unmatched, event_id, meeting_id, &k);
    tables_value v[REP_NCOLS];
    if ((st = report_fields(w, rep, &k, v)) != ST_OK)
        return st;
    jv hole = later[0];
    if (hole != NONE && !is_array(w, hole) &&
        (st = not_array(w, jtype(w, hole), "attendanceRecords")) != ST_OK)
        return st;
    int landed;
    if ((st = report_row(w, rep, &k, v, &landed)) != ST_OK || !landed)
        return st;
    if (hole != NONE && is_array(w, hole))
        return whole_records(w, hole, &v[REP_REPORT_ID], &v[REP_ONLINE_MEETING_ID]);
    return ST_OK;
}

static status whole_reports(walk *w, jv arr, const tables_value *event_id,
                            const tables_value *meeting_id, size_t *n)
{
    status st = ST_OK;
    size_t count = w->doc->tok[arr].len;
    jv rep = count ? jsontok_first(arr) : NONE;
    *n = 0;
    for (size_t i = 0; i < count && st == ST_OK; i++, rep = next_of(w, rep)) {
        w->rep = (long)(*n)++;
        st = whole_report(w, rep, 0, event_id, meeting_id);
    }
    w->rep = -1;
    w->rep_id = NULL;
    return st;
}

static status whole_event_in_place(walk *w, void *ctx, int h, jv value)
{
    (void)h;
    tables_value id, meeting;
    w->quiet = 1;
    read_event_keys(w, &id, &meeting);
    w->quiet = 0;
    return whole_reports(w, value, &id, &meeting, ctx);
}

/* stream_event over the tokens of ev. */
static status whole_event(walk *w, jv ev)
{
    static const char *const keys[] = {"attendance", "id", "onlineMeetingMeta", NULL};
    status st;
    w->ev_id = NULL;
    if (!is_object(w, ev)) {
        skip_item(w, "event is not a JSON object");
        return ST_OK;
    }
    size_t nrep = 0;
    whole_plan plan = {keys, 1, 3u, "reports", whole_event_in_place, &nrep};
    jv later[2];
    w->at[U_EVENT] = ev;
    if ((st = whole_object(w, &plan, ev, later)) != ST_OK)
        return st;
    tables_value id, meeting;
    read_event_keys(w, &id, &meeting);
    if (later[0] != NONE) {
        st = !is_array(w, later[0]) ? not_array(w, jtype(w, later[0]), "attendance")
                                    : whole_reports(w, later[0], &id, &meeting, &nrep);
        if (st != ST_OK)
            return st;
    }
    return event_row(w, nrep, &id, &meeting);
}

static status whole_section(walk *w, int which, jv arr)
{
    static const tables_value none = {1, 0, NULL, 0};
    status st = ST_OK;
    w->section = which == 0 ? "events" : "unmatched_attendance";
    size_t n = w->doc->tok[arr].len;
    jv item = n ? jsontok_first(arr) : NONE;
    for (size_t i = 0; i < n && st == ST_OK; i++, item = next_of(w, item)) {
        if (which == 0) {
            w->ev = (long)i;
            st = whole_event(w, item);
        } else {
            w->rep = (long)i;
            st = whole_report(w, item, 1, &none, &none);
        }
    }
    w->ev = w->rep = -1;
    w->ev_id = w->rep_id = NULL;
    return st;
}

static status whole_snapshot_in_place(walk *w, void *ctx, int h, jv value)
{
    (void)ctx;
    status st = read_head(w);
    return st == ST_OK ? whole_section(w, h, value) : st;
}

/* stream_snapshot over the tokens of the whole snapshot (an object: token 0). */
static status whole_walk(walk *w)
{
    static const char *const keys[] = {"events", "unmatched_attendance", "user_upn",
                                       "run_id", "extracted_utc",        NULL};
    status st;
    whole_plan plan = {keys, 2, 7u, "items", whole_snapshot_in_place, NULL};
    jv later[2];
    w->at[U_HEAD] = 0;
    if ((st = whole_object(w, &plan, 0, later)) != ST_OK || (st = read_head(w)) != ST_OK)
        return st;
    for (int k = 0; k < 2; k++) {
        if (later[k] == NONE)
            continue;
        st = !is_array(w, later[k]) ? not_array(w, jtype(w, later[k]), keys[k])
                                    : whole_section(w, k, later[k]);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

/* Reads and tokenizes the whole snapshot into sc; 0 when it is to be read a piece at
 * a time instead. */
/* The whole text read into sc and tokenized, when it is small enough (else NULL: it
 * is walked a piece at a time). */
static jsontok_doc *whole_text(jsonscan *s, unsigned flags, tables_scratch *sc)
{
    errinfo e = {0};
    if (!sc || s->size > WHOLE_MAX || (flags & TABLES_STREAM))
        return NULL;
    buf_reset(&sc->text);
    if (jsonscan_copy(s, 0, s->size, &sc->text, &e) != ST_OK ||
        jsontok_parse(&sc->doc, sc->text.data, sc->text.len, JSONTOK_ALLOW_NUL | JSONTOK_ANY_DEPTH,
                      &e) != ST_OK ||
        sc->doc.tok[0].type != JSONTOK_OBJECT)
        return NULL;
    return &sc->doc;
}

/* One walk of the snapshot: over whole's tokens, or a piece at a time when NULL. A
 * successful walk leaves the tokens as it found them, for another. */
static status flatten_walk(jsonscan *s, jsontok_doc *whole, unsigned flags, tables_row_fn row,
                           void *ctx, table_counts *counts, errinfo *err)
{
    walk w;
    memset(&w, 0, sizeof w);
    w.s = s;
    w.flags = flags;
    w.err = err;
    w.row = row;
    w.ctx = ctx;
    w.ev = w.rep = w.rec = w.iv = -1;
    w.section = "events";
    for (int k = 0; k < U_COUNT; k++)
        w.at[k] = 1;
    for (int k = 0; k < U_COUNT; k++) {
        buf_init(&w.u[k].raw, UNIT_MAX);
        buf_init(&w.u[k].text, UNIT_MAX + 8);
        jsontok_init(&w.u[k].doc);
    }
    buf_init(&w.link, 64u << 10);
    if (whole) {
        w.whole = whole;
        w.wtok = whole->tok;
        w.doc = whole;
    }
    status st = whole ? whole_walk(&w) : stream_snapshot(&w);
    if (st == ST_OK && w.bad_values > BAD_WARNED && !(flags & TABLES_SILENT))
        log_warn("more values of the wrong shape were written as null",
                 json_pack("{s:s,s:s,s:I}", "user_upn", w.upn, "run_id", w.run_id, "count",
                           (json_int_t)w.bad_values));
    if (st == ST_OK && counts) {
        for (int t = 0; t < TBL_COUNT; t++)
            counts->rows[t] += w.add.rows[t];
        counts->skipped += w.add.skipped;
        counts->bad_values += (int64_t)w.bad_values;
    }
    for (int k = 0; k < U_COUNT; k++) {
        buf_dispose(&w.u[k].raw);
        buf_dispose(&w.u[k].text);
        jsontok_dispose(&w.u[k].doc);
    }
    free(w.upn);
    free(w.run_id);
    buf_dispose(&w.link);
    return st;
}

/* With all_or_nothing, a walk with no rows and no warnings first, then the walk with
 * rows, over the same tokens when the text is tokenized whole. */
static status flatten(jsonscan *s, unsigned flags, int all_or_nothing, pthread_mutex_t *lock,
                      tables_scratch *sc, tables_row_fn row, void *ctx, table_counts *counts,
                      errinfo *err)
{
    tables_scratch *own = NULL;
    if (!sc && s->size <= WHOLE_MAX && !(flags & TABLES_STREAM))
        sc = own = tables_scratch_new();
    jsontok_doc *whole = whole_text(s, flags, sc);
    status st = ST_OK;
    if (all_or_nothing)
        st = flatten_walk(s, whole, flags | TABLES_SILENT, NULL, NULL, NULL, err);
    if (st == ST_OK) {
        if (lock)
            pthread_mutex_lock(lock);
        st = flatten_walk(s, whole, flags, row, ctx, counts, err);
        if (lock)
            pthread_mutex_unlock(lock);
    }
    tables_scratch_free(own);
    return st;
}

status tables_flatten_text(const char *text, size_t len, unsigned flags, tables_scratch *sc,
                           tables_row_fn row, void *ctx, table_counts *counts, errinfo *err)
{
    jsonscan s;
    jsonscan_open_mem(&s, text, len);
    return flatten(&s, flags, 0, NULL, sc, row, ctx, counts, err);
}

status tables_flatten_fd(int fd, unsigned flags, tables_scratch *sc, tables_row_fn row, void *ctx,
                         table_counts *counts, errinfo *err)
{
    jsonscan s;
    status st = jsonscan_open_fd(&s, fd, err);
    if (st == ST_OK)
        st = flatten(&s, flags, 0, NULL, sc, row, ctx, counts, err);
    jsonscan_close(&s);
    return st;
}

status tables_flatten_fd_all(int fd, tables_scratch *sc, tables_row_fn row, void *ctx,
                             pthread_mutex_t *lock, table_counts *counts, errinfo *err)
{
    jsonscan s;
    status st = jsonscan_open_fd(&s, fd, err);
    if (st == ST_OK)
        st = flatten(&s, 0, 1, lock, sc, row, ctx, counts, err);
    jsonscan_close(&s);
    return st;
}

/* A tree: dumped to compact JSON, so that it goes through the same walker, twice
 * when there are rows to hand over, so that a failed snapshot hands none. */
status tables_flatten_rows(const json_t *snapshot, tables_row_fn row, void *ctx,
                           table_counts *counts, errinfo *err)
{
    if (!json_is_object(snapshot))
        return err_set(err, ST_JSON, "the snapshot is not a JSON object");
    size_t need = json_dumpb(snapshot, NULL, 0, JSON_COMPACT);
    if (need == 0)
        return err_set(err, ST_JSON, "the snapshot cannot be written as JSON");
    char *text = malloc(need);
    if (!text)
        return err_set(err, ST_NOMEM, "out of memory for a %zu-byte snapshot", need);
    status st;
    size_t len = json_dumpb(snapshot, text, need, JSON_COMPACT);
    if (len == 0 || len > need)
        st = err_set(err, ST_JSON, "the snapshot cannot be written as JSON");
    else {
        jsonscan sc;
        jsonscan_open_mem(&sc, text, len);
        st = flatten(&sc, 0, row != NULL, NULL, NULL, row, ctx, counts, err);
    }
    free(text);
    return st;
}

status tables_row_to_writers(void *writers, table_id table, const tables_value *row, errinfo *err)
{
    pq_writer *const *w = writers;
    return tables_write_row(w[table], table, row, err);
}

status tables_write_row(pq_writer *w, table_id table, const tables_value *row, errinfo *err)
{
    const table_def *def = tables_def(table);
    if (!def)
        return err_set(err, ST_INTERNAL, "no table %d", (int)table);
    /* the row in one call: the writer checks its state and the row's shape once */
    pq_cell v[EV_NCOLS];
    _Static_assert((int)EV_NCOLS >= (int)REP_NCOLS && (int)EV_NCOLS >= (int)REC_NCOLS &&
                       (int)EV_NCOLS >= (int)IV_NCOLS,
                   "events has the most columns");
    size_t n = def->ncols < EV_NCOLS ? def->ncols : EV_NCOLS;
    for (size_t i = 0; i < n; i++)
        v[i] = (pq_cell){row[i].null, row[i].i, row[i].s, row[i].len};
    status st = pq_writer_row(w, v, def->ncols, err);
    if (st != ST_OK)
        err_prefix(err, "table %s", def->name);
    return st;
}

/* ---- `schema` and `schema --sql` ---- */

static const char *parquet_type_text(pq_type t)
{
    switch (t) {
    case PQ_BOOLEAN:
        return "BOOLEAN";
    case PQ_INT32:
        return "INT32";
    case PQ_INT64:
        return "INT64";
    case PQ_STRING:
        return "BYTE_ARRAY STRING (UTF-8)";
    case PQ_TIMESTAMP:
        return "INT64 TIMESTAMP(MICROS, UTC)";
    }
    return "?";
}

void tables_print_schema(FILE *out)
{
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *d = &defs[t];
        fprintf(out, "%s%s: parquet/%s/ingest_date=YYYY-MM-DD/RUN_ID.parquet\n", t ? "\n" : "",
                d->name, d->name);
        fprintf(out, "  newest copy of a row per:");
        for (size_t k = 0; k < d->nkey; k++)
            fprintf(out, "%s %s", k ? "," : "", d->key[k]);
        fprintf(out, " (greatest extracted_utc, then run_id)\n");
        for (size_t i = 0; i < d->ncols; i++)
            fprintf(out, "  %2zu  %-26s %-29s %s\n", i + 1, d->cols[i].name,
                    parquet_type_text(d->cols[i].type),
                    d->cols[i].required ? "never null" : "null");
    }
    fprintf(out, "\nTimestamps are UTC instants; with ATTENDANCE_PARQUET_TIMESTAMPS=int96 they are "
                 "written as INT96 instead.\n");
}

/* Declared lengths (in bytes for the serverless UTF-8 collation, in characters for
 * NVARCHAR): generous for what Graph sends, since a longer value would not fit. */
static int varchar_len(const char *col)
{
    static const struct {
        const char *name;
        int len;
    } lens[] = {
        {"subject", 4000},           {"join_url", 4000},       {"ical_uid", 1000},
        {"online_meeting_id", 1000}, {"organizer_name", 1000}, {"display_name", 1000},
        {"user_upn", 256},           {"event_type", 32},       {"online_meeting_provider", 64},
        {"attendance_status", 32},   {"run_id", 32},           {"role", 64},
    };
    for (size_t i = 0; i < COUNT(lens); i++)
        if (strcmp(lens[i].name, col) == 0)
            return lens[i].len;
    return 400; /* ids, e-mail addresses, record keys */
}

static void print_column_type(FILE *out, const pq_column *c, int dedicated)
{
    switch (c->type) {
    case PQ_BOOLEAN:
        fputs("BIT", out);
        break;
    case PQ_INT32:
        fputs("INT", out);
        break;
    case PQ_INT64:
        fputs("BIGINT", out);
        break;
    case PQ_TIMESTAMP:
        fputs("DATETIME2(6)", out);
        break;
    case PQ_STRING:
        if (dedicated)
            fprintf(out, "NVARCHAR(%d)", varchar_len(c->name));
        else
            fprintf(out, "VARCHAR(%d) COLLATE Latin1_General_100_BIN2_UTF8", varchar_len(c->name));
        break;
    }
}

static void print_tables_ddl(FILE *out, int dedicated)
{
    const char *ds = dedicated ? "attendance_hadoop" : "attendance_storage";
    const char *ff = "attendance_parquet";
    for (int t = 0; t < TBL_COUNT; t++) {
        const table_def *d = &defs[t];
        fprintf(out, "CREATE EXTERNAL TABLE dbo.%s (\n", d->name);
        for (size_t i = 0; i < d->ncols; i++) {
            fprintf(out, "    %s ", d->cols[i].name);
            print_column_type(out, &d->cols[i], dedicated);
            /* NOT NULL is left out: external tables do not enforce it, and not every
             * pool's syntax takes it */
            fprintf(out, "%s%s\n", i + 1 < d->ncols ? "," : "",
                    d->cols[i].required ? " -- never null" : "");
        }
        if (dedicated)
            fprintf(out,
                    ") WITH (LOCATION = '/parquet/%s/', DATA_SOURCE = %s, FILE_FORMAT = %s);\n",
                    d->name, ds, ff);
        else
            fprintf(out,
                    ") WITH (LOCATION = 'parquet/%s/**', DATA_SOURCE = %s, FILE_FORMAT = %s);\n",
                    d->name, ds, ff);
        fputs("GO\n\n", out);

        fprintf(out, "-- the newest copy of each");
        for (size_t k = 0; k < d->nkey; k++)
            fprintf(out, "%s %s", k ? " +" : "", d->key[k]);
        fprintf(out, " (runs overlap, so a row can land more than once)\n");
        fprintf(out, "CREATE VIEW dbo.%s_latest AS\nSELECT ", d->name);
        for (size_t i = 0; i < d->ncols; i++)
            fprintf(out, "%s%s", i ? ", " : "", d->cols[i].name);
        fprintf(out, "\nFROM (\n    SELECT *, ROW_NUMBER() OVER (PARTITION BY ");
        for (size_t k = 0; k < d->nkey; k++)
            fprintf(out, "%s%s", k ? ", " : "", d->key[k]);
        fprintf(out,
                "\n                                 ORDER BY extracted_utc DESC, run_id DESC) "
                "AS copy_rank\n    FROM dbo.%s\n) AS ranked\nWHERE copy_rank = 1;\nGO\n\n",
                d->name);
    }
}

void tables_print_sql(FILE *out)
{
    fputs("-- teams-attendance: Azure Synapse DDL for the Parquet tables.\n"
          "-- Two variants follow, one per kind of pool; run the one you use, in a database\n"
          "-- of that pool (not master). Replace <account>, <container> and <prefix> (the\n"
          "-- ATTENDANCE_PREFIX folder, or nothing). Each table reads every file under\n"
          "-- parquet/<table>/; the *_latest views keep the newest copy of each row.\n"
          "\n"
          "-- =====================================================================\n"
          "-- 1. Serverless SQL pool (native Parquet reader; binds columns by name)\n"
          "-- =====================================================================\n"
          "\n"
          "-- A database master key protects the credential (once per database):\n"
          "-- CREATE MASTER KEY ENCRYPTION BY PASSWORD = '<strong password>';\n"
          "-- GO\n"
          "-- Choose one credential:\n"
          "--   a) the workspace's managed identity (give it Storage Blob Data Reader):\n"
          "CREATE DATABASE SCOPED CREDENTIAL attendance_credential\n"
          "    WITH IDENTITY = 'Managed Identity';\n"
          "GO\n"
          "--   b) a SAS token with read and list rights on the container (no leading '?'):\n"
          "-- CREATE DATABASE SCOPED CREDENTIAL attendance_credential\n"
          "--     WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = '<sas token>';\n"
          "--   c) the caller's own Entra ID identity: create no credential and drop the\n"
          "--      CREDENTIAL line below.\n"
          "\n"
          "CREATE EXTERNAL DATA SOURCE attendance_storage WITH (\n"
          "    LOCATION = 'https://<account>.blob.core.windows.net/<container>/<prefix>',\n"
          "    CREDENTIAL = attendance_credential\n"
          ");\n"
          "GO\n"
          "\n"
          "CREATE EXTERNAL FILE FORMAT attendance_parquet WITH (\n"
          "    FORMAT_TYPE = PARQUET,\n"
          "    DATA_COMPRESSION = 'org.apache.hadoop.io.compress.SnappyCodec'\n"
          ");\n"
          "GO\n"
          "\n"
          "-- Strings are UTF-8: VARCHAR lengths are in bytes with this collation.\n"
          "-- Timestamps are UTC.\n"
          "\n",
          out);
    print_tables_ddl(out, 0);

    fputs("-- =====================================================================\n"
          "-- 2. Dedicated SQL pool (PolyBase Hadoop reader; binds columns by position,\n"
          "--    so the columns stay in file order)\n"
          "-- =====================================================================\n"
          "-- Run the job with ATTENDANCE_PARQUET_TIMESTAMPS=int96 for files this pool\n"
          "-- reads: the Hadoop reader knows Hive's INT96 timestamps, and its support for\n"
          "-- INT64 microsecond timestamps is not documented. The Hadoop reader scans\n"
          "-- folders recursively (no ** needed) and skips files whose names start with\n"
          "-- '_' or '.'. (The pool's native external tables, a preview, would use a data\n"
          "-- source without TYPE = HADOOP and the serverless variant's LOCATION.)\n"
          "\n"
          "-- CREATE MASTER KEY;  -- once per database, when it has none\n"
          "-- GO\n"
          "-- Choose one credential:\n"
          "--   a) the workspace's managed identity (Storage Blob Data Reader), abfss://:\n"
          "CREATE DATABASE SCOPED CREDENTIAL attendance_credential\n"
          "    WITH IDENTITY = 'Managed Service Identity';\n"
          "GO\n"
          "--   b) the storage account key (any IDENTITY string), with wasbs:// or abfss://:\n"
          "-- CREATE DATABASE SCOPED CREDENTIAL attendance_credential\n"
          "--     WITH IDENTITY = 'attendance', SECRET = '<storage account key>';\n"
          "\n"
          "CREATE EXTERNAL DATA SOURCE attendance_hadoop WITH (\n"
          "    TYPE = HADOOP,\n"
          "    LOCATION = 'abfss://<container>@<account>.dfs.core.windows.net/<prefix>',\n"
          "    CREDENTIAL = attendance_credential\n"
          ");\n"
          "GO\n"
          "\n"
          "CREATE EXTERNAL FILE FORMAT attendance_parquet WITH (\n"
          "    FORMAT_TYPE = PARQUET,\n"
          "    DATA_COMPRESSION = 'org.apache.hadoop.io.compress.SnappyCodec'\n"
          ");\n"
          "GO\n"
          "\n",
          out);
    print_tables_ddl(out, 1);
}
