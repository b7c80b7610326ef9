/*
 * Selective acknowledgment: the sender's scoreboard and loss recovery
 * queries (RFC 6675), the receiver's block list (RFC 2018 §4) and
 * duplicate reports (RFC 2883).
 *
 * Call order (T1):
 *   sender, every ACK        → sb.update(SEG.ACK, opts.sack, opts.nsack, snd_una, snd_max)
 *                              (also with n = 0: it trims what the ACK covered)
 *   loss detected            → sb.isLost(snd_una) / dupacks ≥ DupThresh
 *   enter recovery           → seg = sb.enterRecovery(snd_una, snd_max); retransmit seg (RFC 6675 (4.3))
 *   while cwnd − pipe ≥ SMSS → sb.pipe(...), seg = sb.nextSeg(snd_una, snd_max, sendable end);
 *                              send it; sb.sent(seg.seq, seg.len, seg.rule)   (RFC 6675 (C))
 *   ACK ≥ recovery point     → sb.exitRecovery()
 *   RTO / close              → sb.clear() if T1 chooses to forget SACK state
 *   receiver, OOO data       → rcv.add(start, end) (the segment just queued)
 *   receiver, duplicate data → rcv.dsack(start, end)
 *   building an ACK          → n = rcv.blocks(rcv_nxt, out, ts ? 3 : 4)
 *
 * Sequence numbers are u32 compared modulo 2^32. Nothing here allocates
 * after construction: blocks live in fixed Uint32Arrays, and update(),
 * enterRecovery() and nextSeg() return objects owned by the scoreboard
 * that the next call overwrites. Input from the network is never trusted:
 * blocks outside [snd_una, snd_max], empty or reversed are ignored and
 * counted; overlapping and duplicate blocks merge; capacity is fixed (the
 * highest blocks are forgotten first when it runs out, which can only cost
 * a needless retransmission, never a missed one).
 */
import { TCP_MAX_SACK } from '../../wire/tcp.js';
import { seqGt, seqLeq, seqLt } from './seq.js';

/** RFC 6675 §2 DupThresh. */
export const DUP_THRESH = 3;
/** Blocks an option can carry without timestamps (RFC 2018 §3): defined once, with the option's layout. */
export { TCP_MAX_SACK };
/** Blocks beside the 10-byte timestamp option (RFC 2018 §3). */
export const TCP_MAX_SACK_TS = 3;
/** Default sender scoreboard capacity, in blocks (512 bytes of arrays). */
export const SACK_SCOREBOARD_BLOCKS = 64;
/** Default receiver memory, in blocks: more than one option carries, so older blocks are repeated (RFC 2018 §4). */
export const SACK_RECEIVER_BLOCKS = 8;

/** NextSeg's answer: RFC 6675 (4.3) first retransmission. */
export const SACK_RULE_FIRST = 0;
/** NextSeg rule (1): a lost hole. */
export const SACK_RULE_LOST = 1;
/** NextSeg rule (2): new data. */
export const SACK_RULE_NEW = 2;
/** NextSeg rule (3): a hole not yet deemed lost. */
export const SACK_RULE_HOLE = 3;
/** NextSeg rule (4): the rescue retransmission. */
export const SACK_RULE_RESCUE = 4;

/** A D-SACK block larger than this, or further below the ACK, is nonsense (the largest window is 2^30). */
const DSACK_MAX = 0x40000000;
const HALF = 0x80000000;


/** One segment to send: [seq, seq + len), and which NextSeg rule chose it. */
export class SackSegment {
  seq = 0;
  len = 0;
  rule = 0;
}

/** What one ACK's SACK option told us. */
export class SackUpdate {
  /** Bytes SACKed by this ACK that were not SACKed before (RFC 6675 §2 "duplicate acknowledgment" test). */
  newlySacked = 0;
  /** The first block was a D-SACK (RFC 2883 §4): below the ACK, or inside the second block. */
  dsack = false;
  dsackStart = 0;
  dsackEnd = 0;
  /** Blocks of this ACK ignored as nonsense. */
  ignored = 0;
}

/**
 * The sender's view of what the receiver holds above snd_una (RFC 6675 §3
 * "scoreboard"), and the recovery state RFC 6675 §5 keeps beside it.
 */
