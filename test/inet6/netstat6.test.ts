/*
 * The NetBSD tools over a live IPv6 kernel: rump.netstat -an lists a TCP
 * connection over IPv6 as tcp6 ESTABLISHED and a bound UDP socket as udp6
 * in the Internet6 section (addresses in RFC 5952 text), the kernel's
 * pcblist says each entry's family, netstat -rn -f inet6 shows the
 * connected prefix, and rump.ndp -an the neighbor that was resolved.
 *
 *     kernel A  link0 2001:db8::1/64 ═══ point-to-point ═══ link0 2001:db8::2/64  kernel B
 */
import test from 'ava';
import { AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM, type Sockaddr } from '../../kern/sys.js';
import { main as netstat } from '../../bin/rump.netstat.js';
import { main as ndp } from '../../bin/rump.ndp.js';
import { connectKernels } from '../helpers/link.js';
import { haltAll, type Kernels } from '../helpers/kernels.js';
import type { Kernel } from '../../kern/kernel.js';
import { run } from '../bin/helpers.js';
import { bootKernels6, dadDone, ifconfig6 } from './helpers.js';

const A = '2001:db8::1';
const B = '2001:db8::2';
const sin6 = (addr: string, port: number): Sockaddr => ({ family: AF_INET6, addr, port });

async function until<T>(ks: Kernels, p: Promise<T>, maxMs = 60_000): Promise<T> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await ks.sim.runUntil(() => done, maxMs);
  return p;
}

test('netstat -an shows a TCP6 connection as tcp6 ESTABLISHED, ndp -an the neighbor, netstat -rn the prefix', async (t) => {
  const ks = bootKernels6(2);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const link = connectKernels(ks.sim, a, b);
  ifconfig6(a, link.a.name, `${A}/64`);
  ifconfig6(b, link.b.name, `${B}/64`);
  await dadDone(ks);

  const lfd = await b.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await b.sys.bind(lfd, sin6('::', 8080));
  await b.sys.listen(lfd, 4);
  const ufd = await a.sys.socket(AF_INET6, SOCK_DGRAM, 0);
  await a.sys.bind(ufd, sin6('::', 5353));
  const cfd = await a.sys.socket(AF_INET6, SOCK_STREAM, 0);
  await until(ks, a.sys.connect(cfd, sin6(B, 8080)));
  const { fd: sfd } = await until(ks, b.sys.accept(lfd));
  const port = ((await a.sys.getsockname(cfd)) as { port: number }).port;

  // The kernel's list: each entry says its family, IPv6 addresses as text.
  const pcbs = await a.sys.ext('pcblist');
  t.like(pcbs.find((p) => p.proto === 'tcp6'), { family: AF_INET6, laddr: A });
  t.like(pcbs.find((p) => p.proto === 'udp6'), { family: AF_INET6, laddr: '::' });
  t.false(pcbs.some((p) => p.family !== AF_INET6 && p.family !== AF_INET));

  const onA = await run(netstat, ['-an'], a.sys);
  t.is(onA.status, 0);
  t.is(onA.err, '');
  const six = onA.out.slice(onA.out.indexOf('Active Internet6 connections (including servers)\n'));
  t.true(onA.out.startsWith('Active Internet connections (including servers)\n'), 'IPv4 first');
  t.true(six.includes(`tcp6       0      0  ${`${A}.${port}`.padEnd(22)} ${`${B}.8080`.padEnd(22)} ESTABLISHED\n`), onA.out);
  t.true(six.includes(`udp6       0      0  ${'*.5353'.padEnd(22)} ${'*.*'.padEnd(22)}\n`), onA.out);
  const onB = await run(netstat, ['-an', '-f', 'inet6'], b.sys);
  t.true(onB.out.startsWith('Active Internet6 connections (including servers)\n'));
  t.true(onB.out.includes(`tcp6       0      0  ${'*.8080'.padEnd(22)} ${'*.*'.padEnd(22)} LISTEN\n`), onB.out);
  t.true(onB.out.includes(`tcp6       0      0  ${`${B}.8080`.padEnd(22)} ${`${A}.${port}`.padEnd(22)} ESTABLISHED\n`), onB.out);

  const routes = await run(netstat, ['-rn', '-f', 'inet6'], a.sys);
  t.is(routes.status, 0);
  t.true(routes.out.startsWith('Routing tables\n\nInternet6:\nDestination '), routes.out);
  t.regex(routes.out, new RegExp(`^2001:db8::/64 +link#\\d+ +U\\S* .* ${link.a.name}$`, 'm'));

  const neighbors = await run(ndp, ['-an'], a.sys);
  t.is(neighbors.status, 0);
  t.regex(neighbors.out, new RegExp(`^2001:db8::2 +[0-9a-f:]{17} +${link.a.name} \\S+ +[RSDP] `, 'm'), neighbors.out);

  for (const [k, fd] of [[a, cfd], [a, ufd], [b, sfd], [b, lfd]] as const) await k.sys.close(fd);
  await ks.sim.run(5 * 60_000);
  t.deepEqual(await haltAll(ks), { mbufsInUse: [0, 0], callouts: [0, 0] });
});
