// Tracked meetings: sessions the window cannot see still land. A report that appears
// after the run that covered its meeting, and a session on a recurring meeting's link
// outside any occurrence, are landed by the next run through the mailbox's registry
// (registry/mailboxes/{upn}.json), once; every assertion compares with the sandbox's
// ground truth.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startAzurite, startSandbox, runJob, jobEnv, describeRun, blobReader, runIds, loadRun, readJsonBlob, upnPath } from './harness.js';

const T = { timeout: 120000 };
const MIN = 60000;

describe('tracked meetings', () => {
  let az;
  let sb;
  const container = 'tracked';
  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 91, mailboxes: 2, latencyMs: [1, 3] });
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
  });

  // settle 0: the meeting that ended 20 minutes ago does not hold the watermark, so the
  // next window no longer holds it and only its tracking can land its late report
  const env = () => jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, ATTENDANCE_SETTLE_MINUTES: '0' });
  const reader = () => blobReader(az.service, container);
  // runs started in the same second sort by their random suffix: the new one is the
  // id that was not there before
  async function runOnce() {
    const before = new Set(await runIds(reader()));
    const r = await runJob(['run'], env());
    assert.equal(r.code, 0, describeRun(r));
    const fresh = (await runIds(reader())).filter((id) => !before.has(id));
    assert.equal(fresh.length, 1);
    return loadRun(reader(), fresh[0]);
  }
  // every report id in a final snapshot, with where it sits
  function reportsIn(run, upn) {
    const snap = run.snapshots.final[upnPath(upn)]?.json;
    const out = new Map();
    if (!snap) return out;
    for (const e of snap.events) for (const rep of e.attendance || []) out.set(rep.id, { event: e.id });
    for (const rep of snap.unmatched_attendance || []) out.set(rep.id, { unmatched: true, eventId: rep.eventId ?? null, meetingId: rep.onlineMeetingId });
    return out;
  }

  test('a late report and a session outside any occurrence land in the next run, once', T, async () => {
    const u = sb.tenant.users[0];
    const upn = u.userPrincipalName;
    const mine = Object.values(sb.tenant.meetings).filter((m) => m.organizerId === u.id);
    const recent = mine.find((m) => m.reports.some((r) => r.tag === 'recent'));
    const weekly = mine.find((m) => m.reports.some((r) => r.tag === 'adhoc'));
    const late = recent.reports.find((r) => r.tag === 'recent');
    const recentEvent = sb.tenant.events[u.id].find((e) => e.tag === 'recent');
    assert.ok(late.pending && recentEvent && weekly, 'the tenant has a pending report and a weekly series');

    const run1 = await runOnce();
    assert.ok(!reportsIn(run1, upn).has(late.json.id), 'not listed yet in run 1');
    const reg1 = await readJsonBlob(az.service, container, `registry/mailboxes/${upnPath(upn)}.json`);
    assert.equal(reg1.version, 1);
    assert.equal(new Date(reg1.first_window_start).getTime(), new Date(run1.manifest.mailboxes.find((m) => m.upn === upn.toLowerCase()).window_start).getTime(), 'first_window_start is the first window');
    const landed1 = new Set(Object.values(reg1.landed).flat());
    for (const id of reportsIn(run1, upn).keys()) assert.ok(landed1.has(id), `report ${id} of run 1 is recorded as landed`);
    for (const m of [recent, weekly]) assert.ok(reg1.meetings.some((t) => t.id === m.json.id), `meeting ${m.json.subject} is tracked`);

    // between the runs: Teams writes the late report, and someone meets on the weekly
    // series' link at a time with no occurrence
    sb.releasePendingReports();
    const adhoc = weekly.reports.find((r) => r.tag === 'adhoc');
    const extra = JSON.parse(JSON.stringify({ json: adhoc.json, records: adhoc.records }));
    extra.json.id = `${adhoc.json.id.slice(0, -6)}xtra01`;
    const shift = 2 * 60 * MIN;
    const at = (s, d) => new Date(new Date(s).getTime() + d).toISOString().replace('.000Z', 'Z');
    extra.json.meetingStartDateTime = at(adhoc.json.meetingStartDateTime, shift);
    extra.json.meetingEndDateTime = at(adhoc.json.meetingEndDateTime, shift);
    weekly.reports.push({ ...extra, startMs: adhoc.startMs + shift, endMs: adhoc.endMs + shift, pending: false, tag: 'adhoc-late' });

    // audit sees what is due on Graph and not landed yet: both sessions, by id
    const before = await runJob(['audit', '--users', upn, '--log-format', 'json'], env());
    assert.equal(before.code, 1, describeRun(before));
    assert.ok(before.stdout.includes(late.json.id), 'audit names the late report');
    assert.ok(before.stdout.includes(extra.json.id), 'audit names the session outside any occurrence');

    const run2 = await runOnce();
    const after2 = await runJob(['audit', '--users', upn], env());
    assert.equal(after2.code, 0, `nothing missing once run 2 landed them\n${describeRun(after2)}`);
    const in2 = reportsIn(run2, upn);
    assert.ok(in2.has(late.json.id), 'the late report lands in run 2');
    assert.equal(in2.get(late.json.id).eventId, recentEvent.json.id, 'tied to its tracked occurrence');
    assert.ok(in2.has(extra.json.id), 'the session outside any occurrence lands in run 2');
    assert.equal(in2.get(extra.json.id).eventId, null, 'tied to no occurrence');
    assert.ok(!in2.has(adhoc.json.id), 'what landed in run 1 does not land again');
    const mb2 = run2.manifest.mailboxes.find((m) => m.upn === upn.toLowerCase());
    assert.ok(mb2.counts.attendance_records >= late.records.length + extra.records.length, 'their records are counted');

    const run3 = await runOnce();
    const in3 = reportsIn(run3, upn);
    assert.ok(!in3.has(late.json.id) && !in3.has(extra.json.id), 'landed once');
    const reg3 = await readJsonBlob(az.service, container, `registry/mailboxes/${upnPath(upn)}.json`);
    const landed3 = new Set(Object.values(reg3.landed).flat());
    assert.ok(landed3.has(late.json.id) && landed3.has(extra.json.id), 'the registry holds them as landed');
  });
});
