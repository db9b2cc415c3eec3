import test, { type ExecutionContext } from 'ava';
import { parseTlsSni, type TlsSniResult } from '../../src/classify/tls-sni';
import {
  TLS_HELLO_CASES,
  TLS_INCOMPLETE_CASES,
  TLS_PREFIX_CASES,
  bigTlsInput,
  sniIs as sni,
  tlsNotTlsCases,
} from '../helpers/classify-cases';
import { captureClientHello, mutate, prng, randomBytes, splitRecords } from '../helpers/classify-captures';

const KINDS = ['sni', 'no-sni', 'incomplete', 'not-tls'];

/** Every prefix: incomplete until the SNI is read, then the SNI; never anything else. */
function checkPrefixes(t: ExecutionContext, bytes: Uint8Array, expected: TlsSniResult): void {
  let decided = false;
  for (let n = 0; n <= bytes.length; n++) {
    const r = parseTlsSni(bytes.subarray(0, n));
    if (r.kind === 'incomplete') {
      t.false(decided, `prefix ${n} went back to incomplete`);
    } else {
      t.deepEqual(r, expected, `prefix ${n}`);
      decided = true;
    }
  }
  t.deepEqual(parseTlsSni(bytes), expected);
}

test('real ClientHello from node:tls (TLS 1.3) with SNI, at every truncation', async (t) => {
  const bytes = await captureClientHello({ servername: 'gold.test' });
  t.is(bytes[0], 22);
  checkPrefixes(t, bytes, sni('gold.test'));
});

test('real ClientHello, TLS 1.2 only, with ALPN, mixed-case name', async (t) => {
  const bytes = await captureClientHello({ servername: 'Www.Gold.TEST', maxVersion: 'TLSv1.2', ALPNProtocols: ['h2', 'http/1.1'] });
  checkPrefixes(t, bytes, sni('www.gold.test'));
});

test('real ClientHello without SNI (connecting to an IP)', async (t) => {
  const bytes = await captureClientHello({});
  checkPrefixes(t, bytes, { kind: 'no-sni' });
});

test('ClientHello split across several records is reassembled', async (t) => {
  const bytes = await captureClientHello({ servername: 'split.gold.test' });
  for (const size of [1, 7, 50, 100, 1000]) {
    const split = splitRecords(bytes, size);
    t.true(split.length > bytes.length || size >= bytes.length - 5);
    t.deepEqual(parseTlsSni(split), sni('split.gold.test'), `records of ${size}`);
  }
  checkPrefixes(t, splitRecords(bytes, 64), sni('split.gold.test'));
  // A non-handshake record in the middle of the handshake is not TLS as we know it.
  const split = splitRecords(bytes, 64);
  const broken = Buffer.from(split);
  broken[5 + 64] = 23;
  t.deepEqual(parseTlsSni(broken), { kind: 'not-tls' });
});

test('hand-made ClientHellos: entry order, trailing dot, bad names', (t) => {
  for (const [why, bytes, expected] of TLS_HELLO_CASES) t.deepEqual(parseTlsSni(bytes), expected, why);
});

test('hand-made ClientHello prefixes are incomplete until the name is read', (t) => {
  for (const [bytes, expected] of TLS_PREFIX_CASES) checkPrefixes(t, bytes, expected);
});

test('not TLS: other protocols and inconsistent lengths', (t) => {
  for (const [bytes, why] of tlsNotTlsCases()) t.deepEqual(parseTlsSni(bytes), { kind: 'not-tls' }, why);
});

test('incomplete: consistent beginnings', (t) => {
  for (const b of TLS_INCOMPLETE_CASES) {
    t.deepEqual(parseTlsSni(Uint8Array.from(b)), { kind: 'incomplete' }, JSON.stringify(b));
  }
});

test('works on a Uint8Array view with an offset', async (t) => {
  const bytes = await captureClientHello({ servername: 'view.test' });
  const whole = Buffer.concat([Buffer.from('junk'), bytes, Buffer.from('more')]);
  t.deepEqual(parseTlsSni(new Uint8Array(whole.buffer, whole.byteOffset + 4, bytes.length)), sni('view.test'));
});

test('random garbage and mutated ClientHellos never throw and give a valid kind', async (t) => {
  const rand = prng(0x7153);
  const real = await captureClientHello({ servername: 'gold.test' });
  const tlsLike = (n: number) => {
    const b = randomBytes(rand, n);
    b[0] = 22;
    if (n > 1) b[1] = 3;
    if (n > 5) b[5] = 1;
    return b;
  };
  const seen = new Set<string>();
  for (let i = 0; i < 4000; i++) {
    const kind = i % 3;
    const b = kind === 0 ? randomBytes(rand, Math.floor(rand() * 600)) : kind === 1 ? mutate(rand, real, 1 + Math.floor(rand() * 3)) : tlsLike(Math.floor(rand() * 600));
    const r = parseTlsSni(b);
    t.true(KINDS.includes(r.kind));
    seen.add(r.kind);
    if (r.kind === 'sni') t.regex(r.host, /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/);
  }
  t.deepEqual([...seen].sort(), [...KINDS].sort(), 'the garbage reaches every outcome');
});

test('big inputs are cheap', (t) => {
  const b = bigTlsInput();
  const start = process.hrtime.bigint();
  const r = parseTlsSni(b);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.true(KINDS.includes(r.kind));
  t.true(ms < 1000, `${ms} ms`);
});
