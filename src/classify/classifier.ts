// Decide which vhost a connection belongs to, the way Apache picks the
// <VirtualHost> that serves it:
// 1. Candidates by local address: the vhosts listing the most specific
//    address that matches it (a longer prefix first, an address being a
//    full-length one; at equal prefixes an entry with a port beats one
//    without); if none does, the vhosts that list no address at all.
// 2. Among the candidates the name picks: TLS SNI, else the HTTP/2 `:authority`
//    (h2c prior knowledge), else the HTTP/1 target (`http://`) or Host.
// 3. No name, or one no candidate claims: the first candidate that lists no
//    host names takes it; else the default.
// So a name never takes a connection away from the address it arrived on:
// `Host: gold.test` sent to an IP-based vhost's address is that vhost's.
import type { AddressMatcher, Classification, ConnectionFacts, VhqosConfig } from '../types';
import { AddressTable, formatAddress, normaliseIp } from './address';
import { parseH2Authority } from './h2-authority';
import { parseHttpHost } from './http-host';
import { parseTlsSni } from './tls-sni';

/** Reversed-label trie of host names: `a.gold.test` is test → gold → a. */
interface NameNode {
  children: Map<string, NameNode>;
  /** Vhost of the exact name ending here. */
  exact?: string;
  /** Vhost of `*.` + the name ending here (strict sub-domains only). */
  wildcard?: string;
}

const newNode = (): NameNode => ({ children: new Map() });

/** Build the name trie; the config loader has already refused duplicate claims. */
function nameTrie(config: VhqosConfig): NameNode {
  const root = newNode();
  for (const v of config.vhosts) {
    for (const pattern of v.hosts) {
      const wild = pattern.startsWith('*.');
      let node = root;
      for (const label of (wild ? pattern.slice(2) : pattern).split('.').reverse()) {
        let child = node.children.get(label);
        if (!child) node.children.set(label, (child = newNode()));
        node = child;
      }
      if (wild) node.wildcard ??= v.name;
      else node.exact ??= v.name;
    }
  }
  return root;
}

/**
 * The candidate for a (lower-case) name: exact name first, else the longest
 * wildcard that covers it, each only if `isCandidate` says so. One walk over
 * the labels: O(length of name).
 */
function lookupName(root: NameNode, name: string, isCandidate: (vhost: string) => boolean): string | undefined {
  const labels = name.split('.');
  let node: NameNode | undefined = root;
  let wildcard: string | undefined;
  for (let i = labels.length - 1; i >= 0 && node; i--) {
    // deeper = more specific
    if (node.wildcard !== undefined && isCandidate(node.wildcard)) wildcard = node.wildcard;
    node = node.children.get(labels[i]);
  }
  const exact = node?.exact;
  return exact !== undefined && isCandidate(exact) ? exact : wildcard;
}

/** The vhosts one local address makes candidates, in config order. */
interface Candidates {
  members: Set<string>;
  /** The first member that lists no host names: it takes what no name decides. */
  hostless?: string;
  /** Some member lists host names, so the first bytes can matter. */
  named: boolean;
}

function candidates(config: VhqosConfig, members: string[]): Candidates {
  const set = new Set(members);
  const of = config.vhosts.filter((v) => set.has(v.name));
  return { members: set, hostless: of.find((v) => v.hosts.length === 0)?.name, named: of.some((v) => v.hosts.length > 0) };
}

/** Precompute lookup tables once; the returned function is cheap per call. */
export function createClassifier(config: VhqosConfig): (facts: ConnectionFacts) => Classification {
  const names = nameTrie(config);
  // Every vhost listing one address (text) joins that address's candidate set.
  const claims = new Map<string, { matcher: AddressMatcher; members: string[] }>();
  for (const v of config.vhosts) {
    for (const a of v.addresses) {
      const key = formatAddress(a);
      const claim = claims.get(key) ?? { matcher: a, members: [] };
      if (!claim.members.includes(v.name)) claim.members.push(v.name);
      claims.set(key, claim);
    }
  }
  const byAddress = new AddressTable([...claims.values()].map((c): [AddressMatcher, Candidates] => [c.matcher, candidates(config, c.members)]));
  const anywhere = candidates(config, config.vhosts.filter((v) => v.addresses.length === 0).map((v) => v.name));

  return (facts) => {
    const ip = normaliseIp(facts.local.ip);
    const local = ip === null ? undefined : { ip, port: facts.local.port };
    const cands = (local && byAddress.lookup(local)) ?? anywhere;
    let unmatched: string | undefined;
    if (cands.named && facts.firstBytes.length > 0) {
      const seen = nameOf(facts.firstBytes);
      if (seen) {
        const vhost = lookupName(names, seen.name, (v) => cands.members.has(v));
        if (vhost !== undefined) return { vhost, by: seen.by, detail: seen.name };
        unmatched = seen.name;
      }
    }
    if (cands.hostless !== undefined && local) return { vhost: cands.hostless, by: 'address', detail: formatAddress(local) };
    // detail: the name the client asked for that no candidate claims, for the logs.
    return unmatched === undefined ? { vhost: null, by: 'default' } : { vhost: null, by: 'default', detail: unmatched };
  };
}

/** The name a connection asks for, by SNI, HTTP/2 :authority or Host, if its first bytes carry one. */
function nameOf(bytes: Uint8Array): { name: string; by: 'sni' | 'host' } | undefined {
  const tls = parseTlsSni(bytes);
  if (tls.kind === 'sni') return { name: tls.host, by: 'sni' };
  if (tls.kind !== 'not-tls') return undefined; // TLS without (or not yet with) SNI
  const h2 = parseH2Authority(bytes);
  if (h2.kind !== 'not-h2') return h2.kind === 'host' ? { name: h2.host, by: 'host' } : undefined;
  const http = parseHttpHost(bytes);
  return http.kind === 'host' ? { name: http.host, by: 'host' } : undefined;
}

/** True when some vhost is chosen by name, i.e. the supervisor must peek at the first bytes. */
export function needsPeek(config: VhqosConfig): boolean {
  return config.vhosts.some((v) => v.hosts.length > 0);
}

/**
 * True when the first bytes are a prefix of a TLS ClientHello, an HTTP/2
 * connection's first header block or an HTTP/1 request head whose name has not arrived yet, so peeking again (up to `peekBytes`, within
 * `firstByteTimeoutMs`) could change the answer. False for an empty buffer:
 * whether to wait for the first byte at all is the supervisor's call.
 */
export function needsMoreBytes(bytes: Uint8Array, peekBytes: number): boolean {
  if (bytes.length === 0 || bytes.length >= peekBytes) return false;
  const tls = parseTlsSni(bytes);
  if (tls.kind !== 'not-tls') return tls.kind === 'incomplete';
  const h2 = parseH2Authority(bytes);
  if (h2.kind !== 'not-h2') return h2.kind === 'incomplete';
  return parseHttpHost(bytes).kind === 'incomplete';
}
