// Tests that need something this machine may lack (root, a tool, the other
// cgroup version, loop devices) declare it here:
//
//   requires(root(), tools('runc')).serial('runc: ...', async (t) => { ... });
//
// When a prerequisite is missing the test registers as *skipped with its
// reason*, never as passed. Under CI (CI=true, as .ci/run sets it) a skip is
// only allowed for the prerequisites named in VHQOS_ALLOW_SKIP (a comma list of
// the ids below, what that machine is known to lack, e.g. "cgroup-v2" on the
// v1 host): any other missing prerequisite fails the test, so a tier that
// silently could not run turns CI red.
import test, { type Implementation } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { detectCgroups } from '../../src/cgroup/detect';

/** Something a test needs: `id` names it in VHQOS_ALLOW_SKIP; `missing` says why it is absent here, or null. */
export interface Prerequisite {
  id: string;
  missing: string | null;
}

type Impl = Implementation<[]>;
interface Register {
  (title: string, fn: Impl): void;
  serial(title: string, fn: Impl): void;
}

/** What the environment allows to be missing: null outside CI (anything may skip). */
export function allowedSkips(env: NodeJS.ProcessEnv = process.env): Set<string> | null {
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
  if (!ci) return null;
  return new Set((env.VHQOS_ALLOW_SKIP ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}

/**
 * How a test with these prerequisites registers: 'run', 'skip' with the
 * reason, or 'fail' with the reason (CI, a prerequisite not on the allow-list).
 */
export function decide(needs: Prerequisite[], allowed: Set<string> | null): { as: 'run' | 'skip' | 'fail'; reason: string } {
  const absent = needs.filter((n) => n.missing !== null);
  if (!absent.length) return { as: 'run', reason: '' };
  const reason = absent.map((n) => n.missing).join('; ');
  const unexpected = allowed === null ? [] : absent.filter((n) => !allowed.has(n.id));
  if (!unexpected.length) return { as: 'skip', reason };
  return {
    as: 'fail',
    reason: `cannot run here: ${reason} (CI allows skips only for VHQOS_ALLOW_SKIP="${[...allowed!].join(',')}"; missing ${unexpected.map((n) => n.id).join(', ')})`,
  };
}

/** Registers tests that run only when every prerequisite is present (see the top of this file). */
export function requires(...needs: Prerequisite[]): Register {
  const { as, reason } = decide(needs, allowedSkips());
  const make = (serial: boolean) => (title: string, fn: Impl) => {
    const reg = serial ? test.serial : test;
    if (as === 'run') reg(title, fn);
    else if (as === 'fail') reg(title, (t) => t.fail(reason));
    else reg.skip(`${title} [skipped: ${reason}]`, fn);
  };
  return Object.assign(make(false), { serial: make(true) });
}

/**
 * The older form, kept for test files written against it on other branches:
 * a serial test needing one prerequisite with no id of its own (so under CI
 * it may never be missing); `required` fails it anywhere. Use requires().
 */
export function serialIf(missing: string | null, required = false): (title: string, fn: Impl) => void {
  if (required && missing !== null) return (title) => test.serial(title, (t) => t.fail(`cannot run here: ${missing}`));
  return requires(prerequisite('unnamed', missing)).serial;
}

// ---------------------------------------------------------------- prerequisites

export function root(): Prerequisite {
  return { id: 'root', missing: process.getuid?.() === 0 ? null : 'needs root' };
}

/** The cgroup version vhqos uses on this machine. */
export function cgroupVersion(v: 1 | 2): Prerequisite {
  let here: 1 | 2;
  try {
    here = detectCgroups().version;
  } catch (e) {
    return { id: `cgroup-v${v}`, missing: (e as Error).message };
  }
  const elsewhere = here === 1
    ? 'this host is cgroup v1 (hybrid); it runs in the cgroup v2 VM: bash scripts/test-in-vm.sh'
    : 'this machine is cgroup v2; it runs on a cgroup v1 (hybrid) host';
  return { id: `cgroup-v${v}`, missing: here === v ? null : elsewhere };
}

/** Executable on PATH (or the usual sbin directories, which a non-root PATH may lack). */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'].filter(Boolean);
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Each tool is its own prerequisite (id = its name), so the allow-list can name one engine. */
export function tools(...names: string[]): Prerequisite[] {
  return names.map((name) => ({ id: name, missing: which(name) ? null : `${name} is not installed` }));
}

/** Loop block devices (losetup) exist: the cgroup v2 VM's kernel has no loop driver. */
export function loopDevices(): Prerequisite {
  return {
    id: 'loop-devices',
    missing: fs.existsSync('/dev/loop-control') ? null : 'no loop devices (no loop driver in this kernel: the cgroup v2 VM has no modules)',
  };
}

/** A prerequisite of the test's own making: `missing` null when present. */
export function prerequisite(id: string, missing: string | null): Prerequisite {
  return { id, missing };
}
