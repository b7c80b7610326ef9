/*
 * kernel.dgram as Node users use UDP: multicast groups (join, receive,
 * leave, stop receiving; TTL; loopback; the interface to send from) and
 * datagrams up to 65,507 bytes (65,527 over IPv6), between kernels on a
 * simulated bus:
 *
 *     A 192.0.2.1 ── shmif0 ══╗
 *     B 192.0.2.2 ── shmif0 ══╬══ bus1
 *     C 192.0.2.3 ── shmif0 ══╝
 *
 * What went over the bus is read back from the bus file (shmif_dumpbus)
 * and decoded here from the bytes.
 */
import test from 'ava';
import { createSimHost, rumpInit, type RumpKernel, type SimHost } from '../../index.js';
import { ifioctl } from '../../net/interface_ioctl.js';
import { dumpBus } from '../../shmif/dumpbus.js';
import { shmifSoftc } from '../../shmif/if_shmem.js';
import { readPcap } from '../../net/wire/pcap.js';
import { netstack } from '../../net/netstack.js';
import type { DgramSocket } from '../../net/node/dgram.js';
import { deferred, drive, once, simKernel } from './helpers.js';
import { dadDone } from '../inet6/helpers.js';

const GROUP = '239.1.2.3';
const PORT = 5000;

interface Frame {
  dstMac: string;
  ttl: number;
  proto: number;
  src: string;
  dst: string;
  /** IP header length: 24 with the Router Alert option. */
  hlen: number;
  /** IGMP type and group, when proto is 2. */
  igmpType?: number;
  igmpGroup?: string;
  /** UDP destination port, when proto is 17 and this is the first fragment. */
  dport?: number;
  /** ip_off word. */
  ipOff: number;
}

