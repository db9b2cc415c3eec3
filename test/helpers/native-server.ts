// A fork-before-accept fixture server (test/fixtures/servers/*.py) under the
// native loop alone (no TypeScript policy): spawned with the trap set, its
// cgroups made, the loop classifying at accept into them, waiting until the
// server prints "ready". For the native tests of classification at accept.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CgroupManager } from '../../src/cgroup';
import { loadNative, type HandOver, type LoopEvent, type LoopOptions, type NativeLoop } from '../../src/native';
import { reap } from '../../src/supervisor/reap';
import { repoRoot } from './paths';

export interface NativeServer {
  port: number;
  pid: number;
  loop: NativeLoop;
  events: LoopEvent[];
  handovers: HandOver[];
  cgroups: CgroupManager;
  /** The server's stdout and stderr so far. */
  log(): string;
  /** SIGTERM, wait for the exit (10 s at most), stop the loop, close the fds, remove the cgroups. */
  stop(): Promise<void>;
}

export interface NativeServerOptions {
  /** Names the cgroup instance and the temp dir. */
  name: string;
  /** A script in test/fixtures/servers and its arguments after the script. */
  script: string;
  args: string[];
  port: number;
  traps: 'accept' | 'accept-requests';
  /** Cgroup names, the loop's group indexes; must include _default and _server. */
  groups: string[];
  /** Loop options over: classifyAt accept, 2 s verdict and first-byte timeouts, 1024 peek bytes, the groups. */
  loop: Partial<LoopOptions>;
}

const native = loadNative();
let seq = 0;

function fixtureServer(name: string): string {
  return path.join(repoRoot(), 'test', 'fixtures', 'servers', name);
}

export async function startNativeServer(o: NativeServerOptions): Promise<NativeServer> {
  const cgroups = CgroupManager.create({ instance: `${o.name}-test-${process.pid}-${seq++}`, onExisting: 'adopt' });
  cgroups.setup(o.groups.map((name) => ({ name, resources: {} })));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `vhqos-${o.name}-`));
  const outFile = path.join(dir, 'out');
  const out = fs.openSync(outFile, 'w');
  const argv = ['/usr/bin/python3', fixtureServer(o.script), ...o.args];
  const r = native.spawn({ file: argv[0], argv, env: ['PATH=/usr/bin:/bin'], stdio: [null, out, out], traps: o.traps });
  fs.closeSync(out);
  cgroups.move(r.pid, '_server');
  const serverGroup = o.groups.indexOf('_server');
  const events: LoopEvent[] = [];
  const handovers: HandOver[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((res) => (resolveDone = res));
  const loop: NativeLoop = new native.Loop(
    r.listener,
    {
      classifyAt: 'accept',
      verdictTimeoutMs: 2000,
      firstByteTimeoutMs: 2000,
      peekBytes: 1024,
      groups: o.groups.map((g) => cgroups.groupPaths(g).map((d) => `${d}/cgroup.procs`)),
      defaultGroup: o.groups.indexOf('_default'),
      serverGroup,
      ...o.loop,
    } as LoopOptions,
    (ev) => {
      events.push(ev);
      if (ev.kind === 'handovers') handovers.push(...ev.items);
      if (ev.kind === 'exit' && ev.pid === r.pid) void reap(native, r.pidfd).then(() => resolveDone());
    },
  );
  loop.addProcess(r.pid, serverGroup);
  loop.start();
  const log = () => fs.readFileSync(outFile, 'utf8');
  const deadline = Date.now() + 15000;
  while (!log().includes('ready')) {
    if (Date.now() > deadline) throw new Error(`server did not start: ${log()}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  return {
    port: o.port,
    pid: r.pid,
    loop,
    events,
    handovers,
    cgroups,
    log,
    async stop() {
      native.pidfdSendSignal(r.pidfd, 15);
      await Promise.race([done, new Promise((res) => setTimeout(res, 10000))]);
      loop.stop();
      for (const fd of [r.listener, r.pidfd]) {
        try {
          native.close(fd);
        } catch {
          /* closed */
        }
      }
      cgroups.teardown('home');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
