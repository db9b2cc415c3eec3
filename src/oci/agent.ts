// `vhqos agent`: the seccomp listener for containers (runc's / crun's
// linux.seccomp.listenerPath, set by the podman precreate hook or by
// vhqos-runtime). Each connection from a runtime brings one container
// process state and its seccomp listener fd; the agent supervises that
// process tree with the container's vhqos config, exactly as `vhqos run`
// does, with the vhost cgroups created *inside the container's own cgroup*:
//
//   <container cgroup>/<container id>/{<vhost>…, _default, _server}
//
// * One SupervisedRun per connection. A container start ("creating")
//   supervises the container's init (runc-init until it execs the
//   container's program, whose trapped syscalls simply continue). An exec
//   (`docker exec`, `podman exec`: the runtime sends a new listener for the
//   exec'd process) gets an instance of its own, `<id>-exec-<pid>`, beside
//   the container's, with the same config: it comes and goes with the exec'd
//   process tree and never touches the container's groups.
// * Cleanup when the supervised tree is gone (POLLHUP on the listener: the
//   loop reports 'hup'), and on the poststop hook's request.
// * Many peers at once: a few accepts run in parallel and every peer has
//   its own time budget; malformed or hostile input (non-root peer, bad
//   JSON, wrong fds, unknown config…) gets one log line, the fds it brought
//   are closed and so is the connection. A container (or exec) that cannot
//   be supervised is failed: its process, still blocked in runc-init, is
//   killed and the runtime reports the failure (closing the listener alone
//   would leave it hanging: runc-init holds a copy). No single container can
//   take the agent down.
// * If the agent stops, supervised containers keep running unsupervised
//   (each instance's keeper answers CONTINUE); new ones fail to start until
//   it is back.

import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { loadNative, type NativeBinding, type ReceivedMessage } from '../native';
import { keeperSocketPath, SupervisedRun, type RunOptions } from '../run';
import { claimedInstances, instanceMeta, instanceOwner } from '../status/instance-registry';
import { loadConfig as loadConfigFile, ConfigError } from '../config/load';
import type { VhqosConfig } from '../types';
import type { Logger } from '../supervisor/supervisor';
import { SERVER_GROUP } from '../supervisor/supervisor';
import { detectCgroups, type CgroupDetection } from '../cgroup/detect';
import { STATUS_DIR, MAX_SOCKET_PATH } from '../status/server';
import type { StatusSnapshot } from '../status/snapshot';
import { probeAgent, AgentNotRunningError } from './agent-probe';
import {
  AgentProtocolError,
  cgroupParentOf,
  clip,
  configPathOf,
  instanceBase,
  instanceName,
  parseAgentMessage,
  type ControlRequest,
  type RuntimeMessage,
} from './agent-protocol';

export interface AgentLogger extends Logger {
  child?(bindings: Record<string, unknown>): AgentLogger;
}

/** What supervising one process tree looks like to the agent (SupervisedRun, or a test double). */
export interface SupervisedTree {
  readonly instance: string;
  /** Resolves once the tree is gone and its cgroups and status socket are cleaned up. */
  wait(): Promise<unknown>;
  /** Stop waiting for stragglers (poststop: the runtime says the container is gone). */
  finish(): void;
  /** The agent exits while the tree runs on: answer what is pending (parked accepts) now. */
  handBack?(): void;
  snapshot?(): StatusSnapshot;
}

export interface AgentOptions {
  /** Where to listen (runc's listenerPath). */
  socket: string;
  /** At start, take back the containers an earlier agent supervised that still run. Default true. */
  readopt?: boolean;
  logger: AgentLogger;
  /** Accepts in parallel (each may wait up to peerTimeoutMs for a slow peer). Default 3. */
  concurrency?: number;
  /** How long one peer may take to send its message. Default 5000. */
  peerTimeoutMs?: number;
  /** Largest message accepted. Default 1 MiB. */
  maxMessageBytes?: number;
  /** Directory for the per-container status sockets (what `vhqos status` reads); false: none. */
  statusDir?: string | false;
  /** A restarted container reuses its id: how long to wait for the old instance's cleanup. Default 3000. */
  replaceWaitMs?: number;
  /** poststop: how long to wait for a container's instances to finish before cutting them short. Default 4000. */
  poststopWaitMs?: number;
  native?: NativeBinding;
  // Seams for tests.
  supervise?: (opts: RunOptions) => SupervisedTree;
  loadConfig?: (file: string) => VhqosConfig;
  detectCgroups?: () => CgroupDetection;
  readProcCgroup?: (pid: number) => string;
}

