import test from 'ava';
import { parseHttpHost, type HttpHostResult } from '../../src/classify/http-host';
import { captureHttpRequest, mutate, prng, randomBytes } from './classify-captures';

const enc = (s: string) => Buffer.from(s, 'latin1');
const parse = (s: string) => parseHttpHost(enc(s));
const host = (h: string): HttpHostResult => ({ kind: 'host', host: h });
const KINDS = ['host', 'no-host', 'incomplete', 'not-http'];

/** Every prefix of a request that carries `expected`: incomplete until the host is known, then that host. */
function checkPrefixes(t: import('ava').ExecutionContext, bytes: Uint8Array, expected: string): number {
  let firstHost = -1;
  for (let n = 0; n <= bytes.length; n++) {
    const r = parseHttpHost(bytes.subarray(0, n));
    if (r.kind === 'host') {
      t.is(r.host, expected, `prefix ${n}`);
      if (firstHost < 0) firstHost = n;
    } else {
      t.is(r.kind, 'incomplete', `prefix ${n}`);
      t.is(firstHost, -1, `prefix ${n} went back from host to ${r.kind}`);
    }
  }
  t.deepEqual(parseHttpHost(bytes), host(expected));
  return firstHost;
}

test('real request from node:http with an explicit Host', async (t) => {
  const bytes = await captureHttpRequest({ path: '/x?y=1', headers: { Host: 'Gold.TEST:8080', 'X-Other': 'v' } });
  t.true(bytes.toString('latin1').startsWith('GET /x?y=1 HTTP/1.1\r\n'));
  t.deepEqual(parseHttpHost(bytes), host('gold.test'));
  // Host is decided only once the line after it has begun (it could be folded).
  const hostLineEnd = bytes.indexOf('\r\n', bytes.indexOf('Host:')) + 2;
  const first = checkPrefixes(t, bytes, 'gold.test');
  t.is(first, hostLineEnd + 1);
});

test('real request from node:http with its default Host (ip:port)', async (t) => {
  const bytes = await captureHttpRequest({ method: 'POST', path: '/' });
  t.deepEqual(parseHttpHost(bytes), host('127.0.0.1'));
  checkPrefixes(t, bytes, '127.0.0.1');
});

test('real request from node:http with an absolute-form target', async (t) => {
  const bytes = await captureHttpRequest({ path: 'http://abs.test:81/p', headers: { Host: 'other.test' } });
  t.deepEqual(parseHttpHost(bytes), host('abs.test'));
  // Known as soon as the request line is complete.
  const first = checkPrefixes(t, bytes, 'abs.test');
  t.is(first, bytes.indexOf('\r\n') + 2);
});

test('Host field: name case, OWS, port, trailing dot, upper case value', (t) => {
  t.deepEqual(parse('GET / HTTP/1.1\r\nhOsT:   Gold.Test.:443 \t\r\n\r\n'), host('gold.test'));
  t.deepEqual(parse('GET / HTTP/1.0\r\nHOST:gold.test\r\n\r\n'), host('gold.test'));
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: gold.test:\r\n\r\n'), host('gold.test'));
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: under_score.test\r\n\r\n'), host('under_score.test'));
});

