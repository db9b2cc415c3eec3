// Logs on stderr, so the supervised server keeps stdout to itself: JSON lines
// (pino) for machines, or pino-pretty's one line per event for people — the
// default when stderr is a terminal. Both write synchronously: a supervisor
// that dies must not take its last lines with it.
import pino from 'pino';
import pinoPretty from 'pino-pretty';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: LogFormat[] = ['json', 'pretty'];

/** pretty on a terminal, JSON otherwise (a file, journald, a pipe to a collector). */
export function defaultLogFormat(stderrIsTTY = process.stderr.isTTY === true): LogFormat {
  return stderrIsTTY ? 'pretty' : 'json';
}

export function makeLogger(level: LogLevel = 'info', format: LogFormat = defaultLogFormat()) {
  const options = { level, base: { name: 'vhqos', pid: process.pid } };
  if (format === 'pretty')
    return pino(options, pinoPretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, ignore: 'name,hostname', translateTime: 'SYS:HH:MM:ss.l' }));
  return pino(options, pino.destination({ fd: 2, sync: true }));
}
