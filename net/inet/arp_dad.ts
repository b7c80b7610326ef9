/*
 * Duplicate address detection for IPv4 (RFC 5227 "IPv4 Address Conflict
 * Detection"), as NetBSD 8's arp.c runs it (arp_dad_start, arp_dad_timer,
 * arp_dad_duplicated) with net.inet.ip.dad_count probes.
 *
 *   an address added while its interface is up, or an interface coming up
 *   with addresses: each is TENTATIVE → arpDadStart
 *   timer: after a random 0..PROBE_WAIT, dad_count ARP Probes (§2.1.1:
 *     who-has ADDR tell 0.0.0.0) PROBE_MIN..PROBE_MAX apart, then
 *     ANNOUNCE_WAIT of silence: TENTATIVE cleared, and ANNOUNCE_NUM ARP
 *     Announcements (§2.3) ANNOUNCE_INTERVAL apart
 *   heard while tentative (arp.ts hands them here, §2.1.1): an ARP packet
 *     whose sender is the address, or another host's probe for it
 *     → DUPLICATED, logged, probing stops
 *   interface down: every address DETACHED (no DAD, no announcements);
 *     up again: TENTATIVE, DAD from the start
 *
 * With dad_count 0, or on an interface that is down when the address is
 * added, there is no DAD: the address is usable at once and announced
 * (in.ts). A tentative or duplicated address is not answered for in ARP.
 */
import type { Ifnet } from '../interface.js';
import { IFF_LOOPBACK, IFF_NOARP } from '../interface.js';
import { formatInAddr, INADDR_ANY } from '../wire/inaddr.js';
import { arpRequest } from './arp.js';
import { IN_IFF_DETACHED, IN_IFF_DUPLICATED, IN_IFF_TENTATIVE, type InIfaddr, type Inet } from './inet.js';

/* RFC 5227 §1.1's constants, in milliseconds. */
const PROBE_WAIT = 1_000;
const PROBE_MIN = 1_000;
const PROBE_MAX = 2_000;
const ANNOUNCE_WAIT = 2_000;
const ANNOUNCE_NUM = 2;
const ANNOUNCE_INTERVAL = 2_000;

/** Does an address on `ifp` go through DAD (NetBSD's if_do_dad)? Not on loopbacks, nor links without ARP. */
export function arpDadWanted(inet: Inet, ifp: Ifnet): boolean {
  return inet.dadCount > 0 && ifp.lladdr !== null && (ifp.flags & (IFF_LOOPBACK | IFF_NOARP)) === 0;
}

/** Mark `ia` TENTATIVE and start probing after a random 0..PROBE_WAIT. */
export function arpDadStart(inet: Inet, ia: InIfaddr): void {
  ia.flags = (ia.flags & ~(IN_IFF_DETACHED | IN_IFF_DUPLICATED)) | IN_IFF_TENTATIVE;
  const d = ia.dad ?? (ia.dad = { timer: inet.kernel.callouts.create(dadTimer, { inet, ia }), sent: 0, announced: 0 });
  d.sent = 0;
  d.announced = 0;
  d.timer.reset(inet.kernel.host.random32() % PROBE_WAIT);
}

/** Stop DAD and announcements for `ia` (removed, or its interface went down). */
export function arpDadStop(ia: InIfaddr): void {
  if (ia.dad !== null) {
    ia.dad.timer.stop();
    ia.dad = null;
  }
}

/** The interface went down: its addresses are DETACHED until it comes up. */
export function arpDadIfDown(inet: Inet, ifp: Ifnet): void {
  if (!arpDadWanted(inet, ifp)) return;
  for (const ia of inet.addrs) {
    if (ia.ifp !== ifp) continue;
    arpDadStop(ia);
    ia.flags = (ia.flags & ~IN_IFF_TENTATIVE) | IN_IFF_DETACHED;
  }
}

/** The interface came up: detached addresses check again (NetBSD's in_if_up). */
export function arpDadIfUp(inet: Inet, ifp: Ifnet): void {
  for (const ia of inet.addrs) {
    if (ia.ifp !== ifp || !(ia.flags & IN_IFF_DETACHED)) continue;
    if (arpDadWanted(inet, ifp)) arpDadStart(inet, ia);
    else {
      ia.flags &= ~IN_IFF_DETACHED;
      arpRequest(inet, ifp, ia.addr, ia.addr);
    }
  }
}

function dadTimer(arg: { inet: Inet; ia: InIfaddr }): void {
  const { inet, ia } = arg;
  const d = ia.dad;
  if (d === null) return;
  const host = inet.kernel.host;
  if (ia.flags & IN_IFF_TENTATIVE && d.sent < inet.dadCount) {
    // An ARP Probe (§2.1.1): sender protocol address zero, so no one's cache learns it.
    d.sent++;
    arpRequest(inet, ia.ifp, INADDR_ANY, ia.addr);
    d.timer.reset(d.sent < inet.dadCount ? PROBE_MIN + (host.random32() % (PROBE_MAX - PROBE_MIN)) : ANNOUNCE_WAIT);
    return;
  }
  if (ia.flags & IN_IFF_TENTATIVE) {
    ia.flags &= ~IN_IFF_TENTATIVE;
    inet.kernel.verbose(`${ia.ifp.name}: DAD complete for ${formatInAddr(ia.addr)} - no duplicates found`);
  }
  // An ARP Announcement (§2.3): sender and target both the address.
  arpRequest(inet, ia.ifp, ia.addr, ia.addr);
  if (++d.announced < ANNOUNCE_NUM) d.timer.reset(ANNOUNCE_INTERVAL);
  else ia.dad = null;
}

/**
 * An ARP packet on `ifp` while `ia` is tentative (§2.1.1): its sender is the
 * address (someone has it), or it is another host's probe for it (sender
 * zero, target the address). Either makes the address DUPLICATED.
 */
export function arpDadInput(inet: Inet, ia: InIfaddr, spa: number, tpa: number, sha: string): boolean {
  if (!(ia.flags & IN_IFF_TENTATIVE)) return false;
  if (spa !== ia.addr && !(spa === INADDR_ANY && tpa === ia.addr)) return false;
  arpDadStop(ia);
  ia.flags = (ia.flags & ~IN_IFF_TENTATIVE) | IN_IFF_DUPLICATED;
  inet.kernel.host.log(`${ia.ifp.name}: DAD duplicate address ${formatInAddr(ia.addr)} from ${sha}`);
  return true;
}
