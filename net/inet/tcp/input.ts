/*
 * TCP input (BSD netinet/tcp_input.c), RFC 9293 §3.10.7 "SEGMENT ARRIVES".
 *
 *   ipInput → inet.protox[6] = tcpInput
 *     → tcpCheck (length, checksum, offset: each failure counted)
 *     → options (tcpParseOptions into the kernel's reusable TcpOptions)
 *     → PCB lookup: exact four-tuple (connHash), else a listener (bindHash)
 *         none / CLOSED → RST (RFC 9293 §3.10.7.1)
 *         LISTEN        → tcpInputListen: SYN → SYN cache; ACK → expand the
 *                         cache entry (or a SYN cookie) into a connection
 *         otherwise     → tcpDoSegment:
 *             tcpHeaderPrediction (ESTABLISHED: pure ACK / in-order data)
 *             or by state, each step returning a Verdict:
 *             SYN_SENT   tcpSynSentSegment (§3.10.7.3)
 *             TIME_WAIT  tcpTimeWaitSegment (§3.10.7.4, RFC 1337)
 *             the others tcpSynchronizedSegment (§3.10.7.4):
 *               second, RST    tcpCheckRst (RFC 5961 §3)
 *               fourth, SYN    tcpCheckSyn (RFC 5961 §4)
 *               first, seq     tcpCheckSequence (PAWS RFC 7323 §5, trims)
 *               fifth, ACK     tcpSynReceivedAck, tcpAckProcess →
 *                 tcpAckOld: duplicate ACKs, fast retransmit (tcpDupAck;
 *                   RFC 5681, 6582, 6675, 3042), or
 *                 tcpAckNew: RTT, recovery, the send buffer, timers,
 *                   then tcpOurFinAcked for the closing states
 *               window update, seventh (data: reassembly, SACK, delayed
 *               ACK) and eighth (FIN): tcpWindowAndText
 *             → tcpSegmentDone: drop, ACK, RST, or tcpOutput what is owed
 *
 * The segment's fields live in tcp.seg for the duration of one call; the
 * mbuf is trimmed to the data and, if the data is kept, appended to the
 * socket's receive buffer as is (no copy).
 *
 * IPv6 (NetBSD tcp6_input): ip6Input → inet6.protox[6] → tcpInput6. The
 * two entry points differ only where the wire does (the pseudo header of
 * the checksum, where the addresses lie, what multicast is); each loads
 * seg.src/seg.dst (one address type, IPv4 v4-mapped: in_addr.ts) and
 * both go on through tcpInputSegment with their family's PCB table.
 */
import { ECONNREFUSED, ECONNRESET } from '../../../kern/errno.js';
import { M_BCAST, M_CSUM_DATA_VALID, M_LOOP, M_MCAST, type Mbuf } from '../../../kern/mbuf.js';
import { SO_KEEPALIVE, SS_CANTRCVMORE, SS_ISCONNECTED, SS_POLLRDBAND } from '../../socket.js';
import { INADDR_BROADCAST, inAddrIsMulticast } from '../../wire/inaddr.js';
import { in6IsMulticast } from '../../wire/in6addr.js';
import { IPPROTO_TCP, ipDst, ipSrc } from '../../wire/ipv4.js';
import { IP6_OFF_DST, IP6_OFF_SRC, ip6Cksum, ip6Tclass } from '../../wire/ipv6.js';
import {
  TCP_HDR_MIN, TH_ACK, TH_FIN, TH_PUSH, TH_RST, TH_SYN, TH_URG, TcpCheck, tcpAck, tcpCheck, tcpDport, tcpFlags, tcpHlen,
  tcpParseOptions, tcpSeq, tcpSport, tcpUrp, tcpWin,
} from '../../wire/tcp.js';
import { INP_CONNECTED, type InPcb, type InPcbTable } from '../in_pcb.js';
import type { Inet } from '../inet.js';
import {
  TCPS_CLOSED, TCPS_CLOSE_WAIT, TCPS_CLOSING, TCPS_ESTABLISHED, TCPS_FIN_WAIT_1, TCPS_FIN_WAIT_2, TCPS_LAST_ACK,
  TCPS_LISTEN, TCPS_SYN_RECEIVED, TCPS_SYN_SENT, TCPS_TIME_WAIT, tcpsHaveRcvdFin,
} from './fsm.js';
import { tcpOutput } from './output.js';
import { ECN_PERMIT, tcpEcnCwndReduced, tcpEcnInput, tcpEcnSynAckInput } from './ecn.js';
import { TFO_ENABLED, tcpFastOpen, tcpFastOpenSynAck } from './fastopen.js';
import { DUP_THRESH, SackReceiver, SackScoreboard } from './sack.js';
import { seqDiff, seqGeq, seqGt, seqLeq, seqLt } from './seq.js';
import {
  tcpAckWarAllows, tcpChallengeAck, tcpClose, tcpDrop, tcpDropWithReset, tcpMss, tcpReadSeq, tcpRecvSpace, tcpSbDrop,
} from './subr.js';
import { tcpTimeWaitMs, tcpTimer2mslArm, tcpTimerDelackArm, tcpTimerKeepArm, tcpTimerRexmtArm, tcpTimerRexmtArmAt, tcpTimersIdle } from './timer.js';
import {
  CC_NOW, DELACK_AT, IRS, ISS, KEEP_AT, LAST_ACK_SENT, PERSIST_AT, RCV_ADV, RCV_NXT, RCV_UP, REXMT_AT, RFBUF_TS, SND_MAX, SND_NXT,
  SND_RECOVER, SND_UNA, SND_WL1, SND_WL2, TS_OFFSET, TS_RECENT, TS_RECENT_AGE, T_RCVTIME, T_RTSEQ, T_RTTTIME, NO_SEGQ, ReassSeg, TF_ACKNOW, TF_DELACK, TF_FASTRECOVERY, TF_NEEDFIN, TF_NOOPT, TF_RCVD_SCALE, TF_RCVD_TSTMP,
  TF_REQ_SACK, TF_REQ_SCALE, TF_REQ_TSTMP, TF_SACK_PERMIT, TcpCb, type Tcp, type TcpSegment,
} from './var.js';

/** RFC 7323 §5.5: a ts_recent idle for 24 days is too old for PAWS. */
const TCP_PAWS_IDLE = 24 * 24 * 60 * 60 * 1000;

/** The timestamp clock (Tcp.tsNow) at host time `now`. */
function tsAt(tcp: Tcp, now: number): number {
  return Math.floor(now - tcp.kernel.bootTime) >>> 0;
}

/** TSTMP_LT: timestamps compare modulo 2^32 too (RFC 7323 §5.2). */
function tstmpLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/**
 * What a step of segment processing decided, as a value it returns: RFC
 * 9293 §3.10.7's "drop the segment", "send an ACK … and drop", "send a
 * reset" (BSD tcp_input's goto labels drop, dropafterack, dropwithreset),
 * or go on to the next step.
 */
const enum Verdict {
  /** Acceptable so far: on to the next step (after the last, send only what is owed). */
  Continue,
  /** As Continue; the send window moved or all our data was acknowledged, so run tcpOutput at the end. */
  ContinueOutput,
  /** Drop the segment and say nothing. */
  Drop,
  /** Drop the segment and send an ACK. */
  DropAfterAck,
  /** Drop the segment and answer it with an RST. */
  DropWithReset,
  /** The step disposed of the segment itself (and perhaps of the connection): nothing is left to do. */
  Consumed,
}

/** inet.protox[IPPROTO_TCP]. `m` starts at the IP header; owns `m`. */
export function tcpInput(inet: Inet, m: Mbuf, hlen: number): void {
  const tcp = inet.tcp;
  const k = inet.kernel;
  if (tcp === null) {
    k.mbufs.free(m);
    return;
  }
  const st = tcp.stat;
  st.rcvtotal++;
  const buf = m.buf;
  const ipoff = m.off;
  const toff = ipoff + hlen;
  const len = m.len - hlen;
  const src = ipSrc(buf, ipoff);
  const dst = ipDst(buf, ipoff);
  // Our own segments coming back through lo0 were checksummed by output a
  // moment ago: like ipInput for the IP header, skip the sum (Linux treats
  // loopback as CHECKSUM_UNNECESSARY) and check only the lengths. So does
  // a segment whose interface vouched for it (M_CSUM_DATA_VALID).
  const c = m.flags & M_LOOP || m.csumFlags & M_CSUM_DATA_VALID ? tcpCheckLengths(buf, toff, len) : tcpCheck(buf, toff, len, src, dst);
  if (c !== TcpCheck.Ok) {
    tcpBadSegment(tcp, m, c);
    return;
  }
  // RFC 1122 §4.2.3.10: TCP is unicast only.
  if (m.flags & (M_BCAST | M_MCAST) || inAddrIsMulticast(dst) || dst === INADDR_BROADCAST) {
    k.mbufs.free(m);
    return;
  }
  const seg = tcp.seg;
  seg.src.setV4(src);
  seg.dst.setV4(dst);
  seg.iptos = buf[ipoff + 1]!;
  tcpInputSegment(tcp, inet.tcbtable, m, toff, len);
}

/**
 * A checked segment whose addresses are in seg.src/seg.dst: parse it, find
 * its PCB in `table` (the exact four-tuple, else a listener; for IPv4 last
 * a dual-stack IPv6 listener, IPV6_V6ONLY off, whose accepted connection
 * lives in the IPv4 table and whose socket shows v4-mapped addresses) and
 * dispatch it.
 */
