/*
 * Fragmentation and reassembly (RFC 791 §3.2): a 60000-byte ping over a
 * 1500-byte Ethernet, out-of-order and overlapping fragments, the 65535-byte
 * limit, the 30 s reassembly timer and the memory bounds.
 *
 *      a                        b                    "stranger"
 *   hub0 192.0.2.1/24      hub0 192.0.2.2/24      192.0.2.50 (frames injected
 *      |                        |                   by the test; a knows its
 *   ===+==========lan===========+=====================  MAC from arp -s)
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, SOCK_RAW } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { SOL_SOCKET, SO_RCVBUF, SO_SNDBUF } from '../../net/socket.js';
import { IPFRAGTTL_MS, IP_MAXFRAGPACKETS, ipReassCounts } from '../../net/inet/ip_reass.js';
import { ICMP_ECHO, ICMP_ECHOREPLY, ICMP_TIMXCEED, ICMP_TIMXCEED_REASS } from '../../net/wire/icmp.js';
import { Hub, attachEther } from '../helpers/hub.js';
import {
  STRANGER_MAC, bootKernels, decodeFrame, etherFrame, haltAll, icmpMessage, icmpstat, ifconfig, ifnet, ipPacket,
  ipstat, sendEcho, type Kernels, type SeenFrame,
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

/** Fragment `payload` (the IP data) as the stranger would, one frame per [start, end) piece. */
function injectPieces(l: Lan, id: number, payload: Uint8Array, pieces: Array<[number, number, boolean, Uint8Array?]>): void {
  for (const [start, end, more, override] of pieces) {
    const data = (override ?? payload).subarray(start, end);
    const pkt = ipPacket({ src: '192.0.2.50', dst: '192.0.2.1', p: 1, id, off: (more ? 0x2000 : 0) | (start >>> 3), payload: data });
    l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, pkt));
  }
}

function echoRequest(n: number, rest = 0x77770001): Uint8Array {
  return icmpMessage(ICMP_ECHO, 0, rest, Uint8Array.from({ length: n }, (_, i) => (i * 13 + 5) & 0xff));
}

