// Command-line options of the benchmarks: `--NAME VALUE`, or the environment's
// BENCH_NAME (so run-all.sh can set them for every benchmark), else a default.
// `--help` prints the benchmark's leading comment (its usage) instead of running it.
import * as fs from 'node:fs';
import * as path from 'node:path';

function raw(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : process.env[`BENCH_${name.toUpperCase()}`];
}

/** A positive number from `--NAME N` or BENCH_NAME, else `def`. */
export function numArg(name: string, def: number): number {
  const r = raw(name);
  const v = r !== undefined ? Number(r) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}

/** One of `choices` from `--NAME X` or BENCH_NAME, else `def`. */
export function choiceArg<T extends string>(name: string, choices: readonly T[], def: T): T {
  const r = raw(name) ?? def;
  if (!choices.includes(r as T)) throw new Error(`--${name}: ${choices.join(' or ')}`);
  return r as T;
}

/** A comma list from `--NAME a,b` or BENCH_NAME, each one of `all`; default all. */
export function listArg<T extends string>(name: string, all: T[]): T[] {
  const r = raw(name);
  if (r === undefined) return all;
  const got = r.split(',').map((x) => x.trim()) as T[];
  const bad = got.filter((x) => !all.includes(x));
  if (bad.length || !got.length) throw new Error(`--${name}: expected a comma list of ${all.join(', ')}`);
  return all.filter((x) => got.includes(x));
}

/** A switch: `--NAME` present. */
export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/** The leading comment of the running benchmark (its usage), without the `// `. */
export function usage(script = require.main?.filename ?? process.argv[1]): string {
  // Read bench/x.ts for dist/bench/x.js when the sources are there (tsc may move
  // or drop the comment); else the first comment block of the script itself.
  const source = path.join(path.dirname(script), '..', '..', 'bench', path.basename(script).replace(/\.js$/, '.ts'));
  const text = fs.readFileSync(fs.existsSync(source) ? source : script, 'utf8');
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('//')) lines.push(line.replace(/^\/\/ ?/, ''));
    else if (lines.length) break;
  }
  return lines.join('\n');
}
