/*
 * The SYN cache and SYN cookies (BSD netinet/tcp_syncache.c; RFC 4987 §3.3,
 * §3.6).
 *
 * A SYN to a listener does not create a socket: it becomes a small entry
 * here (the peer's ISN and options, our ISN) and a SYN-ACK. Only the ACK
 * that completes the handshake creates the socket and control block
 * (`expand`), which then processes that ACK like any other. When the cache
 * is full (or net.inet.tcp.syncookies_only) the SYN-ACK carries a cookie
 * instead: our ISN encodes the MSS, window scale and SACK-permitted the peer
 * offered, under a keyed hash of the four-tuple, the peer's ISN and a
 * secret that rotates every 15 s, so the ACK alone is enough to rebuild the
 * entry and nothing is stored.
 *
 *   tcpInput (LISTEN): SYN → add → SYN-ACK (entry, or cookie)
 *                      ACK → expand → new socket + TcpCb (SYN_RECEIVED)
 *                            → tcpDoSegment (ESTABLISHED, accept queue)
 *                      RST → rst (RFC 5961 §3 for SYN_RECEIVED)
 *   callout per entry: SYN-ACK retransmission, then timeout
 *   tcpCtlinput, tcpCtlinput6 → unreach (ICMP about our SYN-ACK)
 *
 * Entries of both families are one kind: the four-tuple inline
 * (InConnInfo, IPv4 v4-mapped), hashed and compared as the PCB table does;
 * the family shows only in the output (tcpIpOutput) and in which PCB table
 * the new socket's PCB goes.
 */
import type { Callout } from '../../../kern/callout.js';
import { SO_ACCEPTCONN, Socket } from '../../socket.js';
import { TCP_HDR_MIN, TH_ACK, TH_ECE, TH_SYN, tcpWriteHeader } from '../../wire/tcp.js';
import { ECN_PERMIT, tcpEcnSynAccept } from './ecn.js';
import { TFO_COOKIE_LEN, tcpFastOpen } from './fastopen.js';
import { InConnInfo, connHashKey, type InAddr } from '../in_addr.js';
import { TCPS_SYN_RECEIVED } from './fsm.js';
import { HASH_COOKIE, SipHash24, tcpNewIsn, tcpNewTsOffset, tupleHash } from './isn.js';
import { TOF_FASTOPEN, tcpAddOptions } from './output.js';
import { seqGeq, seqLt } from './seq.js';
import {
  TCP6_HEADROOM, TCP_HEADROOM, tcpIpOutput, tcpMss, tcpMssOpt, tcpNewTcpcb, tcpRequestScale,
} from './subr.js';
import { tcpTimerKeepArm } from './timer.js';
import {
  SYNCOOKIE_MSSTAB, TCP_MAXWIN, TF_NODELAY, TF_NOOPT, TF_NOPUSH, TF_RCVD_SCALE, TF_RCVD_TSTMP, TF_REQ_SACK,
  TF_REQ_SCALE, TF_REQ_TSTMP, TF_SACK_PERMIT, type Tcp, type TcpCb, type TcpSegment,
} from './var.js';

/** A cookie's secret is good for two periods of this long (FreeBSD SYNCOOKIE_LIFETIME). */
export const SYNCOOKIE_LIFETIME = 15000;
/**
 * What one entry (with its callout) is charged to the kernel's memory
 * account (RUMP_MEMLIMIT), so a SYN flood cannot grow the cache past the
 * cap whatever syncache.cachelimit says. Charged as callers' data are: the
 * packet path's reserve stays free for the SYN-ACKs and everyone else.
 */
export const SYNCACHE_ENTRY_BYTES = 256;
/** The window scales a cookie can encode; index 0 means "the peer sent none". */
const COOKIE_WSTAB: readonly number[] = [-1, 0, 1, 2, 4, 6, 7, 8];

