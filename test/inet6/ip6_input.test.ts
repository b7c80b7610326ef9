/*
 * IPv6 input and ICMPv6: echo, extension headers, and every kind of bad
 * packet, each dropped and counted in its own counter (or answered with the
 * ICMPv6 error RFC 8200 / RFC 4443 call for), without throwing or leaking.
 *
 *      a                               "stranger" 2001:db8::50
 *   hub0 2001:db8::1/64                (frames injected by the test; a
 *      |                                learns its MAC from a solicitation)
 *   ===+=============lan================
 */
import test from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { inet } from '../../net/inet/inet.js';
import { ndWriteNs, icmp6SetChecksum } from '../../net/wire/icmp6.js';
import { ip6WriteHeader } from '../../net/wire/ipv6.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { haltAll, ifnet, type Kernels } from '../helpers/kernels.js';
import { bootKernels6, dadDone, decode6, ether6, ifconfig6, ip6, ip6Packet, stats6, type Seen6 } from './helpers.js';

const STRANGER = Uint8Array.of(0x02, 0x00, 0x5e, 0x10, 0x20, 0x30);
const S = '2001:db8::50';
const A = '2001:db8::1';

interface Lan {
  ks: Kernels;
  a: Kernel;
  hub: Hub;
  /** Frames a sent. */
  out: Seen6[];
  send(pkt: Uint8Array, dstMac?: Uint8Array): void;
}

async function lan(): Promise<Lan> {
  const ks = bootKernels6(1);
  const a = ks.kernels[0]!;
  const hub = new Hub('lan');
  const out: Seen6[] = [];
  const ifp = attachEther(a, hub);
  hub.tap((f, from) => {
    const d = decode6(f);
    if (d && from === ifp) out.push(d);
  });
  ifconfig6(a, 'hub0', `${A}/64`);
  await dadDone(ks);
  const macA = ifnet(a, 'hub0').lladdr!;
  const l: Lan = { ks, a, hub, out, send: (pkt, dst = macA) => hub.inject(ether6(dst, STRANGER, pkt)) };
  // The stranger introduces itself with a solicitation (a learns its MAC, RFC 4861 §7.2.3).
  const ns = new Uint8Array(32);
  const len = ndWriteNs(ns, 0, ip6(A), 0, STRANGER);
  const solicit = new Uint8Array(40 + len);
  solicit.set(ns.subarray(0, len), 40);
  ip6WriteHeader(solicit, 0, 0, 0, len, 58, 255, ip6(S), 0, ip6('ff02::1:ff00:1'), 0);
  icmp6SetChecksum(solicit, 40, len, ip6(S), 0, ip6('ff02::1:ff00:1'), 0);
  l.send(solicit, Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 1));
  await ks.sim.settle();
  out.length = 0;
  return l;
}

/** An ICMPv6 echo request body with a correct checksum for S → dst. */
function echo(dst = A, data = 24): Uint8Array {
  const b = new Uint8Array(8 + data);
  b[0] = 128;
  b.set([0x12, 0x34, 0x00, 0x07], 4);
  for (let i = 0; i < data; i++) b[8 + i] = i;
  return b;
}

const echoPkt = (o: { dst?: string; src?: string; nxt?: number; ext?: Uint8Array; hlim?: number } = {}): Uint8Array => {
  const body = echo(o.dst ?? A);
  const ext = o.ext ?? new Uint8Array(0);
  const payload = new Uint8Array(ext.length + body.length);
  payload.set(ext, 0);
  payload.set(body, ext.length);
  // The ICMPv6 checksum covers only the ICMPv6 message: compute it on its own.
  const msg = ip6Packet({ src: o.src ?? S, dst: o.dst ?? A, nxt: 58, payload: body, csumAt: 2 });
  payload.set(msg.subarray(40), ext.length);
  return ip6Packet({ src: o.src ?? S, dst: o.dst ?? A, nxt: o.nxt ?? 58, payload, hlim: o.hlim });
};

test('echo: the reply comes from the address asked, to the asker, with the same identifier, sequence and data', async (t) => {
  const l = await lan();
  l.send(echoPkt());
  await l.ks.sim.settle();
  t.is(l.out.length, 1);
  const r = l.out[0]!;
  t.like(r, { src: A, dst: S, icmpType: 129, icmpCode: 0, hlim: 64, dstMac: '02:00:5e:10:20:30' });
  t.deepEqual([...r.frame.subarray(14 + 40 + 4)], [0x12, 0x34, 0, 7, ...Array.from({ length: 24 }, (_, i) => i)]);
  const st = stats6(l.a);
  t.is(st.icmp6stat.reflect, 1);
  t.is(st.icmp6stat.inhist[128], 1);
  t.is(st.icmp6stat.outhist[129], 1);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0], callouts: [0] });
});

