// vhqos run, end to end, against real servers: Apache 2.4 prefork
// (fork-before-accept; name-based, address-based, HTTPS SNI) and
// fork-after-accept servers (tcpserver, socat, busybox httpd, xinetd). Each
// request's CGI/handler reports /proc/self/cgroup: that is the cgroup that
// served it. Every test runs in both classification modes (at accept, the
// default, and at the first read).
// Runs on the host (cgroup v1) and in the cgroup2 VM (scripts/test-in-vm.sh).
// Serial: the supervisor answers on this process's main thread, and the
// helpers' synchronous setup (openssl, apache2 -t) would delay its verdicts.
import test from 'ava';
import * as fs from 'node:fs';
import type { Instance } from '../../src/supervisor/instance';
import { makeApacheSite, waitForSite, pickPort, quiet, startInstance } from '../helpers/site';
import { makeInetdServer, INETD_KINDS, waitForPort } from '../helpers/inetd';
import { httpGet, httpsGet, servedBy } from '../helpers/client';
import type { Logger } from '../../src/logger';

const logs: string[] = [];
const recording: Logger = { ...quiet, warn: (_o, m) => void logs.push(`warn ${m}`), error: (_o, m) => void logs.push(`error ${m}`) };

// Apache's layout in vhqos terms: gold and bronze are name-based (on every
// address), the IP-based vhosts of the site (127.0.0.2, 127.0.0.3) are
// vhosts of their own that list no names: they take every request on their
// address, whatever its Host, as Apache serves them.
const CONFIG = `
vhosts:
  gold:
    hosts: [gold.test, "*.gold.test"]
    cpu: { weight: 400, max: 150% }
    memory: { max: 512M }
    pids: { max: 256 }
  bronze:
    hosts: [bronze.test]
    cpu: { weight: 100, max: 50% }
  gold-ip:
    addresses: ["127.0.0.2"]
    cpu: { weight: 400 }
  bronze-ip:
    addresses: ["127.0.0.3"]
    cpu: { weight: 100 }
options:
  firstByteTimeoutMs: 1500
`;
const MODES = ['accept', 'read'] as const;
type Mode = (typeof MODES)[number];
const withMode = (yaml: string, mode: Mode) => (yaml.includes('options:') ? yaml.replace('options:', `options:\n  classifyAt: ${mode}`) : `${yaml}\noptions:\n  classifyAt: ${mode}\n`);
/** Accept mode reports hand-overs in batches (every 20 ms): let the last one arrive before reading tables. */
const settle = () => new Promise((r) => setTimeout(r, 80));

const start = (argv: string[], env: NodeJS.ProcessEnv, mode: Mode, yaml = CONFIG): Instance =>
  startInstance({ yaml: withMode(yaml, mode), server: { argv, env }, logger: recording, name: 'test' });

async function stop(run: Instance) {
  run.kill('SIGTERM');
  return run.wait();
}

