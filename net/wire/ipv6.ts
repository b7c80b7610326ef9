/*
 * IPv6 header view (RFC 8200 §3) and the upper-layer checksum over its
 * pseudo header (RFC 8200 §8.1).
 *
 *   0       1       2       3       4               6       7       8                       24                      40
 *   +-------+-------+-------+-------+---------------+-------+-------+-----------------------+-----------------------+
 *   |v6| traffic class | flow label | payload length| next  | hop   |  source address       |  destination address  |
 *   |  (8 bits)  (20 bits)           |               | header| limit |  (16 bytes)           |  (16 bytes)           |
 *   +-------+-------+-------+-------+---------------+-------+-------+-----------------------+-----------------------+
 *
 * Call order on input: ether_input → ip6Check() (count the result in the
 * matching ip6stat counter and drop unless Ok; then trim the packet to
 * IP6_HDR_LEN + ip6Plen()) → ip6_input reads the fields, walks the
 * extension headers with the ip6Ext* accessors → upper layer at its offset.
 * On output: ip6WriteHeader() into headroom. Transports (TCP, UDP, ICMPv6)
 * checksum with ip6Cksum(), which sums the pseudo header from the two
 * addresses where they lie (in the packet, or in a PCB).
 *
 * Addresses are 16 bytes (in6addr.ts); the header's own are at
 * off + IP6_OFF_SRC and off + IP6_OFF_DST.
 */
import { cksumAdd, cksumFinish, cksumFold } from './cksum.js';

export const IPV6_VERSION = 6;
/** The fixed header; IPv6 has no options in it (extension headers follow it). */
export const IP6_HDR_LEN = 40;
/** The largest payload without a jumbogram (RFC 2675, not supported). */
export const IPV6_MAXPACKET = 65535;
/** RFC 8200 §5: every link carries at least 1280 bytes. */
export const IPV6_MMTU = 1280;
/** NetBSD's ip6_defhlim (net.inet6.ip6.hlim). */
export const IPV6_DEFHLIM = 64;
/** Hop limit of Neighbor Discovery messages (RFC 4861 §7.1: must be 255 to be believed). */
export const IPV6_MAXHLIM = 255;

/* Next header values (IANA "Assigned Internet Protocol Numbers"). */
export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;

export const IP6_OFF_SRC = 8;
export const IP6_OFF_DST = 24;
const OFF_VFC = 0;
const OFF_PLEN = 4;
const OFF_NXT = 6;
const OFF_HLIM = 7;

/** Outcome of ip6Check(), one per ip6stat counter. */
export const Ip6Check = {
  Ok: 0,
  /** Fewer than 40 bytes: ip6s_toosmall. */
  TooSmall: 1,
  /** Version is not 6: ip6s_badvers. */
  BadVers: 2,
  /** Payload length larger than what arrived: ip6s_tooshort. */
  TooShort: 3,
} as const;
export type Ip6Check = (typeof Ip6Check)[keyof typeof Ip6Check];

/**
 * The one check of ip6_input: a whole fixed header, version 6, and a payload
 * length that fits in the `len` bytes received (a longer frame is Ethernet
 * padding: trim to IP6_HDR_LEN + ip6Plen()). A payload length of 0 with a
 * Hop-by-Hop header would be a jumbogram (RFC 2675); ip6_input drops it.
 */
export function ip6Check(buf: Uint8Array, off: number, len: number): Ip6Check {
  if (!(off >= 0) || !(len >= IP6_HDR_LEN) || len > buf.length - off) return Ip6Check.TooSmall;
  if (buf[off + OFF_VFC]! >>> 4 !== IPV6_VERSION) return Ip6Check.BadVers;
  if (IP6_HDR_LEN + ip6Plen(buf, off) > len) return Ip6Check.TooShort;
  return Ip6Check.Ok;
}

/* Accessors. */

export function ip6Version(buf: Uint8Array, off: number): number {
  return buf[off + OFF_VFC]! >>> 4;
}

/** Traffic class (RFC 8200 §7): DSCP and ECN. */
export function ip6Tclass(buf: Uint8Array, off: number): number {
  return ((buf[off]! & 0x0f) << 4) | (buf[off + 1]! >>> 4);
}

