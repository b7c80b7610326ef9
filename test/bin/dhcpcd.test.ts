/*
 * rump.dhcpcd against the test DHCP server on a sim bus: the lease as
 * dhcpcd logs it, -U, -k, -1, -t with no server, and usage errors.
 */
import test from 'ava';
import { main } from '../../bin/rump.dhcpcd.js';
import { drive } from '../node/helpers.js';
import { addrs, lan } from '../helpers/dhcp-server.js';
import { run } from './helpers.js';

test('rump.dhcpcd shmif0 gets a lease and says what it configured; -U prints it; -k releases it', async (t) => {
  const { sim, s, c, srv } = await lan(11);
  const r = await drive(sim, run(main, ['shmif0'], c.sys));
  t.is(r.status, 0, r.err);
  t.is(r.out, [
    'shmif0: offered 192.0.2.50 from 192.0.2.1',
    'shmif0: leased 192.0.2.50 for 3600 seconds',
    'shmif0: renew in 1800 seconds, rebind in 3150 seconds',
    'shmif0: adding address 192.0.2.50/24',
    'shmif0: adding default route via 192.0.2.254',
    'shmif0: nameservers 192.0.2.53 192.0.2.54, domain lab.example',
    '',
  ].join('\n'));
  const u = await run(main, ['-U', 'shmif0'], c.sys);
  t.is(u.status, 0);
  t.regex(u.out, /^interface='shmif0'\nstate='bound'\nip_address='192\.0\.2\.50'\nsubnet_mask='255\.255\.255\.0'\n/);
  await sim.run(1000);
  srv.seen = [];
  const k = await run(main, ['-k', 'shmif0'], c.sys);
  t.is(k.status, 0);
  t.is(k.out, 'shmif0: releasing lease\n');
  await sim.run(100);
  t.deepEqual(srv.types(), [7]);
  t.deepEqual(await addrs(c), []);
  const again = await run(main, ['-U', 'shmif0'], c.sys);
  t.is(again.status, 1);
  t.is(again.err, 'rump.dhcpcd: shmif0: no lease\n');
  const nothing = await run(main, ['-k', 'shmif0'], c.sys);
  t.is(nothing.status, 1);
  t.is(nothing.err, 'rump.dhcpcd: shmif0: Device not configured\n');
  await c.halt();
  await s.halt();
});

test('rump.dhcpcd -1 leaves nothing running; -t gives up with ETIMEDOUT', async (t) => {
  const { sim, s, c, srv } = await lan(12);
  t.is((await drive(sim, run(main, ['-1', 'shmif0'], c.sys))).status, 0);
  srv.seen = [];
  await sim.run(4000_000);
  t.deepEqual(srv.types(), [], 'no renewal after -1');
  t.deepEqual(await addrs(c), ['192.0.2.50'], 'the address stays');
  await c.halt();
  await s.halt();

  const quiet = await lan(13);
  quiet.srv.ignore.set(1, 100);
  const t0 = quiet.sim.now();
  const r = await drive(quiet.sim, run(main, ['-t', '5', 'shmif0'], quiet.c.sys));
  t.is(r.status, 1);
  t.is(r.err, 'rump.dhcpcd: shmif0: Connection timed out\n');
  t.is(quiet.sim.now() - t0, 5000);
  await quiet.c.halt();
  await quiet.s.halt();
});

test('bad arguments: usage, exit 1', async (t) => {
  for (const argv of [[], ['-x', 'virt0'], ['-t', '0', 'virt0'], ['-t', 'x', 'virt0'], ['-k', '-U', 'virt0'], ['-k', '-1', 'virt0'], ['a', 'b'], ['-t']]) {
    const r = await run(main, argv);
    t.is(r.status, 1, argv.join(' '));
    t.regex(r.err, /usage: rump\.dhcpcd \[-1\] \[-t timeout\] interface\n/, argv.join(' '));
    t.is(r.out, '');
  }
});
