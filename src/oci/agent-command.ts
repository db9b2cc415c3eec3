// `vhqos agent [--socket PATH] [--log-level L]`: runs the agent until
// SIGTERM/SIGINT. Logs are JSON lines on stderr.

import * as fs from 'fs';
import { Agent, type AgentLogger } from './agent';
import { agentSocketPath } from './prepare';
import { parseMetricsAddress, readTokenFile, startMetricsServer } from '../status/metrics';

export interface AgentCommandOptions {
  socket?: string;
  logger: AgentLogger;
  /** HOST:PORT or unix:/PATH: Prometheus metrics of every supervised container. */
  metrics?: string;
  metricsTokenFile?: string;
}

/** Resolves only if the agent cannot start (with the exit code); otherwise runs until a signal ends the process. */
export async function agentCommand(o: AgentCommandOptions): Promise<number> {
  // Each parallel accept holds a libuv pool thread while it waits: leave room
  // for everything else that uses the pool. Takes effect if the pool has not
  // started yet, which is the case this early in the CLI.
  if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = '8';
  const agent = new Agent({ socket: o.socket ?? agentSocketPath(process.env), logger: o.logger });
  if (o.metrics) {
    // Before the agent listens: a bad address is a start-up error.
    try {
      const token = o.metricsTokenFile ? readTokenFile(o.metricsTokenFile) : undefined;
      await startMetricsServer(parseMetricsAddress(o.metrics), () => agent.snapshots(), o.logger, { token });
    } catch (e) {
      console.error(`vhqos agent: metrics: ${(e as Error).message}`);
      return 2;
    }
  }
  try {
    await agent.start();
  } catch (e) {
    console.error(`vhqos agent: ${(e as Error).message}`);
    return 1;
  }
  const shutdown = (sig: NodeJS.Signals) => {
    o.logger.info({ signal: sig, supervised: agent.instances().length }, 'vhqos agent stopping; supervised containers continue unsupervised');
    void agent.stop({ wait: false });
    // Parked accepts were received by this process: answer them before it goes.
    agent.handBackAll();
    // Their status sockets would answer nobody once this process is gone.
    for (const s of agent.statusSockets()) fs.rmSync(s, { force: true });
    // Die of the signal (a clean stop for systemd). Not process.exit(): it
    // would wait for the accepts blocked in the libuv pool (up to their timeout).
    process.removeAllListeners(sig);
    process.kill(process.pid, sig);
  };
  // One container's trouble must not end the supervision of all the others:
  // an error escaping some callback is logged, and the agent carries on.
  process.on('uncaughtException', (err) => o.logger.error({ err }, 'uncaught exception (agent continues)'));
  process.on('unhandledRejection', (err) => o.logger.error({ err }, 'unhandled rejection (agent continues)'));
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  return new Promise<number>(() => undefined);
}
