import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { OciValidationError, OCI_SCHEMA_DIR, parseSpec, parseState, validateSpec, validateState } from '../../src/oci/validate';
import { JsonSyntaxError, parseJsonLossless, stringifyJsonLossless, toPlainNumbers } from '../../src/oci/json';
import { FIXTURES, fixture } from '../fixtures/oci/helpers';

// the runtime-spec v1.3.0 schema test fixtures, copied from
// ../shared/oci-runtime-spec/schema/test (Apache-2.0)
const SPEC_TESTS = path.join(FIXTURES, 'runtime-spec-test');
const list = (kind: string, verdict: string) =>
  fs.readdirSync(path.join(SPEC_TESTS, kind, verdict)).filter((f) => f.endsWith('.json')).sort();

test('the schema files and their licence ship in schema/oci', (t) => {
  for (const f of ['config-schema.json', 'config-linux.json', 'defs.json', 'defs-linux.json', 'state-schema.json', 'LICENSE']) {
    t.true(fs.existsSync(path.join(OCI_SCHEMA_DIR, f)), f);
  }
  t.regex(fs.readFileSync(path.join(OCI_SCHEMA_DIR, 'LICENSE'), 'utf8'), /Apache License/);
});

test('every fixture set is present', (t) => {
  t.true(list('config', 'good').length >= 9);
  t.true(list('config', 'bad').length >= 5);
  t.true(list('state', 'good').length >= 1);
  t.true(list('state', 'bad').length >= 1);
});

for (const f of list('config', 'good')) {
  test(`config good/${f} validates`, (t) => {
    const text = fs.readFileSync(path.join(SPEC_TESTS, 'config', 'good', f), 'utf8');
    const spec = parseSpec(text);
    t.is(typeof spec.ociVersion, 'string');
    t.deepEqual(validateSpec(JSON.parse(text)), JSON.parse(text));
  });
}

for (const f of list('config', 'bad')) {
  test(`config bad/${f} is rejected with a path`, (t) => {
    const text = fs.readFileSync(path.join(SPEC_TESTS, 'config', 'bad', f), 'utf8');
    const e = t.throws(() => parseSpec(text), { instanceOf: OciValidationError });
    t.true(e!.problems.length > 0);
    t.regex(e!.message, /^invalid OCI runtime config:\n {2}\S/);
    if (f !== 'invalid-json.json') t.true(e!.problems.some((p) => p.path.startsWith('/')), e!.message);
  });
}

for (const f of list('state', 'good')) {
  test(`state good/${f} validates`, (t) => {
    const state = parseState(fs.readFileSync(path.join(SPEC_TESTS, 'state', 'good', f)));
    t.is(typeof state.id, 'string');
    t.is(typeof state.bundle, 'string');
  });
}

for (const f of list('state', 'bad')) {
  test(`state bad/${f} is rejected`, (t) => {
    t.throws(() => parseState(fs.readFileSync(path.join(SPEC_TESTS, 'state', 'bad', f))), { instanceOf: OciValidationError });
  });
}

test('the config.json podman and docker really wrote validate', (t) => {
  for (const f of ['podman-4.3.1.config.json', 'docker-20.10.24.config.json']) {
    const spec = parseSpec(fixture(f));
    t.is(spec.linux?.seccomp?.defaultAction, 'SCMP_ACT_ERRNO', f);
  }
});

test('the state inside runc\'s listenerPath messages validates (create and exec, podman and docker)', (t) => {
  const files = fs.readdirSync(FIXTURES).filter((f) => f.startsWith('runc-1.1.5-listener-'));
  t.is(files.length, 4);
  for (const f of files) {
    const msg = JSON.parse(fixture(f)) as { fds: string[]; pid: number; metadata: string; state: unknown };
    t.deepEqual(msg.fds, ['seccompFd'], f);
    t.is(msg.metadata, '/etc/vhqos/site.yaml');
    const state = validateState(msg.state);
    t.is(state.status, f.endsWith('create.json') ? 'creating' : 'running', f);
    t.is(state.annotations?.['io.vhqos.config'], '/etc/vhqos/site.yaml', f);
    if (f.endsWith('create.json')) t.is(state.pid, msg.pid);
    else t.not(state.pid, msg.pid);
  }
});

test('errors list the path and the problem', (t) => {
  const e = t.throws(
    () =>
      validateSpec({
        ociVersion: '1.0.2',
        process: { cwd: '/', user: { uid: -1 } },
        linux: { seccomp: { defaultAction: 'SCMP_ACT_MAYBE', syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] } },
      }),
    { instanceOf: OciValidationError },
  );
  const paths = e!.problems.map((p) => p.path);
  t.true(paths.includes('/process/user/uid'), paths.join());
  t.true(paths.includes('/linux/seccomp/defaultAction'), paths.join());
  t.true(paths.includes('/linux/seccomp/syscalls/0/names'), paths.join());
  t.regex(e!.message, /\/linux\/seccomp\/defaultAction: must be one of "SCMP_ACT_KILL"/);
  const m = t.throws(() => validateSpec({}), { instanceOf: OciValidationError });
  t.regex(m!.message, /\/ociVersion: missing required property "ociVersion"/);
  const s = t.throws(() => validateState({ ociVersion: '1.0.2', id: 'x', status: 'paused', bundle: '/b' }), { instanceOf: OciValidationError });
  t.regex(s!.message, /\/status: must be one of "creating", "created", "running", "stopped"/);
});

