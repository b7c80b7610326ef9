/*
 * Fault-injecting link middleware: wraps an interface driver so that what
 * the interface transmits is lost, queued behind a bandwidth limit,
 * delayed, reordered, duplicated or corrupted before the real driver puts
 * it on the medium. A wrapper, not a flag in a driver (gVisor's nested
 * link endpoints, smoltcp's FaultInjector), so any driver (shmif, virt, a
 * test wire) can be made lossy:
 *
 *   ifp.driver = faultyLink(ifp.driver, { seed: 7, loss: 0.02, delayMs: 5, bandwidthBps: 100e6 });
 *
 * What happens to one frame, in order (one model of a lossy bottleneck):
 *
 *   transmit ─► loss ─► tail-drop queue ─► serialiser at bandwidthBps
 *            ─► propagation: delayMs + jitter, first in first out
 *               (a reordered frame is held back reorderMs more, so the
 *               frames behind it overtake it)
 *            ─► corruption (one bit), duplication ─► inner driver transmit
 *
 * Time is kernel callouts on the interface's kernel (nothing here reads a
 * host clock), one callout per interface, armed for the earliest frame
 * due. Randomness is the wrapper's own PRNG (splitmix32) from `seed`, so
 * a seed gives the same faults for the same sequence of frames. Every frame
 * draws the same five numbers whatever is enabled, so turning corruption
 * on does not change which frames are lost.
 *
 * Corruption flips one bit of an IPv4 frame after the Ethernet header: a
 * real link's frame check sequence would have caught an error in the link
 * header, and ARP has no checksum, so flipping bits there tests cache
 * poisoning rather than checksums. One flipped bit always changes the
 * Internet checksum (RFC 1071 §2: the one's complement sum detects every
 * single-bit error), so every corrupted frame is dropped by IP, ICMP, UDP or
 * TCP input and counted there. Frames of other types are passed untouched
 * (counted in corruptSkipped).
 *
 * Nothing here allocates per frame except copies for duplicated and
 * corrupted frames (the original may be a buffer the stack still reads).
 * Frames queued when the interface goes down, detaches or its kernel halts
 * are freed.
 */
import type { Callout } from '../../kern/callout.js';
import type { Kernel } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import type { IfDriver, Ifnet } from '../interface.js';
import { ETHERTYPE_IP, ETHER_HDR_LEN } from '../wire/ether.js';

export interface FaultOptions {
  /** PRNG seed (any 32-bit integer). */
  seed: number;
  /** Probability that a frame is lost, 0..1. */
  loss?: number;
  /** Probability that a frame is held back and overtaken, 0..1. */
  reorder?: number;
  /** How long a reordered frame is held back beyond its normal arrival (ms); default 2. */
  reorderMs?: number;
  /** Probability that a frame arrives twice, 0..1. */
  duplicate?: number;
  /** Probability that one bit of an IPv4 frame is flipped, 0..1. */
  corrupt?: number;
  /** One-way propagation delay (ms). */
  delayMs?: number;
  /** Extra delay drawn uniformly from [0, jitterMs) per frame; frames keep their order. */
  jitterMs?: number;
  /** Link rate in bits per second; 0 or absent: no limit (and no queue). */
  bandwidthBps?: number;
  /** Frames the bottleneck holds, the one being serialised included; beyond it the tail is dropped. Default 100. */
  queueLimit?: number;
}

/** What the link did, for tests and `netstat`-like reports. */
export class FaultStats {
  /** Frames offered by the interface. */
  frames = 0;
  bytes = 0;
  /** Frames handed to the inner driver (duplicates included). */
  delivered = 0;
  /** Lost at random. */
  lost = 0;
  /** Dropped at the tail of a full bottleneck queue. */
  queueDrops = 0;
  reordered = 0;
  duplicated = 0;
  corrupted = 0;
  /** Chosen for corruption but not IPv4: passed untouched. */
  corruptSkipped = 0;
  /** Copies for duplication or corruption the kernel had no memory for. */
  nomem = 0;
  /** Frames freed because the interface went down, detached or its kernel halted. */
  flushed = 0;
  /** Largest bottleneck queue seen (frames). */
  maxQueue = 0;
}

/** splitmix32: small, fast, and good enough to draw link faults from a seed. */
class SplitMix32 {
  private state: number;
  constructor(seed: number) {
    this.state = seed | 0;
  }

  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }
}

