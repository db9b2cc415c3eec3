// Config loader: YAML/JSON text → validated, normalised VhqosConfig.
// Three passes, all problems reported at once: YAML syntax, the JSON schema
// (schema.json, shipped beside this file), then checks a schema cannot
// express (address syntax, duplicate claims, sizes that overflow, memory
// limits out of order, vhost names the kernel uses for cgroup files).
// Settings that are valid but suspicious are configWarnings' (warnings.ts).
// (Over 400 lines: the passes share the YAML source map that turns every
// problem into a path and a line.)
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import { isScalar, LineCounter, parseDocument, visit } from 'yaml';
import type { AddressMatcher, ListenerMode, ListenerRule, ResourceSettings, VhostConfig, VhqosConfig } from '../types';
import { formatAddress, parseAddressMatcher } from '../classify/address';
import { formatPercent, formatSize, parsePercent, parseSize } from './units';
import { resolveDisk } from '../cgroup/block-device';
import { ConfigError } from '../errors';
export { ConfigError };
import { cgroupNameClash } from './cgroup-names';
import { closestKey } from './suggest';

/** Absolute path of the JSON schema (copied next to the compiled file by scripts/copy-assets.js). */
export const configSchemaPath = path.join(__dirname, 'schema.json');

/**
 * Ports of protocols where the server speaks first (FTP, SSH, telnet, SMTP,
 * POP3, IMAP, submission, MySQL, ManageSieve, VNC): their listeners are
 * classified by address unless a rule says otherwise, so a banner never
 * waits for client bytes that will not come.
 */
export const SERVER_FIRST_PORTS: readonly number[] = Object.freeze([21, 22, 23, 25, 110, 143, 587, 2525, 3306, 4190, 5900]);

interface SchemaDefaults {
  properties: { options: { properties: Record<string, { default?: unknown }> } };
  $defs: { connections: { properties: { queueTimeoutMs: { default: number } } } };
}

/** The schema is the one source of the defaults (a user reads them there, the loader applies them). */
const schemaDefaults = JSON.parse(readFileSync(configSchemaPath, 'utf8')) as SchemaDefaults;
const optionDefault = <T>(key: string): T => {
  const d = schemaDefaults.properties.options.properties[key]?.default;
  if (d === undefined) throw new Error(`schema.json: options.${key} has no default`);
  return d as T;
};

/** Defaults of `options`, from the `default`s in schema.json. */
export const DEFAULT_OPTIONS: Readonly<VhqosConfig['options']> = Object.freeze({
  classifyAt: optionDefault<'accept' | 'read'>('classifyAt'),
  classifyEach: optionDefault<'connection' | 'request'>('classifyEach'),
  listeners: SERVER_FIRST_PORTS.map((port) => ({ port, mode: 'address' as const })),
  defaultListenerMode: 'name' as const,
  maxHeldConnections: optionDefault<number>('maxHeldConnections'),
  firstByteTimeoutMs: optionDefault<number>('firstByteTimeoutMs'),
  peekBytes: optionDefault<number>('peekBytes'),
  verdictTimeoutMs: optionDefault<number>('verdictTimeoutMs'),
});

/** connections.queueTimeoutMs when not given (schema.json's default). */
export const DEFAULT_QUEUE_TIMEOUT_MS = schemaDefaults.$defs.connections.properties.queueTimeoutMs.default;

// The shape schema.json guarantees (values not yet normalised).
type RawSize = number | string;
interface RawResources {
  cpu?: { weight?: number; max?: number | string };
  memory?: { max?: RawSize; high?: RawSize; low?: RawSize };
  io?: { weight?: number; rbps?: RawSize; wbps?: RawSize; riops?: number | string; wiops?: number | string; device?: string; path?: string };
  pids?: { max?: number | string };
  connections?: { max?: number; reserve?: number; queueTimeoutMs?: number };
}
interface RawVhost extends RawResources {
  hosts?: string[];
  addresses?: string[];
}
interface RawConfig {
  vhosts: Record<string, RawVhost>;
  default?: RawResources;
  options?: Partial<Omit<VhqosConfig['options'], 'listeners' | 'defaultListenerMode'>> & { listeners?: Record<string, ListenerMode> };
}

