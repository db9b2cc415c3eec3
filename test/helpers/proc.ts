// Process plumbing shared by the server helpers: start a server bare (own
// process group), wait for its ports, find it again from its argv (when
// someone else, e.g. vhqos, started it) and stop it without leaving anything
// behind. Every kill is aimed at a pid found here, never at a name.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseCgroupBody } from './client';

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

// ------------------------------------------------ who holds a TCP connection

/** One row of /proc/net/tcp or /proc/net/tcp6 (this process's network namespace). */
export interface TcpSocketRow {
  table: 'tcp' | 'tcp6';
  local: Endpoint;
  remote: Endpoint;
  /** Kernel TCP state, hex as in the table: "01" ESTABLISHED, "08" CLOSE_WAIT, "0A" LISTEN, ... */
  state: string;
  inode: number;
}

/** A process that holds a socket, with the fds it holds it on and its cgroups. */
export interface SocketHolder extends ProcInfo {
  /** The fd numbers that refer to the socket. */
  fds: number[];
  /** /proc/PID/cgroup as read (servedBy() and parseCgroupBody() take it as it is). */
  cgroup: string;
  /** controller → path, as CgroupReport.cgroups ("" is the v2 line). */
  cgroups: Record<string, string>;
}

export interface ConnectionHolders {
  /** The server side's row: local = the server's address, remote = the client's. */
  row: TcpSocketRow;
  /**
   * Every process holding that socket (the accepting master briefly, then the
   * serving child(ren); none while it waits in the accept queue). May include
   * this very process if it took a copy of the fd (a supervisor peeking at it).
   */
  holders: SocketHolder[];
}

/** 16 bytes for an IPv4 (as ::ffff:a.b.c.d) or IPv6 textual address; null if neither. */
export function ipBytes(ip: string): Buffer | null {
  const s = ip.replace(/^\[|\]$/g, '');
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const b = Buffer.alloc(16);
    b[10] = 0xff;
    b[11] = 0xff;
    for (let i = 0; i < 4; i++) b[12 + i] = Number(v4[i + 1]);
    return v4.slice(1).every((x) => Number(x) < 256) ? b : null;
  }
  if (!net.isIPv6(s)) return null;
  let head = s;
  const tail: number[] = [];
  const embedded = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (embedded) {
    const b4 = ipBytes(embedded[2]);
    if (!b4) return null;
    head = embedded[1] + '0:0'; // two placeholder groups, replaced below
    tail.push(b4[12], b4[13], b4[14], b4[15]);
  }
  const [l, r] = head.includes('::') ? head.split('::') : [head, undefined];
  const groups = (x: string | undefined) => (x ? x.split(':').filter((g) => g !== '') : []);
  const left = groups(l);
  const right = groups(r);
  const fill = r === undefined ? [] : new Array(8 - left.length - right.length).fill('0');
  const all = [...left, ...fill, ...right];
  if (all.length !== 8) return null;
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail.length) for (let i = 0; i < 4; i++) out[12 + i] = tail[i];
  return out;
}

/** Same address, an IPv4 one and its ::ffff: mapping counting as the same. */
export function sameIp(a: string, b: string): boolean {
  const x = ipBytes(a);
  const y = ipBytes(b);
  return !!x && !!y && x.equals(y);
}

/** Textual form of a /proc/net/tcp{,6} address: "127.0.0.1", "::1", "::ffff:127.0.0.2". */
function decodeProcAddr(hex: string): string {
  // Each 32-bit word is printed in host byte order (little-endian here).
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = Buffer.concat(words.map((w) => Buffer.from(w, 'hex').reverse()));
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.subarray(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${[...bytes.subarray(12)].join('.')}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Compress the longest run of two or more zero groups.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Every TCP socket of this network namespace (/proc/net/tcp and tcp6). */
export function readTcpTable(): TcpSocketRow[] {
  const out: TcpSocketRow[] = [];
  for (const table of ['tcp', 'tcp6'] as const) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [la, lp] = f[1].split(':');
      const [ra, rp] = f[2].split(':');
      out.push({
        table,
        local: { ip: decodeProcAddr(la), port: parseInt(lp, 16) },
        remote: { ip: decodeProcAddr(ra), port: parseInt(rp, 16) },
        state: f[3],
        inode: Number(f[9]),
      });
    }
  }
  return out;
}

/** Processes with an fd on socket `inode`, with those fds and their cgroups. */
export function socketHolders(inode: number): SocketHolder[] {
  const target = `socket:[${inode}]`;
  const out: SocketHolder[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let fdNames: string[];
    try {
      fdNames = fs.readdirSync(`/proc/${name}/fd`);
    } catch {
      continue; // gone, or a kernel thread
    }
    const fds: number[] = [];
    for (const fd of fdNames) {
      try {
        if (fs.readlinkSync(`/proc/${name}/fd/${fd}`) === target) fds.push(Number(fd));
      } catch {
        /* closed meanwhile */
      }
    }
    if (!fds.length) continue;
    const info = readProc(Number(name));
    let cgroup = '';
    try {
      cgroup = fs.readFileSync(`/proc/${name}/cgroup`, 'utf8');
    } catch {
      continue;
    }
    if (!info) continue;
    out.push({ ...info, fds: fds.sort((a, b) => a - b), cgroup, cgroups: parseCgroupBody(cgroup).cgroups });
  }
  return out;
}

/**
 * Who serves a TCP connection: finds the server side of server ↔ client in
 * /proc/net/tcp{,6} (an IPv4 address also matches its ::ffff: form on a
 * dual-stack listener), then the processes that hold that socket. null if
 * there is no such connection (not yet, or no longer).
 */
export function findConnectionHolders(conn: { server: Endpoint; client: Endpoint }): ConnectionHolders | null {
  const row = readTcpTable().find(
    (r) =>
      r.state !== '0A' &&
      r.local.port === conn.server.port &&
      r.remote.port === conn.client.port &&
      sameIp(r.local.ip, conn.server.ip) &&
      sameIp(r.remote.ip, conn.client.ip),
  );
  if (!row) return null;
  return { row, holders: socketHolders(row.inode) };
}

/** The two ends of a connected client socket, for findConnectionHolders. */
export function endsOf(sock: net.Socket): { server: Endpoint; client: Endpoint } {
  if (!sock.remoteAddress || !sock.remotePort || !sock.localAddress || !sock.localPort) {
    throw new Error('endsOf: the socket is not connected');
  }
  return {
    server: { ip: sock.remoteAddress, port: sock.remotePort },
    client: { ip: sock.localAddress, port: sock.localPort },
  };
}

/**
 * Poll findConnectionHolders until `until` holds (default: someone holds the
 * socket). Rejects after timeoutMs with what was last seen.
 */
export async function waitForConnectionHolders(
  conn: { server: Endpoint; client: Endpoint },
  opts: { timeoutMs?: number; until?: (h: ConnectionHolders) => boolean } = {},
): Promise<ConnectionHolders> {
  const until = opts.until ?? ((h: ConnectionHolders) => h.holders.length > 0);
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  let last: ConnectionHolders | null = null;
  for (;;) {
    last = findConnectionHolders(conn);
    if (last && until(last)) return last;
    if (Date.now() > deadline) {
      const seen = last ? last.holders.map((h) => `${h.pid} ${h.argv.join(' ')}`).join('; ') || 'no holder' : 'no such connection';
      throw new Error(
        `waitForConnectionHolders ${conn.server.ip}:${conn.server.port} <- ${conn.client.ip}:${conn.client.port}: timed out (${seen})`,
      );
    }
    await sleep(20);
  }
}
