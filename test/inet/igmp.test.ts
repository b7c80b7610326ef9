/*
 * IPv4 multicast membership and IGMPv2 (RFC 2236) through the BSD face:
 * the IP_* socket options with NetBSD's numbers and errors, per-interface
 * reference counts, the unsolicited report and its repeat, answers to a
 * router's queries (with report suppression between members), version 1
 * compatibility, and bad IGMP dropped and counted.
 *
 *     R 192.0.2.254 (plays the router: queries from a raw socket)
 *     A 192.0.2.1   B 192.0.2.2
 *       all on shmif bus1
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSimHost, AF_INET, SOCK_DGRAM, SOCK_RAW, type RumpKernel, type SimHost } from '../../index.js';
import { dumpBus } from '../../shmif/dumpbus.js';
import { readPcap } from '../../net/wire/pcap.js';
import { IGMP_MINLEN, igmpWrite } from '../../net/wire/igmp.js';
import {
  IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, IP_MAX_MEMBERSHIPS, IP_MULTICAST_IF, IP_MULTICAST_LOOP, IP_MULTICAST_TTL,
} from '../../net/inet/ip_mopts.js';
import { inMultiAll } from '../../net/inet/igmp.js';
import { inet } from '../../net/inet/inet.js';
import { IPPROTO_IP } from '../../net/wire/ipv4.js';
import { simKernel } from '../node/helpers.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { STRANGER_MAC, bootKernels, etherFrame, haltAll, ifconfig, ipPacket, errnoCode as code } from '../helpers/kernels.js';

const IPPROTO_IGMP = 2;
const GROUP = '239.1.2.3';

interface Igmp {
  t: number;
  src: string;
  dst: string;
  type: number;
  group: string;
}

const quad = (b: Uint8Array, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** The IGMP messages on bus1, with their capture time in ms. */
function igmpOnBus(sim: SimHost): Igmp[] {
  const out: Igmp[] = [];
  for (const r of readPcap(dumpBus(sim.files.get('bus1')!, {}).pcap).records) {
    const f = r.data;
    if (f[12] !== 0x08 || f[13] !== 0x00 || f[14 + 9] !== 2) continue;
    const hlen = (f[14]! & 0x0f) * 4;
    out.push({ t: r.sec * 1000 + Math.floor(r.usec / 1000), src: quad(f, 26), dst: quad(f, 30), type: f[14 + hlen]!, group: quad(f, 14 + hlen + 4) });
  }
  return out;
}

async function lan(seed: number): Promise<{ sim: SimHost; a: RumpKernel; b: RumpKernel; r: RumpKernel }> {
  const sim = createSimHost({ seed });
  const a = await simKernel(sim, 'bus1', '192.0.2.1');
  const b = await simKernel(sim, 'bus1', '192.0.2.2');
  const r = await simKernel(sim, 'bus1', '192.0.2.254');
  return { sim, a, b, r };
}

const mreq = (group: string, iface = '0.0.0.0') => ({ imr_multiaddr: group, imr_interface: iface });

async function joinGroup(k: RumpKernel, group = GROUP): Promise<number> {
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(group));
  return fd;
}

/** The router's query: `code` tenths of a second (0: a v1 query), about `group` (0.0.0.0: general). */
async function query(r: RumpKernel, code: number, group = '0.0.0.0', dst = '224.0.0.1'): Promise<void> {
  const fd = await r.sys.socket(AF_INET, SOCK_RAW, IPPROTO_IGMP);
  const msg = new Uint8Array(IGMP_MINLEN);
  const g = group.split('.').map(Number);
  igmpWrite(msg, 0, 0x11, code, ((g[0]! << 24) | (g[1]! << 16) | (g[2]! << 8) | g[3]!) >>> 0);
  await r.sys.sendto(fd, msg, 0, { family: AF_INET, addr: dst, port: 0 });
  await r.sys.close(fd);
}

