// What differs between cgroup v1 and v2, behind one small interface; the
// manager (tree, ownership, moves, teardown) is the same for both.
import type { ResourceSettings } from '../types';
import type { Hierarchy } from './detect';
import type { Plan } from './settings';
import type { Faults } from './faults';

export interface Usage {
  cpuUsageUsec?: number;
  memoryBytes?: number;
}

export interface Backend {
  readonly version: 1 | 2;
  /** Hierarchies groups are created in (v2: exactly one). */
  readonly hierarchies: Hierarchy[];
  /** Index in `hierarchies` of the one providing `controller`, or -1. */
  hierarchyOf(controller: string): number;
  plan(group: string, resources: ResourceSettings): Plan;
  /** Lets the children of `dir` (an ancestor of the groups) use the controllers. */
  delegate(dir: string): void;
  /** Takes back what delegate(dir) enabled, so `dir` may hold processes again (v2). */
  undelegate(dir: string): void;
  /** Reads usage from one group's directories (aligned with `hierarchies`). */
  usage(dirs: string[]): Usage;
  /** The kernel's fault counters of one group (see faults.ts). */
  faults(dirs: string[]): Faults;
}
