/*
 * IPv4 input and forwarding (NetBSD netinet/ip_input.c).
 *
 *   etherInput (ETHERTYPE_IP) / lo0 (AF_INET) → ipInput
 *     → ipCheck: each failure counted in its own ipstat counter
 *     → trim link padding to ip_len
 *     → 127/8 only on lo0, sane source, options well formed
 *     → for us (our addresses, broadcasts of the receiving interface,
 *       127/8 on lo0, groups joined on it)? → [ipReass] → protox[p] | rawInput | ICMP protocol
 *       unreachable
 *     → else, with net.inet.ip.forwarding=1 and a unicast link frame:
 *       ipForward (TTL, route, DF/MTU, ipOutput); otherwise cantforward.
 */
import { M_BCAST, M_LOOP, M_MCAST, type Mbuf } from '../../kern/mbuf.js';
import { INET, type Inet } from './inet.js';
import { IFF_LOOPBACK, type Ifnet } from '../interface.js';
import { RTF_BLACKHOLE, RTF_DYNAMIC, RTF_GATEWAY, RTF_MODIFIED, RTF_REJECT, type Rtentry } from '../route.js';
import {
  ICMP_PARAMPROB, ICMP_PARAMPROB_ERRATPTR, ICMP_REDIRECT, ICMP_REDIRECT_HOST, ICMP_TIMXCEED, ICMP_TIMXCEED_INTRANS, ICMP_UNREACH, ICMP_UNREACH_HOST,
  ICMP_UNREACH_NEEDFRAG, ICMP_UNREACH_PROTOCOL, ICMP_UNREACH_SRCFAIL,
} from '../wire/icmp.js';
import { INADDR_ANY, INADDR_BROADCAST, inAddrIsLoopback, inAddrIsMulticast } from '../wire/inaddr.js';
import {
  IPTTLDEC, IP_DF, IP_HDR_MIN, IpCheck, ipCheck, ipDecrementTtl, ipDst, ipHlen, ipIsFragment, ipLen, ipOff, ipP,
  ipSrc, ipTtl,
} from '../wire/ipv4.js';
import { icmpError } from './icmp.js';
import { ipRedirectCopy } from './ip_redirect.js';
import { IP_ALLOWBROADCAST, IP_FORWARDING, ipOutputRoute, ipRouteLookup } from './ip_output.js';
import { inMultiLookup } from './igmp.js';
import { ipReass } from './ip_reass.js';
import { rawInput } from './raw_ip.js';

/** 224.0.0.1, all hosts (RFC 1112 §4): every host is a member, no IGMP needed. */
const INADDR_ALLHOSTS_GROUP = 0xe0000001;

/** The ETHERTYPE_IP handler and lo0's AF_INET input. Owns `m`, which starts at the IP header. */
export function ipInput(ifp: Ifnet, m: Mbuf): void {
  const inet = INET.get(ifp.kernel);
  const k = inet.kernel;
  const st = inet.ipstat;
  st.total++;
  const buf = m.buf;
  const off = m.off;
  // Our own loopback traffic was checksummed by ipOutput a moment ago
  // (NetBSD skips the check on lo0 for the same reason).
  const c = ipCheck(buf, off, m.len, (m.flags & M_LOOP) === 0);
  if (c !== IpCheck.Ok) {
    switch (c) {
      case IpCheck.TooSmall: st.toosmall++; break;
      case IpCheck.BadVers: st.badvers++; break;
      case IpCheck.BadHlen: st.badhlen++; break;
      case IpCheck.BadSum: st.badsum++; break;
      case IpCheck.BadLen: st.badlen++; break;
      default: st.tooshort++; break;
    }
    k.mbufs.free(m);
    return;
  }
  // Ethernet pads short frames; the datagram is ip_len long.
  const total = ipLen(buf, off);
  if (m.len > total) m.len = total;
  const hlen = ipHlen(buf, off);
  const src = ipSrc(buf, off);
  const dst = ipDst(buf, off);

  // RFC 1122 §3.2.1.3: 127/8 must not appear outside the host, and no
  // datagram comes from a broadcast or multicast address.
  if ((!(ifp.flags & IFF_LOOPBACK) && (inAddrIsLoopback(src) || inAddrIsLoopback(dst))) ||
      src === INADDR_BROADCAST || inAddrIsMulticast(src)) {
    st.badaddr++;
    k.mbufs.free(m);
    return;
  }
  if (hlen > IP_HDR_MIN && !ipOptionsOk(inet, m, hlen)) return;

  if (ipForUs(inet, ifp, dst)) {
    ipLocal(inet, m, hlen);
    return;
  }
  if (inAddrIsMulticast(dst)) {
    // A group joined on the receiving interface, or our own looped back
    // (ip_mloopback checked the membership). No multicast routing.
    if (m.flags & M_LOOP || inMultiLookup(inet, ifp, dst) !== null) {
      ipLocal(inet, m, hlen);
      return;
    }
    st.notmember++;
    k.mbufs.free(m);
    return;
  }
  if (!inet.forwarding || m.flags & (M_BCAST | M_MCAST)) {
    st.cantforward++;
    k.mbufs.free(m);
    return;
  }
  ipForward(inet, m, hlen);
}

