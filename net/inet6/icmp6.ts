/*
 * ICMPv6 (RFC 4443), as NetBSD's netinet6/icmp6.c does it for a host.
 *
 *   in:  ip6Input → protox[58] = icmp6Input → icmp6Check (counted) → inhist
 *        → echo request: the reply in the request's own buffer
 *        → errors: the quoted packet's upper layer found (its extension
 *          headers walked) → inet6.ctlinput[nxt] (TCP's tcpCtlinput6)
 *        → Neighbor Solicitation / Advertisement: nd6.ts
 *        → MLD queries and reports: mld6Input (mld6.ts)
 *        → redirects: icmp6_redirect.ts (a host's route to the destination)
 *        → router solicitations and advertisements, MLDv2 reports:
 *          counted and ignored (no autoconfiguration, no multicast routing)
 *   out: ip6Input / nd6 → icmp6Error → RFC 4443 §2.4 (e) rules, rate limit
 *        (§2.4 (f), net.inet6.icmp6.errppslimit) → ip6Output
 */
import { ECONNREFUSED, EHOSTUNREACH, EMSGSIZE, ENOPROTOOPT } from '../../kern/errno.js';
import { M_BCAST, M_LOOP, M_MCAST, type Mbuf } from '../../kern/mbuf.js';
import {
  IN6ADDR_ANY, in6Copy, in6IsMulticast, in6IsUnspecified, in6IsV4Mapped,
} from '../wire/in6addr.js';
import {
  ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_NOPORT, ICMP6_ECHO_REPLY, ICMP6_ECHO_REQUEST, ICMP6_HDR_LEN,
  ICMP6_PACKET_TOO_BIG, ICMP6_PARAM_PROB, ICMP6_TIME_EXCEEDED, Icmp6Check, MLD_LISTENER_DONE,
  MLD_LISTENER_QUERY, MLD_LISTENER_REPORT, MLDV2_LISTENER_REPORT, ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, ND_REDIRECT,
  ND_ROUTER_ADVERT, ND_ROUTER_SOLICIT, icmp6Check, icmp6Code, icmp6IsError, icmp6Rest, icmp6SetChecksum, icmp6SetType,
  icmp6Type, icmp6WriteHeader,
} from '../wire/icmp6.js';
import {
  IP6_HDR_LEN, IP6_OFF_DST, IP6_OFF_SRC, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMPV6,
  IPPROTO_ROUTING, IPV6_MMTU, ip6ExtLen, ip6FragOffset, ip6Nxt, ip6Plen,
} from '../wire/ipv6.js';
import type { Inet6 } from './inet6.js';
import { icmp6RedirectInput } from './icmp6_redirect.js';
import { mld6Input } from './mld6.js';
import { in6SelectSrc, in6SourceFor, ip6Output } from './ip6_output.js';
import { nd6NaInput, nd6NsInput } from './nd6.js';
import { nd6RaInput } from './nd6_rtr.js';
import { rip6Input } from './raw6.js';
import { ip6Mtudisc } from './ip6_mtudisc.js';

/**
 * ppsratecheck against net.inet6.icmp6.errppslimit (RFC 4443 §2.4 (f)): at
 * most that many errors in each second of the kernel clock; 0 sends none,
 * a negative limit any.
 */
export function icmp6RateCheck(inet6: Inet6): boolean {
  const limit = inet6.icmp6ErrPpsLimit;
  if (limit < 0) return true;
  const sec = Math.floor(inet6.kernel.uptime() / 1000);
  if (sec !== inet6.errSecond) {
    inet6.errSecond = sec;
    inet6.errCount = 0;
  }
  if (inet6.errCount >= limit) return false;
  inet6.errCount++;
  return true;
}

/** Where icmp6Error and the echo reply choose a source (copied into the header at once). */

/**
 * The source of a message about a packet sent to b[off] (RFC 4443 §2.2):
 * that address when it is one of our unicast addresses, else an address of
 * the receiving interface chosen for `replyTo`, else whatever routes there.
 */
