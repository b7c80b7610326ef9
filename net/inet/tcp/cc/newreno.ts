/*
 * NewReno congestion control: RFC 5681 slow start and congestion avoidance
 * with Appropriate Byte Counting (RFC 3465, L = 2·SMSS), RFC 6582 NewReno
 * window arithmetic for fast recovery, RFC 6675 (SACK) recovery without
 * inflation, RFC 6928 initial window, RFC 5681 §4.1 restart after idle.
 *
 * The Reno building blocks are exported for cubic.ts, which shares slow
 * start, recovery and restart with NewReno (RFC 9438 §4.10, §4.6).
 *
 * This file imports only types from cc.ts so the registry (cc.ts, which
 * imports this file) and the algorithms have no runtime import cycle.
 */
import type { CcAckKind, CcAlgo, CcSignal, CcState } from './cc.js';

/** BSD TCP_MAXWIN << TCP_MAX_WINSHIFT: the largest window there can be; "infinite" ssthresh. */
export const TCP_INFINITE_SSTHRESH = 65535 << 14;

/** RFC 3465 §2.2: the slow-start byte-counting limit, in SMSS (FreeBSD abc_l_var). */
export const ABC_L = 2;

/** RFC 9293 §3.7.1 default SMSS, used if a caller hands us no usable maxseg. */
const TCP_MSS_DEFAULT = 536;

/**
 * RFC 6928 §2 initial window: min(10·SMSS, max(2·SMSS, 14600)). When more
 * than one SYN or SYN-ACK had to be retransmitted the sender falls back to
 * one segment (RFC 6928 §2, RFC 5681 §3.1).
 */
export function initialWindow(maxseg: number, synRexmits = 0): number {
  if (synRexmits > 1) return maxseg;
  return Math.min(10 * maxseg, Math.max(2 * maxseg, 14600));
}

/** The SMSS to compute with: s.maxseg when it is sane. */
export function smss(s: CcState): number {
  const m = s.maxseg;
  return m > 0 && m < TCP_INFINITE_SSTHRESH ? m : TCP_MSS_DEFAULT;
}

function capWindow(w: number): number {
  return w > TCP_INFINITE_SSTHRESH ? TCP_INFINITE_SSTHRESH : w;
}

/** Per-connection state of the Reno family (lives in s.ccData). */
export class RenoData {
  /** RFC 3465 §2.1 bytes_acked: bytes acknowledged during congestion avoidance. */
  bytesAcked = 0;
  /**
   * An RTO fired and no new data was acknowledged since: a further RTO for
   * the same data keeps ssthresh (RFC 5681 §3.1, after equation (4)).
   */
  rtoHold = false;
  /** Slow start after an RTO: ABC uses L = 1·SMSS (RFC 3465 §2.3). */
  ssAfterRto = false;
}

export function renoData(s: CcState): RenoData {
  const d = s.ccData;
  if (d instanceof RenoData) return d;
  const fresh = new RenoData();
  s.ccData = fresh;
  return fresh;
}

/**
 * Connection start: IW, "arbitrarily high" ssthresh (RFC 5681 §3.1). With
 * no RenoData yet (null) there is nothing to reset: a fresh one holds the
 * same zeros, so it is made only when an ACK first needs it and a
 * connection that stays idle never holds one.
 */
export function renoInit(s: CcState, d: RenoData | null): void {
  const mss = smss(s);
  s.cwnd = initialWindow(mss, s.synRexmits ?? 0);
  s.ssthresh = TCP_INFINITE_SSTHRESH;
  s.inRecovery = false;
  if (d === null) return;
  d.bytesAcked = 0;
  d.rtoHold = false;
  d.ssAfterRto = false;
}

/** RFC 5681 §3.1 slow start with RFC 3465 §2.2 ABC: cwnd += min(N, L·SMSS). */
export function renoSlowStart(s: CcState, d: RenoData, acked: number, mss: number): void {
  const limit = (d.ssAfterRto ? 1 : ABC_L) * mss;
  s.cwnd = capWindow(s.cwnd + (acked < limit ? acked : limit));
  if (s.cwnd >= s.ssthresh) d.ssAfterRto = false;
}

/**
 * RFC 5681 §3.1 congestion avoidance counted in bytes (RFC 3465 §2.1): one
 * SMSS each time a full cwnd of data has been acknowledged, i.e. about one
 * SMSS per RTT whatever the ACK pattern (delayed, stretch or lost ACKs).
 */
export function renoCongAvoid(s: CcState, d: RenoData, acked: number, mss: number): void {
  d.bytesAcked += acked;
  if (d.bytesAcked >= s.cwnd) {
    d.bytesAcked -= s.cwnd;
    s.cwnd = capWindow(s.cwnd + mss);
  }
}

/** RFC 5681 §3.2 (4) / RFC 6582 §3.2 (3): each further dup ACK in recovery inflates by SMSS. */
export function renoDupAck(s: CcState, mss: number): void {
  if (s.inRecovery && !s.sack) s.cwnd = capWindow(s.cwnd + mss);
}

