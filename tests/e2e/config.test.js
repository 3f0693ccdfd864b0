// Settings end to end: a bad setting stops the job with exit 2 and a message that
// names it, before any network call (nothing reaches the sandbox Graph or the
// storage endpoint); the old job's variable names still work; `check` validates
// without writing anything.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startSandbox, startAzurite, runJob, jobEnv, describeRun, listBlobs, tmpDir, DEV_KEY, connectionCounter } from './harness.js';

const T = { timeout: 60000 };

describe('bad settings: exit 2, the setting named, no network call', () => {
  let sb;
  let counter;
  let base;
  before(async () => {
    sb = await startSandbox({ seed: 41, mailboxes: 2, latencyMs: 0 });
    counter = await connectionCounter();
    const cs = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:${counter.port}/devstoreaccount1;`;
    base = jobEnv(sb, null, { AZURE_STORAGE_CONNECTION_STRING: cs });
  });
  after(async () => {
    await sb?.close();
    await counter?.close();
  });

  const cases = [
    ['no tenant', { AZURE_TENANT_ID: undefined }, [], /AZURE_TENANT_ID/],
    ['empty tenant counts as unset', { AZURE_TENANT_ID: '' }, [], /AZURE_TENANT_ID/],
    ['no client id', { AZURE_CLIENT_ID: undefined }, [], /AZURE_CLIENT_ID/],
    ['no credential', { AZURE_CLIENT_SECRET: undefined }, [], /AZURE_CLIENT_SECRET|credential/i],
    ['no mailboxes', { ATTENDANCE_USERS: undefined }, [], /ATTENDANCE_USERS/],
    ['only separators as mailboxes', { ATTENDANCE_USERS: ' ,\n, ' }, [], /ATTENDANCE_USERS/],
    ['no storage target', { AZURE_STORAGE_CONNECTION_STRING: undefined }, [], /AZURE_STORAGE_CONNECTION_STRING|ATTENDANCE_OUTPUT_DIR|AZURE_STORAGE_ACCOUNT_URL/],
    ['two storage targets', { ATTENDANCE_OUTPUT_DIR: '/tmp/ta-never-written' }, [], /ATTENDANCE_OUTPUT_DIR|AZURE_STORAGE_CONNECTION_STRING/],
    ['concurrency not a number', { ATTENDANCE_CONCURRENCY: 'lots' }, [], /ATTENDANCE_CONCURRENCY/],
    ['concurrency zero', { ATTENDANCE_CONCURRENCY: '0' }, [], /ATTENDANCE_CONCURRENCY/],
    ['negative first-run days', { ATTENDANCE_FIRST_RUN_DAYS: '-3' }, [], /ATTENDANCE_FIRST_RUN_DAYS/],
    ['overlap not a number', { ATTENDANCE_OVERLAP_MINUTES: 'five' }, [], /ATTENDANCE_OVERLAP_MINUTES/],
    ['settle not a number', { ATTENDANCE_SETTLE_MINUTES: '1h' }, [], /ATTENDANCE_SETTLE_MINUTES/],
    ['timeout not a number', { ATTENDANCE_HTTP_TIMEOUT_SECONDS: 'abc' }, [], /ATTENDANCE_HTTP_TIMEOUT_SECONDS/],
    ['retries not a number', { ATTENDANCE_MAX_RETRIES: 'x' }, [], /ATTENDANCE_MAX_RETRIES/],
    ['unknown codec', { ATTENDANCE_PARQUET_COMPRESSION: 'lz4' }, [], /ATTENDANCE_PARQUET_COMPRESSION/],
    ['unknown timestamp type', { ATTENDANCE_PARQUET_TIMESTAMPS: 'nanos' }, [], /ATTENDANCE_PARQUET_TIMESTAMPS/],
    ['plain http Graph host off loopback', { GRAPH_ENDPOINT: 'http://graph.example.com' }, [], /GRAPH_ENDPOINT/],
    ['plain http login host off loopback', { AZURE_AUTHORITY_HOST: 'http://login.example.com' }, [], /AZURE_AUTHORITY_HOST/],
    ['unknown log format', { LOG_FORMAT: 'xml' }, [], /LOG_FORMAT/],
    ['unknown log level', { LOG_LEVEL: 'loud' }, [], /LOG_LEVEL/],
    ['malformed connection string', { AZURE_STORAGE_CONNECTION_STRING: 'this is not one' }, [], /AZURE_STORAGE_CONNECTION_STRING/],
    ['bad --since', {}, ['run', '--since', 'yesterday'], /since/],
    ['--until before --since', {}, ['run', '--since', '2026-11-02', '--until', '2026-11-01'], /until|since/],
    ['bad --concurrency', {}, ['run', '--concurrency', 'many'], /concurrency/],
    ['bad --shard', {}, ['run', '--shard', '3/2'], /shard/],
    ['unknown command', {}, ['frobnicate'], /frobnicate|usage|command/i],
  ];

  for (const [name, extra, args, re] of cases) {
    test(name, T, async () => {
      const before = sb.requests.length;
      const conns = counter.count;
      const env = { ...base };
      for (const [k, v] of Object.entries(extra)) {
        if (v === undefined) delete env[k];
        else env[k] = v;
      }
      const r = await runJob(args.length ? args : ['run'], env, { timeoutMs: 20000 });
      assert.equal(r.code, 2, describeRun(r));
      assert.match(r.stderr + r.stdout, re, `the message names the setting\n${describeRun(r)}`);
      assert.equal(sb.requests.length, before, 'no request reached Graph');
      assert.equal(sb.trapRequests.length, 0);
      assert.equal(counter.count, conns, 'no connection reached storage');
      for (const s of [sb.tenant.clientSecret, DEV_KEY]) assert.ok(!(r.stderr + r.stdout).includes(s), 'a secret was echoed');
    });
  }
});

describe('settings that work', () => {
  let sb;
  let az;
  before(async () => {
    sb = await startSandbox({ seed: 42, mailboxes: 3, latencyMs: 0 });
    az = await startAzurite();
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
  });

  test("the old job's variable names, SGA_UPN<n> merged, case-insensitive duplicates dropped", T, async () => {
    const [a, b, c] = sb.tenant.users.map((u) => u.userPrincipalName);
    const out = tmpDir();
    const env = jobEnv(sb, null, {
      AZURE_TENANT_ID: undefined,
      AZURE_CLIENT_ID: undefined,
      AZURE_CLIENT_SECRET: undefined,
      tenant: sb.tenant.tenantId,
      client_id: sb.tenant.clientId,
      client_screte: sb.tenant.clientSecret,
      ATTENDANCE_USERS: `${a}\n${b.toUpperCase()}`,
      SGA_UPN: b.toLowerCase(),
      SGA_UPN2: c,
      SGA_UPN7: a.toLowerCase(),
      ATTENDANCE_OUTPUT_DIR: out,
    });
    const from = sb.requests.length;
    const r = await runJob(['run'], env);
    try {
      assert.equal(r.code, 0, describeRun(r));
      const cv = sb.requests.slice(from).filter((e) => e.kind === 'user');
      assert.deepEqual(cv.map((e) => e.mailbox).sort(), [a, b, c].sort(), 'each mailbox looked up once');
      assert.ok(fs.existsSync(path.join(out, 'registry', 'checkpoint.json')), 'output folder holds the checkpoint');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('a flag beats the environment: --users and --output-dir', T, async () => {
    const [a, b] = sb.tenant.users.map((u) => u.userPrincipalName);
    const out = tmpDir();
    const from = sb.requests.length;
    // --output-dir overrides the account set in the environment
    const r = await runJob(['run', '--users', b, '--output-dir', out], jobEnv(sb, az, { ATTENDANCE_USERS: a }));
    try {
      assert.equal(r.code, 0, describeRun(r));
      const looked = sb.requests.slice(from).filter((e) => e.kind === 'user').map((e) => e.mailbox);
      assert.deepEqual(looked, [b]);
      assert.ok(fs.existsSync(path.join(out, 'registry', 'checkpoint.json')));
      assert.deepEqual(await listBlobs(az.service, 'teams-attendance'), [], 'nothing written to the account');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('check: all good is exit 0 and writes nothing', T, async () => {
    const from = sb.requests.length;
    const r = await runJob(['check'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: 'checked' }));
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(sb.requests.slice(from).some((e) => e.kind === 'token' && e.status === 200), 'check gets a token');
    assert.equal(await az.service.getContainerClient('checked').exists(), false, 'check creates nothing');
  });

  test('check: a wrong secret is exit 1 and the failure is named, without the secret', T, async () => {
    const wrong = 'wrong~secret~value~1234567890';
    const r = await runJob(['check'], jobEnv(sb, az, { AZURE_CLIENT_SECRET: wrong }));
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr + r.stdout, /secret|credential|token|AADSTS7000215|invalid_client/i);
    assert.ok(!(r.stderr + r.stdout).includes(wrong), 'the secret was echoed');
  });

  test('run with a wrong secret fails (exit 1) without a checkpoint', T, async () => {
    const wrong = 'another~wrong~secret~0987654321';
    const r = await runJob(['run'], jobEnv(sb, az, { AZURE_CLIENT_SECRET: wrong, ATTENDANCE_CONTAINER: 'wrongsecret' }));
    assert.equal(r.code, 1, describeRun(r));
    assert.ok(!(r.stderr + r.stdout).includes(wrong), 'the secret was echoed');
    const cc = az.service.getContainerClient('wrongsecret');
    if (await cc.exists()) assert.equal(await cc.getBlobClient('registry/checkpoint.json').exists(), false);
  });
});