test('a join reports at once and once more within 10 s; nothing after; leaving sends one Leave', async (t) => {
  const { sim, a, b, r } = await lan(31);
  await sim.run(1000);
  const t0 = sim.now();
  const fd = await joinGroup(b);
  await sim.run(60_000);
  const fd2 = await joinGroup(b);
  await b.sys.close(fd2); // another socket's join and close: the interface stays a member
  await sim.run(100);
  await b.sys.close(fd);
  await sim.run(100);
  const msgs = igmpOnBus(sim);
  const reports = msgs.filter((m) => m.type === 0x16);
  t.is(reports.length, 2, 'the report and its one repeat, nothing for the second socket');
  t.like(reports[0], { src: '192.0.2.2', dst: GROUP, group: GROUP });
  t.true(reports[0]!.t - t0 < 5, 'the first at once');
  t.true(reports[1]!.t - reports[0]!.t <= 10_000, 'the repeat within the Unsolicited Report Interval');
  const leaves = msgs.filter((m) => m.type === 0x17);
  t.is(leaves.length, 1);
  t.like(leaves[0], { src: '192.0.2.2', dst: '224.0.0.2', group: GROUP });
  t.true(leaves[0]!.t > reports[1]!.t + 50_000, 'the Leave only when the last socket went');
  t.deepEqual(inMultiAll(inet(b)).map((m) => `${m.ifp.name} ${m.group.toString(16)}`).sort(), ['lo0 e0000001', 'shmif0 e0000001'], 'all-hosts is all that is left');
  for (const k of [a, b, r]) await k.halt();
});

test('a general query is answered within Max Resp Time, by one member only (the other hears it and stays quiet)', async (t) => {
  const { sim, a, b, r } = await lan(32);
  await sim.run(1000);
  await joinGroup(a);
  await joinGroup(b);
  await sim.run(20_000); // the joins' reports and repeats are done
  const before = igmpOnBus(sim).length;
  const tq = sim.now();
  await query(r, 50); // 5 s
  await sim.run(20_000);
  const answers = igmpOnBus(sim).slice(before).filter((m) => m.type === 0x16);
  t.is(answers.length, 1, 'report suppression (RFC 2236 §3)');
  t.is(answers[0]!.group, GROUP);
  t.true(answers[0]!.t - tq <= 5_000 + 5, 'within Max Resp Time');
  t.true(answers[0]!.t - tq > 0, 'after a random delay, not at once');
  const sa = a.sysctl.get('net.inet.igmp.stats') as Record<string, number>;
  const sb = b.sysctl.get('net.inet.igmp.stats') as Record<string, number>;
  t.is(sa.rcv_queries, 1);
  t.is(sa.rcv_ourreports! + sb.rcv_ourreports! >= 1, true);

  // A query about another group gets no answer; one about ours does.
  const mid = igmpOnBus(sim).length;
  await query(r, 10, '239.9.9.9', '239.9.9.9');
  await query(r, 10, GROUP, GROUP);
  await sim.run(5_000);
  const more = igmpOnBus(sim).slice(mid).filter((m) => m.type === 0x16);
  t.deepEqual(more.map((m) => m.group), [GROUP]);
  for (const k of [a, b, r]) await k.halt();
});

test('after a version 1 query, reports are version 1 and leaving is silent (RFC 2236 §4)', async (t) => {
  const { sim, a, b, r } = await lan(33);
  await sim.run(1000);
  const fd = await joinGroup(b);
  await sim.run(20_000);
  const before = igmpOnBus(sim).length;
  await query(r, 0);
  await sim.run(11_000);
  await b.sys.close(fd);
  await sim.run(1000);
  const after = igmpOnBus(sim).slice(before).filter((m) => m.src === '192.0.2.2');
  t.deepEqual(after.map((m) => m.type), [0x12]);
  for (const k of [a, b, r]) await k.halt();
});

