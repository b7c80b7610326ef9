/*
 * IPv6 multicast through the BSD face on shmif, whose filter now passes
 * only groups the kernel joined: Neighbor Discovery still works (each
 * address's solicited-node group is joined), IPV6_JOIN_GROUP and
 * IPV6_LEAVE_GROUP with MLDv1 Report and Done (RFC 2710) on the bus, the
 * multicast hop limit on the wire, loopback, queries answered, option errors.
 *
 *     A 2001:db8::1 ── shmif0 ══╗
 *     B 2001:db8::2 ── shmif0 ══╬══ bus1
 *     C 2001:db8::3 ── shmif0 ══╝
 */
import test from 'ava';
import { createSimHost, rumpInit, AF_INET6, SOCK_DGRAM, Errno, type RumpKernel, type SimHost } from '../../index.js';
import { dumpBus } from '../../shmif/dumpbus.js';
import { shmifSoftc } from '../../shmif/if_shmem.js';
import { readPcap } from '../../net/wire/pcap.js';
import { ifioctl } from '../../net/interface_ioctl.js';
import { netstack } from '../../net/netstack.js';
import { formatIn6Addr, parseIn6Addr } from '../../net/wire/in6addr.js';
import { ip6OutputIf } from '../../net/inet6/ip6_output.js';
import { SOL_SOCKET, SO_REUSEPORT } from '../../net/socket.js';
import {
  IPV6_JOIN_GROUP, IPV6_LEAVE_GROUP, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_IF, IPV6_MULTICAST_LOOP,
} from '../../net/inet6/ip6_mopts.js';
import { in6MultiAll } from '../../net/inet6/mld6.js';
import { IN6_IFF_TENTATIVE, inet6 } from '../../net/inet6/inet6.js';
import { icmp6SetChecksum } from '../../net/wire/icmp6.js';

const IPPROTO_IPV6 = 41;
const GROUP = 'ff0e::1:2:3';
const sin6 = (addr: string, port: number) => ({ family: AF_INET6, addr, port });
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const ip6 = (x: string): Uint8Array => parseIn6Addr(x)!;

interface Seen {
  t: number;
  src: string;
  dst: string;
  hlim: number;
  nxt: number;
  /** ICMPv6 type behind a Hop-by-Hop header (MLD), and its group. */
  mldType?: number;
  mldGroup?: string;
  dport?: number;
  dstMac: string;
}

function onBus(sim: SimHost): Seen[] {
  const out: Seen[] = [];
  for (const r of readPcap(dumpBus(sim.files.get('bus1')!, {}).pcap).records) {
    const f = r.data;
    if (f[12] !== 0x86 || f[13] !== 0xdd) continue;
    const ip = 14;
    const s: Seen = {
      t: r.sec * 1000 + Math.floor(r.usec / 1000), src: formatIn6Addr(f, ip + 8), dst: formatIn6Addr(f, ip + 24),
      hlim: f[ip + 7]!, nxt: f[ip + 6]!, dstMac: [...f.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    };
    if (s.nxt === 0 && f[ip + 40] === 58 && f[ip + 42] === 5) {
      s.mldType = f[ip + 48]!;
      s.mldGroup = formatIn6Addr(f, ip + 48 + 8);
    }
    if (s.nxt === 17) s.dport = (f[ip + 42]! << 8) | f[ip + 43]!;
    out.push(s);
  }
  return out;
}

async function host(sim: SimHost, addr: string): Promise<RumpKernel> {
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_netinet6', 'net_shmif'], host: sim });
  const ifname = await k.netconfig.ifcreate('shmif');
  await k.netconfig.ifsetlinkstr(ifname, 'bus1');
  ifioctl(netstack(k), 'SIOCAIFADDR_IN6', { name: ifname, addr, prefixlen: 64 });
  return k;
}

async function lan(seed: number): Promise<{ sim: SimHost; a: RumpKernel; b: RumpKernel; c: RumpKernel }> {
  const sim = createSimHost({ seed });
  const a = await host(sim, '2001:db8::1');
  const b = await host(sim, '2001:db8::2');
  const c = await host(sim, '2001:db8::3');
  // Until DAD has passed (RFC 4862 §5.4) the addresses are not usable.
  const tentative = (): boolean => [a, b, c].some((k) => inet6(k).addrs.some((ia) => ia.flags & IN6_IFF_TENTATIVE));
  if (!(await sim.runUntil(() => !tentative(), 5_000))) throw new Error('DAD did not finish');
  return { sim, a, b, c };
}

async function udp6(k: RumpKernel, port: number, group?: string): Promise<number> {
  const fd = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await k.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  await k.sys.bind(fd, sin6('::', port));
  if (group) await k.sys.setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, { ipv6mr_multiaddr: group, ipv6mr_interface: 0 });
  return fd;
}

