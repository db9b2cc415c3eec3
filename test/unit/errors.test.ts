// The error table: every vhqos error class carries a code from the table, and
// the native core builds its failures as the table's SyscallError.
import test from 'ava';
import * as errors from '../../src/errors';
import { loadNative } from '../../src/native';

const { ERROR_CODES, VhqosError, SyscallError } = errors;

test('every exported error class is a VhqosError with a code from the table, or a SyscallError', (t) => {
  const samples: Error[] = [
    new errors.ConfigError('site.yaml', ['vhosts.gold.cpu.weight: must be <= 10000']),
    new errors.InstanceInUseError('shop', 42),
    new errors.ControlError('no'),
    new errors.MetricsAddressError('bad'),
    new errors.UsageError('bad'),
    new errors.OciValidationError('config.json', [{ path: '/process', message: 'required' }]),
    new errors.SeccompTransformError('x'),
    new errors.PrepareError('x'),
    new errors.WrapperError('x'),
    new errors.AgentProtocolError('x'),
    new errors.AgentRefusedError('x', {}),
    new errors.AgentNotRunningError('/run/vhqos/agent.sock', 'ENOENT'),
    new errors.ImportError('x'),
    new errors.PlacementRefused('EPERM', 'x'),
  ];
  const classes = (Object.values(errors) as unknown[]).filter((v): v is { prototype: Error; name: string } => typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof Error);
  for (const C of classes) if ((C as unknown) !== VhqosError && (C as unknown) !== SyscallError && !(C.prototype instanceof SyscallError)) t.true(samples.some((s) => s.constructor === C), `${C.name} has a sample here`);
  for (const e of samples) {
    t.true(e instanceof VhqosError, e.name);
    t.true((e as errors.VhqosError).code in ERROR_CODES, `${e.name}: ${(e as errors.VhqosError).code}`);
    t.is(e.name, e.constructor.name);
  }
  const c = new errors.CgroupError('cgroup: cannot write', '/sys/fs/cgroup/x/cgroup.procs', 'EBUSY');
  t.true(c instanceof SyscallError);
  t.like(c, { code: 'EBUSY', errno: -16, file: '/sys/fs/cgroup/x/cgroup.procs', path: '/sys/fs/cgroup/x/cgroup.procs' });
});

test('a native failure is constructed as SyscallError, with the call that failed', (t) => {
  const native = loadNative();
  const err = t.throws(() => native.close(-1));
  t.true(err instanceof SyscallError);
  t.like(err, { code: 'EBADF', errno: -9, syscall: 'close', name: 'SyscallError' });
  t.regex(err!.message, /^close: /);
});