/**
 * A growable ring of frames with their due times (monotone within one ring).
 * It starts small and doubles: a lab holds three rings per interface, most
 * of them never hold more than a few frames. Times are plain number arrays
 * (packed doubles): a typed array costs half a KiB of buffer objects each.
 */
class FrameRing {
  private frames: Array<Mbuf | null> = new Array<Mbuf | null>(4).fill(null);
  private due: number[] = [0, 0, 0, 0];
  private head = 0;
  length = 0;

  push(m: Mbuf, due: number): void {
    if (this.length === this.frames.length) this.grow();
    const i = (this.head + this.length) & (this.frames.length - 1);
    this.frames[i] = m;
    this.due[i] = due;
    this.length++;
  }

  /** Due time of the first frame; Infinity when empty. */
  firstDue(): number {
    return this.length === 0 ? Infinity : this.due[this.head]!;
  }

  shift(): Mbuf {
    const m = this.frames[this.head]!;
    this.frames[this.head] = null;
    this.head = (this.head + 1) & (this.frames.length - 1);
    this.length--;
    return m;
  }

  private grow(): void {
    const n = this.frames.length;
    const frames = new Array<Mbuf | null>(2 * n).fill(null);
    const due: number[] = Array.from({ length: 2 * n }, () => 0);
    for (let i = 0; i < n; i++) {
      const j = (this.head + i) & (n - 1);
      frames[i] = this.frames[j]!;
      due[i] = this.due[j]!;
    }
    this.frames = frames;
    this.due = due;
    this.head = 0;
  }
}

/** A growable ring of numbers: when each frame in the bottleneck finishes serialising. */
class TimeRing {
  private t: number[] = [0, 0, 0, 0];
  private head = 0;
  length = 0;

  push(v: number): void {
    if (this.length === this.t.length) {
      const n = this.t.length;
      const t: number[] = Array.from({ length: 2 * n }, () => 0);
      for (let i = 0; i < n; i++) t[i] = this.t[(this.head + i) & (n - 1)]!;
      this.t = t;
      this.head = 0;
    }
    this.t[(this.head + this.length) & (this.t.length - 1)] = v;
    this.length++;
  }

  /** Forget every time <= now (those frames have left the bottleneck). */
  dropUpTo(now: number): void {
    const mask = this.t.length - 1;
    while (this.length > 0 && this.t[this.head]! <= now) {
      this.head = (this.head + 1) & mask;
      this.length--;
    }
  }

  clear(): void {
    this.head = 0;
    this.length = 0;
  }
}

/** The link state of one interface (a wrapped driver may serve several, as a hub's does). */
class Lane {
  readonly callout: Callout<Lane>;
  /** Frames in arrival order. */
  readonly inOrder = new FrameRing();
  /** Reordered frames, held back. */
  readonly held = new FrameRing();
  /** When each frame in the bottleneck finishes serialising. */
  readonly serialising = new TimeRing();
  /** When the serialiser is next free. */
  linkFree = 0;
  /** Arrival time of the last in-order frame (jitter never reorders). */
  lastArrival = 0;
  /** Arrival time of the last held frame (held frames keep their order among themselves). */
  lastHeld = 0;

  constructor(
    readonly link: FaultyLink,
    readonly ifp: Ifnet,
    readonly kernel: Kernel,
  ) {
    this.callout = kernel.callouts.create<Lane>(laneFire, this);
  }

  get queued(): number {
    return this.inOrder.length + this.held.length;
  }

  /** Arm the callout for the earliest frame due (or leave it idle). */
  arm(): void {
    const next = Math.min(this.inOrder.firstDue(), this.held.firstDue());
    if (next === Infinity) this.callout.stop();
    else if (!this.callout.pending || this.callout.deadline !== next) this.callout.resetAt(next);
  }

  /** Free everything queued (interface down, detached, kernel halted). */
  flush(): void {
    const mbufs = this.kernel.mbufs;
    let n = 0;
    while (this.inOrder.length > 0) {
      mbufs.free(this.inOrder.shift());
      n++;
    }
    while (this.held.length > 0) {
      mbufs.free(this.held.shift());
      n++;
    }
    this.link.stats.flushed += n;
    this.serialising.clear();
    this.linkFree = 0;
    this.lastArrival = 0;
    this.lastHeld = 0;
    this.callout.stop();
  }
}

