/*
 * Whole kernels on the sim host, joined by shmif buses, configured with
 * buildrump's netconfig calls and used through the BSD socket calls.
 *
 *     A 192.0.2.1 ── shmif0 ══ bus1 ══ shmif0 ── B 192.0.2.2
 *
 *     S 192.0.2.10 ══ bus1 ══ R 192.0.2.254 | R 198.51.100.254 ══ bus2 ══ C 198.51.100.20
 *     (S and C have default routes via R; R forwards with net.inet.ip.forwarding=1)
 */
import test from 'ava';
import { rumpInit, createSimHost, AF_INET, SOCK_DGRAM, SOCK_RAW, Errno, type RumpKernel, type SimHost } from '../../index.js';
import { main as ping } from '../../bin/rump.ping.js';
import { dumpBus } from '../../shmif/dumpbus.js';
import { readPcap } from '../../net/wire/pcap.js';

const COMPONENTS = ['net', 'net_net', 'net_netinet', 'net_shmif'];

async function host(sim: SimHost, links: Array<[string, string, number]>): Promise<RumpKernel> {
  const k = await rumpInit({ components: COMPONENTS, host: sim });
  for (const [bus, addr, plen] of links) {
    const ifname = await k.netconfig.ifcreate('shmif');
    await k.netconfig.ifsetlinkstr(ifname, bus);
    await k.netconfig.ipv4IfaddrCidr(ifname, addr, plen);
  }
  return k;
}

/** Run a promise to completion while the virtual clock moves. */
async function drive<T>(sim: SimHost, p: Promise<T>, maxMs = 60_000): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  p.then((v) => { done = true; value = v; }, (e) => { done = true; error = e; });
  await sim.runUntil(() => done, maxMs);
  if (!done) throw new Error('did not finish in virtual time');
  if (error) throw error;
  return value as T;
}

function pingIO(sim: SimHost, k: RumpKernel) {
  const lines: string[] = [];
  return {
    lines,
    io: {
      stdout: (s: string) => void lines.push(s),
      stderr: (s: string) => void lines.push(s),
      sys: k.sys,
      clock: { now: () => sim.now(), sleep: (ms: number) => new Promise<void>((r) => { const t = k.callouts.create(() => r(), null); t.reset(ms); }) },
    },
  };
}

test('two kernels on one bus: NetBSD ping gets three replies; a dead address exits 2', async (t) => {
  const sim = createSimHost({ seed: 11 });
  const a = await host(sim, [['bus1', '192.0.2.1', 24]]);
  await host(sim, [['bus1', '192.0.2.2', 24]]);
  const p = pingIO(sim, a);
  t.is(await drive(sim, ping(['-c', '3', '-n', '192.0.2.2'], p.io)), 0);
  const out = p.lines.join('');
  t.regex(out, /^PING 192\.0\.2\.2 \(192\.0\.2\.2\): 56 data bytes\n/);
  t.is(out.match(/64 bytes from 192\.0\.2\.2: icmp_seq=\d ttl=255 time=\d+\.\d{6} ms/g)?.length, 3);
  t.regex(out, /3 packets transmitted, 3 packets received, 0\.0% packet loss/);
  const dead = pingIO(sim, a);
  t.is(await drive(sim, ping(['-c', '1', '-w', '1', '-n', '192.0.2.9'], dead.io)), 2);
  t.regex(dead.lines.join(''), /1 packets transmitted, 0 packets received, 100\.0% packet loss/);

  // The bus holds the ARP exchange and the echo pairs, each frame a valid Ethernet frame.
  const dump = dumpBus(sim.files.get('bus1')!, {});
  const frames = readPcap(dump.pcap).records;
  const types = frames.map((f) => (f.data[12]! << 8) | f.data[13]!);
  t.true(types.filter((x) => x === 0x0806).length >= 4); // two announcements, who-has, reply
  t.is(frames.filter((f) => f.data[12] === 8 && f.data[13] === 0 && f.data[23] === 1).length, 6); // 3 echo + 3 reply
});

