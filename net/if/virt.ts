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
 * Offloads (issue 12): the TAP is opened with the 12-byte virtio-net header
 * (struct virtio_net_hdr_v1) in front of every frame. Out: a TCP/IPv4 packet
 * whose checksum TCP left (M_CSUM_TCPv4) goes with NEEDS_CSUM, csum_start and
 * csum_offset and only the pseudo-header sum in the field (the host fills the
 * rest); a TSO packet (M_CSUM_TSOv4, up to 64 KB) goes as one frame with
 * gso_type TCPV4 and gso_size = the MSS, which the host cuts into segments
 * (or hands whole to its own stack); TCP/IPv6 the same way (M_CSUM_TCPv6,
 * M_CSUM_TSOv6, gso_type TCPV6: IFCAP_CSUM_TCPv6_Tx, IFCAP_TSOv6). In: frames marked NEEDS_CSUM or
 * DATA_VALID are passed up with M_CSUM_DATA_VALID (no second sum), and with
 * LRO the host may hand us TCP segments up to 64 KB (gso_type set), taken
 * as one. Capabilities as NetBSD's (`ifconfig virt0 -tso4 -tso6`); TUNSETOFFLOAD
 * follows the receive ones. A router takes no GSO frames (Linux turns LRO
 * off when forwarding, as shmif does): a forwarded packet must leave in the
 * segments its sender sent, not as one that needs fragmenting.
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
import { M_CSUM_DATA_VALID, M_CSUM_TCPv4, M_CSUM_TCPv6, M_CSUM_TSOv4, M_CSUM_TSOv6 } from '../../kern/mbuf.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, type TapBatch, type TapDevice } from '../../hypercall/types.js';
import {
  Ifnet, IFCAP_CSUM_TCPv4_Rx, IFCAP_CSUM_TCPv4_Tx, IFCAP_CSUM_TCPv6_Rx, IFCAP_CSUM_TCPv6_Tx, IFCAP_CSUM_UDPv4_Rx, IFCAP_CSUM_UDPv6_Rx,
  IFCAP_LRO, IFCAP_TSOv4, IFCAP_TSOv6, IFF_BROADCAST, IFF_MULTICAST, IFF_RUNNING, IFF_SIMPLEX, IFF_UP, IFT_ETHER,
  type IfDriver, type IfTable,
} from '../interface.js';
import { cksumAdd, cksumFinish, cksumFold, pseudoHeaderSum } from '../wire/cksum.js';
import type { NetStack } from '../netstack.js';
import { INET } from '../inet/inet.js';
import { INET6 } from '../inet6/inet6.js';
import { etherIfattach, etherMulticastAccept, etherMultiIoctl, randomMac } from './ether.js';

/** ETHER_HDR_LEN plus a VLAN tag: the longest frame header ether_input accepts. */
const FRAME_OVERHEAD = 14 + 4;
/** The longest frame a GSO (LRO) receive can be: an IP datagram of 65535 plus the Ethernet header. */
const GSO_MAX_FRAME = 65535 + 14;

/* struct virtio_net_hdr_v1 (virtio 1.0 §5.1.6), little-endian. */
const VNET_HDR_LEN = 12;
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_F_DATA_VALID = 2;
const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6 = 4;

