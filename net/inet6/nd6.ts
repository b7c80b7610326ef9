/*
 * Neighbor Discovery for IPv6 over Ethernet (RFC 4861), the host's part,
 * as NetBSD's netinet6/nd6.c and nd6_nbr.c do it: address resolution and
 * neighbor unreachability detection.
 *
 *   out: ip6Output → etherOutput → ns.etherResolve(AF_INET6) = nd6Resolve
 *          multicast:  33:33 + the group's low 32 bits (RFC 2464 §7)
 *          REACHABLE, DELAY, PROBE: the cached address
 *          STALE:      the cached address, and DELAY (§7.3.3)
 *          none / INCOMPLETE: hold the packet, multicast a solicitation to
 *                      the target's solicited-node group, once per
 *                      RetransTimer, MAX_MULTICAST_SOLICIT times; then the
 *                      held packets earn ICMPv6 address unreachable
 *                      (§7.2.2) and the entry goes
 *   in:  icmp6Input → nd6NsInput: validate (§7.1.1), learn the sender's
 *          address (STALE, §7.2.3), answer for our own addresses with a
 *          solicited advertisement carrying our MAC
 *        → nd6NaInput: validate (§7.1.2), update the entry (§7.2.5), send
 *          what was held
 *
 * Timers (§10 constants; one callout per entry): REACHABLE lasts
 * ReachableTime (30 s, randomized by 0.5–1.5 as §6.3.2 asks, from the
 * host's random source), then STALE; a STALE entry used goes to DELAY
 * (5 s) then PROBE (unicast solicitations); unanswered, it goes. STALE
 * entries nobody uses are collected after a day (NetBSD's nd6_gctimer).
 *
 * Duplicate Address Detection (RFC 4862 §5.4) is nd6_dad.ts: a solicitation
 * or advertisement for one of our tentative addresses goes there; a
 * solicitation from :: for an address we have (a peer's probe) is answered
 * to all-nodes, which defends it. Redirects are icmp6_redirect.ts, router
 * discovery nd6_rtr.ts. By hand (rump.ndp): permanent, temp and proxy
 * entries (§7.2.8), -d, -c; GC at neighborgcthresh as NetBSD's nd6_gc_neighbors.
 */
import { AF_INET6 } from '../../kern/sys.js';
import { RTM_ADD, RTM_DELETE, rtsockLlinfo, saIn6 } from '../rtsock.js';
import type { Callout } from '../../kern/callout.js';
import { Errno, EEXIST, EINVAL, ENETUNREACH, ENOBUFS, ESRCH, EWOULDBLOCK } from '../../kern/errno.js';
import { defineKernelState } from '../../kern/kernel.js';
import { M_MCAST, MAX_LINKHDR, type Mbuf } from '../../kern/mbuf.js';
import { IFF_LOOPBACK, IFF_MULTICAST, IFF_NOARP, type Ifnet } from '../interface.js';
import { etherSend } from '../if/ether.js';
import { ETHERTYPE_IPV6, macCopy, macEquals } from '../wire/ether.js';
import {
  IN6ADDR_LINKLOCAL_ALLNODES, formatIn6Addr, in6Copy, in6Equal, in6Hash, in6IsMulticast, in6IsSolicitedNodeOf,
  in6IsUnspecified, in6MulticastMac, in6PrefixEqual, in6SolicitedNode, parseIn6Addr,
} from '../wire/in6addr.js';
import { formatMac, parseMac } from '../wire/inaddr.js';
import { RTF_BLACKHOLE, RTF_GATEWAY, RTF_LOCAL, RTF_REJECT } from '../route.js';
import {
  ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADDR, ND_NA_FLAG_OVERRIDE, ND_NA_FLAG_ROUTER, ND_NA_FLAG_SOLICITED, ND_NA_LEN,
  ND_NS_LEN, ND_OFF_TARGET, ND_OPT_LLA_ETHER_LEN, ND_OPT_SOURCE_LINKADDR, ND_OPT_TARGET_LINKADDR, icmp6Code,
  icmp6SetChecksum, ndFindLla, ndNaFlags, ndOptionsOk, ndWriteNa, ndWriteNs,
} from '../wire/icmp6.js';
import { IP6_OFF_DST, IP6_OFF_SRC, IPPROTO_ICMPV6, IPV6_MAXHLIM, ip6Hlim } from '../wire/ipv6.js';
import { icmp6Error } from './icmp6.js';
import { IN6_IFF_NOTREADY, IN6_IFF_TENTATIVE, INET6, type Inet6 } from './inet6.js';
import { nd6DadNaInput, nd6DadNsInput } from './nd6_dad.js';
import { in6AddMulti, in6DelMulti, type In6Multi } from './mld6.js';
import { ip6OutputIf } from './ip6_output.js';

