/*
 * Congestion control registry and NewReno window arithmetic (RFC 5681,
 * RFC 3465 ABC, RFC 6582, RFC 6675 recovery without inflation, RFC 6928).
 */
import test from 'ava';

import {
  CC_DEFAULT, CcVars, TCP_INFINITE_SSTHRESH, ccByName, ccNames, initialWindow, registerCc, type CcAlgo,
} from '../../net/inet/tcp/cc/cc.js';

const MSS = 1460;

function newreno(): CcAlgo {
  return ccByName('newreno')!;
}

function conn(mss = MSS): CcVars {
  const s = new CcVars();
  s.maxseg = mss;
  newreno().init(s);
  return s;
}

/** Acknowledge `segments` full segments, one ACK each. */
function ackSegments(algo: CcAlgo, s: CcVars, segments: number, perAck = 1): void {
  for (let i = 0; i < segments; i += perAck) algo.ackReceived(s, perAck * s.maxseg, 'ack');
}

test('registry: newreno and cubic by name, newreno the default', (t) => {
  t.is(ccByName('newreno')?.name, 'newreno');
  t.is(ccByName('cubic')?.name, 'cubic');
  t.is(ccByName('bbr'), undefined);
  t.is(ccByName(''), undefined);
  t.deepEqual(ccNames().slice(0, 2), ['newreno', 'cubic']);
  t.is(CC_DEFAULT, 'newreno');
  t.truthy(ccByName(CC_DEFAULT));
});

test('registry: a taken, empty or over-long name is refused', (t) => {
  const fake: CcAlgo = { ...newreno(), name: 'newreno', init() {}, ackReceived() {}, congSignal() {}, postRecovery() {}, afterIdle() {} };
  t.false(registerCc(fake));
  t.is(ccByName('newreno'), newreno());
  t.false(registerCc({ ...fake, name: '' }));
  t.false(registerCc({ ...fake, name: 'x'.repeat(17) }));
  t.true(registerCc({ ...fake, name: 'test-noop' }));
  t.true(ccNames().includes('test-noop'));
});

test('initial window per RFC 6928: min(10·MSS, max(2·MSS, 14600))', (t) => {
  t.is(initialWindow(1460), 14600);
  t.is(initialWindow(536), 5360);
  t.is(initialWindow(1000), 10000);
  t.is(initialWindow(4000), 14600);
  t.is(initialWindow(8960), 17920);
  // More than one SYN retransmission: one segment (RFC 6928 §2).
  t.is(initialWindow(1460, 1), 14600);
  t.is(initialWindow(1460, 2), 1460);
});

test('init: cwnd = IW, ssthresh "arbitrarily high", not in recovery', (t) => {
  const s = conn();
  t.is(s.cwnd, 14600);
  t.is(s.ssthresh, TCP_INFINITE_SSTHRESH);
  t.false(s.inRecovery);
  const lost = new CcVars();
  lost.maxseg = MSS;
  lost.synRexmits = 2;
  newreno().init(lost);
  t.is(lost.cwnd, MSS);
});

test('slow start: +1 SMSS per full-segment ACK (RFC 5681 §3.1)', (t) => {
  const s = conn();
  ackSegments(newreno(), s, 10);
  t.is(s.cwnd, 20 * MSS); // doubled in one RTT
});

test('slow start with ABC: a delayed ACK of 2 segments grows 2 SMSS, a stretch ACK at most L = 2 SMSS (RFC 3465 §2.2)', (t) => {
  const algo = newreno();
  const s = conn();
  algo.ackReceived(s, 2 * MSS, 'ack');
  t.is(s.cwnd, 12 * MSS);
  algo.ackReceived(s, 6 * MSS, 'ack');
  t.is(s.cwnd, 14 * MSS);
  algo.ackReceived(s, 100, 'ack'); // a small segment counts its bytes, not a whole SMSS
  t.is(s.cwnd, 14 * MSS + 100);
  // Delayed ACKs still double the window per RTT.
  const d = conn();
  ackSegments(algo, d, 10, 2);
  t.is(d.cwnd, 20 * MSS);
});

test('congestion avoidance: about 1 SMSS per RTT, whatever the ACK pattern (RFC 5681 §3.1, RFC 3465 §2.1)', (t) => {
  const algo = newreno();
  for (const perAck of [1, 2]) {
    const s = conn();
    s.ssthresh = 10 * MSS;
    s.cwnd = 10 * MSS;
    ackSegments(algo, s, 9, 1);
    t.is(s.cwnd, 10 * MSS, 'no growth before a whole window is acknowledged');
    algo.ackReceived(s, MSS, 'ack');
    t.is(s.cwnd, 11 * MSS);
    // Next RTTs: 11 then 12 segments acknowledged.
    ackSegments(algo, s, 12, perAck);
    ackSegments(algo, s, 12, perAck);
    t.is(s.cwnd, 13 * MSS, `one SMSS per RTT with ${perAck} segment(s) per ACK`);
  }
});

