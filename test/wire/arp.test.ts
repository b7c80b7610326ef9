import test from 'ava';

import {
  ARPHRD_ETHER,
  ARPOP_REPLY,
  ARPOP_REQUEST,
  ARP_ETHER_IP_LEN,
  ArpCheck,
  arpCheck,
  arpCopySha,
  arpCopyTha,
  arpHln,
  arpHrd,
  arpOp,
  arpPln,
  arpPro,
  arpSetOp,
  arpSetSha,
  arpSetSpa,
  arpSetTha,
  arpSetTpa,
  arpShaEquals,
  arpShaIsBroadcast,
  arpSpa,
  arpThaEquals,
  arpTpa,
  arpWrite,
} from '../../net/wire/arp.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IP,
  ETHER_HDR_LEN,
  etherCopySrc,
  etherWriteHeader,
} from '../../net/wire/ether.js';
import { formatInAddr, formatMac, parseMac } from '../../net/wire/inaddr.js';
import {
  ADDR_1,
  ADDR_2,
  FRAME_ARP_REPLY,
  FRAME_ARP_REQUEST,
  FRAME_ARP_UNANSWERED,
  FRAME_GARP_1,
  FRAME_GARP_2,
  MAC_1,
  MAC_2,
  busSmallFrame,
} from './helpers.js';

const mac1 = parseMac(MAC_1)!;
const mac2 = parseMac(MAC_2)!;
const zeroMac = new Uint8Array(6);
const A = ETHER_HDR_LEN; // the ARP message starts after the Ethernet header

interface Expected {
  frame: number;
  op: number;
  sha: string;
  spa: number;
  tha: string;
  tpa: number;
}

const expected: Expected[] = [
  // Gratuitous ARP: a request for one's own address (RFC 5227 §3 "ARP Announcement").
  { frame: FRAME_GARP_1, op: ARPOP_REQUEST, sha: MAC_1, spa: ADDR_1, tha: '00:00:00:00:00:00', tpa: ADDR_1 },
  { frame: FRAME_GARP_2, op: ARPOP_REQUEST, sha: MAC_2, spa: ADDR_2, tha: '00:00:00:00:00:00', tpa: ADDR_2 },
  { frame: FRAME_ARP_REQUEST, op: ARPOP_REQUEST, sha: MAC_1, spa: ADDR_1, tha: '00:00:00:00:00:00', tpa: ADDR_2 },
  { frame: FRAME_ARP_REPLY, op: ARPOP_REPLY, sha: MAC_2, spa: ADDR_2, tha: MAC_1, tpa: ADDR_1 },
  { frame: FRAME_ARP_UNANSWERED, op: ARPOP_REQUEST, sha: MAC_1, spa: ADDR_1, tha: '00:00:00:00:00:00', tpa: 0xc0000209 },
];

test('NetBSD ARP messages parse to the expected fields', (t) => {
  for (const e of expected) {
    const f = busSmallFrame(e.frame);
    t.is(arpCheck(f, A, f.length - A), ArpCheck.Ok, `frame ${e.frame}`);
    t.is(arpHrd(f, A), ARPHRD_ETHER);
    t.is(arpPro(f, A), ETHERTYPE_IP);
    t.is(arpHln(f, A), 6);
    t.is(arpPln(f, A), 4);
    t.is(arpOp(f, A), e.op);
    const sha = new Uint8Array(6);
    const tha = new Uint8Array(6);
    arpCopySha(f, A, sha, 0);
    arpCopyTha(f, A, tha, 0);
    t.is(formatMac(sha), e.sha);
    t.is(formatMac(tha), e.tha);
    t.is(formatInAddr(arpSpa(f, A)), formatInAddr(e.spa));
    t.is(arpTpa(f, A), e.tpa);
    t.true(arpShaEquals(f, A, parseMac(e.sha)!, 0));
    t.true(arpThaEquals(f, A, parseMac(e.tha)!, 0));
    t.false(arpShaIsBroadcast(f, A));
  }
});

