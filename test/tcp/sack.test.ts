/*
 * The SACK sender scoreboard (RFC 6675: Update, IsLost, SetPipe, NextSeg)
 * and the D-SACK reading of RFC 2883, with hostile input. Segments are
 * 1000 bytes so that sequence numbers read easily.
 */
import test from 'ava';

import {
  DUP_THRESH, SACK_RULE_FIRST, SACK_RULE_HOLE, SACK_RULE_LOST, SACK_RULE_NEW, SACK_RULE_RESCUE, SackScoreboard,
} from '../../net/inet/tcp/sack.js';
import { makePrng } from '../wire/helpers.js';

const MSS = 1000;

function board(cap?: number): SackScoreboard {
  const sb = new SackScoreboard(cap);
  sb.maxseg = MSS;
  return sb;
}

/** SACK blocks as the wire parser hands them over. */
function blocks(...pairs: number[]): Uint32Array {
  const a = new Uint32Array(8);
  a.set(pairs.map((x) => x >>> 0));
  return a;
}

function sacks(sb: SackScoreboard, ack: number, una: number, max: number, ...pairs: number[]) {
  return sb.update(ack, blocks(...pairs), pairs.length / 2, una, max);
}

function list(sb: SackScoreboard): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < sb.numBlocks; i++) out.push([sb.blockStart(i), sb.blockEnd(i)]);
  return out;
}

test('IsLost: the hole becomes lost once 3 segments above it are SACKed (RFC 6675 §4, DupThresh 3)', (t) => {
  t.is(DUP_THRESH, 3);
  const sb = board();
  // Ten segments 1000..11000 sent; the first is lost, 2, 3, 4 arrive.
  let r = sacks(sb, 1000, 1000, 11000, 2000, 3000);
  t.is(r.newlySacked, 1000);
  t.false(sb.isLost(1000));
  r = sacks(sb, 1000, 1000, 11000, 2000, 4000);
  t.is(r.newlySacked, 1000);
  t.false(sb.isLost(1000), 'exactly 2·SMSS above is not more than (DupThresh − 1)·SMSS');
  r = sacks(sb, 1000, 1000, 11000, 2000, 5000);
  t.is(r.newlySacked, 1000);
  t.true(sb.isLost(1000));
  t.true(sb.isLost(1999));
  t.false(sb.isLost(2500), 'a SACKed octet is not lost');
  t.false(sb.isLost(5000), 'nothing SACKed above the top');
});

test('IsLost: three discontiguous SACKed blocks above count even when small', (t) => {
  const sb = board();
  sacks(sb, 1000, 1000, 11000, 2000, 2100);
  sacks(sb, 1000, 1000, 11000, 2200, 2300, 2000, 2100);
  t.false(sb.isLost(1000));
  sacks(sb, 1000, 1000, 11000, 2400, 2500, 2200, 2300, 2000, 2100);
  t.is(sb.numBlocks, 3);
  t.true(sb.isLost(1000));
  t.false(sb.isLost(2100), 'only two blocks above');
});

test('SetPipe: lost holes count 0, the rest 1 per octet, retransmitted octets 1 more (RFC 6675 §4)', (t) => {
  const sb = board();
  sacks(sb, 1000, 1000, 11000, 2000, 5000);
  // Hole [1000, 2000) is lost; [5000, 11000) is not.
  t.is(sb.pipe(1000, 11000), 6000);
  const first = sb.enterRecovery(1000, 11000);
  t.deepEqual([first.seq, first.len, first.rule], [1000, 1000, SACK_RULE_FIRST]);
  t.is(sb.highRxt, 2000);
  t.is(sb.pipe(1000, 11000), 7000, 'the retransmission is in flight');
  // Retransmitting an octet that is not deemed lost counts it twice.
  t.is(sb.pipe(1000, 11000, 6000), 6000 + 1000 + 1000);
  // Without SACK information pipe is the whole flight.
  t.is(board().pipe(1000, 11000), 10000);
});

