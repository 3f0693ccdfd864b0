#!/usr/bin/env node
// The sandbox Microsoft Graph: the Microsoft identity platform's token endpoint and
// the Graph v1.0 calls the job makes (user lookup, calendarView, onlineMeetings by
// JoinWebUrl, attendance reports and records), served over plain http on loopback
// from a generated tenant (tenant.js), shaped field for field like Microsoft's
// documented responses. It also reproduces what production does to a client:
// Outlook's per-mailbox concurrency limit, token expiry, paging, and, on demand,
// faults (throttling, 5xx, slow answers, resets, truncated or broken bodies,
// nextLinks that leave the host or loop). It is also the platform's managed identity
// endpoints, issuing Graph tokens its Graph routes accept: Container Apps / App Service
// (GET /msi/token?api-version=2019-08-01&resource=..., X-IDENTITY-HEADER) and the VM
// metadata endpoint (GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...,
// Metadata: true).
//
//   import { startSandbox } from './graph.js';
//   const sb = await startSandbox({ seed: 7, mailboxes: 3 });
//   ... sb.url, sb.tenant, sb.requests, sb.setFaults([...]), sb.close()
//
// CLI: node tests/sandbox/graph.js --port N --seed S --mailboxes K
// prints one JSON line {url, port, tenantId, clientId, clientSecret, users, truth}
// and serves until killed; control endpoints live under /_sandbox/.

import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  generateTenant,
  findUser,
  findGroup,
  groupsByMail,
  transitiveUsers,
  directoryOf,
  meetingByJoinUrl,
  visibleReports,
  truthJson,
  parseTimeMs,
} from './tenant.js';

const GRAPH_JSON = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';
const POLICY_MESSAGE = 'No Application Access Policy found for this app';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- error bodies

function innerError(reqId, clientReqId) {
  const inner = { date: new Date().toISOString().slice(0, 19), 'request-id': reqId };
  if (clientReqId) inner['client-request-id'] = clientReqId;
  else inner['client-request-id'] = reqId;
  return inner;
}

export function graphError(code, message, ctx, { inner = true } = {}) {
  const error = { code, message };
  if (inner) error.innerError = innerError(ctx.requestId, ctx.clientRequestId);
  return { error };
}

const DEFAULT_FAULT_BODIES = {
  400: (ctx) => graphError('BadRequest', 'Bad request.', ctx),
  401: (ctx) => graphError('InvalidAuthenticationToken', 'Access token has expired or is not yet valid.', ctx),
  403: (ctx) => graphError('Forbidden', POLICY_MESSAGE, ctx),
  404: (ctx) => graphError('NotFound', 'The requested resource was not found.', ctx),
  429: (ctx) => ({
    error: {
      code: 'TooManyRequests',
      innerError: {
        code: '429',
        date: new Date().toISOString().slice(0, 19),
        message: 'Please retry after',
        'request-id': ctx.requestId,
        status: '429',
      },
      message: 'Please retry again later.',
    },
  }),
  500: (ctx) => graphError('generalException', 'An unexpected error occurred.', ctx),
  502: (ctx) => graphError('BadGateway', 'Bad gateway.', ctx),
  503: (ctx) => graphError('serviceNotAvailable', 'The service is temporarily unavailable. Please retry later.', ctx),
  504: (ctx) => graphError('UnknownError', 'Gateway timeout.', ctx),
};

