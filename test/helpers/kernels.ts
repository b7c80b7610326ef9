/*
 * Kernels for network tests: N rump kernels with net, net_net and
 * net_netinet on one sim host (one virtual clock, one softint queue), plus
 * the few administrative steps tests repeat (ifconfig, route, sysctl) done
 * through the same kernel entry points the tools use, and an ICMP echo
 * built by hand and sent through ipOutput (no socket layer needed).
 */
import '../../net/components.js';
import '../../net/if/component.js';
import '../../net/inet/component.js';

import type { ExecutionContext } from 'ava';
import { createSimHost, type SimHost } from '../../hypercall/sim.js';
import { Errno } from '../../kern/errno.js';
import { bootKernel } from '../../kern/init.js';
import type { Kernel } from '../../kern/kernel.js';
import { ifioctl } from '../../net/interface_ioctl.js';
import type { Ifnet } from '../../net/interface.js';
import type { ArpInfo, RouteInfo, RtMsg } from '../../net/ioctl.js';
import { netstack } from '../../net/netstack.js';
import { inet, type Inet } from '../../net/inet/inet.js';
import { ipOutput } from '../../net/inet/ip_output.js';
import { ICMP_ECHO, icmpSetChecksum, icmpWriteEcho } from '../../net/wire/icmp.js';
import { parseInAddr } from '../../net/wire/inaddr.js';
import { IPPROTO_ICMP } from '../../net/wire/ipv4.js';

/** The errno a call fails with, by name ('EADDRINUSE'), or 'ok'; anything else is thrown on. */
export async function errnoCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof Errno) return e.code;
    throw e;
  }
}

export const NET_COMPONENTS = ['net', 'net_net', 'net_netinet'] as const;

export interface Kernels {
  sim: SimHost;
  kernels: Kernel[];
}

/** Boot `n` kernels with the IPv4 components on one sim host (`env`: bootstrap parameters, e.g. RUMP_MEMLIMIT). */
export function bootKernels(n: number, seed = 1, env: Record<string, string> = {}): Kernels {
  const sim = createSimHost({ seed });
  const kernels: Kernel[] = [];
  for (let i = 0; i < n; i++) kernels.push(bootKernel({ components: NET_COMPONENTS, host: sim, env }));
  return { sim, kernels };
}

/** Parse a dotted quad or fail the test loudly. */
export function ip(s: string): number {
  const a = parseInAddr(s);
  if (a === null) throw new Error(`bad address ${s}`);
  return a;
}

/** `ifconfig NAME inet A/N [alias]`. */
export function ifconfig(k: Kernel, name: string, cidr: string, alias = false): void {
  const [addr, len] = cidr.split('/');
  const plen = Number(len ?? 24);
  const mask = plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
  const maskText = `${mask >>> 24}.${(mask >>> 16) & 0xff}.${(mask >>> 8) & 0xff}.${mask & 0xff}`;
  ifioctl(netstack(k), 'SIOCAIFADDR', { name, addr, mask: maskText, alias });
}

/** The routing socket message, as rump.route sends it. */
export function route(k: Kernel, msg: RtMsg): Promise<RouteInfo> {
  return k.sys.ext('rtmsg', msg);
}

export function routes(k: Kernel): Promise<RouteInfo[]> {
  return k.sys.ext('rtdump');
}

export function arpTable(k: Kernel): Promise<ArpInfo[]> {
  return k.sys.ext('arpdump');
}

export function ipstat(k: Kernel): Inet['ipstat'] {
  return inet(k).ipstat;
}

export function icmpstat(k: Kernel): Inet['icmpstat'] {
  return inet(k).icmpstat;
}

export function arpstat(k: Kernel): Inet['arpstat'] {
  return inet(k).arpstat;
}

export function ifnet(k: Kernel, name: string): Ifnet {
  return netstack(k).ifs.unit(name);
}

/**
 * Send an ICMP echo request of `size` data bytes from `k` to `dst` through
 * ipOutput (what ping's raw socket ends up doing). Returns ipOutput's errno.
 */
