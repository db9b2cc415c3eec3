// `vhqos run`: start a server under the vhqos filter and supervise its whole
// process tree until it exits. Wires the native core, the cgroup manager, the
// classifier and the policy together; each of them is usable on its own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import type { ResourceSettings, VhqosConfig } from './types';
import { loadConfig } from './config/load';
import { loadNative, type AcceptStats, type NativeBinding, type NativeLoop } from './native';
import { CgroupManager, detectCgroups } from './cgroup';
import { placeSupervisor } from './cgroup/supervisor-placement';
import { createClassifier, needsMoreBytes, needsPeek } from './classify/classifier';
import { normaliseIp } from './classify/address';
import { Supervisor, DEFAULT_GROUP, SERVER_GROUP, type Logger } from './supervisor/supervisor';
import { makeConnectionScanner } from './supervisor/fd-scan';
import { MAX_SOCKET_PATH, STATUS_DIR, StatusServer, defaultSocketPath } from './status/server';
import type { StatusSnapshot } from './status/snapshot';
import { FaultWatch } from './status/fault-watch';
import { ioWeightProblem } from './cgroup/block-device';
import { claimInstance } from './status/instance-registry';
import { describePlan, effectiveConfig, planReload, type ReloadPlan } from './supervisor/reload';
import { reap, type ExitStatus } from './reap';
import { chooseClassifyAt, type ClassifyAt } from './supervisor/classify-at';
import type { VhostTableSpec } from './native';

export type { ExitStatus };

/** Signals `vhqos run` passes on to the server instead of acting on them. */
export const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGWINCH'];

export interface RunOptions {
  config: VhqosConfig;
  /** Program and arguments. With `attach`, only a label for status and logs. */
  command: string[];
  /**
   * Supervise a process tree someone else started with the vhqos syscalls as
   * NOTIFY (an OCI runtime's listenerPath): its listener fd and root pid.
   * Nothing is spawned and the root is not reaped (it is not our child).
   */
  attach?: {
    listener: number;
    pid: number;
    /**
     * `vhqos attach`: the listener came back from the keeper of an instance
     * whose supervisor died: no new keeper (this connection to the old one
     * stands for it), and the processes already in the instance's cgroups
     * are taken in with their groups.
     */
    keeper?: { conn: number; pendingFd: number };
  };
  /** Where teardown puts processes still in the groups: 'home' (vhqos' own cgroup) or 'parent' (containers). */
  moveBackTo?: 'home' | 'parent';
  /** Move the root process into _server before supervision starts. Default true. */
  placeRoot?: boolean;
  /**
   * cgroup v1: run this (supervisor) process in the cgroup above the vhost
   * groups, so SYNC_WAKE_UP hand-overs stay on one CPU (see
   * cgroup/supervisor-placement.ts). Only for one supervised tree per process.
   */
  placeSupervisor?: boolean;
  logger: Logger;
  /** The file `config` came from: `vhqos reload` reads it again. */
  configFile?: string;
  /** More for the instance's claim (what a later attach needs to know: the agent's container, cgroup parent). */
  claimMeta?: Record<string, string>;
  /** Name of this instance's cgroup subtree, status socket and metrics label (claimed: one live supervisor per name). Default: run-<pid> (the CLI uses the config file name). */
  instance?: string;
  /** cgroup path (under each hierarchy) to create the instance in. Default: vhqos. */
  cgroupParent?: string;
  /** Status socket path; false: none. */
  statusSocket?: string | false;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** fds for the server's stdin/stdout/stderr; null/undefined: inherit. */
  stdio?: (number | null)[];
  /** Forward FORWARDED_SIGNALS received by this process to the server. */
  forwardSignals?: boolean;
  /** After the server exits, how long its orphans may keep running supervised. */
  drainMs?: number;
  native?: NativeBinding;
}


/** Finds an executable the way execvp would, so a missing program is a clear error up front. */
export function resolveExecutable(name: string, envPath = process.env.PATH ?? '/usr/bin:/bin'): string {
  const candidates = name.includes('/') ? [path.resolve(name)] : envPath.split(':').filter(Boolean).map((d) => path.join(d, name));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return c;
    } catch {
      /* next */
    }
  }
  const err = new Error(`vhqos: cannot run ${JSON.stringify(name)}: not found or not executable${name.includes('/') ? '' : ' in PATH'}`);
  (err as NodeJS.ErrnoException).code = 'ENOENT';
  throw err;
}

