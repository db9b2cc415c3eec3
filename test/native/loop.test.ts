// The native core against real children: the filter, the listener hand-off,
// the loop's events, its fast path, waiting for first bytes, fail-open
// timeouts, the keeper, and the typed errors. Needs root (CI runs as root).
import test from 'ava';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadNative, isNativeError, type LoopEvent, type NativeBinding, type NativeLoop } from '../../src/native';
import { reap } from '../../src/supervisor/reap';
import { SyscallError } from '../../src/errors';

const native = loadNative();
const defaultNative = native;
const PERL = '/usr/bin/perl';

interface Child {
  events: LoopEvent[];
  loop: NativeLoop;
  pid: number;
  listener: number;
  pidfd: number;
  output: () => string;
  done: Promise<{ code: number | null; signal: number | null }>;
}

/** Runs argv under the filter; onEvent decides verdicts (default: respond at once). `binding`: another addon than loadNative()'s. */
function runSupervised(
  argv: string[],
  opts: { onEvent?: (ev: LoopEvent, loop: NativeLoop) => void; loop?: object; keepListener?: boolean; binding?: NativeBinding } = {},
): Child {
  const native = opts.binding ?? defaultNative;
  const outFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-native-')), 'out');
  const out = fs.openSync(outFile, 'w');
  const r = native.spawn({ file: argv[0], argv, env: ['PATH=/usr/bin:/bin'], stdio: [null, out, out] });
  fs.closeSync(out);
  const events: LoopEvent[] = [];
  let resolveDone!: (s: { code: number | null; signal: number | null }) => void;
  const done = new Promise<{ code: number | null; signal: number | null }>((res) => (resolveDone = res));
  const loop: NativeLoop = new native.Loop(r.listener, { verdictTimeoutMs: 2000, firstByteTimeoutMs: 2000, peekBytes: 512, ...opts.loop }, (ev) => {
    events.push(ev);
    if (opts.onEvent) opts.onEvent(ev, loop);
    else if (ev.needsVerdict && ev.id !== undefined) loop.respond(ev.id, { kind: ev.kind === 'read' ? 'quiet' : 'continue' });
    if (ev.kind === 'exit' && ev.pid === r.pid) void reap(native, r.pidfd).then(resolveDone);
  });
  loop.addProcess(r.pid);
  loop.start();
  return { events, loop, pid: r.pid, listener: r.listener, pidfd: r.pidfd, output: () => fs.readFileSync(outFile, 'utf8'), done };
}

function cleanup(c: Child, binding: NativeBinding = native) {
  c.loop.stop();
  for (const fd of [c.listener, c.pidfd]) {
    try {
      binding.close(fd);
    } catch {
      /* closed */
    }
  }
}