function tcpInputSegment(tcp: Tcp, table: InPcbTable, m: Mbuf, toff: number, len: number): void {
  const seg = tcp.seg;
  tcpParseSegment(tcp, m, toff, len);
  const inp = table.lookupConnect(seg.src, seg.sport, seg.dst, seg.dport);
  if (inp !== null && !tcpTimeWaitReopened(tcp, inp, seg)) {
    tcpDispatch(tcp, inp, m, seg);
    return;
  }
  tcp.stat.pcbhashmiss++;
  tcpDispatch(tcp, table.lookupBind(seg.dst, seg.dport) ?? table.lookupBindMapped(seg.dst, seg.dport), m, seg);
}

/** A segment that failed tcpCheck: counted by reason and dropped. */
function tcpBadSegment(tcp: Tcp, m: Mbuf, c: TcpCheck): void {
  const st = tcp.stat;
  if (c === TcpCheck.TooShort) st.rcvshort++;
  else if (c === TcpCheck.BadSum) st.rcvbadsum++;
  else st.rcvbadoff++;
  tcp.kernel.mbufs.free(m);
}

/**
 * The TCP header of a checked segment into `tcp.seg` (the addresses are
 * the caller's, by family); afterwards `m` holds only the data.
 */
function tcpParseSegment(tcp: Tcp, m: Mbuf, toff: number, len: number): void {
  const buf = m.buf;
  const seg = tcp.seg;
  const thlen = tcpHlen(buf, toff);
  seg.sport = tcpSport(buf, toff);
  seg.dport = tcpDport(buf, toff);
  seg.seq = tcpSeq(buf, toff);
  seg.ack = tcpAck(buf, toff);
  seg.win = tcpWin(buf, toff);
  seg.flags = tcpFlags(buf, toff);
  seg.urp = tcpUrp(buf, toff);
  seg.tlen = len - thlen;
  seg.dataOff = toff + thlen;
  if (thlen > TCP_HDR_MIN) {
    seg.optsOk = tcpParseOptions(buf, toff + TCP_HDR_MIN, thlen - TCP_HDR_MIN, (seg.flags & TH_SYN) !== 0, seg.opts);
    if (!seg.optsOk) tcp.stat.rcvbadopt++;
  } else {
    seg.opts.reset();
    seg.optsOk = true;
  }
  m.off = seg.dataOff;
  m.len = seg.tlen;
}

/**
 * RFC 6191 / RFC 1122 §4.2.2.13: a new SYN may reopen a connection in
 * TIME_WAIT when it is clearly newer (higher sequence, or timestamp).
 * True when the connection of `inp` was closed for it: look for a
 * listener instead.
 */
function tcpTimeWaitReopened(tcp: Tcp, inp: InPcb, seg: TcpSegment): boolean {
  const p = inp.so.pcb;
  if (!(p instanceof TcpCb) || p.state !== TCPS_TIME_WAIT) return false;
  if ((seg.flags & (TH_SYN | TH_ACK | TH_RST)) !== TH_SYN || !twReopenable(p, seg)) return false;
  tcpClose(p);
  tcp.stat.tw_reuse++;
  return true;
}

/**
 * The segment to the PCB the lookups found (exact or bound; null: none):
 * a listener's SYN handling, a connection's state machine, or an RST for
 * no one listening (RFC 9293 §3.10.7.1).
 */
function tcpDispatch(tcp: Tcp, inp: InPcb | null, m: Mbuf, seg: TcpSegment): void {
  const p = inp !== null ? inp.so.pcb : null;
  const tp = p instanceof TcpCb ? p : null;
  if (tp === null || tp.state === TCPS_CLOSED || (inp!.state !== INP_CONNECTED && tp.state !== TCPS_LISTEN)) {
    tcp.stat.noport++;
    tcpDropWithReset(tcp, m, null);
    return;
  }
  if (tp.state === TCPS_LISTEN) {
    tcpInputListen(tcp, tp, m, seg);
    return;
  }
  // TCP over UDP (tunnel.ts): a connection takes segments only the way it
  // talks, in UDP from its peer's port or plain; the rest get an RST the
  // way they came (FreeBSD tcp_input).
  if ((tp.x === null ? 0 : tp.t_port) !== seg.udpPort) {
    tcp.stat.udp_tunnel_badport++;
    tcpDropWithReset(tcp, m, null);
    return;
  }
  tcpDoSegment(tp, m, seg);
}

/**
 * inet6.protox[IPPROTO_TCP] (tcp6_input): `m` starts at the IPv6 header,
 * the TCP header is `toffRel` bytes into it (after any extension headers
 * ip6Input walked). Owns `m`.
 */
export function tcpInput6(tcp: Tcp, m: Mbuf, toffRel: number): void {
  const k = tcp.kernel;
  const table = tcp.tcbtable6;
  if (table === null) {
    k.mbufs.free(m);
    return;
  }
  const st = tcp.stat;
  st.rcvtotal++;
  const buf = m.buf;
  const ipoff = m.off;
  const toff = ipoff + toffRel;
  const len = m.len - toffRel;
  // The checksum is mandatory over IPv6 (RFC 8200 §8.1); loopback traffic
  // was summed by output a moment ago, as in tcpInput.
  let c: TcpCheck;
  if (m.flags & M_LOOP || m.csumFlags & M_CSUM_DATA_VALID) c = tcpCheckLengths(buf, toff, len);
  else if (len < TCP_HDR_MIN || len > buf.length - toff) c = TcpCheck.TooShort;
  else if (ip6Cksum(buf, toff, len, IPPROTO_TCP, buf, ipoff + IP6_OFF_SRC, buf, ipoff + IP6_OFF_DST) !== 0) c = TcpCheck.BadSum;
  else c = tcpCheckLengths(buf, toff, len);
  if (c !== TcpCheck.Ok) {
    tcpBadSegment(tcp, m, c);
    return;
  }
  // TCP is unicast only (RFC 1122 §4.2.3.10; ip6Input already refused a multicast source).
  if (m.flags & (M_BCAST | M_MCAST) || in6IsMulticast(buf, ipoff + IP6_OFF_DST)) {
    k.mbufs.free(m);
    return;
  }
  const seg = tcp.seg;
  seg.src.load(buf, ipoff + IP6_OFF_SRC);
  seg.dst.load(buf, ipoff + IP6_OFF_DST);
  seg.iptos = ip6Tclass(buf, ipoff);
  tcpInputSegment(tcp, table, m, toff, len);
}

/** tcpCheck without the checksum: a whole header, a sane data offset. */
function tcpCheckLengths(buf: Uint8Array, off: number, len: number): TcpCheck {
  if (len < TCP_HDR_MIN || len > buf.length - off) return TcpCheck.TooShort;
  const hlen = tcpHlen(buf, off);
  if (hlen < TCP_HDR_MIN || hlen > len) return TcpCheck.BadOff;
  return TcpCheck.Ok;
}

/**
 * RFC 1122 §4.2.2.13: may this SYN reopen `tp`, now in TIME_WAIT? As
 * FreeBSD's tcp_twcheck decides it: when its sequence number is above
 * what the old incarnation received (RFC 6528's ISN clock runs on, so a
 * new connection from the same host starts higher); timestamps are not
 * consulted. A SYN-FIN counts as a SYN here, a SYN-ACK never does.
 */
function twReopenable(tp: TcpCb, seg: TcpSegment): boolean {
  const v = tp.v;
  return seqGt(seg.seq, v[RCV_NXT]);
}

/**
 * A segment for a listening socket (FreeBSD tcp_input's LISTEN branch):
 * an ACK completes a handshake from the SYN cache; a SYN goes into it; an
 * RST concerns a cache entry; anything else is dropped (a SYN-ACK or a FIN
 * silently, as FreeBSD does; a bare ACK nobody expects gets an RST).
 */
function tcpInputListen(tcp: Tcp, ltp: TcpCb, m: Mbuf, seg: TcpSegment): void {
  const k = tcp.kernel;
  const st = tcp.stat;
  const fl = seg.flags;
  if (fl & TH_RST) {
    tcp.syncache.rst(seg);
    k.mbufs.free(m);
    return;
  }
  if ((fl & (TH_ACK | TH_SYN)) === TH_ACK) {
    // The handshake agreed to timestamps and its ACK has none: dropped
    // silently unless tolerated (FreeBSD syncache_expand, RFC 7323 §3.2).
    if (!tcp.cfg.tolerateMissingTs && tcp.syncache.tsMissing(seg)) {
      st.rcvnotacceptable++;
      k.mbufs.free(m);
      return;
    }
    const tp = tcp.syncache.expand(ltp, seg);
    if (tp === null) {
      tcpDropWithReset(tcp, m, null);
      return;
    }
    tcpDoSegment(tp, m, seg);
    return;
  }
  if (!(fl & TH_SYN)) {
    // "SYN is missing": a FIN or a bare segment to a listener.
    k.mbufs.free(m);
    return;
  }
  if (fl & TH_ACK) {
    // A SYN-ACK to a listener is bogus.
    st.badsyn++;
    k.mbufs.free(m);
    return;
  }
  if (fl & TH_FIN && tcp.cfg.dropSynfin) {
    st.badsyn++;
    k.mbufs.free(m);
    return;
  }
  // A SYN from ourselves to ourselves on the same port (the "LAND" attack).
  if (seg.sport === seg.dport && seg.src.equals(seg.dst)) {
    st.badsyn++;
    k.mbufs.free(m);
    return;
  }
  // TCP Fast Open (RFC 7413, fastopen.ts) on a listener that serves it:
  // the right cookie makes the connection now, with the SYN's data; a
  // request or a wrong cookie is answered with a cookie in the SYN-ACK.
  const tfo = ltp.tfoFlags & TFO_ENABLED && tcp.cfg.fastopenServerEnable && seg.opts.tfoLen >= 0 && !(ltp.flags & TF_NOOPT);
  if (tfo && tcpFastOpen(tcp).valid(seg)) {
    const tp = tcp.syncache.tfoExpand(ltp, seg);
    if (tp !== null) {
      tcpFastOpenAccept(tp, m, seg);
      return;
    }
  }
  // Other data on a SYN is not kept: the peer resends it.
  k.mbufs.free(m);
  tcp.syncache.add(ltp, seg, !!tfo);
}

