// Limits and faults in view, under real Apache prefork: a CGI that forks
// past its vhost's pids.max, one that allocates past memory.max, and a
// CPU-bound CGI in a vhost capped by cpu.max show up as the kernel's fault
// counters in the status snapshot (what `status --json` prints), in the log
// ({"vhost":…,"fault":…,"count":…}) and in the metrics; a vhost without
// faults shows none.
import test from 'ava';
import * as fs from 'node:fs';
import { metricsRegistry } from '../../src/status/metrics';
import type { Logger } from '../../src/logger';
import { makeApacheSite, pickPort, startInstance, stopInstance, waitForSite } from '../helpers/site';
import { httpGet } from '../helpers/client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.serial('pids.max, memory.max and cpu.max faults reach status, the log and the metrics', async (t) => {
  const port = await pickPort(['127.0.0.1'], 19800, 19849);
  const site = await makeApacheSite({
    port,
    addressVhosts: [],
    names: [
      { vhost: 'forky', hosts: ['forky.test'] },
      { vhost: 'hungry', hosts: ['hungry.test'] },
      { vhost: 'busy', hosts: ['busy.test'] },
      { vhost: 'calm', hosts: ['calm.test'] },
    ],
    startServers: 4,
  });
  const faults: Record<string, unknown>[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    error: () => undefined,
    warn: (o: object) => void ((o as { fault?: string }).fault && faults.push(o as Record<string, unknown>)),
  };
  const yaml = [
    'vhosts:',
    '  forky: { hosts: [forky.test], pids: { max: 12 } }',
    '  hungry: { hosts: [hungry.test], memory: { max: 96M } }',
    '  busy: { hosts: [busy.test], cpu: { max: 10% } }',
    '  calm: { hosts: [calm.test] }',
    '',
  ].join('\n');
  const run = startInstance({ yaml, server: site, logger, instance: `faults-${process.pid}` });
  try {
    await waitForSite(site);
    const get = (host: string, path: string) => httpGet({ ip: '127.0.0.1', port, host, path, timeoutMs: 60000 });
    await get('forky.test', '/cgi-bin/forks?n=40');
    await get('hungry.test', '/cgi-bin/eat?mb=400');
    await get('busy.test', '/cgi-bin/burn?ms=400');
    t.is((await get('calm.test', '/cgi-bin/whoami')).status, 200);
    // Counters are polled every 2 s.
    const row = (name: string) => run.snapshot().vhosts.find((g) => g.name === name)!;
    for (let i = 0; i < 60 && !(faults.some((f) => f.vhost === 'forky') && faults.some((f) => f.vhost === 'hungry') && faults.some((f) => f.vhost === 'busy')); i++) await sleep(100);
    const forky = row('forky');
    t.true((forky.faults.pidsMax ?? 0) >= 1, JSON.stringify(forky.faults));
    t.deepEqual(forky.limits.pids, { max: 12 });
    const hungry = row('hungry');
    t.true((hungry.faults.memoryMax ?? 0) >= 1, JSON.stringify(hungry.faults));
    // With swap the kernel swaps the CGI out instead of killing it (the VM has swap).
    const swap = Number(/^SwapTotal:\s+(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) > 0;
    if (!swap) t.true((hungry.faults.oomKills ?? 0) >= 1, `the CGI was OOM-killed: ${JSON.stringify(hungry.faults)}`);
    else t.log('swap present: an OOM kill is not certain, only the limit hits are checked');
    const busy = row('busy');
    t.true((busy.faults.cpuThrottledPeriods ?? 0) >= 1, JSON.stringify(busy.faults));
    t.true((busy.faults.cpuThrottledUsec ?? 0) > 0);
    t.deepEqual(
      Object.entries(row('calm').faults).filter(([, v]) => (v ?? 0) > 0),
      [],
      'a vhost within its limits has no faults',
    );
    // Log lines, one per vhost and fault.
    t.truthy(faults.find((f) => f.vhost === 'forky' && f.fault === 'pids_max' && Number(f.count) >= 1), JSON.stringify(faults));
    t.truthy(faults.find((f) => f.vhost === 'hungry' && f.fault === (swap ? 'memory_max' : 'oom_kill')), JSON.stringify(faults));
    t.truthy(faults.find((f) => f.vhost === 'busy' && f.fault === 'cpu_throttled'), JSON.stringify(faults));
    t.false(faults.some((f) => f.vhost === 'calm'));
    // Metrics, by Prometheus conventions.
    const text = await metricsRegistry(() => run.snapshot()).metrics();
    const value = (name: string, vhost: string) => Number(new RegExp(`^${name}\\{vhqos_instance="faults-${process.pid}",vhost="${vhost}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    t.true(value('vhqos_vhost_pids_limit_hits_total', 'forky') >= 1);
    t.is(value('vhqos_vhost_pids_limit', 'forky'), 12);
    t.true(value(swap ? 'vhqos_vhost_memory_limit_hits_total' : 'vhqos_vhost_oom_kills_total', 'hungry') >= 1);
    t.is(value('vhqos_vhost_memory_limit_bytes', 'hungry'), 96 * 1024 * 1024);
    t.true(value('vhqos_vhost_cpu_throttled_seconds_total', 'busy') > 0);
    t.is(value('vhqos_vhost_cpu_limit_cpus', 'busy'), 0.1);
    t.is(value('vhqos_vhost_oom_kills_total', 'calm'), 0);
    t.regex(text, /^# TYPE vhqos_vhost_oom_kills_total counter$/m);
    t.regex(text, /^# TYPE vhqos_vhost_memory_bytes gauge$/m);
    t.regex(text, /^vhqos_build_info\{version="[^"]+",node="v\d+/m);
    t.regex(text, /^process_cpu_seconds_total /m, "prom-client's default process metrics");
  } finally {
    await stopInstance(run, site);
  }
});
