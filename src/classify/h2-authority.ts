// Find the host an HTTP/2 cleartext connection with prior knowledge (h2c:
// the client starts with the connection preface) asks for: the `:authority`
// of its first request, else its `host` field (mod_http2 does the same),
// from the HPACK-coded header block of the first HEADERS frame and its
// CONTINUATIONs. The bytes are peeked, so possibly cut anywhere. Never throws.
//
// * Anything that is not (a prefix of) the preface is 'not-h2'.
// * A connection the server would refuse (first frame not SETTINGS, a frame
//   larger than 16 KiB, DATA or another stream frame before the first
//   HEADERS, CONTINUATION out of place, HPACK errors, a pseudo-header after a
//   regular field) is 'no-host', and so is a block without a usable name.
// * `:authority` is final as soon as it is decoded; `host` only at the end
//   of the block (an `:authority` could still come).
// * Bounded work: one pass over the bytes; HPACK's dynamic table (4096
//   bytes, the protocol's initial size) keeps only sizes and, for the two
//   names we want, values; a reference to an entry costs O(1), so a block
//   that repeats a big entry ("HPACK bomb") is never expanded.
import { hostFromAuthority } from './http-host';
import { HPACK_STATIC_NAMES, HUFFMAN_CODES } from './hpack-tables';

export type H2AuthorityResult =
  | { kind: 'host'; host: string }
  | { kind: 'no-host' }
  | { kind: 'incomplete' }
  | { kind: 'not-h2' };

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
/** SETTINGS_MAX_FRAME_SIZE before the server says otherwise. */
const MAX_FRAME = 16384;
/** SETTINGS_HEADER_TABLE_SIZE before the server says otherwise. */
const MAX_TABLE = 4096;
/** Longer values are no usable authority anyway (MAX_HOST_VALUE of http-host.ts). */
const KEEP = 301;

const enum Frame {
  DATA = 0,
  HEADERS = 1,
  PRIORITY = 2,
  RST_STREAM = 3,
  SETTINGS = 4,
  PUSH_PROMISE = 5,
  PING = 6,
  GOAWAY = 7,
  WINDOW_UPDATE = 8,
  CONTINUATION = 9,
}
const END_HEADERS = 0x4, PADDED = 0x8, PRIORITY_FLAG = 0x20;

const INCOMPLETE = { kind: 'incomplete' } as const;
const NOT_H2 = { kind: 'not-h2' } as const;
const NO_HOST = { kind: 'no-host' } as const;

export function parseH2Authority(bytes: Uint8Array): H2AuthorityResult {
  try {
    return parse(bytes);
  } catch {
    return NO_HOST; // not reachable by design; the supervisor must never see a throw
  }
}

