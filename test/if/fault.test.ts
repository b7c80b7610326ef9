/*
 * The fault-injecting link (net/if/fault.ts), first on its own (a kernel,
 * an interface whose inner driver records what reaches it, frames handed
 * straight to transmit), then between two kernels with ICMP and UDP:
 *
 *     kernel A                                   kernel B
 *     link0 10.0.0.1/24 ──faultyLink(A→B)──► link0 10.0.0.2/24
 *                       ◄──faultyLink(B→A)──
 */
import test from 'ava';

import type { Kernel } from '../../kern/kernel.js';
import type { Mbuf } from '../../kern/mbuf.js';
import { AF_INET, SOCK_DGRAM, type Sockaddr } from '../../kern/sys.js';
import { FaultyLink, faultyLink, type FaultOptions } from '../../net/if/fault.js';
import { IFF_UP, IFT_ETHER, Ifnet, TAP_IN, type IfDriver } from '../../net/interface.js';
import { inet } from '../../net/inet/inet.js';
import { ICMP_ECHOREPLY } from '../../net/wire/icmp.js';
import { IpCheck, ipCheck, ipP } from '../../net/wire/ipv4.js';
import { UdpCheck, udpCheck, udpSetChecksum, udpWriteHeader } from '../../net/wire/udp.js';
import { bootKernels, haltAll, ip, ipPacket, sendEcho, type Kernels } from '../helpers/kernels.js';
import { connectKernels } from '../helpers/link.js';

/* ------------------------------------------------------------------------ */
/* The wrapper alone. */

interface Arrival {
  t: number;
  frame: Uint8Array;
}

/** An inner driver that records every frame with the virtual time it arrived. */
class Recorder implements IfDriver {
  readonly got: Arrival[] = [];
  inits = 0;
  stops = 0;
  detaches = 0;
  constructor(private readonly k: Kernel) {}
  transmit(_ifp: Ifnet, m: Mbuf): void {
    this.got.push({ t: this.k.host.now(), frame: m.buf.slice(m.off, m.off + m.len) });
    this.k.mbufs.free(m);
  }
  init(): number {
    this.inits++;
    return 0;
  }
  stop(): void {
    this.stops++;
  }
  detach(): void {
    this.detaches++;
  }
}

interface Bench extends Kernels {
  k: Kernel;
  ifp: Ifnet;
  rec: Recorder;
  link: FaultyLink;
}

function bench(opts: FaultOptions): Bench {
  const ks = bootKernels(1);
  const k = ks.kernels[0]!;
  const rec = new Recorder(k);
  const link = faultyLink(rec, opts);
  const ifp = new Ifnet(k, 'test0', 0, IFT_ETHER, link);
  ifp.flags = IFF_UP;
  return { ...ks, k, ifp, rec, link };
}

const ETHERTYPE_IP = 0x0800;
const ETHERTYPE_ARP = 0x0806;

/**
 * A frame of `len` bytes: Ethernet header with `type` and the index in the
 * last 4 bytes of the source MAC (where corruption never reaches), then
 * filler derived from the index.
 */
function frameBytes(index: number, len = 100, type = ETHERTYPE_IP): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xb2, 0, 12);
  new DataView(f.buffer).setUint32(8, index);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  for (let i = 14; i < len; i++) f[i] = (index * 31 + i) & 0xff;
  return f;
}

function indexOf(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset).getUint32(8);
}

function send(b: Bench, frame: Uint8Array): void {
  const m = b.k.mbufs.copyin(frame, 0, frame.length);
  if (!m) throw new Error('no memory');
  b.link.transmit(b.ifp, m);
}

/** Which of `n` frames (sent back to back) were lost, with these options. */
function lostSet(opts: FaultOptions, n: number): number[] {
  const b = bench(opts);
  for (let i = 0; i < n; i++) send(b, frameBytes(i));
  const arrived = new Set(b.rec.got.map((a) => indexOf(a.frame)));
  const lost: number[] = [];
  for (let i = 0; i < n; i++) if (!arrived.has(i)) lost.push(i);
  return lost;
}

