// Turns a container's seccomp profile into one that also sends the vhqos
// syscalls to the agent (SCMP_ACT_NOTIFY + listenerPath), without widening it.
//
// Guarantees, in the model of seccomp-eval.ts (runc 1.1 + libseccomp 2.5):
//  * for every syscall and argument value the new profile answers what the
//    old one did, except that ALLOW becomes NOTIFY for the vhqos syscalls
//    (fcntl: only for F_DUPFD / F_DUPFD_CLOEXEC); whatever was denied, killed,
//    trapped, traced or logged stays exactly that;
//  * NOTIFY is never the default action and never applies to `write`
//    (runc refuses both);
//  * architectures and flags are kept, listenerPath/listenerMetadata set;
//  * applying it twice gives the same profile as applying it once.
// (Over 400 lines: the guarantees above hold only across the whole rewrite,
// so its steps stay in one file next to each other.)
//
// How (see seccomp-eval.ts for the model):
//  * default action not ALLOW (docker, podman): every rule that ALLOWs a vhqos
//    syscall is split: that syscall moves to a NOTIFY rule with the *same*
//    argument conditions, inserted at the same place. libseccomp therefore
//    builds the same decision tree with NOTIFY in the ALLOW leaves: docker's
//    `clone` allowed only under a flags mask is notified under that mask and
//    still denied outside it; `clone3` (ERRNO(ENOSYS) in docker) stays ERRNO.
//    fcntl is split on its command argument into disjoint pieces: NOTIFY for
//    0 and 1030, ALLOW for the rest.
//  * default action ALLOW (or no profile): ALLOW rules are no-ops for runc,
//    so NOTIFY rules are added. A syscall with an unconditional non-ALLOW rule
//    is left alone. A syscall denied under argument conditions gets NOTIFY
//    rules for exactly the complement of those conditions, never an
//    unconditional NOTIFY (that would erase the conditional denial). When
//    that complement is not expressible as disjoint rules (several
//    conditional rules) the syscall is left unchanged and reported.

import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, SeccompArch, SeccompOperator } from './types';
import { big, condHolds, defaultOf, entriesFor, U64_MAX, type Entry } from './seccomp-eval';
import * as os from 'os';
import { SeccompTransformError } from '../errors';
export { SeccompTransformError };

/**
 * The syscalls vhqos supervises (fcntl only for the dup commands): the
 * read-mode set of native/filter.cc, which covers classification at accept
 * too (a test keeps the two equal). The fork family is never trapped.
 */
export const VHQOS_NOTIFY_SYSCALLS: readonly string[] = Object.freeze([
  'accept',
  'accept4',
  'dup',
  'dup2',
  'dup3',
  'fcntl',
  'read',
  'readv',
  'recvfrom',
  'recvmsg',
  'close',
  'close_range',
  'execve',
  'execveat',
]);

export const F_DUPFD = 0;
export const F_DUPFD_CLOEXEC = 1030;
/** fcntl's command is argument 1. */
const FCNTL_CMD = 1;
const FCNTL_NOTIFY_CMDS: readonly bigint[] = [BigInt(F_DUPFD), BigInt(F_DUPFD_CLOEXEC)];

export interface AddNotifyOptions {
  /** Unix socket runc connects to with the seccomp fd (the vhqos agent). */
  listenerPath: string;
  /** Opaque string runc passes to the agent: vhqos puts the config path here. */
  listenerMetadata?: string;
  /**
   * Architectures for a container that had no seccomp profile at all
   * (default: this machine's native and compat ones, see defaultArchitectures).
   * A filter without them would kill 32-bit processes.
   */
  architectures?: SeccompArch[];
}

export interface SkippedSyscall {
  syscall: string;
  reason: string;
}

export interface AddNotifyResult {
  seccomp: LinuxSeccomp;
  /** vhqos syscalls that have NOTIFY rules in the result. */
  notified: string[];
  /** vhqos syscalls that are not notified, and why. */
  skipped: SkippedSyscall[];
}


/** Native + compat architectures, as docker's default profile lists them. */
export function defaultArchitectures(arch: string = process.arch, endianness: string = os.endianness()): SeccompArch[] | undefined {
  switch (arch) {
    case 'x64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'ia32':
      return ['SCMP_ARCH_X86'];
    case 'arm64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    case 'arm':
      return ['SCMP_ARCH_ARM'];
    case 'ppc64':
      return endianness === 'LE' ? ['SCMP_ARCH_PPC64LE'] : ['SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC'];
    case 's390x':
      return ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'];
    case 'riscv64':
      return ['SCMP_ARCH_RISCV64'];
    case 'loong64':
      return ['SCMP_ARCH_LOONGARCH64'];
    case 'mips64el':
      return ['SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'];
    default:
      return undefined;
  }
}

