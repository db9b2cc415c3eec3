// What the loader refuses beyond the schema (memory limits out of order,
// vhost names the kernel uses for cgroup files, IPv6 with a forgotten [...],
// ranges) and suggests (the key meant), and configWarnings' warnings.
import test from 'ava';
import { ConfigError, describeConfig, parseConfig } from '../../src/config/load';
import { cgroupNameClash } from '../../src/config/cgroup-names';
import { closestKey } from '../../src/config/suggest';
import { configWarnings, thisMachine } from '../../src/config/warnings';

function problems(text: string): string[] {
  try {
    parseConfig(text, 'test.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const vhost = (body: string) => `vhosts: {a: {hosts: [a.test], ${body}}}`;

test('memory.low <= memory.high <= memory.max, where set; "max" is no limit', (t) => {
  for (const ok of ['{low: 1G, high: 2G, max: 3G}', '{low: 2G, high: 2G, max: 2G}', '{low: 1G, max: 1G}', '{high: max, max: 1G}', '{low: 5G, high: max}', '{low: 1G}', '{max: 0, low: 0}']) {
    t.notThrows(() => parseConfig(vhost(`memory: ${ok}`)), ok);
  }
  t.deepEqual(problems(vhost('memory: {high: 2G, max: 1G}')), [
    'vhosts.a.memory.high: "2G" is above memory.max ("1G"), so it could never act (low <= high <= max)',
  ]);
  t.deepEqual(problems(vhost('memory: {low: 1025M, high: 1G}')), [
    'vhosts.a.memory.low: "1025M" is above memory.high ("1G"), so it could never act (low <= high <= max)',
  ]);
  t.deepEqual(problems(vhost('memory: {low: 2048, max: 1K}')), [
    'vhosts.a.memory.low: 2048 bytes is above memory.max ("1K"), so it could never act (low <= high <= max)',
  ]);
  t.deepEqual(problems(vhost('memory: {low: 3G, high: 2G, max: 1G}')), [
    'vhosts.a.memory.low: "3G" is above memory.high ("2G"), so it could never act (low <= high <= max)',
    'vhosts.a.memory.high: "2G" is above memory.max ("1G"), so it could never act (low <= high <= max)',
  ], 'low against max is not repeated');
  t.deepEqual(problems(vhost('memory: {low: 2G, high: max, max: 1G}')), [
    'vhosts.a.memory.low: "2G" is above memory.max ("1G"), so it could never act (low <= high <= max)',
  ]);
  t.deepEqual(problems('vhosts: {a: {hosts: [a.test]}}\ndefault: {memory: {high: 2G, max: 1G}}'), [
    'default.memory.high: "2G" is above memory.max ("1G"), so it could never act (low <= high <= max)',
  ]);
  // A malformed or oversized size is reported as such, not compared.
  t.deepEqual(problems(vhost('memory: {high: 99999999999T, max: 1G}')), ['vhosts.a.memory.high: "99999999999T" is too large']);
});

test('vhost names that are cgroup interface files are refused with a new name to use', (t) => {
  const name = (n: string) => problems(`vhosts: {${JSON.stringify(n)}: {hosts: [x.test]}}`);
  t.deepEqual(name('cgroup.procs'), [
    'vhosts["cgroup.procs"]: the vhost name is its cgroup\'s directory name, and names starting with "cgroup." are cgroup interface files: rename the vhost (e.g. "cgroup-procs")',
  ]);
  t.deepEqual(name('tasks'), ['vhosts.tasks: the vhost name is its cgroup\'s directory name, and "tasks" is a cgroup interface file: rename the vhost (e.g. "tasks-site")']);
  for (const bad of ['tasks', 'notify_on_release', 'release_agent', 'memory.limit_in_bytes', 'cpu.max', 'cpu.gold', 'io.weight', 'pids.x', 'blkio.weight', 'cpuset.cpus', 'hugetlb.2MB.limit_in_bytes', 'rdma.max', 'misc.max', 'cgroup.subtree_control', 'cpuacct.usage', 'net_cls.classid', 'memory.x', 'irq.pressure']) {
    t.true(cgroupNameClash(bad) !== undefined, bad);
    t.is(name(bad).length, 1, bad);
  }
  for (const good of ['gold', 'gold.test', 'cpu', 'memory', 'tasks2', 'mytasks', 'cpu-gold', 'CPU.gold', 'iot.example', 'cpux.test', 'www.memory.test']) {
    t.is(cgroupNameClash(good), undefined, good);
    t.is(parseConfig(`vhosts: {${JSON.stringify(good)}: {hosts: [x.test]}}`).vhosts[0].name, good);
  }
});

test('unknown keys get the key meant, at any level', (t) => {
  const one = (yaml: string) => problems(yaml);
  t.deepEqual(one('vhost: {a: {hosts: [a.test]}}'), ['vhosts: is required', 'vhost: unknown key (did you mean "vhosts"?)']);
  t.deepEqual(one(vhost('host: [b.test]')), ['vhosts.a.host: unknown key (did you mean "hosts"?)']);
  t.deepEqual(one(vhost('adresses: ["127.0.0.2"]')), ['vhosts.a.adresses: unknown key (did you mean "addresses"?)']);
  t.deepEqual(one(vhost('memroy: {max: 1G}')), ['vhosts.a.memroy: unknown key (did you mean "memory"?)']);
  t.deepEqual(one(vhost('cpu: {wieght: 10}')), ['vhosts.a.cpu.wieght: unknown key (did you mean "weight"?)']);
  t.deepEqual(one(vhost('io: {rpbs: 1M, device: "8:0"}')), ['vhosts.a.io.rpbs: unknown key (did you mean "rbps"?)', 'vhosts.a.io.device: no throttle (rbps, wbps, riops, wiops) to apply to it']);
  t.deepEqual(one(vhost('connections: {Max: 3}')), ['vhosts.a.connections.Max: unknown key (did you mean "max"?)']);
  t.deepEqual(one('vhosts: {a: {hosts: [a.test]}}\noptions: {classifyat: read}'), ['options.classifyat: unknown key (did you mean "classifyAt"?)']);
  t.deepEqual(one('vhosts: {a: {hosts: [a.test]}}\ndefault: {cpus: {max: 50}}'), ['default.cpus: unknown key (did you mean "cpu"?)']);
  t.deepEqual(one('vhosts: {a: {hosts: [a.test]}}\nextra: 1'), ['extra: unknown key'], 'nothing near: no guess');
  t.deepEqual(one('vhosts: {a: {hosts: [a.test]}}\ndefault: {hosts: [x.test]}'), ['default.hosts: unknown key'], 'default has no hosts to suggest');
});

test('closestKey: near typos only, case ignored', (t) => {
  const keys = ['hosts', 'addresses', 'cpu', 'memory', 'io', 'pids', 'connections'];
  t.is(closestKey('host', keys), 'hosts');
  t.is(closestKey('HOSTS', keys), 'hosts');
  t.is(closestKey('conections', keys), 'connections');
  t.is(closestKey('pid', keys), 'pids');
  t.is(closestKey('colour', keys), undefined);
  t.is(closestKey('x', keys), undefined);
  t.is(closestKey('host', []), undefined);
});

test('addresses: IPv6 with a port needs brackets; ranges load normalised and claim like addresses', (t) => {
  t.deepEqual(problems(vhost('addresses: ["::1:8080"]')), [
    'vhosts.a.addresses[0]: "::1:8080" looks like an IPv6 address with a port: write "[::1]:8080" (or "[::1:8080]" for the address itself)',
  ]);
  t.deepEqual(parseConfig(vhost('addresses: ["[::1:8080]"]')).vhosts[0].addresses, [{ ip: '::1:8080' }]);
  const cfg = parseConfig(`
vhosts:
  lan: {addresses: ["10.0.0.0/24", "[FD00::/64]:8443", "127.0.0.0/29:8080"]}
  one: {addresses: ["10.0.0.7", "10.0.0.0/25"]}
`);
  t.deepEqual(cfg.vhosts[0].addresses, [{ ip: '10.0.0.0', prefix: 24 }, { ip: 'fd00::', prefix: 64, port: 8443 }, { ip: '127.0.0.0', prefix: 29, port: 8080 }]);
  t.regex(describeConfig(cfg), /^lan: addresses 10\.0\.0\.0\/24, \[fd00::\/64\]:8443, 127\.0\.0\.0\/29:8080; no limits$/m);
  // Overlapping ranges of two vhosts without names are fine (the most specific wins); the same range twice is not.
  t.deepEqual(problems('vhosts:\n  a: {addresses: ["10.0.0.0/24"]}\n  b: {addresses: ["10.0.0.0/24"]}'), [
    'vhosts.b.addresses[0]: "10.0.0.0/24" is already claimed by vhosts.a.addresses[0] (vhosts without host names cannot share an address: no name would tell them apart)',
  ]);
  t.deepEqual(problems('vhosts:\n  a: {addresses: ["10.0.0.0/24", "10.0.0.0/255.255.255.0"]}'), ['vhosts.a.addresses[1]: "10.0.0.0/255.255.255.0" is not an IP address']);
  t.deepEqual(problems(vhost('addresses: ["10.0.0.1/24"]')), ['vhosts.a.addresses[0]: "10.0.0.1/24" has bits set beyond its /24 prefix: did you mean "10.0.0.0/24"?']);
});

test('options.listeners keys: the specific reason, and one address only', (t) => {
  const rule = (key: string) => problems(`vhosts: {a: {hosts: [a.test]}}\noptions: {listeners: {${JSON.stringify(key)}: address}}`);
  t.deepEqual(rule('::1:21'), [
    'options.listeners["::1:21"]: "::1:21" looks like an IPv6 address with a port: write "[::1]:21" (or "[::1:21]" for the address itself)',
  ]);
  t.deepEqual(rule('10.0.0.0/24:21'), ['options.listeners["10.0.0.0/24:21"]: "10.0.0.0/24:21": a listener rule is for one address, not a range']);
  t.deepEqual(rule('ftp'), ['options.listeners.ftp: "ftp" is not an IP address']);
});

test('configWarnings: cpu.max above the CPUs there are never binds (a warning, not an error)', (t) => {
  const cfg = parseConfig('vhosts:\n  a: {hosts: [a.test], cpu: {max: 250%}}\n  b: {hosts: [b.test], cpu: {max: 200%}}\n  "c.d": {hosts: [c.test], cpu: {max: 1000}}\ndefault: {cpu: {max: 300%}}\n');
  t.deepEqual(configWarnings(cfg, { cpus: 2 }), [
    "vhosts.a.cpu.max: 250% is more than this machine's 2 CPUs (200%): the limit never binds here",
    'vhosts["c.d"].cpu.max: 1000% is more than this machine\'s 2 CPUs (200%): the limit never binds here',
    "default.cpu.max: 300% is more than this machine's 2 CPUs (200%): the limit never binds here",
  ]);
  t.deepEqual(configWarnings(cfg, { cpus: 1 })[0], "vhosts.a.cpu.max: 250% is more than this machine's 1 CPU (100%): the limit never binds here");
  t.deepEqual(configWarnings(cfg, { cpus: 16 }), []);
  t.deepEqual(configWarnings(parseConfig('vhosts: {a: {hosts: [a.test]}}')), []);
  t.true(thisMachine().cpus >= 1);
});
