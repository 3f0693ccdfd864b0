// Teams links outside onlineMeeting (SPEC 4): an event another client created or
// edited has onlineMeeting null and its join link in onlineMeetingUrl, the location,
// locations[].locationUri or the body (an HTML invite, perhaps wrapped by Safe Links),
// in the long or the 2026 short form. Those are real meetings with reports: a run must
// land every one of them, say in the final snapshot where the link was found
// (joinUrlSource), and write join_url and attendance_status for them. A link of
// another organizer's meeting pasted into an event leads nowhere (403 or nothing):
// no_meeting with a warning, exit 0. Everything is compared with the sandbox's ground
// truth: where the tenant put each link, and the meetings and reports it holds.
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
  assertSnapshots,
  assertManifest,
  upnPath,
  parseTimeMs,
  tmpDir,
  lookupUrl,
  expectedRefusals,
} from './harness.js';
import { visibleReports } from '../sandbox/tenant.js';
import { eventJoinLink, organizedJoinLink, LINK_FIELDS } from './join-links.js';
import { TABLES, TABLE_NAMES, expectedRows, openDuck, readDuck } from './tables-rules.js';
import { truthRows, assertSameRows, col } from './tables-truth.js';

const T = { timeout: 120000 };
const CONTAINER = 'joinlinks';


