/*
 * UDP on one kernel, over lo0 (127.0.0.1): echo, connect/sendto/recvfrom,
 * names, MSG_PEEK / MSG_DONTWAIT / MSG_TRUNC, message sizes, full buffers,
 * port unreachable and ECONNREFUSED, input checks (bad checksum, every
 * truncated length) fed through a raw IP_HDRINCL socket, the sysctls.
 *
 *     +---------------- kernel ----------------+
 *     |  udp sockets  <->  lo0 127.0.0.1/8     |
 *     |  raw (IPPROTO_UDP, IP_HDRINCL) crafts  |
 *     +----------------------------------------+
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import { createSimHost, type SimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import type { Kernel } from '../../kern/kernel.js';
import { Errno, ECONNREFUSED } from '../../kern/errno.js';
import {
  AF_INET, AF_UNSPEC, F_SETFL, MSG_DONTWAIT, MSG_PEEK, O_NONBLOCK, SOCK_DGRAM, SOCK_RAW, type Sockaddr,
} from '../../kern/sys.js';
import { POLLERR, POLLIN } from '../../kern/select.js';
import { inet } from '../../net/inet/inet.js';
import { IP_HDRINCL } from '../../net/inet/in_pcb.js';
import { MSG_TRUNC, SO_ERROR, SO_RCVBUF, SO_SNDBUF, SOL_SOCKET } from '../../net/socket.js';
import { TAP_OUT } from '../../net/interface.js';
import { IPPROTO_IP, IPPROTO_UDP, ipWriteHeader } from '../../net/wire/ipv4.js';
import { udpSetChecksum, udpSum, udpWriteHeader } from '../../net/wire/udp.js';
import { parseInAddr } from '../../net/wire/inaddr.js';
import { errnoCode as code } from '../helpers/kernels.js';

function boot(seed = 1): { sim: SimHost; k: Kernel } {
  const sim = createSimHost({ seed });
  const k = bootKernel({ components: ['net', 'net_net', 'net_netinet'], host: sim });
  return { sim, k };
}

const sin = (addr: string, port: number): Sockaddr => ({ family: AF_INET, addr, port });
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** The errno code a call fails with, or 'ok'. */
async function udpSocket(k: Kernel, bindTo?: Sockaddr): Promise<number> {
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  if (bindTo) await k.sys.bind(fd, bindTo);
  return fd;
}

test('UDP echo over lo0: request and reply carry the right addresses and bytes', async (t) => {
  const { sim, k } = boot();
  await sim.settle();
  const base = k.mbufs.inUse;
  const srv = await udpSocket(k, sin('127.0.0.1', 7));
  const cli = await udpSocket(k);

  // The server blocks in recvfrom before anything is sent, then echoes.
  const server = (async () => {
    const r = await k.sys.recvfrom(srv, 2048);
    await k.sys.sendto(srv, r.data, 0, r.from);
    return r;
  })();
  t.is(await k.sys.sendto(cli, bytes('hello, rump'), 0, sin('127.0.0.1', 7)), 11);
  await sim.run(1);
  const req = await server;
  const cliName = await k.sys.getsockname(cli);
  t.is(text(req.data), 'hello, rump');
  t.deepEqual(req.from, sin('127.0.0.1', cliName.port));
  t.is(req.flags, 0);

  const reply = await k.sys.recvfrom(cli, 2048);
  t.is(text(reply.data), 'hello, rump');
  t.deepEqual(reply.from, sin('127.0.0.1', 7));

  const st = inet(k).udpstat;
  t.is(st.opackets, 2);
  t.is(st.ipackets, 2);
  await k.sys.close(srv);
  await k.sys.close(cli);
  t.is(inet(k).udbtable.size, 0);
  t.is(k.mbufs.inUse, base);
  await k.halt();
});