test('malformed or misaddressed packets are dropped, each in its own counter, with no reply', async (t) => {
  const l = await lan();
  const st = stats6(l.a).ip6stat;
  const delivered = st.delivered;
  const good = echoPkt();
  const cases: Array<[string, Uint8Array, keyof typeof st]> = [
    ['shorter than a header', good.subarray(0, 30), 'toosmall'],
    ['version 4 in an IPv6 frame', (() => { const b = good.slice(); b[0] = 0x45; return b; })(), 'badvers'],
    ['payload length past the frame', good.subarray(0, good.length - 4), 'tooshort'],
    ['a multicast source', echoPkt({ src: 'ff02::1' }), 'badaddr'],
    ['::1 from the wire', echoPkt({ dst: '::1' }), 'badaddr'],
    ['a v4-mapped source', echoPkt({ src: '::ffff:192.0.2.1' }), 'badaddr'],
    ['a group not joined', echoPkt({ dst: 'ff02::2' }), 'notmember'],
    ['someone else\'s address (no IPv6 forwarding)', echoPkt({ dst: '2001:db8::77' }), 'cantforward'],
    ['a first fragment (held for reassembly, no reply yet)', echoPkt({ nxt: 44, ext: Uint8Array.of(58, 0, 0, 1, 0, 0, 0, 9) }), 'fragments'],
    ['No Next Header', ip6Packet({ src: S, dst: A, nxt: 59, payload: new Uint8Array(8) }), 'total'],
    ['Hop-by-Hop with an unknown "discard" option', echoPkt({ nxt: 0, ext: Uint8Array.of(58, 0, 0x7e, 2, 0, 0, 1, 0) }), 'badoptions'],
  ];
  for (const [what, pkt, counter] of cases) {
    const before = st[counter] as number;
    l.send(pkt);
    await l.ks.sim.settle();
    t.is((st[counter] as number) - before, 1, what);
    t.is(l.out.length, 0, `${what}: no reply`);
  }
  t.is(st.fragments, 1);
  t.is(st.delivered, delivered, 'nothing reached a protocol');
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0], callouts: [0] });
});

test('extension headers a host follows: padding options, an atomic fragment, a spent routing header', async (t) => {
  const l = await lan();
  // Destination options with Pad1 and PadN, then the echo.
  l.send(echoPkt({ nxt: 60, ext: Uint8Array.of(58, 0, 0, 1, 2, 0, 0, 0) }));
  // RFC 6946: offset 0 and no more fragments is the whole packet.
  l.send(echoPkt({ nxt: 44, ext: Uint8Array.of(58, 0, 0, 0, 0, 0, 0, 9) }));
  // Routing header with segments left 0 (RFC 8200 §4.4): skipped.
  l.send(echoPkt({ nxt: 43, ext: Uint8Array.of(58, 0, 4, 0, 0, 0, 0, 0) }));
  // Hop-by-Hop first, with Router Alert (type 5: "skip if unknown"; a host has no use for it).
  l.send(echoPkt({ nxt: 0, ext: Uint8Array.of(58, 0, 5, 2, 0, 0, 1, 0) }));
  await l.ks.sim.settle();
  t.is(l.out.filter((f) => f.icmpType === 129).length, 4);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0], callouts: [0] });
});

test('what calls for a parameter problem gets one, pointing at the offending byte (RFC 8200 §4)', async (t) => {
  const l = await lan();
  const problems: Array<[string, Uint8Array, number, number]> = [
    // [what, packet, code, pointer]
    ['an unknown next header', ip6Packet({ src: S, dst: A, nxt: 253, payload: new Uint8Array(8) }), 1, 6],
    ['Hop-by-Hop after another header', echoPkt({ nxt: 60, ext: Uint8Array.of(0, 0, 1, 4, 0, 0, 0, 0, 58, 0, 1, 4, 0, 0, 0, 0) }), 1, 40],
    ['an unknown option that asks for a report', echoPkt({ nxt: 60, ext: Uint8Array.of(58, 0, 0x9e, 1, 0, 1, 1, 0) }), 2, 42],
    ['a routing header with segments left', echoPkt({ nxt: 43, ext: Uint8Array.of(58, 0, 0, 1, 0, 0, 0, 0) }), 0, 42],
    ['an option running past its header', echoPkt({ nxt: 60, ext: Uint8Array.of(58, 0, 1, 9, 0, 0, 0, 0) }), 0, 43],
  ];
  for (const [what, pkt, code, ptr] of problems) {
    l.out.length = 0;
    l.send(pkt);
    await l.ks.sim.settle();
    const e = l.out[0];
    t.like(e, { icmpType: 4, icmpCode: code, src: A, dst: S }, what);
    const f = e!.frame;
    t.is(new DataView(f.buffer, f.byteOffset).getUint32(14 + 40 + 4), ptr, `${what}: pointer`);
    // RFC 4443 §2.4 (c): the offending packet is quoted from its first byte.
    t.deepEqual([...f.subarray(14 + 48, 14 + 48 + 40)], [...pkt.subarray(0, 40)], `${what}: quote`);
  }
  const st = stats6(l.a);
  t.is(st.ip6stat.noproto, 1);
  t.is(st.icmp6stat.outhist[4], problems.length);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0], callouts: [0] });
});

