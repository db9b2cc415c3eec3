// `vhqos agent`: the seccomp listener for containers (runc's / crun's
// linux.seccomp.listenerPath, set by the podman precreate hook or by
// vhqos-runtime). Each connection from a runtime brings one container
// process state and its seccomp listener fd; the agent supervises that
// process tree with the container's vhqos config, exactly as `vhqos run`
// does, with the vhost cgroups created *inside the container's own cgroup*:
//
//   <container cgroup>/<container id>/{<vhost>…, _default, _server}
//
// * One Instance per connection (runtime.ts). A container start
//   ("creating") supervises the container's init (runc-init until it execs
//   the container's program, whose trapped syscalls simply continue). An exec
//   (`docker exec`, `podman exec`: the runtime sends a new listener for the
//   exec'd process) gets an instance of its own, `<id>-exec-<pid>`, beside
//   the container's, with the same config: it comes and goes with the exec'd
//   process tree and never touches the container's groups.
// * Cleanup when the supervised tree is gone (POLLHUP on the listener: the
//   loop reports 'hup'), and on the poststop hook's request (registry.ts).
// * Many peers at once: a listener thread of its own reads every peer within
//   its own time budget (listener.ts); malformed or hostile input (non-root
//   peer, bad JSON, wrong fds, unknown config…) gets one log line, the fds it
//   brought are closed and so is the connection (dispatch.ts). A container
//   (or exec) that cannot be supervised is failed: its process, still
//   blocked in runc-init, is killed and the runtime reports the failure. No
//   single container can take the agent down.
// * If the agent stops, supervised containers keep running unsupervised
//   (each instance's keeper answers CONTINUE); new ones fail to start until
//   it is back, which takes them back (readopt.ts).

import * as fs from 'fs';
import * as path from 'path';
import { loadNative, type NativeBinding } from '../native';
import type { AttachOptions } from '../supervisor/instance';
import { loadConfig as loadConfigFile } from '../config/load';
import type { VhqosConfig } from '../types';
import { SERVER_GROUP } from '../supervisor/supervisor';
import { detectCgroups, type CgroupDetection } from '../cgroup/detect';
import { CgroupManager } from '../cgroup/manager';
import { STATUS_DIR, MAX_SOCKET_PATH } from '../status/server';
import type { AgentCounters, AgentInstanceStatus, AgentStatusSnapshot, StatusSnapshot } from '../status/snapshot';
import type { AgentContext, AgentLogger } from './context';
import { TreeRegistry } from './registry';
import { attachInstance, type SupervisedTree } from './supervised-tree';
import { socketListener, type Listen, type MessageSource } from './listener';
import { dispatch } from './dispatch';
import { readopt } from './readopt';
import { agentStatus, NO_LISTENER } from './status';

export type { AgentLogger } from './context';
export type { SupervisedTree } from './supervised-tree';
export type { Peer, MessageSource, Listen, PeerHandlers } from './listener';
/** One supervised process tree, as `list` and the status reply show it. */
export type AgentInstance = AgentInstanceStatus;

export interface AgentOptions {
  /** Where to listen (runc's listenerPath). */
  socket: string;
  /** At start, take back the containers an earlier agent supervised that still run. Default true. */
  readopt?: boolean;
  logger: AgentLogger;
  /** Peers whose messages are read at once (each may take up to peerTimeoutMs); more wait in the backlog. Default 64. */
  maxPeers?: number;
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
  /** Where peers come from; default: the unix socket, read by the native listener thread. */
  listen?: Listen;
  supervise?: (opts: AttachOptions) => SupervisedTree;
  loadConfig?: (file: string) => VhqosConfig;
  detectCgroups?: () => CgroupDetection;
  readProcCgroup?: (pid: number) => string;
  /** What an fd received links to in /proc/self/fd (a seccomp listener: 'anon_inode:seccomp notify'). */
  readFdLink?: (fd: number) => string;
}

function readLink(fd: number): string {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return '';
  }
}

/** cgroup v2 only: the container's cgroup must hold no process before its children get controllers. */
function vacateParent(d: CgroupDetection, cgroupParent: string, instance: string): number[] {
  if (d.version !== 2 || !cgroupParent) return [];
  return CgroupManager.create({ instance, parent: cgroupParent, detection: d, backend: 'v2' }).vacateParent(SERVER_GROUP);
}

