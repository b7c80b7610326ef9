/*
 * Ethernet II header view (IEEE 802.3 / RFC 894 framing for IPv4).
 *
 *   0                   6                  12     14
 *   +-------------------+-------------------+------+
 *   | destination (6)   | source (6)        | type |
 *   +-------------------+-------------------+------+
 *
 * Call order: the driver hands ether_input a frame; it calls etherCheck()
 * once, then reads etherType() and the addresses with the accessors below,
 * which never throw. Output writes the header into headroom with
 * etherWriteHeader(). Frames on shmif and TAP carry no FCS.
 *
 * Everything is a function over (buf, off): no view objects, no allocation.
 * MAC addresses are 6 bytes at some offset of some Uint8Array; the mac*
 * helpers work on any of them (a frame field, an ARP field, an interface's
 * own address).
 */

export const ETHER_ADDR_LEN = 6;
export const ETHER_TYPE_LEN = 2;
export const ETHER_CRC_LEN = 4;
export const ETHER_HDR_LEN = 14;
/**
 * Shortest frame on the wire without the FCS (64 - 4); shorter frames are
 * padded on output. Note: NetBSD's ETHER_MIN_LEN (64) counts the FCS; ours
 * does not, because no frame we see or send carries one.
 */
export const ETHER_MIN_LEN = 60;
/** Longest untagged frame without the FCS (1518 - 4). NetBSD's ETHER_MAX_LEN counts the FCS. */
export const ETHER_MAX_LEN = 1514;
/** Payload bytes in a full-size frame: the interface MTU. */
export const ETHERMTU = ETHER_MAX_LEN - ETHER_HDR_LEN;

export const ETHERTYPE_IP = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
/** Type fields below this are IEEE 802.3 lengths, not EtherTypes. */
export const ETHERTYPE_MIN = 0x0600;

const OFF_DST = 0;
const OFF_SRC = 6;
const OFF_TYPE = 12;

/** ff:ff:ff:ff:ff:ff. Shared; never write to it. */
export const ETHER_ADDR_BROADCAST: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/**
 * The one length check: true when `len` bytes at `off` hold an Ethernet
 * header and lie inside `buf`. After it, no accessor reads out of range.
 */
export function etherCheck(buf: Uint8Array, off: number, len: number): boolean {
  return off >= 0 && len >= ETHER_HDR_LEN && len <= buf.length - off;
}

export function etherType(buf: Uint8Array, off: number): number {
  return (buf[off + OFF_TYPE]! << 8) | buf[off + OFF_TYPE + 1]!;
}

export function etherSetType(buf: Uint8Array, off: number, type: number): void {
  buf[off + OFF_TYPE] = type >>> 8;
  buf[off + OFF_TYPE + 1] = type;
}

export function etherDstIsBroadcast(buf: Uint8Array, off: number): boolean {
  return macIsBroadcast(buf, off + OFF_DST);
}

/** True for multicast and broadcast destinations (the group bit, IEEE 802 §8.2). */
export function etherDstIsMulticast(buf: Uint8Array, off: number): boolean {
  return macIsMulticast(buf, off + OFF_DST);
}

export function etherDstEquals(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): boolean {
  return macEquals(buf, off + OFF_DST, mac, macOff);
}

export function etherSrcEquals(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): boolean {
  return macEquals(buf, off + OFF_SRC, mac, macOff);
}

export function etherCopyDst(buf: Uint8Array, off: number, to: Uint8Array, toOff: number): void {
  macCopy(buf, off + OFF_DST, to, toOff);
}

export function etherCopySrc(buf: Uint8Array, off: number, to: Uint8Array, toOff: number): void {
  macCopy(buf, off + OFF_SRC, to, toOff);
}

export function etherSetDst(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): void {
  macCopy(mac, macOff, buf, off + OFF_DST);
}

export function etherSetSrc(buf: Uint8Array, off: number, mac: Uint8Array, macOff: number): void {
  macCopy(mac, macOff, buf, off + OFF_SRC);
}

/**
 * Writes a 14-byte header at `off` (into headroom in front of the payload).
 * Returns ETHER_HDR_LEN. The caller has checked that the bytes exist.
 */
export function etherWriteHeader(
  buf: Uint8Array,
  off: number,
  dst: Uint8Array,
  dstOff: number,
  src: Uint8Array,
  srcOff: number,
  type: number,
): number {
  macCopy(dst, dstOff, buf, off + OFF_DST);
  macCopy(src, srcOff, buf, off + OFF_SRC);
  buf[off + OFF_TYPE] = type >>> 8;
  buf[off + OFF_TYPE + 1] = type;
  return ETHER_HDR_LEN;
}

/* MAC address helpers over (buffer, offset). */

export function macEquals(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return (
    a[aOff] === b[bOff] &&
    a[aOff + 1] === b[bOff + 1] &&
    a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 3] === b[bOff + 3] &&
    a[aOff + 4] === b[bOff + 4] &&
    a[aOff + 5] === b[bOff + 5]
  );
}

/** Copies 6 bytes; a byte loop beats subarray()+set() for 6 bytes and allocates nothing. */
export function macCopy(from: Uint8Array, fromOff: number, to: Uint8Array, toOff: number): void {
  to[toOff] = from[fromOff]!;
  to[toOff + 1] = from[fromOff + 1]!;
  to[toOff + 2] = from[fromOff + 2]!;
  to[toOff + 3] = from[fromOff + 3]!;
  to[toOff + 4] = from[fromOff + 4]!;
  to[toOff + 5] = from[fromOff + 5]!;
}

export function macIsBroadcast(buf: Uint8Array, off: number): boolean {
  return (
    (buf[off]! & buf[off + 1]! & buf[off + 2]! & buf[off + 3]! & buf[off + 4]! & buf[off + 5]!) === 0xff
  );
}

/** The I/G bit: the least significant bit of the first octet. Broadcast is multicast too. */
export function macIsMulticast(buf: Uint8Array, off: number): boolean {
  return (buf[off]! & 1) === 1;
}

export function macIsZero(buf: Uint8Array, off: number): boolean {
  return (buf[off]! | buf[off + 1]! | buf[off + 2]! | buf[off + 3]! | buf[off + 4]! | buf[off + 5]!) === 0;
}

/**
 * The Ethernet group address of an IPv4 multicast group (RFC 1112 §6.4):
 * 01:00:5e followed by the low 23 bits of the group, into `to` at `toOff`.
 */
export function etherMapIpMulticast(group: number, to: Uint8Array, toOff: number): void {
  to[toOff] = 0x01;
  to[toOff + 1] = 0x00;
  to[toOff + 2] = 0x5e;
  to[toOff + 3] = (group >>> 16) & 0x7f;
  to[toOff + 4] = (group >>> 8) & 0xff;
  to[toOff + 5] = group & 0xff;
}