test('connect fixes the peer: send without an address, getpeername, input filtered to the peer', async (t) => {
  const { sim, k } = boot();
  const a = await udpSocket(k, sin('127.0.0.1', 5001));
  const b = await udpSocket(k, sin('127.0.0.1', 5002));
  const stranger = await udpSocket(k, sin('127.0.0.1', 5003));

  t.is(await code(k.sys.getpeername(a)), 'ENOTCONN');
  await k.sys.connect(a, sin('127.0.0.1', 5002));
  t.deepEqual(await k.sys.getpeername(a), sin('127.0.0.1', 5002));
  t.deepEqual(await k.sys.getsockname(a), sin('127.0.0.1', 5001));
  t.is(await code(k.sys.sendto(a, bytes('x'), 0, sin('127.0.0.1', 5002))), 'EISCONN');

  await k.sys.send(a, bytes('to b'));
  // The stranger's datagram does not reach the connected socket: nobody
  // else is on 5001 either, so it earns a port unreachable.
  const noport = inet(k).udpstat.noport;
  await k.sys.sendto(stranger, bytes('intruder'), 0, sin('127.0.0.1', 5001));
  await k.sys.sendto(b, bytes('from b'), 0, sin('127.0.0.1', 5001));
  await sim.run(1);
  t.is(text(await k.sys.recv(b, 100)), 'to b');
  const r = await k.sys.recvfrom(a, 100);
  t.is(text(r.data), 'from b');
  t.deepEqual(r.from, sin('127.0.0.1', 5002));
  t.is(await code(k.sys.recv(a, 100, MSG_DONTWAIT)), 'EAGAIN');
  t.is(inet(k).udpstat.noport, noport + 1);

  // Connect again: the association moves (NetBSD's soconnect disconnects first).
  await k.sys.connect(a, sin('127.0.0.1', 5003));
  t.deepEqual(await k.sys.getpeername(a), sin('127.0.0.1', 5003));
  // AF_UNSPEC dissolves it; the bound address stays.
  await k.sys.connect(a, { family: AF_UNSPEC, addr: '0.0.0.0', port: 0 });
  t.is(await code(k.sys.getpeername(a)), 'ENOTCONN');
  t.deepEqual(await k.sys.getsockname(a), sin('127.0.0.1', 5001));
  t.is(await code(k.sys.send(a, bytes('nowhere'))), 'EDESTADDRREQ');
  await k.halt();
});

test('connect on an unbound socket picks the source from the route and an ephemeral port', async (t) => {
  const { k } = boot();
  const fd = await udpSocket(k);
  t.deepEqual(await k.sys.getsockname(fd), sin('0.0.0.0', 0));
  await k.sys.connect(fd, sin('127.0.0.1', 9999));
  const name = await k.sys.getsockname(fd);
  t.is(name.addr, '127.0.0.1');
  t.true(name.port >= 49152 && name.port <= 65535);
  // Disconnecting forgets an address that connect chose, keeps the port.
  await k.sys.connect(fd, { family: AF_UNSPEC, addr: '0.0.0.0', port: 0 });
  t.deepEqual(await k.sys.getsockname(fd), sin('0.0.0.0', name.port));
  await k.halt();
});

test('connect errors: no route, port 0, bad sockaddrs', async (t) => {
  const { k } = boot();
  const fd = await udpSocket(k);
  t.is(await code(k.sys.connect(fd, sin('198.51.100.1', 53))), 'ENETUNREACH');
  t.is(await code(k.sys.connect(fd, sin('127.0.0.1', 0))), 'EADDRNOTAVAIL');
  t.is(await code(k.sys.connect(fd, { family: 24, addr: '::1', port: 53 })), 'EAFNOSUPPORT');
  t.is(await code(k.sys.connect(fd, sin('127.0.0.256', 53))), 'EINVAL');
  t.is(await code(k.sys.connect(fd, sin('127.0.0.1', 65536))), 'EINVAL');
  t.is(await code(k.sys.sendto(fd, bytes('x'), 0, sin('198.51.100.1', 53))), 'ENETUNREACH');
  t.is(await code(k.sys.sendto(fd, bytes('x'), 0, sin('127.0.0.1', 0))), 'EADDRNOTAVAIL');
  t.is(await code(k.sys.sendto(fd, bytes('x'), 0, { family: AF_INET, addr: 'localhost', port: 7 })), 'EINVAL');
  t.is(await code(k.sys.send(fd, bytes('x'))), 'EDESTADDRREQ');
  await k.halt();
});

