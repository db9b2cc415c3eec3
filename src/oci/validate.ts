// Validation of OCI documents (config.json, container state) against the
// official runtime-spec v1.3.0 JSON schemas shipped in schema/oci/.

import * as fs from 'fs';
import * as path from 'path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { Spec, State } from './types';
import { parseJsonLossless, toPlainNumbers } from './json';
import { OciValidationError, type ValidationProblem } from '../errors';
export { OciValidationError, type ValidationProblem };

/** Directory of the schema files inside the installed package. */
export const OCI_SCHEMA_DIR = path.resolve(__dirname, '..', '..', '..', 'schema', 'oci');



/**
 * The schemas are draft-04 documents that ajv 8 reads as draft-07 (they use
 * no keyword whose meaning differs). One reference upstream,
 * "#definitions/uint32", lacks the "/" of a JSON pointer; fix it in memory.
 */
export function normaliseRefs(node: unknown): void {
  if (Array.isArray(node)) node.forEach(normaliseRefs);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    for (const [k, v] of Object.entries(o)) {
      if (k === '$ref' && typeof v === 'string') o[k] = v.replace(/#(?!\/)/, '#/');
      else normaliseRefs(v);
    }
  }
}

let compiled: { spec: ValidateFunction; state: ValidateFunction } | undefined;

function validators(): { spec: ValidateFunction; state: ValidateFunction } {
  if (compiled) return compiled;
  // Not strict: the upstream files keep sub-schemas under top-level keys that
  // are not keywords (config-linux.json#/linux), which strict mode rejects.
  const ajv = new Ajv({ allErrors: true, strict: false });
  for (const name of fs.readdirSync(OCI_SCHEMA_DIR).filter((f) => f.endsWith('.json'))) {
    const schema = JSON.parse(fs.readFileSync(path.join(OCI_SCHEMA_DIR, name), 'utf8')) as Record<string, unknown>;
    delete schema.$schema;
    normaliseRefs(schema);
    ajv.addSchema(schema, name);
  }
  const get = (name: string) => {
    const v = ajv.getSchema(name);
    if (!v) throw new Error(`OCI schema ${name} missing from ${OCI_SCHEMA_DIR}`);
    return v;
  };
  compiled = { spec: get('config-schema.json'), state: get('state-schema.json') };
  return compiled;
}

function describe(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`;
    case 'required':
      return `missing required property ${JSON.stringify(p.missingProperty)}`;
    case 'additionalProperties':
      return `unexpected property ${JSON.stringify(p.additionalProperty)}`;
    default:
      return e.message ?? e.keyword;
  }
}

function check<T>(v: ValidateFunction, json: unknown, what: string): T {
  if (!v(toPlainNumbers(json))) {
    const problems = (v.errors ?? []).map((e) => ({
      path: e.keyword === 'required' ? `${e.instancePath}/${String((e.params as Record<string, unknown>).missingProperty)}` : e.instancePath,
      message: describe(e),
    }));
    // one line per (path, message)
    const seen = new Set<string>();
    throw new OciValidationError(
      what,
      problems.filter((x) => {
        const k = `${x.path}\0${x.message}`;
        return seen.has(k) ? false : (seen.add(k), true);
      }),
    );
  }
  return json as T;
}

/** Returns `json` typed as a runtime-spec config, or throws OciValidationError. */
export function validateSpec(json: unknown): Spec {
  return check<Spec>(validators().spec, json, 'OCI runtime config');
}

/** Returns `json` typed as a runtime-spec container state, or throws OciValidationError. */
export function validateState(json: unknown): State {
  return check<State>(validators().state, json, 'OCI container state');
}

function parse(text: string | Buffer, what: string): unknown {
  try {
    return parseJsonLossless(typeof text === 'string' ? text : text.toString('utf8'));
  } catch (e) {
    throw new OciValidationError(what, [{ path: '', message: (e as Error).message }]);
  }
}

/** Parses (losslessly, see json.ts) and validates a config.json. */
export function parseSpec(text: string | Buffer): Spec {
  return validateSpec(parse(text, 'OCI runtime config'));
}

/** Parses and validates a container state document (hooks' stdin, runc state). */
export function parseState(text: string | Buffer): State {
  return validateState(parse(text, 'OCI container state'));
}
