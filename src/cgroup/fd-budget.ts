// How many groups' cgroup files a supervisor keeps open (see open-files.ts and
// native/open_files.h), from its open-files limit: an eighth of it goes to
// them (two native movers, the pids allowance and policy's own moves share
// that), the rest stays for what grows with traffic (a pidfd per supervised
// process, listener copies, held connections). Node raises the soft limit to
// the hard one at start; the hard one is the operator's (LimitNOFILE=).
import * as fs from 'fs';

export const MIN_OPEN_GROUPS = 16;
export const MAX_OPEN_GROUPS = 4096;

/** The soft RLIMIT_NOFILE of this process ("Max open files" of /proc/self/limits); undefined: unlimited or unknown. */
export function openFilesLimit(limits?: string): number | undefined {
  let text = limits;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
}

/** Groups whose files stay open, for a limit of `limit` fds and `hierarchies` files per group. */
export function openGroupsBudget(limit: number | undefined, hierarchies: number): number {
  if (limit === undefined) return MAX_OPEN_GROUPS;
  const n = Math.floor(limit / 8 / Math.max(1, hierarchies));
  return Math.min(MAX_OPEN_GROUPS, Math.max(MIN_OPEN_GROUPS, n));
}
