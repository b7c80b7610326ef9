/*
 * Router discovery and stateless address autoconfiguration for a host
 * (NetBSD's netinet6/nd6_rtr.c and the solicitations rtsold sends;
 * RFC 4861 §6.3, RFC 4862 §5.5), while net.inet6.ip6.accept_rtadv is 1
 * (NetBSD's default 0) and the kernel does not forward.
 *
 *   interface up (or accept_rtadv set) → rtsolStart: up to
 *     MAX_RTR_SOLICITATIONS (3) router solicitations to ff02::2,
 *     RTR_SOLICITATION_INTERVAL (4 s) apart after a random delay below
 *     MAX_RTR_SOLICITATION_DELAY (§6.3.7); from the link-local address
 *     with our MAC once it is usable, else from :: without one. An
 *     advertisement on the interface ends them.
 *   router advertisement → nd6RaInput (validated as §6.1.2 says):
 *     - router lifetime: the default router list (§6.3.4); the first
 *       router's default route ::/0, moved to the next when it goes;
 *     - prefix information with A (RFC 4862 §5.5.3): an address of the
 *       prefix and the modified EUI-64 of our MAC, `autoconf`, with its
 *       valid and preferred lifetimes (the two-hour rule for updates);
 *       deprecated when preferred runs out, removed when valid does;
 *     - prefix information with L: the prefix is on link (a connected
 *       route for its valid lifetime);
 *     - MTU (§6.3.4, 1280 up to the interface's): the MTU of the routes
 *       the advertisement gave; the source link-layer address: the router
 *       as a neighbour.
 *   A one-second tick (NetBSD's nd6_timer) ages routers, prefixes and
 *   addresses while any has a lifetime that ends.
 *
 * Bounded: at most ND6_MAX_ROUTERS routers and ND6_MAX_PREFIXES prefixes;
 * more are ignored and counted (a flood of advertisements cannot grow them).
 */
import type { Callout } from '../../kern/callout.js';
import { defineKernelState } from '../../kern/kernel.js';
import { MAX_LINKHDR, type Mbuf } from '../../kern/mbuf.js';
import { IFF_LOOPBACK, IFF_NOARP, type Ifnet } from '../interface.js';
import { RTF_CONNECTED, RTF_GATEWAY, RTF_UP } from '../route.js';
import {
  ND_OPT_LLA_ETHER_LEN, ND_OPT_MTU, ND_OPT_PREFIX_INFORMATION, ND_OPT_SOURCE_LINKADDR, ND_ROUTER_SOLICIT, icmp6Code,
  icmp6SetChecksum, ndFindLla, ndOptionsOk, ndWriteLlaOption,
} from '../wire/icmp6.js';
import { IN6ADDR_ANY, in6Equal, in6IsLinkLocal, in6IsMulticast, in6MaskInto } from '../wire/in6addr.js';
import { IP6_OFF_SRC, IPPROTO_ICMPV6, IPV6_MAXHLIM, IPV6_MMTU, ip6Hlim } from '../wire/ipv6.js';
import { in6AddAddress, in6PurgeAddr } from './in6.js';
import { in6Eui64FromMac } from './in6_ifattach.js';
import { in6LifetimeEnds, in6SetLifetimeEnds } from './in6_lifetime.js';
import { IN6_IFF_NOTREADY, type In6Ifaddr, type Inet6 } from './inet6.js';
import { ip6OutputIf } from './ip6_output.js';
import { nd6Learn } from './nd6.js';
import { MAX_RTR_SOLICITATION_DELAY } from './nd6_dad.js';
import { Rtentry6 } from './route6.js';

/** RFC 4861 §10 host constants. */
export const MAX_RTR_SOLICITATIONS = 3;
export const RTR_SOLICITATION_INTERVAL = 4_000;
/** The length of a router advertisement before its options, and of a solicitation. */
const ND_RA_LEN = 16;
const ND_RS_LEN = 8;
/** Bounds on what advertisements may add. */
export const ND6_MAX_ROUTERS = 16;
export const ND6_MAX_PREFIXES = 64;
/** IN6_IFF_AUTOCONF (netinet6/in6_var.h): formed from a prefix. DEPRECATED is in6_lifetime.ts's. */
export { IN6_IFF_DEPRECATED } from './in6_lifetime.js';
export const IN6_IFF_AUTOCONF = 0x40;
/** The all-routers group (RFC 4291 §2.7.1). */
const ALL_ROUTERS = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2);
/** RFC 4862 §5.5.3 (e): two hours, in seconds. */
const TWO_HOURS = 7200;
/** A lifetime of all ones is infinity (RFC 4861 §4.6.2). */
const INFINITE = 0xffffffff;