export function aadError(error, code, description, ctx) {
  const ts = new Date().toISOString().replace('T', ' ').slice(0, 19) + 'Z';
  return {
    error,
    error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${ctx.requestId}\r\nCorrelation ID: ${ctx.correlationId}\r\nTimestamp: ${ts}`,
    error_codes: [code],
    timestamp: ts,
    trace_id: ctx.requestId,
    correlation_id: ctx.correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  };
}

// What a request carried, for a fault body that echoes it (as servers do: Entra ID
// quotes a bad client_assertion, Graph an unparsable token): the bearer token, the
// raw body and, for a form, its fields decoded, the headers (lower-case names) and
// the query decoded.
function requestSeen(req, rawBody) {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization || '');
  let form = {};
  let query = {};
  try {
    form = parseQuery(rawBody);
  } catch {
    /* not a form */
  }
  try {
    query = parseQuery(req.url.split(/\?(.*)/s)[1] || '');
  } catch {
    /* a malformed query */
  }
  return { bearer: m ? m[1].trim() : null, rawBody, form, headers: { ...req.headers }, query };
}

// ---------------------------------------------------------------- url helpers

// Query values are decoded once, '+' read as a space (what ASP.NET does).
function parseQuery(raw) {
  const out = {};
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    const dk = decodeURIComponent(k.replace(/\+/g, ' '));
    const dv = decodeURIComponent(v.replace(/\+/g, ' '));
    out[dk] = dv;
  }
  return out;
}

// OData string literal inside a $filter: 'a''b' is a'b; a lone quote is an error.
function parseJoinWebUrlFilter(filter) {
  const m = /^\s*joinWebUrl\s+eq\s+'(.*)'\s*$/is.exec(filter);
  if (!m) return { error: `Invalid filter clause: ${filter.slice(0, 80)}` };
  const inner = m[1];
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === "'") {
      if (inner[i + 1] === "'") {
        out += "'";
        i++;
      } else return { error: `Syntax error: character ''' at position ${i + 20} is not valid.` };
    } else out += inner[i];
  }
  return { url: out };
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeJwt(jwt) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3) return null;
  try {
    const dec = (s) => JSON.parse(Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
    return { header: dec(parts[0]), payload: dec(parts[1]), signingInput: `${parts[0]}.${parts[1]}`, signature: parts[2] };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- server

export async function startSandbox(opts = {}) {
  const o = {
    host: '127.0.0.1',
    port: 0,
    tokenLifetimeSeconds: 3599,
    latencyMs: [5, 20],
    mailboxConcurrencyLimit: 4,
    recordsPageSize: 3,
    calendarViewMaxTop: null, // serve at most this many events per page (paging in tests)
    groupMembersMaxTop: null, // serve at most this many group members per page (paging in tests)
    groupMemberRead: true, // the app holds GroupMember.Read.All (false: group calls get 403)
    userReadAll: true, // the app holds User.Read.All (false: members come with limited information)
    policyMissing: [], // UPNs or ids whose onlineMeetings calls get the policy 403
    certificates: [], // PEM certificates accepted for client assertions (signature checked)
    identityHeader: `ih-${crypto.randomBytes(12).toString('hex')}`, // X-IDENTITY-HEADER expected by /msi/token
    identityClientIds: null, // user-assigned identities the endpoints know (null: any client_id)
    identityResources: [], // resources the identity endpoints also issue tokens for (besides this host)
    ...opts,
  };
  const tenant = o.tenant || generateTenant({ seed: o.seed ?? 1, mailboxes: o.mailboxes ?? 3, now: o.now ?? Date.now(), ...(o.tenantOptions || {}) });
  if (o.clientSecret) tenant.clientSecret = o.clientSecret;

  const state = {
    seq: 0,
    requests: [],
    faults: [],
    tokens: new Map(), // token value -> {id, exp, revoked}
    tokenSeq: 0,
    inflight: new Map(), // userId -> count
    maxInflight: new Map(), // userId -> max seen
    inflightAll: 0,
    maxInflightAll: 0,
    throttled429: 0,
    served: new Map(), // userId -> Map(eventId -> JSON as last served)
    policyMissing: new Set(o.policyMissing.map((k) => (findUser(tenant, k) || { id: k }).id)),
    trapRequests: [],
    groupMemberRead: o.groupMemberRead,
    userReadAll: o.userReadAll,
  };

  let base = '';

  // A second listener on another loopback address: an off-host nextLink points here,
  // and anything that arrives (with or without a token) is recorded.
  const trap = http.createServer((req, res) => {
    state.trapRequests.push({
      method: req.method,
      url: req.url,
      authorization: !!req.headers.authorization,
      time: Date.now(),
    });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"value":[]}');
  });
  let trapHost = '127.0.0.2';
  await new Promise((resolve) => {
    trap.once('error', () => {
      trapHost = '127.0.0.1';
      trap.listen(0, trapHost, resolve);
    });
    trap.listen(0, trapHost, resolve);
  });
  const trapBase = `http://${trapHost}:${trap.address().port}`;

  // ------------------------------------------------------------ tokens

  function issueToken() {
    const id = `t${++state.tokenSeq}`;
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5t: 'sandbox', kid: 'sandbox' }));
    const payload = b64url(
      JSON.stringify({
        aud: base,
        iss: `https://sts.windows.net/${tenant.tenantId}/`,
        iat: now,
        nbf: now,
        exp: now + o.tokenLifetimeSeconds,
        appid: tenant.clientId,
        tid: tenant.tenantId,
        roles: ['Calendars.Read', 'OnlineMeetings.Read.All', 'OnlineMeetingArtifact.Read.All', 'User.Read.All'],
        uti: id,
      }),
    );
    const value = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.${payload}.${b64url(crypto.randomBytes(32))}`;
    void header;
    state.tokens.set(value, { id, exp: Date.now() + o.tokenLifetimeSeconds * 1000, revoked: false, value });
    return { id, value };
  }

  function checkAuth(req) {
    const h = req.headers.authorization;
    if (!h) return { ok: false, tokenId: null, message: 'Access token is empty.' };
    const m = /^Bearer\s+(.+)$/i.exec(h);
    if (!m) return { ok: false, tokenId: 'malformed', message: 'Access token validation failure. Invalid audience.' };
    const tok = state.tokens.get(m[1].trim());
    if (!tok) return { ok: false, tokenId: 'unknown', message: 'CompactToken parsing failed with error code: 80049217' };
    if (tok.revoked || tok.exp <= Date.now())
      return { ok: false, tokenId: tok.id, message: 'Access token has expired or is not yet valid.' };
    return { ok: true, tokenId: tok.id };
  }

  // ------------------------------------------------------------ handlers

  function tokenEndpoint(ctx, tenantSeg, body, entry) {
    const form = parseQuery(body);
    const aad = (status, err, code, desc) => ({ status, body: aadError(err, code, desc, ctx), json: true, aad: true });
    entry.form = {
      grant_type: form.grant_type ?? null,
      client_id: form.client_id ?? null,
      scope: form.scope ?? null,
      credential: form.client_secret !== undefined ? 'secret' : form.client_assertion !== undefined ? 'assertion' : 'none',
    };
    const t = tenantSeg.toLowerCase();
    if (t !== tenant.tenantId && t !== tenant.domain)
      return aad(400, 'invalid_request', 90002, `Tenant '${tenantSeg}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    if (!form.grant_type) return aad(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    if (form.grant_type !== 'client_credentials')
      return aad(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    if (!form.client_id) return aad(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    if (form.client_id !== tenant.clientId)
      return aad(400, 'unauthorized_client', 700016, `Application with identifier '${form.client_id}' was not found in the directory '${tenant.domain}'.`);
    const okScopes = [`${base}/.default`];
    if (!form.scope) return aad(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
    if (!okScopes.includes(form.scope))
      return aad(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid. The scope ${form.scope} is not valid.`);
    if (form.client_secret !== undefined) {
      if (form.client_secret !== tenant.clientSecret)
        return aad(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.');
    } else if (form.client_assertion !== undefined) {
      if (form.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
        return aad(400, 'invalid_request', 90014, "The request body must contain the following parameter: 'client_assertion_type'.");
      const jwt = decodeJwt(form.client_assertion);
      if (!jwt) return aad(401, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
      const p = jwt.payload;
      const nowS = Date.now() / 1000;
      entry.assertion = {
        alg: jwt.header.alg,
        x5tS256: !!jwt.header['x5t#S256'],
        x5t: !!jwt.header.x5t,
        aud: p.aud,
        iss: p.iss,
        sub: p.sub,
        jti: !!p.jti,
        nbf: p.nbf,
        exp: p.exp,
      };
      const tokenUrl = `${base}/${tenantSeg}/oauth2/v2.0/token`;
      if (p.aud !== tokenUrl)
        return aad(401, 'invalid_client', 700212, `No matching federated identity record found for presented assertion audience '${p.aud}'.`);
      if (p.iss !== tenant.clientId || p.sub !== tenant.clientId)
        return aad(401, 'invalid_client', 700023, 'Client assertion audience claim does not match Realm issuer.');
      if (!p.jti) return aad(401, 'invalid_client', 700025, 'Client is public so neither client_assertion nor client_secret should be presented.');
      if (typeof p.exp !== 'number' || p.exp < nowS - 300 || (typeof p.nbf === 'number' && p.nbf > nowS + 300))
        return aad(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
      if (o.certificates.length) {
        const verified = o.certificates.some((pem) => {
          try {
            const x = new crypto.X509Certificate(pem);
            const thumb = b64url(crypto.createHash('sha256').update(x.raw).digest());
            const thumb1 = b64url(crypto.createHash('sha1').update(x.raw).digest());
            const hdr = jwt.header;
            if (hdr['x5t#S256'] ? hdr['x5t#S256'].replace(/=+$/, '') !== thumb : (hdr.x5t || '').replace(/=+$/, '') !== thumb1) return false;
            const sig = Buffer.from(jwt.signature.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
            const key = x.publicKey;
            if (hdr.alg === 'PS256')
              return crypto.verify('sha256', Buffer.from(jwt.signingInput), { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
            if (hdr.alg === 'RS256') return crypto.verify('sha256', Buffer.from(jwt.signingInput), key, sig);
            return false;
          } catch {
            return false;
          }
        });
        if (!verified) return aad(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
      }
    } else {
      return aad(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    const tok = issueToken();
    entry.issuedTokenId = tok.id;
    return {
      status: 200,
      json: true,
      aad: true,
      body: { token_type: 'Bearer', expires_in: o.tokenLifetimeSeconds, ext_expires_in: o.tokenLifetimeSeconds, access_token: tok.value },
    };
  }

  // The managed identity endpoints: a token for the resource asked for, which must be
  // this Graph host. The header value is never recorded, only whether it matched.
  function identityEndpoint(ctx, entry, req, q) {
    const imds = entry.kind === 'imds';
    const bad = (status, error, description) => ({ status, json: true, aad: true, body: { error, error_description: description } });
    const header = imds ? req.headers.metadata : req.headers['x-identity-header'];
    entry.identity = {
      apiVersion: q['api-version'] ?? null,
      resource: q.resource ?? null,
      clientId: q.client_id ?? null,
      header: header === undefined ? 'missing' : imds ? (header === 'true' ? 'ok' : 'wrong') : header === o.identityHeader ? 'ok' : 'wrong',
    };
    if (req.method !== 'GET') return bad(405, 'invalid_request', 'Use GET.');
    if (entry.identity.header !== 'ok')
      return imds ? bad(400, 'invalid_request', 'Required metadata header not specified') : bad(401, 'invalid_request', 'The X-IDENTITY-HEADER is missing or wrong.');
    if (entry.identity.apiVersion !== (imds ? '2018-02-01' : '2019-08-01')) return bad(400, 'invalid_request', 'Unsupported api-version.');
    if (!entry.identity.resource) return bad(400, 'invalid_request', 'Required query variable \'resource\' is missing');
    const resource = entry.identity.resource.replace(/\/+$/, '');
    if (resource !== base && !o.identityResources.includes(resource))
      return bad(400, 'invalid_resource', `AADSTS500011: The resource principal named ${entry.identity.resource} was not found in the tenant named ${tenant.domain}.`);
    if (o.identityClientIds && entry.identity.clientId !== null && !o.identityClientIds.includes(entry.identity.clientId))
      return bad(400, 'invalid_request', 'Identity not found');
    const tok = issueToken();
    entry.issuedTokenId = tok.id;
    const exp = Math.floor(Date.now() / 1000) + o.tokenLifetimeSeconds;
    const body = { access_token: tok.value, expires_on: String(exp), resource: entry.identity.resource, token_type: 'Bearer', client_id: entry.identity.clientId || tenant.clientId };
    if (imds) Object.assign(body, { expires_in: String(o.tokenLifetimeSeconds), ext_expires_in: String(o.tokenLifetimeSeconds), not_before: String(exp - o.tokenLifetimeSeconds) });
    return { status: 200, json: true, aad: true, body };
  }

  function renderEvent(ev, prefs, select) {
    const j = structuredClone(ev.json);
    if (prefs.bodyText) j.body = { contentType: 'text', content: ev.textBody };
    if (!select) return j;
    const keep = new Set(['@odata.etag', 'id', ...select]);
    keep.delete('createdDateTime');
    keep.delete('lastModifiedDateTime');
    const out = {};
    for (const k of Object.keys(j)) if (keep.has(k)) out[k] = j[k];
    return out;
  }

  function parsePrefer(h) {
    const s = Array.isArray(h) ? h.join(', ') : h || '';
    const tz = /outlook\.timezone\s*=\s*"([^"]*)"/i.exec(s);
    const bt = /outlook\.body-content-type\s*=\s*"([^"]*)"/i.exec(s);
    return { timezone: tz ? tz[1] : null, bodyText: !!bt && bt[1].toLowerCase() === 'text', bodyType: bt ? bt[1] : null };
  }

  function calendarView(ctx, user, userSeg, q, req) {
    const prefs = parsePrefer(req.headers.prefer);
    if (q.startDateTime === undefined || q.endDateTime === undefined)
      return { status: 400, body: graphError('ErrorInvalidParameter', 'This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.', ctx) };
    const ws = parseTimeMs(q.startDateTime);
    const we = parseTimeMs(q.endDateTime);
    if (Number.isNaN(ws) || Number.isNaN(we))
      return { status: 400, body: graphError('ErrorInvalidParameter', `The value '${Number.isNaN(ws) ? q.startDateTime : q.endDateTime}' of parameter 'StartDateTime' is invalid.`, ctx) };
    let top = 10;
    if (q.$top !== undefined) {
      top = /^\d+$/.test(q.$top) ? +q.$top : NaN;
      if (!(top >= 1 && top <= 1000))
        return { status: 400, body: graphError('ErrorInvalidParameter', `The value '${q.$top}' of parameter 'Top' is invalid.`, ctx) };
    }
    const skip = q.$skip !== undefined ? +q.$skip : 0;
    if (!Number.isInteger(skip) || skip < 0)
      return { status: 400, body: graphError('ErrorInvalidParameter', `The value '${q.$skip}' of parameter 'Skip' is invalid.`, ctx) };
    const select = q.$select ? q.$select.split(',').map((s) => s.trim()).filter(Boolean) : null;
    const pageSize = o.calendarViewMaxTop ? Math.min(top, o.calendarViewMaxTop) : top;
    const all = tenant.events[user.id].filter((e) => e.startMs < we && e.endMs > ws);
    const page = all.slice(skip, skip + pageSize);
    const served = state.served.get(user.id) || new Map();
    state.served.set(user.id, served);
    const value = page.map((e) => {
      const j = renderEvent(e, prefs, select);
      served.set(j.id, j);
      return j;
    });
    const body = { '@odata.context': `${base}/v1.0/$metadata#users('${encodeURIComponent(userSeg)}')/calendarView` };
    if (skip + pageSize < all.length) {
      const keep = Object.entries(q)
        .filter(([k]) => !['$top', '$skip'].includes(k))
        .map(([k, v]) => `${encodeURIComponent(k).replace(/%24/g, '%24')}=${encodeURIComponent(v).replace(/%3A/g, '%3a')}`);
      keep.push(`%24top=${top}`, `%24skip=${skip + pageSize}`);
      body['@odata.nextLink'] = `${base}/v1.0/users/${encodeURIComponent(userSeg)}/calendarView?${keep.join('&')}`;
    }
    body.value = value;
    const headers = {};
    const applied = [];
    if (prefs.timezone) applied.push(`outlook.timezone="${prefs.timezone}"`);
    if (prefs.bodyType) applied.push(`outlook.body-content-type="${prefs.bodyType}"`);
    if (applied.length) headers['Preference-Applied'] = applied.join(', ');
    return { status: 200, body, headers };
  }

  function userGet(ctx, user, userSeg, q) {
    const full = {
      businessPhones: user.businessPhones,
      displayName: user.displayName,
      givenName: user.givenName,
      jobTitle: user.jobTitle,
      mail: user.mail,
      mobilePhone: user.mobilePhone,
      officeLocation: user.officeLocation,
      preferredLanguage: user.preferredLanguage,
      surname: user.surname,
      userPrincipalName: user.userPrincipalName,
      id: user.id,
    };
    if (q.$select) {
      const sel = q.$select.split(',').map((s) => s.trim());
      const body = { '@odata.context': `${base}/v1.0/$metadata#users(${sel.join(',')})/$entity` };
      for (const k of sel) {
        const real = Object.keys(full).find((f) => f.toLowerCase() === k.toLowerCase());
        if (!real) return { status: 400, body: graphError('Request_BadRequest', `Could not find a property named '${k}' on type 'microsoft.graph.user'.`, ctx) };
        body[real] = full[real];
      }
      return { status: 200, body };
    }
    return { status: 200, body: { '@odata.context': `${base}/v1.0/$metadata#users/$entity`, ...full } };
  }

  // ------------------------------------------------------------ groups

  // Directory requests without the permission: Microsoft Graph's answer.
  const denied = (ctx) => ({
    status: 403,
    body: graphError('Authorization_RequestDenied', 'Insufficient privileges to complete the operation.', ctx),
  });

  // OData string literal of `mail eq '...'` ('' is a quote).
  function parseMailFilter(filter) {
    const m = /^\s*mail\s+eq\s+'(.*)'\s*$/is.exec(filter);
    if (!m) return null;
    if (/(^|[^'])'([^']|$)/.test(m[1].replace(/''/g, ''))) return null;
    return m[1].replace(/''/g, "'");
  }

  const GROUP_PROPS = ['id', 'displayName', 'mail', 'mailEnabled'];
  const MEMBER_PROPS = ['id', 'userPrincipalName', 'mail', 'accountEnabled', 'userType', 'displayName'];

  function parseSelect(q, known, ctx, type) {
    if (q.$select === undefined) return { sel: null };
    const sel = [];
    for (const k of q.$select.split(',').map((s) => s.trim())) {
      const real = known.find((f) => f.toLowerCase() === k.toLowerCase());
      if (!real) return { error: { status: 400, body: graphError('Request_BadRequest', `Could not find a property named '${k}' on type '${type}'.`, ctx) } };
      sel.push(real);
    }
    return { sel };
  }

  // GET /groups?$filter=mail eq '...'
  function groupsList(ctx, q) {
    if (!state.groupMemberRead) return denied(ctx);
    const { sel, error } = parseSelect(q, GROUP_PROPS, ctx, 'microsoft.graph.group');
    if (error) return error;
    if (q.$filter === undefined) return { status: 400, body: graphError('Request_UnsupportedQuery', 'The sandbox lists groups by mail only.', ctx) };
    const mail = parseMailFilter(q.$filter);
    if (mail === null) return { status: 400, body: graphError('Request_UnsupportedQuery', `Unsupported or invalid query filter clause specified for property 'mail' of resource 'Group'.`, ctx) };
    const value = groupsByMail(tenant, mail).map((g) => {
      const full = { id: g.id, displayName: g.displayName, mail: g.mail, mailEnabled: g.mailEnabled };
      return sel ? Object.fromEntries(sel.map((k) => [k, full[k]])) : full;
    });
    return { status: 200, body: { '@odata.context': `${base}/v1.0/$metadata#groups${sel ? `(${sel.join(',')})` : ''}`, value } };
  }

  // GET /groups/{id}/transitiveMembers/microsoft.graph.user (the cast is an advanced
  // query: ConsistencyLevel: eventual and $count=true, or 400)
  function groupMembers(ctx, groupSeg, q, req) {
    if (!state.groupMemberRead) return denied(ctx);
    if (String(req.headers.consistencylevel || '').toLowerCase() !== 'eventual' || String(q.$count).toLowerCase() !== 'true')
      return {
        status: 400,
        body: graphError('Request_UnsupportedQuery', "The specified filter to the reference property query is currently not supported. An OData cast needs ConsistencyLevel: eventual and $count=true.", ctx),
      };
    const group = findGroup(tenant, groupSeg);
    if (!group)
      return { status: 404, body: graphError('Request_ResourceNotFound', `Resource '${groupSeg}' does not exist or one of its queried reference-property objects are not present.`, ctx) };
    const { sel, error } = parseSelect(q, MEMBER_PROPS, ctx, 'microsoft.graph.user');
    if (error) return error;
    let top = 100;
    if (q.$top !== undefined) {
      top = Number(q.$top);
      if (!Number.isInteger(top) || top < 1 || top > 999)
        return { status: 400, body: graphError('Request_BadRequest', `Invalid page size specified: '${q.$top}'. Must be between 1 and 999 inclusive.`, ctx) };
    }
    const size = o.groupMembersMaxTop ? Math.min(top, o.groupMembersMaxTop) : top;
    let offset = 0;
    if (q.$skiptoken !== undefined) {
      try {
        offset = JSON.parse(Buffer.from(q.$skiptoken.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString()).o;
      } catch {
        offset = NaN;
      }
      if (!Number.isInteger(offset) || offset < 0) return { status: 400, body: graphError('Request_BadRequest', 'Invalid paging token.', ctx) };
    }
    const all = transitiveUsers(tenant, group);
    const props = sel || ['id', 'displayName', 'mail', 'userPrincipalName'];
    const value = all.slice(offset, offset + size).map((u) => {
      const d = directoryOf(u);
      const full = { id: u.id, displayName: u.displayName, mail: u.mail, userPrincipalName: u.userPrincipalName, accountEnabled: d.accountEnabled, userType: d.userType };
      // without User.Read.All: the type and the id, every other property null
      const item = state.userReadAll ? {} : { '@odata.type': '#microsoft.graph.user' };
      for (const k of props) item[k] = state.userReadAll || k === 'id' ? full[k] : null;
      return item;
    });
    const body = { '@odata.context': `${base}/v1.0/$metadata#users${sel ? `(${sel.join(',')})` : ''}`, '@odata.count': all.length };
    if (offset + size < all.length) {
      const keep = Object.entries(q).filter(([k]) => k !== '$skiptoken').map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
      keep.push(`$skiptoken=${b64url(JSON.stringify({ o: offset + size, g: group.id.slice(0, 8) }))}`);
      body['@odata.nextLink'] = `${base}/v1.0/groups/${group.id}/transitiveMembers/microsoft.graph.user?${keep.join('&')}`;
    }
    body.value = value;
    return { status: 200, body };
  }

  const isGuid = (s) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

  function meetingsRoute(ctx, segs, q, userSeg) {
    // segs: after 'onlineMeetings'
    if (!isGuid(userSeg))
      return { status: 400, body: graphError('BadRequest', `Invalid user id '${userSeg}': the online meeting APIs take the user's object id.`, ctx) };
    const user = findUser(tenant, userSeg);
    if (!user) return { status: 404, body: graphError('NotFound', `User '${userSeg}' was not found.`, ctx) };
    if (state.policyMissing.has(user.id)) return { status: 403, body: graphError('Forbidden', POLICY_MESSAGE, ctx) };
    const forbidden = () => ({
      status: 403,
      body: graphError('Forbidden', 'The user in the request path is not the organizer of this meeting.', ctx),
    });
    const ctxBase = `${base}/v1.0/$metadata#users('${user.id}')/onlineMeetings`;
    if (segs.length === 0) {
      if (q.$filter === undefined)
        return { status: 400, body: graphError('BadRequest', 'Filter expression expected - /onlineMeetings?$filter=JoinWebUrl eq {joinWebUrl}.', ctx) };
      const f = parseJoinWebUrlFilter(q.$filter);
      if (f.error) return { status: 400, body: graphError('BadRequest', f.error, ctx) };
      const m = meetingByJoinUrl(tenant, f.url);
      if (m && m.organizerId !== user.id) return forbidden();
      return { status: 200, body: { '@odata.context': ctxBase, value: m ? [structuredClone(m.json)] : [] } };
    }
    const meetingId = segs[0];
    const m = tenant.meetings[meetingId];
    if (!m) return { status: 404, body: graphError('NotFound', 'The requested online meeting was not found.', ctx) };
    if (m.organizerId !== user.id) return forbidden();
    if (segs.length === 1) return { status: 200, body: { '@odata.context': `${ctxBase}/$entity`, ...structuredClone(m.json) } };
    if (segs[1].toLowerCase() !== 'attendancereports') return null;
    const repCtx = `${ctxBase}('${meetingId}')/attendanceReports`;
    if (segs.length === 2) {
      const value = visibleReports(m).map((r) => ({ ...structuredClone(r.json), attendanceRecords: [] }));
      return { status: 200, body: { '@odata.context': repCtx, value } };
    }
    const report = visibleReports(m).find((r) => r.json.id === segs[2]);
    if (!report) return { status: 404, body: graphError('NotFound', 'The requested attendance report was not found.', ctx) };
    const recordsUrl = `${base}/v1.0/users/${user.id}/onlineMeetings/${encodeURIComponent(meetingId)}/attendanceReports/${report.json.id}/attendanceRecords`;
    const pageOf = (offset) => {
      const size = o.recordsPageSize;
      const value = report.records.slice(offset, offset + size).map((r) => structuredClone(r));
      const next = offset + size < report.records.length ? `${recordsUrl}?$skiptoken=${b64url(JSON.stringify({ o: offset + size, r: report.json.id.slice(0, 8) }))}` : null;
      return { value, next };
    };
    if (segs.length === 3) {
      const body = { '@odata.context': `${repCtx}/$entity`, ...structuredClone(report.json) };
      if (q.$expand !== undefined) {
        if (q.$expand.trim().toLowerCase() !== 'attendancerecords')
          return { status: 400, body: graphError('BadRequest', `Could not find a property named '${q.$expand}' on type 'microsoft.graph.meetingAttendanceReport'.`, ctx) };
        const { value, next } = pageOf(0);
        body.attendanceRecords = value;
        if (next) body['attendanceRecords@odata.nextLink'] = next;
      }
      return { status: 200, body };
    }
    if (segs.length === 4 && segs[3].toLowerCase() === 'attendancerecords') {
      let offset = 0;
      if (q.$skiptoken !== undefined) {
        try {
          offset = JSON.parse(Buffer.from(q.$skiptoken.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString()).o;
        } catch {
          offset = NaN;
        }
        if (!Number.isInteger(offset)) return { status: 400, body: graphError('BadRequest', 'Invalid skip token.', ctx) };
      }
      const { value, next } = pageOf(offset);
      const body = { '@odata.context': `${repCtx}('${report.json.id}')/attendanceRecords` };
      if (next) body['@odata.nextLink'] = next;
      body.value = value;
      return { status: 200, body };
    }
    return null;
  }

  // ------------------------------------------------------------ routing

  function classify(method, segs) {
    if (segs.length === 4 && segs[1] === 'oauth2' && segs[2] === 'v2.0' && segs[3] === 'token') return 'token';
    if (segs.join('/') === 'msi/token') return 'identity';
    if (segs.join('/') === 'metadata/identity/oauth2/token') return 'imds';
    if (segs[0] === 'v1.0' && segs[1] === 'groups') {
      if (segs.length === 2) return 'groups';
      if (segs.length === 5 && segs[3].toLowerCase() === 'transitivemembers' && segs[4].toLowerCase() === 'microsoft.graph.user') return 'groupMembers';
      return 'unknown';
    }
    if (segs[0] !== 'v1.0' || segs[1] !== 'users' || segs.length < 3) return 'unknown';
    const rest = segs.slice(3).map((s) => s.toLowerCase());
    if (rest.length === 0) return 'user';
    if (rest.join('/') === 'calendarview' || rest.join('/') === 'calendar/calendarview') return 'calendarView';
    if (rest[0] === 'onlinemeetings') {
      if (rest.length === 1) return 'onlineMeetings';
      if (rest.length === 2) return 'onlineMeeting';
      if (rest.length === 3) return 'attendanceReports';
      if (rest.length === 4) return 'attendanceReport';
      if (rest.length === 5) return 'attendanceRecords';
    }
    return 'unknown';
  }

  function matchFault(entry, userId) {
    for (const rule of state.faults) {
      if (rule.method && rule.method.toUpperCase() !== entry.method) continue;
      if (rule.kind && rule.kind !== entry.kind) continue;
      if (rule.pathRe && !rule.pathRe.test(entry.path + (entry.rawQuery ? '?' + entry.rawQuery : ''))) continue;
      if (rule.mailbox) {
        const mu = findUser(tenant, rule.mailbox);
        if (!mu || mu.id !== userId) continue;
      }
      rule.seen++;
      if (rule.seen <= (rule.after || 0)) continue;
      if (rule.applied >= (rule.count ?? Infinity)) continue;
      rule.applied++;
      return rule;
    }
    return null;
  }

  function send(res, status, headers, payload) {
    if (res.destroyed || res.writableEnded) return;
    try {
      res.writeHead(status, headers);
      res.end(payload);
    } catch {
      /* the client went away */
    }
  }

  async function handle(req, res) {
    const started = Date.now();
    const [rawPath, rawQuery = ''] = req.url.split(/\?(.*)/s);

    // control plane, for the CLI and the demo
    if (rawPath.startsWith('/_sandbox/')) return control(req, res, rawPath);

    const ctx = {
      requestId: crypto.randomUUID(),
      clientRequestId: req.headers['client-request-id'] || null,
      correlationId: crypto.randomUUID(),
    };
    const entry = {
      seq: ++state.seq,
      method: req.method,
      path: rawPath,
      rawQuery,
      query: null,
      kind: null,
      mailbox: null,
      headers: {
        prefer: req.headers.prefer ?? null,
        authorization: !!req.headers.authorization,
        tokenId: null,
        contentType: req.headers['content-type'] ?? null,
        userAgent: req.headers['user-agent'] ?? null,
        clientRequestId: req.headers['client-request-id'] ?? null,
      },
      status: null,
      fault: null,
      startedAt: started,
      endedAt: null,
      concurrency: 0,
    };
    state.requests.push(entry);

    let segs;
    let q;
    try {
      segs = rawPath.split('/').slice(1).map((s) => decodeURIComponent(s));
      q = parseQuery(rawQuery);
    } catch {
      segs = null;
    }
    entry.query = q || null;
    entry.kind = segs ? classify(req.method, segs) : 'unknown';
    const userSeg = segs && segs[0] === 'v1.0' && segs[1] === 'users' ? segs[2] : null;
    const user = userSeg ? findUser(tenant, userSeg) : null;
    entry.mailbox = user ? user.userPrincipalName : userSeg;

    // in-flight accounting (per mailbox, and over all)
    let done = false;
    const uid = user ? user.id : null;
    if (uid) {
      const n = (state.inflight.get(uid) || 0) + 1;
      state.inflight.set(uid, n);
      state.maxInflight.set(uid, Math.max(state.maxInflight.get(uid) || 0, n));
      entry.concurrency = n;
    }
    state.inflightAll++;
    state.maxInflightAll = Math.max(state.maxInflightAll, state.inflightAll);
    const finish = () => {
      if (done) return;
      done = true;
      entry.endedAt = Date.now();
      state.inflightAll--;
      if (uid) state.inflight.set(uid, state.inflight.get(uid) - 1);
    };
    res.on('close', () => {
      if (entry.status === null) entry.status = 'aborted';
      finish();
    });

    const body = await new Promise((resolve) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', () => resolve(''));
    });

    const isToken = entry.kind === 'token' || entry.kind === 'identity' || entry.kind === 'imds';
    const reply = (status, obj, extraHeaders = {}, aad = false) => {
      entry.status = status;
      const payload = typeof obj === 'string' ? obj : JSON.stringify(obj);
      const headers = aad
        ? { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store, no-cache', 'x-ms-request-id': ctx.requestId }
        : {
            'Content-Type': GRAPH_JSON,
            'Cache-Control': 'no-cache',
            'OData-Version': '4.0',
            'request-id': ctx.requestId,
            'client-request-id': ctx.clientRequestId || ctx.requestId,
            'x-ms-ags-diagnostic': '{"ServerInfo":{"DataCenter":"Sandbox","Slice":"E","Ring":"1","ScaleUnit":"000","RoleInstance":"SBX"}}',
          };
      Object.assign(headers, extraHeaders);
      headers['Content-Length'] = Buffer.byteLength(payload);
      finish();
      send(res, status, headers, payload);
    };

    let fault = segs ? matchFault(entry, uid) : null;
    if (fault) entry.fault = fault.name || fault.index;

    const lat = Array.isArray(o.latencyMs) ? o.latencyMs[0] + Math.random() * (o.latencyMs[1] - o.latencyMs[0]) : o.latencyMs;
    if (lat > 0) await sleep(lat);

    if (!segs) return reply(400, graphError('BadRequest', 'The request URI is malformed.', ctx));

    // Outlook's per-mailbox concurrency limit
    if (uid && (entry.kind === 'calendarView' || entry.kind === 'user') && entry.concurrency > o.mailboxConcurrencyLimit) {
      state.throttled429++;
      return reply(429, { error: { code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.' } }, { 'Retry-After': '1' });
    }

    if (fault) {
      if (fault.revoke) revokeTokens();
      if (fault.delayMs) await sleep(fault.delayMs);
      if (fault.action === 'reset') {
        entry.status = 'reset';
        finish();
        req.socket.destroy();
        return;
      }
      if (fault.status) {
        const h = {};
        if (fault.retryAfter !== undefined && fault.retryAfter !== null) h['Retry-After'] = String(fault.retryAfter);
        if (fault.status === 401) h['WWW-Authenticate'] = `Bearer realm="", authorization_uri="${base}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`;
        let b;
        if (typeof fault.body === 'function') b = fault.body(ctx, requestSeen(req, body));
        else b = fault.body !== undefined ? fault.body : (DEFAULT_FAULT_BODIES[fault.status] || DEFAULT_FAULT_BODIES[500])(ctx);
        if (isToken && fault.body === undefined && fault.status >= 400 && fault.status < 500 && fault.status !== 429)
          b = aadError('invalid_client', 7000215, 'Invalid client secret provided.', ctx);
        return reply(fault.status, b, h, isToken);
      }
      if (fault.action === 'empty') {
        entry.status = 200;
        finish();
        return send(res, 200, { 'Content-Type': GRAPH_JSON, 'Content-Length': 0 }, '');
      }
      if (fault.action === 'invalidJson') return reply(200, '{"value":[{"id":"AAMk", "subject": "broken', {}, isToken);
    }

    let out;
    try {
      if (isToken) {
        if (entry.kind !== 'token') out = identityEndpoint(ctx, entry, req, q);
        else if (req.method !== 'POST') out = { status: 405, body: graphError('MethodNotAllowed', 'Use POST.', ctx) };
        else out = tokenEndpoint(ctx, segs[0], body, entry);
      } else if (entry.kind === 'unknown') {
        out = { status: 400, body: graphError('BadRequest', `Resource not found for the segment '${segs[segs.length - 1] || ''}'.`, ctx) };
      } else {
        const auth = checkAuth(req);
        entry.headers.tokenId = auth.tokenId;
        if (!auth.ok) {
          out = {
            status: 401,
            body: graphError('InvalidAuthenticationToken', auth.message, ctx),
            headers: { 'WWW-Authenticate': `Bearer realm="", authorization_uri="${base}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"` },
          };
        } else if (req.method !== 'GET') {
          out = { status: 405, body: graphError('Request_BadRequest', 'Specified HTTP method is not allowed for the request target.', ctx) };
        } else if (entry.kind === 'groups') {
          out = groupsList(ctx, q);
        } else if (entry.kind === 'groupMembers') {
          out = groupMembers(ctx, segs[2], q, req);
        } else if (entry.kind === 'user') {
          out = user ? userGet(ctx, user, userSeg, q) : { status: 404, body: graphError('Request_ResourceNotFound', `Resource '${userSeg}' does not exist or one of its queried reference-property objects are not present.`, ctx) };
        } else if (entry.kind === 'calendarView') {
          if (user && !directoryOf(user).mailbox)
            out = { status: 404, body: graphError('MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.', ctx) };
          else out = user ? calendarView(ctx, user, userSeg, q, req) : { status: 404, body: graphError('ErrorInvalidUser', `The requested user '${userSeg}' is invalid.`, ctx) };
        } else {
          const i = segs.findIndex((s, k) => k >= 3 && s.toLowerCase() === 'onlinemeetings');
          out = meetingsRoute(ctx, segs.slice(i + 1), q, userSeg);
          if (!out) out = { status: 400, body: graphError('BadRequest', `Resource not found for the segment '${segs[segs.length - 1]}'.`, ctx) };
        }
      }
    } catch (e) {
      out = { status: 500, body: graphError('generalException', `sandbox: ${e.message}`, ctx) };
    }

    if (fault && out.status === 200 && out.body && typeof out.body === 'object') {
      const linkKey = out.body['attendanceRecords@odata.nextLink'] !== undefined || (entry.kind === 'attendanceReport' && out.body.attendanceRecords) ? 'attendanceRecords@odata.nextLink' : '@odata.nextLink';
      if (fault.action === 'nextLinkOffHost') out.body[linkKey] = `${trapBase}${rawPath}?${rawQuery}`;
      if (fault.action === 'nextLinkLoop') out.body[linkKey] = `${base}${req.url}`;
      if (fault.action === 'truncate') {
        const payload = JSON.stringify(out.body);
        entry.status = 'truncated';
        res.writeHead(200, { 'Content-Type': GRAPH_JSON, 'Content-Length': Buffer.byteLength(payload) + 100 });
        res.write(payload.slice(0, Math.floor(payload.length / 2)));
        await sleep(20);
        finish();
        req.socket.destroy();
        return;
      }
    }
    // bad input: a well-formed 200 made wrong on purpose (see corruptBody below)
    // a corruption of listed items that finds no item to touch (an empty page) waits
    // for the next matching response, so a test does not depend on the order of requests
    if (fault && fault.corrupt && CORRUPTIONS[fault.corrupt]?.itemwise && out.body && typeof out.body === 'object' && pickItems(out.body, fault).length === 0) {
      fault.applied--;
      fault = null;
    }
    // so does a mutation that returns undefined: it found nothing to change
    let mutated;
    if (fault && fault.mutate && fault.rawBody === undefined && out.status === 200 && out.body && typeof out.body === 'object') {
      mutated = fault.mutate(structuredClone(out.body), fault);
      if (mutated === undefined) {
        fault.applied--;
        fault = null;
      }
    }
    if (fault && out.status === 200 && out.body && typeof out.body === 'object' && (fault.corrupt || fault.mutate || fault.rawBody !== undefined)) {
      const raw = mutated !== undefined ? asBuffer(mutated) : corruptBody(fault, out.body);
      entry.status = 200;
      entry.corrupted = fault.corrupt || 'custom';
      const h = { ...(out.headers || {}), 'Content-Type': GRAPH_JSON, 'request-id': ctx.requestId, 'Content-Length': raw.length };
      finish();
      return send(res, 200, h, raw);
    }
    return reply(out.status, out.body, out.headers || {}, !!out.aad);
  }

  // ------------------------------------------------------------ control plane

  function publicRequests() {
    return state.requests.map((e) => ({ ...e }));
  }

  function stats() {
    const perMailbox = {};
    for (const u of tenant.users) perMailbox[u.userPrincipalName] = state.maxInflight.get(u.id) || 0;
    return {
      requests: state.requests.length,
      maxConcurrencyPerMailbox: perMailbox,
      maxConcurrency: Math.max(0, ...Object.values(perMailbox)),
      maxInflightAll: state.maxInflightAll,
      mailboxConcurrency429: state.throttled429,
      tokensIssued: state.tokenSeq,
      trapRequests: state.trapRequests.length,
    };
  }

  async function control(req, res, p) {
    const body = await new Promise((resolve) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    const ok = (obj) => send(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify(obj));
    try {
      if (p === '/_sandbox/requests' && req.method === 'GET') return ok(publicRequests());
      if (p === '/_sandbox/stats' && req.method === 'GET') return ok(stats());
      if (p === '/_sandbox/truth' && req.method === 'GET') return ok(truthJson(tenant));
      if (p === '/_sandbox/faults' && req.method === 'POST') {
        setFaults(JSON.parse(body || '[]'));
        return ok({ faults: state.faults.length });
      }
      if (p === '/_sandbox/faults' && req.method === 'DELETE') {
        clearFaults();
        return ok({ faults: 0 });
      }
      if (p === '/_sandbox/revoke' && req.method === 'POST') {
        revokeTokens();
        return ok({ revoked: true });
      }
      if (p === '/_sandbox/release' && req.method === 'POST') return ok({ released: releasePendingReports() });
    } catch (e) {
      return send(res, 400, { 'Content-Type': 'application/json' }, JSON.stringify({ error: e.message }));
    }
    return send(res, 404, { 'Content-Type': 'application/json' }, '{"error":"no such control endpoint"}');
  }

  // ------------------------------------------------------------ API

  // A fault rule picks requests (method, kind, path, mailbox, after, count) and
  // answers for the sandbox: status (with body, or Graph's / Entra's usual error
  // body), action, corrupt / mutate / rawBody, delayMs, revoke. body may be a
  // function (ctx, seen) => body, seen being what the request carried (requestSeen:
  // bearer, rawBody, form, headers, query), for an error that echoes it; a string
  // body is sent as it is.
  function setFaults(rules) {
    state.faults = rules.map((r, index) => ({
      ...r,
      index,
      pathRe: r.path ? (r.path instanceof RegExp ? r.path : new RegExp(r.path)) : null,
      seen: 0,
      applied: 0,
    }));
  }
  function clearFaults() {
    state.faults = [];
  }
  function revokeTokens() {
    for (const t of state.tokens.values()) t.revoked = true;
  }
  function releasePendingReports() {
    let n = 0;
    for (const m of Object.values(tenant.meetings))
      for (const r of m.reports)
        if (r.pending) {
          r.pending = false;
          n++;
        }
    return n;
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      send(res, 500, { 'Content-Type': 'application/json' }, JSON.stringify({ error: { code: 'generalException', message: `sandbox: ${e.message}` } }));
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, resolve);
  });
  const port = server.address().port;
  base = `http://${o.host}:${port}`;

  return {
    url: base,
    port,
    tenant,
    trapUrl: trapBase,
    get requests() {
      return state.requests;
    },
    get trapRequests() {
      return state.trapRequests;
    },
    // the last JSON served for each event, per mailbox (userId -> Map(eventId -> event))
    served: state.served,
    setFaults,
    clearFaults,
    revokeTokens,
    releasePendingReports,
    // the app's directory permissions: GroupMember.Read.All (group calls) and
    // User.Read.All (without it, members come with limited information)
    setPermissions({ groupMemberRead, userReadAll } = {}) {
      if (groupMemberRead !== undefined) state.groupMemberRead = groupMemberRead;
      if (userReadAll !== undefined) state.userReadAll = userReadAll;
    },
    setPolicyMissing(key, missing = true) {
      const u = findUser(tenant, key);
      if (!u) throw new Error(`no such user ${key}`);
      if (missing) state.policyMissing.add(u.id);
      else state.policyMissing.delete(u.id);
    },
    // the managed identity endpoints (set IDENTITY_ENDPOINT to identityEndpoint, IDENTITY_HEADER
    // to identityHeader; AZURE_POD_IDENTITY_AUTHORITY_HOST to url for the VM one)
    identityEndpoint: `${base}/msi/token`,
    identityHeader: o.identityHeader,
    // every secret value the sandbox knows: the client secret, the identity header and
    // every token issued
    secrets() {
      return [tenant.clientSecret, o.identityHeader, ...[...state.tokens.keys()]];
    },
    stats,
    resetLog() {
      state.requests.length = 0;
      state.trapRequests.length = 0;
      state.maxInflight.clear();
      state.maxInflightAll = state.inflightAll;
      state.throttled429 = 0;
    },
    async close() {
      server.closeAllConnections?.();
      trap.closeAllConnections?.();
      await Promise.all([new Promise((r) => server.close(() => r())), new Promise((r) => trap.close(() => r()))]);
    },
  };
}

// ---------------------------------------------------------------- bad input

// What Graph could send that it should not: a fault rule with `corrupt` (a name
// below), `mutate` (a function of the body: returns the new body, an object or a
// Buffer; undefined: nothing to change here, the rule waits for the next matching
// response) or `rawBody` (a string or Buffer sent as is) turns the 200 the sandbox
// would have served into that. The items of a listing (`value`) a corruption
// touches: `pick(item, index, items)` when given, else the item at `index` (default 0),
// or every item with `all: true`.
const bigString = (n) => {
  // varied text, so that compression cannot shrink it to nothing
  const words = ['attendance', 'quarterly', 'review', 'Zürich', 'sync', 'roadmap', 'naïve', '東京', 'retro'];
  let s = '';
  for (let i = 0; s.length < n; i++) s += words[(i * 7 + (i >> 3)) % words.length] + ' ' + (i % 1000) + ' ';
  return s.slice(0, n);
};

function pickItems(body, fault) {
  const v = Array.isArray(body.value) ? body.value : [];
  if (fault.pick) return v.filter((it, i) => fault.pick(it, i, v));
  if (fault.all) return v;
  const it = v[fault.index ?? 0];
  return it === undefined ? [] : [it];
}

function eachItem(fn) {
  const c = (body, fault) => {
    for (const it of pickItems(body, fault)) if (it && typeof it === 'object') fn(it, fault);
    return body;
  };
  c.itemwise = true;
  return c;
}

// Inserts raw bytes into the first JSON string value of `key` of the picked item.
function withBytes(body, fault, key, bytes) {
  const marker = `\u0000MARK${Math.random().toString(36).slice(2)}\u0000`;
  const it = pickItems(body, fault)[0];
  if (!it) return Buffer.from(JSON.stringify(body));
  it[key] = `${typeof it[key] === 'string' ? it[key] : ''}${marker}`;
  const text = JSON.stringify(body);
  const esc = JSON.stringify(marker).slice(1, -1);
  const at = text.indexOf(esc);
  return Buffer.concat([Buffer.from(text.slice(0, at)), bytes, Buffer.from(text.slice(at + esc.length))]);
}

export const CORRUPTIONS = {
  // events (calendarView pages)
  missingId: eachItem((e) => delete e.id),
  missingStart: eachItem((e) => delete e.start),
  missingEnd: eachItem((e) => delete e.end),
  missingStartEnd: eachItem((e) => {
    delete e.start;
    delete e.end;
  }),
  nullStart: eachItem((e) => (e.start = null)),
  nullEnd: eachItem((e) => (e.end = null)),
  nullDateTime: eachItem((e) => (e.start = { dateTime: null, timeZone: 'UTC' })),
  nullOnlineMeeting: eachItem((e) => (e.onlineMeeting = null)),
  nullOrganizer: eachItem((e) => (e.organizer = null)),
  organizerString: eachItem((e) => (e.isOrganizer = 'true')),
  onlineString: eachItem((e) => (e.isOnlineMeeting = 'yes')),
  subjectNumber: eachItem((e) => (e.subject = 12345)),
  subjectObject: eachItem((e) => (e.subject = { text: 'not a string' })),
  startString: eachItem((e) => (e.start = '2026-11-01T09:00:00Z')),
  startNumber: eachItem((e) => (e.start = { dateTime: 1795000000, timeZone: 'UTC' })),
  attendeesObject: eachItem((e) => (e.attendees = { count: 3 })),
  idNumber: eachItem((e) => (e.id = 42)),
  // an id holding NUL: cut there, it would name another object in a request path
  idNul: eachItem((e) => (e.id = `${e.id}\u0000tail`)),
  joinUrlNumber: eachItem((e) => {
    if (e.onlineMeeting) e.onlineMeeting.joinUrl = 7;
  }),
  // `random: true` makes it incompressible (a Parquet file past the block size)
  hugeSubject: eachItem((e, f) => (e.subject = f.random ? crypto.randomBytes(Math.ceil(((f.size ?? 3 << 20) * 3) / 4)).toString('base64').slice(0, f.size ?? 3 << 20) : bigString(f.size ?? 3 << 20))),
  itemNull: (body, fault) => {
    const i = fault.index ?? 0;
    if (Array.isArray(body.value) && body.value.length > i) body.value[i] = null;
    return body;
  },
  itemNumber: (body, fault) => {
    const i = fault.index ?? 0;
    if (Array.isArray(body.value) && body.value.length > i) body.value[i] = 17;
    return body;
  },
  // any listing
  valueObject: (body) => ({ ...body, value: Object.assign({}, body.value) }),
  valueNull: (body) => ({ ...body, value: null }),
  valueMissing: (body) => {
    const out = { ...body };
    delete out.value;
    return out;
  },
  nextLinkNumber: (body) => ({ ...body, '@odata.nextLink': 12 }),
  notAnObject: () => Buffer.from('[1,2,3]'),
  jsonString: () => Buffer.from('"value"'),
  // attendance records (attendanceRecords pages)
  nullIdentity: eachItem((r) => (r.identity = null)),
  nullIntervals: eachItem((r) => (r.attendanceIntervals = null)),
  intervalsObject: eachItem((r) => (r.attendanceIntervals = { joinDateTime: '2026-11-01T09:00:00Z' })),
  secondsString: eachItem((r) => (r.totalAttendanceInSeconds = '3600')),
  intervalNull: eachItem((r) => {
    if (Array.isArray(r.attendanceIntervals)) r.attendanceIntervals.unshift(null);
  }),
  // reports (attendanceReports)
  reportStartNumber: eachItem((r) => (r.meetingStartDateTime = 1795000000)),
  reportMissingId: eachItem((r) => delete r.id),
  // bytes that are not JSON Graph may send
  invalidUtf8: (body, fault) => withBytes(body, fault, fault.key || 'subject', Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80])),
  nulByte: (body, fault) => withBytes(body, fault, fault.key || 'subject', Buffer.from('\\u0000', 'latin1')),
  deepNesting: (body, fault) => {
    const depth = fault.depth ?? 100000;
    const it = pickItems(body, fault)[0];
    const marker = `MARK${Math.random().toString(36).slice(2)}`;
    if (it) it.extensions = marker;
    const text = JSON.stringify(body);
    const deep = '['.repeat(depth) + ']'.repeat(depth);
    const at = text.indexOf(`"${marker}"`);
    if (at < 0) return Buffer.from(`{"value":${deep}}`);
    return Buffer.from(text.slice(0, at) + deep + text.slice(at + marker.length + 2));
  },
  deepObjects: (body, fault) => {
    const depth = fault.depth ?? 100000;
    return Buffer.from('{"value":[' + '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) + ']}');
  },
};

const asBuffer = (out) => (Buffer.isBuffer(out) ? out : Buffer.from(typeof out === 'string' ? out : JSON.stringify(out)));

// A rule's rawBody or named corruption, applied to a copy of body (a `mutate`, below
// rawBody as before, is applied where the rule matches, since it may decline).
function corruptBody(fault, body) {
  let out = structuredClone(body);
  if (fault.rawBody !== undefined) out = typeof fault.rawBody === 'function' ? fault.rawBody(out) : fault.rawBody;
  else {
    const fn = CORRUPTIONS[fault.corrupt];
    if (!fn) throw new Error(`sandbox: no corruption named '${fault.corrupt}'`);
    out = fn(out, fault);
  }
  return asBuffer(out);
}

// ---------------------------------------------------------------- CLI

async function main(argv) {
  const args = { port: 0, seed: 1, mailboxes: 3, latency: null, truth: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--port') args.port = +v();
    else if (a === '--seed') args.seed = v();
    else if (a === '--mailboxes') args.mailboxes = +v();
    else if (a === '--latency-ms') args.latency = +v();
    else if (a === '--truth') args.truth = v();
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: graph.js [--port N] [--seed S] [--mailboxes K] [--latency-ms MS] [--truth FILE]\n');
      return;
    } else {
      process.stderr.write(`graph.js: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  const sb = await startSandbox({
    port: args.port,
    seed: args.seed,
    mailboxes: args.mailboxes,
    ...(args.latency !== null ? { latencyMs: args.latency } : {}),
  });
  const truthPath = args.truth || path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-graph-')), 'truth.json');
  fs.writeFileSync(truthPath, JSON.stringify(truthJson(sb.tenant), null, 2));
  process.stdout.write(
    JSON.stringify({
      url: sb.url,
      port: sb.port,
      tenantId: sb.tenant.tenantId,
      clientId: sb.tenant.clientId,
      clientSecret: sb.tenant.clientSecret,
      users: sb.tenant.users.map((u) => u.userPrincipalName),
      truth: truthPath,
    }) + '\n',
  );
  const stop = async () => {
    await sb.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`graph.js: ${e.stack || e}\n`);
    process.exit(1);
  });
}
