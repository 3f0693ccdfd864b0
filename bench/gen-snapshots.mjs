// Writes a deterministic synthetic set of final snapshots (SPEC section 7 shape), one
// file per mailbox, and gen-manifest.json with the rows the four tables must get.
//
//   node bench/gen-snapshots.mjs --out DIR [--records N] [--files N] [--seed S] [--jobs N]
//
// writes DIR/snapshots/*.json and DIR/gen-manifest.json.
// The events carry every field Graph returns for a calendar event (body HTML,
// attendees, locations, ...), Teams meetings their onlineMeeting object and their
// attendance reports with complete attendanceRecords. File i depends on the seed and
// i only, so the same arguments give the same bytes whatever --jobs is.
// Files are added until the records reach --records (default 2,000,000).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const RECORDS_PER_FILE_GUESS = 800; // close to the mean of the mix below

// ---- deterministic randomness ----

function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    // mulberry32
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    chance: (p) => next() < p,
    hex: (n) => {
      let s = '';
      while (s.length < n) s += Math.floor(next() * 4294967296).toString(16).padStart(8, '0');
      return s.slice(0, n);
    },
    guid: () => {
      const h = r.hex(32);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    },
    b64: (n) => {
      const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      let s = '';
      for (let i = 0; i < n; i++) s += A[Math.floor(next() * 64)];
      return s;
    },
  };
  return r;
}

// ---- vocabulary ----

const FIRST = ['Adele', 'Alex', 'Diego', 'Frédérick', 'Grady', 'Henrietta', 'Isaiah', 'Johanna',
  'Lee', 'Lidia', 'Lynne', 'Megan', 'Miriam', 'Nestor', 'Patti', 'Pradeep', 'Zoë', 'Ömer', '秀英',
  'Lisa', 'Joni', 'Irvin', 'Christie', 'Debra', 'Enrico', 'Allan', 'Emily', 'Raul', 'Sanjay', 'Wei'];
const LAST = ['Vance', 'Wilber', 'Siciliani', 'Cormier', 'Archie', 'Cline', 'Langer', 'Sherman',
  'Gu', 'Holloway', 'Robbins', 'Bowen', 'Wilkins', 'Fernandes', 'Gupta', 'Müller', 'Adkins',
  'Sherwood', 'Sims', 'Cline', 'Cavaliere', 'Deyoung', 'Braun', 'Kumar', 'Chen', 'Zhang'];
const SUBJECTS = ['Prep for customer meeting', 'Weekly sync', 'Quarterly business review',
  'Design review: attendance export', 'All hands', '1:1', 'Sprint planning', 'Retrospective',
  'Interview loop — backend', 'Budget FY27', 'Incident postmortem', 'Brown bag: Parquet internals',
  'Onboarding session', 'Project Falcon kickoff', 'Réunion d\u2019équipe', 'Town hall 🎉'];
const ROOMS = ['Cordova conference room', 'Conf Room Adams', 'Conf Room Baker', 'Building 4 / 2.21'];
const TENANT = '98a79ebe-74bf-4e07-a017-7b410848cb32';
const GUEST_TENANTS = ['909c6581-5130-43e9-88f3-fcb3582cde38', '72f988bf-86f1-41af-91ab-2d7cd011db47'];