/** The config's vhosts, addresses and listener rules as the native classifier takes them (vhost i = group i). */
export function vhostTableSpec(config: VhqosConfig): VhostTableSpec {
  return {
    vhosts: config.vhosts.map((v) => ({ name: v.name, hosts: v.hosts, addresses: v.addresses.map((a) => ({ ...a })) })),
    listeners: config.options.listeners.map((l) => ({ ...l })),
    defaultListenerMode: config.options.defaultListenerMode,
    peekBytes: config.options.peekBytes,
  };
}

/** The parent pid of a process (field 4 of /proc/PID/stat), or 0. */
function parentOf(pid: number): number {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  } catch {
    return 0;
  }
}

/** Where an instance's keeper waits for `vhqos attach` once its supervisor is gone. */
export function keeperSocketPath(instance: string): string {
  return path.join(STATUS_DIR, `${instance}.keeper`);
}

/** A group index whose vhost a reload removed (the loop's indices never shift). */
const REMOVED = '\0removed';

/** How often the kernel's fault counters are read (a few small files per group). */
const FAULT_POLL_MS = 2000;

/** When the server's pool is looked at to check reserves against it (Apache starts its children within a second or two). */
const RESERVE_CHECK_MS = 3000;

/** Connection slots and idle processes of group i, from the loop's exact counters. */
function slotRow(a: AcceptStats, i: number) {
  return {
    serving: a.groupServing[i] ?? 0,
    waiting: a.groupQueuedNow[i] ?? 0,
    queued: a.groupQueued[i] ?? 0,
    refused: a.groupRefused[i] ?? 0,
    idle: a.groupIdle[i] ?? 0,
  };
}

export class SupervisedRun {
  readonly instance: string;
  readonly cgroups: CgroupManager;
  readonly supervisor: Supervisor;
  readonly warnings: string[];
  /** The kernel's fault counters of the groups, since start (status, metrics, log). */
  private faults?: FaultWatch;
  readonly pid: number;
  /** Where this instance classifies connections (the configured mode, or read as a fallback). */
  readonly classifyAt: ClassifyAt;
  private readonly native: NativeBinding;
  private readonly loop: NativeLoop;
  private readonly pidfd: number;
  private readonly listener: number;
  private readonly keeper: { pid: number; pipeFd: number; pendingFd: number };
  private status?: StatusServer;
  private exitStatus?: ExitStatus;
  private reaping = false;
  private unplaceSupervisor?: () => void;
  private readonly exited: Promise<ExitStatus>;
  private resolveExit!: (s: ExitStatus) => void;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  private finished?: Promise<ExitStatus>;
  private readonly releaseInstance: () => void;
  /** The config in force (a reload replaces it). */
  private config: VhqosConfig;
  /**
   * Group names by the loop's group index: vhosts, _default, _server, then
   * vhosts a reload added. Only ever appended (the loop's indices stay
   * valid); a removed vhost's entry becomes REMOVED.
   */
  private readonly groupNames: string[] = [];