/* RFC 4861 §10 protocol constants (ms where they are times). */
export const MAX_MULTICAST_SOLICIT = 3;
export const MAX_UNICAST_SOLICIT = 3;
export const RETRANS_TIMER = 1_000;
export const REACHABLE_TIME = 30_000;
export const DELAY_FIRST_PROBE_TIME = 5_000;
/** How long an unused STALE entry is kept (NetBSD nd6_gctimer, one day). */
export const ND6_GCTIMER = 86_400_000;
/** Packets held per unresolved neighbor (as ARP's, so a first large burst survives resolution). */
export const ND6_MAXHOLD = 48;
/** Hard bound on the cache per kernel, whatever neighborgcthresh says (it may be -1). */
export const ND6_MAXENTRIES = 4096;
/** net.inet6.ip6.neighborgcthresh's default (NetBSD's ip6_neighborgcthresh): entries per interface before GC. */
export const ND6_GCTHRESH = 2048;
/** Entries one GC pass collects (NetBSD's nd6_gc_neighbors). */
export const ND6_GC_BATCH = 10;
/** How long an `ndp -s ... temp` entry lasts (ndp.c: 20 minutes). */
export const ND6_TEMP_EXPIRE = 20 * 60_000;

/* Neighbor cache states (RFC 4861 §7.3.2), NetBSD's ND6_LLINFO_* names. */
export const ND6_LLINFO_INCOMPLETE = 0;
export const ND6_LLINFO_REACHABLE = 1;
export const ND6_LLINFO_STALE = 2;
export const ND6_LLINFO_DELAY = 3;
export const ND6_LLINFO_PROBE = 4;
const STATE_NAMES: readonly string[] = ['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE'];

export class Nd6Entry {
  readonly addr = new Uint8Array(16);
  readonly mac = new Uint8Array(6);
  state = ND6_LLINFO_INCOMPLETE;
  isRouter = false;
  /** Set by `ndp -s` without temp: no timer, not learnt over, kept by ndp -c and interface down. */
  permanent = false;
  /** `ndp -s ... proxy`: we answer solicitations for it with its address (RFC 4861 §7.2.8). */
  proxy = false;
  /** A proxy entry's membership of the address's solicited-node group, so its solicitations reach us. */
  group: In6Multi | null = null;
  /** Solicitations sent in the current INCOMPLETE or PROBE round. */
  asked = 0;
  /** Packets waiting for the address, oldest first. */
  readonly hold: Mbuf[] = [];
  readonly timer: Callout<Nd6Entry>;
  constructor(
    readonly cache: Nd6Cache,
    readonly ifp: Ifnet,
    addr: Uint8Array,
    aOff: number,
    readonly key: number,
  ) {
    in6Copy(this.addr, 0, addr, aOff);
    this.timer = cache.inet6.kernel.callouts.create<Nd6Entry>(nd6Timer, this);
  }
}

/** The neighbor cache of one kernel, keyed by (interface, address). */
export class Nd6Cache {
  private readonly buckets = new Map<number, Nd6Entry[]>();
  private count = 0;
  /** Entries per interface, for neighborgcthresh. */
  private readonly perIf = new Map<Ifnet, number>();
  /* The bounds, as sysctls (net.inet6.icmp6.nd6_maxqueuelen, net.inet6.ip6.neighborgcthresh). */
  maxhold = ND6_MAXHOLD;
  gcthresh = ND6_GCTHRESH;
  readonly maxentries = ND6_MAXENTRIES;
  constructor(readonly inet6: Inet6) {}

  get size(): number {
    return this.count;
  }

  static key(ifp: Ifnet, b: Uint8Array, off: number): number {
    return in6Hash(b, off, ifp.index) & 0x3fffffff;
  }

  lookup(ifp: Ifnet, b: Uint8Array, off: number): Nd6Entry | null {
    const bucket = this.buckets.get(Nd6Cache.key(ifp, b, off));
    if (bucket === undefined) return null;
    for (let i = 0; i < bucket.length; i++) {
      const e = bucket[i]!;
      if (e.ifp === ifp && in6Equal(e.addr, 0, b, off)) return e;
    }
    return null;
  }