/**
 * RFC 6582 §3.2 (5), partial ACK: deflate by the amount acknowledged, add
 * back one SMSS if at least one SMSS was acknowledged. With SACK the pipe
 * governs and cwnd stays ssthresh (RFC 6675 §5).
 */
export function renoPartialAck(s: CcState, acked: number, mss: number): void {
  if (s.sack) return;
  let w = s.cwnd - acked;
  if (acked >= mss) w += mss;
  s.cwnd = w > mss ? w : mss;
}

/** RFC 5681 equation (4): max(FlightSize/2, 2·SMSS), in whole segments as BSD rounds it. */
export function renoSsthresh(s: CcState, mss: number): number {
  const flight = s.flightsize > 0 ? s.flightsize : 0;
  const half = Math.floor(flight / 2 / mss) * mss;
  return half > 2 * mss ? half : 2 * mss;
}

/**
 * Enter fast recovery with ssthresh already set: RFC 6582 §3.2 (2) /
 * RFC 5681 §3.2 (3) cwnd = ssthresh + 3·SMSS (the three segments that
 * left the network); RFC 6675 (4.2) cwnd = ssthresh with SACK.
 */
export function renoEnterRecovery(s: CcState, d: RenoData, mss: number): void {
  s.cwnd = s.sack ? s.ssthresh : capWindow(s.ssthresh + 3 * mss);
  s.inRecovery = true;
  d.bytesAcked = 0;
  d.ssAfterRto = false;
}

/**
 * Leave recovery on the full ACK, RFC 6582 §3.2 (6) option (1):
 * cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS), which deflates the
 * window without allowing a burst when little is left in flight.
 */
export function renoPostRecovery(s: CcState, d: RenoData, mss: number): void {
  if (!s.inRecovery) return;
  const flight = s.flightsize > mss ? s.flightsize : mss;
  const w = flight + mss;
  s.cwnd = w < s.ssthresh ? w : s.ssthresh;
  s.inRecovery = false;
  d.bytesAcked = 0;
}

/**
 * Retransmission timeout, RFC 5681 §3.1: ssthresh from equation (4) (or the
 * algorithm's own `ssthresh`) unless this data was already retransmitted by
 * the timer, cwnd = LW = 1·SMSS (RFC 6928 §2 keeps LW at one segment).
 */
export function renoRto(s: CcState, d: RenoData, mss: number, ssthresh: number): void {
  if (!d.rtoHold) s.ssthresh = ssthresh;
  d.rtoHold = true;
  d.ssAfterRto = true;
  d.bytesAcked = 0;
  s.cwnd = mss;
  s.inRecovery = false;
}

/**
 * Restart after idle, RFC 5681 §4.1: cwnd = min(RW, cwnd) with
 * RW = min(IW, cwnd) (RFC 6928 §2 allows IW as RW). T1 decides that the
 * connection was idle for more than an RTO, as BSD does. RFC 7661's
 * non-validated phase is not implemented: this is BSD's behaviour.
 */
export function renoAfterIdle(s: CcState, d: RenoData, mss: number): void {
  const rw = initialWindow(mss);
  if (s.cwnd > rw) s.cwnd = rw;
  d.bytesAcked = 0;
}

class NewReno implements CcAlgo {
  readonly name = 'newreno';

  init(s: CcState): void {
    const d = s.ccData;
    renoInit(s, d instanceof RenoData ? d : null);
  }

  ackReceived(s: CcState, acked: number, kind: CcAckKind): void {
    const mss = smss(s);
    if (kind === 'dupack') {
      renoDupAck(s, mss);
      return;
    }
    if (!(acked > 0)) return;
    const d = renoData(s);
    if (s.inRecovery) {
      renoPartialAck(s, acked, mss);
      return;
    }
    d.rtoHold = false;
    if (s.cwnd < s.ssthresh) renoSlowStart(s, d, acked, mss);
    else renoCongAvoid(s, d, acked, mss);
  }

  congSignal(s: CcState, kind: CcSignal): void {
    const mss = smss(s);
    const d = renoData(s);
    if (kind === 'rto') {
      renoRto(s, d, mss, renoSsthresh(s, mss));
      return;
    }
    // One reduction per window of data (RFC 5681 §3.2, RFC 6582 §3.2 (1)).
    if (s.inRecovery) return;
    s.ssthresh = renoSsthresh(s, mss);
    if (kind === 'dupack') {
      renoEnterRecovery(s, d, mss);
    } else {
      // ECN-Echo, RFC 3168 §6.1.2: halve like a loss, retransmit nothing.
      s.cwnd = s.ssthresh;
      d.bytesAcked = 0;
    }
  }

  postRecovery(s: CcState): void {
    renoPostRecovery(s, renoData(s), smss(s));
  }

  afterIdle(s: CcState): void {
    renoAfterIdle(s, renoData(s), smss(s));
  }
}

export const NEWRENO: CcAlgo = new NewReno();
