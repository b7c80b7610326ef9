/*
 * Internet protocol control blocks (NetBSD netinet/in_pcb.c): the port
 * namespace of one transport protocol in one kernel.
 *
 * A PCB (InPcb) is the protocol's half of a socket: local and foreign
 * address and port, plus the per-socket IP options (TTL, TOS, IP_HDRINCL).
 * A table (InPcbTable, BSD's inpcbtable) holds every PCB of a protocol and
 * three indexes, as NetBSD does:
 *
 *   portHash  lport → every PCB with that local port (inp_lhash): the PCB
 *             itself while it is the port's only one (a client's ephemeral
 *             port), a Set from the second on. Used only
 *             when binding (conflict checks, ephemeral port choice), so a
 *             listener with thousands of connections costs nothing per packet.
 *   bindHash  lport → bound but not connected PCBs (the bind hash). Input's
 *             wildcard lookup.
 *   connHash  hash(faddr, fport, laddr, lport) → connected PCBs (the connect
 *             hash). Input's exact lookup. A key holds its one PCB itself and
 *             an array only on a collision: a server with 100,000 idle
 *             connections holds 100,000 keys, not 100,000 small arrays.
 *
 * Keys are small integers (Smi) so Map lookups never build strings or box
 * numbers. A PCB is in bindHash or connHash by its state (in_pcbstate), and
 * in portHash while it has a local port.
 *
 * Call order:
 *   socket() → table.attach → bind()/connect()/sendto() → table.bind (port 0:
 *   ephemeral, RFC 6056) → table.connect (source from the route, inSelectSrc)
 *   input: table.lookupConnect, then table.lookupBind (BSD's best match)
 *   ICMP errors: table.notify (exact) / table.notifyAll (by foreign address)
 *   close() → table.detach
 *
 * Families (NetBSD's inpcb with inp_af): a table serves one family, AF_INET
 * or AF_INET6. An AF_INET6 PCB keeps its addresses in laddr6/faddr6 (16 bytes
 * each, struct in6_addr) and leaves the u32 laddr/faddr at 0; the IPv6
 * methods carry a 6 (bind6, connect6, lookupConnect6, lookupBind6), so the
 * IPv4 paths are what they were. What the PCB layer needs from IPv6 itself
 * (its addresses, source selection) comes through In6Ops, which the
 * net_netinet6 component supplies: net/inet never imports net/inet6.
 *
 * Dual stack (RFC 3493 §3.7 and §5.3, RFC 4038 §4.2): an AF_INET6 PCB with
 * IPV6_V6ONLY off (INP_IPV6_V6ONLY clear; new PCBs take
 * net.inet6.ip6.v6only, 1 by default as on NetBSD) bound to :: or to a
 * v4-mapped address (::ffff:a.b.c.d) also takes IPv4. The two tables of a
 * protocol are each other's `peer`: IPv4 input that finds nothing in its own
 * table asks lookupBindMapped / lookupConnectMapped, and the port checks of
 * either family see the other's dual-stack PCBs (a v6 :: P with V6ONLY off
 * and an IPv4 bind of P conflict, as on NetBSD and Linux). A v6 PCB with a
 * v4-mapped local or foreign address keeps the IPv4 form in laddr/faddr as
 * well, so IPv4 output (UDP) reads it from where it always does.
 */
import { Errno, EADDRINUSE, EADDRNOTAVAIL, EAGAIN, EINVAL, ENETUNREACH, ENOPROTOOPT } from '../../kern/errno.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { AF_INET, AF_INET6, type SockoptValue } from '../../kern/sys.js';
import { SO_REUSEADDR, SO_REUSEPORT, type Socket } from '../socket.js';
import { INADDR_ANY, inAddrIsMulticast } from '../wire/inaddr.js';
import {
  IN6ADDR_ANY, IN6ADDR_LOOPBACK, in6Copy, in6Equal, in6Hash, in6IsMulticast, in6IsUnspecified, in6IsV4Mapped,
} from '../wire/in6addr.js';
import type { Inet } from './inet.js';
import { inSelectSrc } from './ip_output.js';

/* IPPROTO_IP socket options (netinet/in.h) that every IPv4 socket takes. */
/** The user supplies the IP header on output (raw sockets only). */
export const IP_HDRINCL = 2;
/** Type of service for outgoing datagrams. */
export const IP_TOS = 3;
/** Time to live for outgoing unicast datagrams. */
export const IP_TTL = 4;

/* inp_flags */
/** IP_HDRINCL is on. */
export const INP_HDRINCL = 0x1;
/**
 * The local address was chosen by bind(), not by connect(). Disconnecting
 * keeps it. Deliberate deviation: NetBSD's udp_disconnect clears inp_laddr
 * unconditionally (marked XXX there), which silently unbinds a socket the
 * user bound to an address; Linux and FreeBSD keep an explicit binding.
 */
export const INP_BOUNDADDR = 0x2;
/** AF_INET6 only: IPV6_V6ONLY is on, the PCB takes no IPv4 (NetBSD's IN6P_IPV6_V6ONLY). */
export const INP_IPV6_V6ONLY = 0x4;

