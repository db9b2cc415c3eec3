// The agent's listener thread (native/agent_listener.h) on a real unix
// socket: each peer within its own deadline, the message size cap, the cap
// on peers read at once, stop() joining the thread with peers mid-message
// (their fds closed), and an exception thrown by the JS handler reaching
// the process' uncaughtException handling instead of vanishing.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadNative, type NativeAgentListener, type ReceivedMessage } from '../../src/native';
import { repoRoot } from '../helpers/paths';

const native = loadNative();

interface Harness {
  sock: string;
  got: ReceivedMessage[];
  listener: NativeAgentListener;
  close(): void;
}

function listen(limits: { peerTimeoutMs: number; maxBytes: number; maxPeers: number }): Harness {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vq-listener-'));
  const sock = path.join(dir, 'a.sock');
  const fd = native.unixListen(sock, 0o600, 16);
  const got: ReceivedMessage[] = [];
  const listener = new native.AgentListener(fd, limits, (err, m) => {
    if (err) throw err;
    got.push(m!);
    native.close(m!.connFd);
  });
  return {
    sock,
    got,
    listener,
    close() {
      listener.stop();
      native.close(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const connect = (sock: string) =>
  new Promise<net.Socket>((resolve, reject) => {
    const c = net.connect(sock, () => resolve(c));
    c.once('error', reject);
  });

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

test.serial('every peer has its own deadline: silent peers delay nobody; what a late peer sent is delivered incomplete', async (t) => {
  const h = listen({ peerTimeoutMs: 800, maxBytes: 1024, maxPeers: 16 });
  try {
    const silent = await Promise.all(Array.from({ length: 8 }, () => connect(h.sock)));
    silent.forEach((c) => c.on('error', () => undefined));
    const late = await connect(h.sock);
    late.write('{"half":');
    const t0 = Date.now();
    const c = await connect(h.sock);
    c.end('{"vhqos":"list"} trailing');
    t.true(await until(() => h.got.length === 1, 500), 'a whole message goes through at once');
    t.true(Date.now() - t0 < 500, `${Date.now() - t0} ms`);
    t.deepEqual(h.got[0].data.toString(), '{"vhqos":"list"} trailing');
    t.true(h.got[0].complete);
    t.false(h.got[0].timedOut);
    t.is(h.got[0].uid, process.getuid!());
    t.is(h.got[0].pid, process.pid);
    t.is(h.listener.stats().peers, 9);
    t.true(await until(() => h.got.length === 10, 3000), 'the others are cut off after their time');
    const cut = h.got.find((m) => m.data.length > 0 && !m.complete)!;
    t.is(cut.data.toString(), '{"half":');
    t.true(cut.timedOut);
    const s = h.listener.stats();
    t.is(s.timeouts, 9);
    t.is(s.accepted, 10);
    t.is(s.peers, 0);
  } finally {
    h.close();
  }
});

test.serial('a message stops at maxBytes (complete false, counted as oversized); EOF ends one early', async (t) => {
  const h = listen({ peerTimeoutMs: 2000, maxBytes: 100, maxPeers: 4 });
  try {
    const big = await connect(h.sock);
    big.on('error', () => undefined);
    big.write(`{"pad":"${'x'.repeat(500)}"}`);
    t.true(await until(() => h.got.length === 1, 1000));
    t.is(h.got[0].data.length, 100);
    t.false(h.got[0].complete);
    t.is(h.listener.stats().oversized, 1);
    (await connect(h.sock)).end('hello');
    t.true(await until(() => h.got.length === 2, 1000));
    t.is(h.got[1].data.toString(), 'hello');
    t.false(h.got[1].complete);
    t.false(h.got[1].timedOut);
  } finally {
    h.close();
  }
});

test.serial('maxPeers: beyond it peers wait in the backlog until a slot frees', async (t) => {
  const h = listen({ peerTimeoutMs: 600, maxBytes: 1024, maxPeers: 2 });
  try {
    const silent = await Promise.all([connect(h.sock), connect(h.sock)]);
    silent.forEach((c) => c.on('error', () => undefined));
    await until(() => h.listener.stats().peers === 2, 1000);
    const t0 = Date.now();
    (await connect(h.sock)).end('{}'); // the kernel accepts it into the backlog
    t.true(await until(() => h.got.some((m) => m.complete), 3000));
    t.true(Date.now() - t0 >= 400, `waited for a slot: ${Date.now() - t0} ms`);
  } finally {
    h.close();
  }
});

test.serial('stop() joins the thread with peers mid-message: their connections and fds are closed, nothing arrives after', async (t) => {
  const h = listen({ peerTimeoutMs: 60000, maxBytes: 1024, maxPeers: 8 });
  const peers = await Promise.all(Array.from({ length: 3 }, () => connect(h.sock)));
  peers.forEach((c) => {
    c.on('error', () => undefined);
    c.write('{"partial":');
  });
  await until(() => h.listener.stats().peers === 3, 1000);
  const closed = peers.map((c) => new Promise((r) => c.once('close', r)));
  const t0 = Date.now();
  h.listener.stop();
  t.true(Date.now() - t0 < 200, `joined in ${Date.now() - t0} ms`);
  t.false(h.listener.stats().running);
  h.listener.stop(); // idempotent
  await Promise.all(closed);
  t.is(h.got.length, 0);
  h.close();
});

test.serial('an exception thrown by the handler reaches process uncaughtException', (t) => {
  const script = `
    const fs = require('fs'), net = require('net'), os = require('os'), path = require('path');
    const { loadNative } = require(${JSON.stringify(path.join(repoRoot(), 'dist', 'src', 'native.js'))});
    const native = loadNative();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vq-listener-'));
    const sock = path.join(dir, 'a.sock');
    const fd = native.unixListen(sock, 0o600, 16);
    const l = new native.AgentListener(fd, { peerTimeoutMs: 1000, maxBytes: 1024, maxPeers: 4 }, (err, m) => {
      native.close(m.connFd);
      throw new Error('handler bug ' + m.data.toString());
    });
    process.on('uncaughtException', (e) => {
      console.log('caught: ' + e.message);
      l.stop(); native.close(fd); fs.rmSync(dir, { recursive: true, force: true });
    });
    net.connect(sock, function () { this.end('{"x":1}'); });
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'caught: handler bug {"x":1}');
  t.notRegex(r.stderr, /DEP0168/);
});
