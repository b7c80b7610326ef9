/*
 * IPv6 wire views: address text (RFC 4291 §2.2 in, RFC 5952 out), the
 * header (RFC 8200 §3) written and read back, every truncated length
 * refused, the pseudo-header checksum (RFC 8200 §8.1) against a sum done
 * by hand, and Neighbor Discovery messages (RFC 4861 §4.3, §4.4, §4.6).
 */
import test from 'ava';
import {
  IN6ADDR_ANY, formatIn6Addr, in6CommonPrefixLen, in6Equal, in6IsLinkLocal, in6IsLoopback, in6IsMulticast,
  in6IsSolicitedNodeOf, in6IsUnspecified, in6IsV4Mapped, in6MaskInto, in6MulticastMac, in6PrefixEqual, in6SolicitedNode,
  parseIn6Addr, parseIn6Prefix,
} from '../../net/wire/in6addr.js';
import {
  IP6_HDR_LEN, Ip6Check, ip6Check, ip6Cksum, ip6ExtLen, ip6Flow, ip6Hlim, ip6Nxt, ip6Plen,
  ip6PseudoSum, ip6Tclass, ip6Version, ip6WriteHeader, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMPV6,
} from '../../net/wire/ipv6.js';
import {
  Icmp6Check, ND_NA_FLAG_OVERRIDE, ND_NA_FLAG_SOLICITED, ND_NA_LEN, ND_NS_LEN, ND_OPT_SOURCE_LINKADDR,
  ND_OPT_TARGET_LINKADDR, icmp6Check, icmp6Code, icmp6IsError, icmp6Rest, icmp6SetChecksum, icmp6Type, ndFindLla,
  ndNaFlags, ndOptionsOk, ndWriteNa, ndWriteNs,
} from '../../net/wire/icmp6.js';
import { ip6 } from './helpers.js';

test('text: RFC 5952 canonical forms, from every spelling RFC 4291 allows', (t) => {
  const cases: Array<[string, string]> = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3: the first of equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: one zero group is not "::"
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3: the longest run
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['fe80::1:2', 'fe80::1:2'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // §5: mapped addresses keep the dotted quad
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['fd3d:fa7b:d17d::0', 'fd3d:fa7b:d17d::'],
  ];
  for (const [input, want] of cases) {
    const a = parseIn6Addr(input);
    t.truthy(a, input);
    t.is(formatIn6Addr(a!), want, input);
    t.deepEqual(parseIn6Addr(want), a, `${want} reads back`);
  }
});

test('text: what inet_pton refuses is null', (t) => {
  for (const bad of ['', ':', ':::', '1:::2', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '::1.2.3',
    '1.2.3.4', '::1.2.3.256', '::01.2.3.4', '1:', ':1', '1:2:3:4:5:6:7:8::', 'fe80::1%eth0', ' ::1']) {
    t.is(parseIn6Addr(bad), null, JSON.stringify(bad));
  }
  t.deepEqual(parseIn6Prefix('2001:db8::1/64'), { addr: ip6('2001:db8::1'), prefixLen: 64 });
  t.deepEqual(parseIn6Prefix('2001:db8::1'), { addr: ip6('2001:db8::1'), prefixLen: null });
  for (const bad of ['2001:db8::1/129', '2001:db8::1/064', '2001:db8::1/', '/64']) t.is(parseIn6Prefix(bad), null, bad);
});

