/*
 * Raw ICMPv6 sockets (NetBSD netinet6/raw_ip6.c, RFC 3542 §3): what
 * rump.ping6 uses, socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6).
 *
 *   in:  icmp6Input → rip6Input: every ICMPv6 message that passed its
 *        checks, before the kernel acts on it, to each raw socket whose
 *        bound address (if any) is the destination and whose connected
 *        address (if any) is the source. The data is the ICMPv6 message
 *        alone: a raw IPv6 socket never sees the IPv6 header (RFC 3542 §3);
 *        the hop limit comes beside it with IPV6_RECVHOPLIMIT (§6.3).
 *   out: send → the ICMPv6 checksum, which the kernel computes for ICMPv6
 *        raw sockets (RFC 3542 §3.1) → ip6Output with IPV6_UNICAST_HOPS.
 *
 * Not done: ICMP6_FILTER (every message is delivered; ping6 skips what is
 * not its own), IPV6_CHECKSUM for other protocols, ancillary data other
 * than the hop limit.
 */
import { Errno, EADDRNOTAVAIL, EINVAL, EMSGSIZE, ENETUNREACH, ENOPROTOOPT, ENOTCONN, EOPNOTSUPP } from '../../kern/errno.js';
import { defineKernelState } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { SOCK_RAW, type Sockaddr, type SockoptValue } from '../../kern/sys.js';
import { ifioctl } from '../interface_ioctl.js';
import {
  PR_ADDR, PR_ATOMIC, SOL_SOCKET, SS_CANTRCVMORE, SS_ISCONNECTED, type Protosw, type Socket,
} from '../socket.js';
import { INP_BOUNDADDR, IPPROTO_IPV6, InPcb, InPcbTable, in6PcbGetopt, in6PcbSetopt, sotoinpcb } from '../inet/in_pcb.js';
import { in6ToSockaddr, newIn6AddrPort, sockaddrIsUnspec, sockaddrToIn6 } from '../inet/sockaddr.js';
import { in6Copy, in6Equal, in6IsMulticast, in6IsUnspecified, in6IsV4Mapped } from '../wire/in6addr.js';
import { ICMP6_HDR_LEN, icmp6SetChecksum } from '../wire/icmp6.js';
import { IP6_OFF_DST, IP6_OFF_SRC, IPPROTO_ICMPV6, IPV6_MAXPACKET } from '../wire/ipv6.js';
import type { Inet6 } from './inet6.js';
import { in6SelectSrc, ip6Output } from './ip6_output.js';

/** NetBSD's rip6_sendspace and rip6_recvspace. */
export const RIP6_SENDSPACE = 9216;
export const RIP6_RECVSPACE = 9216;
/** IPV6_RECVHOPLIMIT (netinet6/in6.h, RFC 3542). */
export const IPV6_RECVHOPLIMIT = 37;
/** inp_flags: IPV6_RECVHOPLIMIT is on (NetBSD's IN6P_HOPLIMIT). */
const INP_RECVHOPLIMIT = 0x100;
/** Offset of the hop limit in the IPv6 header. */
const IP6_OFF_HLIM = 7;

/** The raw ICMPv6 PCBs of a kernel. */
const RIP6 = defineKernelState<InPcbTable>('raw ICMPv6 PCBs (component net_netinet6)');

/**
 * rip6_input for ICMPv6: `m` starts at the IPv6 header, the message `off`
 * bytes in. Never frees `m`; copies what each socket gets. Full buffers
 * are counted in the table's rcvfull.
 */
export function rip6Input(inet6: Inet6, m: Mbuf, off: number): void {
  const table = RIP6.peek(inet6.kernel);
  if (table === undefined || table.size === 0) return;
  const k = inet6.kernel;
  const buf = m.buf;
  const ip6 = m.off;
  const len = m.len - off;
  for (const inp of table.all) {
    if (!in6IsUnspecified(inp.laddr6, 0) && !in6Equal(inp.laddr6, 0, buf, ip6 + IP6_OFF_DST)) continue;
    if (!in6IsUnspecified(inp.faddr6, 0) && !in6Equal(inp.faddr6, 0, buf, ip6 + IP6_OFF_SRC)) continue;
    const so = inp.so;
    if (so.state & SS_CANTRCVMORE || len > so.rcv.space) {
      table.rcvfull++;
      continue;
    }
    const n = k.mbufs.copyin(buf, ip6 + off, len, 0);
    if (n === null) {
      table.rcvfull++;
      continue;
    }
    const hlim = inp.flags & INP_RECVHOPLIMIT ? buf[ip6 + IP6_OFF_HLIM]! : -1;
    if (!so.appendRecord(n, in6ToSockaddr(buf, 0, ip6 + IP6_OFF_SRC), hlim)) {
      table.rcvfull++;
      k.mbufs.free(n);
    }
  }
}

/** The user requests of raw ICMPv6 sockets (rip6_usrreqs). */
export class Raw6Usrreqs implements Protosw {
  readonly type = SOCK_RAW;
  readonly protocol = IPPROTO_ICMPV6;
  readonly flags = PR_ATOMIC | PR_ADDR;

  constructor(
    readonly inet6: Inet6,
    readonly table: InPcbTable,
  ) {
    RIP6.set(inet6.kernel, table);
  }

  sendspace(): number {
    return RIP6_SENDSPACE;
  }

  recvspace(): number {
    return RIP6_RECVSPACE;
  }

  attach(so: Socket): void {
    so.pcb = this.table.attach(so, IPPROTO_ICMPV6);
  }

