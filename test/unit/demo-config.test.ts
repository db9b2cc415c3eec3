// The demo's shipped config (pure: the file, not the demo; test/integration/servers.test.ts runs it).
import test from 'ava';
import * as fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { demoConfig } from '../helpers/demo';

test('demo: demo.yaml has gold (400) and bronze (100), name-based', (t) => {
  const cfg = parseYaml(fs.readFileSync(demoConfig(), 'utf8')) as {
    vhosts: Record<string, { hosts?: string[]; addresses?: string[]; cpu?: { weight?: number } }>;
  };
  t.deepEqual(Object.keys(cfg.vhosts).sort(), ['bronze', 'gold']);
  t.is(cfg.vhosts['gold'].cpu?.weight, 400);
  t.is(cfg.vhosts['bronze'].cpu?.weight, 100);
  t.deepEqual(cfg.vhosts['gold'].hosts, ['gold.demo']);
  t.deepEqual(cfg.vhosts['bronze'].hosts, ['bronze.demo']);
  t.is(cfg.vhosts['gold'].addresses, undefined);
});
