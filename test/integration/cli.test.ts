// The vhqos command as users run it: validate, check, run + status, signal
// forwarding, exit status and cleanup.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { pickPort, waitForPort } from '../helpers/inetd';
import { httpGet, servedBy } from '../helpers/client';
import { makeInetdServer } from '../helpers/inetd';
import { VHQOS_BIN, configFile, runCli } from '../helpers/site';

const bin = VHQOS_BIN;
const vhqos = runCli;
const tmpFile = (name: string, text: string): string => configFile(text, name).path;

test('validate names the path and the problem, and exits 1', (t) => {
  const bad = tmpFile('bad.yaml', 'vhosts:\n  gold:\n    hosts: [gold.test]\n    cpu: { weight: 20000 }\n    colour: red\n');
  const r = vhqos('validate', bad);
  t.is(r.status, 1);
  t.regex(r.stderr, /vhosts\.gold\.cpu\.weight: must be <= 10000/);
  t.regex(r.stderr, /vhosts\.gold\.colour/);
  const good = tmpFile('good.yaml', 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
  const ok = vhqos('validate', good);
  t.is(ok.status, 0, ok.stderr);
  t.regex(ok.stdout, /gold/);
});

test('validate catches mistakes the schema cannot see, and warns (exit 0) of limits that never bind', (t) => {
  const bad = tmpFile(
    'mistakes.yaml',
    'vhosts:\n  gold:\n    host: [gold.test]\n    addresses: ["::1:8080"]\n    memory: { high: 2G, max: 1G }\n  cgroup.procs:\n    addresses: ["10.0.0.0/24"]\n',
  );
  const r = vhqos('validate', bad);
  t.is(r.status, 1);
  t.is(
    r.stderr,
    `${bad}: invalid\n` +
      '  vhosts.gold.host: unknown key (did you mean "hosts"?)\n' +
      '  vhosts.gold.addresses[0]: "::1:8080" looks like an IPv6 address with a port: write "[::1]:8080" (or "[::1:8080]" for the address itself)\n' +
      '  vhosts.gold.memory.high: "2G" is above memory.max ("1G"), so it could never act (low <= high <= max)\n' +
      '  vhosts["cgroup.procs"]: the vhost name is its cgroup\'s directory name, and names starting with "cgroup." are cgroup interface files: rename the vhost (e.g. "cgroup-procs")\n',
  );
  // 10000 CPUs: more than any machine this runs on.
  const big = tmpFile('big.yaml', 'vhosts:\n  gold:\n    addresses: ["127.0.0.0/29"]\n    cpu: { max: 1000000% }\n');
  const ok = vhqos('validate', big);
  t.is(ok.status, 0, ok.stderr);
  t.regex(ok.stdout, /^gold: addresses 127\.0\.0\.0\/29; cpu max 1000000%$/m);
  t.regex(ok.stdout, /^ {2}warning: vhosts\.gold\.cpu\.max: 1000000% is more than this machine's \d+ CPUs? \(\d+%\): the limit never binds here$/m);
});

test('check reports this machine can run vhqos', (t) => {
  const r = vhqos('check', '--json');
  t.is(r.status, 0, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout) as { canRun: boolean; rows: { item: string; ok: boolean }[] };
  t.true(report.canRun);
  t.true(report.rows.some((x) => x.item === 'pidfd_getfd' && x.ok));
});

test('run with a missing program or bad config fails with a clear message', (t) => {
  const good = tmpFile('good.yaml', 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
  const r = vhqos('run', '--config', good, '--', 'no-such-program-vhqos');
  t.is(r.status, 1);
  t.regex(r.stderr, /cannot run "no-such-program-vhqos"/);
  const r2 = vhqos('run', '--config', '/nonexistent.yaml', '--', 'true');
  t.is(r2.status, 2);
  t.regex(r2.stderr, /nonexistent\.yaml/);
});

test('run logs the config warnings validate prints', (t) => {
  const big = tmpFile('big.yaml', 'vhosts:\n  gold:\n    hosts: [gold.test]\n    cpu: { max: 1000000% }\n');
  const r = vhqos('run', '--config', big, '--', 'no-such-program-vhqos');
  t.is(r.status, 1);
  const warning = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; config?: string })
    .find((l) => l.msg.startsWith('vhosts.gold.cpu.max: 1000000% is more than'));
  t.truthy(warning, r.stderr);
  t.is(warning?.level, 40, 'pino warn');
  t.is(warning?.config, big);
});

test('run: serves by vhost, status shows it, SIGTERM is forwarded and everything is cleaned up', async (t) => {
  const port = await pickPort(['127.0.0.1']);
  const srv = await makeInetdServer({ kind: 'tcpserver', ip: '127.0.0.1', port });
  const cfg = tmpFile('site.yaml', 'vhosts:\n  gold:\n    hosts: [gold.test]\n  bronze:\n    hosts: [bronze.test]\n');
  const instance = `cli-${process.pid}`;
  const metricsPort = await pickPort(['127.0.0.1'], port + 1);
  const child = spawn(process.execPath, [bin, 'run', '--config', cfg, '--instance', instance, '--metrics', `127.0.0.1:${metricsPort}`, '--', ...srv.argv], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...srv.env } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await waitForPort('127.0.0.1', port, 10000);
    const r = await httpGet({ ip: '127.0.0.1', port, host: 'bronze.test', path: srv.paths.whoami, timeoutMs: 10000 });
    t.is(servedBy(r.body), 'bronze');
    const st = vhqos('status', '--instance', instance, '--json');
    t.is(st.status, 0, st.stderr);
    const snap = JSON.parse(st.stdout)[0];
    t.is(snap.instance, instance);
    t.is(snap.vhosts.find((v: { name: string }) => v.name === 'bronze').connections, 1);
    const metrics = await new Promise<string>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: metricsPort, path: '/metrics' }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve(b));
      }).on('error', reject),
    );
    t.regex(metrics, new RegExp(`vhqos_vhost_connections_total\\{vhqos_instance="${instance}",vhost="bronze"\\} 1`));
    t.regex(metrics, /vhqos_notifications_total\{vhqos_instance="[^"]+"\} [1-9]/);
    t.regex(metrics, new RegExp(`vhqos_vhost_connections_refused_total\\{vhqos_instance="${instance}",vhost="bronze"\\} 0`));
    t.regex(metrics, new RegExp(`vhqos_vhost_connections_serving\\{vhqos_instance="${instance}",vhost="gold"\\} 0`));
    t.regex(metrics, /vhqos_request_moves_total\{vhqos_instance="[^"]+"\} 0/, 'classifyEach connection: no moves for later requests');
    const human = vhqos('status', '--instance', instance, '--tables');
    t.regex(human.stdout, /^vhost +match +procs +idle +conns +serving +waiting +refused +moves/m);
    t.regex(human.stdout, /channels/);
    t.regex(human.stdout, /bronze\.test/);
    t.truthy(JSON.parse(stderr.split('\n')[0]).msg, 'logs are JSON lines');
  } finally {
    child.kill('SIGTERM');
    const code = await exited;
    t.not(code, null);
    await srv.stop();
  }
  t.false(fs.existsSync(`/run/vhqos/${instance}.sock`));
  const leftovers = fs.readdirSync('/sys/fs/cgroup').filter((c) => fs.existsSync(`/sys/fs/cgroup/${c}/vhqos/${instance}`));
  t.deepEqual(leftovers, []);
  t.false(fs.existsSync(`/sys/fs/cgroup/vhqos/${instance}`));
});

