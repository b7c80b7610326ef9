/*
 * IPv6 output (NetBSD netinet6/ip6_output.c, in6_src.c).
 *
 *   TCP (In6Ops.output) / icmp6 → ip6Output: route lookup (rt6, longest
 *     prefix) → reject / blackhole → source address (in6SelectSrc when the
 *     caller left it unspecified) → header into headroom (hop limit, traffic
 *     class) → fits the path MTU? → ifp.output with the next hop in
 *     inet6.nexthop (etherOutput → nd6Resolve, or lo0)
 *   nd6 / multicast → ip6OutputIf: the same, on a given interface, no route.
 *
 * Local destinations reach lo0 through the RTF_LOCAL /128 routes in6.ts adds
 * with every address, as IPv4's do.
 *
 * A packet larger than the path MTU is fragmented here (RFC 8200 §4.5,
 * frag6.ts): UDP sends datagrams up to 65,527 bytes; TCP sizes its
 * segments from the path MTU and ICMPv6 errors are cut to the minimum MTU,
 * so for them it does not happen.
 *
 * Scope zones (RFC 4007): the routing table has none (one fe80::/64 route,
 * the first interface's). A link-local destination given with its zone
 * (sin6_scope_id, `fe80::1%shmif0`; the receiving interface for a reply)
 * goes straight out of that interface (`zone`, an interface index);
 * without one, where the route says.
 */
import { EHOSTUNREACH, EMSGSIZE, ENETDOWN, ENETUNREACH, ENOBUFS, ENXIO, EADDRNOTAVAIL } from '../../kern/errno.js';
import { M_CSUM_TCPv6, M_CSUM_TSOv6, M_MCAST, type Mbuf } from '../../kern/mbuf.js';
import { AF_INET6 } from '../../kern/sys.js';
import { IFCAP_CSUM_TCPv6_Tx, IFCAP_TSOv6, IFF_LOOPBACK, type Ifnet } from '../interface.js';
import { RTF_BLACKHOLE, RTF_GATEWAY, RTF_LOCAL, RTF_REJECT } from '../route.js';
import {
  in6CommonPrefixLen, in6Copy, in6IsLinkLocal, in6IsLoopback, in6IsMulticast, in6IsUnspecified, in6MulticastScope,
  IPV6_ADDR_SCOPE_LINKLOCAL,
} from '../wire/in6addr.js';
import { IP6_HDR_LEN, IP6_OFF_DST, IP6_OFF_SRC, IPV6_MAXPACKET, IPV6_MMTU, ip6Cksum, ip6WriteHeader } from '../wire/ipv6.js';
import { IPPROTO_TCP } from '../wire/ipv4.js';
import { ip6Fragment } from './frag6.js';
import { IN6_IFF_NOTREADY, type In6Ifaddr, type Inet6 } from './inet6.js';
import type { Rtentry6 } from './route6.js';

/** The MTU towards the address at b[off]: the route's own, else its interface's; 0 without a route. */
export function ip6RouteMtu(inet6: Inet6, b: Uint8Array, off: number): number {
  const rt = inet6.rt6.lookup(b, off);
  return rt === null ? 0 : rt.mtu || rt.ifp.mtu;
}

/** 2 for link-local unicast and link-scope multicast, 1 for ::1, else 14 (global): RFC 6724 §3.1's scopes. */
function scopeOf(b: Uint8Array, off: number): number {
  if (in6IsMulticast(b, off)) return in6MulticastScope(b, off);
  if (in6IsLinkLocal(b, off) || in6IsLoopback(b, off)) return IPV6_ADDR_SCOPE_LINKLOCAL;
  return 0xe;
}

/**
 * The source for a destination reached over `ifp` (RFC 6724 §5, the rules
 * that matter to a host with static addresses, in their order): an address
 * of the destination's scope (rule 2), on the outgoing interface (rule 5),
 * sharing the longest prefix with the destination (rule 8).
 */
export function in6SourceFor(inet6: Inet6, ifp: Ifnet, dst: Uint8Array, dOff: number): In6Ifaddr | null {
  const want = scopeOf(dst, dOff);
  let best: In6Ifaddr | null = null;
  let bestScore = -1;
  for (const ia of inet6.addrs) {
    // A tentative or duplicated address is no candidate (RFC 4862 §5.4), nor
    // a loopback's (::1, fe80::1%lo0) for a packet that leaves the node.
    if (ia.flags & IN6_IFF_NOTREADY || (ia.ifp.flags & IFF_LOOPBACK && !(ifp.flags & IFF_LOOPBACK))) continue;
    const onIf = ia.ifp === ifp;
    const sameScope = scopeOf(ia.addr, 0) === want;
    const score = (sameScope ? 1024 : 0) + (onIf ? 512 : 0) + in6CommonPrefixLen(ia.addr, 0, dst, dOff);
    if (score > bestScore) {
      best = ia;
      bestScore = score;
    }
  }
  return best;
}

