import { readFileSync } from 'node:fs';

import test from 'ava';

import {
  classfulPrefixLen,
  formatInAddr,
  formatMac,
  formatMaskHex,
  formatNetShort,
  inAddrIsLoopback,
  inAddrIsMulticast,
  maskToPrefix,
  parseInAddr,
  parseInAddrPrefix,
  parseInNet,
  parseMac,
  prefixToMask,
} from '../../net/wire/inaddr.js';
import { REFERENCE_DIR } from './helpers.js';

const tools = readFileSync(`${REFERENCE_DIR}netbsd-tools.txt`, 'utf8');

test('parseInAddr accepts strict dotted quads', (t) => {
  const good: [string, number][] = [
    ['0.0.0.0', 0],
    ['127.0.0.1', 0x7f000001],
    ['192.0.2.1', 0xc0000201],
    ['198.51.100.255', 0xc63364ff],
    ['255.255.255.255', 0xffffffff],
    ['10.0.0.10', 0x0a00000a],
  ];
  for (const [s, n] of good) {
    t.is(parseInAddr(s), n, s);
    t.is(formatInAddr(n), s);
  }
});

test('parseInAddr rejects everything else', (t) => {
  const bad = [
    '', '1', '1.2', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.256', '1..2.3', '.1.2.3', '1.2.3.',
    '+1.2.3.4', '-1.2.3.4', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4 ', '01.2.3.4', '1.2.3.010', '0x1.2.3.4',
    '1.2.3.4/24', 'a.b.c.d', '1.2.3.4\n', '1,2,3,4', '1000.2.3.4', '１.2.3.4',
  ];
  for (const s of bad) t.is(parseInAddr(s), null, JSON.stringify(s));
});

test('formatInAddr takes any u32, including ones from signed bit operations', (t) => {
  t.is(formatInAddr(0xc0000201 | 0), '192.0.2.1');
  t.is(formatInAddr(~0 >>> 0), '255.255.255.255');
});

test('prefixToMask and maskToPrefix are inverse for 0..32', (t) => {
  for (let len = 0; len <= 32; len++) {
    const mask = prefixToMask(len);
    t.true(mask >= 0 && mask <= 0xffffffff);
    t.is(maskToPrefix(mask), len);
  }
  t.is(prefixToMask(24), 0xffffff00);
  t.is(prefixToMask(8), 0xff000000);
  t.is(prefixToMask(0), 0);
  t.is(prefixToMask(32), 0xffffffff);
});

test('maskToPrefix returns null for non-contiguous masks', (t) => {
  for (const m of [0xff00ff00, 0x00ffffff, 0xfffffffe ^ 0x100, 0x80000001, 0x0000ff00]) {
    t.is(maskToPrefix(m >>> 0), null, m.toString(16));
  }
});

test('prefixToMask refuses lengths that are not 0..32 with a RangeError', (t) => {
  for (const len of [-1, 33, 1.5, Number.NaN]) {
    t.throws(() => prefixToMask(len), { instanceOf: RangeError });
  }
});

test('formatMaskHex prints masks the way NetBSD ifconfig does', (t) => {
  // The transcript shows both of these masks.
  t.true(tools.includes(`inet 127.0.0.1 netmask ${formatMaskHex(prefixToMask(8))}`));
  t.true(tools.includes(`inet 192.0.2.1 netmask ${formatMaskHex(prefixToMask(24))} broadcast 192.0.2.255`));
  t.is(formatMaskHex(0xffffff00), '0xffffff00');
  // C's %#x: no zero padding, and zero has no prefix.
  t.is(formatMaskHex(0x00ffff00), '0xffff00');
  t.is(formatMaskHex(0), '0');
  t.is(formatMaskHex(0xffffffff | 0), '0xffffffff');
});

