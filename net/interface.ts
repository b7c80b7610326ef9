/*
 * Network interfaces (NetBSD net/if.c): the ifnet structure, cloners
 * (`ifconfig shmif0 create`), flags, MTU, addresses and counters.
 *
 * A link layer (Ethernet, loopback) installs `output` and `input` on the
 * interface; a driver (shmif, virt) supplies `IfDriver` to move frames.
 */
import type { Kernel, StateOwner } from '../kern/kernel.js';
import type { Mbuf } from '../kern/mbuf.js';
import { Errno, EEXIST, EINVAL, ENXIO, EOPNOTSUPP } from '../kern/errno.js';

export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_DEBUG = 0x4;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_NOTRAILERS = 0x20;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;
export const IFF_ALLMULTI = 0x200;
export const IFF_OACTIVE = 0x400;
export const IFF_SIMPLEX = 0x800;
export const IFF_LINK0 = 0x1000;
export const IFF_LINK1 = 0x2000;
export const IFF_LINK2 = 0x4000;
export const IFF_MULTICAST = 0x8000;

/** Flags a user may change with ifconfig. */
export const IFF_CANTCHANGE = IFF_BROADCAST | IFF_POINTOPOINT | IFF_RUNNING | IFF_OACTIVE | IFF_SIMPLEX | IFF_MULTICAST | IFF_ALLMULTI | IFF_LOOPBACK;

/** Names in NetBSD's printb order for `ifconfig`'s flags=0x...<...>. */
export const IFF_NAMES: ReadonlyArray<readonly [number, string]> = [
  [IFF_UP, 'UP'], [IFF_BROADCAST, 'BROADCAST'], [IFF_DEBUG, 'DEBUG'], [IFF_LOOPBACK, 'LOOPBACK'],
  [IFF_POINTOPOINT, 'POINTOPOINT'], [IFF_NOTRAILERS, 'NOTRAILERS'], [IFF_RUNNING, 'RUNNING'],
  [IFF_NOARP, 'NOARP'], [IFF_PROMISC, 'PROMISC'], [IFF_ALLMULTI, 'ALLMULTI'], [IFF_OACTIVE, 'OACTIVE'],
  [IFF_SIMPLEX, 'SIMPLEX'], [IFF_LINK0, 'LINK0'], [IFF_LINK1, 'LINK1'], [IFF_LINK2, 'LINK2'],
  [IFF_MULTICAST, 'MULTICAST'],
];

/*
 * Interface capabilities (NetBSD net/if.h IFCAP_*): offloads a driver can
 * do (if_capabilities) and the ones switched on (if_capenable), shown by
 * ifconfig as capabilities=/enabled= and switched with its tso4, tcp4csum,
 * ... words (SIOCSIFCAP).
 */
export const IFCAP_TSOv4 = 0x00080;
export const IFCAP_CSUM_IPv4_Rx = 0x00100;
export const IFCAP_CSUM_IPv4_Tx = 0x00200;
export const IFCAP_CSUM_TCPv4_Rx = 0x00400;
export const IFCAP_CSUM_TCPv4_Tx = 0x00800;
export const IFCAP_CSUM_UDPv4_Rx = 0x01000;
export const IFCAP_CSUM_UDPv4_Tx = 0x02000;
export const IFCAP_CSUM_TCPv6_Rx = 0x04000;
export const IFCAP_CSUM_TCPv6_Tx = 0x08000;
export const IFCAP_CSUM_UDPv6_Rx = 0x10000;
export const IFCAP_CSUM_UDPv6_Tx = 0x20000;
export const IFCAP_TSOv6 = 0x40000;
export const IFCAP_LRO = 0x80000;

/** Names in NetBSD's IFCAPBITS order for `ifconfig`'s capabilities=0x...<...>. */
export const IFCAP_NAMES: ReadonlyArray<readonly [number, string]> = [
  [IFCAP_TSOv4, 'TSO4'], [IFCAP_CSUM_IPv4_Rx, 'IP4CSUM_Rx'], [IFCAP_CSUM_IPv4_Tx, 'IP4CSUM_Tx'],
  [IFCAP_CSUM_TCPv4_Rx, 'TCP4CSUM_Rx'], [IFCAP_CSUM_TCPv4_Tx, 'TCP4CSUM_Tx'], [IFCAP_CSUM_UDPv4_Rx, 'UDP4CSUM_Rx'],
  [IFCAP_CSUM_UDPv4_Tx, 'UDP4CSUM_Tx'], [IFCAP_CSUM_TCPv6_Rx, 'TCP6CSUM_Rx'], [IFCAP_CSUM_TCPv6_Tx, 'TCP6CSUM_Tx'],
  [IFCAP_CSUM_UDPv6_Rx, 'UDP6CSUM_Rx'], [IFCAP_CSUM_UDPv6_Tx, 'UDP6CSUM_Tx'], [IFCAP_TSOv6, 'TSO6'], [IFCAP_LRO, 'LRO'],
];