export class SackScoreboard {
  /** SMSS for IsLost's (DupThresh − 1)·SMSS test and NextSeg's segment size. Set by T1. */
  maxseg = 536;
  /** Blocks ignored: empty, reversed, at or below snd_una, or beyond snd_max (never sent). */
  badBlocks = 0;
  /** D-SACK blocks seen. */
  dsackBlocks = 0;
  /** Blocks forgotten because the scoreboard was full. */
  overflows = 0;
  /** RFC 6675 HighRxt, as the sequence number just past the highest retransmitted octet. */
  highRxt = 0;
  /** RFC 6675 RescueRxt, likewise exclusive. */
  rescueRxt = 0;
  /** RFC 6675 RecoveryPoint: snd_max when recovery began. */
  recoveryPoint = 0;
  /** Between enterRecovery() and exitRecovery()/clear(). */
  inRecovery = false;

  /** Result of update(); overwritten by the next call. */
  readonly result = new SackUpdate();
  /** Result of enterRecovery()/nextSeg(); overwritten by the next call. */
  readonly seg = new SackSegment();

  /* SACKed blocks [starts[i], ends[i]), sorted, disjoint and never adjacent, all within (base, snd_max]. */
  private readonly starts: Uint32Array;
  private readonly ends: Uint32Array;
  private n = 0;
  /** snd_una as of the last trim: every block lies above it. */
  private base = 0;
  /** HighRxt was set (enterRecovery or sent) and not since reset: otherwise it follows snd_una. */
  private rxtValid = false;

  constructor(capacity = SACK_SCOREBOARD_BLOCKS) {
    const cap = capacity >= 1 ? Math.floor(capacity) : 1;
    this.starts = new Uint32Array(cap);
    this.ends = new Uint32Array(cap);
  }

  /** Blocks held. */
  get numBlocks(): number {
    return this.n;
  }

  /** Start of block i (ascending sequence order), for diagnostics and tests. */
  blockStart(i: number): number {
    return i >= 0 && i < this.n ? this.starts[i]! : 0;
  }

  /** End (exclusive) of block i. */
  blockEnd(i: number): number {
    return i >= 0 && i < this.n ? this.ends[i]! : 0;
  }

  /** The sequence number just past the highest SACKed octet (meaningful when numBlocks > 0). */
  get highSacked(): number {
    return this.n > 0 ? this.ends[this.n - 1]! : this.base;
  }

  /** Bytes SACKed above snd_una. */
  get sackedBytes(): number {
    let sum = 0;
    for (let i = 0; i < this.n; i++) sum += (this.ends[i]! - this.starts[i]!) >>> 0;
    return sum;
  }

  /** Forget everything (connection reset, or T1's choice after an RTO). Counters stay. */
  clear(): void {
    this.n = 0;
    this.inRecovery = false;
    this.rxtValid = false;
    this.highRxt = this.base;
    this.rescueRxt = this.base;
    this.recoveryPoint = this.base;
  }

  /**
   * Take one ACK: trim what SEG.ACK covers, then merge its SACK blocks
   * (`blocks` holds start,end pairs, `n` of them — TcpOptions.sack/nsack).
   * `sndUna` may be snd_una before or after this ACK was applied.
   */
  update(ackSeq: number, blocks: Uint32Array, n: number, sndUna: number, sndMax: number): SackUpdate {
    const r = this.result;
    r.newlySacked = 0;
    r.dsack = false;
    r.ignored = 0;
    ackSeq >>>= 0;
    sndUna >>>= 0;
    sndMax >>>= 0;
    const cum = seqGt(ackSeq, sndUna) && seqLeq(ackSeq, sndMax) ? ackSeq : sndUna;
    this.normalise(cum, sndMax);
    const base = this.base;
    const win = (sndMax - base) >>> 0;
    let count = n | 0;
    if (count < 0) count = 0;
    if (count > blocks.length >> 1) count = blocks.length >> 1;
    for (let i = 0; i < count; i++) {
      const s = blocks[2 * i]! >>> 0;
      const e = blocks[2 * i + 1]! >>> 0;
      if (i === 0 && isDsack(s, e, ackSeq, blocks, count)) {
        // RFC 2883 §4: reports a duplicate, says nothing new about what is missing.
        r.dsack = true;
        r.dsackStart = s;
        r.dsackEnd = e;
        this.dsackBlocks++;
        continue;
      }
      const offE = (e - base) >>> 0;
      if (!seqLt(s, e) || win >= HALF || offE === 0 || offE > win) {
        // Empty or reversed; wholly at or below the cumulative ACK (stale);
        // or covering data we never sent, which no receiver can hold: the
        // block is corrupt or forged, and none of it is believed.
        r.ignored++;
        this.badBlocks++;
        continue;
      }
      // A block reaching below the cumulative ACK only tells us about the part above it.
      let offS = (s - base) >>> 0;
      if (offS > win) offS = 0;
      r.newlySacked += this.insert(offS, offE);
    }
    return r;
  }

