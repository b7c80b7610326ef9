/*
 * Dual-stack AF_INET6 sockets (RFC 3493 §3.7 and §5.3, RFC 4038 §4.2):
 * with IPV6_V6ONLY off a socket bound to :: takes IPv4 too and shows its
 * peers as v4-mapped addresses (::ffff:a.b.c.d); a v4-mapped destination
 * goes out as IPv4; the two families share the port space of such a socket.
 * net.inet6.ip6.v6only is 1 by default, as on NetBSD.
 *
 *     kernel A  link0 192.0.2.1/24 2001:db8::1/64 ═══ link0 192.0.2.2/24 2001:db8::2/64  kernel B
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM, type Sockaddr } from '../../kern/sys.js';
import { IPPROTO_IPV6, IPV6_V6ONLY } from '../../net/inet/in_pcb.js';
import { SOL_SOCKET, SO_BROADCAST } from '../../net/socket.js';
import { connectKernels } from '../helpers/link.js';
import { haltAll, ifconfig, type Kernels } from '../helpers/kernels.js';
import { bootKernels6, dadDone, ifconfig6 } from './helpers.js';

const sin = (addr: string, port: number): Sockaddr => ({ family: AF_INET, addr, port });
const sin6 = (addr: string, port: number): Sockaddr => ({ family: AF_INET6, addr, port });
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

interface Net extends Kernels {
  a: Kernel;
  b: Kernel;
}

async function net(): Promise<Net> {
  const ks = bootKernels6(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const link = connectKernels(ks.sim, a, b);
  ifconfig(a, link.a.name, '192.0.2.1/24');
  ifconfig(b, link.b.name, '192.0.2.2/24');
  ifconfig6(a, link.a.name, '2001:db8::1/64');
  ifconfig6(b, link.b.name, '2001:db8::2/64');
  await dadDone(ks);
  return { ...ks, a, b };
}

async function until<T>(ks: Kernels, p: Promise<T>): Promise<T> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await ks.sim.runUntil(() => done, 60_000);
  return p;
}

async function dualListener(k: Kernel, port: number): Promise<number> {
  const fd = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await k.sys.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  await k.sys.bind(fd, sin6('::', port));
  await k.sys.listen(fd, 8);
  return fd;
}

test('a dual-stack TCP listener on :: accepts IPv4 (v4-mapped) and IPv6 peers', async (t) => {
  const n = await net();
  const l = await dualListener(n.a, 8000);
  t.is(await n.a.sys.getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY), 0);

  const c4 = await n.b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await until(n, n.b.sys.connect(c4, sin('192.0.2.1', 8000)));
  const acc4 = await until(n, n.a.sys.accept(l));
  t.deepEqual(acc4.addr, sin6('::ffff:192.0.2.2', (await n.b.sys.getsockname(c4)).port));
  t.deepEqual(await n.a.sys.getsockname(acc4.fd), sin6('::ffff:192.0.2.1', 8000));
  t.deepEqual(await n.a.sys.getpeername(acc4.fd), acc4.addr);
  // netstat lists the IPv4 connection of the AF_INET6 socket as tcp6, v4-mapped (as NetBSD does).
  const rows = await n.a.sys.ext('pcblist');
  t.true(rows.some((r) => r.proto === 'tcp6' && r.laddr === '::ffff:192.0.2.1' && r.faddr === '::ffff:192.0.2.2' && r.state === 'ESTABLISHED'), JSON.stringify(rows));
  await n.b.sys.write(c4, bytes('over IPv4'));
  t.is(text(await until(n, n.a.sys.read(acc4.fd, 100))), 'over IPv4');
  await n.a.sys.write(acc4.fd, bytes('back'));
  t.is(text(await until(n, n.b.sys.read(c4, 100))), 'back');

  const c6 = await n.b.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await until(n, n.b.sys.connect(c6, sin6('2001:db8::1', 8000)));
  const acc6 = await until(n, n.a.sys.accept(l));
  t.is(acc6.addr.addr, '2001:db8::2');
  t.is(acc6.addr.family, AF_INET6);

  for (const fd of [c4, c6]) await n.b.sys.close(fd);
  for (const fd of [acc4.fd, acc6.fd, l]) await n.a.sys.close(fd);
  await n.sim.run(300_000);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('net.inet6.ip6.v6only is 1 by default: a :: listener refuses IPv4, until the sysctl or the option says otherwise', async (t) => {
  const n = await net();
  t.is(await n.a.sys.sysctl('net.inet6.ip6.v6only'), 1);
  const l = await n.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  t.is(await n.a.sys.getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY), 1);
  await n.a.sys.bind(l, sin6('::', 8001));
  await n.a.sys.listen(l, 8);
  const c4 = await n.b.sys.socket(AF_INET, SOCK_STREAM, 0);
  const refused = await until(n, n.b.sys.connect(c4, sin('192.0.2.1', 8001))).catch((e: unknown) => e);
  t.like(refused, { code: 'ECONNREFUSED' });
  // The option cannot change once bound (NetBSD: EINVAL).
  await t.throwsAsync(n.a.sys.setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, 0), { code: 'EINVAL' });

  await n.a.sys.sysctlSet('net.inet6.ip6.v6only', 0);
  const s = await n.a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  t.is(await n.a.sys.getsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY), 0);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('one port space: a dual-stack :: bind and an IPv4 bind of the port conflict; a v6-only one does not', async (t) => {
  const n = await net();
  const k = n.a;
  await dualListener(k, 8002);
  for (const addr of ['0.0.0.0', '127.0.0.1']) {
    const s4 = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
    await t.throwsAsync(k.sys.bind(s4, sin(addr, 8002)), { code: 'EADDRINUSE' }, addr);
  }
  const v4 = await k.sys.socket(AF_INET, SOCK_STREAM, 0);
  await k.sys.bind(v4, sin('0.0.0.0', 8003));
  const dual = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await k.sys.setsockopt(dual, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  await t.throwsAsync(k.sys.bind(dual, sin6('::', 8003)), { code: 'EADDRINUSE' });
  const only6 = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await k.sys.bind(only6, sin6('::', 8003));
  // A v4-mapped bind needs the option off and an IPv4 address of ours.
  const m = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await t.throwsAsync(k.sys.bind(m, sin6('::ffff:192.0.2.1', 8004)), { code: 'EINVAL' });
  await k.sys.setsockopt(m, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  await t.throwsAsync(k.sys.bind(m, sin6('::ffff:192.0.2.99', 8004)), { code: 'EADDRNOTAVAIL' });
  await k.sys.bind(m, sin6('::ffff:192.0.2.1', 8004));
  t.deepEqual(await k.sys.getsockname(m), sin6('::ffff:192.0.2.1', 8004));
  // Bound to an IPv4 address, it cannot speak IPv6.
  await t.throwsAsync(k.sys.sendto(m, new Uint8Array(1), 0, sin6('2001:db8::2', 9)), { code: 'EINVAL' });
  await t.throwsAsync(k.sys.connect(m, sin6('2001:db8::2', 9)), { code: 'EINVAL' });
  const mt = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await k.sys.setsockopt(mt, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  await k.sys.bind(mt, sin6('::ffff:192.0.2.1', 0));
  await t.throwsAsync(k.sys.connect(mt, sin6('2001:db8::2', 9)), { code: 'EINVAL' });
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('connect from AF_INET6 to a v4-mapped address is an IPv4 connection; not with IPV6_V6ONLY', async (t) => {
  const n = await net();
  const l4 = await n.b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await n.b.sys.bind(l4, sin('0.0.0.0', 8005));
  await n.b.sys.listen(l4, 8);

  const only6 = await n.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await t.throwsAsync(n.a.sys.connect(only6, sin6('::ffff:192.0.2.2', 8005)), { code: 'EINVAL' });

  const c = await n.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await n.a.sys.setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  await until(n, n.a.sys.connect(c, sin6('::ffff:192.0.2.2', 8005)));
  t.deepEqual(await n.a.sys.getpeername(c), sin6('::ffff:192.0.2.2', 8005));
  const local = await n.a.sys.getsockname(c);
  t.is(local.addr, '::ffff:192.0.2.1');
  const acc = await until(n, n.b.sys.accept(l4));
  // The peer sees an ordinary IPv4 connection.
  t.deepEqual(acc.addr, sin('192.0.2.1', local.port));
  await n.a.sys.write(c, bytes('mapped'));
  t.is(text(await until(n, n.b.sys.read(acc.fd, 100))), 'mapped');
  await n.a.sys.close(c);
  await n.b.sys.close(acc.fd);
  await n.b.sys.close(l4);
  await n.sim.run(300_000);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a dual-stack UDP socket: IPv4 datagrams arrive from v4-mapped senders, and go to them', async (t) => {
  const n = await net();
  const s = await n.a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await n.a.sys.setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  await n.a.sys.bind(s, sin6('::', 9000));
  const u4 = await n.b.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await n.b.sys.bind(u4, sin('0.0.0.0', 9001));
  const u6 = await n.b.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await n.b.sys.bind(u6, sin6('::', 9002));

  await n.b.sys.sendto(u4, bytes('v4'), 0, sin('192.0.2.1', 9000));
  let r = await until(n, n.a.sys.recvfrom(s, 100));
  t.is(text(r.data), 'v4');
  t.deepEqual(r.from, sin6('::ffff:192.0.2.2', 9001));
  await n.b.sys.sendto(u6, bytes('v6'), 0, sin6('2001:db8::1', 9000));
  r = await until(n, n.a.sys.recvfrom(s, 100));
  t.is(text(r.data), 'v6');
  t.deepEqual(r.from, sin6('2001:db8::2', 9002));

  await n.a.sys.sendto(s, bytes('reply'), 0, sin6('::ffff:192.0.2.2', 9001));
  const back = await until(n, n.b.sys.recvfrom(u4, 100));
  t.is(text(back.data), 'reply');
  t.deepEqual(back.from, sin('192.0.2.1', 9000));

  // Connected to a v4-mapped peer: only that peer's datagrams, both ways.
  const c = await n.a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await n.a.sys.setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  await n.a.sys.connect(c, sin6('::ffff:192.0.2.2', 9001));
  t.is((await n.a.sys.getsockname(c)).addr, '::ffff:192.0.2.1');
  const cport = (await n.a.sys.getsockname(c)).port;
  await n.a.sys.write(c, bytes('connected'));
  const got = await until(n, n.b.sys.recvfrom(u4, 100));
  t.is(text(got.data), 'connected');
  await n.b.sys.sendto(u4, bytes('answer'), 0, sin('192.0.2.1', cport));
  t.deepEqual((await until(n, n.a.sys.recvfrom(c, 100))).from, sin6('::ffff:192.0.2.2', 9001));

  // IPv4 broadcasts reach a dual-stack socket on :: too (NetBSD's udp6_realinput for mapped).
  await n.b.sys.setsockopt(u4, SOL_SOCKET, SO_BROADCAST, 1);
  await n.b.sys.sendto(u4, bytes('all'), 0, sin('192.0.2.255', 9000));
  const bc = await until(n, n.a.sys.recvfrom(s, 100));
  t.is(text(bc.data), 'all');
  t.deepEqual(bc.from, sin6('::ffff:192.0.2.2', 9001));

  // An ICMP port unreachable about a mapped association reaches its socket.
  const lost = await n.a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await n.a.sys.setsockopt(lost, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  await n.a.sys.connect(lost, sin6('::ffff:192.0.2.2', 9999));
  await n.a.sys.write(lost, bytes('anyone?'));
  await n.sim.run(100);
  await t.throwsAsync(n.a.sys.write(lost, bytes('again')), { code: 'ECONNREFUSED' });

  // A v6-only socket cannot send to a v4-mapped address.
  const only6 = await n.a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await t.throwsAsync(n.a.sys.sendto(only6, bytes('x'), 0, sin6('::ffff:192.0.2.2', 9001)), { code: 'EINVAL' });
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});
