// vsftpd 3.0.3 standalone, the FTP shape of fork-after-accept: the master
// (root) accepts and clone()s a session process per connection, which dup2s
// the socket onto 0/1/2 and speaks first (the 220 banner, before the client
// has sent a byte). A session is a small tree: the session process (the
// "privileged parent": it drops to nopriv_user for anonymous sessions, and
// creates, binds and accepts the PASV data sockets), a pre-login child, and
// after login a post-login child (ftp user, chrooted into anon_root, in a
// network namespace of its own with isolate_network=YES) that talks on the
// control socket and gets data sockets from its parent over a socketpair.
// Plus a minimal FTP client (node:net) that times the banner.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { makeTempDir } from './paths';
import { findServerRoots, stopProcesses, type Endpoint, type ServerSpec } from './proc';

export const VSFTPD_BIN = '/usr/sbin/vsftpd';

export interface VsftpdOptions {
  /** Listen address: IPv4 (listen=YES), or IPv6 (listen_ipv6=YES; "::" is dual-stack). */
  ip: string;
  port: number;
  /** pasv_min_port, pasv_max_port: the data ports vsftpd picks from. */
  pasvPorts: [number, number];
  /** Files in anon_root (name → content), world-readable. Default: hello.txt. */
  files?: Record<string, string | Buffer>;
  /**
   * seccomp_sandbox. Default false, which is what Debian's build does when the
   * config says nothing (upstream's default is YES). With YES, Debian 12's
   * vsftpd 3.0.3 installs a filter in the session processes that kills them
   * (SIGSYS) on syscalls today's glibc makes: setsockopt at PASV, newfstatat
   * at RETR, alarm with connect_from_port_20 ("500 OOPS: priv_sock_get_int"),
   * bare, without any filter above it. Banner and login still work.
   */
  seccompSandbox?: boolean;
  /** nopriv_user. Default "nobody". */
  noprivUser?: string;
  /**
   * More vsftpd.conf lines, or overrides (e.g. { isolate_network: false }).
   * An unknown one makes vsftpd exit 2 at once, its "500 OOPS: unrecognised
   * variable" written to fd 0 (so lost when stdin is /dev/null, as with startBare).
   */
  tunables?: Record<string, string | number | boolean>;
}

export interface VsftpdServer extends ServerSpec {
  ip: string;
  port: number;
  pasvPorts: [number, number];
  /** The config file (argv[1]). */
  conf: string;
  /** anon_root: the files anonymous users see, at "/". */
  anonRoot: string;
  files: Record<string, Buffer>;
  /** vsftpd_log_file (with log_ftp_protocol: every command and reply) and xferlog. */
  logs: { vsftpd: string; xferlog: string };
  /** The vsftpd log so far. */
  log(): string;
}

const DEFAULT_FILES = { 'hello.txt': 'hello from vsftpd\r\nsecond line\n' };

