/*
 * The bus format, writer and reader, on an in-memory mapping.
 *
 *   writer A ──┐                       ┌── reader (own sender = A: hears only B)
 *              ├── 1 MiB ring (bus) ───┤
 *   writer B ──┘                       └── dumpBus (snapshot, no lock)
 *
 * Frames of 1442 bytes make 1466-byte records; the first lands at data
 * offset 24 (after the all-zero record of a fresh bus), so record k starts at
 * 24 + 1466 k and record 715 is the first to run past the end of the ring
 * (DATASIZE = 1048544).
 */

import test from 'ava';

import {
  BUS_OFF_FIRST,
  BUS_OFF_GEN,
  BUS_OFF_LAST,
  BUS_OFF_LOCK,
  BUS_OFF_MAGIC,
  BUS_OFF_VERSION,
  BUS_SIZE,
  BusHeaderView,
  BusReader,
  BusWriter,
  DATASIZE,
  HDR_SIZE,
  HOST_LITTLE_ENDIAN,
  MAX_FRAME,
  PKTHDR_SIZE,
  SHMIF_MAGIC,
  bswap32,
  busAttach,
  busLock,
  busUnlock,
  busWakeup,
  getU32,
  putU32,
  ringGetU32,
} from '../../shmif/bus.js';
import { dumpBus } from '../../shmif/dumpbus.js';
import { readPcap } from '../../net/wire/pcap.js';
import { MemBusMapping, Prng, collector, fixture, makeFrame } from './membus.js';

const LE = HOST_LITTLE_ENDIAN;
const REC = PKTHDR_SIZE + 1442;

function u32(b: Uint8Array, off: number): number {
  return getU32(b, off, LE);
}

function freshBus(): MemBusMapping {
  const map = new MemBusMapping();
  busAttach(map);
  return map;
}

function header(map: MemBusMapping) {
  const h = new BusHeaderView(map.bytes);
  return { magic: h.magic, version: h.version, gen: h.gen, first: h.first, last: h.last, lock: h.lock };
}

/** Write `count` frames of `len` bytes, numbered from `seq0`, stamped sec = seq. */
function writeMany(w: BusWriter, count: number, len: number, seq0 = 0): void {
  for (let i = 0; i < count; i++) {
    const f = makeFrame(len, seq0 + i);
    if (!w.writeFrame(f, 0, len, seq0 + i, 0)) throw new Error(`frame ${seq0 + i} refused`);
  }
  busWakeup(w.map);
}

function seqOf(frame: Uint8Array): number {
  return ((frame[8]! << 24) | (frame[9]! << 16) | (frame[10]! << 8) | frame[11]!) >>> 0;
}

test('attach initialises a fresh bus the way NetBSD does', (t) => {
  const map = freshBus();
  t.deepEqual(header(map), { magic: SHMIF_MAGIC, version: 0, gen: 0, first: DATASIZE, last: 0, lock: 0 });
  // The all-zero record at data offset 0.
  t.true(map.bytes.subarray(HDR_SIZE, HDR_SIZE + PKTHDR_SIZE).every((x) => x === 0));
  t.is(map.wakeups, 0);
});

test('attach leaves an existing bus alone', (t) => {
  const bytes = fixture('bus-wrapped');
  const before = bytes.slice();
  busAttach(new MemBusMapping(bytes));
  t.true(Buffer.from(bytes).equals(Buffer.from(before)));
});

test('attach refuses what is not a bus: ENOEXEC "bus is not magical"', (t) => {
  const map = new MemBusMapping();
  putU32(map.bytes, BUS_OFF_MAGIC, 0x12345678, LE);
  const err = t.throws(() => busAttach(map)) as Error & { code: string; errno: number };
  t.is(err.code, 'ENOEXEC');
  t.is(err.errno, 8);
  t.is(err.message, 'bus is not magical');

  // A bus of the other byte order is refused too (only dumpbus reads those).
  putU32(map.bytes, BUS_OFF_MAGIC, bswap32(SHMIF_MAGIC), LE);
  const swapped = t.throws(() => busAttach(map)) as Error & { code: string };
  t.is(swapped.code, 'ENOEXEC');
  t.regex(swapped.message, /^bus is not magical/);
  t.is(u32(map.bytes, BUS_OFF_LOCK), 0);

  const short = t.throws(() => busAttach(new MemBusMapping(new Uint8Array(4096)))) as Error & { code: string };
  t.is(short.code, 'EINVAL');
});

