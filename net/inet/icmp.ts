/*
 * ICMP for IPv4 (RFC 792; host requirements RFC 1122 §3.2.2), as NetBSD's
 * netinet/ip_icmp.c does it.
 *
 *   in:  ipInput → protox[1] = icmpInput → icmpCheck (counted) → inhist
 *        → rawInput (every message, so ping's raw socket sees replies)
 *        → echo / timestamp: reflect the same buffer back (icmpReflect)
 *        → errors: quote check → inet.ctlinput[quoted protocol] (UDP, TCP)
 *   out: ipInput / ipForward / arp / reassembly → icmpError → RFC 1122 rules,
 *        rate limit (net.inet.icmp.errppslimit) → ipOutput
 */
import { defineKernelState } from '../../kern/kernel.js';
import { ECONNREFUSED, EHOSTUNREACH, EMSGSIZE, ENOPROTOOPT } from '../../kern/errno.js';
import { M_BCAST, M_LOOP, M_MCAST, type Mbuf } from '../../kern/mbuf.js';
import { IFF_LOOPBACK, type Ifnet } from '../interface.js';
import {
  ICMP_ECHO, ICMP_ECHOREPLY, ICMP_HDR_LEN, ICMP_MAXTYPE, ICMP_MINLEN, ICMP_PARAMPROB, ICMP_REDIRECT,
  ICMP_SOURCEQUENCH, ICMP_TIMXCEED, ICMP_TSLEN, ICMP_TSTAMP, ICMP_TSTAMPREPLY, ICMP_UNREACH,
  ICMP_UNREACH_NEEDFRAG, ICMP_UNREACH_PORT, ICMP_UNREACH_PROTOCOL, ICMP_UNREACH_PRECEDENCE_CUTOFF,
  IcmpCheck, icmpCheck, icmpCode, icmpIsError, icmpNextMtu, icmpQuoteCheck, icmpSetChecksum, icmpSetType,
  icmpType, icmpWriteHeader,
} from '../wire/icmp.js';
import { INADDR_ANY, INADDR_BROADCAST, inAddrIsLoopback, inAddrIsMulticast } from '../wire/inaddr.js';
import {
  IPPROTO_ICMP, IP_HDR_MIN, IP_MAXTTL, IP_OFFMASK, ipDst, ipHlen, ipLen, ipOff, ipP, ipSetHl, ipSrc, ipTos, ipWriteHeader,
} from '../wire/ipv4.js';
import { inBroadcast } from './in.js';
import type { Inet } from './inet.js';
import { IP_RAWOUTPUT, inSelectSrc, ipOutput } from './ip_output.js';
import { icmpRedirectInput } from './ip_redirect.js';
import { rawInput } from './raw_ip.js';

/** Bytes of the offending datagram's data quoted after its header (RFC 792; NetBSD icmpreturndatabytes). */
export const ICMP_RETURN_DATA = 8;

/** The rate limiter of ICMP errors (NetBSD ppsratecheck): a count per whole second. */
class IcmpLimiter {
  second = -1;
  count = 0;
}

const LIMITER = defineKernelState('ICMP rate limiter (component net_netinet)', () => new IcmpLimiter());

/**
 * ppsratecheck against net.inet.icmp.errppslimit: at most that many errors
 * in each second of the kernel clock; 0 sends none, a negative limit any.
 */
function icmpRateCheck(inet: Inet): boolean {
  const limit = inet.icmpErrPpsLimit;
  if (limit < 0) return true;
  const k = inet.kernel;
  const rl = LIMITER.get(k);
  const sec = Math.floor(k.uptime() / 1000);
  if (sec !== rl.second) {
    rl.second = sec;
    rl.count = 0;
  }
  if (rl.count >= limit) return false;
  rl.count++;
  return true;
}

/** ICMP_INFOTYPE: queries and their replies (never errors). */
function icmpInfoType(type: number): boolean {
  return type === 0 || type === 8 || type === 9 || type === 10 || (type >= 13 && type <= 18);
}

