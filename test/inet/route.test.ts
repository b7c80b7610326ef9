/*
 * Addresses and the routes they bring, and the routing-socket calls
 * (route add / delete / change / get, netstat -rn), checked against what
 * NetBSD's own rump kernel printed (shared/reference/netbsd/netbsd-tools.txt).
 *
 *      a                                          b
 *   hub0 192.0.2.1/24 ────────── lan ────────── hub0 192.0.2.2/24
 *   hub1 198.51.100.1/24 (a second segment nobody else is on)
 */
import test from 'ava';
import { EHOSTUNREACH } from '../../kern/errno.js';
import type { Kernel } from '../../kern/kernel.js';
import { ifioctl } from '../../net/interface_ioctl.js';
import type { IfInfo, RouteInfo } from '../../net/ioctl.js';
import { netstack } from '../../net/netstack.js';
import { RTF_BLACKHOLE, RTF_LETTERS, RTF_NAMES, RTF_REJECT } from '../../net/route.js';
import { formatNetShort, parseInAddr } from '../../net/wire/inaddr.js';
import { Hub, attachEther } from '../helpers/hub.js';
import {
  arpTable, bootKernels, decodeFrame, haltAll, ifconfig, route, routes, sendEcho, type Kernels, type SeenFrame,
} from '../helpers/kernels.js';

interface Setup {
  ks: Kernels;
  a: Kernel;
  b: Kernel;
  seen: SeenFrame[];
}

