// `vhqos demo`: the bundled forking server (demo/forking-httpd.pl, perl-base
// only) under vhqos with two name-based vhosts, gold (cpu weight 400) and
// bronze (100). Both get the same CPU-heavy load; the live table shows the
// CPU each vhost's cgroup actually used, so the 80/20 split is visible.
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { loadConfig } from '../config/load';
import { Instance } from '../supervisor/instance';
import type { Logger } from '../logger';

const packageRoot = path.resolve(__dirname, '..', '..', '..');
const VHOSTS = [
  { name: 'gold', host: 'gold.demo' },
  { name: 'bronze', host: 'bronze.demo' },
];

function get(port: number, host: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { Host: host, Connection: 'close' }, agent: false, timeout: 30000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`demo server did not listen on 127.0.0.1:${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function demoCommand(o: { seconds: number; port: number; logger: Logger }): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('vhqos demo: must run as root (it creates cgroups and supervises a server).');
    return 1;
  }
  const config = loadConfig(path.join(packageRoot, 'demo', 'demo.yaml'));
  const devnull = fs.openSync('/dev/null', 'w');
  const supervised = Instance.spawn({
    config,
    command: ['perl', path.join(packageRoot, 'demo', 'forking-httpd.pl'), '--listen', `127.0.0.1:${o.port}`],
    logger: o.logger,
    instance: `demo-${process.pid}`,
    stdio: [null, devnull, devnull],
    drainMs: 1000,
    placeSupervisor: true,
  });
  fs.closeSync(devnull);
  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await waitForPort(o.port, 10000);
    console.log(`vhqos demo: forking server (pid ${supervised.pid}) on 127.0.0.1:${o.port} under vhqos, cgroup v${supervised.cgroups.version}`);
    for (const v of VHOSTS) {
      const r = await get(o.port, v.host, '/whoami');
      const line = r.body.split('\n').find((l) => /vhqos/.test(l)) ?? r.body.trim();
      console.log(`  Host: ${v.host.padEnd(12)} served from cgroup ${line.trim()}`);
    }
    const cores = os.cpus().length;
    const perVhost = Math.max(2, cores * 2);
    console.log(`\nLoading both vhosts equally: ${perVhost} concurrent /burn?ms=100 requests each, ${o.seconds} s.`);
    console.log('cpu weights gold:bronze = 400:100, so under contention gold should get ~80% of the CPU.\n');
    console.log('  time   gold cpu  bronze cpu   gold share   requests done (gold / bronze)');
    const done = new Map(VHOSTS.map((v) => [v.name, 0]));
    const deadline = Date.now() + o.seconds * 1000;
    const workers = VHOSTS.flatMap((v) =>
      Array.from({ length: perVhost }, async () => {
        while (!stopping && Date.now() < deadline) {
          try {
            const r = await get(o.port, v.host, '/burn?ms=100');
            if (r.status === 200) done.set(v.name, done.get(v.name)! + 1);
          } catch {
            await new Promise((res) => setTimeout(res, 50));
          }
        }
      }),
    );
    const cpu = () => VHOSTS.map((v) => supervised.cgroups.usage(v.name).cpuUsageUsec ?? 0);
    const first = cpu();
    let last = first;
    let t = 0;
    const totals = { gold: 0, bronze: 0 };
    while (!stopping && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      t++;
      const now = cpu();
      const d = now.map((x, i) => (x - last[i]) / 1e6);
      last = now;
      totals.gold = (now[0] - first[0]) / 1e6;
      totals.bronze = (now[1] - first[1]) / 1e6;
      const share = d[0] + d[1] > 0 ? (100 * d[0]) / (d[0] + d[1]) : 0;
      const bar = '#'.repeat(Math.round(share / 5)).padEnd(20, '.');
      console.log(
        `  ${String(t).padStart(3)} s  ${(d[0] * 100).toFixed(0).padStart(6)}%  ${(d[1] * 100).toFixed(0).padStart(9)}%   ${share.toFixed(0).padStart(5)}% ${bar}  ${done.get('gold')} / ${done.get('bronze')}`,
      );
    }
    stopping = true;
    await Promise.all(workers);
    const all = totals.gold + totals.bronze;
    console.log(
      `\nTotal: gold used ${totals.gold.toFixed(1)} s CPU, bronze ${totals.bronze.toFixed(1)} s: gold share ${all > 0 ? ((100 * totals.gold) / all).toFixed(0) : '-'}% (weights say 80%).`,
    );
    console.log('While it runs, `vhqos status` in another terminal shows the same from the supervisor.');
    return 0;
  } catch (e) {
    console.error(`vhqos demo: ${(e as Error).message}`);
    return 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    supervised.kill('SIGTERM');
    await supervised.wait();
  }
}
