// An instance's status snapshot (what `vhqos status`, `top` and metrics show),
// assembled from its owners: the loop's exact counters at accept, policy's own
// in read mode, the cgroups' usage and the fault watch.
import type { ResourceSettings, VhqosConfig } from '../types';
import type { AcceptStats, LoopStats } from '../native';
import type { CgroupManager } from '../cgroup';
import type { StatusSnapshot } from '../status/snapshot';
import type { FaultWatch } from '../status/fault-watch';
import type { PlacementStats } from '../placement/server';
import type { Supervisor } from './supervisor';
import type { ExitStatus } from './reap';
import type { ClassifyAt } from './classify-at';
import { DEFAULT_GROUP, SERVER_GROUP } from './supervisor';
import { formatAddress } from '../classify/address';

export interface SnapshotSources {
  instance: string;
  config: VhqosConfig;
  classifyAt: ClassifyAt;
  stats: LoopStats;
  /** Group names by the loop's group index. */
  groupNames: string[];
  supervisor: Pick<Supervisor, 'counters' | 'stats' | 'tables'>;
  cgroups: Pick<CgroupManager, 'usage' | 'groupPaths' | 'version'>;
  faults?: Pick<FaultWatch, 'since'>;
  server: { pid: number; command: string[]; exited: ExitStatus | null };
  /** The placement socket's counts, if the instance has one. */
  placement?: PlacementStats;
  warnings: string[];
}

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

/** The group names that exist now: the vhosts, _default, _server. */
export function liveGroups(config: VhqosConfig): string[] {
  return [...config.vhosts.map((v) => v.name), DEFAULT_GROUP, SERVER_GROUP];
}

/** Each config's vhost settings by name (looked up per vhost: a find each was quadratic at 10,000 vhosts). */
const byName = new WeakMap<VhqosConfig, Map<string, ResourceSettings>>();

/** The settings of a group in a config. */
export function resourcesOf(config: VhqosConfig, name: string): ResourceSettings {
  if (name === DEFAULT_GROUP) return config.default;
  let m = byName.get(config);
  if (!m) byName.set(config, (m = new Map(config.vhosts.map((v) => [v.name, v.resources]))));
  return m.get(name) ?? {};
}

/** Groups read between two yields of a snapshot taken for a socket (each reads a few cgroup files). */
export const SNAPSHOT_CHUNK = 256;

/** The snapshot now, in one go (in-process callers, small instances). */
export function instanceSnapshot(s: SnapshotSources): StatusSnapshot {
  const steps = snapshotSteps(s);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The same snapshot, giving the event loop back every SNAPSHOT_CHUNK groups:
 * at 10,000 vhosts reading every group's files takes ~0.7 s, and read mode's
 * verdicts, which policy gives on this thread, would time out meanwhile.
 */
export async function instanceSnapshotYielding(s: SnapshotSources): Promise<StatusSnapshot> {
  const steps = snapshotSteps(s);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Builds the snapshot, yielding (nothing) after each chunk of groups; one implementation for both drivers. */
function* snapshotSteps(s: SnapshotSources): Generator<void, StatusSnapshot> {
  const { config, stats } = s;
  // Accept mode: exact counts from the loop; read mode: policy's own.
  const accept = s.classifyAt === 'accept' ? stats.accept : undefined;
  // At accept, moves for later requests (classifyEach: request) count too; read mode's policy counts its own.
  const requestMoves = stats.perRequest?.groupMoves ?? [];
  const indexOf = new Map<string, number>();
  s.groupNames.forEach((n, i) => indexOf.has(n) || indexOf.set(n, i));
  const groupIndex = new Map(liveGroups(config).map((n) => [n, indexOf.get(n) ?? -1]));
  const counts = new Map(
    accept
      ? [...groupIndex].map(([n, i]) => [n, { connections: accept.groupConnections[i] ?? 0, moves: (accept.groupMoves[i] ?? 0) + (requestMoves[i] ?? 0) }])
      : s.supervisor.counters,
  );
  const groupRow = (name: string, hosts: string[], addresses: string[]) => {
    // A group may go while a yielding snapshot is under way (a reload removed it, or the instance stopped).
    let usage: { cpuUsageUsec?: number; memoryBytes?: number; pids: number[] } = { pids: [] };
    let cgroups: string[] = [];
    try {
      usage = s.cgroups.usage(name);
      cgroups = s.cgroups.groupPaths(name);
    } catch {
      /* torn down */
    }
    return {
      name,
      hosts,
      addresses,
      cgroups,
      pids: usage.pids,
      cpuUsageUsec: usage.cpuUsageUsec,
      memoryBytes: usage.memoryBytes,
      connections: counts.get(name)?.connections ?? 0,
      moves: counts.get(name)?.moves ?? 0,
      ...(accept ? slotRow(accept, groupIndex.get(name) ?? -1) : {}),
      ...(s.placement ? { placements: s.placement.placed[name] ?? 0 } : {}),
      limits: resourcesOf(config, name),
      faults: s.faults?.since(name) ?? {},
    };
  };
  const rows: StatusSnapshot['vhosts'] = [];
  for (const v of config.vhosts) {
    rows.push(groupRow(v.name, v.hosts, v.addresses.map(formatAddress)));
    if (rows.length % SNAPSHOT_CHUNK === 0) yield;
  }
  rows.push(groupRow(DEFAULT_GROUP, [], []), groupRow(SERVER_GROUP, [], []));
  return {
    instance: s.instance,
    supervisorPid: process.pid,
    server: s.server,
    cgroupVersion: s.cgroups.version,
    vhosts: rows,
    loop: stats,
    policy: { ...s.supervisor.stats },
    tables: s.supervisor.tables.snapshot(),
    ...(s.placement ? { placement: { socket: s.placement.socket, refused: s.placement.refused } } : {}),
    warnings: s.warnings,
  };
}
