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
 * or AF_INET6, but its PCBs, methods and lookups are one code for both: an
 * address is an InAddr (in_addr.ts: the IPv6 form as four words, IPv4
 * held v4-mapped, any as ::) and a PCB carries its four-tuple inline
 * (InConnInfo). What differs by family is only what the address belongs
 * to: which addresses are ours (isBindable), the source for a destination
 * (selectSrc) and what "any" means as a destination (resolveAny). What the
 * PCB layer needs from IPv6 itself comes through In6Ops, which the
 * net_netinet6 component supplies: net/inet never imports net/inet6.
 *
 * Dual stack (RFC 3493 §3.7 and §5.3, RFC 4038 §4.2): an AF_INET6 PCB with
 * IPV6_V6ONLY off (INP_IPV6_V6ONLY clear; new PCBs take
 * net.inet6.ip6.v6only, 1 by default as on NetBSD) bound to :: or to a
 * v4-mapped address (::ffff:a.b.c.d) also takes IPv4. The two tables of a
 * protocol are each other's `peer`: IPv4 input that finds nothing in its own
 * table asks lookupBindMapped / lookupConnectMapped (the same lookups on
 * the peer, with the same v4-mapped addresses), and the port checks of
 * either family see the other's dual-stack PCBs (a v6 :: P with V6ONLY off
 * and an IPv4 bind of P conflict, as on NetBSD and Linux).
 */
import { Errno, EADDRINUSE, EADDRNOTAVAIL, EAGAIN, EINVAL, ENETUNREACH, ENOPROTOOPT } from '../../kern/errno.js';
import type { Mbuf } from '../../kern/mbuf.js';
import type { Ifnet } from '../interface.js';
import { AF_INET, AF_INET6, type SockoptValue } from '../../kern/sys.js';
import { SO_REUSEADDR, SO_REUSEPORT, type Socket } from '../socket.js';
import { INADDR_ANY, inAddrIsMulticast } from '../wire/inaddr.js';
import { IN6ADDR_LOOPBACK } from '../wire/in6addr.js';
import { InAddr, InConnInfo, connHashKey } from './in_addr.js';
import { IN_IFF_DUPLICATED, IN_IFF_TENTATIVE, type Inet } from './inet.js';
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
/* InPcb.inPortHash and InPcb.detached, kept in its flags. */
const INP_INPORTHASH = 0x100;
const INP_DETACHED = 0x200;
export const INP_ATTACHED = 0;
export const INP_BOUND = 1;
export const INP_CONNECTED = 2;

/** The lowest port an unprivileged process could bind in BSD (IPPORT_RESERVED). */
export const IPPORT_RESERVED = 1024;

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
  /** RFC 8201: the path to `dst` takes at most `mtu` bytes (ip6_mtudisc.ts); the path MTU now, 0 when that does not apply. */
  pmtuUpdate(dst: Uint8Array, mtu: number): number;
  /** The interface of the route towards `dst`, or null (TCP's TSO: IFCAP_TSOv6). */
  routeIfp(dst: Uint8Array): Ifnet | null;
  /**
   * ip6_output for a transport: `m` holds the upper-layer header and data
   * with headroom; the IPv6 header (addresses read where they lie) is
   * prepended here. Owns `m`; returns 0 or an errno.
   */
  output(m: Mbuf, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, nxt: number, hlim: number, tclass: number): number;
}

/**
 * A PCB: the four-tuple inline (InConnInfo: one address type for both
 * families, IPv4 held v4-mapped, any as ::), the IP options of what it
 * sends, and where the table holds it.
 */
export class InPcb extends InConnInfo {
  /** IP_TTL and IP_TOS, a byte each (bits 0-7, 8-15) of one field behind the accessors below: one field, not two. */
  private ip: number;
  /** INP_HDRINCL | INP_BOUNDADDR | INP_IPV6_V6ONLY, and the two bits behind inPortHash and detached. */
  flags = 0;
  /** INP_ATTACHED, INP_BOUND or INP_CONNECTED: which hash holds it. */
  state = INP_ATTACHED;
  /** In portHash (it has a local port). A bit of `flags` (a field of its own is 8 bytes on every PCB). */
  get inPortHash(): boolean {
    return (this.flags & INP_INPORTHASH) !== 0;
  }

  set inPortHash(on: boolean) {
    this.flags = on ? this.flags | INP_INPORTHASH : this.flags & ~INP_INPORTHASH;
  }

