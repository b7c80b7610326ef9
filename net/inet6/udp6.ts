/*
 * UDP over IPv6 (RFC 768 with RFC 8200 §8.1; NetBSD netinet6/udp6_usrreq.c
 * and udp6_output.c).
 *
 * Call order:
 *   in:  ip6Input → inet6.protox[17] = udp6Input → length and checksum
 *        (mandatory over IPv6: a zero checksum is dropped) → unicast:
 *        lookupConnect6, else lookupBind6 → the socket (sbappendaddr);
 *        multicast: every matching socket; nobody: ICMPv6 port unreachable
 *   out: Socket.sendto → Udp6Usrreqs.send → udp6Output → ip6Output (a
 *        group: ip6MulticastOutput, ip6_mopts.ts)
 *   err: icmp6Input → inet6.ctlinput[17] = udp6Ctlinput → the connected
 *        socket of that four-tuple gets so_error
 *
 * The PCBs are an AF_INET6 InPcbTable of their own (v6only: an IPv4 UDP
 * socket on the same port is another namespace).
 */
import {
  Errno, EADDRNOTAVAIL, EINVAL, EMSGSIZE, ENOBUFS, ENOPROTOOPT, ENOTCONN, ENETUNREACH, EOPNOTSUPP,
} from '../../kern/errno.js';
import { defineKernelState } from '../../kern/kernel.js';
import { M_LOOP, type Mbuf } from '../../kern/mbuf.js';
import { AF_INET6, SOCK_DGRAM, type Sockaddr, type SockoptValue } from '../../kern/sys.js';
import { ifioctl } from '../interface_ioctl.js';
import {
  PR_ADDR, PR_ATOMIC, SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, SS_CANTRCVMORE, SS_ISBOUND, SS_ISCONNECTED,
  type Protosw, type Socket,
} from '../socket.js';
import {
  INP_CONNECTED, INP_IPV6_V6ONLY, IPPROTO_IPV6, InPcb, InPcbTable, in6MappedV4, in6PcbGetopt, in6PcbSetopt, in6SetMapped,
  sotoinpcb,
} from '../inet/in_pcb.js';
import { inSelectSrc } from '../inet/ip_output.js';
import { udpOutput } from '../inet/udp.js';
import { in6ToSockaddr, newIn6AddrPort, sockaddrIsUnspec, sockaddrToIn6 } from '../inet/sockaddr.js';
import { IN6ADDR_ANY, formatIn6Addr, in6Equal, in6IsMulticast, in6IsUnspecified, in6IsV4Mapped } from '../wire/in6addr.js';
import { ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_NOPORT } from '../wire/icmp6.js';
import { IPPROTO_UDP } from '../wire/ipv4.js';
import { IP6_OFF_DST, IP6_OFF_SRC, IPV6_MAXPACKET, ip6Cksum } from '../wire/ipv6.js';
import { UDP_HDR_LEN, udpDport, udpLength, udpSport, udpWriteHeader } from '../wire/udp.js';
import { icmp6Error } from './icmp6.js';
import type { Inet6 } from './inet6.js';
import { in6SelectSrc, ip6Output } from './ip6_output.js';
import {
  in6MoptionsFree, in6MulticastGetopt, in6MulticastSetopt, in6MulticastSrc, in6pMoptions, ip6MulticastOutput,
} from './ip6_mopts.js';

/** The largest payload: the IPv6 payload length less the UDP header. */
export const UDP6_MAXDATA = IPV6_MAXPACKET - UDP_HDR_LEN;

/** struct udpstat for IPv6 (udp6stat; netstat -s "udp6:"). */
export class Udp6Stat {
  ipackets = 0; hdrops = 0; badsum = 0; nosum = 0; badlen = 0; noport = 0; noportmcast = 0; fullsock = 0;
  pcbhashmiss = 0; opackets = 0;
}

/** Queue a datagram (the payload in `m`) on a socket, or drop and count it; the sender's address is read where it lies. */
function udp6Sendup(inet6: Inet6, st: Udp6Stat, so: Socket, m: Mbuf, src: Uint8Array, srcOff: number, sport: number): void {
  if (so.state & SS_CANTRCVMORE || !so.appendRecord(m, in6ToSockaddr(src, sport, srcOff))) {
    st.fullsock++;
    inet6.kernel.mbufs.free(m);
  }
}

/** The UDP state of an IPv6 kernel: its PCBs and counters. */
export class Udp6 {
  readonly stat = new Udp6Stat();
  constructor(
    readonly inet6: Inet6,
    readonly table: InPcbTable,
  ) {}
}

const UDP6 = defineKernelState<Udp6>('UDP over IPv6 (component net_netinet6)');