/**
 * A Fast Open connection just made in SYN_RECEIVED (RFC 7413 §4.2.2): the
 * SYN's data is the application's now, the socket is on the accept queue,
 * and the SYN-ACK acknowledges SYN and data.
 */
function tcpFastOpenAccept(tp: TcpCb, m: Mbuf, seg: TcpSegment): void {
  const v = tp.v;
  let tlen = seg.tlen;
  const space = tcpRecvSpace(tp);
  if (tlen > space) {
    m.adj(space - tlen);
    tlen = space;
  }
  if (tlen > 0) {
    v[RCV_NXT] = (v[RCV_NXT] + tlen) >>> 0;
    tp.tcp.stat.rcvpack++;
    tp.tcp.stat.rcvbyte += tlen;
    tcpSbAppend(tp, m);
  } else tp.tcp.kernel.mbufs.free(m);
  tp.snd_wnd = seg.win;
  tp.so.isConnected();
  tcpOutput(tp);
}

/**
 * Take the peer's SYN options into `tp` (tcp_dooptions for a SYN): window
 * scale, timestamps and SACK are on only if both sides asked (RFC 7323
 * §2.2, §3.2; RFC 2018 §2).
 */
function tcpSynOptions(tp: TcpCb, seg: TcpSegment): void {
  const v = tp.v;
  const o = seg.opts;
  if (tp.flags & TF_NOOPT) {
    tp.flags &= ~(TF_REQ_SCALE | TF_REQ_TSTMP | TF_REQ_SACK);
    return;
  }
  if (o.wscale >= 0 && tp.flags & TF_REQ_SCALE) {
    tp.flags |= TF_RCVD_SCALE;
    tp.requested_s_scale = o.wscale;
  }
  if (o.tsPresent && tp.flags & TF_REQ_TSTMP) {
    tp.flags |= TF_RCVD_TSTMP;
    v[TS_RECENT] = o.tsVal;
    v[TS_RECENT_AGE] = tp.tcp.tsNow();
  }
  if (o.sackPermitted && tp.flags & TF_REQ_SACK) tp.flags |= TF_SACK_PERMIT;
}

/** The connection is synchronized: windows scaled, SACK state created. */
function tcpSynchronized(tp: TcpCb): void {
  if ((tp.flags & (TF_RCVD_SCALE | TF_REQ_SCALE)) === (TF_RCVD_SCALE | TF_REQ_SCALE)) {
    tp.snd_scale = tp.requested_s_scale;
    tp.rcv_scale = tp.request_r_scale;
  } else {
    tp.snd_scale = 0;
    tp.rcv_scale = 0;
  }
  // The SACK scoreboard and block list are created when first needed
  // (most short connections never lose or reorder anything).
}

/** ESTABLISHED (or FIN_WAIT_1 for a shutdown during the handshake). */
function tcpEstablish(tp: TcpCb): void {
  const v = tp.v;
  const tcp = tp.tcp;
  const so = tp.so;
  tcp.stat.connects++;
  tp.t_rxtshift = 0;
  // The tcpcb is the algorithm's CcState: maxseg, synRexmits and srtt are its own fields under other names.
  v[CC_NOW] = tcp.kernel.host.now();
  tp.ccAlgo.init(tp);
  if (tp.flags & TF_NEEDFIN) {
    tp.state = TCPS_FIN_WAIT_1;
    tp.flags &= ~TF_NEEDFIN;
  } else {
    tp.state = TCPS_ESTABLISHED;
  }
  // The establishment timer gave way; keepalive (if asked for) takes over.
  v[KEEP_AT] = 0;
  if (so.options & SO_KEEPALIVE) tcpTimerKeepArm(tp, tp.t_keepidle);
  else tcpTimersIdle(tp);
  // A Fast Open connection was handed to accept() at its SYN already.
  if (!(so.state & SS_ISCONNECTED)) so.isConnected();
}

/** An RTT measurement (tcp_xmit_timer): the estimator, then a fresh RTO. */
function tcpXmitTimer(tp: TcpCb, rtt: number): void {
  const st = tp.tcp.stat;
  st.rttupdated++;
  // The tcpcb is its own estimator, and the CcState's srtt is the estimator's.
  tp.sample(rtt);
  // t_rxtshift is a rare field: 0 already while the tcpcb has no `x` (a write would be a call for nothing).
  if (tp.x !== null) tp.t_rxtshift = 0;
  tp.t_rxtcur = tp.backoff(0);
}

/**
 * tcp_do_segment: a segment for a connection in any state but LISTEN and
 * CLOSED, RFC 9293 §3.10.7.3 (SYN-SENT) and §3.10.7.4 (the others), read
 * beside the RFC: header prediction first, then one handler per state
 * group, each a sequence of the RFC's steps returning a Verdict, and
 * tcpSegmentDone acting on it. Owns `m` (the data).
 */
export function tcpDoSegment(tp: TcpCb, m: Mbuf, seg: TcpSegment): void {
  const v = tp.v;
  const tcp = tp.tcp;
  const now = tcp.kernel.host.now();
  seg.dsackDone = false;
  seg.now = now;
  seg.curSeq = seg.seq;
  seg.curLen = seg.tlen;
  seg.curFlags = seg.flags;
  v[T_RCVTIME] = now;
  // A rare field: 0 already while the tcpcb has no `x` (a write would be a call for nothing).
  if (tp.x !== null) tp.t_keepprobes = 0;
  if (v[KEEP_AT] !== 0 && tp.state >= TCPS_ESTABLISHED) v[KEEP_AT] = now + tp.t_keepidle;

  // The peer's window, scaled (never on a SYN, RFC 7323 §2.2).
  seg.tiwin = seg.flags & TH_SYN ? seg.win : seg.win << tp.snd_scale;

  // The receive window for the acceptability tests: what we could take,
  // at least what we already offered (RFC 9293 §3.10.7.4; FreeBSD).
  {
    let win = tcpRecvSpace(tp);
    const offered = (v[RCV_ADV] - v[RCV_NXT]) | 0;
    if (win < offered) win = offered;
    tp.rcv_wnd = win;
  }

  // Timestamps on a synchronized connection: note for PAWS and RTT below.
  const tsOn = (tp.flags & (TF_RCVD_TSTMP | TF_REQ_TSTMP)) === (TF_RCVD_TSTMP | TF_REQ_TSTMP);
  seg.tsOk = tsOn && seg.opts.tsPresent;
  // RFC 7323 §3.2: once timestamps are agreed, a segment without one (an
  // RST aside) is dropped unless net.inet.tcp.tolerate_missing_ts (FreeBSD).
  seg.tsMissing = tsOn && !seg.opts.tsPresent && tp.state !== TCPS_SYN_SENT;
  if (seg.tsMissing && !(seg.flags & TH_RST) && !tcp.cfg.tolerateMissingTs && tp.state !== TCPS_TIME_WAIT) {
    tcp.stat.rcvnotacceptable++;
    tcp.kernel.mbufs.free(m);
    return;
  }

  // ECN (RFC 3168 §6.1): CE, CWR and ECE before anything else, as FreeBSD's tcp_ecn_input_segment.
  if (tp.x !== null && tp.ecnFlags & ECN_PERMIT && tp.state !== TCPS_TIME_WAIT) tcpEcnInput(tp, seg.flags, seg.iptos, seg.ack);

  if (tp.state === TCPS_ESTABLISHED && tcpHeaderPrediction(tp, m, seg)) return;

  let verdict: Verdict;
  switch (tp.state) {
    case TCPS_SYN_SENT:
      verdict = tcpSynSentSegment(tp, m, seg);
      break;
    case TCPS_TIME_WAIT:
      verdict = tcpTimeWaitSegment(tp, seg);
      break;
    default:
      verdict = tcpSynchronizedSegment(tp, m, seg);
      break;
  }
  tcpSegmentDone(tp, m, seg, verdict);
}

/**
 * Header prediction (Van Jacobson; FreeBSD tcp_do_segment): ESTABLISHED,
 * nothing unusual, the next expected segment, the window unchanged, not
 * retransmitting. Then it is either a pure ACK for outstanding data or pure
 * in-order data, handled here in full (true); anything else (false) takes
 * the steps of RFC 9293 §3.10.7.4.
 */
