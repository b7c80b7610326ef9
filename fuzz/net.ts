/*
 * Network targets: a kernel under test (B) and a peer (A) on one Ethernet
 * hub on the simulated clock, dual stack:
 *
 *     kernel A  hub0 10.0.0.1 fd00::1 ═══ hub ═══ hub0 10.0.0.2 fd00::2  kernel B
 *                                                  UDP :53 (v4, v6), TCP listeners :7777 (v4, v6),
 *                                                  one established TCP connection from A (v4, v6)
 *
 * The corpus is what A really sent B while the world was set up (ARP, ND,
 * ICMP echo, UDP, the TCP handshakes and data: the kernel's own wire
 * writers built them) plus hand-built frames for what a quiet setup never
 * sends (IPv4 options and fragments, IPv6 extension headers and fragments,
 * ICMP errors, router advertisements). Mutated frames enter B the way a
 * driver's receive does: copied into one of B's packet buffers and handed
 * to the interface's input from the host's softint queue.
 *
 * Per target only the corpus differs (the frames of that protocol), so the
 * mutations stay near the code under test.
 */
import type { Kernel } from '../kern/kernel.js';
import type { Mbuf } from '../kern/mbuf.js';
import { AF_INET, AF_INET6, SHUT_WR, SOCK_DGRAM, SOCK_STREAM } from '../kern/sys.js';
import { IFF_UP, type Ifnet } from '../net/interface.js';
import { netstack } from '../net/netstack.js';
import { Hub, attachEther } from '../test/helpers/hub.js';
import { etherFrame, icmpMessage, ifconfig, ipPacket, held, quiesce, sendEcho } from '../test/helpers/kernels.js';
import { bootKernels6, ifconfig6, ip6Packet } from '../test/inet6/helpers.js';
import { fixChecksums } from './engine.js';
import type { Session } from './target.js';

const A4 = '10.0.0.1';
const B4 = '10.0.0.2';
const A6 = 'fd00::1';
const B6 = 'fd00::2';
const PORT = 7777;
const A_PORT = 7778;
const STORM_FRAMES = 20_000;

export type NetCorpus = 'ether' | 'ipv4' | 'ipv6' | 'icmp' | 'icmp6' | 'udp' | 'tcp-listen' | 'tcp-established' | 'tcp-states';

interface Delivery {
  ifp: Ifnet;
  m: Mbuf;
}

function deliver(d: Delivery): void {
  if (d.ifp.kernel.halted) d.ifp.kernel.mbufs.free(d.m);
  else d.ifp.input(d.ifp, d.m);
}

function classify(f: Uint8Array): NetCorpus[] {
  const type = (f[12]! << 8) | f[13]!;
  const out: NetCorpus[] = ['ether'];
  let p = -1;
  let tcpFlags = 0;
  if (type === 0x0800) {
    out.push('ipv4');
    p = f[23]!;
    const hl = (f[14]! & 0x0f) << 2;
    tcpFlags = f[14 + hl + 13] ?? 0;
    if (p === 1) out.push('icmp');
  } else if (type === 0x86dd) {
    out.push('ipv6');
    p = f[20]!;
    tcpFlags = f[54 + 13] ?? 0;
    if (p === 58) out.push('icmp6');
  }
  if (p === 17) out.push('udp');
  if (p === 6) out.push(tcpFlags & 0x02 ? 'tcp-listen' : 'tcp-established', 'tcp-states');
  return out;
}

const bytes = (n: number, v = 0x61): Uint8Array => new Uint8Array(n).fill(v);