test('a link with no faults passes frames straight through, in order, at once', (t) => {
  const b = bench({ seed: 1 });
  for (let i = 0; i < 5; i++) send(b, frameBytes(i));
  t.deepEqual(
    b.rec.got.map((a) => indexOf(a.frame)),
    [0, 1, 2, 3, 4],
  );
  t.deepEqual(
    b.rec.got.map((a) => a.t),
    [0, 0, 0, 0, 0],
  );
  t.is(b.link.stats.frames, 5);
  t.is(b.link.stats.delivered, 5);
  t.is(b.link.pending(), 0);
  t.is(b.k.mbufs.inUse, 0);
});

test('delay and jitter: each frame arrives delayMs to delayMs + jitterMs later, in the order sent', async (t) => {
  const b = bench({ seed: 3, delayMs: 10, jitterMs: 4 });
  const sentAt: number[] = [];
  for (let i = 0; i < 300; i++) {
    sentAt.push(b.sim.now());
    send(b, frameBytes(i));
    await b.sim.run(0.25);
  }
  await b.sim.run(20);
  t.is(b.rec.got.length, 300);
  const order = b.rec.got.map((a) => indexOf(a.frame));
  t.deepEqual(order, [...order].sort((x, y) => x - y), 'jitter never reorders');
  const lat = b.rec.got.map((a) => a.t - sentAt[indexOf(a.frame)]!);
  t.true(lat.every((l) => l >= 10 && l < 14), `latencies within [10, 14): ${Math.min(...lat)}..${Math.max(...lat)}`);
  t.true(Math.max(...lat) - Math.min(...lat) > 2, 'the jitter spreads them');
  t.is(b.link.pending(), 0);
  t.is(b.k.callouts.count, 0, 'the callout is idle once the link drained');
});

test('bandwidth: frames leave one serialisation time apart, and a full queue drops the tail', async (t) => {
  // 1250-byte frames at 10 Mbit/s take 1 ms each.
  const b = bench({ seed: 1, bandwidthBps: 10_000_000, queueLimit: 4, delayMs: 5 });
  for (let i = 0; i < 10; i++) send(b, frameBytes(i, 1250));
  t.is(b.link.stats.queueDrops, 6);
  t.is(b.link.stats.maxQueue, 4);
  await b.sim.run(2.5);
  // Two frames left the bottleneck by now: room for two more.
  send(b, frameBytes(10, 1250));
  send(b, frameBytes(11, 1250));
  send(b, frameBytes(12, 1250));
  t.is(b.link.stats.queueDrops, 7);
  await b.sim.run(20);
  t.deepEqual(
    b.rec.got.map((a) => [indexOf(a.frame), a.t]),
    [
      [0, 6],
      [1, 7],
      [2, 8],
      [3, 9],
      [10, 10],
      [11, 11],
    ],
  );
});

test('loss: the rate follows the probability and a seed loses the same frames every time', (t) => {
  const n = 10_000;
  const lost = lostSet({ seed: 42, loss: 0.1 }, n);
  // Binomial(10000, 0.1): mean 1000, sd 30.
  t.true(lost.length > 880 && lost.length < 1120, `lost ${lost.length}`);
  t.deepEqual(lostSet({ seed: 42, loss: 0.1 }, n), lost, 'same seed, same frames');
  t.notDeepEqual(lostSet({ seed: 43, loss: 0.1 }, n), lost, 'another seed, other frames');
  // Every frame draws the same numbers whatever is on: corruption and duplication change nothing here.
  t.deepEqual(lostSet({ seed: 42, loss: 0.1, corrupt: 0.3, duplicate: 0.2 }, n), lost);
  t.deepEqual(lostSet({ seed: 42, loss: 0 }, 100), []);
  t.is(lostSet({ seed: 42, loss: 1 }, 100).length, 100);
});

