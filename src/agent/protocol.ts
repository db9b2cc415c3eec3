// What arrives on the agent socket, told apart and checked. Pure: the agent
// (agent.ts) does the I/O. Four kinds of peers connect:
//
//  * an OCI runtime (runc, crun, youki) through linux.seccomp.listenerPath:
//    one JSON "container process state" with the seccomp listener fd in
//    SCM_RIGHTS, one connection per container start and per exec:
//      runc 1.1: {"ociVersion","fds":["seccompFd"],"pid","metadata",
//                 "state":{"ociVersion","id","status","pid","bundle","annotations"}}
//      crun:     the same keys, pretty-printed, ociVersion "0.2.0"; for an
//                exec its state.pid is the exec'd process too.
//    The top-level `pid` is always the process that holds the new filter:
//    the container's init on create ("creating"), the exec'd process on
//    exec (state.status "running"; runc's state.pid is then the init).
//  * the prestart / poststop hooks and vhqos-runtime: {"vhqos":"prestart"|
//    "poststop"|"list", ...} without fds; answered with one JSON line;
//  * `vhqos status`, which asks every *.sock in /run/vhqos: {"cmd":"status"};
//  * probes (agent-probe.ts): connect and hang up without a byte.

import * as path from 'path';
import { parseJsonLossless } from '../oci/json';
import { validateState } from '../oci/validate';
import type { State } from '../oci/types';
import { VHQOS_CONFIG_ANNOTATION } from '../oci/types';
import { cgroupDirOf, type CgroupDetection, type Hierarchy } from '../cgroup/detect';
import { V1_USED } from '../cgroup/detect';
import { AgentProtocolError } from '../errors';
export { AgentProtocolError };

/** Name runc, crun and youki give the seccomp listener fd in `fds`. */
export const SECCOMP_FD_NAME = 'seccompFd';


export interface RuntimeMessage {
  kind: 'runtime';
  ociVersion: string;
  /** The process that holds the filter (container init, or the exec'd process). */
  pid: number;
  /** Names of the fds sent along, in SCM_RIGHTS order. */
  fdNames: string[];
  /** Index of the seccomp listener in the received fds. */
  seccompIndex: number;
  /** listenerMetadata from config.json (vhqos puts the config path there). */
  metadata?: string;
  state: State;
  /** create: the container's init; exec: a process started in a running container. */
  role: 'create' | 'exec';
}

export type ControlRequest =
  | { vhqos: 'prestart'; id: string; pid?: number; bundle?: string; config?: string }
  | { vhqos: 'poststop'; id: string }
  | { vhqos: 'list' };

export type AgentMessage = RuntimeMessage | { kind: 'control'; request: ControlRequest } | { kind: 'status' };

const CONTROL_KINDS = ['prestart', 'poststop', 'list'];

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function positiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

/** Shortens untrusted text for a log line. */
export function clip(s: string, max = 120): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
  const one = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/**
 * Reads one message. `fdCount`: how many fds arrived with it. Throws
 * AgentProtocolError with a one-line reason for anything else.
 */