/** Frames a quiet setup never sends, built with the test helpers' writers. */
function handBuilt(macA: Uint8Array, macB: Uint8Array): Uint8Array[] {
  const e4 = (p: Uint8Array): Uint8Array => etherFrame(macB, macA, 0x0800, p);
  const e6 = (p: Uint8Array): Uint8Array => etherFrame(macB, macA, 0x86dd, p);
  const udp = (sport: number, dport: number, data: Uint8Array): Uint8Array => {
    const u = new Uint8Array(8 + data.length);
    u[0] = sport >>> 8; u[1] = sport & 0xff; u[2] = dport >>> 8; u[3] = dport & 0xff;
    u[4] = u.length >>> 8; u[5] = u.length & 0xff;
    u.set(data, 8);
    return u;
  };
  const echo = icmpMessage(8, 0, 0x12340001, bytes(32));
  const inner = ipPacket({ src: B4, dst: A4, p: 17, payload: udp(1234, 9, bytes(8)) });
  const out: Uint8Array[] = [
    // IPv4 options: record route, timestamp, loose source route, NOPs and EOL, router alert.
    e4(ipPacket({ src: A4, dst: B4, p: 1, payload: echo, options: Uint8Array.of(7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0) })),
    e4(ipPacket({ src: A4, dst: B4, p: 1, payload: echo, options: Uint8Array.of(68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0) })),
    e4(ipPacket({ src: A4, dst: B4, p: 1, payload: echo, options: Uint8Array.of(131, 7, 4, 10, 0, 0, 2, 0) })),
    e4(ipPacket({ src: A4, dst: B4, p: 17, payload: udp(1000, 53, bytes(4)), options: Uint8Array.of(1, 1, 148, 4, 0, 0, 0, 0) })),
    // IPv4 fragments of one UDP datagram (id 77): first, middle, last, and an overlapping one.
    ...[0x2000, 0x2002, 0x0004, 0x2001].map((off, i) =>
      e4(ipPacket({ src: A4, dst: B4, p: 17, id: 77, off, payload: i === 0 ? udp(1000, 53, bytes(40 - 8)).subarray(0, 16) : bytes(16, i) }))),
    // ICMP: timestamp, port unreachable, fragmentation needed, time exceeded, redirect, parameter problem (each quoting a datagram).
    e4(ipPacket({ src: A4, dst: B4, p: 1, payload: icmpMessage(13, 0, 0x00010001, bytes(12, 0)) })),
    ...[[3, 3, 0], [3, 4, 1400], [11, 0, 0], [5, 1, 0x0a000001], [12, 0, 0x14000000]].map(([type, code, rest]) =>
      e4(ipPacket({ src: A4, dst: B4, p: 1, payload: icmpMessage(type!, code!, rest!, inner.subarray(0, 28)) }))),
  ];
  // IPv6: hop-by-hop (router alert, PadN), destination options, a routing header, fragments.
  const udp6 = udp(1000, 53, bytes(24));
  const hbh = Uint8Array.of(17, 0, 5, 2, 0, 0, 1, 0);
  const dst = Uint8Array.of(17, 0, 1, 4, 0, 0, 0, 0);
  const rh = new Uint8Array(24);
  rh.set([17, 2, 0, 1]);
  rh.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 8);
  const cat = (...xs: Uint8Array[]): Uint8Array => {
    const o = new Uint8Array(xs.reduce((n, x) => n + x.length, 0));
    let at = 0;
    for (const x of xs) { o.set(x, at); at += x.length; }
    return o;
  };
  out.push(e6(ip6Packet({ src: A6, dst: B6, nxt: 0, payload: cat(hbh, udp6) })));
  out.push(e6(ip6Packet({ src: A6, dst: B6, nxt: 60, payload: cat(dst, udp6) })));
  out.push(e6(ip6Packet({ src: A6, dst: B6, nxt: 43, payload: cat(rh, udp6) })));
  const frag = (offM: number, data: Uint8Array): Uint8Array =>
    e6(ip6Packet({ src: A6, dst: B6, nxt: 44, payload: cat(Uint8Array.of(17, 0, offM >>> 8, offM & 0xff, 0, 0, 0, 99), data) }));
  out.push(frag(0x0001, udp6.subarray(0, 16)), frag(0x0010 | 1, bytes(16, 2)), frag(0x0020, bytes(16, 3)));
  // ICMPv6: echo, packet too big, unreachable, an RA with prefix and MTU options, a redirect.
  const icmp6 = (type: number, code: number, body: Uint8Array, src = A6, dstA = B6): Uint8Array =>
    e6(ip6Packet({ src, dst: dstA, nxt: 58, hlim: 255, payload: cat(Uint8Array.of(type, code, 0, 0), body), csumAt: 2 }));
  const inner6 = ip6Packet({ src: B6, dst: A6, nxt: 17, payload: udp(1234, 9, bytes(8)) });
  out.push(icmp6(128, 0, cat(Uint8Array.of(0, 1, 0, 1), bytes(16))));
  out.push(icmp6(2, 0, cat(Uint8Array.of(0, 0, 5, 0), inner6)));
  out.push(icmp6(1, 4, cat(bytes(4, 0), inner6)));
  const pio = new Uint8Array(32);
  pio.set([3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08]);
  pio.set([0xfd, 0, 0, 0], 16);
  out.push(icmp6(134, 0, cat(Uint8Array.of(64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0), pio, Uint8Array.of(5, 1, 0, 0, 0, 0, 5, 0xdc)), 'fe80::1', 'ff02::1'));
  const target = new Uint8Array(32);
  target.set([0xfe, 0x80], 0);
  target[15] = 9;
  target.set([0xfd, 0], 16);
  target[31] = 9;
  out.push(icmp6(137, 0, cat(bytes(4, 0), target), 'fe80::1'));
  return out;
}

