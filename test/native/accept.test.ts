// Classification at accept, against the real kernel: a fork-before-accept
// Python server (test/fixtures/servers/prefork.py) under the accept trap set;
// the native loop accepts on its copy of the listener, classifies, moves the
// parked worker into the vhost's cgroup and hands the connection over as the
// worker's accept result. Each response reports what the worker saw (its
// cgroup, the peer address accept returned, the fd's flags). Needs root;
// runs on the host (cgroup v1) and in the cgroup v2 VM.
import test from 'ava';
import * as net from 'node:net';
import { loadNative, type VhostTableSpec } from '../../src/native';
import { VHQOS_NOTIFY_SYSCALLS } from '../../src/oci/seccomp-transform';
import { parseCgroupBody, servedBy } from '../helpers/client';
import { pickPort } from '../helpers/proc';
import { startNativeServer, type NativeServer } from '../helpers/native-server';

const native = loadNative();
const GROUPS = ['gold', 'bronze', 'gold-ip', 'bronze-ip', '_default', '_server'];
// Name-based gold and bronze on every address; IP-based gold-ip and bronze-ip (no names: every connection to them).
const TABLE: VhostTableSpec = {
  vhosts: [
    { name: 'gold', hosts: ['gold.test', '*.gold.test'] },
    { name: 'bronze', hosts: ['bronze.test'] },
    { name: 'gold-ip', addresses: [{ ip: '127.0.0.2' }] },
    { name: 'bronze-ip', addresses: [{ ip: '127.0.0.3' }] },
  ],
  listeners: [],
  defaultListenerMode: 'name',
  peekBytes: 1024,
};

type Server = NativeServer;

async function startServer(opts: { children: number; mode: 'blocking' | 'nonblocking'; table?: VhostTableSpec; firstByteTimeoutMs?: number; host?: string }): Promise<Server> {
  const port = await pickPort(['127.0.0.1', '127.0.0.2', '127.0.0.3'], 19100, 19199);
  return startNativeServer({
    name: 'accept',
    script: 'prefork.py',
    args: [opts.host ?? '0.0.0.0', String(port), String(opts.children), opts.mode],
    port,
    traps: 'accept',
    groups: GROUPS,
    loop: { firstByteTimeoutMs: opts.firstByteTimeoutMs ?? 2000, vhostTable: opts.table ?? TABLE },
  });
}

interface Report {
  pid: number;
  cgroup: string;
  peer: [string, number];
  getpeername: [string, number];
  cloexec: boolean;
  nonblock: boolean;
  request: string;
  eagain: number;
  tenant?: { accepted: boolean; cgroup: string; pid: number };
}

/** One request; resolves with the worker's report and the client's own local port. */
function request(ip: string, port: number, chunks: { data: string; delayMs?: number }[], timeoutMs = 10000): Promise<{ report: Report; localPort: number; localIp: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: ip, port });
    let buf = Buffer.alloc(0);
    let localPort = 0;
    let localIp = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${ip}:${port} in ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', async () => {
      localPort = s.localPort ?? 0;
      localIp = s.localAddress ?? '';
      for (const c of chunks) {
        if (c.delayMs) await new Promise((r) => setTimeout(r, c.delayMs));
        s.write(c.data);
      }
    });
    s.on('data', (d) => (buf = Buffer.concat([buf, d])));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      const text = buf.toString();
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      try {
        resolve({ report: JSON.parse(body) as Report, localPort, localIp });
      } catch {
        reject(new Error(`bad answer: ${JSON.stringify(text)}`));
      }
    });
  });
}

const get = (host: string) => [{ data: `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n` }];
const group = (cg: string) => servedBy(parseCgroupBody(cg.split('\n').map((l) => (l ? `cgroup: ${l}` : '')).join('\n')));

