// A vhost given a CIDR range serves, from its own cgroup, connections to any
// address inside it, and an address inside wins over any host name (as an
// exact address does); outside the range the name decides again. Real
// supervision of a fork-after-accept server (tcpserver, cheap to start) on
// loopback addresses, in both classification modes.
// Runs on the host (cgroup v1) and in the cgroup2 VM (scripts/test-in-vm.sh).
import test from 'ava';
import * as fs from 'node:fs';
import { parseConfig } from '../../src/config/load';
import { Instance } from '../../src/supervisor/instance';
import { makeInetdServer, pickPort, waitForPort } from '../helpers/inetd';
import { httpGet, servedBy } from '../helpers/client';
import type { Logger } from '../../src/logger';

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const config = (mode: string) => `
vhosts:
  lan:
    addresses: ["127.0.0.0/29"]
    cpu: { weight: 200 }
  gold:
    hosts: [gold.test]
options:
  classifyAt: ${mode}
`;

let seq = 0;
for (const mode of ['accept', 'read']) {
  test.serial(`[${mode}] a vhost's CIDR range takes connections to the addresses inside it, whatever the name`, async (t) => {
    // 127.0.0.3 is inside 127.0.0.0/29: lan's, whatever the Host; 127.0.0.9 is not: the name decides.
    for (const [ip, expected] of [['127.0.0.3', 'lan'], ['127.0.0.9', 'gold']] as const) {
      const port = await pickPort([ip], 27300, 27699);
      const srv = await makeInetdServer({ kind: 'tcpserver', ip, port });
      const devnull = fs.openSync('/dev/null', 'w');
      const run = Instance.spawn({
        config: parseConfig(config(mode)),
        command: srv.argv,
        env: srv.env,
        logger: quiet,
        instance: `test-ranges-${process.pid}-${seq++}`,
        stdio: [null, devnull, devnull],
        statusSocket: false,
        drainMs: 500,
      });
      fs.closeSync(devnull);
      try {
        await waitForPort(ip, port, 10000);
        for (const host of ['gold.test', 'other.test']) {
          const r = await httpGet({ ip, port, host, path: srv.paths.whoami, timeoutMs: 10000 });
          t.is(r.status, 200, r.raw.toString());
          const want = expected === 'gold' && host !== 'gold.test' ? '_default' : expected;
          t.is(servedBy(r.body), want, `${host} at ${ip}:${port}`);
        }
        // vhqos status shows the range as written.
        t.deepEqual(run.snapshot().vhosts.find((v) => v.name === 'lan')?.addresses, ['127.0.0.0/29']);
      } finally {
        run.kill('SIGTERM');
        await run.wait();
        await srv.stop();
      }
    }
  });
}
