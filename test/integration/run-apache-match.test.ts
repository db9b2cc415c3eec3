// vhqos charges the vhost real Apache serves: Apache 2.4 prefork with one
// `Listen PORT` on every address, name-based vhosts on `*:PORT` (a catch-all
// "default" first, then gold and silver), an IP-based vhost on 127.0.0.3
// (bronze) and two on 127.0.0.2 (lead, its default, and platinum by name),
// mod_http2 with `Protocols h2c http/1.1`. Each request runs the whoami CGI:
// `vhost:` is the <VirtualHost> Apache chose (SetEnv VHOST_NAME), the cgroup
// lines where vhqos put the child that served it; they must name the same
// vhost (Apache's "default" is vhqos' _default). Then the corner cases of
// issue 7: a Host sent to an IP-based address, absolute-form targets, a Host
// after 5 KB and 40 KB of headers, a 5 KB URI, 1-byte writes, h2c prior
// knowledge; and Apache's own dummy connections (stopping idle children) in _server.
// Both classification modes. Runs on the host (cgroup v1) and in the cgroup2 VM.
import test from 'ava';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { Instance } from '../../src/supervisor/instance';
import { makeApacheSite, pickPort, startInstance, waitForSite, type ApacheSite } from '../helpers/site';
import { httpGet, parseCgroupBody, servedBy } from '../helpers/client';

const MODES = ['accept', 'read'] as const;
type Mode = (typeof MODES)[number];

const CONFIG = (mode: Mode) => `
vhosts:
  gold: { hosts: [gold.test, "*.gold.test"], cpu: { weight: 400 } }
  silver: { hosts: [silver.test] }
  bronze: { addresses: ["127.0.0.3"], cpu: { weight: 100, max: 50% } }
  lead: { addresses: ["127.0.0.2"] }
  platinum: { hosts: [platinum.test], addresses: ["127.0.0.2"] }
options:
  classifyAt: ${mode}
  firstByteTimeoutMs: 5000
`;

async function site(port: number): Promise<ApacheSite> {
  return makeApacheSite({
    port,
    listenAll: true,
    h2c: true,
    names: [
      { vhost: 'gold', hosts: ['gold.test', '*.gold.test'] },
      { vhost: 'silver', hosts: ['silver.test'] },
    ],
    addressVhosts: [
      { vhost: 'bronze', ip: '127.0.0.3' },
      { vhost: 'lead', ip: '127.0.0.2' },
      { vhost: 'platinum', ip: '127.0.0.2', hosts: ['platinum.test'] },
    ],
    startServers: 3,
    minSpareServers: 2,
    maxSpareServers: 4,
  });
}

const start = (s: ApacheSite, mode: Mode): Instance => startInstance({ yaml: CONFIG(mode), server: s, name: 'match' });

/** Apache's vhost and vhqos' cgroup leaf for one whoami response body. */
function both(body: string): { apache: string; vhqos: string | null } {
  const apache = parseCgroupBody(body).fields['vhost'] ?? '?';
  return { apache: apache === 'default' ? '_default' : apache, vhqos: servedBy(body) };
}

/** One HTTP/2 request over cleartext with prior knowledge; the response body. */
function h2Get(ip: string, port: number, authority: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = http2.connect(`http://${ip}:${port}`);
    const timer = setTimeout(() => (c.destroy(), reject(new Error('h2 request timed out'))), 15000);
    c.on('error', (e) => (clearTimeout(timer), reject(e)));
    const r = c.request({ ':path': '/whoami', ':authority': authority });
    let body = '';
    r.setEncoding('latin1');
    r.on('data', (d: string) => (body += d));
    r.on('end', () => {
      clearTimeout(timer);
      c.close();
      resolve(body);
    });
    r.on('error', (e) => (clearTimeout(timer), reject(e)));
    r.end();
  });
}

/** Send bytes, read until the server closes. */
function rawExchange(ip: string, port: number, data: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port }, () => s.write(data));
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    setTimeout(() => s.destroy(), 10000);
  });
}

const settle = () => new Promise((r) => setTimeout(r, 100));