test('MSG_PEEK leaves the datagram, MSG_TRUNC reports a short read, records stay whole', async (t) => {
  const { sim, k } = boot();
  const rx = await udpSocket(k, sin('127.0.0.1', 6000));
  const tx = await udpSocket(k);
  await k.sys.sendto(tx, bytes('first datagram'), 0, sin('127.0.0.1', 6000));
  await k.sys.sendto(tx, bytes('second'), 0, sin('127.0.0.1', 6000));
  await k.sys.sendto(tx, new Uint8Array(0), 0, sin('127.0.0.1', 6000));
  await sim.run(1);
  t.is(await k.sys.ioctl(rx, 'FIONREAD'), 20);

  const peek = await k.sys.recvfrom(rx, 100, MSG_PEEK);
  t.is(text(peek.data), 'first datagram');
  const short = await k.sys.recvfrom(rx, 5);
  t.is(text(short.data), 'first');
  t.is(short.flags & MSG_TRUNC, MSG_TRUNC);
  // The rest of a truncated datagram is gone: the next read is the next datagram.
  const second = await k.sys.recvfrom(rx, 100);
  t.is(text(second.data), 'second');
  t.is(second.flags, 0);
  const empty = await k.sys.recvfrom(rx, 100);
  t.is(empty.data.length, 0);
  t.is(await code(k.sys.recvfrom(rx, 100, MSG_DONTWAIT)), 'EAGAIN');
  await k.halt();
});

test('O_NONBLOCK and MSG_DONTWAIT fail with EAGAIN; a blocked recv wakes when data arrives', async (t) => {
  const { sim, k } = boot();
  const rx = await udpSocket(k, sin('127.0.0.1', 6001));
  t.is(await code(k.sys.recv(rx, 10, MSG_DONTWAIT)), 'EAGAIN');
  await k.sys.fcntl(rx, F_SETFL, O_NONBLOCK);
  t.is(await code(k.sys.recv(rx, 10)), 'EAGAIN');
  await k.sys.fcntl(rx, F_SETFL, 0);

  let got = null as string | null;
  const reader = k.sys.recv(rx, 10).then((d) => {
    got = text(d);
  });
  await sim.run(5);
  t.is(got, null);
  const tx = await udpSocket(k);
  await k.sys.sendto(tx, bytes('wake'), 0, sin('127.0.0.1', 6001));
  t.deepEqual((await k.sys.poll([{ fd: rx, events: POLLIN }], 0))[0]!.revents, 0);
  await sim.run(1);
  await reader;
  t.is(got, 'wake');
  await k.halt();
});

test('message sizes: over the send buffer or 65507 bytes is EMSGSIZE; 65507 crosses lo0 whole', async (t) => {
  const { sim, k } = boot();
  const rx = await udpSocket(k, sin('127.0.0.1', 6002));
  const tx = await udpSocket(k);
  t.is(await k.sys.getsockopt(tx, SOL_SOCKET, SO_SNDBUF), 9216);
  t.is(await k.sys.getsockopt(rx, SOL_SOCKET, SO_RCVBUF), 41600);
  t.is(await code(k.sys.sendto(tx, new Uint8Array(9217), 0, sin('127.0.0.1', 6002))), 'EMSGSIZE');

  await k.sys.setsockopt(tx, SOL_SOCKET, SO_SNDBUF, 70000);
  await k.sys.setsockopt(rx, SOL_SOCKET, SO_RCVBUF, 70000);
  t.is(await code(k.sys.sendto(tx, new Uint8Array(65508), 0, sin('127.0.0.1', 6002))), 'EMSGSIZE');
  const big = new Uint8Array(65507);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 3) & 0xff;
  t.is(await k.sys.sendto(tx, big, 0, sin('127.0.0.1', 6002)), 65507);
  await sim.run(1);
  const r = await k.sys.recvfrom(rx, 70000);
  t.is(r.data.length, 65507);
  t.deepEqual(r.data, big);
  await k.halt();
});

