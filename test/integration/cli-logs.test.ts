// Logs for machines and for people: `vhqos run` writes JSON lines on stderr
// unless told --log-format pretty (the default on a terminal), and the
// supervised server's own output stays its own.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { defaultLogFormat } from '../../src/cli/logger';
import { requires, root as asRoot } from '../helpers/requires';

const root = path.resolve(__dirname, '..', '..', '..');
const bin = path.join(root, 'bin', 'vhqos.js');

function runTrue(...flags: string[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-logs-'));
  const config = path.join(dir, `logs-${process.pid}-${flags.join('') || 'default'}.yaml`);
  fs.writeFileSync(config, 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
  return spawnSync(process.execPath, [bin, 'run', '--config', config, ...flags, '--', 'sh', '-c', 'echo server-says-hi'], { encoding: 'utf8', timeout: 30000 });
}

requires(asRoot()).serial('run logs JSON lines on a pipe, pretty lines with --log-format pretty; the server keeps stdout', (t) => {
  const json = runTrue();
  t.is(json.status, 0, json.stderr);
  t.is(json.stdout.trim(), 'server-says-hi');
  const lines = json.stderr.trim().split('\n');
  const started = lines.map((l) => JSON.parse(l) as { msg: string; name: string; level: number }).find((l) => l.msg === 'server started under vhqos');
  t.truthy(started, json.stderr);
  t.is(started?.name, 'vhqos');

  const pretty = runTrue('--log-format', 'pretty');
  t.is(pretty.status, 0, pretty.stderr);
  t.is(pretty.stdout.trim(), 'server-says-hi');
  t.regex(pretty.stderr, /INFO.*server started under vhqos/);
  t.throws(() => JSON.parse(pretty.stderr.split('\n')[0]));
});

test('pretty is the default only on a terminal', (t) => {
  t.is(defaultLogFormat(true), 'pretty');
  t.is(defaultLogFormat(false), 'json');
});
