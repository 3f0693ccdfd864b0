// The convert benchmark: builds a large synthetic set of final snapshots, then, in the
// same run, times `teams-attendance convert` and DuckDB turning the same JSON into the
// same four tables, checks both against the generator's counts and each other, and
// prints seconds, throughput, peak memory and output bytes for each, and their ratios.
// Run it as bench/convert (see --help and bench/README.md).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { generate } from './gen-snapshots.mjs';
import { compareOutputs, TABLES } from './compare-outputs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const MIB = 1024 * 1024;
// The goals (issue 13), against DuckDB in its fastest configuration on this data:
// 2 threads, read_json format newline_delimited (the defaults of --threads and
// --duckdb-format). --strict fails when one is missed or cannot be judged.
const GOAL_SPEEDUP = 3.0; // DuckDB seconds / ours, at least
const GOAL_PEAK_RATIO = 0.15; // our peak RSS / DuckDB's, at most
const GOAL_DUCKDB = { threads: 2, duckdbFormat: 'newline_delimited' };

const HELP = `usage: bench/convert [options]
  --records N     attendance records to generate (default 2000000, about 1.3 GB of JSON)
  --small         a quick check: 50000 records (about 35 MB)
  --seed N        generator seed (default 1)
  --work DIR      work folder (default: a new folder under ${os.tmpdir()}); removed
                  afterwards unless --keep
  --keep          keep the work folder (snapshots and both outputs)
  --reuse         use the snapshots already in --work DIR when made with the same
                  --records and --seed (skips generating)
  --bin PATH      teams-attendance binary (default: $TA_BIN, build-bench/, build/)
  --threads N     DuckDB threads (default 2)
  --duckdb-format F  read_json format for DuckDB: newline_delimited (default; each
                  snapshot is one line, DuckDB's fastest reader) or auto (about 3x
                  slower to load)
  --repeat N      run each tool N times (alternating); the median run counts
  --no-duckdb     time teams-attendance only
  --no-compare    skip the value-by-value comparison of the two outputs
  --json FILE     also write the figures as JSON to FILE
  --strict        exit 1 when a goal is missed: convert at least ${GOAL_SPEEDUP}x as fast as
                  DuckDB (2 threads, newline_delimited), peak RSS at most
                  ${GOAL_PEAK_RATIO}x DuckDB's, output no larger than DuckDB's (needs DuckDB
                  run in that configuration)
exit: 0 when both tools ran and their rows match the generator (and each other),
      and with --strict the goals are met; 1 otherwise; 2 on a usage error.`;

function parseArgs(argv) {
  const a = {
    records: 2000000, seed: 1, work: null, keep: false, reuse: false, bin: null,
    repeat: 1, threads: 2, duckdbFormat: 'newline_delimited', duckdb: true, compare: true, json: null, strict: false,
  };
  const need = (k) => {
    if (k + 1 >= argv.length) usage(`${argv[k]} needs a value`);
    return argv[k + 1];
  };
  for (let k = 0; k < argv.length; k++) {
    switch (argv[k]) {
      case '--records': a.records = Number(need(k)); k++; break;
      case '--small': a.records = 50000; break;
      case '--seed': a.seed = Number(need(k)); k++; break;
      case '--work': a.work = path.resolve(need(k)); k++; break;
      case '--keep': a.keep = true; break;
      case '--reuse': a.reuse = true; break;
      case '--bin': a.bin = path.resolve(need(k)); k++; break;
      case '--threads': a.threads = Number(need(k)); k++; break;
      case '--repeat': a.repeat = Number(need(k)); k++; break;
      case '--duckdb-format': a.duckdbFormat = need(k); k++; break;
      case '--no-duckdb': a.duckdb = false; break;
      case '--no-compare': a.compare = false; break;
      case '--json': a.json = path.resolve(need(k)); k++; break;
      case '--strict': a.strict = true; break;
      case '-h': case '--help': console.log(HELP); process.exit(0); break;
      default: usage(`unknown option ${argv[k]}`);
    }
  }
  if (!['newline_delimited', 'auto'].includes(a.duckdbFormat)) usage('--duckdb-format is newline_delimited or auto');
  if (!(a.records >= 1) || !(Number.isInteger(a.repeat) && a.repeat >= 1) || !Number.isInteger(a.seed) || !(a.threads >= 1)) usage('bad number');
  if (a.reuse && !a.work) usage('--reuse needs --work DIR');
  if (!a.duckdb) a.compare = false;
  return a;
}

