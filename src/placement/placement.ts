// The stand-alone embodiment (patent FIG. 7, claims 20-21) on a running
// instance: a socket where the server itself asks for the QoS of the vhost it
// serves, for the process (or thread) that serves it. Wired to the instance's
// cgroups and config; the instance calls startPlacement once and closes it
// at teardown.
import * as path from 'node:path';
import type { VhqosConfig } from '../types';
import type { Logger } from '../logger';
import type { NativeBinding } from '../native';
import type { CgroupManager } from '../cgroup';
import { STATUS_DIR } from '../status/server';
import { groupChooser } from './choose-group';
import { authorize, peerStillThere, type Peer, type PeerDeps } from './peer';
import { groupOf, isThreadOf, moveThread, nowTicks, startTicks } from './proc';
import { PlaceError, type PlaceRequest, type Placed } from './protocol';
import { PlacementServer } from './server';

/**
 * Where placement sockets live: not in the status directory, which is 0700
 * (root only); this one is 0755 and its sockets 0666, since servers usually
 * serve requests after dropping root.
 */
export const PLACEMENT_DIR = process.env.VHQOS_PLACEMENT_DIR ?? `${STATUS_DIR}-place`;

import { PLACEMENT_SOCKET_ENV } from './client';
export { PLACEMENT_SOCKET_ENV };

export function placementSocketPath(instance: string, dir = PLACEMENT_DIR): string {
  return path.join(dir, `${instance}.sock`);
}

/** The server's environment with its placement socket in PLACEMENT_SOCKET_ENV. */
export function placementEnv(instance: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, [PLACEMENT_SOCKET_ENV]: placementSocketPath(instance) };
}

/** The addon's peer credentials (native/peer_cred.h). */
interface PeerCredBinding {
  peerIdentity(fd: number): { pid: number; uid: number; gid: number; pidfd: number; pidfdFromSocket: boolean };
  pidfdExited(pidfd: number): boolean;
}

export interface PlacementOptions {
  instance: string;
  cgroups: CgroupManager;
  /** The config in force (a reload may replace it). */
  config: () => VhqosConfig;
  native: NativeBinding;
  logger: Logger;
  socketPath?: string;
  /** Nothing is trapped (--placement-only): say which settings cannot apply. */
  only?: boolean;
}

/** Config settings that act at a trapped accept, so a server that places itself does not get them. */
export function placementOnlyWarnings(config: VhqosConfig): string[] {
  const limited = [...config.vhosts.map((v) => ({ name: v.name, r: v.resources })), { name: '_default', r: config.default }].filter((g) => g.r.connections);
  return limited.length
    ? [`${limited.map((g) => g.name).join(', ')}: connections (max / reserve) act when vhqos classifies an accept; with --placement-only nothing is trapped and they are not applied`]
    : [];
}

/** Starts the placement socket of an instance; the socket exists when this returns. */
export function startPlacement(o: PlacementOptions): PlacementServer {
  const native = o.native as unknown as NativeBinding & PeerCredBinding;
  if (typeof native.peerIdentity !== 'function') throw new Error('placement: the vhqos addon lacks peerIdentity (rebuild it: npx node-gyp rebuild)');
  const deps: PeerDeps = {
    exited: (fd) => native.pidfdExited(fd),
    startTicks,
    isThreadOf,
    groupOf: (pid) => groupOf(o.cgroups, pid),
  };
  let chooserFor: VhqosConfig | undefined;
  let choose: ReturnType<typeof groupChooser> | undefined;
  const place = (peer: Peer, req: PlaceRequest): Placed => {
    const config = o.config();
    if (config !== chooserFor || !choose) [chooserFor, choose] = [config, groupChooser(config)];
    const target = authorize(peer, req, deps);
    const choice = choose(req);
    if (target.tid !== undefined) moveThread(o.cgroups, target.tid, choice.group);
    else if (!o.cgroups.move(target.pid, choice.group)) throw new PlaceError('ESRCH', `pid ${target.pid} is gone`);
    // The move went by pid number: if the peer died meanwhile, say so (the window is one write).
    if (target.pid === peer.pid && !peerStillThere(peer, deps)) o.logger.warn({ pid: peer.pid }, 'placement: the peer exited during its move');
    return { pid: target.pid, ...(target.tid === undefined ? {} : { tid: target.tid }), ...choice, cgroups: o.cgroups.groupPaths(choice.group) };
  };
  const server = new PlacementServer({
    socketPath: o.socketPath ?? placementSocketPath(o.instance),
    identify: (fd) => {
      const id = native.peerIdentity(fd);
      return { pid: id.pid, uid: id.uid, pidfd: id.pidfd, pidfdFromSocket: id.pidfdFromSocket, acceptedTicks: nowTicks() };
    },
    place,
    release: (peer) => {
      try {
        native.close(peer.pidfd);
      } catch {
        /* closed */
      }
    },
    logger: o.logger,
  });
  server.listen();
  if (o.only) for (const w of placementOnlyWarnings(o.config())) o.logger.warn({ setting: 'connections' }, w);
  o.logger.info({ socket: o.socketPath ?? placementSocketPath(o.instance) }, 'placement socket ready');
  return server;
}
export { PlacementServer } from './server';