/** A router on the default router list (struct nd_defrouter). */
export interface Nd6Router {
  readonly addr: Uint8Array;
  readonly ifp: Ifnet;
  /** Uptime (ms) when it stops being a default router. */
  expire: number;
}

/** An on-link prefix (struct nd_prefix), and the address we formed in it. */
export interface Nd6Prefix {
  readonly prefix: Uint8Array;
  readonly plen: number;
  readonly ifp: Ifnet;
  /** Uptime (ms) the prefix stops being on link; Infinity for an infinite lifetime. */
  onlinkExpire: number;
  /** The connected route the L flag made, or null (the address's own route serves). */
  route: Rtentry6 | null;
  /** The address formed from it (A flag); its lifetimes are the address's own (in6_lifetime.ts). */
  ia: In6Ifaddr | null;
}

/** Router discovery counters (sysctl net.inet6.icmp6.nd6_rtr_stats). */
export class Nd6RtrStats {
  rs_out = 0;
  ra_in = 0;
  /** Advertisements failing §6.1.2's checks. */
  ra_bad = 0;
  /** Advertisements ignored: accept_rtadv is 0, or we forward. */
  ra_ignored = 0;
  /** Routers or prefixes not taken because the list was full. */
  full = 0;
  autoconf = 0;
}

export class Nd6Rtr {
  acceptRtadv = 0;
  readonly routers: Nd6Router[] = [];
  readonly prefixes: Nd6Prefix[] = [];
  /** The default route we installed, and its router. */
  defroute: Rtentry6 | null = null;
  readonly stats = new Nd6RtrStats();
  /** Per interface: solicitations still to send and their timer. */
  readonly rtsol = new Map<Ifnet, { left: number; timer: Callout<Ifnet> }>();
  /** The advertised link MTU per interface. */
  readonly linkmtu = new Map<Ifnet, number>();
  readonly tick: Callout<Inet6>;

  constructor(readonly inet6: Inet6) {
    this.tick = inet6.kernel.callouts.create<Inet6>(nd6RtrTick, inet6);
  }
}

const RTR = defineKernelState<Nd6Rtr>('IPv6 router discovery (component net_netinet6)');

export function nd6Rtr(inet6: Inet6): Nd6Rtr {
  return RTR.get(inet6.kernel);
}

/** At net_netinet6's init: the sysctls. */
export function nd6RtrAttach(inet6: Inet6): void {
  const rtr = new Nd6Rtr(inet6);
  RTR.set(inet6.kernel, rtr);
  const sc = inet6.kernel.sysctl;
  sc.int('net.inet6.ip6.accept_rtadv', () => rtr.acceptRtadv, (v) => {
    const was = rtr.acceptRtadv;
    rtr.acceptRtadv = v;
    // Switched on: solicit on every interface that is up, as rtsold would.
    if (v && !was) for (const ifp of inet6.ns.ifs.list) rtsolStart(inet6, ifp);
  }, 0, 1, 'Accept router advertisements (autoconfigure addresses and default routers)');
  sc.create('net.inet6.icmp6.nd6_rtr_stats', { type: 'struct', description: 'Router discovery statistics', get: () => ({ ...rtr.stats }) });
}

function accepting(inet6: Inet6): boolean {
  return RTR.peek(inet6.kernel)?.acceptRtadv === 1 && !inet6.forwarding;
}

/* ------------------------------------------------------------------------ */
/* Solicitations */

