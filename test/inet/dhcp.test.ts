/*
 * The DHCP client (RFC 2131) against a server written here, on another
 * kernel on the same shmif bus, on the simulated clock: the exchange and
 * what it configures (address, mask, default route, net.resolv), RFC 2131
 * §4.1's retransmission, renewal at T1 (unicast) and rebinding at T2
 * (broadcast), expiry, release at destroy and at halt, NAK, and hostile
 * replies dropped and counted.
 *
 *     S 192.0.2.1 (the server, on kernel S)     C (no address: asks for one)
 *       both on shmif bus1
 */
import test from 'ava';
import { createSimHost, rumpInit, AF_INET, SOCK_DGRAM } from '../../index.js';
import { drive } from '../node/helpers.js';
import { OFFERED, SERVER, addrs, buildReply, dhcpStats, lan, num } from '../helpers/dhcp-server.js';

test('DISCOVER, OFFER, REQUEST, ACK: the address, mask, default route and DNS are configured', async (t) => {
  const { sim, s, c, srv } = await lan();
  await c.resolver.set({ nameservers: ['198.51.100.1'] });
  const lease = await drive(sim, c.netconfig.dhcpIpv4Oneshot('shmif0'));
  t.like(lease, { ifname: 'shmif0', address: '192.0.2.50', mask: '255.255.255.0', prefixLen: 24, server: '192.0.2.1', routers: ['192.0.2.254'], dns: ['192.0.2.53', '192.0.2.54'], domain: 'lab.example', lease: 3600, t1: 1800, t2: 3150, state: 'bound' });
  t.deepEqual(srv.types(), [1, 3]);
  // From 0.0.0.0 to the limited broadcast, the broadcast flag set; the REQUEST names the offer and the server.
  t.deepEqual(srv.seen.map((x) => [x.to, x.flags & 0x8000, x.ciaddr]), [['0.0.0.0', 0x8000, 0], ['0.0.0.0', 0x8000, 0]]);
  t.is(srv.seen[1]!.requested, OFFERED);
  t.is(srv.seen[1]!.serverId, SERVER);
  t.is(srv.seen[0]!.xid, srv.seen[1]!.xid);
  t.deepEqual(await addrs(c), ['192.0.2.50']);
  const routes = (await c.sys.ext('rtdump')) as Array<{ dst: string; prefixLen: number; gateway: string }>;
  t.truthy(routes.find((r) => r.dst === '0.0.0.0' && r.prefixLen === 0 && r.gateway === '192.0.2.254'));
  const rc = await c.resolver.get();
  t.deepEqual(rc.nameservers, ['192.0.2.53', '192.0.2.54', '198.51.100.1']);
  t.deepEqual(rc.search, ['lab.example']);
  // The address works: the server reaches the client.
  const fd = await c.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await c.sys.bind(fd, { family: AF_INET, addr: '0.0.0.0', port: 7 });
  const sfd = await s.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await s.sys.sendto(sfd, new Uint8Array([1, 2, 3]), 0, { family: AF_INET, addr: '192.0.2.50', port: 7 });
  const got = await drive(sim, c.sys.recvfrom(fd, 100));
  t.deepEqual([...got.data], [1, 2, 3]);
  const st = await dhcpStats(c);
  t.like(st, { discovers: 1, requests: 1, offers: 1, acks: 1, bound: 1, badxid: 0, badpacket: 0, badlease: 0 });
  await c.halt();
  await s.halt();
});

test('retransmission: RFC 2131 §4.1 backoff, 4 s doubling, ±1 s; timeout when nobody answers', async (t) => {
  const { sim, s, c, srv } = await lan(3);
  srv.ignore.set(1, 3);
  srv.ignore.set(3, 1);
  const t0 = sim.now();
  const lease = await drive(sim, c.netconfig.dhcpIpv4Oneshot('shmif0', { timeoutMs: 120_000 }));
  t.is(lease.address, '192.0.2.50');
  t.deepEqual(srv.types(), [1, 1, 1, 1, 3, 3]);
  const gaps = srv.seen.slice(1).map((x, i) => x.t - srv.seen[i]!.t);
  // DISCOVERs: about 4, 8, 16 s apart; the REQUEST's own timer starts at 4 s again.
  for (const [i, base] of [[0, 4000], [1, 8000], [2, 16000], [4, 4000]] as const) {
    t.true(gaps[i]! >= base - 1000 && gaps[i]! <= base + 1000, `gap ${i} ${gaps[i]} ~ ${base}`);
  }
  t.true(srv.seen[0]!.t - t0 < 100);
  // The xid stays the same through the exchange.
  t.is(new Set(srv.seen.map((x) => x.xid)).size, 1);
  t.like(await dhcpStats(c), { retransmits: 4 });
  await c.halt();
  await s.halt();

  // No server at all: ETIMEDOUT after the timeout, and nothing configured.
  const sim2 = createSimHost({ seed: 4 });
  const lone = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'], host: sim2 });
  await lone.netconfig.ifcreate('shmif0');
  await lone.netconfig.ifsetlinkstr('shmif0', 'bus9');
  const t1 = sim2.now();
  const e = await t.throwsAsync(drive(sim2, lone.netconfig.dhcpIpv4Oneshot('shmif0', { timeoutMs: 30_000 })));
  t.regex(e!.message, /timed out/i);
  t.is(sim2.now() - t1, 30_000);
  t.like(await dhcpStats(lone), { discovers: 4, retransmits: 3, timeouts: 1 });
  await lone.halt();
  t.is(sim2.pending(), 0);
});

