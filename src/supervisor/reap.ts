// Reaping a child by pidfd. The pidfd can turn readable a moment before
// waitid() sees the zombie, so a first empty answer is retried briefly.
import type { NativeBinding } from '../native';

export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

export async function reap(native: Pick<NativeBinding, 'waitExit'>, pidfd: number, retryMs = 5, maxWaitMs = 10000): Promise<ExitStatus> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const st = native.waitExit(pidfd);
    if (st) return st;
    if (Date.now() > deadline) throw new Error(`child (pidfd ${pidfd}) did not become reapable within ${maxWaitMs} ms`);
    await new Promise((r) => setTimeout(r, retryMs));
  }
}
