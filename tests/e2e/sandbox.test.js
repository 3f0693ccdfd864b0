// The sandbox Graph itself: its responses carry the fields of Microsoft's documented
// samples (tests/fixtures/graph-samples, each with its source in SOURCES.md), its paging, quoting, auth and fault switches do
// what the tests of the job rely on, and its tenant is deterministic.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { startSandbox } from '../sandbox/graph.js';
import { generateTenant, parseTimeUs, truthJson } from '../sandbox/tenant.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const sampleDir = path.resolve(here, '../fixtures/graph-samples');
const sample = (name) => JSON.parse(fs.readFileSync(path.join(sampleDir, name), 'utf8'));

const T = { timeout: 30000 };

function keysOf(o) {
  return Object.keys(o).sort();
}
function assertHasKeys(obj, sampleObj, what, ignore = []) {
  for (const k of Object.keys(sampleObj)) {
    if (ignore.includes(k)) continue;
    assert.ok(Object.prototype.hasOwnProperty.call(obj, k), `${what}: missing field '${k}' (have ${keysOf(obj).join(',')})`);
    const sv = sampleObj[k];
    const v = obj[k];
    if (sv !== null && v !== null && typeof sv === 'object' && !Array.isArray(sv)) {
      assert.equal(typeof v, 'object', `${what}.${k} should be an object`);
    }
    if (Array.isArray(sv)) assert.ok(Array.isArray(v), `${what}.${k} should be an array`);
    if (typeof sv === 'boolean' || typeof sv === 'number') assert.equal(typeof v, typeof sv, `${what}.${k} type`);
  }
}

let sb;
let token;
const H = () => ({ authorization: `Bearer ${token}`, prefer: 'outlook.timezone="UTC"' });

