// Minimal HTTP(S) clients for tests: a raw socket, so the test decides every
// byte (Host header or none, broken requests, a request split over several
// writes), and parsers for the whoami report.
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface HttpGetOptions {
  ip: string;
  port: number;
  /**
   * Host header. undefined: "ip:port" ([ip]:port for IPv6); null: no Host
   * header at all (the request is then HTTP/1.0).
   */
  host?: string | null;
  /** Default "/". */
  path?: string;
  /** Default "GET". */
  method?: string;
  /** Extra headers (sent after Host). */
  headers?: Record<string, string>;
  /**
   * Send these bytes instead of building a request. An array is sent one
   * element per write, chunkDelayMs apart (e.g. a Host header split across reads).
   */
  raw?: string | Buffer | Array<string | Buffer>;
  /** Delay between the chunks of `raw`. Default 50. */
  chunkDelayMs?: number;
  /** Local (source) address to bind. */
  localAddress?: string;
  /** Whole-exchange timeout. Default 10000. */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  statusText: string;
  /** "HTTP/1.1" */
  version: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** Everything received. */
  raw: Buffer;
  /** From connect() to the end of the response. */
  elapsedMs: number;
}

export interface HttpsResponse extends HttpResponse {
  /** Subject CN of the certificate the server presented. */
  certCN: string;
  /** e.g. "DNS:gold.test, DNS:*.gold.test" */
  certAltNames: string;
  /** The SNI the client sent. */
  servername: string;
}

function buildRequest(o: HttpGetOptions): Buffer {
  const host =
    o.host === undefined ? (o.ip.includes(':') ? `[${o.ip}]:${o.port}` : `${o.ip}:${o.port}`) : o.host;
  const version = host === null ? 'HTTP/1.0' : 'HTTP/1.1';
  const lines = [`${o.method ?? 'GET'} ${o.path ?? '/'} ${version}`];
  if (host !== null) lines.push(`Host: ${host}`);
  for (const [k, v] of Object.entries(o.headers ?? {})) lines.push(`${k}: ${v}`);
  if (!Object.keys(o.headers ?? {}).some((k) => k.toLowerCase() === 'connection')) lines.push('Connection: close');
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

function chunksOf(o: HttpGetOptions): Buffer[] {
  if (o.raw === undefined) return [buildRequest(o)];
  const list = Array.isArray(o.raw) ? o.raw : [o.raw];
  return list.map((c) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
}

/** Decode a chunked body; null if it is not complete yet. */
function dechunk(buf: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) return null;
    const size = parseInt(buf.subarray(i, eol).toString('latin1').split(';')[0].trim(), 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size');
    if (size === 0) return Buffer.concat(parts);
    const start = eol + 2;
    if (buf.length < start + size + 2) return null;
    parts.push(buf.subarray(start, start + size));
    i = start + size + 2;
  }
}

/**
 * Parse a response. Returns null while incomplete (unless `atEof`: then the
 * body is whatever arrived). Throws on a malformed status line.
 */
export function parseResponse(raw: Buffer, atEof: boolean, elapsedMs = 0): HttpResponse | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) {
    if (atEof) throw new Error(raw.length ? `malformed HTTP response: ${JSON.stringify(raw.toString('latin1').slice(0, 200))}` : 'connection closed without a response');
    return null;
  }
  const head = raw.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^(HTTP\/\d(?:\.\d)?) (\d{3})(?: (.*))?$/.exec(head[0]);
  if (!m) throw new Error(`malformed status line: ${JSON.stringify(head[0])}`);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const c = line.indexOf(':');
    if (c <= 0) continue;
    const k = line.slice(0, c).trim().toLowerCase();
    const v = line.slice(c + 1).trim();
    headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
  }
  let bodyBuf: Buffer | null = raw.subarray(end + 4);
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
    bodyBuf = dechunk(bodyBuf);
    if (bodyBuf === null) {
      if (!atEof) return null;
      throw new Error('truncated chunked body');
    }
  } else if (headers['content-length'] !== undefined) {
    const len = Number(headers['content-length']);
    if (bodyBuf.length < len) {
      if (!atEof) return null;
    } else bodyBuf = bodyBuf.subarray(0, len);
  } else if (!atEof) {
    return null;
  }
  return {
    status: Number(m[2]),
    statusText: m[3] ?? '',
    version: m[1],
    headers,
    body: bodyBuf.toString('utf8'),
    raw,
    elapsedMs,
  };
}

function exchange<S extends net.Socket>(
  sock: S,
  readyEvent: 'connect' | 'secureConnect',
  o: HttpGetOptions,
  onReady?: (s: S) => void,
): Promise<HttpResponse> {
  const t0 = Date.now();
  return new Promise<HttpResponse>((resolve, reject) => {
    const bufs: Buffer[] = [];
    let settled = false;
    const finish = (err: Error | null, res?: HttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(res as HttpResponse);
    };
    const timeoutMs = o.timeoutMs ?? 10000;
    const timer = setTimeout(
      () => finish(new Error(`timeout after ${timeoutMs} ms talking to ${o.ip}:${o.port} (got ${Buffer.concat(bufs).length} bytes)`)),
      timeoutMs,
    );
    const tryParse = (atEof: boolean) => {
      try {
        const r = parseResponse(Buffer.concat(bufs), atEof, Date.now() - t0);
        if (r) finish(null, r);
      } catch (e) {
        finish(e as Error);
      }
    };
    sock.on('data', (d: Buffer) => {
      bufs.push(d);
      tryParse(false);
    });
    sock.on('end', () => tryParse(true));
    sock.on('close', () => tryParse(true));
    sock.on('error', (e) => {
      // A reset after a complete response still counts as a response.
      if (bufs.length) {
        try {
          const r = parseResponse(Buffer.concat(bufs), true, Date.now() - t0);
          if (r) return finish(null, r);
        } catch {
          /* fall through */
        }
      }
      finish(e);
    });
    sock.once(readyEvent, async () => {
      onReady?.(sock);
      const chunks = chunksOf(o);
      for (let i = 0; i < chunks.length && !settled; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, o.chunkDelayMs ?? 50));
        if (!settled) sock.write(chunks[i]);
      }
    });
  });
}

