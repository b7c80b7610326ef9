/*
 * A socket's IPv6 multicast options (NetBSD netinet6/ip6_output.c
 * ip6_setmoptions / ip6_getmoptions; RFC 3493 §5.2), NetBSD's numbers:
 *
 *   IPV6_MULTICAST_IF    9   the interface to send from: its index (0: by
 *                            route again), or `{ addr }` naming it by one of
 *                            its addresses or by a scope (`::%shmif0`, `%2`)
 *   IPV6_MULTICAST_HOPS 10   -1..255 (-1: the default, 1)
 *   IPV6_MULTICAST_LOOP 11   0 or 1, default 1
 *   IPV6_JOIN_GROUP     12   struct ipv6_mreq `{ ipv6mr_multiaddr, ipv6mr_interface }`:
 *                            the group, and the interface as for IPV6_MULTICAST_IF
 *                            (0 or '': the route's)
 *   IPV6_LEAVE_GROUP    13   likewise
 *
 * Memberships go when the socket closes; at most IPV6_MAX_MEMBERSHIPS per socket.
 * Output to a group (ip6MulticastOutput) leaves by the chosen interface with
 * the multicast hop limit, and a copy goes to our own members through lo0
 * when IPV6_MULTICAST_LOOP is on and the interface has joined the group.
 */
import { Errno, EADDRINUSE, EADDRNOTAVAIL, EINVAL, ENETUNREACH, ENXIO, ETOOMANYREFS } from '../../kern/errno.js';
import { defineKernelState } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import type { SockoptValue } from '../../kern/sys.js';
import { IFF_LOOPBACK, IFF_MULTICAST, type Ifnet } from '../interface.js';
import type { InPcb } from '../inet/in_pcb.js';
import { in6IsMulticast, in6IsUnspecified, parseIn6Addr } from '../wire/in6addr.js';
import type { Inet6 } from './inet6.js';
import { ip6OutputIf } from './ip6_output.js';
import { in6AddMulti, in6DelMulti, in6IfSource, in6MultiLookup, type In6Multi } from './mld6.js';

export const IPV6_MULTICAST_IF = 9;
export const IPV6_MULTICAST_HOPS = 10;
export const IPV6_MULTICAST_LOOP = 11;
export const IPV6_JOIN_GROUP = 12;
export const IPV6_LEAVE_GROUP = 13;
export const IPV6_MAX_MEMBERSHIPS = 20;
/** IPV6_DEFAULT_MULTICAST_HOPS / _LOOP (netinet6/in6.h). */
export const IPV6_DEFAULT_MULTICAST_HOPS = 1;
export const IPV6_DEFAULT_MULTICAST_LOOP = true;

export class In6Moptions {
  ifp: Ifnet | null = null;
  hops = IPV6_DEFAULT_MULTICAST_HOPS;
  loop = IPV6_DEFAULT_MULTICAST_LOOP;
  readonly memberships: In6Multi[] = [];
}

const MOPTIONS = defineKernelState('IPv6 multicast options', () => new WeakMap<InPcb, In6Moptions>());

function moptions(inp: InPcb): WeakMap<InPcb, In6Moptions> {
  return MOPTIONS.get(inp.table.inet.kernel);
}

export function in6pMoptions(inp: InPcb): In6Moptions | null {
  return moptions(inp).get(inp) ?? null;
}

function getMoptions(inp: InPcb): In6Moptions {
  let mo = moptions(inp).get(inp);
  if (mo === undefined) {
    mo = new In6Moptions();
    moptions(inp).set(inp, mo);
  }
  return mo;
}

/**
 * An interface named as the options allow: an index (0: none), '' (none),
 * a scope suffix (`%name` or `%index`), or one of its addresses. Null for
 * "none"; ENXIO for an index or name that is not there, EADDRNOTAVAIL for
 * an address that is not ours.
 */
