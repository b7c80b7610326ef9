/*
 * The fuzzer's mutation engine: seeded, deterministic, no host randomness.
 *
 * An input is a corpus entry (a valid frame or message the tree's own
 * writers built) put through one to four mutations: bit flips, bytes and
 * 16-bit words set to boundary values, small arithmetic, inserts, deletes,
 * duplicated runs, truncation, and splices of two corpus entries. The same
 * seed gives the same inputs in the same order, so a reported failure
 * replays with `npm run fuzz -- --target T --seed S`.
 *
 * Checksums: most mutations would die at the first checksum check and never
 * reach the code behind it, so network targets repair the IPv4 header and
 * the transport checksum of most inputs after mutation (fixChecksums), and
 * leave the rest broken to keep the checksum-failure paths fuzzed too.
 */
import { ip6Cksum } from '../net/wire/ipv6.js';
import { cksumFinish, cksumAdd, inCksum, pseudoHeaderSum } from '../net/wire/cksum.js';

/** sfc32: small, fast, good enough for choosing mutations, and the same on every host. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = seed >>> 0;
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** 0 ≤ n < `bound` (bound ≥ 1). */
  below(bound: number): number {
    return this.u32() % bound;
  }

  chance(p: number): boolean {
    return this.u32() < p * 0x1_0000_0000;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)]!;
  }
}

const INTERESTING8 = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0f, 0x10, 0x14, 0x28, 0x3f, 0x40, 0x44, 0x45, 0x46, 0x4f, 0x60, 0x7f, 0x80, 0x81, 0xfe, 0xff];
const INTERESTING16 = [0x0000, 0x0001, 0x0008, 0x0014, 0x0028, 0x003c, 0x0100, 0x05dc, 0x05dd, 0x2000, 0x3fff, 0x4000, 0x7fff, 0x8000, 0xfff8, 0xfffe, 0xffff];

/** One corpus entry, mutated 1 to 4 times, no longer than `maxLen`. */
export function mutate(rng: Rng, corpus: readonly Uint8Array[], maxLen: number): Uint8Array {
  let b: Uint8Array = rng.pick(corpus).slice();
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) b = mutateOnce(rng, b, corpus, maxLen);
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}

