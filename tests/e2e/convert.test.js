// End-to-end: `teams-attendance convert` turns final snapshots into the four Parquet
// tables, and three independent readers (DuckDB, arrow-rs through parquet-wasm,
// hyparquet) read back, value for value, what an independent implementation of the
// SPEC section 7 rules (tables-rules.js, in JavaScript) expects from the same JSON.
// Also: `schema`, `schema --sql`, and convert's exit statuses.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  TABLES,
  TABLE_NAMES,
  micros,
  expectedRows,
  openDuck,
  checkAllReaders,
} from './tables-rules.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.TA_BIN || path.join(REPO, 'build/teams-attendance');

// ---- snapshots: Microsoft's documented examples, set in a final snapshot ----

const JOIN_URL = 'https://teams.microsoft.com/l/meetup-join/19%3ameeting_ODkyNWFmNGYtZjBjYS00MDdlLTllOWQtN2E3MzJlNjM0ZWRj%40thread.v2/0?context=%7b%22Tid%22%3a%2298a79ebe-74bf-4e07-a017-7b410848cb32%22%2c%22Oid%22%3a%2264339082-ed84-4b0b-b4ab-004ae54f3747%22%7d';
const MEETING_ID = 'dc17674c-81d9-4adb-bfb2-8f6a442e4622_19:meeting_MGQ4MDQyNTEtNTQVkODYxODYzMmY2@thread.v2';

function teamsEvent(id, extra) {
  return {
    '@odata.etag': 'W/"NEXywgsVrkeNsFsyVyRrtAAASBUEsA=="',
    id,
    createdDateTime: '2019-11-15T01:55:54.8022848Z',
    lastModifiedDateTime: '2019-11-15T01:55:56.5162924Z',
    iCalUId: '040000008200E00074C5B7101A82E0080000000076B29D94B32CD6010000000000000000100000005F31C591C3C328459653D025BD277439',
    subject: 'Prep for customer meeting',
    isAllDay: false,
    isCancelled: false,
    isOrganizer: true,
    seriesMasterId: null,
    type: 'singleInstance',
    onlineMeetingUrl: null,
    isOnlineMeeting: true,
    onlineMeetingProvider: 'teamsForBusiness',
    start: { dateTime: '2021-10-05T04:30:00.0000000', timeZone: 'UTC' },
    end: { dateTime: '2021-10-05T05:30:00.0000000', timeZone: 'UTC' },
    attendees: [{ type: 'required', status: { response: 'none', time: '0001-01-01T00:00:00Z' }, emailAddress: { name: 'Adele Vance', address: 'AdeleV@contoso.OnMicrosoft.com' } }],
    organizer: { emailAddress: { name: 'Alex Wilber', address: 'AlexW@contoso.OnMicrosoft.com' } },
    onlineMeeting: { joinUrl: JOIN_URL, conferenceId: '291633251', tollNumber: '+1 323-555-0166' },
    onlineMeetingMeta: null,
    attendance: [],
    ...extra,
  };
}

