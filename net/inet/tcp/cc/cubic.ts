/*
 * CUBIC congestion control (RFC 9438).
 *
 * Windows inside the cubic arithmetic are in segments (floating point) and
 * time in seconds, as in the RFC; s.cwnd stays in whole bytes, with the
 * fractional growth carried over in CubicData.frac. Slow start, fast
 * recovery and restart after idle are Reno's (newreno.ts), which RFC 9438
 * §4.10 and §4.6 leave in place; CUBIC changes the decrease (beta 0.7),
 * remembers W_max and grows along W_cubic(t) in congestion avoidance.
 *
 * Not implemented: HyStart++ (RFC 9406, optional in §4.10) and undoing a
 * spurious reduction (§4.9, needs T1's spurious-loss detection).
 */
import type { CcAckKind, CcAlgo, CcSignal, CcState } from './cc.js';
import {
  RenoData, TCP_INFINITE_SSTHRESH, renoAfterIdle, renoDupAck, renoEnterRecovery, renoInit, renoPartialAck,
  renoPostRecovery, renoRto, renoSlowStart, smss,
} from './newreno.js';

/** RFC 9438 §4.2 (and §5.1 on its choice): C = 0.4 segments/s³. */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: beta_cubic = 0.7. */
export const CUBIC_BETA = 0.7;
/** beta_cubic as an exact fraction for byte counts (0.7 is not exact in binary: 90000·0.7 < 63000). */
function betaOf(bytes: number): number {
  return Math.floor((bytes * 7) / 10);
}
/** RFC 9438 §4.3: alpha_cubic = 3·(1 − beta)/(1 + beta), Reno's average rate at beta 0.7. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** RFC 9438 Figure 2: K = cbrt((W_max − cwnd_epoch)/C), in seconds. */
export function cubicK(wMax: number, cwndEpoch: number): number {
  return Math.cbrt((wMax - cwndEpoch) / CUBIC_C);
}

/** RFC 9438 Figure 1: W_cubic(t) = C·(t − K)³ + W_max, in segments, t in seconds. */
export function cubicWindow(t: number, wMax: number, k: number): number {
  const d = t - k;
  return CUBIC_C * d * d * d + wMax;
}

/** Per-connection CUBIC state (lives in s.ccData); Reno's fields come along for slow start and recovery. */
export class CubicData extends RenoData {
  /** W_max: cwnd (segments) just before the last reduction, after fast convergence (§4.7). */
  wMax = 0;
  /** cwnd_prior: cwnd (segments) when ssthresh was last set (§4.3, §4.6). */
  cwndPrior = 0;
  /** K in seconds for the current epoch. */
  k = 0;
  /** t_epoch in ms; −1 until the first ACK of the next congestion-avoidance stage. */
  epochStart = -1;
  /** cwnd_epoch (segments) at the start of the current congestion-avoidance stage. */
  cwndEpoch = 0;
  /** W_est (segments), the Reno-friendly estimate (§4.3). */
  wEst = 0;
  /** Fraction of a byte of growth not yet added to cwnd. */
  frac = 0;
  /** The next epoch follows a timeout: K = 0 and W_max = cwnd_epoch (§4.8). */
  rtoEpoch = false;
  /** Fast convergence (§4.7); on by default. */
  fastConvergence = true;
}

export function cubicData(s: CcState): CubicData {
  const d = s.ccData;
  if (d instanceof CubicData) return d;
  const fresh = new CubicData();
  if (d instanceof RenoData) {
    // Switched from NewReno mid-connection (TCP_CONGESTION): keep Reno's counters.
    fresh.bytesAcked = d.bytesAcked;
    fresh.rtoHold = d.rtoHold;
    fresh.ssAfterRto = d.ssAfterRto;
  }
  s.ccData = fresh;
  return fresh;
}

/** Start a congestion-avoidance stage (§4.2; §4.8 after a timeout). */
function startEpoch(s: CcState, d: CubicData, cwndSeg: number): void {
  d.epochStart = s.now;
  d.cwndEpoch = cwndSeg;
  d.wEst = cwndSeg;
  d.frac = 0;
  if (d.rtoEpoch || d.wMax <= cwndSeg) {
    // After a timeout (§4.8), or entering congestion avoidance from slow
    // start above the last W_max: the curve starts here, convex, K = 0.
    d.wMax = cwndSeg;
    d.k = 0;
    d.rtoEpoch = false;
  } else {
    d.k = cubicK(d.wMax, cwndSeg);
  }
}

