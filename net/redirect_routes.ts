/*
 * The host routes ICMP and ICMPv6 redirects make (RFC 1122 §3.2.2.2,
 * RFC 4861 §8.3), for either family: bounded in number (a router can name any
 * destination) and removed after net.inet.icmp.redirtimeout /
 * net.inet6.icmp6.redirtimeout seconds, as NetBSD's rtredirect routes go.
 * Only the routing table differs between the families.
 */
import type { Callout } from '../kern/callout.js';
import type { Kernel } from '../kern/kernel.js';
import { RTF_DYNAMIC } from './route.js';

/** Routes redirects may make and keep at once (a bound on what a router can make a host hold). */
export const REDIRECT_MAX_ROUTES = 4096;

/** A route as this needs it: where it goes, and when it expires (kernel uptime, ms; 0: never). */
interface RedirectRoute<D> {
  readonly dst: D;
  readonly plen: number;
  readonly flags: number;
  expire: number;
}

/** The routing table of one family, as this needs it. */
interface ExactTable<D, R> {
  exact(dst: D, plen: number): R | null;
  add(rt: R): R;
  delete(dst: D, plen: number): unknown;
}

export class RedirectRoutes<D, R extends RedirectRoute<D>> {
  /** The routes redirects made, oldest first (at most REDIRECT_MAX_ROUTES). */
  readonly list: R[] = [];
  private timer: Callout<RedirectRoutes<D, R>> | null = null;

  constructor(private readonly kernel: Kernel, private readonly table: ExactTable<D, R>) {}

  /** Room for one more, forgetting routes already gone from the table. */
  hasRoom(): boolean {
    const list = this.list;
    if (list.length < REDIRECT_MAX_ROUTES) return true;
    let j = 0;
    for (const rt of list) if (this.live(rt)) list[j++] = rt;
    list.length = j;
    return j < REDIRECT_MAX_ROUTES;
  }

  /**
   * Put `rt` (a host route) in the table in place of one a redirect made
   * before; a route the user made for that host stays, and false says so.
   * It goes after `timeoutS` seconds (0: it stays).
   */
  install(rt: R, timeoutS: number): boolean {
    const old = this.table.exact(rt.dst, rt.plen);
    if (old !== null) {
      if (!(old.flags & RTF_DYNAMIC)) return false;
      this.table.delete(rt.dst, rt.plen);
    }
    const made = this.table.add(rt);
    this.list.push(made);
    if (timeoutS > 0) {
      made.expire = this.kernel.uptime() + timeoutS * 1000;
      const timer = this.timer ?? (this.timer = this.kernel.callouts.create<RedirectRoutes<D, R>>(expireDue, this));
      if (!timer.pending) timer.reset(timeoutS * 1000);
    }
    return true;
  }

  /** Is a route still in the table (the user may have deleted it, another redirect replaced it)? */
  private live(rt: R): boolean {
    return this.table.exact(rt.dst, rt.plen) === rt;
  }

  /** Remove the routes whose time is up; come back for the next one. */
  expireDue(): void {
    const now = this.kernel.uptime();
    const list = this.list;
    let next = 0;
    let j = 0;
    for (const rt of list) {
      if (!this.live(rt)) continue;
      if (rt.expire !== 0 && rt.expire <= now) {
        this.table.delete(rt.dst, rt.plen);
        continue;
      }
      list[j++] = rt;
      if (rt.expire !== 0 && (next === 0 || rt.expire < next)) next = rt.expire;
    }
    list.length = j;
    if (next !== 0) this.timer!.reset(next - now);
  }
}

function expireDue<D, R extends RedirectRoute<D>>(rr: RedirectRoutes<D, R>): void {
  rr.expireDue();
}
