// What the agent's parts share: the logger, the native binding, the
// registry of supervised trees, the counters and the injected seams. One
// object built by Agent (agent.ts), so each part is a plain function of it.
import type { NativeBinding } from '../native';
import type { AttachOptions } from '../supervisor/instance';
import type { VhqosConfig } from '../types';
import type { Logger } from '../logger';
import type { CgroupDetection } from '../cgroup/detect';
import type { AgentCounters } from '../status/snapshot';
import { ConfigError } from '../config/load';
import type { SupervisedTree } from './supervised-tree';
import type { TreeRegistry } from './registry';

export interface AgentLogger extends Logger {
  child?(bindings: Record<string, unknown>): AgentLogger;
}

export interface AgentContext {
  log: AgentLogger;
  native: NativeBinding;
  registry: TreeRegistry;
  counters: AgentCounters;
  /** Read once at start (the cgroup layout does not change while the agent runs). */
  detection(): CgroupDetection;
  loadConfig(file: string): VhqosConfig;
  supervise(opts: AttachOptions): SupervisedTree;
  readProcCgroup(pid: number): string;
  /** What /proc/self/fd/FD links to ('' if unreadable). */
  readFdLink(fd: number): string;
  /** cgroup v2: moves the processes in the container's cgroup into the instance's _server group. */
  vacateParent(d: CgroupDetection, cgroupParent: string, instance: string): number[];
  /** Where `vhqos status` finds an instance, or false (none, or the path is too long: logged). */
  statusSocketFor(instance: string, log: AgentLogger): string | false;
  closeFd(fd: number): void;
  peerTimeoutMs: number;
  maxBytes: number;
  /** The agent's own status (what its socket answers to `{"cmd":"status"}`). */
  status(): unknown;
}

/** An error as one log line (a config error lists its problems). */
export function oneLine(e: unknown): string {
  if (e instanceof ConfigError) return `invalid vhqos config ${e.source}: ${e.problems.join('; ')}`;
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/\s*\n\s*/g, '; ');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** A logger for one container's tree: its lines carry the container (and role). */
export function containerLogger(base: AgentLogger, bindings: Record<string, unknown>): AgentLogger {
  return base.child?.(bindings) ?? base;
}
