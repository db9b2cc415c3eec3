import test from 'ava';
import type { LinuxSeccomp, LinuxSyscall } from '../../src/oci/types';
import { evaluateSeccomp, entriesFor, resolveAction } from '../../src/oci/seccomp-eval';
import {
  addNotify,
  addNotifyWithReport,
  defaultArchitectures,
  SeccompTransformError,
  VHQOS_NOTIFY_SYSCALLS,
} from '../../src/oci/seccomp-transform';
import { validateSpec } from '../../src/oci/validate';
import { parseJsonLossless, stringifyJsonLossless } from '../../src/oci/json';
import {
  argumentVectors,
  capturedProfiles,
  mapExpected,
  syntheticProfiles,
  syscallNames,
  wantsNotify,
} from '../fixtures/oci/helpers';

const OPTS = { listenerPath: '/run/vhqos/agent.sock', listenerMetadata: '/etc/vhqos/site.yaml' };
const ALL = { ...capturedProfiles(), ...syntheticProfiles() };
const show = (s: Set<string>) => [...s].sort().join('|');

// ---------------------------------------------------------------------------
// the evaluator itself (its semantics are documented in seccomp-eval.ts)

test('evaluator: actions resolve like runc (errnoRet default EPERM, KILL = KILL_THREAD)', (t) => {
  t.is(resolveAction('SCMP_ACT_ERRNO', undefined), 'ERRNO(1)');
  t.is(resolveAction('SCMP_ACT_ERRNO', 38), 'ERRNO(38)');
  t.is(resolveAction('SCMP_ACT_TRACE', undefined), 'TRACE(1)');
  t.is(resolveAction('SCMP_ACT_KILL', undefined), 'KILL_THREAD');
  t.is(resolveAction('SCMP_ACT_KILL_THREAD', undefined), 'KILL_THREAD');
  t.is(resolveAction('SCMP_ACT_ALLOW', 5), 'ALLOW');
});

