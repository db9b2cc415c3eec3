// Policy unit tests: the supervisor with fake dependencies (no kernel).
import test from 'ava';
import { Supervisor, DEFAULT_GROUP, type SupervisorDeps, type ConnectionInProcess } from '../../src/supervisor/supervisor';
import { parseConfig } from '../../src/config/load';
import { createClassifier, needsMoreBytes, needsPeek } from '../../src/classify/classifier';
import { normaliseIp } from '../../src/classify/address';
import type { LoopEvent } from '../../src/native';

const config = parseConfig(`
vhosts:
  gold: { hosts: [gold.test] }
  bronze: { hosts: [bronze.test] }
  iron: { addresses: ["127.0.0.2"] }
  steel: { hosts: [steel.test], addresses: ["127.0.0.2"] }
`);

function harness(over: Partial<SupervisorDeps> = {}) {
  const answers: { id: bigint; quiet: boolean; group?: string }[] = [];
  const moves: { pid: number; group: string }[] = [];
  const logs: string[] = [];
  const held = new Map<number, ConnectionInProcess[]>();
  const log = (lvl: string) => (_o: object, msg?: string) => logs.push(`${lvl}: ${msg}`);
  const deps: SupervisorDeps = {
    respond: (id, quiet, _retryMs, group) => (answers.push({ id, quiet, ...(group === undefined ? {} : { group }) }), true),
    classify: createClassifier(config),
    needsPeek: needsPeek(config),
    moveToGroup: (pid, group) => (moves.push({ pid, group }), true),
    connectionsOf: (pid) => held.get(pid) ?? [],
    normaliseIp: (ip) => normaliseIp(ip) ?? ip,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    ...over,
  };
  return { sup: new Supervisor(deps), answers, moves, logs, held, deps };
}

function harnessDeps(h: { deps: SupervisorDeps }): SupervisorDeps {
  return h.deps;
}

let nextId = 1n;
function read(pid: number, fd: number, inode: number, bytes: string, o: { ip?: string; port?: number; nonblocking?: boolean; peekResult?: number } = {}): LoopEvent {
  return {
    kind: 'read',
    needsVerdict: true,
    id: nextId++,
    pid,
    tid: pid,
    fd,
    syscall: 'read',
    socket: { isSocket: true, domain: 2, type: 1, listening: false, nonblocking: o.nonblocking ?? false, inode, local: { ip: o.ip ?? '127.0.0.1', port: o.port ?? 80 } },
    bytes: Buffer.from(bytes),
    peekResult: o.peekResult ?? bytes.length,
    waitedMs: 0,
  };
}

test('a Host header puts the process in its vhost and the fd goes quiet', (t) => {
  const h = harness();
  h.sup.handle({ kind: 'process', needsVerdict: false, pid: 10, tid: 10, ppid: 1 });
  h.sup.handle(read(10, 5, 1000, 'GET / HTTP/1.1\r\nHost: Gold.Test:8080\r\n\r\n'));
  t.deepEqual(h.moves, [{ pid: 10, group: 'gold' }]);
  t.is(h.answers.length, 1);
  t.true(h.answers[0].quiet);
  t.is(h.answers[0].group, 'gold', 'the loop is told which group the fd\'s read flag is');
  t.is(h.sup.tables.channel(1000)?.by, 'host');
  t.is(h.sup.counters.get('gold')?.connections, 1);
});

test('the local address makes the candidates; a name picks among them, else the one without names, else the default group', (t) => {
  const h = harness();
  h.sup.handle(read(10, 5, 1, 'GET / HTTP/1.1\r\nHost: bronze.test\r\n\r\n', { ip: '::ffff:127.0.0.2' }));
  h.sup.handle(read(11, 5, 2, 'GET / HTTP/1.1\r\nHost: steel.test\r\n\r\n', { ip: '::ffff:127.0.0.2' }));
  h.sup.handle(read(12, 5, 3, 'GET / HTTP/1.1\r\nHost: nobody.test\r\n\r\n', { ip: '127.0.0.9' }));
  h.sup.handle(read(13, 5, 4, 'GET / HTTP/1.1\r\nHost: steel.test\r\n\r\n', { ip: '127.0.0.9' }));
  t.deepEqual(h.moves.map((m) => m.group), ['iron', 'steel', DEFAULT_GROUP, DEFAULT_GROUP]);
});

