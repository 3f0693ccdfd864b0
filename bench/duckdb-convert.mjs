// The alternative the convert benchmark measures: DuckDB (through @duckdb/node-api)
// turning the same final snapshots into the same four tables, one Parquet file each,
// snappy-compressed, with the SPEC section 7 column rules as far as plain SQL says them.
//
//   node bench/duckdb-convert.mjs SNAPSHOT_DIR OUT_DIR [THREADS [FORMAT]]
//
// FORMAT is read_json's: newline_delimited (the default: a snapshot is one compact
// JSON object on one line, and DuckDB reads that form fastest) or auto.
// Reads SNAPSHOT_DIR/*.json once into a typed temporary table (only the fields the
// tables use; DuckDB still parses every byte), then writes each table with COPY.
// Prints one JSON line: {"rows": {table: n}, "bytes": {table: n}, "phases": {...}}.
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const [dir, out, threads = '2', format = 'newline_delimited'] = process.argv.slice(2);
if (!dir || !out) {
  console.error('usage: duckdb-convert.mjs SNAPSHOT_DIR OUT_DIR [THREADS]');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
const q = (s) => `'${s.replace(/'/g, "''")}'`;

const REPORT = `STRUCT(id VARCHAR, onlineMeetingId VARCHAR, totalParticipantCount INTEGER,
  meetingStartDateTime TIMESTAMPTZ, meetingEndDateTime TIMESTAMPTZ,
  attendanceRecords STRUCT(id VARCHAR, emailAddress VARCHAR, role VARCHAR,
    totalAttendanceInSeconds BIGINT,
    identity STRUCT(id VARCHAR, displayName VARCHAR, tenantId VARCHAR),
    attendanceIntervals STRUCT(joinDateTime TIMESTAMPTZ, leaveDateTime TIMESTAMPTZ,
      durationInSeconds BIGINT)[])[])`;
const EVENT = `STRUCT(id VARCHAR, iCalUId VARCHAR, seriesMasterId VARCHAR, "type" VARCHAR,
  subject VARCHAR, organizer STRUCT(emailAddress STRUCT(name VARCHAR, address VARCHAR)),
  "start" STRUCT(dateTime VARCHAR, timeZone VARCHAR), "end" STRUCT(dateTime VARCHAR, timeZone VARCHAR),
  isAllDay BOOLEAN, isCancelled BOOLEAN, isOnlineMeeting BOOLEAN, isOrganizer BOOLEAN,
  onlineMeetingProvider VARCHAR, onlineMeeting STRUCT(joinUrl VARCHAR),
  onlineMeetingMeta STRUCT(id VARCHAR), attendees STRUCT("type" VARCHAR)[],
  createdDateTime TIMESTAMPTZ, lastModifiedDateTime TIMESTAMPTZ, attendance ${REPORT}[])`;
const COLUMNS = `{user_upn: 'VARCHAR', run_id: 'VARCHAR', extracted_utc: 'TIMESTAMPTZ',
  events: '${EVENT.replace(/\s+/g, ' ')}[]', unmatched_attendance: '${REPORT.replace(/\s+/g, ' ')}[]'}`;

const LOAD = `CREATE TEMP TABLE snap AS
SELECT lower(user_upn) AS user_upn, run_id, extracted_utc, events, unmatched_attendance
FROM read_json(${q(path.join(dir, '*.json'))}, format = ${q(format)}, records = 'true',
  maximum_object_size = 268435456, columns = ${COLUMNS})`;

// reports with the meeting id they are filed under (the event's meeting, else their own)
const REPORTS = `(
  SELECT user_upn, run_id, extracted_utc, event_id, coalesce(nullif(meta_id, ''), r.onlineMeetingId) AS meeting_id, r
  FROM (SELECT user_upn, run_id, extracted_utc, nullif(e.id, '') AS event_id, e.onlineMeetingMeta.id AS meta_id,
               unnest(e.attendance) AS r
        FROM (SELECT user_upn, run_id, extracted_utc, unnest(events) AS e FROM snap))
  UNION ALL
  SELECT user_upn, run_id, extracted_utc, NULL, r.onlineMeetingId, r
  FROM (SELECT user_upn, run_id, extracted_utc, unnest(unmatched_attendance) AS r FROM snap)
) WHERE r.id <> '' AND meeting_id <> ''`;

const RECORDS = `(
  SELECT user_upn, run_id, extracted_utc, meeting_id, r.id AS report_id, rec, pos,
    coalesce(nullif(rec.id, ''), nullif(rec.identity.id, ''), nullif(rec.emailAddress, ''), '#' || pos) AS record_key
  FROM (SELECT *, unnest(r.attendanceRecords) AS rec, generate_subscripts(r.attendanceRecords, 1) - 1 AS pos
        FROM ${REPORTS}))`;

const TIME = (x) => `CAST(CAST(${x}.dateTime AS TIMESTAMP) AS TIMESTAMPTZ)`;

const TABLES = {
  events: `SELECT e.id AS event_id, user_upn, e.iCalUId AS ical_uid, e.seriesMasterId AS series_master_id,
    e."type" AS event_type, e.subject, e.organizer.emailAddress.name AS organizer_name,
    e.organizer.emailAddress.address AS organizer_email, ${TIME('e."start"')} AS start_utc,
    ${TIME('e."end"')} AS end_utc, e.isAllDay AS is_all_day, e.isCancelled AS is_cancelled,
    e.isOnlineMeeting AS is_online_meeting, e.onlineMeetingProvider AS online_meeting_provider,
    e.onlineMeeting.joinUrl AS join_url, e.onlineMeetingMeta.id AS online_meeting_id,
    CAST(len(e.attendees) AS INTEGER) AS attendee_count, e.createdDateTime AS created_utc,
    e.lastModifiedDateTime AS last_modified_utc,
    CASE WHEN e.isOnlineMeeting IS NOT TRUE OR e.onlineMeetingProvider IS DISTINCT FROM 'teamsForBusiness'
              OR coalesce(e.onlineMeeting.joinUrl, '') = '' THEN 'not_online'
         WHEN e.isOrganizer IS NOT TRUE THEN 'not_organizer'
         WHEN e.onlineMeetingMeta IS NULL THEN 'no_meeting'
         WHEN coalesce(len(e.attendance), 0) = 0 THEN 'no_reports'
         ELSE 'fetched' END AS attendance_status,
    run_id, extracted_utc
  FROM (SELECT user_upn, run_id, extracted_utc, unnest(events) AS e FROM snap) WHERE e.id <> ''`,
  attendance_reports: `SELECT r.id AS report_id, meeting_id AS online_meeting_id, event_id, user_upn,
    r.totalParticipantCount AS total_participant_count, r.meetingStartDateTime AS meeting_start_utc,
    r.meetingEndDateTime AS meeting_end_utc, run_id, extracted_utc
  FROM ${REPORTS}`,
  attendance_records: `SELECT record_key, rec.id AS record_id, report_id, meeting_id AS online_meeting_id,
    user_upn, rec.emailAddress AS email, rec.identity.displayName AS display_name,
    rec.identity.id AS identity_id, rec.identity.tenantId AS identity_tenant_id, rec.role,
    rec.totalAttendanceInSeconds AS total_attendance_seconds,
    list_min([x.joinDateTime FOR x IN rec.attendanceIntervals]) AS first_join_utc,
    list_max([x.leaveDateTime FOR x IN rec.attendanceIntervals]) AS last_leave_utc,
    CAST(coalesce(len(rec.attendanceIntervals), 0) AS INTEGER) AS interval_count, run_id, extracted_utc
  FROM ${RECORDS}`,
  attendance_intervals: `SELECT report_id, record_key, rec.identity.id AS identity_id, rec.emailAddress AS email,
    CAST(ipos AS INTEGER) AS interval_index, iv.joinDateTime AS join_utc, iv.leaveDateTime AS leave_utc,
    iv.durationInSeconds AS duration_seconds, run_id, extracted_utc
  FROM (SELECT *, unnest(rec.attendanceIntervals) AS iv, generate_subscripts(rec.attendanceIntervals, 1) - 1 AS ipos
        FROM ${RECORDS})`,
};

const inst = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const con = await inst.connect();
await con.run("SET TimeZone = 'UTC'");
await con.run('SET preserve_insertion_order = false');
const phases = {};
let t = performance.now();
await con.run(LOAD);
phases.load_s = (performance.now() - t) / 1000;
const rows = {}, bytes = {};
for (const [name, sql] of Object.entries(TABLES)) {
  const file = path.join(out, `${name}.parquet`);
  t = performance.now();
  const res = await con.runAndReadAll(`COPY (${sql}) TO ${q(file)} (FORMAT parquet, COMPRESSION snappy)`);
  phases[`${name}_s`] = (performance.now() - t) / 1000;
  rows[name] = Number(res.getRows()[0][0]);
  bytes[name] = fs.statSync(file).size;
}
console.log(JSON.stringify({ rows, bytes, phases }));
