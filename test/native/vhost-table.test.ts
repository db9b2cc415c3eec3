// The native classifier (native/vhost_table.h) against the TypeScript one it
// ports: the unit tests' cases, real client bytes at every truncation, seeded
// mutations, and whole verdicts on configs with names, wildcards and
// addresses. Any difference in kind, host, vhost, by, detail or incomplete fails.
import test, { type ExecutionContext } from 'ava';
import { createClassifier, needsMoreBytes } from '../../src/classify/classifier';
import { parseH2Authority } from '../../src/classify/h2-authority';
import { parseHttpHost } from '../../src/classify/http-host';
import { parseTlsSni } from '../../src/classify/tls-sni';
import { parseAddressMatcher } from '../../src/classify/address';
import { parseConfig } from '../../src/config/load';
import { loadNative, type NativeVerdict, type NativeVhostTable, type VhostTableSpec } from '../../src/native';
import type { Classification, ConnectionFacts, VhqosConfig } from '../../src/types';
import {
  CLASSIFIER_CASES,
  EXAMPLE_CONFIG,
  H2_CASES,
  HTTP_CASES,
  HTTP_LINEAR_INPUTS,
  NEEDS_MORE_CASES,
  RANGE_CASES,
  RANGE_CONFIG,
  TLS_HELLO_CASES,
  TLS_INCOMPLETE_CASES,
  TLS_PREFIX_CASES,
  bigTlsInput,
  config,
  facts,
  hpackBomb,
  httpRequest,
  label,
  randomNameClaims,
  tlsNotTlsCases,
} from '../helpers/classify-cases';
import { captureClientHello, captureH2Request, captureHttpRequest, mutate, prng, randomBytes, splitRecords } from '../helpers/classify-captures';

const native = loadNative();
const enc = (s: string) => Buffer.from(s, 'latin1');

/** Both parsers give the same answer natively and in TypeScript. */
function sameParse(t: ExecutionContext, bytes: Uint8Array, what: string): { tls: string; http: string; h2: string } {
  const tls = native.parseTlsSni(bytes);
  const http = native.parseHttpHost(bytes);
  const h2 = native.parseH2Authority(bytes);
  t.deepEqual(tls, parseTlsSni(bytes), `parseTlsSni ${what}`);
  t.deepEqual(http, parseHttpHost(bytes), `parseHttpHost ${what}`);
  t.deepEqual(h2, parseH2Authority(bytes), `parseH2Authority ${what}`);
  return { tls: tls.kind, http: http.kind, h2: h2.kind };
}

/** A native table and the TS classifier of the same config. */
interface Pair {
  table: NativeVhostTable;
  /** The TS answer: createClassifier's, plus needsMoreBytes. */
  expect(f: ConnectionFacts, useNames?: boolean): NativeVerdict;
}

function pair(cfg: VhqosConfig, extra: Partial<VhostTableSpec> = {}): Pair {
  const table = new native.VhostTable({ vhosts: cfg.vhosts, peekBytes: cfg.options.peekBytes, ...extra });
  const classify = createClassifier(cfg);
  // Address only: no name is looked for, as if no bytes had come.
  return {
    table,
    expect: (f, useNames = true) => ({
      ...classify(useNames ? f : { ...f, firstBytes: new Uint8Array(0) }),
      incomplete: needsMoreBytes(f.firstBytes, cfg.options.peekBytes),
    }),
  };
}

function sameVerdict(t: ExecutionContext, p: Pair, f: ConnectionFacts, useNames: boolean, what: string): NativeVerdict {
  const got = p.table.classify(f.local.ip, f.local.port, f.firstBytes, useNames);
  t.deepEqual(got, p.expect(f, useNames), `${what} at ${f.local.ip} ${f.local.port}${useNames ? '' : ' (address only)'}`);
  return got;
}

const example = parseConfig(EXAMPLE_CONFIG);

