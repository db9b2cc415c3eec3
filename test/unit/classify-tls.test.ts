import test, { type ExecutionContext } from 'ava';
import { parseTlsSni, type TlsSniResult } from '../../src/classify/tls-sni';
import { captureClientHello, mutate, prng, randomBytes, splitRecords } from './classify-captures';

const KINDS = ['sni', 'no-sni', 'incomplete', 'not-tls'];
const sni = (host: string): TlsSniResult => ({ kind: 'sni', host });

const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 255, n & 255]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const ext = (type: number, data: Buffer) => Buffer.concat([u16(type), vec16(data)]);
/** server_name extension data: ServerNameList of (name_type, name). */
const serverNames = (...entries: [number, string][]) =>
  vec16(Buffer.concat(entries.map(([type, name]) => Buffer.concat([Buffer.from([type]), vec16(Buffer.from(name, 'latin1'))]))));

interface HelloParts {
  extensions?: Buffer[] | null; // null: no extensions block at all
  sessionId?: Buffer;
  suites?: Buffer;
  compression?: Buffer;
  major?: number;
  handshakeType?: number;
}

/** A hand-made ClientHello in one record, for cases real clients do not produce. */
function hello(p: HelloParts = {}): Buffer {
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
  t.deepEqual(parseTlsSni(hello({ extensions: [ext(0, serverNames([0, 'gold.test']))] })), sni('gold.test'));
  t.deepEqual(parseTlsSni(hello({ extensions: [ext(0, serverNames([0, 'gold.test.']))] })), sni('gold.test'));
  // server_name after other extensions, with a non-host_name entry first.
  t.deepEqual(
    parseTlsSni(hello({ extensions: [ext(10, Buffer.alloc(8)), ext(16, Buffer.alloc(0)), ext(0, serverNames([7, 'x'], [0, 'late.test']))] })),
    sni('late.test'),
  );
  for (const name of ['', 'a b', 'é.test', 'x\x00y', '..', 'a'.repeat(300)]) {
    t.deepEqual(parseTlsSni(hello({ extensions: [ext(0, serverNames([0, name]))] })), { kind: 'no-sni' }, JSON.stringify(name));
  }
  t.deepEqual(parseTlsSni(hello({ extensions: [ext(0, serverNames([1, 'other']))] })), { kind: 'no-sni' });
  t.deepEqual(parseTlsSni(hello({ extensions: [ext(0, serverNames())] })), { kind: 'no-sni' });
  t.deepEqual(parseTlsSni(hello({ extensions: [ext(10, Buffer.alloc(4))] })), { kind: 'no-sni' });
  t.deepEqual(parseTlsSni(hello({ extensions: [] })), { kind: 'no-sni' });
  t.deepEqual(parseTlsSni(hello({ extensions: null })), { kind: 'no-sni' });
  t.deepEqual(parseTlsSni(hello({ sessionId: Buffer.alloc(0), extensions: [ext(0, serverNames([0, 's.test']))] })), sni('s.test'));
});

test('hand-made ClientHello prefixes are incomplete until the name is read', (t) => {
  const h = hello({ extensions: [ext(10, Buffer.alloc(20)), ext(0, serverNames([0, 'gold.test'])), ext(13, Buffer.alloc(30))] });
  checkPrefixes(t, h, sni('gold.test'));
  checkPrefixes(t, hello({ extensions: null }), { kind: 'no-sni' });
});

test('not TLS: other protocols and inconsistent lengths', (t) => {
  const bad = (b: Buffer, why: string) => t.deepEqual(parseTlsSni(b), { kind: 'not-tls' }, why);
  bad(Buffer.from('GET / HTTP/1.1\r\n'), 'HTTP');
  bad(Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), 'SSLv2 hello');
  bad(Buffer.from([22, 2, 0]), 'record version major 2');
  bad(Buffer.from([22, 3, 1, 0, 0]), 'empty record');
  bad(Buffer.from([22, 3, 1, 0x40, 0x01]), 'record longer than 2^14');
  bad(Buffer.from([21, 3, 3, 0, 2, 2, 40]), 'alert record');
  bad(hello({ handshakeType: 2, extensions: [] }), 'ServerHello');
  bad(hello({ major: 2, extensions: [] }), 'client_version 2.x');
  bad(hello({ sessionId: Buffer.alloc(33), extensions: [] }), 'session id > 32');
  bad(hello({ suites: Buffer.alloc(3), extensions: [] }), 'odd cipher suites length');
  bad(hello({ suites: Buffer.alloc(0), extensions: [] }), 'no cipher suites');
  bad(hello({ compression: Buffer.alloc(0), extensions: [] }), 'no compression methods');
  // An extension claiming more bytes than the extensions block holds.
  const h = hello({ extensions: [ext(10, Buffer.alloc(4))] });
  h.writeUInt16BE(200, h.length - 6);
  bad(h, 'extension overruns its block');
  // A server_name list longer than its extension.
  const s = hello({ extensions: [ext(0, serverNames([0, 'gold.test']))] });
  s.writeUInt16BE(500, s.length - 14);
  bad(s, 'name list overruns the extension');
  // The handshake claiming more than the records hold, then a non-handshake record.
  const long = hello({ extensions: [ext(0, serverNames([0, 'gold.test']))] });
  long.writeUIntBE(long.length, 6, 3);
  bad(Buffer.concat([long, Buffer.from([23, 3, 3, 0, 1, 0])]), 'application data inside the handshake');
});

test('incomplete: consistent beginnings', (t) => {
  for (const b of [[], [22], [22, 3], [22, 3, 1], [22, 3, 1, 2], [22, 3, 1, 2, 0], [22, 3, 1, 2, 0, 1], [22, 3, 1, 2, 0, 1, 0, 1, 0xfc, 3, 3]]) {
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
  const b = Buffer.alloc(2_000_000, 0);
  for (let i = 0; i < b.length; i += 16389) {
    b.set([22, 3, 1, 0x40, 0x00], i); // chain of full-size handshake records
  }
  b[5] = 1;
  b.writeUIntBE(0xffffff, 6, 3);
  const start = process.hrtime.bigint();
  const r = parseTlsSni(b);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.true(KINDS.includes(r.kind));
  t.true(ms < 1000, `${ms} ms`);
});