/** An interface came up: solicit routers (§6.3.7) when we take advertisements. */
export function rtsolStart(inet6: Inet6, ifp: Ifnet): void {
  if (!accepting(inet6) || !ifp.isUp || ifp.lladdr === null || ifp.flags & (IFF_LOOPBACK | IFF_NOARP)) return;
  const rtr = nd6Rtr(inet6);
  let s = rtr.rtsol.get(ifp);
  if (s === undefined) {
    s = { left: 0, timer: inet6.kernel.callouts.create<Ifnet>((i) => rtsolTimer(inet6, i), ifp) };
    rtr.rtsol.set(ifp, s);
  }
  s.left = MAX_RTR_SOLICITATIONS;
  s.timer.reset(inet6.kernel.host.random32() % MAX_RTR_SOLICITATION_DELAY);
}

/** Down or detached: no more solicitations on `ifp`. */
export function rtsolStop(inet6: Inet6, ifp: Ifnet): void {
  const rtr = RTR.peek(inet6.kernel);
  const s = rtr?.rtsol.get(ifp);
  if (s === undefined) return;
  s.timer.stop();
  rtr!.rtsol.delete(ifp);
}

function rtsolTimer(inet6: Inet6, ifp: Ifnet): void {
  const s = nd6Rtr(inet6).rtsol.get(ifp);
  if (s === undefined || s.left <= 0 || !ifp.isUp || !accepting(inet6)) return;
  s.left--;
  nd6RsOutput(inet6, ifp);
  if (s.left > 0) s.timer.reset(RTR_SOLICITATION_INTERVAL);
}

/** A router solicitation to all-routers (§4.1, §6.3.7). */
export function nd6RsOutput(inet6: Inet6, ifp: Ifnet): void {
  const m = inet6.kernel.mbufs.get(ND_RS_LEN + ND_OPT_LLA_ETHER_LEN, MAX_LINKHDR + 40);
  if (m === null) return;
  // From the link-local address once DAD let it be used; until then from ::
  // and without the source link-layer option (§4.1).
  let src: Uint8Array = IN6ADDR_ANY;
  for (const ia of inet6.addrs) {
    if (ia.ifp === ifp && in6IsLinkLocal(ia.addr, 0) && !(ia.flags & IN6_IFF_NOTREADY)) src = ia.addr;
  }
  const b = m.buf;
  const o = m.off;
  b.fill(0, o, o + ND_RS_LEN);
  b[o] = ND_ROUTER_SOLICIT;
  let len = ND_RS_LEN;
  if (src !== IN6ADDR_ANY) len += ndWriteLlaOption(b, o + len, ND_OPT_SOURCE_LINKADDR, ifp.lladdr!);
  m.len = len;
  icmp6SetChecksum(b, o, len, src, 0, ALL_ROUTERS, 0);
  nd6Rtr(inet6).stats.rs_out++;
  inet6.icmp6stat.outhist[ND_ROUTER_SOLICIT]!++;
  ip6OutputIf(inet6, m, ifp, src, 0, ALL_ROUTERS, 0, IPPROTO_ICMPV6, IPV6_MAXHLIM, 0);
}

/* ------------------------------------------------------------------------ */
/* Advertisements */

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** A lifetime in seconds as an uptime deadline (ms); Infinity for all ones. */
function deadline(now: number, secs: number): number {
  return secs === INFINITE ? Infinity : now + secs * 1000;
}

/**
 * nd6_ra_input: a router advertisement (`m` at the IPv6 header, the
 * message `off` bytes in, `len` long, its checksum verified). Owns `m`.
 */
