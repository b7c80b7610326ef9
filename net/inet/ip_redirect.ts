/*
 * ICMP redirects for IPv4 (RFC 792; RFC 1812 §5.2.7.2 for routers, RFC 1122
 * §3.2.2.2 for hosts), as NetBSD's ip_forward and icmp_input/rtredirect do
 * them.
 *
 *   router, ipForward: the route goes back out of the interface the packet
 *     came in on, the sender is on the subnet of the route's address, the packet
 *     carries no options (no source route), the route was not itself made by
 *     a redirect, net.inet.ip.redirect = 1 → after forwarding, a redirect
 *     for the host (code 1) naming the better next hop: the route's gateway,
 *     or the destination itself when it is on the link.
 *   host, icmpInput (type 5): net.inet.icmp.rediraccept = 1, not forwarding;
 *     the redirect comes from our current first hop for the destination
 *     (RFC 1122 §3.2.2.2), the new gateway is on a link we are on and is not
 *     us → a host route for the destination through it (RTF_DYNAMIC); every
 *     code is taken as a host redirect (RFC 1812 §5.2.7.2).
 *
 * The routes a redirect makes go after net.inet.icmp.redirtimeout seconds
 * (NetBSD's 600).
 */
import type { Mbuf } from '../../kern/mbuf.js';
import type { Ifnet } from '../interface.js';
import { RTF_DYNAMIC, RTF_GATEWAY, RTF_HOST, RTF_LOCAL, RTF_UP, Rtentry } from '../route.js';
import { ICMP_ADVLENMIN, ICMP_HDR_LEN } from '../wire/icmp.js';
import { ipDst, ipHlen, ipSrc } from '../wire/ipv4.js';
import type { Inet } from './inet.js';
import { RedirectRoutes } from '../redirect_routes.js';
import { ipRouteLookup } from './ip_output.js';

/** The first bytes of `m` that an ICMP error quotes, in a buffer of its own with `m`'s receiving interface and flags. */
export function ipRedirectCopy(inet: Inet, m: Mbuf, hlen: number): Mbuf | null {
  const c = inet.kernel.mbufs.copyin(m.buf, m.off, Math.min(m.len, hlen + 8));
  if (c === null) return null;
  c.rcvif = m.rcvif;
  c.flags = m.flags;
  return c;
}

/**
 * A redirect that arrived (`m` at its IP header, the ICMP message `ioff`
 * bytes into the buffer, `icmplen` long, checksum checked). Only reads `m`.
 * Returns true when a route was made.
 */
export function icmpRedirectInput(inet: Inet, m: Mbuf, ioff: number, icmplen: number): boolean {
  const st = inet.icmpstat;
  if (!inet.redirAccept || inet.forwarding) return false;
  const buf = m.buf;
  const q = ioff + ICMP_HDR_LEN;
  if (icmplen < ICMP_ADVLENMIN || ipHlen(buf, q) < 20 || icmplen < ICMP_HDR_LEN + ipHlen(buf, q) + 8) {
    st.badlen++;
    return false;
  }
  const from = ipSrc(buf, m.off);
  const gw = ((buf[ioff + 4]! << 24) | (buf[ioff + 5]! << 16) | (buf[ioff + 6]! << 8) | buf[ioff + 7]!) >>> 0;
  const dst = ipDst(buf, q);
  const rcvif: Ifnet | undefined = m.rcvif ? inet.ns.ifs.byIndex[m.rcvif] : undefined;
  const cur = ipRouteLookup(inet, dst);
  // rtredirect's checks: from our current router for dst, to a gateway on our link, that is not us.
  const onLink = inet.addrs.some((ia) => ia.ifp === rcvif && ((gw & ia.mask) >>> 0) === ia.subnet);
  if (rcvif === undefined || cur === null || !(cur.flags & RTF_GATEWAY) || cur.gateway !== from || cur.flags & RTF_LOCAL ||
      !onLink || inet.isLocal(gw) || inet.isLocal(dst)) {
    st.badredirect++;
    return false;
  }
  // A router can name any destination: what it makes us keep is bounded.
  const routes = inet.redirects ?? (inet.redirects = new RedirectRoutes(inet.kernel, inet.ns.rt4));
  if (!routes.hasRoom()) {
    st.redirfull++;
    return false;
  }
  // A host route the user made stays; one a redirect made is changed.
  if (!routes.install(new Rtentry(dst, 32, gw, RTF_UP | RTF_GATEWAY | RTF_HOST | RTF_DYNAMIC, rcvif, 0), inet.redirTimeout)) {
    st.badredirect++;
    return false;
  }
  return true;
}
