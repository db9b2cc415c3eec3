// Loads the native core (prebuilt for this platform, or built from source)
// and gives its surface a type. The addon throws one kind of error: a
// SyscallError (src/errors.ts) with `code`, `errno` (negative, Node's
// convention) and `syscall`, constructed natively from the class given here.
import * as path from 'node:path';
import { SyscallError, VhqosError, type SyscallFacts } from './errors';

export interface SocketFacts {
  isSocket: boolean;
  domain: number;
  type: number;
  listening: boolean;
  nonblocking: boolean;
  inode: number;
  local?: { ip: string; port: number };
  peer?: { ip: string; port: number };
}

interface EventBase {
  needsVerdict: boolean;
  id?: bigint;
  tid?: number;
  pid?: number;
  syscall?: string;
}

/** Events from the notification loop, in the order the kernel delivered them. */
export type LoopEvent =
  | (EventBase & { kind: 'read'; id: bigint; pid: number; tid: number; fd: number; socket: SocketFacts; bytes: Buffer; peekResult: number; waitedMs: number; accepts?: number; peerClosed?: boolean })
  /** afterAccept: the process accepted since its last fork (fork-after-accept); the fork itself was not held. */
  | (EventBase & { kind: 'fork'; pid: number; tid: number; flags?: number; accepts?: number; afterAccept?: boolean })
  | (EventBase & { kind: 'dup'; pid: number; fd: number; newFd?: number })
  | (EventBase & { kind: 'close'; pid: number; fd?: number; fds?: number[] })
  | (EventBase & { kind: 'exec'; pid: number; tid: number })
  | (EventBase & { kind: 'process'; pid: number; tid: number; ppid: number; tenant?: boolean })
  | (EventBase & { kind: 'exit'; pid: number })
  | (EventBase & { kind: 'timeout'; id: bigint })
  | (EventBase & { kind: 'hup' })
  | (EventBase & { kind: 'stopped' })
  | (EventBase & { kind: 'error'; errno: number; code: string; syscall: string })
  | (EventBase & { kind: 'handovers'; items: HandOver[] })
  /**
   * classifyEach: request: processes moved for a later request of their
   * connection (by, detail: that request's). Read mode: one per move, before
   * the read continues; at accept: the latest move per process, every 20 ms.
   */
  | (EventBase & { kind: 'requests'; items: HandOver[] });

