// `vhqos oci-hook <stage>`: the podman hooks.d hooks (hooks/*.json, written
// by install-hooks.ts), selected by the io.vhqos.config annotation:
//
//   podman run --annotation io.vhqos.config=/etc/vhqos/site.yaml ...
//
//  precreate  podman runs it before creating the container: config.json on
//             stdin, the config.json to use on stdout. Adds the NOTIFY rules,
//             listenerPath = the agent socket, listenerMetadata = the config.
//             podman 4.3 discards a precreate hook's stderr, so a container
//             it cannot prepare is passed on unchanged but for the
//             io.vhqos.refused annotation, and prestart fails it.
//  prestart   runc runs it (state JSON on stdin) before the seccomp filter is
//             installed; podman shows its stderr. Fails with one readable
//             line when the container cannot be served: precreate refused it,
//             it names vhqos only through a misspelt annotation, the config
//             is relative or missing, the agent is not there (instead of
//             runc's "connect: no such file or directory"), or the agent
//             finds the config invalid (it logs that too).
//  poststop   runc runs it after the container stopped (state on stdin):
//             asks the agent to clean up after the container (best effort, exit 0).
//
// precreate and prestart run for every container with an annotation key
// that mentions vhqos (install-hooks.ts), so misspellings are caught.
//
// Hooks get no environment but the hook file's "env"; VHQOS_AGENT_SOCKET
// there overrides the default socket.

import * as fs from 'fs';
import { parseJsonLossless, stringifyJsonLossless } from '../oci/json';
import { agentSocketPath, prepareSpec } from '../oci/prepare';
import { probeAgent } from '../agent/probe';
import { parseState, validateSpec } from '../oci/validate';
import type { Spec, State } from '../oci/types';
import { VHQOS_CONFIG_ANNOTATION } from '../oci/types';
import { agentRequest, AgentRefusedError } from '../agent/client';
import { checkConfigPath, describeNearMisses, engineSafe, nearMisses, nearMissRefusal } from './container-request';

/** Set by precreate on a container it could not prepare: the reason, for prestart to fail it with. */
export const VHQOS_REFUSED_ANNOTATION = 'io.vhqos.refused';

export const HOOK_STAGES = ['precreate', 'prestart', 'poststop'] as const;
export type HookStage = (typeof HOOK_STAGES)[number];

