import test from 'ava';
import * as path from 'node:path';

test('the package entry point (package.json main) loads and exposes the embedding API', (t) => {
  const root = path.resolve(__dirname, '..', '..', '..');
  const pkg = require(path.join(root, 'package.json')) as { main: string };
  const api = require(path.join(root, pkg.main)) as Record<string, unknown>;
  for (const name of ['loadConfig', 'parseConfig', 'ConfigError', 'Instance', 'loadNative', 'detectCgroups', 'chooseClassifyAt']) {
    t.is(typeof api[name], 'function', name);
  }
  const cfg = (api.parseConfig as (y: string) => { options: { classifyAt: string } })('vhosts: {a: {hosts: [a.test]}}\n');
  t.is(cfg.options.classifyAt, 'accept');
});
