// What fails a mailbox and what does not (SPEC 4, 8): each case runs the job over a
// fresh two-mailbox sandbox with a fault on the first mailbox only, then checks the
// exit status, the manifest, that the other mailbox landed complete, and that the
// failed one kept its watermark and added no final snapshot.
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
  upnPath,
  parseTimeMs,
  findSecrets,
  DEV_KEY,
} from './harness.js';

const T = { timeout: 120000 };
let seq = 0;

describe('faults', () => {
  let az;
  before(async () => {
    az = await startAzurite();
  });
  after(async () => {
    await az?.stop();
  });

  // Runs a first run with `faults` (or `setup(sb)`) on a fresh sandbox and container.
  // expectFailed: whether the first mailbox must fail. Returns {sb, r, run}.
  async function scenario({ faults = [], setup, expectFailed, env = {}, sandboxOpts = {} }) {
    const container = `faults${++seq}`;
    const sb = await startSandbox({ seed: 50 + seq, mailboxes: 2, calendarViewMaxTop: 8, ...sandboxOpts });
    const [bad, good] = sb.tenant.users;
    sb.setFaults(faults.map((f) => ({ mailbox: bad.userPrincipalName, ...f })));
    if (setup) setup(sb, bad);
    const reader = blobReader(az.service, container);
    try {
      const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, ...env }));
      assert.equal(r.code, expectFailed ? 1 : 0, describeRun(r));
      const ids = await runIds(reader);
      assert.equal(ids.length, 1, `one manifest\n${describeRun(r)}`);
      const run = await loadRun(reader, ids[0]);
      const runStartMs = parseTimeMs(run.manifest.started_utc);
      const exps = [];
      for (const u of expectFailed ? [good] : [bad, good]) {
        const w = requestedWindow(sb, u.userPrincipalName, 0);
        const exp = expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end });
        assertSnapshots(run, exp, { runStartMs });
        exps.push(exp);
      }
      assertManifest(run, exps, { status: expectFailed ? 'partial' : 'succeeded', failed: expectFailed ? [bad.userPrincipalName] : [], runStartMs });
      if (expectFailed) {
        assert.ok(!run.snapshots.final[upnPath(bad.userPrincipalName)], 'the failed mailbox has no final snapshot');
        const cp = run.checkpoint;
        assert.ok(cp && !cp.mailboxes[bad.userPrincipalName.toLowerCase()], 'the failed mailbox gets no watermark');
        assert.ok(cp.mailboxes[good.userPrincipalName.toLowerCase()], 'the other mailbox moved on');
      }
      const hits = await findSecrets([...sb.secrets(), DEV_KEY], { runs: [r], service: az.service, containers: [container] });
      assert.deepEqual(hits, [], 'a secret leaked');
      return { sb, r, run, bad, good };
    } catch (e) {
      await sb.close();
      throw e;
    }
  }

  const badCalls = (sb, bad, kind) => sb.requests.filter((e) => e.mailbox === bad.userPrincipalName && (!kind || e.kind === kind));

  test('5xx on every try fails the mailbox after a bounded number of retries', T, async () => {
    const { sb, bad } = await scenario({ faults: [{ kind: 'calendarView', status: 503, retryAfter: '0.1' }], expectFailed: true });
    const n = badCalls(sb, bad, 'calendarView').length;
    assert.ok(n >= 2 && n <= 5, `tried ${n} times with ATTENDANCE_MAX_RETRIES=3`);
    await sb.close();
  });

  test('a connection reset every time fails the mailbox', T, async () => {
    const { sb } = await scenario({ faults: [{ kind: 'calendarView', action: 'reset' }], expectFailed: true });
    await sb.close();
  });

  test('a truncated body every time fails the mailbox', T, async () => {
    const { sb } = await scenario({ faults: [{ kind: 'onlineMeetings', action: 'truncate' }], expectFailed: true });
    await sb.close();
  });

  test('invalid JSON every time fails the mailbox', T, async () => {
    const { sb } = await scenario({ faults: [{ kind: 'attendanceReports', action: 'invalidJson' }], expectFailed: true });
    await sb.close();
  });

  test('an answer slower than the timeout every time fails the mailbox', T, async () => {
    const { sb, r } = await scenario({
      faults: [{ kind: 'calendarView', delayMs: 2500 }],
      env: { ATTENDANCE_HTTP_TIMEOUT_SECONDS: '1', ATTENDANCE_MAX_RETRIES: '1' },
      expectFailed: true,
    });
    assert.ok(r.durationMs < 30000, `the timeout held (${r.durationMs} ms)`);
    await sb.close();
  });

  test('one slow answer, one reset, one empty 200: retried, nothing lost', T, async () => {
    const { sb, bad } = await scenario({
      faults: [
        { kind: 'calendarView', count: 1, delayMs: 2500 },
        { kind: 'attendanceRecords', count: 1, action: 'reset' },
        { kind: 'attendanceReports', count: 1, action: 'empty' },
      ],
      env: { ATTENDANCE_HTTP_TIMEOUT_SECONDS: '1' },
      expectFailed: false,
    });
    assert.ok(badCalls(sb, bad).some((e) => e.status === 'reset'));
    await sb.close();
  });

  test('a nextLink to another host fails the mailbox and the token never leaves', T, async () => {
    const { sb } = await scenario({ faults: [{ kind: 'calendarView', count: 1, action: 'nextLinkOffHost' }], expectFailed: true });
    assert.equal(sb.trapRequests.length, 0, 'nothing was sent to the other host');
    await sb.close();
  });

  test('a nextLink loop stops at ATTENDANCE_MAX_PAGES and fails the mailbox', T, async () => {
    const { sb, bad } = await scenario({
      faults: [{ kind: 'calendarView', action: 'nextLinkLoop' }],
      env: { ATTENDANCE_MAX_PAGES: '5' },
      expectFailed: true,
    });
    const n = badCalls(sb, bad, 'calendarView').length;
    assert.ok(n >= 5 && n <= 7, `followed ${n} pages with ATTENDANCE_MAX_PAGES=5`);
    await sb.close();
  });

  test('a missing application access policy fails the mailbox and names the fix', T, async () => {
    const { sb, run, r, bad } = await scenario({ setup: (s, b) => s.setPolicyMissing(b.userPrincipalName, true), expectFailed: true });
    const mb = run.manifest.mailboxes.find((m) => m.upn.toLowerCase() === bad.userPrincipalName.toLowerCase());
    assert.match(`${mb.error}\n${r.stderr}`, /Grant-CsApplicationAccessPolicy/, 'the error names the fix');
    await sb.close();
  });

  test('401 on every try: the token is renewed once, then the mailbox fails', T, async () => {
    const { sb } = await scenario({ faults: [{ kind: 'calendarView', status: 401 }], expectFailed: true });
    const tokens = sb.requests.filter((e) => e.kind === 'token').length;
    assert.ok(tokens >= 2 && tokens <= 6, `token endpoint called ${tokens} times`);
    await sb.close();
  });

  test('an unknown mailbox fails alone', T, async () => {
    const sb = await startSandbox({ seed: 70, mailboxes: 1 });
    const container = `faults${++seq}`;
    try {
      const ghost = 'ghost.user@contoso.onmicrosoft.com';
      const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, ATTENDANCE_USERS: `${ghost},${sb.tenant.users[0].userPrincipalName}` }));
      assert.equal(r.code, 1, describeRun(r));
      const reader = blobReader(az.service, container);
      const run = await loadRun(reader, (await runIds(reader))[0]);
      assert.equal(run.manifest.status, 'partial');
      const g = run.manifest.mailboxes.find((m) => m.upn.toLowerCase() === ghost);
      assert.equal(g.status, 'failed');
      const ok = run.manifest.mailboxes.find((m) => m.upn.toLowerCase() !== ghost);
      assert.equal(ok.status, 'succeeded');
    } finally {
      await sb.close();
    }
  });

  test('every mailbox failing: manifest failed, exit 1, no checkpoint moved', T, async () => {
    const sb = await startSandbox({ seed: 71, mailboxes: 2 });
    const container = `faults${++seq}`;
    try {
      sb.setFaults([{ kind: 'calendarView', status: 500 }]);
      const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container }));
      assert.equal(r.code, 1, describeRun(r));
      const reader = blobReader(az.service, container);
      const run = await loadRun(reader, (await runIds(reader))[0]);
      assert.equal(run.manifest.status, 'failed');
      if (run.checkpoint) assert.deepEqual(run.checkpoint.mailboxes, {}, 'no watermark for failed mailboxes');
    } finally {
      await sb.close();
    }
  });
});
