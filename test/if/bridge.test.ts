/*
 * bridge(4) on the simulated clock: kernel B bridges two shmif buses.
 *
 *     A 192.0.2.1 ── shmif0 ══ bus1 ══ shmif0 ┐
 *     D 192.0.2.4 ── shmif0 ══ bus1           ├─ B: bridge0 (192.0.2.3) = shmif0 + shmif1
 *     C 192.0.2.2 ── shmif0 ══ bus2 ══ shmif1 ┘
 *
 * A, C and D are plain hosts on one IPv4 subnet; B has no address on its
 * members (only on bridge0, where a test gives it one).
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import { rumpInit, createSimHost, type RumpKernel, type SimHost } from '../../index.js';
import { main as brconfig } from '../../bin/rump.brconfig.js';
import { main as ping } from '../../bin/rump.ping.js';
import { main as ping6 } from '../../bin/rump.ping6.js';
import { dumpBus } from '../../shmif/dumpbus.js';
import { readPcap } from '../../net/wire/pcap.js';
import { deferred, drive, once } from '../node/helpers.js';

const COMPONENTS = ['net', 'net_net', 'net_netinet', 'net_netinet6', 'net_shmif', 'net_bridge'];

async function host(sim: SimHost, bus: string, addr: string | null): Promise<RumpKernel> {
  const k = await rumpInit({ components: COMPONENTS, host: sim });
  await k.netconfig.ifcreate('shmif0');
  await k.netconfig.ifsetlinkstr('shmif0', bus);
  if (addr !== null) await k.netconfig.ipv4IfaddrCidr('shmif0', addr, 24);
  else await k.netconfig.ifup('shmif0');
  return k;
}

function toolIO(sim: SimHost, k: RumpKernel) {
  const out: string[] = [];
  const errs: string[] = [];
  return {
    out,
    errs,
    io: {
      stdout: (s: string) => void out.push(s),
      stderr: (s: string) => void errs.push(s),
      sys: k.sys,
      clock: { now: () => sim.now(), sleep: (ms: number) => new Promise<void>((r) => { const c = k.callouts.create(() => r(), null); c.reset(ms); }) },
    },
  };
}

async function br(sim: SimHost, k: RumpKernel, ...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const t = toolIO(sim, k);
  const status = await drive(sim, brconfig(argv, t.io));
  return { status, out: t.out.join(''), err: t.errs.join('') };
}

async function pings(sim: SimHost, k: RumpKernel, dst: string, six = false): Promise<number> {
  const t = toolIO(sim, k);
  return drive(sim, (six ? ping6 : ping)(six ? ['-n', '-c', '1', '-X', '2', dst] : ['-n', '-c', '1', '-w', '2', dst], t.io));
}

interface Net {
  sim: SimHost;
  a: RumpKernel;
  b: RumpKernel;
  c: RumpKernel;
  d: RumpKernel;
}

async function topology(seed: number): Promise<Net> {
  const sim = createSimHost({ seed });
  const a = await host(sim, 'bus1', '192.0.2.1');
  const d = await host(sim, 'bus1', '192.0.2.4');
  const c = await host(sim, 'bus2', '192.0.2.2');
  const b = await rumpInit({ components: COMPONENTS, host: sim });
  for (const [ifname, bus] of [['shmif0', 'bus1'], ['shmif1', 'bus2']] as const) {
    await b.netconfig.ifcreate(ifname);
    await b.netconfig.ifsetlinkstr(ifname, bus);
    await b.netconfig.ifup(ifname);
  }
  await sim.run(3000);
  return { sim, a, b, c, d };
}

async function haltAll(n: Net): Promise<void> {
  for (const k of [n.a, n.b, n.c, n.d]) await k.halt();
}

/** The Ethernet frames on a bus, as (type, src MAC, dst MAC) and the raw bytes. */
function busFrames(sim: SimHost, bus: string): Uint8Array[] {
  return readPcap(dumpBus(sim.files.get(bus)!, {}).pcap).records.map((r) => r.data);
}

function isEcho(f: Uint8Array, src: string, dst: string): boolean {
  const ip = (o: number) => `${f[o]}.${f[o + 1]}.${f[o + 2]}.${f[o + 3]}`;
  return f[12] === 8 && f[13] === 0 && f[23] === 1 && ip(26) === src && ip(30) === dst;
}

