// Find the host an HTTP/1.x request is for, from the first bytes of the
// stream (peeked, so possibly cut anywhere). One pass over the bytes; strings
// are only made of the few bytes that form the host. Never throws.
//
// Choices (RFC 9112 says a server must reject most of these with 400, so the
// server will; we only need a stable, cheap answer):
// * Empty lines before the request line are skipped (RFC 9112 §2.2).
// * Bare LF ends a line like CRLF does.
// * An absolute-form target with the scheme `http` (`GET http://x.test/
//   HTTP/1.1`) wins over Host (RFC 9112 §3.2.2); if its authority has no
//   usable host (empty, userinfo, bad characters) the request has no name.
//   A target naming another scheme (`https://` on a plain connection) is
//   ignored and Host decides: Apache takes a target's host only when its
//   scheme is the connection's (ap_parse_uri), and TLS bytes are never
//   parsed here, so that is `http`.
// * The FIRST Host field wins; later ones are not looked for (a request with
//   two is answered 400 by the server anyway), so we can stop early.
// * Folded lines (obs-fold) continuing a Host field are joined with a space.
//   Hence a Host field is only final once the first byte of the next line
//   has arrived (a request head ending "Host: x\r\n" is still incomplete).
// * A Host value that is not `name[:port]` / `[ipv6][:port]` with name made of
//   letters, digits, `-`, `.`, `_` counts as no Host at all.
// * Methods longer than 32 bytes are taken as not HTTP (binary protocols).
// * A Host after 100 header fields is not looked for: Apache refuses such a
//   request (LimitRequestFields 100), and it bounds the work of re-reading a
//   request that arrives a line at a time.
import { isIP } from 'node:net';
import { normaliseIp } from './address';

export type HttpHostResult =
  | { kind: 'host'; host: string }
  | { kind: 'no-host' }
  | { kind: 'incomplete' }
  | { kind: 'not-http' };

const LF = 10, CR = 13, SP = 32, HT = 9;
const MAX_METHOD = 32;
/** Apache's default LimitRequestFields. */
const MAX_FIELDS = 100;
/** Longer Host values are invalid anyway; caps the string we build. */
const MAX_HOST_VALUE = 300;

const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}
const VERSION = 'HTTP/1.';

const INCOMPLETE = { kind: 'incomplete' } as const;
const NOT_HTTP = { kind: 'not-http' } as const;
const NO_HOST = { kind: 'no-host' } as const;

export function parseHttpHost(bytes: Uint8Array): HttpHostResult {
  try {
    return parse(bytes);
  } catch {
    return NOT_HTTP; // not reachable by design; the supervisor must never see a throw
  }
}

function parse(b: Uint8Array): HttpHostResult {
  let pos = 0;
  while (pos < b.length && (b[pos] === CR || b[pos] === LF)) pos++;
  const nl = b.indexOf(LF, pos);
  const lineEnd = trimCr(b, pos, nl < 0 ? b.length : nl);
  const target = requestLine(b, pos, lineEnd, nl >= 0);
  if (target === 'bad') return NOT_HTTP;
  if (target === 'partial') return INCOMPLETE;

  const absolute = absoluteFormAuthority(latin1(b, target[0], Math.min(target[1], target[0] + 2048)));
  if (absolute !== null) {
    const host = absolute.includes('@') ? null : hostFromAuthority(absolute);
    return host === null ? NO_HOST : { kind: 'host', host };
  }

  // Header fields. `value` collects the first Host field (plus folded lines)
  // until the line after it shows the field is complete.
  let value: string | null = null;
  let fields = 0;
  pos = nl + 1;
  for (;;) {
    if (pos >= b.length) return INCOMPLETE;
    const folded = b[pos] === SP || b[pos] === HT;
    if (value !== null && !folded) return hostResult(value); // the Host field is complete
    const next = b.indexOf(LF, pos);
    if (next < 0) return INCOMPLETE;
    const end = trimCr(b, pos, next);
    if (folded) {
      // Continuation of the previous field.
      if (value !== null && value.length <= MAX_HOST_VALUE) {
        value += ' ' + latin1(b, pos, Math.min(end, pos + MAX_HOST_VALUE + 1));
      }
    } else {
      if (end === pos) return NO_HOST; // empty line: end of the header block
      if (++fields > MAX_FIELDS) return NO_HOST;
      if (isHostField(b, pos, end)) {
        value = latin1(b, pos + 5, Math.min(end, pos + 5 + MAX_HOST_VALUE + 1));
      }
    }
    pos = next + 1;
  }
}