test('records land where the layout says, byte for byte', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 0x11223344, 0x55667788);
  const f1 = makeFrame(42, 1);
  const f2 = makeFrame(60, 2);
  t.true(w.writeFrame(f1, 0, 42, 5, 123456));
  t.true(w.writeFrame(f2, 0, 60, 6, 7));
  t.is(map.wakeups, 0, 'the writer never wakes by itself');
  busWakeup(map);
  t.is(map.wakeups, 1);

  const b = map.bytes;
  const r1 = 24; // data offset of record 1: after the zero record
  const r2 = r1 + PKTHDR_SIZE + 42;
  t.deepEqual(header(map), { magic: SHMIF_MAGIC, version: 3, gen: 0, first: DATASIZE, last: r2, lock: 0 });
  t.is(u32(b, BUS_OFF_VERSION), 3);
  t.is(u32(b, BUS_OFF_GEN) + u32(b, BUS_OFF_GEN + 4), 0);
  t.is(u32(b, BUS_OFF_FIRST), 0xfffe0);
  t.is(u32(b, BUS_OFF_LAST), 0x5a);

  // Record 1 header at file offset 0x38: len, sec, usec, pad, sender (u64).
  const p1 = HDR_SIZE + r1;
  t.is(p1, 0x38);
  t.deepEqual([u32(b, p1), u32(b, p1 + 4), u32(b, p1 + 8), u32(b, p1 + 12)], [42, 5, 123456, 0]);
  t.deepEqual([u32(b, p1 + 16), u32(b, p1 + 20)], LE ? [0x11223344, 0x55667788] : [0x55667788, 0x11223344]);
  // Frame bytes at data offset 0x30, file offset 0x50.
  t.true(Buffer.from(b.subarray(0x50, 0x50 + 42)).equals(Buffer.from(f1)));
  const p2 = HDR_SIZE + r2;
  t.deepEqual([u32(b, p2), u32(b, p2 + 4), u32(b, p2 + 8)], [60, 6, 7]);
  t.true(Buffer.from(b.subarray(p2 + 24, p2 + 24 + 60)).equals(Buffer.from(f2)));
  // Nothing written past the second frame.
  t.true(b.subarray(p2 + 24 + 60).every((x) => x === 0));

  t.is(
    dumpBus(b).text,
    'bus version 3, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x005a\n' +
      'packet 0, offset 0x0030, length 0x002a, ts 5/123456\n' +
      'packet 1, offset 0x0072, length 0x003c, ts 6/000007\n',
  );
});

test("NetBSD's bus-small, rewritten by our writer from its frames, is the same file", (t) => {
  const netbsd = fixture('bus-small');
  const frames = readPcap(fixture('bus-small.pcap')).records;
  const map = freshBus();
  const writers = new Map<string, BusWriter>();
  // Walk NetBSD's records for each frame's sender id, and clear the 4
  // padding bytes NetBSD leaves uninitialised (kernel stack garbage).
  let off = 24;
  for (const r of frames) {
    const p = HDR_SIZE + off;
    const lo = u32(netbsd, p + 16);
    const hi = u32(netbsd, p + 20);
    netbsd.fill(0, p + 12, p + 16);
    const key = `${lo}:${hi}`;
    if (!writers.has(key)) writers.set(key, new BusWriter(map, lo, hi));
    t.true(writers.get(key)!.writeFrame(r.data, 0, r.len, r.sec, r.usec));
    off += PKTHDR_SIZE + r.len;
  }
  busWakeup(map);
  t.is(writers.size, 2);
  t.true(Buffer.from(map.bytes).equals(Buffer.from(netbsd)));
});

