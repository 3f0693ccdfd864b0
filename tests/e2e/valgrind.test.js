// One whole run under valgrind memcheck, against Azurite and the sandbox Graph,
// including a retried 503 and a renewed token: no invalid read or write, no use of
// uninitialised memory, no definite or indirect leak (valgrind exits 99 on any).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startAzurite, startSandbox, runJob, jobEnv, describeRun, TA_BIN } from './harness.js';

const haveValgrind = spawnSync('valgrind', ['--version']).status === 0;

describe('memcheck', () => {
  test('valgrind is installed', () => assert.ok(haveValgrind, 'valgrind not found: scripts/install-deps.sh installs it'));
  let az;
  let sb;
  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 5, mailboxes: 3 });
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
  });

  test('a run with faults is clean under valgrind memcheck', { timeout: 300000 }, async () => {
    sb.setFaults([
      { method: 'GET', path: 'calendarView', status: 503, retryAfter: '0.1', count: 2 },
      { method: 'GET', path: 'attendanceRecords', status: 401, count: 1 },
    ]);
    const r = await runJob(
      ['--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect',
        '--show-leak-kinds=definite,indirect', '-q', TA_BIN, 'run'],
      jobEnv(sb, az, { ATTENDANCE_HTTP_TIMEOUT_SECONDS: '30' }),
      { bin: '/usr/bin/valgrind', timeoutMs: 280000 },
    );
    sb.clearFaults();
    assert.equal(r.code, 0, describeRun(r));
    const summary = r.logLines.find((l) => l.msg === 'run finished');
    assert.ok(summary, 'the run summed itself up');
    assert.equal(summary.mailboxes_ok, 3);
    assert.ok(summary.retries >= 2, `the faults were retried: ${JSON.stringify(summary)}`);
    assert.deepEqual(r.otherLines, [], 'valgrind reported nothing');
  });
});