/** End of a line without its CR (CRLF is the normal line end). */
function trimCr(b: Uint8Array, start: number, end: number): number {
  return end > start && b[end - 1] === CR ? end - 1 : end;
}

/**
 * `method SP target SP HTTP/1.x`; [start, end) of the target, 'partial' if
 * the bytes so far could still become one, else 'bad'. `whole` says whether
 * the line ended (LF seen) or the input did.
 */
function requestLine(b: Uint8Array, i: number, end: number, whole: boolean): [number, number] | 'partial' | 'bad' {
  const more = whole ? 'bad' : 'partial';
  const methodStart = i;
  while (i < end && TCHAR[b[i]] && i - methodStart < MAX_METHOD) i++;
  if (i - methodStart >= MAX_METHOD && i < end && TCHAR[b[i]]) return 'bad';
  if (i === end) return more;
  if (i === methodStart || b[i] !== SP) return 'bad';
  while (i < end && b[i] === SP) i++;
  const targetStart = i;
  while (i < end && b[i] > 0x20 && b[i] < 0x7f) i++;
  if (i === end) return more;
  if (i === targetStart || b[i] !== SP) return 'bad';
  const targetEnd = i;
  while (i < end && b[i] === SP) i++;
  for (let k = 0; k < VERSION.length; k++, i++) {
    if (i === end) return more;
    if (b[i] !== VERSION.charCodeAt(k)) return 'bad';
  }
  if (i === end) return more;
  if (b[i] < 0x30 || b[i] > 0x39) return 'bad';
  i++;
  if (i === end) return whole ? [targetStart, targetEnd] : 'partial';
  return 'bad';
}

/** Case-insensitive `host:` at the start of the line. */
function isHostField(b: Uint8Array, pos: number, end: number): boolean {
  return (
    end - pos >= 5 &&
    (b[pos] | 0x20) === 0x68 && // h
    (b[pos + 1] | 0x20) === 0x6f && // o
    (b[pos + 2] | 0x20) === 0x73 && // s
    (b[pos + 3] | 0x20) === 0x74 && // t
    b[pos + 4] === 0x3a // :
  );
}

function hostResult(value: string): HttpHostResult {
  const host = hostFromAuthority(value.replace(/^[ \t]+|[ \t]+$/g, ''));
  return host === null ? NO_HOST : { kind: 'host', host };
}

/** The authority of `http://authority/...` (scheme in any case), or null if the target is not that. */
function absoluteFormAuthority(target: string): string | null {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/.exec(target);
  return m && m[1].toLowerCase() === 'http' ? m[2] : null;
}

/**
 * `name[:port]` or `[ipv6][:port]` → lower-case name without one trailing
 * dot (IPv6 literals normalised), or null if unusable. Shared with the Host
 * field and absolute-form targets.
 */
export function hostFromAuthority(authority: string): string | null {
  if (authority.length > MAX_HOST_VALUE) return null;
  if (authority.startsWith('[')) {
    const m = /^\[([0-9A-Fa-f:.]+)\](?::[0-9]*)?$/.exec(authority);
    return m && isIP(m[1]) === 6 ? normaliseIp(m[1]) : null;
  }
  const m = /^([A-Za-z0-9._-]+)(?::[0-9]*)?$/.exec(authority);
  if (!m) return null;
  return cleanHostName(m[1]);
}

/** Lower-case, strip one trailing dot; null if nothing sensible is left. */
export function cleanHostName(name: string): string | null {
  let h = name.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.length === 0 || h.length > 253 || !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(h)) return null;
  return h;
}

function latin1(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, Math.max(0, end - start)).toString('latin1');
}