  /** Detached from its table (a bit of `flags`). */
  get detached(): boolean {
    return (this.flags & INP_DETACHED) !== 0;
  }

  set detached(on: boolean) {
    this.flags = on ? this.flags | INP_DETACHED : this.flags & ~INP_DETACHED;
  }

  constructor(
    readonly table: InPcbTable,
    readonly so: Socket,
    /** Protocol number: what a raw socket sends and receives; 17 for UDP. */
    readonly proto: number,
    ttl: number,
  ) {
    super();
    this.ip = ttl & 0xff;
  }

  /** IP_TTL for what this socket sends (IPv6: the hop limit), 0..255. */
  get ttl(): number {
    return this.ip & 0xff;
  }

  set ttl(v: number) {
    this.ip = (this.ip & ~0xff) | (v & 0xff);
  }

  /** IP_TOS for what this socket sends (IPv6: the traffic class), 0..255. */
  get tos(): number {
    return (this.ip >> 8) & 0xff;
  }

  set tos(v: number) {
    this.ip = (this.ip & ~0xff00) | ((v & 0xff) << 8);
  }

  /** AF_INET or AF_INET6 (inp_af): the family of its table and its socket's addresses. */
  get af(): number {
    return this.table.af;
  }

  /**
   * Does this PCB take IPv4? Every AF_INET one; an AF_INET6 one with
   * IPV6_V6ONLY off bound to :: or a v4-mapped address (RFC 3493 §3.7).
   */
  takesV4(): boolean {
    return this.af === AF_INET || ((this.flags & INP_IPV6_V6ONLY) === 0 && this.localIsV4OrAny());
  }
}

/** A multicast address of either family (224/4, ff00::/8). */
export function inAddrMulticast(a: InAddr): boolean {
  return a.isV4() ? inAddrIsMulticast(a.v4()) : a.w0 >>> 24 === 0xff;
}

