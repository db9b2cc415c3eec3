// The site/fixture layer the tests and the benchmarks share: the Apache
// prefork site (config, document root, CGI fixtures: ./apache), vhqos config
// YAML on disk, and vhqos started around a server, in this process
// (Instance.spawn) or as the `vhqos` CLI in a child process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '../../src/config/load';
import type { Logger } from '../../src/logger';
import { Instance, type SpawnOptions } from '../../src/supervisor/instance';
import { makeApacheSite, pickPort, type ApacheSite, type ApacheSiteOptions } from './apache';
import { repoRoot } from './paths';

export { makeApacheSite, pickPort, startApacheBare, waitForSite, type ApacheSite, type ApacheSiteOptions } from './apache';

/** A logger that drops everything. */
export const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** An Apache site on the first free port of [lo, hi] on 127.0.0.1. */
export async function apacheSiteIn(lo: number, hi: number, opts: Omit<ApacheSiteOptions, 'port'>): Promise<ApacheSite> {
  return makeApacheSite({ ...opts, port: await pickPort(['127.0.0.1'], lo, hi) });
}

/** A config file holding `yaml` in a fresh temporary directory; remove() deletes the directory. */
export function configFile(yaml: string, name = 'site.yaml'): { path: string; dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-config-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, yaml);
  return { path: file, dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------- in-process

export interface StartOptions extends Partial<Omit<SpawnOptions, 'config' | 'command'>> {
  /** The vhqos config as YAML text. */
  yaml: string;
  /** The server to run: an Apache site or any { argv, env }. */
  server: { argv: string[]; env?: NodeJS.ProcessEnv };
  /** Prefix of the instance name (made unique with the pid and a counter) unless `instance` is given. */
  name?: string;
}

let seq = 0;

/**
 * vhqos in this process around `server`, the way the integration tests run
 * it: the server's output to /dev/null, no status socket, a 500 ms drain, a
 * quiet logger; any SpawnOptions field overrides these.
 */
export function startInstance(o: StartOptions): Instance {
  const { yaml, server, name = 'test', ...rest } = o;
  const devnull = fs.openSync('/dev/null', 'w');
  try {
    return Instance.spawn({
      config: parseConfig(yaml),
      command: server.argv,
      env: server.env,
      logger: quiet,
      instance: `${name}-${process.pid}-${seq++}`,
      stdio: [null, devnull, devnull],
      statusSocket: false,
      drainMs: 500,
      ...rest,
    });
  } finally {
    fs.closeSync(devnull);
  }
}

/** SIGTERM to the instance (it forwards to the server), wait for it, then stop the sites. */
export async function stopInstance(run: Instance, ...sites: { stop(): Promise<unknown> }[]): Promise<void> {
  run.kill('SIGTERM');
  await run.wait();
  for (const s of sites) await s.stop();
}

// ---------------------------------------------------------------- the CLI

/** bin/vhqos.js of this checkout. */
export const VHQOS_BIN = path.join(repoRoot(), 'bin', 'vhqos.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `vhqos ARGS...` to completion, synchronously (30 s at most). */
export function runCli(...args: string[]): CliResult {
  return spawnSync(process.execPath, [VHQOS_BIN, ...args], { encoding: 'utf8', timeout: 30000 });
}

/** `vhqos ARGS...` to completion without blocking this process (a supervisor it talks to may run here). */
export function runCliAsync(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [VHQOS_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** `vhqos ARGS...` left running: its stderr collected, its exit code awaited. */
export function startCli(args: string[], o: { env?: NodeJS.ProcessEnv } = {}): { child: ChildProcess; stderr(): string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [VHQOS_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...o.env } });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, stderr: () => stderr, exited };
}
