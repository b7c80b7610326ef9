/*
 * IPv4 output (NetBSD netinet/ip_output.c).
 *
 *   udpOutput / icmp / raw / ipForward
 *     → ipOutput: header into headroom (or the caller's, IP_RAWOUTPUT /
 *       IP_FORWARDING) → route lookup (longest prefix) → reject / blackhole
 *       → source address → broadcast check → fits the MTU?
 *         yes: ifp.output (etherOutput → arpResolve → driver, or lo0)
 *         no:  DF → EMSGSIZE; else ipFragment → ifp.output per fragment
 *     → multicast (not forwarded): ipOutputMulticast, the interface from
 *       IP_MULTICAST_IF or the route, [ipMloopback], ifp.output / ipFragment
 *
 * The route MTU is the route's own (`route add -mtu`) when set, else the
 * interface's. Local destinations reach lo0 through their RTF_LOCAL host
 * routes, which in.ts adds with every address.
 */
import { EACCES, EADDRNOTAVAIL, EHOSTUNREACH, EINVAL, EMSGSIZE, ENETDOWN, ENETUNREACH, ENOBUFS } from '../../kern/errno.js';
import { defineKernelState } from '../../kern/kernel.js';
import { M_BCAST, M_CSUM_TCPv4, M_CSUM_TSOv4, M_MCAST, MAX_LINKHDR, type Mbuf } from '../../kern/mbuf.js';
import { AF_INET } from '../../kern/sys.js';
import { IFCAP_CSUM_TCPv4_Tx, IFCAP_TSOv4, IFF_BROADCAST, IFF_LOOPBACK, IFF_MULTICAST, type Ifnet } from '../interface.js';
import { Rtentry, RTF_BLACKHOLE, RTF_GATEWAY, RTF_LOCAL, RTF_REJECT, RTF_UP } from '../route.js';
import { INADDR_BROADCAST, INADDR_LOOPBACK, inAddrIsLoopback, inAddrIsMulticast } from '../wire/inaddr.js';
import {
  IP_DF, IP_HDR_MIN, IP_MAXPACKET, IP_MF, IP_OFFMASK, IPVERSION, ipHlen, ipId, ipOff, ipSetChecksum,
  ipSetId, ipSetLen, ipSetOff, ipSetSrc, ipSrc, ipDst, ipTtl, ipVersion, ipWriteHeader,
} from '../wire/ipv4.js';
import { TCP_HDR_MIN, tcpSetChecksum } from '../wire/tcp.js';
import { inMultiLookup } from './igmp.js';
import { inBroadcast } from './in.js';
import type { Inet } from './inet.js';

/** The packet is being forwarded: its header is complete and already adjusted (TTL, checksum). */
export const IP_FORWARDING = 0x1;
/** `m` starts with the caller's IP header (raw sockets with IP_HDRINCL, ICMP). */
export const IP_RAWOUTPUT = 0x2;
/** Bypass the routing table: the destination must be on a connected network (SO_DONTROUTE). */
export const IP_ROUTETOIF = 0x10;
/** Sending to a broadcast address is allowed (SO_BROADCAST). */
export const IP_ALLOWBROADCAST = 0x20;
/** Path MTU discovery: set DF (TCP with net.inet.ip.mtudisc on; ip_mtudisc.ts). */
export const IP_MTUDISC = 0x400;

/*
 * 127/8 never leaves the host (RFC 1122 §3.2.1.3(g)); NetBSD lists only
 * 127.0.0.1 in the table, so the rest of the net goes to lo0 through a
 * route kept outside it.
 */
const LOOP_ROUTE = defineKernelState<Rtentry>('the 127/8 route (component net_netinet)');

/**
 * The route for `dst` (rtalloc): longest-prefix match, except that 127/8
 * always stays on lo0. Null when there is none.
 */
export function ipRouteLookup(inet: Inet, dst: number): Rtentry | null {
  const rt = inet.ns.rt4.lookup(dst);
  if ((dst >>> 24) !== 127) return rt;
  if (rt && rt.ifp.flags & IFF_LOOPBACK) return rt;
  const lo0 = inet.ns.lo0;
  if (!lo0) return rt;
  let lr = LOOP_ROUTE.peek(inet.kernel);
  if (!lr || lr.ifp !== lo0) {
    lr = new Rtentry(0x7f000000, 8, 0, RTF_UP, lo0, INADDR_LOOPBACK);
    LOOP_ROUTE.set(inet.kernel, lr);
  }
  return lr;
}

