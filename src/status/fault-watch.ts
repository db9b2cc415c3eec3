// Watches the kernel's fault counters of every group of an instance: what
// `status` shows as "faults since start", and a log line when a counter of a
// vhost grows ({"vhost":"bronze","fault":"oom_kill","count":1}), at most one
// per vhost and fault every `logEveryMs` (the count is what grew meanwhile).
import { FAULT_KINDS, faultsSince, type FaultKind, type Faults } from '../cgroup/faults';
import type { Logger } from '../logger';

/** Names in logs and metrics. cpuThrottledUsec is logged with cpu_throttled. */
export const FAULT_NAMES: Record<Exclude<FaultKind, 'cpuThrottledUsec'>, string> = {
  cpuThrottledPeriods: 'cpu_throttled',
  memoryHigh: 'memory_high',
  memoryMax: 'memory_max',
  memoryOom: 'memory_oom',
  oomKills: 'oom_kill',
  pidsMax: 'pids_max',
};

/** Groups read per tick (4 small files each on v1: 3-6 ms of the main thread). */
const DEFAULT_PER_TICK = 25;
const MIN_TICK_MS = 100;

export interface FaultWatchDeps {
  groups: () => string[];
  read: (group: string) => Faults;
  /** A group this run made: its counters started at 0, so its baseline needs no read (10,000 vhosts: seconds at start). */
  isNew?: (group: string) => boolean;
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
  /** pollSome: where the next slice starts. */
  private cursor = 0;

  constructor(private readonly deps: FaultWatchDeps) {
    for (const g of deps.groups()) this.baseline(g);
  }

  private baseline(group: string): Faults {
    let b = this.base.get(group);
    if (!b) {
      b = this.deps.isNew?.(group) ? {} : this.safeRead(group);
      this.base.set(group, b);
      if (!this.last.has(group)) this.last.set(group, b);
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
    this.read(this.deps.groups());
  }

  /**
   * Reads the next `count` groups (round robin) and logs what grew: a large
   * config is read a slice per tick, so no tick holds the main thread (which
   * answers the server's trapped syscalls in read mode) for long.
   */
  pollSome(count: number): void {
    const all = this.deps.groups();
    if (all.length <= count) return this.read(all);
    if (this.cursor >= all.length) this.cursor = 0;
    const slice = all.slice(this.cursor, this.cursor + count);
    if (slice.length < count) slice.push(...all.slice(0, count - slice.length));
    this.cursor = (this.cursor + count) % all.length;
    this.read(slice);
  }

  private read(groups: string[]): void {
    const now = (this.deps.now ?? Date.now)();
    const every = this.deps.logEveryMs ?? 10000;
    for (const group of groups) {
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

  /**
   * Every group is read once per `intervalMs`, or, past `perTick` groups,
   * `perTick` of them per tick, a tick at most every `intervalMs` and at
   * least every MIN_TICK_MS (10,000 vhosts: a full round in about 40 s).
   */
  start(intervalMs: number, perTick = DEFAULT_PER_TICK): void {
    const tick = () => {
      const n = this.deps.groups().length;
      this.pollSome(perTick);
      const next = n <= perTick ? intervalMs : Math.max(MIN_TICK_MS, Math.floor((intervalMs * perTick) / n));
      this.timer = setTimeout(tick, next);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
