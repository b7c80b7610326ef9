/*
 * rump.traceroute against lab kernels on virtual time:
 *
 *   a ── r1 ── r2 ── b        (10.0.1/24, 10.0.2/24, 10.0.3/24)
 *
 * Each router answers the probe whose TTL runs out with ICMP time exceeded;
 * b answers with port unreachable (UDP) or an echo reply (-I).
 */
import test from 'ava';
import { createLab, type Lab, type LabHost } from '../../lab/index.js';
import { main } from '../../bin/rump.traceroute.js';
import { inet } from '../../net/inet/inet.js';
import { run } from './helpers.js';

function chain(lab: Lab, delay = 5): { a: LabHost; r1: LabHost; r2: LabHost; b: LabHost } {
  const a = lab.host('a');
  const r1 = lab.router('r1');
  const r2 = lab.router('r2');
  const b = lab.host('b');
  lab.link(a, r1, { delay });
  lab.link(r1, r2, { delay });
  lab.link(r2, b, { delay });
  return { a, r1, r2, b };
}

async function traceroute(lab: Lab, from: LabHost, argv: string[]): Promise<{ status: number; out: string; err: string }> {
  return lab.runUntil(run(main, argv, from.sys, { clock: lab.clock }));
}

test('UDP probes: one line per hop, the routers by address, b last; NetBSD\'s header and columns', async (t) => {
  const lab = createLab({ seed: 3 });
  const { a, r1, r2, b } = chain(lab);
  const r = await traceroute(lab, a, ['-n', 'b']);
  t.is(r.status, 0, r.err);
  t.is(r.err, 'rump.traceroute to b (10.0.3.2), 64 hops max, 40 byte packets\n', 'max_ttl is the kernel\'s net.inet.ip.ttl');
  const lines = r.out.trimEnd().split('\n');
  t.is(lines.length, 3);
  // ARP is resolved once per hop, so the first probe of a hop may take longer; every probe answers.
  t.regex(lines[0]!, /^ 1  10\.0\.1\.2  \d+\.\d{3} ms  \d+\.\d{3} ms  \d+\.\d{3} ms$/);
  t.regex(lines[1]!, /^ 2  10\.0\.2\.2  \d+\.\d{3} ms  \d+\.\d{3} ms  \d+\.\d{3} ms$/);
  t.regex(lines[2]!, /^ 3  10\.0\.3\.2  \d+\.\d{3} ms  \d+\.\d{3} ms  \d+\.\d{3} ms$/);
  // Round trips in virtual time: 2 × 5 ms per link, once ARP is done.
  t.is(lines[2]!.split('  ').at(-1), '30.000 ms');
  t.is(lines[0]!.split('  ').at(-1), '10.000 ms');
  t.is(inet(r1.kernel).icmpstat.outhist[11], 3, 'r1 sent a time exceeded per TTL-1 probe');
  t.is(inet(r2.kernel).icmpstat.outhist[11], 3);
  t.is(inet(b.kernel).icmpstat.outhist[3], 3, 'b answered every TTL-3 probe with port unreachable');
  t.is(inet(r1.kernel).ipstat.forward, 12, 'r1 forwarded the TTL-2 and TTL-3 probes and the answers to them');
  await lab.halt();
});

test('names from the kernel\'s hosts table without -n; -q, -m and -I', async (t) => {
  const lab = createLab({ seed: 4 });
  const { a } = chain(lab, 1);
  await traceroute(lab, a, ['-n', 'b']); // ARP on every link, so that the times below are round trips alone
  let r = await traceroute(lab, a, ['-q', '1', 'b']);
  t.is(r.out, ' 1  r1 (10.0.1.2)  2.000 ms\n 2  r2 (10.0.2.2)  4.000 ms\n 3  b (10.0.3.2)  6.000 ms\n');
  r = await traceroute(lab, a, ['-n', '-m', '2', '-q', '2', '10.0.3.2']);
  t.is(r.err, 'rump.traceroute to 10.0.3.2 (10.0.3.2), 2 hops max, 40 byte packets\n');
  t.is(r.out, ' 1  10.0.1.2  2.000 ms  2.000 ms\n 2  10.0.2.2  4.000 ms  4.000 ms\n', 'stops at max_ttl');
  r = await traceroute(lab, a, ['-n', '-I', '-q', '1', 'b']);
  t.is(r.err, 'rump.traceroute to b (10.0.3.2), 64 hops max, 40 byte packets\n');
  t.is(r.out, ' 1  10.0.1.2  2.000 ms\n 2  10.0.2.2  4.000 ms\n 3  10.0.3.2  6.000 ms\n', 'ICMP echo probes: b answers with an echo reply');
  r = await traceroute(lab, a, ['-v', '-n', '-q', '1', '-m', '1', 'b']);
  t.is(r.out, ' 1  10.0.1.2 36 bytes to 10.0.1.1  2.000 ms\n', '-v: the ICMP message\'s size (8 + the quoted 20 + 8) and to whom');
  r = await traceroute(lab, a, ['-n', '-q', '1', 'b', '100']);
  t.regex(r.err, /, 100 byte packets\n$/);
  t.is(r.out.split('\n').length - 1, 3);
  await lab.halt();
});

