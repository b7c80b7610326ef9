/*
 * UDP over IPv6 (RFC 768 with RFC 8200 §8.1; NetBSD netinet6/udp6_usrreq.c
 * and udp6_output.c).
 *
 * Call order:
 *   in:  ip6Input → inet6.protox[17] = udp6Input → length and checksum
 *        (mandatory over IPv6: a zero checksum is dropped) → unicast:
 *        lookupConnect, else lookupBind → the socket (sbappendaddr);
 *        multicast: every matching socket; nobody: ICMPv6 port unreachable
 *   out: Socket.sendto → UdpUsrreqs.send (net/inet/udp.ts, one for both
 *        families) → udp6Output → ip6Output (a group: ip6MulticastOutput,
 *        ip6_mopts.ts); to a v4-mapped address udpOutput, IPv4
 *   err: icmp6Input → inet6.ctlinput[17] = udp6Ctlinput → the connected
 *        socket of that four-tuple gets so_error
 *
 * The PCBs are an AF_INET6 InPcbTable of their own, the IPv4 table's peer
 * (dual-stack sockets share the IPv4 port space).
 */
import { tcpInputUdp6 } from '../inet/tcp/tunnel.js';
import { EMSGSIZE, ENOBUFS, ENETUNREACH } from '../../kern/errno.js';
import { defineKernelState } from '../../kern/kernel.js';
import { M_LOOP, type Mbuf } from '../../kern/mbuf.js';
import { AF_INET6 } from '../../kern/sys.js';
import { SO_REUSEADDR, SO_REUSEPORT, SS_CANTRCVMORE, type Socket } from '../socket.js';
import { InAddr, formatAddr } from '../inet/in_addr.js';
import type { InPcb, InPcbTable } from '../inet/in_pcb.js';
import type { In6UsrOps } from '../inet/in_usrreq.js';
import { UdpUsrreqs } from '../inet/udp.js';
import { in6ToSockaddr } from '../inet/sockaddr.js';
import { in6IsMulticast, in6IsUnspecified } from '../wire/in6addr.js';
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
  /** udp6Output's addresses in the 16-byte form the IPv6 header takes (one datagram at a time). */
  readonly laddr = new Uint8Array(16);
  readonly faddr = new Uint8Array(16);
  readonly scratch = new InAddr();
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
  const a = new InAddr();
  for (const inp of u.table.all) {
    const so = inp.so;
    out.push({
      proto: 'udp6', laddr: formatAddr(inp.localInto(a), true), lport: inp.lport, faddr: formatAddr(inp.foreignInto(a), true),
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
  // TCP over UDP (FreeBSD's net.inet.tcp.udp_tunneling_port): the kernel's own tunnel, before any socket.
  const tcp = inet6.inet.tcp;
  if (tcp !== null && tcp.cfg.udpTunnelingPort !== 0 && dport === tcp.cfg.udpTunnelingPort && sport !== 0 && !in6IsMulticast(buf, ip6 + IP6_OFF_DST)) {
    tcpInputUdp6(tcp, m, off, sport);
    return;
  }
  const table = u.table;
  const src = ip6 + IP6_OFF_SRC;
  const dst = ip6 + IP6_OFF_DST;
  const fa = table.inSrc.load(buf, src);
  const la = table.inDst.load(buf, dst);

  if (in6IsMulticast(buf, dst)) {
    // Every socket on the port bound to :: or the group, connected (if at
    // all) to the sender; sharing is opt-in (SO_REUSEPORT/SO_REUSEADDR).
    const set = table.onPort(dport);
    let last: InPcb | null = null;
    if (set !== undefined) {
      for (const inp of set) {
        if (!inp.localIsAny() && !inp.localIs(la)) continue;
        if (!inp.foreignIsAny() && (!inp.foreignIs(fa) || inp.fport !== sport)) continue;
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

  let inp = table.lookupConnect(fa, sport, la, dport);
  if (inp === null) {
    st.pcbhashmiss++;
    inp = table.lookupBind(la, dport);
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
  const t = u.table;
  const inp = t.lookupConnect(t.inSrc.load(buf, ip6off + IP6_OFF_DST), udpDport(buf, uloff), t.inDst.load(buf, ip6off + IP6_OFF_SRC), udpSport(buf, uloff));
  if (inp !== null) inp.so.setError(errno);
}

/**
 * udp6_output: header, mandatory checksum, ip6Output. `zone` is a sendto's
 * sin6_scope_id (the interface of a link-local destination, RFC 4007 §6).
 * Owns `m`; returns 0 or an errno.
 */
export function udp6Output(inet6: Inet6, u: Udp6, inp: InPcb, m: Mbuf, fa: InAddr, fport: number, zone = 0): number {
  const k = inet6.kernel;
  if (m.len > UDP6_MAXDATA) {
    k.mbufs.free(m);
    return EMSGSIZE;
  }
  const faddr = u.faddr;
  fa.store(faddr, 0);
  let src: Uint8Array = u.laddr;
  inp.localInto(u.scratch).store(src, 0);
  const mcast = in6IsMulticast(faddr, 0);
  const mo = mcast ? in6pMoptions(inp) : null;
  if (in6IsUnspecified(src, 0) || in6IsMulticast(src, 0)) {
    const chosen = mcast ? in6MulticastSrc(inet6, mo, faddr) : in6SelectSrc(inet6, faddr, 0, src, zone) ? src : null;
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

/** What an AF_INET6 datagram socket takes from the IPv6 layer: the multicast options (RFC 3493 §5.2) and their memberships. */
export function in6UsrOps(inet6: Inet6): In6UsrOps {
  return {
    setopt: (inp, name, value) => in6MulticastSetopt(inp, inet6, name, value),
    getopt: (inp, name) => in6MulticastGetopt(inp, name),
    free: (inp) => in6MoptionsFree(inp, inet6),
  };
}

/** UDP's user requests for AF_INET6 (udp6_usrreqs): net/inet's UdpUsrreqs over the IPv6 table, with udp6Output. */
export function udp6Usrreqs(u: Udp6): UdpUsrreqs {
  const inet6 = u.inet6;
  return new UdpUsrreqs(inet6.inet, u.table, AF_INET6, in6UsrOps(inet6), (inp, m, faddr, fport, zone) => udp6Output(inet6, u, inp, m, faddr, fport, zone));
}
