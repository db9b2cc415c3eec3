// Where the agent's peers come from: the unix socket at listenerPath, read
// by the native listener thread (native/agent_listener.h), each message
// turned into a Peer the dispatcher can answer or hang up on. Tests inject
// a source of their own (AgentOptions.listen).
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import type { AgentListenerStats, NativeBinding, ReceivedMessage } from '../native';
import { SyscallError } from '../errors';
import { probeAgent, AgentNotRunningError } from './probe';

/** One connection whose message has arrived (whole, or as far as it got). */
export interface Peer {
  /** Peer credentials (SO_PEERCRED). */
  pid: number;
  uid: number;
  gid: number;
  data: Buffer;
  /** A whole JSON value arrived; false: EOF, size cap or the peer's time ran out first. */
  complete: boolean;
  /** The fds sent along: the receiver closes every one it does not keep. */
  fds: number[];
  /** Sends one JSON line and closes the connection. */
  reply(body: unknown): void;
  /** Closes the connection without an answer. */
  hangUp(): void;
}

export interface PeerHandlers {
  peer(p: Peer): void;
  /** An accept or read error (the connection and its fds are closed already); peerPid: whose read failed. */
  error(err: SyscallError, peerPid?: number): void;
}

export interface MessageSource {
  /** Stops accepting (joins the listener thread) and removes the socket file it made. */
  stop(): void;
  stats(): AgentListenerStats;
}

export interface ListenLimits {
  peerTimeoutMs: number;
  maxBytes: number;
  /** Peers read at once; more wait in the listen backlog. */
  maxPeers: number;
}

export type Listen = (socket: string, limits: ListenLimits, handlers: PeerHandlers) => Promise<MessageSource>;

function closeQuietly(native: NativeBinding, fd: number): void {
  try {
    native.close(fd);
  } catch {
    // already closed
  }
}

function toPeer(native: NativeBinding, m: ReceivedMessage, replyTimeoutMs: number): Peer {
  return {
    pid: m.pid,
    uid: m.uid,
    gid: m.gid,
    data: m.data,
    complete: m.complete,
    fds: m.fds,
    reply(body) {
      let sock: net.Socket;
      try {
        sock = new net.Socket({ fd: m.connFd, readable: false, writable: true });
      } catch {
        return closeQuietly(native, m.connFd);
      }
      sock.on('error', () => sock.destroy());
      sock.setTimeout(replyTimeoutMs, () => sock.destroy());
      sock.end(`${JSON.stringify(body)}\n`);
    },
    hangUp: () => closeQuietly(native, m.connFd),
  };
}

/**
 * Binds `socket` (its directory 0700 if it has to be made, the socket 0600)
 * and starts the listener thread. Refuses if another agent answers there.
 */
export function socketListener(native: NativeBinding): Listen {
  return async (socket, limits, handlers) => {
    const dir = path.dirname(socket);
    if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (fs.existsSync(socket)) {
      let alive = false;
      try {
        await probeAgent(socket, 1000);
        alive = true;
      } catch (e) {
        if (!(e instanceof AgentNotRunningError)) throw e;
      }
      if (alive) throw new Error(`another vhqos agent is already listening on ${socket}`);
    }
    const fd = native.unixListen(socket, 0o600, 128);
    const ino = fs.statSync(socket).ino;
    let listener;
    try {
      listener = new native.AgentListener(fd, limits, (err, m) => {
        if (err) handlers.error(new SyscallError(err.message, err), err.peerPid);
        else handlers.peer(toPeer(native, m!, limits.peerTimeoutMs));
      });
    } catch (e) {
      closeQuietly(native, fd);
      throw e;
    }
    let stopped = false;
    return {
      stats: () => listener.stats(),
      stop() {
        if (stopped) return;
        stopped = true;
        listener.stop(); // joined: nothing uses the fd any more
        closeQuietly(native, fd);
        try {
          if (fs.statSync(socket).ino === ino) fs.unlinkSync(socket); // not a successor's socket
        } catch {
          // gone already
        }
      },
    };
  };
}
