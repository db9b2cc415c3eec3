// Type=notify readiness of `vhqos agent`: READY=1 reaches $NOTIFY_SOCKET once
// the agent's socket listens. The service manager is played by socat
// receiving datagrams on a socket of our own (systemd is not PID 1 here);
// the message is sent by the real systemd-notify.
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { notifyReady } from '../../src/systemd/notify';
import { repoRoot } from '../helpers/paths';
import { requires, root, tools } from '../helpers/requires';

const BIN = path.join(repoRoot(), 'bin', 'vhqos.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Root, socat and systemd-notify (scripts/install-test-deps.sh). */
const needing = () => requires(root(), ...tools('socat', 'systemd-notify'));

/** A datagram socket that prints what it receives, as PID 1's notify socket would take it. */
async function fakeManager(dir: string) {
  const sock = path.join(dir, 'notify');
  const child = spawn('socat', ['-u', `UNIX-RECV:${sock}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let got = '';
  child.stdout!.on('data', (d) => (got += d));
  for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await sleep(20);
  return { sock, got: () => got, stop: () => child.kill('SIGTERM') };
}

test('without $NOTIFY_SOCKET nothing is sent', async (t) => {
  const env: NodeJS.ProcessEnv = {};
  t.is(await notifyReady('x', { env }), 'not-under-systemd');
});

test('a notifier that cannot run is logged, not thrown, and the variable is gone all the same', async (t) => {
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/nonexistent/notify' };
  const warnings: string[] = [];
  const logger = { info: () => undefined, warn: (_o: object, m: string) => void warnings.push(m) };
  t.is(await notifyReady('x', { env, command: '/nonexistent/systemd-notify', logger }), 'failed');
  t.is(env.NOTIFY_SOCKET, undefined);
  t.regex(warnings.join('\n'), /could not tell systemd/);
});

needing().serial('systemd-notify --ready reaches the notify socket with the status', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-notify-'));
  const m = await fakeManager(dir);
  try {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, NOTIFY_SOCKET: m.sock };
    const sent = notifyReady('listening on /x', { env });
    for (let i = 0; i < 100 && !/READY=1/.test(m.got()); i++) await sleep(50);
    t.regex(m.got(), /READY=1/);
    t.regex(m.got(), /STATUS=listening on \/x/);
    m.stop(); // the barrier systemd-notify waits on closes with it
    t.is(await sent, 'sent');
  } finally {
    m.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

needing().serial('vhqos agent sends READY=1 when its socket listens', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-notify-'));
  const m = await fakeManager(dir);
  const socket = path.join(dir, 'agent.sock');
  // Its own run dir: this agent must not take over anyone else's containers.
  const env = { ...process.env, NOTIFY_SOCKET: m.sock, VHQOS_RUN_DIR: path.join(dir, 'run') };
  const agent = spawn(process.execPath, [BIN, 'agent', '--socket', socket], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  agent.stderr!.on('data', (d) => (log += d));
  const exited = new Promise((r) => agent.once('exit', r));
  try {
    for (let i = 0; i < 300 && !/READY=1/.test(m.got()); i++) await sleep(50);
    t.regex(m.got(), /READY=1/, log);
    t.regex(m.got(), new RegExp(`STATUS=listening on ${socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    // Ready means listening: a client connects at once.
    const connected = await new Promise<string>((resolve) => {
      const c = net.connect(socket, () => {
        c.destroy();
        resolve('connected');
      });
      c.once('error', (e) => resolve(e.message));
    });
    t.is(connected, 'connected');
  } finally {
    agent.kill('SIGTERM');
    await Promise.race([exited, sleep(10000)]);
    if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
    m.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