export function sendEcho(k: Kernel, dst: string, opts: { id?: number; seq?: number; size?: number; ttl?: number; src?: string } = {}): number {
  const size = opts.size ?? 56;
  const st = inet(k);
  const m = k.mbufs.get(8 + size);
  if (!m) throw new Error('no memory for the echo request');
  icmpWriteEcho(m.buf, m.off, ICMP_ECHO, opts.id ?? 0x4242, opts.seq ?? 0);
  for (let i = 0; i < size; i++) m.buf[m.off + 8 + i] = i & 0xff;
  icmpSetChecksum(m.buf, m.off, m.len);
  st.icmpstat.outhist[ICMP_ECHO]!++;
  return ipOutput(st, m, opts.src ? ip(opts.src) : 0, ip(dst), IPPROTO_ICMP, opts.ttl ?? st.defttl, 0, 0);
}

/** What a kernel still holds: PCBs (as netstat -a lists them), armed callouts, packet buffers in use. */
export interface Held {
  pcbs: number;
  callouts: number;
  mbufs: number;
}

export async function held(k: Kernel): Promise<Held> {
  let pcbs = 0;
  if (k.extension('pcblist') !== undefined) pcbs = (await k.sys.ext('pcblist')).length;
  return { pcbs, callouts: k.callouts.count, mbufs: k.mbufs.inUse };
}

/**
 * Long enough for every timer a closed kernel may still run: TIME_WAIT,
 * FIN_WAIT_2, reassembly (60 s), ARP entries (20 min), a STALE neighbor
 * (NetBSD's nd6_gctimer, one day).
 */
export const QUIESCE_MS = 25 * 3_600_000;

/**
 * Close every descriptor and run the clock until no kernel has a callout
 * armed (or `maxMs` passed). What is left after that is a leak.
 */
export async function quiesce(ks: Kernels, maxMs = QUIESCE_MS): Promise<void> {
  await ks.sim.settle();
  for (const k of ks.kernels) for (const fd of k.sys.openFds()) await k.sys.close(fd);
  const idle = (): boolean => ks.kernels.every((k) => k.callouts.count === 0);
  const end = ks.sim.now() + maxMs;
  // Deferred work (frames in flight) does not show as a callout: settle
  // after each stretch, and go on if that armed something again.
  do {
    await ks.sim.runUntil(idle, Math.max(0, end - ks.sim.now()));
    await ks.sim.settle();
  } while (!idle() && ks.sim.now() < end);
}

/**
 * The teardown check (lwIP style): close everything, let every timer run
 * out, then fail the test if any kernel still holds a PCB, a callout or a
 * packet buffer, counted before halt (halt empties the callout heap, so a
 * count after it proves nothing). Halts the kernels either way.
 */
export async function leakCheck(t: ExecutionContext, ks: Kernels, maxMs = QUIESCE_MS): Promise<void> {
  await quiesce(ks, maxMs);
  const left = await Promise.all(ks.kernels.map(held));
  for (const k of ks.kernels) await k.halt();
  left.forEach((h, i) => t.deepEqual(h, { pcbs: 0, callouts: 0, mbufs: 0 }, `kernel ${i} leaked`));
}

/**
 * Close everything, let the timers run out, count packet buffers and
 * callouts (before halt, so the count can fail), then halt every kernel.
 */
export async function haltAll(ks: Kernels): Promise<{ mbufsInUse: number[]; callouts: number[] }> {
  await quiesce(ks);
  const out = { mbufsInUse: ks.kernels.map((k) => k.mbufs.inUse), callouts: ks.kernels.map((k) => k.callouts.count) };
  for (const k of ks.kernels) await k.halt();
  return out;
}

/* ------------------------------------------------------------------------ */
/* Hand-built packets, for feeding a kernel exactly what a test wants. */

export interface IpPacketSpec {
  src: string;
  dst: string;
  p: number;
  payload: Uint8Array;
  ttl?: number;
  id?: number;
  /** The whole ip_off word (flags and offset in 8-byte units). */
  off?: number;
  tos?: number;
  /** Option bytes (padded to a multiple of 4 by the caller). */
  options?: Uint8Array;
  /** Override ip_len (default: the real length). */
  len?: number;
}

