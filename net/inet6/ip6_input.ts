/*
 * IPv6 input (NetBSD netinet6/ip6_input.c, dest6.c, route6.c; reassembly
 * in frag6.ts).
 *
 *   etherInput (ETHERTYPE_IPV6) / lo0 (AF_INET6) → ip6Input
 *     → ip6Check: each failure counted in its own ip6stat counter
 *     → trim link padding to 40 + payload length
 *     → addresses sane (RFC 4291): no multicast or v4-mapped source, no ::
 *       destination, ::1 only on lo0
 *     → for us? our unicast addresses (any interface: the weak host model,
 *       NetBSD's default), groups joined on the receiving interface
 *       (mld6.ts: ff02::1, solicited-node groups, IPV6_JOIN_GROUP's)
 *       otherwise: notmember (multicast), forwarded by a router
 *       (net.inet6.ip6.forwarding, ip6_forward.ts), else cantforward
 *     → extension headers in order (RFC 8200 §4.1):
 *         Hop-by-Hop (first only) and Destination Options: each option
 *           checked, an unknown one handled as its type's two high bits say
 *           (§4.2: skip, discard, discard and report)
 *         Routing: with segments left 0 it is skipped; otherwise parameter
 *           problem at its type (§4.4; we route nothing, RFC 5095)
 *         Fragment: an atomic fragment (offset 0, no more) is just its
 *           header (RFC 6946); any other goes to reassembly (frag6.ts),
 *           and the whole packet, once complete, is walked again
 *         No Next Header: the packet ends
 *     → protox[nxt] (ICMPv6, TCP) | parameter problem "unrecognized next
 *       header" pointing at the field that named it (noproto)
 */
import type { Mbuf } from '../../kern/mbuf.js';
import { M_LOOP, M_MCAST } from '../../kern/mbuf.js';
import { IFF_LOOPBACK, type Ifnet } from '../interface.js';
import {
  in6IsLoopback, in6IsMulticast, in6IsSolicitedNodeOf, in6IsUnspecified, in6IsV4Mapped,
} from '../wire/in6addr.js';
import {
  ICMP6_PARAM_PROB, ICMP6_PARAMPROB_HEADER, ICMP6_PARAMPROB_NEXTHEADER, ICMP6_PARAMPROB_OPTION,
} from '../wire/icmp6.js';
import {
  IP6_HDR_LEN, IP6_OFF_DST, IP6_OFF_SRC, IP6OPT_PAD1, IP6OPT_PADN, IP6OPT_TYPE_DISCARD, IP6OPT_TYPE_FORCEICMP,
  IP6OPT_TYPE_ICMP, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_NONE, IPPROTO_ROUTING, Ip6Check,
  ip6Check, ip6FragMore, ip6FragOffset, ip6Plen,
} from '../wire/ipv6.js';
import { frag6Input } from './frag6.js';
import { ip6Forward } from './ip6_forward.js';
import { in6MultiLookup } from './mld6.js';
import { icmp6Error } from './icmp6.js';
import { INET6, type Inet6 } from './inet6.js';

/** Extension headers walked before giving up (NetBSD ip6_hdrnestlimit). */
const IP6_HDRNESTLIMIT = 15;

/** ff02::1 */
function isAllNodes(b: Uint8Array, off: number): boolean {
  if (b[off] !== 0xff || b[off + 1] !== 0x02 || b[off + 15] !== 1) return false;
  for (let i = 2; i < 15; i++) if (b[off + i] !== 0) return false;
  return true;
}

