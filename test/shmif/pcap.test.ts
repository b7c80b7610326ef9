/*
 * The classic pcap format: our writer's bytes, our reader on both byte
 * orders and on truncated files, and an independent reader (pcap-parser).
 */

import test from 'ava';
import { Readable } from 'node:stream';
// @ts-expect-error pcap-parser ships no type declarations
import pcapParser from 'pcap-parser';

import {
  PCAP_LINKTYPE_ETHERNET,
  PcapWriter,
  readPcap,
  writePcapFileHeader,
  writePcapRecordHeader,
} from '../../net/wire/pcap.js';
import { fixture, makeFrame } from './membus.js';

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

test('file header: magic a1b2c3d4 (µs), version 2.4, little-endian', (t) => {
  const b = new Uint8Array(30).fill(0xee);
  t.is(writePcapFileHeader(b, 3, 1518, PCAP_LINKTYPE_ETHERNET), 27);
  t.is(hex(b.subarray(3, 27)), 'd4c3b2a1' + '02000400' + '00000000' + '00000000' + 'ee050000' + '01000000');
  t.is(b[2], 0xee);
  t.is(b[27], 0xee);
  // NetBSD's shmif_dumpbus wrote the same 24 bytes.
  t.is(hex(b.subarray(3, 27)), hex(fixture('bus-small.pcap').subarray(0, 24)));
});

test('record header: sec, usec, caplen, len', (t) => {
  const b = new Uint8Array(16);
  t.is(writePcapRecordHeader(b, 0, 1, 80008, 42, 60), 16);
  t.is(hex(b), '01000000' + '88380100' + '2a000000' + '3c000000');
});

test('PcapWriter: buffer and sink give the same file; sink chunks are never reused', (t) => {
  const frames = [makeFrame(60, 1), makeFrame(1514, 2), makeFrame(42, 3)];
  const buffered = new PcapWriter({ snaplen: 1518, initialCapacity: 32 });
  const chunks: Uint8Array[] = [];
  const sunk = new PcapWriter({ snaplen: 1518, sink: (c) => chunks.push(c) });
  t.is(chunks.length, 1, 'the file header goes out at once');
  frames.forEach((f, i) => {
    buffered.write(f, 0, f.length, 100 + i, i);
    sunk.write(f, 0, f.length, 100 + i, i);
  });
  const copies = chunks.map((c) => c.slice());
  t.is(chunks.length, 4);
  t.true(chunks.every((c, i) => hex(c) === hex(copies[i]!)));
  t.is(hex(Buffer.concat(chunks)), hex(buffered.bytes()));
  t.is(sunk.bytes().length, 0);
  t.is(buffered.records, 3);
  const back = readPcap(buffered.bytes());
  t.is(back.snaplen, 1518);
  t.is(back.linktype, 1);
  t.deepEqual(
    back.records.map((r) => [r.sec, r.usec, r.caplen, r.len, hex(r.data)]),
    frames.map((f, i) => [100 + i, i, f.length, f.length, hex(f)]),
  );
});

test('PcapWriter: a frame longer than snaplen is cut, with its wire length kept', (t) => {
  const w = new PcapWriter({ snaplen: 100 });
  const f = makeFrame(200, 7);
  w.write(f, 0, 200, 1, 2);
  w.write(f, 50, 20, 3, 4, 64);
  const [a, b] = readPcap(w.bytes()).records;
  t.deepEqual([a!.caplen, a!.len, hex(a!.data)], [100, 200, hex(f.subarray(0, 100))]);
  t.deepEqual([b!.caplen, b!.len, hex(b!.data)], [20, 64, hex(f.subarray(50, 70))]);
});

test('PcapWriter: many records through a growing buffer round-trip', (t) => {
  const w = new PcapWriter({ initialCapacity: 24 });
  for (let i = 0; i < 1000; i++) {
    const f = makeFrame(14 + (i % 1500), i);
    w.write(f, 0, f.length, i, i * 3);
  }
  const recs = readPcap(w.bytes()).records;
  t.is(recs.length, 1000);
  t.true(recs.every((r, i) => r.sec === i && r.usec === i * 3 && hex(r.data) === hex(makeFrame(14 + (i % 1500), i))));
});

/** The same capture written big-endian by hand. */
function bigEndianCopy(le: Uint8Array): Uint8Array {
  const b = le.slice();
  const swap = (off: number) => b.subarray(off, off + 4).reverse();
  swap(0);
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  for (const off of [8, 12, 16, 20]) swap(off);
  let off = 24;
  while (off < b.length) {
    const caplen = le[off + 8]! | (le[off + 9]! << 8) | (le[off + 10]! << 16) | (le[off + 11]! << 24);
    for (const f of [0, 4, 8, 12]) swap(off + f);
    off += 16 + caplen;
  }
  return b;
}

