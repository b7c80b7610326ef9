/*
 * Path MTU discovery for IPv4 (RFC 1191) as NetBSD's t_mtudisc.sh checks it,
 * on the simulated clock: a gateway whose far side has MTU 1280, a remote
 * host that takes no fragments (net.inet.ip.maxfragpackets=0).
 *
 *   local                     gateway (forwarding)                 remote
 *   hub0 10.0.0.2 ══ bus1 ══ hub0 10.0.0.1   hub1 10.0.1.1 ══ bus2 ══ hub0 10.0.1.2
 *   (mtu 1500)               (mtu 1500)     (mtu 1280)               (mtu 1500)
 *   route 10.0.1.2/32 → 10.0.0.1                                     route 10.0.0.2/32 → 10.0.1.1
 *
 * With net.inet.ip.mtudisc=0 the local host's 1500-byte segments go
 * without DF, the gateway fragments them and the remote drops the
 * fragments: the data never arrives. With it on (the default) they carry
 * DF, the gateway answers "fragmentation needed" with 1280, the route to
 * the remote takes MTU 1280 (netstat -rn's Mtu column), TCP resends in
 * smaller segments and everything arrives. A destination reached through
 * a network route gets a host route of its own (UGHD) that goes after
 * net.inet.ip.mtudisctimeout seconds.
 */
import test from 'ava';
import { main as ifconfigMain } from '../../bin/rump.ifconfig.js';
import { main as netstat } from '../../bin/rump.netstat.js';
import { main as sysctlMain } from '../../bin/rump.sysctl.js';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, SOCK_STREAM } from '../../kern/sys.js';
import { inet } from '../../net/inet/inet.js';
import { run } from '../bin/helpers.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { bootKernels, icmpMessage, ifconfig, ipPacket, route, type Kernels } from '../helpers/kernels.js';
import { KERNEL_ADDR, PEER_ADDR } from '../tcp/harness.js';
import { inState } from '../tcp/states.js';

const DATA = new Uint8Array(5632).map((_, i) => 0x30 + (i % 10)); // t_mtudisc.sh's file: 512 lines of "0123456789"
const PORT = 1234;

interface Net extends Kernels {
  local: Kernel;
  gw: Kernel;
  remote: Kernel;
  /** Frames the local host put on bus1. */
  fromLocal: Uint8Array[];
}

async function net(localRoute: 'host' | 'default'): Promise<Net> {
  const ks = bootKernels(3, 51);
  const [local, gw, remote] = ks.kernels as [Kernel, Kernel, Kernel];
  const bus1 = new Hub('bus1');
  const bus2 = new Hub('bus2');
  const fromLocal: Uint8Array[] = [];
  bus1.tap((f, from) => {
    if (from !== null && from.kernel === local) fromLocal.push(f);
  });
  attachEther(local, bus1);
  attachEther(gw, bus1);
  attachEther(gw, bus2);
  attachEther(remote, bus2);
  ifconfig(local, 'hub0', '10.0.0.2/24');
  ifconfig(gw, 'hub0', '10.0.0.1/24');
  ifconfig(gw, 'hub1', '10.0.1.1/24');
  ifconfig(remote, 'hub0', '10.0.1.2/24');
  const mtu = await run(ifconfigMain, ['hub1', 'mtu', '1280'], gw.sys);
  if (mtu.status !== 0) throw new Error(mtu.err);
  await gw.sys.sysctlSet('net.inet.ip.forwarding', 1);
  await route(remote, { type: 'add', dst: '10.0.0.2', gateway: '10.0.1.1' });
  await remote.sys.sysctlSet('net.inet.ip.maxfragpackets', 0);
  if (localRoute === 'host') await route(local, { type: 'add', dst: '10.0.1.2', gateway: '10.0.0.1' });
  else await route(local, { type: 'add', dst: 'default', gateway: '10.0.0.1' });
  await ks.sim.run(1);
  return { ...ks, local, gw, remote, fromLocal };
}

