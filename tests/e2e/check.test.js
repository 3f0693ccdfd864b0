// `check` names the fix for each class of failure (SPEC 2: exit 0 all good, 1 a check
// failed, each failure named with its fix, 2 bad configuration), all on loopback:
// an https endpoint whose self-signed certificate is made at test time (TLS), a
// `.invalid` host (DNS, which never resolves), a closed port (connection refused), a
// listener that never answers (timeout), the sandbox's token endpoint (wrong secret,
// unknown app, unknown tenant), Graph refusing a permission or the access policy, and
// storage refusing an account key, a SAS or a managed identity.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { startAzurite, startSandbox, runJob, jobEnv, describeRun, findSecrets, tmpDir, DEV_ACCOUNT, DEV_KEY } from './harness.js';

const T = { timeout: 60000 };
// one attempt, short waits: a failure class shows at once
const ONE_TRY = { ATTENDANCE_MAX_RETRIES: '0', ATTENDANCE_HTTP_TIMEOUT_SECONDS: '2' };
const WRONG_KEY = Buffer.alloc(64, 7).toString('base64');

// The FAIL lines of check's report with the fix printed under each.
function failures(r) {
  const out = [];
  const lines = r.stdout.split('\n');
  lines.forEach((l, i) => {
    if (!l.startsWith('FAIL  ')) return;
    const fix = lines[i + 1]?.startsWith('      fix: ') ? lines[i + 1].slice(11) : null;
    out.push({ line: l, fix, text: fix ? `${l}\n${fix}` : l });
  });
  return out;
}

function listen(server) {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
}

function closeServer(server) {
  server.closeAllConnections?.();
  return new Promise((r) => server.close(() => r()));
}

