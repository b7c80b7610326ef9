/*
 * CUBIC (RFC 9438): the window follows W_cubic(t) = C·(t − K)³ + W_max after
 * a loss, fast convergence, the Reno-friendly region, the timeout rules.
 * Time is s.now in ms, advanced by the test; nothing sleeps.
 */
import test from 'ava';

import { CcVars, ccByName, type CcAlgo } from '../../net/inet/tcp/cc/cc.js';
import { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, CubicData, cubicK, cubicWindow } from '../../net/inet/tcp/cc/cubic.js';

const MSS = 1000;
const cubic = (): CcAlgo => ccByName('cubic')!;

/** The connection's CUBIC state (the algorithm creates it in init). */
function data(s: CcVars): CubicData {
  const d = s.ccData;
  if (!(d instanceof CubicData)) throw new Error('ccData is not CubicData');
  return d;
}

/** A SACK connection that lost a packet at cwnd = `w` segments and has just left recovery. */
function afterLoss(w: number, srtt: number): CcVars {
  const algo = cubic();
  const s = new CcVars();
  s.maxseg = MSS;
  s.sack = true;
  s.srtt = srtt;
  algo.init(s);
  s.cwnd = w * MSS;
  s.ssthresh = w * MSS; // already in congestion avoidance
  s.flightsize = s.cwnd;
  algo.congSignal(s, 'dupack');
  s.flightsize = s.cwnd;
  algo.postRecovery(s);
  return s;
}

/**
 * Run `rounds` round trips of `rtt` ms starting at s.now: each round
 * acknowledges one window of full segments, one ACK per segment, spread
 * evenly over the round. Calls `probe` after each round.
 */
function run(s: CcVars, rounds: number, rtt: number, probe?: (round: number) => void): void {
  const algo = cubic();
  for (let r = 0; r < rounds; r++) {
    const start = s.now;
    const segs = Math.max(1, Math.floor(s.cwnd / MSS));
    for (let i = 0; i < segs; i++) {
      s.now = start + (i * rtt) / segs;
      algo.ackReceived(s, MSS, 'ack');
    }
    s.now = start + rtt;
    probe?.(r + 1);
  }
}

test('constants: C = 0.4, beta = 0.7, alpha = 3(1 − beta)/(1 + beta)', (t) => {
  t.is(CUBIC_C, 0.4);
  t.is(CUBIC_BETA, 0.7);
  t.true(Math.abs(CUBIC_ALPHA - 0.9 / 1.7) < 1e-12);
});

test('K and W_cubic are the RFC 9438 formulas', (t) => {
  const k = cubicK(100, 70);
  t.true(Math.abs(k - Math.cbrt(75)) < 1e-12);
  t.true(Math.abs(k - 4.2172) < 1e-4);
  t.true(Math.abs(cubicWindow(0, 100, k) - 70) < 1e-9, 'W(0) = cwnd_epoch');
  t.true(Math.abs(cubicWindow(k, 100, k) - 100) < 1e-12, 'W(K) = W_max');
  t.true(Math.abs(cubicWindow(k + 2, 100, k) - 103.2) < 1e-9, 'convex beyond K: 0.4·2³ + 100');
});

test('a loss: W_max = cwnd, ssthresh = cwnd = 0.7·FlightSize (RFC 9438 §4.6)', (t) => {
  const s = afterLoss(100, 200);
  const d = data(s);
  t.is(d.wMax, 100);
  t.is(d.cwndPrior, 100);
  t.is(s.ssthresh, 70 * MSS);
  t.is(s.cwnd, 70 * MSS);
});

test('after a loss the window follows W_cubic(t) with K = cbrt((W_max − cwnd_epoch)/C) (RFC 9438 §4.2)', (t) => {
  const rtt = 200;
  const s = afterLoss(100, rtt);
  const d = data(s);
  const t0 = s.now;
  const seen: { t: number; w: number }[] = [];
  run(s, 45, rtt, (r) => {
    if (r === 1) {
      t.true(Math.abs(d.k - Math.cbrt(75)) < 1e-9, 'K computed at the epoch start');
      t.is(d.epochStart, t0);
      t.is(d.cwndEpoch, 70);
    }
    seen.push({ t: (s.now - t0) / 1000, w: s.cwnd / MSS });
  });
  // At several t (1 s … 8 s, concave, plateau at K ≈ 4.2 s, convex) the window is
  // between W_cubic(t) and the target one RTT ahead, W_cubic(t + RTT).
  for (const at of [1, 2, 3, 4.2, 5, 6, 7, 8]) {
    const p = seen.find((x) => Math.abs(x.t - at) < 0.101)!;
    const lo = cubicWindow(p.t, 100, d.k) - 1;
    const hi = cubicWindow(p.t + rtt / 1000, 100, d.k) + 1;
    t.true(p.w >= lo && p.w <= hi, `t=${p.t.toFixed(1)}s: cwnd ${p.w.toFixed(2)} in [${lo.toFixed(2)}, ${hi.toFixed(2)}]`);
  }
  // The plateau: near K the window sits at W_max.
  const atK = seen.find((x) => Math.abs(x.t - 4.2) < 0.101)!;
  t.true(Math.abs(atK.w - 100) < 1.5);
  // Reno-friendly never took over at this RTT: W_est stayed below W_cubic.
  t.true(d.wEst < cubicWindow(8, 100, d.k));
});

