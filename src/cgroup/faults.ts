// The kernel's fault counters of one group: where a vhost hits its limits.
// v2: cpu.stat (nr_throttled, throttled_usec), memory.events (high, max, oom,
// oom_kill), pids.events (max). v1: cpu.stat (nr_throttled, throttled_time
// in ns), memory.failcnt (limit hits), memory.oom_control (oom_kill; Linux
// >= 4.13), pids.events (max). Counters the kernel does not offer are absent.
import { readOptional } from './files';

export interface Faults {
  /** CPU periods in which the group was throttled by its cpu.max, and for how long (µs). */
  cpuThrottledPeriods?: number;
  cpuThrottledUsec?: number;
  /** v2 memory.events high: reclaim forced by memory.high. */
  memoryHigh?: number;
  /** Hits of the memory limit (v2 memory.events max; v1 memory.failcnt). */
  memoryMax?: number;
  /** v2 memory.events oom: the limit could not be kept by reclaim. */
  memoryOom?: number;
  /** Processes killed by the OOM killer inside the group. */
  oomKills?: number;
  /** fork/clone refused by pids.max (pids.events max). */
  pidsMax?: number;
}

export const FAULT_KINDS = ['cpuThrottledPeriods', 'cpuThrottledUsec', 'memoryHigh', 'memoryMax', 'memoryOom', 'oomKills', 'pidsMax'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** `key value` lines (cpu.stat, memory.events, pids.events, memory.oom_control). */
export function parseKeyed(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\S+) (\d+)$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

function put(f: Faults, key: FaultKind, v: number | undefined): void {
  if (v !== undefined && Number.isFinite(v)) f[key] = v;
}

/** v2: one directory. */
export function faultsV2(dir: string): Faults {
  const f: Faults = {};
  const cpu = parseKeyed(readOptional(`${dir}/cpu.stat`));
  put(f, 'cpuThrottledPeriods', cpu.get('nr_throttled'));
  put(f, 'cpuThrottledUsec', cpu.get('throttled_usec'));
  const mem = parseKeyed(readOptional(`${dir}/memory.events`));
  put(f, 'memoryHigh', mem.get('high'));
  put(f, 'memoryMax', mem.get('max'));
  put(f, 'memoryOom', mem.get('oom'));
  put(f, 'oomKills', mem.get('oom_kill'));
  put(f, 'pidsMax', parseKeyed(readOptional(`${dir}/pids.events`)).get('max'));
  return f;
}

/** v1: the group's directory in the cpu, memory and pids hierarchies (undefined: not mounted). */
export function faultsV1(dirs: { cpu?: string; memory?: string; pids?: string }): Faults {
  const f: Faults = {};
  if (dirs.cpu) {
    const cpu = parseKeyed(readOptional(`${dirs.cpu}/cpu.stat`));
    put(f, 'cpuThrottledPeriods', cpu.get('nr_throttled'));
    const ns = cpu.get('throttled_time');
    put(f, 'cpuThrottledUsec', ns === undefined ? undefined : Math.round(ns / 1000));
  }
  if (dirs.memory) {
    const failcnt = readOptional(`${dirs.memory}/memory.failcnt`);
    put(f, 'memoryMax', failcnt === undefined ? undefined : Number(failcnt.trim()));
    put(f, 'oomKills', parseKeyed(readOptional(`${dirs.memory}/memory.oom_control`)).get('oom_kill'));
  }
  if (dirs.pids) put(f, 'pidsMax', parseKeyed(readOptional(`${dirs.pids}/pids.events`)).get('max'));
  return f;
}

/** b - a per counter (counters only grow; a reset group counts from 0). */
export function faultsSince(base: Faults, now: Faults): Faults {
  const out: Faults = {};
  for (const k of FAULT_KINDS) {
    const v = now[k];
    if (v === undefined) continue;
    const b = base[k] ?? 0;
    out[k] = v >= b ? v - b : v;
  }
  return out;
}
