/*
 * IPv4 and Ethernet address text forms, masks and prefixes.
 *
 * On the packet path an IPv4 address is an unsigned 32-bit number in host
 * order (`>>> 0`), e.g. 192.0.2.1 is 0xc0000201: comparisons and masking are
 * plain integer operations, no allocation. Text forms are for tools, sysctl
 * and error messages:
 *
 *   parseInAddr / formatInAddr        strict dotted quad (what inet_pton takes)
 *   parseInAddrPrefix                 ifconfig's "192.0.2.1/24"
 *   parseInNet / formatNetShort       route destinations as NetBSD's route(8)
 *                                     reads them and netstat -rn prints them
 *   prefixToMask / maskToPrefix / formatMaskHex / classfulPrefixLen
 *   parseMac / formatMac              "b2:a0:49:01:90:32"
 */

/** 0.0.0.0 */
export const INADDR_ANY = 0;
/** 255.255.255.255 (limited broadcast, RFC 919) */
export const INADDR_BROADCAST = 0xffffffff;
/** 127.0.0.1 */
export const INADDR_LOOPBACK = 0x7f000001;
/** 127/8 (RFC 1122 §3.2.1.3(g)): must never appear on a wire. */
export const IN_LOOPBACKNET = 127;

/** Class D, 224/4 (RFC 1112). */
export function inAddrIsMulticast(addr: number): boolean {
  return addr >>> 28 === 0xe;
}

/** 127/8 */
export function inAddrIsLoopback(addr: number): boolean {
  return addr >>> 24 === IN_LOOPBACKNET;
}

/**
 * Parses one decimal address part in s[start, end): 1–3 digits, no leading
 * zero (inet_aton would read "010" as octal 8; refusing is safer than
 * guessing), value 0–255. Returns -1 when it is not one.
 */
function parseOctet(s: string, start: number, end: number): number {
  const n = end - start;
  if (n < 1 || n > 3) return -1;
  if (n > 1 && s.charCodeAt(start) === 0x30) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v <= 255 ? v : -1;
}

/**
 * Splits "a.b.c.d" (1 to 4 parts) into `out` and returns the number of
 * parts, or -1 if any part is malformed (empty, sign, space, > 255, ...).
 */
function parseParts(s: string, start: number, end: number, out: number[]): number {
  let count = 0;
  let partStart = start;
  for (let i = start; i <= end; i++) {
    if (i === end || s.charCodeAt(i) === 0x2e /* . */) {
      if (count === 4) return -1;
      const v = parseOctet(s, partStart, i);
      if (v < 0) return -1;
      out[count++] = v;
      partStart = i + 1;
    }
  }
  return count;
}

/**
 * Strict dotted quad: exactly four decimal parts 0–255, no leading zeros, no
 * signs, no spaces, no empty parts. Returns the address as u32, or null.
 */
