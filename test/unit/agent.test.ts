// The agent's policy through its seams: peers come from an injected message
// source, supervision is a double, configs and /proc/PID/cgroup are given.
// What is checked: who is turned away and how (one line, fds closed, hung
// up), what each request gets back, the registry of supervised trees
// (exec beside its container, a restarted id, poststop), the cgroup v2
// vacate routed through CgroupManager, and the agent's own status.
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, type AgentOptions, type Listen, type Peer, type PeerHandlers } from '../../src/agent/agent';
import type { AttachOptions } from '../../src/supervisor/instance';
import type { CgroupDetection } from '../../src/cgroup/detect';
import { ConfigError } from '../../src/config/load';
import { SyscallError } from '../../src/errors';
import type { AgentStatusSnapshot } from '../../src/status/snapshot';
import type { VhqosConfig } from '../../src/types';
import type { AgentListenerStats } from '../../src/native';

const SECCOMP = 'anon_inode:seccomp notify';
const CONFIG = { vhosts: {} } as unknown as VhqosConfig;

interface Line {
  level: string;
  msg: string;
  obj: Record<string, unknown>;
}

/** A peer as the listener hands it over; records what the agent did with it. */
interface FakePeer extends Peer {
  replies: unknown[];
  hungUp: number;
}

function peer(data: string | object, o: { uid?: number; pid?: number; fds?: number[]; complete?: boolean } = {}): FakePeer {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  const p: FakePeer = {
    pid: o.pid ?? 4000000,
    uid: o.uid ?? 0,
    gid: 0,
    data: Buffer.from(text),
    complete: o.complete ?? text.length > 0,
    fds: o.fds ?? [],
    replies: [],
    hungUp: 0,
    reply: (body) => {
      p.replies.push(body);
    },
    hangUp: () => {
      p.hungUp++;
    },
  };
  return p;
}

