/*
 * ARP for IPv4 over Ethernet (RFC 826), as NetBSD's netinet/if_arp.c does it.
 *
 *   out: ipOutput → etherOutput → ns.etherResolve(AF_INET) = arpResolve
 *          resolved:   copy the MAC, return 0
 *          broadcast:  ff:ff:ff:ff:ff:ff without asking anyone
 *          unresolved: hold the packet (a few per entry), send a request at
 *                      most once a second; after ARP_MAXTRIES unanswered
 *                      requests the entry is "down" for ARPT_DOWN and senders
 *                      get EHOSTDOWN (EHOSTUNREACH through a gateway)
 *   in:  etherInput → arpInput → arpCheck → merge (RFC 826 "Packet
 *        Reception") → reply to requests for our addresses and published ones
 *
 * One cache per kernel, keyed by (interface, address). Resolved entries
 * expire after net.inet.arp.keep seconds (a callout on the kernel clock);
 * `arp -s` entries are permanent, optionally published (proxy ARP).
 */
import { defineKernelState } from '../../kern/kernel.js';
import type { Callout } from '../../kern/callout.js';
import { Errno, EEXIST, EHOSTDOWN, EHOSTUNREACH, EINVAL, ENETUNREACH, ENOBUFS, ENOTSUP, ESRCH, EWOULDBLOCK } from '../../kern/errno.js';
import { M_BCAST, M_MCAST, MAX_LINKHDR, type Mbuf } from '../../kern/mbuf.js';
import { IFF_LOOPBACK, IFF_NOARP, IFF_RUNNING, IFF_UP, type Ifnet } from '../interface.js';
import { etherSend } from '../if/ether.js';
import type { ArpInfo, ArpMsg } from '../ioctl.js';
import { RTF_GATEWAY, RTF_LOCAL, RTF_STATIC } from '../route.js';
import {
  ARPOP_REPLY, ARPOP_REQUEST, ARP_ETHER_IP_LEN, ArpCheck, arpCheck, arpCopySha, arpOp, arpSetOp,
  arpSetSha, arpSetSpa, arpSetTha, arpSetTpa, arpShaEquals, arpShaIsBroadcast, arpSpa, arpTpa, arpWrite,
} from '../wire/arp.js';
import { ETHERTYPE_ARP, ETHERTYPE_IP, ETHER_ADDR_BROADCAST, etherMapIpMulticast, macCopy, macEquals } from '../wire/ether.js';
import {
  INADDR_ANY, INADDR_BROADCAST, formatInAddr, formatMac, inAddrIsMulticast, parseInAddr, parseMac,
} from '../wire/inaddr.js';
import { ipDst } from '../wire/ipv4.js';
import { ICMP_UNREACH, ICMP_UNREACH_HOST } from '../wire/icmp.js';
import { icmpError } from './icmp.js';
import { inAddrForNet, inBroadcast } from './in.js';
import { INET, IN_IFF_DUPLICATED, IN_IFF_TENTATIVE, type Inet } from './inet.js';
import { arpDadInput } from './arp_dad.js';
import { AF_INET } from '../../kern/sys.js';
import { RTF_ANNOUNCE, RTM_ADD, RTM_CHANGE, RTM_DELETE, rtsockLlinfo, saIn } from '../rtsock.js';

/** Requests sent for one address before it is declared down (NetBSD arp_maxtries). */
export const ARP_MAXTRIES = 5;
/** How long an unanswered address stays down, ms (NetBSD arpt_down, 20 s). */
export const ARPT_DOWN = 20_000;
/** At most one request per second per destination (RFC 1122 §2.3.2.1). */
export const ARP_REXMT = 1_000;
/**
 * Packets held per unresolved entry. NetBSD holds one, so the first large
 * datagram to a new neighbour loses all but its last fragment; we hold as many
 * as the largest datagram has fragments at MTU 1500 (45), like FreeBSD's
 * net.link.arp.maxhold, so a first 60000-byte ping works. The memory is
 * bounded by RUMP_MEMLIMIT like any packet's. The oldest is dropped first
 * (counted in arpstat.dfrdropped).
 */
export const ARP_MAXHOLD = 48;
/** Bound on the cache (entries per kernel), so a sweep of addresses cannot grow it without limit. */
export const ARP_MAXENTRIES = 4096;

const LLE_INCOMPLETE = 0;
const LLE_RESOLVED = 1;
const LLE_DOWN = 2;

const ZERO_MAC = new Uint8Array(6);

