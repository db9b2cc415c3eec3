// Stand-alone placement (patent FIG. 7, claims 20-21), end to end:
// `vhqos run --placement-only` starts the example server
// (examples/fig7-placement/fork-per-request.py) with nothing trapped; each
// forked child drops to uid 65534 and asks, by its request's Host, to be
// placed. Each response carries the serving child's /proc/self/cgroup: that
// is the cgroup that served it. Then the socket's rules: a non-root process
// (uid 65534) places itself, a thread of itself (v1; v2 refuses: domain
// groups), never another process, and nothing outside the instance's
// cgroups; malformed requests get errors and the instance serves on.
// With --prefork (claim 21) pre-forked workers place themselves per request.
// Runs on the host (cgroup v1) and in the cgroup2 VM (scripts/test-in-vm.sh).
import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { httpGet, servedBy } from '../helpers/client';
import { pickPort, waitForPort } from '../helpers/proc';
import { makeTempDir, repoRoot } from '../helpers/paths';
import { prerequisite, requires, root } from '../helpers/requires';
import { detectCgroups } from '../../src/cgroup';
import { queryStatus } from '../../src/status/server';
import type { StatusSnapshot } from '../../src/status/snapshot';

const PYTHON = '/usr/bin/python3';
const NOBODY = 65534;
/** Root (cgroups) and python3 (the example server). */
const serial = requires(root(), prerequisite('python3', fs.existsSync(PYTHON) ? null : `needs ${PYTHON} (the example server)`)).serial;

const CONFIG = `
vhosts:
  gold:
    hosts: [gold.test, "*.gold.test"]
    cpu: { weight: 400 }
    pids: { max: 64 }
  bronze:
    hosts: [bronze.test]
    cpu: { weight: 100 }
  shop:
    addresses: ["127.0.0.2"]
default:
  cpu: { weight: 100 }
`;

/** A helper that runs as uid 65534 and speaks the protocol itself (as any language would): stdin lines are requests. */
const HELPER = `
const net = require('net');
const fs = require('fs');
const { Worker } = require('worker_threads');
new Worker('setInterval(() => {}, 1000)', { eval: true });
const sock = process.env.VHQOS_PLACEMENT_SOCKET;
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'whoami') {
    const tids = fs.readdirSync('/proc/self/task').map(Number).filter((t) => t !== process.pid);
    const threadCgroups = Object.fromEntries(tids.map((t) => [t, fs.readFileSync('/proc/self/task/' + t + '/cgroup', 'utf8')]));
    return say({ pid: process.pid, uid: process.getuid(), tids, cgroup: fs.readFileSync('/proc/self/cgroup', 'utf8'), threadCgroups });
  }
  const c = net.connect(sock, () => c.write(line + '\\n'));
  let buf = '';
  c.on('data', (d) => { buf += d; if (buf.includes('\\n')) { c.destroy(); process.stdout.write(buf.slice(0, buf.indexOf('\\n') + 1)); } });
  c.on('error', (e) => say({ ok: false, error: e.message }));
});
`;

interface Reply {
  ok: boolean;
  code?: string;
  error?: string;
  placed?: { pid: number; tid?: number; vhost: string | null; group: string; by: string; cgroups: string[] };
}

/** Lines out of a child's stdout, one at a time. */
function lineReader(c: ChildProcess): () => Promise<string> {
  let buf = '';
  const waiting: ((l: string) => void)[] = [];
  const lines: string[] = [];
  c.stdout!.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  return () => {
    const l = lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no line from the helper within 20 s')), 20_000);
      waiting.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  };
}

/** Raw lines to the placement socket over one connection; one reply line each. */
function rawRequests(socket: string, lines: (string | Buffer)[]): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    const replies: Reply[] = [];
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`only ${replies.length} of ${lines.length} replies`));
    }, 10_000);
    c.on('connect', () => lines.forEach((l) => c.write(l)));
    c.on('error', reject);
    c.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        replies.push(JSON.parse(buf.slice(0, nl)) as Reply);
        buf = buf.slice(nl + 1);
      }
      if (replies.length === lines.length) {
        clearTimeout(timer);
        c.destroy();
        resolve(replies);
      }
    });
  });
}

