/*
 * ICMP for IPv4 (RFC 792), header view and constants.
 *
 *   0      1      2             4                             8
 *   +------+------+-------------+-----------------------------+
 *   | type | code | checksum    | rest of header (4 bytes)    |  data...
 *   +------+------+-------------+-----------------------------+
 *
 * The "rest of header" depends on the type: identifier and sequence number
 * for echo; unused + next-hop MTU for "fragmentation needed" (RFC 1191 §4);
 * gateway address for redirect; pointer for parameter problem. An error
 * message's data quotes the offending datagram's IP header plus at least
 * 8 bytes of it (RFC 792; RFC 1812 §4.3.2.3 allows more).
 *
 * Call order on input: ip_input → icmp_input: icmpCheck() over the IP
 * payload (count and drop unless Ok) → icmpType()/icmpCode() → for error
 * types, icmpQuoteCheck() before reading the quoted header at
 * off + ICMP_HDR_LEN with the ipv4.ts accessors. On output: put the data in
 * place, then icmpWriteHeader() and icmpSetChecksum() over the whole message.
 */

import { inCksum } from './cksum.js';

/* Types (RFC 792, RFC 950, RFC 1256) and codes, with BSD's names. */
export const ICMP_ECHOREPLY = 0;
export const ICMP_UNREACH = 3;
export const ICMP_UNREACH_NET = 0;
export const ICMP_UNREACH_HOST = 1;
export const ICMP_UNREACH_PROTOCOL = 2;
export const ICMP_UNREACH_PORT = 3;
/** Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191). */
export const ICMP_UNREACH_NEEDFRAG = 4;
export const ICMP_UNREACH_SRCFAIL = 5;
export const ICMP_UNREACH_NET_UNKNOWN = 6;
export const ICMP_UNREACH_HOST_UNKNOWN = 7;
export const ICMP_UNREACH_ISOLATED = 8;
export const ICMP_UNREACH_NET_PROHIB = 9;
export const ICMP_UNREACH_HOST_PROHIB = 10;
export const ICMP_UNREACH_TOSNET = 11;
export const ICMP_UNREACH_TOSHOST = 12;
/** RFC 1812 §5.2.7.1 */
export const ICMP_UNREACH_ADMIN_PROHIBIT = 13;
export const ICMP_UNREACH_HOST_PRECEDENCE = 14;
export const ICMP_UNREACH_PRECEDENCE_CUTOFF = 15;
export const ICMP_SOURCEQUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_REDIRECT_NET = 0;
export const ICMP_REDIRECT_HOST = 1;
export const ICMP_REDIRECT_TOSNET = 2;
export const ICMP_REDIRECT_TOSHOST = 3;
export const ICMP_ECHO = 8;
export const ICMP_ROUTERADVERT = 9;
export const ICMP_ROUTERSOLICIT = 10;
export const ICMP_TIMXCEED = 11;
export const ICMP_TIMXCEED_INTRANS = 0;
export const ICMP_TIMXCEED_REASS = 1;
export const ICMP_PARAMPROB = 12;
/** Code 0: the pointer field locates the error. */
export const ICMP_PARAMPROB_ERRATPTR = 0;
export const ICMP_PARAMPROB_OPTABSENT = 1;
export const ICMP_PARAMPROB_LENGTH = 2;
export const ICMP_TSTAMP = 13;
export const ICMP_TSTAMPREPLY = 14;
export const ICMP_IREQ = 15;
export const ICMP_IREQREPLY = 16;
export const ICMP_MASKREQ = 17;
export const ICMP_MASKREPLY = 18;
/** Highest type NetBSD's icmp_input knows (it passes higher ones to raw sockets). */
export const ICMP_MAXTYPE = 40;

/** Type, code, checksum and the 4-byte rest of header. */
export const ICMP_HDR_LEN = 8;
/** Shortest valid message (BSD's ICMP_MINLEN). */
export const ICMP_MINLEN = 8;
/** Timestamp and timestamp reply (RFC 792). */
export const ICMP_TSLEN = 20;
/** Address mask request and reply (RFC 950). */
export const ICMP_MASKLEN = 12;
/** Shortest error message: header, a 20-byte IP header, 8 bytes of its data (BSD's ICMP_ADVLENMIN). */
export const ICMP_ADVLENMIN = ICMP_HDR_LEN + 20 + 8;

const OFF_TYPE = 0;
const OFF_CODE = 1;
const OFF_CKSUM = 2;
const OFF_ID = 4;
const OFF_SEQ = 6;
const OFF_PPTR = 4;
const OFF_GWADDR = 4;
const OFF_NEXTMTU = 6;

/** Outcome of icmpCheck() / icmpQuoteCheck(), one per NetBSD icmpstat counter. */
export const IcmpCheck = {
  Ok: 0,
  /** Fewer than ICMP_MINLEN bytes: icps_tooshort ("messages < minimum length"). */
  TooShort: 1,
  /** Checksum over the message is wrong: icps_checksum ("bad checksums"). */
  BadSum: 2,
  /** An error message too short for the datagram it quotes: icps_badlen ("messages with bad length"). */
  BadLen: 3,
} as const;
export type IcmpCheck = (typeof IcmpCheck)[keyof typeof IcmpCheck];

