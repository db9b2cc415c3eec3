// An instance: one server's process tree supervised by vhqos. Either spawned
// here under the vhqos filter (`vhqos run`) or attached to a tree someone else
// started with the vhqos syscalls as NOTIFY (an OCI runtime's listenerPath, or
// the keeper of an instance whose supervisor died). Wires the native core,
// the cgroup manager, the classifier and the policy together; each of them is
// usable on its own. The start is staged: a failing step undoes the others.
// (Over 400 lines on purpose: each start step sits next to its undo, and the
// teardown and reload that mirror them stay in view.)
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { VhqosConfig } from '../types';
import type { Logger } from '../logger';
import { loadConfigOffThread } from '../config/load-off-thread';
import { configWarnings } from '../config/warnings';
import { loadNative, type NativeBinding, type NativeLoop } from '../native';
import { CgroupManager, detectCgroups } from '../cgroup';
import { placeSupervisor } from '../cgroup/supervisor-placement';
import { openFilesLimit, openGroupsBudget } from '../cgroup/fd-budget';
import { ioWeightProblem } from '../cgroup/block-device';
import { createClassifier, needsMoreBytes, needsPeek } from '../classify/classifier';
import { normaliseIp } from '../classify/address';
import { Supervisor, DEFAULT_GROUP, SERVER_GROUP } from './supervisor';
import { makeConnectionScanner } from './fd-scan';
import { chooseClassifyAt, type ClassifyAt } from './classify-at';
import { describePlan, effectiveConfig, planReload, type ReloadPlan } from './reload';
import { reap, type ExitStatus } from './reap';
import { resolveExecutable } from './executable';
import { Rollback } from './rollback';
import { groupLimits, procsFiles, REMOVED_GROUP, vhostTableSpec, type GroupFiles } from './loop-plan';
import { instanceSnapshot, instanceSnapshotYielding, liveGroups, resourcesOf, type SnapshotSources } from './instance-snapshot';
import { MAX_SOCKET_PATH, StatusServer, defaultSocketPath } from '../status/server';
import type { StatusSnapshot } from '../status/snapshot';
import { FaultWatch } from '../status/fault-watch';
import { claimInstance, keeperSocketPath } from '../status/instance-registry';
import { startPlacement, type PlacementServer } from '../placement/placement';

export type { ExitStatus };

/** Signals `vhqos run` passes on to the server instead of acting on them. */
export const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGWINCH'];

/** What every instance takes, spawned or attached. */
export interface InstanceOptions {
  config: VhqosConfig;
  /** Program and arguments (attached: only a label for status and logs). */
  command: string[];
  logger: Logger;
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
  /** The file `config` came from: `vhqos reload` reads it again. */
  configFile?: string;
  /** More for the instance's claim (what a later attach needs to know: the agent's container, cgroup parent). */
  claimMeta?: Record<string, string>;
  /** Name of this instance's cgroup subtree, status socket and metrics label (claimed: one live supervisor per name). Default: vhqos-<pid> (the CLI uses the config file name). */
  instance?: string;
  /** cgroup path (under each hierarchy) to create the instance in. Default: vhqos. */
  cgroupParent?: string;
  /** Status socket path; false: none. */
  statusSocket?: string | false;
  /** A placement socket where the server asks for its vhost's group itself (src/placement/); 'only': and the filter traps nothing (spawn). */
  placement?: 'socket' | 'only';
  /** After the server exits, how long its orphans may keep running supervised. */
  drainMs?: number;
  /** How many groups' cgroup files the loop keeps open (least recently used closed beyond). Default: from the open-files limit. */
  openGroups?: number;
  native?: NativeBinding;
}

/** Start a server under the vhqos filter. */
export interface SpawnOptions extends InstanceOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** fds for the server's stdin/stdout/stderr; null/undefined: inherit. */
  stdio?: (number | null)[];
  /** Forward FORWARDED_SIGNALS received by this process to the server. */
  forwardSignals?: boolean;
}

/**
 * Supervise a tree someone else started with the vhqos syscalls as NOTIFY:
 * its listener fd and root pid. The root is not reaped (not our child).
 */
