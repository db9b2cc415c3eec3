// bench/qos: does vhqos give gold its weight? Two name-based vhosts of one
// Apache prefork serve a CPU-bound CGI (/cgi-bin/burn?ms=N: N ms of CPU in a
// process mod_cgi forks from the serving child, so it is charged to that
// child's cgroup). vhqos gives gold cpu weight 400 and bronze 100
// (v1 cpu.shares 4096:1024). Both vhosts are saturated (more concurrent
// clients than cores each). Bare Apache (no vhqos), in the same run, is the
// anchor: there the two vhosts should split about 50:50.
//
//   node dist/bench/qos.js [--rounds 2] [--duration 10] [--alone 6] [--burn 20] [--clients 4] [--cgi fixture|c] [--x|--gp] [--rt]
//
// Runs: "alone" (gold's clients only) and "flood" (gold's and bronze's
// clients at once), each bare and under vhqos, in an ABBA order (round 1:
// alone bare, alone vhqos, flood bare, flood vhqos; round 2 the reverse) so
// that drifting background load affects both variants alike; every run has
// a 2 s warm-up that is not counted. Reported: gold's share of the requests
// completed in the flood windows (goal 80 ± 5 %), gold's mean latency in the
// flood vs alone (goal ≤ 1.5×), the CPU the two cgroups actually got, and
// what one CGI request costs the supervisor. A third anchor runs without
// Apache and vhqos: the same CGI program in loops inside two cgroups of our
// own with the same shares, showing what the kernel gives this workload shape.
// --cgi: "fixture" (default) is test/fixtures/cgi/burn (perl, then exec of
// the whoami shell script: ~800 trapped syscalls per request under vhqos,
// mostly the 1-byte reads of dash's `read` builtin); "c" is bench/burn-cgi.c,
// static, a handful of syscalls: the QoS effect without the per-trap cost.
// Experiments (not what vhqos does; the goals are judged without them):
//   --x   the supervisor process runs in the instance's cpu cgroup
//   --gp  the instance lives under a private --cgroup-parent and the
//         supervisor process runs in that parent (outside the vhost tree, but
//         an ancestor of the targets' groups)
//   --rt  the supervisor threads run SCHED_RR priority 1
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ApacheSite } from '../test/helpers/site';
import {
  REPO,
  compileC,
  busyPct,
  fmt,
  goal,
  header,
  mean,
  median,
  onCleanup,
  percentile,
  printTable,
  runMain,
  sleep,
  startVhqosSite,
  benchConfig,
  benchSite,
  startBareSite,
  systemCpu,
  vhqosStatus,
  diffLoop,
  threadCpuMs,
  serverTreeCpuMs,
  moveSupervisorCpu,
  moveSupervisorToInstanceCpu,
  setSupervisorRealtime,
  v1Mount,
  type LoopStats } from './lib';
import { choiceArg, flag, numArg } from './args';
import { runLoad, type LoadResult } from './loadgen';

type Variant = 'bare' | 'vhqos';

interface Run {
  kind: 'alone' | 'flood';
  variant: Variant;
  round: number;
  /** [gold] or [gold, bronze]. */
  res: LoadResult[];
  busy: number;
  /** vhqos only: per vhost cgroup CPU µs / connections / moves during the run (incl. warm-up). */
  cpu?: Record<string, number>;
  /** vhqos only: native loop counters during the run. */
  loop?: LoopStats;
  /** CPU ms used by Apache (master, children, CGIs) during the run, warm-up included. */
  serverMs: number;
  /** vhqos only: supervisor process CPU ms during the run. */
  supervisorMs?: number;
}

/**
 * Kernel anchor, no Apache and no vhqos: two sibling cpu cgroups of our own
 * with gold's and bronze's cpu.shares (4096:1024), `clients` shell loops in
 * each running the same CGI program back to back (a new short-lived process
 * per "request", as mod_cgi does). Shows what CFS itself gives this workload
 * shape; busy loops that never exit would get exactly 80:20.
 */
