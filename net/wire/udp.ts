/*
 * UDP header view (RFC 768).
 *
 *   0             2             4             6             8
 *   +-------------+-------------+-------------+-------------+
 *   | source port | dest port   | length      | checksum    |  data...
 *   +-------------+-------------+-------------+-------------+
 *
 * The checksum covers a pseudo header (source, destination, zero, protocol
 * 17, UDP length), the header and the data. A transmitted checksum of 0
 * means "none computed"; a computed checksum of 0 is therefore sent as
 * 0xffff, its one's complement twin (RFC 768, "If the computed checksum is
 * zero, it is transmitted as all ones").
 *
 * Call order on input: ip_input → udp_input: udpCheck() over the IP payload
 * (count and drop unless Ok) → the ports → deliver udpLength() - 8 bytes
 * from off + UDP_HDR_LEN (the UDP length wins over a longer IP payload,
 * as in BSD, which trims). On output: put the data in place, then
 * udpWriteHeader() and udpSetChecksum().
 */

import { cksumAdd, cksumFinish, pseudoHeaderSum } from './cksum.js';
import { IPPROTO_UDP } from './ipv4.js';

export const UDP_HDR_LEN = 8;

const OFF_SPORT = 0;
const OFF_DPORT = 2;
const OFF_ULEN = 4;
const OFF_SUM = 6;

/** Outcome of udpCheck(), one per NetBSD udpstat counter. */
export const UdpCheck = {
  Ok: 0,
  /** Fewer than 8 bytes: udps_hdrops ("with incomplete header"). */
  TooShort: 1,
  /** Length field < 8 or beyond the IP payload: udps_badlen ("with bad data length field"). */
  BadLen: 2,
  /** Checksum present and wrong: udps_badsum ("with bad checksum"). */
  BadSum: 3,
} as const;
export type UdpCheck = (typeof UdpCheck)[keyof typeof UdpCheck];

/**
 * The one check, in NetBSD udp_input()'s order: header present, length
 * field sane, checksum (skipped when the sender sent 0: udpSum() === 0 is
 * udps_nosum, counted by the caller). `len` is the IP payload length;
 * `src`/`dst` are the IP addresses (u32) for the pseudo header.
 * After Ok, the header accessors and [off, off + udpLength()) are in range.
 */
export function udpCheck(buf: Uint8Array, off: number, len: number, src: number, dst: number): UdpCheck {
  if (off < 0 || len < UDP_HDR_LEN || len > buf.length - off) return UdpCheck.TooShort;
  const ulen = udpLength(buf, off);
  if (ulen < UDP_HDR_LEN || ulen > len) return UdpCheck.BadLen;
  if (udpSum(buf, off) !== 0) {
    const sum = cksumAdd(pseudoHeaderSum(src, dst, IPPROTO_UDP, ulen), buf, off, ulen);
    if (cksumFinish(sum) !== 0) return UdpCheck.BadSum;
  }
  return UdpCheck.Ok;
}

function read16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function write16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v;
}

export function udpSport(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_SPORT);
}

export function udpDport(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_DPORT);
}

/** The length field (BSD's uh_ulen): header plus data. */
export function udpLength(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_ULEN);
}

/** The checksum field as sent; 0 means the sender computed none. */
export function udpSum(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_SUM);
}

export function udpSetSport(buf: Uint8Array, off: number, port: number): void {
  write16(buf, off + OFF_SPORT, port);
}

export function udpSetDport(buf: Uint8Array, off: number, port: number): void {
  write16(buf, off + OFF_DPORT, port);
}

export function udpSetLength(buf: Uint8Array, off: number, ulen: number): void {
  write16(buf, off + OFF_ULEN, ulen);
}

export function udpSetSum(buf: Uint8Array, off: number, sum: number): void {
  write16(buf, off + OFF_SUM, sum);
}

/**
 * Writes the header with a zero checksum ("none"). `ulen` is header plus
 * data. Follow with udpSetChecksum() unless checksums are off
 * (net.inet.udp.checksum = 0). Returns UDP_HDR_LEN.
 */
export function udpWriteHeader(buf: Uint8Array, off: number, sport: number, dport: number, ulen: number): number {
  write16(buf, off + OFF_SPORT, sport);
  write16(buf, off + OFF_DPORT, dport);
  write16(buf, off + OFF_ULEN, ulen);
  write16(buf, off + OFF_SUM, 0);
  return UDP_HDR_LEN;
}

/**
 * Computes and stores the checksum over the pseudo header and udpLength()
 * bytes from `off`; a computed 0 is stored as 0xffff (RFC 768).
 */
export function udpSetChecksum(buf: Uint8Array, off: number, src: number, dst: number): void {
  const ulen = udpLength(buf, off);
  write16(buf, off + OFF_SUM, 0);
  const sum = cksumFinish(cksumAdd(pseudoHeaderSum(src, dst, IPPROTO_UDP, ulen), buf, off, ulen));
  write16(buf, off + OFF_SUM, sum === 0 ? 0xffff : sum);
}