  constructor(private readonly opts: RunOptions) {
    const { config, logger } = opts;
    this.config = config;
    if (opts.command.length === 0 && !opts.attach) throw new Error('vhqos run: no command given (usage: vhqos run --config FILE -- CMD [ARGS...])');
    this.native = opts.native ?? loadNative();
    this.instance = opts.instance ?? `run-${process.pid}`;
    const file = opts.attach ? '' : resolveExecutable(opts.command[0], opts.env?.PATH ?? process.env.PATH);
    const moveBack = opts.moveBackTo ?? 'home';
    this.exited = new Promise((r) => (this.resolveExit = r));
    // One live supervisor per name, claimed before anything is created.
    this.releaseInstance = claimInstance(this.instance, undefined, { config: opts.configFile, ...opts.claimMeta });
    try {

      // cgroups first: if they cannot be made, nothing has been started yet.
      const detection = detectCgroups();
      const parent = opts.cgroupParent ?? 'vhqos';
      // With the supervisor placed, the vhost groups live one level down:
      // <parent>/<instance>/vhosts/<vhost>, the supervisor in <parent>/<instance>.
      const placing = opts.placeSupervisor === true && detection.version === 1;
      this.cgroups = placing
        ? CgroupManager.create({ instance: 'vhosts', parent: `${parent}/${this.instance}`, onExisting: 'adopt', detection })
        : CgroupManager.create({ instance: this.instance, parent, onExisting: 'adopt', detection });
      const groups = [
        ...config.vhosts.map((v) => ({ name: v.name, resources: v.resources })),
        { name: DEFAULT_GROUP, resources: config.default },
        { name: SERVER_GROUP, resources: {} },
      ];
      try {
        this.warnings = this.cgroups.setup(groups).warnings;
      } catch (e) {
        this.cgroups.teardown(moveBack);
        throw e;
      }
      const weighted = groups.filter((g) => g.resources.io?.weight !== undefined);
      const ioProblem = weighted.length ? ioWeightProblem(this.cgroups.version) : undefined;
      if (ioProblem) this.warnings = [...this.warnings, `${weighted.map((g) => g.name).join(', ')}: ${ioProblem}`];
      for (const w of this.warnings) logger.warn({ setting: w }, 'setting not applied');
      const choice = chooseClassifyAt(config.options.classifyAt, this.native.probe());
      this.classifyAt = choice.mode;
      if (choice.fallback) logger.warn({ classifyAt: choice.mode }, choice.fallback);
      if (this.classifyAt === 'read' && groups.some((g) => g.resources.connections)) {
        const w = 'connections (max / reserve) need classifyAt: accept; with read the server accepts by itself and they are not applied';
        this.warnings = [...this.warnings, w];
        logger.warn({ setting: 'connections' }, w);
      }

      // classifyEach: request follows every read of a classified connection:
      // at accept the reads are trapped too (only then: the cost is paid only where used).
      const eachRequest = config.options.classifyEach === 'request';
      const traps = this.classifyAt === 'read' ? 'read' : eachRequest ? 'accept-requests' : 'accept';
      const env = Object.entries(opts.env ?? process.env)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${v}`);
      let spawned: { pid: number; pidfd: number; listener: number; syncWakeup: boolean };
      try {
        spawned = opts.attach
          ? { ...opts.attach, pidfd: this.native.pidfdOpen(opts.attach.pid), syncWakeup: false }
          : this.native.spawn({ file, argv: opts.command, env, cwd: opts.cwd, stdio: opts.stdio ?? [null, null, null], traps });
      } catch (e) {
        this.cgroups.teardown(moveBack);
        throw e;
      }
      this.pid = spawned.pid;
      this.pidfd = spawned.pidfd;
      this.listener = spawned.listener;
      // The child waits in its trapped execve until the loop answers: it starts life in _server.
      try {
        if (opts.placeRoot !== false) this.cgroups.move(this.pid, SERVER_GROUP);
      } catch (e) {
        logger.warn({ err: e }, 'could not place the server in its cgroup');
      }
      try {
        const back = opts.attach?.keeper;
        const attachPath = keeperSocketPath(this.instance);
        this.keeper = back
          ? { pid: 0, pipeFd: back.conn, pendingFd: back.pendingFd }
          : this.native.startKeeper(this.listener, Buffer.byteLength(attachPath) <= MAX_SOCKET_PATH ? attachPath : undefined, this.pid);
      } catch (e) {
        // Without a keeper the server must not run at all: nothing would answer
        // its trapped syscalls if vhqos died. Undo what was started.
        if (!opts.attach) {
          try {
            this.native.pidfdSendSignal(spawned.pidfd, os.constants.signals.SIGKILL);
          } catch {
            /* gone */
          }
        }
        for (const fd of [spawned.listener, spawned.pidfd]) {
          try {
            this.native.close(fd);
          } catch {
            /* closed */
          }
        }
        this.cgroups.teardown(moveBack);
        throw e;
      }
      if (placing) {
        try {
          this.unplaceSupervisor = placeSupervisor(detection, `${parent}/${this.instance}`) ?? undefined;
        } catch (err) {
          logger.warn({ err }, 'could not place the supervisor next to its vhost groups (the fast path will be slower)');
        }
      }

      const classify = createClassifier(config);
      const scan = makeConnectionScanner(this.native);
      // Accept mode: group i is vhost i, then _default and _server.
      this.groupNames.push(...groups.map((g) => g.name));
      const groupNames = this.groupNames;
      this.supervisor = new Supervisor({
        respond: (id, quiet, retryMs, group) =>
          this.loop.respond(
            id,
            retryMs ? { kind: 'peekAgain', retryMs } : quiet ? { kind: 'quiet', group: group === undefined ? undefined : groupNames.indexOf(group) } : { kind: 'continue' },
          ),
        fdState: () => {
          const t = this.loop.fdTables();
          return {
            readFlags: t.readFlags.map((r) => {
              const g = groupNames[r.group];
              return { pid: r.pid, fd: r.fd, vhost: g === undefined || g === DEFAULT_GROUP ? null : g, inode: r.inode };
            }),
            fdCopies: t.fdCopies,
          };
        },
        classify,
        needsPeek: needsPeek(config),
        moveToGroup: (pid, group) => this.cgroups.move(pid, group),
        connectionsOf: scan,
        normaliseIp: (ip) => normaliseIp(ip) ?? ip,
        needsMoreBytes: (bytes) => needsMoreBytes(bytes, this.config.options.peekBytes),
        ownConnection: (local, peer, bytes, pids) => this.native.ownConnection(local.ip, local.port, peer.ip, peer.port, bytes, pids),
        firstByteTimeoutMs: config.options.firstByteTimeoutMs,
        logger,
        groupNames: this.classifyAt === 'accept' ? groupNames : undefined,
        loopGroups: groupNames,
      });
      this.supervisor.adoptRoot(this.pid, SERVER_GROUP);
      this.loop = new this.native.Loop(
        this.listener,
        {
          verdictTimeoutMs: config.options.verdictTimeoutMs,
          firstByteTimeoutMs: config.options.firstByteTimeoutMs,
          peekBytes: config.options.peekBytes,
          peek: needsPeek(config),
          pendingFd: this.keeper.pendingFd,
          vhostTable: vhostTableSpec(config),
          ...(eachRequest
            ? {
                classifyEach: 'request' as const,
                groups: groupNames.map((g) => this.cgroups.groupPaths(g).map((d) => `${d}/cgroup.procs`)),
                defaultGroup: groupNames.indexOf(DEFAULT_GROUP),
              }
            : {}),
          ...(this.classifyAt === 'accept'
            ? {
                classifyAt: 'accept' as const,
                // One trap per connection: SYNC_WAKE_UP's cheaper round trip buys little,
                // and it would run every woken server process on the loop's CPU.
                syncWakeup: false,
                groups: groupNames.map((g) => this.cgroups.groupPaths(g).map((d) => `${d}/cgroup.procs`)),
                defaultGroup: groupNames.indexOf(DEFAULT_GROUP),
                serverGroup: groupNames.indexOf(SERVER_GROUP),
                maxHeld: config.options.maxHeldConnections,
                slots: groups.map((g) => g.resources.connections ?? {}),
                pidsMax: groups.map((g) => {
                  const max = g.resources.pids?.max;
                  const files = this.cgroups.groupPaths(g.name).map((d) => `${d}/pids.max`).filter((f) => fs.existsSync(f));
                  return max === undefined || files.length === 0 ? null : { max, files };
                }),
              }
            : {}),
        },
        (ev) => {
          this.supervisor.handle(ev);
          if (ev.kind === 'exit' && ev.pid === this.pid) this.reapServer();
        },
      );
      this.loop.addProcess(this.pid, groupNames.indexOf(SERVER_GROUP));
    if (opts.attach?.keeper) this.adoptProcesses();
      this.loop.start();
      logger.info(
        {
          instance: this.instance,
          serverPid: this.pid,
          command: opts.command,
          cgroup: `v${this.cgroups.version}`,
          syncWakeup: spawned.syncWakeup,
          classifyAt: this.classifyAt,
          classifyEach: config.options.classifyEach,
        },
        'server started under vhqos',
      );

      setTimeout(() => this.checkReserves(), RESERVE_CHECK_MS).unref();
      this.faults = new FaultWatch({ groups: () => this.liveGroups(), read: (g) => this.cgroups.faults(g), logger });
      this.faults.start(FAULT_POLL_MS);

      if (opts.forwardSignals) {
        for (const sig of FORWARDED_SIGNALS) {
          const h = () => {
            try {
              this.native.pidfdSendSignal(this.pidfd, os.constants.signals[sig]);
            } catch {
              /* already gone */
            }
          };
          this.signalHandlers.set(sig, h);
          process.on(sig, h);
        }
      }
      if (opts.statusSocket !== false) {
        const sock = opts.statusSocket ?? defaultSocketPath(this.instance);
        this.status = new StatusServer(sock, () => this.snapshot(), logger, {
        // `vhqos reload`: the socket is root-only, like the rest of the control.
        reload: (req) => {
          const file = typeof req.config === 'string' ? req.config : this.opts.configFile;
          if (!file) throw new Error('this instance was not started from a config file: give one with --config FILE');
          const { plan, warnings } = this.reload(loadConfig(file));
          return { config: file, changes: describePlan(plan), plan, warnings };
        },
      });
        this.status.listen().catch((err) => logger.warn({ err, socket: sock }, 'status socket unavailable'));
      }
    } catch (e) {
      this.releaseInstance();
      throw e;
    }
  }

  private reapServer(): void {
    if (this.reaping) return;
    this.reaping = true;
    if (this.opts.attach) {
      // Not our child: its runtime reaps it and knows the status.
      this.exitStatus = { code: null, signal: null };
      this.opts.logger.info({ serverPid: this.pid }, 'supervised root exited');
      this.resolveExit(this.exitStatus);
      return;
    }
    reap(this.native, this.pidfd).then(
      (st) => {
        this.exitStatus = st;
        this.opts.logger.info({ serverPid: this.pid, code: st.code, signal: st.signal }, 'server exited');
        this.resolveExit(st);
      },
      (err) => {
        this.opts.logger.error({ err }, 'could not reap the server');
        this.exitStatus = { code: null, signal: null };
        this.resolveExit(this.exitStatus);
      },
    );
  }

  /** Sends a signal to the server's main process. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    try {
      this.native.pidfdSendSignal(this.pidfd, os.constants.signals[signal]);
    } catch {
      /* gone */
    }
  }

  /**
   * This process is about to exit while the server runs on (the agent stops):
   * answer everything the loop holds (parked accepts continue and accept by
   * themselves, held connections go to them), so nothing waits on a
   * supervisor that is gone; the keeper answers what comes after.
   */
  handBack(): void {
    this.loop.stop();
  }

  /** Resolves with the server's exit status once it and vhqos' cleanup are done. */
  wait(): Promise<ExitStatus> {
    if (!this.finished) this.finished = this.exited.then((st) => this.cleanup(st));
    return this.finished;
  }

  private async cleanup(st: ExitStatus): Promise<ExitStatus> {
    // Orphans (e.g. CGI children) may outlive the server: keep supervising for a while.
    const drain = this.opts.drainMs ?? 3000;
    await Promise.race([this.supervisor.whenDone(), new Promise((r) => setTimeout(r, drain).unref())]);
    this.loop.stop();
    for (const [sig, h] of this.signalHandlers) process.off(sig, h);
    await this.status?.close();
    // The keeper answers CONTINUE for any straggler from now on.
    for (const fd of [this.keeper.pipeFd, this.keeper.pendingFd, this.listener, this.pidfd]) {
      try {
        this.native.close(fd);
      } catch {
        /* already closed */
      }
    }
    try {
      this.unplaceSupervisor?.();
    } catch (err) {
      this.opts.logger.warn({ err }, 'could not move the supervisor back to its cgroup');
    }
    this.faults?.poll(); // the last faults reach the log
    this.faults?.stop();
    try {
      this.cgroups.teardown(this.opts.moveBackTo ?? 'home');
    } catch (err) {
      this.opts.logger.warn({ err }, 'cgroup cleanup incomplete');
    }
    this.releaseInstance();
    return st;
  }

  /**
   * Reserves must leave a free server process for everyone else; the pool's
   * size is only known once the server runs (its processes parked in accept).
   */
  private checkReserves(): void {
    const groups = [...this.config.vhosts.map((v) => v.resources), this.config.default];
    const reserved = groups.reduce((n, r) => n + (r.connections?.reserve ?? 0), 0);
    if (reserved === 0 || this.classifyAt !== 'accept') return;
    const pool = this.loop.stats().accept?.parkedPeak ?? 0;
    if (pool > 0 && pool <= reserved)
      this.opts.logger.warn(
        { reserved, pool },
        `connections.reserve adds up to ${reserved} but the server has only ${pool} processes waiting in accept: other vhosts would get none; lower the reserves or raise the server's pool (Apache: StartServers/MinSpareServers)`,
      );
  }

