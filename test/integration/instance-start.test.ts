// The staged start of an instance: when a step fails, everything the steps
// before it created is undone — the spawned server (killed: nothing would
// answer its trapped syscalls), its cgroups and the claimed instance name.
// Real native core, real cgroups; the failure is injected into one step.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../../src/config/load';
import { Instance } from '../../src/supervisor/instance';
import { loadNative, type NativeBinding } from '../../src/native';
import { detectCgroups } from '../../src/cgroup';
import { STATUS_DIR } from '../../src/status/server';
import { instanceOwner } from '../../src/status/instance-registry';
import { quiet } from '../helpers/site';
import { requires, root } from '../helpers/requires';

const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

/** The real binding, with one step made to fail; records the server it spawned. */
function failingAt(step: 'startKeeper' | 'Loop', spawned: { pid?: number }): NativeBinding {
  const real = loadNative();
  return new Proxy(real, {
    get(target, prop, recv) {
      if (prop === 'spawn')
        return (o: Parameters<NativeBinding['spawn']>[0]) => {
          const r = target.spawn(o);
          spawned.pid = r.pid;
          return r;
        };
      if (prop === step) {
        if (step === 'Loop')
          return function FailingLoop() {
            throw new Error('injected: the loop cannot start');
          };
        return () => {
          throw new Error('injected: the keeper cannot start');
        };
      }
      return Reflect.get(target, prop, recv);
    },
  });
}

for (const step of ['startKeeper', 'Loop'] as const) {
  requires(root()).serial(`a start that fails at ${step} leaves no server, no cgroups and no claim behind`, async (t) => {
    const name = `rollback-${process.pid}-${step}`;
    const spawned: { pid?: number } = {};
    const err = t.throws(() =>
      Instance.spawn({
        config: parseConfig('vhosts:\n  gold: { hosts: [gold.test] }\n'),
        command: ['sleep', '30'],
        logger: quiet,
        instance: name,
        statusSocket: false,
        native: failingAt(step, spawned),
      }),
    );
    t.regex(err?.message ?? '', /injected/);
    t.truthy(spawned.pid, 'the server was spawned before the failing step');
    t.true(await until(() => !alive(spawned.pid!), 3000), `server ${spawned.pid} still runs`);
    const d = detectCgroups();
    const dirs = (d.version === 2 && d.v2 ? [d.v2] : d.v1).map((h) => path.join(h.mountPoint, 'vhqos', name));
    t.true(dirs.length > 0);
    t.deepEqual(dirs.filter((p) => fs.existsSync(p)), [], 'cgroups removed');
    t.is(instanceOwner(name), null, 'instance name released');
    t.false(fs.existsSync(path.join(STATUS_DIR, `${name}.pid`)));
  });
}

test('spawn without a command is refused before anything is created', (t) => {
  const err = t.throws(() => Instance.spawn({ config: parseConfig('vhosts:\n  gold: { hosts: [gold.test] }\n'), command: [], logger: quiet, statusSocket: false }));
  t.regex(err?.message ?? '', /no command given/);
});