/** One supervised process tree, as `list` and the status reply show it. */
export interface AgentInstance {
  id: string;
  instance: string;
  role: 'create' | 'exec';
  pid: number;
  config: string;
  cgroupParent: string;
  statusSocket: string | null;
  since: string;
}

interface Entry extends AgentInstance {
  tree: SupervisedTree;
  done: Promise<void>;
  finished: boolean;
}

/** After the root exits, keep supervising until the tree is gone (hup) or poststop: no time limit. */
const NO_DRAIN_LIMIT = 2 ** 31 - 1;
const SECCOMP_LISTENER_LINK = 'anon_inode:seccomp notify';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

function oneLine(e: unknown): string {
  if (e instanceof ConfigError) return `invalid vhqos config ${e.source}: ${e.problems.join('; ')}`;
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/\s*\n\s*/g, '; ');
}

function defaultSupervise(opts: RunOptions): SupervisedTree {
  const run = new SupervisedRun(opts);
  return {
    instance: run.instance,
    wait: () => run.wait(),
    // The supervisor's "done" ends the drain that follows the root's exit.
    finish: () => run.supervisor.handle({ kind: 'stopped', needsVerdict: false }),
    handBack: () => run.handBack(),
    snapshot: () => run.snapshot(),
  };
}

export class Agent {
  readonly socket: string;
  private readonly log: AgentLogger;
  private readonly native: NativeBinding;
  private readonly concurrency: number;
  private readonly peerTimeoutMs: number;
  private readonly maxBytes: number;
  private readonly statusDir: string | false;
  private readonly entries = new Map<string, Entry>();
  private listenFd = -1;
  private socketIno = 0;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private detection?: CgroupDetection;
  private readonly counters = { accepted: 0, probes: 0, rejected: 0, supervised: 0, control: 0 };

  constructor(private readonly opts: AgentOptions) {
    this.socket = path.resolve(opts.socket);
    this.log = opts.logger;
    this.native = opts.native ?? loadNative();
    this.concurrency = Math.max(1, opts.concurrency ?? 3);
    this.peerTimeoutMs = opts.peerTimeoutMs ?? 5000;
    this.maxBytes = opts.maxMessageBytes ?? 1 << 20;
    this.statusDir = opts.statusDir ?? STATUS_DIR;
  }

  /** Binds the socket (directory 0700 if it has to be made, socket 0600) and starts accepting. */
  async start(): Promise<void> {
    const dir = path.dirname(this.socket);
    if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (fs.existsSync(this.socket)) {
      let alive = false;
      try {
        await probeAgent(this.socket, 1000);
        alive = true;
      } catch (e) {
        if (!(e instanceof AgentNotRunningError)) throw e;
      }
      if (alive) throw new Error(`another vhqos agent is already listening on ${this.socket}`);
    }
    this.detection = (this.opts.detectCgroups ?? detectCgroups)();
    this.listenFd = this.native.unixListen(this.socket, 0o600, 128);
    this.socketIno = fs.statSync(this.socket).ino;
    for (let i = 0; i < this.concurrency; i++) this.loops.push(this.acceptLoop());
    this.log.info({ socket: this.socket, cgroup: `v${this.detection.version}`, concurrency: this.concurrency }, 'vhqos agent listening');
    if (this.opts.readopt !== false) this.readopt();
  }

  /** Lists a supervised tree until it is gone (its cgroups and status removed). */
  private track(info: Omit<Entry, 'since' | 'tree' | 'finished' | 'done'>, tree: SupervisedTree, log: AgentLogger): void {
    const entry: Entry = { ...info, since: new Date().toISOString(), tree, finished: false, done: Promise.resolve() };
    entry.done = tree
      .wait()
      .then(
        () => log.info({ instance: info.instance }, 'container process tree gone: cgroups and status removed'),
        (err) => log.error({ err, instance: info.instance }, 'cleanup failed'),
      )
      .finally(() => {
        entry.finished = true;
        if (this.entries.get(info.instance) === entry) this.entries.delete(info.instance);
      });
    this.entries.set(info.instance, entry);
  }

