// No attendance lost: inputs a real tenant produces that once dropped attendance
// without an error, or failed a mailbox on every run. Each case changes what the
// sandbox serves to mailbox A (mailbox B stays clean) and compares what landed with
// the sandbox's ground truth, computed from the contract, not from the job.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
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
} from './harness.js';

const T = { timeout: 120000 };

describe('no attendance lost', () => {
  let az;
  let seq = 0;
  before(async () => {
    az = await startAzurite();
  });
  after(async () => {
    await az?.stop();
  });

  // Runs the job once against a fresh sandbox with `faults(sb, a)` set for mailbox A;
  // returns the run, the expectations of both mailboxes and the sandbox.
  async function runWith(faults, { seed = 700, env = {} } = {}) {
    const container = `complete${++seq}`;
    const sb = await startSandbox({ seed: seed + seq, mailboxes: 2, latencyMs: [1, 3], tenantOptions: { fillerMeetings: 1 } });
    const [a, b] = sb.tenant.users.map((u) => u.userPrincipalName);
    sb.setFaults(faults(sb, a));
    const r = await runJob(['run'], jobEnv(sb, az, { ATTENDANCE_CONTAINER: container, ...env }));
    const reader = blobReader(az.service, container);
    const ids = await runIds(reader);
    assert.equal(ids.length, 1, describeRun(r));
    const run = await loadRun(reader, ids[0]);
    const exps = [a, b].map((upn) => {
      const w = requestedWindow(sb, upn);
      return expectedMailbox(sb, upn, { windowStart: w.start, windowEnd: w.end });
    });
    const runStartMs = parseTimeMs(run.manifest.started_utc);
    return { r, run, exps, sb, a, b, runStartMs, close: () => sb.close() };
  }

  // The reports of A's meetings as the tenant holds them.
  const reportsOf = (sb, upn, pred = () => true) => {
    const u = sb.tenant.users.find((x) => x.userPrincipalName === upn);
    return Object.values(sb.tenant.meetings)
      .filter((m) => m.organizerId === u.id && pred(m))
      .flatMap((m) => m.reports);
  };

  for (const [label, value] of [['null', null], ['""', '']]) {
    test(`a reports listing whose last page says "@odata.nextLink": ${label} lands every report`, T, async () => {
      const c = await runWith((sb, a) => [
        {
          kind: 'attendanceReports',
          mailbox: a,
          mutate: (body) => ({ ...body, '@odata.nextLink': body['@odata.nextLink'] ?? value }),
        },
      ]);
      try {
        assert.equal(c.r.code, 0, describeRun(c.r));
        assert.ok(c.sb.requests.some((e) => e.kind === 'attendanceReports' && e.corrupted), 'the listing was served that way');
        assert.ok(c.exps[0].counts.attendance_reports > 0, 'mailbox A has reports to lose');
        assertManifest(c.run, c.exps, { status: 'succeeded', runStartMs: c.runStartMs });
        for (const exp of c.exps) assertSnapshots(c.run, exp, { runStartMs: c.runStartMs });
      } finally {
        await c.close();
      }
    });
  }

  test("a one-off meeting's report with meetingStartDateTime null is kept, tied to its event", T, async () => {
    let nulled = 0;
    const c = await runWith((sb, a) => {
      const single = new Set(
        reportsOf(sb, a, (m) => sb.tenant.events[m.organizerId].some((e) => e.json.type === 'singleInstance' && e.json.onlineMeeting?.joinUrl === m.json.joinWebUrl)).map((r) => r.json.id),
      );
      assert.ok(single.size > 0, 'the tenant has a one-off meeting with a report');
      return [
        {
          kind: 'attendanceReports',
          mailbox: a,
          mutate: (body) => {
            for (const rep of body.value || []) if (single.has(rep.id)) (rep.meetingStartDateTime = null), nulled++;
            return body;
          },
        },
      ];
    });
    try {
      assert.equal(c.r.code, 0, describeRun(c.r));
      assert.ok(nulled > 0, 'a report was served without its start');
      assertManifest(c.run, c.exps, { status: 'succeeded', runStartMs: c.runStartMs });
      const final = c.run.snapshots.final[upnPath(c.a)].json;
      const tied = final.events.flatMap((e) => (e.attendance || []).map((r) => [e, r])).filter(([, r]) => r.meetingStartDateTime === null);
      assert.equal(tied.length, nulled, 'every report without a start is under its event');
      for (const [e] of tied) assert.equal(e.type, 'singleInstance');
    } finally {
      await c.close();
    }
  });

  test('values of the wrong shape inside valid JSON: null in the tables, warned, counted; the mailbox lands', T, async () => {
    const c = await runWith((sb, a) => [
      {
        kind: 'attendanceRecords',
        mailbox: a,
        count: 1,
        // records are fetched only for reports that land; a page with no record that
        // has an interval waits for the next
        mutate: (body) => {
          const rec = (body.value || []).find((x) => (x.attendanceIntervals || []).length);
          if (!rec) return undefined;
          rec.attendanceIntervals[0].leaveDateTime = '';
          body.value[0].totalAttendanceInSeconds = '3600';
          return body;
        },
      },
      {
        kind: 'attendanceReports',
        mailbox: a,
        count: 1,
        // a report that lands: one that started in the window (one before it, of a
        // series, is skipped, and which listing comes first depends on the order of the
        // requests); a page without one waits for the next
        mutate: (body) => {
          const w = requestedWindow(sb, a);
          const rep = (body.value || []).find((r) => {
            const t = parseTimeMs(r.meetingStartDateTime);
            return w && t >= w.start && t < w.end;
          });
          if (!rep) return undefined;
          rep.meetingEndDateTime = 'not a time';
          return body;
        },
      },
    ]);
    try {
      assert.equal(c.r.code, 0, `the mailbox is not failed for a bad value\n${describeRun(c.r)}`);
      assertManifest(c.run, c.exps, { status: 'succeeded', runStartMs: c.runStartMs });
      const mbA = c.run.manifest.mailboxes.find((m) => m.upn === c.a.toLowerCase());
      const mbB = c.run.manifest.mailboxes.find((m) => m.upn === c.b.toLowerCase());
      assert.equal(mbA.bad_values, 3, 'three bad values counted for A');
      assert.equal(mbB.bad_values, 0);
      const warns = c.r.logLines.filter((l) => /wrong shape/.test(l.msg));
      for (const field of ['leaveDateTime', 'totalAttendanceInSeconds', 'meetingEndDateTime'])
        assert.ok(warns.some((l) => l.field === field && l.user_upn === c.a.toLowerCase() && l.item), `a warning names ${field}, the mailbox and the item`);
      // the snapshot keeps what Graph sent
      const text = JSON.stringify(c.run.snapshots.final[upnPath(c.a)].json);
      assert.ok(text.includes('"leaveDateTime":""') && text.includes('"not a time"'), 'the snapshot keeps the bad values');
    } finally {
      await c.close();
    }
  });

  // Events with large bodies can make a first page bigger than one answer may be: the
  // listing is asked again with fewer events a page, and nothing is lost.
  test('a first calendar page over the response cap is asked again with a smaller $top', T, async () => {
    const c = await runWith(
      (sb, a) => [{ kind: 'calendarView', mailbox: a, corrupt: 'hugeSubject', size: 60000, random: true, all: true }],
      { env: { ATTENDANCE_MAX_RESPONSE_MB: '1' } },
    );
    try {
      assert.equal(c.r.code, 0, describeRun(c.r));
      const tops = c.sb.requests.filter((e) => e.kind === 'calendarView' && e.mailbox === c.a && e.query?.['$top']).map((e) => Number(e.query['$top']));
      assert.ok(tops.length >= 2 && tops.at(-1) < tops[0], `$top went down: ${tops.join(', ')}`);
      assert.ok(c.r.logLines.some((l) => /over the response cap/.test(l.msg)), 'the log says why');
      const mbA = c.run.manifest.mailboxes.find((m) => m.upn === c.a.toLowerCase());
      assert.equal(mbA.counts.events, c.exps[0].counts.events, 'every event landed');
      assert.equal(mbA.counts.attendance_records, c.exps[0].counts.attendance_records, 'every record landed');
    } finally {
      await c.close();
    }
  });
});
