// The agent without container engines: what arrives on its socket (runc's
// and crun's messages, the hooks' requests, `vhqos status`, probes), how
// hostile or broken input is turned away without hurting anyone, and a real
// seccomp listener (from the addon's own spawn) handed over the way a
// runtime does it. Runs as root (cgroups, SO_PEERCRED of another uid).
import { requires, root } from '../helpers/requires';
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, type AgentLogger } from '../../src/agent/agent';
import type { AttachOptions } from '../../src/supervisor/instance';
import { agentRequest, AgentRefusedError } from '../../src/agent/client';
import { AgentProtocolError, cgroupParentOf, configPathOf, instanceName, parseAgentMessage, type RuntimeMessage } from '../../src/agent/protocol';
import { runHook, defaultAgentRequests } from '../../src/engines/hooks';
import type { CgroupDetection } from '../../src/cgroup/detect';
import { detectCgroups, V1_USED } from '../../src/cgroup/detect';
import { loadNative } from '../../src/native';
import { reap } from '../../src/supervisor/reap';
import { repoRoot } from '../helpers/paths';
import { waitUntil, stopChild } from '../helpers/containers';

const FIXTURES = path.join(repoRoot(), 'test', 'fixtures', 'oci');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));
/** How long `vhqos agent` may take to listen: node and the CLI start 5-30x slower in the emulated cgroup v2 VM (15 s was not always enough). */
const AGENT_START_MS = 90_000;

// ---------------------------------------------------------------------------
// protocol (pure)

test('runc 1.1.5 messages captured under podman and docker: create and exec', (t) => {
  for (const engine of ['podman-4.3.1', 'docker-20.10.24']) {
    const create = parseAgentMessage(fixture(`runc-1.1.5-listener-${engine}-create.json`), 1) as RuntimeMessage;
    t.is(create.kind, 'runtime');
    t.is(create.role, 'create', engine);
    t.is(create.pid, create.state.pid!);
    t.is(create.seccompIndex, 0);
    t.is(configPathOf(create), '/etc/vhqos/site.yaml');
    t.is(instanceName(create), create.state.id);
    const exec = parseAgentMessage(fixture(`runc-1.1.5-listener-${engine}-exec.json`), 1) as RuntimeMessage;
    t.is(exec.role, 'exec', engine);
    t.not(exec.pid, exec.state.pid, 'runc: top-level pid is the exec\'d process, state.pid the init');
    t.is(instanceName(exec), `${exec.state.id}-exec-${exec.pid}`);
  }
});

test('crun\'s variant: pretty-printed, ociVersion 0.2.0, exec with state.pid = the exec\'d process, no metadata', (t) => {
  // As crun's get_seccomp_receiver_fd_payload() writes it (yajl, beautified).
  const crun = (status: string, pid: number) =>
    Buffer.from(
      JSON.stringify(
        {
          ociVersion: '0.2.0',
          fds: ['seccompFd'],
          pid,
          state: { ociVersion: '0.2.0', id: 'web', status, pid, bundle: '/run/b/web', annotations: { 'io.vhqos.config': '/etc/vhqos/web.yaml' } },
        },
        null,
        4,
      ),
    );
  const c = parseAgentMessage(crun('creating', 100), 1) as RuntimeMessage;
  t.is(c.role, 'create');
  t.is(c.metadata, undefined);
  t.is(configPathOf(c), '/etc/vhqos/web.yaml', 'the annotation when there is no metadata');
  const e = parseAgentMessage(crun('running', 200), 1) as RuntimeMessage;
  t.is(e.role, 'exec');
  t.is(e.pid, 200);
  t.is(instanceName(e), 'web-exec-200');
});

