// What the placement policy reads from /proc and the cgroup files (the
// PeerDeps and the moves of the real instance).
import * as fs from 'node:fs';
import type { CgroupManager } from '../cgroup';
import { PlaceError } from './protocol';

/** Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
export function startTicks(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: count from the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}

/** Now, in the same clock (/proc/uptime is boot time, in 1/100 s like USER_HZ on Linux). */
export function nowTicks(): number {
  return Math.floor(Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100);
}

export function isThreadOf(tid: number, pid: number): boolean {
  return fs.existsSync(`/proc/${pid}/task/${tid}`);
}

function holds(file: string, id: number): boolean {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').includes(String(id));
  } catch {
    return false;
  }
}

/** Which of the manager's groups holds pid (read in the first hierarchy: moves write all of them). */
export function groupOf(cgroups: CgroupManager, pid: number): string | undefined {
  return cgroups.groupNames().find((g) => holds(`${cgroups.groupPaths(g)[0]}/cgroup.procs`, pid));
}

/**
 * One thread into a group. v1: its `tasks` in every hierarchy. v2: only a
 * `threaded` group takes single threads (cgroup.threads); vhqos makes domain
 * groups (memory and io are not threaded controllers), so that is refused.
 */
export function moveThread(cgroups: CgroupManager, tid: number, group: string): void {
  const dirs = cgroups.groupPaths(group);
  if (cgroups.version === 2) {
    const type = fs.readFileSync(`${dirs[0]}/cgroup.type`, 'utf8').trim();
    if (type !== 'threaded')
      throw new PlaceError(
        'EOPNOTSUPP',
        `cgroup v2: ${group} is a "${type}" cgroup, and only threaded cgroups take single threads; ` +
          "vhqos' vhost groups are domain cgroups (memory and io are not threaded controllers): place the whole process instead",
      );
  }
  for (const d of dirs) {
    try {
      fs.writeFileSync(`${d}/${cgroups.version === 2 ? 'cgroup.threads' : 'tasks'}`, String(tid));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') throw new PlaceError('ESRCH', `thread ${tid} is gone`);
      throw new PlaceError('EIO', `cannot move thread ${tid} into ${d}: ${(e as Error).message}`);
    }
  }
}
