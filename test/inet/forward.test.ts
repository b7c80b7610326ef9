/*
 * A router kernel forwarding between two Ethernets (RFC 1812).
 *
 *      h1                          r                           h2
 *   hub0 192.0.2.2/24      hub0 192.0.2.1/24
 *      |                   hub1 198.51.100.1/24          hub0 198.51.100.2/24
 *      |                     |        |                        |
 *   ===+======= lanA ========+        +========= lanB =========+===
 *
 *   h1: default via 192.0.2.1     r: net.inet.ip.forwarding=1     h2: default via 198.51.100.1
 */
import test from 'ava';
import { ifioctl } from '../../net/interface_ioctl.js';
import { inet } from '../../net/inet/inet.js';
import { IP_RAWOUTPUT, ipOutput } from '../../net/inet/ip_output.js';
import { netstack } from '../../net/netstack.js';
import { ICMP_ECHO, ICMP_ECHOREPLY, ICMP_TIMXCEED, ICMP_TIMXCEED_INTRANS, ICMP_UNREACH, ICMP_UNREACH_HOST, ICMP_UNREACH_NEEDFRAG } from '../../net/wire/icmp.js';
import { inCksum } from '../../net/wire/cksum.js';
import { routedTopology as topology } from '../helpers/routed.js';
import {
  BROADCAST_MAC, etherFrame, haltAll, icmpMessage, icmpstat, ifnet, ipPacket, ipstat, route, sendEcho,
} from '../helpers/kernels.js';

test('h1 pings h2 through r: TTL lowered by one per hop, header checksum still right', async (t) => {
  const n = await topology();
  t.is(sendEcho(n.h1, '198.51.100.2'), 0);
  await n.ks.sim.settle();
  t.is(icmpstat(n.h1).inhist[ICMP_ECHOREPLY], 1);
  const reqA = n.lanA.find((f) => f.ip?.icmpType === ICMP_ECHO)!;
  const reqB = n.lanB.find((f) => f.ip?.icmpType === ICMP_ECHO)!;
  const repA = n.lanA.find((f) => f.ip?.icmpType === ICMP_ECHOREPLY)!;
  t.is(reqA.ip!.ttl, 64);
  t.is(reqB.ip!.ttl, 63);
  t.is(repA.ip!.ttl, 254);
  t.like(reqB.ip, { src: '192.0.2.2', dst: '198.51.100.2' });
  // RFC 1624's incremental update gives the same header a full sum would verify.
  t.is(inCksum(reqB.frame, 14, 20), 0);
  t.is(inCksum(repA.frame, 14, 20), 0);
  t.is(ipstat(n.r).forward, 2);
  t.is(ipstat(n.r).delivered, 0);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});

test('with net.inet.ip.forwarding=0 the router drops and counts (cantforward), silently', async (t) => {
  const n = await topology(0);
  sendEcho(n.h1, '198.51.100.2');
  await n.ks.sim.settle();
  t.is(ipstat(n.r).cantforward, 1);
  t.deepEqual(n.lanB, []);
  t.is(n.lanA.filter((f) => f.ip?.src === '192.0.2.1').length, 0);
  await haltAll(n.ks);
});

test('TTL 1 dies at the router with ICMP time exceeded from its incoming address; TTL 2 arrives with 1', async (t) => {
  const n = await topology();
  sendEcho(n.h1, '198.51.100.2', { ttl: 1 });
  await n.ks.sim.settle();
  const te = n.lanA.find((f) => f.ip?.icmpType === ICMP_TIMXCEED)!;
  t.like(te.ip, { src: '192.0.2.1', dst: '192.0.2.2', icmpCode: ICMP_TIMXCEED_INTRANS, ttl: 255 });
  t.is(te.frame[14 + 28 + 8], 1, 'the quoted header shows the TTL as sent');
  t.is(icmpstat(n.h1).inhist[ICMP_TIMXCEED], 1);
  t.deepEqual(n.lanB.filter((f) => f.ip), []);
  sendEcho(n.h1, '198.51.100.2', { ttl: 2 });
  await n.ks.sim.settle();
  t.is(n.lanB.find((f) => f.ip?.icmpType === ICMP_ECHO)?.ip?.ttl, 1);
  t.is(icmpstat(n.h1).inhist[ICMP_ECHOREPLY], 1);
  await haltAll(n.ks);
});

test('no route, reject and blackhole routes at the router', async (t) => {
  const n = await topology();
  sendEcho(n.h1, '203.0.113.5');
  await n.ks.sim.settle();
  let un = n.lanA.filter((f) => f.ip?.icmpType === ICMP_UNREACH);
  t.is(un.length, 1);
  t.like(un[0]!.ip, { src: '192.0.2.1', icmpCode: ICMP_UNREACH_HOST });
  t.is(ipstat(n.r).noroute, 1);
  await route(n.r, { type: 'add', dst: '203.0.113.0/25', flags: 0x8 /* RTF_REJECT */ });
  await route(n.r, { type: 'add', dst: '203.0.113.128/25', flags: 0x1000 /* RTF_BLACKHOLE */ });
  sendEcho(n.h1, '203.0.113.5');
  sendEcho(n.h1, '203.0.113.200');
  await n.ks.sim.settle();
  un = n.lanA.filter((f) => f.ip?.icmpType === ICMP_UNREACH);
  t.is(un.length, 2, 'reject answers, blackhole does not');
  t.is(ipstat(n.r).forward, 0);
  await haltAll(n.ks);
});

