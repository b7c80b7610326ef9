/*
 * The sim host: a virtual clock, seeded randomness, in-memory bus files.
 *
 * Nothing here reads the real clock. Time moves only when a test drives it:
 *
 *   const host = createSimHost({ seed: 7 });
 *   const k1 = rumpInit({ host, ... }), k2 = rumpInit({ host, ... });
 *   await host.run(2 * 60_000);          // TIME_WAIT passes in milliseconds of real time
 *
 * Many kernels may share one SimHost: they share its clock, its softint
 * queue and its bus files, which is how a simulated network is built.
 *
 * Order of events, which is what makes runs reproducible:
 *   1. deferred work (softints) queued so far, at the current time, as a batch;
 *   2. otherwise the earliest timer, ties broken by the order they were armed.
 * After each event the driver yields to Node's event loop once, so promise
 * continuations and process.nextTick callbacks of kernel and application code
 * run at the virtual time of the event that resolved them, before the next
 * event. The same seed and the same calls give the same sequence.
 */

import { endianness } from 'node:os';

import type { BusMapping, HostTimer, Hypercall, TapBatch, TapDevice, TapOpenOptions } from './types.js';
import {
  DeferQueue,
  WAKE_OFFSET,
  WAKE_WORD,
  WatchEntry,
  checkWordOffset,
  dropEntries,
  dropEntry,
  hostError,
  wakeEntries,
} from './shared.js';

// ---------------------------------------------------------------------------
// Seeded randomness: xoshiro128** over a state expanded from the seed with
// splitmix32 (so nearby seeds give unrelated streams and the state is never
// all zero in practice).

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** splitmix32: the seed expander; returns [next seed state, output]. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let st = seed | 0;
    let out: number;
    [st, out] = splitmix32(st);
    this.s0 = out;
    [st, out] = splitmix32(st);
    this.s1 = out;
    [st, out] = splitmix32(st);
    this.s2 = out;
    [st, out] = splitmix32(st);
    this.s3 = out;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }
}

// ---------------------------------------------------------------------------
// Timers: a binary min-heap on (due, seq), each timer knowing its slot so
// cancel is O(log n) and `pending()` is exact.

class SimTimer implements HostTimer {
  /** Slot in the heap, or -1 when not armed (fired or cancelled). */
  index = -1;
  constructor(
    readonly deadline: number,
    /** When it fires: the deadline, or the time it was armed if that is later. */
    readonly due: number,
    readonly seq: number,
    readonly fn: () => void,
    readonly host: SimHost,
  ) {}
}

function before(a: SimTimer, b: SimTimer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

class TimerHeap {
  private readonly items: SimTimer[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): SimTimer | undefined {
    return this.items[0];
  }

  push(t: SimTimer): void {
    t.index = this.items.length;
    this.items.push(t);
    this.up(t.index);
  }

  remove(t: SimTimer): void {
    const i = t.index;
    const last = this.items.pop()!;
    t.index = -1;
    if (last === t) return;
    this.items[i] = last;
    last.index = i;
    this.down(i);
    this.up(last.index);
  }

  private up(i: number): void {
    const items = this.items;
    const t = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!before(t, parent)) break;
      items[i] = parent;
      parent.index = i;
      i = p;
    }
    items[i] = t;
    t.index = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const t = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(items[r]!, items[l]!) ? r : l;
      const child = items[c]!;
      if (!before(child, t)) break;
      items[i] = child;
      child.index = i;
      i = c;
    }
    items[i] = t;
    t.index = i;
  }
}

// ---------------------------------------------------------------------------
// In-memory bus files.

const LITTLE_ENDIAN = endianness() === 'LE';

