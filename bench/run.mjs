// The run benchmark: `teams-attendance run` against the sandbox Graph (a per-request
// latency like Graph's) and Azurite (or a local folder), compared in the same run with
// the old job's way of working, one request at a time, mailbox after mailbox.
// See bench/README.md; --help lists the options.
import { fork, spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '..');
const TABLES = ['events', 'attendance_reports', 'attendance_records', 'attendance_intervals'];

const USAGE = `usage: bench/run [options]

  --mailboxes N        mailboxes of the main run (default 1000)
  --small              50 mailboxes, smaller baselines: a quick check
  --latency MS|A-B     sandbox latency per request, ms (default 40-80, uniform)
  --concurrency N      the job's concurrency for the main run (default: the job's own, 256)
  --output-dir         write to a local folder instead of Azurite (takes storage out)
  --seq-mailboxes K    mailboxes replayed one request at a time (default 10; --small 5)
  --c1-mailboxes K     mailboxes of the job run with ATTENDANCE_CONCURRENCY=1 (default 3)
  --c1-budget S        stop that run after S seconds and extrapolate (default 45)
  --scaling            also run concurrency 16, 64 and 256 on --scaling-mailboxes
  --scaling-mailboxes K  (default: min(N, 200))
  --memory-factor F    the memory run takes F x N mailboxes (default 3; 0 skips it)
  --seed S             sandbox tenant seed (default 1)
  --bin PATH           job binary (default: $TA_BIN, build-benchrun/, build-bench/, build/)
  --sandbox-dir DIR    where graph.js lives (default tests/sandbox)
  --work DIR           scratch folder (default: a new one under $TMPDIR, removed)
  --keep               keep the scratch folder
  --timeout S          kill a run after S seconds (default 1800)
  --json FILE          also write every figure as JSON
  --strict             exit 1 when a check fails (exit status, counts, <= 4 per mailbox)
`;

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const a = {
    mailboxes: 1000,
    small: false,
    latency: [40, 80],
    concurrency: null,
    outputDir: false,
    seqMailboxes: null,
    c1Mailboxes: null,
    c1Budget: 45,
    scaling: false,
    scalingMailboxes: null,
    memoryFactor: 3,
    seed: 1,
    bin: null,
    sandboxDir: null,
    work: null,
    keep: false,
    timeout: 1800,
    json: null,
    strict: false,
  };
  let mailboxesSet = false;
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) die(`${k} needs a value`);
      return argv[++i];
    };
    const num = (s, what) => {
      const n = Number(s);
      if (!Number.isFinite(n) || n < 0) die(`${what}: '${s}' is not a number`);
      return n;
    };
    if (k === '--mailboxes') {
      a.mailboxes = Math.floor(num(v(), k));
      mailboxesSet = true;
    } else if (k === '--small') a.small = true;
    else if (k === '--latency') {
      const s = v();
      const m = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(s);
      if (!m) die(`--latency: '${s}' is not MS or A-B`);
      a.latency = m[2] ? [+m[1], +m[2]] : +m[1];
    } else if (k === '--concurrency') a.concurrency = Math.floor(num(v(), k));
    else if (k === '--output-dir') a.outputDir = true;
    else if (k === '--seq-mailboxes') a.seqMailboxes = Math.floor(num(v(), k));
    else if (k === '--c1-mailboxes') a.c1Mailboxes = Math.floor(num(v(), k));
    else if (k === '--c1-budget') a.c1Budget = num(v(), k);
    else if (k === '--scaling') a.scaling = true;
    else if (k === '--scaling-mailboxes') a.scalingMailboxes = Math.floor(num(v(), k));
    else if (k === '--memory-factor') a.memoryFactor = num(v(), k);
    else if (k === '--seed') a.seed = v();
    else if (k === '--bin') a.bin = path.resolve(v());
    else if (k === '--sandbox-dir') a.sandboxDir = path.resolve(v());
    else if (k === '--work') a.work = path.resolve(v());
    else if (k === '--keep') a.keep = true;
    else if (k === '--timeout') a.timeout = num(v(), k);
    else if (k === '--json') a.json = path.resolve(v());
    else if (k === '--strict') a.strict = true;
    else if (k === '--help' || k === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else die(`unknown option ${k}\n${USAGE}`);
  }
  if (a.small && !mailboxesSet) a.mailboxes = 50;
  if (a.mailboxes < 1) die('--mailboxes must be at least 1');
  a.seqMailboxes ??= a.small ? 5 : 10;
  a.c1Mailboxes ??= a.small ? 2 : 3;
  a.scalingMailboxes ??= Math.min(a.mailboxes, 200);
  a.seqMailboxes = Math.min(a.seqMailboxes, a.mailboxes);
  a.c1Mailboxes = Math.min(a.c1Mailboxes, a.mailboxes);
  a.scalingMailboxes = Math.min(a.scalingMailboxes, a.mailboxes);
  if (!a.bin) {
    const cands = [
      process.env.TA_BIN,
      path.join(REPO, 'build-benchrun', 'teams-attendance'),
      path.join(REPO, 'build-bench', 'teams-attendance'),
      path.join(REPO, 'build', 'teams-attendance'),
    ].filter(Boolean);
    a.bin = cands.find((p) => isExecutable(p)) || cands[cands.length - 1];
  }
  if (!isExecutable(a.bin))
    die(`job binary not found: ${a.bin}\nbuild it: cmake -S . -B build-benchrun -DCMAKE_BUILD_TYPE=Release && cmake --build build-benchrun -j2`);
  return a;
}

