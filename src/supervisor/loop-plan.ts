// What the native loop is given about the config: the classification table
// and, per group index, the cgroup files and limits it applies by itself.
// Pure: the instance owns the state, this only shapes it.
import type { ResourceSettings, VhqosConfig } from '../types';
import type { VhostTableSpec } from '../native';

/** A group index whose vhost a reload removed (the loop's indices never shift). */
export const REMOVED_GROUP = '\0removed';

/** The config's vhosts, addresses and listener rules as the native classifier takes them (vhost i = group i). */
export function vhostTableSpec(config: VhqosConfig): VhostTableSpec {
  return {
    vhosts: config.vhosts.map((v) => ({ name: v.name, hosts: v.hosts, addresses: v.addresses.map((a) => ({ ...a })) })),
    listeners: config.options.listeners.map((l) => ({ ...l })),
    defaultListenerMode: config.options.defaultListenerMode,
    peekBytes: config.options.peekBytes,
  };
}

export interface GroupFiles {
  /** The group's directories, one per mounted hierarchy. */
  groupPaths(group: string): string[];
  exists(file: string): boolean;
}

export interface GroupLimits {
  slots: { max?: number; reserve?: number; queueTimeoutMs?: number }[];
  pidsMax: ({ max: number; files: string[] } | null)[];
}

/** The cgroup.procs files of each group, by loop index. */
export function procsFiles(groupNames: string[], files: GroupFiles): string[][] {
  return groupNames.map((g) => (g === REMOVED_GROUP ? [] : files.groupPaths(g).map((d) => `${d}/cgroup.procs`)));
}

/** Connection slots and the pids allowance per group index (a removed group has none). */
export function groupLimits(groupNames: string[], resourcesOf: (group: string) => ResourceSettings, files: GroupFiles): GroupLimits {
  const slots = groupNames.map((g) => (g === REMOVED_GROUP ? {} : (resourcesOf(g).connections ?? {})));
  const pidsMax = groupNames.map((g) => {
    const max = g === REMOVED_GROUP ? undefined : resourcesOf(g).pids?.max;
    if (max === undefined) return null;
    const found = files.groupPaths(g).map((d) => `${d}/pids.max`).filter((f) => files.exists(f));
    return found.length ? { max, files: found } : null;
  });
  return { slots, pidsMax };
}