for (const mode of MODES) {
  test.serial(`[${mode}] the vhost vhqos charges is the vhost Apache serves: address first, then names, corner cases included`, async (t) => {
    const port = await pickPort(['127.0.0.1', '127.0.0.2', '127.0.0.3'], 19750, 19799);
    const s = await site(port);
    const run = start(s, mode);
    try {
      await waitForSite(s, 60000);
      const request = (head: string) => `${head}Connection: close\r\n\r\n`;
      const cases: [string, string, string | string[], number?][] = [
        // [what, local address, request (or its writes), chunk delay]
        ['Host gold.test', '127.0.0.1', request('GET /whoami HTTP/1.1\r\nHost: gold.test\r\n')],
        ['Host www.gold.test', '127.0.0.1', request('GET /whoami HTTP/1.1\r\nHost: www.gold.test\r\n')],
        ['Host silver.test', '127.0.0.1', request('GET /whoami HTTP/1.1\r\nHost: silver.test\r\n')],
        ['unknown Host', '127.0.0.1', request('GET /whoami HTTP/1.1\r\nHost: nobody.test\r\n')],
        ['HTTP/1.0 without Host', '127.0.0.1', 'GET /whoami HTTP/1.0\r\n\r\n'],
        // A name never takes a connection from the address it arrived on.
        ['Host gold.test to the IP-based vhost', '127.0.0.3', request('GET /whoami HTTP/1.1\r\nHost: gold.test\r\n')],
        ['Host silver.test to the IP-based vhost', '127.0.0.3', request('GET /whoami HTTP/1.1\r\nHost: silver.test\r\n')],
        ['Host gold.test to 127.0.0.2', '127.0.0.2', request('GET /whoami HTTP/1.1\r\nHost: gold.test\r\n')],
        ['Host platinum.test to 127.0.0.2', '127.0.0.2', request('GET /whoami HTTP/1.1\r\nHost: platinum.test\r\n')],
        ['Host platinum.test elsewhere', '127.0.0.1', request('GET /whoami HTTP/1.1\r\nHost: platinum.test\r\n')],
        // Absolute-form: only an http:// target is the connection's.
        ['GET https://silver.test/ with Host gold.test', '127.0.0.1', request('GET https://silver.test/whoami HTTP/1.1\r\nHost: gold.test\r\n')],
        ['GET http://silver.test/ with Host gold.test', '127.0.0.1', request('GET http://silver.test/whoami HTTP/1.1\r\nHost: gold.test\r\n')],
        ['GET HTTP://SILVER.test:99/ with Host gold.test', '127.0.0.1', request('GET HTTP://SILVER.test:99/whoami HTTP/1.1\r\nHost: gold.test\r\n')],
        ['GET http:/// with Host gold.test', '127.0.0.1', request('GET http:///whoami HTTP/1.1\r\nHost: gold.test\r\n')],
        // Long heads: the peek grows until the Host arrives.
        ['5000-byte header before Host', '127.0.0.1', request(`GET /whoami HTTP/1.1\r\nX-Pad: ${'a'.repeat(5000)}\r\nHost: silver.test\r\n`)],
        ['40 KB of headers before Host', '127.0.0.1', request(`GET /whoami HTTP/1.1\r\n${[...Array(8).keys()].map((i) => `X-Pad-${i}: ${'a'.repeat(5000)}\r\n`).join('')}Host: silver.test\r\n`)],
        ['5 KB URI', '127.0.0.1', request(`GET /whoami?${'q'.repeat(5000)} HTTP/1.1\r\nHost: silver.test\r\n`)],
        ['1-byte writes', '127.0.0.1', [...request('GET /whoami HTTP/1.1\r\nHost: silver.test\r\n')], 2],
      ];
      const mismatches: string[] = [];
      for (const [what, ip, raw, delay] of cases) {
        const began = Date.now();
        const r = await httpGet({ ip, port, raw, chunkDelayMs: delay, timeoutMs: 20000 });
        t.is(r.status, 200, `${what}: ${r.raw.subarray(0, 200).toString()}`);
        const b = both(r.body);
        t.log(`${what} @${ip}: Apache ${b.apache}, vhqos ${b.vhqos} (${Date.now() - began} ms)`);
        if (b.apache !== b.vhqos) mismatches.push(`${what} @${ip}: Apache served ${b.apache}, vhqos charged ${b.vhqos}`);
      }
      // HTTP/2 prior knowledge: :authority in the HPACK-coded HEADERS frame.
      for (const [authority, ip] of [['silver.test', '127.0.0.1'], ['gold.test:' + port, '127.0.0.1'], ['silver.test', '127.0.0.3'], ['platinum.test', '127.0.0.2']]) {
        const b = both(await h2Get(ip, port, authority));
        t.log(`h2c :authority ${authority} @${ip}: Apache ${b.apache}, vhqos ${b.vhqos}`);
        if (b.apache !== b.vhqos) mismatches.push(`h2c ${authority} @${ip}: Apache served ${b.apache}, vhqos charged ${b.vhqos}`);
      }
      t.deepEqual(mismatches, []);
      // The issue's headline case, spelled out.
      const r = await httpGet({ ip: '127.0.0.3', port, host: 'gold.test', path: '/whoami', timeoutMs: 10000 });
      t.deepEqual(both(r.body), { apache: 'bronze', vhqos: 'bronze' });
      t.is(run.snapshot().loop.timeouts, 0);
    } finally {
      run.kill('SIGTERM');
      await run.wait();
      await s.stop();
    }
  });
}

