/*
 * IPv4 input: local delivery, loopback, link padding, options, and every
 * kind of malformed datagram, each dropped and counted in its own ipstat
 * counter without throwing or leaking a buffer.
 *
 *      a                        b                    "stranger"
 *   hub0 192.0.2.1/24      hub0 192.0.2.2/24      192.0.2.50 (frames injected
 *      |                        |                   by the test; a knows its
 *   ===+==========lan===========+=====================  MAC from arp -s)
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { ICMP_ECHO, ICMP_ECHOREPLY, ICMP_PARAMPROB, ICMP_UNREACH, ICMP_UNREACH_NET_PROHIB, ICMP_UNREACH_PROTOCOL } from '../../net/wire/icmp.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { busSmallFrame } from '../wire/helpers.js';
import {
  STRANGER_MAC, bootKernels, decodeFrame, etherFrame, haltAll, icmpMessage, icmpstat, ifconfig, ifnet, ipPacket,
  ipstat, sendEcho, setIpChecksum, type Kernels, type SeenFrame,
} from '../helpers/kernels.js';

interface Lan {
  ks: Kernels;
  a: Kernel;
  b: Kernel;
  hub: Hub;
  seen: SeenFrame[];
  macA: Uint8Array;
}

async function lan(): Promise<Lan> {
  const ks = bootKernels(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  const seen: SeenFrame[] = [];
  hub.tap((f) => seen.push(decodeFrame(f)));
  attachEther(a, hub);
  attachEther(b, hub);
  ifconfig(a, 'hub0', '192.0.2.1/24');
  ifconfig(b, 'hub0', '192.0.2.2/24');
  await a.sys.ext('arpmsg', { type: 'add', addr: '192.0.2.50', lladdr: '02:00:5e:10:20:30' });
  await ks.sim.settle();
  seen.length = 0;
  return { ks, a, b, hub, seen, macA: ifnet(a, 'hub0').lladdr! };
}

const echoData = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);

function echoFromStranger(opts: Partial<Parameters<typeof ipPacket>[0]> = {}): Uint8Array {
  return ipPacket({ src: '192.0.2.50', dst: '192.0.2.1', p: 1, payload: icmpMessage(ICMP_ECHO, 0, 0x12340001, echoData(56)), ...opts });
}

test('ping across the hub: the reply comes from the address pinged, TTL 255, same data', async (t) => {
  const l = await lan();
  t.is(sendEcho(l.a, '192.0.2.2', { size: 56, seq: 3 }), 0);
  await l.ks.sim.settle();
  const req = l.seen.find((f) => f.ip?.icmpType === ICMP_ECHO)!;
  const rep = l.seen.find((f) => f.ip?.icmpType === ICMP_ECHOREPLY)!;
  t.like(req.ip, { src: '192.0.2.1', dst: '192.0.2.2', ttl: 64, len: 84 });
  t.like(rep.ip, { src: '192.0.2.2', dst: '192.0.2.1', ttl: 255, len: 84 });
  t.deepEqual(rep.frame.subarray(14 + 24), req.frame.subarray(14 + 24), 'id, seq and data echoed');
  t.is(icmpstat(l.b).reflect, 1);
  t.is(ipstat(l.b).delivered, 1);
  t.is(icmpstat(l.a).inhist[ICMP_ECHOREPLY], 1);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('our own addresses and 127/8 are answered through lo0, never on the wire', async (t) => {
  const l = await lan();
  for (const dst of ['127.0.0.1', '192.0.2.1', '127.0.0.2']) t.is(sendEcho(l.a, dst), 0, dst);
  await l.ks.sim.settle();
  t.is(icmpstat(l.a).inhist[ICMP_ECHOREPLY], 3);
  t.is(icmpstat(l.a).inhist[ICMP_ECHO], 3);
  t.deepEqual(l.seen, []);
  t.is(ifnet(l.a, 'lo0').stats.opackets, 6);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('Ethernet padding after the datagram is trimmed before anything reads it', async (t) => {
  const l = await lan();
  const pkt = echoFromStranger();
  const padded = new Uint8Array(pkt.length + 30).fill(0xee);
  padded.set(pkt);
  l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, padded));
  await l.ks.sim.settle();
  const rep = l.seen.find((f) => f.ip?.icmpType === ICMP_ECHOREPLY);
  t.is(rep?.ip?.len, pkt.length);
  t.is(rep?.frame.length, 14 + pkt.length);
  await haltAll(l.ks);
});

test('malformed datagrams of every kind are dropped, each in its own counter, without a reply', async (t) => {
  const l = await lan();
  const good = echoFromStranger();
  const inject = (bytes: Uint8Array): void => l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, bytes));
  // Every truncated length of a real datagram.
  for (let n = 0; n < good.length; n++) inject(good.subarray(0, n));
  const badSum = good.slice();
  badSum[10]! ^= 0x55;
  inject(badSum);
  const badVers = good.slice();
  badVers[0] = 0x65;
  setIpChecksum(badVers);
  inject(badVers);
  for (const hl of [0, 4]) {
    const short = good.slice();
    short[0] = 0x40 | hl;
    inject(short);
  }
  const longHl = good.subarray(0, 40).slice(); // hl 15 says 60 bytes, only 40 came
  longHl[0] = 0x4f;
  inject(longHl);
  const lenBelowHeader = ipPacket({ src: '192.0.2.50', dst: '192.0.2.1', p: 1, payload: new Uint8Array(8), len: 19 });
  inject(lenBelowHeader);
  await l.ks.sim.settle();
  const st = ipstat(l.a);
  t.is(st.toosmall, 20);
  t.is(st.tooshort, good.length - 20);
  t.is(st.badsum, 1);
  t.is(st.badvers, 1);
  t.is(st.badhlen, 3);
  t.is(st.badlen, 1);
  t.is(st.total, good.length + 6);
  t.is(st.delivered, 0);
  t.deepEqual(l.seen.filter((f) => f.ip?.src === '192.0.2.1'), [], 'nothing answered');
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('well-formed options are skipped (header length honoured)', async (t) => {
  const l = await lan();
  // NOP, NOP, timestamp-less "security"-ish option type 0x82 length 4 (copied bit), EOL padding.
  const options = new Uint8Array([1, 1, 0x82, 4, 0, 0, 0, 0]);
  const pkt = ipPacket({ src: '192.0.2.50', dst: '192.0.2.1', p: 1, payload: icmpMessage(ICMP_ECHO, 0, 7, echoData(16)), options });
  l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, pkt));
  await l.ks.sim.settle();
  const rep = l.seen.find((f) => f.ip?.icmpType === ICMP_ECHOREPLY);
  t.truthy(rep);
  t.is(rep!.ip!.len, 20 + 8 + 16, 'the reply carries no options');
  await haltAll(l.ks);
});

test('malformed options earn a parameter problem pointing at the bad octet; source routes are refused', async (t) => {
  const l = await lan();
  const bad = ipPacket({ src: '192.0.2.50', dst: '192.0.2.1', p: 1, payload: icmpMessage(ICMP_ECHO, 0, 7, echoData(16)), options: new Uint8Array([1, 0x44, 1, 0]) });
  l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, bad));
  const lsrr = ipPacket({ src: '192.0.2.50', dst: '192.0.2.1', p: 1, payload: icmpMessage(ICMP_ECHO, 0, 7, echoData(16)), options: new Uint8Array([131, 7, 4, 198, 51, 100, 1, 0]) });
  l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, lsrr));
  await l.ks.sim.settle();
  t.is(ipstat(l.a).badoptions, 2);
  const errs = l.seen.filter((f) => f.ip?.p === 1 && f.ip.src === '192.0.2.1');
  t.is(errs.length, 2);
  t.is(errs[0]!.ip!.icmpType, ICMP_PARAMPROB);
  t.is(errs[0]!.frame[14 + 20 + 4], 22, 'pointer: the length octet of the option at 21');
  t.is(errs[1]!.ip!.icmpType, ICMP_UNREACH);
  t.is(errs[1]!.ip!.icmpCode, ICMP_UNREACH_NET_PROHIB, 'net.inet.ip.allowsrcrt is 0: NetBSD\'s "prohibited"');
  t.is(ipstat(l.a).delivered, 0);
  await haltAll(l.ks);
});

test('a protocol nobody speaks gets ICMP protocol unreachable and counts noproto', async (t) => {
  const l = await lan();
  const pkt = ipPacket({ src: '192.0.2.50', dst: '192.0.2.1', p: 253, payload: echoData(12) });
  l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, pkt));
  await l.ks.sim.settle();
  t.is(ipstat(l.a).noproto, 1);
  t.is(ipstat(l.a).delivered, 0);
  const err = l.seen.find((f) => f.ip?.icmpType === ICMP_UNREACH)!;
  t.is(err.ip!.icmpCode, ICMP_UNREACH_PROTOCOL);
  t.is(err.ip!.dst, '192.0.2.50');
  // The error quotes the header and the first 8 data bytes.
  t.is(err.ip!.len, 20 + 8 + 20 + 8);
  t.deepEqual(err.frame.subarray(14 + 28, 14 + 28 + 28), pkt.subarray(0, 28));
  await haltAll(l.ks);
});

test('without forwarding, datagrams for others are counted (cantforward) and dropped', async (t) => {
  const l = await lan();
  const pkt = ipPacket({ src: '192.0.2.50', dst: '198.51.100.7', p: 1, payload: icmpMessage(ICMP_ECHO, 0, 1, echoData(8)) });
  l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, pkt));
  await l.ks.sim.settle();
  t.is(ipstat(l.a).cantforward, 1);
  t.is(ipstat(l.a).forward, 0);
  t.deepEqual(l.seen.filter((f) => f.ip && f.ip.src !== '192.0.2.50'), []);
  await haltAll(l.ks);
});

test('127/8 on the wire and broadcast or multicast sources are dropped as bad addresses', async (t) => {
  const l = await lan();
  for (const [src, dst] of [['127.0.0.1', '192.0.2.1'], ['192.0.2.50', '127.0.0.1'], ['255.255.255.255', '192.0.2.1'], ['224.0.0.5', '192.0.2.1']] as const) {
    l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, echoFromStranger({ src, dst })));
  }
  await l.ks.sim.settle();
  t.is(ipstat(l.a).badaddr, 4);
  t.is(ipstat(l.a).delivered, 0);
  await haltAll(l.ks);
});

test('net.inet.ip.ttl and net.inet.ip.forwarding keep to their NetBSD ranges', async (t) => {
  const l = await lan();
  t.is(await l.a.sys.sysctl('net.inet.ip.ttl'), 64);
  await l.a.sys.sysctlSet('net.inet.ip.ttl', '200');
  t.is(await l.a.sys.sysctl('net.inet.ip.ttl'), 200);
  await t.throwsAsync(l.a.sys.sysctlSet('net.inet.ip.ttl', 0), { code: 'EINVAL' });
  await t.throwsAsync(l.a.sys.sysctlSet('net.inet.ip.ttl', 256), { code: 'EINVAL' });
  await t.throwsAsync(l.a.sys.sysctlSet('net.inet.ip.forwarding', 2), { code: 'EINVAL' });
  sendEcho(l.a, '192.0.2.2', { ttl: undefined });
  await l.ks.sim.settle();
  t.is(l.seen.find((f) => f.ip?.icmpType === ICMP_ECHO)?.ip?.ttl, 200);
  const stats = (await l.a.sys.sysctl('net.inet.ip.stats')) as Record<string, number>;
  t.is(stats.localout, 1);
  await haltAll(l.ks);
});

test('thousands of mutated real frames: nothing throws, nothing leaks', async (t) => {
  // Be NetBSD's 192.0.2.2 from bus-small, and receive its peer's frames with
  // random bytes changed (from the sim host's seeded PRNG), half of them with
  // the IP header checksum repaired so the damage reaches ICMP, reassembly
  // and ARP rather than stopping at the checksum.
  const ks = bootKernels(1, 7);
  const k = ks.kernels[0]!;
  const hub = new Hub('fuzz');
  attachEther(k, hub, { mac: new Uint8Array([0xb2, 0xa0, 0x85, 0x5e, 0xe0, 0xa5]) });
  ifconfig(k, 'hub0', '192.0.2.2/24');
  await k.sys.sysctlSet('net.inet.ip.forwarding', 1);
  const peer = busSmallFrame(4).subarray(0, 6);
  const mkFrag = (off: number, more: boolean): Uint8Array =>
    etherFrame(peer, STRANGER_MAC, 0x0800, ipPacket({ src: '192.0.2.1', dst: '192.0.2.2', p: 1, id: 77, off: (more ? 0x2000 : 0) | off, payload: new Uint8Array(64).fill(off) }));
  const bases = [
    busSmallFrame(0), busSmallFrame(2), busSmallFrame(4), busSmallFrame(5),
    mkFrag(0, true), mkFrag(8, true), mkFrag(16, false),
    etherFrame(peer, STRANGER_MAC, 0x0800, ipPacket({ src: '192.0.2.1', dst: '192.0.2.2', p: 1, payload: icmpMessage(3, 3, 0, busSmallFrame(4).subarray(14, 14 + 28)) })),
    etherFrame(peer, STRANGER_MAC, 0x0800, ipPacket({ src: '192.0.2.1', dst: '203.0.113.1', p: 1, ttl: 1, options: new Uint8Array([1, 7, 7, 4, 0, 0, 0, 0]), payload: icmpMessage(8, 0, 1, new Uint8Array(8)) })),
  ];
  await k.sys.ext('arpmsg', { type: 'add', addr: '192.0.2.1', lladdr: 'b2:a0:49:01:90:32' });
  const rnd = (n: number): number => ks.sim.random32() % n;
  for (let i = 0; i < 4000; i++) {
    const base = bases[rnd(bases.length)]!;
    const f = base.slice(0, base.length - (rnd(4) === 0 ? rnd(base.length) : 0));
    for (let n = 1 + rnd(4); n > 0 && f.length > 14; n--) f[14 + rnd(f.length - 14)] = ks.sim.random32() & 0xff;
    if (rnd(2) === 0 && f.length >= 34 && f[12] === 0x08 && f[13] === 0x00 && (f[14]! >>> 4) === 4) {
      const hl = (f[14]! & 15) << 2;
      if (hl >= 20 && 14 + hl <= f.length) setIpChecksum(f, 14);
    }
    hub.inject(f);
    if (i % 100 === 99) await ks.sim.settle();
  }
  await ks.sim.run(60_000);
  t.true(ipstat(k).total > 2000);
  t.deepEqual(await haltAll(ks), { mbufsInUse: [0], callouts: [0] });
});
