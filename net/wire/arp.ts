/*
 * ARP for IPv4 over Ethernet (RFC 826), the 28-byte form:
 *
 *   0       2       4   5   6       8                14          18                24          28
 *   +-------+-------+---+---+-------+-----------------+-----------+-----------------+-----------+
 *   |  hrd  |  pro  |hln|pln|  op   | sha (6)         | spa (4)   | tha (6)         | tpa (4)   |
 *   +-------+-------+---+---+-------+-----------------+-----------+-----------------+-----------+
 *
 * Call order: ether_input → arpCheck() (count the result and drop unless Ok)
 * → in_arpinput reads op/spa/tpa and the hardware addresses with the
 * accessors below. Output: arpWrite() into headroom after the Ethernet
 * header, or the setters to turn a request into a reply in place.
 */

import { ETHERTYPE_IP, macCopy, macEquals, macIsBroadcast } from './ether.js';

export const ARPHRD_ETHER = 1;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;
/** The fixed part (struct arphdr): hrd, pro, hln, pln, op. */
export const ARP_HDR_LEN = 8;
/** The whole message for Ethernet (hln 6) and IPv4 (pln 4). */
export const ARP_ETHER_IP_LEN = 28;

const OFF_HRD = 0;
const OFF_PRO = 2;
const OFF_HLN = 4;
const OFF_PLN = 5;
const OFF_OP = 6;
const OFF_SHA = 8;
const OFF_SPA = 14;
const OFF_THA = 18;
const OFF_TPA = 24;

/**
 * Outcome of arpCheck(), one per NetBSD arpstat counter so ARP input counts
 * the right one (netstat -s: "packets with bad (short) length", "packets
 * with unknown protocol type").
 */
export const ArpCheck = {
  Ok: 0,
  /** Shorter than struct arphdr or than its own hln/pln say: arps_rcvbadlen. */
  BadLen: 1,
  /** Not Ethernet/IPv4 (hrd, pro, hln or pln): arps_rcvbadproto. */
  BadProto: 2,
} as const;
export type ArpCheck = (typeof ArpCheck)[keyof typeof ArpCheck];

/**
 * The one check, in NetBSD arpintr()'s order: room for struct arphdr, room
 * for the addresses its hln and pln announce, then the protocol. Beyond
 * NetBSD (which lets in_arpinput cope with other lengths) we insist on
 * hrd 1, hln 6, pln 4: this view knows only that layout, and such a packet
 * is counted as arps_rcvbadproto. After Ok, no accessor reads out of range.
 */
export function arpCheck(buf: Uint8Array, off: number, len: number): ArpCheck {
  if (off < 0 || len < ARP_HDR_LEN || len > buf.length - off) return ArpCheck.BadLen;
  const hln = buf[off + OFF_HLN]!;
  const pln = buf[off + OFF_PLN]!;
  if (len < ARP_HDR_LEN + 2 * hln + 2 * pln) return ArpCheck.BadLen;
  if (arpPro(buf, off) !== ETHERTYPE_IP) return ArpCheck.BadProto;
  if (arpHrd(buf, off) !== ARPHRD_ETHER || hln !== 6 || pln !== 4) return ArpCheck.BadProto;
  return ArpCheck.Ok;
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

export function arpHrd(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_HRD);
}

export function arpPro(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_PRO);
}

export function arpHln(buf: Uint8Array, off: number): number {
  return buf[off + OFF_HLN]!;
}

export function arpPln(buf: Uint8Array, off: number): number {
  return buf[off + OFF_PLN]!;
}

export function arpOp(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_OP);
}

/** Sender protocol address, u32. */
export function arpSpa(buf: Uint8Array, off: number): number {
  return read32(buf, off + OFF_SPA);
}

/** Target protocol address, u32. */
export function arpTpa(buf: Uint8Array, off: number): number {
  return read32(buf, off + OFF_TPA);
}

export function arpCopySha(buf: Uint8Array, off: number, to: Uint8Array, toOff: number): void {
  macCopy(buf, off + OFF_SHA, to, toOff);
}

export function arpCopyTha(buf: Uint8Array, off: number, to: Uint8Array, toOff: number): void {
  macCopy(buf, off + OFF_THA, to, toOff);
}

export function arpShaEquals(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): boolean {
  return macEquals(buf, off + OFF_SHA, mac, macOff);
}

export function arpThaEquals(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): boolean {
  return macEquals(buf, off + OFF_THA, mac, macOff);
}

/** A broadcast sender hardware address is bogus (arps_rcvbcastsha). */
export function arpShaIsBroadcast(buf: Uint8Array, off: number): boolean {
  return macIsBroadcast(buf, off + OFF_SHA);
}

export function arpSetOp(buf: Uint8Array, off: number, op: number): void {
  write16(buf, off + OFF_OP, op);
}

export function arpSetSpa(buf: Uint8Array, off: number, addr: number): void {
  write32(buf, off + OFF_SPA, addr);
}

export function arpSetTpa(buf: Uint8Array, off: number, addr: number): void {
  write32(buf, off + OFF_TPA, addr);
}

export function arpSetSha(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): void {
  macCopy(mac, macOff, buf, off + OFF_SHA);
}

export function arpSetTha(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): void {
  macCopy(mac, macOff, buf, off + OFF_THA);
}

/**
 * Writes a complete Ethernet/IPv4 ARP message (28 bytes) at `off`.
 * `sha` and `tha` are 6-byte addresses read from their index 0; for a
 * request the target hardware address is all zeros (RFC 826 leaves it
 * unspecified; NetBSD and Linux send zeros). Returns ARP_ETHER_IP_LEN.
 */
export function arpWrite(
  buf: Uint8Array,
  off: number,
  op: number,
  sha: Uint8Array,
  spa: number,
  tha: Uint8Array,
  tpa: number,
): number {
  write16(buf, off + OFF_HRD, ARPHRD_ETHER);
  write16(buf, off + OFF_PRO, ETHERTYPE_IP);
  buf[off + OFF_HLN] = 6;
  buf[off + OFF_PLN] = 4;
  write16(buf, off + OFF_OP, op);
  macCopy(sha, 0, buf, off + OFF_SHA);
  write32(buf, off + OFF_SPA, spa);
  macCopy(tha, 0, buf, off + OFF_THA);
  write32(buf, off + OFF_TPA, tpa);
  return ARP_ETHER_IP_LEN;
}
