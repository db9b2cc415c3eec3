// Parser of Apache's `-S` (`-t -D DUMP_VHOSTS`) output: the address chains
// Apache matches connections against, each with its vhosts in the order
// Apache tries them (the first is the chain's default), their names and the
// file:line of each <VirtualHost>. Apache 2.4 lists aliases only for
// name-based chains ("alias X", "wild alias *.x"): a vhost alone on its
// address is printed with its ServerName only (namesListed: false).
import { normaliseIp } from '../classify/address';

export interface DumpVhost {
  /** ServerName as Apache resolved it (inherited or guessed when the block has none). */
  name: string;
  /** ServerAlias entries (plain and wildcard), as printed. */
  aliases: string[];
  /** False for a vhost alone on its address: Apache does not print its aliases. */
  namesListed: boolean;
  /** Where its <VirtualHost> starts. */
  file: string;
  line: number;
}

export interface DumpChain {
  /** The address as printed: `*:80`, `127.0.0.2:80`, `[::1]:443`, `127.0.0.2:*`. */
  address: string;
  /** Canonical IP, or '*' for `*`, `_default_` and unspecified addresses. */
  ip: string;
  /** Port, or '*' for any port. */
  port: number | '*';
  /** Apache printed "is a NameVirtualHost": the Host/SNI picks among its vhosts. */
  nameBased: boolean;
  /** In Apache's order: the first one serves what no name claims. */
  vhosts: DumpVhost[];
}

export interface VhostDump {
  chains: DumpChain[];
  /** `ServerRoot: "..."` when printed (DUMP_RUN_CFG). */
  serverRoot?: string;
  /** Lines of the vhost section this parser did not understand (reported, not fatal). */
  unknown: string[];
}

/** `*:80` → { ip: '*', port: 80 }; null if not an address. */
export function parseChainAddress(text: string): { ip: string; port: number | '*' } | null {
  let host: string, portText: string;
  const bracket = /^\[([^\]]+)\]:(\*|[0-9]+)$/.exec(text);
  if (bracket) {
    [, host, portText] = bracket;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return null;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (!/^(\*|[0-9]{1,5})$/.test(portText)) return null;
  const port = portText === '*' || portText === '0' ? '*' : +portText;
  if (host === '*' || host === '_default_') return { ip: '*', port };
  const ip = normaliseIp(host);
  if (ip === null) return null;
  // Apache treats an unspecified address like `*`.
  return { ip: ip === '0.0.0.0' || ip === '::' ? '*' : ip, port };
}

const WHERE = /^(\S+) \((.+):([0-9]+)\)$/;

/** Parse `-S` output (stdout; warnings on other lines are ignored). */
export function parseDumpVhosts(text: string): VhostDump {
  const dump: VhostDump = { chains: [], unknown: [] };
  let inVhosts = false;
  let chain: DumpChain | undefined;
  let vhost: DumpVhost | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (line === '') continue;
    if (line === 'VirtualHost configuration:') {
      inVhosts = true;
      continue;
    }
    const root = /^ServerRoot: "(.*)"$/.exec(line);
    if (root) {
      dump.serverRoot = root[1];
      inVhosts = false;
      continue;
    }
    if (!inVhosts) continue;
    if (/^\S/.test(line)) {
      chain = vhost = undefined;
      // Apache 2.2 headings ("wildcard NameVirtualHosts and _default_ servers:").
      if (line.endsWith(':') && !line.includes('(')) continue;
      const named = /^(\S+)\s+is a NameVirtualHost$/.exec(line);
      if (named) {
        const a = parseChainAddress(named[1]);
        if (!a) { dump.unknown.push(line); continue; }
        chain = { address: named[1], ...a, nameBased: true, vhosts: [] };
        dump.chains.push(chain);
        continue;
      }
      const single = /^(\S+)\s+(.*)$/.exec(line);
      const a = single && parseChainAddress(single[1]);
      const where = single && WHERE.exec(single[2]);
      if (!a || !where) { dump.unknown.push(line); continue; }
      vhost = { name: where[1], aliases: [], namesListed: false, file: where[2], line: +where[3] };
      dump.chains.push({ address: single![1], ...a, nameBased: false, vhosts: [vhost] });
      vhost = undefined; // no alias lines follow a single vhost
      continue;
    }
    const body = line.trim();
    if (/^default server /.test(body)) continue; // repeats the chain's first namevhost
    const nv = /^port (\S+) namevhost (.*)$/.exec(body);
    if (nv && chain) {
      const where = WHERE.exec(nv[2]);
      if (!where) { dump.unknown.push(line); continue; }
      vhost = { name: where[1], aliases: [], namesListed: true, file: where[2], line: +where[3] };
      chain.vhosts.push(vhost);
      continue;
    }
    const alias = /^(?:wild )?alias (\S+)$/.exec(body);
    if (alias && vhost) {
      vhost.aliases.push(alias[1]);
      continue;
    }
    dump.unknown.push(line);
  }
  return dump;
}
