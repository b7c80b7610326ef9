/*
 * IPv4 header view (RFC 791 §3.1).
 *
 *   0       1       2               4               6               8       9       10              12              16              20
 *   +-------+-------+---------------+---------------+---------------+-------+-------+---------------+---------------+---------------+
 *   |v4|hl  |  tos  |  total len    |  id           |flags|frag off |  ttl  | proto | header cksum  |  source       |  destination  |
 *   +-------+-------+---------------+---------------+---------------+-------+-------+---------------+---------------+---------------+
 *   then (hl - 5) 32-bit words of options
 *
 * Call order on input: ether_input → ipCheck() (count the result in the
 * matching ipstat counter and drop unless Ok; then trim the packet to
 * ipLen()) → ip_input reads fields with the accessors → protocol input at
 * off + ipHlen(). On output: ipWriteHeader() into headroom. Forwarding:
 * ipDecrementTtl(), which patches the checksum incrementally.
 *
 * Addresses are u32 in host order (see inaddr.ts). Field names follow BSD's
 * struct ip: ipOff() is the whole 16-bit ip_off word, flags included.
 */

import { cksumAdjust16, inCksum } from './cksum.js';

export const IPVERSION = 4;
/** Header without options. */
export const IP_HDR_MIN = 20;
/** Header with the most options (hl = 15). */
export const IP_HDR_MAX = 60;
export const IP_MAXPACKET = 65535;
/** Reserved flag, must be zero (RFC 791). */
export const IP_RF = 0x8000;
/** Don't fragment. */
export const IP_DF = 0x4000;
/** More fragments. */
export const IP_MF = 0x2000;
/** Fragment offset, in 8-byte units. */
export const IP_OFFMASK = 0x1fff;
/** NetBSD's IPDEFTTL, net.inet.ip.ttl. */
export const IP_DEFTTL = 64;
/** NetBSD's MAXTTL; ICMP replies go out with it. */
export const IP_MAXTTL = 255;
/** Subtracted from the TTL when forwarding (RFC 1812 §5.3.1). */
export const IPTTLDEC = 1;

export const IPPROTO_IP = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_IGMP = 2;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_RAW = 255;

const OFF_VHL = 0;
const OFF_TOS = 1;
const OFF_LEN = 2;
const OFF_ID = 4;
const OFF_OFF = 6;
const OFF_TTL = 8;
const OFF_P = 9;
const OFF_SUM = 10;
const OFF_SRC = 12;
const OFF_DST = 16;

/**
 * Outcome of ipCheck(), one per NetBSD ipstat counter, so ip_input counts
 * the right one (netstat -s names in the comments).
 */
export const IpCheck = {
  Ok: 0,
  /** Fewer than 20 bytes: ips_toosmall ("with size smaller than minimum"). */
  TooSmall: 1,
  /** Version is not 4: ips_badvers ("with incorrect version number"). */
  BadVers: 2,
  /** hl < 5 or the header runs past the data: ips_badhlen ("with header length < data size"). */
  BadHlen: 3,
  /** Header checksum wrong: ips_badsum ("bad header checksums"). */
  BadSum: 4,
  /** ip_len smaller than the header: ips_badlen ("with data length < header length"). */
  BadLen: 5,
  /** ip_len larger than the data received: ips_tooshort ("with data size < data length"). */
  TooShort: 6,
} as const;
export type IpCheck = (typeof IpCheck)[keyof typeof IpCheck];

/**
 * The one check, in NetBSD ip_input()'s order: size, version, header
 * length, header checksum, total length. `len` is the number of bytes
 * received from `off` (the link payload; Ethernet padding may make it larger
 * than ip_len, which is fine: trim to ipLen()). Pass verifySum = false only
 * where NetBSD skips it (loopback, ip_do_loopback_cksum = 0).
 * After Ok, every accessor and the options reads stay inside
 * [off, off + ipLen()).
 */
