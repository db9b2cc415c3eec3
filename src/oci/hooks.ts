// `vhqos oci-hook <stage>`: the podman hooks.d hooks (hooks/*.json, written
// by install-hooks.ts), selected by the io.vhqos.config annotation:
//
//   podman run --annotation io.vhqos.config=/etc/vhqos/site.yaml ...
//
//  precreate  podman runs it before creating the container: config.json on
//             stdin, the config.json to use on stdout. Adds the NOTIFY rules,
//             listenerPath = the agent socket, listenerMetadata = the config.
//  prestart   runc runs it (state JSON on stdin) before the seccomp filter is
//             installed: fails with one readable line when the agent is not
//             there, instead of runc's "connect: no such file or directory".
//  poststop   runc runs it after the container stopped (state on stdin):
//             asks the agent to clean up after the container (best effort, exit 0).
//
// Hooks get no environment but the hook file's "env"; VHQOS_AGENT_SOCKET
// there overrides the default socket.

import * as fs from 'fs';
import { parseJsonLossless, stringifyJsonLossless } from './json';
import { agentSocketPath, prepareSpec } from './prepare';
import { probeAgent } from './agent-probe';
import { parseState, validateSpec } from './validate';
import type { Spec, State } from './types';
import { VHQOS_CONFIG_ANNOTATION } from './types';
import { agentRequest, AgentRefusedError } from './agent-client';

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
      if (e instanceof AgentRefusedError) throw new Error(`vhqos: container ${state.id}: ${e.message}`);
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
    const r = prepareSpec(spec, { agentSocket: agentSocketPath(io.env) });
    io.stdout(r.changed ? stringifyJsonLossless(r.spec) : input);
    return 0;
  } catch (e) {
    io.stderr(`vhqos oci-hook precreate: ${(e as Error).message}\n`);
    return 1;
  }
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

/** Runs one hook stage; resolves to the exit status. */
export async function runHook(stage: string, io: HookIO, agent: AgentRequests = defaultAgentRequests): Promise<number> {
  switch (stage) {
    case 'precreate':
      return precreate(io);
    case 'prestart':
      return withState(stage, io, async (state, socket) => {
        try {
          await probeAgent(socket);
          await agent.prestart(state, socket);
          return 0;
        } catch (e) {
          io.stderr(`${(e as Error).message}\n`);
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
