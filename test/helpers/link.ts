/*
 * A point-to-point Ethernet link between two kernels on one sim host, with
 * a faultyLink (net/if/fault.ts) in each direction:
 *
 *     kA  link0 ──faultyLink(optsAB)──►  link0  kB
 *         link0 ◄──faultyLink(optsBA)──  link0
 *
 * Each side's driver copies the frame into a packet buffer of the other
 * kernel and hands it to that interface's input through the host's softint
 * queue (never re-entrantly), like the hub in hub.ts. Nothing reads a
 * clock: the faults' delays are callouts on the sending kernel.
 *
 * Every frame that reaches the far interface is folded into a SHA-256
 * trace (direction, virtual arrival time, bytes), so a test can check that
 * the same seed gives the same packets.
 *
 *   const link = connectKernels(sim, kA, kB, { seed: 1, loss: 0.05 }, { seed: 2 },
 *                               { addrA: '10.0.0.1/24', addrB: '10.0.0.2/24' });
 *   ... link.ab.stats.lost, link.traceHash()
 */
import { createHash, type Hash } from 'node:crypto';

import type { SimHost } from '../../hypercall/sim.js';
import type { Kernel } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { faultyLink, type FaultOptions, type FaultyLink } from '../../net/if/fault.js';
import { etherIfattach, randomMac } from '../../net/if/ether.js';
import { IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFT_ETHER, Ifnet, type IfDriver } from '../../net/interface.js';
import { netstack } from '../../net/netstack.js';
import { ifconfig } from './kernels.js';

export interface LinkOptions {
  /** Interface names; default `linkN` with the lowest free N in each kernel. */
  nameA?: string;
  nameB?: string;
  /** MTU of both ends; default 1500. */
  mtu?: number;
  /** `ifconfig NAME inet ADDR/LEN` on each end (brings it up). */
  addrA?: string;
  addrB?: string;
}

export interface Link {
  a: Ifnet;
  b: Ifnet;
  /** The fault stage A → B (its stats count what it did). */
  ab: FaultyLink;
  ba: FaultyLink;
  /** Frames that reached B from A, and A from B. */
  framesAB: number;
  framesBA: number;
  /** Hex SHA-256 of every frame delivered so far, both directions, with its arrival time. */
  traceHash(): string;
}

function freeName(k: Kernel): string {
  const ifs = netstack(k).ifs;
  for (let u = 0; ; u++) if (!ifs.get(`link${u}`)) return `link${u}`;
}

/** One end's wire: transmit copies into the peer kernel and queues its input. */
class WireEnd implements IfDriver {
  peer: Ifnet | null = null;
  /** Frames carried to the peer. */
  frames = 0;
  /** Frames the peer kernel had no memory for. */
  drops = 0;
  private readonly deliverFn: (m: Mbuf) => void;

  constructor(
    private readonly sim: SimHost,
    private readonly trace: Hash,
    private readonly dir: number,
  ) {
    // One closure per end, not per frame.
    this.deliverFn = (m) => {
      const peer = this.peer;
      if (peer === null || peer.kernel.halted || !peer.isUp) {
        peer?.kernel.mbufs.free(m);
        return;
      }
      peer.input(peer, m);
    };
  }

  transmit(ifp: Ifnet, m: Mbuf): void {
    const peer = this.peer;
    if (peer !== null && peer.isUp && !peer.kernel.halted) {
      const c = peer.kernel.mbufs.copyin(m.buf, m.off, m.len);
      if (c === null) this.drops++;
      else {
        this.frames++;
        const stamp = new DataView(new ArrayBuffer(9));
        stamp.setUint8(0, this.dir);
        stamp.setFloat64(1, this.sim.now());
        this.trace.update(new Uint8Array(stamp.buffer));
        this.trace.update(m.buf.subarray(m.off, m.off + m.len));
        this.sim.defer(this.deliverFn, c);
      }
    }
    ifp.kernel.mbufs.free(m);
  }

  init(): number {
    return 0;
  }

  stop(): void {}

  detach(): void {
    this.peer = null;
  }
}

function attach(k: Kernel, name: string, driver: IfDriver, mtu: number): Ifnet {
  const ns = netstack(k);
  const unit = Number(/\d+$/.exec(name)?.[0] ?? 0);
  const ifp = new Ifnet(k, name, unit, IFT_ETHER, driver);
  ifp.flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
  ifp.mtu = mtu;
  // From the sim host's seeded randomness, so a seed gives the same MACs (and the same packets).
  etherIfattach(ns, ifp, randomMac(k, 0xb2, 0xa0));
  ns.ifs.attach(ifp);
  return ifp;
}

/**
 * Join `kA` and `kB` (kernels on `sim` with net_net) by a point-to-point
 * Ethernet link whose A→B direction has the faults `faultOptsAB` and B→A
 * `faultOptsBA` (a seed alone: a perfect link). Returns both interfaces and
 * both fault stages.
 */
export function connectKernels(
  sim: SimHost,
  kA: Kernel,
  kB: Kernel,
  faultOptsAB: FaultOptions = { seed: 1 },
  faultOptsBA: FaultOptions = { seed: 2 },
  opts: LinkOptions = {},
): Link {
  const trace = createHash('sha256');
  const mtu = opts.mtu ?? 1500;
  const wireA = new WireEnd(sim, trace, 0);
  const wireB = new WireEnd(sim, trace, 1);
  const ab = faultyLink(wireA, faultOptsAB);
  const ba = faultyLink(wireB, faultOptsBA);
  const a = attach(kA, opts.nameA ?? freeName(kA), ab, mtu);
  const b = attach(kB, opts.nameB ?? freeName(kB), ba, mtu);
  wireA.peer = b;
  wireB.peer = a;
  if (opts.addrA) ifconfig(kA, a.name, opts.addrA);
  if (opts.addrB) ifconfig(kB, b.name, opts.addrB);
  return {
    a,
    b,
    ab,
    ba,
    get framesAB() {
      return wireA.frames;
    },
    get framesBA() {
      return wireB.frames;
    },
    traceHash: () => trace.copy().digest('hex'),
  };
}
