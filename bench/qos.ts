// bench/qos: does vhqos give gold its weight? Two name-based vhosts of one
// Apache prefork serve a CPU-bound CGI (/cgi-bin/burn?ms=N: N ms of CPU in a
// process mod_cgi forks from the serving child, so it is charged to that
// child's cgroup). vhqos gives gold cpu weight 400 and bronze 100
// (v1 cpu.shares 4096:1024). Both vhosts are saturated (more concurrent
// clients than cores each). Bare Apache (no vhqos), in the same run, is the
// anchor: there the two vhosts should split about 50:50.
//
//   node dist/bench/qos.js [--rounds 1] [--duration 20] [--alone 8] [--burn 20] [--clients 4]
//
// Phases per round, bare then vhqos: "gold alone" (gold's clients only), then
// "flood" (gold's and bronze's clients at once). Reported: gold's share of
// the requests completed in the flood window (goal 80 ± 5 %), gold's mean
// latency in the flood vs alone (goal ≤ 1.5×), and under vhqos the CPU the
// two cgroups actually got.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeApacheSite, pickPort, startApacheBare, waitForSite, type ApacheSite } from '../test/helpers/apache';
import {
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
  startVhqos,
  systemCpu,
  vhqosStatus,
} from './lib';
import { runLoad, type LoadResult } from './loadgen';

function numArg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const env = process.env[`BENCH_${name.toUpperCase()}`];
  const v = i >= 0 ? Number(process.argv[i + 1]) : env !== undefined ? Number(env) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}

type Variant = 'bare' | 'vhqos';

interface Phase {
  variant: Variant;
  round: number;
  alone: LoadResult;
  flood: LoadResult[];
  busyAlone: number;
  busyFlood: number;
  /** vhqos only: CPU µs per vhost cgroup during the flood window (incl. warm-up). */
  cpu?: Record<string, number>;
}

