/*
 * Wake-ups for sleepers on a kernel object (NetBSD selinfo + condvar): a
 * socket notifies its SelInfo when it becomes readable, writable, or fails;
 * blocked calls and poll() wait on it.
 */
export const POLLIN = 0x0001;
export const POLLPRI = 0x0002;
export const POLLOUT = 0x0004;
export const POLLRDNORM = 0x0040;
export const POLLRDBAND = 0x0080;
export const POLLWRNORM = POLLOUT;
export const POLLERR = 0x0008;
export const POLLHUP = 0x0010;
export const POLLNVAL = 0x0020;

/**
 * Who waits: a function, or an object whose selwakeup() is called, so that
 * a long-lived sleeper (a Node handle over an idle socket) needs no
 * closure of its own.
 */
export type Waiter = (() => void) | { selwakeup(): void };

function call(w: Waiter): void {
  if (typeof w === 'function') w();
  else w.selwakeup();
}

export class SelInfo {
  /*
   * Most sockets have one sleeper at a time (the face's handle, or one
   * blocked call), and an idle server holds many thousands of sockets: keep
   * the first sleeper in a field and allocate a list only for a second one.
   */
  private w0: Waiter | null = null;
  private more: Waiter[] | null = null;

  /** Call `w` at the next notify (once). Returns a function that cancels. */
  wait(w: Waiter): () => void {
    this.add(w);
    return () => this.remove(w);
  }

  /** wait() without the cancel function: undo with remove(w). */
  add(w: Waiter): void {
    if (this.w0 === null) this.w0 = w;
    else if (this.more === null) this.more = [w];
    else this.more.push(w);
  }

  /** Forget one registration of `w` (no-op when it already ran). */
  remove(w: Waiter): void {
    if (this.w0 === w) {
      this.w0 = null;
      return;
    }
    const m = this.more;
    if (m === null) return;
    const i = m.indexOf(w);
    if (i >= 0) m.splice(i, 1);
  }

  get sleeping(): number {
    return (this.w0 !== null ? 1 : 0) + (this.more !== null ? this.more.length : 0);
  }

  /** Wake everyone waiting (they re-check their condition). */
  notify(): void {
    const w0 = this.w0;
    const m = this.more;
    if (w0 === null && m === null) return;
    this.w0 = null;
    this.more = null;
    if (w0 !== null) call(w0);
    if (m !== null) for (const w of m) call(w);
  }
}
