/*
 * The per-kernel state of the IPv4 family (net_netinet): addresses, the
 * protocol switch (ip_protox), and every counter `netstat -s` shows. One Inet
 * per kernel; protocol code receives it as a parameter, never as a global.
 *
 * Call order (lwIP-style header):
 *   in:  etherInput → ipInput (ip_input.ts) → [reassembly] → protox[p] (icmpInput, udpInput, rawInput)
 *        etherInput → arpInput (arp.ts)
 *   out: udpOutput / icmp / raw → ipOutput (ip_output.ts) → route lookup → [fragment] → ifp.output
 *        → etherOutput → arpResolve → driver
 */
import { defineKernelState, type Kernel } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import type { Ifnet } from '../interface.js';
import type { NetStack } from '../netstack.js';
import type { Rtentry } from '../route.js';
import type { RedirectRoutes } from '../redirect_routes.js';
import type { PmtuRoutes } from '../pmtu_routes.js';
import { InPcbTable } from './in_pcb.js';
import type { Tcp } from './tcp/var.js';

/** An IPv4 address on an interface (struct in_ifaddr). Addresses are u32. */
/* IPv4 address flags (NetBSD netinet/in_var.h IN_IFF_*): duplicate address detection's states. */
export const IN_IFF_TENTATIVE = 0x01;
export const IN_IFF_DUPLICATED = 0x02;
export const IN_IFF_DETACHED = 0x04;

export class InIfaddr {
  /** IN_IFF_* (ia4_flags). */
  flags = 0;
  /** Duplicate address detection while it runs (arp_dad.ts), else null. */
  dad: { timer: { reset(ms: number): void; stop(): void }; sent: number; announced: number } | null = null;
  constructor(
    readonly ifp: Ifnet,
    public addr: number,
    public mask: number,
    public prefixLen: number,
    /** Directed broadcast address, 0 on interfaces without IFF_BROADCAST. */
    public broadaddr: number,
  ) {}
  get family(): number {
    return 2;
  }
  /** The subnet (ia_subnet). */
  get subnet(): number {
    return (this.addr & this.mask) >>> 0;
  }
}

/**
 * A transport protocol's input (pr_input): `m` starts at the IP header,
 * `hlen` is the IP header length. The protocol owns `m`.
 */
export type ProtoInput = (inet: Inet, m: Mbuf, hlen: number) => void;

/**
 * A transport protocol's ICMP error notification (pr_ctlinput): `cmd` is the
 * errno to report (ECONNREFUSED for port unreachable, EHOSTUNREACH, EMSGSIZE
 * with `mtu` for fragmentation needed), addresses and ports from the quoted
 * header.
 */
/*
 * (The ICMP header is the 8 bytes in front of `quotedOff` in `quoted`, so a
 * protocol can tell a time-exceeded from a host-unreachable.)
 */
export type ProtoCtlInput = (inet: Inet, errno: number, src: number, dst: number, quoted: Uint8Array, quotedOff: number, quotedLen: number, mtu: number) => void;

/** BSD's struct ipstat (netstat -s "ip:"). */
export class IpStat {
  total = 0; badsum = 0; tooshort = 0; toosmall = 0; badhlen = 0; badlen = 0; fragments = 0;
  fragdropped = 0; fragtimeout = 0; forward = 0; fastforward = 0; cantforward = 0; redirectsent = 0;
  noproto = 0; delivered = 0; localout = 0; odropped = 0; reassembled = 0; fragmented = 0;
  ofragments = 0; cantfrag = 0; badoptions = 0; noroute = 0; badvers = 0; rawout = 0;
  toolong = 0; notmember = 0; nogif = 0; badaddr = 0;
  /** Malformed fragments dropped (ips_badfrags): MF set with a length not a multiple of 8, empty. */
  badfrags = 0;
}

