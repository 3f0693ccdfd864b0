// The deployment files under deploy/, checked offline against the platforms' own models:
// - the Container Apps job (ARM JSON) is evaluated for several parameter sets and each
//   resulting Microsoft.App/jobs body is type-checked by tsc against the `Job` type of
//   @azure/arm-appcontainers (Microsoft's generated model of the resource; strict
//   object literals, so a misspelled property fails);
// - the Bicep file is not compiled (no Bicep compiler is packaged for Debian or npm):
//   its key values are compared with the ARM template's by text extraction;
// - the Kubernetes manifests are validated with kubernetes-models (the API's JSON
//   schema) and type-checked against its interfaces (which catch unknown fields, the
//   schema does not);
// - the Synapse pipeline's structure is checked: the start, poll and fail chain, MSI
//   authentication, api-version on every ARM URL, the load of the _latest views.
// Each check is also run on a deliberately broken copy, which must fail it.
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { Job as K8sJob, CronJob as K8sCronJob } from 'kubernetes-models/batch/v1';
import { Secret as K8sSecret, ConfigMap as K8sConfigMap } from 'kubernetes-models/v1';
import { armResources } from './arm-expr.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPLOY = path.join(ROOT, 'deploy');
const MODULES = path.join(ROOT, 'node_modules');
const read = (f) => fs.readFileSync(path.join(DEPLOY, f), 'utf8');
const clone = (x) => structuredClone(x);

const armText = read('containerapps-job.json');
const arm = JSON.parse(armText);
const bicep = read('containerapps-job.bicep');

// Values for the parameters that have no default.
const REQUIRED = {
  environmentName: 'cae-attendance',
  image: 'contoso.azurecr.io/teams-attendance:1.0.0',
  identityName: 'id-attendance',
  storageAccountName: 'stattendance',
};

const VARIANTS = {
  defaults: { ...REQUIRED, mailboxes: 'room1@contoso.com,room2@contoso.com' },
  manual: { ...REQUIRED, mailboxes: 'room1@contoso.com', triggerType: 'Manual', parallelism: 2 },
  parallel: { ...REQUIRED, groups: 'attendance-rooms@contoso.com', parallelism: 4, replicaTimeoutSeconds: 5401 },
  secret: {
    ...REQUIRED,
    mailboxes: 'room1@contoso.com',
    groups: '6f0c3d2e-0000-0000-0000-000000000000',
    graphAuth: 'clientSecret',
    graphAppClientId: '11111111-2222-3333-4444-555555555555',
    clientSecretKeyVaultUrl: 'https://kv-attendance.vault.azure.net/secrets/graph-client-secret',
    registryServer: 'contoso.azurecr.io',
    extraEnv: [{ name: 'ATTENDANCE_PARQUET_TIMESTAMPS', value: 'int96' }],
  },
};

function jobResource(template, params) {
  // Placeholders become their "<text>" strings, as in the type-checked body.
  const rs = JSON.parse(JSON.stringify(armResources(template, params)));
  const jobs = rs.filter((r) => r.type === 'Microsoft.App/jobs');
  assert.equal(jobs.length, 1, 'one Microsoft.App/jobs resource');
  return { job: jobs[0], all: rs };
}

// ARM drops a property whose value is null() (a Bicep `cond ? {...} : null`); the SDK
// models such a property as absent.
function dropNulls(v) {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNulls(x)]));
  return v;
}

// The SDK flattens the resource's `properties` into the model (x-ms-client-flatten)
// and leaves the deployment envelope (type, apiVersion, name, dependsOn) out.
function sdkShape(resource) {
  const { type, apiVersion, name, dependsOn, condition, properties, ...top } = resource;
  return dropNulls({ ...top, ...properties });
}

function containerOf(job) {
  assert.equal(job.properties.template.containers.length, 1);
  return job.properties.template.containers[0];
}

const envMap = (c) => Object.fromEntries(c.env.map((e) => [e.name, e]));

// ---- tsc over generated files ----

const ARM_TYPES = path.join(MODULES, '@azure/arm-appcontainers/dist/esm/index.js');
const K8S_TYPES = {
  Job: [path.join(MODULES, 'kubernetes-models/batch/v1/Job'), 'IJob'],
  CronJob: [path.join(MODULES, 'kubernetes-models/batch/v1/CronJob'), 'ICronJob'],
  Secret: [path.join(MODULES, 'kubernetes-models/v1/Secret'), 'ISecret'],
  ConfigMap: [path.join(MODULES, 'kubernetes-models/v1/ConfigMap'), 'IConfigMap'],
};

