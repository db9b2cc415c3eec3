// What `vhqos status` shows: one running supervisor's view of its vhosts,
// their cgroups and the lineage tables. Plain JSON over the status socket.
import type { TablesSnapshot } from '../lineage/tables';
import type { AgentListenerStats, LoopStats } from '../native';
import type { Faults } from '../cgroup/faults';
import type { ResourceSettings } from '../types';

export interface GroupStatus {
  name: string;
  hosts: string[];
  addresses: string[];
  cgroups: string[];
  pids: number[];
  cpuUsageUsec?: number;
  memoryBytes?: number;
  connections: number;
  moves: number;
  /** classifyAt accept: connections held by server processes now (slots in use). */
  serving?: number;
  /** Connections waiting inside vhqos for a slot now (its connections.max is reached). */
  waiting?: number;
  /** Connections that had to wait for a slot, since start. */
  queued?: number;
  /** Connections refused (503 / closed) after waiting queueTimeoutMs, since start. */
  refused?: number;
  /** Server processes in this cgroup idle in accept now (not the tenant's: see pids.max). */
  idle?: number;
  /** With a placement socket: processes (or threads) placed in this group over it, since start. */
  placements?: number;
  /** The configured limits (normalised: bytes, fractions of a CPU). */
  limits: ResourceSettings;
  /** The kernel's fault counters since the instance started (src/cgroup/faults.ts). */
  faults: Faults;
}

export interface StatusSnapshot {
  instance: string;
  supervisorPid: number;
  server: { pid: number; command: string[]; exited: { code: number | null; signal: number | null } | null };
  cgroupVersion: 1 | 2;
  vhosts: GroupStatus[];
  loop: LoopStats;
  policy: Record<string, number>;
  tables: TablesSnapshot;
  /** The placement socket (run --placement-only): its path and refusals by code since start (placements are per vhost). */
  placement?: { socket: string; refused: Record<string, number> };
  warnings: string[];
}

/** One process tree the agent supervises (it has a status socket of its own, unless statusSocket is null). */
export interface AgentInstanceStatus {
  /** The container id. */
  id: string;
  instance: string;
  role: 'create' | 'exec';
  pid: number;
  config: string;
  cgroupParent: string;
  statusSocket: string | null;
  since: string;
}

/** What happened on the agent's socket since it started. */
export interface AgentCounters {
  /** Messages received (probes and refused ones included). */
  accepted: number;
  probes: number;
  rejected: number;
  /** Process trees taken under supervision (new ones and readopted ones). */
  supervised: number;
  /** Of those, taken back from an earlier agent. */
  readopted: number;
  /** Control and status requests answered. */
  control: number;
}

/**
 * What the agent's own socket answers to `vhqos status` (`vhqos agent`): the
 * agent process, its listener and the trees it supervises. The vhosts of
 * each tree are in that tree's own snapshot (its status socket).
 */
export interface AgentStatusSnapshot {
  instance: 'agent';
  agent: {
    pid: number;
    socket: string;
    startedAt: string;
    uptimeS: number;
    /** false once stop() began. */
    accepting: boolean;
    cgroupVersion: 1 | 2;
    process: { rssBytes: number; heapUsedBytes: number; cpuUserUsec: number; cpuSystemUsec: number };
    counters: AgentCounters;
    /** The listener thread's own counts (peers being read now, timeouts, oversized messages, errors). */
    listener: AgentListenerStats;
    instances: AgentInstanceStatus[];
  };
}

export function isAgentStatus(s: StatusSnapshot | AgentStatusSnapshot): s is AgentStatusSnapshot {
  return typeof (s as AgentStatusSnapshot).agent === 'object' && (s as AgentStatusSnapshot).agent !== null;
}
