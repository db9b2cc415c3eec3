// Running Apache's vhost dump (`-S`): which command, with which environment.
// apache2ctl / apachectl pass unknown arguments to the server binary, so
// `apache2ctl -f CONF -S` works, and Debian's apache2ctl first sources
// envvars (APACHE_RUN_DIR, APACHE_LOG_DIR, ...), without which Debian's
// apache2.conf does not parse. A bare apache2 / httpd gets envvars sourced
// here when APACHE_RUN_DIR is unset and one sits beside the config.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ImportError } from '../errors';
export { ImportError };

export interface DumpCommand {
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** How to show it to people. */
  shown: string;
}

export interface DumpCommandOptions {
  /** Apache's main config file (-f). */
  config?: string;
  /** The control command to use instead of searching, with its own arguments ("apachectl", "/opt/httpd/bin/apachectl -d /opt/httpd"). */
  apachectl?: string;
  env?: NodeJS.ProcessEnv;
  /** Executable lookup (default: $PATH plus the usual sbin directories). */
  which?: (name: string) => string | null;
  exists?: (file: string) => boolean;
}

const CONTROLS = ['apache2ctl', 'apachectl'];
const BINARIES = ['apache2', 'httpd'];
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/apache2/bin'];

export function whichExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  for (const dir of [...(env.PATH ?? '').split(':').filter(Boolean), ...EXTRA_DIRS]) {
    const f = path.join(dir, name);
    if (isExecutable(f)) return f;
  }
  return null;
}

function isExecutable(f: string): boolean {
  try {
    fs.accessSync(f, fs.constants.X_OK);
    return fs.statSync(f).isFile();
  } catch {
    return false;
  }
}

/** Pure given `which`/`exists`: the command that prints the vhost dump. */
export function dumpCommand(opts: DumpCommandOptions): DumpCommand {
  const env = { ...(opts.env ?? process.env) };
  const which = opts.which ?? ((n: string) => whichExecutable(n, env));
  const exists = opts.exists ?? fs.existsSync;
  const conf = opts.config === undefined ? [] : ['-f', path.resolve(opts.config)];
  const show = (argv: string[]) => argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  const confDir = opts.config === undefined ? undefined : path.dirname(path.resolve(opts.config));

  if (opts.apachectl !== undefined) {
    const words = opts.apachectl.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) throw new ImportError('--apachectl is empty');
    const argv = [...words, ...conf, '-S'];
    return { argv, env, shown: show(argv) };
  }
  for (const name of CONTROLS) {
    const ctl = which(name);
    if (!ctl) continue;
    // Debian's apache2ctl reads $APACHE_CONFDIR/envvars (default /etc/apache2): point it at the config's own.
    if (confDir && env.APACHE_CONFDIR === undefined && confDir !== '/etc/apache2' && exists(path.join(confDir, 'envvars'))) {
      env.APACHE_CONFDIR = confDir;
    }
    const argv = [ctl, ...conf, '-S'];
    return { argv, env, shown: show(argv) };
  }
  for (const name of BINARIES) {
    const bin = which(name);
    if (!bin) continue;
    const argv = [bin, ...conf, '-S'];
    const envvars = [confDir, '/etc/apache2'].filter((d): d is string => !!d).map((d) => path.join(d, 'envvars')).find(exists);
    if (env.APACHE_RUN_DIR === undefined && envvars) {
      const viaShell = ['/bin/sh', '-c', '. "$0" && exec "$@"', envvars, ...argv];
      return { argv: viaShell, env, shown: `. ${envvars} && ${show(argv)}` };
    }
    return { argv, env, shown: show(argv) };
  }
  throw new ImportError(
    `no Apache found: none of ${[...CONTROLS, ...BINARIES].join(', ')} is in PATH or ${EXTRA_DIRS.join(', ')}; give the command with --apachectl CMD`,
  );
}

/** Run the dump; its text (stdout, or stderr where old versions print it). Throws ImportError with Apache's message. */
export function runDump(cmd: DumpCommand, timeoutMs = 60000): string {
  const r = spawnSync(cmd.argv[0], cmd.argv.slice(1), { env: cmd.env, encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImportError(`${cmd.argv[0]}: not found (give the command with --apachectl CMD)`);
    if (code === 'ETIMEDOUT') throw new ImportError(`${cmd.shown}: no answer within ${timeoutMs / 1000} s`);
    throw new ImportError(`${cmd.shown}: ${r.error.message}`);
  }
  const stdout = r.stdout ?? '';
  const stderr = (r.stderr ?? '').trim();
  if (r.status !== 0) {
    const why = r.status === null ? `killed by ${r.signal}` : `exit status ${r.status}`;
    const said = [stderr, stdout.trim()].filter(Boolean).join('\n');
    // Debian's apache2.conf uses ${APACHE_RUN_DIR} etc. from envvars, which only apache2ctl sources.
    const hint = /Config variable \$\{APACHE_\w+\} is not defined/.test(said)
      ? '\n(this config needs the APACHE_* variables of Debian\'s envvars: leave out --apachectl to use apache2ctl, or source them first: . /etc/apache2/envvars)'
      : '';
    throw new ImportError(`${cmd.shown} failed (${why}):\n${said || '(no output)'}${hint}`);
  }
  if (stdout.includes('VirtualHost configuration:')) return stdout;
  if (stderr.includes('VirtualHost configuration:')) return stderr;
  throw new ImportError(`${cmd.shown} printed no "VirtualHost configuration:" section:\n${[stderr, stdout.trim()].filter(Boolean).join('\n') || '(no output)'}`);
}
