// Units of the config file: sizes ("512M", powers of 1024) and CPU shares
// ("150%" of one CPU). The schema checks the syntax; these do the arithmetic.

const SIZE_UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/**
 * Bytes of a size: an integer, `"1048576"`, `"512M"`, `"1.5G"` (K/M/G/T are
 * powers of 1024, either case; fractions round down to a byte).
 * `"max"` → undefined (no limit). Returns null if unparsable or beyond 2^53.
 */
export function parseSize(v: number | string): number | undefined | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (v === 'max') return undefined;
  const m = /^([0-9]+(?:\.[0-9]+)?)([KMGTkmgt]?)$/.exec(v);
  if (!m) return null;
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** The shortest exact `512M` form of a byte count (plain bytes if none is exact). */
export function formatSize(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K']) {
    const n = SIZE_UNITS[unit.toLowerCase()];
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return String(bytes);
}

/**
 * Fraction of one CPU: `"150%"` or `150` → 1.5; `"max"` → undefined (no limit).
 * Returns null if unparsable.
 */
export function parsePercent(v: number | string): number | undefined | null {
  if (v === 'max') return undefined;
  const n = typeof v === 'number' ? v : /^[0-9]+(\.[0-9]+)?%$/.test(v) ? Number(v.slice(0, -1)) : NaN;
  return Number.isFinite(n) ? n / 100 : null;
}

/** `1.5` → `"150%"`. */
export function formatPercent(fraction: number): string {
  return `${Math.round(fraction * 10000) / 100}%`;
}
