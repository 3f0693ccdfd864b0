// The job end to end against Azurite and the sandbox Graph: a first run, an
// incremental run, the settle rule, a failing mailbox, throttling, token expiry,
// secrets, and Outlook's per-mailbox concurrency. Every assertion compares with the
// sandbox's ground truth (expect.js), computed from SPEC, not from the job.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
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
  expectedRefusals,
  DEV_KEY,
} from './harness.js';

const MIN = 60000;
const DAY = 86400000;
const CONTAINER = 'teams-attendance';
const T = { timeout: 180000 };

// Runs the job and loads what the run wrote; asserts a new manifest appeared unless
// `expectManifest` is false.
async function runAndLoad(az, env, { args = ['run'], container = CONTAINER, expectManifest = true } = {}) {
  const reader = blobReader(az.service, container);
  const beforeIds = new Set(await runIds(reader));
  const spawnedAt = Date.now();
  const r = await runJob(args, env);
  const after = (await runIds(reader)).filter((id) => !beforeIds.has(id));
  if (!expectManifest) return { r, run: null, reader };
  assert.equal(after.length, 1, `expected one new run manifest, found ${after.length}\n${describeRun(r)}`);
  const run = await loadRun(reader, after[0]);
  const runStartMs = parseTimeMs(run.manifest.started_utc);
  assert.ok(runStartMs >= spawnedAt - 1500 && runStartMs <= Date.now(), `started_utc ${run.manifest.started_utc} is the run's start`);
  return { r, run, reader, runStartMs };
}

function logFrom(sb, from) {
  return sb.requests.slice(from);
}

// The windows the job asked for, per mailbox, checked against the rule for each.
function windowsOf(sb, from, users) {
  const out = {};
  for (const u of users) {
    const w = requestedWindow(sb, u.userPrincipalName, from);
    assert.ok(w, `no calendarView request for ${u.userPrincipalName}`);
    out[u.userPrincipalName] = w;
  }
  return out;
}

function assertCalendarRequests(sb, from) {
  const cv = logFrom(sb, from).filter((e) => e.kind === 'calendarView');
  assert.ok(cv.length > 0, 'calendarView was called');
  for (const e of cv) {
    assert.match(e.headers.prefer || '', /outlook\.timezone="UTC"/, `calendarView without Prefer outlook.timezone="UTC": ${e.path}`);
    assert.ok(!('$select' in (e.query || {})), 'calendarView must not use $select');
    assert.ok(e.headers.authorization, 'calendarView carries a token');
  }
}

// `refused`: the lookups the contract expects Graph to refuse (expectedRefusals): a
// link of another organizer's meeting pasted into an event the mailbox organizes.
function assertMeetingCalls(sb, from, users, refused = new Set()) {
  const ids = new Set(users.map((u) => u.id));
  const log = logFrom(sb, from);
  for (const e of log.filter((x) => ['onlineMeetings', 'onlineMeeting', 'attendanceReports', 'attendanceReport', 'attendanceRecords'].includes(x.kind))) {
    const userSeg = decodeURIComponent(e.path.split('/')[3]);
    assert.ok(ids.has(userSeg), `online meeting call must name the user's object id, not '${userSeg}'`);
    if (!refused.has(e)) assert.notEqual(e.status, 403, `a meeting was looked up by a mailbox that does not organise it: ${e.path}`);
  }
  // each meeting's report list is fetched once per run
  const lists = log.filter((x) => x.kind === 'attendanceReports' && x.status === 200).map((x) => x.path);
  assert.equal(new Set(lists).size, lists.length, 'the reports of a meeting are listed once per run');
}