/** Names, wildcards, an IP-literal name, IPv4 and IPv6 addresses and ranges with and without ports. */
const wide = parseConfig(`
vhosts:
  gold:
    hosts: [gold.test, "*.gold.test"]
    addresses: ["127.0.0.2", "[::1]:8443", "2001:db8::10"]
  silver:
    hosts: [silver.test, "*.eu.gold.test", "a.gold.test"]
    addresses: ["127.0.0.2:8080", "[2001:db8::10]:443", "::ffff:10.0.0.7"]
  bronze:
    hosts: ["*.test", "127.0.0.5"]
  v6:
    addresses: ["[fe80::1]:80", "2001:db8:0:0:1:0:0:1", "[::ffff:10.0.0.8]:443"]
  byaddr:
    addresses: ["127.0.0.9", "0.0.0.1:80"]
  shared:
    hosts: [shared.test, "*.b.gold.test"]
    addresses: ["127.0.0.2", "[2001:db8::10]:443", "10.0.0.8", "[fe80::1]:80"]
  lead:
    addresses: ["127.0.0.2:8080", "2001:db8::10"]
  anywhere:
    hosts: [anywhere.test, "*.anywhere.test"]
  ranged:
    hosts: [range.test]
    addresses: ["10.0.0.0/24", "[2001:db8::/64]:443", "127.0.0.0/30:8080", "0.0.0.0/0:8443", "::/0"]
  rangedefault:
    addresses: ["10.0.0.0/29", "2001:db8::/32"]
`);

// ---- the unit tests' cases ---------------------------------------------------

test('HTTP cases: native and TS both give the expected answer', (t) => {
  for (const [topic, cases] of Object.entries(HTTP_CASES)) {
    for (const [input, expected] of cases) {
      const b = enc(input);
      t.deepEqual(native.parseHttpHost(b), expected, `${topic} ${label(input)}`);
      sameParse(t, b, `${topic} ${label(input)}`);
    }
  }
});

test('HTTP: megabyte inputs agree and stay linear', (t) => {
  for (const s of HTTP_LINEAR_INPUTS) {
    const b = enc(s);
    const start = process.hrtime.bigint();
    native.parseHttpHost(b);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    t.true(ms < 1000, `${ms} ms for ${b.length} bytes`);
    sameParse(t, b, label(s));
  }
});

test('h2c cases: native and TS both give the expected answer, at every truncation', (t) => {
  for (const [topic, cases] of Object.entries(H2_CASES)) {
    for (const [bytes, expected] of cases) {
      t.deepEqual(native.parseH2Authority(bytes), expected, `${topic} ${label(bytes)}`);
      for (let n = 0; n <= bytes.length; n += n < 200 ? 1 : 97) sameParse(t, bytes.subarray(0, n), `${topic} prefix ${n} of ${label(bytes)}`);
    }
  }
  const bomb = hpackBomb();
  const start = process.hrtime.bigint();
  t.deepEqual(native.parseH2Authority(bomb), { kind: 'host', host: 'bomb.test' });
  t.true(Number(process.hrtime.bigint() - start) / 1e6 < 200);
  sameParse(t, bomb, 'HPACK bomb');
});

test('TLS cases: native and TS both give the expected answer', (t) => {
  for (const [why, bytes, expected] of TLS_HELLO_CASES) {
    t.deepEqual(native.parseTlsSni(bytes), expected, why);
    sameParse(t, bytes, why);
  }
  for (const [bytes, why] of tlsNotTlsCases()) {
    t.deepEqual(native.parseTlsSni(bytes), { kind: 'not-tls' }, why);
    sameParse(t, bytes, why);
  }
  for (const b of TLS_INCOMPLETE_CASES) {
    t.deepEqual(native.parseTlsSni(Uint8Array.from(b)), { kind: 'incomplete' }, JSON.stringify(b));
    sameParse(t, Uint8Array.from(b), JSON.stringify(b));
  }
  const big = bigTlsInput();
  const start = process.hrtime.bigint();
  sameParse(t, big, '2 MB of handshake records');
  t.true(Number(process.hrtime.bigint() - start) / 1e6 < 2000);
});

test('TLS: hand-made ClientHellos agree at every truncation', (t) => {
  for (const [bytes, expected] of TLS_PREFIX_CASES) {
    t.deepEqual(native.parseTlsSni(bytes), expected);
    for (let n = 0; n <= bytes.length; n++) sameParse(t, bytes.subarray(0, n), `prefix ${n} of ${expected.kind}`);
  }
});

