// Run modes: a backfill window (--since/--until) that leaves the checkpoint alone,
// the old job's checkpoint, a path prefix, a local output folder, and the ways
// replicas split the mailboxes (--shard, JOB_COMPLETION_INDEX, --claim).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
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
  assertSnapshots,
  assertManifest,
  assertCheckpoint,
  writeJsonBlob,
  listBlobs,
  tmpDir,
  parseTimeMs,
} from './harness.js';

const T = { timeout: 120000 };
const MIN = 60000;
const DAY = 86400000;

describe('run modes', () => {
  let az;
  let sb;
  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 61, mailboxes: 3, calendarViewMaxTop: 8 });
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
  });

  async function checkRun(reader, runId, from, { upns, expectCheckpoint = null, status = 'succeeded' }) {
    const run = await loadRun(reader, runId);
    const runStartMs = parseTimeMs(run.manifest.started_utc);
    const exps = [];
    for (const upn of upns) {
      const w = requestedWindow(sb, upn, from);
      assert.ok(w, `no calendarView for ${upn}`);
      const exp = expectedMailbox(sb, upn, { windowStart: w.start, windowEnd: w.end, now: runStartMs });
      assertSnapshots(run, exp, { runStartMs });
      exps.push(exp);
    }
    assertManifest(run, exps, { status, runStartMs });
    if (expectCheckpoint) assertCheckpoint(run.checkpoint, run, Object.fromEntries(exps.map((e) => [e.upn, e.watermark])));
    return { run, exps };
  }

  test('backfill --since/--until: exactly that window, checkpoint neither read nor written', T, async () => {
    const container = 'backfill';
    const old = new Date(Date.now() - 2 * DAY).toISOString();
    await writeJsonBlob(az.service, container, 'registry/checkpoint.json', { last_meeting_start: old });
    const before = (await listBlobs(az.service, container)).find((b) => b.name === 'registry/checkpoint.json');
    const since = new Date(Math.floor(Date.now() / DAY) * DAY - 20 * DAY);
    const until = new Date(since.getTime() + 10 * DAY);
    const from = sb.requests.length;
    const sinceArg = since.toISOString().slice(0, 10);
    const untilArg = until.toISOString().replace('.000Z', 'Z');
    const r = await runJob(['run', '--since', sinceArg, '--until', untilArg], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container }));
    assert.equal(r.code, 0, describeRun(r));
    const users = sb.tenant.users.map((u) => u.userPrincipalName);
    for (const upn of users) {
      const w = requestedWindow(sb, upn, from);
      assert.equal(w.start, since.getTime(), `${upn}: window starts at --since (a date is midnight UTC)`);
      assert.equal(w.end, until.getTime(), `${upn}: window ends at --until`);
    }
    const reader = blobReader(az.service, container);
    const ids = await runIds(reader);
    assert.equal(ids.length, 1);
    await checkRun(reader, ids[0], from, { upns: users });
    const afterCp = (await listBlobs(az.service, container)).find((b) => b.name === 'registry/checkpoint.json');
    assert.equal(afterCp.etag, before.etag, 'the checkpoint was not written');
  });

  test("the old job's checkpoint (only last_meeting_start) is every mailbox's watermark", T, async () => {
    const container = 'oldcheckpoint';
    const old = Date.now() - 3 * DAY;
    await writeJsonBlob(az.service, container, 'registry/checkpoint.json', { last_meeting_start: new Date(old).toISOString() });
    const from = sb.requests.length;
    const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container }));
    assert.equal(r.code, 0, describeRun(r));
    const users = sb.tenant.users.map((u) => u.userPrincipalName);
    for (const upn of users) {
      const w = requestedWindow(sb, upn, from);
      assert.ok(Math.abs(w.start - (old - 5 * MIN)) <= 1000, `${upn}: window starts at last_meeting_start - overlap`);
    }
    const reader = blobReader(az.service, container);
    const run = await loadRun(reader, (await runIds(reader))[0]);
    const exps = users.map((upn) => {
      const w = requestedWindow(sb, upn, from);
      return expectedMailbox(sb, upn, { windowStart: w.start, windowEnd: w.end, oldWatermark: old });
    });
    assertCheckpoint(run.checkpoint, run, Object.fromEntries(exps.map((e) => [e.upn, e.watermark])));
  });

  test('ATTENDANCE_PREFIX puts everything under the folder', T, async () => {
    const container = 'prefixed';
    const from = sb.requests.length;
    const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, ATTENDANCE_PREFIX: 'lake/teams' }));
    assert.equal(r.code, 0, describeRun(r));
    const all = await listBlobs(az.service, container);
    assert.ok(all.length > 0);
    for (const b of all) assert.ok(b.name.startsWith('lake/teams/'), `${b.name} is outside the prefix`);
    const reader = blobReader(az.service, container, 'lake/teams/');
    const ids = await runIds(reader);
    await checkRun(reader, ids[0], from, { upns: sb.tenant.users.map((u) => u.userPrincipalName), expectCheckpoint: true });
  });

  test('--output-dir writes the same layout to a folder', T, async () => {
    const out = tmpDir();
    try {
      const from = sb.requests.length;
      const r = await runJob(['run', '--output-dir', out], jobEnv(sb, null));
      assert.equal(r.code, 0, describeRun(r));
      const reader = dirReader(out);
      const ids = await runIds(reader);
      assert.equal(ids.length, 1);
      await checkRun(reader, ids[0], from, { upns: sb.tenant.users.map((u) => u.userPrincipalName), expectCheckpoint: true });
      const leftovers = (await reader.list('')).filter((f) => /\.(tmp|part)$|~$/.test(f.name));
      assert.deepEqual(leftovers, [], 'no temporary files left behind');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('--shard I/N and JOB_COMPLETION_INDEX split the mailboxes; the checkpoint merges', T, async () => {
    const big = await startSandbox({ seed: 62, mailboxes: 8, latencyMs: [1, 3], tenantOptions: { fillerMeetings: 0 } });
    const container = 'sharded';
    try {
      const env = jobEnv(big, az, { ATTENDANCE_CONTAINER: container });
      const r0 = await runJob(['run', '--shard', '0/2'], env);
      assert.equal(r0.code, 0, describeRun(r0));
      const first = new Set(big.requests.filter((e) => e.kind === 'calendarView').map((e) => e.mailbox));
      const n0 = big.requests.length;
      const r1 = await runJob(['run', '--shard-count', '2'], { ...env, JOB_COMPLETION_INDEX: '1' });
      assert.equal(r1.code, 0, describeRun(r1));
      const second = new Set(big.requests.slice(n0).filter((e) => e.kind === 'calendarView').map((e) => e.mailbox));
      const all = big.tenant.users.map((u) => u.userPrincipalName);
      for (const u of all) assert.ok(first.has(u) !== second.has(u), `${u} is in exactly one shard`);
      assert.ok(first.size > 0 && second.size > 0, `both shards have mailboxes (${first.size}/${second.size})`);
      // same split again: stable hash
      const n1 = big.requests.length;
      const again = await runJob(['run', '--shard', '0/2'], { ...env, ATTENDANCE_CONTAINER: 'sharded-again' });
      assert.equal(again.code, 0, describeRun(again));
      const third = new Set(big.requests.slice(n1).filter((e) => e.kind === 'calendarView').map((e) => e.mailbox));
      assert.deepEqual([...third].sort(), [...first].sort(), 'the split is stable');
      const reader = blobReader(az.service, container);
      const ids = await runIds(reader);
      assert.equal(ids.length, 2, 'each replica writes its own manifest');
      const cp = (await loadRun(reader, ids[1])).checkpoint;
      assert.deepEqual(Object.keys(cp.mailboxes).sort(), all.map((u) => u.toLowerCase()).sort(), 'the checkpoint holds every mailbox');
    } finally {
      await big.close();
    }
  });

  test('two runs at once on different mailboxes: the checkpoint keeps both (If-Match merge)', T, async () => {
    const big = await startSandbox({ seed: 64, mailboxes: 6, latencyMs: [5, 15], tenantOptions: { fillerMeetings: 0 } });
    const container = 'racing';
    try {
      const all = big.tenant.users.map((u) => u.userPrincipalName);
      const env = jobEnv(big, az, { ATTENDANCE_CONTAINER: container });
      const runs = await Promise.all([
        runJob(['run', '--users', all.slice(0, 3).join(',')], env),
        runJob(['run', '--users', all.slice(3).join(',')], env),
        runJob(['run', '--users', all.slice(1, 5).join(',')], env),
      ]);
      for (const r of runs) assert.equal(r.code, 0, describeRun(r));
      const reader = blobReader(az.service, container);
      const ids = await runIds(reader);
      assert.equal(ids.length, 3);
      const cp = (await loadRun(reader, ids[0])).checkpoint;
      assert.deepEqual(Object.keys(cp.mailboxes).sort(), all.map((u) => u.toLowerCase()).sort(), 'no run undid another one\'s watermark');
      for (const [upn, e] of Object.entries(cp.mailboxes)) assert.ok(ids.includes(e.run_id), `${upn} names a run that exists`);
    } finally {
      await big.close();
    }
  });

  test('--claim: replicas of one execution do each mailbox once', T, async () => {
    const big = await startSandbox({ seed: 63, mailboxes: 8, latencyMs: [5, 15], tenantOptions: { fillerMeetings: 0 } });
    const container = 'claimed';
    try {
      const env = jobEnv(big, az, { ATTENDANCE_CONTAINER: container, CONTAINER_APP_JOB_EXECUTION_NAME: 'exec-0001' });
      const [a, b] = await Promise.all([runJob(['run', '--claim'], env), runJob(['run', '--claim'], env)]);
      assert.equal(a.code, 0, describeRun(a));
      assert.equal(b.code, 0, describeRun(b));
      const looked = big.requests.filter((e) => e.kind === 'user').map((e) => e.mailbox);
      const all = big.tenant.users.map((u) => u.userPrincipalName);
      assert.deepEqual([...looked].sort(), [...all].sort(), 'each mailbox done exactly once');
      const claims = (await listBlobs(az.service, container, 'registry/claims/exec-0001/')).map((x) => x.name);
      assert.equal(claims.length, all.length, `one claim per mailbox: ${claims.join(', ')}`);
      const reader = blobReader(az.service, container);
      const ids = await runIds(reader);
      assert.equal(ids.length, 2, 'each replica writes its own manifest');
      const last = await loadRun(reader, ids[ids.length - 1]);
      assert.deepEqual(Object.keys(last.checkpoint.mailboxes).sort(), all.map((u) => u.toLowerCase()).sort(), 'the merged checkpoint holds every mailbox');
    } finally {
      await big.close();
    }
  });
});
