/*
 * Router solicitation and stateless address autoconfiguration (RFC 4861
 * §6.3, RFC 4862 §5.5) on the sim clock. The test is the router: it puts
 * router advertisements on the hub from fe80::1 (MAC 02:00:00:00:00:01), as
 * rtadvd or radvd would send them.
 *
 *     host  hub0 (b2:a0:00:00:02:01) ── hub "lan" ── the test's router fe80::1
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { IFF_UP } from '../../net/interface.js';
import { netstack } from '../../net/netstack.js';
import { IN6_IFF_TENTATIVE, inet6 } from '../../net/inet6/inet6.js';
import { IN6_IFF_AUTOCONF, IN6_IFF_DEPRECATED, nd6RtrState } from '../../net/inet6/nd6_rtr.js';
import { formatIn6Addr } from '../../net/wire/in6addr.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { haltAll, type Kernels } from '../helpers/kernels.js';
import { bootKernels6, decode6, ether6, ip6, ip6Packet, sendEcho6, type Seen6 } from './helpers.js';

const ROUTER_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);
const ALLNODES_MAC = Uint8Array.of(0x33, 0x33, 0, 0, 0, 0x01);
/** The host's SLAAC address in 2001:db8:1::/64 from b2:a0:00:00:02:01 (modified EUI-64). */
const SLAAC = '2001:db8:1:0:b0a0:ff:fe00:201';

interface Prefix {
  prefix: string;
  plen?: number;
  onlink?: boolean;
  auto?: boolean;
  valid: number;
  pref: number;
}

interface Ra {
  lifetime: number;
  prefixes?: Prefix[];
  mtu?: number;
  sllao?: boolean;
  hlim?: number;
  src?: string;
}

function u32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** A router advertisement frame (RFC 4861 §4.2) to all-nodes. */
function raFrame(ra: Ra): Uint8Array {
  const opts: Uint8Array[] = [];
  if (ra.sllao !== false) opts.push(Uint8Array.of(1, 1, ...ROUTER_MAC));
  if (ra.mtu !== undefined) {
    const o = new Uint8Array(8);
    o[0] = 5;
    o[1] = 1;
    u32(o, 4, ra.mtu);
    opts.push(o);
  }
  for (const p of ra.prefixes ?? []) {
    const o = new Uint8Array(32);
    o[0] = 3;
    o[1] = 4;
    o[2] = p.plen ?? 64;
    o[3] = (p.onlink !== false ? 0x80 : 0) | (p.auto !== false ? 0x40 : 0);
    u32(o, 4, p.valid);
    u32(o, 8, p.pref);
    o.set(ip6(p.prefix), 16);
    opts.push(o);
  }
  const len = 16 + opts.reduce((n, o) => n + o.length, 0);
  const msg = new Uint8Array(len);
  msg[0] = 134;
  msg[4] = 64; // cur hop limit
  msg[6] = ra.lifetime >>> 8;
  msg[7] = ra.lifetime & 0xff;
  let p = 16;
  for (const o of opts) {
    msg.set(o, p);
    p += o.length;
  }
  const pkt = ip6Packet({ src: ra.src ?? 'fe80::1', dst: 'ff02::1', nxt: 58, hlim: ra.hlim ?? 255, payload: msg, csumAt: 2 });
  return ether6(ALLNODES_MAC, ROUTER_MAC, pkt);
}

interface Lan extends Kernels {
  host: Kernel;
  hub: Hub;
  seen: Array<Seen6 & { t: number }>;
}

/** A host on the hub with accept_rtadv as given, its interface still down. */
function lan(accept: number, seed = 7): Lan {
  const ks = bootKernels6(1, seed);
  const host = ks.kernels[0]!;
  const hub = new Hub('lan');
  attachEther(host, hub, { mac: Uint8Array.of(0xb2, 0xa0, 0, 0, 2, 1) });
  host.sysctl.set('net.inet6.ip6.accept_rtadv', accept);
  const seen: Lan['seen'] = [];
  hub.tap((f) => {
    const d = decode6(f);
    if (d) seen.push({ ...d, t: ks.sim.now() });
  });
  return { ...ks, host, hub, seen };
}

function up(n: Lan): void {
  const ifs = netstack(n.host).ifs;
  const ifp = ifs.unit('hub0');
  ifs.setFlags(ifp, ifp.flags | IFF_UP);
}

function addr(n: Lan, a: string) {
  const b = ip6(a);
  return inet6(n.host).addrs.find((ia) => ia.addr.every((x, i) => x === b[i]));
}

