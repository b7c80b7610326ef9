/*
 * The wire between the runner and the kernel under test: an Ethernet
 * interface whose driver hands every frame the kernel sends to the runner
 * instead of a medium, and through which the runner injects frames.
 *
 *   kernel ── ip_output ── ether_output ── ScriptLink.transmit ──► capture queue (IPv4, IPv6)
 *                                                               ├─► ARP request for the peer: answered
 *                                                               └─► Neighbor Solicitation for the peer: answered
 *   runner ── inject(datagram) ── host.defer ── ether_input ── ip_input / ip6_input ── tcp_input
 *
 * Scripts are layer 3, so the link layer is the runner's business: the peer
 * (packetdrill's gateway, behind which the remote address lives) has a
 * fixed MAC, preloaded in the kernel's ARP table and also answered if the
 * kernel asks. Over IPv6 nothing is preloaded: the kernel resolves the
 * gateway with a Neighbor Solicitation (RFC 4861 §7.2.2) and the link
 * answers it with a solicited advertisement carrying the peer's MAC; the
 * solicitation never reaches the capture queue (it is not the script's),
 * nor do the MLD reports of the kernel's solicited-node groups.
 * Frames reach the kernel through the host's softint queue, as a driver's
 * receive path does, never re-entrantly.
 */
import type { Kernel } from '../kern/kernel.js';
import type { Mbuf } from '../kern/mbuf.js';
import { Ifnet, IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFT_ETHER, type IfDriver } from '../net/interface.js';
import { etherIfattach } from '../net/if/ether.js';
import { netstack } from '../net/netstack.js';
import { ARP_ETHER_IP_LEN, ARPOP_REPLY, ARPOP_REQUEST, arpOp, arpTpa, arpWrite, arpSpa, arpCopySha } from '../net/wire/arp.js';
import { ETHER_HDR_LEN, ETHERTYPE_ARP, ETHERTYPE_IP, ETHERTYPE_IPV6, etherType, etherWriteHeader } from '../net/wire/ether.js';
import {
  ND_NA_FLAG_OVERRIDE, ND_NA_FLAG_SOLICITED, ND_NEIGHBOR_SOLICIT, ND_NS_LEN, ND_OFF_TARGET, ND_OPT_LLA_ETHER_LEN,
  icmp6SetChecksum, ndWriteNa,
} from '../net/wire/icmp6.js';
import { formatIn6Addr } from '../net/wire/in6addr.js';
import {
  IP6_HDR_LEN, IP6_OFF_DST, IP6_OFF_SRC, IPPROTO_ICMPV6, IPV6_MAXHLIM, ip6Nxt, ip6Plen, ip6WriteHeader,
} from '../net/wire/ipv6.js';

/** The kernel's MAC on the script link and the peer's (locally administered). */
export const LOCAL_MAC = new Uint8Array([0x02, 0x70, 0x64, 0x00, 0x00, 0x01]);
export const PEER_MAC = new Uint8Array([0x02, 0x70, 0x64, 0x00, 0x00, 0x02]);

interface Delivery {
  ifp: Ifnet;
  m: Mbuf;
}

function deliver(d: Delivery): void {
  if (d.ifp.kernel.halted) {
    d.ifp.kernel.mbufs.free(d.m);
    return;
  }
  d.ifp.input(d.ifp, d.m);
}

export class ScriptLink implements IfDriver {
  readonly ifp: Ifnet;
  /** Addresses the peer answers ARP for (the gateway, the remote host). */
  readonly peerAddrs = new Set<number>();
  /** IPv6 addresses (RFC 5952 text) the peer answers Neighbor Solicitations for. */
  readonly peerAddrs6 = new Set<string>();
  /** Neighbor Solicitations answered (tests check resolution really ran). */
  nsAnswered = 0;

  constructor(
    readonly kernel: Kernel,
    name: string,
    mtu: number,
    /** Called with each IPv4 datagram or IPv6 packet the kernel sends (a copy the callee owns). */
    private readonly onDatagram: (datagram: Uint8Array) => void,
  ) {
    const ns = netstack(kernel);
    const unit = Number(/\d+$/.exec(name)?.[0] ?? 0);
    const ifp = new Ifnet(kernel, name, unit, IFT_ETHER, this);
    ifp.flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST;
    ifp.mtu = mtu;
    etherIfattach(ns, ifp, LOCAL_MAC.slice());
    ns.ifs.attach(ifp);
    this.ifp = ifp;
  }

