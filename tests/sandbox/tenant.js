// A deterministic Microsoft 365 tenant for the sandbox Graph: mailboxes, their
// calendars (recurring series expanded into occurrences), the Teams online meetings
// behind them, and the attendance reports and records Teams wrote for each session.
//
// Everything is placed relative to `now` (the real clock when a test starts), so a
// run of the job over "the last 30 days" meets the same cases whatever the date:
// settled and unsettled meetings, a meeting in progress, sessions outside the window,
// an ad-hoc session that matches no scheduled occurrence, and so on. Join links come
// in both forms (the long /l/meetup-join/... and, for a seeded share of meetings, the
// 2026 short /meet/<joinMeetingId>?p=...), and some events carry their Teams link
// outside onlineMeeting: in onlineMeetingUrl, the location or the invite in the body
// (Safe Links wrapped or not), one of them another organizer's. The same seed
// and `now` always give the same tenant, byte for byte.
//
// The returned object is the ground truth the server serves from and the tests
// compare against: tenant.users, tenant.events[userId] (one entry per occurrence as
// calendarView returns it), tenant.meetings[meetingId] (the onlineMeeting, its
// organizer and its reports with their records).

const MIN = 60 * 1000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

// ---------------------------------------------------------------- PRNG

function hashSeed(seed) {
  const s = String(seed);
  let h = 1779033703 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  return h >>> 0;
}

export function makeRng(seed) {
  let a = hashSeed(seed);
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    hex: (n) => {
      let s = '';
      for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(next() * 16)];
      return s;
    },
    bytes: (n) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
  };
  rng.guid = () =>
    `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-${'89ab'[rng.int(0, 3)]}${rng.hex(3)}-${rng.hex(12)}`;
  return rng;
}

// ---------------------------------------------------------------- time formats

function pad(n, w) {
  return String(n).padStart(w, '0');
}

// "2026-11-01T09:00:00.0000000": what calendarView writes in start/end (no zone).
export function graphLocal(ms) {
  return new Date(ms).toISOString().slice(0, 19) + '.0000000';
}

// A UTC instant with `digits` fractional digits (0..7) and a Z. `sub` adds
// 100-nanosecond ticks below the millisecond (0..9999) so 6 and 7 digits are real.
export function utcString(ms, digits = 7, sub = 0) {
  const base = new Date(ms).toISOString().slice(0, 19);
  if (digits === 0) return base + 'Z';
  const frac = pad(((ms % 1000) + 1000) % 1000, 3) + pad(sub, 4);
  return `${base}.${frac.slice(0, digits)}Z`;
}

// Microseconds since the epoch from any Graph/ISO time: 0-7 fractional digits,
// with Z, an offset, or no zone (read as UTC). Returns NaN when it is not a time.
export function parseTimeUs(s) {
  if (typeof s !== 'string') return NaN;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$/.exec(
    s.trim(),
  );
  if (!m) return NaN;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0));
  if (Number.isNaN(ms)) return NaN;
  const frac = (m[7] || '').padEnd(6, '0').slice(0, 6);
  let us = ms * 1000 + +frac;
  if (m[8] && m[8] !== 'Z' && m[8] !== 'z') {
    const sign = m[8][0] === '-' ? -1 : 1;
    const d = m[8].slice(1).replace(':', '');
    us -= sign * (+d.slice(0, 2) * 60 + +d.slice(2)) * 60 * 1e6;
  }
  return us;
}

export function parseTimeMs(s) {
  const us = parseTimeUs(s);
  return Number.isNaN(us) ? NaN : Math.floor(us / 1000);
}

// ---------------------------------------------------------------- people

const DOMAIN = 'contoso.onmicrosoft.com';

// The first mailboxes have hand-picked names (mixed-case UPNs, non-ASCII display
// names); larger tenants continue with generated ones.
const MAILBOX_NAMES = [
  ['Adele Vance', 'AdeleV@Contoso.OnMicrosoft.com'],
  ['Zoë Ångström', 'Zoe.Angstrom@contoso.onmicrosoft.com'],
  ['李雷', 'Li.Lei@CONTOSO.onmicrosoft.com'],
  ['Seán O’Connor', 'Sean.OConnor@Contoso.onmicrosoft.com'],
  ['Łukasz Żółć', 'Lukasz.Zolc@contoso.OnMicrosoft.com'],
];

// People who join meetings without a mailbox in the job's list.
const GUESTS = [
  { name: 'Megan Bowen', email: 'megan.bowen@fabrikam.com', external: true },
  { name: 'Nestor Wilke', email: 'NestorW@contoso.onmicrosoft.com' },
  { name: 'Zoë Ångström (Guest)', email: 'zoe.angstrom@tailspin.example', external: true },
  { name: '韩梅梅', email: 'han.meimei@contoso.onmicrosoft.com' },
  { name: 'Patti Fernandez', email: 'PattiF@contoso.onmicrosoft.com' },
  { name: 'José Müller-Lüdenscheidt', email: 'jose.muller@contoso.onmicrosoft.com' },
  { name: 'Irvin Sayers', email: 'IrvinS@contoso.onmicrosoft.com' },
];

const EXTERNAL_ORGANIZER = { name: 'Megan Bowen', address: 'megan.bowen@fabrikam.com' };

// ---------------------------------------------------------------- ids

function b64(buf) {
  return buf.toString('base64');
}

