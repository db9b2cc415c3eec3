export { CgroupManager, CgroupManagerOptions, GroupSpec, GroupUsage, MoveBackTo } from './manager';
export { detectCgroups, CgroupDetection, Hierarchy } from './detect';
export { CgroupError } from './files';
