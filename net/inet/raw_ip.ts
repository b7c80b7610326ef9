/*
 * Raw IP sockets (NetBSD netinet/raw_ip.c): SOCK_RAW for any protocol, what
 * rump.ping uses with IPPROTO_ICMP.
 *
 * Call order:
 *   in:  ipInput → (no protox entry for the protocol) rawInput; icmpInput →
 *        rawInput for every ICMP message. rawInput copies the whole packet,
 *        IP header included, to every raw socket that matches.
 *   out: Socket.sendto → RawUsrreqs.send → ipOutput with the socket's
 *        protocol, or with IP_HDRINCL the user's own header (IP_RAWOUTPUT).
 */
import { Errno, EADDRNOTAVAIL, EINVAL, EMSGSIZE, ENOTCONN, EOPNOTSUPP } from '../../kern/errno.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { AF_INET, AF_INET6, MSG_DONTROUTE, SOCK_RAW, type Sockaddr } from '../../kern/sys.js';
import {
  PR_ADDR, PR_ATOMIC, SO_BROADCAST, SO_DONTROUTE, SS_CANTRCVMORE, SS_ISCONNECTED, type Socket,
} from '../socket.js';
import {
  IP_HDR_MIN, IP_MAXPACKET, IPVERSION, ipDst, ipHlen, ipLen, ipP, ipSrc, ipVersion,
} from '../wire/ipv4.js';
import { INP_BOUNDADDR, INP_HDRINCL, InPcb, inAddrMulticast, sotoinpcb, type InPcbTable } from './in_pcb.js';
import type { Inet } from './inet.js';
import { InPcbUsrreqs, type In6UsrOps } from './in_usrreq.js';
import { IP_ALLOWBROADCAST, IP_RAWOUTPUT, IP_ROUTETOIF, ipOutput } from './ip_output.js';
import { inpMoptions } from './ip_mopts.js';
import { inToSockaddr, sockaddrIsUnspec } from './sockaddr.js';

/** NetBSD's rip_sendspace and rip_recvspace. */
export const RIP_SENDSPACE = 9216;
export const RIP_RECVSPACE = 9216;

/**
 * rip_input: give a copy of the packet (`m` starts at its IP header) to
 * every raw socket whose protocol is 0 or the packet's, whose bound address
 * (if any) is the destination and whose connected address (if any) is the
 * source. Never frees `m`. Returns whether any socket matched, so ipInput
 * knows whether to answer protocol unreachable (a socket whose buffer was
 * full still counts: the protocol is in use).
 */
export function rawInput(inet: Inet, m: Mbuf, _hlen: number): boolean {
  const table = inet.rawcbtable;
  if (table.size === 0) return false;
  const k = inet.kernel;
  const buf = m.buf;
  const off = m.off;
  const p = ipP(buf, off);
  const src = ipSrc(buf, off);
  const fa = table.inSrc.setV4(src);
  const la = table.inDst.setV4(ipDst(buf, off));
  let matched = false;
  for (const inp of table.all) {
    if (inp.proto !== 0 && inp.proto !== p) continue;
    if (!inp.localIsAny() && !inp.localIs(la)) continue;
    if (!inp.foreignIsAny() && !inp.foreignIs(fa)) continue;
    matched = true;
    const so = inp.so;
    if (so.state & SS_CANTRCVMORE || m.len > so.rcv.space) {
      table.rcvfull++;
      continue;
    }
    const n = k.mbufs.copyin(buf, off, m.len, 0);
    if (n === null) {
      table.rcvfull++;
      continue;
    }
    n.flags = m.flags;
    n.rcvif = m.rcvif;
    if (!so.appendRecord(n, inToSockaddr(src, 0))) {
      table.rcvfull++;
      k.mbufs.free(n);
    }
  }
  return matched;
}

/**
 * The user requests of a raw socket of one protocol (rip_usrreqs). The
 * AF_INET6 raw sockets (net/inet6/raw6.ts) extend this and send their own way.
 */
export class RawUsrreqs extends InPcbUsrreqs {
  readonly type = SOCK_RAW;
  readonly flags = PR_ATOMIC | PR_ADDR;
  protected readonly hdrincl = true;

  constructor(
    inet: Inet,
    /** 0: every protocol (receive), protocol 0 in what it sends. */
    readonly protocol: number,
    table: InPcbTable = inet.rawcbtable,
    family = AF_INET,
    ops6: In6UsrOps | null = null,
  ) {
    super(inet, table, family, ops6);
  }

