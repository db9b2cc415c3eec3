// classifyEach: request in the native loop, against the real kernel: a
// fork-before-accept keep-alive Python server (test/fixtures/servers/
// keepalive.py) under classification at accept with accept and the reads
// trapped (closes are not: a reused fd number is told apart by inode). The
// client decides every byte and when it arrives, so what a read sees is
// known: a new request moves the worker before its read; a body, the rest of
// a head cut short, or bytes that are not HTTP never move it. Each response
// reports the worker's cgroup after it read the whole request. Needs root;
// runs on the host (cgroup v1) and in the cgroup v2 VM.
import test from 'ava';
import * as net from 'node:net';
import { loadNative, type LoopEvent, type VhostTableSpec } from '../../src/native';
import { parseCgroupBody, servedBy } from '../helpers/client';
import { pickPort } from '../helpers/proc';
import { startNativeServer, type NativeServer } from '../helpers/native-server';

const native = loadNative();
const GROUPS = ['gold', 'bronze', '_default', '_server'];
const TABLE: VhostTableSpec = {
  vhosts: [
    { name: 'gold', hosts: ['gold.test'] },
    { name: 'bronze', hosts: ['bronze.test'] },
  ],
  listeners: [],
  defaultListenerMode: 'name',
  peekBytes: 1024,
};

async function startServer(classifyEach: 'request' | 'connection'): Promise<NativeServer> {
  const port = await pickPort(['127.0.0.1'], 19200, 19299);
  return startNativeServer({
    name: 'each',
    script: 'keepalive.py',
    args: ['127.0.0.1', String(port), '1'],
    port,
    traps: classifyEach === 'request' ? 'accept-requests' : 'accept',
    groups: GROUPS,
    loop: { classifyEach, vhostTable: TABLE },
  });
}

interface Report {
  pid: number;
  cgroup: string;
  request: string;
  body: number;
}

/** One keep-alive connection; send() writes its chunks (delayMs apart) and waits for one response. */
async function connect(port: number) {
  const s = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((res, rej) => {
    s.once('connect', res);
    s.once('error', rej);
  });
  let buf = Buffer.alloc(0);
  let waiter: (() => void) | null = null;
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    waiter?.();
  });
  s.on('close', () => waiter?.());
  s.on('error', () => undefined);
  const one = (): { report: Report; len: number } | null => {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const m = /Content-Length: (\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
    const len = end + 4 + Number(m?.[1] ?? 0);
    if (buf.length < len) return null;
    return { report: JSON.parse(buf.subarray(end + 4, len).toString()) as Report, len };
  };
  return {
    async send(chunks: (string | Buffer)[], delayMs = 150): Promise<Report & { group: string | null }> {
      for (const [i, c] of chunks.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, delayMs));
        s.write(c);
      }
      const deadline = Date.now() + 10000;
      for (;;) {
        const r = one();
        if (r) {
          buf = buf.subarray(r.len);
          const group = servedBy(parseCgroupBody(r.report.cgroup.split('\n').map((l) => (l ? `cgroup: ${l}` : '')).join('\n')));
          return { ...r.report, group };
        }
        if (s.destroyed || Date.now() > deadline) throw new Error(`no response (got ${JSON.stringify(buf.toString())})`);
        await new Promise<void>((res) => {
          const t = setTimeout(res, 200);
          waiter = () => {
            clearTimeout(t);
            res();
          };
        });
        waiter = null;
      }
    },
    close: () => s.destroy(),
  };
}