function tcpHeaderPrediction(tp: TcpCb, m: Mbuf, seg: TcpSegment): boolean {
  const v = tp.v;
  const tcp = tp.tcp;
  const st = tcp.stat;
  const so = tp.so;
  const o = seg.opts;
  const tsOk = seg.tsOk;
  const sseq = seg.seq;
  const tlen = seg.tlen;
  const tiwin = seg.tiwin;
  const now = seg.now;
  // Without `x` every rare field holds its default (var.ts): none is read then.
  const rare = tp.x !== null;
  // Sequence and timestamp comparisons are written out here (seq.ts says why).
  if ((seg.flags & (TH_SYN | TH_FIN | TH_RST | TH_URG | TH_ACK)) !== TH_ACK ||
      (tsOk && ((o.tsVal - v[TS_RECENT]) | 0) < 0) || sseq !== v[RCV_NXT] || tiwin === 0 || tiwin !== tp.snd_wnd ||
      v[SND_NXT] !== v[SND_MAX] || tp.flags & TF_FASTRECOVERY || o.nsack !== 0) {
    return false;
  }
  if (tsOk && ((sseq - v[LAST_ACK_SENT]) | 0) <= 0) {
    v[TS_RECENT_AGE] = tsAt(tcp, now);
    v[TS_RECENT] = o.tsVal;
  }
  const ack = seg.ack;
  if (tlen === 0) {
    if (((ack - v[SND_UNA]) | 0) > 0 && ((ack - v[SND_MAX]) | 0) <= 0 && tp.cwnd >= tp.snd_wnd && (!rare || tp.t_dupacks === 0)) {
      st.predack++;
      const acked = (ack - v[SND_UNA]) | 0;
      if (tsOk && o.tsEcr !== 0) tcpXmitTimer(tp, Math.max(0, (tsAt(tcp, now) + v[TS_OFFSET] - o.tsEcr) | 0));
      else if (v[T_RTTTIME] !== 0 && ((ack - v[T_RTSEQ]) | 0) > 0) {
        tcpXmitTimer(tp, now - (v[T_RTTTIME] - 1));
        v[T_RTTTIME] = 0;
      }
      st.rcvackpack++;
      st.rcvackbyte += acked;
      ccAck(tp, acked, now);
      tcpSbDrop(tp, acked);
      v[SND_UNA] = ack;
      v[SND_WL2] = ack;
      if (rare) tp.sackSb?.update(ack, o.sack, 0, v[SND_UNA], v[SND_MAX]);
      if (v[SND_UNA] === v[SND_MAX]) v[REXMT_AT] = 0;
      else if (v[PERSIST_AT] === 0) tcpTimerRexmtArmAt(tp, now, tp.t_rxtcur);
      so.wakeup();
      tcp.kernel.mbufs.free(m);
      if (so.snd.cc > 0) tcpOutput(tp);
      return true;
    }
  } else if (ack === v[SND_UNA] && (!rare || tp.segq.length === 0) && tlen <= tcpRecvSpace(tp)) {
    st.preddat++;
    v[RCV_NXT] = (v[RCV_NXT] + tlen) >>> 0;
    st.rcvpack++;
    st.rcvbyte += tlen;
    if (tsOk && o.tsEcr !== 0 && so.rcv.autosize && tcp.cfg.recvbufAuto) tcpAutoRcvbuf(tp, o.tsEcr, tlen);
    tcpSbAppend(tp, m);
    // ACK every second full segment, otherwise delay (RFC 1122 §4.2.3.2).
    if (tp.flags & (TF_DELACK | TF_ACKNOW) || tlen > tp.t_maxseg) {
      tp.flags |= TF_ACKNOW;
      tcpOutput(tp);
    } else {
      tp.flags |= TF_DELACK;
      tcpTimerDelackArm(tp, tcp.cfg.delacktime);
    }
    return true;
  }
  return false;
}

/** RFC 9293 §3.10.7.3: a segment in SYN-SENT, the answer to our SYN. */
function tcpSynSentSegment(tp: TcpCb, m: Mbuf, seg: TcpSegment): Verdict {
  const v = tp.v;
  const st = tp.tcp.stat;
  const thflags = seg.flags;
  // First, the ACK bit: one for something we never sent gets an RST
  // (unless it is an RST itself).
  if (thflags & TH_ACK && (seqLeq(seg.ack, v[ISS]) || seqGt(seg.ack, v[SND_MAX]))) {
    return thflags & TH_RST ? Verdict.Drop : Verdict.DropWithReset;
  }
  // Second, the RST bit: acceptable only with an acceptable ACK (RFC 5961 §3.2).
  if (thflags & TH_RST) {
    if (thflags & TH_ACK) tcpDrop(tp, ECONNREFUSED);
    return Verdict.Drop;
  }
  // Third, security (not kept here). Fourth, the SYN bit; neither SYN nor RST: drop (fifth).
  if (!(thflags & TH_SYN)) return Verdict.Drop;
  const o = seg.opts;
  v[IRS] = seg.seq;
  v[RCV_NXT] = (seg.seq + 1) >>> 0;
  v[RCV_ADV] = v[RCV_NXT];
  tcpSynOptions(tp, seg);
  tcpMss(tp, o.mss);
  if (thflags & TH_ACK) {
    tcpEcnSynAckInput(tp, thflags);
    tcpFastOpenSynAck(tp, seg);
  }
  if (thflags & TH_ACK) {
    // Our SYN is acknowledged: ESTABLISHED. Fast Open data the SYN
    // carried (RFC 7413 §4.2.2): what the SYN-ACK acknowledges leaves the
    // send buffer; the rest goes again at once, after the ACK.
    const synData = seqDiff(seg.ack, v[ISS]) - 1;
    if (synData > 0) tcpSbDrop(tp, synData);
    v[SND_UNA] = seg.ack;
    if (seqLt(seg.ack, v[SND_MAX])) v[SND_NXT] = seg.ack;
    if (seqLt(v[SND_NXT], v[SND_UNA])) v[SND_NXT] = v[SND_UNA];
    tcpSynchronized(tp);
    if (v[T_RTTTIME] !== 0 && seqGt(seg.ack, v[T_RTSEQ])) {
      tcpXmitTimer(tp, seg.now - (v[T_RTTTIME] - 1));
      v[T_RTTTIME] = 0;
    }
    v[REXMT_AT] = 0;
    tcpEstablish(tp);
    tp.flags |= TF_ACKNOW;
  } else {
    // Simultaneous open (RFC 9293 §3.5, figure 8): SYN_RECEIVED, and our
    // SYN goes again with an ACK.
    tp.state = TCPS_SYN_RECEIVED;
    tcpSynchronized(tp);
    v[REXMT_AT] = 0;
    tp.t_rxtshift = 0;
    v[SND_NXT] = v[ISS];
    tp.flags |= TF_ACKNOW;
  }
  // The SYN occupies a sequence number; data beyond the window goes.
  seg.curSeq = (seg.seq + 1) >>> 0;
  if (seg.curLen > tp.rcv_wnd) {
    const todrop = seg.curLen - tp.rcv_wnd;
    m.adj(-todrop);
    seg.curLen = tp.rcv_wnd;
    seg.curFlags &= ~TH_FIN;
    st.rcvpackafterwin++;
    st.rcvbyteafterwin += todrop;
  }
  v[SND_WL1] = (seg.curSeq - 1) >>> 0;
  v[RCV_UP] = seg.curSeq;
  // "Continue processing at the sixth step below."
  return tcpWindowAndText(tp, m, seg);
}

/**
 * RFC 9293 §3.10.7.4 in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1/2,
 * CLOSE-WAIT, CLOSING and LAST-ACK. The steps run in FreeBSD's order: the
 * RST and SYN checks (RFC 5961 §3, §4) come before the sequence number
 * check, so a blind RST or SYN draws a challenge ACK even when it falls
 * outside the window.
 */
function tcpSynchronizedSegment(tp: TcpCb, m: Mbuf, seg: TcpSegment): Verdict {
  let verdict = tcpCheckRst(tp, seg);
  if (verdict !== Verdict.Continue) return verdict;
  verdict = tcpCheckSyn(tp, seg);
  if (verdict !== Verdict.Continue) return verdict;
  verdict = tcpCheckSequence(tp, m, seg);
  if (verdict !== Verdict.Continue) return verdict;

  // Fifth, the ACK field: without ACK a segment means nothing here.
  if (!(seg.curFlags & TH_ACK)) return tp.flags & TF_ACKNOW ? Verdict.DropAfterAck : Verdict.Drop;
  if (tp.state === TCPS_SYN_RECEIVED) {
    verdict = tcpSynReceivedAck(tp, seg);
    if (verdict !== Verdict.Continue) return verdict;
  }
  const acked = tcpAckProcess(tp, seg);
  if (acked !== Verdict.Continue && acked !== Verdict.ContinueOutput) return acked;
  // Closed meanwhile (tcpClose takes it out of tcbs): nothing more to do.
  // (LAST_ACK completing is not this case: tcpOurFinAcked says Drop.)
  if (!tp.tcp.tcbs.has(tp)) return Verdict.Drop;

  // Sixth to eighth: the window, the data, the FIN.
  verdict = tcpWindowAndText(tp, m, seg);
  return acked === Verdict.ContinueOutput ? Verdict.ContinueOutput : verdict;
}

/**
 * TIME-WAIT (RFC 9293 §3.10.7.4 for TIME-WAIT; FreeBSD tcp_twcheck). A SYN
 * clearly newer than the old connection never gets here: tcpInput closed
 * the connection for it (tcpTimeWaitReopened) and found the listener.
 */
function tcpTimeWaitSegment(tp: TcpCb, seg: TcpSegment): Verdict {
  const v = tp.v;
  const tcp = tp.tcp;
  const thflags = seg.flags;
  // Second, the RST bit: RFC 1337 (TIME-WAIT assassination) says an RST
  // must not cut TIME-WAIT short; FreeBSD ignores it.
  if (thflags & TH_RST) return Verdict.Drop;
  // Fifth, "if the ACK bit is off drop the segment": a SYN or SYN-FIN
  // that could not reopen the connection, a bare FIN. A SYN-ACK has the
  // ACK bit and goes on to be answered with our ACK, as tcp_twcheck does.
  if (!(thflags & TH_ACK)) return Verdict.Drop;
  // RFC 7323 §3.2: timestamps were agreed and this segment has none.
  if (seg.tsMissing && !tcp.cfg.tolerateMissingTs) return Verdict.Drop;
  // Eighth, the peer's FIN again (its sequence just before what we
  // acknowledged): "acknowledge it, and restart the 2 MSL timeout".
  // Anything but the exact final ACK gets our ACK.
  if (thflags & TH_FIN && ((seg.seq + seg.tlen + (thflags & TH_SYN ? 1 : 0) + 1) >>> 0) === v[RCV_NXT]) {
    tcpTimer2mslArm(tp, tcpTimeWaitMs(tp));
  }
  if (thflags !== TH_ACK || seg.tlen !== 0 || seg.seq !== v[RCV_NXT] || seg.ack !== v[SND_NXT]) {
    tcp.stat.tw_acks++;
    return Verdict.DropAfterAck;
  }
  return Verdict.Drop;
}

