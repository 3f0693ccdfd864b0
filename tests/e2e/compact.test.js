// End-to-end: `teams-attendance compact`. A month of hourly runs (final snapshots
// with overlapping windows, turned into Parquet by `convert` and laid out as runs
// lay them out) plus two days of the next month, in the folder sink and in Azurite.
// The *_latest views (their SQL taken from `schema --sql`, read by DuckDB over the
// DDL's LOCATION) give the same rows, value for value, before and after; each table
// has one file for the month after; a Delete Blob that fails (through the fault
// proxy) leaves no row lost or doubled in the views, and a rerun finishes the job.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

import { TA_BIN, FAST_HTTP, startAzurite, runJob, describeRun, tmpDir, listBlobs } from './harness.js';
import { startStorageProxy } from './storage-proxy.js';

const TABLES = ['events', 'attendance_reports', 'attendance_records', 'attendance_intervals'];
const CONTAINER = 'compact-e2e';
const PREFIX = 'tenant-a/';
const HOURS = 31 * 24 + 48; // October 2026 hourly, then 1 and 2 November

const pad = (n, w = 2) => String(n).padStart(w, '0');
const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
const START = Date.UTC(2026, 9, 1);

// One run's final snapshot: the meetings of the last three days (runs overlap, so
// each meeting lands in up to 72 runs), their subject and counts changing with
// every run, so that only the newest copy has the newest values.
function snapshot(h) {
  const t = START + h * 3600e3;
  const day = Math.floor(h / 24);
  const d = new Date(t);
  const runId = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}0000Z-${pad((h * 37) % 256, 2).slice(-2)}a${pad(h % 1000, 3)}`;
  const events = [];
  for (let m = Math.max(0, day - 2); m <= day; m++) {
    const ms = START + m * 86400e3 + 9 * 3600e3;
    const joinUrl = `https://teams.microsoft.com/l/meetup-join/19%3ameeting_${m}%40thread.v2/0`;
    const records = [1, 2, 3].slice(0, 1 + ((h + m) % 3)).map((r) => ({
      id: `rec-${m}-${r}`,
      emailAddress: `person${r}@contoso.com`,
      totalAttendanceInSeconds: 60 * r + (h % 7),
      role: r === 1 ? 'Organizer' : 'Attendee',
      identity: { id: `id-${r}`, displayName: `Person ${r}`, tenantId: null },
      attendanceIntervals: [
        { joinDateTime: iso(ms + r * 60e3), leaveDateTime: iso(ms + r * 60e3 + 60e3 * r), durationInSeconds: 60 * r + (h % 5) },
      ],
    }));
    events.push({
      id: `ev-${m}`,
      createdDateTime: iso(ms - 86400e3),
      lastModifiedDateTime: iso(t),
      iCalUId: `ical-${m}`,
      subject: `Stand-up ${m} as of run ${h}`,
      isAllDay: false,
      isCancelled: false,
      isOrganizer: true,
      seriesMasterId: null,
      type: 'singleInstance',
      isOnlineMeeting: true,
      onlineMeetingProvider: 'teamsForBusiness',
      start: { dateTime: iso(ms).replace('Z', '.0000000'), timeZone: 'UTC' },
      end: { dateTime: iso(ms + 1800e3).replace('Z', '.0000000'), timeZone: 'UTC' },
      attendees: [],
      organizer: { emailAddress: { name: 'Org', address: 'org@contoso.com' } },
      onlineMeeting: { joinUrl },
      onlineMeetingMeta: { id: `meeting-${m}`, joinWebUrl: joinUrl, subject: null },
      attendance: [
        {
          id: `report-${m}`,
          totalParticipantCount: records.length,
          meetingStartDateTime: iso(ms),
          meetingEndDateTime: iso(ms + 1800e3 + h * 1000),
          attendanceRecords: records,
        },
      ],
    });
  }
  return {
    user_upn: 'org@contoso.com',
    run_id: runId,
    window_start: iso(t - 3 * 86400e3),
    window_end: iso(t),
    extracted_utc: iso(t + 300e3),
    events,
  };
}

// Writes every run's four files under root as runs lay them out:
// {prefix}parquet/{table}/ingest_date=YYYY-MM-DD/{run_id}.parquet
function buildRuns(root) {
  const work = tmpDir('ta-compact-gen-');
  for (let h = 0; h < HOURS; h++) {
    const snap = snapshot(h);
    const input = path.join(work, 'snap.json');
    fs.writeFileSync(input, JSON.stringify(snap));
    const out = path.join(work, 'out');
    fs.rmSync(out, { recursive: true, force: true });
    const r = spawnSync(TA_BIN, ['convert', input, '--output-dir', out, '--log-level', 'error'], { env: { PATH: process.env.PATH } });
    assert.equal(r.status, 0, `convert of run ${h}: ${r.stderr}`);
    const date = snap.extracted_utc.slice(0, 10);
    for (const t of TABLES) {
      const dir = path.join(out, 'parquet', t);
      const [folder] = fs.readdirSync(dir);
      const [file] = fs.readdirSync(path.join(dir, folder)).filter((f) => f.endsWith('.parquet'));
      const dest = path.join(root, PREFIX, 'parquet', t, `ingest_date=${date}`);
      fs.mkdirSync(dest, { recursive: true });
      fs.copyFileSync(path.join(dir, folder, file), path.join(dest, `${snap.run_id}.parquet`));
    }
  }
  fs.rmSync(work, { recursive: true, force: true });
}

