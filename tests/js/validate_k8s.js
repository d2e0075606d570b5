#!/usr/bin/env node
// Validate jobmeter's Kubernetes manifests.
//
//   node validate_k8s.js [MANIFEST_DIR] [--unit AGENT_UNIT] [--dump-agent-config FILE]
//
// Every YAML document of every *.yaml file is parsed (YAML 1.1, as the API
// server's decoder does) and validated twice with the kubernetes-models
// schema of its apiVersion/kind: once as the library's Model.validate(), and
// once through a recording proxy that reports fields the schema never looked
// at (misspelt keys the schema alone would accept).  Then jobmeter's own
// rules: the agent DaemonSet's security context (not privileged, no
// escalation, drop ALL, add exactly the systemd unit's capabilities, hostPID,
// read-only hostPath mounts except the state directory), the collector's
// "restricted" posture, and the references between objects.
//
// Output: one "PASS name" / "FAIL name: why" line per check; exit 1 on any
// FAIL.  --dump-agent-config writes the ConfigMap's agent.yaml to FILE so the
// caller can have the real agent parse it.
'use strict';
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

const here = __dirname;
const args = process.argv.slice(2);
let dir = path.resolve(here, '../../deploy/kubernetes');
let unitPath = path.resolve(here, '../../deploy/systemd/jobmeter-agent.service');
let dumpConfig = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--unit') unitPath = args[++i];
  else if (args[i] === '--dump-agent-config') dumpConfig = args[++i];
  else dir = path.resolve(args[i]);
}

let failures = 0;
const pass = (n) => console.log(`PASS ${n}`);
const fail = (n, why) => { failures++; console.log(`FAIL ${n}: ${why}`); };
const check = (n, ok, why) => (ok ? pass(n) : fail(n, why));
const sameSet = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

// ---------------------------------------------------------------- schemas
// apiVersion "apps/v1" -> "kubernetes-models/apps/v1/Kind"; core "v1" -> "kubernetes-models/v1/Kind".
function modelModule(apiVersion, kind) {
  return `kubernetes-models/${apiVersion}/${kind}`;
}
function loadModel(apiVersion, kind) {
  const mod = modelModule(apiVersion, kind);
  const file = require.resolve(mod);
  const Model = require(mod)[kind];
  // The compiled schema validator the class registers, for the field check.
  const m = fs.readFileSync(file, 'utf8').match(/_schemas\/(IoK8s[A-Za-z0-9]+)\.js/);
  const root = file.slice(0, file.lastIndexOf(`${path.sep}kubernetes-models${path.sep}`) + 19);
  const schema = m ? require(path.join(root, '_schemas', `${m[1]}.js`)).validate : null;
  return { Model, schema };
}

// Fields of obj that the schema validator never read.  Validators read
// every property their schema declares (and every key of free-form maps,
// by iterating them), so an unread key is unknown to the schema.
function unknownFields(schema, obj) {
  const all = new Set();
  const seen = new Set();
  const cache = new WeakMap();
  function wrap(o, p) {
    if (o === null || typeof o !== 'object') return o;
    if (cache.has(o)) return cache.get(o);
    for (const k of Object.keys(o)) all.add(`${p}/${k}`);
    const px = new Proxy(o, {
      get(t, k, r) {
        const v = Reflect.get(t, k, r);
        if (typeof k !== 'string') return v;
        seen.add(`${p}/${k}`);
        return wrap(v, `${p}/${k}`);
      },
    });
    cache.set(o, px);
    return px;
  }
  schema(wrap(obj, ''));
  return [...all].filter((x) => !seen.has(x));
}

// ---------------------------------------------------------------- load
if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
  fail(`manifest directory ${dir}`, 'does not exist');
  process.exit(1);
}
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
check(`manifests found in ${dir}`, files.length > 0, 'no *.yaml files');
const objs = [];     // {file, doc}
let kustomization = null;
for (const f of files) {
  const src = fs.readFileSync(path.join(dir, f), 'utf8');
  const docs = YAML.parseAllDocuments(src, { version: '1.1' });
  docs.forEach((d, i) => {
    const name = `${f}#${i}`;
    if (d.errors.length) { fail(`parse ${name}`, d.errors.map((e) => e.message).join('; ')); return; }
    const o = d.toJS();
    if (o === null || o === undefined) return;
    if (o.kind === 'Kustomization') { kustomization = { file: f, o }; pass(`parse ${name} (Kustomization)`); return; }
    objs.push({ file: f, name: `${f}:${o.kind}/${o.metadata && o.metadata.name}`, o });
  });
}

