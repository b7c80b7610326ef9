/*
 * TCP support routines (BSD netinet/tcp_subr.c): creating and closing
 * control blocks, dropping a connection, segments sent without a control
 * block (RST, challenge and keepalive ACKs), the MSS, the send buffer
 * helpers output and input share, ICMP errors (ctlinput), and the PCB
 * listing netstat and sockstat read.
 *
 *   attach → tcpNewTcpcb;  close/timeout/RST → tcpDrop → tcpClose
 *   icmpInput → inet.ctlinput[6] = tcpCtlinput → tcpDrop / tcpMtuDisc
 *   icmp6Input → tcpCtlinput6 (the same decisions, ICMPv6's types)
 *
 * Both families are one code: addresses are InAddr values (in_addr.ts);
 * only tcpIpOutput (the pseudo-header checksum, IP or IPv6 output),
 * tcpMssOpt (the header size, the route) and the two ctlinputs (ICMP and
 * ICMPv6 quote their datagrams differently) look at the family.
 */
import { tcpUdpEncapsulate } from './tunnel.js';
import { EHOSTDOWN, EHOSTUNREACH, ECONNREFUSED, EMSGSIZE, ENETUNREACH, ENOBUFS, ETIMEDOUT } from '../../../kern/errno.js';
import { MAX_LINKHDR, M_BCAST, M_CSUM_TCPv4, M_CSUM_TCPv6, M_MCAST } from '../../../kern/mbuf.js';
import { AF_INET6 } from '../../../kern/sys.js';
import type { Socket } from '../../socket.js';
import { INADDR_BROADCAST, inAddrIsMulticast } from '../../wire/inaddr.js';
import { IPPROTO_TCP, IPPROTO_UDP, IP_HDR_MIN } from '../../wire/ipv4.js';
import { IP6_HDR_LEN, ip6Cksum } from '../../wire/ipv6.js';
import {
  ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADMIN, ICMP6_DST_UNREACH_NOPORT, ICMP6_PARAM_PROB, ICMP6_PARAMPROB_NEXTHEADER,
  ICMP6_TIME_EXCEEDED, ICMP6_TIME_EXCEED_TRANSIT,
} from '../../wire/icmp6.js';
import {
  TCP_HDR_MIN, TCP_MAX_WINSHIFT, TH_ACK, TH_FIN, TH_RST, TH_SYN, tcpOptNop, tcpOptTimestamp, tcpSetChecksum, tcpWriteHeader,
  tcpDport, tcpSeq, tcpSport,
} from '../../wire/tcp.js';
import type { Mbuf } from '../../../kern/mbuf.js';
import { InAddr, formatAddr, type InConnInfo } from '../in_addr.js';
import type { InPcb, InPcbTable } from '../in_pcb.js';
import type { Inet } from '../inet.js';
import { ipMtudisc } from '../ip_mtudisc.js';
import { IP_MTUDISC, ipOutput, ipRouteLookup } from '../ip_output.js';
import { IFCAP_TSOv4, IFCAP_TSOv6 } from '../../interface.js';
import { ccByName, CC_DEFAULT, TCP_INFINITE_SSTHRESH } from './cc/cc.js';
import {
  TCPS_CLOSED, TCPS_ESTABLISHED, TCPS_LISTEN, TCPS_SYN_SENT, TCPS_TIME_WAIT, tcpStateName, tcpsHaveRcvdFin, tcpsHaveRcvdSyn,
} from './fsm.js';
import { seqDiff, seqGeq, seqLt } from './seq.js';
import { tcpCancelTimers } from './timer.js';
import {
  TCPIP6_HDRLEN, TCPIP_HDRLEN, TCP_MAXWIN, TF_NOOPT, TF_RCVD_TSTMP, TF_REQ_SACK, TF_REQ_SCALE, TF_REQ_TSTMP, TcpCb,
  type Tcp,
} from './var.js';
import { tcpOutput } from './output.js';

/** Headroom for what goes in front of a TCP header: Ethernet and a plain IP header. */
export const TCP_HEADROOM = MAX_LINKHDR + IP_HDR_MIN;
/** The same in front of an IPv6 header. */
export const TCP6_HEADROOM = MAX_LINKHDR + IP6_HDR_LEN;

/**
 * tcp_newtcpcb: a control block in CLOSED for a fresh socket, with the
 * PCB in the TCP port namespace of its family (`table`: the IPv4 one unless
 * given) and the options the sysctls ask for.
 */
export function tcpNewTcpcb(tcp: Tcp, so: Socket, table: InPcbTable = tcp.inet.tcbtable): TcpCb {
  const inp = table.attach(so, IPPROTO_TCP);
  const cfg = tcp.cfg;
  const algo = ccByName(cfg.congctl) ?? ccByName(CC_DEFAULT)!;
  const tp = new TcpCb(tcp, inp, algo);
  if (cfg.rfc1323) tp.flags |= TF_REQ_SCALE | TF_REQ_TSTMP;
  if (cfg.sack) tp.flags |= TF_REQ_SACK;
  // The tcpcb is its congestion control's CcState too (CcState.maxseg is t_maxseg).
  tp.t_maxseg = tp.t_maxopd = tp.t_ourmss = cfg.mssdflt;
  tp.ssthresh = TCP_INFINITE_SSTHRESH;
  so.pcb = tp;
  tcp.tcbs.add(tp);
  return tp;
}

