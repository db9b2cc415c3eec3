// vhqos import apache, the pure parts: the `-S` parser on captured Apache
// 2.4 outputs (test/fixtures/apache-import/captured), the plan (which vhqos
// vhosts mirror which chains), the rendered YAML through the real loader and
// classifier, the <VirtualHost> block reader and the choice of command.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseChainAddress, parseDumpVhosts, type VhostDump } from '../../src/apache-import/dump-vhosts';
import { apacheWildcardMatches, planImport, renderConfig } from '../../src/apache-import/to-config';
import { parseVhostBlock, type VhostBlock } from '../../src/apache-import/vhost-block';
import { dumpCommand, ImportError, runDump } from '../../src/apache-import/run-dump';
import { parseConfig } from '../../src/config/load';
import { createClassifier } from '../../src/classify/classifier';
import { repoRoot } from '../helpers/paths';

const captured = (name: string) => fs.readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'apache-import', 'captured', name), 'utf8');
/** Every block has a ServerName unless listed. */
const blocks = (without: string[] = []) => (file: string, line: number): VhostBlock =>
  without.includes(`${path.basename(file)}:${line}`) ? { aliases: [] } : { serverName: 'x', aliases: [] };

test('chain addresses: *, _default_, ip:port, ip:*, [v6]:port, unspecified', (t) => {
  t.deepEqual(parseChainAddress('*:80'), { ip: '*', port: 80 });
  t.deepEqual(parseChainAddress('_default_:443'), { ip: '*', port: 443 });
  t.deepEqual(parseChainAddress('*:*'), { ip: '*', port: '*' });
  t.deepEqual(parseChainAddress('127.0.0.2:8080'), { ip: '127.0.0.2', port: 8080 });
  t.deepEqual(parseChainAddress('127.0.0.73:*'), { ip: '127.0.0.73', port: '*' });
  t.deepEqual(parseChainAddress('[::1]:443'), { ip: '::1', port: 443 });
  t.deepEqual(parseChainAddress('[0:0:0:0:0:0:0:1]:443'), { ip: '::1', port: 443 });
  t.deepEqual(parseChainAddress('0.0.0.0:80'), { ip: '*', port: 80 });
  t.is(parseChainAddress('www.example.com:80'), null);
  t.is(parseChainAddress('VirtualHost'), null);
});

test('-S of a mixed site: chains in order, defaults first, aliases and wild aliases, file:line', (t) => {
  const d = parseDumpVhosts(captured('apache-2.4.71-mixed.txt'));
  t.deepEqual(d.unknown, []);
  t.is(d.serverRoot, '/srv/mixed');
  t.deepEqual(
    d.chains.map((c) => [c.address, c.nameBased, c.vhosts.map((v) => v.name)]),
    [
      ['127.0.0.84:*', false, ['anyport.test']],
      ['127.0.0.84:47312', false, ['p2only.test']],
      ['127.0.0.83:47311', false, ['mixed.test']],
      ['127.0.0.82:47311', true, ['ipdefault.test', 'platinum.test']],
      ['127.0.0.81:47311', false, ['lead.test']],
      ['*:47311', true, ['catchall.test', 'gold.test', 'silver.test', 'mixed.test']],
      ['*:47312', true, ['default2.test', 'gold.test']],
    ],
  );
  const gold = d.chains[5].vhosts[1];
  t.deepEqual(gold, { name: 'gold.test', aliases: ['www.gold.test', '*.gold.test'], namesListed: true, file: '/srv/mixed/sites/10-names.conf', line: 7 });
  t.false(d.chains[2].vhosts[0].namesListed); // alone on 127.0.0.83: its alias www.mixed.test is not printed there
});

test('-S with IPv6, any port, a made-up name and a ? wildcard', (t) => {
  const d = parseDumpVhosts(captured('apache-2.4.71-ipv6-anyport.txt'));
  t.deepEqual(d.unknown, []);
  t.deepEqual(d.chains[0], {
    address: '[::1]:47180', ip: '::1', port: 47180, nameBased: false,
    vhosts: [{ name: 'ip2.test', aliases: [], namesListed: false, file: '/srv/try/sites/a.conf', line: 17 }],
  });
  t.deepEqual(d.chains[1].port, '*');
  t.is(d.chains[1].vhosts[0].name, 'bogus_host_without_reverse_dns');
  const wild = d.chains.find((c) => c.address === '*:47180')!;
  t.deepEqual(wild.vhosts[0].aliases, ['www.first.test', '*.first.test', 'f?.test']);
  t.is(wild.vhosts.at(-1)?.name, 'dflt.test'); // _default_:47180 joins *:47180, last
});

