// The cgroup manager against real cgroups. The host is cgroup v1 (hybrid);
// tests that need v2 run in the VM: `bash scripts/test-in-vm.sh dist/test/integration/cgroup.test.js`.
// Tests touching cgroups are serial so a shared parent ("vhqos") has one user at a time.
import test, { ExecutionContext } from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { ChildProcess, spawn } from 'child_process';
import { CgroupManager, CgroupManagerOptions, detectCgroups } from '../../src/cgroup';
import { Hierarchy, V1_USED } from '../../src/cgroup/detect';
import { cgroupVersion, requires } from '../helpers/requires';
import { GOLD, HYBRID, MiB, SILVER } from '../helpers/cgroup-fixtures';

const detected = detectCgroups();
const version = detected.version;
/** Hierarchies the manager uses on this machine. */
const used: Hierarchy[] = version === 2 ? [detected.v2!] : detected.v1.filter((h) => h.controllers.some((c) => V1_USED.includes(c)));

let seq = 0;
const unique = (tag: string) => `t${process.pid}-${tag}-${seq++}`;
const read = (f: string) => fs.readFileSync(f, 'utf8').trim();

/** A manager whose teardown also runs if the test fails. */
function manager(t: ExecutionContext, opts: CgroupManagerOptions): CgroupManager {
  const m = CgroupManager.create(opts);
  t.teardown(() => {
    try {
      m.teardown();
    } catch (e) {
      t.log(`cleanup: ${(e as Error).message}`);
    }
  });
  return m;
}

