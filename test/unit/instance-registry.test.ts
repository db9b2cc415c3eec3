import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { claimInstance, instanceNameFromConfig, instanceOwner, InstanceInUseError } from '../../src/status/instance-registry';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-claims-'));

test('the default instance name is the config file name without extension, safe for cgroups', (t) => {
  t.is(instanceNameFromConfig('/etc/vhqos/shop.yaml'), 'shop');
  t.is(instanceNameFromConfig('site.yml'), 'site');
  t.is(instanceNameFromConfig('a b/c d.json'), 'c_d');
  t.is(instanceNameFromConfig('.hidden.yaml'), 'hidden');
  t.is(instanceNameFromConfig('cfg'), 'cfg');
  t.is(instanceNameFromConfig('x'.repeat(100) + '.yaml').length, 64);
});

test('one live supervisor per name: a second claim is refused with who has it; after release it is free', (t) => {
  const dir = tmp();
  const release = claimInstance('shop', dir);
  const e = t.throws(() => claimInstance('shop', dir), { instanceOf: InstanceInUseError });
  t.is(e!.pid, process.pid);
  t.regex(e!.message, /instance "shop" is already running \(supervisor pid \d+\)/);
  t.is(instanceOwner('shop', dir), process.pid);
  release();
  release(); // idempotent
  t.is(instanceOwner('shop', dir), null);
  claimInstance('shop', dir)();
});

test('a claim whose supervisor is gone is stale and taken over', (t) => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'shop.pid'), '999999999\n');
  t.is(instanceOwner('shop', dir), null);
  const release = claimInstance('shop', dir);
  t.is(fs.readFileSync(path.join(dir, 'shop.pid'), 'utf8').trim(), String(process.pid));
  release();
  fs.writeFileSync(path.join(dir, 'other.pid'), 'garbage');
  claimInstance('other', dir)();
  t.false(fs.existsSync(path.join(dir, 'other.pid')));
});
