// Real container engines for the container tests: a busybox-static rootfs
// (tar for `podman import` / `docker import`), runc bundles, `vhqos agent` as
// a child process, a private dockerd, podman with private storage. Every
// process is started here and stopped by its pid or container id; every
// command has a time limit, so a hung engine fails a test instead of CI.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgiFixturesDir, repoRoot } from './paths';
import { parseCgroupBody } from './client';

export { which } from './requires';

export const BUSYBOX = '/bin/busybox';

export interface CmdResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/**
 * Runs a command to completion, SIGKILLed after timeoutMs (then timedOut is
 * true). `outputFile`: stdout and stderr go to that file instead of pipes
 * (for `runc run -d`, whose container inherits them), read back at exit.
 */
export function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string; outputFile?: string } = {},
): Promise<CmdResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const fd = opts.outputFile ? fs.openSync(opts.outputFile, 'w') : undefined;
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd] });
    if (fd !== undefined) fs.closeSync(fd);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60000);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, signal: null, stdout, stderr: stderr + String(e), ms: Date.now() - t0, timedOut });
    });
    child.on(fd === undefined ? 'close' : 'exit', (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      if (opts.outputFile) stdout = stderr = fs.readFileSync(opts.outputFile, 'utf8');
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, timedOut });
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or the time is up (then returns the last value). */
export async function waitUntil<T>(check: () => T | Promise<T>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v || Date.now() > end) return v;
    await sleep(everyMs);
  }
}

export interface Rootfs {
  dir: string;
  tar: string;
}

/**
 * A busybox-static root filesystem: /bin/busybox and a symlink per applet,
 * /www with the whoami CGI (test/fixtures/cgi/whoami: it prints the serving
 * process's /proc/self/cgroup), /etc/passwd, /etc/group; and its tar.
 */
export async function buildRootfs(into: string): Promise<Rootfs> {
  const dir = path.join(into, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'www/cgi-bin', 'run']) fs.mkdirSync(path.join(dir, d), { recursive: true, mode: 0o755 });
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  const list = await run(BUSYBOX, ['--list'], { timeoutMs: 10000 });
  for (const applet of list.stdout.split('\n').filter(Boolean)) {
    if (applet !== 'busybox') fs.symlinkSync('busybox', path.join(dir, 'bin', applet));
  }
  fs.writeFileSync(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(dir, 'www', 'index.html'), 'vhqos container test: try /cgi-bin/whoami\n');
  const cgi = path.join(dir, 'www', 'cgi-bin', 'whoami');
  fs.copyFileSync(path.join(cgiFixturesDir(), 'whoami'), cgi);
  fs.chmodSync(cgi, 0o755);
  const tar = path.join(into, 'rootfs.tar');
  const r = await run('tar', ['-C', dir, '-cf', tar, '.'], { timeoutMs: 30000 });
  if (r.code !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return { dir, tar };
}

/** The busybox httpd command line the tests run in a container (fork-after-accept, CGIs in /www/cgi-bin). */
export function httpdArgs(port: number): string[] {
  return ['/bin/httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', '/www'];
}

/** The cpu-controller cgroup path (v1) or the unified one (v2) of the CGI that served a whoami request. */
export function servedPath(body: string): string {
  const r = parseCgroupBody(body);
  const p = r.cgroups['cpu'] ?? r.cgroups['pids'] ?? r.unified;
  if (!p) throw new Error(`no cgroup line in the response: ${body.slice(0, 200)}`);
  return p;
}

/** Same for the pids controller (v1), to check the move happened in every hierarchy. */
export function servedPidsPath(body: string): string | undefined {
  return parseCgroupBody(body).cgroups['pids'];
}

/** Unmounts (lazily) everything mounted at or below dir, deepest first. */
export function unmountUnder(dir: string): void {
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSyncQuiet('umount', ['-l', m]);
}

function spawnSyncQuiet(cmd: string, args: string[]): void {
  require('node:child_process').spawnSync(cmd, args, { stdio: 'ignore', timeout: 10000 });
}

/** Waits for a child to exit; SIGKILL after graceMs. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

// ---------------------------------------------------------------------------
// vhqos agent

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** `node bin/vhqos.js agent` as a child process, its JSON log collected. */
export class AgentProcess {
  child?: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = '';

  constructor(readonly socket: string, readonly runDir: string) {}

  async start(timeoutMs = 15000): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return;
    const bin = path.join(repoRoot(), 'bin', 'vhqos.js');
    const child = spawn(process.execPath, [bin, 'agent', '--socket', this.socket, '--log-level', 'debug'], {
      env: { ...process.env, VHQOS_RUN_DIR: this.runDir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let buf = '';
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ level: 60, msg: line });
        }
      }
    });
    const from = this.lines.length;
    const ok = await waitUntil(() => this.lines.slice(from).some((l) => l.msg === 'vhqos agent listening') || child.exitCode !== null, timeoutMs);
    if (!ok || child.exitCode !== null) throw new Error(`vhqos agent did not start: ${this.stderr.slice(-2000)}`);
  }

  async stop(): Promise<void> {
    if (this.child) await stopChild(this.child, 'SIGTERM', 5000);
  }

  /** Log lines whose message matches, optionally for one container (id prefix). */
  find(msg: RegExp, container?: string): LogLine[] {
    return this.lines.filter((l) => msg.test(l.msg) && (!container || String(l.container ?? '').startsWith(container.slice(0, 12))));
  }

  async waitForLog(msg: RegExp, container?: string, timeoutMs = 10000): Promise<LogLine | undefined> {
    const found = await waitUntil(() => this.find(msg, container)[0], timeoutMs);
    return found;
  }
}

