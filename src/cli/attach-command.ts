// `vhqos attach --instance NAME [--config FILE]`: after the supervisor of an
// instance died (kill -9, OOM), its keeper answers CONTINUE so the server goes
// on unclassified. attach takes the seccomp listener back from that keeper,
// takes in the processes in the instance's cgroups and resumes classifying,
// without restarting the server. It never moves or stops the server's
// processes on its own account: if there is nothing to attach to, it says so.
import * as fs from 'node:fs';
import { ConfigError, loadConfig } from '../config/load';
import { loadNative } from '../native';
import { Instance } from '../supervisor/instance';
import { instanceConfig, instanceMeta, instanceOwner, keeperSocketPath } from '../status/instance-registry';
import type { Logger } from '../logger';

export interface AttachArgs {
  instance: string;
  config?: string;
  logger: Logger;
  /** `vhqos run` trying first: a keeper that does not answer is not an error (NO_KEEPER is returned). */
  tryOnly?: boolean;
  /** The cgroup parent the instance was started with (`vhqos run` passes its own). */
  cgroupParent?: string;
}

/** attachCommand's answer when tryOnly and there is no keeper to attach to. */
export const NO_KEEPER = -1;

function placementOf(recorded: string | undefined): 'socket' | 'only' | undefined {
  return recorded === 'socket' || recorded === 'only' ? recorded : undefined;
}

/** Whether an instance's server runs on under its keeper (its supervisor died): attach, not start another. */
export function orphanedInstance(instance: string): boolean {
  return instanceOwner(instance) === null && fs.existsSync(keeperSocketPath(instance));
}

export async function attachCommand(a: AttachArgs): Promise<number> {
  const owner = instanceOwner(a.instance);
  if (owner !== null) {
    console.error(`vhqos: instance "${a.instance}" has a live supervisor (pid ${owner}): nothing to attach`);
    return 1;
  }
  const file = a.config ?? instanceConfig(a.instance);
  if (!file) {
    console.error(`vhqos: which config does instance "${a.instance}" use? Give it with --config FILE`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(file);
  } catch (e) {
    console.error(e instanceof ConfigError ? `vhqos: invalid configuration\n${e.message}` : `vhqos: ${(e as Error).message}`);
    return 2;
  }
  const native = loadNative();
  let back: { conn: number; listener: number; pendingFd: number; rootPid: number };
  try {
    back = native.attachKeeper(keeperSocketPath(a.instance));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (a.tryOnly && (code === 'ENOENT' || code === 'ECONNREFUSED')) {
      fs.rmSync(keeperSocketPath(a.instance), { force: true }); // a killed keeper's leftover
      return NO_KEEPER;
    }
    const why =
      code === 'ENOENT' || code === 'ECONNREFUSED'
        ? `no keeper for instance "${a.instance}" (${keeperSocketPath(a.instance)}): its server is not running under vhqos`
        : code === 'EBUSY'
          ? `instance "${a.instance}" has a supervisor attached already`
          : (e as Error).message;
    console.error(`vhqos: ${why}`);
    return 1;
  }
  let command: string[] = [];
  try {
    command = fs.readFileSync(`/proc/${back.rootPid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    /* gone: the run ends at once */
  }
  let supervised: Instance;
  try {
    supervised = Instance.attach({
      config,
      configFile: file,
      command,
      logger: a.logger,
      instance: a.instance,
      cgroupParent: a.cgroupParent,
      listener: back.listener,
      pid: back.rootPid,
      keeper: { conn: back.conn, pendingFd: back.pendingFd },
      placeRoot: false,
      placeSupervisor: true, // as `vhqos run` did: on v1 its groups are <instance>/vhosts/<vhost>
      // A placement socket (--placement-only) is offered again: its server may ask at any time.
      placement: placementOf(instanceMeta(a.instance).placement),
      native,
    });
  } catch (e) {
    // Closing the connection hands the listener back to the keeper.
    native.close(back.conn);
    console.error(`vhqos: ${(e as Error).message}`);
    return 1;
  }
  a.logger.info({ instance: a.instance, serverPid: back.rootPid }, a.tryOnly
    ? 'the previous vhqos of this instance died and its server still runs: attached to it instead of starting another (attached: classifying again)'
    : 'attached: classifying again');
  // Stopping an attached supervisor leaves the server running: what it holds
  // goes back to the server, and the keeper answers again.
  const leave = (sig: NodeJS.Signals) => {
    a.logger.info({ signal: sig }, 'detaching: the keeper answers for the server again');
    supervised.handBack();
    process.exit(0);
  };
  process.once('SIGTERM', leave);
  process.once('SIGINT', leave);
  await supervised.wait();
  return 0;
}
