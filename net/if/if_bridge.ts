/*
 * bridge(4) (NetBSD sys/net/if_bridge.c): a learning Ethernet bridge between
 * member interfaces of one kernel, as IEEE 802.1D describes it without the
 * spanning tree.
 *
 *   ifconfig bridge0 create                 cloner (component net_bridge, -lrumpnet_bridge)
 *   brconfig bridge0 add shmif0 add virt0 up
 *
 * A member hands every frame it receives to the bridge instead of Ethernet
 * input (its `input` is swapped for bridgeInput while it is a member) and
 * everything the kernel sends through it goes by the bridge (its driver is
 * wrapped, as NetBSD's ether_output calls bridge_output):
 *
 *   member rx ─ bridgeInput: learn source → port
 *                 ├─ group (broadcast, multicast): a copy to every other port, and
 *                 │    up on every member and the bridge interface itself
 *                 ├─ for a member's or the bridge's MAC: that interface's Ether input
 *                 └─ else: the learned port (never back out the one it came in on),
 *                      or every other port when unknown (flooding)
 *   member or bridge0 tx ─ bridgeOutput: the learned port, or every port
 *
 * The forwarding table maps a MAC to the port it was last seen on, with an
 * expiry `timeout` seconds after (NetBSD's 1200), at most `maxaddr` entries
 * (100; when full nothing new is learned until entries age out, counted);
 * static entries (`brconfig static`) never age. Members are put in
 * promiscuous mode (they must hear frames for other hosts) and lose their
 * offloads while they are members: a frame may leave through any port, so
 * nothing may count on one port's checksum or segmentation offload (FreeBSD's
 * bridge_mutecaps); both are given back at delete.
 *
 * The bridge interface has a MAC of its own and takes addresses (an IP on
 * bridge0), as FreeBSD's does: frames for its MAC and every group frame reach
 * its Ether input. A group frame also goes up on every member, as NetBSD's
 * bridge_broadcast does, so ARP and ND find an address on any member.
 */
import { defineState, type Kernel } from '../../kern/kernel.js';
import type { Callout } from '../../kern/callout.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { Errno, EBUSY, EINVAL, ENOENT, ENOSPC, EOPNOTSUPP } from '../../kern/errno.js';
import {
  Ifnet, IFF_BROADCAST, IFF_MULTICAST, IFF_PROMISC, IFF_RUNNING, IFF_SIMPLEX, IFF_UP, IFT_ETHER,
  TAP_OUT, type IfDriver, type IfTable,
} from '../interface.js';
import type { NetStack } from '../netstack.js';
import { ETHER_HDR_LEN, macEquals, macIsMulticast } from '../wire/ether.js';
import { formatMac, parseMac } from '../wire/inaddr.js';
import { etherIfattach, etherMultiIoctl, randomMac } from './ether.js';

/** if_type of a bridge (net/if_types.h IFT_BRIDGE). */
export const IFT_BRIDGE = 0xd1;

/* Port flags (net/if_bridgevar.h IFBIF_*), brconfig's learn/discover. */
export const IFBIF_LEARNING = 0x01;
export const IFBIF_DISCOVER = 0x02;
export const IFBIF_BLOCKNONSTP = 0x04;
export const IFBIF_STP = 0x08;
export const IFBIF_NAMES: ReadonlyArray<readonly [number, string]> = [
  [IFBIF_LEARNING, 'LEARNING'], [IFBIF_DISCOVER, 'DISCOVER'], [IFBIF_BLOCKNONSTP, 'BLOCKNONSTP'], [IFBIF_STP, 'STP'],
];
/* Address cache entry flags (IFBAF_*). */
export const IFBAF_DYNAMIC = 0x00;
export const IFBAF_STATIC = 0x01;
export const IFBAF_NAMES: ReadonlyArray<readonly [number, string]> = [[IFBAF_STATIC, 'STATIC']];
/* BRDGFLUSH's what. */
export const IFBF_FLUSHDYN = 0x00;
export const IFBF_FLUSHALL = 0x01;

/** NetBSD's defaults: BRIDGE_RTABLE_MAX, BRIDGE_RTABLE_TIMEOUT (s), BRIDGE_RTABLE_PRUNE_PERIOD (s). */
export const BRIDGE_RTABLE_MAX = 100;
export const BRIDGE_RTABLE_TIMEOUT = 20 * 60;
const BRIDGE_RTABLE_PRUNE_PERIOD = 5 * 60;
/** The spanning tree's parameters, shown by brconfig; this bridge runs no STP (IEEE 802.1D defaults). */
const BSTP_DEFAULT = { priority: 0x8000, hellotime: 2, fwddelay: 15, maxage: 20 } as const;

