// vhqos-runtime: an OCI runtime wrapper for engines that cannot pass
// listenerPath through (docker 20.10 drops it from custom profiles and passes
// no annotations). Register it as a runtime:
//
//   dockerd --add-runtime vhqos=/usr/local/bin/vhqos-runtime
//   # or /etc/docker/daemon.json: {"runtimes": {"vhqos": {"path": "/usr/local/bin/vhqos-runtime"}}}
//   docker run --runtime vhqos -e VHQOS_CONFIG=/etc/vhqos/site.yaml IMAGE ...
//
// The engine calls it exactly like runc:
//   RUNTIME [global flags] create --bundle B --pid-file P ID, then start,
//   kill, delete, state, exec…
// On `create` and `run`, when the container's config.json asks for vhqos
// (VHQOS_CONFIG=/abs/path in process.env, or the io.vhqos.config annotation),
// the wrapper checks the config file (container-request.ts) and that the
// agent answers, then rewrites B/config.json atomically (see prepare.ts). A
// refusal is written, like runc's own errors, to the --log file the engine
// reads (containerd's shim quotes its last error line in docker's message),
// so the reason reaches `docker run`. A container that names vhqos only
// through a near miss (VHQOS_CONFG=…) is refused too. Then, for every
// subcommand, it runs the
// real runtime with the identical argv, stdio and inherited descriptors,
// forwards signals, and exits with the runtime's status (or dies of the same
// signal). Containers that do not ask for vhqos are not touched at all.
// `vhqos-runtime --help` (no subcommand) describes the wrapper; everything
// else, `--version` and `create --help` included, goes to the runtime.
//
// Environment (of the wrapper, i.e. of dockerd/containerd, never the container's):
//   VHQOS_RUNTIME       the real runtime, a path or a name on PATH (default: runc)
//   VHQOS_AGENT_SOCKET  the agent's socket (default /run/vhqos/agent.sock)

import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseJsonLossless, stringifyJsonLossless } from '../oci/json';
import { agentSocketPath, prepareSpec, vhqosConfigOf } from '../oci/prepare';
import { probeAgent } from '../agent/probe';
import { validateSpec } from '../oci/validate';
import type { Spec } from '../oci/types';
import { VHQOS_AGENT_SOCKET_ENV, VHQOS_CONFIG_ANNOTATION, VHQOS_CONFIG_ENV } from '../oci/types';
import { checkConfigFile, ContainerRefusal, describeNearMisses, nearMisses, nearMissRefusal } from './container-request';
import { WrapperError } from '../errors';
export { WrapperError };

export const RUNTIME_ENV = 'VHQOS_RUNTIME';
/** Set for the real runtime: a wrapper that finds it set is calling itself. */
const ACTIVE_ENV = '_VHQOS_RUNTIME_ACTIVE';

/** Global flags of runc/crun that take a value (anything else is boolean). */
const GLOBAL_VALUE_FLAGS = new Set(['root', 'log', 'log-format', 'log-level', 'criu', 'rootless', 'cgroup-manager']);
/** create/run flags that take a value. */
const CREATE_VALUE_FLAGS = new Set(['bundle', 'b', 'console-socket', 'pid-file', 'preserve-fds']);

export interface RuntimeArgs {
  /** The subcommand (create, start, delete…), if any. */
  command?: string;
  /** Its position in argv. */
  commandIndex: number;
  /** --log / --log-format, to report errors where the engine looks. */
  log?: string;
  logFormat?: string;
  /** create/run: --bundle as given (undefined: the current directory). */
  bundle?: string;
  /** create/run: the container id. */
  id?: string;
  /** create/run with -h/--help. */
  help: boolean;
  /** -h/--help before any subcommand: the wrapper's own help. */
  globalHelp: boolean;
}

