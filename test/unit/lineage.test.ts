import test from 'ava';
import { LineageTables } from '../../src/lineage/tables';

test('read flags and fd copies come from their owner (the native loop); exec is counted', (t) => {
  const state = {
    readFlags: [{ pid: 5, fd: 4, vhost: 'bronze', inode: 101 }],
    fdCopies: [{ pid: 5, fd: 3, newFd: 4, syscall: 'dup2' }],
  };
  const tb = new LineageTables(undefined, undefined, () => state);
  tb.addProcess(5, 1);
  t.deepEqual(tb.readFlag(5, 4), { vhost: 'bronze', inode: 101 });
  t.is(tb.readFlag(5, 3), undefined);
  t.deepEqual(tb.snapshot().readFlags, state.readFlags);
  t.deepEqual(tb.snapshot().fdCopies, state.fdCopies);
  tb.recordExec(5);
  t.is(tb.process(5)?.execs, 1);
  t.deepEqual(new LineageTables().snapshot().readFlags, [], 'no owner: empty');
});

test('a reused pid is a new process: nothing of the old one carries over', (t) => {
  const tb = new LineageTables();
  tb.addProcess(7, 1, 'gold');
  tb.removeProcess(7);
  tb.addProcess(7, 2);
  t.is(tb.process(7)?.group, null);
});

test('the channel table is bounded, oldest first', (t) => {
  const tb = new LineageTables(3);
  for (let i = 1; i <= 5; i++) tb.recordChannel({ inode: i, pid: 1, fd: 3, local: { ip: '127.0.0.1', port: 80 }, vhost: 'gold', by: 'host' });
  t.deepEqual(tb.snapshot().channels.map((c) => c.inode), [3, 4, 5]);
  t.is(tb.connectionCounts().get('gold'), 3);
});

test('a classified read counts a use of its channel', (t) => {
  const tb = new LineageTables();
  tb.recordChannel({ inode: 9, pid: 1, fd: 3, local: { ip: '127.0.0.1', port: 80 }, vhost: 'gold', by: 'host' });
  tb.countUse(9);
  tb.countUse(9);
  tb.countUse(10); // unknown: ignored
  t.is(tb.channel(9)?.uses, 2);
  t.deepEqual(tb.pidsIn('x'), []);
});
