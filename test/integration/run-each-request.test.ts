// options.classifyEach: request, end to end against real Apache 2.4 prefork:
// one keep-alive connection carries requests for gold, then bronze, then
// gold (as from a reverse proxy); each request's CGI reports
// /proc/self/cgroup and its parent's (the prefork child serving the
// connection), so each request must be served from its own vhost's cgroup by
// the same child. With classifyEach: connection (the default) the first
// request decides for the whole connection. Both classification modes.
// Runs on the host (cgroup v1) and in the cgroup2 VM (scripts/test-in-vm.sh).
// Serial: the supervisor answers on this process's main thread.
import test from 'ava';
import * as net from 'node:net';
import type { Instance } from '../../src/supervisor/instance';
import { makeApacheSite, waitForSite, pickPort, startInstance } from '../helpers/site';
import { parseCgroupBody, parseResponse, servedBy, type HttpResponse } from '../helpers/client';
import type { Logger } from '../../src/logger';

const logs: string[] = [];
const recording: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (_o, m) => void logs.push(`warn ${m}`),
  error: (_o, m) => void logs.push(`error ${m}`),
};

const config = (mode: 'accept' | 'read', each: 'connection' | 'request') => `
vhosts:
  gold:
    hosts: [gold.test]
    cpu: { weight: 400 }
  bronze:
    hosts: [bronze.test]
    cpu: { weight: 100 }
options:
  classifyAt: ${mode}
  classifyEach: ${each}
  firstByteTimeoutMs: 1500
`;

const start = (argv: string[], env: NodeJS.ProcessEnv, yaml: string): Instance => startInstance({ yaml, server: { argv, env }, logger: recording, name: 'test-each' });

/** One keep-alive connection: each call sends bytes and waits for one complete response. */
async function keepAlive(port: number) {
  const sock = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  let buf = Buffer.alloc(0);
  let closed = false;
  let wake: (() => void) | null = null;
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    wake?.();
  });
  sock.on('close', () => {
    closed = true;
    wake?.();
  });
  sock.on('error', () => undefined);
  /** Waits for one response at the front of what arrived and removes it. */
  const next = async (timeoutMs = 10000): Promise<HttpResponse> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = parseResponse(buf, closed);
      if (r) {
        buf = buf.subarray(responseLength(r));
        return r;
      }
      if (closed) throw new Error('connection closed without a response');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for a response (got ${buf.length} bytes)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  };
  // parseResponse parses the first response of what it is given: its length, to cut it off.
  const responseLength = (r: HttpResponse): number => {
    const head = buf.indexOf('\r\n\r\n') + 4;
    if (/\bchunked\b/i.test(r.headers['transfer-encoding'] ?? '')) {
      const end = buf.indexOf('\r\n0\r\n\r\n', head - 2);
      return end < 0 ? buf.length : end + 7;
    }
    return head + Number(r.headers['content-length'] ?? buf.length - head);
  };
  const request = (host: string, path = '/cgi-bin/whoami') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  return {
    async get(host: string) {
      sock.write(request(host));
      return next();
    },
    /** Several requests in one write (pipelined): their responses, in order. */
    async pipelined(hosts: string[]) {
      sock.write(hosts.map((h) => request(h)).join(''));
      const out: HttpResponse[] = [];
      for (let i = 0; i < hosts.length; i++) out.push(await next());
      return out;
    },
    close: () => sock.destroy(),
    isClosed: () => closed,
  };
}

for (const mode of ['accept', 'read'] as const) {
  test.serial(`[${mode}] classifyEach request: gold then bronze then gold on one keep-alive connection, each from its own cgroup, by the same prefork child`, async (t) => {
    const port = await pickPort(['127.0.0.1']);
    const site = await makeApacheSite({ port, keepAlive: true, addressVhosts: [], startServers: 2, maxSpareServers: 3 });
    const run = start(site.argv, site.env, config(mode, 'request'));
    t.is(run.classifyAt, mode);
    try {
      await waitForSite(site);
      const c = await keepAlive(port);
      try {
        const served: { vhost: string | null; child: string | null; apacheVhost: string; childPid: number }[] = [];
        for (const host of ['gold.test', 'bronze.test', 'gold.test', 'bronze.test']) {
          const r = await c.get(host);
          t.is(r.status, 200, r.body);
          const rep = parseCgroupBody(r.body);
          served.push({ vhost: servedBy(rep), child: servedBy(rep, 'parent'), apacheVhost: rep.fields['vhost'], childPid: rep.ppid });
        }
        t.false(c.isClosed(), 'the connection stayed open');
        t.deepEqual(
          served.map((s) => s.apacheVhost),
          ['gold', 'bronze', 'gold', 'bronze'],
          'Apache routed each request by its Host',
        );
        t.deepEqual(served.map((s) => s.vhost), ['gold', 'bronze', 'gold', 'bronze'], 'each CGI ran in its request\'s vhost cgroup');
        t.deepEqual(served.map((s) => s.child), ['gold', 'bronze', 'gold', 'bronze'], 'the prefork child was moved before it read each request');
        t.is(new Set(served.map((s) => s.childPid)).size, 1, 'one child served the whole connection');

        // Pipelined requests that arrive in one read are classified by the first one.
        const [p1, p2] = await c.pipelined(['gold.test', 'bronze.test']);
        t.is(parseCgroupBody(p2.body).fields['vhost'], 'bronze');
        t.is(servedBy(p1.body), 'gold');
        t.is(servedBy(p2.body), 'gold', 'the second request of one read is served where the first was');
      } finally {
        c.close();
      }
      const snap = run.snapshot();
      const pr = snap.loop.perRequest!;
      t.log(JSON.stringify(pr));
      t.true(pr.requests >= 4, JSON.stringify(pr));
      t.true(pr.moves >= 3, JSON.stringify(pr));
      t.is(pr.moveErrors, 0);
      t.is(snap.loop.timeouts, 0);
      t.true(snap.policy.requestMoves >= 1);
      // The moves show in the vhosts' counts.
      t.true(snap.vhosts.find((v) => v.name === 'bronze')!.moves >= 1, JSON.stringify(snap.vhosts.map((v) => [v.name, v.moves])));
    } finally {
      run.kill('SIGTERM');
      t.is((await run.wait()).code, 0, site.errorLog());
      await site.stop();
    }
  });

  test.serial(`[${mode}] classifyEach connection (default): the first request decides for the whole keep-alive connection`, async (t) => {
    const port = await pickPort(['127.0.0.1']);
    const site = await makeApacheSite({ port, keepAlive: true, addressVhosts: [], startServers: 2, maxSpareServers: 3 });
    const run = start(site.argv, site.env, config(mode, 'connection'));
    try {
      await waitForSite(site);
      const c = await keepAlive(port);
      try {
        const a = await c.get('gold.test');
        const b = await c.get('bronze.test');
        t.is(parseCgroupBody(b.body).fields['vhost'], 'bronze');
        t.is(servedBy(a.body), 'gold');
        t.is(servedBy(b.body), 'gold');
      } finally {
        c.close();
      }
      const pr = run.snapshot().loop.perRequest!;
      t.is(pr.inspected, 0, 'nothing is watched');
    } finally {
      run.kill('SIGTERM');
      t.is((await run.wait()).code, 0, site.errorLog());
      await site.stop();
    }
  });
}
