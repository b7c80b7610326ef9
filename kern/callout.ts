/*
 * Callouts: kernel timers on the hypercall clock (NetBSD callout(9)).
 *
 * Every pending callout of a kernel sits in one binary heap ordered by
 * (deadline, sequence); the kernel keeps a single host timer armed for the
 * earliest. A callout is initialised once with its function and argument, so
 * resetting it on the packet path (a TCP retransmit timer on every ACK)
 * allocates nothing.
 */
import type { Hypercall, HostTimer } from '../hypercall/types.js';

export type CalloutFn<T> = (arg: T) => void;

export class Callout<T = unknown> {
  /** Host time (ms) when it fires; meaningful only while pending. */
  deadline = 0;
  /** Position in the heap, -1 when not pending. */
  heapIndex = -1;
  seq = 0;
  constructor(
    readonly wheel: CalloutWheel,
    readonly fn: CalloutFn<T>,
    readonly arg: T,
  ) {}

  get pending(): boolean {
    return this.heapIndex >= 0;
  }

  /** Arm (or re-arm) to fire `ms` milliseconds from now (callout_reset). */
  reset(ms: number): void {
    this.wheel.schedule(this as Callout<unknown>, this.wheel.host.now() + (ms > 0 ? ms : 0));
  }

  /** Arm for an absolute host time. */
  resetAt(deadline: number): void {
    this.wheel.schedule(this as Callout<unknown>, deadline);
  }

  /** Disarm (callout_stop). Returns whether it was pending. */
  stop(): boolean {
    if (this.heapIndex < 0) return false;
    this.wheel.remove(this as Callout<unknown>);
    return true;
  }

  /** Milliseconds until it fires, or -1 when not pending. */
  remaining(): number {
    return this.heapIndex < 0 ? -1 : Math.max(0, this.deadline - this.wheel.host.now());
  }
}

/**
 * The callouts of one kernel. NetBSD's callout(9) keeps them in a timer
 * wheel and the name stays; here they are the binary heap described above.
 */
export class CalloutWheel {
  private heap: Callout<unknown>[] = [];
  private timer: HostTimer | null = null;
  private seqNext = 0;
  private halted = false;
  private firing = false;
  private readonly onTimer = (): void => this.fire();

  constructor(readonly host: Hypercall) {}

  /** A new, idle callout that calls `fn(arg)` when it fires. */
  create<T>(fn: CalloutFn<T>, arg: T): Callout<T> {
    return new Callout<T>(this, fn, arg);
  }

  /** Number of pending callouts (for leak checks). */
  get count(): number {
    return this.heap.length;
  }

  schedule(c: Callout<unknown>, deadline: number): void {
    if (this.halted) return;
    c.deadline = deadline;
    c.seq = this.seqNext++;
    if (c.heapIndex >= 0) {
      this.siftUp(c.heapIndex);
      this.siftDown(c.heapIndex);
    } else {
      c.heapIndex = this.heap.length;
      this.heap.push(c);
      this.siftUp(c.heapIndex);
    }
    if (this.heap[0] === c) this.rearm();
  }

  remove(c: Callout<unknown>): void {
    const i = c.heapIndex;
    const last = this.heap.pop()!;
    c.heapIndex = -1;
    if (last !== c) {
      this.heap[i] = last;
      last.heapIndex = i;
      this.siftUp(i);
      this.siftDown(last.heapIndex);
    }
    if (i === 0) this.rearm();
  }

  /** Stop every callout and never arm again (kernel halt). */
  halt(): void {
    this.halted = true;
    for (const c of this.heap) c.heapIndex = -1;
    this.heap.length = 0;
    if (this.timer) this.host.cancelTimer(this.timer);
    this.timer = null;
  }

  private rearm(): void {
    if (this.firing) return;
    const first = this.heap[0];
    if (this.timer && first && this.timer.deadline === first.deadline) return;
    if (this.timer) this.host.cancelTimer(this.timer);
    this.timer = first ? this.host.armTimer(first.deadline, this.onTimer) : null;
  }

  private fire(): void {
    this.timer = null;
    const now = this.host.now();
    // Run everything due; a handler may reset itself or others (handled by the heap).
    this.firing = true;
    try {
      for (;;) {
        const c = this.heap[0];
        if (!c || c.deadline > now) break;
        this.remove(c);
        c.fn(c.arg);
      }
    } finally {
      this.firing = false;
      if (this.timer) this.host.cancelTimer(this.timer);
      this.timer = null;
      this.rearm();
    }
  }

  private less(a: Callout<unknown>, b: Callout<unknown>): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  private siftUp(i: number): void {
    const h = this.heap;
    const c = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pc = h[p]!;
      if (!this.less(c, pc)) break;
      h[i] = pc;
      pc.heapIndex = i;
      i = p;
    }
    h[i] = c;
    c.heapIndex = i;
  }

  private siftDown(i: number): void {
    const h = this.heap;
    const n = h.length;
    const c = h[i]!;
    for (;;) {
      let m = 2 * i + 1;
      if (m >= n) break;
      if (m + 1 < n && this.less(h[m + 1]!, h[m]!)) m++;
      const mc = h[m]!;
      if (!this.less(mc, c)) break;
      h[i] = mc;
      mc.heapIndex = i;
      i = m;
    }
    h[i] = c;
    c.heapIndex = i;
  }
}
