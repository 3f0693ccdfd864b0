// Token requests follow the HTTP engine's rules, like every other request: a 503 with
// Retry-After is retried once after that wait; a Retry-After longer than
// ATTENDANCE_MAX_RETRY_WAIT_SECONDS is cut to it; an answer slower than
// ATTENDANCE_HTTP_TIMEOUT_SECONDS is abandoned and retried, and when retries run out
// the run fails naming the setting; the VM metadata endpoint's 404 (an identity being
// assigned) is retried. Each case reads the sandbox's own log of what it was sent and
// when.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startAzurite, startSandbox, runJob, jobEnv, describeRun } from './harness.js';

const T = { timeout: 120000 };

describe('token requests through the HTTP engine', () => {
  let az;
  let sb;
  let seq = 0;
  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 31, mailboxes: 1 });
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
  });

  // Runs the job with `faults` on the sandbox; returns the run and the token-endpoint
  // requests of `kind` it made, in order.
  async function runWith(faults, extra = {}, kind = 'token') {
    sb.setFaults(faults);
    const from = sb.requests.length;
    try {
      const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: `tokretry${++seq}`, ...extra }));
      const calls = sb.requests.slice(from).filter((e) => e.kind === kind);
      return { r, calls };
    } finally {
      sb.clearFaults();
    }
  }

  test('a 503 with Retry-After: one retry, after the wait', T, async () => {
    const { r, calls } = await runWith([{ kind: 'token', status: 503, retryAfter: 2, count: 1, name: 'busy' }]);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(calls.slice(0, 2).map((e) => [e.fault, e.status]), [['busy', 503], [null, 200]]);
    assert.equal(calls.filter((e) => e.status !== 200).length, 1, 'one refused token request');
    const waited = calls[1].startedAt - calls[0].endedAt;
    assert.ok(waited >= 1900 && waited < 4000, `waited ${waited} ms for Retry-After: 2`);
  });

  test('a Retry-After longer than ATTENDANCE_MAX_RETRY_WAIT_SECONDS waits that long only', T, async () => {
    const { r, calls } = await runWith([{ kind: 'token', status: 429, retryAfter: 120, count: 1, name: 'throttled' }], {
      ATTENDANCE_MAX_RETRY_WAIT_SECONDS: '1',
    });
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(calls.slice(0, 2).map((e) => [e.fault, e.status]), [['throttled', 429], [null, 200]]);
    const waited = calls[1].startedAt - calls[0].endedAt;
    assert.ok(waited >= 900 && waited < 3000, `waited ${waited} ms, capped at 1 s`);
  });

  test('an answer slower than ATTENDANCE_HTTP_TIMEOUT_SECONDS is abandoned and retried', T, async () => {
    const slow = { kind: 'token', delayMs: 3000, name: 'slow' };
    const started = Date.now();
    const { r, calls } = await runWith([{ ...slow, count: 1 }], { ATTENDANCE_HTTP_TIMEOUT_SECONDS: '1' });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(calls[0].fault, 'slow');
    assert.equal(calls[1].fault, null);
    assert.equal(calls[1].status, 200);
    // the retry went out about a second after the first attempt began, not after its answer
    const gap = calls[1].startedAt - calls[0].startedAt;
    assert.ok(gap >= 1000 && gap < 2900, `the retry started ${gap} ms after the first attempt`);
    assert.ok(Date.now() - started < 60000);

    // no retries left: the run fails, the message names the setting, a timeout
    const { r: r2, calls: c2 } = await runWith([slow], { ATTENDANCE_HTTP_TIMEOUT_SECONDS: '1', ATTENDANCE_MAX_RETRIES: '0' });
    assert.notEqual(r2.code, 0, describeRun(r2));
    assert.equal(c2.length, 1, 'one attempt');
    // the engine's words: the attempt, the URL without its query, the timeout
    assert.match(
      r2.stderr,
      /Microsoft Graph token request timed out \(ATTENDANCE_HTTP_TIMEOUT_SECONDS\): gave up after 1 attempt: POST http:\/\/127\.0\.0\.1:\d+\/[^/]+\/oauth2\/v2\.0\/token: no complete answer within 1 s/,
      describeRun(r2),
    );
  });

  test('the VM metadata endpoint: a 404 while the identity is assigned is retried', T, async () => {
    const { r, calls } = await runWith(
      [{ kind: 'imds', status: 404, retryAfter: 0, count: 1, name: 'assigning', body: { error: 'invalid_request', error_description: 'Identity not found' } }],
      { AZURE_CLIENT_SECRET: undefined, AZURE_TENANT_ID: undefined, AZURE_CLIENT_ID: undefined, AZURE_POD_IDENTITY_AUTHORITY_HOST: sb.url },
      'imds',
    );
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(calls.slice(0, 2).map((e) => [e.fault, e.status]), [['assigning', 404], [null, 200]]);
  });
});
