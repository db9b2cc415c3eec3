// Shared plumbing for the benchmarks in bench/: paths, compiling the C
// probes, running commands, starting `vhqos run` as a detached CLI process
// and stopping it, cleaning up the cgroups an instance may leave behind,
// CPU accounting, and table printing. Benchmarks are not tests: they print
// numbers and exit non-zero only when something broke.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseMountinfo } from '../src/cgroup/detect';
import { flag, usage } from './args';
import type { LoopStats } from '../src/native';
import { VHQOS_BIN, apacheSiteIn, configFile, startApacheBare, waitForSite, type ApacheSite, type ApacheSiteOptions } from '../test/helpers/site';
import type { BareServer } from '../test/helpers/proc';

/** Repository root, seen from dist/bench/*.js or bench/*.ts. */
export const REPO = (() => {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`bench: no repository root above ${__dirname}`);
    dir = up;
  }
})();
export const VHQOS_CLI = VHQOS_BIN;
export const NOTIF_REF_SRC = process.env.NOTIF_REF_SRC ?? path.join(REPO, '..', 'shared', 'bench', 'notif-ref.c');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));



// ---------------------------------------------------------------- cleanup

type Cleanup = () => Promise<void> | void;
const cleanups: Cleanup[] = [];

/** Registers something to undo at exit (also on SIGINT/SIGTERM), last in first out. */
export function onCleanup(fn: Cleanup): () => void {
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

let cleaning: Promise<void> | undefined;

/** Runs the registered cleanups once, one at a time; concurrent callers share the same run. */
export function runCleanups(): Promise<void> {
  if (!cleaning) {
    cleaning = (async () => {
      while (cleanups.length) {
        const fn = cleanups.pop() as Cleanup;
        try {
          await fn();
        } catch (e) {
          console.error(`bench: cleanup failed: ${(e as Error).message}`);
        }
      }
    })().finally(() => {
      cleaning = undefined;
    });
  }
  return cleaning;
}

/** Runs main(), always cleans up, exits 0 unless main threw; `--help` prints the usage instead. */
export function runMain(name: string, main: () => Promise<void>): void {
  if (flag('help')) {
    console.log(usage());
    return;
  }
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      console.error(`\n${name}: ${sig}, cleaning up`);
      void runCleanups().then(() => process.exit(130));
    });
  }
  main()
    .then(async () => {
      if (stopping) return; // the signal handler exits
      await runCleanups();
      process.exit(0);
    })
    .catch(async (e) => {
      if (stopping) return; // torn down under our feet by the signal handler
      console.error(`${name}: ERROR: ${(e as Error).stack ?? e}`);
      await runCleanups();
      process.exit(1);
    });
}

// ---------------------------------------------------------------- processes

export interface Captured {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, capturing its output. */
export function capture(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = opts.timeoutMs
      ? setTimeout(() => {
          try {
            child.kill('SIGKILL');
          } catch {
            /* gone */
          }
        }, opts.timeoutMs)
      : undefined;
    // Interrupted benchmark: do not leave the command running.
    const closed = new Promise<void>((r) => child.once('close', () => r()));
    const forget = onCleanup(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.race([closed, sleep(3000)]); // reaped, not left as a zombie
    });
    child.once('error', (e) => {
      forget();
      reject(e);
    });
    child.once('close', (code, signal) => {
      forget();
      if (t) clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Compiles a C file with cc -O2 into dist/bench/bin (cached by mtime). */
export function compileC(src: string, name: string, extraFlags: string[] = []): string {
  const outDir = path.join(REPO, 'dist', 'bench', 'bin');
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, name);
  const fresh = fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs;
  if (!fresh) execFileSync('cc', ['-O2', '-Wall', ...extraFlags, '-o', out, src], { stdio: ['ignore', 'inherit', 'inherit'] });
  return out;
}

/** utime+stime of a process (all its threads), in ms; null if gone. */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tck = 100; // USER_HZ on Linux
    return ((Number(f[11]) + Number(f[12])) * 1000) / tck;
  } catch {
    return null;
  }
}

