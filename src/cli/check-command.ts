// `vhqos check`: what this machine supports, tried rather than guessed, and
// whether `vhqos run` can work here (exit status 1 if not). Then the
// container side (engine-check.ts): runtime, podman hooks, docker runtime,
// agent; reported, not part of the exit status.
import { disks, ioWeightProblem } from '../cgroup/block-device';
import * as os from 'node:os';
import { loadNative, type Features } from '../native';
import { detectCgroups, type CgroupDetection } from '../cgroup';
import { V1_USED, V2_USED } from '../cgroup/detect';
import { table } from './format';
import { containerRows, containersReady, probeContainers, type ContainerCheckOptions } from '../engines/engine-check';
import { agentSocketPath } from '../oci/prepare';

export interface CheckRow {
  item: string;
  ok: boolean;
  required: boolean;
  detail: string;
}

/** Pure: turns probe results into the rows of the report. */
export function checkRows(f: Features | Error, cg: CgroupDetection | Error, uid: number): CheckRow[] {
  const rows: CheckRow[] = [];
  rows.push({ item: 'running as root', ok: uid === 0, required: true, detail: uid === 0 ? 'uid 0' : `uid ${uid}: cgroups and pidfd_getfd need root` });
  if (f instanceof Error) {
    rows.push({ item: 'native addon', ok: false, required: true, detail: f.message.split('\n')[0] });
  } else {
    rows.push({ item: 'native addon', ok: true, required: true, detail: 'loaded' });
    const r = (item: string, ok: boolean, required: boolean, yes: string, no: string) => rows.push({ item, ok, required, detail: ok ? yes : no });
    r('seccomp user notification', f.userNotif, true, 'SECCOMP_RET_USER_NOTIF available', 'kernel lacks SECCOMP_RET_USER_NOTIF (needs Linux >= 5.0)');
    r('seccomp listener', f.newListener, true, 'a filter with NEW_LISTENER was installed in a test child',
      `could not install a filter with a listener (${f.listenerError ?? 'unknown'}): seccomp disabled or a container profile forbids it`);
    r('pidfd_open', f.pidfdOpen, true, 'process identity without pid-reuse races', 'needs Linux >= 5.3');
    r('pidfd_getfd', f.pidfdGetfd, true, 'inspects the server\'s sockets', 'needs Linux >= 5.6');
    r('SYNC_WAKE_UP', f.syncWakeup, false, 'fast notification round trips (~10x cheaper)', 'needs Linux >= 6.6: every trapped syscall costs ~17 us instead of ~2 us');
    r('WAIT_KILLABLE_RECV', f.waitKillableRecv, false, 'available (not needed)', 'not available (not needed)');
    r('ADDFD_FLAG_SEND', f.addfdSend, false, 'classification at accept (the default) works',
      'needs Linux >= 5.14: vhqos classifies at the first read instead (more trapped syscalls per request)');
  }
  if (cg instanceof Error) {
    rows.push({ item: 'cgroups', ok: false, required: true, detail: cg.message });
  } else if (cg.version === 2) {
    const have = cg.v2?.controllers ?? [];
    rows.push({ item: 'cgroups', ok: true, required: true, detail: `v2 at ${cg.v2?.mountPoint}` });
    if (cg.v2) rows.push(favordynmodsRow([cg.v2]));
    for (const c of V2_USED)
      rows.push({ item: `  controller ${c}`, ok: have.includes(c), required: c === 'cpu', detail: have.includes(c) ? 'available' : `not enabled at the root: ${c} settings will be reported and ignored` });
  } else {
    rows.push({ item: 'cgroups', ok: true, required: true, detail: 'v1 (legacy or hybrid hierarchy)' });
    for (const c of V1_USED) {
      const h = cg.v1.find((x) => x.controllers.includes(c));
      rows.push({ item: `  controller ${c}`, ok: !!h, required: c === 'cpu', detail: h ? `at ${h.mountPoint}` : `not mounted: ${c} settings will be reported and ignored` });
    }
    rows.push(favordynmodsRow(cg.v1.filter((h) => h.controllers.some((c) => V1_USED.includes(c)))));
  }
  if (!(cg instanceof Error)) {
    const problem = ioWeightProblem(cg.version === 2 ? 2 : 1);
    const list = disks().map((d) => `${d.name}: ${d.scheduler ?? '?'}`).join(', ') || 'no disks';
    rows.push({ item: 'io.weight effective', ok: !problem, required: false, detail: problem ?? `BFQ or blk-iocost present (${list}); io throttles (rbps/wbps/riops/wiops) work with any scheduler` });
  }
  return rows;
}

/** Whether the hierarchies vhqos moves processes in are mounted with favordynmods (reported, never changed). */
function favordynmodsRow(hs: { mountPoint: string; favordynmods?: boolean }[]): CheckRow {
  const on = hs.filter((h) => h.favordynmods);
  const ok = hs.length > 0 && on.length === hs.length;
  return {
    item: 'cgroup favordynmods',
    ok,
    required: false,
    detail: ok
      ? 'on: a move does not wait for an RCU grace period (fork and exit are slower system-wide)'
      : `off${on.length ? ` (on for ${on.map((h) => h.mountPoint).join(', ')})` : ''}: a move after an idle spell waits ~8 ms for an RCU grace period ` +
        '(vhqos moves off its loop and prefers processes already in place); mounting with favordynmods is the operator\'s choice',
  };
}

export interface CheckOptions {
  json: boolean;
  /** The agent socket to check (default: VHQOS_AGENT_SOCKET or /run/vhqos/agent.sock). */
  agentSocket?: string;
  /** podman hooks.d directories (default: podman's). */
  hooksDirs?: string[];
}

export async function checkCommand(opts: CheckOptions): Promise<number> {
  let features: Features | Error;
  try {
    features = loadNative().probe();
  } catch (e) {
    features = e as Error;
  }
  let cg: CgroupDetection | Error;
  try {
    cg = detectCgroups();
  } catch (e) {
    cg = e as Error;
  }
  const rows = checkRows(features, cg, process.getuid?.() ?? -1);
  const canRun = rows.every((r) => r.ok || !r.required);
  const probeOpts: ContainerCheckOptions = { agentSocket: opts.agentSocket ?? agentSocketPath(process.env), hooksDirs: opts.hooksDirs };
  const ctRows = containerRows(await probeContainers(probeOpts));
  const ctReady = canRun && containersReady(ctRows);
  const result = (r: CheckRow) => (r.ok ? 'ok' : r.required ? 'MISSING' : 'no');
  if (opts.json) {
    console.log(JSON.stringify({ kernel: os.release(), canRun, rows, containers: { ready: ctReady, rows: ctRows } }, null, 2));
  } else {
    console.log(`kernel ${os.release()} (${process.arch})\n`);
    console.log(table(['check', 'result', 'detail'], rows.map((r) => [r.item, result(r), r.detail])));
    console.log(`\n${canRun ? 'vhqos run can work here.' : 'vhqos run cannot work here: fix the MISSING items above.'}`);
    console.log('\ncontainers (podman hooks or docker vhqos-runtime, and the agent):\n');
    console.log(table(['check', 'result', 'detail'], ctRows.map((r) => [r.item, result(r), r.detail])));
    console.log(
      `\n${ctReady ? 'vhqos can supervise containers here.' : 'containers cannot be supervised yet: fix the MISSING items above, and install the podman hooks or register the docker runtime.'}`,
    );
  }
  return canRun ? 0 : 1;
}