function eventId(rng) {
  // Exchange REST ids: base64url with '=' padding, e.g. "AAMkAGI2TG93AAA=".
  return 'AAMkAD' + b64(rng.bytes(64)).replace(/\+/g, '-').replace(/\//g, '_');
}

function iCalUId(rng) {
  return ('040000008200E00074C5B7101A82E00800000000' + rng.hex(72)).toUpperCase();
}

function changeKey(rng) {
  return b64(rng.bytes(20));
}

function alnumB64(rng, text) {
  // Base64 of a GUID's text, retried until it has no '+' or '/' (thread ids never do).
  for (;;) {
    const s = b64(Buffer.from(text())).replace(/=+$/, '');
    if (!/[+/]/.test(s)) return s;
  }
}

// ---------------------------------------------------------------- builder

export function generateTenant(options = {}) {
  const o = {
    seed: 1,
    mailboxes: 3,
    now: Date.now(),
    fillerMeetings: 2, // extra one-off Teams meetings with a report, per mailbox
    seriesWeeks: 9, // occurrences of the weekly series (6 weeks back to 2 ahead)
    bigReportRecords: 8, // records in the report that spans several pages
    shortLinks: 0.5, // share of meetings whose join link has the 2026 short form
    joinLinks: true, // the events whose Teams link sits outside onlineMeeting (appended)
    ...options,
  };
  const rng = makeRng(`tenant:${o.seed}`);
  // The link form of each meeting and its passcode are drawn from a stream of their
  // own, so that a tenant keeps every other value whatever share of short links it has.
  const formRng = makeRng(`link-form:${o.seed}`);
  const base62 = (n) => {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'[formRng.int(0, 61)];
    return s;
  };
  const now = o.now;
  const dayStart = Math.floor(now / DAY) * DAY;
  const nowHour = Math.floor((now - dayStart) / HOUR);
  // A time on day `d` (relative to today), at an hour kept at least 6 hours away
  // from "now" on neighbouring days, so that only the cases built for it sit near now.
  const slot = (d, hOff = 0, minute = 0) =>
    dayStart + d * DAY + ((nowHour + 12 + hOff) % 24) * HOUR + minute * MIN;

  const tenant = {
    seed: o.seed,
    now,
    tenantId: rng.guid(),
    domain: DOMAIN,
    clientId: rng.guid(),
    clientSecret: 'sbx~' + b64(rng.bytes(27)).replace(/[+/=]/g, 'Q'),
    users: [],
    events: {},
    meetings: {},
  };

  for (let i = 0; i < o.mailboxes; i++) {
    const [displayName, upn] =
      MAILBOX_NAMES[i] || [`Mailbox User ${pad(i, 4)}`, `MailboxUser${pad(i, 4)}@Contoso.OnMicrosoft.com`];
    const parts = displayName.split(' ');
    tenant.users.push({
      id: rng.guid(),
      userPrincipalName: upn,
      displayName,
      givenName: parts[0],
      surname: parts.slice(1).join(' ') || null,
      mail: upn,
      jobTitle: i % 2 ? 'Program Manager' : null,
      officeLocation: i % 3 ? `${10 + i}/${1000 + i}` : null,
      preferredLanguage: 'en-US',
      mobilePhone: null,
      businessPhones: i % 2 ? [] : [`+1 425 555 ${pad(100 + i, 4)}`],
    });
    tenant.events[tenant.users[i].id] = [];
  }

  const users = tenant.users;
  const K = users.length;
  // Other mailboxes who join a user's meetings: everyone in a small tenant, the
  // next few mailboxes in a large one (keeps generation linear in the tenant size).
  const colleagues = (u) => {
    if (K <= 8) return users.filter((x) => x.id !== u.id);
    const i = users.indexOf(u);
    return [1, 2, 3, 4, 5, 6, 7].map((k) => users[(i + k) % K]);
  };
  const guestIdentities = GUESTS.map((g) => ({
    name: g.name,
    email: g.email,
    id: rng.guid(),
    tenantId: g.external ? null : tenant.tenantId,
  }));

  // ------------------------------------------------------------ pieces

  const person = (u) => ({ name: u.displayName, address: u.mail });

  // `form`: 'long' (/l/meetup-join/...), 'short' (/meet/<joinMeetingId>?p=..., what
  // Teams gives scheduled meetings since January 2026), or drawn by seed.
  const newMeeting = (organizer, { subject, startMs, endMs, legacyId = false, quote = false, form = null }) => {
    let thread, threadId, id;
    for (;;) {
      thread = alnumB64(rng, () => rng.guid());
      threadId = `19:meeting_${thread}@thread.v2`;
      id = legacyId ? `${organizer.id}_${threadId}` : b64(Buffer.from(`1*${organizer.id}*0**${threadId}`)).replace(/=+$/, '');
      if (!id.includes('/')) break;
    }
    let joinWebUrl =
      `https://teams.microsoft.com/l/meetup-join/19%3ameeting_${thread}%40thread.v2/0` +
      `?context=%7b%22Tid%22%3a%22${tenant.tenantId}%22%2c%22Oid%22%3a%22${organizer.id}%22%7d`;
    if (quote) joinWebUrl += "&label=o'brien-review";
    const conferenceId = String(rng.int(100000000, 999999999));
    const joinMeetingId = String(rng.int(100000000000, 999999999999));
    // drawn for every meeting, so a forced form does not shift the seed's choices
    const drawn = formRng.next() < o.shortLinks ? 'short' : 'long';
    const passHash = base62(18);
    const passcode = base62(6);
    const short = !quote && (form ?? drawn) === 'short';
    // The short link carries the join meeting id and a hash of the passcode (no
    // thread, tenant or organizer): its meeting asks for that passcode.
    if (short) joinWebUrl = `https://teams.microsoft.com/meet/${joinMeetingId}?p=${passHash}`;
    const json = {
      id,
      creationDateTime: utcString(startMs - rng.int(2, 9) * DAY + rng.int(0, 86399999), 7, rng.int(0, 9999)),
      startDateTime: utcString(startMs, 6, rng.int(0, 9999)),
      endDateTime: utcString(endMs, 6, rng.int(0, 9999)),
      joinUrl: joinWebUrl,
      joinWebUrl,
      meetingCode: joinMeetingId,
      subject: rng.next() < 0.5 ? subject : null,
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
        dialinUrl: `https://dialin.teams.microsoft.com/${rng.guid()}?id=${conferenceId}`,
      },
      chatInfo: { threadId, messageId: '0', replyChainMessageId: null },
      joinInformation: {
        content: 'data:text/html,' + encodeURIComponent(`<a href="${joinWebUrl}">Join Microsoft Teams Meeting</a>`),
        contentType: 'html',
      },
      joinMeetingIdSettings: short ? { isPasscodeRequired: true, joinMeetingId, passcode } : { isPasscodeRequired: false, joinMeetingId, passcode: null },
      lobbyBypassSettings: { scope: 'organization', isDialInBypassEnabled: false },
      participants: {
        organizer: {
          upn: organizer.userPrincipalName,
          role: 'presenter',
          identity: {
            application: null,
            device: null,
            user: { id: organizer.id, displayName: null, tenantId: tenant.tenantId, identityProvider: 'AAD' },
          },
        },
        attendees: [],
        producers: [],
        contributors: [],
      },
    };
    const m = { json, organizerId: organizer.id, reports: [], form: short ? 'short' : 'long' };
    tenant.meetings[id] = m;
    return m;
  };

  const digitChoices = [0, 2, 3, 6, 7];
  const t = (ms, digits) => utcString(ms, digits ?? rng.pick(digitChoices), rng.int(0, 9999));

  // A report of one session: records for `people` (the organizer first), each with
  // 1-3 intervals inside the session. Options steer the awkward cases.
  const addReport = (meeting, organizer, sessionStart, sessionEnd, opt = {}) => {
    const people = [
      { name: organizer.displayName, email: organizer.mail, id: organizer.id, tenantId: tenant.tenantId, role: 'Organizer' },
    ];
    const n = opt.records ?? rng.int(2, 5);
    const pool = [
      ...colleagues(organizer).map((u) => ({ name: u.displayName, email: u.mail, id: u.id, tenantId: tenant.tenantId })),
      ...guestIdentities,
    ];
    for (let k = 0; people.length < n && k < pool.length; k++) {
      const p = pool[(k + rng.int(0, pool.length - 1)) % pool.length];
      if (people.some((q) => q.email === p.email)) continue;
      people.push({ ...p, role: rng.next() < 0.25 ? 'Presenter' : 'Attendee' });
    }
    if (opt.anonymous) {
      // An anonymous guest: no email, no identity id. record_key falls back to '#n'.
      people.push({ name: 'Guest (Unverified)', email: null, id: null, tenantId: null, role: 'Attendee' });
      // A dial-in caller: identity id but no email.
      people.push({ name: '+1 425-555-0100', email: null, id: `8:pstn:${rng.hex(12)}`, tenantId: null, role: 'Attendee' });
    }
    while (people.length < n) {
      const k = people.length;
      people.push({ name: `Participant ${k} 李`, email: `participant${k}@northwind.example`, id: rng.guid(), tenantId: null, role: 'Attendee' });
    }
    const withIds = opt.recordIds ?? rng.next() < 0.5;
    const len = sessionEnd - sessionStart;
    const records = people.map((p, idx) => {
      const nInt = opt.multiInterval && idx % 2 === 1 ? 3 : rng.next() < 0.2 ? 2 : 1;
      const intervals = [];
      let cursor = sessionStart + (idx === 0 ? rng.int(0, 20) * 1000 : rng.int(0, Math.floor(len / 4)));
      const share = Math.floor((sessionEnd - cursor) / nInt);
      let total = 0;
      for (let j = 0; j < nInt; j++) {
        const join = cursor + (j ? rng.int(10, 60) * 1000 : 0);
        const leave = Math.min(sessionEnd, join + Math.max(5000, share - rng.int(20, 90) * 1000));
        const dur = Math.round((leave - join) / 1000);
        intervals.push({ joinDateTime: t(join), leaveDateTime: t(leave), durationInSeconds: dur });
        total += dur;
        cursor = leave;
      }
      const rec = {};
      if (withIds) rec.id = p.id && idx % 4 !== 3 ? p.id : rng.guid();
      rec.emailAddress = p.email;
      rec.totalAttendanceInSeconds = total;
      rec.role = p.role;
      rec.identity = { id: p.id, displayName: p.name, tenantId: p.tenantId };
      rec.attendanceIntervals = intervals;
      return rec;
    });
    const report = {
      json: {
        id: rng.guid(),
        totalParticipantCount: records.length + (opt.optedOut ? 2 : 0),
        meetingStartDateTime: t(sessionStart, rng.pick([2, 3, 7])),
        meetingEndDateTime: t(sessionEnd, rng.pick([2, 3, 0])),
      },
      records,
      startMs: sessionStart,
      endMs: sessionEnd,
      pending: !!opt.pending,
      tag: opt.tag || null,
    };
    meeting.reports.push(report);
    return report;
  };

  const bodyHtml = (text, joinUrl) =>
    '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n' +
    `<div>${text}</div>\r\n` +
    (joinUrl
      ? '<div style="width:100%; height:20px"><span style="white-space:nowrap; color:gray; opacity:.36">________________________________________________________________________________</span>\r\n</div>\r\n' +
        `<div class="me-email-text"><a class="me-email-headline" href="${joinUrl.replace(/&/g, '&amp;')}" target="_blank" rel="noreferrer noopener">Join Microsoft Teams Meeting</a></div>\r\n`
      : '') +
    '</body>\r\n</html>\r\n';

  const bodyText = (text, joinUrl) =>
    joinUrl
      ? `${text}\r\n________________________________________________________________________________\r\nMicrosoft Teams meeting\r\nJoin on your computer, mobile app or room device\r\nClick here to join the meeting<${joinUrl}>\r\n`
      : text;

  // One calendar item as calendarView returns it. `kind` steers the meeting fields.
  const addEvent = (owner, e) => {
    const id = e.id || eventId(rng);
    const ck = changeKey(rng);
    const created = e.startMs - rng.int(1, 20) * DAY - rng.int(0, 86399999);
    const modified = Math.min(now - 1000, created + rng.int(1, 40) * HOUR);
    const organizer = e.organizer || person(owner);
    const isOrganizer = e.isOrganizer ?? true;
    let online = null;
    let provider = 'unknown';
    if (e.kind === 'teams') {
      provider = 'teamsForBusiness';
      online = e.joinUrl
        ? { joinUrl: e.joinUrl, conferenceId: String(rng.int(100000000, 999999999)), tollNumber: '+1 323-555-0166' }
        : null;
    } else if (e.kind === 'skype') {
      provider = 'skypeForBusiness';
      online = { joinUrl: e.joinUrl, conferenceId: null, tollNumber: null };
    }
    const isOnline = e.isOnlineMeeting ?? (e.kind === 'teams' || e.kind === 'skype');
    const attendees = (e.attendees || []).map((a, k) => ({
      type: k % 3 === 2 ? 'optional' : 'required',
      status: isOrganizer
        ? { response: k % 2 ? 'accepted' : 'none', time: k % 2 ? utcString(created + HOUR, 7, rng.int(0, 9999)) : '0001-01-01T00:00:00Z' }
        : { response: 'none', time: '0001-01-01T00:00:00Z' },
      emailAddress: { name: a.name, address: a.address },
    }));
    const text = e.text || `Agenda for ${e.subject}.`;
    const locName = e.location ?? (e.kind === 'teams' ? 'Microsoft Teams Meeting' : '');
    const location =
      e.locationJson ||
      (locName
        ? { displayName: locName, locationType: 'default', uniqueId: locName, uniqueIdType: 'private' }
        : { displayName: '', locationType: 'default', uniqueIdType: 'unknown', address: {}, coordinates: {} });
    const locations = e.locationsJson || (locName ? [location] : []);
    // e.body: a body written by another client ({html, text}: what Graph serves by
    // default and under Prefer: outlook.body-content-type="text")
    const html = e.body ? e.body.html : bodyHtml(text, online && online.joinUrl);
    const plain = e.body ? e.body.text : bodyText(text, online && online.joinUrl);
    const json = {
      '@odata.etag': `W/"${ck}"`,
      id,
      createdDateTime: utcString(created, 7, rng.int(0, 9999)),
      lastModifiedDateTime: utcString(modified, 7, rng.int(0, 9999)),
      changeKey: ck,
      categories: e.categories || [],
      transactionId: null,
      originalStartTimeZone: e.tz || 'UTC',
      originalEndTimeZone: e.tz || 'UTC',
      iCalUId: e.iCalUId || iCalUId(rng),
      uid: e.uid || e.iCalUId || iCalUId(rng),
      reminderMinutesBeforeStart: e.isAllDay ? 1080 : 15,
      isReminderOn: !e.isCancelled,
      hasAttachments: false,
      subject: e.subject,
      bodyPreview: plain.slice(0, 255),
      importance: 'normal',
      sensitivity: 'normal',
      isAllDay: !!e.isAllDay,
      isCancelled: !!e.isCancelled,
      isOrganizer,
      responseRequested: true,
      seriesMasterId: e.seriesMasterId || null,
      showAs: e.isAllDay ? 'free' : e.isCancelled ? 'free' : isOrganizer ? 'busy' : 'tentative',
      type: e.type || 'singleInstance',
      webLink: `https://outlook.office365.com/owa/?itemid=${encodeURIComponent(id)}&exvsurl=1&path=/calendar/item`,
      onlineMeetingUrl: e.onlineMeetingUrl ?? null,
      isOnlineMeeting: isOnline,
      onlineMeetingProvider: provider,
      allowNewTimeProposals: true,
      isDraft: false,
      hideAttendees: false,
      responseStatus: isOrganizer
        ? { response: 'organizer', time: '0001-01-01T00:00:00Z' }
        : { response: e.isCancelled ? 'none' : 'accepted', time: utcString(created + 2 * HOUR, 7, rng.int(0, 9999)) },
      body: { contentType: 'html', content: html },
      start: { dateTime: graphLocal(e.startMs), timeZone: 'UTC' },
      end: { dateTime: graphLocal(e.endMs), timeZone: 'UTC' },
      location,
      locations,
      recurrence: null,
      attendees,
      organizer: { emailAddress: { name: organizer.name, address: organizer.address } },
      onlineMeeting: online,
    };
    const rec = {
      json,
      textBody: plain,
      userId: owner.id,
      startMs: e.startMs,
      endMs: e.endMs,
      meetingId: e.meetingId || null,
      tag: e.tag || null,
      link: e.link || null,
    };
    tenant.events[owner.id].push(rec);
    return rec;
  };

  const guestsFor = (owner, n) => {
    const out = users.slice(0, 3).filter((u) => u.id !== owner.id).slice(0, 2).map(person);
    for (let k = 0; out.length < n; k++) out.push({ name: GUESTS[k % GUESTS.length].name, address: GUESTS[k % GUESTS.length].email });
    return out;
  };

  // A one-off Teams meeting organised by `owner`.
  const oneOff = (owner, subject, startMs, endMs, meetOpt = {}, evOpt = {}) => {
    const m = newMeeting(owner, { subject, startMs, endMs, ...meetOpt });
    const ev = addEvent(owner, {
      kind: 'teams',
      subject,
      startMs,
      endMs,
      joinUrl: m.json.joinWebUrl,
      meetingId: m.json.id,
      attendees: guestsFor(owner, 3),
      ...evOpt,
    });
    return { m, ev };
  };

  // ------------------------------------------------------------ per mailbox

  for (let i = 0; i < K; i++) {
    const u = users[i];
    const hs = i % 3; // spreads the mailboxes' meetings over different hours

    // 1. Weekly Teams series: one onlineMeeting, one report per held session.
    {
      const w = i % 4; // weekday offset; never day -3 (the ad-hoc session's day)
      const dur = 45 * MIN;
      const first = slot(w - 42, hs);
      const m = newMeeting(u, { subject: 'Weekly sync', startMs: first, endMs: first + dur });
      const masterId = eventId(rng);
      const seriesUid = iCalUId(rng);
      for (let k = 0; k < o.seriesWeeks; k++) {
        let s = slot(w - 42 + 7 * k, hs);
        let type = 'occurrence';
        if (k === 4) {
          s += 2 * HOUR; // moved occurrence
          type = 'exception';
        }
        const ev = addEvent(u, {
          kind: 'teams',
          subject: type === 'exception' ? 'Weekly sync (moved)' : 'Weekly sync',
          startMs: s,
          endMs: s + dur,
          type,
          seriesMasterId: masterId,
          uid: seriesUid,
          joinUrl: m.json.joinWebUrl,
          meetingId: m.json.id,
          attendees: guestsFor(u, 4),
          tag: `series-${k}`,
        });
        ev.seriesIndex = k;
        if (s + dur > now - 6 * HOUR) continue; // not held yet
        if (k === 3) continue; // a week nobody met: no report
        const early = k === 2 ? -10 * MIN : rng.int(-3, 6) * MIN;
        addReport(m, u, s + early, s + dur - rng.int(0, 8) * MIN, { tag: `series-${k}` });
      }
      // A session started outside any occurrence (the meeting link reused), inside
      // the first-run window, and one long before it.
      addReport(m, u, slot(-3, hs + 4, 7), slot(-3, hs + 4, 38), { tag: 'adhoc' });
      addReport(m, u, slot(-33, hs + 4, 2), slot(-33, hs + 4, 31), { tag: 'adhoc-old' });
    }

    // 2. One-off with a report longer than a page, several intervals, odd people.
    {
      const s = slot(-5, hs + 1);
      const { m } = oneOff(u, 'Quarterly review – Ünïcode ✓', s, s + HOUR, { legacyId: true }, { tag: 'big' });
      addReport(m, u, s + 2 * MIN, s + 58 * MIN, {
        records: o.bigReportRecords,
        multiInterval: true,
        anonymous: true,
        recordIds: false,
        optedOut: true,
        tag: 'big',
      });
    }

    // 3. One-off restarted after it ended: a singleInstance takes both reports.
    {
      const s = slot(-9, hs + 2);
      const { m } = oneOff(u, 'Design review', s, s + 30 * MIN, {}, { tag: 'restarted' });
      addReport(m, u, s + MIN, s + 29 * MIN, { recordIds: true, tag: 'restarted-1' });
      addReport(m, u, s + 3 * HOUR, s + 3 * HOUR + 12 * MIN, { recordIds: false, tag: 'restarted-2' });
    }

    // 4. Cross-team planning organised here; the previous mailbox attends it.
    {
      const s = slot(-7, hs + 3);
      const { m } = oneOff(u, 'Cross-team planning', s, s + 45 * MIN, {}, { tag: 'planning' });
      addReport(m, u, s + 2 * MIN, s + 44 * MIN, { tag: 'planning' });
      if (K > 1) {
        const attendee = users[(i + K - 1) % K];
        addEvent(attendee, {
          kind: 'teams',
          subject: 'Cross-team planning',
          startMs: s,
          endMs: s + 45 * MIN,
          joinUrl: m.json.joinWebUrl,
          meetingId: m.json.id,
          isOrganizer: false,
          organizer: person(u),
          attendees: [person(attendee)],
          tag: 'attending',
        });
      }
    }
    if (K === 1) {
      const s = slot(-7, hs + 5);
      addEvent(u, {
        kind: 'teams',
        subject: 'Fabrikam partner call',
        startMs: s,
        endMs: s + 30 * MIN,
        joinUrl: `https://teams.microsoft.com/l/meetup-join/19%3ameeting_${alnumB64(rng, () => rng.guid())}%40thread.v2/0?context=%7b%22Tid%22%3a%22${rng.guid()}%22%2c%22Oid%22%3a%22${rng.guid()}%22%7d`,
        isOrganizer: false,
        organizer: EXTERNAL_ORGANIZER,
        attendees: [person(u)],
        tag: 'attending',
      });
    }

    // 5. Teams meeting nobody joined: no reports.
    {
      const s = slot(-12, hs + 1);
      oneOff(u, 'Office hours', s, s + 30 * MIN, {}, { tag: 'no-reports' });
    }

    // 6. In progress: started 10 minutes ago.
    oneOff(u, 'Live: incident review', now - 10 * MIN, now + 20 * MIN, {}, { tag: 'in-progress' });

    // 7. Ended 20 minutes ago: inside the settle time; its report appears later.
    {
      const s = now - 50 * MIN;
      const { m } = oneOff(u, 'Stand-up (just ended)', s, now - 20 * MIN, {}, { tag: 'recent' });
      addReport(m, u, s + MIN, now - 21 * MIN, { pending: true, tag: 'recent' });
    }

    // 8. A cancelled meeting (the attendee's copy keeps it, flagged).
    {
      const s = slot(-2, hs + 5);
      addEvent(u, {
        kind: 'teams',
        subject: 'Canceled: Vendor sync',
        startMs: s,
        endMs: s + 30 * MIN,
        joinUrl: `https://teams.microsoft.com/l/meetup-join/19%3ameeting_${alnumB64(rng, () => rng.guid())}%40thread.v2/0?context=%7b%22Tid%22%3a%22${rng.guid()}%22%2c%22Oid%22%3a%22${rng.guid()}%22%7d`,
        isOrganizer: false,
        isCancelled: true,
        organizer: EXTERNAL_ORGANIZER,
        attendees: [person(u)],
        tag: 'cancelled',
      });
    }

    // 9. All-day event.
    addEvent(u, {
      kind: 'plain',
      subject: 'Company holiday',
      startMs: dayStart - 6 * DAY,
      endMs: dayStart - 5 * DAY,
      isAllDay: true,
      tag: 'all-day',
    });

    // 10. Online, but Skype for Business.
    {
      const s = slot(-4, hs + 2);
      addEvent(u, {
        kind: 'skype',
        subject: 'Legacy bridge call',
        startMs: s,
        endMs: s + 30 * MIN,
        joinUrl: `https://meet.lync.com/contoso/${u.userPrincipalName.split('@')[0].toLowerCase()}/${rng.hex(8).toUpperCase()}`,
        attendees: guestsFor(u, 2),
        tag: 'skype',
      });
    }

    // 11. Plain events.
    addEvent(u, { kind: 'plain', subject: 'Focus time', startMs: slot(-1, hs + 6), endMs: slot(-1, hs + 8), tag: 'plain' });
    addEvent(u, {
      kind: 'plain',
      subject: 'Lunch with Zoë',
      startMs: slot(-8, hs + 6),
      endMs: slot(-8, hs + 7),
      location: 'Café Ångström',
      attendees: guestsFor(u, 1),
      tag: 'plain',
    });
    addEvent(u, {
      kind: 'plain',
      subject: '1:1 李雷 / ' + u.displayName,
      startMs: slot(-15, hs + 2),
      endMs: slot(-15, hs + 2, 30),
      attendees: guestsFor(u, 1),
      categories: ['Blue category'],
      tag: 'plain',
    });

    // 12. A join URL with a quote in it.
    {
      const s = slot(-10, hs + 4);
      const { m } = oneOff(u, "O'Brien review", s, s + 30 * MIN, { quote: true }, { tag: 'quote' });
      addReport(m, u, s + MIN, s + 28 * MIN, { anonymous: true, tag: 'quote' });
    }

    // 13. A Teams event whose online meeting no longer exists.
    {
      const s = slot(-11, hs + 5);
      const { m } = oneOff(u, 'Deleted meeting', s, s + 30 * MIN, {}, { tag: 'no-meeting' });
      delete tenant.meetings[m.json.id];
      tenant.events[u.id][tenant.events[u.id].length - 1].meetingId = null;
    }

    // 14. Teams provider but not online (no join URL).
    addEvent(u, {
      kind: 'teams',
      subject: 'Room booking',
      startMs: slot(-13, hs + 3),
      endMs: slot(-13, hs + 4),
      isOnlineMeeting: false,
      joinUrl: null,
      location: 'Room 4.12',
      tag: 'teams-no-url',
    });

    // 15. Future meetings and a meeting long before the first window.
    oneOff(u, 'Planning (next week)', slot(3, hs + 1), slot(3, hs + 2), {}, { tag: 'future' });
    {
      const s = slot(-36, hs + 1);
      const { m } = oneOff(u, 'Kick-off', s, s + HOUR, {}, { tag: 'old' });
      addReport(m, u, s + MIN, s + 55 * MIN, { tag: 'old' });
    }

    // 16. Filler meetings, each with a report.
    for (let f = 0; f < o.fillerMeetings; f++) {
      const d = -rng.int(1, 28);
      const s = slot(d, hs + 7 + (f % 4), 15 * (f % 3));
      const { m } = oneOff(u, `Customer call #${f + 1}`, s, s + 30 * MIN, {}, { tag: 'filler' });
      addReport(m, u, s + rng.int(0, 4) * MIN, s + 29 * MIN, { tag: 'filler' });
    }
  }

  // ------------------------------------------------------------ links outside onlineMeeting

  // Events another client created or edited: `onlineMeeting` null, `isOnlineMeeting`
  // false, and the Teams link in `onlineMeetingUrl`, the location or the body. They are
  // real meetings with reports (SPEC 4), except a link to someone else's meeting.
  // Appended after every mailbox's other events, so that those keep their values.
  // Each such event's `link` says where the link is and what the lookup finds.
  if (o.joinLinks) {
    const safeLink = (url, recipient) =>
      'https://nam02.safelinks.protection.outlook.com/?url=' +
      encodeURIComponent(url) +
      `&data=05%7C02%7C${encodeURIComponent(recipient)}%7C${rng.hex(32)}%7C${tenant.tenantId.replace(/-/g, '')}%7C0%7C0%7C638${rng.int(100000000, 999999999)}${rng.int(100000, 999999)}%7CUnknown%7CTWFpbGZsb3d8eyJFbXB0eU1hcGkiOnRydWUsIlYiOiIwLjAuMDAwMCIsIlAiOiJXaW4zMiIsIkFOIjoiTWFpbCIsIldUIjoyfQ%3D%3D%7C0%7C%7C%7C` +
      `&sdata=${encodeURIComponent(b64(rng.bytes(32)))}&reserved=0`;

    // A Teams invite as Outlook writes it since 2024 ("Need help?" first, then the
    // join link, the meeting id and passcode, the organizer's options), as HTML and
    // as Graph renders it under outlook.body-content-type="text" (a link becomes
    // "label<url>"). With `safe`, every link is wrapped by Safe Links.
    const invite = (text, { join, joinMeetingId, passcode, organizerId, threadId, safe = null }) => {
      const wrap = safe ? (x) => safeLink(x, safe) : (x) => x;
      const links = {
        help: wrap('https://aka.ms/JoinTeamsMeeting?omkt=en-US'),
        join: wrap(join),
        options: wrap(
          `https://teams.microsoft.com/meetingOptions/?organizerId=${organizerId}&tenantId=${tenant.tenantId}` +
            `&threadId=${threadId.replace(':', '_')}&messageId=0&language=en-US`,
        ),
      };
      const a = (cls, href, label) =>
        `<a class="${cls}" href="${href.replace(/&/g, '&amp;')}" target="_blank" rel="noreferrer noopener">${label}</a>`;
      const spaced = joinMeetingId.replace(/(\d{3})(?=\d)/g, '$1 ');
      const line = '________________________________________________________________________________';
      const html =
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n' +
        `<div>${text}</div>\r\n<div style="width:100%"><span style="white-space:nowrap; color:#5F5F5F; opacity:.36">${line}</span></div>\r\n` +
        `<div class="me-email-text" lang="en-US"><div style="margin-bottom:6px"><span class="me-email-text-secondary">Microsoft Teams</span> ${a('me-email-link', links.help, 'Need help?')}</div>\r\n` +
        `<div style="margin-bottom:6px">${a('me-email-headline', links.join, 'Join the meeting now')}</div>\r\n` +
        `<div><span class="me-email-text-secondary">Meeting ID: </span><span class="me-email-text">${spaced}</span></div>\r\n` +
        (passcode ? `<div><span class="me-email-text-secondary">Passcode: </span><span class="me-email-text">${passcode}</span></div>\r\n` : '') +
        `<div style="margin-top:20px"><span class="me-email-text-secondary">For organizers: </span>${a('me-email-link', links.options, 'Meeting options')}</div>\r\n` +
        `</div>\r\n<div style="width:100%"><span style="white-space:nowrap; color:#5F5F5F; opacity:.36">${line}</span></div>\r\n</body>\r\n</html>\r\n`;
      const plain =
        `${text}\r\n\r\n${line}\r\nMicrosoft Teams Need help?<${links.help}>\r\nJoin the meeting now<${links.join}>\r\n` +
        `Meeting ID: ${spaced}\r\n` +
        (passcode ? `Passcode: ${passcode}\r\n` : '') +
        `________________________________\r\nFor organizers: Meeting options<${links.options}>\r\n${line}\r\n`;
      return { html, text: plain };
    };
    const inviteOf = (m, text, safe = null) =>
      invite(text, {
        join: m.json.joinWebUrl,
        joinMeetingId: m.json.joinMeetingIdSettings.joinMeetingId,
        passcode: m.json.joinMeetingIdSettings.passcode,
        organizerId: m.organizerId,
        threadId: m.json.chatInfo.threadId,
        safe,
      });
    const agenda = (text) => ({ html: bodyHtml(text, null), text });
    const teamsPlace = { displayName: 'Microsoft Teams Meeting', locationType: 'default', uniqueId: 'Microsoft Teams Meeting', uniqueIdType: 'private' };

    for (let i = 0; i < K; i++) {
      const u = users[i];
      const hs = i % 3;
      // A meeting of u's whose event lost its onlineMeeting; `place` puts the link.
      const elsewhere = (subject, d, hOff, form, source, place) => {
        const s = slot(d, hs + hOff);
        const m = newMeeting(u, { subject, startMs: s, endMs: s + 30 * MIN, form });
        const url = m.json.joinWebUrl;
        const ev = addEvent(u, {
          kind: 'plain',
          subject,
          startMs: s,
          endMs: s + 30 * MIN,
          attendees: guestsFor(u, 3),
          meetingId: m.json.id,
          tag: `link-${source}`,
          link: { source, url, meetingId: m.json.id, form: m.form },
          ...place(m, url),
        });
        return { m, ev, s };
      };

      // onlineMeetingUrl, set by a scheduling client; the body holds the invite too,
      // and onlineMeetingUrl comes first
      {
        const { m, s } = elsewhere('Supplier check-in', -6, 1, 'long', 'onlineMeetingUrl', (mt, url) => ({
          onlineMeetingUrl: url,
          body: inviteOf(mt, 'Supplier check-in.'),
        }));
        addReport(m, u, s + MIN, s + 27 * MIN, { tag: 'link-onlineMeetingUrl' });
      }
      // the link pasted as the location
      {
        const { m, s } = elsewhere('Roadmap walkthrough', -8, 3, 'short', 'location.displayName', (mt, url) => {
          const loc = { displayName: url, locationType: 'default', uniqueId: url, uniqueIdType: 'private' };
          return { locationJson: loc, locationsJson: [{ ...loc }], body: agenda('Roadmap walkthrough; the link is in the location.') };
        });
        addReport(m, u, s + 2 * MIN, s + 29 * MIN, { tag: 'link-location.displayName' });
      }
      // a room and the Teams meeting as two locations; the body's links are wrapped by
      // Safe Links; restarted after it ended (a one-off takes both reports)
      {
        const { m, s } = elsewhere('Budget review', -14, 4, 'long', 'locations[].locationUri', (mt, url) => ({
          locationJson: { displayName: 'Room 4.12; Microsoft Teams Meeting', locationType: 'default', uniqueIdType: 'unknown', address: {}, coordinates: {} },
          locationsJson: [
            { displayName: 'Room 4.12', locationType: 'default', uniqueId: 'Room 4.12', uniqueIdType: 'private' },
            { displayName: 'Microsoft Teams Meeting', locationType: 'default', locationUri: url, uniqueId: 'Microsoft Teams Meeting', uniqueIdType: 'private' },
          ],
          body: inviteOf(mt, 'Budget review.', u.mail),
        }));
        addReport(m, u, s + MIN, s + 26 * MIN, { tag: 'link-locations[].locationUri' });
        addReport(m, u, s + 2 * HOUR, s + 2 * HOUR + 9 * MIN, { tag: 'link-locations[].locationUri-2' });
      }
      // only the body: a forwarded invite (HTML, &amp; in the organizer's links)
      {
        const { m, s } = elsewhere('Release readiness', -16, 2, 'short', 'body.content', (mt) => ({
          locationJson: { ...teamsPlace },
          locationsJson: [{ ...teamsPlace }],
          body: inviteOf(mt, 'Release readiness, forwarded.'),
        }));
        addReport(m, u, s + MIN, s + 25 * MIN, { anonymous: true, tag: 'link-body.content' });
      }
      // only the body, every link wrapped by Safe Links
      {
        const { m, ev, s } = elsewhere('Security briefing', -19, 0, 'long', 'body.content', (mt) => ({
          body: inviteOf(mt, 'Security briefing.', u.mail),
        }));
        ev.tag = 'link-safelinks';
        addReport(m, u, s + 3 * MIN, s + 28 * MIN, { tag: 'link-safelinks' });
      }
      // Another organizer's meeting pasted into an event this mailbox organizes: the
      // lookup under this mailbox gets 403 (a colleague's) or nothing (another tenant's).
      if (K > 1) {
        const other = users[(i + 1) % K];
        const theirs = tenant.events[other.id].find((e) => e.tag === 'planning');
        const m = tenant.meetings[theirs.meetingId];
        const s = slot(-4, hs + 1);
        addEvent(u, {
          kind: 'plain',
          subject: 'Prep: cross-team planning',
          startMs: s,
          endMs: s + 30 * MIN,
          attendees: guestsFor(u, 2),
          body: inviteOf(m, `Prep before ${other.displayName}'s planning; their invite below.`),
          tag: 'link-other-organizer',
          link: { source: 'body.content', url: m.json.joinWebUrl, meetingId: null, lookup: 403 },
        });
      }
      {
        const url = `https://teams.microsoft.com/meet/${rng.int(100000000000, 999999999999)}?p=${base62(18)}`;
        const s = slot(-5, hs + 2);
        addEvent(u, {
          kind: 'plain',
          subject: 'Fabrikam sync (their link)',
          startMs: s,
          endMs: s + 30 * MIN,
          attendees: [EXTERNAL_ORGANIZER, person(u)],
          body: { html: bodyHtml('Fabrikam hosts: join at', url), text: bodyText('Fabrikam hosts: join at', url) },
          tag: 'link-foreign',
          link: { source: 'body.content', url, meetingId: null, lookup: 'empty' },
        });
      }
      // An attendee's copy with the link only in the body: not organized, not looked up.
      {
        const url = `https://teams.microsoft.com/meet/${rng.int(100000000000, 999999999999)}?p=${base62(18)}`;
        const s = slot(-17, hs + 3);
        addEvent(u, {
          kind: 'plain',
          subject: 'Fabrikam quarterly (invited)',
          startMs: s,
          endMs: s + 45 * MIN,
          isOrganizer: false,
          organizer: EXTERNAL_ORGANIZER,
          attendees: [person(u)],
          body: { html: bodyHtml('Quarterly update from Fabrikam.', url), text: bodyText('Quarterly update from Fabrikam.', url) },
          tag: 'link-attending',
          link: { source: null, url, meetingId: null, lookup: 'none' },
        });
      }
    }
  }

  for (const id of Object.keys(tenant.events)) {
    tenant.events[id].sort((a, b) => a.startMs - b.startMs || (a.json.id < b.json.id ? -1 : 1));
  }
  return tenant;
}

