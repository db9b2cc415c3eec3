// What `vhqos status` shows: one running supervisor's view of its vhosts,
// their cgroups and the lineage tables. Plain JSON over the status socket.
import type { TablesSnapshot } from '../lineage/tables';
import type { LoopStats } from '../native';

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