/** struct icmpstat. `outhist`/`inhist` are per ICMP type. */
export class IcmpStat {
  error = 0; oldshort = 0; oldicmp = 0; badcode = 0; tooshort = 0; checksum = 0; badlen = 0;
  reflect = 0; bmcastecho = 0; ratelimit = 0;
  /** Replies not sent for a bad return address (icps_badaddr): source 0, broadcast or multicast. */
  badaddr = 0;
  /** Redirects not acted on: not from our router for the destination, a gateway off the link (icps_badredirect). */
  badredirect = 0;
  /** Redirects not acted on because REDIRECT_MAX_ROUTES routes made by redirects exist. */
  redirfull = 0;
  readonly outhist: number[] = new Array(41).fill(0);
  readonly inhist: number[] = new Array(41).fill(0);
}

/** struct udpstat. */
export class UdpStat {
  ipackets = 0; hdrops = 0; badsum = 0; badlen = 0; noport = 0; noportbcast = 0; fullsock = 0;
  pcbhashmiss = 0; opackets = 0;
}

/**
 * struct tcpstat (BSD names without the tcps_ prefix; netstat -s "tcp:").
 * Every drop on the TCP input path bumps one of these.
 */
export class TcpStat {
  connattempt = 0; accepts = 0; connects = 0; drops = 0; conndrops = 0; closed = 0;
  segstimed = 0; rttupdated = 0; delack = 0; timeoutdrop = 0; rexmttimeo = 0;
  persisttimeo = 0; keeptimeo = 0; keepprobe = 0; keepdrops = 0;
  sndtotal = 0; sndpack = 0; sndbyte = 0; sndrexmitpack = 0; sndrexmitbyte = 0;
  sndacks = 0; sndprobe = 0; sndurg = 0; sndwinup = 0; sndctrl = 0;
  rcvtotal = 0; rcvpack = 0; rcvbyte = 0; rcvbadsum = 0; rcvbadoff = 0; rcvshort = 0;
  rcvduppack = 0; rcvdupbyte = 0; rcvpartduppack = 0; rcvpartdupbyte = 0;
  rcvoopack = 0; rcvoobyte = 0; rcvpackafterwin = 0; rcvbyteafterwin = 0;
  /** Out-of-order segments dropped because the reassembly queue was full (FreeBSD tcps_rcvreassfull). */
  rcvreassfull = 0;
  rcvafterclose = 0; rcvwinprobe = 0; rcvdupack = 0; rcvacktoomuch = 0;
  rcvackpack = 0; rcvackbyte = 0; rcvwinupd = 0; pawsdrop = 0;
  predack = 0; preddat = 0; persistdrops = 0; badsyn = 0;
  /** Segments for no connection or listener (tcps_noport). */
  noport = 0;
  /** Exact-match lookups that missed and fell back to the listeners (tcps_pcbhashmiss). */
  pcbhashmiss = 0;
  /** Segments with malformed options, dropped. */
  rcvbadopt = 0;
  /** Segments that were not acceptable (RFC 9293 §3.10.7.4) or otherwise dropped after an ACK. */
  rcvnotacceptable = 0;
  /** Connections whose path MTU an ICMP "fragmentation needed" lowered. */
  mturesent = 0;
  /** Fast retransmits (3 dup ACKs or SACK loss detection). */
  fastrexmit = 0;
  /** Limited transmit segments sent (RFC 3042). */
  limitedtransmit = 0;
  /** NewReno partial ACKs (RFC 6582). */
  newreno_partialack = 0;
  /** ECN (RFC 3168): CE and ECT marks received, ECT(0) segments sent, cwnd reductions for ECE (FreeBSD tcps_ecn_*). */
  ecn_ce = 0; ecn_ect = 0; ecn_ect0 = 0; ecn_rcwnd = 0;
  /** TCP over UDP (tunnel.ts): segments received and sent in UDP, and dropped for coming the wrong way. */
  udp_tunnel_rcv = 0; udp_tunnel_snd = 0; udp_tunnel_badport = 0;
  sc_added = 0; sc_completed = 0; sc_timed_out = 0; sc_overflowed = 0; sc_reset = 0;
  sc_unreach = 0; sc_bucketoverflow = 0; sc_aborted = 0; sc_dupesyn = 0; sc_dropped = 0;
  sc_collisions = 0; sc_retransmitted = 0; sc_delayed_free = 0; sc_sendcookie = 0;
  sc_recvcookie = 0;
  /** Cookies that did not validate (FreeBSD tcps_sc_spurcookie). */
  sc_badcookie = 0;
  sack_recovery_episode = 0; sack_rexmits = 0; sack_rexmit_bytes = 0; sack_rcv_blocks = 0;
  sack_send_blocks = 0;
  /** D-SACK blocks received (RFC 2883). */
  dsack_rcv = 0;
  /** Challenge ACKs sent (RFC 5961 §3, §4) and those the rate limit held back. */
  challenge_ack = 0;
  challenge_ack_limited = 0;
  /** ACKs for dropped out-of-window segments the same limit held back (NetBSD's tcp_ackdrop_ppslim). */
  dropafterack_limited = 0;
  /** RSTs sent and RSTs not sent because of rate limiting or blackhole. */
  sndrst = 0;
  rstlimited = 0;
  /** Segments for a TIME_WAIT connection acknowledged or dropped there. */
  tw_acks = 0;
  /** TIME_WAIT connections reopened by a new SYN (RFC 6191) or recycled by a connect. */
  tw_reuse = 0;
  /** ICMP errors acted on and ignored (quoted sequence not SND.UNA, RFC 5927). */
  icmp_honoured = 0;
  icmp_ignored = 0;
}

