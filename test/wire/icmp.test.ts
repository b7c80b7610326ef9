import test from 'ava';

import { ETHERTYPE_IP, ETHER_HDR_LEN, etherCopySrc, etherType, etherWriteHeader } from '../../net/wire/ether.js';
import {
  ICMP_ADVLENMIN,
  ICMP_ECHO,
  ICMP_ECHOREPLY,
  ICMP_HDR_LEN,
  ICMP_PARAMPROB,
  ICMP_REDIRECT,
  ICMP_REDIRECT_HOST,
  ICMP_SOURCEQUENCH,
  ICMP_TIMXCEED,
  ICMP_TIMXCEED_INTRANS,
  ICMP_UNREACH,
  ICMP_UNREACH_NEEDFRAG,
  IcmpCheck,
  icmpCheck,
  icmpCksum,
  icmpCode,
  icmpGateway,
  icmpId,
  icmpIsError,
  icmpNextMtu,
  icmpPptr,
  icmpQuoteCheck,
  icmpRestOfHeader,
  icmpSeq,
  icmpSetChecksum,
  icmpSetCode,
  icmpSetId,
  icmpSetSeq,
  icmpSetType,
  icmpType,
  icmpWriteEcho,
  icmpWriteHeader,
} from '../../net/wire/icmp.js';
import {
  IPPROTO_ICMP,
  IP_HDR_MIN,
  IP_MAXTTL,
  IpCheck,
  ipCheck,
  ipDst,
  ipHlen,
  ipId,
  ipLen,
  ipP,
  ipSrc,
  ipWriteHeader,
} from '../../net/wire/ipv4.js';
import { parseMac } from '../../net/wire/inaddr.js';
import {
  ADDR_1,
  ADDR_2,
  FRAME_ECHO_REPLY,
  FRAME_ECHO_REQUEST,
  MAC_2,
  busSmallFrame,
  busSmallFrameCount,
} from './helpers.js';

const I = ETHER_HDR_LEN;
const C = ETHER_HDR_LEN + IP_HDR_MIN; // the ICMP message in the capture's frames
const ECHO_LEN = 64; // ping's 56 data bytes + 8

test('NetBSD\'s echo request and reply parse to the expected fields', (t) => {
  const req = busSmallFrame(FRAME_ECHO_REQUEST);
  t.is(icmpCheck(req, C, ECHO_LEN), IcmpCheck.Ok);
  t.is(icmpType(req, C), ICMP_ECHO);
  t.is(icmpCode(req, C), 0);
  t.is(icmpCksum(req, C), 0xb756);
  t.is(icmpId(req, C), 0x0170);
  t.is(icmpSeq(req, C), 0);
  t.is(icmpRestOfHeader(req, C), 0x01700000);
  t.false(icmpIsError(icmpType(req, C)));

  const rep = busSmallFrame(FRAME_ECHO_REPLY);
  t.is(icmpCheck(rep, C, ECHO_LEN), IcmpCheck.Ok);
  t.is(icmpType(rep, C), ICMP_ECHOREPLY);
  t.is(icmpId(rep, C), 0x0170);
  t.is(icmpSeq(rep, C), 0);
  // The reply echoes the data unchanged (RFC 792 "Echo or Echo Reply Message").
  t.deepEqual(rep.subarray(C + ICMP_HDR_LEN), req.subarray(C + ICMP_HDR_LEN));
});

test('all twelve ICMP messages of the capture verify; requests and replies pair up by id and seq', (t) => {
  const requests: string[] = [];
  const replies: string[] = [];
  for (let i = 0; i < busSmallFrameCount(); i++) {
    const f = busSmallFrame(i);
    if (etherType(f, 0) !== ETHERTYPE_IP) continue;
    t.is(ipCheck(f, I, f.length - I), IpCheck.Ok);
    t.is(ipP(f, I), IPPROTO_ICMP);
    const len = ipLen(f, I) - ipHlen(f, I);
    t.is(icmpCheck(f, I + ipHlen(f, I), len), IcmpCheck.Ok, `frame ${i}`);
    const key = `${icmpId(f, C)}/${icmpSeq(f, C)}`;
    (icmpType(f, C) === ICMP_ECHO ? requests : replies).push(key);
  }
  t.deepEqual(requests, ['368/0', '368/1', '368/2', '7913/0', '7913/1', '7913/2']);
  t.deepEqual(replies, requests);
});