  /**
   * Re-attached: every process in the instance's cgroups is supervised again,
   * in the group it is in. A process the server's root did not start itself
   * (a CGI, what a handler started) is a tenant's.
   */
  private adoptProcesses(): void {
    const root = this.pid;
    for (const name of this.liveGroups()) {
      let pids: number[] = [];
      try {
        pids = this.cgroups.usage(name).pids;
      } catch {
        continue;
      }
      for (const pid of pids) {
        if (pid === root) continue;
        const tenant = parentOf(pid) !== root;
        try {
          this.loop.addProcess(pid, this.groupNames.indexOf(name), tenant);
          if (!tenant) this.supervisor.adoptRoot(pid, name);
        } catch {
          /* gone meanwhile */
        }
      }
    }
  }

  /** The groups that exist now: the vhosts, _default, _server. */
  private liveGroups(): string[] {
    return [...this.config.vhosts.map((v) => v.name), DEFAULT_GROUP, SERVER_GROUP];
  }

  /** The settings of a group in the config in force. */
  private resourcesOf(name: string): ResourceSettings {
    if (name === DEFAULT_GROUP) return this.config.default;
    return this.config.vhosts.find((v) => v.name === name)?.resources ?? {};
  }

  /** What the loop needs per group index: connection slots and the pids allowance. */
  private groupLimits(): { slots: { max?: number; reserve?: number; queueTimeoutMs?: number }[]; pidsMax: ({ max: number; files: string[] } | null)[] } {
    const slots = this.groupNames.map((g) => (g === REMOVED ? {} : (this.resourcesOf(g).connections ?? {})));
    const pidsMax = this.groupNames.map((g) => {
      const max = g === REMOVED ? undefined : this.resourcesOf(g).pids?.max;
      if (max === undefined) return null;
      const files = this.cgroups.groupPaths(g).map((d) => `${d}/pids.max`).filter((f) => fs.existsSync(f));
      return files.length ? { max, files } : null;
    });
    return { slots, pidsMax };
  }

