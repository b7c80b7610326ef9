/*
 * The protocol-independent networking components:
 *   net      the net faction: packet buffers, sockets, protocol families
 *   net_net  interfaces, routing, the loopback interface lo0
 */
import { registerComponent, InitLevel } from '../kern/component.js';
import type { Kernel } from '../kern/kernel.js';
import { IFF_UP } from './if.js';
import { loopAttach } from './if/loop.js';
import { NetStack, NETSTACK, netstack } from './netstack.js';

registerComponent({
  name: 'net',
  requires: [],
  level: InitLevel.NET,
  init(k: Kernel) {
    k.setSlot(NETSTACK, new NetStack(k));
    k.sysctl.create('net.stats', {
      type: 'struct',
      get: () => ({ ...netstack(k).stats }),
    });
  },
});

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