async function cgroupAnchor(cmd: string, clients: number, seconds: number, burn: number): Promise<{ share: number; cpuShare: number; gold: number; bronze: number } | null> {
  const cpu = v1Mount('cpu');
  const acct = v1Mount('cpuacct');
  if (!cpu || !acct) return null; // only written for cgroup v1 (this host)
  const base = `vhqos-bench-anchor-${process.pid}`;
  const dirs: string[] = [];
  for (const m of [cpu, acct]) for (const d of ['', 'gold', 'bronze']) dirs.push(path.join(m, base, d));
  for (const d of dirs) fs.mkdirSync(d);
  const rmAll = async () => {
    for (const d of [...dirs].reverse()) {
      for (let i = 0; fs.existsSync(d); i++) {
        try {
          fs.rmdirSync(d);
        } catch (e) {
          if (i > 50) {
            console.error(`bench: could not remove ${d}: ${(e as Error).message}`);
            break;
          }
          await sleep(100);
        }
      }
    }
  };
  const forget = onCleanup(rmAll);
  fs.writeFileSync(path.join(cpu, base, 'gold', 'cpu.shares'), '4096');
  fs.writeFileSync(path.join(cpu, base, 'bronze', 'cpu.shares'), '1024');
  // The loops stop by themselves once this file exists (so every process is reaped by its parent).
  const stopFile = path.join(os.tmpdir(), `${base}.stop`);
  fs.rmSync(stopFile, { force: true });
  const counts: Record<string, number> = { gold: 0, bronze: 0 };
  let counting = false;
  const kids: ChildProcess[] = [];
  for (const label of ['gold', 'bronze']) {
    for (let i = 0; i < clients; i++) {
      const enter = [cpu, acct].map((m) => `echo $$ > ${path.join(m, base, label, 'cgroup.procs')}`).join(' && ');
      const child = spawn('/bin/sh', ['-c', `${enter} && while [ ! -e "$1" ]; do "$0" >/dev/null; echo; done`, cmd, stopFile], {
        env: { ...process.env, QUERY_STRING: `ms=${burn}`, VHOST_NAME: label, REQUEST_METHOD: 'GET' },
        detached: true,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      child.stdout?.on('data', (d: Buffer) => {
        if (counting) counts[label] += d.toString().split('\n').length - 1;
      });
      kids.push(child);
    }
  }
  const killAll = async () => {
    fs.writeFileSync(stopFile, '');
    const closed = Promise.all(kids.map((k) => (k.exitCode === null && k.signalCode === null ? new Promise((r) => k.once('close', r)) : null)));
    if (!(await Promise.race([closed.then(() => true), sleep(10000).then(() => false)]))) {
      for (const k of kids) {
        try {
          process.kill(-(k.pid as number), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await closed;
    }
    fs.rmSync(stopFile, { force: true });
  };
  const forgetKids = onCleanup(killAll);
  const usage = (label: string) => Number(fs.readFileSync(path.join(acct, base, label, 'cpuacct.usage'), 'utf8'));
  await sleep(2000);
  const g0 = usage('gold');
  const b0 = usage('bronze');
  counting = true;
  await sleep(seconds * 1000);
  counting = false;
  const g1 = usage('gold');
  const b1 = usage('bronze');
  await killAll();
  forgetKids();
  await rmAll();
  forget();
  return {
    share: (100 * counts.gold) / (counts.gold + counts.bronze),
    cpuShare: (100 * (g1 - g0)) / (g1 - g0 + b1 - b0),
    gold: counts.gold,
    bronze: counts.bronze,
  };
}

async function main(): Promise<void> {
  const rounds = numArg('rounds', 2);
  const duration = numArg('duration', 10);
  const alone = numArg('alone', 6);
  const burn = numArg('burn', 20);
  const clients = numArg('clients', 4);
  const warmup = 2;
  const cgi = choiceArg('cgi', ['fixture', 'c'], 'fixture');
  const leanCgi = cgi === 'c' ? compileC(path.join(REPO, 'bench', 'burn-cgi.c'), 'burn-cgi', ['-static']) : null;
  const cgiPath = leanCgi ? `/cgi-bin/burn-c?ms=${burn}` : `/cgi-bin/burn?ms=${burn}`;
  await header(
    `qos: CPU-bound CGI ${cgiPath} (${cgi}), gold:bronze weights 400:100, ${clients} clients per vhost, ` +
      `flood ${duration}s, alone ${alone}s (+${warmup}s warm-up each), ${rounds} round(s)`,
  );

  const config = benchConfig(
    [
      'vhosts:',
      '  gold:',
      '    hosts: [gold.test]',
      '    cpu: { weight: 400 }',
      '  bronze:',
      '    hosts: [bronze.test]',
      '    cpu: { weight: 100 }',
      '',
    ].join('\n'),
    'qos.yaml',
  );

  const mkSite = async (lo: number): Promise<ApacheSite> => {
    const s = await benchSite(lo, {
      addressVhosts: [],
      keepAlive: false,
      startServers: 4 * clients,
      minSpareServers: 2 * clients,
      maxSpareServers: 4 * clients,
      maxRequestWorkers: Math.max(16, 4 * clients),
    });
    if (leanCgi) {
      const to = path.join(s.dir, 'cgi-bin', 'burn-c');
      fs.copyFileSync(leanCgi, to);
      fs.chmodSync(to, 0o755);
    }
    return s;
  };
  const sites: Record<Variant, ApacheSite> = { bare: await mkSite(19000), vhqos: await mkSite(19300) };

  const bare = await startBareSite(sites.bare);
  const instance = `bench-qos-${process.pid}`;
  const gp = flag('gp');
  const parent = gp ? `vhqos-bench-${process.pid}` : 'vhqos';
  const vh = await startVhqosSite(sites.vhqos, { config, instance, cgroupParent: parent });
  // --x: EXPERIMENT (not what vhqos does): supervisor in the instance's cpu cgroup for the whole run.
  let restoreSupervisor: (() => void) | null = null;
  if (flag('x')) {
    const restore = (restoreSupervisor = await moveSupervisorToInstanceCpu(vh.pid, instance, parent));
    if (restore) {
      onCleanup(restore);
      console.log('EXPERIMENT --x: the supervisor process runs in the instance cpu cgroup (parent of gold/bronze)');
    } else console.error('bench: --x: could not move the supervisor');
  }
  if (gp) {
    const restore = (restoreSupervisor = await moveSupervisorCpu(vh.pid, parent));
    if (restore) {
      onCleanup(restore);
      console.log(`EXPERIMENT --gp: the instance is under /${parent}, the supervisor process runs in /${parent}`);
    } else console.error('bench: --gp: could not move the supervisor');
  }
  // --rt: EXPERIMENT (not what vhqos does): supervisor threads SCHED_RR 1 for the whole run.
  if (flag('rt')) {
    const restore = setSupervisorRealtime(vh.pid);
    if (restore) console.log('EXPERIMENT --rt: the supervisor threads run SCHED_RR priority 1');
    else console.error('bench: --rt: chrt failed');
  }
  const shares = ['gold', 'bronze'].map((v) => {
    try {
      const dir = [`/sys/fs/cgroup/cpu/${parent}/${instance}/vhosts/${v}`, `/sys/fs/cgroup/cpu/${parent}/${instance}/${v}`].find((d) => fs.existsSync(d));
      return `${v} cpu.shares=${dir ? fs.readFileSync(`${dir}/cpu.shares`, 'utf8').trim() : '?'}`;
    } catch {
      return `${v} cpu.shares=?`;
    }
  });
  console.log(`bare port ${sites.bare.ports.http}, vhqos port ${sites.vhqos.ports.http} (pid ${vh.pid}, instance ${instance}; ${shares.join(', ')})`);

  // Which cgroup served each request: whoami prints "cgroup: <line of /proc/self/cgroup>".
  const cgroupOf = (body: string) => /^cgroup: \d+:(?:[^:]*,)?cpu(?:,[^:]*)?:(.*)$/m.exec(body)?.[1] ?? '';
  const expectFor = (variant: Variant) => (label: string, body: string) => {
    const vhostOk = new RegExp(`^vhost: ${label}$`, 'm').test(body);
    if (variant === 'bare') return vhostOk;
    return vhostOk && cgroupOf(body).includes(`/${parent}/${instance}/`) && cgroupOf(body).endsWith(`/${label}`);
  };
  const target = (variant: Variant, label: string) => ({
    label,
    port: sites[variant].ports.http,
    host: `${label}.test`,
    path: cgiPath,
    concurrency: clients,
  });
  // Per vhost cgroup: CPU µs, connections classified, cgroup moves (cumulative counters).
  const cgroupCpu = async (): Promise<Record<string, number>> => {
    const st = await vhqosStatus(instance);
    const out: Record<string, number> = {};
    for (const v of st?.vhosts ?? []) {
      out[v.name] = v.cpuUsageUsec ?? NaN;
      out[`${v.name}.connections`] = v.connections;
      out[`${v.name}.moves`] = v.moves;
    }
    return out;
  };

  // ABBA schedule, so that drifting background load hits both variants alike:
  // round 1: alone bare, alone vhqos, flood bare, flood vhqos; round 2 reversed; ...
  type Kind = 'alone' | 'flood';
  const base: [Kind, Variant][] = [
    ['alone', 'bare'],
    ['alone', 'vhqos'],
    ['flood', 'bare'],
    ['flood', 'vhqos'],
  ];
  const runs: Run[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [kind, variant] of r % 2 ? [...base].reverse() : base) {
      const labels = kind === 'alone' ? ['gold'] : ['gold', 'bronze'];
      const c0 = variant === 'vhqos' ? await cgroupCpu() : undefined;
      const l0 = variant === 'vhqos' ? (await vhqosStatus(instance))?.loop : undefined;
      const t0 = variant === 'vhqos' ? threadCpuMs(vh.pid) : null;
      const master = sites[variant].masterPid();
      const a0 = master !== null ? serverTreeCpuMs(master) : NaN;
      const s0 = systemCpu();
      const res = await runLoad(
        labels.map((l) => target(variant, l)),
        { warmupMs: warmup * 1000, durationMs: (kind === 'alone' ? alone : duration) * 1000, expect: expectFor(variant) },
      );
      const s1 = systemCpu();
      const a1 = master !== null ? serverTreeCpuMs(master) : NaN;
      const t1 = variant === 'vhqos' ? threadCpuMs(vh.pid) : null;
      const l1 = variant === 'vhqos' ? (await vhqosStatus(instance))?.loop : undefined;
      const c1 = variant === 'vhqos' ? await cgroupCpu() : undefined;
      const run: Run = { kind, variant, round: r, res, busy: busyPct(s0, s1), serverMs: a1 - a0 };
      if (c0 && c1) run.cpu = Object.fromEntries(Object.keys(c1).map((k) => [k, c1[k] - (c0[k] ?? 0)]));
      if (l0 && l1) run.loop = diffLoop(l0, l1);
      if (t0 && t1) run.supervisorMs = t1.main + t1.others - t0.main - t0.others;
      runs.push(run);
      const [g, b] = res;
      console.log(
        `round ${r + 1} ${kind} ${variant.padEnd(5)} gold ${g.completed} req, mean ${fmt(mean(g.latencies), 1)} ms` +
          (b ? ` | bronze ${b.completed} req, mean ${fmt(mean(b.latencies), 1)} ms | gold share ${fmt((100 * g.completed) / (g.completed + b.completed), 1)} %` : '') +
          ` | CPU busy ${fmt(run.busy, 0)}%` +
          (run.cpu && b
            ? ` | cgroup CPU gold ${fmt(run.cpu.gold / 1e6, 1)} s, bronze ${fmt(run.cpu.bronze / 1e6, 1)} s; ` +
              `${run.cpu['gold.moves'] + run.cpu['bronze.moves']} moves for ${run.cpu['gold.connections'] + run.cpu['bronze.connections']} connections`
            : ''),
      );
      const errs = res.map((x) => x.errors + x.bad).reduce((x, y) => x + y, 0);
      if (errs) console.log(`  ${errs} failed requests`);
      await sleep(500);
    }
  }
  restoreSupervisor?.(); // before vhqos' teardown removes that cgroup
  const stopped = await vh.stop();
  await bare.stop();
  const anchorCmd = leanCgi ? path.join(sites.bare.dir, 'cgi-bin', 'burn-c') : path.join(sites.bare.dir, 'cgi-bin', 'burn');
  const anchor = await cgroupAnchor(anchorCmd, clients, duration, burn);
  console.log(
    anchor
      ? `kernel anchor (no Apache, no vhqos: ${clients} loops per cgroup running ${path.basename(anchorCmd)} back to back, shares 4096:1024, ${duration}s): ` +
          `gold ${anchor.gold} / bronze ${anchor.bronze} runs, gold share ${fmt(anchor.share, 1)} % of runs, ${fmt(anchor.cpuShare, 1)} % of CPU`
      : 'kernel anchor skipped: needs the cgroup v1 cpu and cpuacct hierarchies',
  );

  console.log('');
  const rows: (string | number)[][] = [];
  const summary = {} as Record<Variant, { share: number; ratio: number }>;
  for (const variant of ['bare', 'vhqos'] as Variant[]) {
    const al = runs.filter((x) => x.variant === variant && x.kind === 'alone');
    const fl = runs.filter((x) => x.variant === variant && x.kind === 'flood');
    const gold = fl.reduce((n, x) => n + x.res[0].completed, 0);
    const bronze = fl.reduce((n, x) => n + x.res[1].completed, 0);
    const share = (100 * gold) / (gold + bronze);
    const latAlone = al.flatMap((x) => x.res[0].latencies);
    const latFlood = fl.flatMap((x) => x.res[0].latencies);
    const latBronze = fl.flatMap((x) => x.res[1].latencies);
    const ratio = mean(latFlood) / mean(latAlone);
    summary[variant] = { share, ratio };
    const all = [...al, ...fl].flatMap((x) => x.res);
    const matched = all.reduce((n, x) => n + x.matched, 0);
    const inspected = all.reduce((n, x) => n + x.inspected, 0);
    const cpuGold = fl.reduce((n, x) => n + (x.cpu?.gold ?? NaN), 0);
    const cpuBronze = fl.reduce((n, x) => n + (x.cpu?.bronze ?? NaN), 0);
    const cpuShare = (100 * cpuGold) / (cpuGold + cpuBronze);
    rows.push([
      variant,
      `${gold} / ${bronze}`,
      `${fmt(share, 1)} %`,
      Number.isFinite(cpuShare) ? `${fmt(cpuShare, 1)} %` : '-',
      `${fmt(mean(latAlone), 1)} / ${fmt(percentile(latAlone, 50), 1)} / ${fmt(percentile(latAlone, 95), 1)}`,
      `${fmt(mean(latFlood), 1)} / ${fmt(percentile(latFlood, 50), 1)} / ${fmt(percentile(latFlood, 95), 1)}`,
      `${fmt(ratio)}×`,
      `${fmt(mean(latBronze), 1)}`,
      `${matched}/${inspected}`,
    ]);
  }
  printTable(
    [
      'variant',
      'flood: gold / bronze req',
      'gold share (req)',
      'gold share (cgroup CPU)',
      'gold alone ms mean/p50/p95',
      'gold in flood ms mean/p50/p95',
      'gold flood/alone (mean)',
      'bronze mean ms',
      'right vhost+cgroup',
    ],
    rows,
  );
  console.log('');
  const v = summary.vhqos;
  printTable(
    ['goal (vhqos)', 'measured', 'bare anchor', 'kernel anchor (cgroups only)', 'result'],
    [
      ['gold share of completed requests 80 ± 5 %', `${fmt(v.share, 1)} %`, `${fmt(summary.bare.share, 1)} %`, anchor ? `${fmt(anchor.share, 1)} %` : '-', goal(Math.abs(v.share - 80) <= 5)],
      ['gold mean latency flood / alone ≤ 1.5×', `${fmt(v.ratio)}×`, `${fmt(summary.bare.ratio)}×`, '-', goal(v.ratio <= 1.5)],
    ],
  );
  // CPU per request and CPU rate, per variant and kind (requests of the warm-up
  // are not counted: scale the window's count to the whole run).
  console.log('');
  const crow: (string | number)[][] = [];
  for (const variant of ['bare', 'vhqos'] as Variant[]) {
    for (const kind of ['alone', 'flood'] as const) {
      const rs = runs.filter((x) => x.variant === variant && x.kind === kind);
      const len = kind === 'alone' ? alone : duration;
      const reqs = rs.reduce((n, x) => n + x.res.reduce((m, y) => m + y.completed, 0) * ((warmup + len) / len), 0);
      const srv = rs.reduce((n, x) => n + x.serverMs, 0);
      const sup = rs.reduce((n, x) => n + (x.supervisorMs ?? 0), 0);
      const secs = rs.length * (warmup + len);
      crow.push([
        `${variant} ${kind}`,
        fmt(reqs / secs, 1),
        fmt(srv / secs / 1000, 2),
        variant === 'vhqos' ? fmt(sup / secs / 1000, 2) : '-',
        fmt(srv / reqs, 1),
        variant === 'vhqos' ? fmt(sup / reqs, 1) : '-',
      ]);
    }
  }
  printTable(['run', 'req/s', 'Apache+CGI CPUs used', 'supervisor CPUs used', 'Apache+CGI CPU ms/req', 'supervisor CPU ms/req'], crow);

  // What one CGI request costs vhqos (trapped syscalls and supervisor CPU).
  const vr = runs.filter((x) => x.variant === 'vhqos' && x.loop);
  if (vr.length) {
    // Requests that finished during the whole run (window + warm-up) are not
    // counted separately: use the window's count scaled by the run length.
    const reqs = vr.reduce((n, x) => n + x.res.reduce((m, y) => m + y.completed, 0) * ((warmup + (x.kind === 'alone' ? alone : duration)) / (x.kind === 'alone' ? alone : duration)), 0);
    const sum = (f: (l: LoopStats) => number) => vr.reduce((n, x) => n + f(x.loop as LoopStats), 0);
    const cpu = vr.reduce((n, x) => n + (x.supervisorMs ?? 0), 0);
    console.log(
      `\nvhqos per CGI request (approx.): ${fmt(sum((l) => l.notifications) / reqs, 0)} trapped syscalls ` +
        `(${fmt((100 * sum((l) => l.fast)) / sum((l) => l.notifications), 1)} % fast path), ${fmt(sum((l) => l.quietInspections) / reqs, 1)} quiet inspections, ` +
        `${fmt(sum((l) => l.events) / reqs, 1)} events to JS, ${fmt(sum((l) => l.verdicts) / reqs, 1)} verdicts; supervisor CPU ${fmt((cpu * 1000) / reqs, 0)} µs/request`,
    );
    // How much CPU the gold cgroup got when gold ran alone (the vhqos tree is
    // one weight-1024 entity at the top of the cpu hierarchy, competing with
    // every process in the root cgroup: the load generator, the supervisor,
    // and whatever else runs on the machine).
    const al = runs.filter((x) => x.variant === 'vhqos' && x.kind === 'alone' && x.cpu);
    if (al.length) {
      const goldUs = al.reduce((n, x) => n + (x.cpu as Record<string, number>).gold, 0);
      const secs = al.length * (warmup + alone);
      const reqsAlone = al.reduce((n, x) => n + x.res[0].completed * ((warmup + alone) / alone), 0);
      console.log(
        `vhqos gold alone: the gold cgroup used ${fmt(goldUs / 1e6 / secs, 2)} CPUs on average (of ${os.cpus().length}), ` +
          `${fmt(goldUs / 1000 / reqsAlone, 1)} ms of CPU per request (CGI + serving child), machine busy ${fmt(median(al.map((x) => x.busy)), 0)}%`,
      );
    }
  }
  console.log(
    `\nvhqos exit: ${stopped.code ?? stopped.signal}${stopped.leftoverCgroups.length ? `; it left ${stopped.leftoverCgroups.length} cgroup dirs (removed by the bench)` : ''}`,
  );
  console.log(`machine CPU busy (median): ${(['alone', 'flood'] as const).map((k) => `${k} ${fmt(median(runs.filter((x) => x.kind === k).map((x) => x.busy)), 0)}%`).join(', ')}`);
}

runMain('qos', main);
