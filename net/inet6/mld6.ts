/*
 * IPv6 multicast group membership on interfaces (NetBSD netinet6/in6.c
 * in6_addmulti / in6_delmulti) and Multicast Listener Discovery version 1,
 * listener side (RFC 2710; NetBSD netinet6/mld6.c). MLDv2 (RFC 3810)
 * reports are not sent; an MLDv2 query is answered as a version 1 query,
 * as RFC 3810 §8.2.1 asks of an older listener.
 *
 *   IPV6_JOIN_GROUP (ip6_mopts.ts), an address's solicited-node group and
 *   all-nodes (in6.ts) → in6AddMulti(ifp, group): first join on the
 *   interface: SIOCADDMULTI (the driver's filter hears 33:33 + the group's
 *   low 32 bits, RFC 2464 §7) and, for a group MLD speaks about, a Report
 *   now and one more after a random delay within 10 s
 *   IPV6_LEAVE_GROUP / close / address removed → in6DelMulti: the last one
 *   out sends Done to ff02::2 if we sent the last Report (RFC 2710 §4)
 *   ip6Input (a group joined on the receiving interface) → icmp6Input →
 *   mld6Input: Query → a Report per group after a random delay up to
 *   Maximum Response Delay; another listener's Report → ours is suppressed
 *
 * MLD never speaks of ff02::1 or of groups of scope 0 or 1 (RFC 2710 §5).
 * Messages go with hop limit 1 and a Hop-by-Hop Router Alert (RFC 2711),
 * from the interface's link-local address when it has one (§3), else from
 * another of its addresses (this stack does not configure link-local
 * addresses by itself).
 */
import { defineKernelState, defineState } from '../../kern/kernel.js';
import type { Callout } from '../../kern/callout.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { IFF_LOOPBACK, IFF_MULTICAST, type Ifnet } from '../interface.js';
import { ifMcastOp } from '../if/ether.js';
import {
  IN6ADDR_ANY, IN6ADDR_LINKLOCAL_ALLNODES, in6Copy, in6Equal, in6IsLinkLocal, in6IsMulticast, in6IsUnspecified, in6MulticastMac,
  in6MulticastScope,
} from '../wire/in6addr.js';
import { MLD_LISTENER_DONE, MLD_LISTENER_QUERY, MLD_LISTENER_REPORT, icmp6SetChecksum } from '../wire/icmp6.js';
import { IP6_OFF_DST, IP6_OFF_SRC, IPPROTO_HOPOPTS } from '../wire/ipv6.js';
import { IN6_IFF_NOTREADY, INET6, type In6Ifaddr, type Inet6 } from './inet6.js';
import { ip6OutputIf } from './ip6_output.js';

/** ff02::2, where Done messages go. */
export const IN6ADDR_LINKLOCAL_ALLROUTERS: Uint8Array = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2);
/** An MLDv1 message: type, code, checksum, Maximum Response Delay (ms), reserved, multicast address. */
export const MLD_MINLEN = 24;
/** Unsolicited Report Interval (RFC 2710 §7.10). */
export const MLD_UNSOLICITED_REPORT_INTERVAL_MS = 10_000;

/** MLD counters (NetBSD counts them in icmp6stat; here their own record, net.inet6.mld6.stats). */
export class Mld6Stat {
  rcv_total = 0; rcv_tooshort = 0; rcv_queries = 0; rcv_badqueries = 0; rcv_reports = 0; rcv_ourreports = 0;
  snd_reports = 0; snd_dones = 0;
}

/** A group joined on an interface (struct in6_multi). */
export class In6Multi {
  refcount = 1;
  lastReporter = false;
  unsolicited = 0;
  readonly timer: Callout<In6Multi>;
  detached = false;
  constructor(
    readonly mld: Mld6State,
    readonly ifp: Ifnet,
    /** The group (its own 16 bytes). */
    readonly group: Uint8Array,
    readonly key: string,
  ) {
    this.timer = mld.inet6.kernel.callouts.create<In6Multi>(mld6Timeout, this);
  }
}

export class Mld6State {
  readonly byIf = new Map<Ifnet, Map<string, In6Multi>>();
  readonly stat = new Mld6Stat();
  constructor(readonly inet6: Inet6) {}
}

const MLD6 = defineKernelState('MLD (component net_netinet6)', (k) => new Mld6State(INET6.get(k)));

export function mld6State(inet6: Inet6): Mld6State {
  return MLD6.get(inet6.kernel);
}

function groupKey(b: Uint8Array, off: number): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += b[off + i]!.toString(16).padStart(2, '0');
  return s;
}

/** IN6_LOOKUP_MULTI: the membership of the group at b[off] on `ifp`, or null. */
export function in6MultiLookup(inet6: Inet6, ifp: Ifnet, b: Uint8Array, off: number): In6Multi | null {
  const groups = mld6State(inet6).byIf.get(ifp);
  return groups === undefined ? null : groups.get(groupKey(b, off)) ?? null;
}

