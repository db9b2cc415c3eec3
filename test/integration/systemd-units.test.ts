// deploy/systemd: the units as systemd itself reads them. `systemd-analyze
// verify` must accept them without a single complaint (a broken copy shows
// what a complaint looks like), `systemd-analyze security --offline` must
// stay at or below the exposure measured when they were written, and the
// vhqos command lines in them must be ones this CLI accepts. systemd is not
// PID 1 on the test machines (nor in the VM), so the units are never started.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../helpers/paths';
import { prerequisite, requires } from '../helpers/requires';

const DIR = path.join(repoRoot(), 'deploy', 'systemd');
const BIN = path.join(repoRoot(), 'bin', 'vhqos.js');
const UNITS = ['vhqos-agent.service', 'vhqos-apache.service'];
/** Overall exposure (0-10) of `systemd-analyze security --offline=true`, systemd 252, as measured. */
const EXPOSURE: Record<string, number> = { 'vhqos-agent.service': 4.6, 'vhqos-apache.service': 7.8 };

const analyze = (...args: string[]) => spawnSync('systemd-analyze', args, { encoding: 'utf8' });

function missing(): string | null {
  const r = analyze('--version');
  if (r.error || r.status !== 0) return 'needs systemd-analyze (package systemd; scripts/install-test-deps.sh)';
  if (!/--offline/.test(analyze('security', '--help').stdout)) return `systemd-analyze ${r.stdout.split('\n')[0]} has no security --offline (systemd >= 250)`;
  return null;
}
const when = requires(prerequisite('systemd-analyze-offline', missing())).serial;
const unit = (name: string) => fs.readFileSync(path.join(DIR, name), 'utf8');
/** Values of a key, continuation lines joined. */
const values = (text: string, key: string) =>
  text.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

for (const name of UNITS) {
  when(`${name}: systemd-analyze verify accepts it without warnings`, (t) => {
    const r = analyze('verify', path.join(DIR, name));
    t.log(`PID 1 here is ${fs.readFileSync('/proc/1/comm', 'utf8').trim()} (booted with systemd: ${fs.existsSync('/run/systemd/system')}): verified offline, never started`);
    t.is(r.status, 0, r.stderr);
    t.is(r.stderr.split('\n').filter((l) => l.includes(name)).join('\n'), '', 'no warning about the unit');
  });

  when(`${name}: exposure (systemd-analyze security --offline) at most ${EXPOSURE[name]}`, (t) => {
    const r = analyze('security', '--offline=true', `--threshold=${Math.round(EXPOSURE[name] * 10)}`, path.join(DIR, name));
    const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout);
    t.truthy(m, r.stdout + r.stderr);
    t.log(`${name}: exposure ${m?.[1]}`);
    t.true(Number(m?.[1]) <= EXPOSURE[name], `exposure ${m?.[1]} > ${EXPOSURE[name]}`);
    t.is(r.status, 0, 'under --threshold');
  });
}

when('a broken unit is reported by the same verify', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-units-'));
  try {
    const bad = path.join(dir, 'vhqos-apache.service');
    fs.writeFileSync(bad, unit('vhqos-apache.service').replace('KillMode=mixed', 'KillMode=sometimes'));
    t.regex(analyze('verify', bad).stderr, /vhqos-apache\.service:\d+: Failed to parse kill mode/);
    fs.writeFileSync(bad, unit('vhqos-apache.service').replace('ExecStart=/usr/bin/env', 'ExecStart=usr/bin/env'));
    t.not(analyze('verify', bad).status, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('vhqos-apache.service: delegated cgroup, vhqos reload, a clean stop', (t) => {
  const u = unit('vhqos-apache.service');
  t.deepEqual(values(u, 'Delegate'), ['yes']);
  t.deepEqual(values(u, 'KillMode'), ['mixed']);
  const start = values(u, 'ExecStart').join(' ');
  t.regex(start, /vhqos run --cgroup-parent self --config (\S+) -- /);
  // The instance is the config file's name; reload must name the same one.
  const config = /--config (\S+)/.exec(start)![1];
  t.deepEqual(values(u, 'ExecReload'), [`/usr/bin/env vhqos reload --instance ${path.basename(config, path.extname(config))}`]);
});

test('vhqos-agent.service: ready when listening, only the agent stopped, writes only /run/vhqos and cgroups', (t) => {
  const u = unit('vhqos-agent.service');
  t.deepEqual(values(u, 'Type'), ['notify']);
  t.deepEqual(values(u, 'NotifyAccess'), ['all']);
  t.deepEqual(values(u, 'KillMode'), ['process']);
  t.deepEqual(values(u, 'ProtectSystem'), ['strict']);
  t.deepEqual(values(u, 'ReadWritePaths'), ['/sys/fs/cgroup']);
  t.deepEqual(values(u, 'RuntimeDirectory'), ['vhqos']);
  t.deepEqual(values(u, 'Environment'), ['VHQOS_AGENT_SOCKET=/run/vhqos/agent.sock']);
});

test('the vhqos command lines in the units use options this CLI has', (t) => {
  for (const name of UNITS) {
    for (const key of ['ExecStart', 'ExecReload']) {
      for (const line of values(unit(name), key)) {
        const args = line.split(' -- ')[0].split(/\s+/).filter(Boolean);
        t.is(args.slice(0, 2).join(' '), '/usr/bin/env vhqos', line);
        const sub = args[2];
        const help = spawnSync(process.execPath, [BIN, sub, '--help'], { encoding: 'utf8' }).stdout;
        for (const opt of args.filter((a) => a.startsWith('--'))) t.true(help.includes(opt), `vhqos ${sub} has no ${opt}`);
      }
    }
  }
});