function replySource(inet6: Inet6, b: Uint8Array, off: number, rcvif: number, replyTo: Uint8Array): Uint8Array {
  if (!in6IsMulticast(b, off) && inet6.isLocal(b, off)) {
    const src = inet6.ns.scratch.icmp6ReplySrc;
    in6Copy(src, 0, b, off);
    return src;
  }
  const ifp = rcvif ? inet6.ns.ifs.byIndex[rcvif] ?? null : null;
  const ia = ifp !== null ? in6SourceFor(inet6, ifp, replyTo, 0) : null;
  if (ia !== null) return ia.addr;
  return IN6ADDR_ANY; // ip6Output selects
}

/**
 * icmp6_error: tell the sender of `m` (which starts at its IPv6 header)
 * about it. Owns and frees `m`. `param` is the MTU of a packet too big or
 * the pointer of a parameter problem.
 *
 * RFC 4443 §2.4 (e): never about an ICMPv6 error (or a redirect), nor a
 * packet sent to a multicast address or as a link-layer multicast or
 * broadcast, except a packet too big and a parameter problem about an
 * option whose type says "report even to multicast" (the caller decides
 * that case, `allowMcast`); never to a source that does not name one node.
 */
export function icmp6Error(inet6: Inet6, m: Mbuf, type: number, code: number, param: number, allowMcast = false): void {
  const k = inet6.kernel;
  const st = inet6.icmp6stat;
  st.error++;
  const buf = m.buf;
  const off = m.off;
  if (m.len < IP6_HDR_LEN) {
    st.canterror++;
    k.mbufs.free(m);
    return;
  }
  const mcastOk = allowMcast || type === ICMP6_PACKET_TOO_BIG;
  if (!mcastOk && (m.flags & (M_BCAST | M_MCAST) || in6IsMulticast(buf, off + IP6_OFF_DST))) {
    st.canterror++;
    k.mbufs.free(m);
    return;
  }
  const s = off + IP6_OFF_SRC;
  if (in6IsUnspecified(buf, s) || in6IsMulticast(buf, s) || in6IsV4Mapped(buf, s)) {
    st.canterror++;
    k.mbufs.free(m);
    return;
  }
  if (isIcmp6Error(buf, off, m.len)) {
    st.canterror++;
    k.mbufs.free(m);
    return;
  }
  if (!icmp6RateCheck(inet6)) {
    st.toofreq++;
    k.mbufs.free(m);
    return;
  }
  // §2.4 (c): as much of the packet as fits in the minimum MTU.
  const quote = Math.min(m.len, IPV6_MMTU - IP6_HDR_LEN - ICMP6_HDR_LEN);
  const n = k.mbufs.get(ICMP6_HDR_LEN + quote);
  if (n === null) {
    k.mbufs.free(m);
    return;
  }
  icmp6WriteHeader(n.buf, n.off, type, code, param >>> 0);
  n.buf.set(buf.subarray(off, off + quote), n.off + ICMP6_HDR_LEN);
  const dst = inet6.ns.scratch.icmp6Dst;
  in6Copy(dst, 0, buf, s);
  const src = replySource(inet6, buf, off + IP6_OFF_DST, m.rcvif, dst);
  const zone = m.rcvif;
  k.mbufs.free(m);
  sendIcmp6(inet6, n, src, dst, type, zone);
}

/**
 * Checksum (choosing the source first if need be) and send a message built
 * in `n`; `zone`, the interface the message answers (a link-local sender
 * is reached back through it).
 */
function sendIcmp6(inet6: Inet6, n: Mbuf, src: Uint8Array, dst: Uint8Array, type: number, zone: number): void {
  if (in6IsUnspecified(src, 0)) {
    // The checksum covers the source: pick it now rather than in ip6Output.
    const chosen = inet6.ns.scratch.icmp6ChosenSrc;
    if (!in6SelectSrc(inet6, dst, 0, chosen, zone)) {
      inet6.kernel.mbufs.free(n);
      inet6.ip6stat.noroute++;
      return;
    }
    src = chosen;
  }
  icmp6SetChecksum(n.buf, n.off, n.len, src, 0, dst, 0);
  inet6.icmp6stat.outhist[type]!++;
  ip6Output(inet6, n, src, 0, dst, 0, IPPROTO_ICMPV6, inet6.defhlim, 0, zone);
}