for (const { name, o } of objs) {
  if (!o.apiVersion || !o.kind) { fail(`schema ${name}`, 'missing apiVersion/kind'); continue; }
  let model;
  try {
    model = loadModel(o.apiVersion, o.kind);
  } catch (e) {
    fail(`schema ${name}`, `no kubernetes-models class for ${o.apiVersion} ${o.kind}`);
    continue;
  }
  try {
    new model.Model(o).validate();
    pass(`schema ${name}`);
  } catch (e) {
    fail(`schema ${name}`, e.message.replace(/\s+/g, ' '));
  }
  if (model.schema) {
    const unknown = unknownFields(model.schema, o);
    check(`known fields ${name}`, unknown.length === 0, `unknown field(s): ${unknown.join(', ')}`);
  }
  if (o.kind !== 'Namespace') {
    check(`namespace ${name}`, o.metadata && o.metadata.namespace === 'jobmeter',
      `metadata.namespace is ${o.metadata && o.metadata.namespace}, want jobmeter`);
  }
}

const find = (kind, name) => objs.map((x) => x.o).find((o) => o.kind === kind && o.metadata.name === name);
const all = (kind) => objs.map((x) => x.o).filter((o) => o.kind === kind);

// ---------------------------------------------------------------- kustomization
if (kustomization) {
  const res = kustomization.o.resources || [];
  const missing = res.filter((r) => !fs.existsSync(path.join(dir, r)));
  check('kustomization: every resource exists', missing.length === 0, `missing: ${missing.join(', ')}`);
  const unlisted = files.filter((f) => f !== kustomization.file && !f.includes('.example.') && !res.includes(f));
  check('kustomization: lists every manifest (examples excepted)', unlisted.length === 0, `not listed: ${unlisted.join(', ')}`);
  check('kustomization: no Secret with a token from git',
    !res.some((r) => objs.some((x) => x.file === r && x.o.kind === 'Secret')), 'a Secret manifest is a kustomize resource');
}

// ---------------------------------------------------------------- agent
function unitCaps(file) {
  const text = fs.readFileSync(file, 'utf8');
  const m = text.match(/^AmbientCapabilities=(.*)$/m);
  return m ? m[1].trim().split(/\s+/).map((c) => c.replace(/^CAP_/, '')) : null;
}
const wantCaps = unitCaps(unitPath);
check('systemd unit capabilities readable', wantCaps && wantCaps.length > 0, `no AmbientCapabilities= in ${unitPath}`);

const ds = find('DaemonSet', 'jobmeter-agent');
const sa = find('ServiceAccount', 'jobmeter-agent');
const cm = find('ConfigMap', 'jobmeter-agent-config');
const svc = find('Service', 'jobmeter-collector');
let agentCfg = null;
if (cm && cm.data && typeof cm.data['agent.yaml'] === 'string') {
  try {
    agentCfg = YAML.parse(cm.data['agent.yaml']);
    pass('agent ConfigMap: agent.yaml parses');
    if (dumpConfig) fs.writeFileSync(dumpConfig, cm.data['agent.yaml']);
  } catch (e) {
    fail('agent ConfigMap: agent.yaml parses', e.message);
  }
} else {
  fail('agent ConfigMap', 'no ConfigMap jobmeter-agent-config with data.agent.yaml');
}

