/*
 * The UDP port namespace (in_pcb.ts): bind rules with SO_REUSEADDR and
 * SO_REUSEPORT as BSD has them, address checks, ephemeral ports (range,
 * randomness from the host, exhaustion), and input's best-match lookup.
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import { createSimHost, type SimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, MSG_DONTWAIT, SOCK_DGRAM, type Sockaddr } from '../../kern/sys.js';
import { IN_IFF_DUPLICATED, inet } from '../../net/inet/inet.js';
import { InAddr, connHashKey } from '../../net/inet/in_addr.js';
import { parseInAddr } from '../../net/wire/inaddr.js';
import { SO_REUSEADDR, SO_REUSEPORT, SOL_SOCKET } from '../../net/socket.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { bootKernels, errnoCode as code, haltAll, ifconfig } from '../helpers/kernels.js';

function boot(seed = 1): { sim: SimHost; k: Kernel } {
  const sim = createSimHost({ seed });
  const k = bootKernel({ components: ['net', 'net_net', 'net_netinet'], host: sim });
  return { sim, k };
}

const sin = (addr: string, port: number): Sockaddr => ({ family: AF_INET, addr, port });
const v4 = (a: number): InAddr => new InAddr().setV4(a);

async function socketWith(k: Kernel, opts: number): Promise<number> {
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  if (opts & SO_REUSEADDR) await k.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (opts & SO_REUSEPORT) await k.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  return fd;
}

const NONE = 0;
const RA = SO_REUSEADDR;
const RP = SO_REUSEPORT;

/** [first socket's options, its address, second's options, its address, what the second bind gets]. */
const bindRules: ReadonlyArray<readonly [number, string, number, string, string]> = [
  [NONE, '0.0.0.0', NONE, '0.0.0.0', 'EADDRINUSE'],
  [RA, '0.0.0.0', RA, '0.0.0.0', 'EADDRINUSE'], // SO_REUSEADDR never allows an exact duplicate (unicast)
  [RP, '0.0.0.0', RP, '0.0.0.0', 'ok'], // both SO_REUSEPORT: duplicates allowed
  [RP, '0.0.0.0', NONE, '0.0.0.0', 'EADDRINUSE'],
  [NONE, '0.0.0.0', RP, '0.0.0.0', 'EADDRINUSE'],
  [RP, '127.0.0.1', RP, '127.0.0.1', 'ok'],
  [NONE, '127.0.0.1', NONE, '127.0.0.1', 'EADDRINUSE'],
  [NONE, '0.0.0.0', NONE, '127.0.0.1', 'EADDRINUSE'], // specific beside wildcard needs SO_REUSEADDR
  [NONE, '0.0.0.0', RA, '127.0.0.1', 'ok'],
  [NONE, '127.0.0.1', NONE, '0.0.0.0', 'EADDRINUSE'],
  [NONE, '127.0.0.1', RA, '0.0.0.0', 'ok'],
  [NONE, '127.0.0.1', NONE, '127.0.0.2', 'ok'], // different addresses never conflict
  [RA, '224.0.0.251', RA, '224.0.0.251', 'ok'], // multicast: SO_REUSEADDR acts as SO_REUSEPORT
  [NONE, '224.0.0.251', NONE, '224.0.0.251', 'EADDRINUSE'],
];

for (const [o1, a1, o2, a2, want] of bindRules) {
  const name = (o: number): string => (o === RA ? 'SO_REUSEADDR' : o === RP ? 'SO_REUSEPORT' : 'no options');
  test(`bind ${a1}:5353 (${name(o1)}) then ${a2}:5353 (${name(o2)}): ${want}`, async (t) => {
    const { k } = boot();
    const first = await socketWith(k, o1);
    await k.sys.bind(first, sin(a1, 5353));
    const second = await socketWith(k, o2);
    t.is(await code(k.sys.bind(second, sin(a2, 5353))), want);
    await k.halt();
  });
}

test('bind: addresses that are ours, 127/8 and any are fine; others are EADDRNOTAVAIL', async (t) => {
  const { k } = boot();
  const tryBind = async (addr: string, port: number): Promise<string> => code(k.sys.bind(await k.sys.socket(AF_INET, SOCK_DGRAM, 0), sin(addr, port)));
  t.is(await tryBind('0.0.0.0', 1000), 'ok');
  t.is(await tryBind('127.0.0.1', 1001), 'ok');
  t.is(await tryBind('127.9.8.7', 1002), 'ok');
  t.is(await tryBind('192.0.2.77', 1003), 'EADDRNOTAVAIL');
  t.is(await tryBind('255.255.255.255', 1004), 'EADDRNOTAVAIL');
  // A rump kernel's caller is root: reserved ports need no privilege.
  t.is(await tryBind('0.0.0.0', 53), 'ok');
  await k.halt();
});