class ArpEntry {
  readonly mac = new Uint8Array(6);
  state = LLE_INCOMPLETE;
  permanent = false;
  published = false;
  /** Requests sent since the last answer (la_asked). */
  asked = 0;
  /** Packets waiting for the address (la_hold), oldest first. */
  readonly hold: Mbuf[] = [];
  readonly timer: Callout<ArpEntry>;
  constructor(
    readonly table: ArpTable,
    readonly ifp: Ifnet,
    readonly addr: number,
  ) {
    this.timer = table.inet.kernel.callouts.create<ArpEntry>(arpTimer, this);
  }
}

/** The ARP cache of one kernel. */
export class ArpTable {
  readonly entries = new Map<number, ArpEntry>();
  /* The bounds, as sysctls (net.inet.arp.maxhold, net.inet.arp.maxentries). */
  maxhold = ARP_MAXHOLD;
  maxentries = ARP_MAXENTRIES;
  constructor(readonly inet: Inet) {}
}

/**
 * The bounds as sysctls. NetBSD has neither; FreeBSD calls the first
 * net.link.arp.maxhold. Past maxhold the oldest held packet goes
 * (arpstat.dfrdropped); past maxentries a new address is refused
 * (arpstat.allocfail, ENOBUFS to the sender).
 */
export function arpSysctls(inet: Inet): void {
  const table = arpTable(inet);
  const sc = inet.kernel.sysctl;
  sc.int('net.inet.arp.maxhold', () => table.maxhold, (v) => { table.maxhold = v; }, 1, 0x7fffffff,
    'Packets held per unresolved address');
  sc.int('net.inet.arp.maxentries', () => table.maxentries, (v) => { table.maxentries = v; }, 1, 0x7fffffff,
    'ARP cache entries');
}

export const ARP = defineKernelState<ArpTable>('ARP (component net_netinet)');

function key(ifp: Ifnet, addr: number): number {
  return ifp.index * 0x100000000 + addr;
}

function arpTable(inet: Inet): ArpTable {
  return ARP.get(inet.kernel);
}

/* ------------------------------------------------------------------------ */
/* Sending. */

/** Put one ARP message on `ifp` to `dstMac`. Counts nothing; the caller does. */
function arpSend(ifp: Ifnet, op: number, spa: number, dstMac: Uint8Array, tha: Uint8Array, tpa: number, sha: Uint8Array): boolean {
  if ((ifp.flags & (IFF_UP | IFF_RUNNING)) !== (IFF_UP | IFF_RUNNING) || !ifp.lladdr) return false;
  const m = ifp.kernel.mbufs.get(ARP_ETHER_IP_LEN, MAX_LINKHDR);
  if (!m) return false;
  arpWrite(m.buf, m.off, op, sha, spa, tha, tpa);
  return etherSend(ifp, m, dstMac, 0, ETHERTYPE_ARP) === 0;
}

/** arprequest(): who has `tip`? tell `sip` (broadcast, target hardware address zero). */
export function arpRequest(inet: Inet, ifp: Ifnet, sip: number, tip: number): void {
  if (arpSend(ifp, ARPOP_REQUEST, sip, ETHER_ADDR_BROADCAST, ZERO_MAC, tip, ifp.lladdr ?? ZERO_MAC)) {
    inet.arpstat.snd_request++;
  }
}

/**
 * The ARP Announcement sent when an address is assigned (RFC 5227 §2.3,
 * NetBSD arp_ifinit): a request with sender and target protocol address both
 * ours and a zero target hardware address, so neighbours with a stale entry
 * for the address update it.
 */
export function arpAnnounce(inet: Inet, ifp: Ifnet, addr: number): void {
  arpRequest(inet, ifp, addr, addr);
}

/* ------------------------------------------------------------------------ */
/* Resolution (the LinkResolve for AF_INET). */

/**
 * arpresolve(): the MAC for `nexthop` into `mac`, or hold `m` while asking.
 * Returns 0, EWOULDBLOCK (we own `m`), or an errno (we freed `m`).
 */