/** The leaf group of the cgroup text (/proc/PID/cgroup) under the instance. */
const leafOf = (cgroup: string) => servedBy(cgroup);

interface PlacementRun {
  dir: string;
  runDir: string;
  instance: string;
  socket: string;
  port: number;
  vhqos: ChildProcess;
  stderr: () => string;
  /** Stops vhqos (it forwards SIGTERM to the server) and waits for it. */
  stop: () => Promise<void>;
}

let runSeq = 0;
/** `vhqos run --placement-only` with the example server; null (after t.fail) if it does not come up. */
async function startRun(t: ExecutionContext, serverArgs: string[]): Promise<PlacementRun | null> {
  const dir = makeTempDir('vhqos-place');
  const runDir = path.join(dir, 'run');
  const placeDir = path.join(dir, 'place');
  fs.writeFileSync(path.join(dir, 'site.yaml'), CONFIG);
  const port = await pickPort(['127.0.0.1', '127.0.0.2'], 27100, 27499);
  const instance = `test-place-${process.pid}-${runSeq++}`;
  const socket = path.join(placeDir, `${instance}.sock`);
  const env = { ...process.env, VHQOS_RUN_DIR: runDir, VHQOS_PLACEMENT_DIR: placeDir };
  const server = path.join(repoRoot(), 'examples', 'fig7-placement', 'fork-per-request.py');
  const vhqos = spawn(
    process.execPath,
    [path.join(repoRoot(), 'bin', 'vhqos.js'), 'run', '--placement-only', '--config', path.join(dir, 'site.yaml'), '--instance', instance,
      '--', PYTHON, server, ...serverArgs.map((a) => a.replace('PORT', String(port)))],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  vhqos.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => vhqos.on('exit', () => r()));
  const stop = async () => {
    vhqos.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (vhqos.exitCode === null && vhqos.signalCode === null) vhqos.kill('SIGKILL');
  };
  // Generous: python and node start 5-30x slower in the emulated v2 VM.
  const up = await Promise.race([waitForPort('127.0.0.1', port, 120_000).then(() => true), exited.then(() => false)]).catch((e: Error) => e.message);
  if (up !== true) {
    await stop();
    t.fail(`the server did not come up (${up || 'vhqos exited'}); vhqos said:\n${stderr}`);
    return null;
  }
  return { dir, runDir, instance, socket, port, vhqos, stderr: () => stderr, stop };
}

interface Served {
  pid: number;
  uid: number;
  placement: Reply;
  cgroup: string;
}

async function get(t: ExecutionContext, port: number, host: string, ip = '127.0.0.1'): Promise<Served> {
  const r = await httpGet({ ip, port, host, timeoutMs: 15_000 });
  t.is(r.status, 200, r.body);
  return JSON.parse(r.body) as Served;
}