test('no second move for a process already in the group; a new connection for another vhost moves it', (t) => {
  const h = harness();
  h.sup.handle({ kind: 'process', needsVerdict: false, pid: 10, tid: 10, ppid: 1 });
  h.sup.handle(read(10, 5, 1, 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n'));
  h.sup.handle({ kind: 'close', needsVerdict: false, pid: 10, fd: 5 });
  h.sup.handle(read(10, 5, 2, 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n'));
  h.sup.handle({ kind: 'close', needsVerdict: false, pid: 10, fd: 5 });
  h.sup.handle(read(10, 5, 3, 'GET / HTTP/1.1\r\nHost: bronze.test\r\n\r\n'));
  t.deepEqual(h.moves.map((m) => m.group), ['gold', 'bronze']);
  t.is(h.answers.length, 3);
});

test('an empty non-blocking read is answered without classifying, and asked again later', (t) => {
  const h = harness();
  h.sup.handle(read(10, 5, 1, '', { nonblocking: true, peekResult: -11 }));
  t.deepEqual(h.moves, []);
  t.is(h.answers.length, 1);
  t.false(h.answers[0].quiet);
  t.is(h.sup.stats.retries, 1);
});

test('fork-after-accept: the connection held at fork is recorded, and the child inherits it through dup2 and exec', (t) => {
  const h = harness();
  h.held.set(10, [{ fd: 4, inode: 77, local: { ip: '::ffff:127.0.0.2', port: 80 } }]);
  h.sup.handle({ kind: 'process', needsVerdict: false, pid: 10, tid: 10, ppid: 1 });
  h.sup.handle({ kind: 'fork', needsVerdict: true, id: 500n, pid: 10, tid: 10, accepts: 1 });
  t.deepEqual(h.answers, [{ id: 500n, quiet: false }]);
  t.is(h.sup.tables.channel(77)?.vhost, 'iron');
  t.is(h.sup.tables.channel(77)?.pid, 10);
  t.is(h.sup.tables.process(10)?.accepts, 1);
  h.sup.handle({ kind: 'process', needsVerdict: false, pid: 11, tid: 11, ppid: 10 });
  h.sup.handle({ kind: 'dup', needsVerdict: false, pid: 11, fd: 4, newFd: 0, syscall: 'dup2' });
  h.sup.handle({ kind: 'exec', needsVerdict: false, pid: 11, tid: 11 });
  // The request names a vhost of that address: the name wins over the one without names.
  h.sup.handle(read(11, 0, 77, 'GET / HTTP/1.0\r\nHost: steel.test\r\n\r\n', { ip: '::ffff:127.0.0.2' }));
  t.deepEqual(h.moves, [{ pid: 11, group: 'steel' }]);
  t.is(h.sup.tables.channel(77)?.pid, 10, 'the acceptor stays recorded');
  t.is(h.sup.counters.get('steel')?.connections, 1);
  t.is(h.sup.counters.get('iron'), undefined, 'the provisional address match is not counted');
  const snap = h.sup.tables.snapshot();
  t.deepEqual(snap.children, [{ parent: 10, children: [11] }]);
});

test('a classified connection read by another process reuses the name decision (no bytes left to peek)', (t) => {
  const h = harness();
  h.sup.handle(read(10, 5, 9, 'GET / HTTP/1.1\r\nHost: bronze.test\r\n\r\n'));
  h.sup.handle(read(11, 0, 9, ''));
  t.deepEqual(h.moves.map((m) => [m.pid, m.group]), [[10, 'bronze'], [11, 'bronze']]);
});

test('a failing move is logged and the syscall still continues', (t) => {
  const h = harness({
    moveToGroup: () => {
      throw new Error('EACCES');
    },
  });
  h.sup.handle(read(10, 5, 1, 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n'));
  t.is(h.answers.length, 1);
  t.is(h.sup.stats.moveErrors, 1);
  t.true(h.logs.some((l) => l.startsWith('warn: could not move')));
});

test('a policy exception fails open with exactly one answer', (t) => {
  const h = harness({
    classify: () => {
      throw new Error('boom');
    },
  });
  h.sup.handle(read(10, 5, 1, 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n'));
  t.deepEqual(h.answers.map((a) => a.quiet), [false]);
  t.is(h.sup.stats.failOpen, 1);
});

test('exit forgets the process, its fds and its parent edge; hup ends the run', async (t) => {
  const h = harness();
  h.sup.adoptRoot(1, '_server');
  h.sup.handle({ kind: 'process', needsVerdict: false, pid: 10, tid: 10, ppid: 1 });
  h.sup.handle(read(10, 5, 1, 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n'));
  h.sup.handle({ kind: 'exit', needsVerdict: false, pid: 10 });
  t.is(h.sup.tables.process(10), undefined);
  t.deepEqual(h.sup.tables.snapshot().children, []);
  h.sup.handle({ kind: 'hup', needsVerdict: false });
  t.is(await h.sup.whenDone(), 'hup');
});

test('a Host header cut short is peeked at again, within the first-byte budget, then classified', (t) => {
  const h = harness({ needsMoreBytes: (b) => needsMoreBytes(b, 4096), firstByteTimeoutMs: 1000 });
  const retries: (number | undefined)[] = [];
  const sup = new Supervisor({ ...harnessDeps(h), respond: (id, quiet, retryMs) => (retries.push(retryMs), h.answers.push({ id, quiet }), true) });
  const partial = read(10, 5, 1, 'GET / HTTP/1.1\r\nHo');
  sup.handle(partial);
  t.deepEqual(retries, [10]);
  t.deepEqual(h.moves, []);
  // The loop delivers the same notification again with more bytes.
  sup.handle({ ...read(10, 5, 1, 'GET / HTTP/1.1\r\nHost: bronze.test\r\n\r\n'), id: (partial as { id: bigint }).id });
  t.deepEqual(h.moves, [{ pid: 10, group: 'bronze' }]);
  t.is(retries[1], undefined);
  // Out of budget: classify with what there is (address, then default).
  const late = { ...read(11, 5, 2, 'GET / HTTP/1.1\r\nHo'), waitedMs: 1000 } as LoopEvent;
  sup.handle(late);
  t.is(h.moves[1].group, DEFAULT_GROUP);
  t.is(sup.stats.morePeeks, 1);
});

test('classifyEach request (read mode): a move the loop made for a later request updates the table, so the next connection of that vhost needs no move and one of the old vhost does', (t) => {
  const groups = ['gold', 'bronze', DEFAULT_GROUP, '_server'];
  const h = harness({ loopGroups: groups });
  h.sup.handle({ kind: 'process', needsVerdict: false, pid: 10, tid: 10, ppid: 1 });
  h.sup.handle(read(10, 5, 1, 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n'));
  t.deepEqual(h.moves, [{ pid: 10, group: 'gold' }]);
  // The second request on that connection was for bronze: the loop moved the process.
  h.sup.handle({
    kind: 'requests',
    needsVerdict: false,
    items: [{ pid: 10, group: 1, vhost: 1, by: 'host', detail: 'bronze.test', local: { ip: '127.0.0.1', port: 80 }, peer: { ip: '', port: 0 }, inode: 1, moved: true, heldMs: 0 }],
  });
  t.is(h.sup.tables.process(10)?.group, 'bronze');
  t.is(h.sup.counters.get('bronze')?.moves, 1, 'read mode counts the move here');
  t.is(h.sup.stats.requestMoves, 1);
  h.sup.handle(read(10, 6, 2, 'GET / HTTP/1.1\r\nHost: bronze.test\r\n\r\n'));
  t.is(h.moves.length, 1, 'already in bronze: no move');
  h.sup.handle(read(10, 7, 3, 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n'));
  t.deepEqual(h.moves[1], { pid: 10, group: 'gold' }, 'without the report the table would still say gold and skip this move');
  // A group index the policy does not know is ignored, not thrown on.
  h.sup.handle({ kind: 'requests', needsVerdict: false, items: [{ pid: 10, group: 99, vhost: -1, by: 'default', local: { ip: '', port: 0 }, peer: { ip: '', port: 0 }, inode: 3, moved: true, heldMs: 0 }] });
  t.is(h.sup.tables.process(10)?.group, 'gold');
});

test("the server's own connection (Apache's dummy request, confirmed natively) is charged to _server; other bytes never ask", (t) => {
  const asked: number[][] = [];
  const h = harness({ ownConnection: (_l, _p, _b, pids) => (asked.push(pids), true) });
  h.sup.adoptRoot(1, '_server');
  const dummy = 'OPTIONS * HTTP/1.0\r\nUser-Agent: Apache (internal dummy connection)\r\n\r\n';
  const ev = read(10, 5, 1, dummy, { ip: '127.0.0.2' }) as Extract<LoopEvent, { kind: 'read' }>;
  h.sup.handle({ ...ev, socket: { ...ev.socket, peer: { ip: '127.0.0.1', port: 40000 } } });
  t.deepEqual(h.moves, [{ pid: 10, group: '_server' }]);
  t.deepEqual(h.answers.map((a) => a.group), ['_server']);
  t.deepEqual(asked, [[1]], 'asked with the processes that never served a tenant');
  h.sup.handle(read(11, 5, 2, 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n'));
  t.is(asked.length, 1);
  // Not confirmed: classified like any request (127.0.0.2: iron, the vhost without names).
  const no = harness({ ownConnection: () => false });
  no.sup.handle({ ...ev, id: 999n, socket: { ...ev.socket, peer: { ip: '127.0.0.1', port: 40001 } } });
  t.deepEqual(no.moves, [{ pid: 10, group: 'iron' }]);
});