/* in_pcbstate states. */
export const INP_ATTACHED = 0;
export const INP_BOUND = 1;
export const INP_CONNECTED = 2;

/** The lowest port an unprivileged process could bind in BSD (IPPORT_RESERVED). */
export const IPPORT_RESERVED = 1024;

/** An all-zero address AF_INET PCBs show as laddr6/faddr6. Never written. */
const NO_ADDR6 = new Uint8Array(16);

/**
 * What the PCB layer and the transports over it need from IPv6
 * (net_netinet6 fills it in when it attaches; null in a kernel without it).
 */
export interface In6Ops {
  /** net.inet6.ip6.hlim: the hop limit of new PCBs. */
  defHlim(): number;
  /** net.inet6.ip6.v6only: do new AF_INET6 PCBs start with IPV6_V6ONLY on? */
  v6only(): boolean;
  /** Is `addr` one of our addresses (in6_ifawithifp)? */
  isLocal(addr: Uint8Array): boolean;
  /** in6_selectsrc: the source address for `dst` into `out`; false when nothing routes there. */
  selectSrc(dst: Uint8Array, out: Uint8Array): boolean;
  /** The MTU of the path towards `dst` (the route's, else its interface's); 0 without a route. */
  routeMtu(dst: Uint8Array): number;
  /**
   * ip6_output for a transport: `m` holds the upper-layer header and data
   * with headroom; the IPv6 header (addresses read where they lie) is
   * prepended here. Owns `m`; returns 0 or an errno.
   */
  output(m: Mbuf, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, nxt: number, hlim: number, tclass: number): number;
}

export class InPcb {
  /** AF_INET or AF_INET6 (inp_af): the family of its table. */
  readonly af: number;
  /** IPv6 local and foreign addresses (AF_INET6 only; AF_INET PCBs share an all-zero array). */
  readonly laddr6: Uint8Array;
  readonly faddr6: Uint8Array;
  /** Local address (0: any), local port (0: unbound). */
  laddr = 0;
  lport = 0;
  /** Foreign address and port; faddr 0 while unconnected. */
  faddr = 0;
  fport = 0;
  /** IP_TTL and IP_TOS for what this socket sends (IPv6: hop limit and traffic class). */
  ttl: number;
  tos = 0;
  /** INP_HDRINCL | INP_BOUNDADDR */
  flags = 0;
  /** INP_ATTACHED, INP_BOUND or INP_CONNECTED: which hash holds it. */
  state = INP_ATTACHED;
  /** Its connHash key while connected. */
  connKey = 0;
  /** In portHash (it has a local port). */
  inPortHash = false;
  detached = false;

  constructor(
    readonly table: InPcbTable,
    readonly so: Socket,
    /** Protocol number: what a raw socket sends and receives; 17 for UDP. */
    readonly proto: number,
    ttl: number,
  ) {
    this.af = table.af;
    const v6 = table.af === AF_INET6;
    this.laddr6 = v6 ? new Uint8Array(16) : NO_ADDR6;
    this.faddr6 = v6 ? new Uint8Array(16) : NO_ADDR6;
    this.ttl = ttl;
  }
}

/** The IPv4 address of a v4-mapped IPv6 address (::ffff:a.b.c.d) at `off`. */
export function in6MappedV4(b: Uint8Array, off: number): number {
  return ((b[off + 12]! << 24) | (b[off + 13]! << 16) | (b[off + 14]! << 8) | b[off + 15]!) >>> 0;
}

/** Write ::ffff:`addr` into `out` at `off`. */
export function in6SetMapped(out: Uint8Array, off: number, addr: number): void {
  out.fill(0, off, off + 10);
  out[off + 10] = 0xff;
  out[off + 11] = 0xff;
  out[off + 12] = addr >>> 24;
  out[off + 13] = (addr >>> 16) & 0xff;
  out[off + 14] = (addr >>> 8) & 0xff;
  out[off + 15] = addr & 0xff;
}

/**
 * The IPv4 local address an AF_INET6 PCB answers on: INADDR_ANY when it is
 * dual-stack and bound to ::, the address when bound to a v4-mapped one,
 * -1 when it takes no IPv4 (IPV6_V6ONLY, or a real IPv6 address).
 */
function inpV4Laddr(inp: InPcb): number {
  if (inp.flags & INP_IPV6_V6ONLY) return -1;
  if (in6IsUnspecified(inp.laddr6, 0)) return INADDR_ANY;
  return in6IsV4Mapped(inp.laddr6, 0) ? inp.laddr : -1;
}

/** The connection hash of an IPv6 four-tuple, with the addresses where they lie. */
function connHashKey6(f: Uint8Array, fOff: number, fport: number, l: Uint8Array, lOff: number, lport: number): number {
  const h = in6Hash(l, lOff, in6Hash(f, fOff, (fport << 16) | lport));
  return (h ^ (h >>> 13)) & 0x3fffffff;
}

