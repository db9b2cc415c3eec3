// Lists the connected sockets a process holds, through pidfd_getfd: used when
// an inetd-style parent forks right after accept, while it still holds the
// new connection.
import * as fs from 'node:fs';
import type { NativeBinding } from '../native';
import type { ConnectionInProcess } from './supervisor';

const SOCKET_LINK = /^socket:\[(\d+)\]$/;

export function makeConnectionScanner(native: Pick<NativeBinding, 'pidfdOpen' | 'pidfdGetfd' | 'describeFd' | 'close'>) {
  return function connectionsOf(pid: number): ConnectionInProcess[] {
    let entries: string[];
    try {
      entries = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      return [];
    }
    const out: ConnectionInProcess[] = [];
    let pidfd = -1;
    try {
      pidfd = native.pidfdOpen(pid);
      for (const name of entries) {
        const fd = Number(name);
        let link: string;
        try {
          link = fs.readlinkSync(`/proc/${pid}/fd/${name}`);
        } catch {
          continue;
        }
        if (!SOCKET_LINK.test(link)) continue;
        let local = -1;
        try {
          local = native.pidfdGetfd(pidfd, fd);
          const f = native.describeFd(local);
          if (f.isSocket && !f.listening && f.type === 1 && (f.domain === 2 || f.domain === 10) && f.local)
            out.push({ fd, inode: f.inode, local: f.local, peer: f.peer });
        } catch {
          // closed meanwhile: nothing to record
        } finally {
          if (local >= 0) native.close(local);
        }
      }
    } catch {
      return out;
    } finally {
      if (pidfd >= 0) native.close(pidfd);
    }
    return out;
  };
}
