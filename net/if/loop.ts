/*
 * The software loopback interface lo0 (NetBSD net/if_loop.c). Packets sent to
 * it, and to any of this host's own addresses (their host routes point at
 * lo0), come straight back as input on the next softint, never re-entrantly.
 */
import { defineState } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { M_LOOP } from '../../kern/mbuf.js';
import { ENETDOWN, EOPNOTSUPP, Errno } from '../../kern/errno.js';
import { IFCAP_TSOv4, IFCAP_TSOv6, Ifnet, IFF_LOOPBACK, IFF_MULTICAST, IFF_UP, IFT_LOOP, TAP_OUT, type IfDriver } from '../interface.js';
import type { NetStack } from '../netstack.js';

/** lo0's MTU as NetBSD sets it (LOMTU). */
export const LOMTU = 33624;
/** ifqmaxlen of the loopback input queue. */
const LO_QMAX = 1024;

class LoopSoftc {
  q: Mbuf[] = [];
  fam: number[] = [];
  /** The queue's arrays of the batch that ran last, emptied, for the next batch (none made per batch). */
  spareQ: Mbuf[] = [];
  spareFam: number[] = [];
  scheduled = false;
  constructor(
    readonly ns: NetStack,
    readonly ifp: Ifnet,
  ) {}
}

const loopDriver: IfDriver = {
  transmit(ifp, m) {
    ifp.kernel.mbufs.free(m);
  },
  init() {
    return 0;
  },
  stop() {},
  detach() {},
  ioctl(ifp, cmd, arg) {
    // `ifconfig lo0 -tso4 -tso6`: segments no larger than the MTU, as NetBSD's lo0 carries.
    if (cmd === 'SIOCSIFCAP') {
      ifp.capenable = (arg as { capenable: number }).capenable;
      return undefined;
    }
    // The rest is ifioctl's (the MTU) or nothing lo0 has (no multicast filter: it hears every group).
    throw new Errno(EOPNOTSUPP);
  },
};

/**
 * lo0's offloads: TSO only. TCP hands it segments of up to 64 KB, which
 * come back up whole, never cut (the receiver takes a segment longer than
 * its MSS as it takes an LRO'd one): a bulk transfer makes half the
 * packets it would at LOMTU, and Node's loopback (Linux's lo, MTU 65536)
 * does the same work per packet. Checksums lo0 skips anyway (M_LOOP).
 */
const LO_CAPS = IFCAP_TSOv4 | IFCAP_TSOv6;

const SOFTC = defineState<Ifnet, LoopSoftc>('lo softc');

export function loopAttach(ns: NetStack, unit: number): Ifnet {
  const ifp = new Ifnet(ns.kernel, `lo${unit}`, unit, IFT_LOOP, loopDriver);
  ifp.mtu = LOMTU;
  ifp.flags = IFF_LOOPBACK | IFF_MULTICAST;
  ifp.capabilities = LO_CAPS;
  ifp.capenable = LO_CAPS;
  ifp.output = loopOutput;
  SOFTC.set(ifp, new LoopSoftc(ns, ifp));
  return ifp;
}

/** looutput: queue for input on the next softint. Owns `m`. */
export function loopOutput(ifp: Ifnet, m: Mbuf, family: number): number {
  const k = ifp.kernel;
  if (!(ifp.flags & IFF_UP)) {
    k.mbufs.free(m);
    ifp.stats.oerrors++;
    return ENETDOWN;
  }
  const sc = SOFTC.get(ifp);
  if (sc.q.length >= LO_QMAX) {
    k.mbufs.free(m);
    ifp.stats.iqdrops++;
    sc.ns.stats.lo_drops++;
    return 55; // ENOBUFS
  }
  if (ifp.taps.length) ifp.tap(TAP_OUT, m.buf, m.off, m.len);
  ifp.stats.opackets++;
  ifp.stats.obytes += m.len;
  m.flags |= M_LOOP;
  sc.q.push(m);
  sc.fam.push(family);
  if (!sc.scheduled) {
    sc.scheduled = true;
    k.host.defer(loopDrain, sc);
  }
  return 0;
}

function loopDrain(sc: LoopSoftc): void {
  sc.scheduled = false;
  // Take the batch; what input loops back meanwhile queues for the next softint.
  const q = sc.q;
  const fam = sc.fam;
  const n = q.length;
  sc.q = sc.spareQ;
  sc.fam = sc.spareFam;
  try {
    loopInputBatch(sc, q, fam, n);
  } finally {
    q.length = 0;
    fam.length = 0;
    sc.spareQ = q;
    sc.spareFam = fam;
  }
}

function loopInputBatch(sc: LoopSoftc, q: Mbuf[], fam: number[], n: number): void {
  const ifp = sc.ifp;
  const k = ifp.kernel;
  for (let i = 0; i < n; i++) {
    const m = q[i]!;
    ifp.stats.ipackets++;
    ifp.stats.ibytes += m.len;
    const input = sc.ns.loopInput.get(fam[i]!);
    if (!input || !(ifp.flags & IFF_UP) || k.halted) {
      ifp.stats.noproto++;
      k.mbufs.free(m);
      continue;
    }
    m.rcvif = ifp.index;
    input(ifp, m);
  }
}
