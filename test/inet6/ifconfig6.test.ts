/*
 * IPv6 addresses on interfaces, through the tool and the kernel's ioctls:
 * `rump.ifconfig IF inet6 ADDR/PLEN` adds one beside the others with its
 * connected and local routes, the listing shows NetBSD's inet6 lines, and
 * `delete` takes it and its routes away. lo0 has ::1 and fe80::1 from the
 * start; an interface that comes up gets its link-local address.
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { main } from '../../bin/rump.ifconfig.js';
import type { RouteInfo } from '../../net/ioctl.js';
import { RTF_CONNECTED, RTF_GATEWAY, RTF_HOST, RTF_LOCAL, RTF_STATIC, RTF_UP } from '../../net/route.js';
import { ifioctl } from '../../net/interface_ioctl.js';
import { netstack } from '../../net/netstack.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { run } from '../bin/helpers.js';
import type { Kernels } from '../helpers/kernels.js';
import { bootKernels6, dadDone } from './helpers.js';

function kernels(): Kernels {
  const ks = bootKernels6(1);
  attachEther(ks.kernels[0]!, new Hub('lan'), { mac: Uint8Array.of(0xb2, 0xa0, 0, 0, 0, 9) });
  return ks;
}

function kernel(): Kernel {
  return kernels().kernels[0]!;
}

const rt6 = (k: Kernel): Promise<RouteInfo[]> => k.sys.ext('rt6dump');

test('rump.ifconfig IF inet6 ADDR/PLEN: added, listed as NetBSD lists it, routed, deleted', async (t) => {
  const ks = kernels();
  const k = ks.kernels[0]!;
  // IPv4 first, while hub0 is down: no IPv4 DAD then (arp_dad.ts), so the inet line stays put.
  t.is((await run(main, ['hub0', 'inet', '192.0.2.1/24'], k.sys)).status, 0);
  t.is((await run(main, ['hub0', 'inet6', '2001:db8::1/64'], k.sys)).status, 0);
  // Without a length, /64 (NetBSD's in6_defmask).
  t.is((await run(main, ['hub0', 'inet6', 'fd00:1::9'], k.sys)).status, 0);
  // Up, the interface got its link-local address (modified EUI-64 of its MAC,
  // RFC 4291 appendix A) first; every address is tentative while DAD runs.
  const head = 'hub0: flags=0x8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n' +
    '\taddress: b2:a0:00:00:00:09\n' +
    '\tinet 192.0.2.1/24 broadcast 192.0.2.255 flags 0x0\n';
  t.is((await run(main, ['hub0'], k.sys)).out, head +
    '\tinet6 fe80::b0a0:ff:fe00:9%hub0/64 flags 0x2<TENTATIVE> scopeid 0x2\n' +
    '\tinet6 2001:db8::1/64 flags 0x2<TENTATIVE>\n' +
    '\tinet6 fd00:1::9/64 flags 0x2<TENTATIVE>\n');
  await dadDone(ks);
  t.is((await run(main, ['hub0'], k.sys)).out, head +
    '\tinet6 fe80::b0a0:ff:fe00:9%hub0/64 flags 0x0 scopeid 0x2\n' +
    '\tinet6 2001:db8::1/64 flags 0x0\n' +
    '\tinet6 fd00:1::9/64 flags 0x0\n');
  // lo0: ::1 and fe80::1%lo0, as NetBSD's in6_ifattach gives a loopback; no DAD there.
  t.true((await run(main, ['lo0'], k.sys)).out.includes('\tinet6 ::1/128 flags 0x0\n\tinet6 fe80::1%lo0/64 flags 0x0 scopeid 0x1\n'));
  const routes = await rt6(k);
  t.deepEqual(routes.map((x) => [x.dst, x.prefixLen, x.gateway, x.flags, x.ifname]), [
    ['::1', 128, 'lo0', RTF_UP | RTF_HOST | RTF_LOCAL, 'lo0'],
    ['2001:db8::', 64, 'link#2', RTF_UP | RTF_CONNECTED, 'hub0'],
    ['2001:db8::1', 128, 'link#2', RTF_UP | RTF_HOST | RTF_LOCAL, 'lo0'],
    ['fd00:1::', 64, 'link#2', RTF_UP | RTF_CONNECTED, 'hub0'],
    ['fd00:1::9', 128, 'link#2', RTF_UP | RTF_HOST | RTF_LOCAL, 'lo0'],
    ['fe80::', 64, 'link#2', RTF_UP | RTF_CONNECTED, 'hub0'],
    ['fe80::1', 128, 'lo0', RTF_UP | RTF_HOST | RTF_LOCAL, 'lo0'],
    ['fe80::b0a0:ff:fe00:9', 128, 'link#2', RTF_UP | RTF_HOST | RTF_LOCAL, 'lo0'],
  ]);
  t.is((await run(main, ['hub0', 'inet6', '2001:db8::1', 'delete'], k.sys)).status, 0);
  t.false((await run(main, ['hub0'], k.sys)).out.includes('2001:db8::1'));
  t.false((await rt6(k)).some((x) => x.dst.startsWith('2001:db8::')));
  const again = await run(main, ['hub0', 'inet6', '2001:db8::1', 'delete'], k.sys);
  t.is(again.err, 'rump.ifconfig: SIOCDIFADDR_IN6: Can\'t assign requested address\n');
  t.is(again.status, 1);
  await k.halt();
});

test('SIOCAIFADDR_IN6 refuses what cannot be an interface address', async (t) => {
  const k = kernel();
  const ns = netstack(k);
  for (const addr of ['::', 'ff02::1', '::ffff:10.0.0.1', 'nonsense', '2001:db8::1/64']) {
    t.throws(() => ifioctl(ns, 'SIOCAIFADDR_IN6', { name: 'hub0', addr, prefixlen: 64 }), { code: 'EINVAL' } as never, addr);
  }
  t.throws(() => ifioctl(ns, 'SIOCAIFADDR_IN6', { name: 'hub0', addr: '2001:db8::1', prefixlen: 129 }), { code: 'EINVAL' } as never);
  // The same address on a second interface: EEXIST.
  attachEther(k, new Hub('other'));
  ifioctl(ns, 'SIOCAIFADDR_IN6', { name: 'hub0', addr: '2001:db8::1', prefixlen: 64 });
  t.throws(() => ifioctl(ns, 'SIOCAIFADDR_IN6', { name: 'hub1', addr: '2001:db8::1', prefixlen: 64 }), { code: 'EEXIST' } as never);
  await k.halt();
});

test('rt6msg: a default route through an on-link gateway; an off-link one is ENETUNREACH', async (t) => {
  const k = kernel();
  await run(main, ['hub0', 'inet6', '2001:db8::1/64'], k.sys);
  await t.throwsAsync(k.sys.ext('rt6msg', { type: 'add', dst: 'default', gateway: '2001:db9::1' }), { code: 'ENETUNREACH' } as never);
  await k.sys.ext('rt6msg', { type: 'add', dst: 'default', gateway: '2001:db8::fe' });
  const got = await k.sys.ext('rt6msg', { type: 'get', dst: '2001:4860::8888' });
  t.like(got, { dst: 'default', prefixLen: 0, gateway: '2001:db8::fe', ifname: 'hub0' });
  t.is((got?.flags ?? 0) & (RTF_GATEWAY | RTF_STATIC), RTF_GATEWAY | RTF_STATIC);
  await k.sys.ext('rt6msg', { type: 'delete', dst: 'default' });
  await t.throwsAsync(k.sys.ext('rt6msg', { type: 'get', dst: '2001:4860::8888' }), { code: 'ESRCH' } as never);
  await k.halt();
});

test('pltime/vltime: -L shows what is left; the address is DEPRECATED when pltime runs out and goes when vltime does', async (t) => {
  const ks = kernels();
  const k = ks.kernels[0]!;
  t.is((await run(main, ['hub0', 'inet6', 'fc00::3', 'pltime', '3', 'vltime', '10'], k.sys)).status, 0);
  await dadDone(ks);
  const line = async (): Promise<string | undefined> =>
    (await run(main, ['-L', 'hub0', 'inet6'], k.sys)).out.split('\n').find((l) => l.includes('fc00::3'));
  t.regex((await line())!, /^\tinet6 fc00::3\/64 flags 0x0 pltime [23] vltime (9|10)$/);
  await ks.sim.run(3_000);
  t.regex((await line())!, /^\tinet6 fc00::3\/64 flags 0x10<DEPRECATED> pltime 0 vltime [67]$/);
  await ks.sim.run(7_000);
  t.is(await line(), undefined, 'gone with its valid lifetime');
  t.false((await k.sys.ext('rt6dump')).some((r) => r.dst === 'fc00::3'), 'and its local route');
  // Without lifetimes: infinite.
  t.is((await run(main, ['hub0', 'inet6', 'fc00::4'], k.sys)).status, 0);
  t.regex((await run(main, ['-L', 'hub0'], k.sys)).out, /\tinet6 fc00::4\/64 flags 0x2<TENTATIVE> pltime infty vltime infty\n/);
  // A valid lifetime shorter than the preferred one is refused, as NetBSD's in6_update_ifa does.
  t.is((await run(main, ['hub0', 'inet6', 'fc00::5', 'pltime', '10', 'vltime', '5'], k.sys)).err, 'rump.ifconfig: SIOCAIFADDR_IN6: Invalid argument\n');
});

test('deprecated / -deprecated, anycast, eui64', async (t) => {
  const ks = kernels();
  const k = ks.kernels[0]!;
  t.is((await run(main, ['hub0', 'inet6', 'fc00::3', 'deprecated'], k.sys)).status, 0);
  await dadDone(ks);
  const out = async (): Promise<string> => (await run(main, ['hub0', 'inet6'], k.sys)).out;
  t.regex(await out(), /\tinet6 fc00::3\/64 flags 0x10<DEPRECATED>\n/);
  t.is((await run(main, ['hub0', 'inet6', 'fc00::3', '-deprecated'], k.sys)).status, 0);
  t.regex(await out(), /\tinet6 fc00::3\/64 flags 0x0\n/);
  // An anycast address: flagged, no DAD (never TENTATIVE).
  t.is((await run(main, ['hub0', 'inet6', 'fc00::2', 'anycast'], k.sys)).status, 0);
  t.regex(await out(), /\tinet6 fc00::2\/64 flags 0x1<ANYCAST>\n/);
  // eui64: the interface identifier of hub0's link-local address (fe80::b0a0:ff:fe00:9).
  t.is((await run(main, ['hub0', 'inet6', 'fc00:1::', 'eui64'], k.sys)).status, 0);
  t.regex(await out(), /\tinet6 fc00:1::b0a0:ff:fe00:9\/64 flags 0x2<TENTATIVE>\n/);
  // lo0's link-local is fe80::1: eui64 there gives ::1 as the identifier.
  t.is((await run(main, ['lo0', 'inet6', 'fc00:2::', 'eui64'], k.sys)).status, 0);
  t.regex((await run(main, ['lo0', 'inet6'], k.sys)).out, /\tinet6 fc00:2::1\/64 flags 0x0\n/);
});
