// parseH2Authority: the :authority / host of an h2c (prior knowledge)
// connection's first header block, from hand-made frames (every HPACK
// representation, the dynamic table, CONTINUATION, refused connections) and
// from what node's own HTTP/2 client sends, at every truncation.
import test from 'ava';
import { createClassifier, needsMoreBytes } from '../../src/classify/classifier';
import { parseH2Authority } from '../../src/classify/h2-authority';
import { HUFFMAN_CODES } from '../../src/classify/hpack-tables';
import { parseConfig } from '../../src/config/load';
import { EXAMPLE_CONFIG, H2_CASES, facts, hpackBomb, huffmanEncode, label } from '../helpers/classify-cases';
import { captureH2Request, mutate, prng } from '../helpers/classify-captures';

test('the Huffman code is prefix-free and complete (Kraft sum 1), EOS is 30 ones', (t) => {
  t.is(HUFFMAN_CODES.length, 257);
  t.is(HUFFMAN_CODES.reduce((s, [, bits]) => s + 2 ** -bits, 0), 1);
  const words = HUFFMAN_CODES.map(([code, bits]) => code.toString(2).padStart(bits, '0'));
  for (let i = 0; i < words.length; i++) for (let j = 0; j < words.length; j++) if (i !== j) t.false(words[j].startsWith(words[i]));
  t.deepEqual(HUFFMAN_CODES[256], [0x3fffffff, 30]);
  // RFC 7541 C.4.1: "www.example.com".
  t.is(huffmanEncode('www.example.com').toString('hex'), 'f1e3c2e5f23a6ba0ab90f4ff');
});

for (const [topic, cases] of Object.entries(H2_CASES)) {
  test(`h2c ${topic}`, (t) => {
    for (const [bytes, expected] of cases) t.deepEqual(parseH2Authority(bytes), expected, label(bytes));
  });
}

test('every prefix of a request is incomplete until the answer, then stays it', (t) => {
  for (const cases of [H2_CASES.authority, H2_CASES.dynamicTable, H2_CASES.frames]) {
    for (const [bytes, expected] of cases) {
      let settled = false;
      for (let n = 0; n <= bytes.length; n++) {
        const r = parseH2Authority(bytes.subarray(0, n));
        if (settled || r.kind !== 'incomplete') {
          t.deepEqual(r, expected, `prefix ${n} of ${label(bytes)}`);
          settled = true;
        }
      }
    }
  }
});

test("node's HTTP/2 client: :authority (Huffman-coded) at every truncation", async (t) => {
  for (const [authority, host] of [['Gold.Test:8080', 'gold.test'], ['x.eu.gold.test', 'x.eu.gold.test'], ['[::1]:443', '::1']]) {
    const bytes = await captureH2Request({ ':authority': authority, 'user-agent': 'vhqos-test', cookie: 'c'.repeat(300) });
    t.deepEqual(parseH2Authority(bytes), { kind: 'host', host });
    let first = -1;
    for (let n = 0; n <= bytes.length; n++) {
      const r = parseH2Authority(bytes.subarray(0, n));
      if (r.kind !== 'incomplete' && first < 0) first = n;
      if (first >= 0) t.deepEqual(r, { kind: 'host', host }, `prefix ${n}`);
      t.is(needsMoreBytes(bytes.subarray(0, n), 4096), n > 0 && first < 0, `needsMoreBytes at ${n}`);
    }
    t.true(first > 24);
  }
});

test('h2c through the classifier: :authority picks among the candidates of the address', async (t) => {
  const classify = createClassifier(parseConfig(EXAMPLE_CONFIG));
  const gold = await captureH2Request({ ':authority': 'gold.test' });
  t.deepEqual(classify(facts(gold)), { vhost: 'gold', by: 'host', detail: 'gold.test' });
  t.deepEqual(classify(facts(gold, '127.0.0.2')), { vhost: 'lead', by: 'address', detail: '127.0.0.2:80' });
  t.deepEqual(classify(facts(await captureH2Request({ ':authority': 'platinum.test' }), '127.0.0.2')), { vhost: 'platinum', by: 'host', detail: 'platinum.test' });
  t.deepEqual(classify(facts(gold.subarray(0, 30))), { vhost: null, by: 'default' });
});

test('an HPACK bomb and 64 KiB of CONTINUATIONs cost one pass', (t) => {
  const bomb = hpackBomb();
  t.true(bomb.length > 60_000);
  const start = process.hrtime.bigint();
  t.deepEqual(parseH2Authority(bomb), { kind: 'host', host: 'bomb.test' });
  t.true(Number(process.hrtime.bigint() - start) / 1e6 < 500);
});

test('mutated requests never throw and give one of the four answers', async (t) => {
  const rand = prng(0x2c);
  const real = await captureH2Request({ ':authority': 'gold.test', 'x-a': 'b'.repeat(40) });
  const kinds = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const base = i % 2 ? real : H2_CASES.dynamicTable[i % H2_CASES.dynamicTable.length][0];
    const b = mutate(rand, base.subarray(0, 24 + Math.floor(rand() * (base.length - 23))), 1 + Math.floor(rand() * 3));
    kinds.add(parseH2Authority(b).kind);
  }
  t.deepEqual([...kinds].sort(), ['host', 'incomplete', 'no-host', 'not-h2']);
});
