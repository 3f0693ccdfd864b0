// Ground truth for a run: what SPEC sections 4, 6 and 7 say a run over a window
// must write, computed from the sandbox's tenant (not from the job), and the
// comparison of a run's snapshots, manifest and checkpoint against it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { findUser, visibleReports, meetingByJoinUrl, parseTimeUs, parseTimeMs } from '../sandbox/tenant.js';
import { listBlobs, readBlob } from './harness.js';
import { eventJoinLink, organizedJoinLink } from './join-links.js';

export { parseTimeUs, parseTimeMs };
export { eventJoinLink, organizedJoinLink };

const MIN = 60000;
export const TABLES = ['events', 'attendance_reports', 'attendance_records', 'attendance_intervals'];
export const RUN_ID_RE = /^(\d{8}T\d{6}Z)-([0-9a-f]{6})$/;

// SPEC 7: lower-cased, every byte outside a-z 0-9 . _ @ - percent-encoded.
export function upnPath(upn) {
  let out = '';
  for (const b of Buffer.from(upn.toLowerCase(), 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[a-z0-9._@-]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

// A Teams meeting (SPEC 4): onlineMeeting.joinUrl of an online teamsForBusiness
// event, or, when onlineMeeting has no join URL, a Teams link found in
// onlineMeetingUrl, the location(s) or the body (join-links.js).
export function isTeamsOnline(ev) {
  return eventJoinLink(ev) !== null;
}

// ---------------------------------------------------------------- storage readers

export function blobReader(service, container, prefix = '') {
  return {
    kind: 'blob',
    prefix,
    async list(p = '') {
      return (await listBlobs(service, container, prefix + p)).map((b) => ({ name: b.name.slice(prefix.length), size: b.size, fullName: b.name }));
    },
    async read(name) {
      return readBlob(service, container, prefix + name);
    },
    async exists(name) {
      return service.getContainerClient(container).getBlobClient(prefix + name).exists();
    },
  };
}

export function dirReader(dir, prefix = '') {
  const root = path.join(dir, prefix);
  const walk = (d, rel, out) => {
    if (!fs.existsSync(d)) return out;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r, out);
      else out.push({ name: r, size: fs.statSync(path.join(d, e.name)).size, fullName: prefix + r });
    }
    return out;
  };
  return {
    kind: 'dir',
    prefix,
    async list(p = '') {
      return walk(root, '', []).filter((f) => f.name.startsWith(p)).sort((a, b) => (a.name < b.name ? -1 : 1));
    },
    async read(name) {
      return fs.readFileSync(path.join(root, name));
    },
    async exists(name) {
      return fs.existsSync(path.join(root, name));
    },
  };
}

async function readJson(reader, name) {
  const buf = await reader.read(name);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new Error(`${name} is not JSON: ${e.message}`);
  }
}

// The run ids that have a manifest, oldest first.
export async function runIds(reader) {
  return (await reader.list('registry/runs/'))
    .map((b) => /^registry\/runs\/(.+)\.json$/.exec(b.name)?.[1])
    .filter(Boolean)
    .sort();
}

// Everything one run wrote: manifest, snapshots per mailbox, the files named by run id.
export async function loadRun(reader, runId) {
  const all = await reader.list('');
  const manifest = await readJson(reader, `registry/runs/${runId}.json`);
  const mine = all.filter((b) => b.name.includes(runId));
  const snapshots = { events: {}, final: {} };
  for (const b of mine) {
    const m = /^raw\/(events|final)\/date=(\d{4}-\d{2}-\d{2})\/user=([^/]+)\/(.+)\.json$/.exec(b.name);
    if (!m) continue;
    snapshots[m[1]][decodeURIComponent(m[3])] = { path: b.name, date: m[2], json: await readJson(reader, b.name) };
  }
  const parquet = mine.filter((b) => b.name.startsWith('parquet/'));
  let checkpoint = null;
  if (await reader.exists('registry/checkpoint.json')) checkpoint = await readJson(reader, 'registry/checkpoint.json');
  return { runId, manifest, snapshots, parquet, files: mine, all, checkpoint, prefix: reader.prefix || '' };
}

