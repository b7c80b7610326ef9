/*
 * The routing socket (net/rtsock.ts, route(4)) on the sim clock: what a
 * PF_ROUTE reader sees when routes, addresses, interfaces and ARP entries
 * change, in NetBSD 8's binary format (checked through route(8)'s
 * printer, bin/route_monitor.ts), and that a reader who never reads costs
 * a bounded buffer and counted drops.
 *
 *      a                        b
 *   hub0 192.0.2.1/24      hub0 192.0.2.2/24
 *      |                        |
 *   ===+==========lan===========+===
 */
import test from 'ava';
import { EAGAIN } from '../../kern/errno.js';
import type { Kernel } from '../../kern/kernel.js';
import { MSG_DONTWAIT, PF_ROUTE, SOCK_RAW, AF_INET6, SOCK_DGRAM } from '../../kern/sys.js';
import { ROUTE_RECVSPACE, RT_MSGHDR_LEN, RTM_ADD, RTM_DELETE, RTM_GET, RTM_VERSION, rtMsgEncode, saIn, saIn6, saMask6 } from '../../net/rtsock.js';
import { formatRtMsg, routeMonitor } from '../../bin/route_monitor.js';
import { SOL_SOCKET, SO_RCVBUF } from '../../net/socket.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { bootKernels, haltAll, ifconfig, ifnet, ip, route, routes, sendEcho, type Kernels } from '../helpers/kernels.js';
import { bootKernels6, dadDone, ifconfig6, sendEcho6 } from '../inet6/helpers.js';

interface Lan {
  ks: Kernels;
  a: Kernel;
  b: Kernel;
  macB: string;
}

async function lan(): Promise<Lan> {
  const ks = bootKernels(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  attachEther(a, hub);
  const ib = attachEther(b, hub);
  ifconfig(a, 'hub0', '192.0.2.1/24');
  ifconfig(b, 'hub0', '192.0.2.2/24');
  await ks.sim.settle();
  return { ks, a, b, macB: [...ib.lladdr!].map((x) => x.toString(16).padStart(2, '0')).join(':') };
}

/** Every message queued on `fd`, printed as route(8) monitor prints it (without its "got message" line). */
async function drain(k: Kernel, fd: number): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    try {
      const r = await k.sys.recvfrom(fd, 2048, MSG_DONTWAIT);
      out.push(formatRtMsg(r.data, r.data.length));
    } catch (e) {
      if ((e as { errno?: number }).errno === EAGAIN) return out;
      throw e;
    }
  }
}

test('route add and delete reach a reader as RTM_ADD and RTM_DELETE with NetBSD\'s header and sockaddrs', async (t) => {
  const l = await lan();
  const fd = await l.a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
  await route(l.a, { type: 'add', dst: '10.0.0.0', prefixLen: 8, gateway: '192.0.2.254' });
  await route(l.a, { type: 'delete', dst: '10.0.0.0', prefixLen: 8 });
  const raw = await l.a.sys.recvfrom(fd, 2048, MSG_DONTWAIT);
  const b = raw.data;
  // struct rt_msghdr: msglen, version 4, type; then DST, GATEWAY, NETMASK as sockaddr_in, 16 bytes each.
  t.is(b.length, RT_MSGHDR_LEN + 3 * 16);
  t.is(b[0]! | (b[1]! << 8), b.length);
  t.is(b[2], RTM_VERSION);
  t.is(b[3], RTM_ADD);
  t.deepEqual([...b.subarray(RT_MSGHDR_LEN, RT_MSGHDR_LEN + 8)], [16, 2, 0, 0, 10, 0, 0, 0]);
  t.is(
    formatRtMsg(b, b.length),
    'RTM_ADD: Add Route: len 168, pid 0, seq 0, errno 0, flags: <UP,GATEWAY,DONE,STATIC>\n' +
      'locks: none inits: none\nsockaddrs: <DST,GATEWAY,NETMASK>\n 10.0.0.0 192.0.2.254 255.0.0.0\n',
  );
  t.deepEqual(await drain(l.a, fd), [
    'RTM_DELETE: Delete Route: len 168, pid 0, seq 0, errno 0, flags: <GATEWAY,DONE,STATIC>\n' +
      'locks: none inits: none\nsockaddrs: <DST,GATEWAY,NETMASK>\n 10.0.0.0 192.0.2.254 255.0.0.0\n',
  ]);
  await l.a.sys.close(fd);
  await haltAll(l.ks);
});