// ---------------------------------------------------------------- lookups

// Lookups keep an index on the tenant object (not enumerable, so not in the truth
// JSON), rebuilt when users or meetings were added or removed.
// Lookups by UPN, id and join URL. The index is built once; a lookup that misses
// rebuilds it only when users or meetings were added or removed since (a test may
// change the tenant after generation), so a request costs one Map.get however large
// the tenant, and a miss (an unknown user, a deleted meeting) costs a count.
function signature(tenant) {
  return `${tenant.users.length}/${Object.keys(tenant.meetings).length}`;
}

function index(tenant, onMiss = false) {
  let ix = tenant[INDEX];
  if (ix && !(onMiss && ix.sig !== signature(tenant))) return ix;
  ix = { sig: signature(tenant), users: new Map(), urls: new Map() };
  for (const u of tenant.users) {
    ix.users.set(u.id.toLowerCase(), u);
    ix.users.set(u.userPrincipalName.toLowerCase(), u);
  }
  for (const m of Object.values(tenant.meetings)) ix.urls.set(m.json.joinWebUrl, m);
  Object.defineProperty(tenant, INDEX, { value: ix, configurable: true, enumerable: false, writable: true });
  return ix;
}
const INDEX = Symbol('tenant index');

function lookup(tenant, map, key) {
  return index(tenant)[map].get(key) || index(tenant, true)[map].get(key) || null;
}