// ---------------------------------------------------------------- expected content

function stripOdata(o) {
  if (Array.isArray(o)) return o.map(stripOdata);
  if (o && typeof o === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(o)) if (!k.includes('@odata.')) out[k] = stripOdata(v);
    return out;
  }
  return o;
}

// The calendarView window the job asked for a mailbox, read from the sandbox's log
// (the first page's request of that mailbox at or after log index `from`).
export function requestedWindow(sb, upn, from = 0) {
  const u = findUser(sb.tenant, upn);
  const e = sb.requests
    .slice(from)
    .find((r) => r.kind === 'calendarView' && r.query && r.query.startDateTime && (r.mailbox || '').toLowerCase() === u.userPrincipalName.toLowerCase());
  if (!e) return null;
  return { start: parseTimeMs(e.query.startDateTime), end: parseTimeMs(e.query.endDateTime), startRaw: e.query.startDateTime, endRaw: e.query.endDateTime, entry: e };
}

// What a run over [windowStart, windowEnd) must hold for one mailbox (SPEC 4, 6, 7).
// `now` is the run's start (the window's end for an incremental run).
export function expectedMailbox(sb, upn, { windowStart, windowEnd, now = windowEnd, settleMinutes = 60, oldWatermark = null }) {
  const tenant = sb.tenant;
  const user = findUser(tenant, upn);
  assert.ok(user, `no sandbox user ${upn}`);
  const inWindow = tenant.events[user.id].filter((e) => e.startMs < windowEnd && e.endMs > windowStart);
  const served = sb.served.get(user.id) || new Map();
  const events = inWindow.map((e) => ({
    rec: e,
    id: e.json.id,
    json: served.get(e.json.id) || e.json,
    status: null,
    meeting: null,
    attendance: [],
    joinUrl: null, // the link looked up
    joinUrlSource: null, // the field it came from when not onlineMeeting.joinUrl
    warned: false, // a link found outside onlineMeeting that leads to no meeting of this mailbox
  }));

  // meetings this mailbox looks up: organised Teams events with a join URL, read from
  // the event as the job received it
  const groups = new Map(); // meetingId -> [event]
  for (const ev of events) {
    const j = ev.json;
    const any = eventJoinLink(j);
    const link = organizedJoinLink(j);
    // an attendee's copy: not looked up; with the link only outside onlineMeeting it
    // is not a Teams meeting the job knows of
    if (!any || (!link && any.source)) ev.status = 'not_online';
    else if (!link) ev.status = 'not_organizer';
    else {
      ev.joinUrl = link.url;
      ev.joinUrlSource = link.source;
      const m = meetingByJoinUrl(tenant, link.url);
      if (!m || m.organizerId !== user.id) {
        ev.status = 'no_meeting';
        ev.warned = link.source !== null;
      }
      else {
        ev.meeting = m;
        if (!groups.has(m.json.id)) groups.set(m.json.id, []);
        groups.get(m.json.id).push(ev);
      }
    }
  }

  const unmatched = [];
  const skippedReports = [];
  for (const [meetingId, evs] of groups) {
    const m = tenant.meetings[meetingId];
    const single = evs.find((e) => e.rec.json.type === 'singleInstance');
    for (const r of visibleReports(m)) {
      const rs = parseTimeMs(r.json.meetingStartDateTime);
      let target = null;
      if (single) target = single;
      else {
        let best = null;
        for (const e of evs) {
          if (rs >= e.rec.startMs - 60 * MIN && rs <= e.rec.endMs) {
            const d = Math.abs(rs - e.rec.startMs);
            if (!best || d < best.d) best = { e, d };
          }
        }
        target = best && best.e;
      }
      const full = { report: r.json, records: r.records, tag: r.tag, meetingId };
      if (target) target.attendance.push(full);
      else if (rs >= windowStart && rs < windowEnd) unmatched.push(full);
      else skippedReports.push(full);
    }
  }
  for (const ev of events) if (ev.meeting) ev.status = ev.attendance.length ? 'fetched' : 'no_reports';

  // watermark (SPEC 6)
  const started = inWindow.filter((e) => e.startMs <= now);
  const latest = started.length ? Math.max(...started.map((e) => e.startMs)) : windowEnd;
  // the hold-back is bounded: a meeting that started over 24 hours ago holds nothing
  const unsettled = inWindow.filter(
    (e) => organizedJoinLink(served.get(e.json.id) || e.json) && e.endMs > now - settleMinutes * MIN && e.startMs >= now - 24 * 60 * MIN,
  );
  let wm = latest;
  if (unsettled.length) wm = Math.min(wm, Math.min(...unsettled.map((e) => e.startMs)));
  if (oldWatermark !== null && oldWatermark > wm) wm = oldWatermark;

  // links of another organizer's meeting pasted into an event this mailbox organizes:
  // Graph refuses their lookup (403), which is no_meeting, not a policy error
  const forbiddenLinks = [
    ...new Set(
      events
        .filter((ev) => ev.status === 'no_meeting' && ev.joinUrlSource)
        .filter((ev) => {
          const m = meetingByJoinUrl(tenant, ev.joinUrl);
          return m && m.organizerId !== user.id;
        })
        .map((ev) => ev.joinUrl),
    ),
  ];

  const reports = [...events.flatMap((e) => e.attendance), ...unmatched];
  const counts = {
    events: events.length,
    attendance_reports: reports.length,
    attendance_records: reports.reduce((n, r) => n + r.records.length, 0),
    attendance_intervals: reports.reduce((n, r) => n + r.records.reduce((k, x) => k + (x.attendanceIntervals || []).length, 0), 0),
  };
  return { user, upn: user.userPrincipalName, windowStart, windowEnd, events, unmatched, skippedReports, watermark: wm, counts, forbiddenLinks };
}

