// A small model of how runc 1.1 + libseccomp 2.5 turn an OCI
// `linux.seccomp` section into a filter, and an evaluator built on it.
//
// seccomp-transform.ts relies on this model to decide what it may rewrite;
// the tests use evaluateSeccomp() to check, for every syscall and many
// argument values, that a transformed profile answers what the original did
// (or NOTIFY where the original allowed). test/unit/oci-seccomp-libseccomp
// checks the model itself against the BPF the system's libseccomp emits.
//
// Semantics, for one syscall S on the native 64-bit architecture:
//
//  1. Actions are resolved as runc does: SCMP_ACT_ERRNO / SCMP_ACT_TRACE carry
//     their errnoRet, EPERM (1) when absent; SCMP_ACT_KILL is KILL_THREAD.
//     The default is defaultAction with defaultErrnoRet.
//  2. The rules are read in order, one entry per occurrence of S in `names`.
//     An entry whose resolved action equals the default is skipped (runc:
//     "this rule is redundant"; libseccomp would refuse it).
//  3. An entry that compares the same argument index twice is split into one
//     entry per condition (runc's "old behavior"): its conditions are OR-ed.
//     Otherwise an entry's conditions are AND-ed.
//  4. If an unconditional entry exists, the first one decides S for every
//     argument value: libseccomp drops a syscall's argument chains when an
//     unconditional rule arrives and ignores any rule after it.
//  5. Otherwise the conditional entries whose conditions all hold decide. No
//     match: the default action. Several matches with different actions is
//     *ambiguous*: libseccomp resolves it by the shape of its decision tree
//     (or refuses the rule with EEXIST), so the result is the set of
//     candidates and a correct transformation must map that set, not pick one.
//  6. Comparisons are on the full 64-bit argument; SCMP_CMP_MASKED_EQ is
//     (arg & value) == (valueTwo & value): libseccomp masks the datum too, so
//     bits of valueTwo outside the mask are ignored (checked against its BPF).
//
// Syscall names are not resolved: a name unknown to the kernel behaves as any
// other name here (runc would ignore it), which cannot change another
// syscall's result.

import type { LinuxSeccomp, LinuxSeccompArg, SeccompAction } from './types';

export const U64_MAX = (1n << 64n) - 1n;

/** An action as the kernel sees it: "ALLOW", "NOTIFY", "ERRNO(38)", "KILL_THREAD"… */
export type ResolvedAction = string;

export function resolveAction(action: SeccompAction, errnoRet: number | bigint | undefined): ResolvedAction {
  const name = action.replace(/^SCMP_ACT_/, '');
  switch (name) {
    case 'KILL':
      return 'KILL_THREAD';
    case 'ERRNO':
    case 'TRACE':
      return `${name}(${errnoRet === undefined ? 1 : String(errnoRet)})`;
    default:
      return name;
  }
}

export function defaultOf(seccomp: LinuxSeccomp): ResolvedAction {
  return resolveAction(seccomp.defaultAction, seccomp.defaultErrnoRet);
}

/** One rule as runc hands it to libseccomp, for one syscall name. */
export interface Entry {
  /** Index of the rule in `syscalls`. */
  rule: number;
  action: ResolvedAction;
  /** Conditions, AND-ed, on distinct argument indexes. Empty: unconditional. */
  args: LinuxSeccompArg[];
}

/** Steps 1–3: the entries runc adds for `name`, in order. */
export function entriesFor(seccomp: LinuxSeccomp, name: string): Entry[] {
  const def = defaultOf(seccomp);
  const out: Entry[] = [];
  (seccomp.syscalls ?? []).forEach((r, rule) => {
    const action = resolveAction(r.action, r.errnoRet);
    if (action === def) return;
    for (const n of r.names) {
      if (n !== name) continue;
      const args = r.args ?? [];
      const indexes = args.map((a) => a.index);
      if (new Set(indexes).size !== indexes.length) {
        for (const a of args) out.push({ rule, action, args: [a] });
      } else out.push({ rule, action, args });
    }
  });
  return out;
}

export function big(v: number | bigint | undefined): bigint {
  return BigInt.asUintN(64, BigInt(v ?? 0));
}

/** Does condition `c` hold for argument value `x`? */
export function condHolds(c: LinuxSeccompArg, x: bigint): boolean {
  const v = big(c.value);
  switch (c.op) {
    case 'SCMP_CMP_NE':
      return x !== v;
    case 'SCMP_CMP_LT':
      return x < v;
    case 'SCMP_CMP_LE':
      return x <= v;
    case 'SCMP_CMP_EQ':
      return x === v;
    case 'SCMP_CMP_GE':
      return x >= v;
    case 'SCMP_CMP_GT':
      return x > v;
    case 'SCMP_CMP_MASKED_EQ':
      return (x & v) === (big(c.valueTwo) & v);
  }
}

export function entryMatches(e: Entry, args: readonly bigint[]): boolean {
  return e.args.every((c) => condHolds(c, args[c.index] ?? 0n));
}

/**
 * Step 4–5: the possible actions for syscall `name` with arguments `args`
 * (missing arguments are 0). One element unless the profile is ambiguous
 * for these arguments.
 */
export function evaluateSeccomp(seccomp: LinuxSeccomp, name: string, args: readonly bigint[]): Set<ResolvedAction> {
  const entries = entriesFor(seccomp, name);
  const uncond = entries.find((e) => e.args.length === 0);
  if (uncond) return new Set([uncond.action]);
  const hits = entries.filter((e) => entryMatches(e, args));
  if (hits.length === 0) return new Set([defaultOf(seccomp)]);
  return new Set(hits.map((e) => e.action));
}
