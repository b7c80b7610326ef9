/*
 * IPv6 path MTU discovery for TCP (RFC 8201), on the simulated clock:
 *
 *     A hub0 2001:db8:1::1 ── lan1 ── hub0 2001:db8:1::ff  R  hub1 2001:db8:2::ff (mtu 1280) ── lan2 ── hub0 2001:db8:2::2 B
 *
 * A's 1500-byte segments to B earn "packet too big" (1280) from R, which
 * never fragments; A checks the quoted segment is one of its own in flight,
 * the host route to B (made, UGHD, from A's default route) takes MTU 1280,
 * TCP resends in smaller segments, everything arrives, and the route goes
 * after 10 minutes (RFC 8201 §4).
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET6, SOCK_DGRAM, SOCK_STREAM } from '../../kern/sys.js';
import type { RouteInfo } from '../../net/ioctl.js';
import type { Rt6Msg } from '../../net/inet6/route6_ops.js';
import { inet } from '../../net/inet/inet.js';
import { inet6 } from '../../net/inet6/inet6.js';
import { netstack } from '../../net/netstack.js';
import { RTF_DYNAMIC, RTF_GATEWAY, RTF_HOST, RTF_UP } from '../../net/route.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { bootKernels6, dadDone, decode6, ifconfig6, type Seen6 } from './helpers.js';

const rt6 = (k: Kernel): Promise<RouteInfo[]> => k.sys.ext('rt6dump');
const route6 = (k: Kernel, msg: Rt6Msg): Promise<unknown> => k.sys.ext('rt6msg', msg);
const DATA = new Uint8Array(5632).map((_, i) => 0x30 + (i % 10));

/**
 * A (2001:db8:1::1) and B (2001:db8:2::2) on two links joined by router R,
 * whose link to B has an MTU of 1280; frames on A's link are decoded into `lan1`.
 */
async function pathThroughRouter(): Promise<{ ks: ReturnType<typeof bootKernels6>; a: Kernel; r: Kernel; b: Kernel; lan1: Seen6[] }> {
  const ks = bootKernels6(3);
  const [a, r, b] = ks.kernels as [Kernel, Kernel, Kernel];
  const hub1 = new Hub('lan1');
  const hub2 = new Hub('lan2');
  attachEther(a, hub1);
  attachEther(r, hub1, { name: 'hub0' });
  attachEther(r, hub2, { name: 'hub1' });
  attachEther(b, hub2);
  const lan1: Seen6[] = [];
  hub1.tap((f) => void (decode6(f) && lan1.push(decode6(f)!)));
  ifconfig6(a, 'hub0', '2001:db8:1::1/64');
  ifconfig6(r, 'hub0', '2001:db8:1::ff/64');
  ifconfig6(r, 'hub1', '2001:db8:2::ff/64');
  ifconfig6(b, 'hub0', '2001:db8:2::2/64');
  await dadDone(ks);
  await route6(a, { type: 'add', dst: 'default', gateway: '2001:db8:1::ff' });
  await route6(b, { type: 'add', dst: 'default', gateway: '2001:db8:2::ff' });
  r.sysctl.set('net.inet6.ip6.forwarding', 1);
  netstack(r).ifs.get('hub1')!.mtu = 1280;
  return { ks, a, r, b, lan1 };
}

test('packet too big (RFC 8201): the route to B takes 1280 (UGHD), TCP resends smaller, all of it arrives; the route goes after 10 minutes', async (t) => {
  const { ks, a, r, b, lan1 } = await pathThroughRouter();

  const lfd = await b.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await b.sys.bind(lfd, { family: AF_INET6, addr: '::', port: 1234 });
  await b.sys.listen(lfd, 1);
  let got = 0;
  const server = (async () => {
    const { fd } = await b.sys.accept(lfd);
    for (;;) {
      const d = await b.sys.read(fd, 65536);
      if (d.length === 0) break;
      got += d.length;
    }
    await b.sys.close(fd);
  })();
  const fd = await a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  const c = a.sys.connect(fd, { family: AF_INET6, addr: '2001:db8:2::2', port: 1234 });
  await ks.sim.run(10);
  await c;
  await a.sys.write(fd, DATA);
  await a.sys.close(fd);
  await ks.sim.run(3000);
  await server;
  t.is(got, DATA.length);
  t.true(inet6(r).icmp6stat.outhist[2]! > 0, 'R said "packet too big"');
  t.is(inet(a).tcpstat.mturesent, 1);
  const host = (await rt6(a)).find((x) => x.dst === '2001:db8:2::2' && x.prefixLen === 128);
  t.like(host, { mtu: 1280, flags: RTF_UP | RTF_GATEWAY | RTF_HOST | RTF_DYNAMIC, gateway: '2001:db8:1::ff' });
  const sizes = lan1.filter((f) => f.src === '2001:db8:1::1' && f.nxt === 6).map((f) => f.frame.length - 14);
  t.true(sizes.includes(1500) && sizes.at(-1)! <= 1280, `IPv6 packet sizes ${sizes.join(',')}`);
  await ks.sim.run(600_000);
  t.is((await rt6(a)).find((x) => x.dst === '2001:db8:2::2' && x.prefixLen === 128), undefined, 'gone after 10 minutes');
  await b.sys.close(lfd);
});

test('packet too big for a UDP datagram (RFC 8201 §4): the route to B takes 1280 all the same, and the next datagram is fragmented at A and arrives', async (t) => {
  const { ks, a, r, b, lan1 } = await pathThroughRouter();

  const rfd = await b.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await b.sys.bind(rfd, { family: AF_INET6, addr: '::', port: 9000 });
  const fd = await a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  const to = { family: AF_INET6, addr: '2001:db8:2::2', port: 9000 };
  await a.sys.sendto(fd, DATA.subarray(0, 1400), 0, to);
  await ks.sim.run(100);
  t.true(inet6(r).icmp6stat.outhist[2]! > 0, 'R said "packet too big"');
  const host = (await rt6(a)).find((x) => x.dst === '2001:db8:2::2' && x.prefixLen === 128);
  t.like(host, { mtu: 1280, flags: RTF_UP | RTF_GATEWAY | RTF_HOST | RTF_DYNAMIC });
  lan1.length = 0;
  await a.sys.sendto(fd, DATA.subarray(0, 1400), 0, to);
  await ks.sim.run(100);
  const mine = lan1.filter((f) => f.src === '2001:db8:1::1');
  t.true(mine.length === 2 && mine.every((f) => f.nxt === 44 && f.frame.length - 14 <= 1280), `A sent ${mine.map((f) => `${f.nxt}/${f.frame.length - 14}`).join(',')}`);
  const got = await b.sys.recvfrom(rfd, 2000);
  t.is(got.data.length, 1400, 'B has the second datagram, reassembled');
  await a.sys.close(fd);
  await b.sys.close(rfd);
});