/** An address no reply may be sent to (RFC 1122 §3.2.2 (e), §3.2.2.6). */
function badReturnAddress(inet: Inet, addr: number, rcvif: Ifnet | null): boolean {
  if (addr === INADDR_ANY || addr === INADDR_BROADCAST || inAddrIsMulticast(addr)) return true;
  if (inAddrIsLoopback(addr) && rcvif && !(rcvif.flags & IFF_LOOPBACK)) return true;
  return inBroadcast(inet, addr, rcvif);
}

function rcvifOf(inet: Inet, m: Mbuf): Ifnet | null {
  return m.rcvif ? inet.ns.ifs.byIndex[m.rcvif] ?? null : null;
}

/**
 * The source of a reply or error about a datagram sent to `origDst`
 * (icmp_reflect): the address it was sent to when that is ours; otherwise
 * the receiving interface's address; otherwise whatever routes back.
 */
function reflectSource(inet: Inet, origDst: number, rcvif: Ifnet | null, replyTo: number): number {
  const a = inet.addrs;
  for (let i = 0; i < a.length; i++) if (a[i]!.addr === origDst) return origDst;
  if (inAddrIsLoopback(origDst) && rcvif && rcvif.flags & IFF_LOOPBACK) return origDst;
  if (rcvif) {
    const ia = inet.firstAddr(rcvif);
    if (ia) return ia.addr;
  }
  return inSelectSrc(inet, replyTo);
}

/**
 * icmp_error: tell the sender of `m` (which starts at its IP header) about
 * it. Owns and frees `m`. `mtu` is the next-hop MTU for
 * ICMP_UNREACH_NEEDFRAG, the pointer for ICMP_PARAMPROB and the better
 * gateway for ICMP_REDIRECT.
 *
 * RFC 1122 §3.2.2: never about an ICMP error, a datagram sent to a
 * broadcast or multicast address (IP or link), a non-first fragment, or
 * from an address that does not name a single host.
 */
export function icmpError(inet: Inet, m: Mbuf, type: number, code: number, mtu: number): void {
  const k = inet.kernel;
  const st = inet.icmpstat;
  st.error++;
  const buf = m.buf;
  const off = m.off;
  const hlen = m.len >= 20 ? ipHlen(buf, off) : 0;
  if (hlen < 20 || hlen > m.len) {
    st.oldshort++;
    k.mbufs.free(m);
    return;
  }
  if (type !== ICMP_REDIRECT && ipOff(buf, off) & IP_OFFMASK) {
    k.mbufs.free(m);
    return;
  }
  if (ipP(buf, off) === IPPROTO_ICMP && type !== ICMP_REDIRECT && m.len >= hlen + ICMP_MINLEN && !icmpInfoType(buf[off + hlen]!)) {
    st.oldicmp++;
    k.mbufs.free(m);
    return;
  }
  const rcvif = rcvifOf(inet, m);
  const origSrc = ipSrc(buf, off);
  const origDst = ipDst(buf, off);
  if (m.flags & (M_BCAST | M_MCAST) || inAddrIsMulticast(origDst) || inBroadcast(inet, origDst, rcvif) || badReturnAddress(inet, origSrc, rcvif)) {
    k.mbufs.free(m);
    return;
  }
  if (!icmpRateCheck(inet)) {
    st.ratelimit++;
    k.mbufs.free(m);
    return;
  }
  // RFC 792: the internet header plus the first 64 bits of the data.
  const dataLen = Math.min(ipLen(buf, off), m.len) - hlen;
  const quoteLen = hlen + Math.min(ICMP_RETURN_DATA, Math.max(0, dataLen));
  const n = k.mbufs.get(ICMP_HDR_LEN + quoteLen);
  if (!n) {
    k.mbufs.free(m);
    return;
  }
  let rest = 0;
  if (type === ICMP_UNREACH && code === ICMP_UNREACH_NEEDFRAG) rest = mtu & 0xffff;
  else if (type === ICMP_REDIRECT) rest = mtu >>> 0; // the gateway address (RFC 792)
  else if (type === ICMP_PARAMPROB) rest = ((mtu & 0xff) << 24) >>> 0;
  else if (type === ICMP_REDIRECT) rest = mtu >>> 0;
  icmpWriteHeader(n.buf, n.off, type, code, rest);
  n.buf.set(buf.subarray(off, off + quoteLen), n.off + ICMP_HDR_LEN);
  icmpSetChecksum(n.buf, n.off, n.len);
  const src = reflectSource(inet, origDst, rcvif, origSrc);
  const tos = ipTos(buf, off);
  k.mbufs.free(m);
  if (type <= ICMP_MAXTYPE) st.outhist[type]!++;
  ipOutput(inet, n, src, origSrc, IPPROTO_ICMP, IP_MAXTTL, tos, 0);
}