test('bind: EINVAL when already bound (also by an implicit bind), bad sockaddrs refused', async (t) => {
  const { k } = boot();
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  t.is(await code(k.sys.bind(fd, { family: 24, addr: '::', port: 1 })), 'EAFNOSUPPORT');
  t.is(await code(k.sys.bind(fd, sin('1.2.3', 1))), 'EINVAL');
  t.is(await code(k.sys.bind(fd, sin('127.0.0.01', 1))), 'EINVAL');
  t.is(await code(k.sys.bind(fd, sin('127.0.0.1', -1))), 'EINVAL');
  t.is(await code(k.sys.bind(fd, sin('127.0.0.1', 1.5))), 'EINVAL');
  t.is(await code(k.sys.bind(fd, null as unknown as Sockaddr)), 'EINVAL');
  await k.sys.bind(fd, sin('127.0.0.1', 2000));
  t.is(await code(k.sys.bind(fd, sin('127.0.0.1', 2001))), 'EINVAL');

  const sender = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.sendto(sender, new Uint8Array(1), 0, sin('127.0.0.1', 2000));
  t.is(await code(k.sys.bind(sender, sin('0.0.0.0', 2002))), 'EINVAL');
  await k.halt();
});

test('port 0 picks ephemeral ports in 49152..65535, at random, reproducibly from the seed', async (t) => {
  const portsOf = async (seed: number): Promise<number[]> => {
    const { k } = boot(seed);
    const ports: number[] = [];
    for (let i = 0; i < 40; i++) {
      const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
      await k.sys.bind(fd, sin('0.0.0.0', 0));
      ports.push((await k.sys.getsockname(fd)).port);
    }
    await k.halt();
    return ports;
  };
  const a = await portsOf(7);
  t.true(a.every((p) => p >= 49152 && p <= 65535));
  t.is(new Set(a).size, a.length);
  // Not a sequence: RFC 6056 wants the next port hard to guess.
  let steps = 0;
  for (let i = 1; i < a.length; i++) if (Math.abs(a[i]! - a[i - 1]!) <= 1) steps++;
  t.true(steps < 3, `${steps} consecutive`);
  t.deepEqual(await portsOf(7), a);
  t.notDeepEqual(await portsOf(8), a);
});

test('the ephemeral range follows net.inet.ip.anonportmin/max and runs out with EAGAIN', async (t) => {
  const { k } = boot();
  t.is(await k.sys.sysctl('net.inet.ip.anonportmin'), 49152);
  t.is(await k.sys.sysctl('net.inet.ip.anonportmax'), 65535);
  t.is(await code(k.sys.sysctlSet('net.inet.ip.anonportmin', 70000)), 'EINVAL');
  t.is(await code(k.sys.sysctlSet('net.inet.ip.anonportmin', 65535)), 'EINVAL'); // min must stay below max
  await k.sys.sysctlSet('net.inet.ip.anonportmin', 40000);
  await k.sys.sysctlSet('net.inet.ip.anonportmax', 40003);
  const got: number[] = [];
  for (let i = 0; i < 4; i++) {
    const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
    await k.sys.bind(fd, sin('0.0.0.0', 0));
    got.push((await k.sys.getsockname(fd)).port);
  }
  t.deepEqual(got.sort((x, y) => x - y), [40000, 40001, 40002, 40003]);
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  t.is(await code(k.sys.bind(fd, sin('0.0.0.0', 0))), 'EAGAIN');
  t.is(await code(k.sys.connect(fd, sin('127.0.0.1', 7))), 'EAGAIN');
  await k.halt();
});

