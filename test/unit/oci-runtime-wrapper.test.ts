// bin/vhqos-runtime.js run for real, with a fake "runtime" (a shell script
// that records its argv, the config.json it sees, its fds and stdin, and exits
// with a chosen status) and a unix socket standing in for the agent.

import test from 'ava';
import { spawn, type StdioOptions } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { inheritedFds, parseRuntimeArgs, writeFileAtomic } from '../../src/engines/runtime-wrapper';
import { parseSpec } from '../../src/oci/validate';
import { evaluateSeccomp } from '../../src/oci/seccomp-eval';
import { fixture } from '../fixtures/oci/helpers';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'vhqos-runtime.js');
// Real config files: the wrapper checks the config a container names before it creates it.
const CONFIGS = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-rt-configs-'));
const CONFIG = path.join(CONFIGS, 'site.yaml');
/** Stands for the /etc/vhqos/x.yaml the captured docker config names. */
const X = path.join(CONFIGS, 'x.yaml');
const BAD = path.join(CONFIGS, 'bad.yaml');
for (const f of [CONFIG, X]) fs.writeFileSync(f, 'vhosts:\n  gold:\n    hosts: [gold.test]\n');
fs.writeFileSync(BAD, 'vhosts:\n  gold:\n    hosts: [gold.test]\n    cpu: { weight: 99999 }\n');
test.after.always(() => fs.rmSync(CONFIGS, { recursive: true, force: true }));

/** The docker 20.10 config.json fixture, its VHQOS_CONFIG pointing at X. */
const dockerFixture = () => fixture('docker-20.10.24.config.json').split('/etc/vhqos/x.yaml').join(X);

const FAKE = `#!/bin/sh
printf '%s\\0' "$@" > "$OUT/argv"
[ -n "$FAKE_BUNDLE" ] && cp "$FAKE_BUNDLE/config.json" "$OUT/config.seen.json"
ls /proc/$$/fd > "$OUT/fds"
[ -n "$FAKE_FD" ] && readlink /proc/$$/fd/$FAKE_FD > "$OUT/fd.target"
[ -n "$FAKE_READ_STDIN" ] && cat > "$OUT/stdin"
if [ -n "$FAKE_WAIT_SIGNAL" ]; then
  trap 'echo TERM > "$OUT/signal"; exit 42' TERM
  echo ready > "$OUT/ready"
  # bounded, so a test killed midway leaves no process behind for long
  i=0; while [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
  exit 99
fi
[ -n "$FAKE_KILL_SELF" ] && kill -TERM $$
exit \${FAKE_EXIT:-0}
`;

interface Env {
  dir: string;
  bundle: string;
  out: string;
  fake: string;
  sock: string;
  server?: net.Server;
}

async function setup(config: string | null = dockerFixture(), agent = true): Promise<Env> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-rt-'));
  const bundle = path.join(dir, 'bundle');
  const out = path.join(dir, 'out');
  fs.mkdirSync(bundle);
  fs.mkdirSync(out);
  if (config !== null) fs.writeFileSync(path.join(bundle, 'config.json'), config, { mode: 0o640 });
  const fake = path.join(dir, 'fake-runtime');
  fs.writeFileSync(fake, FAKE, { mode: 0o755 });
  const sock = path.join(dir, 'agent.sock');
  const env: Env = { dir, bundle, out, fake, sock };
  if (agent) {
    env.server = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => env.server!.listen(sock, r));
  }
  return env;
}

