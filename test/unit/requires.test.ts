// The skip rules of test/helpers/requires.ts, and that no test file skips or
// passes around them.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { allowedSkips, decide, prerequisite } from '../helpers/requires';
import { repoRoot } from '../helpers/paths';

const here = prerequisite('root', null);
const noRoot = prerequisite('root', 'needs root');
const noV2 = prerequisite('cgroup-v2', 'this host is cgroup v1');

test('outside CI a missing prerequisite skips with its reason; nothing missing runs', (t) => {
  t.deepEqual(decide([here], null), { as: 'run', reason: '' });
  t.deepEqual(decide([here, noRoot, noV2], null), { as: 'skip', reason: 'needs root; this host is cgroup v1' });
});

test('under CI only the allow-listed prerequisites may be missing; any other fails the test', (t) => {
  t.deepEqual(decide([noV2], new Set(['cgroup-v2'])), { as: 'skip', reason: 'this host is cgroup v1' });
  const d = decide([noV2, noRoot], new Set(['cgroup-v2']));
  t.is(d.as, 'fail');
  t.regex(d.reason, /^cannot run here: this host is cgroup v1; needs root \(CI allows skips only for VHQOS_ALLOW_SKIP="cgroup-v2"; missing root\)$/);
  t.is(decide([noV2], new Set()).as, 'fail');
  t.is(decide([here], new Set()).as, 'run');
});

test('CI is any non-empty CI other than false/0; VHQOS_ALLOW_SKIP is a comma list', (t) => {
  t.is(allowedSkips({}), null);
  t.is(allowedSkips({ CI: 'false', VHQOS_ALLOW_SKIP: 'root' }), null);
  t.is(allowedSkips({ CI: '0' }), null);
  t.deepEqual([...allowedSkips({ CI: 'true' })!], []);
  t.deepEqual([...allowedSkips({ CI: '1', VHQOS_ALLOW_SKIP: ' cgroup-v2, loop-devices ,' })!], ['cgroup-v2', 'loop-devices']);
});

test('no test file skips or passes by hand: prerequisites go through requires()', (t) => {
  const dir = path.join(repoRoot(), 'test');
  const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith(path.join('helpers', 'requires.ts')));
  t.true(files.length > 20);
  const found: string[] = [];
  for (const f of files) {
    fs.readFileSync(path.join(dir, f), 'utf8').split('\n').forEach((line, i) => {
      if (/\bt\.pass\(|\btest(\.serial)?\.skip\b|\.skip\(/.test(line)) found.push(`test/${f}:${i + 1}: ${line.trim()}`);
    });
  }
  t.deepEqual(found, []);
});