/**
 * Second, the RST bit (RFC 9293 §3.10.7.4 with RFC 5961 §3.2): only an RST
 * exactly at the next expected sequence resets; one elsewhere in the
 * window gets a challenge ACK, one outside it nothing.
 * net.inet.tcp.insecure_rst restores RFC 793's "anywhere in the window".
 */
function tcpCheckRst(tp: TcpCb, seg: TcpSegment): Verdict {
  const v = tp.v;
  if (!(seg.flags & TH_RST)) return Verdict.Continue;
  const tcp = tp.tcp;
  const so = tp.so;
  const sseq = seg.seq;
  const inWin = (seqGeq(sseq, v[LAST_ACK_SENT]) && seqLt(sseq, (v[LAST_ACK_SENT] + tp.rcv_wnd) >>> 0)) ||
    (tp.rcv_wnd === 0 && sseq === v[LAST_ACK_SENT]);
  if (inWin) {
    if (tcp.cfg.insecureRst || sseq === v[LAST_ACK_SENT]) {
      let err = ECONNRESET;
      if (tp.state === TCPS_SYN_RECEIVED) err = ECONNREFUSED;
      else if (tp.state > TCPS_CLOSE_WAIT && so.closed) err = 0;
      tcp.stat.drops++;
      if (err) so.setError(err);
      tcpClose(tp);
    } else {
      tcpChallengeAck(tp);
    }
  }
  return Verdict.Drop;
}

/**
 * Fourth, the SYN bit (RFC 9293 §3.10.7.4 with RFC 5961 §4.2): a SYN in a
 * synchronized state gets a challenge ACK; net.inet.tcp.insecure_syn
 * restores RFC 793's reset for one in the window. (SYN-RECEIVED: the
 * peer's SYN again, which the sequence check below trims as old.)
 */
function tcpCheckSyn(tp: TcpCb, seg: TcpSegment): Verdict {
  if (!(seg.flags & TH_SYN) || tp.state === TCPS_SYN_RECEIVED) return Verdict.Continue;
  const tcp = tp.tcp;
  const sseq = seg.seq;
  tcp.stat.badsyn++;
  if (tcp.cfg.insecureSyn && seqGeq(sseq, tp.last_ack_sent) && seqLt(sseq, (tp.last_ack_sent + tp.rcv_wnd) >>> 0)) {
    tcpDrop(tp, ECONNRESET);
  } else {
    tcpChallengeAck(tp);
  }
  return Verdict.Drop;
}

/**
 * First, the sequence number (RFC 9293 §3.10.7.4): PAWS (RFC 7323 §5.3),
 * then the segment trimmed to the receive window, front (tcpTrimFront) and
 * back (tcpTrimBack), leaving in seg.curSeq/curLen/curFlags what is left;
 * then ts_recent (RFC 7323 §4.3).
 */
function tcpCheckSequence(tp: TcpCb, m: Mbuf, seg: TcpSegment): Verdict {
  const v = tp.v;
  const tcp = tp.tcp;
  const st = tcp.stat;
  const o = seg.opts;
  const tsOk = seg.tsOk;

  // RFC 7323 §5.3 PAWS: an old timestamp means an old duplicate.
  if (tsOk && v[TS_RECENT] !== 0 && tstmpLt(o.tsVal, v[TS_RECENT])) {
    if (tcp.tsNow() - v[TS_RECENT_AGE] > TCP_PAWS_IDLE) {
      v[TS_RECENT] = 0;
    } else {
      st.rcvduppack++;
      st.rcvdupbyte += seg.curLen;
      st.pawsdrop++;
      return seg.curLen > 0 ? Verdict.DropAfterAck : Verdict.Drop;
    }
  }

  // In SYN_RECEIVED the segment must come after the peer's ISN (LAND).
  if (tp.state === TCPS_SYN_RECEIVED && seqLt(seg.curSeq, v[IRS])) return Verdict.DropWithReset;

  tcpTrimFront(tp, m, seg);

  // Data for a socket nobody reads any more: the user is gone, reset
  // (RFC 9293 §3.10.7.4 seventh, "the other side … is closing"; FreeBSD).
  if (tp.so.closed && tp.state > TCPS_CLOSE_WAIT && seg.curLen > 0) {
    st.rcvafterclose++;
    tcpClose(tp);
    tcpDropWithReset(tcp, m, null);
    return Verdict.Consumed;
  }

  if (!tcpTrimBack(tp, m, seg)) return Verdict.DropAfterAck;

  // RFC 7323 §4.3: remember the timestamp of the segment our last ACK
  // acknowledged (the test FreeBSD uses, <= on the right edge).
  const sseq = seg.curSeq;
  if (tsOk && seqLeq(sseq, v[LAST_ACK_SENT]) &&
      seqLeq(v[LAST_ACK_SENT], (sseq + seg.curLen + (seg.curFlags & (TH_SYN | TH_FIN) ? 1 : 0)) >>> 0)) {
    v[TS_RECENT_AGE] = tcp.tsNow();
    v[TS_RECENT] = o.tsVal;
  }
  return Verdict.Continue;
}

/**
 * Trim off the front of the segment what we already have (RFC 9293
 * §3.10.7.4 first: "segments with higher beginning sequence numbers …";
 * a SYN we already saw counts as one byte), counting it and reporting it
 * as a D-SACK (RFC 2883). An entirely old segment is ACKed to resynchronize.
 */
function tcpTrimFront(tp: TcpCb, m: Mbuf, seg: TcpSegment): void {
  const v = tp.v;
  const st = tp.tcp.stat;
  let sseq = seg.curSeq;
  let tlen = seg.curLen;
  let thflags = seg.curFlags;
  let todrop = seqDiff(v[RCV_NXT], sseq);
  if (todrop <= 0) return;
  if (thflags & TH_SYN) {
    thflags &= ~TH_SYN;
    sseq = (sseq + 1) >>> 0;
    todrop--;
  }
  const dupStart = sseq;
  if (todrop > tlen || (todrop === tlen && !(thflags & TH_FIN))) {
    // Entirely old: any FIN is a duplicate too. ACK to resynchronize.
    thflags &= ~TH_FIN;
    tp.flags |= TF_ACKNOW;
    todrop = tlen;
    st.rcvduppack++;
    st.rcvdupbyte += todrop;
  } else {
    st.rcvpartduppack++;
    st.rcvpartdupbyte += todrop;
  }
  // RFC 2883: report the duplicate range in a D-SACK, promptly.
  if (todrop > 0 && tp.flags & TF_SACK_PERMIT) {
    if (tp.sackRcv === null) tp.sackRcv = new SackReceiver();
    tp.sackRcv.dsack(dupStart, (dupStart + todrop) >>> 0);
    seg.dsackDone = true;
    tp.flags |= TF_ACKNOW;
  }
  m.adj(todrop);
  seg.curSeq = (sseq + todrop) >>> 0;
  seg.curLen = tlen - todrop;
  seg.curFlags = thflags;
}

/**
 * Trim off the back of the segment what lies beyond the receive window
 * (RFC 9293 §3.10.7.4 first), and with it any PSH and FIN. False when
 * nothing is left in the window: drop it and send an ACK. A closed window
 * still takes a probe at its edge (and ACKs it).
 */
function tcpTrimBack(tp: TcpCb, m: Mbuf, seg: TcpSegment): boolean {
  const v = tp.v;
  const st = tp.tcp.stat;
  const sseq = seg.curSeq;
  const tlen = seg.curLen;
  const todrop = seqDiff((sseq + tlen) >>> 0, (v[RCV_NXT] + tp.rcv_wnd) >>> 0);
  if (todrop <= 0) return true;
  st.rcvpackafterwin++;
  if (todrop >= tlen) {
    st.rcvbyteafterwin += tlen;
    if (!(tp.rcv_wnd === 0 && sseq === v[RCV_NXT])) return false;
    tp.flags |= TF_ACKNOW;
    st.rcvwinprobe++;
  } else {
    st.rcvbyteafterwin += todrop;
  }
  m.adj(-todrop);
  seg.curLen = tlen - todrop;
  seg.curFlags &= ~(TH_PUSH | TH_FIN);
  return true;
}

/**
 * Fifth, the ACK field in SYN-RECEIVED (RFC 9293 §3.10.7.4): an ACK of our
 * SYN makes the connection ESTABLISHED; one outside what we sent is reset.
 */
function tcpSynReceivedAck(tp: TcpCb, seg: TcpSegment): Verdict {
  const v = tp.v;
  const ack = seg.ack;
  if (seqGt(v[SND_UNA], ack) || seqGt(ack, v[SND_MAX])) return Verdict.DropWithReset;
  tcpSynchronized(tp);
  tp.snd_wnd = seg.tiwin;
  v[SND_WL1] = (seg.curSeq - 1) >>> 0;
  v[SND_WL2] = ack;
  // The SYN is acknowledged: count it off before the data.
  if (seqGt(ack, v[SND_UNA])) v[SND_UNA] = (v[SND_UNA] + 1) >>> 0;
  if (v[SND_UNA] === v[SND_MAX]) v[REXMT_AT] = 0;
  if (v[T_RTTTIME] !== 0 && seqGt(ack, v[T_RTSEQ])) {
    tcpXmitTimer(tp, seg.now - (v[T_RTTTIME] - 1));
    v[T_RTTTIME] = 0;
  }
  tcpEstablish(tp);
  // Data that came with the SYN or before the ACK waits in the queue.
  if (tp.segq.length > 0 && seg.curLen === 0 && !(seg.curFlags & TH_FIN)) deliverReass(tp);
  return Verdict.Continue;
}