/**
 * For 'tcp-states': B holds a connection in every state a peer's segment
 * can find it in, each with A as the peer, so mutated segments from A's
 * corpus reach every state's input handling (tcp_input's per-state cases):
 *
 *   ESTABLISHED (the common setup), FIN_WAIT_2 (B shut its side, A did
 *   not), TIME_WAIT (B closed, then A), CLOSE_WAIT (A shut its side);
 *   then A goes silent (its interface down) and B is left with LAST_ACK
 *   (B closes after A's FIN), FIN_WAIT_1 (B closes, no ACK comes),
 *   SYN_SENT (B connects, nobody answers) and a SYN-RECEIVED entry in its
 *   SYN cache (A's SYN came, B's SYN-ACK finds A gone).
 *
 * Both families. A's frames from all of it are the corpus.
 */
async function holdTcpStates(a: Kernel, b: Kernel, ifA: Ifnet, sim: ReturnType<typeof bootKernels6>['sim'], listeners: Map<number, number>): Promise<void> {
  const fams = [[AF_INET, A4, B4, '0.0.0.0'], [AF_INET6, A6, B6, '::']] as const;
  const sa = (fam: number, addr: string, port: number) => ({ family: fam, addr, port });
  const later: Array<() => Promise<void>> = [];
  for (const [fam, aAddr, bAddr, any] of fams) {
    const l = await a.sys.socket(fam, SOCK_STREAM, 0);
    await a.sys.bind(l, sa(fam, any, A_PORT));
    await a.sys.listen(l, 16);
    const bToA = async (): Promise<number> => {
      const fd = await b.sys.socket(fam, SOCK_STREAM, 0);
      const p = b.sys.connect(fd, sa(fam, aAddr, A_PORT));
      await sim.run(50);
      await p;
      return fd;
    };
    const aToB = async (): Promise<{ a: number; b: number }> => {
      const fd = await a.sys.socket(fam, SOCK_STREAM, 0);
      const p = a.sys.connect(fd, sa(fam, bAddr, PORT));
      await sim.run(50);
      await p;
      // B's queue also holds the common setup's connection, never accepted: take ours.
      const port = (await a.sys.getsockname(fd)).port;
      for (;;) {
        const got = await b.sys.accept(listeners.get(fam)!);
        if (got.addr.port === port) return { a: fd, b: got.fd };
      }
    };
    const fw2 = await bToA();
    const tw = await bToA();
    await a.sys.accept(l);
    const atw = (await a.sys.accept(l)).fd;
    await b.sys.write(fw2, bytes(100));
    await b.sys.shutdown(fw2, SHUT_WR);
    await b.sys.close(tw);
    await sim.run(50);
    await a.sys.close(atw);
    const cw = await aToB();
    await a.sys.write(cw.a, bytes(50));
    await a.sys.shutdown(cw.a, SHUT_WR);
    const la = await aToB();
    await a.sys.shutdown(la.a, SHUT_WR);
    const fw1 = await aToB();
    await sim.run(50);
    later.push(async () => {
      await b.sys.close(la.b);
      await b.sys.close(fw1.b);
      const ss = await b.sys.socket(fam, SOCK_STREAM, 0);
      void b.sys.connect(ss, sa(fam, aAddr, A_PORT)).catch(() => {});
    });
    // A SYN to B whose SYN-ACK finds A gone: A falls silent as its SYN leaves.
    if (fam === AF_INET6) {
      const syn = await a.sys.socket(fam, SOCK_STREAM, 0);
      const ns = netstack(a);
      const orig = ifA.output;
      ifA.output = (ifp, m, af, dst) => {
        const r = orig.call(ifA, ifp, m, af, dst);
        ifA.output = orig;
        ns.ifs.setFlags(ifA, ifA.flags & ~IFF_UP);
        return r;
      };
      void a.sys.connect(syn, sa(fam, bAddr, PORT)).catch(() => {});
    }
  }
  await sim.run(10);
  for (const f of later) await f();
  await sim.run(100);
}

