/*
 * ARP (RFC 826) between kernels on one Ethernet segment, on the sim clock.
 *
 *      a                        b
 *   hub0 192.0.2.1/24      hub0 192.0.2.2/24
 *      |                        |
 *   ===+==========lan===========+===   (192.0.2.9 and .77: nobody)
 */
import test from 'ava';
import { EHOSTDOWN, EHOSTUNREACH, ENOTSUP } from '../../kern/errno.js';
import type { Kernel } from '../../kern/kernel.js';
import { IFF_NOARP, IFF_UP } from '../../net/interface.js';
import { netstack } from '../../net/netstack.js';
import { ARP_MAXHOLD } from '../../net/inet/arp.js';
import { ICMP_ECHOREPLY } from '../../net/wire/icmp.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { busSmallFrame } from '../wire/helpers.js';
import {
  BROADCAST_MAC, STRANGER_MAC, arpTable, arpstat, bootKernels, decodeFrame, etherFrame, haltAll, icmpstat, ifconfig,
  ifnet, route, sendEcho, type Kernels, type SeenFrame,
} from '../helpers/kernels.js';

interface Lan {
  ks: Kernels;
  a: Kernel;
  b: Kernel;
  hub: Hub;
  seen: SeenFrame[];
  macA: string;
  macB: string;
}

