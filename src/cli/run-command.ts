import { loadConfig, ConfigError } from '../config/load';
import { SupervisedRun } from '../run';
import type { Logger } from '../supervisor/supervisor';

export interface RunCommandOptions {
  configFile: string;
  command: string[];
  logger: Logger;
  instance?: string;
  cgroupParent?: string;
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
      instance: o.instance,
      cgroupParent: o.cgroupParent,
      forwardSignals: true,
      placeSupervisor: true,
    });
  } catch (e) {
    if (e instanceof ConfigError) console.error(`vhqos: invalid configuration\n${e.message}`);
    else console.error(`vhqos: ${(e as Error).message}`);
    return e instanceof ConfigError ? 2 : 1;
  }
  const st = await run.wait();
  if (st.code !== null) return st.code;
  return 128 + (st.signal ?? 0);
}