  /**
   * RFC 6675 IsLost(SeqNum): DupThresh discontiguous SACKed blocks above
   * `seq`, or more than (DupThresh − 1)·SMSS SACKed bytes above it. A
   * SACKed octet is never lost.
   */
  isLost(seq: number): boolean {
    seq >>>= 0;
    let blocksAbove = 0;
    let bytesAbove = 0;
    for (let k = this.n - 1; k >= 0; k--) {
      const s = this.starts[k]!;
      const e = this.ends[k]!;
      if (seqLeq(e, seq)) break;
      if (seqLeq(s, seq)) return false;
      blocksAbove++;
      bytesAbove += (e - s) >>> 0;
    }
    return blocksAbove >= DUP_THRESH || bytesAbove > (DUP_THRESH - 1) * this.maxseg;
  }

  /**
   * RFC 6675 SetPipe(): for every unSACKed octet in [snd_una, snd_max),
   * one if it is not lost, plus one if it was retransmitted (below
   * HighRxt). IsLost is the same for every octet of a hole, so this walks
   * holes, not octets.
   */
  pipe(sndUna: number, sndMax: number, rxtHighest?: number): number {
    sndUna >>>= 0;
    sndMax >>>= 0;
    this.normalise(sndUna, sndMax);
    const base = this.base;
    const top = (sndMax - base) >>> 0;
    if (top >= HALF) return 0;
    const rxt = this.offsetIn(rxtHighest === undefined ? this.highRxt : rxtHighest >>> 0, top);
    const lostBytes = (DUP_THRESH - 1) * this.maxseg;
    let pipe = 0;
    let bytesAbove = 0;
    let holeEnd = top;
    for (let k = this.n - 1; k >= -1; k--) {
      const holeStart = k >= 0 ? (this.ends[k]! - base) >>> 0 : 0;
      if (holeEnd > holeStart) {
        const blocksAbove = this.n - 1 - k;
        if (!(blocksAbove >= DUP_THRESH || bytesAbove > lostBytes)) pipe += holeEnd - holeStart;
        if (rxt > holeStart) pipe += (rxt < holeEnd ? rxt : holeEnd) - holeStart;
      }
      if (k >= 0) {
        const s = (this.starts[k]! - base) >>> 0;
        bytesAbove += holeStart - s;
        holeEnd = s;
      }
    }
    return pipe;
  }

  /**
   * RFC 6675 §5 (4.1)–(4.3): start loss recovery. RecoveryPoint = snd_max;
   * returns the first segment presumed dropped (from snd_una, within the
   * first hole), which T1 retransmits now; HighRxt and RescueRxt are set to
   * its end as (4.3) asks. Call sent() as well if T1 sends a different length.
   */
  enterRecovery(sndUna: number, sndMax: number): SackSegment {
    sndUna >>>= 0;
    sndMax >>>= 0;
    this.normalise(sndUna, sndMax);
    const base = this.base;
    let top = (sndMax - base) >>> 0;
    if (top >= HALF) top = 0;
    const firstHoleEnd = this.n > 0 ? (this.starts[0]! - base) >>> 0 : top;
    const len = Math.min(this.maxseg, firstHoleEnd);
    this.inRecovery = true;
    this.recoveryPoint = sndMax;
    this.rxtValid = true;
    this.highRxt = (base + len) >>> 0;
    this.rescueRxt = this.highRxt;
    return this.answer(base, len, SACK_RULE_FIRST);
  }

  /** Recovery is over (an ACK reached RecoveryPoint). */
  exitRecovery(): void {
    this.inRecovery = false;
    this.rxtValid = false;
    this.highRxt = this.base;
    this.rescueRxt = this.base;
  }

