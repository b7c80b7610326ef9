/*
 * rump.arp: NetBSD's entry lines, lookups, -d, -s and -f, and its messages
 * and exit codes, against a canned ARP cache.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Errno, ESRCH, ENETUNREACH } from '../../kern/errno.js';
import type { ArpInfo, ArpMsg } from '../../net/ioctl.js';
import { main } from '../../bin/rump.arp.js';
import { fakeSys, run } from './helpers.js';

function cache(entries: ArpInfo[] = defaultEntries()) {
  const msgs: ArpMsg[] = [];
  const sys = fakeSys({
    ext: ((name: string, msg?: ArpMsg) => {
      if (name === 'arpdump') return entries;
      msgs.push(msg!);
      if (msg!.type === 'delete' && !entries.some((e) => e.addr === msg!.addr)) throw new Errno(ESRCH, 'arpmsg');
      if (msg!.type === 'add' && msg!.addr.startsWith('10.')) throw new Errno(ENETUNREACH, 'arpmsg');
      return undefined;
    }) as never,
  });
  return { sys, msgs };
}

function defaultEntries(): ArpInfo[] {
  return [
    { addr: '192.0.2.2', lladdr: 'b2:a0:b8:65:15:51', ifname: 'shmif0', permanent: false, expire: 1180, published: false },
    { addr: '192.0.2.9', lladdr: null, ifname: 'shmif0', permanent: false, expire: 3, published: false },
    { addr: '192.0.2.50', lladdr: '02:00:00:00:00:01', ifname: 'shmif0', permanent: true, expire: -1, published: true },
  ];
}

test('arp -a lists every entry in NetBSD\'s format', async (t) => {
  const { sys } = cache();
  const r = await run(main, ['-a'], sys);
  t.is(
    r.out,
    '? (192.0.2.2) at b2:a0:b8:65:15:51 on shmif0\n' +
      '? (192.0.2.9) at (incomplete) on shmif0\n' +
      '? (192.0.2.50) at 02:00:00:00:00:01 on shmif0 permanent published (proxy only)\n',
  );
  t.is(r.status, 0);
  t.is((await run(main, ['-an'], sys)).out, r.out, '-n changes nothing: names are never looked up');
});

test('arp host shows one entry; a missing one is "-- no entry", exit 1', async (t) => {
  const { sys } = cache();
  t.is((await run(main, ['192.0.2.2'], sys)).out, '? (192.0.2.2) at b2:a0:b8:65:15:51 on shmif0\n');
  const r = await run(main, ['192.0.2.77'], sys);
  t.is(r.err, 'rump.arp: 192.0.2.77 (192.0.2.77) -- no entry\n');
  t.is(r.status, 1);
  const bad = await run(main, ['nohost'], sys);
  t.is(bad.err, 'rump.arp: nohost: Unknown host\n');
  t.is(bad.status, 1);
});

test('arp -d deletes; a missing entry is "can\'t locate", exit 1; -v reports', async (t) => {
  const { sys, msgs } = cache();
  const r = await run(main, ['-d', '192.0.2.2'], sys);
  t.is(r.status, 0);
  t.is(r.out + r.err, '');
  t.deepEqual(msgs, [{ type: 'delete', addr: '192.0.2.2' }]);
  t.is((await run(main, ['-v', '-d', '192.0.2.9'], sys)).out, '192.0.2.9 (192.0.2.9) deleted\n');
  const miss = await run(main, ['-d', '192.0.2.77'], sys);
  t.is(miss.err, 'rump.arp: delete: can\'t locate 192.0.2.77\n');
  t.is(miss.status, 1);
  const all = cache();
  t.is((await run(main, ['-d', '-a'], all.sys)).status, 0);
  t.deepEqual(all.msgs.map((m) => m.addr), ['192.0.2.2', '192.0.2.9', '192.0.2.50']);
});

test('arp -s adds static, temp and published entries', async (t) => {
  const { sys, msgs } = cache();
  t.is((await run(main, ['-s', '192.0.2.60', '02:00:00:00:00:0A'], sys)).status, 0);
  t.is((await run(main, ['-s', '192.0.2.61', '2:0:0:0:0:b', 'temp'], sys)).status, 0);
  t.is((await run(main, ['-s', '192.0.2.62', 'auto', 'pub'], sys)).status, 0);
  t.deepEqual(msgs, [
    { type: 'add', addr: '192.0.2.60', lladdr: '02:00:00:00:00:0a' },
    { type: 'add', addr: '192.0.2.61', lladdr: '02:00:00:00:00:0b', temp: true },
    { type: 'add', addr: '192.0.2.62', pub: true },
  ]);
  const bad = await run(main, ['-s', '192.0.2.63', '02:00:00:00:00'], sys);
  t.is(bad.err, 'rump.arp: invalid link-level address \'02:00:00:00:00\'\n');
  t.is(bad.status, 1);
  const off = await run(main, ['-s', '10.1.1.1', '02:00:00:00:00:01'], sys);
  t.is(off.err, 'rump.arp: 10.1.1.1: Network is unreachable\n');
  t.is(off.status, 1);
});

test('arp -f sets each line of a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rump-arp-'));
  const file = join(dir, 'ethers');
  writeFileSync(file, '# static entries\n192.0.2.70 02:00:00:00:00:70\n\n192.0.2.71 02:00:00:00:00:71 temp\nbroken\n');
  const { sys, msgs } = cache();
  const r = await run(main, ['-f', file], sys);
  t.deepEqual(msgs.map((m) => m.addr), ['192.0.2.70', '192.0.2.71']);
  t.is(r.err, 'rump.arp: bad line: broken\n');
  t.is(r.status, 1);
  const missing = await run(main, ['-f', join(dir, 'nope')], sys);
  t.is(missing.err, `rump.arp: Cannot open ${join(dir, 'nope')}: No such file or directory\n`);
});

test('usage: NetBSD\'s text, exit 1', async (t) => {
  const { sys, msgs } = cache();
  for (const argv of [[], ['-a', 'x'], ['-d', '-s', 'x'], ['-s', '192.0.2.1'], ['-Q'], ['a', 'b']]) {
    const r = await run(main, argv, sys);
    t.is(r.status, 1, argv.join(' '));
    t.regex(r.err, /Usage: rump\.arp \[-n\] hostname\n {7}rump\.arp \[-nv\] -a\n/, argv.join(' '));
  }
  t.deepEqual(msgs, []);
});
