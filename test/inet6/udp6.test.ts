/*
 * UDP over IPv6 between two kernels: datagrams with their sender's
 * sockaddr_in6, port unreachable reported to a connected socket, and the
 * checksum IPv6 makes mandatory (RFC 8200 §8.1): a zero or wrong one is
 * dropped and counted.
 *
 *     kernel A  link0 2001:db8::1/64 ═══ point-to-point ═══ link0 2001:db8::2/64  kernel B
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET6, SOCK_DGRAM, type Sockaddr } from '../../kern/sys.js';
import { SOL_SOCKET, SO_ERROR } from '../../net/socket.js';
import { connectKernels } from '../helpers/link.js';
import { haltAll } from '../helpers/kernels.js';
import { bootKernels6, dadDone, decode6, ether6, ifconfig6, ip6Packet, type Seen6, stats6, linkLocalOf, scopedTrio } from './helpers.js';
import { netstack } from '../../net/netstack.js';

const sin6 = (addr: string, port: number): Sockaddr => ({ family: AF_INET6, addr, port });

async function pair() {
  const ks = bootKernels6(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const link = connectKernels(ks.sim, a, b);
  const seen: Seen6[] = [];
  link.a.taps.push((_i, _d, buf, off, len) => {
    const f = decode6(buf.slice(off, off + len));
    if (f) seen.push(f);
  });
  ifconfig6(a, link.a.name, '2001:db8::1/64');
  ifconfig6(b, link.b.name, '2001:db8::2/64');
  await dadDone(ks);
  return { ks, a, b, link, seen };
}

const udpStats = async (k: Kernel): Promise<Record<string, number>> => (await k.sys.sysctl('net.inet6.udp6.stats')) as Record<string, number>;

test('a datagram each way, with the sender\'s sockaddr_in6, an ephemeral port bound on first send', async (t) => {
  const n = await pair();
  const sb = await n.b.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await n.b.sys.bind(sb, sin6('::', 5353));
  const sa = await n.a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  t.is(await n.a.sys.sendto(sa, new TextEncoder().encode('query'), 0, sin6('2001:db8::2', 5353)), 5);
  await n.ks.sim.settle();
  const got = await n.b.sys.recvfrom(sb, 100, 0);
  t.is(new TextDecoder().decode(got.data), 'query');
  const me = await n.a.sys.getsockname(sa);
  t.deepEqual(got.from, sin6('2001:db8::1', me.port));
  t.true(me.port >= 49152);
  await n.b.sys.sendto(sb, new TextEncoder().encode('answer'), 0, got.from);
  await n.ks.sim.settle();
  const back = await n.a.sys.recvfrom(sa, 100, 0);
  t.is(new TextDecoder().decode(back.data), 'answer');
  t.deepEqual(back.from, sin6('2001:db8::2', 5353));
  const d = n.seen.find((f) => f.nxt === 17)!;
  t.like(d, { src: '2001:db8::1', dst: '2001:db8::2', plen: 8 + 5 });
  t.not((d.frame[14 + 40 + 6]! << 8) | d.frame[14 + 40 + 7]!, 0, 'a checksum is always sent');
  t.like(await udpStats(n.b), { ipackets: 1, opackets: 1 });
  for (const k of [n.a, n.b]) for (const fd of k.sys.openFds()) await k.sys.close(fd);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('port unreachable: ICMPv6 from the peer, ECONNREFUSED on the connected socket', async (t) => {
  const n = await pair();
  const s = await n.a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await n.a.sys.connect(s, sin6('2001:db8::2', 9));
  await n.a.sys.send(s, new Uint8Array(4), 0);
  await n.ks.sim.settle();
  t.like(n.seen.find((f) => f.nxt === 58 && f.icmpType === 1), { icmpCode: 4, src: '2001:db8::2', dst: '2001:db8::1' });
  t.is(await n.a.sys.getsockopt(s, SOL_SOCKET, SO_ERROR), 61 /* ECONNREFUSED */);
  t.like(await udpStats(n.b), { noport: 1 });
  await n.a.sys.close(s);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('a zero checksum, a wrong one and a bad length are dropped and counted; nothing reaches the socket', async (t) => {
  const n = await pair();
  const sb = await n.b.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await n.b.sys.bind(sb, sin6('::', 7));
  const udp = (sum: 'good' | 'zero' | 'bad', ulen = 12): Uint8Array => {
    const p = new Uint8Array(12);
    p.set([0x30, 0x39, 0, 7, 0, ulen]);
    p.set([1, 2, 3, 4], 8);
    const pkt = ip6Packet({ src: '2001:db8::1', dst: '2001:db8::2', nxt: 17, payload: p, csumAt: sum === 'zero' ? undefined : 6 });
    if (sum === 'bad') pkt[40 + 8]! ^= 1;
    return pkt;
  };
  const inject = (pkt: Uint8Array): void => {
    const f = ether6(n.link.b.lladdr!, n.link.a.lladdr!, pkt);
    n.link.b.input(n.link.b, n.b.mbufs.copyin(f, 0, f.length)!);
  };
  inject(udp('zero'));
  inject(udp('bad'));
  inject(udp('good', 20));
  inject(udp('good', 4));
  await n.ks.sim.settle();
  t.like(await udpStats(n.b), { nosum: 1, badsum: 1, badlen: 2 });
  inject(udp('good'));
  await n.ks.sim.settle();
  const r = await n.b.sys.recvfrom(sb, 100, 0);
  t.deepEqual([...r.data], [1, 2, 3, 4]);
  t.is(stats6(n.b).ip6stat.delivered, 5);
  for (const fd of n.b.sys.openFds()) await n.b.sys.close(fd);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('sendto a neighbor\'s link-local address through the interface its zone names (sin6_scope_id or %IF index; RFC 4007 §6)', async (t) => {
  const { ks, a, b, c, ac } = await scopedTrio(9);
  const ll = linkLocalOf;
  const target = ll(c, ac.b.name);
  const index = netstack(a).ifs.get(ac.a.name)!.index;
  const sc = await c.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await c.sys.bind(sc, sin6('::', 7));
  const sa = await a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  // a's fe80::/64 route is its first interface's: only the zone reaches c.
  for (const to of [{ ...sin6(target, 7), scope_id: index }, sin6(`${target}%${index}`, 7)]) {
    t.is(await a.sys.sendto(sa, new TextEncoder().encode('hi'), 0, to), 2);
    await ks.sim.settle();
    const got = await c.sys.recvfrom(sc, 100, 0);
    t.is(new TextDecoder().decode(got.data), 'hi');
    t.is(got.from?.addr, ll(a, ac.a.name), 'from a\'s link-local address on that link');
  }
  for (const k of [a, b, c]) for (const fd of k.sys.openFds()) await k.sys.close(fd);
  t.deepEqual(await haltAll(ks), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});
