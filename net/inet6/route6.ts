/*
 * The IPv6 routing table (NetBSD keeps one radix tree per family in
 * net/route.c; net/route.ts holds IPv4's as u32-keyed maps). Here: one map
 * per prefix length in use, keyed by a 30-bit hash of the masked
 * destination's four words, each bucket checked byte for byte. Lookup is
 * longest-prefix match: the lengths in use are kept sorted longest first,
 * so a lookup probes one map per length that has routes (on a host: /128
 * locals, the connected /64s, ::/0), hashing the packet's address where it
 * lies, with no allocation and no string key.
 *
 *   ip6Output → rt6.lookup(dst) → Rtentry6 (interface, gateway, source)
 *   in6.ts adds the connected and local routes of each address; the
 *   routing messages of net_netinet6 (rt6msg) add static ones.
 */
import { Errno, EEXIST, EINVAL, ESRCH } from '../../kern/errno.js';
import type { Ifnet } from '../interface.js';
import { in6Equal, in6MaskInto, in6Word } from '../wire/in6addr.js';

export class Rtentry6 {
  /** Packets sent along this route (rt_use). */
  use = 0;
  /** 0: the interface's MTU. */
  mtu = 0;
  /** Kernel uptime (ms) at which a route a redirect made goes; 0: never (rt_expire). */
  expire = 0;
  constructor(
    /** Destination, already masked (its own 16 bytes). */
    readonly dst: Uint8Array,
    readonly plen: number,
    /** Next hop for RTF_GATEWAY routes, else null (on link). */
    public gateway: Uint8Array | null,
    /** RTF_* (net/route.ts). */
    public flags: number,
    public ifp: Ifnet,
    /** Local address to send from over this route (rt_ifa), or null: choose at output. */
    public ifaddr: Uint8Array | null,
  ) {}
}

/** The mask of word `i` (0..3) of a /plen prefix. */
function maskWord(plen: number, i: number): number {
  const bits = plen - 32 * i;
  if (bits >= 32) return 0xffffffff;
  if (bits <= 0) return 0;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** The bucket key of the first `plen` bits of the address at b[off]. */
function prefixKey(b: Uint8Array, off: number, plen: number): number {
  let h = plen;
  for (let i = 0; i < 4; i++) {
    h = Math.imul(h ^ ((in6Word(b, off, i) & maskWord(plen, i)) >>> 0), 0x9e3779b1);
    h ^= h >>> 15;
  }
  return h & 0x3fffffff;
}

export class Route6Table {
  /** Told of every route added (RTM_ADD, 1) or deleted (RTM_DELETE, 2); set by net_netinet6 for the routing socket. */
  notify: ((type: number, rt: Rtentry6) => void) | null = null;
  private readonly byLen: Array<Map<number, Rtentry6[]> | undefined> = new Array(129);
  /** Prefix lengths with routes, longest first. */
  private lens: number[] = [];
  private count = 0;
  /** Bumped on every change, so caches can tell they are stale. */
  generation = 0;

  get size(): number {
    return this.count;
  }

  /** Longest-prefix match for the address at b[off] (rtalloc1). */
  lookup(b: Uint8Array, off: number): Rtentry6 | null {
    const lens = this.lens;
    for (let i = 0; i < lens.length; i++) {
      const plen = lens[i]!;
      const bucket = this.byLen[plen]!.get(prefixKey(b, off, plen));
      if (bucket === undefined) continue;
      for (let j = 0; j < bucket.length; j++) {
        const rt = bucket[j]!;
        if (prefixMatches(rt.dst, b, off, plen)) return rt;
      }
    }
    return null;
  }

  /** The route with exactly this destination (host bits ignored) and prefix, or null. */
  exact(dst: Uint8Array, plen: number): Rtentry6 | null {
    const bucket = this.byLen[plen]?.get(prefixKey(dst, 0, plen));
    if (bucket === undefined) return null;
    for (const rt of bucket) if (prefixMatches(rt.dst, dst, 0, plen)) return rt;
    return null;
  }

  add(rt: Rtentry6): Rtentry6 {
    if (!Number.isInteger(rt.plen) || rt.plen < 0 || rt.plen > 128 || rt.dst.length !== 16) throw new Errno(EINVAL);
    if (this.exact(rt.dst, rt.plen) !== null) throw new Errno(EEXIST);
    in6MaskInto(rt.dst, 0, rt.plen, rt.dst, 0);
    let m = this.byLen[rt.plen];
    if (m === undefined) {
      m = new Map();
      this.byLen[rt.plen] = m;
      this.lens.push(rt.plen);
      this.lens.sort((a, b) => b - a);
    }
    const key = prefixKey(rt.dst, 0, rt.plen);
    const bucket = m.get(key);
    if (bucket === undefined) m.set(key, [rt]);
    else bucket.push(rt);
    this.count++;
    this.generation++;
    if (this.notify !== null) this.notify(1, rt);
    return rt;
  }

  delete(dst: Uint8Array, plen: number): Rtentry6 {
    const m = this.byLen[plen];
    const key = prefixKey(dst, 0, plen);
    const bucket = m?.get(key);
    const i = bucket === undefined ? -1 : bucket.findIndex((rt) => prefixMatches(rt.dst, dst, 0, plen));
    if (m === undefined || bucket === undefined || i < 0) throw new Errno(ESRCH);
    const rt = bucket[i]!;
    bucket.splice(i, 1);
    if (bucket.length === 0) m.delete(key);
    if (m.size === 0) {
      this.byLen[plen] = undefined;
      this.lens = this.lens.filter((l) => l !== plen);
    }
    this.count--;
    this.generation++;
    if (this.notify !== null) this.notify(2, rt);
    return rt;
  }

  /** Every route, ordered by destination then prefix length (netstat -r order). */
  all(): Rtentry6[] {
    const out: Rtentry6[] = [];
    for (const plen of this.lens) for (const b of this.byLen[plen]!.values()) out.push(...b);
    out.sort((a, b) => {
      for (let i = 0; i < 16; i++) if (a.dst[i] !== b.dst[i]) return a.dst[i]! - b.dst[i]!;
      return a.plen - b.plen;
    });
    return out;
  }

  /** Remove every route matching `pred` (interface detach, address removal). */
  purge(pred: (rt: Rtentry6) => boolean): Rtentry6[] {
    const gone = this.all().filter(pred);
    for (const rt of gone) this.delete(rt.dst, rt.plen);
    return gone;
  }
}

/** Does the address at b[off] lie in dst/plen (dst already masked)? */
function prefixMatches(dst: Uint8Array, b: Uint8Array, off: number, plen: number): boolean {
  if (plen === 128) return in6Equal(dst, 0, b, off);
  const whole = plen >>> 3;
  for (let i = 0; i < whole; i++) if (dst[i] !== b[off + i]) return false;
  const bits = plen & 7;
  if (bits === 0) return true;
  const mask = (0xff00 >>> bits) & 0xff;
  return (b[off + whole]! & mask) === dst[whole];
}
