// Checks that two sets of the four Parquet tables hold the same rows: per table the
// row count, the column names and types in order, and per column the count of
// non-null values and an order-independent fingerprint (the sum of a hash of each
// value as text). Used by the convert benchmark to compare teams-attendance's output
// with DuckDB's; not timed.
//
//   node bench/compare-outputs.mjs OURS_GLOB_PREFIX THEIRS_DIR
//   (ours: OURS/parquet/{table}/**/*.parquet; theirs: THEIRS/{table}.parquet)
// Prints one JSON line {"ok": bool, "tables": {...}}; exit 1 when they differ.
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

export const TABLES = ['events', 'attendance_reports', 'attendance_records', 'attendance_intervals'];
const q = (s) => `'${s.replace(/'/g, "''")}'`;

async function describe(con, src) {
  const r = await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${q(src)}, hive_partitioning = false)`);
  return r.getRows().map((row) => [String(row[0]), String(row[1])]);
}

async function fingerprint(con, src, cols) {
  const parts = ['count(*)'];
  for (const [c] of cols) parts.push(`count("${c}")`, `sum(hash(CAST("${c}" AS VARCHAR)))`);
  const r = await con.runAndReadAll(`SELECT ${parts.join(', ')} FROM read_parquet(${q(src)}, hive_partitioning = false)`);
  return r.getRows()[0].map((v) => (v === null ? null : String(v)));
}

export async function compareOutputs(oursDir, theirsDir) {
  const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
  const con = await inst.connect();
  await con.run("SET TimeZone = 'UTC'");
  const result = { ok: true, tables: {} };
  for (const t of TABLES) {
    const ours = path.join(oursDir, 'parquet', t, '*', '*.parquet');
    const theirs = path.join(theirsDir, `${t}.parquet`);
    const [dOurs, dTheirs] = [await describe(con, ours), await describe(con, theirs)];
    const info = { rows_ours: null, rows_theirs: null, differences: [] };
    if (JSON.stringify(dOurs.map((c) => c[0])) !== JSON.stringify(dTheirs.map((c) => c[0]))) {
      info.differences.push(`columns: ${dOurs.map((c) => c[0])} vs ${dTheirs.map((c) => c[0])}`);
    } else {
      dOurs.forEach(([c, ty], i) => {
        if (ty !== dTheirs[i][1]) info.differences.push(`${c}: type ${ty} vs ${dTheirs[i][1]}`);
      });
      const [fo, ft] = [await fingerprint(con, ours, dOurs), await fingerprint(con, theirs, dOurs)];
      info.rows_ours = Number(fo[0]);
      info.rows_theirs = Number(ft[0]);
      if (fo[0] !== ft[0]) info.differences.push(`rows: ${fo[0]} vs ${ft[0]}`);
      dOurs.forEach(([c], i) => {
        if (fo[1 + 2 * i] !== ft[1 + 2 * i]) info.differences.push(`${c}: ${fo[1 + 2 * i]} vs ${ft[1 + 2 * i]} non-null values`);
        else if (fo[2 + 2 * i] !== ft[2 + 2 * i]) info.differences.push(`${c}: values differ`);
      });
    }
    if (info.differences.length) result.ok = false;
    result.tables[t] = info;
  }
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [ours, theirs] = process.argv.slice(2);
  const r = await compareOutputs(ours, theirs);
  console.log(JSON.stringify(r));
  process.exit(r.ok ? 0 : 1);
}
