// Apache's vhost chains (from `-S`) → vhqos vhosts that classify connections
// the way Apache picks the <VirtualHost> that serves them:
// * A chain on `*:port` is vhqos' "no addresses" set; its vhosts are chosen
//   by name there. Its first vhost (Apache's default for that port) serves
//   unknown names: in vhqos that is `_default`, so it lists no vhost.
// * A chain on an IP address: its first vhost serves everything no name
//   claims, so it becomes a vhost with that address and no names; the others
//   list the address and their names.
// * A <VirtualHost> on several addresses can need several vhqos vhosts (one
//   without names where it is a default, one with names where it is not, one
//   without addresses for `*:port`): vhqos matches names per vhost, not per
//   address.
// Apache tries a chain's names in config order (first match wins); vhqos
// prefers exact names and longer wildcards, so a name an earlier vhost's
// wildcard already takes is left out. What vhqos cannot express is kept out
// and said in a note.
import * as path from 'node:path';
import { formatAddress } from '../classify/address';
import { normaliseHostPattern, SERVER_FIRST_PORTS } from '../config/load';
import type { DumpChain, DumpVhost, VhostDump } from './dump-vhosts';
import type { BlockReader } from './vhost-block';

/** One <VirtualHost> on one chain, as a source of an imported vhost. */
export interface ImportedSource {
  file: string;
  line: number;
  /** The chain's address as Apache prints it (`*:80`, `127.0.0.2:80`). */
  chain: string;
  serverName: string;
  /** default: the chain's first vhost; named: chosen by name. */
  role: 'default' | 'named';
}

export interface ImportedVhost {
  name: string;
  hosts: string[];
  /** vhqos syntax: `127.0.0.2:80`, `127.0.0.2`, `[::1]:443`. */
  addresses: string[];
  sources: ImportedSource[];
  notes: string[];
}

export interface ImportPlan {
  vhosts: ImportedVhost[];
  /** The vhosts Apache serves what lands in vhqos' `_default` with (defaults of `*:port` chains). */
  defaultSources: ImportedSource[];
  /** Limitations of this import, for the operator. */
  notes: string[];
  /** Ports vhqos would classify by address by default (SMTP, FTP, ...) where Apache picks vhosts by name: listeners rules. */
  nameListenerPorts: number[];
}