test('frames longer than 1514 bytes are refused and counted; 1514 goes through', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const big = new Uint8Array(2000);
  t.false(w.writeFrame(big, 0, MAX_FRAME + 1, 0, 0));
  t.is(w.tooLong, 1);
  t.is(header(map).last, 0, 'nothing written');
  t.true(w.writeFrame(big, 0, MAX_FRAME, 0, 0));
  t.is(w.frames, 1);
  t.throws(() => w.writeFrame(big, 1000, 1500, 0, 0), { instanceOf: RangeError });
  t.is(u32(map.bytes, BUS_OFF_LOCK), 0, 'lock released after the throw');
});

test('a ring word read across the end of the ring takes its last bytes from data offset 0, in either byte order', (t) => {
  const b = new Uint8Array(BUS_SIZE);
  // Bytes 1..4 at the last data offsets and then at the first ones, so a
  // word at every position across the end reads 1, 2, 3, 4 in order.
  b.set([1, 2, 3], BUS_SIZE - 3);
  b.set([4, 5, 6], HDR_SIZE);
  for (const at of [DATASIZE - 3, 2 * DATASIZE - 3]) {
    t.is(ringGetU32(b, at, true), 0x04030201, `little-endian at ${at}`);
    t.is(ringGetU32(b, at, false), 0x01020304, `big-endian at ${at}`);
  }
  t.is(ringGetU32(b, DATASIZE - 2, false), 0x02030405);
  t.is(ringGetU32(b, DATASIZE - 1, false), 0x03040506);
  t.is(ringGetU32(b, DATASIZE, false), 0x04050600, 'at the end: data offset 0');
  t.is(ringGetU32(b, DATASIZE - 4, false), 0x00010203, 'the last whole word');
});

test('wrapping: gen increments, first advances, the split record reads back intact', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  writeMany(w, 715, 1442);
  t.deepEqual(header(map), {
    magic: SHMIF_MAGIC, version: 3, gen: 0, first: DATASIZE, last: 24 + 714 * REC, lock: 0,
  });

  // Record 715 starts 330 bytes before the end: header and 306 frame bytes
  // there, the other 1136 at data offset 0.
  writeMany(w, 1, 1442, 715);
  const at = 24 + 715 * REC;
  t.is(DATASIZE - at, 330);
  const h = header(map);
  t.is(h.gen, 1);
  t.is(h.last, at);
  // The zero record and record 0 were overwritten: first is record 1.
  t.is(h.first, 24 + REC);

  const b = map.bytes;
  const want = makeFrame(1442, 715);
  t.true(Buffer.from(b.subarray(HDR_SIZE + at + 24, HDR_SIZE + DATASIZE)).equals(Buffer.from(want.subarray(0, 306))));
  t.true(Buffer.from(b.subarray(HDR_SIZE, HDR_SIZE + 1136)).equals(Buffer.from(want.subarray(306))));

  const dump = dumpBus(b);
  t.is(dump.packets, 715);
  t.true(dump.text.startsWith('bus version 3, lock: 0, generation: 1, firstoff: 0x05d2, lastoff: 0xffe96\n'));
  t.true(dump.text.endsWith('packet 714, offset 0xffeae, length 0x05a2, ts 715/000000\n'));
  const pcap = readPcap(dump.pcap).records;
  t.true(Buffer.from(pcap[714]!.data).equals(Buffer.from(want)));
  t.is(seqOf(pcap[0]!.data), 1);

  // Once more around: the generation counts each pass.
  writeMany(w, 716, 1442, 716);
  t.is(header(map).gen, 2);
});

test('a reader keeping up sees every frame once, in order, across wraps', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const r = new BusReader(map);
  t.true(r.sync());
  const c = collector();
  let written = 0;
  for (let round = 0; round < 25; round++) {
    const n = 100 + (round % 7) * 13;
    const len = 60 + ((round * 97) % 1400);
    writeMany(w, n, len, written);
    written += n;
    t.true(r.poll(c.deliver, 2, 0) >= 0);
  }
  t.true(header(map).gen >= 2);
  t.is(c.got.length, written);
  t.true(c.got.every((g, i) => g.sec === i && seqOf(g.frame) === i));
  t.true(c.got.every((g) => Buffer.from(g.frame).equals(Buffer.from(makeFrame(g.frame.length, g.sec)))));
  t.is(r.lapped, 0);
  t.is(r.lost, 0);
  t.is(r.delivered, written);
  t.is(r.poll(c.deliver, 2, 0), 0, 'nothing new');
});

