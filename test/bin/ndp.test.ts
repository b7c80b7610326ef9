/*
 * rump.ndp: the IPv6 neighbor cache in ndp -a's columns (Neighbor,
 * Linklayer Address, Netif, Expire, S, Flags), one entry by address, and
 * the usage line on bad arguments.
 */
import test from 'ava';
import { Errno, ENOSYS } from '../../kern/errno.js';
import { NDP_HEADER, main, sec2str, type NdpEntry } from '../../bin/rump.ndp.js';
import { fakeSys, run } from './helpers.js';

const CACHE: NdpEntry[] = [
  { addr: 'fe80::b0a0:b8ff:fe65:1551', lladdr: 'b2:a0:b8:65:15:51', ifname: 'shmif0', state: 'STALE', router: true, expire: 86399 },
  { addr: '2001:db8::9', lladdr: null, ifname: 'shmif0', state: 'INCOMPLETE', router: false, expire: 1 },
  { addr: '2001:db8::2', lladdr: 'b2:a0:49:01:90:32', ifname: 'shmif1', state: 'REACHABLE', router: false, expire: 29 },
  { addr: '2001:db8::3', lladdr: '02:00:00:00:00:03', ifname: 'shmif1', state: 'DELAY', router: false, expire: -1 },
];

const kernel = (list: NdpEntry[] | null) =>
  fakeSys({
    ext: ((name: string) => {
      if (name === 'ndpdump' && list) return list;
      throw new Errno(ENOSYS, name);
    }) as never,
  });

const HEADER = 'Neighbor                             Linklayer Address  Netif Expire    S Flags\n';

test('ndp -an lists the cache by address with NetBSD\'s columns and state letters', async (t) => {
  const r = await run(main, ['-an'], kernel(CACHE));
  t.is(r.status, 0);
  t.is(r.err, '');
  t.is(
    r.out,
    HEADER +
      '2001:db8::2                          b2:a0:49:01:90:32 shmif1 29s       R \n' +
      '2001:db8::3                          02:00:00:00:00:03 shmif1 permanent D \n' +
      '2001:db8::9                          (incomplete)      shmif0 1s        I \n' +
      'fe80::b0a0:b8ff:fe65:1551            b2:a0:b8:65:15:51 shmif0 23h59m59s S R\n',
  );
  const empty = await run(main, ['-a'], kernel([]));
  t.is(empty.out, HEADER);
});

test('ndp hostname shows one entry; an unknown one says so and exits 1', async (t) => {
  const r = await run(main, ['-n', '2001:db8:0::2'], kernel(CACHE));
  t.is(r.out, HEADER + '2001:db8::2                          b2:a0:49:01:90:32 shmif1 29s       R \n');
  t.is(r.status, 0);
  const none = await run(main, ['2001:db8::77'], kernel(CACHE));
  // As ndp.c: the header, then errx's complaint on stderr (NetBSD's tests match it there).
  t.is(none.out, HEADER);
  t.is(none.err, 'rump.ndp: 2001:db8::77 (2001:db8::77) -- no entry\n');
  t.is(none.status, 1);
  const bad = await run(main, ['not-an-address'], kernel(CACHE));
  t.is(bad.err, 'rump.ndp: not-an-address: Unknown host\n');
  t.is(bad.status, 1);
});

test('ndp: bad arguments print the usage line and exit 1; a kernel without IPv6 has an empty table', async (t) => {
  for (const argv of [[], ['-Z'], ['-a', '2001:db8::1'], ['2001:db8::1', '2001:db8::2']]) {
    const r = await run(main, argv, kernel(CACHE));
    t.is(r.status, 1, argv.join(' '));
    t.regex(r.err, /^usage: rump\.ndp /m, argv.join(' '));
    t.is(r.out, '');
  }
  const v4 = await run(main, ['-a'], kernel(null));
  t.is(v4.status, 0, 'NetBSD\'s tests run ndp -na on IPv4-only kernels and expect success');
  t.is(v4.err, '');
  t.is(v4.out, NDP_HEADER);
});

test('sec2str leaves out leading zero units, as ndp.c does', (t) => {
  t.is(sec2str(0), '0s');
  t.is(sec2str(125), '2m5s');
  t.is(sec2str(3600), '1h0m0s');
  t.is(sec2str(86400), '1d0h0m0s');
});