test('input picks the best match: connected, then specific address, then wildcard', async (t) => {
  const { sim, k } = boot();
  const wild = await socketWith(k, RA);
  await k.sys.bind(wild, sin('0.0.0.0', 4000));
  const specific = await socketWith(k, RA);
  await k.sys.bind(specific, sin('127.0.0.1', 4000));
  const conn = await socketWith(k, RP | RA);
  // A third socket can share the port only by its four-tuple: bind it to
  // another address of ours, connected to the sender.
  await k.sys.bind(conn, sin('127.0.0.2', 4000));
  const tx = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.bind(tx, sin('127.0.0.1', 4444));
  await k.sys.connect(conn, sin('127.0.0.1', 4444));

  await k.sys.sendto(tx, new Uint8Array([1]), 0, sin('127.0.0.1', 4000));
  await k.sys.sendto(tx, new Uint8Array([2]), 0, sin('127.0.0.3', 4000));
  await k.sys.sendto(tx, new Uint8Array([3]), 0, sin('127.0.0.2', 4000));
  await sim.run(1);
  t.deepEqual([...(await k.sys.recv(specific, 10, MSG_DONTWAIT))], [1]);
  t.deepEqual([...(await k.sys.recv(wild, 10, MSG_DONTWAIT))], [2]);
  t.deepEqual([...(await k.sys.recv(conn, 10, MSG_DONTWAIT))], [3]);
  for (const fd of [wild, specific, conn]) t.is(await code(k.sys.recv(fd, 10, MSG_DONTWAIT)), 'EAGAIN');
  t.is(inet(k).udpstat.noport, 0);
  await k.halt();
});

test('two sockets cannot hold the same four-tuple', async (t) => {
  const { k } = boot();
  const a = await socketWith(k, RP);
  const b = await socketWith(k, RP);
  await k.sys.bind(a, sin('127.0.0.1', 4100));
  await k.sys.bind(b, sin('127.0.0.1', 4100));
  await k.sys.connect(a, sin('127.0.0.1', 53));
  t.is(await code(k.sys.connect(b, sin('127.0.0.1', 53))), 'EADDRINUSE');
  t.is(await code(k.sys.connect(b, sin('127.0.0.1', 54))), 'ok');
  await k.halt();
});

test('PCB lookups stay correct with many sockets on one port and many ports', async (t) => {
  const { sim, k } = boot();
  const table = inet(k).udbtable;
  const peers: number[] = [];
  for (let i = 0; i < 200; i++) {
    const fd = await socketWith(k, RP);
    await k.sys.bind(fd, sin('127.0.0.1', 4200));
    await k.sys.connect(fd, sin('127.0.0.1', 10000 + i));
    peers.push(fd);
  }
  t.is(table.size, 200);
  const tx = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.bind(tx, sin('127.0.0.1', 10123));
  await k.sys.sendto(tx, new Uint8Array([123]), 0, sin('127.0.0.1', 4200));
  await sim.run(1);
  t.deepEqual([...(await k.sys.recv(peers[123]!, 10, MSG_DONTWAIT))], [123]);
  for (const fd of peers) await k.sys.close(fd);
  t.is(table.size, 1);
  t.is(table.lookupPort(new InAddr(), 4200, true), null);
  await k.halt();
});

test('a port held by one socket, then two, then one again, keeps its binding rules and frees when the last goes', async (t) => {
  // A port's holders are one PCB or, from the second on, a set: each step must keep what bind sees.
  const { k } = boot();
  const a = await socketWith(k, RP);
  await k.sys.bind(a, sin('0.0.0.0', 5300));
  t.is(await code(k.sys.bind(await socketWith(k, NONE), sin('0.0.0.0', 5300))), 'EADDRINUSE', 'one holder');
  const b = await socketWith(k, RP);
  await k.sys.bind(b, sin('0.0.0.0', 5300));
  t.is(await code(k.sys.bind(await socketWith(k, NONE), sin('0.0.0.0', 5300))), 'EADDRINUSE', 'two holders');
  await k.sys.close(a);
  t.is(await code(k.sys.bind(await socketWith(k, NONE), sin('0.0.0.0', 5300))), 'EADDRINUSE', 'one holder again');
  const c = await socketWith(k, RP);
  t.is(await code(k.sys.bind(c, sin('0.0.0.0', 5300))), 'ok', 'SO_REUSEPORT still shares with the one left');
  await k.sys.close(b);
  await k.sys.close(c);
  t.is(await code(k.sys.bind(await socketWith(k, NONE), sin('0.0.0.0', 5300))), 'ok', 'free once the last holder went');
  await k.halt();
});

