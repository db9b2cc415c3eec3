// deploy/kubernetes, checked offline (no cluster here): every manifest
// against the Kubernetes API schemas (kubernetes-models), the pieces agree
// with each other and with the product (agent socket, annotation, config
// validity), and the Localhost seccomp profile is what the podman hook and
// vhqos-runtime would make of docker's default profile: NOTIFY for exactly
// vhqos' syscalls, listenerPath the agent's socket.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Pod } from 'kubernetes-models/v1/Pod';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { repoRoot } from '../helpers/paths';
import { parseConfig } from '../../src/config/load';
import { VHQOS_NOTIFY_SYSCALLS } from '../../src/oci/seccomp-transform';
import { DEFAULT_AGENT_SOCKET, VHQOS_AGENT_SOCKET_ENV, VHQOS_CONFIG_ANNOTATION } from '../../src/oci/types';
import { validateSpec } from '../../src/oci/validate';
import { fixtureJson } from '../fixtures/oci/helpers';

const DIR = path.join(repoRoot(), 'deploy', 'kubernetes');
const generator = require(path.join(repoRoot(), 'scripts', 'gen-kubernetes-seccomp.js')) as { render(): string };

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; [k: string]: any };

const MODELS: Record<string, (o: any) => { validate(): void }> = {
  'v1/Namespace': (o) => new Namespace(o),
  'v1/ConfigMap': (o) => new ConfigMap(o),
  'v1/Pod': (o) => new Pod(o),
  'apps/v1/DaemonSet': (o) => new DaemonSet(o),
};

/** Throws with the schema's complaint, or for a kind this test has no schema for. */
function validate(o: Obj): void {
  const model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  model(o).validate();
}

function manifests(): { file: string; obj: Obj }[] {
  const out: { file: string; obj: Obj }[] = [];
  for (const file of fs.readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
      out.push({ file, obj: doc.toJS() as Obj });
    }
  }
  return out;
}

const find = (kind: string, name?: string) => {
  const m = manifests().find((x) => x.obj.kind === kind && (name === undefined || x.obj.metadata.name === name));
  if (!m) throw new Error(`no ${kind} ${name ?? ''} in ${DIR}`);
  return structuredClone(m.obj);
};
const profile = () => JSON.parse(fs.readFileSync(path.join(DIR, 'vhqos-notify.json'), 'utf8'));

test('every manifest is valid against the Kubernetes API schema', (t) => {
  const all = manifests();
  t.deepEqual([...new Set(all.map((m) => m.obj.kind))].sort(), ['ConfigMap', 'DaemonSet', 'Namespace', 'Pod']);
  for (const { file, obj } of all) t.notThrows(() => validate(obj), `${file}: ${obj.kind} ${obj.metadata?.name}`);
});

test('broken manifests are refused by the same validation', (t) => {
  const ds = find('DaemonSet');
  ds.spec.template.spec.hostPID = 'yes';
  t.throws(() => validate(ds), { message: /hostPID must be boolean/ });
  const nameless = find('DaemonSet');
  delete nameless.spec.template.spec.containers[0].name;
  t.throws(() => validate(nameless), { message: /containers\/0 must have required property name/ });
  const pod = find('Pod');
  pod.spec.securityContext.seccompProfile.type = 'LocalHost';
  t.throws(() => validate(pod), { message: /seccompProfile\/type must be equal to one of the allowed values/ });
  const noSelector = find('DaemonSet');
  delete noSelector.spec.selector;
  t.throws(() => validate(noSelector), { message: /spec must have required property selector/ });
  t.throws(() => validate({ ...find('Pod'), apiVersion: 'v2' }), { message: /no schema for v2 Pod/ });
});