/* SYN-ACK option bits (FreeBSD's TOF_*), as output.ts lays them out. */
const TOF_MSS = 0x1;
const TOF_SCALE = 0x2;
const TOF_SACKPERM = 0x4;
const TOF_TS = 0x10;

const noBlocks = new Uint32Array(0);

/** One half-open connection (struct syncache): its four-tuple inline, as a PCB's. */
export class SynCacheEntry extends InConnInfo {
  key = 0;
  irs = 0;
  iss = 0;
  /** The peer's MSS offer, -1 when it sent none. */
  peerMss = -1;
  /** The peer's window shift, -1 when it sent none. */
  peerWscale = -1;
  /** Our window shift (offered only when the peer offered one). */
  wscale = 0;
  sackOk = false;
  tsOk = false;
  tsRecent = 0;
  tsOffset = 0;
  /** The window we advertised in the SYN-ACK (unscaled, RFC 7323 §2.2). */
  wnd = 0;
  /** SYN-ACK retransmissions so far. */
  rxmits = 0;
  /** An ICMP error about our SYN-ACK was seen once (FreeBSD SCF_UNREACH). */
  unreach = false;
  /** The SYN asked for ECN and we accept it: the SYN-ACK carries ECE (FreeBSD SCF_ECN, ecn.ts). */
  ecn = false;
  /** The SYN had a Fast Open option the listener serves: the SYN-ACK carries a cookie (fastopen.ts). */
  tfo = false;
  /** TCP over UDP (tunnel.ts): the SYN came in UDP from this port (0: plain); the handshake goes on that way. */
  port = 0;
  listener: TcpCb | null = null;
  callout: Callout<SynCacheEntry> | null = null;
  cache: SynCache | null = null;
}

/** The bucket key of the segment's four-tuple, from the peer's side (faddr = the segment's source). */
function segKey(seg: TcpSegment): number {
  return connHashKey(seg.src, seg.sport, seg.dst, seg.dport);
}

export class SynCache {
  private readonly buckets = new Map<number, SynCacheEntry[]>();
  private count = 0;
  /** A scratch entry for SYN-ACKs answered with a cookie (nothing stored). */
  private readonly scratch = new SynCacheEntry();
  /** New entries the memory account refused (RUMP_MEMLIMIT), also in sc_dropped. */
  nomem = 0;
  /** Entries (with their callouts) kept for reuse: no allocation per SYN in steady state. */
  private readonly spare: SynCacheEntry[] = [];

  constructor(readonly tcp: Tcp) {}

  /** Entries held (leak checks, netstat). */
  get size(): number {
    return this.count;
  }

  *entries(): Iterable<SynCacheEntry> {
    for (const b of this.buckets.values()) yield* b;
  }

  private lookup(faddr: InAddr, fport: number, laddr: InAddr, lport: number): SynCacheEntry | null {
    const b = this.buckets.get(connHashKey(faddr, fport, laddr, lport));
    if (b === undefined) return null;
    for (let i = 0; i < b.length; i++) if (b[i]!.is(faddr, fport, laddr, lport)) return b[i]!;
    return null;
  }

  /** The entry for the segment being processed. */
  private lookupSeg(seg: TcpSegment): SynCacheEntry | null {
    return this.lookup(seg.src, seg.sport, seg.dst, seg.dport);
  }

  /** Remove an entry, stop its timer, keep it for reuse; its charge goes unless `keepCharge` (a new entry takes it). */
  private remove(sc: SynCacheEntry, keepCharge = false): void {
    const b = this.buckets.get(sc.key);
    const i = b === undefined ? -1 : b.indexOf(sc);
    if (i < 0) return;
    b!.splice(i, 1);
    this.count--;
    if (b!.length === 0) this.buckets.delete(sc.key);
    if (!keepCharge) this.tcp.kernel.mem.release(SYNCACHE_ENTRY_BYTES);
    sc.callout?.stop();
    sc.listener = null;
    if (this.spare.length < 1024) this.spare.push(sc);
  }

