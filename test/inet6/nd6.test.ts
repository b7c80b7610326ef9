/*
 * Neighbor Discovery between two kernels (RFC 4861): resolution by a
 * multicast solicitation and a solicited advertisement, the neighbor
 * cache's states and timers on the virtual clock, resolution failure, and
 * the validity checks that drop and count bad messages.
 *
 *      a                               b                "stranger"
 *   hub0 2001:db8::1/64           hub0 2001:db8::2/64    (frames injected by the test)
 *      |                               |
 *   ===+=============lan===============+=====================
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { EHOSTUNREACH } from '../../kern/errno.js';
import { AF_INET6, SOCK_STREAM } from '../../kern/sys.js';
import { nd6Cache, type NdpInfo } from '../../net/inet6/nd6.js';
import { main as ndpMain } from '../../bin/rump.ndp.js';
import { main as netstatMain } from '../../bin/rump.netstat.js';
import { IFF_UP } from '../../net/interface.js';
import { netstack } from '../../net/netstack.js';
import { ND_NA_FLAG_OVERRIDE, ND_NA_FLAG_SOLICITED, icmp6SetChecksum, ndWriteNa, ndWriteNs } from '../../net/wire/icmp6.js';
import { formatIn6Addr, in6SolicitedNode } from '../../net/wire/in6addr.js';
import { ip6WriteHeader } from '../../net/wire/ipv6.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { haltAll, ifnet, type Kernels } from '../helpers/kernels.js';
import { run } from '../bin/helpers.js';
import { bootKernels6, dadDone, decode6, ether6, ifconfig6, ip6, ip6Packet, linkLocalOf, type Seen6, sendEcho6, stats6 } from './helpers.js';

interface Lan {
  ks: Kernels;
  a: Kernel;
  b: Kernel;
  hub: Hub;
  seen: Seen6[];
}

async function lan(): Promise<Lan> {
  const ks = bootKernels6(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  const seen: Seen6[] = [];
  hub.tap((f) => {
    const d = decode6(f);
    if (d) seen.push(d);
  });
  attachEther(a, hub);
  attachEther(b, hub);
  ifconfig6(a, 'hub0', '2001:db8::1/64');
  ifconfig6(b, 'hub0', '2001:db8::2/64');
  await dadDone(ks);
  seen.length = 0;
  return { ks, a, b, hub, seen };
}

const mac = (k: Kernel): string => [...ifnet(k, 'hub0').lladdr!].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ndp = (k: Kernel): Promise<NdpInfo[]> => k.sys.ext('ndpdump');

test('resolution: a multicast solicitation to the solicited-node group, a solicited advertisement back, then the packet', async (t) => {
  const l = await lan();
  const nsOut = stats6(l.a).nd6stat.ns_out;
  t.is(sendEcho6(l.a, '2001:db8::2'), 0);
  await l.ks.sim.settle();
  const [ns, na, req, rep, ...rest] = l.seen;
  // RFC 4861 §7.2.2: to ff02::1:ff00:2, its 33:33 MAC, hop limit 255, our MAC in the option.
  t.like(ns, { icmpType: 135, icmpCode: 0, src: '2001:db8::1', dst: 'ff02::1:ff00:2', dstMac: '33:33:ff:00:00:02', hlim: 255, target: '2001:db8::2', lla: mac(l.a) });
  // §7.2.4: unicast back to the solicitor, solicited and override, the target's MAC.
  t.like(na, { icmpType: 136, src: '2001:db8::2', dst: '2001:db8::1', dstMac: mac(l.a), hlim: 255, target: '2001:db8::2', lla: mac(l.b) });
  t.is(na!.naFlags, ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE);
  t.like(req, { icmpType: 128, src: '2001:db8::1', dst: '2001:db8::2', dstMac: mac(l.b), hlim: 64 });
  // b learnt a's MAC from the solicitation (§7.2.3): the reply needs no solicitation of its own.
  t.like(rep, { icmpType: 129, src: '2001:db8::2', dst: '2001:db8::1', dstMac: mac(l.a) });
  t.is(rest.length, 0);
  const [reachable, ...others] = await ndp(l.a);
  t.is(others.length, 0);
  t.like(reachable, { addr: '2001:db8::2', lladdr: mac(l.b), ifname: 'hub0', state: 'REACHABLE', router: false });
  // ndp's Expire: ReachableTime, drawn from 0.5–1.5 × REACHABLE_TIME (RFC 4861 §6.3.2).
  t.true(reachable!.expire >= 15 && reachable!.expire <= 45, `expire ${reachable!.expire}`);
  // Used while STALE, b's entry waits in DELAY for confirmation (§7.3.3).
  t.deepEqual(await ndp(l.b), [{ addr: '2001:db8::1', lladdr: mac(l.a), ifname: 'hub0', state: 'DELAY', router: false, expire: 5, permanent: false, proxy: false, asked: 0 }]);
  // The DAD probes of a's two addresses went before (nd6_dad.ts), to groups b is not in.
  t.like(stats6(l.a).nd6stat, { ns_out: nsOut + 1, na_in: 1, dad_out: 2, dad_done: 2 });
  t.like(stats6(l.b).nd6stat, { ns_in: 1, na_out: 1 });
  t.is(stats6(l.a).icmp6stat.inhist[129], 1);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('timers: REACHABLE turns STALE, a use starts DELAY, then a unicast probe that the neighbor confirms', async (t) => {
  const l = await lan();
  sendEcho6(l.a, '2001:db8::2');
  await l.ks.sim.settle();
  // ReachableTime is 30 s × [0.5, 1.5): after 45 s it has run out (§6.3.2).
  await l.ks.sim.run(45_000);
  t.is((await ndp(l.a))[0]!.state, 'STALE');
  l.seen.length = 0;
  sendEcho6(l.a, '2001:db8::2');
  await l.ks.sim.settle();
  t.is((await ndp(l.a))[0]!.state, 'DELAY');
  t.is(l.seen.filter((f) => f.icmpType === 135).length, 0, 'a STALE entry is used at once');
  await l.ks.sim.run(5_000);
  // DELAY_FIRST_PROBE_TIME later: a unicast solicitation to the cached MAC.
  const probe = l.seen.find((f) => f.icmpType === 135 && f.src === '2001:db8::1');
  t.like(probe, { dst: '2001:db8::2', dstMac: mac(l.b), target: '2001:db8::2' });
  await l.ks.sim.settle();
  t.is((await ndp(l.a))[0]!.state, 'REACHABLE');
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('resolution failure: three solicitations a second apart, then ICMPv6 address unreachable and the entry goes', async (t) => {
  const l = await lan();
  t.is(sendEcho6(l.a, '2001:db8::99'), 0, 'held, not an error yet');
  t.is(sendEcho6(l.a, '2001:db8::99', { seq: 1 }), 0);
  await l.ks.sim.run(10_000);
  const ns = l.seen.filter((f) => f.icmpType === 135);
  t.is(ns.length, 3, 'MAX_MULTICAST_SOLICIT');
  t.deepEqual(ns.map((f) => f.target), ['2001:db8::99', '2001:db8::99', '2001:db8::99']);
  t.deepEqual(await ndp(l.a), []);
  const st = stats6(l.a);
  t.is(st.nd6stat.timeouts, 1);
  // §7.2.2: each held packet is answered with destination unreachable, code 3, to its (our own) source.
  t.is(st.icmp6stat.outhist[1], 2);
  t.is(st.icmp6stat.inhist[1], 2);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a TCP connect to a neighbor that never answers fails with EHOSTUNREACH', async (t) => {
  const l = await lan();
  const fd = await l.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  const p = l.a.sys.connect(fd, { family: AF_INET6, addr: '2001:db8::99', port: 80 });
  p.catch(() => {});
  await l.ks.sim.run(60_000);
  const err = await p.then(() => null, (e: unknown) => e as { errno?: number });
  t.is(err?.errno, EHOSTUNREACH);
  await l.a.sys.close(fd);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

/** A solicitation or advertisement from a stranger, as a frame for the hub. */
function ndFrame(kind: 'ns' | 'na', o: { src: string; dst: string; target: string; hlim?: number; flags?: number; lla?: Uint8Array | null }): Uint8Array {
  const body = new Uint8Array(32);
  const mac = o.lla === undefined ? STRANGER : o.lla;
  const len = kind === 'ns' ? ndWriteNs(body, 0, ip6(o.target), 0, mac) : ndWriteNa(body, 0, o.flags ?? 0, ip6(o.target), 0, mac);
  const pkt = new Uint8Array(40 + len);
  pkt.set(body.subarray(0, len), 40);
  ip6WriteHeader(pkt, 0, 0, 0, len, 58, o.hlim ?? 255, ip6(o.src), 0, ip6(o.dst), 0);
  icmp6SetChecksum(pkt, 40, len, ip6(o.src), 0, ip6(o.dst), 0);
  const dstMac = new Uint8Array(6);
  if (o.dst.startsWith('ff02')) dstMac.set([0x33, 0x33, ...ip6(o.dst).subarray(12)]);
  else dstMac.fill(0xff);
  return ether6(dstMac, STRANGER, pkt);
}