/** CPU ms of a process's main thread (tid == pid: the JS thread of a Node process) and of all its other threads. */
export function threadCpuMs(pid: number): { main: number; others: number } | null {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  let main = 0;
  let others = 0;
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = ((Number(f[11]) + Number(f[12])) * 1000) / 100;
      if (Number(tid) === pid) main += ms;
      else others += ms;
    } catch {
      /* thread gone */
    }
  }
  return { main, others };
}

/**
 * CPU ms used so far by a server's master process and its direct children,
 * including what their reaped children used (cutime/cstime): for Apache
 * prefork that is the master, the serving children and the CGIs they forked.
 * (A serving child that exited meanwhile is in the master's cutime.)
 */
export function serverTreeCpuMs(masterPid: number): number {
  const fields = (pid: string): string[] | null => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    } catch {
      return null;
    }
  };
  // rest[0] is field 3 (state): ppid is rest[1], utime..cstime are rest[11..14].
  const cpu = (f: string[]) => ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / 100;
  let total = 0;
  const m = fields(String(masterPid));
  if (m) total += cpu(m);
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = fields(name);
    if (f && Number(f[1]) === masterPid) total += cpu(f);
  }
  return total;
}

/** Machine-wide CPU counters from /proc/stat (jiffies). */
export function systemCpu(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Busy share of all CPUs between two systemCpu() samples, in %. */
export function busyPct(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  const t = b.total - a.total;
  return t > 0 ? (100 * (b.busy - a.busy)) / t : 0;
}

export function loadAvg(): string {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

// ---------------------------------------------------------------- cgroups

/** Mount points of the v1 hierarchies and the v2 one, e.g. /sys/fs/cgroup/cpu. */
export function cgroupMounts(): string[] {
  const m = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  return [...m.v1, ...m.v2].map((h) => h.mountPoint);
}

/** Mount point of the cgroup v1 hierarchy that has `controller`, or null. */
export function v1Mount(controller: string): string | null {
  return parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).v1.find((h) => h.controllers.includes(controller))?.mountPoint ?? null;
}

/**
 * Removes what is left of cgroup instance `instance` under `parent` in every
 * hierarchy (vhqos is supposed to do it at exit; see BENCHMARKS.md on why it
 * sometimes does not). Only empty groups are removed; returns what was left.
 */
export function removeInstanceCgroups(instance: string, parent = 'vhqos'): string[] {
  const leftovers: string[] = [];
  for (const mnt of cgroupMounts()) {
    const dir = path.join(mnt, parent, instance);
    if (!fs.existsSync(dir)) continue;
    leftovers.push(dir);
    removeTree(dir);
  }
  return leftovers;
}

function removeTree(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) removeTree(path.join(dir, e.name));
  }
  try {
    fs.rmdirSync(dir);
  } catch (e) {
    const procs = (() => {
      try {
        return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean);
      } catch {
        return [];
      }
    })();
    console.error(`bench: could not remove ${dir}: ${(e as Error).message}${procs.length ? ` (processes ${procs.join(',')})` : ''}`);
  }
}

/** A cgroup of our own (v1 cpu + cpuacct) at the hierarchy root, for baselines. */
export function makeBenchCgroup(name: string): { dirs: string[]; usageNs(): number; remove(): Promise<void> } {
  const dirs = ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpuacct']
    .filter((m) => fs.existsSync(path.join(m, 'cgroup.procs')))
    .map((m) => path.join(m, name));
  for (const d of dirs) fs.mkdirSync(d);
  const remove = async () => {
    for (const d of dirs) {
      if (!fs.existsSync(d)) continue;
      // A just-killed process stays in its cgroup until it is reaped (EBUSY meanwhile).
      for (let i = 0; ; i++) {
        try {
          fs.rmdirSync(d);
          break;
        } catch (e) {
          if (i >= 50) {
            console.error(`bench: could not remove ${d}: ${(e as Error).message}`);
            break;
          }
          await sleep(100);
        }
      }
    }
  };
  onCleanup(remove);
  return {
    dirs,
    remove,
    usageNs() {
      const acct = dirs.find((d) => d.includes('cpuacct'));
      return acct ? Number(fs.readFileSync(path.join(acct, 'cpuacct.usage'), 'utf8')) : NaN;
    },
  };
}