test('the socket options: NetBSD numbers, defaults, and errors', async (t) => {
  const { sim, a, b, r } = await lan(34);
  const s = a.sys;
  const fd = await s.socket(AF_INET, SOCK_DGRAM, 0);
  t.is(await s.getsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL), 1);
  t.is(await s.getsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP), 1);
  t.deepEqual(await s.getsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF), { addr: '0.0.0.0' });
  await s.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, { addr: '192.0.2.1' });
  t.deepEqual(await s.getsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF), { addr: '192.0.2.1' });
  t.is(await code(s.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, { addr: '192.0.2.9' })), 'EADDRNOTAVAIL');
  t.is(await code(s.setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, 256)), 'EINVAL');
  t.is(await code(s.setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq('192.0.2.2'))), 'EINVAL');
  t.is(await code(s.setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP, '192.0.2.9'))), 'EADDRNOTAVAIL');
  t.is(await code(s.setsockopt(fd, IPPROTO_IP, IP_DROP_MEMBERSHIP, mreq(GROUP))), 'EADDRNOTAVAIL');
  // ip_mreq as C lays it out: group, then interface, network order.
  await s.setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, new Uint8Array([239, 1, 2, 3, 192, 0, 2, 1]));
  t.is(await code(s.setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP))), 'EADDRINUSE');
  for (let i = 1; i < IP_MAX_MEMBERSHIPS; i++) await s.setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(`239.0.0.${i}`));
  t.is(await code(s.setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq('239.0.0.99'))), 'ETOOMANYREFS');
  t.is(inMultiAll(inet(a)).length, IP_MAX_MEMBERSHIPS + 2, 'the 20 groups and all-hosts on shmif0 and lo0');
  await s.close(fd);
  t.is(inMultiAll(inet(a)).length, 2, 'close drops every membership');
  await sim.run(100);
  for (const k of [a, b, r]) await k.halt();
});

test('bad IGMP is dropped and counted; nothing throws', async (t) => {
  const { sim, a, b, r } = await lan(35);
  await joinGroup(b);
  await sim.run(1000);
  const fd = await r.sys.socket(AF_INET, SOCK_RAW, IPPROTO_IGMP);
  const to = { family: AF_INET, addr: '224.0.0.1', port: 0 };
  await r.sys.sendto(fd, new Uint8Array([0x11, 10, 0, 0]), 0, to); // short
  const bad = new Uint8Array(8);
  igmpWrite(bad, 0, 0x11, 10, 0);
  bad[7]! ^= 1; // checksum no longer matches
  await r.sys.sendto(fd, bad, 0, to);
  const wrongDst = new Uint8Array(8);
  igmpWrite(wrongDst, 0, 0x11, 10, 0xef010203); // a group query sent to all-hosts
  await r.sys.sendto(fd, wrongDst, 0, to);
  await sim.run(1000);
  const st = b.sysctl.get('net.inet.igmp.stats') as Record<string, number>;
  t.like(st, { rcv_total: 3, rcv_tooshort: 1, rcv_badsum: 1, rcv_badqueries: 1, rcv_queries: 1 });
  for (const k of [a, b, r]) await k.halt();
});