function defaultRoute(n: Lan) {
  return inet6(n.host).rt6.exact(new Uint8Array(16), 0);
}

const PREFIX: Prefix = { prefix: '2001:db8:1::', valid: 600, pref: 300 };

test('accept_rtadv=1: an interface coming up solicits routers, 3 times 4 s apart, and stops at the first advertisement', async (t) => {
  const n = lan(1);
  const t0 = n.sim.now();
  up(n);
  await n.sim.run(15_000);
  const rs = n.seen.filter((f) => f.icmpType === 133);
  t.is(rs.length, 3, 'MAX_RTR_SOLICITATIONS');
  t.true(rs[0]!.t - t0 < 1000, 'the first within MAX_RTR_SOLICITATION_DELAY');
  t.is(rs[1]!.t - rs[0]!.t, 4000);
  t.is(rs[2]!.t - rs[1]!.t, 4000);
  for (const f of rs) {
    t.is(f.dst, 'ff02::2');
    t.is(f.hlim, 255);
    t.is(f.dstMac, '33:33:00:00:00:02');
  }
  // The first goes before DAD let the link-local be used: from :: (RFC 4861 §4.1, no SLLA); later ones from it.
  t.is(rs[0]!.src, '::');
  t.is(rs[2]!.src, 'fe80::b0a0:ff:fe00:201');

  // Down and up again: solicit again; an advertisement ends it after the first.
  const ifs = netstack(n.host).ifs;
  const ifp = ifs.unit('hub0');
  ifs.setFlags(ifp, ifp.flags & ~IFF_UP);
  n.seen.length = 0;
  up(n);
  await n.sim.runUntil(() => n.seen.some((f) => f.icmpType === 133), 2000);
  n.hub.inject(raFrame({ lifetime: 1800 }));
  await n.sim.run(15_000);
  t.is(n.seen.filter((f) => f.icmpType === 133).length, 1, 'no solicitation after the advertisement');
  t.deepEqual(await haltAll(n), { mbufsInUse: [0], callouts: [0] });
});

test('an advertisement gives an autoconf address from the prefix and the EUI-64, a default route via the router, the MTU', async (t) => {
  const n = lan(1);
  up(n);
  await n.sim.run(2000);
  n.hub.inject(raFrame({ lifetime: 1800, prefixes: [PREFIX], mtu: 1400 }));
  await n.sim.run(10);
  const ia = addr(n, SLAAC);
  t.truthy(ia, 'the address was formed');
  t.is(ia!.flags, IN6_IFF_AUTOCONF | IN6_IFF_TENTATIVE, 'tentative while DAD runs (RFC 4862 §5.4)');
  await n.sim.run(3000);
  t.is(addr(n, SLAAC)!.flags, IN6_IFF_AUTOCONF);
  const dr = defaultRoute(n);
  t.truthy(dr);
  t.is(formatIn6Addr(dr!.gateway!), 'fe80::1');
  t.is(dr!.ifp.name, 'hub0');
  t.is(dr!.mtu, 1400, 'the MTU option');
  t.is(nd6RtrState(inet6(n.host)).routers.length, 1);

  // Off-link traffic goes to the router's MAC (learned from the source link-layer option), from the SLAAC address.
  n.seen.length = 0;
  t.is(sendEcho6(n.host, '2001:db8:99::1'), 0);
  await n.sim.run(10);
  const echo = n.seen.find((f) => f.icmpType === 128);
  t.truthy(echo);
  t.is(echo!.dstMac, '02:00:00:00:00:01');
  t.is(echo!.src, SLAAC);

  // Preferred lifetime (300 s) over: deprecated; valid (600 s) over: gone, and its route.
  await n.sim.run(300_000);
  t.is(addr(n, SLAAC)!.flags, IN6_IFF_AUTOCONF | IN6_IFF_DEPRECATED);
  await n.sim.run(301_000);
  t.is(addr(n, SLAAC), undefined, 'valid lifetime over: removed');
  t.is(inet6(n.host).rt6.exact(ip6('2001:db8:1::'), 64), null);
  // Router lifetime (1800 s) over: the default route goes.
  t.truthy(defaultRoute(n));
  await n.sim.run(1_200_000);
  t.is(defaultRoute(n), null);
  t.is(nd6RtrState(inet6(n.host)).routers.length, 0);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0], callouts: [0] });
});

