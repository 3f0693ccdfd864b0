// Mailboxes larger than the memory the run may hold: what a mailbox takes in from
// Graph spills to unlinked files in ATTENDANCE_TMPDIR once the run's budget
// (ATTENDANCE_SPILL_MB) is spent. A mailbox whose records pass the budget many times
// lands complete (rows equal the sandbox's ground truth); one that fails after
// spilling adds no row; a run stopped with SIGTERM mid-mailbox moves no checkpoint;
// and no spill file is ever left behind.
import { test, describe, before, after } from 'node:test';
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
  tmpDir,
} from './harness.js';
import { generateTenant } from '../sandbox/tenant.js';
import { TABLES, TABLE_NAMES, openDuck, readDuck } from './tables-rules.js';
import { truthRows, assertSameRows } from './tables-truth.js';

const T = { timeout: 240000 };
const BIG = 20000; // records in the big report: about 14 MB of JSON
const MB = 1 << 20;

// Spill files of a running job: unlinked, so only its open descriptors show them.
function openSpills(pid) {
  try {
    return fs
      .readdirSync(`/proc/${pid}/fd`)
      .map((fd) => {
        try {
          return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return '';
        }
      })
      .filter((l) => /\/spill-[^/]*\(deleted\)$/.test(l) || /\/spill-[^/]* \(deleted\)$/.test(l));
  } catch {
    return [];
  }
}

// Everything under dir, recursively (the run's folder is removed when it ends).
const leftovers = (dir) => fs.readdirSync(dir, { recursive: true });

describe('spilling to ATTENDANCE_TMPDIR', () => {
  let az;
  let sb;
  let tmp;
  before(async () => {
    az = await startAzurite();
    const tenant = generateTenant({ seed: 91, mailboxes: 3, now: Date.now(), bigReportRecords: BIG });
    // one mailbox holds the big report; the others keep a few of its records
    const bigOwner = tenant.users[0].id;
    for (const m of Object.values(tenant.meetings))
      if (m.organizerId !== bigOwner) for (const r of m.reports) if (r.records.length > 50) r.records = r.records.slice(0, 50);
    sb = await startSandbox({ tenant, recordsPageSize: 500, latencyMs: [0, 2] });
    tmp = tmpDir('ta-spill-');
    await openDuck();
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function newRun(container, env, opts) {
    const reader = blobReader(az.service, container);
    const from = sb.requests.length;
    const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, ...env }), { timeoutMs: 200000, ...opts });
    const ids = await runIds(reader);
    assert.equal(ids.length, 1, `one run manifest\n${describeRun(r)}`);
    return { r, reader, run: await loadRun(reader, ids[0]), from };
  }

  test('records past the memory budget many times land complete, equal to the ground truth', T, async () => {
    const dir = tmpDir('ta-spill-ok-');
    let peakOpen = 0;
    const watch = (child) => {
      const timer = setInterval(() => (peakOpen = Math.max(peakOpen, openSpills(child.pid).length)), 25);
      child.once('close', () => clearInterval(timer));
    };
    const { r, reader, run, from } = await newRun('spill-ok', { ATTENDANCE_SPILL_MB: '1', ATTENDANCE_TMPDIR: dir }, { onSpawn: watch });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(run.manifest.status, 'succeeded');
    // the biggest mailbox took in over ten times the budget, and it went to disk
    assert.ok(run.manifest.tmp_peak_bytes > 10 * MB, `tmp_peak_bytes ${run.manifest.tmp_peak_bytes}`);
    assert.ok(peakOpen > 0, 'spill files were open while the run worked');
    assert.deepEqual(leftovers(dir), [], 'nothing left in ATTENDANCE_TMPDIR');

    const wins = sb.tenant.users.map((u) => requestedWindow(sb, u.userPrincipalName, from));
    const exps = sb.tenant.users.map((u, i) => expectedMailbox(sb, u.userPrincipalName, { windowStart: wins[i].start, windowEnd: wins[i].end }));
    assert.ok(exps.some((e) => e.counts.attendance_records >= BIG), 'a mailbox holds the big report');
    const expected = truthRows(exps, { runId: run.runId, extractedUtc: wins[0].endRaw });
    for (const t of TABLE_NAMES) {
      const name = run.parquet.find((b) => b.name.startsWith(`parquet/${t}/`)).name;
      const file = path.join(dir, `${t}.parquet`);
      fs.writeFileSync(file, await reader.read(name));
      assertSameRows('spilled run (duckdb)', t, (await readDuck(file, TABLES[t])).rows, expected[t]);
      fs.rmSync(file);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a mailbox that fails after spilling adds no row and leaves no spill file', T, async () => {
    const dir = tmpDir('ta-spill-fail-');
    // the big mailbox takes in more than 4 MiB: it fails with its limit, after it spilled
    const { r, reader, run } = await newRun('spill-fail', {
      ATTENDANCE_SPILL_MB: '0',
      ATTENDANCE_MAILBOX_MAX_MB: '4',
      ATTENDANCE_TMPDIR: dir,
    });
    assert.equal(r.code, 1, describeRun(r));
    assert.equal(run.manifest.status, 'partial', JSON.stringify(run.manifest.mailboxes.map((m) => [m.upn, m.status, m.error])));
    const failed = run.manifest.mailboxes.filter((m) => m.status === 'failed');
    assert.equal(failed.length, 1, JSON.stringify(run.manifest.mailboxes));
    assert.equal(failed[0].upn.toLowerCase(), sb.tenant.users[0].userPrincipalName.toLowerCase());
    assert.match(failed[0].error, /ATTENDANCE_MAILBOX_MAX_MB/);
    const upn = failed[0].upn.toLowerCase();
    for (const t of TABLE_NAMES) {
      const name = run.parquet.find((b) => b.name.startsWith(`parquet/${t}/`)).name;
      const file = path.join(dir, `${t}.parquet`);
      fs.writeFileSync(file, await reader.read(name));
      const rows = (await readDuck(file, TABLES[t])).rows;
      fs.rmSync(file);
      if (TABLES[t].some((c) => c.name === 'user_upn')) {
        assert.ok(rows.length > 0, `${t}: the other mailboxes landed`);
        assert.equal(rows.filter((row) => row.user_upn === upn).length, 0, `${t}: no row of the failed mailbox`);
      }
    }
    const finals = (await reader.list('raw/final/')).filter((b) => b.name.includes(`user=${upn}/`));
    assert.deepEqual(finals, [], 'no final snapshot of the failed mailbox');
    assert.deepEqual(leftovers(dir), [], 'nothing left in ATTENDANCE_TMPDIR');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('SIGTERM while mailboxes spill: no spill file left, no checkpoint move', T, async () => {
    const dir = tmpDir('ta-spill-term-');
    let seen = 0;
    const stopWhenSpilling = (child) => {
      const timer = setInterval(() => {
        seen = openSpills(child.pid).length;
        if (seen > 0) {
          clearInterval(timer);
          child.kill('SIGTERM');
        }
      }, 5);
      child.once('close', () => clearInterval(timer));
    };
    const { r, run } = await newRun('spill-term', { ATTENDANCE_SPILL_MB: '0', ATTENDANCE_TMPDIR: dir }, { onSpawn: stopWhenSpilling });
    assert.ok(seen > 0, 'the signal came while spill files were open');
    assert.equal(r.code, 1, describeRun(r));
    assert.equal(run.manifest.status, 'terminated');
    assert.equal(run.checkpoint, null, 'no checkpoint was written');
    assert.deepEqual(leftovers(dir), [], 'nothing left in ATTENDANCE_TMPDIR');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
