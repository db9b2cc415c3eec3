import test from 'ava';
import { parseHttpHost, type HttpHostResult } from '../../src/classify/http-host';
import { HTTP_CASES, HTTP_LINEAR_INPUTS, OVERSIZED_HEAD, hostIs as host, label } from '../helpers/classify-cases';
import { captureHttpRequest, mutate, prng, randomBytes } from '../helpers/classify-captures';

const enc = (s: string) => Buffer.from(s, 'latin1');
const parse = (s: string) => parseHttpHost(enc(s));
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

/** Each case's answer is exactly the expected one. */
function checkCases(t: import('ava').ExecutionContext, cases: [string, HttpHostResult][]): void {
  for (const [input, expected] of cases) t.deepEqual(parse(input), expected, label(input));
}

test('Host field: name case, OWS, port, trailing dot, upper case value', (t) => checkCases(t, HTTP_CASES.hostField));

test('Host field: IPv6 and IPv4 literals', (t) => checkCases(t, HTTP_CASES.literals));

test('Host field among others, after big headers, first of duplicates wins', (t) => checkCases(t, HTTP_CASES.amongOthers));

test('absolute-form: an http:// target wins over Host (unusable: no name); other schemes leave it to Host', (t) => checkCases(t, HTTP_CASES.absoluteForm));

test('folded Host field (obs-fold) is joined', (t) => checkCases(t, HTTP_CASES.folded));

test('no Host: HTTP/1.0 and 1.1 without one, empty or unusable values', (t) => checkCases(t, HTTP_CASES.noHost));

test('line ends: bare LF, leading empty lines', (t) => checkCases(t, HTTP_CASES.lineEnds));

test('not HTTP/1.x', (t) => checkCases(t, HTTP_CASES.notHttp));

test('incomplete prefixes of a request', (t) => checkCases(t, HTTP_CASES.incomplete));

test('oversized header blocks: incomplete until they end, then a verdict', (t) => {
  t.true(OVERSIZED_HEAD.length > 65536);
  checkCases(t, HTTP_CASES.oversized);
});

test('work is linear: megabytes parse quickly', (t) => {
  for (const s of HTTP_LINEAR_INPUTS) {
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