  sendspace(): number {
    return RIP_SENDSPACE;
  }

  recvspace(): number {
    return RIP_RECVSPACE;
  }

  /**
   * rip_bind, rip6_bind: only filters input by destination and fixes the
   * source; no ports, may be repeated. An AF_INET6 raw socket takes neither
   * a v4-mapped nor a multicast address (EADDRNOTAVAIL, as NetBSD answers).
   */
  bind(so: Socket, addr: Sockaddr): void {
    const inp = sotoinpcb(so);
    const a = this.sa.parse(addr, this.family).addr;
    if (this.family === AF_INET6 && (a.isV4() || inAddrMulticast(a))) throw new Errno(EADDRNOTAVAIL);
    if (!this.table.isBindable(a)) throw new Errno(EADDRNOTAVAIL);
    inp.setLocal(a);
    if (!a.isAny()) inp.flags |= INP_BOUNDADDR;
    else inp.flags &= ~INP_BOUNDADDR;
  }

  /** rip_connect: the default destination, and input only from it. */
  connect(so: Socket, addr: Sockaddr): void {
    const inp = sotoinpcb(so);
    if (sockaddrIsUnspec(addr)) {
      if (so.state & SS_ISCONNECTED) this.disconnect(so);
      return;
    }
    inp.setForeign(this.table.resolveAny(this.sa.parse(addr, this.family).addr, this.dst));
    so.isConnected();
  }

  disconnect(so: Socket): void {
    const inp = sotoinpcb(so);
    if (!(so.state & SS_ISCONNECTED)) throw new Errno(ENOTCONN);
    inp.clearAddrs(true);
    so.state &= ~SS_ISCONNECTED;
  }

  /** An AF_INET6 raw socket has no peer until connected (ENOTCONN, as rip6_peeraddr answers). */
  override peeraddr(so: Socket): Sockaddr {
    if (this.family === AF_INET6 && !(so.state & SS_ISCONNECTED)) throw new Errno(ENOTCONN);
    return super.peeraddr(so);
  }

  listen(): void {
    throw new Errno(EOPNOTSUPP);
  }

  shutdown(): void {}

  /** rip_output. Owns `m`. */
  send(so: Socket, m: Mbuf, to: Sockaddr | null, flags: number): void {
    const inet = this.inet;
    const k = inet.kernel;
    let inp: InPcb;
    let dst: number;
    try {
      inp = sotoinpcb(so);
      dst = to ? this.table.resolveAny(this.sa.parse(to, AF_INET).addr, this.dst).v4() : inp.faddr;
    } catch (e) {
      k.mbufs.free(m);
      throw e;
    }
    let ipflags = 0;
    if (so.options & SO_BROADCAST) ipflags |= IP_ALLOWBROADCAST;
    if (so.options & SO_DONTROUTE || flags & MSG_DONTROUTE) ipflags |= IP_ROUTETOIF;
    let error: number;
    if (inp.flags & INP_HDRINCL) {
      // The user built the header: check that it describes this packet
      // (NetBSD refuses a length that disagrees with what was written; 0
      // asks us to fill it in), then IP fills in id, length and checksum.
      const len = m.len;
      if (len > IP_MAXPACKET) {
        k.mbufs.free(m);
        throw new Errno(EMSGSIZE);
      }
      const buf = m.buf;
      const off = m.off;
      if (len < IP_HDR_MIN || ipVersion(buf, off) !== IPVERSION || ipHlen(buf, off) < IP_HDR_MIN || ipHlen(buf, off) > len || (ipLen(buf, off) !== len && ipLen(buf, off) !== 0)) {
        k.mbufs.free(m);
        throw new Errno(EINVAL);
      }
      error = ipOutput(inet, m, ipSrc(buf, off), ipDst(buf, off), ipP(buf, off), inp.ttl, inp.tos, ipflags | IP_RAWOUTPUT, inpMoptions(inp));
    } else {
      if (m.len > IP_MAXPACKET - IP_HDR_MIN) {
        k.mbufs.free(m);
        throw new Errno(EMSGSIZE);
      }
      error = ipOutput(inet, m, inp.laddr, dst, this.protocol, inp.ttl, inp.tos, ipflags, inpMoptions(inp));
    }
    if (error !== 0) throw new Errno(error);
  }
}
