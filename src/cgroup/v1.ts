// cgroup v1 (legacy or hybrid hosts): one directory per hierarchy, the same
// group names in each. cpuset, devices, freezer and named hierarchies are left
// alone: vhqos needs nothing from them, and a cpuset group would need
// cpus/mems copied in before it could take a process.
import type { ResourceSettings } from '../types';
import { CgroupDetection, Hierarchy, V1_USED } from './detect';
import type { Backend, Usage } from './backend';
import { planV1, Plan } from './settings';
import { readOptional } from './files';
import { faultsV1, type Faults } from './faults';

export class V1Backend implements Backend {
  readonly version = 1 as const;
  readonly hierarchies: Hierarchy[];

  constructor(d: CgroupDetection) {
    this.hierarchies = d.v1.filter((h) => h.controllers.some((c) => V1_USED.includes(c)));
    if (!this.hierarchies.length) throw new Error(`cgroup: no v1 hierarchy with any of ${V1_USED.join(', ')} is mounted`);
  }

  hierarchyOf(controller: string): number {
    return this.hierarchies.findIndex((h) => h.controllers.includes(controller));
  }

  plan(group: string, r: ResourceSettings): Plan {
    return planV1(group, r);
  }

  /** v1 children get every controller of their hierarchy: nothing to enable. */
  delegate(): void {}

  undelegate(): void {}

  usage(dirs: string[]): Usage {
    const read = (controller: string, file: string) => {
      const i = this.hierarchyOf(controller);
      const text = i < 0 ? undefined : readOptional(`${dirs[i]}/${file}`);
      return text === undefined ? undefined : Number(text.trim());
    };
    const ns = read('cpuacct', 'cpuacct.usage');
    return { cpuUsageUsec: ns === undefined ? undefined : Math.round(ns / 1000), memoryBytes: read('memory', 'memory.usage_in_bytes') };
  }

  faults(dirs: string[]): Faults {
    const dir = (c: string) => (this.hierarchyOf(c) < 0 ? undefined : dirs[this.hierarchyOf(c)]);
    return faultsV1({ cpu: dir('cpu'), memory: dir('memory'), pids: dir('pids') });
  }
}
