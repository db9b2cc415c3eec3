// Find the server name (SNI, RFC 6066) in a TLS ClientHello, from the first
// bytes of the stream (peeked, so possibly cut anywhere). Never throws.
//
// * A ClientHello split over several handshake records is reassembled from
//   consecutive records (big post-quantum key shares make that happen).
// * Every length is checked twice: against the structure that contains it
//   (inconsistent → 'not-tls') and against the bytes we have (missing →
//   'incomplete'). So a prefix of a valid ClientHello is always 'incomplete'
//   until the server_name extension has been read, then 'sni'.
// * A server_name that is not a plausible DNS name (RFC 6066 allows only
//   ASCII host names) counts as no SNI.
import { cleanHostName } from './http-host';

export type TlsSniResult =
  | { kind: 'sni'; host: string }
  | { kind: 'no-sni' }
  | { kind: 'incomplete' }
  | { kind: 'not-tls' };

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;
/** TLSPlaintext.length limit (2^14). */
const MAX_RECORD = 16384;

const INCOMPLETE = { kind: 'incomplete' } as const;
const NOT_TLS = { kind: 'not-tls' } as const;
const NO_SNI = { kind: 'no-sni' } as const;

/** Thrown inside the parser only; mapped to a result at the top. */
class Truncated {}
class Malformed {}

/** Cursor that knows where its structure ends (`end`) and where our bytes end (`avail`). */
class Reader {
  constructor(readonly b: Uint8Array, public pos: number, readonly end: number, readonly avail: number) {}
  private need(n: number): void {
    if (this.pos + n > this.end) throw new Malformed();
    if (this.pos + n > this.avail) throw new Truncated();
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = (this.b[this.pos] << 8) | this.b[this.pos + 1];
    this.pos += 2;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    return this.b.subarray(this.pos, (this.pos += n));
  }
  /** A nested structure of `n` bytes; skipped here, whether we have its bytes or not. */
  sub(n: number): Reader {
    if (this.pos + n > this.end) throw new Malformed();
    const r = new Reader(this.b, this.pos, this.pos + n, this.avail);
    this.pos += n;
    return r;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
}

export function parseTlsSni(bytes: Uint8Array): TlsSniResult {
  try {
    const hs = handshakeBytes(bytes);
    return typeof hs === 'string' ? (hs === 'partial' ? INCOMPLETE : NOT_TLS) : clientHello(hs);
  } catch (e) {
    return e instanceof Truncated ? INCOMPLETE : NOT_TLS;
  }
}

/**
 * The handshake message's bytes gathered from consecutive handshake records,
 * as far as we have them; 'partial' if not even its first byte is there yet
 * but what we have is consistent; 'bad' if this is not a TLS handshake.
 */
function handshakeBytes(b: Uint8Array): Uint8Array | 'partial' | 'bad' {
  const parts: Uint8Array[] = [];
  let have = 0;
  let want = Infinity; // 4 + handshake length, once known
  for (let pos = 0; ; ) {
    // Record header: type(1) version(2) length(2).
    if (pos < b.length && b[pos] !== HANDSHAKE) return 'bad';
    if (pos + 1 < b.length && b[pos + 1] !== 3) return 'bad';
    if (pos + 5 > b.length) break;
    const len = (b[pos + 3] << 8) | b[pos + 4];
    if (len === 0 || len > MAX_RECORD) return 'bad';
    const fragment = b.subarray(pos + 5, Math.min(pos + 5 + len, b.length));
    parts.push(fragment);
    have += fragment.length;
    if (want === Infinity && have >= 4) {
      const head = parts.length === 1 ? fragment : concat(parts);
      want = 4 + ((head[1] << 16) | (head[2] << 8) | head[3]);
    }
    if (have >= want || fragment.length < len) break;
    pos += 5 + len;
  }
  if (have === 0) return 'partial';
  const hs = parts.length === 1 ? parts[0] : concat(parts);
  return hs[0] === CLIENT_HELLO ? hs : 'bad';
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/** Walk a ClientHello (RFC 8446 §4.1.2, same layout back to SSL 3.0) to server_name. */
function clientHello(hs: Uint8Array): TlsSniResult {
  const top = new Reader(hs, 0, Infinity, hs.length);
  top.u8(); // msg_type, checked by the caller
  const len = (top.u8() << 16) | top.u16();
  const r = top.sub(len);
  if (r.u8() !== 3) throw new Malformed(); // legacy_version major
  r.u8();
  r.bytes(32); // random
  const sessionId = r.u8();
  if (sessionId > 32) throw new Malformed();
  r.bytes(sessionId);
  const suites = r.u16();
  if (suites < 2 || suites % 2 !== 0) throw new Malformed();
  r.sub(suites);
  const compression = r.u8();
  if (compression < 1) throw new Malformed();
  r.sub(compression);
  if (r.done) return NO_SNI; // no extensions at all (SSL 3.0 style)
  const exts = r.sub(r.u16());
  while (!exts.done) {
    const type = exts.u16();
    const data = exts.sub(exts.u16());
    if (type === EXT_SERVER_NAME) return serverName(data);
  }
  return NO_SNI;
}

/** ServerNameList: u16 length, then entries name_type(1) length(2) name. */
function serverName(data: Reader): TlsSniResult {
  const list = data.sub(data.u16());
  while (!list.done) {
    const type = list.u8();
    const name = list.bytes(list.u16());
    if (type === NAME_TYPE_HOST) {
      const host = cleanHostName(Buffer.from(name.buffer, name.byteOffset, name.length).toString('latin1'));
      return host === null ? NO_SNI : { kind: 'sni', host };
    }
  }
  return NO_SNI;
}
