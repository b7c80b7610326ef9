/*
 * dumpbus against NetBSD: NetBSD's own bus files must give NetBSD's own
 * shmif_dumpbus text and pcap, byte for byte.
 */

import test from 'ava';
import { Readable } from 'node:stream';
// @ts-expect-error pcap-parser ships no type declarations
import pcapParser from 'pcap-parser';

import { BUS_SIZE, DATASIZE, HDR_SIZE, PKTHDR_SIZE, busAttach, bswap32, getU32 } from '../../shmif/bus.js';
import { dumpBus, readBusHeader } from '../../shmif/dumpbus.js';
import { MemBusMapping, fixture, fixtureText } from './membus.js';

for (const name of ['bus-small', 'bus-wrapped']) {
  test(`${name}: text is NetBSD's shmif_dumpbus output`, (t) => {
    const res = dumpBus(fixture(name));
    t.is(res.error, null);
    t.is(res.text, fixtureText(`${name}.txt`));
  });

  test(`${name}: pcap is byte-identical to NetBSD's`, (t) => {
    const res = dumpBus(fixture(name));
    const want = fixture(`${name}.pcap`);
    t.is(res.pcap.length, want.length);
    t.true(Buffer.from(res.pcap).equals(Buffer.from(want)));
  });
}

test('packet counts: 17 on bus-small, 715 on bus-wrapped', (t) => {
  t.is(dumpBus(fixture('bus-small')).packets, 17);
  t.is(dumpBus(fixture('bus-wrapped')).packets, 715);
});

test('-h: only the header line, no pcap', (t) => {
  const res = dumpBus(fixture('bus-wrapped'), { headerOnly: true });
  t.is(res.text, 'bus version 3, lock: 0, generation: 1, firstoff: 0x66132, lastoff: 0x65a16\n');
  t.is(res.pcap.length, 0);
});

/** bus-small as a big-endian host would have written it: every integer swapped. */
function byteSwapBus(src: Uint8Array): Uint8Array {
  const b = src.slice();
  const swap32 = (off: number) => {
    const v = getU32(b, off, true);
    const s = bswap32(v);
    b[off] = s & 0xff;
    b[off + 1] = (s >>> 8) & 0xff;
    b[off + 2] = (s >>> 16) & 0xff;
    b[off + 3] = s >>> 24;
  };
  const swap64 = (off: number) => b.subarray(off, off + 8).reverse();
  for (const off of [0, 4, 16, 20, 24, 28]) swap32(off);
  swap64(8);
  // Walk the records (bus-small does not wrap) using the original's lengths.
  let off = 0;
  const last = getU32(src, 20, true);
  for (;;) {
    const p = HDR_SIZE + off;
    const len = getU32(src, p, true);
    for (const f of [0, 4, 8, 12]) swap32(p + f);
    swap64(p + 16);
    if (off === last) break;
    off += PKTHDR_SIZE + len;
  }
  return b;
}

test('a bus of the other byte order dumps the same', (t) => {
  const swapped = byteSwapBus(fixture('bus-small'));
  t.true(readBusHeader(swapped).swapped);
  const res = dumpBus(swapped);
  t.is(res.text, fixtureText('bus-small.txt'));
  t.true(Buffer.from(res.pcap).equals(Buffer.from(fixture('bus-small.pcap'))));
});

test('a fresh bus: version 0 until the first wake-up, no packets', (t) => {
  const map = new MemBusMapping();
  busAttach(map);
  const res = dumpBus(map.bytes);
  t.is(res.text, 'bus version 0, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x0000\n');
  t.is(res.packets, 0);
  t.is(res.pcap.length, 24);
});

test('not a bus, unknown version, truncated file: clear errors', (t) => {
  const zero = new Uint8Array(BUS_SIZE);
  t.throws(() => dumpBus(zero), { message: 'not a shmif bus', instanceOf: Error });
  t.is((t.throws(() => dumpBus(new Uint8Array(3))) as { code?: string }).code, 'ENOEXEC');

  const v7 = fixture('bus-small');
  v7[4] = 7;
  t.throws(() => dumpBus(v7), { message: 'bus version 7, program 3' });

  const short = fixture('bus-small').subarray(0, 4096);
  t.throws(() => dumpBus(short), { message: `truncated shmif bus: 4096 of ${BUS_SIZE} bytes` });
});

test('a record claiming more than the ring stops the walk with an error, not a crash', (t) => {
  const b = fixture('bus-small');
  // The 5th record (data offset 0x120) claims 2 MiB.
  b[HDR_SIZE + 0x120 + 2] = 0x20;
  const res = dumpBus(b);
  t.is(res.packets, 4);
  t.regex(res.error ?? '', /corrupt record at offset 0x0120/);
});

test('garbage header offsets are reported, not followed', (t) => {
  const b = fixture('bus-small');
  b[20 + 3] = 0x7f; // lastoff (file offset 20) far outside the ring
  const res = dumpBus(b);
  t.not(res.error, null);
  t.is(res.packets, 0);
});

test('pcap-parser, an independent reader, accepts our pcap of the wrapped bus', async (t) => {
  const res = dumpBus(fixture('bus-wrapped'));
  const parser = pcapParser.parse(Readable.from([Buffer.from(res.pcap)]));
  let header: { snapshotLength: number; linkLayerType: number; majorVersion: number; minorVersion: number } | undefined;
  const packets: { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number }; data: Buffer }[] = [];
  await new Promise<void>((resolve, reject) => {
    parser.on('globalHeader', (h: typeof header) => (header = h));
    parser.on('packet', (p: (typeof packets)[number]) => packets.push(p));
    parser.on('end', resolve);
    parser.on('error', reject);
  });
  t.deepEqual(
    header && [header.majorVersion, header.minorVersion, header.snapshotLength, header.linkLayerType],
    [2, 4, 1518, 1],
  );
  t.is(packets.length, 715);
  t.is(packets[0]!.header.capturedLength, 0x5a2);
  t.is(packets[0]!.header.timestampSeconds, 11);
  t.is(packets[0]!.header.timestampMicroseconds, 520008);
  // Packet 430 is split across the end of the ring on the bus: it comes out whole.
  const bus = fixture('bus-wrapped');
  const split = packets[430]!.data;
  const tail = DATASIZE - 0xfffb6;
  t.true(split.subarray(0, tail).equals(Buffer.from(bus.subarray(HDR_SIZE + 0xfffb6, HDR_SIZE + DATASIZE))));
  t.true(split.subarray(tail).equals(Buffer.from(bus.subarray(HDR_SIZE, HDR_SIZE + 0x5a2 - tail))));
});
