/*
 * The IPv6 side of the routing socket (NetBSD net/rtsock.c + rtrequest for
 * AF_INET6): `route add -inet6` and friends as Rt6Msg values, and the dump
 * `netstat -rn -f inet6` reads, in the same RouteInfo shape as IPv4's.
 *
 *   sys.ext('rt6msg', { type: 'add', dst: 'default', gateway: 'fd00::1' })
 *     → rt6msg → (gateway on a connected prefix, else ENETUNREACH)
 *     → rt6.add with RTF_UP | RTF_GATEWAY | RTF_STATIC
 *   sys.ext('rt6dump') → RouteInfo[]
 */
import { Errno, EINVAL, ENETUNREACH, ENXIO, ESRCH } from '../../kern/errno.js';
import { IFF_LOOPBACK, type Ifnet } from '../interface.js';
import type { RouteInfo } from '../ioctl.js';
import { RTF_BLACKHOLE, RTF_CONNECTED, RTF_DONE, RTF_GATEWAY, RTF_HOST, RTF_LOCAL, RTF_REJECT, RTF_STATIC, RTF_UP } from '../route.js';
import { formatIn6Addr, in6Equal, in6IsLinkLocal, in6IsLoopback, in6IsMulticast, parseIn6Addr } from '../wire/in6addr.js';
import type { Inet6 } from './inet6.js';
import { Rtentry6 } from './route6.js';
import { nd6PurgeRoute } from './nd6.js';

/** A routing message for IPv6 (struct rt_msghdr with sockaddr_in6s). */
export interface Rt6Msg {
  type: 'add' | 'delete' | 'change' | 'get';
  /** Destination address, or 'default' (::/0). */
  dst: string;
  /** Prefix length; absent: 128 (a host), or 0 for 'default'. */
  prefixLen?: number;
  /** Next hop (RTF_GATEWAY), or absent for an interface route. */
  gateway?: string;
  /** Interface for an interface route. */
  ifname?: string;
  /** RTF_REJECT, RTF_BLACKHOLE. */
  flags?: number;
  mtu?: number;
}

const RTF_USERFLAGS = RTF_REJECT | RTF_BLACKHOLE | RTF_STATIC | RTF_CONNECTED;
/** The flags `route change` sets or clears (route(8) names them with its mask). */
const RTF_CHANGEABLE = RTF_REJECT | RTF_BLACKHOLE | RTF_STATIC;

interface NextHop6 {
  ifp: Ifnet;
  gateway: Uint8Array | null;
  ifaddr: Uint8Array | null;
}

/**
 * Where a route goes (rtrequest's ifa_ifwithroute): a gateway must be on a
 * link we are on (NetBSD: ENETUNREACH otherwise), except a loopback or own
 * address, which makes a gateway route through lo0 (`::/104 ::1 -reject`
 * from /etc/rc.d/network); an interface name makes an interface route.
 */
function nextHop6(inet6: Inet6, msg: Rt6Msg, dst: Uint8Array, plen: number, flags: number): NextHop6 {
  const rt6 = inet6.rt6;
  const lo0 = inet6.ns.lo0;
  if (msg.gateway !== undefined) {
    const gw = addr(msg.gateway);
    const own = inet6.findLocal(gw, 0);
    if ((own !== null || in6IsLoopback(gw, 0)) && lo0 !== null) return { ifp: lo0, gateway: gw, ifaddr: gw };
    const via = rt6.lookup(gw, 0);
    if (via === null || via.flags & (RTF_GATEWAY | RTF_LOCAL | RTF_REJECT | RTF_BLACKHOLE) || in6Equal(gw, 0, dst, 0) && plen === 128) {
      throw new Errno(ENETUNREACH);
    }
    // The source stays the output path's choice (RFC 6724); route get shows one (route6Info).
    return { ifp: via.ifp, gateway: gw, ifaddr: null };
  }
  if (msg.ifname !== undefined) {
    const ifp = inet6.ns.ifs.get(msg.ifname);
    if (ifp === undefined) throw new Errno(ENXIO);
    return { ifp, gateway: null, ifaddr: null };
  }
  if (flags & (RTF_REJECT | RTF_BLACKHOLE) && lo0 !== null) return { ifp: lo0, gateway: null, ifaddr: null };
  throw new Errno(EINVAL);
}

/** A global address on the interface, for a route's local address (else null: chosen at output). */
function ifaddrOn(inet6: Inet6, ifp: Ifnet): Uint8Array | null {
  for (const ia of inet6.addrs) if (ia.ifp === ifp && !in6IsLinkLocal(ia.addr, 0)) return ia.addr;
  return null;
}

function addr(s: unknown): Uint8Array {
  const a = typeof s === 'string' ? parseIn6Addr(s) : null;
  if (a === null) throw new Errno(EINVAL);
  return a;
}

