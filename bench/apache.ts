// bench/apache: Apache 2.4 prefork serving a static page, bare vs under
// `vhqos run`, with wrk -t2 -c16, Connection: close and keep-alive,
// alternated in one run. Name-based vhosts (Host: gold.test), so every new
// connection goes through vhqos' Host peek and classification.
//
//   node dist/bench/apache.js [--rounds 2] [--duration 10] [--x] [--gp] [--rt] [--cg]
//
// Identical Apache sites run side by side on their own ports (idle when not
// measured); each round measures, for each mode, the variants in turn:
//   bare     apache2 started directly (in the bench's cpu cgroup, the root here)
//   vhqos    `node bin/vhqos.js run --config … --instance … -- apache2 …`
//   vhqos-x  (--x) EXPERIMENT, same vhqos instance: for these runs the bench
//            moves the supervisor process into the instance's cpu cgroup
//            (parent of the vhost groups), and back afterwards. bench/fastpath
//            shows why: with supervisor and target in unrelated cpu cgroups,
//            SYNC_WAKE_UP hand-offs keep migrating the target between CPUs.
//   vhqos-gp (--gp) EXPERIMENT: the instance is created under a private
//            --cgroup-parent; for these runs the supervisor moves into that
//            parent (an ancestor of the vhost groups, outside the vhost tree)
//   vhqos-rt (--rt) EXPERIMENT, same instance: supervisor threads SCHED_RR 1
//            for these runs (chrt), SCHED_OTHER again afterwards.
//            vhqos does neither itself; the goal is judged on "vhqos".
//   bare-cg  (--cg) apache2 started directly inside one cgroup of our own at
//            the top of the cpu hierarchy: the scheduling position the vhqos
//            tree has (one weight-1024 entity beside wrk and everything else
//            in the root cgroup) without the seccomp filter.
import { startBare } from '../test/helpers/proc';
import type { ApacheSite } from '../test/helpers/site';
import {
  busyPct,
  capture,
  diffLoop,
  fmt,
  goal,
  header,
  makeBenchCgroup,
  median,
  moveSupervisorCpu,
  moveSupervisorToInstanceCpu,
  setSupervisorRealtime,
  onCleanup,
  printTable,
  runMain,
  sleep,
  startVhqosSite,
  benchConfig,
  benchSite,
  startBareSite,
  systemCpu,
  threadCpuMs,
  vhqosStatus,
  type LoopStats,
  type VhqosProcess } from './lib';
import { flag, numArg } from './args';

interface WrkResult {
  rps: number;
  latencyMs: number;
  requests: number;
  errors: string;
}

function toMs(s: string): number {
  const m = /^([0-9.]+)(us|ms|s|m)$/.exec(s);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60000;
}

async function wrk(port: number, seconds: number, close: boolean): Promise<WrkResult> {
  const args = ['-t2', '-c16', `-d${seconds}s`, '-H', 'Host: gold.test'];
  if (close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}/`);
  const r = await capture('wrk', args, { timeoutMs: (seconds + 30) * 1000 });
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr || r.stdout}`);
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(r.stdout)?.[1]);
  const lat = /Latency\s+(\S+)/.exec(r.stdout)?.[1] ?? '';
  const requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1]);
  const errs = [/Socket errors:.*/.exec(r.stdout)?.[0], /Non-2xx or 3xx responses: \d+/.exec(r.stdout)?.[0]].filter(Boolean).join('; ');
  return { rps, latencyMs: toMs(lat), requests, errors: errs };
}

type Variant = 'bare' | 'vhqos' | 'vhqos-x' | 'vhqos-gp' | 'vhqos-rt' | 'bare-cg';
type Mode = 'close' | 'keep-alive';

interface Sample {
  variant: Variant;
  mode: Mode;
  round: number;
  wrk: WrkResult;
  busy: number;
  supervisorCpuMs?: number;
  /** Of which the JS main thread. */
  supervisorJsMs?: number;
  loop?: LoopStats;
}

/** The site every variant serves, on the first free port from `lo`. */
function site(lo: number): Promise<ApacheSite> {
  return benchSite(lo, {
    addressVhosts: [],
    keepAlive: true, // KeepAlive On: wrk's "Connection: close" runs still get one request per connection
    startServers: 16,
    minSpareServers: 16,
    maxSpareServers: 32,
    maxRequestWorkers: 32,
  });
}

