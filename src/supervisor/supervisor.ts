// Policy for one supervised process tree: turns the native loop's ordered
// events into table updates, classifications, cgroup moves and verdicts.
// Every verdict event is answered exactly once, on every path, and an error
// anywhere answers CONTINUE (fail open): vhqos makes QoS decisions, it must
// never break the server.
import type { HandOver, LoopEvent } from '../native';
import type { Classification, ConnectionFacts } from '../types';
import { LineageTables, type TablesSnapshot } from '../lineage/tables';
import type { Logger } from '../logger';

export const DEFAULT_GROUP = '_default';
export const SERVER_GROUP = '_server';
/** How long to wait before peeking again at a request cut short. */
export const MORE_BYTES_RETRY_MS = 10;


/** A connected socket found in a process (fork-after-accept scan). */
export interface ConnectionInProcess {
  fd: number;
  inode: number;
  local: { ip: string; port: number };
  peer?: { ip: string; port: number };
}

export interface SupervisorDeps {
  /**
   * retryMs: peek again after that long instead of answering (read events).
   * group: with quiet, the group the connection was classified to (the loop keeps it as the fd's read flag).
   */
  respond(id: bigint, quiet: boolean, retryMs?: number, group?: string): boolean;
  classify(facts: ConnectionFacts): Classification;
  /** True when some vhost is name-based: worth waiting for the first bytes. */
  needsPeek: boolean;
  moveToGroup(pid: number, group: string): boolean;
  /** Connected sockets a process holds now (used when it forks right after accept). */
  connectionsOf(pid: number): ConnectionInProcess[];
  normaliseIp(ip: string): string;
  /** True when the bytes are a Host/ClientHello cut short: worth peeking again. */
  needsMoreBytes?(bytes: Uint8Array): boolean;
  /**
   * The connection is the server's own (Apache's dummy connection): its
   * bytes are exactly that request and its other end is, or was, a socket of
   * one of `serverPids` (native sock_diag). Charged to _server.
   */
  ownConnection?(local: { ip: string; port: number }, peer: { ip: string; port: number }, bytes: Uint8Array, serverPids: number[]): boolean;
  /** How long, in all, a connection's first bytes may be waited for. */
  firstByteTimeoutMs?: number;
  logger: Logger;
  tables?: LineageTables;
  /** The read flags and fd copies, from the loop that owns them (for the tables' snapshot). */
  fdState?: () => Pick<TablesSnapshot, 'readFlags' | 'fdCopies'>;
  /** Accept mode: group names by the loop's group index, vhost names by table index. */
  groupNames?: string[];
  /** Group names by the loop's group index, in both modes (classifyEach: request reports moves by index). */
  loopGroups?: string[];
}

export interface VhostCounters {
  connections: number;
  moves: number;
}

export class Supervisor {
  readonly tables: LineageTables;
  readonly counters = new Map<string, VhostCounters>();
  readonly stats = { verdicts: 0, failOpen: 0, timeouts: 0, moveErrors: 0, retries: 0, morePeeks: 0, tenantReads: 0, handovers: 0, requestMoves: 0 };
  private finished = false;
  private readonly done: Promise<'hup' | 'stopped'>;
  private resolveDone!: (why: 'hup' | 'stopped') => void;

  /** A reload: the new classifier (read mode; groupNames is shared and only grows). */
  setClassifier(c: Pick<SupervisorDeps, 'classify' | 'needsPeek'>): void {
    Object.assign(this.deps, c);
  }

