/*
 * TCP output (BSD netinet/tcp_output.c).
 *
 * tcpOutput decides from the connection's state what, if anything, to send
 * now: new data the windows allow (RFC 9293 §3.8.6, Nagle RFC 1122
 * §4.2.3.4, sender SWS avoidance §4.2.3.4), a SYN or FIN the state calls
 * for (tcp_outflags), a window update (§4.2.3.3), an ACK that is owed, or
 * a SACK-recovery retransmission (RFC 6675 NextSeg). Input, timers and
 * user requests change state and call it; nothing else builds segments.
 *
 *   tcpOutput → tcpSendSegment → options (FreeBSD's layout) → header →
 *   checksum → ipOutput (or, for a connection over IPv6, tcpIpOutput: the
 *   IPv6 pseudo-header checksum and the IPv6 layer's output)
 *
 * A segment is one new mbuf with headroom for the IP and link headers; its
 * data is copied from the send buffer (which keeps it for retransmission).
 */
import { EMSGSIZE, ENOBUFS } from '../../../kern/errno.js';
import { M_CSUM_TCPv4, M_CSUM_TCPv6, M_CSUM_TSOv4, M_CSUM_TSOv6 } from '../../../kern/mbuf.js';
import { IFCAP_CSUM_TCPv6_Tx, IFCAP_TSOv4, IFCAP_TSOv6, IFF_LOOPBACK, type Ifnet } from '../../interface.js';
import { SS_CANTRCVMORE } from '../../socket.js';
import { IPPROTO_TCP } from '../../wire/ipv4.js';
import {
  TCPOPT_FASTOPEN, TCP_HDR_MIN, TCP_MAXOLEN, TH_ACK, TH_ECE, TH_FIN, TH_PUSH, TH_RST, TH_SYN, TH_URG, tcpOptEol, tcpOptMss, tcpOptNop, tcpOptSack,
  tcpOptSackPermitted, tcpOptTimestamp, tcpOptWscale, tcpWriteHeader,
} from '../../wire/tcp.js';
import { ipOutput } from '../ip_output.js';
import { SACK_RULE_NEW, TCP_MAX_SACK, TCP_MAX_SACK_TS } from './sack.js';
import { TCP_OUTFLAGS, TCPS_ESTABLISHED, TCPS_SYN_RECEIVED, TCPS_SYN_SENT, tcpsHaveRcvdFin } from './fsm.js';
import { seqDiff, seqGt, seqLt } from './seq.js';
import { ECN_PERMIT, tcpEcnOutFlags, tcpEcnSynFlags, tcpEcnTos } from './ecn.js';
import { TFO_ENABLED, TFO_SYN_DATA, tcpFastOpen } from './fastopen.js';
import { TCP6_HEADROOM, TCP_HEADROOM, tcpIpOutput, tcpMtudiscFlag, tcpMtuShrink, tcpRecvSpace, tcpRouteMtu, tcpSbCopy } from './subr.js';
import { tcpSetPersist, tcpTimerRexmtArm } from './timer.js';
import {
  CC_NOW, DELACK_AT, ISS, RCV_SCALE_SHIFT, LAST_ACK_SENT, PERSIST_AT, RCV_ADV, RCV_NXT, REXMT_AT, RFBUF_TS, SND_MAX, SND_NXT, SND_UNA, SND_UP, TS_OFFSET, TS_RECENT,
  T_RCVTIME, T_RTSEQ, T_RTTTIME, TCP_MAXWIN, TF_ACKNOW, TF_DELACK, TF_INOUTPUT, TF_FASTRECOVERY, TF_FORCEDATA, TF_NEEDFIN, TF_NODELAY, TF_NOOPT, TF_NOPUSH,
  TF_RCVD_SCALE, TF_RCVD_TSTMP, TF_REQ_SACK, TF_REQ_SCALE, TF_REQ_TSTMP, TF_SACK_PERMIT, TF_SENTFIN, type TcpCb,
} from './var.js';

/* FreeBSD's TOF_* bits: which options a segment carries, in emission order. */
const TOF_MSS = 0x1;
const TOF_SCALE = 0x2;
const TOF_SACKPERM = 0x4;
const TOF_TS = 0x10;
const TOF_SACK = 0x80;
/** TCP Fast Open (RFC 7413): the cookie (or an empty request) last, unaligned, as FreeBSD's tcp_addoptions. */
export const TOF_FASTOPEN = 0x100;

