// End-to-end harness: Azurite (blob) on a free loopback port, the sandbox Graph,
// the job binary run with a clean environment, blob readers, and the secret scan.
// The comparison against the sandbox's ground truth lives in expect.js and is
// re-exported here.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  BlobServiceClient,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from '@azure/storage-blob';
import { startSandbox } from '../sandbox/graph.js';

export { startSandbox };
export * from './expect.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../..');
export const TA_BIN = process.env.TA_BIN || path.join(REPO, 'build', 'teams-attendance');

// The well-known development storage account (public, documented by Microsoft).
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

// An account SAS of the development account for Blob Storage (read, write, list,
// create), valid for an hour: the query string, without '?'.
export function accountSas() {
  return generateAccountSASQueryParameters(
    {
      expiresOn: new Date(Date.now() + 3600e3),
      permissions: AccountSASPermissions.parse('rwlc'),
      resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
      services: AccountSASServices.parse('b').toString(),
    },
    new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY),
  ).toString();
}

// Short waits so that faults cost seconds, not minutes.
export const FAST_HTTP = {
  ATTENDANCE_HTTP_TIMEOUT_SECONDS: '5',
  ATTENDANCE_MAX_RETRIES: '3',
  ATTENDANCE_MAX_RETRY_WAIT_SECONDS: '2',
};

