#!/usr/bin/env node
// Generates src/oci/generated/{config,state}.ts from the OCI runtime-spec
// v1.3.0 JSON schemas in schema/oci/ (copied verbatim from
// opencontainers/runtime-spec, Apache-2.0, see schema/oci/LICENSE).
//
//   node scripts/gen-oci-types.js          # (re)write the generated files
//   node scripts/gen-oci-types.js --check  # exit 1 if they are out of date
//
// The output is committed, so building vhqos does not need this script nor
// json-schema-to-typescript. The schema files are not edited; in memory we
//  * fix the one malformed reference upstream ("#definitions/uint32", missing
//    the "/" of a JSON pointer) exactly as src/oci/validate.ts does for ajv, and
//  * add `title`s to a few inline sub-schemas, so that the types we use
//    (LinuxSeccomp, Process, ...) get names instead of being anonymous.
//    Titles are annotations only: they do not change what validates.
'use strict';
const fs = require('fs');
const path = require('path');
const { compile } = require('json-schema-to-typescript');

const root = path.join(__dirname, '..');
const schemaDir = path.join(root, 'schema', 'oci');
const outDir = path.join(root, 'src', 'oci', 'generated');

/** Same normalisation as normaliseRefs() in src/oci/validate.ts. */
function normaliseRefs(node) {
  if (Array.isArray(node)) node.forEach(normaliseRefs);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') node[k] = v.replace(/#(?!\/)/, '#/');
      else normaliseRefs(v);
    }
  }
}

function loadSchemas() {
  const files = {};
  for (const name of fs.readdirSync(schemaDir).filter((f) => f.endsWith('.json')).sort()) {
    const s = JSON.parse(fs.readFileSync(path.join(schemaDir, name), 'utf8'));
    normaliseRefs(s);
    files[name] = s;
  }
  return files;
}

/** Names for inline sub-schemas: [file, JSON pointer, title]. */
const TITLES = [
  ['config-schema.json', '/properties/hooks', 'Hooks'],
  ['config-schema.json', '/properties/root', 'Root'],
  ['config-schema.json', '/properties/process', 'Process'],
  ['config-schema.json', '/properties/process/properties/user', 'User'],
  ['config-schema.json', '/properties/process/properties/capabilities', 'Capabilities'],
  ['config-schema.json', '/properties/process/properties/rlimits/items', 'Rlimit'],
  ['config-linux.json', '/linux', 'Linux'],
  ['config-linux.json', '/linux/properties/seccomp', 'LinuxSeccomp'],
  ['config-linux.json', '/linux/properties/resources', 'LinuxResources'],
  ['defs-linux.json', '/definitions/SeccompAction', 'SeccompAction'],
  ['defs-linux.json', '/definitions/SeccompArch', 'SeccompArch'],
  ['defs-linux.json', '/definitions/SeccompFlag', 'SeccompFlag'],
  ['defs-linux.json', '/definitions/SeccompOperators', 'SeccompOperator'],
];

function pointer(obj, ptr) {
  let cur = obj;
  for (const part of ptr.split('/').slice(1)) {
    cur = cur[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (cur === undefined) throw new Error(`no ${ptr}`);
  }
  return cur;
}

const BANNER = `/* eslint-disable */
/**
 * GENERATED FILE, DO NOT EDIT: run \`node scripts/gen-oci-types.js\`.
 * Source: OCI runtime-spec v1.3.0 JSON schema (schema/oci/, Apache-2.0),
 * compiled with json-schema-to-typescript.
 *
 * Integers beyond Number.MAX_SAFE_INTEGER (uint64 masks, limits) are read
 * by src/oci/json.ts as bigint at run time although typed \`number\` here.
 */`;

async function generate() {
  const files = loadSchemas();
  for (const [file, ptr, title] of TITLES) pointer(files[file], ptr).title = title;
  const options = {
    cwd: schemaDir,
    bannerComment: BANNER,
    additionalProperties: true,
    strictIndexSignatures: true,
    unknownAny: true,
    format: true,
    style: { singleQuote: true, printWidth: 100 },
    $refOptions: {
      resolve: {
        http: false,
        file: false,
        oci: {
          order: 1,
          canRead: true,
          read(file) {
            const name = path.basename(file.url.replace(/#.*$/, ''));
            if (!files[name]) throw new Error(`unknown schema file ${file.url}`);
            return JSON.stringify(files[name]);
          },
        },
      },
    },
  };
  const config = { ...files['config-schema.json'], title: 'Spec' };
  delete config.$schema;
  const state = { ...files['state-schema.json'], title: 'State' };
  delete state.$schema;
  return {
    'config.ts': await compile(config, 'Spec', options),
    'state.ts': await compile(state, 'State', options),
  };
}

async function main() {
  const check = process.argv.includes('--check');
  const out = await generate();
  let stale = false;
  fs.mkdirSync(outDir, { recursive: true });
  for (const [name, text] of Object.entries(out)) {
    const target = path.join(outDir, name);
    const old = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : null;
    if (old === text) continue;
    stale = true;
    if (check) console.error(`${path.relative(root, target)} is out of date`);
    else {
      fs.writeFileSync(target, text);
      console.log(`wrote ${path.relative(root, target)}`);
    }
  }
  if (check && stale) process.exit(1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
