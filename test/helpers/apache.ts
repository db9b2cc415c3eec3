// A self-contained Apache 2.4 prefork site in a fresh temp dir, for tests,
// benchmarks and examples: name-based vhosts (gold.test, bronze.test and a
// catch-all "default") on one address, address-based vhosts (127.0.0.2,
// 127.0.0.3, optionally ::1) on the same port, optionally HTTPS with SNI,
// static pages and the whoami/burn CGIs (mod_cgi: the CGI is forked by the
// prefork child serving the request, so it reports that child's cgroup).
//
// makeApacheSite() only writes files. Launch site.argv under vhqos or with
// startBare(site); site.stop() stops it however it was launched.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installCgiScripts, makeTempDir } from './paths';
import {
  connectIp,
  findServerRoots,
  readProc,
  stopProcesses,
  startBare,
  waitForPort,
  type Endpoint,
  type ServerSpec,
} from './proc';

export { startBare, waitForPort, pickPort, isListening, type BareServer, type Endpoint } from './proc';

export const APACHE_BIN = '/usr/sbin/apache2';
export const APACHE_MODULES = '/usr/lib/apache2/modules';

export interface NameVhost {
  /** Label: Apache reports it to CGIs as VHOST_NAME; also the static page's text. */
  vhost: string;
  /** hosts[0] is the ServerName, the rest ServerAlias ("*.gold.test" allowed). */
  hosts: string[];
}

export interface AddressVhost {
  vhost: string;
  /** "127.0.0.2", "::1". */
  ip: string;
  /** Defaults to the site's port. */
  port?: number;
  /** Names on this address (hosts[0] the ServerName): name-based vhosts on one IP. Default none. */
  hosts?: string[];
}

export interface ApacheSiteOptions {
  /** HTTP port of the name-based vhosts, and default port of the address-based ones. */
  port: number;
  /** Address of the name-based vhosts. Default 127.0.0.1. */
  nameIp?: string;
  /**
   * Name-based vhosts on nameIp:port (and nameIp:httpsPort).
   * Default gold: [gold.test, *.gold.test], bronze: [bronze.test].
   */
  names?: NameVhost[];
  /**
   * Label of the catch-all vhost listed first on nameIp (Apache's default for
   * unknown Host / no SNI); its ServerName is "<label>.invalid". null: none, the
   * first of `names` is then Apache's default. Default "default".
   */
  defaultVhost?: string | null;
  /** Address-based vhosts. Default gold on 127.0.0.2, bronze on 127.0.0.3. [] for none. */
  addressVhosts?: AddressVhost[];
  /**
   * One `Listen PORT` on every address, the name-based vhosts on `*:PORT`
   * (Apache's usual layout; address vhosts then only pick connections to
   * their IP). Default false: one Listen per address, names on nameIp.
   */
  listenAll?: boolean;
  /** Load mod_http2 and allow h2c (prior knowledge and Upgrade) besides HTTP/1.1. */
  h2c?: boolean;
  /** If set, HTTPS with SNI on nameIp:httpsPort, one self-signed cert per name-based vhost. */
  httpsPort?: number;
  startServers?: number; // default 2
  minSpareServers?: number; // default 2
  maxSpareServers?: number; // default 4
  maxRequestWorkers?: number; // default 16
  maxConnectionsPerChild?: number; // default 0 (unlimited)
  /** Default false: one request per connection, so each request is a new classification. */
  keepAlive?: boolean;
  /** Write logs/access.log (with %P, the serving child's pid). Default false. */
  accessLog?: boolean;
  /** Workers' user/group (Apache refuses to run them as root). Default www-data. */
  user?: string;
  group?: string;
  /** Default "warn". */
  logLevel?: string;
  /** Appended verbatim to the config. */
  extraConfig?: string;
  /** Run `apache2 -t` on the result. Default true. */
  check?: boolean;
}