// ---------------------------------------------------------------- vhqos

export interface VhqosProcess {
  pid: number;
  instance: string;
  child: ChildProcess;
  /** stdout+stderr so far (also written to logFile). */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM vhqos (it forwards to the server), wait, SIGKILL if needed, remove leftover cgroups. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; leftoverCgroups: string[] }>;
}

/**
 * Starts `node bin/vhqos.js run --config CONFIG --instance INSTANCE -- argv`
 * in its own process group (Apache prefork signals its whole group on stop).
 */
export function startVhqos(opts: {
  config: string;
  instance: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  logLevel?: string;
  onLine?: (line: string) => void;
  /** --cgroup-parent (default vhqos). A parent other than "vhqos" is removed again at stop if empty. */
  cgroupParent?: string;
}): VhqosProcess {
  const parent = opts.cgroupParent ?? 'vhqos';
  removeInstanceCgroups(opts.instance, parent); // stale leftovers of an earlier run of the same name
  const child = spawn(
    process.execPath,
    [
      VHQOS_CLI, 'run', '--config', opts.config, '--instance', opts.instance, '--cgroup-parent', parent,
      '--log-level', opts.logLevel ?? 'warn', '--', ...opts.argv,
    ],
    { env: opts.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let partial = '';
  const onData = (d: Buffer) => {
    const s = d.toString();
    out += s;
    if (out.length > 1 << 20) out = out.slice(-(1 << 19));
    if (opts.onLine) {
      partial += s;
      const lines = partial.split('\n');
      partial = lines.pop() as string;
      for (const l of lines) opts.onLine(l);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  let stopped: Promise<{ code: number | null; signal: NodeJS.Signals | null; leftoverCgroups: string[] }> | undefined;
  const pid = child.pid as number;
  const self: VhqosProcess = {
    pid,
    instance: opts.instance,
    child,
    exited,
    output: () => out,
    stop(graceMs = 15000) {
      if (stopped) return stopped;
      stopped = (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(pid, 'SIGTERM');
          } catch {
            /* gone */
          }
        }
        const st = await Promise.race([exited, sleep(graceMs).then(() => null)]);
        let res = st;
        if (!res) {
          console.error(`bench: vhqos ${pid} did not exit within ${graceMs} ms of SIGTERM; SIGKILL`);
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
          res = await exited;
        }
        const leftoverCgroups = removeInstanceCgroups(opts.instance, parent);
        if (parent !== 'vhqos') {
          // Our private parent: vhqos removes a parent it created only if empty; make sure.
          for (const mnt of cgroupMounts()) {
            const d = path.join(mnt, parent);
            if (fs.existsSync(d)) removeTree(d);
          }
        }
        return { ...res, leftoverCgroups };
      })();
      return stopped;
    },
  };
  onCleanup(async () => {
    await self.stop();
  });
  return self;
}

// ---------------------------------------------------------------- sites (test/helpers/site.ts, cleaned up at exit)

/** A vhqos config file holding `yaml`, removed at exit. */
export function benchConfig(yaml: string, name = 'site.yaml'): string {
  const f = configFile(yaml, name);
  onCleanup(() => f.remove());
  return f.path;
}

/** An Apache site on the first free port of [lo, lo + 299] on 127.0.0.1, stopped at exit. */
export async function benchSite(lo: number, opts: Omit<ApacheSiteOptions, 'port'>): Promise<ApacheSite> {
  const s = await apacheSiteIn(lo, lo + 299, opts);
  onCleanup(() => s.stop());
  return s;
}

/** The site's Apache without vhqos, stopped at exit (or earlier by stop(), once). */
export async function startBareSite(site: ApacheSite): Promise<{ server: BareServer; stop(): Promise<unknown> }> {
  const server = await startApacheBare(site);
  let stopped: Promise<unknown> | undefined;
  const stop = () => (stopped ??= server.stop());
  onCleanup(async () => {
    await stop();
  });
  return { server, stop };
}

/** `vhqos run` around the site's Apache; resolves once the site answers, throws if vhqos exits first. */
export async function startVhqosSite(
  site: ApacheSite,
  opts: { config: string; instance: string; cgroupParent?: string; label?: string },
): Promise<VhqosProcess> {
  const vh = startVhqos({ config: opts.config, instance: opts.instance, argv: site.argv, env: site.env, cgroupParent: opts.cgroupParent });
  await Promise.race([
    waitForSite(site, 20000),
    vh.exited.then((e) => {
      throw new Error(`vhqos${opts.label ? ` (${opts.label})` : ''} exited early (${e.code ?? e.signal}): ${vh.output()}`);
    }),
  ]);
  return vh;
}

/** The cpu-hierarchy cgroup (path below the mount) a process is in, from /proc/PID/cgroup (v1). */
export function cpuCgroupOf(pid: number): string | null {
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
      const [, ctrls, p] = line.split(':');
      if (ctrls?.split(',').includes('cpu')) return p;
    }
  } catch {
    /* gone */
  }
  return null;
}

