/*
 * TCP over IPv6 between two kernels, and within one over ::1: the socket
 * family (AF_INET6 exists only with net_netinet6), connection set-up with
 * IPv6's MSS (MTU − 60), a transfer checked byte for byte, addresses in the
 * socket calls, refusal by RST and by ICMPv6 port unreachable (believed
 * only when it quotes SND.UNA), the IPv4 and IPv6 port spaces apart, and
 * nothing left once everything closed.
 *
 *     kernel A  link0 2001:db8::1/64 ═══ point-to-point ═══ link0 2001:db8::2/64  kernel B
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import { createSimHost } from '../../hypercall/sim.js';
import { Errno, EAFNOSUPPORT, ECONNREFUSED, EINVAL } from '../../kern/errno.js';
import { bootKernel } from '../../kern/init.js';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, AF_INET6, O_NONBLOCK, SHUT_WR, SOCK_RAW, SOCK_STREAM, type Sockaddr } from '../../kern/sys.js';
import { IPPROTO_IPV6, IPV6_TCLASS, IPV6_UNICAST_HOPS, IPV6_V6ONLY } from '../../net/inet/in_pcb.js';
import { inet } from '../../net/inet/inet.js';
import { TCP_MAXSEG } from '../../net/inet/tcp/usrreq.js';
import { SOL_SOCKET, SO_ERROR } from '../../net/socket.js';
import { icmp6SetChecksum, icmp6WriteHeader } from '../../net/wire/icmp6.js';
import { IPPROTO_TCP } from '../../net/wire/ipv4.js';
import { ip6WriteHeader } from '../../net/wire/ipv6.js';
import { connectKernels, type Link } from '../helpers/link.js';
import { haltAll, pattern, type Kernels } from '../helpers/kernels.js';
import { bootKernels6, dadDone, decode6, ether6, ifconfig6, ip6, type Seen6, stats6 } from './helpers.js';

const A = '2001:db8::1';
const B = '2001:db8::2';
const sin6 = (addr: string, port: number): Sockaddr => ({ family: AF_INET6, addr, port });

interface Net extends Kernels {
  a: Kernel;
  b: Kernel;
  link: Link;
  seen: Seen6[];
}

async function net(): Promise<Net> {
  const ks = bootKernels6(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const link = connectKernels(ks.sim, a, b);
  const seen: Seen6[] = [];
  link.a.taps.push((_ifp, _dir, buf, off, len) => {
    const d = decode6(buf.slice(off, off + len));
    if (d) seen.push(d);
  });
  ifconfig6(a, link.a.name, `${A}/64`);
  ifconfig6(b, link.b.name, `${B}/64`);
  await dadDone(ks);
  return { ...ks, a, b, link, seen };
}

/** Run the sim host until `p` settles. */
async function until<T>(ks: Kernels, p: Promise<T>, maxMs = 10 * 60_000): Promise<T> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await ks.sim.runUntil(() => done, maxMs);
  return p;
}

async function listen(k: Kernel, port: number): Promise<number> {
  const fd = await k.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await k.sys.bind(fd, sin6('::', port));
  await k.sys.listen(fd, 8);
  return fd;
}


const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('a kernel without net_netinet6 has no AF_INET6', async (t) => {
  const k = bootKernel({ components: ['net', 'net_net', 'net_netinet'], host: createSimHost({ seed: 1 }) });
  const e = await k.sys.socket(AF_INET6, SOCK_STREAM, 0).catch((x: unknown) => x);
  t.true(e instanceof Errno && e.errno === EAFNOSUPPORT);
  await k.halt();
});

