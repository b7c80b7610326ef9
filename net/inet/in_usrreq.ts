/*
 * The user requests every inpcb-based datagram protocol answers the same way
 * (NetBSD's udp_usrreq and rip_usrreq share them through in_pcb): detach,
 * IPPROTO_IP (IPPROTO_IPV6) options, multicast ones in ip_mopts.ts (or
 * net/inet6's ip6_mopts.ts through In6UsrOps), socket and peer names,
 * interface ioctls. UDP and raw IP extend this and add what differs
 * (attach, bind, connect, send).
 *
 * One class serves both families, as the PCBs do: `family` says which
 * sockaddr the socket speaks and which option level it takes; the address
 * is an InAddr either way (IPv4 v4-mapped). What only the IPv6 layer knows
 * comes through In6UsrOps, which net_netinet6 supplies: net/inet never
 * imports net/inet6.
 */
import { Errno, ENOPROTOOPT } from '../../kern/errno.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { AF_INET, AF_INET6, type Sockaddr, type SockoptValue } from '../../kern/sys.js';
import { ifioctl } from '../interface_ioctl.js';
import { SOL_SOCKET, type Protosw, type Socket } from '../socket.js';
import { IPPROTO_IP } from '../wire/ipv4.js';
import { InAddr } from './in_addr.js';
import {
  IPPROTO_IPV6, InPcb, in6PcbGetopt, in6PcbSetopt, inPcbGetopt, inPcbSetopt, sotoinpcb, type InPcbTable,
} from './in_pcb.js';
import type { Inet } from './inet.js';
import { inMoptionsFree, inMulticastGetopt, inMulticastSetopt } from './ip_mopts.js';
import { AddrPort, addrToSockaddr } from './sockaddr.js';

/** What an AF_INET6 datagram socket needs from the IPv6 layer (net_netinet6 supplies it). */
export interface In6UsrOps {
  /** An IPPROTO_IPV6 option of the IPv6 layer (multicast, RFC 3493 §5.2): true when it took it. */
  setopt(inp: InPcb, name: number, value: SockoptValue): boolean;
  /** Such an option's value; undefined for one it does not know. */
  getopt(inp: InPcb, name: number): SockoptValue | undefined;
  /** Free what setopt allocated (group memberships). */
  free(inp: InPcb): void;
}

export abstract class InPcbUsrreqs implements Protosw {
  abstract readonly type: number;
  abstract readonly protocol: number;
  abstract readonly flags: number;
  /** Whether IP_HDRINCL is an option of this protocol (raw IP only). */
  protected abstract readonly hdrincl: boolean;
  /** Reused by bind, connect and sendto: parsing an address allocates nothing. */
  protected readonly sa = new AddrPort();
  /** A destination standing for "this host" (resolveAny), or a PCB's address read out. */
  protected readonly dst = new InAddr();

  constructor(
    readonly inet: Inet,
    /** The PCBs of this protocol and family. */
    readonly table: InPcbTable,
    /** AF_INET, or AF_INET6 (which then needs `ops6`). */
    readonly family: number = AF_INET,
    readonly ops6: In6UsrOps | null = null,
  ) {}

  abstract sendspace(): number;
  abstract recvspace(): number;
  abstract bind(so: Socket, addr: Sockaddr): void;
  abstract connect(so: Socket, addr: Sockaddr): void;
  abstract disconnect(so: Socket): void;
  abstract listen(so: Socket, backlog: number): void;
  abstract shutdown(so: Socket): void;
  abstract send(so: Socket, m: Mbuf, to: Sockaddr | null, flags: number): void;

  attach(so: Socket): void {
    so.pcb = this.table.attach(so, this.protocol);
  }

  detach(so: Socket): void {
    const inp = so.pcb;
    if (inp instanceof InPcb) {
      if (this.ops6 !== null) this.ops6.free(inp);
      else inMoptionsFree(inp);
      inp.table.detach(inp);
    }
    so.pcb = null;
    so.flushSnd();
  }

  rcvd(): void {}

  setopt(so: Socket, level: number, name: number, value: SockoptValue): void {
    if (level === SOL_SOCKET) return;
    const inp = sotoinpcb(so);
    if (this.family === AF_INET6) {
      if (level !== IPPROTO_IPV6) throw new Errno(ENOPROTOOPT);
      if (this.ops6 !== null && this.ops6.setopt(inp, name, value)) return;
      in6PcbSetopt(inp, name, value);
      return;
    }
    if (level !== IPPROTO_IP) throw new Errno(ENOPROTOOPT);
    if (inMulticastSetopt(inp, name, value)) return;
    inPcbSetopt(inp, name, value, this.hdrincl);
  }

  getopt(so: Socket, level: number, name: number): SockoptValue {
    const inp = sotoinpcb(so);
    if (this.family === AF_INET6) {
      if (level !== IPPROTO_IPV6) throw new Errno(ENOPROTOOPT);
      return this.ops6?.getopt(inp, name) ?? in6PcbGetopt(inp, name);
    }
    if (level !== IPPROTO_IP) throw new Errno(ENOPROTOOPT);
    const mv = inMulticastGetopt(inp, name);
    return mv !== undefined ? mv : inPcbGetopt(inp, name, this.hdrincl);
  }

  /** Raw PCBs never get ports, so theirs read 0. */
  sockaddr(so: Socket): Sockaddr {
    const inp = sotoinpcb(so);
    return addrToSockaddr(inp.localInto(this.dst), inp.lport, this.family);
  }

  peeraddr(so: Socket): Sockaddr {
    const inp = sotoinpcb(so);
    return addrToSockaddr(inp.foreignInto(this.dst), inp.fport, this.family);
  }

  ioctl(_so: Socket, cmd: string, arg: unknown): unknown {
    return ifioctl(this.inet.ns, cmd, arg);
  }
}