/**
 * EXPERIMENT, not something vhqos does: move the supervisor process (all its
 * threads) into another cgroup of the v1 cpu hierarchy, `rel` below its mount
 * (e.g. "vhqos/<instance>": the parent of the vhost groups its targets are
 * in). Waits for that cgroup to exist. Returns a function that puts it back
 * (call it before stopping vhqos, whose teardown removes its cgroups), or null
 * if it could not be done.
 */
export async function moveSupervisorCpu(pid: number, rel: string, waitMs = 10000): Promise<(() => void) | null> {
  const mnt = v1Mount('cpu');
  const from = cpuCgroupOf(pid);
  if (!mnt || from === null) return null;
  const target = path.join(mnt, rel, 'cgroup.procs');
  const deadline = Date.now() + waitMs;
  while (!fs.existsSync(target)) {
    if (Date.now() > deadline) return null;
    await sleep(10);
  }
  try {
    fs.writeFileSync(target, String(pid));
  } catch (e) {
    console.error(`bench: could not move the supervisor into ${target}: ${(e as Error).message}`);
    return null;
  }
  return () => {
    try {
      fs.writeFileSync(path.join(mnt, from, 'cgroup.procs'), String(pid));
    } catch {
      /* exited */
    }
  };
}

/** moveSupervisorCpu into the instance's own cgroup (parent of its vhost groups). */
export function moveSupervisorToInstanceCpu(pid: number, instance: string, parent = 'vhqos'): Promise<(() => void) | null> {
  return moveSupervisorCpu(pid, path.join(parent, instance));
}

/**
 * EXPERIMENT, not something vhqos does: run every thread of the supervisor
 * process under SCHED_RR priority 1 (chrt), so a woken notification thread
 * runs at once instead of queueing behind (or being migrated away from) the
 * CFS tasks of the server. Returns a function that puts them back to
 * SCHED_OTHER, or null if chrt failed.
 */
/** Resolves once vhqos has put its server into <instance>/_server (its loop starts right after). */
export async function waitForServerStarted(instance: string, parent = 'vhqos', waitMs = 10000): Promise<boolean> {
  const mnt = v1Mount('cpu') ?? v1Mount('pids');
  const file = mnt ? path.join(mnt, parent, instance, '_server', 'cgroup.procs') : '';
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    try {
      if (file && fs.readFileSync(file, 'utf8').trim()) {
        await sleep(50);
        return true;
      }
    } catch {
      /* not yet */
    }
    await sleep(10);
  }
  return false;
}

