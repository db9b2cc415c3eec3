/* eslint-disable */
/**
 * GENERATED FILE, DO NOT EDIT: run `node scripts/gen-oci-types.js`.
 * Source: OCI runtime-spec v1.3.0 JSON schema (schema/oci/, Apache-2.0),
 * compiled with json-schema-to-typescript.
 *
 * Integers beyond Number.MAX_SAFE_INTEGER (uint64 masks, limits) are read
 * by src/oci/json.ts as bigint at run time although typed `number` here.
 */

export type ArrayOfStrings = string[];
export type ArrayOfHooks = Hook[];
export type ArrayOfGIDs = number[];
export type BlockIODeviceWeight = BlockIODevice & {
  weight?: number;
  leafWeight?: number;
  [k: string]: unknown | undefined;
};
export type SeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';
export type SeccompFlag =
  | 'SECCOMP_FILTER_FLAG_TSYNC'
  | 'SECCOMP_FILTER_FLAG_LOG'
  | 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'
  | 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV';
export type SeccompArch =
  | 'SCMP_ARCH_X86'
  | 'SCMP_ARCH_X86_64'
  | 'SCMP_ARCH_X32'
  | 'SCMP_ARCH_ARM'
  | 'SCMP_ARCH_AARCH64'
  | 'SCMP_ARCH_LOONGARCH64'
  | 'SCMP_ARCH_M68K'
  | 'SCMP_ARCH_MIPS'
  | 'SCMP_ARCH_MIPS64'
  | 'SCMP_ARCH_MIPS64N32'
  | 'SCMP_ARCH_MIPSEL'
  | 'SCMP_ARCH_MIPSEL64'
  | 'SCMP_ARCH_MIPSEL64N32'
  | 'SCMP_ARCH_PPC'
  | 'SCMP_ARCH_PPC64'
  | 'SCMP_ARCH_PPC64LE'
  | 'SCMP_ARCH_S390'
  | 'SCMP_ARCH_S390X'
  | 'SCMP_ARCH_SH'
  | 'SCMP_ARCH_SHEB'
  | 'SCMP_ARCH_PARISC'
  | 'SCMP_ARCH_PARISC64'
  | 'SCMP_ARCH_RISCV64';
export type SeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';
export type ArrayOfUint32 = number[];

/**
 * Open Container Initiative Runtime Specification Container Configuration Schema
 */
export interface Spec {
  /**
   * The version of Open Container Initiative Runtime Specification that the document complies with
   */
  ociVersion: string;
  hooks?: Hooks;
  annotations?: MapStringString;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  root?: Root;
  process?: Process;
  linux?: Linux;
  solaris?: Solaris;
  windows?: Windows;
  vm?: Vm;
  zos?: Zos;
  freebsd?: Freebsd;
  [k: string]: unknown | undefined;
}
export interface Hooks {
  prestart?: ArrayOfHooks;
  createRuntime?: ArrayOfHooks;
  createContainer?: ArrayOfHooks;
  startContainer?: ArrayOfHooks;
  poststart?: ArrayOfHooks;
  poststop?: ArrayOfHooks;
  [k: string]: unknown | undefined;
}
export interface Hook {
  path: string;
  args?: ArrayOfStrings;
  env?: ArrayOfStrings;
  timeout?: number;
  [k: string]: unknown | undefined;
}
export interface MapStringString {
  /**
   * This interface was referenced by `MapStringString`'s JSON-Schema definition
   * via the `patternProperty` ".{1,}".
   */
  [k: string]: string | undefined;
}
export interface Mount {
  source?: string;
  destination: string;
  options?: ArrayOfStrings;
  type?: string;
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
  [k: string]: unknown | undefined;
}
export interface IDMapping {
  containerID: number;
  hostID: number;
  size: number;
  [k: string]: unknown | undefined;
}
/**
 * Configures the container's root filesystem.
 */