/** ARP counters (NetBSD arpstat). */
export class ArpStat {
  snd_request = 0; snd_reply = 0; rcv_request = 0; rcv_reply = 0; rcv_badproto = 0; rcv_badlen = 0;
  rcv_badaddr = 0; rcv_ours = 0; rcv_mcast = 0; rcv_bcast_sha = 0; rcv_lladdr_changed = 0;
  dfrsent = 0; dfrdropped = 0; allocfail = 0; rcv_total = 0; timeouts = 0; ratelimit = 0;
  /** Someone else sent our IP address as theirs (arps_rcvlocalspa, "duplicate IP address"). */
  rcv_localspa = 0;
}

export class Inet {
  /** Every IPv4 address, in the order assigned. */
  readonly addrs: InIfaddr[] = [];
  /** ip_protox: input by protocol number. */
  readonly protox: Array<ProtoInput | undefined> = new Array(256);
  /** ctlinput by protocol number (ICMP errors to UDP/TCP). */
  readonly ctlinput: Array<ProtoCtlInput | undefined> = new Array(256);
  readonly ipstat = new IpStat();
  readonly icmpstat = new IcmpStat();
  readonly udpstat = new UdpStat();
  readonly arpstat = new ArpStat();

  /* Tunables (sysctl net.inet.*); defaults as NetBSD's. */
  /** net.inet.ip.forwarding */
  forwarding = 0;
  /** net.inet.ip.redirect: a router sends ICMP redirects (ip_redirect.ts), NetBSD's default 1. */
  sendRedirects = 1;
  /** net.inet.icmp.rediraccept: a host takes them, NetBSD's default 1. */
  redirAccept = 1;
  /** net.inet.icmp.redirtimeout: seconds a route made by a redirect lives (NetBSD's 600; 0: forever). */
  redirTimeout = 600;
  /** The host routes redirects made (ip_redirect.ts), bounded and expiring; made on first use. */
  redirects: RedirectRoutes<number, Rtentry> | null = null;
  /** net.inet.ip.mtudisc: DF on TCP segments and path MTUs from ICMP (ip_mtudisc.ts), NetBSD's default 1. */
  mtudisc = 1;
  /** net.inet.ip.mtudisctimeout: seconds a learnt path MTU holds (NetBSD's 600). */
  mtudiscTimeout = 600;
  /** The routes holding path MTUs (ip_mtudisc.ts); made on first use. */
  pmtu: PmtuRoutes<number, Rtentry> | null = null;
  /** net.inet.ip.ttl */
  defttl = 64;
  /** net.inet.arp.keep: seconds a resolved entry lives (NetBSD: 20 minutes). */
  arpKeep = 1200;
  /** net.inet.icmp.errppslimit: ICMP errors per second (ratecheck), NetBSD default 100. */
  icmpErrPpsLimit = 100;
  /** net.inet.icmp.bmcastecho: answer echo and timestamp requests sent to a broadcast or multicast address (NetBSD's default 0). */
  bmcastecho = 0;
  /** net.inet.ip.directed-broadcast: forward datagrams to a subnet's broadcast address (RFC 2644: default off). */
  directedBroadcast = 0;
  /** net.inet.ip.allowsrcrt: act on source-routed datagrams at all (RFC 7126 §4.3: default off, as NetBSD). */
  allowSrcrt = 0;
  /** net.inet.ip.forwsrcrt: forward source-routed datagrams (NetBSD's default 0). */
  forwSrcrt = 0;
  /** net.inet.ip.dad_count: ARP probes per new address (RFC 5227 PROBE_NUM), NetBSD's 3; 0: no DAD. */
  dadCount = 3;