async function main(): Promise<void> {
  const rounds = numArg('rounds', 1);
  const duration = numArg('duration', 20);
  const alone = numArg('alone', 8);
  const burn = numArg('burn', 20);
  const clients = numArg('clients', 4);
  const warmup = 2;
  await header(
    `qos: CPU-bound CGI burn?ms=${burn}, gold:bronze weights 400:100, ${clients} clients per vhost, ` +
      `flood ${duration}s, alone ${alone}s (+${warmup}s warm-up each), ${rounds} round(s)`,
  );

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-bench-qos-'));
  onCleanup(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const config = path.join(tmp, 'qos.yaml');
  fs.writeFileSync(
    config,
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
  );

  const mkSite = async (lo: number): Promise<ApacheSite> => {
    const s = await makeApacheSite({
      port: await pickPort(['127.0.0.1'], lo, lo + 299),
      addressVhosts: [],
      keepAlive: false,
      startServers: 4 * clients,
      minSpareServers: 2 * clients,
      maxSpareServers: 4 * clients,
      maxRequestWorkers: Math.max(16, 4 * clients),
    });
    onCleanup(() => s.stop());
    return s;
  };
  const sites: Record<Variant, ApacheSite> = { bare: await mkSite(19000), vhqos: await mkSite(19300) };

  const bare = await startApacheBare(sites.bare);
  onCleanup(async () => {
    await bare.stop();
  });
  const instance = `bench-qos-${process.pid}`;
  const vh = startVhqos({ config, instance, argv: sites.vhqos.argv, env: sites.vhqos.env });
  await Promise.race([
    waitForSite(sites.vhqos, 20000),
    vh.exited.then((e) => {
      throw new Error(`vhqos exited early (${e.code ?? e.signal}): ${vh.output()}`);
    }),
  ]);
  const shares = ['gold', 'bronze'].map((v) => {
    try {
      return `${v} cpu.shares=${fs.readFileSync(`/sys/fs/cgroup/cpu/vhqos/${instance}/${v}/cpu.shares`, 'utf8').trim()}`;
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
    return vhostOk && cgroupOf(body).endsWith(`/vhqos/${instance}/${label}`);
  };
  const target = (variant: Variant, label: string) => ({
    label,
    port: sites[variant].ports.http,
    host: `${label}.test`,
    path: `/cgi-bin/burn?ms=${burn}`,
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

  const phases: Phase[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const variant of ['bare', 'vhqos'] as Variant[]) {
      const s0 = systemCpu();
      const [a] = await runLoad([target(variant, 'gold')], { warmupMs: warmup * 1000, durationMs: alone * 1000, expect: expectFor(variant) });
      const s1 = systemCpu();
      await sleep(500);
      const c0 = variant === 'vhqos' ? await cgroupCpu() : undefined;
      const s2 = systemCpu();
      const flood = await runLoad([target(variant, 'gold'), target(variant, 'bronze')], {
        warmupMs: warmup * 1000,
        durationMs: duration * 1000,
        expect: expectFor(variant),
      });
      const s3 = systemCpu();
      const c1 = variant === 'vhqos' ? await cgroupCpu() : undefined;
      const p: Phase = { variant, round: r, alone: a, flood, busyAlone: busyPct(s0, s1), busyFlood: busyPct(s2, s3) };
      if (c0 && c1) p.cpu = Object.fromEntries(Object.keys(c1).map((k) => [k, c1[k] - (c0[k] ?? 0)]));
      phases.push(p);
      const [g, b] = flood;
      console.log(
        `round ${r + 1} ${variant.padEnd(5)} alone: gold ${a.completed} req, mean ${fmt(mean(a.latencies), 1)} ms | ` +
          `flood: gold ${g.completed} / bronze ${b.completed} req (gold ${fmt((100 * g.completed) / (g.completed + b.completed), 1)} %), ` +
          `gold mean ${fmt(mean(g.latencies), 1)} ms | CPU busy ${fmt(p.busyAlone, 0)}% / ${fmt(p.busyFlood, 0)}%` +
          (p.cpu
            ? ` | cgroup CPU gold ${fmt(p.cpu.gold / 1e6, 1)} s, bronze ${fmt(p.cpu.bronze / 1e6, 1)} s; ` +
              `${p.cpu['gold.moves'] + p.cpu['bronze.moves']} moves for ${p.cpu['gold.connections'] + p.cpu['bronze.connections']} connections`
            : ''),
      );
      const errs = [a, ...flood].map((x) => x.errors + x.bad).reduce((x, y) => x + y, 0);
      if (errs) console.log(`  ${errs} failed requests`);
      await sleep(500);
    }
  }
  const stopped = await vh.stop();

  console.log('');
  const rows: (string | number)[][] = [];
  const summary: Record<Variant, { share: number; ratio: number }> = {} as never;
  for (const variant of ['bare', 'vhqos'] as Variant[]) {
    const ps = phases.filter((p) => p.variant === variant);
    const gold = ps.reduce((n, p) => n + p.flood[0].completed, 0);
    const bronze = ps.reduce((n, p) => n + p.flood[1].completed, 0);
    const share = (100 * gold) / (gold + bronze);
    const latAlone = ps.flatMap((p) => p.alone.latencies);
    const latFlood = ps.flatMap((p) => p.flood[0].latencies);
    const latBronze = ps.flatMap((p) => p.flood[1].latencies);
    const ratio = mean(latFlood) / mean(latAlone);
    summary[variant] = { share, ratio };
    const matched = ps.reduce((n, p) => n + p.alone.matched + p.flood[0].matched + p.flood[1].matched, 0);
    const inspected = ps.reduce((n, p) => n + p.alone.inspected + p.flood[0].inspected + p.flood[1].inspected, 0);
    const cpuShare = variant === 'vhqos' ? median(ps.map((p) => (p.cpu ? (100 * p.cpu.gold) / (p.cpu.gold + p.cpu.bronze) : NaN))) : NaN;
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
    ['goal (vhqos)', 'measured', 'bare anchor', 'result'],
    [
      ['gold share of completed requests 80 ± 5 %', `${fmt(v.share, 1)} %`, `${fmt(summary.bare.share, 1)} %`, goal(Math.abs(v.share - 80) <= 5)],
      ['gold mean latency flood / alone ≤ 1.5×', `${fmt(v.ratio)}×`, `${fmt(summary.bare.ratio)}×`, goal(v.ratio <= 1.5)],
    ],
  );
  console.log(
    `\nvhqos exit: ${stopped.code ?? stopped.signal}${stopped.leftoverCgroups.length ? `; it left ${stopped.leftoverCgroups.length} cgroup dirs (removed by the bench)` : ''}`,
  );
  console.log(`machine CPU busy (median): alone ${fmt(median(phases.map((p) => p.busyAlone)), 0)}%, flood ${fmt(median(phases.map((p) => p.busyFlood)), 0)}%`);
}

runMain('qos', main);
