/*
 * The receiver's SACK blocks: RFC 2018 §4 ordering (the block holding the
 * segment that triggered the ACK first, then the most recently reported),
 * the 4/3 block limits, RFC 2883 D-SACK, and the RFC 2018 §5 example of
 * 500-byte segments from 5000 with every other one dropped.
 */
import test from 'ava';

import { SackReceiver, TCP_MAX_SACK, TCP_MAX_SACK_TS } from '../../net/inet/tcp/sack.js';

const out = new Uint32Array(8);

function report(rcv: SackReceiver, rcvNxt: number, max = TCP_MAX_SACK): number[][] {
  const n = rcv.blocks(rcvNxt, out, max);
  const r: number[][] = [];
  for (let i = 0; i < n; i++) r.push([out[2 * i]!, out[2 * i + 1]!]);
  return r;
}

test('limits: 4 blocks, 3 beside timestamps (RFC 2018 §3)', (t) => {
  t.is(TCP_MAX_SACK, 4);
  t.is(TCP_MAX_SACK_TS, 3);
});

test('RFC 2018 §5 case 3: segments 2, 4, 6, 8 dropped — each ACK reports the newest block first', (t) => {
  const rcv = new SackReceiver();
  // 5000 arrives in order: ACK 5500, no SACK.
  t.deepEqual(report(rcv, 5500), []);
  // 6000 (5500 lost).
  rcv.add(6000, 6500);
  t.deepEqual(report(rcv, 5500), [[6000, 6500]]);
  // 7000 (6500 lost).
  rcv.add(7000, 7500);
  t.deepEqual(report(rcv, 5500), [[7000, 7500], [6000, 6500]]);
  // 8000 (7500 lost).
  rcv.add(8000, 8500);
  t.deepEqual(report(rcv, 5500), [[8000, 8500], [7000, 7500], [6000, 6500]]);
  // The 4th segment, 6500, arrives late: it joins two blocks, and that block leads.
  rcv.add(6500, 7000);
  t.deepEqual(report(rcv, 5500), [[6000, 7500], [8000, 8500]]);
});

test('RFC 2018 §5 case 2: first segment lost, the other seven arrive — one growing block', (t) => {
  const rcv = new SackReceiver();
  for (let s = 5500; s < 9000; s += 500) {
    rcv.add(s, s + 500);
    t.deepEqual(report(rcv, 5000), [[5500, s + 500]]);
  }
});

test('blocks at or below rcv_nxt are dropped; a block rcv_nxt reached into is clipped', (t) => {
  const rcv = new SackReceiver();
  rcv.add(6000, 6500);
  rcv.add(7000, 7500);
  t.deepEqual(report(rcv, 6500), [[7000, 7500]], 'the hole before 6000 was filled and delivered');
  t.deepEqual(report(rcv, 7200), [[7200, 7500]]);
  t.deepEqual(report(rcv, 7500), []);
  t.is(rcv.count, 0);
});

test('at most 4 blocks, or 3; older blocks are repeated in recency order (RFC 2018 §4)', (t) => {
  const rcv = new SackReceiver();
  for (let i = 0; i < 6; i++) rcv.add(2000 + 1000 * i, 2500 + 1000 * i);
  t.deepEqual(report(rcv, 1000), [[7000, 7500], [6000, 6500], [5000, 5500], [4000, 4500]]);
  t.deepEqual(report(rcv, 1000, TCP_MAX_SACK_TS), [[7000, 7500], [6000, 6500], [5000, 5500]]);
  // A segment extending an old block brings it to the front.
  rcv.add(2500, 2700);
  t.deepEqual(report(rcv, 1000, 3), [[2000, 2700], [7000, 7500], [6000, 6500]]);
  // The out array bounds the count too.
  t.is(rcv.blocks(1000, new Uint32Array(2)), 1);
  t.is(rcv.blocks(1000, new Uint32Array(0)), 0);
  t.is(rcv.blocks(1000, out, 0), 0);
});

test('memory is bounded: the least recently updated block is forgotten', (t) => {
  const rcv = new SackReceiver(4);
  for (let i = 0; i < 10; i++) rcv.add(2000 + 1000 * i, 2500 + 1000 * i);
  t.is(rcv.count, 4);
  t.deepEqual(report(rcv, 1000), [[11000, 11500], [10000, 10500], [9000, 9500], [8000, 8500]]);
});

