/*
 * The node host: the real clock, real timers, real randomness, real files.
 *
 * Choices a caller should know about:
 *
 * - Timers are unref'd. A kernel's callouts (delayed ACK, TIME_WAIT,
 *   ARP expiry) must not keep a process alive on their own, or no program
 *   using a kernel could ever exit without halting it. What keeps a process
 *   alive is what keeps a Node process alive: an open server or socket, which
 *   the socket layer expresses with `hold()`, plus real host handles
 *   (a TAP poll handle, sysproxy's listening socket).
 * - `defer` is a softint: calls queue in a FIFO (two parallel arrays, no
 *   closure per call) and one `setImmediate` drains the batch, after the
 *   current I/O callbacks, so a burst of frames is processed in one go.
 *   Bus wake-ups between kernels of this process (`deferWake`) run sooner,
 *   as microtasks, a bounded number per turn (see MICROTASK_DRAINS).
 * - A TAP device is read through the addon's poll handle on this thread's
 *   event loop, a batch per wake-up; while reading it keeps the process
 *   alive like an open socket (readStop or close lets it go).
 * - Bus mappings are shared per file within the process (keyed by realpath):
 *   kernels on one bus in one process use ONE mapping and wake each other
 *   directly. Across processes a wake-up is NetBSD's 4-byte file write at
 *   offset 4, seen through `fs.watch` (inotify IN_MODIFY), at most once per
 *   bus per turn of the event loop. The lock word takes JavaScript's Atomics
 *   on the mapping (see NodeBusMapping).
 */

import {
  closeSync,
  existsSync,
  openSync,
  realpathSync,
  statSync,
  watch,
  writeSync,
  type FSWatcher,
  type Stats,
} from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, constants as osConstants, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { webcrypto } from 'node:crypto';

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

/** An open TAP device in the addon (hypercall/native/src/tap.cc). */
export interface NativeTap {
  readonly handle: object;
  readonly name: string;
  readonly created: boolean;
  /** 12 with the virtio-net header, 0 without (an addon built before it: undefined). */
  readonly vnetHdrLen?: number;
}

/** What the native addon exports (hypercall/native/src/addon.cc, tap.cc). */
export interface NativeAddon {
  mapFile(path: string, size: number): ArrayBuffer;
  cas32(buf: ArrayBuffer, off: number, expect: number, value: number): number;
  store32(buf: ArrayBuffer, off: number, value: number): void;
  unmap(buf: ArrayBuffer): void;
  /** SO_SNDBUF and SO_RCVBUF of socket `fd`, set to `bytes` first if given (an addon built before it: undefined). */
  sockBuf?(fd: number, bytes?: number): [number, number];
  /**
   * `onBatch(n, shed)`: n > 0 frames are in rxBytes/rxLengths; n < 0 is
   * -errno, reading stopped. `shed`: bare SYNs read and dropped since the
   * last call, over the per-wake-up SYN budget (tap.cc). `perFrame` (measurement only, bench/virtif.ts): one
   * call per frame, always n = 1 with the frame at offset 0.
   */
  tapOpen(name: string, rxBytes: ArrayBuffer, rxLengths: ArrayBuffer, onBatch: (n: number, shed?: number) => void, perFrame?: boolean, vnetHdr?: boolean): NativeTap;
  tapSetOffload(handle: object, flags: number): void;
  tapReadStart(handle: object): void;
  tapReadStop(handle: object): void;
  /** Write `count` frames packed in `bytes` with `lengths`; returns how many the host took. */
  tapWrite(handle: object, bytes: ArrayBuffer, lengths: ArrayBuffer, count: number): number;
  tapClose(handle: object): void;
}

const ADDON_PATH = 'hypercall/native/build/Release/rumpnet_native.node';

let addon: NativeAddon | null = null;

/**
 * The package root: the nearest directory above this file holding a
 * package.json. It is the repository from source (hypercall/node.ts) and
 * from the build (dist/hypercall/node.js) alike.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`rumpnet: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

const HIJACK_LIB_PATH = 'hypercall/native/build/Release/librumphijack.so';

/**
 * Where librumphijack.so is (the LD_PRELOAD hijack, sysproxy/native/), or
 * null when it was not built (it is built with the addon, on Linux only).
 */
export function hijackLibraryPath(): string | null {
  const path = join(packageRoot(), HIJACK_LIB_PATH);
  return existsSync(path) ? path : null;
}