test('updates: lifetimes refresh; the two-hour rule keeps a long-lived address; router lifetime 0 takes the route away', async (t) => {
  const n = lan(1);
  up(n);
  await n.sim.run(2000);
  n.hub.inject(raFrame({ lifetime: 1800, prefixes: [{ prefix: '2001:db8:1::', valid: 86_400, pref: 86_400 }] }));
  await n.sim.run(3000);
  t.truthy(addr(n, SLAAC));
  // A valid lifetime of 60 s cannot cut 86,400 remaining below two hours (RFC 4862 §5.5.3 e).
  n.hub.inject(raFrame({ lifetime: 1800, prefixes: [{ prefix: '2001:db8:1::', valid: 60, pref: 30 }] }));
  await n.sim.run(120_000);
  t.truthy(addr(n, SLAAC), 'still there after 60 s');
  t.is(addr(n, SLAAC)!.flags & IN6_IFF_DEPRECATED, IN6_IFF_DEPRECATED, 'the preferred lifetime is taken as sent');
  await n.sim.run(7_200_000);
  t.is(addr(n, SLAAC), undefined, 'gone two hours after');
  // Router lifetime 0: off the default router list at once.
  n.hub.inject(raFrame({ lifetime: 1800 }));
  await n.sim.run(10);
  t.truthy(defaultRoute(n));
  n.hub.inject(raFrame({ lifetime: 0 }));
  await n.sim.run(10);
  t.is(defaultRoute(n), null);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0], callouts: [0] });
});

test('ignored: with accept_rtadv=0 (NetBSD\'s default), as a router, and advertisements failing RFC 4861 §6.1.2', async (t) => {
  const n = lan(0);
  up(n);
  await n.sim.run(15_000);
  t.is(n.seen.filter((f) => f.icmpType === 133).length, 0, 'no solicitation');
  n.hub.inject(raFrame({ lifetime: 1800, prefixes: [PREFIX] }));
  await n.sim.run(3000);
  t.is(addr(n, SLAAC), undefined);
  t.is(defaultRoute(n), null);

  n.host.sysctl.set('net.inet6.ip6.accept_rtadv', 1);
  await n.sim.run(2000);
  t.true(n.seen.some((f) => f.icmpType === 133), 'switched on: solicits on the interfaces that are up');
  // Not from a link-local address, not hop limit 255, a prefix longer than /64 for the identifier, a link-local prefix.
  n.hub.inject(raFrame({ lifetime: 1800, prefixes: [PREFIX], src: '2001:db8::1' }));
  n.hub.inject(raFrame({ lifetime: 1800, prefixes: [PREFIX], hlim: 64 }));
  n.hub.inject(raFrame({ lifetime: 0, prefixes: [{ prefix: '2001:db8:2::', plen: 80, valid: 600, pref: 300 }, { prefix: 'fe80::', valid: 600, pref: 300 }] }));
  await n.sim.run(3000);
  t.is(addr(n, SLAAC), undefined);
  t.is(defaultRoute(n), null);
  t.is(inet6(n.host).addrs.filter((ia) => ia.flags & IN6_IFF_AUTOCONF).length, 0);
  const st = n.host.sysctl.get('net.inet6.icmp6.nd6_rtr_stats') as Record<string, number>;
  t.is(st.ra_bad, 2);
  // A router takes none.
  n.host.sysctl.set('net.inet6.ip6.forwarding', 1);
  n.hub.inject(raFrame({ lifetime: 1800, prefixes: [PREFIX] }));
  await n.sim.run(3000);
  t.is(addr(n, SLAAC), undefined);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0], callouts: [0] });
});

test('a flood of advertisements with new prefixes and routers is bounded: 64 prefixes, 16 routers, memory flat', async (t) => {
  const n = lan(1);
  up(n);
  await n.sim.run(2000);
  let memAt = 0;
  for (let i = 0; i < 4000; i++) {
    const hex = i.toString(16);
    n.hub.inject(raFrame({ lifetime: 1800, src: `fe80::${hex}`, prefixes: [{ prefix: `2001:db8:${hex}::`, valid: 600, pref: 300 }] }));
    if (i % 100 === 99) await n.sim.settle();
    if (i === 999) memAt = n.host.mem.used;
  }
  await n.sim.settle();
  const st = nd6RtrState(inet6(n.host));
  t.is(st.prefixes.length, 64);
  t.is(st.routers.length, 16);
  t.is(inet6(n.host).addrs.filter((ia) => ia.flags & IN6_IFF_AUTOCONF).length, 64);
  t.is(n.host.mem.used, memAt, 'memory flat');
  t.true((n.host.sysctl.get('net.inet6.icmp6.nd6_rtr_stats') as Record<string, number>).full! > 7000);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0], callouts: [0] });
});
