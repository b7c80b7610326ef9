/*
 * The user requests every inpcb-based datagram protocol answers the same way
 * (NetBSD's udp_usrreq and rip_usrreq share them through in_pcb): detach,
 * IPPROTO_IP options (multicast ones in ip_mopts.ts), socket and peer names, interface ioctls. UDP and raw IP
 * extend this and add what differs (attach, bind, connect, send).
 */
import { Errno, ENOPROTOOPT } from '../../kern/errno.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { AF_INET, type Sockaddr, type SockoptValue } from '../../kern/sys.js';
import { ifioctl } from '../interface_ioctl.js';
import { SOL_SOCKET, type Protosw, type Socket } from '../socket.js';
import { IPPROTO_IP } from '../wire/ipv4.js';
import { InPcb, inPcbGetopt, inPcbSetopt, sotoinpcb } from './in_pcb.js';
import type { Inet } from './inet.js';
import { inMoptionsFree, inMulticastGetopt, inMulticastSetopt } from './ip_mopts.js';
import { inToSockaddr } from './sockaddr.js';

export abstract class InPcbUsrreqs implements Protosw {
  abstract readonly type: number;
  abstract readonly protocol: number;
  abstract readonly flags: number;
  /** Whether IP_HDRINCL is an option of this protocol (raw IP only). */
  protected abstract readonly hdrincl: boolean;

  constructor(readonly inet: Inet) {}

  abstract sendspace(): number;
  abstract recvspace(): number;
  abstract attach(so: Socket): void;
  abstract bind(so: Socket, addr: Sockaddr): void;
  abstract connect(so: Socket, addr: Sockaddr): void;
  abstract disconnect(so: Socket): void;
  abstract listen(so: Socket, backlog: number): void;
  abstract shutdown(so: Socket): void;
  abstract send(so: Socket, m: Mbuf, to: Sockaddr | null, flags: number): void;

  detach(so: Socket): void {
    const inp = so.pcb;
    if (inp instanceof InPcb) {
      inMoptionsFree(inp);
      inp.table.detach(inp);
    }
    so.pcb = null;
    so.flushSnd();
  }

  rcvd(): void {}

  setopt(so: Socket, level: number, name: number, value: SockoptValue): void {
    if (level === SOL_SOCKET) return;
    if (level !== IPPROTO_IP) throw new Errno(ENOPROTOOPT);
    const inp = sotoinpcb(so);
    if (inp.af === AF_INET && inMulticastSetopt(inp, name, value)) return;
    inPcbSetopt(inp, name, value, this.hdrincl);
  }

  getopt(so: Socket, level: number, name: number): SockoptValue {
    if (level !== IPPROTO_IP) throw new Errno(ENOPROTOOPT);
    const inp = sotoinpcb(so);
    const mv = inp.af === AF_INET ? inMulticastGetopt(inp, name) : undefined;
    return mv !== undefined ? mv : inPcbGetopt(inp, name, this.hdrincl);
  }

  /** Raw PCBs never get ports, so theirs read 0. */
  sockaddr(so: Socket): Sockaddr {
    const inp = sotoinpcb(so);
    return inToSockaddr(inp.laddr, inp.lport);
  }

  peeraddr(so: Socket): Sockaddr {
    const inp = sotoinpcb(so);
    return inToSockaddr(inp.faddr, inp.fport);
  }

  ioctl(_so: Socket, cmd: string, arg: unknown): unknown {
    return ifioctl(this.inet.ns, cmd, arg);
  }
}
