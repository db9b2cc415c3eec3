// A runtime's message: one container start (its init) or one exec, brought
// under supervision with the container's vhqos config, its vhost cgroups
// inside the container's own cgroup. A process that cannot be supervised is
// failed (killed while still in the runtime's init code), never left hanging.
import * as fs from 'fs';
import { AgentProtocolError, cgroupParentOf, clip, configPathOf, instanceBase, instanceName, type RuntimeMessage } from './protocol';
import { containerLogger, oneLine, type AgentContext } from './context';
import { NO_DRAIN_LIMIT } from './supervised-tree';

export const SECCOMP_LISTENER_LINK = 'anon_inode:seccomp notify';

export async function superviseRuntime(ctx: AgentContext, msg: RuntimeMessage, fds: number[], peer: { peerPid: number; peerUid: number }): Promise<void> {
  const listener = fds[msg.seccompIndex];
  fds.forEach((fd, i) => i !== msg.seccompIndex && ctx.closeFd(fd));
  const id = msg.state.id;
  const log = containerLogger(ctx.log, { container: id.slice(0, 12), role: msg.role, containerPid: msg.pid });
  let instance = instanceName(msg);
  try {
    const link = ctx.readFdLink(listener);
    if (link !== SECCOMP_LISTENER_LINK) throw new AgentProtocolError(`the fd named seccompFd is not a seccomp listener (${link || 'unreadable'})`);
    const configFile = configPathOf(msg);
    const config = ctx.loadConfig(configFile);
    instance = await ctx.registry.freeName(instance, msg.pid);
    const d = ctx.detection();
    const main = msg.role === 'exec' ? ctx.registry.mainOf(id) : undefined;
    const cgroupParent = main?.cgroupParent ?? cgroupParentOf(ctx.readProcCgroup(msg.pid), d, instanceBase(id));
    const moved = ctx.vacateParent(d, cgroupParent, instance);
    if (moved.length) log.debug({ pids: moved, instance }, 'cgroup v2: moved the container\'s processes into _server');
    const statusSocket = ctx.statusSocketFor(instance, log);
    const label = msg.role === 'create' ? `container ${clip(id, 12)}` : `exec ${msg.pid} in container ${clip(id, 12)}`;
    const tree = ctx.supervise({
      config,
      configFile,
      command: [label],
      listener,
      pid: msg.pid,
      instance,
      cgroupParent,
      moveBackTo: 'parent',
      statusSocket,
      logger: log,
      drainMs: NO_DRAIN_LIMIT,
      native: ctx.native,
      // What the next agent needs to take this container back if this one dies.
      claimMeta: { agentContainer: id, role: msg.role, cgroupParent },
    });
    ctx.counters.supervised++;
    ctx.registry.track({ id, instance, role: msg.role, pid: msg.pid, config: configFile, cgroupParent, statusSocket: statusSocket || null }, tree, log);
    log.info({ instance, cgroupParent, config: configFile, runtimeVersion: msg.ociVersion }, msg.role === 'create' ? 'supervising container' : 'supervising exec in container');
  } catch (e) {
    ctx.counters.rejected++;
    ctx.closeFd(listener);
    const what = msg.role === 'create' ? 'container' : 'exec';
    const killed = failProcess(ctx, msg.pid, peer.peerPid);
    log.error(
      { ...peer, instance, bundle: msg.state.bundle },
      `container ${clip(id, 64)} not supervised: ${oneLine(e)}; ` +
        (killed
          ? `killed its ${msg.role === 'create' ? 'init' : 'exec\'d process'} (pid ${msg.pid}, still in the runtime's init code) so the runtime fails the ${what}`
          : `pid ${msg.pid} left alone (not a process under a seccomp filter that the sender started or runs in)`),
    );
  }
}

function parentPid(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * Makes the runtime fail a container (or exec) the agent will not
 * supervise. Closing the listener is not enough: runc-init holds a copy of
 * it, so its trapped syscalls would wait forever. The process has run no
 * container code yet (it is blocked in runc-init), so it is killed, which
 * runc reports ("unable to start container process: ..."). Only a process
 * tied to the connection is touched: the sender's child (runc, youki) or
 * parent (crun sends from a helper it forks), that is under a seccomp filter.
 */
function failProcess(ctx: AgentContext, pid: number, peerPid: number): boolean {
  if (!(pid > 0) || !(peerPid > 0)) return false;
  if (parentPid(pid) !== peerPid && parentPid(peerPid) !== pid) return false;
  try {
    if (!/^Seccomp:\s*2$/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))) return false;
    const pidfd = ctx.native.pidfdOpen(pid);
    try {
      ctx.native.pidfdSendSignal(pidfd, 9);
    } finally {
      ctx.closeFd(pidfd);
    }
    return true;
  } catch {
    return false;
  }
}