/**
 * Give a Node stream socket (a sysproxy connection) host socket buffers of
 * `bytes` each way, as far as the host allows (Linux clamps them to
 * net.core.wmem_max and rmem_max). Node offers no setsockopt for streams,
 * so the addon does it; false when it cannot (no addon, no descriptor),
 * and the socket keeps the host's default.
 */
export function setStreamBuffers(socket: object, bytes: number): boolean {
  return streamBuffers(socket, bytes) !== null;
}

/**
 * The host socket buffers of a Node stream socket, [send, receive] as the
 * host reports them (Linux counts its bookkeeping too: twice what was
 * set), after setting both to `bytes` if given; null when they cannot be
 * read (no addon, no descriptor).
 */
export function streamBuffers(socket: object, bytes?: number): [number, number] | null {
  const fd = ((socket as { _handle?: { fd?: unknown } | null })._handle)?.fd;
  if (typeof fd !== 'number' || fd < 0) return null;
  try {
    const native = nativeAddon();
    return native.sockBuf === undefined ? null : native.sockBuf(fd, bytes);
  } catch {
    return null;
  }
}

/** Load the addon on first use, so hosts that never map a bus do not need it. */
export function nativeAddon(): NativeAddon {
  if (addon === null) {
    const path = join(packageRoot(), ADDON_PATH);
    try {
      addon = createRequire(import.meta.url)(path) as NativeAddon;
    } catch (err) {
      throw new Error(
        `rumpnet: cannot load the native addon ${path} (build it with ` +
          '`npx node-gyp rebuild --directory hypercall/native`): ' +
          (err instanceof Error ? err.message : String(err)),
        { cause: err },
      );
    }
  }
  return addon;
}

// Node refuses delays above 2^31 - 1 ms; longer timers re-arm on expiry.
const TIMEOUT_MAX = 0x7fffffff;

class NodeTimer implements HostTimer {
  handle: NodeJS.Timeout | null = null;
  constructor(
    readonly deadline: number,
    readonly fn: () => void,
    readonly host: NodeHost,
  ) {}
}

function armHandle(t: NodeTimer, delay: number): void {
  t.handle = setTimeout(fireNodeTimer, Math.min(Math.max(Math.ceil(delay), 1), TIMEOUT_MAX), t);
  t.handle.unref();
}

/**
 * Node's timers run off the event loop's cached millisecond clock, so one
 * can fire up to a millisecond before `deadline` by our finer clock. A kernel
 * callout that runs early would find itself not yet due; re-arm instead.
 */
function fireNodeTimer(t: NodeTimer): void {
  t.handle = null;
  const early = t.deadline - t.host.now();
  if (early > 0) {
    armHandle(t, early);
    return;
  }
  t.fn();
}

function drainDeferred(host: NodeHost): void {
  host.drainScheduled = false;
  host.deferred.runBatch();
}

/*
 * Bus wake-ups (deferWake) run as microtasks, a bounded number of batches
 * per turn of the event loop, then from setImmediate like other softints.
 * A frame from one kernel to another in this process, the calls it
 * completes, and the next calls the program makes then run in one turn: a
 * connect, a 1-byte echo and a close take one turn instead of one per hop
 * (a turn costs about 2.6 µs before any work, an epoll_wait among it,
 * and each turn was another wake-up file write): about 40 % more
 * connections per second between two kernels on a bus. The bound keeps a
 * stream of frames from starving the host's I/O and timers: after
 * MICROTASK_DRAINS batches the rest wait for the next turn, when
 * resetMicrotaskDrains has run. Other softints (`defer`: lo0, TAP input,
 * timers' work) keep running from setImmediate, after the I/O callbacks of
 * the turn, as Node's own I/O events do (the Node-compatible sockets order
 * their events the way node:net does on that basis).
 */
const MICROTASK_DRAINS = 64;
let microtaskDrains = 0;
let resetScheduled = false;

function resetMicrotaskDrains(): void {
  microtaskDrains = 0;
  resetScheduled = false;
}

function drainWakes(host: NodeHost): void {
  host.wakeScheduled = false;
  host.wakes.runBatch();
}

/*
 * The microtask is a reaction on a resolved promise rather than
 * queueMicrotask, which wraps every callback in an AsyncResource and a bound
 * function (about 1.3 KB a connection). An error thrown by a softint is
 * rethrown from queueMicrotask, so it is an uncaught exception as from
 * setImmediate, not a rejected promise.
 */
