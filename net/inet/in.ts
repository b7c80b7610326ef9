/*
 * IPv4 addresses on interfaces (NetBSD netinet/in.c: in_control, in_ifinit,
 * in_purgeaddr, in_broadcast).
 *
 *   ifconfig shmif0 inet 192.0.2.1/24
 *     → ifioctl → ns.familyIoctl SIOCAIFADDR → inControl → inAddAddress:
 *         bring the interface up (the driver may refuse: ENXIO without a bus),
 *         replace the first address unless `alias`,
 *         add the connected route   192.0.2/24  link#2  U    shmif0
 *         and the local host route  192.0.2.1   link#2  UHl  lo0
 *         announce with a gratuitous ARP (RFC 5227 §2.3 "ARP Announcement")
 *         join 224.0.0.1 with the interface's first address (igmp.ts)
 *   ifconfig shmif0 inet 192.0.2.1 delete
 *     → SIOCDIFADDR → inPurgeAddr: routes and ARP entries of the address go.
 *   interface detach → inIfDetach: every address, route and ARP entry of it.
 */
import { AF_INET } from '../../kern/sys.js';
import { RTM_DELADDR, RTM_NEWADDR, rtsockAddr, rtsockListening, saIn } from '../rtsock.js';
import { Errno, EADDRNOTAVAIL, EEXIST, EINVAL, ENOTTY } from '../../kern/errno.js';
import { IFF_BROADCAST, IFF_LOOPBACK, IFF_NOARP, IFF_UP, type Ifnet } from '../interface.js';
import type { InAddrInfo } from '../ioctl.js';
import { Rtentry, RTF_CONNECTED, RTF_HOST, RTF_LOCAL, RTF_UP } from '../route.js';
import {
  INADDR_ANY, INADDR_BROADCAST, classfulPrefixLen, formatInAddr, inAddrIsMulticast, maskToPrefix,
  parseInAddr, prefixToMask,
} from '../wire/inaddr.js';
import { arpAnnounce, arpPurge } from './arp.js';
import { arpDadStart, arpDadStop, arpDadWanted } from './arp_dad.js';
import { inJoinAllHosts, inLeaveAllHosts, inMultiIfDetach } from './igmp.js';
import { InIfaddr, type Inet } from './inet.js';

/** The family ioctl handler (ns.familyIoctl) for SIOCAIFADDR and SIOCDIFADDR. Throws Errno. */
export function inControl(inet: Inet, ifp: Ifnet, cmd: string, arg: Record<string, unknown>): unknown {
  switch (cmd) {
    case 'SIOCAIFADDR': {
      const addr = argAddr(arg.addr);
      let plen: number;
      if (arg.mask === undefined || arg.mask === null) {
        // in_ifinit(): no mask given, take the classful one.
        plen = classfulPrefixLen(addr);
      } else {
        const mask = argAddr(arg.mask);
        const p = maskToPrefix(mask);
        if (p === null) throw new Errno(EINVAL); // non-contiguous masks are not supported
        plen = p;
      }
      let broad: number | null = null;
      if (arg.broadaddr !== undefined && arg.broadaddr !== null) broad = argAddr(arg.broadaddr);
      if (arg.alias !== undefined && typeof arg.alias !== 'boolean') throw new Errno(EINVAL);
      inAddAddress(inet, ifp, addr, plen, broad, arg.alias === true);
      return undefined;
    }
    case 'SIOCDIFADDR': {
      const addr = argAddr(arg.addr);
      const ia = inet.ifaddrOn(ifp, addr);
      if (!ia) throw new Errno(EADDRNOTAVAIL);
      inPurgeAddr(inet, ia);
      return undefined;
    }
    default:
      throw new Errno(ENOTTY);
  }
}

function argAddr(v: unknown): number {
  const a = typeof v === 'string' ? parseInAddr(v) : null;
  if (a === null) throw new Errno(EINVAL);
  return a;
}

/**
 * Add (or update) an address. Everything that can fail is checked before
 * anything changes, so a refused request leaves the interface as it was.
 */
