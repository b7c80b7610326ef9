/*
 * UDP between kernels on an Ethernet hub: echo, broadcast (SO_BROADCAST,
 * delivery to every SO_REUSEPORT socket, no ICMP about broadcasts), and
 * port unreachable reported back to a connected sender as ECONNREFUSED.
 *
 *     kernel A                kernel B                kernel C
 *     hub0 10.0.0.1/24        hub0 10.0.0.2/24        hub0 10.0.0.3/24
 *         |                       |                       |
 *     ====+=======================+=======================+====  hub "lan"
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import type { Kernel } from '../../kern/kernel.js';
import { Errno, ECONNREFUSED } from '../../kern/errno.js';
import { AF_INET, MSG_DONTWAIT, SOCK_DGRAM, type Sockaddr } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { SO_BROADCAST, SO_REUSEPORT, SOL_SOCKET } from '../../net/socket.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { bootKernels, haltAll, ifconfig, route, type Kernels, errnoCode as code } from '../helpers/kernels.js';

const sin = (addr: string, port: number): Sockaddr => ({ family: AF_INET, addr, port });
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Lan extends Kernels {
  a: Kernel;
  b: Kernel;
  c: Kernel;
  hub: Hub;
  /** ICMP frames seen on the hub. */
  icmpFrames: number;
}

async function lan(): Promise<Lan> {
  const ks = bootKernels(3, 11);
  const [a, b, c] = ks.kernels as [Kernel, Kernel, Kernel];
  const hub = new Hub('lan');
  const l: Lan = { ...ks, a, b, c, hub, icmpFrames: 0 };
  hub.tap((f) => {
    if (f[12] === 0x08 && f[13] === 0x00 && f[14 + 9] === 1) l.icmpFrames++;
  });
  [a, b, c].forEach((k, i) => {
    attachEther(k, hub);
    ifconfig(k, 'hub0', `10.0.0.${i + 1}/24`);
  });
  await ks.sim.run(1);
  return l;
}

async function udp(k: Kernel, bindTo?: Sockaddr, opts = 0): Promise<number> {
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  if (opts & SO_REUSEPORT) await k.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (opts & SO_BROADCAST) await k.sys.setsockopt(fd, SOL_SOCKET, SO_BROADCAST, 1);
  if (bindTo) await k.sys.bind(fd, bindTo);
  return fd;
}

test('UDP echo between two kernels: source chosen from the route, ARP on the way, nothing leaks', async (t) => {
  const l = await lan();
  const srv = await udp(l.b, sin('0.0.0.0', 7));
  const server = (async () => {
    const r = await l.b.sys.recvfrom(srv, 2048);
    await l.b.sys.sendto(srv, r.data, 0, r.from);
    return r.from;
  })();
  const cli = await udp(l.a);
  await l.a.sys.sendto(cli, bytes('over the hub'), 0, sin('10.0.0.2', 7));
  await l.sim.run(100);
  const from = await server;
  const name = await l.a.sys.getsockname(cli);
  t.deepEqual(from, sin('10.0.0.1', name.port));
  const r = await l.a.sys.recvfrom(cli, 2048, MSG_DONTWAIT);
  t.is(text(r.data), 'over the hub');
  t.deepEqual(r.from, sin('10.0.0.2', 7));
  t.is(inet(l.b).udpstat.ipackets, 1);
  t.is(inet(l.a).udpstat.ipackets, 1);
  await l.a.sys.close(cli);
  await l.b.sys.close(srv);
  const left = await haltAll(l);
  t.deepEqual(left.mbufsInUse, [0, 0, 0]);
});

test('broadcast needs SO_BROADCAST (EACCES) and reaches every SO_REUSEPORT socket, not a specific binding', async (t) => {
  const l = await lan();
  const tx = await udp(l.a);
  t.is(await code(l.a.sys.sendto(tx, bytes('hi all'), 0, sin('10.0.0.255', 5000))), 'EACCES');
  // The limited broadcast needs a route; with a default route it is refused the same way.
  t.is(await code(l.a.sys.sendto(tx, bytes('hi all'), 0, sin('255.255.255.255', 5000))), 'ENETUNREACH');
  await route(l.a, { type: 'add', dst: 'default', gateway: '10.0.0.254' });
  t.is(await code(l.a.sys.sendto(tx, bytes('hi all'), 0, sin('255.255.255.255', 5000))), 'EACCES');

  const shared = [await udp(l.b, sin('0.0.0.0', 5000), SO_REUSEPORT), await udp(l.b, sin('0.0.0.0', 5000), SO_REUSEPORT), await udp(l.b, sin('0.0.0.0', 5000), SO_REUSEPORT)];
  const specific = await udp(l.c, sin('10.0.0.3', 5000));

  await l.a.sys.setsockopt(tx, SOL_SOCKET, SO_BROADCAST, 1);
  t.is(await l.a.sys.sendto(tx, bytes('subnet'), 0, sin('10.0.0.255', 5000)), 6);
  t.is(await l.a.sys.sendto(tx, bytes('limited'), 0, sin('255.255.255.255', 5000)), 7);
  await l.sim.run(10);
  const port = (await l.a.sys.getsockname(tx)).port;
  for (const fd of shared) {
    const r1 = await l.b.sys.recvfrom(fd, 100, MSG_DONTWAIT);
    t.is(text(r1.data), 'subnet');
    t.deepEqual(r1.from, sin('10.0.0.1', port));
    t.is(text(await l.b.sys.recv(fd, 100, MSG_DONTWAIT)), 'limited');
  }
  // BSD: a socket bound to a unicast address does not hear broadcasts.
  t.is(await code(l.c.sys.recv(specific, 100, MSG_DONTWAIT)), 'EAGAIN');
  t.is(inet(l.c).udpstat.noportbcast, 2);
  t.is(inet(l.c).udpstat.noport, 0);
  // RFC 1122 §3.2.2: no ICMP error about a broadcast.
  t.is(l.icmpFrames, 0);
  const left = await haltAll(l);
  t.deepEqual(left.mbufsInUse, [0, 0, 0]);
});

test('port unreachable crosses the hub: a connected socket gets ECONNREFUSED, an unconnected one nothing', async (t) => {
  const l = await lan();
  const conn = await udp(l.a);
  await l.a.sys.connect(conn, sin('10.0.0.2', 9));
  t.is((await l.a.sys.getsockname(conn)).addr, '10.0.0.1');
  // A reader blocked before the error arrives is woken by it.
  const blocked = l.a.sys.recv(conn, 100);
  blocked.catch(() => {});
  await l.a.sys.send(conn, bytes('knock knock'));
  await l.sim.run(100);
  const err = await t.throwsAsync(blocked);
  t.is((err as Errno).errno, ECONNREFUSED);
  t.is(inet(l.b).udpstat.noport, 1);
  t.is(inet(l.a).icmpstat.inhist[3], 1);

  const loose = await udp(l.a);
  await l.a.sys.sendto(loose, bytes('anyone?'), 0, sin('10.0.0.3', 9));
  await l.sim.run(100);
  t.is(inet(l.c).udpstat.noport, 1);
  t.is(inet(l.a).icmpstat.inhist[3], 2);
  t.is(await code(l.a.sys.recv(loose, 100, MSG_DONTWAIT)), 'EAGAIN');
  t.is(l.icmpFrames, 2);
  await haltAll(l);
});
