/*
 * Raw IP sockets (raw_ip.ts): ping's view (echo replies with the IP header
 * included), matching by protocol and by bound/connected address, ICMP
 * protocol unreachable when no one claims a protocol, IP_HDRINCL, IP_TTL
 * and IP_TOS, and leak-free close.
 *
 * Two-kernel test:
 *
 *     kernel A                                   kernel B
 *     hub0 10.0.0.1/24 ------[ hub "lan" ]------ hub0 10.0.0.2/24
 *     raw ICMP socket (ping)                      answers echo in icmpInput
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import { createSimHost, type SimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import type { Kernel } from '../../kern/kernel.js';
import { Errno } from '../../kern/errno.js';
import { AF_INET, AF_UNSPEC, MSG_DONTWAIT, SOCK_DGRAM, SOCK_RAW, type Sockaddr } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { IP_HDRINCL, IP_TOS, IP_TTL } from '../../net/inet/in_pcb.js';
import { TAP_OUT } from '../../net/interface.js';
import { inCksum } from '../../net/wire/cksum.js';
import {
  ICMP_ECHO, ICMP_ECHOREPLY, ICMP_UNREACH, ICMP_UNREACH_PROTOCOL, icmpCode, icmpId, icmpSeq, icmpSetChecksum, icmpType,
  icmpWriteEcho,
} from '../../net/wire/icmp.js';
import { formatInAddr, parseInAddr } from '../../net/wire/inaddr.js';
import {
  IPPROTO_ICMP, IPPROTO_IP, IPPROTO_UDP, ipDst, ipHlen, ipId, ipLen, ipP, ipSrc, ipTos, ipTtl, ipWriteHeader,
} from '../../net/wire/ipv4.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { bootKernels, haltAll, ifconfig, errnoCode as code } from '../helpers/kernels.js';

function boot(seed = 1): { sim: SimHost; k: Kernel } {
  const sim = createSimHost({ seed });
  const k = bootKernel({ components: ['net', 'net_net', 'net_netinet'], host: sim });
  return { sim, k };
}

const sin = (addr: string, port = 0): Sockaddr => ({ family: AF_INET, addr, port });

function echoRequest(id: number, seq: number, size = 16): Uint8Array {
  const pkt = new Uint8Array(8 + size);
  icmpWriteEcho(pkt, 0, ICMP_ECHO, id, seq);
  for (let i = 0; i < size; i++) pkt[8 + i] = i;
  icmpSetChecksum(pkt, 0, pkt.length);
  return pkt;
}

/** Everything queued on a socket now. */
async function drain(k: Kernel, fd: number): Promise<Array<{ data: Uint8Array; from: Sockaddr | null }>> {
  const out: Array<{ data: Uint8Array; from: Sockaddr | null }> = [];
  for (;;) {
    try {
      const r = await k.sys.recvfrom(fd, 70000, MSG_DONTWAIT);
      out.push({ data: r.data, from: r.from });
    } catch (e) {
      if (e instanceof Errno && e.code === 'EAGAIN') return out;
      throw e;
    }
  }
}

test('a raw ICMP socket sees its echo request and the reply over lo0, IP header included', async (t) => {
  const { sim, k } = boot();
  await sim.settle();
  const base = k.mbufs.inUse;
  const fd = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  t.is(await k.sys.sendto(fd, echoRequest(0x77, 1), 0, sin('127.0.0.1')), 24);
  await sim.run(1);
  const got = await drain(k, fd);
  // icmpInput shows every message to raw sockets: first our request as it
  // arrived on lo0, then the reply.
  t.is(got.length, 2);
  const [req, reply] = got.map((r) => r.data);
  t.is(icmpType(req!, ipHlen(req!, 0)), ICMP_ECHO);
  const h = ipHlen(reply!, 0);
  t.is(h, 20);
  t.is(ipP(reply!, 0), IPPROTO_ICMP);
  t.is(ipLen(reply!, 0), reply!.length);
  t.is(formatInAddr(ipSrc(reply!, 0)), '127.0.0.1');
  t.is(icmpType(reply!, h), ICMP_ECHOREPLY);
  t.is(icmpId(reply!, h), 0x77);
  t.is(icmpSeq(reply!, h), 1);
  t.deepEqual(reply!.subarray(h + 8), echoRequest(0x77, 1).subarray(8));
  t.deepEqual(got[1]!.from, sin('127.0.0.1'));
  await k.sys.close(fd);
  t.is(inet(k).rawcbtable.size, 0);
  t.is(k.mbufs.inUse, base);
  await k.halt();
});

