/*
 * IPv4 multicast group membership on interfaces (NetBSD netinet/in.c
 * in_addmulti / in_delmulti) and IGMP version 2, host side (RFC 2236;
 * NetBSD netinet/igmp.c), with version 1 compatibility (RFC 2236 §4).
 * Version 3 reports (RFC 3376) are not sent; a version 3 query is answered
 * as a version 2 query, as RFC 3376 §7.2.1 asks of an older host.
 *
 *   setsockopt IP_ADD_MEMBERSHIP (ip_mopts.ts) → inAddMulti(ifp, group):
 *     first join on the interface: SIOCADDMULTI (the driver's filter hears
 *     01:00:5e + the group's low 23 bits), an unsolicited report now and one
 *     more after a random delay of at most 10 s (Unsolicited Report Interval)
 *   IP_DROP_MEMBERSHIP / close → inDelMulti: last one out sends a Leave
 *     to 224.0.0.2 if we sent the last report (RFC 2236 §3), SIOCDELMULTI
 *   ipInput (multicast for a group joined on the receiving interface)
 *     → protox[2] = igmpInput: query → a report per group after a random
 *       delay up to Max Resp Time; another host's report for a group whose
 *       report we were about to send → ours is suppressed
 *
 * 224.0.0.1 (all hosts) is joined on every interface with an IPv4 address
 * (in_ifinit does it) and never reported (RFC 2236 §6).
 */
import { defineKernelState, defineState } from '../../kern/kernel.js';
import type { Callout } from '../../kern/callout.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { IFF_LOOPBACK, IFF_MULTICAST, type Ifnet } from '../interface.js';
import { ifMcastOp } from '../if/ether.js';
import { etherMapIpMulticast } from '../wire/ether.js';
import {
  IGMP_HOST_LEAVE_MESSAGE, IGMP_HOST_MEMBERSHIP_QUERY, IGMP_MINLEN, IGMP_TIMER_SCALE_MS, IGMP_V1_MAX_RESP_MS,
  IGMP_v1_HOST_MEMBERSHIP_REPORT, IGMP_v2_HOST_MEMBERSHIP_REPORT, IgmpCheck, igmpCheck, igmpCode, igmpGroup,
  igmpType, igmpWrite,
} from '../wire/igmp.js';
import { INADDR_ANY, inAddrIsMulticast } from '../wire/inaddr.js';
import { IPPROTO_IGMP, IPVERSION, ipDst, ipSrc, ipWriteHeader } from '../wire/ipv4.js';
import { INET, type Inet } from './inet.js';
import { IP_RAWOUTPUT, ipOutput } from './ip_output.js';
import { rawInput } from './raw_ip.js';

/** 224.0.0.1: every host on the link (RFC 1112 §4). */
export const INADDR_ALLHOSTS_GROUP = 0xe0000001;
/** 224.0.0.2: every router on the link, where Leaves go (RFC 2236 §3). */
export const INADDR_ALLRTRS_GROUP = 0xe0000002;

/** Unsolicited Report Interval (RFC 2236 §8.10): the repeat of a join's report comes within it. */
export const IGMP_UNSOLICITED_REPORT_INTERVAL_MS = 10_000;
/** Version 1 Router Present Timeout (RFC 2236 §8.11). */
export const IGMP_V1_ROUTER_PRESENT_MS = 400_000;

/** NetBSD's struct igmpstat (netstat -s "igmp:"). */
export class IgmpStat {
  rcv_total = 0; rcv_tooshort = 0; rcv_badsum = 0; rcv_queries = 0; rcv_badqueries = 0;
  rcv_reports = 0; rcv_badreports = 0; rcv_ourreports = 0; snd_reports = 0;
  /** Leave Group messages sent (not in NetBSD's struct, which has no IGMPv2 leave counter). */
  snd_leaves = 0;
}