test('Uint8Array views with an offset are read within their bounds', async (t) => {
  const hello = await captureClientHello({ servername: 'view.test' });
  const whole = Buffer.concat([Buffer.from('junk'), hello, Buffer.from('more')]);
  t.deepEqual(native.parseTlsSni(new Uint8Array(whole.buffer, whole.byteOffset + 4, hello.length)), { kind: 'sni', host: 'view.test' });
  // The bytes after the view would complete the request: they must not be seen.
  const req = enc('xxxxGET / HTTP/1.1\r\nHost: view.test\r\nyyyy');
  const view = req.subarray(4, req.length - 4);
  t.deepEqual(native.parseHttpHost(view), { kind: 'incomplete' });
  t.deepEqual(native.parseHttpHost(req.subarray(4)), { kind: 'host', host: 'view.test' });
  const p = pair(example);
  const f = facts(view, '127.0.0.2', 80);
  t.deepEqual(sameVerdict(t, p, f, true, 'view'), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80', incomplete: true });
});

test('classifier cases: native gives the expected verdicts', (t) => {
  const p = pair(example);
  for (const [topic, cases] of Object.entries(CLASSIFIER_CASES)) {
    for (const [f, expected, why] of cases) {
      const got = sameVerdict(t, p, f, true, `${topic} ${why ?? label(f.firstBytes)}`);
      const { incomplete, ...verdict } = got;
      t.deepEqual(verdict as Classification, expected, why);
      t.false(incomplete);
    }
  }
  for (const [bytes, peekBytes, expected] of NEEDS_MORE_CASES) {
    const table = new native.VhostTable({ vhosts: example.vhosts, peekBytes });
    t.is(table.classify('10.9.9.9', 80, bytes).incomplete, expected, label(bytes));
  }
});

test('range cases: native gives the expected verdicts', (t) => {
  const p = pair(parseConfig(RANGE_CONFIG));
  for (const [f, expected, why] of RANGE_CASES) {
    const { incomplete, ...verdict } = sameVerdict(t, p, f, true, why ?? label(f.firstBytes));
    t.deepEqual(verdict as Classification, expected, why);
    t.false(incomplete);
  }
});

// ---- real client bytes -------------------------------------------------------

interface Capture {
  what: string;
  bytes: Buffer;
}

async function captures(): Promise<Capture[]> {
  const gold = await captureClientHello({ servername: 'gold.test' });
  const out: Capture[] = [
    { what: 'TLS 1.3 hello, SNI gold.test', bytes: gold },
    { what: 'TLS 1.2 hello, ALPN, Www.Gold.TEST', bytes: await captureClientHello({ servername: 'Www.Gold.TEST', maxVersion: 'TLSv1.2', ALPNProtocols: ['h2', 'http/1.1'] }) },
    { what: 'TLS hello without SNI', bytes: await captureClientHello({}) },
    { what: 'TLS hello, SNI unknown.example', bytes: await captureClientHello({ servername: 'unknown.example' }) },
    { what: 'TLS hello, SNI x.eu.gold.test', bytes: await captureClientHello({ servername: 'x.eu.gold.test' }) },
    { what: 'HTTP GET, Host Gold.TEST:8080', bytes: await captureHttpRequest({ path: '/x?y=1', headers: { Host: 'Gold.TEST:8080', 'X-Other': 'v' } }) },
    { what: 'HTTP POST, default Host', bytes: await captureHttpRequest({ method: 'POST', path: '/' }) },
    { what: 'HTTP absolute-form', bytes: await captureHttpRequest({ path: 'http://abs.test:81/p', headers: { Host: 'other.test' } }) },
    { what: 'HTTP Host x.eu.gold.test:8080', bytes: await captureHttpRequest({ headers: { Host: 'x.eu.gold.test:8080' } }) },
    { what: 'HTTP Host [::1]', bytes: await captureHttpRequest({ headers: { Host: '[::1]:8080' } }) },
    { what: 'h2c :authority gold.test', bytes: await captureH2Request({ ':authority': 'gold.test', 'user-agent': 'x'.repeat(30) }) },
    { what: 'h2c :authority x.eu.gold.test:8080', bytes: await captureH2Request({ ':authority': 'x.eu.gold.test:8080' }) },
    { what: 'h2c :authority [::1]', bytes: await captureH2Request({ ':authority': '[::1]' }) },
    { what: 'h2c :authority unknown.example', bytes: await captureH2Request({ ':authority': 'unknown.example', cookie: 'c'.repeat(200) }) },
  ];
  for (const size of [1, 7, 50, 64, 100, 1000]) out.push({ what: `TLS hello in records of ${size}`, bytes: splitRecords(gold, size) });
  const broken = Buffer.from(splitRecords(gold, 64));
  broken[5 + 64] = 23; // application data amid the handshake
  out.push({ what: 'TLS hello with a foreign record', bytes: broken });
  return out;
}

test('real captures agree at every truncation: kinds, hosts, verdicts, incomplete', async (t) => {
  const all = await captures();
  const p = pair(example);
  const small = pair({ ...example, options: { ...example.options, peekBytes: 100 } });
  let prefixes = 0;
  for (const { what, bytes } of all) {
    for (let n = 0; n <= bytes.length; n++) {
      const b = bytes.subarray(0, n);
      sameParse(t, b, `${what}, prefix ${n}`);
      sameVerdict(t, p, facts(b, '127.0.0.2', 8080), true, `${what}, prefix ${n}`);
      sameVerdict(t, small, facts(b, '10.9.9.9', 80), true, `${what}, prefix ${n}, peekBytes 100`);
      prefixes++;
    }
  }
  t.log(`${all.length} captures, ${prefixes} prefixes`);
});

// ---- seeded mutations ----------------------------------------------------------

/** Offsets of the record headers of a TLS byte stream (as far as they are consistent). */
function recordOffsets(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let pos = 0; pos + 5 <= b.length; pos += 5 + ((b[pos + 3] << 8) | b[pos + 4])) out.push(pos);
  return out;
}

