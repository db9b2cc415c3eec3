import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_SOCKET_PATH, StatusServer } from '../../src/status/server';
import { MetricsAddressError, parseMetricsAddress } from '../../src/status/metrics';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

test('a status socket path too long for sun_path is refused with a clear error, nothing is bound', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-status-'));
  const long = path.join(dir, `${'x'.repeat(MAX_SOCKET_PATH)}.sock`);
  const srv = new StatusServer(long, () => ({}), quiet);
  await t.throwsAsync(srv.listen(), { message: /longer than 107 bytes/ });
  t.deepEqual(fs.readdirSync(dir), [], 'node would have bound a truncated path');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a status socket answers a status request and refuses garbage', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-status-'));
  const sock = path.join(dir, 'x.sock');
  const srv = new StatusServer(sock, () => ({ hello: 1 }), quiet);
  await srv.listen();
  t.is(fs.statSync(sock).mode & 0o777, 0o600);
  const ask = (line: string) =>
    new Promise<string>((resolve, reject) => {
      const net = require('node:net') as typeof import('node:net');
      const c = net.connect(sock, () => c.write(line));
      let b = '';
      c.on('data', (d) => (b += d));
      c.on('end', () => resolve(b));
      c.on('error', reject);
    });
  t.deepEqual(JSON.parse(await ask('{"cmd":"status"}\n')), { ok: true, status: { hello: 1 } });
  t.false(JSON.parse(await ask('nonsense\n')).ok);
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('parseMetricsAddress: HOST:PORT, [IPv6]:PORT, unix:/PATH; anything else says what is expected', (t) => {
  t.deepEqual(parseMetricsAddress('127.0.0.1:9464'), { kind: 'tcp', host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseMetricsAddress('[::1]:9464'), { kind: 'tcp', host: '::1', port: 9464 });
  t.deepEqual(parseMetricsAddress('localhost:80'), { kind: 'tcp', host: 'localhost', port: 80 });
  t.deepEqual(parseMetricsAddress('unix:/run/vhqos/m.sock'), { kind: 'unix', path: '/run/vhqos/m.sock' });
  for (const bad of ['9464', ':9464', '127.0.0.1:0', '127.0.0.1:65536', '::1:9464', 'unix:m.sock', '']) {
    t.throws(() => parseMetricsAddress(bad), { instanceOf: MetricsAddressError }, bad);
  }
});
