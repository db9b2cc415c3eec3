// Prometheus metrics of one supervisor (prom-client), computed from the same
// snapshot `vhqos status` shows, at scrape time.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { VERSION } from '../version';
import type { StatusSnapshot } from './snapshot';
import type { Logger } from '../logger';
import { MetricsAddressError } from '../errors';
export { MetricsAddressError };

/**
 * Prometheus conventions: counters are Counters named `_total`, units in the
 * names (seconds, bytes), the supervisor's instance as label `vhqos_instance`
 * (Prometheus owns `instance`), limits as gauges; plus prom-client's default
 * process metrics and a build-info gauge. Every series is listed in the README.
 */
export type SnapshotSource = () => StatusSnapshot | StatusSnapshot[] | Promise<StatusSnapshot | StatusSnapshot[]>;

export function metricsRegistry(snapshot: SnapshotSource): Registry {
  const registry = new Registry();
  // One snapshot per scrape, taken before the collects and shared by them;
  // the agent has one per container (each its own vhqos_instance). It is
  // kept until the next scrape: two scrapes at once each read a whole one.
  let snap: StatusSnapshot[] = [];
  type Row = StatusSnapshot['vhosts'][number];
  const perVhost = (kind: 'gauge' | 'counter', name: string, help: string, value: (g: Row) => number | undefined) => {
    const collect = function (this: Gauge | Counter) {
      this.reset();
      for (const s of snap)
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
  perVhost('counter', 'vhqos_vhost_placements_total', 'Processes or threads placed in the vhost cgroup over the placement socket (run --placement-only)', (g) => g.placements);
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
        this.reset();
        for (const s of snap) {
          const v = value(s);
          if (v !== undefined) this.inc({ vhqos_instance: s.instance }, v);
        }
      },
    });
  perInstance('vhqos_notifications_total', 'Trapped syscalls seen', (s) => s.loop.notifications);
  perInstance('vhqos_fast_path_total', 'Trapped syscalls answered without policy', (s) => s.loop.fast);
  perInstance('vhqos_verdicts_total', 'Verdicts given by policy', (s) => s.loop.verdicts);
  perInstance('vhqos_verdict_timeouts_total', 'Notifications answered CONTINUE because policy was too slow', (s) => s.loop.timeouts);
  perInstance('vhqos_fail_open_total', 'Notifications answered CONTINUE because policy failed', (s) => s.policy.failOpen);
  perInstance('vhqos_requests_classified_total', 'classifyEach request: later requests of keep-alive connections classified again', (s) => s.loop.perRequest?.requests ?? 0);
  perInstance('vhqos_request_moves_total', 'classifyEach request: processes moved for a later request of their connection', (s) => s.loop.perRequest?.moves ?? 0);
  perInstance('vhqos_placement_refusals_total', 'Placement requests refused (bad request, not allowed, target gone)', (s) =>
    s.placement ? Object.values(s.placement.refused).reduce((a, b) => a + b, 0) : undefined,
  );
  new Gauge({ name: 'vhqos_build_info', help: 'vhqos version (value 1)', labelNames: ['version', 'node'], registers: [registry] }).set({ version: VERSION, node: process.version }, 1);
  collectDefaultMetrics({ register: registry });
  const metrics = registry.metrics.bind(registry);
  registry.metrics = async () => {
    snap = [await snapshot()].flat();
    return metrics();
  };
  return registry;
}

/** Where metrics are served: `HOST:PORT`, `[IPv6]:PORT`, or `unix:/path` (a 0600 socket only root can read). */
export type MetricsAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };


/** Parses --metrics; throws MetricsAddressError with what is expected. */
export function parseMetricsAddress(address: string): MetricsAddress {
  if (address.startsWith('unix:')) {
    const p = address.slice(5);
    if (!p.startsWith('/')) throw new MetricsAddressError(`--metrics ${JSON.stringify(address)}: unix: needs an absolute path (unix:/run/vhqos/metrics.sock)`);
    return { kind: 'unix', path: p };
  }
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new MetricsAddressError(`--metrics ${JSON.stringify(address)}: expected HOST:PORT (127.0.0.1:9464, [::1]:9464) or unix:/PATH`);
  }
  return { kind: 'tcp', host: m[1] ?? m[2], port };
}

/** A bearer token from a file that must not be readable by others (tenants run code on this host). */
export function readTokenFile(file: string): string {
  const st = fs.statSync(file);
  if (st.mode & 0o077) throw new Error(`${file}: the token file must not be readable by group or others (chmod 600)`);
  const token = fs.readFileSync(file, 'utf8').trim();
  if (!token) throw new Error(`${file}: empty token`);
  return token;
}

export interface MetricsServerOptions {
  /** A bearer token clients must send (Authorization: Bearer TOKEN); tenants on the host cannot read it from a 0600 file. */
  token?: string;
}

/**
 * Serves /metrics. Resolves once listening; rejects (EADDRINUSE, EACCES) so
 * callers can refuse to start. `snapshot` may throw while the instance is
 * starting: the scrape then gets 503.
 */
export function startMetricsServer(address: MetricsAddress | string, snapshot: SnapshotSource, logger: Logger, opts: MetricsServerOptions = {}): Promise<http.Server> {
  let where: MetricsAddress;
  try {
    where = typeof address === 'string' ? parseMetricsAddress(address) : address;
  } catch (e) {
    return Promise.reject(e);
  }
  const registry = metricsRegistry(snapshot);
  const server = http.createServer(async (req, res) => {
    if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer' }).end('a bearer token is required\n');
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end('try /metrics\n');
      return;
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'Content-Type': registry.contentType }).end(body);
    } catch (err) {
      logger.warn({ err }, 'metrics scrape failed');
      res.writeHead(503).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ready = () => {
      server.off('error', reject);
      server.on('error', (err) => logger.warn({ err }, 'metrics endpoint error'));
      server.unref();
      resolve(server);
    };
    if (where.kind === 'unix') {
      fs.rmSync(where.path, { force: true });
      server.listen(where.path, () => {
        fs.chmodSync(where.path, 0o600);
        ready();
      });
    } else {
      server.listen(where.port, where.host, ready);
    }
  });
}
