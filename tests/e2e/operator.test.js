// What an operator sees: the progress line and summary table of a run on a terminal
// (and none anywhere else), and a mailbox that fails run after run saying so in its
// checkpoint entry, its manifest entry and one log line (SPEC 6, 7, 8).
//
// A terminal is a pseudo-terminal from util-linux `script` (Debian: bsdutils).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
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
  TA_BIN,
} from './harness.js';

const T = { timeout: 180000 };

const HAVE_SCRIPT = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const ERASE = '\r\x1b[K';
const LOG_LINE = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error) /;

// Runs the job under a pseudo-terminal (its stdout and stderr both the pty);
// returns what the terminal received.
async function runOnPty(args, env, { timeoutMs = 60000 } = {}) {
  // a wide terminal, so that the line is not cut to its width
  const cmd = `stty cols 200 2>/dev/null; exec ${[TA_BIN, ...args].map(shq).join(' ')}`;
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
    env: { PATH: process.env.PATH || '/usr/bin:/bin', TERM: 'xterm', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: os.tmpdir(),
  });
  const out = [];
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => out.push(d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, text: Buffer.concat(out).toString('utf8') };
}

describe('progress on a terminal', { skip: HAVE_SCRIPT ? false : 'util-linux script is not installed' }, () => {
  let az, sb;
  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 72, mailboxes: 6, calendarViewMaxTop: 4, latencyMs: [40, 80] });
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
  });

  test('text logs on a pty: a progress line redrawn in place, clean log lines, a summary table', T, async () => {
    const bad = sb.tenant.users[0].userPrincipalName;
    sb.setFaults([{ mailbox: bad, kind: 'calendarView', status: 400 }]);
    // LOG_FORMAT unset: text, since stderr is a terminal (SPEC 3)
    const env = jobEnv(sb, az, { ATTENDANCE_CONTAINER: 'pty1', LOG_FORMAT: undefined, ATTENDANCE_CONCURRENCY: '4' });
    const r = await runOnPty(['run'], env);
    const text = r.text;
    assert.equal(r.code, 1, text);
    assert.doesNotMatch(text, /AddressSanitizer|LeakSanitizer|runtime error:/);
    const draws = text.split(ERASE).filter((s) => /^mailboxes \d+\/6/.test(s));
    assert.ok(draws.length >= 2, `the progress line is drawn more than once (${draws.length})\n${text}`);
    const first = draws[0];
    assert.match(first, /^mailboxes \d+\/6( \(\d+ failed\))?  requests \d+  throttled \d+  rows \d+  elapsed \d+s  left (\?|\d+[smh])$/);
    assert.ok(draws.some((d) => /left \?/.test(d)), 'no estimate before a mailbox is done');
    const last = draws[draws.length - 1];
    assert.match(last, /^mailboxes 6\/6 \(1 failed\) /, `the last drawing counts every mailbox\n${text}`);
    assert.match(last, /left 0s/);
    // every log line starts on a clean line: at the start, or right after an erase
    const lines = text.split('\n');
    let logLines = 0;
    for (const l of lines) {
      const m = LOG_LINE.exec(l);
      if (!m) continue;
      logLines++;
      const before = l.slice(0, m.index);
      assert.ok(before === '' || before.endsWith(ERASE), `a log line garbled by the progress line: ${JSON.stringify(l)}`);
      assert.ok(!/mailboxes \d+\//.test(l.slice(m.index)), `progress text inside a log line: ${JSON.stringify(l)}`);
    }
    assert.ok(logLines >= 3, text);
    // the summary table, then the run's last log line
    const plain = text.replace(/\r/g, '');
    assert.match(plain, /\nRun \d{8}T\d{6}Z-[0-9a-f]{6}: partial\n/);
    for (const row of ['table', 'events', 'attendance_reports', 'attendance_records', 'attendance_intervals', 'mailboxes ok', 'mailboxes failed', 'requests', 'retries', 'throttled', 'duration'])
      assert.match(plain, new RegExp(`\\n  ${row} +\\S+\\n`), `summary row ${row}`);
    assert.match(plain, /\n  mailboxes ok +5\n  mailboxes failed +1\n/);
    assert.match(plain, new RegExp(`\\nFailed mailboxes:\\n  ${bad.toLowerCase().replace(/[.]/g, '\\.')}: .*400.*\\(failing since \\S+Z, 1 runs\\)\\n`));
    // the rows in the table are what the manifest says landed
    const runId = /\nRun (\S+): /.exec(plain)[1];
    const run = await loadRun(blobReader(az.service, 'pty1'), runId);
    for (const t of ['events', 'attendance_reports', 'attendance_records', 'attendance_intervals'])
      assert.match(plain, new RegExp(`\\n  ${t} +${run.manifest.counts[t]}\\n`), `rows of ${t}`);
    const tail = plain.trimEnd().split('\n').pop();
    assert.match(tail, /error +run finished /, 'the last line still sums the run up');
  });

  test('no progress line with JSON logs on a pty, nor with stderr not a terminal', T, async () => {
    sb.setFaults([]);
    const json = await runOnPty(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: 'pty2', LOG_FORMAT: 'json' }));
    assert.equal(json.code, 0, json.text);
    assert.ok(!json.text.includes('\x1b['), `no escape sequence in JSON mode\n${json.text}`);
    assert.ok(!/mailboxes \d+\//.test(json.text) && !/\nRun \S+: /.test(json.text), 'no progress, no table');
    const lines = json.text.split(/\r?\n/).filter((l) => l.trim());
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `a JSON log line: ${JSON.stringify(l)}`);

    for (const fmt of ['text', undefined]) {
      const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: 'pty3', LOG_FORMAT: fmt }));
      assert.equal(r.code, 0, describeRun(r));
      assert.ok(!r.stderr.includes('\x1b[') && !r.stderr.includes('\r'), `no progress on a pipe (LOG_FORMAT=${fmt})\n${r.stderr}`);
      assert.ok(!/mailboxes \d+\//.test(r.stderr) && !/\nRun \S+: /.test(r.stderr), 'no progress, no table');
      if (fmt === undefined) assert.deepEqual(r.otherLines, [], 'JSON by default when stderr is not a terminal');
      else assert.ok(r.stderr.split('\n').filter(Boolean).every((l) => LOG_LINE.test(l)), 'text log lines only');
    }
  });
});

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
      assert.doesNotMatch(r.stderr, /AddressSanitizer|LeakSanitizer|runtime error:/, label);
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
