// At start: the containers an earlier agent supervised and that still run
// (their keeper answers for them meanwhile) are taken back, each under its
// old instance name, with the config and cgroup parent it was claimed with.
import { claimedInstances, instanceMeta, instanceOwner, keeperSocketPath } from '../status/instance-registry';
import { clip } from './protocol';
import { containerLogger, oneLine, type AgentContext } from './context';
import { NO_DRAIN_LIMIT } from './supervised-tree';

export function readopt(ctx: AgentContext): void {
  for (const instance of claimedInstances()) {
    const meta = instanceMeta(instance);
    if (!meta.agentContainer || !meta.config || instanceOwner(instance) !== null) continue;
    const log = containerLogger(ctx.log, { container: meta.agentContainer.slice(0, 12), role: meta.role });
    let back: { conn: number; listener: number; pendingFd: number; rootPid: number };
    try {
      back = ctx.native.attachKeeper(keeperSocketPath(instance));
    } catch {
      continue; // no keeper: the container is gone (its stale claim goes with the next one of that name)
    }
    try {
      const config = ctx.loadConfig(meta.config);
      const statusSocket = ctx.statusSocketFor(instance, log);
      const role = meta.role === 'exec' ? 'exec' : 'create';
      const tree = ctx.supervise({
        config,
        configFile: meta.config,
        command: [`container ${clip(meta.agentContainer, 12)}`],
        listener: back.listener,
        pid: back.rootPid,
        keeper: { conn: back.conn, pendingFd: back.pendingFd },
        instance,
        cgroupParent: meta.cgroupParent,
        moveBackTo: 'parent',
        placeRoot: false,
        statusSocket,
        logger: log,
        drainMs: NO_DRAIN_LIMIT,
        native: ctx.native,
        claimMeta: { agentContainer: meta.agentContainer, role: meta.role ?? 'create', cgroupParent: meta.cgroupParent ?? '' },
      });
      ctx.registry.track(
        { id: meta.agentContainer, instance, role, pid: back.rootPid, config: meta.config, cgroupParent: meta.cgroupParent ?? '', statusSocket: statusSocket || null },
        tree,
        log,
      );
      ctx.counters.supervised++;
      ctx.counters.readopted++;
      log.info({ instance, pid: back.rootPid }, 'supervising again a container an earlier agent supervised');
    } catch (e) {
      ctx.closeFd(back.conn); // its keeper answers for it again
      log.error({ instance }, `could not take container ${clip(meta.agentContainer, 64)} back: ${oneLine(e)}`);
    }
  }
}