test('tshark reads our IGMP as IGMPv2 with Router Alert', async (t) => {
  let have = true;
  try {
    execFileSync('tshark', ['-v'], { stdio: 'ignore' });
  } catch {
    have = false;
  }
  if (!have) {
    t.log('SKIP: tshark is not installed');
    t.pass();
    return;
  }
  const { sim, a, b, r } = await lan(36);
  const fd = await joinGroup(b);
  await sim.run(100);
  await b.sys.close(fd);
  await sim.run(100);
  const dir = mkdtempSync(join(tmpdir(), 'igmp-'));
  try {
    const file = join(dir, 'bus.pcap');
    writeFileSync(file, dumpBus(sim.files.get('bus1')!, {}).pcap);
    const out = execFileSync('tshark', ['-r', file, '-Y', 'igmp', '-T', 'fields', '-E', 'separator=,', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.ttl', '-e', 'igmp.version', '-e', 'igmp.type', '-e', 'igmp.maddr', '-e', 'ip.opt.type'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const lines = out.trim().split('\n').map((l) => l.replace(/,0x94$/, ',RA').replace(/,148$/, ',RA'));
    t.deepEqual(lines, [
      `192.0.2.2,${GROUP},1,2,0x16,${GROUP},RA`,
      `192.0.2.2,224.0.0.2,1,2,0x17,${GROUP},RA`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const k of [a, b, r]) await k.halt();
});

test('a raw IGMP socket hears the queries too (igmp_input ends in rip_input)', async (t) => {
  const { sim, a, b, r } = await lan(37);
  const raw = await b.sys.socket(AF_INET, SOCK_RAW, IPPROTO_IGMP);
  await sim.run(100);
  await query(r, 10);
  await sim.run(100);
  const got = await b.sys.recvfrom(raw, 100, 0x80);
  const hl = (got.data[0]! & 0x0f) * 4;
  t.is(got.from!.addr, '192.0.2.254');
  t.deepEqual([...got.data.subarray(hl, hl + 2)], [0x11, 10], 'the query, behind its IP header');
  for (const k of [a, b, r]) await k.halt();
});

test('thousands of random IGMP messages to a member: nothing throws, timers stay bounded, nothing leaks', async (t) => {
  const ks = bootKernels(1, 38);
  const k = ks.kernels[0]!;
  const hub = new Hub('fuzz');
  const ifp = attachEther(k, hub);
  ifconfig(k, 'hub0', '192.0.2.2/24');
  const fd = await k.sys.socket(AF_INET, SOCK_DGRAM, 0);
  await k.sys.setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, mreq(GROUP));
  const rnd = (n: number): number => ks.sim.random32() % n;
  const types = [0x11, 0x12, 0x16, 0x17, 0x22, 0x00, 0xff];
  const groups = [0xef010203, 0, 0xe0000001, 0xc0000202, 0xef090909];
  const dsts = ['224.0.0.1', GROUP, '224.0.0.2', '192.0.2.2', '239.9.9.9'];
  for (let i = 0; i < 3000; i++) {
    const len = rnd(5) === 0 ? rnd(16) : 8 + 4 * rnd(3);
    const msg = new Uint8Array(len);
    if (len >= 8) igmpWrite(msg, 0, types[rnd(types.length)]!, rnd(4) === 0 ? 0 : rnd(256), groups[rnd(groups.length)]!);
    for (let n = rnd(3); n > 0 && len > 0; n--) msg[rnd(len)] = ks.sim.random32() & 0xff;
    const pkt = ipPacket({ src: `192.0.2.${1 + rnd(3)}`, dst: dsts[rnd(dsts.length)]!, p: IPPROTO_IGMP, ttl: 1, payload: msg });
    const dst = pkt[16] === 224 || pkt[16] === 239 ? Uint8Array.of(1, 0, 0x5e, pkt[17]! & 0x7f, pkt[18]!, pkt[19]!) : ifp.lladdr!;
    hub.inject(etherFrame(dst, STRANGER_MAC, 0x0800, pkt));
    if (i % 100 === 99) await ks.sim.run(500);
  }
  await ks.sim.run(30_000);
  const st = k.sysctl.get('net.inet.igmp.stats') as Record<string, number>;
  t.true(st.rcv_total! > 1000, JSON.stringify(st));
  t.true(st.rcv_queries! > 50 && st.rcv_reports! > 50, JSON.stringify(st));
  t.true(k.callouts.count <= 2, 'at most the group\'s report timer (and ARP) pending');
  await k.sys.close(fd);
  t.deepEqual(await haltAll(ks), { mbufsInUse: [0], callouts: [0] });
});
