// The cgroup tree of one vhqos instance: <hierarchy>/<parent>/<instance>/<group>
// in every hierarchy the backend uses. It remembers which directories it
// created and never moves, limits or removes anything else. (Over 400
// lines: it is the one owner of cgroup writes, create to teardown, so every
// path that touches the tree is in view of the others.)
import * as fs from 'fs';
import * as path from 'path';
import type { ResourceSettings } from '../types';
import { CgroupDetection, cgroupDirOf, detectCgroups } from './detect';
import type { Backend, Usage } from './backend';
import type { Faults } from './faults';
import { V1Backend } from './v1';
import { V2Backend } from './v2';
import { CgroupError, cgroupError, exists, isErrno, readProcs, sleepSync, writeCgroupFile } from './files';
import { OpenGroupFiles } from './open-files';

export interface CgroupManagerOptions {
  /** Name of this supervisor's subtree, unique per running vhqos. */
  instance: string;
  /** Path under each hierarchy root ('' = the root). Default 'vhqos'; in a container: the container's cgroup. */
  parent?: string;
  backend?: 'v1' | 'v2' | 'auto';
  /**
   * If <parent>/<instance> already exists (a crashed run left it, or another
   * vhqos uses the name): 'fail' (default) throws; 'adopt' takes the whole
   * subtree over, rewrites every setting and removes it at teardown.
   */
  onExisting?: 'fail' | 'adopt';
  /** Use this instead of reading /proc/self/mountinfo (tests, diagnostics). */
  detection?: CgroupDetection;
  /** How many groups' cgroup.procs move() keeps open (least recently used closed beyond). Default 64. */
  openGroups?: number;
  /**
   * <parent> belongs to this instance alone (v1: the supervisor's own cgroup
   * above its vhost groups): teardown removes it once empty, also when it
   * was there before (an attach after a kill), not only when made now.
   */
  ownsParent?: boolean;
}

export interface GroupSpec {
  name: string;
  resources: ResourceSettings;
}

export interface GroupUsage extends Usage {
  pids: number[];
}

/** Where teardown puts processes still in our groups. */
export type MoveBackTo =
  /** The cgroups the manager's own process was in at create() (where the server it started came from). */
  | 'home'
  /**
   * The <parent> cgroup (containers). On v2 the controllers setup() enabled in
   * <parent> are disabled again first: a cgroup that hands controllers to its
   * children cannot hold processes.
   */
  | 'parent';

interface Owned {
  hierarchy: number;
  /** 'shared': an ancestor other instances may use too (created by us, removed only if empty). */
  kind: 'shared' | 'own';
}

interface Group {
  dirs: string[];
  /** cgroup.procs of each dir: move() writes there, through fds kept open for recent groups. */
  procs: string[];
}

function checkName(what: string, name: string): void {
  if (!name || name === '.' || name === '..' || /[/\0\n]/.test(name) || name.length > 255) {
    throw new Error(`cgroup: invalid ${what} name ${JSON.stringify(name)}`);
  }
}

const depth = (dir: string) => dir.split('/').length;

/** An interface file's value, trimmed; undefined: no such file; null: exists but unreadable. */
function currentValue(file: string): string | undefined | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    return isErrno(e, 'ENOENT') ? undefined : null;
  }
}

export class CgroupManager {
  readonly version: 1 | 2;
  private readonly parentDirs: string[];
  private readonly instanceDirs: string[];
  private readonly homeDirs: (string | undefined)[];
  /** Directories created (or adopted) by us, in creation order. */
  private readonly owned = new Map<string, Owned>();
  private readonly groups = new Map<string, Group>();
  /** Groups whose directories this manager made (not adopted): they started with the kernel's defaults and zero counters. */
  private readonly made = new Set<string>();
  /** fds of recently used groups' cgroup.procs, so a move is one write(2) per hierarchy. */
  private readonly procsFiles: OpenGroupFiles;
  private claimed = false;
  private closed = false;

  private constructor(private readonly backend: Backend, private readonly opts: CgroupManagerOptions) {
    this.version = backend.version;
    const parts = (opts.parent ?? 'vhqos').split('/').filter(Boolean);
    parts.forEach((p) => checkName('parent path component', p));
    checkName('instance', opts.instance);
    const hs = backend.hierarchies;
    this.parentDirs = hs.map((h) => path.join(h.mountPoint, ...parts));
    this.instanceDirs = this.parentDirs.map((d) => path.join(d, opts.instance));
    const self = fs.readFileSync('/proc/self/cgroup', 'utf8');
    this.homeDirs = hs.map((h) => cgroupDirOf(h, self, backend.version));
    this.procsFiles = new OpenGroupFiles(opts.openGroups ?? 64);
  }