export function parseAgentMessage(data: Buffer, fdCount: number): AgentMessage {
  let json: unknown;
  try {
    json = parseJsonLossless(data.toString('utf8'));
  } catch (e) {
    throw new AgentProtocolError(`not JSON: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw new AgentProtocolError('not a JSON object');
  if ('vhqos' in json) {
    if (fdCount > 0) throw new AgentProtocolError(`control request sent with ${fdCount} fd(s)`);
    return { kind: 'control', request: parseControl(json) };
  }
  if (json.cmd === 'status' && !('state' in json)) {
    if (fdCount > 0) throw new AgentProtocolError(`status request sent with ${fdCount} fd(s)`);
    return { kind: 'status' };
  }
  return parseRuntime(json, fdCount);
}

function parseControl(o: Record<string, unknown>): ControlRequest {
  const kind = o.vhqos;
  if (typeof kind !== 'string' || !CONTROL_KINDS.includes(kind)) {
    throw new AgentProtocolError(`unknown request ${clip(JSON.stringify(kind) ?? String(kind))} (expected ${CONTROL_KINDS.join(', ')})`);
  }
  if (kind === 'list') return { vhqos: 'list' };
  if (typeof o.id !== 'string' || !o.id) throw new AgentProtocolError(`${kind} request without a container "id"`);
  if (kind === 'poststop') return { vhqos: 'poststop', id: o.id };
  const req: ControlRequest = { vhqos: 'prestart', id: o.id };
  if (o.pid !== undefined) {
    if (!positiveInt(o.pid)) throw new AgentProtocolError('prestart request: "pid" must be a positive integer');
    req.pid = o.pid;
  }
  for (const k of ['bundle', 'config'] as const) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== 'string') throw new AgentProtocolError(`prestart request: "${k}" must be a string`);
    req[k] = o[k] as string;
  }
  return req;
}

function parseRuntime(o: Record<string, unknown>, fdCount: number): RuntimeMessage {
  if (typeof o.ociVersion !== 'string') throw new AgentProtocolError('not a container process state: no "ociVersion"');
  if (!Array.isArray(o.fds) || !o.fds.every((n) => typeof n === 'string')) {
    throw new AgentProtocolError('container process state: "fds" must be an array of names');
  }
  const fdNames = o.fds as string[];
  if (fdNames.length !== fdCount) {
    throw new AgentProtocolError(`container process state names ${fdNames.length} fd(s) (${clip(fdNames.join(','))}) but ${fdCount} arrived`);
  }
  const seccompIndex = fdNames.indexOf(SECCOMP_FD_NAME);
  if (seccompIndex < 0) throw new AgentProtocolError(`container process state has no "${SECCOMP_FD_NAME}" among its fds (${clip(fdNames.join(',')) || 'none'})`);
  if (!positiveInt(o.pid)) throw new AgentProtocolError('container process state: "pid" must be a positive integer');
  if (o.metadata !== undefined && typeof o.metadata !== 'string') throw new AgentProtocolError('container process state: "metadata" must be a string');
  if (!isObject(o.state)) throw new AgentProtocolError('container process state: no "state" object');
  let state: State;
  try {
    state = validateState(o.state);
  } catch (e) {
    throw new AgentProtocolError((e as Error).message.replace(/\n\s*/g, ' '));
  }
  return {
    kind: 'runtime',
    ociVersion: o.ociVersion,
    pid: o.pid,
    fdNames,
    seccompIndex,
    metadata: (o.metadata as string | undefined) || undefined,
    state,
    // runc and crun both say "creating" while the container's init runs
    // runc-init; an exec happens in a running container.
    role: state.status === 'creating' ? 'create' : 'exec',
  };
}

/**
 * The vhqos config a runtime message asks for: listenerMetadata (the hook
 * and the wrapper set it to the config path), else the io.vhqos.config
 * annotation. Must be an absolute path.
 */
export function configPathOf(m: Pick<RuntimeMessage, 'metadata' | 'state'>): string {
  const file = m.metadata || m.state.annotations?.[VHQOS_CONFIG_ANNOTATION];
  if (!file) {
    throw new AgentProtocolError(`container ${clip(m.state.id, 20)} names no vhqos config (listenerMetadata or the ${VHQOS_CONFIG_ANNOTATION} annotation)`);
  }
  if (!path.isAbsolute(file)) throw new AgentProtocolError(`vhqos config must be an absolute path, got ${clip(JSON.stringify(file))}`);
  return file;
}

/** A container id as a cgroup / socket file name: [A-Za-z0-9_-], at most 64 characters. */
export function instanceBase(id: string): string {
  const s = id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return s || 'container';
}

/** The instance name of one supervised process tree of a container. */
export function instanceName(m: Pick<RuntimeMessage, 'role' | 'pid' | 'state'>): string {
  const base = instanceBase(m.state.id);
  return m.role === 'create' ? base : `${base}-exec-${m.pid}`;
}

/** The hierarchies the cgroup backend of `d` uses (v1: those with a controller vhqos sets). */
function usedHierarchies(d: CgroupDetection): Hierarchy[] {
  if (d.version === 2) return d.v2 ? [d.v2] : [];
  return d.v1.filter((h) => h.controllers.some((c) => V1_USED.includes(c)));
}

/**
 * The cgroup of a process as a path relative to each hierarchy root ('' =
 * the root), from the text of /proc/PID/cgroup. With `instance` (the
 * container's main instance name): a process in one of that instance's
 * groups (e.g. an exec'd process runc put in init's cgroup on cgroup v2)
 * gives the instance's parent. Throws if the hierarchies disagree.
 */
export function cgroupParentOf(procCgroup: string, d: CgroupDetection, instance?: string): string {
  const paths = new Set<string>();
  for (const h of usedHierarchies(d)) {
    const dir = cgroupDirOf(h, procCgroup, d.version);
    if (dir === undefined) continue;
    let rel = path.relative(h.mountPoint, dir);
    // <parent>/<instance>/<group>: a leaf of the container's own instance.
    // (The container's cgroup itself is often named after its id too: only
    // the second-to-last component counts.)
    const parts = rel.split('/');
    if (instance && parts.length >= 2 && parts[parts.length - 2] === instance) rel = parts.slice(0, -2).join('/');
    paths.add(rel);
  }
  if (paths.size === 0) throw new AgentProtocolError('the process is in none of the cgroup hierarchies vhqos uses (see /proc/PID/cgroup)');
  if (paths.size > 1) {
    throw new AgentProtocolError(`the process is in different cgroups in different hierarchies (${[...paths].join(', ')}); vhqos needs one container cgroup path`);
  }
  return [...paths][0];
}
