/*
 * The per-kernel state of the IPv6 family (net_netinet6, NetBSD's
 * sys/netinet6): addresses, the next-header switch (ip6_protox), the
 * routing table, the neighbor cache, and the counters `netstat -s` shows
 * under ip6:, icmp6: and nd6. One Inet6 per kernel, passed as a parameter.
 *
 * Call order:
 *   in:  etherInput (ETHERTYPE_IPV6) / lo0 (AF_INET6) → ip6Input (ip6_input.ts)
 *          → extension headers → protox[nxt] (icmp6Input, TCP's tcpInput6)
 *   out: TCP (through In6Ops) / icmp6 / nd6 → ip6Output (ip6_output.ts)
 *          → rt6 lookup → source → hop limit → ifp.output
 *          → etherOutput → nd6Resolve (nd6.ts) → driver
 */
import type { Callout } from '../../kern/callout.js';
import { defineKernelState, type Kernel } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import type { Ifnet } from '../interface.js';
import type { NetStack } from '../netstack.js';
import type { Inet } from '../inet/inet.js';
import type { InPcbTable } from '../inet/in_pcb.js';
import { in6Equal, in6IsLoopback, in6PrefixEqual } from '../wire/in6addr.js';
import { IPV6_DEFHLIM } from '../wire/ipv6.js';
import { Route6Table, type Rtentry6 } from './route6.js';
import type { RedirectRoutes } from '../redirect_routes.js';
import type { PmtuRoutes } from '../pmtu_routes.js';

/* in6_ifaddr flags (netinet6/in6_var.h). */
/** The address is still being checked for duplicates (RFC 4862 §5.4, nd6_dad.ts). */
export const IN6_IFF_TENTATIVE = 0x02;
/** DAD found another node using it: unusable until removed. */
export const IN6_IFF_DUPLICATED = 0x04;
/** The interface is down: the address waits, and checks again when it comes up (NetBSD 8's in6_if_down). */
export const IN6_IFF_DETACHED = 0x08;
/** Do not perform DAD (asked for when the address is added; never kept on it). */
export const IN6_IFF_NODAD = 0x20;
/** Not to be used as a source, bound, or answered for (IN6_IFF_NOTREADY). */
export const IN6_IFF_NOTREADY = IN6_IFF_TENTATIVE | IN6_IFF_DUPLICATED;

/** The state of a running Duplicate Address Detection (nd6_dad.ts, NetBSD's struct dadq). */
export interface Dad6 {
  readonly inet6: Inet6;
  readonly timer: Callout<In6Ifaddr>;
  /** Probes sent, solicitations and advertisements heard for the address. */
  sent: number;
  nsIn: number;
  naIn: number;
}

/** An IPv6 address on an interface (struct in6_ifaddr). */
export class In6Ifaddr {
  /** DAD while it runs, else null. */
  dad: Dad6 | null = null;
  constructor(
    readonly ifp: Ifnet,
    /** The address (its own 16 bytes). */
    readonly addr: Uint8Array,
    public prefixLen: number,
    public flags: number,
  ) {}
  get family(): number {
    return 24;
  }
}

/**
 * An upper-layer protocol's input (pr_input): `m` starts at the IPv6
 * header, its header at `off` bytes into `m` (after the extension headers).
 * The protocol owns `m`.
 */
export type Proto6Input = (inet6: Inet6, m: Mbuf, off: number) => void;

/**
 * An ICMPv6 error for a protocol (pr_ctlinput): `errno` as icmp6 maps it,
 * the ICMPv6 type and code, and the quoted packet in `buf`: its IPv6 header
 * at `ip6off`, the protocol's header at `uloff`, the quote ending at `end`.
 * `mtu` is the MTU of a packet too big.
 */
export type Proto6CtlInput = (
  inet6: Inet6, errno: number, type: number, code: number, buf: Uint8Array, ip6off: number, uloff: number, end: number, mtu: number,
) => void;

