// `vhqos status`: asks running supervisors over their root-only sockets.
import { listStatusSockets, queryStatus, defaultSocketPath } from '../status/server';
import type { StatusSnapshot } from '../status/snapshot';
import { bytes, seconds, table } from './format';

export interface StatusArgs {
  instance?: string;
  socket?: string;
  json?: boolean;
  tables?: boolean;
  watch?: number;
}

/** Renders one snapshot; with `prev` (an earlier one) adds CPU % over the interval. */
export function renderStatus(s: StatusSnapshot, opts: { tables?: boolean; prev?: StatusSnapshot; intervalS?: number } = {}): string {
  const out: string[] = [];
  const exited = s.server.exited ? ` (exited: ${s.server.exited.code ?? 'signal ' + s.server.exited.signal})` : '';
  out.push(`instance ${s.instance}  supervisor pid ${s.supervisorPid}  server pid ${s.server.pid}${exited}  cgroup v${s.cgroupVersion}`);
  out.push(`command: ${s.server.command.join(' ')}`);
  const cpuPct = (g: StatusSnapshot['vhosts'][number]) => {
    const p = opts.prev?.vhosts.find((x) => x.name === g.name);
    if (!p || g.cpuUsageUsec === undefined || p.cpuUsageUsec === undefined || !opts.intervalS) return '-';
    return `${(((g.cpuUsageUsec - p.cpuUsageUsec) / 1e6 / opts.intervalS) * 100).toFixed(0)}%`;
  };
  out.push('');
  out.push(
    table(
      ['vhost', 'match', 'procs', 'idle', 'conns', 'serving', 'waiting', 'refused', 'moves', 'cpu', 'cpu now', 'memory', 'cgroup'],
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
        cpuPct(g),
        bytes(g.memoryBytes),
        g.cgroups[0] ?? '-',
      ]),
    ),
  );
  const l = s.loop;
  out.push('');
  out.push(`notifications ${l.notifications}  fast path ${l.fast}  quiet ${l.quietInspections}  verdicts ${l.verdicts}  timeouts ${l.timeouts}  parked ${l.parked}`);
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

function socketsFor(a: StatusArgs): string[] {
  if (a.socket) return [a.socket];
  if (a.instance) return [defaultSocketPath(a.instance)];
  return listStatusSockets();
}

export async function statusCommand(a: StatusArgs): Promise<number> {
  const sockets = socketsFor(a);
  if (sockets.length === 0) {
    console.error('vhqos: no running supervisor found (no status socket in /run/vhqos). Start one with `vhqos run`.');
    return 1;
  }
  const fetchAll = async () =>
    Promise.all(
      sockets.map(async (s) => {
        try {
          return (await queryStatus(s)) as StatusSnapshot;
        } catch (e) {
          return new Error(`${s}: ${(e as Error).message}`);
        }
      }),
    );
  let prev: (StatusSnapshot | Error)[] | undefined;
  for (;;) {
    const snaps = await fetchAll();
    if (a.json) {
      console.log(JSON.stringify(snaps.map((s) => (s instanceof Error ? { error: s.message } : s)), null, 2));
    } else {
      if (a.watch) process.stdout.write('\x1b[2J\x1b[H');
      snaps.forEach((s, i) => {
        const p = prev?.[i];
        console.log(s instanceof Error ? `error: ${s.message}` : renderStatus(s, { tables: a.tables, prev: p instanceof Error ? undefined : p, intervalS: a.watch }));
        console.log('');
      });
    }
    if (!a.watch) return snaps.some((s) => s instanceof Error) ? 1 : 0;
    prev = snaps;
    await new Promise((r) => setTimeout(r, a.watch! * 1000));
  }
}