  /**
   * Containers an earlier agent supervised and that still run (their keeper
   * answers for them meanwhile): taken back, each under its old instance name.
   */
  private readopt(): void {
    for (const instance of claimedInstances()) {
      const meta = instanceMeta(instance);
      if (!meta.agentContainer || !meta.config || instanceOwner(instance) !== null) continue;
      const log: AgentLogger = this.opts.logger.child?.({ container: meta.agentContainer.slice(0, 12), role: meta.role }) ?? this.opts.logger;
      let back: { conn: number; listener: number; pendingFd: number; rootPid: number };
      try {
        back = this.native.attachKeeper(keeperSocketPath(instance));
      } catch {
        continue; // no keeper: the container is gone (its stale claim goes with the next one of that name)
      }
      try {
        const config = (this.opts.loadConfig ?? loadConfigFile)(meta.config);
        const statusSocket = this.statusSocketFor(instance, log);
        const tree = (this.opts.supervise ?? defaultSupervise)({
          config,
          configFile: meta.config,
          command: [`container ${clip(meta.agentContainer, 12)}`],
          attach: { listener: back.listener, pid: back.rootPid, keeper: { conn: back.conn, pendingFd: back.pendingFd } },
          instance,
          cgroupParent: meta.cgroupParent,
          moveBackTo: 'parent',
          placeRoot: false,
          statusSocket,
          logger: log,
          drainMs: NO_DRAIN_LIMIT,
          native: this.native,
          claimMeta: { agentContainer: meta.agentContainer, role: meta.role ?? 'create', cgroupParent: meta.cgroupParent ?? '' },
        });
        this.track(
          {
            id: meta.agentContainer,
            instance,
            role: (meta.role as Entry['role']) ?? 'create',
            pid: back.rootPid,
            config: meta.config,
            cgroupParent: meta.cgroupParent ?? '',
            statusSocket: statusSocket || null,
          },
          tree,
          log,
        );
        this.counters.supervised++;
        log.info({ instance, pid: back.rootPid }, 'supervising again a container an earlier agent supervised');
      } catch (e) {
        this.closeFd(back.conn); // its keeper answers for it again
        log.error({ instance }, `could not take container ${clip(meta.agentContainer, 64)} back: ${oneLine(e)}`);
      }
    }
  }

  /**
   * Stops accepting and removes the socket. Supervised containers are left
   * alone: their supervision continues while this process lives, and their
   * keepers answer for them once it exits. `wait`: let the accepts in
   * flight return and close the listening fd (in-process use, tests).
   */
  async stop(opts: { wait?: boolean } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unlinkOwnSocket();
    if (opts.wait === false) return;
    await Promise.all(this.loops);
    if (this.listenFd >= 0) this.closeFd(this.listenFd);
    this.listenFd = -1;
  }

  /** Before this process exits with containers still running: every supervised tree answers what it holds. */
  handBackAll(): void {
    for (const e of this.entries.values()) {
      try {
        e.tree.handBack?.();
      } catch (err) {
        this.log.warn({ err, instance: e.instance }, 'could not hand back pending notifications');
      }
    }
  }

  /** Status socket files of the running instances (removed when the agent process exits abruptly). */
  statusSockets(): string[] {
    return [...this.entries.values()].map((e) => e.statusSocket).filter((s): s is string => !!s);
  }

  /** The status of every supervised container (for the agent's metrics: one vhqos_instance label each). */
  snapshots(): StatusSnapshot[] {
    const out: StatusSnapshot[] = [];
    for (const e of this.entries.values()) {
      try {
        const s = e.tree.snapshot?.();
        if (s) out.push(s);
      } catch {
        /* finishing */
      }
    }
    return out;
  }

  instances(): AgentInstance[] {
    return [...this.entries.values()].map(({ tree: _t, done: _d, finished: _f, ...rest }) => rest);
  }

  private unlinkOwnSocket(): void {
    try {
      if (fs.statSync(this.socket).ino === this.socketIno) fs.unlinkSync(this.socket);
    } catch {
      // gone already
    }
  }

