// Which disk an io throttle applies to. cgroup io.max / blkio.throttle.*
// take the MAJOR:MINOR of a whole disk (partitions are refused), so a
// partition, or the filesystem holding a path, stands for its disk.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Linux dev_t encoding (the glibc major()/minor() macros). */
function split(dev: bigint): [number, number] {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return [major, minor];
}

/** A partition's disk (sysfs: a partition directory has a `partition` file; its parent is the disk). */
function wholeDisk(majMin: string, sysfs = '/sys/dev/block'): string | null {
  const link = path.join(sysfs, majMin);
  let dir: string;
  try {
    dir = fs.realpathSync(link);
  } catch {
    return null;
  }
  if (!fs.existsSync(path.join(dir, 'partition'))) return majMin;
  try {
    return fs.readFileSync(path.join(path.dirname(dir), 'dev'), 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * "MAJOR:MINOR" of the disk for io.device (a device path or MAJOR:MINOR) or
 * io.path (any file: its filesystem's disk); or why not, in words.
 */
export function resolveDisk(spec: { device?: string; path?: string }): string | { error: string } {
  let majMin: string;
  if (spec.device !== undefined) {
    if (/^\d+:\d+$/.test(spec.device)) majMin = spec.device;
    else {
      let st: fs.BigIntStats;
      try {
        st = fs.statSync(spec.device, { bigint: true });
      } catch (e) {
        return { error: `${spec.device}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such device' : (e as Error).message}` };
      }
      if (!st.isBlockDevice()) return { error: `${spec.device} is not a block device` };
      majMin = split(st.rdev).join(':');
    }
  } else if (spec.path !== undefined) {
    let st: fs.BigIntStats;
    try {
      st = fs.statSync(spec.path, { bigint: true });
    } catch (e) {
      return { error: `${spec.path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}` };
    }
    const [major, minor] = split(st.dev);
    if (major === 0) return { error: `${spec.path} is on a filesystem without a disk (tmpfs, overlay, a network filesystem): nothing to throttle` };
    majMin = `${major}:${minor}`;
  } else {
    return { error: 'needs io.device or io.path (the disk to throttle)' };
  }
  const disk = wholeDisk(majMin);
  return disk ?? { error: `${spec.device ?? spec.path}: no block device ${majMin} in /sys/dev/block` };
}

/** The disk's I/O scheduler ("bfq", "mq-deadline", "none"), or undefined. */
export function schedulerOf(majMin: string): string | undefined {
  try {
    return /\[([^\]]+)\]/.exec(fs.readFileSync(`/sys/dev/block/${majMin}/queue/scheduler`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Disks (not partitions) and their schedulers, from /sys/block; loop and ram disks left out. */
export function disks(): { name: string; dev: string; scheduler?: string }[] {
  let names: string[];
  try {
    names = fs.readdirSync('/sys/block');
  } catch {
    return [];
  }
  return names
    .filter((n) => !/^(loop|ram|zram)\d/.test(n))
    .map((name) => {
      let dev = '';
      try {
        dev = fs.readFileSync(`/sys/block/${name}/dev`, 'utf8').trim();
      } catch {
        /* none */
      }
      return { name, dev, scheduler: dev ? schedulerOf(dev) : undefined };
    })
    .filter((d) => d.dev);
}

/**
 * Why io.weight would do nothing, or undefined: it is honoured by BFQ (and
 * on v2 by blk-iocost's io.weight); with mq-deadline or none it is not.
 */
export function ioWeightProblem(version: 1 | 2, devices?: string[]): string | undefined {
  const all = disks();
  const which = devices?.length ? all.filter((d) => devices.includes(d.dev)) : all;
  if (!which.length) return undefined;
  const iocost = version === 2 && fs.existsSync('/sys/fs/cgroup/io.cost.qos');
  const ok = which.filter((d) => d.scheduler === 'bfq' || iocost);
  if (ok.length) return undefined;
  return `io.weight has no effect: ${which.map((d) => `${d.name} uses ${d.scheduler ?? 'no'} scheduler`).join(', ')}; it needs BFQ (echo bfq > /sys/block/<disk>/queue/scheduler)${version === 2 ? ' or blk-iocost' : ''}`;
}