export interface HookIO {
  stdin: string | Buffer;
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** What the hooks ask of the agent beyond "are you there" (a seam for tests). */
export interface AgentRequests {
  /** prestart: the container (state.pid is its init) is about to start. */
  prestart(state: State, socket: string): Promise<void>;
  /** poststop: the container is gone: drop its cgroups and tables. */
  poststop(state: State, socket: string): Promise<void>;
}

/**
 * The hooks' requests to the agent, over the agent socket itself: one JSON
 * object without fds (the "vhqos" key tells it apart from a runtime's
 * container process state), one JSON line back (agent-client.ts).
 *  prestart: the agent loads the container's config, so a broken one fails
 *            the container here with a readable message (instead of runc
 *            failing later on a closed seccomp listener).
 *  poststop: the agent waits for the container's process trees to be gone,
 *            cleans up their cgroups and status sockets, and cuts short any
 *            that linger. Best effort: the hook exits 0 whatever happens.
 */
export const defaultAgentRequests: AgentRequests = {
  async prestart(state: State, socket: string): Promise<void> {
    try {
      await agentRequest(socket, {
        vhqos: 'prestart',
        id: state.id,
        pid: state.pid && state.pid > 0 ? state.pid : undefined,
        bundle: state.bundle,
        config: state.annotations?.[VHQOS_CONFIG_ANNOTATION],
      });
    } catch (e) {
      if (e instanceof AgentRefusedError) throw new Error(`vhqos: container ${shortId(state.id)}: ${e.message}`);
      throw e;
    }
  },
  async poststop(state: State, socket: string): Promise<void> {
    await agentRequest(socket, { vhqos: 'poststop', id: state.id });
  },
};

function text(b: string | Buffer): string {
  return typeof b === 'string' ? b : b.toString('utf8');
}

function shortId(id: string): string {
  return id.length > 12 && /^[0-9a-f]+$/.test(id) ? id.slice(0, 12) : id;
}

/** precreate: config.json in, config.json out. Unrelated containers pass through byte for byte. */
export function precreate(io: HookIO): number {
  const input = text(io.stdin);
  let json: unknown;
  try {
    json = parseJsonLossless(input);
  } catch (e) {
    io.stderr(`vhqos oci-hook precreate: config.json on stdin: ${(e as Error).message}\n`);
    return 1;
  }
  let spec: Spec;
  try {
    spec = validateSpec(json);
  } catch (e) {
    io.stderr(`vhqos oci-hook precreate: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const r = prepareSpec(spec, { agentSocket: agentSocketPath(io.env) });
    io.stdout(r.changed ? stringifyJsonLossless(r.spec) : input);
    return 0;
  } catch (e) {
    // The container asks for vhqos but cannot have it: hand it on without
    // the listener, marked, so that prestart fails it with this reason
    // where podman shows it (it does not show ours here).
    const reason = engineSafe((e as Error).message);
    io.stderr(`vhqos oci-hook precreate: ${reason}\n`);
    io.stdout(stringifyJsonLossless({ ...spec, annotations: { ...(spec.annotations ?? {}), [VHQOS_REFUSED_ANNOTATION]: reason } }));
    return 0;
  }
}

/**
 * prestart's checks before the agent is asked: precreate's refusal, a
 * misspelt annotation, the config file. Throws with the line to show.
 */
export function prestartChecks(state: State, warn: (line: string) => void, checkConfig: (file: string) => void = checkConfigPath): string | undefined {
  const annotations = state.annotations ?? {};
  const who = `vhqos: container ${shortId(state.id)}`;
  const refused = annotations[VHQOS_REFUSED_ANNOTATION];
  if (refused) throw new Error(`${who}: ${refused}`);
  const misses = nearMisses(annotations, undefined).filter((m) => m.key !== VHQOS_REFUSED_ANNOTATION);
  const config = annotations[VHQOS_CONFIG_ANNOTATION];
  if (!config) {
    if (misses.length) throw new Error(`${who}: ${nearMissRefusal(misses).message}`);
    return undefined; // an annotation that mentions vhqos, but not a request for it
  }
  if (misses.length) warn(`${who}: warning: it also names ${describeNearMisses(misses)}: ignored, ${config} is used`);
  try {
    checkConfig(config);
  } catch (e) {
    throw new Error(`${who}: ${engineSafe((e as Error).message)}`);
  }
  return config;
}

async function withState(stage: HookStage, io: HookIO, fn: (state: State, socket: string) => Promise<number>): Promise<number> {
  let state: State;
  try {
    state = parseState(io.stdin);
  } catch (e) {
    io.stderr(`vhqos oci-hook ${stage}: ${(e as Error).message}\n`);
    return 1;
  }
  return fn(state, agentSocketPath(io.env));
}

/**
 * Runs one hook stage; resolves to the exit status. `checkConfig`: prestart's
 * own check of the config file before the agent validates it (default: an
 * absolute path to a file that exists).
 */
export async function runHook(
  stage: string,
  io: HookIO,
  agent: AgentRequests = defaultAgentRequests,
  checkConfig: (file: string) => void = checkConfigPath,
): Promise<number> {
  switch (stage) {
    case 'precreate':
      return precreate(io);
    case 'prestart':
      return withState(stage, io, async (state, socket) => {
        try {
          if (prestartChecks(state, (l) => io.stderr(`${l}\n`), checkConfig) === undefined) return 0;
          await probeAgent(socket);
          await agent.prestart(state, socket);
          return 0;
        } catch (e) {
          io.stderr(`${engineSafe((e as Error).message)}\n`);
          return 1;
        }
      });
    case 'poststop':
      return withState(stage, io, async (state, socket) => {
        try {
          await agent.poststop(state, socket);
        } catch (e) {
          io.stderr(`vhqos oci-hook poststop: cleanup of ${state.id} not sent: ${(e as Error).message}\n`);
        }
        return 0;
      });
    default:
      io.stderr(`vhqos oci-hook: unknown stage ${JSON.stringify(stage)} (expected ${HOOK_STAGES.join(', ')})\n`);
      return 2;
  }
}

/** For the CLI (`vhqos oci-hook <stage>`): stdin/stdout/stderr of this process, then exit. */
export async function hookMain(stage: string, agent: AgentRequests = defaultAgentRequests): Promise<never> {
  let stdin: Buffer;
  try {
    stdin = fs.readFileSync(0);
  } catch {
    stdin = Buffer.alloc(0);
  }
  const code = await runHook(
    stage,
    {
      stdin,
      env: process.env,
      stdout: (s) => fs.writeSync(1, s),
      stderr: (s) => fs.writeSync(2, s),
    },
    agent,
  );
  process.exit(code);
}
