// What a container asks of vhqos, checked before the engine creates it, so
// that a refusal names its reason where the operator looks (docker's or
// podman's error) instead of failing later inside runc with "read init-p:
// connection reset by peer" and the reason only in the agent's log.
//
//  * near misses: an annotation or environment variable that looks like the
//    key vhqos reads (VHQOS_CONFG, vhqos.config, VHQOS_CONFIG_FILE…) but is
//    not it. Without the real key such a container would run unsupervised
//    without a word, so it is refused, naming the key to use.
//  * the config file: an absolute host path, present, readable, valid.

import * as fs from 'fs';
import * as path from 'path';
import { distance } from 'fastest-levenshtein';
import { ConfigError, loadConfig } from '../config/load';
import { VHQOS_CONFIG_ANNOTATION, VHQOS_CONFIG_ENV } from '../oci/types';
import { VhqosError } from '../errors';

/** A container the engine must not create: `message` is what the operator reads. */
export class ContainerRefusal extends VhqosError {
  constructor(message: string) {
    super('VHQOS_ERR_OCI_PREPARE', message);
  }
}

export interface NearMiss {
  where: 'annotation' | 'env';
  /** The key as the container spelt it. */
  key: string;
  /** The key vhqos reads there. */
  meant: string;
}

/** A key reduced to what a typo keeps: lower case, separators alike, no "io." prefix. */
function shape(key: string): string {
  return key
    .toLowerCase()
    .replace(/[-_./:]+/g, '.')
    .replace(/^io\./, '');
}

const TARGET = shape(VHQOS_CONFIG_ANNOTATION); // "vhqos.config", also the shape of VHQOS_CONFIG

/**
 * Whether `key` (not the real one) looks meant for vhqos' config key: at most
 * two edits from it once case, separators and the "io." prefix are ignored
 * (VHQOS_CONFG, io.vhqos.conf, vhqos.config, IO.VHQOS.CONFIG), or the
 * same word with more after it (VHQOS_CONFIG_FILE, io.vhqos.config-path).
 */
export function looksMeantFor(key: string): boolean {
  const s = shape(key);
  return distance(s, TARGET) <= 2 || s.startsWith('vhqos.conf');
}

/** The annotations and environment variables of a container that look meant for vhqos but are not the real keys. */
export function nearMisses(annotations: Readonly<Record<string, unknown>> | undefined, env: readonly string[] | undefined): NearMiss[] {
  const out: NearMiss[] = [];
  for (const key of Object.keys(annotations ?? {})) {
    if (key !== VHQOS_CONFIG_ANNOTATION && looksMeantFor(key)) out.push({ where: 'annotation', key, meant: VHQOS_CONFIG_ANNOTATION });
  }
  for (const entry of env ?? []) {
    const key = entry.split('=', 1)[0];
    if (key !== VHQOS_CONFIG_ENV && looksMeantFor(key)) out.push({ where: 'env', key, meant: VHQOS_CONFIG_ENV });
  }
  return out;
}

/** One line for the near misses: "environment variable VHQOS_CONFG (did you mean VHQOS_CONFIG?)". */
export function describeNearMisses(misses: readonly NearMiss[]): string {
  return misses
    .map((m) => `${m.where === 'env' ? 'environment variable' : 'annotation'} ${JSON.stringify(m.key)} (did you mean ${m.meant}?)`)
    .join(', ');
}

/** The refusal for a container that asks for vhqos only through near misses. */
export function nearMissRefusal(misses: readonly NearMiss[]): ContainerRefusal {
  return new ContainerRefusal(
    `the container names ${describeNearMisses(misses)}, which vhqos does not read: ` +
      `refused rather than run unsupervised; use ${misses[0].meant}=/abs/path/to/config.yaml, or remove it to run without vhqos`,
  );
}

/**
 * Checks the config a container names, as the agent will load it (same host
 * path, same loader). Throws ContainerRefusal with one line.
 */
export function checkConfigFile(file: string, load: (file: string) => unknown = loadConfig): void {
  checkConfigPath(file);
  try {
    load(file);
  } catch (e) {
    if (e instanceof ConfigError) throw new ContainerRefusal(`invalid vhqos config ${file}: ${e.problems.map(engineSafe).join('; ')}`);
    throw new ContainerRefusal(`vhqos config ${file}: ${engineSafe((e as Error).message)}`);
  }
}

/**
 * The part of checkConfigFile that needs no loader: an absolute path to a
 * regular file on the host (the prestart hook leaves validation to the
 * agent, which logs what it refuses).
 */
export function checkConfigPath(file: string): void {
  if (!path.isAbsolute(file)) {
    throw new ContainerRefusal(
      `vhqos config ${JSON.stringify(file)} is a relative path: give ${VHQOS_CONFIG_ENV} / ${VHQOS_CONFIG_ANNOTATION} an absolute path on the host`,
    );
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new ContainerRefusal(`vhqos config ${file} ${errnoText(e as NodeJS.ErrnoException)} on the host`);
  }
  if (!st.isFile()) throw new ContainerRefusal(`vhqos config ${file} is not a regular file`);
}

function errnoText(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
      return 'does not exist';
    case 'ENOTDIR':
      return 'does not exist (a parent is not a directory)';
    case 'EACCES':
    case 'EPERM':
      return `cannot be read (${e.code})`;
    default:
      return `cannot be read (${e.code ?? e.message})`;
  }
}

/**
 * A message as the engines show it. podman rewrites a runtime error that
 * mentions "no such file or directory" into "OCI runtime attempted to invoke a
 * command that was not found" (and "permission denied" / "operation not
 * permitted" likewise), hiding the reason: say the same in other words. Also
 * one line, since runc and podman quote it.
 */
export function engineSafe(message: string): string {
  return message
    .replace(/no such file or directory/gi, 'does not exist (ENOENT)')
    .replace(/permission denied/gi, 'access refused (EACCES)')
    .replace(/operation not permitted/gi, 'not allowed (EPERM)')
    .replace(/executable file not found/gi, 'executable missing')
    .replace(/\s*\n\s*/g, '; ')
    .trim();
}
