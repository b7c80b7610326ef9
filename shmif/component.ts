/*
 * The net_shmif component: registers the `shmif` interface cloner.
 */
import { registerComponent, InitLevel } from '../kern/component.js';
import type { Kernel } from '../kern/kernel.js';
import { netstack } from '../net/netstack.js';
import { shmifCloner, shmifSoftc } from './if_shmem.js';

registerComponent({
  name: 'net_shmif',
  requires: ['net', 'net_net'],
  level: InitLevel.NET_IF,
  init(k: Kernel) {
    const ns = netstack(k);
    ns.ifs.addCloner(shmifCloner(ns));
    k.sysctl.create('net.shmif.stats', {
      type: 'struct',
      get: () => {
        const total = { lost: 0, laps: 0, txrefused: 0, rxnobufs: 0 };
        for (const ifp of ns.ifs.list) {
          const sc = shmifSoftc(ifp);
          if (!sc) continue;
          total.lost += sc.stats.lost;
          total.laps += sc.stats.laps;
          total.txrefused += sc.stats.txrefused;
          total.rxnobufs += sc.stats.rxnobufs;
        }
        return total;
      },
    });
  },
  fini(k: Kernel) {
    const ns = netstack(k);
    for (const ifp of [...ns.ifs.list]) shmifSoftc(ifp)?.detachBus();
  },
});