test('a hop that does not answer is *, after -w seconds each; a host with no route is !H', async (t) => {
  const lab = createLab({ seed: 5 });
  const { a, r1, r2 } = chain(lab, 1);
  await traceroute(lab, a, ['-n', 'b']);
  // What r2 sends to r1 is lost: its time exceeded never arrives, nor b's answers behind it.
  const r1r2 = lab.segments[1]!;
  r1r2.set({ loss: 1 }, r2);
  const t0 = lab.now();
  let r = await traceroute(lab, a, ['-n', '-q', '2', '-w', '2', '-m', '3', 'b']);
  t.is(r.out, ' 1  10.0.1.2  2.000 ms  2.000 ms\n 2  * *\n 3  * *\n');
  t.true(lab.now() - t0 >= 4 * 2000, 'each silent probe waited -w 2 seconds');
  r1r2.clear(r2);
  // r1 loses its route to 10.0.3/24: it answers host unreachable, and traceroute stops there.
  await r1.sys.ext('rtmsg', { type: 'delete', dst: '10.0.3.0', prefixLen: 24 });
  r = await traceroute(lab, a, ['-n', '-q', '3', 'b']);
  // TTL 1 dies at r1 before its route lookup (RFC 1812 §5.3.1); TTL 2 finds no route there.
  t.is(r.out, ' 1  10.0.1.2  2.000 ms  2.000 ms  2.000 ms\n 2  10.0.1.2  2.000 ms !H  2.000 ms !H  2.000 ms !H\n');
  await lab.halt();
});

test('bad arguments: the usage line or NetBSD\'s message, exit 1', async (t) => {
  const lab = createLab({ seed: 6 });
  const { a } = chain(lab);
  const cases: Array<[string[], RegExp]> = [
    [[], /^Usage: rump\.traceroute \[-dIlnrvx\]/],
    [['-Z', 'b'], /^Usage: rump\.traceroute/],
    [['b', '40', 'extra'], /^Usage: rump\.traceroute/],
    [['-m'], /^Usage: rump\.traceroute/],
    [['-m', '0', 'b'], /^rump\.traceroute: max ttl must be > 0\n$/],
    [['-m', '256', 'b'], /^rump\.traceroute: max ttl must be <= 255\n$/],
    [['-q', 'x', 'b'], /^rump\.traceroute: "x" bad value for nprobes\n$/],
    [['-w', '1', 'b'], /^rump\.traceroute: wait time must be > 1\n$/],
    [['-f', '9', '-m', '3', 'b'], /^rump\.traceroute: first ttl \(9\) may not be greater than max ttl \(3\)\n$/],
    [['b', '39'], /^rump\.traceroute: packet length must be > 39\n$/],
    [['nosuchhost'], /^rump\.traceroute: unknown host nosuchhost\n$/],
    [['-g', '10.0.1.2', 'b'], /^rump\.traceroute: -g is not supported\n$/],
  ];
  for (const [argv, err] of cases) {
    const r = await traceroute(lab, a, argv);
    t.is(r.status, 1, argv.join(' '));
    t.regex(r.err, err, argv.join(' '));
    t.is(r.out, '');
  }
  t.deepEqual(a.sys.openFds(), [], 'no socket left open');
  await lab.halt();
});