/**
 * in6_selectsrc: the source address for the destination at dst[dOff] into
 * `out`. Through a local route the destination itself (we are talking to
 * ourselves); otherwise the route's address while it is ours, else the
 * RFC 6724 choice on the route's interface. False when nothing routes there.
 */
export function in6SelectSrc(inet6: Inet6, dst: Uint8Array, dOff: number, out: Uint8Array, zone = 0): boolean {
  const zif = zoneIfp(inet6, dst, dOff, zone);
  if (zif !== null) {
    const ia = zif === undefined ? null : in6SourceFor(inet6, zif, dst, dOff);
    if (ia === null) return false;
    in6Copy(out, 0, ia.addr, 0);
    return true;
  }
  const rt = inet6.rt6.lookup(dst, dOff);
  if (rt === null) return false;
  return routeSource(inet6, rt, dst, dOff, out);
}

function routeSource(inet6: Inet6, rt: Rtentry6, dst: Uint8Array, dOff: number, out: Uint8Array): boolean {
  if (rt.flags & RTF_LOCAL) {
    in6Copy(out, 0, dst, dOff);
    return true;
  }
  if (rt.ifaddr !== null && inet6.findLocal(rt.ifaddr, 0) !== null) {
    in6Copy(out, 0, rt.ifaddr, 0);
    return true;
  }
  const ia = in6SourceFor(inet6, rt.ifp, dst, dOff);
  if (ia === null) return false;
  in6Copy(out, 0, ia.addr, 0);
  return true;
}

/**
 * The interface a scoped destination names: null when the destination is
 * not of link scope (or no zone was given), undefined for a zone that
 * names no interface.
 */
function zoneIfp(inet6: Inet6, dst: Uint8Array, dOff: number, zone: number): Ifnet | null | undefined {
  if (zone === 0 || scopeOf(dst, dOff) > IPV6_ADDR_SCOPE_LINKLOCAL) return null;
  return inet6.ns.ifs.byIndex[zone] ?? undefined;
}

/** Where ip6Output puts a source it chose (written into the header at once). */

/**
 * ip6_output. `m` holds the upper-layer header and data (with headroom);
 * the IPv6 header goes in front. An unspecified source is chosen here.
 * Always owns `m`. Returns 0 or an errno: ENETUNREACH (no route),
 * EHOSTUNREACH (reject route), EMSGSIZE (larger than the path MTU or than
 * IPv6 carries), ENOBUFS, ENETDOWN, EADDRNOTAVAIL (no source address).
 * Blackhole routes swallow the packet and return 0.
 */
export function ip6Output(
  inet6: Inet6, m: Mbuf, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, nxt: number, hlim: number, tclass: number,
  zone = 0,
): number {
  const k = inet6.kernel;
  const st = inet6.ip6stat;
  if (m.len > IPV6_MAXPACKET) {
    k.mbufs.free(m);
    return EMSGSIZE;
  }
  const zif = zoneIfp(inet6, dst, dstOff, zone);
  if (zif !== null) return ip6OutputZone(inet6, m, zif, src, srcOff, dst, dstOff, nxt, hlim, tclass);
  const rt = inet6.rt6.lookup(dst, dstOff);
  if (rt === null) {
    st.noroute++;
    k.mbufs.free(m);
    return ENETUNREACH;
  }
  if (rt.flags & RTF_BLACKHOLE) {
    k.mbufs.free(m);
    return 0;
  }
  if (rt.flags & RTF_REJECT) {
    k.mbufs.free(m);
    return EHOSTUNREACH;
  }
  if (in6IsUnspecified(src, srcOff)) {
    const chosenSrc = inet6.ns.scratch.ip6Src;
    if (!routeSource(inet6, rt, dst, dstOff, chosenSrc)) {
      k.mbufs.free(m);
      return EADDRNOTAVAIL;
    }
    src = chosenSrc;
    srcOff = 0;
  }
  rt.use++;
  const nexthop = rt.flags & RTF_GATEWAY && rt.gateway !== null ? rt.gateway : dst;
  const nhOff = nexthop === dst ? dstOff : 0;
  return ip6Send(inet6, m, rt.ifp, rt.mtu || rt.ifp.mtu, src, srcOff, dst, dstOff, nexthop, nhOff, nxt, hlim, tclass);
}