if (!ds) {
  fail('agent DaemonSet', 'no DaemonSet jobmeter-agent');
} else {
  const pod = ds.spec.template.spec;
  check('agent: hostPID true', pod.hostPID === true, `hostPID is ${pod.hostPID}`);
  check('agent: no hostNetwork/hostIPC', !pod.hostNetwork && !pod.hostIPC, 'host network or IPC shared');
  check('agent: pod does not mount an API token', pod.automountServiceAccountToken === false,
    'spec.template.spec.automountServiceAccountToken must be false');
  check('agent: ServiceAccount does not mount an API token', sa && sa.automountServiceAccountToken === false,
    'ServiceAccount jobmeter-agent missing or automountServiceAccountToken not false');
  check('agent: uses its ServiceAccount', pod.serviceAccountName === 'jobmeter-agent', `serviceAccountName ${pod.serviceAccountName}`);
  check('agent: tolerates every taint (runs on every node)',
    (pod.tolerations || []).some((t) => t.operator === 'Exists' && !t.key && !t.effect), 'no {operator: Exists} toleration');
  const vols = new Map((pod.volumes || []).map((v) => [v.name, v]));
  const allowedHost = ['/sys/kernel/btf', '/sys/kernel/tracing', '/sys/kernel/debug', '/sys/fs/cgroup',
    '/var/log/pods', '/var/log/containers', '/proc', '/var/lib/jobmeter'];
  const hostPaths = [...vols.values()].filter((v) => v.hostPath).map((v) => v.hostPath.path);
  const stray = hostPaths.filter((p) => !allowedHost.includes(p));
  check('agent: hostPath volumes only of the documented host paths', stray.length === 0, `unexpected: ${stray.join(', ')}`);
  for (const need of ['/sys/kernel/btf', '/sys/kernel/tracing', '/sys/fs/cgroup', '/var/log/pods', '/var/log/containers']) {
    check(`agent: mounts host ${need}`, hostPaths.includes(need), 'missing hostPath');
  }
  const stateDir = '/var/lib/jobmeter';
  (pod.containers || []).forEach((c) => {
    const n = `agent container ${c.name}`;
    const sc = c.securityContext || {};
    const caps = sc.capabilities || {};
    check(`${n}: privileged explicitly false`, sc.privileged === false, `privileged is ${sc.privileged}`);
    check(`${n}: allowPrivilegeEscalation false`, sc.allowPrivilegeEscalation === false, `is ${sc.allowPrivilegeEscalation}`);
    check(`${n}: readOnlyRootFilesystem`, sc.readOnlyRootFilesystem === true, `is ${sc.readOnlyRootFilesystem}`);
    check(`${n}: capabilities drop [ALL]`, sameSet(caps.drop || [], ['ALL']), `drop is ${JSON.stringify(caps.drop)}`);
    check(`${n}: capabilities add exactly the unit's set (${(wantCaps || []).join(' ')})`,
      wantCaps && sameSet(caps.add || [], wantCaps), `add is ${JSON.stringify(caps.add)}`);
    const hostMounts = (c.volumeMounts || []).filter((m) => vols.get(m.name) && vols.get(m.name).hostPath);
    const writable = hostMounts.filter((m) => m.readOnly !== true).map((m) => vols.get(m.name).hostPath.path);
    check(`${n}: every hostPath mount read-only except ${stateDir}`, sameSet(writable, [stateDir]),
      `writable host paths: ${JSON.stringify(writable)}`);
    const mountAt = (p) => (c.volumeMounts || []).find((m) => m.mountPath === p);
    const r = c.resources || {};
    check(`${n}: cpu and memory requests and limits`,
      r.requests && r.limits && r.requests.cpu && r.requests.memory && r.limits.cpu && r.limits.memory, JSON.stringify(r));
    const probe = c.livenessProbe && c.livenessProbe.httpGet;
    const port = probe && (c.ports || []).find((p) => p.name === probe.port || p.containerPort === probe.port);
    check(`${n}: liveness probe is an HTTP GET on a declared port`, probe && port, JSON.stringify(c.livenessProbe));
    const argv = [...(c.command || []), ...(c.args || [])];
    const cfgArg = argv[argv.indexOf('--config') + 1];
    check(`${n}: --config points into the config volume`,
      argv.includes('--config') && mountAt(path.dirname(cfgArg)) && mountAt(path.dirname(cfgArg)).name === 'config',
      `argv ${JSON.stringify(argv)}`);
    if (agentCfg) {
      const ml = String(agentCfg.metrics_listen || '');
      check(`${n}: metrics_listen ${ml} is the probed port`, port && ml.endsWith(`:${port.containerPort}`) && !ml.startsWith('127.'),
        `metrics_listen "${ml}" vs containerPort ${port && port.containerPort} (must listen beyond loopback)`);
      const k = agentCfg.kubernetes || {};
      check(`${n}: kubernetes.log_root /var/log with pods/ and containers/ mounted`,
        k.log_root === '/var/log' && mountAt('/var/log/pods') && mountAt('/var/log/containers'), JSON.stringify(k));
      const col = agentCfg.collector || {};
      const tokenMount = col.token_file && mountAt(path.dirname(col.token_file));
      check(`${n}: collector.token_file inside a mounted volume`, !!tokenMount, `token_file ${col.token_file}`);
      check(`${n}: collector.spool_dir on the writable state mount`,
        typeof col.spool_dir === 'string' && col.spool_dir.startsWith(`${stateDir}/`) && mountAt(stateDir),
        `spool_dir ${col.spool_dir}`);
      let u = null;
      try { u = new URL(col.url); } catch (e) { /* reported below */ }
      const svcPort = svc && (svc.spec.ports || []).find((p) => u && String(p.port) === u.port);
      check(`${n}: collector.url names the collector Service`,
        u && svc && u.hostname === `${svc.metadata.name}.${svc.metadata.namespace}.svc` && svcPort,
        `url ${col.url} vs Service ${svc && svc.metadata.name}`);
    }
  });
  // Referenced ConfigMap and Secret.
  const proj = [...vols.values()].flatMap((v) => (v.projected ? v.projected.sources : []));
  const cmRef = proj.map((s) => s.configMap && s.configMap.name).filter(Boolean);
  check('agent: config volume uses the ConfigMap', cmRef.includes('jobmeter-agent-config'), JSON.stringify(cmRef));
  const secRef = proj.map((s) => s.secret && s.secret.name).filter(Boolean);
  check('agent: token comes from the jobmeter-token Secret', secRef.includes('jobmeter-token'), JSON.stringify(secRef));
}
check('token Secret documented (example manifest)', !!find('Secret', 'jobmeter-token'), 'no Secret jobmeter-token manifest');