  transmit(ifp: Ifnet, m: Mbuf): void {
    const buf = m.buf;
    const off = m.off;
    const len = m.len;
    if (len >= ETHER_HDR_LEN) {
      const type = etherType(buf, off);
      if (type === ETHERTYPE_IP) {
        this.onDatagram(buf.slice(off + ETHER_HDR_LEN, off + len));
      } else if (type === ETHERTYPE_IPV6) {
        const p = off + ETHER_HDR_LEN;
        if (!this.answerNs(buf, p, len - ETHER_HDR_LEN) && !isMld(buf, p, len - ETHER_HDR_LEN)) this.onDatagram(buf.slice(p, off + len));
      } else if (type === ETHERTYPE_ARP && len >= ETHER_HDR_LEN + ARP_ETHER_IP_LEN) {
        const a = off + ETHER_HDR_LEN;
        if (arpOp(buf, a) === ARPOP_REQUEST && this.peerAddrs.has(arpTpa(buf, a))) this.answerArp(buf, a);
      }
    }
    ifp.kernel.mbufs.free(m);
  }

  /** The peer's ARP reply to the request at buf[a…]. */
  private answerArp(buf: Uint8Array, a: number): void {
    const sha = new Uint8Array(6);
    arpCopySha(buf, a, sha, 0);
    const frame = new Uint8Array(ETHER_HDR_LEN + ARP_ETHER_IP_LEN);
    etherWriteHeader(frame, 0, sha, 0, PEER_MAC, 0, ETHERTYPE_ARP);
    arpWrite(frame, ETHER_HDR_LEN, ARPOP_REPLY, PEER_MAC, arpTpa(buf, a), sha, arpSpa(buf, a));
    this.injectFrame(frame);
  }

  /**
   * If the IPv6 packet at buf[p…] is a Neighbor Solicitation for one of the
   * peer's addresses, answer it (a solicited, overriding advertisement from
   * that address with the peer's MAC, hop limit 255: RFC 4861 §7.2.4) and
   * return true. The kernel's checks (§7.1.1) are its own business; this
   * only needs the target.
   */
  private answerNs(buf: Uint8Array, p: number, len: number): boolean {
    if (len < IP6_HDR_LEN + ND_NS_LEN || ip6Nxt(buf, p) !== IPPROTO_ICMPV6 || IP6_HDR_LEN + ip6Plen(buf, p) > len) return false;
    const icmp = p + IP6_HDR_LEN;
    if (buf[icmp] !== ND_NEIGHBOR_SOLICIT) return false;
    const target = buf.slice(icmp + ND_OFF_TARGET, icmp + ND_OFF_TARGET + 16);
    if (!this.peerAddrs6.has(formatIn6Addr(target))) return true; // someone else's: nobody answers
    const asker = buf.slice(p + IP6_OFF_SRC, p + IP6_OFF_SRC + 16);
    const senderMac = buf.slice(p - ETHER_HDR_LEN + 6, p - ETHER_HDR_LEN + 12);
    const naLen = ND_NS_LEN + ND_OPT_LLA_ETHER_LEN;
    const frame = new Uint8Array(ETHER_HDR_LEN + IP6_HDR_LEN + naLen);
    etherWriteHeader(frame, 0, senderMac, 0, PEER_MAC, 0, ETHERTYPE_IPV6);
    const ip6 = ETHER_HDR_LEN;
    ip6WriteHeader(frame, ip6, 0, 0, naLen, IPPROTO_ICMPV6, IPV6_MAXHLIM, target, 0, asker, 0);
    const na = ip6 + IP6_HDR_LEN;
    ndWriteNa(frame, na, ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE, target, 0, PEER_MAC);
    icmp6SetChecksum(frame, na, naLen, frame, ip6 + IP6_OFF_SRC, frame, ip6 + IP6_OFF_DST);
    this.nsAnswered++;
    this.injectFrame(frame);
    return true;
  }

  /** Put an IPv4 datagram or IPv6 packet on the wire towards the kernel. */
  inject(datagram: Uint8Array): void {
    const frame = new Uint8Array(ETHER_HDR_LEN + datagram.length);
    const type = datagram.length > 0 && datagram[0]! >>> 4 === 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IP;
    etherWriteHeader(frame, 0, this.ifp.lladdr!, 0, PEER_MAC, 0, type);
    frame.set(datagram, ETHER_HDR_LEN);
    this.injectFrame(frame);
  }

  private injectFrame(frame: Uint8Array): void {
    const k = this.kernel;
    const m = k.mbufs.copyin(frame, 0, frame.length);
    if (!m) throw new Error('the kernel has no memory for an injected frame (RUMP_MEMLIMIT)');
    k.host.defer(deliver, { ifp: this.ifp, m });
  }

  init(): number {
    return 0;
  }

  stop(): void {}

  detach(): void {}
}

/** Is the IPv6 packet at buf[p…] an MLD message (Hop-by-Hop first, then ICMPv6 130–132 or 143)? Link-layer business, like ND. */
function isMld(buf: Uint8Array, p: number, len: number): boolean {
  if (len < IP6_HDR_LEN + 8 + 4 || ip6Nxt(buf, p) !== 0) return false;
  const h = p + IP6_HDR_LEN;
  if (buf[h] !== IPPROTO_ICMPV6) return false;
  const at = IP6_HDR_LEN + ((buf[h + 1]! + 1) << 3);
  if (at >= len) return false;
  const type = buf[p + at];
  return type === 130 || type === 131 || type === 132 || type === 143;
}
