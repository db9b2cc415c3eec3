// The placement socket's pure policy: request parsing, the group a request
// names (through the same classifier as trapped connections), and who may
// place what (fake /proc; the real one is in test/integration/placement.test.ts).
import test from 'ava';
import { parseConfig } from '../../src/config/load';
import { parsePlaceRequest, PlaceError } from '../../src/placement/protocol';
import { groupChooser } from '../../src/placement/choose-group';
import { authorize, peerStillThere, type Peer, type PeerDeps } from '../../src/placement/peer';
import { placementOnlyWarnings } from '../../src/placement/placement';

const config = parseConfig(`
vhosts:
  gold: { hosts: [gold.test, "*.gold.test"] }
  bronze: { hosts: [bronze.test] }
  shop: { addresses: ["127.0.0.2"] }
  blog: { hosts: [blog.test], addresses: ["127.0.0.3"] }
`);

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof PlaceError ? e.reason : `not a PlaceError: ${(e as Error).message}`;
  }
  return 'no error';
};

test('parsePlaceRequest: accepts the documented fields', (t) => {
  t.deepEqual(parsePlaceRequest('{"place":{"host":"Gold.Test:8080"}}'), { host: 'Gold.Test:8080' });
  t.deepEqual(parsePlaceRequest('{"place":{"sni":"gold.test","local":"127.0.0.2:443"}}'), { sni: 'gold.test', local: { ip: '127.0.0.2', port: 443 } });
  t.deepEqual(parsePlaceRequest('{"place":{"local":"[::1]:80"}}'), { local: { ip: '::1', port: 80 } });
  t.deepEqual(parsePlaceRequest('{"place":{"vhost":"gold","tid":12,"pid":11}}'), { vhost: 'gold', tid: 12, pid: 11 });
  t.deepEqual(parsePlaceRequest('{"place":{"host":"[::1]:8080"}}'), { host: '[::1]:8080' });
});

test('parsePlaceRequest: everything else is EINVAL with a reason', (t) => {
  for (const line of [
    '',
    'x',
    'null',
    '[]',
    '{"place":[]}',
    '{"place":{}}',
    '{"place":{"host":""}}',
    '{"place":{"host":"a b"}}',
    '{"place":{"host":"a\\nHost: b"}}',
    '{"place":{"host":5}}',
    '{"place":{"vhost":""}}',
    '{"place":{"vhost":"gold","host":"gold.test"}}',
    '{"place":{"vhost":"gold","pid":0}}',
    '{"place":{"vhost":"gold","pid":1.5}}',
    '{"place":{"vhost":"gold","tid":"7"}}',
    '{"place":{"local":"localhost:80"}}',
    '{"place":{"local":"0.0.0.0:80"}}',
    '{"place":{"local":"10.0.0.0/8"}}',
    '{"place":{"vhost":"gold","extra":1}}',
  ])
    t.is(code(() => parsePlaceRequest(line)), 'EINVAL', line);
});

test('groupChooser: names and addresses as the classifier of trapped connections decides them', (t) => {
  const choose = groupChooser(config);
  const pick = (line: string) => {
    const c = choose(parsePlaceRequest(line));
    return `${c.group}/${c.by}`;
  };
  t.is(pick('{"place":{"host":"gold.test"}}'), 'gold/host');
  t.is(pick('{"place":{"host":"WWW.Gold.Test:8080"}}'), 'gold/host');
  t.is(pick('{"place":{"sni":"bronze.test","host":"gold.test"}}'), 'bronze/sni', 'SNI beats Host');
  t.is(pick('{"place":{"host":"other.test"}}'), '_default/default');
  t.is(pick('{"place":{"host":"gold.test","local":"127.0.0.2:80"}}'), 'shop/address', 'the address decides first');
  t.is(pick('{"place":{"host":"blog.test","local":"127.0.0.3:80"}}'), 'blog/host');
  t.is(pick('{"place":{"host":"gold.test","local":"127.0.0.3:80"}}'), '_default/default', 'gold is not a candidate on 127.0.0.3');
  t.is(pick('{"place":{"local":"127.0.0.2:80"}}'), 'shop/address');
  t.is(pick('{"place":{"vhost":"bronze"}}'), 'bronze/vhost');
  t.is(code(() => choose(parsePlaceRequest('{"place":{"vhost":"_server"}}'))), 'ENOENT', 'internal groups are not vhosts');
});

const peer = (over: Partial<Peer> = {}): Peer => ({ pid: 100, uid: 33, pidfd: 9, pidfdFromSocket: true, acceptedTicks: 5000, ...over });
const deps = (over: Partial<PeerDeps> = {}): PeerDeps => ({
  exited: () => false,
  startTicks: (pid) => (pid === 100 || pid === 200 ? 4000 : undefined),
  isThreadOf: (tid, pid) => (pid === 100 && (tid === 100 || tid === 101)) || (pid === 200 && tid === 200),
  groupOf: (pid) => (pid === 100 || pid === 200 ? '_server' : undefined),
  ...over,
});

test('authorize: a non-root peer places itself or its own threads, never another process', (t) => {
  t.deepEqual(authorize(peer(), {}, deps()), { pid: 100, from: '_server' });
  t.deepEqual(authorize(peer(), { pid: 100, tid: 101 }, deps()), { pid: 100, tid: 101, from: '_server' });
  t.is(code(() => authorize(peer(), { pid: 200 }, deps())), 'EPERM');
  t.is(code(() => authorize(peer(), { tid: 200 }, deps())), 'EPERM', "another process's thread");
  t.is(code(() => authorize(peer({ pid: 300 }), {}, deps({ startTicks: () => 1 }))), 'EPERM', 'outside the instance');
});

test('authorize: root places any process of the instance, nothing outside it', (t) => {
  const root = peer({ uid: 0 });
  t.deepEqual(authorize(root, { pid: 200 }, deps()), { pid: 200, from: '_server' });
  t.deepEqual(authorize(root, { pid: 200, tid: 200 }, deps()), { pid: 200, tid: 200, from: '_server' });
  t.is(code(() => authorize(root, { pid: 300 }, deps())), 'ESRCH', 'gone');
  t.is(code(() => authorize(root, { pid: 300 }, deps({ startTicks: () => 1 }))), 'EPERM', 'alive, not ours');
  t.is(code(() => authorize(root, { pid: 200, tid: 101 }, deps())), 'ESRCH');
});

test('the peer counts only while its pid still names the process that connected', (t) => {
  t.true(peerStillThere(peer(), deps()));
  t.false(peerStillThere(peer(), deps({ exited: () => true })), 'SO_PEERPIDFD: the connecting process exited');
  const fallback = peer({ pidfdFromSocket: false });
  t.true(peerStillThere(fallback, deps()));
  t.false(peerStillThere(fallback, deps({ startTicks: () => 5002 })), 'pid reused by a process started after the accept');
  t.false(peerStillThere(fallback, deps({ exited: () => true })));
  t.is(code(() => authorize(peer({ pidfdFromSocket: false }), {}, deps({ startTicks: () => 9999 }))), 'ESRCH');
});

test('placementOnlyWarnings: connection slots need a trapped accept', (t) => {
  t.deepEqual(placementOnlyWarnings(config), []);
  const slots = parseConfig('vhosts:\n  gold: { hosts: [gold.test], connections: { max: 4 } }\n');
  t.regex(placementOnlyWarnings(slots)[0], /^gold: connections .* not applied$/);
});
