/*
 * ICMPv6 (RFC 4443) and the Neighbor Discovery messages it carries
 * (RFC 4861 §4.3, §4.4, §4.6): header views, constants with BSD's names,
 * and writers.
 *
 *   0      1      2             4                             8
 *   +------+------+-------------+-----------------------------+
 *   | type | code | checksum    | rest of header (4 bytes)    |  body...
 *   +------+------+-------------+-----------------------------+
 *
 * The checksum covers the IPv6 pseudo header (RFC 4443 §2.3), so checking
 * and setting it take the two addresses. An error message's body quotes as
 * much of the offending packet as fits in the minimum MTU (§2.4 (c)).
 *
 * Neighbor Solicitation / Advertisement (24 bytes, then options):
 *
 *   8       12                              28
 *   +-------+-------------------------------+----------------------
 *   | NS: reserved; NA: R S O flags, rsvd | target address | options (type, len in 8-octet units, value)
 *
 * Call order on input: ip6_input → icmp6_input: icmp6Check() over the
 * upper-layer bytes with the header's addresses (count and drop unless Ok)
 * → type/code → errors: the quoted IPv6 header at off + ICMP6_HDR_LEN;
 * ND: length and option checks (ndOptionsOk), then ndFindLla.
 */
import { ip6Cksum, IP6_OFF_DST, IP6_OFF_SRC, IPPROTO_ICMPV6 } from './ipv6.js';

/* Error messages (RFC 4443 §3) and their codes. */
export const ICMP6_DST_UNREACH = 1;
export const ICMP6_DST_UNREACH_NOROUTE = 0;
export const ICMP6_DST_UNREACH_ADMIN = 1;
export const ICMP6_DST_UNREACH_BEYONDSCOPE = 2;
export const ICMP6_DST_UNREACH_ADDR = 3;
export const ICMP6_DST_UNREACH_NOPORT = 4;
export const ICMP6_DST_UNREACH_POLICY = 5;
export const ICMP6_DST_UNREACH_REJECT = 6;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_TIME_EXCEED_TRANSIT = 0;
export const ICMP6_TIME_EXCEED_REASSEMBLY = 1;
export const ICMP6_PARAM_PROB = 4;
export const ICMP6_PARAMPROB_HEADER = 0;
export const ICMP6_PARAMPROB_NEXTHEADER = 1;
export const ICMP6_PARAMPROB_OPTION = 2;

/* Informational messages (RFC 4443 §4) and Neighbor Discovery (RFC 4861 §4). */
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;
export const MLD_LISTENER_QUERY = 130;
export const MLD_LISTENER_REPORT = 131;
export const MLD_LISTENER_DONE = 132;
export const ND_ROUTER_SOLICIT = 133;
export const ND_ROUTER_ADVERT = 134;
export const ND_NEIGHBOR_SOLICIT = 135;
export const ND_NEIGHBOR_ADVERT = 136;
export const ND_REDIRECT = 137;
export const MLDV2_LISTENER_REPORT = 143;

export const ICMP6_HDR_LEN = 8;
/** An error quotes the offending packet up to this size of the whole error (RFC 4443 §2.4 (c)). */
export const ICMP6_ERROR_MAXLEN = 1280;

/* ND. */
/** NS and NA without options. */
export const ND_NS_LEN = 24;
export const ND_NA_LEN = 24;
/** Where the target address sits in an NS or NA. */
export const ND_OFF_TARGET = 8;
/** NA flags (RFC 4861 §4.4), in the first byte after the checksum. */
export const ND_NA_FLAG_ROUTER = 0x80;
export const ND_NA_FLAG_SOLICITED = 0x40;
export const ND_NA_FLAG_OVERRIDE = 0x20;
/* Option types (RFC 4861 §4.6). */
export const ND_OPT_SOURCE_LINKADDR = 1;
export const ND_OPT_TARGET_LINKADDR = 2;
export const ND_OPT_PREFIX_INFORMATION = 3;
export const ND_OPT_REDIRECTED_HEADER = 4;
export const ND_OPT_MTU = 5;
/** A link-layer address option for Ethernet: type, length 1 (8 octets), 6-byte MAC. */
export const ND_OPT_LLA_ETHER_LEN = 8;

export const Icmp6Check = {
  Ok: 0,
  /** Fewer than 8 bytes: icp6s_tooshort. */
  TooShort: 1,
  /** icp6s_checksum. */
  BadSum: 2,
} as const;
export type Icmp6Check = (typeof Icmp6Check)[keyof typeof Icmp6Check];

/**
 * A whole header, and a checksum that verifies under the pseudo header of
 * the IPv6 header at `ip6off` (RFC 4443 §2.3). `len` is the upper-layer
 * length (from this header to the end of the packet).
 */
