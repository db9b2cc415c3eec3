// The container side of `vhqos check`: is the runtime new enough for
// seccomp listenerPath, are the podman hooks installed and current, is a
// docker runtime registered, and does the agent answer this process (its
// peer check admits root only)? Probes do the I/O; containerRows is pure.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { probeAgent } from '../agent/probe';
import { agentRequest, AgentRefusedError } from '../agent/client';
import { HOOK_STAGES, type HookStage } from './hooks';
import { hookDefinition, hookFileName, type HookFile } from './install-hooks';
import { VHQOS_AGENT_SOCKET_ENV } from '../oci/types';

import type { CheckRow } from '../cli/check-command';

/** Where podman looks for hooks.d files unless told otherwise (later ones win). */
export const PODMAN_HOOKS_DIRS = ['/usr/share/containers/oci/hooks.d', '/etc/containers/oci/hooks.d'];
export const DOCKER_DAEMON_JSON = '/etc/docker/daemon.json';

export interface RuntimeProbe {
  /** The runtime as configured (VHQOS_RUNTIME or runc). */
  runtime: string;
  /** First line of `RUNTIME --version`, or undefined with `error`. */
  versionLine?: string;
  error?: string;
}

export interface HookProbe {
  stage: HookStage;
  /** The file podman would use, if any. */
  file?: string;
  problem?: string;
  /** VHQOS_AGENT_SOCKET in the hook's environment. */
  agentSocket?: string;
}

export type AgentProbe =
  | { socket: string; state: 'answers'; instances: number }
  | { socket: string; state: 'absent' | 'not-a-socket' | 'not-listening' | 'peer-refused' | 'error'; detail: string };

export interface DockerProbe {
  file: string;
  /** Runtimes in daemon.json whose path is a vhqos-runtime. */
  runtimes: { name: string; path: string; exists: boolean }[];
  error?: string;
}

export interface ContainerProbes {
  runtime: RuntimeProbe;
  hooks: HookProbe[];
  hooksDirs: string[];
  docker: DockerProbe;
  agent: AgentProbe;
}

/** "runc version 1.1.5+ds1" -> [1, 1, 5]. */
export function parseVersion(line: string): number[] | undefined {
  const m = /version\s+v?(\d+)\.(\d+)(?:\.(\d+))?/i.exec(line);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

function atLeast(v: number[], min: number[]): boolean {
  for (let i = 0; i < min.length; i++) {
    if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) > min[i];
  }
  return true;
}