export function arpResolve(ifp: Ifnet, m: Mbuf, nexthop: number, mac: Uint8Array): number {
  const inet = INET.get(ifp.kernel);
  if (m.flags & M_BCAST || nexthop === INADDR_BROADCAST || inBroadcast(inet, nexthop, ifp)) {
    macCopy(ETHER_ADDR_BROADCAST, 0, mac, 0);
    m.flags |= M_BCAST;
    return 0;
  }
  if (inAddrIsMulticast(nexthop)) {
    // RFC 1112 §6.4: 01:00:5e and the low 23 bits of the group.
    etherMapIpMulticast(nexthop, mac, 0);
    m.flags |= M_MCAST;
    return 0;
  }
  const table = arpTable(inet);
  let la = table.entries.get(key(ifp, nexthop));
  if (la && la.published) {
    // A published entry is "proxy only" (NetBSD since lltable): it answers
    // requests for the address and is never a next hop of ours.
    inet.arpstat.dfrdropped++;
    arpDropHeld(inet, m);
    return EHOSTUNREACH;
  }
  if (la && la.state === LLE_RESOLVED) {
    macCopy(la.mac, 0, mac, 0);
    return 0;
  }
  if (ifp.flags & IFF_NOARP) {
    // ifconfig -arp: what is resolved still goes, nothing new is asked for
    // and no entry is made (NetBSD's arpresolve: ENOTSUP).
    inet.kernel.mbufs.free(m);
    return ENOTSUP;
  }
  if (la && la.state === LLE_DOWN) {
    // NetBSD: EHOSTDOWN for a neighbour, EHOSTUNREACH when it is our gateway.
    const err = m.len >= 20 && ipDst(m.buf, m.off) !== nexthop ? EHOSTUNREACH : EHOSTDOWN;
    arpDropHeld(inet, m);
    return err;
  }
  if (!la) {
    if (table.entries.size >= table.maxentries) {
      inet.arpstat.allocfail++;
      inet.kernel.mbufs.free(m);
      return ENOBUFS;
    }
    la = new ArpEntry(table, ifp, nexthop);
    table.entries.set(key(ifp, nexthop), la);
    // NetBSD 8's rt_clonedmsg: the new entry is a cloned host route, its link address still empty.
    rtsockLlinfo(inet.kernel, RTM_ADD, AF_INET, () => saIn(nexthop), ifp, null);
  }
  if (la.hold.length >= table.maxhold) {
    inet.kernel.mbufs.free(la.hold.shift()!);
    inet.arpstat.dfrdropped++;
  }
  la.hold.push(m);
  if (la.asked === 0) {
    arpSolicit(inet, la);
  } else {
    // A request went out less than ARP_REXMT ago: the timer sends the next.
    inet.arpstat.ratelimit++;
  }
  return EWOULDBLOCK;
}

/** Send the next request for an incomplete entry and arm the retransmit. */
function arpSolicit(inet: Inet, la: ArpEntry): void {
  const ia = inAddrForNet(inet, la.ifp, la.addr);
  la.asked++;
  arpRequest(inet, la.ifp, ia ? ia.addr : INADDR_ANY, la.addr);
  la.timer.reset(ARP_REXMT);
}

/**
 * A packet that can no longer wait for its next hop. A forwarded one earns
 * its sender an ICMP host unreachable (RFC 1812 §4.3.3.1, NetBSD
 * arp_llinfo_missed); our own are just freed, their sender got the errno.
 */
function arpDropHeld(inet: Inet, m: Mbuf): void {
  if (m.rcvif !== 0) icmpError(inet, m, ICMP_UNREACH, ICMP_UNREACH_HOST, 0);
  else inet.kernel.mbufs.free(m);
}

function arpTimer(la: ArpEntry): void {
  const table = la.table;
  const inet = table.inet;
  if (table.entries.get(key(la.ifp, la.addr)) !== la) return; // already gone
  switch (la.state) {
    case LLE_INCOMPLETE:
      if (la.asked < ARP_MAXTRIES) {
        arpSolicit(inet, la);
        return;
      }
      // Nobody answered: down for ARPT_DOWN, then forgotten.
      inet.arpstat.timeouts++;
      la.state = LLE_DOWN;
      for (const m of la.hold.splice(0)) arpDropHeld(inet, m);
      la.timer.reset(ARPT_DOWN);
      return;
    default:
      arpDelete(table, la);
  }
}

function arpDelete(table: ArpTable, la: ArpEntry): void {
  la.timer.stop();
  if (table.entries.get(key(la.ifp, la.addr)) === la) {
    table.entries.delete(key(la.ifp, la.addr));
    rtsockLlinfo(la.ifp.kernel, RTM_DELETE, AF_INET, () => saIn(la.addr), la.ifp, la.state === LLE_RESOLVED ? la.mac : null, arpRtFlags(la));
  }
  for (const m of la.hold.splice(0)) table.inet.kernel.mbufs.free(m);
}