/** One connection the accept-mode loop classified, placed and handed to the server (reported in batches). */
export interface HandOver {
  /** The process it was handed to. */
  pid: number;
  /** Index into the loop's groups. */
  group: number;
  /** Index into the vhost table, -1: default. */
  vhost: number;
  by: 'sni' | 'host' | 'address' | 'default';
  detail?: string;
  local: { ip: string; port: number };
  peer: { ip: string; port: number };
  inode: number;
  /** The process had to be moved into the group first. */
  moved: boolean;
  /** How long the connection waited inside vhqos for its first bytes (0: they were there). */
  heldMs: number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Counters of classification at accept (all zero in read mode). */
export interface AcceptStats {
  accepts: number;
  handovers: number;
  moves: number;
  moveErrors: number;
  noMoveNeeded: number;
  held: number;
  heldNow: number;
  heldTimeouts: number;
  dropped: number;
  interrupted: number;
  /** Connections vhqos made to the server's own listener so that a server polling it calls accept again. */
  wakeups: number;
  eagain: number;
  notListener: number;
  tenantAccepts: number;
  listeners: number;
  parkedNow: number;
  waitingNow: number;
  /** Hand-overs reported to policy (a sample: at most 32 per 20 ms), and those left out. */
  reported: number;
  unreported: number;
  /** Exact per group (index as in LoopOptions.groups): connections handed over, and of them moved first. */
  groupConnections: number[];
  groupMoves: number[];
  /** Connection slots per group: held by server processes now; waiting for a slot now; waited (total); refused after queueTimeoutMs (total). */
  groupServing: number[];
  groupQueuedNow: number[];
  groupQueued: number[];
  groupRefused: number[];
  /** Server processes parked in accept (idle) in each group. */
  groupIdle: number[];
  /** sock_diag queries made to learn whether handed-over connections are still open. */
  slotChecks: number;
  /** Most processes parked on one listener at once (the server's free pool, as seen). */
  parkedPeak: number;
  /** pids.max rewrites (configured value + idle server processes in the group). */
  pidsWrites: number;
  /** Accept → hand-over, µs, of connections whose first bytes were there (no move / with a move). */
  handoverUs: LatencySummary;
  handoverMovedUs: LatencySummary;
}

export interface LoopStats {
  notifications: number;
  fast: number;
  quietInspections: number;
  events: number;
  verdicts: number;
  timeouts: number;
  parked: number;
  sendErrors: number;
  running: boolean;
  /** Classification at accept (present on every native loop; absent in summaries that have no loop). */
  accept?: AcceptStats;
  /** classifyEach: request (zero otherwise; absent in summaries that have no loop). */
  perRequest?: PerRequestStats;
}

/** Counters of classifyEach: request. */
export interface PerRequestStats {
  /** Reads of a watched connection looked at (peeked, never waited for). */
  inspected: number;
  /** Of them, the start of a new HTTP/1.x request. */
  requests: number;
  /** Requests for another group than their process was in: moved. */
  reclassified: number;
  moves: number;
  moveErrors: number;
  /** Request heads cut short before their Host: left where they were. */
  incomplete: number;
  /** Connections no longer watched: TLS, an address-only listener, an fd reused. */
  unwatched: number;
  /** Per group (index as in LoopOptions.groups). */
  groupMoves: number[];
}

export interface LoopOptions {
  verdictTimeoutMs?: number;
  firstByteTimeoutMs?: number;
  peekBytes?: number;
  peek?: boolean;
  classifyAt?: 'accept' | 'read';
  /** startKeeper's pendingFd: parked accepts are listed there, so the keeper answers them if vhqos is killed. */
  pendingFd?: number;
  /** Set SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP on (true) or off (false); absent: leave as it is. */
  syncWakeup?: boolean;
  /** accept: the compiled vhost table (vhost i = group i). */
  vhostTable?: VhostTableSpec;
  /** accept, and classifyEach request: per group, its cgroup.procs files (one per hierarchy). */
  groups?: string[][];
  serverGroup?: number;
  defaultGroup?: number;
  maxHeld?: number;
  /** accept: per group, connection slots (max 0: unlimited). */
  slots?: { max?: number; reserve?: number; queueTimeoutMs?: number }[];
  /** accept: per group with a pids.max, its value and pids.max files: vhqos writes value + idle server processes. */
  pidsMax?: ({ max: number; files: string[] } | null)[];
  /**
   * 'request': every later request on a classified connection is classified
   * again by its Host and its process moved (needs vhostTable, groups and
   * defaultGroup, and the read trap set). Default 'connection'.
   */
  classifyEach?: 'connection' | 'request';
  /**
   * How many groups' cgroup files (cgroup.procs, pids.max) each mover keeps
   * open; the least recently used beyond are closed and opened again when
   * needed. Default 256.
   */
  openGroups?: number;
}

/** What policy answers to a notification it was asked about. */
export type Verdict =
  | { kind: 'continue' }
  /** Continue; later reads of that fd need no policy. group: the one it was classified to (its read flag). */
  | { kind: 'quiet'; group?: number }
  /** Do not answer yet: peek again after retryMs and deliver the read anew (the target keeps waiting). */
  | { kind: 'peekAgain'; retryMs: number }
  /** The syscall fails with this errno. */
  | { kind: 'fail'; errno: number };

export interface NativeLoop {
  start(): void;
  stop(): void;
  /** group: index into options.groups the process is in (accept mode). */
  addProcess(pid: number, group?: number, tenant?: boolean): void;
  /** False if it was already answered (timed out) or is unknown. */
  respond(id: bigint, verdict: Verdict): boolean;
  stats(): LoopStats;
  /** The read-mode fd tables the loop owns: read flags (501, group index as in LoopOptions.groups) and fd copies (429). */
  /**
   * A reload, applied on the loop thread between two notifications. Accept
   * mode: vhost i of the table is group vhostGroups[i]; newGroups are
   * appended to the groups; slots/pidsMax cover every group; the processes
   * of removedGroups count as _default's.
   */
  reconfigure(o: {
    vhostTable: VhostTableSpec;
    vhostGroups?: number[];
    newGroups?: string[][];
    removedGroups?: number[];
    slots?: LoopOptions['slots'];
    pidsMax?: LoopOptions['pidsMax'];
  }): void;
  fdTables(): { readFlags: { pid: number; fd: number; group: number; inode: number }[]; fdCopies: { pid: number; fd: number; newFd: number; syscall: string }[] };
}

export interface Features {
  userNotif: boolean;
  newListener: boolean;
  syncWakeup: boolean;
  waitKillableRecv: boolean;
  addfd: boolean;
  addfdSend: boolean;
  pidfdOpen: boolean;
  pidfdGetfd: boolean;
  listenerError?: string;
}

export interface SpawnOptions {
  file: string;
  argv: string[];
  env: string[];
  cwd?: string;
  stdio?: (number | null)[];
  newProcessGroup?: boolean;
  /** Which syscalls the filter traps. Default read. accept-requests: accept and the reads (classifyEach: request at accept). none: nothing (stand-alone placement). */
  traps?: 'read' | 'accept' | 'accept-requests' | 'none';
}

/** How connections on a listener are classified: by name (SNI/Host, then address) or by address only. */
export type ListenerMode = 'name' | 'address';

/** The tables of the native classifier (native/vhost_table.h); VhqosConfig's vhosts fit as they are. */
export interface VhostTableSpec {
  /** An address with `prefix` is a range (network and prefix length, as AddressMatcher has them): the most specific match wins. */
  vhosts: { name: string; hosts?: string[]; addresses?: { ip: string; prefix?: number; port?: number }[] }[];
  /** Per listener: exact ip:port first, then port-only (no ip), then defaultListenerMode. */
  listeners?: { ip?: string; port: number; mode: ListenerMode }[];
  defaultListenerMode?: ListenerMode;
  /** The loop's peek size: at or above it more bytes are not waited for (default 65536). */
  peekBytes?: number;
}

/** A native verdict: createClassifier's Classification plus needsMoreBytes. */
export interface NativeVerdict {
  vhost: string | null;
  by: 'sni' | 'host' | 'address' | 'default';
  detail?: string;
  incomplete: boolean;
}

export interface NativeVhostTable {
  /** useNames (default true) false: by address only. */
  classify(localIp: string, localPort: number, bytes: Uint8Array, useNames?: boolean): NativeVerdict;
  modeFor(localIp: string, localPort: number): ListenerMode;
  /** Nanoseconds per classify over `iterations` calls, timed inside the addon. */
  timeClassify(localIp: string, localPort: number, bytes: Uint8Array, iterations: number, useNames?: boolean): number;
}

export type NativeSniResult = { kind: 'sni' | 'no-sni' | 'incomplete' | 'not-tls'; host?: string };
export type NativeHostResult = { kind: 'host' | 'no-host' | 'incomplete' | 'not-http'; host?: string };
export type NativeH2Result = { kind: 'host' | 'no-host' | 'incomplete' | 'not-h2'; host?: string };

export interface NativeBinding {
  Loop: new (listenerFd: number, options: LoopOptions, onEvent: (ev: LoopEvent) => void) => NativeLoop;
  spawn(opts: SpawnOptions): { pid: number; pidfd: number; listener: number; syncWakeup: boolean };
  /** pendingFd: the table of held notifications the keeper answers first if vhqos dies (LoopOptions.pendingFd). */
  /** attachPath: the keeper's socket for `vhqos attach` (root only); rootPid: told to who attaches. */
  startKeeper(listenerFd: number, attachPath?: string, rootPid?: number): { pid: number; pipeFd: number; pendingFd: number };
  /** Takes the listener back from a keeper whose supervisor is gone; keep `conn` open (closing it hands back). */
  attachKeeper(path: string): { conn: number; listener: number; pendingFd: number; rootPid: number };
  waitExit(pidfd: number): { code: number | null; signal: number | null } | null;
  pidfdOpen(pid: number): number;
  pidfdGetfd(pidfd: number, fd: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  describeFd(fd: number): SocketFacts;
  peek(fd: number, max: number): Buffer;
  readMemory(pid: number, addr: bigint, len: number): Buffer;
  close(fd: number): void;
  notifIdValid(listenerFd: number, id: bigint): boolean;
  probe(): Features;
  /** A listening unix stream socket (CLOEXEC, non-blocking) at path, chmod mode. */
  unixListen(path: string, mode?: number, backlog?: number): number;
  /**
   * Accepts on `listenFd` on a thread of its own (not the libuv pool) and
   * reads each peer's one JSON message with the fds sent along, every peer
   * within its own peerTimeoutMs. onEvent gets (null, message) or (error):
   * an accept or read error (the peer's connection and fds are closed then).
   */
  AgentListener: new (
    listenFd: number,
    options: { peerTimeoutMs: number; maxBytes: number; maxPeers: number },
    // err: a plain Error with code, errno and syscall (src/agent/listener.ts makes it a SyscallError).
    onEvent: (err: (Error & SyscallFacts & { peerPid?: number }) | null, message: ReceivedMessage | null) => void,
  ) => NativeAgentListener;
  /** The trapped syscalls of each mode ("fcntl": only F_DUPFD / F_DUPFD_CLOEXEC). */
  trappedSyscalls: { read: string[]; accept: string[]; acceptRequests: string[] };
  /** The native classifier, for tests and inspection (the loop uses it directly). */
  VhostTable: new (spec: VhostTableSpec) => NativeVhostTable;
  parseTlsSni(bytes: Uint8Array): NativeSniResult;
  parseHttpHost(bytes: Uint8Array): NativeHostResult;
  parseH2Authority(bytes: Uint8Array): NativeH2Result;
  /** Read mode: Apache's dummy request from a local peer whose socket is (or was) one of these processes'. */
  ownConnection(localIp: string, localPort: number, peerIp: string, peerPort: number, bytes: Uint8Array, serverPids: number[]): boolean;
}

export interface NativeAgentListener {
  /** Joins the thread; peers still sending are closed. Events already queued still arrive. Idempotent. */
  stop(): void;
  stats(): AgentListenerStats;
}

export interface AgentListenerStats {
  running: boolean;
  /** Peers whose message is being read now. */
  peers: number;
  accepted: number;
  /** Peers whose time ran out first (what they sent is delivered, incomplete). */
  timeouts: number;
  /** Messages cut at maxBytes. */
  oversized: number;
  readErrors: number;
  acceptErrors: number;
}

export interface ReceivedMessage {
  connFd: number;
  /** Peer credentials (SO_PEERCRED). */
  pid: number;
  uid: number;
  gid: number;
  data: Buffer;
  /** A whole JSON value arrived; false: EOF, size cap or the peer went quiet first. */
  complete: boolean;
  /** The peer's time ran out before its message was complete. */
  timedOut: boolean;
  fds: number[];
}

/** The typed error every native failure arrives as (src/errors.ts). */
export type NativeError = SyscallError;

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof SyscallError;
}

const packageRoot = path.resolve(__dirname, '..', '..');

let cached: NativeBinding | undefined;

/** The addon, loaded once. Throws an actionable error if none fits this machine. */
export function loadNative(): NativeBinding {
  if (cached) return cached;
  try {
    const binding = require('node-gyp-build')(packageRoot) as NativeBinding & { setErrorClass(c: typeof SyscallError): void };
    binding.setErrorClass(SyscallError);
    cached = binding;
  } catch (e) {
    throw new VhqosError(
      'VHQOS_ERR_NO_ADDON',
      `vhqos: no native addon for ${process.platform}-${process.arch} (node ${process.versions.node}). ` +
        `Build one with: apt-get install -y libseccomp-dev g++ make python3 && (cd ${packageRoot} && npx node-gyp rebuild)\n` +
        `cause: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return cached;
}
