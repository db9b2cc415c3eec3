// Prometheus metrics of one supervisor (prom-client), computed from the same
// snapshot `vhqos status` shows, at scrape time.
import * as http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { StatusSnapshot } from './snapshot';
import type { Logger } from '../supervisor/supervisor';

export function metricsRegistry(snapshot: () => StatusSnapshot): Registry {
  const registry = new Registry();
  let snap: StatusSnapshot | undefined;
  // One snapshot per scrape, shared by every metric's collect().
  const fresh = () => (snap ??= snapshot());
  const perVhost = (name: string, help: string, value: (g: StatusSnapshot['vhosts'][number]) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['instance', 'vhost'],
      registers: [registry],
      collect() {
        const s = fresh();
        this.reset();
        for (const g of s.vhosts) {
          const v = value(g);
          if (v !== undefined) this.set({ instance: s.instance, vhost: g.name }, v);
        }
      },
    });
  perVhost('vhqos_vhost_cpu_seconds', 'CPU time used by the vhost cgroup since it was created', (g) => (g.cpuUsageUsec === undefined ? undefined : g.cpuUsageUsec / 1e6));
  perVhost('vhqos_vhost_memory_bytes', 'Memory charged to the vhost cgroup', (g) => g.memoryBytes);
  perVhost('vhqos_vhost_processes', 'Processes in the vhost cgroup', (g) => g.pids.length);
  perVhost('vhqos_vhost_connections', 'Connections classified to the vhost', (g) => g.connections);
  perVhost('vhqos_vhost_moves', 'Processes moved into the vhost cgroup', (g) => g.moves);
  perVhost('vhqos_vhost_connections_serving', 'Connections of the vhost held by server processes now (connection slots in use)', (g) => g.serving);
  perVhost('vhqos_vhost_connections_waiting', 'Connections waiting inside vhqos for a slot of the vhost (connections.max reached)', (g) => g.waiting);
  perVhost('vhqos_vhost_idle_processes', 'Server processes idle in accept in the vhost cgroup', (g) => g.idle);
  const perVhostTotal = (name: string, help: string, value: (g: StatusSnapshot['vhosts'][number]) => number | undefined) =>
    new Counter({
      name,
      help,
      labelNames: ['instance', 'vhost'],
      registers: [registry],
      collect() {
        const s = fresh();
        this.reset();
        for (const g of s.vhosts) {
          const v = value(g);
          if (v !== undefined) this.inc({ instance: s.instance, vhost: g.name }, v);
        }
      },
    });
  perVhostTotal('vhqos_vhost_connections_queued_total', 'Connections that waited for a slot of the vhost', (g) => g.queued);
  perVhostTotal('vhqos_vhost_connections_refused_total', 'Connections refused (503 or closed) after waiting queueTimeoutMs for a slot', (g) => g.refused);
  const loop = (name: string, help: string, key: keyof StatusSnapshot['loop']) =>
    new Gauge({
      name,
      help,
      labelNames: ['instance'],
      registers: [registry],
      collect() {
        const s = fresh();
        this.set({ instance: s.instance }, Number(s.loop[key]));
      },
    });
  loop('vhqos_notifications', 'Trapped syscalls seen', 'notifications');
  loop('vhqos_fast_path', 'Trapped syscalls answered without policy', 'fast');
  loop('vhqos_verdicts', 'Verdicts given by policy', 'verdicts');
  loop('vhqos_verdict_timeouts', 'Notifications answered CONTINUE because policy was too slow', 'timeouts');
  const metrics = registry.metrics.bind(registry);
  registry.metrics = async () => {
    snap = undefined;
    return metrics();
  };
  return registry;
}

/** Serves /metrics on host:port. Resolves once listening. */
export function startMetricsServer(address: string, snapshot: () => StatusSnapshot, logger: Logger): Promise<http.Server> {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (!m) return Promise.reject(new Error(`--metrics: expected HOST:PORT, got ${JSON.stringify(address)}`));
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  const registry = metricsRegistry(snapshot);
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('try /metrics\n');
      return;
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'Content-Type': registry.contentType }).end(body);
    } catch (err) {
      logger.warn({ err }, 'metrics scrape failed');
      res.writeHead(500).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.unref();
      resolve(server);
    });
  });
}
