/*
 * IPv6 forwarding (net.inet6.ip6.forwarding) and redirects, kernels on hubs
 * on the sim clock:
 *
 *     A hub0 2001:db8:1::1 ── lan1 ── hub0 2001:db8:1::ff  R  hub1 2001:db8:2::ff ── lan2 ── hub0 2001:db8:2::2 B
 *
 * A router passes packets on with the hop limit one less; a hop limit of 1
 * earns "time exceeded in transit" (RFC 4443 §3.3), a packet larger than
 * the next link "packet too big" with its MTU (§3.2), no route
 * "unreachable, no route" (§3.1); link-local addresses never leave their
 * link (RFC 4291 §2.5.6). A router that sends a packet back out of the
 * link it came from redirects the sender (RFC 4861 §8.2), and the host
 * takes the better first hop (§8.3).
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { RTF_DYNAMIC, RTF_GATEWAY, RTF_HOST, RTF_UP } from '../../net/route.js';
import type { RouteInfo } from '../../net/ioctl.js';
import type { Rt6Msg } from '../../net/inet6/route6_ops.js';
import { inet6 } from '../../net/inet6/inet6.js';
import { netstack } from '../../net/netstack.js';
import { formatIn6Addr } from '../../net/wire/in6addr.js';
import { main as netstat } from '../../bin/rump.netstat.js';
import { run } from '../bin/helpers.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { haltAll, type Kernels } from '../helpers/kernels.js';
import { bootKernels6, dadDone, decode6, ether6, ifconfig6, ip6Packet, sendEcho6, type Seen6 } from './helpers.js';

const macOf = (k: Kernel, ifname: string): Uint8Array => netstack(k).ifs.get(ifname)!.lladdr!;
const hexMac = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
const linkLocal = (k: Kernel, ifname: string): string =>
  formatIn6Addr(inet6(k).addrs.find((ia) => ia.ifp.name === ifname && ia.addr[0] === 0xfe)!.addr);
const rt6 = (k: Kernel): Promise<RouteInfo[]> => k.sys.ext('rt6dump');
const route6 = (k: Kernel, msg: Rt6Msg): Promise<unknown> => k.sys.ext('rt6msg', msg);

interface Net extends Kernels {
  a: Kernel;
  r: Kernel;
  b: Kernel;
  lan1: Seen6[];
  lan2: Seen6[];
  hub1: Hub;
}

/** A, R and B as drawn above, routes through R's global addresses, DAD done; forwarding as asked. */
async function net(forwarding = 1): Promise<Net> {
  const ks = bootKernels6(3);
  const [a, r, b] = ks.kernels as [Kernel, Kernel, Kernel];
  const hub1 = new Hub('lan1');
  const hub2 = new Hub('lan2');
  attachEther(a, hub1);
  attachEther(r, hub1, { name: 'hub0' });
  attachEther(r, hub2, { name: 'hub1' });
  attachEther(b, hub2);
  const lan1: Seen6[] = [];
  const lan2: Seen6[] = [];
  hub1.tap((f) => void (decode6(f) && lan1.push(decode6(f)!)));
  hub2.tap((f) => void (decode6(f) && lan2.push(decode6(f)!)));
  ifconfig6(a, 'hub0', '2001:db8:1::1/64');
  ifconfig6(r, 'hub0', '2001:db8:1::ff/64');
  ifconfig6(r, 'hub1', '2001:db8:2::ff/64');
  ifconfig6(b, 'hub0', '2001:db8:2::2/64');
  await dadDone(ks);
  await route6(a, { type: 'add', dst: 'default', gateway: '2001:db8:1::ff' });
  await route6(b, { type: 'add', dst: 'default', gateway: '2001:db8:2::ff' });
  r.sysctl.set('net.inet6.ip6.forwarding', forwarding);
  lan1.length = 0;
  lan2.length = 0;
  return { ...ks, a, r, b, lan1, lan2, hub1 };
}

