import test from 'ava';
import { createClassifier, needsMoreBytes, needsPeek } from '../../src/classify/classifier';
import { parseConfig } from '../../src/config/load';
import type { ConnectionFacts, VhostConfig, VhqosConfig } from '../../src/types';
import { captureClientHello, captureHttpRequest, prng, randomBytes } from './classify-captures';

function config(vhosts: Partial<VhostConfig>[]): VhqosConfig {
  return {
    vhosts: vhosts.map((v, i) => ({ name: `v${i}`, hosts: [], addresses: [], resources: {}, ...v })),
    default: {},
    options: { firstByteTimeoutMs: 3000, peekBytes: 4096, verdictTimeoutMs: 2000 },
  };
}

const http = (host: string) => Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
const facts = (firstBytes: Uint8Array, ip = '10.9.9.9', port = 80): ConnectionFacts => ({ local: { ip, port }, firstBytes });

const example = parseConfig(`
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
`);
const classify = createClassifier(example);

test('HTTP Host: exact names, wildcards, the longest wildcard, exact beats wildcard', (t) => {
  t.deepEqual(classify(facts(http('gold.test'))), { vhost: 'gold', by: 'host', detail: 'gold.test' });
  t.deepEqual(classify(facts(http('GOLD.test.:80'))), { vhost: 'gold', by: 'host', detail: 'gold.test' });
  t.deepEqual(classify(facts(http('www.gold.test'))), { vhost: 'gold', by: 'host', detail: 'www.gold.test' });
  t.deepEqual(classify(facts(http('a.b.c.gold.test'))), { vhost: 'gold', by: 'host', detail: 'a.b.c.gold.test' });
  t.is(classify(facts(http('x.eu.gold.test'))).vhost, 'silver', 'longer wildcard wins');
  t.is(classify(facts(http('y.x.eu.gold.test'))).vhost, 'silver');
  t.is(classify(facts(http('eu.gold.test'))).vhost, 'gold', '*.eu.gold.test does not match eu.gold.test itself');
  t.is(classify(facts(http('a.gold.test'))).vhost, 'silver', 'exact beats wildcard');
  t.is(classify(facts(http('b.a.gold.test'))).vhost, 'gold', 'an exact name is not a wildcard');
  t.is(classify(facts(http('silver.test'))).vhost, 'silver');
  t.is(classify(facts(http('other.test'))).vhost, 'bronze');
  t.is(classify(facts(http('test'))).vhost, null, '*.test does not match test');
});

test('a name beats the address; an unknown name falls back to address, then default', (t) => {
  t.deepEqual(classify(facts(http('silver.test'), '127.0.0.2', 80)), { vhost: 'silver', by: 'host', detail: 'silver.test' });
  t.deepEqual(classify(facts(http('nowhere.example'), '127.0.0.2', 80)), { vhost: 'gold', by: 'address', detail: '127.0.0.2:80' });
  t.deepEqual(classify(facts(http('nowhere.example'))), { vhost: null, by: 'default', detail: 'nowhere.example' });
  t.deepEqual(classify(facts(Buffer.alloc(0))), { vhost: null, by: 'default' });
});

test('address: ip+port beats ip-only; IPv6 and IPv4-mapped forms', (t) => {
  const none = Buffer.alloc(0);
  t.deepEqual(classify(facts(none, '127.0.0.2', 8080)), { vhost: 'silver', by: 'address', detail: '127.0.0.2:8080' });
  t.deepEqual(classify(facts(none, '127.0.0.2', 443)), { vhost: 'gold', by: 'address', detail: '127.0.0.2:443' });
  t.deepEqual(classify(facts(none, '::ffff:127.0.0.2', 8080)), { vhost: 'silver', by: 'address', detail: '127.0.0.2:8080' });
  t.deepEqual(classify(facts(none, '0:0:0:0:0:0:0:1', 8443)), { vhost: 'gold', by: 'address', detail: '[::1]:8443' });
  t.deepEqual(classify(facts(none, '::1', 443)), { vhost: null, by: 'default' });
  t.deepEqual(classify(facts(none, '127.0.0.9', 1)), { vhost: 'byaddr', by: 'address', detail: '127.0.0.9:1' });
  t.deepEqual(classify(facts(none, 'garbage', 1)), { vhost: null, by: 'default' });
});