  /**
   * Applies a new config without restarting or signalling the server: new
   * vhosts get their cgroups and then their connections, changed limits are
   * written, a removed vhost's processes move to _default and its cgroups go;
   * the classification table switches in one step on the loop thread.
   * Options that shape the running loop stay as they were (reported).
   */
  reload(next: VhqosConfig): { plan: ReloadPlan; warnings: string[] } {
    const plan = planReload(this.config, next);
    const target = effectiveConfig(this.config, next);
    const warnings: string[] = [];
    const logger = this.opts.logger;
    // 1. cgroups of new vhosts, and the new limits of the others.
    const added = target.vhosts.filter((v) => plan.added.includes(v.name));
    if (added.length) warnings.push(...this.cgroups.setup(added.map((v) => ({ name: v.name, resources: v.resources }))).warnings);
    for (const v of target.vhosts) if (plan.limitsChanged.includes(v.name)) warnings.push(...this.cgroups.update(v.name, v.resources));
    if (plan.defaultChanged) warnings.push(...this.cgroups.update(DEFAULT_GROUP, target.default));
    const removedIdx = plan.removed.map((n) => this.groupNames.indexOf(n));
    const firstNew = this.groupNames.length;
    this.groupNames.push(...added.map((v) => v.name));
    this.config = target;
    // 2. The classification, atomically: the loop swaps its table between two connections.
    // (Read mode: the loop's table gives the listener rules, and with
    // classifyEach: request it classifies later requests; policy classifies first reads.)
    removedIdx.forEach((i) => (this.groupNames[i] = REMOVED));
    this.loop.reconfigure({
      vhostTable: vhostTableSpec(target),
      vhostGroups: target.vhosts.map((v) => this.groupNames.indexOf(v.name)),
      newGroups: this.groupNames.slice(firstNew).map((g) => this.cgroups.groupPaths(g).map((d) => `${d}/cgroup.procs`)),
      removedGroups: removedIdx,
      ...this.groupLimits(),
    });
    if (this.classifyAt === 'read') this.supervisor.setClassifier({ classify: createClassifier(target), needsPeek: needsPeek(target) });
    // 3. A removed vhost's processes to _default, then its cgroups go.
    for (const name of plan.removed) {
      try {
        const moved = this.cgroups.removeGroup(name, DEFAULT_GROUP);
        logger.info({ vhost: name, moved }, 'vhost removed: its processes are in _default now');
      } catch (err) {
        warnings.push(`${name}: could not remove its cgroup: ${(err as Error).message}`);
      }
    }
    for (const w of warnings) logger.warn({ setting: w }, 'setting not applied');
    logger.info({ instance: this.instance, ...plan }, `reload: ${describePlan(plan).join('; ')}`);
    return { plan, warnings };
  }

