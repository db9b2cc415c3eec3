import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_SOCKET_PATH, StatusServer } from '../../src/status/server';
import { MetricsAddressError, metricsRegistry, parseMetricsAddress } from '../../src/status/metrics';
import type { StatusSnapshot } from '../../src/status/snapshot';
import { renderStatus } from '../../src/cli/status-command';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

test('a status socket path too long for sun_path is refused with a clear error, nothing is bound', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-status-'));
  const long = path.join(dir, `${'x'.repeat(MAX_SOCKET_PATH)}.sock`);
  const srv = new StatusServer(long, () => ({}), quiet);
  await t.throwsAsync(srv.listen(), { message: /longer than 107 bytes/ });
  t.deepEqual(fs.readdirSync(dir), [], 'node would have bound a truncated path');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a status socket answers a status request and refuses garbage', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-status-'));
  const sock = path.join(dir, 'x.sock');
  const srv = new StatusServer(sock, () => ({ hello: 1 }), quiet);
  await srv.listen();
  t.is(fs.statSync(sock).mode & 0o777, 0o600);
  const ask = (line: string) =>
    new Promise<string>((resolve, reject) => {
      const net = require('node:net') as typeof import('node:net');
      const c = net.connect(sock, () => c.write(line));
      let b = '';
      c.on('data', (d) => (b += d));
      c.on('end', () => resolve(b));
      c.on('error', reject);
    });
  t.deepEqual(JSON.parse(await ask('{"cmd":"status"}\n')), { ok: true, status: { hello: 1 } });
  t.false(JSON.parse(await ask('nonsense\n')).ok);
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('parseMetricsAddress: HOST:PORT, [IPv6]:PORT, unix:/PATH; anything else says what is expected', (t) => {
  t.deepEqual(parseMetricsAddress('127.0.0.1:9464'), { kind: 'tcp', host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseMetricsAddress('[::1]:9464'), { kind: 'tcp', host: '::1', port: 9464 });
  t.deepEqual(parseMetricsAddress('localhost:80'), { kind: 'tcp', host: 'localhost', port: 80 });
  t.deepEqual(parseMetricsAddress('unix:/run/vhqos/m.sock'), { kind: 'unix', path: '/run/vhqos/m.sock' });
  for (const bad of ['9464', ':9464', '127.0.0.1:0', '127.0.0.1:65536', '::1:9464', 'unix:m.sock', '']) {
    t.throws(() => parseMetricsAddress(bad), { instanceOf: MetricsAddressError }, bad);
  }
});

test('metricsRegistry: several snapshots (the agent: one per container) give one vhqos_instance label each', async (t) => {
  const snap = (instance: string, connections: number) =>
    ({
      instance,
      supervisorPid: 1,
      server: { pid: 2, command: [], exited: null },
      cgroupVersion: 2,
      vhosts: [{ name: 'gold', hosts: [], addresses: [], cgroups: [], pids: [3], connections, moves: 0, limits: {}, faults: { oomKills: 1 } }],
      loop: { notifications: 5, fast: 0, quietInspections: 0, events: 0, verdicts: 0, timeouts: 0, parked: 0, sendErrors: 0, running: true },
      policy: { failOpen: 0 },
      tables: { channels: [], processes: [], fdCopies: [], readFlags: [] },
      warnings: [],
    }) as unknown as StatusSnapshot;
  const text = await metricsRegistry(() => [snap('c1', 4), snap('c2', 7)]).metrics();
  t.regex(text, /^vhqos_vhost_connections_total\{vhqos_instance="c1",vhost="gold"\} 4$/m);
  t.regex(text, /^vhqos_vhost_connections_total\{vhqos_instance="c2",vhost="gold"\} 7$/m);
  t.regex(text, /^vhqos_vhost_oom_kills_total\{vhqos_instance="c2",vhost="gold"\} 1$/m);
  t.regex(text, /^vhqos_notifications_total\{vhqos_instance="c1"\} 5$/m);
  t.regex(text, /^# TYPE vhqos_vhost_processes gauge$/m);
  t.regex(text, /^vhqos_vhost_processes\{vhqos_instance="c1",vhost="gold"\} 1$/m);
});

test('placement counts: per vhost in metrics and status, refusals by code; none shown without a placement socket', async (t) => {
  const base = {
    instance: 'p',
    supervisorPid: 1,
    server: { pid: 2, command: [], exited: null },
    cgroupVersion: 1,
    loop: { notifications: 0, fast: 0, quietInspections: 0, events: 0, verdicts: 0, timeouts: 0, parked: 0, sendErrors: 0, running: true },
    policy: { failOpen: 0 },
    tables: { channels: [], processes: [], fdCopies: [], readFlags: [] },
    warnings: [],
  };
  const row = (name: string, placements?: number) => ({ name, hosts: [], addresses: [], cgroups: [], pids: [], connections: 0, moves: 0, limits: {}, faults: {}, ...(placements === undefined ? {} : { placements }) });
  const placing = { ...base, vhosts: [row('gold', 3), row('_default', 0)], placement: { socket: '/run/vhqos-place/p.sock', refused: { EPERM: 2, EINVAL: 1 } } } as unknown as StatusSnapshot;
  const text = await metricsRegistry(() => [placing]).metrics();
  t.regex(text, /^vhqos_vhost_placements_total\{vhqos_instance="p",vhost="gold"\} 3$/m);
  t.regex(text, /^vhqos_placement_refusals_total\{vhqos_instance="p"\} 3$/m);
  t.regex(renderStatus(placing), /^placement socket \/run\/vhqos-place\/p\.sock: placed gold 3; refused EPERM 2, EINVAL 1$/m);
  const trapping = { ...base, vhosts: [row('gold')] } as unknown as StatusSnapshot;
  t.notRegex(await metricsRegistry(() => [trapping]).metrics(), /^vhqos_(vhost_placements|placement_refusals)_total\{/m);
  t.notRegex(renderStatus(trapping), /placement/);
});

test('an answer that takes longer than the idle limit still arrives; a peer that never sends its request is cut off', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-status-'));
  const sock = path.join(dir, 'x.sock');
  const slow = () => new Promise((r) => setTimeout(() => r({ done: true }), 400));
  const srv = new StatusServer(sock, () => ({}), quiet, { slow }, { idleMs: 100 });
  await srv.listen();
  const net = await import('node:net');
  const talk = (line: string | null) =>
    new Promise<{ reply: string; closedAfterMs: number }>((resolve, reject) => {
      const t0 = Date.now();
      const c = net.connect(sock, () => line !== null && c.write(line));
      let b = '';
      c.on('data', (d) => (b += d));
      c.on('close', () => resolve({ reply: b, closedAfterMs: Date.now() - t0 }));
      c.on('error', reject);
    });
  t.deepEqual(JSON.parse((await talk('{"cmd":"slow"}\n')).reply), { ok: true, result: { done: true } });
  const silent = await talk(null);
  t.is(silent.reply, '');
  t.true(silent.closedAfterMs < 2000, `closed after ${silent.closedAfterMs} ms`);
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