/**
 * Mixes a connection's four-tuple into a small non-negative integer. Any
 * collision is resolved by comparing the fields, so this only has to spread
 * connections that differ in one port well (a client's many connections to
 * one server differ only in lport).
 */
export function connHashKey(faddr: number, fport: number, laddr: number, lport: number): number {
  let h = Math.imul(faddr ^ ((fport << 16) | lport), 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ laddr, 0x85ebca77);
  h ^= h >>> 13;
  return h & 0x3fffffff;
}

function bucketRemove(b: InPcb[] | undefined, inp: InPcb): void {
  if (b === undefined) return;
  const i = b.indexOf(inp);
  if (i >= 0) b.splice(i, 1);
}

export class InPcbTable {
  /** Every PCB, in the order attached (raw input, ctlinput by address and netstat walk it). */
  readonly all = new Set<InPcb>();
  private readonly portHash = new Map<number, InPcb | Set<InPcb>>();
  private readonly bindHash = new Map<number, InPcb[]>();
  private readonly connHash = new Map<number, InPcb | InPcb[]>();
  /**
   * Raw IP: copies dropped because a socket's receive buffer was full or no
   * memory was left for the copy (NetBSD only marks the socket, soroverflow;
   * UDP counts its own in udps_fullsock).
   */
  rcvfull = 0;
  /**
   * The same protocol's table of the other family (TCP's or UDP's IPv4 ↔
   * IPv6), linked by net_netinet6: one port space for dual-stack sockets.
   */
  peer: InPcbTable | null = null;
  /** lookupConnectMapped's scratch: the IPv4 four-tuple's addresses as ::ffff:a.b.c.d. */
  private readonly scratchMappedF = new Uint8Array(16);
  private readonly scratchMappedL = new Uint8Array(16);
  /** Where connect6 builds the source address before committing it (never kept). */
  private readonly scratchSrc6 = new Uint8Array(16);

  constructor(
    readonly inet: Inet,
    /** AF_INET, or AF_INET6 for a table of IPv6 PCBs (which then needs `ops6`). */
    readonly af: number = AF_INET,
    readonly ops6: In6Ops | null = null,
  ) {}

  /** Live PCBs (leak checks, netstat). */
  get size(): number {
    return this.all.size;
  }

  /** in_pcballoc: a PCB for `so`, unbound. */
  attach(so: Socket, proto: number): InPcb {
    const inp = new InPcb(this, so, proto, this.ops6 !== null ? this.ops6.defHlim() : this.inet.defttl);
    if (this.ops6 !== null && this.ops6.v6only()) inp.flags |= INP_IPV6_V6ONLY;
    this.all.add(inp);
    return inp;
  }

  /** in_pcbdetach: forget the PCB. Idempotent. */
  detach(inp: InPcb): void {
    if (inp.detached) return;
    inp.detached = true;
    this.unhash(inp);
    if (inp.inPortHash) {
      const s = this.portHash.get(inp.lport);
      if (s === inp) this.portHash.delete(inp.lport);
      else if (s instanceof Set) {
        s.delete(inp);
        if (s.size === 1) this.portHash.set(inp.lport, s.values().next().value!);
      }
      inp.inPortHash = false;
    }
    this.all.delete(inp);
  }

  /** Take the PCB out of whichever of bindHash/connHash holds it. */
  private unhash(inp: InPcb): void {
    if (inp.state === INP_BOUND) {
      const b = this.bindHash.get(inp.lport);
      bucketRemove(b, inp);
      if (b !== undefined && b.length === 0) this.bindHash.delete(inp.lport);
    } else if (inp.state === INP_CONNECTED) {
      const b = this.connHash.get(inp.connKey);
      if (b === inp) this.connHash.delete(inp.connKey);
      else if (b !== undefined && b instanceof Array) {
        bucketRemove(b, inp);
        if (b.length === 0) this.connHash.delete(inp.connKey);
      }
    }
    inp.state = INP_ATTACHED;
  }

  /** in_pcbstate: put the PCB in the hash its addresses call for. */
  private setState(inp: InPcb, state: number): void {
    this.unhash(inp);
    if (state === INP_BOUND) {
      let b = this.bindHash.get(inp.lport);
      if (b === undefined) {
        b = [];
        this.bindHash.set(inp.lport, b);
      }
      b.push(inp);
    } else if (state === INP_CONNECTED) {
      const key = inp.af === AF_INET6
        ? connHashKey6(inp.faddr6, 0, inp.fport, inp.laddr6, 0, inp.lport)
        : connHashKey(inp.faddr, inp.fport, inp.laddr, inp.lport);
      const b = this.connHash.get(key);
      if (b === undefined) this.connHash.set(key, inp);
      else if (b instanceof Array) b.push(inp);
      else this.connHash.set(key, [b, inp]);
      inp.connKey = key;
    }
    inp.state = state;
  }

  private addToPortHash(inp: InPcb): void {
    const s = this.portHash.get(inp.lport);
    if (s === undefined) this.portHash.set(inp.lport, inp);
    else if (s instanceof Set) s.add(inp);
    else this.portHash.set(inp.lport, new Set([s, inp]));
    inp.inPortHash = true;
  }