test('lossless JSON: uint64 values survive a round trip, the rest is JSON.parse/stringify', (t) => {
  const text = '{"a":18446744073709551615,"b":-9223372036854775808,"c":9007199254740991,"d":1.5e3,"e":[true,null,"\\u00e9\\n"],"__proto__":{"x":1}}';
  const v = parseJsonLossless(text) as Record<string, unknown>;
  t.is(v.a, 18446744073709551615n);
  t.is(v.b, -9223372036854775808n);
  t.is(v.c, 9007199254740991);
  t.is(v.d, 1500);
  t.deepEqual(v.e, [true, null, 'é\n']);
  t.is(Object.getPrototypeOf(v), Object.prototype, '__proto__ is a plain member');
  t.deepEqual(Object.keys(v), ['a', 'b', 'c', 'd', 'e', '__proto__']);
  t.is(stringifyJsonLossless(v), '{"a":18446744073709551615,"b":-9223372036854775808,"c":9007199254740991,"d":1500,"e":[true,null,"é\\n"],"__proto__":{"x":1}}');
  const plain = { x: [1, { y: 'z', u: undefined }], n: null, empty: {}, none: [] };
  t.is(stringifyJsonLossless(plain), JSON.stringify(plain));
  t.is(stringifyJsonLossless(plain, 2), JSON.stringify(plain, null, 2));
  t.deepEqual(toPlainNumbers({ a: [1n << 60n] }), { a: [2 ** 60] });
  for (const bad of ['{]', '', '{"a":1,}', '[1 2]', '{"a":01}', '"\t"', 'nul', '{"a":1}x']) {
    t.throws(() => parseJsonLossless(bad), { instanceOf: JsonSyntaxError }, bad);
    t.throws(() => JSON.parse(bad), undefined, `JSON.parse agrees on ${bad}`);
  }
});

test('no schema vhqos validates with uses the "format" keyword (so ajv-formats is not needed)', (t) => {
  // A format ajv does not know is a compile error under strict (the config
  // schema) and silently passes anything otherwise (the OCI schemas): one
  // added to a schema must come with ajv-formats, and this test fails first.
  const uses: string[] = [];
  const walk = (node: unknown, where: string, isProperties = false) => {
    if (Array.isArray(node)) return node.forEach((x, i) => walk(x, `${where}/${i}`));
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      // under "properties" a key is a member name (OCI's image "format"), not a keyword
      if (k === 'format' && !isProperties) uses.push(`${where}/format`);
      walk(v, `${where}/${k}`, k === 'properties' || k === 'patternProperties' || k === '$defs' || k === 'definitions');
    }
  };
  const files = [
    ...fs.readdirSync(OCI_SCHEMA_DIR).filter((f) => f.endsWith('.json')).map((f) => path.join(OCI_SCHEMA_DIR, f)),
    require.resolve('../../src/config/schema.json'),
  ];
  for (const f of files) walk(JSON.parse(fs.readFileSync(f, 'utf8')), path.basename(f));
  t.true(files.length >= 6);
  t.deepEqual(uses, []);
});

test('lossless JSON (lossless-json): the 2^53 boundary, repeated keys, where a syntax error is, hostile nesting', (t) => {
  const v = parseJsonLossless('[9007199254740991,9007199254740992,-9007199254740991,-9007199254740992,1e20,12.5,0,-0]') as unknown[];
  t.deepEqual(v, [9007199254740991, 9007199254740992n, -9007199254740991, -9007199254740992n, 1e20, 12.5, 0, -0]);
  // A repeated key keeps its last value in the first key's place, as JSON.parse and Go's encoding/json do.
  const dup = parseJsonLossless('{"a":1,"b":2,"a":18446744073709551615}') as Record<string, unknown>;
  t.deepEqual(Object.keys(dup), ['a', 'b']);
  t.is(dup.a, 18446744073709551615n);
  const e = t.throws(() => parseJsonLossless('{"a":[1,2 3]}'), { instanceOf: JsonSyntaxError });
  t.is(e!.offset, 10);
  t.regex(e!.message, /^invalid JSON at offset 10 \(near "3\]\}"\): /);
  const deep = t.throws(() => parseJsonLossless('['.repeat(200000)), { instanceOf: JsonSyntaxError });
  t.regex(deep!.message, /nested too deeply/);
});

test('lossless JSON prints real OCI documents byte for byte as JSON.stringify does', (t) => {
  for (const f of ['docker-20.10.24.config.json', 'podman-4.3.1.config.json', 'runc-1.1.5-listener-podman-4.3.1-create.json']) {
    const doc = JSON.parse(fixture(f)) as unknown;
    t.is(stringifyJsonLossless(parseJsonLossless(fixture(f))), JSON.stringify(doc), f);
    t.is(stringifyJsonLossless(doc, 2), JSON.stringify(doc, null, 2), f);
  }
});

test('parseSpec keeps big integers of a real config exactly', (t) => {
  const spec = JSON.parse(fixture('docker-20.10.24.config.json')) as Record<string, unknown>;
  const seccomp = (spec.linux as { seccomp: { syscalls: unknown[] } }).seccomp;
  const text = JSON.stringify(spec).replace(
    '"syscalls":[',
    '"syscalls":[{"names":["ioctl"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":18446744073709551615,"valueTwo":18446744073709551614,"op":"SCMP_CMP_MASKED_EQ"}]},',
  );
  t.true(seccomp.syscalls.length > 0);
  const parsed = parseSpec(text);
  const arg = parsed.linux!.seccomp!.syscalls![0].args![0];
  t.is(arg.value as unknown, 18446744073709551615n);
  t.true(stringifyJsonLossless(parsed).includes('"value":18446744073709551615,"valueTwo":18446744073709551614'));
});
