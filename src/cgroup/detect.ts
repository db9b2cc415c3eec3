// Finds the cgroup hierarchies from /proc/self/mountinfo and decides which
// backend to use. Nothing here assumes mount point names: hybrid hosts mount
// v1 controllers wherever (and co-mounted, e.g. "cpu,cpuacct", or not).
import * as fs from 'fs';
import * as path from 'path';

/** One mounted cgroup hierarchy. */
export interface Hierarchy {
  /** Where it is mounted in this mount namespace. */
  mountPoint: string;
  /** The cgroup the mount shows (mountinfo field 4): '/' unless bind-mounted or namespaced. */
  mountRoot: string;
  /** v1: controllers bound to it (from the mount options); v2: its cgroup.controllers. */
  controllers: string[];
  /**
   * Mounted with favordynmods (Linux >= 6.0): cgroup moves skip an RCU grace
   * period (about 8 ms each when idle on v1) at the price of slower fork and
   * exit system-wide. The operator's choice; vhqos only reports it.
   */
  favordynmods?: boolean;
}

export interface CgroupDetection {
  version: 1 | 2;
  /** Every v1 hierarchy with at least one controller (named ones like name=systemd are left out). */
  v1: Hierarchy[];
  /** The cgroup2 mount with the most controllers, if any. */
  v2?: Hierarchy;
}

const V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'blkio', 'pids', 'devices', 'freezer',
  'net_cls', 'net_prio', 'perf_event', 'hugetlb', 'rdma', 'misc',
]);
/** v1 controllers vhqos creates groups for. */
export const V1_USED = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'];
/** v2 controllers vhqos enables and uses. */
export const V2_USED = ['cpu', 'memory', 'io', 'pids'];

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** cgroup and cgroup2 mounts in a mountinfo text; v2 controllers are left empty (they live in a file). */
export function parseMountinfo(text: string): { v1: Hierarchy[]; v2: Hierarchy[] } {
  const v1: Hierarchy[] = [];
  const v2: Hierarchy[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 6 || f.length < sep + 4) continue;
    const type = f[sep + 1];
    const h: Hierarchy = { mountRoot: unescape(f[3]), mountPoint: unescape(f[4]), controllers: [] };
    if (f[sep + 3].split(',').includes('favordynmods')) h.favordynmods = true;
    if (type === 'cgroup2') v2.push(h);
    else if (type === 'cgroup') {
      h.controllers = f[sep + 3].split(',').filter((o) => V1_CONTROLLERS.has(o));
      // The same hierarchy may be mounted twice (bind mounts): keep the first.
      if (h.controllers.length && !v1.some((o) => o.controllers.join() === h.controllers.join())) v1.push(h);
    }
  }
  return { v1, v2 };
}

function readControllers(mountPoint: string): string[] {
  try {
    return fs.readFileSync(path.join(mountPoint, 'cgroup.controllers'), 'utf8').split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * v2 when a cgroup2 mount offers any of cpu/memory/io/pids; else v1 when a v1
 * hierarchy has any of the controllers vhqos uses (hybrid or legacy hosts);
 * else v2 if cgroup2 is mounted at all (moves work, limits will warn).
 */
export function detectCgroups(mountinfo?: string): CgroupDetection {
  const m = parseMountinfo(mountinfo ?? fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  const useful = (h: Hierarchy) => h.controllers.filter((c) => V2_USED.includes(c)).length;
  for (const h of m.v2) h.controllers = readControllers(h.mountPoint);
  const v2 = m.v2.sort((a, b) => useful(b) - useful(a) || a.mountPoint.length - b.mountPoint.length)[0];
  const v1 = m.v1;
  let version: 1 | 2;
  if (v2 && useful(v2) > 0) version = 2;
  else if (v1.some((h) => h.controllers.some((c) => V1_USED.includes(c)))) version = 1;
  else if (v2) version = 2;
  else throw new Error('cgroup: no cgroup hierarchy is mounted (see /proc/self/mountinfo)');
  return { version, v1, v2 };
}

/** Entries of /proc/PID/cgroup: "ID:controllers:path" (v2 has ID 0 and no controllers). */
export function parseProcCgroup(text: string): { id: number; controllers: string[]; path: string }[] {
  return text.split('\n').filter(Boolean).map((line) => {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    return { id: Number(line.slice(0, a)), controllers: line.slice(a + 1, b).split(',').filter(Boolean), path: line.slice(b + 1) };
  });
}

/**
 * Directory (under the mount point) of the cgroup a process is in, in one
 * hierarchy; undefined if the process is outside what the mount shows.
 */
export function cgroupDirOf(h: Hierarchy, procCgroup: string, version: 1 | 2): string | undefined {
  const e = parseProcCgroup(procCgroup).find((x) =>
    version === 2 ? x.id === 0 : x.controllers.includes(h.controllers[0]));
  if (!e) return undefined;
  const root = h.mountRoot === '/' ? '' : h.mountRoot;
  if (e.path !== root && !e.path.startsWith(`${root}/`)) return undefined;
  return path.join(h.mountPoint, e.path.slice(root.length));
}