/**
 * tcp_close: the connection is gone. Timers stop, buffered segments are
 * freed, the PCB leaves the port namespace and the socket learns it is
 * disconnected. The TcpCb stays as the socket's pcb (state CLOSED) until
 * the descriptor is closed, so TCP_INFO still answers.
 */
export function tcpClose(tp: TcpCb): void {
  const tcp = tp.tcp;
  if (!tcp.tcbs.has(tp)) return;
  tcp.tcbs.delete(tp);
  tcpCancelTimers(tp);
  tcpReassFree(tp);
  tp.sackSb?.clear();
  const so = tp.so;
  so.flushSnd();
  tp.sndptrIdx = 0;
  tp.sndptrOff = 0;
  tp.state = TCPS_CLOSED;
  tp.inp.table.detach(tp.inp);
  tcp.syncache.listenerGone(tp);
  tcp.stat.closed++;
  // A connection that dies in a listener's accept queue leaves it
  // (soqremque): accept never hands out a corpse.
  const head = so.head;
  if (head !== null) {
    const i = head.acceptq.indexOf(so);
    if (i >= 0) head.acceptq.splice(i, 1);
    so.head = null;
  }
  so.isDisconnected();
}

/**
 * tcp_drop: abort a connection. A synchronized one gets an RST (output in
 * CLOSED sends RST|ACK); the socket gets `errno` (a timeout reports the
 * soft error an ICMP left, RFC 1122 §4.2.3.9).
 */
export function tcpDrop(tp: TcpCb, errno: number): void {
  const st = tp.tcp.stat;
  if (tcpsHaveRcvdSyn(tp.state)) {
    tp.state = TCPS_CLOSED;
    tcpOutput(tp);
    st.drops++;
  } else {
    st.conndrops++;
  }
  if (errno === ETIMEDOUT && tp.t_softerror) errno = tp.t_softerror;
  if (errno) tp.so.setError(errno);
  tcpClose(tp);
}

/** Free the reassembly queue (tcp_reass_flush). */
export function tcpReassFree(tp: TcpCb): void {
  const q = tp.segq;
  if (q.length === 0) return;
  const pool = tp.tcp.kernel.mbufs;
  for (let i = 0; i < q.length; i++) pool.free(q[i]!.m);
  q.length = 0;
  tp.segqBytes = 0;
  tp.segqMem = 0;
}

/** The MTU towards `faddr`: the route's own, else its interface's (0: no route). */
export function tcpRouteMtu(inet: Inet, faddr: number): number {
  const rt = ipRouteLookup(inet, faddr);
  if (rt === null) return 0;
  return rt.mtu || rt.ifp.mtu;
}

/**
 * tcp_mssopt: the MSS we advertise towards `faddr`, the route MTU less the
 * IP (or IPv6, RFC 8200 §8.3) and TCP headers (RFC 9293 §3.7.1, RFC 6691),
 * as is at both ends of the MTU range: 32 on a 72-byte link, 65495 on a
 * 65535-byte one. As in FreeBSD's tcp_mssopt, minmss bounds only what we
 * accept from a peer (tcpMss), not what we offer.
 */
export function tcpMssOpt(tcp: Tcp, faddr: InAddr): number {
  let mtu: number;
  let hdrlen: number;
  if (faddr.isV4()) {
    mtu = tcpRouteMtu(tcp.inet, faddr.v4());
    hdrlen = TCPIP_HDRLEN;
  } else {
    const ops = tcp.tcbtable6?.ops6 ?? null;
    faddr.store(tcp.bytesDst, 0);
    mtu = ops !== null ? ops.routeMtu(tcp.bytesDst) : 0;
    hdrlen = TCPIP6_HDRLEN;
  }
  const mss = mtu > hdrlen ? mtu - hdrlen : tcp.cfg.mssdflt;
  return Math.min(mss, 65535);
}

/** The smallest window scale that lets `bufmax` bytes be advertised (RFC 7323 §2.3). */
export function tcpRequestScale(bufmax: number): number {
  let s = 0;
  while (s < TCP_MAX_WINSHIFT && TCP_MAXWIN * 2 ** s < bufmax) s++;
  return s;
}

/**
 * tcp_mss: the send MSS once the peer's offer is known (`offer` -1: none,
 * RFC 9293 §3.7.1 says assume 536). Bounded by our route and by
 * TCP_MAXSEG, less the timestamp option when timestamps are on. Then, as
 * FreeBSD does, round both socket buffers up to a multiple of the MSS so a
 * window holds whole segments (65536 becomes 65700 at MSS 1460).
 */
