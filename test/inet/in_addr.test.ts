/*
 * The one address type (net/inet/in_addr.ts): IPv4 held v4-mapped, any as
 * :: for both families, the 16-byte form in and out, and a four-tuple
 * inline (InConnInfo) compared and hashed as the PCB table and SYN cache do.
 */
import test from 'ava';
import { InAddr, InConnInfo, connHashKey, formatAddr } from '../../net/inet/in_addr.js';
import { parseInAddr } from '../../net/wire/inaddr.js';
import { parseIn6Addr } from '../../net/wire/in6addr.js';

const v4 = (s: string): InAddr => new InAddr().setV4(parseInAddr(s)!);
const v6 = (s: string): InAddr => new InAddr().load(parseIn6Addr(s)!, 0);

test('an IPv4 address is its v4-mapped IPv6 form; INADDR_ANY is ::', (t) => {
  const a = v4('192.0.2.1');
  t.true(a.equals(v6('::ffff:192.0.2.1')));
  t.true(a.isV4());
  t.is(a.v4(), parseInAddr('192.0.2.1')!);
  const any = v4('0.0.0.0');
  t.true(any.isAny());
  t.true(any.equals(v6('::')));
  t.false(any.isV4());
  t.true(any.isV4OrAny());
  t.false(v6('2001:db8::1').isV4OrAny());
  t.false(v6('::1').isV4());
});

test('the 16-byte form goes in and out unchanged, words with the top bit set included', (t) => {
  for (const s of ['ff02::1:ff00:1', 'fe80::1', '2001:db8:ffff:ffff::8000:1', '::ffff:255.255.255.255']) {
    const b = new Uint8Array(16);
    v6(s).store(b, 0);
    t.deepEqual([...b], [...parseIn6Addr(s)!], s);
  }
  t.is(formatAddr(v4('192.0.2.1'), false), '192.0.2.1');
  t.is(formatAddr(v4('192.0.2.1'), true), '::ffff:192.0.2.1');
  t.is(formatAddr(v4('0.0.0.0'), false), '0.0.0.0');
  t.is(formatAddr(v4('0.0.0.0'), true), '::');
  t.is(formatAddr(v6('2001:db8::1'), false), '2001:db8::1');
});

test('a four-tuple held inline compares and hashes as the values it was set from', (t) => {
  const c = new InConnInfo();
  const l = v6('2001:db8::1');
  const f = v6('2001:db8::2');
  c.setLocal(l);
  c.lport = 80;
  c.setForeign(f);
  c.fport = 40000;
  t.true(c.is(f, 40000, l, 80));
  t.false(c.is(v6('2001:db9::2'), 40000, l, 80), 'a high word differs');
  t.false(c.is(v4('0.0.0.2'), 40000, l, 80), 'the low word alone does not make it the same address');
  t.is(c.connKeyOf(), connHashKey(f, 40000, l, 80));
  t.true(c.localInto(new InAddr()).equals(l));
  t.false(c.foreignIsV4());
  c.clearAddrs(true);
  t.true(c.foreignIsAny());
  t.is(c.fport, 0);
  t.true(c.localIs(l), 'a bound address stays');
  c.clearAddrs(false);
  t.true(c.localIsAny());
});

test('the loopback test TIME_WAIT uses: 127.0.0.1 (v4-mapped) and ::1, nothing else', (t) => {
  const c = new InConnInfo();
  const local = (a: InAddr): boolean => {
    c.setLocal(a);
    return c.localIsLoopback();
  };
  t.true(local(v4('127.0.0.1')));
  t.true(local(v6('::ffff:127.0.0.1')));
  t.true(local(v6('::1')));
  t.false(local(v4('127.0.0.2')), 'only the loopback address, as NetBSD tests it');
  t.false(local(v4('0.0.0.1')), '::ffff:0.0.0.1 is not ::1');
  t.false(local(v6('::')));
  t.false(local(v6('1::1')));
  t.false(local(v6('2001:db8::7f00:1')), 'the low word alone is not 127.0.0.1');
});
