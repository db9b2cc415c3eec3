// Local-address helpers: one canonical text form per IP (and per range) so
// that config entries and getsockname() results compare as plain strings,
// and the most-specific-match rule that picks among config addresses.
// Parsing, normalising and range arithmetic are ipaddr.js'; node's isIP is
// the syntax gate because it accepts exactly what inet_pton (the native
// classifier) does, where ipaddr.js also takes "127.1" or "0x7f.0.0.1".
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { AddressMatcher } from '../types';

type Ip = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * `text` as ipaddr.js address, IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as IPv4
 * (a dual-stack socket reports IPv4 clients that way); null if `text` is no
 * IP address. Zone ids (`fe80::1%eth0`) are refused: getsockname never
 * reports them.
 */
export function parseIp(text: string): Ip | null {
  const kind = isIP(text);
  if (kind === 4) return ipaddr.IPv4.parse(text);
  if (kind !== 6 || text.includes('%')) return null;
  // ipaddr.js reads the deprecated IPv4-compatible `::1.2.3.4` as mapped;
  // inet_pton (and RFC 4291) make it ::102:304, so spell the tail in hex.
  const hexTail = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`);
  const v6 = ipaddr.IPv6.parse(hexTail);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

/**
 * Canonical text of an IP address, or null if `ip` is not one: IPv4 stays
 * dotted-quad, IPv4-mapped IPv6 becomes IPv4, other IPv6 gets the RFC 5952
 * form (lower-case hex, no leading zeros, longest zero run as `::`).
 */
export function normaliseIp(ip: string): string | null {
  return parseIp(ip)?.toString() ?? null;
}

const bitsOf = (ip: Ip) => (ip.kind() === 'ipv4' ? 32 : 128);

/** The first `prefix` bits of `ip`, the rest zero. */
function networkOf(ip: Ip, prefix: number): Ip {
  const bytes = ip.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    bytes[i] &= (0xff00 >> keep) & 0xff;
  }
  return ipaddr.fromByteArray(bytes);
}

/** The family (4, 6 or 0) of an address or `address/prefix` text. */
function familyOf(text: string): number {
  const m = /^([^/]*)(?:\/([0-9]{1,3}))?$/.exec(text);
  return m ? isIP(m[1]) : 0;
}

/**
 * `::1:8080` → `[::1]:8080`: a bare IPv6 address whose last group reads as
 * a port (decimal, two digits or more) and whose rest is an address itself.
 */
function forgottenBrackets(text: string): string | undefined {
  const m = /^(.*):([0-9]{2,5})$/.exec(text);
  if (!m || +m[2] > 65535 || isIP(m[1]) !== 6) return undefined;
  return `[${m[1]}]:${m[2]}`;
}

/**
 * Parse a config address: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`,
 * `[::1]:443`, or a range in CIDR notation in place of the IP:
 * `10.0.0.0/24`, `10.0.0.0/24:80`, `fd00::/64`, `[fd00::/64]:443`.
 * A bare IPv6 address never carries a port, and one that looks as if it
 * did (`::1:8443`) is refused with the bracketed form to write instead
 * (`[::1:8443]` is that address itself). Returns the matcher, or a human
 * reason why not.
 */
export function parseAddressMatcher(text: string): AddressMatcher | string {
  let host = text, portText: string | undefined;
  const bracket = /^\[([^\]]*)\](?::([^:]*))?$/.exec(text);
  if (bracket) {
    host = bracket[1];
    portText = bracket[2];
    if (familyOf(host) !== 6) return `"${text}" is not an IP address (brackets are for IPv6)`;
  } else if (familyOf(text) === 6) {
    const withPort = forgottenBrackets(text);
    if (withPort) return `"${text}" looks like an IPv6 address with a port: write "${withPort}" (or "[${text}]" for the address itself)`;
  } else if (familyOf(text) === 0) {
    const colon = text.lastIndexOf(':');
    const head = text.slice(0, Math.max(colon, 0));
    if (colon < 0 || familyOf(head) === 0) return `"${text}" is not an IP address`;
    if (familyOf(head) === 6) return `"${text}": an IPv6 address with a port goes in brackets: "[${head}]${text.slice(colon)}"`;
    host = head;
    portText = text.slice(colon + 1);
  }
  const slash = host.indexOf('/');
  const ipText = slash < 0 ? host : host.slice(0, slash);
  if (ipText.includes('%')) return `"${text}": zone ids (%...) are not supported`;
  let ip = parseIp(ipText);
  if (ip === null) return `"${text}" is not an IP address`;
  let prefix: number | undefined;
  if (slash >= 0) {
    const prefixText = host.slice(slash + 1);
    // Of the written family: ::ffff:10.0.0.0/104 is 10.0.0.0/8.
    const written = isIP(ipText) === 4 ? 32 : 128;
    if (!/^[0-9]{1,3}$/.test(prefixText) || +prefixText > written) return `"${text}": the prefix length must be 0..${written}`;
    prefix = +prefixText - (written - bitsOf(ip));
    if (prefix < 0) {
      // A range wider than the IPv4-mapped block: IPv6 only (an IPv6 range never matches IPv4 connections).
      ip = ipaddr.IPv6.parse(ipText);
      prefix = +prefixText;
    }
    const network = networkOf(ip, prefix);
    if (network.toString() !== ip.toString()) {
      return `"${text}" has bits set beyond its /${prefixText} prefix: did you mean "${network.toString()}/${prefix}"?`;
    }
    if (prefix === bitsOf(ip)) prefix = undefined; // a /32 or /128 is the address itself
  }
  if (prefix === undefined && (ip.toString() === '0.0.0.0' || ip.toString() === '::')) {
    return `"${text}": an unspecified address never matches (a connection's local address is a real one)`;
  }
  const out: AddressMatcher = { ip: ip.toString() };
  if (prefix !== undefined) out.prefix = prefix;
  if (portText === undefined) return out;
  if (!/^[0-9]{1,5}$/.test(portText) || +portText < 1 || +portText > 65535) {
    return `"${text}": port must be 1..65535`;
  }
  out.port = +portText;
  return out;
}