  /**
   * A new INCOMPLETE entry, or null when the cache is full. An interface
   * whose cache has reached neighborgcthresh first loses up to
   * ND6_GC_BATCH entries that are not permanent (NetBSD's nd6_gc_neighbors).
   */
  create(ifp: Ifnet, b: Uint8Array, off: number): Nd6Entry | null {
    if (this.gcthresh >= 0 && this.countOn(ifp) >= this.gcthresh) this.collect(ifp);
    if (this.count >= this.maxentries) return null;
    const key = Nd6Cache.key(ifp, b, off);
    const e = new Nd6Entry(this, ifp, b, off, key);
    this.perIf.set(ifp, this.countOn(ifp) + 1);
    const bucket = this.buckets.get(key);
    if (bucket === undefined) this.buckets.set(key, [e]);
    else bucket.push(e);
    this.count++;
    rtsockLlinfo(ifp.kernel, RTM_ADD, AF_INET6, () => saIn6(e.addr), ifp, null);
    return e;
  }

  /** Entries on `ifp`. */
  countOn(ifp: Ifnet): number {
    return this.perIf.get(ifp) ?? 0;
  }

  private collect(ifp: Ifnet): void {
    let n = ND6_GC_BATCH;
    for (const bucket of [...this.buckets.values()]) {
      for (const e of [...bucket]) {
        if (n === 0) return;
        if (e.ifp !== ifp || e.permanent) continue;
        this.remove(e);
        this.inet6.nd6stat.gcollected++;
        n--;
      }
    }
  }

  /** Forget an entry: its timer stops, its held packets are freed. */
  remove(e: Nd6Entry): void {
    const bucket = this.buckets.get(e.key);
    const i = bucket === undefined ? -1 : bucket.indexOf(e);
    if (i < 0) return;
    const left = this.countOn(e.ifp) - 1;
    if (left > 0) this.perIf.set(e.ifp, left);
    else this.perIf.delete(e.ifp);
    bucket!.splice(i, 1);
    if (bucket!.length === 0) this.buckets.delete(e.key);
    this.count--;
    rtsockLlinfo(e.ifp.kernel, RTM_DELETE, AF_INET6, () => saIn6(e.addr), e.ifp, e.state === ND6_LLINFO_INCOMPLETE ? null : e.mac);
    e.timer.stop();
    const pool = this.inet6.kernel.mbufs;
    for (const m of e.hold) pool.free(m);
    this.inet6.nd6stat.dropped += e.hold.length;
    e.hold.length = 0;
    nd6ProxyGroup(e, false);
  }

  entries(): Nd6Entry[] {
    const out: Nd6Entry[] = [];
    for (const b of this.buckets.values()) out.push(...b);
    return out;
  }
}

/** Join (or leave) the solicited-node group of a proxied address, as NetBSD's nd6_rtrequest does for RTF_ANNOUNCE. */
function nd6ProxyGroup(e: Nd6Entry, join: boolean): void {
  if (join && e.group === null && e.ifp.flags & IFF_MULTICAST) {
    const sol = new Uint8Array(16);
    in6SolicitedNode(e.addr, 0, sol, 0);
    e.group = in6AddMulti(e.cache.inet6, e.ifp, sol);
  } else if (!join && e.group !== null) {
    in6DelMulti(e.cache.inet6, e.group);
    e.group = null;
  }
}

const ND6 = defineKernelState('IPv6 neighbor cache (component net_netinet6)', (k) => new Nd6Cache(INET6.get(k)));

/** The neighbor cache of `inet6` (created on first use). */
export function nd6Cache(inet6: Inet6): Nd6Cache {
  return ND6.get(inet6.kernel);
}

/** ReachableTime: REACHABLE_TIME × a uniform factor in [0.5, 1.5) (§6.3.2), from the host's random source. */
function reachableTime(inet6: Inet6): number {
  const r = inet6.kernel.host.random32() / 0x100000000;
  return Math.floor(REACHABLE_TIME * (0.5 + r));
}

/* ------------------------------------------------------------------------ */
/* Resolution (the LinkResolve for AF_INET6) */

/**
 * nd6_resolve: the MAC of inet6.nexthop (set by ip6Output for this very
 * call) into `mac`, or hold `m` while asking. Returns 0, EWOULDBLOCK (we
 * own `m`) or an errno (we freed `m`). The numeric next hop of the IPv4
 * signature is unused.
 */
