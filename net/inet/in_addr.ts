/*
 * The address family as a value: one address type for both families
 * (FreeBSD's in_conninfo, gVisor's tcpip.Address).
 *
 * An address is the 128 bits of its IPv6 form, held as four 32-bit words
 * (network order, each kept as a signed int32 so V8 holds it as a small
 * integer, never a boxed number):
 *
 *   IPv6 a:b:…:h         w0..w3 as the 16 bytes read big-endian, 4 at a time
 *   IPv4 a.b.c.d         ::ffff:a.b.c.d (RFC 4291 §2.5.5.2): 0, 0, 0xffff, a.b.c.d
 *   INADDR_ANY and ::    all zero: "any" is one value, so a dual-stack
 *                        socket on :: and an IPv4 one on 0.0.0.0 compare as
 *                        they should (RFC 3493 §3.7)
 *
 * Why words and not 16 bytes: the IPv4 fast path compares and hashes
 * numbers it already has (the u32 from the IP header) with no copy into a
 * byte array, and a PCB or SYN cache entry carries its four-tuple inline
 * (InConnInfo: ten small-integer fields) rather than two Uint8Arrays (~100
 * bytes of heap each). Per-family code reads the family off the address
 * (inAddrIsV4) only where the wire differs: IP or IPv6 output, the
 * pseudo-header, which addresses are ours, source selection.
 *
 *   InAddr       a value (a segment's source, a bind or connect argument,
 *                a scratch): setV4 / load(bytes) / store(bytes) / v4()
 *   InConnInfo   a four-tuple inline (InPcb and SynCacheEntry extend it)
 *   connHashKey  the hash of a four-tuple, for the PCB and SYN cache tables
 */
import { INADDR_LOOPBACK, formatInAddr } from '../wire/inaddr.js';
import { formatIn6Addr } from '../wire/in6addr.js';

/** One address, either family (see above). Mutable: callers reuse their own. */
export class InAddr {
  w0 = 0;
  w1 = 0;
  w2 = 0;
  w3 = 0;

  /** IPv4 `a` (a u32; 0 is INADDR_ANY, held as ::). */
  setV4(a: number): this {
    this.w0 = 0;
    this.w1 = 0;
    this.w2 = a === 0 ? 0 : 0xffff;
    this.w3 = a | 0;
    return this;
  }

  /** The 16 bytes of an IPv6 address at `off`. */
  load(b: Uint8Array, off: number): this {
    this.w0 = word(b, off);
    this.w1 = word(b, off + 4);
    this.w2 = word(b, off + 8);
    this.w3 = word(b, off + 12);
    return this;
  }

  set(a: InAddr): this {
    this.w0 = a.w0;
    this.w1 = a.w1;
    this.w2 = a.w2;
    this.w3 = a.w3;
    return this;
  }

  /** Write the 16-byte form at `off`. */
  store(b: Uint8Array, off: number): void {
    putWord(b, off, this.w0);
    putWord(b, off + 4, this.w1);
    putWord(b, off + 8, this.w2);
    putWord(b, off + 12, this.w3);
  }

  /** The IPv4 address (u32) of a v4-mapped address; 0 for ::. */
  v4(): number {
    return this.w3 >>> 0;
  }

  /** INADDR_ANY or :: */
  isAny(): boolean {
    return (this.w0 | this.w1 | this.w2 | this.w3) === 0;
  }

  /** An IPv4 address (v4-mapped), not ::. */
  isV4(): boolean {
    return this.w2 === 0xffff && this.w0 === 0 && this.w1 === 0;
  }

  /** IPv4 or :: (an address an IPv4 socket may hold). */
  isV4OrAny(): boolean {
    return this.w0 === 0 && this.w1 === 0 && (this.w2 === 0xffff || (this.w2 | this.w3) === 0);
  }

  equals(a: InAddr): boolean {
    return this.w3 === a.w3 && this.w2 === a.w2 && this.w1 === a.w1 && this.w0 === a.w0;
  }
}

