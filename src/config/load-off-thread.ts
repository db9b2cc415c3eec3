// A config loaded on a worker thread. At 10,000 vhosts reading, parsing and
// checking one takes about a second; `vhqos reload` must not spend that on
// the thread where policy answers read mode's verdicts (they would fail
// open meanwhile). The config is plain data, so it crosses as it is; a
// ConfigError comes back as one, with its problems.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../errors';
import type { VhqosConfig } from '../types';

/** What the worker (load-worker.ts) posts back. */
export type LoadReply = { ok: true; config: VhqosConfig } | { ok: false; source?: string; problems?: string[]; message: string };

export function loadConfigOffThread(file: string): Promise<VhqosConfig> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(path.join(__dirname, 'load-worker.js'), { workerData: { file } });
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      f();
    };
    worker.once('message', (r: LoadReply) =>
      settle(() => (r.ok ? resolve(r.config) : reject(r.problems && r.source !== undefined ? new ConfigError(r.source, r.problems) : new Error(r.message)))),
    );
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the config loader stopped (exit ${code}) before it answered`))));
  });
}