/** The source address to use over `rt` (the route's ifaddr while it is still ours, else the interface's first). */
export function ipRouteSource(inet: Inet, rt: Rtentry): number {
  const a = inet.addrs;
  const want = rt.ifaddr;
  if (want !== 0) {
    for (let i = 0; i < a.length; i++) if (a[i]!.addr === want) return want;
    if (inAddrIsLoopback(want) && rt.ifp.flags & IFF_LOOPBACK) return want;
  }
  const ia = inet.firstAddr(rt.ifp);
  return ia ? ia.addr : 0;
}

/** in_selectsrc: the source address for `dst` (0 when there is no route). */
export function inSelectSrc(inet: Inet, dst: number): number {
  const rt = ipRouteLookup(inet, dst);
  return rt ? ipRouteSource(inet, rt) : 0;
}

/** The connected route for `dst` (ifa_ifwithnet), for IP_ROUTETOIF. */
function connectedRoute(inet: Inet, dst: number): Rtentry | null {
  const rt = ipRouteLookup(inet, dst);
  return rt && !(rt.flags & (RTF_GATEWAY | RTF_REJECT | RTF_BLACKHOLE)) ? rt : null;
}

/** Next IP id (sequential, seeded at boot from the host's randomness). */
function nextId(inet: Inet): number {
  const id = (inet.ipId + 1) & 0xffff;
  inet.ipId = id;
  return id;
}

/**
 * ip_output. `m` holds the transport header and data (with headroom), or a
 * complete IP header first with IP_RAWOUTPUT / IP_FORWARDING. Always owns
 * `m`. Returns 0 or an errno: EHOSTUNREACH (no route, or a reject
 * route), EMSGSIZE (DF and too big, or more than 65535 bytes), ENOBUFS,
 * EACCES (broadcast without IP_ALLOWBROADCAST), ENETDOWN, EADDRNOTAVAIL (no
 * source address), EINVAL (a raw header that is not one). Blackhole routes
 * swallow the packet and return 0.
 */
export function ipOutput(
  inet: Inet, m: Mbuf, src: number, dst: number, proto: number, ttl: number, tos: number, flags: number,
  mopts: IpMoptions | null = null,
): number {
  const k = inet.kernel;
  const st = inet.ipstat;
  let hlen = IP_HDR_MIN;
  const hdrIncluded = (flags & (IP_RAWOUTPUT | IP_FORWARDING)) !== 0;
  if (hdrIncluded) {
    if (m.len < IP_HDR_MIN || ipVersion(m.buf, m.off) !== IPVERSION) {
      k.mbufs.free(m);
      return EINVAL;
    }
    hlen = ipHlen(m.buf, m.off);
    if (hlen < IP_HDR_MIN || hlen > m.len) {
      k.mbufs.free(m);
      return EINVAL;
    }
    if (m.len > IP_MAXPACKET) {
      k.mbufs.free(m);
      return EMSGSIZE;
    }
    src = ipSrc(m.buf, m.off);
    dst = ipDst(m.buf, m.off);
  } else {
    if (m.len + IP_HDR_MIN > IP_MAXPACKET) {
      k.mbufs.free(m);
      return EMSGSIZE;
    }
    const r = k.mbufs.prepend(m, IP_HDR_MIN);
    if (!r) {
      st.odropped++;
      return ENOBUFS;
    }
    m = r;
  }
  if (inAddrIsMulticast(dst) && !(flags & IP_FORWARDING)) return ipOutputMulticast(inet, m, hlen, src, dst, proto, tos, flags, mopts);
  if (dst === INADDR_BROADCAST && mopts !== null && mopts.ifp !== null && !(flags & IP_FORWARDING)) {
    return ipOutputIfBroadcast(inet, m, mopts.ifp, src, proto, ttl, tos, flags);
  }

  const rt = flags & IP_ROUTETOIF ? connectedRoute(inet, dst) : ipRouteLookup(inet, dst);
  if (!rt) {
    // NetBSD's ip_output says EHOSTUNREACH here ("No route to host", which
    // ping prints and NetBSD's tests/net look for); ENETUNREACH when
    // SO_DONTROUTE finds no interface on the destination's network.
    st.noroute++;
    k.mbufs.free(m);
    return flags & IP_ROUTETOIF ? ENETUNREACH : EHOSTUNREACH;
  }
  return ipOutputRoute(inet, m, rt, hlen, src, dst, proto, ttl, tos, flags);
}

