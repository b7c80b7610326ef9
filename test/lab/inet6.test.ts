/*
 * IPv6 in the lab (lab/inet6.ts): hosts booted with net_netinet6 get
 * fd00:0:0:N::/64 addresses beside their IPv4 ones and IPv6 routes through
 * the routers, which forward IPv6; a TCP connection over IPv6 crosses a
 * router, and the capture shows it: a's frames leave with hop limit 64 and
 * reach b with 63.
 *
 *     a eth0 ── a-r ── eth0 r eth1 ── r-b ── eth0 b
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAB_COMPONENTS, type Lab, type LabHost } from '../../lab/index.js';
import { withLab } from '../../lab/ava.js';
import { inet6 } from '../../net/inet6/inet6.js';
import type { RouteInfo } from '../../net/ioctl.js';
import { formatIn6Addr } from '../../net/wire/in6addr.js';

const COMPONENTS = [...LAB_COMPONENTS, 'net_netinet6'];

function threeHosts(lab: Lab): { a: LabHost; r: LabHost; b: LabHost } {
  const a = lab.host('a', { components: COMPONENTS });
  const r = lab.router('r', { components: COMPONENTS });
  const b = lab.host('b', { components: COMPONENTS });
  lab.link(a, r);
  lab.link(r, b);
  return { a, r, b };
}

interface Frame {
  /** The interface block's name, "host/ifname". */
  where: string;
  inbound: boolean;
  data: Uint8Array;
}

/** The interface names and the enhanced packet blocks of a pcapng. */
function frames(b: Uint8Array): Frame[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const names: string[] = [];
  const out: Frame[] = [];
  for (let at = 0; at < b.length;) {
    const type = v.getUint32(at, true);
    const len = v.getUint32(at + 4, true);
    if (type === 1) {
      // IDB: options after 8 bytes of fixed fields; if_name (2) first.
      let o = at + 16;
      let name = '?';
      while (o + 4 <= at + len - 4) {
        const code = v.getUint16(o, true);
        const olen = v.getUint16(o + 2, true);
        if (code === 0) break;
        if (code === 2) name = new TextDecoder().decode(b.subarray(o + 4, o + 4 + olen));
        o += 4 + ((olen + 3) & ~3);
      }
      names.push(name);
    } else if (type === 6) {
      const id = v.getUint32(at + 8, true);
      const caplen = v.getUint32(at + 20, true);
      const data = b.subarray(at + 28, at + 28 + caplen);
      // epb_flags (2): direction in the low two bits (1 inbound, 2 outbound).
      let o = at + 28 + ((caplen + 3) & ~3);
      let inbound = false;
      while (o + 4 <= at + len - 4) {
        const code = v.getUint16(o, true);
        const olen = v.getUint16(o + 2, true);
        if (code === 0) break;
        if (code === 2) inbound = (v.getUint32(o + 4, true) & 3) === 1;
        o += 4 + ((olen + 3) & ~3);
      }
      out.push({ where: names[id] ?? '?', inbound, data });
    }
    at += len;
  }
  return out;
}