const quad = (b: Uint8Array, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** Every IPv4 frame on the bus so far, decoded from its bytes. */
function busFrames(sim: SimHost, bus = 'bus1'): Frame[] {
  const out: Frame[] = [];
  for (const r of readPcap(dumpBus(sim.files.get(bus)!, {}).pcap).records) {
    const f = r.data;
    if (f[12] !== 0x08 || f[13] !== 0x00) continue;
    const ip = 14;
    const hlen = (f[ip]! & 0x0f) * 4;
    const fr: Frame = {
      dstMac: [...f.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
      ttl: f[ip + 8]!,
      proto: f[ip + 9]!,
      src: quad(f, ip + 12),
      dst: quad(f, ip + 16),
      hlen,
      ipOff: (f[ip + 6]! << 8) | f[ip + 7]!,
    };
    if (fr.proto === 2) {
      fr.igmpType = f[ip + hlen]!;
      fr.igmpGroup = quad(f, ip + hlen + 4);
    }
    if (fr.proto === 17 && (fr.ipOff & 0x1fff) === 0) fr.dport = (f[ip + hlen + 2]! << 8) | f[ip + hlen + 3]!;
    out.push(fr);
  }
  return out;
}

/** A kernel with IPv6 on the sim host's bus1, at `addr`/64. */
async function host6(sim: SimHost, addr: string): Promise<RumpKernel> {
  const k = await rumpInit({ components: ['net', 'net_net', 'net_netinet', 'net_netinet6', 'net_shmif'], host: sim });
  const ifname = await k.netconfig.ifcreate('shmif');
  await k.netconfig.ifsetlinkstr(ifname, 'bus1');
  ifioctl(netstack(k), 'SIOCAIFADDR_IN6', { name: ifname, addr, prefixlen: 64 });
  return k;
}

async function lan(seed: number): Promise<{ sim: SimHost; a: RumpKernel; b: RumpKernel; c: RumpKernel }> {
  const sim = createSimHost({ seed });
  const a = await simKernel(sim, 'bus1', '192.0.2.1');
  const b = await simKernel(sim, 'bus1', '192.0.2.2');
  const c = await simKernel(sim, 'bus1', '192.0.2.3');
  return { sim, a, b, c };
}

function bound(s: DgramSocket, port = 0): Promise<void> {
  return new Promise((resolve) => s.bind(port, () => resolve()));
}

/** Messages a socket has received, as text. */
function inbox(s: DgramSocket): string[] {
  const got: string[] = [];
  s.on('message', (msg: Buffer, rinfo: { address: string }) => got.push(`${msg} from ${rinfo.address}`));
  return got;
}

/** Let `ms` of virtual time pass (a callout on the kernel's clock). */
function pause(k: RumpKernel, ms: number): Promise<void> {
  return new Promise((resolve) => k.callouts.create(() => resolve(), null).reset(ms));
}

function filtered(k: RumpKernel): number {
  return shmifSoftc(netstack(k).ifs.unit('shmif0'))!.stats.rxmcastfiltered;
}

async function closeAll(...socks: DgramSocket[]): Promise<void> {
  const closed = socks.map((s) => once(s, 'close'));
  for (const s of socks) s.close();
  await Promise.all(closed);
}

test('join, receive, leave, stop receiving: IGMPv2 report and leave on the bus, the non-member filters the group out', async (t) => {
  const { sim, a, b, c } = await lan(21);
  const run = async (): Promise<{ b: string[]; c: string[]; filteredC: number; filteredB: number; filteredBAfter: number }> => {
    const rb = b.dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const rc = c.dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const gotB = inbox(rb);
    const gotC = inbox(rc);
    await bound(rb, PORT);
    await bound(rc, PORT);
    rb.addMembership(GROUP);
    const tx = a.dgram.createSocket('udp4');
    await bound(tx);
    const heard = once(rb, 'message');
    tx.send('first', PORT, GROUP);
    await heard;
    await pause(a, 50);
    const filteredC = filtered(c);
    const filteredB = filtered(b);
    rb.dropMembership(GROUP);
    const sent = deferred<Error | null>();
    tx.send('second', PORT, GROUP, (err: Error | null) => sent.resolve(err));
    t.is(await sent.promise, null);
    await pause(a, 50);
    const filteredBAfter = filtered(b);
    await closeAll(rb, rc, tx);
    return { b: gotB, c: gotC, filteredC, filteredB, filteredBAfter };
  };
  const r = await drive(sim, run());
  t.deepEqual(r.b, ['first from 192.0.2.1'], 'B hears the group while a member, and only then');
  t.deepEqual(r.c, [], 'C is bound to the port but never joined');
  t.true(r.filteredC >= 1, "C's shmif filter kept the group's frame from its stack");
  t.is(r.filteredBAfter - r.filteredB, 1, "after leaving, B's filter drops the second datagram");

  const frames = busFrames(sim);
  const igmp = frames.filter((f) => f.proto === 2);
  // Join: an unsolicited v2 report to the group itself, from B, TTL 1, Router Alert (RFC 2236 §2, §3).
  const report = igmp.find((f) => f.igmpType === 0x16 && f.src === '192.0.2.2');
  t.truthy(report);
  t.like(report!, { dst: GROUP, igmpGroup: GROUP, ttl: 1, hlen: 24, dstMac: '01:00:5e:01:02:03' });
  // Leave: B sent the last report, so a Leave goes to all-routers.
  const leave = igmp.find((f) => f.igmpType === 0x17);
  t.like(leave!, { src: '192.0.2.2', dst: '224.0.0.2', igmpGroup: GROUP, ttl: 1, hlen: 24, dstMac: '01:00:5e:00:00:02' });
  t.true(igmp.indexOf(report!) < igmp.indexOf(leave!));
  // The datagrams: to the group's MAC (RFC 1112 §6.4), TTL 1 by default.
  const data = frames.filter((f) => f.proto === 17 && f.dport === PORT);
  t.is(data.length, 2);
  for (const d of data) t.like(d, { src: '192.0.2.1', dst: GROUP, ttl: 1, dstMac: '01:00:5e:01:02:03' });
  t.like(b.sysctl.get('net.inet.igmp.stats') as Record<string, number>, { snd_reports: 1, snd_leaves: 1 });
  for (const k of [a, b, c]) await k.halt();
});

test('setMulticastTTL sets the TTL on the wire, setTTL does not touch multicast; loopback on by default, off when asked', async (t) => {
  const { sim, a, b } = await lan(22);
  const run = async (): Promise<{ a: string[]; b: string[] }> => {
    const ra = a.dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const rb = b.dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const gotA = inbox(ra);
    const gotB = inbox(rb);
    await bound(ra, PORT);
    await bound(rb, PORT);
    ra.addMembership(GROUP, '192.0.2.1');
    rb.addMembership(GROUP);
    const tx = a.dgram.createSocket('udp4');
    await bound(tx);
    tx.setTTL(64);
    t.is(tx.setMulticastTTL(7), 7);
    const both = Promise.all([once(ra, 'message'), once(rb, 'message')]);
    tx.send('looped', PORT, GROUP);
    await both;
    // TTL 0: this host only (RFC 1112 §6.1): our member hears it, the wire never sees it.
    tx.setMulticastTTL(0);
    const local = once(ra, 'message');
    tx.send('ttl 0', PORT, GROUP);
    await local;
    tx.setMulticastTTL(7);
    tx.setMulticastLoopback(false);
    const heard = once(rb, 'message');
    tx.send('not looped', PORT, GROUP);
    await heard;
    await pause(a, 50);
    await closeAll(ra, rb, tx);
    return { a: gotA, b: gotB };
  };
  const r = await drive(sim, run());
  t.deepEqual(r.a, ['looped from 192.0.2.1', 'ttl 0 from 192.0.2.1'], "A's own member hears it only while IP_MULTICAST_LOOP is on");
  t.deepEqual(r.b, ['looped from 192.0.2.1', 'not looped from 192.0.2.1']);
  const data = busFrames(sim).filter((f) => f.proto === 17 && f.dport === PORT);
  t.deepEqual(data.map((f) => f.ttl), [7, 7]);
  for (const k of [a, b]) await k.halt();
});

test('setMulticastInterface picks the interface and source; bad arguments get Node errors', async (t) => {
  const sim = createSimHost({ seed: 23 });
  // A has two interfaces; the group's datagram must leave by bus2 when asked.
  const a = await simKernel(sim, 'bus1', '192.0.2.1');
  const if2 = await a.netconfig.ifcreate('shmif');
  await a.netconfig.ifsetlinkstr(if2, 'bus2');
  await a.netconfig.ipv4IfaddrCidr(if2, '198.51.100.1', 24);
  const d = await simKernel(sim, 'bus2', '198.51.100.4');
  const run = async (): Promise<string[]> => {
    const rd = d.dgram.createSocket('udp4');
    const got = inbox(rd);
    await bound(rd, PORT);
    rd.addMembership(GROUP);
    const tx = a.dgram.createSocket('udp4');
    await bound(tx);
    tx.setMulticastInterface('198.51.100.1');
    const heard = once(rd, 'message');
    tx.send('via bus2', PORT, GROUP);
    await heard;

    const err = (fn: () => unknown): string => {
      try {
        fn();
        return 'no error';
      } catch (e) {
        const x = e as NodeJS.ErrnoException;
        return [x.code, x.syscall, x.message].filter((v) => v !== undefined).join(' ');
      }
    };
    const lines = [
      err(() => tx.setMulticastInterface('203.0.113.9')),
      err(() => tx.setMulticastInterface(7 as never)),
      err(() => tx.addMembership('192.0.2.77')),
      err(() => tx.addMembership('')),
      err(() => tx.dropMembership(GROUP)),
      err(() => rd.addMembership(GROUP)),
      err(() => tx.addSourceSpecificMembership('192.0.2.1', GROUP)),
      err(() => tx.setMulticastTTL(256)),
      err(() => tx.setTTL(0)),
    ];
    await closeAll(rd, tx);
    lines.push(err(() => tx.addMembership(GROUP)));
    return [...got, ...lines];
  };
  const lines = await drive(sim, run());
  t.deepEqual(lines, [
    'via bus2 from 198.51.100.1',
    'EADDRNOTAVAIL setMulticastInterface setMulticastInterface EADDRNOTAVAIL',
    'ERR_INVALID_ARG_TYPE The "interfaceAddress" argument must be of type string',
    'EINVAL addMembership addMembership EINVAL',
    'ERR_MISSING_ARGS The "multicastAddress" argument must be specified',
    'EADDRNOTAVAIL dropMembership dropMembership EADDRNOTAVAIL',
    'EADDRINUSE addMembership addMembership EADDRINUSE',
    'ENOSYS addSourceSpecificMembership addSourceSpecificMembership ENOSYS',
    'EINVAL setMulticastTTL setMulticastTTL EINVAL',
    'EINVAL setTTL setTTL EINVAL',
    'ERR_SOCKET_DGRAM_NOT_RUNNING Not running',
  ]);
  const data = busFrames(sim, 'bus2').filter((f) => f.proto === 17);
  t.like(data[0]!, { src: '198.51.100.1', dst: GROUP });
  t.is(busFrames(sim, 'bus1').filter((f) => f.proto === 17).length, 0, 'nothing went out of the other interface');
  await a.halt();
  await d.halt();
});

test('a 65,507-byte datagram crosses the bus in fragments and arrives whole; 65,508 is EMSGSIZE as Node reports it', async (t) => {
  const { sim, a, b, c } = await lan(24);
  const big = new Uint8Array(65507);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >>> 8)) & 0xff;
  const run = async (): Promise<{ got: Buffer; err: NodeJS.ErrnoException | null; mgot: Buffer }> => {
    const rb = b.dgram.createSocket('udp4');
    await bound(rb, PORT);
    const tx = a.dgram.createSocket('udp4');
    const got = once<Buffer>(rb, 'message');
    tx.send(big, PORT, '192.0.2.2');
    const g = await got;
    const sent = deferred<Error | null>();
    tx.send(new Uint8Array(65508), PORT, '192.0.2.2', (e: Error | null) => sent.resolve(e));
    const err = (await sent.promise) as NodeJS.ErrnoException | null;
    // The same size to a group: fragmented multicast.
    const rc = c.dgram.createSocket('udp4');
    await bound(rc, PORT + 1);
    rc.addMembership(GROUP);
    const mgot = once<Buffer>(rc, 'message');
    tx.send(big, PORT + 1, GROUP);
    const m = await mgot;
    await closeAll(rb, rc, tx);
    return { got: g, err, mgot: m };
  };
  const r = await drive(sim, run());
  t.is(r.got.length, 65507);
  t.true(Buffer.from(big).equals(r.got), 'every byte arrives in order');
  t.true(Buffer.from(big).equals(r.mgot));
  t.truthy(r.err);
  t.is(r.err!.code, 'EMSGSIZE');
  t.is(r.err!.syscall, 'send');
  t.is(r.err!.message, 'send EMSGSIZE 192.0.2.2:5000');
  const frags = busFrames(sim).filter((f) => f.proto === 17 && f.src === '192.0.2.1' && f.dst === '192.0.2.2');
  t.is(frags.length, Math.ceil((65507 + 8) / 1480), 'one datagram in 1480-byte fragments');
  const st = b.sysctl.get('net.inet.ip.stats') as Record<string, number>;
  t.is(st.reassembled, 1);
  for (const k of [a, b, c]) await k.halt();
});

