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
 */
export class SipHash24 {
  private readonly k0lo: number;
  private readonly k0hi: number;
  private readonly k1lo: number;
  private readonly k1hi: number;
  /** High 32 bits of the last result. */
  hi = 0;

  // State: four 64-bit words as (hi, lo) pairs.
  private v0h = 0; private v0l = 0;
  private v1h = 0; private v1l = 0;
  private v2h = 0; private v2l = 0;
  private v3h = 0; private v3l = 0;

  constructor(key: Uint8Array) {
    if (key.length < 16) throw new RangeError('SipHash key must be 16 bytes');
    this.k0lo = le32(key, 0);
    this.k0hi = le32(key, 4);
    this.k1lo = le32(key, 8);
    this.k1hi = le32(key, 12);
  }

  hash(msg: Uint8Array, len: number): number {
    // "somepseudorandomlygeneratedbytes" initialisation constants.
    this.v0h = (0x736f6d65 ^ this.k0hi) >>> 0; this.v0l = (0x70736575 ^ this.k0lo) >>> 0;
    this.v1h = (0x646f7261 ^ this.k1hi) >>> 0; this.v1l = (0x6e646f6d ^ this.k1lo) >>> 0;
    this.v2h = (0x6c796765 ^ this.k0hi) >>> 0; this.v2l = (0x6e657261 ^ this.k0lo) >>> 0;
    this.v3h = (0x74656462 ^ this.k1hi) >>> 0; this.v3l = (0x79746573 ^ this.k1lo) >>> 0;
    const whole = len - (len & 7);
    let i = 0;
    for (; i < whole; i += 8) this.compress(le32(msg, i + 4), le32(msg, i));
    // The last word: the remaining bytes, and the length in the top byte.
    let lo = 0;
    let hi = (len & 0xff) << 24;
    const rest = len & 7;
    for (let j = 0; j < rest; j++) {
      const b = msg[i + j]!;
      if (j < 4) lo |= b << (8 * j);
      else hi |= b << (8 * (j - 4));
    }
    this.compress(hi >>> 0, lo >>> 0);
    this.v2l = (this.v2l ^ 0xff) >>> 0;
    this.round(); this.round(); this.round(); this.round();
    this.hi = (this.v0h ^ this.v1h ^ this.v2h ^ this.v3h) >>> 0;
    return (this.v0l ^ this.v1l ^ this.v2l ^ this.v3l) >>> 0;
  }

  private compress(mh: number, ml: number): void {
    this.v3h = (this.v3h ^ mh) >>> 0; this.v3l = (this.v3l ^ ml) >>> 0;
    this.round(); this.round();
    this.v0h = (this.v0h ^ mh) >>> 0; this.v0l = (this.v0l ^ ml) >>> 0;
  }

  /** One SipRound. */
  private round(): void {
    let v0h = this.v0h, v0l = this.v0l, v1h = this.v1h, v1l = this.v1l;
    let v2h = this.v2h, v2l = this.v2l, v3h = this.v3h, v3l = this.v3l;
    let lo: number, h: number, l: number;
    // v0 += v1; v1 <<<= 13; v1 ^= v0; v0 <<<= 32
    lo = v0l + v1l; v0h = (v0h + v1h + (lo > 0xffffffff ? 1 : 0)) >>> 0; v0l = lo >>> 0;
    h = ((v1h << 13) | (v1l >>> 19)) >>> 0; l = ((v1l << 13) | (v1h >>> 19)) >>> 0;
    v1h = (h ^ v0h) >>> 0; v1l = (l ^ v0l) >>> 0;
    h = v0h; v0h = v0l; v0l = h;
    // v2 += v3; v3 <<<= 16; v3 ^= v2
    lo = v2l + v3l; v2h = (v2h + v3h + (lo > 0xffffffff ? 1 : 0)) >>> 0; v2l = lo >>> 0;
    h = ((v3h << 16) | (v3l >>> 16)) >>> 0; l = ((v3l << 16) | (v3h >>> 16)) >>> 0;
    v3h = (h ^ v2h) >>> 0; v3l = (l ^ v2l) >>> 0;
    // v0 += v3; v3 <<<= 21; v3 ^= v0
    lo = v0l + v3l; v0h = (v0h + v3h + (lo > 0xffffffff ? 1 : 0)) >>> 0; v0l = lo >>> 0;
    h = ((v3h << 21) | (v3l >>> 11)) >>> 0; l = ((v3l << 21) | (v3h >>> 11)) >>> 0;
    v3h = (h ^ v0h) >>> 0; v3l = (l ^ v0l) >>> 0;
    // v2 += v1; v1 <<<= 17; v1 ^= v2; v2 <<<= 32
    lo = v2l + v1l; v2h = (v2h + v1h + (lo > 0xffffffff ? 1 : 0)) >>> 0; v2l = lo >>> 0;
    h = ((v1h << 17) | (v1l >>> 15)) >>> 0; l = ((v1l << 17) | (v1h >>> 15)) >>> 0;
    v1h = (h ^ v2h) >>> 0; v1l = (l ^ v2l) >>> 0;
    h = v2h; v2h = v2l; v2l = h;
    this.v0h = v0h; this.v0l = v0l; this.v1h = v1h; this.v1l = v1l;
    this.v2h = v2h; this.v2l = v2l; this.v3h = v3h; this.v3l = v3l;
  }
}

function le32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
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
  // Once per connection or SYN: its own bytes, shared with no one (no module-level scratch).
  if (laddr.isV4OrAny() && faddr.isV4OrAny()) {
    const scratch = new Uint8Array(17);
    put32(scratch, 0, laddr.v4());
    put32(scratch, 4, faddr.v4());
    put32(scratch, 8, ports);
    put32(scratch, 12, extra);
    scratch[16] = domain;
    return h.hash(scratch, 17);
  }
  // Two addresses, the ports, one extra word and the domain byte.
  const scratch6 = new Uint8Array(16 + 16 + 4 + 4 + 1);
  laddr.store(scratch6, 0);
  faddr.store(scratch6, 16);
  put32(scratch6, 32, ports);
  put32(scratch6, 36, extra);
  scratch6[40] = domain;
  return h.hash(scratch6, 41);
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