/**
 * The rest of ip_output once the route is known (ipForward looked it up
 * itself). `m` starts at the IP header slot (written here unless hdrIncluded).
 */
export function ipOutputRoute(
  inet: Inet, m: Mbuf, rt: Rtentry, hlen: number, src: number, dst: number, proto: number, ttl: number, tos: number, flags: number,
): number {
  const k = inet.kernel;
  const st = inet.ipstat;
  if (rt.flags & RTF_BLACKHOLE) {
    k.mbufs.free(m);
    return 0;
  }
  if (rt.flags & RTF_REJECT) {
    k.mbufs.free(m);
    return EHOSTUNREACH;
  }
  const ifp = rt.ifp;
  if (!ifp.isUp) {
    k.mbufs.free(m);
    return ENETDOWN;
  }
  let nexthop = rt.flags & RTF_GATEWAY ? rt.gateway : dst;
  rt.use++;

  if (src === 0 && !(flags & IP_FORWARDING)) {
    src = rt.flags & RTF_LOCAL ? dst : ipRouteSource(inet, rt);
    if (src === 0) {
      k.mbufs.free(m);
      return EADDRNOTAVAIL;
    }
    if (flags & IP_RAWOUTPUT) ipSetSrc(m.buf, m.off, src);
  }

  let bcast = false;
  if (!(rt.flags & RTF_LOCAL) && inBroadcast(inet, dst, ifp)) {
    if (!(ifp.flags & IFF_BROADCAST)) {
      k.mbufs.free(m);
      return EADDRNOTAVAIL;
    }
    if (!(flags & IP_ALLOWBROADCAST)) {
      k.mbufs.free(m);
      return EACCES;
    }
    bcast = true;
    nexthop = dst;
    m.flags |= M_BCAST;
  } else {
    m.flags &= ~M_BCAST;
  }

  const buf = m.buf;
  const off = m.off;
  if (!(flags & IP_FORWARDING)) ipOutputHeader(inet, m, flags, tos, ttl, proto, src, dst);

  // A TCP checksum TCP left to the interface (M_CSUM_TCPv4): lo0 takes it
  // (the packet never leaves the host); anything else gets it computed now,
  // before fragmentation copies the data (NetBSD's in_delayed_cksum).
  // An interface with IFCAP_CSUM_TCPv4_Tx fills it itself (virt: the host).
  // A TSO packet's segments are summed where they are cut (shmif does it in software).
  if (m.csumFlags & M_CSUM_TCPv4 && !(ifp.flags & IFF_LOOPBACK || ifp.capenable & IFCAP_CSUM_TCPv4_Tx || (m.csumFlags & M_CSUM_TSOv4 && ifp.capenable & IFCAP_TSOv4))) ipDelayedCksum(m, hlen);
  const mtu = rt.mtu || ifp.mtu;
  // A TSO packet is cut into MTU-sized segments by the interface (NetBSD's
  // ip_output lets M_CSUM_TSOv4 past the MTU check).
  if (m.len <= mtu || (m.csumFlags & M_CSUM_TSOv4 && ifp.capenable & IFCAP_TSOv4)) return ifp.output(ifp, m, AF_INET, nexthop);
  // Too big. Broadcasts are not fragmented (NetBSD), nor DF datagrams
  // (RFC 791; a forwarded one earned ICMP "fragmentation needed" upstream).
  if (bcast || ipOff(buf, off) & IP_DF) {
    st.cantfrag++;
    k.mbufs.free(m);
    return EMSGSIZE;
  }
  return ipFragment(inet, m, hlen, mtu, ifp, nexthop);
}

/**
 * The header of a datagram we send: written whole, or, for IP_RAWOUTPUT
 * (the caller wrote it), finished: length, an ID where it left 0, checksum.
 */
