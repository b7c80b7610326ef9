/*
 * Memory accounting against RUMP_MEMLIMIT. Packet buffers and socket buffers
 * charge what they hold; at the limit a charge fails and the caller fails the
 * way BSD does (ENOBUFS to a caller, a counted drop on the packet path).
 * Memory released makes room again, so the kernel recovers by itself.
 */
export class MemAccount {
  used = 0;
  peak = 0;
  failures = 0;

  constructor(readonly limit: number) {}

  charge(n: number): boolean {
    const next = this.used + n;
    if (next > this.limit) {
      this.failures++;
      return false;
    }
    this.used = next;
    if (next > this.peak) this.peak = next;
    return true;
  }

  release(n: number): void {
    this.used -= n;
    if (this.used < 0) this.used = 0;
  }
}