  static create(opts: CgroupManagerOptions): CgroupManager {
    const d = opts.detection ?? detectCgroups();
    const want = opts.backend ?? 'auto';
    const v1 = want === 'v1' || (want === 'auto' && d.version === 1);
    return new CgroupManager(v1 ? new V1Backend(d) : new V2Backend(d), opts);
  }

  /**
   * Creates (or updates) the groups and writes their settings; may be called
   * again, e.g. on reload (groups no longer listed stay until teardown).
   * Settings that cannot be applied come back as warnings; filesystem errors
   * throw a CgroupError naming the file (directories made so far are still
   * removed by teardown()).
   */
  setup(groups: GroupSpec[]): { warnings: string[] } {
    if (this.closed) throw new Error('cgroup: setup() after teardown()');
    const names = new Set<string>();
    for (const g of groups) {
      checkName('group', g.name);
      if (names.has(g.name)) throw new Error(`cgroup: group ${g.name} is listed twice`);
      names.add(g.name);
    }
    if (!this.claimed) this.claimInstance();
    const fresh = new Set(groups.filter((g) => this.createGroup(g.name)).map((g) => g.name));
    for (const g of fresh) this.made.add(g);
    // Top-down, from the hierarchy root to the instance (v2 subtree_control).
    this.backend.hierarchies.forEach((h, i) => {
      const ancestors: string[] = [];
      for (let dir = this.instanceDirs[i]; ; dir = path.dirname(dir)) {
        ancestors.unshift(dir);
        if (dir === h.mountPoint || dir === '/') break;
      }
      for (const dir of ancestors) this.backend.delegate(dir);
    });
    const warnings: string[] = [];
    for (const g of groups) warnings.push(...this.apply(g.name, g.resources, fresh.has(g.name)));
    return { warnings };
  }

