// What a reload changes: the difference between the running config and the
// new one (the patent's QoS table is added to, modified and deleted at run
// time). Pure: Instance.reload() applies it.
import { isDeepStrictEqual } from 'node:util';
import type { ResourceSettings, VhqosConfig } from '../types';

export interface ReloadPlan {
  added: string[];
  removed: string[];
  /** Limits changed (cgroup files, connection slots, pids allowance). */
  limitsChanged: string[];
  /** Host names or addresses changed (the classification table). */
  matchChanged: string[];
  defaultChanged: boolean;
  /** Options a reload cannot change (they shape how the server was started): kept as they are. */
  needRestart: string[];
}

/** Options read once at start (the seccomp filter, the loop's mode and its buffers). */
const START_ONLY: (keyof VhqosConfig['options'])[] = ['classifyAt', 'maxHeldConnections', 'firstByteTimeoutMs', 'peekBytes', 'verdictTimeoutMs'];

export function planReload(cur: VhqosConfig, next: VhqosConfig): ReloadPlan {
  const before = new Map(cur.vhosts.map((v) => [v.name, v]));
  const after = new Map(next.vhosts.map((v) => [v.name, v]));
  const plan: ReloadPlan = { added: [], removed: [], limitsChanged: [], matchChanged: [], defaultChanged: false, needRestart: [] };
  for (const v of next.vhosts) {
    const old = before.get(v.name);
    if (!old) plan.added.push(v.name);
    else {
      if (!isDeepStrictEqual(old.resources, v.resources)) plan.limitsChanged.push(v.name);
      if (!isDeepStrictEqual(old.hosts, v.hosts) || !isDeepStrictEqual(old.addresses, v.addresses)) plan.matchChanged.push(v.name);
    }
  }
  for (const v of cur.vhosts) if (!after.has(v.name)) plan.removed.push(v.name);
  plan.defaultChanged = !isDeepStrictEqual(cur.default, next.default);
  for (const k of START_ONLY) if (!isDeepStrictEqual(cur.options[k], next.options[k])) plan.needRestart.push(`options.${k}`);
  return plan;
}

export function planIsEmpty(p: ReloadPlan): boolean {
  return !p.added.length && !p.removed.length && !p.limitsChanged.length && !p.matchChanged.length && !p.defaultChanged;
}

/** One line per change, for the log and `vhqos reload`. */
export function describePlan(p: ReloadPlan): string[] {
  const out: string[] = [];
  if (p.added.length) out.push(`added: ${p.added.join(', ')}`);
  if (p.removed.length) out.push(`removed: ${p.removed.join(', ')} (their processes moved to _default)`);
  if (p.limitsChanged.length) out.push(`limits changed: ${p.limitsChanged.join(', ')}`);
  if (p.matchChanged.length) out.push(`hosts/addresses changed: ${p.matchChanged.join(', ')}`);
  if (p.defaultChanged) out.push('default changed');
  if (p.needRestart.length) out.push(`not changed (need a restart): ${p.needRestart.join(', ')}`);
  if (!out.length) out.push('nothing changed');
  return out;
}

/** A reload keeps the options that need a restart as they were. */
export function effectiveConfig(cur: VhqosConfig, next: VhqosConfig): VhqosConfig {
  const options = { ...next.options };
  for (const k of START_ONLY) (options as Record<string, unknown>)[k] = cur.options[k];
  return { ...next, options };
}

export type { ResourceSettings };
