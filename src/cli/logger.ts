// JSON logs (pino) on stderr, so the supervised server keeps stdout to itself.
import pino from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function makeLogger(level: LogLevel = 'info') {
  return pino({ level, base: { name: 'vhqos', pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
