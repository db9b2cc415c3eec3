// Where the repository, the fixtures and the demo live, seen from compiled
// code (dist/test/helpers) or from the sources (test/helpers), and fresh
// temporary directories the servers' unprivileged workers can read.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

let root: string | undefined;

/** The repository root: the first ancestor of this file holding package.json and test/fixtures. */
export function repoRoot(): string {
  if (root) return root;
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'test', 'fixtures'))) {
      root = dir;
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`repoRoot: no package.json with test/fixtures above ${__dirname}`);
    dir = up;
  }
}

/** test/fixtures/cgi: whoami, burn, inetd-handler, sockname. */
export function cgiFixturesDir(): string {
  return path.join(repoRoot(), 'test', 'fixtures', 'cgi');
}

/** demo/ (forking-httpd.pl, demo.yaml). */
export function demoDir(): string {
  return path.join(repoRoot(), 'demo');
}

/**
 * A fresh directory under os.tmpdir(), mode 0755 so that server workers that
 * dropped privileges (Apache's www-data) can reach the files inside. Its path
 * is unique, and the helpers put it into the server's argv.
 */
export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** Copy the CGI fixtures into dir (mode 0755); returns the paths by name. */
export function installCgiScripts(dir: string): {
  dir: string;
  whoami: string;
  burn: string;
  handler: string;
  sockname: string;
} {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const src = cgiFixturesDir();
  const out: Record<string, string> = {};
  for (const name of ['whoami', 'burn', 'inetd-handler', 'sockname', 'hostile', 'sleep', 'forks', 'eat', 'ddwrite']) {
    const to = path.join(dir, name);
    fs.copyFileSync(path.join(src, name), to);
    fs.chmodSync(to, 0o755);
    out[name] = to;
  }
  return { dir, whoami: out['whoami'], burn: out['burn'], handler: out['inetd-handler'], sockname: out['sockname'] };
}