function teamsBody(joinUrl, conf) {
  return '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
    + '<meta content="text/html; charset=us-ascii">\r\n</head>\r\n<body>\r\nDoes this time work for you?\r\n'
    + '<div style="width:100%; height:20px"><span style="white-space:nowrap; color:gray; opacity:.36">'
    + '_'.repeat(80) + '</span>\r\n</div>\r\n<div class="me-email-text" style="color:#252424; font-family:'
    + '\'Segoe UI\',\'Helvetica Neue\',Helvetica,Arial,sans-serif">\r\n<div style="margin-top:24px; margin-bottom:10px">'
    + `<a class="me-email-headline" href="${joinUrl}" target="_blank" rel="noreferrer noopener" style="font-size:18px; `
    + 'font-family:\'Segoe UI Semibold\',\'Segoe UI\',\'Helvetica Neue\',Helvetica,Arial,sans-serif; text-decoration:underline; '
    + 'color:#6264a7">Join\r\n Microsoft Teams Meeting</a> </div>\r\n<div>\r\n<div><a class="me-email-link" '
    + `href="tel:&#43;1 323-886-7531,,${conf}# " target="_blank" rel="noreferrer noopener" style="font-size:14px; `
    + 'text-decoration:none; color:#6264a7">&#43;1 323-886-7531</a>\r\n<span style="font-size:12px">&nbsp; United States, '
    + 'Los Angeles (Toll) </span></div>\r\n</div>\r\n<div style="margin-top:10px; margin-bottom:20px"><span style="font-size:12px">'
    + `Conference ID:\r\n</span><span style="font-size:14px">${conf.slice(0, 3)} ${conf.slice(3, 6)} ${conf.slice(6)}# </span></div>\r\n`
    + '<div style="margin-bottom:24px"><a class="me-email-link" target="_blank" href="https://dialin.teams.microsoft.com/'
    + `1f9a0550-737c-41bd-8c7d-4c81dc1c4070?id=${conf}" rel="noreferrer noopener" style="font-size:12px; text-decoration:none; `
    + 'color:#6264a7">Local\r\n numbers</a> | <a class="me-email-link" target="_blank" href="https://mysettings.lync.com/pstnconferencing" '
    + 'rel="noreferrer noopener" style="font-size:12px; text-decoration:none; color:#6264a7">\r\nReset PIN</a> | '
    + '<a class="me-email-link" target="_blank" href="https://aka.ms/JoinTeamsMeeting" rel="noreferrer noopener" '
    + 'style="font-size:12px; text-decoration:none; color:#6264a7">\r\nLearn more about Teams</a></div>\r\n</div>\r\n</body>\r\n</html>\r\n';
}

const iso7 = (ms, r) => new Date(ms).toISOString().slice(0, 19) + '.' + String(r.int(0, 9999999)).padStart(7, '0') + 'Z';
const isoPlain = (ms) => new Date(ms).toISOString().slice(0, 19) + '.0000000';
const isoMs = (ms) => new Date(ms).toISOString();

// records per report: mostly small meetings, some large ones
function recordCount(r) {
  const x = r.next();
  if (x < 0.6) return r.int(2, 15);
  if (x < 0.9) return r.int(16, 80);
  return r.int(81, 420);
}

// ---- one mailbox ----

function person(r, domain) {
  const first = r.pick(FIRST), last = r.pick(LAST);
  const local = `${first}.${last}`.normalize('NFD').replace(/[^A-Za-z.]/g, '').toLowerCase() || 'user';
  return { name: `${first} ${last}`, address: `${local}${r.int(1, 999)}@${domain}` };
}

function report(r, startMs, withMeetingId, counts) {
  const n = recordCount(r);
  const meetStart = startMs + r.int(-120, 300) * 1000;
  const meetEnd = meetStart + r.int(10, 90) * 60000;
  const recs = [];
  for (let i = 0; i < n; i++) {
    const p = person(r, r.chance(0.8) ? 'contoso.com' : 'fabrikam.de');
    const anonymous = r.chance(0.02); // dial-in or anonymous: no id, no e-mail
    const ni = r.chance(0.7) ? 1 : r.chance(0.67) ? 2 : r.int(3, 5);
    const ivs = [];
    let t = meetStart + r.int(0, 600) * 1000, total = 0;
    for (let k = 0; k < ni; k++) {
      const d = r.int(30, 1800);
      ivs.push({ joinDateTime: iso7(t, r), leaveDateTime: iso7(t + d * 1000, r), durationInSeconds: d });
      total += d;
      t += (d + r.int(20, 600)) * 1000;
    }
    const rec = {};
    if (r.chance(0.1)) rec.id = r.guid();
    rec.emailAddress = anonymous ? null : p.address;
    rec.totalAttendanceInSeconds = total;
    rec.role = i === 0 ? 'Organizer' : r.chance(0.15) ? 'Presenter' : 'Attendee';
    rec.identity = {
      id: anonymous ? '' : r.guid(),
      displayName: anonymous ? `+1 425-555-${String(r.int(0, 9999)).padStart(4, '0')}` : p.name,
      tenantId: anonymous ? null : r.chance(0.85) ? null : r.pick(GUEST_TENANTS),
    };
    rec.attendanceIntervals = ivs;
    recs.push(rec);
    counts.attendance_intervals += ni;
  }
  counts.attendance_records += n;
  counts.attendance_reports += 1;
  const rep = {
    id: r.guid(),
    totalParticipantCount: n,
    meetingStartDateTime: iso7(meetStart, r),
    meetingEndDateTime: isoMs(meetEnd),
    attendanceRecords: recs,
  };
  if (withMeetingId) rep.onlineMeetingId = withMeetingId;
  return rep;
}