/**
 * Write the options in `mask` into optbuf the way FreeBSD's tcp_addoptions
 * does: MSS, window scale, SACK-permitted, timestamps, SACK blocks, each
 * padded with NOPs to its natural alignment, the whole padded with EOLs to
 * a multiple of 4. This is what gives `mss,nop,wscale,sackOK,TS` on a SYN,
 * `mss,sackOK,eol,eol` on a SYN-ACK to a peer without timestamps, and
 * `nop,nop,TS` / `nop,nop,sack` on data and ACKs. Returns the length.
 */
export function tcpAddOptions(
  out: Uint8Array, mask: number, mss: number, wscale: number, tsval: number, tsecr: number, blocks: Uint32Array, nblocks: number,
  tfoCookie: Uint8Array | null = null,
): number {
  let n = 0;
  if (mask & TOF_MSS) {
    while (n % 4) n = tcpOptNop(out, n);
    n = tcpOptMss(out, n, mss);
  }
  if (mask & TOF_SCALE) {
    while (n === 0 || n % 2 !== 1) n = tcpOptNop(out, n);
    n = tcpOptWscale(out, n, wscale);
  }
  if (mask & TOF_SACKPERM) {
    while (n % 2) n = tcpOptNop(out, n);
    n = tcpOptSackPermitted(out, n);
  }
  if (mask & TOF_TS) {
    while (n === 0 || n % 4 !== 2) n = tcpOptNop(out, n);
    n = tcpOptTimestamp(out, n, tsval, tsecr);
  }
  if (mask & TOF_SACK && nblocks > 0) {
    let pad = 0;
    while ((n + pad === 0 || (n + pad) % 4 !== 2)) pad++;
    const room = Math.floor((TCP_MAXOLEN - n - pad - 2) / 8);
    const k = Math.min(nblocks, room);
    if (k > 0) {
      for (let i = 0; i < pad; i++) n = tcpOptNop(out, n);
      n = tcpOptSack(out, n, blocks, k);
    }
  }
  if (mask & TOF_FASTOPEN) {
    const len = tfoCookie === null ? 0 : tfoCookie.length;
    if (n + 2 + len <= TCP_MAXOLEN) {
      out[n++] = TCPOPT_FASTOPEN;
      out[n++] = 2 + len;
      if (len > 0) out.set(tfoCookie!, n);
      n += len;
    }
  }
  if (n % 4) n = tcpOptEol(out, n);
  while (n % 4) n = tcpOptEol(out, n);
  return n;
}

/** The window to advertise now, in bytes (before scaling), with receiver SWS avoidance. */
function tcpRecvWindow(tp: TcpCb): number {
  const v = tp.v;
  const so = tp.so;
  let win = tcpRecvSpace(tp);
  // RFC 1122 §4.2.3.3: do not advertise a small window increment.
  if (win < so.rcv.hiwat / 4 && win < tp.t_maxseg) win = 0;
  const max = TCP_MAXWIN << ((tp.scales >> RCV_SCALE_SHIFT) & 0xf);
  if (win > max) win = max;
  // Never shrink a window already offered (RFC 9293 §3.8.6.2.2).
  const offered = (v[RCV_ADV] - v[RCV_NXT]) | 0;
  if (win < offered) win = offered;
  return win;
}

/** Bytes of the send buffer not yet covered by snd_una (the SYN counts as none). */
function sndDataOffset(tp: TcpCb, seq: number): number {
  const v = tp.v;
  // Before the SYN is acknowledged snd_una is the ISS and data starts one later.
  let off = (seq - v[SND_UNA]) | 0;
  if (tp.state < TCPS_ESTABLISHED) off--;
  return off;
}

/**
 * tcp_output. Sends as many segments as the state and the windows call for.
 * Returns 0 or an errno from IP (ENOBUFS...); a failure is recovered by the
 * retransmission timer, so callers may ignore it.
 */