test('instances: the name comes from the config file; a second run with a name in use is refused before anything is created; status skips stale sockets', async (t) => {
  const port = await pickPort(['127.0.0.1']);
  const srv = await makeInetdServer({ kind: 'tcpserver', ip: '127.0.0.1', port });
  const name = `cli-name-${process.pid}`;
  const cfg = tmpFile(`${name}.yaml`, 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
  const child = spawn(process.execPath, [bin, 'run', '--config', cfg, '--', ...srv.argv], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...srv.env } });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const stale = path.join('/run/vhqos', `cli-stale-${process.pid}.sock`);
  try {
    await waitForPort('127.0.0.1', port, 10000);
    const gold = `/sys/fs/cgroup/cpu/vhqos/${name}`;
    const groupsBefore = fs.existsSync(gold) ? fs.readdirSync(gold) : fs.readdirSync(`/sys/fs/cgroup/vhqos/${name}`);
    // Same config (same name), another server: refused, and the first is untouched.
    const port2 = await pickPort(['127.0.0.1'], port + 1);
    const srv2 = await makeInetdServer({ kind: 'tcpserver', ip: '127.0.0.1', port: port2 });
    const second = spawnSync(process.execPath, [bin, 'run', '--config', cfg, '--', ...srv2.argv], { encoding: 'utf8', timeout: 20000, env: { ...process.env, ...srv2.env } });
    t.is(second.status, 1);
    t.regex(second.stderr, new RegExp(`instance "${name}" is already running \\(supervisor pid ${child.pid}\\)`));
    const after = fs.existsSync(gold) ? fs.readdirSync(gold) : fs.readdirSync(`/sys/fs/cgroup/vhqos/${name}`);
    t.deepEqual(after, groupsBefore, "the first instance's cgroups are untouched");
    const r = await httpGet({ ip: '127.0.0.1', port, host: 'gold.test', path: srv.paths.whoami, timeoutMs: 10000 });
    t.is(servedBy(r.body), 'gold', 'the first instance still serves');
    t.true(fs.existsSync(`/run/vhqos/${name}.sock`), 'its status socket is still there');
    // Status finds it by name prefix, and skips a stale socket with a note.
    const byPrefix = vhqos('status', '--instance', name.slice(0, -2), '--json');
    t.is(byPrefix.status, 0, byPrefix.stderr);
    t.is(JSON.parse(byPrefix.stdout)[0].instance, name);
    const { execFileSync } = await import('node:child_process');
    // A socket file nobody listens on: bind and exit.
    execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`]);
    const all = vhqos('status', '--json');
    t.is(all.status, 0, all.stderr);
    t.regex(all.stderr, new RegExp(`note: ${stale.replace(/[.]/g, '\\.')}: no supervisor answers \\(stale socket\\), skipped`));
    t.true((JSON.parse(all.stdout) as { instance: string }[]).some((s) => s.instance === name));
    await srv2.stop();
  } finally {
    fs.rmSync(stale, { force: true });
    child.kill('SIGTERM');
    await exited;
    await srv.stop();
  }
  t.false(fs.existsSync(`/run/vhqos/${name}.pid`), 'the claim is released at exit');
});

test('--metrics: a bad address is a start-up error before the server runs; a unix socket with a bearer token keeps metrics from others', async (t) => {
  const good = tmpFile('good.yaml', 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
  const marker = path.join(path.dirname(good), 'started');
  for (const bad of ['nonsense', '127.0.0.1:99999', 'unix:relative.sock']) {
    const r = vhqos('run', '--config', good, '--instance', `cli-m-${process.pid}`, '--metrics', bad, '--', '/usr/bin/touch', marker);
    t.is(r.status, 2, `${bad}: ${r.stderr}`);
    t.regex(r.stderr, /vhqos: metrics: --metrics .*(expected HOST:PORT|absolute path)/);
  }
  t.false(fs.existsSync(marker), 'the server never started');
  const tokenFile = tmpFile('token', 's3cret\n');
  fs.chmodSync(tokenFile, 0o644);
  const loose = vhqos('run', '--config', good, '--metrics', '127.0.0.1:1', '--metrics-token-file', tokenFile, '--', '/usr/bin/touch', marker);
  t.is(loose.status, 2);
  t.regex(loose.stderr, /must not be readable by group or others/);
  fs.chmodSync(tokenFile, 0o600);
  const port = await pickPort(['127.0.0.1']);
  const srv = await makeInetdServer({ kind: 'tcpserver', ip: '127.0.0.1', port });
  const sock = path.join(path.dirname(good), 'metrics.sock');
  const child = spawn(process.execPath, [bin, 'run', '--config', good, '--instance', `cli-m-${process.pid}`, '--metrics', `unix:${sock}`, '--metrics-token-file', tokenFile, '--', ...srv.argv], { stdio: 'ignore', env: { ...process.env, ...srv.env } });
  const exited = new Promise((r) => child.on('exit', r));
  const get = (headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) =>
      http.get({ socketPath: sock, path: '/metrics', headers }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      }).on('error', reject),
    );
  try {
    await waitForPort('127.0.0.1', port, 10000);
    t.is((fs.statSync(sock).mode & 0o777).toString(8), '600');
    t.is((await get({})).status, 401);
    t.is((await get({ Authorization: 'Bearer wrong' })).status, 401);
    const ok = await get({ Authorization: 'Bearer s3cret' });
    t.is(ok.status, 200);
    t.regex(ok.body, /^vhqos_vhost_connections_total\{vhqos_instance="cli-m-\d+",vhost="gold"\} 0$/m);
  } finally {
    child.kill('SIGTERM');
    await exited;
    await srv.stop();
  }
});