export function tcpMss(tp: TcpCb, offer: number): void {
  const tcp = tp.tcp;
  const cfg = tcp.cfg;
  let mss: number;
  if (tp.flags & TF_NOOPT) mss = cfg.mssdflt;
  else {
    mss = offer > 0 ? offer : cfg.mssdflt;
    const ours = tcpMssOpt(tcp, tp.inp.foreignInto(tcp.scratchDst));
    if (mss > ours) mss = ours;
  }
  if (tp.t_usermss > 0 && mss > tp.t_usermss) mss = tp.t_usermss;
  // TCP over UDP: the UDP header comes out of every segment (tunnel.ts).
  if (tp.t_port !== 0) mss -= cfg.udpTunnelingOverhead;
  if (mss < cfg.minmss) mss = cfg.minmss;
  tp.t_maxopd = mss;
  if ((tp.flags & (TF_REQ_TSTMP | TF_RCVD_TSTMP | TF_NOOPT)) === (TF_REQ_TSTMP | TF_RCVD_TSTMP)) mss -= 12;
  tp.t_maxseg = mss;
  tp.cc.maxseg = mss;
  if (tp.inp.af !== AF_INET6) {
    const rt = ipRouteLookup(tcp.inet, tp.inp.faddr);
    tp.t_tsoifp = rt !== null && rt.ifp.capabilities & IFCAP_TSOv4 && tp.t_port === 0 ? rt.ifp : null;
  } else {
    tp.inp.foreignInto(tcp.scratchDst).store(tcp.bytesDst, 0);
    const ifp = tcp.tcbtable6?.ops6?.routeIfp(tcp.bytesDst) ?? null;
    tp.t_tsoifp = ifp !== null && ifp.capabilities & IFCAP_TSOv6 && tp.t_port === 0 ? ifp : null;
  }
  const so = tp.so;
  const max = cfg.maxsockbuf;
  so.snd.hiwat = roundToMss(so.snd.hiwat, mss, max);
  so.rcv.hiwat = roundToMss(so.rcv.hiwat, mss, max);
}

function roundToMss(hiwat: number, mss: number, max: number): number {
  if (hiwat < mss) return hiwat;
  let b = Math.ceil(hiwat / mss) * mss;
  if (b > max) b = max;
  return b > hiwat ? b : hiwat;
}

/** The receive window to offer now (before scaling): the space left, never negative. */
export function tcpRecvSpace(tp: TcpCb): number {
  const sb = tp.so.rcv;
  const w = sb.hiwat - sb.cc;
  return w > 0 ? w : 0;
}

/* ------------------------------------------------------------------------ */
/* The send buffer: data from snd_una on, as a queue of mbufs. */

/**
 * sbdrop for the send buffer: `n` acknowledged bytes leave the front. The
 * output pointer cache (sb_sndptr) moves with them so output never walks
 * the buffer from the start.
 */
export function tcpSbDrop(tp: TcpCb, n: number): void {
  const sb = tp.so.snd;
  const pool = tp.tcp.kernel.mbufs;
  if (n >= sb.cc) {
    for (let i = 0; i < sb.q.length; i++) pool.free(sb.q[i]!.m);
    sb.q.length = 0;
    sb.cc = 0;
    sb.headOff = 0;
    tp.sndptrIdx = 0;
    tp.sndptrOff = 0;
    return;
  }
  sb.cc -= n;
  let drop = 0;
  let off = sb.headOff + n;
  while (drop < sb.q.length && off >= sb.q[drop]!.m.len) {
    off -= sb.q[drop]!.m.len;
    pool.free(sb.q[drop]!.m);
    drop++;
  }
  if (drop > 0) sb.q.splice(0, drop);
  sb.headOff = off;
  tp.sndptrIdx -= drop;
  tp.sndptrOff -= n;
  if (tp.sndptrIdx < 0 || tp.sndptrOff > 0) {
    tp.sndptrIdx = 0;
    tp.sndptrOff = -sb.headOff;
  }
}

/**
 * Copy `len` bytes starting `doff` bytes after snd_una's byte out of the
 * send buffer into `dst` at `dstOff` (m_copydata on the send buffer).
 * Output builds segments in buffers it does not zero (MbufPool.getRaw):
 * should the buffer ever hold fewer bytes than asked, the rest is zeroed
 * rather than leaking what the buffer held before.
 */
export function tcpSbCopy(tp: TcpCb, doff: number, len: number, dst: Uint8Array, dstOff: number): void {
  const sb = tp.so.snd;
  const q = sb.q;
  let idx = tp.sndptrIdx;
  let start = tp.sndptrOff;
  if (idx >= q.length || start > doff) {
    idx = 0;
    start = -sb.headOff;
  }
  // Walk to the record holding doff.
  while (idx < q.length && start + q[idx]!.m.len <= doff) {
    start += q[idx]!.m.len;
    idx++;
  }
  tp.sndptrIdx = idx;
  tp.sndptrOff = start;
  let at = doff - start;
  while (len > 0 && idx < q.length) {
    const m = q[idx]!.m;
    const n = Math.min(len, m.len - at);
    dst.set(m.buf.subarray(m.off + at, m.off + at + n), dstOff);
    dstOff += n;
    len -= n;
    at = 0;
    idx++;
  }
  if (len > 0) dst.fill(0, dstOff, dstOff + len);
}

