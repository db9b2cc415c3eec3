// Client side of the agent's control requests (agent-protocol.ts): the
// prestart / poststop hooks send one JSON object, without fds, and read one
// JSON reply. The agent tells these apart from runtime messages by the
// "vhqos" key.

import * as net from 'net';
import type { ControlRequest } from './protocol';
import { AgentNotRunningError } from './probe';
import { AgentRefusedError } from '../errors';
export { AgentRefusedError };

export interface AgentReply {
  ok: boolean;
  error?: string;
  [k: string]: unknown;
}


/**
 * Sends one control request and resolves with the agent's reply. Rejects
 * with AgentNotRunningError when nothing listens, AgentRefusedError when the
 * reply says ok: false, and a plain Error for a timeout or a malformed reply.
 */
export function agentRequest(socketPath: string, request: ControlRequest, timeoutMs = 8000): Promise<AgentReply> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path: socketPath });
    const chunks: Buffer[] = [];
    let connected = false;
    let settled = false;
    const finish = (err: Error | null, reply?: AgentReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(
      () => finish(new Error(`vhqos agent at ${socketPath} did not answer a ${request.vhqos} request within ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.once('connect', () => {
      connected = true;
      sock.write(JSON.stringify(request));
    });
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.once('error', (e: NodeJS.ErrnoException) => {
      if (!connected) finish(new AgentNotRunningError(socketPath, e.code ?? 'EIO'));
      else finish(new Error(`vhqos agent at ${socketPath}: ${e.message}`));
    });
    sock.once('close', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (!text) return finish(new Error(`vhqos agent at ${socketPath} closed the connection without an answer (is it an older vhqos?)`));
      let reply: AgentReply;
      try {
        reply = JSON.parse(text.split('\n')[0]) as AgentReply;
      } catch {
        return finish(new Error(`vhqos agent at ${socketPath}: malformed answer ${JSON.stringify(text.slice(0, 80))}`));
      }
      if (!reply || typeof reply !== 'object' || typeof reply.ok !== 'boolean') {
        return finish(new Error(`vhqos agent at ${socketPath}: malformed answer ${JSON.stringify(text.slice(0, 80))}`));
      }
      if (!reply.ok) return finish(new AgentRefusedError(reply.error ?? 'request refused', reply));
      finish(null, reply);
    });
  });
}