test('-S of Debian\'s stock config: one *:80 vhost, nothing else is taken for a vhost', (t) => {
  const d = parseDumpVhosts(captured('apache-2.4.71-debian-stock.txt'));
  t.deepEqual(d.unknown, []);
  t.is(d.chains.length, 1);
  t.is(d.serverRoot, '/etc/apache2');
  // Its block has no ServerName: Apache's "127.0.0.1" is made up, so no vhost comes of it.
  const plan = planImport(d, { readBlock: blocks(['000-default.conf:1']) });
  t.deepEqual(plan.vhosts, []);
  t.is(plan.defaultSources[0].chain, '*:80');
});

test('the plan of the mixed site: split, merged, shadowed, hostless defaults', (t) => {
  const plan = planImport(parseDumpVhosts(captured('apache-2.4.71-mixed.txt')), { readBlock: blocks() });
  const by = new Map(plan.vhosts.map((v) => [v.name, v]));
  t.deepEqual([...by.keys()], [
    'gold.test', 'silver.test', 'lead.test', 'ipdefault.test', 'platinum.test', 'mixed.test', 'mixed.test-by-address', 'anyport.test', 'p2only.test',
  ]);
  t.deepEqual(by.get('gold.test')?.sources.map((s) => s.chain), ['*:47311', '*:47312']); // one site on two ports
  t.deepEqual(by.get('silver.test')?.hosts, ['silver.test', 'silver.example']);
  t.regex(by.get('silver.test')!.notes.join(), /shop\.gold\.test is taken first by \*\.gold\.test/);
  t.deepEqual(by.get('ipdefault.test'), { ...by.get('ipdefault.test')!, hosts: [], addresses: ['127.0.0.82:47311'] });
  t.deepEqual([by.get('platinum.test')?.hosts, by.get('platinum.test')?.addresses], [['platinum.test', '*.platinum.test'], ['127.0.0.82:47311']]);
  t.deepEqual([by.get('mixed.test')?.hosts, by.get('mixed.test')?.addresses], [['mixed.test', 'www.mixed.test'], []]);
  t.deepEqual([by.get('mixed.test-by-address')?.hosts, by.get('mixed.test-by-address')?.addresses], [[], ['127.0.0.83:47311']]);
  t.deepEqual(by.get('anyport.test')?.addresses, ['127.0.0.84']);
  t.deepEqual(plan.defaultSources.map((s) => [s.chain, s.serverName]), [['*:47311', 'catchall.test'], ['*:47312', 'default2.test']]);
  t.regex(plan.notes.join('\n'), /several ports \(47311, 47312\)/);
});

test('the rendered config passes the loader and classifies as Apache would', (t) => {
  const plan = planImport(parseDumpVhosts(captured('apache-2.4.71-ipv6-anyport.txt')), { readBlock: blocks(['a.conf:21']) });
  const text = renderConfig(plan, { command: 'apache2ctl -S' });
  const cfg = parseConfig(text, 'rendered');
  const classify = createClassifier(cfg);
  const at = (ip: string, port: number, host?: string) =>
    classify({ local: { ip, port }, firstBytes: Buffer.from(host ? `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n` : 'GET / HTTP/1.0\r\n\r\n') }).vhost;
  t.is(at('127.0.0.72', 47180, 'ip2.test'), 'ip2.test-by-name');
  t.is(at('127.0.0.72', 47180, 'other.test'), 'ip.test');
  t.is(at('127.0.0.71', 47181), 'ip.test');
  t.is(at('::1', 47180, 'second.test'), 'ip2.test');
  t.is(at('127.0.0.73', 9999), 'vhost-a.conf-21');
  t.is(at('127.0.0.1', 47180, 'c.b.test'), 'second.test');
  t.is(at('127.0.0.1', 47180, 'dflt.test'), 'dflt.test');
  t.is(at('127.0.0.1', 47180, 'www.first.test'), null); // first.test is *:47180's default: _default
  t.is(at('127.0.0.1', 47180, 'nobody.test'), null);
  t.regex(text, /first\.test \(\/srv\/try\/sites\/a\.conf:1\), its default/);
  t.regex(text, /PLACEHOLDER/);
});