export function tcpOutput(tp: TcpCb): number {
  const v = tp.v;
  const tcp = tp.tcp;
  const so = tp.so;
  if (tp.flags & TF_INOUTPUT) return 0;
  tp.flags |= TF_INOUTPUT;
  try {
    // RFC 5681 §4.1: after an idle period longer than an RTO, restart from
    // the restart window (the ACK clock is gone).
    if (v[SND_MAX] === v[SND_UNA] && tp.state >= TCPS_ESTABLISHED && so.snd.cc > 0 && tcp.kernel.host.now() - v[T_RCVTIME] >= tp.t_rxtcur) {
      // The tcpcb is the algorithm's CcState (its srtt the estimator's own).
      v[CC_NOW] = tcp.kernel.host.now();
      tp.flightsize = 0;
      tp.ccAlgo.afterIdle(tp);
    }

    // SACK loss recovery (RFC 6675 §5): while the pipe leaves room, send
    // what NextSeg picks, new data included. The normal path below limits
    // by cwnd against snd_nxt − snd_una, which during recovery counts
    // SACKed and lost octets as in flight, so it must not decide here.
    if (tp.flags & TF_FASTRECOVERY && tp.sackSb !== null && tp.flags & TF_SACK_PERMIT) {
      if (sackRecoverySend(tp)) tp.flags &= ~(TF_ACKNOW | TF_DELACK);
    }

    // Send buffer autosizing; its first test (the buffer 7/8 full) made here, where most calls end.
    const snd = so.snd;
    if (snd.cc >= (snd.hiwat / 8) * 7 && tcp.cfg.sendbufAuto && snd.autosize) tcpAutoSndbuf(tp);

    // Nagle's "idle" is decided once per call, as BSD's tcp_output does:
    // one write on an idle connection goes out whole, tail included.
    const idle = v[SND_MAX] === v[SND_UNA];
    for (let guard = 0; guard < 100000; guard++) {
      const r = tcpOutputOne(tp, idle);
      if (r <= 0) return r < 0 ? -r : 0;
    }
    return 0;
  } finally {
    tp.flags &= ~TF_INOUTPUT;
  }
}

/**
 * Send buffer autosizing (NetBSD's tcp_output): one step up when the
 * peer's window would take a bigger buffer, the application keeps this one
 * 7/8 full, and the usable window covers what is queued and not yet sent,
 * so the buffer is what holds the stream back.
 */
function tcpAutoSndbuf(tp: TcpCb): void {
  const v = tp.v;
  const sb = tp.so.snd;
  const cfg = tp.tcp.cfg;
  const max = Math.min(cfg.sendbufMax, cfg.maxsockbuf);
  if (sb.hiwat >= max || sb.cc < (sb.hiwat / 8) * 7 || (tp.snd_wnd / 4) * 5 < sb.hiwat) return;
  const win = Math.min(tp.snd_wnd, tp.cwnd);
  if (win < sb.cc - ((v[SND_NXT] - v[SND_UNA]) | 0)) return;
  sb.hiwat = Math.min(sb.hiwat + cfg.sendbufInc, max);
}

/**
 * RFC 6675 (C): send while cwnd − pipe ≥ 1 SMSS, whatever rule NextSeg
 * answers: retransmissions of holes (rules 1, 3, 4) leave snd_nxt alone;
 * new data (rule 2) goes out at snd_max and advances it, so the pipe
 * counts it on the next round. Returns whether anything was sent.
 */
function sackRecoverySend(tp: TcpCb): boolean {
  const sb = tp.sackSb!;
  const cc = tp.cc;
  const st = tp.tcp.stat;
  let sent = false;
  sb.maxseg = tp.t_maxseg;
  for (let guard = 0; guard < 1000; guard++) {
    const pipe = sb.pipe(tp.snd_una, tp.snd_max);
    if (cc.cwnd - pipe < tp.t_maxseg) break;
    const sndwin = Math.min(tp.snd_wnd, tp.so.snd.cc);
    const limit = (tp.snd_una + sndwin) >>> 0;
    const seg = sb.nextSeg(tp.snd_una, tp.snd_max, limit);
    if (seg === null) break;
    const seq = seg.seq;
    const len = Math.min(seg.len, tp.t_maxseg);
    const rule = seg.rule;
    if (len <= 0) break;
    if (rule === SACK_RULE_NEW) {
      // Rule (2): a regular transmission from snd_max (RTT timing and the
      // retransmission timer as usual). snd_nxt is snd_max during
      // recovery; put back any other value so go-back-N state survives.
      const onxt = tp.snd_nxt;
      const omax = tp.snd_max;
      tp.snd_nxt = seq;
      const push = seqDiff((seq + len) >>> 0, tp.snd_una) >= tp.so.snd.cc ? TH_PUSH : 0;
      const err = tcpSendSegment(tp, seq, len, TH_ACK | push, tcpRecvWindow(tp), SEND_ADVANCE);
      if (onxt !== omax) tp.snd_nxt = onxt;
      // tcpSendSegment may have trimmed the data to make room for options.
      const out = seqDiff(tp.snd_max, omax);
      sb.sent(seq, out, rule);
      if (out > 0) sent = true;
      if (err !== 0 || out <= 0) break;
      continue;
    }
    if (tcpSendSegment(tp, seq, len, TH_ACK, tcpRecvWindow(tp), SEND_RESEND) !== 0) break;
    sb.sent(seq, len, rule);
    st.sack_rexmits++;
    st.sack_rexmit_bytes += len;
    sent = true;
  }
  return sent;
}