test('a record ending exactly at the end of the ring counts as a wrap (no false lap)', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const r = new BusReader(map);
  r.sync();
  const c = collector();
  writeMany(w, 715, 1442);
  r.poll(c.deliver, 2, 0);
  // 330 bytes left: a 306-byte frame fills them exactly.
  writeMany(w, 1, 306, 715);
  t.is(header(map).gen, 1);
  t.is(header(map).first, 24, 'the zero-record sentinel was advanced');
  const late = new BusReader(map);
  late.sync();
  const lc = collector();
  r.poll(c.deliver, 2, 0);
  t.deepEqual([r.next, r.gen], [0, 1]);
  writeMany(w, 3, 1442, 716);
  t.is(header(map).first, 24 + 2 * REC + REC, 'records 0..2 overwritten');
  r.poll(c.deliver, 2, 0);
  late.poll(lc.deliver, 2, 0);
  t.deepEqual(c.got.map((g) => g.sec), Array.from({ length: 719 }, (_, i) => i));
  // The late reader starts at the newest record of its sync (NetBSD) and misses nothing after it.
  t.deepEqual(lc.got.map((g) => g.sec), [715, 716, 717, 718]);
  t.is(r.lapped + late.lapped, 0);
  t.is(dumpBus(map.bytes).packets, 715 - 3 + 1 + 3);
});

test('a record header ending exactly at the end of the ring: frame at data offset 0', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const r = new BusReader(map);
  r.sync();
  const c = collector();
  writeMany(w, 715, 1442);
  r.poll(c.deliver, 2, 0);
  writeMany(w, 1, 282, 715); // ends 24 bytes before the end
  writeMany(w, 1, 100, 716); // header fills the last 24 bytes, frame at 0
  t.is(header(map).gen, 1);
  t.is(header(map).last, DATASIZE - 24);
  t.true(Buffer.from(map.bytes.subarray(HDR_SIZE, HDR_SIZE + 100)).equals(Buffer.from(makeFrame(100, 716))));
  r.poll(c.deliver, 2, 0);
  t.is(c.got.length, 717);
  t.true(Buffer.from(c.got[716]!.frame).equals(Buffer.from(makeFrame(100, 716))));
  t.true(dumpBus(map.bytes).text.endsWith('offset 0x0000, length 0x0064, ts 716/000000\n'));
  t.is(r.lapped, 0);
});

test('a lapped reader restarts at the oldest record and counts what it lost', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const r = new BusReader(map);
  r.sync();
  const c = collector();
  writeMany(w, 3000, 1442); // about four times around
  t.true(header(map).gen >= 4);
  t.is(r.poll(c.deliver, 2, 0), c.got.length);
  t.is(r.lapped, 1);
  const onBus = dumpBus(map.bytes).packets;
  t.is(c.got.length, onBus, 'exactly what is still on the bus');
  t.deepEqual(
    c.got.map((g) => g.sec),
    Array.from({ length: onBus }, (_, i) => 3000 - onBus + i),
  );
  // Skipped: the zero record and every overwritten frame record.
  t.is(r.lostBytes, 24 + (3000 - onBus) * REC);
  t.is(r.lost, Math.ceil(r.lostBytes / (PKTHDR_SIZE + MAX_FRAME)));
  t.true(r.lost <= 3000 - onBus);

  // And it reads on normally afterwards.
  writeMany(w, 5, 100, 3000);
  const c2 = collector();
  t.is(r.poll(c2.deliver, 2, 0), 5);
  t.deepEqual(c2.got.map((g) => g.sec), [3000, 3001, 3002, 3003, 3004]);
  t.is(r.lapped, 1);
});

