/*
 * The hypercall interface: everything a rump kernel may ask of its host.
 *
 * Like NetBSD's rumpuser(3), this is the only door out of the kernel. Two hosts
 * implement it: `node` (real clock, real files, the native addon) and `sim`
 * (a virtual clock, seeded randomness, in-memory bus files). Code above
 * hypercall/ never reads a clock, arms a host timer or draws randomness itself.
 */

/** A timer armed on the host; cancel it with `Hypercall.cancelTimer`. */
export interface HostTimer {
  readonly deadline: number;
}

/**
 * A mapping of a shmif bus file. `bytes` views the whole file (1 MiB); stores
 * through it are visible to every other mapping of the same file, in this
 * process or another one.
 */
export interface BusMapping {
  /** Path the caller gave (for messages and `ifconfig` output). */
  readonly path: string;
  /** The mapped file, shared. */
  readonly bytes: Uint8Array;
  /** Atomic compare-and-swap of the u32 at byte offset `off` (4-aligned). Returns the old value. */
  cas32(off: number, expect: number, value: number): number;
  /** Atomic store of the u32 at `off`, with a full barrier before it. */
  store32(off: number, value: number): void;
  /**
   * Wake every reader of this bus: in one process, call their wake-up hooks
   * directly (deferred, never re-entrantly); across processes, the 4-byte
   * file write at offset 4 that inotify reports.
   */
  wakeup(): void;
  /** Register `fn` to run (deferred) whenever another writer wakes the bus. Returns an unsubscribe function. */
  watch(fn: () => void): () => void;
  /** Unmap. Idempotent. */
  close(): void;
}

/** Bootstrap parameters after validation (rumpkernel(7)). */
export interface BootParams {
  /** hw.ncpu */
  readonly ncpu: number;
  readonly verbose: boolean;
  /** Bytes, or `Infinity` for no limit. */
  readonly memlimit: number;
}

export interface Hypercall {
  /** `node` or `sim`. */
  readonly kind: 'node' | 'sim';

  /** Monotonic milliseconds (fractional) since the host was created. */
  now(): number;

  /** Run `fn` at host time `deadline` (ms, same clock as `now`). */
  armTimer(deadline: number, fn: () => void): HostTimer;
  cancelTimer(t: HostTimer): void;
  /**
   * Run `fn(arg)` soon, after the current call stack, in order with other
   * deferred work (a softint). No closure needed on the hot path.
   */
  defer<T>(fn: (arg: T) => void, arg: T): void;

  /** A uniformly distributed unsigned 32-bit integer. */
  random32(): number;
  /** Fill `buf` with random bytes. */
  randomFill(buf: Uint8Array): void;

  /** A bootstrap parameter (RUMP_NCPU, RUMP_VERBOSE, RUMP_MEMLIMIT, ...), or undefined. */
  getparam(name: string): string | undefined;
  /** The host's available parallelism, for `RUMP_NCPU=host`. */
  hostNcpu(): number;
  /** The host's name, for `kern.hostname` (`rump-PID.HOST`). */
  hostName(): string;
  /** The host process id. */
  pid(): number;

  /**
   * Keep the host process running until the returned function is called
   * (idempotent). Kernel timers and bus watches do not keep a Node process
   * alive by themselves, so that an idle kernel lets its process exit; a
   * listening server or an open socket holds the host, the way Node's own
   * handles do until `unref()`. The sim host only counts holds (leak checks).
   */
  hold(): () => void;

  /** Print a kernel message (RUMP_VERBOSE, panics, diagnostics). */
  log(msg: string): void;

  /**
   * Map the bus file at `path` (created if missing, sized to `size`).
   * Throws an `Error` with a `code` (`ENOENT`, `EACCES`, ...) when it cannot.
   */
  mapBus(path: string, size: number): BusMapping;
}
