/*
 * Initial sequence numbers (RFC 6528), timestamp offsets (RFC 7323 §7.1)
 * and the keyed hash both use: SipHash-2-4 (Aumasson and Bernstein, 2012),
 * written here over 32-bit halves because JavaScript has no u64 arithmetic
 * that does not allocate.
 *
 *   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *
 * RFC 6528 §3: M is a timer ticking every 4 microseconds, F a keyed hash
 * the attacker cannot compute. The key comes from the hypercall random
 * source at boot (kernel.host.randomFill), so the sim host makes it
 * reproducible and the node host unguessable. Because M grows, the ISNs of
 * successive incarnations of one four-tuple increase, which is what lets a
 * SYN reopen a connection in TIME_WAIT (RFC 1122 §4.2.2.13, RFC 6191).
 */
import type { InAddr } from '../in_addr.js';

/**
 * SipHash-2-4 with a 128-bit key. `hash` reads `len` bytes of `msg` and
 * returns the low 32 bits of the 64-bit result (the high half is left in
 * `hi`). No allocation per call.
 *
 * The state lives in locals of one function, as signed 32-bit halves, so
 * V8 keeps it in registers: in fields, or as unsigned values above 2^30,
 * each step would go through a boxed double (a SYN flood hashes every SYN).
 */
export class SipHash24 {
  private readonly k0lo: number;
  private readonly k0hi: number;
  private readonly k1lo: number;
  private readonly k1hi: number;
  /** High 32 bits of the last result. */
  hi = 0;
  /**
   * The message as 64-bit words, (lo, hi) pairs, the last one padded with
   * the length in its top byte: what `hashWords` reads. The instance's own
   * scratch (each kernel has its own keys), so no allocation per call; a
   * longer message than it holds (none in the kernel) gets a larger one.
   */
  words = new Int32Array(2 * 9);

  constructor(key: Uint8Array) {
    if (key.length < 16) throw new RangeError('SipHash key must be 16 bytes');
    this.k0lo = le32(key, 0) | 0;
    this.k0hi = le32(key, 4) | 0;
    this.k1lo = le32(key, 8) | 0;
    this.k1hi = le32(key, 12) | 0;
  }

  hash(msg: Uint8Array, len: number): number {
    const whole = len - (len & 7);
    const need = (whole >> 2) + 2;
    if (need > this.words.length) this.words = new Int32Array(need);
    const w = this.words;
    let n = 0;
    let i = 0;
    for (; i < whole; i += 8) {
      w[n++] = le32(msg, i);
      w[n++] = le32(msg, i + 4);
    }
    // The last word: the remaining bytes, and the length in the top byte.
    let lo = 0;
    let hi = (len & 0xff) << 24;
    const rest = len & 7;
    for (let j = 0; j < rest; j++) {
      const b = msg[i + j]!;
      if (j < 4) lo |= b << (8 * j);
      else hi |= b << (8 * (j - 4));
    }
    w[n++] = lo;
    w[n++] = hi;
    return this.hashWords(n >> 1);
  }