test('seeded mutations of real bytes agree exactly', async (t) => {
  const rand = prng(0xc1a55);
  const all = await captures();
  const p = pair(wide);
  const int = (n: number) => Math.floor(rand() * n);
  const seen = new Set<string>();
  const asciiish = (n: number) => enc(Array.from({ length: n }, () => 'GET /HTP1.\r\n: Hosta\t [::1]'[int(28)]).join(''));
  let inputs = 0;
  const check = (b: Uint8Array, what: string) => {
    const kinds = sameParse(t, b, what);
    seen.add(`tls:${kinds.tls}`).add(`http:${kinds.http}`).add(`h2:${kinds.h2}`);
    sameVerdict(t, p, facts(b, int(2) ? '127.0.0.2' : '::1', int(2) ? 8080 : 8443), true, what);
    inputs++;
  };
  for (const { what, bytes } of all) {
    const records = recordOffsets(bytes);
    for (let i = 0; i < 600; i++) {
      const b = Uint8Array.from(bytes);
      switch (i % 6) {
        case 0: // a few random bytes anywhere
          check(mutate(rand, bytes, 1 + int(4)), `${what}: byte flips #${i}`);
          continue;
        case 1: // one bit
          b[int(b.length)] ^= 1 << int(8);
          break;
        case 2: // a random record length
          if (records.length) {
            const at = records[int(records.length)];
            b[at + 3] = int(rand() < 0.5 ? 0x41 : 256);
            b[at + 4] = int(256);
          }
          break;
        case 3: { // a random 16-bit length somewhere in the handshake (vector lengths)
          const at = 5 + int(Math.max(1, b.length - 6));
          const v = rand() < 0.5 ? int(64) : int(65536);
          b[at] = v >> 8;
          b[at + 1] = v & 255;
          break;
        }
        case 4: // the handshake length
          if (b.length > 9) b.set([int(2), int(256), int(256)], 6);
          break;
        case 5: // cut short, then a flip
          check(mutate(rand, bytes.subarray(0, int(bytes.length + 1)), 1), `${what}: cut and flipped #${i}`);
          continue;
      }
      check(b, `${what}: mutation ${i % 6} #${i}`);
    }
  }
  for (let i = 0; i < 3000; i++) {
    const n = int(600);
    const b = i % 3 === 0 ? randomBytes(rand, n) : i % 3 === 1 ? asciiish(n) : randomBytes(rand, n).fill(22, 0, 1);
    if (i % 3 === 2 && n > 1) b[1] = 3;
    check(b, `random #${i}`);
  }
  t.log(`${inputs} inputs`);
  t.true(inputs >= 10000);
  // The inputs reach every answer of both parsers, so the comparison is not vacuous.
  t.deepEqual([...seen].sort(), [
    'h2:host', 'h2:incomplete', 'h2:no-host', 'h2:not-h2',
    'http:host', 'http:incomplete', 'http:no-host', 'http:not-http',
    'tls:incomplete', 'tls:no-sni', 'tls:not-tls', 'tls:sni',
  ]);
});

