// Tenant code cannot steer classification, in both modes: a bronze CGI under
// real Apache prefork reads a TCP connection of its own, talks to itself with
// "Host: gold.test", holds many sockets while looping listen+accept+fork, or
// dup2()s onto fd numbers it cannot have. It must stay in bronze's cgroup,
// and gold's requests meanwhile are served, from gold.
import test from 'ava';
import { makeApacheSite, pickPort, startInstance, stopInstance, waitForSite } from '../helpers/site';
import { httpGet, servedBy } from '../helpers/client';

const MODES = ['accept', 'read'] as const;

for (const mode of MODES) {
  test.serial(`[${mode}] hostile CGIs stay in their tenant's cgroup; other tenants are still served from theirs`, async (t) => {
    const port = await pickPort(['127.0.0.1'], 19700, 19749);
    const site = await makeApacheSite({ port, addressVhosts: [], startServers: 4, maxSpareServers: 6 });
    const run = startInstance({
      yaml: `vhosts:\n  gold: { hosts: [gold.test] }\n  bronze: { hosts: [bronze.test] }\noptions: { classifyAt: ${mode} }\n`,
      server: site,
      name: 'hostile',
    });
    try {
      await waitForSite(site);
      const attack = async (what: string) => {
        const r = await httpGet({ ip: '127.0.0.1', port, host: 'bronze.test', path: `/cgi-bin/hostile?${what}`, timeoutMs: 60000 });
        t.is(r.status, 200, `${what}: ${r.body}`);
        t.regex(r.body, new RegExp(`attack: ${what}`));
        return servedBy(r.body);
      };
      t.is(await attack('read-tcp'), 'bronze', 'a CGI reading a TCP connection of its own is not moved');
      t.is(await attack('self-gold'), 'bronze', 'a CGI reading "Host: gold.test" from itself is not moved to gold');
      t.is(await attack('dup2-high'), 'bronze');
      // accept+fork with many sockets held, while gold's requests go on.
      const flood = attack('accept-fork');
      const gold: { ms: number; by: string | null }[] = [];
      let done = false;
      void flood.finally(() => (done = true));
      while (!done && gold.length < 200) {
        const t0 = Date.now();
        const r = await httpGet({ ip: '127.0.0.1', port, host: 'gold.test', path: '/cgi-bin/whoami', timeoutMs: 10000 });
        gold.push({ ms: Date.now() - t0, by: r.status === 200 ? servedBy(r.body) : `HTTP ${r.status}` });
      }
      t.is(await flood, 'bronze');
      t.true(gold.length > 0);
      t.deepEqual(gold.filter((g) => g.by !== 'gold'), [], 'every gold request served from gold');
      const slow = gold.filter((g) => g.ms > 2000);
      t.deepEqual(slow, [], 'no gold request waited on the supervisor');
      const snap = run.snapshot();
      t.is(snap.loop.timeouts, 0);
      t.is(snap.policy.failOpen, 0);
      if (mode === 'accept') t.true(snap.loop.accept!.tenantAccepts >= 100, JSON.stringify(snap.loop.accept));
      else t.true(snap.policy.tenantReads >= 2, JSON.stringify(snap.policy));
    } finally {
      await stopInstance(run, site);
    }
  });
}