/** The lane's callout: hand every frame now due to the inner driver, earliest first. */
function laneFire(lane: Lane): void {
  const now = lane.kernel.host.now();
  const link = lane.link;
  for (;;) {
    const a = lane.inOrder.firstDue();
    const b = lane.held.firstDue();
    if (a <= b) {
      if (a > now) break;
      link.deliver(lane, lane.inOrder.shift());
    } else {
      if (b > now) break;
      link.deliver(lane, lane.held.shift());
    }
  }
  lane.arm();
}

function probability(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (!(v >= 0 && v <= 1)) throw new RangeError(`faultyLink: ${name} must be a probability in [0, 1], not ${v}`);
  return v;
}

function nonNegative(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!(v >= 0 && Number.isFinite(v))) throw new RangeError(`faultyLink: ${name} must be a finite number >= 0, not ${v}`);
  return v;
}

/** An IfDriver that adds faults in front of another; `stats` counts what it did. */
export class FaultyLink implements IfDriver {
  readonly stats = new FaultStats();
  // Changed only through configure(), which checks them.
  loss = 0;
  reorder = 0;
  reorderMs = 2;
  duplicate = 0;
  corrupt = 0;
  delayMs = 0;
  jitterMs = 0;
  bandwidthBps = 0;
  queueLimit = 100;
  /** Present exactly when the inner driver has one (ifioctl tells "no ioctl" from "unknown ioctl"). */
  readonly ioctl?: (ifp: Ifnet, cmd: string, arg: unknown) => unknown;
  private readonly rng: SplitMix32;
  private readonly lanes = new WeakMap<Ifnet, Lane>();
  private readonly laneList: Lane[] = [];
  private lastLane: Lane | null = null;

  constructor(
    readonly inner: IfDriver,
    opts: FaultOptions,
  ) {
    if (!Number.isInteger(opts.seed)) throw new RangeError(`faultyLink: seed must be an integer, not ${opts.seed}`);
    this.rng = new SplitMix32(opts.seed);
    this.configure(opts);
    const innerIoctl = inner.ioctl;
    if (innerIoctl) this.ioctl = (ifp, cmd, arg) => innerIoctl.call(inner, ifp, cmd, arg);
  }