/** Receive checksum capabilities: any of them lets the host leave checksums to us (TUN_F_CSUM). */
// (UDP's are not offered: its input always sums, so the driver fills a UDP
// checksum the host left, as it does for a protocol whose -rx is off.)
const VIRT_CAPS_RX = IFCAP_CSUM_TCPv4_Rx | IFCAP_CSUM_TCPv6_Rx;
/** What a virt interface with the virtio-net header can do (and does, by default). */
export const VIRT_CAPS = IFCAP_TSOv4 | IFCAP_CSUM_TCPv4_Tx | IFCAP_TSOv6 | IFCAP_CSUM_TCPv6_Tx | VIRT_CAPS_RX | IFCAP_LRO;

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
  /** Frames sent as one TSO frame of several segments (gso_type TCPV4 or TCPV6). */
  txtso = 0;
  /** Frames sent with the TCP checksum left to the host (NEEDS_CSUM). */
  txcsum = 0;
  /** Frames received whose checksum the host vouched for (NEEDS_CSUM, DATA_VALID). */
  rxcsumok = 0;
  /** Received frames with a checksum left to fill that we filled (its protocol's -rx capability is off). */
  rxcsumsw = 0;
  /** Received GSO frames larger than the MTU (LRO), taken as one segment. */
  rxgso = 0;
  /**
   * Bare SYNs the host's reader dropped over its per-wake-up SYN budget (a
   * SYN flood; hypercall/native/src/tap.cc), also in the input drops.
   */
  rxsynshed = 0;
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
      msg = `${ifname}: TAP device ${tapName} is in use by another process (stop it, or pick another device: ifconfig ${ifname} linkstr NAME)`;
      break;
    case 'EINVAL': {
      errno = EINVAL;
      const kind = (e as { kind?: unknown }).kind;
      if (kind === 'tun') {
        msg = `${ifname}: host interface ${tapName} is a TUN (layer 3) device, not a TAP: pick another name (ifconfig ${ifname} linkstr NAME, or another unit) or remove it (ip link del ${tapName})`;
      } else if (kind === 'other') {
        msg = `${ifname}: host interface ${tapName} exists and is not a TAP device: pick another name (ifconfig ${ifname} linkstr NAME, or another unit)`;
      } else {
        msg = `${ifname}: host device ${tapName} cannot be a TAP device (bad name, or it exists and is not a TAP)`;
      }
      break;
    }
    case 'ENOENT':
    case 'ENODEV':
      errno = ENXIO;
      msg = `${ifname}: the host has no /dev/net/tun (load the tun module: modprobe tun; in a container, give it the device /dev/net/tun)`;
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
  /** Bytes of virtio-net header on the open device's frames (0 or 12). */
  vnetHdrLen = 0;
  /** GSO (LRO) frames asked of the host by the last TUNSETOFFLOAD. */
  private lroOn = false;
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
      tap = this.kernel.host.openTap(name, { onFrames: this.onFramesFn, onError: this.onErrorFn, vnetHdr: true });
    } catch (e) {
      const err = tapOpenError(ifp.name, name, e);
      this.kernel.host.log(err.message);
      throw err;
    }
    this.detach();
    this.tap = tap;
    this.vnetHdrLen = tap.vnetHdrLen;
    ifp.linkstr = tap.name;
    // The offloads come with the header: keep what the user switched off
    // (a first attach enables them all).
    const had = ifp.capabilities;
    ifp.capabilities = tap.vnetHdrLen === VNET_HDR_LEN ? VIRT_CAPS : 0;
    ifp.capenable = had === 0 ? ifp.capabilities : ifp.capenable & ifp.capabilities;
    this.setOffload();
    this.kernel.verbose(`${ifp.name}: ${tap.created ? 'created' : 'attached to'} TAP device ${tap.name}`);
  }

  /**
   * TUNSETOFFLOAD from the receive capabilities: a checksum left to fill
   * when any -rx checksum is on, GSO frames (both TSO kinds) with LRO too.
   */
  setOffload(): void {
    const tap = this.tap;
    if (tap === null || this.vnetHdrLen === 0) return;
    const cap = this.ifp.capenable;
    this.lroOn = this.wantLro();
    let f = 0;
    if (cap & VIRT_CAPS_RX) {
      f = TUN_F_CSUM;
      if (this.lroOn) f |= TUN_F_TSO4 | TUN_F_TSO6;
    }
    tap.setOffload(f);
  }

  /** LRO is on and this kernel forwards neither IPv4 nor IPv6. */
  private wantLro(): boolean {
    const k = this.kernel;
    return (this.ifp.capenable & IFCAP_LRO) !== 0 && !INET.peek(k)?.forwarding && !INET6.peek(k)?.forwarding;
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
    if (tap !== null && this.vnetHdrLen !== 0) {
      const r = this.vnetHeader(m);
      if (r === null) {
        this.ifp.stats.oerrors++;
        return;
      }
      m = r;
    }
    if (tap === null || !tap.write(m.buf, m.off, m.len)) {
      this.ifp.stats.oerrors++;
      this.stats.txrefused++;
    } else if (!this.flushPending) {
      this.flushPending = true;
      k.host.defer(virtFlush, this);
    }
    k.mbufs.free(m);
  }

  /**
   * Put the virtio-net header in front of frame `m` (in its headroom), with
   * the checksum and segmentation the host is to do. Null when out of
   * memory (`m` freed).
   */
  private vnetHeader(m: Mbuf): Mbuf | null {
    const k = this.kernel;
    const r = k.mbufs.prepend(m, VNET_HDR_LEN);
    if (r === null) return null;
    const b = r.buf;
    const h = r.off;
    b.fill(0, h, h + VNET_HDR_LEN);
    const csum = r.csumFlags;
    if (csum & (M_CSUM_TCPv6 | M_CSUM_TSOv6)) {
      this.vnetTcp6(b, h, r, (csum & M_CSUM_TSOv6) !== 0);
    } else if (csum & (M_CSUM_TCPv4 | M_CSUM_TSOv4)) {
      // ipOutput left the TCP checksum to us (IFCAP_CSUM_TCPv4_Tx): the
      // field gets the pseudo-header sum, the host adds the rest from
      // csum_start (virtio 1.0 §5.1.6.2). ether_output made no VLAN tag.
      const ip = h + VNET_HDR_LEN + 14;
      const iphl = (b[ip]! & 0x0f) << 2;
      const ipLen = (b[ip + 2]! << 8) | b[ip + 3]!;
      const th = ip + iphl;
      const src = ((b[ip + 12]! << 24) | (b[ip + 13]! << 16) | (b[ip + 14]! << 8) | b[ip + 15]!) >>> 0;
      const dst = ((b[ip + 16]! << 24) | (b[ip + 17]! << 16) | (b[ip + 18]! << 8) | b[ip + 19]!) >>> 0;
      const ph = pseudoHeaderSum(src, dst, 6, ipLen - iphl);
      b[th + 16] = ph >>> 8;
      b[th + 17] = ph & 0xff;
      this.vnetTcpFields(b, h, th, 14 + iphl, csum & M_CSUM_TSOv4 ? VIRTIO_NET_HDR_GSO_TCPV4 : 0, r.segsz);
    }
    return r;
  }

  /**
   * The IPv6 half of vnetHeader: the same fields for a TCP/IPv6 frame
   * (IFCAP_CSUM_TCPv6_Tx, IFCAP_TSOv6): the pseudo-header sum of RFC 8200
   * §8.1 in the checksum field, csum_start after the 40-byte header (TCP
   * output adds no extension headers), gso_type TCPV6 for a TSO frame.
   */
  private vnetTcp6(b: Uint8Array, h: number, r: Mbuf, tso: boolean): void {
    const ip = h + VNET_HDR_LEN + 14;
    const th = ip + 40;
    const plen = (b[ip + 4]! << 8) | b[ip + 5]!;
    const ph = cksumFold(cksumAdd(plen + 6, b, ip + 8, 32));
    b[th + 16] = ph >>> 8;
    b[th + 17] = ph & 0xff;
    this.vnetTcpFields(b, h, th, 14 + 40, tso ? VIRTIO_NET_HDR_GSO_TCPV6 : 0, r.segsz);
  }

  /**
   * The virtio-net header fields both families share: NEEDS_CSUM with the
   * TCP checksum at `start` + 16, and for a TSO frame (gsoType not 0) the
   * GSO type, the headers' length (copied onto every segment the host cuts)
   * and the segment size.
   */
  private vnetTcpFields(b: Uint8Array, h: number, th: number, start: number, gsoType: number, segsz: number): void {
    b[h] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    b[h + 6] = start & 0xff;
    b[h + 7] = start >>> 8;
    b[h + 8] = 16;
    if (gsoType === 0) {
      this.stats.txcsum++;
      return;
    }
    const hdrLen = start + ((b[th + 12]! >>> 4) << 2);
    b[h + 1] = gsoType;
    b[h + 2] = hdrLen & 0xff;
    b[h + 3] = hdrLen >>> 8;
    b[h + 4] = segsz & 0xff;
    b[h + 5] = segsz >>> 8;
    this.stats.txtso++;
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
    const shed = batch.shed;
    if (shed) {
      this.stats.rxsynshed += shed;
      ifp.stats.iqdrops += shed;
    }
    const bytes = batch.bytes;
    const lengths = batch.lengths;
    const maxLen = ifp.mtu + FRAME_OVERHEAD;
    const hl = this.vnetHdrLen;
    // Forwarding switched on or off since the last TUNSETOFFLOAD: ask again.
    // GSO frames the host queued before are too long for a router and dropped.
    if (hl !== 0 && this.wantLro() !== this.lroOn) this.setOffload();
    const lro = this.lroOn;
    let off = 0;
    for (let i = 0; i < batch.count; i++) {
      let len = lengths[i]!;
      let at = off;
      off += len;
      let vflags = 0;
      let gso = 0;
      if (hl !== 0) {
        if (len < hl) {
          ifp.stats.ierrors++;
          continue;
        }
        vflags = bytes[at]!;
        gso = bytes[at + 1]!;
        at += hl;
        len -= hl;
      }
      if (len > (gso !== 0 && lro ? GSO_MAX_FRAME : maxLen)) {
        this.stats.rxtoolong++;
        ifp.stats.ierrors++;
        continue;
      }
      // The TAP gives us every frame: our multicast filter decides (before the copy).
      if (len >= 6 && bytes[at]! & 1 && !etherMulticastAccept(ifp, bytes, at)) {
        this.stats.rxmcastfiltered++;
        continue;
      }
      if (vflags !== 0 && !(ifp.capenable & rxCapOf(bytes, at, len))) {
        // The protocol's -rx capability is off: a checksum the host left
        // to fill is filled here, as the host would have; one it vouched
        // for is summed again by the protocol.
        if (vflags & VIRTIO_NET_HDR_F_NEEDS_CSUM) this.fillCsum(bytes, at, len, at - hl);
        vflags = 0;
      }
      const m = k.mbufs.copyin(bytes, at, len);
      if (m === null) {
        this.stats.rxnobufs++;
        ifp.stats.iqdrops++;
        continue;
      }
      if (vflags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) {
        m.csumFlags = M_CSUM_DATA_VALID;
        this.stats.rxcsumok++;
      }
      if (gso !== 0) this.stats.rxgso++;
      ifp.input(ifp, m);
    }
    // Replies made while processing the batch (ARP, echo replies) go out now
    // rather than after another turn of the event loop.
    if (this.flushPending) this.flush();
  }

  /** Complete a NEEDS_CSUM frame's checksum in software (its header is at `h`). */
  private fillCsum(bytes: Uint8Array, at: number, len: number, h: number): void {
    const start = bytes[h + 6]! | (bytes[h + 7]! << 8);
    const field = start + (bytes[h + 8]! | (bytes[h + 9]! << 8));
    if (field + 2 > len) return;
    // The field holds the pseudo-header sum: summing from csum_start with
    // it in place gives the whole checksum.
    const c = cksumFinish(cksumAdd(0, bytes, at + start, len - start));
    bytes[at + field] = c >>> 8;
    bytes[at + field + 1] = c & 0xff;
    this.stats.rxcsumsw++;
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

/**
 * The receive checksum capability a frame's checksum belongs to (TCP or UDP
 * over IPv4 or IPv6 without extension headers), 0 for anything else.
 */
function rxCapOf(b: Uint8Array, at: number, len: number): number {
  if (len < 14 + 40) return 0;
  const type = (b[at + 12]! << 8) | b[at + 13]!;
  if (type === 0x0800) {
    const p = b[at + 14 + 9];
    return p === 6 ? IFCAP_CSUM_TCPv4_Rx : p === 17 ? IFCAP_CSUM_UDPv4_Rx : 0;
  }
  if (type === 0x86dd) {
    const p = b[at + 14 + 6];
    return p === 6 ? IFCAP_CSUM_TCPv6_Rx : p === 17 ? IFCAP_CSUM_UDPv6_Rx : 0;
  }
  return 0;
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
    if (cmd === 'SIOCSIFCAP') {
      // ifioctl checked the bits against the capabilities; TSO needs the
      // transmit checksum it is built on (NetBSD drivers tie them too).
      let cap = (arg as { capenable: number }).capenable;
      if (!(cap & IFCAP_CSUM_TCPv4_Tx)) cap &= ~IFCAP_TSOv4;
      if (!(cap & IFCAP_CSUM_TCPv6_Tx)) cap &= ~IFCAP_TSOv6;
      ifp.capenable = cap;
      sc.setOffload();
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