export function loadConfig(file: string): VhqosConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [`cannot read: ${(e as Error).message}`]);
  }
  return parseConfig(text, file);
}

/** Parse YAML or JSON (JSON is YAML); `source` names the text in errors. */
export function parseConfig(text: string, source = '<config>'): VhqosConfig {
  const data = parseYaml(text, source);
  const problems = schemaProblems(data);
  problems.push(...semanticProblems(data));
  if (problems.length > 0) throw new ConfigError(source, [...new Set(problems)]);
  return normalise(data as RawConfig);
}

function parseYaml(text: string, source: string): unknown {
  const lines = new LineCounter();
  // merge: allow `<<: *anchor` to share resource blocks between vhosts.
  // uniqueKeys off: yaml's own check grows faster than the file (parsing
  // 10,000 vhosts took 2.3 s with it, 1.1 s without; 20,000: 5.5 s, 2.0 s);
  // duplicateKeys does the same check with a Set.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false, merge: true });
  const at = (offset: number) => {
    const p = lines.linePos(offset);
    return `line ${p.line}, column ${p.col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(source, doc.errors.map((e) => `${at(e.pos[0])}: ${e.message}`));
  }
  const duplicates = duplicateKeys(doc, at);
  if (duplicates.length > 0) throw new ConfigError(source, duplicates);
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    // Typically an unquoted `*.example.com`, which YAML reads as an alias.
    let where = '';
    visit(doc, {
      Alias(_key, node) {
        if (!where && node.resolve(doc) === undefined) {
          where = `${at(node.range?.[0] ?? 0)}: unknown alias "*${node.source}" (quote values that start with "*", e.g. "*.example.com")`;
        }
      },
    });
    throw new ConfigError(source, [where || (e as Error).message]);
  }
}

/** Keys given twice in one mapping (YAML forbids it; the second would silently win). */
function duplicateKeys(doc: ReturnType<typeof parseDocument>, at: (offset: number) => string): string[] {
  const problems: string[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const item of map.items) {
        if (!isScalar(item.key)) continue;
        const name = String(item.key.value);
        if (seen.has(name)) problems.push(`${at(item.key.range?.[0] ?? 0)}: Map keys must be unique ("${name}" is given twice)`);
        seen.add(name);
      }
    },
  });
  return problems;
}

// ---- schema pass ----

let validator: ValidateFunction | undefined;
let schemaDefs: Record<string, object> = {};

function validate(data: unknown): ErrorObject[] {
  if (!validator) {
    const schema = JSON.parse(readFileSync(configSchemaPath, 'utf8'));
    schemaDefs = schema.$defs;
    validator = new Ajv2020({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true }).compile(schema);
  }
  return validator(data) ? [] : (validator.errors ?? []);
}

const TYPE_WORDS: Record<string, string> = {
  integer: 'a whole number',
  number: 'a number',
  string: 'a string',
  object: 'a mapping (key: value)',
  array: 'a list',
  boolean: 'true or false',
  null: 'empty',
};

/** Messages for values of a given $defs type that are wrong in type or syntax. */
const DEF_HINTS: Record<string, (v: unknown) => string> = {
  size: (v) => `${show(v)} is not a size: use bytes, a number with K, M, G or T (powers of 1024), or "max"`,
  count: () => 'must be a whole number >= 1 or "max"',
  percent: (v) => `${show(v)} is not a CPU limit: use a percentage of one CPU such as "150%" or 150, or "max"`,
};

function schemaProblems(data: unknown): string[] {
  if (data === null || data === undefined) return ['the config is empty: it needs at least a "vhosts" mapping'];
  const problems: string[] = [];
  for (const e of validate(data)) {
    if (e.propertyName !== undefined) continue; // reported by its `propertyNames` error
    const where = pathOf(data, e.instancePath);
    const p = e.params as Record<string, unknown>;
    const hint = Object.keys(DEF_HINTS).find((d) => e.parentSchema === schemaDefs[d]);
    if (hint && (e.keyword === 'type' || e.keyword === 'pattern')) {
      problems.push(`${where}: ${DEF_HINTS[hint](e.data)}`);
    } else if (e.keyword === 'additionalProperties') {
      const key = String(p.additionalProperty);
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const meant = closestKey(key, known);
      problems.push(`${join(where, key)}: unknown key${meant ? ` (did you mean "${meant}"?)` : ''}`);
    } else if (e.keyword === 'required') {
      problems.push(`${join(where, String(p.missingProperty))}: is required`);
    } else if (e.keyword === 'propertyNames' && where === 'options.listeners') {
      // The semantic pass says what is wrong with a key it cannot parse.
      if (typeof parseListenerKey(String(p.propertyName)) !== 'string') {
        problems.push(`${join(where, String(p.propertyName))}: not a listener key (a port, IPv4:PORT, [IPv6]:PORT or default)`);
      }
    } else if (e.keyword === 'propertyNames') {
      problems.push(
        `${where}: ${show(p.propertyName)} is not a valid vhost name (letters, digits, "_", "." and "-", ` +
          `starting with a letter or digit, at most 64 characters; "_" names are reserved)`,
      );
    } else if (e.keyword === 'type') {
      const types = ([] as string[]).concat(p.type as string | string[]);
      problems.push(`${where}: must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}`);
    } else if (['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].includes(e.keyword)) {
      problems.push(`${where}: must be ${p.comparison} ${p.limit}`);
    } else if (e.keyword === 'minProperties') {
      problems.push(`${where}: must have at least ${p.limit} ${where === 'vhosts' ? 'vhost' : 'entry'}`);
    } else {
      problems.push(`${where}: ${e.message}`);
    }
  }
  return problems;
}

/** `/vhosts/gold/addresses/1` → `vhosts.gold.addresses[1]`, walking `data` to tell list indices from keys. */
function pathOf(data: unknown, pointer: string): string {
  if (pointer === '') return '(top level)';
  let out = '';
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out = Array.isArray(node) ? `${out}[${seg}]` : join(out, seg);
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
  }
  return out;
}

/** Append a key to a path; keys that are not identifier-like are quoted: `vhosts["a.b"]`. */
function join(base: string, key: string): string {
  const head = base === '(top level)' ? '' : base;
  if (!/^[A-Za-z0-9_-]+$/.test(key)) return `${head}[${JSON.stringify(key)}]`;
  return head ? `${head}.${key}` : key;
}

/** A config path as problems name it: `keyPath('vhosts', 'a.b')` → `vhosts["a.b"]`. */
export { join as keyPath };

/** A value as the user wrote it, near enough: strings quoted, lists and mappings as JSON. */
function show(v: unknown): string {
  return typeof v === 'string' || (typeof v === 'object' && v !== null) ? JSON.stringify(v) : String(v);
}

// ---- semantic pass (on data the schema may have rejected: check types first) ----

const HOST_NAME = /^(\*\.)?[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*$/;

/** Lower-case, one trailing dot stripped; null if not a valid host name or `*.` wildcard. */
export function normaliseHostPattern(name: string): string | null {
  const h = name.toLowerCase().replace(/\.$/, '');
  return h.length <= 253 && HOST_NAME.test(h) ? h : null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function semanticProblems(data: unknown): string[] {
  if (!isObject(data)) return [];
  const problems: string[] = [];
  const hostOwner = new Map<string, string>();
  const addressOwner = new Map<string, string>(); // addresses of vhosts without host names
  const vhosts = isObject(data.vhosts) ? data.vhosts : {};

  for (const [name, v] of Object.entries(vhosts)) {
    if (!isObject(v)) continue;
    const base = join('vhosts', name);
    const clash = cgroupNameClash(name);
    if (clash) problems.push(`${base}: ${clash}`);
    const hosts = Array.isArray(v.hosts) ? v.hosts : [];
    const addresses = Array.isArray(v.addresses) ? v.addresses : [];
    // Only when both are missing or empty: a wrong type is the schema's to report.
    const given = (x: unknown) => x !== undefined && !(Array.isArray(x) && x.length === 0);
    if (!given(v.hosts) && !given(v.addresses)) {
      problems.push(`${base}: needs at least one of hosts or addresses`);
    }
    hosts.forEach((h, i) => {
      if (typeof h !== 'string') return;
      const where = `${base}.hosts[${i}]`;
      const host = normaliseHostPattern(h);
      if (host === null) {
        problems.push(`${where}: ${show(h)} is not a host name (letters, digits, "-" and ".", optionally starting with "*.")`);
      } else if (hostOwner.has(host)) {
        problems.push(`${where}: ${show(h)} is already claimed by ${hostOwner.get(host)}`);
      } else hostOwner.set(host, where);
    });
    // Several vhosts may list one address (their names tell them apart, as
    // for Apache's name-based vhosts on one IP); of those, at most one may
    // list no host names: it takes what no name decides.
    const hostless = !hosts.some((h) => typeof h === 'string');
    const mine = new Map<string, string>();
    addresses.forEach((a, i) => {
      if (typeof a !== 'string') return;
      const where = `${base}.addresses[${i}]`;
      const m = parseAddressMatcher(a);
      if (typeof m === 'string') return void problems.push(`${where}: ${m}`);
      const key = formatAddress(m);
      if (mine.has(key)) return void problems.push(`${where}: ${show(a)} is already claimed by ${mine.get(key)}`);
      mine.set(key, where);
      if (!hostless) return;
      if (addressOwner.has(key)) {
        problems.push(
          `${where}: ${show(a)} is already claimed by ${addressOwner.get(key)} (vhosts without host names cannot share an address: no name would tell them apart)`,
        );
      } else addressOwner.set(key, where);
    });
    problems.push(...resourceProblems(v, base));
  }
  if (isObject(data.default)) problems.push(...resourceProblems(data.default, 'default'));
  const listeners = isObject(data.options) && isObject(data.options.listeners) ? data.options.listeners : {};
  for (const key of Object.keys(listeners)) {
    if (key === 'default') continue;
    const rule = parseListenerKey(key);
    if (typeof rule === 'string') problems.push(`${join('options.listeners', key)}: ${rule}`);
  }
  return problems;
}

/** `21`, `127.0.0.2:21`, `[::1]:21` → the local address a listener rule is for; or why not. */
function parseListenerKey(key: string): { ip?: string; port: number } | string {
  if (/^[0-9]{1,5}$/.test(key)) {
    return +key >= 1 && +key <= 65535 ? { port: +key } : `port must be 1..65535`;
  }
  const m = parseAddressMatcher(key);
  if (typeof m === 'string') return m;
  if (m.prefix !== undefined) return `"${key}": a listener rule is for one address, not a range`;
  if (m.port === undefined) return `"${key}" needs a port ("${key}:PORT"), or give the port alone`;
  return { ip: m.ip, port: m.port };
}

function listenerRules(given: Record<string, ListenerMode> | undefined): { listeners: ListenerRule[]; defaultListenerMode: ListenerMode } {
  const rules: ListenerRule[] = [];
  for (const [key, mode] of Object.entries(given ?? {})) {
    if (key === 'default') continue;
    rules.push({ ...(parseListenerKey(key) as { ip?: string; port: number }), mode });
  }
  for (const port of SERVER_FIRST_PORTS) {
    if (!rules.some((r) => r.port === port && r.ip === undefined)) rules.push({ port, mode: 'address' });
  }
  return { listeners: rules, defaultListenerMode: given?.default ?? 'name' };
}

function hasThrottle(io: { rbps?: number; wbps?: number; riops?: number; wiops?: number }): boolean {
  return [io.rbps, io.wbps, io.riops, io.wiops].some((v) => v !== undefined);
}

/** What the schema's patterns let through but arithmetic refuses. */
function resourceProblems(r: Record<string, unknown>, base: string): string[] {
  const problems: string[] = [];
  if (isObject(r.io)) {
    const io = r.io as { rbps?: unknown; wbps?: unknown; riops?: unknown; wiops?: unknown; device?: string; path?: string };
    const set = (['rbps', 'wbps', 'riops', 'wiops'] as const).filter((k) => io[k] !== undefined && io[k] !== 'max');
    if (io.device !== undefined && io.path !== undefined) problems.push(`${base}.io: give device or path, not both`);
    else if (set.length) {
      const disk = resolveDisk({ device: io.device, path: io.path });
      if (typeof disk !== 'string') problems.push(`${base}.io${io.device !== undefined ? '.device' : io.path !== undefined ? '.path' : `.${set[0]}`}: ${disk.error}`);
    } else if (io.device !== undefined || io.path !== undefined) {
      problems.push(`${base}.io.${io.device !== undefined ? 'device' : 'path'}: no throttle (rbps, wbps, riops, wiops) to apply to it`);
    }
  }
  const cpuMax = isObject(r.cpu) ? r.cpu.max : undefined;
  if (typeof cpuMax === 'string') {
    const f = parsePercent(cpuMax);
    if (typeof f === 'number' && f < 0.01) problems.push(`${base}.cpu.max: must be >= 1%`);
    if (typeof f === 'number' && f > 10000) problems.push(`${base}.cpu.max: must be <= 1000000%`);
  }
  if (isObject(r.memory)) {
    const bytes: Record<string, number> = {};
    for (const [key, v] of Object.entries(r.memory)) {
      const wellFormed =
        typeof v === 'number' ? Number.isInteger(v) && v >= 0 : typeof v === 'string' && /^[0-9]+(\.[0-9]+)?[KMGTkmgt]?$/.test(v);
      if (!wellFormed) continue;
      const n = parseSize(v as number | string);
      if (n === null) problems.push(`${base}.memory.${key}: ${show(v)} is too large`);
      else if (n !== undefined) bytes[key] = n;
    }
    problems.push(...memoryOrderProblems(bytes, r.memory, base));
  }
  return problems;
}

/**
 * memory.low <= memory.high <= memory.max, where set ("max" is no limit):
 * protection above the throttle, or a throttle above the hard limit, can
 * never act as written. On cgroup v1 the same keys become
 * memory.soft_limit_in_bytes (high) and memory.limit_in_bytes (max), where a
 * soft limit above the limit is as dead. One problem per pair, the nearest
 * pair first (low against max only when high does not sit between them).
 */
function memoryOrderProblems(bytes: Record<string, number>, written: Record<string, unknown>, base: string): string[] {
  const order = ['low', 'high', 'max'] as const;
  const problems: string[] = [];
  const said = (k: string) => `${show(written[k])}${typeof written[k] === 'number' ? ' bytes' : ''}`;
  for (let i = 0; i < order.length; i++) {
    for (let j = i + 1; j < order.length; j++) {
      const [lo, hi] = [order[i], order[j]];
      if (bytes[lo] === undefined || bytes[hi] === undefined || bytes[lo] <= bytes[hi]) continue;
      if (j - i === 2 && bytes.high !== undefined) continue; // reported against high
      problems.push(`${base}.memory.${lo}: ${said(lo)} is above memory.${hi} (${said(hi)}), so it could never act (low <= high <= max)`);
    }
  }
  return problems;
}

// ---- normalisation (data is valid here) ----

function normalise(raw: RawConfig): VhqosConfig {
  const vhosts: VhostConfig[] = Object.entries(raw.vhosts).map(([name, v]) => ({
    name,
    hosts: (v.hosts ?? []).map((h) => normaliseHostPattern(h) as string),
    addresses: (v.addresses ?? []).map((a) => parseAddressMatcher(a) as AddressMatcher),
    resources: resources(v),
  }));
  return {
    vhosts,
    default: resources(raw.default ?? {}),
    options: { ...DEFAULT_OPTIONS, ...raw.options, ...listenerRules(raw.options?.listeners) },
  };
}

/** Only the settings given; "max" (no limit) leaves a setting out; empty groups are dropped. */
function resources(r: RawResources): ResourceSettings {
  const out: ResourceSettings = {};
  const cpu = compact({ weight: r.cpu?.weight, max: r.cpu?.max === undefined ? undefined : parsePercent(r.cpu.max) });
  const memory = compact({ max: size(r.memory?.max), high: size(r.memory?.high), low: size(r.memory?.low) });
  const io: ResourceSettings['io'] = compact({
    weight: r.io?.weight,
    rbps: size(r.io?.rbps),
    wbps: size(r.io?.wbps),
    riops: typeof r.io?.riops === 'number' ? r.io.riops : undefined,
    wiops: typeof r.io?.wiops === 'number' ? r.io.wiops : undefined,
  });
  if (io && hasThrottle(io)) {
    const disk = resolveDisk({ device: r.io?.device, path: r.io?.path });
    if (typeof disk === 'string') io.device = disk;
  }
  const pids = compact({ max: typeof r.pids?.max === 'number' ? r.pids.max : undefined });
  if (cpu) out.cpu = cpu;
  if (memory) out.memory = memory;
  if (io) out.io = io;
  if (pids) out.pids = pids;
  const c = r.connections;
  const connections = compact({
    max: c?.max,
    reserve: c?.reserve || undefined,
    queueTimeoutMs: c?.max !== undefined ? (c.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS) : undefined,
  });
  if (connections) out.connections = connections;
  return out;
}

function size(v: RawSize | undefined): number | undefined {
  return v === undefined ? undefined : (parseSize(v) ?? undefined);
}

/** Drop undefined/null members; undefined if nothing is left. */
function compact<T extends Record<string, number | undefined | null>>(o: T): { [K in keyof T]?: number } | undefined {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number') out[k] = v;
  return Object.keys(out).length > 0 ? (out as { [K in keyof T]?: number }) : undefined;
}

// ---- summary ----

/** One line per vhost, then `_default` and the options: for start-up logs and `--check`. */
export function describeConfig(cfg: VhqosConfig): string {
  const lines = cfg.vhosts.map((v) => {
    const parts: string[] = [];
    if (v.hosts.length) parts.push(`hosts ${v.hosts.join(', ')}`);
    if (v.addresses.length) parts.push(`addresses ${v.addresses.map(formatAddress).join(', ')}`);
    return `${v.name}: ${[...parts, describeResources(v.resources)].join('; ')}`;
  });
  lines.push(`_default: ${describeResources(cfg.default)}`);
  const o = cfg.options;
  lines.push(
    `options: classify at ${o.classifyAt}${o.classifyEach === 'request' ? ', each request' : ''}, peek ${o.peekBytes} bytes, first byte within ${o.firstByteTimeoutMs} ms, verdict within ${o.verdictTimeoutMs} ms`,
  );
  return lines.join('\n');
}

function describeResources(r: ResourceSettings): string {
  const parts: string[] = [];
  const group = (label: string, items: [string, string | undefined][]) => {
    const set = items.filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${v}`);
    if (set.length) parts.push(`${label} ${set.join(', ')}`);
  };
  const sz = (n?: number) => (n === undefined ? undefined : formatSize(n));
  group('cpu', [['weight', r.cpu?.weight?.toString()], ['max', r.cpu?.max === undefined ? undefined : formatPercent(r.cpu.max)]]);
  group('memory', [['max', sz(r.memory?.max)], ['high', sz(r.memory?.high)], ['low', sz(r.memory?.low)]]);
  group('io', [
    ['weight', r.io?.weight?.toString()],
    ['rbps', r.io?.rbps === undefined ? undefined : `${formatSize(r.io.rbps)}/s`],
    ['wbps', r.io?.wbps === undefined ? undefined : `${formatSize(r.io.wbps)}/s`],
    ['riops', r.io?.riops?.toString()],
    ['wiops', r.io?.wiops?.toString()],
    ['device', r.io?.device],
  ]);
  group('pids', [['max', r.pids?.max?.toString()]]);
  const c = r.connections;
  group('connections', [['max', c?.max === undefined ? undefined : `${c.max} (queue ${c.queueTimeoutMs} ms)`], ['reserve', c?.reserve?.toString()]]);
  return parts.length ? parts.join('; ') : 'no limits';
}
