/*
 * UDP (RFC 768; RFC 1122 §4.1; NetBSD netinet/udp_usrreq.c).
 *
 * Call order:
 *   in:  ipInput → inet.protox[17] = udpInput → udpCheck (length, checksum;
 *        drop and count) → unicast: table.lookupConnect, else lookupBind →
 *        udpSendup (sbappendaddr); broadcast/multicast: every matching socket;
 *        nobody: ICMP port unreachable (unless broadcast)
 *   out: Socket.sendto → UdpUsrreqs.send → udpOutput → ipOutput
 *   err: icmp input → inet.ctlinput[17] = udpCtlinput → table.notify → so_error
 */
import { tcpInputUdp } from './tcp/tunnel.js';
import { ICMP_TIMXCEED } from '../wire/icmp.js';
import { Errno, EADDRNOTAVAIL, EHOSTDOWN, EINVAL, EMSGSIZE, ENOBUFS, ENOTCONN, ENETUNREACH, EOPNOTSUPP } from '../../kern/errno.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { AF_INET, AF_INET6, MSG_DONTROUTE, SOCK_DGRAM, type Sockaddr } from '../../kern/sys.js';
import {
  PR_ADDR, PR_ATOMIC, SO_BROADCAST, SO_DONTROUTE, SO_REUSEADDR, SO_REUSEPORT, SS_ISBOUND,
  SS_ISCONNECTED, SS_CANTRCVMORE, type Socket,
} from '../socket.js';
import { ICMP_UNREACH, ICMP_UNREACH_PORT } from '../wire/icmp.js';
import { INADDR_ANY, INADDR_BROADCAST, inAddrIsMulticast } from '../wire/inaddr.js';
import { IP_HDR_MIN, IP_MAXPACKET, IPPROTO_UDP, ipDst, ipSrc } from '../wire/ipv4.js';
import {
  UDP_HDR_LEN, UdpCheck, udpCheck, udpDport, udpLength, udpSetChecksum, udpSport, udpWriteHeader,
} from '../wire/udp.js';
import { icmpError } from './icmp.js';
import type { InAddr } from './in_addr.js';
import { INADDR_ANY_ADDR, INP_CONNECTED, InPcb, sotoinpcb, type InPcbTable } from './in_pcb.js';
import type { Inet } from './inet.js';
import { InPcbUsrreqs, type In6UsrOps } from './in_usrreq.js';
import { IP_ALLOWBROADCAST, IP_ROUTETOIF, inSelectSrc, ipOutput } from './ip_output.js';
import { inMulticastSrc, inpMoptions } from './ip_mopts.js';
import { inToSockaddr, inToSockaddrMapped, sockaddrIsUnspec } from './sockaddr.js';

/** The largest UDP payload: 65535 less the IP and UDP headers (RFC 768 length field, RFC 791 total length). */
export const UDP_MAXDATA = IP_MAXPACKET - IP_HDR_MIN - UDP_HDR_LEN;

/*
 * Broadcast or multicast destination, for input: the limited broadcast,
 * INADDR_ANY (the 4.2BSD broadcast), class D, or the directed broadcast or
 * subnet number of any of our broadcast-capable addresses. BSD's
 * in_broadcast looks at the receiving interface only; we look at every
 * address so a broadcast we sent ourselves and got back through lo0 counts
 * as one too.
 */
function udpIsBroadcast(inet: Inet, dst: number): boolean {
  if (dst === INADDR_BROADCAST || dst === INADDR_ANY || inAddrIsMulticast(dst)) return true;
  const a = inet.addrs;
  for (let i = 0; i < a.length; i++) {
    const ia = a[i]!;
    if (ia.broadaddr !== 0 && (dst === ia.broadaddr || (dst === ia.subnet && ia.prefixLen < 31))) return true;
  }
  return false;
}

/**
 * Queue a datagram on a socket (udp4_sendup → sbappendaddr). `m` holds the
 * payload only. A full buffer (or a socket that reads no more) drops it
 * and counts udps_fullsock.
 */
function udpSendup(inet: Inet, so: Socket, m: Mbuf, src: number, sport: number, mapped = false): void {
  const from = mapped ? inToSockaddrMapped(src, sport) : inToSockaddr(src, sport);
  if (so.state & SS_CANTRCVMORE || !so.appendRecord(m, from)) {
    inet.udpstat.fullsock++;
    inet.kernel.mbufs.free(m);
  }
}

