// Instance names: one live supervisor per name. The name labels the cgroup
// subtree, the status socket and the metrics, so it is stable across
// restarts (derived from the config file) and claimed before anything is
// created: a claim file <STATUS_DIR>/<name>.pid holds the supervisor's pid;
// a claim whose process is gone (or is not a node process any more) is stale
// and taken over.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATUS_DIR } from './server';
import { InstanceInUseError } from '../errors';
export { InstanceInUseError };

/** `/etc/vhqos/shop.yaml` -> `shop`: the base name without extension, made a safe cgroup name. */
export function instanceNameFromConfig(file: string): string {
  const base = path.basename(file).replace(/\.(ya?ml|json)$/i, '');
  const safe = base.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[.-]+/, '');
  return safe.slice(0, 64) || 'vhqos';
}


function claimPath(instance: string, dir: string): string {
  return path.join(dir, `${instance}.pid`);
}

/** Whether pid is a live node process (a pid reused by something else is not a supervisor). */
function isSupervisor(pid: number): boolean {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmd.some((a) => /(^|\/)(node|nodejs)$/.test(a) || /vhqos/.test(a));
  } catch {
    return false;
  }
}

/** The pid of the live supervisor holding `instance`, or null. */
export function instanceOwner(instance: string, dir = STATUS_DIR): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(claimPath(instance, dir), 'utf8').split('\n')[0].trim());
  } catch {
    return null;
  }
  return Number.isInteger(pid) && pid > 0 && isSupervisor(pid) ? pid : null;
}

/** What a claim (also a stale one) says about its instance: config file, and for the agent its container. */
export function instanceMeta(instance: string, dir = STATUS_DIR): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    for (const line of fs.readFileSync(claimPath(instance, dir), 'utf8').split('\n').slice(1)) {
      const m = /^([a-zA-Z]+)=(.*)$/.exec(line);
      if (m) out[m[1]] = m[2];
    }
  } catch {
    /* no claim */
  }
  return out;
}

/** The config file an instance was started with (from its claim, also a stale one), or undefined. */
export function instanceConfig(instance: string, dir = STATUS_DIR): string | undefined {
  return instanceMeta(instance, dir).config;
}

/** Instances with a claim (live or stale). */
export function claimedInstances(dir = STATUS_DIR): string[] {
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4));
  } catch {
    return [];
  }
}

/**
 * Claims `instance` for this process; throws InstanceInUseError if a live
 * supervisor has it. Returns the release function (idempotent).
 */
export function claimInstance(instance: string, dir = STATUS_DIR, meta: Record<string, string | undefined> = {}): () => void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = claimPath(instance, dir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      // Line 1 the pid; then what `vhqos attach` needs to know after a crash.
      const lines = Object.entries(meta).filter(([k, v]) => v !== undefined && /^[a-zA-Z]+$/.test(k) && !/\n/.test(v));
      fs.writeFileSync(file, `${process.pid}\n${lines.map(([k, v]) => `${k}=${v}\n`).join('')}`, { flag: 'wx', mode: 0o600 });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          if (fs.readFileSync(file, 'utf8').split('\n')[0] === String(process.pid)) fs.unlinkSync(file);
        } catch {
          /* gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = instanceOwner(instance, dir);
      if (owner !== null) throw new InstanceInUseError(instance, owner);
      fs.rmSync(file, { force: true }); // stale: its supervisor is gone
    }
  }
  throw new InstanceInUseError(instance, -1);
}

/** Where an instance's keeper waits for `vhqos attach` once its supervisor is gone. */
export function keeperSocketPath(instance: string, dir = STATUS_DIR): string {
  return path.join(dir, `${instance}.keeper`);
}