function usage(msg) {
  console.error(`bench/convert: ${msg}\n${HELP}`);
  process.exit(2);
}

function findBin(a) {
  const tries = a.bin ? [a.bin] : [process.env.TA_BIN, path.join(REPO, 'build-bench/teams-attendance'),
    path.join(REPO, 'build/teams-attendance')].filter(Boolean);
  for (const b of tries) if (fs.existsSync(b)) return b;
  console.error(`bench/convert: no teams-attendance binary (tried ${tries.join(', ')}); build one with\n`
    + '  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench -j2');
  process.exit(2);
}

// Runs a command, returns wall seconds, CPU seconds and peak RSS. The peak comes from
// GNU time (the kernel's ru_maxrss of the child) when /usr/bin/time is there, else
// from polling /proc/PID/status VmHWM and /proc/PID/stat (can miss the last few
// milliseconds).
function measure(cmd, args, { cwd, timeFile }) {
  const busy0 = machineBusy();
  const gnuTime = fs.existsSync('/usr/bin/time');
  return new Promise((resolve) => {
    const argv = gnuTime ? ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args] : args;
    const t0 = process.hrtime.bigint();
    const child = spawn(gnuTime ? '/usr/bin/time' : cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', hwm = 0, polledCpu = null, poll = null;
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 8 * MIB) stderr = stderr.slice(-MIB); });
    if (!gnuTime) {
      poll = setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          if (m) hwm = Math.max(hwm, Number(m[1]) * 1024);
          const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
          const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          polledCpu = (Number(f[11]) + Number(f[12])) / 100; // utime, stime
        } catch { /* gone */ }
      }, 10);
    }
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      if (poll) clearInterval(poll);
      let cpu = polledCpu, peak = hwm || null;
      if (gnuTime) {
        try {
          const f = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ');
          cpu = Number(f[1]) + Number(f[2]);
          peak = Number(f[3]) * 1024;
        } catch { /* the command never ran */ }
      }
      const busy1 = machineBusy();
      const others = busy0 != null && busy1 != null && cpu != null ? Math.max(0, busy1 - busy0 - cpu) : null;
      resolve({ code, wall, cpu, peak, stdout, stderr, others });
    });
  });
}

// CPU seconds the whole machine spent busy so far (/proc/stat, in USER_HZ = 100 ticks).
// Busy time during a run minus the run's own CPU time is what other work took: when
// that is large, the cores were shared and the times are inflated.
function machineBusy() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return (user + nice + system + irq + softirq + (steal || 0)) / 100;
  } catch {
    return null;
  }
}