/** udp_input: `m` starts at the IP header, `hlen` bytes long. Owns `m`. */
export function udpInput(inet: Inet, m: Mbuf, hlen: number): void {
  const k = inet.kernel;
  const us = inet.udpstat;
  us.ipackets++;
  const buf = m.buf;
  const ipoff = m.off;
  const uoff = ipoff + hlen;
  const len = m.len - hlen;
  const src = ipSrc(buf, ipoff);
  const dst = ipDst(buf, ipoff);
  // RFC 768 length and checksum, in NetBSD udp_input's order; a checksum of
  // 0 means the sender computed none (RFC 768), which RFC 1122 §4.1.3.4
  // lets us accept.
  const check = udpCheck(buf, uoff, len, src, dst);
  if (check !== UdpCheck.Ok) {
    if (check === UdpCheck.TooShort) us.hdrops++;
    else if (check === UdpCheck.BadLen) us.badlen++;
    else us.badsum++;
    k.mbufs.free(m);
    return;
  }
  const ulen = udpLength(buf, uoff);
  // The UDP length rules over a longer IP payload (link padding): trim.
  if (ulen < len) m.len = hlen + ulen;
  const sport = udpSport(buf, uoff);
  const dport = udpDport(buf, uoff);
  const table = inet.udbtable;
  // TCP over UDP (FreeBSD's net.inet.tcp.udp_tunneling_port): the kernel's own tunnel, before any socket.
  const tcp = inet.tcp;
  if (tcp !== null && tcp.cfg.udpTunnelingPort !== 0 && dport === tcp.cfg.udpTunnelingPort && sport !== 0) {
    tcpInputUdp(tcp, m, hlen, sport);
    return;
  }

  if (udpIsBroadcast(inet, dst)) {
    udpInputBroadcast(inet, m, hlen, ulen, src, sport, dst, dport);
    return;
  }

  const fa = table.inSrc.setV4(src);
  const la = table.inDst.setV4(dst);
  let inp = table.lookupConnect(fa, sport, la, dport);
  if (inp === null) {
    us.pcbhashmiss++;
    // Then the dual-stack IPv6 sockets (IPV6_V6ONLY off), which see the
    // sender v4-mapped (RFC 3493 §3.7); only after our own bound ones, so a
    // datagram for an IPv4 server costs nothing more (the two cannot share
    // a port without SO_REUSEADDR).
    inp = table.lookupBind(la, dport) ?? table.lookupConnectMapped(fa, sport, la, dport) ?? table.lookupBindMapped(la, dport);
    if (inp === null) {
      // RFC 1122 §4.1.3.1: no one listens, say so with port unreachable.
      us.noport++;
      icmpError(inet, m, ICMP_UNREACH, ICMP_UNREACH_PORT, 0);
      return;
    }
  }
  m.adj(hlen + UDP_HDR_LEN);
  udpSendup(inet, inp.so, m, src, sport, inp.af === AF_INET6);
}

/**
 * A broadcast or multicast datagram goes to every socket on the port whose
 * local address is INADDR_ANY or the destination and whose foreign side (if
 * connected) is the sender, then to the dual-stack IPv6 sockets that match
 * likewise (NetBSD's udp6_realinput for a mapped destination). As in BSD,
 * the walk stops at the first socket that did not set SO_REUSEPORT or
 * SO_REUSEADDR: sharing is opt-in. Nobody at all: counted in
 * udps_noportbcast, no ICMP (RFC 1122 §3.2.2).
 */
function udpInputBroadcast(inet: Inet, m: Mbuf, hlen: number, ulen: number, src: number, sport: number, dst: number, dport: number): void {
  const k = inet.kernel;
  const peer = inet.udbtable.peer;
  const fa = inet.udbtable.inSrc.setV4(src);
  const la = inet.udbtable.inDst.setV4(dst);
  let last: InPcb | null = null;
  for (let pass = 0; pass < 2; pass++) {
    const set = pass === 0 ? inet.udbtable.onPort(dport) : peer?.onPort(dport);
    if (set === undefined) continue;
    let stop = false;
    for (const inp of set) {
      if (pass === 1 && !inp.takesV4()) continue;
      if (!inp.localIsAny() && !inp.localIs(la)) continue;
      if (!inp.foreignIsAny() && (!inp.foreignIs(fa) || inp.fport !== sport)) continue;
      if (last !== null) {
        // Everyone before the last gets a copy of the payload; a copy that
        // cannot be had at the memory limit is a drop the pool counts.
        const n = k.mbufs.copyin(m.buf, m.off + hlen + UDP_HDR_LEN, ulen - UDP_HDR_LEN, 0);
        if (n !== null) udpSendup(inet, last.so, n, src, sport, last.af === AF_INET6);
      }
      last = inp;
      if ((inp.so.options & (SO_REUSEPORT | SO_REUSEADDR)) === 0) {
        stop = true;
        break;
      }
    }
    if (stop) break;
  }
  if (last === null) {
    inet.udpstat.noportbcast++;
    k.mbufs.free(m);
    return;
  }
  m.adj(hlen + UDP_HDR_LEN);
  udpSendup(inet, last.so, m, src, sport, last.af === AF_INET6);
}

