/*
 * IPv6 addresses on interfaces (NetBSD netinet6/in6.c: in6_control,
 * in6_update_ifa, in6_purgeaddr).
 *
 *   ifconfig shmif0 inet6 2001:db8::1/64
 *     → ifioctl → ns.familyIoctl SIOCAIFADDR_IN6 → in6Control → in6AddAddress:
 *         bring the interface up (the driver may refuse: ENXIO without a bus),
 *         add the address (beside the others: an interface has several IPv6
 *         addresses, and `ifconfig inet6` adds one as NetBSD's does),
 *         the connected route   2001:db8::/64  link#2  U    shmif0
 *         and the local route   2001:db8::1    link#2  UHl  lo0
 *         join all-nodes and the address's solicited-node group (mld6.ts)
 *   ifconfig shmif0 inet6 2001:db8::1 delete
 *     → SIOCDIFADDR_IN6 → in6PurgeAddr: its routes and neighbor entries go.
 *   interface detach → in6IfDetach.
 *
 * A new address is tentative while Duplicate Address Detection runs
 * (nd6_dad.ts; not on loopbacks, nor with dad_count 0 or the NODAD flag).
 * An interface coming up gets its link-local address (in6_ifattach.ts).
 *
 * Lifetimes (pltime, vltime, deprecated) are in6_lifetime.ts's. There are no scope zones in the routing table: a
 * second interface's link-local prefix shares the first one's connected
 * route, and a link-local destination names its interface by its zone
 * (sin6_scope_id, ip6Output's `zone`) or goes where that route does.
 */
import { AF_INET6 } from '../../kern/sys.js';
import { RTM_DELADDR, RTM_NEWADDR, rtsockAddr, rtsockListening, saIn6, saMask6 } from '../rtsock.js';
import { Errno, EADDRNOTAVAIL, EEXIST, EINVAL, ENOTTY } from '../../kern/errno.js';
import { defineKernelState } from '../../kern/kernel.js';
import { IFF_LOOPBACK, IFF_MULTICAST, IFF_UP, type Ifnet } from '../interface.js';
import type { In6AddrInfo } from '../ioctl.js';
import { RTF_CONNECTED, RTF_HOST, RTF_LOCAL, RTF_UP } from '../route.js';
import {
  formatIn6Addr, in6Equal, in6IsMulticast, in6IsUnspecified, in6IsV4Mapped, in6MaskInto, in6PrefixEqual, in6SolicitedNode,
  parseIn6Addr,
} from '../wire/in6addr.js';
import { IN6_IFF_NODAD, IN6_IFF_TENTATIVE, In6Ifaddr, type Inet6 } from './inet6.js';
import { In6Multi, in6AddMulti, in6DelMulti, in6JoinAllNodes, in6LeaveAllNodes, in6MultiIfDetach } from './mld6.js';
import { nd6Cache, nd6Purge } from './nd6.js';
import { nd6DadStart, nd6DadStop, nd6DadWanted } from './nd6_dad.js';
import { Rtentry6 } from './route6.js';
import { IN6_IFF_DEPRECATED, ND6_INFINITE_LIFETIME, in6Lifetimes, in6SetLifetimes } from './in6_lifetime.js';


/** The family ioctl handler for SIOCAIFADDR_IN6 and SIOCDIFADDR_IN6. Throws Errno. */
export function in6Control(inet6: Inet6, ifp: Ifnet, cmd: string, arg: Record<string, unknown>): unknown {
  switch (cmd) {
    case 'SIOCAIFADDR_IN6': {
      const addr = argAddr(arg.addr);
      let plen = 64;
      if (arg.prefixlen !== undefined && arg.prefixlen !== null) {
        const p = arg.prefixlen;
        if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 128) throw new Errno(EINVAL);
        plen = p;
      }
      const f = arg.flags ?? 0;
      if (typeof f !== 'number' || !Number.isInteger(f)) throw new Errno(EINVAL);
      // ifra_lifetime in seconds (absent: infinite); a valid lifetime of 0 or
      // one shorter than the preferred is EINVAL, as NetBSD's in6_update_ifa.
      const pltime = argLifetime(arg.pltime);
      const vltime = argLifetime(arg.vltime);
      if (vltime === 0 || pltime > vltime) throw new Errno(EINVAL);
      // An anycast address is not checked for duplicates (RFC 4862 §5.4).
      const ia = in6AddAddress(inet6, ifp, addr, plen, f & IN6_IFF_ANYCAST ? IN6_IFF_NODAD : f & IN6_IFF_NODAD);
      ia.flags = (ia.flags & ~IN6_IFF_ANYCAST) | (f & IN6_IFF_ANYCAST);
      // The DEPRECATED flag from the user means a preferred lifetime of 0 (NetBSD's backward compatibility).
      in6SetLifetimes(inet6, ia, f & IN6_IFF_DEPRECATED ? 0 : pltime, vltime);
      return undefined;
    }
    case 'SIOCDIFADDR_IN6': {
      const addr = argAddr(arg.addr);
      const ia = inet6.ifaddrOn(ifp, addr);
      if (ia === null) throw new Errno(EADDRNOTAVAIL);
      in6PurgeAddr(inet6, ia);
      return undefined;
    }
    default:
      throw new Errno(ENOTTY);
  }
}