test('a full receive buffer drops and counts udps_fullsock', async (t) => {
  const { sim, k } = boot();
  const rx = await udpSocket(k, sin('127.0.0.1', 6003));
  await k.sys.setsockopt(rx, SOL_SOCKET, SO_RCVBUF, 1000);
  const tx = await udpSocket(k);
  for (let i = 0; i < 3; i++) await k.sys.sendto(tx, new Uint8Array(400).fill(i), 0, sin('127.0.0.1', 6003));
  await sim.run(1);
  t.is(inet(k).udpstat.fullsock, 1);
  t.is((await k.sys.recv(rx, 1000))[0], 0);
  t.is((await k.sys.recv(rx, 1000))[0], 1);
  t.is(await code(k.sys.recv(rx, 1000, MSG_DONTWAIT)), 'EAGAIN');
  await k.halt();
});

test('empty datagrams cannot queue without bound', async (t) => {
  const { sim, k } = boot();
  const rx = await udpSocket(k, sin('127.0.0.1', 6004));
  await k.sys.setsockopt(rx, SOL_SOCKET, SO_RCVBUF, 1600);
  const tx = await udpSocket(k);
  for (let i = 0; i < 500; i++) await k.sys.sendto(tx, new Uint8Array(0), 0, sin('127.0.0.1', 6004));
  await sim.run(1);
  let n = 0;
  while ((await code(k.sys.recv(rx, 10, MSG_DONTWAIT))) === 'ok') n++;
  t.true(n > 0 && n <= 100, `${n} queued`);
  t.is(inet(k).udpstat.fullsock, 500 - n);
  await k.halt();
});

test('port unreachable: the sender is told; a connected socket gets ECONNREFUSED once', async (t) => {
  const { sim, k } = boot();
  const st = inet(k).udpstat;
  const ist = inet(k).icmpstat;

  // Unconnected: an ICMP error goes back, but the socket cannot be told which send failed.
  const u = await udpSocket(k);
  await k.sys.sendto(u, bytes('anyone?'), 0, sin('127.0.0.1', 9));
  await sim.run(1);
  t.is(st.noport, 1);
  t.is(ist.outhist[3], 1);
  t.is(await k.sys.getsockopt(u, SOL_SOCKET, SO_ERROR), 0);

  // Connected: the error is the next call's.
  const c = await udpSocket(k);
  await k.sys.connect(c, sin('127.0.0.1', 9));
  await k.sys.send(c, bytes('anyone?'));
  await sim.run(1);
  t.is(st.noport, 2);
  t.is((await k.sys.poll([{ fd: c, events: POLLIN }], 0))[0]!.revents! & POLLERR, POLLERR);
  const err = await t.throwsAsync(k.sys.recv(c, 100));
  t.is((err as Errno).errno, ECONNREFUSED);
  t.is((err as Errno).syscall, 'recv');
  // Reported once; the socket works again.
  t.is(await code(k.sys.recv(c, 100, MSG_DONTWAIT)), 'EAGAIN');
  await k.sys.send(c, bytes('again'));
  await sim.run(1);
  t.is(await code(k.sys.send(c, bytes('and again'))), 'ECONNREFUSED');
  t.is(await code(k.sys.send(c, bytes('fine now'))), 'ok');
  await k.halt();
});