test('ping across a hub: the raw socket on A gets B\'s echo reply', async (t) => {
  const ks = bootKernels(2, 3);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  attachEther(a, hub);
  attachEther(b, hub);
  ifconfig(a, 'hub0', '10.0.0.1/24');
  ifconfig(b, 'hub0', '10.0.0.2/24');
  await ks.sim.run(1);

  const fd = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  for (let seq = 0; seq < 3; seq++) {
    await a.sys.sendto(fd, echoRequest(0x1234, seq, 56), 0, sin('10.0.0.2'));
    await ks.sim.run(1000);
  }
  const got = await drain(a, fd);
  t.is(got.length, 3);
  got.forEach((r, seq) => {
    const h = ipHlen(r.data, 0);
    t.is(icmpType(r.data, h), ICMP_ECHOREPLY);
    t.is(icmpId(r.data, h), 0x1234);
    t.is(icmpSeq(r.data, h), seq);
    t.is(formatInAddr(ipSrc(r.data, 0)), '10.0.0.2');
    t.is(formatInAddr(ipDst(r.data, 0)), '10.0.0.1');
    t.deepEqual(r.from, sin('10.0.0.2'));
  });
  await a.sys.close(fd);
  const left = await haltAll(ks);
  t.deepEqual(left.mbufsInUse, [0, 0]);
});

test('raw input matches protocol, bound address and connected address', async (t) => {
  const { sim, k } = boot();
  const sock = async (proto: number): Promise<number> => k.sys.socket(AF_INET, SOCK_RAW, proto);
  const sender = await sock(253);
  const any253 = await sock(253);
  const all = await sock(0);
  const icmp = await sock(IPPROTO_ICMP);
  const boundElsewhere = await sock(253);
  await k.sys.bind(boundElsewhere, sin('127.0.0.2'));
  const boundHere = await sock(253);
  await k.sys.bind(boundHere, sin('127.0.0.1'));
  const connElsewhere = await sock(253);
  await k.sys.connect(connElsewhere, sin('127.0.0.9'));
  const connHere = await sock(253);
  await k.sys.connect(connHere, sin('127.0.0.1'));
  t.deepEqual(await k.sys.getpeername(connHere), sin('127.0.0.1'));
  t.deepEqual(await k.sys.getsockname(boundHere), sin('127.0.0.1'));

  await k.sys.sendto(sender, new Uint8Array([9, 8, 7]), 0, sin('127.0.0.1'));
  await sim.run(1);
  const count = async (fd: number): Promise<number> => (await drain(k, fd)).length;
  t.is(await count(any253), 1);
  t.is(await count(sender), 1); // it is unbound: its own packet comes back through lo0
  t.is(await count(all), 1);
  t.is(await count(boundHere), 1);
  t.is(await count(connHere), 1);
  t.is(await count(icmp), 0);
  t.is(await count(boundElsewhere), 0);
  t.is(await count(connElsewhere), 0);

  // Disconnecting (AF_UNSPEC) widens the filter again.
  await k.sys.connect(connElsewhere, { family: AF_UNSPEC, addr: '0.0.0.0', port: 0 });
  t.is(await code(k.sys.getpeername(connElsewhere)), 'ENOTCONN');
  await k.sys.sendto(sender, new Uint8Array([1]), 0, sin('127.0.0.1'));
  await sim.run(1);
  t.is(await count(connElsewhere), 1);
  await k.halt();
});