test('control requests, status and what is refused', (t) => {
  t.deepEqual(parseAgentMessage(Buffer.from('{"vhqos":"poststop","id":"c1"}'), 0), { kind: 'control', request: { vhqos: 'poststop', id: 'c1' } });
  t.deepEqual(parseAgentMessage(Buffer.from('{"cmd":"status"}\n'), 0), { kind: 'status' });
  const refused: [string, number, RegExp][] = [
    ['hello', 0, /not JSON/],
    ['[1,2]', 0, /not a JSON object/],
    ['{"vhqos":"poststop","id":"c1"}', 1, /control request sent with 1 fd/],
    ['{"vhqos":"reboot"}', 0, /unknown request "reboot"/],
    ['{"vhqos":"poststop"}', 0, /without a container "id"/],
    ['{"vhqos":"prestart","id":"x","pid":-3}', 0, /"pid" must be a positive integer/],
    ['{"fds":["seccompFd"],"pid":1,"state":{}}', 1, /no "ociVersion"/],
    ['{"ociVersion":"1","fds":["seccompFd"],"pid":7,"state":{"ociVersion":"1","id":"a","status":"creating","bundle":"/b"}}', 0, /names 1 fd\(s\) \(seccompFd\) but 0 arrived/],
    ['{"ociVersion":"1","fds":["other"],"pid":7,"state":{"ociVersion":"1","id":"a","status":"creating","bundle":"/b"}}', 1, /no "seccompFd"/],
    ['{"ociVersion":"1","fds":["seccompFd"],"pid":0,"state":{"ociVersion":"1","id":"a","status":"creating","bundle":"/b"}}', 1, /"pid" must be a positive integer/],
    ['{"ociVersion":"1","fds":["seccompFd"],"pid":7,"metadata":3,"state":{"ociVersion":"1","id":"a","status":"creating","bundle":"/b"}}', 1, /"metadata" must be a string/],
    ['{"ociVersion":"1","fds":["seccompFd"],"pid":7,"state":{"ociVersion":"1","id":"a","status":"paused","bundle":"/b"}}', 1, /invalid OCI container state.*\/status/],
    ['{"ociVersion":"1","fds":["seccompFd"],"pid":7}', 1, /no "state" object/],
  ];
  for (const [text, fds, re] of refused) {
    const e = t.throws(() => parseAgentMessage(Buffer.from(text), fds), { instanceOf: AgentProtocolError }, text);
    t.regex(e!.message, re, text);
    t.false(e!.message.includes('\n'), 'one line');
  }
  const m = parseAgentMessage(fixture('runc-1.1.5-listener-docker-20.10.24-create.json'), 1) as RuntimeMessage;
  t.throws(() => configPathOf({ ...m, metadata: 'relative.yaml' }), { message: /absolute path/ });
  t.throws(() => configPathOf({ metadata: undefined, state: { ...m.state, annotations: {} } }), { message: /names no vhqos config/ });
  t.is(instanceName({ ...m, state: { ...m.state, id: '../../etc' } }), '______etc', 'ids become safe names');
});

test('cgroupParentOf: the container\'s cgroup, consistent across hierarchies, exec inside the instance on v2', (t) => {
  const h = (mountPoint: string, controllers: string[]) => ({ mountPoint, mountRoot: '/', controllers });
  const v1: CgroupDetection = {
    version: 1,
    v1: [h('/sys/fs/cgroup/cpu,cpuacct', ['cpu', 'cpuacct']), h('/sys/fs/cgroup/memory', ['memory']), h('/sys/fs/cgroup/pids', ['pids']), h('/sys/fs/cgroup/devices', ['devices'])],
  };
  const id = 'abc123';
  const docker = `12:devices:/elsewhere\n5:memory:/docker/${id}\n4:pids:/docker/${id}\n2:cpu,cpuacct:/docker/${id}\n1:name=systemd:/x\n0::/\n`;
  t.is(cgroupParentOf(docker, v1, id), `docker/${id}`, 'the container cgroup named like the instance is kept (devices, named hierarchies ignored)');
  t.throws(() => cgroupParentOf(docker.replace(`5:memory:/docker/${id}`, '5:memory:/other'), v1), { message: /different cgroups/ });
  const v2: CgroupDetection = { version: 2, v1: [], v2: h('/sys/fs/cgroup', ['cpu', 'memory', 'io', 'pids']) };
  t.is(cgroupParentOf(`0::/machine/${id}\n`, v2, id), `machine/${id}`);
  t.is(cgroupParentOf(`0::/machine/${id}/${id}/_server\n`, v2, id), `machine/${id}`, 'runc put an exec into init\'s cgroup (v2)');
  t.throws(() => cgroupParentOf('1:name=systemd:/\n', v1), { message: /none of the cgroup hierarchies/ });
});