/** IN6_IFF_ANYCAST (netinet6/in6_var.h): a flag SIOCAIFADDR_IN6 takes from the user, with IN6_IFF_DEPRECATED. */
const IN6_IFF_ANYCAST = 0x01;

function argLifetime(v: unknown): number {
  if (v === undefined || v === null) return ND6_INFINITE_LIFETIME;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > ND6_INFINITE_LIFETIME) throw new Errno(EINVAL);
  return v;
}

function argAddr(v: unknown): Uint8Array {
  const a = typeof v === 'string' ? parseIn6Addr(v.replace(/%.*$/, '')) : null;
  if (a === null) throw new Errno(EINVAL);
  return a;
}

/**
 * Add an address, or change the prefix length of one the interface has.
 * Everything that can fail is checked before anything changes. A new
 * address starts DAD `dadDelay` ms from now (NetBSD in6_update_ifa: one
 * tick for an address the user adds) unless `flags` has IN6_IFF_NODAD.
 */
export function in6AddAddress(inet6: Inet6, ifp: Ifnet, addr: Uint8Array, plen: number, flags = 0, dadDelay = 1): In6Ifaddr {
  if (in6IsUnspecified(addr, 0) || in6IsMulticast(addr, 0) || in6IsV4Mapped(addr, 0)) throw new Errno(EINVAL);
  if (!Number.isInteger(plen) || plen < 0 || plen > 128) throw new Errno(EINVAL);
  for (const other of inet6.addrs) {
    if (other.ifp !== ifp && in6Equal(other.addr, 0, addr, 0)) throw new Errno(EEXIST);
  }
  if (!ifp.isUp) inet6.ns.ifs.setFlags(ifp, ifp.flags | IFF_UP);
  let ia = inet6.ifaddrOn(ifp, addr);
  if (ia !== null) {
    in6RemoveRoutes(inet6, ia);
    ia.prefixLen = plen;
  } else {
    // RFC 4862 §5.4: tentative until DAD says it is unique; the
    // solicited-node group is joined first so that a defender's answer
    // and another node's probe reach us (§5.4.2).
    const dad = nd6DadWanted(inet6, ifp, flags);
    ia = new In6Ifaddr(ifp, addr.slice(), plen, dad ? IN6_IFF_TENTATIVE : 0);
    inet6.addrs.push(ia);
    ifp.addrs.push(ia);
    in6JoinAddrGroups(inet6, ia);
    in6AddRoutes(inet6, ia);
    in6AddrMsg(inet6, RTM_NEWADDR, ia);
    if (dad) nd6DadStart(inet6, ia, dadDelay);
    return ia;
  }
  in6AddRoutes(inet6, ia);
  return ia;
}

/** RTM_NEWADDR or RTM_DELADDR for `ia` to the routing sockets (rt_addrmsg). */
function in6AddrMsg(inet6: Inet6, type: number, ia: In6Ifaddr): void {
  if (!rtsockListening(inet6.kernel)) return;
  rtsockAddr(inet6.kernel, type, AF_INET6, ia.ifp, saIn6(ia.addr), saMask6(ia.prefixLen), null, ia.flags);
}

/** The connected prefix route (unless another address has it, or on a loopback, or a /128) and the local /128 via lo0. */
function in6AddRoutes(inet6: Inet6, ia: In6Ifaddr): void {
  const rt6 = inet6.rt6;
  const ifp = ia.ifp;
  if (!(ifp.flags & IFF_LOOPBACK) && ia.prefixLen < 128 && rt6.exact(ia.addr, ia.prefixLen) === null) {
    const net = new Uint8Array(16);
    in6MaskInto(ia.addr, 0, ia.prefixLen, net, 0);
    rt6.add(new Rtentry6(net, ia.prefixLen, null, RTF_UP | RTF_CONNECTED, ifp, ia.addr));
  }
  if (rt6.exact(ia.addr, 128) === null) {
    const lo0 = inet6.ns.lo0 ?? ifp;
    const rt = new Rtentry6(ia.addr.slice(), 128, null, RTF_UP | RTF_HOST | RTF_LOCAL, lo0, ia.addr);
    if (ifp.flags & IFF_LOOPBACK) rt.mtu = ifp.mtu;
    rt6.add(rt);
  }
}

