/*
 * The `net` component: the net faction (packet buffers, sockets, protocol
 * families) and the per-kernel networking state. Interfaces and lo0 come
 * with `net_net` (net/if/component.ts).
 */
import { registerComponent, InitLevel } from '../kern/component.js';
import type { Kernel } from '../kern/kernel.js';
import { NetStack, NETSTACK, netstack } from './netstack.js';
import { sockstatEntries, type SockstatEntry } from './sockstat.js';
import { resolvAttach } from './resolv.js';

declare module '../kern/sys.js' {
  interface SysExtensions {
    /** Every process's sockets (rump.sockstat). */
    sockstat: () => SockstatEntry[];
  }
}

registerComponent({
  name: 'net',
  requires: [],
  level: InitLevel.NET,
  init(k: Kernel) {
    NETSTACK.set(k, new NetStack(k));
    k.sysctl.struct('net.stats', () => ({ ...netstack(k).stats }));
    const ns = netstack(k);
    k.sysctl.int('kern.somaxconn', () => ns.somaxconn, (v) => { ns.somaxconn = v; }, 1, 0x7fff,
      'Largest listen backlog (larger ones are cut to it)');
    // Every process's sockets, for sockstat (NetBSD: kern.file2 joined with the PCB lists).
    k.sys.extend('sockstat', () => sockstatEntries(k));
    // The resolver's configuration (resolv.conf, hosts): names resolve in the kernel's world.
    resolvAttach(k);
  },
});
