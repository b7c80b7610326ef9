import test from 'ava';

import { inCksum } from '../../net/wire/cksum.js';
import { ETHERTYPE_IP, ETHER_HDR_LEN, etherType } from '../../net/wire/ether.js';
import {
  IPPROTO_ICMP,
  IP_DF,
  IP_HDR_MIN,
  IP_MF,
  IpCheck,
  ipCheck,
  ipDecrementTtl,
  ipDst,
  ipFragOffset,
  ipHl,
  ipHlen,
  ipId,
  ipIsFragment,
  ipLen,
  ipOff,
  ipOptionsLength,
  ipP,
  ipSetChecksum,
  ipSetHl,
  ipSetId,
  ipSetLen,
  ipSetOff,
  ipSetTtl,
  ipSrc,
  ipSum,
  ipTos,
  ipTtl,
  ipVersion,
  ipWriteHeader,
} from '../../net/wire/ipv4.js';
import {
  ADDR_1,
  ADDR_2,
  FRAME_ECHO_REQUEST,
  busSmallFrame,
  busSmallFrameCount,
  makePrng,
  randomBytes,
} from './helpers.js';

const I = ETHER_HDR_LEN; // the IP header starts after the Ethernet header

test('NetBSD\'s echo request IP header parses to the expected fields', (t) => {
  const f = busSmallFrame(FRAME_ECHO_REQUEST);
  t.is(ipCheck(f, I, f.length - I), IpCheck.Ok);
  t.is(ipVersion(f, I), 4);
  t.is(ipHl(f, I), 5);
  t.is(ipHlen(f, I), 20);
  t.is(ipOptionsLength(f, I), 0);
  t.is(ipTos(f, I), 0);
  t.is(ipLen(f, I), 84);
  t.is(ipId(f, I), 1);
  t.is(ipOff(f, I), 0);
  t.false(ipIsFragment(f, I));
  t.is(ipTtl(f, I), 255);
  t.is(ipP(f, I), IPPROTO_ICMP);
  t.is(ipSum(f, I), 0x37a4);
  t.is(ipSrc(f, I), ADDR_1);
  t.is(ipDst(f, I), ADDR_2);
});

test('every IPv4 frame of the capture passes ipCheck and re-emits byte for byte', (t) => {
  let seen = 0;
  for (let i = 0; i < busSmallFrameCount(); i++) {
    const f = busSmallFrame(i);
    if (etherType(f, 0) !== ETHERTYPE_IP) continue;
    seen++;
    t.is(ipCheck(f, I, f.length - I), IpCheck.Ok, `frame ${i}`);
    const out = new Uint8Array(IP_HDR_MIN);
    const n = ipWriteHeader(
      out, 0, ipTos(f, I), ipLen(f, I), ipId(f, I), ipOff(f, I), ipTtl(f, I), ipP(f, I), ipSrc(f, I), ipDst(f, I),
    );
    t.is(n, IP_HDR_MIN);
    t.deepEqual(out, f.subarray(I, I + IP_HDR_MIN), `frame ${i}`);
  }
  t.is(seen, 12);
});

test('every truncated length is rejected, with the counter BSD would bump, and nothing throws', (t) => {
  const f = busSmallFrame(FRAME_ECHO_REQUEST);
  const full = f.length - I;
  for (let len = 0; len < full; len++) {
    const expected = len < IP_HDR_MIN ? IpCheck.TooSmall : IpCheck.TooShort;
    t.is(ipCheck(f, I, len), expected, `len ${len}`);
    const short = f.slice(I, I + len);
    t.is(ipCheck(short, 0, len), expected);
    t.is(ipCheck(short, 0, full), IpCheck.TooSmall, 'a length beyond the buffer');
    t.notThrows(() => {
      ipVersion(short, 0);
      ipHlen(short, 0);
      ipLen(short, 0);
      ipSrc(short, 0);
      ipDst(short, 0);
      ipOptionsLength(short, 0);
      ipIsFragment(short, 0);
    });
  }
  t.is(ipCheck(f, I, full), IpCheck.Ok);
});

test('Ethernet padding after ip_len is accepted (the caller trims to ipLen)', (t) => {
  const f = busSmallFrame(FRAME_ECHO_REQUEST);
  const padded = new Uint8Array(f.length + 10);
  padded.set(f);
  t.is(ipCheck(padded, I, padded.length - I), IpCheck.Ok);
});

/** The echo request's IP packet, alone, with a mutation and optionally a fixed checksum. */
function mutated(mutate: (b: Uint8Array) => void, fixSum = true): Uint8Array {
  const b = busSmallFrame(FRAME_ECHO_REQUEST).slice(I);
  mutate(b);
  if (fixSum) ipSetChecksum(b, 0);
  return b;
}