/*
 * What an error means to a transport protocol (NetBSD inetctlerrmap):
 * 0 is "tell nobody".
 */
function unreachErrno(code: number): number {
  switch (code) {
    case ICMP_UNREACH_PROTOCOL:
    case ICMP_UNREACH_PORT:
      return ECONNREFUSED;
    case ICMP_UNREACH_NEEDFRAG:
      return EMSGSIZE;
    default:
      return EHOSTUNREACH;
  }
}

/** protox[IPPROTO_ICMP]: `m` starts at the IP header, the message at `hlen`. Owns `m`. */
export function icmpInput(inet: Inet, m: Mbuf, hlen: number): void {
  const k = inet.kernel;
  const st = inet.icmpstat;
  const buf = m.buf;
  const off = m.off;
  const ioff = off + hlen;
  const icmplen = m.len - hlen;
  const c = icmpCheck(buf, ioff, icmplen);
  if (c !== IcmpCheck.Ok) {
    if (c === IcmpCheck.TooShort) st.tooshort++;
    else st.checksum++;
    k.mbufs.free(m);
    return;
  }
  const type = icmpType(buf, ioff);
  const code = icmpCode(buf, ioff);
  if (type <= ICMP_MAXTYPE) st.inhist[type]!++;

  // Raw sockets see every message, before anything below reuses the buffer.
  rawInput(inet, m, hlen);

  let errno = 0;
  switch (type) {
    case ICMP_ECHO:
      icmpEcho(inet, m, hlen, ICMP_ECHOREPLY, icmplen);
      return;
    case ICMP_TSTAMP:
      if (icmplen < ICMP_TSLEN) {
        st.badlen++;
        break;
      }
      icmpEcho(inet, m, hlen, ICMP_TSTAMPREPLY, icmplen);
      return;
    case ICMP_UNREACH:
      if (code > ICMP_UNREACH_PRECEDENCE_CUTOFF) {
        st.badcode++;
        break;
      }
      errno = unreachErrno(code);
      break;
    case ICMP_TIMXCEED:
      if (code > 1) {
        st.badcode++;
        break;
      }
      // Passed up as EHOSTUNREACH with the ICMP type and code (the quoted
      // datagram follows the 8-byte ICMP header): each protocol decides. UDP
      // ignores it, as NetBSD's inetctlerrmap does; TCP too, unless FreeBSD's
      // icmp_may_rst makes it a hard error while connecting (RFC 1122 4.2.3.9).
      errno = EHOSTUNREACH;
      break;
    case ICMP_PARAMPROB:
      if (code > 1) {
        st.badcode++;
        break;
      }
      errno = ENOPROTOOPT;
      break;
    case ICMP_SOURCEQUENCH:
      // Deprecated (RFC 6633): counted, shown to raw sockets, otherwise ignored.
      if (code !== 0) st.badcode++;
      break;
    case ICMP_REDIRECT:
      // A host takes the better first hop (ip_redirect.ts); raw sockets saw it already.
      if (code > 3) st.badcode++;
      else icmpRedirectInput(inet, m, ioff, icmplen);
      break;
    default:
      break;
  }
  if (errno !== 0 && icmpIsError(type)) {
    if (icmpQuoteCheck(buf, ioff, icmplen) !== IcmpCheck.Ok) {
      st.badlen++;
    } else {
      const q = ioff + ICMP_HDR_LEN;
      const ctl = inet.ctlinput[ipP(buf, q)];
      if (ctl) {
        const mtu = type === ICMP_UNREACH && code === ICMP_UNREACH_NEEDFRAG ? icmpNextMtu(buf, ioff) : 0;
        ctl(inet, errno, ipSrc(buf, q), ipDst(buf, q), buf, q, icmplen - ICMP_HDR_LEN, mtu);
      }
    }
  }
  k.mbufs.free(m);
}