  /** A listener closed: its half-open connections go with it. */
  listenerGone(tp: TcpCb): void {
    if (this.count === 0) return;
    for (const b of [...this.buckets.values()]) {
      for (const sc of [...b]) if (sc.listener === tp) this.remove(sc);
    }
  }

  /** Drop everything (kernel halt). */
  clear(): void {
    for (const b of [...this.buckets.values()]) for (const sc of [...b]) this.remove(sc);
  }

  /**
   * syncache_add: a SYN for listener `ltp`. A duplicate SYN for an entry
   * resends its SYN-ACK; a new one makes an entry, unless the cache or the
   * bucket is full, when a cookie answers (or, without cookies, the oldest
   * entry of the bucket makes room).
   */
  add(ltp: TcpCb, seg: TcpSegment, tfo = false): void {
    const tcp = this.tcp;
    const cfg = tcp.cfg;
    const st = tcp.stat;
    const o = seg.opts;
    const old = this.lookupSeg(seg);
    if (old !== null) {
      st.sc_dupesyn++;
      // A SYN with another ISN is a new attempt: take its ISN.
      old.irs = seg.seq;
      old.tfo = tfo;
      if (old.tsOk && o.tsPresent) old.tsRecent = o.tsVal;
      if (this.respond(old)) {
        old.rxmits = 0;
        this.armTimer(old);
      }
      return;
    }
    const key = segKey(seg);
    let b = this.buckets.get(key);
    const full = this.count >= cfg.syncacheLimit || (b !== undefined && b.length >= cfg.syncacheBucketLimit);
    let cookie = cfg.syncookies !== 0 && (cfg.syncookiesOnly !== 0 || full);
    // A new entry is charged to the memory account (in a full cache it takes
    // over its victim's charge below); at the cap a cookie answers, as FreeBSD's
    // syncache_add when its zone is empty, or without cookies the SYN is
    // dropped and counted (NetBSD's "no space"): the peer sends it again.
    if (!cookie && !full && !tcp.kernel.mem.charge(SYNCACHE_ENTRY_BYTES, true)) {
      st.sc_dropped++;
      this.nomem++;
      if (cfg.syncookies === 0) return;
      cookie = true;
    }
    const sc = cookie ? this.scratch : this.spare.pop() ?? new SynCacheEntry();
    this.fill(sc, ltp, seg, key);
    sc.tfo = tfo;
    if (cookie) {
      // The cookie is our ISN: no RFC 6528 hash for it (one keyed hash per cookie SYN).
      sc.iss = this.cookieIss(sc);
      st.sc_sendcookie++;
      this.respond(sc);
      sc.listener = null;
      return;
    }
    if (full) {
      // Make room: the oldest entry of the bucket, or of the whole cache.
      let victim: SynCacheEntry | undefined;
      if (b !== undefined && b.length >= cfg.syncacheBucketLimit) {
        victim = b[0];
        st.sc_bucketoverflow++;
      } else {
        for (const bb of this.buckets.values()) {
          victim = bb[0];
          break;
        }
        st.sc_overflowed++;
      }
      if (victim !== undefined) this.remove(victim, true);
      b = this.buckets.get(key);
    }
    if (b === undefined) {
      b = [];
      this.buckets.set(key, b);
    } else st.sc_collisions++;
    b.push(sc);
    sc.iss = newIss(tcp, sc);
    this.count++;
    st.sc_added++;
    sc.cache = this;
    if (sc.callout === null) sc.callout = tcp.kernel.callouts.create(syncacheTimer, sc);
    this.respond(sc);
    this.armTimer(sc);
  }

