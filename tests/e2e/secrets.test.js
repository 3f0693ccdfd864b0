// No secret leaves the process. Each secret the job holds is planted, by the sandbox
// Graph, Entra ID, the identity endpoint and storage, in the error answers the job
// reads (a server that echoes what it was sent): the Graph access token, the client
// secret, a certificate's client assertion, the federated token, IDENTITY_HEADER,
// a SAS's signature, the account key and a Shared Key signature; as they are,
// %XX-encoded (either case, once or twice, '+' for a space), JSON-escaped (\/,
// \u00XX) and cut to a 16- or 20-character piece. Every byte the runs leave behind is
// then searched, in every one of those encodings and for any 16-character piece of
// each secret (for a JWT, past its header): stdout and stderr of `run` and `check`
// in both log formats, every blob, every file of the output folder and of TMPDIR.
// Each case also checks that the echo reached the job (its error says [REDACTED]
// where the secret was), so a case that planted nothing cannot pass unnoticed.
// Also: a newline in a Graph error forges no text log line, and the job runs with
// core dumps off.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  startAzurite,
  startSandbox,
  runJob,
  jobEnv,
  describeRun,
  findSecrets,
  listBlobs,
  readJsonBlob,
  tmpDir,
  binaryExists,
  TA_BIN,
  DEV_KEY,
  FAST_HTTP,
  accountSas,
} from './harness.js';
import { graphError, aadError } from '../sandbox/graph.js';
import { startStorageProxy } from './storage-proxy.js';

const T = { timeout: 240000 };
const REDACTED = '[REDACTED]';
const FORMATS = ['json', 'text'];

// ---------------------------------------------------------------- encodings

const hex2 = (c) => c.charCodeAt(0).toString(16).padStart(2, '0');
// every character %XX-encoded (encodeURIComponent leaves a token's characters alone)
const pctAll = (s, lower = false) => [...s].map((c) => `%${lower ? hex2(c) : hex2(c).toUpperCase()}`).join('');
// every character as a JSON \u00XX escape, '/' as \/ (the text itself, not JSON of it)
const jsonEscAll = (s) => [...s].map((c) => (c === '/' ? '\\/' : `\\u00${hex2(c)}`)).join('');
// as an HTML form sends it: '+' for a space
const formEnc = (s) => new URLSearchParams({ v: s }).toString().slice(2);
// a JWT past its header, which every token of an issuer shares
const pastHeader = (jwt) => jwt.slice(jwt.indexOf('.') + 1);

// ---------------------------------------------------------------- the runs

let az;
let sb;
let px;
let base;
let runSeq = 0;
const allRuns = [];
const planted = []; // {name, value}: every secret value a server was seen to hold

function plant(name, value) {
  if (value && !planted.some((p) => p.value === value)) planted.push({ name, value });
}

// The secrets the job held in every run: what the sandbox issued or knows, the
// account key, and whatever the fault bodies saw (assertions, signatures).
function secrets() {
  const out = [
    { name: 'client secret', value: sb.tenant.clientSecret },
    { name: 'IDENTITY_HEADER', value: sb.identityHeader },
    { name: 'account key', value: DEV_KEY },
    ...[...sb.secrets()].filter((v) => v.startsWith('eyJ')).map((value, i) => ({ name: `access token #${i + 1}`, value })),
    ...planted,
  ];
  return out;
}

// Runs the job once per log format, each with a fresh TMPDIR; returns the runs.
async function runBoth(label, args, env) {
  const runs = [];
  for (const fmt of FORMATS) {
    const tmp = path.join(base, `tmp-${++runSeq}`);
    fs.mkdirSync(tmp);
    const r = await runJob(args, { ...env, LOG_FORMAT: fmt, TMPDIR: tmp });
    r.label = `${label}: ${args.join(' ')} (LOG_FORMAT=${fmt})`;
    r.tmp = tmp;
    r.format = fmt;
    runs.push(r);
    allRuns.push(r);
  }
  return runs;
}

// Everything the runs left: their output, the containers, the folders, their TMPDIRs.
async function assertNoSecret(what, runs, { containers = [], dirs = [] } = {}) {
  const hits = await findSecrets(secrets(), { runs, service: az.service, containers, dirs: [...dirs, ...runs.map((r) => r.tmp)] });
  assert.deepEqual(hits, [], `${what}: a secret was found in what the job left behind`);
}

