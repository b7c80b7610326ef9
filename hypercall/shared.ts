/*
 * Pieces both hosts share: the softint queue behind `defer`, the watcher
 * records behind `BusMapping.watch`, and the checks on a bus word offset.
 * Internal to hypercall/; nothing above imports this file.
 */

/**
 * A FIFO of deferred calls, kept as two parallel arrays (function, argument)
 * so queueing a call allocates nothing. `runBatch` runs what was queued
 * before it started; work queued meanwhile waits for the next batch, so a
 * softint that re-queues itself cannot starve the host's event loop.
 *
 * The arrays keep their length between batches and count their used slots
 * instead: truncating an array (`length = 0`) gives its backing store back,
 * and the next push allocates a new one, once per batch, hundreds of
 * thousands of times a second under load.
 */
export class DeferQueue {
  private fns: Array<((arg: unknown) => void) | undefined> = [];
  private args: unknown[] = [];
  private count = 0;
  // The arrays of the batch that ran last, kept (cleared) for reuse.
  private spareFns: Array<((arg: unknown) => void) | undefined> = [];
  private spareArgs: unknown[] = [];

  get length(): number {
    return this.count;
  }

  push<T>(fn: (arg: T) => void, arg: T): void {
    const i = this.count++;
    if (i < this.fns.length) {
      this.fns[i] = fn as (arg: unknown) => void;
      this.args[i] = arg;
    } else {
      this.fns.push(fn as (arg: unknown) => void);
      this.args.push(arg);
    }
  }

  /**
   * Run the queued batch. A call that throws does not stop the ones after
   * it; the first error is rethrown once the batch is done, so the queue is
   * consistent whatever the caller does with the error.
   */
  runBatch(): void {
    const fns = this.fns;
    const args = this.args;
    const n = this.count;
    this.fns = this.spareFns;
    this.args = this.spareArgs;
    this.count = 0;
    let failed = false;
    let firstError: unknown;
    for (let i = 0; i < n; i++) {
      const fn = fns[i]!;
      const arg = args[i];
      // Drop the references early: args may be packets.
      fns[i] = undefined;
      args[i] = undefined;
      try {
        fn(arg);
      } catch (err) {
        if (!failed) {
          failed = true;
          firstError = err;
        }
      }
    }
    this.spareFns = fns;
    this.spareArgs = args;
    if (failed) throw firstError;
  }
}

/**
 * What a watch entry needs of its host: a softint queue for bus wake-ups.
 * The node host runs these sooner than `defer` (microtasks, a bounded
 * number per turn of the event loop, see hypercall/node.ts); the sim host
 * queues them with everything else.
 */
export interface Deferrer {
  deferWake<T>(fn: (arg: T) => void, arg: T): void;
}

/**
 * One `BusMapping.watch` registration. `owner` is the mapping that
 * registered it: a wake-up from that same mapping skips it (a writer does not
 * wake its own reader). `host` is the registering kernel's host, whose
 * softint queue runs `fn`. `queued` coalesces: however many wake-ups arrive
 * before the deferred call runs, `fn` runs once.
 */
export class WatchEntry {
  active = true;
  queued = false;
  constructor(
    readonly owner: object,
    readonly host: Deferrer,
    readonly fn: () => void,
  ) {}
}

/** The deferred half of a wake-up (used as `defer(runWatchEntry, entry)`). */
export function runWatchEntry(entry: WatchEntry): void {
  entry.queued = false;
  if (entry.active) entry.fn();
}

/** Queue `entry` on its host unless it is already queued or unsubscribed. */
export function wakeEntry(entry: WatchEntry): void {
  if (!entry.active || entry.queued) return;
  entry.queued = true;
  entry.host.deferWake(runWatchEntry, entry);
}

/** Wake every entry except those registered by `except` (pass null for all). */
export function wakeEntries(entries: readonly WatchEntry[], except: object | null): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.owner !== except) wakeEntry(e);
  }
}

/** Unsubscribe `entry` from `entries`. */
export function dropEntry(entries: WatchEntry[], entry: WatchEntry): void {
  entry.active = false;
  const i = entries.indexOf(entry);
  if (i >= 0) entries.splice(i, 1);
}

/** Unsubscribe every entry of `owner` from `entries` (in place). */
export function dropEntries(entries: WatchEntry[], owner: object): void {
  let j = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.owner === owner) e.active = false;
    else entries[j++] = e;
  }
  entries.length = j;
}

/**
 * The wake-up write: the u32 value 3 (the bus version) in native byte order,
 * written at file offset 4. NetBSD's shmif writes exactly this after a batch
 * of frames; the write, not the stores through the mapping, is what inotify
 * reports to readers in other processes.
 */
export const WAKE_OFFSET = 4;
export const WAKE_WORD: Uint8Array = new Uint8Array(new Uint32Array([3]).buffer);

/** Throw a RangeError unless `off` names a whole 4-aligned word inside `len` bytes. */
export function checkWordOffset(off: number, len: number): void {
  if (!(Number.isInteger(off) && off >= 0 && off % 4 === 0 && off + 4 <= len)) {
    throw new RangeError(`offset ${off} is not a 4-aligned word inside a buffer of ${len} bytes`);
  }
}

/** An Error shaped like Node's fs errors: `code`, `syscall`, `path`. */
export interface HostError extends Error {
  code: string;
  syscall?: string;
  path?: string;
}

export function hostError(code: string, text: string, syscall: string, path: string): HostError {
  const err = new Error(`${code}: ${text}, ${syscall} '${path}'`) as HostError;
  err.code = code;
  err.syscall = syscall;
  err.path = path;
  return err;
}