/** Counters of one bridge (sysctl net.bridge.stats sums them). */
export class BridgeStats {
  /** Unicast frames sent to the one port their destination was learned on. */
  forwarded = 0;
  /** Frames sent to every port but the one they came in on (group, or unknown destination). */
  flooded = 0;
  /** Frames whose destination was learned on the port they came in on: not sent back out. */
  sameport = 0;
  /** Sources not learned because the table was full (maxaddr). */
  learnfull = 0;
  /** Frames dropped: runt, too long for the outgoing port's MTU, no packet buffer for a copy. */
  dropped = 0;
}

/** One learned or static MAC (struct bridge_rtnode). */
interface BridgeRtNode {
  readonly mac: Uint8Array;
  port: BridgePort;
  /** Kernel uptime (ms) after which a dynamic entry is gone. */
  expire: number;
  flags: number;
}

/** A member interface (struct bridge_iflist) and what it was before it joined. */
export class BridgePort {
  flags = IFBIF_LEARNING | IFBIF_DISCOVER;
  priority = 128;
  readonly origInput: (ifp: Ifnet, m: Mbuf) => void;
  readonly origDriver: IfDriver;
  readonly wasPromisc: boolean;
  readonly savedCapenable: number;
  /** The member's driver while it is a member: output goes by the bridge. */
  readonly driver: IfDriver;

  constructor(readonly sc: BridgeSoftc, readonly ifp: Ifnet) {
    this.origInput = ifp.input;
    this.origDriver = ifp.driver;
    this.wasPromisc = (ifp.flags & IFF_PROMISC) !== 0;
    this.savedCapenable = ifp.capenable;
    const orig = ifp.driver;
    this.driver = {
      transmit: bridgeMemberTransmit,
      init: (i) => orig.init(i),
      stop: (i) => orig.stop(i),
      ioctl: (i, cmd, arg) => {
        if (!orig.ioctl) throw new Errno(EOPNOTSUPP);
        return orig.ioctl.call(orig, i, cmd, arg);
      },
      detach: (i) => orig.detach(i),
    };
  }

  /** Send `m` out this member, bypassing the bridge (owns `m`). */
  send(m: Mbuf): void {
    const ifp = this.ifp;
    if ((ifp.flags & (IFF_UP | IFF_RUNNING)) !== (IFF_UP | IFF_RUNNING) || m.len - ETHER_HDR_LEN > ifp.mtu) {
      this.sc.stats.dropped++;
      ifp.stats.oerrors++;
      ifp.kernel.mbufs.free(m);
      return;
    }
    ifp.stats.opackets++;
    ifp.stats.obytes += m.len;
    if (ifp.taps.length) ifp.tap(TAP_OUT, m.buf, m.off, m.len);
    this.origDriver.transmit(ifp, m);
  }
}

/** One bridge interface's state (struct bridge_softc). */
export class BridgeSoftc {
  readonly ports: BridgePort[] = [];
  /** The forwarding table, by the 48-bit MAC as a number. */
  readonly rt = new Map<number, BridgeRtNode>();
  maxaddr = BRIDGE_RTABLE_MAX;
  /** Seconds a learned entry lives (brconfig timeout). */
  timeout = BRIDGE_RTABLE_TIMEOUT;
  readonly stats = new BridgeStats();
  readonly timer: Callout<BridgeSoftc>;

  constructor(readonly ifp: Ifnet) {
    this.timer = ifp.kernel.callouts.create<BridgeSoftc>(bridgeTimer, this);
  }

  get kernel(): Kernel {
    return this.ifp.kernel;
  }

  port(ifp: Ifnet): BridgePort | undefined {
    return this.ports.find((p) => p.ifp === ifp);
  }