/**
 * Is the packet at buf[off] (len bytes) an ICMPv6 error or a redirect?
 * Walks the extension headers that may come first; a packet too short to
 * tell counts as one (no error about it).
 */
function isIcmp6Error(buf: Uint8Array, off: number, len: number): boolean {
  let nxt = ip6Nxt(buf, off);
  let p = IP6_HDR_LEN;
  for (let i = 0; i < 8; i++) {
    if (nxt === IPPROTO_ICMPV6) {
      if (p + 1 > len) return true;
      const t = buf[off + p]!;
      return icmp6IsError(t) || t === ND_REDIRECT;
    }
    if (nxt !== IPPROTO_HOPOPTS && nxt !== IPPROTO_DSTOPTS && nxt !== IPPROTO_ROUTING && nxt !== IPPROTO_FRAGMENT) return false;
    if (p + 2 > len) return false;
    if (nxt === IPPROTO_FRAGMENT && ip6FragOffset(buf, off + p) !== 0) return false;
    const next = buf[off + p]!;
    p += ip6ExtLen(buf, off + p, nxt);
    nxt = next;
  }
  return false;
}

/*
 * What an error means to a transport (NetBSD's mapping through the PRC_
 * codes and inet6ctlerrmap): port unreachable refuses, packet too big is
 * EMSGSIZE with an MTU, a parameter problem ENOPROTOOPT, the rest host
 * unreachable. Protocols also get the type and code (TCP decides from them
 * which errors are hard, tcpCtlinput6).
 */
function errorErrno(type: number, code: number): number {
  switch (type) {
    case ICMP6_DST_UNREACH:
      return code === ICMP6_DST_UNREACH_NOPORT ? ECONNREFUSED : EHOSTUNREACH;
    case ICMP6_PACKET_TOO_BIG:
      return EMSGSIZE;
    case ICMP6_TIME_EXCEEDED:
      return EHOSTUNREACH;
    case ICMP6_PARAM_PROB:
      return ENOPROTOOPT;
    default:
      return 0;
  }
}

/** The highest code each error type defines (RFC 4443 §3; later RFCs add dst unreach 5..6, param prob 3). */
function maxCode(type: number): number {
  switch (type) {
    case ICMP6_DST_UNREACH:
      return 6;
    case ICMP6_PACKET_TOO_BIG:
      return 0;
    case ICMP6_TIME_EXCEEDED:
      return 1;
    case ICMP6_PARAM_PROB:
      return 3;
    default:
      return 255;
  }
}

/** protox[IPPROTO_ICMPV6]: `m` starts at the IPv6 header, the message `off` bytes in. Owns `m`. */
export function icmp6Input(inet6: Inet6, m: Mbuf, off: number): void {
  const k = inet6.kernel;
  const st = inet6.icmp6stat;
  const buf = m.buf;
  const ip6 = m.off;
  const io = ip6 + off;
  const len = m.len - off;
  // Loopback traffic was summed by us a moment ago (as tcpInput trusts it).
  const c = m.flags & M_LOOP ? (len >= ICMP6_HDR_LEN ? Icmp6Check.Ok : Icmp6Check.TooShort) : icmp6Check(buf, io, len, ip6);
  if (c !== Icmp6Check.Ok) {
    if (c === Icmp6Check.TooShort) st.tooshort++;
    else st.checksum++;
    k.mbufs.free(m);
    return;
  }
  const type = icmp6Type(buf, io);
  const code = icmp6Code(buf, io);
  st.inhist[type]!++;
  // Raw ICMPv6 sockets (ping6) get a copy of every valid message, before
  // the echo reply reuses the buffer (NetBSD passes them on after icmp6_input).
  rip6Input(inet6, m, off);
  switch (type) {
    case ICMP6_ECHO_REQUEST:
      if (code !== 0) {
        st.badcode++;
        break;
      }
      icmp6Echo(inet6, m, off);
      return;
    case ND_NEIGHBOR_SOLICIT:
      nd6NsInput(inet6, m, off, len);
      return;
    case ND_NEIGHBOR_ADVERT:
      nd6NaInput(inet6, m, off, len);
      return;
    case MLD_LISTENER_QUERY:
    case MLD_LISTENER_REPORT:
    case MLD_LISTENER_DONE:
      mld6Input(inet6, m, off, len);
      return;
    case ND_REDIRECT:
      icmp6RedirectInput(inet6, m, off, len);
      return;
    case ND_ROUTER_ADVERT:
      nd6RaInput(inet6, m, off, len);
      return;
    case ND_ROUTER_SOLICIT:
    case MLDV2_LISTENER_REPORT:
      // A host with static addresses and no multicast routing: nothing to do.
      st.nd_ignored++;
      break;
    case ICMP6_ECHO_REPLY:
      break;
    default:
      if (icmp6IsError(type)) {
        if (code > maxCode(type)) {
          st.badcode++;
          break;
        }
        icmp6Notify(inet6, buf, io, len, type, code);
      }
      // §2.4 (b): unknown informational messages are silently discarded.
      break;
  }
  k.mbufs.free(m);
}

