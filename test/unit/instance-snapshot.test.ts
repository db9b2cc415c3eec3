// The status snapshot of an instance: in one go for in-process callers, and
// giving the event loop back between chunks of groups for the status socket
// and metrics (at 10,000 vhosts reading every group's cgroup files blocks
// for ~0.7 s, and read mode's verdicts are given on that thread).
import test from 'ava';
import { parseConfig } from '../../src/config/load';
import { instanceSnapshot, instanceSnapshotYielding, SNAPSHOT_CHUNK, type SnapshotSources } from '../../src/supervisor/instance-snapshot';
import { LineageTables } from '../../src/lineage/tables';
import type { LoopStats } from '../../src/native';

const N = SNAPSHOT_CHUNK * 3 + 10;

function sources(): { s: SnapshotSources; reads: () => number } {
  const config = parseConfig(`vhosts:\n${Array.from({ length: N }, (_, i) => `  v${i}: { hosts: [v${i}.test] }\n`).join('')}`);
  let reads = 0;
  const s: SnapshotSources = {
    instance: 'snap',
    config,
    classifyAt: 'read',
    stats: { notifications: 1, fast: 0, quietInspections: 0, events: 0, verdicts: 0, timeouts: 0, parked: 0, sendErrors: 0, running: true } as LoopStats,
    groupNames: [...config.vhosts.map((v) => v.name), '_default', '_server'],
    supervisor: { counters: new Map([['v7', { connections: 3, moves: 2 }]]), stats: { failOpen: 0 }, tables: new LineageTables() } as unknown as SnapshotSources['supervisor'],
    cgroups: {
      version: 2,
      usage: (g: string) => {
        reads++;
        return { cpuUsageUsec: g.length, memoryBytes: 4096, pids: [] };
      },
      groupPaths: (g: string) => [`/sys/fs/cgroup/vhqos/snap/${g}`],
    } as unknown as SnapshotSources['cgroups'],
    server: { pid: 1, command: ['srv'], exited: null },
    warnings: [],
  };
  return { s, reads: () => reads };
}

test('the yielding snapshot is the same snapshot', async (t) => {
  const one = instanceSnapshot(sources().s);
  const other = await instanceSnapshotYielding(sources().s);
  t.is(one.vhosts.length, N + 2);
  t.deepEqual(other, { ...one, supervisorPid: other.supervisorPid });
  t.like(one.vhosts.find((g) => g.name === 'v7'), { connections: 3, moves: 2, memoryBytes: 4096 });
});

test('the yielding snapshot lets other callbacks run between chunks of groups; the one-go snapshot does not', async (t) => {
  const { s, reads } = sources();
  const seen: number[] = []; // groups read when each other callback ran
  let pending = true;
  const tick = () => {
    seen.push(reads());
    if (pending) setImmediate(tick);
  };
  setImmediate(tick);
  const snap = await instanceSnapshotYielding(s);
  pending = false;
  t.is(snap.vhosts.length, N + 2);
  const during = seen.filter((r) => r > 0 && r < N + 2);
  t.true(during.length >= 3, `callbacks ran while groups were read: ${JSON.stringify(seen)}`);
  t.true(during.every((r) => r % SNAPSHOT_CHUNK === 0), `each after a whole chunk: ${JSON.stringify(during)}`);

  const sync = sources();
  const seenSync: number[] = [];
  setImmediate(() => seenSync.push(sync.reads()));
  instanceSnapshot(sync.s);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(seenSync, [N + 2], 'in one go: nothing ran before every group was read');
});

test('a group removed while the yielding snapshot is under way (a reload) is shown without its cgroups, not an error', async (t) => {
  const { s } = sources();
  const gone = new Set<string>();
  const cgroups = s.cgroups;
  s.cgroups = {
    ...cgroups,
    version: cgroups.version,
    usage: (g: string) => {
      if (gone.has(g)) throw new Error(`cgroup: unknown group "${g}"`);
      return cgroups.usage(g);
    },
    groupPaths: (g: string) => {
      if (gone.has(g)) throw new Error(`cgroup: unknown group "${g}"`);
      return cgroups.groupPaths(g);
    },
  };
  const pending = instanceSnapshotYielding(s);
  gone.add(`v${N - 1}`); // after the first chunk, before the last
  const snap = await pending;
  t.like(snap.vhosts.find((g) => g.name === `v${N - 1}`), { cgroups: [], pids: [] });
  t.deepEqual(snap.vhosts.find((g) => g.name === 'v0')?.cgroups, ['/sys/fs/cgroup/vhqos/snap/v0']);
});
