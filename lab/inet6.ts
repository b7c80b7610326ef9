/*
 * IPv6 in the lab: a host booted with net_netinet6 gets an IPv6 address on
 * every segment beside its IPv4 one, routes to every IPv6 prefix it reaches
 * through routers, and a router forwards IPv6 too.
 *
 *   segment N (the Nth made)   fd00:0:0:N::/64 (N in hex)
 *   a host's address on it      the prefix + its IPv4 host part:
 *                               10.0.3.2/24 → fd00:0:0:3::2/64
 *   routes                      the IPv4 routes the lab computed, each
 *                               translated: a network becomes its segment's
 *                               prefix, a gateway the router's IPv6 address
 *                               on that segment
 *   routers                     net.inet6.ip6.forwarding = 1
 *
 * The lab has already checked that no address is in two places, so its
 * addresses skip Duplicate Address Detection (IN6_IFF_NODAD) and are usable
 * at once; each interface's link-local address (fe80::, from its MAC) goes
 * through DAD as on any NetBSD kernel.
 */
import type { Kernel } from '../kern/kernel.js';
import { IN6_IFF_NODAD } from '../net/inet6/inet6.js';
import { ifioctl } from '../net/interface_ioctl.js';
import type { NetStack } from '../net/netstack.js';
import type { Rt6Msg } from '../net/inet6/route6_ops.js';

/** The segment's IPv6 prefix (without the length: always /64). */
export function labPrefix6(segNo: number): string {
  return `fd00:0:0:${segNo.toString(16)}::`;
}

/** The IPv6 address of host part `hostPart` on segment `segNo`. */
export function labAddr6(segNo: number, hostPart: number): string {
  return `${labPrefix6(segNo)}${hostPart.toString(16)}`;
}

function hasInet6(k: Kernel): boolean {
  return k.sysExtensions.has('rt6msg');
}

/** A router forwards IPv6 too, when it has it. */
export function labRouter6(k: Kernel): void {
  if (hasInet6(k)) k.sysctl.set('net.inet6.ip6.forwarding', 1);
}

/** Give an interface the lab's IPv6 address on segment `segNo` (when the kernel has IPv6). */
export function labAttach6(k: Kernel, ns: NetStack, ifname: string, segNo: number, hostPart: number): void {
  if (!hasInet6(k)) return;
  ifioctl(ns, 'SIOCAIFADDR_IN6', { name: ifname, addr: labAddr6(segNo, hostPart), prefixlen: 64, flags: IN6_IFF_NODAD });
}

/** The IPv6 routes installed in each kernel: destination prefix ('default' or `fd00:0:0:N::`) → gateway. */
const installed6 = new WeakMap<Kernel, Map<string, string>>();

/**
 * Install the IPv6 twins of a host's IPv4 routes. `v6Of` translates an IPv4
 * network (`A.B.C.D/len`) to its segment's prefix and an IPv4 gateway to
 * that router's IPv6 address; null when it has none (a router without IPv6).
 */
export function labInstall6(k: Kernel, want: ReadonlyMap<string, string>, v6Of: (v4: string) => string | null): void {
  const rt6msg = k.sysExtensions.get('rt6msg') as ((m: Rt6Msg) => unknown) | undefined;
  if (rt6msg === undefined) return;
  let have = installed6.get(k);
  if (have === undefined) installed6.set(k, (have = new Map()));
  for (const [dst4, gw4] of want) {
    const dst = dst4 === 'default' ? 'default' : v6Of(dst4);
    const gw = v6Of(gw4);
    if (dst === null || gw === null || have.get(dst) === gw) continue;
    const prefixLen = dst === 'default' ? 0 : 64;
    if (have.has(dst)) rt6msg({ type: 'delete', dst, prefixLen });
    rt6msg({ type: 'add', dst, prefixLen, gateway: gw });
    have.set(dst, gw);
  }
}

/** What labV6Of needs of the lab's segments (a structural view of Segment). */
interface SegmentView {
  readonly net: string;
  readonly network: number;
  readonly ports: ReadonlyArray<{ readonly addr: number; readonly host: { readonly faces: { readonly kernel: Kernel } } }>;
}

/**
 * The IPv6 twin of an IPv4 network (`A.B.C.D/len`: its segment's prefix) or
 * of an IPv4 address (its port's IPv6 address, when that host has IPv6).
 */
export function labV6Of(segments: readonly SegmentView[], v4: string): string | null {
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (v4 === s.net) return labPrefix6(i + 1);
    for (const p of s.ports) {
      if (`${p.addr >>> 24}.${(p.addr >>> 16) & 0xff}.${(p.addr >>> 8) & 0xff}.${p.addr & 0xff}` !== v4) continue;
      return hasInet6(p.host.faces.kernel) ? labAddr6(i + 1, p.addr - s.network) : null;
    }
  }
  return null;
}