test('readPcap reads both byte orders', (t) => {
  const le = fixture('bus-small.pcap');
  const be = bigEndianCopy(le);
  t.is(hex(be.subarray(0, 4)), 'a1b2c3d4');
  const a = readPcap(le);
  const b = readPcap(be);
  t.false(a.bigEndian);
  t.true(b.bigEndian);
  t.is(b.records.length, 17);
  t.deepEqual(
    b.records.map((r) => [r.sec, r.usec, r.caplen, r.len, hex(r.data)]),
    a.records.map((r) => [r.sec, r.usec, r.caplen, r.len, hex(r.data)]),
  );
  t.deepEqual([b.snaplen, b.linktype], [1518, 1]);
});

test('readPcap: nanosecond files come back in microseconds', (t) => {
  const w = new PcapWriter();
  w.write(makeFrame(60, 1), 0, 60, 5, 123456789);
  const b = w.bytes().slice();
  b.set([0x4d, 0x3c, 0xb2, 0xa1], 0);
  const f = readPcap(b);
  t.true(f.nanosecond);
  t.deepEqual([f.records[0]!.sec, f.records[0]!.usec], [5, 123456]);
});

test('readPcap: not pcap, unknown version, absurd lengths: clear errors', (t) => {
  t.throws(() => readPcap(new TextEncoder().encode('bus version 3, lock: 0, generation: 0')), {
    message: 'not a pcap file (magic 0x62757320)',
  });
  const pcapng = new Uint8Array(64);
  pcapng.set([0x0a, 0x0d, 0x0d, 0x0a]);
  t.throws(() => readPcap(pcapng), { message: /^not a pcap file/ });
  const v3 = fixture('bus-small.pcap');
  v3[4] = 3;
  t.throws(() => readPcap(v3), { message: 'unsupported pcap version 3.x (only 2.4 is known)' });
  const huge = fixture('bus-small.pcap');
  huge[24 + 8 + 3] = 0x10;
  t.throws(() => readPcap(huge), { message: /^corrupt pcap file: record 0 at offset 24 claims \d+ captured bytes$/ });
});

test('readPcap: a file cut at any length is an error, except at a record boundary', (t) => {
  const w = new PcapWriter();
  w.write(makeFrame(60, 1), 0, 60, 1, 1);
  w.write(makeFrame(42, 2), 0, 42, 2, 2);
  const whole = w.bytes().slice();
  const boundaries = new Map([
    [24, 0],
    [24 + 16 + 60, 1],
    [whole.length, 2],
  ]);
  for (let cut = 0; cut <= whole.length; cut++) {
    const part = whole.subarray(0, cut);
    const n = boundaries.get(cut);
    if (n !== undefined) {
      t.is(readPcap(part).records.length, n, `cut at ${cut}`);
    } else {
      t.throws(() => readPcap(part), { message: /^truncated pcap file: / }, `cut at ${cut}`);
    }
  }
  t.throws(() => readPcap(whole.subarray(0, 30)), {
    message: 'truncated pcap file: record 0 at offset 24 has 6 of 16 header bytes',
  });
  t.throws(() => readPcap(whole.subarray(0, 50)), {
    message: 'truncated pcap file: record 0 at offset 24 has 10 of 60 data bytes',
  });
  t.throws(() => readPcap(whole.subarray(0, 10)), {
    message: 'truncated pcap file: 10 bytes, shorter than the 24-byte file header',
  });
});

test('pcap-parser reads what PcapWriter writes', async (t) => {
  const w = new PcapWriter({ snaplen: 1518 });
  for (let i = 0; i < 5; i++) w.write(makeFrame(60 + i, i), 0, 60 + i, 1000 + i, 999999 - i);
  const parser = pcapParser.parse(Readable.from([Buffer.from(w.bytes())]));
  const got: { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number }; data: Buffer }[] = [];
  await new Promise<void>((resolve, reject) => {
    parser.on('packet', (p: (typeof got)[number]) => got.push(p));
    parser.on('end', resolve);
    parser.on('error', reject);
  });
  t.deepEqual(
    got.map((p) => [p.header.timestampSeconds, p.header.timestampMicroseconds, p.header.capturedLength, p.header.originalLength, p.data.toString('hex')]),
    [0, 1, 2, 3, 4].map((i) => [1000 + i, 999999 - i, 60 + i, 60 + i, hex(makeFrame(60 + i, i))]),
  );
});