/* Crafted datagrams, sent whole through a raw IP_HDRINCL socket to 127.0.0.1. */

const LOCAL = parseInAddr('127.0.0.1')!;

/** An IP packet carrying `udpLen` bytes of a UDP datagram built for `payload`. */
function craft(sport: number, dport: number, payload: Uint8Array, opt: { ulen?: number; cut?: number; sum?: 'none' | 'bad' } = {}): Uint8Array {
  const full = 8 + payload.length;
  const udp = new Uint8Array(full);
  udp.set(payload, 8);
  udpWriteHeader(udp, 0, sport, dport, full);
  if (opt.sum !== 'none') udpSetChecksum(udp, 0, LOCAL, LOCAL);
  if (opt.sum === 'bad') udp[8]! ^= 0x01;
  if (opt.ulen !== undefined) udp[4] = opt.ulen >>> 8, udp[5] = opt.ulen & 0xff;
  const carried = opt.cut ?? full;
  const pkt = new Uint8Array(20 + carried);
  ipWriteHeader(pkt, 0, 0, pkt.length, 0, 0, 64, IPPROTO_UDP, LOCAL, LOCAL);
  pkt.set(udp.subarray(0, carried), 20);
  return pkt;
}

async function rawUdpSender(k: Kernel): Promise<number> {
  const fd = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
  await k.sys.setsockopt(fd, IPPROTO_IP, IP_HDRINCL, 1);
  return fd;
}

test('input checks: bad checksum dropped and counted, checksum 0 accepted, padding trimmed', async (t) => {
  const { sim, k } = boot();
  const st = inet(k).udpstat;
  const rx = await udpSocket(k, sin('127.0.0.1', 7000));
  const raw = await rawUdpSender(k);
  const payload = bytes('checked payload');

  await k.sys.sendto(raw, craft(1234, 7000, payload), 0, sin('127.0.0.1', 0));
  await k.sys.sendto(raw, craft(1234, 7000, payload, { sum: 'bad' }), 0, sin('127.0.0.1', 0));
  await k.sys.sendto(raw, craft(1234, 7000, payload, { sum: 'none' }), 0, sin('127.0.0.1', 0));
  // The UDP length says 8 + 7: the 8 bytes after it are IP padding. The
  // checksum was computed over the longer datagram, so send it without one.
  await k.sys.sendto(raw, craft(1234, 7000, payload, { ulen: 15, sum: 'none' }), 0, sin('127.0.0.1', 0));
  await sim.run(1);

  t.is(st.badsum, 1);
  const first = await k.sys.recvfrom(rx, 100);
  t.is(text(first.data), 'checked payload');
  t.deepEqual(first.from, sin('127.0.0.1', 1234));
  t.is(text(await k.sys.recv(rx, 100)), 'checked payload');
  t.is(text(await k.sys.recv(rx, 100)), 'checked');
  t.is(await code(k.sys.recv(rx, 100, MSG_DONTWAIT)), 'EAGAIN');
  t.is(st.ipackets, 4);
  await k.halt();
});

test('input checks: every truncated length is dropped and counted, nothing reaches the socket', async (t) => {
  const { sim, k } = boot();
  await sim.settle();
  const base = k.mbufs.inUse;
  const st = inet(k).udpstat;
  const rx = await udpSocket(k, sin('127.0.0.1', 7001));
  const raw = await rawUdpSender(k);
  const payload = bytes('twelve bytes');
  const full = 8 + payload.length;
  // Fewer than 8 bytes: no header (udps_hdrops). 8 or more but fewer than
  // the length field claims: udps_badlen.
  for (let cut = 0; cut < full; cut++) {
    await k.sys.sendto(raw, craft(1234, 7001, payload, { cut }), 0, sin('127.0.0.1', 0));
  }
  // A length field below the header's own size is bad too, as is one past the packet.
  await k.sys.sendto(raw, craft(1234, 7001, payload, { ulen: 7, sum: 'none' }), 0, sin('127.0.0.1', 0));
  await k.sys.sendto(raw, craft(1234, 7001, payload, { ulen: full + 1, sum: 'none' }), 0, sin('127.0.0.1', 0));
  await sim.run(1);
  t.is(st.hdrops, 8);
  t.is(st.badlen, full - 8 + 2);
  t.is(st.ipackets, full + 2);
  t.is(await code(k.sys.recv(rx, 100, MSG_DONTWAIT)), 'EAGAIN');
  t.is(st.noport, 0);
  await k.sys.close(rx);
  await k.sys.close(raw);
  t.is(k.mbufs.inUse, base);
  await k.halt();
});