/** A loopback server that writes `chunks` (with delays) to each client. */
async function server(chunks: { delayMs: number; data: string }[]): Promise<{ port: number; close: () => void }> {
  const srv = net.createServer(async (s) => {
    s.on('error', () => undefined);
    for (const c of chunks) {
      await new Promise((r) => setTimeout(r, c.delayMs));
      s.write(c.data);
    }
    s.end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

const perlClient = (port: number, reads: number) => [
  PERL,
  '-MIO::Socket::INET',
  '-e',
  `my $s = IO::Socket::INET->new("127.0.0.1:${port}") or die; for (1..${reads}) { my $n = sysread($s, my $b, 4096); last unless $n; print "[$b]"; }`,
];

test.serial('probe reports the features vhqos needs on this kernel', (t) => {
  const f = native.probe();
  t.true(f.userNotif);
  t.true(f.newListener);
  t.true(f.pidfdOpen);
  t.true(f.pidfdGetfd);
  t.is(typeof f.syncWakeup, 'boolean');
});

test.serial('native failures are one typed error with code, errno and syscall', (t) => {
  const err = t.throws(() => native.pidfdGetfd(-1, 0));
  t.true(isNativeError(err));
  t.is((err as any).code, 'EBADF');
  t.is((err as any).errno, -9);
  t.is((err as any).syscall, 'pidfd_getfd');
  const err2 = t.throws(() => native.spawn({ file: '/nonexistent/prog', argv: ['x'], env: [], cwd: '/nonexistent-dir' }));
  t.is((err2 as any).code, 'ENOENT');
});

test.serial('a first read of a connection becomes a read event with the peeked bytes, nothing consumed', async (t) => {
  const srv = await server([{ delayMs: 0, data: 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n' }]);
  const c = runSupervised(perlClient(srv.port, 1));
  const st = await c.done;
  cleanup(c);
  srv.close();
  t.is(st.code, 0);
  const reads = c.events.filter((e) => e.kind === 'read') as Extract<LoopEvent, { kind: 'read' }>[];
  t.is(reads.length, 1);
  const ev = reads[0];
  t.true(ev.needsVerdict);
  t.is(ev.pid, c.pid);
  t.is(ev.socket.peer?.port, srv.port);
  t.is(ev.socket.local?.ip, '127.0.0.1');
  t.true(ev.socket.inode > 0);
  t.true(ev.bytes.toString().includes('Host: gold.test'));
  // The peek did not consume: the child read the whole request itself.
  t.is(c.output(), '[GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n]');
});

test.serial('a quiet fd is answered on the fast path: one event for many reads', async (t) => {
  const chunks = Array.from({ length: 5 }, (_, i) => ({ delayMs: 30, data: `chunk${i}` }));
  const srv = await server(chunks);
  const c = runSupervised(perlClient(srv.port, 10));
  const st = await c.done;
  const stats = c.loop.stats();
  cleanup(c);
  srv.close();
  t.is(st.code, 0);
  t.is(c.output().replace(/[[\]]/g, ''), chunks.map((x) => x.data).join(''));
  t.is(c.events.filter((e) => e.kind === 'read').length, 1);
  t.true(stats.fast >= 5, `fast path answered ${stats.fast}`);
  t.is(stats.timeouts, 0);
});

test.serial('a blocking first read waits for the first bytes in the loop, not in the target', async (t) => {
  const srv = await server([{ delayMs: 400, data: 'GET / HTTP/1.0\r\nHost: late.test\r\n\r\n' }]);
  const c = runSupervised(perlClient(srv.port, 1));
  await c.done;
  const stats = c.loop.stats();
  cleanup(c);
  srv.close();
  const ev = c.events.find((e) => e.kind === 'read') as Extract<LoopEvent, { kind: 'read' }>;
  t.truthy(ev);
  t.true(ev.waitedMs >= 300, `waited ${ev.waitedMs} ms`);
  t.true(ev.bytes.toString().includes('late.test'));
  t.is(stats.parked, 1);
});

test.serial('no verdict in time: the loop answers CONTINUE itself and reports a timeout', async (t) => {
  const srv = await server([{ delayMs: 0, data: 'hello' }]);
  const c = runSupervised(perlClient(srv.port, 1), { onEvent: () => undefined, loop: { verdictTimeoutMs: 200 } });
  const st = await c.done;
  const stats = c.loop.stats();
  cleanup(c);
  srv.close();
  t.is(st.code, 0);
  t.is(c.output(), '[hello]');
  t.is(stats.timeouts, 1);
  t.truthy(c.events.find((e) => e.kind === 'timeout'));
});

test.serial('a late respond after a timeout is refused: exactly one answer per notification', async (t) => {
  const srv = await server([{ delayMs: 0, data: 'x' }]);
  let late: boolean | undefined;
  const c = runSupervised(perlClient(srv.port, 1), {
    loop: { verdictTimeoutMs: 100 },
    onEvent: (ev, loop) => {
      if (ev.kind === 'read') setTimeout(() => (late = loop.respond(ev.id, { kind: 'quiet' })), 400);
    },
  });
  await c.done;
  await new Promise((r) => setTimeout(r, 500));
  cleanup(c);
  srv.close();
  t.is(late, false);
});

test.serial('process, exec and exit events trace the process tree; forks are never trapped', async (t) => {
  const c = runSupervised(['/bin/sh', '-c', '/bin/true; exit 7']);
  const st = await c.done;
  await new Promise((r) => setTimeout(r, 100));
  cleanup(c);
  t.is(st.code, 7);
  const child = c.events.find((e) => e.kind === 'process') as Extract<LoopEvent, { kind: 'process' }>;
  t.truthy(child);
  t.is(child.ppid, c.pid);
  // The child was found at its first trapped syscall (its exec), its parent read from /proc.
  t.falsy(c.events.find((e) => e.kind === 'fork'), 'a fork that waited could return EINTR');
  t.truthy(c.events.find((e) => e.kind === 'exec' && e.pid === child.pid));
  t.truthy(c.events.find((e) => e.kind === 'exit' && e.pid === child.pid));
});

test.serial('when the supervisor lets go, the keeper answers: the server never sees ENOSYS', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-keeper-'));
  fs.writeFileSync(path.join(dir, 'in'), 'payload');
  const outFile = path.join(dir, 'out');
  const out = fs.openSync(outFile, 'w');
  // Sleeps first, so every trapped syscall after it happens with no supervisor loop.
  const r = native.spawn({ file: '/bin/sh', argv: ['sh', '-c', `sleep 0.5; cat ${dir}/in; echo; exec 3<${dir}/in; cat <&3`], env: ['PATH=/usr/bin:/bin'], stdio: [null, out, out] });
  fs.closeSync(out);
  const keeper = native.startKeeper(r.listener);
  const loop = new native.Loop(r.listener, {}, (ev) => {
    if (ev.needsVerdict && ev.id !== undefined) loop.respond(ev.id, { kind: 'continue' });
  });
  loop.addProcess(r.pid);
  loop.start();
  await new Promise((res) => setTimeout(res, 100));
  loop.stop();
  native.close(r.listener);
  native.close(keeper.pipeFd); // as if vhqos died
  let st = null;
  for (let i = 0; i < 100 && !st; i++) {
    await new Promise((res) => setTimeout(res, 50));
    st = native.waitExit(r.pidfd);
  }
  native.close(r.pidfd);
  t.deepEqual(st, { code: 0, signal: null });
  t.is(fs.readFileSync(outFile, 'utf8'), 'payload\npayload');
});

// The table the keeper reads (pending_ids.h): ids held, then the last id
// received, then a flag. A keeper of an older vhqos has no room for the
// last two: the loop must leave that table's size alone (touching past its
// end would be SIGBUS, here for the whole test process).
const SLOTS_BYTES = 16384 * 8;
const TABLES = [
  ['the loop records each id it receives in the keeper\'s table before it handles it (the keeper answers it if vhqos dies in between)', SLOTS_BYTES + 16],
  ['an older keeper\'s table, with no room for the last id received, is used as it is: nothing written past its end', SLOTS_BYTES],
] as const;
for (const [title, size] of TABLES) {
  test.serial(title, async (t) => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-pending-')), 'table');
    fs.writeFileSync(file, Buffer.alloc(size));
    const fd = fs.openSync(file, 'r+');
    const c = runSupervised(['/bin/sh', '-c', 'read -r x < /etc/hostname; echo done'], { loop: { pendingFd: fd } });
    const st = await c.done;
    cleanup(c);
    fs.closeSync(fd);
    t.deepEqual(st, { code: 0, signal: null });
    t.is(c.output(), 'done\n');
    const table = fs.readFileSync(file);
    t.is(table.length, size, 'the table keeps its size');
    if (size > SLOTS_BYTES) {
      t.true(table.readBigUInt64LE(SLOTS_BYTES) !== 0n || table.readBigUInt64LE(SLOTS_BYTES + 8) === 1n, 'an id was recorded');
      t.is(table.readBigUInt64LE(SLOTS_BYTES + 8), 1n, 'marked as set');
    }
    t.true(table.subarray(0, SLOTS_BYTES).every((b) => b === 0), 'nothing is left held once every notification is answered');
  });
}

test.serial('a verdict can ask to peek again: the same notification comes back with more bytes', async (t) => {
  const srv = await server([
    { delayMs: 0, data: 'GET / HTTP/1.1\r\nHo' },
    { delayMs: 150, data: 'st: gold.test\r\n\r\n' },
  ]);
  const seen: Buffer[] = [];
  const c = runSupervised(perlClient(srv.port, 3), {
    onEvent: (ev, loop) => {
      if (ev.kind !== 'read') return;
      seen.push(ev.bytes);
      loop.respond(ev.id, ev.bytes.toString().includes('\r\n\r\n') ? { kind: 'quiet' } : { kind: 'peekAgain', retryMs: 20 });
    },
  });
  const st = await c.done;
  cleanup(c);
  srv.close();
  t.is(st.code, 0);
  t.true(seen.length >= 2, `events: ${seen.length}`);
  t.is(seen[0].toString(), 'GET / HTTP/1.1\r\nHo');
  t.is(seen[seen.length - 1].toString(), 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n');
  t.is(c.output().replace(/[[\]]/g, ''), 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n');
});

/** prebuilds/ as an installed package sees it (no build/ beside it), so node-gyp-build picks the prebuild. */
function prebuildOnlyRoot(): string {
  const root = path.resolve(__dirname, '..', '..', '..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-prebuild-'));
  fs.symlinkSync(path.join(root, 'prebuilds'), path.join(dir, 'prebuilds'));
  return dir;
}

test.serial('the shipped prebuild has the same surface as the addon built from these sources', (t) => {
  const root = path.resolve(__dirname, '..', '..', '..');
  const shipped = require(path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'vhqos.node')) as Record<string, unknown>;
  const built = require(path.join(root, 'build', 'Release', 'vhqos.node')) as Record<string, unknown>;
  t.deepEqual(Object.keys(shipped).sort(), Object.keys(built).sort(), 'rebuild prebuilds/ (npm run prebuildify) after changing native/');
  const proto = (m: Record<string, unknown>) => Object.getOwnPropertyNames((m.Loop as { prototype: object }).prototype).sort();
  t.deepEqual(proto(shipped), proto(built));
});

test.serial('the shipped prebuild, loaded by node-gyp-build, supervises a child: its trapped read is answered by the prebuilt loop', async (t) => {
  const dir = prebuildOnlyRoot();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const gypBuild = require('node-gyp-build') as { (dir: string): unknown; path(dir: string): string };
  const file = fs.realpathSync(gypBuild.path(dir));
  t.is(file, fs.realpathSync(path.resolve(__dirname, '..', '..', '..', 'prebuilds', `${process.platform}-${process.arch}`, 'vhqos.node')));
  const prebuilt = gypBuild(dir) as NativeBinding & { setErrorClass(c: typeof SyscallError): void };
  prebuilt.setErrorClass(SyscallError); // as loadNative() does
  t.not(prebuilt, native, 'a second addon instance, not the one built from source');
  const srv = await server([{ delayMs: 0, data: 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n' }]);
  const c = runSupervised(perlClient(srv.port, 1), { binding: prebuilt });
  const st = await c.done;
  const stats = c.loop.stats();
  cleanup(c, prebuilt);
  srv.close();
  t.is(st.code, 0);
  const reads = c.events.filter((e) => e.kind === 'read') as Extract<LoopEvent, { kind: 'read' }>[];
  t.is(reads.length, 1, JSON.stringify(c.events.map((e) => e.kind)));
  t.is(reads[0].pid, c.pid);
  t.true(reads[0].bytes.toString().includes('Host: gold.test'));
  t.is(stats.timeouts, 0);
  t.is(c.output(), '[GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n]');
});

test.serial('a client that closes with its request cut short is decided at once, not after the retry budget', async (t) => {
  const srv = await server([{ delayMs: 0, data: 'GET / HTTP/1.1\r\nHo' }]); // then closes
  const seen: Extract<LoopEvent, { kind: 'read' }>[] = [];
  const c = runSupervised(perlClient(srv.port, 3), {
    onEvent: (ev, loop) => {
      if (ev.kind !== 'read') return;
      seen.push(ev);
      // Ask for more after 800 ms; the peer has closed, so the loop answers back now.
      loop.respond(ev.id, seen.length === 1 ? { kind: 'peekAgain', retryMs: 800 } : { kind: 'quiet' });
    },
  });
  const st = await c.done;
  cleanup(c);
  srv.close();
  t.is(st.code, 0);
  t.true(seen.length >= 2, `events: ${seen.length}`);
  const last = seen[seen.length - 1];
  t.true(last.peerClosed, 'the loop saw the client leave');
  t.true(last.waitedMs < 500, `decided after ${last.waitedMs} ms, not the 800 ms asked for`);
});

test.serial('a blocking first read never outlasts the socket\'s own SO_RCVTIMEO: it fails with EAGAIN on time', async (t) => {
  const srv = await server([{ delayMs: 5000, data: 'late' }]); // silent for longer than both budgets
  const client = [
    PERL,
    '-MIO::Socket::INET',
    '-MSocket',
    '-MTime::HiRes=time',
    '-e',
    `my $s = IO::Socket::INET->new("127.0.0.1:${srv.port}") or die; setsockopt($s, SOL_SOCKET, SO_RCVTIMEO, pack("l!l!", 1, 0)) or die; ` +
      `my $t0 = time; my $n = sysread($s, my $b, 100); printf("%s %.2f", defined $n ? "got" : ($!{EAGAIN} ? "EAGAIN" : "err $!"), time - $t0);`,
  ];
  const c = runSupervised(client, { loop: { firstByteTimeoutMs: 3000 } });
  const st = await c.done;
  cleanup(c);
  srv.close();
  t.is(st.code, 0);
  const [what, secs] = c.output().split(' ');
  t.is(what, 'EAGAIN', c.output());
  t.true(Number(secs) >= 0.9 && Number(secs) < 1.8, `the read timed out after ${secs} s (SO_RCVTIMEO 1 s, first-byte budget 3 s)`);
});

test.serial('the loop owns the read flags and fd copies: set by a quiet verdict, carried by dup2, reset by close and exec', async (t) => {
  const srv = await server([{ delayMs: 0, data: 'GET / HTTP/1.1\r\nHost: gold.test\r\n\r\n' }, { delayMs: 3000, data: '' }]);
  const client = [
    PERL,
    '-MIO::Socket::INET',
    '-MPOSIX',
    '-e',
    `$| = 1; my $s = IO::Socket::INET->new("127.0.0.1:${srv.port}") or die; sysread($s, my $b, 4096); ` +
      `printf("fd %d\\n", fileno($s)); POSIX::dup2(fileno($s), 9) or die; print "A\\n"; select(undef, undef, undef, 0.8); ` +
      `close($s); print "B\\n"; select(undef, undef, undef, 0.8); exec("/bin/sleep", "0.8");`,
  ];
  let inode = 0;
  const c = runSupervised(client, {
    onEvent: (ev, loop) => {
      if (ev.kind === 'read') {
        inode = ev.socket.inode;
        loop.respond(ev.id, { kind: 'quiet', group: 1 });
      } else if (ev.needsVerdict && ev.id !== undefined) loop.respond(ev.id, { kind: 'continue' });
    },
  });
  // Perl's start-up alone can take seconds in the emulated VM: wait for the marker, not a fixed time.
  const until = async (marker: string) => {
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline && !c.output().includes(marker)) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
  };
  const mine = () => {
    const tb = c.loop.fdTables();
    return { flags: tb.readFlags.filter((f) => f.pid === c.pid), copies: tb.fdCopies.filter((f) => f.pid === c.pid) };
  };
  await until('A\n');
  const fd = Number(/fd (\d+)/.exec(c.output())?.[1]);
  const a = mine();
  t.deepEqual(a.flags.map((f) => [f.fd, f.group, f.inode]).sort(), [[fd, 1, inode], [9, 1, inode]], 'dup2 carries the read flag');
  t.deepEqual(a.copies.map((x) => [x.fd, x.newFd, x.syscall]), [[fd, 9, 'dup2']]);
  await until('B\n');
  const b = mine();
  t.deepEqual(b.flags.map((f) => f.fd), [9], 'close resets its fd only');
  t.deepEqual(b.copies, [], 'and forgets its copies');
  await new Promise((r) => setTimeout(r, 1000)); // past the exec (0.8 s after B), before sleep ends
  t.deepEqual(mine().flags, [], 'exec resets them all');
  await c.done;
  cleanup(c);
  srv.close();
});
