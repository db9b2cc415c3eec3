// Process plumbing shared by the server helpers: start a server bare (own
// process group), wait for its ports, find it again from its argv (when
// someone else, e.g. vhqos, started it) and stop it without leaving anything
// behind. Every kill is aimed at a pid found here, never at a name.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export interface Endpoint {
  /** Textual IP as given to the server: "127.0.0.2", "::1", "::". */
  ip: string;
  port: number;
}

/** What every server helper returns: how to launch it, and how to get rid of it. */
export interface ServerSpec {
  /** Unique temporary directory (config, scripts, logs); it appears in argv. */
  dir: string;
  /** The command to run, bare or after `vhqos run ... --`. Absolute argv[0]. */
  argv: string[];
  /** Environment to run it with. */
  env: NodeJS.ProcessEnv;
  /** Where it listens (for waitForPort; "::" is reached through "::1"). */
  listens: Endpoint[];
  /**
   * Stop the server however it was started (finds it by its exact argv),
   * kill whatever it left behind, and remove dir.
   */
  stop(): Promise<void>;
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** R, S, D, Z, ... */
  state: string;
  /** Field 22 of /proc/PID/stat: with pid, identifies a process across pid reuse. */
  starttime: string;
  argv: string[];
}

export function readProc(pid: number): ProcInfo | null {
  let stat: string;
  let cmdline: Buffer;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return null;
  }
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state).
  const argv = cmdline.length ? cmdline.toString('utf8').replace(/\0$/, '').split('\0') : [];
  return {
    pid,
    state: rest[0],
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
    starttime: rest[19],
    argv,
  };
}

export function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