test('arpWrite from the parsed fields gives NetBSD\'s bytes', (t) => {
  for (const e of expected) {
    const f = busSmallFrame(e.frame);
    const out = new Uint8Array(ARP_ETHER_IP_LEN + 5).fill(0xee);
    const n = arpWrite(out, 5, e.op, parseMac(e.sha)!, e.spa, parseMac(e.tha)!, e.tpa);
    t.is(n, ARP_ETHER_IP_LEN);
    t.deepEqual(out.subarray(5), f.subarray(A, A + ARP_ETHER_IP_LEN), `frame ${e.frame}`);
  }
});

test('turning the request around in place gives exactly the frame NetBSD replied with', (t) => {
  // What in_arpinput does for a request for one of its addresses (RFC 826 "Packet Reception").
  const f = busSmallFrame(FRAME_ARP_REQUEST);
  const myMac = mac2;
  const requesterMac = new Uint8Array(6);
  arpCopySha(f, A, requesterMac, 0);
  const requesterAddr = arpSpa(f, A);
  const myAddr = arpTpa(f, A);
  arpSetTha(f, A, requesterMac, 0);
  arpSetTpa(f, A, requesterAddr);
  arpSetSha(f, A, myMac, 0);
  arpSetSpa(f, A, myAddr);
  arpSetOp(f, A, ARPOP_REPLY);
  etherWriteHeader(f, 0, requesterMac, 0, myMac, 0, ETHERTYPE_ARP);
  t.deepEqual(f, busSmallFrame(FRAME_ARP_REPLY));
});

test('every truncated length is rejected as BadLen, and nothing throws', (t) => {
  const f = busSmallFrame(FRAME_ARP_REPLY);
  for (let len = 0; len < ARP_ETHER_IP_LEN; len++) {
    t.is(arpCheck(f, A, len), ArpCheck.BadLen, `len ${len}`);
    const short = f.slice(A, A + len);
    t.is(arpCheck(short, 0, len), ArpCheck.BadLen);
    t.is(arpCheck(short, 0, ARP_ETHER_IP_LEN), ArpCheck.BadLen, 'length beyond the buffer');
    t.notThrows(() => {
      arpOp(short, 0);
      arpSpa(short, 0);
      arpTpa(short, 0);
      arpShaEquals(short, 0, mac1, 0);
      arpShaIsBroadcast(short, 0);
      arpCopyTha(short, 0, new Uint8Array(6), 0);
    });
  }
  // Ethernet padding after the 28 bytes is fine.
  const padded = new Uint8Array(46);
  padded.set(f.subarray(A, A + ARP_ETHER_IP_LEN));
  t.is(arpCheck(padded, 0, padded.length), ArpCheck.Ok);
});

test('other hardware or protocol types and lengths are BadProto', (t) => {
  const base = busSmallFrame(FRAME_ARP_REQUEST).slice(A);
  const cases: [string, (b: Uint8Array) => void][] = [
    ['IPv6 protocol type', (b) => { b[2] = 0x86; b[3] = 0xdd; }],
    ['hardware type 6 (IEEE 802)', (b) => { b[1] = 6; }],
    ['hln 8', (b) => { b[4] = 8; }],
    ['pln 16', (b) => { b[5] = 16; }],
  ];
  for (const [name, mutate] of cases) {
    const b = new Uint8Array(64);
    b.set(base);
    mutate(b);
    t.is(arpCheck(b, 0, b.length), ArpCheck.BadProto, name);
  }
  // Lengths announced by hln/pln that do not fit are BadLen, checked first (as NetBSD does).
  const b = base.slice();
  b[4] = 16;
  t.is(arpCheck(b, 0, b.length), ArpCheck.BadLen);
});

test('a broadcast sender hardware address is recognisable', (t) => {
  const f = busSmallFrame(FRAME_GARP_1);
  arpSetSha(f, A, Uint8Array.from([255, 255, 255, 255, 255, 255]), 0);
  t.true(arpShaIsBroadcast(f, A));
  t.false(arpThaEquals(f, A, mac1, 0));
  t.true(arpThaEquals(f, A, zeroMac, 0));
  const src = new Uint8Array(6);
  etherCopySrc(f, 0, src, 0);
  t.is(formatMac(src), MAC_1);
});