/** Hand the congestion control an ACK of `acked` new bytes (outside recovery). */
function ccAck(tp: TcpCb, acked: number, now: number): void {
  const v = tp.v;
  // The tcpcb is the algorithm's CcState (its srtt the estimator's own).
  tp.flightsize = (v[SND_MAX] - v[SND_UNA]) | 0;
  v[CC_NOW] = now;
  tp.ccAlgo.ackReceived(tp, acked, 'ack');
}

/**
 * Fifth, the ACK field, in ESTABLISHED and the closing states (RFC 9293
 * §3.10.7.4): an ACK of data not yet sent is answered; one far below
 * snd_una draws a challenge ACK (RFC 5961 §5.2); the SACK blocks go to the
 * scoreboard; then an old ACK (tcpAckOld) or one of new data (tcpAckNew).
 */
function tcpAckProcess(tp: TcpCb, seg: TcpSegment): Verdict {
  const v = tp.v;
  const st = tp.tcp.stat;
  const o = seg.opts;
  const ack = seg.ack;
  let sack: SackScoreboard | null = null;
  if (tp.flags & TF_SACK_PERMIT) {
    if (tp.sackSb === null && o.nsack > 0) tp.sackSb = new SackScoreboard();
    sack = tp.sackSb;
    if (sack !== null) sack.maxseg = tp.t_maxseg;
  }

  if (((ack - v[SND_MAX]) | 0) > 0) {
    // An ACK for data not yet sent (RFC 9293: send an ACK, drop).
    st.rcvacktoomuch++;
    return Verdict.DropAfterAck;
  }
  // RFC 5961 §5.2: an ACK far below what is outstanding is suspect.
  if (seqLt(ack, (v[SND_UNA] - tp.max_sndwnd) >>> 0)) {
    tcpChallengeAck(tp);
    return Verdict.Drop;
  }

  let newlySacked = 0;
  if (sack !== null) {
    if (o.nsack > 0) st.sack_rcv_blocks++;
    const u = sack.update(ack, o.sack, o.nsack, v[SND_UNA], v[SND_MAX]);
    newlySacked = u.newlySacked;
    if (u.dsack) st.dsack_rcv++;
  }

  if (((ack - v[SND_UNA]) | 0) <= 0) return tcpAckOld(tp, seg, sack, newlySacked);
  return tcpAckNew(tp, seg, sack);
}

/**
 * An ACK that acknowledges nothing new ("SND.UNA >= SEG.ACK"). A duplicate
 * ACK (RFC 5681 §2; with SACK, RFC 6675 §2: one that SACKs something new)
 * counts toward fast retransmit (tcpDupAck) and is done with; anything
 * else goes on to the window and data steps.
 */
function tcpAckOld(tp: TcpCb, seg: TcpSegment, sack: SackScoreboard | null, newlySacked: number): Verdict {
  const v = tp.v;
  const ack = seg.ack;
  const tlen = seg.curLen;
  const tiwin = seg.tiwin;
  const o = seg.opts;
  const isDup = ack === v[SND_UNA] && tlen === 0 && !(seg.curFlags & (TH_SYN | TH_FIN)) && v[SND_MAX] !== v[SND_UNA] &&
    (sack !== null ? newlySacked > 0 || (o.nsack === 0 && tiwin === tp.snd_wnd) : tiwin === tp.snd_wnd);
  if (isDup) {
    tp.tcp.stat.rcvdupack++;
    if (v[REXMT_AT] === 0) {
      tp.t_dupacks = 0;
    } else {
      tp.t_dupacks++;
      tcpDupAck(tp, sack);
      return Verdict.Drop;
    }
  } else if (ack === v[SND_UNA] && tlen === 0 && tiwin === tp.snd_wnd) {
    // Not a duplicate, not news either.
  } else {
    if (!(tp.flags & TF_FASTRECOVERY)) tp.t_dupacks = 0;
  }
  return Verdict.Continue;
}

/**
 * An ACK of new data ("SND.UNA < SEG.ACK =< SND.NXT"): the RTT sample,
 * the end of (or progress in) loss recovery, congestion control, the send
 * buffer, the retransmission timer; then what our FIN being acknowledged
 * means in the closing states (tcpOurFinAcked).
 */
function tcpAckNew(tp: TcpCb, seg: TcpSegment, sack: SackScoreboard | null): Verdict {
  const v = tp.v;
  const tcp = tp.tcp;
  const st = tcp.stat;
  const so = tp.so;
  const o = seg.opts;
  const ack = seg.ack;
  const now = seg.now;
  const acked = (ack - v[SND_UNA]) | 0;
  let ourfinisacked = false;
  let verdict = Verdict.Continue;
  st.rcvackpack++;
  st.rcvackbyte += acked;

  // RTT: the timestamp echo, else the timed segment (Karn: t_rtttime was
  // cleared if it was retransmitted).
  if ((tp.flags & (TF_RCVD_TSTMP | TF_REQ_TSTMP)) === (TF_RCVD_TSTMP | TF_REQ_TSTMP) && o.tsPresent && o.tsEcr !== 0) {
    tcpXmitTimer(tp, Math.max(0, seqDiff((tsAt(tcp, now) + v[TS_OFFSET]) >>> 0, o.tsEcr)));
    v[T_RTTTIME] = 0;
  } else if (v[T_RTTTIME] !== 0 && ((ack - v[T_RTSEQ]) | 0) > 0) {
    tcpXmitTimer(tp, now - (v[T_RTTTIME] - 1));
    v[T_RTTTIME] = 0;
  }

  // Recovery bookkeeping before the window moves.
  let partial = false;
  if (tp.flags & TF_FASTRECOVERY) {
    if (((ack - v[SND_RECOVER]) | 0) < 0) {
      partial = true;
      st.newreno_partialack++;
    } else {
      // Full ACK: recovery is over (RFC 6582 §3.2 (6), RFC 6675 §5).
      tp.flags &= ~TF_FASTRECOVERY;
      tp.t_dupacks = 0;
      const cc = tp.cc;
      cc.flightsize = (v[SND_MAX] - ack) | 0;
      cc.now = now;
      tp.ccAlgo.postRecovery(cc);
      sack?.exitRecovery();
    }
  } else if (tp.x !== null) {
    // A rare field, 0 already without `x` (var.ts).
    tp.t_dupacks = 0;
  }

  if (partial) {
    // RFC 6582 §3.2 (5): deflate by what was acknowledged (the algorithm).
    const cc = tp.cc;
    cc.flightsize = (v[SND_MAX] - v[SND_UNA]) | 0;
    cc.now = now;
    tp.ccAlgo.ackReceived(cc, acked, 'ack');
  } else if (!(tp.flags & TF_FASTRECOVERY)) {
    ccAck(tp, acked, now);
  }

  // The send buffer gives up what was acknowledged; the FIN is not in it.
  const snd = so.snd;
  if (acked > snd.cc) {
    tp.snd_wnd -= snd.cc;
    tcpSbDrop(tp, snd.cc);
    ourfinisacked = true;
  } else {
    tcpSbDrop(tp, acked);
    tp.snd_wnd -= acked;
  }
  so.wakeup();
  v[SND_UNA] = ack;
  if (((v[SND_NXT] - v[SND_UNA]) | 0) < 0) v[SND_NXT] = v[SND_UNA];

  // All acknowledged: stop the retransmission timer; else restart it with
  // the current (possibly backed-off) RTO.
  if (ack === v[SND_MAX]) {
    v[REXMT_AT] = 0;
    verdict = Verdict.ContinueOutput;
  } else if (v[PERSIST_AT] === 0) {
    tcpTimerRexmtArmAt(tp, now, tp.t_rxtcur);
  }

  if (partial) {
    if (sack !== null) {
      // RFC 6675: keep going from the scoreboard.
      verdict = Verdict.ContinueOutput;
    } else {
      // RFC 6582 §3.2 (5): retransmit the first unacknowledged segment now.
      const onxt = v[SND_NXT];
      const ocwnd = tp.cwnd;
      v[SND_NXT] = v[SND_UNA];
      tp.cwnd = tp.t_maxseg;
      tp.flags |= TF_ACKNOW;
      tcpOutput(tp);
      tp.cwnd = ocwnd;
      if (((onxt - v[SND_NXT]) | 0) > 0) v[SND_NXT] = onxt;
    }
  }

  return ourfinisacked ? tcpOurFinAcked(tp, verdict) : verdict;
}

/**
 * Our FIN is acknowledged (RFC 9293 §3.10.7.4 fifth, by state): FIN-WAIT-1
 * moves to FIN-WAIT-2, CLOSING to TIME-WAIT, LAST-ACK to CLOSED (the
 * segment is then done with). TIME-WAIT's part of this step, the peer's
 * FIN again, is in tcpTimeWaitSegment: no segment in TIME_WAIT gets here.
 */
function tcpOurFinAcked(tp: TcpCb, verdict: Verdict): Verdict {
  const so = tp.so;
  switch (tp.state) {
    case TCPS_FIN_WAIT_1:
      // The socket will hear nothing more if the user cannot read: the
      // FIN_WAIT_2 timer keeps an unanswered close from lasting forever.
      if (so.state & SS_CANTRCVMORE) {
        so.isDisconnected();
        tcpTimer2mslArm(tp, 60000);
      }
      tp.state = TCPS_FIN_WAIT_2;
      return verdict;
    case TCPS_CLOSING:
      tcpEnterTimeWait(tp);
      return Verdict.Drop;
    case TCPS_LAST_ACK:
      tcpClose(tp);
      return Verdict.Drop;
  }
  return verdict;
}