test('no ICMPv6 error about an ICMPv6 error, a multicast destination, or beyond the rate limit', async (t) => {
  const l = await lan();
  const st = stats6(l.a).icmp6stat;
  // A destination unreachable with an option that would ask for a report: no report about an error.
  const err = new Uint8Array(8 + 48);
  err[0] = 1;
  err[1] = 4;
  const errPkt = ip6Packet({ src: S, dst: A, nxt: 58, payload: err, csumAt: 2 });
  const withOpt = new Uint8Array(8 + err.length);
  withOpt.set([58, 0, 0x9e, 1, 0, 1, 1, 0]);
  withOpt.set(errPkt.subarray(40), 8);
  l.send(ip6Packet({ src: S, dst: A, nxt: 60, payload: withOpt }));
  // An unknown next header sent to all nodes: no error (§2.4 (e.3)).
  l.send(ip6Packet({ src: S, dst: 'ff02::1', nxt: 253, payload: new Uint8Array(8) }), Uint8Array.of(0x33, 0x33, 0, 0, 0, 1));
  await l.ks.sim.settle();
  t.is(l.out.length, 0);
  t.is(st.canterror, 2);
  // net.inet6.icmp6.errppslimit: at most that many errors in a second.
  await l.a.sys.sysctlSet('net.inet6.icmp6.errppslimit', 2);
  for (let i = 0; i < 5; i++) l.send(ip6Packet({ src: S, dst: A, nxt: 253, payload: new Uint8Array(8) }));
  await l.ks.sim.settle();
  t.is(l.out.length, 2);
  t.is(st.toofreq, 3);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0], callouts: [0] });
});

test('bad checksums: ICMPv6 and TCP drop and count; every truncation of a TCP SYN is refused without a trace', async (t) => {
  const l = await lan();
  const bad = echoPkt();
  bad[bad.length - 1]! ^= 0xff;
  l.send(bad);
  const syn = new Uint8Array(20);
  syn.set([0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff]);
  const good = ip6Packet({ src: S, dst: A, nxt: 6, payload: syn, csumAt: 16 });
  const badTcp = good.slice();
  badTcp[40 + 4]! ^= 1;
  l.send(badTcp);
  await l.ks.sim.settle();
  t.is(stats6(l.a).icmp6stat.checksum, 1);
  t.is(inet(l.a).tcpstat.rcvbadsum, 1);
  t.is(l.out.length, 0);
  // Each cut of the frame (the header still claiming the full length) and each
  // consistent shortening of the payload: dropped and counted, never a crash.
  for (let len = 0; len < good.length; len++) l.send(good.subarray(0, len));
  for (let plen = 0; plen < 20; plen++) {
    const p = good.slice(0, 40 + plen);
    p[4] = 0;
    p[5] = plen;
    l.send(p);
  }
  await l.ks.sim.settle();
  const ip = stats6(l.a).ip6stat;
  t.is(ip.toosmall + ip.tooshort, good.length);
  t.is(inet(l.a).tcpstat.rcvshort, 20);
  t.is(l.out.length, 0);
  // The whole SYN, to a closed port: an RST (RFC 9293 §3.10.7.1), from the address asked.
  l.send(good);
  await l.ks.sim.settle();
  t.like(l.out[0], { src: A, dst: S, nxt: 6, tcpFlags: 0x14, sport: 8080, dport: 40000 });
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0], callouts: [0] });
});

test('hostile input: thousands of random packets behind a valid fixed header never throw and leak nothing', async (t) => {
  const l = await lan();
  let x = 0x2545f491;
  const rnd = (n: number): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const nexts = [0, 6, 17, 43, 44, 58, 59, 60, 253];
  for (let i = 0; i < 3000; i++) {
    const body = Uint8Array.from({ length: rnd(120) }, () => rnd(256));
    // Sometimes a plausible ICMPv6 or extension header start, to get past the first checks.
    if (body.length > 1 && rnd(2)) body[0] = nexts[rnd(nexts.length)]!;
    if (body.length > 1 && rnd(2)) body[1] = rnd(3);
    const pkt = ip6Packet({
      src: rnd(8) ? S : 'fe80::1', dst: rnd(10) ? A : 'ff02::1', nxt: nexts[rnd(nexts.length)]!, payload: body,
      hlim: rnd(2) ? 255 : 64, csumAt: body.length >= 8 && rnd(2) ? 2 : undefined, csumProto: 58,
      plen: rnd(6) ? undefined : rnd(200),
    });
    l.send(pkt);
    if (i % 100 === 0) await l.ks.sim.settle();
  }
  await l.ks.sim.run(10_000);
  t.true(stats6(l.a).ip6stat.total >= 3000);
  t.deepEqual(await haltAll(l.ks), { mbufsInUse: [0], callouts: [0] });
});