test.serial('each connection is classified at accept and served from its vhost cgroup; the worker gets the real peer address and flags', async (t) => {
  const srv = await startServer({ children: 3, mode: 'blocking' });
  try {
    const check = async (ip: string, host: string, want: string) => {
      const { report, localPort, localIp } = await request(ip, srv.port, get(host));
      t.is(group(report.cgroup), want, `${ip} ${host}`);
      t.is(report.request, 'GET / HTTP/1.1');
      // accept's own address result is the client's: written into the worker by vhqos.
      t.deepEqual(report.peer, [localIp, localPort]);
      t.deepEqual(report.getpeername, [localIp, localPort]);
      t.true(report.cloexec, 'SOCK_CLOEXEC honoured');
      t.false(report.nonblock);
      await new Promise((r) => setTimeout(r, 20)); // let the worker park again: affinity is then exact
    };
    for (let i = 0; i < 3; i++) {
      for (const [ip, host, want] of [
        ['127.0.0.1', 'gold.test', 'gold'],
        ['127.0.0.1', 'bronze.test', 'bronze'],
        ['127.0.0.1', 'www.gold.test', 'gold'],
        ['127.0.0.1', 'nobody.test', '_default'],
        ['127.0.0.1', 'bronze.test', 'bronze'],
        ['127.0.0.1', 'nobody.test', '_default'],
      ] as const) {
        await check(ip, host, want);
      }
    }
    const s = srv.loop.stats();
    t.is(s.accept!.handovers, 18);
    t.is(s.timeouts, 0);
    // Three workers, three groups in turn: the dispatcher prefers a worker already in the
    // connection's cgroup, so after the first round (3 moves) hardly any are needed.
    await new Promise((r) => setTimeout(r, 100));
    t.true(s.accept!.moves <= 6, `moves ${s.accept!.moves} of 18 ${JSON.stringify(srv.handovers.map((h) => [h.pid, h.group, h.moved]))}`);
    t.true(s.accept!.noMoveNeeded > 0);
    // Latencies cover connections whose bytes were there at accept; the rest waited (held) for their client.
    t.is(s.accept!.handoverUs.count + s.accept!.handoverMovedUs.count + s.accept!.held, 18);
    await new Promise((r) => setTimeout(r, 100)); // the last batch
    t.is(srv.handovers.length, 18, JSON.stringify(srv.events.filter((e) => e.kind === "handovers").map((e) => (e as any).items.length)));
    t.deepEqual(
      srv.handovers.slice(0, 4).map((h) => [h.group, h.by, h.detail]),
      [
        [0, 'host', 'gold.test'],
        [1, 'host', 'bronze.test'],
        [0, 'host', 'www.gold.test'],
        [4, 'default', 'nobody.test'],
      ],
    );
    t.true(srv.handovers.every((h) => h.inode > 0 && h.peer.port > 0));
    // IP-based vhosts take every connection to their address, whatever its Host.
    for (const [ip, host, want] of [
      ['127.0.0.2', 'nobody.test', 'gold-ip'],
      ['127.0.0.3', 'bronze.test', 'bronze-ip'],
      ['127.0.0.2', 'gold.test', 'gold-ip'],
    ] as const) {
      await check(ip, host, want);
    }
    // Only accept is trapped: no read, fork or exec ever reached the loop.
    t.false(srv.events.some((e) => e.kind === 'read' || e.kind === 'fork' || e.kind === 'exec'));
  } finally {
    await srv.stop();
  }
});