  /**
   * May `addr` be a local address? Ours (127/8 included while lo0 is up),
   * a multicast group, or one of our directed broadcast addresses (BSD's
   * ifa_ifwithaddr matches those on broadcast interfaces).
   */
  isBindable(addr: number): boolean {
    if (addr === INADDR_ANY || inAddrIsMulticast(addr)) return true;
    const inet = this.inet;
    if (inet.isLocal(addr)) return true;
    const a = inet.addrs;
    for (let i = 0; i < a.length; i++) if (a[i]!.broadaddr !== 0 && a[i]!.broadaddr === addr) return true;
    return false;
  }

  /**
   * in_pcbbind: give the PCB a local address and port. Port 0 picks an
   * ephemeral port. Throws EINVAL when already bound, EADDRNOTAVAIL for an
   * address that is not ours, EADDRINUSE per the reuse rules below, EAGAIN
   * when the ephemeral range is exhausted. Ports below 1024 need no
   * privilege: a rump kernel's caller is root.
   */
  bind(inp: InPcb, laddr: number, lport: number): void {
    if (inp.lport !== 0 || inp.laddr !== INADDR_ANY) throw new Errno(EINVAL);
    if (!this.isBindable(laddr)) throw new Errno(EADDRNOTAVAIL);
    if (lport === 0) lport = this.pickPort(laddr);
    else this.checkPortFree(inp.so, laddr, lport);
    inp.laddr = laddr;
    inp.lport = lport;
    if (laddr !== INADDR_ANY) inp.flags |= INP_BOUNDADDR;
    this.addToPortHash(inp);
    this.setState(inp, INP_BOUND);
  }

  /**
   * The BSD reuse rules (in_pcbbind_port):
   * - Without SO_REUSEADDR/SO_REUSEPORT the lookup is wildcard: any PCB on
   *   the port whose address overlaps ours (same address, or either is
   *   INADDR_ANY) is a conflict.
   * - With either option the lookup is exact: a specific address beside a
   *   wildcard binding on the same port is allowed (SO_REUSEADDR's purpose).
   * - An exact duplicate is allowed only when both sockets set SO_REUSEPORT
   *   (for a multicast address SO_REUSEADDR counts as SO_REUSEPORT, so
   *   several listeners can share a group and port).
   */
  private checkPortFree(so: Socket, laddr: number, lport: number): void {
    let reuseport = so.options & SO_REUSEPORT;
    if (inAddrIsMulticast(laddr) && so.options & SO_REUSEADDR) reuseport = SO_REUSEADDR | SO_REUSEPORT;
    const wild = (so.options & (SO_REUSEADDR | SO_REUSEPORT)) === 0;
    const t = this.lookupPort(laddr, lport, wild);
    if (t !== null && (reuseport & t.so.options) === 0) throw new Errno(EADDRINUSE);
  }

  /**
   * in_pcblookup_port: the PCB on `lport` that best matches `laddr`, counting
   * a wildcard for each side that is INADDR_ANY where the other is not and
   * for a connected PCB; fewest wildcards wins. With `wild` false only exact
   * matches (no wildcard) count.
   */
  lookupPort(laddr: number, lport: number, wild: boolean, withPeer = true): InPcb | null {
    let match: InPcb | null = null;
    let matchwild = 3;
    const s = this.onPort(lport);
    if (s !== undefined) {
      for (const inp of s) {
        const wildcard = portWildcards(inp.laddr, inp.faddr !== INADDR_ANY, laddr, wild);
        if (wildcard >= 0 && wildcard < matchwild) {
          match = inp;
          matchwild = wildcard;
          if (wildcard === 0) return match;
        }
      }
    }
    // The dual-stack IPv6 PCBs on the port hold it for IPv4 too.
    const ps = withPeer && this.af === AF_INET && this.peer !== null ? this.peer.onPort(lport) : undefined;
    if (ps !== undefined) {
      for (const inp of ps) {
        const l = inpV4Laddr(inp);
        if (l < 0) continue;
        const wildcard = portWildcards(l, !in6IsUnspecified(inp.faddr6, 0), laddr, wild);
        if (wildcard >= 0 && wildcard < matchwild) {
          match = inp;
          matchwild = wildcard;
          if (wildcard === 0) break;
        }
      }
    }
    return match;
  }

  /**
   * An ephemeral port, RFC 6056 §3.3.1 (Algorithm 1, simple port
   * randomization): start at a random point of
   * [net.inet.ip.anonportmin, anonportmax] and take the first port nobody
   * overlapping `laddr` (`laddr6` in an IPv6 table) holds. Randomness comes only from the host
   * (kernel.host.random32), so the sim host makes it reproducible.
   */
  pickPort(laddr: number, laddr6: Uint8Array = NO_ADDR6, dual = false): number {
    const v6 = this.af === AF_INET6;
    const min = this.inet.anonPortMin;
    const max = this.inet.anonPortMax;
    const n = max - min + 1;
    let next = min + (this.inet.kernel.host.random32() % n);
    for (let count = n; count > 0; count--) {
      const holder = v6 ? this.lookupPort6(laddr6, next, true, dual) : this.lookupPort(laddr, next, true);
      if (holder === null) return next;
      next = next === max ? min : next + 1;
    }
    // NetBSD's portalgo returns EAGAIN when every port of the range is taken.
    throw new Errno(EAGAIN);
  }