test('Host values near the length caps and odd IPv6 literals agree', (t) => {
  const rand = prng(6);
  const values: string[] = [];
  for (const n of [250, 252, 253, 254, 255, 299, 300, 301, 302, 303, 600, 601, 602, 603, 700]) {
    values.push('a'.repeat(n), 'a.'.repeat(n >> 1) + 'b', 'a'.repeat(n - 10) + ' '.repeat(10), ' '.repeat(n - 9) + 'gold.test', `${'a'.repeat(250)}${' '.repeat(n - 250)}bbb`);
  }
  const v6 = '0123456789abcdefABCDEF:.'.split('');
  for (let i = 0; i < 3000; i++) values.push(`[${Array.from({ length: 1 + Math.floor(rand() * 30) }, () => v6[Math.floor(rand() * v6.length)]).join('')}]`);
  for (const ip of ['::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1::8', '::ffff:1.2.3.4', '::1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '::ffff:01.2.3.4', '::ffff:256.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '0:0:0:0:0:ffff:7f00:1', '::00001', ':::', '1:::2', '1.2.3.4', 'fe80::1:0:0:0', '0:0:1:0:0:1:0:0', '1:0:0:1:0:0:0:1']) {
    values.push(`[${ip}]`, `[${ip}]:80`);
  }
  for (const v of values) {
    for (const head of [`GET / HTTP/1.1\r\nHost: ${v}\r\n\r\n`, `GET / HTTP/1.1\r\nHost:${v}\r\n ${v}\r\n\tx\r\n\r\n`, `GET http://${v}/ HTTP/1.1\r\n`, `GET http://u@${v}?q HTTP/1.1\r\n`]) {
      sameParse(t, enc(head), label(head));
    }
  }
  // The absolute-form target is only searched in its first 2048 bytes.
  for (const n of [2030, 2036, 2037, 2038, 2039, 2040, 2048, 2100]) {
    const head = `GET http://${'a'.repeat(n - 7)}.test/ HTTP/1.1\r\nHost: h.test\r\n\r\n`;
    sameParse(t, enc(head), label(head));
    const auth = `GET http://${'u'.repeat(n)}@abs.test/ HTTP/1.1\r\nHost: h.test\r\n\r\n`;
    sameParse(t, enc(auth), label(auth));
  }
});

test('IPv6 literals: inet_pton accepts exactly what net.isIP does, normalised alike', (t) => {
  // Near-valid texts: 0..9 groups of 0..5 hex digits, maybe an IPv4 tail (some
  // with leading zeros or octets > 255), maybe a "::" or ":::" anywhere.
  const rand = prng(9);
  const int = (n: number) => Math.floor(rand() * n);
  const hex = '0123456789abcdefABCDEF';
  let valid = 0;
  for (let i = 0; i < 20000; i++) {
    const groups = Array.from({ length: int(10) }, () => Array.from({ length: int(6) }, () => hex[int(hex.length)]).join(''));
    if (rand() < 0.4) {
      const octets = [0, 0, 0, 0].map(() => (rand() < 0.1 ? `0${int(10)}` : String(int(rand() < 0.9 ? 256 : 400))));
      groups.push(octets.slice(0, 2 + int(3)).join('.'));
    }
    let text = groups.join(':');
    if (rand() < 0.6) {
      const at = int(text.length + 1);
      text = text.slice(0, at) + (rand() < 0.8 ? '::' : ':::') + text.slice(at);
    }
    const { http } = sameParse(t, enc(`GET / HTTP/1.1\r\nHost: [${text}]:443\r\n\r\n`), text);
    if (http === 'host') valid++;
  }
  t.log(`${valid} of 20000 were IPv6 addresses`);
  t.true(valid > 1000);
});

