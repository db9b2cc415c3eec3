// `vhqos status`: asks running supervisors over their root-only sockets.
import { listStatusSockets, queryStatus, defaultSocketPath } from '../status/server';
import { isAgentStatus, type AgentStatusSnapshot, type StatusSnapshot } from '../status/snapshot';
import type { Faults } from '../cgroup/faults';
import * as path from 'node:path';
import { bytes, seconds, table } from './format';
import { UsageError } from '../errors';

export interface StatusArgs {
  instance?: string;
  socket?: string;
  json?: boolean;
  tables?: boolean;
  watch?: number;
}

type Row = StatusSnapshot['vhosts'][number];

const FAULT_LABELS: [keyof Faults, string][] = [
  ['cpuThrottledPeriods', 'throttled'],
  ['memoryHigh', 'mem-high'],
  ['memoryMax', 'mem-max'],
  ['oomKills', 'oom-kill'],
  ['pidsMax', 'pids-max'],
];

/** "throttled 12 (0.40 s), pids-max 3"; with `prev`, only what grew since: "+2 pids-max". "-": none. */
export function renderFaults(f: Faults, prev?: Faults): string {
  const parts: string[] = [];
  for (const [k, label] of FAULT_LABELS) {
    const v = (f[k] ?? 0) - (prev?.[k] ?? 0);
    if (v <= 0) continue;
    const extra = k === 'cpuThrottledPeriods' && f.cpuThrottledUsec !== undefined ? ` (${seconds((f.cpuThrottledUsec ?? 0) - (prev?.cpuThrottledUsec ?? 0))})` : '';
    parts.push(prev ? `+${v} ${label}${extra}` : `${label} ${v}${extra}`);
  }
  return parts.join(', ') || '-';
}

/** Renders one snapshot; with `prev` (an earlier one) adds CPU % over the interval. */
export function renderStatus(s: StatusSnapshot, opts: { tables?: boolean; prev?: StatusSnapshot; intervalS?: number } = {}): string {
  const out: string[] = [];
  const exited = s.server.exited ? ` (exited: ${s.server.exited.code ?? 'signal ' + s.server.exited.signal})` : '';
  out.push(`instance ${s.instance}  supervisor pid ${s.supervisorPid}  server pid ${s.server.pid}${exited}  cgroup v${s.cgroupVersion}`);
  out.push(`command: ${s.server.command.join(' ')}`);
  // By name, not a find per row: 10,000 vhosts made that 10^8 steps per refresh.
  const prevRows = new Map((opts.prev?.vhosts ?? []).map((x) => [x.name, x]));
  const cpuPct = (g: StatusSnapshot['vhosts'][number]) => {
    const p = prevRows.get(g.name);
    if (!p || g.cpuUsageUsec === undefined || p.cpuUsageUsec === undefined || !opts.intervalS) return '-';
    return `${(((g.cpuUsageUsec - p.cpuUsageUsec) / 1e6 / opts.intervalS) * 100).toFixed(0)}%`;
  };
  out.push('');
  const memory = (g: Row) => (g.limits?.memory?.max ? `${bytes(g.memoryBytes)} / ${bytes(g.limits.memory.max)}` : bytes(g.memoryBytes));
  const cpuNow = (g: Row) => {
    const pct = cpuPct(g);
    return g.limits?.cpu?.max && pct !== '-' ? `${pct} / ${Math.round(g.limits.cpu.max * 100)}%` : pct;
  };
  // Faults since start; while watching, what grew in the last interval.
  const faults = (g: Row) => {
    const p = prevRows.get(g.name)?.faults;
    return renderFaults(g.faults ?? {}, opts.intervalS ? p : undefined);
  };
  out.push(
    table(
      ['vhost', 'match', 'procs', 'idle', 'conns', 'serving', 'waiting', 'refused', 'moves', 'cpu', 'cpu now', 'memory', 'faults', 'cgroup'],
      s.vhosts.map((g) => [
        g.name,
        [...g.hosts, ...g.addresses].join(',') || '-',
        g.pids.length,
        g.idle ?? '-',
        g.connections,
        g.serving ?? '-',
        g.waiting ?? '-',
        g.refused ?? '-',
        g.moves,
        seconds(g.cpuUsageUsec),
        cpuNow(g),
        memory(g),
        faults(g),
        g.cgroups[0] ?? '-',
      ]),
    ),
  );
  const l = s.loop;
  out.push('');
  out.push(`notifications ${l.notifications}  fast path ${l.fast}  quiet ${l.quietInspections}  verdicts ${l.verdicts}  timeouts ${l.timeouts}  parked ${l.parked}`);
  const pr = l.perRequest;
  if (pr && pr.inspected > 0) out.push(`later requests (classifyEach request): reads looked at ${pr.inspected}  requests ${pr.requests}  moves ${pr.moves}  move errors ${pr.moveErrors}`);
  if (s.placement) {
    const placed = s.vhosts.filter((g) => g.placements).map((g) => `${g.name} ${g.placements}`);
    const refused = Object.entries(s.placement.refused).map(([code, n]) => `${code} ${n}`);
    out.push(`placement socket ${s.placement.socket}: placed ${placed.join(', ') || 'none'}; refused ${refused.join(', ') || 'none'}`);
  }
  for (const w of s.warnings) out.push(`warning: ${w}`);
  if (opts.tables) {
    const t = s.tables;
    out.push('\nchannels (connections seen: who accepted/held it, local address, vhost)');
    out.push(table(['inode', 'pid', 'fd', 'local', 'peer', 'vhost', 'by', 'detail', 'uses'], t.channels.map((c) => [c.inode, c.pid, c.fd, `${c.local.ip}:${c.local.port}`, c.peer ? `${c.peer.ip}:${c.peer.port}` : '-', c.vhost ?? '(default)', c.by, c.detail ?? '', c.uses])));
    out.push('\nprocesses (parent -> child)');
    out.push(table(['pid', 'ppid', 'group', 'accepts', 'execs'], t.processes.map((p) => [p.pid, p.ppid, p.group ?? '?', p.accepts, p.execs])));
    out.push('\nfd copies');
    out.push(table(['pid', 'fd', 'copy', 'syscall'], t.fdCopies.map((c) => [c.pid, c.fd, c.newFd < 0 ? '?' : c.newFd, c.syscall])));
    out.push('\nread flags');
    out.push(table(['pid', 'fd', 'vhost', 'inode'], t.readFlags.map((r) => [r.pid, r.fd, r.vhost ?? '(default)', r.inode])));
  }
  return out.join('\n');
}