test('connected PCBs whose four-tuples share a connection-hash key are each found, and stay found when the other goes', async (t) => {
  // The hash holds one PCB per key and a list only on a collision: find a
  // colliding pair of local (address, port) for one peer and connect both.
  const faddr = new InAddr().setV4(parseInAddr('127.0.0.1')!);
  const fport = 53;
  const seen = new Map<number, [number, number]>();
  let pair: [[number, number], [number, number]] | null = null;
  for (let a = 1; a < 255 && pair === null; a++) {
    const laddr = new InAddr().setV4(parseInAddr(`127.0.0.${a}`)!);
    for (let lport = 1024; lport < 65536; lport++) {
      const key = connHashKey(faddr, fport, laddr, lport);
      const other = seen.get(key);
      if (other !== undefined) {
        pair = [other, [a, lport]];
        break;
      }
      seen.set(key, [a, lport]);
    }
  }
  t.truthy(pair);
  const { sim, k } = boot();
  const table = inet(k).udbtable;
  const fds: number[] = [];
  for (const [a, lport] of pair!) {
    const fd = await socketWith(k, NONE);
    await k.sys.bind(fd, sin(`127.0.0.${a}`, lport));
    await k.sys.connect(fd, sin('127.0.0.1', fport));
    fds.push(fd);
  }
  const tx = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.bind(tx, sin('127.0.0.1', fport));
  for (let i = 0; i < 2; i++) {
    const [a, lport] = pair![i]!;
    t.is(table.lookupConnect(faddr, fport, v4(parseInAddr(`127.0.0.${a}`)!), lport)?.so as unknown, k.sys.file(fds[i]!) as unknown);
    await k.sys.sendto(tx, new Uint8Array([i + 1]), 0, sin(`127.0.0.${a}`, lport));
  }
  await sim.run(1);
  t.deepEqual([...(await k.sys.recv(fds[0]!, 10, MSG_DONTWAIT))], [1]);
  t.deepEqual([...(await k.sys.recv(fds[1]!, 10, MSG_DONTWAIT))], [2]);
  // Either one leaving the shared key leaves the other reachable.
  await k.sys.close(fds[0]!);
  const [a1, p1] = pair![1]!;
  t.truthy(table.lookupConnect(faddr, fport, v4(parseInAddr(`127.0.0.${a1}`)!), p1));
  t.is(table.lookupConnect(faddr, fport, v4(parseInAddr(`127.0.0.${pair![0]![0]}`)!), pair![0]![1]), null);
  await k.sys.sendto(tx, new Uint8Array([9]), 0, sin(`127.0.0.${a1}`, p1));
  await sim.run(1);
  t.deepEqual([...(await k.sys.recv(fds[1]!, 10, MSG_DONTWAIT))], [9]);
  await k.sys.close(fds[1]!);
  t.is(table.lookupConnect(faddr, fport, v4(parseInAddr(`127.0.0.${a1}`)!), p1), null);
  await k.halt();
});

test('bind to a tentative or duplicated address is EADDRNOTAVAIL (NetBSD in_pcbbind_addr); once DAD passes it binds', async (t) => {
  const ks = bootKernels(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  attachEther(a, hub);
  attachEther(b, hub);
  ifconfig(a, 'hub0', '192.0.2.1/24');
  ifconfig(b, 'hub0', '192.0.2.2/24');
  ifconfig(b, 'hub0', '192.0.2.7/24', true);
  await ks.sim.run(12_000);
  const fd = await a.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await a.sys.bind(fd, { family: AF_INET, addr: '192.0.2.1', port: 7000 });
  // An alias on an interface that is up is tentative while A probes for it (RFC 5227).
  ifconfig(a, 'hub0', '192.0.2.9/24', true);
  const fd9 = await a.sys.socket(AF_INET, SOCK_DGRAM, 0);
  t.is(await code(a.sys.bind(fd9, { family: AF_INET, addr: '192.0.2.9', port: 7000 })), 'EADDRNOTAVAIL');
  await ks.sim.run(12_000);
  await a.sys.bind(fd9, { family: AF_INET, addr: '192.0.2.9', port: 7000 });
  // B holds 192.0.2.7 and answers A's probe: A's copy is duplicated and never bindable.
  ifconfig(a, 'hub0', '192.0.2.7/24', true);
  await ks.sim.run(12_000);
  t.truthy(inet(a).addrs.find((ia) => ia.addr === parseInAddr('192.0.2.7')! && ia.flags & IN_IFF_DUPLICATED), 'A found B has it');
  const fd7 = await a.sys.socket(AF_INET, SOCK_DGRAM, 0);
  t.is(await code(a.sys.bind(fd7, { family: AF_INET, addr: '192.0.2.7', port: 7000 })), 'EADDRNOTAVAIL');
  await haltAll(ks);
});
