/* eslint-disable */
/**
 * GENERATED FILE, DO NOT EDIT: run `node scripts/gen-oci-types.js`.
 * Source: OCI runtime-spec v1.3.0 JSON schema (schema/oci/, Apache-2.0),
 * compiled with json-schema-to-typescript.
 *
 * Integers beyond Number.MAX_SAFE_INTEGER (uint64 masks, limits) are read
 * by src/oci/json.ts as bigint at run time although typed `number` here.
 */

/**
 * Open Container Runtime State Schema
 */
export interface State {
  /**
   * The version of Open Container Initiative Runtime Specification that the document complies with
   */
  ociVersion: string;
  /**
   * the container's ID
   */
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped';
  pid?: number;
  bundle: string;
  annotations?: Annotations;
  [k: string]: unknown | undefined;
}
export interface Annotations {
  /**
   * This interface was referenced by `Annotations`'s JSON-Schema definition
   * via the `patternProperty` ".{1,}".
   */
  [k: string]: string | undefined;
}
