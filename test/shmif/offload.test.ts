/*
 * The shmif driver's software offloads: TCP segmentation on the way out
 * (TCP hands over up to 64 KB, the driver cuts bus frames) and receive
 * coalescing on the way in (consecutive segments of a connection go up to
 * TCP as one packet). Neither may change what is on the bus: frames of at
 * most 1514 bytes with correct checksums, which a NetBSD reader takes.
 *
 *     A 192.0.2.1 ── shmif0 ══ bus1 (sim host memory) ══ shmif0 ── B 192.0.2.2
 */
import test from 'ava';
import { rumpInit, createSimHost, AF_INET, SOCK_STREAM, SHUT_WR, type RumpKernel, type SimHost } from '../../index.js';
import { netstack } from '../../net/netstack.js';
import { inet } from '../../net/inet/inet.js';
import { IFCAP_LRO, IFCAP_TSOv4 } from '../../net/interface.js';
import { shmifSoftc, type ShmifSoftc } from '../../shmif/if_shmem.js';
import { dumpBus } from '../../shmif/dumpbus.js';
import { BusWriter, MAX_FRAME } from '../../shmif/bus.js';
import { readPcap } from '../../net/wire/pcap.js';
import { cksumAdd, cksumFinish, inCksum, pseudoHeaderSum } from '../../net/wire/cksum.js';
import { etherWriteHeader } from '../../net/wire/ether.js';
import { ipWriteHeader } from '../../net/wire/ipv4.js';
import { TH_ACK, TH_PUSH, tcpSetChecksum, tcpWriteHeader } from '../../net/wire/tcp.js';
import { fixChecksums } from '../../fuzz/engine.js';

const COMPONENTS = ['net', 'net_net', 'net_netinet', 'net_shmif'];

async function host(sim: SimHost, addr: string): Promise<RumpKernel> {
  const k = await rumpInit({ components: COMPONENTS, host: sim });
  await k.netconfig.ifcreate('shmif0');
  await k.netconfig.ifsetlinkstr('shmif0', 'bus1');
  await k.netconfig.ipv4IfaddrCidr('shmif0', addr, 24);
  return k;
}

const softc = (k: RumpKernel): ShmifSoftc => shmifSoftc(netstack(k).ifs.unit('shmif0'))!;

function setCaps(k: RumpKernel, capenable: number): void {
  netstack(k).ifs.unit('shmif0').capenable = capenable;
}

async function drive<T>(sim: SimHost, p: Promise<T>, maxMs = 60_000): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  p.then((v) => { done = true; value = v; }, (e) => { done = true; error = e; });
  await sim.runUntil(() => done, maxMs);
  if (!done) throw new Error('did not finish in virtual time');
  if (error) throw error;
  return value as T;
}

/** A pattern no two nearby segments share, so a misplaced byte shows. */
function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >>> 8) * 13) & 0xff;
  return b;
}

/** A sends `data` to B over TCP (sys calls, 64 KiB writes); B's bytes come back. */
async function transfer(sim: SimHost, a: RumpKernel, b: RumpKernel, data: Uint8Array): Promise<Uint8Array> {
  const lfd = await b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await b.sys.bind(lfd, { family: AF_INET, addr: '0.0.0.0', port: 5001 });
  await b.sys.listen(lfd, 1);
  const server = (async () => {
    const { fd } = await b.sys.accept(lfd);
    const parts: Uint8Array[] = [];
    for (;;) {
      const d = await b.sys.read(fd, 65536);
      if (d.length === 0) break;
      parts.push(d.slice());
    }
    await b.sys.close(fd);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  })();
  const client = (async () => {
    const fd = await a.sys.socket(AF_INET, SOCK_STREAM, 0);
    await a.sys.connect(fd, { family: AF_INET, addr: '192.0.2.2', port: 5001 });
    for (let off = 0; off < data.length; ) off += await a.sys.write(fd, data.subarray(off, Math.min(off + 65536, data.length)));
    await a.sys.shutdown(fd, SHUT_WR);
    await a.sys.close(fd);
  })();
  await drive(sim, client);
  const got = await drive(sim, server);
  await b.sys.close(lfd);
  return got;
}

/** Every frame on the bus: its length, and for TCP/IPv4 whether both checksums verify, the sequence number, length and flags. */
function busFrames(sim: SimHost) {
  const { pcap } = dumpBus(sim.files.get('bus1')!, {});
  return readPcap(pcap).records.map((r) => {
    const f = r.data;
    const tcp = f.length >= 54 && f[12] === 0x08 && f[13] === 0x00 && f[14 + 9] === 6;
    if (!tcp) return { len: f.length, tcp: false as const };
    const ihl = (f[14]! & 15) * 4;
    const tl = (f[16]! << 8) | f[17]!;
    const th = 14 + ihl;
    const src = ((f[26]! << 24) | (f[27]! << 16) | (f[28]! << 8) | f[29]!) >>> 0;
    const dst = ((f[30]! << 24) | (f[31]! << 16) | (f[32]! << 8) | f[33]!) >>> 0;
    const ipOk = inCksum(f, 14, ihl) === 0;
    const tcpOk = cksumFinish(cksumAdd(pseudoHeaderSum(src, dst, 6, tl - ihl), f, th, tl - ihl)) === 0;
    const thl = (f[th + 12]! >>> 4) * 4;
    const seq = ((f[th + 4]! << 24) | (f[th + 5]! << 16) | (f[th + 6]! << 8) | f[th + 7]!) >>> 0;
    return { len: f.length, tcp: true as const, ipOk, tcpOk, src, seq, dlen: tl - ihl - thl, flags: f[th + 13]!, id: (f[18]! << 8) | f[19]! };
  });
}