/**
 * One round of tcp_output's decision: returns 1 when a segment was sent
 * and another may follow (sendalot), 0 when there is nothing (more) to
 * send, or −errno on failure.
 */
function tcpOutputOne(tp: TcpCb, idle: boolean): number {
  const v = tp.v;
  const so = tp.so;
  const snd = so.snd;
  let flags = TCP_OUTFLAGS[tp.state]!;
  if (tp.flags & TF_NEEDFIN && tp.state >= TCPS_ESTABLISHED) flags |= TH_FIN;
  const off = (v[SND_NXT] - v[SND_UNA]) | 0;
  let sendwin = Math.min(tp.snd_wnd, tp.cwnd);
  if (tp.flags & TF_FORCEDATA && sendwin === 0) {
    // A window probe (persist) or a forced retransmission: one octet into a
    // closed window (RFC 9293 §3.8.6.1).
    if (sndDataOffset(tp, v[SND_NXT]) < snd.cc) flags &= ~TH_FIN;
    sendwin = 1;
  } else if (tp.flags & TF_FORCEDATA) tcpPersistEnds(tp);

  // Data may go out once the connection is synchronized (no data on SYNs).
  let len = 0;
  let sendalot = false;
  if (tp.state >= TCPS_ESTABLISHED) {
    len = Math.min(snd.cc, sendwin) - off;
    if (len < 0) {
      // FIN already sent, or the window shrank below what we sent.
      len = 0;
      if (sendwin === 0) tcpWindowClosed(tp);
    }
  } else if (tp.tfoFlags & TFO_SYN_DATA) len = tcpFastOpenSynLen(tp);
  if (len > tp.t_maxseg) {
    // With TSO on the way out, whole segments up to 64 KB in one (the
    // interface cuts them): NetBSD tcp_output's use_tso. Never a probe.
    const tso = tp.t_tsoifp;
    len = tso !== null && tso.capenable & (tp.inp.foreignIsV4() ? IFCAP_TSOv4 : IFCAP_TSOv6) && !(tp.flags & TF_FORCEDATA) ? tcpTsoLen(tp, tso, len) : tp.t_maxseg;
    sendalot = true;
  }
  // No FIN while data remains to be sent after this segment.
  if (flags & TH_FIN && tp.state >= TCPS_ESTABLISHED && seqLt((v[SND_NXT] + len) >>> 0, (v[SND_UNA] + snd.cc) >>> 0)) flags &= ~TH_FIN;
  // The SYN goes once: a SYN_SENT/SYN_RECEIVED connection that already
  // sent it only resends it from the retransmission timer (snd_nxt pulled
  // back to the ISS).
  if (flags & TH_SYN && v[SND_NXT] !== v[ISS]) flags &= ~TH_SYN;
  // A connection still in SYN_SENT has nothing else to say.
  if (tp.state === TCPS_SYN_SENT && !(flags & TH_SYN)) return 0;

  const recwin = tcpRecvWindow(tp);

  let send = false;
  let winup = false;
  if (len > 0) {
    if (len >= tp.t_maxseg) send = true;
    // Nagle (RFC 1122 §4.2.3.4): a short segment only when nothing is
    // unacknowledged (or TCP_NODELAY) and it empties the buffer.
    else if ((idle || tp.flags & TF_NODELAY) && !(tp.flags & TF_NOPUSH) && len + off >= snd.cc) send = true;
    else if (tp.flags & TF_FORCEDATA) send = true;
    else if (tp.max_sndwnd > 0 && len >= tp.max_sndwnd / 2) send = true;
    else if (((v[SND_NXT] - v[SND_MAX]) | 0) < 0) send = true;
  }
  if (!send && recwin > 0 && tp.state >= TCPS_ESTABLISHED && !tcpsHaveRcvdFin(tp.state) && !(so.state & SS_CANTRCVMORE)) {
    // A window update worth sending: two segments' worth or half the buffer.
    const maxwin = TCP_MAXWIN << ((tp.scales >> RCV_SCALE_SHIFT) & 0xf);
    const adv = Math.min(recwin, maxwin) - ((v[RCV_ADV] - v[RCV_NXT]) | 0);
    if (adv >= 2 * tp.t_maxseg || 2 * adv >= so.rcv.hiwat) {
      send = true;
      winup = !(tp.flags & TF_ACKNOW);
    }
  }
  if (!send && tp.flags & TF_ACKNOW) send = true;
  if (!send && flags & (TH_SYN | TH_RST)) send = true;
  // Urgent data not yet sent goes now, even into a closed window as the pointer alone (RFC 9293 §3.8.5).
  if (!send && ((v[SND_UP] - v[SND_NXT]) | 0) > 0) send = true;
  if (!send && flags & TH_FIN && (!(tp.flags & TF_SENTFIN) || v[SND_NXT] === v[SND_UNA])) send = true;

  if (!send) {
    if (snd.cc > 0) tcpNothingSent(tp);
    return 0;
  }

  // Retransmitting a FIN: back up over it.
  if (flags & TH_FIN && tp.flags & TF_SENTFIN && v[SND_NXT] === v[SND_MAX]) v[SND_NXT] = (v[SND_NXT] - 1) >>> 0;

  let seq: number;
  if (len > 0 || flags & (TH_SYN | TH_FIN) || v[PERSIST_AT] !== 0) seq = v[SND_NXT];
  else seq = v[SND_MAX];
  if (len > 0 && snd.cc - sndDataOffset(tp, seq) === len) flags |= TH_PUSH;

  if (winup && len === 0 && !(flags & (TH_SYN | TH_FIN | TH_RST))) tp.tcp.stat.sndwinup++;
  const err = tcpSendSegment(tp, seq, len, flags, recwin, winup ? SEND_ADVANCE | SEND_WINUP : SEND_ADVANCE);
  if (err !== 0) return -err;
  return sendalot ? 1 : 0;
}

