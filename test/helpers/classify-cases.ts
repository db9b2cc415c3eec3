// Inputs and expected answers of the classifier unit tests, in one place so
// that the native port (test/native/vhost-table.test.ts) is checked against
// exactly the cases the TypeScript classifier is held to.
import { DEFAULT_OPTIONS } from '../../src/config/load';
import type { H2AuthorityResult } from '../../src/classify/h2-authority';
import { HUFFMAN_CODES } from '../../src/classify/hpack-tables';
import type { HttpHostResult } from '../../src/classify/http-host';
import type { TlsSniResult } from '../../src/classify/tls-sni';
import type { Classification, ConnectionFacts, VhostConfig, VhqosConfig } from '../../src/types';

// ---- HTTP Host ---------------------------------------------------------------

export const hostIs = (h: string): HttpHostResult => ({ kind: 'host', host: h });
const NO_HOST: HttpHostResult = { kind: 'no-host' };
const NOT_HTTP: HttpHostResult = { kind: 'not-http' };
const INCOMPLETE_HTTP: HttpHostResult = { kind: 'incomplete' };

/** Over 64 KiB of header fields and no end of the header block yet. */
export const OVERSIZED_HEAD = 'GET / HTTP/1.1\r\n' + 'X-Pad: aaaaaaaaaaaaaaaaaaaa\r\n'.repeat(5000);
const pad = 'X-Pad: ' + 'a'.repeat(100) + '\r\n';
/** Over 64 KiB in 20 header fields and no end of the header block yet. */
export const BIG_FIELDS_HEAD = 'GET / HTTP/1.1\r\n' + `X-Pad: ${'b'.repeat(4000)}\r\n`.repeat(20);

