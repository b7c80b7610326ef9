/*
 * The network lab: whole networks of rump kernels on one virtual clock.
 *
 *   const lab = createLab({ seed: 7 });
 *   const a = lab.host('a'), r = lab.router('r'), b = lab.host('b');
 *   lab.link(a, r, { delay: 10, loss: 0.01 });   // 10.0.1.0/24: a .1, r .2
 *   lab.link(r, b);                              // 10.0.2.0/24: r .1, b .2
 *   b.net.createServer(...).listen(80);
 *   await lab.runUntil(somePromise);             // virtual time, seconds in milliseconds
 *   writeFileSync('lab.pcapng', lab.pcapng());   // every interface, one file
 *
 * Pieces:
 * - a host is a kernel booted on the lab's sim host (one clock, one seeded
 *   PRNG, one softint queue), with Node's `net`, `dgram` and `dns` on its
 *   sockets; a router is a host with net.inet.ip.forwarding=1 (and
 *   net.inet6.ip6.forwarding=1; a host booted with net_netinet6 gets IPv6
 *   addresses and routes beside its IPv4 ones, lab/inet6.ts);
 * - a link (two hosts) or a bus (any number) is a segment: an Ethernet
 *   medium whose ports copy each frame into every other port's kernel
 *   through the host's softint queue (never re-entrantly). Each port's
 *   driver is wrapped in a faultyLink (net/if/fault.ts), so the conditions
 *   apply to what a host sends, per sender; partitions are checked on the
 *   medium, so frames in flight when a partition starts are lost too (a cut
 *   cable), and those sent after a heal arrive;
 * - addresses: segment N gets 10.x.y.0/24 (N = 256x + y, from 1) and its
 *   hosts .1, .2, ... in the order they joined, unless given by hand;
 * - routes: after every change of topology each host gets a route to every
 *   segment it can reach through routers (fewest routers first), and a
 *   host that is not a router a default route through the first router it
 *   meets; each host's hosts table names every lab host (its first address);
 * - the capture: a tap on every lab interface writes one pcapng, one
 *   interface block per host interface, frames stamped with virtual time
 *   (the sim clock starts at the epoch) and commented "host/interface".
 *
 * Same seed, same calls: the same frames at the same virtual times, so the
 * same pcapng byte for byte. Nothing here reads a host clock.
 */
import '../net/components.js';
import '../net/if/component.js';
import '../net/inet/component.js';
import '../net/inet6/component.js';
// A real-time lab's hosts may take TAP devices (net_virtif) or shmif buses shared with other processes (net_shmif).
import '../net/if/virt_component.js';
import '../shmif/component.js';

import { createSimHost, type SimHost } from '../hypercall/sim.js';
import { createNodeHost } from '../hypercall/node.js';
import type { Hypercall } from '../hypercall/types.js';
import { bootKernel } from '../kern/init.js';
import type { Kernel } from '../kern/kernel.js';
import type { Mbuf } from '../kern/mbuf.js';
import type { Sys } from '../kern/sys.js';
import { etherIfattach, randomMac } from '../net/if/ether.js';
import { faultyLink, FaultStats, type FaultOptions, type FaultyLink } from '../net/if/fault.js';
import { ifioctl } from '../net/interface_ioctl.js';
import { IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFT_ETHER, Ifnet, TAP_IN, type IfDriver } from '../net/interface.js';
import { netstack } from '../net/netstack.js';
import { kernelHandleEnv } from '../net/node/handle.js';
import { createNet, type NetModule } from '../net/node/net.js';
import { createDgram, type DgramModule } from '../net/node/dgram.js';
import { createDns, faceLookup, type DnsModule } from '../net/node/dns.js';
import { kernelResolv, type HostsEntry } from '../net/resolv.js';
import { startRumpServer, type RumpServer } from '../sysproxy/server.js';
import { labAddr6, labAttach6, labInstall6, labRouter6, labV6Of } from './inet6.js';
import { EPB_INBOUND, EPB_OUTBOUND, PcapngWriter } from './pcapng.js';

export { PcapngWriter, EPB_INBOUND, EPB_OUTBOUND, LINKTYPE_ETHERNET } from './pcapng.js';
export { FaultStats } from '../net/if/fault.js';

/** What a lab host boots with unless told otherwise. */
export const LAB_COMPONENTS = ['net', 'net_net', 'net_netinet'] as const;

export interface LabOptions {
  /**
   * 'virtual' (default): the lab's own clock, which runs only in run,
   * runUntil and quiesce, as fast as the work allows. 'real': the host's
   * clock, for labs with child processes (`lab.serve`) or TAP devices; time
   * passes whether or not the lab is driven, and nothing is reproducible.
   */
  clock?: 'virtual' | 'real';
  /** Seeds the sim host (MACs, ISNs, ports) and every link's faults. Default 1. */
  seed?: number;
  /** Record the pcapng (default true). */
  capture?: boolean;
  /**
   * 'auto' (default): the lab gives every host its routes; 'none': only the
   * routes of directly connected networks, the rest by hand (`rump.route`).
   */
  routes?: 'auto' | 'none';
}

export interface HostOptions {
  /** Kernel components; default net, net_net, net_netinet. */
  components?: readonly string[];
}

/**
 * The conditions of what one host sends on a segment (all optional; a link
 * with none is a perfect wire). Times in milliseconds of virtual time.
 */