test('udp6: addMembership on an IPv6 group, and a 65,527-byte datagram to it, fragmented and reassembled', async (t) => {
  const sim = createSimHost({ seed: 25 });
  const a = await host6(sim, '2001:db8::1');
  const b = await host6(sim, '2001:db8::2');
  await dadDone({ sim, kernels: [a, b] });
  const G6 = 'ff0e::1:2:3';
  const big = Buffer.alloc(65527);
  for (let i = 0; i < big.length; i++) big[i] = (i * 11) & 0xff;
  const run = async (): Promise<Array<{ text: string; address: string; size: number }>> => {
    const rb = b.dgram.createSocket({ type: 'udp6', reuseAddr: true });
    const got: Array<{ text: string; address: string; size: number }> = [];
    rb.on('message', (m: Buffer, r: { address: string; size: number }) => {
      got.push({ text: m.length > 64 ? (big.equals(m) ? 'big, intact' : 'big, damaged') : String(m), address: r.address, size: r.size });
    });
    await bound(rb, PORT);
    rb.addMembership(G6);
    const tx = a.dgram.createSocket('udp6');
    await bound(tx);
    tx.setMulticastInterface('::%shmif0'); // Node's form for udp6: the interface as a scope
    const first = once(rb, 'message');
    tx.send('hello6', PORT, G6);
    await first;
    const second = once(rb, 'message');
    tx.send(big, PORT, G6);
    await second;
    rb.dropMembership(G6);
    t.throws(() => rb.dropMembership(G6), { code: 'EADDRNOTAVAIL' });
    await closeAll(rb, tx);
    return got;
  };
  t.deepEqual(await drive(sim, run()), [
    { text: 'hello6', address: '2001:db8::1', size: 6 },
    { text: 'big, intact', address: '2001:db8::1', size: 65527 },
  ]);
  await a.halt();
  await b.halt();
});