test('evaluator: first unconditional rule wins, conditions AND-ed, repeated index OR-ed, default-equal rules skipped', (t) => {
  const p: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['a'], action: 'SCMP_ACT_TRAP', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
      { names: ['a'], action: 'SCMP_ACT_ALLOW' },
      { names: ['a'], action: 'SCMP_ACT_LOG' },
      { names: ['b'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 2, op: 'SCMP_CMP_EQ' }] },
      { names: ['c'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 0, value: 2, op: 'SCMP_CMP_EQ' }] },
      { names: ['d'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
      { names: ['d'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: 0xf0, valueTwo: 0x3f, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['e'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
      { names: ['e'], action: 'SCMP_ACT_LOG', args: [{ index: 1, value: 1, op: 'SCMP_CMP_EQ' }] },
    ],
  };
  const ev = (n: string, ...a: number[]) => show(evaluateSeccomp(p, n, a.map(BigInt)));
  t.is(ev('a', 1), 'ALLOW');
  t.is(ev('b', 1, 2), 'ALLOW');
  t.is(ev('b', 1, 3), 'ERRNO(1)');
  t.is(ev('c', 1), 'ALLOW');
  t.is(ev('c', 2), 'ALLOW');
  t.is(ev('c', 3), 'ERRNO(1)');
  // ERRNO(1) equals the default: skipped, the MASKED_EQ rule decides; bits of
  // valueTwo outside the mask are ignored (libseccomp masks the datum)
  t.is(entriesFor(p, 'd').length, 1);
  t.is(ev('d', 0, 0, 0x30), 'ALLOW');
  t.is(ev('d', 0, 0, 0x40), 'ERRNO(1)');
  t.is(ev('e', 1, 1), 'ALLOW|LOG', 'overlapping different actions are ambiguous');
  t.is(ev('e', 0, 0), 'ERRNO(1)');
  t.is(ev('unknown'), 'ERRNO(1)');
});

// ---------------------------------------------------------------------------
// the property: same answers, NOTIFY where vhqos wants it and ALLOW was

for (const [label, original] of Object.entries(ALL)) {
  test(`property (${label}): every syscall and argument answers as before, or NOTIFY where it was ALLOW`, (t) => {
    const { seccomp: out, skipped } = addNotifyWithReport(original, OPTS);
    const skippedNames = new Set(skipped.map((s) => s.syscall));
    const before: LinuxSeccomp = original ?? { defaultAction: 'SCMP_ACT_ALLOW' };
    let checked = 0;
    let notifiedCalls = 0;
    const failures: string[] = [];
    for (const name of syscallNames(before, out)) {
      for (const args of argumentVectors(name, [before, out])) {
        const was = evaluateSeccomp(before, name, args);
        const now = evaluateSeccomp(out, name, args);
        const want = mapExpected(was, name, args, skippedNames);
        checked++;
        if (now.has('NOTIFY')) notifiedCalls++;
        if (show(now) !== show(want) && failures.length < 10) {
          failures.push(`${name}(${args.join(', ')}): was ${show(was)}, now ${show(now)}, want ${show(want)}`);
        }
      }
    }
    t.deepEqual(failures, []);
    t.true(checked > 400, `checked ${checked} calls`);
    t.true(notifiedCalls > 0);
  });
}

test('property: a wrong transformation is caught (the check can fail)', (t) => {
  // a naive transformation: one unconditional NOTIFY rule for every vhqos syscall
  const docker = capturedProfiles()['docker 20.10.24'];
  const naive: LinuxSeccomp = {
    ...docker,
    syscalls: [...(docker.syscalls ?? []), { names: [...VHQOS_NOTIFY_SYSCALLS] as [string, ...string[]], action: 'SCMP_ACT_NOTIFY' }],
  };
  const bad: string[] = [];
  for (const name of ['fcntl', 'accept4']) {
    for (const args of argumentVectors(name, [docker])) {
      const want = mapExpected(evaluateSeccomp(docker, name, args), name, args, new Set());
      if (show(evaluateSeccomp(naive, name, args)) !== show(want)) bad.push(name);
    }
  }
  // naive appends after docker's unconditional ALLOW: fcntl stays ALLOW for
  // F_DUPFD (libseccomp keeps the first unconditional rule), and so does accept4.
  t.true(bad.includes('fcntl'));
  t.true(bad.includes('accept4'));
});

// ---------------------------------------------------------------------------
// the real profiles, spelled out

test('docker: the fork family is left exactly as the profile has it (clone keeps its flags mask), write is not notified', (t) => {
  const docker = capturedProfiles()['docker 20.10.24'];
  const r = addNotifyWithReport(docker, OPTS);
  const out = r.seccomp;
  const clone = out.syscalls!.filter((s) => s.names.includes('clone'));
  t.is(clone.length, 1);
  t.is(clone[0].action, 'SCMP_ACT_ALLOW');
  t.deepEqual(clone[0].args, [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }]);
  const CLONE_NEWUSER = 0x10000000n;
  t.is(show(evaluateSeccomp(out, 'clone', [0x3d0f00n])), 'ALLOW'); // pthread_create's flags
  t.is(show(evaluateSeccomp(out, 'clone', [0x1200011n])), 'ALLOW'); // fork()'s flags
  t.is(show(evaluateSeccomp(out, 'clone', [CLONE_NEWUSER])), 'ERRNO(1)');
  t.is(show(evaluateSeccomp(out, 'clone3', [])), 'ERRNO(38)');
  t.deepEqual(r.skipped.map((s) => s.syscall), []);
  t.is(show(evaluateSeccomp(out, 'accept4', [3n, 0n, 0n, 0x80800n])), 'NOTIFY');
  t.is(show(evaluateSeccomp(out, 'write', [])), 'ALLOW');
  t.is(show(evaluateSeccomp(out, 'openat', [])), 'ALLOW');
  t.is(show(evaluateSeccomp(out, 'fcntl', [3n, 0n])), 'NOTIFY');
  t.is(show(evaluateSeccomp(out, 'fcntl', [3n, 1030n])), 'NOTIFY');
  t.is(show(evaluateSeccomp(out, 'fcntl', [3n, 3n])), 'ALLOW'); // F_GETFL
  t.is(show(evaluateSeccomp(out, 'fcntl', [3n, 2n])), 'ALLOW'); // F_SETFD
  t.is(show(evaluateSeccomp(out, 'fcntl', [3n, 1031n])), 'ALLOW');
  t.is(show(evaluateSeccomp(out, 'kexec_load', [])), 'ERRNO(1)');
  t.is(out.defaultAction, 'SCMP_ACT_ERRNO');
  t.deepEqual(out.architectures, docker.architectures);
});