test('icmpWriteEcho and icmpSetChecksum re-emit the request byte for byte', (t) => {
  const req = busSmallFrame(FRAME_ECHO_REQUEST);
  const out = new Uint8Array(ECHO_LEN);
  out.set(req.subarray(C + ICMP_HDR_LEN, C + ECHO_LEN), ICMP_HDR_LEN); // data first, as output does
  t.is(icmpWriteEcho(out, 0, ICMP_ECHO, icmpId(req, C), icmpSeq(req, C)), ICMP_HDR_LEN);
  icmpSetChecksum(out, 0, ECHO_LEN);
  t.deepEqual(out, req.subarray(C, C + ECHO_LEN));
});

test('reflecting the echo request in place gives exactly the frame NetBSD answered with', (t) => {
  // icmp_input → icmp_reflect: type 0, addresses swapped, TTL MAXTTL, same id.
  const f = busSmallFrame(FRAME_ECHO_REQUEST);
  const requesterMac = new Uint8Array(6);
  etherCopySrc(f, 0, requesterMac, 0);
  icmpSetType(f, C, ICMP_ECHOREPLY);
  icmpSetChecksum(f, C, ECHO_LEN);
  ipWriteHeader(f, I, 0, ipLen(f, I), ipId(f, I), 0, IP_MAXTTL, IPPROTO_ICMP, ipDst(f, I), ipSrc(f, I));
  etherWriteHeader(f, 0, requesterMac, 0, parseMac(MAC_2)!, 0, ETHERTYPE_IP);
  t.deepEqual(f, busSmallFrame(FRAME_ECHO_REPLY));
});

test('every truncated length is rejected, and nothing throws', (t) => {
  const f = busSmallFrame(FRAME_ECHO_REQUEST);
  for (let len = 0; len < ECHO_LEN; len++) {
    const r = icmpCheck(f, C, len);
    t.is(r, len < ICMP_HDR_LEN ? IcmpCheck.TooShort : IcmpCheck.BadSum, `len ${len}`);
    const short = f.slice(C, C + len);
    t.not(icmpCheck(short, 0, len), IcmpCheck.Ok);
    t.is(icmpCheck(short, 0, ECHO_LEN), IcmpCheck.TooShort, 'a length beyond the buffer');
    t.notThrows(() => {
      icmpType(short, 0);
      icmpId(short, 0);
      icmpSeq(short, 0);
      icmpNextMtu(short, 0);
      icmpGateway(short, 0);
      icmpQuoteCheck(short, 0, len);
    });
  }
});

test('a corrupted byte anywhere in the message fails the checksum', (t) => {
  for (let at = 0; at < ECHO_LEN; at++) {
    const f = busSmallFrame(FRAME_ECHO_REQUEST);
    f[C + at]! ^= 0x10;
    t.is(icmpCheck(f, C, ECHO_LEN), IcmpCheck.BadSum, `byte ${at}`);
  }
});

/** A "fragmentation needed" error quoting the echo request (RFC 1191 §4), as a router would send it. */
function needFrag(quoteLen: number, nextMtu: number): Uint8Array {
  const req = busSmallFrame(FRAME_ECHO_REQUEST);
  const msg = new Uint8Array(ICMP_HDR_LEN + quoteLen);
  msg.set(req.subarray(I, I + quoteLen), ICMP_HDR_LEN);
  icmpWriteHeader(msg, 0, ICMP_UNREACH, ICMP_UNREACH_NEEDFRAG, nextMtu);
  icmpSetChecksum(msg, 0, msg.length);
  return msg;
}