/** in6_addmulti: join the group at group[0..16) on `ifp` once more (the first join programs the filter and reports). */
export function in6AddMulti(inet6: Inet6, ifp: Ifnet, group: Uint8Array): In6Multi {
  const st = mld6State(inet6);
  const key = groupKey(group, 0);
  let groups = st.byIf.get(ifp);
  const have = groups?.get(key);
  if (have !== undefined) {
    have.refcount++;
    return have;
  }
  const mac = new Uint8Array(6);
  in6MulticastMac(group, 0, mac);
  ifMcastOp(ifp, 'SIOCADDMULTI', mac);
  if (groups === undefined) {
    groups = new Map();
    st.byIf.set(ifp, groups);
  }
  const inm = new In6Multi(st, ifp, group.slice(0, 16), key);
  groups.set(key, inm);
  if (mldReported(inm)) {
    mld6SendReport(st, inm);
    inm.unsolicited = 1;
    inm.timer.reset(randomDelay(inet6, MLD_UNSOLICITED_REPORT_INTERVAL_MS));
  }
  return inm;
}

/** in6_delmulti: release one join; the last sends Done (if we reported last) and clears the filter. */
export function in6DelMulti(inet6: Inet6, inm: In6Multi): void {
  if (inm.detached || --inm.refcount > 0) return;
  const st = mld6State(inet6);
  if (mldReported(inm) && inm.lastReporter && mld6Send(st, inm.ifp, MLD_LISTENER_DONE, inm.group, IN6ADDR_LINKLOCAL_ALLROUTERS)) st.stat.snd_dones++;
  forget(st, inm);
  const mac = new Uint8Array(6);
  in6MulticastMac(inm.group, 0, mac);
  try {
    ifMcastOp(inm.ifp, 'SIOCDELMULTI', mac);
  } catch {
    // The filter entry was ours; a driver that lost it hears nothing of the group already.
  }
}

function forget(st: Mld6State, inm: In6Multi): void {
  inm.detached = true;
  inm.timer.stop();
  const groups = st.byIf.get(inm.ifp);
  if (groups === undefined) return;
  groups.delete(inm.key);
  if (groups.size === 0) st.byIf.delete(inm.ifp);
}

/** The interface is going away: its memberships go, silently. */
export function in6MultiIfDetach(inet6: Inet6, ifp: Ifnet): void {
  const st = mld6State(inet6);
  const groups = st.byIf.get(ifp);
  if (groups !== undefined) for (const inm of [...groups.values()]) forget(st, inm);
  ALLNODES.delete(ifp);
}

/** Every membership (tests, tools). */
export function in6MultiAll(inet6: Inet6): In6Multi[] {
  const out: In6Multi[] = [];
  for (const groups of mld6State(inet6).byIf.values()) for (const inm of groups.values()) out.push(inm);
  return out;
}

/** Stop every report timer (kernel halt). */
export function mld6Drain(inet6: Inet6): void {
  const s = MLD6.peek(inet6.kernel);
  if (!s) return;
  for (const groups of s.byIf.values()) for (const inm of groups.values()) inm.timer.stop();
}

/* all-nodes, held while the interface has an IPv6 address (NetBSD joins it in in6_ifattach). */
const ALLNODES = defineState<Ifnet, In6Multi>('IPv6 all-nodes membership');

export function in6JoinAllNodes(inet6: Inet6, ifp: Ifnet): void {
  if (!(ifp.flags & IFF_MULTICAST) || ALLNODES.peek(ifp)?.detached === false) return;
  ALLNODES.set(ifp, in6AddMulti(inet6, ifp, IN6ADDR_LINKLOCAL_ALLNODES));
}

export function in6LeaveAllNodes(inet6: Inet6, ifp: Ifnet): void {
  const inm = ALLNODES.peek(ifp);
  if (inm === undefined) return;
  ALLNODES.delete(ifp);
  in6DelMulti(inet6, inm);
}

/**
 * The source of what we send to the group at dst[0..16) out of `ifp`: an
 * address of that interface (never one of another, such as lo0's ::1,
 * whatever its scope), link-local first for a link-scope group (RFC 2710
 * §3), else RFC 6724's choice among the interface's own. Null without one.
 */
export function in6IfSource(inet6: Inet6, ifp: Ifnet, dst: Uint8Array): In6Ifaddr | null {
  const linkScope = in6MulticastScope(dst, 0) <= 2;
  let best: In6Ifaddr | null = null;
  for (const ia of inet6.addrs) {
    if (ia.ifp !== ifp || ia.flags & IN6_IFF_NOTREADY) continue;
    if (in6IsLinkLocal(ia.addr, 0) === linkScope) return ia;
    best ??= ia;
  }
  return best;
}

/** Groups MLD reports: not all-nodes, not of scope 0 or 1, not on a loopback (RFC 2710 §5). */
function mldReported(inm: In6Multi): boolean {
  return !in6Equal(inm.group, 0, IN6ADDR_LINKLOCAL_ALLNODES, 0) && in6MulticastScope(inm.group, 0) > 1 && !(inm.ifp.flags & IFF_LOOPBACK);
}