/** Pure: the container rows of the report. */
export function containerRows(p: ContainerProbes): CheckRow[] {
  const rows: CheckRow[] = [];
  const r = p.runtime;
  if (r.versionLine === undefined) {
    rows.push({ item: 'OCI runtime', ok: false, required: true, detail: `${r.runtime}: ${r.error ?? 'no version'} (set VHQOS_RUNTIME for vhqos-runtime, install runc >= 1.1)` });
  } else {
    const v = parseVersion(r.versionLine);
    const name = path.basename(r.runtime);
    if (/runc/.test(r.versionLine) || name === 'runc') {
      const ok = !!v && atLeast(v, [1, 1, 0]);
      rows.push({
        item: 'OCI runtime',
        ok,
        required: true,
        detail: ok ? `${r.versionLine}: seccomp listenerPath supported (runc >= 1.1)` : `${r.versionLine}: needs runc >= 1.1 for seccomp listenerPath`,
      });
    } else {
      rows.push({ item: 'OCI runtime', ok: false, required: false, detail: `${r.versionLine}: not runc; vhqos is tested with runc >= 1.1 only` });
    }
  }

  const found = p.hooks.filter((h) => h.file);
  const broken = p.hooks.filter((h) => h.file && h.problem);
  const missing = p.hooks.filter((h) => !h.file);
  let hooksDetail: string;
  if (found.length === 0) hooksDetail = `not installed in ${p.hooksDirs.join(', ')} (podman: vhqos oci install-hooks --dir DIR)`;
  else if (broken.length || missing.length) {
    hooksDetail = [
      ...broken.map((h) => `${h.file}: ${h.problem}`),
      ...(missing.length ? [`missing ${missing.map((h) => hookFileName(h.stage)).join(', ')}`] : []),
    ].join('; ');
  } else {
    const socks = new Set(found.map((h) => h.agentSocket ?? '/run/vhqos/agent.sock (default)'));
    hooksDetail = `${[...new Set(found.map((h) => path.dirname(h.file!)))].join(', ')}: ${HOOK_STAGES.join(', ')}; agent socket ${[...socks].join(', ')}`;
    const other = found.find((h) => (h.agentSocket ?? '/run/vhqos/agent.sock') !== p.agent.socket);
    if (other) hooksDetail += ` (not the socket checked below: ${p.agent.socket})`;
  }
  const hooksOk = found.length === HOOK_STAGES.length && broken.length === 0;
  rows.push({ item: 'podman hooks', ok: hooksOk, required: false, detail: hooksDetail });

  const d = p.docker;
  const dockerOk = d.runtimes.some((x) => x.exists);
  rows.push({
    item: 'docker runtime',
    ok: dockerOk,
    required: false,
    detail: d.error
      ? `${d.file}: ${d.error}`
      : d.runtimes.length
        ? d.runtimes.map((x) => `"${x.name}" -> ${x.path}${x.exists ? '' : ' (missing)'}`).join(', ') + ` in ${d.file}`
        : `no vhqos-runtime in ${d.file} (or dockerd --add-runtime vhqos=$(command -v vhqos-runtime))`,
  });

  const a = p.agent;
  rows.push({
    item: 'agent',
    ok: a.state === 'answers',
    required: true,
    detail: a.state === 'answers' ? `answers at ${a.socket} (peer check passed; ${a.instances} supervised)` : a.detail,
  });
  return rows;
}

/** Whether containers can be supervised: runtime and agent, and podman hooks or a docker runtime. */
export function containersReady(rows: CheckRow[]): boolean {
  const ok = (item: string) => rows.some((r) => r.item === item && r.ok);
  return ok('OCI runtime') && ok('agent') && (ok('podman hooks') || ok('docker runtime'));
}

