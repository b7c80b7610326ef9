/*
 * IPv6 forwarding (NetBSD netinet6/ip6_forward.c), for a kernel with
 * net.inet6.ip6.forwarding = 1.
 *
 *   ip6Input: not for us, not multicast → ip6Forward
 *     → link-local destination, or :: as the source: never beyond the
 *       link (RFC 4291 §2.5.6, §2.5.2)                       cantforward
 *     → hop limit 1 or less: time exceeded in transit (RFC 4443 §3.3)
 *     → no route: unreachable, no route; a reject route: unreachable,
 *       reject route (§3.1); a blackhole swallows it
 *     → a link-local source leaving its link: unreachable, beyond the
 *       scope of the source address (§3.1)                  badscope
 *     → larger than the next link's MTU: packet too big with that MTU
 *       (§3.2; a router never fragments, RFC 8200 §5)
 *     → out of the interface it came in on, to a sender on that link:
 *       a redirect to the better next hop (RFC 4861 §8.2, icmp6_redirect.ts)
 *     → hop limit − 1, out of the route's interface to its next hop
 *
 * Counters: ip6 forward, cantforward, noroute, badscope, cantfrag (the
 * "too big" ones), redirectsent; icmp6's output histogram.
 */
import { type Mbuf } from '../../kern/mbuf.js';
import { AF_INET6 } from '../../kern/sys.js';
import type { Ifnet } from '../interface.js';
import { RTF_BLACKHOLE, RTF_GATEWAY, RTF_LOCAL, RTF_REJECT } from '../route.js';
import { in6Copy, in6IsLinkLocal, in6IsUnspecified } from '../wire/in6addr.js';
import {
  ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_BEYONDSCOPE, ICMP6_DST_UNREACH_NOROUTE, ICMP6_DST_UNREACH_REJECT,
  ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED, ICMP6_TIME_EXCEED_TRANSIT,
} from '../wire/icmp6.js';
import { IP6_OFF_DST, IP6_OFF_SRC, ip6Hlim } from '../wire/ipv6.js';
import { icmp6Error } from './icmp6.js';
import { icmp6RedirectOutput, icmp6RedirectWanted } from './icmp6_redirect.js';
import type { Inet6 } from './inet6.js';

/** What forwarding takes off the hop limit (IPV6_HLIMDEC). */
export const IPV6_HLIMDEC = 1;
/** Where the hop limit is in the IPv6 header. */
const IP6_OFF_HLIM = 7;

/** ip6_forward: `m` (at its IPv6 header) arrived on `rcvif` for someone else. Owns `m`. */
export function ip6Forward(inet6: Inet6, rcvif: Ifnet, m: Mbuf): void {
  const k = inet6.kernel;
  const st = inet6.ip6stat;
  const buf = m.buf;
  const off = m.off;
  const src = off + IP6_OFF_SRC;
  const dst = off + IP6_OFF_DST;
  if (in6IsUnspecified(buf, src) || in6IsLinkLocal(buf, dst)) {
    // RFC 4291 §2.5.6: a router must not forward a link-local destination
    // off its link; a packet from :: has nobody to answer (NetBSD drops both).
    if (in6IsLinkLocal(buf, dst)) st.badscope++;
    st.cantforward++;
    k.mbufs.free(m);
    return;
  }
  if (ip6Hlim(buf, off) <= IPV6_HLIMDEC) {
    st.cantforward++;
    icmp6Error(inet6, m, ICMP6_TIME_EXCEEDED, ICMP6_TIME_EXCEED_TRANSIT, 0);
    return;
  }
  const rt = inet6.rt6.lookup(buf, dst);
  if (rt === null || rt.flags & (RTF_REJECT | RTF_LOCAL)) {
    // A local route here is one of our own addresses still tentative: not deliverable either.
    if (rt === null) st.noroute++;
    st.cantforward++;
    const code = rt === null ? ICMP6_DST_UNREACH_NOROUTE : ICMP6_DST_UNREACH_REJECT;
    if (rt !== null && rt.flags & RTF_LOCAL) k.mbufs.free(m);
    else icmp6Error(inet6, m, ICMP6_DST_UNREACH, code, 0);
    return;
  }
  if (rt.flags & RTF_BLACKHOLE) {
    k.mbufs.free(m);
    return;
  }
  const out = rt.ifp;
  if (in6IsLinkLocal(buf, src) && out !== rcvif) {
    // §2.5.6 again: a link-local source stays on the link it came from.
    st.badscope++;
    st.cantforward++;
    icmp6Error(inet6, m, ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_BEYONDSCOPE, 0);
    return;
  }
  const mtu = rt.mtu || out.mtu;
  if (m.len > mtu) {
    st.cantfrag++;
    st.cantforward++;
    icmp6Error(inet6, m, ICMP6_PACKET_TOO_BIG, 0, mtu);
    return;
  }
  if (!out.isUp) {
    st.cantforward++;
    k.mbufs.free(m);
    return;
  }
  const nexthop = rt.flags & RTF_GATEWAY && rt.gateway !== null ? rt.gateway : null;
  // RFC 4861 §8.2: back out of the link it came from, to a neighbor: there
  // is a better first hop for the sender. The redirect quotes the packet as
  // it arrived, so it is made before the hop limit changes.
  if (out === rcvif && inet6.sendRedirects && icmp6RedirectWanted(inet6, rcvif, buf, src)) {
    if (icmp6RedirectOutput(inet6, rcvif, m, nexthop)) st.redirectsent++;
  }
  buf[off + IP6_OFF_HLIM] = ip6Hlim(buf, off) - IPV6_HLIMDEC;
  if (nexthop !== null) in6Copy(inet6.nexthop, 0, nexthop, 0);
  else in6Copy(inet6.nexthop, 0, buf, dst);
  rt.use++;
  const err = out.output(out, m, AF_INET6, 0);
  if (err !== 0) st.cantforward++;
  else st.forward++;
}