export function ipCheck(buf: Uint8Array, off: number, len: number, verifySum = true): IpCheck {
  if (off < 0 || len < IP_HDR_MIN || len > buf.length - off) return IpCheck.TooSmall;
  const vhl = buf[off + OFF_VHL]!;
  if (vhl >>> 4 !== IPVERSION) return IpCheck.BadVers;
  const hlen = (vhl & 0x0f) << 2;
  if (hlen < IP_HDR_MIN || hlen > len) return IpCheck.BadHlen;
  if (verifySum && (hlen === IP_HDR_MIN ? ipHdrSum20(buf, off) !== 0xffff : inCksum(buf, off, hlen) !== 0)) return IpCheck.BadSum;
  const total = ipLen(buf, off);
  if (total < hlen) return IpCheck.BadLen;
  if (total > len) return IpCheck.TooShort;
  return IpCheck.Ok;
}

function read16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function read32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

function write16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v;
}

function write32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
}

/* Accessors. */

export function ipVersion(buf: Uint8Array, off: number): number {
  return buf[off + OFF_VHL]! >>> 4;
}

/** Header length in 32-bit words (BSD's ip_hl). */
export function ipHl(buf: Uint8Array, off: number): number {
  return buf[off + OFF_VHL]! & 0x0f;
}

/** Header length in bytes: where the payload starts. */
export function ipHlen(buf: Uint8Array, off: number): number {
  return (buf[off + OFF_VHL]! & 0x0f) << 2;
}

/** Bytes of options after the fixed 20-byte header. */
export function ipOptionsLength(buf: Uint8Array, off: number): number {
  const n = ipHlen(buf, off) - IP_HDR_MIN;
  return n > 0 ? n : 0;
}

export function ipTos(buf: Uint8Array, off: number): number {
  return buf[off + OFF_TOS]!;
}

/** Total length: header plus data. */
export function ipLen(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_LEN);
}

export function ipId(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_ID);
}

/** The whole ip_off word: IP_RF | IP_DF | IP_MF | offset in 8-byte units. */
export function ipOff(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_OFF);
}

/** Fragment offset in bytes. */
export function ipFragOffset(buf: Uint8Array, off: number): number {
  return (read16(buf, off + OFF_OFF) & IP_OFFMASK) << 3;
}

/** True for any fragment (MF set or a non-zero offset): reassembly needed. */
export function ipIsFragment(buf: Uint8Array, off: number): boolean {
  return (read16(buf, off + OFF_OFF) & (IP_MF | IP_OFFMASK)) !== 0;
}

export function ipTtl(buf: Uint8Array, off: number): number {
  return buf[off + OFF_TTL]!;
}

/** Protocol (BSD's ip_p). */
export function ipP(buf: Uint8Array, off: number): number {
  return buf[off + OFF_P]!;
}

export function ipSum(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_SUM);
}

export function ipSrc(buf: Uint8Array, off: number): number {
  return read32(buf, off + OFF_SRC);
}

export function ipDst(buf: Uint8Array, off: number): number {
  return read32(buf, off + OFF_DST);
}

/* Setters: write in place; the checksum is the caller's (ipSetChecksum). */

/** Version 4 and header length `hl` in 32-bit words. */
export function ipSetHl(buf: Uint8Array, off: number, hl: number): void {
  buf[off + OFF_VHL] = (IPVERSION << 4) | (hl & 0x0f);
}

export function ipSetTos(buf: Uint8Array, off: number, tos: number): void {
  buf[off + OFF_TOS] = tos;
}

export function ipSetLen(buf: Uint8Array, off: number, len: number): void {
  write16(buf, off + OFF_LEN, len);
}

export function ipSetId(buf: Uint8Array, off: number, id: number): void {
  write16(buf, off + OFF_ID, id);
}

export function ipSetOff(buf: Uint8Array, off: number, ipOffWord: number): void {
  write16(buf, off + OFF_OFF, ipOffWord);
}

export function ipSetTtl(buf: Uint8Array, off: number, ttl: number): void {
  buf[off + OFF_TTL] = ttl;
}

export function ipSetP(buf: Uint8Array, off: number, p: number): void {
  buf[off + OFF_P] = p;
}