const STRANGER = Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x20, 0x30);

test('solicitations: answered only when valid and for our address; the sender is learnt from its option', async (t) => {
  const l = await lan();
  // 2001:db8::1's solicited-node group (RFC 4291 §2.7.1).
  const sn = new Uint8Array(16);
  in6SolicitedNode(ip6('2001:db8::1'), 0, sn, 0);
  const group = 'ff02::1:ff00:1';
  // Forwarded (hop limit 64): not believed (§7.1.1).
  l.hub.inject(ndFrame('ns', { src: '2001:db8::50', dst: group, target: '2001:db8::1', hlim: 64 }));
  // Not ours: ignored.
  l.hub.inject(ndFrame('ns', { src: '2001:db8::50', dst: 'ff02::1:ff00:77', target: '2001:db8::77' }));
  // From :: with a link-layer address option: invalid (§7.1.1).
  l.hub.inject(ndFrame('ns', { src: '::', dst: group, target: '2001:db8::1' }));
  await l.ks.sim.settle();
  t.is(l.seen.filter((f) => f.icmpType === 136).length, 0);
  t.is(stats6(l.a).icmp6stat.badns, 2);
  l.hub.inject(ndFrame('ns', { src: '2001:db8::50', dst: group, target: '2001:db8::1' }));
  await l.ks.sim.settle();
  const na = l.seen.filter((f) => f.icmpType === 136);
  t.is(na.length, 1);
  t.like(na[0], { src: '2001:db8::1', dst: '2001:db8::50', dstMac: '02:00:5e:10:20:30', naFlags: 0x60 });
  // Learnt as STALE (§7.2.3), then used for the answer at once: DELAY (§7.3.3).
  t.deepEqual(await ndp(l.a), [{ addr: '2001:db8::50', lladdr: '02:00:5e:10:20:30', ifname: 'hub0', state: 'DELAY', router: false, expire: 5,
    permanent: false, proxy: false, asked: 0 }]);
  // A duplicate address probe (from ::, no option) is defended with an advertisement to all nodes, not solicited.
  l.seen.length = 0;
  l.hub.inject(ndFrame('ns', { src: '::', dst: group, target: '2001:db8::1', lla: null }));
  await l.ks.sim.settle();
  t.like(l.seen.find((f) => f.icmpType === 136), { src: '2001:db8::1', dst: 'ff02::1', naFlags: ND_NA_FLAG_OVERRIDE });
  t.is(formatIn6Addr(sn), group);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('advertisements: invalid ones counted, unsolicited ones for unknown neighbors ignored, a claim of our address kept off', async (t) => {
  const l = await lan();
  l.hub.inject(ndFrame('na', { src: '2001:db8::50', dst: 'ff02::1', target: '2001:db8::50', flags: ND_NA_FLAG_SOLICITED }));
  l.hub.inject(ndFrame('na', { src: '2001:db8::50', dst: '2001:db8::1', target: 'ff02::1', flags: 0 }));
  l.hub.inject(ndFrame('na', { src: '2001:db8::50', dst: '2001:db8::1', target: '2001:db8::50', hlim: 254 }));
  await l.ks.sim.settle();
  t.is(stats6(l.a).icmp6stat.badna, 3);
  l.hub.inject(ndFrame('na', { src: '2001:db8::50', dst: 'ff02::1', target: '2001:db8::50', flags: ND_NA_FLAG_OVERRIDE }));
  l.hub.inject(ndFrame('na', { src: '2001:db8::50', dst: 'ff02::1', target: '2001:db8::1', flags: ND_NA_FLAG_OVERRIDE }));
  await l.ks.sim.settle();
  t.deepEqual(await ndp(l.a), [], 'nothing asked, nothing cached (§7.2.5)');
  t.is(stats6(l.a).nd6stat.duplicates, 1);
  // Our own traffic still goes out from our address.
  sendEcho6(l.a, '2001:db8::2');
  await l.ks.sim.settle();
  t.is(stats6(l.a).icmp6stat.inhist[129], 1);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a flood to unresolved neighbors stays within net.inet6.ip6.neighborgcthresh and nd6_maxqueuelen, counted, memory flat', async (t) => {
  const l = await lan();
  await l.a.sys.sysctlSet('net.inet6.ip6.neighborgcthresh', 50);
  await l.a.sys.sysctlSet('net.inet6.icmp6.nd6_maxqueuelen', 4);
  let memAt = 0;
  let refused = 0;
  let most = 0;
  // 16,000 echo requests to 200 silent neighbors, 80 each.
  for (let i = 0; i < 16_000; i++) {
    if (sendEcho6(l.a, `2001:db8::${(0x100 + (i % 200)).toString(16)}`, { seq: i & 0xffff }) !== 0) refused++;
    if (i === 999) memAt = l.a.mem.used;
    if (i % 50 === 0) most = Math.max(most, nd6Cache(stats6(l.a)).size);
  }
  await l.ks.sim.settle();
  // NetBSD's nd6_gc_neighbors: an interface at the threshold loses 10 entries before it takes a new one.
  const size = (await ndp(l.a)).length;
  t.true(size <= 50 && size > 40, `the cache stays at neighborgcthresh (${size})`);
  t.true(most <= 50, `never above it (${most})`);
  const st = stats6(l.a).nd6stat;
  t.true(st.gcollected >= 150, `older entries collected and counted (${st.gcollected})`);
  t.is(st.allocfail, 0, 'nobody refused: a new neighbor always gets an entry');
  t.is(refused, 0);
  t.is(l.a.mem.used, memAt, 'memory flat');
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('16,000 Router Advertisements with as many prefixes change nothing: counted as ignored, no route, memory flat', async (t) => {
  const l = await lan();
  const before = await l.a.sys.ext('rt6dump');
  let memAt = 0;
  for (let i = 0; i < 16_000; i++) {
    // RFC 4861 §4.2 with one Prefix Information option (§4.6.2): 2001:db8:<i>::/64, on-link, autonomous.
    const ra = new Uint8Array(16 + 32);
    ra.set([134, 0, 0, 0, 64, 0, 0x07, 0x08]);
    ra.set([3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08], 16);
    ra.set([0x20, 0x01, 0x0d, 0xb8, i >>> 8, i & 0xff], 32);
    const pkt = ip6Packet({ src: 'fe80::1', dst: 'ff02::1', nxt: 58, hlim: 255, payload: ra, csumAt: 2 });
    l.hub.inject(ether6(Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), STRANGER, pkt));
    if (i % 100 === 99) await l.ks.sim.settle();
    if (i === 999) memAt = l.a.mem.used;
  }
  await l.ks.sim.settle();
  t.is(stats6(l.a).icmp6stat.nd_ignored, 16_000);
  t.deepEqual(await l.a.sys.ext('rt6dump'), before, 'no route or prefix learnt');
  t.is(l.a.mem.used, memAt, 'memory flat');
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

/* ------------------------------------------------------------------------ */
/* Administration: rump.ndp against the kernel (NetBSD's ndp(8) and nd6's rules). */

const ndpTool = async (k: Kernel, ...argv: string[]) => run(ndpMain, argv, k.sys);

test('ndp -s makes permanent entries that nothing overwrites; -s over one fails; a learnt one is overwritten; -d, -c', async (t) => {
  const l = await lan();
  sendEcho6(l.a, '2001:db8::2');
  await l.ks.sim.settle();
  t.is((await ndpTool(l.a, '-s', '2001:db8::10', 'b2:a0:20:00:00:10')).status, 0);
  const one = await ndpTool(l.a, '-n', '2001:db8::10');
  t.regex(one.out, /^2001:db8::10 +b2:a0:20:00:00:10 +hub0 permanent R \n/m);
  // Over a permanent entry: refused, as NetBSD's ndp -s is (the routing socket says EEXIST).
  const again = await ndpTool(l.a, '-s', '2001:db8::10', 'b2:a0:20:00:00:fe');
  t.is(again.status, 1);
  t.regex(again.err, /File exists/);
  t.regex((await ndpTool(l.a, '-n', '2001:db8::10')).out, /b2:a0:20:00:00:10/);
  // Over a learnt entry: it becomes the permanent one.
  t.is((await ndpTool(l.a, '-s', '2001:db8::2', 'b2:a0:20:00:00:00')).status, 0);
  t.regex((await ndpTool(l.a, '-n', '2001:db8::2')).out, /b2:a0:20:00:00:00 +hub0 permanent/);
  // b's solicitation carries its real MAC: a permanent entry does not learn it (nor an advertisement).
  await l.ks.sim.run(50_000);
  l.hub.inject(ndFrame('na', { src: '2001:db8::2', dst: 'ff02::1', target: '2001:db8::2', flags: ND_NA_FLAG_OVERRIDE }));
  sendEcho6(l.b, '2001:db8::1');
  await l.ks.sim.settle();
  t.regex((await ndpTool(l.a, '-n', '2001:db8::2')).out, /b2:a0:20:00:00:00 +hub0 permanent/);
  // temp: not permanent, 20 minutes (ndp.c's expire time), then it ages as a learnt entry does.
  t.is((await ndpTool(l.a, '-s', '2001:db8::11', '2:a0:20:0:0:11', 'temp')).status, 0);
  t.regex((await ndpTool(l.a, '-n', '2001:db8::11')).out, /02:a0:20:00:00:11 +hub0 20m0s +R \n/);
  // Off link: no interface to put it on.
  const off = await ndpTool(l.a, '-s', '2001:db9::1', 'b2:a0:20:00:00:01');
  t.is(off.status, 1);
  t.is(off.err, 'rump.ndp: cannot intuit interface index and type for 2001:db9::1\n');
  // netstat -r shows them as NetBSD 8 does: UHLS permanent, UHL otherwise.
  const rt = (await run(netstatMain, ['-rn', '-f', 'inet6'], l.a.sys)).out;
  t.regex(rt, /^2001:db8::10 +b2:a0:20:00:00:10 +UHLS +- +- +- +hub0/m);
  t.regex(rt, /^2001:db8::11 +02:a0:20:00:00:11 +UHL +- +- +- +hub0/m);
  // -c: every entry that is not permanent.
  const c = await ndpTool(l.a, '-c');
  t.is(c.out, '2001:db8::11 (2001:db8::11) deleted\n');
  t.deepEqual((await ndp(l.a)).map((e) => e.addr).sort(), ['2001:db8::10', '2001:db8::2']);
  // -d: says so; a second time there is nothing to delete.
  t.is((await ndpTool(l.a, '-d', '2001:db8::10')).out, '2001:db8::10 (2001:db8::10) deleted\n');
  const gone = await ndpTool(l.a, '-n', '2001:db8::10');
  t.is(gone.status, 1);
  t.is(gone.err, 'rump.ndp: 2001:db8::10 (2001:db8::10) -- no entry\n');
  const twice = await ndpTool(l.a, '-d', '2001:db8::10');
  t.is(twice.status, 1);
  t.is(twice.err, 'rump.ndp: delete: cannot locate 2001:db8::10\n');
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a learnt entry shows its ReachableTime, then STALE for a day (NetBSD\'s nd6_gctimer); a temp one 20 minutes', async (t) => {
  const l = await lan();
  sendEcho6(l.a, '2001:db8::2');
  await l.ks.sim.settle();
  const m = /^2001:db8::2 +\S+ +hub0 (\d+)s +R/m.exec((await ndpTool(l.a, '-n', '2001:db8::2')).out);
  t.truthy(m);
  const secs = Number(m![1]);
  t.true(secs >= 15 && secs <= 45, `${secs}`);
  await l.ks.sim.run((secs + 1) * 1000);
  t.regex((await ndpTool(l.a, '-n', '2001:db8::2')).out, /hub0 (23h59m5\ds|1d0h0m0s) +S/);
  await ndpTool(l.a, '-s', '2001:db8::11', '02:a0:20:00:00:11', 'temp');
  await l.ks.sim.run(20 * 60_000);
  t.regex((await ndpTool(l.a, '-n', '2001:db8::11')).out, /hub0 (23h59m5\ds|1d0h0m0s) +S/);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('entries go with their route (delete, or change to another interface) and with interface down; permanent ones stay', async (t) => {
  const l = await lan();
  const learn = async (): Promise<void> => {
    sendEcho6(l.a, '2001:db8::2');
    await l.ks.sim.settle();
    t.truthy((await ndp(l.a)).find((e) => e.addr === '2001:db8::2'));
  };
  await ndpTool(l.a, '-s', '2001:db8::10', 'b2:a0:20:00:00:10');
  await learn();
  await l.a.sys.ext('rt6msg', { type: 'delete', dst: '2001:db8::', prefixLen: 64 });
  t.deepEqual((await ndp(l.a)).map((e) => e.addr), ['2001:db8::10'], 'route delete');
  await l.a.sys.ext('rt6msg', { type: 'add', dst: '2001:db8::', prefixLen: 64, ifname: 'hub0' });
  await learn();
  const ns = netstack(l.a);
  const lo = ns.ifs.unit('lo0');
  await l.a.sys.ext('rt6msg', { type: 'change', dst: '2001:db8::', prefixLen: 64, ifname: lo.name });
  t.deepEqual((await ndp(l.a)).map((e) => e.addr), ['2001:db8::10'], 'route change to another interface');
  await l.a.sys.ext('rt6msg', { type: 'change', dst: '2001:db8::', prefixLen: 64, ifname: 'hub0' });
  await learn();
  const hub0 = ifnet(l.a, 'hub0');
  ns.ifs.setFlags(hub0, hub0.flags & ~IFF_UP);
  t.deepEqual((await ndp(l.a)).map((e) => e.addr), ['2001:db8::10'], 'interface down');
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('ndp -s ... proxy: solicitations for the address are answered with its MAC, override clear (RFC 4861 §7.2.8)', async (t) => {
  const l = await lan();
  t.is((await ndpTool(l.a, '-s', '2001:db8::99', '02:00:00:00:00:99', 'proxy')).status, 0);
  t.regex((await ndpTool(l.a, '-an')).out, /^2001:db8::99 +02:00:00:00:00:99 +hub0 permanent R p\n/m);
  t.is(sendEcho6(l.b, '2001:db8::99'), 0);
  await l.ks.sim.settle();
  const na = l.seen.find((f) => f.icmpType === 136);
  t.like(na, { src: '2001:db8::1', dst: '2001:db8::2', target: '2001:db8::99', lla: '02:00:00:00:00:99', naFlags: ND_NA_FLAG_SOLICITED });
  t.like((await ndp(l.b)).find((e) => e.addr === '2001:db8::99'), { lladdr: '02:00:00:00:00:99', state: 'REACHABLE' });
  t.like(l.seen.find((f) => f.icmpType === 128), { dstMac: '02:00:00:00:00:99' });
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a new link-layer address made active is announced: an unsolicited advertisement per address, and neighbors take it', async (t) => {
  const l = await lan();
  sendEcho6(l.b, '2001:db8::1');
  await l.ks.sim.settle();
  l.seen.length = 0;
  // What SIOCALIFADDR with `active` does (ifconfig hub0 link MAC active): the address in place, then the listeners.
  const hub0 = ifnet(l.a, 'hub0');
  hub0.lladdr!.set([0xb2, 0xa1, 0, 0, 0, 2]);
  for (const li of netstack(l.a).ifs.listeners) li.lladdrChanged?.(hub0);
  await l.ks.sim.settle();
  const nas = l.seen.filter((f) => f.icmpType === 136);
  const ll = linkLocalOf(l.a, 'hub0');
  t.deepEqual(nas.map((f) => f.target).sort(), ['2001:db8::1', ll].sort());
  for (const na of nas) t.like(na, { dst: 'ff02::1', dstMac: '33:33:00:00:00:01', lla: 'b2:a1:00:00:00:02', naFlags: ND_NA_FLAG_OVERRIDE });
  t.like(nas.find((f) => f.target === ll), { src: ll });
  t.like((await ndp(l.b)).find((e) => e.addr === '2001:db8::1'), { lladdr: 'b2:a1:00:00:00:02' });
  // And traffic follows it.
  sendEcho6(l.b, '2001:db8::1', { seq: 9 });
  await l.ks.sim.settle();
  t.truthy(l.seen.find((f) => f.icmpType === 129 && f.dst === '2001:db8::2'));
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('ndp -i, -r, -p, -R, -P on a kernel: the interface\'s parameters, empty lists, flushes', async (t) => {
  const l = await lan();
  const i = await ndpTool(l.a, '-i', 'hub0');
  t.is(i.status, 0);
  t.is(i.out, 'linkmtu=1500, maxmtu=1500, curhlim=64, basereachable=30s0ms, reachable=30s, retrans=1s0ms\nFlags: nud auto_linklocal\n');
  const bad = await ndpTool(l.a, '-i', 'nope0');
  t.is(bad.status, 1);
  t.regex(bad.err, /^rump\.ndp: ioctl\(SIOCGIFINFO_IN6\): /);
  for (const f of ['-r', '-p', '-R', '-P']) {
    const r = await ndpTool(l.a, f);
    t.is(r.status, 0, f);
    t.is(r.out + r.err, '', f);
  }
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});
