/*
 * Spoofed SYNs for the flood benchmark and test: Ethernet frames carrying a
 * SYN (MSS 1460) to one listener, from sources scattered over 172.16.0.0/12
 * (RFC 1918 space nobody in the tests answers for), one frame buffer reused
 * and re-checksummed per SYN.
 */
import { fixChecksums } from '../fuzz/engine.js';

const ETHER_LEN = 14;
const IP_LEN = 20;
const TCP_LEN = 24;
/** The frame: Ethernet, IPv4, TCP with one option (MSS). */
export const SYN_FRAME_LEN = ETHER_LEN + IP_LEN + TCP_LEN;

export class SpoofedSyns {
  /** The frame, rewritten by each make(). */
  readonly frame = new Uint8Array(SYN_FRAME_LEN);

  /** SYNs to `dst`:`port` (a u32 address) through the link address `dstMac`, from `srcMac`. */
  constructor(dstMac: Uint8Array, srcMac: Uint8Array, dst: number, port: number) {
    const f = this.frame;
    f.set(dstMac, 0);
    f.set(srcMac, 6);
    f[12] = 0x08; // IPv4
    const ip = ETHER_LEN;
    f[ip] = 0x45;
    f[ip + 3] = IP_LEN + TCP_LEN;
    f[ip + 8] = 64; // TTL
    f[ip + 9] = 6; // TCP
    f[ip + 16] = dst >>> 24;
    f[ip + 17] = (dst >>> 16) & 0xff;
    f[ip + 18] = (dst >>> 8) & 0xff;
    f[ip + 19] = dst & 0xff;
    const t = ip + IP_LEN;
    f[t + 2] = port >>> 8;
    f[t + 3] = port & 0xff;
    f[t + 12] = (TCP_LEN / 4) << 4;
    f[t + 13] = 0x02; // SYN
    f[t + 14] = 0xff; // window 65535
    f[t + 15] = 0xff;
    f.set([2, 4, 0x05, 0xb4], t + 20); // MSS 1460
  }

  /** The n-th SYN: its own source address, port, sequence number and IP id. Returns `frame`. */
  make(n: number): Uint8Array {
    const f = this.frame;
    const ip = ETHER_LEN;
    const t = ip + IP_LEN;
    f[ip + 4] = (n >>> 8) & 0xff;
    f[ip + 5] = n & 0xff;
    const src = (0xac100000 | ((Math.imul(n, 0x9e3779b1) >>> 12) & 0xfffff)) >>> 0; // 172.16/12, scattered
    f[ip + 12] = src >>> 24;
    f[ip + 13] = (src >>> 16) & 0xff;
    f[ip + 14] = (src >>> 8) & 0xff;
    f[ip + 15] = src & 0xff;
    const sport = 1024 + (n % 60000);
    f[t] = sport >>> 8;
    f[t + 1] = sport & 0xff;
    const seq = Math.imul(n, 40503) >>> 0;
    f[t + 4] = seq >>> 24;
    f[t + 5] = (seq >>> 16) & 0xff;
    f[t + 6] = (seq >>> 8) & 0xff;
    f[t + 7] = seq & 0xff;
    fixChecksums(f);
    return f;
  }
}