// ---------------------------------------------------------------------------
// a live agent, in this process

interface Captured {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

function captureLogger(lines: Captured[]): AgentLogger {
  const make = (bindings: Record<string, unknown>): AgentLogger => {
    const at = (level: string) => (obj: object, msg?: string) => lines.push({ level, obj: { ...bindings, ...obj }, msg: msg ?? '' });
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (b) => make({ ...bindings, ...b }) };
  };
  return make({});
}

const SENDER = `
import json, os, socket, subprocess, sys
path, text, mode = sys.argv[1], sys.argv[2], sys.argv[3]
uid = int(sys.argv[4]) if len(sys.argv) > 4 else None
child = None
fds = []
if mode == 'pipe':
    r, w = os.pipe(); fds = [r]
elif mode == 'inherited':
    fds = [3]
if '__CHILD__' in text:
    child = subprocess.Popen(['sleep', '30'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = text.replace('__CHILD__', str(child.pid))
if uid is not None:
    os.setuid(uid)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
resp = b''
try:
    if fds:
        socket.send_fds(s, [text.encode()], fds)
    else:
        s.sendall(text.encode())
    s.shutdown(socket.SHUT_WR)
    while True:
        b = s.recv(65536)
        if not b:
            break
        resp += b
except (ConnectionResetError, BrokenPipeError):
    pass  # the agent hung up on us
print(json.dumps({'reply': resp.decode(), 'child': child.pid if child else None}))
`;

/**
 * Sends `text` (and fds: 'none' | 'pipe' | 'inherited' = our fd `inherit` as
 * its fd 3) from a python process. Asynchronous: the agent answers from this
 * very event loop.
 */
function send(socket: string, text: string, mode: 'none' | 'pipe' | 'inherited' = 'none', opts: { uid?: number; inherit?: number } = {}): Promise<{ reply: string; child: number | null }> {
  const args = ['-c', SENDER, socket, text, mode];
  if (opts.uid !== undefined) args.push(String(opts.uid));
  const stdio: (number | 'pipe' | 'inherit' | 'ignore')[] = ['ignore', 'pipe', 'inherit'];
  if (opts.inherit !== undefined) stdio.push(opts.inherit);
  return new Promise((resolve, reject) => {
    const c = spawn('python3', args, { stdio });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), 20000);
    c.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`sender failed (${code}): ${out}`));
      resolve(JSON.parse(out) as { reply: string; child: number | null });
    });
  });
}

/** This process's open fds and what they are. */
function openFds(): Map<string, string> {
  const m = new Map<string, string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      m.set(fd, fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the directory's own fd
    }
  }
  return m;
}

/** fds open now that were not open in `before` (pipes and sockets only: what a peer can send). */
function newFds(before: Map<string, string>): string[] {
  return [...openFds()].filter(([fd, what]) => before.get(fd) !== what && /^(pipe|socket):/.test(what)).map(([fd, what]) => `${fd} -> ${what}`);
}

/** The agent's own status, asked the way `vhqos status` does (no python: quick). */
function agentStatusOf(socket: string): Promise<{ agent: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const c = net.connect(socket, () => c.write('{"cmd":"status"}\n'));
    c.on('data', (d) => (text += d));
    c.on('error', reject);
    c.on('close', () => {
      try {
        resolve(JSON.parse(text).status);
      } catch (e) {
        reject(e);
      }
    });
  });
}

