// A managed identity for Microsoft Graph (SPEC 3): with no client secret, certificate or
// federated token file, the job takes its Graph token from the platform's identity
// endpoint (the sandbox plays Container Apps' IDENTITY_ENDPOINT and the VM metadata
// endpoint), for resource = the Graph host, renews it before it expires and once on a
// 401, and lands what Graph holds. The IDENTITY_HEADER value is a secret.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
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
  tmpDir,
  expectedRefusals,
  DEV_KEY,
} from './harness.js';
import { TABLES, TABLE_NAMES, readHyparquet } from './tables-rules.js';
import { truthRows, assertSameRows } from './tables-truth.js';

const T = { timeout: 180000 };
const NO_APP_CREDENTIAL = { AZURE_CLIENT_SECRET: undefined, AZURE_TENANT_ID: undefined, AZURE_CLIENT_ID: undefined };

// Runs the job, loads the one run it wrote, and checks snapshots, manifest, checkpoint
// and the four Parquet tables against the sandbox's ground truth.
async function runAgainstTruth(sb, az, container, env, dir) {
  const reader = blobReader(az.service, container);
  const from = sb.requests.length;
  const r = await runJob(['run'], { ...env, ATTENDANCE_CONTAINER: container });
  assert.equal(r.code, 0, describeRun(r));
  const ids = await runIds(reader);
  assert.equal(ids.length, 1, `one run manifest, found ${ids.length}`);
  const run = await loadRun(reader, ids[0]);
  const runStartMs = parseTimeMs(run.manifest.started_utc);
  const exps = [];
  const wms = {};
  for (const u of sb.tenant.users) {
    const w = requestedWindow(sb, u.userPrincipalName, from);
    assert.ok(w, `no calendarView request for ${u.userPrincipalName}`);
    const exp = expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end });
    assertSnapshots(run, exp, { runStartMs });
    exps.push(exp);
    wms[u.userPrincipalName] = exp.watermark;
  }
  assertManifest(run, exps, { status: 'succeeded', runStartMs });
  assertCheckpoint(run.checkpoint, run, wms);
  const extractedUtc = requestedWindow(sb, sb.tenant.users[0].userPrincipalName, from).endRaw;
  const want = truthRows(exps, { runId: run.runId, extractedUtc });
  for (const t of TABLE_NAMES) {
    const blob = run.parquet.find((b) => b.name.startsWith(`parquet/${t}/`));
    assert.ok(blob, `no Parquet file for ${t}`);
    const file = path.join(dir, `${t}.parquet`);
    fs.writeFileSync(file, await reader.read(blob.name));
    const got = await readHyparquet(file, TABLES[t]);
    assertSameRows('managed identity run', t, got.rows, want[t]);
  }
  const log = sb.requests.slice(from);
  // lookups of another organizer's link pasted into an event: 403, each after one renewal
  const { refused, renewals } = expectedRefusals(log, exps);
  return { r, run, log, refused, renewals };
}

