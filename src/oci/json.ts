// Lossless JSON for OCI documents.
//
// config.json carries uint64 values (seccomp argument masks, memory limits)
// that JSON.parse silently rounds once they exceed 2^53: 18446744073709551615
// would come back as 18446744073709552000, which Go's encoding/json then
// refuses (or worse, reads as another number). Whenever vhqos rewrites a
// document it parses and prints it with these two functions instead:
// integers that are not safe JS numbers become `bigint` and are printed back
// digit for digit; everything else behaves exactly like JSON.parse /
// JSON.stringify.

export class JsonSyntaxError extends SyntaxError {
  constructor(
    message: string,
    /** Offset in the text where parsing failed. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const STRING_RE = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;

/** Parses JSON text; integers outside ±(2^53-1) are returned as bigint. */
export function parseJsonLossless(text: string): unknown {
  let pos = 0;
  const fail = (what: string): never => {
    const near = JSON.stringify(text.slice(pos, pos + 20));
    throw new JsonSyntaxError(`invalid JSON at offset ${pos} (near ${near}): ${what}`, pos);
  };
  const skip = () => {
    while (pos < text.length && WS.has(text.charCodeAt(pos))) pos++;
  };
  const value = (depth: number): unknown => {
    if (depth > 512) fail('nested too deeply');
    skip();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: Record<string, unknown> = {};
      skip();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        skip();
        if (text[pos] !== '"') fail('expected a string key');
        const key = string();
        skip();
        if (text[pos] !== ':') fail("expected ':'");
        pos++;
        const v = value(depth + 1);
        // like JSON.parse: "__proto__" is an ordinary own property
        Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        skip();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      pos++;
      const arr: unknown[] = [];
      skip();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        skip();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith('null', pos)) {
      pos += 4;
      return null;
    }
    NUMBER_RE.lastIndex = pos;
    const m = NUMBER_RE.exec(text);
    if (!m) return fail('unexpected character');
    pos += m[0].length;
    const n = Number(m[0]);
    if (/^-?\d+$/.test(m[0]) && !Number.isSafeInteger(n)) return BigInt(m[0]);
    return n;
  };
  const string = (): string => {
    STRING_RE.lastIndex = pos;
    const m = STRING_RE.exec(text);
    if (!m) return fail('bad string');
    pos += m[0].length;
    return JSON.parse(m[0]) as string;
  };
  const v = value(0);
  skip();
  if (pos !== text.length) fail('unexpected data after the document');
  return v;
}

/**
 * JSON.stringify that prints bigint as an integer. Drops undefined and
 * function members like JSON.stringify; `indent` as its third argument.
 */
export function stringifyJsonLossless(value: unknown, indent?: number): string {
  const pad = indent ? ' '.repeat(indent) : '';
  const out = (v: unknown, cur: string): string | undefined => {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'bigint':
        return v.toString();
      case 'number':
      case 'boolean':
      case 'string':
        return JSON.stringify(v);
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined;
    }
    const inner = cur + pad;
    const nl = pad ? '\n' : '';
    const sep = pad ? ': ' : ':';
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      const items = v.map((x) => out(x, inner) ?? 'null');
      return `[${nl}${items.map((s) => inner + s).join(`,${nl}`)}${nl}${cur}]`;
    }
    const withToJson = v as { toJSON?: () => unknown };
    if (typeof withToJson.toJSON === 'function') return out(withToJson.toJSON(), cur);
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const s = out(x, inner);
      if (s !== undefined) parts.push(`${inner}${JSON.stringify(k)}${sep}${s}`);
    }
    if (parts.length === 0) return '{}';
    return `{${nl}${parts.join(`,${nl}`)}${nl}${cur}}`;
  };
  return out(value, '') ?? 'null';
}

/** Deep copy with every bigint turned into the nearest number (for ajv). */
export function toPlainNumbers(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(toPlainNumbers);
  if (value && typeof value === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(o, k, { value: toPlainNumbers(v), enumerable: true, writable: true, configurable: true });
    }
    return o;
  }
  return value;
}