/**
 * udp_ctlinput: an ICMP error quoting a datagram we sent. `src`/`dst` are
 * the quoted datagram's addresses (ours and the peer's), `quoted` from
 * `quotedOff` its IP header followed by at least the 8 bytes of UDP header
 * RFC 792 promises. BSD (in_pcbnotify) reports the error only to a socket
 * connected with exactly that four-tuple: an unconnected socket could not
 * tell which of its sends failed. EHOSTDOWN (PRC_HOSTDEAD) goes to every
 * socket connected to the host.
 */
export function udpCtlinput(inet: Inet, errno: number, src: number, dst: number, quoted: Uint8Array, quotedOff: number, quotedLen: number, _mtu: number): void {
  if (errno === 0) return;
  // Time exceeded is transient (RFC 1122 4.2.3.9); NetBSD's inetctlerrmap
  // does not report it to sockets. The ICMP header sits just before the quote.
  if (quotedOff >= 8 && quoted[quotedOff - 8] === ICMP_TIMXCEED) return;
  const table = inet.udbtable;
  const f = table.inSrc.setV4(dst);
  const l = table.inDst.setV4(src);
  if (errno === EHOSTDOWN) {
    table.notifyAll(f, errno);
    return;
  }
  if (quotedLen < IP_HDR_MIN || quotedOff < 0 || quotedOff + quotedLen > quoted.length) return;
  const qhl = (quoted[quotedOff]! & 0x0f) << 2;
  if (qhl < IP_HDR_MIN || quotedLen < qhl + 4) return;
  const uoff = quotedOff + qhl;
  if (table.notify(f, udpDport(quoted, uoff), l, udpSport(quoted, uoff), errno) !== 0) return;
  // A dual-stack IPv6 socket connected to the v4-mapped peer learns of it too.
  const inp = table.lookupConnectMapped(f, udpDport(quoted, uoff), l, udpSport(quoted, uoff));
  if (inp !== null) inp.so.setError(errno);
}

/**
 * udp_output: prepend the header to the payload in `m`, checksum it
 * (net.inet.udp.checksum, on by default; RFC 1122 §4.1.3.4 says SHOULD),
 * and hand it to IP. Owns `m`. Returns 0 or an errno.
 */
export function udpOutput(inp: InPcb, m: Mbuf, faddr: number, fport: number, flags: number): number {
  const inet = inp.table.inet;
  const k = inet.kernel;
  if (m.len > UDP_MAXDATA) {
    k.mbufs.free(m);
    return EMSGSIZE;
  }
  // The checksum covers the source address, so pick it now rather than
  // letting ipOutput do it: the bound address, else the route's.
  let src = inp.laddr;
  // IP_MULTICAST_IF also picks the interface of a limited broadcast (NetBSD).
  const mopts = inAddrIsMulticast(faddr) || faddr === INADDR_BROADCAST ? inpMoptions(inp) : null;
  const ifBcast = faddr === INADDR_BROADCAST && mopts !== null && mopts.ifp !== null;
  if (src === INADDR_ANY || inAddrIsMulticast(src)) {
    // A broadcast on a named interface may go from 0.0.0.0 (DHCP, RFC 2131 §4.1).
    src = ifBcast ? (inet.firstAddr(mopts.ifp!)?.addr ?? 0)
      : inAddrIsMulticast(faddr) ? inMulticastSrc(inet, faddr, mopts) : inSelectSrc(inet, faddr);
    if (src === 0 && !ifBcast) {
      k.mbufs.free(m);
      return ENETUNREACH;
    }
  }
  const r = k.mbufs.prepend(m, UDP_HDR_LEN);
  if (r === null) return ENOBUFS;
  udpWriteHeader(r.buf, r.off, inp.lport, fport, r.len);
  if (inet.udpChecksum) udpSetChecksum(r.buf, r.off, src, faddr);
  inet.udpstat.opackets++;
  const so = inp.so;
  let ipflags = 0;
  // Broadcast needs SO_BROADCAST; ipOutput refuses it (EACCES) otherwise.
  if (so.options & SO_BROADCAST) ipflags |= IP_ALLOWBROADCAST;
  if (so.options & SO_DONTROUTE || flags & MSG_DONTROUTE) ipflags |= IP_ROUTETOIF;
  return ipOutput(inet, r, src, faddr, IPPROTO_UDP, inp.ttl, inp.tos, ipflags, mopts);
}

/**
 * UDP over IPv6 output (udp6_output, net/inet6/udp6.ts) for a destination
 * that is not v4-mapped; `zone` is a sendto's sin6_scope_id (0: none).
 * Owns `m`; 0 or an errno.
 */