/** A group joined on an interface (struct in_multi), held by `refcount` joins. */
export class InMulti {
  refcount = 1;
  /** We sent the latest report for the group on this link: only then does leaving send a Leave. */
  lastReporter = false;
  /** Unsolicited reports still to send after the join's first. */
  unsolicited = 0;
  /** The pending report (a query's random delay, or the join's repeat). */
  readonly timer: Callout<InMulti>;
  detached = false;
  constructor(
    readonly igmp: IgmpState,
    readonly ifp: Ifnet,
    readonly group: number,
  ) {
    this.timer = igmp.inet.kernel.callouts.create<InMulti>(igmpTimeout, this);
  }
}

export class IgmpState {
  /** Groups joined, per interface. */
  readonly byIf = new Map<Ifnet, Map<number, InMulti>>();
  readonly stat = new IgmpStat();
  /** Uptime (ms) until which an IGMPv1 querier counts as present on an interface (RFC 2236 §4). */
  readonly v1Until = new Map<Ifnet, number>();
  constructor(readonly inet: Inet) {}
}

const IGMP = defineKernelState('IGMP (component net_netinet)', (k) => new IgmpState(INET.get(k)));

export function igmpState(inet: Inet): IgmpState {
  return IGMP.get(inet.kernel);
}

/** IN_LOOKUP_MULTI: the membership of `group` on `ifp`, or null. */
export function inMultiLookup(inet: Inet, ifp: Ifnet, group: number): InMulti | null {
  const groups = igmpState(inet).byIf.get(ifp);
  return groups === undefined ? null : groups.get(group) ?? null;
}

/**
 * in_addmulti: join `group` on `ifp` once more. The first join programs the
 * driver's filter (which may throw an Errno: nothing changes then) and
 * announces the membership.
 */
export function inAddMulti(inet: Inet, ifp: Ifnet, group: number): InMulti {
  const st = igmpState(inet);
  let groups = st.byIf.get(ifp);
  const have = groups?.get(group);
  if (have !== undefined) {
    have.refcount++;
    return have;
  }
  const mac = new Uint8Array(6);
  etherMapIpMulticast(group, mac, 0);
  ifMcastOp(ifp, 'SIOCADDMULTI', mac);
  if (groups === undefined) {
    groups = new Map();
    st.byIf.set(ifp, groups);
  }
  const inm = new InMulti(st, ifp, group);
  groups.set(group, inm);
  if (igmpReported(inm)) {
    // RFC 2236 §3: report at once, and repeat in case the first was lost.
    igmpSendReport(st, inm);
    inm.unsolicited = 1;
    inm.timer.reset(igmpRandomDelay(inet, IGMP_UNSOLICITED_REPORT_INTERVAL_MS));
  }
  return inm;
}

/** in_delmulti: release one join; the last sends the Leave and clears the filter. */
export function inDelMulti(inet: Inet, inm: InMulti): void {
  if (inm.detached || --inm.refcount > 0) return;
  const st = igmpState(inet);
  inm.timer.stop();
  if (igmpReported(inm) && inm.lastReporter && !v1RouterPresent(st, inm.ifp)) igmpSendLeave(st, inm);
  forget(st, inm);
  const mac = new Uint8Array(6);
  etherMapIpMulticast(inm.group, mac, 0);
  try {
    ifMcastOp(inm.ifp, 'SIOCDELMULTI', mac);
  } catch {
    // The filter entry was ours; a driver that lost it already hears nothing of the group.
  }
}

function forget(st: IgmpState, inm: InMulti): void {
  inm.detached = true;
  inm.timer.stop();
  const groups = st.byIf.get(inm.ifp);
  if (groups === undefined) return;
  groups.delete(inm.group);
  if (groups.size === 0) st.byIf.delete(inm.ifp);
}

/** The interface is going away (igmp_purgeif): every membership on it goes, silently. */
export function inMultiIfDetach(inet: Inet, ifp: Ifnet): void {
  const st = igmpState(inet);
  const groups = st.byIf.get(ifp);
  if (groups !== undefined) for (const inm of [...groups.values()]) forget(st, inm);
  st.v1Until.delete(ifp);
}

/** Every membership (netstat -g). */
export function inMultiAll(inet: Inet): InMulti[] {
  const out: InMulti[] = [];
  for (const groups of igmpState(inet).byIf.values()) for (const inm of groups.values()) out.push(inm);
  return out;
}