/** RTF_STATIC and RTF_ANNOUNCE (published) of an entry, for its routing messages. */
function arpRtFlags(la: ArpEntry): number {
  return (la.permanent ? RTF_STATIC : 0) | (la.published ? RTF_ANNOUNCE : 0);
}

/** The entry has a MAC now: mark it resolved, restart its lifetime, send what was held. */
function arpSetResolved(inet: Inet, la: ArpEntry, mac: Uint8Array, macOff: number): void {
  macCopy(mac, macOff, la.mac, 0);
  la.state = LLE_RESOLVED;
  la.asked = 0;
  if (la.permanent) la.timer.stop();
  else la.timer.reset(inet.arpKeep * 1000);
  if (la.hold.length === 0) return;
  const held = la.hold.splice(0);
  for (const m of held) {
    inet.arpstat.dfrsent++;
    etherSend(la.ifp, m, la.mac, 0, ETHERTYPE_IP);
  }
}

/* ------------------------------------------------------------------------ */
/* Input. */

/** ETHERTYPE_ARP input (arpintr → in_arpinput). Owns `m`. */
export function arpInput(ifp: Ifnet, m: Mbuf): void {
  const inet = INET.get(ifp.kernel);
  const st = inet.arpstat;
  const k = inet.kernel;
  const buf = m.buf;
  const off = m.off;
  st.rcv_total++;
  const c = arpCheck(buf, off, m.len);
  if (c !== ArpCheck.Ok) {
    if (c === ArpCheck.BadLen) st.rcv_badlen++;
    else st.rcv_badproto++;
    k.mbufs.free(m);
    return;
  }
  const op = arpOp(buf, off);
  if (op === ARPOP_REQUEST) st.rcv_request++;
  else if (op === ARPOP_REPLY) st.rcv_reply++;
  else {
    // RARP and InARP operations are not ours to answer.
    st.rcv_badproto++;
    k.mbufs.free(m);
    return;
  }
  if (m.flags & M_MCAST) st.rcv_mcast++;
  const lladdr = ifp.lladdr;
  if (!lladdr || arpShaEquals(buf, off, lladdr, 0)) {
    // Our own message (a medium that echoes, or a duplicate MAC): ignore it.
    st.rcv_ours++;
    k.mbufs.free(m);
    return;
  }
  if (arpShaIsBroadcast(buf, off)) {
    st.rcv_bcast_sha++;
    k.host.log(`arp: ${ifp.name}: link address is broadcast for IP address ${formatInAddr(arpSpa(buf, off))}!`);
    k.mbufs.free(m);
    return;
  }
  const spa = arpSpa(buf, off);
  const tpa = arpTpa(buf, off);
  // A host defending an address we probe for answers our probe, whose
  // sender was 0.0.0.0 (RFC 5227 §2.1.1): that reply is for DAD below.
  const probeReply = tpa === INADDR_ANY && spa !== INADDR_ANY && ((inet.ifaddrOn(ifp, spa)?.flags ?? 0) & IN_IFF_TENTATIVE) !== 0;
  if ((tpa === INADDR_ANY && !probeReply) || inAddrIsMulticast(tpa) || tpa === INADDR_BROADCAST || inAddrIsMulticast(spa) || spa === INADDR_BROADCAST) {
    st.rcv_badaddr++;
    k.mbufs.free(m);
    return;
  }
  const myia0 = inet.ifaddrOn(ifp, tpa);
  // RFC 5227 §2.1.1: while our address is tentative, its owner's packets
  // or another host's probe for it make it a duplicate.
  const claimed = spa !== INADDR_ANY ? inet.ifaddrOn(ifp, spa) : myia0;
  if (claimed && claimed.flags & IN_IFF_TENTATIVE) {
    const sha = new Uint8Array(6);
    arpCopySha(buf, off, sha, 0);
    if (arpDadInput(inet, claimed, spa, tpa, formatMac(sha))) {
      k.mbufs.free(m);
      return;
    }
  }
  // A tentative or duplicated address is not ours to answer for (§2.2.1).
  const myia = myia0 && !(myia0.flags & (IN_IFF_TENTATIVE | IN_IFF_DUPLICATED)) ? myia0 : null;

  if (spa !== INADDR_ANY && inet.ifaddrOn(ifp, spa)) {
    // Someone else claims our address (RFC 5227 §2.4): log it and, when
    // they ask, defend with a reply. A reply, not an announcement, so two
    // defenders do not answer each other for ever.
    st.rcv_localspa++;
    const sha = new Uint8Array(6);
    arpCopySha(buf, off, sha, 0);
    k.host.log(`arp: ${ifp.name}: duplicate IP address ${formatInAddr(spa)} sent from link address ${formatMac(sha)}`);
    if (op === ARPOP_REQUEST && arpSend(ifp, ARPOP_REPLY, spa, sha, sha, spa, lladdr)) st.snd_reply++;
    k.mbufs.free(m);
    return;
  }

  // RFC 826 merge: update an entry we already have; create one only when
  // the message was meant for us. Probes (sender 0.0.0.0) teach nothing.
  if (spa !== INADDR_ANY) {
    const table = arpTable(inet);
    const la = table.entries.get(key(ifp, spa));
    if (la) {
      if (la.permanent) {
        if (!arpShaEquals(buf, off, la.mac, 0)) {
          k.host.log(`arp: ${ifp.name}: attempt to overwrite permanent entry for ${formatInAddr(spa)}`);
        }
      } else {
        const learnt = la.state !== LLE_RESOLVED || !arpShaEquals(buf, off, la.mac, 0);
        if (la.state === LLE_RESOLVED && learnt) {
          st.rcv_lladdr_changed++;
          const sha = new Uint8Array(6);
          arpCopySha(buf, off, sha, 0);
          k.host.log(`arp: ${ifp.name}: ${formatInAddr(spa)} moved from ${formatMac(la.mac)} to ${formatMac(sha)}`);
        }
        arpSetResolved(inet, la, buf, off + 8);
        // The entry's link address was learnt or changed: RTM_CHANGE with it.
        if (learnt) rtsockLlinfo(k, RTM_CHANGE, AF_INET, () => saIn(spa), ifp, la.mac);
      }
    } else if (myia) {
      if (table.entries.size >= table.maxentries) {
        st.allocfail++;
      } else {
        const nla = new ArpEntry(table, ifp, spa);
        table.entries.set(key(ifp, spa), nla);
        arpSetResolved(inet, nla, buf, off + 8);
        rtsockLlinfo(k, RTM_ADD, AF_INET, () => saIn(spa), ifp, nla.mac);
      }
    }
  }

  if (op !== ARPOP_REQUEST) {
    k.mbufs.free(m);
    return;
  }
  let answerMac: Uint8Array | null = null;
  if (myia) {
    answerMac = lladdr;
  } else {
    const pub = arpTable(inet).entries.get(key(ifp, tpa));
    if (pub && pub.published && pub.state === LLE_RESOLVED) answerMac = pub.mac;
  }
  if (!answerMac) {
    k.mbufs.free(m);
    return;
  }
  // Turn the request into the reply in place: the Ethernet header we
  // stripped left exactly the headroom etherSend needs.
  m.len = ARP_ETHER_IP_LEN;
  m.flags &= ~(M_BCAST | M_MCAST);
  // The requester's MAC while the request is turned into a reply (etherSend copies it at once).
  const requester = new Uint8Array(6);
  arpCopySha(buf, off, requester, 0);
  arpSetOp(buf, off, ARPOP_REPLY);
  arpSetTha(buf, off, requester, 0);
  arpSetTpa(buf, off, spa);
  arpSetSha(buf, off, answerMac, 0);
  arpSetSpa(buf, off, tpa);
  if ((ifp.flags & (IFF_UP | IFF_RUNNING)) !== (IFF_UP | IFF_RUNNING)) {
    k.mbufs.free(m);
    return;
  }
  if (etherSend(ifp, m, requester, 0, ETHERTYPE_ARP) === 0) st.snd_reply++;
}