test('a 60000-byte ping is fragmented to the MTU, reassembled, answered and reassembled again', async (t) => {
  const l = await lan();
  sendEcho(l.a, '192.0.2.2', { size: 8 }); // resolve ARP first, as ping's first packet would
  await l.ks.sim.settle();
  l.seen.length = 0;
  const fd = await l.a.sys.socket(AF_INET, SOCK_RAW, 1);
  // As ping -s does: room for the whole datagram in both socket buffers.
  await l.a.sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, 70_000);
  await l.a.sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 140_000);
  const req = echoRequest(60000);
  t.is(await l.a.sys.sendto(fd, req, 0, { family: AF_INET, addr: '192.0.2.2', port: 0 }), req.length);
  await l.ks.sim.settle();
  // 60008 bytes of ICMP in 1480-byte pieces: 41 fragments each way.
  const out = l.seen.filter((f) => f.ip?.src === '192.0.2.1');
  t.is(out.length, 41);
  t.true(out.every((f) => f.frame.length <= 1514));
  t.is(ipstat(l.a).ofragments, 41);
  t.is(ipstat(l.b).reassembled, 1);
  t.is(ipstat(l.b).fragments, 41);
  t.is(ipstat(l.a).reassembled, 1);
  // The raw socket sees the reply whole, IP header first.
  let got: Uint8Array | null = null;
  for (;;) {
    const r = await l.a.sys.recvfrom(fd, 65535);
    if (r.data[20] === ICMP_ECHOREPLY) {
      got = r.data;
      break;
    }
  }
  t.is(got.length, 20 + 60008);
  t.deepEqual(got.subarray(28), req.subarray(8), 'every byte came back');
  await l.a.sys.close(fd);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a 60000-byte ping to ourselves goes through lo0 in MTU-33624 fragments', async (t) => {
  const l = await lan();
  t.is(sendEcho(l.a, '192.0.2.1', { size: 60000 }), 0);
  await l.ks.sim.settle();
  t.is(ipstat(l.a).ofragments, 4, 'two each way');
  t.is(ipstat(l.a).reassembled, 2);
  t.is(icmpstat(l.a).inhist[ICMP_ECHOREPLY], 1);
  t.deepEqual(l.seen, []);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('out of order, duplicated and overlapping fragments: earlier bytes win over a later front overlap', async (t) => {
  const l = await lan();
  const req = echoRequest(200); // 208 bytes of IP data
  const garbage = req.slice();
  for (let i = 48; i < 64; i++) garbage[i] = 0xee;
  injectPieces(l, 9, req, [
    [136, 208, false],
    [0, 64, true],
    [48, 128, true, garbage], // its first 16 bytes overlap [0,64): ours are kept
    [0, 64, true], // a duplicate: dropped
    [120, 144, true], // overlaps both neighbours, fills [128,136)
  ]);
  await l.ks.sim.settle();
  t.is(ipstat(l.a).fragments, 5);
  t.is(ipstat(l.a).reassembled, 1);
  t.is(ipstat(l.a).fragdropped, 1);
  const rep = l.seen.find((f) => f.ip?.icmpType === ICMP_ECHOREPLY);
  t.truthy(rep, 'the checksum verified, so the right bytes were kept');
  t.deepEqual(rep!.frame.subarray(14 + 28), req.subarray(8));
  t.deepEqual(ipReassCounts(inet(l.a)), { queues: 0, fragments: 0 });
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('fragments that add up to more than 65535 bytes are dropped and counted', async (t) => {
  const l = await lan();
  const req = echoRequest(64);
  injectPieces(l, 11, req, [[0, 64, true]]);
  // Offset 65528 + 16 bytes + a 20-byte header: past IP_MAXPACKET.
  const tail = ipPacket({ src: '192.0.2.50', dst: '192.0.2.1', p: 1, id: 11, off: 65528 >>> 3, payload: new Uint8Array(16) });
  l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, tail));
  await l.ks.sim.settle();
  const st = ipstat(l.a);
  t.is(st.toolong, 1);
  t.is(st.fragdropped, 2, 'the offender and the fragment already queued');
  t.is(st.reassembled, 0);
  t.deepEqual(ipReassCounts(inet(l.a)), { queues: 0, fragments: 0 });
  // Nothing arrives after the queue died, so no time exceeded either.
  await l.ks.sim.run(IPFRAGTTL_MS + 1000);
  t.is(icmpstat(l.a).outhist[ICMP_TIMXCEED], 0);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('an incomplete datagram times out after 30 s: ICMP time exceeded only when fragment zero came', async (t) => {
  const l = await lan();
  const req = echoRequest(200);
  injectPieces(l, 21, req, [[0, 64, true], [128, 208, false]]); // hole at [64,128)
  injectPieces(l, 22, req, [[64, 128, true]]); // fragment zero never comes
  await l.ks.sim.settle();
  t.deepEqual(ipReassCounts(inet(l.a)), { queues: 2, fragments: 3 });
  await l.ks.sim.run(IPFRAGTTL_MS - 1);
  t.is(ipstat(l.a).fragtimeout, 0);
  await l.ks.sim.run(1);
  t.is(ipstat(l.a).fragtimeout, 3);
  t.deepEqual(ipReassCounts(inet(l.a)), { queues: 0, fragments: 0 });
  await l.ks.sim.settle();
  const errs = l.seen.filter((f) => f.ip?.icmpType === ICMP_TIMXCEED);
  t.is(errs.length, 1);
  t.is(errs[0]!.ip!.icmpCode, ICMP_TIMXCEED_REASS);
  t.is(errs[0]!.ip!.dst, '192.0.2.50');
  // It quotes fragment zero: id 21, offset 0 with MF.
  t.is((errs[0]!.frame[14 + 28 + 4]! << 8) | errs[0]!.frame[14 + 28 + 5]!, 21);
  t.is((errs[0]!.frame[14 + 28 + 6]! << 8) | errs[0]!.frame[14 + 28 + 7]!, 0x2000);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('at most IP_MAXFRAGPACKETS datagrams are reassembled at once; malformed fragments are counted', async (t) => {
  const l = await lan();
  const req = echoRequest(200);
  for (let id = 100; id < 100 + IP_MAXFRAGPACKETS + 6; id++) injectPieces(l, id, req, [[64, 128, true]]);
  await l.ks.sim.settle();
  t.deepEqual(ipReassCounts(inet(l.a)), { queues: IP_MAXFRAGPACKETS, fragments: IP_MAXFRAGPACKETS });
  t.is(ipstat(l.a).fragdropped, 6);
  // MF with a length that is not a multiple of 8.
  injectPieces(l, 7, req, [[0, 61, true]]);
  await l.ks.sim.settle();
  t.is(ipstat(l.a).badfrags, 1);
  await l.ks.sim.run(IPFRAGTTL_MS);
  t.deepEqual(ipReassCounts(inet(l.a)), { queues: 0, fragments: 0 });
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a flood of fragments stays within net.inet.ip.maxfragsperpacket and maxfrags, memory flat; the datagram still completes', async (t) => {
  const l = await lan();
  t.is(await l.a.sys.sysctl('net.inet.ip.maxfragpackets'), IP_MAXFRAGPACKETS);
  await l.a.sys.sysctlSet('net.inet.ip.maxfragsperpacket', 8);
  await l.a.sys.sysctlSet('net.inet.ip.maxfrags', 20);
  const req = echoRequest(64_000);
  // 16,000 eight-byte fragments of one datagram (id 1), the last missing;
  // offsets wrap at 64,000 bytes (the field's reach), so some repeat.
  let memAt100 = 0;
  for (let i = 0; i < 16_000; i++) {
    const o = 8 * (i % 8000);
    injectPieces(l, 1, req, [[o, o + 8, true]]);
    if (i % 100 === 99) await l.ks.sim.settle();
    if (i === 99) memAt100 = l.a.mem.used;
  }
  await l.ks.sim.settle();
  t.deepEqual(ipReassCounts(inet(l.a)), { queues: 1, fragments: 8 });
  t.is(ipstat(l.a).fragdropped, 16_000 - 8);
  t.is(l.a.mem.used, memAt100, 'memory flat');
  // Fragments of other datagrams meet the total bound.
  for (let id = 2; id < 20; id++) injectPieces(l, id, req, [[0, 8, true]]);
  await l.ks.sim.settle();
  t.deepEqual(ipReassCounts(inet(l.a)), { queues: 13, fragments: 20 });
  // A datagram of few fragments still completes and is answered.
  await l.a.sys.sysctlSet('net.inet.ip.maxfrags', 1024);
  const small = echoRequest(40);
  l.seen.length = 0;
  injectPieces(l, 99, small, [[0, 24, true], [24, small.length, false]]);
  await l.ks.sim.settle();
  t.is(ipstat(l.a).reassembled, 1);
  t.true(l.seen.some((f) => f.ip?.dst === '192.0.2.50'), 'the echo reply went out');
  await l.ks.sim.run(IPFRAGTTL_MS);
  t.deepEqual(ipReassCounts(inet(l.a)), { queues: 0, fragments: 0 });
});