/** The route table lines of the transcript: [destination, flags]. */
function transcriptRoutes(): [string, string][] {
  const rows: [string, string][] = [];
  for (const line of tools.split('\n')) {
    const m = /^(\S+)\s+(\S+)\s+([A-Za-z]+)\s+-\s+-\s/.exec(line);
    if (m) rows.push([m[1]!, m[3]!]);
  }
  return rows;
}

test('every destination netstat/route printed in the transcript parses and prints back identically', (t) => {
  const rows = transcriptRoutes();
  const seen = rows.map(([d]) => d);
  t.true(seen.includes('192.0.2/24'));
  t.true(seen.includes('198.51.100/24'));
  t.true(seen.includes('127.0.0.1'));
  t.true(seen.includes('default'));
  for (const [dest, flags] of rows) {
    const net = parseInNet(dest);
    t.not(net, null, dest);
    const isHost = flags.includes('H');
    t.is(net!.host, isHost, `${dest} host flag`);
    t.is(formatNetShort(net!.addr, net!.prefixLen, isHost), dest);
  }
});

test('formatNetShort: as many octets as the prefix reaches, then /len', (t) => {
  const cases: [number, number, string][] = [
    [0, 0, 'default'],
    [0x0a000000, 8, '10/8'],
    [0xac100000, 12, '172.16/12'],
    [0xac100000, 16, '172.16/16'],
    [0xc0000200, 24, '192.0.2/24'],
    [0xc6336400, 24, '198.51.100/24'],
    [0xc0000280, 25, '192.0.2.128/25'],
    [0xc0000200, 23, '192.0.2/23'],
    [0x80000000, 1, '128/1'],
    [0xc0000201, 32, '192.0.2.1'],
    [0x7f000001, 32, '127.0.0.1'],
  ];
  for (const [addr, len, s] of cases) t.is(formatNetShort(addr, len), s);
  // A /32 network route without RTF_HOST keeps its length, as netstat prints it.
  t.is(formatNetShort(0xc0000201, 32, false), '192.0.2.1/32');
  // A host route to 0.0.0.0 prints as NetBSD's routename4 does.
  t.is(formatNetShort(0, 32, true), 'default');
});

test('parseInNet reads route destinations like NetBSD route(8)', (t) => {
  const cases: [string, number, number, boolean][] = [
    ['default', 0, 0, false],
    ['0.0.0.0', 0, 0, false],
    ['0/0', 0, 0, false],
    ['192.0.2/24', 0xc0000200, 24, false],
    ['192.0.2.0/24', 0xc0000200, 24, false],
    ['192.0.2.77/24', 0xc0000200, 24, false], // host bits cleared, as the kernel stores it
    ['10/8', 0x0a000000, 8, false],
    ['172.16/12', 0xac100000, 12, false],
    ['192.0.2.128/25', 0xc0000280, 25, false],
    ['192.0.2.1/32', 0xc0000201, 32, true],
    ['192.0.2.1', 0xc0000201, 32, true],
    ['127.0.0.1', 0x7f000001, 32, true],
    ['10.0.0.0', 0x0a000000, 8, false],
    ['172.16.0.0', 0xac100000, 16, false],
    ['192.0.2.0', 0xc0000200, 24, false],
    ['10.1.0.0', 0x0a010000, 32, true], // class A host part non-zero: a host, as in NetBSD
    ['10', 0x0a000000, 8, false],
    ['172.16', 0xac100000, 16, false],
    ['10.1', 0x0a010000, 16, false],
    ['192.0.2', 0xc0000200, 24, false],
    ['198.51.100', 0xc6336400, 24, false],
    ['192.168', 0xc0a80000, 24, false],
    ['192', 0xc0000000, 24, false],
    ['224', 0xe0000000, 4, false],
  ];
  for (const [s, addr, prefixLen, host] of cases) {
    t.deepEqual(parseInNet(s), { addr, prefixLen, host }, s);
  }
});

