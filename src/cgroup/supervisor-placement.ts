// Where the supervisor itself runs (cgroup v1 cpu hierarchy).
//
// With SYNC_WAKE_UP the supervisor hands its CPU to the woken server process.
// When the two sit in unrelated cpu cgroups (vhqos in the root, the server in
// a vhost group) the woken task often does not get that CPU and is pulled to
// the other one instead: every other trapped syscall then migrates both
// (measured 0.49 migrations per syscall, 3-4x the C floor). Putting the
// supervisor in the cgroup *above* the instance's groups keeps the hand-over
// on one CPU (1.3x) without joining the weighted competition between the
// vhosts (BENCHMARKS.md, "(a)"). On v2 a cgroup that hands controllers to
// children cannot hold processes, so this is v1 only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupDirOf, type CgroupDetection } from './detect';

/**
 * Moves this whole process into `<cpu mount>/<dir>` (which must exist) and
 * returns how to move it back. Returns null if there is no v1 cpu hierarchy.
 */
export function placeSupervisor(detection: CgroupDetection, dir: string, pid = process.pid): (() => void) | null {
  if (detection.version !== 1) return null;
  const cpu = detection.v1.find((h) => h.controllers.includes('cpu'));
  if (!cpu) return null;
  const home = cgroupDirOf(cpu, fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), 1);
  if (!home) return null;
  fs.writeFileSync(path.join(cpu.mountPoint, dir, 'cgroup.procs'), String(pid));
  return () => fs.writeFileSync(path.join(home, 'cgroup.procs'), String(pid));
}
