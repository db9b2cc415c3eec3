// vhqos killed with SIGKILL while server processes wait on it: parked
// accepts (at accept, every idle server process is parked) and, at the first
// read, a blocking read held for its first bytes. The keeper answers what
// vhqos had received (the ids are in memory it shares with vhqos) and
// everything after, so the server goes on serving, unclassified, instead of
// waiting forever on a dead supervisor. Real `vhqos run`, a real
// fork-before-accept server (test/fixtures/servers/prefork.py) and tcpserver.
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CgroupManager } from '../../src/cgroup';
import { httpGet } from '../helpers/client';
import { repoRoot } from '../helpers/paths';
import { makeInetdServer } from '../helpers/inetd';
import { pickPort, readProc, waitForPort } from '../helpers/proc';

const BIN = path.join(repoRoot(), 'bin', 'vhqos.js');
const PREFORK = path.join(repoRoot(), 'test', 'fixtures', 'servers', 'prefork.py');

test.serial('[accept] after a SIGKILL of vhqos, the parked server processes are answered by the keeper and the server keeps serving', async (t) => {
  const port = await pickPort(['127.0.0.1'], 19750, 19799);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-killed-'));
  const config = path.join(dir, 'site.yaml');
  fs.writeFileSync(config, 'vhosts:\n  gold: { hosts: [gold.test] }\n  bronze: { hosts: [bronze.test] }\noptions: { classifyAt: accept }\n');
  const instance = `killed-${process.pid}`;
  const vh = spawn(process.execPath, [BIN, 'run', '--config', config, '--instance', instance, '--', '/usr/bin/python3', PREFORK, '127.0.0.1', String(port), '4', 'blocking'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  vh.stdout!.on('data', (d) => (log += d));
  vh.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((r) => vh.once('exit', () => r()));
  let serverPid = 0;
  try {
    await waitForPort('127.0.0.1', port, 15000);
    const get = (host: string) => httpGet({ ip: '127.0.0.1', port, host, path: '/', timeoutMs: 5000 });
    for (const h of ['gold.test', 'bronze.test']) t.is((await get(h)).status, 200, log);
    // The python server is vhqos' child; its workers are parked in accept now.
    serverPid = Number(fs.readFileSync(`/proc/${vh.pid}/task/${vh.pid}/children`, 'utf8').trim().split(/\s+/).find((p) => readProc(Number(p))?.argv.includes(PREFORK)));
    t.true(serverPid > 0, 'found the server');
    await new Promise((r) => setTimeout(r, 200));
    vh.kill('SIGKILL');
    await exited;
    // Every worker was parked (its accept received by the dead vhqos): each request needs one of them.
    for (let i = 0; i < 8; i++) {
      const r = await get(i % 2 ? 'gold.test' : 'bronze.test');
      t.is(r.status, 200, `request ${i} after the kill`);
    }
  } finally {
    if (vh.exitCode === null && vh.signalCode === null) vh.kill('SIGKILL');
    if (serverPid > 0) {
      try {
        process.kill(serverPid, 'SIGTERM');
      } catch {
        /* gone */
      }
      for (let i = 0; i < 100 && readProc(serverPid); i++) await new Promise((r) => setTimeout(r, 50));
    }
    // vhqos could not clean up after itself: its cgroups are taken over and removed here.
    const leftover = CgroupManager.create({ instance, onExisting: 'adopt' });
    leftover.setup([]);
    leftover.teardown('home');
    // A killed vhqos leaves its status socket and claim behind (status skips them; tidy up anyway).
    for (const f of ['sock', 'pid', 'keeper']) fs.rmSync(`/run/vhqos/${instance}.${f}`, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('[read] after a SIGKILL of vhqos, a first read it held for its bytes is answered by the keeper and the request is served', async (t) => {
  const port = await pickPort(['127.0.0.1'], 19750, 19799);
  const srv = await makeInetdServer({ kind: 'tcpserver', ip: '127.0.0.1', port });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-killed-'));
  const config = path.join(dir, 'site.yaml');
  fs.writeFileSync(config, 'vhosts:\n  gold: { hosts: [gold.test] }\noptions: { classifyAt: read, firstByteTimeoutMs: 20000 }\n');
  const instance = `killed-read-${process.pid}`;
  const vh = spawn(process.execPath, [BIN, 'run', '--config', config, '--instance', instance, '--', ...srv.argv], { env: srv.env, stdio: ['ignore', 'ignore', 'ignore'] });
  const exited = new Promise<void>((r) => vh.once('exit', () => r()));
  try {
    await waitForPort('127.0.0.1', port, 15000);
    // A client that is slow to send: the handler's blocking first read waits inside vhqos.
    const sock = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    sock.on('data', (d) => (reply += d));
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    await new Promise((r) => sock.on('connect', r));
    await new Promise((r) => setTimeout(r, 800));
    vh.kill('SIGKILL');
    await exited;
    await new Promise((r) => setTimeout(r, 200));
    sock.write(`GET ${srv.paths.whoami} HTTP/1.0\r\nHost: gold.test\r\n\r\n`);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 8000))]);
    sock.destroy();
    t.regex(reply, /^HTTP\/1\.[01] 200/, `the held read went on after the kill: ${JSON.stringify(reply.slice(0, 80))}`);
  } finally {
    if (vh.exitCode === null && vh.signalCode === null) vh.kill('SIGKILL');
    await srv.stop();
    const leftover = CgroupManager.create({ instance, onExisting: 'adopt' });
    leftover.setup([]);
    leftover.teardown('home');
    // A killed vhqos leaves its status socket and claim behind (status skips them; tidy up anyway).
    for (const f of ['sock', 'pid', 'keeper']) fs.rmSync(`/run/vhqos/${instance}.${f}`, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The gap the held-id table alone leaves: the instant between receiving a
// notification and answering (or listing) it, which a server making
// trapped syscalls back to back turns into most of the loop's time. Three
// shells do open/dup/read/close in a loop; vhqos is killed at a random
// instant, twenty times: every shell must see its stop file and finish.
test.serial('[read] a SIGKILL at any instant, even while vhqos answers a notification, leaves no server process waiting', async (t) => {
  const TRIALS = 20;
  // In the emulated VM a trial takes ~10 s: stop early enough (after at least
  // MIN_TRIALS) that ava's 5 min inactivity limit cannot cut the test off.
  const MIN_TRIALS = 8;
  const BUDGET_MS = 150_000;
  const started = Date.now();
  let trials = 0;
  const SHELLS = 3;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-killed-busy-'));
  const config = path.join(dir, 'site.yaml');
  fs.writeFileSync(config, 'vhosts:\n  gold: { hosts: [gold.test] }\noptions: { classifyAt: read }\n');
  const busy = (i: number) => `echo $$ > ${dir}/pid-${i}; while [ ! -e ${dir}/stop ]; do read -r l < /etc/hostname; done; echo ok > ${dir}/done-${i}`;
  const script = Array.from({ length: SHELLS }, (_, i) => `sh -c '${busy(i)}' &`).join(' ') + ' wait';
  const hung: string[] = [];
  for (let trial = 0; trial < TRIALS && (trial < MIN_TRIALS || Date.now() - started < BUDGET_MS); trial++) {
    trials++;
    const instance = `killed-busy-${process.pid}-${trial}`;
    for (const f of fs.readdirSync(dir)) if (f !== 'site.yaml') fs.rmSync(path.join(dir, f));
    const vh = spawn(process.execPath, [BIN, 'run', '--config', config, '--instance', instance, '--', '/bin/sh', '-c', script], { stdio: 'ignore' });
    const exited = new Promise<void>((r) => vh.once('exit', () => r()));
    const pids: number[] = [];
    try {
      for (let i = 0; i < 300 && pids.length < SHELLS; i++) {
        await new Promise((r) => setTimeout(r, 50));
        pids.splice(0, pids.length, ...fs.readdirSync(dir).filter((f) => f.startsWith('pid-')).map((f) => Number(fs.readFileSync(path.join(dir, f), 'utf8')) || 0).filter((p) => p > 0));
      }
      t.is(pids.length, SHELLS, 'the shells started under vhqos');
      await new Promise((r) => setTimeout(r, 100 + Math.floor(Math.random() * 400)));
      vh.kill('SIGKILL');
      await exited;
      fs.writeFileSync(path.join(dir, 'stop'), '');
      for (let i = 0; i < 200 && fs.readdirSync(dir).filter((f) => f.startsWith('done-')).length < SHELLS; i++) await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < SHELLS; i++) {
        if (fs.existsSync(path.join(dir, `done-${i}`))) continue;
        const p = pids[i];
        let sys = '?';
        try {
          sys = `syscall ${fs.readFileSync(`/proc/${p}/syscall`, 'utf8').split(' ')[0]} in ${fs.readFileSync(`/proc/${p}/wchan`, 'utf8')}`;
        } catch {
          /* gone */
        }
        hung.push(`trial ${trial}: shell ${i} (pid ${p}) still waits: ${sys}`);
      }
    } finally {
      if (vh.exitCode === null && vh.signalCode === null) vh.kill('SIGKILL');
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL'); // a shell left waiting (its parent shell then ends)
        } catch {
          /* finished */
        }
      }
      for (let i = 0; i < 100 && pids.some((p) => readProc(p)); i++) await new Promise((r) => setTimeout(r, 50));
      const leftover = CgroupManager.create({ instance, onExisting: 'adopt' });
      leftover.setup([]);
      leftover.teardown('home');
      for (const f of ['sock', 'pid', 'keeper']) fs.rmSync(`/run/vhqos/${instance}.${f}`, { force: true });
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  t.log(`${trials} kills in ${Math.round((Date.now() - started) / 1000)} s`);
  t.deepEqual(hung, [], 'every shell went on after the kill');
});
