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
import { Errno, EINVAL, EMSGSIZE, ENETUNREACH, ENOTCONN } from '../../kern/errno.js';
import { defineKernelState } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { AF_INET6, type Sockaddr, type SockoptValue } from '../../kern/sys.js';
import { SS_CANTRCVMORE, SS_ISCONNECTED, type Socket } from '../socket.js';
import type { InAddr } from '../inet/in_addr.js';
import { IPPROTO_IPV6, sotoinpcb, type InPcb, type InPcbTable } from '../inet/in_pcb.js';
import { RawUsrreqs } from '../inet/raw_ip.js';
import { in6ToSockaddr } from '../inet/sockaddr.js';
import { in6IsMulticast } from '../wire/in6addr.js';
import { ICMP6_HDR_LEN, icmp6SetChecksum } from '../wire/icmp6.js';
import { IP6_OFF_DST, IP6_OFF_SRC, IPPROTO_ICMPV6, IPV6_MAXPACKET } from '../wire/ipv6.js';
import type { Inet6 } from './inet6.js';
import { in6SelectSrc, ip6Output } from './ip6_output.js';
import { in6UsrOps } from './udp6.js';

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
  const fa = table.inSrc.load(buf, ip6 + IP6_OFF_SRC);
  const la = table.inDst.load(buf, ip6 + IP6_OFF_DST);
  for (const inp of table.all) {
    if (!inp.localIsAny() && !inp.localIs(la)) continue;
    if (!inp.foreignIsAny() && !inp.foreignIs(fa)) continue;
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

/**
 * The user requests of raw ICMPv6 sockets (rip6_usrreqs): net/inet's raw
 * socket requests for AF_INET6 (bind, connect, names, options), with the
 * send ICMPv6 needs and IPV6_RECVHOPLIMIT.
 */
export class Raw6Usrreqs extends RawUsrreqs {
  /** rip6_output's addresses in the 16-byte form (one message at a time). */
  private readonly srcBytes = new Uint8Array(16);
  private readonly dstBytes = new Uint8Array(16);

  constructor(
    readonly inet6: Inet6,
    table: InPcbTable,
  ) {
    super(inet6.inet, IPPROTO_ICMPV6, table, AF_INET6, in6UsrOps(inet6));
    RIP6.set(inet6.kernel, table);
  }

  override sendspace(): number {
    return RIP6_SENDSPACE;
  }

  override recvspace(): number {
    return RIP6_RECVSPACE;
  }

  /** rip6_output: owns `m`, the ICMPv6 message the user wrote. */
  override send(so: Socket, m: Mbuf, to: Sockaddr | null, _flags: number): void {
    const k = this.inet6.kernel;
    let inp: InPcb;
    const dst = this.dstBytes;
    const src = this.srcBytes;
    /** sin6_scope_id: the interface of a link-local destination (RFC 4007 §6). */
    let zone = 0;
    try {
      inp = sotoinpcb(so);
      let d: InAddr;
      if (to) {
        const sa = this.sa.parse(to, AF_INET6);
        d = this.table.resolveAny(sa.addr, this.dst);
        zone = sa.scopeId;
      } else {
        if (!(so.state & SS_ISCONNECTED)) throw new Errno(ENOTCONN);
        d = inp.foreignInto(this.dst);
      }
      if (d.isV4()) throw new Errno(EINVAL);
      if (m.len < ICMP6_HDR_LEN) throw new Errno(EINVAL);
      if (m.len > IPV6_MAXPACKET) throw new Errno(EMSGSIZE);
      d.store(dst, 0);
      // The checksum covers the source: choose it now, as rip6_output does.
      if (!inp.localIsAny()) inp.localInto(this.dst).store(src, 0);
      else if (!in6SelectSrc(this.inet6, dst, 0, src, zone)) throw new Errno(ENETUNREACH);
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

  override setopt(so: Socket, level: number, name: number, value: SockoptValue): void {
    if (level === IPPROTO_IPV6 && name === IPV6_RECVHOPLIMIT) {
      const inp = sotoinpcb(so);
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new Errno(EINVAL);
      if (value) inp.flags |= INP_RECVHOPLIMIT;
      else inp.flags &= ~INP_RECVHOPLIMIT;
      return;
    }
    super.setopt(so, level, name, value);
  }

  override getopt(so: Socket, level: number, name: number): SockoptValue {
    if (level === IPPROTO_IPV6 && name === IPV6_RECVHOPLIMIT) return sotoinpcb(so).flags & INP_RECVHOPLIMIT ? 1 : 0;
    return super.getopt(so, level, name);
  }
}
