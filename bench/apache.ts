// bench/apache: Apache 2.4 prefork serving a static page, bare vs under
// `vhqos run`, with wrk -t2 -c16, Connection: close and keep-alive,
// alternated in one run. Name-based vhosts (Host: gold.test), so every new
// connection goes through vhqos' Host peek and classification.
//
//   node dist/bench/apache.js [--rounds 2] [--duration 10] [--no-cg]
//
// Three identical Apache sites run side by side on their own ports (idle when
// not measured); each round measures, for each mode, bare → vhqos → bare-cg:
//   bare     apache2 started directly (its processes in the root cpu cgroup)
//   vhqos    `node bin/vhqos.js run --config … --instance … -- apache2 …`
//   bare-cg  apache2 started directly inside one cgroup of our own at the
//            top of the cpu hierarchy: the same CPU-scheduling position the
//            vhqos tree has (one weight-1024 entity competing with wrk and
//            everything else in the root cgroup), but no seccomp filter. It
//            separates the cost of trapping from the effect of grouping.
// The ratio the goal is about is vhqos / bare.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeApacheSite, pickPort, startApacheBare, waitForSite, type ApacheSite } from '../test/helpers/apache';
import { startBare, type BareServer } from '../test/helpers/proc';
import {
  busyPct,
  capture,
  diffLoop,
  fmt,
  goal,
  header,
  makeBenchCgroup,
  median,
  onCleanup,
  printTable,
  threadCpuMs,
  runMain,
  sleep,
  startVhqos,
  systemCpu,
  vhqosStatus,
  type LoopStats,
  type VhqosProcess,
} from './lib';

function numArg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const env = process.env[`BENCH_${name.toUpperCase()}`];
  const v = i >= 0 ? Number(process.argv[i + 1]) : env !== undefined ? Number(env) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}

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

type Variant = 'bare' | 'vhqos' | 'bare-cg';
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

async function site(port: number): Promise<ApacheSite> {
  const s = await makeApacheSite({
    port,
    addressVhosts: [],
    keepAlive: true, // KeepAlive On: wrk's "Connection: close" runs still get one request per connection
    startServers: 16,
    minSpareServers: 16,
    maxSpareServers: 32,
    maxRequestWorkers: 32,
  });
  onCleanup(() => s.stop());
  return s;
}

