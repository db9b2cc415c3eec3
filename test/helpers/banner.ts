// A server that speaks first (SMTP, FTP, POP3, SSH...): a fork-after-accept
// launcher (tcpserver, or socat ...,nofork) execs a tiny handler per
// connection that writes the banner at once, before the client has sent
// anything, then echoes what it gets. The client side times connect() → first
// byte: whatever classifies a connection by its first bytes from the client
// has none to wait for here, and must not hold the banner back.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { SOCAT_BIN, TCPSERVER_BIN } from './inetd';
import { makeTempDir } from './paths';
import { findServerRoots, stopProcesses, type Endpoint, type ServerSpec } from './proc';

export interface BannerServerOptions {
  ip: string;
  port: number;
  /**
   * The launcher: 'tcpserver' (fork, dup2 onto 0/1, exec; IPv4 only) or
   * 'socat' (TCP-LISTEN,fork EXEC:...,nofork: the same, IPv6 too; "::" is
   * dual-stack). Default: tcpserver for IPv4, socat for IPv6.
   */
  via?: 'tcpserver' | 'socat';
  /** The banner line, without CRLF. Printable ASCII, no quote. Default "220 ready". */
  banner?: string;
}

export interface BannerServer extends ServerSpec {
  ip: string;
  port: number;
  via: 'tcpserver' | 'socat';
  banner: string;
  /** The per-connection handler (a /bin/sh script) inside dir. */
  handler: string;
}

/** Write the handler into a fresh temp dir and return the command line. Does not start anything. */
export async function makeBannerServer(opts: BannerServerOptions): Promise<BannerServer> {
  const { ip, port } = opts;
  const v6 = ip.includes(':');
  const via = opts.via ?? (v6 ? 'socat' : 'tcpserver');
  if (via === 'tcpserver' && v6) throw new Error('tcpserver (ucspi-tcp) is IPv4 only');
  const bin = via === 'tcpserver' ? TCPSERVER_BIN : SOCAT_BIN;
  if (!fs.existsSync(bin)) throw new Error(`banner server: ${bin} is not installed`);
  const banner = opts.banner ?? '220 ready';
  if (!/^[ -~]+$/.test(banner) || /['"\\%]/.test(banner)) throw new Error(`banner server: unusable banner ${JSON.stringify(banner)}`);

  const dir = makeTempDir(`vhqos-banner-${via}`);
  const handler = path.join(dir, 'banner-echo');
  // printf is a dash builtin: the banner leaves from the very process the
  // launcher exec'd, before it reads anything. Then cat echoes until EOF.
  fs.writeFileSync(
    handler,
    ['#!/bin/sh', '# banner-echo: speak first, then echo (written by test/helpers/banner.ts)', `printf '${banner}\\r\\n'`, 'exec cat', ''].join('\n'),
    { mode: 0o755 },
  );
  const argv =
    via === 'tcpserver'
      ? [bin, '-R', '-H', '-l', '0', '-c', '64', ip, String(port), handler]
      : [
          bin,
          v6
            ? `TCP6-LISTEN:${port},bind=[${ip}],ipv6only=${ip === '::' ? 0 : 1},fork,reuseaddr,max-children=64`
            : `TCP4-LISTEN:${port},bind=${ip},fork,reuseaddr,max-children=64`,
          `EXEC:${handler},nofork`,
        ];
  const listens: Endpoint[] = [{ ip, port }];
  return {
    ip,
    port,
    via,
    banner,
    handler,
    dir,
    argv,
    env: { ...process.env, LANG: 'C' },
    listens,
    async stop() {
      await stopProcesses(findServerRoots(argv), { marker: dir, graceMs: 5000 });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface BannerTiming {
  /** The first line the server sent, without its line end. */
  banner: string;
  /** From net.connect() to the TCP connection being up, µs. */
  connectUs: number;
  /** From net.connect() to the first byte from the server, µs. */
  firstByteUs: number;
  /** firstByteUs in ms. */
  firstByteMs: number;
  /** From net.connect() to the end of the first line, µs. */
  bannerUs: number;
  /** What came back for opts.echo (without line end), if asked. */
  echoed?: string;
  ends: { server: Endpoint; client: Endpoint };
}

export interface TimeToBannerOptions {
  /** After the banner, send this line and wait for it to come back. */
  echo?: string;
  localAddress?: string;
  /** Whole exchange. Default 10000. */
  timeoutMs?: number;
  /**
   * Called with the open connection once the banner is in (before the echo):
   * e.g. to look up who serves it with findConnectionHolders(ends).
   */
  onBanner?: (ends: { server: Endpoint; client: Endpoint }) => void | Promise<void>;
}

/** Connect, and time how long the server takes to speak first (process.hrtime.bigint()). */
export function timeToBanner(ip: string, port: number, opts: TimeToBannerOptions = {}): Promise<BannerTiming> {
  const timeoutMs = opts.timeoutMs ?? 10000;
  return new Promise<BannerTiming>((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const us = () => Number(process.hrtime.bigint() - t0) / 1000;
    let connectUs = NaN;
    let firstByteUs = NaN;
    let bannerUs = NaN;
    let banner: string | undefined;
    let buf = '';
    let settled = false;
    const sock = net.connect({ host: ip, port, localAddress: opts.localAddress });
    sock.setNoDelay(true);
    const finish = (err: Error | null, r?: BannerTiming) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(r as BannerTiming);
    };
    const timer = setTimeout(
      () => finish(new Error(`timeToBanner ${ip}:${port}: ${banner === undefined ? 'no banner' : 'no echo'} after ${timeoutMs} ms (got ${JSON.stringify(buf)})`)),
      timeoutMs,
    );
    let ends: { server: Endpoint; client: Endpoint } | undefined;
    const done = (echoed?: string) =>
      finish(null, {
        banner: banner as string,
        connectUs,
        firstByteUs,
        firstByteMs: firstByteUs / 1000,
        bannerUs,
        echoed,
        ends: ends as { server: Endpoint; client: Endpoint },
      });
    sock.once('connect', () => {
      connectUs = us();
      ends = {
        server: { ip: sock.remoteAddress as string, port: sock.remotePort as number },
        client: { ip: sock.localAddress as string, port: sock.localPort as number },
      };
    });
    sock.on('data', async (d: Buffer) => {
      if (Number.isNaN(firstByteUs)) firstByteUs = us();
      buf += d.toString('latin1');
      if (banner === undefined) {
        const eol = buf.indexOf('\n');
        if (eol < 0) return;
        bannerUs = us();
        banner = buf.slice(0, eol).replace(/\r$/, '');
        buf = buf.slice(eol + 1);
        try {
          await opts.onBanner?.(ends as { server: Endpoint; client: Endpoint });
        } catch (e) {
          return finish(e as Error);
        }
        if (opts.echo === undefined) return done();
        if (!settled) sock.write(`${opts.echo}\r\n`, 'latin1');
        return;
      }
      const eol = buf.indexOf('\n');
      if (eol >= 0 && opts.echo !== undefined) done(buf.slice(0, eol).replace(/\r$/, ''));
    });
    sock.once('error', (e) => finish(e));
    sock.once('close', () =>
      finish(new Error(`timeToBanner ${ip}:${port}: closed ${banner === undefined ? 'before a banner' : 'before the echo'} (got ${JSON.stringify(buf)})`)),
    );
  });
}