/** Send DATA from local to remote:PORT and close; what remote read within `ms`. */
async function sendFile(n: Net, ms: number): Promise<number> {
  const { local, remote, sim } = n;
  const lfd = await remote.sys.socket(AF_INET, SOCK_STREAM, 0);
  await remote.sys.bind(lfd, { family: AF_INET, addr: '0.0.0.0', port: PORT });
  await remote.sys.listen(lfd, 1);
  let got = 0;
  const server = (async () => {
    const { fd } = await remote.sys.accept(lfd);
    for (;;) {
      const d = await remote.sys.read(fd, 65536);
      if (d.length === 0) break;
      got += d.length;
    }
    await remote.sys.close(fd);
  })().catch(() => {});
  const fd = await local.sys.socket(AF_INET, SOCK_STREAM, 0);
  const c = local.sys.connect(fd, { family: AF_INET, addr: '10.0.1.2', port: PORT });
  await sim.run(10);
  await c;
  void local.sys.write(fd, DATA).then(() => local.sys.close(fd));
  await sim.run(ms);
  await remote.sys.close(lfd);
  void server;
  return got;
}

/** The local host's route to 10.0.1.2 as netstat -rn -f inet prints it. */
async function routeLine(k: Kernel): Promise<string> {
  const r = await run(netstat, ['-nr', '-f', 'inet'], k.sys);
  return r.out.split('\n').find((l) => l.startsWith('10.0.1.2 ')) ?? r.out;
}

/** Whether the TCP segments with data the local host sent had DF set. */
function dataSegmentsDf(frames: Uint8Array[]): boolean[] {
  return frames.filter((f) => f[23] === 6 && ((f[16]! << 8) | f[17]!) > 40 + 12).map((f) => (f[20]! & 0x40) !== 0);
}

test('net.inet.ip.mtudisc=0: no DF, the gateway fragments, the remote takes no fragments: the data does not arrive; the route has no MTU', async (t) => {
  const n = await net('host');
  t.is((await run(sysctlMain, ['-n', 'net.inet.ip.mtudisc'], n.remote.sys)).out, '1\n', 'NetBSD\'s default');
  t.is((await run(sysctlMain, ['-w', '-q', 'net.inet.ip.mtudisc=0'], n.local.sys)).status, 0);
  const got = await sendFile(n, 3000);
  t.true(got < DATA.length, `${got} of ${DATA.length} bytes arrived`);
  const df = dataSegmentsDf(n.fromLocal);
  t.true(df.length > 0 && df.every((x) => !x), 'no segment had DF');
  t.true(inet(n.gw).ipstat.fragmented > 0, 'the gateway fragmented');
  t.regex(await routeLine(n.local), /^10\.0\.1\.2 +10\.0\.0\.1 +UGHS +- +- +- +hub0$/);
});

test('net.inet.ip.mtudisc=1: DF on TCP segments, "fragmentation needed" puts 1280 on the route, TCP resends smaller, all of it arrives', async (t) => {
  const n = await net('host');
  const got = await sendFile(n, 3000);
  t.is(got, DATA.length);
  const df = dataSegmentsDf(n.fromLocal);
  t.true(df.length > 0 && df.every((x) => x), 'every data segment had DF');
  t.true(inet(n.gw).icmpstat.outhist[3]! > 0, 'the gateway said "fragmentation needed"');
  t.is(inet(n.gw).ipstat.fragmented, 0, 'and fragmented nothing');
  t.regex(await routeLine(n.local), /^10\.0\.1\.2 +10\.0\.0\.1 +UGHS +- +- +1280 +hub0$/);
  t.is(inet(n.local).tcpstat.mturesent, 1);
  // The largest segment after it fits 1280.
  const sizes = n.fromLocal.filter((f) => f[23] === 6).map((f) => (f[16]! << 8) | f[17]!);
  t.true(sizes.includes(1500) && sizes.at(-1)! <= 1280, `IP lengths ${sizes.join(',')}`);
});

