/*
 * The open sockets of every process of a kernel, for sockstat(1): NetBSD's
 * sockstat joins kern.file2 (each process's descriptors) with the PCB
 * lists; here one call walks the process table (Kernel.procs) and asks
 * each socket for its addresses.
 */
import type { Kernel } from '../kern/kernel.js';
import type { Sockaddr } from '../kern/sys.js';
import { SO_ACCEPTCONN, SS_ISCONNECTED, Socket } from './socket.js';

/** One descriptor that is a socket, as `sys.ext('sockstat')` returns it. */
export interface SockstatEntry {
  pid: number;
  comm: string;
  fd: number;
  family: number;
  type: number;
  protocol: number;
  local: Sockaddr;
  /** The peer, or null while not connected. */
  foreign: Sockaddr | null;
  /** Accepting connections (listen). */
  listening: boolean;
}

export function sockstatEntries(k: Kernel): SockstatEntry[] {
  const out: SockstatEntry[] = [];
  for (const proc of k.procs) {
    for (const fd of proc.openFds()) {
      const f = proc.file(fd);
      if (!(f instanceof Socket) || f.closed) continue;
      let local: Sockaddr;
      try {
        local = f.getsockname();
      } catch {
        continue; // the protocol has already let go of it
      }
      let foreign: Sockaddr | null = null;
      if (f.state & SS_ISCONNECTED) {
        try {
          foreign = f.getpeername();
        } catch {
          foreign = null;
        }
      }
      out.push({
        pid: proc.pid, comm: proc.comm, fd, family: local.family, type: f.proto.type, protocol: f.proto.protocol,
        local, foreign, listening: (f.options & SO_ACCEPTCONN) !== 0,
      });
    }
  }
  return out;
}
