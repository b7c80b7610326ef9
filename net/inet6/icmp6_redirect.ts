/*
 * ICMPv6 redirects (RFC 4861 §4.5, §8), as NetBSD's icmp6_redirect_output
 * and icmp6_redirect_input do them.
 *
 *   router, ip6Forward: a packet goes back out of the link it came in on,
 *     from a neighbor on that link → icmp6RedirectOutput:
 *       from our link-local address on that link (§4.5), to the packet's
 *       source, hop limit 255: "for Destination, use Target", Target being
 *       the next router (a link-local address, §8.2) or the destination
 *       itself when it is on the link; with the target's link-layer address
 *       when we know it, and as much of the packet as fits in 1280 bytes
 *       (Redirected Header); rate limited with the ICMPv6 errors.
 *   host, icmp6Input (137) → icmp6RedirectInput: checked as §8.1 says
 *     (link-local source, hop limit 255, code 0, target link-local or the
 *     destination, the source our current first hop for the destination),
 *     then a host route for the destination: via Target, or on-link when
 *     Target is the destination (RTF_DYNAMIC, as netstat -r shows it), and
 *     Target's link-layer address into the neighbor cache.
 *     Ignored by a router (forwarding on) and with
 *     net.inet6.icmp6.rediraccept = 0.
 *
 * The routes a redirect makes go after net.inet6.icmp6.redirtimeout
 * seconds (NetBSD's 600), as its icmp6_redirect_timeout_q removes them.
 */
import { MAX_LINKHDR, type Mbuf } from '../../kern/mbuf.js';
import type { Ifnet } from '../interface.js';
import { RTF_DYNAMIC, RTF_GATEWAY, RTF_HOST, RTF_LOCAL, RTF_UP } from '../route.js';
import { in6Copy, in6Equal, in6IsLinkLocal, in6IsMulticast } from '../wire/in6addr.js';
import {
  ND_OPT_LLA_ETHER_LEN, ND_OPT_REDIRECTED_HEADER, ND_OPT_TARGET_LINKADDR, ND_REDIRECT, icmp6Code, icmp6SetChecksum,
  icmp6WriteHeader, ndFindLla, ndOptionsOk, ndWriteLlaOption,
} from '../wire/icmp6.js';
import { IP6_HDR_LEN, IP6_OFF_DST, IP6_OFF_SRC, IPPROTO_ICMPV6, IPV6_MAXHLIM, IPV6_MMTU, ip6Hlim } from '../wire/ipv6.js';
import { icmp6RateCheck } from './icmp6.js';
import { IN6_IFF_NOTREADY, type Inet6 } from './inet6.js';
import { ip6OutputIf } from './ip6_output.js';
import { ND6_LLINFO_INCOMPLETE, nd6Cache, nd6Learn } from './nd6.js';
import { Rtentry6 } from './route6.js';
import { RedirectRoutes } from '../redirect_routes.js';

/** The fixed part of a redirect: header, reserved word, Target, Destination (§4.5). */
export const ND_REDIRECT_LEN = 40;
const OFF_TARGET = 8;
const OFF_DST = 24;
/** The Redirected Header option's own 8 bytes before the quoted packet (§4.6.3). */
const RDHDR_LEN = 8;

/** Is the source at b[src] a neighbor on `ifp` (NetBSD nd6_is_addr_neighbor)? Only such a sender is redirected. */
export function icmp6RedirectWanted(inet6: Inet6, ifp: Ifnet, b: Uint8Array, src: number): boolean {
  if (in6IsLinkLocal(b, src)) return true;
  const rt = inet6.rt6.lookup(b, src);
  return rt !== null && rt.ifp === ifp && (rt.flags & (RTF_GATEWAY | RTF_LOCAL)) === 0;
}

/**
 * icmp6_redirect_output: tell the sender of `m` (which we are about to
 * forward out of `ifp`, the link it came in on) that `router` (null: the
 * destination itself, on the link) is the better first hop. `m` is only
 * read. True when a redirect went out.
 */
