/*
 * Ethernet (NetBSD net/if_ethersubr.c): framing for every Ethernet-like
 * driver (shmif, virt).
 *
 *   output: ip_output → ifp.output = etherOutput → resolver (ARP) → etherSend → driver.transmit
 *   input:  driver → ifp.input = etherInput → filter → strip header → ARP or ip_input
 */
import { defineState } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { M_BCAST, M_MCAST } from '../../kern/mbuf.js';
import { Errno, EINVAL, ENOBUFS, ENETDOWN, ENXIO, EOPNOTSUPP, EWOULDBLOCK } from '../../kern/errno.js';
import { Ifnet, IFF_ALLMULTI, IFF_PROMISC, IFF_RUNNING, IFF_UP, TAP_IN, TAP_OUT } from '../interface.js';
import type { NetStack } from '../netstack.js';
import {
  ETHER_HDR_LEN, etherType, etherWriteHeader, macCopy, macEquals, macIsBroadcast, macIsMulticast,
} from '../wire/ether.js';

/** Attach Ethernet framing to an interface (ether_ifattach). */
export function etherIfattach(ns: NetStack, ifp: Ifnet, mac: Uint8Array): void {
  ifp.lladdr = mac;
  ifp.hdrlen = ETHER_HDR_LEN;
  ifp.output = etherOutput;
  ifp.input = etherInput;
  ETHER_STACK.set(ifp, ns);
}

/*
 * Interface → its NetStack, so output and input stay plain functions (no
 * closure per interface on the hot path, one map lookup per frame).
 */
const ETHER_STACK = defineState<Ifnet, NetStack>('Ethernet (etherIfattach)');

/** ether_output: resolve the next hop's MAC, then frame and send. Owns `m`. */
export function etherOutput(ifp: Ifnet, m: Mbuf, family: number, nexthop: number): number {
  const k = ifp.kernel;
  if ((ifp.flags & (IFF_UP | IFF_RUNNING)) !== (IFF_UP | IFF_RUNNING)) {
    k.mbufs.free(m);
    ifp.stats.oerrors++;
    return ENETDOWN;
  }
  const ns = ETHER_STACK.get(ifp);
  const resolve = ns.etherResolve.get(family);
  if (!resolve) {
    k.mbufs.free(m);
    ifp.stats.oerrors++;
    return ENETDOWN;
  }
  const dst = ns.scratch.etherDst;
  const err = resolve(ifp, m, nexthop, dst);
  if (err === EWOULDBLOCK) return 0; // held until the address resolves
  if (err) return err;
  return etherSend(ifp, m, dst, 0, family === 2 ? 0x0800 : 0x86dd);
}

/** Prepend the Ethernet header and hand the frame to the driver. Owns `m`. */
export function etherSend(ifp: Ifnet, m: Mbuf, dst: Uint8Array, dstOff: number, type: number): number {
  const k = ifp.kernel;
  const r = k.mbufs.prepend(m, ETHER_HDR_LEN);
  if (!r) {
    ifp.stats.oerrors++;
    return ENOBUFS;
  }
  etherWriteHeader(r.buf, r.off, dst, dstOff, ifp.lladdr!, 0, type);
  ifp.stats.opackets++;
  ifp.stats.obytes += r.len;
  if (macIsMulticast(dst, dstOff)) ifp.stats.omcasts++;
  if (ifp.taps.length) ifp.tap(TAP_OUT, r.buf, r.off, r.len);
  ifp.driver.transmit(ifp, r);
  return 0;
}

/** ether_input: filter, strip the header, demultiplex by ethertype. Owns `m`. */
export function etherInput(ifp: Ifnet, m: Mbuf): void {
  const k = ifp.kernel;
  const ns = ETHER_STACK.get(ifp);
  if (!(ifp.flags & IFF_UP)) {
    k.mbufs.free(m);
    return;
  }
  if (m.len < ETHER_HDR_LEN) {
    ifp.stats.ierrors++;
    ns.stats.ether_badlen++;
    k.mbufs.free(m);
    return;
  }
  const buf = m.buf;
  const off = m.off;
  ifp.stats.ipackets++;
  ifp.stats.ibytes += m.len;
  if (ifp.taps.length) ifp.tap(TAP_IN, buf, off, m.len);
  if (macIsMulticast(buf, off)) {
    m.flags |= macIsBroadcast(buf, off) ? M_BCAST : M_MCAST;
    ifp.stats.imcasts++;
  } else if (!macEquals(buf, off, ifp.lladdr!, 0) && !(ifp.flags & IFF_PROMISC)) {
    ns.stats.ether_notours++;
    k.mbufs.free(m);
    return;
  }
  const type = etherType(buf, off);
  const handler = ns.etherInput.get(type);
  if (!handler) {
    ifp.stats.noproto++;
    ns.stats.ether_noproto++;
    k.mbufs.free(m);
    return;
  }
  m.adj(ETHER_HDR_LEN);
  m.rcvif = ifp.index;
  handler(ifp, m);
}

