// The OCI runtime-spec types vhqos uses, all generated from the official
// JSON schema (src/oci/generated/, see scripts/gen-oci-types.js). Nothing
// here restates the spec: only re-exports and aliases of generated types.

export type {
  Spec,
  Process,
  Linux,
  LinuxSeccomp,
  Syscall as LinuxSyscall,
  SyscallArg as LinuxSeccompArg,
  SeccompAction,
  SeccompArch,
  SeccompFlag,
  SeccompOperator,
  Hook,
  Hooks,
} from './generated/config';
export type { State } from './generated/state';

/** The annotation (podman, newer engines) that selects a vhqos config for a container. */
export const VHQOS_CONFIG_ANNOTATION = 'io.vhqos.config';
/** The container environment variable that does the same under docker 20.10. */
export const VHQOS_CONFIG_ENV = 'VHQOS_CONFIG';
/** Environment variable naming the agent's socket (runc's listenerPath). */
export const VHQOS_AGENT_SOCKET_ENV = 'VHQOS_AGENT_SOCKET';
/** Where `vhqos agent` listens unless told otherwise. */
export const DEFAULT_AGENT_SOCKET = '/run/vhqos/agent.sock';