test.serial('a connection waiting for its first bytes occupies no worker; a client that leaves is forgotten at once', async (t) => {
  const srv = await startServer({ children: 1, mode: 'blocking', firstByteTimeoutMs: 3000 });
  try {
    // A silent client, then one that sends at once: the single worker serves the second first.
    const slow = request('127.0.0.1', srv.port, [{ data: 'GET / HTTP/1.1\r\nHost: bronze.test\r\n\r\n', delayMs: 600 }]);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const fast = await request('127.0.0.1', srv.port, get('gold.test'));
    t.true(Date.now() - t0 < 500, `served in ${Date.now() - t0} ms while another connection was held`);
    t.is(group(fast.report.cgroup), 'gold');
    const late = await slow;
    t.is(group(late.report.cgroup), 'bronze', 'classified by the Host that came later');
    // A request cut short, then the client closes: dropped at once, never handed over.
    const before = srv.loop.stats().accept!;
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: srv.port }, () => s.end('GET / HTTP/1.1\r\nHo'));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    await new Promise((r) => setTimeout(r, 200));
    const after = srv.loop.stats().accept!;
    t.is(after.dropped, before.dropped + 1);
    t.is(after.handovers, before.handovers);
    t.is(after.heldNow, 0);
    // The worker is free at once.
    const t1 = Date.now();
    t.is(group((await request('127.0.0.1', srv.port, get('bronze.test'))).report.cgroup), 'bronze');
    t.true(Date.now() - t1 < 500);
    t.true(after.held >= 2);
  } finally {
    await srv.stop();
  }
});

test.serial('first bytes that never come: classified by address after firstByteTimeoutMs, then served', async (t) => {
  const srv = await startServer({ children: 2, mode: 'blocking', firstByteTimeoutMs: 300 });
  try {
    const r = await request('127.0.0.2', srv.port, [{ data: 'GET / HTTP/1.1\r\nHost: bronze.test\r\n\r\n', delayMs: 800 }]);
    // Handed over unclassified by name after 300 ms: by address, 127.0.0.2 is gold-ip.
    t.is(group(r.report.cgroup), 'gold-ip');
    t.is(srv.loop.stats().accept!.heldTimeouts, 1);
  } finally {
    await srv.stop();
  }
});

test.serial('non-blocking listener: an accept with nothing queued gets EAGAIN, never an unclassified connection', async (t) => {
  const srv = await startServer({ children: 2, mode: 'nonblocking' });
  try {
    const seen: Report[] = [];
    for (const host of ['gold.test', 'bronze.test', 'gold.test', 'bronze.test']) {
      const { report } = await request('127.0.0.1', srv.port, get(host));
      t.is(group(report.cgroup), host.split('.')[0]);
      seen.push(report);
    }
    const s = srv.loop.stats().accept!;
    t.is(s.handovers, 4);
    // Both workers wake from select for each connection; the one that loses gets EAGAIN.
    t.true(s.eagain >= 1, `eagain ${s.eagain}`);
    t.is(seen.length, 4);
  } finally {
    await srv.stop();
  }
});

test.serial('tenant code is never classified: a worker\'s child that accepts on its own socket stays in its tenant\'s cgroup', async (t) => {
  const srv = await startServer({ children: 1, mode: 'blocking' });
  try {
    const { report } = await request('127.0.0.1', srv.port, [{ data: 'GET /tenant HTTP/1.1\r\nHost: bronze.test\r\n\r\n' }]);
    t.is(group(report.cgroup), 'bronze');
    t.truthy(report.tenant);
    t.true(report.tenant!.accepted, 'its accept worked');
    // It connected to itself with "Host: gold.test": still bronze's.
    t.is(group(report.tenant!.cgroup), 'bronze');
    t.true(srv.loop.stats().accept!.tenantAccepts >= 1);
    t.is(srv.loop.stats().accept!.handovers, 1);
  } finally {
    await srv.stop();
  }
});

test.serial('trap sets: accept mode traps only accept; no mode traps the fork family; containers get the read set', (t) => {
  t.deepEqual(native.trappedSyscalls.accept, ['accept', 'accept4']);
  t.true(native.trappedSyscalls.read.includes('read'));
  t.true(native.trappedSyscalls.read.includes('fcntl'));
  for (const set of [native.trappedSyscalls.read, native.trappedSyscalls.accept])
    for (const f of ['clone', 'clone3', 'fork', 'vfork']) t.false(set.includes(f), f);
  // One list: the OCI profile transformation sends containers exactly the read set.
  t.deepEqual([...VHQOS_NOTIFY_SYSCALLS].sort(), [...native.trappedSyscalls.read].sort());
});
