/*
 * The shmif interface driver (NetBSD sys/rump/net/lib/libshmif/if_shmem.c):
 * an Ethernet interface whose wire is a bus file shared with other kernels,
 * in this process or others.
 *
 *   ifconfig shmif0 create        cloner: MAC b2:a0:xx:xx:xx:xx, new every create
 *   ifconfig shmif0 linkstr bus1  map and attach the bus (EBUSY if up or attached)
 *   ifconfig shmif0 up            ENXIO without a bus; start reading at the newest record
 *
 * Transmit writes each frame into the ring under the bus lock at once and
 * wakes the readers right away: the host coalesces wake-ups (a reader is
 * queued once however many frames arrive before it runs, and the wake-up
 * file write other processes watch goes once per turn of the event loop,
 * as NetBSD's shmif_start does one after its queue drains). Waking at once rather than
 * from a deferred call saves a softint per hop: a frame reaches the reader
 * on the next one (bus wake-ups run as microtasks on the node host), which
 * is what a connect, an echo and a close mostly wait for.
 *
 * Receive runs when woken (the host already defers the call): a lock-free
 * look at the bus header first, since most wake-ups in one process echo a
 * write we have already read (the wake-up file write comes back through
 * inotify); then drain every new record, copy each frame into a packet
 * buffer, and hand them to ether input after the lock is released.
 */
import { defineState, type Kernel } from '../kern/kernel.js';
import type { Mbuf } from '../kern/mbuf.js';
import { Errno, EBUSY, EINVAL, EIO, ENXIO, ENOEXEC, EOPNOTSUPP, errnoByName } from '../kern/errno.js';
import type { BusMapping } from '../hypercall/types.js';
import { Ifnet, IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFF_UP, IFT_ETHER, type IfDriver, type IfTable } from '../net/interface.js';
import { etherIfattach, etherMulticastAccept, etherMultiIoctl, randomMac } from '../net/if/ether.js';
import type { NetStack } from '../net/netstack.js';
import { BUS_OFF_VERSION, BUS_SIZE, BusReader, BusWriter, HOST_LITTLE_ENDIAN, SHMIF_VERSION, busAttach, getU32 } from './bus.js';

/** Counters of one shmif interface beyond if_data (netstat -s "shmif:"). */
export class ShmifStats {
  /** Frames lost because readers lapped us (lower bound). */
  lost = 0;
  laps = 0;
  /** Frames refused by the bus writer (too long, lock not taken). */
  txrefused = 0;
  /** Received frames dropped for lack of memory. */
  rxnobufs = 0;
  /** Multicast frames for groups nobody joined, left on the bus as a NIC's filter would. */
  rxmcastfiltered = 0;
}

export class ShmifSoftc {
  map: BusMapping | null = null;
  writer: BusWriter | null = null;
  reader: BusReader | null = null;
  unwatch: (() => void) | null = null;
  readonly senderLo: number;
  readonly senderHi: number;
  /** A receive is queued on the softint (rxPending) or running (inRx). */
  rxPending = false;
  private inRx = false;
  readonly stats = new ShmifStats();
  /** Frames copied out of the ring during one poll, handed to ether input after it. */
  private readonly rxq: Mbuf[] = [];
  private readonly deliverFn: (buf: Uint8Array, off: number, len: number) => void;
  private readonly wakeFn: () => void;

  constructor(readonly kernel: Kernel, public ifp: Ifnet | null) {
    this.senderLo = kernel.host.random32();
    this.senderHi = kernel.host.random32();
    // Bound once: no closure per frame.
    this.deliverFn = (buf, off, len) => this.deliver(buf, off, len);
    this.wakeFn = () => this.onWake();
  }

  /** SIOCSLINKSTR: map the bus at `path` and attach to it. */
  attachBus(path: string): void {
    const host = this.kernel.host;
    let map: BusMapping;
    try {
      map = host.mapBus(path, BUS_SIZE);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const errno = (code && errnoByName(code)) || EIO;
      throw new Errno(errno, undefined, path);
    }
    try {
      busAttach(map);
    } catch (e) {
      map.close();
      const code = (e as { code?: string }).code;
      if (code === 'ENOEXEC') throw new Errno(ENOEXEC, undefined, `${path}: bus is not magical`);
      throw e;
    }
    this.map = map;
    this.writer = new BusWriter(map, this.senderLo, this.senderHi);
    this.reader = new BusReader(map);
  }

  detachBus(): void {
    this.stopReading();
    this.map?.close();
    this.map = null;
    this.writer = null;
    this.reader = null;
  }

  startReading(): void {
    const map = this.map!;
    this.reader!.sync();
    this.unwatch = map.watch(this.wakeFn);
    // Frames written between sync and watch would otherwise wait for the next wake-up.
    this.scheduleRx();
  }

  stopReading(): void {
    this.unwatch?.();
    this.unwatch = null;
  }

  transmit(m: Mbuf): void {
    const w = this.writer;
    const ifp = this.ifp!;
    const k = this.kernel;
    if (!w) {
      ifp.stats.oerrors++;
      k.mbufs.free(m);
      return;
    }
    const up = k.uptime();
    const sec = Math.floor(up / 1000);
    const usec = Math.floor((up - sec * 1000) * 1000);
    if (!w.writeFrame(m.buf, m.off, m.len, sec, usec)) {
      ifp.stats.oerrors++;
      this.stats.txrefused++;
    }
    k.mbufs.free(m);
    this.wakeReaders();
  }