const RESOLVED: Promise<void> = Promise.resolve();

function rethrow(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

function drainWakesMicrotask(host: NodeHost): void {
  try {
    drainWakes(host);
  } catch (err) {
    rethrow(err);
  }
}

/** Smallest allocUninit that skips zeroing (see NodeHost.allocUninit). */
const ALLOC_UNINIT_MIN = 4096;

/**
 * One mapped bus file, shared by every NodeBusMapping of that file in this
 * process (whatever host created them).
 */
class SharedBus {
  readonly users = new Set<NodeBusMapping>();
  readonly entries: WatchEntry[] = [];
  watcher: FSWatcher | null = null;
  writeQueued = false;
  disposed = false;

  constructor(
    readonly realpath: string,
    readonly dev: number,
    readonly ino: number,
    readonly buffer: ArrayBuffer,
    readonly bytes: Uint8Array,
    // Kept open for the wake-up write, so a wake-up costs one pwrite.
    public fd: number,
  ) {}

  /**
   * An event on the file: some writer woke the bus. It may be our own wake-up
   * write echoing back; inotify cannot tell us apart from another process, so
   * every local watcher runs once more (coalesced) and finds nothing new.
   */
  onFileEvent(): void {
    wakeEntries(this.entries, null);
  }

  startWatching(host: NodeHost): void {
    if (this.watcher !== null || this.disposed) return;
    // persistent: false is the unref'd form: watching a bus never keeps a
    // process alive by itself (see the header comment).
    // When watching fails (the file went away under us, inotify is out of
    // watches) wake-ups from this process still work; other processes' are
    // lost, so say so rather than fail the caller.
    let w: FSWatcher;
    try {
      w = watch(this.realpath, { persistent: false });
    } catch (err) {
      host.log(`shmif: cannot watch ${this.realpath}: ${(err as Error).message}`);
      return;
    }
    w.on('change', () => this.onFileEvent());
    w.on('error', (err: Error) => {
      host.log(`shmif: watching ${this.realpath} failed: ${err.message}`);
      w.close();
      if (this.watcher === w) this.watcher = null;
    });
    this.watcher = w;
  }

  stopWatching(): void {
    if (this.watcher !== null) {
      this.watcher.close();
      this.watcher = null;
    }
  }

  dispose(): void {
    this.disposed = true;
    this.stopWatching();
    if (registry.get(this.realpath) === this) registry.delete(this.realpath);
    // A wake-up still waiting for the end of the turn goes now: frames sent
    // just before the last mapping closed must still wake other processes.
    if (this.writeQueued) flushWakeWrite(this);
    closeSync(this.fd);
    this.fd = -1;
    nativeAddon().unmap(this.buffer);
  }
}

/** Every bus mapped in this process, by the file's realpath. */
const registry = new Map<string, SharedBus>();

/** The coalesced wake-up write, once per turn of the event loop (see WAKE_WORD). */
function flushWakeWrite(bus: SharedBus): void {
  bus.writeQueued = false;
  if (bus.fd < 0) return;
  try {
    writeSync(bus.fd, WAKE_WORD, 0, 4, WAKE_OFFSET);
  } catch {
    // Nothing to do that helps: other processes learn of the frames at the
    // next successful wake-up, and readers in this process were woken already.
  }
}

const EMPTY_WORDS = new Uint32Array(0);

/**
 * The lock word and the version word go through JavaScript's Atomics on a
 * u32 view of the mapping: V8 compiles Atomics.compareExchange to a locked
 * compare-and-exchange and Atomics.store to a sequentially consistent store
 * (a full barrier) whether or not the buffer is a SharedArrayBuffer, so they
 * are the same instructions as the addon's __atomic builtins, without a call
 * into native code: about 25 ns for a lock and unlock instead of 185 ns,
 * twice per frame. (Two processes taking the lock and bumping a counter
 * under it six million times lose no increment.) The addon's cas32 and
 * store32 remain for callers that hold only an ArrayBuffer.
 */
class NodeBusMapping implements BusMapping {
  readonly bytes: Uint8Array;
  private words: Uint32Array;
  private bus: SharedBus | null;

  constructor(
    readonly path: string,
    bus: SharedBus,
    readonly host: NodeHost,
  ) {
    this.bus = bus;
    this.bytes = bus.bytes;
    this.words = new Uint32Array(bus.buffer, 0, bus.buffer.byteLength >>> 2);
  }

  cas32(off: number, expect: number, value: number): number {
    // After close, `words` is empty and every offset is out of range.
    checkWordOffset(off, this.words.length << 2);
    return Atomics.compareExchange(this.words, off >>> 2, expect >>> 0, value >>> 0);
  }

  store32(off: number, value: number): void {
    checkWordOffset(off, this.words.length << 2);
    Atomics.store(this.words, off >>> 2, value >>> 0);
  }

  wakeup(): void {
    const bus = this.bus;
    if (bus === null) return;
    wakeEntries(bus.entries, this);
    if (!bus.writeQueued) {
      // One write per bus per turn of the event loop, whatever the number
      // of frames and softint batches (see MICROTASK_DRAINS): a whole
      // exchange between kernels in this process costs one write at most.
      bus.writeQueued = true;
      setImmediate(flushWakeWrite, bus);
    }
  }

  watch(fn: () => void): () => void {
    const bus = this.bus;
    if (bus === null) return () => {};
    const entry = new WatchEntry(this, this.host, fn);
    bus.entries.push(entry);
    bus.startWatching(this.host);
    return () => {
      if (!entry.active) return;
      dropEntry(bus.entries, entry);
      if (bus.entries.length === 0) bus.stopWatching();
    };
  }

  close(): void {
    const bus = this.bus;
    if (bus === null) return;
    this.bus = null;
    this.words = EMPTY_WORDS;
    dropEntries(bus.entries, this);
    bus.users.delete(this);
    if (bus.users.size === 0) bus.dispose();
    else if (bus.entries.length === 0) bus.stopWatching();
  }
}

/**
 * The bus already mapped in this process for the file at `path`, if any.
 * Same realpath and same inode: a bus file deleted and created again under
 * the same name is a different bus.
 */
function findBus(path: string): SharedBus | undefined {
  let real: string;
  let st: Stats;
  try {
    real = realpathSync.native(path);
    st = statSync(real);
  } catch {
    return undefined;  // mapFile reports the real problem, with its code
  }
  const bus = registry.get(real);
  return bus !== undefined && bus.dev === st.dev && bus.ino === st.ino ? bus : undefined;
}

function noop(): void {}

/*
 * TAP buffers. A receive batch holds up to 1 MiB of frames (the addon reads
 * while at least one largest frame still fits), so a full queue of a Linux
 * TAP device (tx_queue_len 1000) of MTU-sized frames drains in two batches
 * of one wake-up. The transmit queue is
 * flushed whenever it fills, so its size only bounds a flush's work; it
 * holds several of the largest frames (TAP_MAX_FRAME).
 */
const TAP_RX_BYTES = 1 << 20;
const TAP_RX_FRAMES = 1024;
const TAP_TX_BYTES = 256 << 10;
const TAP_TX_FRAMES = 256;
/** The longest frame a TAP passes: MTU 65535 plus the Ethernet header. */
export const TAP_MAX_FRAME = 65535 + 14;

/** errno numbers (negated by the addon) back to names, for TapOpenOptions.onError. */
function errnoName(n: number): string {
  const names = osConstants.errno as Record<string, number>;
  for (const k in names) if (names[k] === n) return k;
  return `E${n}`;
}

class NodeTapBatch implements TapBatch {
  count = 0;
  shed = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly lengths: Uint32Array,
  ) {}
}