/** Flow label, 20 bits (RFC 6437). */
export function ip6Flow(buf: Uint8Array, off: number): number {
  return ((buf[off + 1]! & 0x0f) << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
}

/** Payload length: what follows the fixed header, extension headers included. */
export function ip6Plen(buf: Uint8Array, off: number): number {
  return (buf[off + OFF_PLEN]! << 8) | buf[off + OFF_PLEN + 1]!;
}

export function ip6Nxt(buf: Uint8Array, off: number): number {
  return buf[off + OFF_NXT]!;
}

export function ip6Hlim(buf: Uint8Array, off: number): number {
  return buf[off + OFF_HLIM]!;
}

/* Setters. */

export function ip6SetPlen(buf: Uint8Array, off: number, plen: number): void {
  buf[off + OFF_PLEN] = plen >>> 8;
  buf[off + OFF_PLEN + 1] = plen;
}

export function ip6SetNxt(buf: Uint8Array, off: number, nxt: number): void {
  buf[off + OFF_NXT] = nxt;
}

export function ip6SetHlim(buf: Uint8Array, off: number, hlim: number): void {
  buf[off + OFF_HLIM] = hlim;
}

/**
 * Writes the fixed header at `off`: version 6, traffic class, flow label,
 * payload length, next header, hop limit, and the two addresses copied from
 * where they lie. Returns IP6_HDR_LEN.
 */
export function ip6WriteHeader(
  buf: Uint8Array, off: number, tclass: number, flow: number, plen: number, nxt: number, hlim: number,
  src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
): number {
  buf[off] = (IPV6_VERSION << 4) | ((tclass >>> 4) & 0x0f);
  buf[off + 1] = ((tclass & 0x0f) << 4) | ((flow >>> 16) & 0x0f);
  buf[off + 2] = flow >>> 8;
  buf[off + 3] = flow;
  buf[off + OFF_PLEN] = plen >>> 8;
  buf[off + OFF_PLEN + 1] = plen;
  buf[off + OFF_NXT] = nxt;
  buf[off + OFF_HLIM] = hlim;
  for (let i = 0; i < 16; i++) buf[off + IP6_OFF_SRC + i] = src[srcOff + i]!;
  for (let i = 0; i < 16; i++) buf[off + IP6_OFF_DST + i] = dst[dstOff + i]!;
  return IP6_HDR_LEN;
}

/* ------------------------------------------------------------------------ */
/* The upper-layer checksum (RFC 8200 §8.1). */

/** The sum of 16 bytes of an address as eight 16-bit words. */
function addrSum(b: Uint8Array, off: number): number {
  let s = 0;
  for (let i = 0; i < 16; i += 2) s += (b[off + i]! << 8) | b[off + i + 1]!;
  return s;
}

/**
 * The uncomplemented sum of the IPv6 pseudo header: source, destination,
 * the upper-layer packet length (32 bits) and the next header value
 * (RFC 8200 §8.1, figure in that section).
 */
export function ip6PseudoSum(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, len: number, nxt: number): number {
  return cksumFold(addrSum(src, srcOff) + addrSum(dst, dstOff) + (len >>> 16) + (len & 0xffff) + (nxt & 0xff));
}

/**
 * The checksum of `len` upper-layer bytes at `off` under the pseudo header:
 * what goes in the checksum field (computed with that field zeroed), or 0
 * when checking data that includes a correct one.
 */
export function ip6Cksum(
  buf: Uint8Array, off: number, len: number, nxt: number, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
): number {
  return cksumFinish(cksumAdd(ip6PseudoSum(src, srcOff, dst, dstOff, len, nxt), buf, off, len));
}

/* ------------------------------------------------------------------------ */
/* Extension headers (RFC 8200 §4). */

/**
 * The length in bytes of the extension header at `off` of type `nxt`:
 * Hop-by-Hop, Destination Options and Routing count 8-octet units after
 * the first 8 (§4.3, §4.4, §4.6); a Fragment header is 8 bytes (§4.5);
 * AH counts 4-octet units minus 2 (RFC 4302 §2.2). The caller has checked
 * that two bytes are there.
 */
export function ip6ExtLen(buf: Uint8Array, off: number, nxt: number): number {
  if (nxt === IPPROTO_FRAGMENT) return 8;
  if (nxt === IPPROTO_AH) return (buf[off + 1]! + 2) << 2;
  return (buf[off + 1]! + 1) << 3;
}

/** The next header field of an extension header (its first byte). */
export function ip6ExtNxt(buf: Uint8Array, off: number): number {
  return buf[off]!;
}

/* Fragment header (RFC 8200 §4.5). */
/** Offset in 8-octet units (13 bits) and the M flag, from the fragment header at `off`. */
export function ip6FragOffset(buf: Uint8Array, off: number): number {
  return (((buf[off + 2]! << 8) | buf[off + 3]!) & 0xfff8);
}

export function ip6FragMore(buf: Uint8Array, off: number): boolean {
  return (buf[off + 3]! & 1) !== 0;
}

/* Options in Hop-by-Hop and Destination Options headers (RFC 8200 §4.2). */
export const IP6OPT_PAD1 = 0;
export const IP6OPT_PADN = 1;
/** The two high bits of an option type: what to do when it is not recognised. */
export const IP6OPT_TYPE_SKIP = 0x00;
export const IP6OPT_TYPE_DISCARD = 0x40;
export const IP6OPT_TYPE_FORCEICMP = 0x80;
export const IP6OPT_TYPE_ICMP = 0xc0;