test('growth per ACK is capped at reaching 1.5·cwnd in one RTT (RFC 9438 §4.2)', (t) => {
  const s = afterLoss(100, 200);
  const d = data(s);
  run(s, 1, 200);
  // Far in the convex region the target is clamped; one RTT cannot grow beyond 1.5×.
  s.now = d.epochStart + 60_000;
  const before = s.cwnd;
  run(s, 1, 200);
  t.true(s.cwnd <= Math.ceil(before * 1.5) + MSS);
  t.true(s.cwnd > before * 1.3);
});

test('fast convergence: a loss below W_max lowers W_max to cwnd·(1 + beta)/2 (RFC 9438 §4.7)', (t) => {
  const algo = cubic();
  const s = afterLoss(100, 200);
  const d = data(s);
  s.cwnd = 90 * MSS;
  s.flightsize = 90 * MSS;
  algo.congSignal(s, 'dupack');
  t.true(Math.abs(d.wMax - 76.5) < 1e-9);
  t.is(s.ssthresh, 63 * MSS);
  // With fast convergence off W_max is the cwnd before reduction.
  const s2 = afterLoss(100, 200);
  const d2 = data(s2);
  d2.fastConvergence = false;
  s2.cwnd = 90 * MSS;
  s2.flightsize = 90 * MSS;
  algo.congSignal(s2, 'dupack');
  t.is(d2.wMax, 90);
  // A loss above the old W_max: W_max = cwnd.
  const s3 = afterLoss(100, 200);
  s3.cwnd = 120 * MSS;
  s3.flightsize = 120 * MSS;
  algo.congSignal(s3, 'dupack');
  t.is(data(s3).wMax, 120);
});

test('the next epoch after fast convergence uses the lowered W_max for K', (t) => {
  const algo = cubic();
  const s = afterLoss(100, 200);
  s.cwnd = 90 * MSS;
  s.flightsize = 90 * MSS;
  algo.congSignal(s, 'dupack');
  s.flightsize = s.cwnd;
  algo.postRecovery(s);
  run(s, 1, 200);
  const d = data(s);
  t.true(Math.abs(d.k - cubicK(76.5, 63)) < 1e-9);
});

test('Reno-friendly region: at a small RTT cwnd = W_est, growing by alpha per RTT, then 1 (RFC 9438 §4.3)', (t) => {
  const rtt = 1; // 1 ms: W_cubic barely moves in the time W_est gains many segments
  const s = afterLoss(100, rtt);
  const d = data(s);
  const t0 = s.now;
  run(s, 20, rtt);
  const w20 = s.cwnd / MSS;
  // 20 windows acknowledged: W_est = 70 + 20·alpha (within rounding of whole segments per round).
  t.true(Math.abs(w20 - (70 + 20 * CUBIC_ALPHA)) < 0.6, `cwnd ${w20} vs ${70 + 20 * CUBIC_ALPHA}`);
  t.true(cubicWindow((s.now - t0) / 1000, d.wMax, d.k) < w20, 'W_cubic(t) is below: Reno-friendly region');
  // Once W_est passes cwnd_prior (100) alpha is 1: about one segment per RTT.
  run(s, 60, rtt);
  const before = s.cwnd / MSS;
  t.true(before > 100);
  run(s, 10, rtt);
  const gained = s.cwnd / MSS - before;
  t.true(gained > 9 && gained < 11, `gained ${gained} in 10 RTTs`);
});

