// `vhqos run --cgroup-parent self` in a cgroup delegated to it, as systemd
// makes one for a unit with Delegate=yes (cgroup v2 only: run in the VM tier).
// Real Apache prefork: vhqos moves itself into <unit>/supervisor, builds
// <unit>/<instance>/{gold,bronze,_default,_server}, every process it started
// stays inside <unit> (what `systemctl stop` kills), <unit> itself holds no
// process (v2's no-internal-processes rule), CGIs run in their vhost's group,
// and a stop removes the instance's groups.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { detectCgroups } from '../../src/cgroup';
import { SUPERVISOR_LEAF } from '../../src/cgroup/delegated-parent';
import { makeApacheSite, pickPort, waitForSite } from '../helpers/apache';
import { httpGet, parseCgroupBody } from '../helpers/client';
import { repoRoot } from '../helpers/paths';
import { cgroupVersion, requires, root, tools } from '../helpers/requires';

const BIN = path.join(repoRoot(), 'bin', 'vhqos.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Root, Apache (scripts/install-test-deps.sh) and pure cgroup v2 (the VM). */
const needing = () => requires(root(), ...tools('apache2'), cgroupVersion(2));

const procs = (dir: string) => fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);

/** Every pid in dir and below. */
function procsBelow(dir: string): number[] {
  const out = procs(dir);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...procsBelow(path.join(dir, e.name)));
  return out;
}

/** pid and all its descendants (from /proc/PID/stat's ppid). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  return out;
}

/** The v2 cgroup path of pid, or null when it has exited. */
function cgroupOf(pid: number): string | null {
  try {
    return parseCgroupBody(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).unified;
  } catch {
    return null;
  }
}

