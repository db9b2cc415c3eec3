// The placement protocol (patent FIG. 7): a server that knows which vhost it
// serves asks vhqos to put the serving process (or thread) into that vhost's
// cgroup. One JSON line per request over a unix stream socket, one JSON line
// back; any number of requests per connection. Who asks is what the kernel
// says about the socket (SO_PEERCRED), never what the message says.
//
//   → {"place": {"host": "gold.test:8080"}}                    by Host (port ignored)
//   → {"place": {"sni": "gold.test", "local": "127.0.0.2:443"}} by SNI and local address
//   → {"place": {"vhost": "gold", "tid": 4242}}                 a named vhost, one thread
//   → {"place": {"host": "gold.test", "pid": 4243}}             another process (root only)
//   ← {"ok": true, "placed": {"pid", "tid"?, "vhost": "gold"|null, "group", "by", "detail"?, "cgroups": [dirs]}}
//   ← {"ok": false, "error": "...", "code": "EPERM"|"EINVAL"|"ESRCH"|"ENOENT"|"EOPNOTSUPP"|"EIO"}
import { parseAddressMatcher } from '../classify/address';
import { PlacementRefused, PlacementRefused as PlaceError, type PlaceErrorCode } from '../errors';

export interface PlaceRequest {
  /** A configured vhost, chosen by name (no classification). */
  vhost?: string;
  /** The request's Host header value (a port is ignored). */
  host?: string;
  /** The TLS SNI name (beats host, as for trapped connections). */
  sni?: string;
  /** The connection's local address, "ip:port" / "[ip6]:port" / "ip": address-based vhosts. */
  local?: { ip: string; port: number };
  /** Another process (root peers only); default: the peer itself. */
  pid?: number;
  /** One thread of the target's thread group instead of the whole process. */
  tid?: number;
}

export interface Placed {
  pid: number;
  tid?: number;
  vhost: string | null;
  group: string;
  by: 'vhost' | 'sni' | 'host' | 'address' | 'default';
  detail?: string;
  cgroups: string[];
}

export type PlaceReply = { ok: true; placed: Placed } | { ok: false; error: string; code: PlaceErrorCode };

/** A refusal with the reason the reply carries (the table's PlacementRefused). */
export { PlaceError, PlacementRefused, type PlaceErrorCode };

/** Longest request line accepted (the socket is open to every local user). */
export const MAX_REQUEST_LINE = 4096;

/** Host names and Host header values: letters, digits, dots, dashes, underscores; a port; IPv6 in brackets. */
const NAME = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

const KEYS = new Set(['vhost', 'host', 'sni', 'local', 'pid', 'tid']);

function positiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 0x3fffffff) throw new PlaceError('EINVAL', `${what} must be a positive integer`);
  return v;
}

function name(v: unknown, what: string): string {
  if (typeof v !== 'string' || !NAME.test(v)) throw new PlaceError('EINVAL', `${what} must be a host name (letters, digits, . - _, optional :port), got ${JSON.stringify(v)?.slice(0, 80)}`);
  return v;
}

/** Parses one request line; throws PlaceError('EINVAL') saying what is wrong. */
export function parsePlaceRequest(line: string): PlaceRequest {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    throw new PlaceError('EINVAL', `not JSON: ${(e as Error).message}`);
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new PlaceError('EINVAL', 'a request is a JSON object {"place": {...}}');
  const place = (msg as Record<string, unknown>).place;
  if (typeof place !== 'object' || place === null || Array.isArray(place)) throw new PlaceError('EINVAL', 'a request is a JSON object {"place": {...}}');
  const p = place as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!KEYS.has(k)) throw new PlaceError('EINVAL', `unknown field place.${k} (known: ${[...KEYS].join(', ')})`);
  const out: PlaceRequest = {};
  if (p.vhost !== undefined) {
    if (typeof p.vhost !== 'string' || p.vhost === '' || p.vhost.length > 255) throw new PlaceError('EINVAL', 'place.vhost must be a vhost name');
    out.vhost = p.vhost;
  }
  if (p.host !== undefined) out.host = name(p.host, 'place.host');
  if (p.sni !== undefined) out.sni = name(p.sni, 'place.sni');
  if (p.local !== undefined) {
    const a = typeof p.local === 'string' && p.local.length < 64 ? parseAddressMatcher(p.local) : 'must be "ip:port"';
    if (typeof a === 'string') throw new PlaceError('EINVAL', `place.local: ${a}`);
    if (a.prefix !== undefined) throw new PlaceError('EINVAL', 'place.local is the connection\'s one local address, not a range');
    out.local = { ip: a.ip, port: a.port ?? 0 };
  }
  if (p.pid !== undefined) out.pid = positiveInt(p.pid, 'place.pid');
  if (p.tid !== undefined) out.tid = positiveInt(p.tid, 'place.tid');
  if (out.vhost !== undefined && (out.host !== undefined || out.sni !== undefined || out.local !== undefined))
    throw new PlaceError('EINVAL', 'give either place.vhost or what to classify (host, sni, local), not both');
  if (out.vhost === undefined && out.host === undefined && out.sni === undefined && out.local === undefined)
    throw new PlaceError('EINVAL', 'say where: place.vhost, or place.host / place.sni / place.local to classify');
  return out;
}
