// "Is the vhqos agent there?" for the prestart hook and the runtime wrapper:
// connect to its socket and hang up without sending anything. The agent must
// treat a connection closed before any byte as a probe (no log noise).

import * as net from 'net';
import { AgentNotRunningError } from '../errors';
export { AgentNotRunningError };


/** Resolves when something accepts connections on the unix socket `socketPath`. */
export function probeAgent(socketPath: string, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path: socketPath });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new AgentNotRunningError(socketPath, 'ETIMEDOUT'));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve();
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      reject(new AgentNotRunningError(socketPath, e.code ?? 'EIO'));
    });
  });
}
