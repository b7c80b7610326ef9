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
 * - Bus mappings are shared per file within the process (keyed by realpath):
 *   kernels on one bus in one process use ONE mapping and wake each other
 *   directly. Across processes a wake-up is NetBSD's 4-byte file write at
 *   offset 4, seen through `fs.watch` (inotify IN_MODIFY).
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
import { availableParallelism, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { webcrypto } from 'node:crypto';

import type { BusMapping, HostTimer, Hypercall } from './types.js';
import {
  DeferQueue,
  WAKE_OFFSET,
  WAKE_WORD,
  WatchEntry,
  dropEntries,
  dropEntry,
  hostError,
  wakeEntries,
} from './shared.js';

/** What the native addon exports (hypercall/native/src/addon.cc). */
export interface NativeAddon {
  mapFile(path: string, size: number): ArrayBuffer;
  cas32(buf: ArrayBuffer, off: number, expect: number, value: number): number;
  store32(buf: ArrayBuffer, off: number, value: number): void;
  unmap(buf: ArrayBuffer): void;
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
    closeSync(this.fd);
    this.fd = -1;
    nativeAddon().unmap(this.buffer);
  }
}

/** Every bus mapped in this process, by the file's realpath. */
const registry = new Map<string, SharedBus>();

/** The deferred, coalesced wake-up write (see WAKE_WORD). */
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

const EMPTY = new ArrayBuffer(0);

class NodeBusMapping implements BusMapping {
  readonly bytes: Uint8Array;
  private buffer: ArrayBuffer;
  private bus: SharedBus | null;

  constructor(
    readonly path: string,
    bus: SharedBus,
    readonly host: NodeHost,
    private readonly native: NativeAddon,
  ) {
    this.bus = bus;
    this.buffer = bus.buffer;
    this.bytes = bus.bytes;
  }

  cas32(off: number, expect: number, value: number): number {
    // After close, `buffer` is EMPTY and the addon throws a RangeError.
    return this.native.cas32(this.buffer, off, expect, value);
  }

  store32(off: number, value: number): void {
    this.native.store32(this.buffer, off, value);
  }

  wakeup(): void {
    const bus = this.bus;
    if (bus === null) return;
    wakeEntries(bus.entries, this);
    if (!bus.writeQueued) {
      bus.writeQueued = true;
      this.host.defer(flushWakeWrite, bus);
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
    this.buffer = EMPTY;
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

  private readonly origin = performance.now();
  private readonly env: Record<string, string | undefined> | undefined;
  private readonly pool = new Uint32Array(256);
  private poolNext = 256;
  private holds = 0;
  private keepAlive: NodeJS.Timeout | null = null;

  constructor(opts: NodeHostOptions = {}) {
    this.env = opts.env;
  }

  now(): number {
    return performance.now() - this.origin;
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
    const mapping = new NodeBusMapping(path, bus, this, native);
    bus.users.add(mapping);
    return mapping;
  }
}

export function createNodeHost(opts?: NodeHostOptions): NodeHost {
  return new NodeHost(opts);
}