export function inAddAddress(
  inet: Inet, ifp: Ifnet, addr: number, plen: number, broad: number | null, alias: boolean, dad = true,
): InIfaddr {
  if (addr === INADDR_ANY || addr === INADDR_BROADCAST || inAddrIsMulticast(addr)) throw new Errno(EINVAL);
  if (plen < 0 || plen > 32) throw new Errno(EINVAL);
  for (const other of inet.addrs) {
    if (other.addr === addr && other.ifp !== ifp) throw new Errno(EEXIST);
  }
  // Assigning an address brings the interface up, through the same path as
  // SIOCSIFFLAGS: a driver without its medium (shmif without a bus) refuses
  // with ENXIO and the address is not added.
  const wasUp = ifp.isUp;
  if (!wasUp) inet.ns.ifs.setFlags(ifp, ifp.flags | IFF_UP);

  const mask = prefixToMask(plen);
  let broadaddr = 0;
  if (ifp.flags & IFF_BROADCAST && plen < 31) broadaddr = broad ?? (addr | ~mask) >>> 0;

  let ia = inet.ifaddrOn(ifp, addr);
  if (!alias) {
    // `ifconfig shmif0 inet A/N` without `alias` replaces the first address.
    const first = inet.firstAddr(ifp);
    if (first && first !== ia) inPurgeAddr(inet, first);
  }
  if (ia) {
    // SIOCAIFADDR on an existing address changes its mask and broadcast.
    inRemoveRoutes(inet, ia);
    ia.mask = mask;
    ia.prefixLen = plen;
    ia.broadaddr = broadaddr;
  } else {
    ia = new InIfaddr(ifp, addr, mask, plen, broadaddr);
    inet.addrs.push(ia);
    ifp.addrs.push(ia);
    inJoinAllHosts(inet, ifp);
    inAddrMsg(inet, RTM_NEWADDR, ia);
  }
  inAddRoutes(inet, ia);
  // On an interface that was already up the address is tentative until
  // DAD passes (RFC 5227, arp_dad.ts), which announces it; otherwise (or
  // with dad_count 0) it is usable and announced at once, as NetBSD does.
  if (dad && wasUp && arpDadWanted(inet, ifp)) arpDadStart(inet, ia);
  else if (ifp.lladdr && !(ifp.flags & (IFF_NOARP | IFF_LOOPBACK))) {
    arpDadStop(ia);
    ia.flags = 0;
    arpAnnounce(inet, ifp, addr);
  }
  return ia;
}

/** RTM_NEWADDR or RTM_DELADDR for `ia` to the routing sockets (rt_addrmsg). */
function inAddrMsg(inet: Inet, type: number, ia: InIfaddr): void {
  if (!rtsockListening(inet.kernel)) return;
  rtsockAddr(inet.kernel, type, AF_INET, ia.ifp, saIn(ia.addr), saIn(ia.mask), ia.broadaddr !== 0 ? saIn(ia.broadaddr) : null, ia.flags);
}

/**
 * The routes an address brings (in_ifinit → in_addprefix, in_ifaddlocal):
 * the connected route for its subnet (unless another address already
 * provides it, or the interface is a loopback, or it is a /32) and the local
 * host route through lo0 (lo0's own address also carries lo0's MTU, as
 * NetBSD shows it).
 */
function inAddRoutes(inet: Inet, ia: InIfaddr): void {
  const rt4 = inet.ns.rt4;
  const ifp = ia.ifp;
  if (!(ifp.flags & IFF_LOOPBACK) && ia.prefixLen < 32 && !rt4.exact(ia.subnet, ia.prefixLen)) {
    rt4.add(new Rtentry(ia.subnet, ia.prefixLen, 0, RTF_UP | RTF_CONNECTED, ifp, ia.addr));
  }
  if (!rt4.exact(ia.addr, 32)) {
    const lo0 = inet.ns.lo0 ?? ifp;
    const rt = new Rtentry(ia.addr, 32, 0, RTF_UP | RTF_HOST | RTF_LOCAL, lo0, ia.addr);
    if (ifp.flags & IFF_LOOPBACK) rt.mtu = ifp.mtu;
    rt4.add(rt);
  }
}

