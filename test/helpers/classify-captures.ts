// Test helpers for the classifier tests: real first bytes produced by node's
// own TLS and HTTP clients, captured by a plain TCP server, and a seeded PRNG.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { parseH2Authority } from '../../src/classify/h2-authority';

/** Run a client against a local TCP server; resolve with the bytes it sent once `enough` says so. */
export function captureFirstBytes(client: (port: number) => void, enough: (b: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      server.close();
      reject(new Error('capture timed out'));
    }, 10_000);
    const server = net.createServer((sock) => {
      let buf = Buffer.alloc(0);
      sock.on('error', () => {});
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (!enough(buf)) return;
        clearTimeout(timer);
        sock.destroy();
        server.close();
        resolve(buf);
      });
    });
    server.listen(0, '127.0.0.1', () => client((server.address() as net.AddressInfo).port));
  });
}

/** The ClientHello record(s) node's TLS client sends with these options. */
export function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  return captureFirstBytes(
    (port) => {
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
      s.on('error', () => {});
    },
    (b) => b.length >= 5 && b.length >= 5 + b.readUInt16BE(3),
  );
}

/** The request head node's HTTP client sends with these options. */
export function captureHttpRequest(options: http.RequestOptions): Promise<Buffer> {
  return captureFirstBytes(
    (port) => {
      const req = http.request({ host: '127.0.0.1', port, ...options });
      req.on('error', () => {});
      req.end();
    },
    (b) => b.includes('\r\n\r\n'),
  );
}

/** What node's HTTP/2 client sends for one request with these headers (cleartext, prior knowledge). */
export function captureH2Request(headers: http2.OutgoingHttpHeaders): Promise<Buffer> {
  return captureFirstBytes(
    (port) => {
      const c = http2.connect(`http://127.0.0.1:${port}`);
      c.on('error', () => {});
      const r = c.request({ ':path': '/x', ...headers });
      r.on('error', () => {});
      r.end();
    },
    (b) => parseH2Authority(b).kind !== 'incomplete',
  );
}

/** mulberry32: small, seeded, good enough to make reproducible garbage. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rand: () => number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** A copy of `b` with a few random bytes changed. */
export function mutate(rand: () => number, b: Uint8Array, changes: number): Uint8Array {
  const out = Uint8Array.from(b);
  for (let i = 0; i < changes; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
  return out;
}

/**
 * Re-frame a single-record TLS handshake into records of at most `size`
 * bytes each, as a client with a small record size would send it.
 */
export function splitRecords(hello: Buffer, size: number): Buffer {
  const header = hello.subarray(0, 3);
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) {
    const part = body.subarray(i, i + size);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(part.length);
    out.push(header, len, part);
  }
  return Buffer.concat(out);
}