export class NodeTapDevice implements TapDevice {
  readonly name: string;
  readonly created: boolean;
  readonly vnetHdrLen: number;
  private handle: object | null;
  private readonly batch: NodeTapBatch;
  private readonly txBuffer = new ArrayBuffer(TAP_TX_BYTES);
  private readonly txBytes = new Uint8Array(this.txBuffer);
  private readonly txLengths = new Uint32Array(TAP_TX_FRAMES);
  private txCount = 0;
  private txUsed = 0;
  /** Frames refused by a flush that `write` made when the queue was full, reported by the next `flush`. */
  private refusedEarlier = 0;
  /**
   * One bound function for the device's life (no closure per batch). Kept
   * here because the addon holds it weakly while not reading, so that an
   * abandoned device can be collected: without this field it could be
   * collected between open and readStart.
   */
  private readonly onBatchFn: (n: number, shed?: number) => void;

  constructor(
    private readonly native: NativeAddon,
    name: string,
    private readonly opts: TapOpenOptions,
  ) {
    const rx = new ArrayBuffer(TAP_RX_BYTES);
    const lengths = new Uint32Array(TAP_RX_FRAMES);
    this.batch = new NodeTapBatch(new Uint8Array(rx), lengths);
    this.onBatchFn = (n, shed) => this.onBatch(n, shed ?? 0);
    const tap = native.tapOpen(name, rx, lengths.buffer as ArrayBuffer, this.onBatchFn, false, opts.vnetHdr === true);
    this.handle = tap.handle;
    this.name = tap.name;
    this.created = tap.created;
    this.vnetHdrLen = tap.vnetHdrLen ?? 0;
  }