/* ------------------------------------------------------------------------ */
/* Segments without a control block. */

/**
 * tcp_respond: a bare segment (no data) to `dst`/`dport` from
 * `src`/`sport`, either family. With a control block the window and
 * timestamps are its own; without one the window is 0 (an RST for a
 * segment nobody owns).
 */
export function tcpRespond(
  tcp: Tcp, tp: TcpCb | null, src: InAddr, sport: number, dst: InAddr, dport: number, seq: number, ack: number, flags: number,
): void {
  const m = respondSegment(tcp, tp, sport, dport, seq, ack, flags, dst.isV4() ? TCP_HEADROOM : TCP6_HEADROOM);
  if (m === null) return;
  // Over UDP when the connection talks that way, or (no connection) the segment answered came so.
  tcpIpOutput(tcp, m, src, dst, tp !== null ? tp.inp : null, -1, tp !== null ? tp.t_port : tcp.seg.udpPort);
}

/** tcpRespond from the four-tuple of a connection or SYN cache entry `c` (ours is its local side). */
export function tcpRespondConn(tcp: Tcp, tp: TcpCb | null, c: InConnInfo, seq: number, ack: number, flags: number): void {
  tcpRespond(tcp, tp, c.localInto(tcp.scratchSrc), c.lport, c.foreignInto(tcp.scratchDst), c.fport, seq, ack, flags);
}

/**
 * Where TCP's wire differs by family: a whole segment in `m` (header at
 * m.off) from `src` to `dst`, checksummed over its pseudo header (RFC
 * 9293 §3.1, RFC 8200 §8.1) and handed to IP or IPv6 output with the TTL
 * (hop limit) and TOS (traffic class) of `inp`, or the defaults. Owns `m`;
 * returns 0 or an errno.
 */
export function tcpIpOutput(tcp: Tcp, m: Mbuf, src: InAddr, dst: InAddr, inp: InPcb | null, tosArg = -1, udpPort = 0): number {
  // The TOS byte (traffic class): the caller's (ECN bits, ecn.ts), else the socket's.
  const tos = tosArg >= 0 ? tosArg : inp !== null ? inp.tos : 0;
  if (dst.isV4()) {
    const inet = tcp.inet;
    const ttl = inp !== null ? inp.ttl : inet.defttl;
    if (udpPort !== 0) {
      // TCP over UDP (tunnel.ts): summed here, before the UDP header goes on.
      tcpSetChecksum(m.buf, m.off, m.len, src.v4(), dst.v4());
      const u = tcpUdpEncapsulate(tcp, m, udpPort, null, null);
      return u === null ? ENOBUFS : ipOutput(inet, u, src.v4(), dst.v4(), IPPROTO_UDP, ttl, tos, 0);
    }
    // The checksum is left to the interface, as tcpSendSegment leaves it
    // (M_CSUM_TCPv4): lo0 needs none (a SYN-ACK or an RST to ourselves
    // was summed in software every time), ipOutput sums it for any other.
    m.csumFlags |= M_CSUM_TCPv4;
    // DF on what a connection or listener sends (SYN-ACKs, ACKs), not on resets for nobody (NetBSD's tcp_respond).
    return ipOutput(inet, m, src.v4(), dst.v4(), IPPROTO_TCP, ttl, tos, inp !== null ? tcpMtudiscFlag(tcp) : 0);
  }
  const ops = tcp.tcbtable6?.ops6 ?? null;
  if (ops === null) {
    tcp.kernel.mbufs.free(m);
    return ENETUNREACH;
  }
  const s = tcp.bytesSrc;
  const d = tcp.bytesDst;
  src.store(s, 0);
  dst.store(d, 0);
  // Left to the interface (M_CSUM_TCPv6): ip6 output sums it if the packet
  // ends up on one that cannot. Never with TCP over UDP (no offloads there).
  if (!(m.csumFlags & M_CSUM_TCPv6) || udpPort !== 0) {
    m.csumFlags &= ~M_CSUM_TCPv6;
    m.buf[m.off + 16] = 0;
    m.buf[m.off + 17] = 0;
    const c = ip6Cksum(m.buf, m.off, m.len, IPPROTO_TCP, s, 0, d, 0);
    m.buf[m.off + 16] = c >>> 8;
    m.buf[m.off + 17] = c;
  }
  if (udpPort !== 0) {
    const u = tcpUdpEncapsulate(tcp, m, udpPort, s, d);
    return u === null ? ENOBUFS : ops.output(u, s, 0, d, 0, IPPROTO_UDP, inp !== null ? inp.ttl : ops.defHlim(), tos);
  }
  return ops.output(m, s, 0, d, 0, IPPROTO_TCP, inp !== null ? inp.ttl : ops.defHlim(), tos);
}