/**
 * The one check for every ICMP message: at least 8 bytes, checksum over all
 * `len` bytes (the IP payload) verifies. After Ok, the 8-byte header
 * accessors are in range; the data is [off + 8, off + len).
 */
export function icmpCheck(buf: Uint8Array, off: number, len: number): IcmpCheck {
  if (off < 0 || len < ICMP_MINLEN || len > buf.length - off) return IcmpCheck.TooShort;
  if (inCksum(buf, off, len) !== 0) return IcmpCheck.BadSum;
  return IcmpCheck.Ok;
}

/**
 * For error messages (unreachable, source quench, redirect, time exceeded,
 * parameter problem), after icmpCheck(): the quote must hold an IP header
 * of at least 20 bytes plus 8 bytes of its data (BSD: icmplen <
 * ICMP_ADVLENMIN, icmplen < ICMP_ADVLEN(icp), icmp_ip.ip_hl < 5 → badlen).
 * After Ok, the quoted header at off + ICMP_HDR_LEN can be read with the
 * ipv4.ts accessors and the first 8 bytes after it (the ports) are present.
 */
export function icmpQuoteCheck(buf: Uint8Array, off: number, len: number): IcmpCheck {
  if (off < 0 || len > buf.length - off) return IcmpCheck.TooShort;
  if (len < ICMP_ADVLENMIN) return IcmpCheck.BadLen;
  const quotedHl = buf[off + ICMP_HDR_LEN]! & 0x0f;
  if (quotedHl < 5 || len < ICMP_HDR_LEN + (quotedHl << 2) + 8) return IcmpCheck.BadLen;
  return IcmpCheck.Ok;
}

/** True for the types that quote a datagram and go to the protocols' ctlinput. */
export function icmpIsError(type: number): boolean {
  return (
    type === ICMP_UNREACH ||
    type === ICMP_SOURCEQUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_TIMXCEED ||
    type === ICMP_PARAMPROB
  );
}

function read16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function write16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v;
}

/* Accessors. */

export function icmpType(buf: Uint8Array, off: number): number {
  return buf[off + OFF_TYPE]!;
}

export function icmpCode(buf: Uint8Array, off: number): number {
  return buf[off + OFF_CODE]!;
}

export function icmpCksum(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_CKSUM);
}

/** Echo and timestamp identifier. */
export function icmpId(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_ID);
}

/** Echo and timestamp sequence number. */
export function icmpSeq(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_SEQ);
}

/** Next-hop MTU of "fragmentation needed" (RFC 1191 §4); 0 from an old router. */
export function icmpNextMtu(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_NEXTMTU);
}

/** Redirect: the gateway to use, u32. */
export function icmpGateway(buf: Uint8Array, off: number): number {
  return (
    ((buf[off + OFF_GWADDR]! << 24) |
      (buf[off + OFF_GWADDR + 1]! << 16) |
      (buf[off + OFF_GWADDR + 2]! << 8) |
      buf[off + OFF_GWADDR + 3]!) >>>
    0
  );
}

/** Parameter problem: offset of the offending octet in the quoted datagram. */
export function icmpPptr(buf: Uint8Array, off: number): number {
  return buf[off + OFF_PPTR]!;
}

/** The 4-byte rest of header as a u32, whatever the type. */
export function icmpRestOfHeader(buf: Uint8Array, off: number): number {
  return (
    ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0
  );
}

/* Setters and writers. */

export function icmpSetType(buf: Uint8Array, off: number, type: number): void {
  buf[off + OFF_TYPE] = type;
}

export function icmpSetCode(buf: Uint8Array, off: number, code: number): void {
  buf[off + OFF_CODE] = code;
}

export function icmpSetId(buf: Uint8Array, off: number, id: number): void {
  write16(buf, off + OFF_ID, id);
}

export function icmpSetSeq(buf: Uint8Array, off: number, seq: number): void {
  write16(buf, off + OFF_SEQ, seq);
}

/**
 * Writes type, code and the rest of header (as a u32: (id << 16) | seq for
 * echo, the next-hop MTU for NEEDFRAG, the gateway for redirect, pptr << 24
 * for parameter problem) with a zero checksum. Follow with
 * icmpSetChecksum() once the data is in place. Returns ICMP_HDR_LEN.
 */
export function icmpWriteHeader(
  buf: Uint8Array,
  off: number,
  type: number,
  code: number,
  restOfHeader: number,
): number {
  buf[off + OFF_TYPE] = type;
  buf[off + OFF_CODE] = code;
  write16(buf, off + OFF_CKSUM, 0);
  buf[off + 4] = restOfHeader >>> 24;
  buf[off + 5] = restOfHeader >>> 16;
  buf[off + 6] = restOfHeader >>> 8;
  buf[off + 7] = restOfHeader;
  return ICMP_HDR_LEN;
}

/** Echo or echo reply header with a zero checksum; follow with icmpSetChecksum(). */
export function icmpWriteEcho(buf: Uint8Array, off: number, type: number, id: number, seq: number): number {
  return icmpWriteHeader(buf, off, type, 0, (((id & 0xffff) << 16) | (seq & 0xffff)) >>> 0);
}

/** Computes and stores the checksum over the whole message, `len` bytes (header and data). */
export function icmpSetChecksum(buf: Uint8Array, off: number, len: number): void {
  write16(buf, off + OFF_CKSUM, 0);
  write16(buf, off + OFF_CKSUM, inCksum(buf, off, len));
}