function die(msg) {
  process.stderr.write(`bench/run: ${msg}\n`);
  process.exit(2);
}

function isExecutable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- /proc

let CLK_TCK = 100;
try {
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  /* keep 100 */
}

// CPU seconds (user + system) of a process, or null when it is gone.
function cpuSeconds(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

function statusKiB(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function childPid(pid) {
  try {
    const c = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return c ? Number(c.split(/\s+/)[0]) : null;
  } catch {
    return null;
  }
}

const loadAvg = () => os.loadavg()[0];

// The machine's CPU counters (all cores): busy and total jiffies.
function machineCpu() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - f[3] - f[4], total };
  } catch {
    return null;
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- sandbox

async function startSandboxProcess({ mailboxes, latency, seed, sandboxDir }) {
  const child = fork(path.join(here, 'run-sandbox.mjs'), [JSON.stringify({ mailboxes, latencyMs: latency, seed, sandboxDir })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: ['--max-old-space-size=8192'],
  });
  const pending = new Map();
  let seq = 0;
  const info = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the sandbox exited (${code}) before it was ready`)));
    child.on('message', (m) => {
      if (m.ready) return resolve(m);
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error) p.reject(new Error(`sandbox: ${m.error}`));
      else p.resolve(m.result);
    });
  });
  child.removeAllListeners('exit');
  const call = (cmd, extra = {}) =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      pending.set(id, { resolve, reject });
      child.send({ id, cmd, ...extra });
    });
  return {
    ...info,
    pid: child.pid,
    call,
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      call('close').catch(() => {});
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ---------------------------------------------------------------- Azurite

async function startAzurite(workDir) {
  const bin = path.join(REPO, 'node_modules', '.bin', 'azurite-blob');
  if (!fs.existsSync(bin)) die(`azurite-blob not found at ${bin} (npm ci), or use --output-dir`);
  const { startAzurite: start } = await import('../tests/e2e/harness.js');
  return start({ timeoutMs: 30000, memoryMb: 8192, workDir });
}

// ---------------------------------------------------------------- the job

function usersEnv(users) {
  const list = users.join(',');
  // one environment string may not pass 128 KiB (MAX_ARG_STRLEN): then one SGA_UPN<n> each
  if (list.length < 120000) return { ATTENDANCE_USERS: list };
  const env = {};
  users.forEach((u, i) => (env[`SGA_UPN${i + 1}`] = u));
  return env;
}

// storage: { name, keep } runs into a named container (or folder) and keeps it, so that
// a second run is incremental; extraEnv adds settings.
async function runJob(ctx, { label, kind, users, concurrency, budgetS = null, storage = null, extraEnv = {} }) {
  const { args, sb, az, work } = ctx;
  await sb.call('reset');
  const id = `${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${Math.random().toString(16).slice(2, 8)}`;
  const tmp = fs.mkdtempSync(path.join(work, `tmp-${id}-`));
  const env = {
    PATH: process.env.PATH || '/usr/bin:/bin',
    TMPDIR: tmp,
    AZURE_TENANT_ID: sb.tenantId,
    AZURE_CLIENT_ID: sb.clientId,
    AZURE_CLIENT_SECRET: sb.clientSecret,
    AZURE_AUTHORITY_HOST: sb.url,
    GRAPH_ENDPOINT: sb.url,
    LOG_FORMAT: 'json',
    ...usersEnv(users),
    ...extraEnv,
  };
  if (concurrency !== null) env.ATTENDANCE_CONCURRENCY = String(concurrency);
  let outDir = null;
  const container = storage ? storage.name : `bench-${id}`.slice(0, 63).replace(/-+$/, '');
  if (az) {
    env.AZURE_STORAGE_CONNECTION_STRING = az.connectionString;
    env.ATTENDANCE_CONTAINER = container;
  } else {
    outDir = path.join(work, storage ? `out-${storage.name}` : `out-${id}`);
    env.ATTENDANCE_OUTPUT_DIR = outDir;
  }

  const timeFile = path.join(work, `time-${id}.txt`);
  const useTime = isExecutable('/usr/bin/time');
  const cmd = useTime ? '/usr/bin/time' : args.bin;
  const argv = useTime ? ['-f', '%e %U %S %M', '-o', timeFile, args.bin, 'run'] : ['run'];

  const load = loadAvg();
  const mc0 = machineCpu();
  const sbCpu0 = cpuSeconds(sb.pid);
  const azCpu0 = az ? cpuSeconds(az.pid) : null;
  const started = process.hrtime.bigint();
  const child = spawn(cmd, argv, { env, stdio: ['ignore', 'ignore', 'pipe'], cwd: tmp });

  let finished = null;
  const levels = {};
  const errors = [];
  let rest = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    rest += d;
    let nl;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (!line.trim()) continue;
      let j = null;
      try {
        j = JSON.parse(line);
      } catch {
        if (!/^Command (exited|terminated)/.test(line) && errors.length < 5) errors.push(line.slice(0, 300));
        continue;
      }
      levels[j.level] = (levels[j.level] || 0) + 1;
      if (j.msg === 'run finished') finished = j;
      if ((j.level === 'error' || j.level === 'fatal') && errors.length < 5) errors.push(`${j.msg}: ${j.error || ''}`.slice(0, 300));
    }
  });
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));

  // poll: the job's VmHWM, the sandbox's CPU over each second
  let jobPid = useTime ? null : child.pid;
  let hwmKiB = 0;
  let sbPeak = 0;
  let last = { t: Date.now(), cpu: sbCpu0 };
  let stopped = false;
  let done = false;
  exited.then(() => (done = true));
  const hardLimit = args.timeout * 1000;
  while (!done) {
    await sleep(100);
    if (done) break;
    if (!jobPid) jobPid = childPid(child.pid);
    if (jobPid) {
      const h = statusKiB(jobPid, 'VmHWM');
      if (h) hwmKiB = Math.max(hwmKiB, h);
    }
    const now = Date.now();
    if (now - last.t >= 1000) {
      const c = cpuSeconds(sb.pid);
      if (c !== null && last.cpu !== null) sbPeak = Math.max(sbPeak, (c - last.cpu) / ((now - last.t) / 1000));
      last = { t: now, cpu: c };
    }
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    if (!stopped && ((budgetS !== null && elapsed > budgetS * 1000) || elapsed > hardLimit)) {
      stopped = true;
      if (jobPid) process.kill(jobPid, 'SIGTERM');
      else child.kill('SIGTERM');
    }
  }
  const { code, signal } = await exited;
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const mc1 = machineCpu();
  const machineBusy = mc0 && mc1 ? (mc1.busy - mc0.busy) / Math.max(1, mc1.total - mc0.total) : null;
  const sbCpu = cpuSeconds(sb.pid) - sbCpu0;
  const azCpu = az ? cpuSeconds(az.pid) - azCpu0 : null;
  let jobCpuS = null;
  let rssKiB = hwmKiB;
  let exitCode = code;
  if (useTime) {
    try {
      const line = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop();
      const [e, u, s, m] = line.split(/\s+/).map(Number);
      void e;
      jobCpuS = u + s;
      if (m) rssKiB = Math.max(m, hwmKiB);
    } catch {
      /* the time file is missing when time itself failed */
    }
  }
  const st = await sb.call('stats');
  const served = Object.entries(st.kinds)
    .filter(([k]) => k !== 'token')
    .reduce((n, [, c]) => n + c, 0);

  // the manifest against the sandbox's ground truth
  let check = null;
  if (finished && finished.run_id && !stopped) {
    try {
      const name = `registry/runs/${finished.run_id}.json`;
      const text = az
        ? (await az.service.getContainerClient(container).getBlobClient(name).downloadToBuffer()).toString('utf8')
        : fs.readFileSync(path.join(outDir, name), 'utf8');
      check = await checkManifest(sb, JSON.parse(text), users);
    } catch (e) {
      check = { error: `manifest: ${e.message}` };
    }
  }

  // free the storage for the next run
  if (az && !storage?.keep) await az.service.getContainerClient(container).deleteIfExists().catch(() => {});
  if (outDir && !args.keep && !storage?.keep) fs.rmSync(outDir, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });

  const requests = finished ? finished.requests : null;
  return {
    label,
    kind,
    mailboxes: users.length,
    concurrency: concurrency ?? 256,
    exit: exitCode,
    signal,
    stopped,
    budgetS,
    wallS,
    jobDurationS: finished ? finished.duration_seconds : null,
    requests,
    retries: finished ? finished.retries : null,
    throttled: finished ? finished.throttled : null,
    servedRequests: served,
    reqPerS: (requests ?? served) / wallS,
    mailboxesPerS: finished ? (finished.mailboxes_ok + finished.mailboxes_failed) / wallS : null,
    mailboxesOk: finished ? finished.mailboxes_ok : null,
    mailboxesFailed: finished ? finished.mailboxes_failed : null,
    bytesWritten: finished ? finished.bytes_written : null,
    peakRssMiB: rssKiB ? rssKiB / 1024 : null,
    jobCpuS,
    sandboxCpuS: sbCpu,
    sandboxCpuPeak: sbPeak,
    azuriteCpuS: azCpu,
    machineBusy,
    kinds: st.kinds,
    maxPerMailbox: st.maxConcurrency,
    mailboxesOver4: st.mailboxesOver4,
    mailbox429: st.mailboxConcurrency429,
    maxInflightAll: st.maxInflightAll,
    sandboxStatuses: st.statuses,
    sandboxRssMiB: st.rssMiB,
    levels,
    errors,
    check,
    loadBefore: load,
  };
}

// Per mailbox: the manifest's counts against the tenant's, for the manifest's window.
async function checkManifest(sb, m, users) {
  const windows = m.mailboxes.map((x) => [x.upn, Date.parse(x.window_start), Date.parse(x.window_end)]);
  const exp = await sb.call('expected', { windows });
  let match = 0;
  const mismatched = [];
  const got = Object.fromEntries(TABLES.map((t) => [t, 0]));
  const want = Object.fromEntries(TABLES.map((t) => [t, 0]));
  for (const x of m.mailboxes) {
    const e = exp[String(x.upn).toLowerCase()];
    if (!e) {
      mismatched.push(`${x.upn}: not in the tenant`);
      continue;
    }
    let same = x.status === 'succeeded';
    for (const t of TABLES) {
      got[t] += (x.counts && x.counts[t]) || 0;
      want[t] += e[t];
      if (!x.counts || x.counts[t] !== e[t]) same = false;
    }
    if (same) match++;
    else if (mismatched.length < 5)
      mismatched.push(`${x.upn} (${x.status}): got ${TABLES.map((t) => (x.counts || {})[t]).join('/')} want ${TABLES.map((t) => e[t]).join('/')}`);
  }
  return {
    status: m.status,
    mailboxes: m.mailboxes.length,
    expectedMailboxes: users.length,
    match,
    mismatched,
    got,
    want,
  };
}

// ---------------------------------------------------------------- sequential replay

// The old job's pattern: one request at a time, mailbox after mailbox, over one
// kept-alive connection; the same requests the job made for those mailboxes (so the
// same work on the Graph side), each answer read and parsed, nothing written.
async function replaySequential(sb, plan) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const base = new URL(sb.url);
  const request = (method, pathAndQuery, headers, body) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: base.hostname, port: base.port, method, path: pathAndQuery, headers, agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body) req.end(body);
      else req.end();
    });
  const started = process.hrtime.bigint();
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: sb.clientId,
    client_secret: sb.clientSecret,
    scope: `${sb.url}/.default`,
  }).toString();
  const tok = await request('POST', `/${sb.tenantId}/oauth2/v2.0/token`, { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(form) }, form);
  const token = JSON.parse(tok.body).access_token;
  let n = 0;
  let bad = 0;
  const perMailbox = [];
  for (const [upn, reqs] of Object.entries(plan)) {
    const t = process.hrtime.bigint();
    for (const r of reqs) {
      const h = { Authorization: `Bearer ${token}` };
      if (r.prefer) h.Prefer = r.prefer;
      const res = await request(r.method, r.url, h);
      JSON.parse(res.body);
      if (res.status !== 200) bad++;
      n++;
    }
    perMailbox.push({ upn, requests: reqs.length, seconds: Number(process.hrtime.bigint() - t) / 1e9 });
  }
  agent.destroy();
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  return { wallS, requests: n, non200: bad, perMailbox };
}

// ---------------------------------------------------------------- output

const f1 = (x) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(1));
const f0 = (x) => (x === null || x === undefined || Number.isNaN(x) ? '-' : Math.round(x).toLocaleString('en-US'));
const f2 = (x) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(2));

function fmtDuration(s) {
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function table(rows, headers) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

function countsText(c) {
  if (!c) return '-';
  if (c.error) return c.error;
  return `${c.match}/${c.expectedMailboxes}`;
}

// ---------------------------------------------------------------- main

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const work = args.work || fs.mkdtempSync(path.join(os.tmpdir(), 'bench-run-'));
  fs.mkdirSync(work, { recursive: true });
  const N = args.mailboxes;
  const big = args.memoryFactor > 0 ? Math.max(N + 1, Math.round(N * args.memoryFactor)) : 0;
  const lat = Array.isArray(args.latency) ? `${args.latency[0]}-${args.latency[1]} ms` : `${args.latency} ms`;
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['-C', REPO, 'status', '--porcelain', '--', 'src'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    if (dirty) commit += ' (src/ has uncommitted changes)';
  } catch {
    /* not a checkout */
  }
  const log = (s = '') => process.stdout.write(`${s}\n`);
  log(`bench/run: ${N} mailboxes, sandbox latency ${lat} per request, storage ${args.outputDir ? 'local folder' : 'Azurite'}`);
  log(`binary ${args.bin}${commit ? ` at ${commit}` : ''}; ${os.cpus().length} CPUs, load ${loadAvg().toFixed(2)}`);

  const results = { args: { ...args }, machine: { cpus: os.cpus().length, commit, node: process.version }, runs: [] };
  let sb = null;
  let az = null;
  const cleanup = async () => {
    if (sb) await sb.close().catch(() => {});
    if (az) await az.stop().catch(() => {});
    sb = az = null;
    if (!args.keep && !args.work) fs.rmSync(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => cleanup().then(() => process.exit(130)));

  try {
    if (!args.outputDir) {
      az = await startAzurite(work);
      log(`Azurite (in memory) on pid ${az.pid}`);
    }
    const t = Date.now();
    sb = await startSandboxProcess({ mailboxes: N, latency: args.latency, seed: args.seed, sandboxDir: args.sandboxDir });
    log(`sandbox Graph: ${N} mailboxes generated in ${(sb.genMs / 1000).toFixed(1)} s (ready after ${((Date.now() - t) / 1000).toFixed(1)} s), pid ${sb.pid}`);
    const ctx = { args, sb, az, work };
    const all = sb.users;
    const say = (r) =>
      log(
        `  ${r.label}: exit ${r.exit}${r.stopped ? ' (stopped at the budget)' : ''}, ${f1(r.wallS)} s, ${f0(r.requests ?? r.servedRequests)} requests, ` +
          `peak RSS ${f1(r.peakRssMiB)} MiB, sandbox CPU ${f1(r.sandboxCpuS)} s, max ${r.maxPerMailbox} in flight per mailbox`,
      );

    // (a) the job as it runs in production
    log(`\n[A] the job, ${N} mailboxes, concurrency ${args.concurrency ?? 'default (256)'}`);
    const A = await runJob(ctx, { label: 'A job', kind: 'main', users: all, concurrency: args.concurrency });
    say(A);
    results.runs.push(A);

    // (t) what tracked meetings cost: an incremental run lists the reports of every
    // meeting each mailbox tracks, in its window or not; with ATTENDANCE_TRACK_DAYS=0
    // it tracks none
    {
      const users = all.slice(0, Math.min(100, all.length));
      const listings = (r) => (r.kinds?.attendanceReports ?? 0);
      const graphReq = (r) => Object.entries(r.kinds || {}).filter(([k]) => k !== 'token').reduce((n, [, c]) => n + c, 0);
      const pair = async (name, extraEnv) => {
        const storage = { name, keep: true };
        await runJob(ctx, { label: `T ${name} first`, kind: 'tracked', users, concurrency: args.concurrency, storage, extraEnv });
        return runJob(ctx, { label: `T ${name} incremental`, kind: 'tracked', users, concurrency: args.concurrency, storage, extraEnv });
      };
      const tracked = await pair('bench-tracked', {});
      const untracked = await pair('bench-untracked', { ATTENDANCE_TRACK_DAYS: '0' });
      const extra = graphReq(tracked) - graphReq(untracked);
      log(`\n[T] tracked meetings, ${users.length} mailboxes, an incremental run after a first run:`);
      log(`  with tracking: ${f0(graphReq(tracked))} Graph requests (${f0(listings(tracked))} reports listings), ${f1(tracked.wallS)} s`);
      log(`  ATTENDANCE_TRACK_DAYS=0: ${f0(graphReq(untracked))} Graph requests (${f0(listings(untracked))} reports listings), ${f1(untracked.wallS)} s`);
      log(`  -> tracking costs ${f0(extra)} more requests (${f1(extra / users.length)} a mailbox, x${f1(graphReq(tracked) / Math.max(1, graphReq(untracked)))})`);
      results.tracked = { mailboxes: users.length, withTracking: graphReq(tracked), without: graphReq(untracked), extra, wallS: tracked.wallS, wallUntrackedS: untracked.wallS };
    }

    // (b1) the old job's pattern: the same requests, one at a time, mailbox after mailbox
    const seqUsers = all.slice(0, args.seqMailboxes);
    let seq = null;
    if (args.seqMailboxes > 0) {
      // the request list of those mailboxes: what run A asked for them, still in the sandbox's log
      log(`\n[S] sequential replay of ${args.seqMailboxes} mailboxes (the old job's pattern)`);
      const plan = await sb.call('replayPlan', { upns: seqUsers });
      await sb.call('reset');
      const cpu0 = cpuSeconds(sb.pid);
      const load = loadAvg();
      seq = await replaySequential(sb, plan);
      seq.sandboxCpuS = cpuSeconds(sb.pid) - cpu0;
      seq.loadBefore = load;
      const st = await sb.call('stats');
      seq.maxPerMailbox = st.maxConcurrency;
      log(`  replay: ${seq.requests} requests in ${f1(seq.wallS)} s (${f0((seq.wallS / seq.requests) * 1000)} ms each), ${seq.non200} not 200`);
      results.sequential = seq;
    }

    // (b2) the same binary with ATTENDANCE_CONCURRENCY=1
    let C1 = null;
    if (args.c1Mailboxes > 0) {
      log(`\n[1] the job with ATTENDANCE_CONCURRENCY=1, ${args.c1Mailboxes} mailboxes (budget ${args.c1Budget} s)`);
      C1 = await runJob(ctx, { label: '1 job, concurrency 1', kind: 'c1', users: all.slice(0, args.c1Mailboxes), concurrency: 1, budgetS: args.c1Budget });
      say(C1);
      results.runs.push(C1);
    }

    // (c) scaling
    if (args.scaling) {
      const users = all.slice(0, args.scalingMailboxes);
      for (const c of [16, 64, 256]) {
        log(`\n[C${c}] the job, ${users.length} mailboxes, concurrency ${c}`);
        const r = await runJob(ctx, { label: `C${c} job, concurrency ${c}`, kind: 'scaling', users, concurrency: c });
        say(r);
        results.runs.push(r);
      }
    }

    // memory: the same run over F x N mailboxes
    let M = null;
    if (big) {
      await sb.close();
      const t2 = Date.now();
      sb = await startSandboxProcess({ mailboxes: big, latency: args.latency, seed: args.seed, sandboxDir: args.sandboxDir });
      ctx.sb = sb;
      log(`\nsandbox Graph: ${big} mailboxes generated in ${(sb.genMs / 1000).toFixed(1)} s (ready after ${((Date.now() - t2) / 1000).toFixed(1)} s)`);
      log(`[M] the job, ${big} mailboxes, concurrency ${args.concurrency ?? 'default (256)'}`);
      M = await runJob(ctx, { label: `M job, ${args.memoryFactor}x mailboxes`, kind: 'memory', users: sb.users, concurrency: args.concurrency });
      say(M);
      results.runs.push(M);
    }

    // ------------------------------------------------------------ report
    log('\n' + '='.repeat(100));
    const rows = results.runs.map((r) => [
      r.label,
      f0(r.mailboxes),
      r.concurrency,
      `${r.exit}${r.stopped ? '*' : ''}`,
      f1(r.wallS),
      f1(r.mailboxesPerS ?? (r.stopped ? NaN : null)),
      f0(r.requests ?? r.servedRequests),
      f0(r.servedRequests),
      f0(r.reqPerS),
      `${r.retries ?? '-'}/${r.throttled ?? '-'}`,
      f1(r.peakRssMiB),
      f1(r.jobCpuS),
      `${f1(r.sandboxCpuS)} (${f0((r.sandboxCpuS / r.wallS) * 100)}%/${f0(r.sandboxCpuPeak * 100)}%)`,
      r.azuriteCpuS === null ? '-' : f1(r.azuriteCpuS),
      r.machineBusy === null ? '-' : `${f0(r.machineBusy * 100)}%`,
      `${r.maxPerMailbox}/${r.mailbox429}`,
      countsText(r.check),
      f1(r.loadBefore),
    ]);
    log(
      table(rows, ['run', 'mailboxes', 'conc', 'exit', 'wall s', 'mbx/s', 'requests', 'Graph req', 'req/s', 'retry/429', 'peak RSS MiB', 'job CPU s', 'sandbox CPU s (mean/peak)', 'Azurite CPU s', 'machine busy', 'max/mbx 429', 'counts ok', 'load']),
    );
    log('  exit *: stopped at the budget and extrapolated. requests, retry/429: the job\'s "run finished" line (Graph and storage);');
    log('  Graph req: requests the sandbox answered (token included). req/s: requests / wall.');
    log(`  machine busy: all ${os.cpus().length} cores, every process (job, sandbox, Azurite and anything else running).`);
    log('  sandbox CPU: seconds, share of one core over the run and in the busiest second.');
    log('  max/mbx 429: most requests the sandbox saw in flight for one mailbox, MailboxConcurrency 429s it sent.');
    log('  counts ok: mailboxes whose manifest counts (4 tables) equal the tenant\'s ground truth for their window.');

    log('\nspeed-up over one request at a time, mailbox after mailbox:');
    const ratios = {};
    const reqA = A.servedRequests;
    if (seq) {
      const perReq = seq.wallS / seq.requests;
      const estN = perReq * reqA;
      ratios.sequentialReplayEstimateS = estN;
      ratios.speedupOverSequential = estN / A.wallS;
      log(
        `  sequential replay (old job's pattern, no parsing into tables, no writes): ${seq.requests} requests of ${seqUsers.length} mailboxes in ${f1(seq.wallS)} s = ${f0(perReq * 1000)} ms/request, ${f1(seq.wallS / seqUsers.length)} s/mailbox`,
      );
      log(`    -> the ${f0(reqA)} Graph requests of run A would take ${fmtDuration(estN)}; the job took ${fmtDuration(A.wallS)}: speed-up x${f1(ratios.speedupOverSequential)}`);
    }
    if (C1) {
      const rate = C1.stopped ? C1.servedRequests / C1.wallS : (C1.requests ?? C1.servedRequests) / C1.wallS;
      const estN = reqA / rate;
      ratios.c1EstimateS = estN;
      ratios.speedupOverC1 = estN / A.wallS;
      log(
        `  the job with ATTENDANCE_CONCURRENCY=1: ${f0(C1.stopped ? C1.servedRequests : C1.requests)} requests in ${f1(C1.wallS)} s${C1.stopped ? ' (stopped at the budget)' : ''} = ${f0(1000 / rate)} ms/request`,
      );
      log(`    -> the ${f0(reqA)} Graph requests of run A would take ${fmtDuration(estN)}: speed-up x${f1(ratios.speedupOverC1)}`);
      if (seq) {
        const perReq = seq.wallS / seq.requests;
        if (1 / rate > 3 * perReq)
          log(
            `    note: one at a time the job spends ${f0(1000 / rate)} ms per request where the replay spends ${f0(perReq * 1000)} ms: the job waits between requests (see bench/README.md)`,
          );
      }
    }
    const lmean = Array.isArray(args.latency) ? (args.latency[0] + args.latency[1]) / 2 : args.latency;
    const ideal = (reqA * lmean) / 1000 / (A.concurrency || 256);
    log(`  for scale: run A's Graph requests at ${lmean} ms each, ${A.concurrency} always in flight, would take ${f1(ideal)} s; the job took ${f1(A.wallS)} s`);

    if (M) {
      ratios.rssGrowth = M.peakRssMiB / A.peakRssMiB;
      log(`\nmemory: peak RSS ${f1(A.peakRssMiB)} MiB for ${N} mailboxes, ${f1(M.peakRssMiB)} MiB for ${M.mailboxes}: x${f2(ratios.rssGrowth)} for x${f2(M.mailboxes / N)} mailboxes`);
    }

    // checks
    const problems = [];
    for (const r of results.runs) {
      if (!r.stopped && r.exit !== 0) problems.push(`${r.label}: exit ${r.exit}${r.signal ? ` (${r.signal})` : ''}${r.errors.length ? `: ${r.errors.join(' | ')}` : ''}`);
      if (r.maxPerMailbox > 4) problems.push(`${r.label}: ${r.mailboxesOver4} mailbox(es) saw more than 4 requests in flight (max ${r.maxPerMailbox})`);
      if (r.mailbox429 > 0) problems.push(`${r.label}: the sandbox answered ${r.mailbox429} MailboxConcurrency 429s`);
      if (r.check && r.check.error) problems.push(`${r.label}: ${r.check.error}`);
      else if (r.check && r.check.match !== r.check.expectedMailboxes)
        problems.push(`${r.label}: counts differ for ${r.check.expectedMailboxes - r.check.match} mailbox(es): ${r.check.mismatched.join('; ')}`);
    }
    if (seq && seq.non200) problems.push(`sequential replay: ${seq.non200} answers were not 200`);
    const sat = results.runs.filter((r) => !r.stopped && r.sandboxCpuPeak >= 0.9);
    log('');
    for (const r of sat)
      log(
        `note: ${r.label}: the sandbox (one Node thread) was at ${f0(r.sandboxCpuPeak * 100)}% of a core in its busiest second, ${f0((r.sandboxCpuS / r.wallS) * 100)}% on average: the sandbox, not the job, may bound this run.`,
      );
    for (const r of results.runs)
      if (!r.stopped && r.machineBusy !== null && r.machineBusy >= 0.9)
        log(
          `note: ${r.label}: the machine's ${os.cpus().length} cores were ${f0(r.machineBusy * 100)}% busy over the run (job ${f1(r.jobCpuS)} s, sandbox ${f1(r.sandboxCpuS)} s${r.azuriteCpuS !== null ? `, Azurite ${f1(r.azuriteCpuS)} s` : ''} of CPU in ${f1(r.wallS)} s): the run was CPU-bound on this machine.`,
        );
    for (const r of results.runs) {
      const ms = (r.sandboxCpuS / Math.max(1, r.servedRequests)) * 1000;
      if (!r.stopped && r.servedRequests > 1000 && ms > 1.5)
        log(
          `note: ${r.label}: the sandbox spent ${f1(ms)} ms of CPU per request; its lookups grow with the tenant (tests/sandbox/tenant.js index(), see bench/README.md, --sandbox-dir).`,
        );
    }
    const busy = results.runs.filter((r) => r.loadBefore > 0.5);
    if (busy.length) log(`note: the load average was above 0.5 before ${busy.map((r) => r.label.split(' ')[0]).join(', ')}: something else ran; times are inflated.`);
    if (problems.length) {
      log('\nchecks FAILED:');
      for (const p of problems) log(`  - ${p}`);
    } else log('checks: every run exited 0, counts equal the ground truth, never more than 4 in flight per mailbox, no 429.');
    results.ratios = ratios;
    results.problems = problems;
    if (args.json) fs.writeFileSync(args.json, JSON.stringify(results, null, 2));
    await cleanup();
    if (args.strict && problems.length) process.exit(1);
  } catch (e) {
    await cleanup();
    throw e;
  }
}

main().catch((e) => {
  process.stderr.write(`bench/run: ${e.stack || e}\n`);
  process.exit(1);
});