test('NextSeg order: lost holes first, then new data, then holes not yet lost, then one rescue (RFC 6675 §4)', (t) => {
  const sb = board();
  // Segments at 1000 and 3000 lost; 2000 and 4000..7000 SACKed; 7000..11000 outstanding.
  sacks(sb, 1000, 1000, 11000, 4000, 7000, 2000, 3000);
  t.deepEqual(list(sb), [[2000, 3000], [4000, 7000]]);
  t.true(sb.isLost(1000));
  t.true(sb.isLost(3000));
  const first = sb.enterRecovery(1000, 11000);
  t.deepEqual([first.seq, first.len], [1000, 1000]);

  // (1) the next lost hole above HighRxt.
  let g = sb.nextSeg(1000, 11000, 13000)!;
  t.deepEqual([g.seq, g.len, g.rule], [3000, 1000, SACK_RULE_LOST]);
  sb.sent(g.seq, g.len, g.rule);
  t.is(sb.highRxt, 4000);

  // (2) new data while the window and the buffer allow.
  g = sb.nextSeg(1000, 11000, 13000)!;
  t.deepEqual([g.seq, g.len, g.rule], [11000, 1000, SACK_RULE_NEW]);
  sb.sent(g.seq, g.len, g.rule);
  t.is(sb.highRxt, 4000, 'new data does not move HighRxt');
  g = sb.nextSeg(1000, 12000, 12500)!;
  t.deepEqual([g.seq, g.len, g.rule], [12000, 500, SACK_RULE_NEW], 'at most up to the limit');

  // Nothing left: (4) needs HighACK beyond RescueRxt, which is not yet the case.
  t.is(sb.nextSeg(1000, 12000, 12000), null);

  // The first retransmission and segment 2 are acknowledged: ACK 3000.
  sacks(sb, 3000, 1000, 12000, 4000, 7000);
  t.deepEqual(list(sb), [[4000, 7000]]);
  // (4) one rescue: the highest outstanding unSACKed segment.
  g = sb.nextSeg(3000, 12000, 12000)!;
  t.deepEqual([g.seq, g.len, g.rule], [11000, 1000, SACK_RULE_RESCUE]);
  const high = sb.highRxt;
  sb.sent(g.seq, g.len, g.rule);
  t.is(sb.highRxt, high, 'HighRxt is not moved by the rescue');
  t.is(sb.rescueRxt, 11000, 'RescueRxt = RecoveryPoint');
  t.is(sb.nextSeg(3000, 12000, 12000), null, 'only one rescue per recovery');
});

test('NextSeg rule (3): a hole that is not lost goes only after new data', (t) => {
  const sb = board();
  // Two blocks of one segment each above the hole at 1000: not lost (2 blocks, 2000 bytes).
  sacks(sb, 1000, 1000, 11000, 6000, 7000, 3000, 4000);
  t.false(sb.isLost(1000));
  let g = sb.nextSeg(1000, 11000, 12000)!;
  t.is(g.rule, SACK_RULE_NEW);
  g = sb.nextSeg(1000, 11000, 11000)!;
  t.deepEqual([g.seq, g.len, g.rule], [1000, 1000, SACK_RULE_HOLE]);
  sb.sent(g.seq, g.len, g.rule);
  g = sb.nextSeg(1000, 11000, 11000)!;
  t.deepEqual([g.seq, g.len, g.rule], [2000, 1000, SACK_RULE_HOLE], 'the rest of the hole, past HighRxt');
  sb.sent(g.seq, g.len, g.rule);
  g = sb.nextSeg(1000, 11000, 11000)!;
  t.deepEqual([g.seq, g.len, g.rule], [4000, 1000, SACK_RULE_HOLE]);
});

test('NextSeg segments stop at the next SACKed block', (t) => {
  const sb = board();
  sacks(sb, 1000, 1000, 11000, 1500, 5000);
  const g = sb.enterRecovery(1000, 11000);
  t.deepEqual([g.seq, g.len], [1000, 500]);
});

test('recovery bookkeeping: exitRecovery and clear', (t) => {
  const sb = board();
  sacks(sb, 1000, 1000, 11000, 2000, 5000);
  sb.enterRecovery(1000, 11000);
  t.true(sb.inRecovery);
  t.is(sb.recoveryPoint, 11000);
  sacks(sb, 11000, 1000, 11000);
  t.is(sb.numBlocks, 0, 'a cumulative ACK past every block empties the scoreboard');
  sb.exitRecovery();
  t.false(sb.inRecovery);
  sacks(sb, 11000, 11000, 15000, 12000, 14000);
  t.is(sb.numBlocks, 1);
  sb.clear();
  t.is(sb.numBlocks, 0);
  t.is(sb.pipe(11000, 15000), 4000);
});

