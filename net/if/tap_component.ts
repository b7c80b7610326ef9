/*
 * The net_tap component: NetBSD's tap(4) inside the rump kernel. A tap
 * interface is an Ethernet interface whose wire is a character device
 * (/dev/tapN) a process of the kernel would read and write; rump_server's
 * clients have no such device here, so frames sent out of a tap go nowhere
 * (counted as output, as on a tap nobody has opened) and none come in.
 * NetBSD's tests use it as an interface that is up, has addresses and a
 * MAC, and answers for them (proxy ARP), without a peer.
 * Unlike `virt` (net_virtif), nothing on the host is touched.
 */
import { registerComponent, InitLevel } from '../../kern/component.js';
import type { Kernel } from '../../kern/kernel.js';
import { Ifnet, IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFT_ETHER, type IfDriver } from '../interface.js';
import { netstack, type NetStack } from '../netstack.js';
import { etherIfattach, etherMultiIoctl, randomMac } from './ether.js';
import { Errno, EINVAL, EOPNOTSUPP } from '../../kern/errno.js';

const tapDriver: IfDriver = {
  transmit(ifp, m) {
    // No reader on /dev/tap: the frame is dropped, as tap_start does when the device is closed.
    ifp.kernel.mbufs.free(m);
  },
  init() {
    return 0;
  },
  stop() {},
  ioctl(ifp, cmd, arg) {
    if (cmd === 'SIOCSIFMTU') {
      const mtu = (arg as { mtu: number }).mtu;
      if (!Number.isInteger(mtu) || mtu < 68 || mtu > 1500) throw new Errno(EINVAL);
      ifp.mtu = mtu;
      return undefined;
    }
    if (etherMultiIoctl(ifp, cmd, arg)) return undefined;
    throw new Errno(EOPNOTSUPP);
  },
  detach() {},
};

/** The `tap` cloner: NetBSD's tap MACs start f2:0b:a4. */
export function tapCloner(ns: NetStack) {
  return {
    name: 'tap',
    create(_ifs: unknown, unit: number): Ifnet {
      const k = ns.kernel;
      const ifp = new Ifnet(k, `tap${unit}`, unit, IFT_ETHER, tapDriver);
      ifp.flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
      const mac = randomMac(k, 0xf2, 0x0b);
      mac[2] = 0xa4;
      etherIfattach(ns, ifp, mac);
      return ifp;
    },
    destroy(): void {},
  };
}

registerComponent({
  name: 'net_tap',
  requires: ['net', 'net_net'],
  level: InitLevel.NET_IF,
  init(k: Kernel) {
    netstack(k).ifs.addCloner(tapCloner(netstack(k)));
  },
});