for (const mode of MODES) {
  test.serial(`[${mode}] Apache's internal dummy connections (it stops idle children with them) are charged to _server; the same bytes from a client are not`, async (t) => {
    const port = await pickPort(['127.0.0.1', '127.0.0.2', '127.0.0.3'], 19750, 19799);
    // Six children where two may idle: the parent stops the others, one a
    // second, each with a dummy connection (it connects to [::1]:PORT).
    const s = await makeApacheSite({ port, listenAll: true, names: [{ vhost: 'gold', hosts: ['gold.test'] }], addressVhosts: [{ vhost: 'bronze', ip: '127.0.0.3' }], accessLog: true, startServers: 6, minSpareServers: 1, maxSpareServers: 2 });
    const run = startInstance({ yaml: `vhosts:\n  gold: { hosts: [gold.test] }\n  bronze: { addresses: ["127.0.0.3"] }\noptions: { classifyAt: ${mode} }\n`, server: s, name: 'match' });
    const counts = () => Object.fromEntries(run.snapshot().vhosts.map((v) => [v.name, v.connections])) as Record<string, number>;
    const dummies = () => (fs.readFileSync(`${s.dir}/logs/access.log`, 'utf8').match(/"OPTIONS \* HTTP\/1\.0"/g) ?? []).length;
    try {
      await waitForSite(s, 60000);
      let c = counts();
      for (let i = 0; i < 200 && c._server < 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
        c = counts();
      }
      t.true(c._server >= 2, `the parent's dummy connections: ${JSON.stringify(c)}, ${dummies()} in Apache's log`);
      t.is(c.gold + c.bronze, 0, JSON.stringify(c));
      // A client sending the dummy request itself is classified like any
      // request: no name, so _default on 127.0.0.1 and ::1, the IP-based vhost on 127.0.0.3.
      const dummy = 'OPTIONS * HTTP/1.0\r\nUser-Agent: Apache (internal dummy connection)\r\n\r\n';
      await settle();
      const before = counts();
      await rawExchange('127.0.0.1', port, dummy);
      await rawExchange('127.0.0.3', port, dummy);
      await rawExchange('::1', port, dummy);
      await settle();
      const after = counts();
      t.is(after._default, before._default + 2, JSON.stringify({ before, after }));
      t.is(after.bronze, before.bronze + 1, JSON.stringify({ before, after }));
      t.is(after.gold, 0);
      t.true(dummies() >= c._server + 3, 'Apache answered every one of them');
      const r = await httpGet({ ip: '127.0.0.3', port, host: 'gold.test', path: '/whoami', timeoutMs: 10000 });
      t.deepEqual(both(r.body), { apache: 'bronze', vhqos: 'bronze' });
    } finally {
      run.kill('SIGTERM');
      await run.wait();
      await s.stop();
    }
  });
}