  /** The entry's fields from a SYN for `ltp`; our ISN is the caller's (RFC 6528 `newIss`, or a cookie). */
  private fill(sc: SynCacheEntry, ltp: TcpCb, seg: TcpSegment, key: number): void {
    const tcp = this.tcp;
    const cfg = tcp.cfg;
    const o = seg.opts;
    sc.setLocal(seg.dst);
    sc.lport = seg.dport;
    sc.setForeign(seg.src);
    sc.fport = seg.sport;
    sc.key = key;
    sc.irs = seg.seq;
    sc.rxmits = 0;
    sc.unreach = false;
    sc.ecn = tcpEcnSynAccept(cfg.ecn, seg.flags);
    sc.port = seg.udpPort;
    sc.listener = ltp;
    const noopt = (ltp.flags & TF_NOOPT) !== 0;
    sc.peerMss = o.mss;
    sc.peerWscale = !noopt && ltp.flags & TF_REQ_SCALE ? o.wscale : -1;
    sc.wscale = sc.peerWscale >= 0 ? tcpRequestScale(cfg.maxsockbuf) : 0;
    sc.sackOk = !noopt && (ltp.flags & TF_REQ_SACK) !== 0 && o.sackPermitted;
    sc.tsOk = !noopt && (ltp.flags & TF_REQ_TSTMP) !== 0 && o.tsPresent;
    sc.tsRecent = sc.tsOk ? o.tsVal : 0;
    // The offset hides our clock in TSval: no timestamps, nothing to hide (and no hash per SYN).
    sc.tsOffset = cfg.tsOffsetPerConn && sc.tsOk ? entryTsOffset(tcp, sc) : 0;
    sc.wnd = Math.min(ltp.so.rcv.hiwat, TCP_MAXWIN);
  }

  /**
   * syncache_respond: the SYN-ACK, with the options the peer offered and
   * the listener allows, in FreeBSD's layout; or (`flags` TH_ACK) the
   * challenge ACK of an in-window RST, which offers the SYN-ACK's window
   * (and timestamps, if on) from just past our SYN. Returns whether it went out.
   */
  private respond(sc: SynCacheEntry, flags = TH_SYN | TH_ACK): boolean {
    const tcp = this.tcp;
    const ltp = sc.listener;
    const noopt = ltp !== null && (ltp.flags & TF_NOOPT) !== 0;
    const syn = (flags & TH_SYN) !== 0;
    let mask = 0;
    if (!syn) {
      if (sc.tsOk && !noopt) mask |= TOF_TS;
    } else if (!noopt) {
      mask |= TOF_MSS;
      if (sc.peerWscale >= 0) mask |= TOF_SCALE;
      if (sc.sackOk) mask |= TOF_SACKPERM;
      if (sc.tsOk) mask |= TOF_TS;
      if (sc.tfo) mask |= TOF_FASTOPEN;
    }
    const faddr = sc.foreignInto(tcp.scratchDst);
    const mss = tcpMssOpt(tcp, faddr) - (sc.port !== 0 ? tcp.cfg.udpTunnelingOverhead : 0);
    const tsval = (tcp.tsNow() + sc.tsOffset) >>> 0;
    const cookie = mask & TOF_FASTOPEN ? tcpFastOpen(tcp).cookie(faddr, new Uint8Array(TFO_COOKIE_LEN)) : null;
    const optlen = mask === 0 ? 0 : tcpAddOptions(tcp.synOptbuf, mask, mss, sc.wscale, tsval, sc.tsRecent, noBlocks, 0, cookie);
    const hlen = TCP_HDR_MIN + optlen;
    const m = tcp.kernel.mbufs.get(hlen, faddr.isV4() ? TCP_HEADROOM : TCP6_HEADROOM);
    if (m === null) {
      tcp.stat.sc_dropped++;
      return false;
    }
    if (optlen > 0) m.buf.set(tcp.synOptbuf.subarray(0, optlen), m.off + TCP_HDR_MIN);
    if (syn && sc.ecn) flags |= TH_ECE;
    tcpWriteHeader(m.buf, m.off, sc.lport, sc.fport, syn ? sc.iss : (sc.iss + 1) >>> 0, (sc.irs + 1) >>> 0, hlen, flags, sc.wnd, 0);
    const st = tcp.stat;
    st.sndtotal++;
    if (syn) st.sndctrl++;
    else st.sndacks++;
    const err = tcpIpOutput(tcp, m, sc.localInto(tcp.scratchSrc), faddr, ltp !== null ? ltp.inp : null, -1, sc.port);
    if (err !== 0) {
      st.sc_dropped++;
      return false;
    }
    return true;
  }

