// The four Parquet tables as SPEC section 7 lists them, the column rules written
// again from the SPEC in JavaScript (final snapshots in, expected rows out), and three
// independent readers (DuckDB, arrow-rs through parquet-wasm, hyparquet) that bring
// every value to one form. Shared by the convert and run-tables suites.
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { DuckDBInstance } from '@duckdb/node-api';
import * as parquetWasm from 'parquet-wasm/node';
import { tableFromIPC } from 'apache-arrow';
import { parquetReadObjects, parquetMetadata } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

import { linkFromSource } from './join-links.js';

// ---- the tables as SPEC section 7 lists them ----

export const S = 'string', T = 'timestamp', I = 'int32', L = 'int64', B = 'boolean';
export const TABLES = {
  events: [
    ['event_id', S, 1], ['user_upn', S, 1], ['ical_uid', S, 0], ['series_master_id', S, 0],
    ['event_type', S, 0], ['subject', S, 0], ['organizer_name', S, 0], ['organizer_email', S, 0],
    ['start_utc', T, 0], ['end_utc', T, 0], ['is_all_day', B, 0], ['is_cancelled', B, 0],
    ['is_online_meeting', B, 0], ['online_meeting_provider', S, 0], ['join_url', S, 0],
    ['online_meeting_id', S, 0], ['attendee_count', I, 0], ['created_utc', T, 0],
    ['last_modified_utc', T, 0], ['attendance_status', S, 1], ['run_id', S, 1],
    ['extracted_utc', T, 1],
  ],
  attendance_reports: [
    ['report_id', S, 1], ['online_meeting_id', S, 1], ['event_id', S, 0], ['user_upn', S, 1],
    ['total_participant_count', I, 0], ['meeting_start_utc', T, 0], ['meeting_end_utc', T, 0],
    ['run_id', S, 1], ['extracted_utc', T, 1],
  ],
  attendance_records: [
    ['record_key', S, 1], ['record_id', S, 0], ['report_id', S, 1], ['online_meeting_id', S, 1],
    ['user_upn', S, 1], ['email', S, 0], ['display_name', S, 0], ['identity_id', S, 0],
    ['identity_tenant_id', S, 0], ['role', S, 0], ['total_attendance_seconds', L, 0],
    ['first_join_utc', T, 0], ['last_leave_utc', T, 0], ['interval_count', I, 1],
    ['run_id', S, 1], ['extracted_utc', T, 1],
  ],
  attendance_intervals: [
    ['report_id', S, 1], ['record_key', S, 1], ['identity_id', S, 0], ['email', S, 0],
    ['interval_index', I, 1], ['join_utc', T, 0], ['leave_utc', T, 0],
    ['duration_seconds', L, 0], ['run_id', S, 1], ['extracted_utc', T, 1],
  ],
};
export const TABLE_NAMES = Object.keys(TABLES);

// ---- the rules, written again from the SPEC ----

// Graph times: 0-7 (here up to 9) fractional digits, with or without Z; digits past
// the 6th are dropped. Returns microseconds since the epoch as a BigInt.
export function micros(s) {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)?$/.exec(s);
  if (!m) throw new Error(`not a time: ${s}`);
  const sec = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
  let off = 0;
  if (m[8] && m[8] !== 'Z') off = (m[8][0] === '-' ? -1 : 1) * (+m[8].slice(1, 3) * 3600 + +m[8].slice(4) * 60);
  const frac = BigInt((m[7] || '').padEnd(6, '0').slice(0, 6));
  return BigInt(sec - off) * 1000000n + frac;
}
const timeOrNull = (v) => (typeof v === 'string' ? micros(v) : null);
const strOrNull = (v) => (typeof v === 'string' ? v : null);
const boolOrNull = (v) => (typeof v === 'boolean' ? v : null);
const intOrNull = (v) => (Number.isInteger(v) ? v : null);
const bigOrNull = (v) => (Number.isInteger(v) ? BigInt(v) : null);
const nonEmpty = (v) => typeof v === 'string' && v.length > 0;

function eventTime(dtz) {
  if (!dtz || dtz.dateTime == null) return null;
  assert.equal(dtz.timeZone, 'UTC', 'test snapshots are in UTC');
  return micros(dtz.dateTime);
}