test('a reader a little less than a ring behind is not lapped; a little more is', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  writeMany(w, 10, 1442);
  const r = new BusReader(map);
  r.sync();
  const c = collector();
  r.poll(c.deliver, 2, 0); // delivers the newest (NetBSD), now at the head
  c.got.length = 0;
  writeMany(w, 714, 1442, 10); // 714 records: the ring holds 715
  r.poll(c.deliver, 2, 0);
  t.is(r.lapped, 0);
  t.is(c.got.length, 714);
  c.got.length = 0;
  writeMany(w, 716, 1442, 724); // one more than fits
  r.poll(c.deliver, 2, 0);
  t.is(r.lapped, 1);
  t.is(r.lostBytes, REC);
  t.is(r.lost, 1);
  t.is(c.got.length, 715);
  t.is(c.got[0]!.sec, 725);
});

test("sync on NetBSD's wrapped bus, then our frames: the newest NetBSD frame, then exactly ours", (t) => {
  const netbsdPcap = readPcap(fixture('bus-wrapped.pcap')).records;
  const map = new MemBusMapping(fixture('bus-wrapped'));
  busAttach(map);
  const r = new BusReader(map);
  t.true(r.sync());
  const c = collector();
  // NetBSD semantics: the reader starts at `last`, the newest record already there.
  t.is(r.poll(c.deliver, 0xdead, 0xbeef), 1);
  t.true(Buffer.from(c.got[0]!.frame).equals(Buffer.from(netbsdPcap[714]!.data)));
  t.deepEqual([c.got[0]!.sec, c.got[0]!.usec], [15, 90008]);
  t.is(r.poll(c.deliver, 0xdead, 0xbeef), 0);

  // 500 frames of 1442 bytes: past the end of the ring again (generation 2).
  c.got.length = 0;
  const w = new BusWriter(map, 0x1234, 0);
  writeMany(w, 500, 1442, 100000);
  t.is(header(map).gen, 2);
  t.is(r.poll(c.deliver, 0xdead, 0xbeef), 500);
  t.deepEqual(c.got.map((g) => g.sec), Array.from({ length: 500 }, (_, i) => 100000 + i));
  t.true(c.got.every((g) => Buffer.from(g.frame).equals(Buffer.from(makeFrame(1442, g.sec)))));
  t.is(r.lapped, 0);

  // The bus still dumps: NetBSD's frames not yet overwritten, then ours.
  const dump = dumpBus(map.bytes);
  t.is(dump.error, null);
  const recs = readPcap(dump.pcap).records;
  t.is(recs.length, dump.packets);
  t.deepEqual(recs.slice(-500).map((x) => x.sec), Array.from({ length: 500 }, (_, i) => 100000 + i));
  const old = recs.slice(0, -500);
  t.true(old.length > 0);
  t.true(Buffer.from(old[old.length - 1]!.data).equals(Buffer.from(netbsdPcap[714]!.data)));
});

test('own frames are filtered, runts dropped and counted, the zero record skipped silently', (t) => {
  const map = freshBus();
  const a = new BusWriter(map, 0xaaaa, 0x1);
  const b = new BusWriter(map, 0xbbbb, 0x1);
  const r = new BusReader(map);
  r.sync();
  const c = collector();
  a.writeFrame(makeFrame(60, 1), 0, 60, 1, 0);
  b.writeFrame(makeFrame(60, 2), 0, 60, 2, 0);
  b.writeFrame(makeFrame(10, 3), 0, 10, 3, 0); // runt
  b.writeFrame(makeFrame(0, 4), 0, 0, 4, 0); // empty
  a.writeFrame(makeFrame(14, 5), 0, 14, 5, 0);
  b.writeFrame(makeFrame(14, 6), 0, 14, 6, 0); // exactly a header: delivered
  busWakeup(map);
  t.is(r.poll(c.deliver, 0xaaaa, 0x1), 2);
  t.deepEqual(c.got.map((g) => g.sec), [2, 6]);
  t.is(r.own, 2);
  t.is(r.runts, 1);
  // Same low word, other high word: not ours.
  const r2 = new BusReader(map);
  r2.next = 24;
  r2.gen = 0;
  const c2 = collector();
  r2.poll(c2.deliver, 0xaaaa, 0x2);
  t.deepEqual(c2.got.map((g) => g.sec), [1, 2, 5, 6]);
});