export function binaryExists(bin = TA_BIN) {
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- Azurite

// Azurite (blob only, in memory) on a free loopback port. memoryMb caps its extent
// store; workDir is where its scratch folder goes.
export async function startAzurite({ timeoutMs = 20000, memoryMb = 512, workDir = os.tmpdir() } = {}) {
  const bin = path.join(REPO, 'node_modules', '.bin', 'azurite-blob');
  if (!fs.existsSync(bin)) throw new Error(`azurite-blob not found at ${bin}: run scripts/install-deps.sh`);
  const cwd = fs.mkdtempSync(path.join(workDir, 'azurite-'));
  const child = spawn(
    bin,
    [
      '--blobHost', '127.0.0.1',
      '--blobPort', '0',
      '--inMemoryPersistence',
      '--extentMemoryLimit', String(memoryMb),
      '--silent',
      '--disableTelemetry',
      '--skipApiVersionCheck',
    ],
    { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Azurite did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d) => {
      out += d;
      const m = /successfully listens on https?:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(+m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited (${code}) before listening:\n${out}`));
    });
  });
  const blobEndpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${blobEndpoint};`;
  return {
    pid: child.pid,
    port,
    blobEndpoint,
    connectionString,
    service: BlobServiceClient.fromConnectionString(connectionString),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(cwd, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- blobs

export async function listBlobs(service, container, prefix = '') {
  const cc = service.getContainerClient(container);
  const out = [];
  if (!(await cc.exists())) return out;
  for await (const b of cc.listBlobsFlat({ prefix })) out.push({ name: b.name, size: b.properties.contentLength, etag: b.properties.etag });
  return out;
}

export async function readBlob(service, container, name) {
  const buf = await service.getContainerClient(container).getBlobClient(name).downloadToBuffer();
  return buf;
}

export async function readJsonBlob(service, container, name) {
  const buf = await readBlob(service, container, name);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new Error(`blob ${name} is not JSON: ${e.message}`);
  }
}

export async function writeJsonBlob(service, container, name, obj) {
  const cc = service.getContainerClient(container);
  await cc.createIfNotExists();
  const body = JSON.stringify(obj);
  await cc.getBlockBlobClient(name).upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: 'application/json' } });
}

export async function deleteContainer(service, container) {
  await service.getContainerClient(container).deleteIfExists();
}

// ---------------------------------------------------------------- the job

// The environment a run gets: the sandbox for login and Graph, Azurite for storage,
// JSON logs, short HTTP waits; `extra` adds or overrides (undefined removes).
export function jobEnv(sb, az, extra = {}) {
  const env = {
    AZURE_TENANT_ID: sb.tenant.tenantId,
    AZURE_CLIENT_ID: sb.tenant.clientId,
    AZURE_CLIENT_SECRET: sb.tenant.clientSecret,
    ATTENDANCE_USERS: sb.tenant.users.map((u) => u.userPrincipalName).join(','),
    AZURE_AUTHORITY_HOST: sb.url,
    GRAPH_ENDPOINT: sb.url,
    LOG_FORMAT: 'json',
    ...FAST_HTTP,
  };
  if (az) env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

// Runs the job with exactly `env` (plus PATH), kills it after timeoutMs. Never throws
// for a failing run; throws only when the binary is missing, with how to build it.
// onSpawn(child) is called once it runs (to signal it, say).
export async function runJob(args = [], env = {}, { timeoutMs = 90000, bin = TA_BIN, onSpawn = null } = {}) {
  if (!binaryExists(bin))
    throw new Error(`job binary not found or not executable: ${bin} (build it with: cmake -S . -B build && cmake --build build, or set TA_BIN)`);
  const started = Date.now();
  const child = spawn(bin, args, {
    env: { PATH: process.env.PATH || '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: os.tmpdir(),
  });
  const so = [];
  const se = [];
  if (onSpawn) onSpawn(child);
  child.stdout.on('data', (d) => so.push(d));
  child.stderr.on('data', (d) => se.push(d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const { code, signal } = await new Promise((resolve) => {
    child.once('error', (e) => resolve({ code: null, signal: null, error: e }));
    child.once('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  const stdout = Buffer.concat(so).toString('utf8');
  const stderr = Buffer.concat(se).toString('utf8');
  const logLines = [];
  const otherLines = [];
  for (const line of stderr.split('\n')) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line);
      if (j && typeof j === 'object' && !Array.isArray(j)) logLines.push(j);
      else otherLines.push(line);
    } catch {
      otherLines.push(line);
    }
  }
  return { code, signal, timedOut, stdout, stderr, logLines, otherLines, durationMs: Date.now() - started, args };
}

// A short description of a run for assertion messages.
export function describeRun(r, max = 4000) {
  const tail = r.stderr.length > max ? '...' + r.stderr.slice(-max) : r.stderr;
  return `exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ' (killed: timeout)' : ''} after ${r.durationMs} ms\n--- stderr\n${tail}\n--- stdout\n${r.stdout.slice(0, 1000)}`;
}

// ---------------------------------------------------------------- secrets

// A secret counts as found however a server or the job may have written it: as it
// is, %XX-encoded (either case, once or twice, '+' for a space), JSON-escaped (\/,
// \uXXXX), or as any run of 16 or more of its characters; for a JWT, past its
// header, which every token of an issuer shares. The text searched is decoded in
// every order of those encodings, up to three deep, and each 16-character window of
// each decoding is looked up among the secret's.
const GRAM = 16;
const DECODERS = {
  '%-decoded': (t) => t.replace(/%([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))),
  'form-decoded': (t) => t.replace(/\+/g, ' ').replace(/%([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))),
  'JSON-unescaped': (t) =>
    t.replace(/\\(?:u([0-9a-fA-F]{4})|(["\\/]))/g, (_, u, c) => (u ? String.fromCharCode(parseInt(u, 16)) : c)),
};

function decodings(text, depth = 3) {
  const out = new Map([[text, 'as written']]);
  let level = [[text, 'as written']];
  for (let d = 0; d < depth; d++) {
    const next = [];
    for (const [t, how] of level)
      for (const [name, fn] of Object.entries(DECODERS)) {
        const v = fn(t);
        if (out.has(v)) continue;
        const label = how === 'as written' ? name : `${how}, ${name}`;
        out.set(v, label);
        next.push([v, label]);
      }
    level = next;
  }
  return out;
}

function jwtBody(value) {
  const parts = value.split('.');
  return value.startsWith('eyJ') && parts.length >= 3 ? value.slice(parts[0].length + 1) : value;
}

// secrets: strings, or {name, value}; under 8 characters they are not searched (too
// likely by chance). Returns where each was found, e.g.
// "blob c/registry/runs/x.json: client secret (16-character piece, %-decoded)".
export function secretMatcher(secrets) {
  const list = secrets
    .map((s, i) => (typeof s === 'string' ? { name: `secret #${i + 1}`, value: s } : s))
    .filter((s) => s && typeof s.value === 'string' && s.value.length >= 8);
  const grams = new Map();
  const whole = [];
  for (const s of list) {
    const body = jwtBody(s.value);
    if (body.length < GRAM) whole.push(s);
    for (let i = 0; i + GRAM <= body.length; i++) if (!grams.has(body.slice(i, i + GRAM))) grams.set(body.slice(i, i + GRAM), s.name);
  }
  return (text) => {
    const found = new Map(); // one finding per secret: the first decoding that shows it
    for (const [view, how] of decodings(text)) {
      for (const s of whole) if (!found.has(s.name) && view.includes(s.value)) found.set(s.name, `${s.name} (${how})`);
      for (let i = 0; i + GRAM <= view.length; i++) {
        const name = grams.get(view.slice(i, i + GRAM));
        if (name && !found.has(name))
          found.set(name, `${name} (16-character piece, ${how}, at ${i}: ${JSON.stringify(view.slice(Math.max(0, i - 20), i + GRAM + 20))})`);
      }
    }
    return [...found.values()];
  };
}

// Every place a secret must not appear: each run's stdout and stderr, every blob in
// the given containers, every file under the given folders (byte search; Parquet
// too). Names each place and secret found.
export async function findSecrets(secrets, { runs = [], service = null, containers = [], dirs = [] }) {
  const hits = [];
  const match = secretMatcher(secrets);
  const look = (where, text) => {
    for (const f of match(text)) hits.push(`${where}: ${f}`);
  };
  for (const r of runs) {
    const name = r.label || r.args.join(' ');
    look(`stderr of '${name}'`, r.stderr);
    look(`stdout of '${name}'`, r.stdout);
  }
  for (const c of containers) {
    for (const b of await listBlobs(service, c)) look(`blob ${c}/${b.name}`, (await readBlob(service, c, b.name)).toString('latin1'));
  }
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) look(`file ${p}`, fs.readFileSync(p).toString('latin1'));
    }
  };
  for (const d of dirs) if (fs.existsSync(d)) walk(d);
  return [...new Set(hits)];
}

// ---------------------------------------------------------------- misc

// A TCP listener that only counts connections: an endpoint nobody may reach.
export async function connectionCounter() {
  let n = 0;
  const server = net.createServer((sock) => {
    n++;
    sock.destroy();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    get count() {
      return n;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

export function tmpDir(prefix = 'ta-e2e-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