/** One ACK in congestion avoidance (§4.2–§4.5). */
function cubicCongAvoid(s: CcState, d: CubicData, acked: number, mss: number): void {
  const cwndSeg = s.cwnd / mss;
  if (d.epochStart < 0) startEpoch(s, d, cwndSeg);
  const elapsed = s.now - d.epochStart;
  const t = elapsed > 0 ? elapsed / 1000 : 0;
  const rtt = s.srtt > 0 ? s.srtt / 1000 : 0;

  // §4.3: W_est grows by alpha per window acknowledged; alpha becomes 1 once
  // W_est reaches cwnd_prior, so CUBIC is never slower than Reno.
  const alpha = d.wEst >= d.cwndPrior ? 1 : CUBIC_ALPHA;
  d.wEst += (alpha * (acked / mss)) / cwndSeg;

  if (cubicWindow(t, d.wMax, d.k) < d.wEst) {
    // Reno-friendly region (§4.3): cwnd = W_est.
    const w = Math.floor(d.wEst * mss);
    if (w > s.cwnd) s.cwnd = w > TCP_INFINITE_SSTHRESH ? TCP_INFINITE_SSTHRESH : w;
    d.frac = 0;
    return;
  }

  // Concave and convex regions (§4.4, §4.5): aim at W_cubic one RTT ahead,
  // clamped to [cwnd, 1.5·cwnd] (§4.2), and move (target − cwnd)/cwnd per
  // segment acknowledged (per segment rather than per ACK so delayed and
  // stretch ACKs grow the window alike).
  let target = cubicWindow(t + rtt, d.wMax, d.k);
  if (target < cwndSeg) target = cwndSeg;
  else if (target > 1.5 * cwndSeg) target = 1.5 * cwndSeg;
  d.frac += ((target - cwndSeg) / cwndSeg) * acked;
  if (d.frac >= 1) {
    const whole = Math.floor(d.frac);
    d.frac -= whole;
    const w = s.cwnd + whole;
    s.cwnd = w > TCP_INFINITE_SSTHRESH ? TCP_INFINITE_SSTHRESH : w;
  }
}

/**
 * Multiplicative decrease (§4.6) with fast convergence (§4.7). ssthresh is
 * flight_size·beta as §4.6 asks (cwnd when T1 reports no flight size).
 */
function cubicReduce(s: CcState, d: CubicData, mss: number): number {
  const cwndSeg = s.cwnd / mss;
  if (d.fastConvergence && cwndSeg < d.wMax) d.wMax = (cwndSeg * (1 + CUBIC_BETA)) / 2;
  else d.wMax = cwndSeg;
  d.cwndPrior = cwndSeg;
  d.epochStart = -1;
  d.bytesAcked = 0;
  d.frac = 0;
  const flight = s.flightsize > 0 ? s.flightsize : s.cwnd;
  return betaOf(flight);
}

class Cubic implements CcAlgo {
  readonly name = 'cubic';

  init(s: CcState): void {
    const d = new CubicData();
    s.ccData = d;
    renoInit(s, d);
  }

  ackReceived(s: CcState, acked: number, kind: CcAckKind): void {
    const mss = smss(s);
    if (kind === 'dupack') {
      renoDupAck(s, mss);
      return;
    }
    if (!(acked > 0)) return;
    const d = cubicData(s);
    if (s.inRecovery) {
      renoPartialAck(s, acked, mss);
      return;
    }
    d.rtoHold = false;
    // §4.10: slow start below ssthresh, as Reno (with ABC).
    if (s.cwnd < s.ssthresh) renoSlowStart(s, d, acked, mss);
    else cubicCongAvoid(s, d, acked, mss);
  }

  congSignal(s: CcState, kind: CcSignal): void {
    const mss = smss(s);
    const d = cubicData(s);
    if (kind === 'rto') {
      // §4.8: cwnd as Reno (1·SMSS), ssthresh with beta_cubic; the next
      // congestion-avoidance stage starts its own curve (K = 0).
      let ssthresh = s.ssthresh;
      if (!d.rtoHold) {
        const flight = s.flightsize > 0 ? s.flightsize : s.cwnd;
        d.cwndPrior = s.cwnd / mss;
        ssthresh = Math.max(betaOf(flight), 2 * mss);
      }
      d.epochStart = -1;
      d.rtoEpoch = true;
      d.frac = 0;
      renoRto(s, d, mss, ssthresh);
      return;
    }
    if (s.inRecovery) return; // one reduction per window of data
    const ss = cubicReduce(s, d, mss);
    s.ssthresh = ss > 2 * mss ? ss : 2 * mss;
    if (kind === 'dupack') {
      // §4.6 cwnd = max(ssthresh, 2·SMSS); the recovery itself is NewReno's
      // (RFC 6582, with +3·SMSS inflation) or SACK's (RFC 6675).
      renoEnterRecovery(s, d, mss);
    } else {
      // §4.6 on ECE: cwnd = max(ssthresh, 1·SMSS), no retransmission.
      s.cwnd = ss > mss ? ss : mss;
    }
  }

  postRecovery(s: CcState): void {
    renoPostRecovery(s, cubicData(s), smss(s));
  }

  afterIdle(s: CcState): void {
    const d = cubicData(s);
    renoAfterIdle(s, d, smss(s));
    // §5.8: time spent idle must not count in t; start a new epoch at the
    // next ACK, from the restart window towards the remembered W_max.
    d.epochStart = -1;
  }
}

export const CUBIC: CcAlgo = new Cubic();
