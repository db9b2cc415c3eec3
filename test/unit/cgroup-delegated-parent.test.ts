// Where `--cgroup-parent self` puts an instance: the path logic (pure), and
// the cases that never touch a cgroup (v1, the root cgroup).
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { delegatedParentOf, enterDelegatedCgroup, SUPERVISOR_LEAF } from '../../src/cgroup/delegated-parent';
import type { CgroupDetection } from '../../src/cgroup/detect';

test('the parent is the process\'s own cgroup (a unit with Delegate=yes)', (t) => {
  t.is(delegatedParentOf('/system.slice/vhqos-apache.service'), 'system.slice/vhqos-apache.service');
  t.is(delegatedParentOf('system.slice/vhqos-apache.service/'), 'system.slice/vhqos-apache.service');
});

test('already in the supervisor leaf (DelegateSubgroup=supervisor, or a restart): the parent is the one above', (t) => {
  t.is(delegatedParentOf(`/system.slice/vhqos-apache.service/${SUPERVISOR_LEAF}`), 'system.slice/vhqos-apache.service');
  // Only the last component counts.
  t.is(delegatedParentOf(`/${SUPERVISOR_LEAF}/x.service`), `${SUPERVISOR_LEAF}/x.service`);
});

test('the root cgroup is refused with the reason', (t) => {
  for (const own of ['/', '', `/${SUPERVISOR_LEAF}`]) {
    t.throws(() => delegatedParentOf(own), { message: /root cgroup.*Delegate=yes/ }, own);
  }
});

const v1: CgroupDetection = { version: 1, v1: [{ mountPoint: '/sys/fs/cgroup/cpu', mountRoot: '/', controllers: ['cpu'] }] };

test('cgroup v1: the default parent, nothing moved', (t) => {
  const before = fs.readFileSync('/proc/self/cgroup', 'utf8');
  const d = enterDelegatedCgroup({ detection: v1, instance: 'site' });
  t.is(d.parent, 'vhqos');
  t.regex(d.message, /cgroup v1/);
  t.is(fs.readFileSync('/proc/self/cgroup', 'utf8'), before);
});

test('cgroup v2: an instance named like the leaf or systemd\'s .control is refused', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-deleg-'));
  const v2: CgroupDetection = { version: 2, v1: [], v2: { mountPoint: dir, mountRoot: '/', controllers: [] } };
  try {
    for (const instance of [SUPERVISOR_LEAF, '.control']) {
      t.throws(() => enterDelegatedCgroup({ detection: v2, instance }), { message: /cannot be named/ });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('cgroup v2, a process outside what the mount shows: a clear error, nothing created', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-deleg-'));
  // A mount that shows only some other subtree: this process is not in it.
  const v2: CgroupDetection = { version: 2, v1: [], v2: { mountPoint: dir, mountRoot: '/not-this-process', controllers: [] } };
  try {
    t.throws(() => enterDelegatedCgroup({ detection: v2, instance: 'site' }), { message: /not visible under/ });
    t.deepEqual(fs.readdirSync(dir), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
