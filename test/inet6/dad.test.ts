/*
 * Link-local addresses on attach and Duplicate Address Detection (RFC 4862
 * §5.4, RFC 4291 appendix A), kernels on one hub on the sim clock:
 *
 *     kernel A  hub0 ─┐
 *                     ├── hub "lan"
 *     kernel B  hub0 ─┘
 *
 * A new address is tentative, probed with dad_count solicitations from ::
 * RetransTimer apart, usable RetransTimer after the last; until then it is
 * no source and cannot be bound (EADDRNOTAVAIL). A second node taking an
 * address in use finds it duplicated; dad_count 0 makes it usable at once.
 */
import test from 'ava';
import { createSimHost, rumpInit, type RumpKernel } from '../../index.js';
import { main as ifconfigMain } from '../../bin/rump.ifconfig.js';
import { run } from '../bin/helpers.js';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET6, SOCK_DGRAM } from '../../kern/sys.js';
import { IN6_IFF_DUPLICATED, IN6_IFF_TENTATIVE, inet6 } from '../../net/inet6/inet6.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { errnoCode, haltAll, type Kernels } from '../helpers/kernels.js';
import { bootKernels6, dadDone, decode6, ifconfig6, ip6, sendEcho6, type Seen6 } from './helpers.js';

interface Lan extends Kernels {
  a: Kernel;
  b: Kernel;
  /** IPv6 frames on the hub, with the virtual time they were sent. */
  seen: Array<Seen6 & { t: number }>;
}

/** Two kernels on a hub, each hub0 with MAC b2:a0:00:00:01:0N; their link-local DAD done. */
async function lan(seed = 1): Promise<Lan> {
  const ks = bootKernels6(2, seed);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  attachEther(a, hub, { mac: Uint8Array.of(0xb2, 0xa0, 0, 0, 1, 1) });
  attachEther(b, hub, { mac: Uint8Array.of(0xb2, 0xa0, 0, 0, 1, 2) });
  const seen: Lan['seen'] = [];
  hub.tap((f) => {
    const d = decode6(f);
    if (d) seen.push({ ...d, t: ks.sim.now() });
  });
  return { ...ks, a, b, seen };
}

function flagsOf(k: Kernel, addr: string): number | undefined {
  const a = ip6(addr);
  return inet6(k).addrs.find((ia) => ia.addr.every((x, i) => x === a[i]))?.flags;
}

async function bindUdp(k: Kernel, addr: string): Promise<string> {
  const fd = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  try {
    return await errnoCode(k.sys.bind(fd, { family: AF_INET6, addr, port: 0 }));
  } finally {
    await k.sys.close(fd);
  }
}