// ---------------------------------------------------------------------------
// docker

/** A private dockerd (temp data-root, exec-root and socket) started with the flags of DESIGN.md. */
export class Dockerd {
  child?: ChildProcess;
  log = '';
  readonly sock: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  private readonly containers = new Set<string>();

  constructor(readonly dir: string, private readonly env: NodeJS.ProcessEnv, private readonly runtimes: Record<string, string>) {
    this.sock = path.join(dir, 'docker.sock');
    this.dataRoot = path.join(dir, 'data');
    this.execRoot = path.join(dir, 'exec');
  }

  async start(timeoutMs = 60000): Promise<void> {
    const args = [
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '--pidfile', path.join(this.dir, 'docker.pid'),
      '-H', `unix://${this.sock}`,
      '--config-file', path.join(this.dir, 'daemon.json'),
      '--iptables=false', '--ip-masq=false', '--bridge=none', '--storage-driver=vfs',
      '--exec-opt', 'native.cgroupdriver=cgroupfs',
      '--default-ulimit', 'nofile=1024:1024', '--default-ulimit', 'nproc=1024:1024',
    ];
    for (const [name, p] of Object.entries(this.runtimes)) args.push('--add-runtime', `${name}=${p}`);
    fs.writeFileSync(path.join(this.dir, 'daemon.json'), '{}\n');
    this.child = spawn('dockerd', args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.log += d));
    this.child.stderr!.on('data', (d) => (this.log += d));
    const up = await waitUntil(async () => this.child!.exitCode === null && (await this.docker(['info', '--format', '{{.ServerVersion}}'], 5000)).code === 0, timeoutMs, 300);
    if (!up) throw new Error(`dockerd did not come up:\n${this.log.slice(-3000)}`);
  }

  docker(args: string[], timeoutMs = 60000): Promise<CmdResult> {
    return run('docker', ['-H', `unix://${this.sock}`, ...args], { timeoutMs });
  }

  /** `docker run -d ...`; remembers the id for cleanup. */
  async runDetached(args: string[]): Promise<CmdResult & { id: string }> {
    const r = await this.docker(['run', '-d', ...args]);
    const id = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code === 0 && /^[0-9a-f]{64}$/.test(id)) this.containers.add(id);
    return { ...r, id };
  }

  track(id: string): void {
    this.containers.add(id);
  }

  /** The OCI bundle config.json dockerd/containerd wrote for a running container. */
  bundleConfig(id: string): string {
    return path.join(this.execRoot, 'containerd', 'daemon', 'io.containerd.runtime.v2.task', 'moby', id, 'config.json');
  }

  async stop(): Promise<void> {
    if (this.containers.size) await this.docker(['rm', '-f', ...this.containers], 60000);
    this.containers.clear();
    if (this.child) await stopChild(this.child, 'SIGTERM', 20000);
    unmountUnder(this.dir);
  }
}

// ---------------------------------------------------------------------------
// podman

/** podman with private storage (vfs), cgroupfs and runc, and a hooks dir. */
export class Podman {
  private readonly containers = new Set<string>();

  constructor(readonly dir: string, readonly hooksDir: string | null) {}

  globalArgs(hooksDir = this.hooksDir): string[] {
    const a = [
      '--root', path.join(this.dir, 'storage'),
      '--runroot', path.join(this.dir, 'run'),
      '--storage-driver', 'vfs',
      '--runtime', 'runc',
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'none',
      '--tmpdir', path.join(this.dir, 'tmp'),
    ];
    if (hooksDir) a.push('--hooks-dir', hooksDir);
    return a;
  }

  podman(args: string[], opts: { timeoutMs?: number; hooksDir?: string | null } = {}): Promise<CmdResult> {
    return run('podman', [...this.globalArgs(opts.hooksDir === undefined ? this.hooksDir : opts.hooksDir), ...args], { timeoutMs: opts.timeoutMs ?? 60000 });
  }

  /** Flags DESIGN.md says podman needs here (CAP_SYS_RESOURCE is missing, so the default rlimits fail). */
  static readonly RUN_FLAGS = ['--network', 'host', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

  async runDetached(args: string[], opts: { hooksDir?: string | null } = {}): Promise<CmdResult & { id: string }> {
    const r = await this.podman(['run', '-d', ...Podman.RUN_FLAGS, ...args], opts);
    const id = r.stdout.trim().split('\n').pop() ?? '';
    if (/^[0-9a-f]{64}$/.test(id)) this.containers.add(id);
    return { ...r, id };
  }

  track(id: string): void {
    this.containers.add(id);
  }

  async cleanup(): Promise<void> {
    if (this.containers.size) await this.podman(['rm', '-f', '-t', '0', ...this.containers], { timeoutMs: 60000 });
    this.containers.clear();
    unmountUnder(this.dir);
  }
}
