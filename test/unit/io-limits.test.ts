import test from 'ava';
import { prerequisite, requires } from '../helpers/requires';
import * as fs from 'node:fs';
import { parseConfig } from '../../src/config/load';
import { planV1, planV2 } from '../../src/cgroup/settings';
import { resolveDisk } from '../../src/cgroup/block-device';

const writes = (plan: ReturnType<typeof planV2>, setting: string) => plan.settings.find((s) => s.setting === setting)?.choices[0].writes;

test('io throttles: v2 io.max on the device, v1 blkio.throttle.* (0 lifts one); none without a device', (t) => {
  const io = { rbps: 10485760, wiops: 100, device: '254:0' };
  t.deepEqual(writes(planV2('a', { io }), 'io.max'), [{ file: 'io.max', value: '254:0 rbps=10485760 wbps=max riops=max wiops=100' }]);
  t.deepEqual(writes(planV1('a', { io }), 'io.max'), [
    { file: 'blkio.throttle.read_bps_device', value: '254:0 10485760' },
    { file: 'blkio.throttle.write_bps_device', value: '254:0 0' },
    { file: 'blkio.throttle.read_iops_device', value: '254:0 0' },
    { file: 'blkio.throttle.write_iops_device', value: '254:0 100' },
  ]);
  t.is(writes(planV2('a', { io: { weight: 200 } }), 'io.max'), undefined);
});

const disk = fs.readdirSync('/sys/block').find((d) => !/^(loop|ram|zram)/.test(d) && fs.existsSync(`/sys/block/${d}/dev`));

requires(prerequisite('block-disk', disk ? null : 'no disk in /sys/block (the cgroup v2 VM has none)'))('resolveDisk: MAJOR:MINOR, a device path, a path on a disk; partitions stand for their disk', (t) => {
  const dev = fs.readFileSync(`/sys/block/${disk}/dev`, 'utf8').trim();
  t.is(resolveDisk({ device: dev }), dev);
  if (fs.existsSync(`/dev/${disk}`)) t.is(resolveDisk({ device: `/dev/${disk}` }), dev);
  const part = fs.readdirSync(`/sys/block/${disk}`).find((p) => fs.existsSync(`/sys/block/${disk}/${p}/partition`));
  if (part) t.is(resolveDisk({ device: fs.readFileSync(`/sys/block/${disk}/${part}/dev`, 'utf8').trim() }), dev, 'a partition is its disk');
});

test('resolveDisk: clear errors', (t) => {
  t.deepEqual(resolveDisk({ path: '/nonexistent/x' }), { error: '/nonexistent/x: no such file or directory' });
  t.deepEqual(resolveDisk({ device: '/dev/null' }), { error: '/dev/null is not a block device' });
  t.deepEqual(resolveDisk({ device: '999:999' }), { error: '999:999: no block device 999:999 in /sys/dev/block' });
  t.deepEqual(resolveDisk({ path: '/proc' }), { error: '/proc is on a filesystem without a disk (tmpfs, overlay, a network filesystem): nothing to throttle' });
  t.deepEqual(resolveDisk({}), { error: 'needs io.device or io.path (the disk to throttle)' });
});

test('config: io throttles need a disk; device and path exclude each other; a lone device is a mistake', (t) => {
  const problems = (io: string) => {
    try {
      parseConfig(`vhosts:\n  a: {hosts: [a.test], io: ${io}}\n`);
      return [];
    } catch (e) {
      return (e as { problems: string[] }).problems;
    }
  };
  t.deepEqual(problems('{wbps: 1M}'), ['vhosts.a.io.wbps: needs io.device or io.path (the disk to throttle)']);
  t.deepEqual(problems('{wbps: 1M, path: /nonexistent}'), ['vhosts.a.io.path: /nonexistent: no such file or directory']);
  t.deepEqual(problems('{wbps: 1M, path: /, device: "8:0"}'), ['vhosts.a.io: give device or path, not both']);
  t.deepEqual(problems('{device: "8:0"}'), ['vhosts.a.io.device: no throttle (rbps, wbps, riops, wiops) to apply to it']);
  t.deepEqual(problems('{wbps: "max", weight: 50}'), []);
  t.is(problems('{riops: 0, path: /}')[0], 'vhosts.a.io.riops: must be >= 1');
  t.deepEqual(problems('{wbps: 1M, device: "999:999"}'), ['vhosts.a.io.device: 999:999: no block device 999:999 in /sys/dev/block']);
});
