import test from 'ava';
import { formatAddress, matchAddress, normaliseIp, parseAddressMatcher } from '../../src/classify/address';
import { prng } from '../helpers/classify-captures';

test('normaliseIp: IPv4, IPv4-mapped, RFC 5952 IPv6', (t) => {
  const cases: [string, string | null][] = [
    ['127.0.0.2', '127.0.0.2'],
    ['::ffff:127.0.0.2', '127.0.0.2'],
    ['::FFFF:7F00:2', '127.0.0.2'],
    ['0:0:0:0:0:ffff:0a00:0001', '10.0.0.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8::0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::', '::'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['fe80::1:2', 'fe80::1:2'],
    ['::1.2.3.4', '::102:304'], // IPv4-compatible is not IPv4-mapped
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1.2.3', null],
    ['127.0.0.02', null],
    ['fe80::1%eth0', null],
    ['[::1]', null],
    ['', null],
    ['gold.test', null],
  ];
  for (const [input, expected] of cases) t.is(normaliseIp(input), expected, input);
});

test('normaliseIp agrees with the WHATWG URL serialiser on random IPv6', (t) => {
  const rand = prng(6);
  for (let i = 0; i < 2000; i++) {
    // Groups biased to zero so that runs of zeros are common.
    const groups = Array.from({ length: 8 }, () => (rand() < 0.5 ? 0 : Math.floor(rand() * 65536)));
    const text = groups.map((g) => g.toString(16).padStart(rand() < 0.5 ? 4 : 1, '0').toUpperCase()).join(':');
    const expected = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
    if (mapped) continue;
    t.is(normaliseIp(text), expected, text);
  }
});

test('parseAddressMatcher: accepted forms', (t) => {
  t.deepEqual(parseAddressMatcher('127.0.0.2'), { ip: '127.0.0.2' });
  t.deepEqual(parseAddressMatcher('127.0.0.2:8080'), { ip: '127.0.0.2', port: 8080 });
  t.deepEqual(parseAddressMatcher('::1'), { ip: '::1' });
  t.deepEqual(parseAddressMatcher('[::1:8443]'), { ip: '::1:8443' }, 'brackets without a port: the address itself');
  t.deepEqual(parseAddressMatcher('fe80::1:2'), { ip: 'fe80::1:2' }, 'a one-digit last group is no port');
  t.deepEqual(parseAddressMatcher('2001:db8::10'), { ip: '2001:db8::10' }, 'what precedes the last group is no address');
  t.deepEqual(parseAddressMatcher('2001:db8:0:0:1:0:0:80'), { ip: '2001:db8::1:0:0:80' }, 'seven groups are no address');
  t.deepEqual(parseAddressMatcher('[::1]'), { ip: '::1' });
  t.deepEqual(parseAddressMatcher('[::1]:8443'), { ip: '::1', port: 8443 });
  t.deepEqual(parseAddressMatcher('[0:0::0:1]:1'), { ip: '::1', port: 1 });
  t.deepEqual(parseAddressMatcher('::ffff:10.0.0.1'), { ip: '10.0.0.1' });
  t.deepEqual(parseAddressMatcher('[::ffff:10.0.0.1]:65535'), { ip: '10.0.0.1', port: 65535 });
});

test('parseAddressMatcher: refused forms say why', (t) => {
  const cases: [string, RegExp][] = [
    ['1.2.3', /is not an IP address/],
    ['gold.test', /is not an IP address/],
    ['gold.test:80', /is not an IP address/],
    ['', /is not an IP address/],
    ['[1.2.3.4]:80', /brackets are for IPv6/],
    ['[::1]:', /port must be 1\.\.65535/],
    ['[::1]:0', /port must be 1\.\.65535/],
    ['1.2.3.4:65536', /port must be 1\.\.65535/],
    ['1.2.3.4:-1', /port must be 1\.\.65535/],
    ['1.2.3.4:8o', /port must be 1\.\.65535/],
    ['1.2.3.4:', /port must be 1\.\.65535/],
    ['[::1]:80:80', /is not an IP address/],
    ['fe80::1%eth0', /zone ids/],
    ['0.0.0.0', /never matches/],
    ['[::]:80', /never matches/],
    [' 1.2.3.4', /is not an IP address/],
  ];
  for (const [input, re] of cases) {
    const r = parseAddressMatcher(input);
    t.is(typeof r, 'string', input);
    t.regex(r as string, re, input);
  }
});

test('formatAddress round-trips through parseAddressMatcher', (t) => {
  for (const text of ['127.0.0.2', '127.0.0.2:8080', '::1', '[::1]:8443', '2001:db8::1', '[2001:db8::1]:1', '[::1:80]', '[2001:db8::1:80]:80']) {
    const m = parseAddressMatcher(text);
    t.is(typeof m, 'object');
    t.is(formatAddress(m as { ip: string; port?: number }), text);
  }
});

test('matchAddress: ip+port beats ip-only, in any order; mapped addresses match IPv4', (t) => {
  const ipOnly = { ip: '127.0.0.2', tag: 'ip' };
  const withPort = { ip: '127.0.0.2', port: 8080, tag: 'port' };
  const v6 = { ip: '::1', port: 443, tag: 'v6' };
  for (const list of [[ipOnly, withPort, v6], [v6, withPort, ipOnly]]) {
    t.is(matchAddress({ ip: '127.0.0.2', port: 8080 }, list)?.tag, 'port');
    t.is(matchAddress({ ip: '127.0.0.2', port: 80 }, list)?.tag, 'ip');
    t.is(matchAddress({ ip: '::ffff:127.0.0.2', port: 8080 }, list)?.tag, 'port');
    t.is(matchAddress({ ip: '0:0:0:0:0:0:0:1', port: 443 }, list)?.tag, 'v6');
    t.is(matchAddress({ ip: '::1', port: 80 }, list), undefined);
    t.is(matchAddress({ ip: '127.0.0.3', port: 8080 }, list), undefined);
    t.is(matchAddress({ ip: 'not-an-ip', port: 8080 }, list), undefined);
  }
  t.is(matchAddress({ ip: '127.0.0.2', port: 80 }, []), undefined);
});

test('parseAddressMatcher: CIDR ranges, normalised; a full-length prefix is the address', (t) => {
  t.deepEqual(parseAddressMatcher('10.0.0.0/24'), { ip: '10.0.0.0', prefix: 24 });
  t.deepEqual(parseAddressMatcher('10.0.0.0/24:8080'), { ip: '10.0.0.0', prefix: 24, port: 8080 });
  t.deepEqual(parseAddressMatcher('0.0.0.0/0'), { ip: '0.0.0.0', prefix: 0 }, 'every IPv4 address');
  t.deepEqual(parseAddressMatcher('127.0.0.2/32'), { ip: '127.0.0.2' });
  t.deepEqual(parseAddressMatcher('fd00::/64'), { ip: 'fd00::', prefix: 64 });
  t.deepEqual(parseAddressMatcher('FD00:0:0:0::/64'), { ip: 'fd00::', prefix: 64 });
  t.deepEqual(parseAddressMatcher('[fd00::/64]'), { ip: 'fd00::', prefix: 64 });
  t.deepEqual(parseAddressMatcher('[fd00::/64]:8443'), { ip: 'fd00::', prefix: 64, port: 8443 });
  t.deepEqual(parseAddressMatcher('::/0'), { ip: '::', prefix: 0 }, 'every IPv6 address');
  t.deepEqual(parseAddressMatcher('::1/128'), { ip: '::1' });
  t.deepEqual(parseAddressMatcher('::ffff:10.0.0.0/104'), { ip: '10.0.0.0', prefix: 8 }, 'an IPv4-mapped range is an IPv4 range');
  t.deepEqual(parseAddressMatcher('::ffff:0:0/96'), { ip: '0.0.0.0', prefix: 0 });
  t.deepEqual(parseAddressMatcher('::/80'), { ip: '::', prefix: 80 }, 'wider than the mapped block: IPv6 only');
});

test('parseAddressMatcher: bad ranges and forgotten brackets say what to write', (t) => {
  const cases: [string, string][] = [
    ['::1:8080', '"::1:8080" looks like an IPv6 address with a port: write "[::1]:8080" (or "[::1:8080]" for the address itself)'],
    ['2001:db8::1:443', '"2001:db8::1:443" looks like an IPv6 address with a port: write "[2001:db8::1]:443" (or "[2001:db8::1:443]" for the address itself)'],
    ['fd00::/64:8443', '"fd00::/64:8443": an IPv6 address with a port goes in brackets: "[fd00::/64]:8443"'],
    ['2001:db8::1:99999', '"2001:db8::1:99999": an IPv6 address with a port goes in brackets: "[2001:db8::1]:99999"'],
    ['10.0.0.1/24', '"10.0.0.1/24" has bits set beyond its /24 prefix: did you mean "10.0.0.0/24"?'],
    ['fd00::1/64', '"fd00::1/64" has bits set beyond its /64 prefix: did you mean "fd00::/64"?'],
    ['10.0.0.0/33', '"10.0.0.0/33": the prefix length must be 0..32'],
    ['fd00::/129', '"fd00::/129": the prefix length must be 0..128'],
    ['10.0.0.0/', '"10.0.0.0/" is not an IP address'],
    ['10.0.0.0/x', '"10.0.0.0/x" is not an IP address'],
    ['10.0.0.0/24/8', '"10.0.0.0/24/8" is not an IP address'],
    ['[10.0.0.0/24]:80', '"[10.0.0.0/24]:80" is not an IP address (brackets are for IPv6)'],
    ['10.0.0.0/24:0', '"10.0.0.0/24:0": port must be 1..65535'],
    ['gold.test/24', '"gold.test/24" is not an IP address'],
  ];
  for (const [input, expected] of cases) t.is(parseAddressMatcher(input), expected, input);
});

test('formatAddress keeps the brackets of an IPv6 address that would read as one with a port', (t) => {
  t.is(formatAddress({ ip: '::1:80' }), '[::1:80]');
  t.is(formatAddress({ ip: 'fe80::1:2' }), 'fe80::1:2');
  t.deepEqual(parseAddressMatcher(formatAddress({ ip: '2001:db8::1:8080' })), { ip: '2001:db8::1:8080' });
});

test('formatAddress round-trips ranges', (t) => {
  for (const text of ['10.0.0.0/24', '10.0.0.0/24:80', 'fd00::/64', '[fd00::/64]:443', '0.0.0.0/0', '::/0']) {
    t.is(formatAddress(parseAddressMatcher(text) as { ip: string; port?: number; prefix?: number }), text);
  }
});

test('matchAddress: the most specific wins (longer prefix, then a port), in any order; families never mix', (t) => {
  const m = (text: string) => ({ ...(parseAddressMatcher(text) as { ip: string; port?: number; prefix?: number }), tag: text });
  const all = ['127.0.0.0/8', '127.0.0.0/29', '127.0.0.0/29:8080', '127.0.0.2', '127.0.0.2:8080', '127.0.0.4/30', '::/0', 'fd00::/64', '[fd00::/64]:443', 'fd00::1'].map(m);
  const cases: [string, number, string | undefined][] = [
    ['127.0.0.2', 8080, '127.0.0.2:8080'],
    ['127.0.0.2', 80, '127.0.0.2'],
    ['127.0.0.3', 8080, '127.0.0.0/29:8080'],
    ['127.0.0.3', 80, '127.0.0.0/29'],
    ['127.0.0.5', 8080, '127.0.0.4/30'],
    ['127.0.0.7', 8080, '127.0.0.4/30'],
    ['127.0.0.8', 8080, '127.0.0.0/8'],
    ['::ffff:127.0.0.3', 80, '127.0.0.0/29'],
    ['127.1.2.3', 1, '127.0.0.0/8'],
    ['10.0.0.1', 80, undefined],
    ['fd00::1', 443, 'fd00::1'],
    ['fd00::2', 443, '[fd00::/64]:443'],
    ['FD00:0::2', 80, 'fd00::/64'],
    ['fd00:0:0:1::2', 80, '::/0'],
    ['::1', 80, '::/0'],
    ['not-an-ip', 80, undefined],
  ];
  for (const list of [all, [...all].reverse()]) {
    for (const [ip, port, expected] of cases) t.is(matchAddress({ ip, port }, list)?.tag, expected, `${ip} ${port}`);
  }
  t.is(matchAddress({ ip: '10.1.2.3', port: 1 }, [m('0.0.0.0/0')])?.tag, '0.0.0.0/0');
  t.is(matchAddress({ ip: '10.1.2.3', port: 1 }, [m('::/0')]), undefined, 'an IPv6 range never matches IPv4');
  t.is(matchAddress({ ip: '::1', port: 1 }, [m('0.0.0.0/0')]), undefined);
  const first = { ...m('10.0.0.0/24'), tag: 'first' };
  t.is(matchAddress({ ip: '10.0.0.1', port: 1 }, [first, m('10.0.0.0/24')])?.tag, 'first', 'of equal matchers the first');
});
