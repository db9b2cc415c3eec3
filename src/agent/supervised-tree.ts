// What supervising one process tree looks like to the agent: an attached
// Instance (src/supervisor/instance.ts), or a test double.
import { Instance, type AttachOptions } from '../supervisor/instance';
import type { StatusSnapshot } from '../status/snapshot';

export interface SupervisedTree {
  readonly instance: string;
  /** Resolves once the tree is gone and its cgroups and status socket are cleaned up. */
  wait(): Promise<unknown>;
  /** Stop waiting for stragglers (poststop: the runtime says the container is gone). */
  finish(): void;
  /** The agent exits while the tree runs on: answer what is pending (parked accepts) now. */
  handBack?(): void;
  snapshot?(): StatusSnapshot;
}

/** After the root exits, keep supervising until the tree is gone (hup) or poststop: no time limit. */
export const NO_DRAIN_LIMIT = 2 ** 31 - 1;

export function attachInstance(opts: AttachOptions): SupervisedTree {
  const run = Instance.attach(opts);
  return {
    instance: run.name,
    wait: () => run.wait(),
    // The supervisor's "done" ends the drain that follows the root's exit.
    finish: () => run.supervisor.handle({ kind: 'stopped', needsVerdict: false }),
    handBack: () => run.handBack(),
    snapshot: () => run.snapshot(),
  };
}