async function setup(): Promise<Setup> {
  const ks = bootKernels(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  const other = new Hub('other');
  const seen: SeenFrame[] = [];
  hub.tap((f) => seen.push(decodeFrame(f)));
  attachEther(a, hub);
  attachEther(a, other);
  attachEther(b, hub);
  ifconfig(a, 'hub0', '192.0.2.1/24');
  ifconfig(a, 'hub1', '198.51.100.1/24');
  ifconfig(b, 'hub0', '192.0.2.2/24');
  await ks.sim.settle();
  seen.length = 0;
  return { ks, a, b, seen };
}

/** A `route -n show` line's columns: destination, gateway, flag letters, mtu, interface. */
function show(r: RouteInfo): string {
  let letters = '';
  for (const [bit, ch] of RTF_LETTERS) if (r.flags & bit) letters += ch;
  const dst = formatNetShort(parseInAddr(r.dst)!, r.prefixLen, (r.flags & 0x4) !== 0);
  return `${dst} ${r.gateway} ${letters} ${r.mtu || '-'} ${r.ifname}`;
}

function flagNames(flags: number): string {
  return `<${RTF_NAMES.filter(([bit]) => flags & bit).map(([, n]) => n).join(',')}>`;
}

test('addresses bring the routes NetBSD shows: connected UC, local UHl through lo0, lo0 with its MTU', async (t) => {
  const s = await setup();
  t.deepEqual((await routes(s.a)).map(show), [
    '127.0.0.1 lo0 UHl 33624 lo0',
    '192.0.2/24 link#2 UC - hub0',
    '192.0.2.1 link#2 UHl - lo0',
    '198.51.100/24 link#3 UC - hub1',
    '198.51.100.1 link#3 UHl - lo0',
  ]);
  const conf = ifioctl(netstack(s.a), 'SIOCGIFCONF', {}) as IfInfo[];
  t.deepEqual(conf.find((i) => i.name === 'lo0')!.inet, [{ addr: '127.0.0.1', mask: '255.0.0.0', prefixLen: 8, broadaddr: null }]);
  t.deepEqual(conf.find((i) => i.name === 'hub0')!.inet, [{ addr: '192.0.2.1', mask: '255.255.255.0', prefixLen: 24, broadaddr: '192.0.2.255' }]);
  t.is(conf.find((i) => i.name === 'hub0')!.flags & 0x41, 0x41, 'UP and RUNNING');
  await haltAll(s.ks);
});

test('route add default, route get: the answer route(8) prints', async (t) => {
  const s = await setup();
  await route(s.a, { type: 'add', dst: 'default', gateway: '192.0.2.254' });
  const got = await route(s.a, { type: 'get', dst: '203.0.113.1' });
  t.like(got, { dst: '0.0.0.0', prefixLen: 0, gateway: '192.0.2.254', ifaddr: '192.0.2.1', ifname: 'hub0' });
  t.is(flagNames(got.flags), '<UP,GATEWAY,DONE,STATIC>');
  t.is(show((await routes(s.a))[0]!), 'default 192.0.2.254 UGS - hub0');
  await haltAll(s.ks);
});

test('longest-prefix match, in answers and on the wire', async (t) => {
  const s = await setup();
  await route(s.a, { type: 'add', dst: '10.0.0.0/8', gateway: '192.0.2.254' });
  await route(s.a, { type: 'add', dst: '10.1/16', gateway: '192.0.2.253' });
  await route(s.a, { type: 'add', dst: '10.1.2.0', prefixLen: 24, gateway: '192.0.2.252' });
  await route(s.a, { type: 'add', dst: '10.1.2.3', gateway: '192.0.2.251' });
  const via = async (dst: string): Promise<string> => (await route(s.a, { type: 'get', dst })).gateway;
  t.is(await via('10.1.2.3'), '192.0.2.251');
  t.is(await via('10.1.2.4'), '192.0.2.252');
  t.is(await via('10.1.9.9'), '192.0.2.253');
  t.is(await via('10.200.0.1'), '192.0.2.254');
  await t.throwsAsync(route(s.a, { type: 'get', dst: '11.0.0.1' }), { code: 'ESRCH' });
  t.is(await via('192.0.2.77'), 'link#2');
  t.is((await route(s.a, { type: 'get', dst: '10.1/16' })).prefixLen, 16, 'a network form is looked up exactly');
  sendEcho(s.a, '10.1.2.4');
  await s.ks.sim.settle();
  t.is(s.seen.find((f) => f.arp)?.arp?.tpa, '192.0.2.252');
  t.is(show((await routes(s.a)).find((r) => r.dst === '10.1.2.3')!), '10.1.2.3 192.0.2.251 UGHS - hub0');
  await haltAll(s.ks);
});

test('route errors: unreachable gateway, duplicates, deleting what is not there', async (t) => {
  const s = await setup();
  await t.throwsAsync(route(s.a, { type: 'add', dst: 'default', gateway: '203.0.113.1' }), { code: 'ENETUNREACH' });
  await route(s.a, { type: 'add', dst: 'default', gateway: '192.0.2.254' });
  await t.throwsAsync(route(s.a, { type: 'add', dst: 'default', gateway: '192.0.2.253' }), { code: 'EEXIST' });
  await t.throwsAsync(route(s.a, { type: 'delete', dst: 'default', gateway: '192.0.2.253' }), { code: 'ESRCH' });
  await route(s.a, { type: 'delete', dst: 'default' });
  await t.throwsAsync(route(s.a, { type: 'delete', dst: 'default' }), { code: 'ESRCH' });
  await t.throwsAsync(route(s.a, { type: 'add', dst: '10.0.0.0/33', gateway: '192.0.2.254' }), { code: 'EINVAL' });
  await t.throwsAsync(route(s.a, { type: 'add', dst: 'nonsense', gateway: '192.0.2.254' }), { code: 'EINVAL' });
  await t.throwsAsync(route(s.a, { type: 'add', dst: '10.0.0.0/8' }), { code: 'EINVAL' });
  await t.throwsAsync(route(s.a, { type: 'add', dst: '10.0.0.0/8', ifname: 'nope0' }), { code: 'ENXIO' });
  await t.throwsAsync(route(s.a, { type: 'frobnicate' } as never), { code: 'EINVAL' });
  await haltAll(s.ks);
});

test('-reject gives senders EHOSTUNREACH, -blackhole drops silently; change switches them', async (t) => {
  const s = await setup();
  await route(s.a, { type: 'add', dst: '203.0.113.0/24', gateway: '192.0.2.2', flags: RTF_REJECT });
  t.is(sendEcho(s.a, '203.0.113.9'), EHOSTUNREACH);
  t.is(show((await routes(s.a)).find((r) => r.dst === '203.0.113.0')!), '203.0.113/24 192.0.2.2 UGRS - hub0');
  await route(s.a, { type: 'change', dst: '203.0.113.0/24', flags: RTF_BLACKHOLE });
  t.is(sendEcho(s.a, '203.0.113.9'), 0);
  await route(s.a, { type: 'change', dst: '203.0.113.0/24', flags: 0 });
  t.is(sendEcho(s.a, '203.0.113.9'), 0);
  await s.ks.sim.settle();
  // Only the last one reached the wire (to the gateway b, which answers it
  // with nothing: b does not forward).
  t.is(s.seen.filter((f) => f.ip?.dst === '203.0.113.9').length, 1);
  await route(s.a, { type: 'change', dst: '203.0.113.0/24', gateway: '198.51.100.7' });
  t.like(await route(s.a, { type: 'get', dst: '203.0.113.9' }), { gateway: '198.51.100.7', ifname: 'hub1', ifaddr: '198.51.100.1' });
  // A reject route without a gateway goes through lo0, like `route add ... 127.0.0.1 -reject`.
  await route(s.a, { type: 'add', dst: '100.64.0.0/10', flags: RTF_REJECT });
  t.is(sendEcho(s.a, '100.64.1.1'), EHOSTUNREACH);
  await haltAll(s.ks);
});

test('a route mtu caps the datagrams sent along it', async (t) => {
  const s = await setup();
  await route(s.a, { type: 'add', dst: '192.0.2.2', ifname: 'hub0', mtu: 576 });
  sendEcho(s.a, '192.0.2.2', { size: 1000 });
  await s.ks.sim.settle();
  const out = s.seen.filter((f) => f.ip?.src === '192.0.2.1');
  t.is(out.length, 2);
  t.true(out.every((f) => f.ip!.len <= 576));
  t.is((await routes(s.a)).find((r) => r.dst === '192.0.2.2')!.mtu, 576);
  await haltAll(s.ks);
});

test('ifconfig without alias replaces the first address; alias adds; delete removes routes and ARP entries', async (t) => {
  const s = await setup();
  sendEcho(s.a, '192.0.2.2');
  await s.ks.sim.settle();
  t.is((await arpTable(s.a)).length, 1);
  ifconfig(s.a, 'hub0', '192.0.2.9/24', true);
  let dump = (await routes(s.a)).map(show);
  t.true(dump.includes('192.0.2.9 link#2 UHl - lo0'));
  t.is(dump.filter((l) => l.startsWith('192.0.2/24')).length, 1, 'one connected route for both');
  ifconfig(s.a, 'hub0', '192.0.2.5/24');
  dump = (await routes(s.a)).map(show);
  t.false(dump.includes('192.0.2.1 link#2 UHl - lo0'), 'the first address was replaced');
  t.true(dump.includes('192.0.2.5 link#2 UHl - lo0'));
  t.true(dump.includes('192.0.2/24 link#2 UC - hub0'), 'the prefix passed to the remaining address');
  t.is((await arpTable(s.a)).length, 1, 'the subnet is still ours: its entries stay');
  ifioctl(netstack(s.a), 'SIOCDIFADDR', { name: 'hub0', addr: '192.0.2.9' });
  ifioctl(netstack(s.a), 'SIOCDIFADDR', { name: 'hub0', addr: '192.0.2.5' });
  dump = (await routes(s.a)).map(show);
  t.deepEqual(dump.filter((l) => l.includes('hub0') || l.includes('link#2')), []);
  t.deepEqual(await arpTable(s.a), []);
  t.throws(() => ifioctl(netstack(s.a), 'SIOCDIFADDR', { name: 'hub0', addr: '192.0.2.5' }), { code: 'EADDRNOTAVAIL' });
  t.throws(() => ifioctl(netstack(s.a), 'SIOCAIFADDR', { name: 'hub0', addr: '192.0.2.300', mask: '255.255.255.0' }), { code: 'EINVAL' });
  t.throws(() => ifioctl(netstack(s.a), 'SIOCAIFADDR', { name: 'hub0', addr: '192.0.2.3', mask: '255.0.255.0' }), { code: 'EINVAL' });
  t.throws(() => ifioctl(netstack(s.a), 'SIOCAIFADDR', { name: 'hub0', addr: '198.51.100.1', mask: '255.255.255.0' }), { code: 'EEXIST' });
  await haltAll(s.ks);
});

test('an interface without its medium refuses an address with ENXIO and nothing is added', async (t) => {
  const ks = bootKernels(1);
  const k = ks.kernels[0]!;
  attachEther(k, null);
  const before = (await routes(k)).map(show);
  t.throws(() => ifconfig(k, 'hub0', '192.0.2.1/24'), { code: 'ENXIO' });
  t.deepEqual((await routes(k)).map(show), before);
  t.deepEqual((ifioctl(netstack(k), 'SIOCGIFCONF', { name: 'hub0' }) as IfInfo[])[0]!.inet, []);
  await haltAll(ks);
});

test('detaching an interface removes its addresses, routes (static ones too) and ARP entries', async (t) => {
  const s = await setup();
  await route(s.a, { type: 'add', dst: 'default', gateway: '192.0.2.2' });
  sendEcho(s.a, '192.0.2.2');
  await s.ks.sim.settle();
  const ns = netstack(s.a);
  ns.ifs.detach(ns.ifs.unit('hub0'));
  t.deepEqual((await routes(s.a)).map(show), [
    '127.0.0.1 lo0 UHl 33624 lo0',
    '198.51.100/24 link#3 UC - hub1',
    '198.51.100.1 link#3 UHl - lo0',
  ]);
  t.deepEqual(await arpTable(s.a), []);
  t.is(sendEcho(s.a, '192.0.2.2'), EHOSTUNREACH);
  t.deepEqual(await haltAll(s.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});