/** One bus file while at least one mapping of it is open. */
class SimBus {
  readonly users = new Set<SimBusMapping>();
  readonly entries: WatchEntry[] = [];
  readonly view: DataView;
  constructor(
    readonly path: string,
    readonly bytes: Uint8Array,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

class SimBusMapping implements BusMapping {
  readonly bytes: Uint8Array;
  private bus: SimBus | null;

  constructor(
    readonly path: string,
    bus: SimBus,
    private readonly host: SimHost,
  ) {
    this.bus = bus;
    this.bytes = bus.bytes;
  }

  private live(): SimBus {
    if (this.bus === null) throw new RangeError('the buffer is unmapped');
    return this.bus;
  }

  // One event loop, so plain reads and writes are atomic; the checks are the
  // ones the native addon makes, so code that works here works there.
  cas32(off: number, expect: number, value: number): number {
    const bus = this.live();
    checkWordOffset(off, bus.bytes.length);
    const old = bus.view.getUint32(off, LITTLE_ENDIAN);
    if (old === expect >>> 0) bus.view.setUint32(off, value >>> 0, LITTLE_ENDIAN);
    return old;
  }

  store32(off: number, value: number): void {
    const bus = this.live();
    checkWordOffset(off, bus.bytes.length);
    bus.view.setUint32(off, value >>> 0, LITTLE_ENDIAN);
  }

  wakeup(): void {
    const bus = this.bus;
    if (bus === null) return;
    // What the node host's wake-up file write leaves in the file.
    bus.bytes.set(WAKE_WORD, WAKE_OFFSET);
    wakeEntries(bus.entries, this);
  }

  watch(fn: () => void): () => void {
    const bus = this.bus;
    if (bus === null) return () => {};
    const entry = new WatchEntry(this, this.host, fn);
    bus.entries.push(entry);
    return () => dropEntry(bus.entries, entry);
  }

  close(): void {
    const bus = this.bus;
    if (bus === null) return;
    this.bus = null;
    dropEntries(bus.entries, this);
    bus.users.delete(this);
    this.host.busClosed(bus);
  }
}

// ---------------------------------------------------------------------------
// In-memory TAP devices. A SimTap is the host's end of a device (what Linux
// and `ip link` see); a SimTapDevice is the kernel's open fd on it. Frames
// cross in batches through the softint queue, as the node host delivers a
// batch per poll wake-up, so a run is reproducible.

/** Frames Linux queues for a TAP reader before dropping (a tun device's tx_queue_len). */
export const SIM_TAP_QUEUE = 1000;
const SIM_TAP_RX_BYTES = 1 << 20;
const SIM_TAP_RX_FRAMES = 1024;
const SIM_TAP_MAX_FRAME = 65535 + 14;

/**
 * The host's end of a simulated TAP device. A test drives it: `inject` is
 * the host sending a frame into the device (the kernel reads it), and the
 * frames the kernel writes arrive at `onFrame`, or collect in `sent` while
 * no `onFrame` is set. Two devices become a wire with
 * `a.onFrame = (f) => b.inject(f)` and the reverse.
 */
export class SimTap {
  /** Frames the kernel wrote, oldest first, while `onFrame` is null. */
  readonly sent: Uint8Array[] = [];
  /** Receives each frame the kernel writes (a copy the test may keep). */
  onFrame: ((frame: Uint8Array) => void) | null = null;
  /** The kernel's open device, or null while nobody has it open. */
  device: SimTapDevice | null = null;
  /** Frames injected that nobody could read: no reader attached, or the queue was full. */
  dropped = 0;
  /** @internal frames waiting for the reader. */
  readonly queue: Uint8Array[] = [];

  constructor(
    readonly name: string,
    /** Survives its last close (`ip tuntap add`); a device the kernel created does not. */
    readonly persistent: boolean,
  ) {}

  /**
   * The host sends `frame` into the device (copied). False when it was
   * dropped: nobody has the device open (no carrier), or SIM_TAP_QUEUE
   * frames already wait.
   */
  inject(frame: Uint8Array): boolean {
    const dev = this.device;
    if (dev === null || this.queue.length >= SIM_TAP_QUEUE) {
      this.dropped++;
      return false;
    }
    this.queue.push(frame.slice());
    dev.kick();
    return true;
  }

  /** Take the frames the kernel wrote so far (empties `sent`). */
  take(): Uint8Array[] {
    return this.sent.splice(0, this.sent.length);
  }

  /** @internal a frame the kernel wrote. */
  receive(frame: Uint8Array): void {
    if (this.onFrame !== null) this.onFrame(frame);
    else this.sent.push(frame);
  }
}

class SimTapBatch implements TapBatch {
  readonly bytes = new Uint8Array(SIM_TAP_RX_BYTES);
  readonly lengths = new Uint32Array(SIM_TAP_RX_FRAMES);
  count = 0;
}

function simTapDeliver(dev: SimTapDevice): void {
  dev.deliver();
}

function simTapFail(dev: SimTapDevice): void {
  dev.fail();
}

/** The kernel's end of a simulated TAP device. */
export class SimTapDevice implements TapDevice {
  readonly name: string;
  /** The simulated TAP carries plain frames: no virtio-net header, no offloads. */
  readonly vnetHdrLen = 0;
  private tap: SimTap | null;
  private reading = false;
  private scheduled = false;
  private releaseHold: (() => void) | null = null;
  private readonly batch = new SimTapBatch();
  private readonly txq: Uint8Array[] = [];

  constructor(
    private readonly host: SimHost,
    tap: SimTap,
    readonly created: boolean,
    private readonly opts: TapOpenOptions,
  ) {
    this.tap = tap;
    this.name = tap.name;
  }

  get queued(): number {
    return this.txq.length;
  }

  setOffload(): void {}

  /** @internal frames are waiting: deliver them in the next softint batch. */
  kick(): void {
    if (this.reading && !this.scheduled && this.tap !== null) {
      this.scheduled = true;
      this.host.defer(simTapDeliver, this);
    }
  }

  /** @internal pack the waiting frames into batches, as the node host does per wake-up. */
  deliver(): void {
    this.scheduled = false;
    const tap = this.tap;
    if (tap === null || !this.reading) return;
    const q = tap.queue;
    const b = this.batch;
    while (q.length > 0 && this.reading && this.tap !== null) {
      let used = 0;
      let n = 0;
      while (n < q.length && n < SIM_TAP_RX_FRAMES && b.bytes.length - used >= q[n]!.length) {
        const f = q[n]!;
        b.bytes.set(f, used);
        b.lengths[n++] = f.length;
        used += f.length;
      }
      q.splice(0, n);
      b.count = n;
      this.opts.onFrames(b);
    }
  }

  /** @internal the device was deleted under the reader. */
  fail(): void {
    this.stopReading();
    this.opts.onError('EBADF');
  }

  /** @internal the device was deleted: refuse writes; a reader hears of it as the node host's poll reports it. */
  lose(): void {
    this.tap = null;
    this.txq.length = 0;
    if (this.reading) this.host.defer(simTapFail, this);
  }

  write(buf: Uint8Array, off: number, len: number): boolean {
    if (this.tap === null || !(len > 0 && len <= SIM_TAP_MAX_FRAME)) return false;
    this.txq.push(buf.slice(off, off + len));
    return true;
  }

  flush(): number {
    const q = this.txq;
    const n = q.length;
    if (n === 0) return 0;
    const tap = this.tap;
    if (tap === null) {
      q.length = 0;
      return n;
    }
    // Take the batch first: onFrame may make the kernel write again.
    const frames = q.splice(0, n);
    for (let i = 0; i < frames.length; i++) tap.receive(frames[i]!);
    return 0;
  }

  readStart(): void {
    if (this.reading || this.tap === null) return;
    this.reading = true;
    // A reading device keeps the process alive on the node host; count it here.
    this.releaseHold = this.host.hold();
    if (this.tap.queue.length > 0) this.kick();
  }

  readStop(): void {
    this.stopReading();
  }

  private stopReading(): void {
    this.reading = false;
    this.releaseHold?.();
    this.releaseHold = null;
  }

  close(): void {
    const tap = this.tap;
    this.stopReading();
    if (tap === null) return;
    this.tap = null;
    this.txq.length = 0;
    tap.device = null;
    tap.queue.length = 0;
    if (!tap.persistent) this.host.removeTap(tap);
  }
}

// ---------------------------------------------------------------------------

export interface SimHostOptions {
  /** PRNG seed (a 32-bit integer); default 1. */
  seed?: number;
  /** Bootstrap parameters for `getparam`; the process environment is never read. */
  env?: Record<string, string | undefined>;
  /** `hostNcpu()` (what RUMP_NCPU=host means); default 4. */
  ncpu?: number;
  /** `hostName()`; default `sim`. */
  hostname?: string;
  /** `pid()`; default 1. */
  pid?: number;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class SimHost implements Hypercall {
  readonly kind = 'sim' as const;

  /**
   * The bus "files", by path exactly as given to `mapBus`. A test may put a
   * file in before attaching (e.g. a bus NetBSD wrote) and read one after.
   */
  readonly files = new Map<string, Uint8Array>();
  /** Every message passed to `log`, in order. */
  readonly logged: string[] = [];
  /** The host's TAP devices by name (`ip link` of the simulated host). */
  readonly taps = new Map<string, SimTap>();
  /**
   * The process has CAP_NET_ADMIN. Cleared, `openTap` fails with EPERM as
   * Linux's TUNSETIFF does for an unprivileged process (for a device that
   * does not exist, and for one it does not own).
   */
  capNetAdmin = true;

  private clock = 0;
  private seq = 0;
  private readonly timers = new TimerHeap();
  private readonly deferred = new DeferQueue();
  private readonly rng: Xoshiro128;
  private readonly env: Record<string, string | undefined>;
  private readonly ncpu: number;
  private readonly name: string;
  private readonly procId: number;
  private readonly buses = new Map<string, SimBus>();
  private holdCount = 0;
  private driving = false;

  constructor(opts: SimHostOptions = {}) {
    this.rng = new Xoshiro128(opts.seed ?? 1);
    this.env = opts.env ?? {};
    this.ncpu = opts.ncpu ?? 4;
    this.name = opts.hostname ?? 'sim';
    this.procId = opts.pid ?? 1;
  }

  // --- Hypercall ----------------------------------------------------------

  now(): number {
    return this.clock;
  }

  armTimer(deadline: number, fn: () => void): HostTimer {
    if (Number.isNaN(deadline)) throw new RangeError('armTimer: deadline is NaN');
    const t = new SimTimer(deadline, Math.max(deadline, this.clock), this.seq++, fn, this);
    this.timers.push(t);
    return t;
  }

  cancelTimer(t: HostTimer): void {
    if (t instanceof SimTimer && t.host === this && t.index >= 0) this.timers.remove(t);
  }

  defer<T>(fn: (arg: T) => void, arg: T): void {
    this.deferred.push(fn, arg);
  }
  /** Bus wake-ups queue with every other softint here (one FIFO, deterministic). */
  deferWake<T>(fn: (arg: T) => void, arg: T): void {
    this.defer(fn, arg);
  }


  /** Zeroed, always: a simulation must not depend on what memory held before. */
  allocUninit(n: number): Uint8Array {
    return new Uint8Array(n);
  }

  random32(): number {
    return this.rng.next();
  }

  randomFill(buf: Uint8Array): void {
    // Byte order fixed (little-endian) so a seed gives the same bytes everywhere.
    let i = 0;
    for (; i + 4 <= buf.length; i += 4) {
      const r = this.rng.next();
      buf[i] = r;
      buf[i + 1] = r >>> 8;
      buf[i + 2] = r >>> 16;
      buf[i + 3] = r >>> 24;
    }
    if (i < buf.length) {
      let r = this.rng.next();
      for (; i < buf.length; i++, r >>>= 8) buf[i] = r;
    }
  }

  getparam(name: string): string | undefined {
    return this.env[name];
  }

  hostNcpu(): number {
    return this.ncpu;
  }

  hostName(): string {
    return this.name;
  }

  pid(): number {
    return this.procId;
  }

  hold(): () => void {
    this.holdCount++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holdCount--;
    };
  }

  log(msg: string): void {
    this.logged.push(msg);
  }

  mapBus(path: string, size: number): BusMapping {
    if (!(Number.isSafeInteger(size) && size >= 1)) {
      throw new RangeError('mapBus: size must be a positive integer');
    }
    let bus = this.buses.get(path);
    if (bus === undefined) {
      let bytes = this.files.get(path);
      if (bytes === undefined || bytes.length !== size) {
        // Like ftruncate: a new file is zero-filled, an old one keeps its
        // first bytes and is cut or zero-extended to `size`.
        const sized = new Uint8Array(size);
        if (bytes !== undefined) sized.set(bytes.subarray(0, Math.min(bytes.length, size)));
        bytes = sized;
        this.files.set(path, bytes);
      }
      bus = new SimBus(path, bytes);
      this.buses.set(path, bus);
    } else if (bus.bytes.length !== size) {
      throw hostError('EINVAL', `already mapped with ${bus.bytes.length} bytes, not ${size}`, 'mmap', path);
    }
    const mapping = new SimBusMapping(path, bus, this);
    bus.users.add(mapping);
    return mapping;
  }

  openTap(name: string, opts: TapOpenOptions): TapDevice {
    if (!(name.length >= 1 && name.length <= 15) || name.includes('/') || /\s/.test(name)) {
      throw hostError('EINVAL', 'Invalid argument', 'ioctl TUNSETIFF', name);
    }
    if (!this.capNetAdmin) throw hostError('EPERM', 'Operation not permitted', 'ioctl TUNSETIFF', name);
    let actual = name;
    if (name.includes('%d')) {
      // The kernel's dev_alloc_name: the lowest free number.
      for (let i = 0; ; i++) {
        actual = name.replace('%d', String(i));
        if (!this.taps.has(actual)) break;
      }
    }
    let tap = this.taps.get(actual);
    const created = tap === undefined;
    if (tap === undefined) {
      tap = new SimTap(actual, false);
      this.taps.set(actual, tap);
    } else if (tap.device !== null) {
      throw hostError('EBUSY', 'Device or resource busy', 'ioctl TUNSETIFF', actual);
    }
    const dev = new SimTapDevice(this, tap, created, opts);
    tap.device = dev;
    return dev;
  }

  /**
   * A persistent TAP device that exists before any kernel opens it, as
   * `ip tuntap add dev NAME mode tap` makes one. Throws if the name is taken.
   */
  addTap(name: string): SimTap {
    if (this.taps.has(name)) throw new Error(`TAP device ${name} exists`);
    const tap = new SimTap(name, true);
    this.taps.set(name, tap);
    return tap;
  }

  /** The host's TAP device `name`, or undefined. */
  tap(name: string): SimTap | undefined {
    return this.taps.get(name);
  }

  /**
   * Delete a TAP device (`ip link del`), even while a kernel has it open:
   * that reader gets `onError('EBADF')` and its writes are refused.
   */
  deleteTap(name: string): void {
    const tap = this.taps.get(name);
    if (tap === undefined) return;
    this.taps.delete(name);
    const dev = tap.device;
    tap.device = null;
    tap.queue.length = 0;
    dev?.lose();
  }

  /** @internal a device the kernel created was closed: it goes away. */
  removeTap(tap: SimTap): void {
    if (this.taps.get(tap.name) === tap) this.taps.delete(tap.name);
  }

  /** @internal a mapping closed; forget the bus when it was the last. */
  busClosed(bus: SimBus): void {
    if (bus.users.size === 0 && this.buses.get(bus.path) === bus) this.buses.delete(bus.path);
  }

  // --- Driving the clock ---------------------------------------------------

  /** Number of armed timers (a kernel that halted cleanly leaves none). */
  pending(): number {
    return this.timers.size;
  }

  /** Number of unreleased `hold()`s (an idle kernel should have none). */
  holds(): number {
    return this.holdCount;
  }

  /**
   * Advance virtual time by `ms`, running deferred work and every timer due
   * up to and including the new time, in order. Resolves at `now() + ms`.
   * Rejects with the first error a deferred call or timer threw.
   */
  async run(ms: number): Promise<void> {
    const end = this.endOf(ms);
    this.beginDriving();
    try {
      for (;;) {
        await yieldToEventLoop();
        if (!this.step(end)) break;
      }
      this.clock = Math.max(this.clock, end);
    } finally {
      this.driving = false;
    }
  }

  /**
   * Run events as `run` does until `pred()` holds (checked before the first
   * event and after each one) or `maxMs` have passed. Resolves true, with the
   * clock at the event that made `pred` true, or false at `now() + maxMs`.
   */
  async runUntil(pred: () => boolean, maxMs: number): Promise<boolean> {
    const end = this.endOf(maxMs);
    this.beginDriving();
    try {
      for (;;) {
        await yieldToEventLoop();
        if (pred()) return true;
        if (!this.step(end)) break;
      }
      this.clock = Math.max(this.clock, end);
      return pred();
    } finally {
      this.driving = false;
    }
  }

  /** Run everything due now (deferred work and timers due now); no time passes. */
  settle(): Promise<void> {
    return this.run(0);
  }

  private endOf(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`cannot run for ${ms} ms`);
    return this.clock + ms;
  }

  private beginDriving(): void {
    if (this.driving) throw new Error('SimHost is already being driven (an earlier run() has not resolved)');
    this.driving = true;
  }

  /** Run one event due by `end`: a batch of deferred work, else one timer. */
  private step(end: number): boolean {
    if (this.deferred.length > 0) {
      this.deferred.runBatch();
      return true;
    }
    const t = this.timers.peek();
    if (t === undefined || t.due > end) return false;
    this.timers.remove(t);
    if (t.due > this.clock) this.clock = t.due;
    t.fn();
    return true;
  }
}

export function createSimHost(opts?: SimHostOptions): SimHost {
  return new SimHost(opts);
}
