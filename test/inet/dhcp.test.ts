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
import { createSimHost, rumpInit, AF_INET, SOCK_DGRAM, type RumpKernel, type SimHost } from '../../index.js';
import { SOL_SOCKET, SO_BROADCAST } from '../../net/socket.js';
import { IP_MULTICAST_IF } from '../../net/inet/ip_mopts.js';
import { IPPROTO_IP } from '../../net/wire/ipv4.js';
import { drive, simKernel } from '../node/helpers.js';

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const quad = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
const num = (s: string): number => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);

/** A request as the server sees it. */
interface Seen {
  t: number;
  type: number;
  xid: number;
  ciaddr: number;
  flags: number;
  requested: number | null;
  serverId: number | null;
  to: string;
}

function parseRequest(b: Uint8Array): Omit<Seen, 't' | 'to'> & { chaddr: Uint8Array } {
  const r = { type: 0, xid: u32(b, 4), ciaddr: u32(b, 12), flags: (b[10]! << 8) | b[11]!, requested: null as number | null, serverId: null as number | null, chaddr: b.slice(28, 34) };
  let o = 240;
  while (o < b.length && b[o] !== 255) {
    if (b[o] === 0) {
      o++;
      continue;
    }
    const code = b[o]!;
    const len = b[o + 1]!;
    if (code === 53) r.type = b[o + 2]!;
    if (code === 50) r.requested = u32(b, o + 2);
    if (code === 54) r.serverId = u32(b, o + 2);
    o += 2 + len;
  }
  return r;
}

interface ReplyOpts {
  type: number;
  xid: number;
  chaddr: Uint8Array;
  yiaddr: number;
  lease?: number | null;
  serverId?: number | null;
  /** Raw option bytes appended before End (a hostile reply's). */
  extra?: number[];
  /** Cut the message here (a truncated reply). */
  cut?: number;
}

const SERVER = num('192.0.2.1');
const OFFERED = num('192.0.2.50');

function buildReply(o: ReplyOpts): Uint8Array {
  const b = new Uint8Array(300);
  b[0] = 2;
  b[1] = 1;
  b[2] = 6;
  const put = (off: number, v: number): void => {
    b[off] = v >>> 24;
    b[off + 1] = (v >>> 16) & 255;
    b[off + 2] = (v >>> 8) & 255;
    b[off + 3] = v & 255;
  };
  put(4, o.xid);
  b[10] = 0x80;
  put(16, o.yiaddr);
  b.set(o.chaddr, 28);
  put(236, 0x63825363);
  const opts: number[] = [53, 1, o.type];
  const a32 = (v: number): number[] => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  if (o.serverId !== null) opts.push(54, 4, ...a32(o.serverId ?? SERVER));
  if (o.lease !== null) opts.push(51, 4, ...a32(o.lease ?? 3600));
  opts.push(1, 4, 255, 255, 255, 0);
  opts.push(3, 4, ...a32(num('192.0.2.254')));
  opts.push(6, 8, ...a32(num('192.0.2.53')), ...a32(num('192.0.2.54')));
  const dom = [...'lab.example'].map((c) => c.charCodeAt(0));
  opts.push(15, dom.length, ...dom);
  if (o.extra) opts.push(...o.extra);
  opts.push(255);
  b.set(opts, 240);
  return o.cut !== undefined ? b.subarray(0, o.cut) : b;
}

/**
 * The server: answers DISCOVER with an OFFER of 192.0.2.50 and REQUEST with
 * an ACK (broadcast while the client has no address, unicast to ciaddr when
 * renewing), as `behave` allows. Records what it saw with the time.
 */
class Server {
  seen: Seen[] = [];
  /** Requests to ignore (retransmission tests), by type. */
  ignore = new Map<number, number>();
  lease = 3600;
  nak = false;
  /** Sent before each genuine OFFER (hostile tests). */
  hostile: (x: { xid: number; chaddr: Uint8Array }) => Uint8Array[] = () => [];
  fd = -1;
  constructor(
    readonly sim: SimHost,
    readonly k: RumpKernel,
  ) {}

  async start(): Promise<void> {
    const sys = this.k.sys;
    this.fd = await sys.socket(AF_INET, SOCK_DGRAM, 0);
    await sys.setsockopt(this.fd, SOL_SOCKET, SO_BROADCAST, 1);
    await sys.setsockopt(this.fd, IPPROTO_IP, IP_MULTICAST_IF, { addr: '192.0.2.1' });
    await sys.bind(this.fd, { family: AF_INET, addr: '0.0.0.0', port: 67 });
    void this.loop();
  }

  private async loop(): Promise<void> {
    const sys = this.k.sys;
    for (;;) {
      let got;
      try {
        got = await sys.recvfrom(this.fd, 1500);
      } catch {
        return;
      }
      const r = parseRequest(got.data);
      this.seen.push({ t: this.sim.now(), type: r.type, xid: r.xid, ciaddr: r.ciaddr, flags: r.flags, requested: r.requested, serverId: r.serverId, to: got.from!.addr });
      const skip = this.ignore.get(r.type) ?? 0;
      if (skip > 0) {
        this.ignore.set(r.type, skip - 1);
        continue;
      }
      const to = r.ciaddr !== 0 && !(r.flags & 0x8000) ? quad(r.ciaddr) : '255.255.255.255';
      const send = (b: Uint8Array): Promise<number> => sys.sendto(this.fd, b, 0, { family: AF_INET, addr: to, port: 68 });
      if (r.type === 1) {
        for (const h of this.hostile({ xid: r.xid, chaddr: r.chaddr })) await send(h);
        await send(buildReply({ type: 2, xid: r.xid, chaddr: r.chaddr, yiaddr: OFFERED, lease: this.lease }));
      } else if (r.type === 3) {
        await send(buildReply({ type: this.nak ? 6 : 5, xid: r.xid, chaddr: r.chaddr, yiaddr: this.nak ? 0 : OFFERED, lease: this.lease }));
      }
    }
  }

  types(): number[] {
    return this.seen.map((s) => s.type);
  }
}

async function lan(seed = 1): Promise<{ sim: SimHost; s: RumpKernel; c: RumpKernel; srv: Server }> {
  const sim = createSimHost({ seed });
  const s = await simKernel(sim, 'bus1', '192.0.2.1');
  const c = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'], host: sim });
  await c.netconfig.ifcreate('shmif0');
  await c.netconfig.ifsetlinkstr('shmif0', 'bus1');
  const srv = new Server(sim, s);
  await srv.start();
  return { sim, s, c, srv };
}

async function dhcpStats(k: RumpKernel): Promise<Record<string, number>> {
  return (await k.sys.sysctl('net.inet.dhcp.stats')) as Record<string, number>;
}

async function addrs(k: RumpKernel): Promise<string[]> {
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  const conf = (await k.sys.ioctl(fd, 'SIOCGIFCONF', { name: 'shmif0' })) as Array<{ inet: Array<{ addr: string; prefixLen?: number }> }>;
  await k.sys.close(fd);
  return conf[0]!.inet.map((a) => a.addr);
}

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