/** A `sleep` child, killed (and awaited) when the test ends. */
function sleeper(t: ExecutionContext): ChildProcess {
  const c = spawn('sleep', ['120'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => c.once('exit', resolve));
  t.teardown(async () => {
    c.kill('SIGKILL');
    await exited;
  });
  return c;
}

/** /proc/PID/cgroup as path per hierarchy mount point, for the hierarchies in `used`. */
function cgroupsOf(pid: number): Map<string, string> {
  const lines = read(`/proc/${pid}/cgroup`).split('\n').map((l) => l.split(':'));
  return new Map(used.map((h) => {
    const l = lines.find(([id, ctl]) => (version === 2 ? id === '0' : ctl.split(',').includes(h.controllers[0])));
    return [h.mountPoint, l ? l.slice(2).join(':') : '?'];
  }));
}

/** What /proc/PID/cgroup shows for a process in these group directories. */
function expectedCgroups(dirs: string[]): Map<string, string> {
  return new Map(used.map((h) => {
    const dir = dirs.find((d) => d.startsWith(`${h.mountPoint}/`));
    return [h.mountPoint, dir ? `/${path.relative(h.mountPoint, dir)}` : '?'];
  }));
}

/** The directory of `group` that has `file` (v1: the right hierarchy). */
function fileOf(m: CgroupManager, group: string, file: string): string {
  const dir = m.groupPaths(group).find((d) => fs.existsSync(`${d}/${file}`));
  if (!dir) throw new Error(`no ${file} in ${m.groupPaths(group).join(', ')}`);
  return `${dir}/${file}`;
}

function readIn(m: CgroupManager, group: string, file: string): string {
  return read(fileOf(m, group, file));
}

// The pure parts (mountinfo parsing, setting plans) are in test/unit/cgroup-*.test.ts.

test('detectCgroups picks v1 on a hybrid layout whose cgroup2 has no controllers', (t) => {
  // cgroup.controllers of the fixture's cgroup2 mount is read from this machine: at most hugetlb.
  const d = detectCgroups(HYBRID);
  t.is(d.version, 1);
  t.is(detectCgroups('41 31 0:38 / /nowhere rw - cgroup2 cgroup2 rw\n').version, 2);
  t.throws(() => detectCgroups(''), { message: /no cgroup hierarchy/ });
});

test('detectCgroups on this machine', (t) => {
  t.log(`version ${version}: ${used.map((h) => `${h.mountPoint} [${h.controllers.join(',')}]`).join(', ')}`);
  if (version === 2) {
    t.true(['cpu', 'memory', 'io', 'pids'].every((c) => detected.v2!.controllers.includes(c)), detected.v2!.controllers.join());
  } else {
    t.true(['cpu', 'cpuacct', 'memory', 'pids'].every((c) => used.some((h) => h.controllers.includes(c))));
    t.false(used.some((h) => h.controllers.includes('cpuset')), 'cpuset is never used');
  }
  for (const h of used) t.true(fs.existsSync(`${h.mountPoint}/cgroup.procs`), h.mountPoint);
});

// --- Real cgroups ---------------------------------------------------------------

requires(cgroupVersion(1)).serial('v1: setup writes shares, CFS quota, memory limits, blkio weight, pids.max and warns about memory.low', (t) => {
  const m = manager(t, { instance: unique('v1'), parent: unique('p') });
  t.is(m.version, 1);
  const { warnings } = m.setup([{ name: 'gold', resources: GOLD }, { name: 'silver', resources: SILVER }, { name: '_default', resources: {} }]);
  // BFQ's file, as on this host; kernels without BFQ get a warning instead.
  const bfq = m.groupPaths('gold').some((d) => fs.existsSync(`${d}/blkio.bfq.weight`));
  t.deepEqual(warnings.slice(0, 2), [
    'gold: memory.high is approximated by memory.soft_limit_in_bytes on cgroup v1 (reclaimed under global memory pressure only, never throttled)',
    'gold: memory.low is not supported by cgroup v1 (ignored)',
  ]);
  if (bfq) t.is(warnings.length, 2);
  else t.regex(warnings.slice(2).join('\n'), /^gold: io\.weight /);
  t.is(readIn(m, 'gold', 'cpu.shares'), '2048');
  t.is(readIn(m, 'gold', 'cpu.cfs_period_us'), '100000');
  t.is(readIn(m, 'gold', 'cpu.cfs_quota_us'), '150000');
  t.is(readIn(m, 'gold', 'memory.limit_in_bytes'), String(256 * MiB));
  t.is(readIn(m, 'gold', 'memory.soft_limit_in_bytes'), String(128 * MiB));
  if (bfq) t.regex(readIn(m, 'gold', 'blkio.bfq.weight'), /^(default )?300$/);
  else t.log('no blkio.bfq.weight on this kernel: io.weight warned about');
  t.is(readIn(m, 'gold', 'pids.max'), '50');
  t.is(readIn(m, 'silver', 'cpu.shares'), '512');
  t.is(readIn(m, 'silver', 'cpu.cfs_quota_us'), '-1');
  t.is(readIn(m, 'silver', 'memory.limit_in_bytes'), String(64 * MiB));
  t.is(readIn(m, 'silver', 'pids.max'), 'max');
  t.is(readIn(m, '_default', 'cpu.shares'), '1024');
  // Same name in every hierarchy vhqos uses, and no cpuset group.
  t.deepEqual(m.groupPaths('gold').map((d) => path.basename(d)), used.map(() => 'gold'));
  t.false(m.groupPaths('gold').some((d) => d.includes('/cpuset/')));
});

requires(cgroupVersion(2)).serial('v2: setup enables controllers top-down and writes cpu.weight, cpu.max, memory.*, io.weight, pids.max', (t) => {
  const parent = `${unique('p')}/inner`;
  const instance = unique('v2');
  const m = manager(t, { instance, parent });
  t.is(m.version, 2);
  const { warnings } = m.setup([{ name: 'gold', resources: GOLD }, { name: 'silver', resources: SILVER }, { name: '_default', resources: {} }]);
  t.deepEqual(warnings, []);
  const root = detected.v2!.mountPoint;
  for (const dir of [path.join(root, parent, '..'), path.join(root, parent), path.join(root, parent, instance)]) {
    t.deepEqual(read(`${dir}/cgroup.subtree_control`).split(' ').filter((c) => ['cpu', 'memory', 'io', 'pids'].includes(c)).sort(), ['cpu', 'io', 'memory', 'pids'], dir);
  }
  t.is(readIn(m, 'gold', 'cpu.weight'), '200');
  t.is(readIn(m, 'gold', 'cpu.max'), '150000 100000');
  t.is(readIn(m, 'gold', 'memory.max'), String(256 * MiB));
  t.is(readIn(m, 'gold', 'memory.high'), String(128 * MiB));
  t.is(readIn(m, 'gold', 'memory.low'), String(64 * MiB));
  t.is(readIn(m, 'gold', 'io.weight'), 'default 300');
  t.is(readIn(m, 'gold', 'pids.max'), '50');
  t.is(readIn(m, 'silver', 'cpu.weight'), '50');
  t.is(readIn(m, 'silver', 'cpu.max'), 'max 100000');
  t.is(readIn(m, 'silver', 'memory.max'), String(64 * MiB));
  t.is(readIn(m, 'silver', 'memory.low'), '0');
  t.is(readIn(m, '_default', 'io.weight'), 'default 100');
  t.deepEqual(m.groupPaths('gold'), [path.join(root, parent, instance, 'gold')]);
});

test.serial('move puts a real process into the group in every hierarchy; usage sees it; teardown brings it back and removes everything', (t) => {
  const parentName = 'vhqos';
  const parentExisted = used.map((h) => fs.existsSync(path.join(h.mountPoint, parentName)));
  const instance = unique('mv');
  const m = manager(t, { instance }); // default parent 'vhqos'
  m.setup([{ name: 'gold', resources: GOLD }, { name: 'silver', resources: SILVER }]);
  const child = sleeper(t);
  const pid = child.pid!;
  const before = cgroupsOf(pid);
  t.true(m.move(pid, 'gold'));
  t.deepEqual(cgroupsOf(pid), expectedCgroups(m.groupPaths('gold')));
  const u = m.usage('gold');
  t.deepEqual(u.pids, [pid]);
  t.is(typeof u.cpuUsageUsec, 'number');
  t.is(typeof u.memoryBytes, 'number');
  t.deepEqual(m.usage('silver').pids, []);
  t.true(m.move(pid, 'silver'));
  t.deepEqual(cgroupsOf(pid), expectedCgroups(m.groupPaths('silver')));
  t.deepEqual(m.usage('gold').pids, []);

  const dirs = [...m.groupPaths('gold'), ...m.groupPaths('silver')];
  m.teardown();
  t.deepEqual(cgroupsOf(pid), before, 'the child is back where it came from');
  for (const d of [...dirs, ...dirs.map((d) => path.dirname(d))]) t.false(fs.existsSync(d), d);
  used.forEach((h, i) => {
    const p = path.join(h.mountPoint, parentName);
    // Created by us: gone, unless another vhqos started using it meanwhile.
    if (!parentExisted[i]) t.true(!fs.existsSync(p) || fs.readdirSync(p, { withFileTypes: true }).some((e) => e.isDirectory()), p);
  });
  t.notThrows(() => m.teardown(), 'idempotent');
  t.throws(() => m.move(pid, 'gold'), { message: /unknown group/ });
});

test.serial('move of a vanished process returns false; a bad pid or group throws', async (t) => {
  const m = manager(t, { instance: unique('gone'), parent: unique('p') });
  m.setup([{ name: 'gold', resources: {} }]);
  const c = spawn('true');
  await new Promise((resolve) => c.once('exit', resolve));
  t.false(m.move(c.pid!, 'gold'));
  t.throws(() => m.move(0, 'gold'), { message: /invalid pid 0/ });
  t.throws(() => m.move(process.pid, 'nope'), { message: /unknown group "nope"/ });
  t.throws(() => m.setup([{ name: '../x', resources: {} }]), { message: /invalid group name/ });
  t.throws(() => m.setup([{ name: 'cgroup.procs', resources: {} }]), { message: /exists and is not a cgroup/ });
});

test.serial('an instance left by a crashed run: fail by default, adopt on request (stale settings reset, stale groups removed)', (t) => {
  const parent = unique('p');
  const instance = unique('crash');
  const crashed = manager(t, { instance, parent });
  crashed.setup([{ name: 'gold', resources: GOLD }, { name: 'old', resources: {} }]);
  const child = sleeper(t);
  const home = cgroupsOf(child.pid!);
  crashed.move(child.pid!, 'old');
  // "crashed" is never torn down before the others: its tree stays as a dead run would leave it.

  const again = CgroupManager.create({ instance, parent });
  const err = t.throws(() => again.setup([{ name: 'gold', resources: {} }]));
  t.regex(err!.message, new RegExp(`${instance} already exists.*onExisting: 'adopt'`));
  t.notThrows(() => again.teardown(), 'a failed setup leaves nothing to tear down');
  t.true(fs.existsSync(crashed.groupPaths('gold')[0]), 'and did not touch the existing tree');

  const adopter = manager(t, { instance, parent, onExisting: 'adopt' });
  adopter.setup([{ name: 'gold', resources: {} }]);
  t.is(readIn(adopter, 'gold', 'pids.max'), 'max', 'stale limit reset to the default');
  t.is(readIn(adopter, 'gold', version === 1 ? 'cpu.shares' : 'cpu.weight'), version === 1 ? '1024' : '100');
  const stale = crashed.groupPaths('old');
  adopter.teardown();
  for (const d of stale) t.false(fs.existsSync(d), d);
  t.deepEqual(cgroupsOf(child.pid!), home, 'the process left in a stale group went home');
  // Adoption covers the instance only: the parent stays for the crashed run's owner (here: the test's cleanup).
  for (const h of used) t.true(fs.existsSync(path.join(h.mountPoint, parent)));
});

test.serial('ownsParent: an adopted parent that is the instance\'s own goes at teardown once empty, a busy one stays', (t) => {
  const top = unique('p');
  const parent = `${top}/inst`; // v1 with the supervisor placed: <top>/<instance>/vhosts
  const crashed = manager(t, { instance: 'vhosts', parent, ownsParent: true });
  crashed.setup([{ name: 'gold', resources: {} }]);
  // A killed run leaves the tree; an attach adopts it, parent included.
  const adopter = CgroupManager.create({ instance: 'vhosts', parent, ownsParent: true, onExisting: 'adopt' });
  adopter.setup([{ name: 'gold', resources: {} }]);
  adopter.teardown();
  for (const h of used) {
    t.false(fs.existsSync(path.join(h.mountPoint, parent)), `${h.mountPoint}/${parent} removed`);
    t.true(fs.existsSync(path.join(h.mountPoint, top)), 'the shared top stays');
  }
  // Without ownsParent an adopted parent stays (the first test's rule).
  const keeps = manager(t, { instance: 'vhosts', parent });
  keeps.setup([]);
  CgroupManager.create({ instance: 'vhosts', parent, onExisting: 'adopt' }).teardown();
  const again = CgroupManager.create({ instance: 'vhosts', parent, onExisting: 'adopt' });
  again.setup([]);
  again.teardown();
  for (const h of used) t.true(fs.existsSync(path.join(h.mountPoint, parent)), 'not ours: left');
  // A parent still holding a process (a supervisor not moved back) is left, not an error.
  // (v1 only: a v2 parent that hands controllers down cannot hold processes, nor does vhqos place itself there.)
  if (version === 1) {
    const child = sleeper(t);
    const busy = manager(t, { instance: 'vhosts', parent, ownsParent: true, onExisting: 'adopt' });
    busy.setup([]);
    const home = cgroupsOf(child.pid!);
    for (const h of used) fs.writeFileSync(path.join(h.mountPoint, parent, 'cgroup.procs'), String(child.pid));
    t.notThrows(() => busy.teardown());
    for (const h of used) t.true(fs.existsSync(path.join(h.mountPoint, parent)), 'busy: left');
    for (const h of used) fs.writeFileSync(path.join(h.mountPoint, home.get(h.mountPoint)!, 'cgroup.procs'), String(child.pid));
  }
  for (const h of used) fs.rmdirSync(path.join(h.mountPoint, parent));
  for (const h of used) fs.rmdirSync(path.join(h.mountPoint, top));
});

test.serial('a parent shared by two instances outlives the first teardown', (t) => {
  const parent = unique('p');
  const a = manager(t, { instance: 'a', parent });
  const b = manager(t, { instance: 'b', parent });
  a.setup([{ name: 'g', resources: {} }]);
  b.setup([{ name: 'g', resources: {} }]);
  a.teardown();
  for (const h of used) t.true(fs.existsSync(path.join(h.mountPoint, parent)));
  const bDirs = b.groupPaths('g');
  for (const d of bDirs) t.true(fs.existsSync(d), d);
  b.teardown();
  for (const d of bDirs) t.false(fs.existsSync(d), d);
  for (const h of used) {
    const p = path.join(h.mountPoint, parent);
    t.false(fs.existsSync(path.join(p, 'b')), 'b removed its instance');
    t.true(fs.existsSync(p), 'b did not create the parent, so it leaves it');
    fs.rmdirSync(p);
  }
});

test.serial('container layout: parent is an existing cgroup with processes; teardown(\'parent\') puts them back there', (t) => {
  // The "container" cgroup is made by the test (as a runtime would), not by the manager.
  const ctr = `${unique('ctr')}/box`;
  const ctrDirs = used.map((h) => path.join(h.mountPoint, ctr));
  const child = sleeper(t);
  const pid = child.pid!;
  const home = cgroupsOf(pid);
  t.teardown(() => {
    for (const h of used) {
      try {
        fs.writeFileSync(path.join(h.mountPoint, home.get(h.mountPoint)!, 'cgroup.procs'), String(pid));
      } catch {
        // already gone
      }
    }
    for (const d of ctrDirs) {
      for (const x of [d, path.dirname(d)]) {
        try {
          fs.rmdirSync(x);
        } catch {
          // already gone
        }
      }
    }
  });
  for (const d of ctrDirs) {
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(`${d}/cgroup.procs`, String(pid));
  }
  const m = manager(t, { instance: 'vhqos', parent: ctr });
  const groups = [{ name: '_server', resources: {} }, { name: 'gold', resources: GOLD }];
  if (version === 2) {
    const err = t.throws(() => m.setup(groups));
    t.regex(err!.message, /cgroup\.subtree_control.*EBUSY.*move them into a leaf group first/);
    t.true(m.move(pid, '_server'), 'groups exist after the failed delegation');
  }
  m.setup(groups);
  t.true(m.move(pid, 'gold'));
  t.deepEqual(cgroupsOf(pid), expectedCgroups(m.groupPaths('gold')));
  m.teardown('parent');
  t.deepEqual(cgroupsOf(pid), expectedCgroups(ctrDirs), 'back in the container cgroup');
  for (const d of ctrDirs) {
    t.true(fs.existsSync(d), 'the container cgroup is not ours: kept');
    t.false(fs.existsSync(`${d}/vhqos`), 'our instance is gone');
  }
  if (version === 2) t.false(/\b(cpu|memory|io|pids)\b/.test(read(`${ctrDirs[0]}/cgroup.subtree_control`)), 'controllers we enabled were taken back');
});

test.serial('timing: one move()', (t) => {
  const m = manager(t, { instance: unique('time'), parent: unique('p') });
  m.setup([{ name: 'a', resources: {} }, { name: 'b', resources: {} }]);
  const child = sleeper(t);
  const n = version === 2 ? 200 : 1000;
  const t0 = process.hrtime.bigint();
  let ok = 0;
  for (let i = 0; i < n; i++) if (m.move(child.pid!, i % 2 ? 'a' : 'b')) ok++;
  const us = Number(process.hrtime.bigint() - t0) / n / 1000;
  t.log(`cgroup v${version}: ${us.toFixed(1)} µs per move() over ${m.groupPaths('a').length} hierarchies (${n} moves)`);
  t.is(ok, n);
});