export function expectedRows(snapshots) {
  const out = Object.fromEntries(TABLE_NAMES.map((t) => [t, []]));
  for (const snap of snapshots) {
    const upn = snap.user_upn.replace(/[A-Z]/g, (c) => c.toLowerCase());
    const tail = [snap.run_id, micros(snap.extracted_utc)];
    const report = (rep, eventId, meetingId) => {
      if (!nonEmpty(rep.id) || !nonEmpty(meetingId)) return;
      out.attendance_reports.push([rep.id, meetingId, eventId, upn,
        intOrNull(rep.totalParticipantCount), timeOrNull(rep.meetingStartDateTime),
        timeOrNull(rep.meetingEndDateTime), ...tail]);
      (rep.attendanceRecords || []).forEach((rec, pos) => {
        const identity = rec.identity || {};
        const key = [rec.id, identity.id, rec.emailAddress].find(nonEmpty) ?? `#${pos}`;
        const intervals = rec.attendanceIntervals || [];
        const joins = intervals.map((iv) => timeOrNull(iv.joinDateTime)).filter((x) => x !== null);
        const leaves = intervals.map((iv) => timeOrNull(iv.leaveDateTime)).filter((x) => x !== null);
        out.attendance_records.push([key, strOrNull(rec.id), rep.id, meetingId, upn,
          strOrNull(rec.emailAddress), strOrNull(identity.displayName), strOrNull(identity.id),
          strOrNull(identity.tenantId), strOrNull(rec.role), bigOrNull(rec.totalAttendanceInSeconds),
          joins.length ? joins.reduce((a, b) => (b < a ? b : a)) : null,
          leaves.length ? leaves.reduce((a, b) => (b > a ? b : a)) : null,
          intervals.length, ...tail]);
        intervals.forEach((iv, index) => {
          out.attendance_intervals.push([rep.id, key, strOrNull(identity.id),
            strOrNull(rec.emailAddress), index, timeOrNull(iv.joinDateTime),
            timeOrNull(iv.leaveDateTime), bigOrNull(iv.durationInSeconds), ...tail]);
        });
      });
    };
    for (const ev of snap.events || []) {
      let joinUrl = ev.onlineMeeting?.joinUrl;
      const meta = ev.onlineMeetingMeta ?? null;
      const attendance = ev.attendance || [];
      let teams = ev.isOnlineMeeting === true && ev.onlineMeetingProvider === 'teamsForBusiness' && nonEmpty(joinUrl);
      // a link the run found outside onlineMeeting (SPEC 4): joinUrlSource names the field
      if (!teams && !nonEmpty(joinUrl)) {
        const found = linkFromSource(ev);
        if (found) [joinUrl, teams] = [found, true];
      }
      let status;
      if (!teams) status = 'not_online';
      else if (ev.isOrganizer !== true) status = 'not_organizer';
      else if (!meta) status = 'no_meeting';
      else if (attendance.length === 0) status = 'no_reports';
      else status = 'fetched';
      if (nonEmpty(ev.id)) {
        out.events.push([ev.id, upn, strOrNull(ev.iCalUId), strOrNull(ev.seriesMasterId),
          strOrNull(ev.type), strOrNull(ev.subject), strOrNull(ev.organizer?.emailAddress?.name),
          strOrNull(ev.organizer?.emailAddress?.address), eventTime(ev.start), eventTime(ev.end),
          boolOrNull(ev.isAllDay), boolOrNull(ev.isCancelled), boolOrNull(ev.isOnlineMeeting),
          strOrNull(ev.onlineMeetingProvider), strOrNull(joinUrl), strOrNull(meta?.id),
          Array.isArray(ev.attendees) ? ev.attendees.length : null, timeOrNull(ev.createdDateTime),
          timeOrNull(ev.lastModifiedDateTime), status, ...tail]);
      }
      for (const rep of attendance) report(rep, nonEmpty(ev.id) ? ev.id : null, meta?.id ?? rep.onlineMeetingId);
    }
    for (const rep of snap.unmatched_attendance || []) report(rep, null, rep.onlineMeetingId);
  }
  return out;
}

// ---- readers, each bringing values to one form: strings, booleans, numbers for
// INT32, BigInt for INT64 and for timestamps (microseconds) ----

let duck;

// Opens the in-memory DuckDB the readers use (once).
export async function openDuck() {
  duck ??= await (await DuckDBInstance.create(':memory:')).connect();
  return duck;
}

export async function readDuck(file, cols) {
  const sql = (q) => duck.runAndReadAll(q);
  const schema = (await sql(`SELECT name, type, repetition_type, converted_type FROM parquet_schema('${file}') WHERE name <> 'schema'`)).getRows();
  const res = await sql(`SELECT * FROM read_parquet('${file}', hive_partitioning = false)`);
  assert.deepEqual(res.columnNames(), cols.map((c) => c[0]), 'DuckDB sees the columns in order');
  const rows = res.getRows().map((row) => row.map((v, i) => {
    if (v === null) return null;
    if (cols[i][1] === T) return v.micros;
    if (cols[i][1] === L) return BigInt(v);
    return v;
  }));
  return { rows, schema };
}

