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

registerComponent({
  name: 'net_net',
  requires: ['net'],
  level: InitLevel.NET_IF,
  init(k: Kernel) {
    const ns = netstack(k);
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
  },
});