  /**
   * Moves a whole process (any of its thread ids will do) into a group, in
   * every hierarchy. false: the process is gone (ESRCH). Synchronous on purpose:
   * the supervisor lets the trapped syscall continue only after this returns.
   */
  move(pid: number, group: string): boolean {
    const g = this.group(group);
    // "0" in cgroup.procs means the writer itself: never let that through.
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`cgroup: invalid pid ${pid}`);
    const s = String(pid);
    const fds = this.procsFiles.fds(group, g.procs);
    for (let i = 0; i < fds.length; i++) {
      try {
        fs.writeSync(fds[i], s);
      } catch (e) {
        if (isErrno(e, 'ESRCH')) return false;
        throw cgroupError(`cannot move pid ${pid} into`, `${g.dirs[i]}/cgroup.procs`, e);
      }
    }
    return true;
  }

  /**
   * Containers, cgroup v2: a cgroup that holds processes cannot hand
   * controllers to its children ("no internal processes"), and a runtime puts
   * the container's processes right in <parent>. Moves them into
   * <parent>/<instance>/<group> (made if missing) before anyone calls setup();
   * the directories are left for the instance's manager to adopt
   * (onExisting: 'adopt'). Returns the pids moved; nothing on v1 or when
   * <parent> is a hierarchy root (the root may hold processes).
   */
  vacateParent(group: string): number[] {
    checkName('group', group);
    if (this.version !== 2) return [];
    const moved: number[] = [];
    this.backend.hierarchies.forEach((h, i) => {
      if (this.parentDirs[i] === h.mountPoint) return;
      const pids = readProcs(this.parentDirs[i]);
      if (pids.length === 0) return;
      const target = path.join(this.instanceDirs[i], group);
      try {
        fs.mkdirSync(target, { recursive: true });
      } catch (e) {
        throw cgroupError('cannot create', target, e);
      }
      for (const pid of pids) {
        try {
          writeCgroupFile(`${target}/cgroup.procs`, String(pid));
          moved.push(pid);
        } catch (e) {
          if (!(e instanceof CgroupError && e.code === 'ESRCH')) throw e;
        }
      }
    });
    return moved;
  }

  /** A reload: writes a group's settings again (a setting left out gets its default). Returns warnings. */
  update(group: string, resources: ResourceSettings): string[] {
    return this.apply(group, resources);
  }

  /**
   * A reload removed a vhost: its processes move to `into`, then its
   * directories go. Returns the pids moved.
   */
  removeGroup(name: string, into: string): number[] {
    const g = this.group(name);
    const moved: number[] = [];
    const deadline = Date.now() + 2000;
    for (;;) {
      const pids = new Set<number>();
      for (const d of g.dirs) for (const p of readProcs(d)) pids.add(p);
      for (const p of pids) if (this.move(p, into)) moved.push(p);
      let busy = false;
      for (const d of g.dirs) {
        try {
          fs.rmdirSync(d);
          this.owned.delete(d);
        } catch (e) {
          if (isErrno(e, 'ENOENT')) this.owned.delete(d);
          else if (isErrno(e, 'EBUSY') && Date.now() < deadline) busy = true; // a fork raced the move
          else throw cgroupError('cannot remove', d, e);
        }
      }
      if (!busy) break;
      sleepSync(20);
    }
    this.procsFiles.forget(name);
    this.groups.delete(name);
    this.made.delete(name);
    return [...new Set(moved)];
  }

  /** The kernel's fault counters of a group (cumulative since the group was made). */
  faults(group: string): Faults {
    return this.backend.faults(this.group(group).dirs);
  }

  groupPaths(group: string): string[] {
    return [...this.group(group).dirs];
  }

  /** true: setup() made this group's directories (nothing was there before: counters started at 0). */
  isNew(group: string): boolean {
    return this.made.has(group);
  }

  /** Files per group: one directory per hierarchy used (v2: one). */
  get hierarchies(): number {
    return this.backend.hierarchies.length;
  }

  groupNames(): string[] {
    return [...this.groups.keys()];
  }

  /**
   * What a group uses now. Its pids are read from one hierarchy: every move
   * writes all of them, and status reads this per vhost (10,000 vhosts x 5
   * v1 hierarchies made a status take seconds).
   */
  usage(group: string): GroupUsage {
    const { dirs } = this.group(group);
    const pids = new Set(dirs.length ? readProcs(dirs[0]) : []); // cgroup.procs may repeat a pid
    return { ...this.backend.usage(dirs), pids: [...pids].sort((a, b) => a - b) };
  }

  /**
   * Moves processes left in our groups out (to `moveBackTo`), then removes
   * every directory we created, deepest first, retrying EBUSY for up to 2 s in all.
   * Ancestors shared with other instances are removed only if empty.
   * Idempotent; throws (after trying everything) if some stay, and a later
   * call tries those again.
   */
  teardown(moveBackTo: MoveBackTo = 'home'): void {
    this.closed = true;
    this.procsFiles.closeAll();
    this.groups.clear();
    if (moveBackTo === 'parent') {
      this.backend.hierarchies.forEach((h, i) => {
        this.backend.undelegate(this.instanceDirs[i]);
        if (this.parentDirs[i] !== h.mountPoint) this.backend.undelegate(this.parentDirs[i]);
      });
    }
    const failures: string[] = [];
    const deadline = Date.now() + 2000;
    const dirs = [...this.owned.entries()].sort((a, b) => depth(b[0]) - depth(a[0]));
    for (const [dir, o] of dirs) {
      const failure = this.remove(dir, o, moveBackTo, deadline);
      if (failure) failures.push(failure);
      else this.owned.delete(dir);
    }
    if (failures.length) throw new CgroupError(`cgroup: teardown left ${failures.join('; ')}`, failures[0].split(' ')[0]);
  }

  private group(name: string): Group {
    const g = this.groups.get(name);
    if (!g) throw new Error(`cgroup: unknown group ${JSON.stringify(name)}`);
    return g;
  }

  private claimInstance(): void {
    const existing = this.instanceDirs.filter((d) => exists(d));
    if (existing.length && this.opts.onExisting !== 'adopt') {
      throw new CgroupError(
        `cgroup: ${existing[0]} already exists: a vhqos instance named "${this.opts.instance}" is running or did not clean up.`
          + ' Stop it, remove the directory (its groups first, once empty), or use onExisting: \'adopt\' to take it over',
        existing[0], 'EEXIST');
    }
    this.backend.hierarchies.forEach((h, i) => {
      const parts = path.relative(h.mountPoint, this.instanceDirs[i]).split('/');
      // Another instance may remove a shared ancestor between our mkdirs: start over then.
      for (let attempt = 0; ; attempt++) {
        try {
          let dir = h.mountPoint;
          parts.forEach((p, k) => {
            dir = path.join(dir, p);
            this.mkdir(dir, { hierarchy: i, kind: k === parts.length - 1 ? 'own' : 'shared' });
          });
          break;
        } catch (e) {
          if (attempt >= 2 || !(e instanceof CgroupError && e.code === 'ENOENT')) throw e;
        }
      }
      if (existing.includes(this.instanceDirs[i])) this.adopt(this.instanceDirs[i], i);
      const parentDir = this.parentDirs[i];
      if (this.opts.ownsParent && parentDir !== h.mountPoint && !this.owned.has(parentDir)) this.owned.set(parentDir, { hierarchy: i, kind: 'shared' });
    });
    this.claimed = true;
  }

  private adopt(dir: string, hierarchy: number): void {
    this.owned.set(dir, { hierarchy, kind: 'own' });
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) this.adopt(path.join(dir, e.name), hierarchy);
    }
  }

  /** true: made now; false: it was there. */
  private mkdir(dir: string, o: Owned): boolean {
    try {
      fs.mkdirSync(dir);
      this.owned.set(dir, o);
      return true;
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw cgroupError('cannot create', dir, e);
      // A name like "cpu.max" collides with an interface file, not a cgroup.
      if (!fs.statSync(dir).isDirectory()) throw new CgroupError(`cgroup: ${dir} exists and is not a cgroup`, dir, 'EEXIST');
      // Below our instance everything is ours (an earlier setup() made it).
      if (o.kind === 'own') this.owned.set(dir, o);
      return false;
    }
  }

  /** true: its directories are new (they hold the kernel's defaults). */
  private createGroup(name: string): boolean {
    if (this.groups.has(name)) return false;
    const dirs = this.instanceDirs.map((d) => path.join(d, name));
    const made = dirs.map((d, i) => this.mkdir(d, { hierarchy: i, kind: 'own' }));
    this.groups.set(name, { dirs, procs: dirs.map((d) => `${d}/cgroup.procs`) });
    return made.every(Boolean);
  }

  /** fresh: the group was just made, so its kernel defaults need no writing (nor reading). */
  private apply(group: string, resources: ResourceSettings, fresh = false): string[] {
    const { dirs } = this.group(group);
    const plan = this.backend.plan(group, resources);
    const warnings = [...plan.warnings];
    for (const s of plan.settings) {
      if (fresh && s.isDefault) continue;
      const i = this.backend.hierarchyOf(s.controller);
      if (i < 0) {
        if (!s.isDefault) warnings.push(`${group}: ${s.setting} cannot be applied: no cgroup v1 hierarchy has the ${s.controller} controller (ignored)`);
        continue;
      }
      // One read per file both finds the choice whose files exist and tells
      // which values are already in place.
      let current = new Map<string, string | null | undefined>();
      const choice = s.choices.find((c) => {
        current = new Map(c.writes.map((w) => [w.file, currentValue(`${dirs[i]}/${w.file}`)]));
        return [...current.values()].every((v) => v !== undefined);
      });
      if (!choice) {
        const files = s.choices.map((c) => c.writes.map((w) => w.file).join('+')).join(' or ');
        if (!s.isDefault) warnings.push(`${group}: ${s.setting} cannot be applied: ${dirs[i]} has no ${files} (${s.controller} controller not available there) (ignored)`);
        continue;
      }
      // A value already there is not written again: on v1 every write of
      // cpu.cfs_period_us / cfs_quota_us walks all the machine's cpu groups,
      // which made setting up 10,000 fresh groups take minutes.
      for (const w of choice.writes) if (current.get(w.file) !== w.value) writeCgroupFile(`${dirs[i]}/${w.file}`, w.value);
      if (choice.warning) warnings.push(choice.warning);
    }
    return warnings;
  }

  /** Returns a failure description, or undefined once the directory is gone. */
  private remove(dir: string, o: Owned, moveBackTo: MoveBackTo, deadline: number): string | undefined {
    let moveError = '';
    // rmdir first: an empty group (the usual case) costs no read of cgroup.procs.
    for (let attempt = 0; ; attempt++) {
      if (o.kind === 'own' && attempt > 0) {
        for (const pid of readProcs(dir)) moveError = this.moveOut(pid, o.hierarchy, moveBackTo) ?? moveError;
      }
      try {
        fs.rmdirSync(dir);
        return undefined;
      } catch (e) {
        if (isErrno(e, 'ENOENT')) return undefined;
        // A shared ancestor still holding other instances' groups is theirs now.
        if (o.kind === 'shared' && isErrno(e, 'EBUSY', 'ENOTEMPTY')) return undefined;
        if (!isErrno(e, 'EBUSY') || Date.now() > deadline) {
          return `${dir} (${(e as Error).message}${moveError ? `; ${moveError}` : ''})`;
        }
      }
      if (attempt > 0) sleepSync(20);
    }
  }

  /** Moves one leftover process out of our tree; returns an error text if it could not. */
  private moveOut(pid: number, i: number, moveBackTo: MoveBackTo): string | undefined {
    const root = this.backend.hierarchies[i].mountPoint;
    const inside = (d: string) => d === this.instanceDirs[i] || d.startsWith(`${this.instanceDirs[i]}/`);
    // Home may be gone: then the root, better than blocking rmdir. Never the root for 'parent':
    // a container's processes must not escape the container's limits.
    const targets = moveBackTo === 'parent' ? [this.parentDirs[i]] : [this.homeDirs[i], root];
    let error: string | undefined;
    for (const target of targets) {
      if (target === undefined || inside(target)) continue;
      try {
        writeCgroupFile(`${target}/cgroup.procs`, String(pid));
        return undefined;
      } catch (e) {
        if (e instanceof CgroupError && e.code === 'ESRCH') return undefined;
        error = (e as Error).message;
      }
    }
    return error;
  }
}
