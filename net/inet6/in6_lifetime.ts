/*
 * Lifetimes of IPv6 addresses the user configures (NetBSD's ia6_lifetime as
 * in6_update_ifa sets it from SIOCAIFADDR_IN6, aged by nd6_timer):
 *
 *   ifconfig shmif0 inet6 fc00::3 pltime 3 vltime 10
 *     → preferred for 3 s, then DEPRECATED (RFC 4862 §5.5.4: still valid,
 *       not chosen for new communication); removed after 10 s.
 *   ifconfig shmif0 inet6 fc00::3 deprecated   → a preferred lifetime of 0.
 *
 * An address without them never expires ("infty"). Addresses formed from
 * router advertisements are aged here too: nd6_rtr.ts sets their ends from
 * the prefix's lifetimes (in6SetLifetimeEnds). One callout per kernel fires
 * at the earliest end, not a one-second tick.
 */
import type { Callout } from '../../kern/callout.js';
import { defineKernelState } from '../../kern/kernel.js';
import { in6PurgeAddr } from './in6.js';
import type { In6Ifaddr, Inet6 } from './inet6.js';

/** IN6_IFF_DEPRECATED (netinet6/in6_var.h): preferred lifetime over, still valid. */
export const IN6_IFF_DEPRECATED = 0x10;
/** ND6_INFINITE_LIFETIME: all ones means forever. */
export const ND6_INFINITE_LIFETIME = 0xffffffff;

export interface Ends {
  /** Uptime (ms) the address becomes deprecated; Infinity: never. */
  pref: number;
  /** Uptime (ms) it goes; Infinity: never. */
  valid: number;
}

class In6Lifetimes {
  readonly ends = new Map<In6Ifaddr, Ends>();
  readonly timer: Callout<Inet6>;
  constructor(inet6: Inet6) {
    this.timer = inet6.kernel.callouts.create<Inet6>(lifetimeTick, inet6);
  }
}

const LIFETIMES = defineKernelState<In6Lifetimes>('IPv6 address lifetimes (component net_netinet6)');

function lifetimes(inet6: Inet6): In6Lifetimes {
  let lt = LIFETIMES.peek(inet6.kernel);
  if (lt === undefined) {
    lt = new In6Lifetimes(inet6);
    LIFETIMES.set(inet6.kernel, lt);
  }
  return lt;
}

/**
 * Set `ia`'s lifetimes, in seconds from now (ND6_INFINITE_LIFETIME: never),
 * as SIOCAIFADDR_IN6 does: the DEPRECATED flag follows the preferred one.
 */
export function in6SetLifetimes(inet6: Inet6, ia: In6Ifaddr, pltime: number, vltime: number): void {
  const now = inet6.kernel.uptime();
  const end = (s: number): number => (s === ND6_INFINITE_LIFETIME ? Infinity : now + s * 1000);
  in6SetLifetimeEnds(inet6, ia, end(pltime), end(vltime));
}

/** Set `ia`'s lifetimes as uptimes (ms; Infinity: never); the DEPRECATED flag follows the preferred one. */
export function in6SetLifetimeEnds(inet6: Inet6, ia: In6Ifaddr, pref: number, valid: number): void {
  const lt = lifetimes(inet6);
  if (pref === Infinity && valid === Infinity) lt.ends.delete(ia);
  else lt.ends.set(ia, { pref, valid });
  if (pref <= inet6.kernel.uptime()) ia.flags |= IN6_IFF_DEPRECATED;
  else ia.flags &= ~IN6_IFF_DEPRECATED;
  arm(inet6, lt);
}

/** `ia`'s lifetime ends as uptimes (ms; Infinity: never). */
export function in6LifetimeEnds(inet6: Inet6, ia: In6Ifaddr): Ends {
  return LIFETIMES.peek(inet6.kernel)?.ends.get(ia) ?? { pref: Infinity, valid: Infinity };
}

/** What is left of `ia`'s lifetimes in whole seconds (null: infinite), for `ifconfig -L`. */
export function in6Lifetimes(inet6: Inet6, ia: In6Ifaddr): { pltime: number | null; vltime: number | null } {
  const e = in6LifetimeEnds(inet6, ia);
  const now = inet6.kernel.uptime();
  const left = (t: number): number | null => (t === Infinity ? null : Math.max(0, Math.ceil((t - now) / 1000)));
  return { pltime: left(e.pref), vltime: left(e.valid) };
}

function arm(inet6: Inet6, lt: In6Lifetimes): void {
  const now = inet6.kernel.uptime();
  let next = Infinity;
  for (const e of lt.ends.values()) {
    if (e.valid > now) next = Math.min(next, e.valid);
    if (e.pref > now) next = Math.min(next, e.pref);
  }
  if (next === Infinity) lt.timer.stop();
  else lt.timer.reset(next - now);
}

/** nd6_timer's part for these addresses: deprecate what is no longer preferred, remove what is no longer valid. */
function lifetimeTick(inet6: Inet6): void {
  const lt = lifetimes(inet6);
  const now = inet6.kernel.uptime();
  for (const [ia, e] of [...lt.ends]) {
    if (!inet6.addrs.includes(ia)) lt.ends.delete(ia);
    else if (e.valid <= now) {
      lt.ends.delete(ia);
      in6PurgeAddr(inet6, ia);
    } else if (e.pref <= now) ia.flags |= IN6_IFF_DEPRECATED;
  }
  arm(inet6, lt);
}