/** Bytes [off, off+4) as an int32. */
function word(b: Uint8Array, off: number): number {
  return (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
}

function putWord(b: Uint8Array, off: number, w: number): void {
  b[off] = w >>> 24;
  b[off + 1] = (w >>> 16) & 0xff;
  b[off + 2] = (w >>> 8) & 0xff;
  b[off + 3] = w & 0xff;
}

/**
 * A connection's addresses and ports inline (struct in_conninfo): local
 * l0..l3 with lport, foreign f0..f3 with fport, words as InAddr keeps them.
 * Ten small integers: no allocation per PCB or per SYN cache entry.
 */
export class InConnInfo {
  l0 = 0;
  l1 = 0;
  l2 = 0;
  l3 = 0;
  /** Local port (0: unbound). */
  lport = 0;
  f0 = 0;
  f1 = 0;
  f2 = 0;
  f3 = 0;
  /** Foreign port (0 while unconnected). */
  fport = 0;

  /** The local address's IPv4 form (u32; 0 for :: or an IPv6 address's low word otherwise: check first). */
  get laddr(): number {
    return this.l3 >>> 0;
  }

  /** The foreign address's IPv4 form, as laddr. */
  get faddr(): number {
    return this.f3 >>> 0;
  }

  setLocal(a: InAddr): void {
    this.l0 = a.w0;
    this.l1 = a.w1;
    this.l2 = a.w2;
    this.l3 = a.w3;
  }

  setForeign(a: InAddr): void {
    this.f0 = a.w0;
    this.f1 = a.w1;
    this.f2 = a.w2;
    this.f3 = a.w3;
  }

  localInto(out: InAddr): InAddr {
    out.w0 = this.l0;
    out.w1 = this.l1;
    out.w2 = this.l2;
    out.w3 = this.l3;
    return out;
  }

  foreignInto(out: InAddr): InAddr {
    out.w0 = this.f0;
    out.w1 = this.f1;
    out.w2 = this.f2;
    out.w3 = this.f3;
    return out;
  }

  localIs(a: InAddr): boolean {
    return this.l3 === a.w3 && this.l2 === a.w2 && this.l1 === a.w1 && this.l0 === a.w0;
  }

  foreignIs(a: InAddr): boolean {
    return this.f3 === a.w3 && this.f2 === a.w2 && this.f1 === a.w1 && this.f0 === a.w0;
  }

  localIsAny(): boolean {
    return (this.l0 | this.l1 | this.l2 | this.l3) === 0;
  }

  foreignIsAny(): boolean {
    return (this.f0 | this.f1 | this.f2 | this.f3) === 0;
  }

  /** The local address is IPv4 (v4-mapped). */
  localIsV4(): boolean {
    return this.l2 === 0xffff && this.l0 === 0 && this.l1 === 0;
  }

  /** The foreign address is IPv4 (v4-mapped): the connection speaks IPv4 on the wire. */
  foreignIsV4(): boolean {
    return this.f2 === 0xffff && this.f0 === 0 && this.f1 === 0;
  }

  /** The local address is a loopback address: 127.0.0.1 (v4-mapped) or ::1 (RFC 4291 §2.5.3). */
  localIsLoopback(): boolean {
    if (this.l0 !== 0 || this.l1 !== 0) return false;
    return this.l2 === 0 ? this.l3 === 1 : this.l2 === 0xffff && this.l3 >>> 0 === INADDR_LOOPBACK;
  }

  /** The local address is IPv4 or :: (what an IPv4 packet can be for). */
  localIsV4OrAny(): boolean {
    return this.l0 === 0 && this.l1 === 0 && (this.l2 === 0xffff || (this.l2 | this.l3) === 0);
  }

  /** Forget the foreign side (and the local address unless `keepLocal`). */
  clearAddrs(keepLocal: boolean): void {
    this.f0 = this.f1 = this.f2 = this.f3 = 0;
    this.fport = 0;
    if (!keepLocal) this.l0 = this.l1 = this.l2 = this.l3 = 0;
  }

  /** This four-tuple's connHashKey. */
  connKeyOf(): number {
    return connHashWords(this.f0, this.f1, this.f2, this.f3, this.fport, this.l0, this.l1, this.l2, this.l3, this.lport);
  }

  /** Exactly this four-tuple? */
  is(f: InAddr, fport: number, l: InAddr, lport: number): boolean {
    return this.fport === fport && this.lport === lport && this.foreignIs(f) && this.localIs(l);
  }
}

/**
 * Mixes a four-tuple into a small non-negative integer (Smi) for a Map key.
 * Collisions are resolved by comparing the fields, so this only has to
 * spread connections that differ in one port or one address word well. For
 * IPv4 the upper words are constants: the cost is a few XORs.
 */
export function connHashWords(
  f0: number, f1: number, f2: number, f3: number, fport: number, l0: number, l1: number, l2: number, l3: number, lport: number,
): number {
  let h = Math.imul(f3 ^ ((fport << 16) | lport), 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ l3, 0x85ebca77);
  h ^= Math.imul(f0 ^ l0, 0xc2b2ae35) ^ Math.imul(f1 ^ (l1 << 1), 0x27d4eb2f) ^ (f2 ^ (l2 << 3));
  h ^= h >>> 13;
  return h & 0x3fffffff;
}

/** connHashWords of a foreign and a local address (as InAddr values). */
export function connHashKey(f: InAddr, fport: number, l: InAddr, lport: number): number {
  return connHashWords(f.w0, f.w1, f.w2, f.w3, fport, l.w0, l.w1, l.w2, l.w3, lport);
}

/**
 * `a` as text: dotted quad for IPv4 (and 0.0.0.0 for any), unless `v6`
 * asks for the IPv6 form (RFC 5952; IPv4 as ::ffff:a.b.c.d).
 */
export function formatAddr(a: InAddr, v6: boolean): string {
  if (!v6 && a.isV4OrAny()) return formatInAddr(a.v4());
  const b = new Uint8Array(16);
  a.store(b, 0);
  return formatIn6Addr(b);
}