/** Stop every report timer (kernel halt). */
export function igmpDrain(inet: Inet): void {
  const s = IGMP.peek(inet.kernel);
  if (!s) return;
  for (const groups of s.byIf.values()) for (const inm of groups.values()) inm.timer.stop();
}

/** Groups IGMP speaks about: not all-hosts (RFC 2236 §6), not on a loopback. */
function igmpReported(inm: InMulti): boolean {
  return inm.group !== INADDR_ALLHOSTS_GROUP && !(inm.ifp.flags & IFF_LOOPBACK);
}

function v1RouterPresent(st: IgmpState, ifp: Ifnet): boolean {
  const until = st.v1Until.get(ifp);
  return until !== undefined && st.inet.kernel.uptime() < until;
}

/** A random delay in [1, maxMs] ms, from the host's randomness. */
function igmpRandomDelay(inet: Inet, maxMs: number): number {
  return 1 + (inet.kernel.host.random32() % Math.max(1, maxMs));
}

function igmpTimeout(inm: InMulti): void {
  if (inm.detached) return;
  const st = inm.igmp;
  igmpSendReport(st, inm);
  if (inm.unsolicited > 0 && --inm.unsolicited > 0) inm.timer.reset(igmpRandomDelay(st.inet, IGMP_UNSOLICITED_REPORT_INTERVAL_MS));
}

/** The membership report for `inm` (version 1 while a v1 querier is present), to the group itself. */
function igmpSendReport(st: IgmpState, inm: InMulti): void {
  const type = v1RouterPresent(st, inm.ifp) ? IGMP_v1_HOST_MEMBERSHIP_REPORT : IGMP_v2_HOST_MEMBERSHIP_REPORT;
  if (igmpSend(st, inm.ifp, type, inm.group, inm.group)) {
    st.stat.snd_reports++;
    inm.lastReporter = true;
  }
}

function igmpSendLeave(st: IgmpState, inm: InMulti): void {
  if (igmpSend(st, inm.ifp, IGMP_HOST_LEAVE_MESSAGE, inm.group, INADDR_ALLRTRS_GROUP)) st.stat.snd_leaves++;
}

/* The IP header of every IGMP message: 24 bytes, with Router Alert (RFC 2113), as RFC 2236 §2 asks. */
const IGMP_IP_HLEN = 24;
const IPOPT_RA = 148;

/**
 * igmp_sendpkt: one message out of `ifp` with TTL 1, not looped back to us
 * (we are not a multicast router). The source is the interface's address;
 * an interface without one sends nothing. Returns whether it went.
 */
function igmpSend(st: IgmpState, ifp: Ifnet, type: number, group: number, dst: number): boolean {
  const inet = st.inet;
  const ia = inet.firstAddr(ifp);
  if (ia === null || !ifp.isUp) return false;
  const k = inet.kernel;
  const m = k.mbufs.get(IGMP_IP_HLEN + IGMP_MINLEN);
  if (m === null) return false;
  const b = m.buf;
  const o = m.off;
  ipWriteHeader(b, o, 0, IGMP_IP_HLEN + IGMP_MINLEN, 0, 0, 1, IPPROTO_IGMP, ia.addr, dst);
  b[o] = (IPVERSION << 4) | (IGMP_IP_HLEN >>> 2);
  b[o + 20] = IPOPT_RA;
  b[o + 21] = 4;
  b[o + 22] = 0;
  b[o + 23] = 0;
  igmpWrite(b, o + IGMP_IP_HLEN, type, 0, group);
  return ipOutput(inet, m, ia.addr, dst, IPPROTO_IGMP, 1, 0, IP_RAWOUTPUT, { ifp, ttl: 1, loop: false }) === 0;
}

