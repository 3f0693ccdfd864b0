// A procedural Microsoft Graph for bench/scale: the token endpoint and the Graph v1.0
// calls `teams-attendance run` makes, answering for a tenant that is never built. Every
// user, event, online meeting, attendance report and attendance record is computed on
// demand from (seed, shape, indexes), and the indexes travel in the ids and links the
// server hands out (a user id carries its mailbox number, a join URL and a meeting id
// carry mailbox and meeting, a report id carries mailbox, meeting and report, a records
// nextLink carries the offset). A tenant of 1,000,000 records costs it no memory.
//
// Shapes follow Microsoft's documented responses (the field sets of
// tests/fixtures/graph-samples/*.json and tests/sandbox/graph.js): events as calendarView
// returns them (a text body of a few KB under Prefer: outlook.body-content-type="text"),
// onlineMeetings by JoinWebUrl, attendanceReports (attendanceRecords always []), and
// attendanceRecords paged with @odata.nextLink.
//
// Like Outlook, it allows 4 requests in flight per mailbox: beyond, 429 with Retry-After
// (MailboxConcurrency), counted. Every answer waits a configurable latency first.
//
// Used two ways:
//  - as a module: the shape arithmetic (ground truth, request counts, the lower bound)
//    and the URL builders the ceiling client uses;
//  - forked (bench/scale.mjs): argv[2] is JSON {seed, shape, latencyMs, recordsPage,
//    reportsPage}; it sends {ready, url, tenantId, clientId, clientSecret} and answers
//    IPC messages {id, cmd} with {id, result|error}: stats, reset, config
//    ({latencyMs, limit}), close.
import http from 'node:http';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const GRAPH_JSON = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';
const MIN = 60000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
export const DOMAIN = 'scale.example';

// ---------------------------------------------------------------- shapes

// meetings: Teams meetings each mailbox organizes (one event each, a one-off meeting);
// other: events that are not online meetings; reports: reports per meeting; records:
// records per report. A record has 2 intervals when its position % 10 < 3, else 1.
// speed: the issue holds the wall time to 1.1x the bound at 100 and 1,000 mailboxes; the
// memory goal holds everywhere
export const TENANTS = [
  { n: 1, name: '1 mailbox, 1,000,000 records', mailboxes: 1, meetings: 200, other: 20, reports: 5, records: 1000, concurrency: null, divide: 'records', speed: false },
  { n: 2, name: '1,000 mailboxes x 1,200 records', mailboxes: 1000, meetings: 20, other: 5, reports: 2, records: 30, concurrency: 4000, divide: 'mailboxes', speed: true },
  { n: 3, name: '10,000 mailboxes x 60 records', mailboxes: 10000, meetings: 2, other: 5, reports: 1, records: 30, concurrency: 4000, divide: 'mailboxes', speed: false },
  { n: 4, name: '100 mailboxes x 1,200 records (realistic)', mailboxes: 100, meetings: 20, other: 10, reports: 2, records: 30, concurrency: null, divide: 'mailboxes', speed: true },
];

export function smallShape(t) {
  const s = { ...t, small: true };
  if (t.divide === 'records') s.records = Math.max(1, Math.round(t.records / 10));
  else s.mailboxes = Math.max(1, Math.round(t.mailboxes / 10));
  return s;
}

export const intervalsPerReport = (R) => R + 3 * Math.floor(R / 10) + Math.min(3, R % 10);

// Rows per table the job must write, from the shape alone.
export function groundTruth(s) {
  const reports = s.mailboxes * s.meetings * s.reports;
  return {
    events: s.mailboxes * (s.meetings + s.other),
    attendance_reports: reports,
    attendance_records: reports * s.records,
    attendance_intervals: reports * intervalsPerReport(s.records),
  };
}

// The Graph requests one mailbox costs a first run, and its chain of dependent requests:
// the user id and the first calendarView page go out together, calendarView pages
// follow one another, then a meeting lookup, its report list pages, and one report's
// record pages one after another; before all of it, the token.
export function requestPlan(s, { calendarTop = 500, recordsPage = 100, reportsPage = 50 } = {}) {
  const events = s.meetings + s.other;
  const calPages = Math.max(1, Math.ceil(events / calendarTop));
  const repPages = Math.max(1, Math.ceil(s.reports / reportsPage));
  const recPages = Math.max(1, Math.ceil(s.records / recordsPage));
  const perMailbox = 1 + calPages + s.meetings * (1 + repPages + s.reports * recPages);
  // the token comes first: nothing goes out before it
  const chain = 1 + Math.max(1, calPages) + (s.meetings ? 1 + repPages + (s.reports ? recPages : 0) : 0);
  return { calPages, repPages, recPages, perMailbox, chain, total: perMailbox * s.mailboxes };
}

// ---------------------------------------------------------------- determinism

function fmix(a) {
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  a = Math.imul(a, 0xc2b2ae35);
  a ^= a >>> 16;
  return a >>> 0;
}

