/*
 * 16 MiB through a lossy, ACK-clocked model link, with sequence numbers
 * starting 8 MiB below 2^32 so the transfer wraps: a SackReceiver on one
 * side, a SackScoreboard driving RFC 6675 recovery on the other.
 *
 *   sender ──(3 % loss, retransmissions too)──► receiver
 *     ▲                                            │
 *     └──────────── ACK + up to 3 SACK blocks ◄────┘   (lossless)
 *
 * Checks the modules' contract end to end: every byte arrives, every block
 * the receiver produces is accepted by the scoreboard across the wrap,
 * retransmissions are almost only of lost data, and the run is
 * deterministic. No congestion control (a fixed window).
 */
import test from 'ava';

import { SACK_RULE_NEW, SackReceiver, SackScoreboard, TCP_MAX_SACK_TS } from '../../net/inet/tcp/sack.js';
import { makePrng } from '../wire/helpers.js';

const MSS = 1460;
const TOTAL = 16 * 1024 * 1024;
const WINDOW = 64 * MSS;
const ISS = (2 ** 32 - 8 * 1024 * 1024) >>> 0;

interface Seg {
  seq: number;
  len: number;
}

interface Outcome {
  rounds: number;
  sent: number;
  lost: number;
  retransmits: number;
  duplicatesAtReceiver: number;
  rtos: number;
  recoveries: number;
  rescues: number;
  delivered: number;
  finalAck: number;
  badBlocks: number;
  maxBlocks: number;
  trace: number;
}

function off(seq: number): number {
  return (seq - ISS) >>> 0;
}

function transfer(seed: number, lossPerMille: number): Outcome {
  const next = makePrng(seed);
  const o: Outcome = {
    rounds: 0, sent: 0, lost: 0, retransmits: 0, duplicatesAtReceiver: 0, rtos: 0, recoveries: 0, rescues: 0,
    delivered: 0, finalAck: 0, badBlocks: 0, maxBlocks: 0, trace: 0,
  };

  // Receiver: rcv_nxt, the out-of-order queue as sorted [start, end) offsets, its SACK state.
  let rcvNxt = ISS;
  const ooo: [number, number][] = [];
  const rcv = new SackReceiver();
  const optBlocks = new Uint32Array(8);

  // Sender.
  let una = ISS;
  let sndMax = ISS;
  let dupacks = 0;
  let inRecovery = false;
  let recoverPt = 0;
  const sb = new SackScoreboard();
  sb.maxseg = MSS;

  let wire: Seg[] = [];
  let nextWire: Seg[] = [];
  const transmit = (seq: number, len: number, rexmit: boolean): void => {
    nextWire.push({ seq, len });
    o.sent++;
    if (rexmit) o.retransmits++;
    o.trace = (Math.imul(o.trace ^ seq, 0x9e3779b1) + len) >>> 0;
  };
  const sendLimit = (): number => (ISS + Math.min(TOTAL, off(una) + WINDOW)) >>> 0;
  const sendNewData = (): void => {
    while (off(sndMax) < TOTAL && off(sndMax) - off(una) + MSS <= WINDOW) {
      const len = Math.min(MSS, TOTAL - off(sndMax));
      transmit(sndMax, len, false);
      sndMax = (sndMax + len) >>> 0;
    }
  };

  // The receiver takes one segment and answers with one ACK.
  const receive = (s: Seg): void => {
    const a = off(s.seq);
    const b = a + s.len;
    const nxt = off(rcvNxt);
    if (b <= nxt || ooo.some(([x, y]) => x <= a && b <= y)) {
      rcv.dsack(s.seq, (s.seq + s.len) >>> 0);
      o.duplicatesAtReceiver++;
    } else if (a > nxt) {
      let i = 0;
      while (i < ooo.length && ooo[i]![0] < a) i++;
      ooo.splice(i, 0, [a, b]);
      for (let j = 0; j + 1 < ooo.length; ) {
        if (ooo[j]![1] >= ooo[j + 1]![0]) {
          ooo[j]![1] = Math.max(ooo[j]![1], ooo[j + 1]![1]);
          ooo.splice(j + 1, 1);
        } else j++;
      }
      rcv.add(s.seq, (s.seq + s.len) >>> 0);
    } else {
      let n = Math.max(nxt, b);
      while (ooo.length > 0 && ooo[0]![0] <= n) n = Math.max(n, ooo.shift()![1]);
      o.delivered += n - nxt;
      rcvNxt = (ISS + n) >>> 0;
    }
    const nblocks = rcv.blocks(rcvNxt, optBlocks, TCP_MAX_SACK_TS);
    senderAck(rcvNxt, optBlocks, nblocks);
  };

  // The sender takes one ACK (RFC 6675 §5, with a fixed cwnd = WINDOW).
  const senderAck = (ack: number, blocks: Uint32Array, n: number): void => {
    const r = sb.update(ack, blocks, n, una, sndMax);
    o.badBlocks += r.ignored;
    o.maxBlocks = Math.max(o.maxBlocks, sb.numBlocks);
    if (((ack - una) | 0) > 0) {
      una = ack;
      dupacks = 0;
      if (inRecovery && ((una - recoverPt) | 0) >= 0) {
        inRecovery = false;
        sb.exitRecovery();
      }
    } else if (r.newlySacked > 0) {
      dupacks++;
    }
    if (!inRecovery && una !== sndMax && (dupacks >= 3 || sb.isLost(una))) {
      inRecovery = true;
      o.recoveries++;
      recoverPt = sndMax;
      const f = sb.enterRecovery(una, sndMax);
      if (f.len > 0) transmit(f.seq, f.len, true);
    }
    if (inRecovery) {
      for (let guard = 0; guard < 256 && sb.pipe(una, sndMax) + MSS <= WINDOW; guard++) {
        const g = sb.nextSeg(una, sndMax, sendLimit());
        if (!g) break;
        const isNew = g.rule === SACK_RULE_NEW;
        if (g.rule === 4) o.rescues++;
        transmit(g.seq, g.len, !isNew);
        if (isNew) sndMax = (sndMax + g.len) >>> 0;
        sb.sent(g.seq, g.len, g.rule);
      }
    } else {
      sendNewData();
    }
  };

  sendNewData();
  while (off(una) < TOTAL) {
    o.rounds++;
    if (o.rounds > 200000) break;
    wire = nextWire;
    nextWire = [];
    if (wire.length === 0) {
      // Nothing in flight answered: the retransmission timer (RFC 6298) —
      // forget SACK state, resend from snd_una.
      o.rtos++;
      sb.clear();
      inRecovery = false;
      dupacks = 0;
      transmit(una, Math.min(MSS, TOTAL - off(una)), true);
      continue;
    }
    for (const s of wire) {
      if (next() % 1000 < lossPerMille) {
        o.lost++;
        continue;
      }
      receive(s);
    }
  }
  o.finalAck = una;
  return o;
}