function ifpOf(inet6: Inet6, v: unknown): Ifnet | null {
  const ifs = inet6.ns.ifs;
  if (v === undefined || v === 0 || v === '') return null;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) throw new Errno(EINVAL);
    const ifp = ifs.byIndex[v];
    if (ifp === undefined) throw new Errno(ENXIO);
    return ifp;
  }
  if (typeof v !== 'string') throw new Errno(EINVAL);
  const pct = v.indexOf('%');
  if (pct >= 0) {
    const scope = v.slice(pct + 1);
    const ifp = /^\d+$/.test(scope) ? ifs.byIndex[Number(scope)] : ifs.get(scope);
    if (ifp === undefined) throw new Errno(ENXIO);
    return ifp;
  }
  const a = parseIn6Addr(v);
  if (a === null) throw new Errno(EINVAL);
  if (in6IsUnspecified(a, 0)) return null;
  const ia = inet6.findLocal(a, 0);
  if (ia === null) throw new Errno(EADDRNOTAVAIL);
  return ia.ifp;
}

/**
 * The interface a packet to `group` leaves by without IPV6_MULTICAST_IF:
 * the route's; with none, the first multicast interface that is up and
 * has an IPv6 address (as IPv4's inMulticastIfp). Null when there is none.
 */
export function in6MulticastIfp(inet6: Inet6, group: Uint8Array): Ifnet | null {
  const rt = inet6.rt6.lookup(group, 0);
  if (rt !== null && !(rt.ifp.flags & IFF_LOOPBACK)) return rt.ifp;
  for (const ia of inet6.addrs) {
    const ifp = ia.ifp;
    if (ifp.isUp && ifp.flags & IFF_MULTICAST && !(ifp.flags & IFF_LOOPBACK)) return ifp;
  }
  return null;
}

function groupOf(v: unknown): Uint8Array {
  const a = typeof v === 'string' ? parseIn6Addr(v.replace(/%.*$/, '')) : null;
  if (a === null || !in6IsMulticast(a, 0)) throw new Errno(EINVAL);
  return a;
}

function mreqIfp(inet6: Inet6, group: Uint8Array, v: unknown): Ifnet {
  const ifp = ifpOf(inet6, v) ?? in6MulticastIfp(inet6, group);
  if (ifp === null || !(ifp.flags & IFF_MULTICAST)) throw new Errno(EADDRNOTAVAIL);
  return ifp;
}

/** ip6_setmoptions: true when `name` is a multicast option (then set, or thrown as NetBSD answers). */
export function in6MulticastSetopt(inp: InPcb, inet6: Inet6, name: number, value: SockoptValue): boolean {
  switch (name) {
    case IPV6_MULTICAST_IF: {
      const v = typeof value === 'object' && value !== null && !(value instanceof Uint8Array) ? value.addr : value;
      const ifp = ifpOf(inet6, v);
      if (ifp !== null && !(ifp.flags & IFF_MULTICAST)) throw new Errno(EADDRNOTAVAIL);
      getMoptions(inp).ifp = ifp;
      return true;
    }
    case IPV6_MULTICAST_HOPS: {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < -1 || value > 255) throw new Errno(EINVAL);
      getMoptions(inp).hops = value === -1 ? IPV6_DEFAULT_MULTICAST_HOPS : value;
      return true;
    }
    case IPV6_MULTICAST_LOOP:
      if (typeof value !== 'number' || (value !== 0 && value !== 1)) throw new Errno(EINVAL);
      getMoptions(inp).loop = value === 1;
      return true;
    case IPV6_JOIN_GROUP:
    case IPV6_LEAVE_GROUP: {
      if (typeof value !== 'object' || value === null || value instanceof Uint8Array) throw new Errno(EINVAL);
      const group = groupOf(value.ipv6mr_multiaddr);
      if (name === IPV6_JOIN_GROUP) {
        const ifp = mreqIfp(inet6, group, value.ipv6mr_interface);
        const mo = getMoptions(inp);
        if (mo.memberships.some((inm) => inm.ifp === ifp && inm.key === keyOf(group))) throw new Errno(EADDRINUSE);
        if (mo.memberships.length >= IPV6_MAX_MEMBERSHIPS) throw new Errno(ETOOMANYREFS);
        mo.memberships.push(in6AddMulti(inet6, ifp, group));
        return true;
      }
      const ifp = ifpOf(inet6, value.ipv6mr_interface);
      const mo = moptions(inp).get(inp);
      const key = keyOf(group);
      const i = mo === undefined ? -1 : mo.memberships.findIndex((inm) => inm.key === key && (ifp === null || inm.ifp === ifp));
      if (i < 0) throw new Errno(EADDRNOTAVAIL);
      const [inm] = mo!.memberships.splice(i, 1);
      in6DelMulti(inet6, inm!);
      return true;
    }
  }
  return false;
}

