// `vhqos import apache` against real Apache: the site in
// test/fixtures/apache-import/mixed (name-based with aliases and wildcards, a
// name shadowed by an earlier wildcard, IP-based alone and shared, a vhost on
// an IP and *:PORT at once, ip:* beside ip:port, two *:PORT chains, HTTPS by SNI on a third) is
// imported through the real `apache2ctl -S`; the config must pass the real
// loader, and for every request below real Apache serves a file naming its
// <VirtualHost> while the vhqos classifier (pure, over the imported config)
// must pick a vhost imported from that same <VirtualHost> (or `_default`
// where Apache uses a *:PORT default), by Host and by SNI. Plus the command's errors.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { createClassifier } from '../../src/classify/classifier';
import { parseConfig } from '../../src/config/load';
import { importApache } from '../../src/cli/import-command';
import type { ImportPlan, ImportedSource } from '../../src/apache-import/to-config';
import { APACHE_BIN, pickPort, startBare, type BareServer } from '../helpers/apache';
import { makeTempDir, repoRoot } from '../helpers/paths';
import { requires, tools } from '../helpers/requires';

const IPS = ['127.0.0.1', '127.0.0.81', '127.0.0.82', '127.0.0.83', '127.0.0.84'];
const bin = path.join(repoRoot(), 'bin', 'vhqos.js');
const vhqos = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60000 });
const serial = requires(...tools('apache2')).serial;

interface Site {
  dir: string;
  conf: string;
  ports: [number, number, number];
}