  /** bridge_rtupdate: learn that `buf[off..]` (a source MAC) is behind `port`. */
  learn(buf: Uint8Array, off: number, port: BridgePort): void {
    const key = macKey(buf, off);
    const now = this.kernel.uptime();
    const n = this.rt.get(key);
    if (n !== undefined) {
      if (n.flags & IFBAF_STATIC) return;
      n.port = port;
      n.expire = now + this.timeout * 1000;
      return;
    }
    if (this.rt.size >= this.maxaddr) {
      this.stats.learnfull++;
      return;
    }
    this.rt.set(key, { mac: buf.slice(off, off + 6), port, expire: now + this.timeout * 1000, flags: IFBAF_DYNAMIC });
    if (!this.timer.pending) this.timer.reset(Math.min(BRIDGE_RTABLE_PRUNE_PERIOD, this.timeout) * 1000);
  }

  /** bridge_rtlookup: the port a destination was learned on, or null (an expired entry is gone). */
  lookup(buf: Uint8Array, off: number): BridgePort | null {
    const key = macKey(buf, off);
    const n = this.rt.get(key);
    if (n === undefined) return null;
    if (!(n.flags & IFBAF_STATIC) && n.expire <= this.kernel.uptime()) {
      this.rt.delete(key);
      return null;
    }
    return n.port;
  }

  /** bridge_rtage: drop the dynamic entries whose time is up; true when dynamic entries remain. */
  age(): boolean {
    const now = this.kernel.uptime();
    let dynamic = false;
    for (const [key, n] of this.rt) {
      if (n.flags & IFBAF_STATIC) continue;
      if (n.expire <= now) this.rt.delete(key);
      else dynamic = true;
    }
    return dynamic;
  }

  /** bridge_rtflush / bridge_rtdelete_if: drop entries (all or dynamic only), or only those of `port`. */
  flush(all: boolean, port: BridgePort | null = null): void {
    for (const [key, n] of this.rt) {
      if (port !== null && n.port !== port) continue;
      if (all || !(n.flags & IFBAF_STATIC)) this.rt.delete(key);
    }
  }

  /** bridge_rttrim: cut dynamic entries (oldest expiry first) down to maxaddr. */
  trim(): void {
    if (this.rt.size <= this.maxaddr) return;
    const dyn = [...this.rt].filter(([, n]) => !(n.flags & IFBAF_STATIC)).sort((a, b) => a[1].expire - b[1].expire);
    for (const [key] of dyn) {
      if (this.rt.size <= this.maxaddr) break;
      this.rt.delete(key);
    }
  }

  /** Send `m` to every port but `except` (owns `m`). */
  flood(m: Mbuf, except: BridgePort | null, group: boolean): void {
    const k = this.kernel;
    const ports = this.ports;
    let last: BridgePort | null = null;
    for (let i = 0; i < ports.length; i++) {
      const p = ports[i]!;
      if (p === except || (!group && !(p.flags & IFBIF_DISCOVER))) continue;
      if ((p.ifp.flags & (IFF_UP | IFF_RUNNING)) !== (IFF_UP | IFF_RUNNING)) continue;
      if (last !== null) {
        const c = k.mbufs.dup(m);
        if (c === null) this.stats.dropped++;
        else last.send(c);
      }
      last = p;
    }
    if (last === null) {
      k.mbufs.free(m);
      return;
    }
    this.stats.flooded++;
    last.send(m);
  }

  /** bridge_output: a frame from this kernel (through a member or bridge0) to its learned port, else every port. */
  output(m: Mbuf): void {
    const ifp = this.ifp;
    ifp.stats.opackets++;
    ifp.stats.obytes += m.len;
    if (macIsMulticast(m.buf, m.off)) {
      this.flood(m, null, true);
      return;
    }
    const dst = this.lookup(m.buf, m.off);
    if (dst !== null) {
      this.stats.forwarded++;
      dst.send(m);
    } else {
      this.flood(m, null, false);
    }
  }
}

