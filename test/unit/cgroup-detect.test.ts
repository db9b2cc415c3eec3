// Finding the cgroup hierarchies in a mountinfo text (pure; the detector on
// this machine is in test/integration/cgroup.test.ts).
import test from 'ava';
import { parseMountinfo, type CgroupDetection } from '../../src/cgroup/detect';
import { checkRows } from '../../src/cli/check-command';
import { HYBRID } from '../helpers/cgroup-fixtures';

test('parseMountinfo finds v1 hierarchies by their options, not their names', (t) => {
  const m = parseMountinfo(HYBRID);
  t.deepEqual(m.v1.map((h) => [h.mountPoint, h.mountRoot, h.controllers.join()]), [
    ['/sys/fs/cgroup/cpu', '/', 'cpu'],
    ['/sys/fs/cgroup/cpuacct', '/', 'cpuacct'],
    ['/sys/fs/cgroup/memory', '/', 'memory'],
    ['/mnt/my cg', '/docker/x', 'cpuset'],
  ]);
  t.deepEqual(m.v2.map((h) => h.mountPoint), ['/sys/fs/cgroup/unified']);
  const co = parseMountinfo('32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n');
  t.deepEqual(co.v1.map((h) => h.controllers), [['cpu', 'cpuacct']]);
});

test('favordynmods is read from the mount options and reported by vhqos check, never changed', (t) => {
  const m = parseMountinfo(
    '32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,favordynmods\n33 31 0:30 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n' +
      '34 31 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate,favordynmods\n',
  );
  t.deepEqual(m.v1.map((h) => [h.controllers.join(), h.favordynmods === true]), [['cpu', true], ['pids', false]]);
  t.true(m.v2[0].favordynmods);
  const features = { userNotif: true, newListener: true, syncWakeup: true, waitKillableRecv: true, addfd: true, addfdSend: true, pidfdOpen: true, pidfdGetfd: true };
  const row = (d: CgroupDetection) => checkRows(features, d, 0).find((r) => r.item === 'cgroup favordynmods')!;
  const mixed = row({ version: 1, v1: m.v1, v2: undefined } as unknown as CgroupDetection);
  t.false(mixed.ok);
  t.false(mixed.required);
  t.regex(mixed.detail, /on for \/sys\/fs\/cgroup\/cpu/);
  t.regex(mixed.detail, /operator's choice/);
  t.true(row({ version: 2, v1: [], v2: m.v2[0] } as unknown as CgroupDetection).ok);
});
