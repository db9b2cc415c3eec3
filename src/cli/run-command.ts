import { loadConfig, ConfigError } from '../config/load';
import { configWarnings } from '../config/warnings';
import { Instance } from '../supervisor/instance';
import type { Logger } from '../logger';
import * as path from 'node:path';
import { parseMetricsAddress, readTokenFile, startMetricsServer } from '../status/metrics';
import { instanceNameFromConfig } from '../status/instance-registry';
import { attachCommand, NO_KEEPER, orphanedInstance } from './attach-command';
import { detectCgroups } from '../cgroup/detect';
import { enterDelegatedCgroup, SELF_PARENT } from '../cgroup/delegated-parent';
import { placementEnv } from '../placement/placement';

export interface RunCommandOptions {
  configFile: string;
  command: string[];
  logger: Logger;
  instance?: string;
  /** cgroup path to create the instance under; 'self': below vhqos' own (delegated) cgroup. */
  cgroupParent?: string;
  /** HOST:PORT or unix:/PATH for Prometheus metrics. */
  metrics?: string;
  /** File holding a bearer token scrapers must send. */
  metricsTokenFile?: string;
  /** Stand-alone placement (patent FIG. 7): trap nothing, the server asks over the placement socket. */
  placementOnly?: boolean;
}

/** Runs the server to completion; resolves with the exit code vhqos should return. */
export async function runCommand(o: RunCommandOptions): Promise<number> {
  let supervised: Instance | undefined;
  // The metrics endpoint first: a bad address or a port in use is a start-up
  // error, before the server runs (scrapes get 503 until it does).
  let metrics: import('node:http').Server | undefined;
  if (o.metrics) {
    try {
      const token = o.metricsTokenFile ? readTokenFile(o.metricsTokenFile) : undefined;
      metrics = await startMetricsServer(parseMetricsAddress(o.metrics), () => {
        if (!supervised) throw new Error('starting');
        return supervised.snapshotYielding();
      }, o.logger, { token });
    } catch (e) {
      console.error(`vhqos: metrics: ${(e as Error).message}`);
      return 2;
    }
  }
  // A restart (systemd) after vhqos itself died: its server still runs under
  // the keeper. Take it back instead of starting a second server.
  const instance = o.instance ?? instanceNameFromConfig(o.configFile);
  // Before anything forks: the keeper and the server start in vhqos' cgroup.
  let cgroupParent = o.cgroupParent;
  if (cgroupParent === SELF_PARENT) {
    try {
      const d = enterDelegatedCgroup({ detection: detectCgroups(), instance });
      cgroupParent = d.parent;
      o.logger.info({ cgroupParent }, d.message);
    } catch (e) {
      metrics?.close();
      console.error(`vhqos: ${(e as Error).message}`);
      return 1;
    }
  }
  if (orphanedInstance(instance)) {
    const code = await attachCommand({ instance, config: o.configFile, logger: o.logger, tryOnly: true, cgroupParent });
    if (code !== NO_KEEPER) {
      metrics?.close();
      return code;
    }
  }
  try {
    const config = loadConfig(o.configFile);
    for (const warning of configWarnings(config)) o.logger.warn({ config: o.configFile }, warning);
    supervised = Instance.spawn({
      config,
      command: o.command,
      logger: o.logger,
      configFile: path.resolve(o.configFile),
      // Stable across restarts: labels, status and metrics keep their names.
      instance,
      cgroupParent,
      forwardSignals: true,
      placeSupervisor: true,
      ...(o.placementOnly ? { placement: 'only' as const, env: placementEnv(instance) } : {}),
    });
  } catch (e) {
    metrics?.close();
    if (e instanceof ConfigError) console.error(`vhqos: invalid configuration\n${e.message}`);
    else console.error(`vhqos: ${(e as Error).message}`);
    return e instanceof ConfigError ? 2 : 1;
  }
  if (metrics) o.logger.info({ metrics: o.metrics }, 'metrics available at /metrics');
  const st = await supervised.wait();
  metrics?.close();
  if (st.code !== null) return st.code;
  return 128 + (st.signal ?? 0);
}