export function udp6Attach(inet6: Inet6, table: InPcbTable): Udp6 {
  const u = new Udp6(inet6, table);
  UDP6.set(inet6.kernel, u);
  return u;
}

/** One udp6 PCB as `sys.ext('pcblist')` lists it. */
export interface Udp6PcbInfo {
  proto: 'udp6';
  laddr: string;
  lport: number;
  faddr: string;
  fport: number;
  recvQ: number;
  sendQ: number;
  family: number;
}

/** What `sys.ext('pcblist')` lists for UDP over IPv6 (netstat's udp6 lines; addresses in RFC 5952 text). */
export function udp6PcbList(u: Udp6): Udp6PcbInfo[] {
  const out: Udp6PcbInfo[] = [];
  for (const inp of u.table.all) {
    const so = inp.so;
    out.push({
      proto: 'udp6', laddr: formatIn6Addr(inp.laddr6), lport: inp.lport, faddr: formatIn6Addr(inp.faddr6),
      fport: inp.fport, recvQ: so ? so.rcv.cc : 0, sendQ: so ? so.snd.cc : 0, family: AF_INET6,
    });
  }
  return out;
}

/** inet6.protox[IPPROTO_UDP]: `m` starts at the IPv6 header, UDP `off` bytes in. Owns `m`. */
export function udp6Input(inet6: Inet6, m: Mbuf, off: number): void {
  const u = UDP6.peek(inet6.kernel);
  const k = inet6.kernel;
  if (u === undefined) {
    k.mbufs.free(m);
    return;
  }
  const st = u.stat;
  st.ipackets++;
  const buf = m.buf;
  const ip6 = m.off;
  const uo = ip6 + off;
  const len = m.len - off;
  if (len < UDP_HDR_LEN) {
    st.hdrops++;
    k.mbufs.free(m);
    return;
  }
  const ulen = udpLength(buf, uo);
  if (ulen < UDP_HDR_LEN || ulen > len) {
    st.badlen++;
    k.mbufs.free(m);
    return;
  }
  // RFC 8200 §8.1: the checksum is not optional over IPv6, and a zero one is discarded.
  if (!(m.flags & M_LOOP)) {
    if (buf[uo + 6] === 0 && buf[uo + 7] === 0) {
      st.nosum++;
      k.mbufs.free(m);
      return;
    }
    if (ip6Cksum(buf, uo, ulen, IPPROTO_UDP, buf, ip6 + IP6_OFF_SRC, buf, ip6 + IP6_OFF_DST) !== 0) {
      st.badsum++;
      k.mbufs.free(m);
      return;
    }
  }
  if (ulen < len) m.len = off + ulen;
  const sport = udpSport(buf, uo);
  const dport = udpDport(buf, uo);
  const table = u.table;
  const src = ip6 + IP6_OFF_SRC;
  const dst = ip6 + IP6_OFF_DST;

  if (in6IsMulticast(buf, dst)) {
    // Every socket on the port bound to :: or the group, connected (if at
    // all) to the sender; sharing is opt-in (SO_REUSEPORT/SO_REUSEADDR).
    const set = table.onPort(dport);
    let last: InPcb | null = null;
    if (set !== undefined) {
      for (const inp of set) {
        if (!in6IsUnspecified(inp.laddr6, 0) && !in6Equal(inp.laddr6, 0, buf, dst)) continue;
        if (!in6IsUnspecified(inp.faddr6, 0) && (!in6Equal(inp.faddr6, 0, buf, src) || inp.fport !== sport)) continue;
        if (last !== null) {
          const n = k.mbufs.copyin(buf, uo + UDP_HDR_LEN, ulen - UDP_HDR_LEN, 0);
          if (n !== null) udp6Sendup(inet6, st, last.so, n, buf, src, sport);
        }
        last = inp;
        if ((inp.so.options & (SO_REUSEPORT | SO_REUSEADDR)) === 0) break;
      }
    }
    if (last === null) {
      st.noportmcast++;
      k.mbufs.free(m);
      return;
    }
    // m_adj moves the start only: the header (and its source) stays where it is.
    m.adj(off + UDP_HDR_LEN);
    udp6Sendup(inet6, st, last.so, m, buf, src, sport);
    return;
  }

  let inp = table.lookupConnect6(buf, src, sport, buf, dst, dport);
  if (inp === null) {
    st.pcbhashmiss++;
    inp = table.lookupBind6(buf, dst, dport);
    if (inp === null) {
      // RFC 4443 §3.1: nobody listens on the port.
      st.noport++;
      icmp6Error(inet6, m, ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_NOPORT, 0);
      return;
    }
  }
  m.adj(off + UDP_HDR_LEN);
  udp6Sendup(inet6, st, inp.so, m, buf, src, sport);
}