/**
 * An error about a packet we sent: find the quoted packet's upper layer
 * (walking the extension headers within the quote) and tell its protocol.
 */
function icmp6Notify(inet6: Inet6, buf: Uint8Array, io: number, len: number, type: number, code: number): void {
  const st = inet6.icmp6stat;
  const q = io + ICMP6_HDR_LEN;
  const end = io + len;
  if (q + IP6_HDR_LEN > end) {
    st.badlen++;
    return;
  }
  let nxt = ip6Nxt(buf, q);
  let p = q + IP6_HDR_LEN;
  for (let i = 0; i < 8; i++) {
    if (nxt !== IPPROTO_HOPOPTS && nxt !== IPPROTO_DSTOPTS && nxt !== IPPROTO_ROUTING && nxt !== IPPROTO_FRAGMENT) break;
    if (p + 2 > end) return;
    // Only a first fragment quotes the upper-layer header.
    if (nxt === IPPROTO_FRAGMENT && ip6FragOffset(buf, p) !== 0) return;
    const next = buf[p]!;
    p += ip6ExtLen(buf, p, nxt);
    nxt = next;
  }
  let mtu = 0;
  if (type === ICMP6_PACKET_TOO_BIG) {
    // RFC 8201 §4: an MTU below the minimum is taken as the minimum.
    mtu = Math.max(icmp6Rest(buf, io), IPV6_MMTU);
    // The path MTU belongs to the destination, whatever the quoted packet
    // carried (UDP, raw, TCP): NetBSD's icmp6_notify_error updates the
    // route before any protocol is told. Never below 1280, so a forged
    // message costs nothing worse than the minimum.
    const d = q + IP6_OFF_DST;
    ip6Mtudisc(inet6, buf.subarray(d, d + 16), mtu);
  }
  const ctl = inet6.ctlinput[nxt];
  if (ctl === undefined) return;
  ctl(inet6, errorErrno(type, code), type, code, buf, q, p, Math.min(end, q + IP6_HDR_LEN + ip6Plen(buf, q)), mtu);
}

/**
 * The echo reply (RFC 4443 §4.2), in the request's own buffer: from the
 * address asked (for a multicast request, an address of the receiving
 * interface), back to the asker, the same identifier, sequence and data.
 * Owns `m`.
 */
function icmp6Echo(inet6: Inet6, m: Mbuf, off: number): void {
  const k = inet6.kernel;
  const st = inet6.icmp6stat;
  const buf = m.buf;
  const ip6 = m.off;
  const s = ip6 + IP6_OFF_SRC;
  if (in6IsUnspecified(buf, s) || in6IsMulticast(buf, s)) {
    k.mbufs.free(m);
    return;
  }
  const dst = inet6.ns.scratch.icmp6Dst;
  in6Copy(dst, 0, buf, s);
  // The source is chosen before the buffer is reused (it may be read from the request's header).
  const src = replySource(inet6, buf, ip6 + IP6_OFF_DST, m.rcvif, dst);
  const zone = m.rcvif;
  m.adj(off);
  icmp6SetType(buf, m.off, ICMP6_ECHO_REPLY);
  m.flags &= ~(M_BCAST | M_MCAST | M_LOOP);
  m.rcvif = 0;
  st.reflect++;
  sendIcmp6(inet6, m, src, dst, ICMP6_ECHO_REPLY, zone);
}