function dump(chains: [string, [string, string[]][]][]): VhostDump {
  return {
    unknown: [],
    chains: chains.map(([address, vhosts], c) => ({
      address,
      ...parseChainAddress(address)!,
      nameBased: vhosts.length > 1,
      vhosts: vhosts.map(([name, aliases], i) => ({ name, aliases, namesListed: vhosts.length > 1, file: `/etc/site${c}.conf`, line: 1 + 10 * i })),
    })),
  };
}

test('a ? or mid-name wildcard cannot be expressed: left out, with a note', (t) => {
  const plan = planImport(dump([['*:80', [['default.test', []], ['a.test', ['w?.a.test', 'www.*.test', '*.a.test']]]]]), { readBlock: blocks() });
  t.deepEqual(plan.vhosts[0].hosts, ['a.test', '*.a.test']);
  t.is(plan.vhosts[0].notes.filter((n) => /cannot be expressed/.test(n)).length, 2);
  t.true(apacheWildcardMatches('w?.a.test', 'WX.a.test'));
  t.false(apacheWildcardMatches('*.a.test', 'a.test'));
  t.true(apacheWildcardMatches('*.a.test', 'x.y.a.test'));
});

test('a name on two addresses by different sites: the first keeps it, the second gets a note', (t) => {
  const plan = planImport(
    dump([
      ['127.0.0.2:80', [['two.test', []], ['shared.test', []]]],
      ['127.0.0.3:80', [['three.test', []], ['other.test', ['shared.test']]]],
    ]),
    { readBlock: blocks() },
  );
  const other = plan.vhosts.find((v) => v.name === 'other.test')!;
  t.deepEqual(other.hosts, ['other.test']);
  t.regex(other.notes.join(), /shared\.test: left out, already listed by shared\.test/);
  t.notThrows(() => parseConfig(renderConfig(plan, { command: 'x' })));
});

test('a vhost whose names all come after an earlier wildcard is never chosen there: not imported, with a note', (t) => {
  const plan = planImport(dump([['*:80', [['default.test', ['*.test']], ['late.test', []]]]]), { readBlock: blocks() });
  t.regex(plan.notes.join(), /late\.test.*never chosen by Apache there/);
  // Then only the default is left: listed by its names, so the config has a vhost.
  t.deepEqual(plan.vhosts.map((v) => [v.name, v.hosts]), [['default.test', ['default.test', '*.test']]]);
});

test('the same site by address on one IP and by name on another: one vhost each, names told apart', (t) => {
  const plan = planImport(
    dump([
      ['127.0.0.2:80', [['both.test', ['www.both.test']]]],
      ['127.0.0.3:80', [['three.test', []], ['both.test', ['www.both.test']]]],
    ]),
    { readBlock: blocks() },
  );
  t.deepEqual(plan.vhosts.map((v) => [v.name, v.hosts, v.addresses]), [
    ['both.test', [], ['127.0.0.2:80']],
    ['three.test', [], ['127.0.0.3:80']],
    ['both.test-by-name', ['both.test', 'www.both.test'], ['127.0.0.3:80']],
  ]);
});

test('a single *:PORT vhost with a ServerName becomes a vhost by its names', (t) => {
  const plan = planImport(dump([['*:80', [['only.test', ['www.only.test']]]]]), { readBlock: () => ({ serverName: 'only.test', aliases: ['www.only.test'] }) });
  t.deepEqual(plan.vhosts.map((v) => [v.name, v.hosts]), [['only.test', ['only.test', 'www.only.test']]]);
  t.notThrows(() => parseConfig(renderConfig(plan, { command: 'x' })));
});

test('vhost blocks: ServerName and aliases of the block itself, quoted words, continuation lines', (t) => {
  const text = [
    '# comment',
    '<VirtualHost *:80 127.0.0.2:80>',
    '    ServerName  gold.test:80',
    '    ServerAlias www.gold.test "*.gold.test" \\',
    '        extra.gold.test',
    '    <If "true">',
    '        ServerAlias not-mine.test',
    '    </If>',
    '    # ServerAlias commented.test',
    '</VirtualHost>',
    'ServerAlias after.test',
  ].join('\n');
  t.deepEqual(parseVhostBlock(text, 2), { serverName: 'gold.test:80', aliases: ['www.gold.test', '*.gold.test', 'extra.gold.test'] });
  t.is(parseVhostBlock(text, 3), null);
  t.deepEqual(parseVhostBlock('<VirtualHost *:80>\nDocumentRoot /x\n</VirtualHost>\n', 1), { aliases: [] });
});

