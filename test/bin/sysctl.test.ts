/*
 * rump.sysctl on a real kernel's sysctl tree: reads, records as one line
 * per counter, writes with "old -> new", and NetBSD's errors.
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { main } from '../../bin/rump.sysctl.js';
import { run } from './helpers.js';

function kernel() {
  const k = bootKernel({ components: ['net', 'net_net'], host: createSimHost({ hostname: 'sim', pid: 7 }), env: { RUMP_NCPU: '2' } });
  let forwarding = 0;
  k.sysctl.int('net.inet.ip.forwarding', () => forwarding, (v) => {
    forwarding = v;
  }, 0, 1);
  return k;
}

test('reading leaves: name = value, -n value only, -e name=value', async (t) => {
  const k = kernel();
  const r = await run(main, ['kern.ostype', 'hw.ncpu'], k.sys);
  t.is(r.out, 'kern.ostype = NetBSD\nhw.ncpu = 2\n');
  t.is(r.status, 0);
  t.is((await run(main, ['-n', 'kern.ostype'], k.sys)).out, 'NetBSD\n');
  t.is((await run(main, ['-e', 'hw.ncpu'], k.sys)).out, 'hw.ncpu=2\n');
});

test('a record prints one line per counter; one counter can be named', async (t) => {
  const k = kernel();
  const r = await run(main, ['hw.memlimit'], k.sys);
  t.regex(r.out, /^hw\.memlimit\.limit = -1\nhw\.memlimit\.used = \d+\nhw\.memlimit\.peak = \d+\nhw\.memlimit\.failures = 0\n$/);
  t.is((await run(main, ['hw.memlimit.failures'], k.sys)).out, 'hw.memlimit.failures = 0\n');
});

test('a node prints every leaf under it; -a prints them all', async (t) => {
  const k = kernel();
  const kern = await run(main, ['kern'], k.sys);
  t.deepEqual(kern.out.split('\n').filter(Boolean).map((l) => l.split(' = ')[0]), ['kern.hostname', 'kern.maxfiles', 'kern.mbuf.stats.allocs', 'kern.mbuf.stats.frees', 'kern.mbuf.stats.drops', 'kern.mbuf.stats.inUse', 'kern.osrelease', 'kern.ostype', 'kern.somaxconn', 'kern.version']);
  const all = await run(main, ['-a'], k.sys);
  t.true(all.out.includes('kern.ostype = NetBSD\n'));
  t.true(all.out.includes('net.inet.ip.forwarding = 0\n'));
  t.true(all.out.includes('net.stats.ether_badlen = 0\n'));
});

test('-w name=value prints "name: old -> new" and the kernel has the new value', async (t) => {
  const k = kernel();
  const r = await run(main, ['-w', 'net.inet.ip.forwarding=1'], k.sys);
  t.is(r.out, 'net.inet.ip.forwarding: 0 -> 1\n');
  t.is(r.status, 0);
  t.is(await k.sys.sysctl('net.inet.ip.forwarding'), 1);
  t.is((await run(main, ['-w', 'kern.hostname=router'], k.sys)).out, 'kern.hostname: rump-7.sim -> router\n');
  t.is((await run(main, ['-q', '-w', 'net.inet.ip.forwarding=0'], k.sys)).out, '');
  t.is((await run(main, ['-w', 'kern.maxfiles=200000'], k.sys)).out, 'kern.maxfiles: 1048576 -> 200000\n');
  t.is(await k.sys.sysctl('kern.maxfiles'), 200000);
});

test('errors as NetBSD words them, exit 1', async (t) => {
  const k = kernel();
  const cases: Array<[string[], string]> = [
    [['net.inet.nosuch'], "rump.sysctl: third level name 'nosuch' in 'net.inet.nosuch' is invalid\n"],
    [['nosuch.thing'], "rump.sysctl: top level name 'nosuch' in 'nosuch.thing' is invalid\n"],
    [['kern.ostype.deeper'], "rump.sysctl: third level name 'deeper' in 'kern.ostype.deeper' is invalid\n"],
    [['-w', 'kern.ostype=Linux'], 'rump.sysctl: kern.ostype: Operation not permitted\n'],
    [['-w', 'net.inet.ip.forwarding=yes'], 'rump.sysctl: net.inet.ip.forwarding: Invalid argument\n'],
    [['-w', 'net.inet.ip.forwarding=2'], 'rump.sysctl: net.inet.ip.forwarding: Invalid argument\n'],
    [['-w', 'net.inet.nosuch=1'], "rump.sysctl: third level name 'nosuch' in 'net.inet.nosuch' is invalid\n"],
    [['net.inet.ip.forwarding=1'], 'rump.sysctl: Must specify -w to set variables\n'],
  ];
  for (const [argv, err] of cases) {
    const r = await run(main, argv, k.sys);
    t.is(r.err, err, argv.join(' '));
    t.is(r.status, 1, argv.join(' '));
  }
  t.is(await k.sys.sysctl('net.inet.ip.forwarding'), 0, 'nothing was written');
});

test('usage: no names, or names with -a, exit 1', async (t) => {
  const k = kernel();
  for (const argv of [[], ['-a', 'kern'], ['-Z', 'kern']]) {
    const r = await run(main, argv, k.sys);
    t.is(r.status, 1, argv.join(' '));
    t.regex(r.err, /usage: rump\.sysctl/);
  }
});