export interface LinkConditions {
  /** One-way propagation delay. */
  delay?: number;
  /** Extra delay, uniform in [0, jitter), per frame; frames keep their order. */
  jitter?: number;
  /** Probability a frame is lost, 0..1. */
  loss?: number;
  /** Probability a frame arrives twice. */
  duplicate?: number;
  /** Probability a frame is held back `reorderDelay` ms and overtaken. */
  reorder?: number;
  /** How long a reordered frame is held back (default 2). */
  reorderDelay?: number;
  /** Probability one bit of an IPv4 frame is flipped (IP, ICMP, UDP, TCP checksums then drop it). */
  corrupt?: number;
  /** Link rate in bits per second (0: no limit). */
  rate?: number;
  /** Frames the rate-limited queue holds before tail drop (default 100). */
  queue?: number;
  /** MTU of every interface on the segment (a property of the medium, not of one sender). */
  mtu?: number;
}

const CONDITION_KEYS: ReadonlySet<string> = new Set([
  'delay', 'jitter', 'loss', 'duplicate', 'reorder', 'reorderDelay', 'corrupt', 'rate', 'queue', 'mtu',
]);

export interface SegmentOptions {
  /** The segment's network, `A.B.C.D/len` (default: the next 10.x.y.0/24). */
  net?: string;
  /** Each host's address, in the order the hosts were given (default: .1, .2, ... of the network). */
  addrs?: readonly string[];
}

/** What a host holds: sockets (PCBs), armed callouts, packet buffers. */
export interface Held {
  pcbs: number;
  callouts: number;
  mbufs: number;
}

type HostRef = LabHost | string;

/* ------------------------------------------------------------------------ */
/* IPv4 addresses as numbers, for allocation and checks. */

function parseAddr(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return null;
    v = v * 256 + o;
  }
  return v;
}