export function findUser(tenant, key) {
  if (!key) return null;
  return lookup(tenant, 'users', String(key).toLowerCase());
}

export function meetingByJoinUrl(tenant, url) {
  return lookup(tenant, 'urls', url);
}

// The reports Graph lists for a meeting: published ones, newest first, at most 50.
export function visibleReports(meeting) {
  return meeting.reports
    .filter((r) => !r.pending)
    .sort((a, b) => b.startMs - a.startMs)
    .slice(0, 50);
}

// A plain-JSON copy of the ground truth (for the CLI's file and /_sandbox/truth).
export function truthJson(tenant) {
  return {
    seed: tenant.seed,
    now: new Date(tenant.now).toISOString(),
    tenantId: tenant.tenantId,
    clientId: tenant.clientId,
    users: tenant.users,
    events: Object.fromEntries(
      Object.entries(tenant.events).map(([uid, evs]) => [
        uid,
        evs.map((e) => ({ tag: e.tag, meetingId: e.meetingId, event: e.json })),
      ]),
    ),
    meetings: Object.fromEntries(
      Object.entries(tenant.meetings).map(([id, m]) => [
        id,
        {
          organizerId: m.organizerId,
          meeting: m.json,
          reports: m.reports.map((r) => ({ tag: r.tag, pending: r.pending, report: r.json, attendanceRecords: r.records })),
        },
      ]),
    ),
  };
}