describe('job end to end', () => {
  let az;
  let sb;
  const state = {};

  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 21, mailboxes: 3, calendarViewMaxTop: 6 });
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
  });

  test('first run: snapshots, manifest and checkpoint match Graph, record for record', T, async () => {
    const users = sb.tenant.users;
    const from = sb.requests.length;
    const { r, run, reader, runStartMs } = await runAndLoad(az, jobEnv(sb, az));
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(r.otherLines, [], 'every stderr line is one JSON object');
    for (const l of r.logLines) for (const k of ['time', 'level', 'msg']) assert.ok(k in l, `log line lacks '${k}': ${JSON.stringify(l)}`);

    const wins = windowsOf(sb, from, users);
    const exps = [];
    const wms = {};
    for (const u of users) {
      const w = wins[u.userPrincipalName];
      assert.ok(Math.abs(w.end - runStartMs) <= 1000, `${u.userPrincipalName}: window ends at the run's start`);
      assert.ok(Math.abs(w.end - 30 * DAY - w.start) <= 1000, `${u.userPrincipalName}: first-run window is 30 days (${w.startRaw} .. ${w.endRaw})`);
      const exp = expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end });
      // the tenant's cases are all in the first window
      const tags = new Set(exp.events.map((e) => e.rec.tag));
      for (const t of ['big', 'restarted', 'quote', 'no-meeting', 'no-reports', 'recent', 'in-progress', 'cancelled', 'all-day', 'skype', 'attending'])
        assert.ok(tags.has(t), `window holds the '${t}' case`);
      assert.ok(exp.unmatched.some((x) => x.tag === 'adhoc'), 'the ad-hoc session is unmatched');
      assertSnapshots(run, exp, { runStartMs });
      exps.push(exp);
      wms[u.userPrincipalName] = exp.watermark;
      // the settle rule: the meeting that ended 20 minutes ago holds the watermark back
      const recent = exp.events.find((e) => e.rec.tag === 'recent');
      assert.ok(exp.watermark <= recent.rec.startMs);
    }
    assertManifest(run, exps, { status: 'succeeded', runStartMs });
    assertCheckpoint(run.checkpoint, run, wms);

    // Graph calls
    assertCalendarRequests(sb, from);
    const log = logFrom(sb, from);
    const { refused } = expectedRefusals(log, exps);
    assertMeetingCalls(sb, from, users, refused);
    const tok = log.filter((e) => e.kind === 'token');
    assert.ok(tok.length >= 1);
    assert.equal(tok[0].form.scope, `${sb.url}/.default`, 'scope is {graph}/.default');
    assert.equal(tok[0].form.grant_type, 'client_credentials');
    for (const u of users) {
      const lookups = log.filter((e) => e.kind === 'user' && e.mailbox === u.userPrincipalName);
      assert.equal(lookups.length, 1, `one user lookup per mailbox per run (${u.userPrincipalName})`);
      assert.match(lookups[0].query.$select || '', /id/);
    }
    // reports outside the window are never fetched
    const skipped = exps.flatMap((e) => e.skippedReports.map((x) => x.report.id));
    assert.ok(skipped.length > 0);
    for (const e of log.filter((x) => x.kind === 'attendanceRecords' || x.kind === 'attendanceReport'))
      assert.ok(!skipped.some((id) => e.path.includes(id)), `records of a report outside the window were fetched: ${e.path}`);
    const answered = log.filter((e) => !refused.has(e));
    assert.ok(answered.every((e) => e.status === 200), `every Graph call but the refused lookups succeeded: ${JSON.stringify(answered.filter((e) => e.status !== 200).map((e) => [e.kind, e.status]))}`);
    const st = sb.stats();
    assert.ok(st.maxConcurrency <= 4, `per-mailbox concurrency ${JSON.stringify(st.maxConcurrencyPerMailbox)}`);
    assert.equal(st.mailboxConcurrency429, 0);

    // secrets: not in any log line, not in any blob
    const hits = await findSecrets([...sb.secrets(), DEV_KEY], { runs: [r], service: az.service, containers: [CONTAINER] });
    assert.deepEqual(hits, [], 'a secret leaked');
    Object.assign(state, { run1: run, cp1: run.checkpoint, exps1: exps, reader });
  });

  test('incremental run: window from watermark minus overlap; the unsettled meeting stays behind the watermark', T, async () => {
    assert.ok(state.cp1, 'needs the first run');
    const users = sb.tenant.users;
    const from = sb.requests.length;
    const { r, run, runStartMs } = await runAndLoad(az, jobEnv(sb, az));
    assert.equal(r.code, 0, describeRun(r));
    const wins = windowsOf(sb, from, users);
    const exps = [];
    const wms = {};
    for (const u of users) {
      const key = u.userPrincipalName.toLowerCase();
      const old = parseTimeMs(state.cp1.mailboxes[key].watermark);
      const w = wins[u.userPrincipalName];
      assert.ok(Math.abs(w.start - (old - 5 * MIN)) <= 1000, `${key}: window starts at watermark - 5 min (${w.startRaw}, watermark ${state.cp1.mailboxes[key].watermark})`);
      assert.ok(Math.abs(w.end - runStartMs) <= 1000, `${key}: window ends now`);
      const exp = expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end, oldWatermark: old });
      const recent = exp.events.find((e) => e.rec.tag === 'recent');
      assert.ok(recent, 'the meeting that ended 20 minutes ago is fetched again');
      assert.equal(recent.status, 'no_reports');
      assertSnapshots(run, exp, { runStartMs });
      exps.push(exp);
      wms[u.userPrincipalName] = exp.watermark;
      assert.ok(exp.watermark <= recent.rec.startMs, 'the watermark does not pass the unsettled meeting');
    }
    assertManifest(run, exps, { status: 'succeeded', runStartMs });
    assertCheckpoint(run.checkpoint, run, wms);
    assertCalendarRequests(sb, from);
    state.cp2 = run.checkpoint;
  });

  test('after the meeting settles, a run fetches its report and moves past it', T, async () => {
    assert.ok(state.cp2, 'needs the incremental run');
    const users = sb.tenant.users;
    assert.ok(sb.releasePendingReports() >= users.length);
    const from = sb.requests.length;
    // 10 minutes of settle time: the meeting that ended 20 minutes ago has settled
    const { r, run, runStartMs } = await runAndLoad(az, jobEnv(sb, az, { ATTENDANCE_SETTLE_MINUTES: '10' }));
    assert.equal(r.code, 0, describeRun(r));
    const wins = windowsOf(sb, from, users);
    const exps = [];
    const wms = {};
    for (const u of users) {
      const key = u.userPrincipalName.toLowerCase();
      const old = parseTimeMs(state.cp2.mailboxes[key].watermark);
      const w = wins[u.userPrincipalName];
      assert.ok(Math.abs(w.start - (old - 5 * MIN)) <= 1000, `${key}: window starts at watermark - 5 min`);
      const exp = expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end, settleMinutes: 10, oldWatermark: old });
      const recent = exp.events.find((e) => e.rec.tag === 'recent');
      assert.equal(recent.status, 'fetched');
      assert.equal(recent.attendance.length, 1);
      assertSnapshots(run, exp, { runStartMs });
      exps.push(exp);
      wms[u.userPrincipalName] = exp.watermark;
      assert.ok(exp.watermark > recent.rec.startMs, 'the watermark moves past the settled meeting');
    }
    assertManifest(run, exps, { status: 'succeeded', runStartMs });
    assertCheckpoint(run.checkpoint, run, wms);
    state.cp3 = run.checkpoint;
  });

  test('one failing mailbox: exit 1, the others land, its watermark is kept, manifest partial', T, async () => {
    assert.ok(state.cp3, 'needs the previous runs');
    const users = sb.tenant.users;
    const bad = users[1];
    sb.setFaults([{ kind: 'calendarView', mailbox: bad.userPrincipalName, status: 500 }]);
    const from = sb.requests.length;
    let res;
    try {
      res = await runAndLoad(az, jobEnv(sb, az, { ATTENDANCE_SETTLE_MINUTES: '10' }));
    } finally {
      sb.clearFaults();
    }
    const { r, run, runStartMs } = res;
    assert.equal(r.code, 1, describeRun(r));
    const good = users.filter((u) => u !== bad);
    const wins = windowsOf(sb, from, good);
    const exps = [];
    const wms = {};
    for (const u of good) {
      const key = u.userPrincipalName.toLowerCase();
      const old = parseTimeMs(state.cp3.mailboxes[key].watermark);
      const w = wins[u.userPrincipalName];
      const exp = expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end, settleMinutes: 10, oldWatermark: old });
      assertSnapshots(run, exp, { runStartMs });
      exps.push(exp);
      wms[u.userPrincipalName] = exp.watermark;
    }
    const badKey = bad.userPrincipalName.toLowerCase();
    assert.ok(!run.snapshots.final[badKey], 'the failed mailbox has no final snapshot');
    assertManifest(run, exps, { status: 'partial', failed: [bad.userPrincipalName], runStartMs });
    const mb = run.manifest.mailboxes.find((m) => m.upn.toLowerCase() === badKey);
    assert.ok(mb.counts === null || mb.counts === undefined || Object.values(mb.counts).every((n) => n === 0), 'the failed mailbox adds no rows');
    assertCheckpoint(run.checkpoint, run, wms, { prev: state.cp3, kept: [bad.userPrincipalName] });
    // it was retried, a bounded number of times
    const tries = logFrom(sb, from).filter((e) => e.kind === 'calendarView' && e.mailbox === bad.userPrincipalName);
    assert.ok(tries.length >= 2 && tries.length <= 1 + 3 + 1, `calendarView of the failing mailbox tried ${tries.length} times (ATTENDANCE_MAX_RETRIES=3)`);
    assert.ok(r.logLines.some((l) => l.level === 'error' || l.level === 'ERROR'), 'the failure is logged as an error');
  });
});