test('TSO: TCP hands the driver up to 64 KB, the bus carries frames of at most 1514 bytes that verify, and the data arrives whole', async (t) => {
  const sim = createSimHost({ seed: 21 });
  const a = await host(sim, '192.0.2.1');
  const b = await host(sim, '192.0.2.2');
  setCaps(b, 0); // B's own coalescing is not under test here
  const data = pattern(300_000);
  const got = await transfer(sim, a, b, data);
  t.deepEqual(got, data);
  t.true(softc(a).stats.txtso > 0, 'the sender cut packets larger than the MTU');
  t.is(softc(a).stats.txrefused, 0);
  const frames = busFrames(sim);
  t.true(frames.length > 200);
  t.true(frames.every((f) => f.len <= MAX_FRAME));
  const fromA = frames.filter((f): f is Extract<typeof f, { tcp: true }> => f.tcp && f.src === 0xc0000201 && f.dlen > 0);
  t.true(fromA.length > 100);
  t.true(fromA.every((f) => f.ipOk && f.tcpOk), 'every cut segment carries right IP and TCP checksums');
  t.true(fromA.every((f) => f.dlen <= 1460));
  // In order and back to back, as TCP sent them (nothing was lost).
  for (let i = 1; i < fromA.length; i++) t.is(fromA[i]!.seq, (fromA[i - 1]!.seq + fromA[i - 1]!.dlen) >>> 0);
  // Each segment its own IP ID; PSH only where a send ended, never mid-packet on every frame.
  t.is(new Set(fromA.map((f) => f.id)).size, fromA.length);
  t.true(fromA.filter((f) => f.flags & TH_PUSH).length < fromA.length / 4);
  await Promise.all([a.halt(), b.halt()]);
});

test('with -tso4 the sender sends MTU-sized segments itself, and the bus looks the same', async (t) => {
  const sim = createSimHost({ seed: 22 });
  const a = await host(sim, '192.0.2.1');
  const b = await host(sim, '192.0.2.2');
  setCaps(a, IFCAP_LRO);
  setCaps(b, 0);
  const data = pattern(200_000);
  t.deepEqual(await transfer(sim, a, b, data), data);
  t.is(softc(a).stats.txtso, 0);
  const fromA = busFrames(sim).filter((f) => f.tcp && f.src === 0xc0000201);
  t.true(fromA.every((f) => f.tcp && f.ipOk && f.tcpOk && f.len <= MAX_FRAME));
  await Promise.all([a.halt(), b.halt()]);
});

test('LRO: consecutive segments go up to TCP as one packet; the data arrives whole; -lro turns it off', async (t) => {
  for (const lro of [true, false]) {
    const sim = createSimHost({ seed: 23 });
    const a = await host(sim, '192.0.2.1');
    const b = await host(sim, '192.0.2.2');
    if (!lro) setCaps(b, IFCAP_TSOv4);
    const data = pattern(400_000);
    t.deepEqual(await transfer(sim, a, b, data), data);
    const st = inet(b).tcpstat;
    const frames = Math.ceil(data.length / 1448);
    if (lro) {
      t.true(softc(b).stats.rxlro > frames / 2, `most segments were merged (${softc(b).stats.rxlro} of about ${frames})`);
      t.true(st.rcvpack < frames / 2, `TCP input saw ${st.rcvpack} data packets for about ${frames} segments`);
    } else {
      t.is(softc(b).stats.rxlro, 0);
      t.true(st.rcvpack >= frames);
    }
    t.is(st.rcvbadsum, 0);
    await Promise.all([a.halt(), b.halt()]);
  }
});

/*
 * Frames written onto the bus by hand, to B's MAC and address, for a port
 * nobody listens on: TCP input answers each packet it gets with a reset,
 * so the count of resets and of bad sums says what LRO passed up.
 */