test('a segment bridging several blocks merges them all into the first block', (t) => {
  const rcv = new SackReceiver();
  rcv.add(2000, 2500);
  rcv.add(3000, 3500);
  rcv.add(4000, 4500);
  rcv.add(9000, 9500);
  rcv.add(2400, 4100);
  t.deepEqual(report(rcv, 1000), [[2000, 4500], [9000, 9500]]);
  // A duplicate of queued data (the caller uses dsack for it) changes nothing if added.
  rcv.add(3000, 3500);
  t.deepEqual(report(rcv, 1000), [[2000, 4500], [9000, 9500]]);
});

test('RFC 2883 §4.1: a duplicate below rcv_nxt is the first block, sent once', (t) => {
  const rcv = new SackReceiver();
  // ACKs for 3000-3500 and 3500-4000 were lost; the sender retransmits 3000-3500.
  rcv.dsack(3000, 3500);
  t.true(rcv.hasDsack);
  t.deepEqual(report(rcv, 4000), [[3000, 3500]]);
  t.false(rcv.hasDsack);
  t.deepEqual(report(rcv, 4000), [], 'each duplicate is reported once');
});

test('RFC 2883 §4.2: an out-of-order segment and a duplicate — D-SACK first, then the SACK block', (t) => {
  const rcv = new SackReceiver();
  // 4000-4499 lost, 4500-4999 queued; then a retransmission of 3000-3499 arrives.
  rcv.add(4500, 5000);
  t.deepEqual(report(rcv, 4000), [[4500, 5000]]);
  rcv.dsack(3000, 3500);
  t.deepEqual(report(rcv, 4000), [[3000, 3500], [4500, 5000]]);
  t.deepEqual(report(rcv, 4000), [[4500, 5000]]);
});

test('RFC 2883 §4.3: a duplicate of an out-of-order segment — the block holding it comes second', (t) => {
  const rcv = new SackReceiver();
  rcv.add(4500, 5000);
  rcv.add(5000, 5500);
  t.deepEqual(report(rcv, 4000), [[4500, 5500]]);
  rcv.dsack(5000, 5500);
  t.deepEqual(report(rcv, 4000), [[5000, 5500], [4500, 5500]]);
});

test('a D-SACK inside an older block promotes that block to second place', (t) => {
  const rcv = new SackReceiver();
  rcv.add(4000, 5000);
  rcv.add(6000, 6500);
  rcv.add(7000, 7500);
  rcv.dsack(4000, 4500);
  t.deepEqual(report(rcv, 3000), [[4000, 4500], [4000, 5000], [7000, 7500], [6000, 6500]]);
  // With timestamps the D-SACK takes one of the three places.
  rcv.dsack(6000, 6500);
  t.deepEqual(report(rcv, 3000, 3), [[6000, 6500], [6000, 6500], [4000, 5000]]);
});

test('sequence numbers wrap across 2^32', (t) => {
  const rcv = new SackReceiver();
  const base = 0xfffffc00;
  rcv.add((base + 0x200) >>> 0, (base + 0x600) >>> 0); // crosses zero
  rcv.add((base + 0x800) >>> 0, (base + 0xa00) >>> 0);
  t.deepEqual(report(rcv, base), [[0x400, 0x600], [0xfffffe00, 0x200]]);
  rcv.add((base + 0x600) >>> 0, (base + 0x800) >>> 0);
  t.deepEqual(report(rcv, base), [[0xfffffe00, 0x600]]);
  t.deepEqual(report(rcv, 0x100), [[0x100, 0x600]]);
});

test('nonsense ranges are refused and counted', (t) => {
  const rcv = new SackReceiver();
  rcv.add(5000, 5000);
  rcv.add(6000, 5000);
  rcv.dsack(7000, 7000);
  rcv.add(NaN, 3);
  t.is(rcv.badBlocks, 3);
  t.is(rcv.count, 1); // NaN → 0: [0, 3) is a (tiny) range, not a crash
  rcv.clear();
  t.is(rcv.count, 0);
  t.false(rcv.hasDsack);
});
