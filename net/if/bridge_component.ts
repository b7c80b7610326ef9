/*
 * The net_bridge component (NetBSD's librumpnet_bridge): the `bridge`
 * interface cloner, the bridge's SIOCSDRVSPEC / SIOCGDRVSPEC commands
 * (brconfig's BRDGADD, BRDGRTS, ...) and sysctl net.bridge.stats.
 */
import { registerComponent, InitLevel } from '../../kern/component.js';
import type { Kernel } from '../../kern/kernel.js';
import { netstack } from '../netstack.js';
import { BridgeStats, bridgeCloner, bridgeIfDetaching, bridgeIoctl, bridgeSoftc } from './if_bridge.js';

registerComponent({
  name: 'net_bridge',
  requires: ['net', 'net_net'],
  level: InitLevel.NET_IF,
  init(k: Kernel) {
    const ns = netstack(k);
    ns.ifs.addCloner(bridgeCloner(ns));
    ns.ifs.listeners.push({ detaching: bridgeIfDetaching });
    const drvspec = (ifp: Parameters<typeof bridgeIoctl>[1], _cmd: string, a: Record<string, unknown>) => bridgeIoctl(ns, ifp, a);
    ns.familyIoctl.set('SIOCSDRVSPEC', drvspec);
    ns.familyIoctl.set('SIOCGDRVSPEC', drvspec);
    k.sysctl.create('net.bridge.stats', {
      type: 'struct',
      description: 'bridge counters, summed over the bridge interfaces',
      get: () => {
        const total = new BridgeStats();
        for (const ifp of ns.ifs.list) {
          const s = bridgeSoftc(ifp)?.stats;
          if (!s) continue;
          total.forwarded += s.forwarded;
          total.flooded += s.flooded;
          total.sameport += s.sameport;
          total.learnfull += s.learnfull;
          total.dropped += s.dropped;
        }
        return { ...total };
      },
    });
  },
});
