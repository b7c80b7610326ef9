/*
 * ICMP (RFC 792, RFC 1122 §3.2.2): replies, errors and their rules, the
 * rate limit, delivery to transport protocols (ctlinput) and raw sockets.
 *
 *      a                              b                   "stranger"
 *   hub0 192.0.2.1/24 (+ alias .9)   hub0 192.0.2.2/24    192.0.2.50 (injected;
 *      |                              |                    a and b know its MAC)
 *   ===+=============lan==============+=====================
 */
import test from 'ava';
import { ECONNREFUSED } from '../../kern/errno.js';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, SOCK_RAW } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { ipOutput } from '../../net/inet/ip_output.js';
import {
  ICMP_ECHO, ICMP_ECHOREPLY, ICMP_TIMXCEED, ICMP_TSTAMP, ICMP_TSTAMPREPLY, ICMP_UNREACH, ICMP_UNREACH_PORT,
  ICMP_UNREACH_PROTOCOL,
} from '../../net/wire/icmp.js';
import { Hub, attachEther } from '../helpers/hub.js';
import {
  STRANGER_MAC, bootKernels, decodeFrame, etherFrame, haltAll, icmpMessage, icmpstat, ifconfig, ifnet, ip, ipPacket,
  ipstat, sendEcho, type Kernels, type SeenFrame,
} from '../helpers/kernels.js';

interface Lan {
  ks: Kernels;
  a: Kernel;
  b: Kernel;
  hub: Hub;
  seen: SeenFrame[];
  macA: Uint8Array;
}