/** Remove the routes of `ia`, handing its prefix to another address that has it. */
function in6RemoveRoutes(inet6: Inet6, ia: In6Ifaddr): void {
  const rt6 = inet6.rt6;
  const local = rt6.exact(ia.addr, 128);
  if (local !== null && local.flags & RTF_LOCAL && local.ifaddr === ia.addr) rt6.delete(ia.addr, 128);
  if (ia.prefixLen === 128) return;
  const conn = rt6.exact(ia.addr, ia.prefixLen);
  if (conn !== null && conn.flags & RTF_CONNECTED && conn.ifaddr === ia.addr) {
    rt6.delete(conn.dst, conn.plen);
    for (const other of inet6.addrs) {
      if (other !== ia && other.prefixLen === ia.prefixLen && in6PrefixEqual(other.addr, 0, ia.addr, 0, ia.prefixLen) &&
          !(other.ifp.flags & IFF_LOOPBACK)) {
        const net = new Uint8Array(16);
        in6MaskInto(other.addr, 0, other.prefixLen, net, 0);
        rt6.add(new Rtentry6(net, other.prefixLen, null, RTF_UP | RTF_CONNECTED, other.ifp, other.addr));
        break;
      }
    }
  }
}

/** Remove an address: its routes, the neighbor entries only its prefix covered, the address. */
export function in6PurgeAddr(inet6: Inet6, ia: In6Ifaddr): void {
  nd6DadStop(inet6, ia);
  in6AddrMsg(inet6, RTM_DELADDR, ia);
  in6RemoveRoutes(inet6, ia);
  let i = inet6.addrs.indexOf(ia);
  if (i >= 0) inet6.addrs.splice(i, 1);
  const ifp = ia.ifp;
  i = ifp.addrs.indexOf(ia);
  if (i >= 0) ifp.addrs.splice(i, 1);
  in6LeaveAddrGroups(inet6, ia);
  for (const rt of inet6.rt6.all()) if (rt.ifaddr === ia.addr) rt.ifaddr = null;
  const cache = nd6Cache(inet6);
  for (const e of cache.entries()) {
    if (e.ifp !== ifp || !in6PrefixEqual(e.addr, 0, ia.addr, 0, ia.prefixLen)) continue;
    if (inet6.addrs.some((o) => o.ifp === ifp && in6PrefixEqual(e.addr, 0, o.addr, 0, o.prefixLen))) continue;
    cache.remove(e);
  }
  inet6.rt6.generation++;
}

/** The interface is going away: every address, route and neighbor entry of it. */
export function in6IfDetach(inet6: Inet6, ifp: Ifnet): void {
  for (const ia of inet6.addrs.filter((a) => a.ifp === ifp)) in6PurgeAddr(inet6, ia);
  inet6.rt6.purge((rt) => rt.ifp === ifp);
  nd6Purge(inet6, ifp);
  in6MultiIfDetach(inet6, ifp);
}

/*
 * The groups an address brings (in6_ifattach, in6_update_ifa): all-nodes
 * on its interface (once) and its solicited-node group, so the driver's
 * filter hears Neighbor Discovery for it (RFC 4861 §7.2.1) and MLD reports
 * the latter. They go with the address.
 */
const SOLICITED = defineKernelState('IPv6 solicited-node memberships', () => new WeakMap<In6Ifaddr, In6Multi>());

function in6JoinAddrGroups(inet6: Inet6, ia: In6Ifaddr): void {
  const ifp = ia.ifp;
  if (!(ifp.flags & IFF_MULTICAST)) return;
  in6JoinAllNodes(inet6, ifp);
  const sol = new Uint8Array(16);
  in6SolicitedNode(ia.addr, 0, sol, 0);
  SOLICITED.get(inet6.kernel).set(ia, in6AddMulti(inet6, ifp, sol));
}

function in6LeaveAddrGroups(inet6: Inet6, ia: In6Ifaddr): void {
  const solicited = SOLICITED.get(inet6.kernel);
  const inm = solicited.get(ia);
  if (inm !== undefined) {
    solicited.delete(ia);
    in6DelMulti(inet6, inm);
  }
  if (!inet6.addrs.some((o) => o.ifp === ia.ifp)) in6LeaveAllNodes(inet6, ia.ifp);
}

/** SIOCGIFCONF's view of an interface's IPv6 addresses. */
export function in6AddrInfos(inet6: Inet6, ifp: Ifnet): In6AddrInfo[] {
  const out: In6AddrInfo[] = [];
  for (const ia of inet6.addrs) {
    if (ia.ifp !== ifp) continue;
    const ll = ia.addr[0] === 0xfe && (ia.addr[1]! & 0xc0) === 0x80;
    const { pltime, vltime } = in6Lifetimes(inet6, ia);
    out.push({ addr: formatIn6Addr(ia.addr), prefixLen: ia.prefixLen, flags: ia.flags, scopeId: ll ? ifp.index : 0, pltime, vltime });
  }
  return out;
}
