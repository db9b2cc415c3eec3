// Connection slots and idle server processes, under real Apache prefork
// (classifyAt: accept, the only mode that owns the accept):
// * connections.max: bronze's connections beyond max wait inside vhqos, in
//   no server process, and get a complete 503 after queueTimeoutMs; gold is
//   served meanwhile;
// * connections.reserve: with a fixed pool of 4 children and gold's reserve
//   of 2, a bronze flood gets at most 2 children and gold is served at once;
// * pids.max: idle Apache children left in bronze's cgroup do not use up
//   bronze's pids.max (its CGI still forks), and status says how many are idle.
import test from 'ava';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Instance } from '../../src/supervisor/instance';
import type { Logger } from '../../src/logger';
import { makeApacheSite, pickPort, quiet, startInstance, waitForSite, type ApacheSite } from '../helpers/site';
import { httpGet, servedBy, type HttpResponse } from '../helpers/client';
import { makeInetdServer, waitForPort } from '../helpers/inetd';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The server under vhqos with `yaml`; resolves once `ready` (default: the Apache site answers). */
async function underVhqos(
  site: { argv: string[]; env?: NodeJS.ProcessEnv },
  yaml: string,
  o: { logger?: Logger; ready?: () => Promise<void> } = {},
): Promise<Instance> {
  const run = startInstance({ yaml, server: site, logger: o.logger ?? quiet, name: 'slots' });
  await (o.ready ?? (() => waitForSite(site as ApacheSite)))();
  return run;
}

async function stop(run: Instance, site: ApacheSite): Promise<void> {
  run.kill('SIGTERM');
  await run.wait();
  await site.stop();
}

const row = (run: Instance, name: string) => run.snapshot().vhosts.find((g) => g.name === name)!;

/** Fixed pool: Apache neither starts nor stops children while the test runs. */
const fixedPool = (n: number) => ({ startServers: n, minSpareServers: n, maxSpareServers: n, maxRequestWorkers: n });

test.serial('connections.max: the excess waits inside vhqos, then gets a complete 503; other vhosts are served meanwhile', async (t) => {
  const port = await pickPort(['127.0.0.1'], 19750, 19799);
  const site = await makeApacheSite({ port, addressVhosts: [], ...fixedPool(8) });
  const run = await underVhqos(
    site,
    `vhosts:\n  gold: { hosts: [gold.test] }\n  bronze: { hosts: [bronze.test], connections: { max: 2, queueTimeoutMs: 1500 } }\n`,
  );
  try {
    const get = (host: string, path: string) => httpGet({ ip: '127.0.0.1', port, host, path, timeoutMs: 20000 });
    // 5 bronze requests of 2.5 s each: 2 are served, 3 wait and are refused at 1.5 s.
    const bronze = Array.from({ length: 5 }, () => get('bronze.test', '/cgi-bin/sleep?ms=2500'));
    await sleep(700);
    const during = row(run, 'bronze');
    t.is(during.serving, 2, 'bronze holds exactly max server processes');
    t.is(during.waiting, 3, 'the rest wait inside vhqos');
    // Gold is not held back by bronze's queue.
    const gold: HttpResponse[] = [];
    for (let i = 0; i < 5; i++) gold.push(await get('gold.test', '/cgi-bin/whoami'));
    t.deepEqual(gold.map((r) => [r.status, servedBy(r.body)]), Array(5).fill([200, 'gold']));
    t.true(Math.max(...gold.map((r) => r.elapsedMs)) < 1500, `gold waited: ${gold.map((r) => r.elapsedMs).join(', ')} ms`);
    const res = await Promise.all(bronze);
    const ok = res.filter((r) => r.status === 200);
    const refused = res.filter((r) => r.status === 503);
    t.is(ok.length, 2, res.map((r) => r.status).join(','));
    t.is(refused.length, 3);
    for (const r of ok) t.is(servedBy(r.body), 'bronze');
    for (const r of refused) {
      t.truthy(r.headers['retry-after'], 'a 503 says when to retry');
      t.is(Number(r.headers['content-length']), Buffer.byteLength(r.body), 'a complete response');
      t.true(r.elapsedMs >= 1400 && r.elapsedMs < 2400, `refused after queueTimeoutMs: ${r.elapsedMs} ms`);
    }
    // Waiting shorter than queueTimeoutMs: served once a slot is free, in order.
    const short = await Promise.all(Array.from({ length: 3 }, () => get('bronze.test', '/cgi-bin/sleep?ms=600')));
    t.deepEqual(short.map((r) => r.status), [200, 200, 200]);
    t.true(Math.max(...short.map((r) => r.elapsedMs)) >= 1100, 'the third waited for a slot');
    await sleep(300);
    const after = row(run, 'bronze');
    t.is(after.serving, 0, 'slots come back when the connections end');
    t.is(after.waiting, 0);
    t.is(after.refused, 3);
    t.true(after.queued! >= 4, `queued ${after.queued}`);
  } finally {
    await stop(run, site);
  }
});

