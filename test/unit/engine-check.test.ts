// The container side of `vhqos check` (src/engines/engine-check.ts): rows from
// probe results, and the probes of hooks.d files, daemon.json and a socket.
import test from 'ava';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { containerRows, containersReady, parseVersion, probeAgentSocket, probeDocker, probeHooks, type ContainerProbes } from '../../src/engines/engine-check';
import { installHooks } from '../../src/engines/install-hooks';

const ROOT = path.resolve(__dirname, '..', '..', '..');

function probes(over: Partial<ContainerProbes> = {}): ContainerProbes {
  return {
    runtime: { runtime: 'runc', versionLine: 'runc version 1.1.5+ds1' },
    hooks: (['precreate', 'prestart', 'poststop'] as const).map((stage) => ({ stage, file: `/etc/containers/oci/hooks.d/vhqos-${stage}.json` })),
    hooksDirs: ['/etc/containers/oci/hooks.d'],
    docker: { file: '/etc/docker/daemon.json', runtimes: [] },
    agent: { socket: '/run/vhqos/agent.sock', state: 'answers', instances: 2 },
    ...over,
  };
}

const row = (p: ContainerProbes, item: string) => containerRows(p).find((r) => r.item === item)!;

test('parseVersion', (t) => {
  t.deepEqual(parseVersion('runc version 1.1.5+ds1'), [1, 1, 5]);
  t.deepEqual(parseVersion('runc version 1.0.0-rc93'), [1, 0, 0]);
  t.deepEqual(parseVersion('crun version 1.8.1'), [1, 8, 1]);
  t.is(parseVersion('something else'), undefined);
});

test('rows: runc >= 1.1 has listenerPath; older, other or missing runtimes are reported', (t) => {
  t.true(row(probes(), 'OCI runtime').ok);
  t.regex(row(probes(), 'OCI runtime').detail, /listenerPath supported/);
  const old = row(probes({ runtime: { runtime: 'runc', versionLine: 'runc version 1.0.3' } }), 'OCI runtime');
  t.false(old.ok);
  t.regex(old.detail, /needs runc >= 1\.1 for seccomp listenerPath/);
  const none = row(probes({ runtime: { runtime: '/opt/runc', error: 'not found' } }), 'OCI runtime');
  t.false(none.ok);
  t.regex(none.detail, /^\/opt\/runc: not found/);
  t.false(row(probes({ runtime: { runtime: 'crun', versionLine: 'crun version 1.8.1' } }), 'OCI runtime').ok);
});

test('rows: hooks, docker runtime, agent; ready needs runtime, agent and one engine', (t) => {
  t.true(containersReady(containerRows(probes())));
  const noHooks = probes({ hooks: (['precreate', 'prestart', 'poststop'] as const).map((stage) => ({ stage })) });
  t.regex(row(noHooks, 'podman hooks').detail, /not installed in \/etc\/containers\/oci\/hooks\.d/);
  t.false(containersReady(containerRows(noHooks)));
  const withDocker = { ...noHooks, docker: { file: '/etc/docker/daemon.json', runtimes: [{ name: 'vhqos', path: '/usr/local/bin/vhqos-runtime', exists: true }] } };
  t.true(row(withDocker, 'docker runtime').ok);
  t.true(containersReady(containerRows(withDocker)));
  const down = probes({ agent: { socket: '/x.sock', state: 'absent', detail: 'no socket at /x.sock' } });
  t.false(containersReady(containerRows(down)));
  t.is(row(down, 'agent').detail, 'no socket at /x.sock');
  t.regex(row(down, 'podman hooks').detail, /not the socket checked below: \/x\.sock/);
  t.is(row(probes(), 'agent').detail, 'answers at /run/vhqos/agent.sock (peer check passed; 2 supervised)');
});

test('probeHooks: current files pass; a missing stage, an old "when" and a moved vhqos are reported', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-check-hooks-'));
  try {
    const a = path.join(dir, 'a');
    installHooks(a, path.join(ROOT, 'bin', 'vhqos.js'), { agentSocket: '/run/x.sock' });
    let hs = probeHooks([a]);
    t.deepEqual(hs.map((h) => h.problem), [undefined, undefined, undefined]);
    t.deepEqual(hs.map((h) => h.agentSocket), ['/run/x.sock', '/run/x.sock', '/run/x.sock']);
    const pre = path.join(a, 'vhqos-prestart.json');
    const j = JSON.parse(fs.readFileSync(pre, 'utf8'));
    j.when = { annotations: { '^io\\.vhqos\\.config$': '.+' } };
    fs.writeFileSync(pre, JSON.stringify(j));
    fs.rmSync(path.join(a, 'vhqos-poststop.json'));
    hs = probeHooks([a]);
    t.regex(hs[1].problem!, /another vhqos version/);
    t.is(hs[2].file, undefined);
    const rows = containerRows(probes({ hooks: hs, hooksDirs: [a] }));
    const r = rows.find((x) => x.item === 'podman hooks')!;
    t.false(r.ok);
    t.regex(r.detail, /vhqos-prestart\.json: written by another vhqos version.*; missing vhqos-poststop\.json/);
    // a later directory wins, as in podman
    const b = path.join(dir, 'b');
    installHooks(b, path.join(dir, 'gone', 'vhqos.js'));
    hs = probeHooks([a, b]);
    t.is(hs[0].file, path.join(b, 'vhqos-precreate.json'));
    t.regex(hs[0].problem!, /gone\/vhqos\.js, which does not exist/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('probeDocker: vhqos runtimes in daemon.json', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-check-docker-'));
  try {
    const f = path.join(dir, 'daemon.json');
    t.regex(probeDocker(f).error!, /absent/);
    fs.writeFileSync(f, JSON.stringify({ runtimes: { vhqos: { path: path.join(ROOT, 'bin', 'vhqos-runtime.js') }, other: { path: '/usr/bin/crun' }, old: { path: '/nowhere/vhqos-runtime' } } }));
    t.deepEqual(probeDocker(f).runtimes, [
      { name: 'vhqos', path: path.join(ROOT, 'bin', 'vhqos-runtime.js'), exists: true },
      { name: 'old', path: '/nowhere/vhqos-runtime', exists: false },
    ]);
    fs.writeFileSync(f, '{');
    t.regex(probeDocker(f).error!, /not JSON/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('probeAgentSocket: absent, not a socket, nothing listening, hung up without an answer', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-check-agent-'));
  try {
    const sock = path.join(dir, 'agent.sock');
    t.is((await probeAgentSocket(sock)).state, 'absent');
    fs.writeFileSync(path.join(dir, 'file'), '');
    t.is((await probeAgentSocket(path.join(dir, 'file'))).state, 'not-a-socket');
    // what the agent does to a peer its peer check refuses: hang up without a word
    const server = net.createServer((c) => c.on('data', () => c.destroy()));
    await new Promise<void>((r) => server.listen(sock, r));
    const hung = await probeAgentSocket(sock);
    t.is(hung.state, 'peer-refused');
    t.regex((hung as { detail: string }).detail, /hung up on this process \(uid \d+\): its peer check admits root only/);
    await new Promise((r) => server.close(r));
    fs.closeSync(fs.openSync(sock, 'w'));
    t.is((await probeAgentSocket(sock)).state, 'not-a-socket');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
