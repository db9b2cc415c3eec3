// `vhqos oci install-hooks --dir /etc/containers/oci/hooks.d`: writes the
// podman hooks.d files (format 1.0.0) that run this installation's
// `vhqos oci-hook <stage>` for containers with the io.vhqos.config annotation
// (precreate and prestart: with any annotation that mentions vhqos).

import * as fs from 'fs';
import * as path from 'path';
import { stringifyJsonLossless } from '../oci/json';
import { HOOK_STAGES, type HookStage } from './hooks';
import { VHQOS_AGENT_SOCKET_ENV, VHQOS_CONFIG_ANNOTATION } from '../oci/types';

/** podman's hooks.d schema, version 1.0.0 (pkg/hooks/1.0.0 in containers/common). */
export interface HookFile {
  version: '1.0.0';
  hook: { path: string; args: string[]; env?: string[]; timeout?: number };
  when: { annotations: Record<string, string> };
  stages: HookStage[];
}

export interface InstallOptions {
  /** Node executable the hook runs (default: the one running now). */
  nodePath?: string;
  /** Agent socket to put in the hooks' environment (default: none, i.e. /run/vhqos/agent.sock). */
  agentSocket?: string;
  /** Seconds podman/runc give a hook (default 10). */
  timeout?: number;
}

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Regex for podman: exactly the annotation key (poststop: only containers vhqos served). */
export const ANNOTATION_MATCH = `^${VHQOS_CONFIG_ANNOTATION.replace(/\./g, '\\.')}$`;
/**
 * Regex for podman: any annotation key that mentions vhqos, in any case
 * (precreate, prestart), so that `--annotation vhqos.config=...` is refused
 * with a reason instead of running unsupervised.
 */
export const MENTION_MATCH = '(?i)vhqos';

export function hookFileName(stage: HookStage): string {
  return `vhqos-${stage}.json`;
}

/**
 * The hooks.d entry for one stage. Hooks run with an empty environment, so
 * the node binary is named by absolute path rather than through the
 * `#!/usr/bin/env node` line of bin/vhqos.js.
 */
export function hookDefinition(stage: HookStage, vhqosBinPath: string, opts: InstallOptions = {}): HookFile {
  const node = opts.nodePath ?? process.execPath;
  if (!path.isAbsolute(vhqosBinPath)) throw new Error(`vhqos bin path must be absolute: ${vhqosBinPath}`);
  if (!path.isAbsolute(node)) throw new Error(`node path must be absolute: ${node}`);
  const env = [PATH];
  if (opts.agentSocket) env.push(`${VHQOS_AGENT_SOCKET_ENV}=${opts.agentSocket}`);
  return {
    version: '1.0.0',
    hook: { path: node, args: [path.basename(node), vhqosBinPath, 'oci-hook', stage], env, timeout: opts.timeout ?? 10 },
    when: { annotations: { [stage === 'poststop' ? ANNOTATION_MATCH : MENTION_MATCH]: '.+' } },
    stages: [stage],
  };
}

/** Writes vhqos-{precreate,prestart,poststop}.json into `dir`; returns their paths. */
export function installHooks(dir: string, vhqosBinPath: string, opts: InstallOptions = {}): string[] {
  const bin = path.resolve(vhqosBinPath);
  fs.mkdirSync(dir, { recursive: true });
  return HOOK_STAGES.map((stage) => {
    const file = path.join(dir, hookFileName(stage));
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, `${stringifyJsonLossless(hookDefinition(stage, bin, opts), 2)}\n`, { mode: 0o644 });
    fs.renameSync(tmp, file);
    return file;
  });
}
