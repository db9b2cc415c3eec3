// vhqos under real container engines (root; runc 1.1, podman 4.3, docker
// 20.10 as DESIGN.md describes them). One `vhqos agent` (child process)
// serves every test; each engine runs busybox httpd (fork-after-accept, CGIs)
// from a busybox-static rootfs with the host network, and the whoami CGI
// tells which cgroup served each request.
//
//   runc    a plain bundle whose config.json vhqos' prepareSpec edited
//   podman  hooks.d from `vhqos oci install-hooks`, --annotation io.vhqos.config
//   docker  a private dockerd with --add-runtime vhqos=bin/vhqos-runtime.js,
//           -e VHQOS_CONFIG
//
// Engines missing on a machine skip their test with the reason; under CI
// (test/helpers/requires.ts) they fail unless VHQOS_ALLOW_SKIP names them.
import { requires, root, tools } from '../helpers/requires';
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { httpGet } from '../helpers/client';
import { pickPort, waitForPort } from '../helpers/proc';
import { repoRoot } from '../helpers/paths';
import {
  AgentProcess,
  Dockerd,
  Podman,
  buildRootfs,
  httpdArgs,
  run,
  servedPath,
  servedPidsPath,
  waitUntil,
  type Rootfs,
} from '../helpers/containers';
import { prepareSpec } from '../../src/oci/prepare';
import { agentRequest } from '../../src/agent/client';
import type { AgentInstance } from '../../src/agent/agent';
import { detectCgroups } from '../../src/cgroup/detect';
import { V1_USED } from '../../src/cgroup/detect';

const BIN = path.join(repoRoot(), 'bin', 'vhqos.js');
const RUNTIME_WRAPPER = path.join(repoRoot(), 'bin', 'vhqos-runtime.js');
const SITE = `vhosts:
  gold:
    hosts: [gold.test]
    cpu: { weight: 400 }
    pids: { max: 200 }
  bronze:
    hosts: [bronze.test]
    cpu: { weight: 100 }
`;

let work = '';
let rootfs: Rootfs;
let agent: AgentProcess;
let site = '';
/** The same site classified at the first read (runc runs in both modes; podman and docker with the default). */
let siteRead = '';
let runDir = '';
const tag = `vhqos-ct-${process.pid}`;

test.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-containers-'));
  fs.chmodSync(work, 0o755);
  rootfs = await buildRootfs(work);
  site = path.join(work, 'site.yaml');
  fs.writeFileSync(site, SITE);
  siteRead = path.join(work, 'site-read.yaml');
  fs.writeFileSync(siteRead, `${SITE}options:\n  classifyAt: read\n`);
  runDir = path.join(work, 'run');
  agent = new AgentProcess(path.join(work, 'agent', 'agent.sock'), runDir);
  await agent.start();
});