/** Reads runc-style argv without changing it. */
export function parseRuntimeArgs(argv: readonly string[]): RuntimeArgs {
  const out: RuntimeArgs = { commandIndex: -1, help: false, globalHelp: false };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return out;
    if (!a.startsWith('-') || a === '-') {
      out.command = a;
      out.commandIndex = i;
      break;
    }
    const eq = a.indexOf('=');
    const name = (eq < 0 ? a : a.slice(0, eq)).replace(/^--?/, '');
    let value: string | undefined;
    if (eq >= 0) value = a.slice(eq + 1);
    else if (GLOBAL_VALUE_FLAGS.has(name)) value = argv[++i];
    if (name === 'h' || name === 'help') out.globalHelp = true;
    if (name === 'log') out.log = value;
    if (name === 'log-format') out.logFormat = value;
  }
  if (out.command !== 'create' && out.command !== 'run') return out;
  for (let j = out.commandIndex + 1; j < argv.length; j++) {
    const a = argv[j];
    if (a === '--') {
      out.id = argv[j + 1];
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      out.id = a; // flags end at the first argument (Go's flag package)
      break;
    }
    const eq = a.indexOf('=');
    const name = (eq < 0 ? a : a.slice(0, eq)).replace(/^--?/, '');
    if (name === 'h' || name === 'help') out.help = true;
    if (!CREATE_VALUE_FLAGS.has(name)) continue;
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++j];
    if (name === 'bundle' || name === 'b') out.bundle = value;
  }
  return out;
}


export type BundleEdit = (
  | { status: 'untouched' }
  | { status: 'unchanged'; config: string }
  | { status: 'rewritten'; config: string; spec: Spec }
) & {
  /** Worth telling the operator, not worth refusing the container for. */
  warnings: string[];
};

export interface EditOptions {
  agentSocket: string;
  /** Check the agent answers before rewriting (default true). */
  probe?: boolean;
  /** Checks the config file the container names (default: the checks the agent will make, on this host). */
  checkConfig?: (file: string) => void;
}