export function makeIds(seed) {
  const s0 = fmix(Number.parseInt(String(seed), 10) || crypto.createHash('sha1').update(String(seed)).digest().readUInt32LE(0));
  const h = (...xs) => {
    let v = s0;
    for (const x of xs) v = fmix((v ^ fmix((x >>> 0) + 0x9e3779b9)) >>> 0);
    return v;
  };
  const hex = (n, w) => (n >>> 0).toString(16).padStart(8, '0').slice(-w);
  const tenantId = `${hex(h(1, 1), 8)}-${hex(h(1, 2), 4)}-4${hex(h(1, 3), 3)}-9${hex(h(1, 4), 3)}-${hex(h(1, 5), 8)}${hex(h(1, 6), 4)}`;
  const ids = {
    h,
    tenantId,
    clientId: `${hex(h(1, 7), 8)}-${hex(h(1, 8), 4)}-4${hex(h(1, 9), 3)}-a${hex(h(1, 10), 3)}-${hex(h(1, 11), 8)}${hex(h(1, 12), 4)}`,
    clientSecret: `Scl8Q~${hex(h(1, 13), 8)}${hex(h(1, 14), 8)}.${hex(h(1, 15), 8)}_${hex(h(1, 16), 8)}`,
    upn: (i) => `u${i}@${DOMAIN}`,
    // the mailbox number in the last 12 hex digits
    userId: (i) => `${hex(h(2, i), 8)}-${hex(h(3, i), 4)}-4${hex(h(4, i), 3)}-a${hex(h(5, i), 3)}-${i.toString(16).padStart(12, '0')}`,
    // meeting m of mailbox i: a GUID carrying both, base64 as Teams thread ids are
    meetingGuid: (i, m) => `${hex(h(6, i, m), 8)}-${m.toString(16).padStart(4, '0')}-4${hex(h(7, i, m), 3)}-b${hex(h(8, i, m), 3)}-${i.toString(16).padStart(12, '0')}`,
    reportId: (i, m, k) =>
      `${hex(h(9, i, m, k), 8)}-${m.toString(16).padStart(4, '0')}-4${k.toString(16).padStart(3, '0')}-8${hex(h(10, i, m, k), 3)}-${i.toString(16).padStart(12, '0')}`,
  };
  ids.threadToken = (i, m) => Buffer.from(ids.meetingGuid(i, m)).toString('base64');
  ids.threadId = (i, m) => `19:meeting_${ids.threadToken(i, m)}@thread.v2`;
  ids.meetingId = (i, m) => Buffer.from(`1*${ids.userId(i)}*0**${ids.threadId(i, m)}`).toString('base64');
  ids.joinUrl = (i, m) =>
    `https://teams.microsoft.com/l/meetup-join/19%3ameeting_${ids.threadToken(i, m)}%40thread.v2/0` +
    `?context=%7b%22Tid%22%3a%22${tenantId}%22%2c%22Oid%22%3a%22${ids.userId(i)}%22%7d`;
  return ids;
}

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-([0-9a-f]{12})$/;

// (i, m) from a meeting GUID, or null.
function parseMeetingGuid(g) {
  const m = /^[0-9a-f]{8}-([0-9a-f]{4})-4[0-9a-f]{3}-b[0-9a-f]{3}-([0-9a-f]{12})$/.exec(g);
  return m ? { i: parseInt(m[2], 16), m: parseInt(m[1], 16) } : null;
}

// A Graph time with 7 fractional digits: 2026-11-01T09:00:00.1234567Z
function t7(ms, salt) {
  return new Date(ms).toISOString().slice(0, 19) + '.' + String(ms % 1000).padStart(3, '0') + String(salt % 10000).padStart(4, '0') + 'Z';
}
// calendarView's local form under outlook.timezone="UTC": no zone, 7 digits
const graphLocal = (ms) => new Date(ms).toISOString().slice(0, 19) + '.0000000';

// ---------------------------------------------------------------- the tenant

const FIRST = ['Adele', 'Alex', 'Diego', 'Grady', 'Henrietta', 'Isaiah', 'Johanna', 'Joni', 'Lee', 'Lidia', 'Lynne', 'Megan', 'Miriam', 'Nestor', 'Patti', 'Pradeep', 'Zoë', 'Søren', 'Mónica', '美咲'];
const LAST = ['Vance', 'Wilber', 'Siciliani', 'Archie', 'Gonzalez', 'Langer', 'Lauer', 'Sherman', 'Gu', 'Holloway', 'Robinson', 'Bowen', 'Hunter', 'Wilke', 'Fernandez', 'Gupta', 'Lindqvist', 'Ødegaard', 'García', '佐藤'];
const WORDS = (
  'agenda quarterly review roadmap retrospective budget forecast customer onboarding migration release ' +
  'planning sync design security compliance incident postmortem hiring architecture analytics pipeline ' +
  'warehouse synapse parquet attendance storage capacity latency throughput milestone dependency risk ' +
  'owner action item follow-up decision summary appendix Zürich naïve München 東京 Ελλάδα'
).split(' ');