test('off by default: the router drops what is not for it; on, echo A → B and back, the hop limit one less per hop', async (t) => {
  const off = await net(0);
  t.is(off.r.sysctl.get('net.inet6.ip6.forwarding'), 0, 'NetBSD\'s default');
  t.is(sendEcho6(off.a, '2001:db8:2::2'), 0);
  await off.sim.run(100);
  t.is(off.lan2.filter((f) => f.icmpType === 128).length, 0);
  t.like(inet6(off.r).ip6stat, { cantforward: 1, forward: 0 });
  t.deepEqual(await haltAll(off), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });

  const n = await net();
  t.is(sendEcho6(n.a, '2001:db8:2::2'), 0);
  await n.sim.run(100);
  const req1 = n.lan1.find((f) => f.icmpType === 128)!;
  const req2 = n.lan2.find((f) => f.icmpType === 128)!;
  t.like(req1, { src: '2001:db8:1::1', dst: '2001:db8:2::2', hlim: 64, dstMac: hexMac(macOf(n.r, 'hub0')) });
  t.like(req2, { src: '2001:db8:1::1', dst: '2001:db8:2::2', hlim: 63, srcMac: hexMac(macOf(n.r, 'hub1')), dstMac: hexMac(macOf(n.b, 'hub0')) });
  t.like(n.lan1.find((f) => f.icmpType === 129), { src: '2001:db8:2::2', dst: '2001:db8:1::1', hlim: 63 });
  t.is(inet6(n.a).icmp6stat.inhist[129], 1, 'A has its reply');
  t.like(inet6(n.r).ip6stat, { forward: 2, cantforward: 0, redirectsent: 0 });
  // rump.netstat -s shows them under ip6: and icmp6:, in NetBSD's words.
  const ip6s = (await run(netstat, ['-s', '-p', 'ip6'], n.r.sys)).out;
  t.true(ip6s.startsWith('ip6:\n'), ip6s);
  t.true(ip6s.includes('\t2 packets forwarded\n'), ip6s);
  t.true(ip6s.includes('\t0 packets not forwardable\n'), ip6s);
  t.true((await run(netstat, ['-s', '-p', 'icmp6'], n.a.sys)).out.includes('\tInput packet histogram:\n\t\techo reply: 1\n'));
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});

test('hop limit 1: time exceeded in transit from the router, quoting the packet (RFC 4443 §3.3)', async (t) => {
  const n = await net();
  const pkt = ip6Packet({ src: '2001:db8:1::1', dst: '2001:db8:2::2', nxt: 59, payload: new Uint8Array(8), hlim: 1 });
  n.hub1.inject(ether6(macOf(n.r, 'hub0'), macOf(n.a, 'hub0'), pkt));
  await n.sim.run(100);
  const te = n.lan1.find((f) => f.icmpType === 3)!;
  t.like(te, { icmpCode: 0, src: '2001:db8:1::ff', dst: '2001:db8:1::1' });
  // The quote: the offending packet from its IPv6 header, hop limit as it arrived.
  t.deepEqual(te.frame.subarray(14 + 48, 14 + 48 + pkt.length), pkt);
  t.is(n.lan2.length, 0, 'nothing crossed');
  t.like(inet6(n.r).ip6stat, { cantforward: 1, forward: 0 });
  t.is(inet6(n.r).icmp6stat.outhist[3], 1);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});

test('larger than the next link: packet too big with its MTU (§3.2); the router does not fragment', async (t) => {
  const n = await net();
  netstack(n.r).ifs.get('hub1')!.mtu = 1280;
  t.is(sendEcho6(n.a, '2001:db8:2::2', { size: 1400 }), 0);
  await n.sim.run(100);
  const ptb = n.lan1.find((f) => f.icmpType === 2)!;
  t.like(ptb, { icmpCode: 0, src: '2001:db8:1::ff', dst: '2001:db8:1::1' });
  const f = ptb.frame;
  t.is(new DataView(f.buffer, f.byteOffset + 14 + 40 + 4, 4).getUint32(0), 1280, 'the MTU of the next link');
  t.is(n.lan2.filter((x) => x.icmpType === 128).length, 0);
  t.like(inet6(n.r).ip6stat, { cantfrag: 1, cantforward: 1 });
  // A fits the next one to it (a smaller echo crosses).
  t.is(sendEcho6(n.a, '2001:db8:2::2', { size: 1000 }), 0);
  await n.sim.run(100);
  t.is(n.lan2.filter((x) => x.icmpType === 128).length, 1);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});

test('no route: unreachable, no route to destination (§3.1), counted', async (t) => {
  const n = await net();
  t.is(sendEcho6(n.a, '2001:db8:9::1'), 0);
  await n.sim.run(100);
  t.like(n.lan1.find((f) => f.icmpType === 1), { icmpCode: 0, src: '2001:db8:1::ff', dst: '2001:db8:1::1' });
  t.like(inet6(n.r).ip6stat, { noroute: 1, cantforward: 1 });
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});

