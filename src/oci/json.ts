// Lossless JSON for OCI documents, on the `lossless-json` package.
//
// config.json carries uint64 values (seccomp argument masks, memory limits)
// that JSON.parse silently rounds once they exceed 2^53: 18446744073709551615
// would come back as 18446744073709552000, which Go's encoding/json then
// refuses (or worse, reads as another number). Whenever vhqos rewrites a
// document it parses and prints it with these functions instead: integers
// that are not safe JS numbers become `bigint` and are printed back digit for
// digit; everything else behaves like JSON.parse / JSON.stringify (a repeated
// key keeps its last value, as JSON.parse and Go's encoding/json do, so a
// config the runtime accepts is never refused here).
import { isInteger, parse, stringify } from 'lossless-json';

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

/** Integers beyond ±(2^53-1) as bigint, every other number as JSON.parse reads it. */
function parseNumber(text: string): number | bigint {
  const n = Number(text);
  return !Number.isSafeInteger(n) && isInteger(text) ? BigInt(text) : n;
}

/** Parses JSON text; integers outside ±(2^53-1) are returned as bigint. */
export function parseJsonLossless(text: string): unknown {
  try {
    return parse(text, null, { parseNumber, onDuplicateKey: ({ newValue }) => newValue });
  } catch (e) {
    // lossless-json recurses per level: a hostile nesting depth overflows the stack.
    if (e instanceof RangeError) throw new JsonSyntaxError('invalid JSON: nested too deeply', 0);
    if (!(e instanceof SyntaxError)) throw e;
    // Its messages end with "at position N" (0-based offset).
    const m = /at position (\d+)/.exec(e.message);
    const offset = m ? Number(m[1]) : 0;
    const near = JSON.stringify(text.slice(offset, offset + 20));
    throw new JsonSyntaxError(`invalid JSON at offset ${offset} (near ${near}): ${e.message}`, offset);
  }
}

/**
 * JSON.stringify that prints bigint as an integer. Drops undefined and
 * function members like JSON.stringify; `indent` as its third argument.
 * (With an indent, an object whose members are all dropped prints as an
 * empty object with a blank line inside: still the same JSON.)
 */
export function stringifyJsonLossless(value: unknown, indent?: number): string {
  return stringify(value, null, indent) ?? 'null';
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
