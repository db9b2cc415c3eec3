import test from 'ava';
import { parseConfig } from '../../src/config/load';
import { describePlan, effectiveConfig, planIsEmpty, planReload } from '../../src/supervisor/reload';

const a = parseConfig('vhosts:\n  gold: {hosts: [gold.test], cpu: {weight: 400}}\n  bronze: {hosts: [bronze.test]}\n  iron: {addresses: ["127.0.0.9"]}\n');

test('planReload: added, removed, limits and match changes, default, options that need a restart', (t) => {
  const b = parseConfig(
    'vhosts:\n  gold: {hosts: [gold.test], cpu: {weight: 200}}\n  bronze: {hosts: [bronze.test, www.bronze.test]}\n  silver: {hosts: [silver.test]}\ndefault: {pids: {max: 10}}\noptions: {classifyAt: read, peekBytes: 8192}\n',
  );
  const p = planReload(a, b);
  t.deepEqual(p.added, ['silver']);
  t.deepEqual(p.removed, ['iron']);
  t.deepEqual(p.limitsChanged, ['gold']);
  t.deepEqual(p.matchChanged, ['bronze']);
  t.true(p.defaultChanged);
  t.deepEqual(p.needRestart, ['options.classifyAt', 'options.peekBytes']);
  t.deepEqual(describePlan(p), [
    'added: silver',
    'removed: iron (their processes moved to _default)',
    'limits changed: gold',
    'hosts/addresses changed: bronze',
    'default changed',
    'not changed (need a restart): options.classifyAt, options.peekBytes',
  ]);
  const eff = effectiveConfig(a, b);
  t.is(eff.options.classifyAt, a.options.classifyAt, 'start-only options stay as they are');
  t.is(eff.options.peekBytes, a.options.peekBytes);
  t.deepEqual(eff.vhosts.map((v) => v.name), ['gold', 'bronze', 'silver']);
});

test('planReload: the same config is an empty plan', (t) => {
  const p = planReload(a, parseConfig('vhosts:\n  gold: {hosts: [gold.test], cpu: {weight: 400}}\n  bronze: {hosts: [bronze.test]}\n  iron: {addresses: ["127.0.0.9"]}\n'));
  t.true(planIsEmpty(p));
  t.deepEqual(describePlan(p), ['nothing changed']);
});
