// Fork-after-accept servers, the inetd shape: the parent accepts, forks, and
// the child serves the connection (tcpserver, socat-nofork and xinetd: dup2
// the socket onto 0/1(/2) and exec the handler; socat: a forked relay between
// the socket and the exec'd handler; busybox httpd: the child reads the
// request and forks the CGI). Every variant answers /whoami and /burn?ms=N
// with the report of test/fixtures/cgi/whoami, so a test can tell which
// cgroup served it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installCgiScripts, makeTempDir } from './paths';
import { findServerRoots, stopProcesses, type Endpoint, type ServerSpec } from './proc';

export { startBare, waitForPort, pickPort, isListening, connectIp, type BareServer, type Endpoint } from './proc';

export type InetdKind =
  /** ucspi-tcp tcpserver: fork, dup2(conn, 0/1), exec handler. IPv4 only. */
  | 'tcpserver'
  /** socat TCP-LISTEN,fork EXEC:handler: the forked socat child relays between socket and handler. */
  | 'socat'
  /** socat ... EXEC:handler,nofork: the forked child dup2s the socket onto 0/1 and execs the handler. */
  | 'socat-nofork'
  /** busybox httpd -f: forked child reads the request, forks+execs the CGI. */
  | 'busybox-httpd'
  /**
   * xinetd -dontfork, one UNLISTED stream service (wait = no): fork, dup2(conn,
   * 0/1/2), exec handler. The handler's stderr goes to the client too. On
   * "::", IPv4 clients are seen at their plain IPv4 address (see xinetdConfig).
   */
  | 'xinetd';

export const INETD_KINDS: readonly InetdKind[] = ['tcpserver', 'socat', 'socat-nofork', 'busybox-httpd', 'xinetd'];

export const TCPSERVER_BIN = '/usr/bin/tcpserver';
export const SOCAT_BIN = '/usr/bin/socat';
export const BUSYBOX_BIN = '/bin/busybox';
export const XINETD_BIN = '/usr/sbin/xinetd';

export interface InetdOptions {
  kind: InetdKind;
  /**
   * Listen address. "::" listens dual-stack (socat, busybox-httpd, xinetd): an
   * IPv4 client connecting to 127.0.0.2 is seen at local address
   * ::ffff:127.0.0.2 (xinetd: at 127.0.0.2, see xinetdConfig).
   */
  ip: string;
  port: number;
  /**
   * Concurrent connections (tcpserver -c, socat max-children, xinetd
   * instances). Default 64; xinetd 1024.
   */
  maxConnections?: number;
}

export interface InetdServer extends ServerSpec {
  kind: InetdKind;
  ip: string;
  port: number;
  /** The handler or CGI dir inside `dir`. */
  cgiDir: string;
  /**
   * Request paths that work on this server. "/cgi-bin/whoami" and
   * "/cgi-bin/burn?ms=N" work on every kind (busybox httpd runs CGIs only
   * there); tcpserver, socat and xinetd also answer "/whoami" and "/burn".
   */
  paths: { whoami: string; burn: (ms: number) => string };
}

function binFor(kind: InetdKind): string {
  switch (kind) {
    case 'tcpserver':
      return TCPSERVER_BIN;
    case 'busybox-httpd':
      return BUSYBOX_BIN;
    case 'xinetd':
      return XINETD_BIN;
    default:
      return SOCAT_BIN;
  }
}