test('through a network route: a host route UGHD with the MTU, gone after net.inet.ip.mtudisctimeout; new connections start at its MSS', async (t) => {
  const n = await net('default');
  t.is((await run(sysctlMain, ['-w', 'net.inet.ip.mtudisctimeout=600'], n.local.sys)).out, 'net.inet.ip.mtudisctimeout: 600 -> 600\n');
  t.is((await run(sysctlMain, ['-w', 'net.inet.ip.mtudisctimeout=30'], n.local.sys)).out, 'net.inet.ip.mtudisctimeout: 600 -> 30\n');
  t.is(await sendFile(n, 3000), DATA.length);
  t.regex(await routeLine(n.local), /^10\.0\.1\.2 +10\.0\.0\.1 +UGHD +- +- +1280 +hub0$/);
  // A new connection takes its MSS from the route: no "fragmentation needed" this time.
  const needfrag = inet(n.gw).icmpstat.outhist[3]!;
  n.fromLocal.length = 0;
  t.is(await sendFile(n, 3000), DATA.length);
  t.is(inet(n.gw).icmpstat.outhist[3], needfrag);
  t.true(n.fromLocal.every((f) => f[23] !== 6 || ((f[16]! << 8) | f[17]!) <= 1280));
  await n.sim.run(30_000);
  t.notRegex(await routeLine(n.local), /^10\.0\.1\.2 /, 'the host route went after 30 s');
  t.is(inet(n.local).ns.rt4.lookup(0x0a000102)!.plen, 0, 'the default route is what is left');
});

test('a forged "fragmentation needed" (not quoting a segment in flight), one above the interface\'s MTU, and one below 296 (clamped)', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  await p.k.sys.write(fd, new Uint8Array(3000));
  await p.sim.settle();
  p.drain();
  const needfrag = async (seq: number, mtu: number): Promise<void> => {
    const quoted = ipPacket({ src: KERNEL_ADDR, dst: PEER_ADDR, p: 6, payload: new Uint8Array(8) }).slice(0, 28);
    const dv = new DataView(quoted.buffer);
    dv.setUint16(20, p.kport);
    dv.setUint16(22, p.pport);
    dv.setUint32(24, (p.kiss + seq) >>> 0);
    p.injectIp(ipPacket({ src: PEER_ADDR, dst: KERNEL_ADDR, p: 1, payload: icmpMessage(3, 4, mtu, quoted) }));
    await p.sim.settle();
  };
  const hostRoute = async (): Promise<string | undefined> =>
    // The route, not the neighbour's entry netstat lists beside it (UHL, NetBSD 8's llinfo lines).
    (await run(netstat, ['-nr', '-f', 'inet'], p.k.sys)).out.split('\n').find((l) => l.startsWith(`${PEER_ADDR} `) && !/^\S+ +\S+ +\S*L/.test(l));
  await needfrag(100_000, 1000);
  t.is(await hostRoute(), undefined, 'not in flight: ignored');
  t.is(inet(p.k).tcpstat.icmp_ignored, 1);
  await needfrag(1, 9000);
  t.is(await hostRoute(), undefined, 'above the interface\'s MTU: nothing to lower');
  await needfrag(1, 100);
  t.regex((await hostRoute()) ?? '', /^10\.0\.0\.2 +link#2 +UHD +- +- +296 +hub0$/, 'an on-link host gets a host route; 100 is taken as 296');
  const sizes = p.drain().map((l) => /\((\d+)\)/.exec(l)?.[1]).map(Number);
  t.true(sizes.length > 0 && sizes.every((x) => x <= 296 - 40), `segments ${sizes.join(',')}`);
  await p.finish(t);
});

test('a route whose MTU is lowered under a connection (route -mtu): DF segments too big for it shrink, and the data goes at the new size', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  await route(p.k, { type: 'add', dst: PEER_ADDR, ifname: 'hub0', mtu: 1000 });
  await p.k.sys.write(fd, new Uint8Array(3000));
  const segs: RegExpExecArray[] = [];
  for (let i = 0; i < 6; i++) {
    await p.run(1500);
    const now = p.drain().map((l) => /^\S+ (\d+):(\d+)\((\d+)\)/.exec(l)).filter((m) => m !== null);
    segs.push(...now);
    if (now.length > 0) await p.send('.', 1, Math.max(...now.map((m) => Number(m[2]))));
  }
  const lens = segs.map((m) => Number(m![3]));
  t.true(lens.length > 0 && lens.every((x) => x <= 1000 - 40), `segments ${lens.join(',')}`);
  t.is(Math.max(...segs.map((m) => Number(m![2]))), 3001, 'all 3000 bytes went');
  t.is(inet(p.k).ipstat.cantfrag > 0, true, 'the first try was refused (DF, too big)');
  await p.finish(t);
});