  /**
   * SipHash-2-4 of the first `n` words of `words`, the last one already
   * padded (the message length in its top byte). Returns the low 32 bits
   * of the result, the high in `hi`.
   */
  hashWords(n: number): number {
    // "somepseudorandomlygeneratedbytes" initialisation constants.
    let v0h = 0x736f6d65 ^ this.k0hi, v0l = 0x70736575 ^ this.k0lo;
    let v1h = 0x646f7261 ^ this.k1hi, v1l = 0x6e646f6d ^ this.k1lo;
    let v2h = 0x6c796765 ^ this.k0hi, v2l = 0x6e657261 ^ this.k0lo;
    let v3h = 0x74656462 ^ this.k1hi, v3l = 0x79746573 ^ this.k1lo;
    const w = this.words;
    // Each message word: v3 ^= m, two SipRounds, v0 ^= m; then v2 ^= 0xff
    // and four SipRounds (the finalization), in one loop so the round is
    // written once.
    for (let k = 0; k <= n; k++) {
      const final = k === n;
      let ml = 0;
      let mh = 0;
      let rounds = 4;
      if (final) {
        v2l ^= 0xff;
      } else {
        ml = w[2 * k]!;
        mh = w[2 * k + 1]!;
        v3l ^= ml; v3h ^= mh;
        rounds = 2;
      }
      for (let r = 0; r < rounds; r++) {
        let lo: number, h: number, l: number;
        // v0 += v1; v1 <<<= 13; v1 ^= v0; v0 <<<= 32
        lo = (v0l + v1l) | 0; v0h = (v0h + v1h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
        h = (v1h << 13) | (v1l >>> 19); l = (v1l << 13) | (v1h >>> 19);
        v1h = h ^ v0h; v1l = l ^ v0l;
        h = v0h; v0h = v0l; v0l = h;
        // v2 += v3; v3 <<<= 16; v3 ^= v2
        lo = (v2l + v3l) | 0; v2h = (v2h + v3h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
        h = (v3h << 16) | (v3l >>> 16); l = (v3l << 16) | (v3h >>> 16);
        v3h = h ^ v2h; v3l = l ^ v2l;
        // v0 += v3; v3 <<<= 21; v3 ^= v0
        lo = (v0l + v3l) | 0; v0h = (v0h + v3h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0; v0l = lo;
        h = (v3h << 21) | (v3l >>> 11); l = (v3l << 21) | (v3h >>> 11);
        v3h = h ^ v0h; v3l = l ^ v0l;
        // v2 += v1; v1 <<<= 17; v1 ^= v2; v2 <<<= 32
        lo = (v2l + v1l) | 0; v2h = (v2h + v1h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0; v2l = lo;
        h = (v1h << 17) | (v1l >>> 15); l = (v1l << 17) | (v1h >>> 15);
        v1h = h ^ v2h; v1l = l ^ v2l;
        h = v2h; v2h = v2l; v2l = h;
      }
      if (!final) {
        v0l ^= ml; v0h ^= mh;
      }
    }
    this.hi = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
    return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
  }
}

function le32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** What the hashes cover: a four-tuple, a domain byte and one extra word. */

/** Domain bytes, so the same key gives unrelated ISNs, TS offsets and cookies. */
export const HASH_ISN = 1;
export const HASH_TSOFF = 2;
export const HASH_COOKIE = 3;
export const HASH_PORT_OFFSET = 4;
export const HASH_PORT_INDEX = 5;

/**
 * F(): the keyed hash of a four-tuple (and `extra`) in one domain. An IPv4
 * four-tuple hashes its 4-byte addresses; any other, RFC 6528 §3's F()
 * over the 128-bit addresses whole.
 */
export function tupleHash(h: SipHash24, domain: number, laddr: InAddr, lport: number, faddr: InAddr, fport: number, extra: number): number {
  const ports = ((lport & 0xffff) << 16) | (fport & 0xffff);
  // The message's words straight into the hash's own scratch: the bytes
  // laid out as below (each u32 little-endian), so no byte buffer per
  // call.
  const w = h.words;
  if (laddr.isV4OrAny() && faddr.isV4OrAny()) {
    // laddr, faddr, ports, extra (4 bytes each), the domain byte: 17 bytes.
    w[0] = laddr.v4();
    w[1] = faddr.v4();
    w[2] = ports;
    w[3] = extra;
    w[4] = domain & 0xff;
    w[5] = 17 << 24;
    return h.hashWords(3);
  }
  // Two addresses, the ports, one extra word and the domain byte: 41 bytes.
  addrWords(w, 0, laddr);
  addrWords(w, 4, faddr);
  w[8] = ports;
  w[9] = extra;
  w[10] = domain & 0xff;
  w[11] = 41 << 24;
  return h.hashWords(6);
}

/** The 16 bytes of `a` (network order, as InAddr.store writes them) as four little-endian words at `w[at]`. */
function addrWords(w: Int32Array, at: number, a: InAddr): void {
  w[at] = bswap(a.w0);
  w[at + 1] = bswap(a.w1);
  w[at + 2] = bswap(a.w2);
  w[at + 3] = bswap(a.w3);
}

function bswap(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

/**
 * RFC 6528 §3: ISN = M + F(four-tuple, key), M a 4 µs clock (`nowMs` is
 * the host clock in milliseconds; 250 ticks per ms).
 */
export function tcpNewIsn(h: SipHash24, nowMs: number, laddr: InAddr, lport: number, faddr: InAddr, fport: number): number {
  const m = Math.floor(nowMs * 250);
  return (m + tupleHash(h, HASH_ISN, laddr, lport, faddr, fport, 0)) >>> 0;
}

/**
 * RFC 7323 §7.1 (and FreeBSD's tcp_new_ts_offset): a per-connection offset
 * added to the timestamp clock, so TSval reveals neither uptime nor how
 * other connections' clocks run.
 */
export function tcpNewTsOffset(h: SipHash24, laddr: InAddr, lport: number, faddr: InAddr, fport: number): number {
  return tupleHash(h, HASH_TSOFF, laddr, lport, faddr, fport, 0);
}
