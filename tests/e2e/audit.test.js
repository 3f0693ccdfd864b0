// `audit` (SPEC section 2): per mailbox, the attendance reports Graph lists for the
// meetings it organizes (calendarView over the period, plus its tracked meetings)
// against the landed ids of registry/mailboxes/{upn}.json. The registry files and
// the checkpoint are written here from the sandbox's ground truth (what a history of
// runs would have left), so every number audit prints is compared with a count
// computed from the tenant, not from the job.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  startAzurite,
  startSandbox,
  runJob,
  jobEnv,
  describeRun,
  listBlobs,
  writeJsonBlob,
  upnPath,
  parseTimeUs,
  organizedJoinLink,
} from './harness.js';
import { meetingByJoinUrl, visibleReports } from '../sandbox/tenant.js';

const T = { timeout: 120000 };
const MIN_US = 60e6;
const DAY_MS = 86400e3;
const SETTLE_MIN = 60;

const iso = (ms) => new Date(ms).toISOString();

// The meetings a mailbox organizes among its events in [fromMs, toMs): what a run over
// that window tracks. Each: the tenant's meeting and the occurrences seen.
function organizedMeetings(sb, upn, fromMs, toMs) {
  const u = sb.tenant.users.find((x) => x.userPrincipalName === upn);
  const out = new Map();
  for (const e of sb.tenant.events[u.id]) {
    if (!(e.startMs < toMs && e.endMs > fromMs)) continue;
    const link = organizedJoinLink(e.json);
    const m = link && meetingByJoinUrl(sb.tenant, link.url);
    if (!m || m.organizerId !== u.id) continue; // another organizer's link: 403, not ours
    if (!out.has(m.json.id)) out.set(m.json.id, { m, occ: [] });
    out.get(m.json.id).occ.push({ event_id: e.json.id, start: iso(e.startMs), end: iso(e.endMs) });
  }
  return out;
}

// Ground truth for one mailbox: every report Graph lists for its meetings that counts
// (started in the period and at or after the first window), split by the rule into
// due (ended at least the settle time before the watermark) and not yet due.
function truth(meetings, { fwsMs, sinceMs = null, endMs, watermarkMs }) {
  const lo = Math.max(fwsMs ?? -Infinity, sinceMs ?? -Infinity) * 1000;
  const due = [];
  const notDue = [];
  const before = [];
  for (const { m } of meetings.values()) {
    for (const r of visibleReports(m)) {
      const s = parseTimeUs(r.json.meetingStartDateTime);
      const e = parseTimeUs(r.json.meetingEndDateTime);
      if (s >= endMs * 1000) continue;
      if (s < lo) {
        before.push(r);
        continue;
      }
      (e <= watermarkMs * 1000 - SETTLE_MIN * MIN_US ? due : notDue).push(r);
    }
  }
  return { due, notDue, before, onGraph: due.length + notDue.length };
}

function registryDoc(meetings, fwsMs, landedIds) {
  const landed = {};
  for (const [id, { m }] of meetings) {
    const ids = m.reports.map((r) => r.json.id).filter((x) => landedIds.has(x));
    if (ids.length) landed[id] = ids;
  }
  return {
    version: 1,
    first_window_start: iso(fwsMs),
    meetings: [...meetings].map(([id, { m, occ }]) => ({ id, join_url: m.json.joinWebUrl, occurrences: occ })),
    landed,
  };
}

function checkpointDoc(watermarks) {
  const mailboxes = {};
  let latest = 0;
  for (const [upn, ms] of Object.entries(watermarks)) {
    mailboxes[upn.toLowerCase()] = { watermark: iso(ms), run_id: '20261101T000000Z-abcdef' };
    latest = Math.max(latest, ms);
  }
  return { version: 1, last_meeting_start: iso(latest), updated_utc: iso(latest), run_id: '20261101T000000Z-abcdef', mailboxes };
}

// The table's row of a mailbox: [on Graph, landed, not yet due, missing].
function tableRow(stdout, upn) {
  const line = stdout.split('\n').find((l) => l.startsWith(upn.toLowerCase() + ' '));
  assert.ok(line, `a row for ${upn} in\n${stdout}`);
  const nums = line.trim().split(/\s+/).slice(1).map(Number);
  assert.equal(nums.length, 4, `four numbers in "${line}"`);
  return nums;
}

