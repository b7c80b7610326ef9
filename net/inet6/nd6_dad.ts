/*
 * Duplicate Address Detection (RFC 4862 §5.4), as NetBSD's netinet6/nd6_nbr.c
 * runs it (nd6_dad_start, nd6_dad_timer, nd6_dad_duplicated).
 *
 *   in6AddAddress: the new address is TENTATIVE, its solicited-node group
 *     joined → nd6DadStart(ia, delay)
 *   timer: a Neighbor Solicitation for the address, from ::, to its
 *     solicited-node group, without a source link-layer option (§5.4.2);
 *     net.inet6.ip6.dad_count of them, RetransTimer apart
 *   RetransTimer after the last, nothing heard: the address is usable
 *     (TENTATIVE cleared)
 *   heard while tentative (nd6.ts hands them here):
 *     a solicitation for it from :: (another node probing the same address,
 *       §5.4.3)                                      → duplicated
 *     an advertisement for it (a node that has it, §5.4.4) → duplicated
 *     a solicitation from a unicast source (someone resolving it): ignored
 *
 * A duplicated address stays on the interface flagged DUPLICATED, never a
 * source, never bound, never answered for, until the user removes it; the
 * kernel logs it as NetBSD does. A tentative address is no source and is
 * not bound either (Inet6.findLocal skips both; EADDRNOTAVAIL).
 *
 * Not done: re-running DAD when a link comes back (NetBSD's
 * in6_if_link_up), enhanced DAD's nonce (RFC 7527), and disabling IPv6 on
 * an interface whose hardware-derived link-local address is duplicated.
 */
import { MAX_LINKHDR, M_LOOP, type Mbuf } from '../../kern/mbuf.js';
import { IFF_LOOPBACK, IFF_NOARP, type Ifnet } from '../interface.js';
import { IN6ADDR_ANY, formatIn6Addr, in6SolicitedNode } from '../wire/in6addr.js';
import { ND_NS_LEN, icmp6SetChecksum, ndWriteNs } from '../wire/icmp6.js';
import { IPPROTO_ICMPV6, IPV6_MAXHLIM } from '../wire/ipv6.js';
import { IN6_IFF_DETACHED, IN6_IFF_DUPLICATED, IN6_IFF_NODAD, IN6_IFF_TENTATIVE, type In6Ifaddr, type Inet6 } from './inet6.js';
import { ip6OutputIf } from './ip6_output.js';

/** RetransTimer (RFC 4861 §10): between probes, and the wait after the last. */
export const DAD_RETRANS_TIMER = 1_000;
/** MAX_RTR_SOLICITATION_DELAY (§10): the most an autoconfigured address waits before its first probe (RFC 4862 §5.4.2). */
export const MAX_RTR_SOLICITATION_DELAY = 1_000;

/** Does a new address on `ifp` go through DAD (NetBSD's in6if_do_dad)? Not on a loopback, nor a link without ND. */
export function nd6DadWanted(inet6: Inet6, ifp: Ifnet, flags: number): boolean {
  if (flags & IN6_IFF_NODAD || inet6.dadCount <= 0) return false;
  return ifp.lladdr !== null && (ifp.flags & (IFF_LOOPBACK | IFF_NOARP)) === 0;
}

/** Start DAD for the tentative `ia`: its first probe `delay` ms from now. */
export function nd6DadStart(inet6: Inet6, ia: In6Ifaddr, delay: number): void {
  const d = ia.dad ?? (ia.dad = { inet6, timer: inet6.kernel.callouts.create(dadTimer, ia), sent: 0, nsIn: 0, naIn: 0 });
  d.sent = 0;
  d.nsIn = 0;
  d.naIn = 0;
  d.timer.reset(Math.max(0, delay));
}

/**
 * The interface went down (NetBSD 8's in6_if_down): its addresses are
 * DETACHED, DAD stopped; coming up (in6_if_up) they are tentative again
 * and checked from the start.
 */
export function nd6DadIfDown(inet6: Inet6, ifp: Ifnet): void {
  if (!nd6DadWanted(inet6, ifp, 0)) return;
  for (const ia of inet6.addrs) {
    if (ia.ifp !== ifp) continue;
    nd6DadStop(inet6, ia);
    ia.flags = (ia.flags & ~IN6_IFF_TENTATIVE) | IN6_IFF_DETACHED;
  }
}

