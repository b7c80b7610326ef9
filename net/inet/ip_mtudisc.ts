/*
 * IPv4 path MTU discovery (RFC 1191), as NetBSD's icmp_mtudisc does it.
 * With net.inet.ip.mtudisc on (NetBSD's default), TCP sends its segments
 * with DF (ip_output's IP_MTUDISC); a router whose next hop is too small
 * answers "fragmentation needed" with the next hop's MTU; TCP checks the
 * quoted segment is one of its own in flight (RFC 5927 §7.2) and asks
 * here: the host route to the destination (made, UGHD, when there was only
 * a network route) takes the MTU for net.inet.ip.mtudisctimeout seconds
 * (net/pmtu_routes.ts), and every connection to that host shrinks its
 * segments to it (tcp_mtudisc_callback). New connections take their MSS
 * from the route.
 *
 *   icmpInput (UNREACH_NEEDFRAG) → tcpCtlinput → tcpNotify (quote checked)
 *     → ipMtudisc: route MTU → TCP: every connection to dst (tcpMtuDisc)
 */
import { PmtuRoutes } from '../pmtu_routes.js';
import { RTF_BLACKHOLE, RTF_LOCAL, RTF_REJECT, Rtentry } from '../route.js';
import type { Inet } from './inet.js';
import { ipRouteLookup } from './ip_output.js';

/** NetBSD's table of common MTUs (RFC 1191 §7), for a router that names none. */
const MTU_PLATEAUS: readonly number[] = [65535, 65280, 32000, 17914, 9180, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/**
 * The smallest MTU a "fragmentation needed" may teach (NetBSD locks the
 * route's MTU below it instead of lowering it further): RFC 1191 §3's 68
 * would let anyone who can send ICMP make every segment tiny.
 */
export const PMTU_MIN = 296;

/** The MTU plateau below `mtu` (RFC 1191 §5: a router that sent 0). */
export function mtuPlateauBelow(mtu: number): number {
  for (const p of MTU_PLATEAUS) if (p < mtu) return p;
  return 68;
}

/**
 * icmp_mtudisc: datagrams to `dst` must fit `nextMtu` bytes (0: an old
 * router that does not say; `quotedLen`, the quoted datagram's total
 * length, gives the guess). Lowers the MTU held by the host route to `dst`
 * and returns the path MTU now, or 0 when it does not apply (no usable
 * route, an MTU larger than the interface's).
 */
export function ipMtudisc(inet: Inet, dst: number, nextMtu: number, quotedLen: number): number {
  const rt = ipRouteLookup(inet, dst);
  if (rt === null || rt.flags & (RTF_REJECT | RTF_BLACKHOLE | RTF_LOCAL)) return 0;
  const current = rt.mtu || rt.ifp.mtu;
  let mtu = nextMtu !== 0 ? nextMtu : mtuPlateauBelow(Math.min(quotedLen || current, current));
  if (mtu > rt.ifp.mtu) return 0;
  if (mtu < PMTU_MIN) mtu = PMTU_MIN;
  if (mtu >= current) return current;
  const routes = inet.pmtu ?? (inet.pmtu = new PmtuRoutes<number, Rtentry>(inet.kernel, inet.ns.rt4, 32,
    (host, via, flags) => new Rtentry(host, 32, via.gateway, flags, via.ifp, via.ifaddr)));
  return routes.lower(dst, rt, mtu, inet.mtudiscTimeout) !== null ? mtu : 0;
}

/** net.inet.ip.mtudisc and net.inet.ip.mtudisctimeout, with NetBSD's names and bounds. */
export function ipMtudiscSysctls(inet: Inet): void {
  const sc = inet.kernel.sysctl;
  sc.int('net.inet.ip.mtudisc', () => inet.mtudisc, (v) => {
    inet.mtudisc = v;
  }, 0, 1, 'Use RFC1191 Path MTU Discovery');
  sc.int('net.inet.ip.mtudisctimeout', () => inet.mtudiscTimeout, (v) => {
    inet.mtudiscTimeout = v;
  }, 0, 0x7fffffff, 'Lifetime of a Path MTU Discovered route');
}