function ipOutputHeader(inet: Inet, m: Mbuf, flags: number, tos: number, ttl: number, proto: number, src: number, dst: number): void {
  const buf = m.buf;
  const off = m.off;
  if (flags & IP_RAWOUTPUT) {
    ipSetLen(buf, off, m.len);
    if (ipId(buf, off) === 0) ipSetId(buf, off, nextId(inet));
    ipSetChecksum(buf, off);
    inet.ipstat.rawout++;
  } else {
    ipWriteHeader(buf, off, tos, m.len, nextId(inet), flags & IP_MTUDISC ? IP_DF : 0, ttl, proto, src, dst);
    // A TSO packet's segments are numbered up from this ID where they are
    // cut (shmif, or the host behind virt): keep those IDs for them.
    if (m.csumFlags & M_CSUM_TSOv4 && m.segsz > 0) {
      const data = m.len - IP_HDR_MIN - ((buf[off + IP_HDR_MIN + 12]! >>> 4) << 2);
      inet.ipId = (inet.ipId + Math.ceil(data / m.segsz) - 1) & 0xffff;
    }
  }
  inet.ipstat.localout++;
}

/**
 * The limited broadcast out of the interface IP_MULTICAST_IF names, as
 * NetBSD's ip_output sends it: no route is needed, so a DHCP client can
 * speak on an interface that has no address yet. Its source may then be
 * 0.0.0.0 (RFC 1122 §3.2.1.3 (a): "this host" while it learns its address;
 * RFC 2131 §4.1). Broadcasts are not fragmented. Owns `m`.
 */
function ipOutputIfBroadcast(inet: Inet, m: Mbuf, ifp: Ifnet, src: number, proto: number, ttl: number, tos: number, flags: number): number {
  const k = inet.kernel;
  if (!ifp.isUp) {
    k.mbufs.free(m);
    return ENETDOWN;
  }
  if (!(ifp.flags & IFF_BROADCAST)) {
    k.mbufs.free(m);
    return EADDRNOTAVAIL;
  }
  if (!(flags & IP_ALLOWBROADCAST)) {
    k.mbufs.free(m);
    return EACCES;
  }
  if (m.len > ifp.mtu) {
    inet.ipstat.cantfrag++;
    k.mbufs.free(m);
    return EMSGSIZE;
  }
  if (src === 0) src = inet.firstAddr(ifp)?.addr ?? 0;
  if (flags & IP_RAWOUTPUT) ipSetSrc(m.buf, m.off, src);
  ipOutputHeader(inet, m, flags, tos, ttl, proto, src, INADDR_BROADCAST);
  m.flags = (m.flags & ~M_MCAST) | M_BCAST;
  return ifp.output(ifp, m, AF_INET, INADDR_BROADCAST);
}

/** A socket's multicast options (the part of struct ip_moptions ip_output reads). */
export interface IpMoptions {
  /** IP_MULTICAST_IF: the interface to send from; null picks it by route. */
  readonly ifp: Ifnet | null;
  /** IP_MULTICAST_TTL (default 1: the link only, RFC 1112 §6.1). */
  readonly ttl: number;
  /** IP_MULTICAST_LOOP (default on): a copy to our own members of the group. */
  readonly loop: boolean;
}

/** IP_DEFAULT_MULTICAST_TTL and IP_DEFAULT_MULTICAST_LOOP (netinet/in.h). */
export const IP_DEFAULT_MULTICAST_TTL = 1;
export const IP_DEFAULT_MULTICAST_LOOP = true;

/**
 * The interface a datagram to `group` leaves by when no IP_MULTICAST_IF
 * says (and where IP_ADD_MEMBERSHIP with INADDR_ANY joins): the route's,
 * as BSD; with no route, the first multicast-capable interface that is up
 * and has an address, so one LAN without a default route works as a user
 * expects (BSD would say ENETUNREACH there). Null when there is none.
 */
export function inMulticastIfp(inet: Inet, group: number): Ifnet | null {
  const rt = ipRouteLookup(inet, group);
  if (rt !== null && !(rt.flags & (RTF_REJECT | RTF_BLACKHOLE))) return rt.ifp;
  for (const ia of inet.addrs) {
    const ifp = ia.ifp;
    if (ifp.isUp && ifp.flags & IFF_MULTICAST && !(ifp.flags & IFF_LOOPBACK)) return ifp;
  }
  return null;
}