test('link-local addresses stay on their link (RFC 4291 §2.5.6): beyond-scope for a link-local source, a drop for a link-local destination', async (t) => {
  const n = await net();
  // From A's link-local address to B: R must not carry it onto lan2.
  t.is(sendEcho6(n.a, '2001:db8:2::2', { src: linkLocal(n.a, 'hub0') }), 0);
  await n.sim.run(100);
  t.like(n.lan1.find((f) => f.icmpType === 1), { icmpCode: 2, dst: linkLocal(n.a, 'hub0') });
  t.is(n.lan2.filter((f) => f.icmpType === 128).length, 0);
  // To a link-local address that is not R's, sent to R's MAC: dropped, never forwarded.
  const pkt = ip6Packet({ src: '2001:db8:1::1', dst: linkLocal(n.b, 'hub0'), nxt: 59, payload: new Uint8Array(8) });
  n.hub1.inject(ether6(macOf(n.r, 'hub0'), macOf(n.a, 'hub0'), pkt));
  await n.sim.run(100);
  t.is(n.lan2.filter((f) => f.nxt === 59).length, 0);
  t.like(inet6(n.r).ip6stat, { badscope: 2, cantforward: 2, forward: 0 });
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});

/**
 * One link, two prefixes: A (2001:db8:1::1) and B (2001:db8:2::2) share lan
 * with R (::ff in each), each routed to the other's prefix through R's
 * link-local address, as a host with a default router is.
 */
async function oneLink(): Promise<Kernels & { a: Kernel; r: Kernel; b: Kernel; lan: Seen6[] }> {
  const ks = bootKernels6(3, 5);
  const [a, r, b] = ks.kernels as [Kernel, Kernel, Kernel];
  const hub = new Hub('lan');
  for (const k of [a, r, b]) attachEther(k, hub);
  const lan: Seen6[] = [];
  hub.tap((f) => void (decode6(f) && lan.push(decode6(f)!)));
  ifconfig6(a, 'hub0', '2001:db8:1::1/64');
  ifconfig6(r, 'hub0', '2001:db8:1::ff/64');
  ifconfig6(r, 'hub0', '2001:db8:2::ff/64');
  ifconfig6(b, 'hub0', '2001:db8:2::2/64');
  await dadDone(ks);
  r.sysctl.set('net.inet6.ip6.forwarding', 1);
  await route6(a, { type: 'add', dst: 'default', gateway: linkLocal(r, 'hub0') });
  await route6(b, { type: 'add', dst: 'default', gateway: linkLocal(r, 'hub0') });
  lan.length = 0;
  return { ...ks, a, r, b, lan };
}

test('redirect (RFC 4861 §8): the router forwards and tells A that B is on the link; A then sends to B directly', async (t) => {
  const n = await oneLink();
  const rMac = hexMac(macOf(n.r, 'hub0'));
  const bMac = hexMac(macOf(n.b, 'hub0'));
  t.is(sendEcho6(n.a, '2001:db8:2::2', { seq: 1 }), 0);
  await n.sim.run(100);
  // §4.5: from R's link-local address, to A, hop limit 255; target = destination (on-link).
  const rd = n.lan.find((f) => f.icmpType === 137)!;
  t.like(rd, { icmpCode: 0, src: linkLocal(n.r, 'hub0'), dst: '2001:db8:1::1', hlim: 255 });
  const f = rd.frame;
  t.is(formatIn6Addr(f, 14 + 40 + 8), '2001:db8:2::2', 'target');
  t.is(formatIn6Addr(f, 14 + 40 + 24), '2001:db8:2::2', 'destination');
  t.is(inet6(n.r).ip6stat.redirectsent >= 1, true);
  t.is(inet6(n.a).icmp6stat.inhist[137], 1);
  // §8.3: A now has a host route for B on the link, made by the redirect.
  const r = (await rt6(n.a)).find((x) => x.dst === '2001:db8:2::2')!;
  t.is(r.prefixLen, 128);
  t.is(r.flags & (RTF_UP | RTF_HOST | RTF_DYNAMIC | RTF_GATEWAY), RTF_UP | RTF_HOST | RTF_DYNAMIC);
  t.is(inet6(n.a).icmp6stat.inhist[129], 1, 'the first echo was forwarded and answered');
  // B's reply went through R too and earned B a redirect to A, carrying A's
  // link-layer address (R had learnt it): B's neighbor cache has A without asking (§8.3).
  const ndpB = (await n.b.sys.ext('ndpdump')) as Array<{ addr: string; lladdr: string }>;
  t.like(ndpB.find((e) => e.addr === '2001:db8:1::1'), { lladdr: hexMac(macOf(n.a, 'hub0')) });
  t.false(n.lan.some((x) => x.icmpType === 135 && x.target === '2001:db8:1::1' && x.srcMac === hexMac(macOf(n.b, 'hub0'))), 'B never asked');
  n.lan.length = 0;
  t.is(sendEcho6(n.a, '2001:db8:2::2', { seq: 2 }), 0);
  await n.sim.run(100);
  const reqs = n.lan.filter((x) => x.icmpType === 128 && x.src === '2001:db8:1::1');
  t.is(reqs.length, 1);
  t.like(reqs[0], { dstMac: bMac, hlim: 64 }, 'straight to B');
  t.false(n.lan.some((x) => x.icmpType === 128 && x.dstMac === rMac && x.src === '2001:db8:1::1'));
  t.is(inet6(n.a).icmp6stat.inhist[129], 2);
  // The route lives net.inet6.icmp6.redirtimeout (600 s), then goes.
  await n.sim.run(590_000);
  t.true((await rt6(n.a)).some((x) => x.dst === '2001:db8:2::2'));
  await n.sim.run(20_000);
  t.false((await rt6(n.a)).some((x) => x.dst === '2001:db8:2::2'));
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});

