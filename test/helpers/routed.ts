/*
 * Two hosts routed through one router, IPv4, on the simulated clock:
 *
 *   h1 192.0.2.2 ── lanA ── 192.0.2.1 r 198.51.100.1 ── lanB ── 198.51.100.2 h2
 *
 * with each host's default route through r, and r forwarding unless told
 * not to. Frames on both links are decoded into lanA and lanB (emptied once
 * the addresses are up).
 */
import type { Kernel } from '../../kern/kernel.js';
import { Hub, attachEther } from './hub.js';
import { bootKernels, decodeFrame, ifconfig, route, type Kernels, type SeenFrame } from './kernels.js';

export interface RoutedNet {
  ks: Kernels;
  h1: Kernel;
  r: Kernel;
  h2: Kernel;
  lanA: SeenFrame[];
  lanB: SeenFrame[];
  hubA: Hub;
}

export async function routedTopology(forwarding = 1): Promise<RoutedNet> {
  const ks = bootKernels(3);
  const [h1, r, h2] = ks.kernels as [Kernel, Kernel, Kernel];
  const hubA = new Hub('lanA');
  const hubB = new Hub('lanB');
  const lanA: SeenFrame[] = [];
  const lanB: SeenFrame[] = [];
  hubA.tap((f) => lanA.push(decodeFrame(f)));
  hubB.tap((f) => lanB.push(decodeFrame(f)));
  attachEther(h1, hubA);
  attachEther(r, hubA);
  attachEther(r, hubB);
  attachEther(h2, hubB);
  ifconfig(h1, 'hub0', '192.0.2.2/24');
  ifconfig(r, 'hub0', '192.0.2.1/24');
  ifconfig(r, 'hub1', '198.51.100.1/24');
  ifconfig(h2, 'hub0', '198.51.100.2/24');
  await route(h1, { type: 'add', dst: 'default', gateway: '192.0.2.1' });
  await route(h2, { type: 'add', dst: 'default', gateway: '198.51.100.1' });
  await r.sys.sysctlSet('net.inet.ip.forwarding', forwarding);
  await ks.sim.settle();
  lanA.length = 0;
  lanB.length = 0;
  return { ks, h1, r, h2, lanA, lanB, hubA };
}