function runtimeMessage(id: string, pid: string | number, config: string, status = 'creating'): string {
  return JSON.stringify({
    ociVersion: '1.0.2-dev',
    fds: ['seccompFd'],
    pid,
    metadata: config,
    state: { ociVersion: '1.0.2-dev', id, status, pid, bundle: '/nonexistent', annotations: { 'io.vhqos.config': config } },
  }).replace(/"__CHILD__"/g, '__CHILD__');
}

requires(root()).serial('live agent: probes, control requests, status; hostile and broken input refused with one line each, fds closed, no one killed, agent unharmed', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vq-agent-'));
  fs.chmodSync(dir, 0o755); // for the non-root peer below
  const sock = path.join(dir, 'a', 'agent.sock');
  const lines: Captured[] = [];
  const site = path.join(dir, 'site.yaml');
  fs.writeFileSync(site, 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, 'vhosts:\n  gold:\n    hosts: [gold.test]\n    colour: red\n');
  const agent = new Agent({ socket: sock, logger: captureLogger(lines), maxPeers: 8, peerTimeoutMs: 1500, maxMessageBytes: 4096, statusDir: false });
  await agent.start();
  const children: number[] = [];
  try {
    t.is(fs.statSync(path.dirname(sock)).mode & 0o777, 0o700, 'socket directory 0700');
    t.is(fs.statSync(sock).mode & 0o777, 0o600, 'socket 0600');
    await t.throwsAsync(new Agent({ socket: sock, logger: captureLogger([]), statusDir: false }).start(), { message: /another vhqos agent is already listening/ });

    // a probe: connect, hang up, no noise
    await new Promise<void>((resolve, reject) => {
      const c = net.connect(sock, () => c.end());
      c.on('close', () => resolve());
      c.on('error', reject);
    });
    const fdsBefore = openFds();

    // control requests
    t.deepEqual((await agentRequest(sock, { vhqos: 'list' })).instances, []);
    t.true((await agentRequest(sock, { vhqos: 'prestart', id: 'c1', config: site })).ok);
    const e = await t.throwsAsync(agentRequest(sock, { vhqos: 'prestart', id: 'c1', config: bad }), { instanceOf: AgentRefusedError });
    t.regex(e!.message, /invalid vhqos config .*bad\.yaml: .*colour/);
    await t.throwsAsync(agentRequest(sock, { vhqos: 'prestart', id: 'c1', config: 'rel.yaml' }), { message: /absolute path/ });
    t.deepEqual(await agentRequest(sock, { vhqos: 'poststop', id: 'nobody' }), { ok: true, cleaned: [], pending: [] });
    // the status CLI talks to every socket in /run/vhqos, this one included
    const st = await send(sock, '{"cmd":"status"}\n');
    const snap = JSON.parse(st.reply);
    t.true(snap.ok);
    t.is(snap.status.instance, 'agent');
    t.is(snap.status.agent.counters.probes, 2, 'probes (ours and the second agent\'s check) are counted, not logged as problems');
    t.is(snap.status.agent.pid, process.pid);
    t.deepEqual(snap.status.agent.instances, []);
    t.true(snap.status.agent.listener.running);

    // the prestart hook's default request goes through the same socket
    const hookErr: string[] = [];
    const code = await runHook(
      'prestart',
      { stdin: JSON.stringify({ ociVersion: '1.0.2', id: 'c2', status: 'created', pid: 1, bundle: '/b', annotations: { 'io.vhqos.config': bad } }), env: { VHQOS_AGENT_SOCKET: sock }, stdout: () => undefined, stderr: (s) => hookErr.push(s) },
      defaultAgentRequests,
    );
    t.is(code, 1);
    t.regex(hookErr.join(''), /^vhqos: container c2: invalid vhqos config .*bad\.yaml: vhosts\.gold\.colour: unknown key\n$/);

    const warnsBefore = lines.filter((l) => l.level === 'warn' || l.level === 'error').length;
    t.is(warnsBefore, 3, 'only the three refused prestart configs were worth a warning so far');

    // hostile / broken input
    const refused = (re: RegExp) => lines.filter((l) => (l.level === 'warn' || l.level === 'error') && re.test(l.msg));
    t.is((await send(sock, '{hello}')).reply, '', 'garbage: connection closed, nothing sent back');
    t.is(refused(/rejected connection: not JSON/).length, 1);
    await send(sock, 'hello');
    t.is(refused(/incomplete message \(5 bytes\): the peer hung up/).length, 1, 'no JSON value at all before EOF');
    await send(sock, `{"vhqos":"list","pad":"${'x'.repeat(5000)}"}`);
    t.is(refused(/larger than 4096 bytes/).length, 1);
    // a pipe named seccompFd, pid = the sender's own child (no seccomp filter): refused, child left alone
    const p = await send(sock, runtimeMessage('hostile', '__CHILD__', site), 'pipe');
    children.push(p.child!);
    t.is(refused(/not a seccomp listener \(pipe:/).length, 1);
    t.regex(refused(/not a seccomp listener/)[0].msg, /left alone|is not the runtime's child/);
    t.true(fs.existsSync(`/proc/${p.child}`), 'the innocent process was not killed');
    // an fd nobody named
    await send(sock, JSON.stringify({ ociVersion: '1', fds: [], pid: 1, state: { ociVersion: '1', id: 'x', status: 'creating', bundle: '/b' } }), 'pipe');
    t.is(refused(/names 0 fd\(s\) \(\) but 1 arrived/).length, 1);
    // a control request carrying an fd
    await send(sock, '{"vhqos":"list"}', 'pipe');
    t.is(refused(/control request sent with 1 fd/).length, 1);
    // a peer that is not root (the socket opened up for the occasion)
    fs.chmodSync(path.dirname(sock), 0o755);
    fs.chmodSync(sock, 0o666);
    await send(sock, '{"vhqos":"list"}', 'none', { uid: 65534 });
    fs.chmodSync(sock, 0o600);
    fs.chmodSync(path.dirname(sock), 0o700);
    t.is(refused(/peer uid 65534 is not root/).length, 1);
    // a slow peer and peers that connect and send nothing (more of them than
    // the agent ever had accept workers) delay nobody: each has its own deadline
    const slow = net.connect(sock);
    await new Promise((r) => slow.once('connect', r));
    slow.write('{"vhqos":');
    const silent = await Promise.all(
      Array.from({ length: 6 }, () => new Promise<net.Socket>((resolve) => {
        const c = net.connect(sock, () => resolve(c));
        c.on('error', () => undefined);
      })),
    );
    const closed = [slow, ...silent].map((c) => new Promise((r) => c.once('close', r)));
    slow.on('error', () => undefined);
    const probesBefore = (await agentStatusOf(sock)).agent.counters.probes as number;
    const t0 = Date.now();
    t.true((await agentRequest(sock, { vhqos: 'list' })).ok);
    t.true(Date.now() - t0 < 1000, `answered in ${Date.now() - t0} ms beside a slow peer and 6 silent ones`);
    const reading = (await agentStatusOf(sock)).agent.listener;
    t.is(reading.peers, 7, 'the slow and the silent peers are still being read');
    await Promise.all(closed);
    t.is(refused(/incomplete message \(9 bytes\)/).length, 1, 'the slow peer was cut off after its time');
    const after = (await agentStatusOf(sock)).agent;
    t.is(after.listener.peers, 0);
    t.true(after.listener.timeouts >= 7, `timeouts counted: ${after.listener.timeouts}`);
    t.is(after.counters.probes - probesBefore, 6, 'a peer that sent nothing at all is a probe, as before');

    await waitUntil(() => newFds(fdsBefore).length === 0, 3000);
    t.deepEqual(newFds(fdsBefore), [], 'every fd received was closed');
    t.true((await agentRequest(sock, { vhqos: 'list' })).ok, 'still serving');
  } finally {
    for (const c of children) {
      try {
        process.kill(c, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await agent.stop();
    t.false(fs.existsSync(sock), 'socket removed on stop');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

requires(root()).serial('live agent: a real seccomp listener handed over like a runtime does: supervised in the given cgroup, listed, cleaned up when the process exits', async (t) => {
  const native = loadNative();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vq-agent-'));
  const sock = path.join(dir, 'agent.sock');
  const site = path.join(dir, 'site.yaml');
  fs.writeFileSync(site, 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
  // The "container's cgroup": one path in every hierarchy vhqos uses; the
  // process is put there first, as a runtime does. On cgroup v2 (the VM tier)
  // that cgroup then holds a process, and the agent has to move it out
  // before vhost groups can get controllers (no internal processes).
  const parent = `vhqos-agent-test-${process.pid}`;
  const d = detectCgroups();
  const hs = d.version === 2 ? [d.v2!] : d.v1.filter((h) => h.controllers.some((c) => V1_USED.includes(c)));
  const parentDirs = hs.map((h) => path.join(h.mountPoint, parent));
  for (const p of parentDirs) fs.mkdirSync(p, { recursive: true });
  const lines: Captured[] = [];
  const statusDir = path.join(dir, 'run');
  const agent = new Agent({ socket: sock, logger: captureLogger(lines), maxPeers: 8, peerTimeoutMs: 1000, statusDir });
  await agent.start();
  const sp = native.spawn({ file: '/bin/sleep', argv: ['sleep', '1'], env: [], stdio: [null, null, null] });
  const id = `fake-${process.pid}`;
  try {
    for (const p of parentDirs) fs.writeFileSync(path.join(p, 'cgroup.procs'), String(sp.pid));
    await send(sock, runtimeMessage(id, sp.pid, site), 'inherited', { inherit: sp.listener });
    native.close(sp.listener); // the agent has its own copy now
    const listed = await waitUntil(async () => ((await agentRequest(sock, { vhqos: 'list' })).instances as { instance: string }[]).find((i) => i.instance === id), 5000);
    t.truthy(listed, JSON.stringify(lines.filter((l) => l.level !== 'debug')));
    const groups = parentDirs.map((p) => path.join(p, id));
    t.true(groups.every((g) => fs.existsSync(path.join(g, 'gold'))), 'vhost groups made under the process\'s cgroup');
    const own = fs.readFileSync(`/proc/${sp.pid}/cgroup`, 'utf8');
    t.true(own.includes(`/${parent}/${id}/_server`), `the process waits in _server: ${own}`);
    t.true(fs.existsSync(path.join(statusDir, `${id}.sock`)), 'status socket for vhqos status');
    const st = await reap(native, sp.pidfd);
    t.is(st.code, 0, 'the process ran to completion: its trapped syscalls continued');
    const gone = await waitUntil(() => lines.some((l) => /process tree gone/.test(l.msg)), 10000);
    t.true(gone);
    t.true(groups.every((g) => !fs.existsSync(g)), 'instance cgroups removed');
    t.false(fs.existsSync(path.join(statusDir, `${id}.sock`)));
    t.deepEqual((await agentRequest(sock, { vhqos: 'list' })).instances, []);
  } finally {
    try {
      native.close(sp.pidfd);
    } catch {
      // closed
    }
    await agent.stop();
    for (const p of parentDirs) {
      try {
        fs.rmdirSync(p);
      } catch {
        // not there, or the process is still in it (then the test failed anyway)
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

requires(root()).serial('live agent (supervision faked): an exec joins its container\'s cgroup; a restarted container whose old instance is still finishing gets a fresh name', async (t) => {
  const native = loadNative();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vq-agent-'));
  const sock = path.join(dir, 'agent.sock');
  const site = path.join(dir, 'site.yaml');
  fs.writeFileSync(site, 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
  // /proc/PID/cgroup as a runtime would leave it: one path in every hierarchy.
  const procCgroup = (p: string) =>
    fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean).map((l) => l.replace(/:[^:]*$/, `:${p}`)).join('\n');
  const made: { opts: AttachOptions; finish: () => void }[] = [];
  const kids: { pid: number; pidfd: number; listener: number }[] = [];
  const agent = new Agent({
    socket: sock,
    logger: captureLogger([]),
    maxPeers: 8,
    peerTimeoutMs: 1000,
    statusDir: false,
    replaceWaitMs: 300,
    poststopWaitMs: 500,
    readProcCgroup: (pid) => procCgroup(pid === kids[0]?.pid || pid === kids[2]?.pid ? '/ctr/c1' : '/somewhere/else'),
    supervise: (opts) => {
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      const finish = () => {
        try {
          native.close(opts.listener);
        } catch {
          // closed
        }
        done();
      };
      made.push({ opts, finish });
      return { instance: opts.instance!, wait: () => finished, finish };
    },
  });
  await agent.start();
  try {
    for (let i = 0; i < 3; i++) kids.push(native.spawn({ file: '/bin/true', argv: ['true'], env: [], stdio: [null, null, null] }));
    await send(sock, runtimeMessage('c1', kids[0].pid, site), 'inherited', { inherit: kids[0].listener });
    await waitUntil(() => made.length === 1, 5000);
    t.is(made[0].opts.instance, 'c1');
    t.is(made[0].opts.cgroupParent, 'ctr/c1');
    t.is(made[0].opts.moveBackTo, 'parent');
    t.is(made[0].opts.pid, kids[0].pid);

    await send(sock, runtimeMessage('c1', kids[1].pid, site, 'running'), 'inherited', { inherit: kids[1].listener });
    await waitUntil(() => made.length === 2, 5000);
    t.is(made[1].opts.instance, `c1-exec-${kids[1].pid}`);
    t.is(made[1].opts.cgroupParent, 'ctr/c1', 'the exec goes beside the container\'s instance, wherever /proc says it is');

    // the same id starts again while the first instance has not finished
    const t0 = Date.now();
    await send(sock, runtimeMessage('c1', kids[2].pid, site), 'inherited', { inherit: kids[2].listener });
    await waitUntil(() => made.length === 3, 5000);
    t.true(Date.now() - t0 >= 250, 'waited for the old instance first');
    t.is(made[2].opts.instance, `c1-r${kids[2].pid}`, 'then took a fresh name rather than share cgroups with it');
    t.is(((await agentRequest(sock, { vhqos: 'list' })).instances as unknown[]).length, 3);

    // poststop ends what is left of the container (these fakes never end by themselves)
    const reply = await agentRequest(sock, { vhqos: 'poststop', id: 'c1' }, 15000);
    t.deepEqual(reply.pending, []);
    t.deepEqual(new Set(reply.cleaned as string[]), new Set(['c1', `c1-exec-${kids[1].pid}`, `c1-r${kids[2].pid}`]));
    t.deepEqual((await agentRequest(sock, { vhqos: 'list' })).instances, []);
  } finally {
    for (const k of kids) {
      try {
        native.close(k.listener);
      } catch {
        // handed over and closed
      }
      try {
        native.pidfdSendSignal(k.pidfd, 9);
      } catch {
        // gone
      }
      await reap(native, k.pidfd).catch(() => undefined);
      native.close(k.pidfd);
    }
    await agent.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

requires(root()).serial('vhqos agent CLI: makes its directory 0700 and socket 0600, answers, and removes the socket on SIGTERM', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vq-agent-cli-'));
  const sock = path.join(dir, 'sub', 'agent.sock');
  const child = spawn(process.execPath, [path.join(repoRoot(), 'bin', 'vhqos.js'), 'agent', '--socket', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  try {
    t.true(await waitUntil(() => /vhqos agent listening/.test(stderr), AGENT_START_MS), stderr);
    t.is(fs.statSync(path.dirname(sock)).mode & 0o777, 0o700);
    t.is(fs.statSync(sock).mode & 0o777, 0o600);
    t.true((await agentRequest(sock, { vhqos: 'list' })).ok);
    // env names the default socket too; a second agent there is refused
    const again = spawnSync(process.execPath, [path.join(repoRoot(), 'bin', 'vhqos.js'), 'agent'], { env: { ...process.env, VHQOS_AGENT_SOCKET: sock }, encoding: 'utf8', timeout: 20000 });
    t.is(again.status, 1);
    t.regex(again.stderr, /another vhqos agent is already listening on .*agent\.sock/);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, sig) => r(sig)));
    const t0 = Date.now();
    child.kill('SIGTERM');
    t.is(await exited, 'SIGTERM', 'dies of the signal (a clean stop for systemd)');
    t.true(Date.now() - t0 < 2000, `stopped in ${Date.now() - t0} ms`);
    t.false(fs.existsSync(sock));
    t.true(stderr.split('\n').filter(Boolean).every((l) => typeof JSON.parse(l).msg === 'string'), 'logs are JSON lines');
  } finally {
    await stopChild(child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

requires(root()).serial('agent killed with -9: its containers go on (the keeper answers) and the next agent takes them back, cgroups and all', async (t) => {
  const native = loadNative();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vq-agent-readopt-'));
  const sock = path.join(dir, 'agent.sock');
  const site = path.join(dir, 'site.yaml');
  fs.writeFileSync(site, 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
  const parent = `vhqos-agent-readopt-${process.pid}`;
  const d = detectCgroups();
  const hs = d.version === 2 ? [d.v2!] : d.v1.filter((h) => h.controllers.some((c) => V1_USED.includes(c)));
  const parentDirs = hs.map((h) => path.join(h.mountPoint, parent));
  for (const p of parentDirs) fs.mkdirSync(p, { recursive: true });
  const agentCli = () => {
    const child = spawn(process.execPath, [path.join(repoRoot(), 'bin', 'vhqos.js'), 'agent', '--socket', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (x) => (stderr += x));
    return { child, log: () => stderr };
  };
  // A "container" that keeps making trapped syscalls (each read of the shell is one at the first read model).
  const sp = native.spawn({ file: '/bin/sh', argv: ['sh', '-c', 'while :; do read x < /dev/null; sleep 0.1; done'], env: [], stdio: [null, null, null], traps: 'read' });
  const id = `readopt-${process.pid}`;
  const first = agentCli();
  let second: ReturnType<typeof agentCli> | undefined;
  try {
    t.true(await waitUntil(() => /vhqos agent listening/.test(first.log()), AGENT_START_MS), first.log());
    for (const p of parentDirs) fs.writeFileSync(path.join(p, 'cgroup.procs'), String(sp.pid));
    await send(sock, runtimeMessage(id, sp.pid, site), 'inherited', { inherit: sp.listener });
    native.close(sp.listener);
    t.true(await waitUntil(async () => ((await agentRequest(sock, { vhqos: 'list' })).instances as { instance: string }[]).some((i) => i.instance === id), 5000));
    const groups = parentDirs.map((p) => path.join(p, id));
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    t.truthy(fs.readFileSync(`/proc/${sp.pid}/stat`, 'utf8'), 'the container goes on without its agent');
    t.true(groups.every((g) => fs.existsSync(path.join(g, 'gold'))), 'its cgroups stay');
    second = agentCli();
    t.true(await waitUntil(() => /supervising again a container an earlier agent supervised/.test(second!.log()), AGENT_START_MS), second.log());
    const listed = ((await agentRequest(sock, { vhqos: 'list' })).instances as { instance: string; pid: number }[]).find((i) => i.instance === id);
    t.is(listed?.pid, sp.pid, 'the new agent lists it again');
    // It supervises for real: when the container ends, the new agent cleans up its cgroups.
    process.kill(sp.pid, 'SIGKILL');
    await reap(native, sp.pidfd);
    t.true(await waitUntil(() => groups.every((g) => !fs.existsSync(g)), 10000), `instance cgroups removed by the new agent: ${second.log()}`);
  } finally {
    try {
      process.kill(sp.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    for (const c of [first, second]) if (c) await stopChild(c.child);
    for (const p of parentDirs) {
      try {
        fs.rmdirSync(p);
      } catch {
        /* */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
