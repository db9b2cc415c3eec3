// Containers that vhqos cannot serve fail with the reason in the engine's own
// error text (what `docker run` / `podman run` print on stderr), not with
// runc's "read init-p: connection reset by peer" or podman's generic
// "OCI runtime attempted to invoke a command that was not found", and a
// misspelt key is refused rather than run unsupervised. Real runc, podman
// and docker; one `vhqos agent` (child process). Skipped with the reason
// where an engine is missing; under CI failed unless VHQOS_ALLOW_SKIP names it.
import { requires, root, tools } from '../helpers/requires';
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { httpGet } from '../helpers/client';
import { pickPort, waitForPort } from '../helpers/proc';
import { repoRoot } from '../helpers/paths';
import { AgentProcess, Dockerd, Podman, buildRootfs, run, servedPath, type Rootfs } from '../helpers/containers';

const BIN = path.join(repoRoot(), 'bin', 'vhqos.js');
const RUNTIME_WRAPPER = path.join(repoRoot(), 'bin', 'vhqos-runtime.js');

let work = '';
let rootfs: Rootfs;
let agent: AgentProcess;
let site = '';
let bad = '';
let missing = '';

test.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-ct-errors-'));
  fs.chmodSync(work, 0o755);
  rootfs = await buildRootfs(work);
  site = path.join(work, 'site.yaml');
  fs.writeFileSync(site, 'vhosts:\n  gold:\n    hosts: [gold.test]\n    cpu: { weight: 400 }\n');
  bad = path.join(work, 'bad.yaml');
  fs.writeFileSync(bad, 'vhosts:\n  gold:\n    hosts: [gold.test]\n    cpu: { weight: 99999 }\n');
  missing = path.join(work, 'no-such-site.yaml');
  agent = new AgentProcess(path.join(work, 'agent', 'agent.sock'), path.join(work, 'run'));
  await agent.start();
});