test('renewal at T1 (unicast to the server), rebinding at T2 (broadcast), expiry removes the address', async (t) => {
  const { sim, s, c, srv } = await lan(5);
  srv.lease = 1000; // T1 500 s, T2 875 s
  await drive(sim, c.netconfig.dhcpIpv4Oneshot('shmif0'));
  const bound = sim.now();
  srv.seen = [];
  // T1: a unicast REQUEST from the leased address, which the server ACKs.
  await sim.run(500_000 + 10);
  t.is(srv.seen.length, 1);
  t.like(srv.seen[0], { type: 3, to: '192.0.2.50', ciaddr: OFFERED, requested: null, serverId: null, flags: 0 });
  t.true(Math.abs(srv.seen[0]!.t - bound - 500_000) < 50);
  t.like(await dhcpStats(c), { renewed: 1 });
  t.like(await c.netconfig.dhcpStatus('shmif0'), { state: 'bound' });

  // Now the server stops answering: renew retransmits, then at T2 rebinding broadcasts, then the lease expires.
  srv.ignore.set(3, 1000);
  srv.seen = [];
  const renewedAt = sim.now();
  await sim.run(875_000 - 1000);
  t.true(srv.seen.length >= 2, 'renewal retransmits');
  t.true(srv.seen.every((x) => x.to === '192.0.2.50' && x.ciaddr === OFFERED));
  // RFC 2131 §4.4.5: between retransmissions at least 60 s.
  const ts = srv.seen.map((x) => x.t);
  for (let i = 1; i < ts.length; i++) t.true(ts[i]! - ts[i - 1]! >= 60_000 - 1);
  await sim.run(2000);
  const rebind = srv.seen.filter((x) => x.t >= renewedAt + 875_000 - 100);
  t.true(rebind.length >= 1);
  t.like(rebind[0], { type: 3, ciaddr: OFFERED });
  t.deepEqual(await addrs(c), ['192.0.2.50']);
  // Expiry: the address, the route and the DNS servers go, and the client starts over (DISCOVER).
  srv.seen = [];
  srv.ignore.set(1, 1000);
  await sim.run(1000_000 - 875_000 + 10);
  t.deepEqual(await addrs(c), []);
  const routes = (await c.sys.ext('rtdump')) as Array<{ dst: string; prefixLen: number }>;
  t.falsy(routes.find((r) => r.dst === '0.0.0.0' && r.prefixLen === 0));
  t.deepEqual((await c.resolver.get()).nameservers, []);
  t.like(await dhcpStats(c), { expired: 1 });
  t.true(srv.seen.some((x) => x.type === 1 && x.to === '0.0.0.0'));
  await c.halt();
  await s.halt();
});

test('release: DHCPRELEASE to the server when the interface is destroyed, when the kernel halts, and on request', async (t) => {
  const { sim, s, c, srv } = await lan(6);
  await drive(sim, c.netconfig.dhcpIpv4Oneshot('shmif0'));
  await sim.run(1000);
  srv.seen = [];
  await c.netconfig.ifdestroy('shmif0');
  await sim.run(100);
  t.is(srv.seen.length, 1);
  t.like(srv.seen[0], { type: 7, to: '192.0.2.50', ciaddr: OFFERED, serverId: SERVER });
  t.like(await dhcpStats(c), { releases: 1 });

  // At halt.
  await c.netconfig.ifcreate('shmif0');
  await c.netconfig.ifsetlinkstr('shmif0', 'bus1');
  await drive(sim, c.netconfig.dhcpIpv4Oneshot('shmif0'));
  await sim.run(1000);
  srv.seen = [];
  await c.halt();
  await sim.run(100);
  t.deepEqual(srv.types(), [7]);

  // On request (dhcpcd -k): the address goes too.
  const c2 = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'], host: sim });
  await c2.netconfig.ifcreate('shmif0');
  await c2.netconfig.ifsetlinkstr('shmif0', 'bus1');
  await drive(sim, c2.netconfig.dhcpIpv4Oneshot('shmif0', { renew: false }));
  await sim.run(1000);
  srv.seen = [];
  await c2.netconfig.dhcpRelease('shmif0');
  await sim.run(100);
  t.deepEqual(srv.types(), [7]);
  t.deepEqual(await addrs(c2), []);
  await t.throwsAsync(c2.netconfig.dhcpRelease('shmif0'), { message: /not configured|Device not/i });
  await c2.halt();
  await s.halt();
  t.is(sim.pending(), 0);
});

