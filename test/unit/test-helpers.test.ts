// The parsers the integration tests read servers' answers with (pure).
import test from 'ava';
import { parseCgroupBody, servedBy } from '../helpers/client';
import { takeReply } from '../helpers/ftp';
import { sameIp } from '../helpers/proc';

test('ftp replies and addresses: takeReply, sameIp', (t) => {
  t.deepEqual(takeReply('220 (vsFTPd 3.0.3)\r\n'), { reply: { code: 220, text: '(vsFTPd 3.0.3)', raw: '220 (vsFTPd 3.0.3)\r\n' }, rest: '' });
  const multi = takeReply('230-Welcome\r\n more\r\n230 Login successful.\r\n150 x');
  t.is(multi?.reply.code, 230);
  t.is(multi?.reply.text, 'Welcome\n more\nLogin successful.');
  t.is(multi?.rest, '150 x');
  t.is(takeReply('22'), null);
  t.is(takeReply('230-Welcome\r\n'), null);
  t.throws(() => takeReply('hello\r\n'), { message: /malformed/ });
  t.true(sameIp('127.0.0.2', '::ffff:127.0.0.2'));
  t.true(sameIp('::ffff:7f00:2', '127.0.0.2'));
  t.true(sameIp('::1', '0:0:0:0:0:0:0:1'));
  t.true(sameIp('[::1]', '::1'));
  t.false(sameIp('127.0.0.2', '127.0.0.3'));
  t.false(sameIp('::1', '127.0.0.1'));
  t.false(sameIp('not an ip', 'not an ip'));
});

test('client: parseCgroupBody and servedBy on v1, v2 and bare reports', (t) => {
  const v1 = [
    'pid: 10',
    'ppid: 9',
    'parent_ppid: 1',
    'cgroup: 4:memory:/process_api/x',
    'cgroup: 3:cpu,cpuacct:/vhqos/inst1/gold',
    'cgroup: 0::/',
    'parent_cgroup: 3:cpu,cpuacct:/vhqos/inst1/_idle',
  ].join('\n');
  const r = parseCgroupBody(v1);
  t.is(r.pid, 10);
  t.is(r.ppid, 9);
  t.is(r.parentPpid, 1);
  t.is(r.cgroups['cpu'], '/vhqos/inst1/gold');
  t.is(r.cgroups['cpuacct'], '/vhqos/inst1/gold');
  t.is(r.cgroups['memory'], '/process_api/x');
  t.is(servedBy(v1), 'gold');
  t.is(servedBy(v1, 'parent'), '_idle');
  t.is(servedBy('pid: 1\n0::/vhqos/i/bronze\n'), 'bronze');
  t.is(servedBy('cgroup: 1:cpu:/\ncgroup: 0::/user.slice\n'), null);
  t.is(servedBy('cgroup: 4:memory:/vhqos/i/gold\n'), null, 'only cpu or unified count');
});