/** The ETHERTYPE_IPV6 handler and lo0's AF_INET6 input. Owns `m`, which starts at the IPv6 header. */
export function ip6Input(ifp: Ifnet, m: Mbuf): void {
  const inet6 = INET6.get(ifp.kernel);
  const k = inet6.kernel;
  const st = inet6.ip6stat;
  st.total++;
  const buf = m.buf;
  const off = m.off;
  const c = ip6Check(buf, off, m.len);
  if (c !== Ip6Check.Ok) {
    if (c === Ip6Check.TooSmall) st.toosmall++;
    else if (c === Ip6Check.BadVers) st.badvers++;
    else st.tooshort++;
    k.mbufs.free(m);
    return;
  }
  // Ethernet pads short frames: the packet is the header and its payload.
  const total = IP6_HDR_LEN + ip6Plen(buf, off);
  if (m.len > total) m.len = total;
  const src = off + IP6_OFF_SRC;
  const dst = off + IP6_OFF_DST;
  const loop = (ifp.flags & IFF_LOOPBACK) !== 0;

  // RFC 4291 §2.5.2, §2.5.3, §2.7: a multicast source, an unspecified
  // destination, ::1 from outside, and (§2.5.5.2, NetBSD) v4-mapped
  // addresses on the wire are all impossible in a real packet.
  if (in6IsMulticast(buf, src) || in6IsUnspecified(buf, dst) || in6IsV4Mapped(buf, src) || in6IsV4Mapped(buf, dst) ||
      (!loop && (in6IsLoopback(buf, src) || in6IsLoopback(buf, dst)))) {
    st.badaddr++;
    k.mbufs.free(m);
    return;
  }
  if (in6IsMulticast(buf, dst)) {
    // A group joined on the receiving interface (mld6.ts), or our own
    // looped back (the sender checked the membership).
    if (!(m.flags & M_LOOP) && in6MultiLookup(inet6, ifp, buf, dst) === null && !isAllNodes(buf, dst) &&
        !joinedSolicitedNode(inet6, ifp, buf, dst)) {
      st.notmember++;
      k.mbufs.free(m);
      return;
    }
    m.flags |= M_MCAST;
  } else if (!inet6.isLocal(buf, dst)) {
    // A router passes it on (ip6_forward.ts); a host drops it.
    if (inet6.forwarding && !loop) {
      ip6Forward(inet6, ifp, m);
      return;
    }
    st.cantforward++;
    k.mbufs.free(m);
    return;
  }
  ip6Deliver(inet6, m);
}

/** Is b[off] the solicited-node group of an address of `ifp` (joined implicitly with the address)? */
function joinedSolicitedNode(inet6: Inet6, ifp: Ifnet, b: Uint8Array, off: number): boolean {
  const a = inet6.addrs;
  for (let i = 0; i < a.length; i++) {
    const ia = a[i]!;
    if (ia.ifp === ifp && in6IsSolicitedNodeOf(b, off, ia.addr, 0)) return true;
  }
  return false;
}

