import { loadConfig, ConfigError } from '../config/load';
import { SupervisedRun } from '../run';
import type { Logger } from '../supervisor/supervisor';
import { startMetricsServer } from '../status/metrics';
import { instanceNameFromConfig } from '../status/instance-registry';

export interface RunCommandOptions {
  configFile: string;
  command: string[];
  logger: Logger;
  instance?: string;
  cgroupParent?: string;
  /** HOST:PORT for Prometheus metrics. */
  metrics?: string;
}

/** Runs the server to completion; resolves with the exit code vhqos should return. */
export async function runCommand(o: RunCommandOptions): Promise<number> {
  let run: SupervisedRun;
  try {
    const config = loadConfig(o.configFile);
    run = new SupervisedRun({
      config,
      command: o.command,
      logger: o.logger,
      // Stable across restarts: labels, status and metrics keep their names.
      instance: o.instance ?? instanceNameFromConfig(o.configFile),
      cgroupParent: o.cgroupParent,
      forwardSignals: true,
      placeSupervisor: true,
    });
  } catch (e) {
    if (e instanceof ConfigError) console.error(`vhqos: invalid configuration\n${e.message}`);
    else console.error(`vhqos: ${(e as Error).message}`);
    return e instanceof ConfigError ? 2 : 1;
  }
  let metrics: import('node:http').Server | undefined;
  if (o.metrics) {
    try {
      metrics = await startMetricsServer(o.metrics, () => run.snapshot(), o.logger);
      o.logger.info({ metrics: `http://${o.metrics}/metrics` }, 'metrics available');
    } catch (e) {
      // The server is running already: a metrics problem must not stop it.
      o.logger.error({ err: e }, 'metrics endpoint unavailable');
    }
  }
  const st = await run.wait();
  metrics?.close();
  if (st.code !== null) return st.code;
  return 128 + (st.signal ?? 0);
}