function snapshotA() {
  const meta = {
    id: MEETING_ID,
    creationDateTime: '2020-09-29T22:35:33.1594516Z',
    startDateTime: '2020-09-29T22:35:31.389759Z',
    endDateTime: '2020-09-29T23:35:31.389759Z',
    joinWebUrl: JOIN_URL,
    subject: null,
  };
  const report = {
    id: 'c9b6db1c-d5eb-427d-a5c0-20088d9b22d7',
    totalParticipantCount: 5,
    meetingStartDateTime: '2021-10-05T04:38:23.945Z',
    meetingEndDateTime: '2021-10-05T04:43:49.77Z',
    attendanceRecords: [
      {
        emailAddress: 'frederick.cormier@contoso.com',
        totalAttendanceInSeconds: 1152,
        role: 'Presenter',
        identity: { id: 'dc17674c-81d9-4adb-bfb2-8f6a442e4623', displayName: 'Frédérick Cormier', tenantId: null },
        attendanceIntervals: [
          { joinDateTime: '2021-03-16T18:59:52.2782182Z', leaveDateTime: '2021-03-16T19:06:47.7218491Z', durationInSeconds: 415 },
          { joinDateTime: '2021-03-16T19:09:23.9834702Z', leaveDateTime: '2021-03-16T19:16:31.1381195Z', durationInSeconds: 427 },
          { joinDateTime: '2021-03-16T19:20:27.7094382Z', leaveDateTime: '2021-03-16T19:25:37.7121956Z', durationInSeconds: 310 },
        ],
      },
      {
        id: 'record-7f3e',
        emailAddress: 'zoë.müller@fabrikam.de',
        totalAttendanceInSeconds: 65,
        role: 'Attendee',
        identity: { id: '57caaef9-5ed0-48d5-8862-e5abfa71b3e9', displayName: '王秀英 🙂', tenantId: '909c6581-5130-43e9-88f3-fcb3582cde38' },
        attendanceIntervals: [
          { joinDateTime: '2021-10-05T04:40:00.1Z', leaveDateTime: '2021-10-05T04:41:05.12Z', durationInSeconds: 65 },
        ],
      },
      {
        emailAddress: null,
        totalAttendanceInSeconds: 30,
        role: 'Attendee',
        identity: { id: null, displayName: 'Dial-in user', tenantId: null },
        attendanceIntervals: [
          { joinDateTime: '2021-10-05T04:39:00Z', leaveDateTime: null, durationInSeconds: null },
        ],
      },
      {
        emailAddress: 'guest@example.com',
        role: 'Attendee',
        identity: { displayName: null },
        attendanceIntervals: [],
      },
    ],
  };
  const recurring = {
    id: '2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89',
    totalParticipantCount: 2,
    meetingStartDateTime: '2021-10-04T23:13:31.658Z',
    meetingEndDateTime: '2021-10-04T23:18:57.563Z',
    onlineMeetingId: MEETING_ID,
    attendanceRecords: [
      {
        emailAddress: 'frederick.cormier@contoso.com', totalAttendanceInSeconds: 322, role: 'Organizer',
        identity: { id: 'dc17674c-81d9-4adb-bfb2-8f6a442e4623', displayName: 'Frederick Cormier', tenantId: null },
        attendanceIntervals: [{ joinDateTime: '2021-10-05T04:38:27.6027225Z', leaveDateTime: '2021-10-05T04:43:49.7702391Z', durationInSeconds: 322 }],
      },
      {
        emailAddress: 'lisa.adkins@contoso.com', totalAttendanceInSeconds: 314, role: 'Presenter',
        identity: { id: '57caaef9-5ed0-48d5-8862-e5abfa71b3e9', displayName: 'Lisa Adkins', tenantId: null },
        attendanceIntervals: [{ joinDateTime: '2021-10-04T23:13:43.3776519Z', leaveDateTime: '2021-10-04T23:18:57.5639338Z', durationInSeconds: 314 }],
      },
    ],
  };
  return {
    user_upn: 'AlexW@contoso.OnMicrosoft.com',
    run_id: '20211005T060000Z-3f9a1c',
    window_start: '2021-10-01T00:00:00Z',
    window_end: '2021-10-05T06:00:00Z',
    extracted_utc: '2021-10-05T06:00:00Z',
    events: [
      teamsEvent('AAMkADAAABIGYDZAAA=', { subject: 'Prép for customer meeting — 顧客', onlineMeetingMeta: meta, attendance: [report] }),
      teamsEvent('AAMkAGIAAAoZDOFAAA=', {
        subject: 'Orientation ', isOnlineMeeting: false, onlineMeetingProvider: 'unknown',
        onlineMeeting: null, isAllDay: true, isCancelled: true, type: 'occurrence',
        seriesMasterId: 'AAMkAGIAAAoZDOFAAB=', attendees: [],
        start: { dateTime: '2021-10-04T00:00:00.0000000', timeZone: 'UTC' },
        end: { dateTime: '2021-10-05T00:00:00.0000000', timeZone: 'UTC' },
      }),
      teamsEvent('AAMk-not-organizer', { isOrganizer: false, attendees: null, organizer: { emailAddress: { name: 'Someone Else', address: 'someone@fabrikam.com' } } }),
      teamsEvent('AAMk-no-meeting', { subject: null, createdDateTime: null }),
      teamsEvent('AAMk-no-reports', { onlineMeetingMeta: meta, start: { dateTime: '2021-10-03T10:00:00', timeZone: 'UTC' } }),
      teamsEvent('AAMk-skype', { onlineMeetingProvider: 'skypeForBusiness' }),
    ],
    unmatched_attendance: [recurring],
  };
}