  detach(so: Socket): void {
    const inp = so.pcb;
    if (inp instanceof InPcb) inp.table.detach(inp);
    so.pcb = null;
    so.flushSnd();
  }

  /** rip6_bind: filters input by destination and fixes the source; no ports. */
  bind(so: Socket, addr: Sockaddr): void {
    const inp = sotoinpcb(so);
    const a = sockaddrToIn6(addr, newIn6AddrPort()).addr;
    if (in6IsV4Mapped(a, 0)) throw new Errno(EADDRNOTAVAIL);
    if (!in6IsUnspecified(a, 0) && !this.inet6.isLocal(a, 0)) throw new Errno(EADDRNOTAVAIL);
    in6Copy(inp.laddr6, 0, a, 0);
    if (in6IsUnspecified(a, 0)) inp.flags &= ~INP_BOUNDADDR;
    else inp.flags |= INP_BOUNDADDR;
  }

  /** rip6_connect: the default destination, and input only from it. */
  connect(so: Socket, addr: Sockaddr): void {
    const inp = sotoinpcb(so);
    if (sockaddrIsUnspec(addr)) {
      if (so.state & SS_ISCONNECTED) this.disconnect(so);
      return;
    }
    const a = this.table.resolveAny6(sockaddrToIn6(addr, newIn6AddrPort()).addr);
    in6Copy(inp.faddr6, 0, a, 0);
    so.isConnected();
  }

  disconnect(so: Socket): void {
    const inp = sotoinpcb(so);
    if (!(so.state & SS_ISCONNECTED)) throw new Errno(ENOTCONN);
    inp.faddr6.fill(0);
    so.state &= ~SS_ISCONNECTED;
  }

  listen(): void {
    throw new Errno(EOPNOTSUPP);
  }

  shutdown(): void {}

  /** rip6_output: owns `m`, the ICMPv6 message the user wrote. */
  send(so: Socket, m: Mbuf, to: Sockaddr | null, _flags: number): void {
    const k = this.inet6.kernel;
    let inp: InPcb;
    let dst: Uint8Array;
    let src: Uint8Array;
    /** sin6_scope_id: the interface of a link-local destination (RFC 4007 §6). */
    let zone = 0;
    try {
      inp = sotoinpcb(so);
      if (to) {
        dst = this.inet6.ns.scratch.raw6Dst;
        const sin6 = sockaddrToIn6(to, newIn6AddrPort());
        in6Copy(dst, 0, this.table.resolveAny6(sin6.addr), 0);
        zone = sin6.scopeId;
      } else {
        if (!(so.state & SS_ISCONNECTED)) throw new Errno(ENOTCONN);
        dst = inp.faddr6;
      }
      if (in6IsV4Mapped(dst, 0)) throw new Errno(EINVAL);
      if (m.len < ICMP6_HDR_LEN) throw new Errno(EINVAL);
      if (m.len > IPV6_MAXPACKET) throw new Errno(EMSGSIZE);
      src = inp.laddr6;
      if (in6IsUnspecified(src, 0)) {
        // The checksum covers the source: choose it now, as rip6_output does.
        src = this.inet6.ns.scratch.raw6Src;
        if (!in6SelectSrc(this.inet6, dst, 0, src, zone)) throw new Errno(ENETUNREACH);
      }
    } catch (e) {
      k.mbufs.free(m);
      throw e;
    }
    icmp6SetChecksum(m.buf, m.off, m.len, src, 0, dst, 0);
    const type = m.buf[m.off]!;
    this.inet6.icmp6stat.outhist[type]!++;
    // RFC 3542 §6.3: a multicast destination goes one hop unless asked otherwise.
    const hlim = in6IsMulticast(dst, 0) ? 1 : inp.ttl;
    const error = ip6Output(this.inet6, m, src, 0, dst, 0, IPPROTO_ICMPV6, hlim, inp.tos, zone);
    if (error !== 0) throw new Errno(error);
  }

  rcvd(): void {}

  setopt(so: Socket, level: number, name: number, value: SockoptValue): void {
    if (level === SOL_SOCKET) return;
    if (level !== IPPROTO_IPV6) throw new Errno(ENOPROTOOPT);
    const inp = sotoinpcb(so);
    if (name === IPV6_RECVHOPLIMIT) {
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new Errno(EINVAL);
      if (value) inp.flags |= INP_RECVHOPLIMIT;
      else inp.flags &= ~INP_RECVHOPLIMIT;
      return;
    }
    in6PcbSetopt(inp, name, value);
  }

  getopt(so: Socket, level: number, name: number): SockoptValue {
    if (level !== IPPROTO_IPV6) throw new Errno(ENOPROTOOPT);
    const inp = sotoinpcb(so);
    if (name === IPV6_RECVHOPLIMIT) return inp.flags & INP_RECVHOPLIMIT ? 1 : 0;
    return in6PcbGetopt(inp, name);
  }

  sockaddr(so: Socket): Sockaddr {
    return in6ToSockaddr(sotoinpcb(so).laddr6, 0);
  }

  peeraddr(so: Socket): Sockaddr {
    const inp = sotoinpcb(so);
    if (!(so.state & SS_ISCONNECTED)) throw new Errno(ENOTCONN);
    return in6ToSockaddr(inp.faddr6, 0);
  }

  ioctl(_so: Socket, cmd: string, arg: unknown): unknown {
    return ifioctl(this.inet6.ns, cmd, arg);
  }
}