test('the command: --apachectl as given, else apache2ctl / apachectl, else the binary with envvars sourced', (t) => {
  const only = (names: string[]) => (n: string) => (names.includes(n) ? `/usr/sbin/${n}` : null);
  t.deepEqual(dumpCommand({ apachectl: '/opt/httpd/bin/apachectl -d /opt/httpd', config: '/etc/x.conf', which: only([]) }).argv, [
    '/opt/httpd/bin/apachectl', '-d', '/opt/httpd', '-f', '/etc/x.conf', '-S',
  ]);
  t.deepEqual(dumpCommand({ which: only(['apache2ctl', 'apache2']), exists: () => false }).argv, ['/usr/sbin/apache2ctl', '-S']);
  t.deepEqual(dumpCommand({ which: only(['apachectl', 'httpd']), config: '/etc/httpd/conf/httpd.conf', exists: () => false }).argv, [
    '/usr/sbin/apachectl', '-f', '/etc/httpd/conf/httpd.conf', '-S',
  ]);
  // Debian multi-instance: apache2ctl reads $APACHE_CONFDIR/envvars.
  const multi = dumpCommand({ which: only(['apache2ctl']), config: '/etc/apache2-two/apache2.conf', env: {}, exists: (f) => f === '/etc/apache2-two/envvars' });
  t.is(multi.env.APACHE_CONFDIR, '/etc/apache2-two');
  const bare = dumpCommand({ which: only(['apache2']), config: '/etc/apache2/apache2.conf', env: {}, exists: (f) => f === '/etc/apache2/envvars' });
  t.deepEqual(bare.argv, ['/bin/sh', '-c', '. "$0" && exec "$@"', '/etc/apache2/envvars', '/usr/sbin/apache2', '-f', '/etc/apache2/apache2.conf', '-S']);
  const set = dumpCommand({ which: only(['apache2']), env: { APACHE_RUN_DIR: '/run/apache2' }, exists: () => true });
  t.deepEqual(set.argv, ['/usr/sbin/apache2', '-S']);
  const e = t.throws(() => dumpCommand({ which: only([]) }), { instanceOf: ImportError });
  t.regex(e!.message, /no Apache found: none of apache2ctl, apachectl, apache2, httpd.*--apachectl/);
});

test('name-based vhosts on a port vhqos reads by address by default (2525) get a listeners rule', (t) => {
  const plan = planImport(dump([['*:2525', [['a.test', []], ['b.test', []]]], ['127.0.0.2:25', [['mx.test', []]]]]), { readBlock: blocks() });
  t.deepEqual(plan.nameListenerPorts, [2525]);
  const cfg = parseConfig(renderConfig(plan, { command: 'x' }));
  t.true(cfg.options.listeners.some((l) => l.port === 2525 && l.ip === undefined && l.mode === 'name'));
});

test('vhost names: the ServerName when it makes a valid cgroup name, else the file and line', (t) => {
  const long = `${'a'.repeat(60)}.example.test`;
  const plan = planImport(dump([['*:80', [['default.test', []], ['-dash.test', []], [long, []]]]]), { readBlock: blocks() });
  t.deepEqual(plan.vhosts.map((v) => v.name), ['vhost-site0.conf-11', 'a'.repeat(60) + '.exa']);
  t.notThrows(() => parseConfig(renderConfig(plan, { command: 'x' })));
});

test('running the dump: Apache\'s message on failure (with a hint for Debian\'s envvars), stderr output of old versions, no dump', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-rundump-'));
  const script = (name: string, body: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return f;
  };
  try {
    const envvars = script('envvars', 'echo \'AH00111: Config variable ${APACHE_RUN_DIR} is not defined\' >&2; echo \'apache2: Syntax error on line 80\' >&2; exit 1');
    const e = t.throws(() => runDump(dumpCommand({ apachectl: envvars })), { instanceOf: ImportError });
    t.regex(e!.message, /failed \(exit status 1\):\n.*APACHE_RUN_DIR[^]*Syntax error on line 80[^]*envvars/);
    const old = script('old', 'echo "VirtualHost configuration:" >&2; echo "*:80 a.test (/x.conf:1)" >&2');
    t.regex(runDump(dumpCommand({ apachectl: old })), /a\.test/);
    const none = script('none', 'echo hello');
    t.throws(() => runDump(dumpCommand({ apachectl: none })), { message: /printed no "VirtualHost configuration:" section:\nhello/ });
    t.throws(() => runDump(dumpCommand({ apachectl: path.join(dir, 'missing') })), { message: /missing: not found/ });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
