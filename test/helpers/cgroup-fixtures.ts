// Resource settings and a mountinfo text shared by the cgroup tests (unit and integration).
import type { ResourceSettings } from '../../src/types';

export const MiB = 1024 * 1024;

export const GOLD: ResourceSettings = {
  cpu: { weight: 200, max: 1.5 },
  memory: { max: 256 * MiB, high: 128 * MiB, low: 64 * MiB },
  io: { weight: 300 },
  pids: { max: 50 },
};

export const SILVER: ResourceSettings = { cpu: { weight: 50 }, memory: { max: 64 * MiB } };

/** A cgroup v1 hybrid host's mountinfo: named (systemd) and bind-mounted hierarchies, an escaped space. */
export const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 31 0:39 /docker/x /mnt/my\\040cg rw shared:7 - cgroup cgroup rw,cpuset,clone_children
`;