test('a bridge joins two buses: ping and TCP across it, NetBSD\'s listing with members and learned addresses; delete parts them again', async (t) => {
  const n = await topology(101);
  const { sim, a, b, c } = n;
  try {
    t.is(await br(sim, b, 'bridge0').then((r) => r.status), 1, 'no bridge yet');
    t.is(await pings(sim, a, '192.0.2.2'), 2, 'two buses, no bridge: no reply');

    await b.netconfig.ifcreate('bridge0');
    const added = await br(sim, b, 'bridge0', 'add', 'shmif0', 'add', 'shmif1', 'up');
    t.deepEqual(added, { status: 0, out: '', err: '' });
    t.is(await pings(sim, a, '192.0.2.2'), 0, 'A reaches C through the bridge');
    t.is(await pings(sim, c, '192.0.2.1'), 0, 'and C reaches A');

    // TCP: 256 KiB each way through the bridge, byte for byte.
    const got = deferred<Buffer>();
    const srv = c.net.createServer((s) => {
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('end', () => {
        const all = Buffer.concat(parts);
        s.end(all);
        got.resolve(all);
      });
    });
    await drive(sim, new Promise<void>((r) => srv.listen(7, () => r())));
    const data = Buffer.alloc(256 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251;
    const conn = a.net.connect(7, '192.0.2.2');
    const back: Buffer[] = [];
    conn.on('data', (d: Buffer) => back.push(d));
    await drive(sim, once(conn, 'connect'));
    conn.end(data);
    t.true((await drive(sim, got.promise)).equals(data));
    await drive(sim, once(conn, 'close'));
    t.true(Buffer.concat(back).equals(data));
    srv.close();

    const list = await br(sim, b, 'bridge0');
    t.is(list.status, 0);
    t.regex(list.out, /^bridge0: flags=[0-9a-f]+<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>\n/);
    t.regex(list.out, /\tConfiguration:\n\t\tpriority 32768 hellotime 2 fwddelay 15 maxage 20\n/);
    t.regex(list.out, /\tInterfaces:\n\t\tshmif0 flags=3<LEARNING,DISCOVER>\n\t\t\tport \d+ priority 128\n\t\tshmif1 flags=3<LEARNING,DISCOVER>\n/);
    t.regex(list.out, /\tAddress cache \(max cache: 100, timeout: 1200\):\n/);
    const entries = [...list.out.matchAll(/^\t\t([0-9a-f:]{17}) (shmif[01]) (\d+) flags=0<>$/gm)];
    t.true(entries.some((e) => e[2] === 'shmif0') && entries.some((e) => e[2] === 'shmif1'), list.out);
    for (const e of entries) t.true(Number(e[3]) > 1100 && Number(e[3]) <= 1200, `expire ${e[3]}`);

    // Members are promiscuous while they are members.
    const ifs = (await b.sys.ioctl(await b.sys.socket(2, 2, 0), 'SIOCGIFCONF')) as Array<{ name: string; flags: number }>;
    t.true((ifs.find((i) => i.name === 'shmif0')!.flags & 0x100) !== 0, 'shmif0 PROMISC');

    t.deepEqual(await br(sim, b, 'bridge0', 'delete', 'shmif0', 'delete', 'shmif1'), { status: 0, out: '', err: '' });
    t.is(await pings(sim, a, '192.0.2.2'), 2, 'deleted: parted again');
    const after = (await b.sys.ioctl(await b.sys.socket(2, 2, 0), 'SIOCGIFCONF')) as Array<{ name: string; flags: number }>;
    t.is(after.find((i) => i.name === 'shmif0')!.flags & 0x100, 0, 'PROMISC given back');
    t.notRegex((await br(sim, b, 'bridge0')).out, /shmif0/);
  } finally {
    await haltAll(n);
  }
});

test('a learned destination is not flooded, and a frame is never sent back out the port it came in on', async (t) => {
  const n = await topology(102);
  const { sim, a, b, c } = n;
  try {
    await b.netconfig.ifcreate('bridge0');
    t.is((await br(sim, b, 'bridge0', 'add', 'shmif0', 'add', 'shmif1', 'up')).status, 0);
    // A and D (both on bus1) talk: the bridge learns both on shmif0.
    t.is(await pings(sim, a, '192.0.2.4'), 0);
    t.is(await pings(sim, a, '192.0.2.4'), 0);
    const bus2 = busFrames(sim, 'bus2');
    // The first echo may be flooded before D was learned; the second is known to be on bus1 and stays there.
    t.true(bus2.filter((f) => isEcho(f, '192.0.2.1', '192.0.2.4')).length <= 1, 'A→D echoes do not cross to bus2 once D is learned');
    const stats = (await b.sys.sysctl('net.bridge.stats')) as Record<string, number>;
    t.true(stats.sameport! >= 2, `same-port frames dropped: ${JSON.stringify(stats)}`);
    // C is on bus2: its echoes do cross, learned, not flooded.
    t.is(await pings(sim, a, '192.0.2.2'), 0);
    t.true(busFrames(sim, 'bus2').some((f) => isEcho(f, '192.0.2.1', '192.0.2.2')));
    const s2 = (await b.sys.sysctl('net.bridge.stats')) as Record<string, number>;
    t.true(s2.forwarded! > stats.forwarded!);
    void c;
  } finally {
    await haltAll(n);
  }
});

test('brconfig: timeout ages learned entries out, maxaddr bounds the cache, static and deladdr, flush and flushall', async (t) => {
  const n = await topology(103);
  const { sim, a, b } = n;
  try {
    await b.netconfig.ifcreate('bridge0');
    t.is((await br(sim, b, 'bridge0', 'add', 'shmif0', 'add', 'shmif1', 'timeout', '30', 'up')).status, 0);
    t.is(await pings(sim, a, '192.0.2.2'), 0);
    const addrs = async () => [...(await br(sim, b, 'bridge0', 'addr')).out.matchAll(/^\t([0-9a-f:]{17}) (\S+) (\d+) flags=(\d+)/gm)];
    t.is((await addrs()).length, 2);
    t.regex((await br(sim, b, 'bridge0')).out, /timeout: 30\)/);
    await sim.run(31_000);
    t.is((await addrs()).length, 0, 'aged out after the timeout');

    t.is((await br(sim, b, 'bridge0', 'static', 'shmif1', '02:00:00:00:00:99')).status, 0);
    await sim.run(3_600_000);
    let list = await addrs();
    t.is(list.length, 1);
    t.deepEqual([list[0]![1], list[0]![2], list[0]![3], list[0]![4]], ['02:00:00:00:00:99', 'shmif1', '0', '1']);
    t.regex((await br(sim, b, 'bridge0', 'addr')).out, /flags=1<STATIC>/);

    t.is((await br(sim, b, 'bridge0', 'maxaddr', '2')).status, 0);
    t.is(await pings(sim, a, '192.0.2.2'), 0);
    t.is((await addrs()).length, 2, 'one static and one learned: the cache is full');
    t.true(((await b.sys.sysctl('net.bridge.stats')) as Record<string, number>).learnfull! >= 1);

    t.is((await br(sim, b, 'bridge0', 'flush')).status, 0);
    list = await addrs();
    t.is(list.length, 1, 'flush keeps the static entry');
    t.is((await br(sim, b, 'bridge0', 'deladdr', '02:00:00:00:00:99')).status, 0);
    t.is((await addrs()).length, 0);
    const gone = await br(sim, b, 'bridge0', 'deladdr', '02:00:00:00:00:99');
    t.is(gone.status, 1);
    t.is(gone.err, 'rump.brconfig: deladdr 02:00:00:00:00:99: No such file or directory\n');
    t.is((await br(sim, b, 'bridge0', 'static', 'shmif1', '02:00:00:00:00:98', 'flushall')).status, 0);
    t.is((await addrs()).length, 0, 'flushall takes static entries too');
  } finally {
    await haltAll(n);
  }
});

