// Supervision that survives its own restart: real `vhqos run` with Apache
// prefork under load (16 clients), `kill -9` of vhqos (its keeper answers,
// the server goes on unclassified), then `vhqos attach`: requests are served
// from their vhost's cgroup again within 2 s, without restarting the
// server; no request fails because of the kill (at accept, at most the
// connections vhqos held at that instant).
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CgroupManager } from '../../src/cgroup';
import { makeApacheSite, pickPort, waitForSite } from '../helpers/apache';
import { httpGet, parseCgroupBody, servedBy } from '../helpers/client';
import { repoRoot } from '../helpers/paths';
import { readProc } from '../helpers/proc';

const BIN = path.join(repoRoot(), 'bin', 'vhqos.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLIENTS = 16;

function start(args: string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; log: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  return { child, log: () => log, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
}

const CASES = [
  ['accept', 'attach'],
  ['read', 'attach'],
  ['accept', 'run'], // systemd restarting `vhqos run`: it attaches instead of starting a second server
] as const;

for (const [mode, how] of CASES) {
  const title = how === 'attach' ? 'vhqos attach' : 'the same vhqos run again';
  test.serial(`[${mode}] kill -9 of vhqos under load, then ${title}: classification resumes without restarting the server`, async (t) => {
    const port = await pickPort(['127.0.0.1'], 19950, 19999);
    const site = await makeApacheSite({ port, addressVhosts: [], startServers: 8, minSpareServers: 8, maxSpareServers: 8, maxRequestWorkers: 8 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-attach-'));
    const config = path.join(dir, `attach-${mode}-${process.pid}.yaml`);
    fs.writeFileSync(config, `vhosts:\n  gold: { hosts: [gold.test] }\n  bronze: { hosts: [bronze.test] }\noptions: { classifyAt: ${mode} }\n`);
    const instance = path.basename(config, '.yaml'); // the name vhqos gives it
    const vh = start(['run', '--config', config, '--', ...site.argv], { ...process.env, ...site.env });
    let attach: ReturnType<typeof start> | undefined;
    let loading = true;
    const failures: { at: number; what: string }[] = [];
    const served: { at: number; host: string; by: string | null; group: string }[] = [];
    let serverPid = 0;
    try {
      await waitForSite(site, 90000); // a node process and Apache start: slow in the emulated VM
      serverPid = vh.child.pid ? Number(fs.readFileSync(`/proc/${vh.child.pid}/task/${vh.child.pid}/children`, 'utf8').trim().split(/\s+/)[0]) : 0;
      const startTime = readProc(serverPid)?.starttime;
      const load = Array.from({ length: CLIENTS }, async (_, i) => {
        const host = i % 2 ? 'gold.test' : 'bronze.test';
        while (loading) {
          try {
            const r = await httpGet({ ip: '127.0.0.1', port, host, path: '/cgi-bin/whoami', timeoutMs: 10000 });
            if (r.status !== 200) failures.push({ at: Date.now(), what: `${host}: HTTP ${r.status}` });
            else {
              const cg = parseCgroupBody(r.body).cgroups;
              served.push({ at: Date.now(), host, by: servedBy(r.body), group: cg['cpu'] ?? cg[''] ?? '' });
            }
          } catch (e) {
            failures.push({ at: Date.now(), what: `${host}: ${(e as Error).message}` });
          }
        }
      });
      // Under load, and each vhost served from its group at least once (the emulated VM can take seconds for that).
      await sleep(1000);
      for (let i = 0; i < 600 && new Set(served.filter((x) => x.by === x.host.replace('.test', '')).map((x) => x.host)).size < 2; i++) await sleep(100);
      vh.child.kill('SIGKILL');
      await vh.exited;
      const killedAt = Date.now();
      await sleep(1500); // the keeper serves meanwhile, unclassified
      t.true(served.filter((s) => s.at > killedAt + 200).length > 0, 'the server kept serving after the kill');
      attach = how === 'attach' ? start(['attach', '--instance', instance]) : start(['run', '--config', config, '--', ...site.argv], { ...process.env, ...site.env });
      // From the moment it has attached (starting node is not the attach).
      for (let i = 0; i < 900 && !/attached: classifying again/.test(attach.log()); i++) await sleep(100);
      const attachedAt = Date.now();
      // Within 2 s every request is served from its own vhost's cgroup again.
      let since = 0;
      for (let i = 0; i < 60; i++) {
        await sleep(100);
        const recent = served.filter((s) => s.at > Date.now() - 300);
        if (recent.length >= 4 && recent.every((s) => s.by === s.host.replace('.test', ''))) {
          since = Date.now() - attachedAt;
          break;
        }
      }
      t.true(since > 0 && since <= 2000, `classification resumed ${since} ms after the attach: ${attach.log()}`);
      await sleep(1000);
      const late = served.filter((s) => s.at > attachedAt + since + 100);
      t.true(late.length > 0, `served after the attach: ${served.filter((x) => x.at > attachedAt).length}, failures ${JSON.stringify(failures.slice(-3))}; attach log: ${attach.log().slice(-2000)}`);
      t.deepEqual(late.filter((s) => s.by !== s.host.replace('.test', '')), [], 'after the attach, each request is served from its vhost');
      // ... in the very groups `vhqos run` made (on v1 it nests them below its own: <instance>/vhosts/<vhost>).
      const before = new Map(served.filter((s) => s.at < killedAt && s.by === s.host.replace('.test', '')).map((s) => [s.host, s.group]));
      t.is(before.size, 2, 'both vhosts were served from their groups before the kill');
      t.deepEqual([...new Set(late.filter((s) => s.group !== before.get(s.host)).map((s) => `${s.host} in ${s.group}, was ${before.get(s.host)}`))], [], 'the same cgroups as before the kill');
      loading = false;
      await Promise.all(load);
      // At accept the connections vhqos itself held at the kill are lost (their clients see a close).
      const allowed = mode === 'accept' ? CLIENTS : 0;
      t.log(`classification resumed ${since} ms after the attach; ${served.length} requests served, ${failures.length} failed`);
      t.true(failures.length <= allowed, JSON.stringify(failures.slice(0, 5)));
      t.is(readProc(serverPid)?.starttime, startTime, 'the server is the one started at first');
      if (how === 'run') t.regex(attach.log(), /attached to it instead of starting another/);
      // A second attach is refused while this one supervises.
      const again = start(['attach', '--instance', instance]);
      t.is(await again.exited, 1);
      t.regex(again.log(), /has a live supervisor|attached already/);
    } finally {
      loading = false;
      if (vh.child.exitCode === null && vh.child.signalCode === null) vh.child.kill('SIGKILL');
      // The server stops; the attached vhqos ends with it and cleans up.
      if (serverPid > 0) {
        try {
          process.kill(serverPid, 'SIGTERM');
        } catch {
          /* gone */
        }
        for (let i = 0; i < 100 && readProc(serverPid); i++) await sleep(50);
      }
      if (attach) await Promise.race([attach.exited, sleep(5000)]);
      if (attach && attach.child.exitCode === null) attach.child.kill('SIGKILL');
      const leftover = CgroupManager.create({ instance, onExisting: 'adopt' });
      leftover.setup([]);
      leftover.teardown('home');
      await site.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
