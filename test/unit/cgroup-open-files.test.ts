// The bounded sets of open cgroup files (issue 10: 10,000 vhosts ran out of
// fds) and the budget taken from the open-files limit. Pure: opening and
// closing are injected; the real files are opened by the run-large test.
import test from 'ava';
import { OpenGroupFiles } from '../../src/cgroup/open-files';
import { MAX_OPEN_GROUPS, MIN_OPEN_GROUPS, openFilesLimit, openGroupsBudget } from '../../src/cgroup/fd-budget';

function fakeFs() {
  let next = 100;
  const open = new Map<number, string>();
  let full = false;
  return {
    open,
    opened: [] as string[],
    setFull(v: boolean) {
      full = v;
    },
    make() {
      return {
        openFile: (f: string) => {
          if (full && open.size > 0) throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
          this.opened.push(f);
          open.set(next, f);
          return next++;
        },
        close: (fd: number) => void open.delete(fd),
      };
    },
  };
}

test('OpenGroupFiles: opened on first use, kept for the most recently used groups, the least recently used closed past the bound', (t) => {
  const f = fakeFs();
  const { openFile, close } = f.make();
  const files = new OpenGroupFiles(2, openFile, close);
  const procs = (g: string) => [`/cpu/${g}/cgroup.procs`, `/memory/${g}/cgroup.procs`];
  const a = files.fds('a', procs('a'));
  t.is(a.length, 2);
  t.deepEqual(files.fds('a', procs('a')), a, 'a hit opens nothing');
  files.fds('b', procs('b'));
  files.fds('a', procs('a')); // a is now the most recent
  files.fds('c', procs('c')); // b goes
  t.is(files.size, 2);
  t.deepEqual([...f.open.values()].sort(), [...procs('a'), ...procs('c')].sort());
  t.is(f.opened.length, 6);
  files.fds('b', procs('b')); // opened again; a goes
  t.deepEqual([...f.open.values()].sort(), [...procs('b'), ...procs('c')].sort());
  files.forget('c');
  t.is(files.size, 1);
  files.closeAll();
  t.is(f.open.size, 0);
});

test('OpenGroupFiles: out of fds, the other groups\' files are given back and the open tried again; a failed open closes what it opened and names the file', (t) => {
  const f = fakeFs();
  const { openFile, close } = f.make();
  const files = new OpenGroupFiles(100, openFile, close);
  files.fds('a', ['/a1', '/a2']);
  files.fds('b', ['/b1']);
  f.setFull(true); // the next open fails while anything is open
  t.deepEqual([...f.open.values()], ['/a1', '/a2', '/b1']);
  t.is(files.fds('c', ['/c1']).length, 1);
  t.deepEqual([...f.open.values()], ['/c1']);
  const boom = new OpenGroupFiles(4, (p) => {
    if (p === '/bad') throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    return openFile(p);
  }, close);
  f.setFull(false);
  const before = f.open.size;
  const e = t.throws(() => boom.fds('x', ['/good', '/bad']));
  t.regex(e!.message, /^cgroup: cannot open \/bad: ENOENT/);
  t.is(f.open.size, before, 'the half-opened set is closed again');
  t.throws(() => new OpenGroupFiles(0), { message: /positive integer/ });
});

test('openGroupsBudget: an eighth of the open-files limit over the files per group, within bounds', (t) => {
  t.is(openGroupsBudget(20000, 5), 500);
  t.is(openGroupsBudget(1024, 5), 25);
  t.is(openGroupsBudget(256, 5), MIN_OPEN_GROUPS);
  t.is(openGroupsBudget(1048576, 1), MAX_OPEN_GROUPS);
  t.is(openGroupsBudget(undefined, 5), MAX_OPEN_GROUPS);
  const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                524288               files     \n';
  t.is(openFilesLimit(limits), 20000);
  t.is(openFilesLimit('Max open files            unlimited            unlimited            files\n'), undefined);
  const own = openFilesLimit();
  t.true(own !== undefined && own > 0, 'this process\' own limit is read from /proc/self/limits');
});
