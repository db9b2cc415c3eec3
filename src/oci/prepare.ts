// What the docker runtime wrapper and the podman precreate hook both do to a
// container's config.json: if the container asks for vhqos, send its vhqos
// syscalls to the agent. Pure; the callers do the I/O.

import * as path from 'path';
import type { Spec } from './types';
import { DEFAULT_AGENT_SOCKET, VHQOS_AGENT_SOCKET_ENV, VHQOS_CONFIG_ANNOTATION, VHQOS_CONFIG_ENV } from './types';
import { addNotifyWithReport, type AddNotifyResult } from './seccomp-transform';
import { stringifyJsonLossless } from './json';
import { PrepareError } from '../errors';
export { PrepareError };


/** The agent socket named by this process's environment (not the container's). */
export function agentSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return env[VHQOS_AGENT_SOCKET_ENV] || DEFAULT_AGENT_SOCKET;
}

/**
 * The vhqos config a container asks for: the `io.vhqos.config` annotation,
 * else the last `VHQOS_CONFIG=` in its process environment (docker 20.10
 * passes no annotations). Empty values count as absent.
 */
export function vhqosConfigOf(spec: Spec): string | undefined {
  const a = spec.annotations?.[VHQOS_CONFIG_ANNOTATION];
  if (a) return a;
  const prefix = `${VHQOS_CONFIG_ENV}=`;
  const env = spec.process?.env ?? [];
  for (let i = env.length - 1; i >= 0; i--) {
    if (env[i].startsWith(prefix)) return env[i].slice(prefix.length) || undefined;
  }
  return undefined;
}

export interface PrepareOptions {
  /** runc's listenerPath: where the vhqos agent listens. */
  agentSocket: string;
}

export interface PrepareResult {
  /** false: the container does not ask for vhqos, `spec` is the input object. */
  changed: boolean;
  spec: Spec;
  /** The config path (absolute) when the container asks for vhqos. */
  config?: string;
  /** What the seccomp transformation did. */
  seccomp?: AddNotifyResult;
}

/**
 * A copy of `spec` with NOTIFY rules for the vhqos syscalls, listenerPath =
 * the agent socket, listenerMetadata = the config path and the
 * `io.vhqos.config` annotation set; or `spec` itself when it does not ask for
 * vhqos. Throws PrepareError when it asks but cannot be served.
 */
export function prepareSpec(spec: Spec, opts: PrepareOptions): PrepareResult {
  const config = vhqosConfigOf(spec);
  if (config === undefined) return { changed: false, spec };
  if (!path.isAbsolute(config)) {
    throw new PrepareError(`${VHQOS_CONFIG_ENV} / ${VHQOS_CONFIG_ANNOTATION} must be an absolute path on the host, got ${JSON.stringify(config)}`);
  }
  if (!spec.linux) throw new PrepareError('vhqos supervises Linux containers only (config.json has no "linux" section)');
  if (!spec.process) {
    throw new PrepareError('config.json has no "process": nothing to supervise');
  }
  const out = structuredClone(spec);
  const linux = out.linux!;
  let seccomp: AddNotifyResult;
  try {
    seccomp = addNotifyWithReport(linux.seccomp, { listenerPath: opts.agentSocket, listenerMetadata: config });
  } catch (e) {
    throw new PrepareError((e as Error).message);
  }
  linux.seccomp = seccomp.seccomp;
  out.annotations = { ...(out.annotations ?? {}), [VHQOS_CONFIG_ANNOTATION]: config };
  const changed = stringifyJsonLossless(out) !== stringifyJsonLossless(spec);
  return { changed, spec: changed ? out : spec, config, seccomp };
}
