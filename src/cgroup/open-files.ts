// cgroup.procs fds of the groups moved into most recently, at most `maxGroups`
// of them: a large config (10,000 vhosts x 5 v1 hierarchies) must not hold an
// fd per vhost and hierarchy, and opening a cgroup.procs costs about as much
// as the move it serves, so the few groups of a small config stay open.
// (The native movers keep their own, see native/open_files.h.)
import * as fs from 'fs';
import { cgroupError, isErrno } from './files';

export type OpenFile = (file: string) => number;

// libuv opens every file O_CLOEXEC: the server never inherits these.
const openForWrite: OpenFile = (file) => fs.openSync(file, fs.constants.O_WRONLY);

export class OpenGroupFiles {
  /** Map order is use order: the first entry is the least recently used. */
  private readonly open = new Map<string, number[]>();

  constructor(readonly maxGroups: number, private readonly openFile: OpenFile = openForWrite, private readonly close: (fd: number) => void = fs.closeSync) {
    if (!Number.isInteger(maxGroups) || maxGroups < 1) throw new Error(`cgroup: maxGroups must be a positive integer, not ${maxGroups}`);
  }

  /** The fds of `files` (one per hierarchy) for `group`, opened on first use. A failed open throws a CgroupError naming the file. */
  fds(group: string, files: string[]): number[] {
    const hit = this.open.get(group);
    if (hit) {
      this.open.delete(group);
      this.open.set(group, hit);
      return hit;
    }
    const fds: number[] = [];
    try {
      for (const f of files) fds.push(this.openOne(f, group));
    } catch (e) {
      fds.forEach((fd) => this.close(fd));
      throw cgroupError('cannot open', files[fds.length], e);
    }
    this.open.set(group, fds);
    for (const [g] of this.open) {
      if (this.open.size <= this.maxGroups) break;
      this.forget(g);
    }
    return fds;
  }

  /** Out of fds: every other group's go back, and one more try. */
  private openOne(file: string, group: string): number {
    try {
      return this.openFile(file);
    } catch (e) {
      if (!isErrno(e, 'EMFILE', 'ENFILE') || this.open.size === 0) throw e;
      for (const g of [...this.open.keys()]) if (g !== group) this.forget(g);
      return this.openFile(file);
    }
  }

  forget(group: string): void {
    const fds = this.open.get(group);
    if (!fds) return;
    this.open.delete(group);
    for (const fd of fds) this.close(fd);
  }

  closeAll(): void {
    for (const g of [...this.open.keys()]) this.forget(g);
  }

  get size(): number {
    return this.open.size;
  }
}