export interface Root {
  path: string;
  readonly?: boolean;
  [k: string]: unknown | undefined;
}
export interface Process {
  args?: ArrayOfStrings;
  commandLine?: string;
  consoleSize?: {
    height: number;
    width: number;
    [k: string]: unknown | undefined;
  };
  cwd: string;
  env?: ArrayOfStrings;
  terminal?: boolean;
  user?: User;
  capabilities?: Capabilities;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
  ioPriority?: {
    class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';
    priority?: number;
    [k: string]: unknown | undefined;
  };
  noNewPrivileges?: boolean;
  scheduler?: {
    policy:
      | 'SCHED_OTHER'
      | 'SCHED_FIFO'
      | 'SCHED_RR'
      | 'SCHED_BATCH'
      | 'SCHED_ISO'
      | 'SCHED_IDLE'
      | 'SCHED_DEADLINE';
    nice?: number;
    priority?: number;
    flags?: (
      | 'SCHED_FLAG_RESET_ON_FORK'
      | 'SCHED_FLAG_RECLAIM'
      | 'SCHED_FLAG_DL_OVERRUN'
      | 'SCHED_FLAG_KEEP_POLICY'
      | 'SCHED_FLAG_KEEP_PARAMS'
      | 'SCHED_FLAG_UTIL_CLAMP_MIN'
      | 'SCHED_FLAG_UTIL_CLAMP_MAX'
    )[];
    runtime?: number;
    deadline?: number;
    period?: number;
    [k: string]: unknown | undefined;
  };
  rlimits?: Rlimit[];
  execCPUAffinity?: {
    initial?: string;
    final?: string;
    [k: string]: unknown | undefined;
  };
  [k: string]: unknown | undefined;
}
export interface User {
  uid?: number;
  gid?: number;
  umask?: number;
  additionalGids?: ArrayOfGIDs;
  username?: string;
  [k: string]: unknown | undefined;
}
export interface Capabilities {
  bounding?: ArrayOfStrings;
  permitted?: ArrayOfStrings;
  effective?: ArrayOfStrings;
  inheritable?: ArrayOfStrings;
  ambient?: ArrayOfStrings;
  [k: string]: unknown | undefined;
}
export interface Rlimit {
  hard: number;
  soft: number;
  type: string;
  [k: string]: unknown | undefined;
}
/**
 * Linux platform-specific configurations
 */
