// The demo's Perl forking server (demo/forking-httpd.pl) as a ServerSpec.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { demoDir, makeTempDir } from './paths';
import { findServerRoots, stopProcesses, type Endpoint, type ServerSpec } from './proc';

export { startBare, waitForPort, pickPort, isListening, type BareServer, type Endpoint } from './proc';

export const PERL_BIN = '/usr/bin/perl';

export function demoScript(): string {
  return path.join(demoDir(), 'forking-httpd.pl');
}

export function demoConfig(): string {
  return path.join(demoDir(), 'demo.yaml');
}

export interface DemoServer extends ServerSpec {
  script: string;
}

/** `perl demo/forking-httpd.pl --listen ...` for each endpoint ("::" is dual-stack). Does not start it. */
export async function makeDemoServer(opts: { listen: Endpoint[] }): Promise<DemoServer> {
  if (!opts.listen.length) throw new Error('makeDemoServer: no listen address');
  const script = demoScript();
  const dir = makeTempDir('vhqos-demo'); // logs of startBare
  const argv = [PERL_BIN, script];
  for (const l of opts.listen) argv.push('--listen', l.ip.includes(':') ? `[${l.ip}]:${l.port}` : `${l.ip}:${l.port}`);
  return {
    script,
    dir,
    argv,
    env: { ...process.env, LANG: 'C' },
    listens: opts.listen,
    async stop() {
      // The script path is shared by every demo server: find ours by exact argv.
      await stopProcesses(findServerRoots(argv), { graceMs: 6000 });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