export interface AttachOptions extends InstanceOptions {
  listener: number;
  pid: number;
  /**
   * `vhqos attach`: the listener came back from the keeper of an instance
   * whose supervisor died: no new keeper (this connection to the old one
   * stands for it), and the processes already in the instance's cgroups are
   * taken in with their groups.
   */
  keeper?: { conn: number; pendingFd: number };
}

type Source = { kind: 'spawn'; opts: SpawnOptions } | { kind: 'attach'; opts: AttachOptions };

/** The parent pid of a process (field 4 of /proc/PID/stat), or 0. */
function parentOf(pid: number): number {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  } catch {
    return 0;
  }
}

/** How often the kernel's fault counters are read (a few small files per group). */
const FAULT_POLL_MS = 2000;

/** When the server's pool is looked at to check reserves against it (Apache starts its children within a second or two). */
const RESERVE_CHECK_MS = 3000;

export class Instance {
  readonly name: string;
  readonly cgroups: CgroupManager;
  readonly supervisor: Supervisor;
  readonly warnings: string[];
  /** The server's root process. */
  readonly pid: number;
  /** Where this instance classifies connections (the configured mode, or read as a fallback). */
  readonly classifyAt: ClassifyAt;
  private readonly opts: InstanceOptions;
  private readonly attached: boolean;
  /** The kernel's fault counters of the groups, since start (status, metrics, log). */
  private readonly faults: FaultWatch;
  private readonly native: NativeBinding;
  private readonly loop: NativeLoop;
  private readonly pidfd: number;
  private readonly listener: number;
  private readonly keeper: { pipeFd: number; pendingFd: number };
  private readonly files: GroupFiles;
  private status?: StatusServer;
  private placement?: PlacementServer;
  private exitStatus?: ExitStatus;
  private reaping = false;
  private unplaceSupervisor?: () => void;
  private readonly exited: Promise<ExitStatus>;
  private resolveExit!: (s: ExitStatus) => void;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  private finished?: Promise<ExitStatus>;
  private readonly releaseName: () => void;
  /** The config in force (a reload replaces it). */
  private config: VhqosConfig;
  /**
   * Group names by the loop's group index: vhosts, _default, _server, then
   * vhosts a reload added. Only ever appended (the loop's indices stay
   * valid); a removed vhost's entry becomes REMOVED_GROUP.
   */
  private readonly groupNames: string[] = [];

  /** Starts a server under the vhqos filter and supervises its whole tree until it exits. */
  static spawn(opts: SpawnOptions): Instance {
    if (opts.command.length === 0) throw new Error('vhqos run: no command given (usage: vhqos run --config FILE -- CMD [ARGS...])');
    return new Instance({ kind: 'spawn', opts });
  }

  /** Supervises a tree already running with the vhqos syscalls as NOTIFY. */
  static attach(opts: AttachOptions): Instance {
    return new Instance({ kind: 'attach', opts });
  }

