// Checks the seccomp model (src/oci/seccomp-eval.ts) and the transformation
// against the real thing: the system's libseccomp builds the filter exactly as
// runc 1.1 adds the rules, exports the BPF program, and a small classic-BPF
// interpreter runs it for every syscall and argument vector the property test
// uses. Needs a C compiler and libseccomp's headers (Debian: libseccomp-dev);
// skipped otherwise, and on non-x86_64 hosts.

import test from 'ava';
import { prerequisite, requires } from '../helpers/requires';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { LinuxSeccomp } from '../../src/oci/types';
import { evaluateSeccomp, resolveAction, type ResolvedAction } from '../../src/oci/seccomp-eval';
import { addNotifyWithReport } from '../../src/oci/seccomp-transform';
import { argumentVectors, capturedProfiles, FIXTURES, mapExpected, syntheticProfiles, syscallNames } from '../fixtures/oci/helpers';

const OPTS = { listenerPath: '/run/vhqos/agent.sock', listenerMetadata: '/etc/vhqos/site.yaml' };

const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'vhqos-bpf-'));
test.after.always(() => fs.rmSync(workdir, { recursive: true, force: true }));

/** The harness executable, or why it cannot be built here. */
function buildHarness(): { exe: string } | { missing: string } {
  if (process.arch !== 'x64') return { missing: `the harness is x86_64 only (this is ${process.arch})` };
  const exe = path.join(workdir, 'seccomp-bpf-export');
  try {
    execFileSync('cc', ['-O1', '-o', exe, path.join(FIXTURES, 'seccomp-bpf-export.c'), '-lseccomp'], { stdio: 'pipe' });
    return { exe };
  } catch (e) {
    return { missing: `cannot build the libseccomp harness (needs cc and libseccomp-dev): ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n')[0]}` };
  }
}

const built = buildHarness();
const harness = 'exe' in built ? built.exe : null;
const maybe = requires(prerequisite('libseccomp', 'missing' in built ? built.missing : null));

function token(a: ResolvedAction): string {
  if (a === 'KILL_THREAD') return 'KILL';
  const m = /^(ERRNO|TRACE)\((\d+)\)$/.exec(a);
  return m ? `${m[1]}:${m[2]}` : a;
}

/** The libseccomp calls runc's InitSeccomp/matchCall make for this profile. */
function harnessInput(p: LinuxSeccomp): string {
  const def = resolveAction(p.defaultAction, p.defaultErrnoRet);
  const lines = [`default ${token(def)}`];
  for (const a of p.architectures ?? []) lines.push(`arch ${a}`);
  const rules = p.syscalls ?? [];
  if (rules.reduce((n, r) => n + r.names.length, 0) > 32) lines.push('optimize 2');
  for (const r of rules) {
    const act = resolveAction(r.action, r.errnoRet);
    if (act === def) continue;
    const args = r.args ?? [];
    const repeated = new Set(args.map((a) => a.index)).size !== args.length;
    const conds = (list: typeof args) =>
      `${list.length}${list.map((a) => ` ${a.index} ${a.op.replace('SCMP_CMP_', '')} ${BigInt(a.value)} ${BigInt(a.valueTwo ?? 0)}`).join('')}`;
    for (const n of r.names) {
      if (repeated) for (const a of args) lines.push(`rule ${token(act)} ${n} ${conds([a])}`);
      else lines.push(`rule ${token(act)} ${n} ${conds(args)}`);
    }
  }
  return lines.join('\n') + '\n';
}

interface Filter {
  nr: Map<string, number>;
  errors: string[];
  bpf: Buffer;
}

function build(p: LinuxSeccomp, names: string[]): Filter {
  const input = harnessInput(p) + names.map((n) => `name ${n}\n`).join('');
  const out = execFileSync(harness!, { input }).toString();
  const f: Filter = { nr: new Map(), errors: [], bpf: Buffer.alloc(0) };
  for (const line of out.split('\n')) {
    const t = line.split(' ');
    if (t[0] === 'nr') f.nr.set(t[1], Number(t[2]));
    else if (t[0] === 'err') f.errors.push(line);
    else if (t[0] === 'bpf') f.bpf = Buffer.from(t[1], 'hex');
  }
  return f;
}

const AUDIT_ARCH_X86_64 = 0xc000003e;

