/*
 * The virt interface driver (NetBSD sys/rump/net/lib/libvirtif/if_virt.c):
 * an Ethernet interface whose wire is a TAP device of the host, so the rump
 * kernel talks to the host's own network stack (and, through it, to whatever
 * the host routes to).
 *
 *   ifconfig virt0 create         cloner: MAC b2:0a:xx:xx:xx:xx (random, new every
 *                                 create); opens host TAP device tun0 (tunN for virtN),
 *                                 creating it when missing, as NetBSD's Linux backend
 *                                 names it. EPERM without CAP_NET_ADMIN.
 *   ifconfig virt0 linkstr NAME   while down: open TAP device NAME instead (the old
 *                                 one is closed, and removed if we created it)
 *   ifconfig virt0 -linkstr       while down: close the TAP device; `up` is then ENXIO
 *   ifconfig virt0 up             start reading the device
 *   ifconfig virt0 destroy        close the device; one we created is removed
 *
 * Why the TAP opens at create: that is when NetBSD's virtif opens it (unless
 * built for linkstr), so a missing privilege shows at once, where the user
 * typed the command; linkstr re-opens, so `create` then `linkstr tap1` then
 * `up` works as with shmif. A device that existed before (a persistent
 * `ip tuntap add` device) is attached to and left in place at close.
 *
 * Frames, both directions batched:
 *
 *   host poll wake-up → TapDevice onFrames(batch) → virtInput: copy each frame
 *     into a packet buffer → ifp.input (ether_input) → ... replies queue on the
 *     TAP → flushed once at the end of the batch
 *   ip_output → ether_output → virtTransmit: TapDevice.write (queue a copy),
 *     free the mbuf → one deferred flush per softint batch (virtFlush)
 */
import { defineState, type Kernel } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import {
  Errno, EBUSY, EINVAL, EIO, ENXIO, EOPNOTSUPP, EPERM, errnoByName,
} from '../../kern/errno.js';
import type { TapBatch, TapDevice } from '../../hypercall/types.js';
import { Ifnet, IFF_BROADCAST, IFF_MULTICAST, IFF_RUNNING, IFF_SIMPLEX, IFF_UP, IFT_ETHER, type IfDriver, type IfTable } from '../interface.js';
import type { NetStack } from '../netstack.js';
import { etherIfattach, etherMulticastAccept, etherMultiIoctl, randomMac } from './ether.js';

/** ETHER_HDR_LEN plus a VLAN tag: the longest frame header ether_input accepts. */
const FRAME_OVERHEAD = 14 + 4;

/** Counters of the virt interfaces beyond if_data (sysctl net.virtif.stats). */
export class VirtStats {
  /** Received frames dropped for lack of packet buffers (RUMP_MEMLIMIT). */
  rxnobufs = 0;
  /** Received frames longer than the MTU allows (NetBSD ether_input drops them too). */
  rxtoolong = 0;
  /** Frames the host TAP refused on write (queue full, device gone). */
  txrefused = 0;
  /** Read errors that stopped the interface's reading (the device was deleted). */
  rxerrors = 0;
  /** Multicast frames for groups nobody joined, left in the batch as a NIC's filter would. */
  rxmcastfiltered = 0;
}

/** The host's name for the TAP device of `virtN` when no linkstr names one. */
export function defaultTapName(unit: number): string {
  return `tun${unit}`;
}

/**
 * A TAP name Linux accepts (dev_valid_name): 1 to 15 characters, no `/`,
 * no `:` and no white space, not `.` or `..`.
 */
export function validTapName(name: string): boolean {
  return name.length >= 1 && name.length <= 15 && name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}

function hostCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Turn a host error from `openTap` into the kernel's Errno, with a message
 * that says what to do about it (the host's own error is the `cause`).
 */
export function tapOpenError(ifname: string, tapName: string, e: unknown): Errno {
  const code = hostCode(e);
  let errno: number;
  let msg: string;
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      // EPERM: TUNSETIFF without CAP_NET_ADMIN. EACCES: /dev/net/tun is not
      // open to this user (mode 0600 on some hosts). Root fixes both.
      errno = EPERM;
      msg = (e as { existing?: unknown }).existing === true
        ? `${ifname}: attaching to TAP device ${tapName} needs CAP_NET_ADMIN or ownership of the device (run as root or grant the capability)`
        : `${ifname}: creating TAP device ${tapName} needs CAP_NET_ADMIN (run as root or grant the capability)`;
      break;
    case 'EBUSY':
      errno = EBUSY;
      msg = `${ifname}: TAP device ${tapName} is in use by another process`;
      break;
    case 'EINVAL':
      errno = EINVAL;
      msg = `${ifname}: host device ${tapName} cannot be a TAP device (bad name, or it exists and is not a TAP)`;
      break;
    case 'ENOENT':
    case 'ENODEV':
      errno = ENXIO;
      msg = `${ifname}: the host has no /dev/net/tun (load the tun module)`;
      break;
    case 'ENOTSUP':
      errno = EOPNOTSUPP;
      msg = `${ifname}: TAP devices need a Linux host`;
      break;
    default:
      errno = (code !== undefined && errnoByName(code)) || EIO;
      msg = `${ifname}: cannot open TAP device ${tapName}: ${e instanceof Error ? e.message : String(e)}`;
  }
  const err = new Errno(errno, undefined, msg);
  // The message says it all; strerror's text would only repeat the errno.
  err.message = msg;
  (err as Error).cause = e;
  return err;
}

export class VirtSoftc {
  tap: TapDevice | null = null;
  flushPending = false;
  readonly stats = new VirtStats();
  private readonly onFramesFn: (batch: TapBatch) => void;
  private readonly onErrorFn: (code: string) => void;

  constructor(
    readonly kernel: Kernel,
    readonly ifp: Ifnet,
  ) {
    // Bound once per interface: no closure per batch or per frame.
    this.onFramesFn = (batch) => this.input(batch);
    this.onErrorFn = (code) => this.readFailed(code);
  }

  /**
   * Open the host TAP device `name` (created when missing). Opens the new
   * device before closing the old, so a failure leaves the interface as it
   * was. Throws an Errno.
   */
  attach(name: string): void {
    const ifp = this.ifp;
    if (!validTapName(name)) {
      const msg = `${ifp.name}: ${JSON.stringify(name)} is not a host interface name (1 to 15 characters, no '/', ':' or space)`;
      const err = new Errno(EINVAL, undefined, msg);
      err.message = msg;
      throw err;
    }
    let tap: TapDevice;
    try {
      tap = this.kernel.host.openTap(name, { onFrames: this.onFramesFn, onError: this.onErrorFn });
    } catch (e) {
      const err = tapOpenError(ifp.name, name, e);
      this.kernel.host.log(err.message);
      throw err;
    }
    this.detach();
    this.tap = tap;
    ifp.linkstr = tap.name;
    this.kernel.verbose(`${ifp.name}: ${tap.created ? 'created' : 'attached to'} TAP device ${tap.name}`);
  }

  /** Close the TAP device (removed by the host if we created it). */
  detach(): void {
    const tap = this.tap;
    if (tap === null) return;
    // Frames queued this batch go first (a DHCP release at halt).
    if (this.flushPending) this.flush();
    this.tap = null;
    this.ifp.linkstr = null;
    tap.close();
  }

  /** Queue a frame for the host; the flush runs once per softint batch. Owns `m`. */
  transmit(m: Mbuf): void {
    const k = this.kernel;
    const tap = this.tap;
    if (tap === null || !tap.write(m.buf, m.off, m.len)) {
      this.ifp.stats.oerrors++;
      this.stats.txrefused++;
    } else if (!this.flushPending) {
      this.flushPending = true;
      k.host.defer(virtFlush, this);
    }
    k.mbufs.free(m);
  }

  /** Hand the queued frames to the host. */
  flush(): void {
    this.flushPending = false;
    const tap = this.tap;
    if (tap === null) return;
    const refused = tap.flush();
    if (refused > 0) {
      this.ifp.stats.oerrors += refused;
      this.stats.txrefused += refused;
    }
  }

