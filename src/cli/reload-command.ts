// `vhqos reload`: asks a running supervisor, over its root-only control
// socket, to read its config again (or FILE) and apply the difference without
// restarting or signalling the server. SIGHUP still goes to the server
// (Apache's graceful restart): the two are independent.
import * as path from 'node:path';
import { ControlError, defaultSocketPath, listStatusSockets, request } from '../status/server';

export interface ReloadArgs {
  instance?: string;
  config?: string;
}

function pickSocket(instance: string | undefined): string | Error {
  const all = listStatusSockets();
  if (instance) {
    const exact = defaultSocketPath(instance);
    if (all.includes(exact)) return exact;
    const byPrefix = all.filter((s) => path.basename(s, '.sock').startsWith(instance));
    if (byPrefix.length === 1) return byPrefix[0];
    if (byPrefix.length > 1) return new Error(`--instance ${instance} is ambiguous: ${byPrefix.map((s) => path.basename(s, '.sock')).join(', ')}`);
    return new Error(`no running instance named ${JSON.stringify(instance)} (see vhqos status)`);
  }
  if (all.length === 1) return all[0];
  if (all.length === 0) return new Error('no running supervisor found (no status socket in /run/vhqos)');
  return new Error(`several instances run (${all.map((s) => path.basename(s, '.sock')).join(', ')}): say which with --instance NAME`);
}

export async function reloadCommand(a: ReloadArgs): Promise<number> {
  const sock = pickSocket(a.instance);
  if (sock instanceof Error) {
    console.error(`vhqos: ${sock.message}`);
    return 2;
  }
  try {
    // The supervisor answers once the reload is applied: 10,000 vhosts take seconds to parse and set.
    const reply = (await request(sock, { cmd: 'reload', ...(a.config ? { config: path.resolve(a.config) } : {}) }, 120000)) as {
      result: { config: string; changes: string[]; warnings: string[] };
    };
    const r = reply.result;
    console.log(`${path.basename(sock, '.sock')}: reloaded ${r.config}`);
    for (const line of r.changes) console.log(`  ${line}`);
    for (const w of r.warnings) console.log(`  warning: ${w}`);
    return 0;
  } catch (e) {
    if (e instanceof ControlError && e.problems?.length) {
      console.error(`vhqos: invalid configuration, nothing changed\n${e.problems.map((p) => `  ${p}`).join('\n')}`);
      return 1;
    }
    console.error(`vhqos: reload failed: ${(e as Error).message}`);
    return 1;
  }
}