export type Udp6Output = (inp: InPcb, m: Mbuf, faddr: InAddr, fport: number, zone: number) => number;

/**
 * UDP's user requests (udp_usrreqs, udp6_usrreqs), one per kernel and
 * family. An AF_INET6 socket (net_netinet6 makes it with the IPv6 table,
 * udp6Output and the IPv6 options) speaks IPv4 to a v4-mapped address when
 * IPV6_V6ONLY is off (RFC 3493 §3.7): the datagram goes out through
 * udpOutput.
 */
export class UdpUsrreqs extends InPcbUsrreqs {
  readonly type = SOCK_DGRAM;
  readonly protocol = IPPROTO_UDP;
  readonly flags = PR_ATOMIC | PR_ADDR;
  protected readonly hdrincl = false;

  constructor(inet: Inet, table: InPcbTable = inet.udbtable, family = AF_INET, ops6: In6UsrOps | null = null, private readonly output6: Udp6Output | null = null) {
    super(inet, table, family, ops6);
  }

  sendspace(): number {
    return this.inet.udpSendspace;
  }

  recvspace(): number {
    return this.inet.udpRecvspace;
  }

  bind(so: Socket, addr: Sockaddr): void {
    const inp = sotoinpcb(so);
    const sa = this.sa.parse(addr, this.family);
    this.table.bind(inp, sa.addr, sa.port);
  }

  /**
   * connect(2) on a datagram socket sets the default destination and
   * filters input to it. Connecting again replaces the association
   * (NetBSD's soconnect disconnects first); AF_UNSPEC just dissolves it.
   */
  connect(so: Socket, addr: Sockaddr): void {
    const inp = sotoinpcb(so);
    if (sockaddrIsUnspec(addr)) {
      if (inp.state === INP_CONNECTED) this.disconnect(so);
      return;
    }
    const sa = this.sa.parse(addr, this.family);
    if (inp.state === INP_CONNECTED) this.disconnect(so);
    this.table.connect(inp, sa.addr, sa.port);
    so.state |= SS_ISBOUND;
    so.isConnected();
  }

  disconnect(so: Socket): void {
    const inp = sotoinpcb(so);
    if (inp.state !== INP_CONNECTED) throw new Errno(ENOTCONN);
    this.table.disconnect(inp);
    // Only the association goes: the socket can still send and receive.
    so.state &= ~SS_ISCONNECTED;
  }

  listen(): void {
    throw new Errno(EOPNOTSUPP);
  }

  shutdown(): void {
    // SS_CANTSENDMORE, already set, is all UDP needs: sends fail with EPIPE.
  }

  send(so: Socket, m: Mbuf, to: Sockaddr | null, flags: number): void {
    const k = this.inet.kernel;
    let inp: InPcb;
    let faddr: InAddr;
    let fport: number;
    /** sin6_scope_id: the interface of a link-local destination (RFC 4007 §6). */
    let zone = 0;
    try {
      inp = sotoinpcb(so);
      const table = this.table;
      // Socket.sendto treats any falsy address as none; so do we.
      if (to) {
        const sa = this.sa.parse(to, this.family);
        faddr = table.resolveAny(sa.addr, this.dst);
        fport = sa.port;
        zone = sa.scopeId;
        // What in_pcbconnect would say about a temporary association.
        if (fport === 0) throw new Errno(EADDRNOTAVAIL);
      } else {
        if (this.family === AF_INET6 && inp.state !== INP_CONNECTED) throw new Errno(ENOTCONN);
        faddr = inp.foreignInto(this.dst);
        fport = inp.fport;
      }
      // IPv4 only from a dual-stack socket, IPv6 only from an IPv6 address: EINVAL, as NetBSD answers.
      if (this.family === AF_INET6 && (faddr.isV4() ? !inp.takesV4() : inp.localIsV4())) throw new Errno(EINVAL);
      if (inp.lport === 0) {
        // An unbound socket gets an ephemeral port on first send, and keeps it.
        table.bind(inp, INADDR_ANY_ADDR, 0);
        so.state |= SS_ISBOUND;
      }
    } catch (e) {
      k.mbufs.free(m);
      throw e;
    }
    // To an IPv4 (or v4-mapped, RFC 3493 §3.7) address the datagram is IPv4.
    let error: number;
    if (this.family !== AF_INET6 || faddr.isV4()) error = udpOutput(inp, m, faddr.v4(), fport, flags);
    else if (this.output6 !== null) error = this.output6(inp, m, faddr, fport, zone);
    else {
      k.mbufs.free(m);
      error = ENETUNREACH;
    }
    if (error !== 0) throw new Errno(error);
  }
}