function formatAddr(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

function maskOf(plen: number): number {
  return plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
}

/* ------------------------------------------------------------------------ */

/** One kernel of the lab. */
export class LabHost {
  /** The interfaces this host has on segments, in the order it joined them. */
  readonly ports: Port[] = [];
  /** Routes the lab installed: destination ("default" or a network) → gateway. */
  readonly installed = new Map<string, string>();

  constructor(
    readonly lab: Lab,
    readonly name: string,
    readonly id: number,
    readonly router: boolean,
    readonly components: readonly string[],
    /** @internal the kernel and its faces (a restart replaces them) */
    public faces: Faces,
  ) {}

  /** Times this host was restarted. */
  restarts = 0;
  /** @internal the hosts table last given to this kernel (shared by every kernel of the lab) */
  hostsTable: readonly HostsEntry[] | null = null;

  // The routes and hosts tables are brought up to date before the test's
  // code reaches a kernel (see Lab.sync), so building a network of n hosts
  // computes them once, not n times.

  /** The host's kernel (a new one after each restart). */
  get kernel(): Kernel {
    this.lab.sync();
    return this.faces.kernel;
  }

  /** Node's `net` on this kernel's sockets. */
  get net(): NetModule {
    this.lab.sync();
    return this.faces.net;
  }

  /** Node's `dgram` on this kernel's sockets. */
  get dgram(): DgramModule {
    this.lab.sync();
    return this.faces.dgram;
  }

  /** Node's `dns` in this kernel's world (the lab fills its hosts table). */
  get dns(): DnsModule {
    this.lab.sync();
    return this.faces.dns;
  }

  /** The BSD system calls of this kernel. */
  get sys(): Sys {
    return this.kernel.sys;
  }

  /** The host's first address (on the first segment it joined); throws for a host on no segment. */
  get address(): string {
    const p = this.ports[0];
    if (p === undefined) throw new Error(`lab: host ${this.name} is on no link or bus`);
    return formatAddr(p.addr);
  }

  /** Every address of the host, in the order it joined segments. */
  get addresses(): string[] {
    return this.ports.map((p) => formatAddr(p.addr));
  }

  /** The host's first IPv6 address (lab/inet6.ts: fd00:0:0:N::host); throws for a host without IPv6 or on no segment. */
  get address6(): string {
    const p = this.ports[0];
    if (p === undefined) throw new Error(`lab: host ${this.name} is on no link or bus`);
    if (!this.faces.kernel.sysExtensions.has('rt6msg')) throw new Error(`lab: host ${this.name} has no IPv6 (its components need net_netinet6)`);
    return labAddr6(this.lab.segments.indexOf(p.segment) + 1, p.addr - p.segment.network);
  }

  /** This host's address on `segment`. */
  addressOn(segment: Segment): string {
    const p = this.ports.find((x) => x.segment === segment);
    if (p === undefined) throw new Error(`lab: host ${this.name} is not on ${segment.name}`);
    return formatAddr(p.addr);
  }
}

/**
 * A kernel and Node's faces on it (the same assembly rumpInit does), the
 * faces made when first reached: at 1,000 hosts most are never asked for
 * them, and they were a fifth of an idle host's heap.
 */
class Faces {
  private made: { net: NetModule; dgram: DgramModule; dns: DnsModule } | null = null;

  constructor(
    readonly kernel: Kernel,
    private readonly host: Hypercall,
  ) {}

  get net(): NetModule {
    return (this.made ??= this.make()).net;
  }

  get dgram(): DgramModule {
    return (this.made ??= this.make()).dgram;
  }

  get dns(): DnsModule {
    return (this.made ??= this.make()).dns;
  }

  private make(): { net: NetModule; dgram: DgramModule; dns: DnsModule } {
    const k = this.kernel;
    const host = this.host;
    const handleEnv = kernelHandleEnv(k);
    const dns = createDns({
      sys: k.sys, timer: handleEnv.timer, hold: handleEnv.hold, random32: () => host.random32(), resolvConf: () => kernelResolv(k),
      inet6: handleEnv.inet6,
    });
    const env = { ...handleEnv, lookup: faceLookup(dns) };
    return { net: createNet(env), dgram: createDgram(env), dns };
  }
}

/** One host's interface on a segment: the wire under the fault stage. */
export class Port implements IfDriver {
  ifp!: Ifnet;
  fault!: FaultyLink;
  /** Kept across a restart, as a machine keeps its NIC's address (peers' ARP caches stay right). */
  mac!: Uint8Array;
  /** Its interface block in the capture (-1: no capture). */
  captureId = -1;
  /** What this port asked for, so `set` can change one knob. */
  conditions: LinkConditions = {};

  constructor(
    readonly segment: Segment,
    readonly host: LabHost,
    readonly addr: number,
  ) {}

  transmit(ifp: Ifnet, m: Mbuf): void {
    this.segment.carry(this, m);
    ifp.kernel.mbufs.free(m);
  }

  init(): number {
    return 0;
  }

  stop(): void {}

  detach(): void {}
}

/** What a segment did beyond the fault stages' own counts. */
export class SegmentStats {
  /** Frames copied to a receiving interface. */
  delivered = 0;
  /** Frames not carried to a host because of a partition. */
  partitioned = 0;
  /** Frames a receiving kernel had no packet buffer for. */
  nomem = 0;
}

interface Delivery {
  ifp: Ifnet;
  m: Mbuf;
}

function deliver(d: Delivery): void {
  const ifp = d.ifp;
  if (ifp.kernel.halted || !ifp.isUp) {
    ifp.kernel.mbufs.free(d.m);
    return;
  }
  ifp.input(ifp, d.m);
}

/** A link (two hosts) or a bus: one Ethernet medium. */
export class Segment {
  readonly ports: Port[] = [];
  readonly stats = new SegmentStats();

  constructor(
    readonly lab: Lab,
    readonly name: string,
    readonly network: number,
    readonly plen: number,
  ) {}

  /** The network, `A.B.C.D/len`. */
  get net(): string {
    return `${formatAddr(this.network)}/${this.plen}`;
  }

  get hosts(): LabHost[] {
    return this.ports.map((p) => p.host);
  }

  /** @internal copy a frame from `from` to every other port that may hear it. */
  carry(from: Port, m: Mbuf): void {
    const lab = this.lab;
    for (const p of this.ports) {
      if (p === from) continue;
      if (lab.blocked(from.host, p.host)) {
        this.stats.partitioned++;
        continue;
      }
      const ifp = p.ifp;
      // (undefined: a port whose interface is being made, as the first port's announces itself)
      if (ifp === undefined || !ifp.isUp || ifp.kernel.halted) continue;
      const c = ifp.kernel.mbufs.copyin(m.buf, m.off, m.len);
      if (c === null) {
        this.stats.nomem++;
        continue;
      }
      this.stats.delivered++;
      lab.hypercall.defer(deliver, { ifp, m: c });
    }
  }

  /**
   * Change the conditions of what `from` sends here (default: every host on
   * the segment), merged into what was set before; `mtu` is the whole
   * segment's. Throws naming the bad condition, changing nothing.
   */
  set(conditions: LinkConditions, from?: HostRef): this {
    checkConditions(this.name, conditions);
    const mtu = conditions.mtu;
    const ports = from === undefined ? this.ports : [this.portOf(from)];
    // Check every port's new options before changing any.
    const next = ports.map((p) => {
      const merged = { ...p.conditions, ...conditions };
      return { p, merged, opts: checkConditions(this.name, merged) };
    });
    for (const { p, merged, opts } of next) {
      p.conditions = merged;
      p.fault.configure(opts);
    }
    if (mtu !== undefined) for (const p of this.ports) p.ifp.mtu = mtu;
    return this;
  }

  /** Back to a perfect wire (the MTU stays). */
  clear(from?: HostRef): this {
    const ports = from === undefined ? this.ports : [this.portOf(from)];
    for (const p of ports) {
      p.conditions = {};
      p.fault.configure({});
    }
    return this;
  }

  /** The conditions of what `from` sends here. */
  conditions(from: HostRef): LinkConditions {
    return { ...this.portOf(from).conditions };
  }

  /** What `from`'s fault stage did: frames offered, lost, queue drops, ... */
  faults(from: HostRef): FaultStats {
    return this.portOf(from).fault.stats;
  }

  /** Cut the segment: nothing crosses between its hosts (one way: only from `from`). */
  partition(opts: { from?: HostRef } = {}): this {
    options(opts, `${this.name}: partition options`);
    const hosts = this.hosts;
    const senders = opts.from === undefined ? hosts : [this.portOf(opts.from).host];
    for (const a of senders) for (const b of hosts) if (a !== b) this.lab.block(a, b);
    return this;
  }

  /** Undo `partition` between this segment's hosts. */
  heal(): this {
    const hosts = this.hosts;
    for (const a of hosts) for (const b of hosts) this.lab.unblock(a, b);
    return this;
  }

  private portOf(h: HostRef): Port {
    const host = this.lab.resolve(h);
    const p = this.ports.find((x) => x.host === host);
    if (p === undefined) throw new Error(`lab: host ${host.name} is not on ${this.name}`);
    return p;
  }
}

const OPTION_NAMES: Record<string, string> = {
  delayMs: 'delay', jitterMs: 'jitter', reorderMs: 'reorderDelay', bandwidthBps: 'rate', queueLimit: 'queue',
};

/** The fault stage's options for `c`, or a RangeError naming the segment and the condition. */
function checkConditions(segment: string, c: LinkConditions): Omit<FaultOptions, 'seed'> {
  const where = `lab: ${segment}: `;
  if (c === null || typeof c !== 'object') throw new TypeError(`${where}conditions must be an object`);
  for (const k of Object.keys(c)) {
    if (!CONDITION_KEYS.has(k)) throw new RangeError(`${where}unknown condition '${k}' (known: ${[...CONDITION_KEYS].join(', ')})`);
  }
  const mtu = c.mtu;
  if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535)) {
    throw new RangeError(`${where}mtu must be an integer in [68, 65535] (RFC 791's minimum is 68), not ${mtu}`);
  }
  const opts = faultOptions(c);
  try {
    // A throwaway stage checks the values exactly as the real one will.
    faultyLink(NO_DRIVER, { seed: 0, ...opts });
  } catch (e) {
    const msg = (e as Error).message.replace(/^faultyLink: /, '').replace(/\b(delayMs|jitterMs|reorderMs|bandwidthBps|queueLimit)\b/, (s) => OPTION_NAMES[s] ?? s);
    throw new RangeError(`${where}${msg}`);
  }
  return opts;
}

