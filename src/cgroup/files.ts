// Small synchronous helpers for cgroup interface files. Every failure becomes a
// CgroupError that names the file, so the caller can report it as is.
import * as fs from 'fs';
import { CgroupError } from '../errors';
export { CgroupError };


function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** Wraps a filesystem error: `cgroup: <what> <file>: <CODE> (<message>)[; hint]`. */
export function cgroupError(what: string, file: string, e: unknown, hint?: string): CgroupError {
  const x = e as NodeJS.ErrnoException;
  const text = x?.message ?? String(e);
  return new CgroupError(`cgroup: ${what} ${file}: ${text}${hint ? `; ${hint}` : ''}`, file, errno(e), x?.syscall);
}

/**
 * Writes one value with a single write(2), as the kernel wants. Opened O_WRONLY
 * without O_CREAT so a missing interface file is an error, not a new plain file.
 */
export function writeCgroupFile(file: string, value: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY);
  } catch (e) {
    throw cgroupError('cannot open', file, e);
  }
  try {
    fs.writeSync(fd, value);
  } catch (e) {
    throw cgroupError(`cannot write "${value}" to`, file, e);
  } finally {
    fs.closeSync(fd);
  }
}

export function readCgroupFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw cgroupError('cannot read', file, e);
  }
}

/** Like readCgroupFile, but undefined when the file does not exist. */
export function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw cgroupError('cannot read', file, e);
  }
}

/** pids listed in a cgroup.procs file (empty if the cgroup is gone). */
export function readProcs(dir: string): number[] {
  const text = readOptional(`${dir}/cgroup.procs`) ?? '';
  return text.split('\n').filter(Boolean).map(Number);
}

export function exists(file: string): boolean {
  return fs.existsSync(file);
}

export function isErrno(e: unknown, ...codes: string[]): boolean {
  const c = errno(e);
  return c !== undefined && codes.includes(c);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Teardown is synchronous (it may run from an exit handler), so it waits with Atomics.wait. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
