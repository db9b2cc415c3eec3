// `--cgroup-parent self`: vhqos runs in a cgroup delegated to it (a systemd
// unit with Delegate=yes) and builds the instance's tree *below* it, so the
// service manager sees every process of the instance as its unit's (stop,
// kill, accounting). cgroup v2 lets a cgroup either hold processes or hand
// controllers to its children, never both: vhqos first moves itself into a
// leaf beside the instance; the keeper and the server, forked after this,
// start there too. systemd >= 254 can put the main process into that leaf
// itself (DelegateSubgroup=supervisor): then nothing has to move.
//
//   <unit>/supervisor             vhqos, its keeper
//   <unit>/<instance>/{gold,...}   the vhost groups, _default, _server
//
// cgroup v1 (hybrid hosts): systemd delegates no v1 controller to a unit, and
// v1 has no such rule, so the default parent is used as without the option.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupDirOf, type CgroupDetection } from './detect';
import { readProcs } from './files';

/** The --cgroup-parent value that asks for this. */
export const SELF_PARENT = 'self';
/** The leaf vhqos and its keeper run in (systemd: DelegateSubgroup=supervisor). */
export const SUPERVISOR_LEAF = 'supervisor';
/** Where systemd runs ExecReload= etc. of a delegated unit: never ours to use. */
const SYSTEMD_CONTROL = '.control';
const DEFAULT_PARENT = 'vhqos';

/**
 * The instance's parent (a path under the cgroup2 mount, no leading slash)
 * for a process in `own` (the same kind of path): its own cgroup, or the one
 * above if it already is in the supervisor leaf. Pure.
 */
export function delegatedParentOf(own: string): string {
  const parts = own.split('/').filter(Boolean);
  if (parts[parts.length - 1] === SUPERVISOR_LEAF) parts.pop();
  if (parts.length === 0) {
    throw new Error('--cgroup-parent self: vhqos runs in the root cgroup, which is nobody\'s to delegate;'
      + ' run it as a systemd service with Delegate=yes (deploy/systemd/vhqos-apache.service) or name a parent');
  }
  return parts.join('/');
}

export interface DelegatedParent {
  /** What to pass on as the cgroup parent. */
  parent: string;
  /** For the log: what was done. */
  message: string;
}

export interface EnterOptions {
  detection: CgroupDetection;
  /** The instance name (its cgroup goes beside the leaf: they must differ). */
  instance: string;
  /** Default: this process. */
  pid?: number;
}

/**
 * Resolves `self` and, on cgroup v2, moves the process into the supervisor
 * leaf (created if missing). Throws with the reason if the delegated cgroup
 * cannot take the instance (the root cgroup, other processes in it).
 */
export function enterDelegatedCgroup(o: EnterOptions): DelegatedParent {
  const pid = o.pid ?? process.pid;
  const v2 = o.detection.v2;
  if (o.detection.version !== 2 || !v2) {
    return { parent: DEFAULT_PARENT, message: `cgroup v1: --cgroup-parent self uses the default parent "${DEFAULT_PARENT}" (systemd delegates no v1 controllers; the unit still sees every process)` };
  }
  if (o.instance === SUPERVISOR_LEAF || o.instance === SYSTEMD_CONTROL) {
    throw new Error(`--cgroup-parent self: the instance cannot be named "${o.instance}" (that cgroup is the supervisor's or systemd's); use --instance`);
  }
  const ownDir = cgroupDirOf(v2, fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), 2);
  if (!ownDir) throw new Error(`--cgroup-parent self: this process's cgroup is not visible under ${v2.mountPoint}`);
  const parent = delegatedParentOf(path.relative(v2.mountPoint, ownDir));
  const parentDir = path.join(v2.mountPoint, parent);
  const leafDir = path.join(parentDir, SUPERVISOR_LEAF);
  if (ownDir !== leafDir) {
    try {
      fs.mkdirSync(leafDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`--cgroup-parent self: cannot create ${leafDir}: ${(e as Error).message}`);
    }
    try {
      fs.writeFileSync(path.join(leafDir, 'cgroup.procs'), String(pid));
    } catch (e) {
      throw new Error(`--cgroup-parent self: cannot move vhqos into ${leafDir}: ${(e as Error).message}`);
    }
  }
  // The parent must end up without processes, or no controller reaches the vhost groups.
  const others = readProcs(parentDir);
  if (others.length) {
    throw new Error(`--cgroup-parent self: ${parentDir} still holds process(es) ${others.join(', ')} besides vhqos;`
      + ' cgroup v2 cannot give controllers to the vhost groups then: start vhqos as the unit\'s main process (ExecStart=, not a shell that stays)');
  }
  return {
    parent,
    message: ownDir === leafDir
      ? `delegated cgroup: vhqos runs in ${leafDir}, the instance goes to ${path.join(parentDir, o.instance)}`
      : `delegated cgroup: moved vhqos from ${ownDir} into ${leafDir}, the instance goes to ${path.join(parentDir, o.instance)}`,
  };
}