  setOffload(flags: number): void {
    if (this.handle !== null && this.vnetHdrLen > 0) this.native.tapSetOffload(this.handle, flags);
  }

  get queued(): number {
    return this.txCount;
  }

  private onBatch(n: number, shed: number): void {
    if (n > 0) {
      this.batch.count = n;
      this.batch.shed = shed;
      this.opts.onFrames(this.batch);
    } else {
      this.opts.onError(errnoName(-n));
    }
  }

  write(buf: Uint8Array, off: number, len: number): boolean {
    if (this.handle === null || !(len > 0 && len <= TAP_MAX_FRAME + this.vnetHdrLen)) return false;
    if (this.txCount === TAP_TX_FRAMES || TAP_TX_BYTES - this.txUsed < len) this.refusedEarlier += this.flush();
    this.txBytes.set(buf.subarray(off, off + len), this.txUsed);
    this.txLengths[this.txCount++] = len;
    this.txUsed += len;
    return true;
  }

  flush(): number {
    const n = this.txCount;
    const earlier = this.refusedEarlier;
    this.refusedEarlier = 0;
    if (n === 0) return earlier;
    this.txCount = 0;
    this.txUsed = 0;
    if (this.handle === null) return earlier + n;
    return earlier + n - this.native.tapWrite(this.handle, this.txBuffer, this.txLengths.buffer as ArrayBuffer, n);
  }

  readStart(): void {
    if (this.handle !== null) this.native.tapReadStart(this.handle);
  }

  readStop(): void {
    if (this.handle !== null) this.native.tapReadStop(this.handle);
  }

  close(): void {
    const h = this.handle;
    if (h === null) return;
    this.handle = null;
    this.txCount = 0;
    this.txUsed = 0;
    this.native.tapClose(h);
  }
}

export interface NodeHostOptions {
  /**
   * Bootstrap parameters. When given, `getparam` reads only this object
   * (the library's options); otherwise it reads `process.env`.
   */
  env?: Record<string, string | undefined>;
}

export class NodeHost implements Hypercall {
  readonly kind = 'node' as const;

  /** @internal the softint queue; drained by one setImmediate per batch. */
  readonly deferred = new DeferQueue();
  /** @internal */
  drainScheduled = false;
  /** @internal bus wake-ups (deferWake), and whether a drain is scheduled. */
  readonly wakes = new DeferQueue();
  /** @internal */
  wakeScheduled = false;
  /** drainWakes bound to this host, for queueMicrotask (no closure per batch). */
  private readonly drainWakesFn = (): void => drainWakesMicrotask(this);

  private readonly origin = performance.now();
  private readonly env: Record<string, string | undefined> | undefined;
  private readonly pool = new Uint32Array(256);
  private poolNext = 256;
  private holds = 0;
  private keepAlive: NodeJS.Timeout | null = null;

  constructor(opts: NodeHostOptions = {}) {
    this.env = opts.env;
  }

  /**
   * The clock as read at the first now() since the last microtask
   * checkpoint, -1 when not read since. TCP reads the time several times a
   * segment (timestamps, RTT timing, timers: BSD reads its tick counter);
   * performance.now() is a handful of JS calls each time, which the
   * kernel's first packets pay for in full before V8 has compiled them.
   * The value is at most as stale as the synchronous run that read it.
   */
  private nowCache = -1;
  private readonly forgetNow = (): void => {
    this.nowCache = -1;
  };

  now(): number {
    let t = this.nowCache;
    if (t < 0) {
      t = this.nowCache = performance.now() - this.origin;
      void RESOLVED.then(this.forgetNow);
    }
    return t;
  }