async function teardown(e: Env) {
  if (e.server) await new Promise((r) => e.server!.close(r));
  fs.rmSync(e.dir, { recursive: true, force: true });
}

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function run(
  e: Env,
  argv: string[],
  extraEnv: Record<string, string> = {},
  opts: { stdio?: StdioOptions; stdin?: string; cwd?: string; onSpawn?: (pid: number) => void } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], {
      cwd: opts.cwd ?? e.dir,
      env: {
        PATH: process.env.PATH,
        VHQOS_RUNTIME: e.fake,
        VHQOS_AGENT_SOCKET: e.sock,
        OUT: e.out,
        FAKE_BUNDLE: e.bundle,
        ...extraEnv,
      },
      stdio: opts.stdio ?? ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    child.stdout?.resume();
    if (child.stdin) child.stdin.end(opts.stdin ?? '');
    child.on('error', reject);
    if (opts.onSpawn) opts.onSpawn(child.pid!);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

const argvSeen = (e: Env) => fs.readFileSync(path.join(e.out, 'argv'), 'utf8').split('\0').slice(0, -1);
const ran = (e: Env) => fs.existsSync(path.join(e.out, 'argv'));
const createArgv = (e: Env) => ['--root', '/run/r', '--log', path.join(e.dir, 'log.json'), '--log-format', 'json', 'create', '--bundle', e.bundle, '--pid-file', path.join(e.dir, 'init.pid'), 'c1'];

function withEnvVar(config: string, name: string, value: string): string {
  const spec = JSON.parse(config) as { process: { env: string[] } };
  spec.process.env = spec.process.env.filter((x) => !x.startsWith(`${name}=`)).concat(`${name}=${value}`);
  return JSON.stringify(spec);
}

function withoutEnvVar(config: string, name: string): string {
  const spec = JSON.parse(config) as { process: { env: string[] } };
  spec.process.env = spec.process.env.filter((x) => !x.startsWith(`${name}=`));
  return JSON.stringify(spec);
}

// ---------------------------------------------------------------------------

test('parseRuntimeArgs: global flags, subcommand, bundle, id, without reordering', (t) => {
  const a = parseRuntimeArgs(['--root', '/r', '--log', '/l.json', '--log-format', 'json', '--systemd-cgroup', 'create', '--bundle', '/b', '--pid-file', '/p', 'id1']);
  t.is(a.command, 'create');
  t.is(a.commandIndex, 7);
  t.is(a.log, '/l.json');
  t.is(a.logFormat, 'json');
  t.is(a.bundle, '/b');
  t.is(a.id, 'id1');
  const b = parseRuntimeArgs(['--root=/r', '--debug', 'run', '-d', '--console-socket', '/c', '-b=rel', 'id2']);
  t.is(b.command, 'run');
  t.is(b.bundle, 'rel');
  t.is(b.id, 'id2');
  const c = parseRuntimeArgs(['-root', '/r', 'create', '--pid-file', '--bundle', 'x']);
  t.is(c.bundle, undefined, "'--bundle' there is the value of --pid-file");
  t.is(c.id, 'x');
  t.is(parseRuntimeArgs(['--log', 'create', 'start', 'x']).command, 'start', 'value of --log is not the command');
  t.is(parseRuntimeArgs(['create', '--help']).help, true);
  t.is(parseRuntimeArgs(['--version']).command, undefined);
  t.is(parseRuntimeArgs(['kill', 'c1', '15']).bundle, undefined);
});

test('create with VHQOS_CONFIG: config.json rewritten atomically, argv/exit status passed through', async (t) => {
  const e = await setup();
  try {
    const before = fs.readFileSync(path.join(e.bundle, 'config.json'), 'utf8');
    t.true(before.includes(`VHQOS_CONFIG=${X}`), 'the captured docker config carries VHQOS_CONFIG');
    const argv = createArgv(e);
    const r = await run(e, argv, { FAKE_EXIT: '3' });
    t.is(r.code, 3, r.stderr);
    t.is(r.stderr, '');
    t.deepEqual(argvSeen(e), argv);
    const written = fs.readFileSync(path.join(e.bundle, 'config.json'), 'utf8');
    t.is(fs.readFileSync(path.join(e.out, 'config.seen.json'), 'utf8'), written, 'the runtime saw the rewritten file');
    const spec = parseSpec(written);
    const old = parseSpec(before);
    const s = spec.linux!.seccomp!;
    t.is(s.listenerPath, e.sock);
    t.is(s.listenerMetadata, X);
    t.is(spec.annotations!['io.vhqos.config'], X);
    t.is([...evaluateSeccomp(s, 'accept4', [])].join(), 'NOTIFY');
    t.is([...evaluateSeccomp(s, 'clone', [0x10000000n])].join(), 'ERRNO(1)', 'docker clone mask kept');
    t.is([...evaluateSeccomp(s, 'write', [])].join(), 'ALLOW');
    // nothing else changed
    const strip = (x: typeof spec) => ({ ...x, annotations: undefined, linux: { ...x.linux, seccomp: undefined } });
    t.deepEqual(strip(spec), strip(old));
    t.is(fs.statSync(path.join(e.bundle, 'config.json')).mode & 0o777, 0o640, 'mode kept');
    t.deepEqual(fs.readdirSync(e.bundle), ['config.json'], 'no temporary file left');
  } finally {
    await teardown(e);
  }
});

test('create twice (e.g. a retry) gives the same file', async (t) => {
  const e = await setup();
  try {
    await run(e, createArgv(e));
    const once = fs.readFileSync(path.join(e.bundle, 'config.json'), 'utf8');
    const ino = fs.statSync(path.join(e.bundle, 'config.json')).ino;
    const r = await run(e, createArgv(e));
    t.is(r.code, 0);
    t.is(fs.readFileSync(path.join(e.bundle, 'config.json'), 'utf8'), once);
    t.is(fs.statSync(path.join(e.bundle, 'config.json')).ino, ino, 'not rewritten when nothing changes');
  } finally {
    await teardown(e);
  }
});

test('the io.vhqos.config annotation works too (podman --runtime, newer engines)', async (t) => {
  const spec = JSON.parse(withoutEnvVar(fixture('podman-4.3.1.config.json'), 'VHQOS_CONFIG')) as { annotations: Record<string, string> };
  spec.annotations['io.vhqos.config'] = CONFIG;
  const e = await setup(JSON.stringify(spec));
  try {
    const r = await run(e, ['create', '--bundle', e.bundle, '--pid-file', '/tmp/p', 'c2']);
    t.is(r.code, 0, r.stderr);
    const out = parseSpec(fs.readFileSync(path.join(e.bundle, 'config.json')));
    t.is(out.linux!.seccomp!.listenerMetadata, CONFIG);
    t.is([...evaluateSeccomp(out.linux!.seccomp!, 'clone3', [])].join(), 'ALLOW', 'podman allows clone3, and vhqos leaves it alone');
  } finally {
    await teardown(e);
  }
});

test('containers without VHQOS_CONFIG are untouched byte for byte (even if the agent is down)', async (t) => {
  for (const config of [
    withoutEnvVar(dockerFixture(), 'VHQOS_CONFIG'),
    fixture('podman-4.3.1.config.json'),
    withEnvVar(dockerFixture(), 'VHQOS_CONFIG', ''),
    // valid JSON the schema rejects: not ours to judge
    JSON.stringify({ ociVersion: 1, process: { env: ['A=B'] } }),
  ]) {
    const e = await setup(config, false);
    try {
      const file = path.join(e.bundle, 'config.json');
      const st = fs.statSync(file);
      const r = await run(e, createArgv(e), { FAKE_EXIT: '0' });
      t.is(r.code, 0, r.stderr);
      t.is(fs.readFileSync(file, 'utf8'), config);
      t.is(fs.statSync(file).ino, st.ino);
      t.is(fs.statSync(file).mtimeMs, st.mtimeMs);
      t.true(ran(e));
    } finally {
      await teardown(e);
    }
  }
});

test('other subcommands pass straight through (no bundle needed), with their exit status', async (t) => {
  const e = await setup(null, false);
  try {
    const cases: [string[], string][] = [
      [['--root', '/r', '--log', '/l', '--log-format', 'json', 'start', 'c1'], '0'],
      [['--root', '/r', 'kill', 'c1', '15'], '1'],
      [['--root', '/r', 'delete', '--force', 'c1'], '0'],
      [['--root', '/r', 'exec', '--process', '/tmp/p.json', '--detach', '--pid-file', '/tmp/x.pid', 'c1'], '255'],
      [['state', 'c1'], '0'],
      [['--version'], '0'],
      [['create', '--help'], '0'],
      [['weird arg with spaces', '', '--', '-x'], '9'],
    ];
    for (const [argv, code] of cases) {
      fs.rmSync(path.join(e.out, 'argv'), { force: true });
      const r = await run(e, argv, { FAKE_EXIT: code, FAKE_BUNDLE: '' });
      t.is(r.code, Number(code), `${argv.join(' ')}: ${r.stderr}`);
      t.deepEqual(argvSeen(e), argv);
    }
  } finally {
    await teardown(e);
  }
});

test('run and a relative or default bundle', async (t) => {
  const e = await setup();
  try {
    let r = await run(e, ['run', '-d', '--bundle', 'bundle', 'c3'], {}, { cwd: e.dir });
    t.is(r.code, 0, r.stderr);
    t.true(fs.readFileSync(path.join(e.bundle, 'config.json'), 'utf8').includes('"listenerPath"'));
    fs.writeFileSync(path.join(e.bundle, 'config.json'), dockerFixture());
    r = await run(e, ['create', 'c4'], {}, { cwd: e.bundle });
    t.is(r.code, 0, r.stderr);
    t.true(fs.readFileSync(path.join(e.bundle, 'config.json'), 'utf8').includes('"listenerPath"'));
  } finally {
    await teardown(e);
  }
});

test('bad config.json: clear message, non-zero exit, runtime not run, file untouched, error in the --log file', async (t) => {
  const cases: [string | null, RegExp][] = [
    [null, /cannot read .*config\.json: ENOENT/],
    ['{"ociVersion": "1.0.2", ', /config\.json is not valid JSON: invalid JSON at offset 24/],
    ['[1]', /is not a JSON object/],
    [withEnvVar(dockerFixture(), 'VHQOS_CONFIG', 'relative/site.yaml'), /vhqos config "relative\/site\.yaml" is a relative path: give VHQOS_CONFIG \/ io\.vhqos\.config an absolute path on the host/],
    [withEnvVar(dockerFixture(), 'VHQOS_CONFIG', path.join(CONFIGS, 'missing.yaml')), /vhqos config \/.*\/missing\.yaml does not exist on the host$/m],
    [withEnvVar(dockerFixture(), 'VHQOS_CONFIG', CONFIGS), /vhqos config \/.* is not a regular file/],
    [withEnvVar(dockerFixture(), 'VHQOS_CONFIG', BAD), /invalid vhqos config \/.*bad\.yaml: vhosts\.gold\.cpu\.weight: must be <= 10000/],
    [
      withEnvVar(withoutEnvVar(dockerFixture(), 'VHQOS_CONFIG'), 'VHQOS_CONFG', CONFIG),
      /the container names environment variable "VHQOS_CONFG" \(did you mean VHQOS_CONFIG\?\), which vhqos does not read: refused rather than run unsupervised/,
    ],
    [
      withEnvVar(withoutEnvVar(dockerFixture(), 'VHQOS_CONFIG'), 'vhqos_config_file', CONFIG),
      /environment variable "vhqos_config_file" \(did you mean VHQOS_CONFIG\?\)/,
    ],
    [
      JSON.stringify({ ...JSON.parse(withoutEnvVar(dockerFixture(), 'VHQOS_CONFIG')), annotations: { 'vhqos.config': CONFIG } }),
      /annotation "vhqos\.config" \(did you mean io\.vhqos\.config\?\)/,
    ],
    [
      JSON.stringify({ ...JSON.parse(dockerFixture()), hostname: 7 }),
      /invalid OCI runtime config:\n {2}\/hostname: must be string/,
    ],
  ];
  for (const [config, message] of cases) {
    const e = await setup(config);
    try {
      const file = path.join(e.bundle, 'config.json');
      const r = await run(e, createArgv(e));
      t.is(r.code, 1);
      t.regex(r.stderr, /^vhqos-runtime: /);
      t.regex(r.stderr, message);
      t.false(ran(e), 'runtime not started');
      if (config !== null) t.is(fs.readFileSync(file, 'utf8'), config);
      t.deepEqual(fs.readdirSync(e.bundle), config === null ? [] : ['config.json']);
      const log = fs.readFileSync(path.join(e.dir, 'log.json'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
      t.is(log.length, 1);
      t.is(log[0].level, 'error');
      t.regex(log[0].msg, message);
    } finally {
      await teardown(e);
    }
  }
});

test('agent not running: one readable line, runtime not run, config untouched', async (t) => {
  const e = await setup(dockerFixture(), false);
  try {
    const r = await run(e, ['--log', path.join(e.dir, 'log.txt'), 'create', '--bundle', e.bundle, 'c5']);
    t.is(r.code, 1);
    t.is(r.stderr, `vhqos-runtime: vhqos agent is not running at ${e.sock}: start it with \`vhqos agent\`\n`);
    t.false(ran(e));
    t.is(fs.readFileSync(path.join(e.bundle, 'config.json'), 'utf8'), dockerFixture());
    t.regex(fs.readFileSync(path.join(e.dir, 'log.txt'), 'utf8'), /^time="[^"]+" level=error msg="vhqos-runtime: vhqos agent is not running/);
  } finally {
    await teardown(e);
  }
});

test('a near miss beside the real key: a warning on stderr and in the --log file, the container is prepared', async (t) => {
  const e = await setup(withEnvVar(dockerFixture(), 'VHQOS_CONFG', '/elsewhere.yaml'));
  try {
    const r = await run(e, createArgv(e));
    t.is(r.code, 0, r.stderr);
    t.is(r.stderr, `vhqos-runtime: warning: the container also names environment variable "VHQOS_CONFG" (did you mean VHQOS_CONFIG?): ignored, ${X} is used\n`);
    const log = JSON.parse(fs.readFileSync(path.join(e.dir, 'log.json'), 'utf8')) as Record<string, string>;
    t.is(log.level, 'warning');
    t.regex(log.msg, /VHQOS_CONFG/);
    t.true(ran(e));
    t.is(parseSpec(fs.readFileSync(path.join(e.bundle, 'config.json'))).linux!.seccomp!.listenerMetadata, X);
  } finally {
    await teardown(e);
  }
});

test('--help describes the wrapper (the runtime is not run); help and COMMAND --help still reach the runtime', async (t) => {
  const e = await setup(null, false);
  try {
    for (const argv of [['--help'], ['-h'], ['--root', '/r', '--help']]) {
      const child = spawn(process.execPath, [BIN, ...argv], { env: { PATH: process.env.PATH, VHQOS_RUNTIME: e.fake, OUT: e.out, VHQOS_AGENT_SOCKET: e.sock } });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const code = await new Promise((r) => child.on('close', r));
      t.is(code, 0);
      t.regex(out, /^vhqos-runtime: an OCI runtime wrapper/);
      t.true(out.includes(`VHQOS_AGENT_SOCKET  the agent's socket (now: ${e.sock})`));
      t.true(out.includes(`VHQOS_RUNTIME       the real runtime (now: ${e.fake}: `));
    }
    t.false(ran(e) && argvSeen(e).includes('--help'), 'the runtime never saw --help');
    for (const argv of [['help'], ['create', '--help'], ['--version']]) {
      const r = await run(e, argv, { FAKE_BUNDLE: '' });
      t.is(r.code, 0, r.stderr);
      t.deepEqual(argvSeen(e), argv);
    }
  } finally {
    await teardown(e);
  }
});

test('signals are forwarded to the runtime; its exit status comes back', async (t) => {
  const e = await setup(null, false);
  try {
    const ready = path.join(e.out, 'ready');
    let pid = 0;
    const done = run(e, ['start', 'c1'], { FAKE_WAIT_SIGNAL: '1', FAKE_BUNDLE: '' }, { onSpawn: (p) => (pid = p) });
    for (let i = 0; i < 800 && !fs.existsSync(ready); i++) await new Promise((r) => setTimeout(r, 25));
    t.true(fs.existsSync(ready));
    process.kill(pid, 'SIGTERM');
    const r = await done;
    t.is(r.code, 42);
    t.is(fs.readFileSync(path.join(e.out, 'signal'), 'utf8'), 'TERM\n');
  } finally {
    await teardown(e);
  }
});

test('a runtime killed by a signal: the wrapper dies of the same signal', async (t) => {
  const e = await setup(null, false);
  try {
    const r = await run(e, ['start', 'c1'], { FAKE_KILL_SELF: '1', FAKE_BUNDLE: '' });
    t.is(r.code, null);
    t.is(r.signal, 'SIGTERM');
  } finally {
    await teardown(e);
  }
});

test('stdin and inherited descriptors reach the runtime', async (t) => {
  const e = await setup(null, false);
  const extra = path.join(e.dir, 'extra.txt');
  fs.writeFileSync(extra, 'x');
  const fd = fs.openSync(extra, 'r');
  try {
    const r = await run(e, ['start', 'c1'], { FAKE_READ_STDIN: '1', FAKE_FD: '5', FAKE_BUNDLE: '' }, {
      stdio: ['pipe', 'pipe', 'pipe', 'ignore', 'ignore', fd],
      stdin: 'hello container',
    });
    t.is(r.code, 0, r.stderr);
    t.is(fs.readFileSync(path.join(e.out, 'stdin'), 'utf8'), 'hello container');
    t.is(fs.readFileSync(path.join(e.out, 'fd.target'), 'utf8').trim(), extra);
    const fds = fs.readFileSync(path.join(e.out, 'fds'), 'utf8').split(/\s+/).filter(Boolean).map(Number);
    t.true(fds.includes(5));
    t.false(fds.includes(3) || fds.includes(4), `no other descriptor leaks into the runtime: ${fds.join(' ')}`);
  } finally {
    fs.closeSync(fd);
    await teardown(e);
  }
});

test('inheritedFds: skips Node\'s own descriptors unless runc is told to preserve them', (t) => {
  const own = inheritedFds();
  const epoll = fs.readdirSync('/proc/self/fd').map(Number).find((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[eventpoll]';
    } catch {
      return false;
    }
  });
  t.truthy(epoll, 'this Node has an epoll descriptor');
  t.false(own.includes(epoll!));
  const n = epoll! - 2;
  t.true(inheritedFds(['create', '--preserve-fds', String(n), 'x']).includes(epoll!));
  t.true(inheritedFds([], { LISTEN_FDS: String(n) }).includes(epoll!));
});

test('missing runtime and a wrapper calling itself are reported', async (t) => {
  const e = await setup(null, false);
  try {
    let r = await run(e, ['start', 'c1'], { VHQOS_RUNTIME: path.join(e.dir, 'no-such-runc') });
    t.is(r.code, 127);
    t.regex(r.stderr, /cannot run the runtime ".*no-such-runc" \(set VHQOS_RUNTIME\)/);
    r = await run(e, ['start', 'c1'], { _VHQOS_RUNTIME_ACTIVE: '1' });
    t.is(r.code, 1);
    t.regex(r.stderr, /is vhqos-runtime itself/);
    t.false(ran(e));
  } finally {
    await teardown(e);
  }
});

test('writeFileAtomic leaves the old file when it cannot write', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-atomic-'));
  try {
    const f = path.join(dir, 'config.json');
    fs.writeFileSync(f, 'old', { mode: 0o600 });
    writeFileAtomic(f, 'new');
    t.is(fs.readFileSync(f, 'utf8'), 'new');
    t.is(fs.statSync(f).mode & 0o777, 0o600);
    fs.chmodSync(dir, 0o500);
    if (process.getuid?.() !== 0) {
      t.throws(() => writeFileAtomic(f, 'newer'));
      t.is(fs.readFileSync(f, 'utf8'), 'new');
    }
    t.throws(() => writeFileAtomic(path.join(dir, 'missing.json'), 'x'), { code: 'ENOENT' });
    t.deepEqual(fs.readdirSync(dir), ['config.json']);
  } finally {
    fs.chmodSync(dir, 0o700);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