/** if_type values (net/if_types.h). */
export const IFT_ETHER = 0x06;
export const IFT_LOOP = 0x18;

/** Counters shown by `netstat -i` (struct if_data). */
export class IfStats {
  ipackets = 0;
  ierrors = 0;
  opackets = 0;
  oerrors = 0;
  collisions = 0;
  ibytes = 0;
  obytes = 0;
  imcasts = 0;
  omcasts = 0;
  iqdrops = 0;
  noproto = 0;
}

/** What a driver does for its interface. */
export interface IfDriver {
  /** Put one frame on the wire (the driver owns `m` afterwards and frees it). */
  transmit(ifp: Ifnet, m: Mbuf): void;
  /** Going up: attach to the medium. Return an errno (ENXIO without a bus) or 0. */
  init(ifp: Ifnet): number;
  /** Going down. */
  stop(ifp: Ifnet): void;
  /** Driver ioctls (SIOCSLINKSTR, ...). Throw Errno; EOPNOTSUPP if unknown. */
  ioctl?(ifp: Ifnet, cmd: string, arg: unknown): unknown;
  /** The interface is being destroyed. */
  detach(ifp: Ifnet): void;
}

/** A direction for capture taps. */
export const TAP_IN = 0;
export const TAP_OUT = 1;
/** A capture tap (BPF-style): sees every frame in or out, must not keep the view. */
export type IfTap = (ifp: Ifnet, dir: number, buf: Uint8Array, off: number, len: number) => void;

/** An address of a family on an interface (ifaddr); inet keeps its own subclass data. */
export interface IfAddr {
  readonly family: number;
}

export class Ifnet implements StateOwner {
  flags = 0;
  mtu = 1500;
  /** The link-level address (Ethernet MAC), or null. */
  lladdr: Uint8Array | null = null;
  readonly stats = new IfStats();
  readonly addrs: IfAddr[] = [];
  readonly taps: IfTap[] = [];
  /** Driver-specific: the bus path or TAP name, printed as `linkstr:`. */
  linkstr: string | null = null;
  /** IFCAP_* offloads the driver can do (if_capabilities). */
  capabilities = 0;
  /** IFCAP_* offloads switched on (if_capenable, a subset of `capabilities`). */
  capenable = 0;
  /** Link-layer output: set by the link layer (ether_output, looutput). Returns an errno or 0. */
  output: (ifp: Ifnet, m: Mbuf, family: number, nexthop: number) => number = notAttachedOutput;
  /** Link-layer input: what the driver calls for each received frame. */
  input: (ifp: Ifnet, m: Mbuf) => void = notAttachedInput;
  /** Link-layer header length reserved in front of packets. */
  hdrlen = 0;
  /** @internal the values of StateKeys (driver softcs, the multicast filter): read them through the key. */
  readonly states = new Map<object, unknown>();

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
    readonly unit: number,
    readonly type: number,
    public driver: IfDriver,
  ) {}

  /** if_index, assigned when attached (1 is lo0). */
  index = 0;

  get isUp(): boolean {
    return (this.flags & IFF_UP) !== 0;
  }

  /** Hand a frame to every capture tap. */
  tap(dir: number, buf: Uint8Array, off: number, len: number): void {
    const taps = this.taps;
    for (let i = 0; i < taps.length; i++) taps[i]!(this, dir, buf, off, len);
  }
}

function notAttachedOutput(ifp: Ifnet, m: Mbuf): number {
  ifp.kernel.mbufs.free(m);
  ifp.stats.oerrors++;
  return ENXIO;
}

function notAttachedInput(ifp: Ifnet, m: Mbuf): void {
  ifp.kernel.mbufs.free(m);
  ifp.stats.noproto++;
}

/** An interface cloner (`ifconfig NAMEn create`). */
export interface IfCloner {
  readonly name: string;
  create(net: IfTable, unit: number): Ifnet;
  /** Refuse to destroy this one (throw an Errno) before anything is torn down: lo0 is EPERM. */
  mayDestroy?(ifp: Ifnet): void;
  /** Tear the interface down (the table detaches it). */
  destroy?(ifp: Ifnet): void;
}

