/*
 * TCP Fast Open (RFC 7413) as FreeBSD does it (tcp_fastopen.c): data in
 * the SYN reaches the server application one round trip early, for a
 * client that holds a cookie the server gave it before.
 *
 *   server  net.inet.tcp.fastopen.server_enable and TCP_FASTOPEN on the
 *           listener. A SYN with an empty Fast Open option (a cookie
 *           request) or a wrong cookie goes through the SYN cache and its
 *           SYN-ACK carries a cookie; a SYN with the right cookie makes the
 *           connection at once: its data is in the socket, accept()
 *           returns it, and the SYN-ACK acknowledges the data.
 *   client  net.inet.tcp.fastopen.client_enable and TCP_FASTOPEN on the
 *           socket before connect: the SYN carries the cookie cached for
 *           the server, or asks for one; a SYN-ACK's cookie is cached,
 *           with the server's MSS. sendto() with the destination on such
 *           a socket connects (FreeBSD's implied connect) and, with a
 *           cookie cached, its data rides in the SYN (RFC 7413 §3): as
 *           much as one segment of the cached MSS takes. A SYN-ACK that
 *           acknowledges only the SYN has the data sent again at once
 *           (§4.2.2); a retransmitted SYN carries none.
 *
 * The cookie (RFC 7413 §4.1.2) is 8 bytes of SipHash-2-4 over the client's
 * address, keyed per kernel from the hypercall random source, so it cannot
 * be forged and means nothing to another kernel.
 */
import { InAddr } from '../in_addr.js';
import { SipHash24 } from './isn.js';
import type { Tcp, TcpCb, TcpSegment } from './var.js';

/** TcpCb.tfoFlags: TCP_FASTOPEN was set (a listener serves it, a client socket asks for it). */
export const TFO_ENABLED = 0x1;
/** TcpCb.tfoFlags: a client connecting with a cookie cached: its first SYN may carry data. */
export const TFO_SYN_DATA = 0x2;

/** FreeBSD's TCP_FASTOPEN_COOKIE_LEN. */
export const TFO_COOKIE_LEN = 8;
/** Cookies a client keeps (FreeBSD's ccache bounds it too); the oldest goes first. */
const TFO_CCACHE_MAX = 1024;

/** The per-kernel Fast Open state, made at first use. */
export class TcpFastOpen {
  private readonly key: SipHash24;
  private readonly msg = new Uint8Array(16);
  /** Client side: the server address (16-byte form as text) → its cookie and MSS (0: none given). */
  private readonly ccache = new Map<string, { cookie: Uint8Array; mss: number }>();

  constructor(tcp: Tcp) {
    const k = new Uint8Array(16);
    tcp.kernel.host.randomFill(k);
    this.key = new SipHash24(k);
  }

  /** The cookie for a client at `faddr`, into `out` (8 bytes). */
  cookie(faddr: InAddr, out: Uint8Array): Uint8Array {
    faddr.store(this.msg, 0);
    const lo = this.key.hash(this.msg, 16);
    const hi = this.key.hi;
    for (let i = 0; i < 4; i++) {
      out[i] = (lo >>> (8 * i)) & 0xff;
      out[4 + i] = (hi >>> (8 * i)) & 0xff;
    }
    return out;
  }

  /** Does the SYN in `seg` carry the cookie its source was given? */
  valid(seg: TcpSegment): boolean {
    const o = seg.opts;
    if (o.tfoLen !== TFO_COOKIE_LEN) return false;
    const want = this.cookie(seg.src, new Uint8Array(TFO_COOKIE_LEN));
    for (let i = 0; i < TFO_COOKIE_LEN; i++) if (o.tfoCookie[i] !== want[i]) return false;
    return true;
  }

  private static keyOf(faddr: InAddr): string {
    const b = new Uint8Array(16);
    faddr.store(b, 0);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  /** Client side: the cookie cached for `faddr`, or null (the SYN asks for one). */
  cached(faddr: InAddr): Uint8Array | null {
    return this.ccache.get(TcpFastOpen.keyOf(faddr))?.cookie ?? null;
  }

  /** Client side: the MSS cached with the cookie for `faddr` (0 when none was given), or -1 with no cookie. */
  cachedMss(faddr: InAddr): number {
    return this.ccache.get(TcpFastOpen.keyOf(faddr))?.mss ?? -1;
  }

  /** Client side: keep the cookie (and MSS, 0 if none) a SYN-ACK from `faddr` carried. */
  remember(faddr: InAddr, cookie: Uint8Array, mss = 0): void {
    const key = TcpFastOpen.keyOf(faddr);
    this.ccache.delete(key);
    if (this.ccache.size >= TFO_CCACHE_MAX) {
      const oldest = this.ccache.keys().next();
      if (!oldest.done) this.ccache.delete(oldest.value);
    }
    this.ccache.set(key, { cookie: cookie.slice(), mss });
  }
}

/** The kernel's Fast Open state, made with its key on first use. */
export function tcpFastOpen(tcp: Tcp): TcpFastOpen {
  if (tcp.tfo === null) tcp.tfo = new TcpFastOpen(tcp);
  return tcp.tfo;
}

/** Client side, SYN-SENT: a SYN-ACK with a cookie for our request; keep it for the next connect. */
export function tcpFastOpenSynAck(tp: TcpCb, seg: TcpSegment): void {
  const o = seg.opts;
  if (!(tp.tfoFlags & TFO_ENABLED) || o.tfoLen <= 0) return;
  tcpFastOpen(tp.tcp).remember(tp.inp.foreignInto(tp.tcp.scratchDst), o.tfoCookie.subarray(0, o.tfoLen), o.mss > 0 ? o.mss : 0);
}

/**
 * Client side, at connect (FreeBSD tcp_fastopen_connect): with a cookie
 * cached for the server the first SYN may carry data. Returns the server's
 * cached MSS (0 if it gave none), or -1 without a cookie (the SYN asks for one).
 */
export function tcpFastOpenConnect(tp: TcpCb): number {
  const mss = tcpFastOpen(tp.tcp).cachedMss(tp.inp.foreignInto(tp.tcp.scratchDst));
  if (mss >= 0) tp.tfoFlags |= TFO_SYN_DATA;
  return mss;
}