/** Request heads (latin1 text) and what parseHttpHost answers, by topic. */
export const HTTP_CASES: Record<string, [string, HttpHostResult][]> = {
  hostField: [
    ['GET / HTTP/1.1\r\nhOsT:   Gold.Test.:443 \t\r\n\r\n', hostIs('gold.test')],
    ['GET / HTTP/1.0\r\nHOST:gold.test\r\n\r\n', hostIs('gold.test')],
    ['GET / HTTP/1.1\r\nHost: gold.test:\r\n\r\n', hostIs('gold.test')],
    ['GET / HTTP/1.1\r\nHost: under_score.test\r\n\r\n', hostIs('under_score.test')],
  ],
  literals: [
    ['GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n', hostIs('::1')],
    ['GET / HTTP/1.1\r\nHost: [2001:DB8:0::1]\r\n\r\n', hostIs('2001:db8::1')],
    ['GET / HTTP/1.1\r\nHost: [::ffff:127.0.0.2]\r\n\r\n', hostIs('127.0.0.2')],
    ['GET / HTTP/1.1\r\nHost: 127.0.0.2:80\r\n\r\n', hostIs('127.0.0.2')],
    ['GET / HTTP/1.1\r\nHost: [gold.test]\r\n\r\n', NO_HOST],
    ['GET / HTTP/1.1\r\nHost: [::1\r\n\r\n', NO_HOST],
  ],
  amongOthers: [
    [`GET / HTTP/1.1\r\n${pad.repeat(99)}Host: late.test\r\n\r\n`, hostIs('late.test')],
    // The 101st field: Apache refuses the request (LimitRequestFields 100), so it has no name.
    [`GET / HTTP/1.1\r\n${pad.repeat(100)}Host: late.test\r\n\r\n`, NO_HOST],
    ['GET / HTTP/1.1\r\nHost: first.test\r\nHost: second.test\r\n\r\n', hostIs('first.test')],
    // Header names that merely contain or start with "host" are not Host.
    ['GET / HTTP/1.1\r\nX-Host: x.test\r\nHosts: y.test\r\nHost : z.test\r\n\r\n', NO_HOST],
  ],
  absoluteForm: [
    // What Apache 2.4.71 serves (test/integration/run-apache-match.test.ts tries them):
    // an http:// target wins over Host...
    ['GET http://abs.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('abs.test')],
    ['GET HTTP://ABS.test:8443?q HTTP/1.1\r\n', hostIs('abs.test')],
    ['GET http://[::1]:80/ HTTP/1.1\r\n', hostIs('::1')],
    // ...one without a usable host leaves the request without a name (Apache: its default vhost, or 400)...
    ['GET http:///nohost HTTP/1.1\r\nHost: other.test\r\n\r\n', NO_HOST],
    ['GET http://bad^host/ HTTP/1.1\r\nHost: other.test\r\n\r\n', NO_HOST],
    ['GET http://user:pw@abs.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n', NO_HOST],
    // ...and a target of another scheme is not the connection's: Host decides.
    ['GET https://abs.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('other.test')],
    ['GET HTTPS://User:pw@ABS.test:8443?q HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('other.test')],
    ['GET ftp://abs.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('other.test')],
    ['GET httpx://abs.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('other.test')],
    ['GET http:/abs.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('other.test')],
    // Origin-form and authority-form (CONNECT) use Host.
    ['GET /http://x.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('other.test')],
    ['CONNECT gold.test:443 HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('other.test')],
  ],
  folded: [
    ['GET / HTTP/1.1\r\nHost:\r\n gold.test\r\nAccept: */*\r\n\r\n', hostIs('gold.test')],
    ['GET / HTTP/1.1\r\nHost:\r\n\tgold.test\r\n\r\n', hostIs('gold.test')],
    // A fold inside the name makes it "gold .test": unusable.
    ['GET / HTTP/1.1\r\nHost: gold\r\n .test\r\n\r\n', NO_HOST],
    // Folds of other fields are ignored.
    ['GET / HTTP/1.1\r\nX-A: 1\r\n Host: no.test\r\nHost: yes.test\r\n\r\n', hostIs('yes.test')],
    // The Host line alone is not final: the next line could continue it.
    ['GET / HTTP/1.1\r\nHost: gold.test\r\n', INCOMPLETE_HTTP],
    ['GET / HTTP/1.1\r\nHost: gold.test\r\n ', INCOMPLETE_HTTP],
    ['GET / HTTP/1.1\r\nHost: gold.test\r\nA', hostIs('gold.test')],
  ],
  noHost: [
    ['GET / HTTP/1.0\r\n\r\n', NO_HOST],
    ['GET / HTTP/1.1\r\nAccept: */*\r\nUser-Agent: x\r\n\r\nbody', NO_HOST],
    ...['', ' ', 'a b.test', 'gold.test:80x', 'gold.test:80:81', 'x\x00y', 'gold..test', '.', 'é.test', 'a'.repeat(254), 'gold.test, other.test'].map(
      (v): [string, HttpHostResult] => [`GET / HTTP/1.1\r\nHost: ${v}\r\n\r\n`, NO_HOST],
    ),
    [`GET / HTTP/1.1\r\nHost: ${'a'.repeat(10000)}\r\n\r\n`, NO_HOST],
    [`GET / HTTP/1.1\r\nHost: ${'a.'.repeat(126)}a\r\n\r\n`, hostIs(`${'a.'.repeat(126)}a`)],
  ],
  lineEnds: [
    ['GET / HTTP/1.1\nHost: lf.test\n\n', hostIs('lf.test')],
    ['\r\n\r\nGET / HTTP/1.1\r\nHost: lead.test\r\n\r\n', hostIs('lead.test')],
    ['GET / HTTP/1.1\nAccept: x\n\n', NO_HOST],
  ],
  notHttp: [
    ...[
      '\x16\x03\x01\x02\x00\x01',
      'SSH-2.0-OpenSSH_9.2\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      'GET /\r\n',
      'GET / HTTP/1.1 extra\r\n',
      'GET / http/1.1\r\n',
      'GET / HTTP/1.x\r\n',
      'GET / HTTP/1.10\r\n',
      'GET  HTTP/1.1\r\n',
      ' GET / HTTP/1.1\r\n',
      'GET\t/ HTTP/1.1\r\n',
      'GET /a\x00b HTTP/1.1\r\n',
      'GET /\x7f HTTP/1.1\r\n',
      'G(T / HTTP/1.1\r\n',
      'A'.repeat(33) + ' / HTTP/1.1\r\n',
      'A'.repeat(40),
      '\x00\x00\x00\x00',
      'GET / HTTP/1.1 \r\n',
      '\r\n\r\n\x00',
    ].map((c): [string, HttpHostResult] => [c, NOT_HTTP]),
    // A 32-byte method is still fine.
    ['M'.repeat(32) + ' / HTTP/1.1\r\nHost: m.test\r\n\r\n', hostIs('m.test')],
  ],
  incomplete: [
    '',
    '\r\n',
    'G',
    'GET',
    'GET ',
    'GET /',
    'GET / ',
    'GET / H',
    'GET / HTTP/1.',
    'GET / HTTP/1.1',
    'GET / HTTP/1.1\r',
    'GET / HTTP/1.1\r\n',
    'GET / HTTP/1.1\r\nHost: gold.te',
    'GET / HTTP/1.1\r\nAccept: */*\r\n',
    'GET / HTTP/1.1\r\nAccept: */*\r\n\r',
  ].map((c): [string, HttpHostResult] => [c, INCOMPLETE_HTTP]),
  oversized: [
    // Over 100 fields: no Host is looked for any more.
    [OVERSIZED_HEAD, NO_HOST],
    [OVERSIZED_HEAD + 'Host: big.test\r\n\r\n', NO_HOST],
    [BIG_FIELDS_HEAD, INCOMPLETE_HTTP],
    [BIG_FIELDS_HEAD + '\r\n', NO_HOST],
    [BIG_FIELDS_HEAD + 'Host: big.test\r\n\r\n', hostIs('big.test')],
    // One huge header line.
    ['GET / HTTP/1.1\r\nX-Big: ' + 'b'.repeat(200000), INCOMPLETE_HTTP],
    // Huge request target.
    ['GET /' + 'p'.repeat(200000), INCOMPLETE_HTTP],
    ['GET /' + 'p'.repeat(200000) + ' HTTP/1.1\r\nHost: long.test\r\n\r\n', hostIs('long.test')],
    ['GET http://' + 'h'.repeat(200000) + '/ HTTP/1.1\r\nHost: fallback.test\r\n\r\n', NO_HOST],
    ['GET https://' + 'h'.repeat(200000) + '/ HTTP/1.1\r\nHost: fallback.test\r\n\r\n', hostIs('fallback.test')],
  ],
};

/** Megabyte inputs that must still parse in linear time. */
export const HTTP_LINEAR_INPUTS = [
  'GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(400000),
  'GET / HTTP/1.1\r\n' + '\n'.repeat(1) + 'x'.repeat(2_000_000),
  'GET / HTTP/1.1\r\n' + ' \r\n'.repeat(600000),
  'GET / HTTP/1.1\r\nHost:' + '\r\n a'.repeat(500000),
  '\r\n'.repeat(1_000_000),
  'GET ' + '/'.repeat(2_000_000),
];

/** A label for an assertion about a possibly huge input. */
export const label = (s: string | Uint8Array): string => {
  const text = typeof s === 'string' ? s : Buffer.from(s).toString('latin1');
  return text.length > 120 ? `${JSON.stringify(text.slice(0, 120))}… (${text.length} bytes)` : JSON.stringify(text);
};

// ---- TLS SNI -----------------------------------------------------------------

export const sniIs = (host: string): TlsSniResult => ({ kind: 'sni', host });
const NO_SNI: TlsSniResult = { kind: 'no-sni' };

const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 255, n & 255]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
export const ext = (type: number, data: Buffer) => Buffer.concat([u16(type), vec16(data)]);
/** server_name extension data: ServerNameList of (name_type, name). */
export const serverNames = (...entries: [number, string][]) =>
  vec16(Buffer.concat(entries.map(([type, name]) => Buffer.concat([Buffer.from([type]), vec16(Buffer.from(name, 'latin1'))]))));

export interface HelloParts {
  extensions?: Buffer[] | null; // null: no extensions block at all
  sessionId?: Buffer;
  suites?: Buffer;
  compression?: Buffer;
  major?: number;
  handshakeType?: number;
}

/** A hand-made ClientHello in one record, for cases real clients do not produce. */
export function hello(p: HelloParts = {}): Buffer {
  const body = [
    Buffer.from([p.major ?? 3, 3]),
    Buffer.alloc(32, 7),
    Buffer.concat([Buffer.from([(p.sessionId ?? Buffer.alloc(32, 1)).length]), p.sessionId ?? Buffer.alloc(32, 1)]),
    vec16(p.suites ?? Buffer.from([0x13, 0x01, 0x13, 0x02])),
    Buffer.concat([Buffer.from([(p.compression ?? Buffer.from([0])).length]), p.compression ?? Buffer.from([0])]),
  ];
  if (p.extensions !== null) body.push(vec16(Buffer.concat(p.extensions ?? [])));
  const b = Buffer.concat(body);
  const hs = Buffer.concat([Buffer.from([p.handshakeType ?? 1]), u24(b.length), b]);
  return Buffer.concat([Buffer.from([22, 3, 1]), u16(hs.length), hs]);
}

/** Hand-made ClientHellos and their answer: entry order, trailing dot, bad names. */
export const TLS_HELLO_CASES: [string, Buffer, TlsSniResult][] = [
  ['plain', hello({ extensions: [ext(0, serverNames([0, 'gold.test']))] }), sniIs('gold.test')],
  ['trailing dot', hello({ extensions: [ext(0, serverNames([0, 'gold.test.']))] }), sniIs('gold.test')],
  // server_name after other extensions, with a non-host_name entry first.
  [
    'late entry',
    hello({ extensions: [ext(10, Buffer.alloc(8)), ext(16, Buffer.alloc(0)), ext(0, serverNames([7, 'x'], [0, 'late.test']))] }),
    sniIs('late.test'),
  ],
  ...['', 'a b', 'é.test', 'x\x00y', '..', 'a'.repeat(300)].map(
    (name): [string, Buffer, TlsSniResult] => [JSON.stringify(name), hello({ extensions: [ext(0, serverNames([0, name]))] }), NO_SNI],
  ),
  ['other name type', hello({ extensions: [ext(0, serverNames([1, 'other']))] }), NO_SNI],
  ['empty name list', hello({ extensions: [ext(0, serverNames())] }), NO_SNI],
  ['no server_name', hello({ extensions: [ext(10, Buffer.alloc(4))] }), NO_SNI],
  ['empty extensions', hello({ extensions: [] }), NO_SNI],
  ['no extensions block', hello({ extensions: null }), NO_SNI],
  ['empty session id', hello({ sessionId: Buffer.alloc(0), extensions: [ext(0, serverNames([0, 's.test']))] }), sniIs('s.test')],
];

/** Hand-made ClientHellos whose every prefix is incomplete until the answer. */
export const TLS_PREFIX_CASES: [Buffer, TlsSniResult][] = [
  [hello({ extensions: [ext(10, Buffer.alloc(20)), ext(0, serverNames([0, 'gold.test'])), ext(13, Buffer.alloc(30))] }), sniIs('gold.test')],
  [hello({ extensions: null }), NO_SNI],
];

/** Not TLS: other protocols and inconsistent lengths, with the reason. */
export function tlsNotTlsCases(): [Buffer, string][] {
  const cases: [Buffer, string][] = [
    [Buffer.from('GET / HTTP/1.1\r\n'), 'HTTP'],
    [Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), 'SSLv2 hello'],
    [Buffer.from([22, 2, 0]), 'record version major 2'],
    [Buffer.from([22, 3, 1, 0, 0]), 'empty record'],
    [Buffer.from([22, 3, 1, 0x40, 0x01]), 'record longer than 2^14'],
    [Buffer.from([21, 3, 3, 0, 2, 2, 40]), 'alert record'],
    [hello({ handshakeType: 2, extensions: [] }), 'ServerHello'],
    [hello({ major: 2, extensions: [] }), 'client_version 2.x'],
    [hello({ sessionId: Buffer.alloc(33), extensions: [] }), 'session id > 32'],
    [hello({ suites: Buffer.alloc(3), extensions: [] }), 'odd cipher suites length'],
    [hello({ suites: Buffer.alloc(0), extensions: [] }), 'no cipher suites'],
    [hello({ compression: Buffer.alloc(0), extensions: [] }), 'no compression methods'],
  ];
  // An extension claiming more bytes than the extensions block holds.
  const h = hello({ extensions: [ext(10, Buffer.alloc(4))] });
  h.writeUInt16BE(200, h.length - 6);
  cases.push([h, 'extension overruns its block']);
  // A server_name list longer than its extension.
  const s = hello({ extensions: [ext(0, serverNames([0, 'gold.test']))] });
  s.writeUInt16BE(500, s.length - 14);
  cases.push([s, 'name list overruns the extension']);
  // The handshake claiming more than the records hold, then a non-handshake record.
  const long = hello({ extensions: [ext(0, serverNames([0, 'gold.test']))] });
  long.writeUIntBE(long.length, 6, 3);
  cases.push([Buffer.concat([long, Buffer.from([23, 3, 3, 0, 1, 0])]), 'application data inside the handshake']);
  return cases;
}

/** Consistent beginnings of a TLS handshake: incomplete. */
export const TLS_INCOMPLETE_CASES: number[][] = [
  [],
  [22],
  [22, 3],
  [22, 3, 1],
  [22, 3, 1, 2],
  [22, 3, 1, 2, 0],
  [22, 3, 1, 2, 0, 1],
  [22, 3, 1, 2, 0, 1, 0, 1, 0xfc, 3, 3],
];

/** A chain of full-size handshake records claiming a 16 MiB ClientHello, 2 MB in all. */
export function bigTlsInput(): Buffer {
  const b = Buffer.alloc(2_000_000, 0);
  for (let i = 0; i < b.length; i += 16389) {
    b.set([22, 3, 1, 0x40, 0x00], i); // chain of full-size handshake records
  }
  b[5] = 1;
  b.writeUIntBE(0xffffff, 6, 3);
  return b;
}

// ---- The classifier ----------------------------------------------------------

/** A config of these vhosts (named v0, v1... unless named), default options. */
export function config(vhosts: Partial<VhostConfig>[]): VhqosConfig {
  return {
    vhosts: vhosts.map((v, i) => ({ name: `v${i}`, hosts: [], addresses: [], resources: {}, ...v })),
    default: {},
    options: { ...DEFAULT_OPTIONS },
  };
}

export const httpRequest = (host: string) => Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
export const facts = (firstBytes: Uint8Array, ip = '10.9.9.9', port = 80): ConnectionFacts => ({ local: { ip, port }, firstBytes });

/**
 * The example config of the classifier tests (parse it with parseConfig), in
 * Apache's terms: gold, silver and bronze are name-based on every address
 * (`<VirtualHost *:80>`), byaddr is IP-based (127.0.0.9), lead and platinum
 * share 127.0.0.2 (lead, without names, is its default), tin has
 * 127.0.0.2:8080 to itself (an ip:port beats the ip).
 */
export const EXAMPLE_CONFIG = `
vhosts:
  gold:
    hosts: [gold.test, "*.gold.test"]
  silver:
    hosts: [silver.test, "*.eu.gold.test", "a.gold.test"]
  bronze:
    hosts: ["*.test"]
  byaddr:
    addresses: ["127.0.0.9"]
  lead:
    addresses: ["127.0.0.2", "[::1]:8443"]
  platinum:
    hosts: [platinum.test, "*.plat.test"]
    addresses: ["127.0.0.2", "[::1]:8443"]
  tin:
    hosts: [tin.test]
    addresses: ["127.0.0.2:8080"]
`;

const none = Buffer.alloc(0);

/** Connections to EXAMPLE_CONFIG and their classification, by topic, with a reason where it helps. */
export const CLASSIFIER_CASES: Record<string, [ConnectionFacts, Classification, string?][]> = {
  names: [
    [facts(httpRequest('gold.test')), { vhost: 'gold', by: 'host', detail: 'gold.test' }],
    [facts(httpRequest('GOLD.test.:80')), { vhost: 'gold', by: 'host', detail: 'gold.test' }],
    [facts(httpRequest('www.gold.test')), { vhost: 'gold', by: 'host', detail: 'www.gold.test' }],
    [facts(httpRequest('a.b.c.gold.test')), { vhost: 'gold', by: 'host', detail: 'a.b.c.gold.test' }],
    [facts(httpRequest('x.eu.gold.test')), { vhost: 'silver', by: 'host', detail: 'x.eu.gold.test' }, 'longer wildcard wins'],
    [facts(httpRequest('y.x.eu.gold.test')), { vhost: 'silver', by: 'host', detail: 'y.x.eu.gold.test' }],
    [facts(httpRequest('eu.gold.test')), { vhost: 'gold', by: 'host', detail: 'eu.gold.test' }, '*.eu.gold.test does not match eu.gold.test itself'],
    [facts(httpRequest('a.gold.test')), { vhost: 'silver', by: 'host', detail: 'a.gold.test' }, 'exact beats wildcard'],
    [facts(httpRequest('b.a.gold.test')), { vhost: 'gold', by: 'host', detail: 'b.a.gold.test' }, 'an exact name is not a wildcard'],
    [facts(httpRequest('silver.test')), { vhost: 'silver', by: 'host', detail: 'silver.test' }],
    [facts(httpRequest('other.test')), { vhost: 'bronze', by: 'host', detail: 'other.test' }],
    [facts(httpRequest('test')), { vhost: null, by: 'default', detail: 'test' }, '*.test does not match test'],
    [facts(httpRequest('platinum.test')), { vhost: 'bronze', by: 'host', detail: 'platinum.test' }, 'platinum is no candidate here: a candidate wildcard takes its name'],
    [facts(httpRequest('nowhere.example')), { vhost: null, by: 'default', detail: 'nowhere.example' }],
    [facts(none), { vhost: null, by: 'default' }],
  ],
  candidates: [
    [facts(httpRequest('platinum.test'), '127.0.0.2', 80), { vhost: 'platinum', by: 'host', detail: 'platinum.test' }],
    [facts(httpRequest('x.plat.test'), '127.0.0.2', 80), { vhost: 'platinum', by: 'host', detail: 'x.plat.test' }],
    [facts(httpRequest('gold.test'), '127.0.0.2', 80), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80' }, 'a name never takes a connection from its address'],
    [facts(httpRequest('other.test'), '127.0.0.2', 80), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80' }],
    [facts(none, '127.0.0.2', 80), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80' }],
    [facts(httpRequest('gold.test'), '127.0.0.9', 1), { vhost: 'byaddr', by: 'address', detail: '127.0.0.9:1' }, 'IP-based: every name'],
    [facts(httpRequest('tin.test'), '127.0.0.2', 8080), { vhost: 'tin', by: 'host', detail: 'tin.test' }],
    [facts(httpRequest('platinum.test'), '127.0.0.2', 8080), { vhost: null, by: 'default', detail: 'platinum.test' }, 'ip:port beats ip: only tin is a candidate, and it has names'],
    [facts(none, '127.0.0.2', 8080), { vhost: null, by: 'default' }],
    [facts(httpRequest('tin.test'), '127.0.0.2', 80), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80' }],
    [facts(httpRequest('tin.test')), { vhost: 'bronze', by: 'host', detail: 'tin.test' }],
  ],
  addresses: [
    [facts(none, '::ffff:127.0.0.2', 80), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80' }],
    [facts(httpRequest('tin.test'), '::ffff:127.0.0.2', 8080), { vhost: 'tin', by: 'host', detail: 'tin.test' }],
    [facts(none, '0:0:0:0:0:0:0:1', 8443), { vhost: 'lead', by: 'address', detail: '[::1]:8443' }],
    [facts(httpRequest('platinum.test'), '::1', 8443), { vhost: 'platinum', by: 'host', detail: 'platinum.test' }],
    [facts(none, '::1', 443), { vhost: null, by: 'default' }],
    [facts(httpRequest('gold.test'), '::1', 443), { vhost: 'gold', by: 'host', detail: 'gold.test' }],
    [facts(none, '127.0.0.9', 1), { vhost: 'byaddr', by: 'address', detail: '127.0.0.9:1' }],
    [facts(none, 'garbage', 1), { vhost: null, by: 'default' }],
    [facts(httpRequest('gold.test'), 'garbage', 1), { vhost: 'gold', by: 'host', detail: 'gold.test' }, 'no local address: the vhosts without addresses'],
  ],
};

/**
 * Addresses given as CIDR ranges: the most specific match makes the
 * candidates (a longer prefix first, an address being the longest; at equal
 * prefixes an entry with a port first). lan is IP-based on a /24, lanweb
 * name-based on the /24's port 8080, host7 one address inside it, quarter
 * and quarterdefault share a /26 inside it (by name, and its default), loop
 * is 127.0.0.0/29, v6lan and v6one are IPv6, all4 every IPv4 address on
 * port 25; names lists no address.
 */
export const RANGE_CONFIG = `
vhosts:
  lan:
    addresses: ["10.0.0.0/24"]
  lanweb:
    hosts: [web.test]
    addresses: ["10.0.0.0/24:8080"]
  host7:
    addresses: ["10.0.0.7"]
  quarter:
    hosts: [q.test]
    addresses: ["10.0.0.64/26"]
  quarterdefault:
    addresses: ["10.0.0.64/26"]
  loop:
    addresses: ["127.0.0.0/29"]
  v6lan:
    addresses: ["fd00::/64", "[fd00:0:0:1::/64]:443"]
  v6one:
    hosts: [six.test]
    addresses: ["fd00::1"]
  all4:
    addresses: ["0.0.0.0/0:25"]
  names:
    hosts: ["*.test"]
`;

/** Connections to RANGE_CONFIG and their classification. */
export const RANGE_CASES: [ConnectionFacts, Classification, string?][] = [
  [facts(none, '10.0.0.5', 80), { vhost: 'lan', by: 'address', detail: '10.0.0.5:80' }],
  [facts(httpRequest('web.test'), '10.0.0.5', 80), { vhost: 'lan', by: 'address', detail: '10.0.0.5:80' }, 'a name never takes a connection from its range'],
  [facts(none, '::ffff:10.0.0.255', 80), { vhost: 'lan', by: 'address', detail: '10.0.0.255:80' }],
  [facts(httpRequest('web.test'), '10.0.0.5', 8080), { vhost: 'lanweb', by: 'host', detail: 'web.test' }, 'range:port beats the range'],
  [facts(none, '10.0.0.5', 8080), { vhost: null, by: 'default' }],
  [facts(httpRequest('web.test'), '10.0.0.7', 8080), { vhost: 'host7', by: 'address', detail: '10.0.0.7:8080' }, 'an address beats any range, whatever the port'],
  [facts(httpRequest('q.test'), '10.0.0.70', 80), { vhost: 'quarter', by: 'host', detail: 'q.test' }],
  [facts(none, '10.0.0.127', 80), { vhost: 'quarterdefault', by: 'address', detail: '10.0.0.127:80' }],
  [facts(httpRequest('web.test'), '10.0.0.70', 8080), { vhost: 'quarterdefault', by: 'address', detail: '10.0.0.70:8080' }, 'a longer prefix beats a port'],
  [facts(none, '10.0.0.128', 80), { vhost: 'lan', by: 'address', detail: '10.0.0.128:80' }, 'just past the /26'],
  [facts(httpRequest('web.test'), '10.0.1.1', 80), { vhost: 'names', by: 'host', detail: 'web.test' }, 'outside every range: the vhosts without addresses'],
  [facts(none, '127.0.0.3', 80), { vhost: 'loop', by: 'address', detail: '127.0.0.3:80' }],
  [facts(none, '127.0.0.0', 80), { vhost: 'loop', by: 'address', detail: '127.0.0.0:80' }],
  [facts(httpRequest('x.test'), '127.0.0.8', 80), { vhost: 'names', by: 'host', detail: 'x.test' }],
  [facts(none, 'fd00::2', 80), { vhost: 'v6lan', by: 'address', detail: '[fd00::2]:80' }],
  [facts(none, 'FD00:0:0:0:FFFF:FFFF:FFFF:FFFF', 80), { vhost: 'v6lan', by: 'address', detail: '[fd00::ffff:ffff:ffff:ffff]:80' }],
  [facts(httpRequest('six.test'), 'fd00::1', 80), { vhost: 'v6one', by: 'host', detail: 'six.test' }],
  [facts(none, 'fd00::1', 80), { vhost: null, by: 'default' }, 'the address beats the range: v6one alone, and it has names'],
  [facts(none, 'fd00:0:0:1::5', 443), { vhost: 'v6lan', by: 'address', detail: '[fd00:0:0:1::5]:443' }],
  [facts(none, 'fd00:0:0:1::5', 80), { vhost: null, by: 'default' }],
  [facts(none, '192.168.1.1', 25), { vhost: 'all4', by: 'address', detail: '192.168.1.1:25' }],
  [facts(none, '10.0.0.5', 25), { vhost: 'lan', by: 'address', detail: '10.0.0.5:25' }, 'a /24 beats a /0 with a port'],
  [facts(httpRequest('web.test'), '::1', 25), { vhost: 'names', by: 'host', detail: 'web.test' }, 'an IPv4 range never matches IPv6'],
  [facts(none, '::ffff:192.168.1.1', 25), { vhost: 'all4', by: 'address', detail: '192.168.1.1:25' }],
];

/** needsMoreBytes on hand-made bytes: [bytes, peekBytes, expected]. */
export const NEEDS_MORE_CASES: [Buffer, number, boolean][] = [
  [Buffer.from('GET / HTTP/1.1\r\nHost: gol'), 4096, true],
  [httpRequest('gold.test'), 4096, false],
  [Buffer.from('SSH-2.0-x\r\n'), 4096, false],
  [Buffer.alloc(0), 4096, false],
];

/** Random wildcard and exact claims over a few labels, and names to look up. */
export function randomNameClaims(rand: () => number): { vhosts: Partial<VhostConfig>[]; names: string[] } {
  const labels = ['a', 'b', 'c', 'gold', 'test'];
  const name = (n: number) => Array.from({ length: n }, () => labels[Math.floor(rand() * labels.length)]).join('.');
  const vhosts: Partial<VhostConfig>[] = [];
  const claimed = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const pattern = (rand() < 0.5 ? '*.' : '') + name(1 + Math.floor(rand() * 3));
    if (claimed.has(pattern)) continue;
    claimed.add(pattern);
    vhosts.push({ name: `v${i}`, hosts: [pattern] });
  }
  const names = Array.from({ length: 2000 }, () => name(1 + Math.floor(rand() * 5)));
  return { vhosts, names };
}

// ---- HTTP/2 (h2c prior knowledge) -------------------------------------------


export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const h2HostIs = (h: string): H2AuthorityResult => ({ kind: 'host', host: h });
const H2_NO_HOST: H2AuthorityResult = { kind: 'no-host' };
const H2_INCOMPLETE: H2AuthorityResult = { kind: 'incomplete' };
const NOT_H2: H2AuthorityResult = { kind: 'not-h2' };

/** An HTTP/2 frame. */
export function h2Frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([h, payload]);
}
export const SETTINGS = h2Frame(4, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100])); // MAX_CONCURRENT_STREAMS 100

/** An HPACK integer with an N-bit prefix; `flags` fills the bits above it. */
export function hpInt(v: number, prefixBits: number, flags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (v < max) return Buffer.from([flags | v]);
  const out = [flags | max];
  for (v -= max; v >= 128; v = Math.floor(v / 128)) out.push((v % 128) | 128);
  out.push(v);
  return Buffer.from(out);
}

/** Huffman-code latin1 text (RFC 7541 Appendix B), padded with 1s. */
export function huffmanEncode(text: string): Buffer {
  const out: number[] = [];
  let acc = 0n, bits = 0n;
  for (const ch of Buffer.from(text, 'latin1')) {
    const [code, len] = HUFFMAN_CODES[ch];
    acc = (acc << BigInt(len)) | BigInt(code);
    bits += BigInt(len);
    while (bits >= 8n) {
      bits -= 8n;
      out.push(Number((acc >> bits) & 0xffn));
    }
  }
  if (bits > 0n) out.push(Number(((acc << (8n - bits)) | ((1n << (8n - bits)) - 1n)) & 0xffn));
  return Buffer.from(out);
}

/** An HPACK string literal, raw or Huffman-coded. */
export function hpStr(s: string, huffman = false): Buffer {
  const body = huffman ? huffmanEncode(s) : Buffer.from(s, 'latin1');
  return Buffer.concat([hpInt(body.length, 7, huffman ? 0x80 : 0), body]);
}

/** Header field representations (RFC 7541 §6). `name`: a static/dynamic index or a literal name. */
export const hp = {
  indexed: (i: number) => hpInt(i, 7, 0x80),
  incremental: (name: number | string, value: string, huffman = false) =>
    Buffer.concat([typeof name === 'number' ? hpInt(name, 6, 0x40) : Buffer.concat([Buffer.from([0x40]), hpStr(name, huffman)]), hpStr(value, huffman)]),
  plain: (name: number | string, value: string, huffman = false) =>
    Buffer.concat([typeof name === 'number' ? hpInt(name, 4, 0) : Buffer.concat([Buffer.from([0]), hpStr(name, huffman)]), hpStr(value, huffman)]),
  never: (name: number | string, value: string) =>
    Buffer.concat([typeof name === 'number' ? hpInt(name, 4, 0x10) : Buffer.concat([Buffer.from([0x10]), hpStr(name)]), hpStr(value)]),
  sizeUpdate: (n: number) => hpInt(n, 5, 0x20),
};

/** The usual start of a request block: :method GET, :scheme http, :path /. */
export const H2_START = Buffer.concat([hp.indexed(2), hp.indexed(6), hp.indexed(4)]);

/** Preface, SETTINGS, then a HEADERS frame (END_HEADERS, END_STREAM) on stream 1 with this block. */
export function h2Request(block: Buffer, o: { flags?: number; stream?: number; before?: Buffer[] } = {}): Buffer {
  return Buffer.concat([H2_PREFACE, SETTINGS, ...(o.before ?? []), h2Frame(1, o.flags ?? 0x5, o.stream ?? 1, block)]);
}

/** A block of these header fields, split into a HEADERS frame and CONTINUATIONs of at most `size` bytes. */
export function h2Split(block: Buffer, size: number, stream = 1): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < block.length || i === 0; i += size) {
    const part = block.subarray(i, i + size);
    const last = i + size >= block.length;
    frames.push(h2Frame(i === 0 ? 1 : 9, (last ? 0x4 : 0) | (i === 0 ? 0x1 : 0), stream, part));
  }
  return Buffer.concat([H2_PREFACE, SETTINGS, ...frames]);
}

const auth = (v: string, huffman = false) => hp.plain(1, v, huffman);
/** Big enough to fill most of the dynamic table. */
const bigValue = 'v'.repeat(4000);

/** h2c first bytes and what parseH2Authority answers, by topic. */
export const H2_CASES: Record<string, [Buffer, H2AuthorityResult][]> = {
  authority: [
    [h2Request(Buffer.concat([H2_START, auth('Gold.Test:8443')])), h2HostIs('gold.test')],
    [h2Request(Buffer.concat([H2_START, auth('gold.test', true)])), h2HostIs('gold.test')],
    [h2Request(Buffer.concat([auth('[::1]:80'), H2_START])), h2HostIs('::1')],
    [h2Request(Buffer.concat([H2_START, hp.incremental(1, 'inc.test', true)])), h2HostIs('inc.test')],
    [h2Request(Buffer.concat([H2_START, hp.never(1, 'never.test')])), h2HostIs('never.test')],
    [h2Request(Buffer.concat([H2_START, hp.plain(':authority', 'literal.test', true)])), h2HostIs('literal.test')],
    // :authority beats host, whichever comes first in the block (mod_http2 likewise).
    [h2Request(Buffer.concat([H2_START, auth('a.test'), hp.plain(38, 'h.test')])), h2HostIs('a.test')],
    // host alone: final at the end of the block.
    [h2Request(Buffer.concat([H2_START, hp.plain(38, 'h.test'), hp.plain('x-a', 'b')])), h2HostIs('h.test')],
    [h2Request(Buffer.concat([H2_START, hp.plain('host', 'h.test', true), hp.plain(38, 'second.test')])), h2HostIs('h.test')],
    // An unusable :authority is no name (no fallback to host).
    [h2Request(Buffer.concat([H2_START, auth('bad host'), hp.plain(38, 'h.test')])), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, auth('')])), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, hp.indexed(1)])), H2_NO_HOST], // the static entry's empty value
    [h2Request(Buffer.concat([H2_START, auth('a'.repeat(400))])), H2_NO_HOST],
    [h2Request(H2_START), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, hp.plain(38, '')])), H2_NO_HOST],
  ],
  dynamicTable: [
    // An entry added, then referenced: by index 62 (newest) and 63.
    [h2Request(Buffer.concat([H2_START, hp.incremental('x-a', 'b'), hp.incremental(38, 'dyn.test'), hp.indexed(63), hp.indexed(62)])), h2HostIs('dyn.test')],
    [h2Request(Buffer.concat([H2_START, hp.incremental(38, 'first.test'), hp.incremental(62, 'second.test'), hp.indexed(62)])), h2HostIs('first.test')],
    // A dynamic entry's name used for a literal: the new :authority decides.
    [h2Request(Buffer.concat([hp.incremental(1, 'one.test'), H2_START])), h2HostIs('one.test')],
    // Size update to 0 first: entries are evicted at once, a reference to one is an error.
    [h2Request(Buffer.concat([hp.sizeUpdate(0), H2_START, hp.incremental('x-a', 'b'), hp.indexed(62), auth('z.test')])), H2_NO_HOST],
    [h2Request(Buffer.concat([hp.sizeUpdate(100), hp.sizeUpdate(4096), H2_START, auth('z.test')])), h2HostIs('z.test')],
    [h2Request(Buffer.concat([H2_START, hp.sizeUpdate(0), auth('z.test')])), H2_NO_HOST], // only before the first field
    [h2Request(Buffer.concat([hp.sizeUpdate(4097), H2_START, auth('z.test')])), H2_NO_HOST],
    // Eviction: 36 + 4037 bytes fit in 4096; 36 + 4067 do not, and the older entry (63) goes.
    [h2Request(Buffer.concat([H2_START, hp.incremental('x-a', 'b'), hp.incremental('x-big', bigValue), hp.indexed(63), hp.plain(38, 'z.test')])), h2HostIs('z.test')],
    [h2Request(Buffer.concat([H2_START, hp.incremental('x-a', 'b'), hp.incremental('x-big', 'v'.repeat(4030)), hp.indexed(63), hp.plain(38, 'z.test')])), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, hp.incremental('x-a', 'b'), hp.incremental('x-big', 'v'.repeat(4030)), hp.indexed(62), hp.plain(38, 'z.test')])), h2HostIs('z.test')],
    // An entry larger than the table empties it and is not added.
    [h2Request(Buffer.concat([H2_START, hp.incremental('x-a', 'b'), hp.incremental('x-huge', 'v'.repeat(4100)), hp.indexed(62), auth('z.test')])), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, hp.indexed(62)])), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, hp.indexed(0)])), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, hp.plain(70, 'x')])), H2_NO_HOST],
  ],
  frames: [
    // PADDED and PRIORITY flags.
    [h2Request(Buffer.concat([Buffer.from([3]), Buffer.from([0, 0, 0, 0, 16]), H2_START, auth('pad.test'), Buffer.alloc(3)]), { flags: 0x5 | 0x8 | 0x20 }), h2HostIs('pad.test')],
    [h2Request(Buffer.concat([Buffer.from([200]), H2_START, auth('pad.test')]), { flags: 0x5 | 0x8 }), H2_NO_HOST], // padding longer than the frame
    // Frames that may come first are skipped: WINDOW_UPDATE, PING, PRIORITY, SETTINGS, an unknown type.
    [h2Request(Buffer.concat([H2_START, auth('skip.test')]), { before: [h2Frame(8, 0, 0, Buffer.from([0, 0, 1, 0])), h2Frame(6, 0, 0, Buffer.alloc(8)), h2Frame(2, 0, 3, Buffer.alloc(5)), h2Frame(4, 1, 0), h2Frame(0xfa, 0, 0, Buffer.alloc(30))] }), h2HostIs('skip.test')],
    [h2Request(Buffer.concat([H2_START, auth('odd.test')]), { stream: 7 }), h2HostIs('odd.test')],
    // Refused by the server: nothing to serve by name.
    [h2Request(Buffer.concat([H2_START, auth('even.test')]), { stream: 2 }), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, auth('zero.test')]), { stream: 0 }), H2_NO_HOST],
    [Buffer.concat([H2_PREFACE, h2Frame(1, 5, 1, Buffer.concat([H2_START, auth('nosettings.test')]))]), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, auth('data.test')]), { before: [h2Frame(0, 0, 1, Buffer.from('x'))] }), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, auth('rst.test')]), { before: [h2Frame(3, 0, 1, Buffer.alloc(4))] }), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, auth('goaway.test')]), { before: [h2Frame(7, 0, 0, Buffer.alloc(8))] }), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, auth('cont.test')]), { before: [h2Frame(9, 4, 1, Buffer.alloc(1))] }), H2_NO_HOST],
    [Buffer.concat([H2_PREFACE, SETTINGS, h2Frame(1, 1, 1, Buffer.alloc(16385))]), H2_NO_HOST], // larger than 16 KiB
    // CONTINUATION: split anywhere, even inside a field; another frame in between is an error.
    [h2Split(Buffer.concat([H2_START, auth('split.test'), hp.plain('x-a', 'b'.repeat(50))]), 7), h2HostIs('split.test')],
    [h2Split(Buffer.concat([H2_START, hp.plain('x-a', 'b'.repeat(50)), hp.plain(38, 'split.test')]), 7), h2HostIs('split.test')],
    [h2Split(Buffer.concat([H2_START, hp.plain(38, 'h.test')]), 3), h2HostIs('h.test')],
    [Buffer.concat([H2_PREFACE, SETTINGS, h2Frame(1, 1, 1, H2_START), h2Frame(8, 0, 0, Buffer.from([0, 0, 1, 0])), h2Frame(9, 4, 1, auth('x.test'))]), H2_NO_HOST],
    [Buffer.concat([H2_PREFACE, SETTINGS, h2Frame(1, 1, 1, H2_START), h2Frame(9, 4, 3, auth('x.test'))]), H2_NO_HOST],
  ],
  hpackErrors: [
    // Huffman padding of 0s, padding longer than 7 bits, EOS in the string.
    [h2Request(Buffer.concat([H2_START, hp.indexed(1) /* placeholder replaced below */])), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, Buffer.from([0x01, 0x81, 0x00])])), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, Buffer.from([0x01, 0x82, 0xff, 0xff])])), H2_NO_HOST],
    [h2Request(Buffer.concat([H2_START, Buffer.from([0x01, 0x84, 0xff, 0xff, 0xff, 0xff])])), H2_NO_HOST],
    // An integer past 2^21: refused before it can overflow.
    [h2Request(Buffer.concat([H2_START, Buffer.from([0x0f, 0xff, 0xff, 0xff, 0xff, 0x0f])])), H2_NO_HOST],
    // A string longer than the block.
    [h2Request(Buffer.concat([H2_START, Buffer.from([0x01, 0x7f, 0x80, 0x01]), Buffer.from('x')])), H2_NO_HOST],
    // A pseudo-header after a regular field.
    [h2Request(Buffer.concat([hp.indexed(2), hp.plain('x-a', 'b'), auth('late.test')])), H2_NO_HOST],
  ],
  notH2: [
    [Buffer.from('PRINT / HTTP/1.1\r\n'), NOT_H2],
    [Buffer.from('PRI * HTTP/2.0\r\n\r\nXX'), NOT_H2],
    [Buffer.from('GET / HTTP/1.1\r\n'), NOT_H2],
    [Buffer.from([0x16, 3, 1]), NOT_H2],
  ],
  incomplete: [
    ...[0, 1, 3, 10, 23, 24, 30, 33].map((n): [Buffer, H2AuthorityResult] => [h2Request(Buffer.concat([H2_START, auth('gold.test')])).subarray(0, n), H2_INCOMPLETE]),
    // The block so far has no :authority and goes on in a CONTINUATION to come.
    [Buffer.concat([H2_PREFACE, SETTINGS, h2Frame(1, 1, 1, Buffer.concat([H2_START, hp.plain(38, 'h.test')]))]), H2_INCOMPLETE],
    [Buffer.concat([H2_PREFACE, SETTINGS, h2Frame(1, 1 | 8, 1, Buffer.concat([Buffer.from([5]), H2_START]))]).subarray(0, 24 + 15 + 9), H2_INCOMPLETE],
  ],
};
// A Huffman string padded with 0s instead of 1s: "a" is 00011 (5 bits), then 000.
H2_CASES.hpackErrors[0][0] = h2Request(Buffer.concat([H2_START, Buffer.from([0x01, 0x81, 0b00011000])]));

/** A header block that references one 4000-byte entry thousands of times (an "HPACK bomb"), in 16 KiB frames. */
export function hpackBomb(): Buffer {
  const refs = Buffer.alloc(60_000, 0xbe); // indexed 62, the big entry
  return h2Split(Buffer.concat([H2_START, hp.incremental('x-big', bigValue), refs, hp.plain(38, 'bomb.test')]), 16384);
}