/** struct ip6stat (NetBSD's names without the ip6s_ prefix; netstat -s "ip6:"). */
export class Ip6Stat {
  total = 0; tooshort = 0; toosmall = 0; fragments = 0; fragdropped = 0; fragtimeout = 0; fragoverflow = 0;
  forward = 0; cantforward = 0; redirectsent = 0; delivered = 0; localout = 0; odropped = 0; reassembled = 0;
  fragmented = 0; ofragments = 0; cantfrag = 0; badoptions = 0; noroute = 0; badvers = 0; rawout = 0;
  badscope = 0; notmember = 0; nogif = 0; toomanyhdr = 0;
  /** Packets for an upper-layer protocol nobody handles (answered with parameter problem). */
  noproto = 0;
  /** Source or destination not acceptable on the wire (multicast or unspecified source, ::1 off lo0). */
  badaddr = 0;
  /** Payload too big for a link below IPv6's minimum MTU (what cannot be fragmented for it). */
  toobig = 0;
}

/** struct icmp6stat (icp6s_*); histograms per type (0..255). */
export class Icmp6Stat {
  error = 0; canterror = 0; toofreq = 0; badcode = 0; tooshort = 0; checksum = 0; badlen = 0; reflect = 0;
  /** Malformed Neighbor Discovery messages (icp6s_badns, icp6s_badna). */
  badns = 0; badna = 0;
  /** Router solicitations and advertisements (and redirects a router or rediraccept=0 ignores): not acted on here. */
  nd_ignored = 0;
  /** Redirects that failed RFC 4861 §8.1's checks (icp6s_badredirect). */
  badredirect = 0;
  /** Redirects not acted on because REDIRECT_MAX_ROUTES routes made by redirects exist. */
  redirfull = 0;
  readonly outhist: number[] = new Array(256).fill(0);
  readonly inhist: number[] = new Array(256).fill(0);
}

/** Neighbor Discovery counters (a subset of NetBSD's nd6 statistics). */
export class Nd6Stat {
  /** Neighbor solicitations and advertisements sent and received. */
  ns_out = 0; na_out = 0; ns_in = 0; na_in = 0;
  /** Solicitations for an address that is not ours. */
  ns_notours = 0;
  /** Packets dropped waiting for resolution (hold queue full, resolution failed). */
  dropped = 0;
  /** Entries that gave up after the retransmissions (RFC 4861 §7.3.3 INCOMPLETE → gone). */
  timeouts = 0;
  /** Cache entries refused for lack of room. */
  allocfail = 0;
  /** Entries collected because an interface's cache reached net.inet6.ip6.neighborgcthresh. */
  gcollected = 0;
  /** Advertisements from another node for one of our addresses. */
  duplicates = 0;
  /** Duplicate Address Detection: probes sent, addresses found duplicated, addresses that passed. */
  dad_out = 0; dad_duplicated = 0; dad_done = 0;
}

export class Inet6 {
  /** Every IPv6 address, in the order assigned. */
  readonly addrs: In6Ifaddr[] = [];
  /** ip6_protox: upper-layer input by next header. */
  readonly protox: Array<Proto6Input | undefined> = new Array(256);
  readonly ctlinput: Array<Proto6CtlInput | undefined> = new Array(256);
  readonly ip6stat = new Ip6Stat();
  readonly icmp6stat = new Icmp6Stat();
  readonly nd6stat = new Nd6Stat();
  /** The IPv6 routing table. */
  readonly rt6 = new Route6Table();
  /**
   * The next hop of the packet being handed to ifp.output. Ifnet.output
   * takes IPv4's next hop as a number (NetBSD passes a sockaddr); IPv6's
   * travels here, set by ip6Output immediately before that synchronous
   * call and read by nd6Resolve within it.
   */
  readonly nexthop = new Uint8Array(16);
  /** TCP's AF_INET6 PCBs (the same table as tcp.tcbtable6). */
  tcbtable: InPcbTable | null = null;

