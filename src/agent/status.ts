// The agent's own status: what its socket answers to `vhqos status`. The
// agent process and the trees it supervises, not vhost rows: each tree's
// vhosts are in that tree's own snapshot, on its own status socket.
import type { AgentListenerStats } from '../native';
import type { AgentCounters, AgentInstanceStatus, AgentStatusSnapshot } from '../status/snapshot';

export interface AgentStatusSource {
  socket: string;
  startedAt: Date;
  accepting: boolean;
  cgroupVersion: 1 | 2;
  counters: AgentCounters;
  listener: AgentListenerStats;
  instances: AgentInstanceStatus[];
}

export function agentStatus(s: AgentStatusSource, now = new Date()): AgentStatusSnapshot {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    instance: 'agent',
    agent: {
      pid: process.pid,
      socket: s.socket,
      startedAt: s.startedAt.toISOString(),
      uptimeS: Math.max(0, Math.round((now.getTime() - s.startedAt.getTime()) / 1000)),
      accepting: s.accepting,
      cgroupVersion: s.cgroupVersion,
      process: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, cpuUserUsec: cpu.user, cpuSystemUsec: cpu.system },
      counters: { ...s.counters },
      listener: { ...s.listener },
      instances: s.instances,
    },
  };
}

/** Before start() and after stop(): no listener thread. */
export const NO_LISTENER: AgentListenerStats = { running: false, peers: 0, accepted: 0, timeouts: 0, oversized: 0, readErrors: 0, acceptErrors: 0 };