/** Every datagram waiting on `fd`, as text. */
async function drain(k: RumpKernel, fd: number): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    try {
      const r = await k.sys.recvfrom(fd, 2000, 0x80 /* MSG_DONTWAIT */);
      out.push(`${text(r.data)} from ${r.from!.addr}`);
    } catch (e) {
      if (e instanceof Errno && e.code === 'EAGAIN') return out;
      throw e;
    }
  }
}

/** The link-local address shmif0 got when it came up. */
const linkLocal = (k: RumpKernel): Uint8Array => inet6(k).addrs.find((ia) => ia.ifp.name === 'shmif0' && ia.addr[0] === 0xfe)!.addr;

const filtered = (k: RumpKernel): number => shmifSoftc(netstack(k).ifs.unit('shmif0'))!.stats.rxmcastfiltered;

test('Neighbor Discovery through the strict filter; join, receive, leave, stop receiving; MLD Report and Done on the bus', async (t) => {
  const { sim, a, b, c } = await lan(41);
  // Unicast first: A must resolve B through B's solicited-node group.
  const ub = await udp6(b, 4000);
  const ua = await a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await a.sys.sendto(ua, new TextEncoder().encode('unicast'), 0, sin6('2001:db8::2', 4000));
  await sim.run(100);
  t.deepEqual(await drain(b, ub), ['unicast from 2001:db8::1']);

  const rb = await udp6(b, 5000, GROUP);
  const rc = await udp6(c, 5000);
  await sim.run(10);
  const fc = filtered(c);
  await a.sys.sendto(ua, new TextEncoder().encode('first'), 0, sin6(GROUP, 5000));
  await sim.run(100);
  t.deepEqual(await drain(b, rb), ['first from 2001:db8::1']);
  t.deepEqual(await drain(c, rc), []);
  t.true(filtered(c) > fc, "C's filter kept the group from its stack");
  await b.sys.setsockopt(rb, IPPROTO_IPV6, IPV6_LEAVE_GROUP, { ipv6mr_multiaddr: GROUP, ipv6mr_interface: 0 });
  const fb = filtered(b);
  await a.sys.sendto(ua, new TextEncoder().encode('second'), 0, sin6(GROUP, 5000));
  await sim.run(100);
  t.deepEqual(await drain(b, rb), []);
  t.is(filtered(b) - fb, 1);

  const seen = onBus(sim);
  // b's reports: from its link-local for link-scope groups, from :: while
  // its addresses were still tentative (RFC 3590 §4), else 2001:db8::2.
  const bSrc = new Set(['2001:db8::2', formatIn6Addr(linkLocal(b)), '::']);
  const mld = seen.filter((s) => s.mldType !== undefined && bSrc.has(s.src));
  const report = mld.find((s) => s.mldType === 131 && s.mldGroup === GROUP);
  t.like(report!, { dst: GROUP, hlim: 1, dstMac: '33:33:00:02:00:03' });
  const done = mld.find((s) => s.mldType === 132);
  t.like(done!, { dst: 'ff02::2', mldGroup: GROUP, hlim: 1 });
  t.true(mld.some((s) => s.mldType === 131 && s.mldGroup === 'ff02::1:ff00:2'), 'the solicited-node group is reported too');
  t.false(mld.some((s) => s.mldGroup === 'ff02::1'), 'all-nodes never is (RFC 2710 §5)');
  const data = seen.filter((s) => s.nxt === 17 && s.dport === 5000);
  t.is(data.length, 2);
  for (const d of data) t.like(d, { dst: GROUP, hlim: 1, dstMac: '33:33:00:02:00:03' });
  t.like(b.sysctl.get('net.inet6.mld6.stats') as Record<string, number>, { snd_dones: 1 });
  for (const k of [a, b, c]) await k.halt();
});