/** Write the handler/CGIs into a fresh temp dir and return the command line. Does not start anything. */
export async function makeInetdServer(opts: InetdOptions): Promise<InetdServer> {
  const { kind, ip, port } = opts;
  const max = opts.maxConnections ?? (kind === 'xinetd' ? 1024 : 64);
  const bin = binFor(kind);
  if (!fs.existsSync(bin)) throw new Error(`${kind}: ${bin} is not installed`);
  const v6 = ip.includes(':');
  if (kind === 'tcpserver' && v6) throw new Error('tcpserver (ucspi-tcp) is IPv4 only');

  const dir = makeTempDir(`vhqos-${kind}`);
  const home = path.join(dir, 'www');
  fs.mkdirSync(home, { mode: 0o755 });
  fs.writeFileSync(path.join(home, 'index.html'), `${kind}: try /cgi-bin/whoami\n`);
  const cgi = installCgiScripts(path.join(home, 'cgi-bin'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LANG: 'C',
    VHQOS_SERVER_KIND: kind,
    VHQOS_CGI_DIR: cgi.dir,
  };

  let argv: string[];
  switch (kind) {
    case 'tcpserver':
      // -R no ident lookup, -H no DNS, -l 0 no local name lookup.
      argv = [bin, '-R', '-H', '-l', '0', '-c', String(max), ip, String(port), cgi.handler];
      break;
    case 'socat':
    case 'socat-nofork': {
      const listen = v6
        ? `TCP6-LISTEN:${port},bind=[${ip}],ipv6only=${ip === '::' ? 0 : 1},fork,reuseaddr,max-children=${max}`
        : `TCP4-LISTEN:${port},bind=${ip},fork,reuseaddr,max-children=${max}`;
      argv = [bin, listen, `EXEC:${cgi.handler}${kind === 'socat-nofork' ? ',nofork' : ''}`];
      break;
    }
    case 'busybox-httpd': {
      const conf = path.join(dir, 'httpd.conf'); // keep /etc/httpd.conf out of it
      fs.writeFileSync(conf, '');
      argv = [bin, 'httpd', '-f', '-p', `${v6 ? `[${ip}]` : ip}:${port}`, '-h', home, '-c', conf];
      break;
    }
    case 'xinetd': {
      const conf = path.join(dir, 'xinetd.conf');
      fs.writeFileSync(conf, xinetdConfig({ dir, ip, port, max, server: cgi.handler }));
      // -dontfork: stay in the foreground (implies -stayalive). Its own
      // messages to -filelog; the service's START/EXIT lines to service.log.
      argv = [bin, '-dontfork', '-f', conf, '-pidfile', path.join(dir, 'xinetd.pid'), '-filelog', path.join(dir, 'xinetd.log')];
      break;
    }
  }
  const listens: Endpoint[] = [{ ip, port }];
  return {
    kind,
    ip,
    port,
    dir,
    cgiDir: cgi.dir,
    paths: { whoami: '/cgi-bin/whoami', burn: (ms: number) => `/cgi-bin/burn?ms=${ms}` },
    argv,
    env,
    listens,
    async stop() {
      await stopProcesses(findServerRoots(argv), { marker: dir, graceMs: 5000 });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A self-contained xinetd.conf (no includedir: /etc/xinetd.d stays out of it)
 * with one UNLISTED service running `server` for every connection. xinetd
 * passes its whole environment on (no passenv), and adds REMOTE_HOST, the
 * peer's address; inetd-handler finds the local address from its fd 0.
 */
function xinetdConfig(o: { dir: string; ip: string; port: number; max: number; server: string }): string {
  const v6 = o.ip.includes(':');
  return [
    'defaults',
    '{',
    `  log_type       = FILE ${path.join(o.dir, 'service.log')}`,
    '  log_on_success = PID HOST EXIT DURATION',
    '  log_on_failure = HOST ATTEMPT',
    '}',
    '',
    'service vhqos-whoami',
    '{',
    '  type        = UNLISTED',
    '  socket_type = stream',
    '  protocol    = tcp',
    '  wait        = no',
    '  user        = root',
    `  server      = ${o.server}`,
    `  port        = ${o.port}`,
    // "::" with IPv6 is dual-stack (xinetd leaves IPV6_V6ONLY alone), and
    // xinetd tries to convert each accepted v4-mapped connection to AF_INET
    // (IPV6_ADDRFORM) before forking. Where the kernel has that option the
    // server sees 127.0.0.2, not ::ffff:127.0.0.2, unless the connection had
    // left ESTABLISHED by then; where it has not (ENOPROTOOPT, seen on 6.18.44)
    // the socket stays AF_INET6 (kernelConvertsMappedSockets).
    `  bind        = ${o.ip}`,
    // NOLIBWRAP: /etc/hosts.allow and hosts.deny stay out of it.
    `  flags       = ${v6 ? 'IPv6' : 'IPv4'} NOLIBWRAP`,
    `  instances   = ${o.max}`,
    '  per_source  = UNLIMITED',
    // The default (50 10) would disable the service for 10 s under a test's bursts.
    '  cps         = 10000 1',
    '}',
    '',
  ].join('\n');
}

/**
 * Whether this kernel still turns an accepted v4-mapped AF_INET6 socket into
 * AF_INET (setsockopt IPV6_ADDRFORM), which xinetd attempts on every such
 * connection: some kernels answer ENOPROTOOPT. Asked once, through python3
 * (node cannot set that option), on a loopback connection of its own.
 */
export function kernelConvertsMappedSockets(): boolean {
  if (addrformAnswer === undefined) {
    const probe = [
      'import errno, socket',
      'l = socket.socket(socket.AF_INET6)',
      'l.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)',
      "l.bind(('::ffff:127.0.0.1', 0)); l.listen(1)",
      "c = socket.create_connection(('127.0.0.1', l.getsockname()[1]))",
      'a, _ = l.accept()',
      'try:',
      '    a.setsockopt(socket.IPPROTO_IPV6, 1, socket.AF_INET)  # IPV6_ADDRFORM',
      "    print('converted')",
      'except OSError as e:',
      "    print('kept' if e.errno == errno.ENOPROTOOPT else 'error %d' % e.errno)",
    ].join('\n');
    const out = execFileSync('python3', ['-c', probe], { encoding: 'utf8', timeout: 10_000 }).trim();
    if (out !== 'converted' && out !== 'kept') throw new Error(`IPV6_ADDRFORM probe: ${out}`);
    addrformAnswer = out === 'converted';
  }
  return addrformAnswer;
}
let addrformAnswer: boolean | undefined;
