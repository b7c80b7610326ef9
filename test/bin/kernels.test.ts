/*
 * The tools on real kernels, set up the way netbsd-tools.txt's kernels were
 * and checked against NetBSD's transcript line by line.
 *
 *   kernel A                                         kernel B
 *   shmif0 192.0.2.1/24    ══ bus "bus-small" ══     shmif0 192.0.2.2/24
 *   shmif1 198.51.100.1/24 ══ bus "bus-wrapped"
 *
 * Everything, configuration included, goes through the tools' `main` with
 * the kernel's own `sys`, on the sim host's virtual clock.
 */
import test from 'ava';
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';
import '../../shmif/component.js';
import { createSimHost, type SimHost } from '../../hypercall/sim.js';
import { bootKernel } from '../../kern/init.js';
import type { Kernel } from '../../kern/kernel.js';
import { main as ifconfig } from '../../bin/rump.ifconfig.js';
import { main as ping } from '../../bin/rump.ping.js';
import { main as route } from '../../bin/rump.route.js';
import { main as netstat } from '../../bin/rump.netstat.js';
import { main as arp } from '../../bin/rump.arp.js';
import { main as sysctl } from '../../bin/rump.sysctl.js';
import type { ToolMain } from '../../bin/common.js';
import { capture, netbsd8Ifconfig, netbsdTranscript } from './helpers.js';

interface Net {
  sim: SimHost;
  a: Kernel;
  b: Kernel;
  /** Run a tool on a kernel until it exits, on virtual time. */
  tool(k: Kernel, main: ToolMain, argv: string[]): Promise<{ status: number; out: string; err: string; elapsed: number }>;
}

async function network(): Promise<Net> {
  const sim = createSimHost({ seed: 11 });
  const boot = (): Kernel => bootKernel({ components: ['net', 'net_net', 'net_netinet', 'net_shmif'], host: sim });
  const a = boot();
  const b = boot();
  const tool: Net['tool'] = async (k, main, argv) => {
    const c = capture(k.sys, { clock: { now: () => sim.now(), sleep: (ms) => new Promise((r) => sim.armTimer(sim.now() + ms, r)) } });
    let status: number | undefined;
    const t0 = sim.now();
    void main(argv, c.io).then((s) => {
      status = s;
    });
    await sim.runUntil(() => status !== undefined, 60_000);
    if (status === undefined) throw new Error(`${argv.join(' ')} did not finish`);
    return { status, out: c.out(), err: c.err(), elapsed: sim.now() - t0 };
  };
  const net: Net = { sim, a, b, tool };
  for (const [k, cmd] of [
    [a, ['shmif0', 'create']],
    [a, ['shmif0', 'linkstr', 'bus-small']],
    [a, ['shmif0', 'inet', '192.0.2.1/24']],
    [a, ['shmif1', 'create', 'linkstr', 'bus-wrapped']],
    [a, ['shmif1', 'inet', '198.51.100.1', 'netmask', '255.255.255.0', 'up']],
    [b, ['shmif0', 'create', 'linkstr', 'bus-small']],
    [b, ['shmif0', 'inet', '192.0.2.2/24']],
  ] as const) {
    const r = await tool(k, ifconfig, [...cmd]);
    if (r.status !== 0) throw new Error(`ifconfig ${cmd.join(' ')}: ${r.err}`);
  }
  // shmif1 was up before its address came (`up` runs first): it is tentative
  // until IPv4 DAD (RFC 5227) is through, which the transcript's 7.99 did not have.
  await sim.run(12_000);
  return net;
}

/** The transcript with each interface's MAC replaced by ours. */
function withMacs(text: string, macs: string[]): string {
  let i = 0;
  return text.replace(/address: [0-9a-f:]{17}/g, () => `address: ${macs[i++]}`);
}

/**
 * NetBSD's lines with the two our shmif and lo0 add after their flags: the
 * offloads they do in software (shmif: TSO, LRO; lo0: TSO, passed up
 * whole; NetBSD's have none), printed as NetBSD's ifconfig prints any
 * interface's.
 */
function withOffloads(text: string): string {
  return text
    .replace(/^(shmif\d+: flags=.*\n)/gm, '$1\tcapabilities=0x80080<TSO4,LRO>\n\tenabled=0x80080<TSO4,LRO>\n')
    .replace(/^(lo0: flags=.*\n)/gm, '$1\tcapabilities=0x40080<TSO4,TSO6>\n\tenabled=0x40080<TSO4,TSO6>\n');
}