  /** IP id counter for outgoing datagrams. */
  ipId = 0;

  /* The transport side (in_pcb.ts, udp.ts, raw_ip.ts, domain.ts). */
  /** net.inet.ip.anonportmin / anonportmax: the ephemeral port range (RFC 6056 §2.1). */
  anonPortMin = 49152;
  anonPortMax = 65535;
  /** net.inet.udp.sendspace / recvspace: default UDP socket buffer sizes (NetBSD's). */
  udpSendspace = 9216;
  udpRecvspace = 41600;
  /** net.inet.udp.checksum: compute UDP checksums on output. */
  udpChecksum = 1;
  /** UDP's PCBs (udbtable): the UDP port namespace. */
  readonly udbtable: InPcbTable = new InPcbTable(this);
  /** Raw IP sockets' PCBs (rawcbtable). */
  readonly rawcbtable: InPcbTable = new InPcbTable(this);
  /** TCP's PCBs (tcbtable): the TCP port namespace. */
  readonly tcbtable: InPcbTable = new InPcbTable(this);
  /** BSD's tcpstat. */
  readonly tcpstat = new TcpStat();
  /** TCP's per-kernel state (tunables, SYN cache, keys), set by tcpAttach. */
  tcp: Tcp | null = null;

  constructor(
    readonly kernel: Kernel,
    readonly ns: NetStack,
  ) {}

  /** The address on `ifp` that is `addr`, if any (in_ifaddr lookup). */
  ifaddrOn(ifp: Ifnet, addr: number): InIfaddr | null {
    for (const ia of this.addrs) if (ia.ifp === ifp && ia.addr === addr) return ia;
    return null;
  }

  /** Is `addr` one of ours (any interface)? */
  isLocal(addr: number): boolean {
    const a = this.addrs;
    for (let i = 0; i < a.length; i++) if (a[i]!.addr === addr) return true;
    return (addr >>> 24) === 127 && this.ns.lo0 !== null && this.ns.lo0.isUp;
  }

  /** The first address on an interface (for sources of ARP and ICMP). */
  firstAddr(ifp: Ifnet): InIfaddr | null {
    for (const ia of this.addrs) if (ia.ifp === ifp) return ia;
    return null;
  }
}

export const INET = defineKernelState<Inet>('IPv4 (component net_netinet)');

export function inet(k: Kernel): Inet {
  return INET.get(k);
}

/** A statistics struct as a sysctl value: its number fields. */
export function statsObject(o: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number') out[k] = v;
  return out;
}

/**
 * icmpstat or icmp6stat as a sysctl value: the counters, and the per-type
 * histograms flattened to `inhist.N` / `outhist.N` (types seen only).
 */
export function icmpStatsObject(st: { readonly inhist: readonly number[]; readonly outhist: readonly number[] }): Record<string, number> {
  const out = statsObject(st);
  st.inhist.forEach((n, type) => {
    if (n) out[`inhist.${type}`] = n;
  });
  st.outhist.forEach((n, type) => {
    if (n) out[`outhist.${type}`] = n;
  });
  return out;
}