/** A fresh world for one round of a network target. */
export async function openNet(kind: NetCorpus, seed: number): Promise<Session> {
  const ks = bootKernels6(2, seed);
  const [a, b] = ks.kernels as [Kernel, Kernel];
  const sim = ks.sim;
  const hub = new Hub('lan');
  const ifA = attachEther(a, hub);
  const ifB = attachEther(b, hub);
  ifconfig(a, ifA.name, `${A4}/24`);
  ifconfig(b, ifB.name, `${B4}/24`);
  ifconfig6(a, ifA.name, `${A6}/64`);
  ifconfig6(b, ifB.name, `${B6}/64`);
  const captured: Uint8Array[] = [];
  let fromA = 0;
  hub.tap((frame, from) => {
    if (from !== ifA) return;
    fromA++;
    if (captured.length < (kind === 'tcp-states' ? 600 : 200)) captured.push(frame);
  });
  await sim.run(5_000); // DAD

  // What B serves: UDP :53 and TCP :7777, on both families.
  const sin4 = (addr: string, port: number) => ({ family: AF_INET, addr, port });
  const sin6 = (addr: string, port: number) => ({ family: AF_INET6, addr, port });
  const listeners = new Map<number, number>();
  for (const [fam, any] of [[AF_INET, '0.0.0.0'], [AF_INET6, '::']] as const) {
    const sa = fam === AF_INET ? sin4 : sin6;
    const u = await b.sys.socket(fam, SOCK_DGRAM, 0);
    await b.sys.bind(u, sa(any, 53));
    const l = await b.sys.socket(fam, SOCK_STREAM, 0);
    await b.sys.bind(l, sa(any, PORT));
    await b.sys.listen(l, 16);
    listeners.set(fam, l);
  }
  // What A sends: echo, datagrams, two connections with data both ways.
  sendEcho(a, B4, { size: 32 });
  for (const [fam, addr] of [[AF_INET, B4], [AF_INET6, B6]] as const) {
    const sa = fam === AF_INET ? sin4 : sin6;
    const u = await a.sys.socket(fam, SOCK_DGRAM, 0);
    await a.sys.sendto(u, bytes(20), 0, sa(addr, 53));
    await a.sys.sendto(u, bytes(20), 0, sa(addr, 9));
    const c = await a.sys.socket(fam, SOCK_STREAM, 0);
    const cp = a.sys.connect(c, sa(addr, PORT));
    await sim.run(50);
    await cp;
    await a.sys.write(c, bytes(300));
    await sim.run(50);
  }
  await sim.run(500);
  if (kind === 'tcp-states') await holdTcpStates(a, b, ifA, sim, listeners);

  const corpus = [...captured, ...handBuilt(ifA.lladdr!, ifB.lladdr!)].filter((f) => classify(f).includes(kind));
  if (corpus.length === 0) throw new Error(`no ${kind} frames in the corpus`);
  const base = { seen: ifB.stats.ipackets + ifB.stats.ierrors, fromA, drops: hub.drops };
  let fed = 0;
  let noMemory = 0;

  return {
    corpus,
    kernel: b,
    maxLen: 1514,
    fix: fixChecksums,
    feed(input) {
      const m = b.mbufs.copyin(input, 0, input.length);
      if (!m) {
        noMemory++;
        return;
      }
      fed++;
      sim.defer(deliver, { ifp: ifB, m });
    },
    async batchEnd(ms) {
      // A storm (two kernels answering each other for ever) would never
      // return: stop at a number of frames no batch of 50 inputs can draw.
      const start = hub.frames;
      if (await sim.runUntil(() => hub.frames - start > STORM_FRAMES, ms)) {
        throw new Error(`a storm: more than ${STORM_FRAMES} frames between the kernels after one batch`);
      }
    },
    async close() {
      const problems: string[] = [];
      await sim.settle();
      // Every frame handed to B's interface was counted there, once.
      if (ifB.isUp) {
        const seen = ifB.stats.ipackets + ifB.stats.ierrors - base.seen;
        const sent = fed + (fromA - base.fromA) - (hub.drops - base.drops);
        if (seen !== sent) problems.push(`B's interface counted ${seen} frames in, ${sent} were delivered`);
      }
      if (noMemory > 0 && b.mbufs.inUse === 0) problems.push(`${noMemory} inputs found no packet buffer while none were in use`);
      // The teardown leak check: close everything, let every timer run out.
      await quiesce(ks);
      for (const [name, k] of [['A', a], ['B', b]] as const) {
        const h = await held(k);
        if (h.pcbs || h.callouts || h.mbufs) problems.push(`kernel ${name} leaked ${JSON.stringify(h)}`);
      }
      for (const k of ks.kernels) await k.halt();
      return problems;
    },
  };
}
