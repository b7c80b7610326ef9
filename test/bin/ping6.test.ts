/*
 * rump.ping6: NetBSD ping6(8)'s lines, statistics and exit status against
 * real kernels on the sim host's clock, through the kernel's raw ICMPv6
 * socket (IPV6_RECVHOPLIMIT for hlim=).
 *
 *     kernel A  link0 2001:db8::1/64 ═══ point-to-point ═══ link0 2001:db8::2/64  kernel B
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { main } from '../../bin/rump.ping6.js';
import { connectKernels } from '../helpers/link.js';
import { haltAll, type Kernels } from '../helpers/kernels.js';
import { bootKernels6, dadDone, ifconfig6, linkLocalOf, scopedTrio } from '../inet6/helpers.js';
import { capture } from './helpers.js';
import { netstack } from '../../net/netstack.js';

interface Net extends Kernels {
  a: Kernel;
  b: Kernel;
  ifname: string;
  tool(k: Kernel, argv: string[]): Promise<{ status: number | undefined; out: string; err: string }>;
}

async function net(): Promise<Net> {
  const ks = bootKernels6(2, 7);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const link = connectKernels(ks.sim, a, b);
  ifconfig6(a, link.a.name, '2001:db8::1/64');
  ifconfig6(b, link.b.name, '2001:db8::2/64');
  await dadDone(ks);
  const sim = ks.sim;
  const tool = async (k: Kernel, argv: string[]): Promise<{ status: number | undefined; out: string; err: string }> => {
    const c = capture(k.sys, { clock: { now: () => sim.now(), sleep: (ms) => new Promise((r) => sim.armTimer(sim.now() + ms, r)) } });
    let status: number | undefined;
    void main(argv, c.io).then((s) => (status = s));
    await sim.runUntil(() => status !== undefined, 120_000);
    return { status, out: c.out(), err: c.err() };
  };
  return { ...ks, a, b, ifname: link.a.name, tool };
}

const REPLY = /^16 bytes from 2001:db8::2, icmp_seq=(\d+) hlim=64 time=\d+\.\d{3} ms$/;

test('rump.ping6 -c 3 -n: the PING6 line, one line per reply with hlim, the statistics block, exit 0', async (t) => {
  const n = await net();
  const r = await n.tool(n.a, ['-c', '3', '-n', '2001:db8::2']);
  t.is(r.status, 0, r.err);
  const lines = r.out.split('\n');
  t.is(lines[0], 'PING6(56=40+8+8 bytes) 2001:db8::1 --> 2001:db8::2');
  t.deepEqual(lines.slice(1, 4).map((l) => REPLY.exec(l)?.[1]), ['0', '1', '2']);
  t.is(lines[4], '');
  t.is(lines[5], '--- 2001:db8::2 ping6 statistics ---');
  t.is(lines[6], '3 packets transmitted, 3 packets received, 0.0% packet loss');
  t.regex(lines[7]!, /^round-trip min\/avg\/max\/std-dev = \d+\.\d{3}\/\d+\.\d{3}\/\d+\.\d{3}\/\d+\.\d{3} ms$/);
  t.is(r.err, '');
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('rump.ping6 to ::1 with -s 100 and -i: sizes in the lines follow, the kernel answers itself', async (t) => {
  const n = await net();
  const r = await n.tool(n.a, ['-c', '2', '-i', '0.2', '-s', '100', '::1']);
  t.is(r.status, 0, r.err);
  const lines = r.out.split('\n');
  t.is(lines[0], 'PING6(148=40+8+100 bytes) ::1 --> ::1');
  t.regex(lines[1]!, /^108 bytes from ::1, icmp_seq=0 hlim=64 time=\d+\.\d{3} ms$/);
  t.regex(lines[2]!, /^108 bytes from ::1, icmp_seq=1 hlim=64 time=/);
  t.is(lines[5], '2 packets transmitted, 2 packets received, 0.0% packet loss');
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('rump.ping6 to nobody: 100.0% packet loss and exit 2 at the -X deadline; -S and -I pick the source', async (t) => {
  const n = await net();
  const t0 = n.sim.now();
  const r = await n.tool(n.a, ['-c', '5', '-X', '2', '2001:db8::9']);
  t.is(r.status, 2);
  t.true(n.sim.now() - t0 <= 2100, 'stops at the deadline');
  t.true(r.out.startsWith('PING6(56=40+8+8 bytes) 2001:db8::1 --> 2001:db8::9\n'));
  t.regex(r.out, /\n--- 2001:db8::9 ping6 statistics ---\n2 packets transmitted, 0 packets received, 100\.0% packet loss\n$/);

  const s = await n.tool(n.a, ['-c', '1', '-S', '2001:db8::1', '2001:db8::2']);
  t.is(s.status, 0, s.err);
  t.true(s.out.startsWith('PING6(56=40+8+8 bytes) 2001:db8::1 --> 2001:db8::2\n'));
  const i = await n.tool(n.a, ['-c', '1', '-I', n.ifname, '2001:db8::2']);
  t.is(i.status, 0, i.err);
  t.true(i.out.startsWith('PING6(56=40+8+8 bytes) 2001:db8::1 --> 2001:db8::2\n'));
  t.deepEqual(await haltAll(n), { mbufsInUse: [0, 0], callouts: [0, 0] });
});

test('rump.ping6 usage and bad values: a usage line or a message, exit 1', async (t) => {
  const n = await net();
  const none = await n.tool(n.a, []);
  t.is(none.status, 1);
  t.regex(none.err, /^usage: rump\.ping6 /);
  const bad = await n.tool(n.a, ['-c', 'x', '::1']);
  t.is(bad.status, 1);
  t.is(bad.err, 'rump.ping6: illegal number of packets -- x\n');
  const v4 = await n.tool(n.a, ['192.0.2.1']);
  t.is(v4.status, 1);
  t.is(v4.err, 'rump.ping6: 192.0.2.1: no address associated with name\n');
  const hops = await n.tool(n.a, ['-h', '300', '::1']);
  t.is(hops.status, 1);
  t.is(hops.err, 'rump.ping6: illegal hoplimit 300\n');
  await haltAll(n);
});

test('rump.ping6 fe80::…%IF: a neighbor\'s link-local address through the interface named, the second of two (scoped, RFC 4007)', async (t) => {
  const { ks, a, c, ac } = await scopedTrio(9);
  const ll = linkLocalOf;
  const target = ll(c, ac.b.name);
  const sim = ks.sim;
  const tool = async (argv: string[]): Promise<{ status: number | undefined; out: string; err: string }> => {
    const cap = capture(a.sys, { clock: { now: () => sim.now(), sleep: (ms) => new Promise((r) => sim.armTimer(sim.now() + ms, r)) } });
    let status: number | undefined;
    void main(argv, cap.io).then((s) => (status = s));
    await sim.runUntil(() => status !== undefined, 120_000);
    return { status, out: cap.out(), err: cap.err() };
  };
  // a's fe80::/64 route is its first interface's: only the zone finds c.
  const r = await tool(['-c', '2', '-n', `${target}%${ac.a.name}`]);
  t.is(r.status, 0, r.err);
  const lines = r.out.split('\n');
  t.is(lines[0], `PING6(56=40+8+8 bytes) ${ll(a, ac.a.name)}%${ac.a.name} --> ${target}%${ac.a.name}`);
  t.regex(lines[1]!, new RegExp(`^16 bytes from ${target}%${ac.a.name}, icmp_seq=0 hlim=64 time=`));
  // By index too (sin6_scope_id as a number), and -I naming the interface.
  const index = String(netstack(a).ifs.get(ac.a.name)!.index);
  t.is((await tool(['-c', '1', '-n', `${target}%${index}`])).status, 0);
  t.is((await tool(['-c', '1', '-n', '-I', ac.a.name, target])).status, 0);
  const bad = await tool(['-c', '1', '-n', `${target}%nosuch0`]);
  t.is(bad.status, 1);
  t.is(bad.err, `rump.ping6: ${target}%nosuch0: no address associated with name\n`);
  t.deepEqual(await haltAll(ks), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});