test('RTO: cwnd = 1 SMSS, ssthresh = cwnd·beta; next CA stage has K = 0 and W_max = cwnd_epoch (RFC 9438 §4.8)', (t) => {
  const algo = cubic();
  const s = afterLoss(100, 200);
  run(s, 10, 200);
  const w = s.cwnd;
  s.flightsize = w;
  algo.congSignal(s, 'rto');
  t.is(s.cwnd, MSS);
  t.is(s.ssthresh, Math.floor((w * 7) / 10));
  t.false(s.inRecovery);
  // A second timeout of the same data keeps ssthresh (RFC 5681 §3.1).
  algo.congSignal(s, 'rto');
  t.is(s.ssthresh, Math.floor((w * 7) / 10));
  // Slow start back to ssthresh (1 SMSS per ACK after an RTO), then the first CA ACK.
  let guard = 0;
  while (s.cwnd < s.ssthresh && guard++ < 1000) algo.ackReceived(s, MSS, 'ack');
  t.true(s.cwnd >= s.ssthresh);
  const epochCwnd = s.cwnd / MSS;
  algo.ackReceived(s, MSS, 'ack');
  const d = data(s);
  t.is(d.k, 0);
  t.is(d.wMax, epochCwnd);
  t.is(d.cwndEpoch, epochCwnd);
  t.is(d.wEst > epochCwnd - 1e-9, true);
});

test('leaving slow start without a loss: K = 0, the curve starts at cwnd', (t) => {
  const algo = cubic();
  const s = new CcVars();
  s.maxseg = MSS;
  s.srtt = 50;
  algo.init(s);
  s.ssthresh = 40 * MSS;
  while (s.cwnd < s.ssthresh) algo.ackReceived(s, MSS, 'ack');
  algo.ackReceived(s, MSS, 'ack');
  const d = data(s);
  t.is(d.k, 0);
  t.is(d.wMax, d.cwndEpoch);
});

test('NewReno recovery inside CUBIC: +3 SMSS on entry, inflation, partial ACK (RFC 6582 with beta 0.7)', (t) => {
  const algo = cubic();
  const s = new CcVars();
  s.maxseg = MSS;
  algo.init(s);
  s.cwnd = 100 * MSS;
  s.flightsize = 100 * MSS;
  algo.congSignal(s, 'dupack');
  t.is(s.ssthresh, 70 * MSS);
  t.is(s.cwnd, 73 * MSS);
  algo.ackReceived(s, 0, 'dupack');
  t.is(s.cwnd, 74 * MSS);
  algo.ackReceived(s, 5 * MSS, 'ack');
  t.is(s.cwnd, 70 * MSS);
  s.flightsize = 80 * MSS;
  algo.postRecovery(s);
  t.is(s.cwnd, 70 * MSS);
});

test('ECN-Echo: the CUBIC decrease without recovery (RFC 9438 §4.6)', (t) => {
  const algo = cubic();
  const s = afterLoss(100, 100);
  run(s, 30, 100);
  const w = s.cwnd;
  s.flightsize = w;
  algo.congSignal(s, 'ecn');
  t.is(s.cwnd, Math.floor((w * 7) / 10));
  t.false(s.inRecovery);
  t.is(data(s).epochStart, -1);
});

test('after idle: restart window and a new epoch, idle time not counted in t (RFC 9438 §5.8)', (t) => {
  const algo = cubic();
  const s = afterLoss(100, 100);
  run(s, 30, 100);
  const d = data(s);
  const oldEpoch = d.epochStart;
  s.now += 60_000; // a minute idle
  algo.afterIdle(s);
  t.is(s.cwnd, 10 * MSS);
  t.is(d.epochStart, -1);
  // Straight back into congestion avoidance: the curve restarts now, from the
  // restart window towards the remembered W_max, not 60 s along the old one.
  s.ssthresh = s.cwnd;
  const resumeAt = s.now;
  algo.ackReceived(s, MSS, 'ack');
  t.not(d.epochStart, oldEpoch);
  t.is(d.epochStart, resumeAt);
  t.is(d.cwndEpoch, 10);
  t.true(Math.abs(d.k - cubicK(d.wMax, 10)) < 1e-9);
});

test('switching an open connection from newreno to cubic keeps its window', (t) => {
  const s = new CcVars();
  s.maxseg = MSS;
  ccByName('newreno')!.init(s);
  s.ssthresh = 5 * MSS;
  s.cwnd = 20 * MSS;
  const algo = cubic();
  algo.ackReceived(s, MSS, 'ack');
  t.true(s.ccData instanceof CubicData);
  t.true(s.cwnd >= 20 * MSS);
});

test('nonsense input never throws, never produces NaN', (t) => {
  const algo = cubic();
  const s = new CcVars();
  s.maxseg = 0;
  algo.init(s);
  for (const v of [NaN, -1, Infinity, 0, 1e12]) {
    s.now = v;
    s.srtt = v;
    s.flightsize = v;
    algo.ackReceived(s, v, 'ack');
    algo.congSignal(s, 'dupack');
    algo.postRecovery(s);
    algo.ackReceived(s, 536, 'ack');
    algo.congSignal(s, 'rto');
    algo.afterIdle(s);
  }
  t.true(Number.isFinite(s.cwnd) && s.cwnd > 0);
  t.true(Number.isFinite(s.ssthresh) && s.ssthresh > 0);
});