describe('Teams links outside onlineMeeting', () => {
  let az;
  let sb;
  let tmp;
  const state = {};

  before(async () => {
    az = await startAzurite();
    sb = await startSandbox({ seed: 2026, mailboxes: 3, latencyMs: [0, 3], calendarViewMaxTop: 10 });
    tmp = tmpDir('ta-joinlinks-');
    await openDuck();
  });
  after(async () => {
    await sb?.close();
    await az?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  // The tenant's events whose link is outside onlineMeeting, per mailbox.
  const linkEvents = (u) => sb.tenant.events[u.id].filter((e) => e.link);

  test('the tenant: each link where the generator put it, both forms, the contract reads it there', T, () => {
    const sources = new Set();
    for (const u of sb.tenant.users) {
      const evs = linkEvents(u);
      assert.ok(evs.length >= 7, `${u.userPrincipalName}: the link cases are there`);
      for (const e of evs) {
        const j = e.json;
        assert.equal(j.onlineMeeting, null, `${e.tag}: onlineMeeting is null`);
        assert.equal(j.isOnlineMeeting, false, `${e.tag}: isOnlineMeeting false`);
        // the body Graph serves by default (HTML) and under Prefer text give the same link
        for (const [kind, body] of [['html', j.body], ['text', { contentType: 'text', content: e.textBody }]]) {
          const found = eventJoinLink({ ...j, body });
          assert.ok(found, `${e.tag} (${kind} body): a Teams link is found`);
          assert.equal(found.url, e.link.url, `${e.tag} (${kind} body): the link`);
          if (e.link.source) assert.equal(found.source, e.link.source, `${e.tag} (${kind} body): the field`);
        }
        if (e.link.source) {
          assert.deepEqual(organizedJoinLink(j), { url: e.link.url, source: e.link.source }, `${e.tag}: looked up`);
          sources.add(e.link.source);
        } else assert.equal(organizedJoinLink(j), null, `${e.tag}: an attendee's copy is not looked up`);
        if (e.tag === 'link-safelinks') assert.match(j.body.content, /safelinks\.protection\.outlook\.com\/\?url=https%3A%2F%2Fteams/, 'the invite is wrapped by Safe Links');
        if (j.body.content.includes('meetingOptions')) assert.match(j.body.content, /href="[^"]*&amp;/, 'HTML links carry &amp; in their query');
      }
      assert.ok(evs.some((e) => e.link.lookup === 'empty'), 'a link of another tenant');
      assert.ok(evs.some((e) => e.link.lookup === 403), 'a link of a colleague');
      const forms = new Set(evs.filter((e) => e.link.form).map((e) => e.link.form));
      assert.deepEqual([...forms].sort(), ['long', 'short'], 'both forms outside onlineMeeting');
    }
    assert.deepEqual([...sources].sort(), ['body.content', 'location.displayName', 'locations[].locationUri', 'onlineMeetingUrl']);
    for (const s of sources) assert.ok(LINK_FIELDS.includes(s));
    // short links inside onlineMeeting too, on events with reports
    const shortInside = Object.values(sb.tenant.meetings).filter(
      (m) => m.form === 'short' && m.reports.length && sb.tenant.events[m.organizerId].some((e) => e.json.onlineMeeting?.joinUrl === m.json.joinWebUrl),
    );
    assert.ok(shortInside.length >= 2, 'meetings with a short link in onlineMeeting.joinUrl, with reports');
  });

  test('a run lands every report of those meetings; joinUrlSource names the field; other organizers\' links are no_meeting with a warning', T, async () => {
    const from = sb.requests.length;
    const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: CONTAINER }));
    assert.equal(r.code, 0, describeRun(r));
    const reader = blobReader(az.service, CONTAINER);
    const ids = await runIds(reader);
    assert.equal(ids.length, 1, describeRun(r));
    const run = await loadRun(reader, ids[0]);
    const runStartMs = parseTimeMs(run.manifest.started_utc);
    const exps = sb.tenant.users.map((u) => {
      const w = requestedWindow(sb, u.userPrincipalName, from);
      return expectedMailbox(sb, u.userPrincipalName, { windowStart: w.start, windowEnd: w.end });
    });
    // the whole run against the ground truth: counts, snapshots, joinUrlSource
    assertManifest(run, exps, { status: 'succeeded', runStartMs });
    for (const exp of exps) assertSnapshots(run, exp, { runStartMs });

    const lookups = sb.requests.slice(from).filter((e) => e.kind === 'onlineMeetings');
    const warnings = r.logLines.filter((l) => /^warn/.test(l.level));
    for (const [i, u] of sb.tenant.users.entries()) {
      const exp = exps[i];
      const final = run.snapshots.final[upnPath(u.userPrincipalName)].json;
      const byId = new Map(final.events.map((e) => [e.id, e]));
      let reports = 0;
      for (const e of linkEvents(u)) {
        const got = byId.get(e.json.id);
        const what = `${u.userPrincipalName} '${e.json.subject}' (${e.tag})`;
        assert.ok(got, `${what}: in the final snapshot`);
        const mine = lookups.filter((x) => x.mailbox === u.userPrincipalName && lookupUrl(x) === e.link.url);
        if (!e.link.source) {
          // an attendee's copy: never looked up, no joinUrlSource
          assert.equal(mine.length, 0, `${what}: not looked up`);
          assert.ok(!('joinUrlSource' in got), `${what}: no joinUrlSource`);
          assert.equal(exp.events.find((x) => x.id === e.json.id).status, 'not_online');
          continue;
        }
        assert.equal(got.joinUrlSource, e.link.source, `${what}: joinUrlSource`);
        assert.ok(mine.length >= 1, `${what}: looked up by its link`);
        if (e.link.meetingId) {
          const m = sb.tenant.meetings[e.link.meetingId];
          const want = visibleReports(m).map((x) => x.json.id).sort();
          assert.ok(want.length >= 1, `${what}: truth has reports`);
          assert.deepEqual(got.attendance.map((x) => x.id).sort(), want, `${what}: every report landed`);
          assert.equal(got.onlineMeetingMeta?.id, m.json.id, `${what}: the meeting`);
          for (const rep of got.attendance) {
            const t = m.reports.find((x) => x.json.id === rep.id);
            assert.equal(rep.attendanceRecords.length, t.records.length, `${what}: every record of report ${rep.id}`);
          }
          reports += want.length;
          assert.ok(!warnings.some((l) => l.join_url === e.link.url), `${what}: no warning for a link that leads to its meeting`);
        } else {
          // another organizer's meeting: 403 (a colleague's) or nothing (another tenant's)
          assert.equal(got.onlineMeetingMeta, null, `${what}: no meeting`);
          assert.deepEqual(got.attendance, [], `${what}: no attendance`);
          const status = mine.map((x) => x.status);
          assert.ok(status.every((s) => s === (e.link.lookup === 403 ? 403 : 200)), `${what}: the lookup got ${status.join(', ')}`);
          assert.ok(
            warnings.some((l) => l.join_url === e.link.url && String(l.upn || l.user_upn).toLowerCase() === u.userPrincipalName.toLowerCase()),
            `${what}: a warning names the mailbox and the link\n${describeRun(r)}`,
          );
          assert.equal(exp.events.find((x) => x.id === e.json.id).status, 'no_meeting');
        }
      }
      assert.ok(reports >= 6, `${u.userPrincipalName}: reports of meetings linked from outside onlineMeeting landed (${reports})`);
    }
    // the only refusals: lookups of the colleagues' links, renewed once then read as no_meeting
    const { refused, renewals } = expectedRefusals(sb.requests.slice(from), exps);
    assert.equal(renewals, sb.tenant.users.length, 'one pasted colleague link per mailbox');
    const graph = sb.requests.slice(from).filter((e) => e.kind !== 'token' && !refused.has(e));
    assert.deepEqual(graph.filter((e) => e.status !== 200).map((e) => [e.kind, e.status, e.path]), [], 'every other Graph call succeeded');
    // no policy error: the mailboxes succeeded and nothing said Grant-CsApplicationAccessPolicy
    assert.ok(!r.stderr.includes('Grant-CsApplicationAccessPolicy'), 'a pasted link is not an access policy problem');
    Object.assign(state, { run, exps, reader, runStartMs });
  });

  test('events table: join_url is the link found, attendance_status as for any Teams meeting; short links land like long ones', T, async () => {
    assert.ok(state.run, 'needs the run');
    const { run, exps } = state;
    const date = new Date(state.runStartMs).toISOString().slice(0, 10);
    const extractedUtc = requestedWindow(sb, sb.tenant.users[0].userPrincipalName).endRaw;
    const expected = truthRows(exps, { runId: run.runId, extractedUtc });
    const rows = {};
    for (const t of TABLE_NAMES) {
      const name = `parquet/${t}/ingest_date=${date}/${run.runId}.parquet`;
      const file = path.join(tmp, `${t}.parquet`);
      fs.writeFileSync(file, await state.reader.read(name));
      rows[t] = (await readDuck(file, TABLES[t])).rows;
      assertSameRows('run (duckdb)', t, rows[t], expected[t]);
    }
    const E = (n) => col('events', n);
    const R = (n) => col('attendance_reports', n);
    for (const [i, u] of sb.tenant.users.entries()) {
      const upn = u.userPrincipalName.toLowerCase();
      const rowOf = (id) => rows.events.find((x) => x[E('event_id')] === id && x[E('user_upn')] === upn);
      for (const e of linkEvents(u)) {
        const row = rowOf(e.json.id);
        const what = `${upn} ${e.tag}`;
        assert.ok(row, `${what}: a row`);
        assert.equal(row[E('is_online_meeting')], false, `${what}: is_online_meeting as Graph sent it`);
        if (!e.link.source) {
          assert.equal(row[E('join_url')], null, `${what}: an attendee's copy has no join_url`);
          assert.equal(row[E('attendance_status')], 'not_online', what);
          continue;
        }
        assert.equal(row[E('join_url')], e.link.url, `${what}: join_url is the link found`);
        if (e.link.meetingId) {
          const m = sb.tenant.meetings[e.link.meetingId];
          assert.equal(row[E('attendance_status')], 'fetched', what);
          assert.equal(row[E('online_meeting_id')], m.json.id, what);
          const want = visibleReports(m).map((x) => x.json.id).sort();
          assert.deepEqual(rows.attendance_reports.filter((x) => x[R('event_id')] === e.json.id).map((x) => x[R('report_id')]).sort(), want, `${what}: report rows`);
        } else {
          assert.equal(row[E('attendance_status')], 'no_meeting', what);
          assert.equal(row[E('online_meeting_id')], null, what);
        }
      }
      // short and long links, inside onlineMeeting or not: every meeting in the window
      // with a report lands each of them (reports tied to an event of this mailbox)
      for (const form of ['short', 'long']) {
        const evs = exps[i].events.filter((ev) => ev.meeting && ev.meeting.form === form && ev.attendance.length);
        assert.ok(evs.length >= 1, `${upn}: ${form} links with reports in the window`);
        for (const ev of evs) {
          const row = rowOf(ev.id);
          assert.equal(row[E('attendance_status')], 'fetched', `${upn} ${ev.rec.tag} (${form})`);
          assert.equal(row[E('join_url')], ev.meeting.json.joinWebUrl, `${upn} ${ev.rec.tag} (${form}): join_url`);
          assert.deepEqual(
            rows.attendance_reports.filter((x) => x[R('event_id')] === ev.id).map((x) => x[R('report_id')]).sort(),
            ev.attendance.map((a) => a.report.id).sort(),
            `${upn} ${ev.rec.tag} (${form}): its reports`,
          );
        }
      }
    }
  });

  test('convert reads the link again from the field joinUrlSource names, an HTML body with &amp; and Safe Links too', T, async () => {
    assert.ok(state.run, 'needs the run');
    // The final snapshots with each body as Graph serves it without
    // Prefer: outlook.body-content-type="text" (HTML, links with &amp;, Safe Links).
    const inDir = path.join(tmp, 'finals');
    fs.mkdirSync(inDir, { recursive: true });
    const snaps = [];
    let html = 0;
    for (const u of sb.tenant.users) {
      const snap = structuredClone(state.run.snapshots.final[upnPath(u.userPrincipalName)].json);
      for (const ev of snap.events) {
        const rec = sb.tenant.events[u.id].find((e) => e.json.id === ev.id);
        if (rec?.link && ev.joinUrlSource === 'body.content') {
          ev.body = structuredClone(rec.json.body);
          html++;
        }
      }
      snaps.push(snap);
    }
    assert.ok(html >= 2 * sb.tenant.users.length, `bodies swapped for HTML (${html})`);
    const inputs = snaps.map((s, i) => {
      const p = path.join(inDir, `${i}.json`);
      fs.writeFileSync(p, JSON.stringify(s));
      return p;
    });
    const out = path.join(tmp, 'converted');
    const r = await runJob(['convert', ...inputs, '--output-dir', out], { LOG_FORMAT: 'json' });
    assert.equal(r.code, 0, describeRun(r));
    const want = expectedRows(snaps);
    const E = (n) => col('events', n);
    const files = fs.readdirSync(path.join(out, 'parquet/events'), { recursive: true }).filter((f) => String(f).endsWith('.parquet'));
    assert.equal(files.length, 1);
    const got = (await readDuck(path.join(out, 'parquet/events', String(files[0])), TABLES.events)).rows;
    assertSameRows('convert of HTML bodies (duckdb)', 'events', got, want.events);
    for (const u of sb.tenant.users)
      for (const e of linkEvents(u).filter((x) => x.link.source === 'body.content')) {
        const row = got.find((x) => x[E('event_id')] === e.json.id);
        assert.equal(row[E('join_url')], e.link.url, `${e.tag}: the link read from the HTML body`);
      }
  });
});