/** An options argument: an object or nothing. */
function options(o: unknown, what: string): void {
  if (o !== undefined && (o === null || typeof o !== 'object' || Array.isArray(o))) throw new TypeError(`lab: ${what} must be an object`);
}

/** A span of virtual time: finite and not negative. */
function span(ms: unknown, call: string): void {
  if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
    throw new RangeError(`lab: ${call} takes a finite number of ms >= 0, not ${String(ms)}`);
  }
}

const NO_DRIVER: IfDriver = { transmit: () => {}, init: () => 0, stop: () => {}, detach: () => {} };

function faultOptions(c: LinkConditions): Omit<FaultOptions, 'seed'> {
  return {
    loss: c.loss, reorder: c.reorder, reorderMs: c.reorderDelay, duplicate: c.duplicate, corrupt: c.corrupt,
    delayMs: c.delay, jitterMs: c.jitter, bandwidthBps: c.rate, queueLimit: c.queue,
  };
}

/* ------------------------------------------------------------------------ */

export class Lab {
  /** What every kernel of the lab runs on: a sim host, or with clock 'real' a node host. */
  readonly hypercall: Hypercall;
  /** The clock's driver: the sim host's, or the host's own. */
  private readonly driver: Driver;
  private readonly simHost: SimHost | null;
  /** rump servers `serve` started, closed by `halt`. */
  private readonly servers: RumpServer[] = [];
  readonly seed: number;
  readonly hosts = new Map<string, LabHost>();
  readonly segments: Segment[] = [];
  private readonly writer: PcapngWriter | null;
  private readonly blockedPairs = new Set<number>();
  private readonly addrOwner = new Map<number, string>();
  private nextNet = 1;
  private halted = false;
  private readonly autoRoutes: boolean;
  /** Topology changed since the routes and hosts tables were computed. */
  private dirty = false;

  constructor(opts: LabOptions = {}) {
    options(opts, 'createLab options');
    const seed = opts.seed ?? 1;
    if (!Number.isInteger(seed)) throw new RangeError(`lab: seed must be an integer, not ${seed}`);
    if (opts.capture !== undefined && typeof opts.capture !== 'boolean') throw new TypeError(`lab: capture must be true or false, not ${String(opts.capture)}`);
    this.seed = seed;
    if (opts.clock !== undefined && opts.clock !== 'virtual' && opts.clock !== 'real') {
      throw new RangeError(`lab: clock must be 'virtual' or 'real', not ${JSON.stringify(opts.clock)}`);
    }
    if (opts.clock === 'real') {
      this.simHost = null;
      // env {}: the lab's kernels take no bootstrap parameters from this process's environment.
      this.hypercall = createNodeHost({ env: {} });
      this.driver = new RealDriver(this.hypercall);
    } else {
      this.simHost = createSimHost({ seed });
      this.hypercall = this.simHost;
      this.driver = this.simHost;
    }
    this.writer = opts.capture === false ? null : new PcapngWriter('rumpnet lab');
    if (opts.routes !== undefined && opts.routes !== 'auto' && opts.routes !== 'none') {
      throw new RangeError(`lab: routes must be 'auto' or 'none', not ${JSON.stringify(opts.routes)}`);
    }
    this.autoRoutes = opts.routes !== 'none';
  }

  /** Time now (ms): virtual, or with clock 'real' since the lab was made. */
  now(): number {
    return this.hypercall.now();
  }

  /** The sim host under a virtual-clock lab (its PRNG, its taps); a real-time lab has none. */
  get sim(): SimHost {
    if (this.simHost === null) throw new Error('lab: a real-time lab has no sim host');
    return this.simHost;
  }

  /** True for a lab on the host's clock (`clock: 'real'`). */
  get realTime(): boolean {
    return this.simHost === null;
  }

  /**
   * The lab's clock for code outside the kernels (bin/ tools' `io.clock`):
   * `now()` is virtual time, `sleep(ms)` resolves when the clock gets there.
   */
  readonly clock = {
    now: (): number => this.hypercall.now(),
    sleep: (ms: number): Promise<void> => sleep(this.hypercall, ms),
  };

  /** Boot a host (a kernel) named `name`. */
  host(name: string, opts: HostOptions = {}): LabHost {
    return this.boot(name, opts, false);
  }

  /** Boot a router: a host with IPv4 forwarding on (net.inet.ip.forwarding=1). */
  router(name: string, opts: HostOptions = {}): LabHost {
    return this.boot(name, opts, true);
  }

  /** A point-to-point link between two hosts. */
  link(a: HostRef, b: HostRef, conditions: LinkConditions = {}, opts: SegmentOptions = {}): Segment {
    const ha = this.resolve(a);
    const hb = this.resolve(b);
    if (ha === hb) throw new Error(`lab: a link from ${ha.name} to itself`);
    // A second link between the same two hosts is `a-b#2`, and so on.
    let name = `${ha.name}-${hb.name}`;
    for (let n = 2; this.segments.some((s) => s.name === name); n++) name = `${ha.name}-${hb.name}#${n}`;
    return this.segment(name, [ha, hb], opts, conditions);
  }

