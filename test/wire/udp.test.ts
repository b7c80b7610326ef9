import test from 'ava';

import { ETHER_HDR_LEN } from '../../net/wire/ether.js';
import { IPPROTO_UDP, IP_HDR_MIN, IpCheck, ipCheck, ipDst, ipLen, ipP, ipSrc } from '../../net/wire/ipv4.js';
import {
  UDP_HDR_LEN,
  UdpCheck,
  udpCheck,
  udpDport,
  udpLength,
  udpSetChecksum,
  udpSetDport,
  udpSetLength,
  udpSetSport,
  udpSetSum,
  udpSport,
  udpSum,
  udpWriteHeader,
} from '../../net/wire/udp.js';
import { ADDR_1, ADDR_2, UDP_FRAME_HEX, fromHex, makePrng, randomBytes } from './helpers.js';

const I = ETHER_HDR_LEN;
const U = ETHER_HDR_LEN + IP_HDR_MIN;
const ULEN = 37; // 8 + a 29-byte DNS query

function frame(): Uint8Array {
  return fromHex(UDP_FRAME_HEX);
}

test('the fixture datagram parses to the expected fields and verifies', (t) => {
  const f = frame();
  t.is(ipCheck(f, I, f.length - I), IpCheck.Ok);
  t.is(ipP(f, I), IPPROTO_UDP);
  const len = ipLen(f, I) - IP_HDR_MIN;
  t.is(len, ULEN);
  t.is(udpCheck(f, U, len, ipSrc(f, I), ipDst(f, I)), UdpCheck.Ok);
  t.is(udpSport(f, U), 54321);
  t.is(udpDport(f, U), 53);
  t.is(udpLength(f, U), ULEN);
  t.is(udpSum(f, U), 0xc597);
});

test('udpWriteHeader and udpSetChecksum re-emit the datagram byte for byte', (t) => {
  const f = frame();
  const out = new Uint8Array(ULEN + 2);
  out.set(f.subarray(U + UDP_HDR_LEN, U + ULEN), 2 + UDP_HDR_LEN); // data first, then the header in front
  t.is(udpWriteHeader(out, 2, 54321, 53, ULEN), UDP_HDR_LEN);
  t.is(udpSum(out, 2), 0, 'written without a checksum');
  udpSetChecksum(out, 2, ADDR_1, ADDR_2);
  t.deepEqual(out.subarray(2), f.subarray(U, U + ULEN));
});

test('the checksum covers the pseudo header: other addresses fail it', (t) => {
  const f = frame();
  t.is(udpCheck(f, U, ULEN, ADDR_2, ADDR_1 + 1), UdpCheck.BadSum);
  t.is(udpCheck(f, U, ULEN, ADDR_1, 0xc0000203), UdpCheck.BadSum);
});

test('every truncated length is rejected, and nothing throws', (t) => {
  const f = frame();
  for (let len = 0; len < ULEN; len++) {
    const expected = len < UDP_HDR_LEN ? UdpCheck.TooShort : UdpCheck.BadLen;
    t.is(udpCheck(f, U, len, ADDR_1, ADDR_2), expected, `len ${len}`);
    const short = f.slice(U, U + len);
    t.is(udpCheck(short, 0, len, ADDR_1, ADDR_2), expected);
    t.is(udpCheck(short, 0, ULEN, ADDR_1, ADDR_2), UdpCheck.TooShort, 'a length beyond the buffer');
    t.notThrows(() => {
      udpSport(short, 0);
      udpDport(short, 0);
      udpLength(short, 0);
      udpSum(short, 0);
    });
  }
});

test('a length field below 8 is BadLen; an IP payload longer than it is fine', (t) => {
  const f = frame();
  udpSetLength(f, U, 7);
  t.is(udpCheck(f, U, ULEN, ADDR_1, ADDR_2), UdpCheck.BadLen);
  // Ethernet-style trailing bytes after the datagram: the UDP length wins.
  const padded = new Uint8Array(ULEN + 9).fill(0x5a);
  padded.set(frame().subarray(U, U + ULEN));
  t.is(udpCheck(padded, 0, padded.length, ADDR_1, ADDR_2), UdpCheck.Ok);
});

test('a corrupted byte fails the checksum; a zero checksum means none and is not verified', (t) => {
  for (let at = 0; at < ULEN; at++) {
    if (at === 4 || at === 5) continue; // the length field has its own check
    const f = frame();
    f[U + at]! ^= 0x01;
    t.is(udpCheck(f, U, ULEN, ADDR_1, ADDR_2), UdpCheck.BadSum, `byte ${at}`);
  }
  const f = frame();
  udpSetSum(f, U, 0);
  f[U + 20]! ^= 0xff;
  t.is(udpCheck(f, U, ULEN, ADDR_1, ADDR_2), UdpCheck.Ok);
});

test('a computed checksum of 0 is sent as 0xffff, which verifies (RFC 768)', (t) => {
  // Choose one 16-bit data word (at an even offset) so that the datagram sums to 0xffff.
  const f = frame().slice(U, U + ULEN);
  const at = ULEN - 3;
  f[at] = 0;
  f[at + 1] = 0;
  udpSetChecksum(f, 0, ADDR_1, ADDR_2);
  const filler = udpSum(f, 0);
  f[at] = filler >>> 8;
  f[at + 1] = filler & 0xff;
  udpSetChecksum(f, 0, ADDR_1, ADDR_2);
  t.is(udpSum(f, 0), 0xffff);
  t.is(udpCheck(f, 0, ULEN, ADDR_1, ADDR_2), UdpCheck.Ok);
});

test('odd-length datagrams at odd offsets round-trip through set and check', (t) => {
  const next = makePrng(768);
  for (let round = 0; round < 100; round++) {
    const dataLen = next() % 1600;
    const off = next() % 7;
    const src = next();
    const dst = next();
    const buf = new Uint8Array(off + UDP_HDR_LEN + dataLen);
    buf.set(randomBytes(next, dataLen), off + UDP_HDR_LEN);
    udpWriteHeader(buf, off, next() & 0xffff, next() & 0xffff, UDP_HDR_LEN + dataLen);
    udpSetChecksum(buf, off, src, dst);
    t.not(udpSum(buf, off), 0);
    t.is(udpCheck(buf, off, UDP_HDR_LEN + dataLen, src, dst), UdpCheck.Ok, `round ${round}`);
  }
  const b = new Uint8Array(8);
  udpSetSport(b, 0, 1);
  udpSetDport(b, 0, 65535);
  t.is(udpSport(b, 0), 1);
  t.is(udpDport(b, 0), 65535);
});