export function nd6DadIfUp(inet6: Inet6, ifp: Ifnet): void {
  for (const ia of inet6.addrs) {
    if (ia.ifp !== ifp || !(ia.flags & IN6_IFF_DETACHED)) continue;
    ia.flags &= ~IN6_IFF_DETACHED;
    if (nd6DadWanted(inet6, ifp, 0)) {
      ia.flags = (ia.flags & ~IN6_IFF_DUPLICATED) | IN6_IFF_TENTATIVE;
      nd6DadStart(inet6, ia, 0);
    }
  }
}

/** Stop DAD for `ia` (it is being removed). */
export function nd6DadStop(_inet6: Inet6, ia: In6Ifaddr): void {
  if (ia.dad !== null) {
    ia.dad.timer.stop();
    ia.dad = null;
  }
}

/** nd6_dad_timer: the next probe, or the verdict after the last. */
function dadTimer(ia: In6Ifaddr): void {
  const d = ia.dad;
  if (d === null || !(ia.flags & IN6_IFF_TENTATIVE)) return;
  const inet6 = d.inet6;
  if (d.sent < inet6.dadCount) {
    d.sent++;
    dadNsOutput(inet6, ia);
    d.timer.reset(DAD_RETRANS_TIMER);
    return;
  }
  // §5.4.5: nothing heard in RetransTimer after the last probe.
  ia.flags &= ~IN6_IFF_TENTATIVE;
  ia.dad = null;
  inet6.nd6stat.dad_done++;
  inet6.kernel.verbose(`${ia.ifp.name}: DAD complete for ${formatIn6Addr(ia.addr)} - no duplicates found`);
}

/** The probe (§5.4.2): NS for the address from ::, to its solicited-node group, hop limit 255, no SLLA option. */
function dadNsOutput(inet6: Inet6, ia: In6Ifaddr): void {
  const ifp = ia.ifp;
  if (!ifp.isUp) return;
  const m = inet6.kernel.mbufs.get(ND_NS_LEN, MAX_LINKHDR + 40);
  if (m === null) return;
  const solNode = new Uint8Array(16); // a cold path: dad_count probes an address
  in6SolicitedNode(ia.addr, 0, solNode, 0);
  const len = ndWriteNs(m.buf, m.off, ia.addr, 0, null);
  m.len = len;
  icmp6SetChecksum(m.buf, m.off, len, IN6ADDR_ANY, 0, solNode, 0);
  inet6.nd6stat.ns_out++;
  inet6.nd6stat.dad_out++;
  inet6.icmp6stat.outhist[135]!++;
  ip6OutputIf(inet6, m, ifp, IN6ADDR_ANY, 0, solNode, 0, IPPROTO_ICMPV6, IPV6_MAXHLIM, 0);
}

/**
 * nd6_dad_ns_input: a solicitation for our tentative `ia`. From :: it is
 * another node's probe for the same address (§5.4.3) unless it is our own
 * come back; from a unicast source it is resolution, which a tentative
 * address ignores. The caller frees `m` and answers nothing.
 */
export function nd6DadNsInput(inet6: Inet6, ia: In6Ifaddr, m: Mbuf, fromAny: boolean): void {
  if (!fromAny || m.flags & M_LOOP || ia.dad === null) return;
  ia.dad.nsIn++;
  nd6DadDuplicated(inet6, ia);
}

/** nd6_dad_na_input: an advertisement for our tentative `ia` (§5.4.4): someone has it. */
export function nd6DadNaInput(inet6: Inet6, ia: In6Ifaddr): void {
  if (ia.dad === null) return;
  ia.dad.naIn++;
  nd6DadDuplicated(inet6, ia);
}

/** The address is another node's: flag it DUPLICATED, stop probing, log as NetBSD does. */
function nd6DadDuplicated(inet6: Inet6, ia: In6Ifaddr): void {
  const d = ia.dad!;
  const log = (s: string): void => inet6.kernel.host.log(s);
  const name = ia.ifp.name;
  const text = formatIn6Addr(ia.addr);
  log(`${name}: DAD detected duplicate IPv6 address ${text}: NS in/out/loopback=${d.nsIn}/${d.sent}/0, NA in=${d.naIn}`);
  ia.flags = (ia.flags & ~IN6_IFF_TENTATIVE) | IN6_IFF_DUPLICATED;
  d.timer.stop();
  ia.dad = null;
  inet6.nd6stat.dad_duplicated++;
  log(`${name}: DAD complete for ${text} - duplicate found`);
  log(`${name}: manual intervention required`);
}