/** Classic BPF, as the kernel runs a seccomp filter over struct seccomp_data. */
function runBpf(bpf: Buffer, nr: number, args: readonly bigint[]): number {
  const data = Buffer.alloc(64);
  data.writeInt32LE(nr, 0);
  data.writeUInt32LE(AUDIT_ARCH_X86_64, 4);
  args.forEach((a, i) => data.writeBigUInt64LE(a, 16 + 8 * i));
  let A = 0;
  let X = 0;
  let pc = 0;
  const M = new Array<number>(16).fill(0);
  const n = bpf.length / 8;
  for (let steps = 0; steps < 1_000_000; steps++) {
    if (pc >= n) throw new Error('BPF: fell off the end');
    const code = bpf.readUInt16LE(pc * 8);
    const jt = bpf[pc * 8 + 2];
    const jf = bpf[pc * 8 + 3];
    const k = bpf.readUInt32LE(pc * 8 + 4);
    pc++;
    const cls = code & 7;
    if (cls === 0 || cls === 1) {
      const mode = code & 0xe0;
      const v = mode === 0x20 ? data.readUInt32LE(k) : mode === 0x00 ? k : mode === 0x60 ? M[k] : mode === 0x80 ? 64 : NaN;
      if (Number.isNaN(v)) throw new Error(`BPF: load mode ${code}`);
      if (cls === 0) A = v;
      else X = v;
    } else if (cls === 2) M[k] = A;
    else if (cls === 3) M[k] = X;
    else if (cls === 4) {
      const src = code & 8 ? X : k;
      switch (code & 0xf0) {
        case 0x00: A = (A + src) >>> 0; break;
        case 0x10: A = (A - src) >>> 0; break;
        case 0x40: A = (A | src) >>> 0; break;
        case 0x50: A = (A & src) >>> 0; break;
        case 0x60: A = (A << src) >>> 0; break;
        case 0x70: A = A >>> src; break;
        case 0x80: A = -A >>> 0; break;
        case 0xa0: A = (A ^ src) >>> 0; break;
        default: throw new Error(`BPF: alu ${code}`);
      }
    } else if (cls === 5) {
      const op = code & 0xf0;
      const src = code & 8 ? X : k;
      if (op === 0x00) {
        pc += k;
        continue;
      }
      const c = op === 0x10 ? A === src : op === 0x20 ? A > src : op === 0x30 ? A >= src : op === 0x40 ? (A & src) !== 0 : null;
      if (c === null) throw new Error(`BPF: jump ${code}`);
      pc += c ? jt : jf;
    } else if (cls === 6) return (code & 0x18) === 0x10 ? A : k;
    else if (code === 0x07) X = A;
    else A = X;
  }
  throw new Error('BPF: no return');
}

function decode(ret: number): ResolvedAction {
  const action = (ret & 0xffff0000) >>> 0;
  const data = ret & 0xffff;
  switch (action) {
    case 0x7fff0000: return 'ALLOW';
    case 0x7ffc0000: return 'LOG';
    case 0x7fc00000: return 'NOTIFY';
    case 0x00050000: return `ERRNO(${data})`;
    case 0x7ff00000: return `TRACE(${data})`;
    case 0x00030000: return 'TRAP';
    case 0x80000000: return 'KILL_PROCESS';
    case 0x00000000: return 'KILL_THREAD';
    default: return `0x${(ret >>> 0).toString(16)}`;
  }
}

const profiles: Record<string, LinuxSeccomp | undefined> = { ...capturedProfiles(), ...syntheticProfiles() };

for (const [label, original] of Object.entries(profiles)) {
  maybe(`libseccomp (${label}): filter of the transformed profile = original with NOTIFY for ALLOW, model agrees`, (t) => {
    const before: LinuxSeccomp = original ?? { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'] };
    const { seccomp: after, skipped } = addNotifyWithReport(original, OPTS);
    const skippedNames = new Set(skipped.map((s) => s.syscall));
    const names = syscallNames(before, after);
    const fb = build(before, names);
    const fa = build(after, names);
    t.deepEqual(fb.errors, [], 'libseccomp accepts the original');
    t.deepEqual(fa.errors, [], 'libseccomp accepts every rule of the transformed profile (no EEXIST)');
    const problems: string[] = [];
    let checked = 0;
    let notify = 0;
    for (const name of names) {
      const nr = fa.nr.get(name) ?? -1;
      if (nr < 0) continue; // not a syscall on x86_64
      for (const args of argumentVectors(name, [before, after], 1500)) {
        const b = decode(runBpf(fb.bpf, nr, args));
        const a = decode(runBpf(fa.bpf, nr, args));
        checked++;
        if (a === 'NOTIFY') notify++;
        const want = [...mapExpected(new Set([b]), name, args, skippedNames)][0];
        const say = `${name}(${args.join(', ')})`;
        if (a !== want) problems.push(`${say}: libseccomp was ${b}, now ${a}, want ${want}`);
        if (!evaluateSeccomp(before, name, args).has(b)) problems.push(`${say}: model of the original misses ${b}`);
        if (!evaluateSeccomp(after, name, args).has(a)) problems.push(`${say}: model of the result misses ${a}`);
        if (problems.length > 10) break;
      }
    }
    t.deepEqual(problems.slice(0, 10), []);
    t.true(checked > 300, `checked ${checked}`);
    t.true(notify > 0);
  });
}

maybe('libseccomp: the interpreter tells actions apart (a broken profile is caught)', (t) => {
  const docker = capturedProfiles()['docker 20.10.24'];
  // the naive fix for the docker profile: drop clone's mask
  const naive: LinuxSeccomp = {
    ...docker,
    syscalls: (docker.syscalls ?? []).map((r) => (r.names.includes('clone') ? { ...r, action: 'SCMP_ACT_NOTIFY' as const, args: undefined } : r)),
  };
  const f = build(naive, ['clone']);
  const nr = f.nr.get('clone')!;
  t.is(decode(runBpf(f.bpf, nr, [0x10000000n, 0n, 0n, 0n, 0n, 0n])), 'NOTIFY', 'CLONE_NEWUSER would be let through');
  const g = build(docker, ['clone']);
  t.is(decode(runBpf(g.bpf, nr, [0x10000000n, 0n, 0n, 0n, 0n, 0n])), 'ERRNO(1)');
  t.is(decode(runBpf(g.bpf, nr, [0x3d0f00n, 0n, 0n, 0n, 0n, 0n])), 'ALLOW');
});