/* Branches of tcpOutputOne that few calls take, apart (as tcpSendSegment's) to keep it small. */

/**
 * TCP Fast Open's data in a client's first SYN (RFC 7413 §3, fastopen.ts):
 * one segment's worth, only on the first transmission (a retransmitted
 * SYN goes bare, FreeBSD's rule; the data follows the handshake).
 */
function tcpFastOpenSynLen(tp: TcpCb): number {
  if (tp.state !== TCPS_SYN_SENT || tp.snd_nxt !== tp.iss || tp.t_rxtshift !== 0 || tp.flags & TF_NOOPT) return 0;
  return Math.min(tp.so.snd.cc, tp.t_maxseg);
}

/** A forced send into an open window: persisting is over. */
function tcpPersistEnds(tp: TcpCb): void {
  tp.persistAt = 0;
  tp.t_rxtshift = 0;
  tp.t_persistStart = 0;
}

/** A window closed to zero pulls snd_nxt back and starts the persist timer. */
function tcpWindowClosed(tp: TcpCb): void {
  tp.rexmtAt = 0;
  tp.t_rxtshift = 0;
  tp.snd_nxt = tp.snd_una;
  if (tp.persistAt === 0) tcpSetPersist(tp);
}

/**
 * Data waits and nothing went: unless something will time out, the persist
 * timer makes sure a window update lost on the way cannot deadlock us
 * (RFC 9293 §3.8.6.1).
 */
function tcpNothingSent(tp: TcpCb): void {
  if (tp.rexmtAt === 0 && tp.persistAt === 0 && tp.state >= TCPS_ESTABLISHED) {
    tp.t_rxtshift = 0;
    tcpSetPersist(tp);
  }
}

/** The most data one TSO send carries: an IP datagram of 65535 less the IP and largest TCP headers. */
const TCP_TSO_MAX = 65535 - 20 - 60;

/**
 * The data of a TSO send, at most TCP_TSO_MAX; `len` > t_maxseg. For an
 * interface that cuts it, whole segments (NetBSD: equal sizes down the
 * stack). lo0 never cuts: the packet comes back up whole, as one segment
 * (Linux's loopback passes its GSO packets up the same way), so it takes
 * all it may, with no short segment to avoid.
 */
function tcpTsoLen(tp: TcpCb, ifp: Ifnet, len: number): number {
  const max = Math.min(len, TCP_TSO_MAX);
  if (ifp.flags & IFF_LOOPBACK) return max;
  const seg = tp.t_maxseg;
  return Math.floor(max / seg) * seg;
}

/** tcpSendSegment's `how`: a retransmission that leaves snd_nxt, snd_max, RTT timing and the timer alone (SACK recovery). */
const SEND_RESEND = 0;
/** tcpSendSegment's `how`: a regular transmission; snd_nxt/snd_max, RTT timing and the retransmission timer move. */
const SEND_ADVANCE = 1;
/** Or'ed into `how`: the segment goes out to update the window (counted as sndwinup, not sndacks). */
const SEND_WINUP = 2;