export function nd6Resolve(ifp: Ifnet, m: Mbuf, _nexthop: number, mac: Uint8Array): number {
  const inet6 = INET6.get(ifp.kernel);
  const nh = inet6.nexthop;
  if (in6IsMulticast(nh, 0)) {
    in6MulticastMac(nh, 0, mac);
    m.flags |= M_MCAST;
    return 0;
  }
  const cache = nd6Cache(inet6);
  let e = cache.lookup(ifp, nh, 0);
  if (e !== null && e.state !== ND6_LLINFO_INCOMPLETE) {
    macCopy(e.mac, 0, mac, 0);
    if (e.state === ND6_LLINFO_STALE) {
      // §7.3.3: using a STALE entry starts the wait for upper-layer
      // confirmation; unconfirmed after DELAY_FIRST_PROBE_TIME, we probe.
      e.state = ND6_LLINFO_DELAY;
      e.timer.reset(DELAY_FIRST_PROBE_TIME);
    }
    return 0;
  }
  if (e === null) {
    e = cache.create(ifp, nh, 0);
    if (e === null) {
      inet6.nd6stat.allocfail++;
      inet6.kernel.mbufs.free(m);
      return ENOBUFS;
    }
  }
  if (e.hold.length >= cache.maxhold) {
    inet6.kernel.mbufs.free(e.hold.shift()!);
    inet6.nd6stat.dropped++;
  }
  e.hold.push(m);
  if (e.asked === 0) {
    e.asked = 1;
    nd6NsOutput(inet6, ifp, e.addr, false);
    e.timer.reset(RETRANS_TIMER);
  }
  return EWOULDBLOCK;
}

/** An entry's timer: retransmit, change state, or give up (§7.3.3, §7.2.2). */
function nd6Timer(e: Nd6Entry): void {
  const inet6 = e.cache.inet6;
  switch (e.state) {
    case ND6_LLINFO_INCOMPLETE:
      if (e.asked < MAX_MULTICAST_SOLICIT) {
        e.asked++;
        nd6NsOutput(inet6, e.ifp, e.addr, false);
        e.timer.reset(RETRANS_TIMER);
        return;
      }
      nd6Unreachable(inet6, e);
      return;
    case ND6_LLINFO_REACHABLE:
      e.state = ND6_LLINFO_STALE;
      e.timer.reset(ND6_GCTIMER);
      return;
    case ND6_LLINFO_STALE:
      e.cache.remove(e);
      return;
    case ND6_LLINFO_DELAY:
      e.state = ND6_LLINFO_PROBE;
      e.asked = 1;
      nd6NsOutput(inet6, e.ifp, e.addr, true);
      e.timer.reset(RETRANS_TIMER);
      return;
    case ND6_LLINFO_PROBE:
      if (e.asked < MAX_UNICAST_SOLICIT) {
        e.asked++;
        nd6NsOutput(inet6, e.ifp, e.addr, true);
        e.timer.reset(RETRANS_TIMER);
        return;
      }
      e.cache.remove(e);
      return;
  }
}

/**
 * Resolution failed (§7.2.2): every held packet earns its sender an ICMPv6
 * destination unreachable, address unreachable — our own packets too,
 * which is how a local connection learns of it (tcpCtlinput6, a soft error).
 */
function nd6Unreachable(inet6: Inet6, e: Nd6Entry): void {
  inet6.nd6stat.timeouts++;
  const held = e.hold.splice(0, e.hold.length);
  e.cache.remove(e);
  for (const m of held) {
    inet6.nd6stat.dropped++;
    icmp6Error(inet6, m, ICMP6_DST_UNREACH, ICMP6_DST_UNREACH_ADDR, 0);
  }
}

/** Send what waited for `e` now that its address is known. */
function nd6Flush(e: Nd6Entry): void {
  const held = e.hold.splice(0, e.hold.length);
  for (const m of held) etherSend(e.ifp, m, e.mac, 0, ETHERTYPE_IPV6);
}

/* ------------------------------------------------------------------------ */
/* Sending solicitations and advertisements */

/**
 * nd6_ns_output: a solicitation for `target` — to its solicited-node group
 * (resolution), or to the neighbor itself with its known MAC (`unicast`,
 * reachability probe). From an address of `ifp` (the one closest to the
 * target), with our link-layer address (§7.2.2). Hop limit 255 (§7.1).
 */
export function nd6NsOutput(inet6: Inet6, ifp: Ifnet, target: Uint8Array, unicast: boolean): void {
  if (ifp.lladdr === null || ifp.flags & (IFF_NOARP | IFF_LOOPBACK)) return;
  const ia = inet6.bestAddrOn(ifp, target, 0);
  if (ia === null) return;
  const m = inet6.kernel.mbufs.get(ND_NS_LEN + ND_OPT_LLA_ETHER_LEN, MAX_LINKHDR + 40);
  if (m === null) return;
  const nsDst = new Uint8Array(16);
  if (unicast) in6Copy(nsDst, 0, target, 0);
  else in6SolicitedNode(target, 0, nsDst, 0);
  const len = ndWriteNs(m.buf, m.off, target, 0, ifp.lladdr);
  m.len = len;
  icmp6SetChecksum(m.buf, m.off, len, ia.addr, 0, nsDst, 0);
  inet6.nd6stat.ns_out++;
  inet6.icmp6stat.outhist[135]!++;
  ip6OutputIf(inet6, m, ifp, ia.addr, 0, nsDst, 0, IPPROTO_ICMPV6, IPV6_MAXHLIM, 0);
}

