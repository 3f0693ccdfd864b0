// The fault matrix (SPEC 4, 6, 8): each fault of Graph, the network or storage is
// injected at a chosen point of a run against the sandbox Graph and Azurite (storage
// faults through a proxy in front of Azurite, storage-proxy.js). For each: the exit
// status SPEC 8 gives, a checkpoint never ahead of data that was not written (a
// mailbox's watermark only where that run landed its final snapshot and the four
// Parquet files; after a storage failure the checkpoint blob untouched), no secret
// in anything the run produced, then a clean run, after which the Parquet tables
// of all the runs together hold every event, report, record and interval of the
// sandbox's ground truth (read back with DuckDB). The matrix is printed as a table.
import { test, before, after, describe } from 'node:test';
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
  listBlobs,
  readBlob,
  readJsonBlob,
  writeJsonBlob,
  findSecrets,
  upnPath,
  parseTimeMs,
  tmpDir,
  DEV_KEY,
  accountSas,
  TABLES as TABLE_LIST,
} from './harness.js';
import { startStorageProxy } from './storage-proxy.js';
import { TABLES, openDuck, readDuck } from './tables-rules.js';
import { truthSnapshot, col } from './tables-truth.js';
import { expectedRows } from './tables-rules.js';

const MIN = 60000;
const T = { timeout: 60000 };
// what AddressSanitizer, UBSan or LeakSanitizer print (TA_BIN may be a sanitizer build)
const SANITIZER = /AddressSanitizer|LeakSanitizer|runtime error:/;
// short waits: a fault costs seconds
const QUICK = {
  ATTENDANCE_HTTP_TIMEOUT_SECONDS: '2',
  ATTENDANCE_MAX_RETRIES: '2',
  ATTENDANCE_MAX_RETRY_WAIT_SECONDS: '1',
};

// ---------------------------------------------------------------- completeness

const KEYS = {
  events: ['event_id', 'user_upn'],
  attendance_reports: ['report_id'],
  attendance_records: ['report_id', 'record_key'],
  attendance_intervals: ['report_id', 'record_key', 'interval_index'],
};
const keyOf = (table, row) => KEYS[table].map((c) => String(row[col(table, c)])).join(' | ');

// Every key of every table found in the container's Parquet files (all runs).
async function landedKeys(service, container, dir) {
  await openDuck();
  const out = Object.fromEntries(TABLE_LIST.map((t) => [t, new Set()]));
  const blobs = (await listBlobs(service, container, 'parquet/')).filter((b) => b.name.endsWith('.parquet'));
  let i = 0;
  for (const b of blobs) {
    const table = b.name.split('/')[1];
    if (!TABLES[table]) continue;
    const file = path.join(dir, `${i++}.parquet`);
    fs.writeFileSync(file, await readBlob(service, container, b.name));
    const { rows } = await readDuck(file, TABLES[table]);
    for (const r of rows) out[table].add(keyOf(table, r));
  }
  return { keys: out, files: blobs.length };
}

// What the runs together must hold: for each mailbox, Graph's ground truth over the
// union of the windows the runs asked for (from the earliest start to the last end).
function truthKeys(sb, from) {
  const want = Object.fromEntries(TABLE_LIST.map((t) => [t, new Set()]));
  for (const u of sb.tenant.users) {
    const upn = u.userPrincipalName;
    const reqs = sb.requests.slice(from).filter((e) => e.kind === 'calendarView' && e.query?.startDateTime && e.mailbox === upn);
    assert.ok(reqs.length, `no calendarView for ${upn}`);
    const start = Math.min(...reqs.map((e) => parseTimeMs(e.query.startDateTime)));
    const end = Math.max(...reqs.map((e) => parseTimeMs(e.query.endDateTime)));
    const exp = expectedMailbox(sb, upn, { windowStart: start, windowEnd: end });
    const rows = expectedRows([truthSnapshot(exp, { runId: 'truth', extractedUtc: new Date(end).toISOString() })]);
    for (const t of TABLE_LIST) for (const r of rows[t]) want[t].add(keyOf(t, r));
  }
  return want;
}