function keyOf(g: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += g[i]!.toString(16).padStart(2, '0');
  return s;
}

/** ip6_getmoptions: the value, or undefined when `name` is not one of them. */
export function in6MulticastGetopt(inp: InPcb, name: number): SockoptValue | undefined {
  const mo = moptions(inp).get(inp);
  switch (name) {
    case IPV6_MULTICAST_IF:
      return mo?.ifp?.index ?? 0;
    case IPV6_MULTICAST_HOPS:
      return mo?.hops ?? IPV6_DEFAULT_MULTICAST_HOPS;
    case IPV6_MULTICAST_LOOP:
      return (mo?.loop ?? IPV6_DEFAULT_MULTICAST_LOOP) ? 1 : 0;
  }
  return undefined;
}

/** The socket is closing: its memberships go. */
export function in6MoptionsFree(inp: InPcb, inet6: Inet6): void {
  const mo = moptions(inp).get(inp);
  if (mo === undefined) return;
  moptions(inp).delete(inp);
  for (const inm of mo.memberships) in6DelMulti(inet6, inm);
  mo.memberships.length = 0;
}

/**
 * ip6_output for a group: `m` holds the upper-layer header and data, whose
 * checksum already covers `src` (in6MulticastSrc picks one). Owns `m`.
 * Returns 0 or an errno.
 */
export function ip6MulticastOutput(
  inet6: Inet6, mo: In6Moptions | null, m: Mbuf, src: Uint8Array, dst: Uint8Array, nxt: number, tclass: number,
): number {
  const k = inet6.kernel;
  const ifp = mo?.ifp ?? in6MulticastIfp(inet6, dst);
  if (ifp === null) {
    inet6.ip6stat.noroute++;
    k.mbufs.free(m);
    return ENETUNREACH;
  }
  const hops = mo !== null ? mo.hops : IPV6_DEFAULT_MULTICAST_HOPS;
  // ip6_mloopback: our own members of the group hear it through lo0.
  const lo0 = inet6.ns.lo0;
  if ((mo !== null ? mo.loop : IPV6_DEFAULT_MULTICAST_LOOP) && lo0 !== null && in6MultiLookup(inet6, ifp, dst, 0) !== null) {
    const c = k.mbufs.copyin(m.buf, m.off, m.len);
    if (c === null) inet6.ip6stat.odropped++;
    else ip6OutputIf(inet6, c, lo0, src, 0, dst, 0, nxt, hops, tclass);
  }
  // A hop limit of 0 never leaves the node; nor is anything sent out the loopback interface
  // itself (ip6_output): the looped copy above is all its members get.
  if (hops === 0 || ifp.flags & IFF_LOOPBACK) {
    k.mbufs.free(m);
    return 0;
  }
  return ip6OutputIf(inet6, m, ifp, src, 0, dst, 0, nxt, hops, tclass);
}

/** The source for a packet to `group` (in6_selectsrc for multicast): the interface address itself (callers only read it), or null. */
export function in6MulticastSrc(inet6: Inet6, mo: In6Moptions | null, group: Uint8Array): Uint8Array | null {
  const ifp = mo?.ifp ?? in6MulticastIfp(inet6, group);
  if (ifp === null) return null;
  const ia = in6IfSource(inet6, ifp, group);
  if (ia === null) return null;
  return ia.addr;
}