  /** A bus (one Ethernet segment) named `name` joining `hosts`. */
  bus(name: string, hosts: readonly HostRef[], opts: SegmentOptions & { conditions?: LinkConditions } = {}): Segment {
    options(opts, `bus ${String(name)}'s options`);
    if (typeof name !== 'string' || name === '') throw new TypeError('lab: a bus needs a name');
    if (this.segments.some((s) => s.name === name)) throw new Error(`lab: there is already a segment named ${name}`);
    if (!Array.isArray(hosts) || hosts.length < 1) throw new TypeError(`lab: bus ${name} needs an array of hosts`);
    const hs = hosts.map((h) => this.resolve(h));
    const dup = hs.find((h, i) => hs.indexOf(h) !== i);
    if (dup) throw new Error(`lab: bus ${name} lists host ${dup.name} twice`);
    return this.segment(name, hs, opts, opts.conditions ?? {});
  }

  /**
   * Partition: nothing `a` sends reaches `b` (and, unless oneWay, nothing
   * `b` sends reaches `a`), on every segment they share. Arrays partition
   * every pair across the two sides.
   */
  partition(a: HostRef | readonly HostRef[], b: HostRef | readonly HostRef[], opts: { oneWay?: boolean } = {}): void {
    options(opts, 'partition options');
    const as = (Array.isArray(a) ? a : [a]).map((h) => this.resolve(h as HostRef));
    const bs = (Array.isArray(b) ? b : [b]).map((h) => this.resolve(h as HostRef));
    for (const x of as) for (const y of bs) if (x === y) throw new Error(`lab: cannot partition ${x.name} from itself`);
    for (const x of as) {
      for (const y of bs) {
        this.block(x, y);
        if (!opts.oneWay) this.block(y, x);
      }
    }
  }

  /** Heal a partition between `a` and `b` (both ways); with no arguments, every partition. */
  heal(a?: HostRef | readonly HostRef[], b?: HostRef | readonly HostRef[]): void {
    if (a === undefined || b === undefined) {
      if (a !== undefined || b !== undefined) throw new TypeError('lab: heal takes two sides or none');
      this.blockedPairs.clear();
      return;
    }
    const as = (Array.isArray(a) ? a : [a]).map((h) => this.resolve(h as HostRef));
    const bs = (Array.isArray(b) ? b : [b]).map((h) => this.resolve(h as HostRef));
    for (const x of as) {
      for (const y of bs) {
        this.unblock(x, y);
        this.unblock(y, x);
      }
    }
  }

  /**
   * Bring routes and hosts tables up to date with the topology (done for
   * you before run, runUntil, quiesce, and whenever a host's kernel or
   * faces are reached through the LabHost).
   */
  sync(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.route();
  }

  /** Advance virtual time by `ms`, running everything due. */
  async run(ms: number): Promise<void> {
    span(ms, 'run');
    this.sync();
    return this.driver.run(ms);
  }

  /**
   * Run the clock until `p` settles (at most `maxMs` of virtual time,
   * default one hour); resolves or rejects as `p` does. Rejects with a
   * message when `p` has not settled by then.
   */
  async runUntil<T>(p: PromiseLike<T>, maxMs = 3_600_000): Promise<T> {
    if (p === null || typeof (p as { then?: unknown })?.then !== 'function') throw new TypeError('lab: runUntil takes a promise');
    span(maxMs, 'runUntil');
    this.sync();
    let done = false;
    let failed = false;
    let value: T | undefined;
    let error: unknown;
    p.then(
      (v) => { done = true; value = v; },
      (e: unknown) => { done = true; failed = true; error = e; },
    );
    await this.driver.runUntil(() => done, maxMs);
    if (!done) {
      throw new Error(`lab: the promise did not settle within ${maxMs} ms of ${this.realTime ? 'real' : 'virtual'} time (seed ${this.seed})`);
    }
    if (failed) throw error;
    return value as T;
  }

  /** The capture so far: pcapng, one interface block per host interface. */
  pcapng(): Uint8Array {
    if (this.writer === null) throw new Error('lab: created with capture: false');
    return this.writer.bytes();
  }

  /**
   * Close every descriptor in every kernel and run the clock until no
   * kernel has a timer armed (TIME_WAIT, ARP entries: at most `maxMs`,
   * default 25 h of virtual time, milliseconds of real time), then report
   * what each host still holds, counted before any halt: anything left is a
   * leak.
   */
  async quiesce(maxMs = 25 * 3_600_000): Promise<Map<string, Held>> {
    span(maxMs, 'quiesce');
    this.sync();
    const sim = this.driver;
    const now = (): number => this.hypercall.now();
    await sim.settle();
    for (const h of this.hosts.values()) {
      if (!h.faces.kernel.halted) for (const fd of h.faces.kernel.sys.openFds()) await h.faces.kernel.sys.close(fd);
    }
    const idle = (): boolean => [...this.hosts.values()].every((h) => h.faces.kernel.callouts.count === 0);
    const end = now() + maxMs;
    do {
      await sim.runUntil(idle, Math.max(0, end - now()));
      await sim.settle();
    } while (!idle() && now() < end);
    const out = new Map<string, Held>();
    for (const h of this.hosts.values()) {
      const k = h.faces.kernel;
      let pcbs = 0;
      // A halted kernel closed its sockets; its buffers still count.
      if (!k.halted && k.extension('pcblist') !== undefined) pcbs = (await k.sys.ext('pcblist')).length;
      out.set(h.name, { pcbs, callouts: k.callouts.count, mbufs: k.mbufs.inUse });
    }
    return out;
  }

