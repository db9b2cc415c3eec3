// bench/accept: the two classification points against bare Apache, in one
// run, alternated: Apache 2.4 prefork (16-32 children), static 1 KiB page,
// two name-based vhosts with the Host alternating between them per request
// (a wrk Lua script), wrk -t2 -c16, Connection: close and keep-alive.
//
//   node dist/bench/accept.js [--rounds 3] [--duration 8] [--banner 60]
//                             [--variants bare,accept,read,each] [--modes close,keep-alive]
//
// Variants, each its own identical site on its own port:
//   bare     apache2 started directly
//   accept   vhqos run, options.classifyAt: accept (vhqos accepts, classifies, hands over)
//   read     vhqos run, options.classifyAt: read   (the first-read model)
//   each     vhqos run, classifyAt: accept, classifyEach: request (every
//            keep-alive request classified by its Host: every read trapped)
// Printed: req/s and the ratio to bare, supervisor CPU per connection,
// moves per connection, accept→hand-over latency p50/p99 (without and with
// a move), and the banner-first check: time to banner of a tcpserver banner
// server, bare and under vhqos (accept) with name-based vhosts configured
// for another port. Goals from the issue are marked met / not met; the
// script never fails for a missed goal.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pickPort, type ApacheSite } from '../test/helpers/site';
import { makeBannerServer, timeToBanner } from '../test/helpers/banner';
import { startBare, waitForPort } from '../test/helpers/proc';
import type { AcceptStats } from '../src/native';
import { benchSite, busyPct, capture, fmt, goal, header, loadAvg, median, onCleanup, printTable, runMain, sleep, startBareSite, startVhqos, startVhqosSite, systemCpu, threadCpuMs, vhqosStatus } from './lib';
import { listArg, numArg } from './args';

type Variant = 'bare' | 'accept' | 'read' | 'each';
type Mode = 'close' | 'keep-alive';
const ALL_VARIANTS: Variant[] = ['bare', 'accept', 'read', 'each'];
const ALL_MODES: Mode[] = ['close', 'keep-alive'];
const OPTIONS: Record<Exclude<Variant, 'bare'>, string> = {
  accept: 'classifyAt: accept',
  read: 'classifyAt: read',
  each: 'classifyAt: accept, classifyEach: request',
};


interface Sample {
  variant: Variant;
  mode: Mode;
  rps: number;
  requests: number;
  busy: number;
  supervisorCpuMs?: number;
  /** Of which the JS main thread. */
  supervisorJsMs?: number;
  handovers?: number;
  moves?: number;
  vhostMoves?: number;
  vhostConnections?: number;
  /** classifyEach: request: moves for later requests, and requests seen. */
  requestMoves?: number;
  requestsSeen?: number;
  errors: string;
}

const LUA = `
local i = 0
local close = os.getenv("WRK_CLOSE") == "1"
request = function()
  i = i + 1
  local h = { ["Host"] = (i % 2 == 0) and "gold.test" or "bronze.test" }
  if close then h["Connection"] = "close" end
  return wrk.format("GET", "/", h)
end
`;

