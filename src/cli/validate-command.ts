import { loadConfig, ConfigError, describeConfig } from '../config/load';

export function validateCommand(file: string): number {
  try {
    const cfg = loadConfig(file);
    console.log(`${file}: valid\n${describeConfig(cfg)}`);
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