function assertComplete(want, got, what) {
  const missing = [];
  for (const t of TABLE_LIST) for (const k of want[t]) if (!got[t].has(k)) missing.push(`${t}: ${k}`);
  assert.deepEqual(missing.slice(0, 12), [], `${what}: ${missing.length} rows of the ground truth missing from every run's Parquet files`);
  return Object.fromEntries(TABLE_LIST.map((t) => [t, want[t].size]));
}

// ---------------------------------------------------------------- checkpoint rules

async function checkpointBlob(service, container) {
  const b = (await listBlobs(service, container, 'registry/checkpoint.json')).find((x) => x.name === 'registry/checkpoint.json');
  if (!b) return null;
  return { etag: b.etag, json: await readJsonBlob(service, container, b.name) };
}

// No mailbox's watermark beyond what its run landed: an entry written by run R
// needs R's final snapshot for that mailbox, R's four Parquet files, and a
// watermark no later than Graph's ground truth allows for R's window.
async function assertCheckpointBehindData(sb, service, container, cp, { from, before: cpBefore }) {
  if (!cp) return 'none';
  const reader = blobReader(service, container);
  const names = new Set((await reader.list('')).map((b) => b.name));
  const moved = [];
  for (const [upn, e] of Object.entries(cp.json.mailboxes || {})) {
    const old = cpBefore?.json?.mailboxes?.[upn];
    if (old && old.watermark === e.watermark && old.run_id === e.run_id) continue;
    const u = sb.tenant.users.find((x) => x.userPrincipalName.toLowerCase() === upn);
    if (!u) continue; // a mailbox of another run, written by the test
    const runId = e.run_id;
    if (FOREIGN_RUNS.includes(runId)) continue; // written by the test, standing for another run
    assert.ok(names.has(`registry/runs/${runId}.json`), `checkpoint entry of ${upn} names run ${runId}, which has no manifest`);
    const m = await readJsonBlob(service, container, `registry/runs/${runId}.json`);
    const date = m.started_utc.slice(0, 10);
    const mb = m.mailboxes.find((x) => x.upn === upn);
    assert.equal(mb?.status, 'succeeded', `checkpoint moved ${upn}, which run ${runId} did not land`);
    assert.ok(names.has(`raw/final/date=${date}/user=${upnPath(upn)}/${runId}.json`), `checkpoint moved ${upn} without its final snapshot`);
    for (const t of TABLE_LIST)
      assert.ok(names.has(`parquet/${t}/ingest_date=${date}/${runId}.parquet`), `checkpoint moved ${upn} but ${t} of run ${runId} is not in storage`);
    const w = requestedWindow(sb, u.userPrincipalName, from);
    const oldWm = old ? parseTimeMs(old.watermark) : null; // SPEC 6: never behind the old one
    const exp = expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end, now: parseTimeMs(m.started_utc), oldWatermark: oldWm });
    assert.ok(parseTimeMs(e.watermark) <= exp.watermark + 1000, `watermark of ${upn} ${e.watermark} is ahead of Graph's ground truth ${new Date(exp.watermark).toISOString()}`);
    moved.push(upn.split('@')[0]);
  }
  return moved.length ? `moved: ${moved.join(', ')}` : 'unchanged';
}

// ---------------------------------------------------------------- the matrix

const matrix = [];
// run ids of checkpoint entries the tests write, standing for other runs
const FOREIGN_RUNS = ['20260101T000000Z-aaaaaa', '20260101T000000Z-bbbbbb'];