/*
 * Parts of tcpSendSegment that most segments skip, kept apart so that the
 * function every segment runs stays small: V8 optimises a function after
 * running its bytecode a number of times that grows with its size, and a
 * short transfer is over before a large one gets there.
 */

/** The options of a SYN or SYN-ACK (TOF_* bits): what we ask for, or what the peer asked for and we grant. */
function tcpSynOptionMask(tp: TcpCb, flags: number): number {
  let mask = TOF_MSS;
  const synack = (flags & TH_ACK) !== 0;
  if (tp.flags & TF_REQ_SCALE && (!synack || tp.flags & TF_RCVD_SCALE)) mask |= TOF_SCALE;
  if (tp.flags & TF_REQ_SACK && (!synack || tp.flags & TF_SACK_PERMIT)) mask |= TOF_SACKPERM;
  if (tp.flags & TF_REQ_TSTMP && (!synack || tp.flags & TF_RCVD_TSTMP)) mask |= TOF_TS;
  // TCP Fast Open client (RFC 7413 §4.1.3): the cached cookie, or a request for one.
  if (!synack && tp.tfoFlags & TFO_ENABLED && tp.tcp.cfg.fastopenClientEnable) mask |= TOF_FASTOPEN;
  return mask;
}

/** The SACK blocks to send (into tcp.sackBlocks), fewer beside timestamps; counted when any. */
function tcpSackOptionBlocks(tp: TcpCb, mask: number): number {
  const tcp = tp.tcp;
  const nblocks = tp.sackRcv!.blocks(tp.rcv_nxt, tcp.sackBlocks, mask & TOF_TS ? TCP_MAX_SACK_TS : TCP_MAX_SACK);
  if (nblocks > 0) tcp.stat.sack_send_blocks++;
  return nblocks;
}

/** Count a segment about to go (netstat -s's "sent" lines). */
function tcpSendStats(tp: TcpCb, seq: number, len: number, flags: number, winup: boolean): void {
  const v = tp.v;
  const st = tp.tcp.stat;
  st.sndtotal++;
  if (len > 0) {
    if (tp.flags & TF_FORCEDATA && len === 1 && tp.snd_wnd === 0) st.sndprobe++;
    if (((seq - v[SND_MAX]) | 0) < 0) {
      st.sndrexmitpack++;
      st.sndrexmitbyte += len;
    } else {
      st.sndpack++;
      st.sndbyte += len;
    }
  } else if (flags & (TH_SYN | TH_FIN | TH_RST)) st.sndctrl++;
  else if (!winup) st.sndacks++;
}

/** A window probe went: the octet is in flight but snd_nxt stays. */
function tcpProbeSent(tp: TcpCb, len: number, flags: number): void {
  let xlen = len;
  if (flags & TH_SYN) xlen++;
  if (flags & TH_FIN) {
    xlen++;
    tp.flags |= TF_SENTFIN;
  }
  if (seqGt((tp.snd_nxt + xlen) >>> 0, tp.snd_max)) tp.snd_max = (tp.snd_nxt + xlen) >>> 0;
}

/**
 * Build and send one segment [seq, seq + len) with `flags`, offering the
 * receive window `recwin`; `how` is SEND_ADVANCE (optionally | SEND_WINUP)
 * or SEND_RESEND. Returns 0 or an errno.
 */