test('the agent DaemonSet: privileged, host pids, the node\'s /run/vhqos, cgroups and kubelet seccomp directory', (t) => {
  const ds = find('DaemonSet', 'vhqos-agent');
  const spec = ds.spec.template.spec;
  t.is(spec.hostPID, true);
  const agent = spec.containers.find((c: any) => c.name === 'agent');
  t.is(agent.securityContext.privileged, true);
  t.deepEqual(agent.command.slice(-2), ['vhqos', 'agent']);
  t.is(agent.env.find((e: any) => e.name === VHQOS_AGENT_SOCKET_ENV)?.value, DEFAULT_AGENT_SOCKET);
  const hostPath = (mountPath: string, c = agent) => {
    const m = c.volumeMounts.find((v: any) => v.mountPath === mountPath);
    return m && spec.volumes.find((v: any) => v.name === m.name)?.hostPath?.path;
  };
  t.is(hostPath(path.dirname(DEFAULT_AGENT_SOCKET)), path.dirname(DEFAULT_AGENT_SOCKET));
  t.is(hostPath('/sys/fs/cgroup'), '/sys/fs/cgroup');
  const init = spec.initContainers.find((c: any) => c.name === 'install-seccomp-profile');
  t.is(hostPath('/var/lib/kubelet/seccomp', init), '/var/lib/kubelet/seccomp');
  t.is(ds.spec.updateStrategy.type, 'OnDelete');
});

test('the example pod asks for the installed profile and names a valid config the agent can read', (t) => {
  const pod = find('Pod');
  const ds = find('DaemonSet', 'vhqos-agent');
  const sp = pod.spec.securityContext.seccompProfile;
  t.is(sp.type, 'Localhost');
  // The init container installs vhqos-notify.json (from the vhqos-seccomp ConfigMap) as this path under the kubelet's directory.
  const install = ds.spec.template.spec.initContainers[0].command.join(' ');
  t.true(install.includes(`/var/lib/kubelet/seccomp/${sp.localhostProfile}`), install);
  const kust = parseYaml(fs.readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8'));
  const gen = kust.configMapGenerator.find((g: any) => g.name === 'vhqos-seccomp');
  t.deepEqual(gen.files, ['vhqos-notify.json']);
  t.is(ds.spec.template.spec.volumes.find((v: any) => v.name === 'profile').configMap.name, 'vhqos-seccomp');
  // The config path is where the agent container has the configs ConfigMap.
  const config = pod.metadata.annotations![VHQOS_CONFIG_ANNOTATION];
  const agent = ds.spec.template.spec.containers[0];
  const mount = agent.volumeMounts.find((m: any) => config.startsWith(`${m.mountPath}/`));
  t.truthy(mount, `${config} is not under a mount of the agent container`);
  const cmName = ds.spec.template.spec.volumes.find((v: any) => v.name === mount.name).configMap.name;
  const cm = find('ConfigMap', cmName);
  const text = cm.data[path.relative(mount.mountPath, config)];
  t.truthy(text, `${cmName} has no ${path.relative(mount.mountPath, config)}`);
  t.notThrows(() => parseConfig(text));
});

test('the Localhost seccomp profile sends exactly the vhqos syscalls to the agent socket', (t) => {
  const p = profile();
  t.is(p.listenerPath, DEFAULT_AGENT_SOCKET);
  const notified = new Set<string>();
  for (const r of p.syscalls) if (r.action === 'SCMP_ACT_NOTIFY') for (const n of r.names) notified.add(n);
  t.deepEqual([...notified].sort(), [...VHQOS_NOTIFY_SYSCALLS].sort());
  // fcntl only for its dup commands.
  const fcntl = p.syscalls.filter((r: any) => r.action === 'SCMP_ACT_NOTIFY' && r.names.includes('fcntl'));
  t.deepEqual(fcntl.map((r: any) => r.args), [[{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }], [{ index: 1, value: 1030, op: 'SCMP_CMP_EQ' }]]);
  t.not(p.defaultAction, 'SCMP_ACT_ALLOW', 'a default-deny profile, as RuntimeDefault');
});

test('the profile is what the product makes of docker\'s default profile (scripts/gen-kubernetes-seccomp.js)', (t) => {
  t.is(fs.readFileSync(path.join(DIR, 'vhqos-notify.json'), 'utf8'), generator.render(), 'run node scripts/gen-kubernetes-seccomp.js');
});

test('the profile is a valid OCI linux.seccomp (runtime-spec schema), and a broken one is not', (t) => {
  const spec = fixtureJson<any>('docker-20.10.24.config.json');
  spec.linux.seccomp = profile();
  t.notThrows(() => validateSpec(spec));
  const broken = structuredClone(spec);
  broken.linux.seccomp.syscalls[0].action = 'SCMP_ACT_NOTIFYY';
  t.throws(() => validateSpec(broken));
});
