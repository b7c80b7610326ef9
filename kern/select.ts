/*
 * Wake-ups for sleepers on a kernel object (NetBSD selinfo + condvar): a
 * socket notifies its SelInfo when it becomes readable, writable, or fails;
 * blocked calls and poll() wait on it.
 */
export const POLLIN = 0x0001;
export const POLLPRI = 0x0002;
export const POLLOUT = 0x0004;
export const POLLRDNORM = 0x0040;
export const POLLWRNORM = POLLOUT;
export const POLLERR = 0x0008;
export const POLLHUP = 0x0010;
export const POLLNVAL = 0x0020;

export type Waiter = () => void;

export class SelInfo {
  private waiters: Waiter[] = [];

  /** Call `w` at the next notify (once). Returns a function that cancels. */
  wait(w: Waiter): () => void {
    this.waiters.push(w);
    return () => {
      const i = this.waiters.indexOf(w);
      if (i >= 0) this.waiters.splice(i, 1);
    };
  }

  get sleeping(): number {
    return this.waiters.length;
  }

  /** Wake everyone waiting (they re-check their condition). */
  notify(): void {
    if (this.waiters.length === 0) return;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