/** One request over a fresh TCP connection; resolves with the parsed response. */
export function httpGet(o: HttpGetOptions): Promise<HttpResponse> {
  const sock = net.connect({ host: o.ip, port: o.port, localAddress: o.localAddress, noDelay: true });
  return exchange(sock, 'connect', o);
}

export interface HttpsGetOptions extends Omit<HttpGetOptions, 'host'> {
  /** SNI; also the Host header unless `host` is given. */
  servername: string;
  host?: string | null;
}

/** One request over TLS with SNI `servername`; certificate not verified. */
export async function httpsGet(o: HttpsGetOptions): Promise<HttpsResponse> {
  let cert: tls.PeerCertificate | undefined;
  const tcp = net.connect({ host: o.ip, port: o.port, localAddress: o.localAddress });
  const sock = tls.connect({ socket: tcp, servername: o.servername, rejectUnauthorized: false });
  sock.once('close', () => tcp.destroy());
  const res = await exchange(sock, 'secureConnect', { ...o, host: o.host === undefined ? o.servername : o.host }, (s) => {
    cert = s.getPeerCertificate();
  });
  const cn = cert?.subject?.CN;
  return {
    ...res,
    certCN: Array.isArray(cn) ? cn.join(',') : (cn ?? ''),
    certAltNames: cert?.subjectaltname ?? '',
    servername: o.servername,
  };
}

export interface CgroupReport {
  pid: number;
  ppid: number;
  /** Parent of ppid, when the report has it (whoami's "parent_ppid"). */
  parentPpid: number | null;
  /**
   * controller → path of the reporting process. A v1 line
   * "3:cpu,cpuacct:/x" gives cpu and cpuacct (and "cpu,cpuacct"); the v2
   * line "0::/x" gives the key "" (also in `unified`).
   */
  cgroups: Record<string, string>;
  /** The same for the reporting process's parent (whoami's "parent_cgroup:" lines). */
  parentCgroups: Record<string, string>;
  unified: string | null;
  /** Every other "key: value" line (server, vhost, host, local_addr, cpu_ms...). */
  fields: Record<string, string>;
}

function addCgroupLine(into: Record<string, string>, line: string): boolean {
  const m = /^(\d+):([^:]*):(\/.*)$/.exec(line.trim());
  if (!m) return false;
  const [, , ctrls, p] = m;
  into[ctrls] = p;
  if (ctrls.includes(',')) for (const c of ctrls.split(',')) into[c] = p;
  return true;
}

/**
 * Parse a whoami/burn body: "key: value" lines, "cgroup: <proc line>",
 * "parent_cgroup: <proc line>", or bare /proc/PID/cgroup lines.
 */
export function parseCgroupBody(body: string): CgroupReport {
  const fields: Record<string, string> = {};
  const cgroups: Record<string, string> = {};
  const parentCgroups: Record<string, string> = {};
  for (const line of body.split(/\r?\n/)) {
    if (!line.trim()) continue;
    if (addCgroupLine(cgroups, line)) continue;
    const m = /^([A-Za-z_][\w-]*):\s?(.*)$/.exec(line);
    if (!m) continue;
    const [, k, v] = m;
    if (k === 'cgroup') addCgroupLine(cgroups, v);
    else if (k === 'parent_cgroup') addCgroupLine(parentCgroups, v);
    else fields[k] = v.trim();
  }
  const num = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : NaN);
  const pp = num(fields['parent_ppid']);
  return {
    pid: num(fields['pid']),
    ppid: num(fields['ppid']),
    parentPpid: Number.isNaN(pp) ? null : pp,
    cgroups,
    parentCgroups,
    unified: cgroups[''] ?? null,
    fields,
  };
}

function leafIfVhqos(p: string | undefined): string | null {
  if (!p || !p.includes('/vhqos/')) return null;
  const parts = p.split('/').filter(Boolean);
  return parts.length ? parts[parts.length - 1] : null;
}

/**
 * Which vhost cgroup served the request: the last path component of the cpu
 * (v1) or unified (v2) cgroup of the reporting process, if it lies under
 * /vhqos/; otherwise null. `of: 'parent'` looks at the reporter's parent
 * (e.g. the Apache child that forked the CGI).
 */
export function servedBy(body: string | CgroupReport, of: 'self' | 'parent' = 'self'): string | null {
  const r = typeof body === 'string' ? parseCgroupBody(body) : body;
  const cg = of === 'self' ? r.cgroups : r.parentCgroups;
  return leafIfVhqos(cg['cpu']) ?? leafIfVhqos(cg['']);
}