/** Same profile, NOTIFY for the vhqos syscalls. See the file comment. */
export function addNotify(seccomp: LinuxSeccomp | undefined, opts: AddNotifyOptions): LinuxSeccomp {
  return addNotifyWithReport(seccomp, opts).seccomp;
}

// ---------------------------------------------------------------------------
// argument conditions as sets of 64-bit values

function num(v: bigint): number {
  // keep small values as plain numbers so the JSON stays ordinary
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : (v as unknown as number);
}

function cond(index: number, op: SeccompOperator, value: bigint, valueTwo?: bigint): LinuxSeccompArg {
  const c: LinuxSeccompArg = { index, value: num(value), op };
  if (valueTwo !== undefined) c.valueTwo = num(valueTwo);
  return c;
}

function satisfiable(c: LinuxSeccompArg): boolean {
  const v = big(c.value);
  switch (c.op) {
    case 'SCMP_CMP_LT':
      return v > 0n;
    case 'SCMP_CMP_GT':
      return v < U64_MAX;
    default:
      return true;
  }
}

/** Disjoint conditions on the same argument whose union is NOT c. */
function negate(c: LinuxSeccompArg): LinuxSeccompArg[] {
  const v = big(c.value);
  const i = c.index;
  switch (c.op) {
    case 'SCMP_CMP_EQ':
      return [cond(i, 'SCMP_CMP_NE', v)];
    case 'SCMP_CMP_NE':
      return [cond(i, 'SCMP_CMP_EQ', v)];
    case 'SCMP_CMP_LT':
      return [cond(i, 'SCMP_CMP_GE', v)];
    case 'SCMP_CMP_GE':
      return v === 0n ? [] : [cond(i, 'SCMP_CMP_LT', v)];
    case 'SCMP_CMP_LE':
      return v === U64_MAX ? [] : [cond(i, 'SCMP_CMP_GT', v)];
    case 'SCMP_CMP_GT':
      return [cond(i, 'SCMP_CMP_LE', v)];
    case 'SCMP_CMP_MASKED_EQ': {
      // (x & m) != d  <=>  the first masked bit (from the top) where x and d
      // differ is b: one cube per bit of m.
      const m = v;
      const d = big(c.valueTwo) & m; // libseccomp ignores datum bits outside the mask
      const out: LinuxSeccompArg[] = [];
      let seen = 0n;
      for (let b = 63n; b >= 0n; b--) {
        const bit = 1n << b;
        if (!(m & bit)) continue;
        out.push(cond(i, 'SCMP_CMP_MASKED_EQ', seen | bit, (d & seen) | (~d & bit)));
        seen |= bit;
      }
      return out;
    }
  }
}

interface Interval {
  lo: bigint;
  hi: bigint;
}

/** The values c accepts as disjoint intervals (not for MASKED_EQ). */
function intervalsOf(c: LinuxSeccompArg | undefined): Interval[] {
  if (!c) return [{ lo: 0n, hi: U64_MAX }];
  const v = big(c.value);
  const iv = (lo: bigint, hi: bigint) => (lo <= hi ? [{ lo, hi }] : []);
  switch (c.op) {
    case 'SCMP_CMP_EQ':
      return iv(v, v);
    case 'SCMP_CMP_NE':
      return [...iv(0n, v - 1n), ...iv(v + 1n, U64_MAX)];
    case 'SCMP_CMP_LT':
      return iv(0n, v - 1n);
    case 'SCMP_CMP_LE':
      return iv(0n, v);
    case 'SCMP_CMP_GT':
      return iv(v + 1n, U64_MAX);
    case 'SCMP_CMP_GE':
      return iv(v, U64_MAX);
    case 'SCMP_CMP_MASKED_EQ':
      throw new Error('intervalsOf: MASKED_EQ');
  }
}