  private closeFd(fd: number): void {
    try {
      this.native.close(fd);
    } catch {
      // already closed
    }
  }

  private async acceptLoop(): Promise<void> {
    while (!this.stopping) {
      let m: ReceivedMessage | null;
      try {
        m = await this.native.acceptMessage(this.listenFd, this.peerTimeoutMs, this.maxBytes);
      } catch (err) {
        if (this.stopping) break;
        this.log.error({ err }, 'accepting a connection failed');
        await sleep(200); // e.g. EMFILE: do not spin
        continue;
      }
      if (!m) continue;
      this.counters.accepted++;
      // Never let one peer's trouble reach the loop (or the process). (Each
      // path of handle() closes what it received itself: no second close here,
      // the fd numbers may belong to someone else by now.)
      this.handle(m).catch((err) => this.log.error({ err, peerPid: m!.pid }, 'internal error handling a connection'));
    }
  }

  private async handle(m: ReceivedMessage): Promise<void> {
    const peer = { peerPid: m.pid, peerUid: m.uid };
    const refuse = (why: string, extra: Record<string, unknown> = {}) => {
      this.counters.rejected++;
      this.log.warn({ ...peer, ...extra, fds: m.fds.length }, `rejected connection: ${why}`);
      m.fds.forEach((fd) => this.closeFd(fd));
      this.closeFd(m.connFd);
    };
    if (m.uid !== 0) return refuse(`peer uid ${m.uid} is not root`);
    if (m.data.length === 0 && m.fds.length === 0) {
      this.counters.probes++;
      this.log.debug(peer, 'probe connection');
      return this.closeFd(m.connFd);
    }
    if (!m.complete) {
      const why = m.data.length >= this.maxBytes ? `message larger than ${this.maxBytes} bytes` : `incomplete message (${m.data.length} bytes): the peer hung up or sent nothing more for ${this.peerTimeoutMs} ms`;
      return refuse(why, { data: clip(m.data.toString('utf8')) });
    }
    let msg;
    try {
      msg = parseAgentMessage(m.data, m.fds.length);
    } catch (e) {
      return refuse(e instanceof AgentProtocolError ? e.message : `unreadable message: ${oneLine(e)}`, { data: clip(m.data.toString('utf8')) });
    }
    switch (msg.kind) {
      case 'runtime':
        // runc and crun send and hang up; nothing goes back.
        this.closeFd(m.connFd);
        return this.onRuntime(msg, m.fds, peer);
      case 'status':
        this.counters.control++;
        return this.reply(m.connFd, { ok: true, status: this.snapshot() });
      case 'control': {
        this.counters.control++;
        this.log.debug({ ...peer, request: msg.request }, 'control request');
        let answer: Record<string, unknown>;
        try {
          answer = await this.onControl(msg.request);
        } catch (err) {
          this.log.error({ err, request: msg.request }, 'control request failed');
          answer = { ok: false, error: `internal error: ${oneLine(err)}` };
        }
        return this.reply(m.connFd, answer);
      }
    }
  }

  private reply(fd: number, body: unknown): void {
    let sock: net.Socket;
    try {
      sock = new net.Socket({ fd, readable: false, writable: true });
    } catch (err) {
      this.log.warn({ err }, 'could not answer a request');
      return this.closeFd(fd);
    }
    sock.on('error', () => sock.destroy());
    sock.setTimeout(this.peerTimeoutMs, () => sock.destroy());
    sock.end(`${JSON.stringify(body)}\n`);
  }