/** Hooks a protocol family runs when interfaces come and go or change state. */
export interface IfListener {
  attached?(ifp: Ifnet): void;
  detaching?(ifp: Ifnet): void;
  /** Before detach takes it down: a last word on the wire (a DHCP release). */
  destroying?(ifp: Ifnet): void;
  /** Flags changed (up/down). */
  changed?(ifp: Ifnet): void;
  /** The interface's link-layer address changed (`ifconfig IF link MAC active`). */
  lladdrChanged?(ifp: Ifnet): void;
}

/** Split `shmif0` into `shmif` and 0. */
export function splitIfName(name: string): { base: string; unit: number } | null {
  const m = /^([a-z]+)([0-9]+)$/.exec(name);
  if (!m || m[2]!.length > 1 && m[2]!.startsWith('0')) return null;
  const unit = Number(m[2]);
  if (!Number.isSafeInteger(unit) || unit > 0xffff) return null;
  return { base: m[1]!, unit };
}

/** The interfaces of one kernel, and its cloners. */
export class IfTable {
  readonly list: Ifnet[] = [];
  readonly byIndex: Array<Ifnet | undefined> = [undefined];
  readonly cloners = new Map<string, IfCloner>();
  readonly listeners: IfListener[] = [];

  constructor(readonly kernel: Kernel) {}

  get(name: string): Ifnet | undefined {
    return this.list.find((i) => i.name === name);
  }

  /** ifunit(): the interface or ENXIO. */
  unit(name: string): Ifnet {
    const ifp = this.get(name);
    if (!ifp) throw new Errno(ENXIO, undefined, name);
    return ifp;
  }

  addCloner(c: IfCloner): void {
    this.cloners.set(c.name, c);
  }

  /** if_attach: give the interface an index and tell the families. */
  attach(ifp: Ifnet): void {
    let idx = this.byIndex.indexOf(undefined, 1);
    if (idx < 0) idx = this.byIndex.length;
    ifp.index = idx;
    this.byIndex[idx] = ifp;
    this.list.push(ifp);
    for (const l of this.listeners) l.attached?.(ifp);
    const mac = ifp.lladdr ? ` address ${[...ifp.lladdr].map((b) => b.toString(16).padStart(2, '0')).join(':')}` : '';
    this.kernel.verbose(`${ifp.name}: attached${mac}`);
  }

  /** if_detach: down, tell the families (routes and addresses go), forget. */
  detach(ifp: Ifnet): void {
    for (const l of this.listeners) l.destroying?.(ifp);
    if (ifp.isUp) this.setFlags(ifp, ifp.flags & ~IFF_UP);
    for (const l of this.listeners) l.detaching?.(ifp);
    ifp.driver.detach(ifp);
    const i = this.list.indexOf(ifp);
    if (i >= 0) this.list.splice(i, 1);
    this.byIndex[ifp.index] = undefined;
  }

  /**
   * `ifconfig NAME create`: the unit in the name is taken exactly; EEXIST if
   * it exists, EINVAL for an unknown cloner (NetBSD's clone_command message).
   */
  create(name: string): Ifnet {
    const parts = splitIfName(name);
    const cloner = parts && this.cloners.get(parts.base);
    if (!parts || !cloner) throw new Errno(EINVAL, undefined, name);
    if (this.get(name)) throw new Errno(EEXIST, undefined, name);
    const ifp = cloner.create(this, parts.unit);
    this.attach(ifp);
    return ifp;
  }

  /** Create with the lowest free unit (the library's ifcreate without a unit). */
  createNext(base: string): Ifnet {
    for (let u = 0; ; u++) if (!this.get(`${base}${u}`)) return this.create(`${base}${u}`);
  }

  destroy(name: string): void {
    const ifp = this.unit(name);
    const parts = splitIfName(name);
    const cloner = parts && this.cloners.get(parts.base);
    if (!cloner || !cloner.destroy) throw new Errno(EOPNOTSUPP, undefined, name);
    cloner.mayDestroy?.(ifp);
    this.detach(ifp);
    cloner.destroy(ifp);
  }

  /** SIOCSIFFLAGS: bring up (driver init may refuse) or down. */
  setFlags(ifp: Ifnet, flags: number): void {
    const wasUp = ifp.isUp;
    const next = (ifp.flags & IFF_CANTCHANGE) | (flags & ~IFF_CANTCHANGE);
    if (!wasUp && next & IFF_UP) {
      const err = ifp.driver.init(ifp);
      if (err) throw new Errno(err, undefined, ifp.name);
      ifp.flags = next | IFF_RUNNING;
    } else if (wasUp && !(next & IFF_UP)) {
      ifp.driver.stop(ifp);
      ifp.flags = next & ~IFF_RUNNING;
    } else {
      ifp.flags = (next & ~IFF_RUNNING) | (ifp.flags & IFF_RUNNING);
    }
    for (const l of this.listeners) l.changed?.(ifp);
  }
}