  /** SYN-ACK retransmission: the initial RTO, backed off (FreeBSD syncache_timeout). */
  private armTimer(sc: SynCacheEntry): void {
    const cfg = this.tcp.cfg;
    let t = cfg.rexmitInitial * 2 ** sc.rxmits + (sc.rxmits > 0 ? cfg.rexmitSlop : 0);
    if (t > cfg.rexmitMax) t = cfg.rexmitMax;
    sc.callout!.reset(t);
  }

  /** The entry's timer: resend the SYN-ACK, or give up after rexmtlimit resends. */
  timeout(sc: SynCacheEntry): void {
    const st = this.tcp.stat;
    if (sc.listener === null) return;
    if (sc.rxmits >= this.tcp.cfg.syncacheRexmtLimit) {
      st.sc_timed_out++;
      this.remove(sc);
      return;
    }
    sc.rxmits++;
    st.sc_retransmitted++;
    // RFC 3168 §6.1.1.1: the SYN-ACK may be lost for its ECE; later ones go without.
    if (sc.rxmits > this.tcp.cfg.ecnMaxretries) sc.ecn = false;
    this.respond(sc);
    this.armTimer(sc);
  }

  /**
   * syncache_chkrst: an RST for a half-open connection. RFC 5961 §3.2: it
   * removes the entry only at exactly the expected sequence (anywhere in
   * the window with insecure_rst); elsewhere in the window it draws a
   * challenge ACK.
   */
  rst(seg: TcpSegment): void {
    const sc = this.lookupSeg(seg);
    if (sc === null) return;
    const exp = (sc.irs + 1) >>> 0;
    if (!(seqGeq(seg.seq, exp) && seqLt(seg.seq, (exp + Math.max(sc.wnd, 1)) >>> 0))) return;
    if (seg.seq === exp || this.tcp.cfg.insecureRst) {
      this.tcp.stat.sc_reset++;
      this.remove(sc);
    } else {
      this.tcp.stat.challenge_ack++;
      this.respond(sc, TH_ACK);
    }
  }

  /** An ICMP error quoting our SYN-ACK: drop the entry once it keeps happening. */
  unreach(laddr: InAddr, lport: number, faddr: InAddr, fport: number, seq: number): void {
    const sc = this.lookup(faddr, fport, laddr, lport);
    if (sc === null || seq !== sc.iss) return;
    if (!sc.unreach || sc.rxmits < 3) {
      sc.unreach = true;
      return;
    }
    this.tcp.stat.sc_unreach++;
    this.remove(sc);
  }

  /**
   * syncache_expand: the ACK of a SYN-ACK. Finds the entry (or validates a
   * cookie), checks the ACK acknowledges our SYN, and builds the socket and
   * control block in SYN_RECEIVED. Null when nothing matches (the caller
   * answers with an RST) or the listen queue is full.
   */
  expand(ltp: TcpCb, seg: TcpSegment): TcpCb | null {
    const tcp = this.tcp;
    const st = tcp.stat;
    let sc = this.lookupSeg(seg);
    let fromCookie = false;
    if (sc === null) {
      if (!tcp.cfg.syncookies) return null;
      sc = this.cookieCheck(ltp, seg);
      if (sc === null) {
        st.sc_badcookie++;
        return null;
      }
      fromCookie = true;
      st.sc_recvcookie++;
    } else {
      if (seg.ack !== ((sc.iss + 1) >>> 0) || seg.udpPort !== sc.port) return null;
      // The ACK's sequence must be within what we offered.
      if (!(seqGeq(seg.seq, (sc.irs + 1) >>> 0) && seqLt(seg.seq, (sc.irs + 1 + Math.max(sc.wnd, 1)) >>> 0))) return null;
    }
    const head = ltp.so;
    // sonewconn: NetBSD's limit, 3/2 of the backlog.
    if (head.acceptq.length > (3 * head.qlimit) >> 1 || head.closed) {
      st.sc_aborted++;
      if (!fromCookie) this.remove(sc);
      return null;
    }
    const tp = this.socket(ltp, sc);
    if (!fromCookie) this.remove(sc);
    st.sc_completed++;
    st.accepts++;
    return tp;
  }