export function setSupervisorRealtime(pid: number): (() => void) | null {
  const tids = (() => {
    try {
      return fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      return [];
    }
  })();
  try {
    for (const t of tids) execFileSync('chrt', ['-r', '-p', '1', t], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    console.error(`bench: chrt failed: ${(e as Error).message}`);
    return null;
  }
  return () => {
    for (const t of tids) {
      try {
        execFileSync('chrt', ['-o', '-p', '0', t], { stdio: 'ignore' });
      } catch {
        /* thread gone */
      }
    }
  };
}

/** se.nr_migrations and context switches of a task, from /proc/…/sched (needs CONFIG_SCHED_DEBUG). */
export function schedCounters(procPath: string): { migrations: number; voluntary: number; involuntary: number } | null {
  try {
    const t = fs.readFileSync(path.join(procPath, 'sched'), 'utf8');
    const g = (k: string) => Number(new RegExp(`^${k.replace('.', '\\.')}\\s*:\\s*(\\d+)`, 'm').exec(t)?.[1]);
    return { migrations: g('se.nr_migrations'), voluntary: g('nr_voluntary_switches'), involuntary: g('nr_involuntary_switches') };
  } catch {
    return null;
  }
}

export type { LoopStats } from '../src/native';

/** `vhqos status --json --instance NAME`: the instance's snapshot (first element). */
export async function vhqosStatus(instance: string): Promise<{ loop: LoopStats; policy: Record<string, number>; vhosts: { name: string; connections: number; moves: number; cpuUsageUsec?: number }[] } | null> {
  const r = await capture(process.execPath, [VHQOS_CLI, 'status', '--json', '--instance', instance], { timeoutMs: 10000 });
  if (r.code !== 0) {
    console.error(`bench: vhqos status failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return null;
  }
  try {
    const j = JSON.parse(r.stdout);
    return Array.isArray(j) ? j[0] : j;
  } catch (e) {
    console.error(`bench: vhqos status: bad JSON: ${(e as Error).message}`);
    return null;
  }
}

/** The loop's counters between two snapshots (counters only; running and the accept block as of b). */
export function diffLoop(a: Partial<LoopStats>, b: LoopStats): LoopStats {
  const out: Record<string, unknown> = { ...b };
  for (const [k, v] of Object.entries(b)) {
    if (typeof v === 'number') out[k] = v - (((a as Record<string, unknown>)[k] as number | undefined) ?? 0);
  }
  return out as unknown as LoopStats;
}

// ---------------------------------------------------------------- numbers and tables

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function mean(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

export function percentile(xs: number[], p: number): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const i = Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1));
  return v[i];
}

export function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

/** Prints a plain-text table (also valid-ish Markdown when md is true). */
export function printTable(headers: string[], rows: (string | number)[][], md = true): void {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const w = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    md ? `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ')} |` : r.map((c, i) => c.padEnd(w[i])).join('  ');
  console.log(line(headers));
  if (md) console.log(`|${w.map((n, i) => (i === 0 ? '-'.repeat(n + 2) : '-'.repeat(n + 1) + ':')).join('|')}|`);
  for (const r of cells) console.log(line(r));
}

/** Prints the title, the machine, and how busy it was (others' load) over 1 s before we start. */
export async function header(title: string): Promise<void> {
  console.log(`\n## ${title}\n`);
  const a = systemCpu();
  await sleep(1000);
  const b = systemCpu();
  console.log(`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), kernel ${os.release()}, node ${process.version}`);
  console.log(`before start: load average ${loadAvg()}, CPU busy ${fmt(busyPct(a, b), 0)}% over 1 s (other work on the machine)`);
  console.log(`date: ${new Date().toISOString()}\n`);
}

export function goal(met: boolean): string {
  return met ? 'met' : 'NOT met';
}
