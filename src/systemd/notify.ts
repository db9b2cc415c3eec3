// Readiness for systemd's Type=notify: "READY=1" to the datagram socket in
// $NOTIFY_SOCKET (sd_notify(3)). Node cannot send unix datagrams, and a
// native function for one message is not worth a rebuilt addon: systemd's
// own `systemd-notify` sends it. Run as root it sends with the caller's pid
// (our main pid, so NotifyAccess=main would do) and, without --no-block,
// waits until PID 1 has read it, so the message is never lost to the race
// of a sender that is already gone (NotifyAccess=all covers its fallback to
// its own pid). A notification that fails is logged, never fatal: the
// service manager's start timeout reports it.
import { execFile } from 'node:child_process';

export type NotifyResult = 'sent' | 'not-under-systemd' | 'failed';

export interface NotifyOptions {
  env?: NodeJS.ProcessEnv;
  /** Default: systemd-notify from PATH. */
  command?: string;
  timeoutMs?: number;
  logger?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

/**
 * Tells the service manager that start-up is complete. Without $NOTIFY_SOCKET
 * (not a Type=notify unit) it does nothing. The variable is removed from
 * `env` afterwards, as sd_notify's unset_environment does: whatever this
 * process starts later must not speak for the service.
 */
export function notifyReady(status: string, o: NotifyOptions = {}): Promise<NotifyResult> {
  const env = o.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return Promise.resolve('not-under-systemd');
  delete env.NOTIFY_SOCKET;
  const command = o.command ?? 'systemd-notify';
  return new Promise((resolve) => {
    execFile(command, ['--ready', `--status=${status.replace(/\n/g, ' ')}`], {
      env: { ...env, NOTIFY_SOCKET: socket },
      timeout: o.timeoutMs ?? 10000,
    }, (err, _stdout, stderr) => {
      if (err) {
        o.logger?.warn({ err: { message: err.message, stderr: String(stderr).trim() }, notifySocket: socket }, `could not tell systemd the service is ready (${command} --ready): a Type=notify unit will time out starting`);
        resolve('failed');
      } else {
        o.logger?.info({ notifySocket: socket }, 'told systemd the service is ready');
        resolve('sent');
      }
    });
  });
}