  /**
   * in_pcbconnect: fix the foreign address and port, choose the local
   * address from the route (inSelectSrc) unless bound to one, and bind an
   * ephemeral port if the PCB has none. Throws EADDRNOTAVAIL for port 0,
   * ENETUNREACH without a route, EADDRINUSE when the four-tuple is taken.
   */
  connect(inp: InPcb, faddr: number, fport: number): void {
    if (fport === 0) throw new Errno(EADDRNOTAVAIL);
    faddr = this.resolveAny(faddr);
    let laddr = inp.laddr;
    if (laddr === INADDR_ANY) {
      laddr = inSelectSrc(this.inet, faddr);
      if (laddr === 0) throw new Errno(ENETUNREACH);
    }
    if (inp.lport !== 0 && this.lookupConnect(faddr, fport, laddr, inp.lport) !== null) throw new Errno(EADDRINUSE);
    if (inp.lport === 0) {
      // BSD binds the wildcard address first, then fills in the source.
      inp.lport = this.pickPort(INADDR_ANY);
      this.addToPortHash(inp);
    }
    inp.laddr = laddr;
    inp.faddr = faddr;
    inp.fport = fport;
    this.setState(inp, INP_CONNECTED);
  }

  /**
   * A destination of INADDR_ANY means this host: BSD's in_pcbconnect
   * substitutes the first configured address (127.0.0.1 on a rump kernel,
   * where lo0 is configured first).
   */
  resolveAny(faddr: number): number {
    if (faddr !== INADDR_ANY) return faddr;
    const first = this.inet.addrs[0];
    return first !== undefined ? first.addr : INADDR_ANY;
  }

  /** in_pcbdisconnect: forget the foreign side; keep an address bind() chose. */
  disconnect(inp: InPcb): void {
    inp.faddr = INADDR_ANY;
    inp.fport = 0;
    if (!(inp.flags & INP_BOUNDADDR)) inp.laddr = INADDR_ANY;
    if (inp.af === AF_INET6) {
      inp.faddr6.fill(0);
      if (!(inp.flags & INP_BOUNDADDR)) inp.laddr6.fill(0);
    }
    this.setState(inp, inp.lport !== 0 ? INP_BOUND : INP_ATTACHED);
  }

  /**
   * Put a PCB straight into the connection hash with this four-tuple, beside
   * a listener on the same port (in_pcbinshash after syncache_socket set
   * the addresses; or a connect that chose its own port).
   */
  insertConnected(inp: InPcb, laddr: number, lport: number, faddr: number, fport: number): void {
    inp.laddr = laddr;
    inp.lport = lport;
    inp.faddr = faddr;
    inp.fport = fport;
    if (!inp.inPortHash) this.addToPortHash(inp);
    this.setState(inp, INP_CONNECTED);
  }

  /**
   * Give a fresh PCB the local address and port another table's PCB held
   * (a dual-stack IPv6 socket connecting to a v4-mapped address moves to
   * the IPv4 table). No conflict check: the dual-stack bind checked the
   * port against this table already.
   */
  adoptBound(inp: InPcb, laddr: number, lport: number): void {
    inp.laddr = laddr;
    inp.lport = lport;
    if (laddr !== INADDR_ANY) inp.flags |= INP_BOUNDADDR;
    this.addToPortHash(inp);
    this.setState(inp, INP_BOUND);
  }

  /** insertConnected for an AF_INET6 PCB; the addresses are copied from where they lie. */
  insertConnected6(inp: InPcb, laddr: Uint8Array, lOff: number, lport: number, faddr: Uint8Array, fOff: number, fport: number): void {
    in6Copy(inp.laddr6, 0, laddr, lOff);
    in6Copy(inp.faddr6, 0, faddr, fOff);
    inp.lport = lport;
    inp.fport = fport;
    if (!inp.inPortHash) this.addToPortHash(inp);
    this.setState(inp, INP_CONNECTED);
  }

  /* ---------------------------------------------------------------------- */
  /* IPv6 (NetBSD in6_pcb.c), for a table of family AF_INET6. */

  /** May `addr` be a local IPv6 address: unspecified, multicast, or ours. */
  isBindable6(addr: Uint8Array): boolean {
    if (in6IsUnspecified(addr, 0) || in6IsMulticast(addr, 0)) return true;
    return this.ops6 !== null && this.ops6.isLocal(addr);
  }

