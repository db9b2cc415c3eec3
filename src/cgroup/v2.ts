// cgroup v2: one tree; controllers must be enabled in cgroup.subtree_control
// of every ancestor, top-down, before the groups get their interface files.
import type { ResourceSettings } from '../types';
import { CgroupDetection, Hierarchy, V2_USED } from './detect';
import type { Backend, Usage } from './backend';
import { planV2, Plan } from './settings';
import { CgroupError, readCgroupFile, readOptional, writeCgroupFile } from './files';
import { faultsV2, type Faults } from './faults';

export class V2Backend implements Backend {
  readonly version = 2 as const;
  readonly hierarchies: Hierarchy[];
  /** Controllers this manager enabled, per directory (for undelegate). */
  private readonly enabled = new Map<string, string[]>();

  constructor(d: CgroupDetection) {
    if (!d.v2) throw new Error('cgroup: no cgroup2 filesystem is mounted');
    this.hierarchies = [d.v2];
  }

  /** One tree: whether a controller works shows in the group's files. */
  hierarchyOf(): number {
    return 0;
  }

  plan(group: string, r: ResourceSettings): Plan {
    return planV2(group, r);
  }

  /**
   * Adds the missing ones of cpu/memory/io/pids that `dir` has available.
   * Only adds, and remembers what it added: directories we created go away
   * with their settings; elsewhere only teardown('parent') takes ours back.
   */
  delegate(dir: string): void {
    const words = (f: string) => readCgroupFile(`${dir}/${f}`).split(/\s+/);
    const enabled = words('cgroup.subtree_control');
    const missing = words('cgroup.controllers').filter((c) => V2_USED.includes(c) && !enabled.includes(c));
    if (!missing.length) return;
    try {
      writeCgroupFile(`${dir}/cgroup.subtree_control`, missing.map((c) => `+${c}`).join(' '));
      this.enabled.set(dir, [...(this.enabled.get(dir) ?? []), ...missing]);
    } catch (e) {
      if (e instanceof CgroupError && e.code === 'EBUSY') {
        e.message += '; the cgroup holds processes itself, and cgroup v2 only lets a cgroup without processes'
          + ' hand controllers to its children: move them into a leaf group first (e.g. _server), then call setup() again';
      }
      throw e;
    }
  }

  /**
   * Needed only to move processes back into <parent> (containers): a cgroup
   * with controllers enabled for its children cannot hold processes. Errors
   * are left for that move to report.
   */
  undelegate(dir: string): void {
    const mine = this.enabled.get(dir);
    if (!mine) return;
    try {
      writeCgroupFile(`${dir}/cgroup.subtree_control`, mine.map((c) => `-${c}`).join(' '));
      this.enabled.delete(dir);
    } catch {
      // The move into `dir` fails next and says why.
    }
  }

  usage(dirs: string[]): Usage {
    const stat = readOptional(`${dirs[0]}/cpu.stat`);
    const usec = stat && /^usage_usec (\d+)$/m.exec(stat);
    const mem = readOptional(`${dirs[0]}/memory.current`);
    return { cpuUsageUsec: usec ? Number(usec[1]) : undefined, memoryBytes: mem === undefined ? undefined : Number(mem.trim()) };
  }

  faults(dirs: string[]): Faults {
    return faultsV2(dirs[0]);
  }
}