export interface Linux {
  devices?: Device[];
  netDevices?: {
    [k: string]: NetDevice | undefined;
  };
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
  namespaces?: NamespaceReference[];
  resources?: LinuxResources;
  cgroupsPath?: string;
  rootfsPropagation?: 'private' | 'shared' | 'slave' | 'unbindable';
  seccomp?: LinuxSeccomp;
  sysctl?: MapStringString;
  maskedPaths?: ArrayOfStrings;
  readonlyPaths?: ArrayOfStrings;
  mountLabel?: string;
  intelRdt?: {
    closID?: string;
    schemata?: ArrayOfStrings;
    l3CacheSchema?: string;
    memBwSchema?: string;
    enableMonitoring?: boolean;
    [k: string]: unknown | undefined;
  };
  memoryPolicy?: {
    mode?:
      | 'MPOL_DEFAULT'
      | 'MPOL_BIND'
      | 'MPOL_INTERLEAVE'
      | 'MPOL_WEIGHTED_INTERLEAVE'
      | 'MPOL_PREFERRED'
      | 'MPOL_PREFERRED_MANY'
      | 'MPOL_LOCAL';
    nodes?: string;
    flags?: ('MPOL_F_NUMA_BALANCING' | 'MPOL_F_RELATIVE_NODES' | 'MPOL_F_STATIC_NODES')[];
    [k: string]: unknown | undefined;
  };
  personality?: Personality;
  timeOffsets?: {
    boottime?: TimeOffsets;
    monotonic?: TimeOffsets;
    [k: string]: unknown | undefined;
  };
  [k: string]: unknown | undefined;
}
export interface Device {
  /**
   * Type of a block or special character device
   */
  type: string;
  path: string;
  /**
   * File permissions mode (in decimal, not octal)
   */
  fileMode?: number;
  /**
   * major device number
   */
  major?: number;
  /**
   * minor device number
   */
  minor?: number;
  uid?: number;
  gid?: number;
  [k: string]: unknown | undefined;
}
export interface NetDevice {
  name?: string;
  [k: string]: unknown | undefined;
}
export interface NamespaceReference {
  type: 'mount' | 'pid' | 'network' | 'uts' | 'ipc' | 'user' | 'cgroup' | 'time';
  path?: string;
  [k: string]: unknown | undefined;
}
export interface LinuxResources {
  unified?: MapStringString;
  devices?: DeviceCgroup[];
  pids?: {
    limit: number;
    [k: string]: unknown | undefined;
  };
  blockIO?: {
    weight?: number;
    leafWeight?: number;
    throttleReadBpsDevice?: (BlockIODevice & {
      rate?: number;
      [k: string]: unknown | undefined;
    })[];
    throttleWriteBpsDevice?: (BlockIODevice & {
      rate?: number;
      [k: string]: unknown | undefined;
    })[];
    throttleReadIOPSDevice?: (BlockIODevice & {
      rate?: number;
      [k: string]: unknown | undefined;
    })[];
    throttleWriteIOPSDevice?: (BlockIODevice & {
      rate?: number;
      [k: string]: unknown | undefined;
    })[];
    weightDevice?: BlockIODeviceWeight[];
    [k: string]: unknown | undefined;
  };
  cpu?: {
    cpus?: string;
    mems?: string;
    period?: number;
    quota?: number;
    burst?: number;
    realtimePeriod?: number;
    realtimeRuntime?: number;
    shares?: number;
    idle?: number;
    [k: string]: unknown | undefined;
  };
  hugepageLimits?: {
    pageSize: string;
    limit: number;
    [k: string]: unknown | undefined;
  }[];
  memory?: {
    kernel?: number;
    kernelTCP?: number;
    limit?: number;
    reservation?: number;
    swap?: number;
    swappiness?: number;
    disableOOMKiller?: boolean;
    useHierarchy?: boolean;
    checkBeforeUpdate?: boolean;
    [k: string]: unknown | undefined;
  };
  network?: {
    classID?: number;
    priorities?: NetworkInterfacePriority[];
    [k: string]: unknown | undefined;
  };
  rdma?: {
    [k: string]: Rdma | undefined;
  };
  [k: string]: unknown | undefined;
}
export interface DeviceCgroup {
  allow: boolean;
  type?: string;
  /**
   * major device number
   */
  major?: number;
  /**
   * minor device number
   */
  minor?: number;
  access?: string;
  [k: string]: unknown | undefined;
}
export interface BlockIODevice {
  /**
   * major device number
   */
  major: number;
  /**
   * minor device number
   */
  minor: number;
  [k: string]: unknown | undefined;
}
export interface NetworkInterfacePriority {
  name: string;
  priority: number;
  [k: string]: unknown | undefined;
}
export interface Rdma {
  hcaHandles?: number;
  hcaObjects?: number;
  [k: string]: unknown | undefined;
}
export interface LinuxSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  flags?: SeccompFlag[];
  listenerPath?: string;
  listenerMetadata?: string;
  architectures?: SeccompArch[];
  syscalls?: Syscall[];
  [k: string]: unknown | undefined;
}
export interface Syscall {
  /**
   * @minItems 1
   */
  names: [string, ...string[]];
  action: SeccompAction;
  errnoRet?: number;
  args?: SyscallArg[];
  [k: string]: unknown | undefined;
}
export interface SyscallArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
  [k: string]: unknown | undefined;
}
export interface Personality {
  domain?: 'LINUX' | 'LINUX32';
  flags?: ArrayOfStrings;
  [k: string]: unknown | undefined;
}
export interface TimeOffsets {
  secs?: number;
  nanosecs?: number;
  [k: string]: unknown | undefined;
}
/**
 * Solaris platform-specific configurations
 */
export interface Solaris {
  milestone?: string;
  limitpriv?: string;
  maxShmMemory?: string;
  cappedCPU?: {
    ncpus?: string;
    [k: string]: unknown | undefined;
  };
  cappedMemory?: {
    physical?: string;
    swap?: string;
    [k: string]: unknown | undefined;
  };
  anet?: {
    linkname?: string;
    lowerLink?: string;
    allowedAddress?: string;
    configureAllowedAddress?: string;
    defrouter?: string;
    macAddress?: string;
    linkProtection?: string;
    [k: string]: unknown | undefined;
  }[];
  [k: string]: unknown | undefined;
}
/**
 * Windows platform-specific configurations
 */