export function ipSetSum(buf: Uint8Array, off: number, sum: number): void {
  write16(buf, off + OFF_SUM, sum);
}

export function ipSetSrc(buf: Uint8Array, off: number, addr: number): void {
  write32(buf, off + OFF_SRC, addr);
}

export function ipSetDst(buf: Uint8Array, off: number, addr: number): void {
  write32(buf, off + OFF_DST, addr);
}

/**
 * The folded, uncomplemented sum of a 20-byte header (no options) at
 * `off`: ten words added in one expression, which for the header of
 * every packet costs a fraction of the general loop (RFC 1071 §4.1).
 * 0xffff means a header whose checksum field verifies. The caller has
 * checked that the 20 bytes are there.
 */
export function ipHdrSum20(b: Uint8Array, o: number): number {
  let s = ((b[o]! << 8) | b[o + 1]!) + ((b[o + 2]! << 8) | b[o + 3]!) + ((b[o + 4]! << 8) | b[o + 5]!) +
    ((b[o + 6]! << 8) | b[o + 7]!) + ((b[o + 8]! << 8) | b[o + 9]!) + ((b[o + 10]! << 8) | b[o + 11]!) +
    ((b[o + 12]! << 8) | b[o + 13]!) + ((b[o + 14]! << 8) | b[o + 15]!) + ((b[o + 16]! << 8) | b[o + 17]!) +
    ((b[o + 18]! << 8) | b[o + 19]!);
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** Recomputes and stores the header checksum over ipHlen() bytes (options included). */
export function ipSetChecksum(buf: Uint8Array, off: number): void {
  write16(buf, off + OFF_SUM, 0);
  const hlen = ipHlen(buf, off);
  write16(buf, off + OFF_SUM, hlen === IP_HDR_MIN ? ~ipHdrSum20(buf, off) & 0xffff : inCksum(buf, off, hlen));
}

/**
 * Writes a 20-byte header without options at `off` and its checksum.
 * `ipOffWord` is the whole ip_off word (e.g. IP_DF). Returns IP_HDR_MIN.
 */
export function ipWriteHeader(
  buf: Uint8Array,
  off: number,
  tos: number,
  totalLen: number,
  id: number,
  ipOffWord: number,
  ttl: number,
  proto: number,
  src: number,
  dst: number,
): number {
  buf[off + OFF_VHL] = (IPVERSION << 4) | (IP_HDR_MIN >>> 2);
  buf[off + OFF_TOS] = tos;
  write16(buf, off + OFF_LEN, totalLen);
  write16(buf, off + OFF_ID, id);
  write16(buf, off + OFF_OFF, ipOffWord);
  buf[off + OFF_TTL] = ttl;
  buf[off + OFF_P] = proto;
  write16(buf, off + OFF_SUM, 0);
  write32(buf, off + OFF_SRC, src);
  write32(buf, off + OFF_DST, dst);
  write16(buf, off + OFF_SUM, ~ipHdrSum20(buf, off) & 0xffff);
  return IP_HDR_MIN;
}

/**
 * Forwarding: lowers the TTL by IPTTLDEC and patches the checksum
 * incrementally (RFC 1624 eqn. 3 on the ttl/protocol word; RFC 1812
 * §5.3.1). Returns the new TTL. The caller has already sent ICMP time
 * exceeded for a TTL <= IPTTLDEC; a TTL of 0 is left alone (returns 0)
 * rather than wrapping to 255.
 */
export function ipDecrementTtl(buf: Uint8Array, off: number): number {
  const ttl = buf[off + OFF_TTL]!;
  if (ttl < IPTTLDEC) return ttl;
  const p = buf[off + OFF_P]!;
  const newTtl = ttl - IPTTLDEC;
  buf[off + OFF_TTL] = newTtl;
  write16(buf, off + OFF_SUM, cksumAdjust16(read16(buf, off + OFF_SUM), (ttl << 8) | p, (newTtl << 8) | p));
  return newTtl;
}