/* ------------------------------------------------------------------------ */
/* Maintenance and the administrative interface. */

/**
 * Remove entries on `ifp` whose address `pred` selects (all, with null;
 * permanent entries only then, as at interface detach).
 */
export function arpPurge(inet: Inet, ifp: Ifnet, pred: ((addr: number) => boolean) | null): void {
  const table = ARP.peek(inet.kernel);
  if (!table) return;
  for (const la of [...table.entries.values()]) {
    if (la.ifp !== ifp) continue;
    if (pred ? pred(la.addr) && !la.permanent : true) arpDelete(table, la);
  }
}

/** The interface went down: forget what we learnt on it (permanent entries stay). */
export function arpIfDown(inet: Inet, ifp: Ifnet): void {
  arpPurge(inet, ifp, () => true);
}

/** Free everything (kernel halt). */
export function arpDrain(inet: Inet): void {
  const table = ARP.peek(inet.kernel);
  if (!table) return;
  for (const la of [...table.entries.values()]) arpDelete(table, la);
}

/** `arp -an`: every entry (incomplete ones with a null lladdr), ordered by interface then address. */
export function arpDump(inet: Inet): ArpInfo[] {
  const entries = [...arpTable(inet).entries.values()].filter((la) => la.state !== LLE_DOWN);
  entries.sort((x, y) => x.ifp.index - y.ifp.index || x.addr - y.addr);
  return entries.map((la) => ({
    addr: formatInAddr(la.addr),
    lladdr: la.state === LLE_RESOLVED ? formatMac(la.mac) : null,
    ifname: la.ifp.name,
    permanent: la.permanent,
    expire: la.permanent ? -1 : la.state === LLE_RESOLVED ? Math.ceil(la.timer.remaining() / 1000) : 0,
    published: la.published,
  }));
}