export interface Windows {
  /**
   * @minItems 1
   */
  layerFolders: [string, ...string[]];
  devices?: Device1[];
  resources?: {
    memory?: {
      limit?: number;
      [k: string]: unknown | undefined;
    };
    cpu?: {
      count?: number;
      shares?: number;
      maximum?: number;
      affinity?: {
        mask?: number;
        group?: number;
        [k: string]: unknown | undefined;
      };
      [k: string]: unknown | undefined;
    };
    storage?: {
      iops?: number;
      bps?: number;
      sandboxSize?: number;
      [k: string]: unknown | undefined;
    };
    [k: string]: unknown | undefined;
  };
  network?: {
    endpointList?: ArrayOfStrings;
    allowUnqualifiedDNSQuery?: boolean;
    DNSSearchList?: ArrayOfStrings;
    networkSharedContainerName?: string;
    networkNamespace?: string;
    [k: string]: unknown | undefined;
  };
  credentialSpec?: {
    [k: string]: unknown | undefined;
  };
  servicing?: boolean;
  ignoreFlushesDuringBoot?: boolean;
  hyperv?: {
    utilityVMPath?: string;
    [k: string]: unknown | undefined;
  };
  [k: string]: unknown | undefined;
}
export interface Device1 {
  id: string;
  idType: 'class';
  [k: string]: unknown | undefined;
}
/**
 * configuration for virtual-machine-based containers
 */
export interface Vm {
  /**
   * hypervisor config used by VM-based containers
   */
  hypervisor?: {
    path: string;
    parameters?: ArrayOfStrings;
    [k: string]: unknown | undefined;
  };
  /**
   * kernel config used by VM-based containers
   */
  kernel: {
    path: string;
    parameters?: ArrayOfStrings;
    initrd?: string;
    [k: string]: unknown | undefined;
  };
  /**
   * root image config used by VM-based containers
   */
  image?: {
    path: string;
    format: 'raw' | 'qcow2' | 'vdi' | 'vmdk' | 'vhd';
    [k: string]: unknown | undefined;
  };
  /**
   * hardware configuration for the VM image
   */
  hwConfig?: {
    deviceTree?: string;
    vcpus?: number;
    memory?: number;
    dtdevs?: ArrayOfStrings;
    iomems?: [] | [IOMemEntryFormat];
    irqs?: ArrayOfUint32;
    [k: string]: unknown | undefined;
  };
  [k: string]: unknown | undefined;
}
export interface IOMemEntryFormat {
  firstGFN?: number;
  firstMFN: number;
  nrMFNs: number;
  [k: string]: unknown | undefined;
}
/**
 * z/OS platform-specific configurations
 */
export interface Zos {
  namespaces?: NamespaceReference1[];
  [k: string]: unknown | undefined;
}
export interface NamespaceReference1 {
  type: 'mount' | 'pid' | 'uts' | 'ipc';
  path?: string;
  [k: string]: unknown | undefined;
}
/**
 * FreeBSD platform-specific configurations
 */
export interface Freebsd {
  devices?: Device2[];
  jail?: {
    parent?: string;
    host?: 'new' | 'inherit';
    ip4?: 'disable' | 'new' | 'inherit';
    ip4Addr?: ArrayOfStrings;
    ip6?: 'disable' | 'new' | 'inherit';
    ip6Addr?: ArrayOfStrings;
    vnet?: 'new' | 'inherit';
    interface?: string;
    vnetInterfaces?: ArrayOfStrings;
    sysvmsg?: 'disable' | 'new' | 'inherit';
    sysvsem?: 'disable' | 'new' | 'inherit';
    sysvshm?: 'disable' | 'new' | 'inherit';
    enforceStatfs?: number;
    allow?: {
      setHostname?: boolean;
      rawSockets?: boolean;
      chflags?: boolean;
      mount?: ArrayOfStrings;
      quotas?: boolean;
      socketAf?: boolean;
      mlock?: boolean;
      reservedPorts?: boolean;
      suser?: boolean;
      [k: string]: unknown | undefined;
    };
    [k: string]: unknown | undefined;
  };
  [k: string]: unknown | undefined;
}
export interface Device2 {
  path?: string;
  /**
   * File permissions mode (in decimal, not octal)
   */
  mode?: number;
  [k: string]: unknown | undefined;
}
