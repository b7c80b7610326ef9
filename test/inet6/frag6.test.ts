/*
 * IPv6 fragmentation and reassembly (RFC 8200 §4.5): a 65,527-byte UDP
 * datagram over a 1500-byte link goes out in fragments and comes back
 * whole; hand-made fragments out of order reassemble, overlapping ones
 * drop the packet (RFC 5722), a bad length earns a parameter problem, an
 * incomplete packet times out after 60 s with "fragment reassembly time
 * exceeded".
 *
 *     kernel A  link0 2001:db8::1/64 ═══ point-to-point (MTU 1500) ═══ link0 2001:db8::2/64  kernel B
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET6, SOCK_DGRAM, type Sockaddr } from '../../kern/sys.js';
import { SOL_SOCKET, SO_RCVBUF, SO_SNDBUF } from '../../net/socket.js';
import { Errno } from '../../kern/errno.js';
import { frag6Counts } from '../../net/inet6/frag6.js';
import { inet6 } from '../../net/inet6/inet6.js';
import { ip6Input } from '../../net/inet6/ip6_input.js';
import { connectKernels, type Link } from '../helpers/link.js';
import { haltAll } from '../helpers/kernels.js';
import { bootKernels6, dadDone, decode6, ifconfig6, ip6Packet, type Seen6, stats6 } from './helpers.js';

const sin6 = (addr: string, port: number): Sockaddr => ({ family: AF_INET6, addr, port });
const A = '2001:db8::1';
const B = '2001:db8::2';

async function pair() {
  const ks = bootKernels6(2, 7);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const link: Link = connectKernels(ks.sim, a, b);
  const fromA: Seen6[] = [];
  const fromB: Seen6[] = [];
  link.a.taps.push((_i, dir, buf, off, len) => {
    const f = decode6(buf.slice(off, off + len));
    if (f && dir === 1) fromA.push(f);
  });
  link.b.taps.push((_i, dir, buf, off, len) => {
    const f = decode6(buf.slice(off, off + len));
    if (f && dir === 1) fromB.push(f);
  });
  ifconfig6(a, link.a.name, `${A}/64`);
  ifconfig6(b, link.b.name, `${B}/64`);
  await dadDone(ks);
  return { ks, a, b, link, fromA, fromB };
}

async function bigSocket(k: Kernel, port: number): Promise<number> {
  const fd = await k.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await k.sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, 212992);
  await k.sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 212992);
  await k.sys.bind(fd, sin6('::', port));
  return fd;
}

test('a 65,527-byte UDP datagram crosses a 1500-byte link in fragments and arrives whole; 65,528 is EMSGSIZE', async (t) => {
  const n = await pair();
  const sb = await bigSocket(n.b, 7000);
  const sa = await bigSocket(n.a, 7001);
  const big = new Uint8Array(65527);
  for (let i = 0; i < big.length; i++) big[i] = (i * 13 + (i >>> 9)) & 0xff;
  t.is(await n.a.sys.sendto(sa, big, 0, sin6(B, 7000)), 65527);
  await n.ks.sim.run(100);
  const got = await n.b.sys.recvfrom(sb, 70000, 0);
  t.is(got.data.length, 65527);
  t.true(Buffer.from(got.data).equals(Buffer.from(big)), 'byte for byte');
  const frags = n.fromA.filter((f) => f.nxt === 44);
  t.is(frags.length, Math.ceil(65535 / 1448), 'UDP header and data in 1448-byte pieces');
  t.true(frags.every((f) => f.plen <= 1460), 'every fragment fits the link');
  const ids = new Set(frags.map((f) => Buffer.from(f.frame.subarray(14 + 44, 14 + 48)).toString('hex')));
  t.is(ids.size, 1, 'one Identification for the packet');
  const offs = frags.map((f) => ((f.frame[14 + 42]! << 8) | f.frame[14 + 43]!));
  t.deepEqual(offs.map((w) => w & 1), [...Array(frags.length - 1).fill(1), 0], 'M on all but the last');
  t.deepEqual(offs.map((w) => w & 0xfff8), frags.map((_f, i) => i * 1448));
  t.like(stats6(n.a).ip6stat, { fragmented: 1, ofragments: frags.length });
  t.like(stats6(n.b).ip6stat, { reassembled: 1 });
  // And back, so both directions are seen.
  await n.b.sys.sendto(sb, got.data, 0, got.from);
  await n.ks.sim.run(100);
  const back = await n.a.sys.recvfrom(sa, 70000, 0);
  t.true(Buffer.from(back.data).equals(Buffer.from(big)));
  const err = await n.a.sys.sendto(sa, new Uint8Array(65528), 0, sin6(B, 7000)).catch((e: unknown) => e);
  t.true(err instanceof Errno && err.code === 'EMSGSIZE');
  t.deepEqual(frag6Counts(inet6(n.b)), { queues: 0, fragments: 0 });
  for (const k of [n.a, n.b]) for (const fd of k.sys.openFds()) await k.sys.close(fd);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

/** An echo request to B of `data` bytes, and its fragments (pieces of `sizes` bytes, the rest in the last) with Identification `id`. */
function echoFragments(sizes: number[], data = 64, id = 0x1234): Uint8Array[] {
  const body = new Uint8Array(8 + data);
  body[0] = 128;
  body.set([0xbe, 0xef, 0, 1], 4);
  for (let i = 0; i < data; i++) body[8 + i] = i;
  const msg = ip6Packet({ src: A, dst: B, nxt: 58, payload: body, csumAt: 2 }).subarray(40);
  const out: Uint8Array[] = [];
  let pos = 0;
  for (let i = 0; i <= sizes.length; i++) {
    const len = i < sizes.length ? sizes[i]! : msg.length - pos;
    const more = i < sizes.length ? 1 : 0;
    const p = new Uint8Array(8 + len);
    p[0] = 58;
    p[2] = (pos | more) >>> 8;
    p[3] = (pos | more) & 0xff;
    p[4] = id >>> 24;
    p[5] = (id >>> 16) & 0xff;
    p[6] = (id >>> 8) & 0xff;
    p[7] = id & 0xff;
    p.set(msg.subarray(pos, pos + len), 8);
    out.push(ip6Packet({ src: A, dst: B, nxt: 44, payload: p }));
    pos += len;
  }
  return out;
}

