// A small HTTP proxy in front of Azurite that breaks storage on purpose, while the
// storage behind it stays real: requests pass through unchanged (Shared Key signs
// the path, not the host, so the job's signatures still hold) unless a rule picks
// them, and then the proxy answers an error status of its own, resets the
// connection, goes down (closes its port and every open connection, as a stopped
// Azurite would), or holds the request until the test lets it go.
//
//   const px = await startStorageProxy(az);        // az from harness.startAzurite()
//   px.connectionString                            // give this to the job
//   px.setRules([{ method: 'PUT', path: /registry\/checkpoint\.json$/, action: 'down' }]);
//   px.requests                                    // {method, path, query, status, rule}
//   await px.down(); await px.up(); await px.close();
//
// A rule: { method, path (RegExp or string, on the path), query (RegExp, on the raw
// query), after (let the first N matches pass), count (apply at most N times),
// action: 'status' | 'reset' | 'down' | 'hold', status, errorCode (x-ms-error-code),
// hold: async ({method, path, query}) => {} (the request goes on when it resolves),
// message (the XML error's <Message>) }. errorCode and message may be functions of
// what the request carried, seen = {method, path, query, headers, sig (the SAS
// signature as sent, %-encoded), sigDecoded, sharedKeySig (of Authorization:
// SharedKey account:signature)}, for an error that echoes it, as Azure Storage's
// AuthenticationFailed quotes the request's signature.
import http from 'node:http';
import { DEV_ACCOUNT, DEV_KEY } from './harness.js';

const STATUS_TEXT = {
  500: ['InternalError', 'The server encountered an internal error. Please retry the request.'],
  503: ['ServerBusy', 'The server is currently unable to receive requests. Please retry your request.'],
  412: ['ConditionNotMet', 'The condition specified using HTTP conditional header(s) is not met.'],
  409: ['BlobAlreadyExists', 'The specified blob already exists.'],
};

const xmlText = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function requestSeen(req, path, query) {
  const raw = /(?:^|&)sig=([^&]*)/.exec(query);
  let sigDecoded = null;
  try {
    sigDecoded = raw ? decodeURIComponent(raw[1]) : null;
  } catch {
    sigDecoded = raw[1];
  }
  const sk = /^SharedKey\s+[^:]+:(.+)$/.exec(req.headers.authorization || '');
  return { method: req.method, path, query, headers: { ...req.headers }, sig: raw ? raw[1] : null, sigDecoded, sharedKeySig: sk ? sk[1] : null };
}

export async function startStorageProxy(az, { host = '127.0.0.1' } = {}) {
  const state = { rules: [], requests: [], sockets: new Set(), down: false, port: 0 };
  const target = { host: '127.0.0.1', port: az.port };

  function match(entry) {
    for (const rule of state.rules) {
      if (rule.method && rule.method.toUpperCase() !== entry.method) continue;
      if (rule.path && !(rule.path instanceof RegExp ? rule.path : new RegExp(rule.path)).test(entry.path)) continue;
      if (rule.query && !(rule.query instanceof RegExp ? rule.query : new RegExp(rule.query)).test(entry.query)) continue;
      rule.seen = (rule.seen || 0) + 1;
      if (rule.seen <= (rule.after || 0)) continue;
      if ((rule.applied || 0) >= (rule.count ?? Infinity)) continue;
      rule.applied = (rule.applied || 0) + 1;
      return rule;
    }
    return null;
  }

  function forward(req, res, body, entry) {
    const up = http.request(
      { host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        entry.status = ur.statusCode;
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => {
      entry.status = 'upstream-error';
      req.socket.destroy();
    });
    up.end(body);
  }

  async function handle(req, res) {
    const [path, query = ''] = req.url.split(/\?(.*)/s);
    const entry = { method: req.method, path: decodeURIComponent(path), query, status: null, rule: null, time: Date.now() };
    state.requests.push(entry);
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const rule = match(entry);
    if (rule) entry.rule = rule.name || rule.action || 'status';
    if (rule && rule.action === 'hold') await rule.hold({ method: entry.method, path: entry.path, query });
    if (rule && rule.action === 'reset') {
      entry.status = 'reset';
      req.socket.destroy();
      return;
    }
    if (rule && rule.action === 'down') {
      entry.status = 'down';
      await goDown();
      return;
    }
    if (rule && (rule.action === 'status' || (!rule.action && rule.status))) {
      const [code, text] = STATUS_TEXT[rule.status] || ['InternalError', 'Injected failure.'];
      const seen = requestSeen(req, path, query);
      const pick = (v, dflt) => (typeof v === 'function' ? v(seen) : v || dflt);
      const errorCode = pick(rule.errorCode, code);
      const message = xmlText(pick(rule.message, text));
      const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${xmlText(errorCode)}</Code><Message>${message}\nRequestId:00000000-0000-0000-0000-000000000000\nTime:${new Date().toISOString()}</Message></Error>`;
      entry.status = rule.status;
      res.writeHead(rule.status, {
        'Content-Type': 'application/xml',
        'Content-Length': Buffer.byteLength(xml),
        'x-ms-error-code': errorCode,
        'x-ms-request-id': '00000000-0000-0000-0000-000000000000',
        ...(rule.retryAfter !== undefined ? { 'Retry-After': String(rule.retryAfter) } : {}),
      });
      res.end(xml);
      return;
    }
    forward(req, res, body, entry);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on('connection', (s) => {
    if (state.down) {
      s.destroy();
      return;
    }
    state.sockets.add(s);
    s.on('close', () => state.sockets.delete(s));
  });

  const listen = (port) =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });

  async function goDown() {
    if (state.down) return;
    state.down = true;
    const closed = new Promise((r) => server.close(() => r()));
    for (const s of state.sockets) s.destroy();
    state.sockets.clear();
    await closed;
  }

  await listen(0);
  state.port = server.address().port;
  const blobEndpoint = `http://${host}:${state.port}/${DEV_ACCOUNT}`;

  return {
    port: state.port,
    blobEndpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${blobEndpoint};`,
    get requests() {
      return state.requests;
    },
    get isDown() {
      return state.down;
    },
    setRules(rules) {
      state.rules = rules.map((r) => ({ ...r, seen: 0, applied: 0 }));
    },
    clearRules() {
      state.rules = [];
    },
    resetLog() {
      state.requests.length = 0;
    },
    // closes the port and every open connection: the job sees connection refused
    down: goDown,
    // listens again on the same port
    async up() {
      if (!state.down) return;
      await listen(state.port);
      state.down = false;
    },
    async close() {
      state.rules = [];
      if (!state.down) await goDown();
    },
  };
}