  /**
   * RFC 6675 NextSeg(): what to send next, or null. `sndLimit` is the end
   * of what may be sent as new data (the lesser of snd_una + send window
   * and the end of the send buffer); rule (2) applies when it is beyond
   * snd_max. The answer is not yet recorded: call sent() once it goes out.
   */
  nextSeg(sndUna: number, sndMax: number, sndLimit: number): SackSegment | null {
    sndUna >>>= 0;
    sndMax >>>= 0;
    sndLimit >>>= 0;
    this.normalise(sndUna, sndMax);
    const base = this.base;
    const top = (sndMax - base) >>> 0;
    if (top >= HALF) return null;
    const mss = this.maxseg;
    const rxt = this.offsetIn(this.highRxt, top);
    const lostBytes = (DUP_THRESH - 1) * mss;

    // Rules (1) and (3): holes below the highest SACKed octet (1.b), at or
    // beyond HighRxt (1.a), lowest first. IsLost only weakens going up, so
    // if the first candidate is not lost, none above it is.
    let bytesAbove = this.sackedBytes;
    let holeSeq = -1;
    let holeLen = 0;
    for (let j = 0; j < this.n; j++) {
      const hs = j === 0 ? 0 : (this.ends[j - 1]! - base) >>> 0;
      const bs = (this.starts[j]! - base) >>> 0;
      const from = hs > rxt ? hs : rxt;
      if (from < bs) {
        const len = Math.min(mss, bs - from);
        if (this.n - j >= DUP_THRESH || bytesAbove > lostBytes) return this.answer(base + from, len, SACK_RULE_LOST);
        holeSeq = from;
        holeLen = len;
        break;
      }
      bytesAbove -= ((this.ends[j]! - base) >>> 0) - bs;
    }

    // Rule (2): new data, if the window and the buffer allow.
    const avail = (sndLimit - sndMax) >>> 0;
    if (avail > 0 && avail < HALF) return this.answer(sndMax, Math.min(mss, avail), SACK_RULE_NEW);

    // Rule (3): the hole found above, lost or not.
    if (holeSeq >= 0) return this.answer(base + holeSeq, holeLen, SACK_RULE_HOLE);

    // Rule (4): one rescue retransmission per recovery, of the highest
    // outstanding unSACKed data, once HighACK has passed RescueRxt.
    if (this.inRecovery && seqGt(sndUna, this.rescueRxt)) {
      let he = top;
      let hs = this.n > 0 ? (this.ends[this.n - 1]! - base) >>> 0 : 0;
      for (let j = this.n - 1; he <= hs && j >= 0; j--) {
        he = (this.starts[j]! - base) >>> 0;
        hs = j > 0 ? (this.ends[j - 1]! - base) >>> 0 : 0;
      }
      if (he > hs) {
        const len = Math.min(mss, he - hs);
        return this.answer(base + he - len, len, SACK_RULE_RESCUE);
      }
    }
    return null;
  }

  /**
   * Record a segment sent on NextSeg's advice, RFC 6675 (C.2): a
   * retransmission moves HighRxt, except rule (4), which sets RescueRxt to
   * RecoveryPoint instead; new data (rule 2) is T1's snd_max.
   */
  sent(seq: number, len: number, rule: number): void {
    if (!(len > 0)) return;
    if (rule === SACK_RULE_NEW) return;
    if (rule === SACK_RULE_RESCUE) {
      this.rescueRxt = this.recoveryPoint;
      return;
    }
    const end = (seq + len) >>> 0;
    if (!this.rxtValid || seqGt(end, this.highRxt)) this.highRxt = end;
    this.rxtValid = true;
    if (rule === SACK_RULE_FIRST && seqGt(end, this.rescueRxt)) this.rescueRxt = end;
  }

  private answer(seq: number, len: number, rule: number): SackSegment {
    const g = this.seg;
    g.seq = seq >>> 0;
    g.len = len;
    g.rule = rule;
    return g;
  }

  /** Offset of `seq` from base, clamped into [0, top]. */
  private offsetIn(seq: number, top: number): number {
    if (seqLt(seq, this.base)) return 0;
    const off = (seq - this.base) >>> 0;
    return off > top ? top : off;
  }

