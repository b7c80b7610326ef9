/*
 * carp(4)'s interface cloner, as much of it as this kernel has: NetBSD's
 * rumpnet_netinet links ip_carp.c, so `ifconfig -C` lists `carp` beside the
 * other cloners and `ifconfig carp0 create` / `destroy` work. What it does not
 * have is the protocol (RFC-less CARP advertisements, vhid, carpdev, the
 * MASTER/BACKUP election): a carp interface here stays in carp's INIT state,
 * as NetBSD's does before `carpdev` is set, and sends nothing (its output is
 * the unattached one: ENXIO, counted as an output error).
 */
import { Ifnet, IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, type IfCloner, type IfDriver } from '../interface.js';

/** IFT_CARP (net/if_types.h). */
export const IFT_CARP = 0xf8;

const carpDriver: IfDriver = {
  transmit(ifp, m) {
    ifp.kernel.mbufs.free(m);
    ifp.stats.oerrors++;
  },
  init() {
    return 0;
  },
  stop() {},
  detach() {},
};

/** The `carp` cloner: interfaces with no carpdev (INIT), created and destroyed. */
export const carpCloner: IfCloner = {
  name: 'carp',
  create: (ifs, unit) => {
    const ifp = new Ifnet(ifs.kernel, `carp${unit}`, unit, IFT_CARP, carpDriver);
    ifp.flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
    return ifp;
  },
  destroy() {},
};