/** The header (and timestamps) of a tcp_respond segment, counted; the checksum is the caller's. */
function respondSegment(
  tcp: Tcp, tp: TcpCb | null, sport: number, dport: number, seq: number, ack: number, flags: number, headroom: number,
): Mbuf | null {
  const k = tcp.inet.kernel;
  let optlen = 0;
  const useTs = tp !== null && (tp.flags & (TF_REQ_TSTMP | TF_RCVD_TSTMP | TF_NOOPT)) === (TF_REQ_TSTMP | TF_RCVD_TSTMP) && !(flags & TH_RST);
  if (useTs) optlen = 12;
  const hlen = TCP_HDR_MIN + optlen;
  const m = k.mbufs.get(hlen, headroom);
  if (m === null) return null;
  const b = m.buf;
  const o = m.off;
  let win = 0;
  if (tp !== null && !(flags & TH_RST)) {
    win = tcpRecvSpace(tp);
    const max = TCP_MAXWIN << tp.rcv_scale;
    if (win > max) win = max;
    win >>>= tp.rcv_scale;
  }
  if (useTs) {
    let p = tcpOptNop(b, o + TCP_HDR_MIN);
    p = tcpOptNop(b, p);
    tcpOptTimestamp(b, p, (tcp.tsNow() + tp!.ts_offset) >>> 0, tp!.ts_recent);
  }
  tcpWriteHeader(b, o, sport, dport, seq >>> 0, flags & TH_ACK ? ack >>> 0 : 0, hlen, flags, win, 0);
  const st = tcp.stat;
  st.sndtotal++;
  if (flags & TH_RST) {
    st.sndrst++;
    st.sndctrl++;
  } else st.sndacks++;
  return m;
}

/**
 * The RST for a segment that no connection accepts (tcp_dropwithreset,
 * RFC 9293 §3.10.7.1): never for an RST, never to a broadcast or multicast
 * address; if the segment had an ACK, <SEQ=SEG.ACK><CTL=RST>, else
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. net.inet.tcp.blackhole 1
 * keeps quiet about SYNs, 2 about everything.
 */
export function tcpDropWithReset(tcp: Tcp, m: Mbuf, tp: TcpCb | null): void {
  const seg = tcp.seg;
  const flags = seg.flags;
  const mflags = m.flags;
  tcp.kernel.mbufs.free(m);
  if (flags & TH_RST || mflags & (M_BCAST | M_MCAST) || !tcpUnicast(seg.dst) || !tcpUnicast(seg.src) || seg.src.isAny()) return;
  const bh = tcp.cfg.blackhole;
  if (tp === null && (bh === 2 || (bh === 1 && flags & TH_SYN))) {
    tcp.stat.rstlimited++;
    return;
  }
  if (flags & TH_ACK) {
    tcpRespond(tcp, null, seg.dst, seg.dport, seg.src, seg.sport, seg.ack, 0, TH_RST);
  } else {
    let len = seg.tlen;
    if (flags & TH_SYN) len++;
    if (flags & TH_FIN) len++;
    tcpRespond(tcp, null, seg.dst, seg.dport, seg.src, seg.sport, 0, (seg.seq + len) >>> 0, TH_RST | TH_ACK);
  }
}

/** Neither multicast nor (IPv4) the limited broadcast address: an address an RST may concern. */
function tcpUnicast(a: InAddr): boolean {
  if (!a.isV4()) return a.w0 >>> 24 !== 0xff;
  const v4 = a.v4();
  return !inAddrIsMulticast(v4) && v4 !== INADDR_BROADCAST;
}

/**
 * Whether one more ACK of the kind a peer can draw at will (a challenge
 * ACK, the ACK that answers a dropped out-of-window segment) may go out on
 * this connection: at most net.inet.tcp.ack_war_cnt per ack_war_timewindow
 * ms (FreeBSD's ack war limit; NetBSD limits the latter with
 * tcp_ackdrop_ppslim). Without it two ends that disagree on a sequence
 * number ACK each other's ACKs for ever.
 */
export function tcpAckWarAllows(tp: TcpCb): boolean {
  const cfg = tp.tcp.cfg;
  if (cfg.ackWarCnt <= 0 || cfg.ackWarTimewindow <= 0) return true;
  const now = tp.tcp.kernel.uptime();
  if (now - tp.ackWarStart >= cfg.ackWarTimewindow) {
    tp.ackWarStart = now;
    tp.ackWarCount = 0;
  }
  if (tp.ackWarCount >= cfg.ackWarCnt) return false;
  tp.ackWarCount++;
  return true;
}

/**
 * RFC 5961 §3.2, §4.2, §5.2: answer a suspicious RST, SYN or ACK with an
 * ACK of what we expect, rate limited per connection the way FreeBSD
 * limits its "ACK war" (net.inet.tcp.ack_war_cnt per ack_war_timewindow).
 */