// A few KB of text, from a pool built once, so that an event costs no string building.
function buildBodies(ids, n = 64) {
  const out = [];
  for (let b = 0; b < n; b++) {
    let s = '';
    let k = 0;
    const target = 1500 + (ids.h(20, b) % 2500);
    while (s.length < target) {
      const w = WORDS[ids.h(21, b, k++) % WORDS.length];
      s += k % 14 === 0 ? `${w}.\r\n` : `${w} `;
    }
    out.push(s);
  }
  return out;
}

export function makeTenant({ seed = 1, shape, now = Date.now(), recordsPage = 100, reportsPage = 50 }) {
  const ids = makeIds(seed);
  const bodies = buildBodies(ids);
  const E = shape.meetings + shape.other;
  // every event within the first-run window (30 days) and ended at least 3 hours ago
  const t0 = Math.floor((now - 28 * DAY) / MIN) * MIN;
  const span = 27 * DAY - 3 * HOUR;
  const evStart = (i, e) => t0 + Math.floor((e * span) / Math.max(1, E) / MIN) * MIN + (ids.h(11, i) % 30) * MIN;
  const evLen = (e) => (e < shape.meetings ? 60 * MIN : 30 * MIN);
  const person = (i) => ({ name: `${FIRST[i % FIRST.length]} ${LAST[Math.floor(i / FIRST.length) % LAST.length]}`, address: ids.upn(i) });
  const sessLen = Math.max(2, Math.floor(55 / Math.max(1, shape.reports))) * MIN;
  const sessStart = (i, m, k) => evStart(i, m) + k * sessLen + (ids.h(12, i, m, k) % 50) * 1000;

  function eventJson(i, e, bodyText) {
    const isMeeting = e < shape.meetings;
    const start = evStart(i, e);
    const end = start + evLen(e);
    const id = 'AAMkAD' + Buffer.from(`${ids.userId(i)}:${e}:${ids.h(13, i, e)}`).toString('base64url').replace(/[-_]/g, 'A') + 'AAA=';
    const ck = Buffer.from(`${ids.h(14, i, e)}${ids.h(15, i, e)}`).toString('base64').slice(0, 24) + 'AAA==';
    const created = start - (2 + (ids.h(16, i, e) % 10)) * DAY;
    const org = person(i);
    const nAtt = 2 + (ids.h(17, i, e) % 7);
    const attendees = [];
    for (let a = 0; a < nAtt; a++) {
      const p = person((i + a + 1) % Math.max(2, shape.mailboxes + 20));
      attendees.push({
        type: a % 3 === 2 ? 'optional' : 'required',
        status: { response: a % 2 ? 'accepted' : 'none', time: a % 2 ? t7(created + HOUR, a) : '0001-01-01T00:00:00Z' },
        emailAddress: { name: p.name, address: a === 0 ? p.address : `guest${a}.${i}@fabrikam.example` },
      });
    }
    const joinUrl = isMeeting ? ids.joinUrl(i, e) : null;
    const text = bodies[ids.h(18, i, e) % bodies.length];
    const subject = `${WORDS[ids.h(19, i, e) % WORDS.length]} ${isMeeting ? 'meeting' : 'focus time'} #${e}`;
    const plain = joinUrl
      ? `${text}\r\n________________________________________________________________________________\r\nMicrosoft Teams meeting\r\nJoin on your computer, mobile app or room device\r\nClick here to join the meeting<${joinUrl}>\r\nMeeting ID: ${300000000000 + (ids.h(22, i, e) % 99999999999)}\r\n________________________________________________________________________________\r\n`
      : text;
    const body = bodyText
      ? { contentType: 'text', content: plain }
      : {
          contentType: 'html',
          content:
            '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n<div>' +
            text.replace(/\r\n/g, '<br>') +
            '</div>\r\n' +
            (joinUrl ? `<div class="me-email-text"><a class="me-email-headline" href="${joinUrl}" target="_blank" rel="noreferrer noopener">Join Microsoft Teams Meeting</a></div>\r\n` : '') +
            '</body>\r\n</html>\r\n',
        };
    const location = isMeeting
      ? { displayName: 'Microsoft Teams Meeting', locationType: 'default', uniqueId: 'Microsoft Teams Meeting', uniqueIdType: 'private' }
      : { displayName: '', locationType: 'default', uniqueIdType: 'unknown', address: {}, coordinates: {} };
    return {
      '@odata.etag': `W/"${ck}"`,
      id,
      createdDateTime: t7(created, ids.h(23, i, e)),
      lastModifiedDateTime: t7(created + 3 * HOUR, ids.h(24, i, e)),
      changeKey: ck,
      categories: [],
      transactionId: null,
      originalStartTimeZone: 'UTC',
      originalEndTimeZone: 'UTC',
      iCalUId: `040000008200E00074C5B7101A82E008000000000${ids.h(25, i, e).toString(16).padStart(8, '0')}00000000000000001000000${ids.h(26, i, e).toString(16).padStart(8, '0')}`,
      uid: `040000008200E00074C5B7101A82E008000000000${ids.h(25, i, e).toString(16).padStart(8, '0')}00000000000000001000000${ids.h(26, i, e).toString(16).padStart(8, '0')}`,
      reminderMinutesBeforeStart: 15,
      isReminderOn: true,
      hasAttachments: false,
      subject,
      bodyPreview: plain.slice(0, 255),
      importance: 'normal',
      sensitivity: 'normal',
      isAllDay: false,
      isCancelled: false,
      isOrganizer: true,
      responseRequested: true,
      seriesMasterId: null,
      showAs: 'busy',
      type: 'singleInstance',
      webLink: `https://outlook.office365.com/owa/?itemid=${encodeURIComponent(id)}&exvsurl=1&path=/calendar/item`,
      onlineMeetingUrl: null,
      isOnlineMeeting: isMeeting,
      onlineMeetingProvider: isMeeting ? 'teamsForBusiness' : 'unknown',
      allowNewTimeProposals: true,
      isDraft: false,
      hideAttendees: false,
      responseStatus: { response: 'organizer', time: '0001-01-01T00:00:00Z' },
      body,
      start: { dateTime: graphLocal(start), timeZone: 'UTC' },
      end: { dateTime: graphLocal(end), timeZone: 'UTC' },
      location,
      locations: isMeeting ? [location] : [],
      recurrence: null,
      attendees,
      organizer: { emailAddress: { name: org.name, address: org.address } },
      onlineMeeting: isMeeting ? { joinUrl, conferenceId: String(100000000 + (ids.h(27, i, e) % 899999999)), tollNumber: '+1 323-555-0166' } : null,
    };
  }

  function meetingJson(i, m) {
    const start = evStart(i, m);
    const joinUrl = ids.joinUrl(i, m);
    const conferenceId = String(100000000 + (ids.h(27, i, m) % 899999999));
    const joinMeetingId = String(100000000000 + (ids.h(28, i, m) % 899999999999));
    return {
      id: ids.meetingId(i, m),
      creationDateTime: t7(start - 3 * DAY, ids.h(29, i, m)),
      startDateTime: t7(start, 0),
      endDateTime: t7(start + HOUR, 0),
      joinUrl,
      joinWebUrl: joinUrl,
      meetingCode: joinMeetingId,
      subject: null,
      isBroadcast: false,
      autoAdmittedUsers: 'everyoneInCompany',
      outerMeetingAutoAdmittedUsers: null,
      isEntryExitAnnounced: true,
      allowedPresenters: 'everyone',
      allowMeetingChat: 'enabled',
      shareMeetingChatHistoryDefault: 'none',
      allowTeamworkReactions: true,
      allowAttendeeToEnableCamera: true,
      allowAttendeeToEnableMic: true,
      allowRecording: true,
      allowTranscription: true,
      recordAutomatically: false,
      videoTeleconferenceId: null,
      externalId: null,
      broadcastSettings: null,
      audioConferencing: {
        conferenceId,
        tollNumber: '+1 323-555-0166',
        tollFreeNumber: null,
        tollNumbers: ['+1 323-555-0166'],
        tollFreeNumbers: [],
        dialinUrl: `https://dialin.teams.microsoft.com/${ids.meetingGuid(i, m)}?id=${conferenceId}`,
      },
      chatInfo: { threadId: ids.threadId(i, m), messageId: '0', replyChainMessageId: null },
      joinInformation: {
        content: 'data:text/html,' + encodeURIComponent(`<a href="${joinUrl}">Join Microsoft Teams Meeting</a>`),
        contentType: 'html',
      },
      joinMeetingIdSettings: { isPasscodeRequired: false, joinMeetingId, passcode: null },
      lobbyBypassSettings: { scope: 'organization', isDialInBypassEnabled: false },
      participants: {
        organizer: {
          upn: ids.upn(i),
          role: 'presenter',
          identity: { application: null, device: null, user: { id: ids.userId(i), displayName: null, tenantId: ids.tenantId, identityProvider: 'AAD' } },
        },
        attendees: [],
        producers: [],
        contributors: [],
      },
    };
  }

  function reportJson(i, m, k) {
    const s = sessStart(i, m, k);
    return {
      id: ids.reportId(i, m, k),
      totalParticipantCount: shape.records,
      meetingStartDateTime: t7(s, ids.h(30, i, m, k)),
      meetingEndDateTime: t7(s + sessLen - 60000, ids.h(31, i, m, k)),
      attendanceRecords: [],
    };
  }

  function recordJson(i, m, k, r) {
    const s = sessStart(i, m, k);
    const len = sessLen - 60000;
    const two = r % 10 < 3;
    const x = ids.h(32, i, m, k, r);
    const join = s + (r === 0 ? x % 20000 : x % Math.floor(len / 4));
    const intervals = [];
    let total = 0;
    if (two) {
      const mid = join + Math.floor((s + len - join) / 2);
      const d1 = Math.max(5, Math.round((mid - 30000 - join) / 1000));
      const back = mid + 30000;
      const d2 = Math.max(5, Math.round((s + len - back) / 1000) - (x % 60));
      intervals.push({ joinDateTime: t7(join, x), leaveDateTime: t7(join + d1 * 1000, x >>> 8), durationInSeconds: d1 });
      intervals.push({ joinDateTime: t7(back, x >>> 4), leaveDateTime: t7(back + d2 * 1000, x >>> 12), durationInSeconds: d2 });
      total = d1 + d2;
    } else {
      const d = Math.max(5, Math.round((s + len - join) / 1000) - (x % 90));
      intervals.push({ joinDateTime: t7(join, x), leaveDateTime: t7(join + d * 1000, x >>> 8), durationInSeconds: d });
      total = d;
    }
    let email;
    let identity;
    let role;
    if (r === 0) {
      const p = person(i);
      email = p.address;
      identity = { id: ids.userId(i), displayName: p.name, tenantId: ids.tenantId };
      role = 'Organizer';
    } else {
      const guest = r % 7 === 6;
      const p = person(ids.h(33, i, r) % 400);
      email = guest ? `external${r}@fabrikam.example` : `${p.name.split(' ')[0].toLowerCase()}.${r}@${DOMAIN}`;
      identity = {
        id: `${(x >>> 0).toString(16).padStart(8, '0')}-${(r & 0xffff).toString(16).padStart(4, '0')}-4${k.toString(16).padStart(3, '0')}-9${(m & 0xfff).toString(16).padStart(3, '0')}-${i.toString(16).padStart(6, '0')}${(r >>> 16).toString(16).padStart(6, '0')}`,
        displayName: guest ? `${p.name} (Guest)` : p.name,
        tenantId: guest ? null : ids.tenantId,
      };
      role = x % 4 === 0 ? 'Presenter' : 'Attendee';
    }
    return { emailAddress: email, totalAttendanceInSeconds: total, role, identity, attendanceIntervals: intervals };
  }

  // events of mailbox i overlapping [ws, we), in start order (starts never decrease with e)
  function eventsInWindow(i, ws, we) {
    const out = [];
    for (let e = 0; e < E; e++) {
      const st = evStart(i, e);
      if (st < we && st + evLen(e) > ws) out.push(e);
    }
    return out;
  }

  return { ids, shape, recordsPage, reportsPage, E, eventJson, meetingJson, reportJson, recordJson, eventsInWindow, now };
}