  private async onRuntime(msg: RuntimeMessage, fds: number[], peer: Record<string, unknown>): Promise<void> {
    const listener = fds[msg.seccompIndex];
    fds.forEach((fd, i) => i !== msg.seccompIndex && this.closeFd(fd));
    const id = msg.state.id;
    const base = this.opts.logger;
    const log: AgentLogger = base.child?.({ container: id.slice(0, 12), role: msg.role, containerPid: msg.pid }) ?? base;
    let instance = instanceName(msg);
    try {
      let link = '';
      try {
        link = fs.readlinkSync(`/proc/self/fd/${listener}`);
      } catch {
        // reported below
      }
      if (link !== SECCOMP_LISTENER_LINK) throw new AgentProtocolError(`the fd named seccompFd is not a seccomp listener (${link || 'unreadable'})`);
      const configFile = configPathOf(msg);
      const config = (this.opts.loadConfig ?? loadConfigFile)(configFile);
      instance = await this.freeInstanceName(instance, msg.pid);
      const d = this.detection!;
      const main = msg.role === 'exec' ? this.mainEntry(id) : undefined;
      const procCgroup = (this.opts.readProcCgroup ?? ((p: number) => fs.readFileSync(`/proc/${p}/cgroup`, 'utf8')))(msg.pid);
      const cgroupParent = main?.cgroupParent ?? cgroupParentOf(procCgroup, d, instanceBase(id));
      this.vacateParent(d, cgroupParent, instance, log);
      const statusSocket = this.statusSocketFor(instance, log);
      const label = msg.role === 'create' ? `container ${clip(id, 12)}` : `exec ${msg.pid} in container ${clip(id, 12)}`;
      const tree = (this.opts.supervise ?? defaultSupervise)({
        config,
        configFile,
        command: [label],
        attach: { listener, pid: msg.pid },
        instance,
        cgroupParent,
        moveBackTo: 'parent',
        statusSocket,
        logger: log,
        drainMs: NO_DRAIN_LIMIT,
        native: this.native,
        // What the next agent needs to take this container back if this one dies.
        claimMeta: { agentContainer: id, role: msg.role, cgroupParent },
      });
      this.counters.supervised++;
      this.track({ id, instance, role: msg.role, pid: msg.pid, config: configFile, cgroupParent, statusSocket: statusSocket || null }, tree, log);
      log.info({ instance, cgroupParent, config: configFile, runtimeVersion: msg.ociVersion }, msg.role === 'create' ? 'supervising container' : 'supervising exec in container');
    } catch (e) {
      this.counters.rejected++;
      this.closeFd(listener);
      const what = msg.role === 'create' ? 'container' : 'exec';
      const killed = this.failProcess(msg.pid, peer.peerPid as number);
      log.error(
        { ...peer, instance, bundle: msg.state.bundle },
        `container ${clip(id, 64)} not supervised: ${oneLine(e)}; ` +
          (killed
            ? `killed its ${msg.role === 'create' ? 'init' : 'exec\'d process'} (pid ${msg.pid}, still in the runtime's init code) so the runtime fails the ${what}`
            : `pid ${msg.pid} left alone (not a process under a seccomp filter that the sender started or runs in)`),
      );
    }
  }