export function icmp6Check(buf: Uint8Array, off: number, len: number, ip6off: number): Icmp6Check {
  if (!(len >= ICMP6_HDR_LEN) || off + len > buf.length) return Icmp6Check.TooShort;
  if (ip6Cksum(buf, off, len, IPPROTO_ICMPV6, buf, ip6off + IP6_OFF_SRC, buf, ip6off + IP6_OFF_DST) !== 0) return Icmp6Check.BadSum;
  return Icmp6Check.Ok;
}

/** RFC 4443 §2.1: types below 128 are errors. */
export function icmp6IsError(type: number): boolean {
  return type < 128;
}

export function icmp6Type(buf: Uint8Array, off: number): number {
  return buf[off]!;
}

export function icmp6Code(buf: Uint8Array, off: number): number {
  return buf[off + 1]!;
}

/** The 32-bit word after the checksum: MTU (packet too big), pointer (parameter problem), id/seq (echo). */
export function icmp6Rest(buf: Uint8Array, off: number): number {
  return ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
}

export function icmp6SetType(buf: Uint8Array, off: number, type: number): void {
  buf[off] = type;
}

/** Type, code, a zero checksum and the rest-of-header word. */
export function icmp6WriteHeader(buf: Uint8Array, off: number, type: number, code: number, rest: number): void {
  buf[off] = type;
  buf[off + 1] = code;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = rest >>> 24;
  buf[off + 5] = rest >>> 16;
  buf[off + 6] = rest >>> 8;
  buf[off + 7] = rest;
}

/** Compute and store the checksum of the `len`-byte message at `off` sent from `src` to `dst`. */
export function icmp6SetChecksum(buf: Uint8Array, off: number, len: number, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void {
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  const c = ip6Cksum(buf, off, len, IPPROTO_ICMPV6, src, srcOff, dst, dstOff);
  buf[off + 2] = c >>> 8;
  buf[off + 3] = c;
}

/* ------------------------------------------------------------------------ */
/* Neighbor Discovery */

/** NA flags byte. */
export function ndNaFlags(buf: Uint8Array, off: number): number {
  return buf[off + 4]!;
}

/**
 * RFC 4861 §7.1.1/§7.1.2: every option of the message at `off` (options
 * from `off + fixedLen` to `off + len`) has a non-zero length and ends
 * inside the message.
 */
export function ndOptionsOk(buf: Uint8Array, off: number, fixedLen: number, len: number): boolean {
  let p = off + fixedLen;
  const end = off + len;
  while (p < end) {
    if (p + 2 > end) return false;
    const olen = buf[p + 1]! << 3;
    if (olen === 0 || p + olen > end) return false;
    p += olen;
  }
  return true;
}

/**
 * Where the 6-byte Ethernet address of the first option of `type` (source
 * or target link-layer address) starts, or -1. Options were checked by
 * ndOptionsOk; an option too short for a MAC is ignored.
 */
export function ndFindLla(buf: Uint8Array, off: number, fixedLen: number, len: number, type: number): number {
  let p = off + fixedLen;
  const end = off + len;
  while (p + 2 <= end) {
    const olen = buf[p + 1]! << 3;
    if (olen === 0) return -1;
    if (buf[p] === type && olen >= ND_OPT_LLA_ETHER_LEN && p + olen <= end) return p + 2;
    p += olen;
  }
  return -1;
}

/** Write a link-layer address option at `off`; returns its length. */
export function ndWriteLlaOption(buf: Uint8Array, off: number, type: number, mac: Uint8Array): number {
  buf[off] = type;
  buf[off + 1] = 1;
  for (let i = 0; i < 6; i++) buf[off + 2 + i] = mac[i]!;
  return ND_OPT_LLA_ETHER_LEN;
}

/**
 * A Neighbor Solicitation for `target` at `off` (checksum left to the
 * caller), with a source link-layer address option when `slla` is given
 * (RFC 4861 §4.3: omitted when the source is unspecified). Returns its length.
 */
export function ndWriteNs(buf: Uint8Array, off: number, target: Uint8Array, tOff: number, slla: Uint8Array | null): number {
  icmp6WriteHeader(buf, off, ND_NEIGHBOR_SOLICIT, 0, 0);
  for (let i = 0; i < 16; i++) buf[off + ND_OFF_TARGET + i] = target[tOff + i]!;
  let len = ND_NS_LEN;
  if (slla !== null) len += ndWriteLlaOption(buf, off + len, ND_OPT_SOURCE_LINKADDR, slla);
  return len;
}

/** A Neighbor Advertisement for `target` with `flags` and a target link-layer address option. */
export function ndWriteNa(buf: Uint8Array, off: number, flags: number, target: Uint8Array, tOff: number, tlla: Uint8Array | null): number {
  icmp6WriteHeader(buf, off, ND_NEIGHBOR_ADVERT, 0, (flags & 0xff) << 24);
  for (let i = 0; i < 16; i++) buf[off + ND_OFF_TARGET + i] = target[tOff + i]!;
  let len = ND_NA_LEN;
  if (tlla !== null) len += ndWriteLlaOption(buf, off + len, ND_OPT_TARGET_LINKADDR, tlla);
  return len;
}
