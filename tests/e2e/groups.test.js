// ATTENDANCE_GROUPS end to end against the sandbox's directory: groups by id and by
// mail address, nested groups, a group of more than 999 members (two pages at
// $top=999), members without a mailbox, disabled accounts and guests, a member who
// joins and one who leaves between runs, shards over the resolved list, `check`, and
// the 403 of an app without GroupMember.Read.All. The expected mailboxes are written
// out by hand from the fixture below, and compared with the sandbox's own transitive
// membership as well.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startSandbox, startAzurite, blobReader, runJob, jobEnv, describeRun, dirReader, runIds, loadRun, requestedWindow, parseTimeMs, tmpDir } from './harness.js';
import { addUser, addGroup, setGroupMembers, transitiveUsers, directoryOf, findUser } from '../sandbox/tenant.js';

const DAY = 86400000;
const MIN = 60000;
const T = { timeout: 240000 };
const BULK = 1000; // disabled accounts in the big group: with the rest, more than 999 members

const lc = (s) => s.toLowerCase();
const sorted = (xs) => [...xs].map(lc).sort();

describe('groups: transitive members are the mailboxes', () => {
  let sb;
  let dirs = [];
  const fx = {};

  before(async () => {
    sb = await startSandbox({ seed: 41, mailboxes: 3 });
    const t = sb.tenant;
    const [ann, ben, cat] = t.users; // generated mailboxes with meetings
    fx.ann = ann;
    fx.ben = ben;
    fx.cat = cat;
    fx.dave = addUser(t, { upn: 'Dave.Member@contoso.onmicrosoft.com' });
    fx.erin = addUser(t, { upn: 'erin@contoso.onmicrosoft.com' });
    fx.frank = addUser(t, { upn: 'frank@contoso.onmicrosoft.com' });
    fx.nomb = addUser(t, { upn: 'no.mailbox@contoso.onmicrosoft.com', mailbox: false });
    fx.disabled = addUser(t, { upn: 'left.company@contoso.onmicrosoft.com', accountEnabled: false });
    fx.guest = addUser(t, { upn: 'pat_fabrikam.com#EXT#@contoso.onmicrosoft.com', userType: 'Guest' });
    fx.bulk = [];
    for (let i = 0; i < BULK; i++) fx.bulk.push(addUser(t, { upn: `former${String(i).padStart(4, '0')}@contoso.onmicrosoft.com`, accountEnabled: false }));
    // Sales EU (mail-enabled) is nested in Sales; All Staff holds Sales, so members repeat
    fx.eu = addGroup(t, { displayName: 'Sales EU', mail: 'sales-eu@contoso.onmicrosoft.com', members: [ben, fx.dave] });
    fx.sales = addGroup(t, { displayName: 'Sales', members: [ann, fx.nomb, fx.disabled, fx.guest, fx.eu] });
    fx.all = addGroup(t, { displayName: 'All Staff', mail: 'All.Staff@contoso.onmicrosoft.com', members: [...fx.bulk, cat, ann, fx.erin, fx.sales] });
  });
  after(async () => {
    await sb?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  // Cat is listed and in a group: the listing wins, the duplicate is dropped.
  const env = (dir, extra = {}) =>
    jobEnv(sb, null, {
      ATTENDANCE_OUTPUT_DIR: dir,
      ATTENDANCE_USERS: fx.cat.userPrincipalName,
      ATTENDANCE_GROUPS: `${fx.sales.id}, ${fx.all.mail.toUpperCase()}`,
      ...extra,
    });
  const newDir = () => {
    const d = tmpDir('ta-groups-');
    dirs.push(d);
    return d;
  };
  async function runIn(dir, args = ['run'], extra = {}) {
    const reader = dirReader(dir);
    const known = new Set(await runIds(reader));
    const from = sb.requests.length;
    const r = await runJob(args, env(dir, extra));
    const id = (await runIds(reader)).filter((x) => !known.has(x));
    assert.equal(id.length, 1, `one new manifest\n${describeRun(r)}`);
    const run = await loadRun(reader, id[0]);
    return { r, run, from, log: sb.requests.slice(from) };
  }
  const calendarMailboxes = (log) => new Set(log.filter((e) => e.kind === 'calendarView' && e.query?.startDateTime).map((e) => lc(e.mailbox)));
  const warnings = (r, reason) => r.logLines.filter((l) => l.level === 'warn' && l.reason === reason);

  // The ground truth: who Graph lists transitively, kept when enabled, a member, and
  // with a mailbox.
  const truthMailboxes = () => {
    const set = new Set([lc(fx.cat.userPrincipalName)]);
    for (const g of [fx.sales, fx.all])
      for (const u of transitiveUsers(sb.tenant, g)) {
        const d = directoryOf(u);
        if (d.accountEnabled && d.userType === 'Member' && d.mailbox) set.add(lc(u.userPrincipalName));
      }
    return set;
  };

  // The sandbox's directory answers are shaped like Microsoft's documented ones, so the
  // job is tested against what Graph sends.
  test('sandbox: group answers follow the documented responses', T, async () => {
    const t = sb.tenant;
    const tok = await (
      await fetch(`${sb.url}/${t.tenantId}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: t.clientId, scope: `${sb.url}/.default`, client_secret: t.clientSecret }),
      })
    ).json();
    const get = async (p, h = {}) => {
      const r = await fetch(`${sb.url}${p}`, { headers: { authorization: `Bearer ${tok.access_token}`, ...h } });
      return { status: r.status, json: await r.json() };
    };
    const sel = '$select=id,userPrincipalName,mail,accountEnabled,userType';
    const members = `/v1.0/groups/${fx.all.id}/transitiveMembers/microsoft.graph.user?${sel}&$count=true&$top=999`;
    const first = await get(members, { ConsistencyLevel: 'eventual' });
    assert.equal(first.status, 200);
    assert.deepEqual(Object.keys(first.json), ['@odata.context', '@odata.count', '@odata.nextLink', 'value']);
    assert.equal(first.json['@odata.context'], `${sb.url}/v1.0/$metadata#users(id,userPrincipalName,mail,accountEnabled,userType)`);
    assert.equal(first.json['@odata.count'], BULK + 8);
    assert.equal(first.json.value.length, 999);
    assert.deepEqual(Object.keys(first.json.value[0]), ['id', 'userPrincipalName', 'mail', 'accountEnabled', 'userType']);
    const second = await get(first.json['@odata.nextLink'].slice(sb.url.length), { ConsistencyLevel: 'eventual' });
    assert.equal(second.json.value.length, BULK + 8 - 999);
    assert.ok(!('@odata.nextLink' in second.json));
    // the cast is an advanced query: without ConsistencyLevel it is refused
    const plain = await get(members);
    assert.equal(plain.status, 400);
    assert.equal(plain.json.error.code, 'Request_UnsupportedQuery');
    const byMail = await get(`/v1.0/groups?$filter=${encodeURIComponent(`mail eq '${fx.eu.mail}'`)}&$select=id,mail`);
    assert.deepEqual(byMail.json, { '@odata.context': `${sb.url}/v1.0/$metadata#groups(id,mail)`, value: [{ id: fx.eu.id, mail: fx.eu.mail }] });
    sb.setPermissions({ groupMemberRead: false, userReadAll: false });
    try {
      const denied = await get(members, { ConsistencyLevel: 'eventual' });
      assert.equal(denied.status, 403);
      assert.equal(denied.json.error.code, 'Authorization_RequestDenied');
      assert.equal(denied.json.error.message, 'Insufficient privileges to complete the operation.');
      sb.setPermissions({ groupMemberRead: true });
      const limited = await get(members, { ConsistencyLevel: 'eventual' });
      assert.deepEqual(limited.json.value[0], { '@odata.type': '#microsoft.graph.user', id: limited.json.value[0].id, userPrincipalName: null, mail: null, accountEnabled: null, userType: null });
    } finally {
      sb.setPermissions({ groupMemberRead: true, userReadAll: true });
    }
  });

  test('first run: exactly the transitive members with a mailbox, each with its source; skipped ones counted', T, async () => {
    const dir = newDir();
    fx.dir = dir;
    const { r, run, log } = await runIn(dir);
    assert.equal(r.code, 0, describeRun(r));
    const m = run.manifest;
    const expected = [fx.ann, fx.ben, fx.cat, fx.dave, fx.erin].map((u) => u.userPrincipalName);
    assert.deepEqual(sorted(truthMailboxes()), sorted(expected), 'the fixture is what the test thinks it is');
    assert.deepEqual(sorted(m.mailboxes.map((x) => x.upn)), sorted(expected), 'the manifest lists exactly the members with a mailbox');
    for (const x of m.mailboxes) assert.equal(x.status, 'succeeded', JSON.stringify(x));
    const source = Object.fromEntries(m.mailboxes.map((x) => [x.upn, x.source]));
    assert.equal(source[lc(fx.cat.userPrincipalName)], 'users', 'listed and a member: the listing is its source');
    for (const u of [fx.ann, fx.ben, fx.dave]) assert.equal(source[lc(u.userPrincipalName)], `group:${fx.sales.id}`);
    assert.equal(source[lc(fx.erin.userPrincipalName)], `group:${fx.all.id}`);

    // read: the mailboxes, and the member without one (404, then skipped); no disabled
    // account or guest is ever asked for
    assert.deepEqual(sorted(calendarMailboxes(log)), sorted([...expected, fx.nomb.userPrincipalName]));
    const nombCalls = log.filter((e) => e.kind === 'calendarView' && lc(e.mailbox || '') === lc(fx.nomb.userPrincipalName));
    assert.ok(nombCalls.every((e) => e.status === 404));
    for (const u of [fx.disabled, fx.guest, fx.bulk[0], fx.bulk[BULK - 1]])
      assert.ok(!log.some((e) => lc(e.mailbox || '') === lc(u.userPrincipalName)), `${u.userPrincipalName} is never read`);

    // Graph calls: the group by address, then every page of members at $top=999
    const lookups = log.filter((e) => e.kind === 'groups');
    assert.equal(lookups.length, 1);
    assert.equal(lookups[0].query.$filter, `mail eq '${fx.all.mail.toUpperCase()}'`);
    const pages = log.filter((e) => e.kind === 'groupMembers');
    for (const p of pages) {
      assert.equal(p.status, 200);
      assert.equal(p.query.$top, '999');
      assert.equal(p.query.$count, 'true');
      assert.deepEqual(p.query.$select.split(','), ['id', 'userPrincipalName', 'mail', 'accountEnabled', 'userType']);
    }
    const allPages = pages.filter((p) => p.path.includes(fx.all.id));
    assert.equal(transitiveUsers(sb.tenant, fx.all).length, BULK + 8);
    assert.equal(allPages.length, 2, 'more than 999 members: two pages');
    assert.ok(allPages[1].query.$skiptoken, 'the second page came from @odata.nextLink');
    assert.equal(pages.filter((p) => p.path.includes(fx.sales.id)).length, 1);

    // skipped members: one warning each, counted per group and once in all
    assert.equal(warnings(r, 'disabled').length, BULK + 1);
    assert.equal(warnings(r, 'guest').length, 1);
    const nomb = r.logLines.filter((l) => l.level === 'warn' && /no mailbox/.test(l.msg));
    assert.deepEqual(nomb.map((l) => l.upn), [lc(fx.nomb.userPrincipalName)]);
    assert.equal(m.skipped_members, BULK + 3);
    const g = Object.fromEntries(m.groups.map((x) => [x.group, x]));
    assert.deepEqual(g[fx.sales.id], {
      group: fx.sales.id,
      id: fx.sales.id,
      members: 6,
      mailboxes: 3,
      skipped: { disabled: 1, guests: 1, limited: 0, invalid: 0, no_mailbox: 1 },
      error: null,
    });
    assert.deepEqual(g[fx.all.mail.toUpperCase()], {
      group: fx.all.mail.toUpperCase(),
      id: fx.all.id,
      members: BULK + 8,
      mailboxes: 1,
      skipped: { disabled: BULK + 1, guests: 1, limited: 0, invalid: 0, no_mailbox: 0 },
      error: null,
    });
    // no checkpoint entry for the member without a mailbox: it is not failing
    assert.deepEqual(sorted(Object.keys(run.checkpoint.mailboxes)), sorted(expected));
    fx.cp1 = run.checkpoint;
  });

  test('a member joins, another leaves: the newcomer gets a first-run window, the leaver keeps its watermark', T, async () => {
    assert.ok(fx.cp1, 'the first run ran');
    setGroupMembers(sb.tenant, fx.eu, [fx.ben, fx.frank]); // Dave leaves, Frank joins
    const { r, run, from, log } = await runIn(fx.dir);
    assert.equal(r.code, 0, describeRun(r));
    const upns = sorted(run.manifest.mailboxes.map((x) => x.upn));
    assert.deepEqual(upns, sorted([fx.ann, fx.ben, fx.cat, fx.erin, fx.frank].map((u) => u.userPrincipalName)));
    assert.ok(!calendarMailboxes(log).has(lc(fx.dave.userPrincipalName)), 'the leaver is not read');
    const start = parseTimeMs(run.manifest.started_utc);
    const w = requestedWindow(sb, fx.frank.userPrincipalName, from);
    assert.ok(Math.abs(w.end - 30 * DAY - w.start) <= 1000, `first-run window for the newcomer (${w.startRaw} .. ${w.endRaw})`);
    assert.ok(Math.abs(w.end - start) <= 1000);
    const ann = requestedWindow(sb, fx.ann.userPrincipalName, from);
    assert.equal(ann.start, parseTimeMs(fx.cp1.mailboxes[lc(fx.ann.userPrincipalName)].watermark) - 5 * MIN, 'the others resume from their watermark');
    const daveKey = lc(fx.dave.userPrincipalName);
    assert.deepEqual(run.checkpoint.mailboxes[daveKey], fx.cp1.mailboxes[daveKey], "the leaver's entry is kept as it was");
    fx.cp2 = run.checkpoint;
  });

  test('the leaver rejoins: its window resumes from the kept watermark (no gap, no re-read)', T, async () => {
    assert.ok(fx.cp2, 'the second run ran');
    setGroupMembers(sb.tenant, fx.eu, [fx.ben, fx.frank, fx.dave]);
    const { r, from } = await runIn(fx.dir);
    assert.equal(r.code, 0, describeRun(r));
    const w = requestedWindow(sb, fx.dave.userPrincipalName, from);
    assert.equal(w.start, parseTimeMs(fx.cp1.mailboxes[lc(fx.dave.userPrincipalName)].watermark) - 5 * MIN);
    setGroupMembers(sb.tenant, fx.eu, [fx.ben, fx.dave]); // as the fixture was, for the tests below
  });

  test('shards split the resolved list: every mailbox in exactly one shard', T, async () => {
    const seen = [];
    for (const i of [0, 1, 2]) {
      const { r, run } = await runIn(newDir(), ['run', '--shard', `${i}/3`]);
      assert.equal(r.code, 0, describeRun(r));
      seen.push(...run.manifest.mailboxes.map((x) => x.upn));
    }
    assert.deepEqual(sorted(seen), sorted(truthMailboxes()), 'the union of the shards is the resolved set, with no mailbox twice');
  });

  // in Blob Storage (Azurite): the claims are conditional blob writes
  test('--claim: two replicas resolve the same groups and read each mailbox once', T, async () => {
    const az = await startAzurite();
    try {
      const container = 'groups-claimed';
      const replica = (name) =>
        runJob(
          ['run', '--claim'],
          jobEnv(sb, az, {
            ATTENDANCE_CONTAINER: container,
            ATTENDANCE_USERS: fx.cat.userPrincipalName,
            ATTENDANCE_GROUPS: `${fx.sales.id}, ${fx.all.mail}`,
            CONTAINER_APP_JOB_EXECUTION_NAME: 'exec-groups',
            CONTAINER_APP_REPLICA_NAME: name,
          }),
        );
      const [a, b] = await Promise.all([replica('replica-a'), replica('replica-b')]);
      assert.equal(a.code, 0, describeRun(a));
      assert.equal(b.code, 0, describeRun(b));
      const reader = blobReader(az.service, container);
      const ids = await runIds(reader);
      assert.equal(ids.length, 2);
      const seen = [];
      for (const id of ids) seen.push(...(await loadRun(reader, id)).manifest.mailboxes.map((x) => x.upn));
      assert.deepEqual(sorted(seen), sorted(truthMailboxes()), 'between them, every mailbox once');
    } finally {
      await az.stop();
    }
  });

  test('check: members with a mailbox per group; a member without one is not a failure', T, async () => {
    const r = await runJob(['check'], env(newDir()));
    assert.equal(r.code, 0, `${r.stdout}\n${describeRun(r)}`);
    assert.match(r.stdout, new RegExp(`ok    group ${fx.sales.id} \\(${fx.sales.id}\\): 3 members with a mailbox of 6 listed; skipped: 1 without a mailbox, 1 disabled, 1 guest`));
    assert.match(r.stdout, new RegExp(`ok    group ${fx.all.mail.toUpperCase().replace(/\./g, '\\.')} \\(${fx.all.id}\\): 1 member with a mailbox of ${BULK + 8} listed`));
    assert.match(r.stdout, /skip  mailbox no\.mailbox@contoso\.onmicrosoft\.com/);
  });

  test('without User.Read.All: members with limited information are a warning naming the permission, not a silent skip', T, async () => {
    sb.setPermissions({ userReadAll: false });
    try {
      const c = await runJob(['check'], env(newDir()));
      assert.match(c.stdout, /warn  group .*: \d+ members? came without a userPrincipalName[^\n]*\n\s+fix: grant the application permission User\.Read\.All/);
      const { r, run } = await runIn(newDir());
      const limited = warnings(r, 'limited');
      assert.ok(limited.length > 0 && limited.every((l) => /User\.Read\.All/.test(l.msg)), describeRun(r));
      assert.deepEqual(run.manifest.mailboxes.map((x) => x.upn), [lc(fx.cat.userPrincipalName)], 'only the listed mailbox is read');
    } finally {
      sb.setPermissions({ userReadAll: true });
    }
  });

  test('without GroupMember.Read.All: check names the permission; the run reads the listed mailboxes and fails the group', T, async () => {
    sb.setPermissions({ groupMemberRead: false });
    try {
      const c = await runJob(['check'], env(newDir()));
      assert.equal(c.code, 1, c.stdout);
      for (const g of [fx.sales.id, fx.all.mail.toUpperCase()])
        assert.match(c.stdout, new RegExp(`FAIL  group ${g.replace(/\./g, '\\.')}: .*\\(403\\)[^\\n]*\\n\\s+fix: grant the application permission GroupMember\\.Read\\.All`));
      const { r, run } = await runIn(newDir());
      assert.equal(r.code, 1, describeRun(r));
      assert.equal(run.manifest.status, 'partial');
      assert.deepEqual(run.manifest.mailboxes.map((x) => [x.upn, x.status]), [[lc(fx.cat.userPrincipalName), 'succeeded']]);
      for (const g of run.manifest.groups) assert.match(g.error, /GroupMember\.Read\.All/);
    } finally {
      sb.setPermissions({ groupMemberRead: true });
    }
  });

  // What Graph sends is not trusted: a nextLink off the Graph host is not followed (the
  // token stays home), a page of the wrong shape fails its group, not the run.
  test('hostile member pages: an off-host nextLink and a page without a value array fail that group only', T, async () => {
    for (const [fault, want] of [
      [{ kind: 'groupMembers', path: fx.sales.id, action: 'nextLinkOffHost', count: 1 }, /another host/],
      [{ kind: 'groupMembers', path: fx.sales.id, rawBody: '{"@odata.context":"x","value":{"id":1}}', status: undefined, count: 1 }, /without a "value" array/],
    ]) {
      sb.setFaults([fault]);
      const trapBefore = sb.trapRequests.length;
      try {
        const { r, run } = await runIn(newDir());
        assert.equal(r.code, 1, describeRun(r));
        assert.equal(run.manifest.status, 'partial');
        const g = Object.fromEntries(run.manifest.groups.map((x) => [x.group, x]));
        assert.match(g[fx.sales.id].error, want);
        assert.equal(g[fx.all.mail.toUpperCase()].error, null);
        // Sales failed, but its members that All Staff holds too are still read through it
        const upns = sorted(run.manifest.mailboxes.map((x) => x.upn));
        assert.ok(upns.includes(lc(fx.erin.userPrincipalName)) && upns.includes(lc(fx.cat.userPrincipalName)));
        assert.equal(sb.trapRequests.length, trapBefore, 'nothing was sent off the Graph host');
      } finally {
        sb.clearFaults();
      }
    }
  });

  test('an address no group has, and an unknown id: check names ATTENDANCE_GROUPS; the run fails those groups', T, async () => {
    const unknownId = '00000000-0000-4000-8000-000000000001';
    const extra = { ATTENDANCE_GROUPS: `nobody@contoso.onmicrosoft.com,${unknownId}` };
    const c = await runJob(['check'], env(newDir(), extra));
    assert.equal(c.code, 1, c.stdout);
    assert.match(c.stdout, /FAIL  group nobody@contoso\.onmicrosoft\.com: no group has the mail address[^\n]*\n\s+fix: name the group in ATTENDANCE_GROUPS/);
    assert.match(c.stdout, new RegExp(`FAIL  group ${unknownId}: [^\\n]*\\(404\\)[^\\n]*\\n\\s+fix: name the group in ATTENDANCE_GROUPS`));
    const { r, run } = await runIn(newDir(), ['run'], extra);
    assert.equal(r.code, 1, describeRun(r));
    assert.equal(run.manifest.status, 'partial');
    assert.deepEqual(run.manifest.groups.map((g) => [g.group, g.id, g.error !== null]), [
      ['nobody@contoso.onmicrosoft.com', null, true],
      [unknownId, unknownId, true],
    ]);
  });

  test('a bad group name is a configuration error before any network call', T, async () => {
    const from = sb.requests.length;
    const r = await runJob(['run'], env(newDir(), { ATTENDANCE_GROUPS: 'sales' }));
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /ATTENDANCE_GROUPS: \\?"sales\\?" is neither a group object id/);
    assert.equal(sb.requests.length, from);
    void findUser;
  });
});
