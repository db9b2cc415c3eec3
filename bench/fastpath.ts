// bench/fastpath: the cost of one trapped syscall on vhqos' native fast path
// (a read() on an fd the loop already inspected and marked quiet), against
// the C floor ../shared/bench/notif-ref.c measured in the same run.
//
//   node dist/bench/fastpath.js [--rounds 3] [--n 60000]
//
// Each round runs, back to back:
//   trap-loop read / getppid bare   the syscalls' own cost (no filter)
//   notif-ref                        C supervisor, poll(); default and SYNC_WAKE_UP
//   notif-epoll                      the same waiting in epoll_wait (as vhqos does)
//   vhqos                            trap-loop read under `node bin/vhqos.js run` (one vhost)
//   EXPERIMENT vhqos, supervisor in instance cgroup
//                                    the same, but the bench moves the supervisor
//                                    process into the instance's cpu cgroup (the
//                                    parent of the group the target is in) before
//                                    trap-loop starts timing
//   EXPERIMENT vhqos, supervisor in cgroup parent
//                                    the instance is created under a private
//                                    --cgroup-parent and the bench moves the
//                                    supervisor into that parent (an ancestor of
//                                    the target's group, outside the vhost tree)
//   EXPERIMENT vhqos, supervisor SCHED_RR
//                                    the same, supervisor threads under SCHED_RR 1
// (vhqos does neither itself: they show where the fast-path time goes.)
// Medians over the rounds are compared. The overhead column subtracts each
// syscall's own bare cost (1-byte read from /dev/zero for trap-loop, getppid
// for notif-ref) so the loops are compared on the supervisor round trip alone.
// For the vhqos runs the target's scheduler counters (/proc/PID/sched) are read
// while it holds after timing: CPU migrations per trapped syscall.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  NOTIF_REF_SRC,
  REPO,
  capture,
  compileC,
  cpuCgroupOf,
  diffLoop,
  fmt,
  goal,
  header,
  median,
  moveSupervisorCpu,
  moveSupervisorToInstanceCpu,
  setSupervisorRealtime,
  waitForServerStarted,
  onCleanup,
  printTable,
  runMain,
  schedCounters,
  sleep,
  startVhqos,
  vhqosStatus,
  type LoopStats,
} from './lib';
import { numArg } from './args';


function parseUs(out: string, mode: string): number {
  const m = new RegExp(`mode=${mode} us_per_syscall=([0-9.]+)`).exec(out);
  return m ? Number(m[1]) : NaN;
}

interface VhqosRun {
  us: number;
  loop?: LoopStats;
  /** Target's CPU migrations per trapped syscall during the whole run. */
  migrationsPerSyscall: number;
  supervisorCgroup: string;
  targetCgroup: string;
}

const HOLD_MS = 800;
const DELAY_MS = 300;

type Tweak = 'none' | 'moved' | 'gp' | 'rt';

async function runUnderVhqos(opts: { trapLoop: string; n: number; config: string; instance: string; tweak: Tweak }): Promise<VhqosRun> {
  let result = '';
  let gotLine: () => void = () => {};
  const line = new Promise<void>((res) => (gotLine = res));
  const parent = opts.tweak === 'gp' ? `vhqos-bench-${process.pid}` : 'vhqos';
  const v = startVhqos({
    config: opts.config,
    instance: opts.instance,
    cgroupParent: parent,
    // Same start delay in both variants; the experiment moves the supervisor during it.
    argv: [opts.trapLoop, String(opts.n), 'read', String(HOLD_MS), String(DELAY_MS)],
    onLine: (l) => {
      if (l.includes('us_per_syscall=')) {
        result = l;
        gotLine();
      }
    },
  });
  let restore: (() => void) | null = null;
  if (opts.tweak === 'moved') {
    restore = await moveSupervisorToInstanceCpu(v.pid, opts.instance);
    if (!restore) console.error(`bench: could not move the supervisor into the instance cgroup; this run is plain vhqos`);
  } else if (opts.tweak === 'gp') {
    restore = await moveSupervisorCpu(v.pid, parent);
    if (!restore) console.error(`bench: could not move the supervisor into ${parent}; this run is plain vhqos`);
  } else if (opts.tweak === 'rt') {
    if (await waitForServerStarted(opts.instance)) restore = setSupervisorRealtime(v.pid);
    if (!restore) console.error(`bench: could not make the supervisor SCHED_RR; this run is plain vhqos`);
  }
  const first = await Promise.race([line.then(() => 'line'), v.exited.then(() => 'exit'), sleep(120000).then(() => 'timeout')]);
  if (first !== 'line') {
    restore?.();
    await v.stop();
    throw new Error(`trap-loop under vhqos did not report (${first}): ${v.output()}`);
  }
  const st = await vhqosStatus(opts.instance);
  const targetPid = (st as unknown as { server?: { pid?: number } } | null)?.server?.pid;
  const sched = targetPid ? schedCounters(`/proc/${targetPid}`) : null;
  const run: VhqosRun = {
    us: parseUs(result, 'read'),
    migrationsPerSyscall: sched && st ? sched.migrations / Math.max(1, st.loop.notifications) : NaN,
    supervisorCgroup: cpuCgroupOf(v.pid) ?? '?',
    targetCgroup: targetPid ? cpuCgroupOf(targetPid) ?? '?' : '?',
  };
  if (st) run.loop = diffLoop({ notifications: 0, fast: 0, quietInspections: 0, events: 0, verdicts: 0, timeouts: 0, parked: 0, sendErrors: 0 }, st.loop);
  restore?.();
  const ex = await Promise.race([v.exited, sleep(15000).then(() => null)]);
  const stopped = await v.stop();
  if (!ex) console.error(`${opts.instance}: vhqos did not exit by itself after the server exited`);
  if (stopped.code !== 0) console.error(`${opts.instance}: vhqos exited with ${stopped.code ?? stopped.signal} (trap-loop exits 0)`);
  if (stopped.leftoverCgroups.length) console.error(`${opts.instance}: vhqos left ${stopped.leftoverCgroups.length} cgroup dirs (removed by the bench)`);
  return run;
}

