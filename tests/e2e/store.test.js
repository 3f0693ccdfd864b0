// The store (src/store) against a real Azurite, through tests/tools/store_tool:
// container create and check, Put Blob and Put Block + Put Block List, reads,
// conditional writes, awkward names, Shared Key and SAS (account and container),
// refused credentials. What landed is verified with @azure/storage-blob.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { DEV_ACCOUNT, DEV_KEY, REPO, TA_BIN, accountSas, startAzurite, tmpDir } from './harness.js';

const TOOL = process.env.STORE_TOOL || path.join(path.dirname(TA_BIN), 'store_tool');
const tool = fs.existsSync(TOOL) ? TOOL : path.join(REPO, 'build', 'store_tool');

const md5 = (b) => crypto.createHash('md5').update(b).digest('base64');

// Runs store_tool with only the given storage variables; returns its JSON lines.
function run(args, env, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      resolve({ code, lines, last: lines[lines.length - 1] || {}, stdout: out, stderr: err });
    });
  });
}

describe('store against Azurite', () => {
  test('store_tool is built', () => assert.ok(fs.existsSync(tool), `store_tool not found at ${tool}: build it first`));
  let az;
  let dir;
  let keyEnv;
  const cred = new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY);

  before(async () => {
    az = await startAzurite();
    dir = tmpDir('ta-store-');
    keyEnv = (container) => ({
      AZURE_STORAGE_CONNECTION_STRING: `UseDevelopmentStorage=true;BlobEndpoint=${az.blobEndpoint}`,
      ATTENDANCE_CONTAINER: container,
    });
  });

  after(async () => {
    if (az) await az.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function file(name, content) {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  }

  async function props(container, name) {
    return az.service.getContainerClient(container).getBlobClient(name).getProperties();
  }

  async function download(container, name) {
    return az.service.getContainerClient(container).getBlobClient(name).downloadToBuffer();
  }

  test('check names a missing container; prepare creates it and tolerates it existing', async () => {
    const env = keyEnv('prep-1');
    let r = await run(['check'], env);
    assert.equal(r.code, 1);
    assert.equal(r.last.status, 'not_found');
    assert.match(r.last.message, /ATTENDANCE_CONTAINER/);
    assert.match(r.last.message, /prep-1/);
    assert.equal(await az.service.getContainerClient('prep-1').exists(), false, 'check created nothing');

    r = await run(['prepare'], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await az.service.getContainerClient('prep-1').exists(), true);
    r = await run(['prepare'], env);
    assert.equal(r.code, 0, 'an existing container (409 ContainerAlreadyExists) is fine');
    r = await run(['check'], env);
    assert.equal(r.code, 0);
    r = await run(['describe'], env);
    assert.equal(r.last.describe, `${az.blobEndpoint}/prep-1`);
  });

  test('put, get and the properties that landed (Shared Key)', async () => {
    const env = keyEnv('put-1');
    assert.equal((await run(['prepare'], env)).code, 0);
    const body = Buffer.from('{"a":1}\n');
    const src = file('small.json', body);
    let r = await run(['put', 'dir/x.json', src, '--content-type', 'application/json'], env);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.last.requests, 1);
    const p = await props('put-1', 'dir/x.json');
    assert.equal(r.last.etag, p.etag);
    assert.equal(p.contentType, 'application/json');
    assert.equal(Buffer.from(p.contentMD5).toString('base64'), md5(body));
    assert.deepEqual(await download('put-1', 'dir/x.json'), body);

    const out = path.join(dir, 'small.out');
    r = await run(['get', 'dir/x.json', out], env);
    assert.equal(r.code, 0);
    assert.equal(r.last.etag, p.etag);
    assert.deepEqual(fs.readFileSync(out), body);

    // an empty blob: Content-Length 0 signed as the empty string
    r = await run(['put', 'empty', file('empty', '')], env);
    assert.equal(r.code, 0, r.stdout);
    assert.equal((await download('put-1', 'empty')).length, 0);
    assert.equal((await props('put-1', 'empty')).contentType, 'application/octet-stream');

    r = await run(['get', 'missing.json', out], env);
    assert.equal(r.code, 1);
    assert.equal(r.last.status, 'not_found');
    assert.equal(r.last.http_status, 404);
    assert.match(r.last.message, /missing\.json/);
  });

  test('conditional writes: If-None-Match * gives conflict, a stale If-Match gives precondition', async () => {
    const env = keyEnv('cond-1');
    assert.equal((await run(['prepare'], env)).code, 0);
    const name = 'registry/checkpoint.json';
    let r = await run(['put', name, file('c1', 'one'), '--if-none-match'], env);
    assert.equal(r.code, 0, r.stdout);
    const e1 = r.last.etag;
    r = await run(['put', name, file('c2', 'two'), '--if-none-match'], env);
    assert.equal(r.code, 1);
    assert.equal(r.last.status, 'conflict');
    assert.equal(r.last.http_status, 409);
    assert.match(r.last.message, /registry\/checkpoint\.json/);
    assert.match(r.last.message, /BlobAlreadyExists/);

    r = await run(['put', name, file('c3', 'three'), '--if-match', e1], env);
    assert.equal(r.code, 0, r.stdout);
    const e2 = r.last.etag;
    assert.notEqual(e1, e2);
    r = await run(['put', name, file('c4', 'four'), '--if-match', e1], env);
    assert.equal(r.code, 1);
    assert.equal(r.last.status, 'precondition');
    assert.equal(r.last.http_status, 412);
    assert.match(r.last.message, /ConditionNotMet/);
    // If-Match on a blob that does not exist
    r = await run(['put', 'registry/none.json', file('c5', 'x'), '--if-match', e2], env);
    assert.equal(r.last.status, 'precondition');
    assert.equal((await download('cond-1', name)).toString(), 'three');
  });

  test('large files go up in blocks of equal-length ids, with the whole file MD5', async () => {
    const env = { ...keyEnv('big-1'), STORE_TOOL_SINGLE_MAX: '100000', STORE_TOOL_BLOCK_SIZE: '65536' };
    assert.equal((await run(['prepare'], env)).code, 0);
    const cases = [
      ['odd.parquet', 65536 * 12 + 777, 13], // 12 full blocks and a short one
      ['exact.parquet', 65536 * 3, 3], // an exact multiple of the block size
      ['single.parquet', 100000, 0], // at the limit: one Put Blob
    ];
    for (const [name, size, blocks] of cases) {
      const data = crypto.randomBytes(size);
      const r = await run(['put-file', `parquet/events/ingest_date=2026-11-28/${name}`, file(name, data), '--content-type', 'application/vnd.apache.parquet'], env);
      assert.equal(r.code, 0, r.stdout);
      assert.equal(r.last.bytes, size);
      assert.equal(r.last.requests, blocks ? blocks + 1 : 1, `${name}: requests`);
      const blob = `parquet/events/ingest_date=2026-11-28/${name}`;
      assert.ok((await download('big-1', blob)).equals(data), `${name}: bytes`);
      const p = await props('big-1', blob);
      assert.equal(p.contentType, 'application/vnd.apache.parquet');
      assert.equal(Buffer.from(p.contentMD5).toString('base64'), md5(data));
      assert.equal(p.contentLength, size);
      if (blocks) {
        const list = await az.service.getContainerClient('big-1').getBlockBlobClient(blob).getBlockList('committed');
        assert.equal(list.committedBlocks.length, blocks);
        assert.equal(new Set(list.committedBlocks.map((b) => b.name.length)).size, 1);
      }
    }
  });

  test('default sizes: a file just over 8 MiB takes two blocks', async () => {
    const env = keyEnv('big-2');
    assert.equal((await run(['prepare'], env)).code, 0);
    const data = crypto.randomBytes(8 * 1024 * 1024 + 1);
    const r = await run(['put-file', 'f.bin', file('over8', data)], env);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.last.requests, 3);
    assert.ok((await download('big-2', 'f.bin')).equals(data));
  });

  test('names with spaces, non-ASCII, =, @, % and + land as given', async () => {
    const env = keyEnv('names-1');
    assert.equal((await run(['prepare'], env)).code, 0);
    const names = [
      'raw/events/date=2026-11-28/user=ann%2Bx@contoso.com/20261128T173400Z-3f9a1c.json',
      'dir with spaces/part 1 é ü 日本.json',
      "odd/a+b&c;d'(e)!*~,$.json",
    ];
    for (const [i, name] of names.entries()) {
      const body = Buffer.from(`body ${i} ${name}`);
      const r = await run(['put', name, file(`n${i}`, body), '--content-type', 'application/json'], env);
      assert.equal(r.code, 0, `${name}: ${r.stdout}`);
      assert.deepEqual(await download('names-1', name), body);
      const out = path.join(dir, `n${i}.out`);
      assert.equal((await run(['get', name, out], env)).code, 0);
      assert.deepEqual(fs.readFileSync(out), body);
    }
    const listed = [];
    for await (const b of az.service.getContainerClient('names-1').listBlobsFlat()) listed.push(b.name);
    assert.deepEqual(listed.sort(), [...names].sort());
    // also as a block upload
    const data = crypto.randomBytes(300000);
    const env2 = { ...env, STORE_TOOL_SINGLE_MAX: '100000', STORE_TOOL_BLOCK_SIZE: '100000' };
    const r = await run(['put-file', 'ü dir/x=1/big é.bin', file('nb', data)], env2);
    assert.equal(r.code, 0, r.stdout);
    assert.ok((await download('names-1', 'ü dir/x=1/big é.bin')).equals(data));
  });

  test('async puts run together on the engine', async () => {
    const env = keyEnv('async-1');
    assert.equal((await run(['prepare'], env)).code, 0);
    const args = ['put-async', '--content-type', 'application/json'];
    const want = {};
    for (let i = 0; i < 6; i++) {
      const body = Buffer.from(JSON.stringify({ i }));
      want[`raw/final/u${i}.json`] = body;
      args.push(`raw/final/u${i}.json`, file(`a${i}`, body));
    }
    const r = await run(args, env);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.lines.filter((l) => l.status === 'ok').length, 6);
    for (const [name, body] of Object.entries(want)) {
      assert.deepEqual(await download('async-1', name), body);
      assert.equal((await props('async-1', name)).contentType, 'application/json');
    }
  });

  test('an account SAS in the connection string and in AZURE_STORAGE_SAS_TOKEN', async () => {
    const sas = accountSas();
    const sig = new URLSearchParams(sas).get('sig');
    const envs = [
      { AZURE_STORAGE_CONNECTION_STRING: `BlobEndpoint=${az.blobEndpoint};SharedAccessSignature=${sas}`, ATTENDANCE_CONTAINER: 'sas-1' },
      { AZURE_STORAGE_ACCOUNT_URL: az.blobEndpoint, AZURE_STORAGE_SAS_TOKEN: `?${sas}`, ATTENDANCE_CONTAINER: 'sas-2' },
    ];
    for (const env of envs) {
      const c = env.ATTENDANCE_CONTAINER;
      let r = await run(['check'], env);
      assert.equal(r.last.status, 'not_found');
      assert.ok(!r.stdout.includes(sig) && !r.stdout.includes(encodeURIComponent(sig)), 'no SAS signature in output');
      assert.equal((r = await run(['prepare'], env)).code, 0, r.stdout);
      assert.equal((r = await run(['check'], env)).code, 0, r.stdout);
      const body = Buffer.from('via sas');
      r = await run(['put', 'a b/é=1.json', file('s1', body), '--content-type', 'application/json'], env);
      assert.equal(r.code, 0, r.stdout);
      assert.deepEqual(await download(c, 'a b/é=1.json'), body);
      const data = crypto.randomBytes(250000);
      r = await run(['put-file', 'blocks.bin', file('s2', data)], { ...env, STORE_TOOL_SINGLE_MAX: '100000', STORE_TOOL_BLOCK_SIZE: '100000' });
      assert.equal(r.code, 0, r.stdout);
      assert.equal(r.last.requests, 4);
      assert.ok((await download(c, 'blocks.bin')).equals(data));
      const out = path.join(dir, 's.out');
      assert.equal((await run(['get', 'blocks.bin', out], env)).code, 0);
      assert.ok(fs.readFileSync(out).equals(data));
      r = await run(['put', 'a b/é=1.json', file('s3', 'x'), '--if-none-match'], env);
      assert.equal(r.last.status, 'conflict');
      assert.ok(!r.stdout.includes(sig), 'no SAS signature in an error');
    }
  });

  test('a container SAS that may not create: fine when the container exists, named when not', async () => {
    await az.service.getContainerClient('ro-1').create();
    const containerSas = (containerName, perms) =>
      generateBlobSASQueryParameters(
        { containerName, permissions: ContainerSASPermissions.parse(perms), expiresOn: new Date(Date.now() + 3600e3) },
        cred,
      ).toString();
    let env = { AZURE_STORAGE_ACCOUNT_URL: az.blobEndpoint, AZURE_STORAGE_SAS_TOKEN: containerSas('ro-1', 'rw'), ATTENDANCE_CONTAINER: 'ro-1' };
    let r = await run(['prepare'], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    r = await run(['put', 'x.json', file('ro', '{}'), '--content-type', 'application/json'], env);
    assert.equal(r.code, 0, r.stdout);
    assert.equal((await download('ro-1', 'x.json')).toString(), '{}');

    env = { AZURE_STORAGE_ACCOUNT_URL: az.blobEndpoint, AZURE_STORAGE_SAS_TOKEN: containerSas('ro-2', 'rwl'), ATTENDANCE_CONTAINER: 'ro-2' };
    r = await run(['prepare'], env);
    assert.equal(r.code, 1);
    assert.equal(r.last.status, 'not_found');
    assert.match(r.last.message, /ro-2 \(ATTENDANCE_CONTAINER\) does not exist/);
    assert.match(r.last.message, /may not create it/);
    assert.equal(await az.service.getContainerClient('ro-2').exists(), false);
  });

  test('a wrong account key is refused with a hint and without the key', async () => {
    const badKey = Buffer.from('x'.repeat(64)).toString('base64');
    const env = {
      AZURE_STORAGE_CONNECTION_STRING: `AccountName=${DEV_ACCOUNT};AccountKey=${badKey};BlobEndpoint=${az.blobEndpoint}`,
      ATTENDANCE_CONTAINER: 'prep-1',
    };
    let r = await run(['check'], env);
    assert.equal(r.code, 1);
    assert.equal(r.last.status, 'forbidden');
    assert.match(r.last.message, /AccountKey/);
    assert.ok(!r.stdout.includes(badKey) && !r.stderr.includes(badKey));
    r = await run(['put', 'x', file('bad', 'x')], env);
    assert.equal(r.last.status, 'forbidden');
    assert.match(r.last.message, /writing blob x/);
  });

  test('configuration errors come before any request', async () => {
    let r = await run(['check'], { AZURE_STORAGE_CONNECTION_STRING: 'AccountName=acct', ATTENDANCE_CONTAINER: 'x1x' });
    assert.equal(r.last.status, 'config');
    assert.equal(r.last.message, 'AZURE_STORAGE_CONNECTION_STRING has AccountName but no AccountKey or SharedAccessSignature');
    assert.equal(r.last.requests, 0);
    r = await run(['check'], { AZURE_STORAGE_CONNECTION_STRING: `BlobEndpoint=http://192.0.2.1/acct;SharedAccessSignature=sv=1&sig=abc`, ATTENDANCE_CONTAINER: 'x1x' });
    assert.equal(r.last.status, 'config');
    assert.match(r.last.message, /https:\/\//);
    assert.equal(r.last.requests, 0);
  });

  // Azurite serves OAuth only over HTTPS, so the bearer path meets a loopback fake:
  // a Container Apps identity endpoint and a blob endpoint that checks the token and
  // answers 401 once, which must make the store ask for a new token.
  test('a managed identity: bearer token per attempt, renewed after a 401', async () => {
    const seen = [];
    let tokens = 0;
    let refusedOnce = false;
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const u = new URL(req.url, 'http://x');
        if (u.pathname === '/msi/token') {
          assert.equal(req.headers['x-identity-header'], 'ih-secret-123');
          assert.equal(u.searchParams.get('resource'), 'https://storage.azure.com/');
          tokens++;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ access_token: `tok-${tokens}-abcdefgh`, expires_on: String(Math.floor(Date.now() / 1000) + 3600), token_type: 'Bearer', resource: 'https://storage.azure.com/' }));
          return;
        }
        seen.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
        if (!refusedOnce && req.method === 'PUT' && !u.search) {
          refusedOnce = true;
          res.writeHead(401, { 'x-ms-error-code': 'InvalidAuthenticationInfo' });
          res.end();
          return;
        }
        res.writeHead(req.method === 'PUT' ? 201 : 200, { etag: '"0xFAKE"' });
        res.end();
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const port = server.address().port;
    try {
      const env = {
        AZURE_STORAGE_ACCOUNT_URL: `http://127.0.0.1:${port}/acct`,
        IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`,
        IDENTITY_HEADER: 'ih-secret-123',
        ATTENDANCE_CONTAINER: 'mi-1',
      };
      const body = Buffer.from('{"via":"identity"}');
      const r = await run(['put', 'dir/x.json', file('mi', body), '--content-type', 'application/json'], env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.last.etag, '"0xFAKE"');
      assert.equal(seen.length, 2);
      assert.equal(tokens, 2, 'a 401 renews the token once');
      assert.equal(seen[0].headers.authorization, 'Bearer tok-1-abcdefgh');
      assert.equal(seen[1].headers.authorization, 'Bearer tok-2-abcdefgh');
      for (const s of seen) {
        assert.equal(s.url, '/acct/mi-1/dir/x.json');
        assert.equal(s.headers['x-ms-version'], '2021-08-06');
        assert.equal(s.headers['x-ms-blob-type'], 'BlockBlob');
        assert.equal(s.headers['content-type'], 'application/json');
        assert.equal(s.headers['content-md5'], md5(body));
        assert.equal(s.headers['content-length'], String(body.length));
        assert.equal(s.headers['transfer-encoding'], undefined);
        assert.equal(s.headers['x-ms-date'], undefined, 'no Shared Key date with a bearer token');
        assert.deepEqual(s.body, body);
      }
      assert.ok(!r.stdout.includes('tok-') && !r.stderr.includes('tok-'));
      assert.ok(!r.stderr.includes('ih-secret-123'));
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
