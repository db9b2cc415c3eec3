// The errors vhqos throws on purpose, in one table (the style of fastify's
// lib/errors.js): each has a stable `code` a program can test, and a class
// where it carries more than a message. Two families:
//  * VhqosError: a vhqos-level refusal or failure, code VHQOS_ERR_*.
//  * SyscallError: a failed system call, built by the native core (the class
//    is handed to the addon at load, as better-sqlite3 does with SqliteError)
//    and by cgroup file I/O; its code is the errno name, Node's convention.

import * as os from 'node:os';

/** Every VHQOS_ERR_* code and what it means. */
export const ERROR_CODES = {
  VHQOS_ERR_CONFIG: 'the vhqos configuration is invalid',
  VHQOS_ERR_INSTANCE_IN_USE: 'another live supervisor holds this instance name',
  VHQOS_ERR_CONTROL: 'a request over the control socket was refused',
  VHQOS_ERR_METRICS_ADDRESS: 'the --metrics address cannot be used',
  VHQOS_ERR_USAGE: 'the command line is wrong',
  VHQOS_ERR_NO_ADDON: 'no native addon fits this machine',
  VHQOS_ERR_OCI_INVALID: 'an OCI spec or state does not validate against the runtime-spec schema',
  VHQOS_ERR_SECCOMP_TRANSFORM: "the container's seccomp profile cannot carry the vhqos traps",
  VHQOS_ERR_OCI_PREPARE: 'the container spec cannot be prepared for vhqos',
  VHQOS_ERR_RUNTIME_WRAPPER: 'vhqos-runtime cannot run the OCI runtime',
  VHQOS_ERR_AGENT_PROTOCOL: 'a peer of the agent sent something the agent does not accept',
  VHQOS_ERR_AGENT_REFUSED: 'the agent refused a request',
  VHQOS_ERR_AGENT_NOT_RUNNING: 'nothing answers on the agent socket',
  VHQOS_ERR_IMPORT: 'an Apache configuration cannot be imported',
  VHQOS_ERR_PLACEMENT_REFUSED: 'a placement request was refused (reason: EINVAL, EPERM, ESRCH, ENOENT, EOPNOTSUPP or EIO)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A vhqos-level error with a code from ERROR_CODES. */
export class VhqosError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export interface SyscallFacts {
  /** errno name (ENOENT, EBUSY…). */
  code: string;
  /** Negative errno (Node's convention). */
  errno: number;
  syscall: string;
  /** The file the call was about, where there is one. */
  path?: string;
}

/** A failed system call. The native core constructs it for every -errno it returns. */
export class SyscallError extends Error implements SyscallFacts {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;
  constructor(message: string, facts: SyscallFacts) {
    super(message);
    this.name = new.target.name;
    this.code = facts.code;
    this.errno = facts.errno;
    this.syscall = facts.syscall;
    if (facts.path !== undefined) this.path = facts.path;
  }
}

export function isSyscallError(e: unknown): e is SyscallFacts & Error {
  const f = e as Partial<SyscallFacts>;
  return e instanceof Error && typeof f.syscall === 'string' && typeof f.errno === 'number';
}

// ---- the codes that carry more than a message ----

/** One line per problem: `path.to.key: what is wrong`. */
export class ConfigError extends VhqosError {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super('VHQOS_ERR_CONFIG', `${source}: ${problems.join('\n')}`);
  }
}

export class InstanceInUseError extends VhqosError {
  constructor(
    readonly instance: string,
    readonly pid: number,
  ) {
    super(
      'VHQOS_ERR_INSTANCE_IN_USE',
      `instance "${instance}" is already running (supervisor pid ${pid}); ` + 'give this one another name with --instance NAME, or stop the other first',
    );
  }
}

/** A control request refused; `problems` are config problems when a reload's config is invalid. */
export class ControlError extends VhqosError {
  constructor(
    message: string,
    readonly problems?: string[],
  ) {
    super('VHQOS_ERR_CONTROL', message);
  }
}

export class MetricsAddressError extends VhqosError {
  constructor(message: string) {
    super('VHQOS_ERR_METRICS_ADDRESS', message);
  }
}

export class UsageError extends VhqosError {
  constructor(message: string) {
    super('VHQOS_ERR_USAGE', message);
  }
}

export interface ValidationProblem {
  /** JSON pointer of the offending value ('' for the root). */
  path: string;
  message: string;
}

export class OciValidationError extends VhqosError {
  constructor(
    readonly what: string,
    readonly problems: ValidationProblem[],
  ) {
    const shown = problems.slice(0, 8).map((p) => `  ${p.path || '/'}: ${p.message}`);
    if (problems.length > shown.length) shown.push(`  … and ${problems.length - shown.length} more`);
    super('VHQOS_ERR_OCI_INVALID', `invalid ${what}:\n${shown.join('\n')}`);
  }
}

export class SeccompTransformError extends VhqosError {
  constructor(message: string) {
    super('VHQOS_ERR_SECCOMP_TRANSFORM', message);
  }
}

export class PrepareError extends VhqosError {
  constructor(message: string) {
    super('VHQOS_ERR_OCI_PREPARE', message);
  }
}

export class WrapperError extends VhqosError {
  constructor(message: string) {
    super('VHQOS_ERR_RUNTIME_WRAPPER', message);
  }
}

export class AgentProtocolError extends VhqosError {
  constructor(message: string) {
    super('VHQOS_ERR_AGENT_PROTOCOL', message);
  }
}

export class AgentRefusedError extends VhqosError {
  constructor(
    message: string,
    /** The agent's reply as it came. */
    readonly reply: Record<string, unknown>,
  ) {
    super('VHQOS_ERR_AGENT_REFUSED', message);
  }
}

export class AgentNotRunningError extends VhqosError {
  constructor(
    readonly socketPath: string,
    /** errno name of the failed connect (ENOENT, ECONNREFUSED, ETIMEDOUT…). */
    readonly connectCode: string,
  ) {
    super('VHQOS_ERR_AGENT_NOT_RUNNING', `vhqos agent is not running at ${socketPath}: start it with \`vhqos agent\``);
  }
}

export class ImportError extends VhqosError {
  constructor(message: string) {
    super('VHQOS_ERR_IMPORT', message);
  }
}

/** Why a placement was refused: the errno-like reason its reply carries. */
export type PlaceErrorCode = 'EINVAL' | 'EPERM' | 'ESRCH' | 'ENOENT' | 'EOPNOTSUPP' | 'EIO';

/** A placement refused, by the placement socket's policy or as the client receives it. */
export class PlacementRefused extends VhqosError {
  constructor(
    readonly reason: PlaceErrorCode,
    message: string,
  ) {
    super('VHQOS_ERR_PLACEMENT_REFUSED', message);
  }
}

/** A cgroup interface file or directory could not be used; names it. */
export class CgroupError extends SyscallError {
  constructor(
    message: string,
    readonly file: string,
    code = 'EIO',
    syscall = 'write',
  ) {
    const n = (os.constants.errno as Record<string, number>)[code];
    super(message, { code, errno: -(n ?? 5), syscall, path: file });
  }
}
