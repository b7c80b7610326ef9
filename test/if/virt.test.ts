/*
 * The virt interface driver on the sim host, whose TAP devices are in
 * memory: cloning and the host device's life (created, re-opened by
 * linkstr, removed at destroy unless it existed before), the EPERM of an
 * unprivileged process, frames both ways in batches, and the drops.
 *
 *   test (plays the host: Linux at 10.199.0.1, MAC 02:00:5e:10:20:30)
 *     └─ SimTap tun0 ══ virt0 ── kernel (10.199.0.2/24)
 *
 *   kernel A ── virt0 ══ tapA ─(test wires onFrame to inject)─ tapB ══ virt0 ── kernel B
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import '../../net/if/virt_component.js';
import { SIM_TAP_QUEUE, createSimHost, type SimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import { Errno, EBUSY, EINVAL, ENETDOWN, ENXIO, EPERM } from '../../kern/errno.js';
import { netstack } from '../../net/netstack.js';
import { ifioctl } from '../../net/interface_ioctl.js';
import { IFF_BROADCAST, IFF_MULTICAST, IFF_RUNNING, IFF_SIMPLEX, IFF_UP } from '../../net/interface.js';
import type { IfInfo } from '../../net/ioctl.js';
import { virtSoftc } from '../../net/if/virt.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 } from '../../hypercall/types.js';
import {
  BROADCAST_MAC, STRANGER_MAC, arpTable, decodeFrame, etherFrame, icmpMessage, icmpstat, ifconfig, ifnet, ip, ipPacket,
  sendEcho,
} from '../helpers/kernels.js';

const COMPONENTS = ['net', 'net_net', 'net_netinet', 'net_virtif'];

function kernel(sim: SimHost = createSimHost(), env: Record<string, string> = {}) {
  const k = bootKernel({ components: COMPONENTS, host: sim, env });
  const ns = netstack(k);
  const io = (cmd: string, arg?: unknown) => ifioctl(ns, cmd, arg);
  return { k, ns, io, sim };
}

function info(io: (cmd: string, arg?: unknown) => unknown, name: string): IfInfo {
  return (io('SIOCGIFCONF', { name }) as IfInfo[])[0]!;
}

function errnoOf(t: { throws: (fn: () => unknown) => unknown }, fn: () => unknown): Errno {
  return t.throws(fn) as Errno;
}

/** An ARP request from the host (02:00:5e:10:20:30, `spa`) for `tpa`. */
function arpRequest(spa: string, tpa: string): Uint8Array {
  const p = new Uint8Array(28);
  const v = new DataView(p.buffer);
  v.setUint16(0, 1);
  v.setUint16(2, 0x0800);
  p[4] = 6;
  p[5] = 4;
  v.setUint16(6, 1);
  p.set(STRANGER_MAC, 8);
  v.setUint32(14, ip(spa));
  v.setUint32(24, ip(tpa));
  return etherFrame(BROADCAST_MAC, STRANGER_MAC, 0x0806, p);
}

function mac(s: string): Uint8Array {
  return new Uint8Array(s.split(':').map((h) => parseInt(h, 16)));
}