  private constructor(source: Source) {
    const opts = source.opts;
    const { config, logger } = opts;
    this.opts = opts;
    this.attached = source.kind === 'attach';
    this.config = config;
    this.native = opts.native ?? loadNative();
    this.name = opts.instance ?? `vhqos-${process.pid}`;
    const file = source.kind === 'spawn' ? resolveExecutable(opts.command[0], source.opts.env?.PATH ?? process.env.PATH) : '';
    const moveBack = opts.moveBackTo ?? 'home';
    this.exited = new Promise((r) => (this.resolveExit = r));
    const rollback = new Rollback();
    try {
      // 1. One live supervisor per name, claimed before anything is created.
      this.releaseName = claimInstance(this.name, undefined, { config: opts.configFile, placement: opts.placement, ...opts.claimMeta });
      rollback.add('instance claim', this.releaseName);

      // 2. cgroups: if they cannot be made, nothing has been started yet.
      const detection = detectCgroups();
      const parent = opts.cgroupParent ?? 'vhqos';
      // With the supervisor placed, the vhost groups live one level down:
      // <parent>/<instance>/vhosts/<vhost>, the supervisor in <parent>/<instance>.
      const placing = opts.placeSupervisor === true && detection.version === 1;
      this.cgroups = placing
        ? CgroupManager.create({ instance: 'vhosts', parent: `${parent}/${this.name}`, ownsParent: true, onExisting: 'adopt', detection })
        : CgroupManager.create({ instance: this.name, parent, onExisting: 'adopt', detection });
      rollback.add('cgroups', () => this.cgroups.teardown(moveBack));
      this.files = { groupPaths: (g) => this.cgroups.groupPaths(g), exists: (f) => fs.existsSync(f) };
      const groups = [
        ...config.vhosts.map((v) => ({ name: v.name, resources: v.resources })),
        { name: DEFAULT_GROUP, resources: config.default },
        { name: SERVER_GROUP, resources: {} },
      ];
      this.warnings = this.cgroups.setup(groups).warnings;
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

      // 3. The server: spawned (it waits in its trapped execve until the loop
      // answers, so it starts life in _server) or the tree we were given.
      // classifyEach: request follows every read of a classified connection:
      // at accept the reads are trapped too (only then: the cost is paid only where used).
      const eachRequest = config.options.classifyEach === 'request';
      let syncWakeup = false;
      if (source.kind === 'spawn') {
        const s = source.opts;
        const traps = opts.placement === 'only' ? 'none' : this.classifyAt === 'read' ? 'read' : eachRequest ? 'accept-requests' : 'accept';
        const env = Object.entries(s.env ?? process.env)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}=${v}`);
        const spawned = this.native.spawn({ file, argv: s.command, env, cwd: s.cwd, stdio: s.stdio ?? [null, null, null], traps });
        ({ pid: this.pid, pidfd: this.pidfd, listener: this.listener, syncWakeup } = spawned);
        rollback.add('server', () => {
          // Nothing would answer its trapped syscalls: it must not run on.
          this.closeQuietly(spawned.listener);
          try {
            this.native.pidfdSendSignal(spawned.pidfd, os.constants.signals.SIGKILL);
          } catch {
            /* gone */
          }
          void reap(this.native, spawned.pidfd)
            .catch(() => undefined)
            .finally(() => this.closeQuietly(spawned.pidfd));
        });
      } else {
        this.pid = source.opts.pid;
        this.listener = source.opts.listener;
        this.pidfd = this.native.pidfdOpen(this.pid);
        // The listener stays the caller's (it closes it when we throw); the pidfd is ours.
        rollback.add('server pidfd', () => this.closeQuietly(this.pidfd));
      }
      try {
        if (opts.placeRoot !== false) this.cgroups.move(this.pid, SERVER_GROUP);
      } catch (e) {
        logger.warn({ err: e }, 'could not place the server in its cgroup');
      }

      // 4. The keeper answers trapped syscalls if this process dies; without one the server must not run.
      const back = source.kind === 'attach' ? source.opts.keeper : undefined;
      const attachPath = keeperSocketPath(this.name);
      this.keeper = back
        ? { pipeFd: back.conn, pendingFd: back.pendingFd }
        : this.native.startKeeper(this.listener, Buffer.byteLength(attachPath) <= MAX_SOCKET_PATH ? attachPath : undefined, this.pid);
      // A keeper we started ends when its pipe closes; one given back stays the caller's.
      if (!back) rollback.add('keeper', () => [this.keeper.pipeFd, this.keeper.pendingFd].forEach((fd) => this.closeQuietly(fd)));

      // 5. cgroup v1: the supervisor next to its vhost groups (faster hand-overs; optional).
      if (placing) {
        try {
          this.unplaceSupervisor = placeSupervisor(detection, `${parent}/${this.name}`) ?? undefined;
          if (this.unplaceSupervisor) rollback.add('supervisor placement', this.unplaceSupervisor);
        } catch (err) {
          logger.warn({ err }, 'could not place the supervisor next to its vhost groups (the fast path will be slower)');
        }
      }

      // 6. Policy and the loop. Accept mode: group i is vhost i, then _default and _server.
      this.groupNames.push(...groups.map((g) => g.name));
      this.supervisor = this.makeSupervisor();
      this.supervisor.adoptRoot(this.pid, SERVER_GROUP);
      this.loop = this.makeLoop(eachRequest);
      this.loop.addProcess(this.pid, this.groupNames.indexOf(SERVER_GROUP));
      if (back) this.adoptProcesses();
      this.loop.start();
      rollback.add('loop', () => this.loop.stop());
      logger.info(
        {
          instance: this.name,
          serverPid: this.pid,
          command: opts.command,
          cgroup: `v${this.cgroups.version}`,
          syncWakeup,
          classifyAt: this.classifyAt,
          classifyEach: config.options.classifyEach,
        },
        'server started under vhqos',
      );

      // 7. What watches and serves the running instance (none of it can fail the start).
      setTimeout(() => this.checkReserves(), RESERVE_CHECK_MS).unref();
      this.faults = new FaultWatch({ groups: () => liveGroups(this.config), read: (g) => this.cgroups.faults(g), isNew: (g) => this.cgroups.isNew(g), logger });
      this.faults.start(FAULT_POLL_MS);
      if (source.kind === 'spawn' && source.opts.forwardSignals) this.forwardSignals();
      this.listenStatus();
      if (opts.placement) this.placement = startPlacement({ instance: this.name, cgroups: this.cgroups, config: () => this.config, native: this.native, logger, only: opts.placement === 'only' });
      rollback.commit();
    } catch (e) {
      for (const { what, err } of rollback.run()) logger.warn({ err, step: what }, 'could not undo a start step');
      throw e;
    }
  }

  private closeQuietly(fd: number): void {
    try {
      this.native.close(fd);
    } catch {
      /* already closed */
    }
  }

  private makeSupervisor(): Supervisor {
    const { config, logger } = this.opts;
    const groupNames = this.groupNames;
    return new Supervisor({
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
      classify: createClassifier(config),
      needsPeek: needsPeek(config),
      moveToGroup: (pid, group) => this.cgroups.move(pid, group),
      connectionsOf: makeConnectionScanner(this.native),
      normaliseIp: (ip) => normaliseIp(ip) ?? ip,
      needsMoreBytes: (bytes) => needsMoreBytes(bytes, this.config.options.peekBytes),
      ownConnection: (local, peer, bytes, pids) => this.native.ownConnection(local.ip, local.port, peer.ip, peer.port, bytes, pids),
      firstByteTimeoutMs: config.options.firstByteTimeoutMs,
      logger,
      groupNames: this.classifyAt === 'accept' ? groupNames : undefined,
      loopGroups: groupNames,
    });
  }

  private makeLoop(eachRequest: boolean): NativeLoop {
    const { config } = this.opts;
    const groupNames = this.groupNames;
    const perGroup = { groups: procsFiles(groupNames, this.files), defaultGroup: groupNames.indexOf(DEFAULT_GROUP) };
    return new this.native.Loop(
      this.listener,
      {
        verdictTimeoutMs: config.options.verdictTimeoutMs,
        firstByteTimeoutMs: config.options.firstByteTimeoutMs,
        peekBytes: config.options.peekBytes,
        peek: needsPeek(config),
        pendingFd: this.keeper.pendingFd,
        vhostTable: vhostTableSpec(config),
        // A large config keeps only its busiest groups' cgroup files open.
        openGroups: this.opts.openGroups ?? openGroupsBudget(openFilesLimit(), this.cgroups.hierarchies),
        ...(eachRequest ? { classifyEach: 'request' as const, ...perGroup } : {}),
        ...(this.classifyAt === 'accept'
          ? {
              classifyAt: 'accept' as const,
              // One trap per connection: SYNC_WAKE_UP's cheaper round trip buys little,
              // and it would run every woken server process on the loop's CPU.
              syncWakeup: false,
              ...perGroup,
              serverGroup: groupNames.indexOf(SERVER_GROUP),
              maxHeld: config.options.maxHeldConnections,
              ...groupLimits(groupNames, (g) => resourcesOf(config, g), this.files),
            }
          : {}),
      },
      (ev) => {
        this.supervisor.handle(ev);
        if (ev.kind === 'exit' && ev.pid === this.pid) this.reapServer();
      },
    );
  }

  private forwardSignals(): void {
    for (const sig of FORWARDED_SIGNALS) {
      const h = () => this.kill(sig);
      this.signalHandlers.set(sig, h);
      process.on(sig, h);
    }
  }

  private listenStatus(): void {
    if (this.opts.statusSocket === false) return;
    const sock = this.opts.statusSocket ?? defaultSocketPath(this.name);
    this.status = new StatusServer(sock, () => this.snapshotYielding(), this.opts.logger, {
      // `vhqos reload`: the socket is root-only, like the rest of the control.
      reload: async (req) => {
        const file = typeof req.config === 'string' ? req.config : this.opts.configFile;
        if (!file) throw new Error('this instance was not started from a config file: give one with --config FILE');
        const { plan, warnings } = this.reload(await loadConfigOffThread(file));
        return { config: file, changes: describePlan(plan), plan, warnings };
      },
    });
    this.status.listen().catch((err) => this.opts.logger.warn({ err, socket: sock }, 'status socket unavailable'));
  }

  private reapServer(): void {
    if (this.reaping) return;
    this.reaping = true;
    const logger = this.opts.logger;
    if (this.attached) {
      // Not our child: its runtime reaps it and knows the status.
      this.exitStatus = { code: null, signal: null };
      logger.info({ serverPid: this.pid }, 'supervised root exited');
      this.resolveExit(this.exitStatus);
      return;
    }
    reap(this.native, this.pidfd).then(
      (st) => {
        this.exitStatus = st;
        logger.info({ serverPid: this.pid, code: st.code, signal: st.signal }, 'server exited');
        this.resolveExit(st);
      },
      (err) => {
        logger.error({ err }, 'could not reap the server');
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
    const logger = this.opts.logger;
    // Orphans (e.g. CGI children) may outlive the server: keep supervising for a while.
    const drain = this.opts.drainMs ?? 3000;
    await Promise.race([this.supervisor.whenDone(), new Promise((r) => setTimeout(r, drain).unref())]);
    this.loop.stop();
    for (const [sig, h] of this.signalHandlers) process.off(sig, h);
    await this.status?.close();
    await this.placement?.close();
    // The keeper answers CONTINUE for any straggler from now on.
    for (const fd of [this.keeper.pipeFd, this.keeper.pendingFd, this.listener, this.pidfd]) this.closeQuietly(fd);
    try {
      this.unplaceSupervisor?.();
    } catch (err) {
      logger.warn({ err }, 'could not move the supervisor back to its cgroup');
    }
    this.faults.poll(); // the last faults reach the log
    this.faults.stop();
    try {
      this.cgroups.teardown(this.opts.moveBackTo ?? 'home');
    } catch (err) {
      logger.warn({ err }, 'cgroup cleanup incomplete');
    }
    this.releaseName();
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
    for (const name of liveGroups(this.config)) {
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
    const warnings: string[] = configWarnings(next);
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
    removedIdx.forEach((i) => (this.groupNames[i] = REMOVED_GROUP));
    // A map, not indexOf per vhost: 10,000 vhosts made that 10^8 steps.
    const indexOfGroup = new Map(this.groupNames.map((n, i) => [n, i]));
    this.loop.reconfigure({
      vhostTable: vhostTableSpec(target),
      vhostGroups: target.vhosts.map((v) => indexOfGroup.get(v.name) ?? -1),
      newGroups: procsFiles(this.groupNames.slice(firstNew), this.files),
      removedGroups: removedIdx,
      ...groupLimits(this.groupNames, (g) => resourcesOf(target, g), this.files),
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
    logger.info({ instance: this.name, ...plan }, `reload: ${describePlan(plan).join('; ')}`);
    return { plan, warnings };
  }

  /** What `vhqos status` shows, now. */
  snapshot(): StatusSnapshot {
    return instanceSnapshot(this.snapshotSources());
  }

  /** The same, giving the event loop back between chunks of groups (the status socket and metrics use this). */
  snapshotYielding(): Promise<StatusSnapshot> {
    return instanceSnapshotYielding(this.snapshotSources());
  }

  private snapshotSources(): SnapshotSources {
    return {
      instance: this.name,
      config: this.config,
      classifyAt: this.classifyAt,
      stats: this.loop.stats(),
      groupNames: this.groupNames,
      supervisor: this.supervisor,
      cgroups: this.cgroups,
      faults: this.faults,
      server: { pid: this.pid, command: this.opts.command, exited: this.exitStatus ?? null },
      placement: this.placement?.stats(),
      warnings: this.warnings,
    };
  }
}