export function mailbox(seed, i) {
  const r = rng((seed * 1000003 + i * 7919) >>> 0);
  const counts = { events: 0, attendance_reports: 0, attendance_records: 0, attendance_intervals: 0 };
  const first = r.pick(FIRST).normalize('NFD').replace(/[^A-Za-z]/g, '') || 'User';
  const upn = `${first}.Mailbox${i}@Contoso.OnMicrosoft.com`; // mixed case: lower-cased in rows
  const oid = r.guid();
  const day = Date.UTC(2026, 10, 27);
  const runNo = i % 4;
  const run_id = `20261128T1${runNo}3400Z-${(0x3f9a1c + runNo).toString(16)}`;
  const extracted = `2026-11-28T1${runNo}:34:00Z`;
  const nev = r.int(18, 42);
  const events = [];
  for (let e = 0; e < nev; e++) {
    const startMs = day + r.int(6 * 4, 20 * 4) * 15 * 60000;
    const endMs = startMs + r.pick([15, 30, 30, 45, 60, 60, 90, 120]) * 60000;
    const kind = r.next();
    // teams meeting organized by the mailbox (0-0.55), attended (0.55-0.7), no meeting
    // object (0.7-0.75), not online (0.75-1)
    const online = kind < 0.75;
    const organizer = kind < 0.55 || (kind >= 0.7 && kind < 0.75);
    const hasMeta = kind < 0.55;
    const thread = `19:meeting_${r.b64(48)}@thread.v2`;
    const joinUrl = online
      ? `https://teams.microsoft.com/l/meetup-join/${encodeURIComponent(thread).replace(/%3A/g, '%3a').replace(/%40/g, '%40')}/0?context=%7b%22Tid%22%3a%22${TENANT}%22%2c%22Oid%22%3a%22${oid}%22%7d`
      : null;
    const conf = String(r.int(100000000, 999999999));
    const org = organizer ? { name: `${first} Mailbox${i}`, address: upn } : person(r, 'contoso.com');
    const nAtt = r.int(1, 25);
    const attendees = [];
    for (let a = 0; a < nAtt; a++) {
      const p = person(r, 'contoso.com');
      attendees.push({ type: r.chance(0.8) ? 'required' : 'optional', status: { response: r.pick(['none', 'accepted', 'tentativelyAccepted', 'declined']), time: '0001-01-01T00:00:00Z' }, emailAddress: p });
    }
    const series = r.chance(0.4);
    const room = r.pick(ROOMS);
    const subject = r.pick(SUBJECTS);
    const ev = {
      '@odata.etag': `W/"${r.b64(28)}=="`,
      id: `AAMkAGI2TG93AAA${r.b64(130)}=`,
      createdDateTime: iso7(startMs - r.int(1, 60) * 86400000, r),
      lastModifiedDateTime: iso7(startMs - r.int(0, 86400) * 1000, r),
      changeKey: `${r.b64(28)}==`,
      categories: r.chance(0.2) ? ['Blue category'] : [],
      transactionId: null,
      originalStartTimeZone: 'Pacific Standard Time',
      originalEndTimeZone: 'Pacific Standard Time',
      iCalUId: `040000008200E00074C5B7101A82E008000000007${r.hex(20).toUpperCase()}0000000000000000100000005F31C591C3C328459653D025BD277439`,
      reminderMinutesBeforeStart: 15,
      isReminderOn: true,
      hasAttachments: r.chance(0.1),
      subject,
      bodyPreview: online
        ? 'Does this time work for you?\r\n' + '_'.repeat(80) + '\r\nJoin Microsoft Teams Meeting\r\n+1 323-555-0166   United States, Los Angeles (Toll)\r\nConference ID: 291 633 251#\r\nLocal numbers | Reset PIN | Lea'
        : `Agenda for ${subject}`,
      importance: 'normal',
      sensitivity: 'normal',
      isAllDay: false,
      isCancelled: r.chance(0.03),
      isOrganizer: organizer,
      responseRequested: true,
      seriesMasterId: series ? `AAMkAGI2TG93AAA${r.b64(130)}=` : null,
      showAs: 'busy',
      type: series ? 'occurrence' : 'singleInstance',
      webLink: `https://outlook.office365.com/owa/?itemid=AAMkAGI2TG93AAA${r.b64(40)}%3D&exvsurl=1&path=/calendar/item`,
      onlineMeetingUrl: null,
      isOnlineMeeting: online,
      onlineMeetingProvider: online ? 'teamsForBusiness' : 'unknown',
      allowNewTimeProposals: true,
      occurrenceId: null,
      isDraft: false,
      hideAttendees: false,
      recurrence: null,
      responseStatus: { response: organizer ? 'organizer' : 'accepted', time: '0001-01-01T00:00:00Z' },
      body: { contentType: 'html', content: online ? teamsBody(joinUrl, conf) : `<html><body>Agenda for ${subject}</body></html>` },
      start: { dateTime: isoPlain(startMs), timeZone: 'UTC' },
      end: { dateTime: isoPlain(endMs), timeZone: 'UTC' },
      location: { displayName: room, locationType: 'default', uniqueId: room, uniqueIdType: 'private' },
      locations: [{ displayName: room, locationType: 'default', uniqueId: room, uniqueIdType: 'private' }],
      attendees,
      organizer: { emailAddress: org },
      onlineMeeting: online ? { joinUrl, conferenceId: conf, tollNumber: '+1 323-555-0166' } : null,
    };
    let meta = null;
    const attendance = [];
    if (hasMeta) {
      meta = {
        id: `MSo${r.b64(72)}`,
        creationDateTime: iso7(startMs - 86400000, r),
        startDateTime: isoMs(startMs),
        endDateTime: isoMs(endMs),
        joinWebUrl: joinUrl,
        subject,
        isEntryExitAnnounced: true,
        allowedPresenters: 'everyone',
        videoTeleconferenceId: null,
        participants: {
          organizer: { upn, role: 'presenter', identity: { user: { id: oid, displayName: null, tenantId: TENANT, identityProvider: 'AAD' } } },
          attendees: [],
        },
        lobbyBypassSettings: { scope: 'organization', isDialInBypassEnabled: false },
        joinMeetingIdSettings: { isPasscodeRequired: false, joinMeetingId: conf, passcode: null },
        chatInfo: { threadId: thread, messageId: '0', replyChainMessageId: null },
      };
      // 15% of meetings have no report yet, recurring ones up to three
      const nrep = r.chance(0.15) ? 0 : series && r.chance(0.4) ? r.int(2, 3) : 1;
      for (let k = 0; k < nrep; k++) attendance.push(report(r, startMs - k * 7 * 86400000, null, counts));
    }
    ev.onlineMeetingMeta = meta;
    ev.attendance = attendance;
    events.push(ev);
    counts.events += 1;
  }
  const unmatched = [];
  if (r.chance(0.05)) unmatched.push(report(r, day + 10 * 3600000, `MSo${r.b64(72)}`, counts));
  const snap = {
    user_upn: upn,
    run_id,
    window_start: '2026-11-27T00:00:00Z',
    window_end: '2026-11-28T00:00:00Z',
    extracted_utc: extracted,
    events,
    unmatched_attendance: unmatched,
  };
  return { text: JSON.stringify(snap), counts, name: `${upn.toLowerCase().replace(/[^a-z0-9._@-]/g, '_')}.json` };
}