test('dup ACKs outside recovery do not move the window (limited transmit is the caller\'s)', (t) => {
  const algo = newreno();
  const s = conn();
  algo.ackReceived(s, 0, 'dupack');
  algo.ackReceived(s, 0, 'dupack');
  t.is(s.cwnd, 14600);
});

test('entering fast recovery: ssthresh = max(FlightSize/2, 2·SMSS), cwnd = ssthresh + 3·SMSS (RFC 6582 §3.2)', (t) => {
  const algo = newreno();
  const s = conn();
  s.cwnd = 20 * MSS;
  s.flightsize = 20 * MSS;
  algo.congSignal(s, 'dupack');
  t.is(s.ssthresh, 10 * MSS);
  t.is(s.cwnd, 13 * MSS);
  t.true(s.inRecovery);
  // FlightSize, not cwnd: an application-limited sender halves what is in flight.
  const small = conn();
  small.cwnd = 40 * MSS;
  small.flightsize = 3 * MSS;
  algo.congSignal(small, 'dupack');
  t.is(small.ssthresh, 2 * MSS);
  t.is(small.cwnd, 5 * MSS);
});

test('recovery: inflation per dup ACK, partial ACK deflation, exit deflates (RFC 6582 §3.2 (3), (5), (6))', (t) => {
  const algo = newreno();
  const s = conn();
  s.cwnd = 20 * MSS;
  s.flightsize = 20 * MSS;
  algo.congSignal(s, 'dupack');
  algo.ackReceived(s, 0, 'dupack');
  algo.ackReceived(s, 0, 'dupack');
  t.is(s.cwnd, 15 * MSS);
  // Partial ACK of 3 segments: −3 SMSS, +1 SMSS.
  algo.ackReceived(s, 3 * MSS, 'ack');
  t.is(s.cwnd, 13 * MSS);
  // Partial ACK of less than one SMSS: no add-back.
  algo.ackReceived(s, 500, 'ack');
  t.is(s.cwnd, 13 * MSS - 500);
  t.true(s.inRecovery);
  // A second loss signal inside the same recovery changes nothing.
  algo.congSignal(s, 'dupack');
  t.is(s.ssthresh, 10 * MSS);
  // Full ACK with plenty still in flight: cwnd = ssthresh.
  s.flightsize = 12 * MSS;
  algo.postRecovery(s);
  t.false(s.inRecovery);
  t.is(s.cwnd, 10 * MSS);
});

test('leaving recovery with little in flight allows no burst: cwnd = FlightSize + SMSS (RFC 6582 §3.2 (6) option 1)', (t) => {
  const algo = newreno();
  const s = conn();
  s.cwnd = 20 * MSS;
  s.flightsize = 20 * MSS;
  algo.congSignal(s, 'dupack');
  s.flightsize = 2 * MSS;
  algo.postRecovery(s);
  t.is(s.cwnd, 3 * MSS);
  s.flightsize = 0;
  const z = conn();
  z.cwnd = 20 * MSS;
  z.flightsize = 20 * MSS;
  algo.congSignal(z, 'dupack');
  z.flightsize = 0;
  algo.postRecovery(z);
  t.is(z.cwnd, 2 * MSS);
  // Calling it again outside recovery is harmless.
  algo.postRecovery(z);
  t.is(z.cwnd, 2 * MSS);
});

test('SACK recovery: cwnd = ssthresh, no inflation, partial ACKs leave cwnd to the pipe (RFC 6675 §5)', (t) => {
  const algo = newreno();
  const s = conn();
  s.sack = true;
  s.cwnd = 20 * MSS;
  s.flightsize = 20 * MSS;
  algo.congSignal(s, 'dupack');
  t.is(s.cwnd, 10 * MSS);
  algo.ackReceived(s, 0, 'dupack');
  algo.ackReceived(s, 3 * MSS, 'ack');
  t.is(s.cwnd, 10 * MSS);
  s.flightsize = 10 * MSS;
  algo.postRecovery(s);
  t.is(s.cwnd, 10 * MSS);
});