test('an address added to an interface: RTM_NEWADDR with its mask, interface and broadcast, then its routes', async (t) => {
  const l = await lan();
  const fd = await l.a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
  ifconfig(l.a, 'hub0', '198.51.100.7/24', true);
  const msgs = await drain(l.a, fd);
  t.regex(msgs[0]!, /^RTM_NEWADDR: address being added to iface: len \d+, pid 0, metric 0, flags: none\nsockaddrs: <NETMASK,IFP,IFA,BRD>\n 255\.255\.255\.0 [0-9a-f:]{17} 198\.51\.100\.7 198\.51\.100\.255\n$/);
  t.true(msgs.some((m) => m.startsWith('RTM_ADD') && m.includes(' 198.51.100.0 link#2 255.255.255.0\n')), 'the connected route');
  t.true(msgs.some((m) => m.startsWith('RTM_ADD') && m.includes('<UP,HOST,DONE,LOCAL>') && m.includes(' 198.51.100.7 link#1\n')), 'the local route via lo0');
  await l.a.sys.close(fd);
  await haltAll(l.ks);
});

test('ARP: an entry made is RTM_ADD to link#N, its answer RTM_CHANGE with the MAC, its expiry RTM_DELETE', async (t) => {
  const l = await lan();
  await l.a.sys.sysctlSet('net.inet.arp.keep', 5);
  const fd = await l.a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
  t.is(sendEcho(l.a, '192.0.2.2'), 0);
  await l.ks.sim.settle();
  const msgs = await drain(l.a, fd);
  t.is(msgs[0], 'RTM_ADD: Add Route: len 160, pid 0, seq 0, errno 0, flags: <UP,HOST,DONE,LLINFO,CLONED>\n' +
    'locks: none inits: none\nsockaddrs: <DST,GATEWAY>\n 192.0.2.2 link#2\n');
  t.is(msgs[1], 'RTM_CHANGE: Change Metrics, Flags or Gateway: len 160, pid 0, seq 0, errno 0, flags: <UP,HOST,DONE,LLINFO,CLONED>\n' +
    `locks: none inits: none\nsockaddrs: <DST,GATEWAY>\n 192.0.2.2 ${l.macB}\n`);
  t.is(msgs.length, 2);
  await l.ks.sim.run(6_000); // net.inet.arp.keep and a second
  t.deepEqual(await drain(l.a, fd), [
    'RTM_DELETE: Delete Route: len 160, pid 0, seq 0, errno 0, flags: <HOST,DONE,LLINFO,CLONED>\n' +
      `locks: none inits: none\nsockaddrs: <DST,GATEWAY>\n 192.0.2.2 ${l.macB}\n`,
  ]);
  await l.a.sys.close(fd);
  await haltAll(l.ks);
});

test('arp -d is RTM_DELETE with the MAC it had, as t_arp\'s arp_rtm greps it', async (t) => {
  const l = await lan();
  sendEcho(l.a, '192.0.2.2');
  await l.ks.sim.settle();
  const fd = await l.a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
  await l.a.sys.ext('arpmsg', { type: 'delete', addr: '192.0.2.2' });
  const msgs = await drain(l.a, fd);
  t.is(msgs.length, 1);
  t.regex(msgs[0]!, /^RTM_DELETE.+<HOST,DONE,LLINFO,CLONED>\n/);
  t.true(msgs[0]!.endsWith(`<DST,GATEWAY>\n 192.0.2.2 ${l.macB}\n`));
  await l.a.sys.close(fd);
  await haltAll(l.ks);
});