/** inet6.ctlinput[IPPROTO_UDP]: the connected socket of the quoted four-tuple learns of the error. */
export function udp6Ctlinput(
  inet6: Inet6, errno: number, _type: number, _code: number, buf: Uint8Array, ip6off: number, uloff: number, end: number, _mtu: number,
): void {
  const u = UDP6.peek(inet6.kernel);
  if (u === undefined || errno === 0 || uloff + 4 > end) return;
  // From us (the quoted source) to the peer.
  const inp = u.table.lookupConnect6(buf, ip6off + IP6_OFF_DST, udpDport(buf, uloff), buf, ip6off + IP6_OFF_SRC, udpSport(buf, uloff));
  if (inp !== null) inp.so.setError(errno);
}

/** udp6_output: header, mandatory checksum, ip6Output. Owns `m`; returns 0 or an errno. */
export function udp6Output(inet6: Inet6, u: Udp6, inp: InPcb, m: Mbuf, faddr: Uint8Array, fport: number, zone = 0): number {
  const k = inet6.kernel;
  if (m.len > UDP6_MAXDATA) {
    k.mbufs.free(m);
    return EMSGSIZE;
  }
  let src = inp.laddr6;
  const mcast = in6IsMulticast(faddr, 0);
  const mo = mcast ? in6pMoptions(inp) : null;
  if (in6IsUnspecified(src, 0) || in6IsMulticast(src, 0)) {
    const chosen = mcast ? in6MulticastSrc(inet6, mo, faddr) : in6SelectSrc(inet6, faddr, 0, inet6.ns.scratch.udp6Src, zone) ? inet6.ns.scratch.udp6Src : null;
    if (chosen === null) {
      k.mbufs.free(m);
      return ENETUNREACH;
    }
    src = chosen;
  }
  const r = k.mbufs.prepend(m, UDP_HDR_LEN);
  if (r === null) return ENOBUFS;
  udpWriteHeader(r.buf, r.off, inp.lport, fport, r.len);
  // A computed zero goes out as all ones (RFC 768; zero would mean "none", which IPv6 forbids).
  const c = ip6Cksum(r.buf, r.off, r.len, IPPROTO_UDP, src, 0, faddr, 0) || 0xffff;
  r.buf[r.off + 6] = c >>> 8;
  r.buf[r.off + 7] = c;
  u.stat.opackets++;
  if (mcast) return ip6MulticastOutput(inet6, mo, r, src, faddr, IPPROTO_UDP, inp.tos);
  return ip6Output(inet6, r, src, 0, faddr, 0, IPPROTO_UDP, inp.ttl, inp.tos, zone);
}

/**
 * May this PCB speak IPv4 to a v4-mapped address (NetBSD udp6_output's
 * mapped case)? Not with IPV6_V6ONLY on, nor when bound to a real IPv6
 * address: EINVAL, as NetBSD answers.
 */
function udp6CheckMapped(inp: InPcb): void {
  if (inp.flags & INP_IPV6_V6ONLY) throw new Errno(EINVAL);
  if (!in6IsUnspecified(inp.laddr6, 0) && !in6IsV4Mapped(inp.laddr6, 0)) throw new Errno(EINVAL);
}

/** UDP's user requests for AF_INET6 (udp6_usrreqs). */
export class Udp6Usrreqs implements Protosw {
  readonly type = SOCK_DGRAM;
  readonly protocol = IPPROTO_UDP;
  readonly flags = PR_ATOMIC | PR_ADDR;

  constructor(readonly u: Udp6) {}

  private get inet6(): Inet6 {
    return this.u.inet6;
  }

  sendspace(): number {
    return this.inet6.inet.udpSendspace;
  }

  recvspace(): number {
    return this.inet6.inet.udpRecvspace;
  }

  attach(so: Socket): void {
    so.pcb = this.u.table.attach(so, IPPROTO_UDP);
  }

  detach(so: Socket): void {
    const inp = so.pcb;
    if (inp instanceof InPcb) {
      in6MoptionsFree(inp, this.inet6);
      inp.table.detach(inp);
    }
    so.pcb = null;
    so.flushSnd();
  }

  bind(so: Socket, addr: Sockaddr): void {
    const inp = sotoinpcb(so);
    const sin6 = sockaddrToIn6(addr, newIn6AddrPort());
    this.u.table.bind6(inp, sin6.addr, sin6.port);
  }

  connect(so: Socket, addr: Sockaddr): void {
    const inp = sotoinpcb(so);
    if (sockaddrIsUnspec(addr)) {
      if (inp.state === INP_CONNECTED) this.disconnect(so);
      return;
    }
    const sin6 = sockaddrToIn6(addr, newIn6AddrPort());
    if (inp.state === INP_CONNECTED) this.disconnect(so);
    if (in6IsV4Mapped(sin6.addr, 0)) this.connectMapped(inp, in6MappedV4(sin6.addr, 0), sin6.port);
    else this.u.table.connect6(inp, sin6.addr, sin6.port);
    so.state |= SS_ISBOUND;
    so.isConnected();
  }