/**
 * Is `dst` ours on `ifp`? Any of our addresses on any interface (the weak
 * host model, NetBSD's default), the limited broadcast, INADDR_ANY (old
 * broadcast), the directed broadcast or subnet number of an address on the
 * receiving interface, all-hosts, and 127/8 arriving on lo0.
 */
function ipForUs(inet: Inet, ifp: Ifnet, dst: number): boolean {
  const a = inet.addrs;
  for (let i = 0; i < a.length; i++) {
    const ia = a[i]!;
    if (ia.addr === dst) return true;
    if (ia.ifp === ifp && ia.broadaddr !== 0 && (dst === ia.broadaddr || (dst === ia.subnet && ia.prefixLen < 31))) return true;
  }
  if (dst === INADDR_BROADCAST || dst === INADDR_ANY || dst === INADDR_ALLHOSTS_GROUP) return true;
  return (ifp.flags & IFF_LOOPBACK) !== 0 && inAddrIsLoopback(dst);
}

/** Local delivery (ip_input's "ours:"), after reassembly. Owns `m`. */
function ipLocal(inet: Inet, m: Mbuf, hlen: number): void {
  if (ipIsFragment(m.buf, m.off)) {
    const whole = ipReass(inet, m, hlen);
    if (!whole) return;
    m = whole;
    hlen = ipHlen(m.buf, m.off);
  }
  const st = inet.ipstat;
  st.delivered++;
  const p = ipP(m.buf, m.off);
  const pr = inet.protox[p];
  if (pr) {
    pr(inet, m, hlen);
    return;
  }
  // No protocol: raw sockets may want it (rip_input); if none did, tell the
  // sender (RFC 1122 §3.2.2.1), icmpError declining for broadcasts.
  if (rawInput(inet, m, hlen)) {
    inet.kernel.mbufs.free(m);
    return;
  }
  st.delivered--;
  st.noproto++;
  icmpError(inet, m, ICMP_UNREACH, ICMP_UNREACH_PROTOCOL, 0);
}

/*
 * Options are skipped, not acted on (the header length is honoured), but
 * they must be well formed (RFC 791 §3.1) or the datagram goes back with a
 * parameter problem pointing at the bad octet. Source routes are refused as
 * NetBSD refuses them by default (ip_allowsrcrt = 0): "source route failed".
 */
const IPOPT_EOL = 0;
const IPOPT_NOP = 1;
const IPOPT_LSRR = 131;
const IPOPT_SSRR = 137;

function ipOptionsOk(inet: Inet, m: Mbuf, hlen: number): boolean {
  const buf = m.buf;
  const off = m.off;
  let i = IP_HDR_MIN;
  while (i < hlen) {
    const opt = buf[off + i]!;
    if (opt === IPOPT_EOL) break;
    if (opt === IPOPT_NOP) {
      i++;
      continue;
    }
    let bad = -1;
    if (i + 1 >= hlen) bad = i;
    else {
      const olen = buf[off + i + 1]!;
      if (olen < 2 || i + olen > hlen) bad = i + 1;
      else if (opt === IPOPT_LSRR || opt === IPOPT_SSRR) {
        inet.ipstat.badoptions++;
        icmpError(inet, m, ICMP_UNREACH, ICMP_UNREACH_SRCFAIL, 0);
        return false;
      } else i += olen;
    }
    if (bad >= 0) {
      inet.ipstat.badoptions++;
      icmpError(inet, m, ICMP_PARAMPROB, ICMP_PARAMPROB_ERRATPTR, bad);
      return false;
    }
  }
  return true;
}