test('a record whose length runs past the writers\' head is not delivered: counted corrupt, the reader stops at the head', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const r = new BusReader(map);
  r.sync();
  writeMany(w, 5, 100);
  // Record 3 (data offset 24 + 3 * 124) now claims 300 bytes: it would end
  // 76 bytes past the head, after record 4, a length no writer left.
  putU32(map.bytes, HDR_SIZE + 24 + 3 * 124, 300, LE);
  const c = collector();
  t.is(r.poll(c.deliver, 2, 0), 3);
  t.deepEqual(c.got.map((g) => g.sec), [0, 1, 2], 'the frames before it, once each, and nothing after');
  t.is(r.corrupt, 1);
  t.is(r.lapped, 0, 'not taken for a lap (which would replay the ring from its oldest record)');
  t.false(r.mayHaveNew(), 'the reader stands at the head');
  writeMany(w, 1, 100, 5);
  t.is(r.poll(c.deliver, 2, 0), 1);
  t.is(c.got.at(-1)!.sec, 5, 'and reads on from there');
});

test('poll honours its limit and leaves the rest for the next call', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const r = new BusReader(map);
  r.sync();
  writeMany(w, 10, 100);
  const c = collector();
  t.is(r.poll(c.deliver, 2, 0, 4), 4);
  t.is(r.poll(c.deliver, 2, 0, 4), 4);
  t.is(r.poll(c.deliver, 2, 0, 4), 2);
  t.deepEqual(c.got.map((g) => g.sec), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('mayHaveNew: false once a poll has read up to the writers, true after any write, a sync or a short poll', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const r = new BusReader(map);
  r.sync();
  t.true(r.mayHaveNew(), 'nothing polled yet');
  const c = collector();
  r.poll(c.deliver, 2, 0);
  t.false(r.mayHaveNew(), 'a wake-up now would find nothing');
  writeMany(w, 1, 100);
  t.true(r.mayHaveNew(), 'a frame was written since');
  r.poll(c.deliver, 2, 0);
  t.false(r.mayHaveNew());
  writeMany(w, 3, 100);
  t.is(r.poll(c.deliver, 2, 0, 2), 2);
  t.true(r.mayHaveNew(), 'a poll cut short by its limit left frames behind');
  r.poll(c.deliver, 2, 0);
  t.false(r.mayHaveNew());
  // Our own frames move the writers' position too: a poll skips them, then knows.
  const own = new BusWriter(map, 2, 0);
  writeMany(own, 1, 100);
  t.true(r.mayHaveNew());
  t.is(r.poll(c.deliver, 2, 0), 0);
  t.false(r.mayHaveNew());
  r.sync();
  t.true(r.mayHaveNew(), 'after a sync the next poll decides');
  t.is(c.got.length, 4);
});

test('a frame split across the end is delivered contiguous; others are views into the bus', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const r = new BusReader(map);
  r.sync();
  writeMany(w, 715, 1442);
  r.poll(() => {}, 2, 0);
  writeMany(w, 2, 1442, 715);
  const bufs: Uint8Array[] = [];
  r.poll((buf, off, len) => {
    bufs.push(buf);
    t.true(Buffer.from(buf.subarray(off, off + len)).equals(Buffer.from(makeFrame(1442, 715 + bufs.length - 1))));
  }, 2, 0);
  t.is(bufs.length, 2);
  t.not(bufs[0], map.bytes, 'the split frame comes from a scratch copy');
  t.is(bufs[1], map.bytes, 'a whole frame is a view of the mapping');
});

test('a lock held by another process: the writer and reader give up and count it', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const r = new BusReader(map);
  w.lockSpins = 1000;
  r.lockSpins = 1000;
  map.store32(BUS_OFF_LOCK, 1); // someone else's critical section
  t.false(w.writeFrame(makeFrame(60, 0), 0, 60, 0, 0));
  t.is(w.lockFailures, 1);
  t.is(r.poll(() => {}, 2, 0), -1);
  t.is(r.lockFailures, 1);
  t.false(r.sync());
  map.store32(BUS_OFF_LOCK, 0);
  t.true(w.writeFrame(makeFrame(60, 0), 0, 60, 0, 0));
});