/**
 * ip_output's multicast branch: no routing table beyond picking the
 * interface; TTL from the options (the caller's header with IP_RAWOUTPUT);
 * a looped copy when IP_MULTICAST_LOOP is on and the interface has joined
 * the group (ip_mloopback); a TTL of 0 never leaves the host (RFC 1112
 * §6.1), nor does anything sent out lo0; then out as a link multicast,
 * fragmented if need be. Owns `m`.
 */
function ipOutputMulticast(
  inet: Inet, m: Mbuf, hlen: number, src: number, dst: number, proto: number, tos: number, flags: number, mopts: IpMoptions | null,
): number {
  const k = inet.kernel;
  const st = inet.ipstat;
  const ifp = mopts?.ifp ?? inMulticastIfp(inet, dst);
  if (ifp === null || !(ifp.flags & IFF_MULTICAST)) {
    st.noroute++;
    k.mbufs.free(m);
    return ENETUNREACH;
  }
  if (!ifp.isUp) {
    k.mbufs.free(m);
    return ENETDOWN;
  }
  if (src === 0) {
    const ia = inet.firstAddr(ifp);
    if (ia === null) {
      k.mbufs.free(m);
      return EADDRNOTAVAIL;
    }
    src = ia.addr;
    if (flags & IP_RAWOUTPUT) ipSetSrc(m.buf, m.off, src);
  }
  const buf = m.buf;
  const off = m.off;
  let ttl: number;
  if (flags & IP_RAWOUTPUT) {
    ipSetLen(buf, off, m.len);
    if (ipId(buf, off) === 0) ipSetId(buf, off, nextId(inet));
    ipSetChecksum(buf, off);
    ttl = ipTtl(buf, off);
    st.rawout++;
  } else {
    ttl = mopts !== null ? mopts.ttl : IP_DEFAULT_MULTICAST_TTL;
    ipWriteHeader(buf, off, tos, m.len, nextId(inet), flags & IP_MTUDISC ? IP_DF : 0, ttl, proto, src, dst);
  }
  st.localout++;
  m.flags = (m.flags & ~M_BCAST) | M_MCAST;
  if ((mopts !== null ? mopts.loop : IP_DEFAULT_MULTICAST_LOOP) && inMultiLookup(inet, ifp, dst) !== null) {
    ipMloopback(inet, m);
  }
  // As BSD's ip_output: nothing is sent out the loopback interface itself; the looped copy
  // above is all its members get, and only while the interface is in the group.
  if (ttl === 0 || ifp.flags & IFF_LOOPBACK) {
    k.mbufs.free(m);
    return 0;
  }
  const mtu = ifp.mtu;
  if (m.len <= mtu) return ifp.output(ifp, m, AF_INET, dst);
  if (ipOff(buf, off) & IP_DF) {
    st.cantfrag++;
    k.mbufs.free(m);
    return EMSGSIZE;
  }
  return ipFragment(inet, m, hlen, mtu, ifp, dst);
}

/**
 * ip_mloopback: a copy of the whole datagram to lo0's input, marked as
 * looped so ip_input takes it for the group (the members are sockets of
 * this host). At the memory limit the copy is skipped: the wire copy
 * still goes.
 */
function ipMloopback(inet: Inet, m: Mbuf): void {
  const lo0 = inet.ns.lo0;
  if (lo0 === null) return;
  const c = inet.kernel.mbufs.copyin(m.buf, m.off, m.len);
  if (c === null) {
    inet.ipstat.odropped++;
    return;
  }
  c.flags |= M_MCAST;
  lo0.output(lo0, c, AF_INET, ipDst(m.buf, m.off));
}

/** in_delayed_cksum: the TCP checksum of `m` (IP header first, `hlen` long), in software. */
function ipDelayedCksum(m: Mbuf, hlen: number): void {
  const buf = m.buf;
  const off = m.off;
  m.csumFlags &= ~M_CSUM_TCPv4;
  if (m.len < hlen + TCP_HDR_MIN) return;
  tcpSetChecksum(buf, off + hlen, m.len - hlen, ipSrc(buf, off), ipDst(buf, off));
}