async function main(): Promise<void> {
  const rounds = numArg('rounds', 2);
  const seconds = numArg('duration', 10);
  const withCg = flag('cg');
  const withX = flag('x');
  const withRt = flag('rt');
  const withGp = flag('gp');
  const variants: Variant[] = [
    'bare',
    'vhqos',
    ...(withX ? (['vhqos-x'] as Variant[]) : []),
    ...(withGp ? (['vhqos-gp'] as Variant[]) : []),
    ...(withRt ? (['vhqos-rt'] as Variant[]) : []),
    ...(withCg ? (['bare-cg'] as Variant[]) : []),
  ];
  const modes: Mode[] = ['close', 'keep-alive'];
  await header(`apache: prefork static page, wrk -t2 -c16 -d${seconds}s, Host: gold.test, ${variants.join(' / ')} (${rounds} rounds)`);

  const config = benchConfig(['vhosts:', '  gold:', '    hosts: [gold.test]', '  bronze:', '    hosts: [bronze.test]', ''].join('\n'));

  // One site per server (vhqos and vhqos-x share the vhqos server).
  const servers = ['bare', 'vhqos', ...(withCg ? ['bare-cg'] : [])] as const;
  const sites = {} as Record<string, ApacheSite>;
  for (const [i, v] of servers.entries()) sites[v] = await site(18000 + i * 300);
  const portOf = (v: Variant) => sites[v.startsWith('vhqos') ? 'vhqos' : v].ports.http;

  await startBareSite(sites.bare);
  if (withCg) {
    const cg = makeBenchCgroup(`vhqos-bench-cg-${process.pid}`);
    const s = sites['bare-cg'];
    const enter = cg.dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
    const b = await startBare({ ...s, argv: ['/bin/sh', '-c', `${enter} && exec "$0" "$@"`, ...s.argv] });
    onCleanup(async () => {
      await b.stop();
    });
  }
  const instance = `bench-apache-${process.pid}`;
  const parent = withGp ? `vhqos-bench-${process.pid}` : 'vhqos';
  const vh: VhqosProcess = await startVhqosSite(sites.vhqos, { config, instance, cgroupParent: parent });
  console.log(`ports: ${servers.map((v) => `${v} ${sites[v].ports.http}`).join(', ')}; vhqos pid ${vh.pid}, instance ${instance}`);

  // Warm-up: let every site fork its children and fault its pages in.
  for (const v of servers) await wrk(sites[v].ports.http, 2, true);

  const samples: Sample[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const mode of modes) {
      for (const v of variants) {
        const sup = v.startsWith('vhqos');
        const restore =
          v === 'vhqos-x'
            ? await moveSupervisorToInstanceCpu(vh.pid, instance, parent)
            : v === 'vhqos-gp'
              ? await moveSupervisorCpu(vh.pid, parent)
              : v === 'vhqos-rt'
                ? setSupervisorRealtime(vh.pid)
                : null;
        if (sup && v !== 'vhqos' && !restore) console.error(`bench: ${v}: could not change the supervisor; measuring plain vhqos`);
        const st0 = sup ? await vhqosStatus(instance) : null;
        const cpu0 = sup ? threadCpuMs(vh.pid) : null;
        const sys0 = systemCpu();
        const w = await wrk(portOf(v), seconds, mode === 'close');
        const sys1 = systemCpu();
        const cpu1 = sup ? threadCpuMs(vh.pid) : null;
        const st1 = sup ? await vhqosStatus(instance) : null;
        restore?.();
        const s: Sample = { variant: v, mode, round: r, wrk: w, busy: busyPct(sys0, sys1) };
        if (cpu0 && cpu1) {
          s.supervisorCpuMs = cpu1.main + cpu1.others - cpu0.main - cpu0.others;
          s.supervisorJsMs = cpu1.main - cpu0.main;
        }
        if (st0 && st1) s.loop = diffLoop(st0.loop, st1.loop);
        samples.push(s);
        console.log(
          `round ${r + 1} ${mode.padEnd(10)} ${v.padEnd(7)} ${fmt(w.rps, 0).padStart(7)} req/s  latency ${fmt(w.latencyMs)} ms  ` +
            `CPU busy ${fmt(s.busy, 0)}%${s.supervisorCpuMs !== undefined ? `  supervisor ${fmt((s.supervisorCpuMs / (seconds * 1000)) * 100, 0)}% of a core` : ''}` +
            `${w.errors ? `  [${w.errors}]` : ''}`,
        );
        await sleep(500);
      }
    }
  }

  const final = await vhqosStatus(instance);
  const stopped = await vh.stop();
  console.log('');
  const med = (mode: Mode, v: Variant, f: (s: Sample) => number) => median(samples.filter((s) => s.mode === mode && s.variant === v).map(f));
  const rows: (string | number)[][] = [];
  const extra = variants.filter((v) => v !== 'bare' && v !== 'vhqos');
  for (const mode of modes) {
    const b = med(mode, 'bare', (s) => s.wrk.rps);
    const q = med(mode, 'vhqos', (s) => s.wrk.rps);
    rows.push([
      mode,
      fmt(b, 0),
      fmt(q, 0),
      `${fmt(q / b)}×`,
      goal(q / b >= 0.9),
      ...extra.flatMap((v) => {
        const x = med(mode, v, (s) => s.wrk.rps);
        return [fmt(x, 0), `${fmt(x / b)}×`];
      }),
      variants.map((v) => fmt(med(mode, v, (s) => s.wrk.latencyMs))).join(' / '),
    ]);
  }
  printTable(
    [
      'mode (median req/s)',
      'bare',
      'vhqos',
      'vhqos/bare',
      'goal ≥ 0.90×',
      ...extra.flatMap((v) => [v === 'bare-cg' ? v : `EXPERIMENT ${v}`, `${v}/bare`]),
      `latency ms ${variants.join(' / ')}`,
    ],
    rows,
  );

  console.log('');
  const lrows: (string | number)[][] = [];
  for (const mode of modes) {
    for (const v of variants.filter((x) => x.startsWith('vhqos'))) {
      const ss = samples.filter((s) => s.mode === mode && s.variant === v && s.loop);
      if (!ss.length) continue;
      const sum = (f: (s: Sample) => number) => ss.reduce((a, s) => a + f(s), 0);
      const reqs = sum((s) => s.wrk.requests);
      const notif = sum((s) => s.loop!.notifications);
      const fast = sum((s) => s.loop!.fast);
      const cpu = sum((s) => s.supervisorCpuMs ?? 0);
      const js = sum((s) => s.supervisorJsMs ?? 0);
      lrows.push([
        `${mode} ${v}`,
        reqs,
        fmt(notif / reqs, 2),
        `${fmt((100 * fast) / notif, 1)} %`,
        fmt(sum((s) => s.loop!.quietInspections) / reqs, 3),
        fmt(sum((s) => s.loop!.events) / reqs, 2),
        fmt(sum((s) => s.loop!.verdicts) / reqs, 2),
        sum((s) => s.loop!.parked),
        sum((s) => s.loop!.timeouts),
        `${fmt((cpu * 1000) / reqs, 1)} (JS ${fmt((js * 1000) / reqs, 1)})`,
        `${fmt((100 * cpu) / (ss.length * seconds * 1000), 0)} %`,
        `${fmt(median(ss.map((s) => s.busy)), 0)} %`,
      ]);
    }
  }
  printTable(
    [
      'vhqos loop (wrk runs)',
      'requests',
      'notifs/req',
      'fast share',
      'quiet insp/req',
      'events→JS/req',
      'verdicts/req',
      'parked',
      'timeouts',
      'supervisor CPU µs/req (JS thread)',
      'supervisor CPU (of 1 core)',
      'machine busy',
    ],
    lrows,
  );
  if (final) {
    console.log(`\nvhqos status at the end: loop ${JSON.stringify(final.loop)}`);
    console.log(`policy ${JSON.stringify(final.policy)}; vhosts ${final.vhosts.map((v) => `${v.name}: ${v.connections} connections, ${v.moves} moves`).join('; ')}`);
  }
  console.log(`vhqos exit: ${stopped.code ?? stopped.signal}${stopped.leftoverCgroups.length ? `; it left ${stopped.leftoverCgroups.length} cgroup dirs (removed by the bench)` : ''}`);
  console.log(`machine CPU busy during runs (median): ${variants.map((v) => `${v} ${fmt(median(samples.filter((s) => s.variant === v).map((s) => s.busy)), 0)}%`).join(', ')}`);
}

runMain('apache', main);