  /**
   * Serve a host's kernel to other processes as rump_server does (sysproxy,
   * `unix:///path` or `tcp://127.0.0.1:port`): `RUMP_SERVER=url rump.ping`,
   * or any rumpClient, then makes system calls on the lab host. Real-time
   * labs only (a child process's calls arrive on the host's clock). The
   * server serves the kernel the host has now (not one a restart boots);
   * `halt` closes it.
   */
  async serve(h: HostRef, url: string): Promise<RumpServer> {
    const host = this.resolve(h);
    if (this.halted) throw new Error('lab: halted');
    if (!this.realTime) throw new Error(`lab: serve needs a real-time lab (createLab({ clock: 'real' })): a virtual clock stands still between run calls`);
    if (typeof url !== 'string') throw new TypeError('lab: serve takes a unix:// or tcp:// URL');
    this.sync();
    const server = await startRumpServer(host.faces.kernel, url);
    this.servers.push(server);
    return server;
  }

  /** Halt every kernel (and close the servers `serve` started). */
  async halt(): Promise<void> {
    this.halted = true;
    for (const s of this.servers.splice(0)) await s.close();
    for (const h of this.hosts.values()) if (!h.faces.kernel.halted) await h.faces.kernel.halt();
  }

  /* -------------------------------------------------------------------- */

  /** @internal the host named or given, or an error naming it. */
  resolve(h: HostRef): LabHost {
    if (h instanceof LabHost) {
      if (h.lab !== this) throw new Error(`lab: host ${h.name} belongs to another lab`);
      return h;
    }
    if (typeof h !== 'string') throw new TypeError(`lab: a host is a LabHost or a name, not ${typeof h}`);
    const found = this.hosts.get(h);
    if (found === undefined) throw new Error(`lab: no host named ${h}`);
    return found;
  }

  /** @internal is `a` → `b` cut? */
  blocked(a: LabHost, b: LabHost): boolean {
    return this.blockedPairs.size > 0 && this.blockedPairs.has(a.id * 65536 + b.id);
  }

  /** @internal */
  block(a: LabHost, b: LabHost): void {
    this.blockedPairs.add(a.id * 65536 + b.id);
  }

  /** @internal */
  unblock(a: LabHost, b: LabHost): void {
    this.blockedPairs.delete(a.id * 65536 + b.id);
  }

  private boot(name: string, opts: HostOptions, router: boolean): LabHost {
    if (this.halted) throw new Error('lab: halted');
    if (typeof name !== 'string' || !/^[A-Za-z][A-Za-z0-9_.-]*$/.test(name)) {
      throw new RangeError(`lab: a host name is a letter then letters, digits, '.', '_' or '-', not ${JSON.stringify(name)}`);
    }
    if (this.hosts.has(name)) throw new Error(`lab: there is already a host named ${name}`);
    if (this.hosts.size >= 65535) throw new RangeError('lab: at most 65535 hosts');
    options(opts, `host ${name}'s options`);
    const c = opts.components ?? LAB_COMPONENTS;
    if (!Array.isArray(c) || c.some((x) => typeof x !== 'string')) throw new TypeError(`lab: host ${name}: components must be an array of names`);
    const components = [...c];
    const h = new LabHost(this, name, this.hosts.size, router, components, this.kernel(components, router));
    this.hosts.set(name, h);
    return h;
  }

  /** Boot a kernel; Node's faces on it come when first reached. */
  private kernel(components: readonly string[], router: boolean): Faces {
    const k = bootKernel({ components, env: {}, host: this.hypercall });
    if (router) {
      k.sysctl.set('net.inet.ip.forwarding', 1);
      labRouter6(k);
    }
    return new Faces(k, this.hypercall);
  }

  /**
   * Crash a host: its kernel halts now, with no FIN or RST sent; frames in
   * flight to it are lost. Its peers find out the way TCP finds out.
   */
  async crash(h: HostRef): Promise<void> {
    const host = this.resolve(h);
    if (!host.faces.kernel.halted) await host.faces.kernel.halt();
  }

  /**
   * Restart a host (crashing it first if it runs): a new kernel with the
   * same components, interfaces (same names and MACs), addresses and routes,
   * and nothing else: no sockets, no ARP cache, new ISNs. `host.kernel`,
   * `net`, `dgram` and `dns` are the new kernel's afterwards.
   */
  async restart(h: HostRef): Promise<LabHost> {
    const host = this.resolve(h);
    if (this.halted) throw new Error('lab: halted');
    await this.crash(host);
    host.faces = this.kernel(host.components, host.router);
    host.restarts++;
    host.installed.clear();
    host.hostsTable = null;
    for (const port of host.ports) {
      const seg = port.segment;
      this.attach(port, seg.ports.indexOf(port), this.segments.indexOf(seg) + 1, port.conditions, checkConditions(seg.name, port.conditions), seg);
    }
    this.dirty = true;
    return host;
  }

