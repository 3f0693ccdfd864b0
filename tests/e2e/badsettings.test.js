// Bad settings beyond config.test.js's: each setting of SPEC section 3 in its
// broken forms (out of range, malformed, a connection string missing its key, a
// plain-http host that only looks like loopback, files that are not there, shard
// arguments out of range). Each must stop the job with exit 2 and a message that
// names the setting and says what is wrong, before any network call: nothing
// reaches the sandbox Graph, the storage endpoint, or the login host.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startSandbox, runJob, jobEnv, describeRun, DEV_KEY, connectionCounter } from './harness.js';

const T = { timeout: 30000 };
// words that say what is wrong with a value
const WHAT = /must|between|range|invalid|not a|missing|empty|expected|cannot|unknown|no such|neither|needs|only|requires|loopback|https|not allowed|too|at least|at most|number|integer|lacks|without|malformed|refus|is not|may not|\bno\b/i;

describe('bad settings: out of range, malformed, missing parts', () => {
  let sb;
  let counter;
  let base;
  let cs;
  before(async () => {
    sb = await startSandbox({ seed: 43, mailboxes: 2, latencyMs: 0 });
    counter = await connectionCounter();
    cs = (extra) => `DefaultEndpointsProtocol=http;${extra}BlobEndpoint=http://127.0.0.1:${counter.port}/devstoreaccount1;`;
    base = jobEnv(sb, null, { AZURE_STORAGE_CONNECTION_STRING: cs(`AccountName=devstoreaccount1;AccountKey=${DEV_KEY};`) });
  });
  after(async () => {
    await sb?.close();
    await counter?.close();
  });

  // values may be functions: the counter's port is known only once it listens
  const cases = [
    // numbers out of range or malformed
    ['first-run days 0', { ATTENDANCE_FIRST_RUN_DAYS: '0' }, [], /ATTENDANCE_FIRST_RUN_DAYS/],
    ['first-run days past ten years', { ATTENDANCE_FIRST_RUN_DAYS: '3651' }, [], /ATTENDANCE_FIRST_RUN_DAYS/],
    ['first-run days a fraction', { ATTENDANCE_FIRST_RUN_DAYS: '1.5' }, [], /ATTENDANCE_FIRST_RUN_DAYS/],
    ['first-run days overflowing', { ATTENDANCE_FIRST_RUN_DAYS: '99999999999999999999999' }, [], /ATTENDANCE_FIRST_RUN_DAYS/],
    ['first-run days with a blank inside', { ATTENDANCE_FIRST_RUN_DAYS: '3 0' }, [], /ATTENDANCE_FIRST_RUN_DAYS/],
    ['negative overlap', { ATTENDANCE_OVERLAP_MINUTES: '-1' }, [], /ATTENDANCE_OVERLAP_MINUTES/],
    ['overlap past a week', { ATTENDANCE_OVERLAP_MINUTES: '10081' }, [], /ATTENDANCE_OVERLAP_MINUTES/],
    ['negative settle time', { ATTENDANCE_SETTLE_MINUTES: '-5' }, [], /ATTENDANCE_SETTLE_MINUTES/],
    ['concurrency too high', { ATTENDANCE_CONCURRENCY: '10001' }, [], /ATTENDANCE_CONCURRENCY/],
    ['concurrency negative', { ATTENDANCE_CONCURRENCY: '-1' }, [], /ATTENDANCE_CONCURRENCY/],
    ['concurrency with a unit', { ATTENDANCE_CONCURRENCY: '4x' }, [], /ATTENDANCE_CONCURRENCY/],
    ['timeout 0', { ATTENDANCE_HTTP_TIMEOUT_SECONDS: '0' }, [], /ATTENDANCE_HTTP_TIMEOUT_SECONDS/],
    ['timeout past an hour', { ATTENDANCE_HTTP_TIMEOUT_SECONDS: '3601' }, [], /ATTENDANCE_HTTP_TIMEOUT_SECONDS/],
    ['negative retries', { ATTENDANCE_MAX_RETRIES: '-1' }, [], /ATTENDANCE_MAX_RETRIES/],
    ['retries past 100', { ATTENDANCE_MAX_RETRIES: '101' }, [], /ATTENDANCE_MAX_RETRIES/],
    ['retry wait 0', { ATTENDANCE_MAX_RETRY_WAIT_SECONDS: '0' }, [], /ATTENDANCE_MAX_RETRY_WAIT_SECONDS/],
    ['retry wait in exponent form', { ATTENDANCE_MAX_RETRY_WAIT_SECONDS: '1e3' }, [], /ATTENDANCE_MAX_RETRY_WAIT_SECONDS/],
    ['max pages 0', { ATTENDANCE_MAX_PAGES: '0' }, [], /ATTENDANCE_MAX_PAGES/],
    ['max pages not a number', { ATTENDANCE_MAX_PAGES: 'many' }, [], /ATTENDANCE_MAX_PAGES/],
    ['codec gzip', { ATTENDANCE_PARQUET_COMPRESSION: 'gzip' }, [], /ATTENDANCE_PARQUET_COMPRESSION/],
    // settings the table of src/config.c added or moved
    ['spill budget past 64 GB', { ATTENDANCE_SPILL_MB: '65537' }, [], /ATTENDANCE_SPILL_MB: expected a whole number from 0 to 65536/],
    ['spill budget negative', { ATTENDANCE_SPILL_MB: '-1' }, [], /ATTENDANCE_SPILL_MB/],
    ['temporary folder not absolute', { ATTENDANCE_TMPDIR: 'scratch' }, [], /ATTENDANCE_TMPDIR \(or TMPDIR\): "scratch" is not an absolute folder/],
    ['TMPDIR not absolute', { TMPDIR: 'rel/tmp' }, [], /TMPDIR.*not an absolute folder/],
    // names
    ['container with capitals and _', { ATTENDANCE_CONTAINER: 'Bad_Container' }, [], /ATTENDANCE_CONTAINER/],
    ['container too short', { ATTENDANCE_CONTAINER: 'ab' }, [], /ATTENDANCE_CONTAINER/],
    ['container too long', { ATTENDANCE_CONTAINER: 'a'.repeat(64) }, [], /ATTENDANCE_CONTAINER/],
    ['container starting with -', { ATTENDANCE_CONTAINER: '-lead' }, [], /ATTENDANCE_CONTAINER/],
    ['prefix leaving the container', { ATTENDANCE_PREFIX: '../escape' }, [], /ATTENDANCE_PREFIX/],
    // storage
    ['connection string missing its key', { AZURE_STORAGE_CONNECTION_STRING: () => cs('AccountName=devstoreaccount1;') }, [], /AZURE_STORAGE_CONNECTION_STRING/],
    ['connection string missing its account name', { AZURE_STORAGE_CONNECTION_STRING: () => cs(`AccountKey=${DEV_KEY};`) }, [], /AZURE_STORAGE_CONNECTION_STRING/],
    ['connection string with a key that is not base64', { AZURE_STORAGE_CONNECTION_STRING: () => cs('AccountName=devstoreaccount1;AccountKey=not*base64!;') }, [], /AZURE_STORAGE_CONNECTION_STRING/],
    ['connection string with UseDevelopmentStorage=maybe', { AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=maybe' }, [], /AZURE_STORAGE_CONNECTION_STRING/],
    ['connection string with an http endpoint off loopback', { AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${DEV_KEY};BlobEndpoint=http://acct.blob.core.windows.net;` }, [], /AZURE_STORAGE_CONNECTION_STRING|BlobEndpoint|http/],
    // the settings a storage driver owns: these once passed the configuration check and
    // failed at the first storage call (exit 1, after Graph had been called)
    ['connection string with a - in AccountName', { AZURE_STORAGE_CONNECTION_STRING: () => cs(`AccountName=my-acct;AccountKey=${DEV_KEY};`) }, [], /AZURE_STORAGE_CONNECTION_STRING.*AccountName/],
    ['connection string with a / in AccountName', { AZURE_STORAGE_CONNECTION_STRING: () => cs(`AccountName=a/b;AccountKey=${DEV_KEY};`) }, [], /AZURE_STORAGE_CONNECTION_STRING.*AccountName/],
    ['connection string with DefaultEndpointsProtocol=http to Azure', { AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${DEV_KEY};` }, [], /AZURE_STORAGE_CONNECTION_STRING.*https/],
    ['connection string with UseDevelopmentStorage=false and nothing else', { AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=false' }, [], /AZURE_STORAGE_CONNECTION_STRING.*UseDevelopmentStorage/],
    ['connection string with # in its SAS', { AZURE_STORAGE_CONNECTION_STRING: () => cs('SharedAccessSignature=sv=2024-01-01&sig=ab#c;') }, [], /AZURE_STORAGE_CONNECTION_STRING.*SharedAccessSignature/],
    ['connection string with ? in EndpointSuffix', { AZURE_STORAGE_CONNECTION_STRING: `AccountName=acct;AccountKey=${DEV_KEY};EndpointSuffix=core.windows.net?x=1` }, [], /AZURE_STORAGE_CONNECTION_STRING/],
    ['a mailbox named ..', { ATTENDANCE_USERS: 'ann@contoso.com,..' }, [], /ATTENDANCE_USERS/],
    ['a mailbox named .', { ATTENDANCE_USERS: '.' }, [], /ATTENDANCE_USERS/],
    ['account URL over http off loopback', { AZURE_STORAGE_CONNECTION_STRING: undefined, AZURE_STORAGE_ACCOUNT_URL: 'http://acct.blob.core.windows.net', AZURE_STORAGE_SAS_TOKEN: 'sv=2024-01-01&sig=abc' }, [], /AZURE_STORAGE_ACCOUNT_URL/],
    ['account URL that is not a URL', { AZURE_STORAGE_CONNECTION_STRING: undefined, AZURE_STORAGE_ACCOUNT_URL: 'not a url', AZURE_STORAGE_SAS_TOKEN: 'sv=2024-01-01&sig=abc' }, [], /AZURE_STORAGE_ACCOUNT_URL/],
    ['SAS token without an account URL', { AZURE_STORAGE_CONNECTION_STRING: undefined, AZURE_STORAGE_SAS_TOKEN: 'sv=2024-01-01&sig=abc' }, [], /AZURE_STORAGE_ACCOUNT_URL|AZURE_STORAGE_SAS_TOKEN/],
    // hosts
    ['Graph host without a scheme', { GRAPH_ENDPOINT: 'graph.microsoft.com' }, [], /GRAPH_ENDPOINT/],
    ['Graph host with another scheme', { GRAPH_ENDPOINT: 'ftp://graph.microsoft.com' }, [], /GRAPH_ENDPOINT/],
    ['http Graph host on a private address', { GRAPH_ENDPOINT: 'http://10.0.0.1' }, [], /GRAPH_ENDPOINT/],
    ['http Graph host that only starts like loopback', { GRAPH_ENDPOINT: 'http://127.0.0.1.nip.io' }, [], /GRAPH_ENDPOINT/],
    ['http Graph host localhost.<domain>', { GRAPH_ENDPOINT: 'http://localhost.example.com' }, [], /GRAPH_ENDPOINT/],
    ['http Graph host localhost. (resolved by DNS)', { GRAPH_ENDPOINT: 'http://localhost.' }, [], /GRAPH_ENDPOINT/],
    ['identity authority host that only starts like the metadata address', { AZURE_STORAGE_CONNECTION_STRING: undefined, AZURE_STORAGE_ACCOUNT_URL: 'https://acct.blob.core.windows.net', AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://169.254.169.254.example.net' }, [], /AZURE_POD_IDENTITY_AUTHORITY_HOST/],
    ['http Graph host with loopback as a user name', { GRAPH_ENDPOINT: 'http://127.0.0.1@graph.example.com' }, [], /GRAPH_ENDPOINT/],
    ['http login host on another machine', { AZURE_AUTHORITY_HOST: 'http://[2001:db8::1]' }, [], /AZURE_AUTHORITY_HOST/],
    ['login host https:// with no host', { AZURE_AUTHORITY_HOST: 'https://' }, [], /AZURE_AUTHORITY_HOST/],
    // credentials from files
    ['certificate file that does not exist', { AZURE_CLIENT_SECRET: undefined, AZURE_CLIENT_CERTIFICATE_PATH: '/nonexistent/ta-cert.pem' }, [], /AZURE_CLIENT_CERTIFICATE_PATH/],
    ['certificate file that is not PEM', { AZURE_CLIENT_SECRET: undefined, AZURE_CLIENT_CERTIFICATE_PATH: '/etc/hostname' }, [], /AZURE_CLIENT_CERTIFICATE_PATH/],
    ['federated token file that does not exist', { AZURE_CLIENT_SECRET: undefined, AZURE_FEDERATED_TOKEN_FILE: '/nonexistent/ta-token' }, [], /AZURE_FEDERATED_TOKEN_FILE/],
    // shards and times
    ['--shard 0/0', {}, ['run', '--shard', '0/0'], /shard/],
    ['--shard -1/2', {}, ['run', '--shard', '-1/2'], /shard/],
    ['--shard-count 0', { JOB_COMPLETION_INDEX: '0' }, ['run', '--shard-count', '0'], /shard/],
    ['JOB_COMPLETION_INDEX not a number', { JOB_COMPLETION_INDEX: 'x' }, ['run', '--shard-count', '2'], /JOB_COMPLETION_INDEX/],
    ['JOB_COMPLETION_INDEX past the count', { JOB_COMPLETION_INDEX: '2' }, ['run', '--shard-count', '2'], /JOB_COMPLETION_INDEX|shard/],
    ['--since a month 13', {}, ['run', '--since', '2026-13-01'], /since/],
    ['--since February 30', {}, ['run', '--since', '2026-02-30'], /since/],
    ['--until without --since', {}, ['run', '--until', '2026-11-01'], /until|since/],
  ];

  for (const [name, extra, args, re] of cases) {
    test(name, T, async () => {
      const before = sb.requests.length;
      const conns = counter.count;
      const env = { ...base };
      for (const [k, v] of Object.entries(extra)) {
        if (v === undefined) delete env[k];
        else env[k] = typeof v === 'function' ? v() : v;
      }
      const r = await runJob(args.length ? args : ['run'], env, { timeoutMs: 20000 });
      assert.equal(r.code, 2, describeRun(r));
      const text = r.stderr + r.stdout;
      assert.match(text, re, `the message names the setting\n${describeRun(r)}`);
      assert.match(text, WHAT, `the message says what is wrong\n${describeRun(r)}`);
      assert.equal(sb.requests.length, before, 'no request reached Graph or the login host');
      assert.equal(counter.count, conns, 'no connection reached storage');
      for (const s of [sb.tenant.clientSecret, DEV_KEY]) assert.ok(!text.includes(s), 'a secret was echoed');
    });
  }
});
