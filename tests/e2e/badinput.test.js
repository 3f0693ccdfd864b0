// Bad input from Graph (SPEC 4, 8): answers that are well-formed HTTP but wrong
// inside (missing fields, wrong types, nulls where objects belong, megabyte
// strings, invalid UTF-8, JSON nested 100000 deep, a nextLink that never ends).
// Each case corrupts what the sandbox serves to mailbox A while mailbox B stays
// clean, and asserts what SPEC says: a clean skip with a warning (counted in the
// manifest's `skipped`) or the value kept as null, exit 0; or mailbox A failed with
// an error that names what was wrong, B landed, exit 1. Never a crash (a signal),
// never a hang (the run is killed after 30 s). With TA_BIN_ASAN set, every case
// runs a second time under the AddressSanitizer + UBSan build.
import { test, before, after, describe } from 'node:test';
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
  listBlobs,
  readBlob,
  findSecrets,
  upnPath,
  parseTimeMs,
  tmpDir,
  DEV_KEY,
} from './harness.js';
import { TABLES, openDuck } from './tables-rules.js';
import { eventJoinLink } from './join-links.js';
import { meetingByJoinUrl } from '../sandbox/tenant.js';

const T = { timeout: 120000 };
const ASAN = process.env.TA_BIN_ASAN && fs.existsSync(process.env.TA_BIN_ASAN) ? process.env.TA_BIN_ASAN : null;
const QUICK = { ATTENDANCE_HTTP_TIMEOUT_SECONDS: '5', ATTENDANCE_MAX_RETRIES: '1', ATTENDANCE_MAX_RETRY_WAIT_SECONDS: '1' };
const MIN = 60000;

const isTeams = (e) => e && e.isOnlineMeeting === true && e.onlineMeetingProvider === 'teamsForBusiness' && !!e.onlineMeeting?.joinUrl;
// the first organised Teams meeting of a page, whatever its position
const isOrgTeams = (e) => isTeams(e) && e.isOrganizer === true;
const organisedTeams = () => (e, i, all) => all.findIndex(isOrgTeams) === i;