/** A locally administered unicast MAC with a fixed two-byte prefix (b2:a0 for shmif, b2:0a for virt). */
export function randomMac(k: { host: { randomFill(b: Uint8Array): void } }, b0: number, b1: number): Uint8Array {
  const mac = new Uint8Array(6);
  k.host.randomFill(mac.subarray(2));
  mac[0] = b0;
  mac[1] = b1;
  return mac;
}

/* ------------------------------------------------------------------------ */
/*
 * Multicast filters (NetBSD ether_addmulti / ether_delmulti and the
 * ethercom's ec_multiaddrs). A protocol that joins a group asks the
 * interface for its link group address with SIOCADDMULTI (ifMcastOp); the
 * driver keeps the list here, counted, and receives only the group
 * addresses on it. Our drivers have no hardware filter (a shmif bus and a
 * TAP hand us every frame), so they ask etherMulticastAccept for each
 * multicast frame before copying it: what a NIC's filter would have kept
 * from the host.
 */

/** One link group address an interface listens to (struct ether_multi), with how many joins hold it. */
export interface EtherMulti {
  readonly mac: Uint8Array;
  refcount: number;
}

const MULTIS = defineState<Ifnet, EtherMulti[]>('Ethernet multicast filter', () => []);

function multiArg(arg: unknown): Uint8Array {
  const mac = (arg as { mac?: unknown } | null)?.mac;
  if (!(mac instanceof Uint8Array) || mac.length !== 6 || !macIsMulticast(mac, 0)) throw new Errno(EINVAL);
  return mac;
}

/** ether_addmulti: hold `mac` on `ifp`'s filter. True when it is new there (the driver's filter changes). */
export function etherAddMulti(ifp: Ifnet, mac: Uint8Array): boolean {
  const list = MULTIS.get(ifp);
  for (const e of list) {
    if (macEquals(e.mac, 0, mac, 0)) {
      e.refcount++;
      return false;
    }
  }
  const copy = new Uint8Array(6);
  macCopy(mac, 0, copy, 0);
  list.push({ mac: copy, refcount: 1 });
  return true;
}

/** ether_delmulti: release one hold of `mac`. True when the last went; ENXIO when it was not held. */
export function etherDelMulti(ifp: Ifnet, mac: Uint8Array): boolean {
  const list = MULTIS.peek(ifp);
  const i = list === undefined ? -1 : list.findIndex((e) => macEquals(e.mac, 0, mac, 0));
  if (i < 0) throw new Errno(ENXIO);
  const e = list![i]!;
  if (--e.refcount > 0) return false;
  list!.splice(i, 1);
  return true;
}

/** The group addresses `ifp` listens to (netstat -g's link layer part). */
export function etherMultiList(ifp: Ifnet): readonly EtherMulti[] {
  return MULTIS.peek(ifp) ?? [];
}

/**
 * SIOCADDMULTI / SIOCDELMULTI for a driver's ioctl: `arg` is `{ mac }`.
 * Returns true when `cmd` was one of them.
 */
export function etherMultiIoctl(ifp: Ifnet, cmd: string, arg: unknown): boolean {
  if (cmd === 'SIOCADDMULTI') {
    etherAddMulti(ifp, multiArg(arg));
    return true;
  }
  if (cmd === 'SIOCDELMULTI') {
    etherDelMulti(ifp, multiArg(arg));
    return true;
  }
  return false;
}

/**
 * The receive filter for a multicast frame whose destination is at
 * `buf[off]`: broadcast, a group on the list, or anything in promiscuous
 * or all-multicast mode.
 */
export function etherMulticastAccept(ifp: Ifnet, buf: Uint8Array, off: number): boolean {
  if (ifp.flags & (IFF_PROMISC | IFF_ALLMULTI) || macIsBroadcast(buf, off)) return true;
  const list = MULTIS.peek(ifp);
  if (list === undefined) return false;
  for (let i = 0; i < list.length; i++) if (macEquals(list[i]!.mac, 0, buf, off)) return true;
  return false;
}

/**
 * if_mcast_op: ask `ifp`'s driver to add or remove a link group address.
 * A driver without a filter (lo0, or one that passes every frame up)
 * answers EOPNOTSUPP or has no ioctl: that is success, it hears the group anyway.
 */
export function ifMcastOp(ifp: Ifnet, cmd: 'SIOCADDMULTI' | 'SIOCDELMULTI', mac: Uint8Array): void {
  const ioctl = ifp.driver.ioctl;
  if (ioctl === undefined) return;
  try {
    ioctl.call(ifp.driver, ifp, cmd, { mac });
  } catch (e) {
    if (e instanceof Errno && e.errno === EOPNOTSUPP) return;
    throw e;
  }
}