// The join URL a meeting lookup asked for (its $filter decoded once, as Graph does).
export function lookupUrl(entry) {
  const m = /^\s*joinWebUrl\s+eq\s+'(.*)'\s*$/is.exec(entry.query?.$filter || '');
  return m ? m[1].replace(/''/g, "'") : null;
}

// The refusals a run meets when it follows the contract (SPEC 4): the lookups of the
// mailboxes' forbiddenLinks, each answered 403 twice, the second time with a renewed
// token (a 403 renews the token once before it is read), and never with a meeting.
// Returns those log entries, and how many token renewals they cost.
export function expectedRefusals(log, exps) {
  const want = new Map();
  for (const exp of exps) for (const url of exp.forbiddenLinks) want.set(`${exp.upn.toLowerCase()} ${url}`, []);
  for (const e of log) {
    if (e.kind !== 'onlineMeetings') continue;
    const k = `${String(e.mailbox).toLowerCase()} ${lookupUrl(e)}`;
    if (want.has(k)) want.get(k).push(e);
  }
  const refused = new Set();
  for (const [k, entries] of want) {
    assert.deepEqual(entries.map((e) => e.status), [403, 403], `lookup of another organizer's meeting (${k}): 403, then 403 again with a renewed token`);
    assert.notEqual(entries[1].headers.tokenId, entries[0].headers.tokenId, `${k}: the second lookup carries a renewed token`);
    for (const e of entries) refused.add(e);
  }
  return { refused, renewals: want.size };
}

// ---------------------------------------------------------------- comparison

function sameTime(a, b, tolMs, what) {
  const ta = typeof a === 'number' ? a : parseTimeMs(a);
  const tb = typeof b === 'number' ? b : parseTimeMs(b);
  assert.ok(!Number.isNaN(ta), `${what}: '${a}' is not a time`);
  assert.ok(Math.abs(ta - tb) <= tolMs, `${what}: ${new Date(ta).toISOString()} vs expected ${new Date(tb).toISOString()}`);
}