  /**
   * busWakeup for one frame, cheaply: the version word reads 3 once anything
   * was sent (as NetBSD's wake-up write leaves it; dumpbus checks it), and
   * the host wakes the other readers, coalescing as described above.
   */
  private wakeReaders(): void {
    const map = this.map!;
    if (getU32(map.bytes, BUS_OFF_VERSION, HOST_LITTLE_ENDIAN) !== SHMIF_VERSION) map.store32(BUS_OFF_VERSION, SHMIF_VERSION);
    map.wakeup();
  }

  /**
   * The bus woke us. The host runs this deferred, so receive now, unless a
   * receive is already running (a host that wakes synchronously) or queued.
   */
  private onWake(): void {
    if (this.inRx || this.rxPending) {
      this.scheduleRx();
      return;
    }
    const r = this.reader;
    // Nothing written since our last poll: an echo of a wake-up we have seen.
    if (r !== null && !r.mayHaveNew()) return;
    this.receive();
  }

  /** Receive on the next softint (coalesced). */
  private scheduleRx(): void {
    if (!this.rxPending) {
      this.rxPending = true;
      this.kernel.host.defer(shmifRx, this);
    }
  }

  private deliver(buf: Uint8Array, off: number, len: number): void {
    // Everything on the bus reaches every reader: our multicast filter decides (before the copy).
    if (len >= 6 && buf[off]! & 1 && !etherMulticastAccept(this.ifp!, buf, off)) {
      this.stats.rxmcastfiltered++;
      return;
    }
    const m = this.kernel.mbufs.copyin(buf, off, len);
    if (!m) {
      this.stats.rxnobufs++;
      this.ifp!.stats.iqdrops++;
      return;
    }
    this.rxq.push(m);
  }

  /** Drain the bus into ether input. */
  receive(): void {
    this.rxPending = false;
    const r = this.reader;
    const ifp = this.ifp;
    if (!r || !ifp || !(ifp.flags & IFF_UP) || this.kernel.halted || this.inRx) return;
    const lappedBefore = r.lapped;
    const lostBefore = r.lost;
    const n = r.poll(this.deliverFn, this.senderLo, this.senderHi);
    if (n < 0) {
      // Lock held too long by another process: try again on the next softint.
      this.scheduleRx();
      return;
    }
    this.stats.laps += r.lapped - lappedBefore;
    this.stats.lost += r.lost - lostBefore;
    ifp.stats.iqdrops += r.lost - lostBefore;
    const q = this.rxq;
    if (q.length === 0) return;
    this.inRx = true;
    try {
      for (let i = 0; i < q.length; i++) ifp.input(ifp, q[i]!);
    } finally {
      q.length = 0;
      this.inRx = false;
    }
  }
}

function shmifRx(sc: ShmifSoftc): void {
  sc.receive();
}

const SOFTC = defineState<Ifnet, ShmifSoftc>('shmif softc');

export function shmifSoftc(ifp: Ifnet): ShmifSoftc | undefined {
  return SOFTC.peek(ifp);
}

const shmifDriver: IfDriver = {
  transmit(ifp, m) {
    SOFTC.get(ifp).transmit(m);
  },
  init(ifp) {
    const sc = SOFTC.get(ifp);
    if (!sc.map) return ENXIO;
    sc.startReading();
    return 0;
  },
  stop(ifp) {
    SOFTC.get(ifp).stopReading();
  },
  ioctl(ifp, cmd, arg) {
    const sc = SOFTC.get(ifp);
    if (cmd === 'SIOCSLINKSTR') {
      const linkstr = (arg as { linkstr: string | null }).linkstr;
      if (ifp.flags & IFF_UP) throw new Errno(EBUSY);
      if (linkstr === null) {
        if (!sc.map) throw new Errno(EINVAL);
        sc.detachBus();
        ifp.linkstr = null;
        return undefined;
      }
      if (sc.map) throw new Errno(EBUSY);
      sc.attachBus(linkstr);
      ifp.linkstr = linkstr;
      return undefined;
    }
    if (cmd === 'SIOCSIFMTU') {
      const mtu = (arg as { mtu: number }).mtu;
      // The bus carries frames of at most 1514 bytes.
      if (mtu > 1500) throw new Errno(EINVAL);
      ifp.mtu = mtu;
      return undefined;
    }
    if (etherMultiIoctl(ifp, cmd, arg)) return undefined;
    throw new Errno(EOPNOTSUPP);
  },
  detach(ifp) {
    SOFTC.peek(ifp)?.detachBus();
  },
};

/** The `shmif` cloner. */
export function shmifCloner(ns: NetStack) {
  return {
    name: 'shmif',
    create(_ifs: IfTable, unit: number): Ifnet {
      const k = ns.kernel;
      const ifp = new Ifnet(k, `shmif${unit}`, unit, IFT_ETHER, shmifDriver);
      const sc = new ShmifSoftc(k, ifp);
      SOFTC.set(ifp, sc);
      ifp.mtu = 1500;
      ifp.flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
      etherIfattach(ns, ifp, randomMac(k, 0xb2, 0xa0));
      return ifp;
    },
    destroy(ifp: Ifnet): void {
      SOFTC.peek(ifp)?.detachBus();
      SOFTC.delete(ifp);
    },
  };
}