  snapshot(): StatusSnapshot {
    const config = this.config;
    // Accept mode: exact counts from the loop; read mode: policy's own.
    const stats = this.loop.stats();
    const accept = this.classifyAt === 'accept' ? stats.accept : undefined;
    // At accept, moves for later requests (classifyEach: request) count too; read mode's policy counts its own.
    const requestMoves = stats.perRequest?.groupMoves ?? [];
    const groupIndex = new Map(this.liveGroups().map((n) => [n, this.groupNames.indexOf(n)]));
    const counts = new Map(
      accept
        ? [...groupIndex].map(([n, i]) => [n, { connections: accept.groupConnections[i] ?? 0, moves: (accept.groupMoves[i] ?? 0) + (requestMoves[i] ?? 0) }])
        : this.supervisor.counters,
    );
    const limitsOf = (name: string): ResourceSettings =>
      name === DEFAULT_GROUP ? config.default : (config.vhosts.find((v) => v.name === name)?.resources ?? {});
    const groupRow = (name: string, hosts: string[], addresses: string[]) => {
      let usage: { cpuUsageUsec?: number; memoryBytes?: number; pids: number[] } = { pids: [] };
      try {
        usage = this.cgroups.usage(name);
      } catch {
        /* torn down */
      }
      return {
        name,
        hosts,
        addresses,
        cgroups: this.cgroups.groupPaths(name),
        pids: usage.pids,
        cpuUsageUsec: usage.cpuUsageUsec,
        memoryBytes: usage.memoryBytes,
        connections: counts.get(name)?.connections ?? 0,
        moves: counts.get(name)?.moves ?? 0,
        ...(accept ? slotRow(accept, groupIndex.get(name) ?? -1) : {}),
        limits: limitsOf(name),
        faults: this.faults?.since(name) ?? {},
      };
    };
    return {
      instance: this.instance,
      supervisorPid: process.pid,
      server: { pid: this.pid, command: this.opts.command, exited: this.exitStatus ?? null },
      cgroupVersion: this.cgroups.version,
      vhosts: [
        ...config.vhosts.map((v) =>
          groupRow(v.name, v.hosts, v.addresses.map((a) => (a.port ? `${a.ip.includes(':') ? `[${a.ip}]` : a.ip}:${a.port}` : a.ip))),
        ),
        groupRow(DEFAULT_GROUP, [], []),
        groupRow(SERVER_GROUP, [], []),
      ],
      loop: stats,
      policy: { ...this.supervisor.stats },
      tables: this.supervisor.tables.snapshot(),
      warnings: this.warnings,
    };
  }
}
