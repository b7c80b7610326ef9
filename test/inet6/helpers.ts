/*
 * Kernels for the IPv6 tests: net, net_net, net_netinet and net_netinet6
 * on one sim host, plus `ifconfig NAME inet6 ADDR/LEN` through the same
 * ioctl the tool uses, and hand-built IPv6 packets for feeding a kernel
 * exactly what a test wants.
 */
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import '../../net/inet6/component.js';

import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import type { Kernel } from '../../kern/kernel.js';
import { ifioctl } from '../../net/interface_ioctl.js';
import { netstack } from '../../net/netstack.js';
import { IN6_IFF_TENTATIVE, INET6, inet6, type Inet6 } from '../../net/inet6/inet6.js';
import { formatIn6Addr, parseIn6Addr } from '../../net/wire/in6addr.js';
import { ip6Cksum, ip6WriteHeader } from '../../net/wire/ipv6.js';
import { icmp6SetChecksum, icmp6WriteHeader } from '../../net/wire/icmp6.js';
import { in6SelectSrc, ip6Output } from '../../net/inet6/ip6_output.js';
import type { Kernels } from '../helpers/kernels.js';
import { connectKernels } from '../helpers/link.js';

export const NET6_COMPONENTS = ['net', 'net_net', 'net_netinet', 'net_netinet6'] as const;

/** Boot `n` kernels with IPv4 and IPv6 on one sim host. */
export function bootKernels6(n: number, seed = 1): Kernels {
  const sim = createSimHost({ seed });
  const kernels: Kernel[] = [];
  for (let i = 0; i < n; i++) kernels.push(bootKernel({ components: NET6_COMPONENTS, host: sim }));
  return { sim, kernels };
}

/** `ifconfig NAME inet6 ADDR/LEN`. */
export function ifconfig6(k: Kernel, name: string, cidr: string): void {
  const [addr, len] = cidr.split('/');
  ifioctl(netstack(k), 'SIOCAIFADDR_IN6', { name, addr, prefixlen: Number(len ?? 64) });
}

/**
 * Run the clock until no kernel has a tentative IPv6 address: DAD
 * (RFC 4862 §5.4) has passed for every address configured, as NetBSD's
 * tests wait with `ifconfig -w`. Fails loudly when it does not end.
 */
export async function dadDone(ks: Kernels, maxMs = 5_000): Promise<void> {
  const tentative = (): boolean => ks.kernels.some((k) => INET6.peek(k)?.addrs.some((ia) => ia.flags & IN6_IFF_TENTATIVE) ?? false);
  if (!(await ks.sim.runUntil(() => !tentative(), maxMs))) throw new Error('DAD did not finish');
}

/** Parse an IPv6 address or fail the test loudly. */
export function ip6(s: string): Uint8Array {
  const a = parseIn6Addr(s);
  if (a === null) throw new Error(`bad IPv6 address ${s}`);
  return a;
}

export function stats6(k: Kernel): Inet6 {
  return inet6(k);
}

export interface Ip6PacketSpec {
  src: string;
  dst: string;
  nxt: number;
  payload: Uint8Array;
  hlim?: number;
  /** Override the payload length field. */
  plen?: number;
  /** Fill in the upper-layer checksum at this offset into the payload (TCP 16, ICMPv6 2, UDP 6) for `csumProto`. */
  csumAt?: number;
  csumProto?: number;
}

/** An IPv6 packet, with the upper-layer checksum filled in when asked. */
export function ip6Packet(s: Ip6PacketSpec): Uint8Array {
  const out = new Uint8Array(40 + s.payload.length);
  const src = ip6(s.src);
  const dst = ip6(s.dst);
  out.set(s.payload, 40);
  if (s.csumAt !== undefined) {
    out[40 + s.csumAt] = 0;
    out[40 + s.csumAt + 1] = 0;
    const c = ip6Cksum(out, 40, s.payload.length, s.csumProto ?? s.nxt, src, 0, dst, 0);
    out[40 + s.csumAt] = c >>> 8;
    out[40 + s.csumAt + 1] = c & 0xff;
  }
  ip6WriteHeader(out, 0, 0, 0, s.plen ?? s.payload.length, s.nxt, s.hlim ?? 64, src, 0, dst, 0);
  return out;
}

/* ------------------------------------------------------------------------ */
/* Frames as a test sees them on a hub. */