export const TIME = { MIN, HOUR, DAY };

// ---------------------------------------------------------------- directory: groups
//
// Groups are opt-in: a test adds users (with or without a mailbox, disabled, guests)
// and groups (nested by naming another group among the members) after generation.
// A user added here has no calendar items; one with `mailbox: false` has none at all
// (calendarView answers 404 MailboxNotEnabledForRESTAPI, as Exchange Online does for
// an unlicensed account). Ids come from a stream of their own, so adding the same
// directory to the same tenant always gives the same ids.

function directoryRng(tenant) {
  if (!tenant[DIR_RNG]) Object.defineProperty(tenant, DIR_RNG, { value: makeRng(`directory:${tenant.seed}`), enumerable: false });
  return tenant[DIR_RNG];
}
const DIR_RNG = Symbol('directory rng');

export function addUser(tenant, { upn, displayName, accountEnabled = true, userType = 'Member', mailbox = true }) {
  const rng = directoryRng(tenant);
  const name = displayName || upn.split('@')[0];
  const user = {
    id: rng.guid(),
    userPrincipalName: upn,
    displayName: name,
    givenName: name.split(' ')[0],
    surname: name.split(' ').slice(1).join(' ') || null,
    mail: mailbox ? upn : null,
    jobTitle: null,
    officeLocation: null,
    preferredLanguage: 'en-US',
    mobilePhone: null,
    businessPhones: [],
  };
  // kept off the enumerable fields, so the users generation made stay as they were
  Object.defineProperty(user, 'directory', { value: { accountEnabled, userType, mailbox }, enumerable: false });
  tenant.users.push(user);
  if (mailbox) tenant.events[user.id] = [];
  return user;
}

