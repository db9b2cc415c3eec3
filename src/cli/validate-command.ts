import { loadConfig, ConfigError, describeConfig } from '../config/load';
import { configWarnings, type MachineFacts } from '../config/warnings';

export function validateCommand(file: string, machine?: MachineFacts): number {
  try {
    const cfg = loadConfig(file);
    console.log(`${file}: valid\n${describeConfig(cfg)}`);
    // Valid but suspicious: still exit 0 (the file may be meant for another machine).
    for (const w of configWarnings(cfg, machine)) console.log(`  warning: ${w}`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`${e.source}: invalid`);
      for (const p of e.problems) console.error(`  ${p}`);
      return 1;
    }
    console.error(`vhqos: ${(e as Error).message}`);
    return 1;
  }
}