export interface Seen6 {
  dstMac: string;
  srcMac: string;
  src: string;
  dst: string;
  nxt: number;
  hlim: number;
  plen: number;
  /** ICMPv6 type and code, and for NS/NA the target and flags byte. */
  icmpType?: number;
  icmpCode?: number;
  target?: string;
  naFlags?: number;
  /** The link-layer address option of an NS (source) or NA (target), if any. */
  lla?: string;
  /** TCP flags and ports. */
  tcpFlags?: number;
  sport?: number;
  dport?: number;
  frame: Uint8Array;
}

const hexMac = (b: Uint8Array, at: number): string =>
  [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** An IPv6 frame decoded just enough to assert on; null for anything else. */
export function decode6(f: Uint8Array): Seen6 | null {
  if (f.length < 54 || ((f[12]! << 8) | f[13]!) !== 0x86dd) return null;
  const ip = 14;
  const out: Seen6 = {
    dstMac: hexMac(f, 0), srcMac: hexMac(f, 6), src: formatIn6Addr(f, ip + 8), dst: formatIn6Addr(f, ip + 24),
    nxt: f[ip + 6]!, hlim: f[ip + 7]!, plen: (f[ip + 4]! << 8) | f[ip + 5]!, frame: f,
  };
  const u = ip + 40;
  if (out.nxt === 58 && f.length >= u + 4) {
    out.icmpType = f[u]!;
    out.icmpCode = f[u + 1]!;
    if ((out.icmpType === 135 || out.icmpType === 136) && f.length >= u + 24) {
      out.target = formatIn6Addr(f, u + 8);
      if (out.icmpType === 136) out.naFlags = f[u + 4]!;
      if (f.length >= u + 32 && (f[u + 24] === 1 || f[u + 24] === 2)) out.lla = hexMac(f, u + 26);
    }
  } else if (out.nxt === 6 && f.length >= u + 14) {
    out.sport = (f[u]! << 8) | f[u + 1]!;
    out.dport = (f[u + 2]! << 8) | f[u + 3]!;
    out.tcpFlags = f[u + 13]!;
  }
  return out;
}

/**
 * Send an ICMPv6 echo request of `size` data bytes from `k` to `dst`
 * through ip6Output (what ping6 would do). Returns ip6Output's errno.
 */
export function sendEcho6(k: Kernel, dst: string, opts: { id?: number; seq?: number; size?: number; src?: string } = {}): number {
  const size = opts.size ?? 56;
  const i6 = inet6(k);
  const m = k.mbufs.get(8 + size, 64);
  if (!m) throw new Error('no memory for the echo request');
  const d = ip6(dst);
  const s = opts.src ? ip6(opts.src) : new Uint8Array(16);
  if (!opts.src && !in6SelectSrc(i6, d, 0, s)) {
    k.mbufs.free(m);
    return 51; // ENETUNREACH
  }
  icmp6WriteHeader(m.buf, m.off, 128, 0, (((opts.id ?? 0x4242) << 16) | (opts.seq ?? 0)) >>> 0);
  for (let i = 0; i < size; i++) m.buf[m.off + 8 + i] = i & 0xff;
  icmp6SetChecksum(m.buf, m.off, m.len, s, 0, d, 0);
  return ip6Output(i6, m, s, 0, d, 0, 58, i6.defhlim, 0);
}

/** An Ethernet frame carrying `pkt` (an IPv6 packet) from `src` to `dst`. */
export function ether6(dst: Uint8Array, src: Uint8Array, pkt: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + pkt.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  f.set(pkt, 14);
  return f;
}

/**
 * Three kernels, a on two links: to b (2001:db8::/64) and to c
 * (2001:db8:1::/64), DAD done. For scoped (link-local) tests: a's fe80::/64
 * route is its first interface's, so only a zone reaches c.
 */
export async function scopedTrio(seed: number) {
  const ks = bootKernels6(3, seed);
  const [a, b, c] = ks.kernels as [Kernel, Kernel, Kernel];
  const ab = connectKernels(ks.sim, a, b);
  const ac = connectKernels(ks.sim, a, c);
  ifconfig6(a, ab.a.name, '2001:db8::1/64');
  ifconfig6(a, ac.a.name, '2001:db8:1::1/64');
  ifconfig6(b, ab.b.name, '2001:db8::2/64');
  ifconfig6(c, ac.b.name, '2001:db8:1::2/64');
  await dadDone(ks);
  return { ks, a, b, c, ab, ac };
}

/** `k`'s link-local address on `ifname`, as text. */
export function linkLocalOf(k: Kernel, ifname: string): string {
  return formatIn6Addr(inet6(k).addrs.find((ia) => ia.ifp.name === ifname && ia.addr[0] === 0xfe)!.addr);
}