/** Write anon_root, an empty secure_chroot_dir and vsftpd.conf into a fresh temp dir. Does not start anything. */
export async function makeVsftpd(opts: VsftpdOptions): Promise<VsftpdServer> {
  if (!fs.existsSync(VSFTPD_BIN)) throw new Error(`vsftpd: ${VSFTPD_BIN} is not installed`);
  const { ip, port } = opts;
  const [pasvMin, pasvMax] = opts.pasvPorts;
  if (!(pasvMin > 0 && pasvMax >= pasvMin && pasvMax < 65536)) throw new Error(`vsftpd: bad pasvPorts ${opts.pasvPorts}`);
  const v6 = ip.includes(':');
  const dir = makeTempDir('vhqos-vsftpd');
  // Both must be root-owned and not writable by the session users, or vsftpd
  // refuses to chroot into them.
  const anonRoot = path.join(dir, 'anon');
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(anonRoot, { mode: 0o755 });
  fs.mkdirSync(empty, { mode: 0o755 });
  const files: Record<string, Buffer> = {};
  for (const [name, content] of Object.entries(opts.files ?? DEFAULT_FILES)) {
    if (name.includes('/') || name.startsWith('.')) throw new Error(`vsftpd: bad file name ${name}`);
    const f = path.join(anonRoot, name);
    files[name] = Buffer.isBuffer(content) ? content : Buffer.from(content);
    fs.writeFileSync(f, files[name]);
    fs.chmodSync(f, 0o644); // anon_world_readable_only
  }
  const logs = { vsftpd: path.join(dir, 'vsftpd.log'), xferlog: path.join(dir, 'xferlog') };
  const yn = (b: boolean) => (b ? 'YES' : 'NO');
  const tunables: Record<string, string | number | boolean> = {
    // Standalone, in the foreground.
    listen: !v6,
    listen_ipv6: v6,
    [v6 ? 'listen_address6' : 'listen_address']: ip,
    listen_port: port,
    background: false,
    // Anonymous, read-only.
    anonymous_enable: true,
    local_enable: false,
    write_enable: false,
    anon_upload_enable: false,
    anon_mkdir_write_enable: false,
    anon_root: anonRoot,
    no_anon_password: true,
    ftp_username: 'ftp',
    nopriv_user: opts.noprivUser ?? 'nobody',
    secure_chroot_dir: empty,
    // Passive data connections only.
    pasv_enable: true,
    pasv_min_port: pasvMin,
    pasv_max_port: pasvMax,
    port_enable: false,
    connect_from_port_20: false,
    seccomp_sandbox: opts.seccompSandbox ?? false,
    // No tcp_wrappers, no /etc/vsftpd.* user lists. (Debian's vsftpd has no
    // reverse_lookup_enable: that is a Red Hat patch.)
    tcp_wrappers: false,
    userlist_enable: false,
    // Logs in dir: vsftpd's own format, with the protocol, and the xferlog.
    xferlog_enable: true,
    xferlog_file: logs.xferlog,
    vsftpd_log_file: logs.vsftpd,
    dual_log_enable: true,
    log_ftp_protocol: true,
    syslog_enable: false,
    ...opts.tunables,
  };
  const conf = path.join(dir, 'vsftpd.conf');
  const lines = Object.entries(tunables).map(([k, v]) => `${k}=${typeof v === 'boolean' ? yn(v) : String(v)}`);
  // vsftpd insists that its config file belongs to root (it does: we are root) and is no one else's to write.
  fs.writeFileSync(conf, `# written by test/helpers/ftp.ts\n${lines.join('\n')}\n`, { mode: 0o600 });
  const argv = [VSFTPD_BIN, conf];
  return {
    ip,
    port,
    pasvPorts: [pasvMin, pasvMax],
    conf,
    anonRoot,
    files,
    logs,
    log: () => {
      try {
        return fs.readFileSync(logs.vsftpd, 'utf8');
      } catch {
        return '';
      }
    },
    dir,
    argv,
    env: { ...process.env, LANG: 'C' },
    listens: [{ ip, port }],
    async stop() {
      // The sessions keep the master's argv (no setproctitle), so the marker finds them too.
      await stopProcesses(findServerRoots(argv), { marker: dir, graceMs: 5000 });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ client

export interface FtpReply {
  code: number;
  /** The reply's lines without the code (several for a multi-line reply), joined with "\n". */
  text: string;
  /** The reply as received, CRLFs included. */
  raw: string;
}

export interface FtpConnectOptions {
  ip: string;
  port: number;
  /** Local (source) address for the control and data connections. */
  localAddress?: string;
  /** Each step (connect + banner, every command, every transfer). Default 10000. */
  timeoutMs?: number;
}

export interface FtpConnectTimings {
  /** From net.connect() to the TCP connection being up. */
  connectMs: number;
  /** From net.connect() to the first byte of the banner. */
  firstByteMs: number;
  /** From net.connect() to the complete banner reply. */
  bannerMs: number;
}

const nowNs = () => process.hrtime.bigint();
const msSince = (t0: bigint) => Number(nowNs() - t0) / 1e6;

/**
 * One FTP control connection, step by step: connect() resolves once the 220
 * banner is in, then command(), login(), retr(), quit(). While it is open,
 * `ends` names the connection for findConnectionHolders.
 */
export class FtpClient {
  readonly banner: FtpReply;
  readonly timings: FtpConnectTimings;
  /** server: the server's end (its listen address and port), client: ours. */
  readonly ends: { server: Endpoint; client: Endpoint };
  /** Every reply so far, banner first. */
  readonly replies: FtpReply[] = [];

  private buf = '';
  private queue: FtpReply[] = [];
  private waiter: ((r: FtpReply | Error) => void) | null = null;
  private closedErr: Error | null = null;

  private constructor(
    private readonly sock: net.Socket,
    private readonly opts: FtpConnectOptions,
    first: { banner: FtpReply; timings: FtpConnectTimings },
  ) {
    this.banner = first.banner;
    this.timings = first.timings;
    this.ends = {
      server: { ip: sock.remoteAddress as string, port: sock.remotePort as number },
      client: { ip: sock.localAddress as string, port: sock.localPort as number },
    };
  }

  static connect(opts: FtpConnectOptions): Promise<FtpClient> {
    const timeoutMs = opts.timeoutMs ?? 10000;
    return new Promise<FtpClient>((resolve, reject) => {
      const t0 = nowNs();
      let connectMs = NaN;
      let firstByteMs = NaN;
      let pending = '';
      const sock = net.connect({ host: opts.ip, port: opts.port, localAddress: opts.localAddress });
      sock.setNoDelay(true);
      const timer = setTimeout(() => fail(new Error(`ftp ${opts.ip}:${opts.port}: no banner after ${timeoutMs} ms (got ${JSON.stringify(pending)})`)), timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        sock.destroy();
        reject(e);
      };
      sock.once('connect', () => {
        connectMs = msSince(t0);
      });
      const onData = (d: Buffer) => {
        if (Number.isNaN(firstByteMs)) firstByteMs = msSince(t0);
        pending += d.toString('latin1');
        let parsed: ReturnType<typeof takeReply>;
        try {
          parsed = takeReply(pending);
        } catch (e) {
          return fail(e as Error);
        }
        if (!parsed) return;
        const bannerMs = msSince(t0);
        clearTimeout(timer);
        sock.off('data', onData);
        sock.off('error', fail);
        sock.off('close', onEarlyClose);
        if (parsed.reply.code !== 220) {
          sock.destroy();
          reject(new Error(`ftp ${opts.ip}:${opts.port}: banner ${JSON.stringify(parsed.reply.raw)}`));
          return;
        }
        const client = new FtpClient(sock, opts, { banner: parsed.reply, timings: { connectMs, firstByteMs, bannerMs } });
        client.replies.push(parsed.reply);
        client.attach(parsed.rest);
        resolve(client);
      };
      const onEarlyClose = () => fail(new Error(`ftp ${opts.ip}:${opts.port}: closed before a banner (got ${JSON.stringify(pending)})`));
      sock.on('data', onData);
      sock.once('error', fail);
      sock.once('close', onEarlyClose);
    });
  }

  private attach(rest: string) {
    this.buf = rest;
    this.sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.drain();
    });
    const closed = (e?: Error) => {
      this.closedErr = this.closedErr ?? e ?? new Error('ftp: control connection closed');
      this.wake(this.closedErr);
    };
    this.sock.on('error', (e) => closed(e));
    this.sock.on('close', () => closed());
    this.drain();
  }

  private drain() {
    for (;;) {
      let p: ReturnType<typeof takeReply>;
      try {
        p = takeReply(this.buf);
      } catch (e) {
        this.closedErr = e as Error;
        this.sock.destroy();
        this.wake(this.closedErr);
        return;
      }
      if (!p) break;
      this.buf = p.rest;
      this.replies.push(p.reply);
      this.queue.push(p.reply);
    }
    if (this.queue.length && this.waiter) this.wake(this.queue.shift() as FtpReply);
  }

  private wake(r: FtpReply | Error) {
    const w = this.waiter;
    this.waiter = null;
    w?.(r);
  }

  /** The next reply (queued, or the next to arrive). */
  reply(timeoutMs = this.opts.timeoutMs ?? 10000): Promise<FtpReply> {
    if (this.queue.length) return Promise.resolve(this.queue.shift() as FtpReply);
    if (this.closedErr) return Promise.reject(this.closedErr);
    if (this.waiter) return Promise.reject(new Error('ftp: already waiting for a reply'));
    return new Promise<FtpReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`ftp: no reply after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
    });
  }

  /** Send one command line (CRLF added) and return the next reply. */
  async command(line: string): Promise<FtpReply> {
    if (/[\r\n]/.test(line)) throw new Error('ftp: a command is one line');
    this.sock.write(`${line}\r\n`, 'latin1');
    return this.reply();
  }

  /** Send a command and insist on a reply code. */
  async expect(line: string, ...codes: number[]): Promise<FtpReply> {
    const r = await this.command(line);
    if (!codes.includes(r.code)) throw new Error(`ftp: ${line.split(' ')[0]} got ${r.code} ${r.text} (wanted ${codes.join('/')})`);
    return r;
  }

  /** USER + PASS; resolves with the 230. */
  async login(user = 'anonymous', pass = 'x'): Promise<FtpReply> {
    const u = await this.expect(`USER ${user}`, 230, 331);
    if (u.code === 230) return u;
    return this.expect(`PASS ${pass}`, 230);
  }

  /** PASV: the data endpoint the server offers. */
  async pasv(): Promise<Endpoint> {
    const r = await this.expect('PASV', 227);
    const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(r.text);
    if (!m) throw new Error(`ftp: unparsable 227 ${JSON.stringify(r.text)}`);
    const n = m.slice(1).map(Number);
    return { ip: n.slice(0, 4).join('.'), port: n[4] * 256 + n[5] };
  }

  /** TYPE I, PASV, RETR name: the file's bytes, once the server has said 226. */
  async retr(name: string): Promise<Buffer> {
    await this.expect('TYPE I', 200);
    const at = await this.pasv();
    const timeoutMs = this.opts.timeoutMs ?? 10000;
    const data = net.connect({ host: at.ip, port: at.port, localAddress: this.opts.localAddress });
    const chunks: Buffer[] = [];
    const received = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        data.destroy();
        reject(new Error(`ftp: data connection ${at.ip}:${at.port} not done after ${timeoutMs} ms`));
      }, timeoutMs);
      data.on('data', (d: Buffer) => chunks.push(d));
      data.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      data.once('end', () => {
        clearTimeout(timer);
        data.destroy();
        resolve(Buffer.concat(chunks));
      });
    });
    received.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
    await new Promise<void>((resolve, reject) => {
      data.once('connect', resolve);
      data.once('error', reject);
    });
    try {
      await this.expect(`RETR ${name}`, 125, 150);
    } catch (e) {
      data.destroy();
      throw e;
    }
    const content = await received;
    const done = await this.reply();
    if (done.code !== 226) throw new Error(`ftp: RETR ${name} ended with ${done.code} ${done.text}`);
    return content;
  }

  /** QUIT: the 221, then wait for the server to close. */
  async quit(): Promise<FtpReply> {
    const r = await this.expect('QUIT', 221);
    await new Promise<void>((resolve) => {
      if (this.sock.destroyed || this.sock.readableEnded) return resolve();
      const timer = setTimeout(() => {
        this.sock.destroy();
        resolve();
      }, this.opts.timeoutMs ?? 10000);
      this.sock.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.sock.end();
    });
    return r;
  }

  /** Drop the connection without QUIT. */
  close(): void {
    this.sock.destroy();
  }
}

/** Take one complete reply (single or multi-line) off the front of buf. */
export function takeReply(buf: string): { reply: FtpReply; rest: string } | null {
  const first = /^(\d{3})([ -])/.exec(buf);
  if (!first) {
    const eol = buf.indexOf('\n');
    if (eol >= 0) throw new Error(`ftp: malformed reply ${JSON.stringify(buf.slice(0, eol))}`);
    return null;
  }
  const code = first[1];
  const lines: string[] = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf('\n', i);
    if (eol < 0) return null;
    const line = buf.slice(i, eol).replace(/\r$/, '');
    i = eol + 1;
    const end = lines.length === 0 ? first[2] === ' ' : line.startsWith(`${code} `);
    lines.push(line.startsWith(code) ? line.slice(4) : line);
    if (end) break;
  }
  return { reply: { code: Number(code), text: lines.join('\n'), raw: buf.slice(0, i) }, rest: buf.slice(i) };
}

export interface FtpGetResult {
  /** The banner reply's text, e.g. "(vsFTPd 3.0.3)". */
  banner: string;
  bannerCode: number;
  content: Buffer;
  replies: FtpReply[];
  ends: { server: Endpoint; client: Endpoint };
  /** Milliseconds (µs resolution): connect/firstByte/banner from net.connect(); the rest per step. */
  timings: FtpConnectTimings & { loginMs: number; retrMs: number; quitMs: number; totalMs: number };
}

/** A whole anonymous session: banner, USER/PASS, TYPE I, PASV, RETR file, QUIT. */
export async function ftpGet(o: FtpConnectOptions & { file: string; user?: string; pass?: string }): Promise<FtpGetResult> {
  const t0 = nowNs();
  const c = await FtpClient.connect(o);
  try {
    let t = nowNs();
    await c.login(o.user, o.pass);
    const loginMs = msSince(t);
    t = nowNs();
    const content = await c.retr(o.file);
    const retrMs = msSince(t);
    t = nowNs();
    await c.quit();
    const quitMs = msSince(t);
    return {
      banner: c.banner.text,
      bannerCode: c.banner.code,
      content,
      replies: c.replies,
      ends: c.ends,
      timings: { ...c.timings, loginMs, retrMs, quitMs, totalMs: msSince(t0) },
    };
  } finally {
    c.close();
  }
}