function mutateOnce(rng: Rng, b: Uint8Array, corpus: readonly Uint8Array[], maxLen: number): Uint8Array {
  const n = b.length;
  switch (rng.below(n === 0 ? 1 : 10)) {
    case 0: {
      // Insert 1..16 bytes (random or a repeated boundary byte).
      if (n >= maxLen) return b;
      const k = 1 + rng.below(16);
      const at = rng.below(n + 1);
      const out = new Uint8Array(n + k);
      out.set(b.subarray(0, at), 0);
      const fill = rng.chance(0.5) ? rng.pick(INTERESTING8) : -1;
      for (let i = 0; i < k; i++) out[at + i] = fill >= 0 ? fill : rng.below(256);
      out.set(b.subarray(at), at + k);
      return out;
    }
    case 1: {
      const i = rng.below(n);
      b[i]! ^= 1 << rng.below(8);
      return b;
    }
    case 2: {
      b[rng.below(n)] = rng.pick(INTERESTING8);
      return b;
    }
    case 3: {
      if (n < 2) return b;
      const i = rng.below(n - 1);
      const v = rng.pick(INTERESTING16);
      b[i] = v >>> 8;
      b[i + 1] = v & 0xff;
      return b;
    }
    case 4: {
      const i = rng.below(n);
      b[i] = (b[i]! + (rng.below(33) - 16)) & 0xff;
      return b;
    }
    case 5: {
      b[rng.below(n)] = rng.below(256);
      return b;
    }
    case 6: {
      // Delete a run.
      const at = rng.below(n);
      const k = 1 + rng.below(Math.min(32, n - at));
      const out = new Uint8Array(n - k);
      out.set(b.subarray(0, at), 0);
      out.set(b.subarray(at + k), at);
      return out;
    }
    case 7: {
      // Truncate.
      return b.subarray(0, rng.below(n + 1)).slice();
    }
    case 8: {
      // Splice: our head, another entry's tail.
      const other = rng.pick(corpus);
      const cut = rng.below(n + 1);
      const from = rng.below(other.length + 1);
      const len = Math.min(other.length - from, Math.max(0, maxLen - cut));
      const out = new Uint8Array(cut + len);
      out.set(b.subarray(0, cut), 0);
      out.set(other.subarray(from, from + len), cut);
      return out;
    }
    default: {
      // Duplicate a run in place (overlapping copy) or append it.
      const at = rng.below(n);
      const k = 1 + rng.below(Math.min(64, n - at));
      if (n + k > maxLen || rng.chance(0.5)) {
        b.copyWithin(rng.below(n), at, at + k);
        return b;
      }
      const out = new Uint8Array(n + k);
      out.set(b, 0);
      out.set(b.subarray(at, at + k), n);
      return out;
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Checksum repair for Ethernet frames carrying IPv4 or IPv6. */

function l4SumAt(p: number): number {
  if (p === 6) return 16;
  if (p === 17) return 6;
  if (p === 1 || p === 58 || p === 2) return 2;
  return -1;
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v & 0xff;
}

/**
 * Make the IPv4 header checksum and the transport checksum (TCP, UDP,
 * ICMP, IGMP, ICMPv6) of an Ethernet frame right again, as far as the
 * (mutated) lengths allow. Never throws; leaves what it cannot parse alone.
 */
export function fixChecksums(f: Uint8Array): void {
  if (f.length < 14) return;
  const type = (f[12]! << 8) | f[13]!;
  if (type === 0x0800) fixIpv4(f, 14);
  else if (type === 0x86dd) fixIpv6(f, 14);
}

function fixIpv4(f: Uint8Array, ip: number): void {
  if (f.length < ip + 20) return;
  const hlen = (f[ip]! & 0x0f) << 2;
  if (hlen < 20 || ip + hlen > f.length) return;
  const total = Math.min((f[ip + 2]! << 8) | f[ip + 3]!, f.length - ip);
  const p = f[ip + 9]!;
  const offWord = (f[ip + 6]! << 8) | f[ip + 7]!;
  const at = l4SumAt(p);
  if (at >= 0 && (offWord & 0x3fff) === 0 && total >= hlen + at + 2) {
    const l4 = ip + hlen;
    const len = total - hlen;
    f[l4 + at] = 0;
    f[l4 + at + 1] = 0;
    let c: number;
    if (p === 6 || p === 17) {
      const src = ((f[ip + 12]! << 24) | (f[ip + 13]! << 16) | (f[ip + 14]! << 8) | f[ip + 15]!) >>> 0;
      const dst = ((f[ip + 16]! << 24) | (f[ip + 17]! << 16) | (f[ip + 18]! << 8) | f[ip + 19]!) >>> 0;
      c = cksumFinish(cksumAdd(pseudoHeaderSum(src, dst, p, len), f, l4, len));
      if (p === 17 && c === 0) c = 0xffff;
    } else {
      c = inCksum(f, l4, len);
    }
    put16(f, l4 + at, c);
  }
  f[ip + 10] = 0;
  f[ip + 11] = 0;
  put16(f, ip + 10, inCksum(f, ip, hlen));
}

function fixIpv6(f: Uint8Array, ip: number): void {
  if (f.length < ip + 40) return;
  const end = Math.min(ip + 40 + ((f[ip + 4]! << 8) | f[ip + 5]!), f.length);
  let nxt = f[ip + 6]!;
  let off = ip + 40;
  // Walk hop-by-hop, routing and destination options; a fragment's checksum covers the whole datagram: leave it.
  for (let hops = 0; hops < 8; hops++) {
    if (nxt === 0 || nxt === 43 || nxt === 60) {
      if (off + 2 > end) return;
      const next = f[off]!;
      off += (f[off + 1]! + 1) * 8;
      nxt = next;
    } else break;
  }
  const at = nxt === 58 ? 2 : nxt === 6 ? 16 : nxt === 17 ? 6 : -1;
  if (at < 0 || off + at + 2 > end) return;
  const len = end - off;
  f[off + at] = 0;
  f[off + at + 1] = 0;
  let c = ip6Cksum(f, off, len, nxt, f, ip + 8, f, ip + 24);
  if (nxt === 17 && c === 0) c = 0xffff;
  put16(f, off + at, c);
}

/** Lowercase hex, for crash reports a test can paste back. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}