test('interfaces: up and down are RTM_IFINFO; a reader asking for AF_INET6 hears no IPv4 route', async (t) => {
  const l = await lan();
  const all = await l.a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
  const six = await l.a.sys.socket(PF_ROUTE, SOCK_RAW, AF_INET6);
  await l.a.sys.ioctl(all, 'SIOCSIFFLAGS', { name: 'hub0', flags: 0 });
  const msgs = await drain(l.a, all);
  t.true(msgs.some((m) => /^RTM_IFINFO: iface status change: len 152, if# 2, carrier: no carrier, flags: <BROADCAST,/.test(m)), msgs.join(''));
  await l.a.sys.ioctl(all, 'SIOCSIFFLAGS', { name: 'hub0', flags: 1 });
  t.regex((await drain(l.a, all)).join(''), /^RTM_IFINFO: iface status change: len 152, if# 2, carrier: active, flags: <UP,BROADCAST,RUNNING,/);
  await route(l.a, { type: 'add', dst: '10.0.0.0', prefixLen: 8, gateway: '192.0.2.254' });
  t.is((await drain(l.a, all)).length, 1);
  const sixMsgs = await drain(l.a, six);
  t.is(sixMsgs.length, 2, 'the two RTM_IFINFO, not the IPv4 route');
  t.true(sixMsgs.every((m) => m.startsWith('RTM_IFINFO')), sixMsgs.join(''));
  await l.a.sys.close(all);
  await l.a.sys.close(six);
  await haltAll(l.ks);
});

test('a reader that never reads holds at most ROUTE_RECVSPACE; what does not fit is dropped and counted', async (t) => {
  const l = await lan();
  const fd = await l.a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
  const n = 400;
  for (let i = 0; i < n; i++) {
    await route(l.a, { type: 'add', dst: `10.${i >> 8}.${i & 0xff}.0`, prefixLen: 24, gateway: '192.0.2.254' });
  }
  const stats = (await l.a.sys.sysctl('net.route.stats')) as { msgs: number; drops: number };
  const kept = (await drain(l.a, fd)).length;
  t.true(kept * 168 <= ROUTE_RECVSPACE, `${kept} messages kept`);
  t.true(kept > 0);
  t.is(stats.msgs, kept);
  t.is(stats.drops, n - kept);
  // The reader reads on: new messages arrive again.
  await route(l.a, { type: 'delete', dst: '10.0.0.0', prefixLen: 24 });
  t.is((await drain(l.a, fd)).length, 1);
  // SO_RCVBUF sets the bound: room for two messages now.
  await l.a.sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 2 * 168 + 2 * 16);
  for (let i = 1; i < 4; i++) await route(l.a, { type: 'delete', dst: `10.0.${i}.0`, prefixLen: 24 });
  t.is((await drain(l.a, fd)).length, 2);
  await l.a.sys.close(fd);
  await haltAll(l.ks);
});

test('socket(PF_ROUTE) takes SOCK_RAW only; a message written is carried out and sent back with RTF_DONE, or its errno', async (t) => {
  const l = await lan();
  await t.throwsAsync(l.a.sys.socket(PF_ROUTE, SOCK_DGRAM, 0), { code: 'EPROTOTYPE' });
  const fd = await l.a.sys.socket(PF_ROUTE, SOCK_RAW, 0);
  // route add -net 10.0.0.0/8 192.0.2.254, as route(8) writes it (RTF_UP|RTF_GATEWAY|RTF_STATIC, seq 7).
  const add = rtMsgEncode(RTM_ADD, { flags: 0x1 | 0x2 | 0x800, index: 0, seq: 7, pid: 42 }, [saIn(ip('10.0.0.0')), saIn(ip('192.0.2.254')), saIn(0xff000000)]);
  t.is(await l.a.sys.sendto(fd, add, 0, null), add.length);
  t.like((await routes(l.a)).find((r) => r.dst === '10.0.0.0'), { prefixLen: 8, gateway: '192.0.2.254' });
  t.deepEqual(await drain(l.a, fd), [
    'RTM_ADD: Add Route: len 168, pid 42, seq 7, errno 0, flags: <UP,GATEWAY,DONE,STATIC>\n' +
      'locks: none inits: none\nsockaddrs: <DST,GATEWAY,NETMASK>\n 10.0.0.0 192.0.2.254 255.0.0.0\n',
  ], 'one message: the echo, not the table\'s own as well');
  // RTM_GET: the route that carries 10.1.2.3, with its interface and source.
  await l.a.sys.sendto(fd, rtMsgEncode(RTM_GET, { flags: 0, index: 0, seq: 8 }, [saIn(ip('10.1.2.3'))]), 0, null);
  const [get] = await drain(l.a, fd);
  t.regex(get!, /^RTM_GET: Report Metrics: len \d+, pid 0, seq 8, errno 0, flags: <UP,GATEWAY,DONE,STATIC>\n/);
  t.regex(get!, /sockaddrs: <DST,GATEWAY,NETMASK,IFP,IFA>\n 10\.0\.0\.0 192\.0\.2\.254 255\.0\.0\.0 [0-9a-f:]{17} 192\.0\.2\.1\n$/);
  // A delete of what is not there fails with ESRCH, and readers hear it with rtm_errno 3.
  const del = rtMsgEncode(RTM_DELETE, { flags: 0x1 | 0x2, index: 0, seq: 9 }, [saIn(ip('172.16.0.0')), null, saIn(0xffff0000)]);
  await t.throwsAsync(l.a.sys.sendto(fd, del, 0, null), { code: 'ESRCH' });
  t.regex((await drain(l.a, fd))[0]!, /^RTM_DELETE: Delete Route: len 152, pid 0, seq 9, errno 3, /);
  // A short or wrong-version message is refused.
  await t.throwsAsync(l.a.sys.sendto(fd, new Uint8Array(RT_MSGHDR_LEN), 0, null), { code: 'EINVAL' });
  await l.a.sys.close(fd);
  await haltAll(l.ks);
});

test('route monitor -c 2 prints each message after its "got message" line, then exits', async (t) => {
  const l = await lan();
  let out = '';
  const io = { stdout: (s: string) => { out += s; }, stderr: () => {} };
  const mon = routeMonitor(l.a.sys, 2, io, () => new Date(2026, 11, 7, 21, 40, 0));
  await l.ks.sim.settle();
  await route(l.a, { type: 'add', dst: '10.0.0.0', prefixLen: 8, gateway: '192.0.2.254' });
  await route(l.a, { type: 'delete', dst: '10.0.0.0', prefixLen: 8 });
  await route(l.a, { type: 'add', dst: '10.0.0.0', prefixLen: 8, gateway: '192.0.2.254' });
  t.is(await mon, 0);
  t.is(out,
    'got message of size 168 on Mon Dec  7 21:40:00 2026\n' +
    'RTM_ADD: Add Route: len 168, pid 0, seq 0, errno 0, flags: <UP,GATEWAY,DONE,STATIC>\n' +
    'locks: none inits: none\nsockaddrs: <DST,GATEWAY,NETMASK>\n 10.0.0.0 192.0.2.254 255.0.0.0\n' +
    'got message of size 168 on Mon Dec  7 21:40:00 2026\n' +
    'RTM_DELETE: Delete Route: len 168, pid 0, seq 0, errno 0, flags: <GATEWAY,DONE,STATIC>\n' +
    'locks: none inits: none\nsockaddrs: <DST,GATEWAY,NETMASK>\n 10.0.0.0 192.0.2.254 255.0.0.0\n');
  await haltAll(l.ks);
});

test('ND: a neighbour entry made is RTM_ADD to link#N for the IPv6 address; when it goes, RTM_DELETE with its MAC', async (t) => {
  const ks = bootKernels6(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  attachEther(a, hub);
  attachEther(b, hub);
  ifconfig6(a, 'hub0', 'fc00::1/64');
  ifconfig6(b, 'hub0', 'fc00::2/64');
  await dadDone(ks);
  const fd = await a.sys.socket(PF_ROUTE, SOCK_RAW, AF_INET6);
  t.is(sendEcho6(a, 'fc00::2'), 0);
  await ks.sim.settle();
  const msgs = await drain(a, fd);
  t.is(msgs[0], 'RTM_ADD: Add Route: len 176, pid 0, seq 0, errno 0, flags: <UP,HOST,DONE,LLINFO,CLONED>\n' +
    'locks: none inits: none\nsockaddrs: <DST,GATEWAY>\n fc00::2 link#2\n');
  // The interface going down purges the cache (nd6Purge): each entry's RTM_DELETE carries what it had learnt.
  await a.sys.ioctl(fd, 'SIOCSIFFLAGS', { name: 'hub0', flags: 0 });
  const macB = [...ifnet(b, 'hub0').lladdr!].map((x) => x.toString(16).padStart(2, '0')).join(':');
  const del = (await drain(a, fd)).filter((m) => m.startsWith('RTM_DELETE'));
  t.true(del.some((m) => /^RTM_DELETE.+<HOST,DONE,LLINFO,CLONED>\n/.test(m) && m.endsWith(`<DST,GATEWAY>\n fc00::2 ${macB}\n`)), del.join(''));
  await a.sys.close(fd);
  await haltAll(ks);
});

test('route monitor runs until interrupted, then closes its socket and exits 0', async (t) => {
  const l = await lan();
  const ac = new AbortController();
  let out = '';
  const mon = routeMonitor(l.a.sys, 0, { stdout: (s) => { out += s; }, stderr: () => {}, signal: ac.signal });
  await l.ks.sim.settle();
  await route(l.a, { type: 'add', dst: '10.0.0.0', prefixLen: 8, gateway: '192.0.2.254' });
  await l.ks.sim.run(1_000);
  ac.abort();
  t.is(await mon, 0);
  t.is(out.split('got message').length, 2, 'the one message before the interrupt');
  t.deepEqual((await l.a.sys.ext('sockstat')).filter((e) => e.family === 34), [], 'its socket is closed');
  await haltAll(l.ks);
});

test('an IPv6 route written to the socket: RTM_ADD with sockaddr_in6s is carried out and sent back', async (t) => {
  const ks = bootKernels6(1);
  const [a] = ks.kernels as [Kernel];
  attachEther(a, new Hub('lan'));
  ifconfig6(a, 'hub0', 'fc00::1/64');
  await dadDone(ks);
  const fd = await a.sys.socket(PF_ROUTE, SOCK_RAW, AF_INET6);
  const dst = new Uint8Array(16);
  dst.set([0x20, 0x01, 0x0d, 0xb8, 0, 1]);
  const gw = new Uint8Array(16);
  gw.set([0xfc, 0]);
  gw[15] = 2;
  const add = rtMsgEncode(RTM_ADD, { flags: 0x1 | 0x2 | 0x800, index: 0, seq: 1 }, [saIn6(dst), saIn6(gw), saMask6(48)]);
  t.is(add.length, RT_MSGHDR_LEN + 3 * 32, 'each sockaddr_in6 (28 bytes) padded to 32');
  t.is(await a.sys.sendto(fd, add, 0, null), add.length);
  t.like((await a.sys.ext('rt6dump')).find((r) => r.dst === '2001:db8:1::'), { prefixLen: 48, gateway: 'fc00::2' });
  t.deepEqual(await drain(a, fd), [
    'RTM_ADD: Add Route: len 216, pid 0, seq 1, errno 0, flags: <UP,GATEWAY,DONE,STATIC>\n' +
      'locks: none inits: none\nsockaddrs: <DST,GATEWAY,NETMASK>\n 2001:db8:1:: fc00::2 ffff:ffff:ffff::\n',
  ]);
  await a.sys.close(fd);
  await haltAll(ks);
});