test('virt0 create opens host TAP tun0 (created); MAC b2:0a:…, MTU 1500, BROADCAST|SIMPLEX|MULTICAST; destroy removes it', (t) => {
  const { io, sim } = kernel();
  t.deepEqual(io('SIOCIFCREATE', { name: 'virt0' }), { name: 'virt0' });
  const i = info(io, 'virt0');
  t.is(i.mtu, 1500);
  t.is(i.flags, IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST);
  t.regex(i.lladdr!, /^b2:0a:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
  t.is(i.linkstr, 'tun0');
  t.true(sim.tap('tun0')?.device?.created);
  t.true((io('SIOCIFGCLONERS') as string[]).includes('virt'));

  // virtN gets tunN, as NetBSD's Linux backend names it.
  io('SIOCIFCREATE', { name: 'virt3' });
  t.is(info(io, 'virt3').linkstr, 'tun3');
  t.not(info(io, 'virt3').lladdr, i.lladdr);

  io('SIOCIFDESTROY', { name: 'virt0' });
  t.is(sim.tap('tun0'), undefined, 'the device we created is gone');
  t.truthy(sim.tap('tun3'));
});

test('without CAP_NET_ADMIN, create fails with EPERM saying what is needed; the kernel keeps working', async (t) => {
  const { k, io, sim } = kernel();
  sim.capNetAdmin = false;
  const e = errnoOf(t, () => io('SIOCIFCREATE', { name: 'virt0' }));
  t.true(e instanceof Errno);
  t.is(e.errno, EPERM);
  t.is(e.code, 'EPERM');
  t.is(e.message, 'virt0: creating TAP device tun0 needs CAP_NET_ADMIN (run as root or grant the capability)');
  t.true(sim.logged.includes(e.message), 'the kernel says it on its console too');
  t.is(netstack(k).ifs.get('virt0'), undefined, 'no half-made interface is left');
  t.is(sim.taps.size, 0);

  // The kernel is fine: lo0 answers a ping.
  t.is(sendEcho(k, '127.0.0.1'), 0);
  await sim.run(10);
  t.is(icmpstat(k).inhist[0], 1, 'an echo reply came back over lo0');
  // Given the capability, the same command works.
  sim.capNetAdmin = true;
  t.deepEqual(io('SIOCIFCREATE', { name: 'virt0' }), { name: 'virt0' });
});

test('linkstr before up re-opens: the default device goes, the named one is used', (t) => {
  const { io, sim } = kernel();
  io('SIOCIFCREATE', { name: 'virt0' });
  io('SIOCSLINKSTR', { name: 'virt0', linkstr: 'rumptap0' });
  t.is(sim.tap('tun0'), undefined);
  t.true(sim.tap('rumptap0')?.device?.created);
  t.deepEqual(io('SIOCGLINKSTR', { name: 'virt0' }), { linkstr: 'rumptap0' });
  // The same name again changes nothing.
  io('SIOCSLINKSTR', { name: 'virt0', linkstr: 'rumptap0' });
  t.is(sim.tap('rumptap0')?.device?.created, true);

  io('SIOCSIFFLAGS', { name: 'virt0', flags: IFF_UP });
  t.is(info(io, 'virt0').flags & (IFF_UP | IFF_RUNNING), IFF_UP | IFF_RUNNING);
  t.is(errnoOf(t, () => io('SIOCSLINKSTR', { name: 'virt0', linkstr: 'other' })).errno, EBUSY, 'not while up');
  t.is(errnoOf(t, () => io('SIOCSLINKSTR', { name: 'virt0', linkstr: null })).errno, EBUSY);

  io('SIOCSIFFLAGS', { name: 'virt0', flags: 0 });
  io('SIOCSLINKSTR', { name: 'virt0', linkstr: null });
  t.is(sim.taps.size, 0);
  t.deepEqual(io('SIOCGLINKSTR', { name: 'virt0' }), { linkstr: null });
  t.is(errnoOf(t, () => io('SIOCSIFFLAGS', { name: 'virt0', flags: IFF_UP })).errno, ENXIO, 'up without a device');
  t.is(errnoOf(t, () => io('SIOCSLINKSTR', { name: 'virt0', linkstr: null })).errno, EINVAL);
});

test('bad host names are EINVAL; a failed linkstr leaves the old device attached', (t) => {
  const { io, sim } = kernel();
  io('SIOCIFCREATE', { name: 'virt0' });
  for (const bad of ['x'.repeat(16), 'a/b', 'a b', '..', 'eth0:1']) {
    const e = errnoOf(t, () => io('SIOCSLINKSTR', { name: 'virt0', linkstr: bad }));
    t.is(e.errno, EINVAL, bad);
    t.regex(e.message, /^virt0: .* is not a host interface name/);
  }
  sim.capNetAdmin = false;
  t.is(errnoOf(t, () => io('SIOCSLINKSTR', { name: 'virt0', linkstr: 'tap9' })).errno, EPERM);
  t.is(info(io, 'virt0').linkstr, 'tun0');
  t.truthy(sim.tap('tun0')?.device);
});

test('a device that existed before is attached to and left in place at destroy', (t) => {
  const { io, sim } = kernel();
  const tap = sim.addTap('tap7');
  io('SIOCIFCREATE', { name: 'virt0' });
  io('SIOCSLINKSTR', { name: 'virt0', linkstr: 'tap7' });
  t.is(tap.device?.created, false);
  io('SIOCIFDESTROY', { name: 'virt0' });
  t.is(sim.tap('tap7'), tap, 'still there');
  t.is(tap.device, null, 'and closed');
});

test('a device another kernel has open is EBUSY with a message', (t) => {
  const sim = createSimHost();
  const a = kernel(sim);
  const b = kernel(sim);
  a.io('SIOCIFCREATE', { name: 'virt0' });
  const e = errnoOf(t, () => b.io('SIOCIFCREATE', { name: 'virt0' }));
  t.is(e.errno, EBUSY);
  t.is(e.message, 'virt0: TAP device tun0 is in use by another process (stop it, or pick another device: ifconfig virt0 linkstr NAME)');
  b.io('SIOCIFCREATE', { name: 'virt1' });
  t.is(info(b.io, 'virt1').linkstr, 'tun1');
});

test('the host ARPs and pings the kernel over the TAP; replies go out in one flush per batch', async (t) => {
  const { k, io, sim } = kernel();
  io('SIOCIFCREATE', { name: 'virt0' });
  ifconfig(k, 'virt0', '10.199.0.2/24');
  const tap = sim.tap('tun0')!;
  await sim.settle();
  const announce = tap.take().map(decodeFrame);
  t.true(announce.every((f) => f.arp?.op === 1 && f.arp.spa === '10.199.0.2' && f.arp.tpa === '10.199.0.2'), 'gratuitous ARP');
  const ourMac = info(io, 'virt0').lladdr!;

  // Who has 10.199.0.2? Then three echo requests, all in one batch.
  t.true(tap.inject(arpRequest('10.199.0.1', '10.199.0.2')));
  for (let seq = 0; seq < 3; seq++) {
    const echo = icmpMessage(8, 0, (0x77 << 16) | seq, new Uint8Array(56).fill(seq));
    tap.inject(etherFrame(mac(ourMac), STRANGER_MAC, 0x0800, ipPacket({ src: '10.199.0.1', dst: '10.199.0.2', p: 1, payload: echo, id: seq + 1 })));
  }
  const writes: number[] = [];
  tap.onFrame = (f) => writes.push(f.length);
  const dev = tap.device!;
  const flush = dev.flush.bind(dev);
  let flushes = 0;
  dev.flush = () => {
    if (dev.queued > 0) flushes++;
    return flush();
  };
  await sim.settle();
  t.is(flushes, 1, 'the four replies left in one flush');
  const out = tap.take();
  t.is(out.length, 0, 'onFrame took them');
  t.is(writes.length, 4, 'an ARP reply and three echo replies');

  tap.onFrame = null;
  tap.inject(arpRequest('10.199.0.1', '10.199.0.2'));
  await sim.settle();
  const [reply] = tap.take().map(decodeFrame);
  t.is(reply!.arp?.op, 2);
  t.is(reply!.arp?.sha, ourMac);
  t.is(reply!.dstMac, '02:00:5e:10:20:30');
  const arp = await arpTable(k);
  t.true(arp.some((e) => e.addr === '10.199.0.1' && e.lladdr === '02:00:5e:10:20:30'), JSON.stringify(arp));
  t.is(icmpstat(k).outhist[0], 3, 'three echo replies');
  const ifi = info(io, 'virt0').stats;
  t.is(ifi.ipackets, 5);
  t.true(ifi.opackets >= 5);
});

test('two kernels over a pair of TAP devices wired by the test ping each other', async (t) => {
  const sim = createSimHost({ seed: 3 });
  const a = kernel(sim);
  const b = kernel(sim);
  a.io('SIOCIFCREATE', { name: 'virt0' });
  a.io('SIOCSLINKSTR', { name: 'virt0', linkstr: 'tapA' });
  b.io('SIOCIFCREATE', { name: 'virt0' });
  b.io('SIOCSLINKSTR', { name: 'virt0', linkstr: 'tapB' });
  const tapA = sim.tap('tapA')!;
  const tapB = sim.tap('tapB')!;
  tapA.onFrame = (f) => tapB.inject(f);
  tapB.onFrame = (f) => tapA.inject(f);
  ifconfig(a.k, 'virt0', '10.199.0.1/24');
  ifconfig(b.k, 'virt0', '10.199.0.2/24');
  await sim.settle();
  t.is(sendEcho(a.k, '10.199.0.2', { seq: 1 }), 0);
  await sim.run(100);
  t.is(icmpstat(a.k).inhist[0], 1, 'echo reply from B');
  t.is(icmpstat(b.k).inhist[8], 1, 'echo request at B');
});

test('frames longer than the MTU allows, or without memory, are dropped and counted', async (t) => {
  const { k, io, sim } = kernel(createSimHost(), { RUMP_MEMLIMIT: '64k' });
  io('SIOCIFCREATE', { name: 'virt0' });
  ifconfig(k, 'virt0', '10.199.0.2/24');
  const tap = sim.tap('tun0')!;
  await sim.settle();
  const sc = virtSoftc(ifnet(k, 'virt0'))!;
  tap.inject(new Uint8Array(1500 + 18 + 1));
  tap.inject(new Uint8Array(1500 + 18).fill(0xff));
  await sim.settle();
  t.is(sc.stats.rxtoolong, 1);
  t.is(ifnet(k, 'virt0').stats.ierrors, 1);
  // With the memory limit reached, a received frame finds no packet buffer:
  // dropped and counted, and the kernel goes on once memory is back.
  const held = [];
  for (let m = k.mbufs.get(1500); m !== null; m = k.mbufs.get(1500)) held.push(m);
  for (let m = k.mbufs.get(1, 0); m !== null; m = k.mbufs.get(1, 0)) held.push(m);
  tap.inject(new Uint8Array(60).fill(0xff));
  await sim.settle();
  t.is(sc.stats.rxnobufs, 1);
  t.is(ifnet(k, 'virt0').stats.iqdrops, 1);
  for (const m of held) k.mbufs.free(m);
  t.is(k.mbufs.inUse, 0, 'everything received was freed');
  io('SIOCSIFMTU', { name: 'virt0', mtu: 9000 });
  t.is(info(io, 'virt0').mtu, 9000);
  tap.inject(new Uint8Array(9018));
  await sim.settle();
  t.is(sc.stats.rxtoolong, 1, 'a jumbo frame fits MTU 9000');
  t.is(errnoOf(t, () => io('SIOCSIFMTU', { name: 'virt0', mtu: 9001 })).errno, EINVAL);
});

test('reading holds the host only while up; a device deleted under the kernel is logged and the link stops running', async (t) => {
  const { k, io, sim } = kernel();
  io('SIOCIFCREATE', { name: 'virt0' });
  t.is(sim.holds(), 0);
  io('SIOCSIFFLAGS', { name: 'virt0', flags: IFF_UP });
  t.is(sim.holds(), 1, 'an up virt interface keeps a process alive');
  io('SIOCSIFFLAGS', { name: 'virt0', flags: 0 });
  t.is(sim.holds(), 0);
  ifconfig(k, 'virt0', '10.199.0.2/24');
  await sim.settle();
  sim.deleteTap('tun0');
  await sim.settle();
  t.true(sim.logged.includes('virt0: TAP device tun0: read failed (EBADF); reading stopped'), sim.logged.join('\n'));
  const sc = virtSoftc(ifnet(k, 'virt0'))!;
  t.is(sc.stats.rxerrors, 1);
  t.is(sim.holds(), 0);
  t.is(info(io, 'virt0').flags & (IFF_UP | IFF_RUNNING), IFF_UP, 'up, but the link is not running');
  t.is(sendEcho(k, '10.199.0.1'), ENETDOWN, 'output says so rather than vanishing');
  t.deepEqual(k.sysctl.get('net.virtif.stats'), {
    rxnobufs: 0, rxtoolong: 0, txrefused: 0, rxerrors: 1, rxmcastfiltered: 0, txtso: 0, txcsum: 0, rxcsumok: 0, rxcsumsw: 0, rxgso: 0, rxsynshed: 0,
  });
});

test('halt closes the TAP devices: those the kernel created go away, others stay', async (t) => {
  const sim = createSimHost();
  const { k, io } = kernel(sim);
  sim.addTap('keep0');
  io('SIOCIFCREATE', { name: 'virt0' });
  io('SIOCIFCREATE', { name: 'virt1' });
  io('SIOCSLINKSTR', { name: 'virt1', linkstr: 'keep0' });
  io('SIOCSIFFLAGS', { name: 'virt0', flags: IFF_UP });
  await k.halt();
  t.deepEqual([...sim.taps.keys()], ['keep0']);
  t.is(sim.tap('keep0')!.device, null);
  t.is(sim.holds(), 0);
});

test('while virt0 is down the host queues up to 1000 frames for it, and drops the rest', async (t) => {
  const { k, io, sim } = kernel();
  io('SIOCIFCREATE', { name: 'virt0' });
  const tap = sim.tap('tun0')!;
  const frame = new Uint8Array(60).fill(0xff);
  for (let i = 0; i < SIM_TAP_QUEUE + 5; i++) tap.inject(frame);
  t.is(tap.dropped, 5);
  await sim.settle();
  t.is(ifnet(k, 'virt0').stats.ipackets, 0, 'nothing is read while down');
  io('SIOCSIFFLAGS', { name: 'virt0', flags: IFF_UP });
  await sim.settle();
  t.is(ifnet(k, 'virt0').stats.ipackets, SIM_TAP_QUEUE, 'read once up');
  t.is(k.mbufs.inUse, 0);
});

test('a router takes no GSO (LRO) frames: forwarding on re-issues TUNSETOFFLOAD without TSO, and a 64 KB frame is refused', async (t) => {
  const sim = createSimHost();
  // The sim TAP has no virtio-net header: play a host that has one, and
  // record what TUNSETOFFLOAD asks of it.
  const offloads: number[] = [];
  const openTap = sim.openTap.bind(sim);
  sim.openTap = (name, opts) => {
    const dev = openTap(name, opts);
    return new Proxy(dev, {
      get(target, p) {
        if (p === 'vnetHdrLen') return 12;
        if (p === 'setOffload') return (f: number) => offloads.push(f);
        const v = Reflect.get(target, p) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  const { k, io } = kernel(sim);
  io('SIOCIFCREATE', { name: 'virt0' });
  ifconfig(k, 'virt0', '10.199.0.2/24');
  const tap = sim.tap('tun0')!;
  const sc = virtSoftc(ifnet(k, 'virt0'))!;
  t.is(offloads.at(-1), TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, 'a host takes LRO frames');
  /** A frame of `len` bytes behind a virtio-net header with gso_type TCPV4. */
  const gsoFrame = (len: number) => {
    const f = new Uint8Array(12 + len);
    f[1] = 1;
    f.set(mac(info(io, 'virt0').lladdr!), 12);
    return f;
  };
  tap.inject(gsoFrame(20000));
  await sim.settle();
  t.is(sc.stats.rxgso, 1, 'taken as one');
  t.is(sc.stats.rxtoolong, 0);

  await k.sys.sysctlSet('net.inet.ip.forwarding', 1);
  tap.inject(gsoFrame(20000));
  await sim.settle();
  t.is(offloads.at(-1), TUN_F_CSUM, 'the host is told to segment before handing frames over');
  t.is(sc.stats.rxgso, 1, 'one the host queued before is not taken');
  t.is(sc.stats.rxtoolong, 1);

  await k.sys.sysctlSet('net.inet.ip.forwarding', 0);
  tap.inject(gsoFrame(20000));
  await sim.settle();
  t.is(offloads.at(-1), TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, 'LRO again once a host');
  t.is(sc.stats.rxgso, 2);
});
