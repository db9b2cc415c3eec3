// Watches the kernel's fault counters of every group of an instance: what
// `status` shows as "faults since start", and a log line when a counter of a
// vhost grows ({"vhost":"bronze","fault":"oom_kill","count":1}), at most one
// per vhost and fault every `logEveryMs` (the count is what grew meanwhile).
import { FAULT_KINDS, faultsSince, type FaultKind, type Faults } from '../cgroup/faults';
import type { Logger } from '../supervisor/supervisor';

/** Names in logs and metrics. cpuThrottledUsec is logged with cpu_throttled. */
export const FAULT_NAMES: Record<Exclude<FaultKind, 'cpuThrottledUsec'>, string> = {
  cpuThrottledPeriods: 'cpu_throttled',
  memoryHigh: 'memory_high',
  memoryMax: 'memory_max',
  memoryOom: 'memory_oom',
  oomKills: 'oom_kill',
  pidsMax: 'pids_max',
};

export interface FaultWatchDeps {
  groups: () => string[];
  read: (group: string) => Faults;
  logger: Logger;
  logEveryMs?: number;
  now?: () => number;
}

export class FaultWatch {
  private readonly base = new Map<string, Faults>();
  private readonly last = new Map<string, Faults>();
  /** Per "group/kind": counter value last logged, and when. */
  private readonly logged = new Map<string, { value: number; at: number }>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly deps: FaultWatchDeps) {
    for (const g of deps.groups()) this.baseline(g);
  }

  private baseline(group: string): Faults {
    let b = this.base.get(group);
    if (!b) {
      b = this.safeRead(group);
      this.base.set(group, b);
      this.last.set(group, b);
    }
    return b;
  }

  private safeRead(group: string): Faults {
    try {
      return this.deps.read(group);
    } catch {
      return {}; // torn down
    }
  }

  /** Faults since the watch started (since the group appeared, for later ones). */
  since(group: string): Faults {
    return faultsSince(this.baseline(group), this.last.get(group) ?? {});
  }

  /** Reads every group once and logs what grew. */
  poll(): void {
    const now = (this.deps.now ?? Date.now)();
    const every = this.deps.logEveryMs ?? 10000;
    for (const group of this.deps.groups()) {
      this.baseline(group);
      const cur = this.safeRead(group);
      this.last.set(group, cur);
      for (const kind of FAULT_KINDS) {
        if (kind === 'cpuThrottledUsec' || cur[kind] === undefined) continue;
        const key = `${group}/${kind}`;
        const prev = this.logged.get(key) ?? { value: this.base.get(group)?.[kind] ?? 0, at: -Infinity };
        const grew = cur[kind]! - prev.value;
        if (grew <= 0 || now - prev.at < every) continue;
        this.logged.set(key, { value: cur[kind]!, at: now });
        const extra = kind === 'cpuThrottledPeriods' ? { throttledUsec: this.since(group).cpuThrottledUsec } : {};
        this.deps.logger.warn({ vhost: group, fault: FAULT_NAMES[kind], count: grew, total: this.since(group)[kind], ...extra }, `${group}: ${FAULT_NAMES[kind]} x${grew}`);
      }
    }
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
