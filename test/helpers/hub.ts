/*
 * An in-memory Ethernet hub for multi-kernel tests: every frame one port
 * transmits is copied (into a fresh packet buffer of the receiving kernel)
 * to every other port that is up, through the host's softint queue, never
 * re-entrantly, the way a shmif bus delivers. Taps see every frame on the
 * hub. Nothing here reads a clock: delivery happens when the sim host runs
 * deferred work.
 *
 *   const hub = new Hub('lan');
 *   const ifp = attachEther(k, hub);     // hub0, hub1, ... in k
 *   hub.tap((frame, from) => frames.push(frame));
 *   hub.inject(frame);                   // a frame from nowhere, to every port
 *
 * Tests refer to interfaces by the names attachEther returns, so the hub can
 * be swapped for shmif buses without changing what they assert.
 */
import { ENXIO } from '../../kern/errno.js';
import type { Kernel } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { Ifnet, IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFT_ETHER, type IfDriver } from '../../net/interface.js';
import { etherIfattach } from '../../net/if/ether.js';
import { netstack } from '../../net/netstack.js';

/** A frame as seen on the hub (a copy the tap may keep) and the port it came from (null: injected). */
export type HubTap = (frame: Uint8Array, from: Ifnet | null) => void;

interface Delivery {
  ifp: Ifnet;
  m: Mbuf;
}

function deliver(d: Delivery): void {
  const ifp = d.ifp;
  if (ifp.kernel.halted) {
    ifp.kernel.mbufs.free(d.m);
    return;
  }
  ifp.input(ifp, d.m);
}

export class Hub {
  readonly ports: Ifnet[] = [];
  readonly taps: HubTap[] = [];
  /** Frames carried, for tests that count. */
  frames = 0;
  /** Frames not delivered to a port because its kernel had no memory. */
  drops = 0;
  readonly driver: IfDriver;

  constructor(readonly name = 'hub') {
    const hub = this;
    this.driver = {
      transmit(ifp, m) {
        hub.carry(m.buf.subarray(m.off, m.off + m.len), ifp);
        ifp.kernel.mbufs.free(m);
      },
      init: () => 0,
      stop: () => {},
      detach(ifp) {
        const i = hub.ports.indexOf(ifp);
        if (i >= 0) hub.ports.splice(i, 1);
      },
    };
  }

  tap(fn: HubTap): () => void {
    this.taps.push(fn);
    return () => {
      const i = this.taps.indexOf(fn);
      if (i >= 0) this.taps.splice(i, 1);
    };
  }

  /** Put a frame on the hub as if from outside: every port that is up receives it. */
  inject(frame: Uint8Array): void {
    this.carry(frame, null);
  }

  private carry(frame: Uint8Array, from: Ifnet | null): void {
    this.frames++;
    for (const t of this.taps) t(frame.slice(), from);
    for (const port of this.ports) {
      if (port === from || !port.isUp) continue;
      const m = port.kernel.mbufs.copyin(frame, 0, frame.length);
      if (!m) {
        this.drops++;
        continue;
      }
      port.kernel.host.defer(deliver, { ifp: port, m });
    }
  }
}

let macSerial = 0;

export interface AttachOptions {
  /** Interface name; default `hubN` with the lowest free N in that kernel. */
  name?: string;
  /** MAC; default b2:a0:00:00:00:NN, unique in the process. */
  mac?: Uint8Array;
}

/**
 * Attach an Ethernet interface to `k` on `hub` (ether_ifattach + if_attach,
 * no cloner). With `hub` null the interface has no medium: bringing it up
 * fails with ENXIO, as a shmif without a bus does.
 */
export function attachEther(k: Kernel, hub: Hub | null, opts: AttachOptions = {}): Ifnet {
  const ns = netstack(k);
  let name = opts.name;
  if (!name) for (let u = 0; !name; u++) if (!ns.ifs.get(`hub${u}`)) name = `hub${u}`;
  const unit = Number(/\d+$/.exec(name)?.[0] ?? 0);
  const driver: IfDriver = hub
    ? hub.driver
    : { transmit: (ifp, m) => ifp.kernel.mbufs.free(m), init: () => ENXIO, stop: () => {}, detach: () => {} };
  const ifp = new Ifnet(k, name, unit, IFT_ETHER, driver);
  ifp.flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
  ifp.mtu = 1500;
  macSerial++;
  const mac = opts.mac ?? new Uint8Array([0xb2, 0xa0, 0, 0, (macSerial >>> 8) & 0xff, macSerial & 0xff]);
  etherIfattach(ns, ifp, mac);
  ns.ifs.attach(ifp);
  if (hub) hub.ports.push(ifp);
  return ifp;
}