describe('job under throttling and token expiry', () => {
  let az;
  before(async () => {
    az = await startAzurite();
  });
  after(async () => {
    await az?.stop();
  });

  // A fresh sandbox and container, a first run under `faults`; returns what the run
  // wrote, compared with the ground truth.
  async function faultyFirstRun(faults, { seed = 31, container, sandboxOpts = {}, env = {} } = {}) {
    const sb = await startSandbox({ seed, mailboxes: 3, calendarViewMaxTop: 6, ...sandboxOpts });
    try {
      sb.setFaults(faults);
      const { r, run, runStartMs } = await runAndLoad(az, jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, ...env }), { container });
      assert.equal(r.code, 0, describeRun(r));
      const exps = [];
      const wms = {};
      for (const u of sb.tenant.users) {
        const w = requestedWindow(sb, u.userPrincipalName, 0);
        const exp = expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end });
        assertSnapshots(run, exp, { runStartMs });
        exps.push(exp);
        wms[u.userPrincipalName] = exp.watermark;
      }
      assertManifest(run, exps, { status: 'succeeded', runStartMs });
      assertCheckpoint(run.checkpoint, run, wms);
      const hits = await findSecrets([...sb.secrets(), DEV_KEY], { runs: [r], service: az.service, containers: [container] });
      assert.deepEqual(hits, [], 'a secret leaked');
      return { sb, r, run };
    } catch (e) {
      await sb.close();
      throw e;
    }
  }

  test('429 with fractional, date and missing Retry-After, 503 and 504: same data as without', T, async () => {
    const upns = [];
    const faults = [
      { name: 'cv429', kind: 'calendarView', count: 2, status: 429, retryAfter: '0.35' },
      { name: 'rec429date', kind: 'attendanceRecords', count: 1, status: 429, retryAfter: new Date(Date.now() + 1000).toUTCString() },
      { name: 'om429', kind: 'onlineMeetings', count: 1, status: 429 },
      { name: 'rep503', kind: 'attendanceReports', count: 1, status: 503, retryAfter: '0.2' },
      { name: 'user504', kind: 'user', count: 1, status: 504 },
      { name: 'tok429', kind: 'token', count: 1, status: 429, retryAfter: '0.1' },
      { name: 'empty', kind: 'attendanceReports', after: 1, count: 1, action: 'empty' },
    ];
    const { sb } = await faultyFirstRun(faults, { container: 'throttled' });
    try {
      const log = sb.requests;
      for (const f of faults) assert.ok(log.some((e) => e.fault === f.name), `fault ${f.name} was hit`);
      // the retry after a 429 with Retry-After 0.35 came no sooner than 0.35 s later
      const first = log.find((e) => e.fault === 'cv429');
      const retry = log.find((e) => e.seq > first.seq && e.kind === 'calendarView' && e.path === first.path && e.rawQuery === first.rawQuery && e.fault !== 'cv429');
      assert.ok(retry, 'the throttled calendarView page was retried');
      assert.ok(retry.startedAt - first.endedAt >= 300, `retried ${retry.startedAt - first.endedAt} ms after a Retry-After of 0.35 s`);
      void upns;
    } finally {
      await sb.close();
    }
  });

  test('a token revoked mid-run (401) is renewed once and the run completes', T, async () => {
    const faults = [{ name: 'revoke', path: '^/v1\\.0/', after: 8, count: 1, revoke: true }];
    const { sb } = await faultyFirstRun(faults, { seed: 32, container: 'tokenexpiry' });
    try {
      const log = sb.requests;
      const tokens = log.filter((e) => e.kind === 'token' && e.status === 200);
      assert.ok(tokens.length >= 2, `the token endpoint was called again (${tokens.length} times)`);
      const denied = log.filter((e) => e.status === 401);
      assert.ok(denied.length >= 1, 'some request met the revoked token');
      for (const d of denied) {
        const later = log.find((e) => e.seq > d.seq && e.path === d.path && e.rawQuery === d.rawQuery && e.status === 200);
        assert.ok(later, `the request refused with 401 was sent again: ${d.path}`);
        assert.notEqual(later.headers.tokenId, d.headers.tokenId, 'with the new token');
      }
    } finally {
      await sb.close();
    }
  });

  test('an expired token answered with 403 is renewed once before reading it as a policy error', T, async () => {
    const faults = [{ name: 'revoke403', kind: 'onlineMeetings', count: 1, revoke: true, status: 403 }];
    const { sb } = await faultyFirstRun(faults, { seed: 33, container: 'token403' });
    try {
      const tokens = sb.requests.filter((e) => e.kind === 'token' && e.status === 200);
      assert.ok(tokens.length >= 2, `the token endpoint was called again (${tokens.length} times)`);
    } finally {
      await sb.close();
    }
  });

  test('concurrency: never more than 4 requests in flight per mailbox, mailboxes side by side', T, async () => {
    const { sb } = await faultyFirstRun([], {
      seed: 34,
      container: 'concurrency',
      sandboxOpts: { mailboxes: 6, latencyMs: [20, 40], tenantOptions: { fillerMeetings: 10 } },
    });
    try {
      const st = sb.stats();
      for (const [upn, n] of Object.entries(st.maxConcurrencyPerMailbox)) assert.ok(n <= 4, `${upn}: ${n} requests in flight`);
      assert.equal(st.mailboxConcurrency429, 0, 'no MailboxConcurrency 429');
      assert.ok(Math.max(...Object.values(st.maxConcurrencyPerMailbox)) >= 2, 'requests for one mailbox run concurrently');
      // at some instant, requests of two different mailboxes were in flight together
      const g = sb.requests.filter((e) => e.mailbox && e.endedAt);
      let overlap = false;
      for (let i = 0; i < g.length && !overlap; i++)
        for (let j = i + 1; j < g.length; j++)
          if (g[i].mailbox !== g[j].mailbox && g[i].startedAt < g[j].endedAt && g[j].startedAt < g[i].endedAt) {
            overlap = true;
            break;
          }
      assert.ok(overlap, 'mailboxes are processed concurrently');
      assert.ok(st.maxInflightAll > 4, `more than 4 requests in flight over all mailboxes (${st.maxInflightAll})`);
    } finally {
      await sb.close();
    }
  });
});
