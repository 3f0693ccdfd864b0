// Stopped runs: SIGTERM (a replica timeout, a cancelled execution) and SIGINT stop
// the job cleanly: manifest "terminated", no checkpoint move, no temporary folder
// left; a run killed outright (SIGKILL) leaves its folder, which the next run on the
// machine removes.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startAzurite, startSandbox, runJob, jobEnv, describeRun, blobReader, runIds, loadRun, listBlobs, tmpDir, sleep } from './harness.js';

const T = { timeout: 120000 };
const leftovers = (dir) => fs.readdirSync(dir).filter((n) => n.startsWith('teams-attendance-'));

describe('stopped runs', () => {
  let az;
  let sb;
  let tmp;
  before(async () => {
    az = await startAzurite();
    // slow answers: the run is still busy when the signal comes
    sb = await startSandbox({ seed: 81, mailboxes: 6, latencyMs: 400 });
    tmp = tmpDir('ta-signals-');
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  // Signals the job once its mailboxes have started asking Graph.
  const signalWhenBusy = (sig) => (child) => {
    const start = sb.requests.length;
    const timer = setInterval(() => {
      if (sb.requests.slice(start).some((e) => e.kind === 'calendarView')) {
        clearInterval(timer);
        child.kill(sig);
      }
    }, 20);
    child.once('close', () => clearInterval(timer));
  };

  for (const sig of ['SIGTERM', 'SIGINT']) {
    test(`${sig}: manifest terminated, checkpoint not moved, no temporary folder left`, T, async () => {
      const container = `signal-${sig.toLowerCase()}`;
      const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, TMPDIR: tmp }), { onSpawn: signalWhenBusy(sig) });
      assert.equal(r.signal, null, `the job handles ${sig} and exits on its own\n${describeRun(r)}`);
      assert.equal(r.code, 1, describeRun(r));
      assert.ok(r.logLines.some((l) => /terminated by a signal/.test(l.msg) && l.signal === sig), 'the log says why');
      const reader = blobReader(az.service, container);
      const ids = await runIds(reader);
      assert.equal(ids.length, 1, 'the manifest is written');
      const run = await loadRun(reader, ids[0]);
      assert.equal(run.manifest.status, 'terminated');
      assert.ok(run.manifest.mailboxes.some((m) => m.status === 'failed' && /stopped/.test(m.error)), 'unfinished mailboxes are named');
      for (const t of Object.values(run.manifest.counts)) assert.equal(t, 0, 'no table landed');
      assert.ok(!run.parquet.length, 'no Parquet file');
      assert.equal(run.checkpoint, null, 'no checkpoint was written');
      assert.deepEqual(leftovers(tmp), [], 'the temporary folder is gone');
    });
  }

  test('SIGKILL leaves the folder; the next run removes it', T, async () => {
    const container = 'signal-kill';
    const env = jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, TMPDIR: tmp });
    const r = await runJob(['run'], env, {
      onSpawn: (child) => {
        const timer = setInterval(() => {
          if (leftovers(tmp).length) {
            clearInterval(timer);
            child.kill('SIGKILL');
          }
        }, 10);
        child.once('close', () => clearInterval(timer));
      },
    });
    assert.equal(r.signal, 'SIGKILL');
    const dead = leftovers(tmp);
    assert.equal(dead.length, 1, 'a killed run cannot clean up');
    const mode = fs.statSync(path.join(tmp, dead[0])).mode & 0o777;
    assert.equal(mode, 0o700);
    for (const f of fs.readdirSync(path.join(tmp, dead[0]))) assert.equal(fs.statSync(path.join(tmp, dead[0], f)).mode & 0o777, 0o600, `${f} is 0600`);
    await sleep(50);
    const r2 = await runJob(['run', '--users', sb.tenant.users[0].userPrincipalName], env);
    assert.equal(r2.code, 0, describeRun(r2));
    assert.ok(r2.logLines.some((l) => /removed the temporary folders/.test(l.msg) && l.count === 1), 'the next run says it removed it');
    assert.deepEqual(leftovers(tmp), []);
    assert.ok((await listBlobs(az.service, container)).some((b) => b.name === 'registry/checkpoint.json'));
  });
});