describe('audit', () => {
  let az;
  let sb;
  let seq = 0;
  let a;
  let b;
  before(async () => {
    az = await startAzurite();
    // small calendar pages, so that audit follows nextLinks
    sb = await startSandbox({ seed: 4242, mailboxes: 2, latencyMs: [1, 3], calendarViewMaxTop: 7, tenantOptions: { fillerMeetings: 1 } });
    [a, b] = sb.tenant.users.map((u) => u.userPrincipalName);
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
  });

  // Writes a history for both mailboxes: A's watermark is now (every report due), B's
  // four days back (its later reports not yet due). `landed(upn, t)` picks the landed
  // ids (default: every due one); `fws` overrides a mailbox's first window.
  async function history({ landed = null, fws = {}, skipRegistry = [], noWatermark = [] } = {}) {
    const container = `audit${++seq}`;
    const now = sb.tenant.now;
    const wm = { [a]: now, [b]: now - 4 * DAY_MS };
    const out = { container, now, wm, per: {} };
    for (const upn of [a, b]) {
      const fwsMs = fws[upn] ?? now - 30 * DAY_MS;
      const meetings = organizedMeetings(sb, upn, fwsMs, now);
      const t = truth(meetings, { fwsMs, endMs: now + 60e3, watermarkMs: wm[upn] });
      const ids = landed ? landed(upn, t) : new Set(t.due.map((r) => r.json.id));
      out.per[upn] = { fwsMs, meetings, t, landedIds: ids };
      if (!skipRegistry.includes(upn))
        await writeJsonBlob(az.service, container, `registry/mailboxes/${upnPath(upn)}.json`, registryDoc(meetings, fwsMs, ids));
    }
    const written = Object.fromEntries(Object.entries(wm).filter(([upn]) => !noWatermark.includes(upn)));
    await writeJsonBlob(az.service, container, 'registry/checkpoint.json', checkpointDoc(written));
    return out;
  }

  const audit = (h, args = [], extra = {}) =>
    runJob(['audit', ...args], jobEnv(sb, az, { ATTENDANCE_CONTAINER: h.container, ATTENDANCE_SETTLE_MINUTES: String(SETTLE_MIN), ...extra }));

  test('a clean history: exit 0, and the counts equal the ground truth', T, async () => {
    const h = await history();
    sb.resetLog();
    const r = await audit(h, ['--log-format', 'text']);
    assert.equal(r.code, 0, describeRun(r));
    // the listing of reports only, never their records; every calendar page; at most 4
    // requests in flight per mailbox
    assert.equal(sb.requests.filter((e) => e.kind === 'attendanceRecords' || e.kind === 'attendanceReport').length, 0);
    for (const upn of [a, b]) {
      assert.ok(sb.requests.filter((e) => e.kind === 'calendarView' && e.mailbox === upn).length > 2, 'calendarView was paged');
      assert.ok(sb.requests.filter((e) => e.mailbox === upn).length > 8, 'enough requests to need the cap');
    }
    assert.ok(sb.stats().maxConcurrency <= 4, JSON.stringify(sb.stats()));
    assert.equal(sb.stats().mailboxConcurrency429, 0);
    for (const upn of [a, b]) {
      const { t } = h.per[upn];
      assert.ok(t.due.length > 0, `${upn} has reports that are due`);
      assert.deepEqual(tableRow(r.stdout, upn), [t.onGraph, t.due.length, t.notDue.length, 0], `${upn}\n${r.stdout}`);
    }
    assert.ok(h.per[b].t.notDue.length > 0, 'B has reports not yet due (its watermark is four days back)');
    assert.match(r.stdout, /^COMPLETE: nothing missing/m);
  });

  test('a report removed from the landed ids: exit 1, named by subject, session start and id', T, async () => {
    let gone = null;
    const h = await history({
      landed: (upn, t) => {
        const ids = new Set(t.due.map((r) => r.json.id));
        if (upn === a) {
          gone = t.due.find((r) => r.tag === 'big');
          assert.ok(gone, "A's one-off 'big' meeting has a report that is due");
          ids.delete(gone.json.id);
        }
        return ids;
      },
    });
    const r = await audit(h, ['--log-format', 'text']);
    assert.equal(r.code, 1, describeRun(r));
    const { t } = h.per[a];
    assert.deepEqual(tableRow(r.stdout, a), [t.onGraph, t.due.length - 1, t.notDue.length, 1]);
    assert.deepEqual(tableRow(r.stdout, b)[3], 0);
    const lines = r.stdout.split('\n').filter((l) => /missing: /.test(l));
    assert.equal(lines.length, 1, r.stdout);
    const m = /missing: "(.*)" session (\S+) report (\S+)$/.exec(lines[0].trim());
    assert.ok(m, lines[0]);
    assert.equal(m[1], 'Quarterly review – Ünïcode ✓');
    assert.equal(parseTimeUs(m[2]), parseTimeUs(gone.json.meetingStartDateTime));
    assert.equal(m[3], gone.json.id);
    assert.match(r.stdout, /^INCOMPLETE: 1 report missing, 0 mailboxes could not be audited/m);
  });

  test('a report that started before the first window is not counted, landed or not', T, async () => {
    // A's first window ten days back: its earlier sessions (never landed) do not count
    const fwsA = sb.tenant.now - 10 * DAY_MS;
    const h = await history({ fws: { [a]: fwsA } });
    const { t } = h.per[a];
    const series = [...h.per[a].meetings.values()].find(({ m }) => m.reports.some((x) => x.tag === 'adhoc'));
    assert.ok(series, 'the weekly series is tracked');
    const early = visibleReports(series.m).filter((x) => parseTimeUs(x.json.meetingStartDateTime) < fwsA * 1000);
    assert.ok(early.length >= 2, 'the series has sessions before the first window');
    assert.ok(early.every((x) => !h.per[a].landedIds.has(x.json.id)), 'none of them landed');
    const r = await audit(h, ['--log-format', 'json']);
    assert.equal(r.code, 0, describeRun(r));
    const doc = JSON.parse(r.stdout);
    const mb = doc.mailboxes.find((x) => x.upn === a.toLowerCase());
    assert.equal(mb.reports_on_graph, t.onGraph);
    assert.equal(mb.reports_missing, 0);
    assert.deepEqual(mb.missing, []);
    assert.equal(Date.parse(mb.first_window_start), fwsA);
    assert.ok(mb.reports_outside_period >= early.length, 'the early sessions are counted as outside');
    // --since before the first window widens the calendar, not what can be missing
    const sinceMs = sb.tenant.now - 25 * DAY_MS;
    const wide = truth(organizedMeetings(sb, a, sinceMs, sb.tenant.now), { fwsMs: fwsA, sinceMs, endMs: sb.tenant.now + 60e3, watermarkMs: h.wm[a] });
    assert.ok(wide.before.some((x) => parseTimeUs(x.json.meetingStartDateTime) >= sinceMs * 1000), 'sessions between --since and the first window');
    const r2 = await audit(h, ['--log-format', 'json', '--since', iso(sinceMs)]);
    assert.equal(r2.code, 0, describeRun(r2));
    const mb2 = JSON.parse(r2.stdout).mailboxes.find((x) => x.upn === a.toLowerCase());
    assert.equal(mb2.reports_on_graph, wide.onGraph);
    assert.equal(mb2.reports_missing, 0);
  });

  test('--log-format json: one JSON document with per-mailbox numbers', T, async () => {
    let gone = null;
    const h = await history({
      landed: (upn, t) => {
        const ids = new Set(t.due.map((r) => r.json.id));
        if (upn === b) {
          gone = t.due[0];
          ids.delete(gone.json.id);
        }
        return ids;
      },
    });
    const r = await audit(h, ['--log-format', 'json']);
    assert.equal(r.code, 1, describeRun(r));
    const doc = JSON.parse(r.stdout); // the whole of stdout is one document
    assert.equal(doc.status, 'incomplete');
    assert.equal(doc.mailboxes.length, 2);
    for (const upn of [a, b]) {
      const { t } = h.per[upn];
      const mb = doc.mailboxes.find((x) => x.upn === upn.toLowerCase());
      const lost = upn === b ? 1 : 0;
      assert.equal(mb.status, lost ? 'missing' : 'complete');
      assert.equal(mb.error, null);
      assert.equal(mb.reports_on_graph, t.onGraph);
      assert.equal(mb.reports_landed, t.due.length - lost);
      assert.equal(mb.reports_not_due, t.notDue.length);
      assert.equal(mb.reports_missing, lost);
      assert.equal(Date.parse(mb.watermark), h.wm[upn]);
      assert.equal(mb.meetings, h.per[upn].meetings.size);
    }
    const mbB = doc.mailboxes.find((x) => x.upn === b.toLowerCase());
    assert.equal(mbB.missing.length, 1);
    assert.equal(mbB.missing[0].report_id, gone.json.id);
    assert.equal(parseTimeUs(mbB.missing[0].session_start), parseTimeUs(gone.json.meetingStartDateTime));
    assert.equal(doc.totals.reports_missing, 1);
    assert.equal(doc.totals.mailboxes_audited, 2);
    // the log stays on stderr, one JSON object a line
    assert.ok(r.logLines.some((l) => l.msg === 'audit finished'));
  });

  test('audit writes nothing: the blobs and their ETags are unchanged', T, async () => {
    const h = await history({ landed: (upn, t) => new Set(t.due.slice(1).map((r) => r.json.id)) });
    const beforeList = await listBlobs(az.service, h.container);
    const r1 = await audit(h, ['--log-format', 'text']);
    const r2 = await audit(h, ['--log-format', 'json', '--since', iso(sb.tenant.now - 20 * DAY_MS)]);
    assert.equal(r1.code, 1, describeRun(r1));
    assert.equal(r2.code, 1, describeRun(r2));
    assert.deepEqual(await listBlobs(az.service, h.container), beforeList);
    // and nothing but reads reached Graph
    assert.ok(sb.requests.every((e) => e.method === undefined || e.method === 'GET' || e.kind === 'token'));
  });

  test('a mailbox without a registry file is named as not audited, unless --since is given', T, async () => {
    const h = await history({ skipRegistry: [b] });
    const r = await audit(h, ['--log-format', 'text']);
    assert.equal(r.code, 1, describeRun(r));
    const line = r.stdout.split('\n').find((l) => l.startsWith(b.toLowerCase()));
    assert.match(line, /not audited: .*first window is unknown.*--since/);
    assert.deepEqual(tableRow(r.stdout, a)[3], 0);
    // with --since: nothing landed is known for B, so every due report from T on is missing
    const sinceMs = sb.tenant.now - 20 * DAY_MS;
    const r2 = await audit(h, ['--log-format', 'json', '--since', iso(sinceMs)]);
    assert.equal(r2.code, 1, describeRun(r2));
    const doc = JSON.parse(r2.stdout);
    const mb = doc.mailboxes.find((x) => x.upn === b.toLowerCase());
    const meetings = organizedMeetings(sb, b, sinceMs, sb.tenant.now);
    const t = truth(meetings, { fwsMs: null, sinceMs, endMs: sb.tenant.now + 60e3, watermarkMs: h.wm[b] });
    assert.equal(mb.status, 'missing');
    assert.equal(mb.reports_on_graph, t.onGraph);
    assert.equal(mb.reports_landed, 0);
    assert.equal(mb.reports_missing, t.due.length);
    assert.deepEqual(mb.missing.map((x) => x.report_id).sort(), t.due.map((x) => x.json.id).sort());
  });
});