  /** Did the handshake of `seg`'s four-tuple agree to timestamps, which this segment lacks (RFC 7323 §3.2)? */
  tsMissing(seg: TcpSegment): boolean {
    const sc = this.lookupSeg(seg);
    return sc !== null && sc.tsOk && !seg.opts.tsPresent;
  }

  /**
   * syncache_tfo_expand: a SYN with a valid Fast Open cookie (RFC 7413
   * §4.2.2) becomes a connection at once, in SYN_RECEIVED, without an
   * entry; its SYN-ACK goes out from tcpOutput (and its timer resends it).
   * Null when the listen queue is full or a handshake for the same
   * four-tuple is already in the cache (the SYN is then treated as any).
   */
  tfoExpand(ltp: TcpCb, seg: TcpSegment): TcpCb | null {
    const st = this.tcp.stat;
    const head = ltp.so;
    if (this.lookupSeg(seg) !== null) return null;
    if (head.acceptq.length > (3 * head.qlimit) >> 1 || head.closed) {
      st.sc_aborted++;
      return null;
    }
    const sc = this.scratch;
    this.fill(sc, ltp, seg, segKey(seg));
    sc.iss = newIss(this.tcp, sc);
    sc.tfo = false;
    const tp = this.socket(ltp, sc);
    sc.listener = null;
    tp.snd_nxt = tp.snd_max = tp.iss;
    st.accepts++;
    return tp;
  }

