// What each resource setting writes on cgroup v1 and v2 (pure: the plans,
// not the files; test/integration/cgroup.test.ts writes them for real).
import test from 'ava';
import { planV1, planV2 } from '../../src/cgroup/settings';
import type { ResourceSettings } from '../../src/types';
import { GOLD, MiB } from '../helpers/cgroup-fixtures';

test('v1 setting mapping', (t) => {
  const files = (r: ResourceSettings) => Object.fromEntries(planV1('g', r).settings.map((s) => [s.setting, s.choices[0].writes.map((w) => `${w.file}=${w.value}`).join(' ')]));
  t.like(files(GOLD), {
    'cpu.weight': 'cpu.shares=2048',
    'cpu.max': 'cpu.cfs_period_us=100000 cpu.cfs_quota_us=150000',
    'memory.max': `memory.limit_in_bytes=${256 * MiB}`,
    'memory.high': `memory.soft_limit_in_bytes=${128 * MiB}`,
    'io.weight': 'blkio.bfq.weight=300',
    'pids.max': 'pids.max=50',
  });
  t.like(files({}), { 'cpu.weight': 'cpu.shares=1024', 'cpu.max': 'cpu.cfs_period_us=100000 cpu.cfs_quota_us=-1', 'io.weight': 'blkio.bfq.weight=100' });
  t.like(files({ cpu: { weight: 1, max: 0.001 } }), { 'cpu.weight': 'cpu.shares=10', 'cpu.max': 'cpu.cfs_period_us=100000 cpu.cfs_quota_us=1000' });
  t.is(planV1('g', { io: { weight: 100 } }).settings.find((s) => s.setting === 'io.weight')!.choices[1].writes[0].value, '500', 'CFQ default');
  t.deepEqual(planV1('gold', GOLD).warnings, [
    'gold: memory.high is approximated by memory.soft_limit_in_bytes on cgroup v1 (reclaimed under global memory pressure only, never throttled)',
    'gold: memory.low is not supported by cgroup v1 (ignored)',
  ]);
  t.regex(planV1('g', { cpu: { max: 0.001 } }).warnings[0], /cpu.max 0.001 is below/);
  const big = planV1('g', { io: { weight: 5000 } }).settings.find((s) => s.setting === 'io.weight')!.choices[0];
  t.is(big.writes[0].value, '1000');
  t.regex(big.warning!, /io.weight 5000 is outside blkio.bfq.weight's range 1..1000/);
});

test('v2 setting mapping', (t) => {
  const files = (r: ResourceSettings) => Object.fromEntries(planV2('g', r).settings.map((s) => [s.setting, s.choices[0].writes.map((w) => `${w.file}=${w.value}`).join(' ')]));
  t.deepEqual(files(GOLD), {
    'cpu.weight': 'cpu.weight=200',
    'cpu.max': 'cpu.max=150000 100000',
    'memory.max': `memory.max=${256 * MiB}`,
    'memory.high': `memory.high=${128 * MiB}`,
    'memory.low': `memory.low=${64 * MiB}`,
    'io.weight': 'io.weight=default 300',
    'pids.max': 'pids.max=50',
  });
  t.deepEqual(files({}), {
    'cpu.weight': 'cpu.weight=100', 'cpu.max': 'cpu.max=max 100000', 'memory.max': 'memory.max=max',
    'memory.high': 'memory.high=max', 'memory.low': 'memory.low=0', 'io.weight': 'io.weight=default 100', 'pids.max': 'pids.max=max',
  });
  t.deepEqual(planV2('gold', GOLD).warnings, []);
  t.true(planV2('g', {}).settings.every((s) => s.isDefault));
  t.false(planV2('g', GOLD).settings.some((s) => s.isDefault));
});