test('podman: every vhqos syscall is notified, denials kept', (t) => {
  const podman = capturedProfiles()['podman 4.3.1'];
  const r = addNotifyWithReport(podman, OPTS);
  t.deepEqual(r.skipped, []);
  t.deepEqual([...r.notified].sort(), [...VHQOS_NOTIFY_SYSCALLS].sort());
  for (const n of VHQOS_NOTIFY_SYSCALLS) {
    t.is(show(evaluateSeccomp(r.seccomp, n, n === 'fcntl' ? [3n, 0n] : [])), 'NOTIFY', n);
  }
  t.is(show(evaluateSeccomp(r.seccomp, 'bpf', [])), 'ERRNO(1)');
  t.is(show(evaluateSeccomp(r.seccomp, 'not_in_profile', [])), 'ERRNO(38)');
  t.is(show(evaluateSeccomp(r.seccomp, 'socket', [16n, 0n, 9n])), 'ERRNO(22)');
  t.is(r.seccomp.defaultErrnoRet, 38);
});

// ---------------------------------------------------------------------------
// invariants on every profile

for (const [label, original] of Object.entries(ALL)) {
  test(`invariants (${label}): no NOTIFY on write or as default, listener set, arches/flags kept, idempotent, valid`, (t) => {
    const snapshot = stringifyJsonLossless(original ?? null);
    const once = addNotify(original, OPTS);
    t.is(stringifyJsonLossless(original ?? null), snapshot, 'input not mutated');
    t.not(once.defaultAction, 'SCMP_ACT_NOTIFY');
    const notifyRules = (once.syscalls ?? []).filter((s: LinuxSyscall) => s.action === 'SCMP_ACT_NOTIFY');
    t.true(notifyRules.length > 0);
    t.false(notifyRules.some((s) => s.names.includes('write')));
    for (const s of notifyRules) for (const n of s.names) t.true(VHQOS_NOTIFY_SYSCALLS.includes(n), n);
    t.is(once.listenerPath, OPTS.listenerPath);
    t.is(once.listenerMetadata, OPTS.listenerMetadata);
    if (original) {
      t.deepEqual(once.architectures, original.architectures);
      t.deepEqual(once.flags, original.flags);
      t.is(once.defaultAction, original.defaultAction);
      t.is(once.defaultErrnoRet, original.defaultErrnoRet);
    } else {
      t.deepEqual(once.architectures, defaultArchitectures());
      t.is(once.defaultAction, 'SCMP_ACT_ALLOW');
    }
    const twice = addNotify(once, OPTS);
    t.is(stringifyJsonLossless(twice), stringifyJsonLossless(once), 'idempotent');
    // what it writes is a valid config.json section, also after a JSON round trip
    const spec = validateSpec({ ociVersion: '1.0.2', linux: { seccomp: parseJsonLossless(stringifyJsonLossless(once)) } });
    t.is(stringifyJsonLossless(spec.linux!.seccomp), stringifyJsonLossless(once));
  });
}

test('large masks survive as exact integers', (t) => {
  const out = addNotify(capturedProfiles()['docker 20.10.24'], OPTS);
  const text = stringifyJsonLossless(out);
  // fcntl commands 1024..1027: mask 2^64-1-3, far beyond 2^53
  t.true(text.includes('"value":18446744073709551612,"op":"SCMP_CMP_MASKED_EQ","valueTwo":1024'), 'cube mask printed exactly');
  t.false(/\d{17,}\.|e\+/.test(text));
});