export function nd6RaInput(inet6: Inet6, m: Mbuf, off: number, len: number): void {
  const k = inet6.kernel;
  const rtr = nd6Rtr(inet6);
  const buf = m.buf;
  const ip6 = m.off;
  const io = ip6 + off;
  const src = ip6 + IP6_OFF_SRC;
  const ifp = m.rcvif ? inet6.ns.ifs.byIndex[m.rcvif] ?? null : null;
  rtr.stats.ra_in++;
  // §6.1.2: from a link-local address, hop limit 255, code 0, 16 bytes or
  // more, options of non-zero length within the message.
  if (ifp === null || !in6IsLinkLocal(buf, src) || ip6Hlim(buf, ip6) !== IPV6_MAXHLIM || icmp6Code(buf, io) !== 0 ||
      len < ND_RA_LEN || !ndOptionsOk(buf, io, ND_RA_LEN, len)) {
    rtr.stats.ra_bad++;
    k.mbufs.free(m);
    return;
  }
  if (!accepting(inet6)) {
    rtr.stats.ra_ignored++;
    inet6.icmp6stat.nd_ignored++;
    k.mbufs.free(m);
    return;
  }
  // An advertisement answers our solicitations (§6.3.7).
  const s = rtr.rtsol.get(ifp);
  if (s !== undefined) s.left = 0;
  const now = k.uptime();
  const routerAddr = buf.slice(src, src + 16);
  const lifetime = (buf[io + 6]! << 8) | buf[io + 7]!;
  // The router as a neighbour (its link-layer address, IsRouter).
  const lla = ndFindLla(buf, io, ND_RA_LEN, len, ND_OPT_SOURCE_LINKADDR);
  if (lla >= 0) nd6Learn(inet6, ifp, buf, src, buf, lla, true);
  // Walk the options: prefixes and the MTU.
  let mtu = 0;
  const end = io + len;
  for (let p = io + ND_RA_LEN; p + 2 <= end;) {
    const olen = buf[p + 1]! * 8;
    if (olen === 0 || p + olen > end) break;
    if (buf[p] === ND_OPT_PREFIX_INFORMATION && olen >= 32) prefixInput(inet6, rtr, ifp, buf, p, now);
    else if (buf[p] === ND_OPT_MTU && olen >= 8) mtu = u32(buf, p + 4);
    p += olen;
  }
  k.mbufs.free(m);
  defrouterUpdate(inet6, rtr, ifp, routerAddr, lifetime, now);
  // §6.3.4: an MTU below the minimum or above what the link carries is ignored.
  if (mtu >= IPV6_MMTU && mtu <= ifp.mtu) {
    rtr.linkmtu.set(ifp, mtu);
    for (const rt of inet6.rt6.all()) if (rt.ifp === ifp && (rt === rtr.defroute || rt.flags & RTF_CONNECTED)) rt.mtu = mtu;
  }
  armTick(rtr);
}

/** §6.3.4: the default router list. A lifetime of 0 takes the router off it. */
function defrouterUpdate(inet6: Inet6, rtr: Nd6Rtr, ifp: Ifnet, addr: Uint8Array, lifetime: number, now: number): void {
  const i = rtr.routers.findIndex((r) => r.ifp === ifp && in6Equal(r.addr, 0, addr, 0));
  if (lifetime === 0) {
    if (i >= 0) {
      rtr.routers.splice(i, 1);
      defrouteSelect(inet6, rtr);
    }
    return;
  }
  if (i >= 0) {
    rtr.routers[i]!.expire = now + lifetime * 1000;
    return;
  }
  if (rtr.routers.length >= ND6_MAX_ROUTERS) {
    rtr.stats.full++;
    return;
  }
  rtr.routers.push({ addr, ifp, expire: now + lifetime * 1000 });
  defrouteSelect(inet6, rtr);
}

/**
 * defrouter_select: the default route goes via the first router on the
 * list; none when the list is empty. A default route someone else made
 * (rump.route add -inet6 default ...) is left alone.
 */
function defrouteSelect(inet6: Inet6, rtr: Nd6Rtr): void {
  const rt6 = inet6.rt6;
  const first = rtr.routers[0];
  const cur = rtr.defroute;
  if (cur !== null && first !== undefined && cur.ifp === first.ifp && cur.gateway !== null && in6Equal(cur.gateway, 0, first.addr, 0)) return;
  if (cur !== null) {
    if (rt6.exact(IN6ADDR_ANY, 0) === cur) rt6.delete(IN6ADDR_ANY, 0);
    rtr.defroute = null;
  }
  if (first === undefined || rt6.exact(IN6ADDR_ANY, 0) !== null) return;
  const rt = new Rtentry6(new Uint8Array(16), 0, first.addr.slice(), RTF_UP | RTF_GATEWAY, first.ifp, null);
  const mtu = rtr.linkmtu.get(first.ifp);
  if (mtu !== undefined) rt.mtu = mtu;
  rtr.defroute = rt6.add(rt);
  rt6.generation++;
}