async function lan(): Promise<Lan> {
  const ks = bootKernels(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  const seen: SeenFrame[] = [];
  hub.tap((f) => seen.push(decodeFrame(f)));
  const ia = attachEther(a, hub);
  const ib = attachEther(b, hub);
  ifconfig(a, 'hub0', '192.0.2.1/24');
  ifconfig(b, 'hub0', '192.0.2.2/24');
  await ks.sim.settle();
  const mac = (m: Uint8Array): string => [...m].map((x) => x.toString(16).padStart(2, '0')).join(':');
  return { ks, a, b, hub, seen, macA: mac(ia.lladdr!), macB: mac(ib.lladdr!) };
}

/** An ARP message as bytes (Ethernet payload), every field settable. */
function arpBytes(op: number, sha: Uint8Array, spa: number[], tha: Uint8Array, tpa: number[], over: Partial<{ hrd: number; pro: number; hln: number; pln: number }> = {}): Uint8Array {
  const b = new Uint8Array(28);
  const hrd = over.hrd ?? 1;
  const pro = over.pro ?? 0x0800;
  b[0] = hrd >>> 8; b[1] = hrd & 0xff; b[2] = pro >>> 8; b[3] = pro & 0xff;
  b[4] = over.hln ?? 6; b[5] = over.pln ?? 4; b[6] = 0; b[7] = op;
  b.set(sha, 8); b.set(spa, 14); b.set(tha, 18); b.set(tpa, 24);
  return b;
}

test('assigning an address sends one gratuitous ARP: a request with spa == tpa and a zero tha', async (t) => {
  const l = await lan();
  const garps = l.seen.filter((f) => f.arp);
  t.is(garps.length, 2);
  const g = garps[0]!;
  t.is(g.dstMac, 'ff:ff:ff:ff:ff:ff');
  t.deepEqual(g.arp, { op: 1, sha: l.macA, spa: '192.0.2.1', tha: '00:00:00:00:00:00', tpa: '192.0.2.1' });
  // An announcement teaches nobody a new entry (RFC 826: only the target creates one).
  t.deepEqual(await arpTable(l.b), []);
  t.is(arpstat(l.a).snd_request, 1);
  await haltAll(l.ks);
});

test('a first packet is held, the request answered, the packet sent, and both sides learn', async (t) => {
  const l = await lan();
  l.seen.length = 0;
  t.is(sendEcho(l.a, '192.0.2.2'), 0);
  await l.ks.sim.settle();
  const kinds = l.seen.map((f) => (f.arp ? `arp${f.arp.op}` : `icmp${f.ip?.icmpType}`));
  t.deepEqual(kinds, ['arp1', 'arp2', 'icmp8', 'icmp0']);
  t.deepEqual(l.seen[0]!.arp, { op: 1, sha: l.macA, spa: '192.0.2.1', tha: '00:00:00:00:00:00', tpa: '192.0.2.2' });
  t.is(l.seen[0]!.dstMac, 'ff:ff:ff:ff:ff:ff');
  t.deepEqual(l.seen[1]!.arp, { op: 2, sha: l.macB, spa: '192.0.2.2', tha: l.macA, tpa: '192.0.2.1' });
  t.is(l.seen[1]!.dstMac, l.macA);
  t.is(l.seen[2]!.dstMac, l.macB);
  t.is(icmpstat(l.a).inhist[ICMP_ECHOREPLY], 1);
  t.deepEqual(await arpTable(l.a), [
    { addr: '192.0.2.2', lladdr: l.macB, ifname: 'hub0', permanent: false, expire: 1200, published: false },
  ]);
  // b learnt a from the request aimed at it, so its reply needed no ARP of its own.
  t.is((await arpTable(l.b))[0]!.lladdr, l.macA);
  t.is(arpstat(l.a).dfrsent, 1);
  t.is(arpstat(l.b).snd_reply, 1);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('entries expire after net.inet.arp.keep seconds on the kernel clock', async (t) => {
  const l = await lan();
  await l.a.sys.sysctlSet('net.inet.arp.keep', 30);
  t.is(await l.a.sys.sysctl('net.inet.arp.keep'), 30);
  sendEcho(l.a, '192.0.2.2');
  await l.ks.sim.settle();
  t.is((await arpTable(l.a)).length, 1);
  await l.ks.sim.run(29_000);
  t.is((await arpTable(l.a))[0]!.expire, 1);
  await l.ks.sim.run(1_001);
  t.deepEqual(await arpTable(l.a), []);
  // The next packet asks again.
  l.seen.length = 0;
  sendEcho(l.a, '192.0.2.2');
  await l.ks.sim.settle();
  t.is(l.seen[0]!.arp?.op, 1);
  t.is(icmpstat(l.a).inhist[ICMP_ECHOREPLY], 2);
  await haltAll(l.ks);
});

test('the hold queue keeps the newest few packets and counts the ones it drops', async (t) => {
  const l = await lan();
  const n = ARP_MAXHOLD + 2;
  for (let seq = 0; seq < n; seq++) t.is(sendEcho(l.a, '192.0.2.2', { seq }), 0);
  // One request for all of them: the rest wait for the same answer.
  t.is(arpstat(l.a).snd_request, 2); // the announcement and this request
  t.is(arpstat(l.a).ratelimit, n - 1);
  await l.ks.sim.settle();
  t.is(arpstat(l.a).dfrdropped, 2);
  t.is(arpstat(l.a).dfrsent, ARP_MAXHOLD);
  const seqs = l.seen.filter((f) => f.ip?.icmpType === 8).map((f) => f.frame[14 + 20 + 7]);
  t.deepEqual(seqs, Array.from({ length: ARP_MAXHOLD }, (_, i) => i + 2));
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('an unanswered address: one request a second, then down for 20 s with EHOSTDOWN (EHOSTUNREACH via a gateway)', async (t) => {
  const l = await lan();
  await route(l.a, { type: 'add', dst: 'default', gateway: '192.0.2.9' });
  l.seen.length = 0;
  const t0 = l.ks.sim.now();
  const times: number[] = [];
  l.hub.tap((f) => {
    const d = decodeFrame(f);
    if (d.arp?.tpa === '192.0.2.9') times.push(l.ks.sim.now() - t0);
  });
  t.is(sendEcho(l.a, '192.0.2.9'), 0);
  t.is(sendEcho(l.a, '192.0.2.9'), 0); // no second request within the second
  await l.ks.sim.run(4_500);
  t.deepEqual(times, [0, 1000, 2000, 3000, 4000]);
  await l.ks.sim.run(1_000);
  t.is(arpstat(l.a).timeouts, 1);
  t.is(sendEcho(l.a, '192.0.2.9'), EHOSTDOWN);
  t.is(sendEcho(l.a, '203.0.113.1'), EHOSTUNREACH);
  t.is(times.length, 5, 'no requests while down');
  // Held packets were ours, so nobody got an ICMP error for them.
  t.is(icmpstat(l.a).outhist[3], 0);
  await l.ks.sim.run(20_000);
  t.is(sendEcho(l.a, '192.0.2.9'), 0, 'after arpt_down the address is tried again');
  await l.ks.sim.settle();
  t.is(times.length, 6);
  await l.ks.sim.run(10_000);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('malformed and hostile ARP is counted and dropped', async (t) => {
  const l = await lan();
  const me = ifnet(l.a, 'hub0').lladdr!;
  const zero = new Uint8Array(6);
  const ok = arpBytes(1, STRANGER_MAC, [192, 0, 2, 50], zero, [192, 0, 2, 1]);
  const send = (payload: Uint8Array): void => l.hub.inject(etherFrame(BROADCAST_MAC, STRANGER_MAC, 0x0806, payload));
  const before = { ...arpstat(l.a) };
  // Every truncated length of a good request.
  for (let n = 0; n < 28; n++) send(ok.subarray(0, n));
  send(arpBytes(1, STRANGER_MAC, [192, 0, 2, 50], zero, [192, 0, 2, 1], { pro: 0x86dd }));
  send(arpBytes(1, STRANGER_MAC, [192, 0, 2, 50], zero, [192, 0, 2, 1], { hrd: 6 }));
  send(arpBytes(9, STRANGER_MAC, [192, 0, 2, 50], zero, [192, 0, 2, 1]));
  send(arpBytes(1, me, [192, 0, 2, 50], zero, [192, 0, 2, 1]));
  send(arpBytes(1, BROADCAST_MAC, [192, 0, 2, 50], zero, [192, 0, 2, 1]));
  send(arpBytes(1, STRANGER_MAC, [192, 0, 2, 50], zero, [0, 0, 0, 0]));
  send(arpBytes(1, STRANGER_MAC, [224, 0, 0, 1], zero, [192, 0, 2, 1]));
  await l.ks.sim.settle();
  const st = arpstat(l.a);
  t.is(st.rcv_total - before.rcv_total, 35);
  t.is(st.rcv_badlen - before.rcv_badlen, 28);
  t.is(st.rcv_badproto - before.rcv_badproto, 3);
  t.is(st.rcv_ours - before.rcv_ours, 1);
  t.is(st.rcv_bcast_sha - before.rcv_bcast_sha, 1);
  t.is(st.rcv_badaddr - before.rcv_badaddr, 2);
  t.is(st.snd_reply, 0);
  t.deepEqual(await arpTable(l.a), []);
  // A good one is answered and remembered.
  send(ok);
  await l.ks.sim.settle();
  t.is(arpstat(l.a).snd_reply, 1);
  t.is((await arpTable(l.a))[0]!.addr, '192.0.2.50');
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a duplicate address is logged, counted and defended with a reply', async (t) => {
  const l = await lan();
  const zero = new Uint8Array(6);
  l.seen.length = 0;
  l.hub.inject(etherFrame(BROADCAST_MAC, STRANGER_MAC, 0x0806, arpBytes(1, STRANGER_MAC, [192, 0, 2, 1], zero, [192, 0, 2, 1])));
  await l.ks.sim.settle();
  t.is(arpstat(l.a).rcv_localspa, 1);
  t.true(l.ks.sim.logged.some((s) => s.includes('duplicate IP address 192.0.2.1 sent from link address 02:00:5e:10:20:30')));
  const reply = l.seen.find((f) => f.arp?.op === 2);
  t.deepEqual(reply?.arp, { op: 2, sha: l.macA, spa: '192.0.2.1', tha: '02:00:5e:10:20:30', tpa: '192.0.2.1' });
  await haltAll(l.ks);
});

test('a new MAC for a known neighbour replaces the old one (and is counted)', async (t) => {
  const l = await lan();
  sendEcho(l.a, '192.0.2.2');
  await l.ks.sim.settle();
  const zero = new Uint8Array(6);
  l.hub.inject(etherFrame(BROADCAST_MAC, STRANGER_MAC, 0x0806, arpBytes(1, STRANGER_MAC, [192, 0, 2, 2], zero, [192, 0, 2, 2])));
  await l.ks.sim.settle();
  t.is((await arpTable(l.a))[0]!.lladdr, '02:00:5e:10:20:30');
  t.is(arpstat(l.a).rcv_lladdr_changed, 1);
  await haltAll(l.ks);
});

test('arp -s: permanent and published entries, arp -d', async (t) => {
  const l = await lan();
  await l.a.sys.ext('arpmsg', { type: 'add', addr: '192.0.2.77', lladdr: '02:00:00:00:00:77', pub: true });
  t.deepEqual(await arpTable(l.a), [
    { addr: '192.0.2.77', lladdr: '02:00:00:00:00:77', ifname: 'hub0', permanent: true, expire: -1, published: true },
  ]);
  // a answers for .77 (proxy ARP), so b reaches it without .77 existing.
  l.seen.length = 0;
  sendEcho(l.b, '192.0.2.77');
  await l.ks.sim.settle();
  const reply = l.seen.find((f) => f.arp?.op === 2);
  t.deepEqual(reply?.arp, { op: 2, sha: '02:00:00:00:00:77', spa: '192.0.2.77', tha: l.macB, tpa: '192.0.2.2' });
  // Permanent entries do not expire.
  await l.ks.sim.run(2_000_000);
  t.is((await arpTable(l.a)).length, 1);
  await l.a.sys.ext('arpmsg', { type: 'delete', addr: '192.0.2.77' });
  t.deepEqual(await arpTable(l.a), []);
  await t.throwsAsync(l.a.sys.ext('arpmsg', { type: 'delete', addr: '192.0.2.77' }), { code: 'ESRCH' });
  await t.throwsAsync(l.a.sys.ext('arpmsg', { type: 'add', addr: '10.9.9.9', lladdr: '02:00:00:00:00:01' }), { code: 'ENETUNREACH' });
  await t.throwsAsync(l.a.sys.ext('arpmsg', { type: 'add', addr: '192.0.2.5', lladdr: 'zz' }), { code: 'EINVAL' });
  await haltAll(l.ks);
});

test('bringing the interface down forgets learnt entries', async (t) => {
  const l = await lan();
  sendEcho(l.a, '192.0.2.2');
  await l.ks.sim.settle();
  t.is((await arpTable(l.a)).length, 1);
  const ifp = ifnet(l.a, 'hub0');
  netstack(l.a).ifs.setFlags(ifp, ifp.flags & ~IFF_UP);
  t.deepEqual(await arpTable(l.a), []);
  await haltAll(l.ks);
});

test('announces and answers byte for byte as NetBSD did on bus-small', async (t) => {
  // Be NetBSD's second kernel (192.0.2.2, b2:a0:85:5e:e0:a5) and replay what its peer sent.
  const ks = bootKernels(1);
  const k = ks.kernels[0]!;
  const hub = new Hub('bus-small');
  const out: Uint8Array[] = [];
  hub.tap((f, from) => {
    if (from) out.push(f);
  });
  attachEther(k, hub, { mac: new Uint8Array([0xb2, 0xa0, 0x85, 0x5e, 0xe0, 0xa5]) });
  ifconfig(k, 'hub0', '192.0.2.2/24');
  await ks.sim.settle();
  t.deepEqual(out[0], busSmallFrame(1), 'the gratuitous ARP');
  hub.inject(busSmallFrame(2)); // who has 192.0.2.2? tell 192.0.2.1
  await ks.sim.settle();
  t.deepEqual(out[1], busSmallFrame(3), 'the ARP reply');
  hub.inject(busSmallFrame(4)); // echo request
  await ks.sim.settle();
  const mine = out[2]!.slice();
  const theirs = busSmallFrame(5);
  // Only the IP id (and so the header checksum) may differ.
  for (const i of [18, 19, 24, 25]) mine[i] = theirs[i]!;
  t.deepEqual(mine, theirs, 'the echo reply');
  await haltAll(ks);
});

test('a flood to unresolved addresses stays within net.inet.arp.maxentries and maxhold, counted, memory flat', async (t) => {
  const l = await lan();
  t.is(await l.a.sys.sysctl('net.inet.arp.maxhold'), ARP_MAXHOLD);
  await l.a.sys.sysctlSet('net.inet.arp.maxentries', 50);
  await l.a.sys.sysctlSet('net.inet.arp.maxhold', 4);
  // 16,000 echo requests to 200 silent addresses, 80 each.
  let memAt = 0;
  const refused: number[] = [];
  for (let i = 0; i < 16_000; i++) {
    const err = sendEcho(l.a, `192.0.2.${10 + (i % 200)}`, { seq: i });
    if (err !== 0) refused.push(err);
    if (i === 999) memAt = l.a.mem.used;
  }
  await l.ks.sim.settle();
  t.is((await arpTable(l.a)).length, 50, 'the cache stops at maxentries');
  t.is(arpstat(l.a).allocfail, 150 * 80, 'packets to addresses beyond it are refused and counted');
  t.is(refused.length, 150 * 80);
  t.is(arpstat(l.a).dfrdropped, 50 * (80 - 4), 'each entry keeps the newest maxhold');
  t.is(l.a.mem.used, memAt, 'memory flat');
  t.true(l.a.mbufs.inUse <= 50 * 4, `${l.a.mbufs.inUse} packets held`);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('proxy ARP for an address of ours on another interface: arp -s A our-MAC pub answers on the first, "proxy only"', async (t) => {
  const l = await lan();
  // a has a second interface on the same subnet, on another segment.
  attachEther(l.a, new Hub('other'));
  ifconfig(l.a, 'hub1', '192.0.2.3/24');
  await l.ks.sim.settle();
  l.seen.length = 0;
  t.is(sendEcho(l.b, '192.0.2.3'), 0);
  await l.ks.sim.settle();
  t.false(l.seen.some((f) => f.arp?.op === 2), 'without the entry nobody answers for .3 on the lan');
  await l.a.sys.ext('arpmsg', { type: 'add', addr: '192.0.2.3', lladdr: l.macA, pub: true });
  t.like((await arpTable(l.a)).find((e) => e.addr === '192.0.2.3'), { ifname: 'hub0', published: true, permanent: true });
  l.seen.length = 0;
  sendEcho(l.b, '192.0.2.3', { seq: 2 });
  await l.ks.sim.run(2_000);
  t.deepEqual(l.seen.find((f) => f.arp?.op === 2)?.arp, { op: 2, sha: l.macA, spa: '192.0.2.3', tha: l.macB, tpa: '192.0.2.2' });
  t.true(l.seen.some((f) => f.ip?.icmpType === ICMP_ECHOREPLY && f.ip.src === '192.0.2.3'), 'and a answers the ping from .3');
  // Published entries only answer: a never sends to one (no loop through its own MAC).
  await l.a.sys.ext('arpmsg', { type: 'add', addr: '192.0.2.77', lladdr: '02:00:00:00:00:77', pub: true });
  t.is(sendEcho(l.a, '192.0.2.77'), EHOSTUNREACH);
  await haltAll(l.ks);
});

test('ifconfig link MAC: only with active does the interface take the address, announced by a gratuitous ARP from it', async (t) => {
  const l = await lan();
  const fd = await l.a.sys.socket(2, 2, 0);
  l.seen.length = 0;
  await l.a.sys.ioctl(fd, 'SIOCALIFADDR', { name: 'hub0', lladdr: 'b2:a1:00:00:00:01' });
  await l.ks.sim.settle();
  t.deepEqual(l.seen, [], 'an address not made active changes nothing');
  await l.a.sys.ioctl(fd, 'SIOCALIFADDR', { name: 'hub0', lladdr: 'b2:a1:00:00:00:02', active: true });
  await l.ks.sim.settle();
  t.is(l.seen.length, 1);
  t.like(l.seen[0], { srcMac: 'b2:a1:00:00:00:02', dstMac: 'ff:ff:ff:ff:ff:ff' });
  t.deepEqual(l.seen[0]!.arp, { op: 1, sha: 'b2:a1:00:00:00:02', spa: '192.0.2.1', tha: '00:00:00:00:00:00', tpa: '192.0.2.1' });
  t.deepEqual([...ifnet(l.a, 'hub0').lladdr!], [0xb2, 0xa1, 0, 0, 0, 2]);
  // b, which had no entry for .1, resolves it to the new address.
  sendEcho(l.b, '192.0.2.1');
  await l.ks.sim.settle();
  t.is((await arpTable(l.b)).find((e) => e.addr === '192.0.2.1')?.lladdr, 'b2:a1:00:00:00:02');
  await t.throwsAsync(l.a.sys.ioctl(fd, 'SIOCALIFADDR', { name: 'hub0', lladdr: '01:00:5e:00:00:01', active: true }), { code: 'EINVAL' });
  await l.a.sys.close(fd);
  await haltAll(l.ks);
});

test('ifconfig -arp: a resolved neighbour is still reached, an unknown one is not asked for (ENOTSUP) and gets no entry', async (t) => {
  const l = await lan();
  sendEcho(l.a, '192.0.2.2');
  await l.ks.sim.settle();
  const ifp = ifnet(l.a, 'hub0');
  netstack(l.a).ifs.setFlags(ifp, ifp.flags | IFF_NOARP);
  l.seen.length = 0;
  t.is(sendEcho(l.a, '192.0.2.2'), 0);
  t.is(sendEcho(l.a, '192.0.2.3'), ENOTSUP);
  await l.ks.sim.settle();
  t.false(l.seen.some((f) => f.arp), 'no request goes out');
  t.true(l.seen.some((f) => f.ip?.icmpType === ICMP_ECHOREPLY), 'the resolved neighbour answers');
  t.deepEqual((await arpTable(l.a)).map((e) => e.addr), ['192.0.2.2']);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});