/**
 * Another duplicate ACK: fast retransmit at the third (RFC 5681 §3.2,
 * RFC 6582 §3.2, or when SACK says snd_una is lost: RFC 6675 §5), window
 * inflation during NewReno recovery, limited transmit for the first two
 * (RFC 3042).
 */
function tcpDupAck(tp: TcpCb, sack: SackScoreboard | null): void {
  const tcp = tp.tcp;
  const st = tcp.stat;
  const cc = tp.cc;
  const now = tcp.kernel.host.now();
  if (tp.flags & TF_FASTRECOVERY) {
    if (sack === null) {
      cc.now = now;
      tp.ccAlgo.ackReceived(cc, 0, 'dupack');
    }
    tcpOutput(tp);
    return;
  }
  const lost = sack !== null && sack.isLost(tp.snd_una);
  if (tp.t_dupacks >= DUP_THRESH || lost) {
    // RFC 6582 §3.2 (2): no new recovery while the ACK does not cover the
    // last recovery point (the dup ACKs may be from the previous episode).
    if (sack === null && seqLeq(tp.snd_una, tp.snd_recover) && tp.snd_recover !== tp.snd_una && tp.t_rxtshift > 0) {
      tp.t_dupacks = 0;
      return;
    }
    st.fastrexmit++;
    tp.snd_recover = tp.snd_max;
    tp.flags |= TF_FASTRECOVERY;
    tp.rexmtAt = 0;
    tp.t_rtttime = 0;
    // RFC 5681 (4) / RFC 6675 (4.2): ssthresh from FlightSize, what is
    // outstanding (not the pipe).
    cc.flightsize = seqDiff(tp.snd_max, tp.snd_una);
    cc.now = now;
    cc.sack = sack !== null;
    tp.ccAlgo.congSignal(cc, 'dupack');
    tcpEcnCwndReduced(tp);
    if (sack !== null) {
      // RFC 6675 (4): retransmit the first hole, then let the pipe decide.
      st.sack_recovery_episode++;
      sack.maxseg = tp.t_maxseg;
      const first = sack.enterRecovery(tp.snd_una, tp.snd_max);
      const seq = first.seq;
      const len = Math.min(first.len, tp.t_maxseg);
      if (len > 0) {
        tcpRetransmitAt(tp, seq, len);
        sack.sent(seq, len, first.rule);
      }
      tcpOutput(tp);
    } else {
      // RFC 6582 §3.2 (3): retransmit snd_una, one segment.
      const onxt = tp.snd_nxt;
      const ocwnd = cc.cwnd;
      tp.snd_nxt = tp.snd_una;
      cc.cwnd = tp.t_maxseg;
      tcpOutput(tp);
      cc.cwnd = ocwnd;
      if (seqGt(onxt, tp.snd_nxt)) tp.snd_nxt = onxt;
    }
    if (tp.rexmtAt === 0) tcpTimerRexmtArm(tp, tp.t_rxtcur);
    return;
  }
  if (tcp.cfg.rfc3042 && tp.t_dupacks <= 2 && tp.snd_nxt === tp.snd_max) {
    // RFC 3042: each of the first two dup ACKs may clock out one new segment.
    const ocwnd = cc.cwnd;
    cc.cwnd = ocwnd + tp.t_dupacks * tp.t_maxseg;
    const before = tp.snd_max;
    tcpOutput(tp);
    cc.cwnd = ocwnd;
    if (tp.snd_max !== before) st.limitedtransmit++;
  }
}

/** Retransmit [seq, seq+len) now without moving snd_nxt. */
function tcpRetransmitAt(tp: TcpCb, seq: number, len: number): void {
  const onxt = tp.snd_nxt;
  const ocwnd = tp.cc.cwnd;
  tp.snd_nxt = seq;
  tp.cc.cwnd = seqDiff(seq, tp.snd_una) + len;
  tcpOutput(tp);
  tp.cc.cwnd = ocwnd;
  if (seqGt(onxt, tp.snd_nxt)) tp.snd_nxt = onxt;
}

/**
 * The send window update (RFC 9293 §3.10.7.4 fifth, its last part, with
 * snd_wl1/snd_wl2), then the sixth (URG: not kept), seventh (the segment
 * text) and eighth (FIN) steps, for what is left of the segment.
 */
function tcpWindowAndText(tp: TcpCb, m: Mbuf, seg: TcpSegment): Verdict {
  const v = tp.v;
  const tcp = tp.tcp;
  const sseq = seg.curSeq;
  const tlen = seg.curLen;
  const tiwin = seg.tiwin;
  let thflags = seg.curFlags;
  const st = tcp.stat;
  const so = tp.so;
  let needoutput = false;
  if (thflags & TH_ACK && (((v[SND_WL1] - sseq) | 0) < 0 || (v[SND_WL1] === sseq &&
      (((v[SND_WL2] - seg.ack) | 0) < 0 || (v[SND_WL2] === seg.ack && tiwin > tp.snd_wnd))))) {
    if (tlen === 0 && v[SND_WL2] === seg.ack && tiwin > tp.snd_wnd) st.rcvwinupd++;
    tp.snd_wnd = tiwin;
    v[SND_WL1] = sseq;
    v[SND_WL2] = seg.ack;
    if (tp.snd_wnd > tp.max_sndwnd) tp.max_sndwnd = tp.snd_wnd;
    needoutput = true;
  }

  // Urgent data (RFC 9293 §3.10.7.4 sixth; BSD): a pointer beyond the one
  // held moves the mark (RFC 6093: one mark at a time). The data stays
  // inline (SO_OOBINLINE); the socket learns a mark is pending
  // (SIOCATMARK, POLLPRI), Tcp's oobmark says where.
  if (thflags & TH_URG && seg.urp !== 0 && !tcpsHaveRcvdFin(tp.state)) {
    const up = (seg.seq + seg.urp) >>> 0;
    if (((up - v[RCV_UP]) | 0) > 0 && seqGt(up, tcpReadSeq(tp))) {
      v[RCV_UP] = up;
      so.state |= SS_POLLRDBAND;
      so.wakeup();
    }
  } else if (!(so.state & SS_POLLRDBAND) && ((v[RCV_NXT] - v[RCV_UP]) | 0) > 0) v[RCV_UP] = v[RCV_NXT];

  // Data and FIN (RFC 9293 §3.10.7.4 seventh and eighth).
  if ((tlen > 0 || thflags & TH_FIN) && !tcpsHaveRcvdFin(tp.state)) {
    // Without `x` the reassembly queue is the shared empty one (a rare field, var.ts).
    if (sseq === v[RCV_NXT] && (tp.x === null || tp.segq.length === 0) && tp.state >= TCPS_ESTABLISHED) {
      if (tlen > 0) {
        // In order: deliver; delay the ACK unless one is already owed
        // (every second segment, RFC 1122 §4.2.3.2; RFC 5681 §4.2).
        if (tp.flags & TF_DELACK || tlen > tp.t_maxseg) tp.flags |= TF_ACKNOW;
        else {
          tp.flags |= TF_DELACK;
        }
        v[RCV_NXT] = (v[RCV_NXT] + tlen) >>> 0;
        st.rcvpack++;
        st.rcvbyte += tlen;
        tcpSbAppend(tp, m);
      } else {
        tcp.kernel.mbufs.free(m);
      }
    } else {
      // Out of order (or before ESTABLISHED): queue and ACK at once so the
      // sender learns of the hole (RFC 5681 §4.2, RFC 2018).
      thflags = tcpReass(tp, m, seg, sseq, tlen, thflags);
      tp.flags |= TF_ACKNOW;
    }
  } else {
    tcp.kernel.mbufs.free(m);
    thflags &= ~TH_FIN;
  }

  if (thflags & TH_FIN) {
    if (!tcpsHaveRcvdFin(tp.state)) {
      so.cantRcvMore();
      tp.flags |= TF_ACKNOW;
      v[RCV_NXT] = (v[RCV_NXT] + 1) >>> 0;
    }
    // RFC 9293 §3.10.7.4 eighth, by state (TIME-WAIT's is in
    // tcpTimeWaitSegment; CLOSE-WAIT, CLOSING, LAST-ACK "remain").
    switch (tp.state) {
      case TCPS_SYN_RECEIVED:
      case TCPS_ESTABLISHED:
        tp.state = TCPS_CLOSE_WAIT;
        break;
      case TCPS_FIN_WAIT_1:
        tp.state = TCPS_CLOSING;
        break;
      case TCPS_FIN_WAIT_2:
        tcpEnterTimeWait(tp);
        break;
    }
  }
  return needoutput ? Verdict.ContinueOutput : Verdict.Continue;
}

/** TIME_WAIT for 2×MSL (RFC 9293 §3.6.1). */
function tcpEnterTimeWait(tp: TcpCb): void {
  const v = tp.v;
  tp.state = TCPS_TIME_WAIT;
  // Nothing more to recover or reassemble: give back what that took.
  tp.sackSb = null;
  tp.sackRcv = null;
  v[REXMT_AT] = 0;
  v[PERSIST_AT] = 0;
  v[KEEP_AT] = 0;
  v[DELACK_AT] = 0;
  tcpTimer2mslArm(tp, tcpTimeWaitMs(tp));
  tp.so.isDisconnected();
}

/**
 * The tail of tcp_do_segment, acting on the verdict of the steps: answer
 * with an RST (dropwithreset), free the segment (drop), send what is owed
 * (dropafterack), or, when the segment was taken (its data consumed by
 * tcpWindowAndText), send what is owed and arm the delayed ACK.
 */
