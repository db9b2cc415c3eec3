// Vhost names are leaf cgroup directory names, created beside the kernel's
// interface files of the instance's cgroup: a name the kernel uses for a
// file there ("cgroup.procs", "tasks", "memory.limit_in_bytes", on v1 or v2,
// today or in a later kernel) would fail at start-up or at reload with
// EEXIST, or worse, shadow a controller file. Refused by the loader instead.

/** Interface files without a controller prefix (cgroup v1). */
const PLAIN_FILES: readonly string[] = ['tasks', 'notify_on_release', 'release_agent'];

/** Controllers (v1 and v2) and the cgroup core: their files are named `PREFIX.something`. */
const FILE_PREFIXES: readonly string[] = [
  'cgroup', 'cpu', 'cpuacct', 'cpuset', 'memory', 'memsw', 'io', 'blkio', 'pids', 'hugetlb', 'rdma', 'misc',
  'net_cls', 'net_prio', 'devices', 'freezer', 'perf_event', 'irq',
];

/** Why `name` cannot be a cgroup directory beside the interface files, or undefined if it can. */
export function cgroupNameClash(name: string): string | undefined {
  const dot = name.indexOf('.');
  const prefix = dot < 0 ? undefined : name.slice(0, dot);
  if (!PLAIN_FILES.includes(name) && (prefix === undefined || !FILE_PREFIXES.includes(prefix))) return undefined;
  const what = prefix === undefined ? `"${name}" is a cgroup interface file` : `names starting with "${prefix}." are cgroup interface files`;
  return `the vhost name is its cgroup's directory name, and ${what}: rename the vhost (e.g. "${dot < 0 ? `${name}-site` : name.replace(/\./g, '-')}")`;
}