test('cumulative ACK trims and clips blocks', (t) => {
  const sb = board();
  sacks(sb, 1000, 1000, 20000, 2000, 4000, 6000, 8000, 10000, 12000);
  t.is(sb.sackedBytes, 6000);
  // An ACK inside the second block (the receiver got the hole filled and part of it).
  sacks(sb, 7000, 1000, 20000);
  t.deepEqual(list(sb), [[7000, 8000], [10000, 12000]]);
  t.is(sb.highSacked, 12000);
});

test('D-SACK: a first block below the cumulative ACK is reported, not recorded (RFC 2883 §4)', (t) => {
  const sb = board();
  const r = sacks(sb, 3000, 1000, 11000, 1000, 2000);
  t.true(r.dsack);
  t.deepEqual([r.dsackStart, r.dsackEnd], [1000, 2000]);
  t.is(r.newlySacked, 0);
  t.is(r.ignored, 0);
  t.is(sb.numBlocks, 0);
  t.is(sb.dsackBlocks, 1);
});

test('D-SACK: a first block inside the second reports a duplicate above the ACK (RFC 2883 §4)', (t) => {
  const sb = board();
  sacks(sb, 1000, 1000, 11000, 4000, 7000);
  const r = sacks(sb, 1000, 1000, 11000, 5000, 6000, 4000, 7000);
  t.true(r.dsack);
  t.is(r.newlySacked, 0);
  t.deepEqual(list(sb), [[4000, 7000]]);
  // An ordinary first block is not a D-SACK.
  const r2 = sacks(sb, 1000, 1000, 11000, 8000, 9000, 4000, 7000);
  t.false(r2.dsack);
  t.is(r2.newlySacked, 1000);
});

test('garbage blocks are ignored and counted; the scoreboard is unchanged', (t) => {
  const sb = board();
  sacks(sb, 1000, 1000, 11000, 2000, 3000);
  const before = list(sb);
  const r = sb.update(1000, blocks(
    12000, 13000, // never sent
    5000, 5000, //   empty
    6000, 4000, //   reversed
    0x80001000, 0x80002000, // the other half of sequence space
  ), 4, 1000, 11000);
  t.is(r.ignored, 4);
  t.is(r.newlySacked, 0);
  t.deepEqual(list(sb), before);
  // A non-first block wholly below snd_una is stale.
  const r2 = sacks(sb, 1000, 1000, 11000, 2000, 3000, 200, 800);
  t.is(r2.ignored, 1);
  t.is(sb.badBlocks, 5);
  // A block that runs past snd_max is not believed at all.
  const r3 = sacks(sb, 1000, 1000, 11000, 9000, 11001);
  t.is(r3.ignored, 1);
  // n larger than the array, negative n.
  t.notThrows(() => sb.update(1000, new Uint32Array(2), 50, 1000, 11000));
  t.notThrows(() => sb.update(1000, new Uint32Array(0), -1, 1000, 11000));
});

test('a block reaching below the cumulative ACK counts only above it', (t) => {
  const sb = board();
  const r = sacks(sb, 1000, 1000, 11000, 3000, 4000, 500, 2500);
  t.is(r.newlySacked, 2500);
  t.deepEqual(list(sb), [[1000, 2500], [3000, 4000]]);
});

test('overlapping, duplicate and adjacent blocks merge; newlySacked counts each byte once', (t) => {
  const sb = board();
  let r = sacks(sb, 1000, 1000, 20000, 2000, 4000, 3000, 5000, 2000, 4000);
  t.is(r.newlySacked, 3000);
  t.deepEqual(list(sb), [[2000, 5000]]);
  r = sacks(sb, 1000, 1000, 20000, 5000, 6000);
  t.is(r.newlySacked, 1000);
  t.deepEqual(list(sb), [[2000, 6000]], 'adjacent blocks become one');
  r = sacks(sb, 1000, 1000, 20000, 8000, 9000, 10000, 11000);
  r = sacks(sb, 1000, 1000, 20000, 1500, 12000);
  t.is(r.newlySacked, 10500 - 4000 - 2000);
  t.deepEqual(list(sb), [[1500, 12000]]);
  r = sacks(sb, 1000, 1000, 20000, 1500, 12000);
  t.is(r.newlySacked, 0, 'a repeated block is old news');
});