test('brconfig refuses what NetBSD\'s refuses: usage, unknown command, a non-member, a member of another bridge', async (t) => {
  const n = await topology(104);
  const { sim, b } = n;
  try {
    await b.netconfig.ifcreate('bridge0');
    await b.netconfig.ifcreate('bridge1');
    const u = await br(sim, b);
    t.is(u.status, 1);
    t.regex(u.err, /^usage: rump\.brconfig -a\n/);
    t.deepEqual(await br(sim, b, 'shmif0'), { status: 1, out: '', err: 'rump.brconfig: shmif0 is not a bridge\n' });
    t.deepEqual(await br(sim, b, 'bridge0', 'frob'), { status: 1, out: '', err: 'rump.brconfig: unknown command: frob\n' });
    t.deepEqual(await br(sim, b, 'bridge0', 'add'), { status: 1, out: '', err: 'rump.brconfig: command add requires 1 argument\n' });
    t.deepEqual(await br(sim, b, 'bridge0', 'add', 'shmif9'), { status: 1, out: '', err: 'rump.brconfig: add shmif9: No such file or directory\n' });
    t.deepEqual(await br(sim, b, 'bridge0', 'delete', 'shmif0'), { status: 1, out: '', err: 'rump.brconfig: delete shmif0: No such file or directory\n' });
    t.is((await br(sim, b, 'bridge0', 'add', 'shmif0')).status, 0);
    t.deepEqual(await br(sim, b, 'bridge1', 'add', 'shmif0'), { status: 1, out: '', err: 'rump.brconfig: add shmif1: Device busy\n'.replace('shmif1', 'shmif0') });
    t.deepEqual(await br(sim, b, 'bridge0', 'maxaddr', 'many'), { status: 1, out: '', err: 'rump.brconfig: maxaddr: invalid value: many\n' });
    const all = await br(sim, b, '-a');
    t.regex(all.out, /^bridge0: [^]*shmif0[^]*^bridge1: /m);
    // Destroying a member takes it out of its bridge; destroying the bridge gives its members back.
    await b.netconfig.ifdestroy('shmif0');
    t.notRegex((await br(sim, b, 'bridge0')).out, /shmif0/);
    t.is((await br(sim, b, 'bridge0', 'add', 'shmif1')).status, 0);
    await b.netconfig.ifdestroy('bridge0');
    t.is((await br(sim, b, 'bridge1', 'add', 'shmif1')).status, 0, 'shmif1 free again');
  } finally {
    await haltAll(n);
  }
});