test('udp6: setTTL sets the hop limit of unicast datagrams (IPV6_UNICAST_HOPS), not an IPv4 option', async (t) => {
  const sim = createSimHost({ seed: 26 });
  const a = await host6(sim, '2001:db8::1');
  const b = await host6(sim, '2001:db8::2');
  await dadDone({ sim, kernels: [a, b] });
  const run = async (): Promise<void> => {
    const rb = b.dgram.createSocket('udp6');
    await bound(rb, PORT);
    const tx = a.dgram.createSocket('udp6');
    await bound(tx);
    t.is(tx.setTTL(9), 9);
    const got = once(rb, 'message');
    tx.send('hop', PORT, '2001:db8::2');
    await got;
    await closeAll(rb, tx);
  };
  await drive(sim, run());
  // The IPv6 frames on the bus with UDP (next header 17) to PORT: their hop limit.
  const hops: number[] = [];
  for (const r of readPcap(dumpBus(sim.files.get('bus1')!, {}).pcap).records) {
    const f = r.data;
    if (f[12] !== 0x86 || f[13] !== 0xdd || f[14 + 6] !== 17) continue;
    if (((f[14 + 40 + 2]! << 8) | f[14 + 40 + 3]!) === PORT) hops.push(f[14 + 7]!);
  }
  t.deepEqual(hops, [9]);
  await a.halt();
  await b.halt();
});