/**
 * Echo and timestamp replies (icmp_reflect), in the request's own buffer:
 * from the address that was asked (RFC 1122 §3.2.2.6), back to the asker,
 * IP options dropped, TTL 255 as NetBSD sends them. Requests to a broadcast
 * or multicast address get no answer unless net.inet.icmp.bmcastecho is 1
 * (NetBSD's default 0: smurf amplification, RFC 2644); the answer then comes
 * from the receiving interface's address. Owns `m`.
 */
function icmpEcho(inet: Inet, m: Mbuf, hlen: number, replyType: number, icmplen: number): void {
  const k = inet.kernel;
  const st = inet.icmpstat;
  const buf = m.buf;
  const off = m.off;
  const origSrc = ipSrc(buf, off);
  const origDst = ipDst(buf, off);
  const rcvif = rcvifOf(inet, m);
  if (!inet.bmcastecho && (m.flags & (M_BCAST | M_MCAST) || inAddrIsMulticast(origDst) || inBroadcast(inet, origDst, rcvif))) {
    st.bmcastecho++;
    k.mbufs.free(m);
    return;
  }
  if (badReturnAddress(inet, origSrc, rcvif)) {
    st.badaddr++;
    k.mbufs.free(m);
    return;
  }
  const src = reflectSource(inet, origDst, rcvif, origSrc);
  const tos = ipTos(buf, off);
  // RFC 1122 §3.2.2.6: a record route option (ours added on input) goes
  // back in the reply, to be filled on the way home; other options do not.
  const rr = hlen > IP_HDR_MIN ? findRecordRoute(buf, off, hlen) : -1;
  const rrLen = rr < 0 ? 0 : buf[off + rr + 1]!;
  const optLen = (rrLen + 3) & ~3;
  const opts = rr < 0 ? null : buf.slice(off + rr, off + rr + rrLen);
  m.adj(hlen - optLen - (rr < 0 ? 0 : IP_HDR_MIN));
  const io = m.off + (rr < 0 ? 0 : IP_HDR_MIN + optLen);
  icmpSetType(buf, io, replyType);
  if (replyType === ICMP_TSTAMPREPLY) {
    // Receive and transmit timestamps: milliseconds, with the high bit set
    // because the kernel clock is not UT midnight-based (RFC 792).
    const t = ((Math.floor(k.uptime()) % 86_400_000) | 0x80000000) >>> 0;
    for (const at of [12, 16]) {
      buf[io + at] = t >>> 24;
      buf[io + at + 1] = t >>> 16;
      buf[io + at + 2] = t >>> 8;
      buf[io + at + 3] = t;
    }
  }
  icmpSetChecksum(buf, io, icmplen);
  // The reply is our own packet now, not a received one.
  m.flags &= ~(M_BCAST | M_MCAST | M_LOOP);
  m.rcvif = 0;
  st.reflect++;
  st.outhist[replyType]!++;
  if (opts === null) {
    ipOutput(inet, m, src, origSrc, IPPROTO_ICMP, IP_MAXTTL, tos, 0);
    return;
  }
  // The header with its option written here; ipOutput finishes it (length, id, checksum).
  ipWriteHeader(buf, m.off, tos, m.len, 0, 0, IP_MAXTTL, IPPROTO_ICMP, src, origSrc);
  ipSetHl(buf, m.off, (IP_HDR_MIN + optLen) >>> 2);
  buf.set(opts, m.off + IP_HDR_MIN);
  buf.fill(0, m.off + IP_HDR_MIN + rrLen, m.off + IP_HDR_MIN + optLen);
  ipOutput(inet, m, src, origSrc, IPPROTO_ICMP, IP_MAXTTL, tos, IP_RAWOUTPUT);
}

/** Where the record route option sits in a header (its offset from `off`), or -1. */
function findRecordRoute(buf: Uint8Array, off: number, hlen: number): number {
  for (let i = IP_HDR_MIN; i < hlen;) {
    const opt = buf[off + i]!;
    if (opt === 0) break;
    if (opt === 1) {
      i++;
      continue;
    }
    const olen = buf[off + i + 1]!;
    if (opt === 7) return i;
    i += olen;
  }
  return -1;
}
