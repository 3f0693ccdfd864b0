// The Parquet tables a run writes, read back by three independent readers (DuckDB,
// arrow-rs through parquet-wasm, hyparquet) and compared value for value with the
// rows the SPEC section 7 rules give for what the sandbox Graph holds (its ground
// truth, not the job's snapshots): a first run into Azurite, `convert` of that run's
// final snapshots, runs with zstd and with INT96 timestamps (under a prefix), and
// runs into a local folder (--output-dir, also over an account in the environment).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  startAzurite,
  startSandbox,
  runJob,
  jobEnv,
  describeRun,
  blobReader,
  dirReader,
  runIds,
  loadRun,
  requestedWindow,
  expectedMailbox,
  parseTimeUs,
  tmpDir,
  RUN_ID_RE,
  upnPath,
  assertManifest,
  listBlobs,
} from './harness.js';
import { generateTenant } from '../sandbox/tenant.js';
import { TABLES, TABLE_NAMES, micros, openDuck, readDuck, readArrow, readHyparquet, checkSchema } from './tables-rules.js';
import { truthRows, assertSameRows, col } from './tables-truth.js';

const SEED = 47;
const CONTAINER = 'run-tables';
const T = { timeout: 60000 };

// The tenant's awkward cases, plus a few Graph may send that it lacks: a record
// without id or identity id (record_key falls back to the email), one without a
// display name, one listed without intervals, report and interval times without a
// zone, a subject full of JSON escapes, an event without id.
function makeTenant() {
  const tenant = generateTenant({ seed: SEED, mailboxes: 3, now: Date.now() });
  const notes = { emailKey: [], noIntervals: [], noName: [], noZone: [], noId: [] };
  for (const m of Object.values(tenant.meetings)) {
    for (const r of m.reports) {
      if (r.tag === 'big') {
        const rec = r.records.find((x, i) => i > 0 && !x.id && x.identity.id && x.emailAddress && !x.identity.id.startsWith('8:'));
        rec.identity.id = null;
        notes.emailKey.push(rec.emailAddress);
      }
      if (r.tag === 'quote') {
        const rec = r.records.find((x) => x.identity.id && x.identity.id.startsWith('8:pstn:'));
        rec.attendanceIntervals = [];
        notes.noIntervals.push(rec.identity.id);
      }
      if (r.tag === 'restarted-1') {
        r.records[r.records.length - 1].identity.displayName = null;
        notes.noName.push(r.json.id);
      }
      if (r.tag === 'planning') {
        // times without a zone, 0 and 7 fractional digits
        r.json.meetingEndDateTime = r.json.meetingEndDateTime.replace(/(\.\d+)?Z$/, '');
        const iv = r.records[0].attendanceIntervals[0];
        iv.joinDateTime = iv.joinDateTime.replace(/(\.\d+)?Z$/, '.1234567');
        notes.noZone.push(r.json.id);
      }
    }
  }
  // text that JSON escapes: quotes, backslash, tab, newline, a character outside the BMP
  const big = tenant.events[tenant.users[1].id].find((e) => e.tag === 'big');
  big.json.subject = 'Quarterly review \u2013 "Ünïcode" \\ C:\\temp\tTab\nLine 2 \u{1F642} \u0007';
  notes.escaped = big.json.subject;
  // a calendar item Graph sent without an id: kept in the snapshots, left out of the tables
  const first = tenant.users[0];
  const plain = tenant.events[first.id].find((e) => e.tag === 'plain' && e.startMs > tenant.now - 20 * 86400000);
  delete plain.json.id;
  notes.noId.push({ upn: first.userPrincipalName, subject: plain.json.subject });
  return { tenant, notes };
}