test('sysctls: net.inet.udp.sendspace/recvspace size new sockets, checksum 0 sends none, stats', async (t) => {
  const { sim, k } = boot();
  t.is(await k.sys.sysctl('net.inet.udp.sendspace'), 9216);
  t.is(await k.sys.sysctl('net.inet.udp.recvspace'), 41600);
  t.is(await k.sys.sysctl('net.inet.udp.checksum'), 1);
  await k.sys.sysctlSet('net.inet.udp.sendspace', '20000');
  await k.sys.sysctlSet('net.inet.udp.recvspace', 50000);
  const fd = await udpSocket(k, sin('127.0.0.1', 7002));
  t.is(await k.sys.getsockopt(fd, SOL_SOCKET, SO_SNDBUF), 20000);
  t.is(await k.sys.getsockopt(fd, SOL_SOCKET, SO_RCVBUF), 50000);
  t.is(await code(k.sys.sysctlSet('net.inet.udp.checksum', 2)), 'EINVAL');

  // What leaves through lo0 carries a checksum, until it is switched off.
  const sums: number[] = [];
  const lo0 = inet(k).ns.lo0!;
  lo0.taps.push((_ifp, dir, buf, off) => {
    if (dir === TAP_OUT && buf[off + 9] === IPPROTO_UDP) sums.push(udpSum(buf, off + 20));
  });
  await k.sys.sendto(fd, bytes('a'), 0, sin('127.0.0.1', 7002));
  await k.sys.sysctlSet('net.inet.udp.checksum', 0);
  await k.sys.sendto(fd, bytes('b'), 0, sin('127.0.0.1', 7002));
  await sim.run(1);
  t.is(sums.length, 2);
  t.not(sums[0], 0);
  t.is(sums[1], 0);
  t.is(text(await k.sys.recv(fd, 10)), 'a');
  t.is(text(await k.sys.recv(fd, 10)), 'b');

  const stats = (await k.sys.sysctl('net.inet.udp.stats')) as Record<string, number>;
  t.is(stats.opackets, 2);
  t.is(stats.ipackets, 2);
  t.is(stats.badsum, 0);
  await k.halt();
});

test('closing sockets with queued datagrams frees every buffer and PCB', async (t) => {
  const { sim, k } = boot();
  await sim.settle();
  const base = k.mbufs.inUse;
  const fds: number[] = [];
  for (let i = 0; i < 10; i++) fds.push(await udpSocket(k, sin('127.0.0.1', 8000 + i)));
  const tx = await udpSocket(k);
  for (let i = 0; i < 10; i++) for (let j = 0; j < 5; j++) await k.sys.sendto(tx, new Uint8Array(100), 0, sin('127.0.0.1', 8000 + i));
  await sim.run(1);
  t.true(k.mbufs.inUse >= base + 50);
  for (const fd of fds) await k.sys.close(fd);
  await k.sys.close(tx);
  t.is(k.mbufs.inUse, base);
  t.is(inet(k).udbtable.size, 0);
  // The ports are free again.
  await t.notThrowsAsync(udpSocket(k, sin('127.0.0.1', 8000)));
  await k.halt();
  t.is(inet(k).udbtable.size, 0);
  t.is(k.mbufs.inUse, base);
});
