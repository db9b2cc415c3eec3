// bench/slots: can a tenant that holds server processes (not CPU) starve
// another? Apache prefork with a fixed pool of 32 children; bronze runs 40
// concurrent clients of a CGI that sleeps 3 s (closed loop: each client asks
// again as soon as it has an answer, 200 or 503), while a gold request
// arrives every 100 ms (open loop: on time whatever the others do). vhqos
// gives bronze `connections: { max: 8 }`, so bronze's excess waits inside
// vhqos (then 503) instead of in Apache's children. Bare Apache in the same
// run is the anchor: there bronze takes all 32 children and gold waits
// behind it in the listen queue.
//
//   node dist/bench/slots.js [--rounds 2] [--flood 12] [--alone 5] [--children 32] [--bronze 40] [--max 8] [--every 100] [--sleep 3000]
//
// Phases: "alone" (gold only) and "flood" (gold + bronze), each bare and
// under vhqos, ABBA (round 1: alone bare, alone vhqos, flood bare, flood
// vhqos; round 2 the reverse). Goal (issue "per-vhost connection slots"):
// under vhqos every gold request succeeds and gold's median latency in the
// flood stays ≤ 1.5× its median alone.
import { waitForSite, type ApacheSite } from '../test/helpers/site';
import { httpGet, servedBy } from '../test/helpers/client';
import { benchConfig, benchSite, busyPct, fmt, goal, header, mean, median, percentile, printTable, runMain, sleep, startBareSite, startVhqosSite, systemCpu, vhqosStatus } from './lib';
import { numArg } from './args';

type Variant = 'bare' | 'vhqos';

interface Phase {
  kind: 'alone' | 'flood';
  variant: Variant;
  round: number;
  gold: { ms: number; status: number; by: string | null }[];
  bronze: { ok: number; refused: number; other: number };
  busy: number;
  bronzeServingMax?: number;
}

