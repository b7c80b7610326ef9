/*
 * pcapin: a capture onto a bus, and back out with dumpbus.
 *
 *   NetBSD's bus-small.pcap ──pcapIn──> fresh bus ──dumpBus──> NetBSD's bus-small.txt and .pcap
 */

import test from 'ava';

import { PcapWriter, readPcap } from '../../net/wire/pcap.js';
import { BUS_SIZE, BusReader, HDR_SIZE, HOST_LITTLE_ENDIAN, getU32 } from '../../shmif/bus.js';
import { dumpBus } from '../../shmif/dumpbus.js';
import { pcapIn } from '../../shmif/pcapin.js';
import { MemBusMapping, collector, fixture, fixtureText, makeFrame } from './membus.js';

test("pcapin then dumpbus gives back NetBSD's text and pcap for bus-small", (t) => {
  const map = new MemBusMapping();
  const res = pcapIn(fixture('bus-small.pcap'), map, { senderLo: 7, senderHi: 9 });
  t.deepEqual(res, { written: 17, tooLong: 0, truncated: 0 });
  t.is(map.wakeups, 1, 'one wake-up for the batch');
  const dump = dumpBus(map.bytes);
  t.is(dump.text, fixtureText('bus-small.txt'));
  t.true(Buffer.from(dump.pcap).equals(Buffer.from(fixture('bus-small.pcap'))));
  // Every record carries the caller's sender id.
  const p = HDR_SIZE + 24;
  t.deepEqual(
    [getU32(map.bytes, p + 16, HOST_LITTLE_ENDIAN), getU32(map.bytes, p + 20, HOST_LITTLE_ENDIAN)],
    HOST_LITTLE_ENDIAN ? [7, 9] : [9, 7],
  );
});

test("pcapin of bus-wrapped's 715 frames: the same pcap comes back out", (t) => {
  const map = new MemBusMapping();
  t.is(pcapIn(fixture('bus-wrapped.pcap'), map).written, 715);
  t.true(Buffer.from(dumpBus(map.bytes).pcap).equals(Buffer.from(fixture('bus-wrapped.pcap'))));
});

test('readers on the bus hear pcapin, unless they have its sender id', (t) => {
  const map = new MemBusMapping();
  pcapIn(fixture('bus-small.pcap'), map, { senderLo: 0, senderHi: 0 }); // attaches the bus
  const other = new BusReader(map);
  const same = new BusReader(map);
  other.sync();
  same.sync();
  const c1 = collector();
  const c2 = collector();
  other.poll(c1.deliver, 1, 0);
  same.poll(c2.deliver, 5, 0);
  c1.got.length = 0;
  c2.got.length = 0;
  pcapIn(fixture('bus-small.pcap'), map, { senderLo: 5, senderHi: 0 });
  other.poll(c1.deliver, 1, 0);
  same.poll(c2.deliver, 5, 0);
  t.is(c1.got.length, 17);
  t.is(c2.got.length, 0);
  t.is(same.own, 17);
});

test('frames a bus cannot carry are skipped and counted', (t) => {
  const w = new PcapWriter({ snaplen: 1000 });
  w.write(makeFrame(60, 1), 0, 60, 1, 0);
  w.write(makeFrame(1400, 2), 0, 1400, 2, 0); // cut to 1000 by the capture
  const big = new PcapWriter({ snaplen: 65535 });
  big.write(makeFrame(1515, 3), 0, 1515, 3, 0);
  big.write(makeFrame(42, 4), 0, 42, 4, 0);
  const map = new MemBusMapping();
  t.deepEqual(pcapIn(w.bytes(), map), { written: 1, tooLong: 0, truncated: 1 });
  t.deepEqual(pcapIn(big.bytes(), map), { written: 1, tooLong: 1, truncated: 0 });
  t.deepEqual(readPcap(dumpBus(map.bytes).pcap).records.map((r) => r.sec), [1, 4]);
});

test('a capture that is not Ethernet is refused before the bus is touched', (t) => {
  const w = new PcapWriter({ linktype: 101 }); // LINKTYPE_RAW
  w.write(makeFrame(60, 1), 0, 60, 1, 0);
  const map = new MemBusMapping();
  const err = t.throws(() => pcapIn(w.bytes(), map)) as Error & { code: string };
  t.is(err.code, 'EINVAL');
  t.is(err.message, 'pcap link type 101 is not Ethernet (1)');
  t.true(map.bytes.every((x) => x === 0));
  t.is(map.bytes.length, BUS_SIZE);
});

test('a broken pcap or a non-bus target is an error', (t) => {
  t.throws(() => pcapIn(fixture('bus-small.pcap').subarray(0, 30), new MemBusMapping()), { message: /^truncated pcap file/ });
  const notBus = new MemBusMapping();
  notBus.bytes.fill(0x41, 0, 64);
  const err = t.throws(() => pcapIn(fixture('bus-small.pcap'), notBus)) as Error & { code: string };
  t.is(err.code, 'ENOEXEC');
});
