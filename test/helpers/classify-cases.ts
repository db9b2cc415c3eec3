// Inputs and expected answers of the classifier unit tests, in one place so
// that the native port (test/native/vhost-table.test.ts) is checked against
// exactly the cases the TypeScript classifier is held to.
import { DEFAULT_OPTIONS } from '../../src/config/load';
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
    [`GET / HTTP/1.1\r\n${pad.repeat(100)}Host: late.test\r\n\r\n`, hostIs('late.test')],
    ['GET / HTTP/1.1\r\nHost: first.test\r\nHost: second.test\r\n\r\n', hostIs('first.test')],
    // Header names that merely contain or start with "host" are not Host.
    ['GET / HTTP/1.1\r\nX-Host: x.test\r\nHosts: y.test\r\nHost : z.test\r\n\r\n', NO_HOST],
  ],
  absoluteForm: [
    ['GET http://abs.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('abs.test')],
    ['GET HTTPS://User:pw@ABS.test:8443?q HTTP/1.1\r\n', hostIs('abs.test')],
    ['GET http://[::1]:80/ HTTP/1.1\r\n', hostIs('::1')],
    ['GET http:///nohost HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('other.test')],
    ['GET http://bad^host/ HTTP/1.1\r\nHost: other.test\r\n\r\n', hostIs('other.test')],
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
    [OVERSIZED_HEAD, INCOMPLETE_HTTP],
    [OVERSIZED_HEAD + '\r\n', NO_HOST],
    [OVERSIZED_HEAD + 'Host: big.test\r\n\r\n', hostIs('big.test')],
    // One huge header line.
    ['GET / HTTP/1.1\r\nX-Big: ' + 'b'.repeat(200000), INCOMPLETE_HTTP],
    // Huge request target.
    ['GET /' + 'p'.repeat(200000), INCOMPLETE_HTTP],
    ['GET /' + 'p'.repeat(200000) + ' HTTP/1.1\r\nHost: long.test\r\n\r\n', hostIs('long.test')],
    ['GET http://' + 'h'.repeat(200000) + '/ HTTP/1.1\r\nHost: fallback.test\r\n\r\n', hostIs('fallback.test')],
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

/** The example config of the classifier tests (parse it with parseConfig). */
export const EXAMPLE_CONFIG = `
vhosts:
  gold:
    hosts: [gold.test, "*.gold.test"]
    addresses: ["127.0.0.2", "[::1]:8443"]
  silver:
    hosts: [silver.test, "*.eu.gold.test", "a.gold.test"]
    addresses: ["127.0.0.2:8080"]
  bronze:
    hosts: ["*.test"]
  byaddr:
    addresses: ["127.0.0.9"]
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
  ],
  fallback: [
    [facts(httpRequest('silver.test'), '127.0.0.2', 80), { vhost: 'silver', by: 'host', detail: 'silver.test' }],
    [facts(httpRequest('nowhere.example'), '127.0.0.2', 80), { vhost: 'gold', by: 'address', detail: '127.0.0.2:80' }],
    [facts(httpRequest('nowhere.example')), { vhost: null, by: 'default', detail: 'nowhere.example' }],
    [facts(none), { vhost: null, by: 'default' }],
  ],
  addresses: [
    [facts(none, '127.0.0.2', 8080), { vhost: 'silver', by: 'address', detail: '127.0.0.2:8080' }],
    [facts(none, '127.0.0.2', 443), { vhost: 'gold', by: 'address', detail: '127.0.0.2:443' }],
    [facts(none, '::ffff:127.0.0.2', 8080), { vhost: 'silver', by: 'address', detail: '127.0.0.2:8080' }],
    [facts(none, '0:0:0:0:0:0:0:1', 8443), { vhost: 'gold', by: 'address', detail: '[::1]:8443' }],
    [facts(none, '::1', 443), { vhost: null, by: 'default' }],
    [facts(none, '127.0.0.9', 1), { vhost: 'byaddr', by: 'address', detail: '127.0.0.9:1' }],
    [facts(none, 'garbage', 1), { vhost: null, by: 'default' }],
  ],
};

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