test('after recovery, growth is congestion avoidance', (t) => {
  const algo = newreno();
  const s = conn();
  s.cwnd = 20 * MSS;
  s.flightsize = 20 * MSS;
  algo.congSignal(s, 'dupack');
  s.flightsize = 10 * MSS;
  algo.postRecovery(s);
  ackSegments(algo, s, 10);
  t.is(s.cwnd, 11 * MSS);
});

test('RTO: cwnd = 1 SMSS, ssthresh from FlightSize; a repeated RTO keeps ssthresh (RFC 5681 §3.1)', (t) => {
  const algo = newreno();
  const s = conn();
  s.cwnd = 30 * MSS;
  s.flightsize = 30 * MSS;
  algo.congSignal(s, 'rto');
  t.is(s.cwnd, MSS);
  t.is(s.ssthresh, 15 * MSS);
  s.flightsize = 30 * MSS; // still unacknowledged
  algo.congSignal(s, 'rto');
  t.is(s.ssthresh, 15 * MSS, 'the same data timed out again: ssthresh held');
  t.is(s.cwnd, MSS);
  // New data acknowledged: the next RTO is a new event.
  algo.ackReceived(s, MSS, 'ack');
  s.flightsize = 4 * MSS;
  algo.congSignal(s, 'rto');
  t.is(s.ssthresh, 2 * MSS);
});

test('slow start after an RTO counts at most 1 SMSS per ACK (RFC 3465 §2.3)', (t) => {
  const algo = newreno();
  const s = conn();
  s.cwnd = 30 * MSS;
  s.flightsize = 30 * MSS;
  algo.congSignal(s, 'rto');
  algo.ackReceived(s, 4 * MSS, 'ack');
  t.is(s.cwnd, 2 * MSS);
  algo.ackReceived(s, 2 * MSS, 'ack');
  t.is(s.cwnd, 3 * MSS);
});

test('an RTO ends fast recovery', (t) => {
  const algo = newreno();
  const s = conn();
  s.cwnd = 20 * MSS;
  s.flightsize = 20 * MSS;
  algo.congSignal(s, 'dupack');
  algo.congSignal(s, 'rto');
  t.false(s.inRecovery);
  t.is(s.cwnd, MSS);
});

test('ECN-Echo halves like a loss without recovery (RFC 3168 §6.1.2)', (t) => {
  const algo = newreno();
  const s = conn();
  s.cwnd = 20 * MSS;
  s.flightsize = 20 * MSS;
  algo.congSignal(s, 'ecn');
  t.is(s.ssthresh, 10 * MSS);
  t.is(s.cwnd, 10 * MSS);
  t.false(s.inRecovery);
});

test('restart after idle: cwnd = min(cwnd, IW) (RFC 5681 §4.1)', (t) => {
  const algo = newreno();
  const s = conn();
  s.cwnd = 50 * MSS;
  algo.afterIdle(s);
  t.is(s.cwnd, 10 * MSS);
  s.cwnd = 4 * MSS;
  algo.afterIdle(s);
  t.is(s.cwnd, 4 * MSS);
});

test('ssthresh is whole segments (BSD rounding), never below 2 SMSS', (t) => {
  const algo = newreno();
  const s = conn();
  s.flightsize = 15 * MSS + 700;
  s.cwnd = 16 * MSS;
  algo.congSignal(s, 'dupack');
  t.is(s.ssthresh, 7 * MSS);
});

test('nonsense input never throws and leaves sane numbers', (t) => {
  const algo = newreno();
  const s = new CcVars();
  s.maxseg = 0; // not yet known
  algo.init(s);
  t.true(s.cwnd > 0);
  for (const v of [NaN, -5, Infinity, 0]) {
    algo.ackReceived(s, v, 'ack');
    s.flightsize = v;
    algo.congSignal(s, 'dupack');
    algo.postRecovery(s);
    algo.congSignal(s, 'rto');
  }
  t.true(Number.isFinite(s.cwnd) && s.cwnd > 0);
  t.true(Number.isFinite(s.ssthresh) && s.ssthresh > 0);
  // cwnd has a ceiling.
  const big = conn();
  for (let i = 0; i < 100; i++) newreno().ackReceived(big, 2 ** 31, 'ack');
  t.true(big.cwnd <= TCP_INFINITE_SSTHRESH);
});

test('a plain object without the optional members works too', (t) => {
  const algo = newreno();
  const s = { cwnd: 0, ssthresh: 0, maxseg: 1000, flightsize: 0, recover: 0, now: 0, srtt: 0 };
  algo.init(s);
  t.is(s.cwnd, 10000);
  algo.ackReceived(s, 1000, 'ack');
  t.is(s.cwnd, 11000);
});