test('a protocol nobody claims gets ICMP protocol unreachable, which raw ICMP sockets see', async (t) => {
  const { sim, k } = boot();
  const icmp = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  // Bound to another address, the sender does not match its own packet
  // (destination 127.0.0.1), so nobody claims protocol 254.
  const sender = await k.sys.socket(AF_INET, SOCK_RAW, 254);
  await k.sys.bind(sender, sin('127.0.0.5'));
  await k.sys.sendto(sender, new Uint8Array(12), 0, sin('127.0.0.1'));
  await sim.run(1);
  t.is(inet(k).icmpstat.outhist[ICMP_UNREACH], 1);
  const got = await drain(k, icmp);
  const err = got.find((r) => icmpType(r.data, ipHlen(r.data, 0)) === ICMP_UNREACH);
  t.truthy(err);
  t.is(icmpCode(err!.data, ipHlen(err!.data, 0)), ICMP_UNREACH_PROTOCOL);
  await k.halt();
});

test('IP_HDRINCL: the header goes out as written, length, id and checksum filled in; bad headers are EINVAL', async (t) => {
  const { sim, k } = boot();
  const rx = await k.sys.socket(AF_INET, SOCK_RAW, 253);
  await k.sys.bind(rx, sin('127.0.0.1'));
  const tx = await k.sys.socket(AF_INET, SOCK_RAW, 253);
  await k.sys.bind(tx, sin('127.0.0.7')); // so it does not hear itself
  t.is(await k.sys.getsockopt(tx, IPPROTO_IP, IP_HDRINCL), 0);
  await k.sys.setsockopt(tx, IPPROTO_IP, IP_HDRINCL, 1);
  t.is(await k.sys.getsockopt(tx, IPPROTO_IP, IP_HDRINCL), 1);

  const lo = parseInAddr('127.0.0.1')!;
  const pkt = new Uint8Array(28);
  ipWriteHeader(pkt, 0, 0x10, 0, 0x4321, 0, 7, 253, lo, lo);
  pkt[10] = pkt[11] = 0; // no checksum: IP computes it
  pkt.set([1, 2, 3, 4, 5, 6, 7, 8], 20);
  await k.sys.sendto(tx, pkt, 0, sin('127.0.0.1'));
  ipWriteHeader(pkt, 0, 0, 28, 0, 0, 64, 253, lo, lo); // id 0: IP picks one
  await k.sys.sendto(tx, pkt, 0, sin('127.0.0.1'));
  await sim.run(1);
  const got = await drain(k, rx);
  t.is(got.length, 2);
  const [first, second] = got.map((r) => r.data) as [Uint8Array, Uint8Array];
  t.is(ipTos(first, 0), 0x10);
  t.is(ipTtl(first, 0), 7);
  t.is(ipId(first, 0), 0x4321);
  t.is(ipLen(first, 0), 28);
  t.is(inCksum(first, 0, 20), 0);
  t.deepEqual([...first.subarray(20)], [1, 2, 3, 4, 5, 6, 7, 8]);
  t.not(ipId(second, 0), 0);

  const bad = async (mutate: (p: Uint8Array) => Uint8Array): Promise<string> => {
    const p = new Uint8Array(28);
    ipWriteHeader(p, 0, 0, 28, 1, 0, 64, 253, lo, lo);
    return code(k.sys.sendto(tx, mutate(p), 0, sin('127.0.0.1')));
  };
  t.is(await bad((p) => p.subarray(0, 19)), 'EINVAL');
  t.is(await bad((p) => ((p[0] = 0x65), p)), 'EINVAL'); // version 6
  t.is(await bad((p) => ((p[0] = 0x44), p)), 'EINVAL'); // header length 16
  t.is(await bad((p) => ((p[0] = 0x48), p)), 'EINVAL'); // header longer than the packet
  t.is(await bad((p) => ((p[3] = 27), p)), 'EINVAL'); // ip_len disagrees
  t.is(await bad((p) => p), 'ok');

  // Only raw sockets have the option.
  const udp = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  t.is(await code(k.sys.setsockopt(udp, IPPROTO_IP, IP_HDRINCL, 1)), 'ENOPROTOOPT');
  t.is(await code(k.sys.getsockopt(udp, IPPROTO_IP, IP_HDRINCL)), 'ENOPROTOOPT');
  await k.halt();
});