export function tcpSendSegment(tp: TcpCb, seq: number, len: number, flags: number, recwin: number, how: number): number {
  const v = tp.v;
  const advance = (how & SEND_ADVANCE) !== 0;
  const winup = (how & SEND_WINUP) !== 0;
  const tcp = tp.tcp;
  const k = tcp.kernel;
  const st = tcp.stat;
  const inp = tp.inp;
  // Without `x` every rare field holds its default (var.ts): none is read then.
  const rare = tp.x !== null;

  // Options.
  let mask = 0;
  if (!(tp.flags & TF_NOOPT)) {
    if (flags & TH_SYN) mask = tcpSynOptionMask(tp, flags);
    else if ((tp.flags & (TF_REQ_TSTMP | TF_RCVD_TSTMP)) === (TF_REQ_TSTMP | TF_RCVD_TSTMP) && !(flags & TH_RST)) mask = TOF_TS;
  }
  let nblocks = 0;
  if (tp.flags & TF_SACK_PERMIT && rare && tp.sackRcv !== null && !(flags & (TH_SYN | TH_RST)) && tp.state >= TCPS_ESTABLISHED) {
    nblocks = tcpSackOptionBlocks(tp, mask);
    if (nblocks > 0) mask |= TOF_SACK;
  }
  const tsval = mask & TOF_TS ? (tcp.tsNow() + v[TS_OFFSET]) >>> 0 : 0;
  // Receive buffer autosizing measures from the first timestamp sent (tcpAutoRcvbuf).
  if (tsval !== 0 && v[RFBUF_TS] === 0 && tp.so.rcv.autosize) v[RFBUF_TS] = tsval;
  const optbuf = tcp.optbuf;
  const cookie = mask & TOF_FASTOPEN ? tcpFastOpen(tcp).cached(inp.foreignInto(tcp.scratchDst)) : null;
  const optlen = mask === 0 ? 0 : tcpAddOptions(optbuf, mask, tp.t_ourmss, tp.request_r_scale, tsval, flags & TH_ACK || tp.state >= TCPS_SYN_RECEIVED ? v[TS_RECENT] : 0, tcp.sackBlocks, nblocks, cookie);
  // The peer's MSS bounds data and options together (RFC 6691): SACK
  // blocks beyond the timestamps t_maxseg allows for take from the data.
  // More than one segment's worth is a TSO send (only tcpOutputOne asks
  // for it): each of its segments carries these options.
  const segsz = len > tp.t_maxseg ? tp.t_maxopd - optlen : 0;
  if (segsz === 0 && len > 0 && len + optlen > tp.t_maxopd) {
    len = tp.t_maxopd - optlen;
    flags &= ~(TH_FIN | TH_PUSH);
  }

  const hlen = TCP_HDR_MIN + optlen;
  const v4 = inp.foreignIsV4();
  // Header and options are written below and the data copied over the rest.
  const m = k.mbufs.getRaw(hlen + len, v4 ? TCP_HEADROOM : TCP6_HEADROOM, hlen);
  if (m === null) {
    // No memory: pretend it went and let the retransmission timer retry.
    if (advance && v[REXMT_AT] === 0 && v[PERSIST_AT] === 0 && (len > 0 || flags & (TH_SYN | TH_FIN))) tcpTimerRexmtArm(tp, tp.t_rxtcur);
    return ENOBUFS;
  }
  const b = m.buf;
  const o = m.off;
  for (let i = 0; i < optlen; i++) b[o + TCP_HDR_MIN + i] = optbuf[i]!;
  // Data behind a SYN (Fast Open) starts one sequence number later.
  if (len > 0) tcpSbCopy(tp, sndDataOffset(tp, flags & TH_SYN ? (seq + 1) >>> 0 : seq), len, b, o + hlen);

  // The window: unscaled on SYNs (RFC 7323 §2.2), none on an RST.
  let win = 0;
  if (!(flags & TH_RST)) {
    if (flags & TH_SYN) win = Math.min(recwin, TCP_MAXWIN);
    else win = Math.min(recwin >>> ((tp.scales >> RCV_SCALE_SHIFT) & 0xf), TCP_MAXWIN);
    if (recwin > 0 && ((v[RCV_NXT] + recwin - v[RCV_ADV]) | 0) > 0) v[RCV_ADV] = (v[RCV_NXT] + recwin) >>> 0;
  }
  // ECN (RFC 3168, ecn.ts): the setup flags on a SYN; on an ECN connection CWR/ECE and ECT(0) on new data.
  let tos = inp.tos;
  if (flags & TH_SYN) {
    if (!(flags & TH_ACK)) flags |= tcpEcnSynFlags(tp);
    else if (rare && tp.ecnFlags & ECN_PERMIT) flags |= TH_ECE;
  } else if (rare && tp.ecnFlags & ECN_PERMIT && !(flags & TH_RST)) {
    flags |= tcpEcnOutFlags(tp);
    tos = tcpEcnTos(tp, tos, len, advance && ((seq - v[SND_MAX]) | 0) >= 0);
  }
  const ack = flags & TH_ACK ? v[RCV_NXT] : 0;
  // The urgent pointer while urgent data lies ahead (BSD: one past the urgent byte); else it follows snd_una.
  let urp = 0;
  if (((v[SND_UP] - seq) | 0) > 0 && !(flags & (TH_SYN | TH_RST))) {
    urp = Math.min((v[SND_UP] - seq) | 0, 0xffff);
    flags |= TH_URG;
  } else v[SND_UP] = v[SND_UNA];
  tcpWriteHeader(b, o, inp.lport, inp.fport, seq, ack, hlen, flags, win, urp);
  // IPv4: the checksum is left to the interface (lo0 needs none; ipOutput
  // computes it for any other, kern/mbuf.ts M_CSUM_TCPv4), and with TSO the
  // cutting into segsz-byte segments too (M_CSUM_TSOv4). IPv6 sums it in
  // tcpIpOutput unless the route's interface takes it (IFCAP_CSUM_TCPv6_Tx,
  // M_CSUM_TCPv6) or the cutting (IFCAP_TSOv6, M_CSUM_TSOv6). TCP over UDP
  // (tunnel.ts) sums it in tcpIpOutput, before the UDP header goes on.
  const udpPort = rare ? tp.t_port : 0;
  if (v4 && udpPort === 0) {
    m.csumFlags = segsz === 0 ? M_CSUM_TCPv4 : M_CSUM_TCPv4 | M_CSUM_TSOv4;
    m.segsz = segsz;
  } else if (segsz !== 0) {
    m.csumFlags = M_CSUM_TCPv6 | M_CSUM_TSOv6;
    m.segsz = segsz;
  } else if (tp.t_tsoifp !== null && tp.t_tsoifp.capenable & IFCAP_CSUM_TCPv6_Tx) {
    m.csumFlags = M_CSUM_TCPv6;
  }

  tcpSendStats(tp, seq, len, flags, winup);

  if (advance) {
    if (!(tp.flags & TF_FORCEDATA) || v[PERSIST_AT] === 0) {
      if (len > 0 || flags & (TH_SYN | TH_FIN)) {
        // Output sent from snd_nxt: SYN, data, then FIN.
        let next = seq;
        if (flags & TH_SYN) next = (next + 1) >>> 0;
        next = (next + len) >>> 0;
        if (flags & TH_FIN) {
          next = (next + 1) >>> 0;
          tp.flags |= TF_SENTFIN;
        }
        v[SND_NXT] = next;
        if (((next - v[SND_MAX]) | 0) > 0) {
          v[SND_MAX] = next;
          // Time this segment if nothing is being timed (RFC 6298 §3: one
          // at a time, and only new data, never a retransmission: Karn).
          if (v[T_RTTTIME] === 0) {
            v[T_RTTTIME] = tcp.kernel.host.now() + 1;
            v[T_RTSEQ] = seq;
            st.segstimed++;
          }
        }
      }
      // Something is outstanding: the retransmission timer must run.
      if (v[REXMT_AT] === 0 && v[SND_NXT] !== v[SND_UNA]) {
        if (v[PERSIST_AT] !== 0) {
          v[PERSIST_AT] = 0;
          tp.t_rxtshift = 0;
        }
        tcpTimerRexmtArm(tp, tp.t_rxtcur);
      }
    } else {
      tcpProbeSent(tp, len, flags);
    }
  }
  if (flags & TH_ACK) {
    v[LAST_ACK_SENT] = v[RCV_NXT];
    tp.flags &= ~(TF_ACKNOW | TF_DELACK);
    v[DELACK_AT] = 0;
  }

  // TCP over UDP (tunnel.ts) goes the generic way: checksum here, then the UDP header.
  const err = v4 && udpPort === 0
    ? ipOutput(tcp.inet, m, inp.laddr, inp.faddr, IPPROTO_TCP, inp.ttl, tos, tcpMtudiscFlag(tcp))
    : tcpIpOutput(tcp, m, inp.localInto(tcp.scratchSrc), inp.foreignInto(tcp.scratchDst), inp, tos, udpPort);
  if (err !== 0) {
    // BSD counts the segment as sent and lets the retransmission timer
    // recover; an unreachable route is remembered as the soft error the
    // connection reports if it times out (RFC 1122 §4.2.3.9).
    // EMSGSIZE: DF, and the route's MTU is below our segments (lowered
    // under us, by `route change -mtu`): take it, and the retransmission
    // timer resends at it (NetBSD's tcp_output calls tcp_mtudisc).
    if (err === EMSGSIZE) tcpMtuShrink(tp, v4 ? tcpRouteMtu(tcp.inet, inp.faddr) : 0);
    else if (err !== ENOBUFS) tp.t_softerror = err;
    if (advance && v[REXMT_AT] === 0 && v[PERSIST_AT] === 0 && v[SND_NXT] !== v[SND_UNA]) tcpTimerRexmtArm(tp, tp.t_rxtcur);
    return err;
  }
  return 0;
}