test('bounded memory: a full scoreboard forgets its highest blocks', (t) => {
  const sb = board(8);
  for (let i = 0; i < 20; i++) sacks(sb, 1000, 1000, 100000, 2000 + 2000 * i, 3000 + 2000 * i);
  t.is(sb.numBlocks, 8);
  t.true(sb.overflows >= 12);
  t.is(sb.blockStart(0), 2000);
  // A new low block still gets in, pushing out the top.
  const top = sb.blockEnd(7);
  sacks(sb, 1000, 1000, 100000, 1200, 1400);
  t.is(sb.blockStart(0), 1200);
  t.true(sb.blockEnd(7) < top);
});

test('sequence numbers wrap: blocks across 2^32 behave as below it', (t) => {
  const una = 0xfffff000;
  const max = (una + 10 * MSS) >>> 0; // 0x1710
  const sb = board();
  sacks(sb, una, una, max, (una + 1000) >>> 0, (una + 5000) >>> 0);
  t.deepEqual(list(sb), [[(una + 1000) >>> 0, (una + 5000) >>> 0]]);
  t.true(sb.isLost(una));
  t.is(sb.pipe(una, max), 5000);
  const g = sb.enterRecovery(una, max);
  t.deepEqual([g.seq, g.len], [una, 1000]);
  const n = sb.nextSeg(una, max, (max + 3000) >>> 0)!;
  t.deepEqual([n.seq, n.rule], [max, SACK_RULE_NEW]);
  // The ACK crosses zero.
  sacks(sb, (una + 6000) >>> 0, una, max);
  t.is(sb.numBlocks, 0);
  t.is(sb.pipe((una + 6000) >>> 0, max), 4000);
});

test('fuzz: random and hostile blocks keep the scoreboard sorted, disjoint, in the window, and never throw', (t) => {
  const next = makePrng(0x5ac4);
  const sb = board(16);
  let una = 0xffff0000;
  let max = (una + 200 * MSS) >>> 0;
  const b = new Uint32Array(8);
  for (let round = 0; round < 20000; round++) {
    const n = next() % 6;
    for (let i = 0; i < 8; i += 2) {
      if (next() % 4 === 0) {
        b[i] = next();
        b[i + 1] = next();
      } else {
        const s = (una + (next() % (250 * MSS)) - 20 * MSS) >>> 0;
        b[i] = s;
        b[i + 1] = (s + (next() % (5 * MSS))) >>> 0;
      }
    }
    const ack = next() % 3 === 0 ? (una + (next() % (3 * MSS))) >>> 0 : una;
    const r = sb.update(ack, b, n, una, max);
    t.true(r.newlySacked >= 0);
    if (((ack - una) | 0) > 0 && ((max - ack) | 0) >= 0) una = ack;
    if (next() % 5 === 0) max = (max + MSS) >>> 0;
    // Invariants.
    for (let i = 0; i < sb.numBlocks; i++) {
      const s = sb.blockStart(i);
      const e = sb.blockEnd(i);
      if (!(((s - una) | 0) >= 0 && ((e - s) | 0) > 0 && ((max - e) | 0) >= 0)) {
        t.fail(`block ${i} [${s}, ${e}) outside (${una}, ${max}] at round ${round}`);
        return;
      }
      if (i > 0 && ((s - sb.blockEnd(i - 1)) | 0) <= 0) {
        t.fail(`blocks ${i - 1} and ${i} overlap or touch at round ${round}`);
        return;
      }
    }
    const p = sb.pipe(una, max);
    const flight = (max - una) >>> 0;
    if (!(p >= 0 && p <= 2 * flight)) {
      t.fail(`pipe ${p} out of range for flight ${flight}`);
      return;
    }
    if (next() % 50 === 0) sb.enterRecovery(una, max);
    const g = sb.nextSeg(una, max, (max + (next() % 3) * MSS) >>> 0);
    if (g) {
      t.true(g.len > 0 && g.len <= MSS);
      sb.sent(g.seq, g.len, g.rule);
    }
    sb.isLost(next());
  }
  t.true(sb.badBlocks > 0);
});