test.after.always(async () => {
  await agent?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** Root and the engine's tools. */
const needing = (...names: string[]) => requires(root(), ...tools(...names));

// ---------------------------------------------------------------------------
// docker

needing('dockerd', 'docker', 'containerd', 'runc').serial('docker: a config that does not validate, a missing or relative one, a misspelt VHQOS_CONFIG and the agent down fail `docker run` with the reason', async (t) => {
  const dir = path.join(work, 'docker');
  fs.mkdirSync(dir, { recursive: true });
  const dockerd = new Dockerd(dir, { ...process.env, VHQOS_AGENT_SOCKET: agent.socket }, { vhqos: RUNTIME_WRAPPER });
  const image = `vhqos-errors:${process.pid}`;
  const runWith = (env: string) => dockerd.docker(['run', '--rm', '--runtime', 'vhqos', '--network', 'host', '-e', env, image, 'true']);
  try {
    await dockerd.start();
    const imp = await dockerd.docker(['import', rootfs.tar, image]);
    t.is(imp.code, 0, `docker import: ${imp.stderr}`);

    const cases: [string, RegExp][] = [
      [`VHQOS_CONFIG=${bad}`, /vhqos-runtime: invalid vhqos config \S*bad\.yaml: vhosts\.gold\.cpu\.weight: must be <= 10000/],
      [`VHQOS_CONFIG=${missing}`, /vhqos-runtime: vhqos config \S*no-such-site\.yaml does not exist on the host/],
      ['VHQOS_CONFIG=site.yaml', /vhqos-runtime: vhqos config "site\.yaml" is a relative path/],
      [`VHQOS_CONFG=${site}`, /vhqos-runtime: the container names environment variable "VHQOS_CONFG" \(did you mean VHQOS_CONFIG\?\), which vhqos does not read: refused rather than run unsupervised/],
    ];
    for (const [env, reason] of cases) {
      const r = await runWith(env);
      t.false(r.timedOut, env);
      t.is(r.code, 125, `${env}: ${r.stderr}`);
      t.regex(r.stderr, /^docker: Error response from daemon: /);
      t.regex(r.stderr, reason, env);
      t.notRegex(r.stderr, /init-p|connection reset/, 'the reason, not runc\'s symptom');
    }
    t.is(agent.find(/not supervised/).length, 0, 'refused before runc: the agent never saw them');

    // the same image with a valid config runs (the refusals were the config's doing)
    const ok = await runWith(`VHQOS_CONFIG=${site}`);
    t.is(ok.code, 0, ok.stderr);

    await agent.stop();
    try {
      const down = await runWith(`VHQOS_CONFIG=${site}`);
      t.false(down.timedOut);
      t.is(down.code, 125);
      t.regex(down.stderr, /vhqos-runtime: vhqos agent is not running at \S*agent\.sock: start it with `vhqos agent`/);
    } finally {
      await agent.start();
    }
  } finally {
    await dockerd.stop();
  }
});

// ---------------------------------------------------------------------------
// podman

needing('podman', 'runc', 'conmon').serial('podman: a relative or missing config and a misspelt annotation fail `podman run` with the reason, not podman\'s generic suffix', async (t) => {
  const dir = path.join(work, 'podman');
  fs.mkdirSync(dir, { recursive: true });
  const hooks = path.join(dir, 'hooks.d');
  const inst = await run(process.execPath, [BIN, 'oci', 'install-hooks', '--dir', hooks, '--agent-socket', agent.socket], { timeoutMs: 20000 });
  t.is(inst.code, 0, inst.stderr);
  const podman = new Podman(dir, hooks);
  const image = `localhost/vhqos-errors:${process.pid}`;
  try {
    const imp = await podman.podman(['import', rootfs.tar, image]);
    t.is(imp.code, 0, `podman import: ${imp.stderr}`);
    const cases: [string, RegExp][] = [
      ['io.vhqos.config=site.yaml', /vhqos: container [0-9a-f]{12}: VHQOS_CONFIG \/ io\.vhqos\.config must be an absolute path on the host, got "site\.yaml"/],
      [`io.vhqos.config=${missing}`, /vhqos: container [0-9a-f]{12}: vhqos config \S*no-such-site\.yaml does not exist on the host/],
      [`io.vhqos.config=${bad}`, /invalid vhqos config \S*bad\.yaml: vhosts\.gold\.cpu\.weight: must be <= 10000/],
      [`vhqos.config=${site}`, /the container names annotation "vhqos\.config" \(did you mean io\.vhqos\.config\?\), which vhqos does not read: refused rather than run unsupervised/],
    ];
    for (const [annotation, reason] of cases) {
      const r = await podman.podman(['run', '--rm', ...Podman.RUN_FLAGS, '--annotation', annotation, image, 'true']);
      t.false(r.timedOut, annotation);
      t.not(r.code, 0, annotation);
      t.regex(r.stderr, reason, annotation);
      t.notRegex(r.stderr, /attempted to invoke a command that was not found|precreate hook: executing/, `${annotation}: the reason, not podman's generic text`);
    }
    // the hooks still leave unannotated containers alone, and a valid one runs
    const plain = await podman.podman(['run', '--rm', ...Podman.RUN_FLAGS, image, 'true']);
    t.is(plain.code, 0, plain.stderr);
    const ok = await podman.podman(['run', '--rm', ...Podman.RUN_FLAGS, '--annotation', `io.vhqos.config=${site}`, image, 'true']);
    t.is(ok.code, 0, ok.stderr);
  } finally {
    await podman.cleanup();
    await podman.podman(['rmi', '-f', image]);
  }
});

// The README's podman command reaches its server from the host, supervised:
// podman gives a container a network namespace of its own by default, so the
// README runs it with the host's network (a published port through podman's
// bridge would work too, but sets up host networking these tests must not touch).
needing('podman', 'runc', 'conmon').serial('podman: the README example (--network host) is reachable from the host and served from the vhost cgroup', async (t) => {
  const dir = path.join(work, 'podman-readme');
  fs.mkdirSync(dir, { recursive: true });
  const hooks = path.join(dir, 'hooks.d');
  const inst = await run(process.execPath, [BIN, 'oci', 'install-hooks', '--dir', hooks, '--agent-socket', agent.socket], { timeoutMs: 20000 });
  t.is(inst.code, 0, inst.stderr);
  const podman = new Podman(dir, hooks);
  const image = `localhost/vhqos-readme:${process.pid}`;
  try {
    t.is((await podman.podman(['import', rootfs.tar, image])).code, 0);
    const port = await pickPort(['127.0.0.1'], 19000, 19999);
    // the README's command, but for the port (and the ulimits these machines need)
    const readme = fs.readFileSync(path.join(repoRoot(), 'README.md'), 'utf8');
    const shown = "sh -c 'mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www'";
    t.true(readme.includes('podman run -d --network host --annotation io.vhqos.config=/etc/vhqos/site.yaml'), 'the README still shows this command');
    t.true(readme.includes(shown));
    const r = await podman.podman([
      'run', '-d', '--network', 'host',
      '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024',
      '--annotation', `io.vhqos.config=${site}`, image,
      'sh', '-c', `mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 127.0.0.1:${port} -h /www`,
    ]);
    t.is(r.code, 0, `podman run: ${r.stderr}`);
    const id = r.stdout.trim().split('\n').pop() ?? '';
    podman.track(id);
    await waitForPort('127.0.0.1', port, 20000);
    const page = await httpGet({ ip: '127.0.0.1', port, host: 'gold.test', path: '/', timeoutMs: 15000 });
    t.is(page.body, 'hello\n', 'the README\'s curl gets the page');
    const res = await httpGet({ ip: '127.0.0.1', port, host: 'gold.test', path: '/cgi-bin/whoami', timeoutMs: 15000 });
    t.is(res.status, 200, res.body.slice(0, 300));
    t.regex(servedPath(res.body), new RegExp(`/${id}/gold$`), 'served from the gold cgroup of the container');
  } finally {
    await podman.cleanup();
    await podman.podman(['rmi', '-f', image]);
  }
});

// ---------------------------------------------------------------------------
// vhqos check, container side, against the real agent and installed hooks

needing('runc').serial('vhqos check: runc version, installed hooks, the agent answering root; a non-root peer is told why', async (t) => {
  const hooks = path.join(work, 'check-hooks.d');
  const inst = await run(process.execPath, [BIN, 'oci', 'install-hooks', '--dir', hooks, '--agent-socket', agent.socket], { timeoutMs: 20000 });
  t.is(inst.code, 0, inst.stderr);
  const check = (args: string[], opts: { uid?: number } = {}) => {
    const r = spawnSync(process.execPath, [BIN, 'check', '--json', ...args], { encoding: 'utf8', timeout: 30000, uid: opts.uid, gid: opts.uid });
    return { ...r, report: JSON.parse(r.stdout) as { canRun: boolean; rows: unknown[]; containers: { ready: boolean; rows: { item: string; ok: boolean; detail: string }[] } } };
  };
  const r = check(['--agent-socket', agent.socket, '--hooks-dir', hooks]);
  t.is(r.status, 0, r.stderr);
  t.true(Array.isArray(r.report.rows), 'the host rows keep their place');
  const rows = Object.fromEntries(r.report.containers.rows.map((x) => [x.item, x]));
  t.true(rows['OCI runtime'].ok, rows['OCI runtime'].detail);
  t.regex(rows['OCI runtime'].detail, /^runc version 1\.\d+.*listenerPath supported/);
  t.true(rows['podman hooks'].ok, rows['podman hooks'].detail);
  t.true(rows['podman hooks'].detail.includes(`agent socket ${agent.socket}`));
  t.true(rows.agent.ok, rows.agent.detail);
  t.regex(rows.agent.detail, /answers at .*agent\.sock \(peer check passed; \d+ supervised\)/);
  t.true(r.report.containers.ready);

  const none = check(['--agent-socket', path.join(work, 'nobody.sock'), '--hooks-dir', path.join(work, 'no-hooks.d')]);
  const noneRows = Object.fromEntries(none.report.containers.rows.map((x) => [x.item, x]));
  t.false(noneRows.agent.ok);
  t.regex(noneRows.agent.detail, /no socket at .*nobody\.sock: start it with `vhqos agent`/);
  t.regex(noneRows['podman hooks'].detail, /not installed in .*no-hooks\.d/);
  t.false(none.report.containers.ready);
  t.is(none.status, 0, 'the container side does not change the exit status of `vhqos check`');

  // not root: the agent's socket is closed to it, and check says so
  const nobody = check(['--agent-socket', agent.socket, '--hooks-dir', hooks], { uid: 65534 });
  const nobodyAgent = nobody.report.containers.rows.find((x) => x.item === 'agent')!;
  t.false(nobodyAgent.ok);
  t.regex(nobodyAgent.detail, /root's only \(uid 65534 here\)|hung up on this process \(uid 65534\): its peer check admits root only/);
});