export function readArrow(file, cols) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const table = tableFromIPC(parquetWasm.readParquet(bytes).intoIPCStream());
  assert.deepEqual(table.schema.fields.map((f) => f.name), cols.map((c) => c[0]), 'arrow sees the columns in order');
  table.schema.fields.forEach((f, i) => assert.equal(f.nullable, !cols[i][2], `arrow: ${f.name} nullability`));
  const columns = cols.map(([name, kind]) => {
    const vec = table.getChild(name);
    const values = [];
    if (kind === T) {
      // raw values, in the unit the file declares: get() would round to milliseconds
      const unit = vec.type.unit; // 0 s, 1 ms, 2 us, 3 ns
      for (const d of vec.data) {
        for (let i = 0; i < d.length; i++) {
          const valid = d.nullCount === 0 || ((d.nullBitmap[(d.offset + i) >> 3] >> ((d.offset + i) & 7)) & 1);
          const raw = BigInt(d.values[d.offset + i]);
          values.push(valid ? (unit === 3 ? raw / 1000n : unit === 2 ? raw : raw * 1000n) : null);
        }
      }
    } else {
      for (let i = 0; i < vec.length; i++) {
        const v = vec.get(i);
        values.push(v === null || v === undefined ? null : kind === L ? BigInt(v) : v);
      }
    }
    return values;
  });
  return Array.from({ length: table.numRows }, (_, r) => columns.map((c) => c[r]));
}

export async function readHyparquet(file, cols) {
  const buf = fs.readFileSync(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const meta = parquetMetadata(ab);
  const objects = await parquetReadObjects({
    file: ab,
    compressors,
    parsers: { timestampFromMicroseconds: (us) => BigInt(us), timestampFromNanoseconds: (ns) => BigInt(ns) / 1000n },
  });
  const rows = objects.map((o) => cols.map(([name, kind]) => {
    const v = o[name];
    if (v === null || v === undefined) return null;
    return kind === L ? BigInt(v) : v;
  }));
  return { rows, meta };
}

export function checkSchema(table, duckSchema, hypMeta, int96) {
  const cols = TABLES[table];
  const physical = { [S]: 'BYTE_ARRAY', [T]: int96 ? 'INT96' : 'INT64', [I]: 'INT32', [L]: 'INT64', [B]: 'BOOLEAN' };
  const converted = { [S]: 'UTF8', [T]: int96 ? null : 'TIMESTAMP_MICROS', [I]: 'INT_32', [L]: 'INT_64', [B]: null };
  assert.deepEqual(duckSchema.map((r) => r[0]), cols.map((c) => c[0]));
  cols.forEach(([name, kind, required], i) => {
    const [, type, rep, conv] = duckSchema[i];
    assert.equal(type, physical[kind], `${table}.${name} physical type`);
    assert.equal(rep, required ? 'REQUIRED' : 'OPTIONAL', `${table}.${name} repetition`);
    assert.equal(conv, converted[kind], `${table}.${name} converted type`);
    const el = hypMeta.schema[i + 1];
    assert.equal(el.name, name);
    if (kind === T && !int96) assert.deepEqual(el.logical_type, { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' });
    if (kind === S) assert.deepEqual(el.logical_type, { type: 'STRING' });
  });
}

export function assertRows(reader, table, got, want) {
  assert.equal(got.length, want.length, `${reader}: ${table} row count`);
  for (let r = 0; r < want.length; r++) {
    for (let c = 0; c < want[r].length; c++) {
      if (got[r][c] !== want[r][c]) {
        assert.fail(`${reader}: ${table} row ${r} column ${TABLES[table][c][0]}: got ${String(got[r][c])} (${typeof got[r][c]}), want ${String(want[r][c])} (${typeof want[r][c]})`);
      }
    }
  }
}

export async function checkAllReaders(files, expected, int96 = false) {
  for (const table of TABLE_NAMES) {
    const cols = TABLES[table];
    const d = await readDuck(files[table], cols);
    const h = await readHyparquet(files[table], cols);
    checkSchema(table, d.schema, h.meta, int96);
    assertRows('duckdb', table, d.rows, expected[table]);
    assertRows('parquet-wasm', table, readArrow(files[table], cols), expected[table]);
    assertRows('hyparquet', table, h.rows, expected[table]);
  }
}