function parse(b: Uint8Array): H2AuthorityResult {
  const n = b.length;
  for (let i = 0; i < PREFACE.length; i++) {
    if (i === n) return INCOMPLETE;
    if (b[i] !== PREFACE[i]) return NOT_H2;
  }
  // Gather the first header block: HEADERS, then CONTINUATIONs of its stream.
  const parts: Uint8Array[] = [];
  let complete = false;
  let stream = -1; // the block's stream once its HEADERS is seen
  let first = true;
  for (let pos = PREFACE.length; ; ) {
    if (pos + FRAME_HEADER > n) break;
    const len = (b[pos] << 16) | (b[pos + 1] << 8) | b[pos + 2];
    const type = b[pos + 3], flags = b[pos + 4];
    const sid = ((b[pos + 5] & 0x7f) << 24) | (b[pos + 6] << 16) | (b[pos + 7] << 8) | b[pos + 8];
    if (len > MAX_FRAME) return NO_HOST;
    if (first && type !== Frame.SETTINGS) return NO_HOST; // the preface ends with SETTINGS
    first = false;
    const start = pos + FRAME_HEADER, end = start + len, avail = Math.min(end, n);
    if (stream >= 0) {
      if (type !== Frame.CONTINUATION || sid !== stream) return NO_HOST;
      parts.push(b.subarray(start, avail));
      if (avail < end) break;
      if (flags & END_HEADERS) {
        complete = true;
        break;
      }
    } else if (type === Frame.HEADERS) {
      if (sid === 0 || sid % 2 === 0) return NO_HOST;
      let p = start, pad = 0;
      if (flags & PADDED) {
        if (p >= avail) break;
        pad = b[p++];
      }
      if (flags & PRIORITY_FLAG) p += 5;
      if (p + pad > end) return NO_HOST;
      parts.push(b.subarray(Math.min(p, avail), Math.min(end - pad, avail)));
      if (end - pad > n) break;
      stream = sid;
      if (flags & END_HEADERS) {
        complete = true;
        break;
      }
      if (avail < end) break;
    } else if (type === Frame.CONTINUATION || type === Frame.DATA || type === Frame.RST_STREAM || type === Frame.PUSH_PROMISE || type === Frame.GOAWAY) {
      return NO_HOST; // no request comes first
    } // SETTINGS, PING, PRIORITY, WINDOW_UPDATE and unknown (extension) frames: skipped
    pos = end;
  }
  if (parts.length === 0) return INCOMPLETE;
  return decodeBlock(Buffer.concat(parts), complete);
}

// ---- HPACK ----------------------------------------------------------------

/** Thrown inside the decoder only: bytes missing / a coding error. */
class Truncated {}
class Malformed {}

const OTHER = 0, AUTHORITY = 1, HOST = 2;
/** What the decoder keeps of a field: which of the names we want it is, and the value for those. */
interface Field {
  kind: number;
  pseudo: boolean;
  nameLen: number;
  size: number; // name + value + 32 (RFC 7541 §4.1)
  value: string | null; // AUTHORITY / HOST only; null: longer than KEEP
}

const STATIC: Field[] = HPACK_STATIC_NAMES.map((name) => ({
  kind: name === ':authority' ? AUTHORITY : name === 'host' ? HOST : OTHER,
  pseudo: name.startsWith(':'),
  nameLen: name.length,
  size: 0,
  value: '', // static values of these two are empty
}));

