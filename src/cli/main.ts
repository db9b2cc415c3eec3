// The vhqos command line: run, check, validate, status, demo.
import yargs from 'yargs';
import { defaultLogFormat, LOG_FORMATS, LOG_LEVELS, makeLogger, type LogFormat, type LogLevel } from './logger';
import { runCommand } from './run-command';
import { checkCommand } from './check-command';
import { validateCommand } from './validate-command';
import { statusCommand } from './status-command';
import { reloadCommand } from './reload-command';
import { attachCommand } from './attach-command';
import { demoCommand } from './demo-command';
import { importApacheCommand } from './import-command';
import * as path from 'node:path';
import { hookMain } from '../engines/hooks';
import { installHooks } from '../engines/install-hooks';
import { agentCommand } from './agent-command';

export function main(argv: string[]): void {
  yargs(argv)
    .scriptName('vhqos')
    .usage('$0 <command>\n\nPer-virtual-host cgroups for unmodified forking servers.')
    .command(
      'run',
      'run a server under vhqos: vhqos run --config site.yaml -- apache2 -DFOREGROUND',
      (y) =>
        y
          .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'vhost configuration (YAML or JSON)' })
          .option('log-level', { choices: LOG_LEVELS, default: 'info' as LogLevel })
          .option('log-format', { choices: LOG_FORMATS, describe: 'json lines, or pretty for people (default: pretty on a terminal, else json)' })
          .option('instance', { type: 'string', describe: 'name of the cgroup subtree, status socket and metrics label (default: the config file name without extension); one live supervisor per name' })
          .option('cgroup-parent', { type: 'string', default: 'vhqos', describe: 'cgroup path to create the instance under; self: below vhqos\' own cgroup (a systemd unit with Delegate=yes, cgroup v2)' })
          .option('metrics', { type: 'string', describe: 'serve Prometheus metrics at /metrics on HOST:PORT or unix:/PATH (a 0600 socket)' })
          .option('metrics-token-file', { type: 'string', describe: 'require "Authorization: Bearer <token>" with the token in this 0600 file' })
          .option('placement-only', { type: 'boolean', default: false, describe: 'trap nothing: the server asks to be placed over the placement socket ($VHQOS_PLACEMENT_SOCKET; README, Stand-alone placement)' })
          .usage('$0 run --config FILE [--log-level L] [--placement-only] -- COMMAND [ARGS...]'),
      async (a) => {
        const command = ((a['--'] as unknown[] | undefined) ?? a._.slice(1)).map(String);
        process.exitCode = await runCommand({
          configFile: a.config,
          command,
          logger: makeLogger(a['log-level'] as LogLevel, (a['log-format'] as LogFormat | undefined) ?? defaultLogFormat()),
          instance: a.instance,
          cgroupParent: a['cgroup-parent'],
          metrics: a.metrics,
          metricsTokenFile: a['metrics-token-file'],
          placementOnly: a['placement-only'],
        });
      },
    )
    .command(
      'check',
      'what this kernel and cgroup setup support, and whether `run` can work here; then the container side',
      (y) =>
        y
          .option('json', { type: 'boolean', default: false })
          .option('agent-socket', { type: 'string', describe: 'agent socket to check (default: VHQOS_AGENT_SOCKET or /run/vhqos/agent.sock)' })
          .option('hooks-dir', { type: 'string', array: true, describe: 'podman hooks.d directories (default: podman\'s)' }),
      async (a) => {
        process.exitCode = await checkCommand({ json: a.json, agentSocket: a['agent-socket'], hooksDirs: a['hooks-dir'] as string[] | undefined });
      },
    )
    .command(
      'validate <file>',
      'validate a configuration file',
      (y) => y.positional('file', { type: 'string', demandOption: true }),
      (a) => {
        process.exitCode = validateCommand(a.file as string);
      },
    )
    .command(
      'status',
      'show running supervisors: vhosts, cgroups, processes, connections, lineage tables',
      (y) =>
        y
          .option('instance', { type: 'string' })
          .option('socket', { type: 'string', describe: 'status socket path' })
          .option('json', { type: 'boolean', default: false })
          .option('tables', { type: 'boolean', default: false, describe: 'also print the lineage tables' })
          .option('watch', { type: 'number', describe: 'refresh every N seconds (live view with CPU %)' }),
      async (a) => {
        process.exitCode = await statusCommand(a);
      },
    )
    .command(
      'attach',
      'take supervision of an instance back after its supervisor died (the server kept running, unclassified)',
      (y) =>
        y
          .option('instance', { type: 'string', demandOption: true, describe: 'the instance whose supervisor died' })
          .option('config', { alias: 'c', type: 'string', describe: 'its config (default: the one it was started with)' })
          .option('log-level', { choices: LOG_LEVELS, default: 'info' as LogLevel })
          .option('log-format', { choices: LOG_FORMATS, describe: 'json lines, or pretty for people (default: pretty on a terminal, else json)' }),
      async (a) => {
        process.exitCode = await attachCommand({ instance: a.instance, config: a.config, logger: makeLogger(a['log-level'] as LogLevel, (a['log-format'] as LogFormat | undefined) ?? defaultLogFormat()) });
      },
    )
    .command(
      'reload',
      'apply a changed config to a running instance without restarting or signalling its server',
      (y) =>
        y
          .option('instance', { type: 'string', describe: 'which instance (a unique prefix will do); default: the only one running' })
          .option('config', { alias: 'c', type: 'string', describe: 'read this file instead of the one the instance was started with' }),
      async (a) => {
        process.exitCode = await reloadCommand({ instance: a.instance, config: a.config });
      },
    )
    .command(
      'top',
      'live per-vhost view (status --watch): CPU and memory against their limits, processes serving/idle, connections, faults in the last interval',
      (y) => y.option('instance', { type: 'string' }).option('interval', { type: 'number', default: 2, describe: 'seconds between refreshes' }),
      async (a) => {
        process.exitCode = await statusCommand({ instance: a.instance, watch: Math.max(0.5, a.interval) });
      },
    )
    .command(
      'import',
      'write a vhqos config from a server\'s own configuration: vhqos import apache > site.yaml',
      (y) =>
        y
          .command(
            'apache',
            'one vhost per Apache <VirtualHost> (from apache2ctl -S), classified the way Apache serves, with placeholder limits',
            (z) =>
              z
                .option('config', { alias: 'c', type: 'string', describe: "Apache's main config file (passed as -f); default: Apache's own" })
                .option('apachectl', { type: 'string', describe: 'command that prints the vhost dump when given -S (default: apache2ctl, apachectl, apache2 or httpd)' })
                .option('output', { alias: 'o', type: 'string', describe: 'write the config here instead of stdout' }),
            (a) => {
              process.exitCode = importApacheCommand({ config: a.config, apachectl: a.apachectl, output: a.output });
            },
          )
          .demandCommand(1, 'Give what to import from: apache.'),
      () => undefined,
    )
    .command(
      'demo',
      'run a bundled forking server with two vhosts under vhqos, load both, show the CPU split live',
      (y) =>
        y
          .option('seconds', { type: 'number', default: 20 })
          .option('port', { type: 'number', default: 18080 })
          .option('log-level', { choices: LOG_LEVELS, default: 'warn' as LogLevel })
          .option('log-format', { choices: LOG_FORMATS, describe: 'json lines, or pretty for people (default: pretty on a terminal, else json)' }),
      async (a) => {
        process.exitCode = await demoCommand({ seconds: a.seconds, port: a.port, logger: makeLogger(a['log-level'] as LogLevel, (a['log-format'] as LogFormat | undefined) ?? defaultLogFormat()) });
      },
    )
    .command(
      'agent',
      'supervise containers: the seccomp listener podman hooks and vhqos-runtime point runc at',
      (y) =>
        y
          .option('socket', { type: 'string', describe: 'listen here (default $VHQOS_AGENT_SOCKET or /run/vhqos/agent.sock)' })
          .option('log-level', { choices: LOG_LEVELS, default: 'info' as LogLevel })
          .option('log-format', { choices: LOG_FORMATS, describe: 'json lines, or pretty for people (default: pretty on a terminal, else json)' })
          .option('metrics', { type: 'string', describe: 'Prometheus metrics of every container at /metrics on HOST:PORT or unix:/PATH' })
          .option('metrics-token-file', { type: 'string', describe: 'require "Authorization: Bearer <token>" with the token in this 0600 file' }),
      async (a) => {
        process.exitCode = await agentCommand({
          socket: a.socket,
          logger: makeLogger(a['log-level'] as LogLevel, (a['log-format'] as LogFormat | undefined) ?? defaultLogFormat()),
          metrics: a.metrics,
          metricsTokenFile: a['metrics-token-file'],
        });
      },
    )
    .command(
      'oci-hook <stage>',
      false, // called by podman through hooks.d, not by people
      (y) => y.positional('stage', { type: 'string', demandOption: true }),
      async (a) => {
        await hookMain(a.stage as string);
      },
    )
    .command(
      'oci install-hooks',
      'write podman hooks.d entries that run this installation of vhqos for containers annotated io.vhqos.config',
      (y) => y.option('dir', { type: 'string', default: '/etc/containers/oci/hooks.d' }).option('agent-socket', { type: 'string' }),
      (a) => {
        const files = installHooks(a.dir, path.resolve(__dirname, '..', '..', '..', 'bin', 'vhqos.js'), { agentSocket: a['agent-socket'] });
        for (const f of files) console.log(`wrote ${f}`);
      },
    )
    .parserConfiguration({ 'populate--': true })
    .demandCommand(1, 'Give a command: run, agent, check, validate, status, top, reload, attach, import or demo.')
    .strict()
    .help()
    .fail((msg, err, y) => {
      if (err) {
        console.error(`vhqos: ${err.message}`);
      } else {
        console.error(`vhqos: ${msg}\nRun vhqos --help for usage.`); void y;
      }
      process.exit(2);
    })
    .parse();
}