/** in_canforward: not multicast or class E, not on net 0 or 127. */
function inCanForward(dst: number): boolean {
  const top = dst >>> 24;
  return top !== 0 && top !== 127 && top < 224;
}

/**
 * ip_forward (RFC 1812 §5.2, §5.3.1). `m` starts at the IP header. Owns `m`.
 * The checks that answer with ICMP run before the TTL is lowered and the
 * datagram handed to ipOutputRoute, so the error quotes what the sender sent.
 */
function ipForward(inet: Inet, m: Mbuf, hlen: number): void {
  const st = inet.ipstat;
  const k = inet.kernel;
  const buf = m.buf;
  const off = m.off;
  const dst = ipDst(buf, off);
  if (!inCanForward(dst)) {
    st.cantforward++;
    k.mbufs.free(m);
    return;
  }
  if (ipTtl(buf, off) <= IPTTLDEC) {
    icmpError(inet, m, ICMP_TIMXCEED, ICMP_TIMXCEED_INTRANS, 0);
    return;
  }
  const rt = ipRouteLookup(inet, dst);
  if (!rt || rt.flags & RTF_REJECT) {
    // NetBSD answers "host unreachable" for both.
    if (!rt) st.noroute++;
    st.cantforward++;
    icmpError(inet, m, ICMP_UNREACH, ICMP_UNREACH_HOST, 0);
    return;
  }
  if (rt.flags & RTF_BLACKHOLE) {
    k.mbufs.free(m);
    return;
  }
  const mtu = rt.mtu || rt.ifp.mtu;
  if (m.len > mtu && ipOff(buf, off) & IP_DF) {
    // RFC 1191 §4: tell the sender the next-hop MTU.
    st.cantfrag++;
    st.cantforward++;
    icmpError(inet, m, ICMP_UNREACH, ICMP_UNREACH_NEEDFRAG, mtu);
    return;
  }
  const gw = redirectGateway(inet, m, rt, hlen, dst);
  // The redirect quotes the datagram as it came (TTL not yet decremented, as
  // NetBSD's ip_forward copies it): a copy, since output consumes it.
  const quote = gw !== 0 ? ipRedirectCopy(inet, m, hlen) : null;
  ipDecrementTtl(buf, off);
  // A subnet's directed broadcast leaves as a link broadcast only when
  // net.inet.ip.directed-broadcast allows it (RFC 1812 §5.3.5.2, off by
  // default per RFC 2644); otherwise ipOutputRoute refuses it (EACCES).
  const flags = inet.directedBroadcast ? IP_FORWARDING | IP_ALLOWBROADCAST : IP_FORWARDING;
  const err = ipOutputRoute(inet, m, rt, hlen, ipSrc(buf, off), dst, 0, 0, 0, flags);
  if (err) st.cantforward++;
  else st.forward++;
  if (quote === null) return;
  if (err) {
    k.mbufs.free(quote);
    return;
  }
  st.redirectsent++;
  icmpError(inet, quote, ICMP_REDIRECT, ICMP_REDIRECT_HOST, gw);
}

/**
 * The gateway to name in an ICMP redirect for a datagram forwarded along
 * `rt`, or 0 for none (NetBSD's ip_forward; RFC 1812 §5.2.7.2): it leaves
 * through the interface it came in on, from a sender on that interface's
 * subnet, with no IP options, along a route that is neither the default
 * nor one a redirect made; routers send host redirects only.
 */
function redirectGateway(inet: Inet, m: Mbuf, rt: Rtentry, hlen: number, dst: number): number {
  if (!inet.sendRedirects || hlen !== IP_HDR_MIN || rt.plen === 0 || rt.flags & (RTF_DYNAMIC | RTF_MODIFIED)) return 0;
  if (m.rcvif !== rt.ifp.index) return 0;
  const src = ipSrc(m.buf, m.off);
  const ia = inet.firstAddr(rt.ifp);
  if (ia === null || ((src & ia.mask) >>> 0) !== ia.subnet) return 0;
  return rt.flags & RTF_GATEWAY ? rt.gateway : dst;
}