export function icmp6RedirectOutput(inet6: Inet6, ifp: Ifnet, m: Mbuf, router: Uint8Array | null): boolean {
  const k = inet6.kernel;
  // §4.5: from the link-local address of the interface it goes out of.
  let ll: Uint8Array | null = null;
  for (const ia of inet6.addrs) {
    if (ia.ifp === ifp && in6IsLinkLocal(ia.addr, 0) && !(ia.flags & IN6_IFF_NOTREADY)) {
      ll = ia.addr;
      break;
    }
  }
  // §8.2: a router is named by its link-local address, which is how the host will know it.
  if (ll === null || ifp.lladdr === null || (router !== null && !in6IsLinkLocal(router, 0))) return false;
  if (!icmp6RateCheck(inet6)) {
    inet6.icmp6stat.toofreq++;
    return false;
  }
  const buf = m.buf;
  const ip6 = m.off;
  const target = router ?? buf.subarray(ip6 + IP6_OFF_DST, ip6 + IP6_OFF_DST + 16);
  const e = nd6Cache(inet6).lookup(ifp, target, 0);
  const tlla = e !== null && e.state !== ND6_LLINFO_INCOMPLETE ? e.mac : null;
  const fixed = ND_REDIRECT_LEN + (tlla !== null ? ND_OPT_LLA_ETHER_LEN : 0);
  // §4.6.3: as much of the packet as keeps the redirect within the minimum MTU, in 8-byte units.
  const room = (IPV6_MMTU - IP6_HDR_LEN - fixed - RDHDR_LEN) & ~7;
  const quote = Math.min(m.len, room);
  const padded = (quote + 7) & ~7;
  const len = fixed + RDHDR_LEN + padded;
  const n = k.mbufs.get(len, MAX_LINKHDR + IP6_HDR_LEN);
  if (n === null) return false;
  const b = n.buf;
  const o = n.off;
  n.len = len;
  icmp6WriteHeader(b, o, ND_REDIRECT, 0, 0);
  in6Copy(b, o + OFF_TARGET, target, 0);
  in6Copy(b, o + OFF_DST, buf, ip6 + IP6_OFF_DST);
  let p = o + ND_REDIRECT_LEN;
  if (tlla !== null) p += ndWriteLlaOption(b, p, ND_OPT_TARGET_LINKADDR, tlla);
  b[p] = ND_OPT_REDIRECTED_HEADER;
  b[p + 1] = (RDHDR_LEN + padded) >>> 3;
  b.fill(0, p + 2, p + RDHDR_LEN);
  b.set(buf.subarray(ip6, ip6 + quote), p + RDHDR_LEN);
  b.fill(0, p + RDHDR_LEN + quote, o + len);
  const rdDst = buf.slice(ip6 + IP6_OFF_SRC, ip6 + IP6_OFF_SRC + 16); // rate-limited, a cold path
  icmp6SetChecksum(b, o, len, ll, 0, rdDst, 0);
  inet6.icmp6stat.outhist[ND_REDIRECT]!++;
  return ip6OutputIf(inet6, n, ifp, ll, 0, rdDst, 0, IPPROTO_ICMPV6, IPV6_MAXHLIM, 0) === 0;
}

/**
 * icmp6_redirect_input: `m` at its IPv6 header, the redirect `off` bytes
 * in, `len` long, its checksum checked. Owns `m`.
 */
export function icmp6RedirectInput(inet6: Inet6, m: Mbuf, off: number, len: number): void {
  const k = inet6.kernel;
  const st = inet6.icmp6stat;
  const buf = m.buf;
  const ip6 = m.off;
  const io = ip6 + off;
  const ifp = m.rcvif ? inet6.ns.ifs.byIndex[m.rcvif] ?? null : null;
  if (inet6.forwarding || !inet6.redirAccept || ifp === null) {
    st.nd_ignored++;
    k.mbufs.free(m);
    return;
  }
  const src = ip6 + IP6_OFF_SRC;
  const t = io + OFF_TARGET;
  const d = io + OFF_DST;
  // §8.1: from a link-local address, not forwarded, code 0, long enough,
  // the target a router's link-local address or the destination itself,
  // the destination not multicast, options sane.
  const onLink = len >= ND_REDIRECT_LEN && in6Equal(buf, t, buf, d);
  if (!in6IsLinkLocal(buf, src) || ip6Hlim(buf, ip6) !== IPV6_MAXHLIM || icmp6Code(buf, io) !== 0 ||
      len < ND_REDIRECT_LEN || (!onLink && !in6IsLinkLocal(buf, t)) || in6IsMulticast(buf, d) ||
      !ndOptionsOk(buf, io, ND_REDIRECT_LEN, len)) {
    st.badredirect++;
    k.mbufs.free(m);
    return;
  }
  // §8.1: only the router we use now for that destination may redirect us.
  const rt = inet6.rt6.lookup(buf, d);
  if (rt === null || !(rt.flags & RTF_GATEWAY) || rt.gateway === null || !in6Equal(rt.gateway, 0, buf, src) ||
      rt.ifp !== ifp || inet6.isLocal(buf, d)) {
    st.badredirect++;
    k.mbufs.free(m);
    return;
  }
  // A router can name any destination: what it makes us keep is bounded.
  const routes = inet6.redirects ?? (inet6.redirects = new RedirectRoutes(k, inet6.rt6));
  if (!routes.hasRoom()) {
    st.redirfull++;
    k.mbufs.free(m);
    return;
  }
  const dst = buf.slice(d, d + 16);
  const gw = onLink ? null : buf.slice(t, t + 16);
  // A host route for the destination (NetBSD's rtredirect makes or changes
  // one); a route the user made for this very host stays as it is.
  const rt6 = new Rtentry6(dst, 128, gw, RTF_UP | RTF_HOST | RTF_DYNAMIC | (gw !== null ? RTF_GATEWAY : 0), ifp, null);
  if (!routes.install(rt6, inet6.redirTimeout)) {
    st.badredirect++;
    k.mbufs.free(m);
    return;
  }
  const lla = ndFindLla(buf, io, ND_REDIRECT_LEN, len, ND_OPT_TARGET_LINKADDR);
  if (lla >= 0) nd6Learn(inet6, ifp, buf, t, buf, lla, !onLink);
  k.mbufs.free(m);
}