serial('vhqos run --placement-only: the example server places each forked child by Host; uid 65534 may place only itself', async (t) => {
  const run = await startRun(t, ['--listen', '127.0.0.1:PORT', '--listen', '127.0.0.2:PORT', '--user', String(NOBODY)]);
  if (!run) return;
  const { dir, runDir, instance, socket, port, vhqos } = run;
  const helperFile = path.join(dir, 'helper.js');
  fs.writeFileSync(helperFile, HELPER, { mode: 0o644 });
  let helper: ChildProcess | undefined;
  try {
    t.is(fs.statSync(socket).mode & 0o777, 0o666, 'the placement socket is open to servers that dropped root');

    // 1. Requests for two vhosts, an address-based one and an unknown host: each child placed itself.
    const gold = await get(t, port, 'gold.test');
    t.is(gold.uid, NOBODY, 'the child asked after dropping root');
    t.true(gold.placement.ok, JSON.stringify(gold.placement));
    t.is(gold.placement.placed?.vhost, 'gold');
    t.is(gold.placement.placed?.pid, gold.pid, 'the placed process is the child that served');
    t.is(leafOf(gold.cgroup), 'gold', gold.cgroup);
    t.true(gold.cgroup.includes(`/${instance}/`), gold.cgroup);
    const sub = await get(t, port, 'www.gold.test:8080');
    t.is(leafOf(sub.cgroup), 'gold', 'wildcard and port, as for trapped connections');
    const bronze = await get(t, port, 'bronze.test');
    t.is(bronze.placement.placed?.vhost, 'bronze');
    t.is(leafOf(bronze.cgroup), 'bronze', bronze.cgroup);
    const shop = await get(t, port, 'gold.test', '127.0.0.2');
    t.is(shop.placement.placed?.by, 'address', 'the local address decides before the name');
    t.is(leafOf(shop.cgroup), 'shop', shop.cgroup);
    const unknown = await get(t, port, 'nobody.example');
    t.true(unknown.placement.ok);
    t.is(unknown.placement.placed?.vhost, null);
    t.is(leafOf(unknown.cgroup), '_default', unknown.cgroup);
    const goldDirs = gold.placement.placed!.cgroups;
    const serverDirs = goldDirs.map((d) => path.join(path.dirname(d), '_server'));
    const serverPid = Number(fs.readFileSync(`${serverDirs[0]}/cgroup.procs`, 'utf8').trim().split('\n')[0]);
    t.true(serverPid > 0, 'the server itself lives in _server');
    const status = (await queryStatus(path.join(runDir, `${instance}.sock`))) as StatusSnapshot;
    t.is(status.server.pid, serverPid);
    t.is(status.loop.notifications, 0, 'no syscall of the server was trapped');

    // 2. A process of uid 65534.
    helper = spawn(process.execPath, [helperFile], { uid: NOBODY, gid: NOBODY, env: { PATH: process.env.PATH, VHQOS_PLACEMENT_SOCKET: socket }, stdio: ['pipe', 'pipe', 'inherit'] });
    const next = lineReader(helper);
    const ask = async (line: string) => {
      helper!.stdin!.write(line + '\n');
      return JSON.parse(await next()) as Reply & { pid: number; uid: number; tids: number[]; cgroup: string; threadCgroups: Record<string, string> };
    };
    const me = await ask('whoami');
    t.is(me.uid, NOBODY);
    // Outside the instance's cgroups: refused (the socket must not pull strangers into vhost groups).
    const outside = await ask(JSON.stringify({ place: { vhost: 'gold' } }));
    t.is(outside.code, 'EPERM', JSON.stringify(outside));
    t.regex(outside.error!, /not in this instance's cgroups/);
    t.not(leafOf((await ask('whoami')).cgroup), 'gold');
    // Now part of the tree (root puts it in _server, as if the server had forked it).
    for (const d of serverDirs) fs.writeFileSync(`${d}/cgroup.procs`, String(me.pid));
    const self = await ask(JSON.stringify({ place: { host: 'bronze.test' } }));
    t.true(self.ok, JSON.stringify(self));
    t.is(self.placed?.pid, me.pid);
    t.is(leafOf((await ask('whoami')).cgroup), 'bronze', 'placed itself');
    const other = await ask(JSON.stringify({ place: { host: 'gold.test', pid: serverPid } }));
    t.is(other.code, 'EPERM', JSON.stringify(other));
    t.regex(other.error!, /may only place itself/);
    t.is(leafOf(fs.readFileSync(`/proc/${serverPid}/cgroup`, 'utf8')), '_server', 'the other process did not move');
    const notMine = await ask(JSON.stringify({ place: { host: 'gold.test', tid: serverPid } }));
    t.is(notMine.code, 'EPERM', 'a thread id outside its own thread group');
    // One thread of its own (a worker thread).
    const tid = me.tids[me.tids.length - 1];
    const thread = await ask(JSON.stringify({ place: { vhost: 'gold', tid } }));
    const own = fs.readFileSync('/proc/self/cgroup', 'utf8').trim();
    const cgroupV2 = /^0::/.test(own) && !own.includes('\n'); // pure v2: one line
    if (cgroupV2) {
      t.is(thread.code, 'EOPNOTSUPP', JSON.stringify(thread));
      t.regex(thread.error!, /threaded/);
    } else {
      t.true(thread.ok, JSON.stringify(thread));
      const after = await ask('whoami');
      t.is(leafOf(after.threadCgroups[tid]), 'gold', 'the thread moved');
      t.is(leafOf(after.cgroup), 'bronze', 'its process stayed');
    }

    // 3. Malformed requests: each gets an error; none hurts the instance.
    const bad = await rawRequests(socket, [
      'not json\n',
      '[1,2]\n',
      '{"place":{}}\n',
      '{"place":{"host":"a\\r\\nHost: gold.test"}}\n',
      '{"place":{"vhost":"nope"}}\n', // who asks is checked first: this test process is not in the instance
      '{"place":{"vhost":"gold","host":"gold.test"}}\n',
      '{"place":{"pid":-1,"vhost":"gold"}}\n',
      '{"place":{"local":"300.1.1.1:80"}}\n',
      '{"place":{"vhost":"gold","color":"red"}}\n',
      Buffer.from([0xff, 0xfe, 0x0a]),
      '{"place":{"vhost":"gold"}}\n', // root, but this test process is not in the instance's cgroups
    ]);
    t.deepEqual(bad.map((r) => r.ok), bad.map(() => false));
    t.deepEqual(bad.map((r) => r.code), ['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EPERM', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EPERM']);
    const huge = await rawRequests(socket, ['{"place":{"host":"' + 'a'.repeat(10_000) + '"}}\n']);
    t.is(huge[0].code, 'EINVAL');
    // The vhost name check after authorization: root naming the server's pid, an unknown vhost.
    const unknownVhost = await rawRequests(socket, [JSON.stringify({ place: { vhost: 'nope', pid: serverPid } }) + '\n']);
    t.is(unknownVhost[0].code, 'ENOENT');
    t.regex(unknownVhost[0].error!, /no vhost named "nope"/);
    // Root may place any process of the instance.
    const root = await rawRequests(socket, [JSON.stringify({ place: { vhost: 'gold', pid: serverPid } }) + '\n']);
    t.true(root[0].ok, JSON.stringify(root[0]));
    t.is(leafOf(fs.readFileSync(`/proc/${serverPid}/cgroup`, 'utf8')), 'gold');
    // Still serving, still placing.
    const later = await get(t, port, 'bronze.test');
    t.is(leafOf(later.cgroup), 'bronze');
    t.is(vhqos.exitCode, null, 'vhqos still runs');
    // Status counts what the socket did: placements per group, refusals per code.
    const after = (await queryStatus(path.join(runDir, `${instance}.sock`))) as StatusSnapshot;
    const placements = Object.fromEntries(after.vhosts.map((g) => [g.name, g.placements]));
    t.deepEqual(placements, { gold: cgroupV2 ? 3 : 4, bronze: 3, shop: 1, _default: 1, _server: 0 });
    t.deepEqual(after.placement, { socket, refused: { EPERM: 5, EINVAL: 10, ENOENT: 1, ...(cgroupV2 ? { EOPNOTSUPP: 1 } : {}) } });
  } finally {
    helper?.kill('SIGKILL');
    await run.stop();
  }
  t.false(fs.existsSync(socket), 'the placement socket is gone with the instance');
  const errors = run.stderr().split('\n').filter((l) => l.includes('"level":50'));
  t.deepEqual(errors, [], 'no error logged');
});

serial('vhqos run --placement-only, pre-forked workers (claim 21): a worker places itself again when the next request is for another vhost', async (t) => {
  const run = await startRun(t, ['--listen', '127.0.0.1:PORT', '--user', String(NOBODY), '--prefork', '2']);
  if (!run) return;
  try {
    const served: Served[] = [];
    for (const host of ['gold.test', 'bronze.test', 'gold.test', 'bronze.test', 'other.test', 'gold.test']) {
      const s = await get(t, run.port, host);
      t.true(s.placement.ok, JSON.stringify(s.placement));
      t.is(leafOf(s.cgroup), host === 'other.test' ? '_default' : host.split('.')[0], `${host}: ${s.cgroup}`);
      served.push(s);
    }
    const pids = new Set(served.map((s) => s.pid));
    t.true(pids.size <= 2, 'only the two workers served');
    const moved = [...pids].some((p) => new Set(served.filter((s) => s.pid === p).map((s) => leafOf(s.cgroup))).size > 1);
    // Three groups, at most two workers: some worker served two of them.
    t.true(moved, 'one worker served two vhosts, each from its cgroup');
  } finally {
    await run.stop();
  }
  t.false(fs.existsSync(run.socket));
});

serial('vhqos run --placement-only killed with SIGKILL, then vhqos attach: the server serves on unplaced, and the placement socket is offered again', async (t) => {
  const run = await startRun(t, ['--listen', '127.0.0.1:PORT', '--user', String(NOBODY)]);
  if (!run) return;
  const env = { ...process.env, VHQOS_RUN_DIR: run.runDir, VHQOS_PLACEMENT_DIR: path.dirname(run.socket) };
  const serverPid = Number(fs.readFileSync(`/proc/${run.vhqos.pid}/task/${run.vhqos.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
  let attach: ChildProcess | undefined;
  let attachLog = '';
  try {
    t.true(serverPid > 0, 'the server runs under vhqos');
    t.is(leafOf((await get(t, run.port, 'gold.test')).cgroup), 'gold');
    run.vhqos.kill('SIGKILL');
    await new Promise((r) => run.vhqos.once('exit', r));
    // Unsupervised: served, not placed.
    const r = await httpGet({ ip: '127.0.0.1', port: run.port, host: 'gold.test', timeoutMs: 15_000 });
    t.is(r.status, 200, r.body);
    t.false((JSON.parse(r.body) as Served).placement.ok, 'no placement while nothing supervises');
    attach = spawn(process.execPath, [path.join(repoRoot(), 'bin', 'vhqos.js'), 'attach', '--instance', run.instance], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    attach.stdout!.on('data', (d) => (attachLog += d));
    attach.stderr!.on('data', (d) => (attachLog += d));
    // (The placement socket is ready before the attach is announced.)
    for (let i = 0; i < 600 && !/attached: classifying again/.test(attachLog) && attach.exitCode === null; i++) await new Promise((res) => setTimeout(res, 100));
    t.regex(attachLog, /attached: classifying again/);
    t.true(fs.existsSync(run.socket), 'the placement socket is back');
    t.is((fs.statSync(run.socket, { throwIfNoEntry: false })?.mode ?? 0) & 0o777, 0o666, 'open to servers that dropped root');
    for (const host of ['bronze.test', 'gold.test']) {
      const s = await get(t, run.port, host);
      t.true(s.placement.ok, JSON.stringify(s.placement));
      t.is(leafOf(s.cgroup), host.split('.')[0], `${host} is placed after the attach: ${s.cgroup}`);
    }
  } finally {
    try {
      process.kill(serverPid, 'SIGTERM'); // the attached vhqos ends with its server
    } catch {
      /* gone */
    }
    if (attach) await Promise.race([new Promise((r) => attach!.once('exit', r)), new Promise((r) => setTimeout(r, 15_000))]);
    if (attach && attach.exitCode === null) attach.kill('SIGKILL');
  }
  t.false(fs.existsSync(run.socket), `the placement socket is gone with the instance: ${attachLog.slice(-1500)}`);
  // The attached vhqos removed the instance's whole tree (on v1 also <instance> itself, where vhqos ran).
  const d = detectCgroups();
  const mounts = d.version === 2 ? [d.v2!.mountPoint] : d.v1.map((h) => h.mountPoint);
  t.deepEqual(mounts.map((m) => path.join(m, 'vhqos', run.instance)).filter((dir) => fs.existsSync(dir)), [], 'no cgroup of the instance is left');
});
