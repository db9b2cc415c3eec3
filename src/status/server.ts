// Root-only unix socket that answers `vhqos status`: one JSON request line in,
// one JSON document out. The directory is 0700 and the socket 0600, so only
// root (the supervisor's owner) can connect.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Logger } from '../logger';
import { ControlError } from '../errors';
export { ControlError };

export const STATUS_DIR = process.env.VHQOS_RUN_DIR ?? '/run/vhqos';

export function defaultSocketPath(instance: string): string {
  return path.join(STATUS_DIR, `${instance}.sock`);
}

const MAX_REQUEST = 4096;
/** Longest unix socket path (sizeof sun_path - 1). */
export const MAX_SOCKET_PATH = 107;

export class StatusServer {
  private server?: net.Server;

  /**
   * `commands`: more requests this socket answers ({cmd: name, ...}): the
   * handler's result is the reply's `result`; what it throws is the reply's
   * error (with `problems` when the error has them, as a ConfigError does).
   */
  constructor(
    private readonly socketPath: string,
    private readonly snapshot: () => unknown | Promise<unknown>,
    private readonly logger: Logger,
    private readonly commands: Record<string, (req: Record<string, unknown>) => unknown | Promise<unknown>> = {},
    /** idleMs: how long a peer may take to send its request line (default 5 s); the answer is not timed. */
    private readonly limits: { idleMs?: number } = {},
  ) {}

  listen(): Promise<void> {
    // sun_path holds 107 bytes: node would silently bind a truncated path.
    if (Buffer.byteLength(this.socketPath) > MAX_SOCKET_PATH) {
      return Promise.reject(new Error(`status socket path is longer than ${MAX_SOCKET_PATH} bytes: ${this.socketPath}`));
    }
    fs.mkdirSync(path.dirname(this.socketPath), { recursive: true, mode: 0o700 });
    try {
      fs.unlinkSync(this.socketPath); // a stale socket from a crashed run
    } catch {
      /* none */
    }
    this.server = net.createServer((c) => this.serve(c));
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, () => {
        fs.chmodSync(this.socketPath, 0o600);
        this.server!.unref(); // the status socket alone must not keep vhqos alive
        resolve();
      });
    });
  }

  private serve(c: net.Socket): void {
    let buf = '';
    c.setTimeout(this.limits.idleMs ?? 5000, () => c.destroy());
    c.on('error', () => c.destroy());
    c.on('data', (d) => {
      buf += d.toString('utf8');
      if (buf.length > MAX_REQUEST) return c.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let req: Record<string, unknown>;
      try {
        req = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        if (typeof req !== 'object' || req === null) throw new Error('not an object');
      } catch (err) {
        c.end(JSON.stringify({ ok: false, error: `bad request: ${(err as Error).message}` }) + '\n');
        return;
      }
      const handler = typeof req.cmd === 'string' && Object.hasOwn(this.commands, req.cmd) ? this.commands[req.cmd] : undefined;
      buf = '';
      c.pause(); // one request per connection: nothing more is read
      c.setTimeout(0); // the idle limit is for the peer's request; the answer takes what it takes (a reload of 10,000 vhosts)
      const answer = async (): Promise<unknown> => {
        try {
          if (req.cmd === 'status') return { ok: true, status: await this.snapshot() };
          if (handler) return { ok: true, result: await handler(req) };
          return { ok: false, error: `unknown command ${JSON.stringify(req.cmd)}` };
        } catch (err) {
          const problems = (err as { problems?: unknown }).problems;
          this.logger.warn({ cmd: req.cmd, err }, 'control request failed');
          return { ok: false, error: (err as Error).message, ...(Array.isArray(problems) ? { problems } : {}) };
        }
      };
      void answer().then((reply) => {
        if (!c.destroyed) c.end(JSON.stringify(reply) + '\n');
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      try {
        fs.unlinkSync(this.socketPath);
      } catch {
        /* gone */
      }
    });
  }
}


/** Client side: asks one supervisor for its status (10,000 vhosts: about a second to gather, a few MB). */
export function queryStatus(socketPath: string, timeoutMs = 30000): Promise<unknown> {
  return request(socketPath, { cmd: 'status' }, timeoutMs).then((r) => (r as { status: unknown }).status);
}

/** Client side: one control request; resolves with the reply, rejects with ControlError when refused. */
export function request(socketPath: string, req: Record<string, unknown>, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`${socketPath}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (d) => (buf += d.toString('utf8')));
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('end', () => {
      clearTimeout(timer);
      try {
        const reply = JSON.parse(buf) as { ok: boolean; error?: string; problems?: string[] };
        if (!reply.ok) reject(new ControlError(reply.error ?? 'refused', reply.problems));
        else resolve(reply);
      } catch (e) {
        reject(new Error(`${socketPath}: malformed reply (${(e as Error).message})`));
      }
    });
  });
}

/** Sockets of the supervisors running now. */
export function listStatusSockets(dir = STATUS_DIR): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.sock'))
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}
