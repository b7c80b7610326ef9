/*
 * ifmcstat: each interface with its addresses and the link-layer groups
 * its filter holds, from a real kernel (IPv6 joins all-nodes and the
 * solicited-node groups, so 33:33:... addresses appear and go).
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import '../../net/inet6/component.js';
import '../../shmif/component.js';
import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { main as ifconfig } from '../../bin/rump.ifconfig.js';
import { main } from '../../bin/ifmcstat.js';
import { run } from './helpers.js';

test('ifmcstat lists addresses and multicast MACs per interface; -i picks one; bad arguments: usage, exit 1', async (t) => {
  const sim = createSimHost({ seed: 3 });
  const k = bootKernel({ components: ['net', 'net_net', 'net_netinet', 'net_netinet6', 'net_shmif'], host: sim });
  for (const argv of [['shmif0', 'create'], ['shmif0', 'linkstr', 'bus'], ['shmif0', 'inet', '10.0.0.1/24'], ['shmif0', 'inet6', 'fc00::1']]) {
    t.is((await run(ifconfig, argv, k.sys)).status, 0, argv.join(' '));
  }
  const r = await run(main, ['-i', 'shmif0'], k.sys);
  t.is(r.status, 0);
  t.regex(r.out, /^shmif0:\n\tinet 10\.0\.0\.1\n/);
  t.regex(r.out, /\tinet6 fc00::1\n/);
  t.regex(r.out, /\tmcast-macaddr 33:33:00:00:00:01 refcnt 1\n/, 'all-nodes');
  t.regex(r.out, /\tmcast-macaddr 33:33:ff:00:00:01 refcnt \d\n/, 'the solicited-node group of fc00::1');
  t.notRegex(r.out, /^lo0:/m);
  t.true((await run(ifconfig, ['shmif0', 'inet6', 'fc00::1', 'delete'], k.sys)).status === 0);
  const after = await run(main, [], k.sys);
  t.regex(after.out, /^lo0:\n/m);
  t.notRegex(after.out, /fc00::1\n/);
  const bad = await run(main, ['-x'], k.sys);
  t.is(bad.status, 1);
  t.regex(bad.err, /^usage: ifmcstat /m);
  const none = await run(main, ['-i', 'shmif9'], k.sys);
  t.is(none.status, 1);
  await k.halt();
});
