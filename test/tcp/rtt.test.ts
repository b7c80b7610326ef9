/*
 * RFC 6298 RTO estimation and BSD backoff: worked sequences computed by hand
 * from the RFC's equations (alpha 1/8, beta 1/4, K 4, G 1 ms).
 */
import test from 'ava';

import {
  RTT_FREEBSD, RTT_NETBSD, RttEstimator, TCP_BACKOFF_FREEBSD, TCP_BACKOFF_NETBSD, TCP_MAXRXTSHIFT,
} from '../../net/inet/tcp/rtt.js';

/** No floor, no slop: the bare RFC 6298 arithmetic. */
function bare(): RttEstimator {
  return new RttEstimator({ rtoMin: 0, rtoSlop: 0, rtoMax: 64000, rtoInitial: 1000 });
}

test('before any sample the RTO is the initial 1 s (RFC 6298 (2.1))', (t) => {
  t.is(new RttEstimator().rto, 1000);
  t.is(new RttEstimator(RTT_FREEBSD).rto, 1000);
  const r = new RttEstimator();
  t.is(r.srtt, 0);
  t.is(r.samples, 0);
});

test('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4·RTTVAR) (RFC 6298 (2.2))', (t) => {
  const r = bare();
  r.sample(100);
  t.is(r.srtt, 100);
  t.is(r.rttvar, 50);
  t.is(r.rto, 300);
  t.is(r.samples, 1);
});

test('later samples: RTTVAR from the old SRTT, then SRTT (RFC 6298 (2.3))', (t) => {
  const r = bare();
  r.sample(100);
  r.sample(120);
  // RTTVAR = 3/4·50 + 1/4·|100 − 120| = 42.5; SRTT = 7/8·100 + 1/8·120 = 102.5
  t.is(r.rttvar, 42.5);
  t.is(r.srtt, 102.5);
  t.is(r.rto, 273); // 102.5 + 170 = 272.5, rounded up to whole ms
  r.sample(80);
  // RTTVAR = 3/4·42.5 + 1/4·22.5 = 37.5; SRTT = 7/8·102.5 + 10 = 99.6875
  t.is(r.rttvar, 37.5);
  t.is(r.srtt, 99.6875);
  t.is(r.rto, 250); // 99.6875 + 150 = 249.6875 → 250
});

test('a steady RTT converges: RTTVAR decays, RTO approaches SRTT + G', (t) => {
  const r = bare();
  for (let i = 0; i < 200; i++) r.sample(40);
  t.is(r.srtt, 40);
  t.true(r.rttvar < 0.001);
  t.is(r.rto, 41); // SRTT + max(G = 1, 4·RTTVAR ≈ 0)
});

test('the clock granularity G is the floor of the variance term', (t) => {
  const r = new RttEstimator({ rtoMin: 0, rtoSlop: 0, granularity: 10 });
  for (let i = 0; i < 100; i++) r.sample(5);
  t.is(r.rto, 15);
});

test('RTO below the minimum is clamped up: NetBSD 1 s (RFC 6298 (2.4))', (t) => {
  const r = new RttEstimator(RTT_NETBSD);
  r.sample(10);
  t.is(r.rto, 1000);
  r.sample(400); // RTTVAR = 3/4·5 + 1/4·390 = 101.25, SRTT = 58.75 → 463.75: still clamped
  t.is(r.rto, 1000);
  r.sample(2000); // RTTVAR = 3/4·101.25 + 1/4·1941.25 = 561.25, SRTT = 301.40625 → 2546.40625
  t.is(r.rto, 2547);
});

test('FreeBSD: a 30 ms floor plus 200 ms slop on top of the RFC value', (t) => {
  const r = new RttEstimator(RTT_FREEBSD);
  r.sample(1); // 1 + max(1, 2) = 3 → floor 30 → + 200
  t.is(r.rto, 230);
  r.reset();
  r.sample(100); // 300 + 200
  t.is(r.rto, 500);
});

