// Decide which vhost a connection belongs to. Order: TLS SNI (if the bytes are
// a TLS handshake) → HTTP Host → local address (ip+port beats ip-only) →
// default. A name that matches no vhost falls through to the address.
import type { Classification, ConnectionFacts, VhqosConfig } from '../types';
import { formatAddress, normaliseIp } from './address';
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
 * The vhost for a (lower-case) name: exact name first, else the longest
 * wildcard that covers it. One walk over the labels: O(length of name).
 */
function lookupName(root: NameNode, name: string): string | undefined {
  const labels = name.split('.');
  let node: NameNode | undefined = root;
  let wildcard: string | undefined;
  for (let i = labels.length - 1; i >= 0 && node; i--) {
    if (node.wildcard !== undefined) wildcard = node.wildcard; // deeper = more specific
    node = node.children.get(labels[i]);
  }
  return node?.exact ?? wildcard;
}

/** Precompute lookup tables once; the returned function is cheap per call. */
export function createClassifier(config: VhqosConfig): (facts: ConnectionFacts) => Classification {
  const names = nameTrie(config);
  const byIpPort = new Map<string, string>();
  const byIp = new Map<string, string>();
  for (const v of config.vhosts) {
    for (const a of v.addresses) {
      const key = a.port === undefined ? a.ip : `${a.ip} ${a.port}`;
      const map = a.port === undefined ? byIp : byIpPort;
      if (!map.has(key)) map.set(key, v.name);
    }
  }
  const peek = needsPeek(config);

  return (facts) => {
    let unmatched: string | undefined;
    if (peek && facts.firstBytes.length > 0) {
      const seen = nameOf(facts.firstBytes);
      if (seen) {
        const vhost = lookupName(names, seen.name);
        if (vhost !== undefined) return { vhost, by: seen.by, detail: seen.name };
        unmatched = seen.name;
      }
    }
    const ip = normaliseIp(facts.local.ip);
    if (ip !== null) {
      const vhost = byIpPort.get(`${ip} ${facts.local.port}`) ?? byIp.get(ip);
      if (vhost !== undefined) return { vhost, by: 'address', detail: formatAddress({ ip, port: facts.local.port }) };
    }
    // detail: the name the client asked for that no vhost claims, for the logs.
    return unmatched === undefined ? { vhost: null, by: 'default' } : { vhost: null, by: 'default', detail: unmatched };
  };
}

/** The name a connection asks for, by SNI or Host, if its first bytes carry one. */
function nameOf(bytes: Uint8Array): { name: string; by: 'sni' | 'host' } | undefined {
  const tls = parseTlsSni(bytes);
  if (tls.kind === 'sni') return { name: tls.host, by: 'sni' };
  if (tls.kind !== 'not-tls') return undefined; // TLS without (or not yet with) SNI
  const http = parseHttpHost(bytes);
  return http.kind === 'host' ? { name: http.host, by: 'host' } : undefined;
}

/** True when some vhost is chosen by name, i.e. the supervisor must peek at the first bytes. */
export function needsPeek(config: VhqosConfig): boolean {
  return config.vhosts.some((v) => v.hosts.length > 0);
}

/**
 * True when the first bytes are a prefix of a TLS ClientHello or HTTP request
 * whose name has not arrived yet, so peeking again (up to `peekBytes`, within
 * `firstByteTimeoutMs`) could change the answer. False for an empty buffer:
 * whether to wait for the first byte at all is the supervisor's call.
 */
export function needsMoreBytes(bytes: Uint8Array, peekBytes: number): boolean {
  if (bytes.length === 0 || bytes.length >= peekBytes) return false;
  const tls = parseTlsSni(bytes);
  if (tls.kind !== 'not-tls') return tls.kind === 'incomplete';
  return parseHttpHost(bytes).kind === 'incomplete';
}