async function main(): Promise<void> {
  const rounds = numArg('rounds', 3);
  const n = numArg('n', 60000);
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

  const rows: Record<string, number[]> = { bareRead: [], bareGetppid: [], refDefault: [], refSync: [], epDefault: [], epSync: [], vhqos: [], vhqosX: [], vhqosGp: [], vhqosRt: [] };
  const runs: Record<Tweak, VhqosRun[]> = { none: [], moved: [], gp: [], rt: [] };
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
    // Rotate which vhqos variant goes first.
    const tweaks: Tweak[] = ['none', 'moved', 'gp', 'rt'];
    for (let k = 0; k < tweaks.length; k++) {
      const tweak = tweaks[(k + r) % tweaks.length];
      const run = await runUnderVhqos({ trapLoop, n, config, instance: `bench-fastpath-${process.pid}-${r}-${tweak}`, tweak });
      runs[tweak].push(run);
      ({ none: rows.vhqos, moved: rows.vhqosX, gp: rows.vhqosGp, rt: rows.vhqosRt })[tweak].push(run.us);
    }
    console.log(
      `round ${r + 1}/${rounds}: bare read ${fmt(rows.bareRead[r], 3)}  bare getppid ${fmt(rows.bareGetppid[r], 3)}  ` +
        `notif-ref default ${fmt(rows.refDefault[r], 3)} sync ${fmt(rows.refSync[r], 3)}  ` +
        `notif-epoll default ${fmt(rows.epDefault[r], 3)} sync ${fmt(rows.epSync[r], 3)}  ` +
        `vhqos ${fmt(rows.vhqos[r], 3)}  (experiments: supervisor in instance cgroup ${fmt(rows.vhqosX[r], 3)}, in cgroup parent ${fmt(rows.vhqosGp[r], 3)}, SCHED_RR ${fmt(rows.vhqosRt[r], 3)}) µs`,
    );
  }

  const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)])) as Record<keyof typeof rows, number>;
  const min = (xs: number[]) => Math.min(...xs.filter(Number.isFinite));
  const refNet = m.refSync - m.bareGetppid;
  const vNet = m.vhqos - m.bareRead;
  const xNet = m.vhqosX - m.bareRead;
  const rtNet = m.vhqosRt - m.bareRead;
  const gpNet = m.vhqosGp - m.bareRead;
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
      ['EXPERIMENT vhqos, supervisor in instance cpu cgroup', fmt(m.vhqosX, 3), fmt(min(rows.vhqosX), 3), fmt(xNet, 3)],
      ['EXPERIMENT vhqos, supervisor in cgroup parent', fmt(m.vhqosGp, 3), fmt(min(rows.vhqosGp), 3), fmt(gpNet, 3)],
      ['EXPERIMENT vhqos, supervisor threads SCHED_RR', fmt(m.vhqosRt, 3), fmt(min(rows.vhqosRt), 3), fmt(rtNet, 3)],
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
      ['EXPERIMENT supervisor in instance cgroup, net / notif-ref sync net', `${fmt(xNet / refNet)}×`, `(${goal(xNet / refNet <= 1.5)})`],
      ['EXPERIMENT supervisor in cgroup parent, net / notif-ref sync net', `${fmt(gpNet / refNet)}×`, `(${goal(gpNet / refNet <= 1.5)})`],
      ['EXPERIMENT supervisor SCHED_RR, net / notif-ref sync net', `${fmt(rtNet / refNet)}×`, `(${goal(rtNet / refNet <= 1.5)})`],
    ],
  );
  console.log('');
  const srow = (label: string, rs: VhqosRun[]) => {
    const loops = rs.map((x) => x.loop).filter((l): l is LoopStats => !!l);
    const notif = median(loops.map((l) => l.notifications));
    const fast = median(loops.map((l) => l.fast));
    return [
      label,
      rs[0]?.supervisorCgroup ?? '?',
      rs[0]?.targetCgroup ?? '?',
      fmt(median(rs.map((x) => x.migrationsPerSyscall)), 3),
      `${notif} / ${fast} (${fmt((100 * fast) / notif, 1)} %)`,
      median(loops.map((l) => l.events)),
    ];
  };
  printTable(
    ['vhqos run (medians)', 'supervisor cpu cgroup', 'target cpu cgroup', 'target CPU migrations per trap', 'notifications / fast', 'events to JS'],
    [srow('vhqos', runs.none), srow('EXPERIMENT in instance cgroup', runs.moved), srow('EXPERIMENT in cgroup parent', runs.gp), srow('EXPERIMENT SCHED_RR', runs.rt)],
  );
  console.log(`expected notifications ≈ N + warm-up + a few = ${n + Math.floor(n / 20) + 100}+`);
}

runMain('fastpath', main);