  /** One batch from the host: each frame into a packet buffer and up the stack. */
  private input(batch: TapBatch): void {
    const ifp = this.ifp;
    const k = this.kernel;
    // As NetBSD's VIF_DELIVERPKT: nothing goes up a link that is not running.
    if (k.halted || !(ifp.flags & IFF_RUNNING)) return;
    const bytes = batch.bytes;
    const lengths = batch.lengths;
    const maxLen = ifp.mtu + FRAME_OVERHEAD;
    let off = 0;
    for (let i = 0; i < batch.count; i++) {
      const len = lengths[i]!;
      const at = off;
      off += len;
      if (len > maxLen) {
        this.stats.rxtoolong++;
        ifp.stats.ierrors++;
        continue;
      }
      // The TAP gives us every frame: our multicast filter decides (before the copy).
      if (len >= 6 && bytes[at]! & 1 && !etherMulticastAccept(ifp, bytes, at)) {
        this.stats.rxmcastfiltered++;
        continue;
      }
      const m = k.mbufs.copyin(bytes, at, len);
      if (m === null) {
        this.stats.rxnobufs++;
        ifp.stats.iqdrops++;
        continue;
      }
      ifp.input(ifp, m);
    }
    // Replies made while processing the batch (ARP, echo replies) go out now
    // rather than after another turn of the event loop.
    if (this.flushPending) this.flush();
  }

  /**
   * The host device failed under us (deleted): say so, and take the link
   * out of RUNNING so output fails with ENETDOWN instead of vanishing.
   * Reading has stopped; down and up again tries the device once more.
   */
  private readFailed(code: string): void {
    const ifp = this.ifp;
    this.stats.rxerrors++;
    ifp.stats.ierrors++;
    ifp.flags &= ~IFF_RUNNING;
    this.kernel.host.log(`${ifp.name}: TAP device ${this.tap?.name ?? '?'}: read failed (${code}); reading stopped`);
  }
}

function virtFlush(sc: VirtSoftc): void {
  sc.flush();
}

const SOFTC = defineState<Ifnet, VirtSoftc>('virt softc');

/** The softc of a virt interface, or undefined for any other interface. */
export function virtSoftc(ifp: Ifnet): VirtSoftc | undefined {
  return SOFTC.peek(ifp);
}

const virtDriver: IfDriver = {
  transmit(ifp, m) {
    SOFTC.get(ifp).transmit(m);
  },
  init(ifp) {
    const sc = SOFTC.get(ifp);
    if (sc.tap === null) return ENXIO;
    sc.tap.readStart();
    return 0;
  },
  stop(ifp) {
    const sc = SOFTC.get(ifp);
    sc.flush();
    sc.tap?.readStop();
  },
  ioctl(ifp, cmd, arg) {
    const sc = SOFTC.get(ifp);
    if (cmd === 'SIOCSLINKSTR') {
      const linkstr = (arg as { linkstr: string | null }).linkstr;
      // As NetBSD: the medium changes only while the interface is down.
      if (ifp.flags & IFF_UP) throw new Errno(EBUSY);
      if (linkstr === null) {
        if (sc.tap === null) throw new Errno(EINVAL);
        sc.detach();
        return undefined;
      }
      if (sc.tap !== null && sc.tap.name === linkstr) return undefined;
      sc.attach(linkstr);
      return undefined;
    }
    if (cmd === 'SIOCSIFMTU') {
      // ifioctl checked ETHERMIN..ETHERMTU_JUMBO. A TAP carries any of them;
      // the host side's MTU is the host's to set to match.
      ifp.mtu = (arg as { mtu: number }).mtu;
      return undefined;
    }
    if (etherMultiIoctl(ifp, cmd, arg)) return undefined;
    throw new Errno(EOPNOTSUPP);
  },
  detach(ifp) {
    SOFTC.peek(ifp)?.detach();
  },
};

/** The `virt` cloner. */
export function virtCloner(ns: NetStack) {
  return {
    name: 'virt',
    create(_ifs: IfTable, unit: number): Ifnet {
      const k = ns.kernel;
      const ifp = new Ifnet(k, `virt${unit}`, unit, IFT_ETHER, virtDriver);
      ifp.mtu = 1500;
      ifp.flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
      const sc = new VirtSoftc(k, ifp);
      // Throws (EPERM without CAP_NET_ADMIN) before anything is attached.
      sc.attach(defaultTapName(unit));
      SOFTC.set(ifp, sc);
      etherIfattach(ns, ifp, randomMac(k, 0xb2, 0x0a));
      return ifp;
    },
    destroy(ifp: Ifnet): void {
      SOFTC.peek(ifp)?.detach();
      SOFTC.delete(ifp);
    },
  };
}