describe('bad input from Graph', () => {
  let az;
  let seq = 0;
  let work;
  const summary = [];
  before(async () => {
    az = await startAzurite();
    work = tmpDir('ta-badinput-');
  });
  after(async () => {
    if (summary.length) {
      const w = [Math.max(...summary.map((s) => s[0].length)), Math.max(...summary.map((s) => s[1].length))];
      console.log(`\nbad input (${summary.length} cases)\n${summary.map((s) => `${s[0].padEnd(w[0])}  ${s[1].padEnd(w[1])}  ${s[2]}`).join('\n')}\n`);
    }
    await az?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  // Runs one case with `bin`; returns what the caller may check further.
  async function runCase(c, bin, label) {
    const container = `bad${++seq}`;
    const sb = await startSandbox({ seed: 500 + seq, mailboxes: 2, calendarViewMaxTop: 8, latencyMs: [1, 3], mailboxConcurrencyLimit: 64, tenantOptions: { fillerMeetings: 1 } });
    const [a, b] = sb.tenant.users.map((u) => u.userPrincipalName);
    try {
      sb.setFaults(c.faults.map((f) => ({ mailbox: a, ...f })));
      const env = jobEnv(sb, az, { ...QUICK, ATTENDANCE_CONTAINER: container, ...(c.env || {}) });
      const r = await runJob(['run'], env, { timeoutMs: 30000, bin });
      const where = `${label}\n${describeRun(r)}`;
      assert.equal(r.timedOut, false, `no hang: ${where}`);
      assert.equal(r.signal, null, `no crash: ${where}`);
      assert.doesNotMatch(r.stderr, /AddressSanitizer|runtime error:|LeakSanitizer/, `sanitizer report: ${where}`);
      assert.deepEqual(r.otherLines, [], `every stderr line is a JSON log line: ${where}`);
      assert.ok(sb.requests.some((e) => e.corrupted || e.fault !== null), `the corruption was served: ${where}`);
      const allowed = Array.isArray(c.exit) ? c.exit : [c.exit];
      assert.ok(allowed.includes(r.code), `exit ${r.code}, want ${allowed.join(' or ')}: ${where}`);

      const reader = blobReader(az.service, container);
      const ids = await runIds(reader);
      assert.equal(ids.length, 1, `one manifest: ${where}`);
      const run = await loadRun(reader, ids[0]);
      const mbA = run.manifest.mailboxes.find((m) => m.upn === a.toLowerCase());
      const mbB = run.manifest.mailboxes.find((m) => m.upn === b.toLowerCase());
      assert.equal(mbB.status, 'succeeded', `the clean mailbox lands whatever A got: ${where}`);
      if (r.code === 1) {
        assert.equal(mbA.status, 'failed', where);
        assert.ok(c.errorRe, `a clean skip was expected, the mailbox failed: ${mbA.error}`);
        assert.match(mbA.error, c.errorRe, `the error names what was wrong: ${where}`);
        assert.ok(!run.snapshots.final[upnPath(a)], 'a failed mailbox has no final snapshot');
        assert.ok(!run.checkpoint?.mailboxes?.[a.toLowerCase()], 'a failed mailbox gets no watermark');
      } else {
        assert.equal(mbA.status, 'succeeded', where);
        assert.ok(run.snapshots.final[upnPath(a)], 'the final snapshot');
        if (c.skipped) {
          assert.ok(mbA.skipped >= c.skipped, `manifest counts ${mbA.skipped} skipped, want at least ${c.skipped}: ${where}`);
          assert.ok(r.logLines.some((l) => l.level === 'warn' || l.level === 'warning'), `a warning says what was skipped: ${where}`);
        }
      }
      const hits = await findSecrets([...sb.secrets(), DEV_KEY], { runs: [r], service: az.service, containers: [container] });
      assert.deepEqual(hits, [], 'a secret leaked');
      if (c.check) await c.check({ r, run, sb, a, b, container, mbA });
      return { r, mbA };
    } finally {
      await sb.close();
    }
  }

  function badInput(name, c) {
    test(name, T, async () => {
      const { r, mbA } = await runCase(c, undefined, name);
      let how = r.code === 0 ? `exit 0, ${mbA.skipped ? `${mbA.skipped} skipped` : 'kept'}` : `exit 1: ${String(mbA.error).slice(0, 110)}`;
      if (ASAN) {
        const s = await runCase(c, ASAN, `${name} (asan)`);
        assert.equal(s.r.code, r.code, 'the sanitizer build exits the same way');
        how += ' [asan clean]';
      }
      summary.push([name, how.split(':')[0], how.includes(':') ? how.slice(how.indexOf(':') + 2) : '']);
    });
  }

  // ---------------------------------------------------------- events

  badInput('an event without id: skipped, counted, warned', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'missingId', pick: organisedTeams() }],
    exit: 0,
    skipped: 1,
  });

  badInput('an event whose id is a number: skipped like one without', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'idNumber', index: 2 }],
    exit: 0,
    skipped: 1,
  });

  badInput('a report id holding NUL: skipped, counted, warned (never sent cut short)', {
    faults: [{ kind: 'attendanceReports', count: 1, corrupt: 'idNul', index: 0 }],
    exit: 0,
    skipped: 1,
    check: ({ sb }) => assert.ok(!sb.requests.some((e) => e.path.includes('tail') || /%00/.test(e.path)), 'no request names the cut id'),
  });

  badInput('answers past ATTENDANCE_MAILBOX_MAX_MB: that mailbox fails, named, before memory runs out', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'hugeSubject', size: 3 << 20, index: 0 }],
    env: { ATTENDANCE_MAILBOX_MAX_MB: '2' },
    exit: 1,
    errorRe: /ATTENDANCE_MAILBOX_MAX_MB/,
  });

  badInput('an event without start and end', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'missingStartEnd', index: 1 }],
    exit: [0, 1],
    errorRe: /start|end/i,
  });

  badInput('an event with start: null', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'nullStart', pick: organisedTeams() }],
    exit: [0, 1],
    errorRe: /start/i,
  });

  badInput('an event with start.dateTime: null', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'nullDateTime', index: 0 }],
    exit: [0, 1],
    errorRe: /start|dateTime/i,
  });

  badInput('an event with start as a string', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'startString', index: 0 }],
    exit: [0, 1],
    errorRe: /start/i,
  });

  badInput('an event with a number for start.dateTime', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'startNumber', index: 0 }],
    exit: [0, 1],
    errorRe: /start|dateTime/i,
  });

  badInput('isOrganizer as a string: not read as true', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'organizerString', pick: organisedTeams() }],
    exit: 0,
  });

  badInput('isOnlineMeeting as a string', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'onlineString', pick: organisedTeams() }],
    exit: 0,
  });

  badInput('a number for subject: the column is null', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'subjectNumber', index: 0 }],
    exit: 0,
  });

  badInput('an object for subject', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'subjectObject', index: 0 }],
    exit: 0,
  });

  badInput('attendees as an object', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'attendeesObject', index: 0 }],
    exit: 0,
  });

  badInput('onlineMeeting: null on an organised Teams meeting: the join link in its body is looked up', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'nullOnlineMeeting', pick: organisedTeams() }],
    exit: 0,
    // SPEC 4: without onlineMeeting.joinUrl, a Teams link in the body counts
    check: async ({ run, a, sb }) => {
      const final = run.snapshots.final[upnPath(a)].json;
      const nulled = final.events.filter((e) => e.onlineMeeting === null && e.onlineMeetingProvider === 'teamsForBusiness' && e.isOrganizer === true && e.isOnlineMeeting === true);
      assert.equal(nulled.length, 1, 'the event was served without onlineMeeting');
      const link = eventJoinLink(nulled[0]);
      assert.deepEqual(link && link.source, 'body.content', 'truth: its body holds the link');
      assert.equal(nulled[0].joinUrlSource, 'body.content', 'joinUrlSource names the body');
      const m = meetingByJoinUrl(sb.tenant, link.url);
      assert.equal(nulled[0].onlineMeetingMeta?.id ?? null, m && m.organizerId === sb.tenant.users[0].id ? m.json.id : null, 'its meeting, found by the link');
    },
  });

  badInput('organizer: null', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'nullOrganizer', index: 0 }],
    exit: 0,
  });

  badInput('a number for the join URL', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'joinUrlNumber', pick: organisedTeams() }],
    exit: 0,
  });

  badInput('null as an event', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'itemNull', index: 1 }],
    exit: [0, 1],
    skipped: 1,
    errorRe: /event|object/i,
  });

  badInput('a number as an event', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'itemNumber', index: 1 }],
    exit: [0, 1],
    skipped: 1,
    errorRe: /event|object/i,
  });

  badInput('a 3 MB subject lands whole', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'hugeSubject', size: 3 << 20, index: 0 }],
    exit: 0,
    check: async ({ container }) => {
      const b = (await listBlobs(az.service, container, 'parquet/events/'))[0];
      const file = path.join(work, `${container}.parquet`);
      fs.writeFileSync(file, await readBlob(az.service, container, b.name));
      const duck = await openDuck();
      const rows = (await duck.runAndReadAll(`SELECT max(length(subject)) FROM read_parquet('${file}')`)).getRows();
      assert.equal(Number(rows[0][0]), 3 << 20, 'the subject is in the events table, every byte');
    },
  });

  badInput('an unsettled meeting without an end does not hold the watermark (bounded hold-back), logged', {
    // SPEC 6: a meeting whose end cannot be read no longer holds the watermark, so a
    // bad value cannot hold it for ever; its reports land through tracked meetings
    faults: [{
      kind: 'calendarView',
      corrupt: 'nullEnd',
      pick: (e) => isTeams(e) && e.isOrganizer === true && parseTimeMs(e.start.dateTime + 'Z') <= Date.now() && parseTimeMs(e.end.dateTime + 'Z') > Date.now() - 60 * MIN,
    }],
    exit: 0,
    check: async ({ r, run, a, sb }) => {
      const u = sb.tenant.users[0];
      const now = parseTimeMs(run.manifest.started_utc);
      const unsettled = sb.tenant.events[u.id].filter((e) => isTeams(e.json) && e.json.isOrganizer && e.startMs <= now && e.endMs > now - 60 * MIN);
      assert.ok(unsettled.length, 'the tenant has an unsettled meeting');
      assert.ok(r.logLines.some((l) => /end cannot be read does not hold the watermark/.test(l.msg) && l.upn === a.toLowerCase()), 'the log says which meeting no longer holds it');
      const wm = parseTimeMs(run.checkpoint.mailboxes[a.toLowerCase()].watermark);
      assert.ok(wm <= now, 'the watermark is not in the future');
    },
  });

  // ---------------------------------------------------------- listings

  badInput('value as an object', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'valueObject' }],
    exit: 1,
    errorRe: /value/,
  });

  badInput('value: null', {
    faults: [{ kind: 'attendanceReports', count: 1, corrupt: 'valueNull' }],
    exit: 1,
    errorRe: /value/,
  });

  badInput('value missing from a records page', {
    faults: [{ kind: 'attendanceRecords', count: 1, corrupt: 'valueMissing' }],
    exit: 1,
    errorRe: /value/,
  });

  badInput('a page that is a JSON array', {
    faults: [{ kind: 'calendarView', corrupt: 'notAnObject' }],
    exit: 1,
    errorRe: /value|object|JSON/i,
  });

  badInput('a page that is a JSON string', {
    faults: [{ kind: 'onlineMeetings', corrupt: 'jsonString' }],
    exit: 1,
    errorRe: /value|object|JSON/i,
  });

  badInput('a nextLink that is a number', {
    faults: [{ kind: 'calendarView', count: 1, corrupt: 'nextLinkNumber' }],
    exit: 1,
    errorRe: /nextLink/,
  });

  badInput('a nextLink loop stops at ATTENDANCE_MAX_PAGES', {
    faults: [{ kind: 'calendarView', action: 'nextLinkLoop' }],
    env: { ATTENDANCE_MAX_PAGES: '20' },
    exit: 1,
    errorRe: /ATTENDANCE_MAX_PAGES/,
  });

  // ---------------------------------------------------------- bytes

  badInput('invalid UTF-8 in a string', {
    faults: [{ kind: 'calendarView', corrupt: 'invalidUtf8', index: 0 }],
    exit: 1,
    errorRe: /JSON|UTF-?8/i,
  });

  badInput('a NUL character (\\u0000) in a string', {
    faults: [{ kind: 'calendarView', corrupt: 'nulByte', index: 0 }],
    exit: [0, 1],
    errorRe: /JSON|NUL|\\u0000/i,
  });

  badInput('arrays nested 100000 deep', {
    faults: [{ kind: 'calendarView', corrupt: 'deepNesting', depth: 100000, index: 0 }],
    exit: 1,
    errorRe: /JSON|depth|nest/i,
  });

  badInput('objects nested 100000 deep', {
    faults: [{ kind: 'attendanceRecords', corrupt: 'deepObjects', depth: 100000 }],
    exit: 1,
    errorRe: /JSON|depth|nest/i,
  });

  // ---------------------------------------------------------- meetings and records

  badInput('a record with identity: null', {
    faults: [{ kind: 'attendanceRecords', count: 2, corrupt: 'nullIdentity', all: true }],
    exit: 0,
  });

  badInput('a record with attendanceIntervals: null', {
    faults: [{ kind: 'attendanceRecords', count: 2, corrupt: 'nullIntervals', index: 0 }],
    exit: 0,
  });

  badInput('a record with attendanceIntervals as an object', {
    faults: [{ kind: 'attendanceRecords', count: 2, corrupt: 'intervalsObject', index: 0 }],
    exit: [0, 1],
    errorRe: /attendanceIntervals/,
  });

  badInput('a null interval', {
    faults: [{ kind: 'attendanceRecords', count: 2, corrupt: 'intervalNull', index: 0 }],
    exit: [0, 1],
    errorRe: /interval/i,
  });

  badInput('totalAttendanceInSeconds as a string', {
    faults: [{ kind: 'attendanceRecords', count: 2, corrupt: 'secondsString', all: true }],
    exit: 0,
  });

  badInput('a report without id: skipped, counted, warned', {
    faults: [{ kind: 'attendanceReports', count: 1, corrupt: 'reportMissingId', index: 0 }],
    exit: 0,
    skipped: 1,
  });

  // a value of the wrong shape (SPEC 4): the report is kept (a one-off meeting's is tied
  // without a time, another lands once untied), the value is null and counted
  badInput('a report whose meetingStartDateTime is a number: kept, the value null and counted', {
    faults: [{ kind: 'attendanceReports', count: 1, corrupt: 'reportStartNumber', index: 0 }],
    exit: 0,
    check: ({ mbA }) => assert.ok(mbA.bad_values >= 1, `bad_values ${mbA.bad_values}`),
  });

  badInput('a meeting lookup whose value holds null', {
    faults: [{ kind: 'onlineMeetings', count: 1, mutate: (b) => ({ ...b, value: [null] }) }],
    exit: [0, 1],
    errorRe: /meeting/i,
  });

  badInput('a user without id', {
    faults: [{ kind: 'user', count: 1, mutate: (b) => ({ ...b, id: null }) }],
    exit: 1,
    errorRe: /id/,
  });
});