test('an error message: next-hop MTU and the quoted datagram', (t) => {
  const msg = needFrag(IP_HDR_MIN + 8, 1400);
  t.is(msg.length, ICMP_ADVLENMIN);
  t.is(icmpCheck(msg, 0, msg.length), IcmpCheck.Ok);
  t.true(icmpIsError(icmpType(msg, 0)));
  t.is(icmpCode(msg, 0), ICMP_UNREACH_NEEDFRAG);
  t.is(icmpNextMtu(msg, 0), 1400);
  t.is(icmpQuoteCheck(msg, 0, msg.length), IcmpCheck.Ok);
  // The quoted header is read with the IPv4 accessors.
  const q = ICMP_HDR_LEN;
  t.is(ipSrc(msg, q), ADDR_1);
  t.is(ipDst(msg, q), ADDR_2);
  t.is(ipP(msg, q), IPPROTO_ICMP);
  // And the 8 bytes after it are the quoted ICMP header.
  t.is(icmpId(msg, q + ipHlen(msg, q)), 0x0170);
});

test('icmpQuoteCheck: too short a quote, or a quoted header length < 5, is BadLen', (t) => {
  for (let quote = 0; quote < IP_HDR_MIN + 8; quote++) {
    const msg = needFrag(quote, 1400);
    t.is(icmpCheck(msg, 0, msg.length), IcmpCheck.Ok, 'the message itself is fine');
    t.is(icmpQuoteCheck(msg, 0, msg.length), IcmpCheck.BadLen, `quote ${quote}`);
  }
  const bad = needFrag(IP_HDR_MIN + 8, 1400);
  bad[ICMP_HDR_LEN] = 0x44;
  t.is(icmpQuoteCheck(bad, 0, bad.length), IcmpCheck.BadLen);
  // A quoted header with options needs its options plus 8 bytes.
  const opts = needFrag(IP_HDR_MIN + 8, 1400);
  opts[ICMP_HDR_LEN] = 0x46;
  t.is(icmpQuoteCheck(opts, 0, opts.length), IcmpCheck.BadLen);
  const longer = new Uint8Array(opts.length + 4);
  longer.set(opts);
  t.is(icmpQuoteCheck(longer, 0, longer.length), IcmpCheck.Ok);
});

test('redirect gateway, parameter-problem pointer, and the setters', (t) => {
  const m = new Uint8Array(ICMP_ADVLENMIN);
  icmpWriteHeader(m, 0, ICMP_REDIRECT, ICMP_REDIRECT_HOST, 0xc00002fe);
  t.is(icmpGateway(m, 0), 0xc00002fe);
  icmpWriteHeader(m, 0, ICMP_PARAMPROB, 0, 9 << 24);
  t.is(icmpPptr(m, 0), 9);
  icmpSetType(m, 0, ICMP_TIMXCEED);
  icmpSetCode(m, 0, ICMP_TIMXCEED_INTRANS);
  icmpSetId(m, 0, 0xabcd);
  icmpSetSeq(m, 0, 0x1234);
  t.is(icmpType(m, 0), ICMP_TIMXCEED);
  t.is(icmpCode(m, 0), ICMP_TIMXCEED_INTRANS);
  t.is(icmpId(m, 0), 0xabcd);
  t.is(icmpSeq(m, 0), 0x1234);
  icmpSetChecksum(m, 0, m.length);
  t.is(icmpCheck(m, 0, m.length), IcmpCheck.Ok);
  for (const type of [ICMP_UNREACH, ICMP_SOURCEQUENCH, ICMP_REDIRECT, ICMP_TIMXCEED, ICMP_PARAMPROB]) {
    t.true(icmpIsError(type));
  }
  for (const type of [ICMP_ECHO, ICMP_ECHOREPLY, 13, 14, 17, 18, 255]) t.false(icmpIsError(type));
});