  /* Tunables (sysctl net.inet6.*); NetBSD's defaults. */
  /** net.inet6.ip6.forwarding: forward packets not for us (ip6_forward.ts). */
  forwarding = 0;
  /** net.inet6.ip6.redirect: a router sends redirects (RFC 4861 §8.2), NetBSD's default 1. */
  sendRedirects = 1;
  /** net.inet6.icmp6.rediraccept: a host acts on redirects (§8.3), NetBSD's default 1. */
  redirAccept = 1;
  /** net.inet6.icmp6.redirtimeout: seconds a route made by a redirect lives (NetBSD's 600; 0: forever). */
  redirTimeout = 600;
  /** The host routes redirects made (icmp6_redirect.ts), bounded and expiring; made on first use. */
  redirects: RedirectRoutes<Uint8Array, Rtentry6> | null = null;
  /** The routes holding path MTUs (ip6_mtudisc.ts); made on first use. */
  pmtu: PmtuRoutes<Uint8Array, Rtentry6> | null = null;
  /** net.inet6.ip6.dad_count: DAD probes per new address (RFC 4862 DupAddrDetectTransmits), NetBSD's 1. */
  dadCount = 1;
  /** net.inet6.ip6.auto_linklocal: an interface coming up gets its fe80:: address (in6_ifattach). */
  autoLinklocal = 1;
  /** net.inet6.ip6.hlim */
  defhlim = IPV6_DEFHLIM;
  /** net.inet6.ip6.v6only: new AF_INET6 sockets start IPV6_V6ONLY (NetBSD's default 1). */
  v6only = 1;
  /** net.inet6.icmp6.errppslimit: ICMPv6 errors per second (NetBSD 100; -1: no limit). */
  icmp6ErrPpsLimit = 100;
  /** The rate limiter's state. */
  errSecond = -1;
  errCount = 0;

  constructor(
    readonly kernel: Kernel,
    readonly ns: NetStack,
    readonly inet: Inet,
  ) {}

  /** The address `addr` on `ifp`, if any. */
  ifaddrOn(ifp: Ifnet, addr: Uint8Array, off = 0): In6Ifaddr | null {
    for (const ia of this.addrs) if (ia.ifp === ifp && in6Equal(ia.addr, 0, addr, off)) return ia;
    return null;
  }

  /**
   * Our address equal to b[off] on any interface (the weak host model), or
   * null. A tentative or duplicated address is not ours yet (RFC 4862
   * §5.4: packets to it are dropped, it is not bound or used as a source).
   */
  findLocal(b: Uint8Array, off: number): In6Ifaddr | null {
    const a = this.addrs;
    for (let i = 0; i < a.length; i++) {
      const ia = a[i]!;
      if (in6Equal(ia.addr, 0, b, off) && (ia.flags & IN6_IFF_NOTREADY) === 0) return ia;
    }
    return null;
  }

  /** Is b[off] one of ours (::1 counts while lo0 is up)? */
  isLocal(b: Uint8Array, off: number): boolean {
    if (this.findLocal(b, off) !== null) return true;
    return in6IsLoopback(b, off) && this.ns.lo0 !== null && this.ns.lo0.isUp;
  }

  /** The usable address of `ifp` sharing the longest prefix with `dst` (ties: the first), else null. */
  bestAddrOn(ifp: Ifnet, dst: Uint8Array, dOff: number): In6Ifaddr | null {
    let best: In6Ifaddr | null = null;
    for (const ia of this.addrs) {
      if (ia.ifp !== ifp || ia.flags & IN6_IFF_NOTREADY) continue;
      if (in6PrefixEqual(ia.addr, 0, dst, dOff, ia.prefixLen)) return ia;
      best ??= ia;
    }
    return best;
  }
}

export const INET6 = defineKernelState<Inet6>('IPv6 (component net_netinet6)');

export function inet6(k: Kernel): Inet6 {
  return INET6.get(k);
}
