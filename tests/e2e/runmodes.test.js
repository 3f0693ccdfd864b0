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
  readJsonBlob,
  listBlobs,
  tmpDir,
  parseTimeMs,
} from './harness.js';
import { TABLES, openDuck, readDuck } from './tables-rules.js';

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

  // The old job's value T belongs to its mailboxes (SGA_UPN*) only, and survives the
  // first new run for those that run did not process.
  test("the old job's checkpoint: T for SGA_UPN* mailboxes, kept for those a run skips; others get their own first-run window", T, async () => {
    const container = 'oldcheckpoint';
    const old = Date.now() - 40 * DAY; // older than the first-run window: a gap if lost
    const [u0, u1, u2] = sb.tenant.users.map((u) => u.userPrincipalName);
    await writeJsonBlob(az.service, container, 'registry/checkpoint.json', { last_meeting_start: new Date(old).toISOString() });
    const env = jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, ATTENDANCE_USERS: u2, SGA_UPN: u0, SGA_UPN2: u1 });

    // first run: only u0 (as another shard or --users would)
    let from = sb.requests.length;
    let r = await runJob(['run', '--users', u0], env);
    assert.equal(r.code, 0, describeRun(r));
    let w = requestedWindow(sb, u0, from);
    assert.ok(Math.abs(w.start - (old - 5 * MIN)) <= 1000, `${u0}: window starts at last_meeting_start - overlap`);
    const reader = blobReader(az.service, container);
    let run = await loadRun(reader, (await runIds(reader)).at(-1));
    const cp1 = run.checkpoint;
    assert.ok(cp1.mailboxes[u0.toLowerCase()], 'u0 has its own entry');
    assert.ok(!cp1.mailboxes[u1.toLowerCase()], 'u1 was not processed');
    assert.ok(Math.abs(parseTimeMs(cp1.legacy_last_meeting_start) - old) <= 1000, 'T is kept');
    assert.deepEqual(cp1.legacy_mailboxes, [u1.toLowerCase()], 'for the old mailboxes still on it');

    // second run, without SGA_UPN* now: u1 still starts from T, u2 (never read by the
    // old job) from its own first-run window
    const env2 = jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, ATTENDANCE_USERS: [u0, u1, u2].join(',') });
    const firstIds = new Set(await runIds(reader));
    from = sb.requests.length;
    r = await runJob(['run'], env2);
    assert.equal(r.code, 0, describeRun(r));
    w = requestedWindow(sb, u1, from);
    assert.ok(Math.abs(w.start - (old - 5 * MIN)) <= 1000, `${u1}: window starts at the old job's T - overlap`);
    w = requestedWindow(sb, u2, from);
    assert.ok(Math.abs(w.end - w.start - 30 * DAY) <= 1000, `${u2}: a 30-day first-run window`);
    // two runs in one second sort by their random suffix: take the new id
    run = await loadRun(reader, (await runIds(reader)).find((id) => !firstIds.has(id)));
    const cp2 = run.checkpoint;
    for (const u of [u0, u1, u2]) assert.ok(cp2.mailboxes[u.toLowerCase()], `${u} has its own entry`);
    assert.ok(!('legacy_last_meeting_start' in cp2) && !('legacy_mailboxes' in cp2), 'T is dropped once every old mailbox has its entry');
  });

  // A checkpoint edited by hand or by a broken clock: one mailbox's future watermark
  // fails that mailbox alone and leaves its entry as it was; a key in another case is
  // found; a bad entry of a mailbox not configured stops nothing and is kept.
  test('a poisoned checkpoint: future watermark, mixed-case key, unreadable entry', T, async () => {
    const container = 'poisoned';
    const [u0, u1, u2] = sb.tenant.users.map((u) => u.userPrincipalName);
    const wm0 = new Date(Date.now() - 2 * DAY).toISOString();
    const future = { watermark: '2099-01-01T00:00:00Z', run_id: '20260101T000000Z-abcdef', note: 'by hand' };
    const gone = { watermark: 'not a time', run_id: 'x' };
    await writeJsonBlob(az.service, container, 'registry/checkpoint.json', {
      version: 1,
      last_meeting_start: wm0,
      updated_utc: wm0,
      run_id: 'x',
      mailboxes: { [u0.toUpperCase()]: { watermark: wm0, run_id: 'x' }, [u1.toLowerCase()]: future, 'gone@contoso.com': gone },
    });
    const from = sb.requests.length;
    const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container }));
    assert.equal(r.code, 1, describeRun(r));
    const w0 = requestedWindow(sb, u0, from);
    assert.ok(Math.abs(w0.start - (parseTimeMs(wm0) - 5 * MIN)) <= 1000, `${u0}: found under its upper-case key`);
    assert.equal(requestedWindow(sb, u1, from), null, `${u1}: not processed`);
    const w2 = requestedWindow(sb, u2, from);
    assert.ok(Math.abs(w2.end - w2.start - 30 * DAY) <= 1000, `${u2}: first-run window`);
    const reader = blobReader(az.service, container);
    const run = await loadRun(reader, (await runIds(reader)).at(-1));
    const m1 = run.manifest.mailboxes.find((m) => m.upn === u1.toLowerCase());
    assert.equal(m1.status, 'failed');
    assert.match(m1.error, /2099-01-01/);
    assert.match(m1.error, /Repair/);
    assert.ok(r.logLines.some((l) => l.level === 'warn' && /cannot be read/.test(l.msg) && l.mailbox === 'gone@contoso.com'), 'the bad entry is warned about');
    const cp = run.checkpoint;
    assert.deepEqual(cp.mailboxes[u1.toLowerCase()], future, 'the poisoned entry stays exactly as it was');
    assert.deepEqual(cp.mailboxes['gone@contoso.com'], gone, 'the unreadable entry of a mailbox not configured is kept');
    assert.ok(cp.mailboxes[u0.toLowerCase()], 'written lower-cased');
    assert.ok(!(u0.toUpperCase() in cp.mailboxes), 'the upper-case key is gone');
    assert.ok(parseTimeMs(cp.mailboxes[u0.toLowerCase()].watermark) >= parseTimeMs(wm0));
  });

  // Privacy: fields left out of both snapshots; the tables are built before they go.
  test('ATTENDANCE_SNAPSHOT_OMIT leaves the fields out of both snapshots, not out of the tables', T, async () => {
    const out = tmpDir();
    try {
      const from = sb.requests.length;
      const r = await runJob(['run', '--output-dir', out], jobEnv(sb, null, { ATTENDANCE_SNAPSHOT_OMIT: 'body, bodyPreview,attendees' }));
      assert.equal(r.code, 0, describeRun(r));
      const reader = dirReader(out);
      const ids = await runIds(reader);
      const run = await loadRun(reader, ids.at(-1));
      let events = 0;
      for (const kind of ['events', 'final'])
        for (const snap of Object.values(run.snapshots[kind]))
          for (const e of snap.json.events) {
            events++;
            for (const f of ['body', 'bodyPreview', 'attendees']) assert.ok(!(f in e), `${kind} snapshot event ${e.id} still has ${f}`);
          }
      assert.ok(events > 0);
      const file = run.parquet.find((b) => b.name.startsWith('parquet/events/')).name;
      await openDuck();
      const { rows } = await readDuck(`${out}/${file}`, TABLES.events);
      // every table file says which version of the format it follows
      const duck = await openDuck();
      for (const f of run.parquet) {
        const kv = (await duck.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${out}/${f.name}')`)).getRowObjects();
        assert.deepEqual(kv, [{ k: 'format_version', v: '1' }], `${f.name} key-value metadata`);
      }
      const byId = new Map();
      for (const u of sb.tenant.users) for (const e of sb.tenant.events[u.id]) byId.set(`${e.json.id}|${u.userPrincipalName.toLowerCase()}`, e.json);
      const iId = TABLES.events.findIndex((c) => c[0] === 'event_id');
      const iUpn = TABLES.events.findIndex((c) => c[0] === 'user_upn');
      const iCount = TABLES.events.findIndex((c) => c[0] === 'attendee_count');
      assert.ok(rows.length > 0);
      for (const row of rows) {
        const ev = byId.get(`${row[iId]}|${row[iUpn]}`);
        assert.ok(ev, `event ${row[iId]} is in the tenant`);
        assert.equal(row[iCount], Array.isArray(ev.attendees) ? ev.attendees.length : null, `attendee_count of ${row[iId]}`);
      }
      // every row landed: the manifest's counts equal the ground truth
      const exps = sb.tenant.users.map((u) => {
        const w = requestedWindow(sb, u.userPrincipalName, from);
        return expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end, now: parseTimeMs(run.manifest.started_utc) });
      });
      assertManifest(run, exps, { status: 'succeeded', runStartMs: parseTimeMs(run.manifest.started_utc) });
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  // One bad entry never blocks the others: a UPN too long for a folder name fails
  // alone (it used to fail the folder sink, and so every mailbox, run after run).
  test('a UPN too long for a folder name fails that mailbox alone', T, async () => {
    const out = tmpDir();
    try {
      const long = `${'x'.repeat(250)}@contoso.com`;
      const good = sb.tenant.users[0].userPrincipalName;
      const r = await runJob(['run', '--output-dir', out], jobEnv(sb, null, { ATTENDANCE_USERS: `${good},${long}` }));
      assert.equal(r.code, 1, describeRun(r));
      const reader = dirReader(out);
      const run = await loadRun(reader, (await runIds(reader))[0]);
      const bad = run.manifest.mailboxes.find((m) => m.upn === long);
      assert.equal(bad.status, 'failed');
      assert.match(bad.error, /too long for a folder name/);
      assert.equal(run.manifest.mailboxes.find((m) => m.upn === good.toLowerCase()).status, 'succeeded');
      assert.equal(run.manifest.status, 'partial');
      assert.ok(run.parquet.length === 4, 'the tables landed');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('ATTENDANCE_SNAPSHOT_OMIT may not drop what the tables need', T, async () => {
    const r = await runJob(['run', '--output-dir', '/tmp/never'], jobEnv(sb, null, { ATTENDANCE_SNAPSHOT_OMIT: 'body,start' }));
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /ATTENDANCE_SNAPSHOT_OMIT.*start/);
  });

  // A checkpoint that is not JSON: the run stops, says why in a manifest, and never
  // replaces the file with a fresh one (that would restart every mailbox's window).
  test('a corrupt checkpoint: exit 1, a manifest that names the blob and the repair, the file untouched', T, async () => {
    const container = 'corrupt';
    const cc = az.service.getContainerClient(container);
    await cc.createIfNotExists();
    const text = '{"version":1,"mailboxes":{"a@contoso.com":{"watermark":"2026-11-0';
    await cc.getBlockBlobClient('registry/checkpoint.json').upload(text, text.length);
    const before = (await listBlobs(az.service, container)).find((b) => b.name === 'registry/checkpoint.json');
    const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container }));
    assert.equal(r.code, 1, describeRun(r));
    const reader = blobReader(az.service, container);
    const ids = await runIds(reader);
    assert.equal(ids.length, 1, 'the manifest is written although the run stopped');
    const m = await readJsonBlob(az.service, container, `registry/runs/${ids[0]}.json`);
    assert.equal(m.status, 'failed');
    assert.match(m.error, /registry\/checkpoint\.json/);
    assert.match(m.error, /repair|move it aside/);
    assert.equal(m.mailboxes.length, sb.tenant.users.length, 'each mailbox is named');
    for (const mb of m.mailboxes) assert.equal(mb.status, 'failed');
    const after = (await listBlobs(az.service, container)).find((b) => b.name === 'registry/checkpoint.json');
    assert.equal(after.etag, before.etag, 'the corrupt checkpoint is left as it is');
  });

  test('no Graph token: the manifest still says why', T, async () => {
    const container = 'notoken';
    const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, AZURE_CLIENT_SECRET: 'wrong-secret-value' }));
    assert.equal(r.code, 1, describeRun(r));
    const reader = blobReader(az.service, container);
    const ids = await runIds(reader);
    assert.equal(ids.length, 1);
    const m = (await loadRun(reader, ids[0])).manifest;
    assert.equal(m.status, 'failed');
    assert.match(m.error, /token/i);
    assert.ok(!JSON.stringify(m).includes('wrong-secret-value'), 'no secret in the manifest');
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

  // Claims a replica cannot give back: the platform retries a failed replica in the same
  // execution (its claims are its own), or a replica dies (its claims expire).
  test('--claim: a retried replica takes its own claims back, an expired claim is taken over, a live one is not', T, async () => {
    const container = 'claims-retry';
    const exec = 'exec-0002';
    const users = sb.tenant.users.map((u) => u.userPrincipalName);
    const [mine, expired, live] = users;
    const claim = (upn, replica, expiresMs) =>
      writeJsonBlob(az.service, container, `registry/claims/${exec}/${upn.toLowerCase()}`, {
        run_id: '20261203T000000Z-aaaaaa',
        replica,
        claimed_utc: new Date(expiresMs - 3600000).toISOString(),
        expires_utc: new Date(expiresMs).toISOString(),
      });
    await claim(mine, 'teams-attendance-abc12-replica-1', Date.now() + 3600000);
    await claim(expired, 'teams-attendance-abc12-replica-2', Date.now() - 60000);
    await claim(live, 'teams-attendance-abc12-replica-3', Date.now() + 3600000);
    const from = sb.requests.length;
    const env = jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, CONTAINER_APP_JOB_EXECUTION_NAME: exec, CONTAINER_APP_REPLICA_NAME: 'teams-attendance-abc12-replica-1' });
    const r = await runJob(['run', '--claim'], env);
    assert.equal(r.code, 0, describeRun(r));
    const looked = new Set(sb.requests.slice(from).filter((e) => e.kind === 'user').map((e) => e.mailbox));
    assert.ok(looked.has(mine), 'its own claim (a retried attempt) is taken back');
    assert.ok(looked.has(expired), 'an expired claim is taken over');
    assert.ok(!looked.has(live), "another replica's live claim is left alone");
    const held = await readJsonBlob(az.service, container, `registry/claims/${exec}/${expired.toLowerCase()}`);
    assert.equal(held.replica, 'teams-attendance-abc12-replica-1', 'the claim now names this replica');
    assert.ok(new Date(held.expires_utc).getTime() > Date.now() + 50 * MIN, 'with the lease (60 minutes by default)');
  });
});