/** The interface whose connected subnet holds `addr` (by route), or ENETUNREACH. */
function arpEntryIfp(inet: Inet, addr: number): Ifnet {
  const rt = inet.ns.rt4.lookup(addr);
  if (!rt || rt.flags & (RTF_GATEWAY | RTF_LOCAL) || rt.ifp.flags & IFF_LOOPBACK || !rt.ifp.lladdr) {
    throw new Errno(ENETUNREACH);
  }
  return rt.ifp;
}

/**
 * Where a published (proxy) entry answers: an interface with a subnet
 * holding `addr`, the one whose own MAC is published first, so that
 * `arp -s A our-mac pub` works for an address of ours on another interface
 * of the same subnet (t_arp's proxy cases: requests come in on the
 * interface the MAC is from).
 */
function arpPubIfp(inet: Inet, addr: number, mac: Uint8Array): Ifnet | null {
  let found: Ifnet | null = null;
  for (const ia of inet.addrs) {
    const ifp = ia.ifp;
    if (ifp.flags & IFF_LOOPBACK || !ifp.lladdr || ((addr & ia.mask) >>> 0) !== ((ia.addr & ia.mask) >>> 0)) continue;
    if (macEquals(ifp.lladdr, 0, mac, 0)) return ifp;
    found ??= ifp;
  }
  return found;
}

/**
 * `arp -s addr mac [temp] [pub]` and `arp -d addr`. The interface is the one
 * whose connected subnet holds the address (ENETUNREACH otherwise, NetBSD's
 * "cannot intuit interface index"); deleting an unknown entry is ESRCH.
 */
export function arpMsg(inet: Inet, msg: ArpMsg): void {
  if (msg === null || typeof msg !== 'object') throw new Errno(EINVAL);
  const addr = typeof msg.addr === 'string' ? parseInAddr(msg.addr) : null;
  if (addr === null || addr === INADDR_ANY || addr === INADDR_BROADCAST || inAddrIsMulticast(addr)) throw new Errno(EINVAL);
  const table = arpTable(inet);
  if (msg.type === 'delete') {
    let found = false;
    for (const la of [...table.entries.values()]) {
      if (la.addr === addr) {
        arpDelete(table, la);
        found = true;
      }
    }
    if (!found) throw new Errno(ESRCH);
    return;
  }
  if (msg.type !== 'add') throw new Errno(EINVAL);
  const mac = typeof msg.lladdr === 'string' ? parseMac(msg.lladdr) : null;
  if (!mac) throw new Errno(EINVAL);
  const ifp = (msg.pub === true ? arpPubIfp(inet, addr, mac) : null) ?? arpEntryIfp(inet, addr);
  let la = table.entries.get(key(ifp, addr));
  if (la && la.state === LLE_DOWN) {
    arpDelete(table, la);
    la = undefined;
  }
  // A permanent entry stays until deleted: arp -s over it is EEXIST, as on NetBSD.
  if (la && la.permanent) throw new Errno(EEXIST);
  if (!la) {
    if (table.entries.size >= table.maxentries) throw new Errno(ENOBUFS);
    la = new ArpEntry(table, ifp, addr);
    table.entries.set(key(ifp, addr), la);
  }
  la.permanent = msg.temp !== true;
  la.published = msg.pub === true;
  arpSetResolved(inet, la, mac, 0);
  rtsockLlinfo(inet.kernel, RTM_ADD, AF_INET, () => saIn(addr), ifp, la.mac, arpRtFlags(la));
}