// ---- whole verdicts ----------------------------------------------------------------

test('verdicts agree on names × local addresses × ports × useNames', async (t) => {
  const p = pair(wide);
  const hello = await captureClientHello({ servername: 'www.gold.test' });
  const bytes: [string, Uint8Array][] = [
    ...['gold.test', 'GOLD.test.:80', 'x.eu.gold.test', 'eu.gold.test', 'a.gold.test', 'b.a.gold.test', 'x.b.gold.test', 'shared.test', 'anywhere.test', 'q.anywhere.test', 'other.test', 'test', 'nowhere.example', '127.0.0.5', '[::ffff:127.0.0.5]', '[::1]', '127.0.0.2'].map(
      (h): [string, Uint8Array] => [`Host ${h}`, httpRequest(h)],
    ),
    ['SNI www.gold.test', hello],
    ['SNI unknown.example', await captureClientHello({ servername: 'unknown.example' })],
    ['no SNI', await captureClientHello({})],
    ['partial hello', hello.subarray(0, 40)],
    ['partial request', enc('GET / HTTP/1.1\r\nHost: gold.te')],
    ['SSH', enc('SSH-2.0-OpenSSH_9.2\r\n')],
    ['nothing', new Uint8Array(0)],
  ];
  const ips = ['127.0.0.2', '::ffff:127.0.0.2', '::ffff:7f00:2', '10.0.0.7', '::ffff:10.0.0.7', '10.0.0.8', '::ffff:10.0.0.8', '::1', '0:0:0:0:0:0:0:1', '2001:db8::10', '2001:DB8:0::10', 'fe80::1', '2001:db8::1:0:0:1', '2001:db8:0:0:1::1', '127.0.0.9', '0.0.0.1', '10.9.9.9', '10.0.0.3', '10.0.0.200', '127.0.0.1', '2001:db8::99', '2001:db8:1::1', 'fd00::5', 'garbage', '', 'fe80::1%eth0'];
  const by = new Set<string>();
  for (const [what, b] of bytes) {
    for (const ip of ips) {
      for (const port of [80, 443, 8080, 8443]) {
        for (const useNames of [true, false]) by.add(sameVerdict(t, p, facts(b, ip, port), useNames, what).by);
      }
    }
  }
  t.deepEqual([...by].sort(), ['address', 'default', 'host', 'sni']);
});