  private segment(name: string, hosts: LabHost[], opts: SegmentOptions, conditions: LinkConditions): Segment {
    if (this.halted) throw new Error('lab: halted');
    const where = `lab: ${name}`;
    options(opts, `${name}'s options`);
    const faultOpts = checkConditions(name, conditions);
    for (const h of hosts) {
      // Addresses and routes are IPv4's: a kernel without it cannot join.
      if (h.faces.kernel.extension('rtmsg') === undefined) throw new Error(`${where}: host ${h.name} has no IPv4 (its components need net_netinet)`);
    }
    let network: number;
    let plen: number;
    if (opts.net !== undefined) {
      const m = /^([^/]+)\/(\d{1,2})$/.exec(opts.net);
      const a = m ? parseAddr(m[1]!) : null;
      plen = m ? Number(m[2]) : -1;
      if (a === null || !(plen >= 8 && plen <= 30)) throw new RangeError(`${where}: net must be A.B.C.D/len with len 8..30, not ${opts.net}`);
      network = (a & maskOf(plen)) >>> 0;
    } else {
      // The next 10.x.y.0/24 no segment given by hand already covers.
      plen = 24;
      network = 0;
      for (; this.nextNet <= 65535; this.nextNet++) {
        network = (0x0a000000 + this.nextNet * 256) >>> 0;
        if (this.overlapping(network, plen) === undefined) break;
      }
      if (this.nextNet > 65535) throw new RangeError(`${where}: out of automatic networks (10.0.1.0/24 .. 10.255.255.0/24)`);
    }
    const clash = this.overlapping(network, plen);
    if (clash !== undefined) throw new Error(`${where}: network ${formatAddr(network)}/${plen} overlaps ${clash.name} (${clash.net})`);
    const size = 2 ** (32 - plen);
    if (hosts.length > size - 2) throw new RangeError(`${where}: ${hosts.length} hosts do not fit in /${plen}`);
    let addrs: number[];
    if (opts.addrs !== undefined) {
      if (!Array.isArray(opts.addrs) || opts.addrs.length !== hosts.length) throw new RangeError(`${where}: addrs must give one address per host (${hosts.length})`);
      addrs = opts.addrs.map((s) => {
        const v = typeof s === 'string' ? parseAddr(s) : null;
        if (v === null) throw new RangeError(`${where}: bad address ${JSON.stringify(s)}`);
        if (((v ^ network) & maskOf(plen)) !== 0) throw new RangeError(`${where}: address ${s} is not in ${formatAddr(network)}/${plen}`);
        const host = v - network;
        if (host === 0 || host === size - 1) throw new RangeError(`${where}: address ${s} is the network's or its broadcast address`);
        return v;
      });
    } else {
      addrs = hosts.map((_h, i) => network + i + 1);
    }
    for (let i = 0; i < addrs.length; i++) {
      const owner = this.addrOwner.get(addrs[i]!);
      if (owner !== undefined || addrs.indexOf(addrs[i]!) !== i) {
        throw new Error(`${where}: address ${formatAddr(addrs[i]!)} is already on host ${owner ?? hosts[addrs.indexOf(addrs[i]!)]!.name}`);
      }
    }
    // Checked: now build.
    if (opts.net === undefined) this.nextNet++;
    const seg = new Segment(this, name, network, plen);
    this.segments.push(seg);
    hosts.forEach((h, i) => {
      const port = new Port(seg, h, addrs[i]!);
      seg.ports.push(port);
      h.ports.push(port);
      this.addrOwner.set(addrs[i]!, h.name);
      this.attach(port, i, this.segments.length, conditions, faultOpts, seg);
    });
    this.dirty = true;
    return seg;
  }

  /** The segment whose network overlaps `network`/`plen`, if any. */
  private overlapping(network: number, plen: number): Segment | undefined {
    return this.segments.find((s) => ((s.network ^ network) & maskOf(Math.min(s.plen, plen))) === 0);
  }

  /**
   * Give `port` an interface in its host's kernel (now, or again after a
   * restart), behind a fault stage with the segment's conditions, with its
   * address; `i` and `segNo` pick the fault stage's seed.
   */
  private attach(port: Port, i: number, segNo: number, conditions: LinkConditions, faultOpts: Omit<FaultOptions, 'seed'>, seg: Segment): void {
    const h = port.host;
    const k = h.faces.kernel;
    const ns = netstack(k);
    const unit = h.ports.indexOf(port);
    const ifname = `eth${unit}`;
    // The conditions are in place before the interface says anything (its ARP announcement).
    const seed = (Math.imul(this.seed, 0x9e3779b1) + segNo * 4099 + i + h.restarts * 0x10001) | 0;
    port.fault = faultyLink(port, { seed, ...faultOpts });
    port.conditions = { ...conditions };
    const ifp = new Ifnet(k, ifname, unit, IFT_ETHER, port.fault);
    ifp.flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
    ifp.mtu = seg.ports.find((p) => p !== port && p.ifp !== undefined)?.ifp.mtu ?? conditions.mtu ?? 1500;
    if (port.mac === undefined) port.mac = randomMac(k, 0xb2, 0xa0);
    etherIfattach(ns, ifp, port.mac);
    ns.ifs.attach(ifp);
    port.ifp = ifp;
    this.capture(port);
    ifioctl(ns, 'SIOCAIFADDR', { name: ifname, addr: formatAddr(port.addr), mask: formatAddr(maskOf(seg.plen)), alias: false });
    labAttach6(k, ns, ifname, segNo, port.addr - seg.network);
  }

  /** One interface block per interface; a tap writes each frame it sees. */
  private capture(port: Port): void {
    const w = this.writer;
    if (w === null) return;
    const h = port.host;
    const ifp = port.ifp;
    const label = `${h.name}/${ifp.name}`;
    if (port.captureId < 0) port.captureId = w.addInterface(label, `lab host ${h.name}, interface ${ifp.name}`);
    const id = port.captureId;
    const comment = new TextEncoder().encode(label);
    const host = this.hypercall;
    ifp.taps.push((_ifp, dir, buf, off, len) => {
      w.packet(id, host.now() * 1000, buf, off, len, comment, dir === TAP_IN ? EPB_INBOUND : EPB_OUTBOUND);
    });
  }