test('each malformed header gets its own ipstat code, in NetBSD ip_input order', (t) => {
  t.is(ipCheck(mutated((b) => { b[0] = 0x65; }), 0, 84), IpCheck.BadVers);
  t.is(ipCheck(mutated((b) => { b[0] = 0x44; }, false), 0, 84), IpCheck.BadHlen);
  t.is(ipCheck(mutated((b) => { b[0] = 0x40; }, false), 0, 84), IpCheck.BadHlen);
  // hl 15 (60 bytes) but only 40 bytes received.
  t.is(ipCheck(mutated((b) => { b[0] = 0x4f; }, false), 0, 40), IpCheck.BadHlen);
  t.is(ipCheck(mutated((b) => { b[8] = 254; }, false), 0, 84), IpCheck.BadSum);
  t.is(ipCheck(mutated((b) => { ipSetLen(b, 0, 19); }), 0, 84), IpCheck.BadLen);
  t.is(ipCheck(mutated((b) => { ipSetLen(b, 0, 85); }), 0, 84), IpCheck.TooShort);
  // The checksum is checked before the total length, as in NetBSD.
  t.is(ipCheck(mutated((b) => { ipSetLen(b, 0, 19); }, false), 0, 84), IpCheck.BadSum);
  // Loopback may skip the checksum (ip_do_loopback_cksum = 0).
  t.is(ipCheck(mutated((b) => { b[8] = 254; }, false), 0, 84, false), IpCheck.Ok);
});

test('a header with options: ipOptionsLength, ipSetChecksum and ipCheck cover them', (t) => {
  // 24-byte header with a Router Alert option (RFC 2113: 0x94 0x04 0x0000), then 8 bytes.
  const b = new Uint8Array(32);
  ipWriteHeader(b, 0, 0, 32, 0x1234, IP_DF, 1, 2, ADDR_1, 0xe0000016);
  ipSetHl(b, 0, 6);
  b.set([0x94, 0x04, 0x00, 0x00], 20);
  ipSetChecksum(b, 0);
  t.is(ipHl(b, 0), 6);
  t.is(ipHlen(b, 0), 24);
  t.is(ipOptionsLength(b, 0), 4);
  t.is(inCksum(b, 0, 24), 0);
  t.is(ipCheck(b, 0, 32), IpCheck.Ok);
  t.is(ipCheck(b, 0, 23), IpCheck.BadHlen);
  t.is(ipOff(b, 0), IP_DF);
  t.false(ipIsFragment(b, 0));
});

test('fragment fields: MF and the offset in 8-byte units', (t) => {
  const b = busSmallFrame(FRAME_ECHO_REQUEST).slice(I);
  ipSetOff(b, 0, IP_MF | 185);
  t.true(ipIsFragment(b, 0));
  t.is(ipFragOffset(b, 0), 1480);
  ipSetOff(b, 0, 185);
  t.true(ipIsFragment(b, 0), 'the last fragment has no MF but an offset');
  ipSetOff(b, 0, IP_DF);
  t.false(ipIsFragment(b, 0));
  t.is(ipFragOffset(b, 0), 0);
  ipSetId(b, 0, 0xbeef);
  t.is(ipId(b, 0), 0xbeef);
});

test('ipDecrementTtl patches the checksum to what a recomputation gives', (t) => {
  const f = busSmallFrame(FRAME_ECHO_REQUEST);
  t.is(ipDecrementTtl(f, I), 254);
  t.is(ipTtl(f, I), 254);
  t.is(inCksum(f, I, 20), 0);
  const next = makePrng(1812);
  for (let round = 0; round < 300; round++) {
    const b = randomBytes(next, 20);
    b[0] = 0x45;
    const ttl = 1 + (round % 255);
    ipSetTtl(b, 0, ttl);
    ipSetChecksum(b, 0);
    t.is(ipDecrementTtl(b, 0), ttl - 1);
    const patched = ipSum(b, 0);
    ipSetChecksum(b, 0);
    t.is(patched, ipSum(b, 0), `round ${round} ttl ${ttl}`);
  }
  // TTL 0 is left alone rather than wrapping to 255.
  const z = busSmallFrame(FRAME_ECHO_REQUEST);
  ipSetTtl(z, I, 0);
  ipSetChecksum(z, I);
  t.is(ipDecrementTtl(z, I), 0);
  t.is(ipTtl(z, I), 0);
  t.is(inCksum(z, I, 20), 0);
});