test('redirects a host does not take: from a node that is not its router, with rediraccept = 0, and on a router', async (t) => {
  const n = await oneLink();
  // B's link-local address pretends to be a router for A: not A's first hop for the destination (§8.1).
  const llB = linkLocal(n.b, 'hub0');
  const body = new Uint8Array(40);
  const dst = new Uint8Array(16);
  dst.set([0x20, 0x01, 0x0d, 0xb8, 0, 3], 0);
  dst[15] = 3;
  body[0] = 137;
  body.set(dst, 8);
  body.set(dst, 24);
  const redirect = (src: string): Uint8Array =>
    ip6Packet({ src, dst: '2001:db8:1::1', nxt: 58, payload: body, hlim: 255, csumAt: 2 });
  n.lan.length = 0;
  const hubA = macOf(n.a, 'hub0');
  const inject = (pkt: Uint8Array): void => {
    const hub = netstack(n.b).ifs.get('hub0')!;
    const m = n.b.mbufs.get(pkt.length + 14)!;
    m.buf.set(ether6(hubA, macOf(n.b, 'hub0'), pkt), m.off);
    m.len = pkt.length + 14;
    hub.driver.transmit(hub, m);
  };
  inject(redirect(llB));
  await n.sim.run(10);
  t.is(inet6(n.a).icmp6stat.badredirect, 1);
  t.false((await rt6(n.a)).some((x) => x.dst === '2001:db8:3::3'));
  // From the real router, but with net.inet6.icmp6.rediraccept = 0: ignored.
  n.a.sysctl.set('net.inet6.icmp6.rediraccept', 0);
  inject(redirect(linkLocal(n.r, 'hub0')));
  await n.sim.run(10);
  t.false((await rt6(n.a)).some((x) => x.dst === '2001:db8:3::3'));
  // A router does not take redirects either.
  n.a.sysctl.set('net.inet6.icmp6.rediraccept', 1);
  n.a.sysctl.set('net.inet6.ip6.forwarding', 1);
  inject(redirect(linkLocal(n.r, 'hub0')));
  await n.sim.run(10);
  t.false((await rt6(n.a)).some((x) => x.dst === '2001:db8:3::3'));
  // Accepted once a host that allows them: the same message is valid.
  n.a.sysctl.set('net.inet6.ip6.forwarding', 0);
  inject(redirect(linkLocal(n.r, 'hub0')));
  await n.sim.run(10);
  t.true((await rt6(n.a)).some((x) => x.dst === '2001:db8:3::3'));
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});

test('a flood of redirects for distinct destinations: at most 4,096 routes kept, the rest counted, all gone after redirtimeout', async (t) => {
  const n = await oneLink();
  const hubA = macOf(n.a, 'hub0');
  const llR = linkLocal(n.r, 'hub0');
  const port = netstack(n.r).ifs.get('hub0')!;
  const body = new Uint8Array(40);
  body[0] = 137;
  for (let i = 0; i < 5000; i++) {
    const dst = new Uint8Array(16);
    dst.set([0x20, 0x01, 0x0d, 0xb8, 0, 7], 0);
    dst[14] = i >>> 8;
    dst[15] = i & 0xff;
    body.set(dst, 8);
    body.set(dst, 24);
    const pkt = ip6Packet({ src: llR, dst: '2001:db8:1::1', nxt: 58, payload: body, hlim: 255, csumAt: 2 });
    const m = n.r.mbufs.get(pkt.length + 14)!;
    m.buf.set(ether6(hubA, macOf(n.r, 'hub0'), pkt), m.off);
    m.len = pkt.length + 14;
    port.driver.transmit(port, m);
    if (i % 500 === 499) await n.sim.settle();
  }
  await n.sim.settle();
  const dyn = (await rt6(n.a)).filter((x) => x.flags & RTF_DYNAMIC);
  t.is(dyn.length, 4096);
  t.is(inet6(n.a).icmp6stat.redirfull, 5000 - 4096);
  await n.sim.run(601_000);
  t.is((await rt6(n.a)).filter((x) => x.flags & RTF_DYNAMIC).length, 0, 'all expired');
  t.is(inet6(n.a).redirects?.list.length, 0);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});