/**
 * nd6_na_output: an advertisement of our `target` to `dst` (§7.2.4):
 * solicited unless answering a DAD probe or announcing (then to all-nodes),
 * override set (it is our own unicast address, never an anycast one), with
 * our MAC. For a `proxy` entry (§7.2.8): its MAC, override clear, from our
 * address on the link.
 */
export function nd6NaOutput(
  inet6: Inet6, ifp: Ifnet, target: Uint8Array, tOff: number, dst: Uint8Array, dOff: number, solicited: boolean, proxy: Nd6Entry | null = null,
): void {
  if (ifp.lladdr === null) return;
  let src = target;
  let sOff = tOff;
  if (proxy !== null) {
    const ia = inet6.bestAddrOn(ifp, dst, dOff);
    if (ia === null) return;
    src = ia.addr;
    sOff = 0;
  }
  const m = inet6.kernel.mbufs.get(ND_NA_LEN + ND_OPT_LLA_ETHER_LEN, MAX_LINKHDR + 40);
  if (m === null) return;
  const flags = (proxy === null ? ND_NA_FLAG_OVERRIDE : 0) | (solicited ? ND_NA_FLAG_SOLICITED : 0) | (inet6.forwarding ? ND_NA_FLAG_ROUTER : 0);
  const len = ndWriteNa(m.buf, m.off, flags, target, tOff, proxy === null ? ifp.lladdr : proxy.mac);
  m.len = len;
  icmp6SetChecksum(m.buf, m.off, len, src, sOff, dst, dOff);
  inet6.nd6stat.na_out++;
  inet6.icmp6stat.outhist[136]!++;
  ip6OutputIf(inet6, m, ifp, src, sOff, dst, dOff, IPPROTO_ICMPV6, IPV6_MAXHLIM, 0);
}

/* ------------------------------------------------------------------------ */
/* Receiving */

function rcvifOf(inet6: Inet6, m: Mbuf): Ifnet | null {
  return m.rcvif ? inet6.ns.ifs.byIndex[m.rcvif] ?? null : null;
}

/**
 * A solicitation (`m` at the IPv6 header, the message `off` bytes in,
 * `len` long, its checksum verified). Owns `m`.
 */
export function nd6NsInput(inet6: Inet6, m: Mbuf, off: number, len: number): void {
  const k = inet6.kernel;
  const st = inet6.icmp6stat;
  const buf = m.buf;
  const ip6 = m.off;
  const io = ip6 + off;
  const src = ip6 + IP6_OFF_SRC;
  const dst = ip6 + IP6_OFF_DST;
  const ifp = rcvifOf(inet6, m);
  const t = io + ND_OFF_TARGET;
  // §7.1.1: hop limit 255 (it was not forwarded), code 0, 24 bytes or more,
  // target not multicast, options sane; from :: only to a solicited-node
  // group and without a source link-layer address.
  const fromAny = len >= ND_NS_LEN && in6IsUnspecified(buf, src);
  if (ifp === null || ip6Hlim(buf, ip6) !== IPV6_MAXHLIM || icmp6Code(buf, io) !== 0 || len < ND_NS_LEN ||
      in6IsMulticast(buf, t) || !ndOptionsOk(buf, io, ND_NS_LEN, len) ||
      (fromAny && (!in6IsSolicitedNodeOf(buf, dst, buf, t) || ndFindLla(buf, io, ND_NS_LEN, len, ND_OPT_SOURCE_LINKADDR) >= 0))) {
    st.badns++;
    k.mbufs.free(m);
    return;
  }
  inet6.nd6stat.ns_in++;
  const ia = inet6.ifaddrOn(ifp, buf, t);
  // Not ours: answered only for an `ndp -s ... proxy` entry on this interface (§7.2.8).
  const px = ia === null ? nd6Cache(inet6).lookup(ifp, buf, t) : null;
  if (ia === null && (px === null || !px.proxy)) {
    inet6.nd6stat.ns_notours++;
    k.mbufs.free(m);
    return;
  }
  if (ia !== null && ia.flags & IN6_IFF_NOTREADY) {
    // RFC 4862 §5.4.3: a tentative address answers nobody; another node's
    // probe for it makes it a duplicate. A duplicated one is not ours.
    if (ia.flags & IN6_IFF_TENTATIVE) nd6DadNsInput(inet6, ia, m, fromAny);
    k.mbufs.free(m);
    return;
  }
  // §7.2.3: the sender's link-layer address goes into the cache (STALE).
  if (!fromAny) {
    const lla = ndFindLla(buf, io, ND_NS_LEN, len, ND_OPT_SOURCE_LINKADDR);
    if (lla >= 0) nd6Learn(inet6, ifp, buf, src, buf, lla);
  }
  // Copied out: the solicitation is freed before the advertisement goes.
  const naTarget = new Uint8Array(16);
  const naDst = new Uint8Array(16);
  in6Copy(naTarget, 0, buf, t);
  if (fromAny) in6Copy(naDst, 0, IN6ADDR_LINKLOCAL_ALLNODES, 0);
  else in6Copy(naDst, 0, buf, src);
  k.mbufs.free(m);
  nd6NaOutput(inet6, ifp, naTarget, 0, naDst, 0, !fromAny, px);
}

