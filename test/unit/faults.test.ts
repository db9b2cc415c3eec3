import test from 'ava';
import { faultsSince, parseKeyed } from '../../src/cgroup/faults';
import type { Faults } from '../../src/cgroup/faults';
import { FaultWatch } from '../../src/status/fault-watch';
import { renderFaults } from '../../src/cli/status-command';

test('parseKeyed reads "key value" lines and skips the rest', (t) => {
  const m = parseKeyed('nr_periods 10\nnr_throttled 3\nthrottled_usec 4500\nbad line here\n\n');
  t.deepEqual([...m], [['nr_periods', 10], ['nr_throttled', 3], ['throttled_usec', 4500]]);
  t.is(parseKeyed(undefined).size, 0);
});

test('faultsSince: growth since a baseline; a counter that went back (a new group) counts from 0', (t) => {
  t.deepEqual(faultsSince({ pidsMax: 2, oomKills: 1 }, { pidsMax: 5, oomKills: 1, memoryMax: 3 }), { pidsMax: 3, oomKills: 0, memoryMax: 3 });
  t.deepEqual(faultsSince({ pidsMax: 9 }, { pidsMax: 4 }), { pidsMax: 4 });
});

test('FaultWatch: counts from its start, logs what grew at most once per window per vhost and fault', (t) => {
  let now = 0;
  const counters: Record<string, Faults> = { bronze: { pidsMax: 5, oomKills: 0 }, gold: { pidsMax: 0 } };
  const lines: Record<string, unknown>[] = [];
  const w = new FaultWatch({
    groups: () => Object.keys(counters),
    read: (g) => ({ ...counters[g] }),
    logger: { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (o) => void lines.push(o as Record<string, unknown>) },
    logEveryMs: 10000,
    now: () => now,
  });
  w.poll();
  t.deepEqual(lines, [], 'what happened before the start is not a fault of this run');
  t.deepEqual(w.since('bronze'), { pidsMax: 0, oomKills: 0 });
  counters.bronze = { pidsMax: 7, oomKills: 1 };
  now = 1000;
  w.poll();
  t.deepEqual(lines.map((l) => [l.vhost, l.fault, l.count]), [['bronze', 'oom_kill', 1], ['bronze', 'pids_max', 2]]);
  counters.bronze = { pidsMax: 9, oomKills: 1 };
  now = 2000;
  w.poll();
  t.is(lines.length, 2, 'rate-limited');
  t.deepEqual(w.since('bronze'), { pidsMax: 4, oomKills: 1 }, 'status is exact meanwhile');
  now = 12000;
  w.poll();
  t.deepEqual(lines.slice(2).map((l) => [l.vhost, l.fault, l.count, l.total]), [['bronze', 'pids_max', 2, 4]]);
  const failing = new FaultWatch({ groups: () => ['gone'], read: () => { throw new Error('ENOENT'); }, logger: { debug() {}, info() {}, warn() {}, error() {} } });
  failing.poll();
  t.deepEqual(failing.since('gone'), {}, 'a torn-down group reads as nothing, never throws');
});

test('renderFaults: totals, or only what grew in the interval', (t) => {
  t.is(renderFaults({}), '-');
  t.is(renderFaults({ pidsMax: 3, oomKills: 0, cpuThrottledPeriods: 2, cpuThrottledUsec: 400000 }), 'throttled 2 (0.40 s), pids-max 3');
  t.is(renderFaults({ pidsMax: 5 }, { pidsMax: 3 }), '+2 pids-max');
  t.is(renderFaults({ pidsMax: 3 }, { pidsMax: 3 }), '-');
});

test('FaultWatch.pollSome: a large config is read a slice per tick, round robin, every group in turn', (t) => {
  const names = Array.from({ length: 7 }, (_, i) => `v${i}`);
  const reads: string[] = [];
  const w = new FaultWatch({ groups: () => names, read: (g) => (reads.push(g), {}), logger: { debug() {}, info() {}, warn() {}, error() {} } });
  reads.length = 0; // the baseline read every group once
  w.pollSome(3);
  w.pollSome(3);
  w.pollSome(3);
  t.deepEqual(reads, ['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v0', 'v1']);
  reads.length = 0;
  w.pollSome(10);
  t.deepEqual(reads, names, 'fewer groups than a slice: all of them');
  names.splice(2); // a reload removed groups under the cursor
  reads.length = 0;
  w.pollSome(1);
  w.pollSome(1);
  t.deepEqual(reads, ['v0', 'v1']);
});

test('FaultWatch: a group this run made needs no baseline read (its counters started at 0)', (t) => {
  const reads: string[] = [];
  const counters: Record<string, Faults> = { made: { pidsMax: 3 }, adopted: { pidsMax: 3 } };
  const w = new FaultWatch({ groups: () => Object.keys(counters), read: (g) => (reads.push(g), { ...counters[g] }), isNew: (g) => g === 'made', logger: { debug() {}, info() {}, warn() {}, error() {} } });
  t.deepEqual(reads, ['adopted']);
  w.poll();
  t.deepEqual(w.since('made'), { pidsMax: 3 }, 'counted from 0');
  t.deepEqual(w.since('adopted'), { pidsMax: 0 }, 'counted from what it had');
});
