/*
 * Ethernet (NetBSD net/if_ethersubr.c): framing for every Ethernet-like
 * driver (shmif, virt).
 *
 *   output: ip_output → ifp.output = etherOutput → resolver (ARP) → etherSend → driver.transmit
 *   input:  driver → ifp.input = etherInput → filter → strip header → ARP or ip_input
 */
import type { Mbuf } from '../../kern/mbuf.js';
import { M_BCAST, M_MCAST } from '../../kern/mbuf.js';
import { ENOBUFS, ENETDOWN, EWOULDBLOCK } from '../../kern/errno.js';
import { Ifnet, IFF_PROMISC, IFF_RUNNING, IFF_UP, TAP_IN, TAP_OUT } from '../interface.js';
import type { NetStack } from '../netstack.js';
import {
  ETHER_HDR_LEN, etherType, etherWriteHeader, macEquals, macIsBroadcast, macIsMulticast,
} from '../wire/ether.js';

/** Attach Ethernet framing to an interface (ether_ifattach). */
export function etherIfattach(ns: NetStack, ifp: Ifnet, mac: Uint8Array): void {
  ifp.lladdr = mac;
  ifp.hdrlen = ETHER_HDR_LEN;
  ifp.output = etherOutput;
  ifp.input = etherInput;
  etherStacks.set(ifp, ns);
}

/*
 * Interface → its NetStack, so output and input stay plain functions (no
 * closure per interface on the hot path, one map lookup per frame).
 */
const etherStacks = new WeakMap<Ifnet, NetStack>();

const scratchMac = new Uint8Array(6);

/** ether_output: resolve the next hop's MAC, then frame and send. Owns `m`. */
export function etherOutput(ifp: Ifnet, m: Mbuf, family: number, nexthop: number): number {
  const k = ifp.kernel;
  if ((ifp.flags & (IFF_UP | IFF_RUNNING)) !== (IFF_UP | IFF_RUNNING)) {
    k.mbufs.free(m);
    ifp.stats.oerrors++;
    return ENETDOWN;
  }
  const ns = etherStacks.get(ifp)!;
  const resolve = ns.etherResolve.get(family);
  if (!resolve) {
    k.mbufs.free(m);
    ifp.stats.oerrors++;
    return ENETDOWN;
  }
  const err = resolve(ifp, m, nexthop, scratchMac);
  if (err === EWOULDBLOCK) return 0; // held until the address resolves
  if (err) return err;
  return etherSend(ifp, m, scratchMac, 0, family === 2 ? 0x0800 : 0x86dd);
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
  const ns = etherStacks.get(ifp)!;
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