async function manifests(container) {
  const out = [];
  for (const b of await listBlobs(az.service, container, 'registry/runs/')) out.push(await readJsonBlob(az.service, container, b.name));
  return out;
}

function dirManifests(dir) {
  const d = path.join(dir, 'registry', 'runs');
  return fs.existsSync(d) ? fs.readdirSync(d).map((f) => JSON.parse(fs.readFileSync(path.join(d, f), 'utf8'))) : [];
}

// ---------------------------------------------------------------- tests

describe('no secret leaves the process', () => {
  before(async () => {
    base = tmpDir('ta-secrets-');
    az = await startAzurite({ workDir: base });
    // a client secret with a space, '/' and '+': every encoding changes it
    const clientSecret = `sbx~Q8 r/t+${crypto.randomBytes(18).toString('base64url')}`;
    sb = await startSandbox({ seed: 41, mailboxes: 10, clientSecret, latencyMs: [2, 6] });
    px = await startStorageProxy(az);
  });
  after(async () => {
    await px?.close();
    await sb?.close();
    await az?.stop();
    if (base) fs.rmSync(base, { recursive: true, force: true });
  });

  test('Graph errors quoting the access token: scrubbed in the manifest, the logs and the folder sink; no forged log line', T, async () => {
    const users = sb.tenant.users.map((u) => u.userPrincipalName);
    const FORGED = '2026-12-03T10:00:00.000Z info  run finished status=succeeded';
    // mailbox 0 stays clean; each other one fails with a 400 quoting the token its way
    const echo = [
      ['as is', (tok) => `Access token '${tok}' is not valid for this resource.`],
      ['%XX-encoded', (tok) => `token=${pctAll(pastHeader(tok))}`],
      ['%xx-encoded (lower case)', (tok) => `token=${pctAll(pastHeader(tok), true)}`],
      ['%-encoded twice', (tok) => pctAll(pctAll(pastHeader(tok)))],
      ['JSON-escaped (\\u00XX, \\/)', (tok) => `token: \\/${jsonEscAll(pastHeader(tok))}`],
      ['20-character piece past the header', (tok) => `Invalid token ...${pastHeader(tok).slice(0, 20)}... rejected`],
      ['in error.code', null],
      ['JSON-escaped in the body Graph sent', null],
    ];
    const seenTokens = new Set();
    const faults = echo.map(([name, fn], i) => ({
      name,
      kind: 'calendarView',
      mailbox: users[i + 1],
      status: 400,
      body:
        name === 'in error.code'
          ? (ctx, seen) => {
              seenTokens.add(seen.bearer);
              return graphError(pastHeader(seen.bearer).slice(0, 60), 'Bad request.', ctx);
            }
          : name === 'JSON-escaped in the body Graph sent'
            ? (ctx, seen) => {
                seenTokens.add(seen.bearer);
                // raw JSON text: the parser's \u00XX and \/ escapes
                return `{"error":{"code":"BadRequest","message":"token ${jsonEscAll(pastHeader(seen.bearer).slice(0, 32))}"}}`;
              }
            : (ctx, seen) => {
                seenTokens.add(seen.bearer);
                return graphError('BadRequest', fn(seen.bearer), ctx);
              },
    }));
    faults.push({ name: 'forged line', kind: 'calendarView', mailbox: users[echo.length + 1], status: 400, body: (ctx) => graphError('BadRequest', `x\n${FORGED}\r\n${FORGED}`, ctx) });
    sb.setFaults(faults);
    const failing = users.slice(1, echo.length + 1);
    const forgedUpn = users[echo.length + 1].toLowerCase();
    try {
      const runs = [];
      const dirs = [];
      for (const sink of ['blob', 'dir']) {
        const container = 'graph-echo';
        const out = path.join(base, `out-graph-${sink}`);
        const env = sink === 'blob' ? jobEnv(sb, az, { ATTENDANCE_CONTAINER: container }) : jobEnv(sb, null);
        const args = sink === 'blob' ? ['run'] : ['run', '--output-dir', out];
        if (sink === 'dir') dirs.push(out);
        const before = sink === 'blob' ? (await manifests(container)).length : 0;
        for (const r of await runBoth(`Graph echo, ${sink} sink`, args, env)) {
          runs.push(r);
          assert.equal(r.code, 1, `some mailboxes fail: ${describeRun(r)}`);
          // the log line a newline in Graph's message would have forged
          const lines = r.stderr.split('\n');
          assert.deepEqual(lines.filter((l) => l.startsWith('2026-12-03T10:00:00.000Z')), [], `${r.label}: a forged log line`);
          if (r.format === 'text') {
            const m = lines.find((l) => l.includes('x\\n2026-12-03T10:00:00.000Z info'));
            assert.ok(m, `${r.label}: the message with the newline is logged, escaped:\n${r.stderr}`);
            for (const l of lines.filter(Boolean)) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) /, `${r.label}: every line is one the job wrote`);
          } else {
            for (const l of lines.filter(Boolean)) assert.doesNotThrow(() => JSON.parse(l), `${r.label}: every line is a JSON object: ${l}`);
          }
        }
        const ms = sink === 'blob' ? (await manifests(container)).slice(before) : dirManifests(out);
        assert.equal(ms.length, 2, `${sink}: a manifest per run`);
        for (const m of ms) {
          for (const upn of failing) {
            const mb = m.mailboxes.find((x) => x.upn === upn.toLowerCase());
            assert.equal(mb?.status, 'failed', `${upn} failed`);
            assert.ok(mb.error.includes(REDACTED), `${sink}: the echo reached the job and was scrubbed for ${upn}: ${mb.error}`);
          }
          assert.equal(m.mailboxes.find((x) => x.upn === users[0].toLowerCase())?.status, 'succeeded');
          assert.match(m.mailboxes.find((x) => x.upn === forgedUpn).error, /x\n2026-12-03T10:00:00\.000Z/, 'the manifest keeps the message (JSON escapes it)');
        }
      }
      assert.ok(seenTokens.size >= 1, 'Graph saw the token it echoed');
      for (const t of seenTokens) assert.ok(sb.secrets().includes(t), 'the echoed token is one the sandbox issued');
      await assertNoSecret('Graph errors quoting the token', runs, { containers: ['graph-echo'], dirs });
    } finally {
      sb.clearFaults();
    }
  });

  // One run and one check per way of echoing, per log format: the token request fails
  // with the credential quoted in error_description (or error).
  async function tokenCase(what, { env, container, echo, expectFix }) {
    const runs = [];
    const out = path.join(base, `out-${container}`);
    let first = true;
    for (const [how, fn] of Object.entries(echo)) {
      sb.setFaults([{ name: how, kind: env.IDENTITY_ENDPOINT ? 'identity' : 'token', status: how.startsWith('401') ? 401 : 400, body: fn }]);
      const calls = [[['run'], env], [['check'], env]];
      // the folder sink once (a run that cannot log in stops before it writes there,
      // but whatever it leaves is searched)
      if (first) calls.push([['run', '--output-dir', out], { ...env, AZURE_STORAGE_CONNECTION_STRING: undefined }]);
      first = false;
      for (const [args, e] of calls) {
        for (const r of await runBoth(`${what}, ${how}`, args, { ...e, ATTENDANCE_CONTAINER: container })) {
          runs.push(r);
          assert.notEqual(r.code, 0, describeRun(r));
          assert.ok(r.stderr.includes(REDACTED) || r.stdout.includes(REDACTED), `${r.label}: the echo reached the job and was scrubbed:\n${describeRun(r)}`);
          if (expectFix) assert.match(r.stderr + r.stdout, expectFix);
        }
      }
    }
    sb.clearFaults();
    await assertNoSecret(what, runs, { containers: [container], dirs: [out] });
    return runs;
  }

  // Entra's error body, with `quote` (what the request carried) on the first line of
  // error_description, the only line the job reads.
  const entraEcho = (quote, { code = 7000215, inError = false } = {}) => (ctx, seen) => {
    const q = quote(seen);
    const b = aadError('invalid_client', code, `Invalid client credential provided: '${q}'.`, ctx);
    if (inError) b.error = q.slice(0, 80);
    return b;
  };

  test('the token endpoint quoting the client secret', T, async () => {
    const sent = (seen) => /(?:^|&)client_secret=([^&]*)/.exec(seen.rawBody)[1];
    const echo = {
      '401 as is': entraEcho((s) => s.form.client_secret),
      '401 form-encoded, as sent': entraEcho(sent),
      '400 %XX-encoded': entraEcho((s) => pctAll(s.form.client_secret)),
      '400 %xx-encoded twice': entraEcho((s) => pctAll(pctAll(s.form.client_secret), true)),
      '401 JSON-escaped (\\/, \\u00XX)': entraEcho((s) => jsonEscAll(s.form.client_secret)),
      '401 JSON-escaped, / only': entraEcho((s) => s.form.client_secret.replace(/\//g, '\\/')),
      '401 a 16-character piece': entraEcho((s) => s.form.client_secret.slice(-16)),
      '401 in error': entraEcho((s) => s.form.client_secret, { inError: true }),
    };
    assert.ok(formEnc(sb.tenant.clientSecret) !== sb.tenant.clientSecret, 'the secret changes when form-encoded');
    await tokenCase('client secret', { env: jobEnv(sb, az), container: 'tok-secret', echo, expectFix: /AZURE_CLIENT_SECRET/ });
  });

  test('the token endpoint quoting a certificate\'s client assertion', T, async () => {
    const dir = path.join(base, 'cert');
    fs.mkdirSync(dir);
    const pem = path.join(dir, 'app.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=ta-secrets'], { stdio: 'ignore' });
    fs.writeFileSync(pem, fs.readFileSync(path.join(dir, 'key.pem'), 'utf8') + fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'));
    const grab = (s) => {
      plant('client assertion', s.form.client_assertion);
      return s.form.client_assertion;
    };
    const CERT = { code: 700027 }; // Client assertion failed signature validation
    const echo = {
      '401 as is, past its header': entraEcho((s) => pastHeader(grab(s)), CERT),
      '401 %XX-encoded': entraEcho((s) => pctAll(pastHeader(grab(s)).slice(0, 90)), CERT),
      '401 a 20-character piece': entraEcho((s) => pastHeader(grab(s)).slice(40, 60), CERT),
      '401 the signature': entraEcho((s) => grab(s).split('.')[2], CERT),
    };
    const env = jobEnv(sb, az, { AZURE_CLIENT_SECRET: undefined, AZURE_CLIENT_CERTIFICATE_PATH: pem });
    await tokenCase('client assertion', { env, container: 'tok-cert', echo, expectFix: /AZURE_CLIENT_CERTIFICATE_PATH/ });
    assert.ok(planted.some((p) => p.name === 'client assertion'), 'the token endpoint saw an assertion');
  });

  test('the token endpoint quoting the federated token', T, async () => {
    const file = path.join(base, 'federated-token');
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const fed = `${b64({ alg: 'RS256', kid: 'k8s' })}.${b64({ iss: 'https://oidc.example/cluster', sub: 'system:serviceaccount:ta:job', aud: 'api://AzureADTokenExchange', exp: Math.floor(Date.now() / 1000) + 3600, jti: crypto.randomUUID() })}.${crypto.randomBytes(64).toString('base64url')}`;
    fs.writeFileSync(file, `${fed}\n`);
    plant('federated token', fed);
    const FED = { code: 700212 }; // No matching federated identity record
    const echo = {
      '401 as is': entraEcho((s) => s.form.client_assertion, FED),
      '400 %xx-encoded, past its header': entraEcho((s) => pctAll(pastHeader(s.form.client_assertion).slice(0, 90), true), FED),
      '401 a 16-character piece of the signature': entraEcho((s) => s.form.client_assertion.split('.')[2].slice(5, 21), FED),
    };
    const env = jobEnv(sb, az, { AZURE_CLIENT_SECRET: undefined, AZURE_FEDERATED_TOKEN_FILE: file });
    await tokenCase('federated token', { env, container: 'tok-fed', echo, expectFix: /AZURE_FEDERATED_TOKEN_FILE|federated/ });
  });

  test('the managed identity endpoint quoting IDENTITY_HEADER', T, async () => {
    const quote = (fn) => (ctx, seen) => ({ error: 'invalid_request', error_description: `The X-IDENTITY-HEADER '${fn(seen.headers['x-identity-header'])}' is wrong.` });
    const echo = {
      '401 as is': quote((h) => h),
      '400 %XX-encoded': quote((h) => pctAll(h)),
      '400 %-encoded twice': quote((h) => pctAll(pctAll(h), true)),
      '401 JSON-escaped': quote((h) => jsonEscAll(h)),
      '401 a 16-character piece': quote((h) => h.slice(4, 20)),
    };
    const env = jobEnv(sb, az, { AZURE_CLIENT_SECRET: undefined, AZURE_TENANT_ID: undefined, AZURE_CLIENT_ID: undefined, IDENTITY_ENDPOINT: sb.identityEndpoint, IDENTITY_HEADER: sb.identityHeader });
    await tokenCase('identity header', { env, container: 'tok-mi', echo });
  });

  // Storage answering 403 AuthenticationFailed with what the request carried, in
  // x-ms-error-code (which the job reads) and in the XML <Message> (which it may).
  async function storageCase(what, { env, container, quotes, planter }) {
    const runs = [];
    await az.service.getContainerClient(container).createIfNotExists();
    for (const [how, quote] of Object.entries(quotes)) {
      const errorCode = (seen) => {
        planter(seen);
        return `AuthenticationFailed ${quote(seen)}`.slice(0, 95);
      };
      const message = (seen) => `Server failed to authenticate the request. ${quote(seen)}`;
      const rule = { action: 'status', status: 403, errorCode, message };
      // a Parquet upload refused: the run is failed and its manifest, written after,
      // holds the error; then the manifest itself refused; then check, refused from
      // its first request
      for (const [where, rules, args] of [
        ['a Parquet upload', [{ ...rule, method: 'PUT', path: /\/parquet\// }], ['run']],
        ['the manifest', [{ ...rule, method: 'PUT', path: /\/registry\/runs\// }], ['run']],
        ['every request', [{ ...rule }], ['check']],
      ]) {
        px.setRules(rules);
        const before = (await manifests(container)).length;
        // one mailbox is enough to reach storage
        const one = { ...env, ATTENDANCE_CONTAINER: container, ATTENDANCE_USERS: sb.tenant.users[0].userPrincipalName };
        for (const r of await runBoth(`${what}, ${how}, 403 on ${where}`, args, one)) {
          runs.push(r);
          assert.notEqual(r.code, 0, describeRun(r));
          assert.ok(r.stderr.includes(REDACTED) || r.stdout.includes(REDACTED), `${r.label}: the echo reached the job and was scrubbed:\n${describeRun(r)}`);
        }
        if (where === 'a Parquet upload') {
          const ms = (await manifests(container)).slice(before);
          assert.equal(ms.length, 2, 'the manifest was written after the refused upload');
          for (const m of ms) assert.ok(String(m.error).includes(REDACTED), `the manifest holds the scrubbed storage error: ${m.error}`);
        }
      }
    }
    px.clearRules();
    await assertNoSecret(what, runs, { containers: [container] });
  }

  test('storage reached with a SAS quoting its signature', T, async () => {
    const sas = accountSas();
    const sig = new URLSearchParams(sas).get('sig');
    plant('SAS signature', sig);
    plant('SAS signature, as sent', encodeURIComponent(sig));
    const quotes = {
      'as sent (%-encoded)': (s) => s.sig,
      'decoded': (s) => s.sigDecoded,
      '%-encoded twice': (s) => encodeURIComponent(s.sig),
      'JSON-escaped': (s) => s.sigDecoded.replace(/\//g, '\\/').replace(/\+/g, '\\u002b'),
      'a 16-character piece': (s) => s.sigDecoded.slice(10, 26),
    };
    const planter = (s) => assert.equal(s.sigDecoded, sig, 'the request carried the SAS');
    await storageCase('SAS in AZURE_STORAGE_SAS_TOKEN', {
      env: jobEnv(sb, null, { AZURE_STORAGE_ACCOUNT_URL: px.blobEndpoint, AZURE_STORAGE_SAS_TOKEN: `?${sas}` }),
      container: 'st-sas',
      quotes,
      planter,
    });
    await storageCase('SAS in the connection string', {
      env: jobEnv(sb, null, { AZURE_STORAGE_CONNECTION_STRING: `BlobEndpoint=${px.blobEndpoint};SharedAccessSignature=${sas}` }),
      container: 'st-sas-cs',
      quotes: { 'as sent (%-encoded)': quotes['as sent (%-encoded)'], decoded: quotes.decoded },
      planter,
    });
  });

  test('storage reached with Shared Key quoting the signature and the account key', T, async () => {
    const planter = (s) => plant('Shared Key signature', s.sharedKeySig);
    const quotes = {
      'the request\'s signature': (s) => `The MAC signature found in the HTTP request '${s.sharedKeySig}' is not the same as any computed signature.`,
      'the account key': () => DEV_KEY,
      'the account key, %-encoded': () => encodeURIComponent(DEV_KEY),
      'the account key, JSON-escaped': () => DEV_KEY.replace(/\//g, '\\/'),
      'a 16-character piece of the key': () => DEV_KEY.slice(30, 46),
    };
    await storageCase('Shared Key', { env: jobEnv(sb, null, { AZURE_STORAGE_CONNECTION_STRING: px.connectionString }), container: 'st-key', quotes, planter });
    assert.ok(planted.some((p) => p.name === 'Shared Key signature'), 'storage saw a Shared Key signature');
  });

  test('every byte of every run above, searched again for every secret known by the end', T, async (t) => {
    // a secret first seen in a later case (an assertion, a signature) is looked for
    // in the output of the earlier ones too
    assert.ok(allRuns.length > 0);
    const containers = ['graph-echo', 'tok-secret', 'tok-cert', 'tok-fed', 'tok-mi', 'st-sas', 'st-sas-cs', 'st-key'];
    const dirs = fs.readdirSync(base).filter((d) => /^(out|tmp)-/.test(d)).map((d) => path.join(base, d));
    const hits = await findSecrets(secrets(), { runs: allRuns, service: az.service, containers, dirs });
    t.diagnostic(`${allRuns.length} job runs, ${secrets().length} secrets, ${dirs.length} folders, ${containers.length} containers searched`);
    assert.deepEqual(hits, []);
  });

  test('core dumps are off: RLIMIT_CORE is 0 while the job runs', T, async (t) => {
    assert.ok(binaryExists(), `no job binary at ${TA_BIN}`);
    // the job starts with core dumps allowed (soft limit raised to the hard one), so
    // only its own setrlimit can bring both to 0
    const RAISE = 'ulimit -S -c "$(ulimit -H -c)"; exec "$0" "$@"';
    const control = execFileSync('sh', ['-c', RAISE, 'cat', '/proc/self/limits'], { encoding: 'utf8' });
    const allowed = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(control);
    if (allowed[1] === '0' && allowed[2] === '0') {
      t.skip('core dumps are off for every process here (hard limit 0): nothing to show');
      return;
    }
    const slow = await startSandbox({ seed: 5, mailboxes: 2, latencyMs: 400 });
    try {
      const out = path.join(base, 'out-core');
      const child = spawn('sh', ['-c', RAISE, TA_BIN, 'run', '--output-dir', out], {
        env: { PATH: process.env.PATH, ...jobEnv(slow, null), ...FAST_HTTP, TMPDIR: base },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise((r) => child.once('close', (code) => r(code)));
      let limit = null;
      // wait until the job has started talking to Graph: its limits are set by then
      for (let i = 0; i < 100 && child.exitCode === null; i++) {
        await new Promise((r) => setTimeout(r, 30));
        if (!slow.requests.length) continue;
        try {
          limit = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(fs.readFileSync(`/proc/${child.pid}/limits`, 'utf8'));
        } catch {
          /* gone */
        }
        if (limit) break;
      }
      const code = await exited;
      assert.ok(limit, `read /proc/${child.pid}/limits while the job ran (exit ${code}):\n${stderr}`);
      assert.equal(limit[1], '0', `soft core limit: ${limit[0]}`);
      assert.equal(limit[2], '0', `hard core limit: ${limit[0]}`);
      assert.equal(code, 0, stderr);
    } finally {
      await slow.close();
    }
  });
});
