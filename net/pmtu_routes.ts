/*
 * Path MTUs learnt from ICMP "fragmentation needed" (RFC 1191) and ICMPv6
 * "packet too big" (RFC 8201), kept in the routing table as NetBSD keeps
 * them: the host route to the destination carries the MTU (one is made,
 * RTF_HOST | RTF_DYNAMIC, when the destination had only a network route),
 * and after the timeout (net.inet.ip.mtudisctimeout, 600 s; RFC 1191 §6.3,
 * RFC 8201 §4 say "no less than 5 minutes, 10 recommended") a made route
 * goes and a route that was there before gets its own MTU back (usually
 * 0: the interface's), so a larger path MTU is found again. Routes made are bounded
 * in number (anyone can send ICMP naming any destination). Only the routing
 * table differs between the families.
 */
import type { Callout } from '../kern/callout.js';
import type { Kernel } from '../kern/kernel.js';
import type { Ifnet } from './interface.js';
import { RTF_DYNAMIC, RTF_GATEWAY, RTF_HOST, RTF_UP } from './route.js';

/** Host routes path MTU discovery may make and keep at once. */
export const PMTU_MAX_ROUTES = 4096;

/** A route as this needs it (Rtentry, Rtentry6). */
interface PmtuRoute<D> {
  readonly dst: D;
  readonly plen: number;
  flags: number;
  mtu: number;
  expire: number;
  ifp: Ifnet;
}

/** The routing table of one family, as this needs it. */
interface PmtuTable<D, R> {
  exact(dst: D, plen: number): R | null;
  add(rt: R): R;
  delete(dst: D, plen: number): unknown;
}

export class PmtuRoutes<D, R extends PmtuRoute<D>> {
  /** Routes whose MTU was lowered, oldest first; `made` says which were made for it, `before` the MTU to give back. */
  private readonly list: Array<{ rt: R; made: boolean; before: number }> = [];
  private madeCount = 0;
  private timer: Callout<PmtuRoutes<D, R>> | null = null;

  constructor(
    private readonly kernel: Kernel,
    private readonly table: PmtuTable<D, R>,
    /** The host prefix length of the family (32, 128). */
    private readonly hostPlen: number,
    /** A host route to `dst` like `via` (its gateway, interface and source) with `flags`. */
    private readonly makeHost: (dst: D, via: R, flags: number) => R,
  ) {}

  /**
   * The path to `dst`, routed by `rt`, takes at most `mtu` bytes: set it on
   * the host route (made if `rt` is not one), for `timeoutS` seconds (0:
   * until removed). Returns the route that holds it, or null when no more
   * routes may be made.
   */
  lower(dst: D, rt: R, mtu: number, timeoutS: number): R | null {
    let host = rt;
    let made = false;
    if (rt.plen !== this.hostPlen || !(rt.flags & RTF_HOST)) {
      if (this.madeCount >= PMTU_MAX_ROUTES && !this.forgetGone()) return null;
      host = this.table.add(this.makeHost(dst, rt, RTF_UP | RTF_HOST | RTF_DYNAMIC | (rt.flags & RTF_GATEWAY)));
      host.mtu = rt.mtu;
      made = true;
      this.madeCount++;
    }
    let before = host.mtu;
    if (!made) {
      // Already ours, or a route that was there before: listed once.
      const i = this.list.findIndex((e) => e.rt === host);
      if (i >= 0) {
        made = this.list[i]!.made;
        before = this.list[i]!.before;
        this.list.splice(i, 1);
      }
    }
    host.mtu = mtu;
    this.list.push({ rt: host, made, before });
    host.expire = timeoutS > 0 ? this.kernel.uptime() + timeoutS * 1000 : 0;
    if (timeoutS > 0) {
      const timer = this.timer ?? (this.timer = this.kernel.callouts.create<PmtuRoutes<D, R>>(expireDue, this));
      if (!timer.pending) timer.reset(timeoutS * 1000);
    }
    return host;
  }

  /** Is a route still in the table (the user may have deleted it)? */
  private live(rt: R): boolean {
    return this.table.exact(rt.dst, rt.plen) === rt;
  }

  /** Drop entries for routes gone from the table; whether there is room to make one now. */
  private forgetGone(): boolean {
    let j = 0;
    let made = 0;
    for (const e of this.list) {
      if (!this.live(e.rt)) continue;
      this.list[j++] = e;
      if (e.made) made++;
    }
    this.list.length = j;
    this.madeCount = made;
    return made < PMTU_MAX_ROUTES;
  }

  /** Time is up for some: made routes go, others get their MTU back; come back for the next. */
  expireDue(): void {
    const now = this.kernel.uptime();
    let next = 0;
    let j = 0;
    for (const e of this.list) {
      const rt = e.rt;
      if (!this.live(rt)) {
        if (e.made) this.madeCount--;
        continue;
      }
      if (rt.expire !== 0 && rt.expire <= now) {
        rt.expire = 0;
        if (e.made) {
          this.table.delete(rt.dst, rt.plen);
          this.madeCount--;
        } else rt.mtu = e.before;
        continue;
      }
      this.list[j++] = e;
      if (rt.expire !== 0 && (next === 0 || rt.expire < next)) next = rt.expire;
    }
    this.list.length = j;
    if (next !== 0) this.timer!.reset(next - now);
  }
}

function expireDue<D, R extends PmtuRoute<D>>(p: PmtuRoutes<D, R>): void {
  p.expireDue();
}
