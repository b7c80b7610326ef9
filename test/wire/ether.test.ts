import test from 'ava';

import {
  ETHERMTU,
  ETHERTYPE_ARP,
  ETHERTYPE_IP,
  ETHER_ADDR_BROADCAST,
  ETHER_HDR_LEN,
  etherCheck,
  etherCopyDst,
  etherCopySrc,
  etherDstEquals,
  etherDstIsBroadcast,
  etherDstIsMulticast,
  etherSetDst,
  etherSetSrc,
  etherSetType,
  etherSrcEquals,
  etherType,
  etherWriteHeader,
  macCopy,
  macEquals,
  macIsBroadcast,
  macIsMulticast,
  macIsZero,
} from '../../net/wire/ether.js';
import { formatMac, parseMac } from '../../net/wire/inaddr.js';
import {
  FRAME_ARP_REPLY,
  FRAME_ECHO_REQUEST,
  FRAME_GARP_1,
  MAC_1,
  MAC_2,
  busSmallFrame,
  busSmallFrameCount,
} from './helpers.js';

const mac1 = parseMac(MAC_1)!;
const mac2 = parseMac(MAC_2)!;

test('a broadcast ARP frame from NetBSD: destination, source, type', (t) => {
  const f = busSmallFrame(FRAME_GARP_1);
  t.true(etherCheck(f, 0, f.length));
  t.true(etherDstIsBroadcast(f, 0));
  t.true(etherDstIsMulticast(f, 0));
  t.true(etherSrcEquals(f, 0, mac1, 0));
  t.false(etherSrcEquals(f, 0, mac2, 0));
  t.is(etherType(f, 0), ETHERTYPE_ARP);
});

test('a unicast IP frame from NetBSD: destination, source, type', (t) => {
  const f = busSmallFrame(FRAME_ECHO_REQUEST);
  t.true(etherCheck(f, 0, f.length));
  t.false(etherDstIsBroadcast(f, 0));
  t.false(etherDstIsMulticast(f, 0));
  t.true(etherDstEquals(f, 0, mac2, 0));
  t.true(etherSrcEquals(f, 0, mac1, 0));
  t.is(etherType(f, 0), ETHERTYPE_IP);
  const dst = new Uint8Array(8);
  etherCopyDst(f, 0, dst, 2);
  t.is(formatMac(dst, 2), MAC_2);
  const src = new Uint8Array(6);
  etherCopySrc(f, 0, src, 0);
  t.is(formatMac(src), MAC_1);
});

test('every frame of the capture is Ethernet II carrying IPv4 or ARP', (t) => {
  for (let i = 0; i < busSmallFrameCount(); i++) {
    const f = busSmallFrame(i);
    t.true(etherCheck(f, 0, f.length));
    t.true([ETHERTYPE_IP, ETHERTYPE_ARP].includes(etherType(f, 0)), `frame ${i}`);
  }
});

test('writing the header from the parsed fields gives the same bytes', (t) => {
  for (const i of [FRAME_GARP_1, FRAME_ARP_REPLY, FRAME_ECHO_REQUEST]) {
    const f = busSmallFrame(i);
    const dst = new Uint8Array(6);
    const src = new Uint8Array(6);
    etherCopyDst(f, 0, dst, 0);
    etherCopySrc(f, 0, src, 0);
    // Into headroom at a non-zero offset, as output does.
    const out = new Uint8Array(ETHER_HDR_LEN + 3);
    t.is(etherWriteHeader(out, 3, dst, 0, src, 0, etherType(f, 0)), ETHER_HDR_LEN);
    t.deepEqual(out.subarray(3), f.subarray(0, ETHER_HDR_LEN), `frame ${i}`);
  }
});

test('setters write in place', (t) => {
  const f = busSmallFrame(FRAME_ECHO_REQUEST);
  etherSetDst(f, 0, ETHER_ADDR_BROADCAST, 0);
  etherSetSrc(f, 0, mac2, 0);
  etherSetType(f, 0, 0x86dd);
  t.true(etherDstIsBroadcast(f, 0));
  t.true(etherSrcEquals(f, 0, mac2, 0));
  t.is(etherType(f, 0), 0x86dd);
  // The payload after the header is untouched.
  t.deepEqual(f.subarray(ETHER_HDR_LEN), busSmallFrame(FRAME_ECHO_REQUEST).subarray(ETHER_HDR_LEN));
});

test('every truncated length is rejected by etherCheck, and nothing throws', (t) => {
  const f = busSmallFrame(FRAME_GARP_1);
  for (let len = 0; len < ETHER_HDR_LEN; len++) {
    t.false(etherCheck(f, 0, len), `len ${len}`);
    const short = f.slice(0, len);
    t.false(etherCheck(short, 0, len));
    t.false(etherCheck(short, 0, f.length), 'a length beyond the buffer is rejected too');
    t.notThrows(() => {
      etherType(short, 0);
      etherDstIsBroadcast(short, 0);
      etherDstIsMulticast(short, 0);
      etherSrcEquals(short, 0, mac1, 0);
    });
  }
  t.true(etherCheck(f, 0, ETHER_HDR_LEN));
  t.false(etherCheck(f, -1, ETHER_HDR_LEN));
  t.false(etherCheck(f, 30, 14), 'off + len past the end');
});

test('MAC helpers: equality, copy, broadcast, multicast (group bit), zero', (t) => {
  const buf = new Uint8Array(16);
  macCopy(mac1, 0, buf, 5);
  t.true(macEquals(buf, 5, mac1, 0));
  t.false(macEquals(buf, 4, mac1, 0));
  t.true(macIsBroadcast(ETHER_ADDR_BROADCAST, 0));
  t.false(macIsBroadcast(mac1, 0));
  t.true(macIsMulticast(parseMac('01:00:5e:00:00:01')!, 0));
  t.true(macIsMulticast(ETHER_ADDR_BROADCAST, 0));
  t.false(macIsMulticast(mac1, 0));
  t.true(macIsZero(new Uint8Array(6), 0));
  t.false(macIsZero(mac1, 0));
  t.is(ETHERMTU, 1500);
});