// Container Apps' enumerations are open strings in the SDK; the values this template
// uses must still be among the known ones.
function armTs(body) {
  const known = (enumName, v) =>
    `const _${enumName}_${Math.random().toString(36).slice(2, 8)}: \`\${${enumName}}\` = ${JSON.stringify(v)};`;
  const lines = [
    `import type { Job, KnownTriggerType, KnownStorageType, KnownManagedServiceIdentityType } from ${JSON.stringify(ARM_TYPES)};`,
    `export const job: Job = ${JSON.stringify(body, null, 2)};`,
    known('KnownTriggerType', body.configuration?.triggerType),
    known('KnownManagedServiceIdentityType', body.identity?.type),
    ...(body.template?.volumes ?? []).map((v) => known('KnownStorageType', v.storageType)),
  ];
  return lines.join('\n') + '\n';
}

function k8sTs(docs) {
  const used = [...new Set(docs.map((d) => d.kind))];
  const lines = [];
  for (const kind of used) {
    if (!K8S_TYPES[kind]) throw new Error(`no type for kind ${kind}`);
    const [file, iface] = K8S_TYPES[kind];
    lines.push(`import type { ${iface} } from ${JSON.stringify(file)};`);
  }
  docs.forEach((d, i) => lines.push(`export const doc${i}: ${K8S_TYPES[d.kind][1]} = ${JSON.stringify(d, null, 2)};`));
  return lines.join('\n') + '\n';
}

// Type-checks every file in one tsc run (tsc takes seconds to start); returns each
// file's diagnostics.
function typecheck(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ta-deploy-tsc-'));
  try {
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2022',
          module: 'esnext',
          moduleResolution: 'bundler',
          skipLibCheck: true,
          types: [],
          noUnusedLocals: false,
        },
        files: Object.keys(files),
      }),
    );
    const r = spawnSync(process.execPath, [path.join(MODULES, 'typescript/bin/tsc'), '-p', dir, '--pretty', 'false'], {
      encoding: 'utf8',
      timeout: 120000,
    });
    if (r.error) throw r.error;
    const out = Object.fromEntries(Object.keys(files).map((f) => [f, []]));
    const other = [];
    for (const line of (r.stdout + r.stderr).split('\n')) {
      if (!line.trim()) continue;
      const m = /^(.*?\.ts)\(\d+,\d+\): error/.exec(line);
      const f = m && path.basename(m[1]);
      if (f && f in out) out[f].push(line);
      else if (/error/.test(line)) other.push(line);
    }
    // An error outside our files (a broken setup) must not pass for "no errors here".
    if (other.length) throw new Error(`tsc: ${other.join('\n')}`);
    if (r.status !== 0 && Object.values(out).every((d) => d.length === 0))
      throw new Error(`tsc exited ${r.status} without diagnostics: ${r.stdout}${r.stderr}`);
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- Kubernetes ----

const K8S_CLASSES = { Job: K8sJob, CronJob: K8sCronJob, Secret: K8sSecret, ConfigMap: K8sConfigMap };

function yamlDocs(text) {
  const docs = YAML.parseAllDocuments(text);
  for (const d of docs) if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('; '));
  return docs.map((d) => d.toJSON()).filter((d) => d != null);
}

// Throws when a document does not validate against the API schema.
function validateK8s(doc) {
  const C = K8S_CLASSES[doc.kind];
  if (!C) throw new Error(`unexpected kind ${doc.kind}`);
  new C(doc).validate();
}

function quantityBytes(q) {
  const m = /^([0-9.]+)(Ki|Mi|Gi|K|M|G)?$/.exec(String(q));
  if (!m) throw new Error(`quantity ${q}`);
  const mult = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 }[m[2]] ?? 1;
  return Number(m[1]) * mult;
}