/**
 * Learn (or refresh) a neighbor's link-layer address from a solicitation
 * (§7.2.3) or a redirect (§8.3, which also says whether it is a router): a
 * new entry, or one whose address changed, becomes STALE; an INCOMPLETE one
 * sends what it held.
 */
export function nd6Learn(inet6: Inet6, ifp: Ifnet, b: Uint8Array, aOff: number, lla: Uint8Array, lOff: number, isRouter?: boolean): void {
  const cache = nd6Cache(inet6);
  let e = cache.lookup(ifp, b, aOff);
  if (e === null) {
    e = cache.create(ifp, b, aOff);
    if (e === null) {
      inet6.nd6stat.allocfail++;
      return;
    }
  } else if (e.permanent || (e.state !== ND6_LLINFO_INCOMPLETE && macEquals(e.mac, 0, lla, lOff))) {
    // An `ndp -s` entry is the administrator's word: nothing heard on the wire changes it.
    if (isRouter !== undefined) e.isRouter = isRouter;
    return;
  }
  if (isRouter !== undefined) e.isRouter = isRouter;
  macCopy(lla, lOff, e.mac, 0);
  e.state = ND6_LLINFO_STALE;
  e.asked = 0;
  e.timer.reset(ND6_GCTIMER);
  nd6Flush(e);
}

/** An advertisement (as nd6NsInput's arguments). Owns `m`. */
export function nd6NaInput(inet6: Inet6, m: Mbuf, off: number, len: number): void {
  const k = inet6.kernel;
  const st = inet6.icmp6stat;
  const buf = m.buf;
  const ip6 = m.off;
  const io = ip6 + off;
  const ifp = rcvifOf(inet6, m);
  const t = io + ND_OFF_TARGET;
  const flags = len >= ND_NA_LEN ? ndNaFlags(buf, io) : 0;
  // §7.1.2: hop limit 255, code 0, 24 bytes or more, target not multicast,
  // not solicited when sent to a multicast address, options sane.
  if (ifp === null || ip6Hlim(buf, ip6) !== IPV6_MAXHLIM || icmp6Code(buf, io) !== 0 || len < ND_NA_LEN ||
      in6IsMulticast(buf, t) || (in6IsMulticast(buf, ip6 + IP6_OFF_DST) && flags & ND_NA_FLAG_SOLICITED) ||
      !ndOptionsOk(buf, io, ND_NA_LEN, len)) {
    st.badna++;
    k.mbufs.free(m);
    return;
  }
  inet6.nd6stat.na_in++;
  const tentative = inet6.ifaddrOn(ifp, buf, t);
  if (tentative !== null && tentative.flags & IN6_IFF_TENTATIVE) {
    // RFC 4862 §5.4.4: a node already has the address we are probing.
    nd6DadNaInput(inet6, tentative);
    k.mbufs.free(m);
    return;
  }
  if (inet6.findLocal(buf, t) !== null) {
    // Someone else claims our address (a duplicate, RFC 4862 §5.4.4): keep ours.
    const p = ndFindLla(buf, io, ND_NA_LEN, len, ND_OPT_TARGET_LINKADDR);
    k.verbose(`nd6: ${ifp.name}: duplicate address ${formatIn6Addr(buf, t)} claimed by ${p >= 0 ? formatMac(buf, p) : 'a node without a link-layer address'}`);
    inet6.nd6stat.duplicates++;
    k.mbufs.free(m);
    return;
  }
  const cache = nd6Cache(inet6);
  const e = cache.lookup(ifp, buf, t);
  // §7.2.5: no entry, nothing asked: silently discard. A permanent entry stays as set.
  if (e === null || e.permanent) {
    k.mbufs.free(m);
    return;
  }
  const lla = ndFindLla(buf, io, ND_NA_LEN, len, ND_OPT_TARGET_LINKADDR);
  const solicited = (flags & ND_NA_FLAG_SOLICITED) !== 0;
  const override = (flags & ND_NA_FLAG_OVERRIDE) !== 0;
  if (e.state === ND6_LLINFO_INCOMPLETE) {
    if (lla < 0) {
      k.mbufs.free(m);
      return;
    }
    macCopy(buf, lla, e.mac, 0);
    setReachability(inet6, e, solicited);
    e.isRouter = (flags & ND_NA_FLAG_ROUTER) !== 0;
    k.mbufs.free(m);
    nd6Flush(e);
    return;
  }
  const changed = lla >= 0 && !macEquals(e.mac, 0, buf, lla);
  if (!override && changed) {
    // A different address, not overriding: only doubt the one we have.
    if (e.state === ND6_LLINFO_REACHABLE) {
      e.state = ND6_LLINFO_STALE;
      e.timer.reset(ND6_GCTIMER);
    }
    k.mbufs.free(m);
    return;
  }
  if (changed) macCopy(buf, lla, e.mac, 0);
  if (solicited) setReachability(inet6, e, true);
  else if (changed) setReachability(inet6, e, false);
  e.isRouter = (flags & ND_NA_FLAG_ROUTER) !== 0;
  k.mbufs.free(m);
  nd6Flush(e);
}