export function assertUtcZ(s, what) {
  assert.equal(typeof s, 'string', `${what} must be a string`);
  assert.match(s, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/, `${what} must be UTC with Z: '${s}'`);
}

function compareReport(got, exp, what) {
  assert.ok(got && typeof got === 'object', `${what}: missing`);
  const g = stripOdata(got);
  for (const k of ['id', 'totalParticipantCount', 'meetingStartDateTime', 'meetingEndDateTime'])
    assert.deepEqual(g[k], exp.report[k], `${what}.${k}`);
  assert.ok(Array.isArray(g.attendanceRecords), `${what}.attendanceRecords must be an array`);
  assert.equal(g.attendanceRecords.length, exp.records.length, `${what}: ${g.attendanceRecords.length} records, Graph has ${exp.records.length}`);
  assert.deepEqual(g.attendanceRecords, exp.records, `${what}: records differ from Graph's`);
}

// Compares one mailbox's events and final snapshots with the expectation.
export function assertSnapshots(run, exp, { runStartMs, checkFinal = true } = {}) {
  const key = upnPath(exp.upn);
  const who = exp.upn;
  const evSnap = run.snapshots.events[key];
  assert.ok(evSnap, `no raw/events snapshot for ${who} (user=${key}) in run ${run.runId}; have: ${Object.keys(run.snapshots.events).join(', ')}`);
  const date = new Date(runStartMs).toISOString().slice(0, 10);
  for (const [kind, snap] of [['events', evSnap], ['final', run.snapshots.final[key]]]) {
    if (kind === 'final' && !checkFinal) continue;
    assert.ok(snap, `no raw/${kind} snapshot for ${who}`);
    assert.equal(snap.path, `raw/${kind}/date=${date}/user=${key}/${run.runId}.json`, `${kind} snapshot path`);
    const s = snap.json;
    for (const k of ['user_upn', 'run_id', 'window_start', 'window_end', 'extracted_utc', 'events'])
      assert.ok(k in s, `${kind} snapshot of ${who} lacks '${k}'`);
    assert.equal(String(s.user_upn).toLowerCase(), who.toLowerCase(), `${kind} snapshot user_upn`);
    assert.equal(s.run_id, run.runId);
    for (const k of ['window_start', 'window_end', 'extracted_utc']) assertUtcZ(s[k], `${kind}.${k}`);
    sameTime(s.window_start, exp.windowStart, 1000, `${who} ${kind}.window_start`);
    sameTime(s.window_end, exp.windowEnd, 1000, `${who} ${kind}.window_end`);
    sameTime(s.extracted_utc, runStartMs, 1000, `${who} ${kind}.extracted_utc`);
    assert.ok(Array.isArray(s.events), `${kind}.events must be an array`);
    const gotIds = s.events.map((e) => e.id);
    assert.equal(new Set(gotIds).size, gotIds.length, `${who} ${kind}: duplicate events`);
    assert.deepEqual([...gotIds].sort(), exp.events.map((e) => e.id).sort(), `${who} ${kind}: event ids differ from Graph's window`);
    const byId = new Map(s.events.map((e) => [e.id, e]));
    for (const ev of exp.events) {
      const got = { ...byId.get(ev.id) };
      const subj = `${who} ${kind} event '${ev.rec.json.subject}' (${ev.rec.tag})`;
      if (kind === 'final') {
        assert.ok('onlineMeetingMeta' in got, `${subj}: lacks onlineMeetingMeta`);
        assert.ok('attendance' in got, `${subj}: lacks attendance`);
        const meta = got.onlineMeetingMeta;
        const att = got.attendance;
        delete got.onlineMeetingMeta;
        delete got.attendance;
        if (ev.joinUrlSource) assert.equal(got.joinUrlSource, ev.joinUrlSource, `${subj}: joinUrlSource names the field the link came from`);
        else assert.ok(!('joinUrlSource' in got), `${subj}: joinUrlSource only when the link came from outside onlineMeeting (got ${got.joinUrlSource})`);
        delete got.joinUrlSource;
        if (ev.meeting) assert.deepEqual(stripOdata(meta), stripOdata(ev.meeting.json), `${subj}: onlineMeetingMeta`);
        else assert.equal(meta, null, `${subj}: onlineMeetingMeta must be null (${ev.status})`);
        assert.ok(Array.isArray(att), `${subj}: attendance must be an array`);
        const want = [...ev.attendance].sort((a, b) => (a.report.id < b.report.id ? -1 : 1));
        const have = [...att].sort((a, b) => (a.id < b.id ? -1 : 1));
        assert.deepEqual(have.map((r) => r.id), want.map((r) => r.report.id), `${subj}: attendance report ids (status ${ev.status})`);
        want.forEach((w, i) => compareReport(have[i], w, `${subj} report ${w.report.id} (${w.tag})`));
      }
      assert.deepEqual(got, ev.json, `${subj}: event differs from what Graph returned`);
    }
    if (kind === 'final') {
      assert.ok(Array.isArray(s.unmatched_attendance), `final snapshot of ${who} lacks unmatched_attendance`);
      const want = [...exp.unmatched].sort((a, b) => (a.report.id < b.report.id ? -1 : 1));
      const have = [...s.unmatched_attendance].sort((a, b) => (a.id < b.id ? -1 : 1));
      assert.deepEqual(have.map((r) => r.id), want.map((r) => r.report.id), `${who}: unmatched_attendance report ids`);
      want.forEach((w, i) => {
        assert.equal(have[i].onlineMeetingId, w.meetingId, `${who}: unmatched report ${w.report.id} onlineMeetingId`);
        const copy = { ...have[i] };
        delete copy.onlineMeetingId;
        compareReport(copy, w, `${who} unmatched report ${w.report.id}`);
      });
    }
  }
}