/** One condition per piece; pieces are disjoint aligned blocks where needed. */
function intervalToConds(index: number, { lo, hi }: Interval): LinuxSeccompArg[] {
  if (lo === hi) return [cond(index, 'SCMP_CMP_EQ', lo)];
  if (lo === 0n) return [cond(index, 'SCMP_CMP_LE', hi)];
  if (hi === U64_MAX) return [cond(index, 'SCMP_CMP_GT', lo - 1n)];
  const out: LinuxSeccompArg[] = [];
  let at = lo;
  while (at <= hi) {
    let size = 1n;
    while (at % (size * 2n) === 0n && at + size * 2n - 1n <= hi) size *= 2n;
    out.push(size === 1n ? cond(index, 'SCMP_CMP_EQ', at) : cond(index, 'SCMP_CMP_MASKED_EQ', U64_MAX ^ (size - 1n), at));
    at += size;
  }
  return out;
}

/** Conditions (disjoint, on c's argument) accepting what c accepts minus `points`. */
function minusPoints(index: number, c: LinuxSeccompArg | undefined, points: readonly bigint[]): LinuxSeccompArg[] {
  if (c && c.op === 'SCMP_CMP_MASKED_EQ') {
    let cubes: { m: bigint; d: bigint }[] = [{ m: big(c.value), d: big(c.valueTwo) & big(c.value) }];
    for (const p of points) {
      cubes = cubes.flatMap(({ m, d }) => {
        if ((p & m) !== d) return [{ m, d }];
        // the cube minus p: first free bit (from the top) where x differs from p
        const out: { m: bigint; d: bigint }[] = [];
        let mm = m;
        for (let b = 63n; b >= 0n; b--) {
          const bit = 1n << b;
          if (m & bit) continue;
          out.push({ m: mm | bit, d: (p & mm) | (~p & bit) });
          mm |= bit;
        }
        return out;
      });
    }
    return cubes.map(({ m, d }) => (m === U64_MAX ? cond(index, 'SCMP_CMP_EQ', d) : cond(index, 'SCMP_CMP_MASKED_EQ', m, d)));
  }
  let ivs = intervalsOf(c);
  for (const p of [...points].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    ivs = ivs.flatMap((r) =>
      p < r.lo || p > r.hi
        ? [r]
        : [...(p > r.lo ? [{ lo: r.lo, hi: p - 1n }] : []), ...(p < r.hi ? [{ lo: p + 1n, hi: r.hi }] : [])],
    );
  }
  return ivs.flatMap((r) => intervalToConds(index, r));
}

/** Replace (or add) the condition on `index` in a conjunction. */
function withCond(args: readonly LinuxSeccompArg[], c: LinuxSeccompArg): LinuxSeccompArg[] {
  const at = args.findIndex((a) => a.index === c.index);
  if (at < 0) return [...args.map((a) => ({ ...a })), c];
  return args.map((a, k) => (k === at ? c : { ...a }));
}

function hasRepeatedIndex(args: readonly LinuxSeccompArg[] | undefined): boolean {
  const idx = (args ?? []).map((a) => a.index);
  return new Set(idx).size !== idx.length;
}

// ---------------------------------------------------------------------------

interface Plan {
  /** rule index -> names to take out of it */
  remove: Map<number, Set<string>>;
  /** rule index -> rules to put right before it */
  before: Map<number, LinuxSyscall[]>;
  /** rules to append */
  append: LinuxSyscall[];
}

function restOf(rule: LinuxSyscall): Record<string, unknown> {
  // keep unknown members (comments, extensions) on split-out rules
  const { names: _n, action: _a, errnoRet: _e, args: _g, ...rest } = rule;
  return rest;
}

function notifyRule(names: string[], args: LinuxSeccompArg[] | undefined, from?: LinuxSyscall): LinuxSyscall {
  const r: LinuxSyscall = { ...(from ? restOf(from) : {}), names: names as [string, ...string[]], action: 'SCMP_ACT_NOTIFY' };
  if (args && args.length) r.args = args.map((a) => ({ ...a }));
  return r;
}

function allowRule(names: string[], args: LinuxSeccompArg[], from?: LinuxSyscall): LinuxSyscall {
  const r: LinuxSyscall = { ...(from ? restOf(from) : {}), names: names as [string, ...string[]], action: 'SCMP_ACT_ALLOW' };
  if (args.length) r.args = args;
  return r;
}

function push<K, V>(m: Map<K, V[]>, k: K, ...v: V[]) {
  const l = m.get(k);
  if (l) l.push(...v);
  else m.set(k, [...v]);
}

function removeName(plan: Plan, rule: number, name: string) {
  const s = plan.remove.get(rule);
  if (s) s.add(name);
  else plan.remove.set(rule, new Set([name]));
}

/**
 * fcntl allowed under `args` (distinct indexes) -> rules: NOTIFY for the dup
 * commands, ALLOW for every other command. null: no dup command is allowed.
 */