  /**
   * Set every fault at once (an absent one goes back to its default), at any
   * time: frames already queued keep the times they were given, the next
   * frame sees the new link. The PRNG goes on from where it was, so a seed
   * and the same sequence of changes give the same faults. All values are
   * checked before any is set: a RangeError leaves the link as it was.
   */
  configure(opts: Omit<FaultOptions, 'seed'>): void {
    const loss = probability('loss', opts.loss);
    const reorder = probability('reorder', opts.reorder);
    const duplicate = probability('duplicate', opts.duplicate);
    const corrupt = probability('corrupt', opts.corrupt);
    const reorderMs = nonNegative('reorderMs', opts.reorderMs, 2);
    const delayMs = nonNegative('delayMs', opts.delayMs, 0);
    const jitterMs = nonNegative('jitterMs', opts.jitterMs, 0);
    const bandwidthBps = nonNegative('bandwidthBps', opts.bandwidthBps, 0);
    const limit = nonNegative('queueLimit', opts.queueLimit, 100);
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`faultyLink: queueLimit must be an integer >= 1, not ${limit}`);
    this.loss = loss;
    this.reorder = reorder;
    this.duplicate = duplicate;
    this.corrupt = corrupt;
    this.reorderMs = reorderMs;
    this.delayMs = delayMs;
    this.jitterMs = jitterMs;
    this.bandwidthBps = bandwidthBps;
    this.queueLimit = limit;
  }

  /** Frames waiting in the link (in every interface it serves): 0 once it has drained. */
  pending(): number {
    let n = 0;
    for (const lane of this.laneList) n += lane.queued;
    return n;
  }

  init(ifp: Ifnet): number {
    return this.inner.init(ifp);
  }

  stop(ifp: Ifnet): void {
    this.lanes.get(ifp)?.flush();
    this.inner.stop(ifp);
  }

  detach(ifp: Ifnet): void {
    const lane = this.lanes.get(ifp);
    if (lane) {
      lane.flush();
      this.lanes.delete(ifp);
      this.laneList.splice(this.laneList.indexOf(lane), 1);
      if (this.lastLane === lane) this.lastLane = null;
    }
    this.inner.detach(ifp);
  }

  transmit(ifp: Ifnet, m: Mbuf): void {
    const lane = this.lane(ifp);
    const k = lane.kernel;
    if (k.halted) {
      // No callout would ever run again: do not queue what could never leave.
      k.mbufs.free(m);
      return;
    }
    const st = this.stats;
    st.frames++;
    st.bytes += m.len;
    // Five draws per frame whatever is enabled, so one fault's setting leaves the others' pattern alone.
    const rLoss = this.rng.uniform();
    const rReorder = this.rng.uniform();
    const rDup = this.rng.uniform();
    const rCorrupt = this.rng.uniform();
    const rJitter = this.rng.uniform();
    if (rLoss < this.loss) {
      st.lost++;
      k.mbufs.free(m);
      return;
    }
    const now = k.host.now();
    let due = now;
    if (this.bandwidthBps > 0) {
      // The bottleneck: a FIFO served at the link rate, tail drop when full.
      const q = lane.serialising;
      q.dropUpTo(now);
      if (q.length >= this.queueLimit) {
        st.queueDrops++;
        k.mbufs.free(m);
        return;
      }
      const start = lane.linkFree > now ? lane.linkFree : now;
      due = start + (m.len * 8000) / this.bandwidthBps;
      lane.linkFree = due;
      q.push(due);
      if (q.length > st.maxQueue) st.maxQueue = q.length;
    }
    due += this.delayMs + rJitter * this.jitterMs;

    if (rCorrupt < this.corrupt) {
      const c = this.corruptCopy(k, m, rCorrupt / this.corrupt);
      if (c === null) return;
      m = c;
    }
    let dup: Mbuf | null = null;
    if (rDup < this.duplicate) {
      dup = k.mbufs.dup(m);
      if (dup === null) st.nomem++;
      else st.duplicated++;
    }

    if (rReorder < this.reorder) {
      st.reordered++;
      let held = due + this.reorderMs;
      if (held < lane.lastHeld) held = lane.lastHeld;
      lane.lastHeld = held;
      lane.held.push(m, held);
      if (dup) lane.held.push(dup, held);
      lane.arm();
      return;
    }
    if (due < lane.lastArrival) due = lane.lastArrival;
    lane.lastArrival = due;
    if (due <= now && lane.inOrder.length === 0) {
      // Nothing to wait for and nothing ahead of it: straight through.
      this.deliver(lane, m);
      if (dup) this.deliver(lane, dup);
      return;
    }
    lane.inOrder.push(m, due);
    if (dup) lane.inOrder.push(dup, due);
    lane.arm();
  }

  /** @internal hand one frame to the inner driver. */
  deliver(lane: Lane, m: Mbuf): void {
    if (lane.kernel.halted) {
      lane.kernel.mbufs.free(m);
      return;
    }
    this.stats.delivered++;
    this.inner.transmit(lane.ifp, m);
  }

  /**
   * A copy of `m` with one bit flipped at a position chosen by `u` in [0, 1)
   * over the IPv4 part of the frame; `m` is freed. Non-IPv4 frames come back
   * unchanged. Null (m freed, counted) when there is no memory for the copy.
   */
  private corruptCopy(k: Kernel, m: Mbuf, u: number): Mbuf | null {
    const st = this.stats;
    const buf = m.buf;
    const isIp = m.len > ETHER_HDR_LEN && ((buf[m.off + 12]! << 8) | buf[m.off + 13]!) === ETHERTYPE_IP;
    if (!isIp) {
      st.corruptSkipped++;
      return m;
    }
    const c = k.mbufs.dup(m);
    k.mbufs.free(m);
    if (c === null) {
      st.nomem++;
      return null;
    }
    const bits = (c.len - ETHER_HDR_LEN) * 8;
    const bit = Math.floor(u * bits);
    c.buf[c.off + ETHER_HDR_LEN + (bit >>> 3)]! ^= 0x80 >>> (bit & 7);
    st.corrupted++;
    return c;
  }

  private lane(ifp: Ifnet): Lane {
    const last = this.lastLane;
    if (last !== null && last.ifp === ifp) return last;
    let lane = this.lanes.get(ifp);
    if (lane === undefined) {
      lane = new Lane(this, ifp, ifp.kernel);
      this.lanes.set(ifp, lane);
      this.laneList.push(lane);
      const created = lane;
      ifp.kernel.onHalt(() => created.flush());
    }
    this.lastLane = lane;
    return lane;
  }
}

/** Wrap `driver` with seeded faults (see the top of this file). */
export function faultyLink(driver: IfDriver, opts: FaultOptions): FaultyLink {
  return new FaultyLink(driver, opts);
}