function tcpSegmentDone(tp: TcpCb, m: Mbuf, seg: TcpSegment, verdict: Verdict): void {
  const v = tp.v;
  const tcp = tp.tcp;
  switch (verdict) {
    case Verdict.DropWithReset:
      tcpDropWithReset(tcp, m, tp);
      return;
    case Verdict.Drop:
      tcp.kernel.mbufs.free(m);
      return;
    case Verdict.DropAfterAck:
      // In SYN_RECEIVED an ACK outside what we sent must not be ACKed back
      // (an ACK storm with a peer in the same state): RST instead.
      if (tp.state === TCPS_SYN_RECEIVED && seg.flags & TH_ACK && (seqGt(v[SND_UNA], seg.ack) || seqGt(seg.ack, v[SND_MAX]))) {
        tcpDropWithReset(tcp, m, tp);
        return;
      }
      tcp.kernel.mbufs.free(m);
      // Rate limited: a peer out of step with us answers our ACK with one
      // that draws another (an ACK storm between two hosts, at link speed).
      if (!tcpAckWarAllows(tp)) {
        tcp.stat.dropafterack_limited++;
        return;
      }
      tp.flags |= TF_ACKNOW;
      tcpOutput(tp);
      return;
    case Verdict.Consumed:
      return;
    case Verdict.Continue:
    case Verdict.ContinueOutput:
      if (!tcp.tcbs.has(tp)) return;
      if (verdict === Verdict.ContinueOutput || tp.flags & TF_ACKNOW) tcpOutput(tp);
      if (tp.flags & TF_DELACK && tcp.tcbs.has(tp)) tcpTimerDelackArm(tp, tcp.cfg.delacktime);
      return;
  }
}

/**
 * Receive buffer autosizing (NetBSD's and FreeBSD's tcp_input, on the
 * in-order data path): count what arrives until our first timestamp of the
 * round comes back echoed (one RTT, if under a second); if more than 7/8
 * of the buffer arrived in that RTT, the buffer limits the stream, so grow
 * it a step. The window scale asked for at the SYN already allows
 * maxsockbuf. Nothing shrinks it again: an idle buffer holds no memory.
 */
function tcpAutoRcvbuf(tp: TcpCb, tsEcr: number, tlen: number): void {
  const v = tp.v;
  const sb = tp.so.rcv;
  const cfg = tp.tcp.cfg;
  const since = (tsEcr - v[RFBUF_TS]) | 0;
  if (v[RFBUF_TS] !== 0 && since > 0 && since < 1000) {
    const max = Math.min(cfg.recvbufMax, cfg.maxsockbuf);
    if (tp.rfbuf_cnt > (sb.hiwat / 8) * 7 && sb.hiwat < max) sb.hiwat = Math.min(sb.hiwat + cfg.recvbufInc, max);
    v[RFBUF_TS] = 0;
    tp.rfbuf_cnt = 0;
  } else tp.rfbuf_cnt += tlen;
}

/** Append in-order data to the receive buffer (sbappendstream), or drop it if the user stopped reading. */
function tcpSbAppend(tp: TcpCb, m: Mbuf): void {
  const so = tp.so;
  if (so.state & SS_CANTRCVMORE || m.len === 0) {
    tp.tcp.kernel.mbufs.free(m);
    return;
  }
  so.rcv.append(m, null);
  so.wakeup();
}

/**
 * tcp_reass: queue [sseq, sseq+tlen) (with FIN if set), trim overlaps with
 * what is queued (RFC 2883 D-SACK for duplicates), then hand everything
 * that has become contiguous at rcv_nxt to the socket. Returns TH_FIN when
 * the FIN is now in sequence. `m` is consumed.
 */
function tcpReass(tp: TcpCb, m: Mbuf, seg: TcpSegment, sseq: number, tlen: number, thflags: number): number {
  const tcp = tp.tcp;
  const st = tcp.stat;
  const pool = tcp.kernel.mbufs;
  const q = tp.segq === NO_SEGQ ? (tp.segq = []) : tp.segq;
  const fin = (thflags & TH_FIN) !== 0;
  if (tlen > 0 || fin) {
    // Find the first queued segment that starts after us.
    let i = 0;
    while (i < q.length && seqLeq(q[i]!.seq, sseq)) i++;
    // The one before may cover our front.
    if (i > 0) {
      const p = q[i - 1]!;
      const over = seqDiff((p.seq + p.len) >>> 0, sseq);
      if (over > 0) {
        if (over >= tlen) {
          // Entirely a duplicate of queued data.
          st.rcvduppack++;
          st.rcvdupbyte += tlen;
          if (tlen > 0) dsack(tp, seg, sseq, (sseq + tlen) >>> 0);
          if (fin && !p.fin && over === tlen) p.fin = true;
          pool.free(m);
          return deliverReass(tp);
        }
        dsack(tp, seg, sseq, (sseq + over) >>> 0);
        m.adj(over);
        sseq = (sseq + over) >>> 0;
        tlen -= over;
      }
    }
    if (sseq !== tp.rcv_nxt && reassFull(tp, i, sseq, tlen, m)) {
      // Full (FreeBSD tcp_reass): a peer must not grow the queue without
      // limit. Only the segment that fills the hole at rcv_nxt gets past;
      // this one is dropped unqueued and unSACKed, so the ACK the caller
      // sends at once still says exactly what we hold (RFC 9293 §3.10.7.4,
      // RFC 2018 §4) and the peer sends it again later.
      st.rcvreassfull++;
      pool.free(m);
      return deliverReass(tp);
    }
    // Those after us that we cover go (their data is ours now).
    while (i < q.length) {
      const n = q[i]!;
      const over = seqDiff((sseq + tlen) >>> 0, n.seq);
      if (over <= 0) break;
      const dupEnd = over < n.len ? (n.seq + over) >>> 0 : (n.seq + n.len) >>> 0;
      dsack(tp, seg, n.seq, dupEnd);
      if (over < n.len) {
        n.m.adj(over);
        n.seq = (n.seq + over) >>> 0;
        n.len -= over;
        tp.segqBytes -= over;
        break;
      }
      tp.segqBytes -= n.len;
      tp.segqMem -= n.m.charged;
      pool.free(n.m);
      q.splice(i, 1);
    }
    st.rcvoopack++;
    st.rcvoobyte += tlen;
    q.splice(i, 0, new ReassSeg(sseq, tlen, m, fin));
    tp.segqBytes += tlen;
    tp.segqMem += m.charged;
    if (tlen > 0 && seqGt(sseq, tp.rcv_nxt) && tp.flags & TF_SACK_PERMIT) {
      if (tp.sackRcv === null) tp.sackRcv = new SackReceiver();
      tp.sackRcv.add(sseq, (sseq + tlen) >>> 0);
    }
  } else {
    pool.free(m);
  }
  return deliverReass(tp);
}

/** Buffer storage allowed per byte of socket buffer (BSD sb_efficiency, sb_mbmax = 8 × hiwat). */
const SB_EFFICIENCY = 8;

/**
 * Whether [sseq, sseq+tlen), to be inserted at q[i], finds the queue full.
 * Three bounds: the data must fit the receive buffer's free space (FreeBSD
 * t_segqlen against sbspace); the buffers holding it at most SB_EFFICIENCY
 * times the receive buffer (BSD's sb_mbmax, against many tiny segments);
 * and a segment that opens a new block (touches no queued neighbour) only
 * while fewer than net.inet.tcp.reass.maxqueuelen blocks are queued.
 * FreeBSD's queue merges contiguous segments into one entry, so its bound
 * counts holes, not segments: a big window with one loss stays in.
 */
function reassFull(tp: TcpCb, i: number, sseq: number, tlen: number, m: Mbuf): boolean {
  const q = tp.segq;
  if (tp.segqBytes + tlen > tcpRecvSpace(tp)) return true;
  if (tp.segqMem + m.charged > SB_EFFICIENCY * tp.so.rcv.hiwat) return true;
  const end = (sseq + tlen) >>> 0;
  const prev = i > 0 ? q[i - 1]! : null;
  const next = i < q.length ? q[i]! : null;
  if ((prev !== null && ((prev.seq + prev.len) >>> 0) === sseq) || (next !== null && seqGeq(end, next.seq))) return false;
  let blocks = 0;
  for (let j = 0; j < q.length; j++) {
    if (j === 0 || ((q[j - 1]!.seq + q[j - 1]!.len) >>> 0) !== q[j]!.seq) blocks++;
  }
  return blocks >= tp.tcp.cfg.reassMaxqueuelen;
}

/**
 * RFC 2883 §4: the first duplicate range a segment brought is reported
 * (once) as a D-SACK; later overlaps of the same segment are not.
 */
function dsack(tp: TcpCb, seg: TcpSegment, start: number, end: number): void {
  if (seg.dsackDone || !(tp.flags & TF_SACK_PERMIT)) return;
  seg.dsackDone = true;
  if (tp.sackRcv === null) tp.sackRcv = new SackReceiver();
  tp.sackRcv.dsack(start, end);
}

/** Move the contiguous front of the reassembly queue to the socket. */
function deliverReass(tp: TcpCb): number {
  if (tp.state < TCPS_ESTABLISHED) return 0;
  const q = tp.segq;
  const st = tp.tcp.stat;
  let flags = 0;
  let n = 0;
  while (n < q.length && q[n]!.seq === tp.rcv_nxt) {
    const e = q[n]!;
    tp.rcv_nxt = (tp.rcv_nxt + e.len) >>> 0;
    tp.segqBytes -= e.len;
    tp.segqMem -= e.m.charged;
    st.rcvpack++;
    st.rcvbyte += e.len;
    tcpSbAppend(tp, e.m);
    n++;
    if (e.fin) {
      flags = TH_FIN;
      break;
    }
  }
  if (n > 0) q.splice(0, n);
  return flags;
}