test('no profile: ALLOW by default plus NOTIFY rules, native and compat arches', (t) => {
  const out = addNotify(undefined, { listenerPath: '/x.sock', architectures: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] });
  t.is(out.defaultAction, 'SCMP_ACT_ALLOW');
  t.deepEqual(out.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  t.is(out.listenerMetadata, undefined);
  t.is(show(evaluateSeccomp(out, 'accept4', [])), 'NOTIFY');
  t.is(show(evaluateSeccomp(out, 'fcntl', [0n, 1030n])), 'NOTIFY');
  t.is(show(evaluateSeccomp(out, 'fcntl', [0n, 4n])), 'ALLOW');
  t.is(show(evaluateSeccomp(out, 'write', [])), 'ALLOW');
  t.deepEqual(defaultArchitectures('x64'), ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  t.deepEqual(defaultArchitectures('ppc64', 'LE'), ['SCMP_ARCH_PPC64LE']);
});

test('allow-default profile: conditional denials are complemented, never overridden', (t) => {
  const p = syntheticProfiles()['allow-default, conditional denials']!;
  const r = addNotifyWithReport(p, OPTS);
  const ev = (n: string, ...a: bigint[]) => show(evaluateSeccomp(r.seccomp, n, a));
  t.is(ev('clone', 0x10000000n), 'ERRNO(1)');
  t.is(ev('clone', 0x3d0f00n), 'ALLOW', 'the fork family is never notified');
  t.is(ev('clone3'), 'ERRNO(38)');
  t.is(ev('fcntl', 3n, 1030n), 'ERRNO(1)');
  t.is(ev('fcntl', 3n, 0n), 'NOTIFY');
  t.is(ev('fcntl', 3n, 1n), 'ALLOW');
  t.is(ev('read', 0n, 0n, 10n), 'ERRNO(5)');
  t.is(ev('read', 0n, 0n, 5000n), 'NOTIFY');
  t.is(ev('read', 4n, 0n, 10n), 'NOTIFY');
  t.is(ev('accept4'), 'LOG');
  t.is(ev('recvfrom', 3n), 'ERRNO(1)');
  t.is(ev('recvfrom', 4n), 'ALLOW', 'two conditional denials: left alone');
  t.deepEqual(r.skipped.map((s) => s.syscall).sort(), ['accept4', 'recvfrom']);
  t.regex(r.skipped.find((s) => s.syscall === 'recvfrom')!.reason, /conditional/);
  t.is(ev('dup3'), 'NOTIFY');
});

test('deny-default profile: what is reported as skipped is what stays denied', (t) => {
  const p = syntheticProfiles()['deny-default, conditional allows']!;
  const r = addNotifyWithReport(p, OPTS);
  const ev = (n: string, ...a: bigint[]) => show(evaluateSeccomp(r.seccomp, n, a));
  t.deepEqual(r.skipped.map((s) => s.syscall).sort(), ['accept', 'close_range', 'dup', 'dup3', 'execve', 'readv', 'recvfrom']);
  t.is(ev('execveat'), 'NOTIFY');
  t.regex(r.skipped.find((s) => s.syscall === 'execve')!.reason, /always ERRNO\(13\)/);
  t.is(ev('execve'), 'ERRNO(13)');
  t.is(ev('close', 200n), 'NOTIFY', 'the unconditional ALLOW wins over the conditional TRAP');
  t.is(ev('dup2', 0n, 1n), 'NOTIFY');
  t.is(ev('dup2', 0n, 2n), 'ERRNO(1)');
  t.is(ev('read', 2n), 'NOTIFY');
  t.is(ev('read', 3n), 'ERRNO(1)');
  t.is(ev('write', 2n), 'ALLOW');
  t.is(ev('readv'), 'ERRNO(5)');
  t.is(ev('fcntl', 3n, 1030n), 'NOTIFY');
  t.is(ev('fcntl', 4n, 1030n), 'NOTIFY');
  t.is(ev('fcntl', 4n, 2001n), 'ERRNO(1)');
  t.is(ev('fcntl', 4n, 2000n), 'ALLOW');
  t.is(ev('accept4', 3n, 0n, 0n, 0x80800n), 'NOTIFY');
  t.is(ev('accept4', 3n, 0n, 0n, 0n), 'ERRNO(1)');
  t.is(ev('socket', 1n, 1n, 0n, 0x800n), 'ALLOW');
});

test('listenerPath conflicts and a NOTIFY default are refused', (t) => {
  const base: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', listenerPath: '/other.sock' };
  const e = t.throws(() => addNotify(base, OPTS), { instanceOf: SeccompTransformError });
  t.regex(e!.message, /\/other\.sock/);
  t.notThrows(() => addNotify({ ...base, listenerPath: OPTS.listenerPath }, OPTS));
  t.throws(() => addNotify({ defaultAction: 'SCMP_ACT_NOTIFY' }, OPTS), { message: /default action/ });
  t.throws(() => addNotify(undefined, { listenerPath: '' }), { message: /listenerPath/ });
});

test('listenerMetadata is replaced when given and kept otherwise', (t) => {
  const once = addNotify(undefined, OPTS);
  t.is(addNotify(once, { listenerPath: OPTS.listenerPath }).listenerMetadata, OPTS.listenerMetadata);
  t.is(addNotify(once, { ...OPTS, listenerMetadata: '/etc/vhqos/other.yaml' }).listenerMetadata, '/etc/vhqos/other.yaml');
});

test('wantsNotify helper matches the spec of the issue', (t) => {
  t.true(wantsNotify('fcntl', [0n, 0n]));
  t.true(wantsNotify('fcntl', [0n, 1030n]));
  t.false(wantsNotify('fcntl', [0n, 1n]));
  t.false(wantsNotify('clone3', []), 'the fork family is never notified');
  t.true(wantsNotify('accept4', []));
  t.false(wantsNotify('write', []));
});