/** Remove the connected and local routes of `ia`; hand the prefix to another address that has it (in_scrubprefix). */
function inRemoveRoutes(inet: Inet, ia: InIfaddr): void {
  const rt4 = inet.ns.rt4;
  const local = rt4.exact(ia.addr, 32);
  if (local && local.flags & RTF_LOCAL && local.ifaddr === ia.addr) rt4.delete(ia.addr, 32);
  const conn = rt4.exact(ia.subnet, ia.prefixLen);
  if (conn && conn.flags & RTF_CONNECTED && conn.ifaddr === ia.addr && conn.ifp === ia.ifp) {
    rt4.delete(ia.subnet, ia.prefixLen);
    for (const other of inet.addrs) {
      if (other !== ia && other.prefixLen === ia.prefixLen && other.subnet === ia.subnet && !(other.ifp.flags & IFF_LOOPBACK)) {
        rt4.add(new Rtentry(other.subnet, other.prefixLen, 0, RTF_UP | RTF_CONNECTED, other.ifp, other.addr));
        break;
      }
    }
  }
}

/** Remove an address: its routes, the ARP entries only it covered, and the address (in_purgeaddr). */
export function inPurgeAddr(inet: Inet, ia: InIfaddr): void {
  arpDadStop(ia);
  inAddrMsg(inet, RTM_DELADDR, ia);
  inRemoveRoutes(inet, ia);
  let i = inet.addrs.indexOf(ia);
  if (i >= 0) inet.addrs.splice(i, 1);
  const ifp = ia.ifp;
  i = ifp.addrs.indexOf(ia);
  if (i >= 0) ifp.addrs.splice(i, 1);
  // Static routes that used this address as their source move to another
  // address of the interface (or pick one at output time).
  const other = inet.firstAddr(ifp);
  if (other === null) inLeaveAllHosts(inet, ifp);
  for (const rt of inet.ns.rt4.all()) {
    if (rt.ifaddr === ia.addr) rt.ifaddr = rt.ifp === ifp && other ? other.addr : 0;
  }
  arpPurge(inet, ifp, (addr) => {
    if (((addr & ia.mask) >>> 0) !== ia.subnet) return false;
    for (const o of inet.addrs) if (o.ifp === ifp && ((addr & o.mask) >>> 0) === o.subnet) return false;
    return true;
  });
  inet.ns.rt4.generation++;
}

/** The interface is going away (if_detach): every address, route and ARP entry on it. */
export function inIfDetach(inet: Inet, ifp: Ifnet): void {
  for (const ia of inet.addrs.filter((a) => a.ifp === ifp)) inPurgeAddr(inet, ia);
  inet.ns.rt4.purge((rt) => rt.ifp === ifp);
  arpPurge(inet, ifp, null);
  inMultiIfDetach(inet, ifp);
}

/**
 * Is `addr` a broadcast address on `ifp` (in_broadcast)? The limited
 * broadcast, INADDR_ANY (the 4.2BSD broadcast), and for each address of a
 * broadcast-capable interface its directed broadcast and its subnet number
 * (NetBSD's hostzeroisbroadcast, on by default).
 */
export function inBroadcast(inet: Inet, addr: number, ifp: Ifnet | null): boolean {
  if (addr === INADDR_BROADCAST || addr === INADDR_ANY) return true;
  if (!ifp || !(ifp.flags & IFF_BROADCAST)) return false;
  const a = inet.addrs;
  for (let i = 0; i < a.length; i++) {
    const ia = a[i]!;
    if (ia.ifp !== ifp || ia.broadaddr === 0) continue;
    if (addr === ia.broadaddr || (addr === ia.subnet && ia.prefixLen < 31)) return true;
  }
  return false;
}

/** The address on `ifp` whose subnet holds `addr` (ifaof_ifpforaddr), else its first, else null. */
export function inAddrForNet(inet: Inet, ifp: Ifnet, addr: number): InIfaddr | null {
  let first: InIfaddr | null = null;
  for (const ia of inet.addrs) {
    if (ia.ifp !== ifp) continue;
    if (((addr & ia.mask) >>> 0) === ia.subnet) return ia;
    first ??= ia;
  }
  return first;
}

/** SIOCGIFCONF's view of an interface's IPv4 addresses (ns.inetAddrs). */
export function inAddrInfos(inet: Inet, ifp: Ifnet): InAddrInfo[] {
  const out: InAddrInfo[] = [];
  for (const ia of inet.addrs) {
    if (ia.ifp !== ifp) continue;
    out.push({
      addr: formatInAddr(ia.addr),
      mask: formatInAddr(ia.mask),
      prefixLen: ia.prefixLen,
      broadaddr: ia.broadaddr ? formatInAddr(ia.broadaddr) : null,
      ...(ia.flags !== 0 ? { flags: ia.flags } : {}),
    });
  }
  return out;
}
