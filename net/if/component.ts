/*
 * The `net_net` component: interfaces, routing, and the loopback interface
 * lo0, attached and up at boot as on NetBSD, with the `lo` cloner for more
 * loopback interfaces (lo1, ...; lo0 itself cannot be destroyed: EPERM).
 */
import { registerComponent, InitLevel } from '../../kern/component.js';
import type { Kernel } from '../../kern/kernel.js';
import { Errno, EPERM } from '../../kern/errno.js';
import { IFF_UP, type Ifnet } from '../interface.js';
import { netstack } from '../netstack.js';
import { loopAttach } from './loop.js';
import { etherMultiList } from './ether.js';
import { rtsockAttach } from '../rtsock.js';

/** One interface's link-layer multicast filter, as ifmcstat prints it. */
export interface McastInfo {
  ifname: string;
  /** Colon-separated group MACs and how many joins hold each. */
  macs: Array<{ mac: string; refcount: number }>;
}

declare module '../../kern/sys.js' {
  interface SysExtensions {
    /** Every interface's link-layer multicast addresses (ifmcstat's mcast-macaddr lines). */
    mcastdump: () => McastInfo[];
  }
}

registerComponent({
  name: 'net_net',
  requires: ['net'],
  level: InitLevel.NET_IF,
  init(k: Kernel) {
    const ns = netstack(k);
    rtsockAttach(ns);
    const lo0 = loopAttach(ns, 0);
    ns.ifs.attach(lo0);
    ns.lo0 = lo0;
    ns.ifs.setFlags(lo0, lo0.flags | IFF_UP);
    ns.ifs.addCloner({
      name: 'lo',
      create: (_ifs, unit) => loopAttach(ns, unit),
      mayDestroy(ifp: Ifnet) {
        if (ifp === ns.lo0) throw new Errno(EPERM, undefined, ifp.name);
      },
      destroy() {},
    });
    k.sys.extend('mcastdump', () => ns.ifs.list.map((ifp) => ({
      ifname: ifp.name,
      macs: etherMultiList(ifp).map((e) => ({ mac: [...e.mac].map((b) => b.toString(16).padStart(2, '0')).join(':'), refcount: e.refcount })),
    })));
  },
});