async function wrk(port: number, seconds: number, close: boolean, script: string) {
  const r = await capture('wrk', ['-t2', '-c16', `-d${seconds}s`, '-s', script, `http://127.0.0.1:${port}/`], {
    timeoutMs: (seconds + 30) * 1000,
    env: { ...process.env, WRK_CLOSE: close ? '1' : '0' },
  });
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr || r.stdout}`);
  return {
    rps: Number(/Requests\/sec:\s+([0-9.]+)/.exec(r.stdout)?.[1]),
    requests: Number(/(\d+) requests in/.exec(r.stdout)?.[1]),
    errors: [/Socket errors:.*/.exec(r.stdout)?.[0], /Non-2xx or 3xx responses: \d+/.exec(r.stdout)?.[0]].filter(Boolean).join('; '),
  };
}

/** The site every variant serves, on the first free port from `lo`. */
async function site(lo: number): Promise<ApacheSite> {
  const s = await benchSite(lo, {
    addressVhosts: [],
    keepAlive: true,
    startServers: 16,
    minSpareServers: 16,
    maxSpareServers: 32,
    maxRequestWorkers: 32,
  });
  // A 1 KiB static page for both vhosts.
  const pages = (fs.readdirSync(s.dir, { recursive: true }) as string[]).filter((f) => path.basename(f) === 'index.html');
  for (const f of pages) fs.writeFileSync(path.join(s.dir, f), `${'x'.repeat(1023)}\n`);
  return s;
}

async function main(): Promise<void> {
  const rounds = numArg('rounds', 3);
  const seconds = numArg('duration', 8);
  const bannerN = numArg('banner', 60);
  const variants = listArg('variants', ALL_VARIANTS);
  if (!variants.includes('bare')) variants.unshift('bare');  // the ratios need it
  const modes = listArg('modes', ALL_MODES);
  const supervised = variants.filter((v): v is Exclude<Variant, 'bare'> => v !== 'bare');
  await header(`accept: Apache prefork, static 1 KiB page, Host alternating gold/bronze, wrk -t2 -c16 -d${seconds}s, ${variants.join(' / ')} alternated (${rounds} rounds)`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-bench-accept-'));
  onCleanup(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const script = path.join(tmp, 'alternate.lua');
  fs.writeFileSync(script, LUA);

  const sites = {} as Record<Variant, ApacheSite>;
  for (const [i, v] of variants.entries()) sites[v] = await site(18000 + i * 300);
  await startBareSite(sites.bare);
  const vh: Partial<Record<Variant, ReturnType<typeof startVhqos>>> = {};
  for (const v of supervised) {
    const config = path.join(tmp, `${v}.yaml`);
    fs.writeFileSync(config, `vhosts:\n  gold: { hosts: [gold.test] }\n  bronze: { hosts: [bronze.test] }\noptions: { ${OPTIONS[v]} }\n`);
    vh[v] = await startVhqosSite(sites[v], { config, instance: `bench-accept-${v}-${process.pid}`, label: v });
  }
  console.log(`ports: ${variants.map((v) => `${v} ${sites[v].ports.http}`).join(', ')}; load average ${loadAvg()}`);
  for (const v of variants) await wrk(sites[v].ports.http, 2, true, script); // warm-up

  const samples: Sample[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const mode of modes) {
      // Alternate the order too, so no variant always follows the same one.
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const p = v === 'bare' ? undefined : vh[v];
        const st0 = p ? await vhqosStatus(p.instance) : null;
        const cpu0 = p ? threadCpuMs(p.pid) : null;
        const sys0 = systemCpu();
        const w = await wrk(sites[v].ports.http, seconds, mode === 'close', script);
        const sys1 = systemCpu();
        const cpu1 = p ? threadCpuMs(p.pid) : null;
        const st1 = p ? await vhqosStatus(p.instance) : null;
        const s: Sample = { variant: v, mode, rps: w.rps, requests: w.requests, busy: busyPct(sys0, sys1), errors: w.errors };
        if (cpu0 && cpu1) {
          s.supervisorCpuMs = cpu1.main + cpu1.others - cpu0.main - cpu0.others;
          s.supervisorJsMs = cpu1.main - cpu0.main;
        }
        if (st0 && st1) {
          const a0 = st0.loop.accept as AcceptStats | undefined, a1 = st1.loop.accept as AcceptStats | undefined;
          if (a0 && a1) {
            s.handovers = a1.handovers - a0.handovers;
            s.moves = a1.moves - a0.moves;
          }
          const q0 = st0.loop.perRequest, q1 = st1.loop.perRequest;
          if (q0 && q1) {
            s.requestMoves = q1.moves - q0.moves;
            s.requestsSeen = q1.requests - q0.requests;
          }
          const sum = (st: typeof st0, k: 'moves' | 'connections') => st.vhosts.reduce((x, g) => x + g[k], 0);
          s.vhostMoves = sum(st1, 'moves') - sum(st0, 'moves');
          s.vhostConnections = sum(st1, 'connections') - sum(st0, 'connections');
        }
        samples.push(s);
        console.log(
          `round ${r + 1} ${mode.padEnd(10)} ${v.padEnd(6)} ${fmt(w.rps, 0).padStart(7)} req/s  CPU busy ${fmt(s.busy, 0)}%` +
            `${s.supervisorCpuMs !== undefined ? `  supervisor ${fmt((s.supervisorCpuMs / (seconds * 1000)) * 100, 0)}% of a core` : ''}${w.errors ? `  [${w.errors}]` : ''}`,
        );
        await sleep(500);
      }
    }
  }
  const finals: Partial<Record<Variant, Awaited<ReturnType<typeof vhqosStatus>>>> = {};
  for (const v of supervised) finals[v] = await vhqosStatus(vh[v]!.instance);

  console.log('');
  const of = (mode: Mode, v: Variant) => samples.filter((s) => s.mode === mode && s.variant === v);
  const rows: (string | number)[][] = [];
  for (const mode of modes) {
    const b = median(of(mode, 'bare').map((s) => s.rps));
    for (const v of supervised) {
      const ss = of(mode, v);
      const q = median(ss.map((s) => s.rps));
      const conns = ss.reduce((x, s) => x + (mode === 'close' ? s.requests : (s.vhostConnections ?? 0)), 0);
      const cpu = ss.reduce((x, s) => x + (s.supervisorCpuMs ?? 0), 0);
      const js = ss.reduce((x, s) => x + (s.supervisorJsMs ?? 0), 0);
      // At accept: hand-over moves, plus (each) moves for later requests.
      const moves = ss.reduce((x, s) => x + (v === 'read' ? (s.vhostMoves ?? 0) : (s.moves ?? 0) + (s.requestMoves ?? 0)), 0);
      const target = mode === 'close' ? 0.9 : 0.97;
      rows.push([
        `${mode} ${v}`,
        fmt(b, 0),
        fmt(q, 0),
        `${fmt(q / b)}×`,
        v === 'accept' ? goal(q / b >= target) + ` (≥ ${target}×)` : '',
        conns ? `${fmt((cpu * 1000) / conns, 1)} (JS ${fmt((js * 1000) / conns, 1)})` : '-',
        v === 'accept' && mode === 'close' && conns ? goal((cpu * 1000) / conns <= 10) + ' (≤ 10)' : '',
        conns ? fmt(moves / conns, 3) : '-',
        v === 'accept' && mode === 'close' && conns ? goal(moves / conns <= 0.2) + ' (≤ 0.2)' : '',
        fmt(median(ss.map((s) => s.busy)), 0) + ' %',
      ]);
    }
  }
  printTable(
    ['mode variant (median req/s)', 'bare', 'vhqos', 'ratio', 'goal', 'supervisor CPU µs/conn (JS thread)', 'goal', 'moves/conn', 'goal', 'machine busy'],
    rows,
  );
  const a = finals.accept?.loop.accept as AcceptStats | undefined;
  const each = finals.each?.loop.perRequest;
  if (each) {
    const eachSamples = samples.filter((s) => s.variant === 'each');
    const seen = eachSamples.reduce((x, s) => x + (s.requestsSeen ?? 0), 0);
    const moved = eachSamples.reduce((x, s) => x + (s.requestMoves ?? 0), 0);
    console.log(`\neach (classifyEach: request): ${seen} requests classified again, ${moved} moves (${seen ? fmt(moved / seen, 3) : '-'} per request); loop at the end: ${JSON.stringify({ ...each, groupMoves: undefined })}`);
  }
  if (a) {
    console.log('');
    printTable(
      ['accept → hand-over (whole run)', 'connections', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs', 'goal'],
      [
        ['no move needed', a.handoverUs.count, fmt(a.handoverUs.p50, 0), fmt(a.handoverUs.p90, 0), fmt(a.handoverUs.p99, 0), fmt(a.handoverUs.max, 0), goal(a.handoverUs.p99 <= 200) + ' (p99 ≤ 200 µs)'],
        ['with a move', a.handoverMovedUs.count, fmt(a.handoverMovedUs.p50, 0), fmt(a.handoverMovedUs.p90, 0), fmt(a.handoverMovedUs.p99, 0), fmt(a.handoverMovedUs.max, 0), ''],
      ],
    );
    console.log(`accept loop at the end: ${JSON.stringify({ ...a, handoverUs: undefined, handoverMovedUs: undefined })}`);
  }
  for (const v of supervised) await vh[v]!.stop();

  // Server speaks first: time to banner, bare vs under vhqos (accept), alternated.
  console.log('');
  const bp = await pickPort(['127.0.0.1'], 19600, 19649);
  const bq = await pickPort(['127.0.0.1'], 19650, 19699);
  const bareBanner = await makeBannerServer({ ip: '127.0.0.1', port: bp });
  const vhBanner = await makeBannerServer({ ip: '127.0.0.1', port: bq });
  onCleanup(() => bareBanner.stop());
  onCleanup(() => vhBanner.stop());
  const bb = await startBare(bareBanner);
  onCleanup(async () => {
    await bb.stop();
  });
  const config = path.join(tmp, 'banner.yaml');
  fs.writeFileSync(config, `vhosts:\n  gold: { hosts: [gold.test], addresses: ["127.0.0.1"] }\noptions: { classifyAt: accept, listeners: { default: address, "18080": name } }\n`);
  const vb = startVhqos({ config, instance: `bench-banner-${process.pid}`, argv: vhBanner.argv, env: vhBanner.env });
  await waitForPort('127.0.0.1', bp, 10000);
  await waitForPort('127.0.0.1', bq, 10000);
  const tb: number[] = [], tq: number[] = [];
  for (let i = 0; i < bannerN; i++) {
    tb.push((await timeToBanner('127.0.0.1', bp)).firstByteMs);
    tq.push((await timeToBanner('127.0.0.1', bq)).firstByteMs);
  }
  await vb.stop();
  const mb = median(tb), mq = median(tq);
  printTable(
    ['banner-first server (tcpserver), time to banner', 'bare median ms', 'vhqos median ms', 'difference ms', 'goal (within 5 ms)'],
    [[`${bannerN} connections each, alternated`, fmt(mb, 2), fmt(mq, 2), fmt(mq - mb, 2), goal(mq - mb <= 5)]],
  );
  console.log(`\nmachine: ${os.cpus().length} CPUs, load average at the end ${loadAvg()}`);
}

runMain('accept', main);