test.serial('connections.reserve: another vhost never takes the last free children kept for gold', async (t) => {
  const port = await pickPort(['127.0.0.1'], 19750, 19799);
  const site = await makeApacheSite({ port, addressVhosts: [], ...fixedPool(4) });
  const run = await underVhqos(
    site,
    `vhosts:\n  gold: { hosts: [gold.test], connections: { reserve: 2 } }\n  bronze: { hosts: [bronze.test] }\n`,
  );
  try {
    await sleep(500); // all 4 children parked in accept
    const get = (host: string, path: string) => httpGet({ ip: '127.0.0.1', port, host, path, timeoutMs: 20000 });
    const bronze = Array.from({ length: 6 }, () => get('bronze.test', '/cgi-bin/sleep?ms=2000'));
    await sleep(500);
    t.is(row(run, 'bronze').serving, 2, 'bronze gets the 2 children not reserved');
    const gold = await get('gold.test', '/cgi-bin/whoami');
    t.is(gold.status, 200);
    t.is(servedBy(gold.body), 'gold');
    t.true(gold.elapsedMs < 1000, `gold waited ${gold.elapsedMs} ms`);
    const res = await Promise.all(bronze);
    t.deepEqual(res.map((r) => r.status), Array(6).fill(200), 'bronze is served, 2 at a time');
    t.true(Math.max(...res.map((r) => r.elapsedMs)) >= 5500, 'three rounds of two');
  } finally {
    await stop(run, site);
  }
});

test.serial("pids.max: idle server children left in a tenant's cgroup do not use up its pids.max", async (t) => {
  const port = await pickPort(['127.0.0.1'], 19750, 19799);
  const site = await makeApacheSite({ port, addressVhosts: [], keepAlive: true, ...fixedPool(8) });
  const run = await underVhqos(site, `vhosts:\n  gold: { hosts: [gold.test] }\n  bronze: { hosts: [bronze.test], pids: { max: 6 } }\n`);
  try {
    await sleep(500);
    const get = (host: string, path: string) => httpGet({ ip: '127.0.0.1', port, host, path, timeoutMs: 20000 });
    // Every child serves bronze at once (8 keep-alive connections of a static
    // page, left open: no CGI, no fork), so all 8 end up idle in bronze's cgroup.
    const conns: net.Socket[] = [];
    for (let i = 0; i < 8; i++) {
      conns.push(
        await new Promise<net.Socket>((resolve, reject) => {
          const c = net.connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: bronze.test\r\n\r\n'));
          c.once('data', () => resolve(c));
          c.on('error', reject);
        }),
      );
    }
    t.is(row(run, 'bronze').serving, 8);
    const ends = conns.map((c) => new Promise((r) => c.on('close', r).resume()));
    for (const c of conns) c.end();
    await Promise.all(ends);
    // The children come back to accept (and are counted within 20 ms).
    for (let i = 0; i < 50 && row(run, 'bronze').idle !== 8; i++) await sleep(100);
    const b = row(run, 'bronze');
    t.true(b.pids.length >= 8, `bronze's cgroup holds the idle children: ${b.pids.length}`);
    t.is(b.idle, 8, 'status counts them as idle');
    const pidsMax = b.cgroups.map((d) => `${d}/pids.max`).find((f) => fs.existsSync(f))!;
    t.is(fs.readFileSync(pidsMax, 'utf8').trim(), String(6 + 8), 'pids.max = configured + idle server processes');
    // bronze's own request forks its CGI: 8 children > 6 would refuse it without the allowance.
    const r = await get('bronze.test', '/cgi-bin/whoami');
    t.is(r.status, 200, r.body);
    t.is(servedBy(r.body), 'bronze');
  } finally {
    await stop(run, site);
  }
});

test.serial('connections.max with a fork-after-accept server (tcpserver): the slot is held until the child that serves the connection exits', async (t) => {
  const port = await pickPort(['127.0.0.1'], 19750, 19799);
  const srv = await makeInetdServer({ kind: 'tcpserver', ip: '127.0.0.1', port });
  const run = await underVhqos(srv, `vhosts:\n  gold: { hosts: [gold.test] }\n  bronze: { hosts: [bronze.test], connections: { max: 1, queueTimeoutMs: 10000 } }\n`, {
    ready: () => waitForPort('127.0.0.1', port, 10000),
  });
  try {
    const get = (host: string, path: string) => httpGet({ ip: '127.0.0.1', port, host, path, timeoutMs: 30000 });
    // tcpserver is back in accept at once; its child holds the connection for 1.5 s.
    const first = get('bronze.test', '/sleep?ms=1500');
    await sleep(300);
    const second = get('bronze.test', '/sleep?ms=10');
    await sleep(300);
    t.is(row(run, 'bronze').serving, 1);
    t.is(row(run, 'bronze').waiting, 1, 'the second waits for the first child to exit');
    const gold = await get('gold.test', '/whoami');
    t.is(servedBy(gold.body), 'gold', 'gold is not held back');
    const [a, b] = await Promise.all([first, second]);
    t.deepEqual([a.status, b.status], [200, 200]);
    t.is(servedBy(b.body), 'bronze');
    t.true(b.elapsedMs >= 900, `the second was served ${b.elapsedMs} ms after it came, once the first had ended`);
  } finally {
    run.kill('SIGTERM');
    await run.wait();
    await srv.stop();
  }
});

test.serial('connections.reserve larger than the server pool: a warning says so', async (t) => {
  const port = await pickPort(['127.0.0.1'], 19750, 19799);
  const site = await makeApacheSite({ port, addressVhosts: [], ...fixedPool(2) });
  const warnings: string[] = [];
  const logger: Logger = { ...quiet, warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)) };
  const run = await underVhqos(site, `vhosts:\n  gold: { hosts: [gold.test], connections: { reserve: 2 } }\n  bronze: { hosts: [bronze.test] }\n`, { logger });
  try {
    for (let i = 0; i < 60 && !warnings.some((w) => /reserve/.test(w)); i++) await sleep(100);
    t.true(warnings.some((w) => /connections.reserve adds up to 2 but the server has only 2 processes/.test(w)), warnings.join('\n'));
  } finally {
    await stop(run, site);
  }
});