export function assertManifest(run, exps, { status, failed = [], runStartMs }) {
  const m = run.manifest;
  for (const k of ['run_id', 'status', 'started_utc', 'finished_utc', 'mailboxes', 'files', 'counts'])
    assert.ok(k in m, `manifest lacks '${k}'`);
  assert.equal(m.run_id, run.runId);
  assert.match(m.run_id, RUN_ID_RE);
  assert.equal(m.status, status, `manifest status (mailboxes: ${JSON.stringify(m.mailboxes.map((x) => [x.upn, x.status, x.error]))})`);
  assertUtcZ(m.started_utc, 'manifest.started_utc');
  assertUtcZ(m.finished_utc, 'manifest.finished_utc');
  if (runStartMs !== undefined) sameTime(m.started_utc, runStartMs, 1000, 'manifest.started_utc');
  assert.ok(parseTimeMs(m.finished_utc) >= parseTimeMs(m.started_utc), 'finished after started');
  // run_id carries the start, to the second
  const [, stamp] = RUN_ID_RE.exec(m.run_id);
  const idStart = Date.UTC(+stamp.slice(0, 4), +stamp.slice(4, 6) - 1, +stamp.slice(6, 8), +stamp.slice(9, 11), +stamp.slice(11, 13), +stamp.slice(13, 15));
  assert.ok(Math.abs(idStart - parseTimeMs(m.started_utc)) < 1000, 'run_id holds the start time');

  const failedSet = new Set(failed.map((u) => u.toLowerCase()));
  const total = Object.fromEntries(TABLES.map((t) => [t, 0]));
  assert.equal(m.mailboxes.length, exps.length + failed.length, 'one manifest entry per mailbox');
  for (const mb of m.mailboxes) {
    for (const k of ['upn', 'window_start', 'window_end', 'status', 'error', 'counts', 'skipped']) assert.ok(k in mb, `manifest mailbox lacks '${k}'`);
    const upn = String(mb.upn).toLowerCase();
    if (failedSet.has(upn)) {
      assert.equal(mb.status, 'failed', `${upn} status`);
      assert.ok(mb.error && String(mb.error).length > 0, `${upn}: a failed mailbox names its error`);
      continue;
    }
    const exp = exps.find((e) => e.upn.toLowerCase() === upn);
    assert.ok(exp, `unexpected mailbox ${mb.upn} in manifest`);
    assert.equal(mb.status, 'succeeded', `${upn} status (error: ${mb.error})`);
    assert.ok(mb.error === null || mb.error === undefined || mb.error === '', `${upn}: error should be null, got ${mb.error}`);
    sameTime(mb.window_start, exp.windowStart, 1000, `${upn} manifest window_start`);
    sameTime(mb.window_end, exp.windowEnd, 1000, `${upn} manifest window_end`);
    for (const t of TABLES) {
      assert.equal(mb.counts[t], exp.counts[t], `${upn} manifest counts.${t}`);
      total[t] += exp.counts[t];
    }
  }
  for (const t of TABLES) assert.equal(m.counts[t], total[t], `manifest counts.${t}`);
  // files: every one exists with its size; parquet for each table; full names
  const prefix = run.prefix || '';
  const byName = new Map(run.all.map((b) => [prefix + b.name, b.size]));
  for (const f of m.files) {
    assert.ok(byName.has(f.path), `manifest names ${f.path}, which is not in storage`);
    assert.equal(byName.get(f.path), f.bytes, `${f.path} size`);
  }
  const date = parseTimeMs(m.started_utc) ? new Date(parseTimeMs(m.started_utc)).toISOString().slice(0, 10) : '';
  for (const t of TABLES) {
    const p = `${prefix}parquet/${t}/ingest_date=${date}/${run.runId}.parquet`;
    assert.ok(m.files.some((f) => f.path === p), `manifest lists ${p}`);
  }
}