describe('audit: mailboxes that cannot be audited', () => {
  let az;
  let sb;
  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 4545, mailboxes: 3, latencyMs: [1, 3], tenantOptions: { fillerMeetings: 1 } });
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
  });

  test('each is named with its reason; the others are audited', T, async () => {
    const [a, b, c] = sb.tenant.users.map((u) => u.userPrincipalName);
    const now = sb.tenant.now;
    const fwsMs = now - 30 * DAY_MS;
    const wm = { [a]: now, [c]: now };
    const truths = {};
    for (const upn of [a, b, c]) {
      const meetings = organizedMeetings(sb, upn, fwsMs, now);
      truths[upn] = truth(meetings, { fwsMs, endMs: now + 60e3, watermarkMs: now });
      const ids = new Set(truths[upn].due.map((r) => r.json.id));
      await writeJsonBlob(az.service, 'broken', `registry/mailboxes/${upnPath(upn)}.json`, registryDoc(meetings, fwsMs, ids));
    }
    // B has no watermark; C's meetings are refused (no application access policy)
    await writeJsonBlob(az.service, 'broken', 'registry/checkpoint.json', checkpointDoc(wm));
    sb.setPolicyMissing(c, true);
    try {
      const env = jobEnv(sb, az, { ATTENDANCE_CONTAINER: 'broken' });
      const r = await runJob(['audit', '--log-format', 'json'], env);
      assert.equal(r.code, 1, describeRun(r));
      const doc = JSON.parse(r.stdout);
      const by = (upn) => doc.mailboxes.find((x) => x.upn === upn.toLowerCase());
      assert.equal(by(a).status, 'complete');
      assert.equal(by(a).reports_on_graph, truths[a].onGraph);
      assert.equal(by(b).status, 'not_audited');
      assert.match(by(b).error, /no watermark in registry\/checkpoint\.json/);
      assert.equal(by(c).status, 'not_audited');
      assert.match(by(c).error, /Grant-CsApplicationAccessPolicy/);
      assert.equal(doc.totals.mailboxes_not_audited, 2);
      assert.equal(doc.status, 'incomplete');
      const text = await runJob(['audit', '--log-format', 'text'], env);
      assert.equal(text.code, 1);
      for (const upn of [b, c]) assert.match(text.stdout, new RegExp(`^${upn.toLowerCase().replace(/\./g, '\\.')} +not audited: `, 'm'));
      assert.match(text.stdout, /^INCOMPLETE: 0 reports missing, 2 mailboxes could not be audited/m);
      // no token at all: every mailbox is named, exit 1
      const noTok = await runJob(['audit', '--log-format', 'json'], { ...env, AZURE_CLIENT_SECRET: 'wrong-secret-value' });
      assert.equal(noTok.code, 1, describeRun(noTok));
      const d2 = JSON.parse(noTok.stdout);
      assert.equal(d2.mailboxes.length, 3);
      for (const m of d2.mailboxes) assert.match(m.error, /cannot get a Graph token/);
    } finally {
      sb.setPolicyMissing(c, false);
    }
  });
});

