/*
 * The kernel instance: components and their order, boot errors, the kern
 * sysctls, callouts on the virtual clock, packet buffers against the memory
 * limit, errno values.
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../shmif/component.js';
import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { BootError, normalizeComponentName, registerComponent, InitLevel } from '../../kern/component.js';
import { Errno, EAFNOSUPPORT, EADDRINUSE, ENOENT, EPERM, EINVAL, errnoName, strerror } from '../../kern/errno.js';
import { AF_INET, SOCK_DGRAM } from '../../kern/sys.js';

test('a kernel with no networking boots and its socket() fails with EAFNOSUPPORT', async (t) => {
  const k = bootKernel({ components: [], host: createSimHost() });
  const err = await t.throwsAsync(k.sys.socket(AF_INET, SOCK_DGRAM, 0));
  t.true(err instanceof Errno);
  t.is((err as Errno).errno, EAFNOSUPPORT);
  t.is((err as Errno).code, 'EAFNOSUPPORT');
  t.is((err as Errno).syscall, 'socket');
  await k.halt();
});

test('a component missing a dependency is a boot error naming both', (t) => {
  const err = t.throws(() => bootKernel({ components: ['net_shmif'], host: createSimHost() }));
  t.true(err instanceof BootError);
  t.regex(err!.message, /net_shmif/);
  t.regex(err!.message, /"net(_net)?"/);
});

test('an unknown component is a boot error naming it', (t) => {
  const err = t.throws(() => bootKernel({ components: ['net', 'net_bogus'], host: createSimHost() }));
  t.regex(err!.message, /net_bogus/);
});

test('NetBSD library spellings name components', (t) => {
  t.is(normalizeComponentName('rumpnet'), 'net');
  t.is(normalizeComponentName('librumpnet'), 'net');
  t.is(normalizeComponentName('rumpnet_shmif'), 'net_shmif');
  t.is(normalizeComponentName('librumpnet_netinet.so'), 'net_netinet');
  t.is(normalizeComponentName('net_net'), 'net_net');
  const k = bootKernel({ components: ['rumpnet', 'librumpnet_net', 'rumpnet_shmif'], host: createSimHost() });
  t.deepEqual(k.components.map((c) => c.name), ['net', 'net_net', 'net_shmif']);
});

test('components initialise in level order whatever order they are named in', (t) => {
  const order: string[] = [];
  registerComponent({ name: 'test_late', requires: [], level: InitLevel.POSTINIT, init: () => void order.push('test_late') });
  registerComponent({ name: 'test_early', requires: [], level: InitLevel.KERN, init: () => void order.push('test_early') });
  bootKernel({ components: ['test_late', 'test_early'], host: createSimHost() });
  t.deepEqual(order, ['test_early', 'test_late']);
});

test('bootstrap parameters set hw.ncpu and a bad one is a boot error naming the variable', async (t) => {
  const k = bootKernel({ components: [], host: createSimHost(), env: { RUMP_NCPU: '3' } });
  t.is(await k.sys.sysctl('hw.ncpu'), 3);
  const h = createSimHost({ ncpu: 6 });
  t.is(bootKernel({ components: [], host: h, env: { RUMP_NCPU: 'host' } }).params.ncpu, 6);
  t.is(bootKernel({ components: [], host: createSimHost(), env: {} }).params.ncpu, 2);
  const err = t.throws(() => bootKernel({ components: [], host: createSimHost(), env: { RUMP_NCPU: 'lots' } }));
  t.true(err instanceof BootError);
  t.regex(err!.message, /RUMP_NCPU/);
  const err2 = t.throws(() => bootKernel({ components: [], host: createSimHost(), env: { RUMP_MEMLIMIT: '10M' } }));
  t.regex(err2!.message, /RUMP_MEMLIMIT/);
});

test('RUMP_VERBOSE prints boot messages through the host log', (t) => {
  const quiet = createSimHost();
  bootKernel({ components: ['net', 'net_net'], host: quiet, env: { RUMP_VERBOSE: '0' } });
  t.deepEqual(quiet.logged, []);
  const loud = createSimHost();
  bootKernel({ components: ['net', 'net_net'], host: loud, env: { RUMP_VERBOSE: '1' } });
  t.true(loud.logged.some((l) => /rumpnet/.test(l)));
  t.true(loud.logged.some((l) => /component net_net/.test(l)));
  t.true(loud.logged.some((l) => /lo0: attached/.test(l)));
});

test('kern sysctls: hostname rump-PID.HOST, writable; read-only and unknown names fail', async (t) => {
  const h = createSimHost({ pid: 4242, hostname: 'box' });
  const k = bootKernel({ components: [], host: h });
  t.is(await k.sys.sysctl('kern.hostname'), 'rump-4242.box');
  await k.sys.sysctlSet('kern.hostname', 'other');
  t.is(await k.sys.sysctl('kern.hostname'), 'other');
  t.is(((await t.throwsAsync(k.sys.sysctl('kern.nosuch'))) as Errno).errno, ENOENT);
  t.is(((await t.throwsAsync(k.sys.sysctlSet('hw.ncpu', 4))) as Errno).errno, EPERM);
  const all = await k.sys.sysctlList();
  t.true(all.some((e) => e.name === 'hw.ncpu'));
  t.deepEqual(all.map((e) => e.name), [...all.map((e) => e.name)].sort());
});

test('callouts fire in deadline order on the virtual clock, and stop() cancels', async (t) => {
  const h = createSimHost();
  const k = bootKernel({ components: [], host: h });
  const fired: string[] = [];
  const a = k.callouts.create((s: string) => fired.push(`${s}@${h.now()}`), 'a');
  const b = k.callouts.create((s: string) => fired.push(`${s}@${h.now()}`), 'b');
  const c = k.callouts.create((s: string) => fired.push(`${s}@${h.now()}`), 'c');
  a.reset(300);
  b.reset(100);
  c.reset(200);
  c.stop();
  t.is(k.callouts.count, 2);
  await h.run(150);
  t.deepEqual(fired, ['b@100']);
  a.reset(10); // re-arm earlier
  await h.run(1000);
  t.deepEqual(fired, ['b@100', 'a@160']);
  t.is(k.callouts.count, 0);
  t.is(h.pending(), 0);
});

test('packet buffers are charged to RUMP_MEMLIMIT: refused at the cap, recovered when freed', (t) => {
  const k = bootKernel({ components: [], host: createSimHost(), env: { RUMP_MEMLIMIT: '4k' } });
  const bufs = [];
  for (;;) {
    const m = k.mbufs.get(1000, 0);
    if (!m) break;
    bufs.push(m);
  }
  t.is(bufs.length, 4);
  t.is(k.mbufs.stats.drops, 1);
  k.mbufs.free(bufs.pop()!);
  t.truthy(k.mbufs.get(1000, 0));
  for (const m of bufs) k.mbufs.free(m);
  t.is(k.mem.used, 1000);
});

test('errno values and texts are NetBSD\'s', (t) => {
  t.is(EADDRINUSE, 48);
  t.is(errnoName(48), 'EADDRINUSE');
  t.is(strerror(EINVAL), 'Invalid argument');
  t.is(strerror(16), 'Device busy');
  const e = new Errno(61, 'connect');
  t.is(e.code, 'ECONNREFUSED');
  t.is(e.message, 'connect: Connection refused');
});
