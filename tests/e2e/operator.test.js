// What an operator sees: a mailbox that fails run after run says so in its checkpoint
// entry, its manifest entry and one log line (SPEC 6, 7, 8).
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
  assertUtcZ,
  parseTimeMs,
} from './harness.js';

const T = { timeout: 180000 };

describe('failing streak', () => {
  let az;
  before(async () => {
    az = await startAzurite();
  });
  after(async () => {
    await az?.stop();
  });

  // Run 0: A lands (it gets a watermark), B fails (it has none). Runs 1-3: A and B
  // fail. Run 4: everyone lands. C never fails.
  test('failed_runs counts failed runs in a row, failing_since stays, a success clears it', T, async () => {
    const container = 'streak1';
    const sb = await startSandbox({ seed: 71, mailboxes: 3, calendarViewMaxTop: 8 });
    const [a, b, c] = sb.tenant.users.map((u) => u.userPrincipalName);
    const [al, bl, cl] = [a, b, c].map((u) => u.toLowerCase());
    const reader = blobReader(az.service, container);
    const env = jobEnv(sb, az, { ATTENDANCE_CONTAINER: container });
    const fail = (upns) => sb.setFaults(upns.map((m) => ({ mailbox: m, kind: 'calendarView', status: 400 })));
    const runs = [];
    const step = async (label, failing) => {
      fail(failing);
      const r = await runJob(['run'], env, { timeoutMs: 60000 });
      assert.equal(r.code, failing.length ? 1 : 0, `${label}\n${describeRun(r)}`);
      // runs in the same second do not sort by time: take the id the log names
      const runId = r.logLines.find((l) => l.msg === 'run started')?.run_id;
      assert.ok((await runIds(reader)).includes(runId), `${label}: the manifest of ${runId}\n${describeRun(r)}`);
      const run = await loadRun(reader, runId);
      runs.push(run);
      return { r, run, cp: run.checkpoint, starts: run.manifest.started_utc };
    };
    try {
      // run 0
      let { r, run, cp, starts } = await step('run 0', [b]);
      const wmA = cp.mailboxes[al].watermark;
      const runA = cp.mailboxes[al].run_id;
      assert.equal(run.runId, runA);
      assert.ok(!('failing_since' in cp.mailboxes[al]), 'a mailbox that landed has no streak');
      assert.ok(!cp.mailboxes[bl], 'a mailbox without a watermark gets no entry');
      assert.deepEqual(cp.failing?.[bl], { failing_since: starts, failed_runs: 1 }, 'its streak waits under "failing"');
      const sinceB = starts;
      let sinceA = null;

      for (let i = 1; i <= 3; i++) {
        ({ r, run, cp, starts } = await step(`run ${i}`, [a, b]));
        if (i === 1) sinceA = starts;
        const e = cp.mailboxes[al];
        assert.equal(e.watermark, wmA, `run ${i}: the watermark is kept`);
        assert.equal(e.run_id, runA, `run ${i}: the entry still names the run that set the watermark`);
        assert.equal(e.failed_runs, i, `run ${i}: failed_runs of A`);
        assert.equal(e.failing_since, sinceA, `run ${i}: failing_since of A is the start of run 1`);
        assertUtcZ(e.failing_since, 'failing_since');
        assert.deepEqual(cp.failing[bl], { failing_since: sinceB, failed_runs: i + 1 }, `run ${i}: B`);
        assert.ok(!cp.mailboxes[bl], `run ${i}: B still has no watermark`);
        assert.ok(!('failing_since' in cp.mailboxes[cl]), `run ${i}: C is fine`);

        const mA = run.manifest.mailboxes.find((m) => m.upn === al);
        const mB = run.manifest.mailboxes.find((m) => m.upn === bl);
        const mC = run.manifest.mailboxes.find((m) => m.upn === cl);
        assert.equal(mA.status, 'failed');
        assert.equal(mA.failing_since, sinceA);
        assert.equal(mA.failed_runs, i);
        assert.equal(mB.failing_since, sinceB);
        assert.equal(mB.failed_runs, i + 1);
        assert.equal(mC.status, 'succeeded');
        assert.equal(mC.failing_since, null);
        assert.equal(mC.failed_runs, 0);

        // one log line an alert rule can match
        for (const [upn, since, n] of [[al, sinceA, i], [bl, sinceB, i + 1]]) {
          const want = `failing since ${since}, ${n} runs`;
          const lines = r.stderr.split('\n').filter((l) => l.includes(want));
          assert.equal(lines.length, 1, `run ${i}: one line says "${want}"\n${describeRun(r)}`);
          const j = JSON.parse(lines[0]);
          assert.equal(j.level, 'error');
          assert.equal(j.upn, upn);
          assert.match(j.msg, /^mailbox failed/);
          assert.equal(j.failed_runs, n);
          assert.equal(j.failing_since, since);
        }
      }
      assert.ok(parseTimeMs(sinceA) > parseTimeMs(sinceB), 'A began failing after B');

      // run 4: everyone lands, the streaks end
      ({ r, run, cp } = await step('run 4', []));
      for (const u of [al, bl, cl]) {
        assert.ok(cp.mailboxes[u], `${u} has an entry`);
        assert.equal(cp.mailboxes[u].run_id, run.runId);
        assert.ok(!('failing_since' in cp.mailboxes[u]) && !('failed_runs' in cp.mailboxes[u]), `${u}: streak cleared`);
        const m = run.manifest.mailboxes.find((x) => x.upn === u);
        assert.equal(m.failed_runs, 0);
        assert.equal(m.failing_since, null);
      }
      assert.ok(!('failing' in cp), 'nothing left under "failing"');
      assert.ok(parseTimeMs(cp.mailboxes[al].watermark) >= parseTimeMs(wmA), 'the watermark moves on');
      assert.ok(!/failing since/.test(r.stderr), 'no streak in the log of a clean run');
    } finally {
      await sb.close();
    }
  });
});
