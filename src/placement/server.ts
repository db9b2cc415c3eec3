// The placement socket: open to every local user (servers drop privileges),
// so it takes requests one line at a time with a size cap, a timeout and a
// connection cap, answers every line, and never lets one peer's bad input
// reach anything but its own reply.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Logger } from '../logger';
import { MAX_REQUEST_LINE, PlaceError, parsePlaceRequest, type PlaceReply, type PlaceRequest, type Placed } from './protocol';
import type { Peer } from './peer';

export interface PlacementServerOptions {
  socketPath: string;
  /** The kernel's word on the connection's peer (throws if it has none). */
  identify: (fd: number) => Peer;
  /** Decide and move; throws PlaceError (or anything: reported as EIO). */
  place: (peer: Peer, req: PlaceRequest) => Placed;
  /** Closes what identify opened. */
  release: (peer: Peer) => void;
  logger: Logger;
  /** Connections at once (default 128). */
  maxConnections?: number;
  /** An idle connection is closed after this (default 30 s). */
  idleMs?: number;
}

const MAX_SOCKET_PATH = 107;

/** What the placement socket did since it started (status, metrics). */
export interface PlacementStats {
  socket: string;
  /** Placements done, by group (a vhost, _default). */
  placed: Record<string, number>;
  /** Requests refused, by code (EPERM, EINVAL, ...; EIO: a failure of vhqos' own). */
  refused: Record<string, number>;
}

export class PlacementServer {
  private server?: net.Server;
  private readonly open = new Set<net.Socket>();
  private readonly placed = new Map<string, number>();
  private readonly refused = new Map<string, number>();

  constructor(private readonly o: PlacementServerOptions) {}

  /** Binds now (synchronously: the socket exists when this returns), mode 0666 in a 0755 directory. */
  listen(): void {
    const p = this.o.socketPath;
    if (Buffer.byteLength(p) > MAX_SOCKET_PATH) throw new Error(`placement socket path is longer than ${MAX_SOCKET_PATH} bytes: ${p}`);
    fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o755 });
    fs.rmSync(p, { force: true }); // a stale socket of a crashed run
    const server = net.createServer((c) => this.serve(c));
    server.maxConnections = this.o.maxConnections ?? 128;
    server.on('error', (err) => this.o.logger.warn({ err, socket: p }, 'placement socket error'));
    server.listen(p); // a path: bound and listening before listen() returns
    fs.chmodSync(p, 0o666);
    server.unref(); // like the status socket: it must not keep vhqos alive
    this.server = server;
  }

  private serve(c: net.Socket): void {
    this.open.add(c);
    c.on('close', () => this.open.delete(c));
    const fd = (c as unknown as { _handle?: { fd?: number } })._handle?.fd;
    let peer: Peer;
    try {
      if (typeof fd !== 'number' || fd < 0) throw new Error('no fd for the connection');
      peer = this.o.identify(fd);
    } catch (err) {
      this.o.logger.debug({ err }, 'placement: peer without credentials refused');
      c.on('error', () => c.destroy());
      this.count(this.refused, 'ESRCH');
      c.end(JSON.stringify({ ok: false, code: 'ESRCH', error: `cannot tell who connected: ${(err as Error).message}` }) + '\n');
      return;
    }
    c.on('close', () => this.o.release(peer));
    c.on('error', () => c.destroy());
    c.setTimeout(this.o.idleMs ?? 30_000, () => c.destroy());
    let buf = '';
    let ended = false;
    c.on('data', (d) => {
      if (ended) return;
      buf += d.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() !== '') c.write(JSON.stringify(this.answer(peer, line)) + '\n');
      }
      if (buf.length > MAX_REQUEST_LINE) {
        this.count(this.refused, 'EINVAL');
        c.end(JSON.stringify({ ok: false, code: 'EINVAL', error: `request line longer than ${MAX_REQUEST_LINE} bytes` }) + '\n');
        buf = '';
        ended = true;
      }
    });
  }

  private answer(peer: Peer, line: string): PlaceReply {
    try {
      if (line.length > MAX_REQUEST_LINE) throw new PlaceError('EINVAL', `request line longer than ${MAX_REQUEST_LINE} bytes`);
      const placed = this.o.place(peer, parsePlaceRequest(line));
      this.count(this.placed, placed.group);
      this.o.logger.debug({ peer: peer.pid, ...placed }, 'placed');
      return { ok: true, placed };
    } catch (err) {
      const known = err instanceof PlaceError;
      if (!known) this.o.logger.warn({ err, peer: peer.pid }, 'placement failed');
      // debug: any local user can send refusals; the reply tells the asker why.
      else this.o.logger.debug({ peer: peer.pid, uid: peer.uid, code: err.reason, reason: err.message }, 'placement refused');
      const code = known ? err.reason : 'EIO';
      this.count(this.refused, code);
      return { ok: false, code, error: (err as Error).message };
    }
  }

  private count(m: Map<string, number>, key: string): void {
    m.set(key, (m.get(key) ?? 0) + 1);
  }

  stats(): PlacementStats {
    return { socket: this.o.socketPath, placed: Object.fromEntries(this.placed), refused: Object.fromEntries(this.refused) };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      for (const c of this.open) c.destroy();
      fs.rmSync(this.o.socketPath, { force: true });
      this.server = undefined;
    });
  }
}