/** Hand a packet to B's IPv6 input as if it had come over the link. */
function inject(n: Awaited<ReturnType<typeof pair>>, pkt: Uint8Array): void {
  const m = n.b.mbufs.copyin(pkt, 0, pkt.length)!;
  m.rcvif = n.link.b.index;
  ip6Input(n.link.b, m);
}

test('fragments out of order reassemble; overlapping ones drop the packet; a bad length earns a parameter problem', async (t) => {
  const n = await pair();
  const replies = (): Seen6[] => n.fromB.filter((f) => f.nxt === 58 && f.icmpType === 129);
  // Reverse order: the last first.
  for (const p of echoFragments([16, 24]).reverse()) inject(n, p);
  await n.ks.sim.settle();
  t.is(replies().length, 1, 'one echo reply for the reassembled request');
  t.is(stats6(n.b).ip6stat.reassembled, 1);

  // RFC 5722: the second piece overlaps the first by 8 bytes: the whole packet goes, silently.
  const [p0, , p2] = echoFragments([16, 24], 64, 0x99);
  const overlap = echoFragments([8, 32], 64, 0x99)[1]!;
  const before = stats6(n.b).ip6stat.fragdropped;
  inject(n, p0!);
  inject(n, overlap);
  inject(n, p2!);
  await n.ks.sim.settle();
  t.is(replies().length, 1, 'no reply for an overlapped packet');
  t.true(stats6(n.b).ip6stat.fragdropped > before);

  // M set and a length that is not a multiple of 8: parameter problem, pointer 4 (RFC 8200 §4.5).
  inject(n, echoFragments([12], 64, 0x77)[0]!);
  await n.ks.sim.settle();
  const pp = n.fromB.filter((f) => f.icmpType === 4);
  t.is(pp.length, 1);
  t.is(pp[0]!.icmpCode, 0);
  t.deepEqual([...pp[0]!.frame.subarray(14 + 44, 14 + 48)], [0, 0, 0, 4]);
  // A fragment that would end past 65,535 bytes of payload: parameter problem at its offset field (40 + 2).
  const far = new Uint8Array(8 + 16);
  far[0] = 58;
  far[2] = 0xff;
  far[3] = 0xf8;
  far[7] = 5;
  inject(n, ip6Packet({ src: A, dst: B, nxt: 44, payload: far }));
  await n.ks.sim.settle();
  const pp2 = n.fromB.filter((f) => f.icmpType === 4);
  t.is(pp2.length, 2);
  t.deepEqual([...pp2[1]!.frame.subarray(14 + 44, 14 + 48)], [0, 0, 0, 42]);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('an incomplete packet is dropped after 60 s; with its first fragment in, the source hears "reassembly time exceeded"', async (t) => {
  const n = await pair();
  const [first, , last] = echoFragments([16, 24], 64, 0x42);
  inject(n, first!);
  inject(n, last!);
  await n.ks.sim.run(59_000);
  t.deepEqual(frag6Counts(inet6(n.b)), { queues: 1, fragments: 2 });
  t.is(n.fromB.filter((f) => f.icmpType === 3).length, 0);
  await n.ks.sim.run(2_000);
  t.deepEqual(frag6Counts(inet6(n.b)), { queues: 0, fragments: 0 });
  const te = n.fromB.filter((f) => f.icmpType === 3);
  t.is(te.length, 1);
  t.like(te[0]!, { icmpCode: 1, dst: A });
  t.is(stats6(n.b).ip6stat.fragtimeout, 2);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('thousands of random fragments: nothing throws, queues stay within their bounds, all expire, nothing leaks', async (t) => {
  const n = await pair();
  const rnd = (x: number): number => n.ks.sim.random32() % x;
  let maxQueues = 0;
  for (let i = 0; i < 4000; i++) {
    const len = rnd(6) === 0 ? rnd(40) : 8 * (1 + rnd(8));
    const p = new Uint8Array(8 + len);
    p[0] = [58, 17, 6, 44, 0][rnd(5)]!;
    const off = rnd(3) === 0 ? 0 : 8 * rnd(9000);
    const word = off | (rnd(3) === 0 ? 0 : 1);
    p[2] = word >>> 8;
    p[3] = word & 0xff;
    p[7] = rnd(100); // a hundred Identifications: more than IP6_MAXFRAGPACKETS queues wanted
    for (let j = 0; j < len; j++) p[8 + j] = n.ks.sim.random32() & 0xff;
    inject(n, ip6Packet({ src: `2001:db8::${1 + rnd(3)}`, dst: B, nxt: 44, payload: p }));
    maxQueues = Math.max(maxQueues, frag6Counts(inet6(n.b)).queues);
    if (i % 200 === 199) await n.ks.sim.run(1000);
  }
  t.true(maxQueues <= 64, `at most IP6_MAXFRAGPACKETS queues (${maxQueues})`);
  t.true(stats6(n.b).ip6stat.fragments > 3000);
  await n.ks.sim.run(61_000);
  t.deepEqual(frag6Counts(inet6(n.b)), { queues: 0, fragments: 0 });
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a flood of fragments of one packet stays within net.inet6.ip6.maxfragsperpacket and maxfrags, memory flat', async (t) => {
  const n = await pair();
  t.is(await n.b.sys.sysctl('net.inet6.ip6.maxfragpackets'), 64);
  await n.b.sys.sysctlSet('net.inet6.ip6.maxfragsperpacket', 8);
  await n.b.sys.sysctlSet('net.inet6.ip6.maxfrags', 20);
  const frag = (id: number, off: number): Uint8Array => {
    const p = new Uint8Array(16);
    p[0] = 17;
    p[2] = off >>> 8;
    p[3] = (off & 0xf8) | 1; // M set: the last fragment never comes
    p[7] = id;
    return ip6Packet({ src: A, dst: B, nxt: 44, payload: p });
  };
  let memAt100 = 0;
  for (let i = 0; i < 16_000; i++) {
    inject(n, frag(1, 8 * (i % 8000)));
    if (i % 100 === 99) await n.ks.sim.settle();
    if (i === 99) memAt100 = n.b.mem.used;
  }
  await n.ks.sim.settle();
  t.deepEqual(frag6Counts(inet6(n.b)), { queues: 1, fragments: 8 });
  t.is(stats6(n.b).ip6stat.fragoverflow, 16_000 - 8, 'netstat -s: fragments that exceeded limit');
  t.is(n.b.mem.used, memAt100, 'memory flat');
  for (let id = 2; id < 20; id++) inject(n, frag(id, 0));
  await n.ks.sim.settle();
  t.deepEqual(frag6Counts(inet6(n.b)), { queues: 13, fragments: 20 });
  await n.ks.sim.run(61_000);
  t.deepEqual(frag6Counts(inet6(n.b)), { queues: 0, fragments: 0 });
});