  /**
   * Bring the scoreboard to a new snd_una/snd_max: drop and clip blocks at
   * or below snd_una and beyond snd_max, and keep HighRxt/RescueRxt near
   * the window so that modular comparisons stay meaningful.
   */
  private normalise(una: number, sndMax: number): void {
    if (this.n === 0 || seqGt(una, this.base)) {
      let k = 0;
      while (k < this.n && seqLeq(this.ends[k]!, una)) k++;
      if (k > 0) this.removeRange(0, k);
      if (this.n > 0 && seqLt(this.starts[0]!, una)) this.starts[0] = una;
      this.base = una;
    }
    const base = this.base;
    const top = (sndMax - base) >>> 0;
    if (top < HALF) {
      while (this.n > 0 && ((this.ends[this.n - 1]! - base) >>> 0) > top) {
        const last = this.n - 1;
        if (((this.starts[last]! - base) >>> 0) >= top) this.n--;
        else this.ends[last] = sndMax;
      }
    }
    if (!this.rxtValid || seqLt(this.highRxt, base) || ((this.highRxt - base) >>> 0) >= HALF) this.highRxt = base;
    if (seqLt(this.rescueRxt, base) || ((this.rescueRxt - base) >>> 0) >= HALF) this.rescueRxt = (base - 1) >>> 0;
  }

  /**
   * Merge [base + offS, base + offE) into the sorted list; returns how many
   * of its bytes were not SACKed before.
   */
  private insert(offS: number, offE: number): number {
    const base = this.base;
    const starts = this.starts;
    const ends = this.ends;
    let i = 0;
    // First block ending at or after offS: it overlaps, touches, or lies above.
    while (i < this.n && ((ends[i]! - base) >>> 0) < offS) i++;
    let j = i;
    let covered = 0;
    let ns = offS;
    let ne = offE;
    while (j < this.n) {
      const bs = (starts[j]! - base) >>> 0;
      if (bs > offE) break;
      const be = (ends[j]! - base) >>> 0;
      const lo = bs > offS ? bs : offS;
      const hi = be < offE ? be : offE;
      if (hi > lo) covered += hi - lo;
      if (bs < ns) ns = bs;
      if (be > ne) ne = be;
      j++;
    }
    const merged = j - i;
    if (merged === 0) {
      if (this.n === starts.length) {
        // Full: forget the highest block. If that is the new one, keep what we have.
        this.overflows++;
        if (i === this.n) return 0;
        this.n--;
      }
      starts.copyWithin(i + 1, i, this.n);
      ends.copyWithin(i + 1, i, this.n);
      this.n++;
    } else if (merged > 1) {
      this.removeRange(i + 1, j);
    }
    starts[i] = (base + ns) >>> 0;
    ends[i] = (base + ne) >>> 0;
    return offE - offS - covered;
  }

  private removeRange(from: number, to: number): void {
    this.starts.copyWithin(from, to, this.n);
    this.ends.copyWithin(from, to, this.n);
    this.n -= to - from;
  }
}

/**
 * RFC 2883 §4 as the sender reads it: the first block is a D-SACK when it
 * lies at or below the cumulative ACK, or inside the second block.
 */
function isDsack(s: number, e: number, ack: number, blocks: Uint32Array, count: number): boolean {
  if (!seqLt(s, e) || ((e - s) >>> 0) > DSACK_MAX) return false;
  if (seqLeq(e, ack)) return ((ack - s) >>> 0) <= DSACK_MAX;
  if (count < 2) return false;
  const s2 = blocks[2]! >>> 0;
  const e2 = blocks[3]! >>> 0;
  return seqLt(s2, e2) && seqLeq(s2, s) && seqLeq(e, e2);
}

/**
 * The receiver's SACK blocks (RFC 2018 §4): what lies queued above rcv_nxt,
 * most recently changed first, plus a pending D-SACK (RFC 2883).
 */
export class SackReceiver {
  /** add()/dsack() calls refused as empty or reversed ranges. */
  badBlocks = 0;

  /* Blocks in most-recently-updated order: index 0 is the newest. Disjoint, never adjacent. */
  private readonly starts: Uint32Array;
  private readonly ends: Uint32Array;
  private n = 0;
  private dsackPending = false;
  private dsackStart = 0;
  private dsackEnd = 0;