// attendance_status that SPEC 4 and 7 give each of the tenant's cases
const STATUS_OF_TAG = {
  big: 'fetched',
  restarted: 'fetched',
  planning: 'fetched',
  quote: 'fetched',
  filler: 'fetched',
  'no-reports': 'no_reports',
  'in-progress': 'no_reports',
  recent: 'no_reports',
  'no-meeting': 'no_meeting',
  attending: 'not_organizer',
  cancelled: 'not_organizer',
  'all-day': 'not_online',
  skype: 'not_online',
  'teams-no-url': 'not_online',
  plain: 'not_online',
  'series-3': 'no_reports',
  // Teams links outside onlineMeeting (SPEC 4)
  'link-onlineMeetingUrl': 'fetched',
  'link-location.displayName': 'fetched',
  'link-locations[].locationUri': 'fetched',
  'link-body.content': 'fetched',
  'link-safelinks': 'fetched',
  'link-other-organizer': 'no_meeting',
  'link-foreign': 'no_meeting',
  'link-attending': 'not_online',
};

const isoDate = (us) => new Date(Number(us / 1000n)).toISOString().slice(0, 10);

describe('Parquet tables of a run, against the ground truth', () => {
  let az;
  let sb;
  let tmp;
  let notes;
  const state = {};

  before(async () => {
    az = await startAzurite();
    const t = makeTenant();
    notes = t.notes;
    sb = await startSandbox({ tenant: t.tenant, calendarViewMaxTop: 6, latencyMs: [0, 3] });
    tmp = tmpDir('ta-run-tables-');
    await openDuck();
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  // A first run (fresh container, prefix or folder); returns what it wrote and the
  // rows the ground truth gives for the windows it asked Graph for.
  async function firstRun(reader, env, args = ['run']) {
    const from = sb.requests.length;
    const beforeIds = new Set(await runIds(reader));
    const r = await runJob(args, env);
    assert.equal(r.code, 0, describeRun(r));
    const ids = (await runIds(reader)).filter((id) => !beforeIds.has(id));
    assert.equal(ids.length, 1, `one new run manifest, found ${ids.length}`);
    const run = await loadRun(reader, ids[0]);
    assert.match(run.runId, RUN_ID_RE);
    // "now" is one instant per run, its start: the end of every mailbox's window
    // and the extracted_utc of every row
    const wins = sb.tenant.users.map((u) => requestedWindow(sb, u.userPrincipalName, from));
    wins.forEach((w, i) => assert.ok(w, `no calendarView request for ${sb.tenant.users[i].userPrincipalName}`));
    const extractedUtc = wins[0].endRaw;
    for (const w of wins) assert.equal(parseTimeUs(w.endRaw), parseTimeUs(extractedUtc), 'one end for every window');
    const extractedUs = micros(extractedUtc);
    const exps = sb.tenant.users.map((u, i) =>
      expectedMailbox(sb, u.userPrincipalName, { windowStart: wins[i].start, windowEnd: wins[i].end }),
    );
    const expected = truthRows(exps, { runId: run.runId, extractedUtc });
    // the manifest counts what the tables hold and names the four files; an event
    // without id is counted as skipped, not as a row
    const withRows = exps.map((e) => ({ ...e, counts: { ...e.counts, events: e.events.filter((v) => v.id).length } }));
    assertManifest(run, withRows, { status: 'succeeded', runStartMs: Number(extractedUs / 1000n) });
    for (const e of exps) {
      const mb = run.manifest.mailboxes.find((m) => m.upn.toLowerCase() === e.upn.toLowerCase());
      assert.equal(mb.skipped, e.events.filter((v) => !v.id).length, `manifest: events of ${e.upn} skipped for want of an id (${JSON.stringify(mb.skipped)})`);
    }
    return { r, run, exps, expected, extractedUs, date: isoDate(extractedUs) };
  }

  // Reads one run's four files with the three readers, checks their schema, codec
  // and rows; returns the rows DuckDB read.
  async function checkFiles(files, expected, { label, int96 = false, codec = 'SNAPPY' }) {
    const out = {};
    for (const table of TABLE_NAMES) {
      const cols = TABLES[table];
      const file = files[table];
      const d = await readDuck(file, cols);
      const h = await readHyparquet(file, cols);
      checkSchema(table, d.schema, h.meta, int96);
      for (const rg of h.meta.row_groups)
        for (const c of rg.columns) assert.equal(c.meta_data.codec, codec, `${label}: ${table}.${c.meta_data.path_in_schema.join('.')} codec`);
      assertSameRows(`${label} (duckdb)`, table, d.rows, expected[table]);
      assertSameRows(`${label} (parquet-wasm)`, table, readArrow(file, cols), expected[table]);
      assertSameRows(`${label} (hyparquet)`, table, h.rows, expected[table]);
      out[table] = d.rows;
    }
    return out;
  }

  // The run's Parquet files, named as SPEC 7 says, copied to a local folder.
  async function runFiles(reader, run, date, dir) {
    const files = {};
    const parquet = run.files.filter((b) => b.name.startsWith('parquet/')).map((b) => b.name).sort();
    const want = TABLE_NAMES.map((t) => `parquet/${t}/ingest_date=${date}/${run.runId}.parquet`).sort();
    assert.deepEqual(parquet, want, 'one Parquet file per table, under ingest_date= of the run start');
    for (const t of TABLE_NAMES) {
      const name = `parquet/${t}/ingest_date=${date}/${run.runId}.parquet`;
      if (reader.kind === 'dir') files[t] = path.join(reader.root, name);
      else {
        files[t] = path.join(dir, `${t}.parquet`);
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(files[t], await reader.read(name));
      }
    }
    return files;
  }

  test('first run: the four tables match the ground truth, read by three readers', T, async () => {
    const reader = blobReader(az.service, CONTAINER);
    const res = await firstRun(reader, jobEnv(sb, az, { ATTENDANCE_CONTAINER: CONTAINER }));
    const { run, exps, expected, extractedUs, date } = res;

    // the ground truth covers the cases this suite is about
    const statuses = new Map();
    for (const exp of exps) for (const ev of exp.events) statuses.set(`${ev.rec.tag}=${ev.status}`, (statuses.get(`${ev.rec.tag}=${ev.status}`) || 0) + 1);
    for (const [tag, st] of Object.entries(STATUS_OF_TAG)) assert.ok(statuses.has(`${tag}=${st}`), `truth: the window holds '${tag}' as ${st} (${[...statuses.keys()].join(', ')})`);
    assert.ok([...statuses.keys()].some((k) => /^series-\d+=fetched$/.test(k)), 'truth: series sessions with reports');
    assert.ok(exps[0].events.some((v) => !v.id), 'truth: an event without id in the window');
    assert.ok(exps[1].events.some((v) => v.json.subject === notes.escaped), 'truth: a subject with escapes in the window');
    for (const exp of exps) {
      assert.ok(exp.unmatched.some((x) => x.tag === 'adhoc'), 'truth: the ad-hoc session is unmatched');
      assert.ok(exp.events.filter((e) => e.rec.tag?.startsWith('series-') && e.status === 'fetched').length >= 3, 'truth: several reports of one series');
    }

    const files = await runFiles(reader, run, date, path.join(tmp, 'run1'));
    const rows = await checkFiles(files, expected, { label: 'first run' });

    // the cases one by one, with messages that name them
    const E = (n) => col('events', n);
    for (const exp of exps) {
      const upn = exp.upn.toLowerCase();
      for (const ev of exp.events) {
        if (!ev.id) {
          assert.ok(!rows.events.some((x) => x[E('subject')] === ev.json.subject && x[E('user_upn')] === upn), `the event without id ('${ev.json.subject}') has no row`);
          continue;
        }
        const row = rows.events.find((x) => x[E('event_id')] === ev.id && x[E('user_upn')] === upn);
        assert.ok(row, `events: no row for '${ev.rec.json.subject}' (${ev.rec.tag}) of ${upn}`);
        assert.equal(row[E('attendance_status')], ev.status, `attendance_status of '${ev.rec.tag}' (${upn})`);
        assert.equal(row[E('subject')], ev.json.subject, `subject of '${ev.rec.tag}' kept as Graph sent it`);
        // the link looked up when it came from outside onlineMeeting (SPEC 4), else onlineMeeting.joinUrl
        assert.equal(row[E('join_url')], ev.joinUrlSource ? ev.joinUrl : ev.json.onlineMeeting?.joinUrl ?? null, `join_url of '${ev.rec.tag}'`);
        assert.equal(row[E('start_utc')], BigInt(parseTimeUs(ev.json.start.dateTime)), `start_utc of '${ev.rec.tag}'`);
        assert.equal(row[E('online_meeting_id')], ev.meeting ? ev.meeting.json.id : null, `online_meeting_id of '${ev.rec.tag}'`);
        for (const [c, k] of [['is_all_day', 'isAllDay'], ['is_cancelled', 'isCancelled'], ['is_online_meeting', 'isOnlineMeeting']])
          assert.equal(row[E(c)], ev.json[k], `${c} of '${ev.rec.tag}'`);
        assert.equal(row[E('attendee_count')], ev.json.attendees.length, `attendee_count of '${ev.rec.tag}'`);
      }
      const R = (n) => col('attendance_reports', n);
      for (const u of exp.unmatched) {
        const row = rows.attendance_reports.find((x) => x[R('report_id')] === u.report.id);
        assert.ok(row, `attendance_reports: no row for the unmatched report ${u.report.id} (${u.tag})`);
        assert.equal(row[R('event_id')], null, `event_id of the unmatched report (${u.tag}) is null`);
        assert.equal(row[R('online_meeting_id')], u.meetingId, 'an unmatched report keeps its meeting');
      }
      for (const s of exp.skippedReports)
        assert.ok(!rows.attendance_reports.some((x) => x[R('report_id')] === s.report.id), `report ${s.report.id} (${s.tag}) outside the window is not written`);
      const restarted = exp.events.find((e) => e.rec.tag === 'restarted');
      assert.equal(rows.attendance_reports.filter((x) => x[R('event_id')] === restarted.id).length, 2, 'the restarted one-off takes both reports');
    }
    const C = (n) => col('attendance_records', n);
    const keys = rows.attendance_records.map((x) => x[C('record_key')]);
    assert.ok(rows.attendance_records.some((x) => x[C('record_id')] !== null && x[C('record_key')] === x[C('record_id')]), 'record_key from the record id');
    assert.ok(rows.attendance_records.some((x) => x[C('record_id')] === null && x[C('record_key')] === x[C('identity_id')]), 'record_key from identity_id');
    assert.ok(rows.attendance_records.some((x) => /^8:pstn:/.test(x[C('record_key')]) && x[C('email')] === null), 'dial-in caller keyed by identity id');
    for (const e of notes.emailKey) assert.ok(keys.includes(e), `record_key falls back to the email ${e}`);
    const anon = rows.attendance_records.filter((x) => x[C('display_name')] === 'Guest (Unverified)');
    assert.ok(anon.length >= 3, 'anonymous guests written');
    assert.ok(anon.some((x) => x[C('record_id')] === null), 'truth: anonymous records without id');
    for (const x of anon) {
      if (x[C('record_id')] === null) assert.match(x[C('record_key')], /^#\d+$/, 'an anonymous record without id is keyed by its position');
      else assert.equal(x[C('record_key')], x[C('record_id')], 'an anonymous record with an id is keyed by it');
      assert.equal(x[C('email')], null);
      assert.equal(x[C('identity_id')], null);
    }
    for (const id of notes.noIntervals) {
      const x = rows.attendance_records.find((y) => y[C('identity_id')] === id);
      assert.ok(x, `record ${id} written`);
      assert.equal(x[C('interval_count')], 0);
      assert.equal(x[C('first_join_utc')], null, 'first_join_utc of a record without intervals');
      assert.equal(x[C('last_leave_utc')], null, 'last_leave_utc of a record without intervals');
    }
    assert.ok(rows.attendance_records.some((x) => x[C('display_name')] === null), 'a null display name stays null');
    assert.ok(rows.attendance_records.some((x) => x[C('identity_tenant_id')] === null), 'null tenant ids stay null');
    assert.ok(rows.attendance_records.some((x) => x[C('display_name')] === '李雷'), 'non-ASCII display names');
    // Graph's seventh digit truncated to the microsecond
    const I = (n) => col('attendance_intervals', n);
    const seven = exps.flatMap((e) => [...e.events.flatMap((v) => v.attendance), ...e.unmatched])
      .flatMap((a) => a.records.flatMap((rec) => rec.attendanceIntervals))
      .filter((iv) => /\.\d{6}[5-9]Z$/.test(iv.joinDateTime));
    assert.ok(seven.length > 0, 'truth: join times whose seventh digit would round up');
    for (const iv of seven.slice(0, 10)) {
      const us = micros(iv.joinDateTime);
      assert.equal(us % 1000000n, BigInt(iv.joinDateTime.slice(20, 26)), 'truth: truncated, not rounded');
      assert.ok(rows.attendance_intervals.some((x) => x[I('join_utc')] === us), `join_utc ${iv.joinDateTime} read as ${us} µs`);
    }
    // one run id and one extraction time on every row of every table
    for (const t of TABLE_NAMES) {
      const ri = col(t, 'run_id');
      const xi = col(t, 'extracted_utc');
      assert.ok(rows[t].length > 0, `${t} has rows`);
      for (const x of rows[t]) {
        assert.equal(x[ri], run.runId, `${t}.run_id`);
        assert.equal(x[xi], extractedUs, `${t}.extracted_utc is the run's start`);
      }
    }
    Object.assign(state, { run1: res, rows1: rows, reader1: reader });
  });

  test('convert of the run\'s final snapshots gives the rows the run wrote', T, async () => {
    assert.ok(state.run1, 'needs the first run');
    const { run, expected } = state.run1;
    const finals = run.files.filter((b) => b.name.startsWith('raw/final/'));
    assert.equal(finals.length, sb.tenant.users.length, 'one final snapshot per mailbox');
    const inDir = path.join(tmp, 'finals');
    fs.mkdirSync(inDir, { recursive: true });
    const inputs = [];
    for (const [i, b] of finals.entries()) {
      const p = path.join(inDir, `${i}.json`);
      fs.writeFileSync(p, await state.reader1.read(b.name));
      inputs.push(p);
    }
    const out = path.join(tmp, 'converted');
    const started = Date.now();
    const r = await runJob(['convert', ...inputs, '--output-dir', out], { LOG_FORMAT: 'json' });
    assert.equal(r.code, 0, describeRun(r));
    const listed = dirReader(out);
    const names = (await listed.list('')).map((f) => f.name);
    assert.equal(names.length, 4, `four files: ${names.join(', ')}`);
    const m = /^parquet\/events\/ingest_date=(\d{4}-\d{2}-\d{2})\/(\d{8}T\d{6}Z-[0-9a-f]{6})\.parquet$/.exec(names.find((n) => n.startsWith('parquet/events/')) || '');
    assert.ok(m, `convert's layout: ${names.join(', ')}`);
    assert.ok([new Date(started).toISOString().slice(0, 10), new Date().toISOString().slice(0, 10)].includes(m[1]), 'dated like a run of its own');
    assert.notEqual(m[2], run.runId, 'convert names its files with a run id of its own');
    assert.deepEqual(names, TABLE_NAMES.map((t) => `parquet/${t}/ingest_date=${m[1]}/${m[2]}.parquet`).sort());
    const files = Object.fromEntries(TABLE_NAMES.map((t) => [t, path.join(out, `parquet/${t}/ingest_date=${m[1]}/${m[2]}.parquet`)]));
    // run_id and extracted_utc come from the snapshots: the run's, on every row
    const rows = await checkFiles(files, expected, { label: 'convert' });
    for (const t of TABLE_NAMES) assertSameRows('convert vs the run', t, rows[t], state.rows1[t]);
  });

  for (const [label, env, opts] of [
    ['zstd', { ATTENDANCE_PARQUET_COMPRESSION: 'zstd', ATTENDANCE_CONTAINER: 'run-tables-zstd' }, { codec: 'ZSTD' }],
    ['INT96 timestamps, under a prefix', { ATTENDANCE_PARQUET_TIMESTAMPS: 'int96', ATTENDANCE_CONTAINER: CONTAINER, ATTENDANCE_PREFIX: 'int96/lake' }, { int96: true }],
  ]) {
    test(`a run with ${label}: three readers read the ground truth`, T, async () => {
      const reader = blobReader(az.service, env.ATTENDANCE_CONTAINER, env.ATTENDANCE_PREFIX ? `${env.ATTENDANCE_PREFIX}/` : '');
      const { run, expected, date } = await firstRun(reader, jobEnv(sb, az, env));
      if (env.ATTENDANCE_PREFIX) {
        for (const f of run.manifest.files) assert.ok(f.path.startsWith(`${env.ATTENDANCE_PREFIX}/`), `manifest path ${f.path} under the prefix`);
        assert.ok(await reader.exists('registry/checkpoint.json'), 'checkpoint under the prefix');
      }
      const files = await runFiles(reader, run, date, path.join(tmp, label.replace(/\W+/g, '-')));
      await checkFiles(files, expected, { label, ...opts });
    });
  }

  test('a run into a local folder (--output-dir): same layout and rows', T, async () => {
    const dir = path.join(tmp, 'folder-sink');
    const reader = dirReader(dir);
    reader.root = dir;
    const { run, expected, date } = await firstRun(reader, jobEnv(sb, null), ['run', '--output-dir', dir]);
    // SPEC 7's layout, as in a container
    const R = run.runId;
    const want = [
      ...sb.tenant.users.flatMap((u) => ['events', 'final'].map((k) => `raw/${k}/date=${date}/user=${upnPath(u.userPrincipalName)}/${R}.json`)),
      ...TABLE_NAMES.map((t) => `parquet/${t}/ingest_date=${date}/${R}.parquet`),
      `registry/runs/${R}.json`,
      'registry/checkpoint.json',
      ...sb.tenant.users.map((u) => `registry/mailboxes/${upnPath(u.userPrincipalName)}.json`),
    ].sort();
    const have = run.all.map((b) => b.name).sort();
    assert.deepEqual(have, want, 'the folder holds the files of SPEC 7, in its layout');
    if (state.run1) {
      const shape = (names, r, d) => names.map((n) => n.replaceAll(r, '{run_id}').replaceAll(d, '{date}')).sort();
      assert.deepEqual(shape(have, R, date), shape(state.run1.run.all.map((b) => b.name), state.run1.run.runId, state.run1.date), 'same layout as the container');
    }
    const files = await runFiles(reader, run, date, null);
    await checkFiles(files, expected, { label: 'folder sink' });
  });

  test('--output-dir beats a storage account set in the environment', T, async () => {
    const dir = path.join(tmp, 'folder-over-account');
    const reader = dirReader(dir);
    reader.root = dir;
    const container = 'run-tables-not-used';
    const { run, expected, date } = await firstRun(reader, jobEnv(sb, az, { ATTENDANCE_CONTAINER: container }), ['run', '--output-dir', dir]);
    const files = await runFiles(reader, run, date, null);
    await checkFiles(files, expected, { label: 'folder over account' });
    assert.deepEqual(await listBlobs(az.service, container), [], 'nothing written to the account');
  });
});
