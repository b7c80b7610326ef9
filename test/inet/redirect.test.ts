/*
 * ICMP redirects for IPv4 (RFC 792, RFC 1812 §5.2.7.2, RFC 1122 §3.2.2.2),
 * kernels on hubs on the sim clock:
 *
 *     A 10.0.1.1 ──┬── lan1 ──┬── R1 10.0.1.254 (A's default router)
 *                  │          └── R2 10.0.1.253 ── lan2 ── 10.0.9.254 … B 10.0.9.2
 *
 * R1 reaches 10.0.9.0/24 through R2, on the link A's packet came in on: it
 * forwards the packet and redirects A to R2 (host redirect, gateway R2);
 * A takes it (a host route, RTF_DYNAMIC) and sends the next packet to R2
 * itself. With net.inet.ip.redirect = 0 nothing is sent; with
 * net.inet.icmp.rediraccept = 0, or from a node that is not A's router,
 * nothing is taken.
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { RTF_DYNAMIC, RTF_GATEWAY, RTF_HOST } from '../../net/route.js';
import { Hub, attachEther } from '../helpers/hub.js';
import {
  bootKernels, decodeFrame, etherFrame, haltAll, icmpMessage, icmpstat, ifconfig, ifnet, ipPacket, ipstat, route, routes, sendEcho,
  type Kernels, type SeenFrame,
} from '../helpers/kernels.js';

interface Net extends Kernels {
  a: Kernel;
  r1: Kernel;
  r2: Kernel;
  b: Kernel;
  lan1: SeenFrame[];
  hub1: Hub;
}

async function net(): Promise<Net> {
  const ks = bootKernels(4);
  const [a, r1, r2, b] = ks.kernels as [Kernel, Kernel, Kernel, Kernel];
  const hub1 = new Hub('lan1');
  const hub2 = new Hub('lan2');
  attachEther(a, hub1);
  attachEther(r1, hub1);
  attachEther(r2, hub1, { name: 'hub0' });
  attachEther(r2, hub2, { name: 'hub1' });
  attachEther(b, hub2);
  const lan1: SeenFrame[] = [];
  hub1.tap((f) => lan1.push(decodeFrame(f)));
  ifconfig(a, 'hub0', '10.0.1.1/24');
  ifconfig(r1, 'hub0', '10.0.1.254/24');
  ifconfig(r2, 'hub0', '10.0.1.253/24');
  ifconfig(r2, 'hub1', '10.0.9.254/24');
  ifconfig(b, 'hub0', '10.0.9.2/24');
  for (const r of [r1, r2]) r.sysctl.set('net.inet.ip.forwarding', 1);
  await route(a, { type: 'add', dst: 'default', gateway: '10.0.1.254' });
  await route(r1, { type: 'add', dst: '10.0.9.0', prefixLen: 24, gateway: '10.0.1.253' });
  await route(b, { type: 'add', dst: 'default', gateway: '10.0.9.254' });
  await ks.sim.settle();
  return { ...ks, a, r1, r2, b, lan1, hub1 };
}

const mac = (k: Kernel): string => [...ifnet(k, 'hub0').lladdr!].map((x) => x.toString(16).padStart(2, '0')).join(':');

test('a router redirects a host to the better router on its link; the host takes it and sends there next', async (t) => {
  const n = await net();
  t.is(n.r1.sysctl.get('net.inet.ip.redirect'), 1, 'NetBSD\'s default');
  t.is(sendEcho(n.a, '10.0.9.2', { seq: 1 }), 0);
  await n.sim.run(100);
  const rd = n.lan1.find((f) => f.ip?.icmpType === 5)!;
  t.like(rd.ip, { src: '10.0.1.254', dst: '10.0.1.1', icmpCode: 1 }, 'a host redirect from A\'s router');
  const icmp = 14 + 20;
  t.deepEqual([...rd.frame.subarray(icmp + 4, icmp + 8)], [10, 0, 1, 253], 'the gateway to use: R2');
  // The quote: the packet as it came, TTL 64 (RFC 792: IP header and 64 bits of data).
  t.is(rd.frame[icmp + 8 + 8], 64);
  t.is(ipstat(n.r1).redirectsent, 1);
  t.is(ipstat(n.r1).forward, 1, 'the packet itself was forwarded');
  t.is(icmpstat(n.a).inhist[0], 1, 'and answered');
  const host = (await routes(n.a)).find((x) => x.dst === '10.0.9.2')!;
  t.like(host, { prefixLen: 32, gateway: '10.0.1.253' });
  t.is(host.flags & (RTF_GATEWAY | RTF_HOST | RTF_DYNAMIC), RTF_GATEWAY | RTF_HOST | RTF_DYNAMIC);
  n.lan1.length = 0;
  t.is(sendEcho(n.a, '10.0.9.2', { seq: 2 }), 0);
  await n.sim.run(100);
  const reqs = n.lan1.filter((f) => f.ip?.icmpType === 8);
  t.is(reqs.length, 1);
  t.is(reqs[0]!.dstMac, mac(n.r2), 'straight to R2');
  t.is(ipstat(n.r1).forward, 1, 'R1 saw no more of it');
  t.is(icmpstat(n.a).inhist[0], 2);
  // The route lives net.inet.icmp.redirtimeout (600 s), then goes.
  await n.sim.run(590_000);
  t.true((await routes(n.a)).some((x) => x.dst === '10.0.9.2'));
  await n.sim.run(20_000);
  t.false((await routes(n.a)).some((x) => x.dst === '10.0.9.2'));
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0, 0], callouts: [0, 0, 0, 0] });
});

test('net.inet.ip.redirect = 0: forwarded, no redirect; rediraccept = 0 or a redirect from a stranger: not taken', async (t) => {
  const n = await net();
  n.r1.sysctl.set('net.inet.ip.redirect', 0);
  t.is(sendEcho(n.a, '10.0.9.2'), 0);
  await n.sim.run(100);
  t.is(n.lan1.filter((f) => f.ip?.icmpType === 5).length, 0);
  t.is(icmpstat(n.a).inhist[0], 1);

  n.r1.sysctl.set('net.inet.ip.redirect', 1);
  n.a.sysctl.set('net.inet.icmp.rediraccept', 0);
  t.is(sendEcho(n.a, '10.0.9.2', { seq: 2 }), 0);
  await n.sim.run(100);
  t.is(n.lan1.filter((f) => f.ip?.icmpType === 5).length, 1, 'sent');
  t.false((await routes(n.a)).some((x) => x.dst === '10.0.9.2'), 'not taken');

  // Taken only from the current router for the destination: R2 is not A's router for 10.0.9.2.
  n.a.sysctl.set('net.inet.icmp.rediraccept', 1);
  n.r1.sysctl.set('net.inet.ip.redirect', 0);
  n.r2.sysctl.set('net.inet.ip.forwarding', 1);
  await route(n.r2, { type: 'add', dst: '10.0.8.0', prefixLen: 24, gateway: '10.0.1.254' });
  await route(n.r1, { type: 'add', dst: '10.0.8.0', prefixLen: 24, gateway: '10.0.1.253' });
  // A → 10.0.8.1 goes to R1, which sends it on to R2, which sends it back
  // to R1 on the same link: R2 redirects the sender, A, to R1. But R1 is
  // A's router for it already and R2 is not: A refuses (RFC 1122 §3.2.2.2).
  const bad = icmpstat(n.a).badredirect;
  t.is(sendEcho(n.a, '10.0.8.1', { ttl: 3 }), 0);
  await n.sim.run(100);
  t.like(n.lan1.find((f) => f.ip?.icmpType === 5 && f.ip.src === '10.0.1.253')?.ip, { dst: '10.0.1.1' });
  t.is(icmpstat(n.a).badredirect, bad + 1);
  t.false((await routes(n.a)).some((x) => x.dst === '10.0.8.1'));
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0, 0], callouts: [0, 0, 0, 0] });
});

test('a flood of redirects for distinct destinations: at most 4,096 routes kept, the rest counted, all gone after redirtimeout', async (t) => {
  const n = await net();
  const hubA = ifnet(n.a, 'hub0').lladdr!;
  const port = ifnet(n.r1, 'hub0');
  for (let i = 0; i < 5000; i++) {
    // A quoted datagram from A to 10.100.x.y, a destination of its own each, which A reaches through R1.
    const dst = `10.${100 + (i >>> 16)}.${(i >>> 8) & 0xff}.${i & 0xff}`;
    const quoted = ipPacket({ src: '10.0.1.1', dst, p: 17, payload: new Uint8Array(8) });
    const msg = icmpMessage(5, 1, ((10 << 24) | (0 << 16) | (1 << 8) | 253) >>> 0, quoted);
    const pkt = ipPacket({ src: '10.0.1.254', dst: '10.0.1.1', p: 1, payload: msg });
    const f = etherFrame(hubA, port.lladdr!, 0x0800, pkt);
    const m = n.r1.mbufs.get(f.length)!;
    m.buf.set(f, m.off);
    m.len = f.length;
    port.driver.transmit(port, m);
    if (i % 500 === 499) await n.sim.settle();
  }
  await n.sim.settle();
  const dyn = (await routes(n.a)).filter((x) => x.flags & RTF_DYNAMIC);
  t.is(dyn.length, 4096);
  t.is(icmpstat(n.a).redirfull, 5000 - 4096);
  await n.sim.run(601_000);
  t.is((await routes(n.a)).filter((x) => x.flags & RTF_DYNAMIC).length, 0, 'all expired');
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0, 0, 0], callouts: [0, 0, 0, 0] });
});