test('connect, accept, 1 MiB each way byte for byte, addresses in sockaddr_in6, MSS 1440, then all closed and gone', async (t) => {
  const n = await net();
  const lfd = await listen(n.b, 8080);
  const cfd = await n.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  const cp = n.a.sys.connect(cfd, sin6(B, 8080));
  const ap = n.b.sys.accept(lfd);
  await until(n, cp);
  const { fd: sfd, addr: peer } = await until(n, ap);
  const syn = n.seen.find((f) => f.tcpFlags === 0x02)!;
  t.like(syn, { src: A, dst: B, hlim: 64, nxt: 6 });
  // RFC 6691 / RFC 8200: the MSS offered is the MTU less 60.
  const opts = syn.frame.subarray(14 + 40 + 20);
  t.deepEqual([...opts.subarray(0, 4)], [2, 4, 1440 >> 8, 1440 & 0xff]);
  t.like(await n.a.sys.getsockname(cfd), { family: AF_INET6, addr: A });
  t.deepEqual(await n.a.sys.getpeername(cfd), sin6(B, 8080));
  t.deepEqual(await n.b.sys.getsockname(sfd), sin6(B, 8080));
  t.deepEqual(peer, await n.a.sys.getsockname(cfd));
  // Timestamps are on: 1440 − 12 of data per segment.
  t.is(await n.a.sys.getsockopt(cfd, IPPROTO_TCP, TCP_MAXSEG), 1428);

  const ab = pattern(1 << 20, 1);
  const ba = pattern(1 << 20, 2);
  const send = async (k: Kernel, fd: number, d: Uint8Array): Promise<void> => {
    for (let off = 0; off < d.length; ) off += await k.sys.write(fd, d.subarray(off, off + 40_000));
    await k.sys.shutdown(fd, SHUT_WR);
  };
  const recv = async (k: Kernel, fd: number): Promise<string> => {
    const h = createHash('sha256');
    for (;;) {
      const d = await k.sys.read(fd, 65536);
      if (d.length === 0) return h.digest('hex');
      h.update(d);
    }
  };
  const [, , atB, atA] = await until(n, Promise.all([send(n.a, cfd, ab), send(n.b, sfd, ba), recv(n.b, sfd), recv(n.a, cfd)]));
  t.is(atB, sha(ab));
  t.is(atA, sha(ba));
  t.is(inet(n.a).tcpstat.sndrexmitpack, 0, 'a perfect link needs no retransmission');
  t.true(n.seen.some((f) => f.nxt === 6 && f.plen === 20 + 12 + 1428), 'full-sized segments carry 1428 data bytes');
  const list = await n.a.sys.ext('pcblist');
  t.like(list[0], { proto: 'tcp6', laddr: A, faddr: B });

  for (const k of [n.a, n.b]) for (const fd of k.sys.openFds()) await k.sys.close(fd);
  await n.sim.run(5 * 60_000);
  for (const k of [n.a, n.b]) {
    t.is(inet(k).tcp!.tcbtable6!.size, 0, 'no IPv6 PCB left');
    t.is(inet(k).tcp!.tcbs.size, 0);
  }
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('over ::1 within one kernel, through lo0', async (t) => {
  const n = await net();
  n.seen.length = 0; // what set the link up (DAD, MLD) is not this test's
  const lfd = await listen(n.a, 9000);
  const cfd = await n.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await until(n, n.a.sys.connect(cfd, sin6('::1', 9000)));
  const { fd: sfd, addr } = await until(n, n.a.sys.accept(lfd));
  t.is(addr.addr, '::1');
  await n.a.sys.write(cfd, new TextEncoder().encode('over loopback'));
  t.is(new TextDecoder().decode(await until(n, n.a.sys.read(sfd, 100))), 'over loopback');
  // Connecting to :: means this host (in6_pcbconnect), too.
  const c2 = await n.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await until(n, n.a.sys.connect(c2, sin6('::', 9000)));
  t.like(await n.a.sys.getpeername(c2), { addr: '::1', port: 9000 });
  t.is(n.seen.filter((f) => f.nxt !== 0).length, 0, 'nothing on the wire but MLD reports (Hop-by-Hop first)');
  for (const fd of n.a.sys.openFds()) await n.a.sys.close(fd);
  await n.sim.run(5 * 60_000);
  t.is(inet(n.a).tcp!.tcbtable6!.size, 0);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('refused: an RST from a closed port, and ICMPv6 port unreachable quoting SND.UNA (another sequence is ignored)', async (t) => {
  const n = await net();
  const fd = await n.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  const e = await until(n, n.a.sys.connect(fd, sin6(B, 81))).catch((x: unknown) => x);
  t.true(e instanceof Errno && e.errno === ECONNREFUSED, 'RST');

  // B drops every TCP segment silently (blackhole), so only the ICMPv6 error answers A;
  // A takes it as a hard error (FreeBSD's icmp_may_rst; NetBSD's default keeps it soft).
  await n.b.sys.sysctlSet('net.inet.tcp.blackhole', 2);
  await n.a.sys.sysctlSet('net.inet.tcp.icmp_may_rst', 1);
  const s = await n.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await n.a.sys.fcntl(s, 4 /* F_SETFL */, O_NONBLOCK);
  n.seen.length = 0;
  await n.a.sys.connect(s, sin6(B, 82)).catch(() => {});
  await n.sim.settle();
  const syn = n.seen.find((f) => f.tcpFlags === 0x02 && f.dport === 82)!;
  const quoted = syn.frame.subarray(14, 14 + 48);
  const unreach = (seqDelta: number): Uint8Array => {
    const q = quoted.slice();
    const v = new DataView(q.buffer);
    v.setUint32(44, (v.getUint32(44) + seqDelta) >>> 0);
    const pkt = new Uint8Array(40 + 8 + q.length);
    icmp6WriteHeader(pkt, 40, 1, 4, 0);
    pkt.set(q, 48);
    ip6WriteHeader(pkt, 0, 0, 0, 8 + q.length, 58, 64, ip6(B), 0, ip6(A), 0);
    icmp6SetChecksum(pkt, 40, 8 + q.length, ip6(B), 0, ip6(A), 0);
    return ether6(n.link.a.lladdr!, n.link.b.lladdr!, pkt);
  };
  const inject = (frame: Uint8Array): void => {
    const m = n.a.mbufs.copyin(frame, 0, frame.length)!;
    n.link.a.input(n.link.a, m);
  };
  inject(unreach(1));
  inject(unreach(-1));
  await n.sim.settle();
  t.is(await n.a.sys.getsockopt(s, SOL_SOCKET, SO_ERROR), 0, 'not SND.UNA: not believed (RFC 5927)');
  t.is(inet(n.a).tcpstat.icmp_ignored, 2);
  inject(unreach(0));
  await n.sim.settle();
  t.is(await n.a.sys.getsockopt(s, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
  t.is(inet(n.a).tcpstat.icmp_honoured, 1);
  t.is(stats6(n.a).icmp6stat.inhist[1], 3);
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('IPv4 and IPv6 ports are apart (v6only); IPv6 options; what AF_INET6 does not take', async (t) => {
  const n = await net();
  const l6 = await listen(n.a, 7000);
  const l4 = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  await n.a.sys.bind(l4, { family: AF_INET, addr: '0.0.0.0', port: 7000 });
  const again = await n.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  const inuse = await n.a.sys.bind(again, sin6('::', 7000)).catch((x: unknown) => x);
  t.like(inuse, { code: 'EADDRINUSE' });
  t.is(await n.a.sys.getsockopt(l6, IPPROTO_IPV6, IPV6_V6ONLY), 1);
  const off = await n.a.sys.setsockopt(l6, IPPROTO_IPV6, IPV6_V6ONLY, 0).catch((x: unknown) => x);
  t.true(off instanceof Errno && off.errno === EINVAL);
  await n.a.sys.setsockopt(again, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 7);
  await n.a.sys.setsockopt(again, IPPROTO_IPV6, IPV6_TCLASS, 0x20);
  t.is(await n.a.sys.getsockopt(again, IPPROTO_IPV6, IPV6_UNICAST_HOPS), 7);
  n.seen.length = 0;
  await n.b.sys.sysctlSet('net.inet.tcp.blackhole', 2);
  await n.a.sys.fcntl(again, 4, O_NONBLOCK);
  await n.a.sys.connect(again, sin6(B, 1)).catch(() => {});
  await n.sim.settle();
  const syn = n.seen.find((f) => f.tcpFlags === 0x02)!;
  t.is(syn.hlim, 7);
  t.is(((syn.frame[14]! & 0x0f) << 4) | (syn.frame[15]! >>> 4), 0x20, 'traffic class');
  // A v4-mapped address is refused with IPV6_V6ONLY on (the default); raw IPv6 sockets are ICMPv6 only.
  const s = await n.a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  t.like(await n.a.sys.bind(s, sin6('::ffff:10.0.0.1', 0)).catch((x: unknown) => x), { code: 'EINVAL' });
  t.like(await n.a.sys.bind(s, sin6('2001:db8::77', 0)).catch((x: unknown) => x), { code: 'EADDRNOTAVAIL' });
  t.like(await n.a.sys.bind(s, { family: AF_INET, addr: '0.0.0.0', port: 0 }).catch((x: unknown) => x), { code: 'EAFNOSUPPORT' });
  t.like(await n.a.sys.socket(AF_INET6, SOCK_RAW, 17).catch((x: unknown) => x), { code: 'EPROTONOSUPPORT' });
  t.like(await n.a.sys.socket(AF_INET6, SOCK_STREAM, 17).catch((x: unknown) => x), { code: 'EPROTONOSUPPORT' });
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});