  /** syncache_socket: a new socket on `ltp`'s accept side, connected to the entry's peer. */
  private socket(ltp: TcpCb, sc: SynCacheEntry): TcpCb {
    const tcp = this.tcp;
    const head = ltp.so;
    const so = new Socket(head.kernel, head.proto);
    so.options = head.options & ~SO_ACCEPTCONN;
    so.linger = head.linger;
    so.snd.hiwat = head.snd.hiwat;
    so.rcv.hiwat = head.rcv.hiwat;
    so.snd.autosize = head.snd.autosize;
    so.rcv.autosize = head.rcv.autosize;
    so.snd.lowat = head.snd.lowat;
    so.rcv.lowat = head.rcv.lowat;
    so.snd.timeo = head.snd.timeo;
    so.rcv.timeo = head.rcv.timeo;
    so.head = head;
    // An IPv4 connection to a dual-stack IPv6 listener is an IPv4 PCB (its
    // socket, of the listener's family, shows the addresses v4-mapped).
    const table = sc.foreignIsV4() ? tcp.inet.tcbtable : ltp.inp.table;
    const tp = tcpNewTcpcb(tcp, so, table);
    const inp = tp.inp;
    inp.ttl = ltp.inp.ttl;
    inp.tos = ltp.inp.tos;
    table.insertConnected(inp, sc.localInto(tcp.scratchSrc), sc.lport, sc.foreignInto(tcp.scratchDst), sc.fport);
    so.state |= 0x1000; // SS_ISBOUND
    // What the listener's user asked for carries over (FreeBSD tcp_newtcpcb on accept).
    tp.flags = (tp.flags & ~(TF_NODELAY | TF_NOPUSH | TF_NOOPT)) | (ltp.flags & (TF_NODELAY | TF_NOPUSH | TF_NOOPT));
    tp.t_keepinit = ltp.t_keepinit;
    tp.t_keepidle = ltp.t_keepidle;
    tp.t_keepintvl = ltp.t_keepintvl;
    tp.t_keepcnt = ltp.t_keepcnt;
    tp.t_usermss = ltp.t_usermss;
    tp.ccAlgo = ltp.ccAlgo;
    tp.state = TCPS_SYN_RECEIVED;
    tp.iss = sc.iss;
    tp.irs = sc.irs;
    tp.snd_una = sc.iss;
    tp.snd_nxt = tp.snd_max = tp.snd_up = (sc.iss + 1) >>> 0;
    tp.rcv_nxt = tp.rcv_up = (sc.irs + 1) >>> 0;
    tp.rcv_adv = (tp.rcv_nxt + sc.wnd) >>> 0;
    tp.last_ack_sent = tp.rcv_nxt;
    tp.flags &= ~(TF_REQ_SCALE | TF_REQ_TSTMP | TF_REQ_SACK);
    if (sc.peerWscale >= 0) {
      tp.flags |= TF_REQ_SCALE | TF_RCVD_SCALE;
      tp.requested_s_scale = sc.peerWscale;
      tp.request_r_scale = sc.wscale;
      tp.snd_scale = sc.peerWscale;
      tp.rcv_scale = sc.wscale;
    }
    if (sc.tsOk) {
      tp.flags |= TF_REQ_TSTMP | TF_RCVD_TSTMP;
      tp.ts_recent = sc.tsRecent;
      tp.ts_recent_age = tcp.tsNow();
    }
    tp.ts_offset = sc.tsOffset;
    if (sc.sackOk) tp.flags |= TF_REQ_SACK | TF_SACK_PERMIT;
    if (sc.ecn) {
      tp.ecnFlags = ECN_PERMIT;
      tp.ecnRecover = sc.iss;
    }
    tp.t_port = sc.port;
    tp.t_ourmss = tcpMssOpt(tcp, sc.foreignInto(tcp.scratchDst)) - (sc.port !== 0 ? tcp.cfg.udpTunnelingOverhead : 0);
    tcpMss(tp, sc.peerMss);
    tcpTimerKeepArm(tp, tp.t_keepinit);
    return tp;
  }

  /* ---------------------------------------------------------------------- */
  /* SYN cookies. */

  /** The secret of generation parity `gen`: the current one or the one before. */
  private cookieKey(gen: number): SipHash24 {
    const keys = this.tcp.cookieKeys;
    return gen & 1 ? keys[1] : keys[0];
  }

  /**
   * Rotate the cookie secret every SYNCOOKIE_LIFETIME, lazily on use. The
   * slot of the other parity holds the previous secret, so a cookie is good
   * for between one and two periods; after two idle periods both are new.
   */
  private cookieRotate(): void {
    const tcp = this.tcp;
    const now = tcp.kernel.host.now();
    const elapsed = now - tcp.cookieRotatedAt;
    if (elapsed < SYNCOOKIE_LIFETIME) return;
    const periods = Math.floor(elapsed / SYNCOOKIE_LIFETIME);
    for (let i = 0; i < Math.min(periods, 2); i++) {
      tcp.cookieGen++;
      const key = new Uint8Array(16);
      tcp.kernel.host.randomFill(key);
      tcp.cookieKeys[tcp.cookieGen & 1] = new SipHash24(key);
    }
    tcp.cookieRotatedAt = now - (elapsed % SYNCOOKIE_LIFETIME);
  }