/** An IPv4 datagram with a correct header checksum. */
export function ipPacket(s: IpPacketSpec): Uint8Array {
  const opt = s.options ?? new Uint8Array(0);
  const hlen = 20 + opt.length;
  const out = new Uint8Array(hlen + s.payload.length);
  out[0] = 0x40 | (hlen >>> 2);
  out[1] = s.tos ?? 0;
  const len = s.len ?? out.length;
  out[2] = len >>> 8;
  out[3] = len & 0xff;
  const id = s.id ?? 1;
  out[4] = id >>> 8;
  out[5] = id & 0xff;
  const off = s.off ?? 0;
  out[6] = off >>> 8;
  out[7] = off & 0xff;
  out[8] = s.ttl ?? 64;
  out[9] = s.p;
  new DataView(out.buffer).setUint32(12, ip(s.src));
  new DataView(out.buffer).setUint32(16, ip(s.dst));
  out.set(opt, 20);
  setIpChecksum(out);
  out.set(s.payload, hlen);
  return out;
}

/** Recompute the header checksum of the datagram at the start of `pkt`. */
export function setIpChecksum(pkt: Uint8Array, at = 0): void {
  const hlen = (pkt[at]! & 0x0f) << 2;
  pkt[at + 10] = 0;
  pkt[at + 11] = 0;
  let sum = 0;
  for (let i = 0; i < hlen; i += 2) sum += (pkt[at + i]! << 8) | pkt[at + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  pkt[at + 10] = c >>> 8;
  pkt[at + 11] = c & 0xff;
}

/** An ICMP echo request (or any type) with a correct checksum. */
export function icmpMessage(type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  out[0] = type;
  out[1] = code;
  new DataView(out.buffer).setUint32(4, rest >>> 0);
  out.set(data, 8);
  let sum = 0;
  for (let i = 0; i < out.length; i += 2) sum += (out[i]! << 8) | (out[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  out[2] = c >>> 8;
  out[3] = c & 0xff;
  return out;
}

/** An Ethernet II frame. */
export function etherFrame(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >>> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/** A MAC no kernel in the tests uses: the "outside" sender of injected frames. */
export const STRANGER_MAC = new Uint8Array([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);

/** What a tap saw, decoded just enough to assert on. */
export interface SeenFrame {
  type: number;
  dstMac: string;
  srcMac: string;
  /** ARP: op, sender/target addresses as text. */
  arp?: { op: number; sha: string; spa: string; tha: string; tpa: string };
  /** IPv4: addresses, protocol, ttl, id, ip_off word, total length; ICMP type/code if ICMP. */
  ip?: { src: string; dst: string; p: number; ttl: number; id: number; off: number; len: number; icmpType?: number; icmpCode?: number };
  frame: Uint8Array;
}

const hex = (b: Uint8Array, at: number): string =>
  [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const dotted = (b: Uint8Array, at: number): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

export function decodeFrame(f: Uint8Array): SeenFrame {
  const type = (f[12]! << 8) | f[13]!;
  const out: SeenFrame = { type, dstMac: hex(f, 0), srcMac: hex(f, 6), frame: f };
  if (type === 0x0806 && f.length >= 42) {
    out.arp = { op: (f[20]! << 8) | f[21]!, sha: hex(f, 22), spa: dotted(f, 28), tha: hex(f, 32), tpa: dotted(f, 38) };
  } else if (type === 0x0800 && f.length >= 34) {
    const hl = (f[14]! & 0x0f) << 2;
    const p = f[23]!;
    out.ip = {
      src: dotted(f, 26), dst: dotted(f, 30), p, ttl: f[22]!, id: (f[18]! << 8) | f[19]!,
      off: (f[20]! << 8) | f[21]!, len: (f[16]! << 8) | f[17]!,
    };
    const offWord = out.ip.off & 0x1fff;
    if (p === 1 && offWord === 0 && f.length >= 14 + hl + 2) {
      out.ip.icmpType = f[14 + hl]!;
      out.ip.icmpCode = f[14 + hl + 1]!;
    }
  }
  return out;
}

/** `n` bytes of a xorshift sequence from `seed`: data whose every byte a transfer test can check (by its sha256). */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