export function tcpChallengeAck(tp: TcpCb): void {
  const tcp = tp.tcp;
  if (!tcpAckWarAllows(tp)) {
    tcp.stat.challenge_ack_limited++;
    return;
  }
  tcp.stat.challenge_ack++;
  const inp = tp.inp;
  tcpRespondConn(tcp, tp, inp, tp.snd_nxt, tp.rcv_nxt, TH_ACK);
  tp.last_ack_sent = tp.rcv_nxt;
}

/* ------------------------------------------------------------------------ */
/* ICMP errors (tcp_ctlinput, RFC 5927, RFC 1122 §4.2.3.9, RFC 1191). */

/* ICMP types/codes read from the message in front of the quote. */
const ICMP_UNREACH = 3;
const ICMP_TIMXCEED = 11;
const UNREACH_NET_PROHIB = 9;
const UNREACH_HOST_PROHIB = 10;
const UNREACH_FILTER_PROHIB = 13;

/**
 * Is this error "hard" in FreeBSD's sense (tcp_ctlinput with icmp_may_rst:
 * port and protocol unreachable, administratively prohibited, TTL exceeded
 * in transit), and which errno does it report? Returns 0 for a soft error.
 *
 * icmpInput hands us the errno of NetBSD's inetctlerrmap and the message
 * buffer with the quoted datagram at `qoff`; the ICMP header sits in the 8
 * bytes before it, which tells "prohibited" apart from the other host
 * unreachables that map to the same errno.
 */
function hardIcmpErrno(errno: number, buf: Uint8Array, qoff: number): number {
  if (errno === ECONNREFUSED) return ECONNREFUSED;
  if (qoff >= 8) {
    const type = buf[qoff - 8]!;
    const code = buf[qoff - 7]!;
    if (type === ICMP_UNREACH && (code === UNREACH_NET_PROHIB || code === UNREACH_HOST_PROHIB || code === UNREACH_FILTER_PROHIB)) {
      return ECONNREFUSED;
    }
    if (type === ICMP_TIMXCEED && code === 0) return EHOSTUNREACH;
  }
  return 0;
}

/** tcp_ctlinput: inet.ctlinput[IPPROTO_TCP]. */
export function tcpCtlinput(
  inet: Inet, errno: number, src: number, dst: number, quoted: Uint8Array, qoff: number, qlen: number, mtu: number,
): void {
  const tcp = inet.tcp;
  if (tcp === null || errno === 0) return;
  if (errno === EHOSTDOWN) return;
  if (qlen < IP_HDR_MIN || qoff < 0 || qoff + qlen > quoted.length) return;
  const qhl = (quoted[qoff]! & 0x0f) << 2;
  // RFC 792 promises 8 bytes of the offending datagram: ports and sequence.
  if (qhl < IP_HDR_MIN || qlen < qhl + 8) return;
  const t = qoff + qhl;
  const sport = tcpSport(quoted, t);
  const dport = tcpDport(quoted, t);
  const seq = tcpSeq(quoted, t);
  // The quoted datagram went from us (src) to the peer (dst).
  const l = tcp.scratchSrc.setV4(src);
  const f = tcp.scratchDst.setV4(dst);
  tcpCtlinputTuple(tcp, inet.tcbtable, l, sport, f, dport, seq, errno, errno === EMSGSIZE ? 0 : hardIcmpErrno(errno, quoted, qoff), mtu);
}

/**
 * The quoted four-tuple of an ICMP or ICMPv6 error, ours `l`/`lport`, the
 * peer's `f`/`fport`: the connection learns of it (tcpNotify), else the
 * SYN cache entry of a SYN-ACK we sent.
 */
function tcpCtlinputTuple(
  tcp: Tcp, table: InPcbTable, l: InAddr, lport: number, f: InAddr, fport: number, seq: number, errno: number, hard: number, mtu: number,
): void {
  const inp = table.lookupConnect(f, fport, l, lport);
  if (inp === null) {
    tcp.syncache.unreach(l, lport, f, fport, seq);
    return;
  }
  tcpNotify(tcp, inp, errno, hard, seq, mtu);
}

/**
 * What ICMP and ICMPv6 errors do to the connection `inp` (the rest of
 * tcp_ctlinput, shared by both families): `hard` is the errno of a hard
 * error (0: soft), `seq` the quoted sequence number.
 */
