import test from 'ava';
import { formatAddress, matchAddress, normaliseIp, parseAddressMatcher } from '../../src/classify/address';
import { prng } from './classify-captures';

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
  t.deepEqual(parseAddressMatcher('::1:8443'), { ip: '::1:8443' }, 'a bare IPv6 address has no port');
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
  for (const text of ['127.0.0.2', '127.0.0.2:8080', '::1', '[::1]:8443', '2001:db8::1', '[2001:db8::1]:1']) {
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
