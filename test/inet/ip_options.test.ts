/*
 * IP options through a router (RFC 791 §3.1, NetBSD's ip_dooptions) and the
 * ping flags that send them, on the simulated clock:
 *
 *      h1 192.0.2.2 ── lanA ── 192.0.2.1 r 198.51.100.1 ── lanB ── 198.51.100.2 h2
 *
 * rump.ping -R: every hop records the address it sends from, h2 records its
 * own and sends the option back in the reply (RFC 1122 §3.2.2.6), which
 * ping prints. rump.ping -g r h2: a loose source route through r, acted on
 * only with net.inet.ip.allowsrcrt (else "prohibited") and forwarded only
 * with net.inet.ip.forwsrcrt (else "source route failed"); both default 0
 * as NetBSD's (RFC 7126 §4.3).
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { main as ping } from '../../bin/rump.ping.js';
import { ICMP_ECHO, ICMP_UNREACH, ICMP_UNREACH_NET_PROHIB, ICMP_UNREACH_SRCFAIL } from '../../net/wire/icmp.js';
import { inCksum } from '../../net/wire/cksum.js';
import { routedTopology as topology, type RoutedNet as Net } from '../helpers/routed.js';
import { capture } from '../bin/helpers.js';
import { haltAll, ipstat, type SeenFrame } from '../helpers/kernels.js';

async function tool(n: Net, k: Kernel, argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const sim = n.ks.sim;
  const c = capture(k.sys, { clock: { now: () => sim.now(), sleep: (ms) => new Promise((r) => sim.armTimer(sim.now() + ms, r)) } });
  let status: number | undefined;
  void ping(argv, c.io).then((s) => {
    status = s;
  });
  await sim.runUntil(() => status !== undefined, 60_000);
  if (status === undefined) throw new Error(`${argv.join(' ')} did not finish`);
  return { status, out: c.out(), err: c.err() };
}

/** The bytes of the IP options of a captured frame. */
const optionsOf = (f: SeenFrame): Uint8Array => f.frame.subarray(14 + 20, 14 + ((f.frame[14]! & 0x0f) << 2));

test('ping -R: r and h2 record their addresses going, r again coming back; ping prints the route, then "(same route)"', async (t) => {
  const n = await topology();
  const r = await tool(n, n.h1, ['-R', '-c', '2', '-i', '0.5', '198.51.100.2']);
  t.is(r.status, 0, r.err);
  // Out: r records 198.51.100.1 (the address it forwards from), h2 its own;
  // back: r records 192.0.2.1. (h1 records nothing: it sends.)
  t.regex(r.out, /\nRR: \t198\.51\.100\.1\n\t198\.51\.100\.2\n\t192\.0\.2\.1\n/);
  t.regex(r.out, /icmp_seq=1 .*\n\t\(same route\)\n/);
  // On lanB the request carries one recorded address, its header checksum right after r's rewrite.
  const req = n.lanB.find((f) => f.ip?.icmpType === ICMP_ECHO)!;
  const opts = optionsOf(req);
  t.deepEqual([...opts.subarray(0, 7)], [7, 39, 8, 198, 51, 100, 1]);
  t.is(inCksum(req.frame, 14, 20 + opts.length), 0);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});

test('ping -g: refused while net.inet.ip.allowsrcrt is 0 (prohibited), failed while forwsrcrt is 0, through with both', async (t) => {
  const n = await topology();
  const g = ['-g', '192.0.2.1', '-c', '1', '-w', '1', '198.51.100.2'];
  t.is(await n.r.sys.sysctl('net.inet.ip.allowsrcrt'), 0);
  t.is(await n.r.sys.sysctl('net.inet.ip.forwsrcrt'), 0);
  let r = await tool(n, n.h1, ['-v', ...g]);
  t.is(r.status, 2);
  t.regex(r.out, /from 192\.0\.2\.1: Net prohibited access\n/);
  const errs = (): SeenFrame[] => n.lanA.filter((f) => f.ip?.icmpType === ICMP_UNREACH);
  t.is(errs().at(-1)!.ip!.icmpCode, ICMP_UNREACH_NET_PROHIB);
  t.is(ipstat(n.r).badoptions, 1);

  await n.r.sys.sysctlSet('net.inet.ip.allowsrcrt', 1);
  r = await tool(n, n.h1, ['-v', ...g]);
  t.is(r.status, 2);
  t.is(errs().at(-1)!.ip!.icmpCode, ICMP_UNREACH_SRCFAIL);
  t.deepEqual(n.lanB.filter((f) => f.ip?.icmpType === ICMP_ECHO), [], 'nothing forwarded');

  await n.r.sys.sysctlSet('net.inet.ip.forwsrcrt', 1);
  r = await tool(n, n.h1, g);
  t.is(r.status, 2, 'h2 itself refuses a source-routed datagram while its allowsrcrt is 0, as NetBSD does');
  t.is(ipstat(n.h2).badoptions, 1);
  await n.h2.sys.sysctlSet('net.inet.ip.allowsrcrt', 1);
  r = await tool(n, n.h1, g);
  t.is(r.status, 0, r.out);
  // The request on lanB: to h2 now, r's outgoing address in the slot, the pointer past it.
  const req = n.lanB.filter((f) => f.ip?.icmpType === ICMP_ECHO).at(-1)!;
  t.like(req.ip, { src: '192.0.2.2', dst: '198.51.100.2' });
  t.deepEqual([...optionsOf(req).subarray(0, 7)], [131, 7, 8, 198, 51, 100, 1]);
  t.is(inCksum(req.frame, 14, 20 + optionsOf(req).length), 0);
  t.deepEqual(await haltAll(n.ks), { mbufsInUse: [0, 0, 0], callouts: [0, 0, 0] });
});