function tcpNotify(tcp: Tcp, inp: InPcb, errno: number, hard: number, seq: number, mtu: number): void {
  const tp = inp.so.pcb;
  if (!(tp instanceof TcpCb) || tp.state === TCPS_LISTEN || tp.state === TCPS_TIME_WAIT) return;
  const st = tcp.stat;
  if (errno === EMSGSIZE) {
    // RFC 5927 §7.2 / RFC 1191: the quoted segment must be one in flight.
    if (!tcp.cfg.mtudisc || (inp.foreignIsV4() && !tcp.inet.mtudisc) || !(seqGeq(seq, tp.snd_una) && seqLt(seq, tp.snd_max))) {
      st.icmp_ignored++;
      return;
    }
    st.icmp_honoured++;
    // The host route learns the path MTU (RFC 1191, RFC 8201), and every
    // connection to that host shrinks to it (NetBSD's icmp_mtudisc and
    // icmp6_mtudisc_update with their tcp_mtudisc callbacks).
    const f = inp.foreignInto(new InAddr());
    let pmtu: number;
    if (f.isV4()) pmtu = ipMtudisc(tcp.inet, f.v4(), mtu, 0);
    else {
      const ops = tcp.tcbtable6?.ops6 ?? null;
      f.store(tcp.bytesDst, 0);
      pmtu = ops !== null ? ops.pmtuUpdate(tcp.bytesDst, mtu) : 0;
    }
    if (pmtu === 0) return;
    for (const table of [tcp.inet.tcbtable, tcp.tcbtable6]) {
      if (table === null) continue;
      for (const other of table.all) {
        const otp = other.so.pcb;
        if (otp instanceof TcpCb && other.foreignIs(f) && otp.state !== TCPS_LISTEN && otp.state !== TCPS_TIME_WAIT) tcpMtuDisc(otp, pmtu);
      }
    }
    return;
  }
  // RFC 5927 §4.1 (as FreeBSD): only an error about the oldest unacknowledged
  // segment is believed; anything else may be forged.
  if (seq !== tp.snd_una) {
    st.icmp_ignored++;
    return;
  }
  st.icmp_honoured++;
  if (hard !== 0 && tcp.cfg.icmpMayRst) {
    // RFC 1122 §4.2.3.9 leaves hard errors during connection setup to us;
    // FreeBSD aborts a connect with them and ignores them later.
    if (tp.state === TCPS_SYN_SENT) tcpDrop(tp, hard);
    return;
  }
  // Without icmp_may_rst, time exceeded (the one hard error that is
  // EHOSTUNREACH) is no error at all, as NetBSD's inetctlerrmap gives it none:
  // a connect whose SYN dies of a low TTL runs to its own timeout, "Connection
  // timed out" (RFC 1122 §4.2.3.9; NetBSD's t_forwarding checks it).
  if (hard === EHOSTUNREACH) return;
  // Soft errors (tcp_notify): remembered and reported only if the
  // connection times out (RFC 1122 §4.2.3.9). An established connection
  // ignores unreachables (the route may come back); a connect that has
  // already retransmitted a few times gives up on a second one.
  if (tp.state === TCPS_ESTABLISHED && (errno === EHOSTUNREACH || errno === ENETUNREACH)) return;
  if (tp.state < TCPS_ESTABLISHED && tp.t_rxtshift > 3 && tp.t_softerror !== 0) {
    tcpDrop(tp, errno);
    return;
  }
  tp.t_softerror = errno;
}

/**
 * FreeBSD's hard errors in ICMPv6 terms (tcp6_ctlinput): port unreachable
 * and administratively prohibited refuse the connection, as do an
 * unrecognised next header (IPv6's "protocol unreachable", RFC 4443 §3.4);
 * hop limit exceeded in transit is EHOSTUNREACH. 0 for a soft error.
 */
function hardIcmp6Errno(type: number, code: number): number {
  if (type === ICMP6_DST_UNREACH && (code === ICMP6_DST_UNREACH_NOPORT || code === ICMP6_DST_UNREACH_ADMIN)) return ECONNREFUSED;
  if (type === ICMP6_PARAM_PROB && code === ICMP6_PARAMPROB_NEXTHEADER) return ECONNREFUSED;
  if (type === ICMP6_TIME_EXCEEDED && code === ICMP6_TIME_EXCEED_TRANSIT) return EHOSTUNREACH;
  return 0;
}

/**
 * tcp6_ctlinput: an ICMPv6 error quoting a segment we sent. `buf` holds the
 * quoted IPv6 header at `ip6off` and its TCP header at `toff` (after any
 * extension headers the ICMPv6 layer walked), `end` bounds the quote;
 * `errno` is icmp6's mapping (ECONNREFUSED, EHOSTUNREACH, EMSGSIZE with
 * `mtu` for packet too big). RFC 4443 §2.4 (c) promises at least the
 * 8 bytes of ports and sequence number.
 */
export function tcpCtlinput6(
  tcp: Tcp, errno: number, type: number, code: number, buf: Uint8Array, ip6off: number, toff: number, end: number, mtu: number,
): void {
  const table = tcp.tcbtable6;
  if (table === null || errno === 0 || toff + 8 > end || end > buf.length) return;
  const sport = tcpSport(buf, toff);
  const dport = tcpDport(buf, toff);
  const seq = tcpSeq(buf, toff);
  // From us (the quoted source) to the peer (its destination).
  const l = tcp.scratchSrc.load(buf, ip6off + 8);
  const f = tcp.scratchDst.load(buf, ip6off + 24);
  tcpCtlinputTuple(tcp, table, l, sport, f, dport, seq, errno, errno === EMSGSIZE ? 0 : hardIcmp6Errno(type, code), mtu);
}