test('Host field: IPv6 and IPv4 literals', (t) => {
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n'), host('::1'));
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: [2001:DB8:0::1]\r\n\r\n'), host('2001:db8::1'));
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: [::ffff:127.0.0.2]\r\n\r\n'), host('127.0.0.2'));
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: 127.0.0.2:80\r\n\r\n'), host('127.0.0.2'));
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: [gold.test]\r\n\r\n'), { kind: 'no-host' });
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: [::1\r\n\r\n'), { kind: 'no-host' });
});

test('Host field among others, after big headers, first of duplicates wins', (t) => {
  const pad = 'X-Pad: ' + 'a'.repeat(100) + '\r\n';
  t.deepEqual(parse(`GET / HTTP/1.1\r\n${pad.repeat(100)}Host: late.test\r\n\r\n`), host('late.test'));
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: first.test\r\nHost: second.test\r\n\r\n'), host('first.test'));
  // Header names that merely contain or start with "host" are not Host.
  t.deepEqual(parse('GET / HTTP/1.1\r\nX-Host: x.test\r\nHosts: y.test\r\nHost : z.test\r\n\r\n'), { kind: 'no-host' });
});

test('absolute-form target wins over Host; falls back to Host when unusable', (t) => {
  t.deepEqual(parse('GET http://abs.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n'), host('abs.test'));
  t.deepEqual(parse('GET HTTPS://User:pw@ABS.test:8443?q HTTP/1.1\r\n'), host('abs.test'));
  t.deepEqual(parse('GET http://[::1]:80/ HTTP/1.1\r\n'), host('::1'));
  t.deepEqual(parse('GET http:///nohost HTTP/1.1\r\nHost: other.test\r\n\r\n'), host('other.test'));
  t.deepEqual(parse('GET http://bad^host/ HTTP/1.1\r\nHost: other.test\r\n\r\n'), host('other.test'));
  // Origin-form and authority-form (CONNECT) use Host.
  t.deepEqual(parse('GET /http://x.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n'), host('other.test'));
  t.deepEqual(parse('CONNECT gold.test:443 HTTP/1.1\r\nHost: other.test\r\n\r\n'), host('other.test'));
});

test('folded Host field (obs-fold) is joined', (t) => {
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost:\r\n gold.test\r\nAccept: */*\r\n\r\n'), host('gold.test'));
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost:\r\n\tgold.test\r\n\r\n'), host('gold.test'));
  // A fold inside the name makes it "gold .test": unusable.
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: gold\r\n .test\r\n\r\n'), { kind: 'no-host' });
  // Folds of other fields are ignored.
  t.deepEqual(parse('GET / HTTP/1.1\r\nX-A: 1\r\n Host: no.test\r\nHost: yes.test\r\n\r\n'), host('yes.test'));
  // The Host line alone is not final: the next line could continue it.
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: gold.test\r\n'), { kind: 'incomplete' });
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: gold.test\r\n '), { kind: 'incomplete' });
  t.deepEqual(parse('GET / HTTP/1.1\r\nHost: gold.test\r\nA'), host('gold.test'));
});

test('no Host: HTTP/1.0 and 1.1 without one, empty or unusable values', (t) => {
  t.deepEqual(parse('GET / HTTP/1.0\r\n\r\n'), { kind: 'no-host' });
  t.deepEqual(parse('GET / HTTP/1.1\r\nAccept: */*\r\nUser-Agent: x\r\n\r\nbody'), { kind: 'no-host' });
  for (const v of ['', ' ', 'a b.test', 'gold.test:80x', 'gold.test:80:81', 'x\x00y', 'gold..test', '.', 'é.test', 'a'.repeat(254), 'gold.test, other.test']) {
    t.deepEqual(parse(`GET / HTTP/1.1\r\nHost: ${v}\r\n\r\n`), { kind: 'no-host' }, JSON.stringify(v));
  }
  t.deepEqual(parse(`GET / HTTP/1.1\r\nHost: ${'a'.repeat(10000)}\r\n\r\n`), { kind: 'no-host' });
  t.deepEqual(parse(`GET / HTTP/1.1\r\nHost: ${'a.'.repeat(126)}a\r\n\r\n`), host(`${'a.'.repeat(126)}a`));
});

test('line ends: bare LF, leading empty lines', (t) => {
  t.deepEqual(parse('GET / HTTP/1.1\nHost: lf.test\n\n'), host('lf.test'));
  t.deepEqual(parse('\r\n\r\nGET / HTTP/1.1\r\nHost: lead.test\r\n\r\n'), host('lead.test'));
  t.deepEqual(parse('GET / HTTP/1.1\nAccept: x\n\n'), { kind: 'no-host' });
});

test('not HTTP/1.x', (t) => {
  const cases = [
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
  ];
  for (const c of cases) t.deepEqual(parse(c), { kind: 'not-http' }, JSON.stringify(c));
  // A 32-byte method is still fine.
  t.deepEqual(parse('M'.repeat(32) + ' / HTTP/1.1\r\nHost: m.test\r\n\r\n'), host('m.test'));
});

test('incomplete prefixes of a request', (t) => {
  for (const c of ['', '\r\n', 'G', 'GET', 'GET ', 'GET /', 'GET / ', 'GET / H', 'GET / HTTP/1.', 'GET / HTTP/1.1', 'GET / HTTP/1.1\r', 'GET / HTTP/1.1\r\n', 'GET / HTTP/1.1\r\nHost: gold.te', 'GET / HTTP/1.1\r\nAccept: */*\r\n', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r']) {
    t.deepEqual(parse(c), { kind: 'incomplete' }, JSON.stringify(c));
  }
});

test('oversized header blocks: incomplete until they end, then a verdict', (t) => {
  const head = 'GET / HTTP/1.1\r\n' + 'X-Pad: aaaaaaaaaaaaaaaaaaaa\r\n'.repeat(5000);
  t.true(head.length > 65536);
  t.deepEqual(parse(head), { kind: 'incomplete' });
  t.deepEqual(parse(head + '\r\n'), { kind: 'no-host' });
  t.deepEqual(parse(head + 'Host: big.test\r\n\r\n'), host('big.test'));
  // One huge header line.
  t.deepEqual(parse('GET / HTTP/1.1\r\nX-Big: ' + 'b'.repeat(200000)), { kind: 'incomplete' });
  // Huge request target.
  t.deepEqual(parse('GET /' + 'p'.repeat(200000)), { kind: 'incomplete' });
  t.deepEqual(parse('GET /' + 'p'.repeat(200000) + ' HTTP/1.1\r\nHost: long.test\r\n\r\n'), host('long.test'));
  t.deepEqual(parse('GET http://' + 'h'.repeat(200000) + '/ HTTP/1.1\r\nHost: fallback.test\r\n\r\n'), host('fallback.test'));
});

test('work is linear: megabytes parse quickly', (t) => {
  const inputs = [
    'GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(400000),
    'GET / HTTP/1.1\r\n' + '\n'.repeat(1) + 'x'.repeat(2_000_000),
    'GET / HTTP/1.1\r\n' + ' \r\n'.repeat(600000),
    'GET / HTTP/1.1\r\nHost:' + '\r\n a'.repeat(500000),
    '\r\n'.repeat(1_000_000),
    'GET ' + '/'.repeat(2_000_000),
  ];
  for (const s of inputs) {
    const b = enc(s);
    const start = process.hrtime.bigint();
    const r = parseHttpHost(b);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    t.true(KINDS.includes(r.kind));
    t.true(ms < 1000, `${ms} ms for ${b.length} bytes`);
  }
});

test('works on a Uint8Array view with an offset', (t) => {
  const whole = enc('xxxxGET / HTTP/1.1\r\nHost: view.test\r\n\r\nyyyy');
  const view = new Uint8Array(whole.buffer, whole.byteOffset + 4, whole.length - 8);
  t.deepEqual(parseHttpHost(view), host('view.test'));
});

test('random garbage and mutated requests never throw and give a valid kind', async (t) => {
  const rand = prng(0x5eed);
  const real = await captureHttpRequest({ path: '/', headers: { Host: 'gold.test' } });
  const asciiish = (n: number) => enc(Array.from({ length: n }, () => 'GET /HTP1.\r\n: Hosta\t '[Math.floor(rand() * 24)]).join(''));
  let hosts = 0;
  for (let i = 0; i < 4000; i++) {
    const kind = i % 3;
    const b = kind === 0 ? randomBytes(rand, Math.floor(rand() * 600)) : kind === 1 ? mutate(rand, real, 1 + Math.floor(rand() * 4)) : asciiish(Math.floor(rand() * 200));
    const r = parseHttpHost(b);
    t.true(KINDS.includes(r.kind));
    if (r.kind === 'host') {
      hosts++;
      t.regex(r.host, /^([a-z0-9_-]+(\.[a-z0-9_-]+)*|[0-9a-f:.]+)$/);
    }
  }
  t.true(hosts > 100, 'mutations of a real request still mostly find a host');
});
