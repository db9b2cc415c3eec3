import test from 'ava';
import { createClassifier, needsMoreBytes, needsPeek } from '../../src/classify/classifier';
import { parseConfig } from '../../src/config/load';
import {
  CLASSIFIER_CASES,
  EXAMPLE_CONFIG,
  NEEDS_MORE_CASES,
  RANGE_CASES,
  RANGE_CONFIG,
  config,
  facts,
  httpRequest as http,
  randomNameClaims,
} from '../helpers/classify-cases';
import { captureClientHello, captureHttpRequest, prng, randomBytes } from '../helpers/classify-captures';

const example = parseConfig(EXAMPLE_CONFIG);
const classify = createClassifier(example);

test('HTTP Host: exact names, wildcards, the longest wildcard, exact beats wildcard', (t) => {
  for (const [f, expected, why] of CLASSIFIER_CASES.names) t.deepEqual(classify(f), expected, why);
});

test("candidates by address (Apache's rule): names pick only among them, else the one without names, else default", (t) => {
  for (const [f, expected, why] of CLASSIFIER_CASES.candidates) t.deepEqual(classify(f), expected, why);
});

test('address: ip+port beats ip-only; IPv6 and IPv4-mapped forms', (t) => {
  for (const [f, expected, why] of CLASSIFIER_CASES.addresses) t.deepEqual(classify(f), expected, why);
});

test('address ranges: the most specific match makes the candidates', (t) => {
  const classifyRanges = createClassifier(parseConfig(RANGE_CONFIG));
  for (const [f, expected, why] of RANGE_CASES) t.deepEqual(classifyRanges(f), expected, why ?? `${f.local.ip} ${f.local.port}`);
});

test('TLS: SNI decides among the candidates; no SNI or a partial hello: the one without names', async (t) => {
  const withSni = await captureClientHello({ servername: 'www.gold.test' });
  const without = await captureClientHello({});
  t.deepEqual(classify(facts(withSni)), { vhost: 'gold', by: 'sni', detail: 'www.gold.test' });
  t.deepEqual(classify(facts(withSni, '127.0.0.2')), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80' });
  t.deepEqual(classify(facts(await captureClientHello({ servername: 'a.plat.test' }), '127.0.0.2')), { vhost: 'platinum', by: 'sni', detail: 'a.plat.test' });
  t.deepEqual(classify(facts(without, '127.0.0.2')), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80' });
  t.deepEqual(classify(facts(withSni.subarray(0, 20), '127.0.0.2')), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80' });
  const unknown = await captureClientHello({ servername: 'unknown.example' });
  t.deepEqual(classify(facts(unknown)), { vhost: null, by: 'default', detail: 'unknown.example' });
});

test('real HTTP request bytes through the classifier', async (t) => {
  const bytes = await captureHttpRequest({ headers: { Host: 'x.eu.gold.test:8080' } });
  t.deepEqual(classify(facts(bytes)), { vhost: 'silver', by: 'host', detail: 'x.eu.gold.test' });
  t.deepEqual(classify(facts(bytes.subarray(0, 10), '127.0.0.2')), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80' });
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
  for (const [bytes, peekBytes, expected] of NEEDS_MORE_CASES) t.is(needsMoreBytes(bytes, peekBytes), expected, bytes.toString('latin1'));
});

test('classification is consistent with a naive reference on random names', (t) => {
  const { vhosts, names } = randomNameClaims(prng(42));
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
  for (const host of names) {
    t.is(classifyRandom(facts(http(host))).vhost, reference(host), host);
  }
});

test('garbage bytes never throw', (t) => {
  const rand = prng(99);
  for (let i = 0; i < 2000; i++) {
    const b = randomBytes(rand, Math.floor(rand() * 300));
    if (i % 2) b[0] = 22;
    const r = classify(facts(b, '127.0.0.2', 80));
    t.true(r.vhost === 'lead' || r.vhost === 'platinum', JSON.stringify(r));
  }
});
