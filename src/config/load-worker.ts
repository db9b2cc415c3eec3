// The worker side of load-off-thread.ts: load one config, post it back.
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError } from '../errors';
import { loadConfig } from './load';
import type { LoadReply } from './load-off-thread';

const { file } = workerData as { file: string };
let reply: LoadReply;
try {
  reply = { ok: true, config: loadConfig(file) };
} catch (e) {
  reply = e instanceof ConfigError ? { ok: false, source: e.source, problems: e.problems, message: e.message } : { ok: false, message: (e as Error).message };
}
parentPort!.postMessage(reply);