describe('managed identity for Microsoft Graph', () => {
  let az;
  let sb;
  let dir;
  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 23, mailboxes: 3, calendarViewMaxTop: 6 });
    dir = tmpDir('ta-identity-');
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('IDENTITY_ENDPOINT + IDENTITY_HEADER only: a full run that matches Graph', T, async () => {
    const env = jobEnv(sb, az, { ...NO_APP_CREDENTIAL, IDENTITY_ENDPOINT: sb.identityEndpoint, IDENTITY_HEADER: sb.identityHeader });
    const { r, log, refused, renewals } = await runAgainstTruth(sb, az, 'mi-app', env, dir);

    const ident = log.filter((e) => e.kind === 'identity');
    assert.ok(ident.length >= 1, 'the identity endpoint was asked');
    for (const e of ident) {
      assert.equal(e.method, 'GET');
      assert.equal(e.identity.header, 'ok', 'X-IDENTITY-HEADER carries IDENTITY_HEADER');
      assert.equal(e.identity.apiVersion, '2019-08-01');
      assert.equal(e.identity.resource, sb.url, 'resource is the Graph host (GRAPH_ENDPOINT)');
      assert.equal(e.identity.clientId, null, 'no AZURE_CLIENT_ID: the system-assigned identity');
      assert.equal(e.status, 200);
    }
    assert.deepEqual(log.filter((e) => e.kind === 'token').map((e) => e.path), [], 'Entra ID is never asked');
    const graph = log.filter((e) => !['identity', 'imds', 'token'].includes(e.kind));
    assert.ok(graph.length > 0 && graph.every((e) => e.headers.tokenId && (e.status === 200 || refused.has(e))), 'every Graph call carried an identity token and succeeded (but the refused lookups)');
    // each refused lookup is retried with a token newer than the one refused; lookups
    // refused together share one renewal
    assert.ok(ident.length >= 2 && ident.length <= 1 + renewals, `one token, then at most one more per refused lookup (${renewals}) (got ${ident.length})`);

    const hits = await findSecrets([...sb.secrets(), DEV_KEY], { runs: [r], service: az.service, containers: ['mi-app'] });
    assert.deepEqual(hits, [], 'a secret leaked (the identity header or a token)');
    assert.ok(!r.stderr.includes(sb.identityHeader) && !r.stdout.includes(sb.identityHeader));
  });

  test('the VM metadata endpoint, a user-assigned identity named by AZURE_CLIENT_ID, renewed once on a 401', T, async () => {
    const clientId = '3f1b6a52-6f2c-4c55-9a8e-1d2c3b4a5f60';
    // one calendarView answer refuses the token: the job must fetch a new one and retry
    sb.setFaults([{ kind: 'calendarView', status: 401, count: 1, name: 'expired' }]);
    try {
      const env = jobEnv(sb, az, { ...NO_APP_CREDENTIAL, AZURE_CLIENT_ID: clientId, AZURE_POD_IDENTITY_AUTHORITY_HOST: sb.url });
      const { r, log, renewals } = await runAgainstTruth(sb, az, 'mi-vm', env, dir);
      const imds = log.filter((e) => e.kind === 'imds');
      // each refused lookup (another organizer's link) is retried with a newer token too;
      // lookups refused together share one renewal
      assert.ok(imds.length >= 3 && imds.length <= 2 + renewals, `one token, one more after the 401, at most one per refused lookup (${renewals}) (got ${imds.length})`);
      for (const e of imds) {
        assert.equal(e.identity.header, 'ok', 'Metadata: true');
        assert.equal(e.identity.apiVersion, '2018-02-01');
        assert.equal(e.identity.resource, sb.url);
        assert.equal(e.identity.clientId, clientId, 'client_id names the user-assigned identity');
      }
      const refused = log.find((e) => e.fault === 'expired');
      assert.ok(refused, 'the 401 was served');
      const retry = log.find((e) => e.seq > refused.seq && e.kind === 'calendarView' && e.path === refused.path && e.rawQuery === refused.rawQuery);
      assert.ok(retry && retry.status === 200, 'the refused request was sent again');
      assert.notEqual(retry.headers.tokenId, refused.headers.tokenId, 'with a new token');
      assert.deepEqual(log.filter((e) => e.kind === 'token').map((e) => e.path), [], 'Entra ID is never asked');
      assert.deepEqual(await findSecrets(sb.secrets(), { runs: [r] }), []);
    } finally {
      sb.clearFaults();
    }
  });

  test('a token that lives 3 seconds is renewed before it expires', T, async () => {
    const short = await startSandbox({ seed: 9, mailboxes: 3, tokenLifetimeSeconds: 3, latencyMs: 70 });
    try {
      const started = Date.now();
      const env = jobEnv(short, null, { ...NO_APP_CREDENTIAL, IDENTITY_ENDPOINT: short.identityEndpoint, IDENTITY_HEADER: short.identityHeader, ATTENDANCE_OUTPUT_DIR: path.join(dir, 'short') });
      const r = await runJob(['run', '--concurrency', '1'], env);
      const secs = (Date.now() - started) / 1000;
      assert.equal(r.code, 0, describeRun(r));
      assert.ok(secs > 3, `the run outlived one token (${secs} s)`);
      const ident = short.requests.filter((e) => e.kind === 'identity');
      assert.ok(ident.length >= 2, `tokens fetched: ${ident.length} in ${secs} s`);
      // besides renewals at half the token's life, one per refused lookup (a link of
      // another organizer's meeting: SPEC 4 renews the token once on a 403)
      const exps = short.tenant.users.map((u) => {
        const w = requestedWindow(short, u.userPrincipalName);
        return expectedMailbox(short, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end });
      });
      const { renewals } = expectedRefusals(short.requests, exps);
      assert.ok(ident.length <= Math.ceil(secs / 1.5) + 2 + renewals, `not one token per request: ${ident.length} in ${secs} s (${renewals} refused lookups)`);
      const refused = short.requests.filter((e) => !['identity', 'token'].includes(e.kind) && e.status === 401);
      assert.deepEqual(refused.map((e) => e.path), [], 'no request went out with an expired token');
    } finally {
      await short.close();
    }
  });

  test('no credential and no identity endpoint: exit 2, every option named, no request', T, async () => {
    const from = sb.requests.length;
    const r = await runJob(['check'], jobEnv(sb, null, { ...NO_APP_CREDENTIAL, AZURE_TENANT_ID: sb.tenant.tenantId, AZURE_CLIENT_ID: sb.tenant.clientId, ATTENDANCE_OUTPUT_DIR: path.join(dir, 'never') }));
    assert.equal(r.code, 2, describeRun(r));
    for (const name of ['AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_FEDERATED_TOKEN_FILE', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'VM metadata endpoint'])
      assert.ok(r.stderr.includes(name), `the error names ${name}:\n${r.stderr}`);
    assert.equal(sb.requests.length, from, 'no request reached the sandbox');
    assert.ok(!fs.existsSync(path.join(dir, 'never')));
  });

  test('IDENTITY_ENDPOINT without IDENTITY_HEADER is a configuration error', T, async () => {
    const r = await runJob(['check'], jobEnv(sb, az, { ...NO_APP_CREDENTIAL, IDENTITY_ENDPOINT: sb.identityEndpoint }));
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /IDENTITY_HEADER/);
  });

  test('check with a managed identity: token, storage and mailboxes ok', T, async () => {
    const r = await runJob(['check'], jobEnv(sb, az, { ...NO_APP_CREDENTIAL, IDENTITY_ENDPOINT: sb.identityEndpoint, IDENTITY_HEADER: sb.identityHeader }));
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /ok {4}token: got a Microsoft Graph token from the managed identity endpoint/);
    assert.ok(!r.stdout.includes(sb.identityHeader) && !r.stderr.includes(sb.identityHeader));
  });
});
