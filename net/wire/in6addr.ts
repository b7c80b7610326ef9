/*
 * IPv6 addresses (RFC 4291): their text forms, scopes, prefixes and the
 * derived addresses Neighbor Discovery uses.
 *
 * On the packet path an IPv6 address is 16 bytes in network order, BSD's
 * struct in6_addr: either its own Uint8Array(16) (a PCB's, an interface
 * address's, a route's) or 16 bytes inside a packet at some offset. Every
 * helper here takes (bytes, offset) so a packet's addresses are compared,
 * hashed and copied where they lie, without a subarray view per packet.
 *
 *   parseIn6Addr / formatIn6Addr     RFC 4291 §2.2 text in, RFC 5952 text out
 *   parseIn6Prefix                   ifconfig's "2001:db8::1/64"
 *   in6Equal / in6Copy / in6Hash     compare, copy, hash (no allocation)
 *   in6IsUnspecified / Loopback / Multicast / LinkLocal / V4Mapped, in6MulticastScope
 *   in6PrefixEqual / in6MaskInto     prefixes (RFC 4291 §2.3)
 *   in6SolicitedNode                 ff02::1:ffXX:XXXX (RFC 4291 §2.7.1)
 *   in6MulticastMac                  33:33:XX:XX:XX:XX (RFC 2464 §7)
 */

export const IN6ADDR_LEN = 16;

/**
 * :: and ::1 (RFC 4291 §2.5.2, §2.5.3). Shared constants: nothing may write
 * to them (take a copy with in6Copy or `.slice()` to modify).
 */
export const IN6ADDR_ANY: Uint8Array = new Uint8Array(16);
export const IN6ADDR_LOOPBACK: Uint8Array = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
/** ff02::1, all nodes on the link (RFC 4291 §2.7.1). */
export const IN6ADDR_LINKLOCAL_ALLNODES: Uint8Array = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

/* Multicast scopes (RFC 4291 §2.7, RFC 7346). */
export const IPV6_ADDR_SCOPE_INTFACELOCAL = 0x1;
export const IPV6_ADDR_SCOPE_LINKLOCAL = 0x2;
export const IPV6_ADDR_SCOPE_SITELOCAL = 0x5;
export const IPV6_ADDR_SCOPE_GLOBAL = 0xe;