/** Writes `text` to `file` through a temporary file and rename(2), keeping mode and owner. */
export function writeFileAtomic(file: string, text: string): void {
  const st = fs.statSync(file);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.vhqos-${process.pid}-${Date.now()}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', st.mode & 0o7777);
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.chmodSync(tmp, st.mode & 0o7777);
    if (typeof process.getuid === 'function' && process.getuid() === 0) fs.chownSync(tmp, st.uid, st.gid);
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** The create/run part: rewrite BUNDLE/config.json if the container asks for vhqos. */
export async function editBundle(bundle: string, opts: EditOptions): Promise<BundleEdit> {
  const file = path.join(bundle, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new WrapperError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = parseJsonLossless(text);
  } catch (e) {
    throw new WrapperError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new WrapperError(`${file} is not a JSON object`);
  const misses = nearMisses(objectOrUndefined((json as Spec).annotations), stringsOrUndefined((json as Spec).process?.env));
  const config = vhqosConfigOf(json as Spec);
  // only containers that ask for vhqos are checked against the schema;
  // the others are the runtime's business, byte for byte
  if (config === undefined) {
    if (misses.length) throw new WrapperError(nearMissRefusal(misses).message);
    return { status: 'untouched', warnings: [] };
  }
  const warnings = misses.length ? [`the container also names ${describeNearMisses(misses)}: ignored, ${config} is used`] : [];
  let spec: Spec;
  try {
    spec = validateSpec(json);
  } catch (e) {
    throw new WrapperError(`${file}: ${(e as Error).message}`);
  }
  try {
    (opts.checkConfig ?? checkConfigFile)(config);
  } catch (e) {
    throw new WrapperError(e instanceof ContainerRefusal ? e.message : `vhqos config ${config}: ${(e as Error).message}`);
  }
  const prepared = (() => {
    try {
      return prepareSpec(spec, { agentSocket: opts.agentSocket });
    } catch (e) {
      throw new WrapperError(`${file}: ${(e as Error).message}`);
    }
  })();
  if (!prepared.changed) return { status: 'unchanged', config: prepared.config!, warnings };
  if (opts.probe !== false) await probeAgent(opts.agentSocket);
  writeFileAtomic(file, stringifyJsonLossless(prepared.spec));
  return { status: 'rewritten', config: prepared.config!, spec: prepared.spec, warnings };
}

function objectOrUndefined(v: unknown): Record<string, string> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : undefined;
}

function stringsOrUndefined(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

/** libuv's own descriptors: never inherited by a runtime invocation. */
const NODE_OWN = /^anon_inode:\[(eventpoll|eventfd|signalfd|timerfd|io_uring)\]$/;

/**
 * Descriptors above stderr this process inherited, to hand on to the runtime.
 * Node marks every inherited descriptor close-on-exec at start-up
 * (uv_disable_stdio_inheritance), so they cannot be told apart by their
 * flags; instead skip what Node itself opens: epoll/eventfd/signalfd/timerfd
 * and pipes whose two ends are both here (its self-pipes). Descriptors runc
 * is told about (--preserve-fds N, LISTEN_FDS=N: 3..N+2) are always kept.
 * Call it first thing, before this process opens anything else.
 */
export function inheritedFds(argv: readonly string[] = [], env: NodeJS.ProcessEnv = {}): number[] {
  let names: string[];
  try {
    names = fs.readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const target = new Map<number, string>();
  for (const n of names) {
    const fd = Number(n);
    if (!Number.isInteger(fd) || fd < 3) continue;
    try {
      target.set(fd, fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the directory descriptor of readdirSync, closed by now
    }
  }
  const count = new Map<string, number>();
  for (const t of target.values()) count.set(t, (count.get(t) ?? 0) + 1);
  let declared = Number(env.LISTEN_FDS) || 0;
  argv.forEach((a, i) => {
    const m = /^--?preserve-fds(?:=(\d+))?$/.exec(a);
    if (m) declared = Math.max(declared, Number(m[1] ?? argv[i + 1]) || 0);
  });
  const out: number[] = [];
  for (const [fd, t] of target) {
    const own = NODE_OWN.test(t) || (t.startsWith('pipe:') && (count.get(t) ?? 0) > 1);
    if (!own || fd < 3 + declared) out.push(fd);
  }
  return out.sort((a, b) => a - b);
}

/**
 * Reports on stderr and, like runc, in the --log file the engine reads: on a
 * failed create, containerd's shim quotes the last "error" entry of that
 * file (format --log-format, json for containerd) in docker's message.
 */
function report(message: string, args: RuntimeArgs, level: 'error' | 'warning' = 'error'): void {
  const line = `vhqos-runtime: ${level === 'warning' ? 'warning: ' : ''}${message}\n`;
  try {
    fs.writeSync(2, line);
  } catch {
    // no stderr
  }
  if (!args.log) return;
  const time = new Date().toISOString();
  const entry =
    args.logFormat === 'json'
      ? `${JSON.stringify({ level, msg: `vhqos-runtime: ${message}`, time })}\n`
      : `time="${time}" level=${level} msg=${JSON.stringify(`vhqos-runtime: ${message}`)}\n`;
  try {
    fs.appendFileSync(args.log, entry);
  } catch {
    // the log is best effort
  }
}

const FORWARDED: NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'];

/** Runs the real runtime in our place; never returns. */
function runRuntime(runtime: string, argv: string[], env: NodeJS.ProcessEnv, args: RuntimeArgs, fds: number[]): void {
  const stdio: (number | 'ignore')[] = [0, 1, 2];
  for (let fd = 3; fd <= (fds.length ? fds[fds.length - 1] : 2); fd++) stdio.push(fds.includes(fd) ? fd : 'ignore');
  // Handlers first: a signal that arrives while the runtime starts must be
  // passed on, not kill the wrapper and orphan the runtime.
  const early: NodeJS.Signals[] = [];
  // eslint-disable-next-line prefer-const -- forward() reads it before it is assigned
  let child: ReturnType<typeof spawn> | undefined;
  const forward = (sig: NodeJS.Signals) => {
    if (!child) return void early.push(sig);
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  };
  for (const s of FORWARDED) process.on(s, forward);
  child = spawn(runtime, argv, { stdio, env: { ...env, [ACTIVE_ENV]: '1' }, argv0: runtime });
  for (const sig of early.splice(0)) forward(sig);
  child.once('error', (e: NodeJS.ErrnoException) => {
    report(`cannot run the runtime ${JSON.stringify(runtime)} (set ${RUNTIME_ENV}): ${e.message}`, args);
    process.exit(e.code === 'ENOENT' ? 127 : 126);
  });
  child.once('exit', (code, signal) => {
    for (const s of FORWARDED) process.off(s, forward);
    if (signal) {
      // die of the same signal, as an exec'd runtime would
      process.removeAllListeners(signal);
      try {
        process.kill(process.pid, signal);
      } catch {
        // fall through
      }
      setTimeout(() => process.exit(128 + (os.constants.signals[signal] ?? 0)), 100);
      return;
    }
    process.exit(code ?? 1);
  });
}

/** Entry point of bin/vhqos-runtime.js. */
export function main(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): void {
  const fds = inheritedFds(argv, env);
  const args = parseRuntimeArgs(argv);
  const runtime = env[RUNTIME_ENV] || 'runc';
  if (env[ACTIVE_ENV]) {
    report(`the runtime it should run (${runtime}) is vhqos-runtime itself: set ${RUNTIME_ENV} to the real runtime, e.g. /usr/sbin/runc`, args);
    process.exit(1);
  }
  if (args.command === undefined && args.globalHelp) {
    process.stdout.write(helpText(runtime, env));
    process.exit(0);
  }
  const editing = (args.command === 'create' || args.command === 'run') && !args.help;
  if (!editing) {
    runRuntime(runtime, argv, env, args, fds);
    return;
  }
  const bundle = path.resolve(args.bundle ?? '.');
  editBundle(bundle, { agentSocket: agentSocketPath(env) }).then(
    (edit) => {
      for (const w of edit.warnings) report(w, args, 'warning');
      runRuntime(runtime, argv, env, args, fds);
    },
    (e: Error) => {
      report(e.message, args);
      process.exit(1);
    },
  );
}

/** The real runtime's first --version line, or why there is none. */
function runtimeVersion(runtime: string, env: NodeJS.ProcessEnv): string {
  const r = spawnSync(runtime, ['--version'], { encoding: 'utf8', timeout: 5000, env: { ...env, [ACTIVE_ENV]: '1' } });
  if (r.error) return `not runnable: ${r.error.message}`;
  return (r.stdout ?? '').split('\n')[0].trim() || `exit status ${r.status}`;
}

/** `vhqos-runtime --help`. */
export function helpText(runtime: string, env: NodeJS.ProcessEnv): string {
  return `vhqos-runtime: an OCI runtime wrapper that puts containers under vhqos.

An engine calls it exactly like runc. On create/run, a container whose
config.json asks for vhqos (${VHQOS_CONFIG_ENV}=/abs/path/config.yaml in its environment,
or the ${VHQOS_CONFIG_ANNOTATION} annotation) is checked (the config file validates,
the agent answers) and its config.json rewritten so that runc hands the
seccomp listener to the vhqos agent; then the real runtime runs with the same
arguments. Other containers and subcommands go to the runtime untouched.
Refusals are written to the runtime's --log, so docker shows the reason.

Register it with docker:
  dockerd --add-runtime vhqos=$(command -v vhqos-runtime)
  # or /etc/docker/daemon.json: {"runtimes": {"vhqos": {"path": "/usr/local/bin/vhqos-runtime"}}}
  docker run --runtime vhqos -e ${VHQOS_CONFIG_ENV}=/etc/vhqos/site.yaml IMAGE ...

Environment (of dockerd / containerd, not of the container):
  ${RUNTIME_ENV}       the real runtime (now: ${runtime}: ${runtimeVersion(runtime, env)})
  ${VHQOS_AGENT_SOCKET_ENV}  the agent's socket (now: ${agentSocketPath(env)})

The runtime's own help: vhqos-runtime help, vhqos-runtime COMMAND --help.
Check the whole setup with: vhqos check
`;
}
