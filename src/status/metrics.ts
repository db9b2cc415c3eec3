// Prometheus metrics of one supervisor (prom-client), computed from the same
// snapshot `vhqos status` shows, at scrape time.
import * as http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { VERSION } from '../version';
import type { StatusSnapshot } from './snapshot';
import type { Logger } from '../supervisor/supervisor';

/**
 * Prometheus conventions: counters are Counters named `_total`, units in the
 * names (seconds, bytes), the supervisor's instance as label `vhqos_instance`
 * (Prometheus owns `instance`), limits as gauges; plus prom-client's default
 * process metrics and a build-info gauge. Every series is listed in the README.
 */
export function metricsRegistry(snapshot: () => StatusSnapshot): Registry {
  const registry = new Registry();
  let snap: StatusSnapshot | undefined;
  // One snapshot per scrape, shared by every metric's collect().
  const fresh = () => (snap ??= snapshot());
  type Row = StatusSnapshot['vhosts'][number];
  const perVhost = (kind: 'gauge' | 'counter', name: string, help: string, value: (g: Row) => number | undefined) => {
    const collect = function (this: Gauge | Counter) {
      const s = fresh();
      this.reset();
      for (const g of s.vhosts) {
        const v = value(g);
        if (v === undefined || !Number.isFinite(v)) continue;
        const labels = { vhqos_instance: s.instance, vhost: g.name };
        if (this instanceof Gauge) this.set(labels, v);
        else this.inc(labels, v);
      }
    };
    const conf = { name, help, labelNames: ['vhqos_instance', 'vhost'], registers: [registry], collect };
    return kind === 'gauge' ? new Gauge(conf) : new Counter(conf);
  };
  const us = (v: number | undefined) => (v === undefined ? undefined : v / 1e6);
  perVhost('counter', 'vhqos_vhost_cpu_seconds_total', 'CPU time used by the vhost cgroup since it was created', (g) => us(g.cpuUsageUsec));
  perVhost('counter', 'vhqos_vhost_cpu_throttled_seconds_total', 'Time the vhost cgroup was throttled by its cpu.max, since start', (g) => us(g.faults.cpuThrottledUsec));
  perVhost('counter', 'vhqos_vhost_cpu_throttled_periods_total', 'CPU periods in which the vhost cgroup was throttled, since start', (g) => g.faults.cpuThrottledPeriods);
  perVhost('gauge', 'vhqos_vhost_cpu_limit_cpus', 'cpu.max of the vhost in CPUs (absent: no limit)', (g) => g.limits.cpu?.max);
  perVhost('gauge', 'vhqos_vhost_memory_bytes', 'Memory charged to the vhost cgroup', (g) => g.memoryBytes);
  perVhost('gauge', 'vhqos_vhost_memory_limit_bytes', 'memory.max of the vhost (absent: no limit)', (g) => g.limits.memory?.max);
  perVhost('counter', 'vhqos_vhost_memory_limit_hits_total', 'Times the vhost cgroup hit its memory limit (v2 memory.events max, v1 memory.failcnt), since start', (g) => g.faults.memoryMax);
  perVhost('counter', 'vhqos_vhost_memory_high_events_total', 'Reclaim forced by memory.high (v2), since start', (g) => g.faults.memoryHigh);
  perVhost('counter', 'vhqos_vhost_oom_kills_total', 'Processes of the vhost killed by the OOM killer, since start', (g) => g.faults.oomKills);
  perVhost('gauge', 'vhqos_vhost_pids_limit', 'pids.max of the vhost as configured (absent: no limit)', (g) => g.limits.pids?.max);
  perVhost('counter', 'vhqos_vhost_pids_limit_hits_total', 'fork/clone refused by the pids limit of the vhost, since start', (g) => g.faults.pidsMax);
  perVhost('gauge', 'vhqos_vhost_processes', 'Processes in the vhost cgroup', (g) => g.pids.length);
  perVhost('gauge', 'vhqos_vhost_idle_processes', 'Server processes idle in accept in the vhost cgroup', (g) => g.idle);
  perVhost('counter', 'vhqos_vhost_connections_total', 'Connections classified to the vhost', (g) => g.connections);
  perVhost('counter', 'vhqos_vhost_moves_total', 'Processes moved into the vhost cgroup', (g) => g.moves);
  perVhost('gauge', 'vhqos_vhost_connections_limit', 'connections.max of the vhost (absent: no limit)', (g) => g.limits.connections?.max);
  perVhost('gauge', 'vhqos_vhost_connections_serving', 'Connections of the vhost held by server processes now (connection slots in use)', (g) => g.serving);
  perVhost('gauge', 'vhqos_vhost_connections_waiting', 'Connections of the vhost waiting inside vhqos for a slot or a server process', (g) => g.waiting);
  perVhost('counter', 'vhqos_vhost_connections_queued_total', 'Connections that waited for a slot of the vhost', (g) => g.queued);
  perVhost('counter', 'vhqos_vhost_connections_refused_total', 'Connections refused (503 or closed) after waiting queueTimeoutMs for a slot', (g) => g.refused);
  const perInstance = (name: string, help: string, value: (s: StatusSnapshot) => number | undefined) =>
    new Counter({
      name,
      help,
      labelNames: ['vhqos_instance'],
      registers: [registry],
      collect() {
        const s = fresh();
        this.reset();
        const v = value(s);
        if (v !== undefined) this.inc({ vhqos_instance: s.instance }, v);
      },
    });
  perInstance('vhqos_notifications_total', 'Trapped syscalls seen', (s) => s.loop.notifications);
  perInstance('vhqos_fast_path_total', 'Trapped syscalls answered without policy', (s) => s.loop.fast);
  perInstance('vhqos_verdicts_total', 'Verdicts given by policy', (s) => s.loop.verdicts);
  perInstance('vhqos_verdict_timeouts_total', 'Notifications answered CONTINUE because policy was too slow', (s) => s.loop.timeouts);
  perInstance('vhqos_fail_open_total', 'Notifications answered CONTINUE because policy failed', (s) => s.policy.failOpen);
  new Gauge({ name: 'vhqos_build_info', help: 'vhqos version (value 1)', labelNames: ['version', 'node'], registers: [registry] }).set({ version: VERSION, node: process.version }, 1);
  collectDefaultMetrics({ register: registry });
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