export function parseInAddr(s: string): number | null {
  if (s.length < 7 || s.length > 15) return null;
  const parts = [0, 0, 0, 0];
  if (parseParts(s, 0, s.length, parts) !== 4) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** "192.0.2.1" */
export function formatInAddr(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** Parses a decimal prefix length 0–32 in s[start, end) (no sign, no leading zero); -1 if bad. */
function parsePrefixLen(s: string, start: number, end: number): number {
  const n = end - start;
  if (n < 1 || n > 2) return -1;
  if (n > 1 && s.charCodeAt(start) === 0x30) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v <= 32 ? v : -1;
}

/** The netmask with the top `len` bits set. Throws RangeError unless 0 <= len <= 32. */
export function prefixToMask(len: number): number {
  if (!Number.isInteger(len) || len < 0 || len > 32) {
    throw new RangeError(`prefix length ${len} is not an integer between 0 and 32`);
  }
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** The prefix length of a contiguous netmask, or null for a non-contiguous one. */
export function maskToPrefix(mask: number): number | null {
  const host = ~mask >>> 0;
  // Host bits must be one run of ones at the bottom: host + 1 is a power of two.
  if ((host & (host + 1)) !== 0) return null;
  return Math.clz32(host);
}

/**
 * A netmask as NetBSD's ifconfig prints it, C's "%#x": "0xffffff00",
 * "0xff000000"; no zero padding, and a zero mask prints as "0".
 */
export function formatMaskHex(mask: number): string {
  mask >>>= 0;
  return mask === 0 ? '0' : `0x${mask.toString(16)}`;
}

/**
 * The mask NetBSD's in_ifinit() picks when an address is configured without
 * one: class A /8, class B /16, anything else /24.
 */
export function classfulPrefixLen(addr: number): number {
  if (addr >>> 31 === 0) return 8;
  if (addr >>> 30 === 2) return 16;
  return 24;
}

/**
 * ifconfig's address argument: "192.0.2.1/24" or "192.0.2.1". The address is
 * a strict dotted quad and is returned as given (host bits kept); prefixLen is
 * null when no "/len" was written.
 */
export function parseInAddrPrefix(s: string): { addr: number; prefixLen: number | null } | null {
  const slash = s.indexOf('/');
  if (slash < 0) {
    const addr = parseInAddr(s);
    return addr === null ? null : { addr, prefixLen: null };
  }
  const addr = parseInAddr(s.slice(0, slash));
  if (addr === null) return null;
  const prefixLen = parsePrefixLen(s, slash + 1, s.length);
  return prefixLen < 0 ? null : { addr, prefixLen };
}

/** A route destination: network (host bits cleared), prefix length, and whether it is a host route. */
export interface InNet {
  addr: number;
  prefixLen: number;
  host: boolean;
}

/**
 * A route destination as NetBSD's route(8) reads it (sbin/route getaddr() and
 * inet_makenetandmask()):
 *
 *   "default"                   0/0
 *   "192.0.2/24", "10/8",       network shorthand: the parts given are the
 *   "192.0.2.0/24"              leading octets, the rest are zero
 *   "192.0.2.1/32"              a host route (a /32)
 *   "192.0.2.1"                 four parts, no "/": a host if the classful
 *                               host part is non-zero; otherwise a network
 *                               whose mask ends at the last non-zero octet
 *                               ("10.0.0.0" is 10/8, "192.0.2.0" is 192.0.2/24)
 *   "192.0.2", "172.16", "10"   fewer parts, no "/": a network with NetBSD's
 *                               classful mask (10 -> /8, 172.16 -> /16,
 *                               192.0.2 -> /24, 192.168 -> /24)
 *
 * Host bits beyond the prefix are cleared, as the kernel does when it stores
 * the route. Parts are strict decimal (no octal, no hex).
 *
 * Deliberate deviation: NetBSD without `-net` passes a short form to
 * inet_aton(), which reads "192.0.2" as the host 192.0.0.2; we always read a
 * short form as network shorthand (what `route add -net` does), because that
 * is what netstat -rn prints and what a user copying from it means.
 */
export function parseInNet(s: string): InNet | null {
  if (s === 'default') return { addr: 0, prefixLen: 0, host: false };
  const slash = s.indexOf('/');
  const end = slash < 0 ? s.length : slash;
  const parts = [0, 0, 0, 0];
  const count = parseParts(s, 0, end, parts);
  if (count < 1) return null;
  const addr = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;

  if (slash >= 0) {
    const prefixLen = parsePrefixLen(s, slash + 1, s.length);
    if (prefixLen < 0) return null;
    return { addr: (addr & prefixToMask(prefixLen)) >>> 0, prefixLen, host: prefixLen === 32 };
  }

  if (count === 4) {
    if (addr === 0) return { addr: 0, prefixLen: 0, host: false };
    const hostPart = (addr & ~prefixToMask(classfulPrefixLen(addr))) >>> 0;
    if (hostPart !== 0) return { addr, prefixLen: 32, host: true };
    // inet_makenetandmask() for a full address: the mask covers the octets up
    // to the last non-zero one.
    const prefixLen = (addr & 0xffffff) === 0 ? 8 : (addr & 0xffff) === 0 ? 16 : (addr & 0xff) === 0 ? 24 : 32;
    return { addr, prefixLen, host: false };
  }

  // A network number of 1–3 parts: NetBSD's classful table, keyed on the
  // first octet (class D and E get the class D mask, /4).
  const first = parts[0]!;
  let prefixLen: number;
  if (count === 1) prefixLen = first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : 4;
  else if (count === 2) prefixLen = first >= 192 && first < 224 ? 24 : 16;
  else prefixLen = first < 224 ? 24 : 4;
  if (addr === 0) prefixLen = 0;
  return { addr: (addr & prefixToMask(prefixLen)) >>> 0, prefixLen, host: false };
}

/**
 * A route destination as NetBSD's netstat -rn and route -n show print it:
 * a host route as the full address ("127.0.0.1"), the zero network as
 * "default", and any other network as as many leading octets as the prefix
 * reaches, then "/len": "10/8", "192.0.2/24", "192.0.2.128/25".
 * `isHost` is the route's RTF_HOST flag; by default a /32 is a host.
 */
export function formatNetShort(addr: number, prefixLen: number, isHost = prefixLen === 32): string {
  if (isHost) return addr === 0 ? 'default' : formatInAddr(addr);
  if (addr === 0 && prefixLen === 0) return 'default';
  const a = addr >>> 24;
  const b = (addr >>> 16) & 0xff;
  const c = (addr >>> 8) & 0xff;
  if (prefixLen <= 8) return `${a}/${prefixLen}`;
  if (prefixLen <= 16) return `${a}.${b}/${prefixLen}`;
  if (prefixLen <= 24) return `${a}.${b}.${c}/${prefixLen}`;
  return `${formatInAddr(addr)}/${prefixLen}`;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20; // fold to lower case
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * An Ethernet address "b2:a0:49:01:90:32": six parts of one or two hex
 * digits (either case) separated by colons, like NetBSD's ether_aton().
 * Returns a new 6-byte array, or null.
 */
export function parseMac(s: string): Uint8Array | null {
  if (s.length < 11 || s.length > 17) return null;
  const mac = new Uint8Array(6);
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= s.length; i++) {
    if (i === s.length || s.charCodeAt(i) === 0x3a /* : */) {
      if (digits === 0 || part === 6) return null;
      mac[part++] = value;
      digits = 0;
      value = 0;
      continue;
    }
    const d = hexDigit(s.charCodeAt(i));
    if (d < 0 || digits === 2) return null;
    value = value * 16 + d;
    digits++;
  }
  return part === 6 ? mac : null;
}

const HEX = '0123456789abcdef';

/** Six bytes at `off` as "b2:a0:49:01:90:32" (lower case, two digits each). */
export function formatMac(bytes: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const b = bytes[off + i] ?? 0;
    if (i > 0) s += ':';
    s += HEX[b >>> 4]! + HEX[b & 15]!;
  }
  return s;
}