function snapshotB() {
  return {
    user_upn: 'Lisa.Adkins@Contoso.COM',
    run_id: '20211005T061500Z-00beef',
    window_start: '2021-10-01T00:00:00Z',
    window_end: '2021-10-05T06:15:00Z',
    extracted_utc: '2021-10-05T06:15:00.5Z',
    events: [
      { subject: 'an event Graph sent without id: left out of the tables' },
      teamsEvent('AAMk-lisa', {
        onlineMeetingMeta: { id: 'MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ' },
        attendance: [{
          id: 'report-lisa', totalParticipantCount: 1,
          meetingStartDateTime: '2021-10-05T04:38:23Z', meetingEndDateTime: null,
          attendanceRecords: [{
            id: '', emailAddress: '', identity: { id: '', tenantId: 'x' }, role: 'Organizer', totalAttendanceInSeconds: 0,
            attendanceIntervals: [{ joinDateTime: '2021-10-05T04:38:23', leaveDateTime: '2021-10-05T04:38:23', durationInSeconds: 0 }],
          }],
        }],
      }),
    ],
    unmatched_attendance: [],
  };
}

// Many records, to cross pages and let the writer choose dictionaries or not.
function bulkSnapshot(n) {
  const records = [];
  for (let i = 0; i < n; i++) {
    const k = i % 7;
    const intervals = [];
    for (let j = 0; j < (i % 4); j++) {
      const t = Date.UTC(2021, 9, 5, 4, 0, 0) + i * 1000 + j * 600000;
      intervals.push({
        joinDateTime: new Date(t).toISOString().replace('Z', `${String(i % 10000).padStart(4, '0')}Z`),
        leaveDateTime: j === 2 ? null : new Date(t + 300000).toISOString(),
        durationInSeconds: j === 2 ? null : 300,
      });
    }
    records.push({
      ...(k === 0 ? { id: `rec-${i}` } : {}),
      emailAddress: k === 3 ? null : `user${i}@contoso.com`,
      totalAttendanceInSeconds: k === 5 ? null : i * 3,
      role: ['Attendee', 'Presenter', 'Organizer', 'None'][i % 4],
      identity: { id: k === 1 ? null : `id-${i % 5000}`, displayName: `Name ${i} ü`, tenantId: k === 2 ? null : 'tenant-1' },
      attendanceIntervals: intervals,
    });
  }
  return {
    user_upn: 'bulk@contoso.com', run_id: '20211006T000000Z-123456', window_start: '2021-10-05T00:00:00Z',
    window_end: '2021-10-06T00:00:00Z', extracted_utc: '2021-10-06T00:00:00Z',
    events: [teamsEvent('AAMk-bulk', {
      onlineMeetingMeta: { id: 'bulk-meeting' },
      attendance: [{ id: 'bulk-report', totalParticipantCount: n, meetingStartDateTime: '2021-10-05T04:00:00Z', meetingEndDateTime: '2021-10-05T09:00:00Z', attendanceRecords: records }],
    })],
    unmatched_attendance: [],
  };
}

// ---- running the binary ----

function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AZURE_|ATTENDANCE_|SGA_UPN|GRAPH_|LOG_|tenant$|client_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, LOG_FORMAT: 'json', ...extra };
}

function run(args, env = {}) {
  const r = spawnSync(BIN, args, { env: cleanEnv(env), encoding: 'utf8', timeout: 120000 });
  if (r.error) throw r.error;
  return r;
}

function listFiles(dir) {
  const found = [];
  const walk = (d) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else found.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return found.sort();
}