/** A prefix information option at buf[p] (RFC 4861 §6.3.4, RFC 4862 §5.5.3). */
function prefixInput(inet6: Inet6, rtr: Nd6Rtr, ifp: Ifnet, buf: Uint8Array, p: number, now: number): void {
  const plen = buf[p + 2]!;
  const onlink = (buf[p + 3]! & 0x80) !== 0;
  const auto = (buf[p + 3]! & 0x40) !== 0;
  const valid = u32(buf, p + 4);
  const pref = u32(buf, p + 8);
  const po = p + 16;
  // Neither a link-local prefix nor preferred beyond valid (§5.5.3 b, c); no multicast.
  if (plen > 128 || in6IsLinkLocal(buf, po) || in6IsMulticast(buf, po) || pref > valid) return;
  const prefix = new Uint8Array(16);
  in6MaskInto(buf, po, plen, prefix, 0);
  let pr = rtr.prefixes.find((x) => x.ifp === ifp && x.plen === plen && in6Equal(x.prefix, 0, prefix, 0));
  if (pr === undefined) {
    if (valid === 0 || (!onlink && !auto)) return;
    if (rtr.prefixes.length >= ND6_MAX_PREFIXES) {
      rtr.stats.full++;
      return;
    }
    pr = { prefix, plen, ifp, onlinkExpire: 0, route: null, ia: null };
    rtr.prefixes.push(pr);
  }
  if (onlink) {
    pr.onlinkExpire = deadline(now, valid);
    if (valid === 0) prefixOffLink(inet6, pr);
    else prefixOnLink(inet6, pr);
  }
  if (auto) addrUpdate(inet6, rtr, pr, valid, pref, now);
  prefixForgetIfIdle(rtr, pr);
}

function prefixOnLink(inet6: Inet6, pr: Nd6Prefix): void {
  if (pr.route !== null || inet6.rt6.exact(pr.prefix, pr.plen) !== null) return;
  pr.route = inet6.rt6.add(new Rtentry6(pr.prefix.slice(), pr.plen, null, RTF_UP | RTF_CONNECTED, pr.ifp, null));
  inet6.rt6.generation++;
}

function prefixOffLink(inet6: Inet6, pr: Nd6Prefix): void {
  if (pr.route !== null && inet6.rt6.exact(pr.prefix, pr.plen) === pr.route) {
    inet6.rt6.delete(pr.prefix, pr.plen);
    inet6.rt6.generation++;
  }
  pr.route = null;
}

function prefixForgetIfIdle(rtr: Nd6Rtr, pr: Nd6Prefix): void {
  if (pr.route === null && pr.ia === null) {
    const i = rtr.prefixes.indexOf(pr);
    if (i >= 0) rtr.prefixes.splice(i, 1);
  }
}

/** RFC 4862 §5.5.3 (d, e): form the address, or update its lifetimes. */
function addrUpdate(inet6: Inet6, rtr: Nd6Rtr, pr: Nd6Prefix, valid: number, pref: number, now: number): void {
  const ifp = pr.ifp;
  if (pr.ia !== null && !inet6.addrs.includes(pr.ia)) pr.ia = null; // removed by hand meanwhile
  if (pr.ia === null) {
    if (valid === 0) return;
    // The interface identifier is 64 bits (modified EUI-64): only a /64 makes an address (§5.5.3 d).
    if (pr.plen !== 64 || ifp.lladdr === null || ifp.lladdr.length !== 6) {
      inet6.kernel.host.log(`${ifp.name}: prefix length ${pr.plen} + interface identifier length 64 != 128: no address`);
      return;
    }
    const addr = pr.prefix.slice();
    in6Eui64FromMac(ifp.lladdr, addr);
    if (inet6.findLocal(addr, 0) !== null || inet6.addrs.some((a) => in6Equal(a.addr, 0, addr, 0))) return;
    try {
      pr.ia = in6AddAddress(inet6, ifp, addr, 64, 0, inet6.kernel.host.random32() % MAX_RTR_SOLICITATION_DELAY);
    } catch {
      return;
    }
    pr.ia.flags |= IN6_IFF_AUTOCONF;
    rtr.stats.autoconf++;
    in6SetLifetimeEnds(inet6, pr.ia, deadline(now, pref), deadline(now, valid));
    return;
  }
  // The two-hour rule (§5.5.3 e): a short valid lifetime cannot cut a
  // long remaining one below two hours (an unauthenticated RA could
  // otherwise take the address away at once).
  const was = in6LifetimeEnds(inet6, pr.ia).valid;
  const remaining = was === Infinity ? Infinity : (was - now) / 1000;
  let validEnd = was;
  if (valid === INFINITE || valid > TWO_HOURS || valid > remaining) validEnd = deadline(now, valid);
  else if (remaining > TWO_HOURS) validEnd = now + TWO_HOURS * 1000;
  in6SetLifetimeEnds(inet6, pr.ia, deadline(now, pref), validEnd);
}

