// The demo's last screen: for each run named on the command line, what its manifest
// says (status, mailboxes, events, reports, records, where the files are), then one
// DuckDB query over the Parquet files those runs wrote, read back from the storage.
//   node scripts/demo-summary.mjs RUN_ID...   (AZURE_STORAGE_CONNECTION_STRING set)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { DuckDBInstance } from '@duckdb/node-api';

const runIds = process.argv.slice(2);
const containerName = process.env.ATTENDANCE_CONTAINER || 'teams-attendance';
const prefix = process.env.ATTENDANCE_PREFIX ? `${process.env.ATTENDANCE_PREFIX.replace(/\/+$/, '')}/` : '';
const svc = BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING);
const cc = svc.getContainerClient(containerName);
const blobUrl = cc.url;

const local = fs.mkdtempSync(path.join(os.tmpdir(), 'ta-demo-summary-'));
const parquet = [];
try {
  console.log(`== summary (files in ${blobUrl}, Azurite in memory: gone when the demo ends)`);
  for (const [i, id] of runIds.entries()) {
    const name = `${prefix}registry/runs/${id}.json`;
    let m;
    try {
      m = JSON.parse((await cc.getBlobClient(name).downloadToBuffer()).toString('utf8'));
    } catch (e) {
      console.log(`   run ${i + 1} ${id}: no manifest (${e.statusCode || e.message})`);
      continue;
    }
    const ok = m.mailboxes.filter((b) => b.status === 'succeeded').length;
    const c = m.counts || {};
    const pq = m.files.filter((f) => f.path.endsWith('.parquet'));
    const raw = m.files.filter((f) => f.path.includes('raw/'));
    const day = (pq[0]?.path.match(/ingest_date=([0-9-]+)/) || [])[1] || '-';
    console.log(`   run ${i + 1}  ${id}  ${m.status}: ${ok} of ${m.mailboxes.length} mailboxes, ` +
      `${c.events ?? 0} events, ${c.attendance_reports ?? 0} reports, ${c.attendance_records ?? 0} records`);
    console.log(`          ${name}; ${pq.length} Parquet files in ${prefix}parquet/*/ingest_date=${day}/; ${raw.length} snapshots in ${prefix}raw/`);
    for (const b of m.mailboxes.filter((x) => x.status !== 'succeeded')) console.log(`          failed: ${b.upn}: ${b.error}`);
    for (const f of m.files.filter((x) => x.path.endsWith('.parquet'))) parquet.push(f.path);
  }

  // Read the tables back and ask them one question a data engineer would.
  for (const p of parquet) {
    const dest = path.join(local, p);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    await cc.getBlobClient(p).downloadToFile(dest);
  }
  const glob = (t) => `'${path.join(local, prefix, 'parquet', t, '*', '*.parquet')}'`;
  const sql = `SELECT r.user_upn AS organizer, count(DISTINCT r.report_id) AS sessions,
       count(*) AS attendees, round(sum(a.total_attendance_seconds) / 3600.0, 1) AS hours
  FROM read_parquet(${glob('attendance_records')}) a
  JOIN read_parquet(${glob('attendance_reports')}) r USING (report_id)
 GROUP BY 1 ORDER BY 1`;
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const rows = (await con.runAndReadAll(sql)).getRowObjects();
  console.log('\n   DuckDB over the Parquet files both runs wrote (attendance per organizer):');
  console.log(`     ${'organizer'.padEnd(40)} ${'sessions'.padStart(8)} ${'attendees'.padStart(9)} ${'hours'.padStart(7)}`);
  for (const r of rows) {
    console.log(`     ${String(r.organizer).padEnd(40)} ${String(r.sessions).padStart(8)} ${String(r.attendees).padStart(9)} ${String(r.hours).padStart(7)}`);
  }
  if (!rows.length) console.log('     (no attendance records landed)');
  con.closeSync?.();
} finally {
  fs.rmSync(local, { recursive: true, force: true });
}