/** A link-scope destination in the zone of `ifp` (undefined: no such interface): out of it, to the neighbor itself. Owns `m`. */
function ip6OutputZone(
  inet6: Inet6, m: Mbuf, ifp: Ifnet | undefined, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
  nxt: number, hlim: number, tclass: number,
): number {
  if (ifp === undefined) {
    inet6.kernel.mbufs.free(m);
    return ENXIO;
  }
  if (in6IsUnspecified(src, srcOff)) {
    const ia = in6SourceFor(inet6, ifp, dst, dstOff);
    if (ia === null) {
      inet6.kernel.mbufs.free(m);
      return EADDRNOTAVAIL;
    }
    src = ia.addr;
    srcOff = 0;
  }
  return ip6Send(inet6, m, ifp, ifp.mtu, src, srcOff, dst, dstOff, dst, dstOff, nxt, hlim, tclass);
}

/**
 * ip6_output with IPV6_MULTICAST_IF / a link-local scope: straight out of
 * `ifp` to the on-link `dst` (Neighbor Discovery, replies to link-local
 * and multicast addresses). Owns `m`.
 */
export function ip6OutputIf(
  inet6: Inet6, m: Mbuf, ifp: Ifnet, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, nxt: number, hlim: number, tclass: number,
): number {
  if (m.len > IPV6_MAXPACKET) {
    inet6.kernel.mbufs.free(m);
    return EMSGSIZE;
  }
  return ip6Send(inet6, m, ifp, ifp.mtu, src, srcOff, dst, dstOff, dst, dstOff, nxt, hlim, tclass);
}

/** The TCP checksum of the IPv6 packet `m` (no extension headers: TCP output adds none), as the interface would have. */
function ip6DelayedCksum(m: Mbuf): void {
  const b = m.buf;
  const o = m.off;
  const th = o + IP6_HDR_LEN;
  b[th + 16] = 0;
  b[th + 17] = 0;
  const c = ip6Cksum(b, th, m.len - IP6_HDR_LEN, IPPROTO_TCP, b, o + IP6_OFF_SRC, b, o + IP6_OFF_DST);
  b[th + 16] = c >>> 8;
  b[th + 17] = c & 0xff;
  m.csumFlags &= ~(M_CSUM_TCPv6 | M_CSUM_TSOv6);
}

function ip6Send(
  inet6: Inet6, m: Mbuf, ifp: Ifnet, mtu: number, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
  nexthop: Uint8Array, nhOff: number, nxt: number, hlim: number, tclass: number,
): number {
  const k = inet6.kernel;
  const st = inet6.ip6stat;
  if (!ifp.isUp) {
    k.mbufs.free(m);
    return ENETDOWN;
  }
  const plen = m.len;
  const r = k.mbufs.prepend(m, IP6_HDR_LEN);
  if (r === null) {
    st.odropped++;
    return ENOBUFS;
  }
  m = r;
  ip6WriteHeader(m.buf, m.off, tclass, 0, plen, nxt, hlim, src, srcOff, dst, dstOff);
  st.localout++;
  if (in6IsMulticast(dst, dstOff)) m.flags |= M_MCAST;
  else m.flags &= ~M_MCAST;
  if (m.csumFlags & (M_CSUM_TCPv6 | M_CSUM_TSOv6)) {
    // TCP left its checksum (and with TSO the cutting) to the interface
    // it routed by; one that cannot, or a packet to be fragmented, gets
    // both done here (NetBSD's in6_delayed_cksum).
    if (m.csumFlags & M_CSUM_TSOv6 && ifp.capenable & IFCAP_TSOv6) {
      in6Copy(inet6.nexthop, 0, nexthop, nhOff);
      return ifp.output(ifp, m, AF_INET6, 0);
    }
    if (!(ifp.capenable & IFCAP_CSUM_TCPv6_Tx) || m.len > mtu) ip6DelayedCksum(m);
  }
  if (m.len > mtu) {
    // RFC 8200 §4.5: the source fragments. A link below the minimum MTU cannot carry even that.
    if (mtu < IPV6_MMTU) {
      st.toobig++;
      k.mbufs.free(m);
      return EMSGSIZE;
    }
    return ip6Fragment(inet6, m, mtu, ifp, nexthop, nhOff);
  }
  in6Copy(inet6.nexthop, 0, nexthop, nhOff);
  return ifp.output(ifp, m, AF_INET6, 0);
}