async function injected(build: (seg: (seq: number, opts?: { badSum?: boolean; sport?: number; flags?: number }) => Uint8Array) => Uint8Array[], router = false) {
  const sim = createSimHost({ seed: 24 });
  const b = await host(sim, '192.0.2.2');
  if (router) inet(b).forwarding = 1;
  await sim.run(10);
  const ifp = netstack(b).ifs.unit('shmif0');
  const mac = ifp.lladdr!;
  const src = 0xc0000209;
  const dst = 0xc0000202;
  const seg = (seq: number, o: { badSum?: boolean; sport?: number; flags?: number } = {}): Uint8Array => {
    const n = 1000;
    const f = new Uint8Array(14 + 20 + 20 + n);
    etherWriteHeader(f, 0, mac, 0, new Uint8Array([0xb2, 0xa0, 1, 2, 3, 4]), 0, 0x0800);
    ipWriteHeader(f, 14, 0, 20 + 20 + n, seq & 0xffff, 0, 64, 6, src, dst);
    tcpWriteHeader(f, 34, o.sport ?? 40000, 9, seq, 1, 20, o.flags ?? TH_ACK, 1000, 0);
    for (let i = 0; i < n; i++) f[54 + i] = i;
    tcpSetChecksum(f, 34, 20 + n, src, dst);
    if (o.badSum) f[60] = f[60]! ^ 0xff;
    return f;
  };
  const w = new BusWriter(sim.mapBus('bus1', 1 << 20), 0x1234, 0x5678);
  for (const f of build(seg)) t0(w.writeFrame(f, 0, f.length, 0, 0));
  w.map.wakeup();
  await sim.run(10);
  return { rxlro: softc(b).stats.rxlro, st: inet(b).tcpstat, halt: () => b.halt() };
}

function t0(ok: boolean): void {
  if (!ok) throw new Error('frame refused');
}

test('LRO takes only in-order segments of one connection with right checksums; the rest go up as they came', async (t) => {
  const good = await injected((seg) => [seg(1000), seg(2000), seg(3000)]);
  t.is(good.rxlro, 2, 'three back-to-back segments make one packet');
  t.is(good.st.rcvtotal, 1);
  t.is(good.st.rcvbadsum, 0);
  await good.halt();

  const bad = await injected((seg) => [seg(1000), seg(2000, { badSum: true }), seg(3000)]);
  t.is(bad.rxlro, 0, 'a segment whose sum is wrong joins nothing, and breaks the run');
  t.is(bad.st.rcvbadsum, 1, 'TCP input still finds and counts it');
  t.is(bad.st.rcvtotal, 3);
  await bad.halt();

  const routed = await injected((seg) => [seg(1000), seg(2000), seg(3000)], true);
  t.is(routed.rxlro, 0, 'a router (net.inet.ip.forwarding=1) merges nothing: what it forwards leaves as it came');
  t.is(routed.st.rcvtotal, 3);
  await routed.halt();

  // A whole TSO packet of ours is 45 segments of 1,448 bytes (below 65,535
  // bytes of IP): it must go up as one packet, so the receiver ACKs it once.
  const whole = await injected((seg) => Array.from({ length: 45 }, (_, i) => seg(1000 + 1000 * i)));
  t.is(whole.rxlro, 44, 'forty-five back-to-back segments make one packet');
  t.is(whole.st.rcvtotal, 1);
  await whole.halt();

  const mixed = await injected((seg) => [seg(1000), seg(5000), seg(6000, { sport: 40001 }), seg(7000, { sport: 40001, flags: TH_ACK | 0x01 })]);
  t.is(mixed.rxlro, 0, 'a gap, another connection, a FIN: nothing merges');
  t.is(mixed.st.rcvtotal, 4);
  await mixed.halt();
});

test('LRO under a storm of mutated segments whose checksums are made right: nothing throws, nothing leaks', async (t) => {
  const sim = createSimHost({ seed: 25 });
  const a = await host(sim, '192.0.2.1');
  const b = await host(sim, '192.0.2.2');
  // A real connection, so mutated copies of its segments reach LRO's merging and TCP input.
  const data = pattern(150_000);
  t.deepEqual(await transfer(sim, a, b, data), data);
  const corpus = readPcap(dumpBus(sim.files.get('bus1')!, {}).pcap).records.map((r) => r.data.slice()).filter((f) => f.length > 100);
  t.true(corpus.length > 50);
  const w = new BusWriter(sim.mapBus('bus1', 1 << 20), 0xabc, 0xdef);
  let x = 12345;
  const rnd = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  const before = softc(b).stats.rxlro;
  for (let burst = 0; burst < 200; burst++) {
    const start = rnd(corpus.length);
    for (let i = 0; i < 30; i++) {
      const f = corpus[(start + i) % corpus.length]!.slice();
      // A few header bytes changed (lengths, flags, offsets, options, ports, sequence numbers), sometimes none.
      for (let j = rnd(4); j > 0; j--) f[14 + rnd(60)] = rnd(256);
      const len = rnd(8) === 0 ? 14 + rnd(f.length - 14) : f.length;
      fixChecksums(f.subarray(0, len));
      t0(w.writeFrame(f, 0, len, 0, 0));
    }
    w.map.wakeup();
    await sim.run(1);
  }
  await sim.run(1000);
  t.true(softc(b).stats.rxlro > before, 'mutated segments were merged too');
  await Promise.all([a.halt(), b.halt()]);
  t.is(b.mbufs.inUse, 0, 'every packet buffer LRO took came back');
});