/** Apache's ServerAlias wildcard match (`*` any run, `?` one character), case-insensitive. */
export function apacheWildcardMatches(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

/** True when every name `later` matches, `earlier` matches too (Apache would never pick the later one for them). */
function covers(earlier: string, later: string): boolean {
  if (!later.startsWith('*.')) return apacheWildcardMatches(earlier, later);
  // A wildcard is covered by `*SUFFIX` whose suffix every sub-domain ends with.
  const rest = earlier.slice(1);
  return earlier.startsWith('*') && !/[*?]/.test(rest) && ('.' + later.slice(2)).toLowerCase().endsWith(rest.toLowerCase());
}

/** vhqos vhost (cgroup) names: see schema.json. */
const VHOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

interface Group {
  kind: 'by-name-anywhere' | 'by-address' | 'by-name-at-address';
  site: string;
  base: string;
  hosts: string[];
  addresses: string[];
  sources: ImportedSource[];
  notes: string[];
  order: [string, number];
}

export interface PlanOptions {
  /** Reads the <VirtualHost> block at file:line (ServerName present? aliases). */
  readBlock?: BlockReader;
}

/** Pure given `readBlock`: the vhqos vhosts that mirror `dump`. */
export function planImport(dump: VhostDump, opts: PlanOptions = {}): ImportPlan {
  const notes: string[] = [];
  const groups = new Map<string, Group>();
  const defaultSources: ImportedSource[] = [];
  const namePorts: number[] = [];
  const blocks = new Map<string, ReturnType<BlockReader>>();
  const block = (v: DumpVhost) => {
    const key = `${v.file}:${v.line}`;
    if (!blocks.has(key)) blocks.set(key, opts.readBlock?.(v.file, v.line) ?? null);
    return blocks.get(key) ?? null;
  };
  // A site is one ServerName (the :80 and :443 <VirtualHost> of one site are
  // one tenant); a block without ServerName (Apache made one up or inherited
  // the main server's) is a site of its own.
  const siteOf = (v: DumpVhost): { site: string; base: string } => {
    const b = block(v);
    const named = normaliseHostPattern(v.name);
    if (named && !named.startsWith('*.') && (b === null || b.serverName !== undefined)) {
      const base = named.slice(0, 64).replace(/[.-]+$/, '');
      if (VHOST_NAME.test(base)) return { site: named, base };
    }
    const where = `${path.basename(v.file)}-${v.line}`.replace(/[^A-Za-z0-9_.-]/g, '_');
    return { site: `${v.file}:${v.line}`, base: `vhost-${where}`.slice(0, 64) };
  };
  const group = (kind: Group['kind'], v: DumpVhost, extraKey = ''): Group => {
    const { site, base } = siteOf(v);
    const key = `${kind}|${site}|${extraKey}`;
    let g = groups.get(key);
    if (!g) {
      g = { kind, site, base, hosts: [], addresses: [], sources: [], notes: [], order: [v.file, v.line] };
      groups.set(key, g);
    }
    return g;
  };

  for (const chain of dump.chains) {
    const anywhere = chain.ip === '*';
    const address = anywhere ? undefined : formatAddress({ ip: chain.ip, port: chain.port === '*' ? undefined : chain.port });
    chain.vhosts.forEach((v, i) => {
      const source: ImportedSource = { file: v.file, line: v.line, chain: chain.address, serverName: v.name, role: i === 0 ? 'default' : 'named' };
      if (i === 0) {
        if (anywhere) defaultSources.push(source);
        else {
          const g = group('by-address', v);
          if (!g.addresses.includes(address!)) g.addresses.push(address!);
          g.sources.push(source);
        }
        return;
      }
      const { hosts, dropped } = namesOnChain(chain, i);
      if (hosts.length === 0) {
        notes.push(`${v.name} (${where(v)}) on ${chain.address}: never chosen by Apache there (${dropped.join('; ') || 'no names'}); not imported for that address`);
        return;
      }
      if (chain.port !== '*' && SERVER_FIRST_PORTS.includes(chain.port) && !namePorts.includes(chain.port)) namePorts.push(chain.port);
      const g = anywhere ? group('by-name-anywhere', v) : group('by-name-at-address', v, hosts.join(' '));
      for (const h of hosts) if (!g.hosts.includes(h)) g.hosts.push(h);
      if (address !== undefined && !g.addresses.includes(address)) g.addresses.push(address);
      g.sources.push(source);
      for (const d of dropped) g.notes.push(`on ${chain.address}: ${d}`);
    });
  }

  // vhqos needs one vhost: a site Apache serves with *:PORT defaults only gets
  // them by their names (their unknown names still go to _default, still theirs).
  if (groups.size === 0) {
    for (const chain of dump.chains) {
      const v = chain.vhosts[0];
      // Without a ServerName in its block, Apache's name for it is made up (the host's FQDN, an IP).
      const b = block(v);
      if (b !== null && b.serverName === undefined) continue;
      const hosts = [v.name, ...(v.namesListed ? v.aliases : (b?.aliases ?? v.aliases))].map(normaliseHostPattern).filter((h): h is string => h !== null);
      if (!hosts.length) continue;
      const g = group('by-name-anywhere', v);
      for (const h of hosts) if (!g.hosts.includes(h)) g.hosts.push(h);
      g.sources.push({ file: v.file, line: v.line, chain: chain.address, serverName: v.name, role: 'default' });
      g.notes.push('Apache has no other vhost: this one is listed by its names so that the config has a vhost; the rest of its requests go to _default');
    }
  }

  const ordered = [...groups.values()].sort(
    (a, b) => a.order[0].localeCompare(b.order[0]) || a.order[1] - b.order[1] || kindRank(a.kind) - kindRank(b.kind),
  );
  // Names: the ServerName, with a suffix where one site needs several vhqos vhosts.
  const used = new Set<string>();
  const names = new Map<Group, string>();
  for (const g of ordered) {
    const suffix = g.kind === 'by-address' ? '-by-address' : g.kind === 'by-name-at-address' ? '-by-name' : '';
    let name = g.base;
    if (used.has(name)) name = g.base.slice(0, 64 - suffix.length) + suffix;
    for (let n = 2; used.has(name); n++) name = `${g.base.slice(0, 60)}-${n}`;
    used.add(name);
    names.set(g, name);
  }
  // A host name belongs to one vhqos vhost; the first claim (config order) keeps it.
  const claimedBy = new Map<string, Group>();
  const kept: Group[] = [];
  for (const g of ordered) {
    const mine: string[] = [];
    for (const h of g.hosts) {
      const owner = claimedBy.get(h);
      if (owner && owner !== g) {
        g.notes.push(`${h}: left out, already listed by ${names.get(owner)} (vhqos matches a name to one vhost whatever the address); requests for it on ${g.sources.map((s) => s.chain).join(', ')} are not told apart`);
      } else {
        claimedBy.set(h, g);
        mine.push(h);
      }
    }
    g.hosts = mine;
    if (g.kind !== 'by-address' && mine.length === 0) {
      notes.push(`${g.sources.map(where).join(', ')}: all its names are listed by other vhosts; not imported (${g.notes.join('; ')})`);
      continue;
    }
    kept.push(g);
  }

  const vhosts: ImportedVhost[] = kept.map((g) => {
    const name = names.get(g) as string;
    return { name, hosts: g.hosts, addresses: g.addresses, sources: g.sources, notes: g.notes };
  });

  const wildPorts = new Set(dump.chains.filter((c) => c.ip === '*').map((c) => String(c.port)));
  if (wildPorts.size > 1) {
    notes.push(
      `Apache has *:PORT vhosts on several ports (${[...wildPorts].join(', ')}); vhqos does not tell ports apart for vhosts without addresses: ` +
        `a name listed on one port is matched on the others too (where Apache would serve it with that port's default).`,
    );
  }
  if (wildPorts.size > 0) {
    notes.push(
      'A connection to a port Apache listens on without any <VirtualHost> for it (Apache serves it with the main server) is classified among the *:PORT vhosts above by name.',
    );
  }
  for (const u of dump.unknown) notes.push(`not understood in the -S output: ${u.trim()}`);
  return { vhosts, defaultSources, notes, nameListenerPorts: namePorts.sort((a, b) => a - b) };
}

function kindRank(k: Group['kind']): number {
  return k === 'by-name-anywhere' ? 0 : k === 'by-address' ? 1 : 2;
}

function where(s: { file: string; line: number }): string {
  return `${s.file}:${s.line}`;
}

/**
 * The names of the i-th vhost of a chain that vhqos can match and Apache would
 * pick it for: an earlier vhost of the chain whose name or alias matches first
 * takes them in Apache; wildcards other than a leading `*.` cannot be expressed.
 */
function namesOnChain(chain: DumpChain, i: number): { hosts: string[]; dropped: string[] } {
  const v = chain.vhosts[i];
  const earlier = chain.vhosts.slice(0, i).flatMap((e) => [e.name, ...e.aliases].map((p) => ({ p, by: e })));
  const hosts: string[] = [];
  const dropped: string[] = [];
  for (const p of [v.name, ...v.aliases]) {
    const h = normaliseHostPattern(p);
    if (h === null) {
      dropped.push(/[*?]/.test(p)
        ? `wildcard ${p} cannot be expressed in vhqos (only a leading "*." is): requests for it go to the address' default there`
        : `${p} is not a host name vhqos can match`);
      continue;
    }
    const first = earlier.find((e) => covers(e.p.toLowerCase(), h));
    if (first) {
      dropped.push(`${p} is taken first by ${first.p} of ${first.by.name} (${where(first.by)})`);
      continue;
    }
    if (!hosts.includes(h)) hosts.push(h);
  }
  return { hosts, dropped };
}

// ---- rendering ----

export interface RenderOptions {
  /** The command whose output this came from, for the header. */
  command: string;
}

const PLACEHOLDER_LIMITS = [
  '    # PLACEHOLDER limits: edit',
  '    cpu: { weight: 100, max: max }',
  '    memory: { max: max }',
  '    pids: { max: max }',
];

const q = (s: string) => JSON.stringify(s);
const comment = (indent: string, text: string) => `${indent}# ${text}`;

function describeSource(s: ImportedSource): string {
  return s.role === 'default'
    ? `<VirtualHost> ${s.serverName} at ${s.file}:${s.line}: Apache's default for ${s.chain} (everything there no other name claims)`
    : `<VirtualHost> ${s.serverName} at ${s.file}:${s.line}: by name on ${s.chain}`;
}

/** The plan as a commented vhqos YAML config. */
export function renderConfig(plan: ImportPlan, opts: RenderOptions): string {
  const out: string[] = [
    `# vhqos config imported from Apache (${opts.command}) by vhqos import apache.`,
    '# Each vhost below is classified the way Apache picks the <VirtualHost> that',
    '# serves a connection (local address first, then the Host / SNI name).',
    '# The limits are PLACEHOLDERS that limit nothing: edit them. cpu.weight is the',
    '# share under contention (1..10000, 100 = equal), cpu.max a hard limit ("50%" of',
    '# one CPU), memory.max bytes ("512M"), pids.max processes; see README "Configuration"',
    '# (io, connections too). Check with `vhqos validate FILE`, then run Apache under',
    '# vhqos: vhqos run --config FILE -- apache2 -DFOREGROUND (or your usual command).',
  ];
  if (plan.notes.length) {
    out.push('#', '# Limitations of this import:');
    for (const n of plan.notes) out.push(`#  - ${n}`);
  }
  out.push('vhosts:');
  for (const v of plan.vhosts) {
    out.push(`  ${q(v.name)}:`);
    for (const s of v.sources) out.push(comment('    ', describeSource(s)));
    for (const n of v.notes) out.push(comment('    ', `note: ${n}`));
    if (v.hosts.length) out.push(`    hosts: [${v.hosts.map(q).join(', ')}]`);
    if (v.addresses.length) out.push(`    addresses: [${v.addresses.map(q).join(', ')}]`);
    out.push(...PLACEHOLDER_LIMITS);
  }
  out.push('# Connections no vhost above claims go to the _default cgroup. Apache serves them with:');
  for (const s of plan.defaultSources) {
    out.push(`#   on ${s.chain}: ${s.serverName} (${s.file}:${s.line}), its default, also for its own names`);
  }
  out.push('#   elsewhere: the main server (outside any <VirtualHost>)');
  out.push('default:', ...PLACEHOLDER_LIMITS.map((l) => l.slice(2)));
  if (plan.nameListenerPorts.length) {
    out.push(
      'options:',
      '  # Apache picks vhosts by name on these ports, which vhqos would otherwise classify by address (server-speaks-first protocols).',
      '  listeners:',
      ...plan.nameListenerPorts.map((p) => `    "${p}": name`),
    );
  }
  return out.join('\n') + '\n';
}
