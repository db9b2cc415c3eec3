// `vhqos import apache`: a commented vhqos config from Apache's own view of
// its vhosts (`apache2ctl -S`), for the operator to put limits into.
import * as fs from 'node:fs';
import { parseConfig, ConfigError } from '../config/load';
import { parseDumpVhosts } from '../apache-import/dump-vhosts';
import { dumpCommand, ImportError, runDump } from '../apache-import/run-dump';
import { planImport, renderConfig, type ImportPlan } from '../apache-import/to-config';
import { readVhostBlock } from '../apache-import/vhost-block';

export interface ImportApacheOptions {
  config?: string;
  apachectl?: string;
  output?: string;
}

export interface ApacheImport {
  /** The commented YAML config. */
  text: string;
  /** Which <VirtualHost> each vhost stands for. */
  plan: ImportPlan;
  /** The command that printed Apache's vhost dump. */
  command: string;
}

/** The imported config, or an ImportError saying why not. */
export function importApache(opts: ImportApacheOptions): ApacheImport {
  const cmd = dumpCommand({ config: opts.config, apachectl: opts.apachectl });
  const dump = parseDumpVhosts(runDump(cmd));
  if (dump.chains.length === 0) {
    throw new ImportError(`${cmd.shown}: Apache has no <VirtualHost>: nothing to import (vhqos needs at least one vhost)`);
  }
  const plan = planImport(dump, { readBlock: readVhostBlock });
  if (plan.vhosts.length === 0) {
    const defaults = plan.defaultSources.map((s) => `${s.serverName} (${s.file}:${s.line}) on ${s.chain}`);
    throw new ImportError(
      `${cmd.shown}: nothing for vhqos to tell apart: Apache serves every connection with ` +
        `${defaults.length ? `its default vhost ${defaults.join(', ')}` : 'its main server'}, which would all be vhqos' _default; ` +
        'a vhqos config needs at least one vhost with a ServerName or an IP address',
    );
  }
  const text = renderConfig(plan, { command: cmd.shown });
  try {
    parseConfig(text, '<imported config>'); // never hand out a config vhqos refuses
  } catch (e) {
    const problems = e instanceof ConfigError ? e.problems.join('\n  ') : (e as Error).message;
    throw new ImportError(`the imported config does not validate (a bug in vhqos import, please report it):\n  ${problems}\n${text}`);
  }
  return { text, plan, command: cmd.shown };
}

export function importApacheCommand(opts: ImportApacheOptions): number {
  let text: string;
  try {
    text = importApache(opts).text;
  } catch (e) {
    console.error(`vhqos import apache: ${(e as Error).message}`);
    return 1;
  }
  if (opts.output === undefined || opts.output === '-') {
    process.stdout.write(text);
    return 0;
  }
  try {
    fs.writeFileSync(opts.output, text);
  } catch (e) {
    console.error(`vhqos import apache: cannot write ${opts.output}: ${(e as Error).message}`);
    return 1;
  }
  console.error(`wrote ${opts.output}: edit the placeholder limits, then vhqos validate ${opts.output}`);
  return 0;
}