/** Copy a fixture site into a temp dir with its placeholders filled in and a who.txt per DocumentRoot. */
function makeSite(fixture: string, [port, port2, port3]: [number, number, number]): Site {
  const dir = makeTempDir('vhqos-import');
  const from = path.join(repoRoot(), 'test', 'fixtures', 'apache-import', fixture);
  fs.cpSync(from, dir, { recursive: true });
  for (const d of ['run', 'logs', 'docs/main']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const files = [path.join(dir, 'apache2.conf'), ...fs.readdirSync(path.join(dir, 'sites')).map((f) => path.join(dir, 'sites', f))];
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8').replace(/@ROOT@/g, dir).replace(/@PORT2@/g, String(port2)).replace(/@PORT3@/g, String(port3)).replace(/@PORT@/g, String(port));
    fs.writeFileSync(f, text);
    for (const m of text.matchAll(/DocumentRoot "[^"]*\/docs\/([a-z0-9]+)"/g)) {
      fs.mkdirSync(path.join(dir, 'docs', m[1]), { recursive: true });
      fs.writeFileSync(path.join(dir, 'docs', m[1], 'who.txt'), `${m[1]}\n`);
    }
    for (const m of text.matchAll(/SSLCertificateFile "[^"]*\/tls\/([a-z0-9]+)\.crt"/g)) selfSigned(path.join(dir, 'tls'), m[1]);
  }
  fs.writeFileSync(path.join(dir, 'docs', 'main', 'who.txt'), 'main\n');
  spawnSync('chmod', ['-R', 'a+rX', dir]);
  return { dir, conf: path.join(dir, 'apache2.conf'), ports: [port, port2, port3] };
}

function selfSigned(dir: string, label: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${label}.test`,
    '-keyout', path.join(dir, `${label}.key`), '-out', path.join(dir, `${label}.crt`),
  ], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
}

async function threePorts(): Promise<[number, number, number]> {
  const ports: number[] = [];
  while (ports.length < 3) {
    const p = await pickPort(IPS, 47300, 47899);
    if (!ports.includes(p)) ports.push(p);
  }
  return ports as [number, number, number];
}

/** The label of the <VirtualHost> at file:line: its DocumentRoot's last component. */
function labelAt(file: string, line: number): string {
  const lines = fs.readFileSync(file, 'utf8').split('\n').slice(line - 1);
  for (const l of lines) {
    const m = /DocumentRoot "[^"]*\/docs\/([a-z0-9]+)"/.exec(l);
    if (m) return m[1];
    if (/<\/VirtualHost>/.test(l)) break;
  }
  throw new Error(`no DocumentRoot in the <VirtualHost> at ${file}:${line}`);
}

/** The Apache labels a vhqos verdict stands for on a port (`null`: the *:PORT default there, else the main server). */
function labelsOf(plan: ImportPlan, vhost: string | null, port: number): string[] {
  const sources: ImportedSource[] =
    vhost === null ? plan.defaultSources.filter((s) => s.chain === `*:${port}`) : (plan.vhosts.find((v) => v.name === vhost)?.sources ?? []);
  const labels = [...new Set(sources.map((s) => labelAt(s.file, s.line)))];
  return vhost === null && labels.length === 0 ? ['main'] : labels;
}

/** Send exactly `head`, read the whole response (KeepAlive Off), return its body. */
function request(ip: string, port: number, head: string): Promise<string> {
  const s = net.connect({ host: ip, port }, () => s.end(head));
  return bodyOf(s, `${ip}:${port}`);
}

/** The body of a response read from a socket that closes after it. */
function bodyOf(s: net.Socket, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.setTimeout(10000, () => s.destroy(new Error(`timeout ${what}`)));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const at = text.indexOf('\r\n\r\n');
      if (!/^HTTP\/1\.[01] 200 /.test(text) || at < 0) return reject(new Error(`${what}: ${text.split('\r\n')[0] || 'no response'}`));
      resolve(text.slice(at + 4).trim());
    });
  });
}

/** HTTPS: SNI `servername` (none when undefined), then exactly `head`. */
function tlsRequest(ip: string, port: number, servername: string | undefined, head: string): Promise<string> {
  const s = tls.connect({ host: ip, port, servername, rejectUnauthorized: false }, () => s.end(head));
  return bodyOf(s, `https ${ip}:${port}`);
}

/** The ClientHello node sends for `servername`: what vhqos would peek at. */
function clientHello(servername: string | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((c) => {
      c.once('data', (b: Buffer) => {
        resolve(b);
        c.destroy();
        srv.close();
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
      s.on('error', () => undefined);
    });
    srv.on('error', reject);
  });
}

const get = (host: string | null) =>
  host === null ? 'GET /who.txt HTTP/1.0\r\n\r\n' : `GET /who.txt HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

/** [local ip, which port (3: HTTPS, SNI = Host), Host (null: none), the <VirtualHost> Apache is expected to serve]. */
type Case = [string, 1 | 2 | 3, string | null, string];
const CASES: Case[] = [
  // *:PORT, by name; catchall is its default
  ['127.0.0.1', 1, 'catchall.test', 'catchall'],
  ['127.0.0.1', 1, 'gold.test', 'gold'],
  ['127.0.0.1', 1, 'WWW.Gold.Test', 'gold'],
  ['127.0.0.1', 1, 'a.b.gold.test', 'gold'],
  ['127.0.0.1', 1, 'gold.test:8080', 'gold'],
  ['127.0.0.1', 1, 'shop.gold.test', 'gold'], // silver's alias, but gold's wildcard comes first
  ['127.0.0.1', 1, 'silver.test', 'silver'],
  ['127.0.0.1', 1, 'silver.example', 'silver'],
  ['127.0.0.1', 1, 'mixed.test', 'mixed'],
  ['127.0.0.1', 1, 'www.mixed.test', 'mixed'],
  ['127.0.0.1', 1, 'unknown.test', 'catchall'],
  ['127.0.0.1', 1, null, 'catchall'],
  ['127.0.0.1', 1, 'lead.test', 'catchall'], // IP-based names do not count on other addresses
  ['127.0.0.1', 1, 'platinum.test', 'catchall'],
  ['127.0.0.1', 1, 'anyport.test', 'catchall'],
  // IP-based alone: every name
  ['127.0.0.81', 1, 'lead.test', 'lead'],
  ['127.0.0.81', 1, 'gold.test', 'lead'],
  ['127.0.0.81', 1, null, 'lead'],
  // two on one IP
  ['127.0.0.82', 1, 'platinum.test', 'platinum'],
  ['127.0.0.82', 1, 'x.platinum.test', 'platinum'],
  ['127.0.0.82', 1, 'ipdefault.test', 'ipdefault'],
  ['127.0.0.82', 1, 'alias.ipdefault.test', 'ipdefault'],
  ['127.0.0.82', 1, 'gold.test', 'ipdefault'],
  ['127.0.0.82', 1, null, 'ipdefault'],
  // mixed: its own address
  ['127.0.0.83', 1, 'mixed.test', 'mixed'],
  ['127.0.0.83', 1, 'gold.test', 'mixed'],
  ['127.0.0.83', 1, null, 'mixed'],
  // ip:* and ip:PORT2
  ['127.0.0.84', 1, 'anyport.test', 'anyport'],
  ['127.0.0.84', 1, 'gold.test', 'anyport'],
  ['127.0.0.84', 2, 'anyport.test', 'p2only'],
  ['127.0.0.84', 2, null, 'p2only'],
  // *:PORT2: default2 first, gold again
  ['127.0.0.1', 2, 'gold.test', 'gold2'],
  ['127.0.0.1', 2, 'sub.gold.test', 'gold2'],
  ['127.0.0.1', 2, 'default2.test', 'default2'],
  ['127.0.0.1', 2, 'unknown.test', 'default2'],
  ['127.0.0.1', 2, null, 'default2'],
  ['127.0.0.81', 2, 'gold.test', 'gold2'], // lead is 127.0.0.81:PORT only
  ['127.0.0.81', 2, 'nobody.test', 'default2'],
  // *:PORT3, HTTPS: the SNI picks (gold's names again)
  ['127.0.0.1', 3, 'gold.test', 'goldtls'],
  ['127.0.0.1', 3, 'a.gold.test', 'goldtls'],
  ['127.0.0.1', 3, 'tlsdefault.test', 'tlsdefault'],
  ['127.0.0.1', 3, 'unknown.test', 'tlsdefault'],
  ['127.0.0.1', 3, null, 'tlsdefault'],
];

serial('the imported config passes the loader, and classifies every request as real Apache serves it', async (t) => {
  const site = makeSite('mixed', await threePorts());
  let apache: BareServer | undefined;
  try {
    const imported = importApache({ config: site.conf });
    const config = parseConfig(imported.text, 'imported');
    t.log(imported.command);
    t.true(config.vhosts.length >= 8, imported.text);
    // The shapes the import must have found (the rest is checked against Apache).
    const byName = new Map(config.vhosts.map((v) => [v.name, v]));
    t.deepEqual(byName.get('lead.test')?.hosts, []);
    t.deepEqual(byName.get('silver.test')?.hosts, ['silver.test', 'silver.example']);
    t.truthy(byName.get('mixed.test') && byName.get('mixed.test-by-address'), imported.text);
    t.regex(imported.text, /PLACEHOLDER/);

    // The command line prints the same config.
    const cli = vhqos('import', 'apache', '--config', site.conf);
    t.is(cli.status, 0, cli.stderr);
    t.is(cli.stdout, imported.text);

    apache = await startBare({
      dir: site.dir,
      argv: [APACHE_BIN, '-f', site.conf, '-DFOREGROUND'],
      env: { ...process.env, LANG: 'C' },
      listens: site.ports.map((port) => ({ ip: '0.0.0.0', port })),
    });
    const classify = createClassifier(config);
    const wrong: string[] = [];
    for (const [ip, which, host, expected] of CASES) {
      const p = site.ports[which - 1];
      const head = get(host);
      const served = which === 3 ? await tlsRequest(ip, p, host ?? undefined, head) : await request(ip, p, head);
      const firstBytes = which === 3 ? await clientHello(host ?? undefined) : Buffer.from(head, 'latin1');
      const verdict = classify({ local: { ip, port: p }, firstBytes });
      const stands = labelsOf(imported.plan, verdict.vhost, p);
      const what = `${ip}:PORT${which === 1 ? '' : which} ${which === 3 ? 'SNI' : 'Host'} ${host ?? '(none)'}: Apache served ${served}, vhqos picked ${verdict.vhost ?? '_default'} (= ${stands.join('|')})`;
      if (served !== expected) wrong.push(`${what}; this test expected Apache to serve ${expected}`);
      else if (!stands.includes(served)) wrong.push(what);
    }
    t.deepEqual(wrong, [], imported.text);
    t.log(`${CASES.length} requests agree`);
  } finally {
    await apache?.stop();
    fs.rmSync(site.dir, { recursive: true, force: true });
  }
});

serial('writes --output; a syntax error shows Apache\'s message and exits 1; a missing apachectl says so', async (t) => {
  const site = makeSite('mixed', await threePorts());
  try {
    const out = path.join(site.dir, 'vhqos.yaml');
    const ok = vhqos('import', 'apache', '--config', site.conf, '--output', out);
    t.is(ok.status, 0, ok.stderr);
    t.is(ok.stdout, '');
    t.notThrows(() => parseConfig(fs.readFileSync(out, 'utf8')));
    const v = vhqos('validate', out);
    t.is(v.status, 0, v.stderr);

    fs.appendFileSync(site.conf, '<VirtualHost *:80>\nServerName unclosed.test\n');
    const bad = vhqos('import', 'apache', '--config', site.conf);
    t.is(bad.status, 1);
    t.regex(bad.stderr, /<VirtualHost> was not closed/);
    t.regex(bad.stderr, /^vhqos import apache: /);
    t.is(bad.stdout, '');

    const none = vhqos('import', 'apache', '--config', site.conf, '--apachectl', '/nonexistent/apachectl');
    t.is(none.status, 1);
    t.regex(none.stderr, /\/nonexistent\/apachectl: not found/);

    // A bare binary given as --apachectl works too (apache2 -f CONF -S).
    fs.writeFileSync(site.conf, fs.readFileSync(site.conf, 'utf8').replace(/<VirtualHost \*:80>\nServerName unclosed.test\n$/, ''));
    const direct = vhqos('import', 'apache', '--config', site.conf, '--apachectl', APACHE_BIN);
    t.is(direct.status, 0, direct.stderr);
    t.regex(direct.stdout, /"lead\.test":/);
  } finally {
    fs.rmSync(site.dir, { recursive: true, force: true });
  }
});