// What the job needs of its pod, beyond the schema; returns the problems found.
function jobSpecProblems(spec, docs) {
  const p = [];
  if (spec.completionMode !== 'Indexed') p.push('completionMode is not Indexed');
  const pod = spec.template?.spec ?? {};
  const c = pod.containers?.[0] ?? {};
  const args = c.args ?? [];
  const i = args.indexOf('--shard-count');
  if (args[0] !== 'run') p.push('args do not start with run');
  if (i < 0) p.push('no --shard-count');
  else if (args[i + 1] !== String(spec.completions)) p.push(`--shard-count ${args[i + 1]} != completions ${spec.completions}`);
  if (!(spec.parallelism >= 1 && spec.parallelism <= spec.completions)) p.push('parallelism outside 1..completions');
  if (pod.restartPolicy !== 'Never') p.push('restartPolicy is not Never');
  if (c.securityContext?.readOnlyRootFilesystem !== true) p.push('root filesystem not read-only');
  if ((c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot) !== true) p.push('runAsNonRoot not set');
  const tmp = (c.env ?? []).find((e) => e.name === 'TMPDIR')?.value;
  const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === tmp);
  const vol = mount && (pod.volumes ?? []).find((v) => v.name === mount.name);
  if (!vol?.emptyDir) p.push('TMPDIR is not an emptyDir mount');
  const peak = 246 * 1024 ** 2; // bench/README.md: 3,000 mailboxes in one replica
  const req = c.resources?.requests?.memory;
  const lim = c.resources?.limits?.memory;
  if (!req || !lim) p.push('memory request or limit missing');
  else {
    if (quantityBytes(req) < peak) p.push(`memory request ${req} below the measured peak`);
    if (quantityBytes(lim) < 2 * peak) p.push(`memory limit ${lim} leaves no room above the peak`);
  }
  for (const from of c.envFrom ?? []) {
    const ref = from.secretRef ? ['Secret', from.secretRef.name] : ['ConfigMap', from.configMapRef?.name];
    if (docs && !docs.some((d) => d.kind === ref[0] && d.metadata?.name === ref[1])) p.push(`${ref[0]} ${ref[1]} not defined`);
  }
  return p;
}

// ---- Synapse ----

function walk(acts, f, depth = 0) {
  for (const a of acts ?? []) {
    f(a, acts, depth);
    const t = a.typeProperties ?? {};
    for (const inner of [t.activities, t.ifTrueActivities, t.ifFalseActivities, ...(t.cases ?? []).map((c) => c.activities), t.defaultActivities])
      walk(inner, f, depth + 1);
  }
}

const exprText = (v) => (typeof v === 'string' ? v : (v?.value ?? ''));

function pipelineProblems(p) {
  const problems = [];
  const top = p?.properties?.activities;
  if (!Array.isArray(top)) return ['no activities'];
  const setters = {};
  walk(top, (a, siblings) => {
    const names = siblings.map((s) => s.name);
    if (names.filter((n) => n === a.name).length > 1) problems.push(`duplicate activity ${a.name}`);
    for (const d of a.dependsOn ?? [])
      if (!names.includes(d.activity)) problems.push(`${a.name} depends on unknown ${d.activity}`);
    if (a.type === 'SetVariable') setters[a.typeProperties.variableName] = exprText(a.typeProperties.value);
  });
  walk(top, (a) => {
    if (a.type !== 'WebActivity') return;
    const t = a.typeProperties ?? {};
    if (t.authentication?.type !== 'MSI' || t.authentication?.resource !== 'https://management.azure.com/')
      problems.push(`${a.name}: not MSI for https://management.azure.com/`);
    let url = exprText(t.url);
    const v = /^@variables\('(\w+)'\)$/.exec(url);
    if (v) url = setters[v[1]] ?? '';
    if (!url.includes('https://management.azure.com')) problems.push(`${a.name}: not an ARM URL`);
    if (!url.includes('api-version=')) problems.push(`${a.name}: no api-version`);
  });
  const byName = Object.fromEntries(top.map((a) => [a.name, a]));
  const after = (a, b) => {
    // a depends on b, directly or through others (with success)
    const seen = new Set();
    const go = (x) =>
      (x?.dependsOn ?? []).some(
        (d) => d.dependencyConditions?.includes('Succeeded') && (d.activity === b.name || (!seen.has(d.activity) && (seen.add(d.activity), go(byName[d.activity])))),
      );
    return go(a);
  };
  const start = top.find(
    (a) => a.type === 'WebActivity' && a.typeProperties?.method === 'POST' && /\/providers\/Microsoft\.App\/jobs\/.*\/start\?api-version=/.test(exprText(a.typeProperties.url)),
  );
  if (!start) return [...problems, 'no POST to .../Microsoft.App/jobs/{job}/start'];
  const until = top.find((a) => a.type === 'Until');
  if (!until) return [...problems, 'no Until loop'];
  if (!after(until, start)) problems.push('the Until loop does not follow the start');
  const inner = until.typeProperties?.activities ?? [];
  const wait = inner.find((a) => a.type === 'Wait');
  const get = inner.find((a) => a.type === 'WebActivity' && a.typeProperties?.method === 'GET');
  if (!wait || !get) problems.push('the Until loop lacks a Wait and a GET');
  else if (!(get.dependsOn ?? []).some((d) => d.activity === wait.name)) problems.push('the GET does not follow the Wait');
  const cond = exprText(until.typeProperties?.expression);
  if (!cond.includes("'Succeeded'") || !cond.includes("'Failed'")) problems.push('the Until loop does not end on Succeeded and Failed');
  const guard = top.find((a) => {
    let hasFail = false;
    walk([a], (x) => (hasFail ||= x.type === 'Fail'));
    return hasFail && after(a, until);
  });
  if (!guard) problems.push('no Fail after the Until loop');
  const load = top.find((a) => ['Script', 'SqlPoolStoredProcedure', 'Copy'].includes(a.type));
  if (!load) problems.push('no load activity');
  else {
    if (!guard || !after(load, guard)) problems.push('the load does not wait for the failure check');
    const text = JSON.stringify(load.typeProperties);
    for (const t of ['events', 'attendance_reports', 'attendance_records', 'attendance_intervals'])
      if (!text.includes(`dbo.${t}_latest`)) problems.push(`the load does not read dbo.${t}_latest`);
  }
  return problems;
}