test('first claims win; no names: bytes only matter for incomplete; empty config', (t) => {
  const dup = pair(
    config([
      { name: 'a', hosts: ['x.test', '*.y.test'], addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', port: 80 }] },
      { name: 'b', hosts: ['x.test', '*.y.test', 'z.test'], addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', port: 80 }, { ip: '10.0.0.1', port: 80 }] },
    ]),
  );
  const cases = [
    ...['x.test', 'q.y.test', 'z.test', 'y.test', 'none.test'].map((h) => httpRequest(h)),
    enc('GET / HTTP/1.1\r\n'),
    new Uint8Array(0),
  ];
  const noNames = pair(config([{ name: 'a', addresses: [{ ip: '127.0.0.2' }] }]));
  const empty = pair(config([]));
  for (const b of cases) {
    for (const ip of ['10.0.0.1', '10.0.0.2', '127.0.0.2', '10.0.0.3']) {
      for (const useNames of [true, false]) {
        sameVerdict(t, dup, facts(b, ip, 80), useNames, label(b));
        sameVerdict(t, noNames, facts(b, ip, 80), useNames, label(b));
        sameVerdict(t, empty, facts(b, ip, 80), useNames, label(b));
      }
    }
  }
  t.deepEqual(noNames.table.classify('127.0.0.2', 80, httpRequest('a')), { vhost: 'a', by: 'address', detail: '127.0.0.2:80', incomplete: false });
  t.deepEqual(noNames.table.classify('127.0.0.2', 80, enc('GET / HTTP/1.1\r\n')), { vhost: 'a', by: 'address', detail: '127.0.0.2:80', incomplete: true });
});

test('random wildcard and exact claims agree with the TS trie', (t) => {
  for (const seed of [42, 7, 1234]) {
    const { vhosts, names } = randomNameClaims(prng(seed));
    const p = pair(config(vhosts));
    for (const name of names) {
      sameVerdict(t, p, facts(httpRequest(name)), true, `seed ${seed}: ${name}`);
      sameVerdict(t, p, facts(httpRequest(`${name}.`)), true, `seed ${seed}: ${name}.`);
    }
  }
});

test('random ranges, addresses and ports agree with the TS table', (t) => {
  // Few distinct bits so that ranges nest and overlap: IPv4 in 10.0.0.0/28
  // (and a /0), IPv6 in fd00::/124, ports 80 and 443 or none; some vhosts by name.
  for (const seed of [3, 17, 99]) {
    const rand = prng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const v4 = () => `10.0.0.${int(16)}`;
    const v6 = () => `fd00::${int(16).toString(16)}`;
    const address = (): string => {
      const six = rand() < 0.4;
      const bits = six ? 124 + int(5) : rand() < 0.1 ? 0 : 28 + int(5);
      const ip = six ? v6() : v4();
      const text = parseAddressMatcher(`${ip}/${bits}`);
      const network = typeof text === 'string' ? /did you mean "([^"]+)"/.exec(text)![1] : `${ip}/${bits}`;
      const port = [undefined, 80, 443][int(3)];
      if (port === undefined) return network;
      return six ? `[${network}]:${port}` : `${network}:${port}`;
    };
    const vhosts: string[] = [];
    const hostless = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const named = rand() < 0.5;
      const addresses = [...new Set(Array.from({ length: 1 + int(3) }, address))].filter((a) => named || !hostless.has(a));
      if (!named) addresses.forEach((a) => hostless.add(a));
      if (addresses.length === 0) continue;
      vhosts.push(`  v${i}: {${named ? `hosts: [n${i}.test], ` : ''}addresses: ${JSON.stringify(addresses)}}`);
    }
    const cfg = parseConfig(`vhosts:\n${vhosts.join('\n')}\n  anywhere: {hosts: ["*.test"]}\n`);
    const p = pair(cfg);
    for (let i = 0; i < 400; i++) {
      const ip = rand() < 0.5 ? v4() : rand() < 0.8 ? v6() : ['::ffff:10.0.0.3', '192.0.2.1', '::1'][int(3)];
      const b = rand() < 0.3 ? new Uint8Array(0) : httpRequest(`n${int(12)}.test`);
      sameVerdict(t, p, facts(b, ip, [80, 443, 8080][int(3)]), true, `seed ${seed}`);
    }
  }
});

// ---- listener modes and spec errors ----------------------------------------------

test('modeFor: exact ip:port rule, then port-only rule, then the default', (t) => {
  const table = new native.VhostTable({
    vhosts: [],
    listeners: [
      { ip: '127.0.0.2', port: 80, mode: 'address' },
      { port: 80, mode: 'name' },
      { port: 443, mode: 'address' },
      { ip: '::1', port: 443, mode: 'name' },
      { ip: '::ffff:10.0.0.1', port: 8080, mode: 'address' },
      { port: 443, mode: 'name' }, // a later duplicate: the first rule stays
    ],
    defaultListenerMode: 'name',
  });
  t.is(table.modeFor('127.0.0.2', 80), 'address');
  t.is(table.modeFor('::ffff:127.0.0.2', 80), 'address', 'v4-mapped local address');
  t.is(table.modeFor('127.0.0.3', 80), 'name', 'port-only rule');
  t.is(table.modeFor('127.0.0.2', 443), 'address');
  t.is(table.modeFor('0:0::1', 443), 'name');
  t.is(table.modeFor('10.0.0.1', 8080), 'address', 'v4-mapped rule matches IPv4');
  t.is(table.modeFor('10.0.0.1', 8081), 'name', 'default');
  t.is(table.modeFor('garbage', 80), 'name', 'no address: default');
  const byAddress = new native.VhostTable({ vhosts: [], defaultListenerMode: 'address' });
  t.is(byAddress.modeFor('127.0.0.1', 80), 'address');
  t.is(new native.VhostTable({ vhosts: [] }).modeFor('127.0.0.1', 80), 'name');
});