describe('audit: tracked meetings', () => {
  test('a tracked meeting is listed though no event of it is in the calendar any more', T, async () => {
    const az = await startAzurite();
    const sb = await startSandbox({ seed: 4343, mailboxes: 1, latencyMs: [1, 3], tenantOptions: { fillerMeetings: 1 } });
    try {
      const upn = sb.tenant.users[0].userPrincipalName;
      const u = sb.tenant.users[0];
      const now = sb.tenant.now;
      const fwsMs = now - 30 * DAY_MS;
      const meetings = organizedMeetings(sb, upn, fwsMs, now);
      const t = truth(meetings, { fwsMs, endMs: now + 60e3, watermarkMs: now });
      const lost = t.due.find((r) => r.tag === 'big');
      assert.ok(lost);
      // the organizer deletes the calendar item after the meeting: only the registry knows it
      sb.tenant.events[u.id] = sb.tenant.events[u.id].filter((e) => e.tag !== 'big');
      const landed = new Set(t.due.map((r) => r.json.id));
      landed.delete(lost.json.id);
      await writeJsonBlob(az.service, 'tracked', `registry/mailboxes/${upnPath(upn)}.json`, registryDoc(meetings, fwsMs, landed));
      await writeJsonBlob(az.service, 'tracked', 'registry/checkpoint.json', checkpointDoc({ [upn]: now }));
      const r = await runJob(['audit', '--log-format', 'json'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: 'tracked' }));
      assert.equal(r.code, 1, describeRun(r));
      const mb = JSON.parse(r.stdout).mailboxes[0];
      assert.equal(mb.reports_on_graph, t.onGraph);
      assert.deepEqual(mb.missing.map((x) => x.report_id), [lost.json.id]);
      // no event in the period names it: the subject comes from the online meeting
      assert.equal(mb.missing[0].subject, meetings.get(mb.missing[0].meeting_id).m.json.subject ?? '(no subject)');
    } finally {
      await sb.close();
      await az.stop();
    }
  });
});