test('IPV6_MULTICAST_HOPS on the wire; IPV6_MULTICAST_LOOP on by default, off when asked; IPV6_MULTICAST_IF by index', async (t) => {
  const { sim, a, b } = await lan(42);
  const ra = await udp6(a, 5000, GROUP);
  const rb = await udp6(b, 5000, GROUP);
  const tx = await a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  t.is(await a.sys.getsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 1);
  t.is(await a.sys.getsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 1);
  const idx = netstack(a).ifs.unit('shmif0').index;
  await a.sys.setsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_IF, idx);
  t.is(await a.sys.getsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_IF), idx);
  await a.sys.setsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 9);
  await a.sys.sendto(tx, new TextEncoder().encode('looped'), 0, sin6(GROUP, 5000));
  await sim.run(50);
  await a.sys.setsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
  await a.sys.sendto(tx, new TextEncoder().encode('not looped'), 0, sin6(GROUP, 5000));
  await sim.run(50);
  t.deepEqual(await drain(a, ra), ['looped from 2001:db8::1']);
  t.deepEqual(await drain(b, rb), ['looped from 2001:db8::1', 'not looped from 2001:db8::1']);
  t.deepEqual(onBus(sim).filter((s) => s.nxt === 17).map((s) => s.hlim), [9, 9]);
  for (const k of [a, b]) await k.halt();
});

test('a general MLD query is answered within Maximum Response Delay; the options refuse what NetBSD refuses', async (t) => {
  const { sim, a, b, c } = await lan(43);
  const rb = await udp6(b, 5000, GROUP);
  await sim.run(20_000);
  const before = onBus(sim).length;
  // C plays the router: a general query (Maximum Response Delay 2000 ms) to ff02::1, Router Alert, hop limit 1.
  const ci = inet6(c);
  const cif = netstack(c).ifs.unit('shmif0');
  const src = ip6('2001:db8::3');
  const dst = ip6('ff02::1');
  const m = c.mbufs.get(8 + 24)!;
  m.buf.set([58, 0, 5, 2, 0, 0, 1, 0, 130, 0, 0, 0, 2000 >> 8, 2000 & 0xff], m.off);
  icmp6SetChecksum(m.buf, m.off + 8, 24, src, 0, dst, 0);
  const tq = sim.now();
  t.is(ip6OutputIf(ci, m, cif, src, 0, dst, 0, 0, 1, 0), 0);
  await sim.run(5_000);
  const answers = onBus(sim).slice(before).filter((x) => x.mldType === 131 && x.src === '2001:db8::2' && x.mldGroup === GROUP);
  t.is(answers.length, 1);
  t.true(answers[0]!.t - tq <= 2_000 + 5, 'within Maximum Response Delay');
  t.like(b.sysctl.get('net.inet6.mld6.stats') as Record<string, number>, { rcv_queries: 1 });
  const s = b.sys;
  const code = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => (e instanceof Errno ? e.code : String(e)));
  t.is(await code(s.setsockopt(rb, IPPROTO_IPV6, IPV6_JOIN_GROUP, { ipv6mr_multiaddr: GROUP, ipv6mr_interface: 0 })), 'EADDRINUSE');
  t.is(await code(s.setsockopt(rb, IPPROTO_IPV6, IPV6_JOIN_GROUP, { ipv6mr_multiaddr: '2001:db8::9', ipv6mr_interface: 0 })), 'EINVAL');
  t.is(await code(s.setsockopt(rb, IPPROTO_IPV6, IPV6_JOIN_GROUP, { ipv6mr_multiaddr: 'ff0e::9', ipv6mr_interface: 77 })), 'ENXIO');
  t.is(await code(s.setsockopt(rb, IPPROTO_IPV6, IPV6_LEAVE_GROUP, { ipv6mr_multiaddr: 'ff0e::9', ipv6mr_interface: 0 })), 'EADDRNOTAVAIL');
  t.is(await code(s.setsockopt(rb, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 256)), 'EINVAL');
  t.is(await code(s.setsockopt(rb, IPPROTO_IPV6, IPV6_JOIN_GROUP, { ipv6mr_multiaddr: 'ff02::7', ipv6mr_interface: '%shmif0' })), 'ok');
  const groups = (): string[] => in6MultiAll(inet6(b)).filter((m) => m.ifp.name === 'shmif0').map((m) => formatIn6Addr(m.group)).sort();
  // The solicited-node groups of its two addresses (2001:db8::2 and its link-local), ff02::1, and what was joined.
  const ll = linkLocal(b);
  const llGroup = `ff02::1:ff${ll[13]!.toString(16).padStart(2, '0')}:${((ll[14]! << 8) | ll[15]!).toString(16)}`;
  t.deepEqual(groups(), ['ff02::1', 'ff02::1:ff00:2', llGroup, 'ff02::7', GROUP].sort());
  await s.close(rb);
  t.deepEqual(groups(), ['ff02::1', 'ff02::1:ff00:2', llGroup].sort(), 'close leaves the socket\'s groups, the address\'s stay');
  for (const k of [a, b, c]) await k.halt();
});