test.after.always(async () => {
  await agent?.stop();
  // For debugging a failure: VHQOS_TEST_AGENT_LOG=/some/file keeps the agent's log.
  if (process.env.VHQOS_TEST_AGENT_LOG && agent) fs.writeFileSync(process.env.VHQOS_TEST_AGENT_LOG, agent.stderr);
  // runc leaves the parent of the cgroups it made (/vhqos-ct-PID) behind.
  for (const dir of cgroupDirs(tag)) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // not there, or not ours to remove
    }
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** The directories of cgroup path `rel` in every hierarchy vhqos uses. */
function cgroupDirs(rel: string): string[] {
  const d = detectCgroups();
  const hs = d.version === 2 ? (d.v2 ? [d.v2] : []) : d.v1.filter((h) => h.controllers.some((c) => V1_USED.includes(c)));
  return hs.map((h) => path.join(h.mountPoint, rel.replace(/^\//, '')));
}

/** The container tests need root and the engine's tools. */
const needing = (...names: string[]) => requires(root(), ...tools(...names));

async function whoami(port: number, host: string): Promise<string> {
  const r = await httpGet({ ip: '127.0.0.1', port, host, path: '/cgi-bin/whoami', timeoutMs: 15000 });
  if (r.status !== 200) throw new Error(`GET ${host}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
  return r.body;
}

/**
 * The heart of every engine test: three requests, by Host, and the cgroup
 * of the CGI that served each. `containerCgroup` comes from the engine's own
 * config.json (linux.cgroupsPath), not from vhqos.
 */
async function assertVhostsServed(t: ExecutionContext, port: number, containerCgroup: string, instance: string, spec?: OciSpec): Promise<void> {
  await waitForPort('127.0.0.1', port, 15000);
  // In a cgroup namespace of its own (docker's default on cgroup v2) the
  // container sees its cgroup as "/".
  const base = `${hasCgroupns(spec) ? '' : containerCgroup.replace(/\/$/, '')}/${instance}`;
  const gold = await whoami(port, 'gold.test');
  const bronze = await whoami(port, 'bronze.test');
  const other = await whoami(port, 'unknown.test');
  t.is(servedPath(gold), `${base}/gold`, 'gold.test served from the gold cgroup inside the container cgroup');
  t.is(servedPath(bronze), `${base}/bronze`, 'bronze.test served from the bronze cgroup');
  t.is(servedPath(other), `${base}/_default`, 'an unknown host goes to _default');
  const pids = servedPidsPath(gold);
  if (pids !== undefined) t.is(pids, `${base}/gold`, 'moved in every hierarchy (pids too)');
}

interface OciSpec {
  linux: { cgroupsPath: string; namespaces: { type: string; path?: string }[]; seccomp?: { listenerPath?: string } };
}

function hasCgroupns(spec?: OciSpec): boolean {
  return !!spec?.linux.namespaces.some((n) => n.type === 'cgroup' && !n.path);
}

/** A cgroup path as the container's processes see it. */
function inside(spec: OciSpec, p: string): string {
  return hasCgroupns(spec) ? p.slice(spec.linux.cgroupsPath.replace(/\/$/, '').length) || '/' : p;
}

async function listInstances(): Promise<AgentInstance[]> {
  const r = await agentRequest(agent.socket, { vhqos: 'list' });
  return r.instances as AgentInstance[];
}

function vhqosStatus(args: string[]) {
  return run(process.execPath, [BIN, 'status', ...args, '--json'], { env: { ...process.env, VHQOS_RUN_DIR: runDir }, timeoutMs: 20000 });
}

/** After a container stopped: its instance's cgroups, status socket and agent entry are gone. */
async function assertCleanedUp(t: ExecutionContext, id: string, containerCgroup: string, instance: string): Promise<void> {
  const dirs = cgroupDirs(`${containerCgroup}/${instance}`);
  const gone = await waitUntil(() => dirs.every((d) => !fs.existsSync(d)), 15000);
  t.true(gone, `instance cgroups removed: ${dirs.filter((d) => fs.existsSync(d)).join(', ')}`);
  t.false(fs.existsSync(path.join(runDir, `${instance}.sock`)), 'status socket removed');
  const left = await waitUntil(async () => !(await listInstances()).some((i) => i.id === id), 10000);
  t.true(left, 'the agent no longer lists the container');
  t.truthy(agent.find(/process tree gone/, id).length, 'agent logged the cleanup');
}

// ---------------------------------------------------------------------------
// runc

interface Bundle {
  dir: string;
  cgroupsPath: string;
}

async function runcBundle(id: string, port: number, config: string | null, listenerPath = agent.socket): Promise<Bundle> {
  const dir = path.join(work, `bundle-${id}`);
  fs.mkdirSync(dir, { recursive: true });
  const spec = await run('runc', ['spec', '--bundle', dir], { timeoutMs: 10000 });
  if (spec.code !== 0) throw new Error(`runc spec: ${spec.stderr}`);
  const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  c.root = { path: rootfs.dir, readonly: true };
  c.process.args = httpdArgs(port);
  c.process.terminal = false;
  // The host network: busybox httpd on 127.0.0.1:port is reachable from the test.
  // No cgroup namespace: the CGI then reports host cgroup paths (runc adds one on cgroup v2).
  c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'network' && n.type !== 'cgroup');
  const cgroupsPath = `/${tag}/${id}`;
  c.linux.cgroupsPath = cgroupsPath;
  let out = c;
  if (config !== null) {
    c.annotations = { 'io.vhqos.config': config };
    out = prepareSpec(c, { agentSocket: listenerPath }).spec;
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(out, null, 2));
  return { dir, cgroupsPath };
}

const runcRoot = () => path.join(work, 'runc-root');
const runc = (args: string[], timeoutMs = 30000) => run('runc', ['--root', runcRoot(), ...args], { timeoutMs });
const runcRun = (b: Bundle, id: string) =>
  run('runc', ['--root', runcRoot(), 'run', '-d', '--bundle', b.dir, id], { timeoutMs: 30000, outputFile: path.join(work, `runc-${id}.out`) });

for (const mode of ['accept', 'read'] as const) {
needing('runc').serial(`[${mode}] runc: a bundle prepared by vhqos serves two vhosts from two cgroups inside the container's cgroup; exec and status work; kill cleans up`, async (t) => {
  const id = `vq-runc-${mode}-${process.pid}`;
  const port = await pickPort(['127.0.0.1'], 19000, 19999);
  const b = await runcBundle(id, port, mode === 'read' ? siteRead : site);
  try {
    const r = await runcRun(b, id);
    t.is(r.code, 0, `runc run: ${r.stderr}`);
    await assertVhostsServed(t, port, b.cgroupsPath, id);
    t.is(agent.find(/server started under vhqos/, id)[0]?.classifyAt, mode, 'the container is classified in the configured mode');

    // vhqos status finds the container's instance through its socket in the run dir
    const st = await vhqosStatus(['--instance', id]);
    t.is(st.code, 0, st.stderr);
    const snap = JSON.parse(st.stdout)[0];
    t.is(snap.instance, id);
    t.is(snap.vhosts.find((v: { name: string }) => v.name === 'gold').connections, 1);
    t.true(snap.vhosts.find((v: { name: string }) => v.name === 'gold').cgroups[0].endsWith(`${b.cgroupsPath}/${id}/gold`));
    // ... and the agent's own socket answers status with its list
    const ag = await run(process.execPath, [BIN, 'status', '--socket', agent.socket, '--json'], { timeoutMs: 20000 });
    t.is(ag.code, 0, ag.stderr);
    const agSnap = JSON.parse(ag.stdout)[0];
    t.is(agSnap.instance, 'agent');
    t.true(agSnap.agent.instances.some((i: { instance: string }) => i.instance === id), 'the agent lists the container in its status');

    // an exec into the container gets its own listener: supervised too, and the exec works
    const ex = await runc(['exec', id, 'wget', '-q', '-O-', '--header', 'Host: bronze.test', `http://127.0.0.1:${port}/cgi-bin/whoami`]);
    t.is(ex.code, 0, `runc exec: ${ex.stderr}`);
    t.is(servedPath(ex.stdout), `${b.cgroupsPath}/${id}/bronze`);
    const execLine = await agent.waitForLog(/supervising exec in container/, id);
    t.truthy(execLine, 'the agent supervised the exec');
    t.regex(String(execLine?.instance), new RegExp(`^${id}-exec-\\d+$`));
    t.is(execLine?.cgroupParent, b.cgroupsPath.slice(1), 'the exec instance sits beside the container\'s');
    const execGone = await waitUntil(() => agent.find(/process tree gone/, id).some((l) => l.instance === execLine?.instance), 10000);
    t.true(execGone, 'the exec instance is cleaned up when the exec\'d process exits');
    t.true((await listInstances()).some((i) => i.instance === id), 'the container instance stays');

    const k = await runc(['kill', id, 'KILL']);
    t.is(k.code, 0, k.stderr);
    await assertCleanedUp(t, id, b.cgroupsPath, id);
  } finally {
    await runc(['delete', '-f', id]);
  }
});
}

needing('runc').serial('runc: a container the agent will not supervise (missing config) fails promptly with an error; none is left behind', async (t) => {
  const id = `vq-runc-bad-${process.pid}`;
  const port = await pickPort(['127.0.0.1'], 19000, 19999);
  const missing = path.join(work, 'no-such-config.yaml');
  const b = await runcBundle(id, port, missing);
  try {
    const r = await runcRun(b, id);
    t.false(r.timedOut, 'runc did not hang');
    t.not(r.code, 0);
    t.regex(r.stderr, /unable to start container process/);
    const line = await agent.waitForLog(/not supervised/, id);
    t.truthy(line, 'one clear log line');
    t.regex(String(line?.msg), /no-such-config\.yaml/);
    t.regex(String(line?.msg), /killed its init/);
    t.is(line?.level, 50);
    t.false((await listInstances()).some((i) => i.id === id));
    // the agent keeps serving
    await agentRequest(agent.socket, { vhqos: 'list' });
  } finally {
    await runc(['delete', '-f', id]);
  }
});

// ---------------------------------------------------------------------------
// podman

needing('podman', 'runc', 'conmon').serial('podman: hooks + annotation: two vhosts from two cgroups, exec works, unannotated untouched, bad config and agent down fail clearly, stop cleans up', async (t) => {
  const dir = path.join(work, 'podman');
  fs.mkdirSync(dir, { recursive: true });
  const hooks = path.join(dir, 'hooks.d');
  const deadHooks = path.join(dir, 'hooks-dead.d');
  for (const [d, sock] of [[hooks, agent.socket], [deadHooks, path.join(work, 'agent', 'nobody.sock')]]) {
    const r = await run(process.execPath, [BIN, 'oci', 'install-hooks', '--dir', d, '--agent-socket', sock], { timeoutMs: 20000 });
    t.is(r.code, 0, r.stderr);
  }
  const podman = new Podman(dir, hooks);
  const image = `localhost/vhqos-test:${process.pid}`;
  try {
    const imp = await podman.podman(['import', rootfs.tar, image]);
    t.is(imp.code, 0, `podman import: ${imp.stderr}`);

    const port = await pickPort(['127.0.0.1'], 19000, 19999);
    const c = await podman.runDetached(['--annotation', `io.vhqos.config=${site}`, image, ...httpdArgs(port)]);
    t.is(c.code, 0, `podman run: ${c.stderr}`);
    const ociConfig = (await podman.podman(['inspect', '--format', '{{.OCIConfigPath}}', c.id])).stdout.trim();
    const spec = JSON.parse(fs.readFileSync(ociConfig, 'utf8')) as OciSpec;
    t.is(spec.linux.seccomp?.listenerPath, agent.socket, 'the precreate hook pointed runc at the agent');
    const cg = spec.linux.cgroupsPath;
    await assertVhostsServed(t, port, cg, c.id, spec);

    const ex = await podman.podman(['exec', c.id, 'wget', '-q', '-O-', '--header', 'Host: bronze.test', `http://127.0.0.1:${port}/cgi-bin/whoami`]);
    t.is(ex.code, 0, `podman exec: ${ex.stderr}`);
    t.is(servedPath(ex.stdout), inside(spec, `${cg}/${c.id}/bronze`));
    t.truthy(await agent.waitForLog(/supervising exec in container/, c.id), 'the exec was supervised');

    // a container without the annotation: no hooks ran, nothing moved
    const port2 = await pickPort(['127.0.0.1'], 19000, 19999);
    const plain = await podman.runDetached([image, ...httpdArgs(port2)]);
    t.is(plain.code, 0, plain.stderr);
    const plainSpec = JSON.parse(fs.readFileSync((await podman.podman(['inspect', '--format', '{{.OCIConfigPath}}', plain.id])).stdout.trim(), 'utf8')) as OciSpec;
    t.is(plainSpec.linux.seccomp?.listenerPath, undefined, 'unannotated: config.json untouched');
    await waitForPort('127.0.0.1', port2, 15000);
    t.is(servedPath(await whoami(port2, 'gold.test')), inside(plainSpec, plainSpec.linux.cgroupsPath), 'unannotated: served from the container\'s own cgroup');
    t.is(agent.find(/./, plain.id).length, 0, 'the agent never heard of it');

    // a broken config: the prestart hook asks the agent, podman fails with the reason
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'vhosts:\n  gold:\n    hosts: [gold.test]\n    cpu: { weight: 99999 }\n');
    const b = await podman.podman(['run', '--rm', ...Podman.RUN_FLAGS, '--annotation', `io.vhqos.config=${bad}`, image, 'true']);
    t.false(b.timedOut);
    t.not(b.code, 0);
    t.regex(b.stderr, /weight/, 'the config problem reaches the user');

    // agent down (hooks pointing at a socket nobody listens on)
    const down = await podman.podman(['run', '--rm', ...Podman.RUN_FLAGS, '--annotation', `io.vhqos.config=${site}`, image, 'true'], { hooksDir: deadHooks });
    t.false(down.timedOut);
    t.not(down.code, 0);
    t.regex(down.stderr, /vhqos agent is not running at .*nobody\.sock/);

    // stop: hup cleans up, the poststop hook tells the agent
    const stop = await podman.podman(['stop', '-t', '1', c.id]);
    t.is(stop.code, 0, stop.stderr);
    await assertCleanedUp(t, c.id, cg, c.id);
    await podman.podman(['rm', c.id]);
    t.truthy(await agent.waitForLog(/poststop: container gone/, c.id), 'the poststop hook reached the agent');
  } finally {
    await podman.cleanup();
    await podman.podman(['rmi', '-f', image]);
  }
});

// ---------------------------------------------------------------------------
// docker

needing('dockerd', 'docker', 'containerd', 'runc').serial('docker: --runtime vhqos + VHQOS_CONFIG: two vhosts from two cgroups, docker exec works, unannotated untouched, agent down fails clearly, stop cleans up', async (t) => {
  const dir = path.join(work, 'docker');
  fs.mkdirSync(dir, { recursive: true });
  const dockerd = new Dockerd(dir, { ...process.env, VHQOS_AGENT_SOCKET: agent.socket }, { vhqos: RUNTIME_WRAPPER });
  const image = `vhqos-test:${process.pid}`;
  try {
    await dockerd.start();
    const imp = await dockerd.docker(['import', rootfs.tar, image]);
    t.is(imp.code, 0, `docker import: ${imp.stderr}`);

    const port = await pickPort(['127.0.0.1'], 19000, 19999);
    const c = await dockerd.runDetached(['--runtime', 'vhqos', '--network', 'host', '-e', `VHQOS_CONFIG=${site}`, image, ...httpdArgs(port)]);
    t.is(c.code, 0, `docker run: ${c.stderr}`);
    const spec = JSON.parse(fs.readFileSync(dockerd.bundleConfig(c.id), 'utf8')) as OciSpec;
    t.is(spec.linux.seccomp?.listenerPath, agent.socket, 'vhqos-runtime pointed runc at the agent');
    const cg = spec.linux.cgroupsPath;
    await assertVhostsServed(t, port, cg, c.id, spec);

    const st = await vhqosStatus(['--instance', c.id]);
    t.is(st.code, 0, st.stderr);
    t.is(JSON.parse(st.stdout)[0].vhosts.find((v: { name: string }) => v.name === 'bronze').connections, 1);

    const ex = await dockerd.docker(['exec', c.id, 'wget', '-q', '-O-', '--header', 'Host: bronze.test', `http://127.0.0.1:${port}/cgi-bin/whoami`]);
    t.is(ex.code, 0, `docker exec: ${ex.stderr}`);
    t.is(servedPath(ex.stdout), inside(spec, `${cg}/${c.id}/bronze`));
    t.truthy(await agent.waitForLog(/supervising exec in container/, c.id), 'the exec was supervised');
    const sh = await dockerd.docker(['exec', c.id, 'sh', '-c', 'echo exec-ok; cat /proc/self/status | grep -c Seccomp']);
    t.is(sh.code, 0, sh.stderr);
    t.regex(sh.stdout, /^exec-ok\n/);

    // same runtime, no VHQOS_CONFIG: config.json untouched, nothing moved
    const port2 = await pickPort(['127.0.0.1'], 19000, 19999);
    const plain = await dockerd.runDetached(['--runtime', 'vhqos', '--network', 'host', image, ...httpdArgs(port2)]);
    t.is(plain.code, 0, plain.stderr);
    const plainSpec = JSON.parse(fs.readFileSync(dockerd.bundleConfig(plain.id), 'utf8')) as OciSpec;
    t.is(plainSpec.linux.seccomp?.listenerPath, undefined, 'unannotated: config.json untouched');
    await waitForPort('127.0.0.1', port2, 15000);
    t.is(servedPath(await whoami(port2, 'gold.test')), inside(plainSpec, plainSpec.linux.cgroupsPath));
    t.is(agent.find(/./, plain.id).length, 0, 'the agent never heard of it');

    // restart: same container id, a new init: supervised again from scratch
    const rs = await dockerd.docker(['restart', '-t', '1', c.id]);
    t.is(rs.code, 0, rs.stderr);
    await waitForPort('127.0.0.1', port, 15000);
    t.is(servedPath(await whoami(port, 'bronze.test')), inside(spec, `${cg}/${c.id}/bronze`), 'supervised again after a restart');
    t.is((await listInstances()).filter((i) => i.id === c.id && i.role === 'create').length, 1, 'one instance for the container');

    // stop: the supervised tree is gone (hup): cgroups, status socket, agent entry
    const stop = await dockerd.docker(['stop', '-t', '1', c.id]);
    t.is(stop.code, 0, stop.stderr);
    await assertCleanedUp(t, c.id, cg, c.id);

    // agent down: the wrapper refuses new containers with one readable line;
    // a container supervised before keeps running (its keeper answers for the agent)
    const port3 = await pickPort(['127.0.0.1'], 19000, 19999);
    const c3 = await dockerd.runDetached(['--runtime', 'vhqos', '--network', 'host', '-e', `VHQOS_CONFIG=${site}`, image, ...httpdArgs(port3)]);
    t.is(c3.code, 0, c3.stderr);
    const spec3 = JSON.parse(fs.readFileSync(dockerd.bundleConfig(c3.id), 'utf8')) as OciSpec;
    const cg3 = spec3.linux.cgroupsPath;
    await waitForPort('127.0.0.1', port3, 15000);
    t.is(servedPath(await whoami(port3, 'gold.test')), inside(spec3, `${cg3}/${c3.id}/gold`));
    await agent.stop();
    try {
      const down = await dockerd.docker(['run', '--rm', '--runtime', 'vhqos', '--network', 'host', '-e', `VHQOS_CONFIG=${site}`, image, 'true']);
      t.false(down.timedOut);
      t.not(down.code, 0);
      t.regex(down.stderr, /vhqos agent is not running at /);
      // unsupervised now: new connections are served where the accepting process is (fail
      // open): _server, or at accept the group of the last connection it was given (gold).
      const where = servedPath(await whoami(port3, 'bronze.test'));
      t.true(
        [`${cg3}/${c3.id}/_server`, `${cg3}/${c3.id}/gold`].map((p) => inside(spec3, p)).includes(where),
        `served, unsupervised, while the agent is down, from ${where}`,
      );
    } finally {
      await agent.start();
    }
  } finally {
    await dockerd.stop();
  }
});