test('bus I/O from inside a deliver callback is refused with EDEADLK, and the lock is released', (t) => {
  const map = freshBus();
  const w = new BusWriter(map, 1, 0);
  const r = new BusReader(map);
  r.sync();
  writeMany(w, 2, 60);
  const err = t.throws(() =>
    r.poll(() => {
      w.writeFrame(makeFrame(60, 9), 0, 60, 9, 0);
    }, 2, 0),
  ) as Error & { code: string };
  t.is(err.code, 'EDEADLK');
  t.is(u32(map.bytes, BUS_OFF_LOCK), 0);
  t.true(busLock(map));
  busUnlock(map);
  // The frame being delivered counts as read; the next one is still there.
  const c = collector();
  t.is(r.poll(c.deliver, 2, 0), 1);
  t.is(c.got[0]!.sec, 1);
});

test('the generation is a u64: the low word carries into the high word', (t) => {
  const map = freshBus();
  const h = new BusHeaderView(map.bytes);
  h.setGen(0xffffffff, 0);
  h.incGen();
  t.deepEqual([h.genLo, h.genHi], [0, 1]);
  t.is(h.gen, 2 ** 32);
  t.is(h.genBig(), 1n << 32n);
  t.true(dumpBus(map.bytes).text.includes('generation: 4294967296,'));
});

test('garbage after a valid magic: nothing throws, everything terminates, problems are counted', (t) => {
  let counted = 0;
  for (let seed = 1; seed <= 160; seed++) {
    const rng = new Prng(seed);
    const bytes = new Uint8Array(BUS_SIZE);
    rng.fill(bytes);
    const map = new MemBusMapping(bytes);
    putU32(bytes, BUS_OFF_MAGIC, SHMIF_MAGIC, LE);
    putU32(bytes, BUS_OFF_VERSION, 3, LE);
    putU32(bytes, BUS_OFF_LOCK, 0, LE);
    const kind = seed % 4;
    if (kind >= 1) {
      // Plausible offsets, so the walks get into the ring.
      putU32(bytes, BUS_OFF_FIRST, rng.below(DATASIZE + 1), LE);
      putU32(bytes, BUS_OFF_LAST, rng.below(DATASIZE), LE);
      putU32(bytes, BUS_OFF_GEN, rng.below(4), LE);
      putU32(bytes, BUS_OFF_GEN + 4, 0, LE);
    }
    if (kind >= 2) {
      // Plausible lengths everywhere: small little-endian u32s.
      const words = new Uint32Array(bytes.buffer, HDR_SIZE);
      const bound = kind === 2 ? 1600 : 40;
      for (let k = 0; k < words.length; k++) words[k] = rng.below(bound);
    }
    busAttach(map);
    const r = new BusReader(map);
    r.sync();
    const c = collector();
    const n1 = r.poll(c.deliver, 1, 2);
    const w = new BusWriter(map, 1, 2);
    for (let i = 0; i < 20; i++) {
      const len = rng.below(MAX_FRAME + 1);
      w.writeFrame(makeFrame(len, i), 0, len, i, 0);
    }
    const n2 = r.poll(c.deliver, 1, 2);
    const fresh = new BusReader(map);
    fresh.next = rng.below(DATASIZE);
    fresh.gen = rng.below(3);
    const n3 = fresh.poll(c.deliver, 3, 4);
    const dump = dumpBus(bytes);
    t.true(n1 >= 0 && n2 >= 0 && n3 >= 0);
    t.true(c.got.every((g) => g.frame.length >= 14 && g.frame.length <= MAX_FRAME));
    t.true(dump.packets >= 0);
    t.is(u32(bytes, BUS_OFF_LOCK), 0, 'never left locked');
    // After our writes the newest records are ours, whatever came before.
    t.is(w.frames, 20);
    t.true(u32(bytes, BUS_OFF_LAST) < DATASIZE);
    counted += r.corrupt + r.oversized + r.runts + r.lapped + fresh.corrupt + fresh.oversized + w.repairs;
  }
  t.true(counted > 0, 'garbage was noticed');
});
