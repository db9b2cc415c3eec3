// What a program needs to embed vhqos: load and validate a config, start an
// instance (a server under vhqos) and read its status. The CLI is built on
// the same pieces (src/cli/).
export { loadConfig, parseConfig, DEFAULT_OPTIONS } from './config/load';
export * from './errors';
export { Instance, FORWARDED_SIGNALS, type InstanceOptions, type SpawnOptions, type AttachOptions, type ExitStatus } from './supervisor/instance';
export { vhostTableSpec } from './supervisor/loop-plan';
export { resolveExecutable } from './supervisor/executable';
export { chooseClassifyAt, type ClassifyAt } from './supervisor/classify-at';
export type { Logger } from './logger';
export type { StatusSnapshot, AgentStatusSnapshot } from './status/snapshot';
export { queryStatus, listStatusSockets, defaultSocketPath } from './status/server';
export { loadNative, isNativeError, type NativeBinding, type NativeError, type LoopStats, type AcceptStats } from './native';
export { detectCgroups, CgroupManager } from './cgroup';
export type { VhqosConfig, VhostConfig, ResourceSettings, ListenerRule, ListenerMode } from './types';
export { place, PlacementRefused, PLACEMENT_SOCKET_ENV, type PlaceOptions, type PlaceRequest, type Placed, type PlaceErrorCode } from './placement/client';