test('classes, prefixes, solicited-node group and its multicast MAC', (t) => {
  t.true(in6IsUnspecified(IN6ADDR_ANY, 0));
  t.true(in6IsLoopback(ip6('::1'), 0));
  t.true(in6IsMulticast(ip6('ff02::1'), 0));
  t.true(in6IsLinkLocal(ip6('fe80::1'), 0));
  t.false(in6IsLinkLocal(ip6('fec0::1'), 0));
  t.true(in6IsV4Mapped(ip6('::ffff:10.0.0.1'), 0));
  t.true(in6PrefixEqual(ip6('2001:db8:1:2::1'), 0, ip6('2001:db8:1:3::1'), 0, 63));
  t.false(in6PrefixEqual(ip6('2001:db8:1:2::1'), 0, ip6('2001:db8:1:3::1'), 0, 64));
  t.is(in6CommonPrefixLen(ip6('2001:db8::1'), 0, ip6('2001:db8::3'), 0), 126);
  const net = new Uint8Array(16);
  in6MaskInto(ip6('2001:db8:aaaa:bbbb:cccc::1'), 0, 36, net, 0);
  t.is(formatIn6Addr(net), '2001:db8:a000::');
  // RFC 4291 §2.7.1: ff02::1:ff00:0/104 and the low 24 bits.
  const sn = new Uint8Array(16);
  in6SolicitedNode(ip6('2001:db8::1234:5678'), 0, sn, 0);
  t.is(formatIn6Addr(sn), 'ff02::1:ff34:5678');
  t.true(in6IsSolicitedNodeOf(sn, 0, ip6('fe80::9934:5678'), 0));
  t.false(in6IsSolicitedNodeOf(sn, 0, ip6('fe80::9934:5679'), 0));
  const mac = new Uint8Array(6);
  in6MulticastMac(sn, 0, mac);
  t.deepEqual([...mac], [0x33, 0x33, 0xff, 0x34, 0x56, 0x78]);
  // Addresses are compared where they lie, at any offset.
  const pkt = new Uint8Array(40);
  pkt.set(ip6('2001:db8::9'), 7);
  t.true(in6Equal(pkt, 7, ip6('2001:db8::9'), 0));
});

test('the fixed header round-trips, and every truncation is refused by ip6Check', (t) => {
  const b = new Uint8Array(IP6_HDR_LEN + 8);
  ip6WriteHeader(b, 0, 0xb8, 0xabcde, 8, IPPROTO_ICMPV6, 255, ip6('2001:db8::1'), 0, ip6('2001:db8::2'), 0);
  t.is(b[0]! >>> 4, 6);
  t.is(ip6Version(b, 0), 6);
  t.is(ip6Tclass(b, 0), 0xb8);
  t.is(ip6Flow(b, 0), 0xabcde);
  t.is(ip6Plen(b, 0), 8);
  t.is(ip6Nxt(b, 0), IPPROTO_ICMPV6);
  t.is(ip6Hlim(b, 0), 255);
  t.is(formatIn6Addr(b, 8), '2001:db8::1');
  t.is(formatIn6Addr(b, 24), '2001:db8::2');
  t.is(ip6Check(b, 0, b.length), Ip6Check.Ok);
  for (let len = 0; len < b.length; len++) {
    t.is(ip6Check(b, 0, len), len < 40 ? Ip6Check.TooSmall : Ip6Check.TooShort, `length ${len}`);
  }
  // Padding after the payload is fine (the caller trims); a wrong version is not.
  t.is(ip6Check(new Uint8Array([...b, 0, 0]), 0, b.length + 2), Ip6Check.Ok);
  const v4 = b.slice();
  v4[0] = 0x45;
  t.is(ip6Check(v4, 0, v4.length), Ip6Check.BadVers);
  t.is(ip6ExtLen(Uint8Array.of(6, 1), 0, IPPROTO_HOPOPTS), 16);
  t.is(ip6ExtLen(Uint8Array.of(6, 9), 0, IPPROTO_FRAGMENT), 8);
});