/** The ipOutput flag for a connection's segments: DF while path MTU discovery is on (net.inet.ip.mtudisc, net.inet.tcp.path_mtu_discovery). */
export function tcpMtudiscFlag(tcp: Tcp): number {
  return tcp.inet.mtudisc !== 0 && tcp.cfg.mtudisc !== 0 ? IP_MTUDISC : 0;
}

/**
 * tcp_mtudisc: the path MTU is `mtu` (0 from an old router: guess the next
 * plateau down, RFC 1191 §5). Shrink the segment size and resend what is in
 * flight at the new size.
 */
export function tcpMtuDisc(tp: TcpCb, mtu: number): void {
  if (!tcpMtuShrink(tp, mtu)) return;
  tp.tcp.stat.mturesent++;
  if (tp.snd_una !== tp.snd_max) {
    tp.snd_nxt = tp.snd_una;
    tp.t_rtttime = 0;
    tcpOutput(tp);
  }
}

/** The segment size for a path MTU of `mtu` (0: the plateau below ours); whether it shrank. */
export function tcpMtuShrink(tp: TcpCb, mtu: number): boolean {
  const hdrlen = tp.inp.foreignIsV4() ? TCPIP_HDRLEN : TCPIP6_HDRLEN;
  if (mtu === 0) mtu = mtuPlateau(tp.t_maxopd + hdrlen);
  let mss = mtu - hdrlen;
  if (mss < tp.tcp.cfg.minmss) mss = tp.tcp.cfg.minmss;
  if (mss >= tp.t_maxopd) return false;
  const tsLen = tp.t_maxopd - tp.t_maxseg;
  tp.t_maxopd = mss;
  tp.t_maxseg = mss - tsLen;
  tp.cc.maxseg = tp.t_maxseg;
  return true;
}

/** RFC 1191 §7's table of MTU plateaus: the largest below `mtu`. */
function mtuPlateau(mtu: number): number {
  const plateaus = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];
  for (const p of plateaus) if (p < mtu) return p;
  return 68;
}

/* ------------------------------------------------------------------------ */
/* netstat, sockstat, tcpdrop. */

/** What `sys.ext('pcblist')` lists for TCP (bin/rump.netstat.ts PcbInfo); IPv6 connections are `tcp6`, as netstat shows them. */
export interface TcpPcbInfo {
  proto: 'tcp' | 'tcp6';
  laddr: string;
  lport: number;
  faddr: string;
  fport: number;
  recvQ: number;
  sendQ: number;
  state: string;
}

/** One TCP four-tuple as netstat lists it: `tcp` with dotted quads, or `tcp6` in RFC 5952 text (v4-mapped for an IPv4 connection of an AF_INET6 socket, as NetBSD lists it). */
function tcpPcbInfo(c: InConnInfo, v6: boolean, state: string, recvQ: number, sendQ: number): TcpPcbInfo {
  const a = new InAddr();
  return {
    proto: v6 ? 'tcp6' : 'tcp', laddr: formatAddr(c.localInto(a), v6), lport: c.lport, faddr: formatAddr(c.foreignInto(a), v6),
    fport: c.fport, recvQ, sendQ, state,
  };
}

/** TCP's PCBs and SYN cache entries (FreeBSD lists the latter as SYN_RCVD). */
export function tcpPcbList(tcp: Tcp): TcpPcbInfo[] {
  const out: TcpPcbInfo[] = [];
  for (const table of [tcp.inet.tcbtable, tcp.tcbtable6]) {
    if (table === null) continue;
    for (const inp of table.all) {
      const tp = inp.so.pcb;
      const state = tp instanceof TcpCb ? tp.state : TCPS_CLOSED;
      const v6 = (inp.so.proto as { family?: number }).family === AF_INET6;
      out.push(tcpPcbInfo(inp, v6, tcpStateName(state), inp.so.rcv.cc, inp.so.snd.cc));
    }
  }
  for (const sc of tcp.syncache.entries()) {
    out.push(tcpPcbInfo(sc, !sc.foreignIsV4(), 'SYN_RCVD', 0, 0));
  }
  return out;
}

/** The sequence number of the next byte the application reads (a FIN received is not in the buffer). */
export function tcpReadSeq(tp: TcpCb): number {
  return (tp.rcv_nxt - tp.so.rcv.cc - (tcpsHaveRcvdFin(tp.state) ? 1 : 0)) >>> 0;
}

/**
 * Where the urgent mark is for the reader: the bytes before the urgent
 * byte (one before rcv_up, BSD's convention, RFC 6093 §2), 0 when it is
 * next, -1 once read (Protosw.oobmark).
 */
export function tcpOobMark(tp: TcpCb): number {
  const d = seqDiff((tp.rcv_up - 1) >>> 0, tcpReadSeq(tp));
  return d >= 0 ? d : -1;
}