  /**
   * Makes the runtime fail a container (or exec) the agent will not
   * supervise. Closing the listener is not enough: runc-init holds a copy of
   * it, so its trapped syscalls would wait forever. The process has run no
   * container code yet (it is blocked in runc-init), so it is killed, which
   * runc reports ("unable to start container process: ..."). Only a process
   * tied to the connection is touched: the sender's child (runc, youki) or
   * parent (crun sends from a helper it forks), that is under a seccomp filter.
   */
  private failProcess(pid: number, peerPid: number): boolean {
    const ppidOf = (p: number): number | undefined => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      } catch {
        return undefined;
      }
    };
    if (!(pid > 0) || !(peerPid > 0)) return false;
    if (ppidOf(pid) !== peerPid && ppidOf(peerPid) !== pid) return false;
    try {
      if (!/^Seccomp:\s*2$/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))) return false;
      const pidfd = this.native.pidfdOpen(pid);
      try {
        this.native.pidfdSendSignal(pidfd, 9);
      } finally {
        this.closeFd(pidfd);
      }
      return true;
    } catch {
      return false;
    }
  }

  /** Where `vhqos status` finds an instance: <statusDir>/<instance>.sock, if that fits a unix socket address. */
  private statusSocketFor(instance: string, log: AgentLogger): string | false {
    if (this.statusDir === false) return false;
    const p = path.join(this.statusDir, `${instance}.sock`);
    if (Buffer.byteLength(p) > MAX_SOCKET_PATH) {
      log.warn({ instance, socket: p }, `status socket path longer than ${MAX_SOCKET_PATH} bytes: \`vhqos status\` will not show this instance`);
      return false;
    }
    return p;
  }

  private mainEntry(id: string): Entry | undefined {
    return [...this.entries.values()].find((e) => e.id === id && e.role === 'create' && !e.finished);
  }

  /** A restarted container reuses its id: let the old instance clean up first, or take another name. */
  private async freeInstanceName(instance: string, pid: number): Promise<string> {
    const old = this.entries.get(instance);
    if (!old || old.finished) return instance;
    await Promise.race([old.done, sleep(this.opts.replaceWaitMs ?? 3000)]);
    if (!this.entries.has(instance)) return instance;
    return `${instance}-r${pid}`;
  }

  /**
   * cgroup v2: a cgroup that holds processes cannot hand controllers to
   * children ("no internal processes"), and the runtime put the container's
   * process(es) right in the container's cgroup. Move them into the new
   * instance's _server group first; the run then adopts the directories.
   */
  private vacateParent(d: CgroupDetection, cgroupParent: string, instance: string, log: AgentLogger): void {
    if (d.version !== 2 || !d.v2 || !cgroupParent) return;
    const parentDir = path.join(d.v2.mountPoint, cgroupParent);
    let pids: number[];
    try {
      pids = fs.readFileSync(path.join(parentDir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return;
    }
    if (pids.length === 0) return;
    const server = path.join(parentDir, instance, SERVER_GROUP);
    fs.mkdirSync(server, { recursive: true });
    for (const pid of pids) {
      try {
        fs.writeFileSync(path.join(server, 'cgroup.procs'), String(pid));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
      }
    }
    log.debug({ pids, to: server }, 'cgroup v2: moved the container\'s processes into _server');
  }

  private async onControl(req: ControlRequest): Promise<Record<string, unknown>> {
    switch (req.vhqos) {
      case 'list':
        return { ok: true, instances: this.instances() };
      case 'prestart': {
        // The hook asks before runc installs the filter: a broken config fails
        // the container here, with a message podman shows.
        if (!req.config) return { ok: true };
        try {
          if (!path.isAbsolute(req.config)) throw new Error(`vhqos config must be an absolute path, got ${JSON.stringify(req.config)}`);
          (this.opts.loadConfig ?? loadConfigFile)(req.config);
          return { ok: true };
        } catch (e) {
          this.log.warn({ container: req.id.slice(0, 12) }, `prestart: ${oneLine(e)}`);
          return { ok: false, error: oneLine(e) };
        }
      }
      case 'poststop': {
        const mine = [...this.entries.values()].filter((e) => e.id === req.id);
        const wait = this.opts.poststopWaitMs ?? 4000;
        await Promise.race([Promise.all(mine.map((e) => e.done)), sleep(wait)]);
        const late = mine.filter((e) => !e.finished);
        for (const e of late) {
          this.log.warn({ container: req.id.slice(0, 12), instance: e.instance }, 'poststop: process tree still registered; ending its supervision');
          try {
            e.tree.finish();
          } catch (err) {
            this.log.error({ err, instance: e.instance }, 'poststop: could not end supervision');
          }
        }
        if (late.length) await Promise.race([Promise.all(late.map((e) => e.done)), sleep(2000)]);
        const cleaned = mine.filter((e) => e.finished).map((e) => e.instance);
        const pending = mine.filter((e) => !e.finished).map((e) => e.instance);
        this.log.info({ container: req.id.slice(0, 12), cleaned, pending }, 'poststop: container gone');
        return { ok: true, cleaned, pending };
      }
    }
  }

  /** What `vhqos status` shows for the agent's own socket (the containers have sockets of their own). */
  snapshot(): StatusSnapshot {
    const list = this.instances();
    return {
      instance: 'agent',
      supervisorPid: process.pid,
      server: {
        pid: process.pid,
        command: ['vhqos', 'agent', '--socket', this.socket, `(${list.length} supervised: ${list.map((i) => i.instance).join(', ') || 'none'})`],
        exited: null,
      },
      cgroupVersion: this.detection?.version ?? 2,
      vhosts: [],
      loop: { notifications: 0, fast: 0, quietInspections: 0, events: 0, verdicts: 0, timeouts: 0, parked: 0, sendErrors: 0, running: !this.stopping },
      policy: { ...this.counters },
      tables: { channels: [], processes: [], children: [], fdCopies: [], readFlags: [] },
      warnings: [],
    };
  }
}
