// Config settings that are valid but probably not what the operator meant:
// reported by `vhqos validate` and logged by `vhqos run`, never refused (the
// same file may be meant for a bigger machine).
import { availableParallelism } from 'node:os';
import type { ResourceSettings, VhqosConfig } from '../types';
import { formatPercent } from './units';
import { keyPath } from './load';

export interface MachineFacts {
  /** CPUs this process may run on (affinity and cpuset included). */
  cpus: number;
}

export function thisMachine(): MachineFacts {
  return { cpus: availableParallelism() };
}

/** One line per warning, in the loader's `path: problem` style. */
export function configWarnings(cfg: VhqosConfig, machine: MachineFacts = thisMachine()): string[] {
  const warnings: string[] = [];
  const check = (r: ResourceSettings, base: string) => {
    // cpu.max is a fraction of one CPU (1.5 = 150%): above the CPU count it can never bind.
    const max = r.cpu?.max;
    if (max !== undefined && max > machine.cpus) {
      warnings.push(
        `${base}.cpu.max: ${formatPercent(max)} is more than this machine's ${machine.cpus} CPU${machine.cpus === 1 ? '' : 's'} ` +
          `(${formatPercent(machine.cpus)}): the limit never binds here`,
      );
    }
  };
  for (const v of cfg.vhosts) check(v.resources, keyPath('vhosts', v.name));
  check(cfg.default, 'default');
  return warnings;
}
