import test from 'ava';

import {
  DnsType, DnsRcode, dnsMessage, encodeDnsMessage, encodeDnsQuery, parseDnsMessage, reverseName, type DnsMessage,
} from '../../net/wire/dns.js';
import { fromHex } from './helpers.js';

// A query for www.example.com A, ID 0x1234, RD (RFC 1035 4.1, written out by hand).
const QUERY_HEX = '123401000001000000000000' + '03777777076578616d706c6503636f6d00' + '00010001';
// Its answer: QR RD RA, one A record whose owner name is a pointer to offset 12 (c00c), TTL 3600, 192.0.2.1.
const ANSWER_HEX = '123481800001000100000000' + '03777777076578616d706c6503636f6d00' + '00010001' +
  'c00c' + '0001' + '0001' + '00000e10' + '0004' + 'c0000201';

test('a query encodes to the RFC 1035 bytes', (t) => {
  t.is(Buffer.from(encodeDnsQuery(0x1234, 'www.example.com', DnsType.A)).toString('hex'), QUERY_HEX);
  t.is(Buffer.from(encodeDnsQuery(0x1234, 'www.example.com.', DnsType.A)).toString('hex'), QUERY_HEX, 'trailing dot');
});

test('an answer with a compressed name parses; re-encoding compresses the same way', (t) => {
  const m = parseDnsMessage(fromHex(ANSWER_HEX))!;
  t.like(m, { id: 0x1234, qr: true, rd: true, ra: true, aa: false, tc: false, rcode: DnsRcode.NOERROR });
  t.deepEqual(m.questions, [{ name: 'www.example.com', type: DnsType.A, class: 1 }]);
  t.deepEqual(m.answers, [{ name: 'www.example.com', type: DnsType.A, class: 1, ttl: 3600, data: '192.0.2.1' }]);
  t.is(Buffer.from(encodeDnsMessage(m)).toString('hex'), ANSWER_HEX);
});

test('every record type round-trips', (t) => {
  const m: DnsMessage = dnsMessage({
    id: 7, qr: true, aa: true, tc: true, rcode: DnsRcode.NXDOMAIN,
    questions: [{ name: 'lab.example', type: DnsType.ANY, class: 1 }],
    answers: [
      { name: 'lab.example', type: DnsType.AAAA, class: 1, ttl: 1, data: '2001:db8::1' },
      { name: 'lab.example', type: DnsType.MX, class: 1, ttl: 2, data: { priority: 10, exchange: 'mx.lab.example' } },
      { name: 'lab.example', type: DnsType.TXT, class: 1, ttl: 3, data: ['a', '', 'ünïcode'] },
      { name: '_s._tcp.lab.example', type: DnsType.SRV, class: 1, ttl: 4, data: { priority: 1, weight: 2, port: 3, name: 't.lab.example' } },
      { name: 'x.lab.example', type: DnsType.CNAME, class: 1, ttl: 5, data: 'lab.example' },
      { name: 'lab.example', type: DnsType.CAA, class: 1, ttl: 6, data: { critical: 0, tag: 'issue', value: 'ca.example' } },
      {
        name: 'lab.example', type: DnsType.NAPTR, class: 1, ttl: 10,
        data: { flags: 'S', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.lab.example', order: 100, preference: 10 },
      },
      { name: 'lab.example', type: 99, class: 1, ttl: 7, data: new Uint8Array([1, 2, 3]) },
    ],
    authorities: [
      {
        name: 'lab.example', type: DnsType.SOA, class: 1, ttl: 8,
        data: { nsname: 'ns.lab.example', hostmaster: 'h.lab.example', serial: 0xffffffff, refresh: 1, retry: 2, expire: 3, minttl: 4 },
      },
    ],
    additionals: [{ name: 'ns.lab.example', type: DnsType.NS, class: 1, ttl: 9, data: 'ns.lab.example' }],
  });
  t.deepEqual(parseDnsMessage(encodeDnsMessage(m)), m);
});

test('every truncation of an answer parses to null or a value, never throws', (t) => {
  const full = fromHex(ANSWER_HEX);
  for (let n = 0; n < full.length; n++) {
    t.notThrows(() => parseDnsMessage(full.subarray(0, n)));
    t.is(parseDnsMessage(full.subarray(0, n)), null, `length ${n}`);
  }
});

test('hostile names: forward pointers, loops and over-long names are refused', (t) => {
  const head = '123481800001000000000000';
  t.is(parseDnsMessage(fromHex(head + 'c00c00010001')), null, 'a pointer to itself');
  t.is(parseDnsMessage(fromHex(head + 'c01000010001' + '00')), null, 'a pointer forward');
  const long = ('3f' + '61'.repeat(63)).repeat(5) + '00';
  t.is(parseDnsMessage(fromHex(head + long + '00010001')), null, 'a 320-byte name');
  t.is(parseDnsMessage(fromHex(head + '4061' + '00010001')), null, 'an extended label type');
  t.throws(() => encodeDnsQuery(1, 'a'.repeat(64) + '.example', DnsType.A), { instanceOf: RangeError });
});

test('reverse names for PTR (RFC 1035 3.5, RFC 3596 2.5)', (t) => {
  t.is(reverseName('192.0.2.80'), '80.2.0.192.in-addr.arpa');
  t.is(reverseName('2001:db8::1'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  t.is(reverseName('nope'), null);
});
