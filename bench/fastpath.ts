// bench/fastpath: the cost of one trapped syscall on vhqos' native fast path
// (a read() on an fd the loop already inspected and marked quiet), against
// the C floor ../shared/bench/notif-ref.c measured in the same run.
//
//   node dist/bench/fastpath.js [--rounds 5] [--n 200000]
//
// Each round runs, back to back: trap-loop read bare, trap-loop getppid bare,
// notif-ref (default + sync), trap-loop read under `vhqos run` (CLI, one
// vhost). Medians over the rounds are compared. The overhead columns subtract
// each syscall's own bare cost (read of 1 byte from /dev/zero for trap-loop,
// getppid for notif-ref), so that the two loops are compared on the
// round-trip through the supervisor alone.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  NOTIF_REF_SRC,
  REPO,
  capture,
  compileC,
  diffLoop,
  fmt,
  goal,
  header,
  median,
  onCleanup,
  printTable,
  runMain,
  sleep,
  startVhqos,
  vhqosStatus,
  type LoopStats,
} from './lib';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const env = process.env[`BENCH_${name.toUpperCase()}`];
  const v = i >= 0 ? Number(process.argv[i + 1]) : env !== undefined ? Number(env) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}

function parseUs(out: string, mode: string): number {
  const m = new RegExp(`mode=${mode} us_per_syscall=([0-9.]+)`).exec(out);
  return m ? Number(m[1]) : NaN;
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 5);
  const n = arg('n', 200000);
  const trapLoop = compileC(path.join(REPO, 'bench', 'trap-loop.c'), 'trap-loop');
  if (!fs.existsSync(NOTIF_REF_SRC)) throw new Error(`notif-ref source not found at ${NOTIF_REF_SRC} (set NOTIF_REF_SRC)`);
  const notifRef = compileC(NOTIF_REF_SRC, 'notif-ref');
  // notif-ref with the supervisor waiting in epoll_wait (as vhqos' loop does) instead of poll.
  const notifEpoll = compileC(path.join(REPO, 'bench', 'notif-epoll.c'), 'notif-epoll');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-bench-fastpath-'));
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'one-vhost.yaml');
  fs.writeFileSync(config, 'vhosts:\n  gold:\n    hosts: [gold.test]\n');

  await header(`fastpath: one trapped syscall, vhqos fast path vs notif-ref (N=${n}, ${rounds} rounds)`);

  const rows: Record<string, number[]> = { bareRead: [], bareGetppid: [], refDefault: [], refSync: [], epDefault: [], epSync: [], vhqos: [] };
  const loops: LoopStats[] = [];
  const leftovers: string[] = [];
  for (let r = 0; r < rounds; r++) {
    const bare = await capture(trapLoop, [String(n), 'read']);
    rows.bareRead.push(parseUs(bare.stdout, 'read'));
    const bareG = await capture(trapLoop, [String(n), 'getppid']);
    rows.bareGetppid.push(parseUs(bareG.stdout, 'getppid'));
    const ref = await capture(notifRef, [String(n)], { timeoutMs: 120000 });
    if (ref.code !== 0) throw new Error(`notif-ref failed: ${ref.stderr}`);
    rows.refDefault.push(parseUs(ref.stdout, 'default'));
    rows.refSync.push(parseUs(ref.stdout, 'sync'));
    const ep = await capture(notifEpoll, [String(n)], { timeoutMs: 120000 });
    if (ep.code !== 0) throw new Error(`notif-epoll failed: ${ep.stderr}`);
    rows.epDefault.push(parseUs(ep.stdout, 'default'));
    rows.epSync.push(parseUs(ep.stdout, 'sync'));

    // Under vhqos: hold the process 1.5 s after it prints, and read the
    // loop's counters then (the fast-path count must be ~N).
    const instance = `bench-fastpath-${process.pid}-${r}`;
    let result = '';
    let gotLine: () => void = () => {};
    const line = new Promise<void>((res) => (gotLine = res));
    const v = startVhqos({
      config,
      instance,
      argv: [trapLoop, String(n), 'read', '1500'],
      onLine: (l) => {
        if (l.includes('us_per_syscall=')) {
          result = l;
          gotLine();
        }
      },
    });
    const first = await Promise.race([line.then(() => 'line'), v.exited.then(() => 'exit'), sleep(120000).then(() => 'timeout')]);
    if (first !== 'line') {
      await v.stop();
      throw new Error(`trap-loop under vhqos did not report (${first}): ${v.output()}`);
    }
    const before = { notifications: 0, fast: 0, quietInspections: 0, events: 0, verdicts: 0, timeouts: 0, parked: 0, sendErrors: 0 };
    const st = await vhqosStatus(instance);
    if (st) loops.push(diffLoop(before, st.loop));
    const ex = await Promise.race([v.exited, sleep(15000).then(() => null)]);
    const stopped = await v.stop();
    if (!ex) console.error(`round ${r}: vhqos did not exit by itself after the server exited`);
    if (stopped.code !== 0) console.error(`round ${r}: vhqos exited with ${stopped.code ?? stopped.signal} (trap-loop exits 0)`);
    if (stopped.leftoverCgroups.length) leftovers.push(`round ${r}: ${stopped.leftoverCgroups.length} cgroup dirs left by vhqos (removed by the bench)`);
    rows.vhqos.push(parseUs(result, 'read'));
    console.log(
      `round ${r + 1}/${rounds}: bare read ${fmt(rows.bareRead[r], 3)}  bare getppid ${fmt(rows.bareGetppid[r], 3)}  ` +
        `notif-ref default ${fmt(rows.refDefault[r], 3)}  sync ${fmt(rows.refSync[r], 3)}  ` +
        `notif-epoll default ${fmt(rows.epDefault[r], 3)}  sync ${fmt(rows.epSync[r], 3)}  vhqos ${fmt(rows.vhqos[r], 3)} µs`,
    );
  }

  const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)])) as Record<keyof typeof rows, number>;
  const min = (xs: number[]) => Math.min(...xs.filter(Number.isFinite));
  const refNet = m.refSync - m.bareGetppid;
  const vNet = m.vhqos - m.bareRead;
  console.log('');
  printTable(
    ['measurement (µs per syscall)', 'median', 'min', 'minus own bare cost'],
    [
      ['bare read(/dev/zero, 1) (no filter)', fmt(m.bareRead, 3), fmt(min(rows.bareRead), 3), ''],
      ['bare getppid (no filter)', fmt(m.bareGetppid, 3), fmt(min(rows.bareGetppid), 3), ''],
      ['notif-ref default (trapped getppid)', fmt(m.refDefault, 3), fmt(min(rows.refDefault), 3), fmt(m.refDefault - m.bareGetppid, 3)],
      ['notif-ref sync (trapped getppid)', fmt(m.refSync, 3), fmt(min(rows.refSync), 3), fmt(refNet, 3)],
      ['notif-epoll default (notif-ref waiting in epoll)', fmt(m.epDefault, 3), fmt(min(rows.epDefault), 3), fmt(m.epDefault - m.bareGetppid, 3)],
      ['notif-epoll sync (notif-ref waiting in epoll)', fmt(m.epSync, 3), fmt(min(rows.epSync), 3), fmt(m.epSync - m.bareGetppid, 3)],
      ['vhqos fast path (trapped read, quiet fd)', fmt(m.vhqos, 3), fmt(min(rows.vhqos), 3), fmt(vNet, 3)],
    ],
  );
  const ratioRaw = m.vhqos / m.refSync;
  const ratioNet = vNet / refNet;
  console.log('');
  printTable(
    ['ratio', 'value', 'goal ≤ 1.5×'],
    [
      ['vhqos / notif-ref sync (raw medians)', `${fmt(ratioRaw)}×`, goal(ratioRaw <= 1.5)],
      ['(vhqos − bare read) / (notif-ref sync − bare getppid)', `${fmt(ratioNet)}×`, goal(ratioNet <= 1.5)],
      ['vhqos / notif-ref default (raw)', `${fmt(m.vhqos / m.refDefault)}×`, ''],
      ['notif-epoll sync / notif-ref sync (raw; cost of waiting in epoll)', `${fmt(m.epSync / m.refSync)}×`, ''],
    ],
  );
  if (loops.length) {
    const fast = median(loops.map((l) => l.fast));
    const notif = median(loops.map((l) => l.notifications));
    console.log(
      `\nvhqos loop counters per run (median): notifications ${notif}, fast ${fast} ` +
        `(${fmt((100 * fast) / notif, 1)} %), quiet inspections ${median(loops.map((l) => l.quietInspections))}, ` +
        `events to JS ${median(loops.map((l) => l.events))}, verdicts ${median(loops.map((l) => l.verdicts))}; ` +
        `expected fast ≈ N + warm-up = ${n + Math.floor(n / 20) + 100}`,
    );
  }
  for (const l of leftovers) console.log(`note: ${l}`);
}

runMain('fastpath', main);