export class Agent {
  readonly socket: string;
  private readonly native: NativeBinding;
  private readonly statusDir: string | false;
  private readonly registry: TreeRegistry;
  private readonly counters: AgentCounters = { accepted: 0, probes: 0, rejected: 0, supervised: 0, readopted: 0, control: 0 };
  private readonly ctx: AgentContext;
  private readonly startedAt = new Date();
  private source?: MessageSource;
  private stopping = false;
  private detected?: CgroupDetection;

  constructor(private readonly opts: AgentOptions) {
    this.socket = path.resolve(opts.socket);
    this.native = opts.native ?? loadNative();
    this.statusDir = opts.statusDir ?? STATUS_DIR;
    this.registry = new TreeRegistry(opts.logger, { replaceWaitMs: opts.replaceWaitMs ?? 3000, poststopWaitMs: opts.poststopWaitMs ?? 4000 });
    const native = this.native;
    this.ctx = {
      log: opts.logger,
      native,
      registry: this.registry,
      counters: this.counters,
      detection: () => {
        if (!this.detected) throw new Error('agent: not started');
        return this.detected;
      },
      loadConfig: opts.loadConfig ?? loadConfigFile,
      supervise: opts.supervise ?? attachInstance,
      readProcCgroup: opts.readProcCgroup ?? ((p) => fs.readFileSync(`/proc/${p}/cgroup`, 'utf8')),
      readFdLink: opts.readFdLink ?? readLink,
      vacateParent,
      statusSocketFor: (instance, log) => this.statusSocketFor(instance, log),
      closeFd: (fd) => {
        try {
          native.close(fd);
        } catch {
          // already closed
        }
      },
      peerTimeoutMs: opts.peerTimeoutMs ?? 5000,
      maxBytes: opts.maxMessageBytes ?? 1 << 20,
      status: () => this.snapshot(),
    };
  }

  /** Binds the socket (directory 0700 if it has to be made, socket 0600) and starts accepting. */
  async start(): Promise<void> {
    const log = this.opts.logger;
    this.detected = (this.opts.detectCgroups ?? detectCgroups)();
    const limits = { peerTimeoutMs: this.ctx.peerTimeoutMs, maxBytes: this.ctx.maxBytes, maxPeers: Math.max(1, this.opts.maxPeers ?? 64) };
    this.source = await (this.opts.listen ?? socketListener(this.native))(this.socket, limits, {
      // Never let one peer's trouble reach the listener (or the process).
      // (Each path of dispatch() closes what it received itself: no second
      // close here, the fd numbers may belong to someone else by now.)
      peer: (p) => void dispatch(this.ctx, p).catch((err) => log.error({ err, peerPid: p.pid }, 'internal error handling a connection')),
      error: (err, peerPid) =>
        err.syscall === 'accept'
          ? log.error({ err }, 'accepting a connection failed (accepts pause briefly)')
          : log.warn({ err, peerPid }, 'reading a connection failed: closed it'),
    });
    log.info({ socket: this.socket, cgroup: `v${this.detected.version}`, maxPeers: limits.maxPeers }, 'vhqos agent listening');
    if (this.opts.readopt !== false) readopt(this.ctx);
  }

  /**
   * Stops accepting (the listener thread is joined) and removes the socket.
   * Supervised containers are left alone: their supervision continues while
   * this process lives, and their keepers answer for them once it exits.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.source?.stop();
  }

  /** Before this process exits with containers still running: every supervised tree answers what it holds. */
  handBackAll(): void {
    this.registry.handBackAll();
  }

  /** Status socket files of the running instances (removed when the agent process exits abruptly). */
  statusSockets(): string[] {
    return this.registry.statusSockets();
  }

  /** The status of every supervised container (for the agent's metrics: one vhqos_instance label each). */
  snapshots(): StatusSnapshot[] {
    return this.registry.snapshots();
  }

  instances(): AgentInstance[] {
    return this.registry.list();
  }

  /** What `vhqos status` shows for the agent's own socket (the containers have sockets of their own). */
  snapshot(): AgentStatusSnapshot {
    return agentStatus({
      socket: this.socket,
      startedAt: this.startedAt,
      accepting: !!this.source && !this.stopping,
      cgroupVersion: this.detected?.version ?? 2,
      counters: this.counters,
      listener: this.source?.stats() ?? NO_LISTENER,
      instances: this.registry.list(),
    });
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
}
