/*
 * What NetBSD's tests/net link and clone: the rumpdev and rumpvfs factions
 * boot, `lo` clones more loopback interfaces (never destroying lo0), and
 * net_tap's tap(4) is an Ethernet interface with no host side.
 */
import test from 'ava';
import '../../kern/factions.js';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/if/tap_component.js';
import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { normalizeComponentName } from '../../kern/component.js';
import { Errno, EINVAL, EPERM } from '../../kern/errno.js';
import { netstack } from '../../net/netstack.js';
import { IFT_ETHER, IFT_LOOP } from '../../net/interface.js';

test('NetBSD faction names link: rumpdev and rumpvfs boot beside the net faction', (t) => {
  t.is(normalizeComponentName('rumpdev'), 'dev');
  t.is(normalizeComponentName('librumpvfs.so'), 'vfs');
  t.is(normalizeComponentName('rumpnet_tap'), 'net_tap');
  const k = bootKernel({ components: ['rumpnet', 'rumpnet_net', 'rumpdev', 'rumpvfs', 'rumpnet_tap'], host: createSimHost() });
  t.deepEqual(k.components.map((c) => c.name).sort(), ['dev', 'net', 'net_net', 'net_tap', 'vfs']);
});

test('lo1 can be created and destroyed; lo0 cannot be destroyed (EPERM)', (t) => {
  const k = bootKernel({ components: ['net', 'net_net'], host: createSimHost() });
  const ifs = netstack(k).ifs;
  const lo1 = ifs.create('lo1');
  t.is(lo1.type, IFT_LOOP);
  t.is(ifs.get('lo1'), lo1);
  ifs.destroy('lo1');
  t.is(ifs.get('lo1'), undefined);
  const err = t.throws(() => ifs.destroy('lo0'));
  t.is((err as Errno).errno, EPERM);
  t.truthy(ifs.get('lo0'), 'lo0 is still attached');
});

test('tap0 is an Ethernet interface with a tap MAC, only with net_tap linked', (t) => {
  const k = bootKernel({ components: ['net', 'net_net', 'net_tap'], host: createSimHost() });
  const ifs = netstack(k).ifs;
  const tap = ifs.create('tap0');
  t.is(tap.type, IFT_ETHER);
  t.deepEqual([...tap.lladdr!.subarray(0, 3)], [0xf2, 0x0b, 0xa4]);
  ifs.destroy('tap0');
  t.is(ifs.get('tap0'), undefined);
  const bare = bootKernel({ components: ['net', 'net_net'], host: createSimHost() });
  const err = t.throws(() => netstack(bare).ifs.create('tap0'));
  t.is((err as Errno).errno, EINVAL);
});
