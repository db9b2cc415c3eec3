// Client side of the placement socket (protocol.ts), for Node servers: the
// process that calls place() is the one placed (the socket's peer), unless
// it is root and names another pid. Other languages speak the same JSON line
// (README, "Stand-alone placement").
import * as net from 'node:net';
import type { PlaceRequest, Placed, PlaceErrorCode } from './protocol';
import { PlacementRefused } from '../errors';

export type { PlaceRequest, Placed, PlaceErrorCode };

export const PLACEMENT_SOCKET_ENV = 'VHQOS_PLACEMENT_SOCKET';

/** A refusal from vhqos: `reason` is EPERM, EINVAL, ESRCH, ENOENT, EOPNOTSUPP or EIO. */
export { PlacementRefused };

export interface PlaceOptions {
  /** Default: $VHQOS_PLACEMENT_SOCKET, which `vhqos run --placement-only` sets for the server. */
  socket?: string;
  timeoutMs?: number;
}

/**
 * Asks vhqos to place this process (or req.pid / req.tid) in the group of the
 * vhost that req names or classifies to. Resolves with where it went; rejects
 * with PlacementRefused, or a socket error when vhqos is not there.
 * `local` may be given as "ip:port".
 */
export function place(req: Omit<PlaceRequest, 'local'> & { local?: string }, opts: PlaceOptions = {}): Promise<Placed> {
  const socket = opts.socket ?? process.env[PLACEMENT_SOCKET_ENV];
  if (!socket) return Promise.reject(new Error(`no placement socket: set ${PLACEMENT_SOCKET_ENV} or pass { socket }`));
  const timeoutMs = opts.timeoutMs ?? 3000;
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    let buf = '';
    const done = (err: Error | null, placed?: Placed) => {
      clearTimeout(timer);
      c.destroy();
      if (err) reject(err);
      else resolve(placed!);
    };
    const timer = setTimeout(() => done(new Error(`${socket}: no answer within ${timeoutMs} ms`)), timeoutMs);
    c.on('connect', () => c.write(JSON.stringify({ place: req }) + '\n'));
    c.on('error', (e) => done(e));
    c.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        const reply = JSON.parse(buf.slice(0, nl)) as { ok: boolean; placed?: Placed; error?: string; code?: PlaceErrorCode };
        if (reply.ok && reply.placed) done(null, reply.placed);
        else done(new PlacementRefused(reply.code ?? 'EIO', reply.error ?? 'refused'));
      } catch (e) {
        done(new Error(`${socket}: malformed reply (${(e as Error).message})`));
      }
    });
    c.on('end', () => done(new Error(`${socket}: closed without an answer`)));
  });
}
