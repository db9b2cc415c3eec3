import test from 'ava';
import { LineageTables } from '../../src/lineage/tables';

test('read flags are reset by close, dup2-over, exec and exit', (t) => {
  const tb = new LineageTables();
  tb.addProcess(5, 1);
  tb.setReadFlag(5, 3, 'gold', 100);
  tb.setReadFlag(5, 4, 'bronze', 101);
  tb.clearFd(5, 3);
  t.is(tb.readFlag(5, 3), undefined);
  t.is(tb.readFlag(5, 4)?.vhost, 'bronze');
  tb.setReadFlag(5, 3, 'gold', 100);
  tb.recordDup(5, 3, 4, 'dup2'); // 4 now names 3's connection
  t.is(tb.readFlag(5, 4)?.vhost, 'gold');
  t.is(tb.readFlag(5, 4)?.inode, 100);
  tb.recordExec(5);
  t.is(tb.readFlag(5, 3), undefined);
  t.is(tb.readFlag(5, 4), undefined);
  t.is(tb.process(5)?.execs, 1);
});

test('a reused pid is a new process: nothing of the old one carries over', (t) => {
  const tb = new LineageTables();
  tb.addProcess(7, 1, 'gold');
  tb.setReadFlag(7, 3, 'gold', 1);
  tb.removeProcess(7);
  tb.addProcess(7, 2);
  t.is(tb.process(7)?.group, null);
  t.is(tb.readFlag(7, 3), undefined);
});

test('the channel table is bounded, oldest first', (t) => {
  const tb = new LineageTables(3);
  for (let i = 1; i <= 5; i++) tb.recordChannel({ inode: i, pid: 1, fd: 3, local: { ip: '127.0.0.1', port: 80 }, vhost: 'gold', by: 'host' });
  t.deepEqual(tb.snapshot().channels.map((c) => c.inode), [3, 4, 5]);
  t.is(tb.connectionCounts().get('gold'), 3);
});

test('fd copies record dup with unknown and known new fds', (t) => {
  const tb = new LineageTables();
  tb.recordDup(9, 4, -1, 'dup');
  tb.recordDup(9, 4, 0, 'dup2');
  t.deepEqual(tb.snapshot().fdCopies.map((c) => [c.fd, c.newFd, c.syscall]), [[4, -1, 'dup'], [4, 0, 'dup2']]);
  t.deepEqual(tb.pidsIn('x'), []);
});