  /**
   * Routes for every host to every segment it reaches through routers
   * (breadth first: fewest routers), and a default route through the first
   * router for hosts that are not routers; then every hosts table.
   */
  private route(): void {
    const wants = new Map<LabHost, Map<string, string>>();
    for (const h of this.autoRoutes ? this.hosts.values() : []) wants.set(h, this.routesOf(h));
    // A stub router (every network it does not touch lies behind one
    // neighbour: an access router) takes a default route through that
    // neighbour instead of a route per network, as a leaf host does; unless
    // the neighbour is a stub towards it too (two routers alone), where
    // defaults both ways would loop what has no route.
    const sole = new Map<LabHost, string>();
    for (const [h, want] of wants) {
      if (!h.router || want.size === 0) continue;
      const gws = new Set(want.values());
      if (gws.size === 1) sole.set(h, [...gws][0]!);
    }
    for (const [h, gw] of sole) {
      const nb = this.hosts.get(this.addrOwner.get(parseAddr(gw)!) ?? '');
      const back = nb === undefined ? undefined : sole.get(nb);
      if (back !== undefined && this.addrOwner.get(parseAddr(back)!) === h.name) continue;
      const want = wants.get(h)!;
      for (const dst of [...want.keys()]) if (!h.installed.has(dst)) want.delete(dst);
      want.set('default', gw);
    }
    for (const [h, want] of wants) this.install(h, want);
    // One table for the whole lab, the same array in every kernel: 1,000
    // hosts would otherwise hold 1,000 copies of 1,000 entries. Nothing
    // changes a table in place (a kernel's `net.resolv.hosts` write gives it
    // a new one of its own), so sharing is copy on write.
    const table: HostsEntry[] = [];
    for (const h of this.hosts.values()) if (h.ports.length > 0) table.push({ address: h.address, names: [h.name] });
    for (const h of this.hosts.values()) {
      h.hostsTable = table;
      // (A kernel without the `net` component has no resolver: this lands in a throwaway.)
      kernelResolv(h.faces.kernel).hosts = table;
    }
  }

  /**
   * The routes `h` needs: one to each segment it reaches through routers
   * (breadth first: fewest routers, through the first router met), and for
   * a host that is not a router a default route through the first router,
   * covering what goes through that router.
   */
  private routesOf(h: LabHost): Map<string, string> {
    const want = new Map<string, string>();
    if (!h.router) {
      // A host with one router on its segments sends everything through it: no need to walk the network.
      let only: Port | null = null;
      let several = false;
      for (const p of h.ports) for (const rp of p.segment.ports) {
        if (rp.host === h || !rp.host.router) continue;
        if (only !== null && only.host !== rp.host) several = true;
        only ??= rp;
      }
      if (only !== null && !several) {
        want.set('default', formatAddr(only.addr));
        return want;
      }
    }
    const gwOf = new Map<Segment, number>();
    const queue: Segment[] = [];
    for (const p of h.ports) {
      if (!gwOf.has(p.segment)) {
        gwOf.set(p.segment, 0);
        queue.push(p.segment);
      }
    }
    const expanded = new Set<LabHost>();
    let dflt = 0;
    for (let qi = 0; qi < queue.length; qi++) {
      const seg = queue[qi]!;
      const gw = gwOf.get(seg)!;
      for (const rp of seg.ports) {
        const r = rp.host;
        if (r === h || !r.router || expanded.has(r)) continue;
        // A router is expanded once, from the first (nearest) segment it was met on.
        expanded.add(r);
        const via = gw === 0 ? rp.addr : gw;
        if (dflt === 0) dflt = via;
        for (const next of r.ports) {
          if (gwOf.has(next.segment)) continue;
          gwOf.set(next.segment, via);
          queue.push(next.segment);
          want.set(next.segment.net, formatAddr(via));
        }
      }
    }
    if (!h.router && dflt !== 0) {
      // What the default route covers needs no route of its own (a leaf host holds one route, not one per network).
      const d = formatAddr(dflt);
      for (const [dst, gw] of want) if (gw === d && !h.installed.has(dst)) want.delete(dst);
      want.set('default', d);
    }
    return want;
  }

  private install(h: LabHost, want: Map<string, string>): void {
    const rtmsg = h.faces.kernel.extension('rtmsg');
    if (rtmsg === undefined) return;
    for (const [dst, gateway] of want) {
      const had = h.installed.get(dst);
      if (had === gateway) continue;
      rtmsg({ type: had ? 'change' : 'add', dst, gateway });
      h.installed.set(dst, gateway);
    }
    labInstall6(h.faces.kernel, want, (v4) => labV6Of(this.segments, v4));
  }
}

/** What runs a lab's clock: the sim host, or RealDriver on the host's clock. */
interface Driver {
  run(ms: number): Promise<void>;
  /** Until `pred()` or `maxMs` passed; whether `pred()` held. */
  runUntil(pred: () => boolean, maxMs: number): Promise<boolean>;
  /** Let work already queued run. */
  settle(): Promise<void>;
}

/** Resolve after `ms` of the host's time, keeping a node host's process alive meanwhile. */
function sleep(host: Hypercall, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const release = host.hold();
    host.armTimer(host.now() + (ms > 0 ? ms : 0), () => {
      release();
      resolve();
    });
  });
}

/**
 * A real-time lab's clock: time passes by itself; run and runUntil only
 * wait (holding the process alive: kernel timers alone do not), checking
 * the condition every few milliseconds.
 */
class RealDriver implements Driver {
  constructor(private readonly host: Hypercall) {}

  run(ms: number): Promise<void> {
    return sleep(this.host, ms);
  }

  async runUntil(pred: () => boolean, maxMs: number): Promise<boolean> {
    const end = this.host.now() + maxMs;
    for (;;) {
      if (pred()) return true;
      const left = end - this.host.now();
      if (left <= 0) return false;
      await sleep(this.host, Math.min(5, left));
    }
  }

  settle(): Promise<void> {
    return sleep(this.host, 0);
  }
}

/** A new lab: an empty network on its own virtual clock (or, with clock 'real', the host's). */
export function createLab(opts: LabOptions = {}): Lab {
  return new Lab(opts);
}