test('the router fragments for a smaller MTU on the way out, and answers DF with "fragmentation needed"', async (t) => {
  const n = await topology();
  ifioctl(netstack(n.r), 'SIOCSIFMTU', { name: 'hub1', mtu: 576 });
  sendEcho(n.h1, '198.51.100.2', { size: 1400 });
  await n.ks.sim.settle();
  const frags = n.lanB.filter((f) => f.ip?.src === '192.0.2.2');
  t.is(frags.length, 3);
  t.true(frags.every((f) => f.ip!.len <= 576));
  t.is(ipstat(n.r).fragmented, 1);
  t.is(ipstat(n.h2).reassembled, 1);
  t.is(icmpstat(n.h1).inhist[ICMP_ECHOREPLY], 1);

  // The same with DF, sent as a raw datagram: the router refuses and says why.
  const pkt = ipPacket({ src: '192.0.2.2', dst: '198.51.100.2', p: 1, off: 0x4000, payload: icmpMessage(ICMP_ECHO, 0, 1, new Uint8Array(1000)) });
  const m = n.h1.mbufs.copyin(pkt, 0, pkt.length)!;
  t.is(ipOutput(inet(n.h1), m, 0, 0, 0, 0, 0, IP_RAWOUTPUT), 0);
  await n.ks.sim.settle();
  const nf = n.lanA.find((f) => f.ip?.icmpType === ICMP_UNREACH)!;
  t.is(nf.ip!.icmpCode, ICMP_UNREACH_NEEDFRAG);
  t.is((nf.frame[14 + 20 + 6]! << 8) | nf.frame[14 + 20 + 7]!, 576, 'next-hop MTU (RFC 1191)');
  t.is(ipstat(n.r).cantfrag, 1);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});

test('broadcasts and 127/8 are never forwarded', async (t) => {
  const n = await topology();
  // A directed broadcast of the far network, sent to the router's MAC.
  const macR = ifnet(n.r, 'hub0').lladdr!;
  const macH1 = ifnet(n.h1, 'hub0').lladdr!;
  const toBcast = ipPacket({ src: '192.0.2.2', dst: '198.51.100.255', p: 1, payload: icmpMessage(ICMP_ECHO, 0, 1, new Uint8Array(8)) });
  n.hubA.inject(etherFrame(macR, macH1, 0x0800, toBcast));
  // A unicast datagram in a link broadcast frame.
  const inBcastFrame = ipPacket({ src: '192.0.2.2', dst: '198.51.100.2', p: 1, payload: icmpMessage(ICMP_ECHO, 0, 1, new Uint8Array(8)) });
  n.hubA.inject(etherFrame(BROADCAST_MAC, macH1, 0x0800, inBcastFrame));
  // Loopback destination from the wire.
  const toLoop = ipPacket({ src: '192.0.2.2', dst: '127.0.0.1', p: 1, payload: icmpMessage(ICMP_ECHO, 0, 1, new Uint8Array(8)) });
  n.hubA.inject(etherFrame(macR, macH1, 0x0800, toLoop));
  await n.ks.sim.settle();
  t.deepEqual(n.lanB.filter((f) => f.ip), []);
  t.is(ipstat(n.r).cantforward, 2);
  t.is(ipstat(n.r).badaddr, 1);
  t.is(ipstat(n.r).forward, 0);
  await haltAll(n.ks);
});

test('net.inet.ip.directed-broadcast forwards a directed broadcast as a link broadcast; net.inet.icmp.bmcastecho lets h2 answer it', async (t) => {
  const n = await topology();
  // Both off by default (RFC 2644; NetBSD's icmpbmcastecho 0).
  t.is(await n.r.sys.sysctl('net.inet.ip.directed-broadcast'), 0);
  t.is(await n.h2.sys.sysctl('net.inet.icmp.bmcastecho'), 0);
  t.is(sendEcho(n.h1, '198.51.100.255'), 0);
  await n.ks.sim.settle();
  t.deepEqual(n.lanB.filter((f) => f.ip), [], 'the router refuses it');
  t.is(ipstat(n.r).cantforward, 1);

  await n.r.sys.sysctlSet('net.inet.ip.directed-broadcast', 1);
  t.is(sendEcho(n.h1, '198.51.100.255'), 0);
  await n.ks.sim.settle();
  const out = n.lanB.filter((f) => f.ip?.icmpType === ICMP_ECHO);
  t.is(out.length, 1);
  t.is(out[0]!.dstMac, 'ff:ff:ff:ff:ff:ff', 'a link broadcast on the far network');
  t.is(out[0]!.ip!.dst, '198.51.100.255');
  t.is(icmpstat(n.h2).bmcastecho, 1, 'h2 ignores an echo to a broadcast address');
  t.is(icmpstat(n.h1).inhist[ICMP_ECHOREPLY] ?? 0, 0);

  await n.h2.sys.sysctlSet('net.inet.icmp.bmcastecho', 1);
  n.lanA.length = 0;
  t.is(sendEcho(n.h1, '198.51.100.255'), 0);
  await n.ks.sim.settle();
  t.is(icmpstat(n.h1).inhist[ICMP_ECHOREPLY], 1);
  const reply = n.lanA.find((f) => f.ip?.icmpType === ICMP_ECHOREPLY)!;
  t.like(reply.ip, { src: '198.51.100.2', dst: '192.0.2.2' }, 'from h2 own address on the receiving interface');

  // Switched off again: refused again.
  await n.r.sys.sysctlSet('net.inet.ip.directed-broadcast', 0);
  n.lanB.length = 0;
  t.is(sendEcho(n.h1, '198.51.100.255'), 0);
  await n.ks.sim.settle();
  t.deepEqual(n.lanB.filter((f) => f.ip), []);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});