function writeRange(out, seed, indexes) {
  const counts = { events: 0, attendance_reports: 0, attendance_records: 0, attendance_intervals: 0 };
  const files = [];
  let bytes = 0;
  for (const i of indexes) {
    const m = mailbox(seed, i);
    const name = `${String(i).padStart(6, '0')}-${m.name}`;
    fs.writeFileSync(path.join(out, name), m.text);
    for (const k in counts) counts[k] += m.counts[k];
    bytes += Buffer.byteLength(m.text);
    files.push({ i, name, records: m.counts.attendance_records });
  }
  return { counts, files, bytes };
}

function parseArgs(argv) {
  const a = { out: null, records: 2000000, files: 0, seed: 1, jobs: Math.min(2, os.cpus().length) };
  for (let k = 0; k < argv.length; k++) {
    const v = argv[k + 1];
    if (argv[k] === '--out') a.out = v, k++;
    else if (argv[k] === '--records') a.records = Number(v), k++;
    else if (argv[k] === '--files') a.files = Number(v), k++;
    else if (argv[k] === '--seed') a.seed = Number(v), k++;
    else if (argv[k] === '--jobs') a.jobs = Math.max(1, Number(v)), k++;
    else throw new Error(`unknown argument ${argv[k]}`);
  }
  if (!a.out) throw new Error('--out DIR is required');
  return a;
}

