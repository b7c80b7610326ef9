/*
 * rump.route, rump.netstat -rn and -s on lab kernels with routers between
 * them, routes given by hand as one would on NetBSD:
 *
 *   a 10.0.1.1 ── r ── 10.0.2.2 b      (r: 10.0.1.2, 10.0.2.1)
 */
import test from 'ava';
import { createLab, type Lab, type LabHost } from '../../lab/index.js';
import { main as route } from '../../bin/rump.route.js';
import { main as netstat } from '../../bin/rump.netstat.js';
import { main as traceroute } from '../../bin/rump.traceroute.js';
import type { ToolMain } from '../../bin/common.js';
import { run } from './helpers.js';
import { AF_INET, MSG_DONTWAIT, SOCK_RAW } from '../../kern/sys.js';
import { ICMP_REDIRECT, ICMP_REDIRECT_HOST, icmpCode, icmpGateway, icmpType } from '../../net/wire/icmp.js';
import { IPPROTO_ICMP } from '../../net/wire/ipv4.js';
import { formatInAddr } from '../../net/wire/inaddr.js';
import { reaches } from '../helpers/lab.js';

function tool(lab: Lab, main: ToolMain, h: LabHost, argv: string[]): Promise<{ status: number; out: string; err: string }> {
  return lab.runUntil(run(main, argv, h.sys, { clock: lab.clock }));
}

test('routes by hand through a router: route add, get, show and netstat -rn show the gateway; traffic flows', async (t) => {
  const lab = createLab({ seed: 8, routes: 'none' });
  const a = lab.host('a');
  const r = lab.router('r');
  const b = lab.host('b');
  lab.link(a, r);
  lab.link(r, b);
  t.false(await reaches(lab, a, b, 2000), 'no route yet');

  let x = await tool(lab, route, a, ['add', '-net', '10.0.2.0/24', '10.0.1.2']);
  t.deepEqual(x, { status: 0, out: 'add net 10.0.2.0: gateway 10.0.1.2\n', err: '' });
  x = await tool(lab, route, b, ['add', 'default', '10.0.2.1']);
  t.deepEqual(x, { status: 0, out: 'add net default: gateway 10.0.2.1\n', err: '' });
  t.true(await reaches(lab, a, b, 2000));
  t.true(await reaches(lab, b, a, 2000));

  x = await tool(lab, route, a, ['-n', 'get', '10.0.2.2']);
  t.is(x.status, 0);
  t.regex(x.out, /^   route to: 10\.0\.2\.2\ndestination: 10\.0\.2\.0\n       mask: 255\.255\.255\.0\n    gateway: 10\.0\.1\.2\n local addr: 10\.0\.1\.1\n  interface: eth0\n      flags: 0x843<UP,GATEWAY,DONE,STATIC>\n/);
  x = await tool(lab, route, a, ['-ns', 'get', '10.0.2.2']);
  t.is(x.out, '10.0.1.2\n', 'route -s get prints the gateway alone');
  x = await tool(lab, route, a, ['-n', 'show']);
  t.regex(x.out, /\n10\.0\.2\/24 +10\.0\.1\.2 +UG +- +- +- +eth0\n/);
  x = await tool(lab, netstat, a, ['-rn']);
  t.regex(x.out, /\n10\.0\.2\/24 +10\.0\.1\.2 +UGS +- +- +- +eth0\n/);
  x = await tool(lab, netstat, b, ['-rn']);
  t.regex(x.out, /\ndefault +10\.0\.2\.1 +UGS +- +- +- +eth0\n/);

  // An address with no route at r: host unreachable back to a, counted at r.
  await tool(lab, route, a, ['add', '-net', '10.9.0.0/16', '10.0.1.2']);
  const tr = await tool(lab, traceroute, a, ['-n', '-q', '1', '10.0.2.2']);
  t.is(tr.out, ' 1  10.0.1.2  0.000 ms\n 2  10.0.2.2  0.000 ms\n');
  t.false(await reaches(lab, a, { address: '10.9.0.1', dgram: b.dgram } as LabHost));

  // r's counters as NetBSD's netstat -s words them.
  x = await tool(lab, netstat, r, ['-s', '-p', 'ip']);
  // Two datagrams, traceroute's TTL-2 probe, and the answers to them.
  t.regex(x.out, /\n\t4 packets forwarded \(0 packets fast forwarded\)\n/);
  t.regex(x.out, /\n\t1 packet not forwardable\n/);
  t.regex(x.out, /\n\t1 output packet discarded due to no route\n/);
  t.regex(x.out, /\n\t0 redirects sent\n/);
  x = await tool(lab, netstat, r, ['-s', '-p', 'icmp']);
  t.regex(x.out, /\tOutput histogram:\n(\t\t.*\n)*\t\tdestination unreachable: 1\n(\t\t.*\n)*\t\ttime exceeded: 1\n/);
  await lab.halt();
});

test('a router forwarding out the interface a datagram came in on sends a host redirect; netstat -s counts it; net.inet.ip.redirect=0 stops it', async (t) => {
  //   a ── lan ── r1, r2 ── b     (a's default is r1; r1 knows b's network is through r2, on the same lan)
  const lab = createLab({ seed: 10, routes: 'none' });
  const a = lab.host('a');
  const r1 = lab.router('r1');
  const r2 = lab.router('r2');
  const b = lab.host('b');
  lab.bus('lan', [a, r1, r2]); // 10.0.1.0/24: a .1, r1 .2, r2 .3
  lab.link(r2, b); // 10.0.2.0/24: r2 .1, b .2
  await tool(lab, route, a, ['add', 'default', '10.0.1.2']);
  await tool(lab, route, r1, ['add', '-net', '10.0.2.0/24', '10.0.1.3']);
  await tool(lab, route, b, ['add', 'default', '10.0.2.1']);
  const icmpIn = async (): Promise<string> => (await tool(lab, netstat, a, ['-s', '-p', 'icmp'])).out;
  const raw = await a.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  t.true(await reaches(lab, a, b, 2000), 'the datagram is forwarded all the same');
  // What a received names r2 as the better first hop (RFC 792: the gateway in the ICMP header).
  const got = await a.sys.recvfrom(raw, 512, MSG_DONTWAIT);
  await a.sys.close(raw);
  t.is(got.from?.addr, '10.0.1.2', 'from r1');
  t.deepEqual([icmpType(got.data, 20), icmpCode(got.data, 20)], [ICMP_REDIRECT, ICMP_REDIRECT_HOST]);
  t.is(formatInAddr(icmpGateway(got.data, 20)), '10.0.1.3');
  let x = await tool(lab, netstat, r1, ['-s', '-p', 'ip']);
  t.regex(x.out, /\n\t1 redirect sent\n/);
  t.regex(await icmpIn(), /\tInput histogram:\n(\t\t.*\n)*\t\trouting redirect: 1\n/);
  await tool(lab, (await import('../../bin/rump.sysctl.js')).main, r1, ['-w', 'net.inet.ip.redirect=0']);
  t.true(await reaches(lab, a, b, 2000));
  x = await tool(lab, netstat, r1, ['-s', '-p', 'ip']);
  t.regex(x.out, /\n\t1 redirect sent\n/, 'no more with net.inet.ip.redirect=0');
  await lab.halt();
});
