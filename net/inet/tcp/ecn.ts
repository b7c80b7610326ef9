/*
 * Explicit Congestion Notification for TCP (RFC 3168 §6.1), as FreeBSD
 * does it (tcp_ecn.c), for IPv4 and IPv6 alike: the IP ECN field is the
 * low two bits of the TOS byte or of the traffic class, so one set of
 * functions serves both families.
 *
 * net.inet.tcp.ecn.enable: 0 off; 1 ask for ECN on our SYNs and accept it
 * on a peer's; 2 (FreeBSD's default) accept it only when the peer asks.
 * net.inet.tcp.ecn.maxretries: SYNs (and SYN-ACKs) retransmitted more
 * often than this go without ECN (RFC 3168 §6.1.1.1: a middlebox may drop
 * ECN setup segments).
 *
 *   handshake   SYN ECE|CWR → SYN-ACK ECE → ECN_PERMIT on both ends
 *   sender      new data ECT(0); CWR on the first segment after a cwnd
 *               reduction (ECE, fast retransmit, RTO)
 *   receiver    CE in IP → ECE on every ACK until a segment with CWR
 *   ECE on ACK  cwnd halved (the CC's 'ecn' signal), once per window
 */
import { TH_ACK, TH_CWR, TH_ECE } from '../../wire/tcp.js';
import { seqGt, seqLeq } from './seq.js';
import { TF_ACKNOW, TF_FASTRECOVERY, TF_FORCEDATA, type TcpCb } from './var.js';

/** TcpCb.ecnFlags (FreeBSD's TF2_ECN_*): ECN was negotiated. */
export const ECN_PERMIT = 0x1;
/** Send CWR on the next segment (the window was reduced). */
export const ECN_SND_CWR = 0x2;
/** Send ECE on every segment until the peer's CWR (a CE mark arrived). */
export const ECN_SND_ECE = 0x4;
/** Our SYN carried ECE|CWR: a SYN-ACK with ECE alone completes the negotiation. */
export const ECN_SYN_SENT = 0x8;

/** The ECN codepoints of the IP header (RFC 3168 §5). */
export const IPTOS_ECN_MASK = 0x3;
export const IPTOS_ECN_ECT0 = 0x2;
export const IPTOS_ECN_CE = 0x3;

/**
 * The ECN flags of a SYN we send (tcp_ecn_output_syn_sent): ECE|CWR with
 * ecn.enable 1, on the first SYN and on up to maxretries retransmissions.
 */
export function tcpEcnSynFlags(tp: TcpCb): number {
  const cfg = tp.tcp.cfg;
  if (cfg.ecn !== 1 || tp.t_rxtshift > cfg.ecnMaxretries) {
    tp.ecnFlags &= ~ECN_SYN_SENT;
    return 0;
  }
  tp.ecnFlags |= ECN_SYN_SENT;
  return TH_ECE | TH_CWR;
}

/** Does a SYN ask for ECN (RFC 3168 §6.1.1: ECE and CWR both set) and do we accept it? */
export function tcpEcnSynAccept(cfgEcn: number, flags: number): boolean {
  return cfgEcn !== 0 && (flags & (TH_ECE | TH_CWR)) === (TH_ECE | TH_CWR);
}

/** SYN-SENT: the SYN-ACK answers our ECN setup SYN with ECE and no CWR (RFC 3168 §6.1.1). */
export function tcpEcnSynAckInput(tp: TcpCb, flags: number): void {
  if (tp.ecnFlags & ECN_SYN_SENT && (flags & (TH_ECE | TH_CWR)) === TH_ECE) {
    tp.ecnFlags |= ECN_PERMIT;
    tp.ecnRecover = tp.iss;
  }
  tp.ecnFlags &= ~ECN_SYN_SENT;
}

/**
 * A synchronized connection's segment (tcp_ecn_input_segment), before
 * anything else looks at it: CWR ends our ECE echo, a CE mark starts it
 * (in that order, so CE on a CWR segment still echoes), and an ECE on an
 * ACK for data sent after the last reduction reduces cwnd once.
 */
export function tcpEcnInput(tp: TcpCb, flags: number, iptos: number, ack: number): void {
  if (!(tp.ecnFlags & ECN_PERMIT)) return;
  const st = tp.tcp.stat;
  // The peer reduced its window: stop echoing, and ACK at once (FreeBSD, D22670: no delayed ACK on CWR).
  if (flags & TH_CWR) {
    tp.ecnFlags &= ~ECN_SND_ECE;
    tp.flags |= TF_ACKNOW;
  }
  const ecn = iptos & IPTOS_ECN_MASK;
  if (ecn === IPTOS_ECN_CE) {
    tp.ecnFlags |= ECN_SND_ECE;
    st.ecn_ce++;
  } else if (ecn !== 0) st.ecn_ect++;
  // RFC 3168 §6.1.2: at most one reduction per window of data; the ACK
  // must cover something sent after the last one (FreeBSD's snd_recover).
  if (flags & TH_ECE && flags & TH_ACK && !(tp.flags & TF_FASTRECOVERY) && seqGt(ack, tp.ecnRecover) && seqLeq(ack, tp.snd_max)) {
    st.ecn_rcwnd++;
    const cc = tp.cc;
    cc.flightsize = (tp.snd_max - tp.snd_una) >>> 0;
    cc.now = tp.tcp.kernel.host.now();
    tp.ccAlgo.congSignal(cc, 'ecn');
    tp.ecnRecover = tp.snd_max;
    tp.ecnFlags |= ECN_SND_CWR;
  }
}

/** A loss reduced cwnd (fast retransmit, RTO): with ECN the next segment carries CWR (RFC 3168 §6.1.2). */
export function tcpEcnCwndReduced(tp: TcpCb): void {
  if (tp.ecnFlags & ECN_PERMIT) {
    tp.ecnFlags |= ECN_SND_CWR;
    tp.ecnRecover = tp.snd_max;
  }
}

/**
 * The flags a segment other than a SYN or RST carries on an ECN
 * connection (tcp_ecn_output_established): CWR once after a reduction,
 * ECE while echoing a CE mark.
 */
export function tcpEcnOutFlags(tp: TcpCb): number {
  let fl = 0;
  if (tp.ecnFlags & ECN_SND_CWR) {
    fl |= TH_CWR;
    tp.ecnFlags &= ~ECN_SND_CWR;
  }
  if (tp.ecnFlags & ECN_SND_ECE) fl |= TH_ECE;
  return fl;
}

/**
 * The TOS byte (IPv6 traffic class) of a segment on an ECN connection:
 * ECT(0) on new data only, never on a retransmission, a window probe or a
 * pure ACK (RFC 3168 §6.1.5, §6.1.6); the socket's ECN bits never leak.
 */
export function tcpEcnTos(tp: TcpCb, tos: number, len: number, newData: boolean): number {
  tos &= ~IPTOS_ECN_MASK;
  if (len > 0 && newData && !(tp.flags & TF_FORCEDATA && len === 1)) {
    tp.tcp.stat.ecn_ect0++;
    return tos | IPTOS_ECN_ECT0;
  }
  return tos;
}
