// The sandbox Graph in a process of its own for bench/run: the benchmark reads its
// CPU time from /proc and talks to it over the fork IPC channel (stats, log reset,
// the ground truth per mailbox, the request list of a run for the sequential replay),
// so nothing but the job's requests runs on the sandbox's event loop.
//
// Started by run.mjs with fork(); argv: a JSON object {seed, mailboxes, latencyMs,
// sandboxDir}. Sends {ready, url, tenantId, clientId, clientSecret, users, genMs}
// once listening, then answers {id, cmd, ...} messages with {id, result|error}.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const opts = JSON.parse(process.argv[2] || '{}');
const sandboxDir = path.resolve(opts.sandboxDir || path.join(here, '..', 'tests', 'sandbox'));
const { startSandbox } = await import(pathToFileURL(path.join(sandboxDir, 'graph.js')).href);
const { expectedMailbox } = await import(pathToFileURL(path.join(here, '..', 'tests', 'e2e', 'expect.js')).href);

const t0 = Date.now();
const sb = await startSandbox({ seed: opts.seed ?? 1, mailboxes: opts.mailboxes, latencyMs: opts.latencyMs });
const genMs = Date.now() - t0;
const tenant = sb.tenant;

// Meetings by organizer, built once: the ground truth of a mailbox is then computed
// on a tenant holding that mailbox alone, which costs the same whatever the tenant size.
const byOrganizer = new Map();
for (const [id, m] of Object.entries(tenant.meetings)) {
  if (!byOrganizer.has(m.organizerId)) byOrganizer.set(m.organizerId, {});
  byOrganizer.get(m.organizerId)[id] = m;
}
const byUpn = new Map(tenant.users.map((u) => [u.userPrincipalName.toLowerCase(), u]));

function expectedCounts(upn, windowStart, windowEnd) {
  const u = byUpn.get(upn.toLowerCase());
  if (!u) return null;
  const light = {
    users: [u],
    events: { [u.id]: tenant.events[u.id] },
    meetings: byOrganizer.get(u.id) || {},
  };
  const exp = expectedMailbox({ tenant: light, served: new Map() }, u.userPrincipalName, { windowStart, windowEnd });
  return exp.counts;
}

function stats() {
  const s = sb.stats();
  const per = Object.values(s.maxConcurrencyPerMailbox);
  const kinds = {};
  const statuses = {};
  for (const e of sb.requests) {
    kinds[e.kind] = (kinds[e.kind] || 0) + 1;
    statuses[e.status] = (statuses[e.status] || 0) + 1;
  }
  return {
    requests: s.requests,
    maxConcurrency: s.maxConcurrency,
    mailboxesOver4: per.filter((n) => n > 4).length,
    mailboxesSeen: per.filter((n) => n > 0).length,
    maxInflightAll: s.maxInflightAll,
    mailboxConcurrency429: s.mailboxConcurrency429,
    tokensIssued: s.tokensIssued,
    kinds,
    statuses,
    rssMiB: process.memoryUsage().rss / 1048576,
  };
}

// The requests a run made for the given mailboxes, in the order the sandbox got them.
function replayPlan(upns) {
  const want = new Set(upns.map((u) => u.toLowerCase()));
  const plan = {};
  for (const e of sb.requests) {
    if (e.kind === 'token' || !e.mailbox) continue;
    const k = String(e.mailbox).toLowerCase();
    if (!want.has(k)) continue;
    (plan[k] ||= []).push({
      method: e.method,
      url: e.path + (e.rawQuery ? `?${e.rawQuery}` : ''),
      prefer: e.headers.prefer,
      kind: e.kind,
    });
  }
  return plan;
}

process.on('message', (msg) => {
  const reply = (result) => process.send({ id: msg.id, result });
  try {
    switch (msg.cmd) {
      case 'stats':
        return reply(stats());
      case 'reset':
        sb.resetLog();
        sb.served.clear();
        return reply(true);
      case 'expected': {
        const out = {};
        for (const [upn, ws, we] of msg.windows) out[upn.toLowerCase()] = expectedCounts(upn, ws, we);
        return reply(out);
      }
      case 'replayPlan':
        return reply(replayPlan(msg.upns));
      case 'close':
        return sb.close().then(() => {
          reply(true);
          process.exit(0);
        });
      default:
        return process.send({ id: msg.id, error: `unknown command ${msg.cmd}` });
    }
  } catch (e) {
    return process.send({ id: msg.id, error: e.stack || String(e) });
  }
});
process.on('disconnect', () => process.exit(0));

process.send({
  ready: true,
  url: sb.url,
  tenantId: tenant.tenantId,
  clientId: tenant.clientId,
  clientSecret: tenant.clientSecret,
  users: tenant.users.map((u) => u.userPrincipalName),
  genMs,
});