describe('check: each failure class named with its fix', () => {
  let az;
  let sb;
  let dir;
  let cert;
  let tls;
  let tlsPort;
  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 31, mailboxes: 2, latencyMs: 0 });
    dir = tmpDir('ta-check-');
    // a throwaway self-signed certificate for 127.0.0.1, made now, removed after
    const key = path.join(dir, 'key.pem');
    cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    // an https front of the sandbox's login endpoint
    tls = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
      const fwd = http.request(`${sb.url}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      });
      req.pipe(fwd);
    });
    tlsPort = await listen(tls);
  });
  after(async () => {
    if (tls) await closeServer(tls);
    await sb?.close();
    await az?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const check = (extra, { az: withAz = true } = {}) => runJob(['check'], jobEnv(sb, withAz ? az : null, { ...ONE_TRY, ATTENDANCE_CONTAINER: 'checked', ...extra }));

  test('all good: exit 0, an organized meeting looked up', T, async () => {
    const r = await check({});
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(failures(r), []);
    assert.match(r.stdout, /an organized meeting found by its join URL/);
    assert.ok(sb.requests.some((e) => e.kind === 'onlineMeetings' && e.status === 200), 'the meeting was looked up');
  });

  test('TLS: an untrusted certificate names the CA bundle; trusting it makes the check pass', T, async () => {
    const r = await check({ AZURE_AUTHORITY_HOST: `https://127.0.0.1:${tlsPort}` });
    assert.equal(r.code, 1, describeRun(r));
    const f = failures(r);
    assert.equal(f.length, 1, r.stdout);
    assert.match(f[0].line, /^FAIL {2}token: /);
    assert.match(f[0].fix, /TLS certificate/);
    assert.match(f[0].fix, /SSL_CERT_FILE/);
    assert.match(f[0].fix, /CURL_CA_BUNDLE/);
    assert.match(f[0].fix, /system CA certificates/);
    assert.match(f[0].fix, /AZURE_AUTHORITY_HOST/);
    // the same endpoint, its CA given through SSL_CERT_FILE (and CURL_CA_BUNDLE)
    for (const v of ['SSL_CERT_FILE', 'CURL_CA_BUNDLE']) {
      const ok = await check({ AZURE_AUTHORITY_HOST: `https://127.0.0.1:${tlsPort}`, [v]: cert });
      assert.equal(ok.code, 0, `${v}: ${describeRun(ok)}`);
    }
  });

  test('TLS to storage names the CA bundle and AZURE_STORAGE_ACCOUNT_URL', T, async () => {
    const r = await check({ AZURE_STORAGE_CONNECTION_STRING: undefined, AZURE_STORAGE_ACCOUNT_URL: `https://127.0.0.1:${tlsPort}/acct`, AZURE_STORAGE_SAS_TOKEN: 'sv=2021-08-06&sp=rwcl&sig=c2lnbmF0dXJlMTIzNDU2Nzg5' });
    assert.equal(r.code, 1, describeRun(r));
    const f = failures(r);
    assert.equal(f.length, 1, r.stdout);
    assert.match(f[0].line, /^FAIL {2}storage: /);
    assert.match(f[0].fix, /SSL_CERT_FILE/);
    assert.match(f[0].fix, /AZURE_STORAGE_ACCOUNT_URL/);
    assert.ok(!r.stdout.includes('c2lnbmF0dXJlMTIzNDU2Nzg5') && !r.stderr.includes('c2lnbmF0dXJlMTIzNDU2Nzg5'), 'the SAS signature stays out');
  });

  test('DNS: a host that does not resolve names its setting', T, async () => {
    const r = await check({ AZURE_AUTHORITY_HOST: 'https://login.nonexistent.invalid' });
    assert.equal(r.code, 1, describeRun(r));
    const f = failures(r);
    assert.equal(f.length, 1, r.stdout);
    assert.match(f[0].fix, /host name in AZURE_AUTHORITY_HOST \(https:\/\/login\.nonexistent\.invalid\) does not resolve/);
    const s = await check({ AZURE_STORAGE_CONNECTION_STRING: undefined, AZURE_STORAGE_ACCOUNT_URL: 'https://acct.blob.nonexistent.invalid', AZURE_STORAGE_SAS_TOKEN: 'sv=2021-08-06&sp=rwcl&sig=c2lnbmF0dXJlMTIzNDU2Nzg5' });
    assert.equal(s.code, 1, describeRun(s));
    const g = failures(s);
    assert.equal(g.length, 1, s.stdout);
    assert.match(g[0].line, /^FAIL {2}storage: /);
    assert.match(g[0].fix, /host name in AZURE_STORAGE_ACCOUNT_URL .* does not resolve/);
  });

  test('DNS: a Graph host that does not resolve names GRAPH_ENDPOINT', T, async () => {
    // a managed identity hands out a token for any Graph host, so the login succeeds
    // and the mailbox probes meet the name that does not resolve
    const graph = 'https://graph.nonexistent.invalid';
    const mi = await startSandbox({ seed: 31, mailboxes: 2, latencyMs: 0, identityResources: [graph] });
    try {
      const r = await runJob(['check'], jobEnv(mi, az, { ...ONE_TRY, AZURE_CLIENT_SECRET: undefined, IDENTITY_ENDPOINT: mi.identityEndpoint, IDENTITY_HEADER: mi.identityHeader, GRAPH_ENDPOINT: graph, ATTENDANCE_CONTAINER: 'checked' }));
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stdout, /^ok {4}token: got a Microsoft Graph token from the managed identity endpoint/m);
      const f = failures(r);
      assert.equal(f.length, mi.tenant.users.length, r.stdout);
      for (const x of f) assert.match(x.fix, /host name in GRAPH_ENDPOINT \(https:\/\/graph\.nonexistent\.invalid\) does not resolve/);
      assert.equal(mi.requests.filter((e) => e.kind === 'identity')[0].identity.resource, graph);
    } finally {
      await mi.close();
    }
  });

  test('connection refused and no answer in time name the endpoint', T, async () => {
    const closed = net.createServer();
    const port = await listen(closed);
    await closeServer(closed);
    let r = await check({ AZURE_AUTHORITY_HOST: `http://127.0.0.1:${port}` });
    assert.equal(r.code, 1, describeRun(r));
    let f = failures(r);
    assert.equal(f.length, 1, r.stdout);
    assert.match(f[0].fix, /nothing accepts connections at AZURE_AUTHORITY_HOST/);

    const held = [];
    const mute = net.createServer((s) => held.push(s)); // accepts, never answers
    const mport = await listen(mute);
    try {
      r = await check({ AZURE_AUTHORITY_HOST: `http://127.0.0.1:${mport}`, ATTENDANCE_HTTP_TIMEOUT_SECONDS: '1' });
      assert.equal(r.code, 1, describeRun(r));
      f = failures(r);
      assert.equal(f.length, 1, r.stdout);
      assert.match(f[0].fix, /no answer from AZURE_AUTHORITY_HOST .* within ATTENDANCE_HTTP_TIMEOUT_SECONDS/);
    } finally {
      held.forEach((s) => s.destroy());
      await closeServer(mute);
    }
  });

  test('the token endpoint: wrong secret, unknown app, unknown tenant each name the setting', T, async () => {
    const wrong = 'wrong-secret-value-0123456789';
    const cases = [
      [{ AZURE_CLIENT_SECRET: wrong }, /AADSTS7000215/, /^check AZURE_CLIENT_SECRET/],
      [{ AZURE_CLIENT_ID: '0b5c7d9e-0000-4000-8000-000000000001' }, /AADSTS700016/, /^check AZURE_CLIENT_ID and AZURE_TENANT_ID/],
      [{ AZURE_TENANT_ID: 'no-such-tenant.example' }, /AADSTS90002/, /^check AZURE_TENANT_ID/],
    ];
    for (const [extra, code, fix] of cases) {
      const r = await check(extra);
      assert.equal(r.code, 1, describeRun(r));
      const f = failures(r);
      assert.equal(f.length, 1, r.stdout);
      assert.match(f[0].line, /^FAIL {2}token: /);
      assert.match(f[0].line, code);
      assert.match(f[0].fix, fix);
      assert.ok(!f[0].line.includes('fix:'), 'the fix is on its own line');
      assert.deepEqual(await findSecrets([wrong, sb.tenant.clientSecret], { runs: [r] }), []);
    }
  });

  test('Graph refusing a permission names the permission and admin consent', T, async () => {
    const denied = { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } };
    try {
      sb.setFaults([{ kind: 'user', status: 403, body: denied }]);
      let r = await check({});
      assert.equal(r.code, 1, describeRun(r));
      let f = failures(r);
      assert.equal(f.length, sb.tenant.users.length, r.stdout);
      for (const x of f) {
        assert.match(x.line, /Authorization_RequestDenied/);
        assert.match(x.fix, /User\.Read\.All/);
        assert.match(x.fix, /admin consent/);
      }
      sb.setFaults([{ kind: 'calendarView', status: 403, body: { error: { code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' } } }]);
      r = await check({});
      assert.equal(r.code, 1, describeRun(r));
      f = failures(r);
      assert.equal(f.length, sb.tenant.users.length, r.stdout);
      for (const x of f) {
        assert.match(x.line, /calendar/);
        assert.match(x.fix, /Calendars\.Read/);
        assert.match(x.fix, /admin consent/);
      }
    } finally {
      sb.clearFaults();
    }
  });

  test('an organizer refused its meeting names the application access policy', T, async () => {
    const upn = sb.tenant.users[0].userPrincipalName;
    sb.setPolicyMissing(upn, true);
    try {
      const r = await check({});
      assert.equal(r.code, 1, describeRun(r));
      const f = failures(r);
      assert.equal(f.length, 1, r.stdout);
      assert.ok(f[0].line.includes(upn), f[0].line);
      assert.match(f[0].line, /online meeting lookup/);
      assert.match(f[0].fix, /Grant-CsApplicationAccessPolicy/);
      assert.match(f[0].fix, /OnlineMeetings\.Read\.All/);
    } finally {
      sb.setPolicyMissing(upn, false);
    }
  });

  test('storage refusing an account key, a SAS, a managed identity: the fix for each', T, async () => {
    // a wrong key
    const badKey = `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${WRONG_KEY};BlobEndpoint=${az.blobEndpoint};`;
    let r = await check({ AZURE_STORAGE_CONNECTION_STRING: badKey });
    assert.equal(r.code, 1, describeRun(r));
    let f = failures(r);
    assert.equal(f.length, 1, r.stdout);
    assert.match(f[0].line, /^FAIL {2}storage: .*403/);
    assert.match(f[0].fix, /account key was refused/);
    assert.match(f[0].fix, /AccountKey/);
    assert.deepEqual(await findSecrets([WRONG_KEY, DEV_KEY], { runs: [r] }), []);

    // a SAS Azurite cannot verify
    const sig = 'AAAAbm90LWEtcmVhbC1zaWduYXR1cmU%3D';
    const badSas = `BlobEndpoint=${az.blobEndpoint};SharedAccessSignature=sv=2021-08-06&ss=b&srt=sco&sp=rwcl&se=2020-01-01T00:00:00Z&sig=${sig}`;
    r = await check({ AZURE_STORAGE_CONNECTION_STRING: badSas });
    assert.equal(r.code, 1, describeRun(r));
    f = failures(r);
    assert.equal(f.length, 1, r.stdout);
    assert.match(f[0].fix, /SAS was refused/);
    assert.match(f[0].fix, /expiry/);
    assert.match(f[0].fix, /sp=rwcl/);
    assert.ok(!r.stdout.includes(sig) && !r.stderr.includes(sig), 'the SAS signature stays out');

    // a managed identity without a role on the account: Azure answers 403
    // AuthorizationPermissionMismatch (Azurite serves OAuth only over https: a fake)
    const fake = http.createServer((req, res) => {
      if (req.url.startsWith('/msi/token')) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ access_token: 'storage-token-abcdefgh', expires_on: String(Math.floor(Date.now() / 1000) + 3600), token_type: 'Bearer', resource: 'https://storage.azure.com/' }));
        return;
      }
      res.writeHead(403, { 'x-ms-error-code': 'AuthorizationPermissionMismatch', 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch</Code><Message>This request is not authorized to perform this operation using this permission.</Message></Error>');
    });
    const port = await listen(fake);
    try {
      r = await check({ AZURE_STORAGE_CONNECTION_STRING: undefined, AZURE_STORAGE_ACCOUNT_URL: `http://127.0.0.1:${port}/acct`, IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: 'ih-storage-0123456789' });
      assert.equal(r.code, 1, describeRun(r));
      f = failures(r);
      assert.equal(f.length, 1, r.stdout);
      assert.match(f[0].fix, /Storage Blob Data Contributor/);
      assert.deepEqual(await findSecrets(['ih-storage-0123456789', 'storage-token-abcdefgh'], { runs: [r] }), []);
    } finally {
      await closeServer(fake);
    }
  });
});
