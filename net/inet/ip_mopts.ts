/*
 * A socket's IPv4 multicast options (NetBSD netinet/ip_output.c
 * ip_setmoptions / ip_getmoptions, struct ip_moptions), with NetBSD's
 * option numbers:
 *
 *   IP_MULTICAST_IF     9   the interface to send from, by its address
 *                           (INADDR_ANY: by route again)
 *   IP_MULTICAST_TTL   10   0..255, default 1
 *   IP_MULTICAST_LOOP  11   0 or 1, default 1: our own members hear what we send
 *   IP_ADD_MEMBERSHIP  12   struct ip_mreq: join a group on an interface
 *   IP_DROP_MEMBERSHIP 13   struct ip_mreq: leave it
 *
 * struct ip_mreq is `{ imr_multiaddr, imr_interface }` (dotted quads; an
 * interface of 0.0.0.0 lets the route choose), or its 8 bytes as C lays
 * them out. Memberships go when the socket closes (inMoptionsFree), as
 * ip_freemoptions drops them. At most IP_MAX_MEMBERSHIPS per socket.
 */
import { Errno, EADDRINUSE, EADDRNOTAVAIL, EINVAL, ETOOMANYREFS } from '../../kern/errno.js';
import { defineKernelState } from '../../kern/kernel.js';
import type { SockoptValue } from '../../kern/sys.js';
import { IFF_MULTICAST, type Ifnet } from '../interface.js';
import { INADDR_ANY, formatInAddr, inAddrIsMulticast, parseInAddr } from '../wire/inaddr.js';
import { inAddMulti, inDelMulti, type InMulti } from './igmp.js';
import type { InPcb } from './in_pcb.js';
import type { Inet } from './inet.js';
import { IP_DEFAULT_MULTICAST_LOOP, IP_DEFAULT_MULTICAST_TTL, inMulticastIfp, type IpMoptions } from './ip_output.js';

export const IP_MULTICAST_IF = 9;
export const IP_MULTICAST_TTL = 10;
export const IP_MULTICAST_LOOP = 11;
export const IP_ADD_MEMBERSHIP = 12;
export const IP_DROP_MEMBERSHIP = 13;
/** Groups one socket may join (netinet/in.h IP_MAX_MEMBERSHIPS). */
export const IP_MAX_MEMBERSHIPS = 20;

export class InMoptions implements IpMoptions {
  ifp: Ifnet | null = null;
  /** The address IP_MULTICAST_IF named (what getsockopt answers). */
  ifaddr = INADDR_ANY;
  ttl = IP_DEFAULT_MULTICAST_TTL;
  loop = IP_DEFAULT_MULTICAST_LOOP;
  readonly memberships: InMulti[] = [];
}

/* Kept beside the PCB rather than in it: most sockets never touch multicast. */
const MOPTIONS = defineKernelState('IPv4 multicast options', () => new WeakMap<InPcb, InMoptions>());

function moptions(inp: InPcb): WeakMap<InPcb, InMoptions> {
  return MOPTIONS.get(inp.table.inet.kernel);
}

/** The socket's multicast options, or null when it never set any (defaults apply). */
export function inpMoptions(inp: InPcb): InMoptions | null {
  return moptions(inp).get(inp) ?? null;
}

function getMoptions(inp: InPcb): InMoptions {
  let mo = moptions(inp).get(inp);
  if (mo === undefined) {
    mo = new InMoptions();
    moptions(inp).set(inp, mo);
  }
  return mo;
}

/** An address from a dotted quad, or from 4 bytes in network order at `off`. */
function addrOf(v: unknown, bytes: Uint8Array | null, off: number): number {
  if (typeof v === 'string') {
    const a = parseInAddr(v);
    if (a !== null) return a;
    throw new Errno(EINVAL);
  }
  if (v === undefined && bytes !== null) return ((bytes[off]! << 24) | (bytes[off + 1]! << 16) | (bytes[off + 2]! << 8) | bytes[off + 3]!) >>> 0;
  if (v === undefined) return INADDR_ANY;
  throw new Errno(EINVAL);
}

/** struct ip_mreq: the group and the interface address. */
function mreqOf(value: SockoptValue): { group: number; iface: number } {
  if (value instanceof Uint8Array) {
    if (value.length < 8) throw new Errno(EINVAL);
    return { group: addrOf(undefined, value, 0), iface: addrOf(undefined, value, 4) };
  }
  if (typeof value !== 'object' || value === null) throw new Errno(EINVAL);
  if (value.imr_multiaddr === undefined) throw new Errno(EINVAL);
  return { group: addrOf(value.imr_multiaddr, null, 0), iface: addrOf(value.imr_interface, null, 0) };
}

/** INADDR_TO_IFP: the interface holding `addr`, or null. */
function ifpWithAddr(inet: Inet, addr: number): Ifnet | null {
  for (const ia of inet.addrs) if (ia.addr === addr) return ia.ifp;
  return null;
}