/** Solicited (a confirmation): REACHABLE for ReachableTime; otherwise STALE. */
function setReachability(inet6: Inet6, e: Nd6Entry, solicited: boolean): void {
  e.asked = 0;
  if (solicited) {
    e.state = ND6_LLINFO_REACHABLE;
    e.timer.reset(reachableTime(inet6));
  } else {
    e.state = ND6_LLINFO_STALE;
    e.timer.reset(ND6_GCTIMER);
  }
}

/* ------------------------------------------------------------------------ */
/* Administration */

/** A neighbor cache entry as `ndp -a` lists it. */
export interface NdpInfo {
  addr: string;
  /** null while INCOMPLETE. */
  lladdr: string | null;
  ifname: string;
  state: string;
  router: boolean;
  /** Seconds until the entry's state changes or it is dropped (its timer); -1 when no timer runs. */
  expire: number;
  /** Set by `ndp -s` (without temp): ndp prints "permanent", netstat -r the S flag. */
  permanent: boolean;
  /** `ndp -s ... proxy`: answered for (ndp's p flag). */
  proxy: boolean;
  /** Solicitations sent in the current round (ndp prints a count when not 0). */
  asked: number;
}

export function nd6Dump(inet6: Inet6): NdpInfo[] {
  return nd6Cache(inet6).entries().map((e) => ({
    addr: formatIn6Addr(e.addr),
    lladdr: e.state === ND6_LLINFO_INCOMPLETE ? null : formatMac(e.mac),
    ifname: e.ifp.name,
    state: STATE_NAMES[e.state]!,
    router: e.isRouter,
    expire: e.timer.pending ? Math.ceil(e.timer.remaining() / 1000) : -1,
    permanent: e.permanent,
    proxy: e.proxy,
    asked: e.asked,
  }));
}

/**
 * Forget the entries of `ifp` (null: of every interface). `keepPermanent`
 * keeps `ndp -s` entries, as an interface going down does; detach and halt
 * take everything.
 */
export function nd6Purge(inet6: Inet6, ifp: Ifnet | null, keepPermanent = false): void {
  const cache = nd6Cache(inet6);
  for (const e of cache.entries()) {
    if ((ifp === null || e.ifp === ifp) && !(keepPermanent && e.permanent)) cache.remove(e);
  }
}

/**
 * An on-link route of `ifp` for prefix/plen went or moved to another
 * interface: the entries it covered there go too, unless a route still
 * leads to them on `ifp` without a gateway (NetBSD 8 keeps neighbor entries
 * under their route). Permanent entries stay.
 */
export function nd6PurgeRoute(inet6: Inet6, ifp: Ifnet, prefix: Uint8Array, plen: number): void {
  const cache = nd6Cache(inet6);
  for (const e of cache.entries()) {
    if (e.ifp !== ifp || e.permanent || !in6PrefixEqual(e.addr, 0, prefix, 0, plen)) continue;
    const rt = inet6.rt6.lookup(e.addr, 0);
    if (rt === null || rt.ifp !== ifp || rt.flags & RTF_GATEWAY) cache.remove(e);
  }
}