/**
 * `1.2.3.4`, `1.2.3.4:80`, `[::1]:443`, `::1`, `10.0.0.0/24:80`,
 * `[fd00::/64]:443` — the config syntax, round-trippable: an IPv6 address
 * that would read as one with a port keeps its brackets (`[::1:80]`).
 */
export function formatAddress(a: { ip: string; port?: number; prefix?: number }): string {
  const ip = a.prefix === undefined ? a.ip : `${a.ip}/${a.prefix}`;
  if (a.port === undefined) return forgottenBrackets(ip) ? `[${ip}]` : ip;
  return a.ip.includes(':') ? `[${ip}]:${a.port}` : `${ip}:${a.port}`;
}

/**
 * Most-specific-match lookup of local addresses over config matchers: the
 * longer prefix wins (an address is a full-length prefix), and at equal
 * prefixes one with a port beats one without. That is Apache's order
 * (ip:port, then ip:*, then *:port) extended to ranges: the address narrows
 * first, then the port. IPv4 and IPv6 never compete (an IPv6 range never
 * matches an IPv4 connection). One map per (family, prefix length, port or
 * not), asked most specific first; of equal matchers the first value stays.
 */
export class AddressTable<T> {
  private readonly levels: { v4: boolean; prefix: number; withPort: boolean; rank: number; entries: Map<string, T> }[] = [];

  constructor(entries: Iterable<[AddressMatcher, T]>) {
    for (const [m, value] of entries) {
      const ip = parseIp(m.ip);
      if (ip === null) continue;
      const v4 = ip.kind() === 'ipv4';
      const prefix = Math.min(m.prefix ?? 128, bitsOf(ip));
      const withPort = m.port !== undefined;
      let level = this.levels.find((l) => l.v4 === v4 && l.prefix === prefix && l.withPort === withPort);
      if (!level) this.levels.push((level = { v4, prefix, withPort, rank: prefix * 2 + (withPort ? 1 : 0), entries: new Map() }));
      const net = networkOf(ip, prefix).toString();
      const key = withPort ? `${net} ${m.port}` : net;
      if (!level.entries.has(key)) level.entries.set(key, value);
    }
    this.levels.sort((a, b) => b.rank - a.rank);
  }

  /** The value of the most specific matcher of `local` (any IP text getsockname may give), or undefined. */
  lookup(local: { ip: string; port: number }): T | undefined {
    const ip = parseIp(local.ip);
    if (ip === null) return undefined;
    const v4 = ip.kind() === 'ipv4';
    for (const l of this.levels) {
      if (l.v4 !== v4) continue;
      const net = (l.prefix === bitsOf(ip) ? ip : networkOf(ip, l.prefix)).toString();
      const hit = l.entries.get(l.withPort ? `${net} ${local.port}` : net);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}

/**
 * The matcher that claims a local address: the most specific one (see
 * `specificity`); of equal ones the first; undefined if none.
 */
export function matchAddress<T extends AddressMatcher>(local: { ip: string; port: number }, matchers: readonly T[]): T | undefined {
  return new AddressTable(matchers.map((m): [AddressMatcher, T] => [m, m])).lookup(local);
}