for (const mode of MODES) {
test.serial(`[${mode}] Apache prefork: name-based, address-based and HTTPS SNI vhosts are served from their cgroups`, async (t) => {
  const port = await pickPort(['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  const httpsPort = await pickPort(['127.0.0.1'], port + 1);
  const site = await makeApacheSite({ port, httpsPort, startServers: 2, maxSpareServers: 3 });
  const run = start(site.argv, site.env, mode);
  t.is(run.classifyAt, mode);
  const goldPaths = run.cgroups.groupPaths('gold');
  try {
    await waitForSite(site);
    const get = async (host: string, ip = '127.0.0.1') => {
      const r = await httpGet({ ip, port, host, path: '/cgi-bin/whoami', timeoutMs: 10000 });
      t.is(r.status, 200, r.body);
      return servedBy(r.body);
    };
    // The same few prefork children serve alternating vhosts: each request moves its child.
    for (let i = 0; i < 3; i++) {
      t.is(await get('gold.test'), 'gold');
      t.is(await get('bronze.test'), 'bronze');
      t.is(await get('www.gold.test'), 'gold');
      t.is(await get('nobody.test'), '_default');
    }
    t.is(await get('127.0.0.2', '127.0.0.2'), 'gold-ip');
    t.is(await get('127.0.0.3', '127.0.0.3'), 'bronze-ip');
    t.is(await get('bronze.test', '127.0.0.2'), 'gold-ip', 'a name never takes a connection from the IP-based vhost of its address (Apache serves that one)');
    const s = await httpsGet({ ip: '127.0.0.1', port: httpsPort, servername: 'gold.test', path: '/cgi-bin/whoami', timeoutMs: 10000 });
    t.is(s.status, 200);
    t.is(servedBy(s.body), 'gold');
    const s2 = await httpsGet({ ip: '127.0.0.1', port: httpsPort, servername: 'bronze.test', path: '/cgi-bin/whoami', timeoutMs: 10000 });
    t.is(servedBy(s2.body), 'bronze');
    // A request whose Host header arrives in a second segment is still classified by name.
    const split = await httpGet({
      ip: '127.0.0.1',
      port,
      raw: ['GET /cgi-bin/whoami HTTP/1.1\r\nHo', 'st: bronze.test\r\nConnection: close\r\n\r\n'],
      chunkDelayMs: 150,
      timeoutMs: 10000,
    });
    t.is(servedBy(split.body), 'bronze');
    await settle();
    const snap = run.snapshot();
    if (mode === 'read') t.true(snap.policy.morePeeks >= 1);
    // At accept the split request waited inside vhqos (held) for the rest of its Host.
    else t.true(snap.loop.accept!.held >= 1 && snap.loop.accept!.handovers >= 17, JSON.stringify(snap.loop.accept));
    t.true(snap.vhosts.find((v) => v.name === 'gold')!.connections >= 6);
    t.true(snap.tables.channels.some((c) => c.by === 'sni' && c.vhost === 'gold'));
    t.is(snap.loop.timeouts, 0);
    // The whole tree started in _server; the master stays there.
    t.true(run.cgroups.usage('_server').pids.includes(run.pid));
  } finally {
    const st = await stop(run);
    t.is(st.code, 0, site.errorLog());
    await site.stop();
  }
  // cleanup removed the instance's cgroups
  t.deepEqual(goldPaths.filter((p) => fs.existsSync(p)), []);
});

test.serial(`[${mode}] Apache prefork: bad input gets a fallback, never a hang, and the server keeps serving`, async (t) => {
  const port = await pickPort(['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  const httpsPort = await pickPort(['127.0.0.1'], port + 1);
  const site = await makeApacheSite({ port, httpsPort });
  const run = start(site.argv, site.env, mode);
  try {
    await waitForSite(site);
    // Binary garbage, oversized header, non-HTTP protocol, truncated/bogus TLS, silent and early-closing clients.
    const bad: (string | Buffer)[] = [
      Buffer.from([0, 1, 2, 3, 255, 254, 0x16, 3, 1]),
      `GET / HTTP/1.1\r\nHost: gold.test\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`,
      'SSH-2.0-OpenSSH_9.2\r\n',
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
    ];
    for (const raw of bad) {
      await httpGet({ ip: '127.0.0.1', port, raw, timeoutMs: 10000 }).catch(() => undefined);
    }
    for (const raw of bad) await httpsGet({ ip: '127.0.0.1', port: httpsPort, servername: 'gold.test', raw, timeoutMs: 5000 }).catch(() => undefined);
    await httpGet({ ip: '127.0.0.1', port, raw: '', timeoutMs: 2500 }).catch(() => undefined); // sends nothing
    await httpGet({ ip: '127.0.0.1', port, raw: 'GET / HT', timeoutMs: 300 }).catch(() => undefined); // closes early
    const r = await httpGet({ ip: '127.0.0.1', port, host: 'gold.test', path: '/cgi-bin/whoami', timeoutMs: 10000 });
    t.is(r.status, 200);
    t.is(servedBy(r.body), 'gold');
    const snap = run.snapshot();
    t.is(snap.policy.failOpen, 0);
    t.is(snap.loop.sendErrors, 0);
  } finally {
    t.is((await stop(run)).code, 0);
    await site.stop();
  }
});

for (const kind of INETD_KINDS) {
  test.serial(`[${mode}] fork-after-accept (${kind}): the vhost follows the connection through fork, dup2 and exec`, async (t) => {
    const ip = kind === 'tcpserver' ? '127.0.0.1' : '::';
    const port = await pickPort(['127.0.0.1', '127.0.0.2', '127.0.0.3']);
    const srv = await makeInetdServer({ kind, ip, port });
    const run = start(srv.argv, srv.env, mode);
    try {
      await waitForPort(ip === '::' ? '::1' : ip, port, 10000);
      const get = async (host: string | null, at = '127.0.0.1') => {
        const r = await httpGet({ ip: at, port, host: host ?? undefined, path: srv.paths.whoami, timeoutMs: 10000 });
        t.is(r.status, 200, r.raw.toString());
        return servedBy(r.body);
      };
      t.is(await get('gold.test'), 'gold');
      t.is(await get('bronze.test'), 'bronze');
      t.is(await get('unknown.test'), '_default');
      if (ip === '::') {
        // Dual-stack listener: the kernel reports ::ffff:127.0.0.2, which must match 127.0.0.2.
        t.is(await get('unknown.test', '127.0.0.2'), 'gold-ip');
        t.is(await get('gold.test', '127.0.0.3'), 'bronze-ip');
      }
      await settle();
      const snap = run.snapshot();
      t.true(snap.tables.channels.length >= 3);
      t.is(snap.loop.timeouts, 0);
    } finally {
      await stop(run);
      await srv.stop();
    }
  });
}

test.serial(`[${mode}] the server crashing ends the run with its status and cleans up`, async (t) => {
  const port = await pickPort(['127.0.0.1']);
  const srv = await makeInetdServer({ kind: 'tcpserver', ip: '127.0.0.1', port });
  const run = start(srv.argv, srv.env, mode);
  await waitForPort('127.0.0.1', port, 10000);
  const gold = run.cgroups.groupPaths('gold');
  t.true(gold.every((p) => fs.existsSync(p)));
  run.kill('SIGKILL');
  const st = await run.wait();
  t.is(st.signal, 9);
  t.deepEqual(gold.filter((p) => fs.existsSync(p)), []);
  await srv.stop();
});
}