test('IP_TTL and IP_TOS set the header of what raw and UDP sockets send', async (t) => {
  const { sim, k } = boot();
  const seen: Array<{ p: number; ttl: number; tos: number }> = [];
  inet(k).ns.lo0!.taps.push((_ifp, dir, buf, off) => {
    if (dir === TAP_OUT) seen.push({ p: ipP(buf, off), ttl: ipTtl(buf, off), tos: ipTos(buf, off) });
  });
  const raw = await k.sys.socket(AF_INET, SOCK_RAW, 253);
  const udp = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  t.is(await k.sys.getsockopt(raw, IPPROTO_IP, IP_TTL), 64);
  t.is(await k.sys.getsockopt(udp, IPPROTO_IP, IP_TOS), 0);
  await k.sys.setsockopt(raw, IPPROTO_IP, IP_TTL, 3);
  await k.sys.setsockopt(raw, IPPROTO_IP, IP_TOS, 0xb8);
  await k.sys.setsockopt(udp, IPPROTO_IP, IP_TTL, 200);
  await k.sys.setsockopt(udp, IPPROTO_IP, IP_TOS, 0x20);
  t.is(await k.sys.getsockopt(udp, IPPROTO_IP, IP_TTL), 200);
  t.is(await code(k.sys.setsockopt(udp, IPPROTO_IP, IP_TTL, 256)), 'EINVAL');
  t.is(await code(k.sys.setsockopt(udp, IPPROTO_IP, IP_TOS, -1)), 'EINVAL');
  t.is(await code(k.sys.setsockopt(udp, IPPROTO_IP, IP_TTL, new Uint8Array(4))), 'EINVAL');
  t.is(await code(k.sys.setsockopt(udp, IPPROTO_IP, 99, 1)), 'ENOPROTOOPT');
  t.is(await code(k.sys.setsockopt(udp, IPPROTO_UDP, 1, 1)), 'ENOPROTOOPT');

  await k.sys.sendto(raw, new Uint8Array(4), 0, sin('127.0.0.1'));
  await k.sys.sendto(udp, new Uint8Array(4), 0, sin('127.0.0.1', 9));
  await sim.run(1);
  t.deepEqual(seen.find((s) => s.p === 253), { p: 253, ttl: 3, tos: 0xb8 });
  t.deepEqual(seen.find((s) => s.p === IPPROTO_UDP), { p: IPPROTO_UDP, ttl: 200, tos: 0x20 });
  await k.halt();
});

test('raw sockets: copies to full buffers are dropped and counted; closing frees what was queued', async (t) => {
  const { sim, k } = boot();
  await sim.settle();
  const base = k.mbufs.inUse;
  const rx = await k.sys.socket(AF_INET, SOCK_RAW, 253);
  const tx = await k.sys.socket(AF_INET, SOCK_RAW, 253);
  await k.sys.bind(tx, sin('127.0.0.3'));
  // 9216 bytes of buffer: nine 900-byte payloads (920 with their IP header,
  // 936 with the address each record is charged) fit, the tenth does not.
  for (let i = 0; i < 10; i++) await k.sys.sendto(tx, new Uint8Array(900), 0, sin('127.0.0.1'));
  await sim.run(1);
  t.is(inet(k).rawcbtable.rcvfull, 1);
  t.true(k.mbufs.inUse > base);
  await k.sys.close(rx);
  await k.sys.close(tx);
  t.is(k.mbufs.inUse, base);
  t.is(inet(k).rawcbtable.size, 0);
  await k.halt();
});