  constructor(capacity = SACK_RECEIVER_BLOCKS) {
    const cap = capacity >= 1 ? Math.floor(capacity) : 1;
    this.starts = new Uint32Array(cap);
    this.ends = new Uint32Array(cap);
  }

  /** Blocks remembered. */
  get count(): number {
    return this.n;
  }

  /** A D-SACK waits for the next ACK (RFC 2883: send it promptly). */
  get hasDsack(): boolean {
    return this.dsackPending;
  }

  clear(): void {
    this.n = 0;
    this.dsackPending = false;
  }

  /**
   * Out-of-order data [start, end) was queued. RFC 2018 §4: the block that
   * contains it (merged with any block it overlaps or touches) becomes the
   * first one reported; the others keep their recency order. When memory is
   * full the least recently updated block is forgotten.
   */
  add(start: number, end: number): void {
    const s0 = start >>> 0;
    const e0 = end >>> 0;
    if (!seqLt(s0, e0)) {
      this.badBlocks++;
      return;
    }
    let ns = s0;
    let ne = e0;
    const starts = this.starts;
    const ends = this.ends;
    let kept = 0;
    for (let i = 0; i < this.n; i++) {
      const bs = starts[i]!;
      const be = ends[i]!;
      if (seqLeq(bs, ne) && seqLeq(ns, be)) {
        // Overlaps or touches: fold it in. Stored blocks never touch each
        // other, so one pass finds every block the union reaches.
        if (seqLt(bs, ns)) ns = bs;
        if (seqGt(be, ne)) ne = be;
      } else {
        starts[kept] = bs;
        ends[kept] = be;
        kept++;
      }
    }
    if (kept === starts.length) kept--; // forget the oldest
    starts.copyWithin(1, 0, kept);
    ends.copyWithin(1, 0, kept);
    starts[0] = ns;
    ends[0] = ne;
    this.n = kept + 1;
  }

  /**
   * A duplicate [start, end) arrived (RFC 2883 §4): it is reported once, as
   * the first block of the next ACK. When it lies inside a block still
   * queued above rcv_nxt, that block is reported second (it moves to the
   * front of the rest).
   */
  dsack(start: number, end: number): void {
    const s = start >>> 0;
    const e = end >>> 0;
    if (!seqLt(s, e)) {
      this.badBlocks++;
      return;
    }
    this.dsackPending = true;
    this.dsackStart = s;
    this.dsackEnd = e;
    for (let i = 0; i < this.n; i++) {
      const bs = this.starts[i]!;
      const be = this.ends[i]!;
      if (seqLt(s, be) && seqLt(bs, e)) {
        if (i > 0) {
          this.starts.copyWithin(1, 0, i);
          this.ends.copyWithin(1, 0, i);
          this.starts[0] = bs;
          this.ends[0] = be;
        }
        break;
      }
    }
  }

  /**
   * Fill `out` with the blocks for an ACK of `rcvNxt`: the pending D-SACK
   * first (then forgotten: each duplicate is reported once), then the
   * remembered blocks, most recent first, at most `max` in all (4, or 3
   * beside timestamps: RFC 2018 §3) and at most out.length/2. Blocks that
   * rcv_nxt has reached are dropped. Returns the number of blocks.
   */
  blocks(rcvNxt: number, out: Uint32Array, max: number = TCP_MAX_SACK): number {
    this.trim(rcvNxt >>> 0);
    let lim = max | 0;
    if (lim > out.length >> 1) lim = out.length >> 1;
    if (lim <= 0) return 0;
    let k = 0;
    if (this.dsackPending) {
      out[0] = this.dsackStart;
      out[1] = this.dsackEnd;
      k = 1;
      this.dsackPending = false;
    }
    for (let i = 0; i < this.n && k < lim; i++, k++) {
      out[2 * k] = this.starts[i]!;
      out[2 * k + 1] = this.ends[i]!;
    }
    return k;
  }

  private trim(rcvNxt: number): void {
    let kept = 0;
    for (let i = 0; i < this.n; i++) {
      const bs = this.starts[i]!;
      const be = this.ends[i]!;
      if (seqLeq(be, rcvNxt)) continue;
      this.starts[kept] = seqLt(bs, rcvNxt) ? rcvNxt : bs;
      this.ends[kept] = be;
      kept++;
    }
    this.n = kept;
  }
}