async function main(): Promise<void> {
  const rounds = numArg('rounds', 2);
  const floodS = numArg('flood', 12);
  const aloneS = numArg('alone', 5);
  const children = numArg('children', 32);
  const bronzeClients = numArg('bronze', 40);
  const max = numArg('max', 8);
  const every = numArg('every', 100);
  const sleepMs = numArg('sleep', 3000);
  await header(
    `slots: Apache prefork, ${children} children; bronze ${bronzeClients} clients of /cgi-bin/sleep?ms=${sleepMs}, ` +
      `connections.max ${max} under vhqos; gold one request every ${every} ms; flood ${floodS}s, alone ${aloneS}s, ${rounds} round(s)`,
  );
  const config = benchConfig(
    ['vhosts:', '  gold:', '    hosts: [gold.test]', '  bronze:', '    hosts: [bronze.test]', `    connections: { max: ${max} }`, ''].join('\n'),
    'slots.yaml',
  );
  const mkSite = (lo: number): Promise<ApacheSite> =>
    benchSite(lo, {
      addressVhosts: [],
      keepAlive: false,
      startServers: children,
      minSpareServers: children,
      maxSpareServers: children,
      maxRequestWorkers: children,
      extraConfig: 'ListenBacklog 1024\n',
    });
  const sites: Record<Variant, ApacheSite> = { bare: await mkSite(19000), vhqos: await mkSite(19300) };
  await startBareSite(sites.bare);
  const instance = `bench-slots-${process.pid}`;
  const vh = await startVhqosSite(sites.vhqos, { config, instance });
  await waitForSite(sites.bare, 20000);
  await sleep(2000); // every child started and parked
  console.log(`bare port ${sites.bare.ports.http}, vhqos port ${sites.vhqos.ports.http} (pid ${vh.pid}, instance ${instance})`);

  const run = async (kind: Phase['kind'], variant: Variant, round: number): Promise<Phase> => {
    const port = sites[variant].ports.http;
    const seconds = kind === 'alone' ? aloneS : floodS;
    const until = Date.now() + seconds * 1000;
    const bronze = { ok: 0, refused: 0, other: 0 };
    const clients: Promise<void>[] = [];
    if (kind === 'flood') {
      for (let i = 0; i < bronzeClients; i++) {
        clients.push(
          (async () => {
            while (Date.now() < until) {
              try {
                const r = await httpGet({ ip: '127.0.0.1', port, host: 'bronze.test', path: `/cgi-bin/sleep?ms=${sleepMs}`, timeoutMs: 60000 });
                if (r.status === 200) bronze.ok++;
                else if (r.status === 503) bronze.refused++;
                else bronze.other++;
              } catch {
                bronze.other++;
              }
            }
          })(),
        );
      }
      await sleep(1000); // bronze has taken what it can
    }
    const cpu0 = systemCpu();
    const gold: Phase['gold'] = [];
    const pending: Promise<void>[] = [];
    let servingMax = 0;
    const stopAt = kind === 'flood' ? until : Date.now() + seconds * 1000;
    for (let next = Date.now(); next < stopAt; next += every) {
      await sleep(Math.max(0, next - Date.now()));
      pending.push(
        (async () => {
          const t0 = Date.now();
          try {
            const r = await httpGet({ ip: '127.0.0.1', port, host: 'gold.test', path: '/cgi-bin/whoami', timeoutMs: 30000 });
            gold.push({ ms: Date.now() - t0, status: r.status, by: r.status === 200 ? servedBy(r.body) : null });
          } catch {
            gold.push({ ms: Date.now() - t0, status: 0, by: null });
          }
        })(),
      );
      if (variant === 'vhqos' && kind === 'flood' && gold.length % 10 === 0) {
        const st = (await vhqosStatus(instance)) as { vhosts: { name: string; serving?: number }[] } | null;
        servingMax = Math.max(servingMax, st?.vhosts.find((v) => v.name === 'bronze')?.serving ?? 0);
      }
    }
    await Promise.all(pending);
    const busy = busyPct(cpu0, systemCpu());
    await Promise.all(clients);
    await sleep(1500); // bronze's last CGIs end before the next phase
    return { kind, variant, round, gold, bronze, busy, bronzeServingMax: variant === 'vhqos' ? servingMax : undefined };
  };

  const phases: Phase[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order: [Phase['kind'], Variant][] = [
      ['alone', 'bare'],
      ['alone', 'vhqos'],
      ['flood', 'bare'],
      ['flood', 'vhqos'],
    ];
    if (round % 2 === 0) order.reverse();
    for (const [kind, variant] of order) {
      const p = await run(kind, variant, round);
      phases.push(p);
      const ms = p.gold.map((g) => g.ms);
      console.log(
        `round ${round} ${kind} ${variant}: gold ${p.gold.filter((g) => g.status === 200).length}/${p.gold.length} ok, median ${fmt(median(ms), 0)} ms` +
          (kind === 'flood' ? `, bronze ${p.bronze.ok} ok / ${p.bronze.refused} 503 / ${p.bronze.other} other` : '') +
          `, machine ${fmt(p.busy, 0)}% busy`,
      );
    }
  }

  const rows: (string | number)[][] = [];
  const summary: Record<string, { median: number; ok: number; n: number }> = {};
  for (const variant of ['bare', 'vhqos'] as Variant[]) {
    for (const kind of ['alone', 'flood'] as const) {
      const ps = phases.filter((p) => p.variant === variant && p.kind === kind);
      const gold = ps.flatMap((p) => p.gold);
      const ms = gold.map((g) => g.ms);
      const ok = gold.filter((g) => g.status === 200).length;
      const fromGold = gold.filter((g) => variant === 'bare' || g.by === 'gold').length;
      summary[`${variant}.${kind}`] = { median: median(ms), ok, n: gold.length };
      const b = ps.reduce((a, p) => ({ ok: a.ok + p.bronze.ok, refused: a.refused + p.bronze.refused, other: a.other + p.bronze.other }), { ok: 0, refused: 0, other: 0 });
      rows.push([
        variant,
        kind,
        `${ok}/${gold.length}`,
        variant === 'vhqos' ? `${fromGold}/${gold.length}` : '-',
        fmt(median(ms), 0),
        fmt(percentile(ms, 90), 0),
        fmt(Math.max(...ms), 0),
        kind === 'flood' ? `${b.ok} / ${b.refused} / ${b.other}` : '-',
        variant === 'vhqos' && kind === 'flood' ? Math.max(...ps.map((p) => p.bronzeServingMax ?? 0)) : '-',
        fmt(mean(ps.map((p) => p.busy)), 0),
      ]);
    }
  }
  printTable(
    ['variant', 'phase', 'gold ok', 'gold from gold cgroup', 'gold median ms', 'p90 ms', 'max ms', 'bronze 200 / 503 / other', 'bronze serving (max seen)', 'machine busy %'],
    rows,
  );
  const ratio = (v: Variant) => summary[`${v}.flood`].median / summary[`${v}.alone`].median;
  const allOk = summary['vhqos.flood'].ok === summary['vhqos.flood'].n;
  console.log('');
  printTable(
    ['measure', 'bare', 'vhqos', 'goal'],
    [
      ['gold median flood / alone', `${fmt(ratio('bare'))}×`, `${fmt(ratio('vhqos'))}×`, `≤ 1.5× under vhqos: ${goal(ratio('vhqos') <= 1.5)}`],
      ['gold requests that succeeded in the flood', `${summary['bare.flood'].ok}/${summary['bare.flood'].n}`, `${summary['vhqos.flood'].ok}/${summary['vhqos.flood'].n}`, `all under vhqos: ${goal(allOk)}`],
    ],
  );
  await vh.stop();
}

runMain('slots', main);