async function main(): Promise<void> {
  const rounds = numArg('rounds', 2);
  const seconds = numArg('duration', 10);
  const withCg = !process.argv.includes('--no-cg');
  const variants: Variant[] = withCg ? ['bare', 'vhqos', 'bare-cg'] : ['bare', 'vhqos'];
  const modes: Mode[] = ['close', 'keep-alive'];
  await header(`apache: prefork static page, wrk -t2 -c16 -d${seconds}s, Host: gold.test, bare vs vhqos (${rounds} rounds)`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-bench-apache-'));
  onCleanup(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const config = path.join(tmp, 'site.yaml');
  fs.writeFileSync(config, ['vhosts:', '  gold:', '    hosts: [gold.test]', '  bronze:', '    hosts: [bronze.test]', ''].join('\n'));

  const ports: Record<Variant, number> = { bare: 0, vhqos: 0, 'bare-cg': 0 };
  const sites = {} as Record<Variant, ApacheSite>;
  for (const v of variants) {
    ports[v] = await pickPort(['127.0.0.1'], 18000 + variants.indexOf(v) * 300, 18299 + variants.indexOf(v) * 300);
    sites[v] = await site(ports[v]);
  }

  // bare
  const bare = await startApacheBare(sites.bare);
  onCleanup(async () => {
    await bare.stop();
  });
  // bare-cg
  let bareCg: BareServer | undefined;
  if (withCg) {
    const cg = makeBenchCgroup(`vhqos-bench-cg-${process.pid}`);
    const s = sites['bare-cg'];
    const enter = cg.dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ');
    bareCg = await startBare({ ...s, argv: ['/bin/sh', '-c', `${enter} && exec "$0" "$@"`, ...s.argv] });
    const b = bareCg;
    onCleanup(async () => {
      await b.stop();
    });
  }
  // vhqos
  const instance = `bench-apache-${process.pid}`;
  const vh: VhqosProcess = startVhqos({ config, instance, argv: sites.vhqos.argv, env: sites.vhqos.env });
  await Promise.race([
    waitForSite(sites.vhqos, 20000),
    vh.exited.then((e) => {
      throw new Error(`vhqos exited early (${e.code ?? e.signal}): ${vh.output()}`);
    }),
  ]);
  console.log(`ports: ${variants.map((v) => `${v} ${ports[v]}`).join(', ')}; vhqos pid ${vh.pid}, instance ${instance}`);

  // Warm-up: let every site fork its children and fault its pages in.
  for (const v of variants) await wrk(ports[v], 2, true);

  const samples: Sample[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const mode of modes) {
      for (const v of variants) {
        const st0 = v === 'vhqos' ? await vhqosStatus(instance) : null;
        const cpu0 = v === 'vhqos' ? threadCpuMs(vh.pid) : null;
        const sys0 = systemCpu();
        const w = await wrk(ports[v], seconds, mode === 'close');
        const sys1 = systemCpu();
        const cpu1 = v === 'vhqos' ? threadCpuMs(vh.pid) : null;
        const st1 = v === 'vhqos' ? await vhqosStatus(instance) : null;
        const s: Sample = { variant: v, mode, round: r, wrk: w, busy: busyPct(sys0, sys1) };
        if (cpu0 && cpu1) {
          s.supervisorCpuMs = cpu1.main + cpu1.others - cpu0.main - cpu0.others;
          s.supervisorJsMs = cpu1.main - cpu0.main;
        }
        if (st0 && st1) s.loop = diffLoop(st0.loop, st1.loop);
        samples.push(s);
        console.log(
          `round ${r + 1} ${mode.padEnd(10)} ${v.padEnd(7)} ${fmt(w.rps, 0).padStart(7)} req/s  latency ${fmt(w.latencyMs)} ms  ` +
            `CPU busy ${fmt(busy(s), 0)}%${s.supervisorCpuMs !== undefined ? `  supervisor ${fmt((s.supervisorCpuMs / (seconds * 1000)) * 100, 0)}% of a core` : ''}` +
            `${w.errors ? `  [${w.errors}]` : ''}`,
        );
        await sleep(500);
      }
    }
  }

  const final = await vhqosStatus(instance);
  const stopped = await vh.stop();
  console.log('');
  const rows: (string | number)[][] = [];
  const ratios: { mode: Mode; ratio: number; ratioCg: number }[] = [];
  for (const mode of modes) {
    const med = (v: Variant) => median(samples.filter((s) => s.mode === mode && s.variant === v).map((s) => s.wrk.rps));
    const lat = (v: Variant) => median(samples.filter((s) => s.mode === mode && s.variant === v).map((s) => s.wrk.latencyMs));
    const b = med('bare');
    const q = med('vhqos');
    const c = withCg ? med('bare-cg') : NaN;
    ratios.push({ mode, ratio: q / b, ratioCg: q / c });
    rows.push([
      mode,
      fmt(b, 0),
      ...(withCg ? [fmt(c, 0)] : []),
      fmt(q, 0),
      `${fmt(q / b)}×`,
      ...(withCg ? [`${fmt(q / c)}×`] : []),
      `${fmt(lat('bare'))} / ${fmt(lat('vhqos'))}`,
      goal(q / b >= 0.9),
    ]);
  }
  printTable(
    ['mode (median req/s)', 'bare', ...(withCg ? ['bare-cg'] : []), 'vhqos', 'vhqos/bare', ...(withCg ? ['vhqos/bare-cg'] : []), 'latency ms bare / vhqos', 'goal ≥ 0.90×'],
    rows,
  );

  console.log('');
  const lrows: (string | number)[][] = [];
  for (const mode of modes) {
    const ss = samples.filter((s) => s.mode === mode && s.variant === 'vhqos' && s.loop);
    if (!ss.length) continue;
    const sum = (f: (s: Sample) => number) => ss.reduce((a, s) => a + f(s), 0);
    const reqs = sum((s) => s.wrk.requests);
    const notif = sum((s) => s.loop!.notifications);
    const fast = sum((s) => s.loop!.fast);
    const cpu = sum((s) => s.supervisorCpuMs ?? 0);
    const js = sum((s) => s.supervisorJsMs ?? 0);
    lrows.push([
      mode,
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
    ]);
  }
  printTable(
    ['vhqos loop (wrk runs)', 'requests', 'notifs/req', 'fast share', 'quiet insp/req', 'events→JS/req', 'verdicts/req', 'parked', 'timeouts', 'supervisor CPU µs/req (JS thread)', 'supervisor CPU (of 1 core)'],
    lrows,
  );
  if (final) {
    console.log(`\nvhqos status at the end: loop ${JSON.stringify(final.loop)}`);
    console.log(`policy ${JSON.stringify(final.policy)}; vhosts ${final.vhosts.map((v) => `${v.name}: ${v.connections} connections, ${v.moves} moves`).join('; ')}`);
  }
  console.log(`vhqos exit: ${stopped.code ?? stopped.signal}${stopped.leftoverCgroups.length ? `; it left ${stopped.leftoverCgroups.length} cgroup dirs (removed by the bench)` : ''}`);
  console.log(`machine CPU busy during runs (median): ${variants.map((v) => `${v} ${fmt(median(samples.filter((s) => s.variant === v).map(busy)), 0)}%`).join(', ')}`);
}

function busy(s: Sample): number {
  return s.busy;
}

runMain('apache', main);
