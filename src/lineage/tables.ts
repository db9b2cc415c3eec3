// The patent's association tables (FIG. 4-5), kept by the supervisor:
//   channels    (425) which process accepted/first held which connection, its local address, its vhost
//   children    (427) parent pid -> child pids
//   fdCopies    (429) (pid, fd) -> the fds that are dups of it      } kept by the native loop, their
//   readFlags   (501) (pid, fd) -> the vhost already applied        } one owner (it acts on them), read here
// Connections are keyed by the socket's inode: it names the open socket itself, so
// it survives fork, dup and exec and cannot be confused by fd-number reuse.
// Processes are keyed by pid and forgotten on exit (the native loop watches a
// pidfd per process, so a reused pid is a new entry).
import type { ClassifiedBy } from '../types';

export interface ConnectionRecord {
  inode: number;
  /** Process and fd where vhqos first saw the connection (the acceptor for fork-after-accept). */
  pid: number;
  fd: number;
  local: { ip: string; port: number };
  peer?: { ip: string; port: number };
  vhost: string | null;
  by: ClassifiedBy;
  detail?: string;
  /** Number of reads classified on this connection (one per process that read it). */
  uses: number;
  since: number;
}

export interface ProcessRecord {
  pid: number;
  ppid: number;
  /** Group vhqos last moved it into; null when unknown (e.g. just forked). */
  group: string | null;
  /** Created by code serving a tenant (a CGI, an inetd handler): never classified, stays where it was born. */
  tenant?: boolean;
  accepts: number;
  execs: number;
  since: number;
}

export interface FdCopy {
  pid: number;
  fd: number;
  /** -1 when the copy's number is not known yet (dup / F_DUPFD). */
  newFd: number;
  syscall: string;
}

export interface TablesSnapshot {
  channels: ConnectionRecord[];
  processes: ProcessRecord[];
  children: { parent: number; children: number[] }[];
  fdCopies: FdCopy[];
  readFlags: { pid: number; fd: number; vhost: string | null; inode: number }[];
}

export class LineageTables {
  private readonly channels = new Map<number, ConnectionRecord>();
  private readonly processes = new Map<number, ProcessRecord>();
  private readonly children = new Map<number, Set<number>>();

  /**
   * @param maxChannels closed connections are not reported, so old entries are evicted oldest-first.
   * @param fdState the read flags and fd copies, from their owner (the native loop; read mode).
   */
  constructor(
    private readonly maxChannels = 4096,
    private readonly now: () => number = Date.now,
    private readonly fdState: () => Pick<TablesSnapshot, 'readFlags' | 'fdCopies'> = () => ({ readFlags: [], fdCopies: [] }),
  ) {}

  // --- processes (427) ---
  addProcess(pid: number, ppid: number, group: string | null = null, tenant = false): ProcessRecord {
    const rec: ProcessRecord = { pid, ppid, group, accepts: 0, execs: 0, since: this.now() };
    if (tenant) rec.tenant = true;
    this.processes.set(pid, rec);
    if (ppid > 0 && this.processes.has(ppid)) {
      let set = this.children.get(ppid);
      if (!set) this.children.set(ppid, (set = new Set()));
      set.add(pid);
    }
    return rec;
  }

  process(pid: number): ProcessRecord | undefined {
    return this.processes.get(pid);
  }

  /** Forget an exited process and its children edge (the loop forgets its fds). */
  removeProcess(pid: number): void {
    const rec = this.processes.get(pid);
    this.processes.delete(pid);
    this.children.delete(pid);
    if (rec) this.children.get(rec.ppid)?.delete(pid);
  }

  setGroup(pid: number, group: string): void {
    const rec = this.processes.get(pid);
    if (rec) rec.group = group;
  }

  /** accept calls of a process so far (counted by the native loop). */
  setAccepts(pid: number, accepts: number): void {
    const rec = this.processes.get(pid);
    if (rec) rec.accepts = accepts;
  }

  // --- channels (425) ---
  channel(inode: number): ConnectionRecord | undefined {
    return this.channels.get(inode);
  }

  recordChannel(rec: Omit<ConnectionRecord, 'uses' | 'since'>): ConnectionRecord {
    const old = this.channels.get(rec.inode);
    const next: ConnectionRecord = { ...rec, uses: old ? old.uses : 0, since: old ? old.since : this.now() };
    this.channels.delete(rec.inode); // re-insert: Map order is our eviction order
    this.channels.set(rec.inode, next);
    while (this.channels.size > this.maxChannels) {
      const oldest = this.channels.keys().next().value as number;
      this.channels.delete(oldest);
    }
    return next;
  }

  // --- read flags (501) and fd copies (429): the loop's ---
  /** A connection was classified at a process's read: one more use of its channel. */
  countUse(inode: number): void {
    const ch = this.channels.get(inode);
    if (ch) ch.uses++;
  }

  readFlag(pid: number, fd: number): { vhost: string | null; inode: number } | undefined {
    const f = this.fdState().readFlags.find((r) => r.pid === pid && r.fd === fd);
    return f && { vhost: f.vhost, inode: f.inode };
  }

  recordExec(pid: number): void {
    const rec = this.processes.get(pid);
    if (rec) rec.execs++;
  }

  /** Known descendants of a process, nearest first. */
  descendants(pid: number): number[] {
    const out: number[] = [];
    const queue = [...(this.children.get(pid) ?? [])];
    while (queue.length > 0 && out.length < 10000) {
      const c = queue.shift()!;
      out.push(c);
      queue.push(...(this.children.get(c) ?? []));
    }
    return out;
  }

  /** Pids vhqos believes are in `group` right now. */
  pidsIn(group: string): number[] {
    const out: number[] = [];
    for (const p of this.processes.values()) if (p.group === group) out.push(p.pid);
    return out;
  }

  /** Connections classified to each vhost (null = default) that are still in the table. */
  connectionCounts(): Map<string | null, number> {
    const counts = new Map<string | null, number>();
    for (const c of this.channels.values()) counts.set(c.vhost, (counts.get(c.vhost) ?? 0) + 1);
    return counts;
  }

  snapshot(): TablesSnapshot {
    return {
      channels: [...this.channels.values()].map((c) => ({ ...c })),
      processes: [...this.processes.values()].map((p) => ({ ...p })),
      children: [...this.children.entries()]
        .filter(([, s]) => s.size > 0)
        .map(([parent, s]) => ({ parent, children: [...s] })),
      ...this.fdState(),
    };
  }
}