const get = (host: string, p = '/') => `GET ${p} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

test.serial('classifyEach request: each new request moves the worker before its read; bodies, cut-short heads and non-HTTP bytes never do', async (t) => {
  const srv = await startServer('request');
  try {
    const c = await connect(srv.port);
    const a = await c.send([get('gold.test')]);
    t.is(a.group, 'gold');
    const b = await c.send([get('bronze.test')]);
    t.is(b.group, 'bronze');
    t.is(b.pid, a.pid, 'one worker serves the connection');
    t.is((await c.send([get('unknown.test')])).group, '_default', 'a Host no vhost claims goes to _default');
    t.is((await c.send([get('gold.test')])).group, 'gold');

    // A body that arrives in a read of its own is not a request, even when it
    // starts with an upper-case letter and carries a Host line.
    const body = 'Host: bronze.test\r\n\r\nX';
    const post = await c.send([`POST /upload HTTP/1.1\r\nHost: gold.test\r\nContent-Length: ${body.length}\r\n\r\n`, body]);
    t.is(post.body, body.length);
    t.is(post.group, 'gold');
    const lower = 'get / http/1.1 host: bronze.test';
    t.is((await c.send([`POST /x HTTP/1.1\r\nHost: gold.test\r\nContent-Length: ${lower.length}\r\n\r\n`, lower])).group, 'gold');

    // A head cut short before its Host keeps the previous request's vhost.
    const cut = await c.send(['GET /cut HTTP/1.1\r\nHo', 'st: bronze.test\r\n\r\n']);
    t.is(cut.request, 'GET /cut HTTP/1.1');
    t.is(cut.group, 'gold');

    // The next whole request is classified again.
    t.is((await c.send([get('bronze.test')])).group, 'bronze');
    c.close();
    const before = srv.loop.stats().perRequest!;
    const d = await connect(srv.port);
    t.is((await d.send([get('gold.test')])).group, 'gold', 'a new connection (same worker, fd number reused) is classified at accept');
    t.is((await d.send([get('bronze.test')])).group, 'bronze', 'and watched again');
    // TLS records on a watched connection: no longer watched.
    const tls = await d.send([Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05]), Buffer.from('\r\n\r\n')])]);
    t.is(tls.group, 'bronze');
    t.is((await d.send([get('gold.test')])).group, 'bronze', 'after TLS bytes the connection keeps its vhost');
    d.close();

    const s = srv.loop.stats();
    const pr = s.perRequest!;
    t.log(JSON.stringify(pr));
    t.true(pr.moves >= 5, JSON.stringify(pr)); // bronze, _default, gold, bronze; bronze on the second connection
    t.is(pr.moveErrors, 0);
    t.true(pr.incomplete >= 1, 'the cut-short head was seen and left alone');
    t.true(pr.unwatched >= 1, 'TLS stopped the watch');
    t.is(pr.moves, pr.reclassified);
    t.true(pr.moves - before.moves >= 1);
    t.is(s.sendErrors, 0);
    t.is(s.timeouts, 0);
    // Accept mode reports the moves to policy (the latest per process, every 20 ms).
    await new Promise((r) => setTimeout(r, 100));
    const reported = srv.events.filter((e): e is Extract<LoopEvent, { kind: 'requests' }> => e.kind === 'requests').flatMap((e) => e.items);
    t.true(reported.length >= 1);
    t.true(reported.every((h) => h.moved && h.by !== undefined && h.group >= 0));
  } finally {
    await srv.stop();
  }
});

test.serial('classifyEach connection: reads are not trapped at accept, and the first request decides for the connection', async (t) => {
  const srv = await startServer('connection');
  try {
    const c = await connect(srv.port);
    t.is((await c.send([get('gold.test')])).group, 'gold');
    t.is((await c.send([get('bronze.test')])).group, 'gold');
    c.close();
    const s = srv.loop.stats();
    t.is(s.perRequest!.inspected, 0);
    // Only accept is trapped: a handful of notifications, not one per read.
    t.true(s.notifications <= 4, String(s.notifications));
  } finally {
    await srv.stop();
  }
});

test.serial('trap sets: at accept, classifyEach request adds only the reads (no close, dup or exec; never the fork family)', (t) => {
  t.deepEqual(native.trappedSyscalls.acceptRequests, ['accept', 'accept4', 'read', 'readv', 'recvfrom', 'recvmsg']);
});

test.serial('classifyEach request needs the table and the groups: refused, not crashed, without them', (t) => {
  const err = t.throws(() => new native.Loop(-1, { classifyEach: 'request' }, () => undefined));
  t.regex(err!.message, /classifyEach request needs vhostTable and groups/);
  const bad = t.throws(() => new native.Loop(-1, { classifyEach: 'request', vhostTable: TABLE, groups: [[]], defaultGroup: 5 }, () => undefined));
  t.regex(bad!.message, /defaultGroup/);
});
