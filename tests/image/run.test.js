// The container image against Azurite and the sandbox Graph: a first run from the
// image (read-only root, writable TMPDIR, its own user) lands what the sandbox's
// ground truth says, in the snapshots, the manifest, the checkpoint and the four
// Parquet tables (read back with DuckDB); without a writable TMPDIR the same image
// fails on the read-only root. scripts/image-test.sh builds the image and sets
// TA_IMAGE_RUN to a program that runs it with the environment it is given.
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
  runIds,
  loadRun,
  requestedWindow,
  expectedMailbox,
  assertSnapshots,
  assertManifest,
  assertCheckpoint,
  findSecrets,
  parseTimeMs,
  tmpDir,
  DEV_KEY,
} from '../e2e/harness.js';
import { TABLES, TABLE_NAMES, openDuck, readDuck } from '../e2e/tables-rules.js';
import { truthRows, assertSameRows } from '../e2e/tables-truth.js';

const IMAGE_RUN = process.env.TA_IMAGE_RUN;
const DAY = 86400000;
const CONTAINER = 'teams-attendance';
// a container start costs a second or two more than the bare binary
const T = { timeout: 240000 };

describe('container image', () => {
  let az;
  let sb;
  let tmp;

  before(async () => {
    assert.ok(IMAGE_RUN, 'TA_IMAGE_RUN is not set: run scripts/image-test.sh, which builds the image and sets it');
    az = await startAzurite();
    sb = await startSandbox({ seed: 21, mailboxes: 3, calendarViewMaxTop: 6 });
    tmp = tmpDir('ta-image-');
    await openDuck();
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('first run from the image: snapshots, manifest, checkpoint and Parquet rows match Graph', T, async () => {
    const reader = blobReader(az.service, CONTAINER);
    const users = sb.tenant.users;
    const from = sb.requests.length;
    const spawnedAt = Date.now();
    const r = await runJob(['run'], jobEnv(sb, az), { bin: IMAGE_RUN, timeoutMs: 180000 });
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(r.otherLines, [], 'every stderr line is one JSON log line (nothing from the container runtime)');
    const ids = await runIds(reader);
    assert.equal(ids.length, 1, `one run manifest, found ${ids.length}`);
    const run = await loadRun(reader, ids[0]);
    const runStartMs = parseTimeMs(run.manifest.started_utc);
    assert.ok(runStartMs >= spawnedAt - 1500 && runStartMs <= Date.now(), `started_utc ${run.manifest.started_utc} is the run's start`);

    const exps = [];
    const wms = {};
    for (const u of users) {
      const w = requestedWindow(sb, u.userPrincipalName, from);
      assert.ok(w, `no calendarView request for ${u.userPrincipalName}`);
      assert.ok(Math.abs(w.end - 30 * DAY - w.start) <= 1000, `${u.userPrincipalName}: first-run window is 30 days`);
      const exp = expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end });
      assert.ok(exp.events.some((e) => e.status === 'fetched'), `truth: ${u.userPrincipalName} has meetings with attendance`);
      assertSnapshots(run, exp, { runStartMs });
      exps.push(exp);
      wms[u.userPrincipalName] = exp.watermark;
    }
    assertManifest(run, exps, { status: 'succeeded', runStartMs });
    assertCheckpoint(run.checkpoint, run, wms);

    // The Parquet tables, row for row, against the rows the ground truth gives.
    const expected = truthRows(exps, { runId: run.runId, extractedUtc: requestedWindow(sb, users[0].userPrincipalName, from).endRaw });
    const date = new Date(runStartMs).toISOString().slice(0, 10);
    let records = 0;
    for (const table of TABLE_NAMES) {
      const name = `parquet/${table}/ingest_date=${date}/${run.runId}.parquet`;
      const file = path.join(tmp, `${table}.parquet`);
      fs.writeFileSync(file, await reader.read(name));
      const { rows } = await readDuck(file, TABLES[table]);
      assertSameRows('first run from the image (duckdb)', table, rows, expected[table]);
      assert.equal(rows.length, run.manifest.counts[table], `${table}: rows in the file and the manifest's count`);
      if (table === 'attendance_records') records = rows.length;
    }
    assert.ok(records > 0, 'the run wrote attendance records');

    const hits = await findSecrets([...sb.secrets(), DEV_KEY], { runs: [r], service: az.service, containers: [CONTAINER] });
    assert.deepEqual(hits, [], 'a secret leaked');
    console.log(`image run: ${r.durationMs} ms; rows ${TABLE_NAMES.map((t) => `${t}=${run.manifest.counts[t]}`).join(' ')}`);
  });

  test('without a writable TMPDIR the read-only root refuses the temporary folder', T, async () => {
    const container = 'image-read-only';
    const r = await runJob(['run'], { ...jobEnv(sb, az, { ATTENDANCE_CONTAINER: container }), TA_IMAGE_TMPFS: '0' }, { bin: IMAGE_RUN, timeoutMs: 180000 });
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /cannot create a temporary folder in \/\S* \(ATTENDANCE_TMPDIR or TMPDIR\): Read-only file system/, describeRun(r));
  });
});