// The directory facts of a user (generated users are enabled members with a mailbox).
export function directoryOf(user) {
  return user.directory || { accountEnabled: true, userType: 'Member', mailbox: true };
}

// members: users (objects, UPNs or ids) and groups (objects) in the order Graph lists them.
export function addGroup(tenant, { displayName, mail = null, members = [] }) {
  const rng = directoryRng(tenant);
  if (!tenant.groups) Object.defineProperty(tenant, 'groups', { value: [], enumerable: false, writable: true });
  const group = { id: rng.guid(), displayName, mail, mailEnabled: !!mail, members: [] };
  tenant.groups.push(group);
  setGroupMembers(tenant, group, members);
  return group;
}

export function setGroupMembers(tenant, group, members) {
  group.members = members.map((m) => {
    if (m && m.members) return { kind: 'group', id: m.id };
    const u = typeof m === 'object' ? m : findUser(tenant, m);
    if (!u) throw new Error(`no such user ${m}`);
    return { kind: 'user', id: u.id };
  });
}

export function findGroup(tenant, id) {
  return (tenant.groups || []).find((g) => g.id.toLowerCase() === String(id).toLowerCase()) || null;
}

export function groupsByMail(tenant, mail) {
  return (tenant.groups || []).filter((g) => g.mail && g.mail.toLowerCase() === String(mail).toLowerCase());
}

// The users a group holds directly or through nested groups, each once, in the
// order a depth-first walk meets them (a cycle of groups ends the walk there).
export function transitiveUsers(tenant, group) {
  const out = [];
  const seenUsers = new Set();
  const seenGroups = new Set();
  const walk = (g) => {
    if (seenGroups.has(g.id)) return;
    seenGroups.add(g.id);
    for (const m of g.members) {
      if (m.kind === 'group') {
        const inner = findGroup(tenant, m.id);
        if (inner) walk(inner);
      } else if (!seenUsers.has(m.id)) {
        seenUsers.add(m.id);
        const u = findUser(tenant, m.id);
        if (u) out.push(u);
      }
    }
  };
  walk(group);
  return out;
}