  /**
   * in6_pcbbind: as bind, for IPv6. A v4-mapped address binds the IPv4
   * address it carries, and only with IPV6_V6ONLY off (EINVAL otherwise, as
   * NetBSD answers). A dual-stack PCB's port must be free for IPv4 too.
   */
  bind6(inp: InPcb, laddr: Uint8Array, lport: number): void {
    if (inp.lport !== 0 || !in6IsUnspecified(inp.laddr6, 0)) throw new Errno(EINVAL);
    const dual = (inp.flags & INP_IPV6_V6ONLY) === 0;
    const mapped = in6IsV4Mapped(laddr, 0);
    if (mapped) {
      if (!dual) throw new Errno(EINVAL);
      if (!this.isBindable(in6MappedV4(laddr, 0))) throw new Errno(EADDRNOTAVAIL);
    } else if (!this.isBindable6(laddr)) throw new Errno(EADDRNOTAVAIL);
    if (lport === 0) lport = this.pickPort(INADDR_ANY, laddr, dual);
    else this.checkPortFree6(inp.so, laddr, lport, dual);
    in6Copy(inp.laddr6, 0, laddr, 0);
    if (mapped) inp.laddr = in6MappedV4(laddr, 0);
    inp.lport = lport;
    if (!in6IsUnspecified(laddr, 0)) inp.flags |= INP_BOUNDADDR;
    this.addToPortHash(inp);
    this.setState(inp, INP_BOUND);
  }

  /** The reuse rules of checkPortFree, for IPv6 addresses. */
  private checkPortFree6(so: Socket, laddr: Uint8Array, lport: number, dual: boolean): void {
    let reuseport = so.options & SO_REUSEPORT;
    if (in6IsMulticast(laddr, 0) && so.options & SO_REUSEADDR) reuseport = SO_REUSEADDR | SO_REUSEPORT;
    const wild = (so.options & (SO_REUSEADDR | SO_REUSEPORT)) === 0;
    const t = this.lookupPort6(laddr, lport, wild, dual);
    if (t !== null && (reuseport & t.so.options) === 0) throw new Errno(EADDRINUSE);
  }

  /**
   * in6_pcblookup_port: lookupPort's wildcard counting, for IPv6 addresses.
   * With `dual` (a PCB that will take IPv4 too, bound to :: or a v4-mapped
   * address) the IPv4 table's holders of the port count as well.
   */
  lookupPort6(laddr: Uint8Array, lport: number, wild: boolean, dual = false): InPcb | null {
    const own = this.lookupPort6Own(laddr, lport, wild);
    if (own !== null || !dual || this.peer === null) return own;
    const any = in6IsUnspecified(laddr, 0);
    if (!any && !in6IsV4Mapped(laddr, 0)) return null;
    return this.peer.lookupPort(any ? INADDR_ANY : in6MappedV4(laddr, 0), lport, wild, false);
  }

  private lookupPort6Own(laddr: Uint8Array, lport: number, wild: boolean): InPcb | null {
    const s = this.onPort(lport);
    if (s === undefined) return null;
    const any = in6IsUnspecified(laddr, 0);
    let match: InPcb | null = null;
    let matchwild = 3;
    for (const inp of s) {
      let wildcard = 0;
      if (!in6IsUnspecified(inp.faddr6, 0)) wildcard++;
      if (in6IsUnspecified(inp.laddr6, 0)) {
        if (!any) wildcard++;
      } else if (any) {
        wildcard++;
      } else if (!in6Equal(inp.laddr6, 0, laddr, 0)) {
        continue;
      }
      if (wildcard !== 0 && !wild) continue;
      if (wildcard < matchwild) {
        match = inp;
        matchwild = wildcard;
        if (wildcard === 0) break;
      }
    }
    return match;
  }

  /**
   * in6_pcbconnect: as connect, for IPv6. A destination of :: means this
   * host (NetBSD substitutes ::1); the source comes from in6_selectsrc
   * unless bound. Throws EADDRNOTAVAIL for port 0, ENETUNREACH without a
   * route, EADDRINUSE when the four-tuple is taken.
   */
  connect6(inp: InPcb, faddr: Uint8Array, fport: number): void {
    if (fport === 0) throw new Errno(EADDRNOTAVAIL);
    // Mapped to mapped only: IPv6 from an IPv4 address (or the reverse) is EINVAL, as NetBSD answers.
    if (in6IsV4Mapped(faddr, 0) || in6IsV4Mapped(inp.laddr6, 0)) throw new Errno(EINVAL);
    const dst = this.resolveAny6(faddr);
    const src = this.scratchSrc6;
    if (in6IsUnspecified(inp.laddr6, 0)) {
      if (this.ops6 === null || !this.ops6.selectSrc(dst, src)) throw new Errno(ENETUNREACH);
    } else {
      in6Copy(src, 0, inp.laddr6, 0);
    }
    if (inp.lport !== 0 && this.lookupConnect6(dst, 0, fport, src, 0, inp.lport) !== null) throw new Errno(EADDRINUSE);
    if (inp.lport === 0) {
      inp.lport = this.pickPort(INADDR_ANY, IN6ADDR_ANY);
      this.addToPortHash(inp);
    }
    in6Copy(inp.laddr6, 0, src, 0);
    in6Copy(inp.faddr6, 0, dst, 0);
    inp.fport = fport;
    this.setState(inp, INP_CONNECTED);
  }

