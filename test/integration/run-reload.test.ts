// Live reload under real Apache prefork and load, in both modes: `vhqos
// reload` adds a vhost (its requests are served from its new cgroup), changes
// a limit (written to the cgroup), removes a vhost (its processes move to
// _default, its cgroup goes, its requests are _default's) — without
// restarting or signalling the server (same master, same children). An
// invalid config changes nothing and says why.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeApacheSite, pickPort, runCliAsync, startInstance, stopInstance, waitForSite } from '../helpers/site';
import { httpGet, servedBy } from '../helpers/client';

/** The CLI in a child process, asynchronously: the supervisor it talks to runs in this process. */
const vhqos = runCliAsync;

const before = (mode: string) => `vhosts:
  gold: { hosts: [gold.test] }
  bronze: { hosts: [bronze.test], cpu: { weight: 100 } }
options: { classifyAt: ${mode} }
`;
const after = (mode: string) => `vhosts:
  bronze: { hosts: [bronze.test], cpu: { weight: 300 } }
  silver: { hosts: [silver.test], pids: { max: 64 } }
options: { classifyAt: ${mode} }
`;

/** cpu.shares (v1) or cpu.weight (v2) of a group. */
function cpuSetting(dirs: string[]): string {
  for (const d of dirs) for (const f of ['cpu.shares', 'cpu.weight']) if (fs.existsSync(`${d}/${f}`)) return `${f}=${fs.readFileSync(`${d}/${f}`, 'utf8').trim()}`;
  return '?';
}

/** Field 22 of /proc/PID/stat (start time in clock ticks), or null when gone. */
function startTime(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];
  } catch {
    return null;
  }
}

function children(master: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(master);
      } catch {
        return false;
      }
    });
}

for (const mode of ['accept', 'read'] as const) {
  test.serial(`[${mode}] reload adds, changes and removes vhosts under load; the server is neither restarted nor signalled`, async (t) => {
    const port = await pickPort(['127.0.0.1'], 19850, 19899);
    const site = await makeApacheSite({
      port,
      addressVhosts: [],
      names: [
        { vhost: 'gold', hosts: ['gold.test'] },
        { vhost: 'bronze', hosts: ['bronze.test'] },
        { vhost: 'silver', hosts: ['silver.test'] },
      ],
      startServers: 4,
      minSpareServers: 4,
      maxSpareServers: 4,
      maxRequestWorkers: 4,
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-reload-'));
    const file = path.join(dir, 'site.yaml');
    fs.writeFileSync(file, before(mode));
    const instance = `reload-${mode}-${process.pid}`;
    const run = startInstance({ yaml: before(mode), configFile: file, server: site, instance, statusSocket: undefined /* the default socket: reload talks to it */ });
    let loading = true;
    const failures: string[] = [];
    const get = (host: string) => httpGet({ ip: '127.0.0.1', port, host, path: '/cgi-bin/whoami', timeoutMs: 10000 });
    try {
      await waitForSite(site);
      // The server vhqos started (apache2 -DFOREGROUND is the master itself), and when it started.
      const master = run.pid;
      const started = startTime(master);
      await new Promise((r) => setTimeout(r, 500)); // all children started
      const kids = children(master).sort();
      t.is((await get('gold.test')).body.includes('vhost: gold') && servedBy((await get('gold.test')).body), 'gold');
      t.is(servedBy((await get('silver.test')).body), '_default', 'silver is not a vhost of vhqos yet');
      const goldDirs = run.cgroups.groupPaths('gold');
      // Load on every vhost while the reload happens.
      const load = (async () => {
        while (loading) {
          for (const h of ['gold.test', 'bronze.test', 'silver.test']) {
            try {
              const r = await get(h);
              if (r.status !== 200) failures.push(`${h}: HTTP ${r.status}`);
            } catch (e) {
              failures.push(`${h}: ${(e as Error).message}`);
            }
          }
        }
      })();
      await new Promise((r) => setTimeout(r, 300));
      // An invalid config changes nothing.
      fs.writeFileSync(path.join(dir, 'bad.yaml'), 'vhosts:\n  bronze: { hosts: [bronze.test], cpu: { weight: 0 } }\n');
      const bad = await vhqos('reload', '--instance', instance, '--config', path.join(dir, 'bad.yaml'));
      t.is(bad.status, 1, bad.stdout + bad.stderr);
      t.regex(bad.stderr, /invalid configuration, nothing changed\n {2}vhosts\.bronze\.cpu\.weight: must be >= 1/);
      t.is(servedBy((await get('gold.test')).body), 'gold');
      // The real one (the file the instance was started with, edited).
      fs.writeFileSync(file, after(mode));
      const r = await vhqos('reload', '--instance', instance.slice(0, -3));
      t.is(r.status, 0, r.stdout + r.stderr);
      t.regex(r.stdout, /added: silver/);
      t.regex(r.stdout, /removed: gold/);
      t.regex(r.stdout, /limits changed: bronze/);
      t.is(servedBy((await get('silver.test')).body), 'silver', 'a new vhost gets its connections');
      t.is(servedBy((await get('gold.test')).body), '_default', "a removed vhost's requests are _default's");
      t.is(servedBy((await get('bronze.test')).body), 'bronze');
      t.regex(cpuSetting(run.cgroups.groupPaths('bronze')), /^(cpu\.shares=3072|cpu\.weight=300)$/, 'the new limit is written');
      t.deepEqual(goldDirs.filter((d) => fs.existsSync(d)), [], "the removed vhost's cgroups are gone");
      const snap = run.snapshot();
      t.deepEqual(snap.vhosts.map((g) => g.name), ['bronze', 'silver', '_default', '_server']);
      t.deepEqual(snap.vhosts.find((g) => g.name === 'silver')!.limits, { pids: { max: 64 } });
      loading = false;
      await load;
      t.deepEqual(failures, [], 'no request failed during the reloads');
      t.is(startTime(master), started, 'the server was not restarted');
      t.deepEqual(children(master).sort(), kids, 'nor its children replaced');
    } finally {
      loading = false;
      await stopInstance(run, site);
    }
  });
}