// ---------------------------------------------------------------- URLs (shared with the ceiling client)

export const skiptoken = (o) => Buffer.from(JSON.stringify({ o })).toString('base64url');

export function urlsOf(tn, base, i, { calendarTop = 500 } = {}) {
  const { ids, shape } = tn;
  const uid = ids.userId(i);
  const ws = new Date(tn.now - 30 * DAY).toISOString().slice(0, 19) + 'Z';
  const we = new Date(tn.now).toISOString().slice(0, 19) + 'Z';
  const out = [
    `${base}/v1.0/users/${encodeURIComponent(ids.upn(i))}?$select=id,userPrincipalName`,
    `${base}/v1.0/users/${encodeURIComponent(ids.upn(i))}/calendarView?startDateTime=${ws}&endDateTime=${we}&$top=${calendarTop}`,
  ];
  for (let m = 0; m < shape.meetings; m++) {
    const mid = encodeURIComponent(ids.meetingId(i, m));
    out.push(`${base}/v1.0/users/${uid}/onlineMeetings?$filter=JoinWebUrl%20eq%20'${encodeURIComponent(ids.joinUrl(i, m))}'`);
    out.push(`${base}/v1.0/users/${uid}/onlineMeetings/${mid}/attendanceReports`);
    for (let k = 0; k < shape.reports; k++)
      for (let o = 0; o < shape.records; o += tn.recordsPage)
        out.push(`${base}/v1.0/users/${uid}/onlineMeetings/${mid}/attendanceReports/${ids.reportId(i, m, k)}/attendanceRecords${o ? `?$skiptoken=${skiptoken(o)}` : ''}`);
  }
  return out;
}