/* ------------------------------------------------------------------------ */
/* Ageing */

function armTick(rtr: Nd6Rtr): void {
  if (rtr.tick.pending) return;
  // An address's own lifetimes are aged by in6_lifetime.ts; a prefix whose
  // address went is forgotten here, so one with an address that can go is finite too.
  const finite = rtr.routers.length > 0 || rtr.prefixes.some((p) => p.onlinkExpire !== Infinity || p.ia !== null);
  if (finite) rtr.tick.reset(1000);
}

/** nd6_timer's part for routers and prefixes: what ran out goes. */
function nd6RtrTick(inet6: Inet6): void {
  const rtr = nd6Rtr(inet6);
  const now = inet6.kernel.uptime();
  const before = rtr.routers.length;
  for (let i = rtr.routers.length - 1; i >= 0; i--) if (rtr.routers[i]!.expire <= now) rtr.routers.splice(i, 1);
  if (rtr.routers.length !== before) defrouteSelect(inet6, rtr);
  for (const pr of [...rtr.prefixes]) {
    if (pr.route !== null && pr.onlinkExpire <= now) prefixOffLink(inet6, pr);
    if (pr.ia !== null && !inet6.addrs.includes(pr.ia)) pr.ia = null; // its valid lifetime ended (or removed by hand)
    prefixForgetIfIdle(rtr, pr);
  }
  armTick(rtr);
}

/** An interface goes: its routers, prefixes and solicitations with it. */
export function nd6RtrIfDetach(inet6: Inet6, ifp: Ifnet): void {
  const rtr = RTR.peek(inet6.kernel);
  if (rtr === undefined) return;
  rtsolStop(inet6, ifp);
  rtr.linkmtu.delete(ifp);
  for (let i = rtr.routers.length - 1; i >= 0; i--) if (rtr.routers[i]!.ifp === ifp) rtr.routers.splice(i, 1);
  for (let i = rtr.prefixes.length - 1; i >= 0; i--) if (rtr.prefixes[i]!.ifp === ifp) rtr.prefixes.splice(i, 1);
  if (rtr.defroute !== null && rtr.defroute.ifp === ifp) rtr.defroute = null;
  defrouteSelect(inet6, rtr);
}

/** The default router list and the prefixes, for tests and ndp -r / -p. */
export function nd6RtrState(inet6: Inet6): { routers: readonly Nd6Router[]; prefixes: readonly Nd6Prefix[] } {
  const rtr = RTR.peek(inet6.kernel);
  return { routers: rtr?.routers ?? [], prefixes: rtr?.prefixes ?? [] };
}


/** `ndp -R`: forget every default router (and the default route they gave). */
export function nd6RtrFlush(inet6: Inet6): void {
  const rtr = RTR.peek(inet6.kernel);
  if (rtr === undefined) return;
  rtr.routers.length = 0;
  defrouteSelect(inet6, rtr);
}

/**
 * `ndp -P`: forget every prefix, with the on-link routes and the addresses
 * they made (NetBSD's SIOCSPFXFLUSH_IN6 removes the autoconfigured
 * addresses of each prefix too).
 */
export function nd6PfxFlush(inet6: Inet6): void {
  const rtr = RTR.peek(inet6.kernel);
  if (rtr === undefined) return;
  for (const pr of [...rtr.prefixes]) {
    prefixOffLink(inet6, pr);
    if (pr.ia !== null && inet6.addrs.includes(pr.ia)) in6PurgeAddr(inet6, pr.ia);
    pr.ia = null;
  }
  rtr.prefixes.length = 0;
}