test('the bridge\'s own address: a host on either bus pings an IP on bridge0, and IPv6 crosses the bridge too', async (t) => {
  const n = await topology(105);
  const { sim, a, b, c } = n;
  try {
    await b.netconfig.ifcreate('bridge0');
    t.is((await br(sim, b, 'bridge0', 'add', 'shmif0', 'add', 'shmif1', 'up')).status, 0);
    await b.netconfig.ipv4IfaddrCidr('bridge0', '192.0.2.3', 24);
    await sim.run(10_000); // duplicate address detection (RFC 5227, ip.dad_count 3) before it answers
    t.is(await pings(sim, a, '192.0.2.3'), 0, 'A pings bridge0');
    t.is(await pings(sim, c, '192.0.2.3'), 0, 'C pings bridge0');
    const bt = toolIO(sim, b);
    t.is(await drive(sim, ping(['-n', '-c', '1', '-w', '2', '192.0.2.2'], bt.io)), 0, 'bridge0 pings C');

    for (const [k, addr] of [[a, 'fc00::1'], [c, 'fc00::2']] as const) {
      const s = await k.sys.socket(24, 2, 0);
      await k.sys.ioctl(s, 'SIOCAIFADDR_IN6', { name: 'shmif0', addr, prefixlen: 64 });
    }
    await sim.run(5000);
    t.is(await pings(sim, a, 'fc00::2', true), 0, 'ping6 A→C across the bridge (ND multicast flooded)');
    t.is(await pings(sim, c, 'fc00::1', true), 0, 'ping6 C→A');
  } finally {
    await haltAll(n);
  }
});

test('PR kern/48104: an address on one member answers on the other bus too (IPv4 and IPv6)', async (t) => {
  const n = await topology(106);
  const { sim, a, b, c } = n;
  try {
    await b.netconfig.ifcreate('bridge0');
    t.is((await br(sim, b, 'bridge0', 'add', 'shmif0', 'add', 'shmif1', 'up')).status, 0);
    await b.netconfig.ipv4IfaddrCidr('shmif0', '192.0.2.11', 24);
    await b.netconfig.ipv4IfaddrCidr('shmif1', '192.0.2.12', 24);
    await sim.run(10_000); // duplicate address detection (RFC 5227, ip.dad_count 3) before they answer
    for (const [k, name] of [[a, 'A'], [c, 'C']] as const) {
      t.is(await pings(sim, k, '192.0.2.11'), 0, `${name} → shmif0's address`);
      t.is(await pings(sim, k, '192.0.2.12'), 0, `${name} → shmif1's address`);
    }
    // The same with IPv6 (t_bridge's bridge_member_ipv6): neighbour solicitations are multicast.
    for (const [k, ifname, addr] of [[a, 'shmif0', 'fc00::1'], [c, 'shmif0', 'fc00::2'], [b, 'shmif0', 'fc00::11'], [b, 'shmif1', 'fc00::12']] as const) {
      await k.sys.ioctl(await k.sys.socket(24, 2, 0), 'SIOCAIFADDR_IN6', { name: ifname, addr, prefixlen: 64 });
    }
    await sim.run(5000);
    for (const [k, name] of [[a, 'A'], [c, 'C']] as const) {
      t.is(await pings(sim, k, 'fc00::11', true), 0, `${name} → shmif0's IPv6 address`);
      t.is(await pings(sim, k, 'fc00::12', true), 0, `${name} → shmif1's IPv6 address`);
    }
  } finally {
    await haltAll(n);
  }
});