test('parseInNet rejects malformed destinations', (t) => {
  for (const s of [
    '', '/24', '192.0.2/', '192.0.2/33', '192.0.2/-1', '192.0.2/024', '192.0.2/2 4', '1.2.3.4.5',
    '256/8', '192..2/24', 'Default', 'default ', '192.0.2/24/1', '0x0a/8', '010/8', ' 10/8',
  ]) {
    t.is(parseInNet(s), null, JSON.stringify(s));
  }
});

test('parseInAddrPrefix reads ifconfig addresses and keeps host bits', (t) => {
  t.deepEqual(parseInAddrPrefix('192.0.2.1/24'), { addr: 0xc0000201, prefixLen: 24 });
  t.deepEqual(parseInAddrPrefix('198.51.100.1'), { addr: 0xc6336401, prefixLen: null });
  t.deepEqual(parseInAddrPrefix('10.0.0.1/0'), { addr: 0x0a000001, prefixLen: 0 });
  for (const s of ['192.0.2/24', '192.0.2.1/', '192.0.2.1/33', '192.0.2.1/24/8', 'x/24', '']) {
    t.is(parseInAddrPrefix(s), null, s);
  }
});

test('classfulPrefixLen is the mask NetBSD picks for an address given without one', (t) => {
  t.is(classfulPrefixLen(0x7f000001), 8);
  t.is(classfulPrefixLen(0x0a000001), 8);
  t.is(classfulPrefixLen(0xac100001), 16);
  t.is(classfulPrefixLen(0xc0000201), 24);
  t.is(classfulPrefixLen(0xe0000001), 24);
});

test('multicast and loopback predicates', (t) => {
  t.true(inAddrIsMulticast(0xe0000001));
  t.true(inAddrIsMulticast(0xefffffff));
  t.false(inAddrIsMulticast(0xdfffffff));
  t.false(inAddrIsMulticast(0xf0000000));
  t.true(inAddrIsLoopback(0x7f000001));
  t.true(inAddrIsLoopback(0x7fffffff));
  t.false(inAddrIsLoopback(0x80000000));
});

test('MAC addresses from the ifconfig transcript parse and format back identically', (t) => {
  const macs = [...new Set([...tools.matchAll(/address: ([0-9a-f:]+)/g)].map((m) => m[1]!))];
  t.deepEqual(macs, ['b2:a0:49:01:90:32', 'b2:a0:b8:65:15:51']);
  for (const s of macs) {
    const mac = parseMac(s);
    t.not(mac, null);
    t.is(mac!.length, 6);
    t.is(formatMac(mac!), s);
  }
  t.deepEqual(parseMac('b2:a0:49:01:90:32'), Uint8Array.from([0xb2, 0xa0, 0x49, 0x01, 0x90, 0x32]));
});

test('parseMac takes one or two hex digits per part in either case; formatMac reads at an offset', (t) => {
  t.deepEqual(parseMac('B2:A0:49:1:90:32'), Uint8Array.from([0xb2, 0xa0, 0x49, 0x01, 0x90, 0x32]));
  t.deepEqual(parseMac('0:0:0:0:0:0'), new Uint8Array(6));
  const frame = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xb2, 0xa0, 0x49, 0x01, 0x90, 0x32]);
  t.is(formatMac(frame, 0), 'ff:ff:ff:ff:ff:ff');
  t.is(formatMac(frame, 6), 'b2:a0:49:01:90:32');
});

test('parseMac rejects malformed addresses', (t) => {
  for (const s of [
    '', 'b2:a0:49:01:90', 'b2:a0:49:01:90:32:11', 'b2:a0:49:01:90:', ':a0:49:01:90:32', 'b2::49:01:90:32',
    'b2:a0:49:01:90:322', 'g2:a0:49:01:90:32', 'b2-a0-49-01-90-32', 'b2:a0:49:01:90:32 ', 'b2a0.4901.9032',
  ]) {
    t.is(parseMac(s), null, JSON.stringify(s));
  }
});