function utcDate(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

// Runs convert and returns {table: path}, checking the layout on the way.
function convert(tmp, inputs, env = {}) {
  const out = fs.mkdtempSync(path.join(tmp, 'out-'));
  const before = Date.now();
  const r = run(['convert', ...inputs, '--output-dir', out], env);
  const afterMs = Date.now();
  assert.equal(r.status, 0, `convert failed (${r.status}): ${r.stderr}`);
  const files = listFiles(out);
  assert.equal(files.length, 4, `four files, got ${files.join(', ')}`);
  const byTable = {};
  let runId = null;
  for (const f of files) {
    const m = /^parquet\/([a-z_]+)\/ingest_date=(\d{4}-\d{2}-\d{2})\/(\d{8}T\d{6}Z-[0-9a-f]{6})\.parquet$/.exec(f);
    assert.ok(m, `unexpected file ${f}`);
    assert.ok([utcDate(before), utcDate(afterMs)].includes(m[2]), `ingest_date ${m[2]} is today (UTC)`);
    // the run id is the start time: same date, within the run's seconds
    assert.equal(m[3].slice(0, 8), m[2].replaceAll('-', ''));
    const t = Date.UTC(+m[3].slice(0, 4), +m[3].slice(4, 6) - 1, +m[3].slice(6, 8), +m[3].slice(9, 11), +m[3].slice(11, 13), +m[3].slice(13, 15));
    assert.ok(t >= Math.floor(before / 1000) * 1000 && t <= afterMs, 'run id holds the start time');
    runId ??= m[3];
    assert.equal(m[3], runId, 'one run id for the four files');
    byTable[m[1]] = path.join(out, f);
  }
  assert.deepEqual(Object.keys(byTable).sort(), [...TABLE_NAMES].sort());
  return byTable;
}

// ---- the tests ----

describe('convert', () => {
  let tmp;
  let inputA;
  let inputB;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ta-convert-'));
    inputA = path.join(tmp, 'a.json');
    inputB = path.join(tmp, 'b.json');
    fs.writeFileSync(inputA, JSON.stringify(snapshotA(), null, 2));
    fs.writeFileSync(inputB, JSON.stringify(snapshotB()));
    await openDuck();
  });

  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the expectations cover every rule', () => {
    const e = expectedRows([snapshotA(), snapshotB()]);
    assert.deepEqual(e.events.map((r) => r[19]), ['fetched', 'not_online', 'not_organizer', 'no_meeting', 'no_reports', 'not_online', 'fetched']);
    assert.deepEqual(e.attendance_records.map((r) => r[0]), ['dc17674c-81d9-4adb-bfb2-8f6a442e4623', 'record-7f3e', '#2', 'guest@example.com', 'dc17674c-81d9-4adb-bfb2-8f6a442e4623', '57caaef9-5ed0-48d5-8862-e5abfa71b3e9', '#0']);
    assert.equal(e.attendance_reports[1][2], null, 'the unmatched report has no event');
    assert.equal(micros('2021-03-16T18:59:52.2782182Z'), 1615921192278218n);
  });

  for (const [label, env, int96] of [
    ['snappy (default)', {}, false],
    ['zstd', { ATTENDANCE_PARQUET_COMPRESSION: 'zstd' }, false],
    ['uncompressed', { ATTENDANCE_PARQUET_COMPRESSION: 'none' }, false],
    ['INT96 timestamps', { ATTENDANCE_PARQUET_TIMESTAMPS: 'int96' }, true],
  ]) {
    test(`two snapshots, ${label}: three readers agree with the rules`, async () => {
      const files = convert(tmp, [inputA, inputB], env);
      await checkAllReaders(files, expectedRows([snapshotA(), snapshotB()]), int96);
    });
  }

  test('a larger snapshot (pages, dictionaries, nulls)', async () => {
    const bulk = bulkSnapshot(30000);
    const input = path.join(tmp, 'bulk.json');
    fs.writeFileSync(input, JSON.stringify(bulk));
    const files = convert(tmp, [input]);
    const expected = expectedRows([bulk]);
    assert.equal(expected.attendance_records.length, 30000);
    await checkAllReaders(files, expected);
  });

  test('a snapshot with no events gives four valid empty files', async () => {
    const input = path.join(tmp, 'empty.json');
    fs.writeFileSync(input, JSON.stringify({ user_upn: 'x@y.z', run_id: 'R', window_start: '2021-10-01T00:00:00Z', window_end: '2021-10-02T00:00:00Z', extracted_utc: '2021-10-02T00:00:00Z', events: [], unmatched_attendance: [] }));
    const files = convert(tmp, [input]);
    await checkAllReaders(files, Object.fromEntries(TABLE_NAMES.map((t) => [t, []])));
  });

  test('an input it cannot read: exit 1, named, nothing written', () => {
    const out = fs.mkdtempSync(path.join(tmp, 'bad-'));
    const missing = path.join(tmp, 'no-such-snapshot.json');
    let r = run(['convert', inputA, missing, '--output-dir', out]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /no-such-snapshot\.json/);
    assert.deepEqual(listFiles(out), []);

    const broken = path.join(tmp, 'broken.json');
    fs.writeFileSync(broken, '{"user_upn": "x", "events": [');
    r = run(['convert', broken, '--output-dir', out]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /broken\.json/);
    assert.deepEqual(listFiles(out), []);
  });

  // A time in another zone is a value of the wrong shape: null in the table, with a
  // warning naming the event and the zone; the rest of the file converts.
  test('a snapshot event in another zone: exit 0, the time is null, a warning names the event and the zone', () => {
    const out = fs.mkdtempSync(path.join(tmp, 'tz-'));
    const snap = snapshotA();
    snap.events[3].end = { dateTime: '2021-10-05T05:30:00.0000000', timeZone: 'Pacific Standard Time' };
    const input = path.join(tmp, 'pst.json');
    fs.writeFileSync(input, JSON.stringify(snap));
    const r = run(['convert', inputB, input, '--output-dir', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /AAMk-no-meeting/);
    assert.match(r.stderr, /Pacific Standard Time/);
    assert.match(r.stderr, /end\.dateTime/);
    assert.equal(listFiles(out).filter((f) => f.endsWith('.parquet')).length, 4);
  });

  test('usage: no --output-dir is exit 2', () => {
    const r = run(['convert', inputA]);
    assert.equal(r.status, 2, r.stderr);
  });
});