/** The agent's own socket: the agent process and the trees it supervises (each has its own status). */
export function renderAgentStatus(s: AgentStatusSnapshot): string {
  const a = s.agent;
  const c = a.counters;
  const l = a.listener;
  const out = [
    `agent pid ${a.pid}  socket ${a.socket}  up ${seconds(a.uptimeS * 1e6)}  cgroup v${a.cgroupVersion}  ${a.accepting ? 'accepting' : 'stopped'}`,
    `process: rss ${bytes(a.process.rssBytes)}  heap ${bytes(a.process.heapUsedBytes)}  cpu ${seconds(a.process.cpuUserUsec + a.process.cpuSystemUsec)}`,
    `connections ${c.accepted}  probes ${c.probes}  rejected ${c.rejected}  requests ${c.control}  supervised ${c.supervised} (taken back ${c.readopted})`,
    `listener: peers reading ${l.peers}  timeouts ${l.timeouts}  oversized ${l.oversized}  read errors ${l.readErrors}  accept errors ${l.acceptErrors}`,
    '',
    a.instances.length
      ? table(['instance', 'container', 'role', 'pid', 'cgroup parent', 'since', 'config'], a.instances.map((i) => [i.instance, i.id.slice(0, 12), i.role, i.pid, i.cgroupParent || '/', i.since, i.config]))
      : 'no supervised containers',
  ];
  return out.join('\n');
}

/** --socket, or the instance named exactly or by a unique prefix (of its name or a container id), or every one. */
function socketsFor(a: StatusArgs): string[] {
  if (a.socket) return [a.socket];
  if (!a.instance) return listStatusSockets();
  const exact = defaultSocketPath(a.instance);
  const all = listStatusSockets();
  if (all.includes(exact)) return [exact];
  const byPrefix = all.filter((s) => path.basename(s, '.sock').startsWith(a.instance!));
  if (byPrefix.length > 1) {
    throw new UsageError(`--instance ${a.instance} is ambiguous: ${byPrefix.map((s) => path.basename(s, '.sock')).join(', ')}`);
  }
  return byPrefix.length ? byPrefix : [exact];
}


/** A socket nobody listens on any more (its supervisor was killed). */
function isStale(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' || code === 'ENOENT';
}

export async function statusCommand(a: StatusArgs): Promise<number> {
  let first: string[];
  try {
    first = socketsFor(a);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`vhqos: ${e.message}`);
    return 2;
  }
  if (first.length === 0) {
    console.error('vhqos: no running supervisor found (no status socket in /run/vhqos). Start one with `vhqos run`.');
    return 1;
  }
  const noted = new Set<string>();
  // Watching without --instance picks up instances that start meanwhile.
  // Without --instance, stale sockets (a killed supervisor's) are skipped with a note.
  const fetchAll = async () =>
    (
      await Promise.all(
        (a.watch ? socketsFor(a) : first).map(async (s) => {
          try {
            return (await queryStatus(s)) as StatusSnapshot | AgentStatusSnapshot;
          } catch (e) {
            if (!a.instance && !a.socket && isStale(e)) {
              if (!noted.has(s)) console.error(`note: ${s}: no supervisor answers (stale socket), skipped`);
              noted.add(s);
              return null;
            }
            return new Error(`${s}: ${(e as Error).message}`);
          }
        }),
      )
    ).filter((s): s is StatusSnapshot | AgentStatusSnapshot | Error => s !== null);
  let prev = new Map<string, StatusSnapshot>();
  for (;;) {
    const snaps = await fetchAll();
    if (a.json) {
      console.log(JSON.stringify(snaps.map((s) => (s instanceof Error ? { error: s.message } : s)), null, 2));
    } else {
      if (a.watch) process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}  every ${a.watch} s (faults: what grew in the interval)\n\n`);
      for (const s of snaps) {
        if (s instanceof Error) console.log(`error: ${s.message}`);
        else if (isAgentStatus(s)) console.log(renderAgentStatus(s));
        else console.log(renderStatus(s, { tables: a.tables, prev: prev.get(s.instance), intervalS: a.watch }));
        console.log('');
      }
    }
    if (!a.watch) return snaps.some((s) => s instanceof Error) ? 1 : 0;
    prev = new Map(snaps.filter((s): s is StatusSnapshot => !(s instanceof Error) && !isAgentStatus(s)).map((s) => [s.instance, s]));
    await new Promise((r) => setTimeout(r, a.watch! * 1000));
  }
}
