// Where connections are classified, and when vhqos falls back from accept to
// read by itself. Pure: the caller passes what the kernel can do.
//
// Accept injection needs SECCOMP_ADDFD_FLAG_SEND (Linux 5.14: the connection
// becomes the trapped accept's result) and pidfd_getfd (5.6: vhqos' own copy
// of the server's listener). Without them, the first-read model still works.
import type { Features } from '../native';

export type ClassifyAt = 'accept' | 'read';

export interface ClassifyAtChoice {
  mode: ClassifyAt;
  /** Why the configured mode is not the one used. */
  fallback?: string;
}

export function chooseClassifyAt(wanted: ClassifyAt, features: Pick<Features, 'addfdSend' | 'pidfdGetfd'>): ClassifyAtChoice {
  if (wanted === 'read') return { mode: 'read' };
  if (!features.addfdSend) {
    return { mode: 'read', fallback: 'this kernel has no SECCOMP_ADDFD_FLAG_SEND (Linux 5.14): classifying at the first read instead' };
  }
  if (!features.pidfdGetfd) {
    return { mode: 'read', fallback: 'this kernel has no pidfd_getfd (Linux 5.6): classifying at the first read instead' };
  }
  return { mode: 'accept' };
}