/** `vhqos run --cgroup-parent self` started the way systemd starts a unit's main process: already in `cgroupDir`. */
function startIn(cgroupDir: string, config: string, server: { argv: string[]; env: NodeJS.ProcessEnv }) {
  const script = `echo $$ > ${cgroupDir}/cgroup.procs && exec "$0" "$@"`;
  const child = spawn('/bin/sh', ['-c', script, process.execPath, BIN, 'run', '--cgroup-parent', 'self', '--config', config, '--', ...server.argv], {
    env: { ...process.env, ...server.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { child, log: () => log, exited, pid: child.pid! };
}

/** Moves whatever is left to the root and removes the test's cgroups. */
function removeTree(mount: string, dir: string, t: { log(s: string): void }): void {
  if (!fs.existsSync(dir)) return;
  for (const p of procsBelow(dir)) {
    try {
      fs.writeFileSync(path.join(mount, 'cgroup.procs'), String(p));
    } catch {
      /* gone */
    }
  }
  const rm = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rm(path.join(d, e.name));
    fs.rmdirSync(d);
  };
  try {
    rm(dir);
  } catch (e) {
    t.log(`cleanup: ${(e as Error).message}`);
  }
}

const served = async (port: number, host: string) => {
  const r = await httpGet({ ip: '127.0.0.1', port, host, path: '/cgi-bin/whoami', timeoutMs: 20000 });
  return r.status === 200 ? parseCgroupBody(r.body).unified : `HTTP ${r.status}`;
};

needing().serial('vhqos run --cgroup-parent self builds its tree below its own delegated cgroup, vhqos in a leaf', async (t) => {
  const mount = detectCgroups().v2!.mountPoint;
  const unit = `vhqos-deleg-${process.pid}.service`;
  const unitDir = path.join(mount, unit);
  fs.mkdirSync(unitDir);
  const port = await pickPort(['127.0.0.1'], 19700, 19749);
  const site = await makeApacheSite({ port, addressVhosts: [] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-deleg-'));
  const config = path.join(dir, 'deleg.yaml');
  fs.writeFileSync(config, 'vhosts:\n  gold: { hosts: [gold.test], cpu: { weight: 400 } }\n  bronze: { hosts: [bronze.test] }\n');
  const vh = startIn(unitDir, config, site);
  const { child, exited } = vh;
  const vhqosPid = vh.pid;
  try {
    await waitForSite(site, 90000);
    const instanceDir = path.join(unitDir, 'deleg');
    t.deepEqual(fs.readdirSync(unitDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort(), ['deleg', SUPERVISOR_LEAF].sort());
    t.deepEqual(fs.readdirSync(instanceDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort(), ['_default', '_server', 'bronze', 'gold']);
    t.deepEqual(procs(unitDir), [], 'the delegated cgroup itself holds no process');
    const leaf = procs(path.join(unitDir, SUPERVISOR_LEAF));
    t.true(leaf.includes(vhqosPid), `vhqos ${vhqosPid} in the leaf: ${leaf}`);
    t.true(leaf.length >= 2, `vhqos and its keeper in the leaf: ${leaf}`);
    // The controllers reached the vhost groups: gold's weight was written.
    t.is(fs.readFileSync(path.join(instanceDir, 'gold', 'cpu.weight'), 'utf8').trim(), '400');
    for (const host of ['gold.test', 'bronze.test']) {
      const r = await httpGet({ ip: '127.0.0.1', port, host, path: '/cgi-bin/whoami', timeoutMs: 20000 });
      t.is(r.status, 200);
      t.is(parseCgroupBody(r.body).unified, `/${unit}/deleg/${host.split('.')[0]}`, `${host}: ${r.body}`);
    }
    // Everything vhqos started is in the unit's tree: a stop of the unit reaches all of it.
    // Asked per process (/proc/PID/cgroup is one read): a walk of the unit's
    // directories misses a child that vhqos moves between groups during the walk.
    const outside = descendants(vhqosPid)
      .map((p) => ({ p, where: cgroupOf(p) }))
      .filter((e) => e.where !== null && e.where !== `/${unit}` && !e.where.startsWith(`/${unit}/`));
    t.deepEqual(outside, [], `processes of vhqos outside ${unitDir}`);
    t.regex(vh.log(), /moved vhqos from .* into .*supervisor/);
    process.kill(vhqosPid, 'SIGTERM');
    const code = await Promise.race([exited, sleep(30000).then(() => 'timeout')]);
    t.is(code, 0, vh.log().slice(-2000));
    t.false(fs.existsSync(instanceDir), 'the instance\'s groups are gone after the stop');
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await site.stop();
    removeTree(mount, unitDir, t);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

needing().serial('started in the supervisor leaf (DelegateSubgroup=supervisor), killed, started again: it attaches to its server in the same tree', async (t) => {
  const mount = detectCgroups().v2!.mountPoint;
  const unitDir = path.join(mount, `vhqos-deleg2-${process.pid}.service`);
  const leafDir = path.join(unitDir, SUPERVISOR_LEAF);
  fs.mkdirSync(leafDir, { recursive: true });
  const port = await pickPort(['127.0.0.1'], 19750, 19799);
  const site = await makeApacheSite({ port, addressVhosts: [] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-deleg-'));
  const config = path.join(dir, 'deleg2.yaml');
  fs.writeFileSync(config, 'vhosts:\n  gold: { hosts: [gold.test] }\n  bronze: { hosts: [bronze.test] }\n');
  const first = startIn(leafDir, config, site);
  let second: ReturnType<typeof startIn> | undefined;
  let serverPid = 0;
  try {
    await waitForSite(site, 90000);
    t.regex(first.log(), /vhqos runs in .*supervisor/, 'nothing to move');
    t.is(await served(port, 'gold.test'), `/${path.basename(unitDir)}/deleg2/gold`);
    serverPid = site.masterPid() ?? 0;
    t.true(serverPid > 0);
    // vhqos dies; its keeper keeps Apache going (KillMode=process: systemd leaves it running).
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    t.notRegex(String(await served(port, 'bronze.test')), /^HTTP/, 'Apache still serves, unclassified');
    second = startIn(leafDir, config, site);
    for (let i = 0; i < 600 && !/attached: classifying again|attached to it instead of starting another/.test(second.log()); i++) await sleep(100);
    t.regex(second.log(), /attached to it instead of starting another/);
    t.is(site.masterPid(), serverPid, 'the same Apache');
    let where: string | null = null;
    for (let i = 0; i < 50; i++) {
      where = await served(port, 'bronze.test');
      if (where === `/${path.basename(unitDir)}/deleg2/bronze`) break;
      await sleep(200);
    }
    t.is(where, `/${path.basename(unitDir)}/deleg2/bronze`, 'classified again in the same tree');
    t.false(fs.existsSync(path.join(mount, 'vhqos', 'deleg2')), 'no second tree under the default parent');
    t.deepEqual(procs(unitDir), []);
  } finally {
    for (const v of [first, second]) {
      if (v && v.child.exitCode === null && v.child.signalCode === null) {
        v.child.kill('SIGTERM');
        await Promise.race([v.exited, sleep(10000)]);
        if (v.child.exitCode === null && v.child.signalCode === null) v.child.kill('SIGKILL');
      }
    }
    await site.stop();
    removeTree(mount, unitDir, t);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
