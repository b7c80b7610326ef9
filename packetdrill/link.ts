/*
 * The wire between the runner and the kernel under test: an Ethernet
 * interface whose driver hands every frame the kernel sends to the runner
 * instead of a medium, and through which the runner injects frames.
 *
 *   kernel ── ip_output ── ether_output ── ScriptLink.transmit ──► capture queue (IPv4)
 *                                                               └─► ARP request for the peer: answered
 *   runner ── inject(datagram) ── host.defer ── ether_input ── ip_input ── tcp_input
 *
 * Scripts are layer 3, so the link layer is the runner's business: the peer
 * (packetdrill's gateway, behind which the remote address lives) has a
 * fixed MAC, preloaded in the kernel's ARP table and also answered if the
 * kernel asks. Frames reach the kernel through the host's softint queue,
 * as a driver's receive path does, never re-entrantly.
 */
import type { Kernel } from '../kern/kernel.js';
import type { Mbuf } from '../kern/mbuf.js';
import { Ifnet, IFF_BROADCAST, IFF_MULTICAST, IFF_SIMPLEX, IFT_ETHER, type IfDriver } from '../net/interface.js';
import { etherIfattach } from '../net/if/ether.js';
import { netstack } from '../net/netstack.js';
import { ARP_ETHER_IP_LEN, ARPOP_REPLY, ARPOP_REQUEST, arpOp, arpTpa, arpWrite, arpSpa, arpCopySha } from '../net/wire/arp.js';
import { ETHER_HDR_LEN, ETHERTYPE_ARP, ETHERTYPE_IP, etherType, etherWriteHeader } from '../net/wire/ether.js';

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

  constructor(
    readonly kernel: Kernel,
    name: string,
    mtu: number,
    /** Called with each IPv4 datagram the kernel sends (a copy the callee owns). */
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

  /** Put an IPv4 datagram on the wire towards the kernel. */
  inject(datagram: Uint8Array): void {
    const frame = new Uint8Array(ETHER_HDR_LEN + datagram.length);
    etherWriteHeader(frame, 0, this.ifp.lladdr!, 0, PEER_MAC, 0, ETHERTYPE_IP);
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