test('16 MiB across the 2^32 wrap at 3 % loss: every byte arrives, SACK recovery does the work', (t) => {
  const o = transfer(0xc0ffee, 30);
  t.true(ISS > ((ISS + TOTAL) >>> 0), 'the sequence space wraps during the transfer');
  t.is(o.delivered, TOTAL);
  t.is(o.finalAck, (ISS + TOTAL) >>> 0);
  t.true(o.lost > 300, `losses happened (${o.lost})`);
  t.is(o.badBlocks, 0, 'every block a conforming receiver sends is accepted, across the wrap');
  t.true(o.maxBlocks <= 64);
  t.true(o.recoveries > 0);
  // Retransmissions repair losses: apart from the one rescue per recovery
  // (RFC 6675 rule 4, often of data still in flight) and timeouts, next to
  // none of them duplicate what the receiver already had.
  t.true(o.duplicatesAtReceiver <= o.rescues + o.rtos + o.retransmits * 0.05,
    `duplicates ${o.duplicatesAtReceiver}, retransmits ${o.retransmits}, rescues ${o.rescues}, rtos ${o.rtos}`);
  // Timeouts are for lost retransmissions only, not the normal case.
  t.true(o.rtos < o.recoveries, `rtos ${o.rtos}, recoveries ${o.recoveries}`);
  t.log(`rounds ${o.rounds}, sent ${o.sent}, lost ${o.lost}, rexmit ${o.retransmits}, dup ${o.duplicatesAtReceiver}, ` +
    `recoveries ${o.recoveries}, rescues ${o.rescues}, rtos ${o.rtos}, max blocks ${o.maxBlocks}`);
});

test('the same seed gives the same packets', (t) => {
  const a = transfer(7, 20);
  const b = transfer(7, 20);
  t.deepEqual(a, b);
  t.is(a.delivered, TOTAL);
});

test('no loss: no recovery, no retransmission', (t) => {
  const o = transfer(1, 0);
  t.is(o.delivered, TOTAL);
  t.is(o.retransmits, 0);
  t.is(o.recoveries, 0);
  t.is(o.sent, Math.ceil(TOTAL / MSS));
});
