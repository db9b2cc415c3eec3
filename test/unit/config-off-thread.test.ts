// `vhqos reload` loads the config on a worker thread (src/config/load-off-thread.ts):
// the same config as loadConfig, and the same ConfigError with its problems.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/config/load';
import { loadConfigOffThread } from '../../src/config/load-off-thread';
import { ConfigError } from '../../src/errors';
import { repoRoot } from '../helpers/paths';

const fixture = (name: string) => path.join(repoRoot(), 'test', 'fixtures', 'configs', name);

test('a good config comes back as loadConfig gives it', async (t) => {
  for (const name of ['full.yaml', 'anchors.yaml', 'minimal.yaml']) t.deepEqual(await loadConfigOffThread(fixture(name)), loadConfig(fixture(name)), name);
});

test('a bad or missing config is a ConfigError with the same problems', async (t) => {
  for (const name of ['bad-schema.yaml', 'bad-semantic.yaml', 'bad-duplicate-key.yaml']) {
    let expected: ConfigError | undefined;
    try {
      loadConfig(fixture(name));
    } catch (e) {
      expected = e as ConfigError;
    }
    const err = await t.throwsAsync(loadConfigOffThread(fixture(name)), { instanceOf: ConfigError }, name);
    t.deepEqual(err?.problems, expected?.problems, name);
    t.is(err?.source, fixture(name));
  }
  const missing = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-cfg-')), 'nope.yaml');
  const err = await t.throwsAsync(loadConfigOffThread(missing), { instanceOf: ConfigError });
  t.regex(err!.problems[0], /^cannot read: ENOENT/);
});