function splitFcntl(args: readonly LinuxSeccompArg[], from?: LinuxSyscall): LinuxSyscall[] | null {
  const c = args.find((a) => a.index === FCNTL_CMD);
  const points = FCNTL_NOTIFY_CMDS.filter((p) => !c || condHolds(c, p));
  if (points.length === 0) return null;
  const rules: LinuxSyscall[] = points.map((p) => notifyRule(['fcntl'], withCond(args, cond(FCNTL_CMD, 'SCMP_CMP_EQ', p)), from));
  for (const piece of minusPoints(FCNTL_CMD, c, points)) rules.push(allowRule(['fcntl'], withCond(args, piece), from));
  return rules;
}

/** Default action other than ALLOW: ALLOW -> NOTIFY rule by rule. */
function planDeny(s: LinuxSeccomp, name: string, entries: Entry[], plan: Plan, skipped: SkippedSyscall[]): boolean {
  const rules = s.syscalls ?? [];
  const allowRules = [...new Set(entries.filter((e) => e.action === 'ALLOW').map((e) => e.rule))];
  const already = entries.some((e) => e.action === 'NOTIFY');
  const uncond = entries.find((e) => e.args.length === 0);
  if (name !== 'fcntl') {
    for (const i of allowRules) {
      removeName(plan, i, name);
      // grouped later with the other names split from the same rule
      push(plan.before, i, notifyRule([name], rules[i].args, rules[i]));
    }
    if (uncond && uncond.action !== 'ALLOW' && uncond.action !== 'NOTIFY') {
      // an earlier unconditional rule decides: the ALLOW rules were dead
      skipped.push({ syscall: name, reason: `always ${uncond.action} in the profile: left as is` });
      return false;
    }
    if (allowRules.length === 0 && !already) {
      const acts = [...new Set(entries.map((e) => e.action))];
      skipped.push({ syscall: name, reason: `not allowed by the profile (${acts.length ? acts.join(', ') : defaultOf(s)}): left as is` });
      return false;
    }
    return true;
  }
  // fcntl
  if (uncond) {
    if (uncond.action !== 'ALLOW') {
      skipped.push({ syscall: name, reason: `always ${uncond.action} in the profile: left as is` });
      return uncond.action === 'NOTIFY';
    }
    // every other fcntl entry is dead (cleared or ignored by libseccomp);
    // once the unconditional ALLOW becomes conditional they would come back
    rules.forEach((r, i) => {
      if (r.names.includes(name)) removeName(plan, i, name);
    });
    push(plan.before, uncond.rule, ...(splitFcntl([], rules[uncond.rule]) ?? []));
    return true;
  }
  if (entries.some((e) => e.action !== 'ALLOW')) {
    skipped.push({
      syscall: name,
      reason: already
        ? 'already has NOTIFY rules: left as is'
        : 'conditional rules with different actions: left as is (F_DUPFD not notified)',
    });
    return already;
  }
  let any = false;
  for (const i of allowRules) {
    const r = rules[i];
    const pieces = hasRepeatedIndex(r.args) ? (r.args ?? []).map((a) => [a]) : [r.args ?? []];
    const split = pieces.map((p) => splitFcntl(p, r));
    if (split.every((x) => x === null)) continue;
    removeName(plan, i, name);
    split.forEach((x, k) => push(plan.before, i, ...(x ?? [allowRule([name], pieces[k].map((a) => ({ ...a })), r)])));
    any = true;
  }
  if (!any) skipped.push({ syscall: name, reason: 'F_DUPFD / F_DUPFD_CLOEXEC are not allowed by the profile: left as is' });
  return any;
}

