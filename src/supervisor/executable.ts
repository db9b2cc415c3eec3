// Finding the server's program before anything is started, so a typo is a
// clear error instead of a child that fails in execve under the filter.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Finds an executable the way execvp would. */
export function resolveExecutable(name: string, envPath = process.env.PATH ?? '/usr/bin:/bin'): string {
  const candidates = name.includes('/') ? [path.resolve(name)] : envPath.split(':').filter(Boolean).map((d) => path.join(d, name));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return c;
    } catch {
      /* next */
    }
  }
  const err = new Error(`vhqos: cannot run ${JSON.stringify(name)}: not found or not executable${name.includes('/') ? '' : ' in PATH'}`);
  (err as NodeJS.ErrnoException).code = 'ENOENT';
  throw err;
}