/** igmp_input (pr_input for protocol 2): `m` starts at the IP header, `hlen` long. Owns `m`. */
export function igmpInput(inet: Inet, m: Mbuf, hlen: number): void {
  const k = inet.kernel;
  const st = igmpState(inet);
  const s = st.stat;
  s.rcv_total++;
  const buf = m.buf;
  const off = m.off + hlen;
  const len = m.len - hlen;
  const check = igmpCheck(buf, off, len);
  if (check !== IgmpCheck.Ok) {
    if (check === IgmpCheck.TooShort) s.rcv_tooshort++;
    else s.rcv_badsum++;
    k.mbufs.free(m);
    return;
  }
  const ifp = inet.ns.ifs.byIndex[m.rcvif];
  const dst = ipDst(buf, m.off);
  const src = ipSrc(buf, m.off);
  const type = igmpType(buf, off);
  const group = igmpGroup(buf, off);
  const code = igmpCode(buf, off);
  // Raw IGMP sockets (a routing daemon) see every good message too, as igmp_input ends in rip_input.
  rawInput(inet, m, hlen);
  k.mbufs.free(m);
  if (ifp === undefined || ifp.flags & IFF_LOOPBACK) return;
  switch (type) {
    case IGMP_HOST_MEMBERSHIP_QUERY:
      s.rcv_queries++;
      igmpQuery(st, ifp, code, group, dst);
      return;
    case IGMP_v1_HOST_MEMBERSHIP_REPORT:
    case IGMP_v2_HOST_MEMBERSHIP_REPORT: {
      s.rcv_reports++;
      // RFC 2236 §2.1: a report is about the group it was sent to.
      if (!inAddrIsMulticast(group) || group !== dst) {
        s.rcv_badreports++;
        return;
      }
      // Our own report looped back by someone: nothing to do.
      if (inet.isLocal(src)) return;
      const inm = inMultiLookup(inet, ifp, group);
      if (inm === null) return;
      s.rcv_ourreports++;
      // Someone else answered for the group: ours is not needed (§3).
      inm.timer.stop();
      inm.unsolicited = 0;
      inm.lastReporter = false;
      return;
    }
    default:
      // Leaves and v3 reports are for routers.
      return;
  }
}

/**
 * A membership query (RFC 2236 §3): general (group 0, sent to all-hosts)
 * or about one group (sent to it). A Max Resp Time of 0 is a v1 query: 10
 * s, and a v1 querier is present for the next 400 s. Each group concerned
 * reports after a random delay; a pending report sooner than that stays.
 */
function igmpQuery(st: IgmpState, ifp: Ifnet, code: number, group: number, dst: number): void {
  let maxMs = code * IGMP_TIMER_SCALE_MS;
  if (code === 0) {
    maxMs = IGMP_V1_MAX_RESP_MS;
    st.v1Until.set(ifp, st.inet.kernel.uptime() + IGMP_V1_ROUTER_PRESENT_MS);
    group = INADDR_ANY;
  }
  if (group === INADDR_ANY ? dst !== INADDR_ALLHOSTS_GROUP : !inAddrIsMulticast(group) || group !== dst) {
    st.stat.rcv_badqueries++;
    return;
  }
  const groups = st.byIf.get(ifp);
  if (groups === undefined) return;
  for (const inm of groups.values()) {
    if (!igmpReported(inm) || (group !== INADDR_ANY && inm.group !== group)) continue;
    inm.unsolicited = 0;
    const delay = igmpRandomDelay(st.inet, maxMs);
    if (!inm.timer.pending || inm.timer.remaining() > delay) inm.timer.reset(delay);
  }
}

/*
 * in_ifinit's all-hosts membership: held while the interface has an IPv4
 * address, so its filter hears 224.0.0.1 (queries come there).
 */
const ALLHOSTS = defineState<Ifnet, InMulti>('IPv4 all-hosts membership');

/** The interface got an IPv4 address: make sure it is in all-hosts. */
export function inJoinAllHosts(inet: Inet, ifp: Ifnet): void {
  if (!(ifp.flags & IFF_MULTICAST) || ALLHOSTS.peek(ifp)?.detached === false) return;
  ALLHOSTS.set(ifp, inAddMulti(inet, ifp, INADDR_ALLHOSTS_GROUP));
}

/** Its last IPv4 address went: leave all-hosts. */
export function inLeaveAllHosts(inet: Inet, ifp: Ifnet): void {
  const inm = ALLHOSTS.peek(ifp);
  if (inm === undefined) return;
  ALLHOSTS.delete(ifp);
  inDelMulti(inet, inm);
}
