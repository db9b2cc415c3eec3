// "Did you mean" for unknown config keys: the known key nearest in edit
// distance (case ignored), if it is near enough to be a typo.
import { distance } from 'fastest-levenshtein';

/** The key of `known` that `key` most likely misspells, or undefined. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  // Two edits (one swap of neighbours: rpbs→rbps, memroy→memory), a third
  // of a long key's letters, one for keys of up to three letters (io, cpu).
  const allowed = Math.max(key.length <= 3 ? 1 : 2, Math.floor(key.length / 3));
  return bestDistance <= allowed ? best : undefined;
}