/*
 * Options that go into every fragment: those with the "copied" bit
 * (RFC 791 §3.1, the high bit of the type). Returns the bytes written to
 * `to` at `toOff`, padded to a 4-byte multiple with End of Option List.
 */
function ipOptCopy(buf: Uint8Array, off: number, hlen: number, to: Uint8Array, toOff: number): number {
  let n = 0;
  let i = IP_HDR_MIN;
  while (i < hlen) {
    const opt = buf[off + i]!;
    if (opt === 0) break; // EOL
    if (opt === 1) {
      i++; // NOP is not copied
      continue;
    }
    if (i + 1 >= hlen) break;
    const olen = buf[off + i + 1]!;
    if (olen < 2 || i + olen > hlen) break;
    if (opt & 0x80) {
      to.set(buf.subarray(off + i, off + i + olen), toOff + n);
      n += olen;
    }
    i += olen;
  }
  while (n & 3) to[toOff + n++] = 0;
  return n;
}

/**
 * ip_fragment (RFC 791 §3.2, "An Example Fragmentation Procedure"): the
 * first fragment keeps `m` (trimmed), the others are copies with the copied
 * options. Offsets add to the datagram's own (we may be re-fragmenting a
 * fragment we forward), and the last keeps its MF bit.
 */
function ipFragment(inet: Inet, m: Mbuf, hlen: number, mtu: number, ifp: Ifnet, nexthop: number): number {
  const k = inet.kernel;
  const st = inet.ipstat;
  const buf = m.buf;
  const off = m.off;
  const dataLen = m.len - hlen;
  const offWord = ipOff(buf, off);
  const baseOff = (offWord & IP_OFFMASK) << 3;
  const lastMf = offWord & IP_MF;
  const keepFlags = offWord & ~(IP_MF | IP_OFFMASK);
  const firstLen = (mtu - hlen) & ~7;
  // Non-first fragments carry only the copied options.
  // The copied options (at most 40 bytes); datagrams with options are rare.
  const optScratch = new Uint8Array(40);
  const optLen = hlen > IP_HDR_MIN ? ipOptCopy(buf, off, hlen, optScratch, 0) : 0;
  const fhlen = IP_HDR_MIN + optLen;
  const restLen = (mtu - fhlen) & ~7;
  if (firstLen < 8 || restLen < 8) {
    st.cantfrag++;
    k.mbufs.free(m);
    return EMSGSIZE;
  }

  const frags: Mbuf[] = [];
  for (let pos = firstLen; pos < dataLen; pos += restLen) {
    const len = Math.min(restLen, dataLen - pos);
    const f = k.mbufs.get(fhlen + len, MAX_LINKHDR);
    if (!f) {
      for (const g of frags) k.mbufs.free(g);
      k.mbufs.free(m);
      st.odropped++;
      return ENOBUFS;
    }
    const fb = f.buf;
    const fo = f.off;
    fb.set(buf.subarray(off, off + IP_HDR_MIN), fo);
    if (optLen) fb.set(optScratch.subarray(0, optLen), fo + IP_HDR_MIN);
    fb[fo] = (IPVERSION << 4) | (fhlen >>> 2);
    ipSetLen(fb, fo, fhlen + len);
    const more = pos + len < dataLen ? IP_MF : lastMf;
    ipSetOff(fb, fo, keepFlags | more | ((baseOff + pos) >>> 3));
    fb.set(buf.subarray(off + hlen + pos, off + hlen + pos + len), fo + fhlen);
    ipSetChecksum(fb, fo);
    f.flags = m.flags;
    f.rcvif = m.rcvif;
    frags.push(f);
  }
  m.len = hlen + firstLen;
  ipSetLen(buf, off, m.len);
  ipSetOff(buf, off, keepFlags | IP_MF | (baseOff >>> 3));
  ipSetChecksum(buf, off);
  st.fragmented++;
  st.ofragments += frags.length + 1;

  let err = ifp.output(ifp, m, AF_INET, nexthop);
  for (const f of frags) {
    if (err) k.mbufs.free(f);
    else err = ifp.output(ifp, f, AF_INET, nexthop);
  }
  return err;
}