  /**
   * Our ISN as a cookie: 24 bits of keyed hash over the four-tuple and the
   * peer's ISN, then the secret's generation bit and 7 bits (MSS index,
   * window scale index, SACK-permitted) masked by the hash's low byte.
   */
  private cookieIss(sc: SynCacheEntry): number {
    const tcp = this.tcp;
    this.cookieRotate();
    const gen = tcp.cookieGen & 1;
    const key = this.cookieKey(gen);
    const h = tupleHash(key, HASH_COOKIE, sc.localInto(tcp.scratchSrc), sc.lport, sc.foreignInto(tcp.scratchDst), sc.fport, sc.irs);
    let mssIdx = 0;
    const mss = sc.peerMss > 0 ? sc.peerMss : tcp.cfg.mssdflt;
    for (let i = SYNCOOKIE_MSSTAB.length - 1; i >= 0; i--) {
      if (SYNCOOKIE_MSSTAB[i]! <= mss) {
        mssIdx = i;
        break;
      }
    }
    let wsIdx = 0;
    if (sc.peerWscale >= 0) {
      wsIdx = 1;
      for (let i = COOKIE_WSTAB.length - 1; i >= 1; i--) {
        if (COOKIE_WSTAB[i]! <= sc.peerWscale) {
          wsIdx = i;
          break;
        }
      }
    }
    const bits = (mssIdx | (wsIdx << 3) | (sc.sackOk ? 0x40 : 0)) & 0x7f;
    return ((h & 0xffffff00) | (gen << 7) | ((bits ^ h) & 0x7f)) >>> 0;
  }

  /** Rebuild an entry from the ACK of a cookie SYN-ACK, or null if it does not validate. */
  private cookieCheck(ltp: TcpCb, seg: TcpSegment): SynCacheEntry | null {
    const tcp = this.tcp;
    this.cookieRotate();
    const iss = (seg.ack - 1) >>> 0;
    const irs = (seg.seq - 1) >>> 0;
    const gen = (iss >>> 7) & 1;
    const key = this.cookieKey(gen);
    const h = tupleHash(key, HASH_COOKIE, seg.dst, seg.dport, seg.src, seg.sport, irs);
    if ((h & 0xffffff00) >>> 0 !== (iss & 0xffffff00) >>> 0) return null;
    const bits = (iss ^ h) & 0x7f;
    const sc = this.scratch;
    const o = seg.opts;
    sc.setLocal(seg.dst);
    sc.lport = seg.dport;
    sc.setForeign(seg.src);
    sc.fport = seg.sport;
    sc.irs = irs;
    sc.iss = iss;
    sc.peerMss = SYNCOOKIE_MSSTAB[bits & 7]!;
    sc.ecn = false;
    sc.port = seg.udpPort;
    const ws = COOKIE_WSTAB[(bits >>> 3) & 7]!;
    sc.peerWscale = ws;
    sc.wscale = ws >= 0 ? tcpRequestScale(tcp.cfg.maxsockbuf) : 0;
    sc.sackOk = (bits & 0x40) !== 0;
    // Timestamps were on if the ACK carries them (we only send them back
    // to a SYN that had them).
    sc.tsOk = o.tsPresent && (ltp.flags & TF_REQ_TSTMP) !== 0 && !(ltp.flags & TF_NOOPT);
    sc.tsRecent = sc.tsOk ? o.tsVal : 0;
    sc.tsOffset = tcp.cfg.tsOffsetPerConn && sc.tsOk ? entryTsOffset(tcp, sc) : 0;
    sc.wnd = Math.min(ltp.so.rcv.hiwat, TCP_MAXWIN);
    sc.listener = ltp;
    return sc;
  }
}

/** Our ISN for the entry's four-tuple (RFC 6528). */
function newIss(tcp: Tcp, sc: SynCacheEntry): number {
  return tcpNewIsn(tcp.isnKey, tcp.kernel.host.now(), sc.localInto(tcp.scratchSrc), sc.lport, sc.foreignInto(tcp.scratchDst), sc.fport);
}

/** The entry's timestamp offset (RFC 7323 §7.1) over its four-tuple. */
function entryTsOffset(tcp: Tcp, sc: SynCacheEntry): number {
  return tcpNewTsOffset(tcp.isnKey, sc.localInto(tcp.scratchSrc), sc.lport, sc.foreignInto(tcp.scratchDst), sc.fport);
}

function syncacheTimer(sc: SynCacheEntry): void {
  sc.cache?.timeout(sc);
}
