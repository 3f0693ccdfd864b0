/* The four output tables (SPEC section 7) declared once as data, the flattener from
 * a final snapshot to their rows, and the `schema` / `schema --sql` printers.
 * See tables.h. */
#include "tables/tables.h"

#include <stdlib.h>
#include <string.h>

#define S PQ_STRING
#define T PQ_TIMESTAMP
#define I32 PQ_INT32
#define I64 PQ_INT64
#define B PQ_BOOLEAN

static const pq_column events_cols[] = {
    {"event_id", S, 1},
    {"user_upn", S, 1},
    {"ical_uid", S, 0},
    {"series_master_id", S, 0},
    {"event_type", S, 0},
    {"subject", S, 0},
    {"organizer_name", S, 0},
    {"organizer_email", S, 0},
    {"start_utc", T, 0},
    {"end_utc", T, 0},
    {"is_all_day", B, 0},
    {"is_cancelled", B, 0},
    {"is_online_meeting", B, 0},
    {"online_meeting_provider", S, 0},
    {"join_url", S, 0},
    {"online_meeting_id", S, 0},
    {"attendee_count", I32, 0},
    {"created_utc", T, 0},
    {"last_modified_utc", T, 0},
    {"attendance_status", S, 1},
    {"run_id", S, 1},
    {"extracted_utc", T, 1},
};

static const pq_column reports_cols[] = {
    {"report_id", S, 1},
    {"online_meeting_id", S, 1},
    {"event_id", S, 0},
    {"user_upn", S, 1},
    {"total_participant_count", I32, 0},
    {"meeting_start_utc", T, 0},
    {"meeting_end_utc", T, 0},
    {"run_id", S, 1},
    {"extracted_utc", T, 1},
};

static const pq_column records_cols[] = {
    {"record_key", S, 1},
    {"record_id", S, 0},
    {"report_id", S, 1},
    {"online_meeting_id", S, 1},
    {"user_upn", S, 1},
    {"email", S, 0},
    {"display_name", S, 0},
    {"identity_id", S, 0},
    {"identity_tenant_id", S, 0},
    {"role", S, 0},
    {"total_attendance_seconds", I64, 0},
    {"first_join_utc", T, 0},
    {"last_leave_utc", T, 0},
    {"interval_count", I32, 1},
    {"run_id", S, 1},
    {"extracted_utc", T, 1},
};

static const pq_column intervals_cols[] = {
    {"report_id", S, 1},     {"record_key", S, 1},         {"identity_id", S, 0},
    {"email", S, 0},         {"interval_index", I32, 1},   {"join_utc", T, 0},
    {"leave_utc", T, 0},     {"duration_seconds", I64, 0}, {"run_id", S, 1},
    {"extracted_utc", T, 1},
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

static const table_def defs[TBL_COUNT] = {
    {"events", events_cols, COUNT(events_cols), events_key, COUNT(events_key)},
    {"attendance_reports", reports_cols, COUNT(reports_cols), reports_key, COUNT(reports_key)},
    {"attendance_records", records_cols, COUNT(records_cols), records_key, COUNT(records_key)},
    {"attendance_intervals", intervals_cols, COUNT(intervals_cols), intervals_key,
     COUNT(intervals_key)},
};

const table_def *tables_def(table_id id)
{
    if ((int)id < 0 || id >= TBL_COUNT)
        return NULL;
    return &defs[id];
}