// ---- Bicep against ARM ----

function bicepParams(text) {
  const params = {};
  let decorators = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line.startsWith('@')) {
      let d = line;
      // @allowed([ ... ]) spans lines
      while (d.startsWith('@allowed([') && !d.includes('])')) d += ' ' + lines[++i].trim();
      decorators.push(d);
      continue;
    }
    const m = /^param\s+(\w+)\s+(\w+)(?:\s*=\s*(.+))?$/.exec(line);
    if (m) {
      const dec = {};
      for (const d of decorators) {
        const mv = /^@minValue\((-?\d+)\)$/.exec(d);
        if (mv) dec.minValue = Number(mv[1]);
        const al = /^@allowed\(\[(.*)\]\)$/.exec(d);
        if (al) dec.allowedValues = [...al[1].matchAll(/'([^']*)'/g)].map((x) => x[1]);
      }
      params[m[1]] = { type: m[2], default: m[3], ...dec };
    }
    if (line && !line.startsWith('//')) decorators = [];
  }
  return params;
}

function bicepLiteral(s) {
  if (s === undefined) return { none: true };
  if (/^'.*'$/.test(s)) return { value: s.slice(1, -1).replace(/\\'/g, "'") };
  if (/^-?\d+$/.test(s)) return { value: Number(s) };
  if (s === 'true' || s === 'false') return { value: s === 'true' };
  if (s === '[]') return { value: [] };
  return { expr: s };
}

function agreementProblems(bicepText, template) {
  const p = [];
  const bp = bicepParams(bicepText);
  const ap = template.parameters;
  const names = (o) => Object.keys(o).sort().join(',');
  if (names(bp) !== names(ap)) p.push(`parameters differ: ${names(bp)} / ${names(ap)}`);
  for (const [name, b] of Object.entries(bp)) {
    const a = ap[name];
    if (!a) continue;
    if (b.type !== a.type) p.push(`${name}: type ${b.type} / ${a.type}`);
    const lit = bicepLiteral(b.default);
    if (lit.none && 'defaultValue' in a) p.push(`${name}: default only in ARM`);
    if ('value' in lit && JSON.stringify(lit.value) !== JSON.stringify(a.defaultValue))
      p.push(`${name}: default ${JSON.stringify(lit.value)} / ${JSON.stringify(a.defaultValue)}`);
    if (lit.expr) {
      const want = lit.expr in bp ? `[parameters('${lit.expr}')]` : `[${lit.expr}]`;
      if (a.defaultValue !== want) p.push(`${name}: default ${lit.expr} / ${a.defaultValue}`);
    }
    if (b.minValue !== a.minValue) p.push(`${name}: minValue ${b.minValue} / ${a.minValue}`);
    if (JSON.stringify(b.allowedValues) !== JSON.stringify(a.allowedValues)) p.push(`${name}: allowed values differ`);
  }
  // Resource types and API versions.
  const bres = [...bicepText.matchAll(/^resource\s+\w+\s+'([^'@]+)@([^']+)'\s*(existing)?/gm)].map((m) => ({ type: m[1], api: m[2], existing: !!m[3] }));
  for (const r of bres.filter((r) => !r.existing)) {
    const a = template.resources.find((x) => x.type === r.type);
    if (!a) p.push(`${r.type} only in Bicep`);
    else if (a.apiVersion !== r.api) p.push(`${r.type}: API ${r.api} / ${a.apiVersion}`);
  }
  for (const a of template.resources)
    if (!bres.some((r) => !r.existing && r.type === a.type)) p.push(`${a.type} only in ARM`);
  const idApi = bres.find((r) => r.type === 'Microsoft.ManagedIdentity/userAssignedIdentities')?.api;
  if (!idApi || !JSON.stringify(template).includes(`'${idApi}'`)) p.push('identity API version differs');
  // Environment variable names: every variable the ARM template can set, over all modes.
  const armEnv = new Set();
  for (const v of Object.values(VARIANTS)) for (const e of containerOf(jobResource(template, v).job).env) armEnv.add(e.name);
  const bicepEnv = new Set([...bicepText.matchAll(/name:\s*'([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1]));
  const envDiff = [...armEnv].filter((n) => !bicepEnv.has(n) && n !== 'ATTENDANCE_PARQUET_TIMESTAMPS').concat([...bicepEnv].filter((n) => !armEnv.has(n)));
  if (envDiff.length) p.push(`environment variables in one file only: ${envDiff.join(', ')}`);
  // The values the files build, which Bicep states as expressions.
  const armAll = JSON.stringify(template);
  const pairs = [
    [/\(replicaTimeoutSeconds \+ 59\) \/ 60/, "div(add(parameters('replicaTimeoutSeconds'), 59), 60)", 'claim lease rounding'],
    [/parallelism > 1 \?\s*\[\s*'run'\s*'--claim'\s*\]\s*:\s*\[\s*'run'\s*\]/, "if(greater(parameters('parallelism'), 1), createArray('run', '--claim'), createArray('run'))", 'args'],
    [/graphAuth == 'clientSecret'/, "equals(parameters('graphAuth'), 'clientSecret')", 'client secret mode'],
    [/var scratchPath = '\/tmp'/, '"scratchPath":"/tmp"', 'scratch path'],
    [/var clientSecretName = 'graph-client-secret'/, '"clientSecretName":"graph-client-secret"', 'secret name'],
    [/storageType: 'EmptyDir'/, '"storageType":"EmptyDir"', 'EmptyDir volume'],
    [/scheduleTriggerConfig: triggerType == 'Schedule' \? \{/, "scheduleTriggerConfig\":\"[if(equals(parameters('triggerType'), 'Schedule')", 'schedule trigger'],
    [/manualTriggerConfig: triggerType == 'Manual' \? \{/, "manualTriggerConfig\":\"[if(equals(parameters('triggerType'), 'Manual')", 'manual trigger'],
    [/ba92f5b4-2d11-453d-a403-e96b0029c9fe/, 'ba92f5b4-2d11-453d-a403-e96b0029c9fe', 'Storage Blob Data Contributor'],
  ];
  for (const [re, armPart, what] of pairs) if (!re.test(bicepText) || !armAll.includes(armPart)) p.push(`${what} differs`);
  return p;
}

// ---- the tests ----

let diags;
const tsFiles = {};
const k8sJobDocs = yamlDocs(read('kubernetes-job.yaml'));
const k8sCronDocs = yamlDocs(read('kubernetes-cronjob.yaml'));

before(() => {
  for (const [name, params] of Object.entries(VARIANTS)) tsFiles[`arm-${name}.ts`] = armTs(sdkShape(jobResource(arm, params).job));
  // A misspelled property in the template's job resource must fail the type check,
  // whether it is a JSON key or a name inside an expression.
  const typo = JSON.parse(armText.replace('"mountPath":', '"mountpath":'));
  tsFiles['arm-bad-typo.ts'] = armTs(sdkShape(jobResource(typo, VARIANTS.defaults).job));
  const exprTypo = JSON.parse(armText.replace("createObject('cronExpression'", "createObject('cronExpresion'"));
  tsFiles['arm-bad-expr-typo.ts'] = armTs(sdkShape(jobResource(exprTypo, VARIANTS.defaults).job));
  // So must a value of the wrong type (an env list where a string goes) ...
  const wrongType = clone(arm);
  wrongType.resources.find((r) => r.type === 'Microsoft.App/jobs').properties.template.containers[0].image = ['not', 'a', 'string'];
  tsFiles['arm-bad-type.ts'] = armTs(sdkShape(jobResource(wrongType, VARIANTS.defaults).job));
  // ... and a trigger type Container Apps does not know.
  const badTrigger = clone(arm);
  badTrigger.resources.find((r) => r.type === 'Microsoft.App/jobs').properties.configuration.triggerType = 'Scheduled';
  tsFiles['arm-bad-trigger.ts'] = armTs(sdkShape(jobResource(badTrigger, VARIANTS.defaults).job));

  tsFiles['k8s-job.ts'] = k8sTs(k8sJobDocs);
  tsFiles['k8s-cronjob.ts'] = k8sTs(k8sCronDocs);
  const k8sTypo = clone(k8sJobDocs);
  const spec = k8sTypo.find((d) => d.kind === 'Job').spec;
  spec.completionMod = spec.completionMode;
  delete spec.completionMode;
  tsFiles['k8s-bad-typo.ts'] = k8sTs(k8sTypo);
  const k8sNested = clone(k8sJobDocs);
  k8sNested.find((d) => d.kind === 'Job').spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
  tsFiles['k8s-bad-nested.ts'] = k8sTs(k8sNested);

  diags = typecheck(tsFiles);
});

describe('Container Apps job: ARM template against Microsoft.App/jobs (@azure/arm-appcontainers Job)', () => {
  for (const name of Object.keys(VARIANTS)) {
    test(`the ${name} parameter set type-checks`, () => {
      assert.deepEqual(diags[`arm-${name}.ts`], [], tsFiles[`arm-${name}.ts`]);
    });
  }

  test('a misspelled property fails the type check', () => {
    assert.ok(diags['arm-bad-typo.ts'].some((d) => d.includes('TS2353') && d.includes('mountpath')), diags['arm-bad-typo.ts'].join('\n'));
    assert.ok(diags['arm-bad-expr-typo.ts'].some((d) => d.includes('cronExpresion')), diags['arm-bad-expr-typo.ts'].join('\n'));
  });

  test('a value of the wrong type fails the type check', () => {
    assert.ok(diags['arm-bad-type.ts'].some((d) => d.includes('TS2322')), diags['arm-bad-type.ts'].join('\n'));
  });

  test('an unknown trigger type fails the type check', () => {
    assert.ok(diags['arm-bad-trigger.ts'].some((d) => d.includes('Scheduled')), diags['arm-bad-trigger.ts'].join('\n'));
  });

  test('a misspelled template function is an error, not a placeholder', () => {
    const broken = clone(arm);
    broken.resources.find((r) => r.type === 'Microsoft.App/jobs').properties.configuration.replicaTimeout = "[paramters('replicaTimeoutSeconds')]";
    assert.throws(() => jobResource(broken, VARIANTS.defaults), /paramters/);
  });

  test('defaults: hourly schedule, one replica, run without --claim, managed identity for Graph and storage', () => {
    const { job, all } = jobResource(arm, VARIANTS.defaults);
    const cfg = job.properties.configuration;
    assert.equal(cfg.triggerType, 'Schedule');
    assert.match(cfg.scheduleTriggerConfig.cronExpression, /^\d{1,2} \* \* \* \*$/, 'hourly');
    assert.equal(cfg.replicaTimeout, 3600);
    assert.equal(cfg.scheduleTriggerConfig.parallelism, 1);
    assert.equal(cfg.scheduleTriggerConfig.replicaCompletionCount, 1);
    assert.deepEqual(cfg.secrets, []);
    const c = containerOf(job);
    assert.deepEqual(c.args, ['run']);
    const env = envMap(c);
    for (const n of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'ATTENDANCE_USERS', 'AZURE_STORAGE_ACCOUNT_URL', 'ATTENDANCE_CONTAINER', 'ATTENDANCE_CLAIM_LEASE_MINUTES', 'TMPDIR', 'ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID'])
      assert.ok(env[n], `${n} is set`);
    assert.equal(env.AZURE_CLIENT_SECRET, undefined);
    assert.equal(env.ATTENDANCE_GROUPS, undefined, 'an empty parameter sets no variable');
    // Managed identity for Graph: the Graph "app" is the identity itself.
    assert.equal(env.AZURE_CLIENT_ID.value, env.ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID.value);
    assert.match(env.ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID.value, /userAssignedIdentities, id-attendance\)>, 2023-01-31\)\.clientId>$/);
    assert.deepEqual(Object.keys(job.identity.userAssignedIdentities), [`<resourceId(Microsoft.ManagedIdentity/userAssignedIdentities, id-attendance)>`]);
    assert.equal(job.identity.type, 'UserAssigned');
    assert.match(env.AZURE_STORAGE_ACCOUNT_URL.value, /^https:\/\/stattendance\.blob\./);
    assert.equal(env.ATTENDANCE_CLAIM_LEASE_MINUTES.value, '60');
    // TMPDIR is the EmptyDir volume's mount.
    const mount = c.volumeMounts.find((m) => m.mountPath === env.TMPDIR.value);
    assert.ok(mount, 'TMPDIR is a mount path');
    assert.equal(job.properties.template.volumes.find((v) => v.name === mount.volumeName)?.storageType, 'EmptyDir');
    // Consumption pairs 0.5 CPU with 1Gi, above the measured 246 MiB peak.
    assert.equal(c.resources.cpu, 0.5);
    assert.equal(c.resources.memory, '1Gi');
    const role = all.find((r) => r.type === 'Microsoft.Authorization/roleAssignments');
    assert.ok(role, 'storage role assignment');
    assert.match(role.properties.roleDefinitionId, /ba92f5b4-2d11-453d-a403-e96b0029c9fe/);
    assert.equal(role.scope, 'Microsoft.Storage/storageAccounts/stattendance');
    assert.match(role.properties.principalId, /id-attendance.*\.principalId>$/);
  });

  test('Manual trigger: no schedule, the same replicas', () => {
    const { job } = jobResource(arm, VARIANTS.manual);
    const cfg = job.properties.configuration;
    assert.equal(cfg.triggerType, 'Manual');
    assert.equal(cfg.scheduleTriggerConfig, null);
    assert.deepEqual(cfg.manualTriggerConfig, { parallelism: 2, replicaCompletionCount: 2 });
    assert.deepEqual(containerOf(job).args, ['run', '--claim']);
  });

  test('no role assignment when assignStorageRole is false', () => {
    const { all } = jobResource(arm, { ...VARIANTS.defaults, assignStorageRole: false });
    assert.equal(all.filter((r) => r.type === 'Microsoft.Authorization/roleAssignments').length, 0);
  });

  test('parallelism above 1 passes --claim; the claim lease covers the replica timeout', () => {
    const { job } = jobResource(arm, VARIANTS.parallel);
    const cfg = job.properties.configuration;
    assert.equal(cfg.scheduleTriggerConfig.parallelism, 4);
    assert.equal(cfg.scheduleTriggerConfig.replicaCompletionCount, 4);
    const c = containerOf(job);
    assert.deepEqual(c.args, ['run', '--claim']);
    const env = envMap(c);
    assert.equal(env.ATTENDANCE_CLAIM_LEASE_MINUTES.value, '91', '5401 s rounds up to 91 minutes');
    assert.equal(env.ATTENDANCE_GROUPS.value, 'attendance-rooms@contoso.com');
    assert.equal(env.ATTENDANCE_USERS, undefined);
  });

  test('client-secret mode: a Key Vault secret reference read with the identity', () => {
    const { job } = jobResource(arm, VARIANTS.secret);
    const cfg = job.properties.configuration;
    assert.equal(cfg.secrets.length, 1);
    const s = cfg.secrets[0];
    assert.equal(s.keyVaultUrl, VARIANTS.secret.clientSecretKeyVaultUrl);
    assert.equal(s.identity, Object.keys(job.identity.userAssignedIdentities)[0]);
    assert.equal(s.value, undefined, 'no secret value in the template');
    const env = envMap(containerOf(job));
    assert.deepEqual(env.AZURE_CLIENT_SECRET, { name: 'AZURE_CLIENT_SECRET', secretRef: s.name });
    assert.equal(env.AZURE_CLIENT_ID.value, VARIANTS.secret.graphAppClientId);
    assert.notEqual(env.ATTENDANCE_MANAGED_IDENTITY_CLIENT_ID.value, env.AZURE_CLIENT_ID.value);
    assert.equal(env.ATTENDANCE_PARQUET_TIMESTAMPS.value, 'int96', 'extraEnv is appended');
    assert.deepEqual(cfg.registries, [{ server: 'contoso.azurecr.io', identity: s.identity }]);
  });
});

describe('Container Apps job: Bicep and ARM agree (the Bicep file is not compiled here)', () => {
  test('parameters, defaults, resources, API versions and variable names match', () => {
    assert.deepEqual(agreementProblems(bicep, arm), []);
  });

  test('a Bicep copy with another default schedule is caught', () => {
    const changed = bicep.replace("param cronExpression string = '15 * * * *'", "param cronExpression string = '0 */2 * * *'");
    assert.notEqual(changed, bicep);
    assert.ok(agreementProblems(changed, arm).some((x) => x.startsWith('cronExpression')));
  });

  test('a Bicep copy missing an environment variable is caught', () => {
    const changed = bicep.replace("name: 'ATTENDANCE_CLAIM_LEASE_MINUTES'", "name: 'ATTENDANCE_CLAIM_LEASE'");
    assert.notEqual(changed, bicep);
    assert.ok(agreementProblems(changed, arm).some((x) => x.includes('ATTENDANCE_CLAIM_LEASE_MINUTES')));
  });

  test('an ARM copy with another replica timeout is caught', () => {
    const changed = clone(arm);
    changed.parameters.replicaTimeoutSeconds.defaultValue = 1800;
    assert.ok(agreementProblems(bicep, changed).some((x) => x.startsWith('replicaTimeoutSeconds')));
  });
});

describe('Kubernetes indexed Job', () => {
  test('every document validates against the Kubernetes API schema', () => {
    for (const d of [...k8sJobDocs, ...k8sCronDocs]) validateK8s(d);
    assert.deepEqual(k8sJobDocs.map((d) => d.kind).sort(), ['ConfigMap', 'Job', 'Secret']);
    assert.deepEqual(k8sCronDocs.map((d) => d.kind), ['CronJob']);
  });

  test('every document type-checks against the kubernetes-models interfaces', () => {
    assert.deepEqual(diags['k8s-job.ts'], []);
    assert.deepEqual(diags['k8s-cronjob.ts'], []);
  });

  test('a misspelled field fails the type check (the schema alone lets it through)', () => {
    assert.ok(diags['k8s-bad-typo.ts'].some((d) => d.includes('TS2353') && d.includes('completionMod')), diags['k8s-bad-typo.ts'].join('\n'));
    assert.ok(diags['k8s-bad-nested.ts'].some((d) => d.includes('TS2353') && d.includes('readOnlyRootFileSystem')), diags['k8s-bad-nested.ts'].join('\n'));
  });

  test('a value of the wrong type fails the schema', () => {
    const broken = clone(k8sJobDocs.find((d) => d.kind === 'Job'));
    broken.spec.parallelism = 'four';
    assert.throws(() => validateK8s(broken), /parallelism/);
    const badQty = clone(k8sJobDocs.find((d) => d.kind === 'Job'));
    badQty.spec.template.spec.containers[0].resources.limits.memory = 'lots';
    assert.throws(() => validateK8s(badQty));
  });

  test('the pod shards by JOB_COMPLETION_INDEX, runs read-only and non-root, and has room above the measured peak', () => {
    const job = k8sJobDocs.find((d) => d.kind === 'Job');
    assert.deepEqual(jobSpecProblems(job.spec, k8sJobDocs), []);
    const secret = k8sJobDocs.find((d) => d.kind === 'Secret');
    for (const k of ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET']) assert.ok(k in secret.stringData, k);
  });

  test('a copy whose --shard-count differs from completions is caught', () => {
    const job = clone(k8sJobDocs.find((d) => d.kind === 'Job'));
    job.spec.completions = 8;
    assert.ok(jobSpecProblems(job.spec, k8sJobDocs).some((x) => x.includes('--shard-count')));
    const writable = clone(k8sJobDocs.find((d) => d.kind === 'Job'));
    delete writable.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem;
    assert.ok(jobSpecProblems(writable.spec, k8sJobDocs).includes('root filesystem not read-only'));
  });

  test('the CronJob runs the same Job spec', () => {
    const job = k8sJobDocs.find((d) => d.kind === 'Job');
    const cron = k8sCronDocs[0];
    assert.deepEqual(cron.spec.jobTemplate.spec, job.spec);
    assert.equal(cron.spec.concurrencyPolicy, 'Forbid');
  });
});

describe('Synapse pipeline', () => {
  const pipeline = JSON.parse(read('synapse-pipeline.json'));

  test('starts the job, polls its execution, fails on failure, then loads the _latest views', () => {
    assert.deepEqual(pipelineProblems(pipeline), []);
  });

  test('the start URL is the Jobs - Start API at api-version 2024-03-01', () => {
    const start = pipeline.properties.activities[0];
    assert.match(start.typeProperties.url.value, /subscriptions\/.*resourceGroups\/.*\/providers\/Microsoft\.App\/jobs\/.*\/start\?api-version=/);
    assert.equal(pipeline.properties.parameters.apiVersion.defaultValue, '2024-03-01');
  });

  const breakers = {
    'no MSI on a call': (p) => delete p.properties.activities[0].typeProperties.authentication,
    'a dependency on a missing activity': (p) => (p.properties.activities[2].dependsOn[0].activity = 'Remember the URL'),
    'no api-version': (p) => (p.properties.activities[0].typeProperties.url.value = p.properties.activities[0].typeProperties.url.value.replace("'/start?api-version=', pipeline().parameters.apiVersion", "'/start'")),
    'no Fail activity': (p) => (p.properties.activities[3].typeProperties.ifFalseActivities = []),
    'a load that does not wait': (p) => (p.properties.activities[4].dependsOn = []),
    'a view left out of the load': (p) => p.properties.activities[4].typeProperties.scripts.pop(),
  };
  for (const [what, breakIt] of Object.entries(breakers)) {
    test(`a copy with ${what} is caught`, () => {
      const copy = clone(pipeline);
      breakIt(copy);
      assert.notDeepEqual(pipelineProblems(copy), []);
    });
  }
});