function filesUnder(root) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(root, p));
    }
  };
  if (fs.existsSync(root)) walk(root);
  return out.sort();
}

// The *_latest views as `schema --sql` writes them (serverless variant), each table
// read from the DDL's LOCATION under root.
function latestViews() {
  const r = spawnSync(TA_BIN, ['schema', '--sql'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  const serverless = r.stdout.split('-- 2. Dedicated SQL pool')[0];
  const views = {};
  for (const t of TABLES) {
    const loc = new RegExp(`CREATE EXTERNAL TABLE dbo\\.${t} \\([\\s\\S]*?\\) WITH \\(LOCATION = '([^']+)'`).exec(serverless);
    assert.ok(loc, `the DDL has table ${t}`);
    assert.equal(loc[1], `parquet/${t}/**`, 'the table reads every folder under parquet/<table>/, month= included');
    const view = new RegExp(`CREATE VIEW dbo\\.${t}_latest AS\\n([\\s\\S]*?);\\nGO`).exec(serverless);
    assert.ok(view, `the DDL has view ${t}_latest`);
    assert.match(view[1], /ROW_NUMBER\(\) OVER/, 'the view keeps one row of identical copies');
    views[t] = { location: loc[1], select: view[1] };
  }
  return views;
}

async function readLatest(duck, views, root) {
  const out = {};
  for (const t of TABLES) {
    const { location, select } = views[t];
    const src = `read_parquet('${path.join(root, PREFIX, location)}', hive_partitioning = false)`;
    const sql = select.replace(`FROM dbo.${t}\n`, `FROM ${src}\n`);
    assert.notEqual(sql, select, 'the view reads its table');
    const res = await duck.runAndReadAll(`SELECT * FROM (${sql}) ORDER BY ALL`);
    out[t] = res.getRowsJson();
  }
  return out;
}

async function rowCount(duck, file) {
  const res = await duck.runAndReadAll(`SELECT count(*)::INTEGER FROM read_parquet('${file}')`);
  return res.getRows()[0][0];
}

// Copies the container's parquet/ blobs to a local folder, for DuckDB.
async function mirror(service, into) {
  fs.rmSync(into, { recursive: true, force: true });
  const cc = service.getContainerClient(CONTAINER);
  for (const b of await listBlobs(service, CONTAINER, `${PREFIX}parquet/`)) {
    const p = path.join(into, b.name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    await cc.getBlobClient(b.name).downloadToFile(p);
  }
}

function checkLayoutAfter(names) {
  for (const t of TABLES) {
    const mine = names.filter((n) => n.startsWith(`${PREFIX}parquet/${t}/`));
    const oct = mine.filter((n) => /ingest_date=2026-10-/.test(n));
    assert.deepEqual(oct, [], `${t}: no October run file is left`);
    const compacted = mine.filter((n) => n.includes('/month=2026-10/'));
    assert.equal(compacted.length, 1, `${t}: one file for October: ${compacted.join(', ')}`);
    assert.match(compacted[0], new RegExp(`^${PREFIX}parquet/${t}/month=2026-10/compacted-\\d{8}T\\d{6}Z-[0-9a-f]{6}\\.parquet$`));
    const nov = mine.filter((n) => /ingest_date=2026-11-0[12]\//.test(n));
    assert.equal(nov.length, 48, `${t}: November's files are left alone`);
  }
}

describe('compact', { timeout: 600000 }, () => {
  let gen, duck, views, truth, az;
  before(async () => {
    gen = tmpDir('ta-compact-runs-');
    buildRuns(gen);
    duck = await (await DuckDBInstance.create(':memory:')).connect();
    views = latestViews();
    truth = await readLatest(duck, views, gen);
    for (const t of TABLES) assert.ok(truth[t].length > 30, `${t}: ${truth[t].length} latest rows`);
    az = await startAzurite();
  });
  after(async () => {
    if (az) await az.stop();
    if (gen) fs.rmSync(gen, { recursive: true, force: true });
  });

  test('the folder sink: same _latest rows, one file per table for October, a second run has nothing to do', async () => {
    const dir = tmpDir('ta-compact-dir-');
    fs.cpSync(gen, dir, { recursive: true });
    const env = { ATTENDANCE_OUTPUT_DIR: dir, ATTENDANCE_PREFIX: PREFIX, LOG_FORMAT: 'json', ATTENDANCE_TMPDIR: dir };
    const r = await runJob(['compact', '--before', '2026-11-01'], env);
    assert.equal(r.code, 0, describeRun(r));
    const done = r.logLines.filter((l) => l.msg === 'month compacted');
    assert.equal(done.length, 4, describeRun(r));
    for (const l of done) {
      assert.equal(l.inputs, 31 * 24);
      assert.ok(l.rows_out < l.rows_in, `${l.table}: ${l.rows_in} rows in, ${l.rows_out} out`);
    }
    const names = filesUnder(dir).filter((n) => !n.startsWith('teams-attendance-'));
    checkLayoutAfter(names);
    assert.deepEqual(await readLatest(duck, views, dir), truth, 'the views give the same rows');
    // the compacted file holds one copy per key: its rows are the views' October rows
    for (const l of done) assert.equal(await rowCount(duck, path.join(dir, l.file)), l.rows_out);

    const again = await runJob(['compact', '--before', '2026-11-01'], env);
    assert.equal(again.code, 0, describeRun(again));
    assert.equal(again.logLines.filter((l) => l.msg === 'month compacted').length, 0, 'nothing left to do');
    assert.deepEqual(filesUnder(dir).filter((n) => !n.startsWith('teams-attendance-')), names);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('Azurite: a failed Delete Blob loses and doubles nothing in the views; a rerun finishes', async () => {
    const service = az.service;
    const cc = service.getContainerClient(CONTAINER);
    await cc.createIfNotExists();
    for (const rel of filesUnder(gen)) {
      const body = fs.readFileSync(path.join(gen, rel));
      await cc.getBlockBlobClient(rel).upload(body, body.length);
    }
    const px = await startStorageProxy(az);
    const local = tmpDir('ta-compact-mirror-');
    const env = {
      AZURE_STORAGE_CONNECTION_STRING: px.connectionString,
      ATTENDANCE_CONTAINER: CONTAINER,
      ATTENDANCE_PREFIX: PREFIX,
      LOG_FORMAT: 'json',
      ...FAST_HTTP,
    };
    try {
      // the records' month: the first 100 deletes go through, then every one fails
      px.setRules([{ method: 'DELETE', path: /attendance_records\/ingest_date=/, after: 100, action: 'status', status: 403, errorCode: 'AuthorizationFailure' }]);
      const r = await runJob(['compact', '--before', '2026-11-01'], env);
      assert.equal(r.code, 1, describeRun(r));
      const failed = r.logLines.filter((l) => l.msg === 'month not compacted');
      assert.equal(failed.length, 1, describeRun(r));
      assert.equal(failed[0].table, 'attendance_records');
      assert.match(failed[0].error, /written and read back, but 644 of its 744 inputs are not deleted yet/);
      await mirror(service, local);
      assert.deepEqual(await readLatest(duck, views, local), truth, 'after the failure: every row once');
      const left = filesUnder(path.join(local, PREFIX, 'parquet/attendance_records')).filter((n) => n.startsWith('ingest_date=2026-10-'));
      assert.equal(left.length, 644, 'the inputs not deleted are still there, beside the new file');

      px.clearRules();
      const again = await runJob(['compact', '--before', '2026-11-01'], env);
      assert.equal(again.code, 0, describeRun(again));
      const done = again.logLines.filter((l) => l.msg === 'month compacted');
      assert.deepEqual(done.map((l) => l.table), ['attendance_records'], 'only the unfinished month is done again');
      assert.equal(done[0].inputs, 645, 'the first compacted file and the inputs left');
      checkLayoutAfter((await listBlobs(service, CONTAINER, PREFIX)).map((b) => b.name));
      await mirror(service, local);
      assert.deepEqual(await readLatest(duck, views, local), truth, 'after the rerun: the same rows');
    } finally {
      await px.close();
      fs.rmSync(local, { recursive: true, force: true });
    }
  });

  test('usage: --before is required and a date; --table must name a table', async () => {
    const env = { ATTENDANCE_OUTPUT_DIR: tmpDir('ta-compact-usage-') };
    try {
      for (const args of [['compact'], ['compact', '--before', '2026-11-01T00:00:00Z'], ['compact', '--before', 'soon'], ['run', '--before', '2026-11-01']]) {
        const r = await runJob(args, env);
        assert.equal(r.code, 2, describeRun(r));
      }
      const r = await runJob(['compact', '--before', '2026-11-01', '--table', 'meetings'], env);
      assert.equal(r.code, 2, describeRun(r));
      assert.match(r.stderr, /--table meetings: not a table/);
    } finally {
      fs.rmSync(env.ATTENDANCE_OUTPUT_DIR, { recursive: true, force: true });
    }
  });
});
