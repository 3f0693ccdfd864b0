// The rows a run must write to the four Parquet tables, computed from the sandbox's
// ground truth (expectedMailbox in expect.js: what Graph holds for a window) with the
// SPEC section 7 rules of tables-rules.js, never from what the job stored; and the
// comparison of rows read back from a file with them, as multisets (SPEC fixes no
// row order).
import assert from 'node:assert/strict';
import { TABLES, TABLE_NAMES, expectedRows } from './tables-rules.js';

// Key columns of each table (SPEC 7, the newest-copy views), for readable diffs.
export const KEY_COLUMNS = {
  events: ['event_id', 'user_upn'],
  attendance_reports: ['report_id'],
  attendance_records: ['report_id', 'record_key'],
  attendance_intervals: ['report_id', 'record_key', 'interval_index'],
};

export const col = (table, name) => {
  const i = TABLES[table].findIndex((c) => c[0] === name);
  assert.ok(i >= 0, `${table} has no column ${name}`);
  return i;
};

// One final snapshot per mailbox, shaped as SPEC 7 describes it, built from Graph's
// side: the events Graph served, the meeting each organised Teams event resolves to,
// the reports tied to it with every record, and the unmatched reports.
export function truthSnapshot(exp, { runId, extractedUtc }) {
  const report = (a, extra = {}) => ({ ...structuredClone(a.report), ...extra, attendanceRecords: structuredClone(a.records) });
  return {
    user_upn: exp.upn,
    run_id: runId,
    window_start: new Date(exp.windowStart).toISOString(),
    window_end: new Date(exp.windowEnd).toISOString(),
    extracted_utc: extractedUtc,
    events: exp.events.map((ev) => ({
      ...structuredClone(ev.json),
      onlineMeetingMeta: ev.meeting ? structuredClone(ev.meeting.json) : null,
      attendance: ev.attendance.map((a) => report(a)),
      ...(ev.joinUrlSource ? { joinUrlSource: ev.joinUrlSource } : {}),
    })),
    unmatched_attendance: exp.unmatched.map((a) => report(a, { onlineMeetingId: a.meetingId })),
  };
}

// Expected rows of every table for the mailboxes' expectations; the status column
// is checked against the status the ground truth gives each event.
export function truthRows(exps, { runId, extractedUtc }) {
  const rows = expectedRows(exps.map((e) => truthSnapshot(e, { runId, extractedUtc })));
  const st = col('events', 'attendance_status');
  for (const exp of exps) {
    const upn = exp.upn.toLowerCase();
    for (const ev of exp.events) {
      if (!ev.id) continue; // an event without id has no row (SPEC 4)
      const row = rows.events.find((r) => r[0] === ev.id && r[1] === upn);
      assert.ok(row, `truth: no events row for ${ev.id}`);
      assert.equal(row[st], ev.status, `truth: the rules and the ground truth disagree on '${ev.rec.tag}'`);
    }
  }
  return rows;
}

const canon = (row) => JSON.stringify(row, (k, v) => (typeof v === 'bigint' ? { big: String(v) } : v));
const show = (v) => {
  const s = v === null ? 'null' : typeof v === 'bigint' ? `${v}n` : JSON.stringify(v);
  return s.length > 90 ? `${s.slice(0, 87)}...` : s;
};

function tally(rows) {
  const m = new Map();
  for (const r of rows) {
    const k = canon(r);
    const e = m.get(k);
    if (e) e.n++;
    else m.set(k, { n: 1, row: r });
  }
  return m;
}

// got and want hold the same rows, each as often (any order). On a difference the
// message pairs missing and unexpected rows by key and names the columns that differ.
export function assertSameRows(what, table, got, want) {
  const g = tally(got);
  const w = tally(want);
  const missing = [];
  const extra = [];
  for (const [k, e] of w) for (let i = (g.get(k)?.n || 0); i < e.n; i++) missing.push(e.row);
  for (const [k, e] of g) for (let i = (w.get(k)?.n || 0); i < e.n; i++) extra.push(e.row);
  if (!missing.length && !extra.length) {
    assert.equal(got.length, want.length);
    return;
  }
  const names = TABLES[table].map((c) => c[0]);
  const keyIdx = KEY_COLUMNS[table].map((n) => names.indexOf(n));
  const keyOf = (r) => keyIdx.map((i) => show(r[i])).join(' / ');
  const lines = [];
  const paired = new Set();
  // pair each missing row with the unexpected row that shares its key, else with the
  // one that agrees on most columns, and name the columns that differ
  const same = (a, b) => a.reduce((n, v, i) => n + (canon([v]) === canon([b[i]]) ? 1 : 0), 0);
  for (const m of missing.slice(0, 8)) {
    let x = extra.find((e) => !paired.has(e) && keyOf(e) === keyOf(m));
    if (!x) {
      let best = 0;
      for (const e of extra) {
        const n = paired.has(e) ? 0 : same(e, m);
        if (n > best && n * 2 >= names.length) {
          best = n;
          x = e;
        }
      }
    }
    if (x) {
      paired.add(x);
      const diffs = names.filter((n, i) => canon([x[i]]) !== canon([m[i]])).map((n) => {
        const i = names.indexOf(n);
        return `${n}: got ${show(x[i])}, want ${show(m[i])}`;
      });
      lines.push(`  row ${KEY_COLUMNS[table].join('+')} = ${keyOf(m)}: ${diffs.join('; ')}`);
    } else lines.push(`  missing row ${keyOf(m)}: ${names.map((n, i) => `${n}=${show(m[i])}`).join(', ')}`);
  }
  for (const x of extra.filter((e) => !paired.has(e)).slice(0, 8))
    lines.push(`  unexpected row ${keyOf(x)}: ${names.map((n, i) => `${n}=${show(x[i])}`).join(', ')}`);
  assert.fail(
    `${what}: ${table}: ${got.length} rows, want ${want.length}; ${missing.length} expected rows not found, ${extra.length} rows not expected\n${lines.join('\n')}`,
  );
}

// The tables' rows keyed by table, for tests that walk all four.
export const emptyTables = () => Object.fromEntries(TABLE_NAMES.map((t) => [t, []]));
