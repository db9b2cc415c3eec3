// The trees the agent supervises, by instance name: listed from the moment
// supervision starts until the tree is gone and cleaned up. The one place
// that knows which container runs which instances.
import type { AgentInstanceStatus, StatusSnapshot } from '../status/snapshot';
import { sleep, type AgentLogger } from './context';
import type { SupervisedTree } from './supervised-tree';

interface Entry extends AgentInstanceStatus {
  tree: SupervisedTree;
  done: Promise<void>;
  finished: boolean;
}

export interface RegistryWaits {
  /** A restarted container reuses its id: how long to wait for the old instance's cleanup. */
  replaceWaitMs: number;
  /** poststop: how long to wait for a container's instances to finish before cutting them short. */
  poststopWaitMs: number;
}

export class TreeRegistry {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly log: AgentLogger, private readonly waits: RegistryWaits) {}

  /** Lists a supervised tree until it is gone (its cgroups and status removed). */
  track(info: Omit<AgentInstanceStatus, 'since'>, tree: SupervisedTree, log: AgentLogger): void {
    const entry: Entry = { ...info, since: new Date().toISOString(), tree, finished: false, done: Promise.resolve() };
    entry.done = tree
      .wait()
      .then(
        () => log.info({ instance: info.instance }, 'container process tree gone: cgroups and status removed'),
        (err) => log.error({ err, instance: info.instance }, 'cleanup failed'),
      )
      .finally(() => {
        entry.finished = true;
        if (this.entries.get(info.instance) === entry) this.entries.delete(info.instance);
      });
    this.entries.set(info.instance, entry);
  }

  list(): AgentInstanceStatus[] {
    return [...this.entries.values()].map(({ tree: _t, done: _d, finished: _f, ...rest }) => rest);
  }

  /** The container's own (create) instance while it runs: an exec goes beside it. */
  mainOf(id: string): AgentInstanceStatus | undefined {
    return [...this.entries.values()].find((e) => e.id === id && e.role === 'create' && !e.finished);
  }

  /** A restarted container reuses its id: let the old instance clean up first, or take another name. */
  async freeName(instance: string, pid: number): Promise<string> {
    const old = this.entries.get(instance);
    if (!old || old.finished) return instance;
    await Promise.race([old.done, sleep(this.waits.replaceWaitMs)]);
    if (!this.entries.has(instance)) return instance;
    return `${instance}-r${pid}`;
  }

  /** poststop: the container is gone; waits for its trees, then ends the supervision of those still listed. */
  async endContainer(id: string): Promise<{ cleaned: string[]; pending: string[] }> {
    const mine = [...this.entries.values()].filter((e) => e.id === id);
    await Promise.race([Promise.all(mine.map((e) => e.done)), sleep(this.waits.poststopWaitMs)]);
    const late = mine.filter((e) => !e.finished);
    for (const e of late) {
      this.log.warn({ container: id.slice(0, 12), instance: e.instance }, 'poststop: process tree still registered; ending its supervision');
      try {
        e.tree.finish();
      } catch (err) {
        this.log.error({ err, instance: e.instance }, 'poststop: could not end supervision');
      }
    }
    if (late.length) await Promise.race([Promise.all(late.map((e) => e.done)), sleep(2000)]);
    return { cleaned: mine.filter((e) => e.finished).map((e) => e.instance), pending: mine.filter((e) => !e.finished).map((e) => e.instance) };
  }

  /** Before this process exits with containers still running: every supervised tree answers what it holds. */
  handBackAll(): void {
    for (const e of this.entries.values()) {
      try {
        e.tree.handBack?.();
      } catch (err) {
        this.log.warn({ err, instance: e.instance }, 'could not hand back pending notifications');
      }
    }
  }

  statusSockets(): string[] {
    return [...this.entries.values()].map((e) => e.statusSocket).filter((s): s is string => !!s);
  }

  /** Each supervised tree's own status (for the agent's metrics: one vhqos_instance label each). */
  snapshots(): StatusSnapshot[] {
    const out: StatusSnapshot[] = [];
    for (const e of this.entries.values()) {
      try {
        const s = e.tree.snapshot?.();
        if (s) out.push(s);
      } catch {
        /* finishing */
      }
    }
    return out;
  }
}