export function probeRuntime(env: NodeJS.ProcessEnv = process.env): RuntimeProbe {
  const runtime = env.VHQOS_RUNTIME || 'runc';
  const r = spawnSync(runtime, ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return { runtime, error: (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : r.error.message };
  const line = (r.stdout ?? '').split('\n')[0].trim();
  if (r.status !== 0 || !line) return { runtime, error: `--version exited ${r.status}: ${(r.stderr ?? '').trim().slice(0, 120)}` };
  return { runtime, versionLine: line };
}

/** The hooks.d file podman would use per stage (a later dir wins) and what is wrong with it. */
export function probeHooks(dirs: readonly string[]): HookProbe[] {
  return HOOK_STAGES.map((stage) => {
    let file: string | undefined;
    for (const d of dirs) {
      const f = path.join(d, hookFileName(stage));
      if (fs.existsSync(f)) file = f;
    }
    if (!file) return { stage };
    let h: HookFile;
    try {
      h = JSON.parse(fs.readFileSync(file, 'utf8')) as HookFile;
    } catch (e) {
      return { stage, file, problem: `unreadable: ${(e as Error).message}` };
    }
    const agentSocket = h.hook?.env?.find((e) => e.startsWith(`${VHQOS_AGENT_SOCKET_ENV}=`))?.slice(VHQOS_AGENT_SOCKET_ENV.length + 1);
    const bin = h.hook?.args?.[1];
    if (!h.hook?.path || !isExecutable(h.hook.path)) return { stage, file, agentSocket, problem: `hook.path ${h.hook?.path} is not an executable` };
    if (!bin || !fs.existsSync(bin)) return { stage, file, agentSocket, problem: `runs ${bin}, which does not exist: rerun vhqos oci install-hooks` };
    const want = hookDefinition(stage, bin, { nodePath: h.hook.path }).when;
    if (JSON.stringify(h.when) !== JSON.stringify(want)) return { stage, file, agentSocket, problem: 'written by another vhqos version (its "when" differs): rerun vhqos oci install-hooks' };
    return { stage, file, agentSocket };
  });
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function probeDocker(file = DOCKER_DAEMON_JSON): DockerProbe {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { file, runtimes: [], error: code === 'ENOENT' ? 'absent (dockerd --add-runtime vhqos=... works too)' : `unreadable (${code})` };
  }
  let json: { runtimes?: Record<string, { path?: string }> };
  try {
    json = JSON.parse(text) as typeof json;
  } catch (e) {
    return { file, runtimes: [], error: `not JSON: ${(e as Error).message}` };
  }
  const runtimes = Object.entries(json.runtimes ?? {})
    .filter(([, v]) => typeof v?.path === 'string' && /vhqos-runtime(\.js)?$/.test(v.path))
    .map(([name, v]) => ({ name, path: v.path!, exists: isExecutable(v.path!) || isExecutable(resolveOnPath(v.path!)) }));
  return { file, runtimes };
}

function resolveOnPath(name: string): string {
  if (name.includes('/')) return name;
  for (const d of (process.env.PATH ?? '').split(':')) if (d && isExecutable(path.join(d, name))) return path.join(d, name);
  return name;
}

/** Connects to the agent (a probe), then asks for its list: the agent answers only peers its peer check admits (root). */
export async function probeAgentSocket(socket: string): Promise<AgentProbe> {
  const uid = process.getuid?.() ?? -1;
  const denied = { socket, state: 'peer-refused' as const, detail: `${socket} is root's only (uid ${uid} here): run vhqos check as root` };
  let st: fs.Stats;
  try {
    st = fs.statSync(socket);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EACCES') return denied;
    return { socket, state: 'absent', detail: `no socket at ${socket}: start it with \`vhqos agent\` (or the vhqos-agent service)` };
  }
  if (!st.isSocket()) return { socket, state: 'not-a-socket', detail: `${socket} is not a socket` };
  try {
    await probeAgent(socket, 2000);
  } catch (e) {
    if ((e as { code?: string }).code === 'EACCES') return denied;
    return { socket, state: 'not-listening', detail: `nothing listens at ${socket} (a stale socket?): start \`vhqos agent\`` };
  }
  try {
    const r = await agentRequest(socket, { vhqos: 'list' }, 4000);
    return { socket, state: 'answers', instances: Array.isArray(r.instances) ? r.instances.length : 0 };
  } catch (e) {
    if (e instanceof AgentRefusedError) return { socket, state: 'error', detail: `the agent at ${socket} refused: ${e.message}` };
    if (/closed the connection without an answer/.test((e as Error).message)) {
      return { socket, state: 'peer-refused', detail: `the agent at ${socket} hung up on this process (uid ${uid}): its peer check admits root only` };
    }
    return { socket, state: 'error', detail: (e as Error).message };
  }
}

export interface ContainerCheckOptions {
  agentSocket: string;
  hooksDirs?: string[];
  dockerDaemonJson?: string;
  env?: NodeJS.ProcessEnv;
}

export async function probeContainers(opts: ContainerCheckOptions): Promise<ContainerProbes> {
  const hooksDirs = opts.hooksDirs?.length ? opts.hooksDirs : PODMAN_HOOKS_DIRS;
  return {
    runtime: probeRuntime(opts.env),
    hooks: probeHooks(hooksDirs),
    hooksDirs,
    docker: probeDocker(opts.dockerDaemonJson),
    agent: await probeAgentSocket(opts.agentSocket),
  };
}