/** Real fds (of /dev/null) to hand over: the agent must close every one it does not keep. */
const devNull = (n: number) => Array.from({ length: n }, () => fs.openSync('/dev/null', 'r'));
const isOpen = (fd: number, was: string) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`) === was;
  } catch {
    return false;
  }
};

interface Tree {
  opts: AttachOptions;
  end(): void;
  finished: boolean;
}

function harness(t: ExecutionContext, over: Partial<AgentOptions> = {}, detection?: CgroupDetection) {
  const lines: Line[] = [];
  const log = (level: string) => (obj: object, msg?: string) => lines.push({ level, msg: msg ?? '', obj: obj as Record<string, unknown> });
  const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  let handlers!: PeerHandlers;
  let stopped = 0;
  const stats: AgentListenerStats = { running: true, peers: 1, accepted: 7, timeouts: 2, oversized: 1, readErrors: 0, acceptErrors: 0 };
  // Like the real socket, the source keeps the process alive until stopped.
  const listen: Listen = async (_socket, _limits, h) => {
    handlers = h;
    const alive = setInterval(() => undefined, 1000);
    return { stop: () => void (stopped++, clearInterval(alive)), stats: () => stats };
  };
  const trees: Tree[] = [];
  const listeners = new Set<number>();
  const agent = new Agent({
    socket: '/nonexistent/agent.sock',
    logger,
    statusDir: false,
    readopt: false,
    replaceWaitMs: 100,
    poststopWaitMs: 100,
    listen,
    detectCgroups: () => detection ?? { version: 2, v1: [], v2: { mountPoint: '/nonexistent-cgroup2', mountRoot: '/', controllers: ['cpu', 'memory', 'pids'] } },
    readProcCgroup: () => '0::/ctr/c1\n',
    readFdLink: (fd) => (listeners.has(fd) ? SECCOMP : 'pipe:[1]'),
    loadConfig: (file) => {
      if (file.includes('bad')) throw new ConfigError(file, ['vhosts.gold.colour: unknown key']);
      return CONFIG;
    },
    supervise: (opts) => {
      let end!: () => void;
      const done = new Promise<void>((r) => (end = r));
      const tree: Tree = { opts, end: () => ((tree.finished = true), end()), finished: false };
      trees.push(tree);
      return { instance: opts.instance!, wait: () => done, finish: () => tree.end() };
    },
    ...over,
  });
  t.teardown(() => agent.stop());
  const send = async (p: FakePeer) => {
    handlers.peer(p);
    await new Promise((r) => setTimeout(r, 20));
    return p;
  };
  /** A seccomp listener as far as the agent can tell (readFdLink says so). */
  const listenerFd = () => {
    const [fd] = devNull(1);
    listeners.add(fd);
    return fd;
  };
  return { agent, lines, trees, send, listenerFd, stopped: () => stopped, handlers: () => handlers };
}

const runtime = (id: string, pid: number, opts: { status?: string; config?: string; fds?: string[] } = {}) => ({
  ociVersion: '1.0.2',
  fds: opts.fds ?? ['seccompFd'],
  pid,
  metadata: opts.config ?? '/etc/vhqos/site.yaml',
  state: { ociVersion: '1.0.2', id, status: opts.status ?? 'creating', pid, bundle: '/b' },
});

const warnings = (lines: Line[]) => lines.filter((l) => l.level === 'warn' || l.level === 'error');

test.serial('a peer that is not root is turned away: one line, its fds closed, hung up, nothing parsed', async (t) => {
  const h = harness(t);
  await h.agent.start();
  const fds = devNull(2);
  const p = await h.send(peer('{"vhqos":"list"}', { uid: 1000, fds }));
  t.is(p.hungUp, 1);
  t.deepEqual(p.replies, []);
  t.false(fds.some((fd) => isOpen(fd, '/dev/null')), 'both fds closed');
  t.is(warnings(h.lines).length, 1);
  t.regex(warnings(h.lines)[0].msg, /rejected connection: peer uid 1000 is not root/);
  t.is(h.agent.snapshot().agent.counters.rejected, 1);
});

test.serial('probes are counted, not logged as problems; cut-short, oversized and unreadable messages are refused with their reason', async (t) => {
  const h = harness(t, { maxMessageBytes: 64, peerTimeoutMs: 700 });
  await h.agent.start();
  const probe = await h.send(peer(''));
  t.is(probe.hungUp, 1);
  await h.send(peer('{"vhqos":', { complete: false }));
  await h.send(peer('x'.repeat(64), { complete: false }));
  await h.send(peer('{hello}'));
  const withFd = devNull(1);
  await h.send(peer('{"vhqos":"list"}', { fds: withFd }));
  const msgs = warnings(h.lines).map((l) => l.msg);
  t.deepEqual(msgs.length, 4, msgs.join('\n'));
  t.regex(msgs[0], /incomplete message \(9 bytes\): the peer hung up or sent nothing more for 700 ms/);
  t.regex(msgs[1], /message larger than 64 bytes/);
  t.regex(msgs[2], /not JSON/);
  t.regex(msgs[3], /control request sent with 1 fd/);
  t.false(isOpen(withFd[0], '/dev/null'));
  const c = h.agent.snapshot().agent.counters;
  t.deepEqual(c, { accepted: 5, probes: 1, rejected: 4, supervised: 0, readopted: 0, control: 0 });
});

test.serial('control requests: list, prestart checks the config, poststop of an unknown container', async (t) => {
  const h = harness(t);
  await h.agent.start();
  t.deepEqual((await h.send(peer({ vhqos: 'list' }))).replies, [{ ok: true, instances: [] }]);
  t.deepEqual((await h.send(peer({ vhqos: 'prestart', id: 'c1', config: '/etc/vhqos/site.yaml' }))).replies, [{ ok: true }]);
  t.deepEqual((await h.send(peer({ vhqos: 'prestart', id: 'c1', config: '/etc/vhqos/bad.yaml' }))).replies, [
    { ok: false, error: 'invalid vhqos config /etc/vhqos/bad.yaml: vhosts.gold.colour: unknown key' },
  ]);
  const rel = (await h.send(peer({ vhqos: 'prestart', id: 'c1', config: 'site.yaml' }))).replies[0] as { ok: boolean; error: string };
  t.false(rel.ok);
  t.regex(rel.error, /absolute path/);
  const post = await h.send(peer({ vhqos: 'poststop', id: 'nobody' }));
  t.deepEqual(post.replies, [{ ok: true, cleaned: [], pending: [] }]);
  t.is(h.agent.snapshot().agent.counters.control, 5);
});

test.serial('a container start is supervised in its own cgroup; an exec goes beside it; the registry lists both until they are gone', async (t) => {
  const h = harness(t);
  await h.agent.start();
  const l1 = h.listenerFd();
  const extra = devNull(1);
  const create = await h.send(peer(runtime('c1', 4100), { fds: [l1, extra[0]] }));
  // The runtime's message names only the listener: a second fd is refused before anything else.
  t.is(h.trees.length, 0);
  t.regex(warnings(h.lines)[0].msg, /names 1 fd\(s\) \(seccompFd\) but 2 arrived/);
  t.is(create.hungUp, 1);
  t.false(isOpen(l1, '/dev/null') || isOpen(extra[0], '/dev/null'));

  const l2 = h.listenerFd();
  await h.send(peer(runtime('c1', 4200), { fds: [l2] }));
  t.is(h.trees.length, 1);
  const o = h.trees[0].opts;
  t.is(o.instance, 'c1');
  t.is(o.listener, l2, 'the agent keeps the listener for the supervision');
  t.true(isOpen(l2, '/dev/null'));
  t.is(o.cgroupParent, 'ctr/c1');
  t.is(o.moveBackTo, 'parent');
  t.is(o.pid, 4200);
  t.deepEqual(o.claimMeta, { agentContainer: 'c1', role: 'create', cgroupParent: 'ctr/c1' });

  // An exec: /proc says it is inside the container's instance; it goes beside it.
  await h.send(peer(runtime('c1', 4300, { status: 'running' }), { fds: [h.listenerFd()] }));
  t.is(h.trees[1].opts.instance, 'c1-exec-4300');
  t.is(h.trees[1].opts.cgroupParent, 'ctr/c1');
  t.deepEqual(h.agent.instances().map((i) => [i.instance, i.role, i.pid]), [['c1', 'create', 4200], ['c1-exec-4300', 'exec', 4300]]);

  const st = h.agent.snapshot();
  t.is(st.instance, 'agent');
  t.deepEqual(st.agent.instances.map((i) => i.instance), ['c1', 'c1-exec-4300']);
  t.is(st.agent.counters.supervised, 2);

  h.trees[1].end();
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(h.agent.instances().map((i) => i.instance), ['c1']);
  t.true(h.lines.some((l) => l.level === 'info' && /process tree gone/.test(l.msg)));
  [l2, ...[...h.trees].map((x) => x.opts.listener)].forEach((fd) => isOpen(fd, '/dev/null') && fs.closeSync(fd));
});

test.serial('a restarted container whose old instance is still finishing gets a fresh name; poststop ends what is left', async (t) => {
  const h = harness(t);
  await h.agent.start();
  await h.send(peer(runtime('c1', 5100), { fds: [h.listenerFd()] }));
  const t0 = Date.now();
  h.handlers().peer(peer(runtime('c1', 5200), { fds: [h.listenerFd()] }));
  while (h.trees.length < 2 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
  t.true(Date.now() - t0 >= 90, 'waited replaceWaitMs for the old one');
  t.is(h.trees[1].opts.instance, 'c1-r5200');
  const post = await new Promise<FakePeer>((resolve) => {
    const p = peer({ vhqos: 'poststop', id: 'c1' });
    const orig = p.reply;
    p.reply = (b) => (orig(b), resolve(p));
    h.handlers().peer(p);
  });
  const reply = post.replies[0] as { ok: boolean; cleaned: string[]; pending: string[] };
  t.deepEqual(new Set(reply.cleaned), new Set(['c1', 'c1-r5200']));
  t.deepEqual(reply.pending, []);
  t.true(h.trees.every((x) => x.finished), 'supervision cut short');
  t.deepEqual(h.agent.instances(), []);
  t.is(warnings(h.lines).filter((l) => /poststop: process tree still registered/.test(l.msg)).length, 2);
  h.trees.forEach((x) => fs.closeSync(x.opts.listener));
});

test.serial('what cannot be supervised is failed with one line and its listener closed; an unrelated pid is left alone', async (t) => {
  const h = harness(t);
  await h.agent.start();
  const notListener = devNull(1)[0];
  await h.send(peer(runtime('c2', 4194000), { fds: [notListener] }));
  const badConfig = h.listenerFd();
  await h.send(peer(runtime('c3', 4194001, { config: '/etc/vhqos/bad.yaml' }), { fds: [badConfig] }));
  t.is(h.trees.length, 0);
  const errs = warnings(h.lines).map((l) => l.msg);
  t.is(errs.length, 2, errs.join('\n'));
  t.regex(errs[0], /container c2 not supervised: the fd named seccompFd is not a seccomp listener \(pipe:\[1\]\); pid 4194000 left alone/);
  t.regex(errs[1], /container c3 not supervised: invalid vhqos config \/etc\/vhqos\/bad\.yaml: vhosts\.gold\.colour: unknown key/);
  t.false(isOpen(notListener, '/dev/null'));
  t.false(isOpen(badConfig, '/dev/null'));
  t.is(h.agent.snapshot().agent.counters.rejected, 2);
});

test.serial('cgroup v2: the processes in the container\'s cgroup move into the instance\'s _server through the cgroup manager first', async (t) => {
  // A plain-file stand-in for a cgroup2 mount: cgroup.procs files are what the manager writes.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vq-agent-cg-'));
  fs.mkdirSync(path.join(root, 'ctr', 'c1', 'c1', '_server'), { recursive: true });
  fs.writeFileSync(path.join(root, 'ctr', 'c1', 'cgroup.procs'), '4200\n4201\n');
  fs.writeFileSync(path.join(root, 'ctr', 'c1', 'c1', '_server', 'cgroup.procs'), '');
  const h = harness(t, {}, { version: 2, v1: [], v2: { mountPoint: root, mountRoot: '/', controllers: ['cpu', 'memory', 'pids'] } });
  await h.agent.start();
  await h.send(peer(runtime('c1', 4200), { fds: [h.listenerFd()] }));
  t.is(h.trees.length, 1, JSON.stringify(warnings(h.lines)));
  // A plain file keeps only the last write; a cgroup.procs file takes each pid in turn.
  t.is(fs.readFileSync(path.join(root, 'ctr', 'c1', 'c1', '_server', 'cgroup.procs'), 'utf8'), '4201');
  t.true(h.lines.some((l) => /moved the container's processes into _server/.test(l.msg) && JSON.stringify(l.obj.pids) === '[4200,4201]'));
  fs.closeSync(h.trees[0].opts.listener);
  fs.rmSync(root, { recursive: true, force: true });
});

test.serial('the agent\'s status: its process, counters, listener and supervised trees; no vhost rows; stop() stops the source once', async (t) => {
  const h = harness(t);
  await h.agent.start();
  await h.send(peer(runtime('c9', 4400), { fds: [h.listenerFd()] }));
  const p = await h.send(peer('{"cmd":"status"}\n'));
  const reply = p.replies[0] as { ok: boolean; status: AgentStatusSnapshot };
  t.true(reply.ok);
  const s = reply.status;
  t.is(s.instance, 'agent');
  t.false('vhosts' in s);
  t.is(s.agent.pid, process.pid);
  t.is(s.agent.socket, '/nonexistent/agent.sock');
  t.is(s.agent.cgroupVersion, 2);
  t.true(s.agent.accepting);
  t.true(s.agent.process.rssBytes > 0);
  t.deepEqual(s.agent.listener, { running: true, peers: 1, accepted: 7, timeouts: 2, oversized: 1, readErrors: 0, acceptErrors: 0 });
  t.deepEqual(s.agent.counters, { accepted: 2, probes: 0, rejected: 0, supervised: 1, readopted: 0, control: 1 });
  t.deepEqual(s.agent.instances.map((i) => [i.id, i.instance, i.role, i.pid, i.cgroupParent]), [['c9', 'c9', 'create', 4400, 'ctr/c1']]);
  await h.agent.stop();
  await h.agent.stop();
  t.is(h.stopped(), 1);
  t.false(h.agent.snapshot().agent.accepting);
  fs.closeSync(h.trees[0].opts.listener);
});

test.serial('listener errors are logged, not thrown: a failed accept as an error, a failed read as a warning with the peer', async (t) => {
  const h = harness(t);
  await h.agent.start();
  const err = (syscall: string) => new SyscallError(`${syscall}: Too many open files`, { code: 'EMFILE', errno: -24, syscall });
  h.handlers().error(err('accept'));
  h.handlers().error(err('recvmsg'), 77);
  t.deepEqual(warnings(h.lines).map((l) => [l.level, l.msg]), [
    ['error', 'accepting a connection failed (accepts pause briefly)'],
    ['warn', 'reading a connection failed: closed it'],
  ]);
  t.is(warnings(h.lines)[1].obj.peerPid, 77);
});

test.serial('vhqos status renders the agent\'s snapshot as the agent, with its table of supervised trees', async (t) => {
  const { renderAgentStatus } = await import('../../src/cli/status-command');
  const h = harness(t);
  await h.agent.start();
  t.regex(renderAgentStatus(h.agent.snapshot()), /no supervised containers/);
  await h.send(peer(runtime('0123456789abcdef', 4500), { fds: [h.listenerFd()] }));
  const text = renderAgentStatus(h.agent.snapshot());
  t.regex(text, new RegExp(`^agent pid ${process.pid}  socket /nonexistent/agent\\.sock  up \\d+\\.\\d\\d s  cgroup v2  accepting$`, 'm'));
  t.regex(text, /^connections 1 {2}probes 0 {2}rejected 0 {2}requests 0 {2}supervised 1 \(taken back 0\)$/m);
  t.regex(text, /^listener: peers reading 1 {2}timeouts 2 {2}oversized 1 {2}read errors 0 {2}accept errors 0$/m);
  t.regex(text, /0123456789abcdef\s+0123456789ab\s+create\s+4500\s+ctr\/c1/);
  fs.closeSync(h.trees[0].opts.listener);
});