// checkpoint against expected watermarks {upnLower: ms}; `kept` are mailboxes that
// failed this run: their entry keeps a previous checkpoint's watermark, run id and
// other fields, and counts one more failed run (SPEC 6).
export function assertCheckpoint(cp, run, watermarks, { prev = null, kept = [] } = {}) {
  assert.ok(cp, 'no registry/checkpoint.json');
  assert.equal(cp.version, 1, 'checkpoint version');
  for (const k of ['last_meeting_start', 'updated_utc', 'run_id', 'mailboxes']) assert.ok(k in cp, `checkpoint lacks '${k}'`);
  assert.equal(cp.run_id, run.runId, 'checkpoint run_id');
  assertUtcZ(cp.updated_utc, 'checkpoint.updated_utc');
  for (const [upn, wm] of Object.entries(watermarks)) {
    const e = cp.mailboxes[upn.toLowerCase()];
    assert.ok(e, `checkpoint has no entry for ${upn.toLowerCase()} (keys: ${Object.keys(cp.mailboxes).join(', ')})`);
    assertUtcZ(e.watermark, `checkpoint ${upn} watermark`);
    sameTime(e.watermark, wm, 1000, `checkpoint watermark of ${upn}`);
    assert.equal(e.run_id, run.runId, `checkpoint run_id of ${upn}`);
  }
  for (const upn of kept) {
    const before = prev && prev.mailboxes[upn.toLowerCase()];
    const now = cp.mailboxes[upn.toLowerCase()];
    const { failing_since: since, failed_runs: runs, ...rest } = now || {};
    const { failing_since: sinceBefore, failed_runs: runsBefore, ...restBefore } = before || {};
    assert.deepEqual(rest, restBefore, `watermark of ${upn} must be kept`);
    assert.equal(runs, (runsBefore || 0) + 1, `failed_runs of ${upn}`);
    if (sinceBefore) assert.equal(since, sinceBefore, `failing_since of ${upn}`);
    else sameTime(since, parseTimeMs(run.manifest.started_utc), 1000, `failing_since of ${upn} is this run's start`);
  }
  const all = Object.values(cp.mailboxes).map((e) => parseTimeMs(e.watermark));
  sameTime(cp.last_meeting_start, Math.max(...all), 1000, 'last_meeting_start is the latest watermark');
}