test('reordering: a held frame arrives reorderMs late and the frames behind it overtake it', async (t) => {
  const b = bench({ seed: 5, reorder: 0.2, reorderMs: 2 });
  const sentAt: number[] = [];
  for (let i = 0; i < 400; i++) {
    sentAt.push(b.sim.now());
    send(b, frameBytes(i));
    await b.sim.run(0.5);
  }
  await b.sim.run(10);
  const order = b.rec.got.map((a) => indexOf(a.frame));
  t.is(order.length, 400, 'nothing lost');
  t.deepEqual([...order].sort((x, y) => x - y), [...Array(400).keys()]);
  const late = b.rec.got.filter((a) => a.t - sentAt[indexOf(a.frame)]! === 2).length;
  t.is(late, b.link.stats.reordered);
  t.true(b.link.stats.reordered > 50 && b.link.stats.reordered < 110, `reordered ${b.link.stats.reordered}`);
  let inversions = 0;
  for (let i = 1; i < order.length; i++) if (order[i]! < order[i - 1]!) inversions++;
  t.true(inversions > 40, `inversions ${inversions}`);
});

test('duplication: a duplicated frame arrives twice, byte for byte', async (t) => {
  const b = bench({ seed: 9, duplicate: 0.25, delayMs: 1 });
  for (let i = 0; i < 400; i++) send(b, frameBytes(i));
  await b.sim.run(2);
  const st = b.link.stats;
  t.true(st.duplicated > 60 && st.duplicated < 140, `duplicated ${st.duplicated}`);
  t.is(b.rec.got.length, 400 + st.duplicated);
  t.is(st.delivered, 400 + st.duplicated);
  const seen = new Map<number, number>();
  for (const a of b.rec.got) {
    const i = indexOf(a.frame);
    seen.set(i, (seen.get(i) ?? 0) + 1);
    t.deepEqual(a.frame, frameBytes(i));
  }
  t.is([...seen.values()].filter((c) => c === 2).length, st.duplicated);
  t.is(b.k.mbufs.inUse, 0);
});