test('pseudo-header checksum (RFC 8200 §8.1) equals a sum done by hand, and verifies to 0', (t) => {
  const src = ip6('2001:db8::1');
  const dst = ip6('fe80::abcd:1');
  const data = Uint8Array.from({ length: 33 }, (_, i) => (i * 29 + 3) & 0xff);
  // By hand: 16-bit words of both addresses, the 32-bit length, 3 zero bytes and the next header.
  let sum = 0;
  for (const a of [src, dst]) for (let i = 0; i < 16; i += 2) sum += (a[i]! << 8) | a[i + 1]!;
  sum += data.length + 6;
  for (let i = 0; i < data.length; i += 2) sum += (data[i]! << 8) | (data[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const want = ~sum & 0xffff;
  t.is(ip6Cksum(data, 0, data.length, 6, src, 0, dst, 0), want);
  const ps = ip6PseudoSum(src, 0, dst, 0, data.length, 6);
  t.true(ps >= 0 && ps <= 0xffff);
  // With the checksum in place (an even-aligned field), the whole verifies.
  const seg = new Uint8Array(20);
  seg.set([0x1f, 0x90, 0x00, 0x50]);
  const c = ip6Cksum(seg, 0, 20, 6, src, 0, dst, 0);
  seg[16] = c >>> 8;
  seg[17] = c & 0xff;
  t.is(ip6Cksum(seg, 0, 20, 6, src, 0, dst, 0), 0);
  seg[0]! ^= 1;
  t.not(ip6Cksum(seg, 0, 20, 6, src, 0, dst, 0), 0, 'one flipped bit is noticed');
});

test('Neighbor Solicitation and Advertisement: written, checksummed, parsed, options checked', (t) => {
  const src = ip6('2001:db8::1');
  const target = ip6('2001:db8::2');
  const mac = Uint8Array.of(0x02, 0, 0, 0, 0, 7);
  const b = new Uint8Array(IP6_HDR_LEN + 64);
  const o = IP6_HDR_LEN;
  const nsLen = ndWriteNs(b, o, target, 0, mac);
  t.is(nsLen, ND_NS_LEN + 8);
  const sn = new Uint8Array(16);
  in6SolicitedNode(target, 0, sn, 0);
  ip6WriteHeader(b, 0, 0, 0, nsLen, IPPROTO_ICMPV6, 255, src, 0, sn, 0);
  icmp6SetChecksum(b, o, nsLen, src, 0, sn, 0);
  t.is(icmp6Check(b, o, nsLen, 0), Icmp6Check.Ok);
  t.is(icmp6Type(b, o), 135);
  t.is(icmp6Code(b, o), 0);
  t.is(formatIn6Addr(b, o + 8), '2001:db8::2');
  t.true(ndOptionsOk(b, o, ND_NS_LEN, nsLen));
  t.deepEqual([...b.subarray(ndFindLla(b, o, ND_NS_LEN, nsLen, ND_OPT_SOURCE_LINKADDR))].slice(0, 6), [...mac]);
  t.is(ndFindLla(b, o, ND_NS_LEN, nsLen, ND_OPT_TARGET_LINKADDR), -1);
  b[o + 30]! ^= 0x40;
  t.is(icmp6Check(b, o, nsLen, 0), Icmp6Check.BadSum);
  for (let len = 0; len < 8; len++) t.is(icmp6Check(b, o, len, 0), Icmp6Check.TooShort);

  const na = new Uint8Array(64);
  const naLen = ndWriteNa(na, 0, ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE, target, 0, mac);
  t.is(naLen, ND_NA_LEN + 8);
  t.is(ndNaFlags(na, 0), 0x60);
  t.is(icmp6Rest(na, 0), 0x60000000);
  t.true(ndOptionsOk(na, 0, ND_NA_LEN, naLen));
  // RFC 4861 §7.1.2: an option of length 0, or one running past the end, makes the message invalid.
  const zero = na.slice();
  zero[ND_NA_LEN + 1] = 0;
  t.false(ndOptionsOk(zero, 0, ND_NA_LEN, naLen));
  t.false(ndOptionsOk(na, 0, ND_NA_LEN, naLen - 1));
  t.false(icmp6IsError(136));
  t.true(icmp6IsError(1));
});
