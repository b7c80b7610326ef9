/*
 * Per-kernel state (issue 10 item 4): typed keys whose values live in each
 * kernel (and each interface), scratch space of the kernel's own, and admin
 * calls typed by name.
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { defineKernelState, defineState } from '../../kern/kernel.js';
import { Errno, ENOSYS } from '../../kern/errno.js';
import { netstack } from '../../net/netstack.js';
import type { Ifnet } from '../../net/interface.js';
import { inet } from '../../net/inet/inet.js';

const boot = () => bootKernel({ components: ['net', 'net_net', 'net_netinet'], host: createSimHost() });

test('a kernel state key: each kernel of a process has its own value, made on first use', async (t) => {
  let made = 0;
  const COUNTER = defineKernelState('a counter', () => ({ n: ++made }));
  const a = boot();
  const b = boot();
  t.is(COUNTER.peek(a), undefined, 'nothing before the first get');
  COUNTER.get(a).n += 10;
  t.is(COUNTER.get(a).n, 11, 'the same value on every get');
  t.is(COUNTER.get(b).n, 2, 'the other kernel made its own');
  t.is(made, 2);
  await a.halt();
  await b.halt();
});

test('a key without init: get on a kernel whose component never set it throws, naming it', async (t) => {
  const TABLE = defineKernelState<number[]>('the frobnicator table (component net_frob)');
  const k = boot();
  t.throws(() => TABLE.get(k), { message: /frobnicator table.*not linked/ });
  TABLE.set(k, [1]);
  t.deepEqual(TABLE.get(k), [1]);
  await k.halt();
});

test('interface state: a key on Ifnet is per interface; delete forgets it', async (t) => {
  const MARK = defineState<Ifnet, { name: string }>('a mark', (ifp) => ({ name: ifp.name }));
  const k = boot();
  const lo0 = netstack(k).lo0!;
  t.is(MARK.get(lo0).name, 'lo0');
  MARK.delete(lo0);
  t.is(MARK.peek(lo0), undefined);
  await k.halt();
});

test('two kernels never share packet-path scratch space', async (t) => {
  const a = boot();
  const b = boot();
  t.not(netstack(a).scratch, netstack(b).scratch);
  t.not(netstack(a).scratch.etherDst, netstack(b).scratch.etherDst);
  t.not(inet(a).tcp!.optbuf, inet(b).tcp!.optbuf);
  await a.halt();
  await b.halt();
});

test('admin calls are typed by name: results need no cast, an undeclared name does not compile', async (t) => {
  const k = boot();
  const routes = await k.sys.ext('rtdump');
  // A RouteInfo[] to the type checker: its fields are read without a cast.
  t.true(routes.some((r) => r.dst === '127.0.0.1' && r.ifname === 'lo0'));
  t.is(typeof k.extension('rtmsg'), 'function');
  // @ts-expect-error no component declares this call (tsc fails here if ext stops checking names)
  const err = await t.throwsAsync(k.sys.ext('nosuchcall'), { instanceOf: Errno });
  t.is(err.errno, ENOSYS);
  await k.halt();
});
