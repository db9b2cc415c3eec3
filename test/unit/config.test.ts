import test from 'ava';
import Ajv2020 from 'ajv/dist/2020';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  ConfigError,
  DEFAULT_OPTIONS,
  configSchemaPath,
  describeConfig,
  loadConfig,
  parseConfig,
} from '../../src/config/load';
import { formatPercent, formatSize, parsePercent, parseSize } from '../../src/config/units';
import type { VhqosConfig } from '../../src/types';

const fixtures = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'configs');
const fixture = (name: string) => path.join(fixtures, name);

/** The problems of a config that must fail. */
function problems(text: string): string[] {
  const e = (() => {
    try {
      parseConfig(text, 'test.yaml');
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  if (!(e instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(e)}`);
  return e.problems;
}

const FULL: VhqosConfig = {
  vhosts: [
    {
      name: 'gold',
      hosts: ['gold.test', '*.gold.test'],
      addresses: [{ ip: '127.0.0.2' }, { ip: '127.0.0.2', port: 8080 }, { ip: '::1', port: 8443 }, { ip: '::1' }],
      resources: {
        cpu: { weight: 400, max: 1.5 },
        memory: { max: 512 * 2 ** 20, high: 400 * 2 ** 20, low: 64 * 2 ** 20 },
        io: { weight: 200 },
        pids: { max: 256 },
      },
    },
    { name: 'bronze', hosts: ['bronze.test'], addresses: [], resources: { cpu: { weight: 100, max: 0.5 } } },
  ],
  default: { cpu: { weight: 100 } },
  options: { ...DEFAULT_OPTIONS },
};

test('the documented example loads and is normalised', (t) => {
  t.deepEqual(loadConfig(fixture('full.yaml')), FULL);
});

test('JSON content is picked by content, not extension', (t) => {
  t.deepEqual(loadConfig(fixture('full-as-json.yaml')), FULL);
  t.deepEqual(parseConfig(JSON.stringify({ vhosts: { a: { hosts: ['a.test'] } } })).vhosts[0].hosts, ['a.test']);
});

test('minimal config: options get their defaults, default group is empty', (t) => {
  t.deepEqual(loadConfig(fixture('minimal.yaml')), {
    vhosts: [{ name: 'site1', hosts: [], addresses: [{ ip: '10.0.0.1' }], resources: {} }],
    default: {},
    options: DEFAULT_OPTIONS,
  });
  const { listeners, ...scalars } = DEFAULT_OPTIONS;
  t.deepEqual(scalars, {
    classifyAt: 'accept',
    classifyEach: 'connection',
    defaultListenerMode: 'name',
    maxHeldConnections: 512,
    firstByteTimeoutMs: 3000,
    peekBytes: 65536,
    verdictTimeoutMs: 2000,
  });
  t.deepEqual(
    listeners.map((l) => l.port),
    [21, 22, 23, 25, 110, 143, 587, 2525, 3306, 4190, 5900],
  );
  t.true(listeners.every((l) => l.mode === 'address' && l.ip === undefined));
  const partial = parseConfig('vhosts: {a: {hosts: [a.test]}}\noptions: {peekBytes: 64}\n');
  t.deepEqual(partial.options, { ...DEFAULT_OPTIONS, peekBytes: 64 });
});

test('anchors and merge keys; "max" leaves a setting out; host names normalised', (t) => {
  const c = loadConfig(fixture('anchors.yaml'));
  t.deepEqual(c.vhosts, [
    {
      name: 'one.example',
      hosts: ['one.example', '*.one.example'],
      addresses: [],
      resources: { cpu: { weight: 50 }, memory: { high: 1.5 * 2 ** 30 } },
    },
    {
      name: 'two_example',
      hosts: ['two.example'],
      addresses: [],
      resources: { cpu: { weight: 50 }, memory: { high: 1.5 * 2 ** 30 }, io: { weight: 10000 } },
    },
  ]);
});

test('addresses are normalised: IPv4-mapped to IPv4, IPv6 compressed', (t) => {
  const c = parseConfig('vhosts:\n  a:\n    addresses: ["::FFFF:10.1.2.3", "[2001:DB8:0:0:0::1]:443", "0:0:0:0:0:0:0:2"]\n');
  t.deepEqual(c.vhosts[0].addresses, [{ ip: '10.1.2.3' }, { ip: '2001:db8::1', port: 443 }, { ip: '::2' }]);
});

test('cpu.max: "150%", 150, fractions, "max"', (t) => {
  const cpu = (v: string) => parseConfig(`vhosts: {a: {hosts: [a.test], cpu: {max: ${v}}}}`).vhosts[0].resources.cpu;
  t.deepEqual(cpu('150%'), { max: 1.5 });
  t.deepEqual(cpu('150'), { max: 1.5 });
  t.deepEqual(cpu('"12.5%"'), { max: 0.125 });
  t.deepEqual(cpu('1'), { max: 0.01 });
  t.is(cpu('max'), undefined);
});

test('units: sizes and percentages', (t) => {
  t.is(parseSize(0), 0);
  t.is(parseSize(4096), 4096);
  t.is(parseSize('4096'), 4096);
  t.is(parseSize('1k'), 1024);
  t.is(parseSize('1K'), 1024);
  t.is(parseSize('512M'), 512 * 2 ** 20);
  t.is(parseSize('1.5G'), 1.5 * 2 ** 30);
  t.is(parseSize('2T'), 2 * 2 ** 40);
  t.is(parseSize('1.0000001K'), 1024);
  t.is(parseSize('max'), undefined);
  for (const bad of ['', 'M', '1MB', '1 M', '-1', '1e3', '0x10', 'MAX', '99999999999T']) t.is(parseSize(bad), null, bad);
  t.is(parseSize(1.5), null);
  t.is(parseSize(-1), null);
  t.is(parseSize(2 ** 60), null);
  t.is(formatSize(512 * 2 ** 20), '512M');
  t.is(formatSize(1536 * 2 ** 20), '1536M');
  t.is(formatSize(2 ** 40), '1T');
  t.is(formatSize(1000), '1000');
  t.is(formatSize(0), '0');
  t.is(parsePercent('150%'), 1.5);
  t.is(parsePercent(50), 0.5);
  t.is(parsePercent('max'), undefined);
  t.is(parsePercent('150'), null);
  t.is(parsePercent('%'), null);
  t.is(formatPercent(1.5), '150%');
  t.is(formatPercent(0.125), '12.5%');
});

test('schema errors: every problem at once, path then human words', (t) => {
  t.deepEqual(problems(readFileSync(fixture('bad-schema.yaml'), 'utf8')), [
    'extra: unknown key',
    'vhosts: "_server" is not a valid vhost name (letters, digits, "_", "." and "-", starting with a letter or digit, at most 64 characters; "_" names are reserved)',
    'vhosts.gold.colour: unknown key',
    'vhosts.gold.hosts: must be a list',
    'vhosts.gold.cpu.weight: must be <= 10000',
    'vhosts.gold.cpu.max: "fast" is not a CPU limit: use a percentage of one CPU such as "150%" or 150, or "max"',
    'vhosts.gold.memory.max: "12X" is not a size: use bytes, a number with K, M, G or T (powers of 1024), or "max"',
    'vhosts.gold.memory.high: true is not a size: use bytes, a number with K, M, G or T (powers of 1024), or "max"',
    'vhosts.gold.memory.low: must be >= 0',
    'vhosts.gold.io.weight: must be >= 1',
    'vhosts.gold.pids.min: unknown key',
    'vhosts.gold.pids.max: must be >= 1',
    'vhosts.silver: must be a mapping (key: value)',
    'default.net: unknown key',
    'default.cpu.weight: must be a whole number',
    'options.other: unknown key',
    'options.peekBytes: must be >= 64',
    'options.verdictTimeoutMs: must be a whole number',
  ]);
});

test('semantic errors: host names, addresses, duplicates, limits', (t) => {
  t.deepEqual(problems(readFileSync(fixture('bad-semantic.yaml'), 'utf8')), [
    'vhosts.gold.hosts[1]: "bad host" is not a host name (letters, digits, "-" and ".", optionally starting with "*.")',
    'vhosts.gold.hosts[3]: "a.*.test" is not a host name (letters, digits, "-" and ".", optionally starting with "*.")',
    'vhosts.gold.addresses[0]: "1.2.3" is not an IP address',
    'vhosts.gold.addresses[2]: "[::1]:0": port must be 1..65535',
    'vhosts.gold.addresses[3]: "0.0.0.0": an unspecified address never matches (a connection\'s local address is a real one)',
    'vhosts.gold.cpu.max: must be >= 1%',
    'vhosts.gold.memory.max: "99999999999T" is too large',
    'vhosts.silver.hosts[0]: "GOLD.test." is already claimed by vhosts.gold.hosts[0]',
    'vhosts.silver.hosts[1]: "*.Gold.Test" is already claimed by vhosts.gold.hosts[2]',
    'vhosts.copper.addresses[0]: "::1:80" looks like an IPv6 address with a port: write "[::1]:80" (or "[::1:80]" for the address itself)',
    'vhosts.empty: needs at least one of hosts or addresses',
  ]);
});

test('ConfigError: message is the source, then the problems one per line', (t) => {
  const e = t.throws(() => loadConfig(fixture('bad-semantic.yaml')), { instanceOf: ConfigError }) as ConfigError;
  t.is(e.name, 'ConfigError');
  t.is(e.source, fixture('bad-semantic.yaml'));
  t.true(e instanceof Error);
  t.is(e.message, `${fixture('bad-semantic.yaml')}: ${e.problems.join('\n')}`);
  t.is(e.problems.length, 11);
  const d = t.throws(() => parseConfig('vhosts: 1'), { instanceOf: ConfigError }) as ConfigError;
  t.is(d.message, '<config>: vhosts: must be a mapping (key: value)');
});

test('YAML syntax errors carry line and column', (t) => {
  t.deepEqual(problems(readFileSync(fixture('bad-syntax.yaml'), 'utf8')), [
    'line 4, column 5: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
  t.deepEqual(problems(readFileSync(fixture('bad-duplicate-key.yaml'), 'utf8')), ['line 4, column 3: Map keys must be unique ("gold" is given twice)']);
  // In a nested mapping, and in flow style.
  t.deepEqual(problems('vhosts:\n  gold:\n    hosts: [a.test]\n    cpu: { weight: 10, weight: 20 }\n'), ['line 4, column 24: Map keys must be unique ("weight" is given twice)']);
  t.deepEqual(problems('a: 1\n---\nb: 2\n'), ['line 2, column 1: Source contains multiple documents; please use YAML.parseAllDocuments()']);
  t.regex(problems('vhosts: {a: [1, 2}\n')[0], /^line 1, column \d+: /);
});

test('an unquoted wildcard host (a YAML alias) gets a hint with its position', (t) => {
  t.deepEqual(problems(readFileSync(fixture('bad-alias.yaml'), 'utf8')), [
    'line 3, column 24: unknown alias "*.gold.test" (quote values that start with "*", e.g. "*.example.com")',
  ]);
});

test('top level: empty, not a mapping, no vhosts, unknown keys', (t) => {
  t.deepEqual(problems(''), ['the config is empty: it needs at least a "vhosts" mapping']);
  t.deepEqual(problems('# just a comment\n'), ['the config is empty: it needs at least a "vhosts" mapping']);
  t.deepEqual(problems('[]'), ['(top level): must be a mapping (key: value)']);
  t.deepEqual(problems('hello'), ['(top level): must be a mapping (key: value)']);
  t.deepEqual(problems('vhosts: {}'), ['vhosts: must have at least 1 vhost']);
  t.deepEqual(problems('default: {}'), ['vhosts: is required']);
  t.deepEqual(problems('vhosts: {a: {hosts: [a.test]}}\nVhosts: {}'), ['Vhosts: unknown key (did you mean "vhosts"?)']);
});

test('unknown keys are refused at every level', (t) => {
  const at = (yaml: string) => problems(`vhosts: {a: {hosts: [a.test]${yaml}}}`);
  t.deepEqual(at(', hostz: []'), ['vhosts.a.hostz: unknown key (did you mean "hosts"?)']);
  t.deepEqual(at(', cpu: {shares: 1}'), ['vhosts.a.cpu.shares: unknown key']);
  t.deepEqual(at(', memory: {swap: 1}'), ['vhosts.a.memory.swap: unknown key']);
  t.deepEqual(at(', io: {max: 1}'), ['vhosts.a.io.max: unknown key']);
  t.deepEqual(at(', pids: {limit: 1}'), ['vhosts.a.pids.limit: unknown key']);
  t.deepEqual(problems('vhosts: {a: {hosts: [a.test]}}\noptions: {peek: 1}'), ['options.peek: unknown key']);
  t.deepEqual(problems('vhosts: {a: {hosts: [a.test]}}\ndefault: {hosts: [x.test]}'), ['default.hosts: unknown key']);
});

test('vhost names must be safe cgroup directory names', (t) => {
  const name = (n: string) => `vhosts: {${JSON.stringify(n)}: {hosts: [x.test]}}`;
  for (const good of ['a', 'A9', 'gold.test', 'a_b-c.d', '9', 'x'.repeat(64)]) {
    t.is(parseConfig(name(good)).vhosts[0].name, good);
  }
  for (const bad of ['_default', '_server', '_x', '-a', '.a', '..', 'a/b', 'a b', '', 'x'.repeat(65), 'é', 'a\nb']) {
    t.deepEqual(problems(name(bad)), [
      `vhosts: ${JSON.stringify(bad)} is not a valid vhost name (letters, digits, "_", "." and "-", starting with a letter or digit, at most 64 characters; "_" names are reserved)`,
    ]);
  }
});

test('paths quote keys that are not identifier-like and index lists', (t) => {
  t.deepEqual(problems('vhosts: {gold.test: {hosts: [a.test, 7], cpu: {weight: 0}}}'), [
    'vhosts["gold.test"].hosts[1]: must be a string',
    'vhosts["gold.test"].cpu.weight: must be >= 1',
  ]);
});

test('host names and duplicates', (t) => {
  const hosts = (list: string) => parseConfig(`vhosts: {a: {hosts: ${list}}}`).vhosts[0].hosts;
  t.deepEqual(hosts('[A.Test., "*.B.test", xn--bcher-kva.test, 1.2.3.4, a-b.c]'), ['a.test', '*.b.test', 'xn--bcher-kva.test', '1.2.3.4', 'a-b.c']);
  for (const bad of ['*', '*.', '**.a', 'a..b', '.a', 'a_b.test', 'a b', 'a:80', `${'x'.repeat(64)}.test`, `${'a.'.repeat(127)}ab`]) {
    t.is(problems(`vhosts: {a: {hosts: [${JSON.stringify(bad)}]}}`).length, 1, bad);
  }
  t.deepEqual(problems('vhosts: {a: {hosts: [a.test, A.TEST]}}'), ['vhosts.a.hosts[1]: "A.TEST" is already claimed by vhosts.a.hosts[0]']);
  // The same name as exact and wildcard is two different claims.
  t.is(parseConfig('vhosts: {a: {hosts: [a.test]}, b: {hosts: ["*.a.test"]}}').vhosts.length, 2);
});

const SHARE = '(vhosts without host names cannot share an address: no name would tell them apart)';

test('address duplicates compare normalised forms; ports make different claims', (t) => {
  t.deepEqual(problems('vhosts: {a: {addresses: ["[::1]:80"]}, b: {addresses: ["[0:0::1]:80"]}}'), [
    `vhosts.b.addresses[0]: "[0:0::1]:80" is already claimed by vhosts.a.addresses[0] ${SHARE}`,
  ]);
  t.deepEqual(problems('vhosts: {a: {addresses: ["10.0.0.1:80"]}, b: {addresses: ["[::ffff:10.0.0.1]:80"]}}'), [
    `vhosts.b.addresses[0]: "[::ffff:10.0.0.1]:80" is already claimed by vhosts.a.addresses[0] ${SHARE}`,
  ]);
  t.deepEqual(problems('vhosts: {a: {hosts: [a.test], addresses: ["10.0.0.1", "10.0.0.1"]}}'), [
    'vhosts.a.addresses[1]: "10.0.0.1" is already claimed by vhosts.a.addresses[0]',
  ]);
  const ok = parseConfig('vhosts: {a: {addresses: ["10.0.0.1"]}, b: {addresses: ["10.0.0.1:80"]}, c: {addresses: ["10.0.0.1:81"]}}');
  t.is(ok.vhosts.length, 3);
});

test('vhosts with host names share an address (name-based on one IP), with at most one without names', (t) => {
  const shared = parseConfig('vhosts: {a: {hosts: [a.test], addresses: ["10.0.0.1"]}, b: {hosts: [b.test], addresses: ["10.0.0.1"]}, c: {addresses: ["10.0.0.1"]}}');
  t.deepEqual(shared.vhosts.map((v) => v.addresses), [[{ ip: '10.0.0.1' }], [{ ip: '10.0.0.1' }], [{ ip: '10.0.0.1' }]]);
  t.deepEqual(problems('vhosts: {a: {hosts: [a.test], addresses: ["10.0.0.1"]}, b: {addresses: ["10.0.0.1"]}, c: {addresses: ["10.0.0.1"]}}'), [
    `vhosts.c.addresses[0]: "10.0.0.1" is already claimed by vhosts.b.addresses[0] ${SHARE}`,
  ]);
});

test('numeric limits', (t) => {
  const cpu = (v: string) => problems(`vhosts: {a: {hosts: [a.test], cpu: ${v}}}`);
  t.deepEqual(cpu('{weight: 10001}'), ['vhosts.a.cpu.weight: must be <= 10000']);
  t.deepEqual(cpu('{weight: 0}'), ['vhosts.a.cpu.weight: must be >= 1']);
  t.deepEqual(cpu('{weight: "100"}'), ['vhosts.a.cpu.weight: must be a whole number']);
  t.deepEqual(cpu('{max: 0}'), ['vhosts.a.cpu.max: must be >= 1']);
  t.deepEqual(cpu('{max: 1000001}'), ['vhosts.a.cpu.max: must be <= 1000000']);
  t.deepEqual(cpu('{max: .inf}'), ['vhosts.a.cpu.max: Infinity is not a CPU limit: use a percentage of one CPU such as "150%" or 150, or "max"']);
  t.deepEqual(cpu('{max: "0%"}'), ['vhosts.a.cpu.max: must be >= 1%']);
  t.deepEqual(cpu('{max: [1]}'), ['vhosts.a.cpu.max: [1] is not a CPU limit: use a percentage of one CPU such as "150%" or 150, or "max"']);
  const mem = (v: string) => problems(`vhosts: {a: {hosts: [a.test], memory: {max: ${v}}}}`);
  t.deepEqual(mem('1.5'), ['vhosts.a.memory.max: 1.5 is not a size: use bytes, a number with K, M, G or T (powers of 1024), or "max"']);
  t.deepEqual(mem('1e300'), ['vhosts.a.memory.max: 1e+300 is too large']);
  t.deepEqual(mem('9007199254740992'), ['vhosts.a.memory.max: 9007199254740992 is too large']);
  t.deepEqual(mem('512MB'), ['vhosts.a.memory.max: "512MB" is not a size: use bytes, a number with K, M, G or T (powers of 1024), or "max"']);
  const pids = (v: string) => problems(`vhosts: {a: {hosts: [a.test], pids: {max: ${v}}}}`);
  t.deepEqual(pids('unlimited'), ['vhosts.a.pids.max: must be a whole number >= 1 or "max"']);
  t.deepEqual(pids('4194305'), ['vhosts.a.pids.max: must be <= 4194304']);
  t.deepEqual(pids('1.5'), ['vhosts.a.pids.max: must be a whole number >= 1 or "max"']);
  const opt = (v: string) => problems(`vhosts: {a: {hosts: [a.test]}}\noptions: ${v}`);
  t.deepEqual(opt('{peekBytes: 65537}'), ['options.peekBytes: must be <= 65536']);
  t.deepEqual(opt('{firstByteTimeoutMs: -1}'), ['options.firstByteTimeoutMs: must be >= 0']);
  t.deepEqual(opt('{verdictTimeoutMs: 0}'), ['options.verdictTimeoutMs: must be >= 1']);
  t.deepEqual(opt('[]'), ['options: must be a mapping (key: value)']);
});

test('loadConfig: unreadable file is a ConfigError too', (t) => {
  const missing = path.join(fixtures, 'does-not-exist.yaml');
  const e = t.throws(() => loadConfig(missing), { instanceOf: ConfigError }) as ConfigError;
  t.is(e.problems.length, 1);
  t.regex(e.message, /^.*does-not-exist\.yaml: cannot read: ENOENT/);
  t.throws(() => loadConfig(fixtures), { instanceOf: ConfigError, message: /cannot read: EISDIR/ });
});

test('describeConfig: one line per vhost, then _default and options', (t) => {
  t.is(
    describeConfig(FULL),
    [
      'gold: hosts gold.test, *.gold.test; addresses 127.0.0.2, 127.0.0.2:8080, [::1]:8443, ::1; cpu weight 400, max 150%; memory max 512M, high 400M, low 64M; io weight 200; pids max 256',
      'bronze: hosts bronze.test; cpu weight 100, max 50%',
      '_default: cpu weight 100',
      'options: classify at accept, peek 65536 bytes, first byte within 3000 ms, verdict within 2000 ms',
    ].join('\n'),
  );
  t.is(describeConfig(loadConfig(fixture('minimal.yaml'))).split('\n')[0], 'site1: addresses 10.0.0.1; no limits');
});

test('schema.json: shipped beside the code, strict-valid 2020-12, documented, closed', (t) => {
  t.true(path.isAbsolute(configSchemaPath));
  t.true(existsSync(configSchemaPath));
  t.is(path.dirname(configSchemaPath), path.dirname(require.resolve('../../src/config/load')));
  const schema = JSON.parse(readFileSync(configSchemaPath, 'utf8'));
  t.is(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.notThrows(() => new Ajv2020({ strict: true, allowUnionTypes: true }).compile(schema));
  // Every object schema is closed (the vhosts and listeners maps are closed by
  // their value schemas and propertyNames) and every property is documented.
  const undocumented: string[] = [];
  const open: string[] = [];
  const walk = (s: Record<string, unknown>, where: string) => {
    if (s.type === 'object' && s.additionalProperties !== false && !['properties.vhosts', 'properties.listeners'].includes(where)) open.push(where);
    for (const [k, v] of Object.entries((s.properties as Record<string, Record<string, unknown>>) ?? {})) {
      if (typeof v.description !== 'string') undocumented.push(`${where}.${k}`);
      walk(v, `properties.${k}`);
    }
  };
  walk(schema, '');
  for (const [k, v] of Object.entries(schema.$defs as Record<string, Record<string, unknown>>)) {
    if (typeof v.description !== 'string') undocumented.push(`$defs.${k}`);
    walk(v, `$defs.${k}`);
  }
  t.deepEqual(undocumented, []);
  t.deepEqual(open, []);
  // The schema's documented defaults are the loader's.
  const o = schema.properties.options.properties;
  t.deepEqual(
    {
      classifyAt: o.classifyAt.default,
      classifyEach: o.classifyEach.default,
      maxHeldConnections: o.maxHeldConnections.default,
      firstByteTimeoutMs: o.firstByteTimeoutMs.default,
      peekBytes: o.peekBytes.default,
      verdictTimeoutMs: o.verdictTimeoutMs.default,
    },
    {
      classifyAt: DEFAULT_OPTIONS.classifyAt,
      classifyEach: DEFAULT_OPTIONS.classifyEach,
      maxHeldConnections: DEFAULT_OPTIONS.maxHeldConnections,
      firstByteTimeoutMs: DEFAULT_OPTIONS.firstByteTimeoutMs,
      peekBytes: DEFAULT_OPTIONS.peekBytes,
      verdictTimeoutMs: DEFAULT_OPTIONS.verdictTimeoutMs,
    },
  );
});

test('every fixture either loads or fails with a ConfigError, never anything else', (t) => {
  const { readdirSync } = require('node:fs') as typeof import('node:fs');
  const files = readdirSync(fixtures).filter((f) => f.endsWith('.yaml'));
  t.true(files.length >= 8);
  for (const f of files) {
    if (f.startsWith('bad-')) t.throws(() => loadConfig(fixture(f)), { instanceOf: ConfigError }, f);
    else t.notThrows(() => loadConfig(fixture(f)), f);
  }
});

test('keys the resource controllers do not have are refused (cpu.count, io.count)', (t) => {
  const err = t.throws(() => parseConfig('vhosts:\n  gold:\n    hosts: [gold.test]\n    cpu: { count: 5 }\n    io: { count: 2 }\n')) as ConfigError;
  t.true(err.problems.some((p) => p.startsWith('vhosts.gold.cpu.count')), err.problems.join('\n'));
  t.true(err.problems.some((p) => p.startsWith('vhosts.gold.io.count')), err.problems.join('\n'));
});

test('options.listeners: per-port classification rules, server-first ports by address, bad keys named', (t) => {
  const c = parseConfig(
    'vhosts: {a: {hosts: [a.test]}}\noptions: {classifyAt: read, listeners: {"2121": address, "127.0.0.2:80": name, "[::1]:25": name, "22": name, default: address}}\n',
  );
  t.is(c.options.classifyAt, 'read');
  t.is(c.options.defaultListenerMode, 'address');
  t.deepEqual(c.options.listeners.find((l) => l.port === 2121), { port: 2121, mode: 'address' });
  t.deepEqual(c.options.listeners.find((l) => l.port === 80), { ip: '127.0.0.2', port: 80, mode: 'name' });
  t.deepEqual(c.options.listeners.find((l) => l.port === 25 && l.ip === '::1'), { ip: '::1', port: 25, mode: 'name' });
  // A rule for a server-first port replaces its built-in rule; the others stay.
  t.deepEqual(c.options.listeners.filter((l) => l.port === 22), [{ port: 22, mode: 'name' }]);
  t.deepEqual(c.options.listeners.filter((l) => l.port === 21), [{ port: 21, mode: 'address' }]);
  const bad = t.throws(() => parseConfig('vhosts: {a: {hosts: [a.test]}}\noptions: {listeners: {"99999": name, "127.0.0.2": name, "80": sometimes}}\n'), {
    instanceOf: ConfigError,
  }) as ConfigError;
  t.true(bad.problems.some((p) => p.startsWith('options.listeners') && p.includes('99999') && p.includes('1..65535')), bad.message);
  t.true(bad.problems.some((p) => p.startsWith('options.listeners["127.0.0.2"]') && p.includes('needs a port')), bad.message);
  t.true(bad.problems.some((p) => p.includes('options.listeners') && p.includes('80')), bad.message);
  t.throws(() => parseConfig('vhosts: {a: {hosts: [a.test]}}\noptions: {classifyAt: sometimes}\n'), { instanceOf: ConfigError });
});

test('connections: max >= 1, reserve >= 0, queueTimeoutMs defaults to 5000 where max is set; default takes it too', (t) => {
  const c = (v: string) => problems(`vhosts: {a: {hosts: [a.test], connections: ${v}}}`);
  t.deepEqual(c('{max: 0}'), ['vhosts.a.connections.max: must be >= 1']);
  t.deepEqual(c('{reserve: -1}'), ['vhosts.a.connections.reserve: must be >= 0']);
  t.deepEqual(c('{max: 2.5}'), ['vhosts.a.connections.max: must be a whole number']);
  t.deepEqual(c('{limit: 3}'), ['vhosts.a.connections.limit: unknown key']);
  const cfg = parseConfig('vhosts:\n  a: {hosts: [a.test], connections: {max: 8}}\n  b: {hosts: [b.test], connections: {reserve: 4}}\n  c: {hosts: [c.test], connections: {max: 1, queueTimeoutMs: 0}}\ndefault: {connections: {max: 3}}\n');
  t.deepEqual(cfg.vhosts.map((v) => v.resources.connections), [{ max: 8, queueTimeoutMs: 5000 }, { reserve: 4 }, { max: 1, queueTimeoutMs: 0 }]);
  t.deepEqual(cfg.default.connections, { max: 3, queueTimeoutMs: 5000 });
  t.regex(describeConfig(cfg), /^a: .*connections max 8 \(queue 5000 ms\)$/m);
  t.regex(describeConfig(cfg), /^b: .*connections reserve 4$/m);
});

test('options.classifyEach: connection by default, request per request, anything else refused with its path', (t) => {
  t.is(parseConfig('vhosts: {a: {hosts: [a.test]}}\n').options.classifyEach, 'connection');
  t.is(parseConfig('vhosts: {a: {hosts: [a.test]}}\noptions: {classifyEach: request}\n').options.classifyEach, 'request');
  t.is(parseConfig('vhosts: {a: {hosts: [a.test]}}\noptions: {classifyAt: read, classifyEach: request}\n').options.classifyEach, 'request');
  const bad = t.throws(() => parseConfig('vhosts: {a: {hosts: [a.test]}}\noptions: {classifyEach: response}\n'), { instanceOf: ConfigError }) as ConfigError;
  t.true(bad.problems.some((p) => p.startsWith('options.classifyEach')), bad.message);
});
