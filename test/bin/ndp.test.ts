/*
 * rump.ndp: the IPv6 neighbor cache in ndp -a's columns (Neighbor,
 * Linklayer Address, Netif, Expire, S, Flags), one entry by address, and
 * the usage line on bad arguments.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Errno, EEXIST, ENETUNREACH, ENOSYS, ESRCH } from '../../kern/errno.js';
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
      'fe80::b0a0:b8ff:fe65:1551%shmif0     b2:a0:b8:65:15:51 shmif0 23h59m59s S R\n',
  );
  // A long address widens its column and nothing is cut (ndp.c's addrwidth/llwidth/ifwidth); probes counted after the flags.
  const long = await run(main, ['-a'], kernel([{ addr: '2001:db8:1234:5678:9abc:def0:1234:5678', lladdr: null, ifname: 'shmif10',
    state: 'INCOMPLETE', router: false, expire: 1, permanent: false, proxy: false, asked: 2 }]));
  t.is(long.out, HEADER + '2001:db8:1234:5678:9abc:def0:1234:5678 (incomplete)    shmif10 1s        I  2\n');
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

/** A kernel that records ndpmsg calls: EEXIST over 2001:db8::10, ENETUNREACH off 2001:db8::/64, ESRCH deleting what is not cached. */
function recorder() {
  const msgs: unknown[] = [];
  const sys = fakeSys({
    ext: ((name: string, msg?: { type: string; addr?: string }, arg?: string) => {
      if (name === 'ndpdump') return CACHE;
      if (name === 'ndpinfo') {
        if (msg as unknown === 'routers') return [{ addr: 'fe80::1', ifname: 'shmif0', expire: 1799 }];
        if (msg as unknown === 'prefixes') return [{ prefix: '2001:db8::', plen: 64, ifname: 'shmif0', onlink: true, vltime: 2592000, pltime: 604800, expire: 2591999 }];
        return { linkmtu: 1500, maxmtu: 1500, curhlim: 64, basereachable: 30000, retrans: 1000, acceptRtadv: true, arg };
      }
      msgs.push(msg);
      if (msg!.type === 'flush') return ['2001:db8::2', '2001:db8::9'];
      if (msg!.type === 'delete' && !CACHE.some((e) => e.addr === msg!.addr)) throw new Errno(ESRCH, 'ndpmsg');
      if (msg!.type === 'add' && msg!.addr === '2001:db8::10') throw new Errno(EEXIST, 'ndpmsg');
      if (msg!.type === 'add' && !msg!.addr!.startsWith('2001:db8::')) throw new Errno(ENETUNREACH, 'ndpmsg');
      return [msg!.addr];
    }) as never,
  });
  return { sys, msgs };
}

test('ndp -s sends the entry with temp and proxy; NetBSD\'s complaints when it cannot be set', async (t) => {
  const { sys, msgs } = recorder();
  t.is((await run(main, ['-s', '2001:db8::20', 'B2:A0:20:0:0:20'], sys)).status, 0);
  t.is((await run(main, ['-s', '2001:db8::21', 'b2:a0:20:00:00:21', 'temp', 'proxy'], sys)).status, 0);
  t.deepEqual(msgs, [
    { type: 'add', addr: '2001:db8::20', lladdr: 'b2:a0:20:00:00:20', temp: false, proxy: false },
    { type: 'add', addr: '2001:db8::21', lladdr: 'b2:a0:20:00:00:21', temp: true, proxy: true },
  ]);
  const perm = await run(main, ['-s', '2001:db8::10', 'b2:a0:20:00:00:10'], sys);
  t.is(perm.status, 1);
  t.regex(perm.err, /^rump\.ndp: writing to routing socket: File exists\n/);
  const off = await run(main, ['-s', '2001:db9::1', 'b2:a0:20:00:00:10'], sys);
  t.is(off.err, 'rump.ndp: cannot intuit interface index and type for 2001:db9::1\n');
  const mac = await run(main, ['-s', '2001:db8::22', 'b2:a0:20'], sys);
  t.is(mac.err, 'rump.ndp: invalid Ethernet address \'b2:a0:20\'\n');
  t.is(mac.status, 1);
});

test('ndp -d and -c print what they deleted; a missing entry cannot be located, exit 1', async (t) => {
  const { sys, msgs } = recorder();
  const d = await run(main, ['-d', '2001:db8::2'], sys);
  t.is(d.out, '2001:db8::2 (2001:db8::2) deleted\n');
  t.is(d.status, 0);
  const miss = await run(main, ['-d', '2001:db8::77'], sys);
  t.is(miss.err, 'rump.ndp: delete: cannot locate 2001:db8::77\n');
  t.is(miss.status, 1);
  const c = await run(main, ['-nc'], sys);
  t.is(c.out, '2001:db8::2 (2001:db8::2) deleted\n2001:db8::9 (2001:db8::9) deleted\n');
  t.deepEqual(msgs.map((m) => (m as { type: string }).type), ['delete', 'delete', 'flush']);
});

test('ndp -f sets each line of a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rump-ndp-'));
  const file = join(dir, 'list');
  writeFileSync(file, '# neighbors\n2001:db8::11 b2:a0:20:00:00:11\n\n2001:db8::12 b2:a0:20:00:00:12 temp\nbroken\n');
  const { sys, msgs } = recorder();
  const r = await run(main, ['-f', file], sys);
  t.deepEqual(msgs.map((m) => (m as { addr: string }).addr), ['2001:db8::11', '2001:db8::12']);
  t.is(r.err, 'rump.ndp: bad line: broken\n');
  t.is(r.status, 1);
});

test('ndp -r, -p and -i print the router list, the prefix list and the interface as ndp.c does', async (t) => {
  const { sys } = recorder();
  t.is((await run(main, ['-r'], sys)).out, 'fe80::1%shmif0 if=shmif0, flags=, pref=medium, expire=29m59s\n');
  t.is((await run(main, ['-p'], sys)).out,
    '2001:db8::/64 if=shmif0\nflags=LA, vltime=2592000, pltime=604800, expire=29d23h59m59s\n  No advertising router\n');
  t.is((await run(main, ['-i', 'shmif0'], sys)).out,
    'linkmtu=1500, maxmtu=1500, curhlim=64, basereachable=30s0ms, reachable=30s, retrans=1s0ms\nFlags: nud accept_rtadv auto_linklocal\n');
});

test('ndp: one mode at a time, each with its operands, else the usage line and exit 1', async (t) => {
  const { sys, msgs } = recorder();
  for (const argv of [['-a', '-c'], ['-s', '2001:db8::1'], ['-s', 'a', 'b', 'c', 'd', 'e'], ['-d'], ['-c', 'x'], ['-p', 'x'], ['-r', '-R'], ['-f']]) {
    const r = await run(main, argv, sys);
    t.is(r.status, 1, argv.join(' '));
    t.regex(r.err, /usage: rump\.ndp \[-n\] hostname\n/, argv.join(' '));
  }
  t.deepEqual(msgs, []);
});