function sameArgv(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Pids of this process and all its ancestors (never to be signalled). */
function selfAndAncestors(procs: Map<number, ProcInfo>, start = process.pid): Set<number> {
  const out = new Set<number>();
  let pid = start;
  while (pid > 0 && !out.has(pid)) {
    out.add(pid);
    const p = procs.get(pid);
    if (!p) break;
    pid = p.ppid;
  }
  return out;
}

/**
 * Server roots: live processes whose argv is exactly `argv` and whose parent's
 * is not (Apache's children and socat's forks share the master's argv).
 */
export function findServerRoots(argv: string[]): ProcInfo[] {
  const procs = new Map(listProcs().map((p) => [p.pid, p] as const));
  return [...procs.values()].filter((p) => {
    if (p.state === 'Z' || !sameArgv(p.argv, argv)) return false;
    const parent = procs.get(p.ppid);
    return !(parent && sameArgv(parent.argv, argv));
  });
}

/**
 * Live processes that belong to a server: their argv mentions `marker` (the
 * server's unique dir; Node processes excluded), or they are in process group
 * `pgid`. Never this process or its ancestors.
 */
export function processesOf(opts: { marker?: string; pgid?: number }): ProcInfo[] {
  const all = listProcs();
  const mine = selfAndAncestors(new Map(all.map((p) => [p.pid, p] as const)));
  return all.filter(
    (p) =>
      p.state !== 'Z' &&
      !mine.has(p.pid) &&
      ((opts.marker !== undefined && mentions(p, opts.marker)) ||
        (opts.pgid !== undefined && opts.pgid > 1 && p.pgid === opts.pgid)),
  );
}

/**
 * p's argv mentions marker, and p is not a Node process: a supervisor such
 * as `node vhqos run --config X -- apache2 -f DIR/...` mentions the server's
 * dir too, and is not ours to kill.
 */
function mentions(p: ProcInfo, marker: string): boolean {
  const a0 = p.argv[0] ?? '';
  if (a0 === process.execPath || path.basename(a0) === 'node') return false;
  return p.argv.some((a) => a.includes(marker));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function alive(p: ProcInfo): boolean {
  const now = readProc(p.pid);
  return !!now && now.state !== 'Z' && now.starttime === p.starttime;
}

function signal(p: ProcInfo, sig: NodeJS.Signals): void {
  if (!alive(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    /* gone meanwhile */
  }
}

/**
 * Stop server root processes: SIGTERM each root, wait up to graceMs for them
 * to go, then SIGKILL whatever is left of them and of everything that
 * belonged to them when we started (descendants, members of a process group a
 * root leads, processes mentioning `marker`). Ancestors of the roots (e.g. a
 * vhqos supervisor that launched the server) and of this process are spared.
 */
export async function stopProcesses(
  roots: ProcInfo[],
  opts: { marker?: string; graceMs?: number; signal?: NodeJS.Signals; groups?: number[] } = {},
): Promise<void> {
  const graceMs = opts.graceMs ?? 5000;
  const procs = new Map(listProcs().map((p) => [p.pid, p] as const));
  const spared = selfAndAncestors(procs);
  for (const r of roots) for (const a of selfAndAncestors(procs, r.ppid)) spared.add(a);
  const groups = new Set([...roots.filter((r) => r.pgid === r.pid).map((r) => r.pgid), ...(opts.groups ?? [])]);
  for (const g of groups) if (g <= 1 || spared.has(g) || g === process.pid) groups.delete(g);
  const ownGroup = procs.get(process.pid)?.pgid;
  if (ownGroup !== undefined) groups.delete(ownGroup);

  const collect = (): Map<number, ProcInfo> => {
    const now = new Map(listProcs().map((p) => [p.pid, p] as const));
    const out = new Map<number, ProcInfo>();
    // descendants of the roots
    const frontier = roots.map((r) => r.pid);
    const seen = new Set<number>(frontier);
    for (const r of roots) if (now.get(r.pid)?.starttime === r.starttime) out.set(r.pid, r);
    while (frontier.length) {
      const pid = frontier.pop() as number;
      for (const p of now.values()) {
        if (p.ppid === pid && !seen.has(p.pid)) {
          seen.add(p.pid);
          out.set(p.pid, p);
          frontier.push(p.pid);
        }
      }
    }
    for (const p of now.values()) {
      if (groups.has(p.pgid) || (opts.marker && mentions(p, opts.marker))) {
        out.set(p.pid, p);
      }
    }
    for (const pid of spared) out.delete(pid);
    for (const [pid, p] of out) if (p.state === 'Z') out.delete(pid);
    return out;
  };

  const belonging = collect();
  for (const r of roots) signal(r, opts.signal ?? 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && roots.some(alive)) await sleep(25);
  // Give the server a moment to reap/stop its own children before forcing.
  const childDeadline = Date.now() + Math.min(1000, graceMs);
  while (Date.now() < childDeadline && [...belonging.values()].some(alive)) await sleep(25);

  for (let round = 0; round < 5; round++) {
    const left = new Map(belonging);
    for (const [pid, p] of collect()) left.set(pid, p);
    const live = [...left.values()].filter(alive);
    if (!live.length) return;
    for (const p of live) signal(p, 'SIGKILL');
    await sleep(50);
  }
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BareServer {
  pid: number;
  child: ChildProcess;
  /** Resolves when the server's root process exits. */
  exited: Promise<ExitInfo>;
  /** SIGTERM the root, wait, SIGKILL leftovers of its group; resolves with the root's exit. */
  stop(opts?: { graceMs?: number; signal?: NodeJS.Signals }): Promise<ExitInfo>;
  /** Contents of its stderr log so far. */
  stderr(): string;
}

/**
 * Start a server without vhqos, in its own process group (Apache prefork
 * SIGTERMs its whole group when it stops), stdout/stderr to files in its dir,
 * and wait until every listen endpoint accepts connections.
 */
export async function startBare(
  spec: Pick<ServerSpec, 'argv' | 'env' | 'dir' | 'listens'>,
  opts: { timeoutMs?: number } = {},
): Promise<BareServer> {
  const outLog = path.join(spec.dir, 'bare.stdout.log');
  const errLog = path.join(spec.dir, 'bare.stderr.log');
  const out = fs.openSync(outLog, 'a');
  const err = fs.openSync(errLog, 'a');
  const child = spawn(spec.argv[0], spec.argv.slice(1), {
    env: spec.env,
    cwd: spec.dir,
    detached: true,
    stdio: ['ignore', out, err],
  });
  fs.closeSync(out);
  fs.closeSync(err);
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, sig) => {
      exitInfo = { code, signal: sig };
      resolve(exitInfo);
    });
    child.once('error', () => {
      exitInfo = exitInfo ?? { code: null, signal: null };
      resolve(exitInfo);
    });
  });
  const stderr = () => {
    try {
      return fs.readFileSync(errLog, 'utf8');
    } catch {
      return '';
    }
  };
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new Error(`startBare: could not spawn ${spec.argv[0]}: ${stderr()}`);
  }
  const info = readProc(pid);
  const self: BareServer = {
    pid,
    child,
    exited,
    stderr,
    async stop(o = {}) {
      const now = readProc(pid);
      const roots = now && info && now.starttime === info.starttime && !exitInfo ? [now] : [];
      await stopProcesses(roots, { graceMs: o.graceMs, signal: o.signal, groups: [pid] });
      return exited;
    },
  };
  const timeoutMs = opts.timeoutMs ?? 15000;
  try {
    await Promise.race([
      Promise.all(spec.listens.map((e) => waitForPort(connectIp(e.ip), e.port, timeoutMs))),
      exited.then((e) => {
        throw new Error(`server exited early (code ${e.code}, signal ${e.signal}): ${stderr()}`);
      }),
    ]);
  } catch (e) {
    await self.stop({ graceMs: 1000 });
    throw new Error(`startBare ${spec.argv.join(' ')}: ${(e as Error).message}\n${stderr()}`);
  }
  return self;
}

/** The address to connect to for a listen address: a wildcard is reached on loopback. */
export function connectIp(ip: string): string {
  if (ip === '::' || ip === '[::]') return '::1';
  if (ip === '0.0.0.0') return '127.0.0.1';
  return ip.replace(/^\[|\]$/g, '');
}

/** Resolve once a TCP connection to ip:port succeeds; reject after timeoutMs. */
export async function waitForPort(ip: string, port: number, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: ip, port });
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(1000, () => done(false));
      s.once('connect', () => done(true));
      s.once('error', (e) => {
        last = e.message;
        done(false);
      });
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`waitForPort ${ip}:${port}: not accepting after ${timeoutMs} ms (${last})`);
}

/** True if something accepts TCP connections on ip:port right now. */
export function isListening(ip: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function canBind(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: ip, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * A port in [from, to] that can currently be bound on every ip (e.g. the
 * 127.0.0.1/.2/.3 and ::1 of one Apache site). Racy by nature, but avoids
 * the ports other tests hold. Starts at a random offset.
 */
export async function pickPort(ips: string[], from = 18000, to = 18999): Promise<number> {
  const span = to - from + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = from + ((start + i) % span);
    let ok = true;
    for (const ip of ips) {
      if (!(await canBind(ip, port))) {
        ok = false;
        break;
      }
    }
    if (ok) return port;
  }
  throw new Error(`pickPort: no free port in ${from}-${to} on ${ips.join(', ')}`);
}