test('a NAK sends the client back to DISCOVER', async (t) => {
  const { sim, s, c, srv } = await lan(7);
  srv.nak = true;
  const p = c.netconfig.dhcpIpv4Oneshot('shmif0', { timeoutMs: 10_000 });
  await sim.run(100);
  srv.nak = false;
  const lease = await drive(sim, p);
  t.is(lease.address, '192.0.2.50');
  t.deepEqual(srv.types().slice(0, 4), [1, 3, 1, 3]);
  t.like(await dhcpStats(c), { naks: 1 });
  await c.halt();
  await s.halt();
});

test('hostile replies: wrong xid or hardware address, truncated, overflowing options, a lease of 0: dropped and counted', async (t) => {
  const { sim, s, c, srv } = await lan(8);
  srv.hostile = ({ xid, chaddr }) => [
    buildReply({ type: 2, xid: xid ^ 1, chaddr, yiaddr: num('192.0.2.66') }),
    buildReply({ type: 2, xid, chaddr: new Uint8Array([2, 0, 0, 0, 0, 1]), yiaddr: num('192.0.2.67') }),
    buildReply({ type: 2, xid, chaddr, yiaddr: num('192.0.2.68'), cut: 200 }),
    // An option that claims 200 bytes where 10 remain.
    buildReply({ type: 2, xid, chaddr, yiaddr: num('192.0.2.69'), extra: [43, 200, 1, 2] }),
    buildReply({ type: 2, xid, chaddr, yiaddr: num('192.0.2.70'), lease: 0 }),
    buildReply({ type: 2, xid, chaddr, yiaddr: num('192.0.2.71'), serverId: null }),
    buildReply({ type: 2, xid, chaddr, yiaddr: num('192.0.2.72'), extra: [6, 3, 1, 2, 3] }),
    new Uint8Array(0),
  ];
  const lease = await drive(sim, c.netconfig.dhcpIpv4Oneshot('shmif0'));
  t.is(lease.address, '192.0.2.50');
  t.like(await dhcpStats(c), { badxid: 2, badpacket: 4, badlease: 2, bound: 1 });
  await c.halt();
  await s.halt();
});

test('bad calls: no such interface, no hardware address, a second start while acquiring', async (t) => {
  const { sim, s, c } = await lan(9);
  await t.throwsAsync(c.netconfig.dhcpIpv4Oneshot('shmif7'), { message: /Device not configured/ });
  await t.throwsAsync(c.netconfig.dhcpIpv4Oneshot('lo0'), { message: /Invalid argument/ });
  const p = c.netconfig.dhcpIpv4Oneshot('shmif0');
  await t.throwsAsync(c.netconfig.dhcpIpv4Oneshot('shmif0'), { message: /busy/i });
  const lease = await drive(sim, p);
  // Once bound, asking again answers with the lease.
  t.deepEqual(await c.netconfig.dhcpIpv4Oneshot('shmif0'), lease);
  await c.halt();
  await s.halt();
});

test('an interface taken down while acquiring: sends fail quietly, the call times out; port 68 held by another socket: EADDRINUSE', async (t) => {
  const { sim, s, c, srv } = await lan(10);
  srv.ignore.set(1, 100);
  const p = c.netconfig.dhcpIpv4Oneshot('shmif0', { timeoutMs: 20_000 });
  await c.netconfig.ifdown('shmif0');
  await t.throwsAsync(drive(sim, p), { message: /timed out/ });
  t.like(await dhcpStats(c), { discovers: 3, bound: 0 });

  const fd = await c.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await c.sys.bind(fd, { family: AF_INET, addr: '0.0.0.0', port: 68 });
  await t.throwsAsync(c.netconfig.dhcpIpv4Oneshot('shmif0'), { message: /Address already in use/ });
  await c.sys.close(fd);
  await c.halt();
  await s.halt();
  t.is(sim.pending(), 0);
});