/** A change to the cache by hand: `ndp -s`, `ndp -d`, `ndp -c`. */
export type NdpMsg =
  | { type: 'add'; addr: string; lladdr: string; temp?: boolean; proxy?: boolean }
  | { type: 'delete'; addr: string }
  | { type: 'flush' };

/**
 * The interface `ndp -s` puts an entry on: the one an on-link route (not
 * through a gateway) to the address leaves by, or the one the address is
 * ours on (NetBSD's ndp sets over its local route); an interface with a
 * link-layer address either way. ENETUNREACH otherwise ("cannot intuit
 * interface index").
 */
function nd6SetIfp(inet6: Inet6, a: Uint8Array): Ifnet {
  const ia = inet6.findLocal(a, 0);
  if (ia !== null && ia.ifp.lladdr !== null) return ia.ifp;
  const rt = inet6.rt6.lookup(a, 0);
  if (rt === null || rt.flags & (RTF_GATEWAY | RTF_LOCAL | RTF_REJECT | RTF_BLACKHOLE) || rt.ifp.lladdr === null ||
      rt.ifp.flags & (IFF_LOOPBACK | IFF_NOARP)) {
    throw new Errno(ENETUNREACH);
  }
  return rt.ifp;
}

/**
 * `ndp -s addr mac [temp] [proxy]`: a permanent entry (REACHABLE, no
 * timer), or with temp one that lasts ND6_TEMP_EXPIRE and then ages as any
 * other. Over a permanent entry EEXIST, as NetBSD's ndp fails there; a
 * learnt or temp one is overwritten.
 * `ndp -d addr`: every entry for the address, on any interface (ESRCH when
 * none). `ndp -c`: every entry that is not permanent. Both answer the
 * addresses removed.
 */
export function nd6Msg(inet6: Inet6, msg: NdpMsg): string[] {
  if (msg === null || typeof msg !== 'object') throw new Errno(EINVAL);
  const cache = nd6Cache(inet6);
  if (msg.type === 'flush') {
    const gone: string[] = [];
    for (const e of cache.entries()) {
      if (e.permanent) continue;
      cache.remove(e);
      gone.push(formatIn6Addr(e.addr));
    }
    return gone;
  }
  const a = typeof msg.addr === 'string' ? parseIn6Addr(msg.addr) : null;
  if (a === null || in6IsMulticast(a, 0) || in6IsUnspecified(a, 0)) throw new Errno(EINVAL);
  if (msg.type === 'delete') {
    const found = cache.entries().filter((e) => in6Equal(e.addr, 0, a, 0));
    if (found.length === 0) throw new Errno(ESRCH);
    for (const e of found) cache.remove(e);
    return [formatIn6Addr(a)];
  }
  if (msg.type !== 'add') throw new Errno(EINVAL);
  const mac = typeof msg.lladdr === 'string' ? parseMac(msg.lladdr) : null;
  if (mac === null) throw new Errno(EINVAL);
  const ifp = nd6SetIfp(inet6, a);
  let e = cache.lookup(ifp, a, 0);
  if (e !== null && e.permanent) throw new Errno(EEXIST);
  if (e === null) {
    e = cache.create(ifp, a, 0);
    if (e === null) throw new Errno(ENOBUFS);
  }
  macCopy(mac, 0, e.mac, 0);
  e.state = ND6_LLINFO_REACHABLE;
  e.asked = 0;
  e.permanent = msg.temp !== true;
  e.proxy = msg.proxy === true;
  nd6ProxyGroup(e, e.proxy);
  if (e.permanent) e.timer.stop();
  else e.timer.reset(ND6_TEMP_EXPIRE);
  nd6Flush(e);
  return [formatIn6Addr(a)];
}

/**
 * The interface's link-layer address changed (IfListener.lladdrChanged): an unsolicited advertisement
 * of each of its usable addresses to all-nodes, override set, so neighbors
 * replace the old address at once (RFC 4861 §7.2.6; NetBSD does it at
 * RTM_LLINFO_UPD). A tentative address is not announced: DAD is its business.
 */
export function nd6Announce(inet6: Inet6, ifp: Ifnet): void {
  if (!ifp.isUp || ifp.flags & (IFF_NOARP | IFF_LOOPBACK)) return;
  for (const ia of inet6.addrs.filter((a) => a.ifp === ifp && !(a.flags & IN6_IFF_NOTREADY))) {
    nd6NaOutput(inet6, ifp, ia.addr, 0, IN6ADDR_LINKLOCAL_ALLNODES, 0, false);
  }
}