const fmtInt = (n) => (n == null ? '-' : Math.round(n).toLocaleString('en-US'));
const fmt = (n, d = 1) => (n == null ? '-' : n.toFixed(d));

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => r.map((v, c) => (c === 0 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  ')).join('\n');
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const bin = findBin(a);
  const work = a.work || fs.mkdtempSync(path.join(os.tmpdir(), 'ta-bench-convert-'));
  fs.mkdirSync(work, { recursive: true });
  const snapDir = path.join(work, 'snapshots');
  const log = (s) => process.stderr.write(`bench/convert: ${s}\n`);
  let failed = false;
  const fail = (s) => { failed = true; log(`FAILED: ${s}`); };
  let missed = false; // a goal missed under --strict: exit 1, the rows may still be right
  const miss = (s) => { missed = true; log(`FAILED: ${s}`); };
  const results = { records_target: a.records, seed: a.seed, bin, cpus: os.cpus().length };

  try {
    // 1. the snapshots
    let gen = null;
    const manifestPath = path.join(work, 'gen-manifest.json');
    if (a.reuse && fs.existsSync(manifestPath)) {
      const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
      if (m.seed === a.seed && m.target_records === a.records) gen = m;
    }
    if (gen) {
      log(`reusing ${gen.files} snapshots in ${snapDir}`);
    } else {
      fs.rmSync(snapDir, { recursive: true, force: true });
      log(`generating ${fmtInt(a.records)} attendance records in ${snapDir} ...`);
      gen = await generate({ out: work, records: a.records, seed: a.seed, jobs: 2 });
    }
    results.input = { files: gen.files, bytes: gen.bytes, counts: gen.counts, generate_seconds: gen.seconds };
    log(`${gen.files} files, ${fmt(gen.bytes / MIB)} MiB of JSON; events ${fmtInt(gen.counts.events)}, `
      + `reports ${fmtInt(gen.counts.attendance_reports)}, records ${fmtInt(gen.counts.attendance_records)}, `
      + `intervals ${fmtInt(gen.counts.attendance_intervals)} (generated in ${fmt(gen.seconds)} s)`);
    // Both tools read from the page cache: read everything once first. And flush the
    // freshly written snapshots to disk, or the first fsync of an output file (convert
    // syncs before its rename) waits for the whole input's writeback on ext4.
    for (const n of gen.names) fs.readFileSync(path.join(snapDir, n));
    spawnSync('sync', { stdio: 'ignore' });

    // 2. and 3. teams-attendance convert, then DuckDB, --repeat times, alternating; the
    // median run of each counts (by wall time)
    const oursDir = path.join(work, 'out-teams-attendance');
    const duckDir = path.join(work, 'out-duckdb');
    const runs = { ours: [], duck: [] };
    for (let r = 1; r <= a.repeat && !failed; r++) {
      const round = a.repeat > 1 ? ` (round ${r} of ${a.repeat})` : '';
      fs.rmSync(oursDir, { recursive: true, force: true });
      log(`running teams-attendance convert${round} ...`);
      const ours = await measure(bin, ['convert', ...gen.names, '--output-dir', oursDir],
        { cwd: snapDir, timeFile: path.join(work, 'time-ours.txt') });
      if (ours.code !== 0) {
        fail(`teams-attendance convert exited ${ours.code}: ${ours.stderr.slice(-2000)}`);
      } else {
        const line = ours.stderr.split('\n').reverse().find((l) => l.includes('"converted"'));
        const info = line ? JSON.parse(line) : null;
        const rows = {}, bytes = {};
        for (const t of TABLES) {
          const f = info?.files?.find((x) => x.path.includes(`/parquet/${t}/`));
          rows[t] = f ? f.rows : null;
          bytes[t] = f ? f.bytes : null;
        }
        runs.ours.push({ tool: 'teams-attendance', ...ours, rows, bytes });
      }
      if (a.duckdb && !failed) {
        fs.rmSync(duckDir, { recursive: true, force: true });
        log(`running DuckDB (${a.threads} threads, read_json format ${a.duckdbFormat})${round} ...`);
        const d = await measure(process.execPath, [path.join(HERE, 'duckdb-convert.mjs'), snapDir, duckDir, String(a.threads), a.duckdbFormat],
          { cwd: REPO, timeFile: path.join(work, 'time-duckdb.txt') });
        if (d.code !== 0) {
          fail(`DuckDB exited ${d.code}: ${d.stderr.slice(-2000)}`);
        } else {
          const info = JSON.parse(d.stdout.trim().split('\n').pop());
          runs.duck.push({ tool: `DuckDB ${a.threads}T`, ...d, rows: info.rows, bytes: info.bytes, phases: info.phases });
        }
      }
    }
    const median = (list) => (list.length ? [...list].sort((x, y) => x.wall - y.wall)[(list.length - 1) >> 1] : null);
    const tools = [median(runs.ours), median(runs.duck)].filter(Boolean);

    // 4. checks
    for (const t of tools) {
      for (const tb of TABLES) {
        if (t.rows[tb] !== gen.counts[tb]) fail(`${t.tool}: ${tb} has ${t.rows[tb]} rows, the generator made ${gen.counts[tb]}`);
      }
    }
    if (a.compare && tools.length === 2) {
      log('comparing the two outputs value by value ...');
      const c = await compareOutputs(oursDir, path.join(work, 'out-duckdb'));
      results.compare = c;
      for (const [tb, info] of Object.entries(c.tables)) {
        if (info.differences.length) fail(`outputs differ in ${tb}: ${info.differences.join('; ')}`);
      }
    }

    // 5. figures
    const totalRows = (t) => TABLES.reduce((s, tb) => s + (t.rows[tb] || 0), 0);
    const rowsOut = [['tool', 'seconds', 'cpu s', 'others cpu s', 'input MB/s', 'records/s', 'rows/s (4 tables)', 'peak RSS MiB',
      ...TABLES.map((tb) => `${tb} bytes`), 'total bytes']];
    results.tools = [];
    for (const t of tools) {
      const total = TABLES.reduce((s, tb) => s + (t.bytes[tb] || 0), 0);
      rowsOut.push([t.tool, fmt(t.wall, 2), fmt(t.cpu, 2), fmt(t.others, 1), fmt(gen.bytes / 1e6 / t.wall, 1),
        fmtInt(gen.counts.attendance_records / t.wall), fmtInt(totalRows(t) / t.wall),
        fmt(t.peak / MIB, 1), ...TABLES.map((tb) => fmtInt(t.bytes[tb])), fmtInt(total)]);
      results.tools.push({ tool: t.tool, others_cpu_seconds: t.others, seconds: t.wall, cpu_seconds: t.cpu, peak_rss_bytes: t.peak,
        input_mb_per_s: gen.bytes / 1e6 / t.wall, records_per_s: gen.counts.attendance_records / t.wall,
        rows_per_s: totalRows(t) / t.wall, rows: t.rows, bytes: t.bytes, total_bytes: total, phases: t.phases });
    }
    console.log(`\ninput: ${gen.files} snapshot files, ${fmt(gen.bytes / 1e6)} MB of JSON, `
      + `${fmtInt(gen.counts.attendance_records)} attendance records `
      + `(${fmtInt(TABLES.reduce((s, tb) => s + gen.counts[tb], 0))} rows in the four tables); ${os.cpus().length} cores\n`);
    console.log(table(rowsOut));
    if (tools.some((t) => t.others > 0.1 * t.wall)) {
      console.log('\nnote: other processes used the CPUs during a run ("others cpu s"): the cores were shared, '
        + 'so the times are inflated; run again on a quiet machine for figures to compare.');
    }
    if (a.repeat > 1) console.log(`(the median of ${a.repeat} alternating runs each)`);
    const [o, d] = [results.tools[0], results.tools[1]];
    if (o && d && o.tool === 'teams-attendance') {
      const speed = d.seconds / o.seconds, mem = o.peak_rss_bytes / d.peak_rss_bytes;
      results.ratios = { duckdb_time_over_ours: speed, our_peak_over_duckdb_peak: mem };
      console.log(`\nDuckDB time / ours: ${fmt(speed, 2)} (${speed >= 1 ? 'ours is faster' : 'DuckDB is faster'})`
        + `;  our peak / DuckDB peak: ${fmt(mem, 3)}`);
      if (d.phases) {
        console.log(`DuckDB inside its process: load ${fmt(d.phases.load_s, 2)} s, `
          + TABLES.map((tb) => `${tb} ${fmt(d.phases[`${tb}_s`], 2)} s`).join(', '));
      }
    }
    if (o && o.tool === 'teams-attendance') {
      const goalConfig = a.threads === GOAL_DUCKDB.threads && a.duckdbFormat === GOAL_DUCKDB.duckdbFormat;
      const duck = `DuckDB ${GOAL_DUCKDB.threads} threads, ${GOAL_DUCKDB.duckdbFormat}`;
      const judged = d && goalConfig;
      const goals = {
        against: duck,
        speedup_at_least_3: judged ? d.seconds / o.seconds >= GOAL_SPEEDUP : null,
        peak_at_most_0_15: judged ? o.peak_rss_bytes <= GOAL_PEAK_RATIO * d.peak_rss_bytes : null,
        output_no_larger: judged ? o.total_bytes <= d.total_bytes : null,
      };
      results.goals = goals;
      const say = (v) => (v === null ? 'not measured' : v ? 'yes' : 'NO');
      console.log(`goals against ${duck}: at least ${GOAL_SPEEDUP}x as fast: ${say(goals.speedup_at_least_3)}`
        + `;  peak at most ${GOAL_PEAK_RATIO}x DuckDB's: ${say(goals.peak_at_most_0_15)}`
        + `;  output no larger: ${say(goals.output_no_larger)}`);
      if (d && !goalConfig) console.log(`(the goals are set against ${duck}; this run used ${a.threads} threads, ${a.duckdbFormat})`);
      if (a.strict) {
        if (!judged) miss(`--strict needs DuckDB run as in the goals (${duck})`);
        else if (!goals.speedup_at_least_3 || !goals.peak_at_most_0_15 || !goals.output_no_larger) miss('a goal is missed (--strict)');
      }
    }
    if (results.compare) console.log(`outputs compared value by value: ${results.compare.ok ? 'the same rows' : 'DIFFERENT'}`);
    console.log(`rows match the generator: ${failed ? 'NO' : 'yes'}`);
    if (a.json) fs.writeFileSync(a.json, JSON.stringify(results, null, 2));
  } finally {
    if (a.keep) log(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
  process.exit(failed || missed ? 1 : 0);
}

await main();
