/*
 * The `net_net` component: interfaces, routing, and the loopback interface
 * lo0, attached and up at boot as on NetBSD.
 */
import { registerComponent, InitLevel } from '../../kern/component.js';
import type { Kernel } from '../../kern/kernel.js';
import { IFF_UP } from '../interface.js';
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
  },
});
