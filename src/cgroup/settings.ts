// Maps vhqos resource settings (cgroup v2 semantics, normalised) onto the
// kernel files of each cgroup version. Pure: which file exists is decided by
// the manager, which writes the first choice whose files all exist.
import type { ResourceSettings } from '../types';

export interface FileWrite {
  file: string;
  value: string;
}

export interface PlannedSetting {
  /** vhqos name of the setting, for warnings ("cpu.max"). */
  setting: string;
  /** Kernel controller that provides the files (v1 names on v1: "blkio"). */
  controller: string;
  /** Alternatives, best first; each is written in order. `warning` applies if that one is used. */
  choices: { writes: FileWrite[]; warning?: string }[];
  /**
   * The config left the setting unset and this is the kernel default. Defaults
   * are written too, so a group reused from a crashed run loses stale limits;
   * a missing file is then not worth a warning.
   */
  isDefault: boolean;
}

export interface Plan {
  settings: PlannedSetting[];
  /** Settings this version cannot apply at all, or only approximately. */
  warnings: string[];
}

export const CPU_PERIOD_US = 100000;
/** The kernel refuses quotas under 1 ms. */
const MIN_QUOTA_US = 1000;

function quota(group: string, max: number, warnings: string[]): number {
  const q = Math.round(max * CPU_PERIOD_US);
  if (q >= MIN_QUOTA_US) return q;
  warnings.push(`${group}: cpu.max ${max} is below the kernel minimum of 0.01 CPU (using 0.01)`);
  return MIN_QUOTA_US;
}

function clamp(group: string, setting: string, v: number, lo: number, hi: number, file: string): { value: number; warning?: string } {
  const value = Math.min(hi, Math.max(lo, Math.round(v)));
  return value === Math.round(v) ? { value } : { value, warning: `${group}: ${setting} ${v} is outside ${file}'s range ${lo}..${hi} (using ${value})` };
}

type Add = (setting: string, controller: string, isDefault: boolean, ...choices: { writes: FileWrite[]; warning?: string }[]) => void;

function planner(): { settings: PlannedSetting[]; add: Add } {
  const settings: PlannedSetting[] = [];
  return { settings, add: (setting, controller, isDefault, ...choices) => settings.push({ setting, controller, choices, isDefault }) };
}

const one = (file: string, value: string | number) => ({ writes: [{ file, value: String(value) }] });

/**
 * io weight on BFQ (1..1000, default 100) is taken as is; on the legacy CFQ
 * blkio.weight (10..1000, default 500) it is scaled by 5. Either way the v2
 * default 100 lands on the kernel default, so a vhost configured with weight
 * 100 competes evenly with groups that have no io setting.
 */
function ioChoices(group: string, prefix: string, w: number | undefined) {
  const bfq = clamp(group, 'io.weight', w ?? 100, 1, 1000, `${prefix}.bfq.weight`);
  const cfq = clamp(group, 'io.weight', (w ?? 100) * 5, 10, 1000, 'blkio.weight');
  return { bfq: { ...one(`${prefix}.bfq.weight`, bfq.value), warning: bfq.warning }, cfq: { ...one('blkio.weight', cfq.value), warning: cfq.warning } };
}

export function planV2(group: string, r: ResourceSettings): Plan {
  const warnings: string[] = [];
  const { settings, add } = planner();
  const { cpu, memory, io, pids } = r;
  add('cpu.weight', 'cpu', cpu?.weight === undefined, one('cpu.weight', cpu?.weight ?? 100));
  add('cpu.max', 'cpu', cpu?.max === undefined,
    one('cpu.max', `${cpu?.max === undefined ? 'max' : quota(group, cpu.max, warnings)} ${CPU_PERIOD_US}`));
  add('memory.max', 'memory', memory?.max === undefined, one('memory.max', memory?.max ?? 'max'));
  add('memory.high', 'memory', memory?.high === undefined, one('memory.high', memory?.high ?? 'max'));
  add('memory.low', 'memory', memory?.low === undefined, one('memory.low', memory?.low ?? 0));
  // io.weight comes from blk-iocost; kernels without it may still have BFQ's io.bfq.weight.
  add('io.weight', 'io', io?.weight === undefined,
    one('io.weight', `default ${io?.weight ?? 100}`), ioChoices(group, 'io', io?.weight).bfq);
  if (io?.device) {
    const v = (x: number | undefined) => (x === undefined ? 'max' : String(x));
    add('io.max', 'io', false, one('io.max', `${io.device} rbps=${v(io.rbps)} wbps=${v(io.wbps)} riops=${v(io.riops)} wiops=${v(io.wiops)}`));
  }
  add('pids.max', 'pids', pids?.max === undefined, one('pids.max', pids?.max ?? 'max'));
  return { settings, warnings };
}

export function planV1(group: string, r: ResourceSettings): Plan {
  const warnings: string[] = [];
  const { settings, add } = planner();
  const { cpu, memory, io, pids } = r;
  add('cpu.weight', 'cpu', cpu?.weight === undefined,
    one('cpu.shares', Math.max(2, Math.round(((cpu?.weight ?? 100) * 1024) / 100))));
  // Period first: the kernel checks the quota against the period already set.
  add('cpu.max', 'cpu', cpu?.max === undefined, {
    writes: [
      { file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) },
      { file: 'cpu.cfs_quota_us', value: String(cpu?.max === undefined ? -1 : quota(group, cpu.max, warnings)) },
    ],
  });
  add('memory.max', 'memory', memory?.max === undefined, one('memory.limit_in_bytes', memory?.max ?? -1));
  if (memory?.high !== undefined) {
    warnings.push(`${group}: memory.high is approximated by memory.soft_limit_in_bytes on cgroup v1 (reclaimed under global memory pressure only, never throttled)`);
  }
  add('memory.high', 'memory', memory?.high === undefined, one('memory.soft_limit_in_bytes', memory?.high ?? -1));
  if (memory?.low !== undefined) warnings.push(`${group}: memory.low is not supported by cgroup v1 (ignored)`);
  const blk = ioChoices(group, 'blkio', io?.weight);
  add('io.weight', 'blkio', io?.weight === undefined, blk.bfq, blk.cfq);
  if (io?.device) {
    // v1: 0 lifts a throttle.
    const v = (x: number | undefined) => `${io.device} ${x ?? 0}`;
    add('io.max', 'blkio', false, {
      writes: [
        { file: 'blkio.throttle.read_bps_device', value: v(io.rbps) },
        { file: 'blkio.throttle.write_bps_device', value: v(io.wbps) },
        { file: 'blkio.throttle.read_iops_device', value: v(io.riops) },
        { file: 'blkio.throttle.write_iops_device', value: v(io.wiops) },
      ],
    });
  }
  add('pids.max', 'pids', pids?.max === undefined, one('pids.max', pids?.max ?? 'max'));
  return { settings, warnings };
}