/** Two addresses at their offsets are the same 16 bytes. */
export function in6Equal(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/** Copy 16 bytes (no view is made, unlike `set(subarray(...))`). */
export function in6Copy(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number): void {
  for (let i = 0; i < 16; i++) dst[dOff + i] = src[sOff + i]!;
}

/** Bytes [i, i+4) as a u32. */
export function in6Word(b: Uint8Array, off: number, i: number): number {
  const at = off + 4 * i;
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/**
 * A 32-bit mix of an address (for hash tables keyed by address; callers
 * resolve collisions by comparing the bytes). `seed` chains several fields.
 */
export function in6Hash(b: Uint8Array, off: number, seed = 0): number {
  let h = seed | 0;
  for (let i = 0; i < 4; i++) {
    h = Math.imul(h ^ in6Word(b, off, i), 0x9e3779b1);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** :: */
export function in6IsUnspecified(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 16; i++) if (b[off + i] !== 0) return false;
  return true;
}

/** ::1 */
export function in6IsLoopback(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 15; i++) if (b[off + i] !== 0) return false;
  return b[off + 15] === 1;
}

/** ff00::/8 */
export function in6IsMulticast(b: Uint8Array, off: number): boolean {
  return b[off] === 0xff;
}

/** fe80::/10, link-local unicast. */
export function in6IsLinkLocal(b: Uint8Array, off: number): boolean {
  return b[off] === 0xfe && (b[off + 1]! & 0xc0) === 0x80;
}

/** ::ffff:0:0/96, an IPv4-mapped address (RFC 4291 §2.5.5.2). */
export function in6IsV4Mapped(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

/** The scope of a multicast address: its low four bits of the second byte. */
export function in6MulticastScope(b: Uint8Array, off: number): number {
  return b[off + 1]! & 0x0f;
}

/** Whether `a` and `b` agree on their first `plen` bits. */
export function in6PrefixEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, plen: number): boolean {
  const whole = plen >>> 3;
  for (let i = 0; i < whole; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  const bits = plen & 7;
  if (bits === 0) return true;
  const mask = (0xff00 >>> bits) & 0xff;
  return ((a[aOff + whole]! ^ b[bOff + whole]!) & mask) === 0;
}

/** `out` = `src` with the bits after `plen` cleared. */
export function in6MaskInto(src: Uint8Array, sOff: number, plen: number, out: Uint8Array, oOff: number): void {
  for (let i = 0; i < 16; i++) {
    const bit = i * 8;
    let m: number;
    if (plen >= bit + 8) m = 0xff;
    else if (plen <= bit) m = 0;
    else m = (0xff00 >>> (plen - bit)) & 0xff;
    out[oOff + i] = src[sOff + i]! & m;
  }
}

/** How many leading bits two addresses share (RFC 6724 §2.2 CommonPrefixLen). */
export function in6CommonPrefixLen(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): number {
  for (let i = 0; i < 16; i++) {
    const x = a[aOff + i]! ^ b[bOff + i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return 128;
}

/** The solicited-node multicast address of `target` (RFC 4291 §2.7.1): ff02::1:ff + its low 24 bits. */
export function in6SolicitedNode(target: Uint8Array, tOff: number, out: Uint8Array, oOff: number): void {
  for (let i = 0; i < 16; i++) out[oOff + i] = 0;
  out[oOff] = 0xff;
  out[oOff + 1] = 0x02;
  out[oOff + 11] = 0x01;
  out[oOff + 12] = 0xff;
  out[oOff + 13] = target[tOff + 13]!;
  out[oOff + 14] = target[tOff + 14]!;
  out[oOff + 15] = target[tOff + 15]!;
}

/** Is `b` the solicited-node group of `target`? */
export function in6IsSolicitedNodeOf(b: Uint8Array, off: number, target: Uint8Array, tOff: number): boolean {
  return b[off] === 0xff && b[off + 1] === 0x02 && b[off + 2] === 0 && b[off + 3] === 0 && b[off + 4] === 0 &&
    b[off + 5] === 0 && b[off + 6] === 0 && b[off + 7] === 0 && b[off + 8] === 0 && b[off + 9] === 0 &&
    b[off + 10] === 0 && b[off + 11] === 1 && b[off + 12] === 0xff && b[off + 13] === target[tOff + 13] &&
    b[off + 14] === target[tOff + 14] && b[off + 15] === target[tOff + 15];
}

/** The Ethernet multicast address of an IPv6 group (RFC 2464 §7): 33:33 and its low 32 bits. */
export function in6MulticastMac(group: Uint8Array, gOff: number, mac: Uint8Array): void {
  mac[0] = 0x33;
  mac[1] = 0x33;
  mac[2] = group[gOff + 12]!;
  mac[3] = group[gOff + 13]!;
  mac[4] = group[gOff + 14]!;
  mac[5] = group[gOff + 15]!;
}

/* ------------------------------------------------------------------------ */
/* Text forms */

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** A strict dotted quad in s[start, end) into out[at..at+4); false if it is not one. */
function parseQuad(s: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let part = 0;
  let digits = 0;
  let v = 0;
  for (let i = start; i <= end; i++) {
    if (i === end || s.charCodeAt(i) === 0x2e) {
      if (digits === 0 || part === 4) return false;
      out[at + part++] = v;
      digits = 0;
      v = 0;
      continue;
    }
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return false;
    // No leading zeros (as inet_pton refuses octal-looking parts).
    if (digits === 1 && v === 0) return false;
    v = v * 10 + c;
    if (++digits > 3 || v > 255) return false;
  }
  return part === 4;
}

/**
 * RFC 4291 §2.2: eight groups of one to four hex digits, one "::" for a run
 * of zero groups, an IPv4 dotted quad in place of the last two groups. No
 * zone ("%shmif0"): callers split it off. Returns a new 16-byte array, or
 * null for anything else (what inet_pton(AF_INET6) refuses).
 */
export function parseIn6Addr(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45) return null;
  const out = new Uint8Array(16);
  const groups: number[] = [];
  let gap = -1;
  let i = 0;
  const n = s.length;
  if (s.startsWith('::')) {
    gap = 0;
    i = 2;
    if (i === n) return out;
  } else if (s.charCodeAt(0) === 0x3a) {
    return null;
  }
  while (i < n) {
    // One group, or a trailing dotted quad.
    let j = i;
    let v = 0;
    while (j < n && j - i < 5) {
      const d = hexValue(s.charCodeAt(j));
      if (d < 0) break;
      v = v * 16 + d;
      j++;
    }
    if (j < n && s.charCodeAt(j) === 0x2e) {
      // The dotted quad takes the last 32 bits and ends the address.
      if (groups.length > 6 || (gap < 0 && groups.length !== 6)) return null;
      const quad = new Uint8Array(4);
      if (!parseQuad(s, i, n, quad, 0)) return null;
      groups.push((quad[0]! << 8) | quad[1]!, (quad[2]! << 8) | quad[3]!);
      i = n;
      break;
    }
    if (j === i || j - i > 4) return null;
    groups.push(v);
    if (j === n) {
      i = n;
      break;
    }
    if (s.charCodeAt(j) !== 0x3a) return null;
    if (j + 1 < n && s.charCodeAt(j + 1) === 0x3a) {
      if (gap >= 0) return null;
      gap = groups.length;
      i = j + 2;
      if (i === n) break;
    } else {
      i = j + 1;
      if (i === n) return null;
    }
    if (groups.length > 8) return null;
  }
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) return null;
  const tail = gap < 0 ? 0 : groups.length - gap;
  for (let g = 0; g < groups.length; g++) {
    const slot = gap >= 0 && g >= gap ? 8 - tail + (g - gap) : g;
    out[2 * slot] = groups[g]! >>> 8;
    out[2 * slot + 1] = groups[g]! & 0xff;
  }
  return out;
}

/**
 * RFC 5952 §4: lower case, no leading zeros, the longest run of two or more
 * zero groups as "::" (the first of equal runs), a lone zero group written
 * "0"; §5: an IPv4-mapped address ends in its dotted quad.
 */
export function formatIn6Addr(b: Uint8Array, off = 0): string {
  if (in6IsV4Mapped(b, off)) {
    return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  let runStart = -1;
  for (let g = 0; g <= 8; g++) {
    const zero = g < 8 && b[off + 2 * g] === 0 && b[off + 2 * g + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = g;
    } else if (runStart >= 0) {
      const len = g - runStart;
      if (len > bestLen) {
        bestStart = runStart;
        bestLen = len;
      }
      runStart = -1;
    }
  }
  if (bestLen < 2) bestStart = -1;
  let s = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      s += '::';
      g += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += (((b[off + 2 * g]! << 8) | b[off + 2 * g + 1]!)).toString(16);
  }
  return s;
}

/**
 * ifconfig's inet6 argument: "2001:db8::1/64" or "2001:db8::1". prefixLen
 * is null without "/len"; lengths are decimal 0..128 without leading zeros.
 */
export function parseIn6Prefix(s: string): { addr: Uint8Array; prefixLen: number | null } | null {
  const slash = s.indexOf('/');
  const addr = parseIn6Addr(slash < 0 ? s : s.slice(0, slash));
  if (addr === null) return null;
  if (slash < 0) return { addr, prefixLen: null };
  const p = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
  const prefixLen = Number(p);
  return prefixLen <= 128 ? { addr, prefixLen } : null;
}