/** The interface an ip_mreq names: by its address, or by route for INADDR_ANY. EADDRNOTAVAIL without one that multicasts. */
function mreqIfp(inet: Inet, group: number, iface: number): Ifnet {
  const ifp = iface === INADDR_ANY ? inMulticastIfp(inet, group) : ifpWithAddr(inet, iface);
  if (ifp === null || !(ifp.flags & IFF_MULTICAST)) throw new Errno(EADDRNOTAVAIL);
  return ifp;
}

function optInt(value: SockoptValue, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) throw new Errno(EINVAL);
  return value;
}

/**
 * ip_setmoptions: true when `name` is a multicast option (then set, or
 * thrown as NetBSD answers: EINVAL, EADDRNOTAVAIL, EADDRINUSE, ETOOMANYREFS).
 */
export function inMulticastSetopt(inp: InPcb, name: number, value: SockoptValue): boolean {
  const inet = inp.table.inet;
  switch (name) {
    case IP_MULTICAST_IF: {
      const addr = value instanceof Uint8Array ? (value.length >= 4 ? addrOf(undefined, value, 0) : -1)
        : typeof value === 'object' && value !== null ? addrOf(value.addr ?? value.imr_interface, null, 0) : -1;
      if (addr < 0) throw new Errno(EINVAL);
      const mo = getMoptions(inp);
      if (addr === INADDR_ANY) {
        mo.ifp = null;
        mo.ifaddr = INADDR_ANY;
        return true;
      }
      // An address in 0.0.0.0/8 names the interface by its index (NetBSD's
      // ip_multicast_if, RFC 1724 §3.3): one with no address yet.
      const ifp = addr >>> 24 === 0 ? (inet.ns.ifs.byIndex[addr] ?? null) : ifpWithAddr(inet, addr);
      if (ifp === null || !(ifp.flags & IFF_MULTICAST)) throw new Errno(EADDRNOTAVAIL);
      mo.ifp = ifp;
      mo.ifaddr = addr;
      return true;
    }
    case IP_MULTICAST_TTL:
      getMoptions(inp).ttl = optInt(value, 255);
      return true;
    case IP_MULTICAST_LOOP:
      getMoptions(inp).loop = optInt(value, 0x7fffffff) !== 0;
      return true;
    case IP_ADD_MEMBERSHIP: {
      const { group, iface } = mreqOf(value);
      if (!inAddrIsMulticast(group)) throw new Errno(EINVAL);
      const ifp = mreqIfp(inet, group, iface);
      const mo = getMoptions(inp);
      if (mo.memberships.some((inm) => inm.ifp === ifp && inm.group === group)) throw new Errno(EADDRINUSE);
      if (mo.memberships.length >= IP_MAX_MEMBERSHIPS) throw new Errno(ETOOMANYREFS);
      mo.memberships.push(inAddMulti(inet, ifp, group));
      return true;
    }
    case IP_DROP_MEMBERSHIP: {
      const { group, iface } = mreqOf(value);
      if (!inAddrIsMulticast(group)) throw new Errno(EINVAL);
      const ifp = iface === INADDR_ANY ? null : ifpWithAddr(inet, iface);
      if (iface !== INADDR_ANY && ifp === null) throw new Errno(EADDRNOTAVAIL);
      const mo = moptions(inp).get(inp);
      const i = mo === undefined ? -1 : mo.memberships.findIndex((inm) => inm.group === group && (ifp === null || inm.ifp === ifp));
      if (i < 0) throw new Errno(EADDRNOTAVAIL);
      const [inm] = mo!.memberships.splice(i, 1);
      inDelMulti(inet, inm!);
      return true;
    }
  }
  return false;
}

/** ip_getmoptions: the value, or undefined when `name` is not a multicast option it answers. */
export function inMulticastGetopt(inp: InPcb, name: number): SockoptValue | undefined {
  const mo = moptions(inp).get(inp);
  switch (name) {
    case IP_MULTICAST_IF:
      return { addr: formatInAddr(mo?.ifaddr ?? INADDR_ANY) };
    case IP_MULTICAST_TTL:
      return mo?.ttl ?? IP_DEFAULT_MULTICAST_TTL;
    case IP_MULTICAST_LOOP:
      return (mo?.loop ?? IP_DEFAULT_MULTICAST_LOOP) ? 1 : 0;
  }
  return undefined;
}

/** ip_freemoptions: the socket is closing; its memberships go. */
export function inMoptionsFree(inp: InPcb): void {
  const mo = moptions(inp).get(inp);
  if (mo === undefined) return;
  moptions(inp).delete(inp);
  const inet = inp.table.inet;
  for (const inm of mo.memberships) inDelMulti(inet, inm);
  mo.memberships.length = 0;
}

/**
 * The source address of a datagram to `group` (in_selectsrc for
 * multicast): IP_MULTICAST_IF's address, else the first address of the
 * interface it will leave by. 0 when there is none.
 */
export function inMulticastSrc(inet: Inet, group: number, mo: InMoptions | null): number {
  if (mo !== null && mo.ifaddr !== INADDR_ANY) return mo.ifaddr;
  const ifp = mo?.ifp ?? inMulticastIfp(inet, group);
  const ia = ifp === null ? null : inet.firstAddr(ifp);
  return ia === null ? 0 : ia.addr;
}
