// Fork-after-accept servers, the inetd shape: the parent accepts, forks, and
// the child serves the connection (tcpserver and socat-nofork: dup2 the socket
// onto 0/1 and exec the handler; socat: a forked relay between the socket and
// the exec'd handler; busybox httpd: the child reads the request and forks
// the CGI). Every variant answers /whoami and /burn?ms=N with the report of
// test/fixtures/cgi/whoami, so a test can tell which cgroup served it.
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
  | 'busybox-httpd';

export const INETD_KINDS: readonly InetdKind[] = ['tcpserver', 'socat', 'socat-nofork', 'busybox-httpd'];

export const TCPSERVER_BIN = '/usr/bin/tcpserver';
export const SOCAT_BIN = '/usr/bin/socat';
export const BUSYBOX_BIN = '/bin/busybox';

export interface InetdOptions {
  kind: InetdKind;
  /**
   * Listen address. "::" listens dual-stack (socat, busybox-httpd): an IPv4
   * client connecting to 127.0.0.2 is seen at local address ::ffff:127.0.0.2.
   */
  ip: string;
  port: number;
  /** Concurrent connections (tcpserver -c, socat max-children). Default 64. */
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
   * there); tcpserver and socat also answer "/whoami" and "/burn".
   */
  paths: { whoami: string; burn: (ms: number) => string };
}

function binFor(kind: InetdKind): string {
  return kind === 'tcpserver' ? TCPSERVER_BIN : kind === 'busybox-httpd' ? BUSYBOX_BIN : SOCAT_BIN;
}

/** Write the handler/CGIs into a fresh temp dir and return the command line. Does not start anything. */
export async function makeInetdServer(opts: InetdOptions): Promise<InetdServer> {
  const { kind, ip, port } = opts;
  const max = opts.maxConnections ?? 64;
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