  /** :: as a destination is the loopback address (a shared constant: copy it, never write it). */
  resolveAny6(faddr: Uint8Array): Uint8Array {
    return in6IsUnspecified(faddr, 0) ? IN6ADDR_LOOPBACK : faddr;
  }

  /** in6_pcblookup_connect: the connected PCB with exactly this four-tuple (addresses where they lie). */
  lookupConnect6(f: Uint8Array, fOff: number, fport: number, l: Uint8Array, lOff: number, lport: number): InPcb | null {
    const b = this.connHash.get(connHashKey6(f, fOff, fport, l, lOff, lport));
    if (b === undefined) return null;
    const n = b instanceof Array ? b.length : 1;
    for (let i = 0; i < n; i++) {
      const inp = b instanceof Array ? b[i]! : b;
      if (inp.fport === fport && inp.lport === lport && in6Equal(inp.faddr6, 0, f, fOff) && in6Equal(inp.laddr6, 0, l, lOff)) return inp;
    }
    return null;
  }

  /** in6_pcblookup_bind: bound to `l` on `lport`, else bound to :: on it. */
  lookupBind6(l: Uint8Array, lOff: number, lport: number): InPcb | null {
    const b = this.bindHash.get(lport);
    if (b === undefined) return null;
    let wildcard: InPcb | null = null;
    for (let i = 0; i < b.length; i++) {
      const inp = b[i]!;
      if (in6Equal(inp.laddr6, 0, l, lOff)) return inp;
      if (wildcard === null && in6IsUnspecified(inp.laddr6, 0)) wildcard = inp;
    }
    return wildcard;
  }

  /** in_pcblookup_connect: the connected PCB with exactly this four-tuple. */
  lookupConnect(faddr: number, fport: number, laddr: number, lport: number): InPcb | null {
    const b = this.connHash.get(connHashKey(faddr, fport, laddr, lport));
    if (b === undefined) return null;
    const n = b instanceof Array ? b.length : 1;
    for (let i = 0; i < n; i++) {
      const inp = b instanceof Array ? b[i]! : b;
      if (inp.faddr === faddr && inp.fport === fport && inp.laddr === laddr && inp.lport === lport) return inp;
    }
    return null;
  }

  /**
   * in_pcblookup_bind: an unconnected PCB on `lport` bound to `laddr`,
   * else one bound to INADDR_ANY (the more specific binding wins).
   */
  lookupBind(laddr: number, lport: number): InPcb | null {
    const b = this.bindHash.get(lport);
    if (b === undefined) return null;
    let wildcard: InPcb | null = null;
    for (let i = 0; i < b.length; i++) {
      const inp = b[i]!;
      if (inp.laddr === laddr) return inp;
      if (inp.laddr === INADDR_ANY && wildcard === null) wildcard = inp;
    }
    return wildcard;
  }

  /**
   * IPv4 input's last resort (NetBSD tcp_input/udp_input's "mapped addr
   * case"): an unconnected dual-stack PCB of the IPv6 peer table on `lport`
   * bound to ::ffff:`laddr`, else to ::.
   */
  lookupBindMapped(laddr: number, lport: number): InPcb | null {
    const b = this.peer !== null ? this.peer.bindHash.get(lport) : undefined;
    if (b === undefined) return null;
    let wildcard: InPcb | null = null;
    for (let i = 0; i < b.length; i++) {
      const inp = b[i]!;
      const l = inpV4Laddr(inp);
      if (l === laddr && l !== INADDR_ANY) return inp;
      if (l === INADDR_ANY && wildcard === null) wildcard = inp;
    }
    return wildcard;
  }

  /** A dual-stack IPv6 PCB of the peer table connected to ::ffff:`faddr` from ::ffff:`laddr`. */
  lookupConnectMapped(faddr: number, fport: number, laddr: number, lport: number): InPcb | null {
    const peer = this.peer;
    if (peer === null || peer.connHash.size === 0) return null;
    const f6 = this.scratchMappedF;
    const l6 = this.scratchMappedL;
    in6SetMapped(f6, 0, faddr);
    in6SetMapped(l6, 0, laddr);
    const inp = peer.lookupConnect6(f6, 0, fport, l6, 0, lport);
    return inp !== null && !(inp.flags & INP_IPV6_V6ONLY) ? inp : null;
  }

  /** Every PCB on `lport`, bound or connected, in bind order (broadcast delivery walks them). */
  onPort(lport: number): Iterable<InPcb> | undefined {
    const s = this.portHash.get(lport);
    return s instanceof InPcb ? [s] : s;
  }

  /**
   * in_pcbnotify: report `errno` to the connected socket with this
   * four-tuple (an ICMP error about a datagram it sent). Returns how many.
   */
  notify(faddr: number, fport: number, laddr: number, lport: number, errno: number): number {
    if (faddr === INADDR_ANY || errno === 0) return 0;
    const inp = this.lookupConnect(faddr, fport, laddr, lport);
    if (inp === null) return 0;
    inp.so.setError(errno);
    return 1;
  }