test('bad spec shapes are TypeErrors', (t) => {
  const bad = (spec: unknown, message: RegExp) =>
    t.throws(() => new native.VhostTable(spec as VhostTableSpec), { instanceOf: TypeError, message }, JSON.stringify(spec));
  bad(undefined, /spec must be an object/);
  bad({}, /spec\.vhosts must be an array/);
  bad({ vhosts: [1] }, /vhosts\[0\] must be an object/);
  bad({ vhosts: [{}] }, /vhosts\[0\]\.name must be a string/);
  bad({ vhosts: [{ name: 'a', hosts: 'x.test' }] }, /hosts must be an array/);
  bad({ vhosts: [{ name: 'a', hosts: [1] }] }, /hosts\[0\] must be a string/);
  bad({ vhosts: [{ name: 'a', addresses: [{ ip: 'nope' }] }] }, /"nope" is not an IP address/);
  bad({ vhosts: [{ name: 'a', addresses: [{ ip: '1.2.3.4', port: 0 }] }] }, /port must be an integer in 1\.\.65535/);
  bad({ vhosts: [{ name: 'a', addresses: [{ ip: '1.2.3.4', port: 1.5 }] }] }, /port must be an integer/);
  bad({ vhosts: [{ name: 'a', addresses: [{ ip: '1.2.3.0', prefix: 33 }] }] }, /prefix \/33 is too long for 1\.2\.3\.0/);
  bad({ vhosts: [{ name: 'a', addresses: [{ ip: '::', prefix: 129 }] }] }, /prefix must be an integer in 0\.\.128/);
  bad({ vhosts: [{ name: 'a', addresses: [{ ip: '::', prefix: '64' }] }] }, /prefix must be a number/);
  bad({ vhosts: [], listeners: [{ port: 80, mode: 'fast' }] }, /mode must be 'name' or 'address'/);
  bad({ vhosts: [], listeners: [{ port: 70000, mode: 'name' }] }, /port must be an integer in 1\.\.65535/);
  bad({ vhosts: [], listeners: [{ ip: '1.2.3', port: 80, mode: 'name' }] }, /"1\.2\.3" is not an IP address/);
  bad({ vhosts: [], defaultListenerMode: 'x' }, /defaultListenerMode must be/);
  bad({ vhosts: [], peekBytes: 0 }, /peekBytes must be an integer/);
  const table = new native.VhostTable({ vhosts: [] });
  t.throws(() => table.classify('1.2.3.4', 80, 'GET' as unknown as Uint8Array), { instanceOf: TypeError, message: /Uint8Array/ });
  t.throws(() => table.classify('1.2.3.4', 65536, new Uint8Array(0)), { instanceOf: TypeError, message: /localPort/ });
  t.throws(() => native.parseTlsSni([22] as unknown as Uint8Array), { instanceOf: TypeError });
});

// ---- cost (logged, not asserted) --------------------------------------------------

test('time per native classify', async (t) => {
  const p = pair(wide);
  const rows: [string, string, number, Uint8Array, boolean][] = [
    ['HTTP request, Host by exact name', '10.9.9.9', 80, await captureHttpRequest({ headers: { Host: 'gold.test' } }), true],
    ['HTTP request, Host by wildcard', '10.9.9.9', 80, await captureHttpRequest({ headers: { Host: 'x.eu.gold.test' } }), true],
    ['HTTP request, unknown Host, by address', '127.0.0.2', 8080, await captureHttpRequest({ headers: { Host: 'nowhere.example' } }), true],
    ['TLS ClientHello, SNI', '10.9.9.9', 443, await captureClientHello({ servername: 'www.gold.test' }), true],
    ['address only', '::ffff:127.0.0.2', 8080, httpRequest('gold.test'), false],
  ];
  for (const [what, ip, port, bytes, useNames] of rows) {
    p.table.timeClassify(ip, port, bytes, 10_000, useNames); // warm up
    const ns = p.table.timeClassify(ip, port, bytes, 200_000, useNames);
    t.true(ns > 0);
    t.log(`${what} (${bytes.length} bytes): ${ns.toFixed(0)} ns per classify`);
  }
});
