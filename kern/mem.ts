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

  /**
   * What data callers write may not take: an eighth of the limit is kept for
   * the packet path, so that send buffers filled to the limit never leave
   * the kernel without a buffer for the ACKs that would empty them (a NIC's
   * receive ring is allocated before anyone writes, for the same reason).
   */
  get reserve(): number {
    return Number.isFinite(this.limit) ? Math.floor(this.limit / 8) : 0;
  }

  /** Charge `n` bytes; `user` (data a caller writes) stops short of the reserve. */
  charge(n: number, user = false): boolean {
    const next = this.used + n;
    if (next > (user ? this.limit - this.reserve : this.limit)) {
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