  constructor(private readonly deps: SupervisorDeps) {
    this.tables = deps.tables ?? new LineageTables(undefined, undefined, deps.fdState);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Resolves when every supervised task has exited (hup) or the loop was stopped. */
  whenDone(): Promise<'hup' | 'stopped'> {
    return this.done;
  }

  /** The root of the tree, started by vhqos itself. */
  adoptRoot(pid: number, group: string): void {
    this.tables.addProcess(pid, 0, group);
  }

  handle = (ev: LoopEvent): void => {
    try {
      this.dispatch(ev);
    } catch (err) {
      this.deps.logger.error({ err, event: ev.kind, pid: ev.pid }, 'policy error: failing open');
      if (ev.needsVerdict && ev.id !== undefined) {
        this.stats.failOpen++;
        this.deps.respond(ev.id, false);
      }
    }
  };

  private dispatch(ev: LoopEvent): void {
    const t = this.tables;
    switch (ev.kind) {
      case 'read':
        return this.onRead(ev);
      case 'fork':
        return this.onFork(ev);
      case 'process': {
        // A child starts in its parent's cgroup as of fork time, which may have
        // changed since: unknown until vhqos moves it. A child of a process
        // that serves a tenant (a CGI and all below it) is the tenant's.
        const parent = t.process(ev.pid === ev.ppid ? -1 : ev.ppid);
        const tenant =
          ev.tenant === true || parent?.tenant === true || (parent !== undefined && parent.group !== null && parent.group !== SERVER_GROUP);
        t.addProcess(ev.pid, ev.ppid, this.deps.groupNames ? (parent?.group ?? null) : null, tenant);
        this.deps.logger.debug({ pid: ev.pid, ppid: ev.ppid, tenant }, 'new process');
        return;
      }
      case 'handovers':
        for (const h of ev.items) this.onHandOver(h);
        return;
      case 'requests':
        for (const h of ev.items) this.onRequestMove(h);
        return;
      case 'exit':
        t.removeProcess(ev.pid);
        return;
      case 'close':
      case 'dup':
        return; // the loop keeps the fd tables (read flags, copies) itself
      case 'exec':
        t.recordExec(ev.pid);
        return;
      case 'timeout':
        this.stats.timeouts++;
        this.deps.logger.warn({ id: String(ev.id) }, 'verdict timed out: the syscall continued unclassified');
        return;
      case 'error':
        this.deps.logger.error({ code: ev.code, syscall: ev.syscall }, 'notification loop error');
        return;
      case 'hup':
      case 'stopped':
        if (!this.finished) {
          this.finished = true;
          this.resolveDone(ev.kind);
        }
        return;
    }
  }

  /**
   * Accept mode: the loop classified, placed and handed over a connection
   * (a sample of them under load: exact counts are the loop's, per group).
   */
  private onHandOver(h: HandOver): void {
    const names = this.deps.groupNames ?? [];
    const group = names[h.group] ?? DEFAULT_GROUP;
    const vhost = group === DEFAULT_GROUP ? null : group;
    this.stats.handovers++;
    this.tables.recordChannel({
      inode: h.inode,
      pid: h.pid,
      fd: -1,
      local: { ip: this.deps.normaliseIp(h.local.ip), port: h.local.port },
      peer: h.peer,
      vhost,
      by: h.by,
      detail: h.detail,
    });
    if (!this.tables.process(h.pid)) this.tables.addProcess(h.pid, 0, group);
    else this.tables.setGroup(h.pid, group);
  }

  /**
   * classifyEach: request: the loop moved a process for a later request of
   * its connection. Read mode: this policy's groups decide later moves, so
   * the table must follow (and the move is counted here); at accept the
   * loop counts moves itself.
   */
  private onRequestMove(h: HandOver): void {
    const group = (this.deps.loopGroups ?? this.deps.groupNames ?? [])[h.group];
    if (group === undefined) return;
    this.stats.requestMoves++;
    if (!this.tables.process(h.pid)) this.tables.addProcess(h.pid, 0, group);
    else this.tables.setGroup(h.pid, group);
    if (!this.deps.groupNames) this.count(group === DEFAULT_GROUP ? null : group).moves++;
    this.deps.logger.debug({ pid: h.pid, group, by: h.by, detail: h.detail }, 'moved for a later request');
  }

  /** First read of a connection by a process: classify, move, then let it read. */
  private onRead(ev: Extract<LoopEvent, { kind: 'read' }>): void {
    const { socket } = ev;
    if (ev.accepts !== undefined) this.tables.setAccepts(ev.pid, ev.accepts);
    if (this.tables.process(ev.pid)?.tenant) {
      // Tenant code reading a socket (a CGI talking to a database, or to
      // itself) never steers classification: it stays in its tenant's cgroup.
      this.stats.tenantReads++;
      this.deps.respond(ev.id, true);
      return;
    }
    if (!socket.local) {
      this.deps.respond(ev.id, false);
      return;
    }
    if (socket.peer && this.isOwnConnection(socket.local, socket.peer, ev.bytes)) {
      this.place(ev.pid, SERVER_GROUP, { vhost: null, by: 'default', detail: "the server's own connection" });
      this.count(SERVER_GROUP).connections++;
      this.stats.verdicts++;
      this.deps.respond(ev.id, true, undefined, SERVER_GROUP);
      return;
    }
    const local = { ip: this.deps.normaliseIp(socket.local.ip), port: socket.local.port };
    const known = this.tables.channel(socket.inode);
    const haveBytes = ev.bytes.length > 0;
    // A non-blocking read with nothing to read yet returns EAGAIN by itself:
    // ask again on the next read rather than classify blind.
    if (!haveBytes && this.deps.needsPeek && ev.peekResult < 0 && socket.nonblocking && !isNameDecided(known)) {
      this.stats.retries++;
      this.deps.respond(ev.id, false);
      return;
    }
    // A request or ClientHello split over several segments: wait a little
    // for the rest (the target keeps waiting in its read), within the
    // first-byte budget; after that, classify with what there is.
    if (
      haveBytes &&
      ev.peekResult > 0 &&
      this.deps.needsPeek &&
      !isNameDecided(known) &&
      this.deps.needsMoreBytes?.(ev.bytes) &&
      ev.peerClosed !== true &&
      ev.waitedMs < (this.deps.firstByteTimeoutMs ?? 0)
    ) {
      this.stats.morePeeks++;
      this.deps.respond(ev.id, false, MORE_BYTES_RETRY_MS);
      return;
    }
    let verdict: Classification;
    if (known && (isNameDecided(known) || !this.deps.needsPeek || !haveBytes)) {
      verdict = { vhost: known.vhost, by: known.by, detail: known.detail };
    } else {
      verdict = this.deps.classify({ local, firstBytes: ev.bytes });
      this.tables.recordChannel({
        inode: socket.inode,
        pid: known?.pid ?? ev.pid,
        fd: known?.fd ?? ev.fd,
        local,
        peer: socket.peer,
        vhost: verdict.vhost,
        by: verdict.by,
        detail: verdict.detail,
      });
      // Count a connection once: on its first classified read (a fork-time
      // record by address is provisional).
      if (!known || known.uses === 0) this.count(verdict.vhost).connections++;
    }
    this.place(ev.pid, verdict.vhost ?? DEFAULT_GROUP, verdict);
    this.tables.countUse(socket.inode);
    this.stats.verdicts++;
    this.deps.respond(ev.id, true, undefined, verdict.vhost ?? DEFAULT_GROUP);
  }

  /** A process forked with a fresh accept behind it: record the connections it
   * still holds so the child that inherits one is known (fork-after-accept).
   * The fork was not held: the child is classified at its own first read anyway. */
  private onFork(ev: Extract<LoopEvent, { kind: 'fork' }>): void {
    try {
      if (ev.accepts !== undefined) this.tables.setAccepts(ev.pid, ev.accepts);
      if (!ev.needsVerdict && !ev.afterAccept) return;
      // A tenant's process may hold thousands of sockets: never scan them.
      if (this.tables.process(ev.pid)?.tenant) return;
      for (const c of this.deps.connectionsOf(ev.pid)) {
        if (this.tables.channel(c.inode)) continue;
        const local = { ip: this.deps.normaliseIp(c.local.ip), port: c.local.port };
        const verdict = this.deps.classify({ local, firstBytes: new Uint8Array(0) });
        this.tables.recordChannel({ inode: c.inode, pid: ev.pid, fd: c.fd, local, peer: c.peer, ...verdict });
      }
    } finally {
      if (ev.needsVerdict && ev.id !== undefined) this.deps.respond(ev.id, false);
    }
  }

  /** Cheap unless the bytes start like Apache's dummy request (or its TLS close_notify). */
  private isOwnConnection(local: { ip: string; port: number }, peer: { ip: string; port: number }, bytes: Uint8Array): boolean {
    if (!this.deps.ownConnection || !(bytes[0] === 0x15 || DUMMY_START.equals(bytes.subarray(0, DUMMY_START.length)))) return false;
    const servers = this.tables.pidsIn(SERVER_GROUP).filter((pid) => !this.tables.process(pid)?.tenant);
    return this.deps.ownConnection(local, peer, bytes, servers);
  }

  private place(pid: number, group: string, why: Classification): void {
    this.moveOne(pid, group, why);
    // Helpers the serving process forked before it read the request (socat's
    // relay mode forks the handler first) are unclassified: they go along.
    for (const d of this.tables.descendants(pid)) {
      const g = this.tables.process(d)?.group;
      if (g === null || g === SERVER_GROUP) this.moveOne(d, group, why);
    }
  }

  private moveOne(pid: number, group: string, why: Classification): void {
    const rec = this.tables.process(pid);
    if (rec?.group === group) return;
    try {
      this.deps.moveToGroup(pid, group);
      this.tables.setGroup(pid, group);
      this.count(group === DEFAULT_GROUP ? null : group).moves++;
      this.deps.logger.debug({ pid, group, by: why.by, detail: why.detail }, 'moved');
    } catch (err) {
      this.stats.moveErrors++;
      this.deps.logger.warn({ err, pid, group }, 'could not move process: it keeps its current cgroup');
    }
  }

  private count(vhost: string | null): VhostCounters {
    const k = vhost ?? DEFAULT_GROUP;
    let c = this.counters.get(k);
    if (!c) this.counters.set(k, (c = { connections: 0, moves: 0 }));
    return c;
  }
}

const DUMMY_START = Buffer.from('OPTIONS * HTTP/1.0\r\n', 'latin1');

function isNameDecided(c: { by: string } | undefined): boolean {
  return c !== undefined && (c.by === 'sni' || c.by === 'host');
}
