// Whose request it is and what it may place. The peer is the process that
// connected to the placement socket, as the kernel reports it (SO_PEERCRED,
// with a pidfd: SO_PEERPIDFD on Linux >= 6.5, else pidfd_open of its pid).
// Rules: a non-root peer places only itself (its own pid, or a thread of its
// own thread group); root places any process of this instance. Either way the
// target must already be in one of the instance's cgroups, so the socket
// (open to every local user) can never pull an outside process into a vhost
// group, or let one escape its own cgroup.
//
// Pid reuse: the peer's pid only counts while it still names the process that
// connected. With SO_PEERPIDFD the pidfd *is* that process: it must not have
// exited. With the pidfd_open fallback the pidfd is whatever held the pid when
// vhqos accepted the connection, so its start time must not be later than
// that accept (a process that connects, hands its socket to a child and exits
// cannot borrow a later process's pid). After the check the move goes by pid
// number: the window is the few microseconds of one cgroup write.
import { PlaceError, type PlaceRequest } from './protocol';

export interface Peer {
  pid: number;
  uid: number;
  /** A pidfd of the peer, open for the connection's lifetime. */
  pidfd: number;
  pidfdFromSocket: boolean;
  /** Boot-time clock ticks (as /proc/PID/stat counts them) when the connection was accepted. */
  acceptedTicks: number;
}

export interface PeerDeps {
  /** The process behind the pidfd has exited. */
  exited(pidfd: number): boolean;
  /** Field 22 of /proc/PID/stat (boot-time clock ticks), undefined if gone. */
  startTicks(pid: number): number | undefined;
  /** tid is a thread of pid's thread group. */
  isThreadOf(tid: number, pid: number): boolean;
  /** Which of the instance's groups holds pid now, if any. */
  groupOf(pid: number): string | undefined;
}

export interface Target {
  pid: number;
  tid?: number;
  /** Where it is now. */
  from: string;
}

/** True while the peer's pid still names the process that connected. */
export function peerStillThere(peer: Peer, deps: PeerDeps): boolean {
  if (peer.pidfdFromSocket) return !deps.exited(peer.pidfd);
  const start = deps.startTicks(peer.pid);
  // Read first, then check the pidfd: if it still runs, the start time was its own.
  if (start === undefined || deps.exited(peer.pidfd)) return false;
  return start <= peer.acceptedTicks + 1; // ticks are rounded; one of slack
}

/** The process (and thread) a request may place, or a PlaceError saying why not. */
export function authorize(peer: Peer, req: PlaceRequest, deps: PeerDeps): Target {
  if (!peerStillThere(peer, deps)) throw new PlaceError('ESRCH', `the process that connected (pid ${peer.pid}) is gone`);
  const pid = req.pid ?? peer.pid;
  if (pid !== peer.pid && peer.uid !== 0)
    throw new PlaceError('EPERM', `pid ${peer.pid} (uid ${peer.uid}) asked to place pid ${pid}: a process that is not root may only place itself`);
  if (req.tid !== undefined && !deps.isThreadOf(req.tid, pid))
    throw new PlaceError(peer.uid === 0 || pid !== peer.pid ? 'ESRCH' : 'EPERM', `tid ${req.tid} is not a thread of pid ${pid}`);
  const from = deps.groupOf(pid);
  if (from === undefined)
    throw new PlaceError(
      deps.startTicks(pid) === undefined ? 'ESRCH' : 'EPERM',
      `pid ${pid} is not in this instance's cgroups: vhqos places only processes of the server it supervises`,
    );
  return { pid, ...(req.tid === undefined ? {} : { tid: req.tid }), from };
}
