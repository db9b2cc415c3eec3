// A small closed-loop HTTP load generator for bench/qos: a fixed number of
// concurrent clients per target, one request per connection (no keep-alive),
// each client sending its next request as soon as the previous one ends.
// Records completions and latencies inside a measurement window.
import * as http from 'node:http';

export interface LoadTarget {
  label: string;
  port: number;
  host: string;
  path: string;
  concurrency: number;
}

export interface LoadResult {
  label: string;
  /** Requests that completed (2xx) inside the window. */
  completed: number;
  /** Latencies (ms) of requests that started and ended inside the window. */
  latencies: number[];
  errors: number;
  /** Non-2xx responses. */
  bad: number;
  /** How many responses' bodies contained `expect` (when given). */
  matched: number;
  /** Responses inspected for `expect`. */
  inspected: number;
}

/**
 * Runs all targets at once for warmupMs + durationMs; the window is the last
 * durationMs. In-flight requests at the end are awaited (up to 30 s) but not counted.
 */
export async function runLoad(
  targets: LoadTarget[],
  opts: { warmupMs: number; durationMs: number; expect?: (label: string, body: string) => boolean; timeoutMs?: number },
): Promise<LoadResult[]> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const start = performance.now();
  const winStart = start + opts.warmupMs;
  const winEnd = winStart + opts.durationMs;
  const results = targets.map<LoadResult>((t) => ({ label: t.label, completed: 0, latencies: [], errors: 0, bad: 0, matched: 0, inspected: 0 }));

  const one = (t: LoadTarget, res: LoadResult): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.request(
        { host: '127.0.0.1', port: t.port, path: t.path, method: 'GET', agent, headers: { Host: t.host }, timeout: opts.timeoutMs ?? 30000 },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => {
            const t1 = performance.now();
            const ok = (r.statusCode ?? 0) >= 200 && (r.statusCode ?? 0) < 300;
            if (!ok) res.bad++;
            if (ok && t1 >= winStart && t1 <= winEnd) {
              res.completed++;
              if (t0 >= winStart) res.latencies.push(t1 - t0);
              if (opts.expect) {
                res.inspected++;
                if (opts.expect(t.label, Buffer.concat(chunks).toString('utf8'))) res.matched++;
              }
            }
            resolve();
          });
          r.on('error', () => {
            res.errors++;
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        res.errors++;
        resolve();
      });
      req.end();
    });

  const clients: Promise<void>[] = [];
  targets.forEach((t, i) => {
    for (let c = 0; c < t.concurrency; c++) {
      clients.push(
        (async () => {
          while (performance.now() < winEnd) {
            const errs = results[i].errors + results[i].bad;
            await one(t, results[i]);
            // Do not spin on a failing server.
            if (results[i].errors + results[i].bad !== errs) await new Promise((r) => setTimeout(r, 20));
          }
        })(),
      );
    }
  });
  await Promise.all(clients);
  agent.destroy();
  return results;
}