test('an interface coming up gets fe80:: plus its modified EUI-64; lo0 gets fe80::1; both show in ifconfig', async (t) => {
  const n = await lan();
  ifconfig6(n.a, 'hub0', '2001:db8::1/64');
  // RFC 4291 appendix A: b2:a0:00:00:01:01 → b0a0:00ff:fe00:0101 (U/L bit inverted, ff:fe inserted).
  t.is(flagsOf(n.a, 'fe80::b0a0:ff:fe00:101'), IN6_IFF_TENTATIVE);
  t.is(flagsOf(n.a, 'fe80::1'), 0, 'lo0: no DAD on a loopback');
  t.is(flagsOf(n.a, '::1'), 0);
  await dadDone(n);
  t.is(flagsOf(n.a, 'fe80::b0a0:ff:fe00:101'), 0);
  // b's interface never came up: no link-local address.
  t.false(inet6(n.b).addrs.some((ia) => ia.ifp.name === 'hub0'));
  // net.inet6.ip6.auto_linklocal = 0: an interface coming up gets none.
  n.b.sysctl.set('net.inet6.ip6.auto_linklocal', 0);
  ifconfig6(n.b, 'hub0', '2001:db8::2/64');
  t.deepEqual(inet6(n.b).addrs.filter((ia) => ia.ifp.name === 'hub0').map((ia) => ia.addr[0]), [0x20]);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('DAD: dad_count probes from :: to the solicited-node group, RetransTimer apart; tentative until RetransTimer after the last', async (t) => {
  const n = await lan();
  n.a.sysctl.set('net.inet6.ip6.auto_linklocal', 0);
  n.a.sysctl.set('net.inet6.ip6.dad_count', 3);
  const t0 = n.sim.now();
  ifconfig6(n.a, 'hub0', '2001:db8::1/64');
  t.is(flagsOf(n.a, '2001:db8::1'), IN6_IFF_TENTATIVE);
  // Tentative: not bound (EADDRNOTAVAIL, as NetBSD), not a source (nothing else to send from).
  t.is(await bindUdp(n.a, '2001:db8::1'), 'EADDRNOTAVAIL');
  t.not(sendEcho6(n.a, '2001:db8::2'), 0);
  await n.sim.run(2_999);
  t.is(flagsOf(n.a, '2001:db8::1'), IN6_IFF_TENTATIVE, 'still tentative just before the end');
  const probes = n.seen.filter((f) => f.icmpType === 135);
  t.is(probes.length, 3);
  for (const p of probes) {
    // RFC 4862 §5.4.2: from ::, to ff02::1:ff00:1, hop limit 255, no source link-layer option.
    t.like(p, { src: '::', dst: 'ff02::1:ff00:1', dstMac: '33:33:ff:00:00:01', hlim: 255, target: '2001:db8::1', lla: undefined });
  }
  t.deepEqual(probes.map((p) => p.t - t0), [1, 1_001, 2_001], 'one tick, then RetransTimer (1 s) apart');
  await n.sim.run(2);
  t.is(flagsOf(n.a, '2001:db8::1'), 0, 'usable RetransTimer after the last probe');
  t.is(await bindUdp(n.a, '2001:db8::1'), 'ok');
  t.like(inet6(n.a).nd6stat, { dad_out: 3, dad_done: 1, dad_duplicated: 0 });
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('dad_count = 0: usable at once, nothing on the wire', async (t) => {
  const n = await lan();
  n.a.sysctl.set('net.inet6.ip6.auto_linklocal', 0);
  n.a.sysctl.set('net.inet6.ip6.dad_count', 0);
  ifconfig6(n.a, 'hub0', '2001:db8::1/64');
  t.is(flagsOf(n.a, '2001:db8::1'), 0);
  t.is(await bindUdp(n.a, '2001:db8::1'), 'ok');
  await n.sim.run(3_000);
  t.is(n.seen.filter((f) => f.icmpType === 135 && f.src === '::').length, 0);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a second node taking an address in use sees it duplicated (the owner defends it); logged as NetBSD logs it', async (t) => {
  const n = await lan();
  ifconfig6(n.a, 'hub0', '2001:db8::1/64');
  await dadDone(n);
  const logged = n.sim.logged.length;
  ifconfig6(n.b, 'hub0', '2001:db8::1/64');
  await n.sim.run(3_000);
  t.is(flagsOf(n.a, '2001:db8::1'), 0, 'the owner keeps it');
  t.is(flagsOf(n.b, '2001:db8::1'), IN6_IFF_DUPLICATED);
  // The owner answered b's probe to all-nodes (RFC 4861 §7.2.4), which b took as §5.4.4 says.
  t.true(n.seen.some((f) => f.icmpType === 136 && f.dst === 'ff02::1' && f.target === '2001:db8::1' && f.src === '2001:db8::1'));
  t.like(inet6(n.b).nd6stat, { dad_duplicated: 1, dad_done: 1 }, 'its link-local address passed');
  t.deepEqual(n.sim.logged.slice(logged), [
    'hub0: DAD detected duplicate IPv6 address 2001:db8::1: NS in/out/loopback=0/1/0, NA in=1',
    'hub0: DAD complete for 2001:db8::1 - duplicate found',
    'hub0: manual intervention required',
  ]);
  // Duplicated: never bound, never answered for; the user deletes it and it is gone.
  t.is(await bindUdp(n.b, '2001:db8::1'), 'EADDRNOTAVAIL');
  const nsIn = inet6(n.a).nd6stat.na_in;
  t.is(sendEcho6(n.a, '2001:db8::1'), 0); // to itself, through lo0
  await n.sim.run(10);
  t.is(inet6(n.a).nd6stat.na_in, nsIn);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('two nodes probing the same address: the one that hears the other\'s probe from :: first gives it up (§5.4.3)', async (t) => {
  const n = await lan();
  for (const k of [n.a, n.b]) k.sysctl.set('net.inet6.ip6.auto_linklocal', 0);
  ifconfig6(n.a, 'hub0', '2001:db8::7/64');
  ifconfig6(n.b, 'hub0', '2001:db8::7/64');
  await n.sim.run(3_000);
  // Both probes were due at the same tick; a's went first, and b heard it while tentative.
  t.is(flagsOf(n.a, '2001:db8::7'), 0);
  t.is(flagsOf(n.b, '2001:db8::7'), IN6_IFF_DUPLICATED);
  t.true(n.sim.logged.includes('hub0: DAD detected duplicate IPv6 address 2001:db8::7: NS in/out/loopback=1/0/0, NA in=0'));
  // Nobody answered the probe: a tentative address answers nobody.
  t.is(n.seen.filter((f) => f.icmpType === 136).length, 0);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a solicitation from a unicast source for a tentative address is not answered, and the address still passes', async (t) => {
  const n = await lan();
  for (const k of [n.a, n.b]) k.sysctl.set('net.inet6.ip6.auto_linklocal', 0);
  ifconfig6(n.b, 'hub0', '2001:db8::2/64');
  await dadDone(n);
  n.a.sysctl.set('net.inet6.ip6.dad_count', 3);
  ifconfig6(n.a, 'hub0', '2001:db8::1/64');
  await n.sim.run(5);
  // b resolves a's tentative address: a must stay silent (RFC 4862 §5.4.3) and keep probing.
  t.is(sendEcho6(n.b, '2001:db8::1'), 0);
  await n.sim.run(500);
  t.is(n.seen.filter((f) => f.icmpType === 136).length, 0);
  await n.sim.run(3_000);
  t.is(flagsOf(n.a, '2001:db8::1'), 0);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('over a shmif bus, through rump.ifconfig: the second kernel to take an address sees it duplicated, and ifconfig says so', async (t) => {
  const sim = createSimHost({ seed: 3 });
  const boot = async (): Promise<RumpKernel> => {
    const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_netinet6', 'net_shmif'], host: sim });
    await k.netconfig.ifcreate('shmif');
    await k.netconfig.ifsetlinkstr('shmif0', 'bus1');
    return k;
  };
  const a = await boot();
  const b = await boot();
  const ifconfig = async (k: RumpKernel, argv: string[]): Promise<string> => {
    const r = await run(ifconfigMain, argv, k.sys);
    t.is(r.status, 0, r.err);
    return r.out;
  };
  await ifconfig(a, ['shmif0', 'inet6', '2001:db8::1/64']);
  await sim.run(3_000);
  await ifconfig(b, ['shmif0', 'inet6', '2001:db8::1/64']);
  t.regex(await ifconfig(b, ['shmif0']), /\tinet6 2001:db8::1\/64 flags 0x2<TENTATIVE>\n/);
  await sim.run(3_000);
  t.regex(await ifconfig(b, ['shmif0']), /\tinet6 2001:db8::1\/64 flags 0x4<DUPLICATED>\n/);
  t.regex(await ifconfig(a, ['shmif0']), /\tinet6 2001:db8::1\/64 flags 0x0\n/);
  t.true(sim.logged.includes('shmif0: DAD detected duplicate IPv6 address 2001:db8::1: NS in/out/loopback=0/1/0, NA in=1'));
  for (const k of [a, b]) await k.halt();
});