// ---------------------------------------------------------------- collector
const dep = find('Deployment', 'jobmeter-collector');
if (!dep) {
  fail('collector Deployment', 'no Deployment jobmeter-collector');
} else {
  const pod = dep.spec.template.spec;
  const psc = pod.securityContext || {};
  check('collector: pod runs as non-root', psc.runAsNonRoot === true && psc.runAsUser > 0, JSON.stringify(psc));
  check('collector: no host namespaces', !pod.hostPID && !pod.hostNetwork && !pod.hostIPC, 'host namespace shared');
  check('collector: no hostPath volumes', !(pod.volumes || []).some((v) => v.hostPath), 'hostPath volume');
  check('collector: pod does not mount an API token', pod.automountServiceAccountToken === false, 'automount not false');
  check('collector: seccomp RuntimeDefault',
    psc.seccompProfile && psc.seccompProfile.type === 'RuntimeDefault', JSON.stringify(psc.seccompProfile));
  (pod.containers || []).forEach((c) => {
    const n = `collector container ${c.name}`;
    const sc = c.securityContext || {};
    const caps = sc.capabilities || {};
    check(`${n}: restricted securityContext`,
      sc.privileged === false && sc.allowPrivilegeEscalation === false && sc.readOnlyRootFilesystem === true &&
      sameSet(caps.drop || [], ['ALL']) && !(caps.add && caps.add.length), JSON.stringify(sc));
    for (const p of ['livenessProbe', 'readinessProbe']) {
      const g = c[p] && c[p].httpGet;
      const port = g && (c.ports || []).find((x) => x.name === g.port || x.containerPort === g.port);
      check(`${n}: ${p} GET /healthz on a declared port`, g && g.path === '/healthz' && port, JSON.stringify(c[p]));
    }
    const r = c.resources || {};
    check(`${n}: cpu and memory requests and limits`,
      r.requests && r.limits && r.requests.cpu && r.requests.memory && r.limits.cpu && r.limits.memory, JSON.stringify(r));
    const argv = [...(c.command || []), ...(c.args || [])];
    const at = (flag) => argv[argv.indexOf(flag) + 1];
    const mountFor = (file) => (c.volumeMounts || []).find((m) => file && file.startsWith(`${m.mountPath}/`));
    const dbMount = mountFor(at('--db'));
    const dbVol = dbMount && (pod.volumes || []).find((v) => v.name === dbMount.name);
    check(`${n}: --db on the PersistentVolumeClaim`,
      dbVol && dbVol.persistentVolumeClaim && find('PersistentVolumeClaim', dbVol.persistentVolumeClaim.claimName),
      `--db ${at('--db')}`);
    const tokMount = mountFor(at('--token-file'));
    const tokVol = tokMount && (pod.volumes || []).find((v) => v.name === tokMount.name);
    check(`${n}: --token-file from the jobmeter-token Secret`,
      tokVol && tokVol.secret && tokVol.secret.secretName === 'jobmeter-token', `--token-file ${at('--token-file')}`);
    const listenPort = Number(String(at('--listen') || '').split(':').pop());
    check(`${n}: --listen port is the declared container port`,
      (c.ports || []).some((p) => p.containerPort === listenPort), `--listen ${at('--listen')}`);
  });
  if (svc) {
    const labels = dep.spec.template.metadata.labels || {};
    const sel = svc.spec.selector || {};
    check('collector Service selects the collector pods',
      Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v), JSON.stringify(sel));
  } else {
    fail('collector Service', 'no Service jobmeter-collector');
  }
}

console.log(`${failures === 0 ? 'manifests valid' : `${failures} check(s) failed`}`);
process.exit(failures === 0 ? 0 : 1);
