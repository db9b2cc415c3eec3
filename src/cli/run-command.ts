import { loadConfig, ConfigError } from '../config/load';
import { SupervisedRun } from '../run';
import type { Logger } from '../supervisor/supervisor';
import * as path from 'node:path';
import { parseMetricsAddress, readTokenFile, startMetricsServer } from '../status/metrics';
import { instanceNameFromConfig } from '../status/instance-registry';
import { attachCommand, NO_KEEPER, orphanedInstance } from './attach-command';

export interface RunCommandOptions {
  configFile: string;
  command: string[];
  logger: Logger;
  instance?: string;
  cgroupParent?: string;
  /** HOST:PORT or unix:/PATH for Prometheus metrics. */
  metrics?: string;
  /** File holding a bearer token scrapers must send. */
  metricsTokenFile?: string;
}

/** Runs the server to completion; resolves with the exit code vhqos should return. */
export async function runCommand(o: RunCommandOptions): Promise<number> {
  let run: SupervisedRun | undefined;
  // The metrics endpoint first: a bad address or a port in use is a start-up
  // error, before the server runs (scrapes get 503 until it does).
  let metrics: import('node:http').Server | undefined;
  if (o.metrics) {
    try {
      const token = o.metricsTokenFile ? readTokenFile(o.metricsTokenFile) : undefined;
      metrics = await startMetricsServer(parseMetricsAddress(o.metrics), () => {
        if (!run) throw new Error('starting');
        return run.snapshot();
      }, o.logger, { token });
    } catch (e) {
      console.error(`vhqos: metrics: ${(e as Error).message}`);
      return 2;
    }
  }
  // A restart (systemd) after vhqos itself died: its server still runs under
  // the keeper. Take it back instead of starting a second server.
  const instance = o.instance ?? instanceNameFromConfig(o.configFile);
  if (orphanedInstance(instance)) {
    const code = await attachCommand({ instance, config: o.configFile, logger: o.logger, tryOnly: true });
    if (code !== NO_KEEPER) {
      metrics?.close();
      return code;
    }
  }
  try {
    const config = loadConfig(o.configFile);
    run = new SupervisedRun({
      config,
      command: o.command,
      logger: o.logger,
      configFile: path.resolve(o.configFile),
      // Stable across restarts: labels, status and metrics keep their names.
      instance,
      cgroupParent: o.cgroupParent,
      forwardSignals: true,
      placeSupervisor: true,
    });
  } catch (e) {
    metrics?.close();
    if (e instanceof ConfigError) console.error(`vhqos: invalid configuration\n${e.message}`);
    else console.error(`vhqos: ${(e as Error).message}`);
    return e instanceof ConfigError ? 2 : 1;
  }
  if (metrics) o.logger.info({ metrics: o.metrics }, 'metrics available at /metrics');
  const st = await run.wait();
  metrics?.close();
  if (st.code !== null) return st.code;
  return 128 + (st.signal ?? 0);
}