/** Walk the extension headers and hand the packet to its upper layer. Owns `m`. */
function ip6Deliver(inet6: Inet6, m: Mbuf): void {
  const k = inet6.kernel;
  const st = inet6.ip6stat;
  const buf = m.buf;
  const base = m.off;
  const len = m.len;
  let nxt = buf[base + 6]!;
  /** Offset (from the IPv6 header) of the field that named `nxt`: a parameter problem points at it. */
  let nxtField = 6;
  let off = IP6_HDR_LEN;
  for (let n = 0; ; n++) {
    if (n > IP6_HDRNESTLIMIT) {
      st.toomanyhdr++;
      k.mbufs.free(m);
      return;
    }
    switch (nxt) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_DSTOPTS: {
        // §4.1: Hop-by-Hop only immediately after the IPv6 header.
        if (nxt === IPPROTO_HOPOPTS && n !== 0) {
          st.badoptions++;
          icmp6Error(inet6, m, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_NEXTHEADER, nxtField);
          return;
        }
        if (off + 2 > len) return drop(inet6, m, 'tooshort');
        const hlen = (buf[base + off + 1]! + 1) << 3;
        if (off + hlen > len) return drop(inet6, m, 'tooshort');
        // A payload length of 0 with Hop-by-Hop options is a jumbogram (RFC 2675): not supported.
        if (nxt === IPPROTO_HOPOPTS && ip6Plen(buf, base) === 0) return drop(inet6, m, 'badoptions');
        if (!ip6OptionsOk(inet6, m, off, hlen)) return;
        nxtField = off;
        nxt = buf[base + off]!;
        off += hlen;
        break;
      }
      case IPPROTO_ROUTING: {
        if (off + 4 > len) return drop(inet6, m, 'tooshort');
        const hlen = (buf[base + off + 1]! + 1) << 3;
        if (off + hlen > len) return drop(inet6, m, 'tooshort');
        // §4.4: segments left 0 means the header is done with; otherwise we
        // would have to route to the next address, which a host does not
        // (and type 0 is deprecated, RFC 5095): report at the type field.
        if (buf[base + off + 3] !== 0) {
          st.badoptions++;
          icmp6Error(inet6, m, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_HEADER, off + 2);
          return;
        }
        nxtField = off;
        nxt = buf[base + off]!;
        off += hlen;
        break;
      }
      case IPPROTO_FRAGMENT: {
        if (off + 8 > len) return drop(inet6, m, 'tooshort');
        st.fragments++;
        if (ip6FragOffset(buf, base + off) !== 0 || ip6FragMore(buf, base + off)) {
          // A real fragment: reassemble, then walk the whole packet again.
          const whole = frag6Input(inet6, m, off, nxtField);
          if (whole !== null) ip6Deliver(inet6, whole);
          return;
        }
        // RFC 6946: an atomic fragment is the whole packet.
        nxtField = off;
        nxt = buf[base + off]!;
        off += 8;
        break;
      }
      case IPPROTO_NONE:
        // §4.7: nothing follows.
        k.mbufs.free(m);
        return;
      default: {
        const pr = inet6.protox[nxt];
        if (pr === undefined) {
          st.noproto++;
          icmp6Error(inet6, m, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_NEXTHEADER, nxtField);
          return;
        }
        st.delivered++;
        pr(inet6, m, off);
        return;
      }
    }
  }
}

function drop(inet6: Inet6, m: Mbuf, counter: 'tooshort' | 'badoptions'): void {
  inet6.ip6stat[counter]++;
  inet6.kernel.mbufs.free(m);
}

/**
 * The options of a Hop-by-Hop or Destination Options header at `off`
 * (`hlen` bytes), RFC 8200 §4.2. Pad1 and PadN are skipped, as is any
 * option whose type says "skip" (Router Alert among them: a host has no
 * use for it); an option that runs past the header is a parameter problem
 * at its length; an unrecognised one is handled per its type's two high
 * bits. Returns false when `m` was consumed.
 */
function ip6OptionsOk(inet6: Inet6, m: Mbuf, off: number, hlen: number): boolean {
  const buf = m.buf;
  const base = m.off;
  let p = off + 2;
  const end = off + hlen;
  while (p < end) {
    const type = buf[base + p]!;
    if (type === IP6OPT_PAD1) {
      p++;
      continue;
    }
    if (p + 2 > end || p + 2 + buf[base + p + 1]! > end) {
      inet6.ip6stat.badoptions++;
      icmp6Error(inet6, m, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_HEADER, p + 1 < end ? p + 1 : p);
      return false;
    }
    const olen = 2 + buf[base + p + 1]!;
    if (type !== IP6OPT_PADN && (type & 0xc0) !== 0) {
      inet6.ip6stat.badoptions++;
      const action = type & 0xc0;
      if (action === IP6OPT_TYPE_DISCARD) {
        inet6.kernel.mbufs.free(m);
      } else if (action === IP6OPT_TYPE_FORCEICMP) {
        icmp6Error(inet6, m, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_OPTION, p, true);
      } else if (action === IP6OPT_TYPE_ICMP) {
        // Only when the destination was not a multicast address.
        if (m.flags & M_MCAST || buf[base + IP6_OFF_DST] === 0xff) inet6.kernel.mbufs.free(m);
        else icmp6Error(inet6, m, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_OPTION, p);
      }
      return false;
    }
    p += olen;
  }
  return true;
}