export interface ApacheSite extends ServerSpec {
  /** dir/apache2.conf */
  conf: string;
  ports: { http: number; https?: number };
  /** Name-based vhosts in config order, including the catch-all. */
  names: NameVhost[];
  addressVhosts: AddressVhost[];
  /** Master pid from the PidFile, or null when not running. */
  masterPid(): number | null;
  /** dir/logs/error.log so far. */
  errorLog(): string;
  /** PEM cert of a name-based vhost label (HTTPS only). */
  certFile(vhost: string): string | undefined;
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function q(p: string): string {
  if (/["\s]/.test(p)) throw new Error(`apache: path with quote or space not supported: ${p}`);
  return `"${p}"`;
}

function makeCert(dir: string, vhost: NameVhost): { crt: string; key: string } {
  const crt = path.join(dir, `${vhost.vhost}.crt`);
  const key = path.join(dir, `${vhost.vhost}.key`);
  const san = vhost.hosts.map((h) => `DNS:${h}`).join(',');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
      '-subj', `/CN=${vhost.hosts[0]}/O=vhqos test ${vhost.vhost}`,
      '-addext', `subjectAltName=${san}`,
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-keyout', key, '-out', crt,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { crt, key };
}

/** Write the site (config, docroots, CGIs, certs) into a fresh temp dir. Does not start Apache. */
export async function makeApacheSite(opts: ApacheSiteOptions): Promise<ApacheSite> {
  const nameIp = opts.nameIp ?? '127.0.0.1';
  const defaultLabel = opts.defaultVhost === undefined ? 'default' : opts.defaultVhost;
  const userNames = opts.names ?? [
    { vhost: 'gold', hosts: ['gold.test', '*.gold.test'] },
    { vhost: 'bronze', hosts: ['bronze.test'] },
  ];
  const names: NameVhost[] = [
    ...(defaultLabel ? [{ vhost: defaultLabel, hosts: [`${defaultLabel}.invalid`] }] : []),
    ...userNames,
  ];
  const addressVhosts = (
    opts.addressVhosts ?? [
      { vhost: 'gold', ip: '127.0.0.2' },
      { vhost: 'bronze', ip: '127.0.0.3' },
    ]
  ).map((a) => ({ ...a, port: a.port ?? opts.port }));
  for (const v of [...names, ...addressVhosts]) {
    if (!/^[A-Za-z0-9_.-]+$/.test(v.vhost)) throw new Error(`apache: bad vhost label ${v.vhost}`);
  }

  const dir = makeTempDir('vhqos-apache');
  const run = path.join(dir, 'run');
  const logs = path.join(dir, 'logs');
  const htdocs = path.join(dir, 'htdocs');
  const tls = path.join(dir, 'tls');
  fs.mkdirSync(run, { mode: 0o755 });
  fs.mkdirSync(logs, { mode: 0o755 });
  fs.mkdirSync(htdocs, { mode: 0o755 });
  const cgi = installCgiScripts(path.join(dir, 'cgi-bin'));
  fs.writeFileSync(path.join(dir, 'mime.types'), '');
  const labels = new Set([...names.map((n) => n.vhost), ...addressVhosts.map((a) => a.vhost)]);
  for (const label of labels) {
    const d = path.join(htdocs, label);
    fs.mkdirSync(d, { mode: 0o755 });
    fs.writeFileSync(path.join(d, 'index.html'), `<!doctype html><title>${label}</title><p>vhost: ${label}</p>\n`, {
      mode: 0o644,
    });
    fs.writeFileSync(path.join(d, 'hello.txt'), `hello from ${label}\n`, { mode: 0o644 });
  }

  const certs = new Map<string, { crt: string; key: string }>();
  if (opts.httpsPort !== undefined) {
    fs.mkdirSync(tls, { mode: 0o700 });
    for (const n of names) certs.set(n.vhost, makeCert(tls, n));
  }

  const user = opts.user ?? 'www-data';
  const group = opts.group ?? user;
  const maxWorkers = opts.maxRequestWorkers ?? 16;
  const mod = (name: string, file: string) => `LoadModule ${name}_module ${APACHE_MODULES}/${file}`;
  const all = opts.listenAll ?? false;
  const listens: Endpoint[] = [{ ip: all ? '0.0.0.0' : nameIp, port: opts.port }];
  for (const a of addressVhosts) {
    if (all && a.port === opts.port) continue;
    if (!listens.some((l) => l.ip === a.ip && l.port === a.port)) listens.push({ ip: a.ip, port: a.port });
  }
  const nameAddr = all ? `*:${opts.port}` : hostPort(nameIp, opts.port);

  const vhostBlock = (addr: string, v: { vhost: string }, serverName: string, aliases: string[], extra = '') =>
    [
      `<VirtualHost ${addr}>`,
      `    ServerName ${serverName}`,
      ...(aliases.length ? [`    ServerAlias ${aliases.join(' ')}`] : []),
      `    DocumentRoot ${q(path.join(htdocs, v.vhost))}`,
      `    SetEnv VHOST_NAME ${v.vhost}`,
      ...(extra ? [extra] : []),
      `</VirtualHost>`,
    ].join('\n');

  const lines: string[] = [
    `# Generated by vhqos test/helpers/apache.ts — Apache 2.4 prefork, self-contained.`,
    `ServerRoot ${q(dir)}`,
    `DefaultRuntimeDir ${q(run)}`,
    `PidFile ${q(path.join(run, 'apache2.pid'))}`,
    `Mutex file:${run} default`,
    `ErrorLog ${q(path.join(logs, 'error.log'))}`,
    `LogLevel ${opts.logLevel ?? 'warn'}`,
    ``,
    mod('mpm_prefork', 'mod_mpm_prefork.so'),
    mod('authz_core', 'mod_authz_core.so'),
    mod('mime', 'mod_mime.so'),
    mod('cgi', 'mod_cgi.so'),
    mod('dir', 'mod_dir.so'),
    mod('alias', 'mod_alias.so'),
    mod('env', 'mod_env.so'),
    mod('setenvif', 'mod_setenvif.so'),
    `<IfModule !log_config_module>`,
    `    ${mod('log_config', 'mod_log_config.so')}`,
    `</IfModule>`,
    ...(opts.httpsPort !== undefined
      ? [mod('socache_shmcb', 'mod_socache_shmcb.so'), mod('ssl', 'mod_ssl.so')]
      : []),
    ...(opts.h2c ? [mod('http2', 'mod_http2.so'), `Protocols h2c http/1.1`] : []),
    ``,
    `# Apache refuses to run its workers as root.`,
    `User ${user}`,
    `Group ${group}`,
    `ServerName localhost`,
    `ServerTokens Prod`,
    `HostnameLookups Off`,
    `UseCanonicalName Off`,
    `UseCanonicalPhysicalPort On`,
    `Timeout 30`,
    `KeepAlive ${opts.keepAlive ? 'On' : 'Off'}`,
    `MaxKeepAliveRequests 1000`,
    `KeepAliveTimeout 5`,
    ``,
    `StartServers ${opts.startServers ?? 2}`,
    `MinSpareServers ${opts.minSpareServers ?? 2}`,
    `MaxSpareServers ${opts.maxSpareServers ?? 4}`,
    `ServerLimit ${Math.max(maxWorkers, 16)}`,
    `MaxRequestWorkers ${maxWorkers}`,
    `MaxConnectionsPerChild ${opts.maxConnectionsPerChild ?? 0}`,
    ``,
    `TypesConfig ${q(path.join(dir, 'mime.types'))}`,
    `AddType text/html .html`,
    `AddType text/plain .txt`,
    `DirectoryIndex index.html`,
    `<Directory />`,
    `    AllowOverride None`,
    `    Require all denied`,
    `</Directory>`,
    `<Directory ${q(htdocs)}>`,
    `    Options None`,
    `    Require all granted`,
    `</Directory>`,
    `<Directory ${q(cgi.dir)}>`,
    `    Options +ExecCGI`,
    `    SetHandler cgi-script`,
    `    Require all granted`,
    `</Directory>`,
    `ScriptAlias /cgi-bin/ ${q(cgi.dir + '/')}`,
    `ScriptAlias /whoami ${q(cgi.whoami)}`,
    `ScriptAlias /burn ${q(cgi.burn)}`,
    `SetEnv VHQOS_SERVER_KIND apache`,
    `LogFormat "%a %A:%{local}p %{Host}i %v \\"%r\\" %>s %b pid=%P %Dus" vhqos`,
    ...(opts.accessLog ? [`CustomLog ${q(path.join(logs, 'access.log'))} vhqos`] : []),
    ``,
    ...listens.map((l) => (l.ip === '0.0.0.0' ? `Listen ${l.port}` : `Listen ${hostPort(l.ip, l.port)}`)),
    ``,
    `# Name-based: ${names.map((n) => n.hosts[0]).join(', ')} on ${nameAddr} (the first is the default).`,
    ...names.map((n) => vhostBlock(nameAddr, n, n.hosts[0], n.hosts.slice(1))),
    ``,
    `# Address-based (the first on an address is its default).`,
    ...addressVhosts.map((a) =>
      vhostBlock(hostPort(a.ip, a.port), a, a.hosts?.[0] ?? `${a.vhost}.addr.invalid`, a.hosts?.slice(1) ?? []),
    ),
  ];

  if (opts.httpsPort !== undefined) {
    lines.push(
      ``,
      `# HTTPS, name-based with SNI on ${hostPort(nameIp, opts.httpsPort)}.`,
      `Listen ${hostPort(nameIp, opts.httpsPort)} https`,
      `SSLSessionCache shmcb:${run}/ssl_scache(512000)`,
      `SSLRandomSeed startup builtin`,
      `SSLRandomSeed connect builtin`,
      `SSLProtocol all -SSLv3`,
      `SSLStrictSNIVHostCheck Off`,
      ...names.map((n) => {
        const c = certs.get(n.vhost) as { crt: string; key: string };
        return vhostBlock(
          hostPort(nameIp, opts.httpsPort as number),
          n,
          n.hosts[0],
          n.hosts.slice(1),
          [
            `    SSLEngine on`,
            `    SSLCertificateFile ${q(c.crt)}`,
            `    SSLCertificateKeyFile ${q(c.key)}`,
          ].join('\n'),
        );
      }),
    );
    listens.push({ ip: nameIp, port: opts.httpsPort });
  }
  if (opts.extraConfig) lines.push('', opts.extraConfig);
  const conf = path.join(dir, 'apache2.conf');
  fs.writeFileSync(conf, lines.join('\n') + '\n');

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LANG: 'C',
    APACHE_RUN_DIR: run,
    APACHE_LOCK_DIR: run,
    APACHE_PID_FILE: path.join(run, 'apache2.pid'),
    APACHE_LOG_DIR: logs,
    APACHE_RUN_USER: user,
    APACHE_RUN_GROUP: group,
  };
  const argv = [APACHE_BIN, '-f', conf, '-DFOREGROUND'];

  if (opts.check ?? true) {
    try {
      execFileSync(APACHE_BIN, ['-t', '-f', conf], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: Buffer };
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`apache2 -t rejected ${conf}: ${err.stderr?.toString() ?? String(e)}`);
    }
  }

  const pidFile = path.join(run, 'apache2.pid');
  const masterPid = (): number | null => {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    } catch {
      return null;
    }
    const p = pid > 0 ? readProc(pid) : null;
    return p && p.state !== 'Z' && p.argv.includes(conf) ? pid : null;
  };