function popcount(x: number): number {
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

test('corruption flips exactly one bit after the Ethernet header of IPv4 frames and leaves ARP alone', (t) => {
  const b = bench({ seed: 11, corrupt: 0.5 });
  for (let i = 0; i < 400; i++) send(b, frameBytes(i, 60 + (i % 200), i % 4 === 3 ? ETHERTYPE_ARP : ETHERTYPE_IP));
  const st = b.link.stats;
  let flipped = 0;
  for (const a of b.rec.got) {
    const i = indexOf(a.frame);
    const want = frameBytes(i, 60 + (i % 200), i % 4 === 3 ? ETHERTYPE_ARP : ETHERTYPE_IP);
    let bits = 0;
    let firstAt = -1;
    for (let j = 0; j < want.length; j++) {
      const d = popcount(want[j]! ^ a.frame[j]!);
      if (d && firstAt < 0) firstAt = j;
      bits += d;
    }
    if (i % 4 === 3) t.is(bits, 0, 'ARP untouched');
    else if (bits) {
      t.is(bits, 1, `frame ${i}: one bit`);
      t.true(firstAt >= 14, 'never in the link header');
      flipped++;
    }
  }
  t.is(flipped, st.corrupted);
  t.true(st.corrupted > 100 && st.corrupted < 200, `corrupted ${st.corrupted}`);
  t.true(st.corruptSkipped > 30, `skipped ${st.corruptSkipped}`);
  t.is(b.rec.got.length, 400);
});

test('every corrupted UDP/IPv4 frame fails the IP header or the UDP checksum', (t) => {
  const b = bench({ seed: 12, corrupt: 1 });
  const src = ip('10.0.0.1');
  const dst = ip('10.0.0.2');
  for (let i = 0; i < 1000; i++) {
    const data = new Uint8Array(8 + (i % 300));
    data.fill(i & 0xff, 8);
    udpWriteHeader(data, 0, 4000 + i, 9, data.length);
    udpSetChecksum(data, 0, src, dst);
    const pkt = ipPacket({ src: '10.0.0.1', dst: '10.0.0.2', p: 17, payload: data, id: i });
    const f = new Uint8Array(14 + pkt.length);
    f[12] = 0x08;
    f.set(pkt, 14);
    send(b, f);
  }
  t.is(b.link.stats.corrupted, 1000);
  let caught = 0;
  for (const a of b.rec.got) {
    const f = a.frame;
    const ipOk = ipCheck(f, 14, f.length - 14) === IpCheck.Ok;
    if (!ipOk || ipP(f, 14) !== 17) {
      caught++;
      continue;
    }
    const hl = (f[14]! & 0x0f) << 2;
    const s = new DataView(f.buffer, f.byteOffset);
    if (udpCheck(f, 14 + hl, f.length - 14 - hl, s.getUint32(26), s.getUint32(30)) !== UdpCheck.Ok) caught++;
  }
  t.is(caught, 1000);
});

test('frames queued when the interface goes down, detaches or the kernel halts are freed', async (t) => {
  const b = bench({ seed: 1, delayMs: 100, reorder: 0.5, bandwidthBps: 1e6 });
  for (let i = 0; i < 20; i++) send(b, frameBytes(i));
  t.is(b.link.pending(), 20);
  t.is(b.k.mbufs.inUse, 20);
  b.link.stop(b.ifp);
  t.is(b.rec.stops, 1, 'the inner driver is stopped too');
  t.is(b.link.pending(), 0);
  t.is(b.k.mbufs.inUse, 0);
  t.is(b.link.stats.flushed, 20);
  t.is(b.k.callouts.count, 0);
  for (let i = 0; i < 5; i++) send(b, frameBytes(i));
  b.link.detach(b.ifp);
  t.is(b.rec.detaches, 1);
  t.is(b.k.mbufs.inUse, 0);
  for (let i = 0; i < 5; i++) send(b, frameBytes(i));
  await b.sim.run(1);
  // Halt with frames still queued: halt itself must free them (counted after it on purpose).
  await b.k.halt();
  t.deepEqual({ mbufsInUse: [b.k.mbufs.inUse], callouts: [b.k.callouts.count] }, { mbufsInUse: [0], callouts: [0] });
  t.is(b.rec.got.length, 0);
});

test('bad options are refused with a RangeError; ioctl is there exactly when the inner driver has one', (t) => {
  const k = bootKernels(1).kernels[0]!;
  const rec = new Recorder(k);
  for (const bad of [
    { seed: 1, loss: 1.5 },
    { seed: 1, loss: -0.1 },
    { seed: 1, corrupt: Number.NaN },
    { seed: 1, delayMs: -1 },
    { seed: 1, jitterMs: Infinity },
    { seed: 1, queueLimit: 0 },
    { seed: 1, queueLimit: 2.5 },
    { seed: 1.5 },
  ]) {
    t.throws(() => faultyLink(rec, bad as FaultOptions), { instanceOf: RangeError }, JSON.stringify(bad));
  }
  t.is(faultyLink(rec, { seed: 1 }).ioctl, undefined);
  const withIoctl: IfDriver = { ...rec, transmit: rec.transmit, init: () => 0, stop: () => {}, detach: () => {}, ioctl: (_i, cmd) => `inner ${cmd}` };
  const l = faultyLink(withIoctl, { seed: 1 });
  t.is(l.ioctl?.(new Ifnet(k, 'x0', 0, IFT_ETHER, l), 'SIOCSLINKSTR', {}), 'inner SIOCSLINKSTR');
  t.is(faultyLink(rec, { seed: 1 }).init(new Ifnet(k, 'x1', 1, IFT_ETHER, rec)), 0);
  t.is(rec.inits, 1);
});

test('configure changes the faults for the next frame: queued frames keep their times; a bad value changes nothing', async (t) => {
  const b = bench({ seed: 5, delayMs: 10 });
  send(b, frameBytes(0));
  b.link.configure({ delayMs: 1, loss: 0 });
  send(b, frameBytes(1));
  await b.sim.run(20);
  // Frames keep their order: the second waits behind the first (jitter never reorders, nor does a change).
  t.deepEqual(b.rec.got.map((a) => [indexOf(a.frame), a.t]), [[0, 10], [1, 10]]);
  b.link.configure({ loss: 1 });
  send(b, frameBytes(2));
  t.is(b.link.stats.lost, 1);
  t.throws(() => b.link.configure({ loss: 0, delayMs: -5 }), { instanceOf: RangeError, message: /delayMs/ });
  t.is(b.link.loss, 1, 'a rejected configure leaves every value as it was');
  t.is(b.link.delayMs, 0);
  b.link.configure({});
  send(b, frameBytes(3));
  t.is(b.rec.got.length, 3, 'defaults again: straight through');
  t.is(b.k.mbufs.inUse, 0);
});

/* ------------------------------------------------------------------------ */
/* Two kernels joined by connectKernels. */

test('ping across a link with 10 ms one way and 30 ms back: 40 ms a round trip, twice that with ARP first', async (t) => {
  const ks = bootKernels(2, 3);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const link = connectKernels(ks.sim, a, b, { seed: 1, delayMs: 10 }, { seed: 2, delayMs: 30 }, { addrA: '10.0.0.1/24', addrB: '10.0.0.2/24' });
  await ks.sim.run(100); // the gratuitous ARP announcements cross (they do not create entries)
  const replies: number[] = [];
  link.a.taps.push((_ifp, dir, buf, off) => {
    if (dir === TAP_IN && buf[off + 12] === 0x08 && buf[off + 23] === 1 && buf[off + 34] === ICMP_ECHOREPLY) replies.push(ks.sim.now());
  });
  const sent: number[] = [];
  for (let seq = 1; seq <= 3; seq++) {
    sent.push(ks.sim.now());
    t.is(sendEcho(a, '10.0.0.2', { seq }), 0);
    await ks.sim.run(100);
  }
  t.deepEqual(
    replies.map((r, i) => r - sent[i]!),
    [80, 40, 40],
    'the first echo waits for ARP (request and reply), then one round trip each',
  );
  t.is(inet(b).icmpstat.outhist[ICMP_ECHOREPLY], 3);
  t.is(link.ab.stats.delivered, link.framesAB);
  t.is(link.ba.stats.delivered, link.framesBA);
  t.deepEqual(await haltAll(ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

const sin = (addr: string, port: number): Sockaddr => ({ family: AF_INET, addr, port });

/** Datagram `i`: its number, then bytes derived from it, `len` long. */
function datagram(i: number, len: number): Uint8Array {
  const d = new Uint8Array(len);
  new DataView(d.buffer).setUint32(0, i);
  let x = (i * 2654435761) >>> 0 || 1;
  for (let j = 4; j < len; j++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    d[j] = x;
  }
  return d;
}

interface UdpRun {
  /** Datagram numbers in the order B received them. */
  received: number[];
  /** Received datagrams whose bytes differ from what was sent. */
  damaged: number;
  trace: string;
  ab: FaultyLink;
  /** B's drops by checksum and header checks (IP and UDP). */
  caught: number;
  leaks: { mbufsInUse: number[]; callouts: number[] };
}

/** A sends `n` datagrams of `len` bytes to B over a link with `ab` faults, paced `gapMs` apart. */
async function udpRun(seed: number, ab: FaultOptions, n: number, len: number, gapMs: number): Promise<UdpRun> {
  const ks = bootKernels(2, seed);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const link = connectKernels(ks.sim, a, b, ab, { seed: seed + 1, delayMs: ab.delayMs ?? 0 }, { addrA: '10.0.0.1/24', addrB: '10.0.0.2/24' });
  const rfd = await b.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await b.sys.bind(rfd, sin('0.0.0.0', 9));
  const received: number[] = [];
  let damaged = 0;
  let stop = false;
  const reader = (async () => {
    while (!stop) {
      const r = await b.sys.recvfrom(rfd, 65536).catch(() => null);
      if (r === null || r.data.length < 4) return;
      const i = new DataView(r.data.buffer, r.data.byteOffset).getUint32(0);
      received.push(i);
      const want = datagram(i, len);
      if (r.data.length !== len || !want.every((v, j) => v === r.data[j])) damaged++;
    }
  })();
  const sfd = await a.sys.socket(AF_INET, SOCK_DGRAM, 0);
  for (let i = 0; i < n; i++) {
    await a.sys.sendto(sfd, datagram(i, len), 0, sin('10.0.0.2', 9));
    await ks.sim.run(gapMs);
  }
  await ks.sim.run(1000);
  stop = true;
  const ipst = inet(b).ipstat;
  const udpst = inet(b).udpstat;
  const caught = ipst.badsum + ipst.badhlen + ipst.badlen + ipst.tooshort + ipst.toosmall + ipst.badvers + udpst.badsum + udpst.badlen + udpst.hdrops;
  await b.sys.close(rfd);
  await a.sys.close(sfd);
  await reader;
  const trace = link.traceHash();
  const leaks = await haltAll(ks);
  return { received, damaged, trace, ab: link.ab, caught, leaks };
}

test('UDP over a corrupting link: every corrupted datagram is dropped by a checksum, the rest arrive intact', async (t) => {
  const r = await udpRun(21, { seed: 21, corrupt: 0.05 }, 1500, 512, 0.2);
  const st = r.ab.stats;
  t.true(st.corrupted > 40, `corrupted ${st.corrupted}`);
  t.is(r.damaged, 0, 'no damaged datagram reached the socket');
  t.is(r.caught, st.corrupted, 'IP and UDP input counted each one');
  t.is(r.received.length, 1500 - st.corrupted);
  t.deepEqual(r.leaks, { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('UDP over every fault at once: intact, and the same seed gives the same packets', async (t) => {
  const faults = (seed: number): FaultOptions => ({
    seed,
    loss: 0.05,
    reorder: 0.05,
    duplicate: 0.05,
    corrupt: 0.02,
    delayMs: 5,
    jitterMs: 1,
    bandwidthBps: 20_000_000,
    queueLimit: 20,
  });
  // 1042-byte frames at 20 Mbit/s take 0.42 ms: sent 0.5 ms apart, the queue rarely fills.
  const r1 = await udpRun(7, faults(7), 800, 1000, 0.5);
  const st = r1.ab.stats;
  t.is(r1.damaged, 0);
  t.true(st.lost > 0 && st.reordered > 0 && st.duplicated > 0 && st.corrupted > 0, JSON.stringify(st));
  const distinct = new Set(r1.received);
  // About 800 × 0.95 (loss) × 0.98 (corruption) = 745.
  t.true(distinct.size < 790 && distinct.size > 700, `distinct ${distinct.size}`);
  t.true(r1.received.length > distinct.size, 'duplicates arrived');
  let inversions = 0;
  for (let i = 1; i < r1.received.length; i++) if (r1.received[i]! < r1.received[i - 1]!) inversions++;
  t.true(inversions > 0, 'reordered datagrams arrived out of order');
  t.deepEqual(r1.leaks, { mbufsInUse: [0, 0], callouts: [0, 0] });

  const r2 = await udpRun(7, faults(7), 800, 1000, 0.5);
  t.is(r2.trace, r1.trace, 'same seed, same packet trace');
  t.deepEqual(r2.received, r1.received);
  const r3 = await udpRun(7, faults(8), 800, 1000, 0.5);
  t.not(r3.trace, r1.trace, 'another fault seed, another trace');
});

test('a bandwidth limit paces a burst and its queue drops what does not fit', async (t) => {
  // 100 datagrams of 1000 bytes at once onto 8 Mbit/s with room for 10: ~1 ms each.
  const r = await udpRun(5, { seed: 5, bandwidthBps: 8_000_000, queueLimit: 10 }, 100, 1000, 0);
  const st = r.ab.stats;
  t.true(st.queueDrops > 50, `queue drops ${st.queueDrops}`);
  t.is(st.maxQueue, 10);
  t.is(r.received.length, 100 - st.queueDrops);
  t.deepEqual(r.received, [...r.received].sort((x, y) => x - y), 'a FIFO keeps order');
  t.is(r.damaged, 0);
});