test('TLS: SNI decides; no SNI or a partial hello falls back to the address', async (t) => {
  const withSni = await captureClientHello({ servername: 'www.gold.test' });
  const without = await captureClientHello({});
  t.deepEqual(classify(facts(withSni, '127.0.0.2', 8080)), { vhost: 'gold', by: 'sni', detail: 'www.gold.test' });
  t.deepEqual(classify(facts(without, '127.0.0.2', 8080)), { vhost: 'silver', by: 'address', detail: '127.0.0.2:8080' });
  t.deepEqual(classify(facts(withSni.subarray(0, 20), '127.0.0.2', 8080)), { vhost: 'silver', by: 'address', detail: '127.0.0.2:8080' });
  const unknown = await captureClientHello({ servername: 'unknown.example' });
  t.deepEqual(classify(facts(unknown)), { vhost: null, by: 'default', detail: 'unknown.example' });
});

test('real HTTP request bytes through the classifier', async (t) => {
  const bytes = await captureHttpRequest({ headers: { Host: 'x.eu.gold.test:8080' } });
  t.deepEqual(classify(facts(bytes)), { vhost: 'silver', by: 'host', detail: 'x.eu.gold.test' });
  t.deepEqual(classify(facts(bytes.subarray(0, 10), '127.0.0.2')), { vhost: 'gold', by: 'address', detail: '127.0.0.2:80' });
});

test('without any host names the bytes are not even looked at', (t) => {
  const c = config([{ name: 'a', addresses: [{ ip: '127.0.0.2' }] }]);
  t.false(needsPeek(c));
  t.deepEqual(createClassifier(c)(facts(http('a'), '127.0.0.2')), { vhost: 'a', by: 'address', detail: '127.0.0.2:80' });
  t.deepEqual(createClassifier(c)(facts(http('a'))), { vhost: null, by: 'default' });
  t.true(needsPeek(example));
  t.false(needsPeek(config([])));
});

test('an empty config sends everything to the default', (t) => {
  const c = createClassifier(config([]));
  t.deepEqual(c(facts(http('gold.test'), '127.0.0.2')), { vhost: null, by: 'default' });
});

test('needsMoreBytes: only for consistent prefixes below peekBytes', async (t) => {
  const hello = await captureClientHello({ servername: 'gold.test' });
  t.true(needsMoreBytes(hello.subarray(0, 30), 4096));
  t.false(needsMoreBytes(hello, 4096));
  t.false(needsMoreBytes(hello.subarray(0, 30), 30), 'peekBytes reached');
  t.true(needsMoreBytes(Buffer.from('GET / HTTP/1.1\r\nHost: gol'), 4096));
  t.false(needsMoreBytes(http('gold.test'), 4096));
  t.false(needsMoreBytes(Buffer.from('SSH-2.0-x\r\n'), 4096));
  t.false(needsMoreBytes(Buffer.alloc(0), 4096));
});

test('classification is consistent with a naive reference on random names', (t) => {
  const rand = prng(42);
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
  const c = config(vhosts);
  const classifyRandom = createClassifier(c);
  // Reference: exact match, else the longest wildcard suffix.
  const reference = (host: string): string | null => {
    const exact = c.vhosts.find((v) => v.hosts.includes(host));
    if (exact) return exact.name;
    let best: { len: number; name: string } | null = null;
    for (const v of c.vhosts) {
      for (const p of v.hosts) {
        if (p.startsWith('*.') && host.endsWith(p.slice(1)) && (!best || p.length > best.len)) best = { len: p.length, name: v.name };
      }
    }
    return best?.name ?? null;
  };
  for (let i = 0; i < 2000; i++) {
    const host = name(1 + Math.floor(rand() * 5));
    t.is(classifyRandom(facts(http(host))).vhost, reference(host), host);
  }
});

test('garbage bytes never throw', (t) => {
  const rand = prng(99);
  for (let i = 0; i < 2000; i++) {
    const b = randomBytes(rand, Math.floor(rand() * 300));
    if (i % 2) b[0] = 22;
    const r = classify(facts(b, '127.0.0.2', 8080));
    t.true(r.vhost === 'silver' || (r.by !== 'address' && r.by !== 'default'), JSON.stringify(r));
  }
});