async function lan(): Promise<Lan> {
  const ks = bootKernels(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const hub = new Hub('lan');
  const seen: SeenFrame[] = [];
  hub.tap((f) => seen.push(decodeFrame(f)));
  attachEther(a, hub);
  attachEther(b, hub);
  ifconfig(a, 'hub0', '192.0.2.1/24');
  ifconfig(a, 'hub0', '192.0.2.9/24', true);
  ifconfig(b, 'hub0', '192.0.2.2/24');
  for (const k of [a, b]) await k.sys.ext('arpmsg', { type: 'add', addr: '192.0.2.50', lladdr: '02:00:5e:10:20:30' });
  // The alias joined an interface that was up: it is tentative until IPv4
  // DAD (RFC 5227: probes, then ANNOUNCE_WAIT and the announcements) is done.
  await ks.sim.run(12_000);
  seen.length = 0;
  return { ks, a, b, hub, seen, macA: ifnet(a, 'hub0').lladdr! };
}

function fromStranger(l: Lan, spec: Partial<Parameters<typeof ipPacket>[0]> & { payload: Uint8Array; p: number }): void {
  const pkt = ipPacket({ src: '192.0.2.50', dst: '192.0.2.1', ...spec });
  l.hub.inject(etherFrame(l.macA, STRANGER_MAC, 0x0800, pkt));
}

test('an echo to an alias is answered from the alias (RFC 1122 §3.2.2.6)', async (t) => {
  const l = await lan();
  sendEcho(l.b, '192.0.2.9');
  await l.ks.sim.settle();
  const rep = l.seen.find((f) => f.ip?.icmpType === ICMP_ECHOREPLY)!;
  t.like(rep.ip, { src: '192.0.2.9', dst: '192.0.2.2' });
  await haltAll(l.ks);
});

test('bad messages are counted: short, bad checksum, unknown code', async (t) => {
  const l = await lan();
  fromStranger(l, { p: 1, payload: new Uint8Array([8, 0, 0xf7]) });
  const badSum = icmpMessage(ICMP_ECHO, 0, 1, new Uint8Array(8));
  badSum[2]! ^= 1;
  fromStranger(l, { p: 1, payload: badSum });
  fromStranger(l, { p: 1, payload: icmpMessage(ICMP_UNREACH, 99, 0, new Uint8Array(28)) });
  fromStranger(l, { p: 1, payload: icmpMessage(ICMP_UNREACH, ICMP_UNREACH_PORT, 0, new Uint8Array(10)) });
  await l.ks.sim.settle();
  const st = icmpstat(l.a);
  t.is(st.tooshort, 1);
  t.is(st.checksum, 1);
  t.is(st.badcode, 1);
  t.is(st.badlen, 1, 'an error too short to quote a header and 8 bytes');
  t.is(st.inhist[ICMP_UNREACH], 2);
  t.deepEqual(l.seen.filter((f) => f.ip?.src === '192.0.2.1'), []);
  await haltAll(l.ks);
});

test('timestamp requests are answered with a non-standard (high bit) time', async (t) => {
  const l = await lan();
  fromStranger(l, { p: 1, payload: icmpMessage(ICMP_TSTAMP, 0, 0x00010001, new Uint8Array(12)) });
  await l.ks.sim.settle();
  const rep = l.seen.find((f) => f.ip?.icmpType === ICMP_TSTAMPREPLY)!;
  t.truthy(rep);
  t.is(rep.frame[14 + 20 + 12]! & 0x80, 0x80);
  await haltAll(l.ks);
});

test('errors reach the transport protocol of the quoted datagram (ctlinput)', async (t) => {
  const l = await lan();
  const calls: Array<[number, string, string, number]> = [];
  inet(l.a).ctlinput[253] = (_inet, errno, src, dst, quoted, qoff, qlen) => {
    calls.push([errno, `${src >>> 24}.${(src >>> 16) & 255}.${(src >>> 8) & 255}.${src & 255}`, `${dst >>> 24}.${(dst >>> 16) & 255}.${(dst >>> 8) & 255}.${dst & 255}`, qlen]);
    t.is(quoted[qoff + 9], 253);
  };
  const m = l.a.mbufs.copyin(new Uint8Array(16), 0, 16)!;
  t.is(ipOutput(inet(l.a), m, 0, ip('192.0.2.2'), 253, 64, 0, 0), 0);
  await l.ks.sim.settle();
  t.deepEqual(calls, [[ECONNREFUSED, '192.0.2.1', '192.0.2.2', 28]]);
  const err = l.seen.find((f) => f.ip?.icmpType === ICMP_UNREACH)!;
  t.is(err.ip!.icmpCode, ICMP_UNREACH_PROTOCOL);
  await haltAll(l.ks);
});

test('net.inet.icmp.errppslimit caps errors per second; 0 sends none', async (t) => {
  const l = await lan();
  await l.a.sys.sysctlSet('net.inet.icmp.errppslimit', 2);
  for (let i = 0; i < 5; i++) fromStranger(l, { p: 253, id: i, payload: new Uint8Array(8) });
  await l.ks.sim.settle();
  const errors = (): number => l.seen.filter((f) => f.ip?.icmpType === ICMP_UNREACH).length;
  t.is(errors(), 2);
  t.is(icmpstat(l.a).ratelimit, 3);
  await l.ks.sim.run(1000);
  fromStranger(l, { p: 253, id: 9, payload: new Uint8Array(8) });
  await l.ks.sim.settle();
  t.is(errors(), 3, 'a new second, a new allowance');
  await l.a.sys.sysctlSet('net.inet.icmp.errppslimit', 0);
  await l.ks.sim.run(1000);
  fromStranger(l, { p: 253, id: 10, payload: new Uint8Array(8) });
  await l.ks.sim.settle();
  t.is(errors(), 3);
  t.is(ipstat(l.a).noproto, 7);
  const stats = (await l.a.sys.sysctl('net.inet.icmp.stats')) as Record<string, number>;
  t.is(stats['outhist.3'], 3);
  t.is(stats.ratelimit, 4);
  await haltAll(l.ks);
});

test('no error about an ICMP error, a non-first fragment, or a broadcast; errors about queries are fine', async (t) => {
  const l = await lan();
  await l.a.sys.sysctlSet('net.inet.ip.forwarding', 1);
  const quote = ipPacket({ src: '203.0.113.1', dst: '192.0.2.50', p: 17, payload: new Uint8Array(8) });
  // TTL 1 through a router that would answer time exceeded...
  fromStranger(l, { dst: '198.51.100.1', ttl: 1, p: 1, payload: icmpMessage(ICMP_UNREACH, 1, 0, quote) });
  fromStranger(l, { dst: '198.51.100.1', ttl: 1, p: 17, off: 0x2000 | 4, payload: new Uint8Array(16) });
  fromStranger(l, { dst: '198.51.100.1', ttl: 1, p: 1, payload: icmpMessage(ICMP_ECHO, 0, 1, new Uint8Array(8)) });
  await l.ks.sim.settle();
  const te = l.seen.filter((f) => f.ip?.icmpType === ICMP_TIMXCEED);
  t.is(te.length, 1, 'only about the echo request');
  t.is(icmpstat(l.a).oldicmp, 1);
  // A datagram of an unknown protocol sent to the broadcast address: no protocol unreachable.
  fromStranger(l, { dst: '192.0.2.255', p: 253, payload: new Uint8Array(8) });
  await l.ks.sim.settle();
  t.is(l.seen.filter((f) => f.ip?.icmpType === ICMP_UNREACH && f.ip.src !== '192.0.2.50').length, 0);
  t.is(icmpstat(l.a).error, 4);
  await haltAll(l.ks);
});

test('a raw ICMP socket sees every message: requests to us and replies to us', async (t) => {
  const l = await lan();
  const fdA = await l.a.sys.socket(AF_INET, SOCK_RAW, 1);
  const fdB = await l.b.sys.socket(AF_INET, SOCK_RAW, 1);
  sendEcho(l.a, '192.0.2.2');
  await l.ks.sim.settle();
  const atB = await l.b.sys.recvfrom(fdB, 2048);
  const atA = await l.a.sys.recvfrom(fdA, 2048);
  t.is(atB.data[20], ICMP_ECHO);
  t.is(atA.data[20], ICMP_ECHOREPLY);
  t.is(atA.data.length, 84, 'IP header included');
  t.like(atA.from, { addr: '192.0.2.2' });
  await l.a.sys.close(fdA);
  await l.b.sys.close(fdB);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});
