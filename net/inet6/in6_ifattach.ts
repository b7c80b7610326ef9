/*
 * Link-local addresses when an interface comes up (NetBSD's
 * netinet6/in6_ifattach.c: in6_ifattach, in6_get_hw_ifid,
 * in6_ifattach_linklocal, in6_ifattach_loopback).
 *
 *   if_up (the `changed` listener of net_netinet6) → in6IfAttach:
 *     an Ethernet-like interface: fe80::/64 with the interface identifier
 *       made from its MAC as modified EUI-64 (RFC 4291 §2.5.1, appendix A:
 *       ff:fe in the middle, the universal/local bit inverted), tentative
 *       while DAD runs, whose first probe waits a random time below
 *       MAX_RTR_SOLICITATION_DELAY (RFC 4862 §5.4.2, NetBSD's
 *       IN6_IFAUPDATE_DADDELAY);
 *     lo0: fe80::1/64 beside ::1 (the loopback's identifier is ::1's).
 *   Only once per interface (an address it has already is left alone), and
 *   only while net.inet6.ip6.auto_linklocal is 1 (NetBSD's default).
 */
import { IFF_LOOPBACK, type Ifnet } from '../interface.js';
import { in6IsLinkLocal } from '../wire/in6addr.js';
import { type Inet6 } from './inet6.js';
import { in6AddAddress } from './in6.js';
import { MAX_RTR_SOLICITATION_DELAY } from './nd6_dad.js';

/** The modified EUI-64 interface identifier of a 48-bit MAC into out[8..15] (RFC 4291 appendix A). */
export function in6Eui64FromMac(mac: Uint8Array, out: Uint8Array): void {
  out[8] = mac[0]! ^ 0x02;
  out[9] = mac[1]!;
  out[10] = mac[2]!;
  out[11] = 0xff;
  out[12] = 0xfe;
  out[13] = mac[3]!;
  out[14] = mac[4]!;
  out[15] = mac[5]!;
}

/** The link-local address `ifp` autoconfigures, or null for an interface without an identifier. */
export function in6LinkLocalFor(ifp: Ifnet): Uint8Array | null {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  if (ifp.flags & IFF_LOOPBACK) a[15] = 1;
  else if (ifp.lladdr !== null && ifp.lladdr.length === 6) in6Eui64FromMac(ifp.lladdr, a);
  else return null;
  return a;
}

/** in6_ifattach: give an interface that came up its link-local address, once. */
export function in6IfAttach(inet6: Inet6, ifp: Ifnet): void {
  if (!inet6.autoLinklocal || !ifp.isUp) return;
  for (const ia of inet6.addrs) if (ia.ifp === ifp && in6IsLinkLocal(ia.addr, 0)) return;
  const ll = in6LinkLocalFor(ifp);
  if (ll === null) return;
  // A node whose link-locals all probe at once after a shared event would
  // collide on the wire: the first probe waits a random time (§5.4.2).
  const delay = inet6.kernel.host.random32() % MAX_RTR_SOLICITATION_DELAY;
  try {
    in6AddAddress(inet6, ifp, ll, 64, 0, delay);
  } catch {
    // The same address on another interface (two ports with one MAC): NetBSD logs and goes on without it.
    inet6.kernel.host.log(`${ifp.name}: failed to configure a link-local address`);
  }
}
