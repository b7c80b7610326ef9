/*
 * IPv6 in kernel.net and kernel.dgram. The same scenario runs on node:net /
 * node:dgram over the host's loopback (Linux: dual-stack by default) and on
 * a kernel with net_netinet6 over lo0, and must give the same lines:
 * listen() without a host is `::` and takes IPv4 as ::ffff:127.0.0.1,
 * address()/remoteFamily/localFamily/rinfo.family say 'IPv6', connect('::1')
 * and connect('::ffff:127.0.0.1') work, ipv6Only keeps IPv4 out.
 * Without net_netinet6 listen() falls back to 0.0.0.0, as Node does when the
 * host has no IPv6.
 */
import test from 'ava';
import hostNet from 'node:net';
import hostDgram from 'node:dgram';
import { rumpInit } from '../../index.js';
import { once } from './helpers.js';

const NET6 = ['net', 'net_net', 'net_netinet', 'net_netinet6'];

/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyNet = any;
type AnyDgram = any;

/** One connection to `host`, traced from both ends once both have closed. */
async function dial(n: AnyNet, server: AnyNet, lines: string[], what: string, opts: Record<string, unknown>): Promise<void> {
  const accepted = once<AnyNet>(server, 'connection');
  const c = n.connect(opts);
  const err = await new Promise<Error | null>((resolve) => {
    c.once('connect', () => resolve(null));
    c.once('error', resolve);
  });
  if (err !== null) {
    lines.push(`${what}: error ${(err as Error & { code?: string }).code}`);
    return;
  }
  lines.push(`${what}: client remote ${c.remoteAddress} ${c.remoteFamily} local ${c.localAddress} ${c.address().family}`);
  const s = await accepted;
  lines.push(`${what}: server remote ${s.remoteAddress} ${s.remoteFamily} local ${s.localAddress} ${s.address().family}`);
  const closed = once(c, 'close');
  s.end();
  c.end();
  await closed;
}

async function netScenario(n: AnyNet): Promise<string[]> {
  const lines: string[] = [];
  const server = n.createServer();
  server.listen(0);
  await once(server, 'listening');
  const a = server.address();
  lines.push(`listen(0): ${a.address} ${a.family}`);
  const port = a.port;
  await dial(n, server, lines, '127.0.0.1', { port, host: '127.0.0.1' });
  await dial(n, server, lines, '::1', { port, host: '::1' });
  await dial(n, server, lines, '::ffff:127.0.0.1', { port, host: '::ffff:127.0.0.1' });
  await dial(n, server, lines, 'family 6', { port, host: '::1', family: 6 });
  server.close();
  await once(server, 'close');

  const only6 = n.createServer();
  only6.listen({ port: 0, host: '::', ipv6Only: true });
  await once(only6, 'listening');
  const p6 = only6.address().port;
  lines.push(`ipv6Only: ${only6.address().address} ${only6.address().family}`);
  await dial(n, only6, lines, 'ipv6Only 127.0.0.1', { port: p6, host: '127.0.0.1' });
  await dial(n, only6, lines, 'ipv6Only ::1', { port: p6, host: '::1' });
  only6.close();
  await once(only6, 'close');

  const on6 = n.createServer();
  on6.listen(0, '::1');
  await once(on6, 'listening');
  lines.push(`listen(0, '::1'): ${on6.address().address} ${on6.address().family}`);
  on6.close();
  await once(on6, 'close');
  return lines;
}

function message(s: AnyDgram): Promise<{ text: string; address: string; family: string }> {
  return new Promise((resolve) => s.once('message', (m: Buffer, r: { address: string; family: string }) => resolve({ text: m.toString(), ...r })));
}

async function dgramScenario(dg: AnyDgram): Promise<string[]> {
  const lines: string[] = [];
  const s6 = dg.createSocket('udp6');
  s6.bind(0);
  await once(s6, 'listening');
  const a = s6.address();
  lines.push(`udp6 bind(0): ${a.address} ${a.family}`);
  const from4 = dg.createSocket('udp4');
  let got = message(s6);
  from4.send('four', a.port, '127.0.0.1');
  const r4 = await got;
  lines.push(`from udp4: ${r4.text} ${r4.address} ${r4.family}`);
  const from6 = dg.createSocket('udp6');
  got = message(s6);
  from6.send('six', a.port, '::1');
  const r6 = await got;
  lines.push(`from udp6: ${r6.text} ${r6.address} ${r6.family}`);
  // An answer to the v4-mapped sender reaches the udp4 socket.
  got = message(from4);
  s6.send('back', from4.address().port, r4.address);
  const rb = await got;
  lines.push(`reply at udp4: ${rb.text} ${rb.address} ${rb.family}`);
  for (const s of [s6, from4, from6]) s.close();
  return lines;
}

test('kernel.net with net_netinet6 gives the lines node:net gives on the host: dual-stack listen, IPv6 peers, ipv6Only', async (t) => {
  const host = await netScenario(hostNet);
  t.log(host.join('\n'));
  const k = await rumpInit({ components: NET6 });
  try {
    t.deepEqual(await netScenario(k.net), host);
  } finally {
    await k.halt();
  }
});

test('kernel.dgram udp6 gives the lines node:dgram gives on the host: v4-mapped senders, rinfo.family', async (t) => {
  const host = await dgramScenario(hostDgram);
  t.log(host.join('\n'));
  const k = await rumpInit({ components: NET6 });
  try {
    t.deepEqual(await dgramScenario(k.dgram), host);
  } finally {
    await k.halt();
  }
});

test('without net_netinet6 listen() without a host falls back to 0.0.0.0; with it the kernel shows :: dual-stack', async (t) => {
  const k4 = await rumpInit({ components: ['net', 'net_net', 'net_netinet'] });
  const s4 = k4.net.createServer().listen(0);
  await once(s4, 'listening');
  t.like(s4.address(), { address: '0.0.0.0', family: 'IPv4' });
  s4.close();
  await k4.halt();

  const k6 = await rumpInit({ components: NET6 });
  const s6 = k6.net.createServer().listen(0);
  await once(s6, 'listening');
  t.like(s6.address(), { address: '::', family: 'IPv6' });
  // The kernel's own view: an AF_INET6 socket on :: with IPV6_V6ONLY off.
  const rows = await k6.sys.ext('pcblist');
  t.true(rows.some((r) => r.proto === 'tcp6' && r.laddr === '::' && r.lport === (s6.address() as { port: number }).port));
  s6.close();
  // A udp6 socket with ipv6Only refuses to send to an IPv4 (v4-mapped) peer.
  const u = k6.dgram.createSocket({ type: 'udp6', ipv6Only: true });
  u.bind(0);
  await once(u, 'listening');
  const err = await new Promise<Error | null>((resolve) => u.send('x', 9, '::ffff:127.0.0.1', resolve));
  t.like(err, { code: 'EINVAL' });
  u.close();
  await k6.halt();
});