  const site: ApacheSite = {
    dir,
    conf,
    argv,
    env,
    listens,
    ports: { http: opts.port, ...(opts.httpsPort !== undefined ? { https: opts.httpsPort } : {}) },
    names,
    addressVhosts,
    masterPid,
    errorLog: () => {
      try {
        return fs.readFileSync(path.join(logs, 'error.log'), 'utf8');
      } catch {
        return '';
      }
    },
    certFile: (vhost) => certs.get(vhost)?.crt,
    async stop() {
      // The master is whoever runs exactly argv with a parent that does not
      // (cross-checked with the PidFile); Apache then stops its children.
      const roots = findServerRoots(argv);
      const pid = masterPid();
      if (pid !== null && !roots.some((r) => r.pid === pid)) {
        const p = readProc(pid);
        if (p) roots.push(p);
      }
      await stopProcesses(roots, { marker: dir, graceMs: 10000 });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return site;
}

/** Start the site without vhqos (benchmark baseline) and wait for all its ports. */
export function startApacheBare(site: ApacheSite, opts: { timeoutMs?: number } = {}) {
  return startBare(site, opts);
}

/** Wait until the site accepts on every listen address. */
export async function waitForSite(site: ApacheSite, timeoutMs = 15000): Promise<void> {
  await Promise.all(site.listens.map((l) => waitForPort(connectIp(l.ip), l.port, timeoutMs)));
}
