// Shared shapes between the config loader, the classifier, the cgroup manager
// and the supervisor. Kept in one place so each module can be tested alone.

/** Resource settings of one vhost, normalised (bytes, fractions). */
export interface ResourceSettings {
  cpu?: {
    /** 1..10000, cgroup v2 cpu.weight semantics (v1: shares = weight*1024/100). */
    weight?: number;
    /** Fraction of one CPU: "150%" -> 1.5. */
    max?: number;
  };
  memory?: {
    /** Bytes. */
    max?: number;
    high?: number;
    low?: number;
  };
  io?: {
    /** 1..10000 (v2 io.weight). */
    weight?: number;
    /** Throttles on `device` (bytes/s, operations/s). */
    rbps?: number;
    wbps?: number;
    riops?: number;
    wiops?: number;
    /** "MAJOR:MINOR" of the whole disk the throttles apply to (resolved from io.device or io.path). */
    device?: string;
  };
  pids?: {
    max?: number;
  };
  /** Connection slots (classifyAt accept): see schema.json $defs/connections. */
  connections?: {
    max?: number;
    reserve?: number;
    /** ms; present whenever max is. */
    queueTimeoutMs?: number;
  };
}

/** A local address a vhost claims: an IP or range (v4 or v6, normalised) and an optional port. */
export interface AddressMatcher {
  /** Normalised textual IP: "127.0.0.2", "::1"; of a range, its network ("10.0.0.0"). IPv4-mapped IPv6 is stored as IPv4. */
  ip: string;
  /** A range: the prefix length (0..31 for IPv4, 0..127 for IPv6); absent for one address. */
  prefix?: number;
  port?: number;
}

export interface VhostConfig {
  /** Key in the config; also the leaf cgroup name. */
  name: string;
  /** Lower-cased host names; a leading "*." is a wildcard for any sub-domain. */
  hosts: string[];
  addresses: AddressMatcher[];
  resources: ResourceSettings;
}

export interface VhqosConfig {
  vhosts: VhostConfig[];
  /** Settings of the cgroup for connections no vhost matches. */
  default: ResourceSettings;
  options: {
    /**
     * Where connections are classified: `accept` (vhqos accepts, classifies
     * and hands each connection over; one trapped syscall per connection) or
     * `read` (the server accepts; its first read of a connection is
     * classified). See src/supervisor/classify-at.ts for when accept falls back.
     */
    classifyAt: 'accept' | 'read';
    /**
     * `connection`: a keep-alive connection stays with the vhost of its first
     * request. `request`: each request's Host decides (behind a reverse
     * proxy); every read of the server is then trapped.
     */
    classifyEach: 'connection' | 'request';
    /** How each listener's connections are classified: by name (Host / SNI) or by local address only. */
    listeners: ListenerRule[];
    /** Mode of listeners no rule names. */
    defaultListenerMode: ListenerMode;
    /** Connections held for their first bytes at once (accept mode); beyond it they are handed over at once. */
    maxHeldConnections: number;
    /** How long a blocking first read may wait for the request's first bytes (ms). */
    firstByteTimeoutMs: number;
    /** How many bytes to peek at for Host / SNI. */
    peekBytes: number;
    /** How long the supervisor may take to answer one notification before it fails open (ms). */
    verdictTimeoutMs: number;
  };
}

/** `name`: peek at the first bytes for Host / SNI; `address`: never wait for the client (server-speaks-first protocols). */
export type ListenerMode = 'name' | 'address';

/** A listener classification setting: a local port, optionally with its IP. */
export interface ListenerRule {
  ip?: string;
  port: number;
  mode: ListenerMode;
}

/** What the classifier sees of one connection. */
export interface ConnectionFacts {
  /** Local (server-side) address the client connected to. */
  local: { ip: string; port: number };
  /** First bytes of the stream, peeked (not consumed). May be empty. */
  firstBytes: Uint8Array;
}

export type ClassifiedBy = 'sni' | 'host' | 'address' | 'default';

export interface Classification {
  /** Vhost name, or null for the default cgroup. */
  vhost: string | null;
  by: ClassifiedBy;
  /** The name or address that decided it (for logs and the tables). */
  detail?: string;
}