  /** in_pcbnotifyall: report `errno` to every socket connected to `faddr`. */
  notifyAll(faddr: number, errno: number): number {
    if (faddr === INADDR_ANY || errno === 0) return 0;
    let n = 0;
    for (const inp of this.all) {
      if (inp.faddr === faddr && inp.state === INP_CONNECTED) {
        inp.so.setError(errno);
        n++;
      }
    }
    return n;
  }
}

/**
 * lookupPort's count for one PCB (its IPv4 view: local `l`, connected or
 * not) against a wanted local address: the wildcards, or -1 when the
 * addresses differ or `wild` is off and it is not exact.
 */
function portWildcards(l: number, connected: boolean, laddr: number, wild: boolean): number {
  let wildcard = connected ? 1 : 0;
  if (l === INADDR_ANY) {
    if (laddr !== INADDR_ANY) wildcard++;
  } else if (laddr === INADDR_ANY) {
    wildcard++;
  } else if (l !== laddr) {
    return -1;
  }
  return wildcard !== 0 && !wild ? -1 : wildcard;
}

/** A socket's PCB, or EINVAL once it is gone (closed). */
export function sotoinpcb(so: Socket): InPcb {
  const inp = so.pcb;
  if (!(inp instanceof InPcb) || inp.detached) throw new Errno(EINVAL);
  return inp;
}

function optInt(value: SockoptValue, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new Errno(EINVAL);
  return value;
}

/**
 * ip_ctloutput (set) for the options every IPv4 socket has; IP_HDRINCL only
 * where the protocol allows it (raw sockets, rip_ctloutput). Anything else
 * is ENOPROTOOPT, as NetBSD answers.
 */
export function inPcbSetopt(inp: InPcb, name: number, value: SockoptValue, hdrincl: boolean): void {
  switch (name) {
    case IP_TOS:
      inp.tos = optInt(value, 0, 255);
      return;
    case IP_TTL:
      inp.ttl = optInt(value, 0, 255);
      return;
    case IP_HDRINCL:
      if (!hdrincl) break;
      if (optInt(value, -0x80000000, 0x7fffffff)) inp.flags |= INP_HDRINCL;
      else inp.flags &= ~INP_HDRINCL;
      return;
  }
  throw new Errno(ENOPROTOOPT);
}

/** ip_ctloutput (get). */
export function inPcbGetopt(inp: InPcb, name: number, hdrincl: boolean): SockoptValue {
  switch (name) {
    case IP_TOS:
      return inp.tos;
    case IP_TTL:
      return inp.ttl;
    case IP_HDRINCL:
      if (!hdrincl) break;
      return inp.flags & INP_HDRINCL ? 1 : 0;
  }
  throw new Errno(ENOPROTOOPT);
}

/* IPPROTO_IPV6 socket options (netinet6/in6.h, NetBSD's numbers). */
export const IPPROTO_IPV6 = 41;
/** Hop limit of unicast packets; -1 restores net.inet6.ip6.hlim. */
export const IPV6_UNICAST_HOPS = 4;
/** Only IPv6 (RFC 3493 §5.3): off, a socket bound to :: takes IPv4 too, as v4-mapped addresses. */
export const IPV6_V6ONLY = 27;
/** Traffic class of what the socket sends (RFC 3542 §6.5); -1 restores 0. */
export const IPV6_TCLASS = 61;

/**
 * ip6_ctloutput (set) for every AF_INET6 PCB. IPV6_V6ONLY changes only
 * before the socket has a port or address (NetBSD: EINVAL after bind),
 * since the port space it was checked against depends on it.
 */
export function in6PcbSetopt(inp: InPcb, name: number, value: SockoptValue): void {
  switch (name) {
    case IPV6_UNICAST_HOPS: {
      const v = optInt(value, -1, 255);
      inp.ttl = v === -1 ? (inp.table.ops6?.defHlim() ?? 64) : v;
      return;
    }
    case IPV6_TCLASS: {
      const v = optInt(value, -1, 255);
      inp.tos = v === -1 ? 0 : v;
      return;
    }
    case IPV6_V6ONLY: {
      const on = optInt(value, -0x80000000, 0x7fffffff) !== 0;
      if (inp.af !== AF_INET6 || inp.lport !== 0 || !in6IsUnspecified(inp.laddr6, 0)) throw new Errno(EINVAL);
      if (on) inp.flags |= INP_IPV6_V6ONLY;
      else inp.flags &= ~INP_IPV6_V6ONLY;
      return;
    }
  }
  throw new Errno(ENOPROTOOPT);
}

/** ip6_ctloutput (get). */
export function in6PcbGetopt(inp: InPcb, name: number): SockoptValue {
  switch (name) {
    case IPV6_UNICAST_HOPS:
      return inp.ttl;
    case IPV6_TCLASS:
      return inp.tos;
    case IPV6_V6ONLY:
      return inp.af === AF_INET6 ? (inp.flags & INP_IPV6_V6ONLY ? 1 : 0) : 0;
  }
  throw new Errno(ENOPROTOOPT);
}