describe('schema', () => {
  test('lists every table and column with its type and nullability', () => {
    const r = run(['schema']);
    assert.equal(r.status, 0, r.stderr);
    for (const [table, cols] of Object.entries(TABLES)) {
      const at = r.stdout.indexOf(`${table}:`);
      assert.ok(at >= 0, `table ${table} listed`);
      let from = at;
      for (const [name, , required] of cols) {
        const line = r.stdout.slice(from).split('\n').find((l) => l.trim().split(/\s+/)[1] === name);
        assert.ok(line, `${table}.${name} listed in order`);
        assert.equal(/never null/.test(line), !!required, `${table}.${name} nullability`);
        from = r.stdout.indexOf(line, from) + line.length;
      }
    }
  });

  test('--sql: external tables in file order and newest-copy views, for both pools', () => {
    const r = run(['schema', '--sql']);
    assert.equal(r.status, 0, r.stderr);
    const sql = r.stdout;
    const dedicated = sql.indexOf('Dedicated SQL pool');
    assert.ok(dedicated > 0);
    const keys = {
      events: 'event_id, user_upn',
      attendance_reports: 'report_id',
      attendance_records: 'report_id, record_key',
      attendance_intervals: 'report_id, record_key, interval_index',
    };
    for (const part of [sql.slice(0, dedicated), sql.slice(dedicated)]) {
      for (const [table, cols] of Object.entries(TABLES)) {
        const m = new RegExp(`CREATE EXTERNAL TABLE dbo\\.${table} \\(([^;]*?)\\n\\) WITH \\(LOCATION = '([^']+)'`).exec(part);
        assert.ok(m, `external table ${table}`);
        const names = m[1].split('\n').map((l) => l.trim()).filter(Boolean).map((l) => l.split(/\s+/)[0]);
        assert.deepEqual(names, cols.map((c) => c[0]), `${table} columns in file order`);
        assert.ok(m[2] === `parquet/${table}/**` || m[2] === `/parquet/${table}/`, m[2]);
        assert.match(part, new RegExp(`CREATE VIEW dbo\\.${table}_latest AS[\\s\\S]*?PARTITION BY ${keys[table]}\\s+ORDER BY extracted_utc DESC, run_id DESC`));
      }
    }
    assert.match(sql, /TYPE = HADOOP/);
    assert.match(sql, /SnappyCodec/);
  });
});
