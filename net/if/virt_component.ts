/*
 * The net_virtif component: registers the `virt` interface cloner (TAP
 * devices of the host) and its counters, sysctl net.virtif.stats.
 */
import { registerComponent, InitLevel } from '../../kern/component.js';
import type { Kernel } from '../../kern/kernel.js';
import { netstack } from '../netstack.js';
import { VirtStats, virtCloner, virtSoftc } from './virt.js';

registerComponent({
  name: 'net_virtif',
  requires: ['net', 'net_net'],
  level: InitLevel.NET_IF,
  init(k: Kernel) {
    const ns = netstack(k);
    ns.ifs.addCloner(virtCloner(ns));
    k.sysctl.create('net.virtif.stats', {
      type: 'struct',
      description: 'virt interface counters beyond if_data, summed over the virt interfaces',
      get: () => {
        const total = new VirtStats();
        for (const ifp of ns.ifs.list) {
          const s = virtSoftc(ifp)?.stats;
          if (!s) continue;
          total.rxnobufs += s.rxnobufs;
          total.rxtoolong += s.rxtoolong;
          total.txrefused += s.txrefused;
          total.rxerrors += s.rxerrors;
          total.rxmcastfiltered += s.rxmcastfiltered;
          total.txtso += s.txtso;
          total.txcsum += s.txcsum;
          total.rxcsumok += s.rxcsumok;
          total.rxcsumsw += s.rxcsumsw;
          total.rxgso += s.rxgso;
          total.rxsynshed += s.rxsynshed;
        }
        return { ...total };
      },
    });
  },
  fini(k: Kernel) {
    // Halt closes every host TAP device (and removes those the kernel created).
    for (const ifp of [...netstack(k).ifs.list]) virtSoftc(ifp)?.detach();
  },
});
