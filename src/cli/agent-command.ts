// `vhqos agent [--socket PATH] [--log-level L]`: runs the agent until
// SIGTERM/SIGINT. Logs are JSON lines on stderr.

import * as fs from 'fs';
import { Agent, type AgentLogger } from '../agent/agent';
import { agentSocketPath } from '../oci/prepare';
import { parseMetricsAddress, readTokenFile, startMetricsServer } from '../status/metrics';
import { notifyReady } from '../systemd/notify';

export interface AgentCommandOptions {
  socket?: string;
  logger: AgentLogger;
  /** HOST:PORT or unix:/PATH: Prometheus metrics of every supervised container. */
  metrics?: string;
  metricsTokenFile?: string;
}

/** Resolves only if the agent cannot start (with the exit code); otherwise runs until a signal ends the process. */
export async function agentCommand(o: AgentCommandOptions): Promise<number> {
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
  void notifyReady(`listening on ${o.socket ?? agentSocketPath(process.env)}`, { logger: o.logger });
  const shutdown = (sig: NodeJS.Signals) => {
    o.logger.info({ signal: sig, supervised: agent.instances().length }, 'vhqos agent stopping; supervised containers continue unsupervised');
    // Joins the listener thread (a peer still sending is cut off) and removes the socket.
    void agent.stop();
    // Parked accepts were received by this process: answer them before it goes.
    agent.handBackAll();
    // Their status sockets would answer nobody once this process is gone.
    for (const s of agent.statusSockets()) fs.rmSync(s, { force: true });
    // Die of the signal (a clean stop for systemd).
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