  armTimer(deadline: number, fn: () => void): HostTimer {
    if (Number.isNaN(deadline)) throw new RangeError('armTimer: deadline is NaN');
    const t = new NodeTimer(deadline, fn, this);
    armHandle(t, deadline - this.now());
    return t;
  }

  cancelTimer(t: HostTimer): void {
    if (t instanceof NodeTimer && t.handle !== null) {
      clearTimeout(t.handle);
      t.handle = null;
    }
  }

  defer<T>(fn: (arg: T) => void, arg: T): void {
    this.deferred.push(fn, arg);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(drainDeferred, this);
    }
  }
  /** A softint for a bus wake-up: sooner than `defer` (see MICROTASK_DRAINS). */
  deferWake<T>(fn: (arg: T) => void, arg: T): void {
    this.wakes.push(fn, arg);
    if (!this.wakeScheduled) {
      this.wakeScheduled = true;
      if (microtaskDrains < MICROTASK_DRAINS) {
        microtaskDrains++;
        if (!resetScheduled) {
          resetScheduled = true;
          setImmediate(resetMicrotaskDrains);
        }
        void RESOLVED.then(this.drainWakesFn);
      } else {
        setImmediate(drainWakes, this);
      }
    }
  }


  allocUninit(n: number): Uint8Array {
    // Below ALLOC_UNINIT_MIN zeroing costs nothing worth saving, and
    // allocUnsafe would hand out a slice of its shared pool.
    if (n < ALLOC_UNINIT_MIN) return new Uint8Array(n);
    const b = Buffer.allocUnsafeSlow(n);
    return new Uint8Array(b.buffer, b.byteOffset, n);
  }

  random32(): number {
    if (this.poolNext === this.pool.length) {
      webcrypto.getRandomValues(this.pool);
      this.poolNext = 0;
    }
    return this.pool[this.poolNext++]!;
  }

  randomFill(buf: Uint8Array): void {
    // getRandomValues takes at most 65536 bytes per call.
    for (let off = 0; off < buf.length; off += 65536) {
      webcrypto.getRandomValues(buf.subarray(off, Math.min(off + 65536, buf.length)));
    }
  }

  getparam(name: string): string | undefined {
    return this.env !== undefined ? this.env[name] : process.env[name];
  }

  hostNcpu(): number {
    return availableParallelism();
  }

  hostName(): string {
    return hostname();
  }

  pid(): number {
    return process.pid;
  }

  hold(): () => void {
    if (this.keepAlive === null) {
      // One long interval per host, ref'd only while something holds it.
      this.keepAlive = setInterval(noop, 2 ** 30);
      this.keepAlive.unref();
    }
    if (this.holds++ === 0) this.keepAlive.ref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds === 0) this.keepAlive!.unref();
    };
  }

  log(msg: string): void {
    process.stderr.write(msg.endsWith('\n') ? msg : msg + '\n');
  }

  mapBus(path: string, size: number): BusMapping {
    const native = nativeAddon();
    let bus = findBus(path);
    if (bus === undefined) {
      const buffer = native.mapFile(path, size);
      try {
        const real = realpathSync.native(path);
        const st = statSync(real);
        bus = new SharedBus(real, st.dev, st.ino, buffer, new Uint8Array(buffer), openSync(real, 'r+'));
      } catch (err) {
        native.unmap(buffer);
        throw err;
      }
      registry.set(bus.realpath, bus);
    }
    if (bus.bytes.length !== size) {
      // Resizing would pull the file out from under the live mapping.
      throw hostError(
        'EINVAL',
        `already mapped in this process with ${bus.bytes.length} bytes, not ${size}`,
        'mmap',
        path,
      );
    }
    const mapping = new NodeBusMapping(path, bus, this);
    bus.users.add(mapping);
    return mapping;
  }

  openTap(name: string, opts: TapOpenOptions): TapDevice {
    if (process.platform !== 'linux') {
      throw hostError('ENOTSUP', 'TAP devices are supported on Linux only', 'open', '/dev/net/tun');
    }
    if (!(name.length >= 1 && name.length <= 15)) {
      throw hostError('EINVAL', 'a TAP device name has 1 to 15 characters', 'open', name);
    }
    return new NodeTapDevice(nativeAddon(), name, opts);
  }
}

export function createNodeHost(opts?: NodeHostOptions): NodeHost {
  return new NodeHost(opts);
}