/** The 48-bit MAC at buf[off] as a number (exact: below 2^53), a map key without an allocation. */
function macKey(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 8) | buf[off + 1]!) * 0x100000000 + (((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0);
}

function bridgeTimer(sc: BridgeSoftc): void {
  if (sc.age()) sc.timer.reset(Math.min(BRIDGE_RTABLE_PRUNE_PERIOD, sc.timeout) * 1000);
}

/** The bridge interface's softc, and a member's port. */
const SOFTC = defineState<Ifnet, BridgeSoftc>('bridge softc');
const PORT = defineState<Ifnet, BridgePort>('bridge port');

export function bridgeSoftc(ifp: Ifnet): BridgeSoftc | undefined {
  return SOFTC.peek(ifp);
}

/** A member's transmit: the kernel's frame goes by the bridge (bridge_output). */
function bridgeMemberTransmit(ifp: Ifnet, m: Mbuf): void {
  const port = PORT.get(ifp);
  if (!(port.sc.ifp.flags & IFF_RUNNING)) {
    port.origDriver.transmit(ifp, m);
    return;
  }
  port.sc.output(m);
}

/** bridge_input: every frame a member receives (owns `m`). */
function bridgeInput(ifp: Ifnet, m: Mbuf): void {
  const port = PORT.get(ifp);
  const sc = port.sc;
  const bif = sc.ifp;
  if (!(bif.flags & IFF_RUNNING) || !(ifp.flags & IFF_UP) || m.len < ETHER_HDR_LEN) {
    // Not bridging (or a runt, which Ether input counts): the member's own input.
    port.origInput(ifp, m);
    return;
  }
  const k = ifp.kernel;
  const buf = m.buf;
  const off = m.off;
  const srcOff = off + 6;
  // A frame we sent, come back (a loop through another bridge or a hub): drop it.
  for (let i = 0; i < sc.ports.length; i++) {
    if (macEquals(buf, srcOff, sc.ports[i]!.ifp.lladdr!, 0)) {
      k.mbufs.free(m);
      return;
    }
  }
  if (macEquals(buf, srcOff, bif.lladdr!, 0)) {
    k.mbufs.free(m);
    return;
  }
  if (port.flags & IFBIF_LEARNING && !macIsMulticast(buf, srcOff) && !macIsZeroAt(buf, srcOff)) sc.learn(buf, srcOff, port);
  bif.stats.ipackets++;
  bif.stats.ibytes += m.len;
  if (macIsMulticast(buf, off)) {
    // Group: out every other port, and up on every member and the bridge
    // interface (NetBSD's bridge_broadcast delivers it on each member, so a
    // solicitation for another member's address finds it: PR kern/48104).
    const fwd = k.mbufs.dup(m);
    if (fwd !== null) sc.flood(fwd, port, true);
    else sc.stats.dropped++;
    const ports = sc.ports;
    for (let i = 0; i < ports.length; i++) {
      const p = ports[i]!;
      if (p !== port && p.ifp.flags & IFF_UP) deliverCopy(sc, p.ifp, p.origInput, m);
    }
    if (bif.flags & IFF_UP) deliverCopy(sc, bif, bif.input, m);
    port.origInput(ifp, m);
    return;
  }
  // For one of us: the member whose MAC it is, or the bridge.
  for (let i = 0; i < sc.ports.length; i++) {
    const p = sc.ports[i]!;
    if (macEquals(buf, off, p.ifp.lladdr!, 0)) {
      p.origInput(p.ifp, m);
      return;
    }
  }
  if (macEquals(buf, off, bif.lladdr!, 0)) {
    bif.input(bif, m);
    return;
  }
  const dst = sc.lookup(buf, off);
  if (dst === port) {
    sc.stats.sameport++;
    k.mbufs.free(m);
    return;
  }
  if (dst !== null) {
    sc.stats.forwarded++;
    dst.send(m);
    return;
  }
  sc.flood(m, port, false);
}

/** Hand a copy of `m` to `input` as received on `ifp`. */
function deliverCopy(sc: BridgeSoftc, ifp: Ifnet, input: (ifp: Ifnet, m: Mbuf) => void, m: Mbuf): void {
  const c = ifp.kernel.mbufs.dup(m);
  if (c === null) sc.stats.dropped++;
  else input(ifp, c);
}

function macIsZeroAt(buf: Uint8Array, off: number): boolean {
  return (buf[off]! | buf[off + 1]! | buf[off + 2]! | buf[off + 3]! | buf[off + 4]! | buf[off + 5]!) === 0;
}

/** brconfig add: make `ifp` a member of `sc`. */
function bridgeAdd(sc: BridgeSoftc, ifp: Ifnet): void {
  if (ifp === sc.ifp || ifp.type !== IFT_ETHER || ifp.lladdr === null) throw new Errno(EINVAL, undefined, ifp.name);
  if (PORT.peek(ifp) !== undefined) throw new Errno(EBUSY, undefined, ifp.name);
  // Offloads off while a member (see the top): a driver that has none is left alone.
  if (ifp.capenable !== 0 && ifp.driver.ioctl) ifp.driver.ioctl(ifp, 'SIOCSIFCAP', { name: ifp.name, capenable: 0 });
  const port = new BridgePort(sc, ifp);
  PORT.set(ifp, port);
  sc.ports.push(port);
  ifp.input = bridgeInput;
  ifp.driver = port.driver;
  ifp.flags |= IFF_PROMISC;
}

/** brconfig delete (and a member's detach): give `ifp` back as it was. */
function bridgeDelete(sc: BridgeSoftc, port: BridgePort): void {
  const ifp = port.ifp;
  const i = sc.ports.indexOf(port);
  if (i >= 0) sc.ports.splice(i, 1);
  sc.flush(true, port);
  ifp.input = port.origInput;
  ifp.driver = port.origDriver;
  if (!port.wasPromisc) ifp.flags &= ~IFF_PROMISC;
  PORT.delete(ifp);
  if (port.savedCapenable !== ifp.capenable && ifp.driver.ioctl) {
    try {
      ifp.driver.ioctl(ifp, 'SIOCSIFCAP', { name: ifp.name, capenable: port.savedCapenable });
    } catch {
      // the member works without them; nothing a user can do about it here
    }
  }
}

/* ------------------------------------------------------------------------ */
/* The administrative interface: NetBSD's SIOCSDRVSPEC / SIOCGDRVSPEC with an
 * ifd_cmd (BRDGADD, ...) and its argument, as a structured value. */

/** A member as BRDGGIFS lists it (struct ifbreq). */
export interface BridgeIfInfo {
  ifsname: string;
  flags: number;
  portno: number;
  priority: number;
}

/** A forwarding table entry as BRDGRTS lists it (struct ifbareq). */
export interface BridgeRtInfo {
  /** Colon-separated MAC. */
  dst: string;
  ifsname: string;
  /** Seconds left; 0 for a static entry. */
  expire: number;
  flags: number;
}

/** What brconfig shows: BRDGGCACHE, BRDGGTO and the STP parameters at once. */
export interface BridgeParams {
  maxaddr: number;
  timeout: number;
  priority: number;
  hellotime: number;
  fwddelay: number;
  maxage: number;
}

/** `{ name: 'bridge0', cmd: 'BRDGADD', ifsname: 'shmif0' }` and its fellows. */
export interface BridgeReq {
  name: string;
  cmd: string;
  ifsname?: string;
  flags?: number;
  /** BRDGSADDR, BRDGDADDR: colon-separated MAC. */
  addr?: string;
  /** BRDGSCACHE, BRDGSTO. */
  value?: number;
}

function reqIfs(ifs: IfTable, sc: BridgeSoftc, a: Record<string, unknown>, member: boolean): { ifp: Ifnet; port?: BridgePort } {
  if (typeof a.ifsname !== 'string') throw new Errno(EINVAL);
  const ifp = ifs.get(a.ifsname);
  if (ifp === undefined) throw new Errno(ENOENT, undefined, a.ifsname);
  if (!member) return { ifp };
  const port = sc.port(ifp);
  if (port === undefined) throw new Errno(ENOENT, undefined, a.ifsname);
  return { ifp, port };
}

function reqMac(a: Record<string, unknown>): Uint8Array {
  const mac = typeof a.addr === 'string' ? parseMac(a.addr) : null;
  if (mac === null) throw new Errno(EINVAL);
  return mac;
}

function reqValue(a: Record<string, unknown>): number {
  const v = a.value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Errno(EINVAL);
  return v;
}

/** bridge_ioctl's SIOC[SG]DRVSPEC commands on the bridge `ifp`. */
export function bridgeIoctl(ns: NetStack, ifp: Ifnet, a: Record<string, unknown>): unknown {
  const sc = SOFTC.peek(ifp);
  if (sc === undefined) throw new Errno(EINVAL, undefined, ifp.name);
  const now = ifp.kernel.uptime();
  switch (a.cmd) {
    case 'BRDGADD':
      bridgeAdd(sc, reqIfs(ns.ifs, sc, a, false).ifp);
      return undefined;
    case 'BRDGDEL':
      bridgeDelete(sc, reqIfs(ns.ifs, sc, a, true).port!);
      return undefined;
    case 'BRDGGIFS':
      return sc.ports.map((p): BridgeIfInfo => ({ ifsname: p.ifp.name, flags: p.flags, portno: p.ifp.index, priority: p.priority }));
    case 'BRDGGIFFLGS':
      return { flags: reqIfs(ns.ifs, sc, a, true).port!.flags };
    case 'BRDGSIFFLGS': {
      const port = reqIfs(ns.ifs, sc, a, true).port!;
      const flags = a.flags;
      if (typeof flags !== 'number' || !Number.isInteger(flags)) throw new Errno(EINVAL);
      // No spanning tree here: STP on a port is refused, as a kernel without BRIDGE_STP does.
      if (flags & IFBIF_STP) throw new Errno(EOPNOTSUPP);
      port.flags = flags & (IFBIF_LEARNING | IFBIF_DISCOVER | IFBIF_BLOCKNONSTP);
      return undefined;
    }
    case 'BRDGRTS': {
      sc.age();
      const out: BridgeRtInfo[] = [];
      for (const n of sc.rt.values()) {
        const stat = (n.flags & IFBAF_STATIC) !== 0;
        out.push({ dst: formatMac(n.mac), ifsname: n.port.ifp.name, expire: stat ? 0 : Math.ceil((n.expire - now) / 1000), flags: n.flags });
      }
      return out;
    }
    case 'BRDGSADDR': {
      const port = reqIfs(ns.ifs, sc, a, true).port!;
      const mac = reqMac(a);
      if (macIsMulticast(mac, 0)) throw new Errno(EINVAL);
      const key = macKey(mac, 0);
      const old = sc.rt.get(key);
      if (old === undefined && sc.rt.size >= sc.maxaddr) throw new Errno(ENOSPC);
      sc.rt.set(key, { mac, port, expire: 0, flags: IFBAF_STATIC });
      return undefined;
    }
    case 'BRDGDADDR': {
      if (!sc.rt.delete(macKey(reqMac(a), 0))) throw new Errno(ENOENT);
      return undefined;
    }
    case 'BRDGFLUSH':
      sc.flush(a.flags === IFBF_FLUSHALL);
      return undefined;
    case 'BRDGSCACHE':
      sc.maxaddr = reqValue(a);
      sc.trim();
      return undefined;
    case 'BRDGSTO': {
      const v = reqValue(a);
      if (v === 0) throw new Errno(EINVAL);
      sc.timeout = v;
      return undefined;
    }
    case 'BRDGGPARAM':
      return {
        maxaddr: sc.maxaddr, timeout: sc.timeout, priority: BSTP_DEFAULT.priority, hellotime: BSTP_DEFAULT.hellotime,
        fwddelay: BSTP_DEFAULT.fwddelay, maxage: BSTP_DEFAULT.maxage,
      } satisfies BridgeParams;
    default:
      throw new Errno(EINVAL);
  }
}

/* ------------------------------------------------------------------------ */

const bridgeDriver: IfDriver = {
  transmit(ifp, m) {
    SOFTC.get(ifp).output(m);
  },
  init() {
    return 0;
  },
  stop(ifp) {
    // Learned entries go with the link (NetBSD's bridge_stop flushes the dynamic ones).
    SOFTC.get(ifp).flush(false);
  },
  ioctl(ifp, cmd, arg) {
    if (etherMultiIoctl(ifp, cmd, arg)) return undefined;
    throw new Errno(EOPNOTSUPP);
  },
  detach() {},
};

/** The `bridge` cloner. */
export function bridgeCloner(ns: NetStack) {
  return {
    name: 'bridge',
    create(_ifs: IfTable, unit: number): Ifnet {
      const k = ns.kernel;
      const ifp = new Ifnet(k, `bridge${unit}`, unit, IFT_BRIDGE, bridgeDriver);
      SOFTC.set(ifp, new BridgeSoftc(ifp));
      ifp.mtu = 1500;
      ifp.flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
      etherIfattach(ns, ifp, randomMac(k, 0xf2, 0x0b));
      return ifp;
    },
    destroy(ifp: Ifnet): void {
      const sc = SOFTC.peek(ifp);
      if (sc === undefined) return;
      for (const p of [...sc.ports]) bridgeDelete(sc, p);
      sc.timer.stop();
      sc.rt.clear();
      SOFTC.delete(ifp);
    },
  };
}

/** A member is being detached (destroyed): it leaves its bridge first. */
export function bridgeIfDetaching(ifp: Ifnet): void {
  const port = PORT.peek(ifp);
  if (port !== undefined) bridgeDelete(port.sc, port);
}