// ---------------------------------------------------------------- the server

function parseQuery(raw) {
  const out = {};
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    out[decodeURIComponent(k.replace(/\+/g, ' '))] = decodeURIComponent(v.replace(/\+/g, ' '));
  }
  return out;
}

function graphError(code, message) {
  return {
    error: {
      code,
      message,
      innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': crypto.randomUUID(), 'client-request-id': crypto.randomUUID() },
    },
  };
}

export async function startScaleGraph({ seed = 1, shape, latencyMs = 0, recordsPage = 100, reportsPage = 50, host = '127.0.0.1', port = 0 }) {
  const tn = makeTenant({ seed, shape, recordsPage, reportsPage });
  const { ids } = tn;
  const N = shape.mailboxes;
  const st = {
    latencyMs,
    limit: 4,
    tokens: new Set(),
    inflight: new Int32Array(N),
    maxInflight: new Int32Array(N),
    inflightAll: 0,
    maxInflightAll: 0,
    kinds: {},
    statuses: {},
    throttled429: 0,
    bytes: 0,
    requests: 0,
    t0: Date.now(),
    timeline: {}, // kind -> {first, last}: seconds after reset when the first / last answer went out
  };
  let base = '';

  const mailboxOf = (seg) => {
    let m = /^u(\d+)@/i.exec(seg);
    if (m) {
      const i = Number(m[1]);
      return i < N && seg.toLowerCase() === ids.upn(i) ? i : -1;
    }
    m = GUID_RE.exec(seg);
    if (m) {
      const i = parseInt(m[1], 16);
      return i < N && seg === ids.userId(i) ? i : -1;
    }
    return -1;
  };

  // (i, m) of a meeting id, checked against mailbox i
  const meetingOf = (seg, i) => {
    let text;
    try {
      text = Buffer.from(seg, 'base64').toString('utf8');
    } catch {
      return null;
    }
    const mm = /^1\*([0-9a-f-]{36})\*0\*\*19:meeting_([A-Za-z0-9+/=]+)@thread\.v2$/.exec(text);
    if (!mm) return null;
    const p = parseMeetingGuid(Buffer.from(mm[2], 'base64').toString('utf8'));
    if (!p || p.i !== i || p.m >= shape.meetings || mm[1] !== ids.userId(i)) return null;
    return p;
  };

  function route(method, segs, q, req, body) {
    // token
    if (segs.length === 4 && segs[1] === 'oauth2' && segs[2] === 'v2.0' && segs[3] === 'token') {
      if (method !== 'POST') return { kind: 'token', status: 405, body: graphError('MethodNotAllowed', 'Use POST.') };
      const f = parseQuery(body);
      if (segs[0].toLowerCase() !== ids.tenantId) return { kind: 'token', status: 400, body: { error: 'invalid_request', error_description: `AADSTS90002: Tenant '${segs[0]}' not found.` } };
      if (f.grant_type !== 'client_credentials' || f.client_id !== ids.clientId || f.client_secret !== ids.clientSecret)
        return { kind: 'token', status: 401, body: { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' } };
      const tok = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ aud: base, tid: ids.tenantId, appid: ids.clientId, uti: crypto.randomUUID() })).toString('base64url')}.${crypto.randomBytes(32).toString('base64url')}`;
      st.tokens.add(tok);
      return { kind: 'token', status: 200, body: { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: tok } };
    }
    if (segs[0] !== 'v1.0' || segs[1] !== 'users' || segs.length < 3) return { kind: 'unknown', status: 400, body: graphError('BadRequest', 'Resource not found for the segment.') };
    const i = mailboxOf(segs[2]);
    const rest = segs.slice(3).map((s, k) => (k === 0 || k === 2 || k === 4 ? s.toLowerCase() : s));
    const kind =
      rest.length === 0 ? 'user'
      : rest[0] === 'calendarview' ? 'calendarView'
      : rest[0] !== 'onlinemeetings' ? 'unknown'
      : rest.length === 1 ? 'onlineMeetings'
      : rest.length === 3 ? 'attendanceReports'
      : rest.length === 5 ? 'attendanceRecords'
      : 'unknown';
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization || '');
    if (!m || !st.tokens.has(m[1].trim())) return { kind, i, status: 401, body: graphError('InvalidAuthenticationToken', 'Access token validation failure.') };
    if (i < 0) return { kind, i, status: 404, body: graphError('ErrorInvalidUser', `The requested user '${segs[2]}' is invalid.`) };
    return { kind, i, rest };
  }

  function answer(r, q, req) {
    const { kind, i, rest } = r;
    const uid = ids.userId(i);
    if (kind === 'user') {
      const full = { id: uid, userPrincipalName: ids.upn(i), displayName: `User ${i}`, mail: ids.upn(i) };
      const sel = (q.$select || 'id,userPrincipalName').split(',').map((s) => s.trim());
      const out = { '@odata.context': `${base}/v1.0/$metadata#users(${sel.join(',')})/$entity` };
      for (const k of sel) if (full[k] !== undefined) out[k] = full[k];
      return { status: 200, body: out };
    }
    if (kind === 'calendarView') {
      const ws = Date.parse(q.startDateTime);
      const we = Date.parse(q.endDateTime);
      if (Number.isNaN(ws) || Number.isNaN(we))
        return { status: 400, body: graphError('ErrorInvalidParameter', 'This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.') };
      const top = q.$top === undefined ? 10 : Number(q.$top);
      if (!(Number.isInteger(top) && top >= 1 && top <= 1000)) return { status: 400, body: graphError('ErrorInvalidParameter', `The value '${q.$top}' of parameter 'Top' is invalid.`) };
      const skip = q.$skip === undefined ? 0 : Number(q.$skip);
      const list = tn.eventsInWindow(i, ws, we);
      const prefer = String(req.headers.prefer || '');
      const text = /outlook\.body-content-type\s*=\s*"text"/i.test(prefer);
      const out = { '@odata.context': `${base}/v1.0/$metadata#users('${encodeURIComponent(ids.upn(i))}')/calendarView` };
      if (skip + top < list.length)
        out['@odata.nextLink'] = `${base}/v1.0/users/${encodeURIComponent(ids.upn(i))}/calendarView?startDateTime=${encodeURIComponent(q.startDateTime)}&endDateTime=${encodeURIComponent(q.endDateTime)}&%24top=${top}&%24skip=${skip + top}`;
      out.value = list.slice(skip, skip + top).map((e) => tn.eventJson(i, e, text));
      const applied = [];
      const tz = /outlook\.timezone\s*=\s*"([^"]*)"/i.exec(prefer);
      if (tz) applied.push(`outlook.timezone="${tz[1]}"`);
      if (text) applied.push('outlook.body-content-type="text"');
      return { status: 200, body: out, headers: applied.length ? { 'Preference-Applied': applied.join(', ') } : {} };
    }
    const ctxBase = `${base}/v1.0/$metadata#users('${uid}')/onlineMeetings`;
    if (kind === 'onlineMeetings') {
      const fm = /^\s*joinWebUrl\s+eq\s+'(.*)'\s*$/is.exec(q.$filter || '');
      if (!fm) return { status: 400, body: graphError('BadRequest', 'Filter expression expected - /onlineMeetings?$filter=JoinWebUrl eq {joinWebUrl}.') };
      const url = fm[1].replace(/''/g, "'");
      const tm = /meeting_([A-Za-z0-9+/=]+)%40thread\.v2/.exec(url);
      const p = tm ? parseMeetingGuid(Buffer.from(tm[1], 'base64').toString('utf8')) : null;
      if (p && p.i !== i) return { status: 403, body: graphError('Forbidden', 'The user in the request path is not the organizer of this meeting.') };
      const ok = p && p.m < shape.meetings && url === ids.joinUrl(i, p.m);
      return { status: 200, body: { '@odata.context': ctxBase, value: ok ? [tn.meetingJson(i, p.m)] : [] } };
    }
    const mt = meetingOf(rest[1], i);
    if (!mt) return { status: 404, body: graphError('NotFound', 'The requested online meeting was not found.') };
    const repCtx = `${ctxBase}('${rest[1]}')/attendanceReports`;
    const meetingPath = `${base}/v1.0/users/${uid}/onlineMeetings/${encodeURIComponent(rest[1])}`;
    const offsetOf = () => {
      if (q.$skiptoken === undefined) return 0;
      try {
        const o = JSON.parse(Buffer.from(q.$skiptoken, 'base64url').toString()).o;
        return Number.isInteger(o) && o >= 0 ? o : NaN;
      } catch {
        return NaN;
      }
    };
    if (kind === 'attendanceReports') {
      const o = offsetOf();
      if (Number.isNaN(o)) return { status: 400, body: graphError('BadRequest', 'Invalid skip token.') };
      const out = { '@odata.context': repCtx };
      const n = Math.min(shape.reports - o, tn.reportsPage);
      if (o + n < shape.reports) out['@odata.nextLink'] = `${meetingPath}/attendanceReports?$skiptoken=${skiptoken(o + n)}`;
      out.value = [];
      for (let k = o; k < o + n; k++) out.value.push(tn.reportJson(i, mt.m, k));
      return { status: 200, body: out };
    }
    // attendanceRecords
    if (rest[4].toLowerCase() !== 'attendancerecords') return { status: 400, body: graphError('BadRequest', 'Resource not found for the segment.') };
    const rm = /^[0-9a-f]{8}-([0-9a-f]{4})-4([0-9a-f]{3})-8[0-9a-f]{3}-([0-9a-f]{12})$/.exec(rest[3]);
    const k = rm ? parseInt(rm[2], 16) : -1;
    if (!rm || parseInt(rm[1], 16) !== mt.m || parseInt(rm[3], 16) !== i || k >= shape.reports || rest[3] !== ids.reportId(i, mt.m, k))
      return { status: 404, body: graphError('NotFound', 'The requested attendance report was not found.') };
    const o = offsetOf();
    if (Number.isNaN(o)) return { status: 400, body: graphError('BadRequest', 'Invalid skip token.') };
    const n = Math.max(0, Math.min(shape.records - o, tn.recordsPage));
    const out = { '@odata.context': `${repCtx}('${rest[3]}')/attendanceRecords` };
    if (o + n < shape.records) out['@odata.nextLink'] = `${meetingPath}/attendanceReports/${rest[3]}/attendanceRecords?$skiptoken=${skiptoken(o + n)}`;
    out.value = [];
    for (let r = o; r < o + n; r++) out.value.push(tn.recordJson(i, mt.m, k, r));
    return { status: 200, body: out };
  }

  async function handle(req, res) {
    const [rawPath, rawQuery = ''] = req.url.split(/\?(.*)/s);
    const body = await new Promise((resolve) => {
      if (req.method === 'GET') {
        req.resume();
        return req.on('end', () => resolve(''));
      }
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', () => resolve(''));
    });
    st.requests++;
    let segs;
    let q;
    try {
      segs = rawPath.split('/').slice(1).map((s) => decodeURIComponent(s));
      q = parseQuery(rawQuery);
    } catch {
      segs = ['?'];
      q = {};
    }
    const r = route(req.method, segs, q, req, body);
    const i = r.i ?? -1;
    let arrivedWith = 0;
    let done = false;
    if (i >= 0) {
      arrivedWith = ++st.inflight[i];
      if (arrivedWith > st.maxInflight[i]) st.maxInflight[i] = arrivedWith;
    }
    st.inflightAll++;
    if (st.inflightAll > st.maxInflightAll) st.maxInflightAll = st.inflightAll;
    const finish = () => {
      if (done) return;
      done = true;
      st.inflightAll--;
      if (i >= 0) st.inflight[i]--;
    };
    res.on('close', finish);
    if (st.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, st.latencyMs));
    let out;
    if (r.status) out = r;
    else if (st.limit && arrivedWith > st.limit) {
      st.throttled429++;
      out = {
        status: 429,
        body: { error: { code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.' } },
        headers: { 'Retry-After': '1' },
      };
    } else {
      try {
        out = answer(r, q, req);
      } catch (e) {
        out = { status: 500, body: graphError('generalException', `scale-graph: ${e.message}`) };
      }
    }
    st.kinds[r.kind] = (st.kinds[r.kind] || 0) + 1;
    const at = (Date.now() - st.t0) / 1000;
    const tl = (st.timeline[r.kind] ||= { first: at, last: at });
    tl.last = at;
    st.statuses[out.status] = (st.statuses[out.status] || 0) + 1;
    const payload = JSON.stringify(out.body);
    const headers =
      r.kind === 'token'
        ? { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store, no-cache' }
        : { 'Content-Type': GRAPH_JSON, 'Cache-Control': 'no-cache', 'OData-Version': '4.0', 'request-id': crypto.randomUUID() };
    Object.assign(headers, out.headers || {});
    headers['Content-Length'] = Buffer.byteLength(payload);
    st.bytes += headers['Content-Length'];
    finish();
    if (res.destroyed || res.writableEnded) return;
    try {
      res.writeHead(out.status, headers);
      res.end(payload);
    } catch {
      /* the client went away */
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      try {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(graphError('generalException', `scale-graph: ${e.message}`)));
      } catch {
        /* gone */
      }
    });
  });
  server.keepAliveTimeout = 30000;
  server.headersTimeout = 60000;
  server.maxRequestsPerSocket = 0;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 8192 }, resolve);
  });
  base = `http://${host}:${server.address().port}`;

  return {
    url: base,
    tenant: tn,
    stats() {
      let maxPer = 0;
      let over = 0;
      for (let k = 0; k < N; k++) {
        if (st.maxInflight[k] > maxPer) maxPer = st.maxInflight[k];
        if (st.maxInflight[k] > 4) over++;
      }
      return {
        requests: st.requests,
        kinds: { ...st.kinds },
        statuses: { ...st.statuses },
        maxPerMailbox: maxPer,
        mailboxesOver4: over,
        maxInflightAll: st.maxInflightAll,
        mailbox429: st.throttled429,
        bytes: st.bytes,
        timeline: st.timeline,
        rssMiB: process.memoryUsage().rss / 1048576,
      };
    },
    reset() {
      st.kinds = {};
      st.statuses = {};
      st.maxInflight.fill(0);
      st.maxInflightAll = st.inflightAll;
      st.throttled429 = 0;
      st.bytes = 0;
      st.requests = 0;
      st.t0 = Date.now();
      st.timeline = {};
    },
    config({ latencyMs, limit } = {}) {
      if (latencyMs !== undefined) st.latencyMs = latencyMs;
      if (limit !== undefined) st.limit = limit;
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise((r) => server.close(() => r()));
    },
  };
}

// ---------------------------------------------------------------- forked

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = JSON.parse(process.argv[2] || '{}');
  const sb = await startScaleGraph(opts);
  const { ids } = sb.tenant;
  process.on('message', (msg) => {
    const reply = (result) => process.send({ id: msg.id, result });
    try {
      if (msg.cmd === 'stats') return reply(sb.stats());
      if (msg.cmd === 'reset') return reply(sb.reset() ?? true);
      if (msg.cmd === 'config') return reply(sb.config(msg) ?? true);
      if (msg.cmd === 'close')
        return sb.close().then(() => {
          reply(true);
          process.exit(0);
        });
      return process.send({ id: msg.id, error: `unknown command ${msg.cmd}` });
    } catch (e) {
      return process.send({ id: msg.id, error: e.stack || String(e) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true, url: sb.url, tenantId: ids.tenantId, clientId: ids.clientId, clientSecret: ids.clientSecret, now: sb.tenant.now });
}