function printMatrix() {
  const head = ['fault', 'injected at', 'exit', 'checkpoint', 'follow-up complete'];
  const rows = matrix.map((m) => [m.fault, m.at, m.exit, m.checkpoint, m.complete]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`;
  const out = [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)];
  console.log(`\nfault matrix (${matrix.length} faults)\n${out.join('\n')}\n`);
}

describe('fault matrix', () => {
  let az;
  let px;
  let seq = 0;
  let work;
  let current = null; // the running scenario's context, for hooks that need it
  before(async () => {
    az = await startAzurite();
    px = await startStorageProxy(az);
    work = tmpDir('ta-faultmatrix-');
  });
  after(async () => {
    printMatrix();
    await px?.close();
    await az?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  // One row of the matrix. `graph`: sandbox fault rules (on mailbox A unless they
  // name another); `input`: sandbox rules that stay for the clean run too; `storage`:
  // proxy rules; `pre`/`during`: hooks. expectExit: SPEC 8's status; failed: the
  // mailboxes (indexes) that must fail; storageFault: the checkpoint must not move.
  async function scenario(o) {
    const n = ++seq;
    const container = `fm${n}`;
    const sb = await startSandbox({ seed: 300 + n, mailboxes: 2, calendarViewMaxTop: 8, latencyMs: [1, 4], tenantOptions: { fillerMeetings: 1 } });
    const users = sb.tenant.users.map((u) => u.userPrincipalName);
    const row = { fault: o.fault, at: o.at, exit: '-', checkpoint: '-', complete: '-' };
    matrix.push(row);
    try {
      const env = jobEnv(sb, null, { ...QUICK, AZURE_STORAGE_CONNECTION_STRING: px.connectionString, ATTENDANCE_CONTAINER: container, ...(o.env || {}) });
      const ctx = { sb, users, container, env, px, az };
      current = ctx;
      if (o.pre) await o.pre(ctx);
      const cpBefore = await checkpointBlob(az.service, container);
      const from = sb.requests.length;
      const withMailbox = (rules) => rules.map((f) => ({ mailbox: users[0], ...f }));
      sb.setFaults(withMailbox([...(o.graph || []), ...(o.input || [])]));
      px.setRules(o.storage || []);
      const spawned = Date.now();
      const r1 = await runJob(['run'], env, { timeoutMs: 45000 });
      sb.setFaults(withMailbox(o.input || []));
      px.clearRules();
      await px.up();
      if (o.post) await o.post(ctx);
      row.exit = `${r1.code}${r1.signal ? ` ${r1.signal}` : ''}${r1.timedOut ? ' (hung)' : ''}`;
      assert.equal(r1.signal, null, `no crash\n${describeRun(r1)}`);
      assert.equal(r1.timedOut, false, `no hang\n${describeRun(r1)}`);
      assert.doesNotMatch(r1.stderr, SANITIZER, `sanitizer report\n${describeRun(r1)}`);
      assert.equal(r1.code, o.expectExit, `exit status\n${describeRun(r1)}`);

      // the first run's manifest (when storage let it be written) names who failed
      const reader = blobReader(az.service, container);
      const ids1 = await runIds(reader);
      const run1 = ids1.length ? await loadRun(reader, ids1[ids1.length - 1]) : null;
      if (o.failed && run1) {
        for (const [i, upn] of users.entries()) {
          const mb = run1.manifest.mailboxes.find((x) => x.upn === upn.toLowerCase());
          assert.ok(mb, `manifest lists ${upn}`);
          assert.equal(mb.status, o.failed.includes(i) ? 'failed' : 'succeeded', `${upn} in the manifest (error: ${mb.error})`);
          if (o.failed.includes(i)) {
            assert.ok(mb.error, 'a failed mailbox names its error');
            assert.ok(!run1.snapshots.final[upnPath(upn)], `${upn} failed but has a final snapshot`);
            if (o.errorRe) assert.match(mb.error, o.errorRe, 'the error names what went wrong');
          }
        }
      }

      const cp1 = await checkpointBlob(az.service, container);
      if (o.storageFault) {
        assert.equal(cp1?.etag ?? null, cpBefore?.etag ?? null, 'a storage failure leaves the checkpoint alone');
        row.checkpoint = 'unchanged';
      } else {
        row.checkpoint = await assertCheckpointBehindData(sb, az.service, container, cp1, { from, before: cpBefore });
        if (o.cpLabel) row.checkpoint += `; ${o.cpLabel}`;
        for (const i of o.failed || []) {
          const e = cp1?.json?.mailboxes?.[users[i].toLowerCase()];
          const old = cpBefore?.json?.mailboxes?.[users[i].toLowerCase()];
          assert.deepEqual(e, old, `the failed mailbox ${users[i]} keeps its watermark`);
        }
      }
      if (o.check) await o.check({ ...ctx, r1, run1, cp1, cpBefore, from, spawned });

      const secrets = [...sb.secrets(), DEV_KEY, ...(o.secrets || [])];
      const hits = await findSecrets(secrets, { runs: [r1], service: az.service, containers: [container] });
      assert.deepEqual(hits, [], 'a secret leaked');

      // the clean run, then every row of the ground truth somewhere in the tables
      const r2 = await runJob(['run'], env, { timeoutMs: 45000 });
      assert.equal(r2.code, 0, `the clean run after the fault\n${describeRun(r2)}`);
      assert.doesNotMatch(r2.stderr, SANITIZER, `sanitizer report\n${describeRun(r2)}`);
      const cp2 = await checkpointBlob(az.service, container);
      await assertCheckpointBehindData(sb, az.service, container, cp2, { from, before: cp1 });
      const dir = path.join(work, container);
      fs.mkdirSync(dir);
      const { keys, files } = await landedKeys(az.service, container, dir);
      const counts = assertComplete(truthKeys(sb, from), keys, o.fault);
      row.complete = `yes (${counts.events} ev, ${counts.attendance_reports} rep, ${counts.attendance_records} rec, ${counts.attendance_intervals} int; ${files} Parquet files)`;
      const hits2 = await findSecrets([...sb.secrets(), ...secrets], { runs: [r2], service: az.service, containers: [container] });
      assert.deepEqual(hits2, [], 'a secret leaked');
      return { sb, r1, run1 };
    } catch (e) {
      if (row.complete === '-') row.complete = 'FAILED';
      throw e;
    } finally {
      sb.clearFaults();
      px.clearRules();
      await px.up();
      await sb.close();
    }
  }

  const httpDate = (ms) => new Date(ms).toUTCString();

  // ---------------------------------------------------------- Graph

  test('429 with Retry-After in seconds', T, () =>
    scenario({ fault: '429 Retry-After: 1', at: 'calendarView page 2, twice', graph: [{ kind: 'calendarView', after: 1, count: 2, status: 429, retryAfter: '1' }], expectExit: 0, failed: [] }));

  test('429 with a fractional Retry-After', T, () =>
    scenario({ fault: '429 Retry-After: 0.25', at: 'attendanceRecords, 3 times', graph: [{ kind: 'attendanceRecords', after: 1, count: 3, status: 429, retryAfter: '0.25' }], expectExit: 0, failed: [] }));

  test('429 with Retry-After as an HTTP date', T, async () => {
    const { sb } = await scenario({
      fault: '429 Retry-After: <HTTP date>',
      at: 'onlineMeetings lookup, twice',
      graph: [{ kind: 'onlineMeetings', count: 2, status: 429, retryAfter: httpDate(Date.now() + 1500) }],
      expectExit: 0,
      failed: [],
    });
    void sb;
  });

  test('429 without Retry-After', T, () =>
    scenario({ fault: '429, no Retry-After', at: 'attendanceReports, twice', graph: [{ kind: 'attendanceReports', count: 2, status: 429 }], expectExit: 0, failed: [] }));

  test('500 on every try', T, () =>
    scenario({ fault: '500', at: 'attendanceRecords after 2, always', graph: [{ kind: 'attendanceRecords', after: 2, status: 500 }], expectExit: 1, failed: [0], errorRe: /500/ }));

  test('503 twice, then answered', T, () =>
    scenario({ fault: '503 (transient)', at: 'calendarView page 1, twice', graph: [{ kind: 'calendarView', count: 2, status: 503, retryAfter: '0.1' }], expectExit: 0, failed: [] }));

  test('503 on every try', T, () =>
    scenario({ fault: '503', at: 'user lookup, always', graph: [{ kind: 'user', status: 503, retryAfter: '0.1' }], expectExit: 1, failed: [0], errorRe: /503/ }));

  test('504 on every try', T, () =>
    scenario({ fault: '504', at: 'onlineMeetings lookup, always', graph: [{ kind: 'onlineMeetings', status: 504 }], expectExit: 1, failed: [0], errorRe: /504/ }));

  test('a connection reset, once', T, () =>
    scenario({ fault: 'connection reset (transient)', at: 'attendanceRecords page 2, once', graph: [{ kind: 'attendanceRecords', after: 1, count: 1, action: 'reset' }], expectExit: 0, failed: [] }));

  test('a connection reset on every try', T, () =>
    scenario({ fault: 'connection reset', at: 'attendanceReports, always', graph: [{ kind: 'attendanceReports', action: 'reset' }], expectExit: 1, failed: [0] }));

  test('a truncated body, once', T, () =>
    scenario({ fault: 'truncated body (transient)', at: 'calendarView page 2, once', graph: [{ kind: 'calendarView', after: 1, count: 1, action: 'truncate' }], expectExit: 0, failed: [] }));

  test('a truncated body on every try', T, () =>
    scenario({ fault: 'truncated body', at: 'onlineMeetings lookup, always', graph: [{ kind: 'onlineMeetings', action: 'truncate' }], expectExit: 1, failed: [0] }));

  test('invalid JSON on every try', T, () =>
    scenario({ fault: 'invalid JSON', at: 'calendarView page 1, always', graph: [{ kind: 'calendarView', action: 'invalidJson' }], expectExit: 1, failed: [0], errorRe: /JSON/i }));

  test('an empty 200, twice', T, () =>
    scenario({ fault: 'empty 200 (transient)', at: 'attendanceRecords, twice', graph: [{ kind: 'attendanceRecords', count: 2, action: 'empty' }], expectExit: 0, failed: [] }));

  test('an empty 200 on every try', T, () =>
    scenario({ fault: 'empty 200', at: 'user lookup, always', graph: [{ kind: 'user', action: 'empty' }], expectExit: 1, failed: [0], errorRe: /empty/i }));

  test('an answer slower than the timeout, once', T, () =>
    scenario({ fault: 'slower than the timeout (transient)', at: 'attendanceReports, once', graph: [{ kind: 'attendanceReports', count: 1, delayMs: 3000 }], env: { ATTENDANCE_HTTP_TIMEOUT_SECONDS: '1' }, expectExit: 0, failed: [] }));

  test('an answer slower than the timeout on every try', T, async () => {
    const t0 = Date.now();
    await scenario({
      fault: 'slower than the timeout',
      at: 'calendarView page 1, always',
      graph: [{ kind: 'calendarView', delayMs: 3000 }],
      env: { ATTENDANCE_HTTP_TIMEOUT_SECONDS: '1' },
      expectExit: 1,
      failed: [0],
      errorRe: /within|time/i,
    });
    assert.ok(Date.now() - t0 < 40000);
  });

  test('401 mid-run (tokens revoked)', T, () =>
    scenario({
      fault: '401 mid-run',
      at: 'attendanceRecords #3: every token revoked',
      graph: [{ kind: 'attendanceRecords', after: 2, count: 1, revoke: true }],
      expectExit: 0,
      failed: [],
      check: async ({ sb, from }) => {
        const log = sb.requests.slice(from);
        assert.ok(log.some((e) => e.status === 401), 'Graph answered 401');
        assert.ok(log.filter((e) => e.kind === 'token').length >= 2, 'the token was renewed');
      },
    }));

  test('403: the application access policy is missing', T, () =>
    scenario({
      fault: '403 access policy',
      at: 'onlineMeetings of mailbox A',
      pre: ({ sb, users }) => sb.setPolicyMissing(users[0], true),
      post: ({ sb, users }) => sb.setPolicyMissing(users[0], false),
      expectExit: 1,
      failed: [0],
      errorRe: /Grant-CsApplicationAccessPolicy/,
    }));

  test('a nextLink to another host: the token never leaves', T, () =>
    scenario({
      fault: 'nextLink to another host',
      at: 'calendarView page 1',
      graph: [{ kind: 'calendarView', count: 1, action: 'nextLinkOffHost' }],
      expectExit: 1,
      failed: [0],
      errorRe: /another host|nextLink/i,
      check: async ({ sb }) => assert.deepEqual(sb.trapRequests, [], 'nothing was sent to the other host'),
    }));

  test('a nextLink loop', T, () =>
    scenario({
      fault: 'nextLink loop',
      at: 'attendanceRecords, always',
      graph: [{ kind: 'attendanceRecords', action: 'nextLinkLoop' }],
      env: { ATTENDANCE_MAX_PAGES: '6' },
      expectExit: 1,
      failed: [0],
      errorRe: /ATTENDANCE_MAX_PAGES/,
    }));

  // ---------------------------------------------------------- storage

  test('Azurite down at the start', T, () =>
    scenario({
      fault: 'storage down at start',
      at: 'before the run',
      pre: ({ px: p }) => p.down(),
      storageFault: true,
      expectExit: 1,
      check: async ({ r1 }) => assert.match(r1.stderr, /storage/i, 'the log says storage failed'),
    }));

  // Tracked meetings are read through the engine, many mailboxes at once: a read
  // refused fails those mailboxes alone, a transient one is retried.
  test('a tracked-meetings read refused (403): those mailboxes fail, named', T, () =>
    scenario({
      fault: '403 on tracked meetings',
      at: 'registry/mailboxes GET, always',
      storage: [{ method: 'GET', path: /\/registry\/mailboxes\//, status: 403 }],
      expectExit: 1,
      failed: [0, 1],
      errorRe: /reading its tracked meetings.*403/,
    }));

  test('a tracked-meetings read answered 500 twice, then read', T, () =>
    scenario({
      fault: '500 on tracked meetings (transient)',
      at: 'registry/mailboxes GET, twice',
      storage: [{ method: 'GET', path: /\/registry\/mailboxes\//, status: 500, count: 2 }],
      expectExit: 0,
      failed: [],
      check: async ({ px }) => assert.ok(px.requests.filter((e) => e.method === 'GET' && /\/registry\/mailboxes\//.test(e.path)).length >= 4, 'read again after the 500s'),
    }));

  test('a tracked-meetings write refused as changed meanwhile (412): written again through the merge', T, () =>
    scenario({
      fault: '412 on tracked meetings',
      at: 'registry/mailboxes PUT, once',
      storage: [{ method: 'PUT', path: /\/registry\/mailboxes\//, status: 412, errorCode: 'ConditionNotMet', count: 1 }],
      expectExit: 0,
      failed: [],
      check: async ({ px, container }) => {
        const reg = px.requests.filter((e) => /\/registry\/mailboxes\//.test(e.path));
        const refused = reg.findIndex((e) => e.method === 'PUT' && e.status === 412);
        assert.ok(refused >= 0, 'a write was refused');
        const after = reg.slice(refused + 1);
        assert.ok(after.some((e) => e.method === 'PUT' && e.path === reg[refused].path && e.status === 201), 'written again');
        assert.equal((await listBlobs(az.service, container, 'registry/mailboxes/')).length, 2, 'both files are there');
      },
    }));

  test('Azurite stopped between the Parquet files and the checkpoint', T, () =>
    scenario({
      fault: 'storage stops after the Parquet files',
      at: 'manifest PUT: port closed',
      storage: [{ method: 'PUT', path: /\/registry\/runs\//, action: 'down' }],
      storageFault: true,
      expectExit: 1,
      check: async ({ container }) => {
        const parquet = await listBlobs(az.service, container, 'parquet/');
        assert.equal(parquet.length, 4, 'the Parquet files landed before storage stopped');
      },
    }));

  // After a storage failure the manifest says what landed: run failed, each mailbox
  // failed with the storage's error, no count for a table not written, only files that
  // exist.
  test('a Parquet upload refused: the manifest says what landed', T, () =>
    scenario({
      fault: '500 on the records Parquet',
      at: 'records Parquet PUT, always',
      storage: [{ method: 'PUT', path: /\/parquet\/attendance_records\//, status: 500 }],
      storageFault: true,
      expectExit: 1,
      check: async ({ run1, container }) => {
        assert.ok(run1, 'the manifest was written');
        const m = run1.manifest;
        assert.equal(m.status, 'failed');
        for (const mb of m.mailboxes) {
          assert.equal(mb.status, 'failed', `${mb.upn}: its rows did not all land`);
          assert.ok(mb.error, 'with the storage error');
          assert.equal(mb.counts.attendance_records, 0);
          assert.equal(mb.counts.attendance_intervals, 0);
        }
        assert.equal(m.counts.attendance_records, 0, 'no records counted');
        assert.equal(m.counts.attendance_intervals, 0);
        const names = new Set((await listBlobs(az.service, container, '')).map((b) => b.name));
        for (const f of m.files) assert.ok(names.has(f.path), `the manifest lists ${f.path}, which is not there`);
        assert.ok(!m.files.some((f) => f.path.includes('attendance_records')), 'not the records file');
        assert.ok(m.counts.events > 0 && m.files.some((f) => f.path.startsWith('parquet/events/')), 'what landed is counted');
      },
    }));

  test('Azurite stopped at the checkpoint write', T, () =>
    scenario({
      fault: 'storage stops at the checkpoint',
      at: 'checkpoint PUT: port closed',
      storage: [{ method: 'PUT', path: /\/registry\/checkpoint\.json$/, action: 'down' }],
      storageFault: true,
      expectExit: 1,
    }));

  test('5xx on every block upload', T, () =>
    scenario({
      fault: '500 on Put Block',
      at: 'Put Block of the 9 MB events Parquet, always',
      input: [{ kind: 'calendarView', count: 1, corrupt: 'hugeSubject', size: 9 << 20, random: true }],
      storage: [{ method: 'PUT', query: /comp=block(&|$)/, status: 500 }],
      storageFault: true,
      expectExit: 1,
      check: async ({ px: p }) => assert.ok(p.requests.some((e) => /comp=block(&|$)/.test(e.query) && e.status === 500), 'a block upload was refused'),
    }));


  test('5xx on a block upload, once', T, () =>
    scenario({
      fault: '503 on Put Block (transient)',
      at: 'second Put Block of the events Parquet, once',
      input: [{ kind: 'calendarView', count: 1, corrupt: 'hugeSubject', size: 9 << 20, random: true }],
      storage: [{ method: 'PUT', query: /comp=block(&|$)/, after: 1, count: 1, status: 503 }],
      expectExit: 0,
      failed: [],
      check: async ({ px: p }) => {
        const blocks = p.requests.filter((e) => /comp=block(&|$)/.test(e.query));
        assert.ok(blocks.some((e) => e.status === 503), 'a block upload was refused once');
        assert.ok(blocks.filter((e) => e.status === 201).length >= 2, 'and the blocks went up');
      },
    }));

  test('5xx on every checkpoint write, storage reached with a SAS: no signature anywhere', T, () => {
    const sas = accountSas();
    const sig = new URLSearchParams(sas).get('sig');
    return scenario({
      fault: '500 on the checkpoint (SAS auth)',
      at: 'checkpoint PUT, always',
      env: { AZURE_STORAGE_CONNECTION_STRING: undefined, AZURE_STORAGE_ACCOUNT_URL: px.blobEndpoint, AZURE_STORAGE_SAS_TOKEN: `?${sas}` },
      storage: [{ method: 'PUT', path: /\/registry\/checkpoint\.json$/, status: 500 }],
      secrets: [sig, encodeURIComponent(sig)],
      storageFault: true,
      expectExit: 1,
      check: async ({ r1 }) => assert.match(r1.stderr, /checkpoint/, 'the log names the checkpoint write'),
    });
  });

  test('412 on the checkpoint: another run wrote it meanwhile', T, async () => {
    const other = 'other.replica@contoso.onmicrosoft.com';
    const otherWm = new Date(Date.now() - 2 * MIN).toISOString().replace(/\.\d+Z$/, 'Z');
    let theirs = null;
    await scenario({
      fault: '412 on the checkpoint',
      at: 'checkpoint PUT held; another run writes it',
      cpLabel: 'merged with the other run',
      pre: async ({ container }) => {
        // a checkpoint the job reads (with its ETag) that names none of its mailboxes
        await writeJsonBlob(az.service, container, 'registry/checkpoint.json', { version: 1, last_meeting_start: otherWm, updated_utc: otherWm, run_id: 'x', mailboxes: { [other]: { watermark: otherWm, run_id: '20260101T000000Z-aaaaaa' } } });
      },
      storage: [
        {
          method: 'PUT',
          path: /\/registry\/checkpoint\.json$/,
          count: 1,
          action: 'hold',
          hold: async () => {
            // meanwhile, another run writes the checkpoint: mailbox A further on,
            // mailbox B behind, plus a mailbox of its own
            const { sb, users } = current;
            const wm = (i) => {
              const w = requestedWindow(sb, users[i], 0);
              return expectedMailbox(sb, users[i], { windowStart: w.start, windowEnd: w.end }).watermark;
            };
            theirs = { a: wm(0) + MIN, b: wm(1) - 3 * 86400000 };
            const iso = (ms) => new Date(ms).toISOString();
            await writeJsonBlob(az.service, current.container, 'registry/checkpoint.json', {
              version: 1,
              last_meeting_start: iso(theirs.a),
              updated_utc: iso(Date.now()),
              run_id: '20260101T000000Z-bbbbbb',
              mailboxes: {
                [other]: { watermark: otherWm, run_id: '20260101T000000Z-aaaaaa' },
                'third.replica@contoso.onmicrosoft.com': { watermark: iso(theirs.b), run_id: '20260101T000000Z-bbbbbb' },
                [users[0].toLowerCase()]: { watermark: iso(theirs.a), run_id: '20260101T000000Z-bbbbbb' },
                [users[1].toLowerCase()]: { watermark: iso(theirs.b), run_id: '20260101T000000Z-bbbbbb' },
              },
            });
          },
        },
      ],
      expectExit: 0,
      failed: [],
      check: async ({ cp1, users, r1, sb }) => {
        assert.ok(theirs, 'the checkpoint write was held');
        const mb = cp1.json.mailboxes;
        assert.ok(mb[other], 'the first run\'s mailbox is kept');
        assert.ok(mb['third.replica@contoso.onmicrosoft.com'], 'the other run\'s own mailbox is kept');
        const a = mb[users[0].toLowerCase()];
        const b = mb[users[1].toLowerCase()];
        assert.equal(parseTimeMs(a.watermark), theirs.a, 'A: the other run got further; its watermark stands');
        const w = requestedWindow(sb, users[1], 0);
        const expB = expectedMailbox(sb, users[1], { windowStart: w.start, windowEnd: w.end }).watermark;
        assert.ok(Math.abs(parseTimeMs(b.watermark) - expB) <= 1000, `B: this run got further; its watermark (${b.watermark}) wins`);
        assert.equal(parseTimeMs(cp1.json.last_meeting_start), Math.max(...Object.values(mb).map((e) => parseTimeMs(e.watermark))), 'last_meeting_start is the latest');
        assert.ok(r1.logLines.some((l) => /checkpoint changed meanwhile/.test(l.msg)), 'the job saw the 412 and merged');
      },
    });
  });

  test('two runs at once on the same container', T, async () => {
    const row = { fault: 'two runs at once', at: 'same container, overlapping mailboxes', exit: '-', checkpoint: '-', complete: '-' };
    matrix.push(row);
    const container = `fm${++seq}`;
    const sb = await startSandbox({ seed: 399, mailboxes: 3, calendarViewMaxTop: 8, latencyMs: [2, 8], tenantOptions: { fillerMeetings: 1 } });
    try {
      const users = sb.tenant.users.map((u) => u.userPrincipalName);
      const env = jobEnv(sb, az, { ...QUICK, ATTENDANCE_CONTAINER: container });
      const [r1, r2] = await Promise.all([
        runJob(['run', '--users', users.slice(0, 2).join(',')], env),
        runJob(['run', '--users', users.slice(1).join(',')], env),
      ]);
      row.exit = `${r1.code}, ${r2.code}`;
      assert.equal(r1.code, 0, describeRun(r1));
      assert.equal(r2.code, 0, describeRun(r2));
      const cp = await checkpointBlob(az.service, container);
      assert.deepEqual(Object.keys(cp.json.mailboxes).sort(), users.map((u) => u.toLowerCase()).sort(), 'the checkpoint holds every mailbox of both runs');
      for (const u of users) {
        const w = requestedWindow(sb, u, 0);
        const exp = expectedMailbox(sb, u, { windowStart: w.start, windowEnd: w.end });
        const got = parseTimeMs(cp.json.mailboxes[u.toLowerCase()].watermark);
        assert.ok(Math.abs(got - exp.watermark) <= 1000, `${u}: watermark ${new Date(got).toISOString()}, ground truth ${new Date(exp.watermark).toISOString()}`);
      }
      row.checkpoint = 'union of both';
      const dir = path.join(work, container);
      fs.mkdirSync(dir);
      const { keys, files } = await landedKeys(az.service, container, dir);
      const counts = assertComplete(truthKeys(sb, 0), keys, 'two runs at once');
      row.complete = `yes (${counts.events} ev, ${counts.attendance_reports} rep, ${counts.attendance_records} rec, ${counts.attendance_intervals} int; ${files} Parquet files)`;
    } catch (e) {
      row.complete = 'FAILED';
      throw e;
    } finally {
      await sb.close();
    }
  });
});