async function runRange(out, seed, indexes, jobs) {
  const parts = Array.from({ length: jobs }, (_, j) => indexes.filter((_, k) => k % jobs === j));
  const results = await Promise.all(parts.map((idx) => new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { out, seed, indexes: idx } });
    w.once('message', resolve);
    w.once('error', reject);
  })));
  const counts = { events: 0, attendance_reports: 0, attendance_records: 0, attendance_intervals: 0 };
  let bytes = 0;
  const files = [];
  for (const res of results) {
    for (const k in counts) counts[k] += res.counts[k];
    bytes += res.bytes;
    files.push(...res.files);
  }
  files.sort((x, y) => x.i - y.i);
  return { counts, bytes, files };
}

export async function generate({ out, records = 2000000, files = 0, seed = 1, jobs = 2 }) {
  const snapDir = path.join(out, 'snapshots');
  fs.mkdirSync(snapDir, { recursive: true });
  const t0 = Date.now();
  let n = files || Math.max(1, Math.ceil(records / RECORDS_PER_FILE_GUESS));
  let all = await runRange(snapDir, seed, Array.from({ length: n }, (_, k) => k), jobs);
  // top up until the records reach the target (only when the count was not fixed)
  while (!files && all.counts.attendance_records < records) {
    const missing = records - all.counts.attendance_records;
    const more = Math.max(1, Math.ceil(missing / RECORDS_PER_FILE_GUESS));
    const extra = await runRange(snapDir, seed, Array.from({ length: more }, (_, k) => n + k), jobs);
    n += more;
    for (const k in all.counts) all.counts[k] += extra.counts[k];
    all.bytes += extra.bytes;
    all.files.push(...extra.files);
  }
  const manifest = {
    seed, target_records: records, files: all.files.length, bytes: all.bytes,
    counts: all.counts, seconds: (Date.now() - t0) / 1000,
    names: all.files.map((f) => f.name),
  };
  fs.writeFileSync(path.join(out, 'gen-manifest.json'), JSON.stringify(manifest));
  return manifest;
}

if (!isMainThread) {
  const { out, seed, indexes } = workerData;
  parentPort.postMessage(writeRange(out, seed, indexes));
} else if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const a = parseArgs(process.argv.slice(2));
  const m = await generate(a);
  const { names, ...summary } = m;
  console.log(JSON.stringify(summary));
}