  /**
   * connect(2) to ::ffff:a.b.c.d: the association is IPv4 (source from the
   * IPv4 route), kept v4-mapped in the PCB so IPv4 input finds it
   * (lookupConnectMapped) and the IPv4 form in laddr/faddr for udpOutput.
   */
  private connectMapped(inp: InPcb, faddr: number, fport: number): void {
    udp6CheckMapped(inp);
    if (fport === 0) throw new Errno(EADDRNOTAVAIL);
    const inet = this.inet6.inet;
    faddr = inet.udbtable.resolveAny(faddr);
    const laddr = inp.laddr !== 0 ? inp.laddr : inSelectSrc(inet, faddr);
    if (laddr === 0) throw new Errno(ENETUNREACH);
    if (inp.lport === 0) this.u.table.bind6(inp, IN6ADDR_ANY, 0);
    const f6 = this.inet6.ns.scratch.udp6Mapped;
    in6SetMapped(f6, 0, faddr);
    const l6 = new Uint8Array(16);
    in6SetMapped(l6, 0, laddr);
    this.u.table.insertConnected6(inp, l6, 0, inp.lport, f6, 0, fport);
    inp.laddr = laddr;
    inp.faddr = faddr;
  }

  disconnect(so: Socket): void {
    const inp = sotoinpcb(so);
    if (inp.state !== INP_CONNECTED) throw new Errno(ENOTCONN);
    this.u.table.disconnect(inp);
    so.state &= ~SS_ISCONNECTED;
  }

  listen(): void {
    throw new Errno(EOPNOTSUPP);
  }

  shutdown(): void {}

  send(so: Socket, m: Mbuf, to: Sockaddr | null, flags: number): void {
    const k = this.inet6.kernel;
    let inp: InPcb;
    let faddr: Uint8Array;
    let fport: number;
    let zone = 0;
    try {
      inp = sotoinpcb(so);
      const table = this.u.table;
      if (to) {
        const sin6 = sockaddrToIn6(to, newIn6AddrPort());
        faddr = table.resolveAny6(sin6.addr);
        fport = sin6.port;
        zone = sin6.scopeId;
        if (fport === 0) throw new Errno(EADDRNOTAVAIL);
      } else {
        if (inp.state !== INP_CONNECTED) throw new Errno(ENOTCONN);
        faddr = inp.faddr6;
        fport = inp.fport;
      }
      if (in6IsV4Mapped(faddr, 0)) udp6CheckMapped(inp);
      else if (in6IsV4Mapped(inp.laddr6, 0)) throw new Errno(EINVAL); // IPv6 from an IPv4 address
      if (inp.lport === 0) {
        table.bind6(inp, IN6ADDR_ANY, 0);
        so.state |= SS_ISBOUND;
      }
    } catch (e) {
      k.mbufs.free(m);
      throw e;
    }
    // To a v4-mapped address the datagram is IPv4 (RFC 3493 §3.7).
    const error = in6IsV4Mapped(faddr, 0)
      ? udpOutput(inp, m, this.inet6.inet.udbtable.resolveAny(in6MappedV4(faddr, 0)), fport, flags)
      : udp6Output(this.inet6, this.u, inp, m, faddr, fport, zone);
    if (error !== 0) throw new Errno(error);
  }

  rcvd(): void {}

  setopt(so: Socket, level: number, name: number, value: SockoptValue): void {
    if (level === SOL_SOCKET) return;
    if (level !== IPPROTO_IPV6) throw new Errno(ENOPROTOOPT);
    const inp = sotoinpcb(so);
    if (in6MulticastSetopt(inp, this.inet6, name, value)) return;
    in6PcbSetopt(inp, name, value);
  }

  getopt(so: Socket, level: number, name: number): SockoptValue {
    if (level !== IPPROTO_IPV6) throw new Errno(ENOPROTOOPT);
    const inp = sotoinpcb(so);
    return in6MulticastGetopt(inp, name) ?? in6PcbGetopt(inp, name);
  }

  sockaddr(so: Socket): Sockaddr {
    const inp = sotoinpcb(so);
    return in6ToSockaddr(inp.laddr6, inp.lport);
  }

  peeraddr(so: Socket): Sockaddr {
    const inp = sotoinpcb(so);
    return in6ToSockaddr(inp.faddr6, inp.fport);
  }

  ioctl(_so: Socket, cmd: string, arg: unknown): unknown {
    return ifioctl(this.inet6.ns, cmd, arg);
  }
}