function randomDelay(inet6: Inet6, maxMs: number): number {
  return 1 + (inet6.kernel.host.random32() % Math.max(1, maxMs));
}

function mld6Timeout(inm: In6Multi): void {
  if (inm.detached) return;
  const st = inm.mld;
  mld6SendReport(st, inm);
  if (inm.unsolicited > 0 && --inm.unsolicited > 0) inm.timer.reset(randomDelay(st.inet6, MLD_UNSOLICITED_REPORT_INTERVAL_MS));
}

function mld6SendReport(st: Mld6State, inm: In6Multi): void {
  if (mld6Send(st, inm.ifp, MLD_LISTENER_REPORT, inm.group, inm.group)) {
    st.stat.snd_reports++;
    inm.lastReporter = true;
  }
}

/* Hop-by-Hop header with Router Alert (RFC 2711, value 0: MLD) and a PadN of 0 bytes: 8 bytes. */
const HBH_LEN = 8;

/** One MLD message out of `ifp`, hop limit 1. Returns whether it went. */
function mld6Send(st: Mld6State, ifp: Ifnet, type: number, group: Uint8Array, dst: Uint8Array): boolean {
  const inet6 = st.inet6;
  if (!ifp.isUp) return false;
  // No usable address yet (its DAD still running): from :: (RFC 3590 §4, as NetBSD's mld_sendpkt).
  const ia = in6IfSource(inet6, ifp, dst);
  const src = ia === null ? IN6ADDR_ANY : ia.addr;
  const k = inet6.kernel;
  const m = k.mbufs.get(HBH_LEN + MLD_MINLEN);
  if (m === null) return false;
  const b = m.buf;
  const o = m.off;
  b.set([58, 0, 5, 2, 0, 0, 1, 0], o);
  const msg = o + HBH_LEN;
  b[msg] = type;
  b[msg + 1] = 0;
  for (let i = 2; i < 8; i++) b[msg + i] = 0;
  in6Copy(b, msg + 8, group, 0);
  icmp6SetChecksum(b, msg, MLD_MINLEN, src, 0, dst, 0);
  inet6.icmp6stat.outhist[type]!++;
  return ip6OutputIf(inet6, m, ifp, src, 0, dst, 0, IPPROTO_HOPOPTS, 1, 0) === 0;
}

/**
 * MLD input from icmp6Input: `m` starts at the IPv6 header, the message
 * `off` bytes in, `len` long. Owns `m`.
 */
export function mld6Input(inet6: Inet6, m: Mbuf, off: number, len: number): void {
  const k = inet6.kernel;
  const st = mld6State(inet6);
  const s = st.stat;
  s.rcv_total++;
  const buf = m.buf;
  const base = m.off;
  const ifp = inet6.ns.ifs.byIndex[m.rcvif];
  if (len < MLD_MINLEN || ifp === undefined || ifp.flags & IFF_LOOPBACK) {
    if (len < MLD_MINLEN) s.rcv_tooshort++;
    k.mbufs.free(m);
    return;
  }
  const msg = base + off;
  const type = buf[msg]!;
  const maxDelay = (buf[msg + 4]! << 8) | buf[msg + 5]!;
  const gOff = msg + 8;
  const dOff = base + IP6_OFF_DST;
  if (type === MLD_LISTENER_QUERY) {
    s.rcv_queries++;
    const general = in6IsUnspecified(buf, gOff);
    // A general query goes to ff02::1, a specific one to its group (RFC 2710 §3.6).
    if (general ? !in6Equal(buf, dOff, IN6ADDR_LINKLOCAL_ALLNODES, 0) : !in6IsMulticast(buf, gOff) || !in6Equal(buf, gOff, buf, dOff)) {
      s.rcv_badqueries++;
    } else {
      const groups = st.byIf.get(ifp);
      if (groups !== undefined) {
        for (const inm of groups.values()) {
          if (!mldReported(inm) || (!general && !in6Equal(inm.group, 0, buf, gOff))) continue;
          inm.unsolicited = 0;
          const delay = randomDelay(inet6, maxDelay);
          if (!inm.timer.pending || inm.timer.remaining() > delay) inm.timer.reset(delay);
        }
      }
    }
  } else if (type === MLD_LISTENER_REPORT) {
    s.rcv_reports++;
    const inm = inet6.findLocal(buf, base + IP6_OFF_SRC) !== null ? null : in6MultiLookup(inet6, ifp, buf, gOff);
    if (inm !== null) {
      s.rcv_ourreports++;
      // Another listener answered for the group: ours is not needed (RFC 2710 §4).
      inm.timer.stop();
      inm.unsolicited = 0;
      inm.lastReporter = false;
    }
  }
  // Done and MLDv2 reports are for routers.
  k.mbufs.free(m);
}