test('backoff doubles through the NetBSD table and stops at 64×, capped at 64 s (RFC 6298 (5.5), (2.5))', (t) => {
  const r = new RttEstimator({ ...RTT_NETBSD, rtoMax: 1e9 });
  t.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 100].map((n) => r.backoff(n)),
    [1000, 2000, 4000, 8000, 16000, 32000, 64000, 64000, 64000, 64000, 64000, 64000],
  );
  const capped = new RttEstimator(RTT_NETBSD);
  t.is(capped.backoff(6), 64000);
  const sixty = new RttEstimator({ ...RTT_NETBSD, rtoMax: 60000 });
  t.is(sixty.backoff(5), 32000);
  t.is(sixty.backoff(6), 60000);
  t.is(sixty.backoff(TCP_MAXRXTSHIFT), 60000);
});

test('backoff from a measured RTO keeps the floor and the cap', (t) => {
  const r = bare();
  r.sample(100); // RTO 300
  t.is(r.backoff(0), 300);
  t.is(r.backoff(1), 600);
  t.is(r.backoff(3), 2400);
  t.is(r.backoff(6), 19200);
  t.is(r.backoff(7), 19200); // NetBSD table stops at 64×
  const f = new RttEstimator({ rtoMin: 0, rtoSlop: 0, backoffTable: TCP_BACKOFF_FREEBSD });
  f.sample(100);
  t.is(f.backoff(7), 38400); // FreeBSD's goes on to 128×
  t.is(f.backoff(9), 64000); // 512× → the 64 s cap
});

test('FreeBSD SYN schedule: 1.0 s, then 2.2 s, 4.2 s … (slop after the first backoff)', (t) => {
  const r = new RttEstimator(RTT_FREEBSD);
  t.deepEqual([0, 1, 2, 3].map((n) => r.backoff(n)), [1000, 2200, 4200, 8200]);
  // Cumulative send times 0, 1.0, 3.2, 7.4 s as in the packetdrill suite.
});

test('the tables are the BSD ones', (t) => {
  t.deepEqual(TCP_BACKOFF_NETBSD.slice(0, 8), [1, 2, 4, 8, 16, 32, 64, 64]);
  t.is(TCP_BACKOFF_NETBSD.length, TCP_MAXRXTSHIFT + 1);
  t.is(TCP_BACKOFF_FREEBSD.length, TCP_MAXRXTSHIFT + 1);
});

test('discard() keeps the current timeouts but restarts measurement (BSD after many backoffs)', (t) => {
  const r = bare();
  r.sample(100);
  r.sample(120);
  const before = [r.rto, r.backoff(1), r.backoff(4)];
  r.discard();
  t.is(r.srtt, 0);
  t.deepEqual([r.rto, r.backoff(1), r.backoff(4)], before);
  r.sample(500); // treated as a first sample
  t.is(r.srtt, 500);
  t.is(r.rttvar, 250);
  t.is(r.rto, 1500);
});

test('reset() returns to the initial RTO', (t) => {
  const r = bare();
  r.sample(3000);
  t.not(r.rto, 1000);
  r.reset();
  t.is(r.rto, 1000);
  t.is(r.backoff(1), 2000);
  t.is(r.samples, 0);
});

test('nonsense samples are refused and counted, never poison the estimate', (t) => {
  const r = bare();
  r.sample(100);
  for (const bad of [-1, NaN, Infinity, -Infinity]) r.sample(bad);
  t.is(r.badSamples, 4);
  t.is(r.srtt, 100);
  t.is(r.rto, 300);
  t.is(r.backoff(NaN), 300);
  t.is(r.backoff(-3), 300);
  r.sample(0); // a same-tick ACK is a real (tiny) sample
  t.is(r.samples, 2);
  t.true(Number.isInteger(r.rto));
});

test('huge samples stop at the ceiling', (t) => {
  const r = new RttEstimator(RTT_NETBSD);
  r.sample(1e7);
  t.is(r.rto, 64000);
  t.is(r.backoff(3), 64000);
});
