/*
 * IPv6 path MTU discovery (RFC 8201): a "packet too big" that TCP has
 * checked quotes a segment of its own in flight puts the MTU on the host
 * route to the destination (made, RTF_HOST | RTF_DYNAMIC, when there was
 * only a network route), for 10 minutes (RFC 8201 §4's recommendation;
 * NetBSD's pmtu_expire), as net/pmtu_routes.ts keeps it for IPv4. IPv6
 * output then sends, and fragments at the source, at that MTU; TCP shrinks
 * every connection to that host to it. Never below 1280 (RFC 8200 §5).
 *
 *   icmp6 (PACKET_TOO_BIG) → tcpCtlinput6 → tcpNotify (quote checked)
 *     → In6Ops.pmtuUpdate = ip6Mtudisc → TCP: every connection to dst
 *   icmp6Notify calls ip6Mtudisc first for any protocol (UDP, raw), as
 *   NetBSD's icmp6_notify_error does: the path MTU is the destination's.
 */
import { PmtuRoutes } from '../pmtu_routes.js';
import { RTF_BLACKHOLE, RTF_LOCAL, RTF_REJECT } from '../route.js';
import { IPV6_MMTU } from '../wire/ipv6.js';
import type { Inet6 } from './inet6.js';
import { Rtentry6 } from './route6.js';

/** Seconds a learnt IPv6 path MTU holds (RFC 8201 §4: at least 5 minutes, 10 recommended). */
export const IP6_MTUDISC_TIMEOUT = 600;

/**
 * The path to the address at `dst` takes at most `mtu` bytes: lower the
 * MTU its host route holds. Returns the path MTU now, or 0 when it does not
 * apply (no usable route, an MTU larger than the interface's).
 */
export function ip6Mtudisc(inet6: Inet6, dst: Uint8Array, mtu: number): number {
  const rt = inet6.rt6.lookup(dst, 0);
  if (rt === null || rt.flags & (RTF_REJECT | RTF_BLACKHOLE | RTF_LOCAL)) return 0;
  const current = rt.mtu || rt.ifp.mtu;
  if (mtu > rt.ifp.mtu) return 0;
  if (mtu < IPV6_MMTU) mtu = IPV6_MMTU;
  if (mtu >= current) return current;
  const routes = inet6.pmtu ?? (inet6.pmtu = new PmtuRoutes<Uint8Array, Rtentry6>(inet6.kernel, inet6.rt6, 128,
    (host, via, flags) => new Rtentry6(host.slice(0, 16), 128, via.gateway, flags, via.ifp, via.ifaddr)));
  return routes.lower(dst, rt, mtu, IP6_MTUDISC_TIMEOUT) !== null ? mtu : 0;
}