async function getToken(s, extra = {}) {
  const t = s.tenant;
  const r = await fetch(`${s.url}/${t.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: t.clientId, scope: `${s.url}/.default`, client_secret: t.clientSecret, ...extra }),
  });
  return { status: r.status, body: await r.json() };
}

async function get(url, headers = H()) {
  const r = await fetch(url, { headers });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, headers: r.headers, text, json };
}

async function allPages(url, key = '@odata.nextLink') {
  const out = [];
  let pages = 0;
  while (url) {
    const r = await get(url);
    assert.equal(r.status, 200, `GET ${url}: ${r.text}`);
    out.push(...r.json.value);
    url = r.json[key];
    if (++pages > 100) throw new Error('too many pages');
  }
  return { items: out, pages };
}

const windowQs = (ws, we) => `startDateTime=${encodeURIComponent(new Date(ws).toISOString())}&endDateTime=${encodeURIComponent(new Date(we).toISOString())}`;
const filterUrl = (s, userId, joinUrl) =>
  `${s.url}/v1.0/users/${userId}/onlineMeetings?$filter=${encodeURIComponent(`JoinWebUrl eq '${joinUrl.replace(/'/g, "''")}'`)}`;

describe('sandbox graph', () => {
  before(async () => {
    sb = await startSandbox({ seed: 11, mailboxes: 3, latencyMs: 0 });
    const r = await getToken(sb);
    token = r.body.access_token;
  });
  after(async () => {
    await sb?.close();
  });

  test('token endpoint: success and error shapes', T, async () => {
    const ok = await getToken(sb);
    assert.equal(ok.status, 200);
    assertHasKeys(ok.body, sample('token.example.json'), 'token');
    assert.equal(ok.body.token_type, 'Bearer');
    assert.equal(ok.body.expires_in, 3599);
    assert.equal(typeof ok.body.ext_expires_in, 'number');

    const errSample = sample('token-error.example.json');
    const bad = await getToken(sb, { client_secret: 'wrong' });
    assert.equal(bad.status, 401);
    assertHasKeys(bad.body, errSample, 'token error');
    assert.equal(bad.body.error, 'invalid_client');
    assert.match(bad.body.error_description, /^AADSTS7000215: /);
    assert.match(bad.body.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);

    const scope = await getToken(sb, { scope: 'https://foo.microsoft.com/.default' });
    assert.equal(scope.status, 400);
    assert.equal(scope.body.error, 'invalid_scope');
    assert.deepEqual(scope.body.error_codes, [70011]);

    const client = await getToken(sb, { client_id: '00000000-0000-0000-0000-000000000000' });
    assert.equal(client.status, 400);
    assert.equal(client.body.error, 'unauthorized_client');
  });

  test('token lifetime, expiry and revocation give 401 InvalidAuthenticationToken', T, async () => {
    const s2 = await startSandbox({ seed: 2, mailboxes: 1, tokenLifetimeSeconds: 1, latencyMs: 0 });
    try {
      const t = await getToken(s2);
      assert.equal(t.body.expires_in, 1);
      const u = s2.tenant.users[0];
      const url = `${s2.url}/v1.0/users/${u.id}?$select=id,userPrincipalName`;
      const h = { authorization: `Bearer ${t.body.access_token}` };
      assert.equal((await get(url, h)).status, 200);
      await new Promise((r) => setTimeout(r, 1100));
      const exp = await get(url, h);
      assert.equal(exp.status, 401);
      assertHasKeys(exp.json.error, sample('error-invalid-token.example.json').error, 'invalid token error');
      assert.equal(exp.json.error.code, 'InvalidAuthenticationToken');
      const none = await get(url, {});
      assert.equal(none.status, 401);
      const log = s2.requests.filter((e) => e.kind === 'user');
      assert.deepEqual(
        log.map((e) => [e.headers.authorization, e.headers.tokenId, e.status]),
        [
          [true, 't1', 200],
          [true, 't1', 401],
          [false, null, 401],
        ],
      );
    } finally {
      await s2.close();
    }
    const t2 = (await getToken(sb)).body.access_token;
    const u = sb.tenant.users[0];
    sb.revokeTokens();
    assert.equal((await get(`${sb.url}/v1.0/users/${u.id}`, { authorization: `Bearer ${t2}` })).status, 401);
    token = (await getToken(sb)).body.access_token;
    assert.equal((await get(`${sb.url}/v1.0/users/${u.id}`)).status, 200);
  });

  test('user lookup by UPN (any case) and by id; unknown user is 404', T, async () => {
    const u = sb.tenant.users[1];
    for (const key of [u.userPrincipalName, u.userPrincipalName.toUpperCase(), u.id]) {
      const r = await get(`${sb.url}/v1.0/users/${encodeURIComponent(key)}?$select=id,userPrincipalName`);
      assert.equal(r.status, 200);
      assert.deepEqual(keysOf(r.json), ['@odata.context', 'id', 'userPrincipalName']);
      assert.equal(r.json.id, u.id);
      assert.equal(r.json.userPrincipalName, u.userPrincipalName);
    }
    const r = await get(`${sb.url}/v1.0/users/nobody%40contoso.onmicrosoft.com/calendarView?${windowQs(0, Date.now())}`);
    assert.equal(r.status, 404);
    assertHasKeys(r.json.error, sample('error-invalid-user.example.json').error, 'invalid user');
    assert.equal(r.json.error.code, 'ErrorInvalidUser');
  });

  test('calendarView: fields of a real event, UTC times, expansion, paging, Preference-Applied', T, async () => {
    const u = sb.tenant.users[0];
    const now = Date.now();
    const ws = now - 30 * 86400e3;
    const first = await get(`${sb.url}/v1.0/users/${encodeURIComponent(u.userPrincipalName)}/calendarView?${windowQs(ws, now)}&$top=5`);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('preference-applied'), 'outlook.timezone="UTC"');
    assert.ok(first.json['@odata.context']);
    assert.match(first.json['@odata.nextLink'], /^http:\/\/127\.0\.0\.1:\d+\/v1\.0\/users\/.+calendarView\?.*%24skip=5/);
    assert.equal(first.json.value.length, 5);
    const { items, pages } = await allPages(`${sb.url}/v1.0/users/${encodeURIComponent(u.userPrincipalName)}/calendarView?${windowQs(ws, now)}&$top=5`);
    const truth = sb.tenant.events[u.id].filter((e) => e.startMs < now && e.endMs > ws);
    assert.equal(items.length, truth.length);
    assert.equal(pages, Math.ceil(truth.length / 5));
    assert.deepEqual(items.map((e) => e.id), truth.map((e) => e.json.id));
    // default page size is 10
    const def = await get(`${sb.url}/v1.0/users/${u.id}/calendarView?${windowQs(ws, now)}`);
    assert.equal(def.json.value.length, Math.min(10, truth.length));

    const evSample = sample('event-online-meeting.example.json');
    const cvSample = sample('calendarView.example.json').value[0];
    const teams = items.find((e) => e.onlineMeetingProvider === 'teamsForBusiness' && e.onlineMeeting);
    assertHasKeys(teams, evSample, 'event', ['@odata.context']);
    assertHasKeys(teams, cvSample, 'calendarView event');
    for (const k of ['transactionId', 'uid', 'isDraft', 'hideAttendees', 'location', 'locations', 'recurrence'])
      assert.ok(k in teams, `event lacks ${k}`);
    assertHasKeys(teams.onlineMeeting, evSample.onlineMeeting, 'event.onlineMeeting');
    assertHasKeys(teams.organizer.emailAddress, evSample.organizer.emailAddress, 'organizer');
    assertHasKeys(teams.attendees[0], evSample.attendees[0], 'attendee');
    assert.equal(teams.onlineMeetingUrl, null);
    for (const e of items) {
      assert.match(e.start.dateTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}$/);
      assert.equal(e.start.timeZone, 'UTC');
      assert.match(e.createdDateTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
      assert.match(e['@odata.etag'], /^W\/"/);
      assert.notEqual(e.type, 'seriesMaster');
      assert.ok(['occurrence', 'exception', 'singleInstance'].includes(e.type));
      // overlap rule
      assert.ok(parseTimeUs(e.start.dateTime) < now * 1000 && parseTimeUs(e.end.dateTime) > ws * 1000);
    }
    const occ = items.filter((e) => e.seriesMasterId);
    assert.ok(occ.length >= 3, 'series expanded into occurrences');
    assert.equal(new Set(occ.map((e) => e.seriesMasterId)).size, 1);
    assert.equal(new Set(occ.map((e) => e.onlineMeeting.joinUrl)).size, 1, 'a series shares one join URL');
    assert.ok(occ.some((e) => e.type === 'exception'));
    assert.ok(items.some((e) => e.isCancelled));
    assert.ok(items.some((e) => e.isAllDay));
    assert.ok(items.some((e) => e.onlineMeetingProvider === 'skypeForBusiness'));
    assert.ok(items.some((e) => !e.isOrganizer && e.onlineMeetingProvider === 'teamsForBusiness'));

    // body as text on request, $select drops created/lastModified
    const txt = await get(`${sb.url}/v1.0/users/${u.id}/calendarView?${windowQs(ws, now)}`, {
      ...H(),
      prefer: 'outlook.timezone="UTC", outlook.body-content-type="text"',
    });
    assert.equal(txt.json.value[0].body.contentType, 'text');
    assert.match(txt.headers.get('preference-applied'), /outlook\.body-content-type="text"/);
    const sel = await get(`${sb.url}/v1.0/users/${u.id}/calendarView?${windowQs(ws, now)}&$select=subject,createdDateTime,start`);
    assert.deepEqual(keysOf(sel.json.value[0]), ['@odata.etag', 'id', 'start', 'subject']);
  });

  test('calendarView: missing window or bad $top is 400', T, async () => {
    const u = sb.tenant.users[0];
    const r = await get(`${sb.url}/v1.0/users/${u.id}/calendarView?startDateTime=2026-01-01T00:00:00Z`);
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'ErrorInvalidParameter');
    const r2 = await get(`${sb.url}/v1.0/users/${u.id}/calendarView?${windowQs(0, 1e12)}&$top=1001`);
    assert.equal(r2.status, 400);
  });

  test('onlineMeetings by JoinWebUrl: quoting, organizer only, object id only, access policy', T, async () => {
    const u = sb.tenant.users[0];
    const other = sb.tenant.users[1];
    const meetings = Object.values(sb.tenant.meetings).filter((m) => m.organizerId === u.id);
    const quoted = meetings.find((m) => m.json.joinWebUrl.includes("'"));
    assert.ok(quoted, 'tenant has a join URL with a quote');
    const r = await get(filterUrl(sb, u.id, quoted.json.joinWebUrl));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.value.length, 1);
    const mSample = sample('onlineMeetings-filter.example.json').value[0];
    assertHasKeys(r.json.value[0], mSample, 'onlineMeeting');
    assertHasKeys(r.json.value[0].participants.organizer.identity.user, mSample.participants.organizer.identity.user, 'organizer identity');
    assert.equal(r.json.value[0].joinWebUrl, quoted.json.joinWebUrl);
    // an undoubled quote is a syntax error
    const bad = await get(`${sb.url}/v1.0/users/${u.id}/onlineMeetings?$filter=${encodeURIComponent(`JoinWebUrl eq '${quoted.json.joinWebUrl}'`)}`);
    assert.equal(bad.status, 400);
    // the URL not encoded once more does not match (decoded once, compared exactly)
    // a long link: its escapes (%3a, %7b) are what decoding the value once would change
    const plain = meetings.find((m) => !m.json.joinWebUrl.includes("'") && m.json.joinWebUrl.includes('%'));
    const raw = await get(`${sb.url}/v1.0/users/${u.id}/onlineMeetings?$filter=JoinWebUrl%20eq%20'${plain.json.joinWebUrl.replace(/&/g, '%26')}'`);
    assert.equal(raw.status, 200);
    assert.deepEqual(raw.json.value, []);
    // unknown URL: empty value
    const none = await get(filterUrl(sb, u.id, 'https://teams.microsoft.com/l/meetup-join/nothing'));
    assert.deepEqual(none.json.value, []);
    // not the organizer: 403
    const notOrg = await get(filterUrl(sb, other.id, plain.json.joinWebUrl));
    assert.equal(notOrg.status, 403);
    // a UPN in the path is refused
    const upn = await get(filterUrl(sb, encodeURIComponent(u.userPrincipalName), plain.json.joinWebUrl));
    assert.equal(upn.status, 400);
    // access policy missing
    sb.setPolicyMissing(u.userPrincipalName, true);
    try {
      const pol = await get(filterUrl(sb, u.id, plain.json.joinWebUrl));
      assert.equal(pol.status, 403);
      assert.equal(pol.json.error.code, 'Forbidden');
      assert.equal(pol.json.error.message, 'No Application Access Policy found for this app');
    } finally {
      sb.setPolicyMissing(u.userPrincipalName, false);
    }
  });

  test('onlineMeetings by JoinWebUrl: the long and the 2026 short link form', T, async () => {
    const meetings = Object.values(sb.tenant.meetings);
    const long = meetings.filter((m) => m.json.joinWebUrl.includes('/l/meetup-join/'));
    const short = meetings.filter((m) => m.json.joinWebUrl.includes('/meet/'));
    assert.ok(long.length > 0 && short.length > 0, `the tenant has both forms (${long.length} long, ${short.length} short)`);
    assert.equal(long.length + short.length, meetings.length, 'every join link has one of the two forms');
    for (const m of short) {
      // the path holds joinMeetingIdSettings.joinMeetingId; p= the passcode's hash
      const p = /^https:\/\/teams\.microsoft\.com\/meet\/(\d+)\?p=([A-Za-z0-9]+)$/.exec(m.json.joinWebUrl);
      assert.ok(p, `short form: ${m.json.joinWebUrl}`);
      assert.equal(p[1], m.json.joinMeetingIdSettings.joinMeetingId, 'the short link carries the join meeting id');
      assert.equal(m.json.joinMeetingIdSettings.isPasscodeRequired, true);
      assert.match(m.json.joinMeetingIdSettings.passcode, /^[A-Za-z0-9]+$/);
      assert.equal(m.json.joinUrl, m.json.joinWebUrl);
    }
    for (const m of [long[0], short[0], short[short.length - 1]]) {
      const r = await get(filterUrl(sb, m.organizerId, m.json.joinWebUrl));
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.value.length, 1, m.json.joinWebUrl);
      assert.equal(r.json.value[0].id, m.json.id);
      assert.equal(r.json.value[0].joinWebUrl, m.json.joinWebUrl);
    }
    // the short link of a meeting another tenant holds: nothing
    const none = await get(filterUrl(sb, short[0].organizerId, 'https://teams.microsoft.com/meet/111122223333?p=NotAMeetingOfOurs1'));
    assert.equal(none.status, 200);
    assert.deepEqual(none.json.value, []);
  });

  test('attendance reports and records: list shape, $expand, paging, fractional digits', T, async () => {
    const u = sb.tenant.users[0];
    const big = Object.values(sb.tenant.meetings).find((m) => m.organizerId === u.id && m.reports.some((r) => r.tag === 'big'));
    const mid = encodeURIComponent(big.json.id);
    assert.match(big.json.id, /[:@]/, 'legacy meeting id with : and @');
    const list = await get(`${sb.url}/v1.0/users/${u.id}/onlineMeetings/${mid}/attendanceReports`);
    assert.equal(list.status, 200, list.text);
    const lSample = sample('attendanceReports-list.example.json');
    assert.deepEqual(keysOf(list.json.value[0]), keysOf(lSample.value[0]));
    assert.deepEqual(list.json.value[0].attendanceRecords, []);
    const rep = list.json.value[0];
    const recUrl = `${sb.url}/v1.0/users/${u.id}/onlineMeetings/${mid}/attendanceReports/${rep.id}/attendanceRecords`;
    const { items, pages } = await allPages(recUrl);
    const truth = big.reports[0].records;
    assert.equal(items.length, truth.length);
    assert.equal(pages, Math.ceil(truth.length / 3));
    assert.deepEqual(items, truth);
    const recSample = sample('attendanceRecords-list.example.json').value[0];
    assertHasKeys(items[0], recSample, 'attendanceRecord');
    assertHasKeys(items[0].attendanceIntervals[0], recSample.attendanceIntervals[0], 'interval');
    assert.ok(items.some((r) => r.attendanceIntervals.length > 1));
    assert.ok(items.some((r) => r.identity.tenantId === null));
    assert.ok(items.some((r) => r.emailAddress === null && r.identity.id === null));
    const digits = new Set();
    for (const r of Object.values(sb.tenant.meetings).flatMap((m) => m.reports).flatMap((x) => x.records))
      for (const iv of r.attendanceIntervals) digits.add((/\.(\d+)Z$/.exec(iv.joinDateTime)?.[1] || '').length);
    for (const d of [0, 2, 3, 6, 7]) assert.ok(digits.has(d), `some join time has ${d} fractional digits`);

    const exp = await get(`${sb.url}/v1.0/users/${u.id}/onlineMeetings/${mid}/attendanceReports/${rep.id}?$expand=attendanceRecords`);
    assert.equal(exp.status, 200);
    assertHasKeys(exp.json, sample('attendanceReport-expand-records.example.json'), 'report $expand', ['@odata.context']);
    assert.equal(exp.json.attendanceRecords.length, 3);
    assert.match(exp.json['attendanceRecords@odata.nextLink'], /^http:\/\/127\.0\.0\.1:\d+\/v1\.0\/users\/.*attendanceRecords\?\$skiptoken=/);
    const noexp = await get(`${sb.url}/v1.0/users/${u.id}/onlineMeetings/${mid}/attendanceReports/${rep.id}`);
    assert.ok(!('attendanceRecords' in noexp.json));
    // the attendee cannot read the organizer's reports
    const other = sb.tenant.users[1];
    assert.equal((await get(`${sb.url}/v1.0/users/${other.id}/onlineMeetings/${mid}/attendanceReports`)).status, 403);
  });

  test('Outlook per-mailbox concurrency: the fifth request in flight gets 429 ApplicationThrottled', T, async () => {
    const s2 = await startSandbox({ seed: 5, mailboxes: 2, latencyMs: 150 });
    try {
      const t = (await getToken(s2)).body.access_token;
      const u = s2.tenant.users[0];
      const h = { authorization: `Bearer ${t}` };
      const rs = await Promise.all(
        Array.from({ length: 6 }, () => get(`${s2.url}/v1.0/users/${u.id}/calendarView?${windowQs(Date.now() - 864e5, Date.now())}`, h)),
      );
      const st = rs.map((r) => r.status).sort();
      assert.deepEqual(st, [200, 200, 200, 200, 429, 429]);
      const body = rs.find((r) => r.status === 429).json;
      assert.deepEqual(body, sample('error-mailbox-concurrency-429.example.json'));
      assert.equal(s2.stats().maxConcurrencyPerMailbox[u.userPrincipalName], 6);
      assert.equal(s2.stats().mailboxConcurrency429, 2);
      // another mailbox is not affected
      const v = s2.tenant.users[1];
      assert.equal(s2.stats().maxConcurrencyPerMailbox[v.userPrincipalName], 0);
    } finally {
      await s2.close();
    }
  });

  test('fault switches', T, async () => {
    const u = sb.tenant.users[2];
    const url = `${sb.url}/v1.0/users/${u.id}?$select=id,userPrincipalName`;
    sb.setFaults([
      { kind: 'user', mailbox: u.userPrincipalName, count: 1, status: 429, retryAfter: '0.25' },
      { kind: 'user', mailbox: u.userPrincipalName, count: 1, status: 503 },
      { kind: 'user', mailbox: u.userPrincipalName, count: 1, action: 'empty' },
      { kind: 'user', mailbox: u.userPrincipalName, count: 1, action: 'invalidJson' },
    ]);
    const a = await get(url);
    assert.equal(a.status, 429);
    assert.equal(a.headers.get('retry-after'), '0.25');
    assertHasKeys(a.json.error, sample('error-throttling-429.example.json').error, '429 body');
    const b = await get(url);
    assert.equal(b.status, 503);
    assert.equal(b.headers.get('retry-after'), null);
    const c = await get(url);
    assert.equal(c.status, 200);
    assert.equal(c.text, '');
    const d = await get(url);
    assert.equal(d.status, 200);
    assert.equal(d.json, null);
    assert.equal((await get(url)).status, 200);

    // after: the first two pass, the third fails
    sb.setFaults([{ path: '/calendarView', after: 2, count: 1, status: 500 }]);
    const cv = `${sb.url}/v1.0/users/${u.id}/calendarView?${windowQs(Date.now() - 864e5, Date.now())}`;
    assert.deepEqual([(await get(cv)).status, (await get(cv)).status, (await get(cv)).status, (await get(cv)).status], [200, 200, 500, 200]);

    // reset and truncated body
    sb.setFaults([{ kind: 'user', count: 1, action: 'reset' }]);
    await assert.rejects(fetch(url, { headers: H() }).then((r) => r.text()));
    sb.setFaults([{ kind: 'user', count: 1, action: 'truncate' }]);
    await assert.rejects(fetch(url, { headers: H() }).then((r) => r.text()));

    // off-host and looping nextLinks
    sb.setFaults([{ kind: 'calendarView', count: 1, action: 'nextLinkOffHost' }]);
    const off = await get(cv);
    assert.ok(!off.json['@odata.nextLink'].startsWith(sb.url), off.json['@odata.nextLink']);
    sb.setFaults([{ kind: 'calendarView', action: 'nextLinkLoop' }]);
    const loop = await get(cv);
    assert.equal(loop.json['@odata.nextLink'], cv.replace(/^http:\/\/[^/]+/, sb.url));

    // slow answers
    sb.setFaults([{ kind: 'user', count: 1, delayMs: 400 }]);
    const t0 = Date.now();
    await get(url);
    assert.ok(Date.now() - t0 >= 400);

    // 401 mid-run via revoke
    sb.setFaults([{ kind: 'user', count: 1, revoke: true }]);
    assert.equal((await get(url)).status, 401);
    token = (await getToken(sb)).body.access_token;
    sb.clearFaults();
    assert.equal((await get(url)).status, 200);

    const logged = sb.requests.filter((e) => e.kind === 'user' && e.mailbox === u.userPrincipalName);
    assert.ok(logged.every((e) => e.headers.authorization === true && e.startedAt > 0));
    assert.ok(logged.some((e) => e.status === 'reset'));
    assert.ok(logged.some((e) => e.status === 'truncated'));
    assert.ok(!JSON.stringify(sb.requests).includes(token), 'the request log never holds a token');
  });

  test('control plane over HTTP', T, async () => {
    const r = await fetch(`${sb.url}/_sandbox/faults`, { method: 'POST', body: JSON.stringify([{ kind: 'user', count: 1, status: 504 }]) });
    assert.equal(r.status, 200);
    assert.equal((await get(`${sb.url}/v1.0/users/${sb.tenant.users[0].id}`)).status, 504);
    await fetch(`${sb.url}/_sandbox/faults`, { method: 'DELETE' });
    const reqs = await (await fetch(`${sb.url}/_sandbox/requests`)).json();
    assert.equal(reqs.length, sb.requests.length);
    const truth = await (await fetch(`${sb.url}/_sandbox/truth`)).json();
    assert.equal(truth.tenantId, sb.tenant.tenantId);
    assert.ok(!JSON.stringify(truth).includes(sb.tenant.clientSecret));
  });
});

test('tenant generation is deterministic for a seed and a clock', T, () => {
  const now = Date.UTC(2026, 10, 28, 17, 34, 0);
  const a = JSON.stringify(truthJson(generateTenant({ seed: 9, mailboxes: 4, now })));
  const b = JSON.stringify(truthJson(generateTenant({ seed: 9, mailboxes: 4, now })));
  const c = JSON.stringify(truthJson(generateTenant({ seed: 10, mailboxes: 4, now })));
  assert.equal(a, b);
  assert.notEqual(a, c);
  const big = generateTenant({ seed: 1, mailboxes: 200, now, fillerMeetings: 0 });
  assert.equal(big.users.length, 200);
  assert.equal(new Set(big.users.map((u) => u.userPrincipalName.toLowerCase())).size, 200);
});

test('the CLI prints one JSON line with the url and the ground truth file', T, async () => {
  const { spawn } = await import('node:child_process');
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const child = spawn(process.execPath, [path.join(here, '../sandbox/graph.js'), '--port', String(port), '--seed', '4', '--mailboxes', '2'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const line = await new Promise((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) resolve(buf.split('\n')[0]);
      });
      child.on('exit', (c) => reject(new Error(`exited ${c}`)));
    });
    const info = JSON.parse(line);
    assert.equal(info.url, `http://127.0.0.1:${port}`);
    assert.equal(info.users.length, 2);
    const truth = JSON.parse(fs.readFileSync(info.truth, 'utf8'));
    assert.equal(truth.tenantId, info.tenantId);
    const r = await fetch(`${info.url}/_sandbox/stats`);
    assert.equal(r.status, 200);
  } finally {
    child.kill('SIGTERM');
  }
});