test('IPv6 addresses and routes beside IPv4; a TCP connection over IPv6 through the router; the pcapng shows hop limits 64 then 63', withLab(async (t, lab) => {
  const { a, r, b } = threeHosts(lab);
  t.is(a.address6, 'fd00:0:0:1::1');
  t.is(b.address6, 'fd00:0:0:2::2');
  t.is(r.kernel.sysctl.get('net.inet6.ip6.forwarding'), 1, 'a router forwards IPv6');
  t.is(a.kernel.sysctl.get('net.inet6.ip6.forwarding'), 0);
  const routes = (await a.sys.ext('rt6dump')) as RouteInfo[];
  t.truthy(routes.find((x) => x.dst === 'default' && x.gateway === 'fd00:0:0:1::2'), 'a: default via r');
  const rRoutes = (await r.sys.ext('rt6dump')) as RouteInfo[];
  t.truthy(rRoutes.find((x) => x.dst === 'fd00:0:0:2::' && x.prefixLen === 64 && x.ifname === 'eth1'), 'r: connected to b\'s link');

  const server = b.net.createServer((s) => s.on('data', (d: Buffer) => s.end(`echo ${d.toString()} from ${s.remoteAddress}`)));
  server.listen(7000);
  const reply = await lab.runUntil(new Promise<string>((resolve, reject) => {
    const c = a.net.connect({ host: b.address6, port: 7000 }, () => c.write('hi'));
    let got = '';
    c.on('data', (d: Buffer) => (got += d.toString()));
    c.on('end', () => resolve(got));
    c.on('error', reject);
  }));
  t.is(reply, 'echo hi from fd00:0:0:1::1');
  t.true(inet6(r.kernel).ip6stat.forward >= 6, 'the router forwarded the connection');
  server.close();
  await lab.run(100); // the last segments still in flight

  // The capture: TCP over IPv6 (next header 6) from a to b, on both links.
  const tcp6 = (f: Frame): boolean => f.data[12] === 0x86 && f.data[13] === 0xdd && f.data[14 + 6] === 6 &&
    formatIn6Addr(f.data, 14 + 8) === 'fd00:0:0:1::1' && formatIn6Addr(f.data, 14 + 24) === 'fd00:0:0:2::2';
  const all = frames(lab.pcapng());
  const left = all.filter((f) => f.where === 'a/eth0' && !f.inbound && tcp6(f));
  const arrived = all.filter((f) => f.where === 'b/eth0' && f.inbound && tcp6(f));
  t.true(left.length >= 3, 'SYN, ACK, data, FIN at least');
  t.is(arrived.length, left.length, 'everything a sent reached b');
  t.true(left.every((f) => f.data[14 + 7] === 64), 'hop limit 64 leaving a');
  t.true(arrived.every((f) => f.data[14 + 7] === 63), 'hop limit 63 after the router');
  // The first segment is a SYN (flags at TCP byte 13).
  t.is(left[0]!.data[14 + 40 + 13]! & 0x02, 0x02);
}));

test('hop limit 1 through the lab router: ICMPv6 time exceeded back to the sender', withLab(async (t, lab) => {
  const { a, b } = threeHosts(lab);
  const cli = a.dgram.createSocket('udp6');
  cli.bind(0, () => {
    cli.setTTL(1);
    cli.send(Buffer.alloc(4), 9, b.address6);
  });
  await lab.run(100);
  t.is(inet6(a.kernel).icmp6stat.inhist[3], 1, 'a got a time exceeded');
  cli.close();
}));

const tshark = spawnSync('sh', ['-c', 'command -v tshark']).status === 0;
if (!tshark) console.log('test/lab/inet6: tshark is not installed, so the test that opens the IPv6 capture with it is skipped');
(tshark ? test : test.skip)('tshark reads the IPv6 capture: the TCP handshake over IPv6 with hop limits 64 and 63', withLab(async (t, lab) => {
  const { a, b } = threeHosts(lab);
  const server = b.net.createServer((s) => s.end());
  server.listen(7001);
  await lab.runUntil(new Promise<void>((resolve, reject) => {
    const c = a.net.connect({ host: b.address6, port: 7001 });
    c.on('close', () => resolve());
    c.on('error', reject);
    c.resume();
  }));
  server.close();
  const dir = mkdtempSync(join(tmpdir(), 'lab6-'));
  try {
    const file = join(dir, 'lab6.pcapng');
    writeFileSync(file, lab.pcapng());
    const r = spawnSync('tshark', ['-r', file, '-Y', 'tcp.flags.syn == 1 && tcp.flags.ack == 0', '-T', 'fields',
      '-e', 'frame.interface_name', '-e', 'ipv6.src', '-e', 'ipv6.dst', '-e', 'ipv6.hlim'], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    t.deepEqual(rows.find((x) => x[0] === 'a/eth0'), ['a/eth0', 'fd00:0:0:1::1', 'fd00:0:0:2::2', '64']);
    t.deepEqual(rows.find((x) => x[0] === 'b/eth0'), ['b/eth0', 'fd00:0:0:1::1', 'fd00:0:0:2::2', '63']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}));