/** One IPv6 route as the tools see it (connected routes show C, as rtdump does for IPv4). */
export function route6Info(inet6: Inet6, rt: Rtentry6, extraFlags = 0): RouteInfo {
  let gw: string;
  if (rt.flags & RTF_GATEWAY && rt.gateway !== null) gw = formatIn6Addr(rt.gateway);
  else {
    let ifp = rt.ifp;
    if (rt.flags & RTF_LOCAL) {
      const ia = inet6.findLocal(rt.dst, 0);
      if (ia !== null) ifp = ia.ifp;
    }
    gw = ifp.flags & IFF_LOOPBACK ? ifp.name : `link#${ifp.index}`;
  }
  return {
    dst: rt.plen === 0 ? 'default' : formatIn6Addr(rt.dst),
    prefixLen: rt.plen,
    gateway: gw,
    flags: (rt.flags | extraFlags) >>> 0,
    refs: 0,
    use: rt.use,
    mtu: rt.mtu,
    ifname: rt.ifp.name,
    ifaddr: rt.ifaddr !== null ? formatIn6Addr(rt.ifaddr) : (a => a && formatIn6Addr(a))(ifaddrOn(inet6, rt.ifp)),
  };
}

export function rt6dump(inet6: Inet6): RouteInfo[] {
  return inet6.rt6.all().map((rt) => route6Info(inet6, rt));
}

/** Handle one message; `get` answers the route a packet to `dst` would take. Throws Errno. */
export function rt6msg(inet6: Inet6, msg: Rt6Msg): RouteInfo | undefined {
  if (typeof msg !== 'object' || msg === null) throw new Errno(EINVAL);
  const isDefault = msg.dst === 'default';
  const dst = isDefault ? new Uint8Array(16) : addr(msg.dst);
  const plen = msg.prefixLen ?? (isDefault ? 0 : 128);
  if (!Number.isInteger(plen) || plen < 0 || plen > 128 || in6IsMulticast(dst, 0)) throw new Errno(EINVAL);
  const rt6 = inet6.rt6;
  switch (msg.type) {
    case 'get': {
      const rt = rt6.lookup(dst, 0);
      if (rt === null) throw new Errno(ESRCH);
      return route6Info(inet6, rt, RTF_DONE);
    }
    case 'delete': {
      const rt = rt6.exact(dst, plen);
      if (rt === null || rt.flags & RTF_LOCAL) throw new Errno(ESRCH);
      rt6.delete(dst, plen);
      // The neighbors it reached go with it (NetBSD 8 keeps ND entries under their route).
      if (!(rt.flags & RTF_GATEWAY)) nd6PurgeRoute(inet6, rt.ifp, dst, plen);
      return route6Info(inet6, rt);
    }
    case 'add': {
      const flags = (msg.flags ?? 0) & RTF_USERFLAGS;
      const hop = nextHop6(inet6, msg, dst, plen, flags);
      const rt = new Rtentry6(dst, plen, hop.gateway,
        RTF_UP | RTF_STATIC | flags | (hop.gateway !== null ? RTF_GATEWAY : 0) | (plen === 128 ? RTF_HOST : 0), hop.ifp, hop.ifaddr);
      if (msg.mtu !== undefined) {
        if (!Number.isInteger(msg.mtu) || msg.mtu < 1280 || msg.mtu > 65535) throw new Errno(EINVAL);
        rt.mtu = msg.mtu;
      }
      rt6.add(rt);
      return route6Info(inet6, rt);
    }
    case 'change': {
      const rt = rt6.exact(dst, plen);
      if (rt === null || rt.flags & RTF_LOCAL) throw new Errno(ESRCH);
      const flags = (msg.flags ?? 0) & RTF_USERFLAGS;
      const was = rt.flags & RTF_GATEWAY ? null : rt.ifp;
      if (msg.gateway !== undefined || msg.ifname !== undefined) {
        const hop = nextHop6(inet6, msg, dst, plen, flags);
        rt.gateway = hop.gateway;
        rt.ifp = hop.ifp;
        rt.ifaddr = hop.ifaddr;
        rt.flags = (rt.flags & ~RTF_GATEWAY) | (hop.gateway !== null ? RTF_GATEWAY : 0);
      }
      if (msg.flags !== undefined) rt.flags = (rt.flags & ~RTF_CHANGEABLE) | (flags & RTF_CHANGEABLE);
      if (msg.mtu !== undefined) {
        if (!Number.isInteger(msg.mtu) || msg.mtu < 1280 || msg.mtu > 65535) throw new Errno(EINVAL);
        rt.mtu = msg.mtu;
      }
      rt6.generation++;
      if (was !== null && (rt.ifp !== was || rt.flags & RTF_GATEWAY)) nd6PurgeRoute(inet6, was, dst, plen);
      if (rt6.notify !== null) rt6.notify(3 /* RTM_CHANGE */, rt);
      return route6Info(inet6, rt);
    }
    default:
      throw new Errno(EINVAL);
  }
}