test('UDP echo across a bus, and port unreachable back to a connected sender', async (t) => {
  const sim = createSimHost({ seed: 12 });
  const a = await host(sim, [['bus1', '192.0.2.1', 24]]);
  const b = await host(sim, [['bus1', '192.0.2.2', 24]]);
  const srv = await b.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await b.sys.bind(srv, { family: AF_INET, addr: '0.0.0.0', port: 7 });
  const cli = await a.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await a.sys.sendto(cli, new TextEncoder().encode('ping me'), 0, { family: AF_INET, addr: '192.0.2.2', port: 7 });
  const got = await drive(sim, b.sys.recvfrom(srv, 100));
  t.is(new TextDecoder().decode(got.data), 'ping me');
  t.is(got.from!.addr, '192.0.2.1');
  await b.sys.sendto(srv, got.data, 0, got.from);
  const back = await drive(sim, a.sys.recvfrom(cli, 100));
  t.is(new TextDecoder().decode(back.data), 'ping me');
  t.deepEqual(back.from, { family: AF_INET, addr: '192.0.2.2', port: 7 });

  const c2 = await a.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await a.sys.connect(c2, { family: AF_INET, addr: '192.0.2.2', port: 9999 });
  await a.sys.send(c2, new Uint8Array(4));
  await sim.run(10);
  const err = await t.throwsAsync(a.sys.recv(c2, 10));
  t.is((err as Errno).code, 'ECONNREFUSED');
});

test('a router kernel forwards between two buses; TTL goes down by one', async (t) => {
  const sim = createSimHost({ seed: 13 });
  const s = await host(sim, [['bus1', '192.0.2.10', 24]]);
  const r = await host(sim, [['bus1', '192.0.2.254', 24], ['bus2', '198.51.100.254', 24]]);
  const c = await host(sim, [['bus2', '198.51.100.20', 24]]);
  await s.netconfig.ipv4Gw('192.0.2.254');
  await c.netconfig.ipv4Gw('198.51.100.254');

  // Forwarding off: the router drops and counts.
  const p0 = pingIO(sim, c);
  t.is(await drive(sim, ping(['-c', '1', '-w', '1', '-n', '192.0.2.10'], p0.io)), 2);
  t.true(((await r.sys.sysctl('net.inet.ip.stats')) as Record<string, number>).cantforward! >= 1);

  await r.sys.sysctlSet('net.inet.ip.forwarding', '1');
  const p1 = pingIO(sim, c);
  t.is(await drive(sim, ping(['-c', '2', '-n', '192.0.2.10'], p1.io)), 0);
  t.regex(p1.lines.join(''), /64 bytes from 192\.0\.2\.10: icmp_seq=0 ttl=254/);

  // UDP from the client on bus 2 to a server on bus 1.
  const srv = await s.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await s.sys.bind(srv, { family: AF_INET, addr: '192.0.2.10', port: 5353 });
  const cli = await c.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await c.sys.sendto(cli, new Uint8Array([1, 2, 3]), 0, { family: AF_INET, addr: '192.0.2.10', port: 5353 });
  const got = await drive(sim, s.sys.recvfrom(srv, 10));
  t.deepEqual([...got.data], [1, 2, 3]);
  t.is(got.from!.addr, '198.51.100.20');
  t.true(((await r.sys.sysctl('net.inet.ip.stats')) as Record<string, number>).forward! >= 3);
});

test('a 60000-byte ping is fragmented over the bus and reassembled both ways', async (t) => {
  const sim = createSimHost({ seed: 14 });
  const a = await host(sim, [['bus1', '192.0.2.1', 24]]);
  await host(sim, [['bus1', '192.0.2.2', 24]]);
  const p = pingIO(sim, a);
  t.is(await drive(sim, ping(['-c', '1', '-s', '60000', '-n', '192.0.2.2'], p.io)), 0);
  t.regex(p.lines.join(''), /60008 bytes from 192\.0\.2\.2: icmp_seq=0/);
  const stats = (await a.sys.sysctl('net.inet.ip.stats')) as Record<string, number>;
  t.is(stats.reassembled, 1);
  t.true(stats.ofragments! >= 41);
});

test('halted kernels leave no timers, no packet buffers, no sockets', async (t) => {
  const sim = createSimHost({ seed: 15 });
  const a = await host(sim, [['bus1', '192.0.2.1', 24]]);
  const b = await host(sim, [['bus1', '192.0.2.2', 24]]);
  const fd = await a.sys.socket(AF_INET, SOCK_RAW, 1);
  const p = pingIO(sim, a);
  await drive(sim, ping(['-c', '2', '-n', '192.0.2.2'], p.io));
  await a.sys.close(fd);
  await a.halt();
  await b.halt();
  await sim.run(10);
  t.is(a.mbufs.inUse, 0);
  t.is(b.mbufs.inUse, 0);
  t.is(a.callouts.count, 0);
  t.deepEqual(a.sys.openFds(), []);
  t.is(sim.pending(), 0);
});
