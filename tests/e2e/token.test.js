// Tokens that expire during a run are renewed before they expire: with a 3-second
// token lifetime and Graph answering slowly, the run fetches new tokens as it goes
// and Graph never has to refuse an expired one (no 401).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startAzurite, startSandbox, runJob, jobEnv, describeRun } from './harness.js';

describe('token renewal before expiry', () => {
  let az;
  let sb;
  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 9, mailboxes: 3, tokenLifetimeSeconds: 3, latencyMs: 60 });
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
  });

  test('a run longer than a token lives renews it in time', { timeout: 120000 }, async () => {
    const from = sb.requests.length;
    const started = Date.now();
    const r = await runJob(['run', '--concurrency', '2'], jobEnv(sb, az));
    const secs = (Date.now() - started) / 1000;
    assert.equal(r.code, 0, describeRun(r));
    const log = sb.requests.slice(from);
    const tokens = log.filter((e) => e.kind === 'token');
    const graph = log.filter((e) => e.kind !== 'token');
    assert.ok(secs > 3, `the run outlived one token (${secs} s)`);
    assert.ok(tokens.length >= 2, `tokens fetched: ${tokens.length} in ${secs} s`);
    // renewed at half its life: not one token per request
    assert.ok(tokens.length <= Math.ceil(secs / 1.5) + 2, `tokens fetched: ${tokens.length} in ${secs} s`);
    const refused = graph.filter((e) => e.status === 401);
    assert.deepEqual(refused.map((e) => e.path), [], 'no request went out with an expired token');
  });
});
