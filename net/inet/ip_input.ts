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
  ICMP_PARAMPROB, ICMP_REDIRECT, ICMP_REDIRECT_HOST, ICMP_TIMXCEED, ICMP_TIMXCEED_INTRANS, ICMP_UNREACH, ICMP_UNREACH_HOST,
  ICMP_UNREACH_NEEDFRAG, ICMP_UNREACH_NET_PROHIB, ICMP_UNREACH_PROTOCOL, ICMP_UNREACH_SRCFAIL,
} from '../wire/icmp.js';
import { INADDR_ANY, INADDR_BROADCAST, inAddrIsLoopback, inAddrIsMulticast } from '../wire/inaddr.js';
import {
  IPTTLDEC, IP_DF, IP_HDR_MIN, IpCheck, ipCheck, ipDecrementTtl, ipDst, ipHlen, ipIsFragment, ipLen, ipOff, ipP,
  ipSetChecksum, ipSetDst, ipSrc, ipTtl,
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
  if (hlen > IP_HDR_MIN && !ipDoOptions(inet, m, hlen)) return;

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
 * IP options (NetBSD's ip_dooptions, RFC 791 §3.1). They must be well
 * formed, or the datagram goes back with a parameter problem pointing at the
 * bad octet. Record route (RR) gets the address we send it on from (ours when
 * it is for us). Source routes (LSRR, SSRR) are refused unless
 * net.inet.ip.allowsrcrt is 1 ("communication administratively prohibited"):
 * RFC 7126 §4.3-4.4 advises dropping them, NetBSD's default 0. Allowed, a
 * route whose next hop we are moves on to its next address (recording ours)
 * and is forwarded only when net.inet.ip.forwsrcrt is 1 (NetBSD's default
 * 0), else "source route failed". Timestamps and the rest are passed over.
 * Returns false when the datagram was consumed (answered or forwarded).
 */
const IPOPT_EOL = 0;
const IPOPT_NOP = 1;
const IPOPT_RR = 7;
const IPOPT_LSRR = 131;
const IPOPT_SSRR = 137;
/** The pointer's smallest value: the first address slot (RFC 791). */
const IPOPT_MINOFF = 4;

function ipDoOptions(inet: Inet, m: Mbuf, hlen: number): boolean {
  const buf = m.buf;
  const off = m.off;
  let forward = false;
  let changed = false;
  let type = ICMP_PARAMPROB;
  let code = 0;
  let pointer = -1;
  let i = IP_HDR_MIN;
  while (i < hlen && pointer < 0) {
    const opt = buf[off + i]!;
    if (opt === IPOPT_EOL) break;
    if (opt === IPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= hlen) {
      pointer = i;
      break;
    }
    const olen = buf[off + i + 1]!;
    if (olen < 2 || i + olen > hlen) {
      pointer = i + 1;
      break;
    }
    const o = off + i;
    if (opt === IPOPT_LSRR || opt === IPOPT_SSRR || opt === IPOPT_RR) {
      if (opt !== IPOPT_RR && !inet.allowSrcrt) {
        type = ICMP_UNREACH;
        code = ICMP_UNREACH_NET_PROHIB;
        pointer = 0;
        break;
      }
      if (olen < 3) {
        pointer = i + 1;
        break;
      }
      const ptr = buf[o + 2]!;
      if (ptr < IPOPT_MINOFF) {
        pointer = i + 2;
        break;
      }
      const slot = ptr - 1;
      const dst = ipDst(buf, off);
      if (opt === IPOPT_RR) {
        // No room left: passed on as it is.
        if (slot + 4 <= olen) {
          const me = ourAddr(inet, dst) ? dst : outgoingAddr(inet, dst, false);
          if (me === 0) {
            type = ICMP_UNREACH;
            code = ICMP_UNREACH_HOST;
            pointer = 0;
            break;
          }
          writeAddr(buf, o + slot, me);
          buf[o + 2] = ptr + 4;
          changed = true;
        }
      } else if (!ourAddr(inet, dst)) {
        // Not at the route's next hop yet: a strict route has gone wrong,
        // a loose one is forwarded as it is.
        if (opt === IPOPT_SSRR) {
          type = ICMP_UNREACH;
          code = ICMP_UNREACH_SRCFAIL;
          pointer = 0;
          break;
        }
      } else if (slot + 4 <= olen) {
        // We are the next hop: the next address becomes the destination,
        // and ours (the one we send it on from) takes its slot.
        const next = readAddr(buf, o + slot);
        const me = outgoingAddr(inet, next, opt === IPOPT_SSRR);
        if (me === 0) {
          type = ICMP_UNREACH;
          code = ICMP_UNREACH_SRCFAIL;
          pointer = 0;
          break;
        }
        ipSetDst(buf, off, next);
        writeAddr(buf, o + slot, me);
        buf[o + 2] = ptr + 4;
        changed = true;
        forward = !inAddrIsMulticast(next);
      }
      // else: the end of the route, and it is for us.
    }
    i += olen;
  }
  if (changed) ipSetChecksum(buf, off);
  if (pointer < 0 && forward && !inet.forwSrcrt) {
    type = ICMP_UNREACH;
    code = ICMP_UNREACH_SRCFAIL;
    pointer = 0;
  }
  if (pointer >= 0) {
    inet.ipstat.badoptions++;
    icmpError(inet, m, type, code, type === ICMP_PARAMPROB ? pointer : 0);
    return false;
  }
  if (forward) {
    ipForward(inet, m, hlen);
    return false;
  }
  return true;
}

/** Is `a` one of our addresses (ifa_ifwithaddr)? */
function ourAddr(inet: Inet, a: number): boolean {
  const list = inet.addrs;
  for (let i = 0; i < list.length; i++) if (list[i]!.addr === a) return true;
  return false;
}

/**
 * Our address on the interface a datagram to `dst` leaves by, or 0: for a
 * strict route `dst` must be on a network of ours (ifa_ifwithnet), for a
 * loose one any route will do (ip_rtaddr).
 */
function outgoingAddr(inet: Inet, dst: number, direct: boolean): number {
  const rt = ipRouteLookup(inet, dst);
  if (!rt || rt.flags & (RTF_REJECT | RTF_BLACKHOLE) || (direct && rt.flags & RTF_GATEWAY)) return 0;
  return inet.firstAddr(rt.ifp)?.addr ?? 0;
}

function readAddr(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

function writeAddr(buf: Uint8Array, at: number, a: number): void {
  buf[at] = a >>> 24;
  buf[at + 1] = a >>> 16;
  buf[at + 2] = a >>> 8;
  buf[at + 3] = a;
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
