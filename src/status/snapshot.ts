// What `vhqos status` shows: one running supervisor's view of its vhosts,
// their cgroups and the lineage tables. Plain JSON over the status socket.
import type { TablesSnapshot } from '../lineage/tables';
import type { LoopStats } from '../native';
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
  warnings: string[];
}