function decodeBlock(blk: Uint8Array, complete: boolean): H2AuthorityResult {
  const table: Field[] = []; // newest first
  let tableSize = 0, maxSize = MAX_TABLE;
  let pos = 0;
  let host: string | null | undefined; // the first host field's value
  let fields = 0, regular = false;

  const byte = (): number => {
    if (pos >= blk.length) throw new Truncated();
    return blk[pos++];
  };
  const int = (first: number, prefixBits: number): number => {
    const max = (1 << prefixBits) - 1;
    let v = first & max;
    if (v < max) return v;
    for (let shift = 0; ; shift += 7) {
      if (shift > 21) throw new Malformed(); // far beyond any length a 64 KiB peek can hold
      const c = byte();
      v += (c & 0x7f) * 2 ** shift;
      if (!(c & 0x80)) return v;
    }
  };
  /** A string literal: its decoded length and its first KEEP bytes. */
  const str = (): { len: number; text: string } => {
    const first = byte();
    const len = int(first, 7);
    if (len > blk.length - pos) throw new Truncated();
    const raw = blk.subarray(pos, pos + len);
    pos += len;
    return first & 0x80 ? huffman(raw) : { len, text: latin1(raw.subarray(0, KEEP)) };
  };
  const entry = (index: number): Field => {
    if (index === 0) throw new Malformed();
    if (index <= STATIC.length) return STATIC[index - 1];
    const e = table[index - STATIC.length - 1];
    if (!e) throw new Malformed();
    return e;
  };
  const evict = () => {
    while (tableSize > maxSize) tableSize -= (table.pop() as Field).size;
  };
  const nameOf = (index: number): { kind: number; pseudo: boolean; len: number } => {
    if (index > 0) {
      const e = entry(index);
      return { kind: e.kind, pseudo: e.pseudo, len: e.nameLen };
    }
    const s = str();
    const kind = s.text === ':authority' ? AUTHORITY : s.text === 'host' ? HOST : OTHER;
    return { kind, pseudo: s.text.startsWith(':'), len: s.len };
  };
  /** A decoded field: the answer if it settles one. */
  const field = (kind: number, pseudo: boolean, value: string | null): H2AuthorityResult | undefined => {
    fields++;
    if (pseudo && regular) throw new Malformed(); // pseudo-headers come first
    if (!pseudo) regular = true;
    if (kind === AUTHORITY) {
      const h = value === null ? null : hostFromAuthority(value);
      return h === null ? NO_HOST : { kind: 'host', host: h };
    }
    if (kind === HOST && host === undefined) host = value;
    return undefined;
  };

  try {
    while (pos < blk.length) {
      const c = byte();
      let done: H2AuthorityResult | undefined;
      if (c & 0x80) {
        const e = entry(int(c, 7));
        done = field(e.kind, e.pseudo, e.value);
      } else if (c & 0x40 || (c & 0xe0) === 0) {
        // Literal, with incremental indexing (01) or without / never indexed (0000 / 0001).
        const indexed = (c & 0x40) !== 0;
        const name = nameOf(int(c, indexed ? 6 : 4));
        const value = str();
        const kept = name.kind === OTHER ? '' : value.len < KEEP ? value.text : null;
        if (indexed) {
          const size = name.len + value.len + 32;
          const e: Field = { kind: name.kind, pseudo: name.pseudo, nameLen: name.len, size, value: kept };
          if (size > maxSize) {
            table.length = 0;
            tableSize = 0;
          } else {
            table.unshift(e);
            tableSize += size;
            evict();
          }
        }
        done = field(name.kind, name.pseudo, kept);
      } else {
        // Dynamic table size update: only before the first field.
        const size = int(c, 5);
        if (size > MAX_TABLE || fields > 0) throw new Malformed();
        maxSize = size;
        evict();
      }
      if (done) return done;
    }
  } catch (e) {
    if (e instanceof Truncated) return complete ? NO_HOST : INCOMPLETE;
    if (e instanceof Malformed) return NO_HOST;
    throw e;
  }
  if (!complete) return INCOMPLETE;
  const h = host === undefined || host === null ? null : hostFromAuthority(host);
  return h === null ? NO_HOST : { kind: 'host', host: h };
}

// ---- Huffman (RFC 7541 §5.2, Appendix B) ----------------------------------

/** The code as a binary tree: node i has children TREE[2i] (bit 0) and TREE[2i+1]; a leaf is -1 - symbol. */
const TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * 256).fill(0);
  let nodes = 1;
  for (let sym = 0; sym < HUFFMAN_CODES.length; sym++) {
    const [code, bits] = HUFFMAN_CODES[sym];
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (i === 0) tree[slot] = -1 - sym;
      else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot];
      }
    }
  }
  return tree;
})();
const EOS = 256;

/** Decoded length and first KEEP bytes; EOS in the data or padding that is not a short run of 1s is an error. */
function huffman(raw: Uint8Array): { len: number; text: string } {
  const keep: number[] = [];
  let len = 0, node = 0, depth = 0, ones = true;
  for (let i = 0; i < raw.length; i++) {
    for (let bit = 7; bit >= 0; bit--) {
      const v = (raw[i] >> bit) & 1;
      const next = TREE[2 * node + v];
      depth++;
      ones &&= v === 1;
      if (next < 0) {
        const sym = -1 - next;
        if (sym === EOS) throw new Malformed();
        if (keep.length < KEEP) keep.push(sym);
        len++;
        node = 0;
        depth = 0;
        ones = true;
      } else node = next;
    }
  }
  if (depth > 7 || !ones) throw new Malformed();
  return { len, text: String.fromCharCode(...keep) };
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}
