import test from 'ava';
import { prerequisite, requires } from '../helpers/requires';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { runHook, type AgentRequests, type HookIO } from '../../src/engines/hooks';
import { ANNOTATION_MATCH, MENTION_MATCH, hookDefinition, hookFileName, installHooks } from '../../src/engines/install-hooks';
import { parseSpec } from '../../src/oci/validate';
import { evaluateSeccomp } from '../../src/oci/seccomp-eval';
import type { State } from '../../src/oci/types';
import { fixture } from '../fixtures/oci/helpers';

const ROOT = path.resolve(__dirname, '..', '..', '..');
// A real config file: prestart checks the config a container names.
const CONFIGS = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-hook-configs-'));
const CONFIG = path.join(CONFIGS, 'site.yaml');
fs.writeFileSync(CONFIG, 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
test.after.always(() => fs.rmSync(CONFIGS, { recursive: true, force: true }));

function io(stdin: string, env: NodeJS.ProcessEnv = {}): HookIO & { out: string; err: string } {
  const r = {
    stdin,
    env,
    out: '',
    err: '',
    stdout(s: string) {
      r.out += s;
    },
    stderr(s: string) {
      r.err += s;
    },
  };
  return r;
}

function annotated(config = fixture('podman-4.3.1.config.json'), value = CONFIG): string {
  const spec = JSON.parse(config) as { annotations: Record<string, string> };
  spec.annotations['io.vhqos.config'] = value;
  return JSON.stringify(spec, null, 2);
}

const STATE: State = { ociVersion: '1.0.2-dev', id: 'c1', status: 'created', pid: 4242, bundle: '/b', annotations: { 'io.vhqos.config': CONFIG } };

async function listening(): Promise<{ sock: string; close(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-hook-'));
  const sock = path.join(dir, 'agent.sock');
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((r) => server.listen(sock, r));
  return {
    sock,
    close: async () => {
      await new Promise((r) => server.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------
// precreate

test('precreate: annotated container gets NOTIFY rules, listener and metadata', async (t) => {
  const h = io(annotated(), { VHQOS_AGENT_SOCKET: '/run/test/agent.sock' });
  t.is(await runHook('precreate', h), 0, h.err);
  t.is(h.err, '');
  const spec = parseSpec(h.out);
  const s = spec.linux!.seccomp!;
  t.is(s.listenerPath, '/run/test/agent.sock');
  t.is(s.listenerMetadata, CONFIG);
  t.is(spec.annotations!['io.vhqos.config'], CONFIG);
  t.is([...evaluateSeccomp(s, 'accept', [])].join(), 'NOTIFY');
  t.is([...evaluateSeccomp(s, 'bpf', [])].join(), 'ERRNO(1)');
  t.is(spec.process!.args!.join(' '), '/bin/echo hello-podman');
});

test('precreate: default socket, and unrelated containers come back byte for byte', async (t) => {
  const h = io(annotated());
  t.is(await runHook('precreate', h), 0);
  t.is(parseSpec(h.out).linux!.seccomp!.listenerPath, '/run/vhqos/agent.sock');
  const plain = fixture('podman-4.3.1.config.json');
  const p = io(plain);
  t.is(await runHook('precreate', p), 0);
  t.is(p.out, plain);
  const empty = io(annotated(undefined, ''));
  t.is(await runHook('precreate', empty), 0);
  t.is(empty.out, annotated(undefined, ''));
});

test('precreate: a container it cannot prepare goes on unchanged but for io.vhqos.refused (podman hides precreate\'s stderr; prestart fails it)', async (t) => {
  for (const [input, re] of [
    [annotated(undefined, 'site.yaml'), /must be an absolute path on the host, got "site\.yaml"/],
    [JSON.stringify({ ociVersion: '1.0.2', annotations: { 'io.vhqos.config': CONFIG }, process: { cwd: '/' } }), /Linux containers only/],
  ] as const) {
    const h = io(input);
    t.is(await runHook('precreate', h), 0);
    const out = JSON.parse(h.out) as { annotations: Record<string, string>; linux?: { seccomp?: { listenerPath?: string } } };
    t.regex(out.annotations['io.vhqos.refused'], re);
    t.is(out.linux?.seccomp?.listenerPath, undefined, 'no listener');
    t.deepEqual({ ...out, annotations: { ...out.annotations, 'io.vhqos.refused': undefined } }, { ...JSON.parse(input), annotations: { ...JSON.parse(input).annotations, 'io.vhqos.refused': undefined } });
    t.regex(h.err, re);
    // ... and prestart refuses it with that reason
    const p = io(JSON.stringify({ ...STATE, annotations: out.annotations }));
    t.is(await runHook('prestart', p), 1);
    t.regex(p.err, /^vhqos: container c1: /);
    t.regex(p.err, re);
  }
});

test('prestart: misspelt annotations, a relative or missing config: the reason, in words podman does not rewrite (validation is the agent\'s)', async (t) => {
  const never: AgentRequests = { prestart: async () => t.fail('the agent is not asked'), poststop: async () => undefined };
  for (const [annotations, re] of [
    [{ 'vhqos.config': CONFIG }, /^vhqos: container c1: the container names annotation "vhqos\.config" \(did you mean io\.vhqos\.config\?\), which vhqos does not read: refused rather than run unsupervised/],
    [{ 'io.vhqos.confg': CONFIG, 'io.VHQOS.CONFIG': CONFIG }, /annotation "io\.vhqos\.confg" \(did you mean io\.vhqos\.config\?\), annotation "io\.VHQOS\.CONFIG"/],
    [{ 'io.vhqos.config': 'site.yaml' }, /vhqos config "site\.yaml" is a relative path/],
    [{ 'io.vhqos.config': path.join(CONFIGS, 'none.yaml') }, /vhqos config \/.*none\.yaml does not exist on the host\n$/],
    [{ 'io.vhqos.config': CONFIGS }, /vhqos config \/.* is not a regular file/],
  ] as const) {
    const h = io(JSON.stringify({ ...STATE, annotations }));
    t.is(await runHook('prestart', h, never), 1);
    t.regex(h.err, re);
    t.notRegex(h.err, /no such file or directory|permission denied|operation not permitted/i);
  }
  // the agent's refusal, reworded where podman would hide it
  const refusing: AgentRequests = {
    prestart: async () => {
      throw new Error("vhqos: container c1: invalid vhqos config /x.yaml: cannot read: ENOENT: no such file or directory, open '/x.yaml'");
    },
    poststop: async () => undefined,
  };
  const agentSays = await listening();
  try {
    const h = io(JSON.stringify(STATE), { VHQOS_AGENT_SOCKET: agentSays.sock });
    t.is(await runHook('prestart', h, refusing), 1);
    t.is(h.err, "vhqos: container c1: invalid vhqos config /x.yaml: cannot read: ENOENT: does not exist (ENOENT), open '/x.yaml'\n");
  } finally {
    await agentSays.close();
  }
  // an annotation that merely mentions vhqos, far from the key: nothing to do
  const other = io(JSON.stringify({ ...STATE, annotations: { 'io.vhqos.note': 'x' } }));
  t.is(await runHook('prestart', other, never), 0, other.err);
  t.is(other.err, '');
  // a near miss beside the real key: a warning, then the usual checks
  const agent = await listening();
  try {
    let asked = 0;
    const fake: AgentRequests = { prestart: async () => void asked++, poststop: async () => undefined };
    const both = io(JSON.stringify({ ...STATE, annotations: { 'io.vhqos.config': CONFIG, 'vhqos.conf': '/x' } }), { VHQOS_AGENT_SOCKET: agent.sock });
    t.is(await runHook('prestart', both, fake), 0);
    t.is(asked, 1);
    t.is(both.err, `vhqos: container c1: warning: it also names annotation "vhqos.conf" (did you mean io.vhqos.config?): ignored, ${CONFIG} is used\n`);
  } finally {
    await agent.close();
  }
});

test('precreate: bad input fails with a message and no output', async (t) => {
  for (const [input, re] of [
    ['{"ociVersion":', /config\.json on stdin: invalid JSON/],
    ['', /invalid JSON/],
    [JSON.stringify({ ociVersion: '1.0.2', root: {} }), /\/root\/path: missing required property "path"/],
  ] as const) {
    const h = io(input);
    t.is(await runHook('precreate', h), 1, input.slice(0, 40));
    t.is(h.out, '');
    t.regex(h.err, /^vhqos oci-hook precreate: /);
    t.regex(h.err, re);
  }
});

// ---------------------------------------------------------------------------
// prestart / poststop

test('prestart: agent there -> 0 and the agent request is made; agent absent -> one readable line', async (t) => {
  const agent = await listening();
  try {
    const seen: string[] = [];
    const fake: AgentRequests = {
      prestart: async (s, sock) => void seen.push(`prestart ${s.id} ${s.pid} ${sock}`),
      poststop: async () => undefined,
    };
    const ok = io(JSON.stringify(STATE), { VHQOS_AGENT_SOCKET: agent.sock });
    t.is(await runHook('prestart', ok, fake), 0, ok.err);
    t.deepEqual(seen, [`prestart c1 4242 ${agent.sock}`]);
    const missing = path.join(path.dirname(agent.sock), 'none.sock');
    const bad = io(JSON.stringify(STATE), { VHQOS_AGENT_SOCKET: missing });
    t.is(await runHook('prestart', bad, fake), 1);
    t.is(bad.err, `vhqos agent is not running at ${missing}: start it with \`vhqos agent\`\n`);
    t.is(seen.length, 1);
    // a socket file nobody listens on
    const dead = path.join(path.dirname(agent.sock), 'dead.sock');
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(dead, r));
    await new Promise((r) => srv.close(r));
    fs.closeSync(fs.openSync(dead, 'w'));
    const refused = io(JSON.stringify(STATE), { VHQOS_AGENT_SOCKET: dead });
    t.is(await runHook('prestart', refused, fake), 1);
    t.regex(refused.err, /^vhqos agent is not running at .*dead\.sock: start it with `vhqos agent`\n$/);
  } finally {
    await agent.close();
  }
});

const agentRunning = fs.existsSync('/run/vhqos/agent.sock') ? 'an agent is running at /run/vhqos/agent.sock' : null;
requires(prerequisite('no-agent-running', agentRunning))('prestart: default socket path in the message', async (t) => {
  const h = io(JSON.stringify(STATE));
  const code = await runHook('prestart', h);
  t.is(code, 1);
  t.is(h.err, 'vhqos agent is not running at /run/vhqos/agent.sock: start it with `vhqos agent`\n');
});

test('prestart: bad state rejected', async (t) => {
  const bad = io(JSON.stringify({ ...STATE, status: 'paused' }));
  t.is(await runHook('prestart', bad), 1);
  t.regex(bad.err, /^vhqos oci-hook prestart: invalid OCI container state:\n {2}\/status/);
});

test('poststop: sends the cleanup request, exits 0 even when it fails', async (t) => {
  const seen: State[] = [];
  const fake: AgentRequests = { prestart: async () => undefined, poststop: async (s) => void seen.push(s) };
  const h = io(JSON.stringify({ ...STATE, status: 'stopped' }));
  t.is(await runHook('poststop', h, fake), 0);
  t.is(seen.length, 1);
  t.is(seen[0].id, 'c1');
  t.is(seen[0].status, 'stopped');
  const failing: AgentRequests = {
    prestart: async () => undefined,
    poststop: async () => {
      throw new Error('agent gone');
    },
  };
  const f = io(JSON.stringify(STATE));
  t.is(await runHook('poststop', f, failing), 0);
  t.regex(f.err, /cleanup of c1 not sent: agent gone/);
  const d = io(JSON.stringify(STATE));
  t.is(await runHook('poststop', d), 0, 'the default (not yet wired) request succeeds');
  t.is(await runHook('poststop', io('{')), 1);
});

test('unknown stage', async (t) => {
  const h = io('{}');
  t.is(await runHook('poststart', h), 2);
  t.regex(h.err, /unknown stage "poststart" \(expected precreate, prestart, poststop\)/);
});

test('hookMain plumbs stdin/stdout/exit status of a real process', (t) => {
  const script = `require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'engines', 'hooks.js'))}).hookMain(process.argv[1])`;
  const r = spawnSync(process.execPath, ['-e', script, 'precreate'], { input: annotated(), env: { VHQOS_AGENT_SOCKET: '/x.sock' } });
  t.is(r.status, 0, r.stderr.toString());
  t.is(parseSpec(r.stdout).linux!.seccomp!.listenerPath, '/x.sock');
  const bad = spawnSync(process.execPath, ['-e', script, 'prestart'], { input: JSON.stringify(STATE), env: { VHQOS_AGENT_SOCKET: '/nonexistent/x.sock' } });
  t.is(bad.status, 1);
  t.is(bad.stderr.toString(), 'vhqos agent is not running at /nonexistent/x.sock: start it with `vhqos agent`\n');
});

// ---------------------------------------------------------------------------
// install-hooks, shipped files

test('installHooks writes the three hooks.d files for this installation', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-hooksd-'));
  try {
    const files = installHooks(path.join(dir, 'hooks.d'), path.join(ROOT, 'bin', 'vhqos.js'), { agentSocket: '/run/x/agent.sock' });
    t.deepEqual(files.map((f) => path.basename(f)), ['vhqos-precreate.json', 'vhqos-prestart.json', 'vhqos-poststop.json']);
    for (const [i, stage] of (['precreate', 'prestart', 'poststop'] as const).entries()) {
      const h = JSON.parse(fs.readFileSync(files[i], 'utf8'));
      t.is(h.version, '1.0.0');
      t.deepEqual(h.stages, [stage]);
      t.is(h.hook.path, process.execPath);
      t.deepEqual(h.hook.args, [path.basename(process.execPath), path.join(ROOT, 'bin', 'vhqos.js'), 'oci-hook', stage]);
      t.true(h.hook.env.includes('VHQOS_AGENT_SOCKET=/run/x/agent.sock'));
      t.true(h.hook.env.some((e: string) => e.startsWith('PATH=/')));
      t.deepEqual(h.when, { annotations: { [stage === 'poststop' ? '^io\\.vhqos\\.config$' : '(?i)vhqos']: '.+' } });
      t.is(fs.statSync(files[i]).mode & 0o777, 0o644);
    }
    // relative bin path is made absolute; re-install overwrites
    const again = installHooks(path.join(dir, 'hooks.d'), 'bin/vhqos.js', { nodePath: '/usr/bin/node' });
    const h = JSON.parse(fs.readFileSync(again[0], 'utf8'));
    t.is(h.hook.args[1], path.resolve('bin/vhqos.js'));
    t.is(h.hook.path, '/usr/bin/node');
    t.deepEqual(fs.readdirSync(path.join(dir, 'hooks.d')).sort(), ['vhqos-poststop.json', 'vhqos-precreate.json', 'vhqos-prestart.json']);
    t.throws(() => hookDefinition('prestart', '/x/vhqos.js', { nodePath: 'node' }), { message: /absolute/ });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the annotation regex podman uses matches exactly io.vhqos.config', (t) => {
  const re = new RegExp(ANNOTATION_MATCH);
  t.true(re.test('io.vhqos.config'));
  t.false(re.test('ioXvhqos.config'));
  t.false(re.test('io.vhqos.config.extra'));
  t.true(/.+/.test(CONFIG));
  // precreate / prestart: any key mentioning vhqos (Go's regexp takes the same (?i) flag)
  const mention = new RegExp(MENTION_MATCH.replace('(?i)', ''), 'i');
  for (const k of ['io.vhqos.config', 'vhqos.config', 'IO.VHQOS.CONFIG', 'io.vhqos.refused']) t.true(mention.test(k), k);
  t.false(mention.test('io.podman.annotations.autoremove'));
});

test('shipped hooks/*.json are what install-hooks writes for a global npm install', (t) => {
  for (const stage of ['precreate', 'prestart', 'poststop'] as const) {
    const shipped = JSON.parse(fs.readFileSync(path.join(ROOT, 'hooks', hookFileName(stage)), 'utf8'));
    t.deepEqual(shipped, hookDefinition(stage, '/usr/lib/node_modules/vhqos/bin/vhqos.js', { nodePath: '/usr/bin/node' }));
  }
});

test('shipped systemd unit runs `vhqos agent` with /run/vhqos', (t) => {
  const unit = fs.readFileSync(path.join(ROOT, 'deploy', 'systemd', 'vhqos-agent.service'), 'utf8');
  t.regex(unit, /^\[Unit\]$/m);
  t.regex(unit, /^ExecStart=\/usr\/bin\/env vhqos agent$/m);
  t.regex(unit, /^RuntimeDirectory=vhqos$/m);
  t.regex(unit, /^Environment=VHQOS_AGENT_SOCKET=\/run\/vhqos\/agent\.sock$/m);
  t.regex(unit, /^WantedBy=multi-user\.target$/m);
});