/** Default action ALLOW: add NOTIFY where nothing else applies. */
function planAllow(name: string, entries: Entry[], plan: Plan, skipped: SkippedSyscall[], plainNotify: string[]): boolean {
  const live = entries.filter((e) => e.args.every(satisfiable));
  const uncond = live.find((e) => e.args.length === 0);
  const fcntlRules = (args: LinuxSeccompArg[]) =>
    FCNTL_NOTIFY_CMDS.flatMap((p) => {
      const c = args.find((a) => a.index === FCNTL_CMD);
      if (c && !condHolds(c, p)) return [];
      return [notifyRule([name], withCond(args, cond(FCNTL_CMD, 'SCMP_CMP_EQ', p)))];
    });
  if (live.length === 0) {
    if (name === 'fcntl') plan.append.push(...fcntlRules([]));
    else plainNotify.push(name);
    return true;
  }
  if (uncond) {
    if (uncond.action !== 'NOTIFY') skipped.push({ syscall: name, reason: `always ${uncond.action} in the profile: left as is` });
    return uncond.action === 'NOTIFY';
  }
  if (live.some((e) => e.action === 'NOTIFY')) return true; // done before (idempotence)
  if (live.length > 1) {
    skipped.push({ syscall: name, reason: `${live.length} conditional rules (${[...new Set(live.map((e) => e.action))].join(', ')}): left as is` });
    return false;
  }
  // complement of one conjunction c1 & c2 & ...: (not c1) | (c1 & not c2) | ...
  const boxes: LinuxSeccompArg[][] = [];
  const prefix: LinuxSeccompArg[] = [];
  for (const c of live[0].args) {
    for (const n of negate(c)) boxes.push([...prefix.map((a) => ({ ...a })), n]);
    prefix.push(c);
  }
  const rules = name === 'fcntl' ? boxes.flatMap(fcntlRules) : boxes.map((b) => notifyRule([name], b));
  if (rules.length === 0) {
    skipped.push({ syscall: name, reason: `${live[0].action} under its conditions, nothing left to notify` });
    return false;
  }
  plan.append.push(...rules);
  return true;
}

function sameArgs(a: LinuxSeccompArg[] | undefined, b: LinuxSeccompArg[] | undefined): boolean {
  return JSON.stringify(a ?? [], (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) ===
    JSON.stringify(b ?? [], (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** addNotify with the list of what was and was not notified. */
export function addNotifyWithReport(seccomp: LinuxSeccomp | undefined, opts: AddNotifyOptions): AddNotifyResult {
  if (!opts.listenerPath) throw new SeccompTransformError('listenerPath is required');
  const base: LinuxSeccomp = seccomp
    ? structuredClone(seccomp)
    : {
        defaultAction: 'SCMP_ACT_ALLOW',
        ...(() => {
          const a = opts.architectures ?? defaultArchitectures();
          return a ? { architectures: [...a] } : {};
        })(),
      };
  if (base.defaultAction === 'SCMP_ACT_NOTIFY') {
    throw new SeccompTransformError('the profile uses SCMP_ACT_NOTIFY as its default action, which runc refuses');
  }
  if (base.listenerPath && base.listenerPath !== opts.listenerPath) {
    throw new SeccompTransformError(
      `the profile already sends notifications to ${base.listenerPath}; a container has one seccomp listener, vhqos needs ${opts.listenerPath}`,
    );
  }
  const rules = base.syscalls ?? [];
  const plan: Plan = { remove: new Map(), before: new Map(), append: [] };
  const notified: string[] = [];
  const skipped: SkippedSyscall[] = [];
  const plainNotify: string[] = [];
  const denyDefault = defaultOf(base) !== 'ALLOW';
  for (const name of VHQOS_NOTIFY_SYSCALLS) {
    const entries = entriesFor(base, name);
    const ok = denyDefault ? planDeny(base, name, entries, plan, skipped) : planAllow(name, entries, plan, skipped, plainNotify);
    if (ok) notified.push(name);
  }
  if (plainNotify.length) plan.append.unshift(notifyRule(plainNotify, undefined));

  const out: LinuxSyscall[] = [];
  rules.forEach((r, i) => {
    // NOTIFY rules split from the same rule share its args: one rule for all
    const before = plan.before.get(i) ?? [];
    const grouped: LinuxSyscall[] = [];
    for (const b of before) {
      const g = grouped.find(
        (x) => x.action === 'SCMP_ACT_NOTIFY' && b.action === 'SCMP_ACT_NOTIFY' && !b.names.includes('fcntl') && !x.names.includes('fcntl') && sameArgs(x.args, b.args),
      );
      if (g) g.names.push(...b.names);
      else grouped.push(b);
    }
    out.push(...grouped);
    const gone = plan.remove.get(i);
    if (!gone) {
      out.push(r);
      return;
    }
    const names = r.names.filter((n) => !gone.has(n));
    if (names.length) out.push({ ...r, names: names as [string, ...string[]] });
  });
  out.push(...plan.append);

  const result: LinuxSeccomp = { ...base, listenerPath: opts.listenerPath };
  if (opts.listenerMetadata !== undefined) result.listenerMetadata = opts.listenerMetadata;
  if (out.length || base.syscalls) result.syscalls = out;
  return { seccomp: result, notified, skipped };
}
