// Local-address helpers: one canonical text form per IP so that config entries
// and getsockname() results compare as plain strings.
import { isIP } from 'node:net';
import type { AddressMatcher } from '../types';

/**
 * Canonical text of an IP address, or null if `ip` is not one.
 * IPv4 stays dotted-quad; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes IPv4
 * (a dual-stack socket reports IPv4 clients that way); other IPv6 gets the
 * RFC 5952 form (lower-case hex, no leading zeros, longest zero run as `::`).
 * Zone ids (`fe80::1%eth0`) are rejected: getsockname never reports them.
 */
export function normaliseIp(ip: string): string | null {
  const kind = isIP(ip);
  if (kind === 4) return ip; // node's isIP already refuses leading zeros
  if (kind !== 6 || ip.includes('%')) return null;
  const g = ipv6Groups(ip);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`;
  }
  return compressIpv6(g);
}

/** The eight 16-bit groups of a string isIP() accepted as IPv6. */
function ipv6Groups(ip: string): number[] {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const words = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const w of part.split(':')) {
      if (w.includes('.')) {
        const b = w.split('.').map(Number);
        out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
      } else out.push(parseInt(w, 16));
    }
    return out;
  };
  const h = words(head);
  if (tail === undefined) return h;
  const t = words(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

function compressIpv6(g: number[]): string {
  // Longest run of at least two zero groups; the first one on a tie.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/**
 * Parse a config address: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:443`.
 * A bare IPv6 address never carries a port (`::1:8443` is an address).
 * Returns the matcher, or a human reason why not.
 */
export function parseAddressMatcher(text: string): AddressMatcher | string {
  let host = text, portText: string | undefined;
  const bracket = /^\[([^\]]*)\](?::([^:]*))?$/.exec(text);
  if (bracket) {
    host = bracket[1];
    portText = bracket[2];
    if (isIP(host) !== 6) return `"${text}" is not an IP address (brackets are for IPv6)`;
  } else if (isIP(text) === 0) {
    const colon = text.lastIndexOf(':');
    if (colon < 0 || isIP(text.slice(0, colon)) !== 4) return `"${text}" is not an IP address`;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (host.includes('%')) return `"${text}": zone ids (%...) are not supported`;
  const ip = normaliseIp(host);
  if (ip === null) return `"${text}" is not an IP address`;
  if (ip === '0.0.0.0' || ip === '::') {
    return `"${text}": an unspecified address never matches (a connection's local address is a real one)`;
  }
  if (portText === undefined) return { ip };
  if (!/^[0-9]{1,5}$/.test(portText) || +portText < 1 || +portText > 65535) {
    return `"${text}": port must be 1..65535`;
  }
  return { ip, port: +portText };
}

/** `1.2.3.4`, `1.2.3.4:80`, `[::1]:443`, `::1` — the config syntax, round-trippable. */
export function formatAddress(a: { ip: string; port?: number }): string {
  if (a.port === undefined) return a.ip;
  return a.ip.includes(':') ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`;
}

/**
 * The matcher that claims a local address: an ip+port match beats an ip-only
 * match; undefined if none. Linear; the classifier uses maps instead.
 */
export function matchAddress<T extends AddressMatcher>(
  local: { ip: string; port: number },
  matchers: readonly T[],
): T | undefined {
  const ip = normaliseIp(local.ip);
  if (ip === null) return undefined;
  let ipOnly: T | undefined;
  for (const m of matchers) {
    if (m.ip !== ip) continue;
    if (m.port === local.port) return m;
    if (m.port === undefined && ipOnly === undefined) ipOnly = m;
  }
  return ipOnly;
}
