// What a container asks of vhqos: near misses of the config key, the config
// file checks, and messages podman does not rewrite (src/engines/container-request.ts).
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkConfigFile, ContainerRefusal, engineSafe, looksMeantFor, nearMisses } from '../../src/engines/container-request';

test('near misses of VHQOS_CONFIG / io.vhqos.config are found; the real keys and unrelated ones are not', (t) => {
  for (const k of ['VHQOS_CONFG', 'VHQOS_CONFIGS', 'VHQOS_CONF', 'vhqos_config', 'VHQOS-CONFIG', 'VHQOS_CONFIG_FILE', 'VHQS_CONFIG', 'VQHOS_CONFIG',
    'vhqos.config', 'io.vhqos.confg', 'io.vhqos.configs', 'IO.VHQOS.CONFIG', 'io.vhqos/config', 'io.vhqos.config-path']) {
    t.true(looksMeantFor(k), k);
  }
  for (const k of ['HOSTNAME', 'PATH', 'CONFIG', 'APP_CONFIG', 'VHQOS_AGENT_SOCKET', 'VHQOS_RUN_DIR', 'io.podman.annotations.autoremove', 'org.opencontainers.image.stopSignal', 'io.vhqos.refused']) {
    t.false(looksMeantFor(k), k);
  }
  t.deepEqual(nearMisses({ 'io.vhqos.config': '/a', 'vhqos.config': '/b' }, ['VHQOS_CONFIG=/a', 'VHQOS_CONFG=/b', 'PATH=/bin']), [
    { where: 'annotation', key: 'vhqos.config', meant: 'io.vhqos.config' },
    { where: 'env', key: 'VHQOS_CONFG', meant: 'VHQOS_CONFIG' },
  ]);
  t.deepEqual(nearMisses(undefined, undefined), []);
});

test('checkConfigFile: relative, missing, a directory, invalid, valid', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-creq-'));
  try {
    const good = path.join(dir, 'good.yaml');
    fs.writeFileSync(good, 'vhosts:\n  a:\n    hosts: [a.test]\n');
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'vhosts:\n  a:\n    hosts: [a.test]\n    cpu: { weight: 0 }\n  b: 7\n');
    t.notThrows(() => checkConfigFile(good));
    const cases: [string, RegExp][] = [
      ['site.yaml', /^vhqos config "site\.yaml" is a relative path/],
      [path.join(dir, 'none.yaml'), /none\.yaml does not exist on the host$/],
      [path.join(good, 'x.yaml'), /does not exist \(a parent is not a directory\)/],
      [dir, /is not a regular file/],
      [bad, /^invalid vhqos config .*bad\.yaml: .*weight.*; /],
    ];
    for (const [file, re] of cases) {
      const e = t.throws(() => checkConfigFile(file), { instanceOf: ContainerRefusal });
      t.regex(e!.message, re, file);
      t.false(e!.message.includes('\n'), 'one line');
    }
    const odd = t.throws(() => checkConfigFile(good, () => { throw new Error('EACCES: permission denied, open x'); }));
    t.is(odd!.message, `vhqos config ${good}: EACCES: access refused (EACCES), open x`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('engineSafe rewords what podman would replace by its generic suffix, on one line', (t) => {
  t.is(engineSafe("ENOENT: no such file or directory, open '/x'\n  next"), "ENOENT: does not exist (ENOENT), open '/x'; next");
  t.is(engineSafe('Operation not permitted; Permission denied'), 'not allowed (EPERM); access refused (EACCES)');
  t.is(engineSafe('plain'), 'plain');
});
