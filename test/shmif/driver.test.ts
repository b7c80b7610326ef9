/*
 * The shmif interface driver: cloning, linkstr rules, up without a bus,
 * a file that is not a bus, frames onto the bus and off it.
 *
 *   kernel A ── shmif0 ══ bus "bus1" (sim host memory) ══ shmif0 ── kernel B
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../shmif/component.js';
import { createSimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { Errno, EBUSY, ENXIO, ENOEXEC, EINVAL, EEXIST } from '../../kern/errno.js';
import { netstack } from '../../net/netstack.js';
import { ifioctl } from '../../net/interface_ioctl.js';
import { IFF_UP, IFF_BROADCAST, IFF_SIMPLEX, IFF_MULTICAST, IFF_RUNNING, type Ifnet } from '../../net/interface.js';
import { dumpBus } from '../../shmif/dumpbus.js';
import { BUS_SIZE } from '../../shmif/bus.js';

function kernel(sim = createSimHost()) {
  const k = bootKernel({ components: ['net', 'net_net', 'net_shmif'], host: sim });
  const ns = netstack(k);
  const io = (cmd: string, arg?: unknown) => ifioctl(ns, cmd, arg);
  return { k, ns, io, sim };
}

function errnoOf(t: { throws: (fn: () => unknown) => unknown }, fn: () => unknown): number {
  const e = t.throws(fn) as Errno;
  return e.errno;
}

test('shmif0 create: exact unit, MAC b2:a0:…, MTU 1500, BROADCAST|SIMPLEX|MULTICAST', (t) => {
  const { io } = kernel();
  t.deepEqual(io('SIOCIFCREATE', { name: 'shmif3' }), { name: 'shmif3' });
  t.deepEqual(io('SIOCIFCREATENEXT', { base: 'shmif' }), { name: 'shmif0' });
  const [info] = io('SIOCGIFCONF', { name: 'shmif3' }) as Array<{ flags: number; mtu: number; lladdr: string }>;
  t.is(info!.mtu, 1500);
  t.is(info!.flags, IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST);
  t.regex(info!.lladdr, /^b2:a0:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
  t.is(errnoOf(t, () => io('SIOCIFCREATE', { name: 'shmif3' })), EEXIST);
  t.is(errnoOf(t, () => io('SIOCIFCREATE', { name: 'bogus0' })), EINVAL);
  t.deepEqual(io('SIOCIFGCLONERS'), ['shmif', 'lo'], 'net_net clones lo (newest first, as NetBSD lists them)');
  io('SIOCIFDESTROY', { name: 'shmif3' });
  t.is((io('SIOCGIFCONF') as unknown[]).length, 2); // lo0, shmif0
});

test('up without a bus is ENXIO; a second linkstr or one while up is EBUSY; -linkstr detaches', (t) => {
  const { io } = kernel();
  io('SIOCIFCREATE', { name: 'shmif0' });
  t.is(errnoOf(t, () => io('SIOCSIFFLAGS', { name: 'shmif0', flags: IFF_UP })), ENXIO);
  io('SIOCSLINKSTR', { name: 'shmif0', linkstr: 'bus1' });
  t.deepEqual(io('SIOCGLINKSTR', { name: 'shmif0' }), { linkstr: 'bus1' });
  t.is(errnoOf(t, () => io('SIOCSLINKSTR', { name: 'shmif0', linkstr: 'bus2' })), EBUSY);
  io('SIOCSIFFLAGS', { name: 'shmif0', flags: IFF_UP });
  t.is((io('SIOCGIFFLAGS', { name: 'shmif0' }) as { flags: number }).flags & (IFF_UP | IFF_RUNNING), IFF_UP | IFF_RUNNING);
  t.is(errnoOf(t, () => io('SIOCSLINKSTR', { name: 'shmif0', linkstr: null })), EBUSY);
  io('SIOCSIFFLAGS', { name: 'shmif0', flags: 0 });
  io('SIOCSLINKSTR', { name: 'shmif0', linkstr: null });
  t.deepEqual(io('SIOCGLINKSTR', { name: 'shmif0' }), { linkstr: null });
});

test('a file that is not a bus is refused with ENOEXEC, naming it', (t) => {
  const { io, sim } = kernel();
  const junk = new Uint8Array(BUS_SIZE);
  junk.set([1, 2, 3, 4]);
  sim.files.set('notabus', junk);
  io('SIOCIFCREATE', { name: 'shmif0' });
  const e = t.throws(() => io('SIOCSLINKSTR', { name: 'shmif0', linkstr: 'notabus' })) as Errno;
  t.is(e.errno, ENOEXEC);
  t.regex(e.message, /notabus: bus is not magical/);
  t.is(io('SIOCGLINKSTR', { name: 'shmif0' }) && (io('SIOCGLINKSTR', { name: 'shmif0' }) as { linkstr: null }).linkstr, null);
});

test('frames sent by one kernel reach the other through the bus, never the sender', async (t) => {
  const sim = createSimHost({ seed: 7 });
  const a = kernel(sim);
  const b = kernel(sim);
  for (const x of [a, b]) {
    x.io('SIOCIFCREATE', { name: 'shmif0' });
    x.io('SIOCSLINKSTR', { name: 'shmif0', linkstr: 'bus1' });
    x.io('SIOCSIFFLAGS', { name: 'shmif0', flags: IFF_UP });
  }
  const ifa = a.ns.ifs.get('shmif0')!;
  const ifb = b.ns.ifs.get('shmif0')!;
  const got: Array<[string, Uint8Array]> = [];
  const grab = (who: string) => (_ifp: Ifnet, dir: number, buf: Uint8Array, off: number, len: number) => {
    if (dir === 0) got.push([who, buf.slice(off, off + len)]);
  };
  ifa.taps.push(grab('a'));
  ifb.taps.push(grab('b'));
  // A broadcast frame with an unknown ethertype: received (tap sees it), then dropped as noproto.
  const m = a.k.mbufs.get(46)!;
  m.buf.fill(0x5a, m.off, m.off + 46);
  const { etherSend } = await import('../../net/if/ether.js');
  t.is(etherSend(ifa, m, new Uint8Array([255, 255, 255, 255, 255, 255]), 0, 0x88b5), 0);
  await sim.run(1);
  t.is(got.length, 1);
  t.is(got[0]![0], 'b');
  t.is(got[0]![1].length, 60);
  t.deepEqual([...got[0]![1].subarray(6, 12)], [...ifa.lladdr!]);
  t.is(ifb.stats.noproto, 1);
  t.is(ifa.stats.opackets, 1);
  // The bus holds it as NetBSD's dumpbus reads it.
  const dump = dumpBus(sim.files.get('bus1')!, {});
  t.regex(dump.text, /^bus version 3, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x0018\n/);
  t.regex(dump.text, /packet 0, offset 0x0030, length 0x003c, ts 0\/00/);
  t.is(a.k.mbufs.inUse, 0);
  t.is(b.k.mbufs.inUse, 0);
});

test("a kernel attached to a copy of NetBSD's wrapped bus reads on from it: only new frames, in order", async (t) => {
  const { readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const path = fileURLToPath(new URL('../fixtures/netbsd/bus-wrapped', import.meta.url));
  const sim = createSimHost({ seed: 3 });
  sim.files.set('wrapped', new Uint8Array(readFileSync(path)));
  const before = dumpBus(sim.files.get('wrapped')!, {}).text.split('\n').filter((l) => l.startsWith('packet')).length;
  t.is(before, 715);
  const a = kernel(sim);
  const b = kernel(sim);
  for (const x of [a, b]) {
    x.io('SIOCIFCREATE', { name: 'shmif0' });
    x.io('SIOCSLINKSTR', { name: 'shmif0', linkstr: 'wrapped' });
  }
  // B comes up first and writes nothing yet; A then sends 600 frames of 1442 bytes, wrapping the ring again.
  b.io('SIOCSIFFLAGS', { name: 'shmif0', flags: IFF_UP });
  a.io('SIOCSIFFLAGS', { name: 'shmif0', flags: IFF_UP });
  await sim.run(1);
  const ifa = a.ns.ifs.get('shmif0')!;
  const ifb = b.ns.ifs.get('shmif0')!;
  const seen: number[] = [];
  ifb.taps.push((_i, dir, buf, off) => {
    if (dir === 0) seen.push((buf[off + 14]! << 8) | buf[off + 15]!);
  });
  const { etherSend } = await import('../../net/if/ether.js');
  const bcast = new Uint8Array([255, 255, 255, 255, 255, 255]);
  for (let i = 0; i < 600; i++) {
    const m = a.k.mbufs.get(1428)!;
    m.buf[m.off] = i >> 8;
    m.buf[m.off + 1] = i & 0xff;
    etherSend(ifa, m, bcast, 0, 0x88b5);
    if (i % 50 === 49) await sim.run(1); // B keeps up, so it is never lapped
  }
  await sim.run(1);
  // B saw NetBSD's newest frame (where it synced) or nothing of the old ring, then exactly our 600.
  const ours = seen.slice(seen.length - 600);
  t.deepEqual(ours, Array.from({ length: 600 }, (_, i) => i));
  t.true(seen.length <= 601);
  const after = dumpBus(sim.files.get('wrapped')!, {});
  t.regex(after.text, /generation: 2,/);
});
