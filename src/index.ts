// What a program needs to embed vhqos: load and validate a config, start an
// instance (a server under vhqos) and read its status. The CLI is built on
// the same pieces (src/cli/).
export { loadConfig, parseConfig, ConfigError, DEFAULT_OPTIONS } from './config/load';
export { SupervisedRun, vhostTableSpec, resolveExecutable, FORWARDED_SIGNALS, type RunOptions, type ExitStatus } from './run';
export { chooseClassifyAt, type ClassifyAt } from './supervisor/classify-at';
export type { Logger } from './supervisor/supervisor';
export type { StatusSnapshot } from './status/snapshot';
export { loadNative, isNativeError, type NativeBinding, type NativeError, type LoopStats, type AcceptStats } from './native';
export { detectCgroups, CgroupManager } from './cgroup';
export type { VhqosConfig, VhostConfig, ResourceSettings, ListenerRule, ListenerMode } from './types';