test('ifconfig -a and ifconfig shmif0 on a configured kernel read as NetBSD\'s', async (t) => {
  const n = await network();
  const macs = [...(await n.tool(n.a, ifconfig, ['-a'])).out.matchAll(/address: ([0-9a-f:]{17})/g)].map((m) => m[1]!);
  t.is(macs.length, 2);
  const all = await n.tool(n.a, ifconfig, ['-a']);
  t.is(all.out, withOffloads(withMacs(netbsd8Ifconfig(netbsdTranscript('rump.ifconfig -a').text), macs)));
  const one = await n.tool(n.a, ifconfig, ['shmif0']);
  t.is(one.out, withOffloads(withMacs(netbsd8Ifconfig(netbsdTranscript('rump.ifconfig shmif0').text), macs)));
  const busy = await n.tool(n.a, ifconfig, ['shmif0', 'linkstr', 'other']);
  t.is(busy.err, netbsdTranscript('rump.ifconfig shmif0 linkstr other').text);
  t.is(busy.status, 1);
  const bogus = await n.tool(n.a, ifconfig, ['bogus0', 'create']);
  t.is(bogus.err, netbsdTranscript('rump.ifconfig bogus0 create').text);
  t.is(bogus.status, 1);
});

test('route show, add default, show again and get, exactly as the transcript', async (t) => {
  const n = await network();
  t.is((await n.tool(n.a, route, ['-n', 'show'])).out, netbsdTranscript('rump.route -n show').text);
  const add = await n.tool(n.a, route, ['add', 'default', '192.0.2.254']);
  t.is(add.out, netbsdTranscript('rump.route add default 192.0.2.254').text);
  t.is(add.status, 0);
  t.is((await n.tool(n.a, route, ['-n', 'get', '203.0.113.1'])).out,
    netbsdTranscript('rump.route -n get 203.0.113.1').text.replace('flags: <', 'flags: 0x843<'), 'NetBSD 8 prints the value too');
  t.is((await n.tool(n.a, route, ['-n', 'show'])).out, netbsdTranscript('rump.route -n show', 1).text);
  // netstat -r shows every flag: the static default route is UGS there, and
  // the connected routes UC (NetBSD 8's RTF_CONNECTED; 7.99's transcript predates it).
  const rn = await n.tool(n.a, netstat, ['-rn']);
  t.is(rn.out, netbsdTranscript('rump.route -n show', 1).text.replace('192.0.2.254        UG    ', '192.0.2.254        UGS   ')
    .replace(/(link#[23]             )U     /g, '$1UC    '));
  const del = await n.tool(n.a, route, ['delete', 'default']);
  t.is(del.out, 'delete net default\n');
  const again = await n.tool(n.a, route, ['delete', 'default']);
  t.is(again.err, 'rump.route: writing to routing socket: No such process\n');
  t.is(again.out, 'delete net default: not in table\n');
  t.is(again.status, 1);
  t.deepEqual(n.a.sys.openFds(), [], 'every socket the tools opened is closed');
});

test('ping -c 3 to the other kernel: three replies, NetBSD\'s statistics, exit 0', async (t) => {
  const n = await network();
  const r = await n.tool(n.a, ping, ['-c', '3', '-n', '192.0.2.2']);
  t.is(r.status, 0);
  t.is(r.err, '');
  const lines = r.out.split('\n');
  t.is(lines[0], 'PING 192.0.2.2 (192.0.2.2): 56 data bytes');
  for (let i = 0; i < 3; i++) t.regex(lines[1 + i]!, new RegExp(`^64 bytes from 192\\.0\\.2\\.2: icmp_seq=${i} ttl=255 time=\\d+\\.\\d{6} ms$`));
  t.deepEqual(lines.slice(4, 7), ['', '----192.0.2.2 PING Statistics----', '3 packets transmitted, 3 packets received, 0.0% packet loss']);
  t.regex(lines[7]!, /^round-trip min\/avg\/max\/stddev = \d+\.\d{6}\/\d+\.\d{6}\/\d+\.\d{6}\/\d+\.\d{6} ms$/);
  t.true(r.elapsed >= 2000 && r.elapsed < 2100, `took ${r.elapsed} ms of virtual time`);
  t.deepEqual(n.a.sys.openFds(), []);

  const macB = /address: ([0-9a-f:]{17})/.exec((await n.tool(n.b, ifconfig, ['shmif0'])).out)![1];
  t.is((await n.tool(n.a, arp, ['-an'])).out, `? (192.0.2.2) at ${macB} on shmif0\n`);
  t.is((await n.tool(n.a, arp, ['192.0.2.2'])).out, `? (192.0.2.2) at ${macB} on shmif0\n`);

  const icmp = await n.tool(n.a, netstat, ['-ss', '-p', 'icmp']);
  t.regex(icmp.out, /\tInput histogram:\n\t\techo reply: 3\n/);
  const icmpB = await n.tool(n.b, netstat, ['-ss', '-p', 'icmp']);
  t.regex(icmpB.out, /\tOutput histogram:\n\t\techo reply: 3\n/);
  t.regex(icmpB.out, /\tInput histogram:\n\t\techo: 3\n/);
});

test('ping -c 1 -w 1 to an address nobody has: the transcript\'s lines, exit 2, after one second', async (t) => {
  const n = await network();
  const r = await n.tool(n.a, ping, ['-c', '1', '-w', '1', '-n', '192.0.2.9']);
  const want = netbsdTranscript('rump.ping -c 1 -w 1 -n 192.0.2.9');
  t.is(r.out, want.text);
  t.is(r.status, want.status!);
  t.is(r.elapsed, 1000);
});

test('arp -s and -d on a kernel; netstat -i counts the frames; sysctl -w turns on forwarding', async (t) => {
  const n = await network();
  t.is((await n.tool(n.a, arp, ['-s', '192.0.2.50', '02:00:00:00:00:50'])).status, 0);
  t.regex((await n.tool(n.a, arp, ['192.0.2.50'])).out, /^\? \(192\.0\.2\.50\) at 02:00:00:00:00:50 on shmif0 permanent\n$/);
  t.is((await n.tool(n.a, arp, ['-d', '192.0.2.50'])).status, 0);
  const gone = await n.tool(n.a, arp, ['192.0.2.50']);
  t.is(gone.err, 'rump.arp: 192.0.2.50 (192.0.2.50) -- no entry\n');
  t.is(gone.status, 1);

  await n.tool(n.a, ping, ['-c', '1', '-n', '192.0.2.2']);
  const i = await n.tool(n.a, netstat, ['-in', '-I', 'shmif0']);
  const row = i.out.split('\n')[1]!.trim().split(/\s+/);
  t.is(row[0], 'shmif');
  t.true(Number(row[4]) >= 1 && Number(row[6]) >= 1, i.out);

  const w = await n.tool(n.a, sysctl, ['-w', 'net.inet.ip.forwarding=1']);
  t.is(w.out, 'net.inet.ip.forwarding: 0 -> 1\n');
  t.is((await n.tool(n.a, sysctl, ['-n', 'net.inet.ip.forwarding'])).out, '1\n');
});

test('NetBSD 8 additions: netstat -rn lists neighbors (UHL, UHLS when static); ifconfig takes an interface index', async (t) => {
  const n = await network();
  t.is((await n.tool(n.a, ping, ['-c', '1', '-n', '192.0.2.2'])).status, 0);
  t.is((await n.tool(n.a, arp, ['-s', '192.0.2.77', '02:00:00:00:00:77'])).status, 0);
  const rn = (await n.tool(n.a, netstat, ['-rn'])).out;
  t.regex(rn, /^192\.0\.2\.2 +[0-9a-f:]{17} +UHL +- +- +- +shmif0$/m, 'the resolved neighbor');
  t.regex(rn, /^192\.0\.2\.77 +02:00:00:00:00:77 +UHLS +- +- +- +shmif0$/m, 'the static entry');
  // As NetBSD's (t_ifconfig's ifconfig_number): the index names the interface, whose
  // status lists what getifaddrs(3) has under the name "2", which is nothing.
  const two = await n.tool(n.a, ifconfig, ['2']);
  t.is(two.status, 0);
  t.is(two.out, '');
  const nine = await n.tool(n.a, ifconfig, ['9']);
  t.is(nine.status, 1);
  t.is(nine.err, 'rump.ifconfig: SIOCGIFFLAGS 9: Device not configured\n');
});

test('arp -s over a permanent entry is "File exists"; deleting the on-link route purges the neighbors it covered', async (t) => {
  const n = await network();
  t.is((await n.tool(n.a, ping, ['-c', '1', '-n', '192.0.2.2'])).status, 0);
  t.is((await n.tool(n.a, arp, ['-s', '192.0.2.77', '02:00:00:00:00:77'])).status, 0);
  const again = await n.tool(n.a, arp, ['-s', '192.0.2.77', '02:00:00:00:00:78']);
  t.is(again.status, 1);
  t.regex(again.err, /File exists/);
  t.is((await n.tool(n.a, arp, ['-n', '192.0.2.2'])).status, 0, 'resolved by the ping');
  t.is((await n.tool(n.a, route, ['delete', '-net', '192.0.2.0'])).status, 0);
  t.not((await n.tool(n.a, arp, ['-n', '192.0.2.2'])).status, 0, 'gone with its route');
  t.is((await n.tool(n.a, arp, ['-n', '192.0.2.77'])).status, 0, 'a permanent entry stays until deleted');
});