/** The unspecified address (INADDR_ANY, ::): never written. */
export const INADDR_ANY_ADDR: Readonly<InAddr> = new InAddr();

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
  /** The addresses of the packet its protocol's input is looking up (one packet at a time; never kept). */
  readonly inSrc = new InAddr();
  readonly inDst = new InAddr();
  /* Scratch: connect's addresses, the 16-byte forms In6Ops takes. Never kept. */
  private readonly scratchDst = new InAddr();
  private readonly scratchSrc = new InAddr();
  private readonly bytesA = new Uint8Array(16);
  private readonly bytesB = new Uint8Array(16);

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

  /**
   * Take the PCB out of whichever of bindHash/connHash holds it. The
   * connHash key is its four-tuple's, so a connected PCB leaves before its
   * addresses change (nothing stores the key: one field less per PCB).
   */
  private unhash(inp: InPcb): void {
    if (inp.state === INP_BOUND) {
      const b = this.bindHash.get(inp.lport);
      bucketRemove(b, inp);
      if (b !== undefined && b.length === 0) this.bindHash.delete(inp.lport);
    } else if (inp.state === INP_CONNECTED) {
      const key = inp.connKeyOf();
      const b = this.connHash.get(key);
      if (b === inp) this.connHash.delete(key);
      else if (b !== undefined && b instanceof Array) {
        bucketRemove(b, inp);
        if (b.length === 0) this.connHash.delete(key);
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
      const key = inp.connKeyOf();
      const b = this.connHash.get(key);
      if (b === undefined) this.connHash.set(key, inp);
      else if (b instanceof Array) b.push(inp);
      else this.connHash.set(key, [b, inp]);
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
   * May `addr` be a local IPv4 address? Ours (127/8 included while lo0 is
   * up), a multicast group, or one of our directed broadcast addresses
   * (BSD's ifa_ifwithaddr matches those on broadcast interfaces).
   */
  isBindableV4(addr: number): boolean {
    if (addr === INADDR_ANY || inAddrIsMulticast(addr)) return true;
    const inet = this.inet;
    const a = inet.addrs;
    // NetBSD's in_pcbbind_addr: an address still in DAD (tentative, RFC
    // 5227) or found duplicated is not one to bind to (EADDRNOTAVAIL).
    for (let i = 0; i < a.length; i++) if (a[i]!.addr === addr) return !(a[i]!.flags & (IN_IFF_TENTATIVE | IN_IFF_DUPLICATED));
    if (inet.isLocal(addr)) return true;
    for (let i = 0; i < a.length; i++) if (a[i]!.broadaddr !== 0 && a[i]!.broadaddr === addr) return true;
    return false;
  }

  /**
   * May `a` be a local address of a PCB of this table? IPv4 (or any) in an
   * AF_INET table; in an AF_INET6 one ::, multicast, or ours (a v4-mapped
   * address is bind's business: it needs IPV6_V6ONLY off).
   */
  isBindable(a: InAddr): boolean {
    if (this.af === AF_INET) return a.isV4OrAny() && this.isBindableV4(a.v4());
    if (a.isAny() || inAddrMulticast(a)) return true;
    if (a.isV4()) return this.isBindableV4(a.v4());
    a.store(this.bytesA, 0);
    return this.ops6 !== null && this.ops6.isLocal(this.bytesA);
  }

  /**
   * in_pcbbind / in6_pcbbind: give the PCB a local address and port. Port 0
   * picks an ephemeral port. Throws EINVAL when already bound (or, on an
   * AF_INET6 PCB with IPV6_V6ONLY on, for a v4-mapped address, as NetBSD
   * answers), EADDRNOTAVAIL for an address that is not ours, EADDRINUSE per
   * the reuse rules below, EAGAIN when the ephemeral range is exhausted.
   * Ports below 1024 need no privilege: a rump kernel's caller is root. A
   * dual-stack PCB's port must be free for IPv4 too.
   */
  bind(inp: InPcb, laddr: InAddr, lport: number): void {
    if (inp.lport !== 0 || !inp.localIsAny()) throw new Errno(EINVAL);
    const dual = this.af === AF_INET6 && (inp.flags & INP_IPV6_V6ONLY) === 0;
    if (this.af === AF_INET6 && laddr.isV4() && !dual) throw new Errno(EINVAL);
    if (!this.isBindable(laddr)) throw new Errno(EADDRNOTAVAIL);
    if (lport === 0) lport = this.pickPort(laddr, dual);
    else this.checkPortFree(inp.so, laddr, lport, dual);
    this.unhash(inp);
    inp.setLocal(laddr);
    inp.lport = lport | 0;
    if (!laddr.isAny()) inp.flags |= INP_BOUNDADDR;
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
  private checkPortFree(so: Socket, laddr: InAddr, lport: number, dual: boolean): void {
    let reuseport = so.options & SO_REUSEPORT;
    if (inAddrMulticast(laddr) && so.options & SO_REUSEADDR) reuseport = SO_REUSEADDR | SO_REUSEPORT;
    const wild = (so.options & (SO_REUSEADDR | SO_REUSEPORT)) === 0;
    const t = this.lookupPort(laddr, lport, wild, dual);
    if (t !== null && (reuseport & t.so.options) === 0) throw new Errno(EADDRINUSE);
  }

  /**
   * in_pcblookup_port: the PCB on `lport` that best matches `laddr`, counting
   * a wildcard for each side that is any where the other is not and for a
   * connected PCB; fewest wildcards wins. With `wild` false only exact
   * matches (no wildcard) count. The other family's table counts too where
   * the port is shared: in an IPv4 table, the dual-stack IPv6 PCBs (they
   * hold the port for IPv4 too); in an IPv6 table, for a `dual` PCB bound
   * to :: or a v4-mapped address, the IPv4 PCBs.
   */
  lookupPort(laddr: InAddr, lport: number, wild: boolean, dual = false): InPcb | null {
    let match: InPcb | null = null;
    let matchwild = 3;
    const s = this.onPort(lport);
    if (s !== undefined) {
      for (const inp of s) {
        const wildcard = portWildcards(inp, laddr, wild);
        if (wildcard >= 0 && wildcard < matchwild) {
          match = inp;
          matchwild = wildcard;
          if (wildcard === 0) return match;
        }
      }
    }
    const peer = this.peer;
    if (peer === null || (this.af === AF_INET6 && !(dual && laddr.isV4OrAny()))) return match;
    const ps = peer.onPort(lport);
    if (ps !== undefined) {
      for (const inp of ps) {
        if (!inp.takesV4()) continue;
        const wildcard = portWildcards(inp, laddr, wild);
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
   * overlapping `laddr` holds. Randomness comes only from the host
   * (kernel.host.random32), so the sim host makes it reproducible.
   */
  pickPort(laddr: InAddr, dual = false): number {
    const min = this.inet.anonPortMin;
    const max = this.inet.anonPortMax;
    const n = max - min + 1;
    let next = min + (this.inet.kernel.host.random32() % n);
    for (let count = n; count > 0; count--) {
      if (this.lookupPort(laddr, next, true, dual) === null) return next;
      next = next === max ? min : next + 1;
    }
    // NetBSD's portalgo returns EAGAIN when every port of the range is taken.
    throw new Errno(EAGAIN);
  }

  /**
   * The source address for `dst` into `out` (in_selectsrc, in6_selectsrc):
   * by the route of the destination's family. False when nothing routes there.
   */
  selectSrc(dst: InAddr, out: InAddr): boolean {
    if (dst.isV4OrAny()) {
      const a = inSelectSrc(this.inet, dst.v4());
      out.setV4(a);
      return a !== 0;
    }
    dst.store(this.bytesA, 0);
    if (this.ops6 === null || !this.ops6.selectSrc(this.bytesA, this.bytesB)) return false;
    out.load(this.bytesB, 0);
    return true;
  }

  /**
   * in_pcbconnect / in6_pcbconnect: fix the foreign address and port, choose
   * the local address from the route unless bound to one, and bind an
   * ephemeral port if the PCB has none. A destination of any means this
   * host (resolveAny). Throws EADDRNOTAVAIL for port 0, ENETUNREACH without
   * a route, EADDRINUSE when the four-tuple is taken. An AF_INET6 PCB may
   * connect to a v4-mapped address (RFC 3493 §3.7: the association is
   * IPv4, its source from the IPv4 route, its port free for IPv4 too) only
   * with IPV6_V6ONLY off and not bound to an IPv6 address; mapped to real
   * IPv6 or the reverse is EINVAL, as NetBSD answers.
   */
  connect(inp: InPcb, faddr: InAddr, fport: number): void {
    let dual = false;
    if (this.af === AF_INET6 && (faddr.isV4() || inp.localIsV4())) {
      if (!faddr.isV4() || !inp.takesV4()) throw new Errno(EINVAL);
      dual = true;
    }
    if (fport === 0) throw new Errno(EADDRNOTAVAIL);
    const dst = this.resolveAny(faddr, this.scratchDst);
    const src = this.scratchSrc;
    if (inp.localIsAny()) {
      if (!this.selectSrc(dst, src)) throw new Errno(ENETUNREACH);
    } else {
      inp.localInto(src);
    }
    if (inp.lport !== 0 && this.lookupConnect(dst, fport, src, inp.lport) !== null) throw new Errno(EADDRINUSE);
    if (inp.lport === 0) {
      // BSD binds the wildcard address first, then fills in the source.
      inp.lport = this.pickPort(INADDR_ANY_ADDR, dual) | 0;
      this.addToPortHash(inp);
    }
    this.unhash(inp);
    inp.setLocal(src);
    inp.setForeign(dst);
    inp.fport = fport | 0;
    this.setState(inp, INP_CONNECTED);
  }

  /**
   * A destination of any means this host: for IPv4 BSD's in_pcbconnect
   * substitutes the first configured address (127.0.0.1 on a rump kernel,
   * where lo0 is configured first); for IPv6 NetBSD substitutes ::1.
   * Returns `faddr` itself, or `out` holding the substitute.
   */
  resolveAny(faddr: InAddr, out: InAddr): InAddr {
    if (!faddr.isAny()) return faddr;
    if (this.af === AF_INET6) return out.load(IN6ADDR_LOOPBACK, 0);
    const first = this.inet.addrs[0];
    return out.setV4(first !== undefined ? first.addr : INADDR_ANY);
  }

  /** in_pcbdisconnect: forget the foreign side; keep an address bind() chose. */
  disconnect(inp: InPcb): void {
    this.unhash(inp);
    inp.clearAddrs((inp.flags & INP_BOUNDADDR) !== 0);
    this.setState(inp, inp.lport !== 0 ? INP_BOUND : INP_ATTACHED);
  }

  /**
   * Put a PCB straight into the connection hash with this four-tuple, beside
   * a listener on the same port (in_pcbinshash after syncache_socket set
   * the addresses; or a connect that chose its own port).
   */
  insertConnected(inp: InPcb, laddr: InAddr, lport: number, faddr: InAddr, fport: number): void {
    this.unhash(inp);
    inp.setLocal(laddr);
    // `| 0`: a port computed in floating point (a hash modulo the range) is
    // a heap number; stored as one it would turn the field into a boxed
    // double in every PCB (16 bytes each). Ports are small integers.
    inp.lport = lport | 0;
    inp.setForeign(faddr);
    inp.fport = fport | 0;
    if (!inp.inPortHash) this.addToPortHash(inp);
    this.setState(inp, INP_CONNECTED);
  }

  /**
   * Give a fresh PCB the local address and port another table's PCB held
   * (a dual-stack IPv6 socket connecting to a v4-mapped address moves to
   * the IPv4 table). No conflict check: the dual-stack bind checked the
   * port against this table already.
   */
  adoptBound(inp: InPcb, laddr: InAddr, lport: number): void {
    this.unhash(inp);
    inp.setLocal(laddr);
    inp.lport = lport;
    if (!laddr.isAny()) inp.flags |= INP_BOUNDADDR;
    this.addToPortHash(inp);
    this.setState(inp, INP_BOUND);
  }

  /** in_pcblookup_connect: the connected PCB with exactly this four-tuple. */
  lookupConnect(faddr: InAddr, fport: number, laddr: InAddr, lport: number): InPcb | null {
    const b = this.connHash.get(connHashKey(faddr, fport, laddr, lport));
    if (b === undefined) return null;
    if (!(b instanceof Array)) return b.is(faddr, fport, laddr, lport) ? b : null;
    for (let i = 0; i < b.length; i++) if (b[i]!.is(faddr, fport, laddr, lport)) return b[i]!;
    return null;
  }

  /**
   * in_pcblookup_bind: an unconnected PCB on `lport` bound to `laddr`,
   * else one bound to any (the more specific binding wins). With `v4`,
   * only PCBs that take IPv4 (a dual-stack IPv6 table asked for IPv4).
   */
  lookupBind(laddr: InAddr, lport: number, v4 = false): InPcb | null {
    const b = this.bindHash.get(lport);
    if (b === undefined) return null;
    let wildcard: InPcb | null = null;
    for (let i = 0; i < b.length; i++) {
      const inp = b[i]!;
      if (v4 && !inp.takesV4()) continue;
      if (inp.localIs(laddr)) return inp;
      if (wildcard === null && inp.localIsAny()) wildcard = inp;
    }
    return wildcard;
  }

  /**
   * IPv4 input's last resort (NetBSD tcp_input/udp_input's "mapped addr
   * case"): an unconnected dual-stack PCB of the IPv6 peer table on `lport`
   * bound to ::ffff:`laddr`, else to ::.
   */
  lookupBindMapped(laddr: InAddr, lport: number): InPcb | null {
    return this.af === AF_INET && this.peer !== null ? this.peer.lookupBind(laddr, lport, true) : null;
  }

  /** A dual-stack IPv6 PCB of the peer table connected to ::ffff:`faddr` from ::ffff:`laddr`. */
  lookupConnectMapped(faddr: InAddr, fport: number, laddr: InAddr, lport: number): InPcb | null {
    const peer = this.peer;
    if (this.af !== AF_INET || peer === null || peer.connHash.size === 0) return null;
    const inp = peer.lookupConnect(faddr, fport, laddr, lport);
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
  notify(faddr: InAddr, fport: number, laddr: InAddr, lport: number, errno: number): number {
    if (faddr.isAny() || errno === 0) return 0;
    const inp = this.lookupConnect(faddr, fport, laddr, lport);
    if (inp === null) return 0;
    inp.so.setError(errno);
    return 1;
  }

  /** in_pcbnotifyall: report `errno` to every socket connected to `faddr`. */
  notifyAll(faddr: InAddr, errno: number): number {
    if (faddr.isAny() || errno === 0) return 0;
    let n = 0;
    for (const inp of this.all) {
      if (inp.foreignIs(faddr) && inp.state === INP_CONNECTED) {
        inp.so.setError(errno);
        n++;
      }
    }
    return n;
  }
}

/**
 * lookupPort's count for one PCB against a wanted local address: the
 * wildcards, or -1 when the addresses differ or `wild` is off and it is
 * not exact.
 */
function portWildcards(inp: InPcb, laddr: InAddr, wild: boolean): number {
  let wildcard = inp.foreignIsAny() ? 0 : 1;
  if (inp.localIsAny()) {
    if (!laddr.isAny()) wildcard++;
  } else if (laddr.isAny()) {
    wildcard++;
  } else if (!inp.localIs(laddr)) {
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
      if (inp.af !== AF_INET6 || inp.lport !== 0 || !inp.localIsAny()) throw new Errno(EINVAL);
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
