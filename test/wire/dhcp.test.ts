/*
 * DHCP message parsing (RFC 2131 §2, options RFC 2132): a client's request
 * as a server reads it, a reply's options (including overload into file
 * and sname), and hostile input never throwing.
 */
import test from 'ava';
import { createSimHost } from '../../index.js';
import {
  DHCPDISCOVER, DHCP_FLAG_BROADCAST, DHCP_MIN_LEN, dhcpBuildRequest, dhcpParseReply,
} from '../../net/wire/dhcp.js';
import { buildReply, num } from '../helpers/dhcp-server.js';

const MAC = new Uint8Array([0xb2, 0x0a, 1, 2, 3, 4]);

test('a DISCOVER: BOOTREQUEST, broadcast flag, the cookie, client id and parameter list, padded to 300 bytes', (t) => {
  const b = dhcpBuildRequest({ type: DHCPDISCOVER, xid: 0x12345678, secs: 3, flags: DHCP_FLAG_BROADCAST, ciaddr: 0, chaddr: MAC, hostname: 'rump' });
  t.is(b.length, DHCP_MIN_LEN);
  t.deepEqual([...b.subarray(0, 12)], [1, 1, 6, 0, 0x12, 0x34, 0x56, 0x78, 0, 3, 0x80, 0]);
  t.deepEqual([...b.subarray(28, 34)], [...MAC]);
  t.deepEqual([...b.subarray(236, 243)], [99, 130, 83, 99, 53, 1, 1]);
  t.deepEqual([...b.subarray(243, 252)], [61, 7, 1, ...MAC]);
  const s = Buffer.from(b).toString('latin1');
  t.true(s.includes('\x37\x07\x01\x03\x06\x0f\x33\x3a\x3b'), 'option 55: mask, router, dns, domain, lease, T1, T2');
  t.true(s.includes('\x0c\x04rump'));
});

test('a reply: every option a client uses; overload puts more options in file and sname', (t) => {
  const r = dhcpParseReply(buildReply({ type: 5, xid: 7, chaddr: MAC, yiaddr: num('192.0.2.50'), lease: 600 }))!;
  t.like(r, { type: 5, xid: 7, yiaddr: num('192.0.2.50'), serverId: num('192.0.2.1'), mask: num('255.255.255.0'), lease: 600, domain: 'lab.example', t1: null });
  t.deepEqual(r.routers, [num('192.0.2.254')]);
  t.deepEqual(r.dns, [num('192.0.2.53'), num('192.0.2.54')]);
  // Overload 1: T1 in the file field.
  const o = buildReply({ type: 5, xid: 7, chaddr: MAC, yiaddr: num('192.0.2.50'), extra: [52, 1, 1] });
  o.set([58, 4, 0, 0, 0, 100, 255], 108);
  t.is(dhcpParseReply(o)!.t1, 100);
  // An option overflowing the file field is the whole reply refused.
  o.set([58, 4, 0, 0, 0, 100, 43, 200], 108);
  o.fill(1, 116, 236);
  t.is(dhcpParseReply(o), null);
});

test('hostile replies: truncations, random bytes and single-byte corruptions never throw', (t) => {
  const sim = createSimHost({ seed: 99 });
  const good = buildReply({ type: 2, xid: 1, chaddr: MAC, yiaddr: num('192.0.2.50') });
  let parsed = 0;
  for (let n = 0; n <= good.length; n++) if (dhcpParseReply(good.subarray(0, n)) !== null) parsed++;
  t.true(parsed > 0 && parsed < good.length, 'short ones are refused, whole ones read');
  for (let i = 0; i < 20_000; i++) {
    const b = good.slice();
    const hits = 1 + (sim.random32() % 4);
    for (let j = 0; j < hits; j++) b[240 + (sim.random32() % 60)] = sim.random32() & 0xff;
    t.notThrows(() => dhcpParseReply(b.subarray(0, 240 + (sim.random32() % 61))));
  }
  const junk = new Uint8Array(600);
  for (let i = 0; i < 2000; i++) {
    for (let j = 0; j < junk.length; j++) junk[j] = sim.random32() & 0xff;
    junk[0] = 2; junk[1] = 1; junk[2] = 6; junk.set([99, 130, 83, 99], 236);
    t.notThrows(() => dhcpParseReply(junk));
  }
});
