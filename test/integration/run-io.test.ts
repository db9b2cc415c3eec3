// I/O limits that work: a vhost's `io.wbps` throttles the O_DIRECT writes
// of its CGI on the disk holding `io.path` (a loop device with ext4 made
// for the test), under real Apache prefork; a vhost without limits on the
// same disk writes at full speed. The throttle reaches the cgroup file
// (v2 io.max, v1 blkio.throttle.write_bps_device).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeApacheSite, pickPort, startInstance, stopInstance, waitForSite } from '../helpers/site';
import { httpGet, servedBy } from '../helpers/client';
import { loopDevices, requires, root, tools } from '../helpers/requires';


requires(root(), loopDevices(), ...tools('losetup', 'mkfs.ext4')).serial('io.wbps throttles a vhost\'s direct writes on the disk of io.path; another vhost writes at full speed', async (t) => {
  const base = fs.mkdtempSync(path.join('/var/tmp', 'vhqos-io-'));
  const image = path.join(base, 'disk.img');
  const mnt = path.join(base, 'mnt');
  fs.chmodSync(base, 0o755); // the CGI runs as www-data
  fs.mkdirSync(mnt);
  execFileSync('truncate', ['-s', '96M', image]);
  const dev = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
  let mounted = false;
  try {
    execFileSync('mkfs.ext4', ['-q', '-F', dev]);
    execFileSync('mount', [dev, mnt]);
    mounted = true;
    fs.chmodSync(mnt, 0o1777);
    const port = await pickPort(['127.0.0.1'], 19900, 19949);
    const site = await makeApacheSite({ port, addressVhosts: [], names: [{ vhost: 'slow', hosts: ['slow.test'] }, { vhost: 'fast', hosts: ['fast.test'] }] });
    const run = startInstance({
      yaml: `vhosts:\n  slow: { hosts: [slow.test], io: { wbps: 2M, path: ${JSON.stringify(mnt)} } }\n  fast: { hosts: [fast.test] }\n`,
      server: site,
      instance: `io-${process.pid}`,
    });
    try {
      await waitForSite(site);
      const write = async (host: string) => {
        const r = await httpGet({ ip: '127.0.0.1', port, host, path: `/cgi-bin/ddwrite?mb=6&dir=${mnt}`, timeoutMs: 60000 });
        t.is(r.status, 200, r.body);
        return { ms: Number(/^write_ms: (\d+)$/m.exec(r.body)?.[1]), by: servedBy(r.body) };
      };
      const fast = await write('fast.test');
      const slow = await write('slow.test');
      t.is(fast.by, 'fast');
      t.is(slow.by, 'slow');
      // 6 MiB at 2 MiB/s: about 3 s (the first bursts may pass quicker).
      t.true(slow.ms >= 2200, `throttled write took ${slow.ms} ms`);
      t.true(fast.ms < slow.ms / 2, `unthrottled ${fast.ms} ms vs throttled ${slow.ms} ms`);
      const major = execFileSync('stat', ['-c', '%t:%T', dev], { encoding: 'utf8' }).trim().split(':').map((h) => parseInt(h, 16)).join(':');
      const files = run.cgroups.groupPaths('slow').flatMap((d) => [`${d}/io.max`, `${d}/blkio.throttle.write_bps_device`]).filter((f) => fs.existsSync(f));
      const text = files.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
      t.regex(text, new RegExp(`^${major} (wbps=)?${2 * 1024 * 1024}`, 'm'), text);
    } finally {
      await stopInstance(run, site);
    }
  } finally {
    if (mounted) execFileSync('umount', [mnt]);
    execFileSync('losetup', ['-d', dev]);
    fs.rmSync(base, { recursive: true, force: true });
  }
});
