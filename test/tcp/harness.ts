/*
 * A connection-in-any-state harness for TCP tests (smoltcp's and gVisor's
 * style, packetdrill's notation): one kernel under test on a hub, and a
 * scripted remote TCP ("the peer") that the test speaks for, segment by
 * segment, on the sim host's virtual clock.
 *
 *     kernel under test                 the peer (this file)
 *     hub0 10.0.0.1/24   ════ hub ════  10.0.0.2, MAC 02:00:5e:10:20:30
 *
 *   const p = await Peer.create({ freebsd: true });
 *   const fd = await p.activeOpen();            // ESTABLISHED, handshake checked
 *   await p.send('F.', 1, 1);                   // the peer's FIN at seq 1, ack 1
 *   t.is(p.next(), '. 1:1(0) ack 2 win 65535'); // what the kernel answered
 *   t.is(await p.state(fd), 'CLOSE_WAIT');
 *
 * Sequence numbers are relative as in packetdrill: the kernel's from its
 * ISN (learned from its SYN or SYN-ACK), the peer's from PEER_ISN. What the
 * kernel sends is decoded by net/wire/tcp.ts's formatTcpSegment, with the
 * timestamp value replaced by `*` unless asked for.
 */
import type { ExecutionContext } from 'ava';
import type { Kernel } from '../../kern/kernel.js';
import { AF_INET, F_SETFL, O_NONBLOCK, SOCK_STREAM, type Sockaddr } from '../../kern/sys.js';
import type { Ifnet } from '../../net/interface.js';
import { inet } from '../../net/inet/inet.js';
import { FREEBSD_TCP_PROFILE, TCP_INFO } from '../../net/inet/tcp/usrreq.js';
import { TCP_STATE_NAMES } from '../../net/inet/tcp/fsm.js';
import {
  TH_ACK, TH_FIN, TH_PUSH, TH_RST, TH_SYN, TH_URG, TcpOptions, formatTcpSegment, tcpAck, tcpFlags, tcpHlen,
  tcpOptEol, tcpOptMss, tcpOptNop, tcpOptSack, tcpOptSackPermitted, tcpOptTimestamp, tcpOptWscale, tcpParseOptions,
  tcpSeq, tcpSetChecksum, tcpWin, tcpWriteHeader,
} from '../../net/wire/tcp.js';
import { IPPROTO_TCP } from '../../net/wire/ipv4.js';
import { Hub, attachEther } from '../helpers/hub.js';
import { bootKernels, errnoCode, etherFrame, ifconfig, ip, ipPacket, leakCheck, type Kernels } from '../helpers/kernels.js';

export const KERNEL_ADDR = '10.0.0.1';
export const PEER_ADDR = '10.0.0.2';
export const PEER_MAC = new Uint8Array([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
/** The peer's initial sequence number (packetdrill scripts use 0 relative; any value works). */
export const PEER_ISN = 1_000_000;
/** The port the peer listens on / connects from. */
export const PEER_PORT = 8080;
/** The port the kernel listens on in passive tests. */
export const KERNEL_PORT = 8080;

/** One option, in wire order: ['mss', 1460], ['wscale', 6], ['sackOK'], ['ts', val, ecr], ['sack', [s, e], ...], ['nop'], ['eol']. */
export type OptSpec =
  | ['mss', number]
  | ['wscale', number]
  | ['sackOK']
  | ['ts', number, number]
  | ['sack', ...Array<[number, number]>]
  | ['nop']
  | ['eol'];

/** A segment the kernel sent, decoded. */
export interface Seen {
  /** Virtual time it left (ms). */
  t: number;
  flags: number;
  /** Relative to the kernel's ISN / the peer's ISN. */
  seq: number;
  ack: number;
  win: number;
  len: number;
  data: Uint8Array;
  opts: TcpOptions;
  sport: number;
  dport: number;
  /** packetdrill-like text, TS val as `*`. */
  text: string;
  /** packetdrill-like text with the TS value. */
  full: string;
}

export interface PeerOptions {
  seed?: number;
  /** Apply FREEBSD_TCP_PROFILE (the preamble of FreeBSD's packetdrill scripts). */
  freebsd?: boolean;
  /** More sysctls, applied after the profile. */
  sysctl?: Record<string, number | string>;
  /** Interface MTU (default 1500). */
  mtu?: number;
}

export class Peer {
  readonly out: Seen[] = [];
  /** Every ICMP frame the kernel sent (raw IP). */
  readonly icmp: Uint8Array[] = [];
  /** The kernel's ISN once learned (-1 before). */
  kiss = -1;
  /** The port of the kernel's side of the connection under test. */
  kport = KERNEL_PORT;
  pport = PEER_PORT;
  /** The peer's next timestamp value (ms-like ticks it chooses). */
  tsval = 5000;

  private constructor(
    readonly ks: Kernels,
    readonly k: Kernel,
    readonly hub: Hub,
    readonly ifp: Ifnet,
  ) {}

  static async create(opts: PeerOptions = {}): Promise<Peer> {
    const ks = bootKernels(1, opts.seed ?? 1);
    const k = ks.kernels[0]!;
    const hub = new Hub('lan');
    const ifp = attachEther(k, hub);
    if (opts.mtu) ifp.mtu = opts.mtu;
    ifconfig(k, 'hub0', `${KERNEL_ADDR}/24`);
    const p = new Peer(ks, k, hub, ifp);
    if (opts.freebsd) for (const [name, v] of FREEBSD_TCP_PROFILE) await k.sys.sysctlSet(name, v);
    for (const [name, v] of Object.entries(opts.sysctl ?? {})) await k.sys.sysctlSet(name, v);
    hub.tap((f, from) => {
      if (from === null) return;
      p.onFrame(f);
    });
    await ks.sim.run(1);
    return p;
  }

  get sim(): Kernels['sim'] {
    return this.ks.sim;
  }

  /** Time since the sim host started (ms). */
  get now(): number {
    return this.ks.sim.now();
  }

  private onFrame(f: Uint8Array): void {
    const type = (f[12]! << 8) | f[13]!;
    if (type === 0x0806) {
      // Answer ARP for the peer's address.
      const op = (f[20]! << 8) | f[21]!;
      const tpa = `${f[38]}.${f[39]}.${f[40]}.${f[41]}`;
      if (op === 1 && tpa === PEER_ADDR) {
        const reply = new Uint8Array(28);
        reply.set([0, 1, 8, 0, 6, 4, 0, 2]);
        reply.set(PEER_MAC, 8);
        reply.set(f.subarray(38, 42), 14);
        reply.set(f.subarray(22, 28), 18);
        reply.set(f.subarray(28, 32), 24);
        this.hub.inject(etherFrame(f.subarray(22, 28), PEER_MAC, 0x0806, reply));
      }
      return;
    }
    if (type !== 0x0800) return;
    const ipo = 14;
    const hl = (f[ipo]! & 0x0f) << 2;
    const total = (f[ipo + 2]! << 8) | f[ipo + 3]!;
    const p = f[ipo + 9]!;
    if (p === 1) {
      this.icmp.push(f.slice(ipo, ipo + total));
      return;
    }
    if (p !== IPPROTO_TCP) return;
    const to = ipo + hl;
    const tlen = total - hl;
    const flags = tcpFlags(f, to);
    const thl = tcpHlen(f, to);
    if (flags & TH_SYN && this.kiss < 0) {
      // Like packetdrill: the kernel's ISN and port come from its first SYN.
      this.kiss = tcpSeq(f, to);
      this.kport = (f[to]! << 8) | f[to + 1]!;
    }
    const seqBase = this.kiss < 0 ? 0 : this.kiss;
    const opts = new TcpOptions();
    tcpParseOptions(f, to + 20, thl - 20, (flags & TH_SYN) !== 0, opts);
    const full = formatTcpSegment(f, to, tlen, { seqBase, ackBase: PEER_ISN });
    this.out.push({
      t: this.now,
      flags,
      seq: (tcpSeq(f, to) - seqBase) >>> 0,
      ack: (tcpAck(f, to) - PEER_ISN) >>> 0,
      win: tcpWin(f, to),
      len: tlen - thl,
      data: f.slice(to + thl, to + tlen),
      opts,
      sport: (f[to]! << 8) | f[to + 1]!,
      dport: (f[to + 2]! << 8) | f[to + 3]!,
      text: full.replace(/TS val \d+/, 'TS val *'),
      full,
    });
  }

  /** The next segment the kernel sent, as text (undefined when none). */
  next(): string | undefined {
    return this.out.shift()?.text;
  }

  /** The next segment, decoded. */
  nextSeg(): Seen | undefined {
    return this.out.shift();
  }

  /** Everything sent and not yet looked at, as text; clears the queue. */
  drain(): string[] {
    return this.out.splice(0).map((s) => s.text);
  }

  /**
   * Inject a segment from the peer. `flags` in packetdrill letters
   * ("S", "S.", ".", "F.", "R", "R.", "P."), `seq` relative to PEER_ISN
   * (SYNs: 0), `ack` relative to the kernel's ISN.
   */
  inject(flagsText: string, seq: number, ack: number, o: { win?: number; data?: Uint8Array | number; opts?: OptSpec[]; sport?: number; dport?: number; absSeq?: boolean; absAck?: boolean; urp?: number } = {}): void {
    let flags = 0;
    for (const ch of flagsText) {
      if (ch === 'S') flags |= TH_SYN;
      else if (ch === 'F') flags |= TH_FIN;
      else if (ch === 'R') flags |= TH_RST;
      else if (ch === 'P') flags |= TH_PUSH;
      else if (ch === '.') flags |= TH_ACK;
      else if (ch === 'U') flags |= TH_URG;
    }
    const data = typeof o.data === 'number' ? new Uint8Array(o.data).map((_, i) => (i * 31 + 7) & 0xff) : o.data ?? new Uint8Array(0);
    const optBytes = buildOptions(o.opts ?? [], this.kiss < 0 ? 0 : this.kiss);
    const hlen = 20 + optBytes.length;
    const seg = new Uint8Array(hlen + data.length);
    seg.set(optBytes, 20);
    seg.set(data, hlen);
    const s = o.absSeq ? seq >>> 0 : (PEER_ISN + seq) >>> 0;
    const a = o.absAck ? ack >>> 0 : ((this.kiss < 0 ? 0 : this.kiss) + ack) >>> 0;
    tcpWriteHeader(seg, 0, o.sport ?? this.pport, o.dport ?? this.kport, s, flags & TH_ACK ? a : 0, hlen, flags, o.win ?? 65535, o.urp ?? 0);
    tcpSetChecksum(seg, 0, seg.length, ip(PEER_ADDR), ip(KERNEL_ADDR));
    const pkt = ipPacket({ src: PEER_ADDR, dst: KERNEL_ADDR, p: IPPROTO_TCP, payload: seg });
    this.hub.inject(etherFrame(this.ifp.lladdr!, PEER_MAC, 0x0800, pkt));
  }

  /** Inject and let the kernel process it (no time passes). */
  async send(flagsText: string, seq: number, ack: number, o: Parameters<Peer['inject']>[3] = {}): Promise<void> {
    this.inject(flagsText, seq, ack, o);
    await this.sim.settle();
  }

  /** Inject an IP datagram the peer built (ICMP errors...). */
  injectIp(pkt: Uint8Array): void {
    this.hub.inject(etherFrame(this.ifp.lladdr!, PEER_MAC, 0x0800, pkt));
  }

  /** Let `ms` of virtual time pass. */
  run(ms: number): Promise<void> {
    return this.sim.run(ms);
  }

  async socket(nonblock = true): Promise<number> {
    const fd = await this.k.sys.socket(AF_INET, SOCK_STREAM, 0);
    if (nonblock) await this.k.sys.fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
  }

  peerAddr(port = this.pport): Sockaddr {
    return { family: AF_INET, addr: PEER_ADDR, port };
  }

  /** The TCP state of `fd` (TCP_INFO tcpi_state), by name. */
  async state(fd: number): Promise<string> {
    const info = (await this.k.sys.getsockopt(fd, IPPROTO_TCP, TCP_INFO)) as Record<string, number>;
    return TCP_STATE_NAMES[info['tcpi_state']!]!;
  }

  /** States of every TCP PCB and SYN cache entry (sockstat). */
  async states(): Promise<string[]> {
    const l = await this.k.sys.ext('pcblist');
    return l.filter((p) => p.proto === 'tcp').map((p) => p.state ?? '');
  }

  /**
   * Active open, FreeBSD style: connect (non-blocking), the kernel's SYN, the
   * peer's SYN-ACK with `synackOpts`, the kernel's ACK. Returns the fd.
   */
  async activeOpen(synackOpts: OptSpec[] = [['mss', 1460], ['sackOK'], ['eol'], ['eol']], win = 32767): Promise<{ fd: number; syn: Seen; ack: Seen }> {
    const fd = await this.socket();
    await expectErrno(this.k.sys.connect(fd, this.peerAddr()), 'EINPROGRESS');
    await this.sim.settle();
    const syn = this.nextSeg();
    if (!syn || !(syn.flags & TH_SYN)) throw new Error(`no SYN: ${syn?.text}`);
    this.kport = syn.sport;
    await this.send('S.', 0, 1, { win, opts: synackOpts });
    const ack = this.nextSeg();
    if (!ack) throw new Error('no ACK of the SYN-ACK');
    return { fd, syn, ack };
  }

  /**
   * Passive open: listen on KERNEL_PORT, the peer's SYN (`synOpts`), the
   * kernel's SYN-ACK, the peer's ACK, accept. Returns the listener and the
   * accepted fd.
   */
  async passiveOpen(synOpts: OptSpec[] = [['mss', 1460], ['sackOK'], ['eol'], ['eol']], win = 32767): Promise<{ lfd: number; fd: number; synack: Seen }> {
    const lfd = await this.socket(false);
    await this.k.sys.bind(lfd, { family: AF_INET, addr: '0.0.0.0', port: KERNEL_PORT });
    await this.k.sys.listen(lfd, 8);
    this.kport = KERNEL_PORT;
    await this.send('S', 0, 0, { win, opts: synOpts });
    const synack = this.nextSeg();
    if (!synack || (synack.flags & (TH_SYN | TH_ACK)) !== (TH_SYN | TH_ACK)) throw new Error(`no SYN-ACK: ${synack?.text}`);
    await this.send('.', 1, 1, { win });
    const { fd } = await this.k.sys.accept(lfd);
    return { lfd, fd, synack };
  }

  /**
   * The teardown check: close every descriptor, let the clock run out every
   * timer (the peer stays silent, so the kernel's FINs time out), then fail
   * `t` if a PCB, callout or packet buffer is left (counted before halt).
   */
  finish(t: ExecutionContext): Promise<void> {
    return leakCheck(t, this.ks);
  }

  /** The kernel's counters. */
  get stat(): ReturnType<typeof inet>['tcpstat'] {
    return inet(this.k).tcpstat;
  }
}

function buildOptions(spec: OptSpec[], sackBase: number): Uint8Array {
  const b = new Uint8Array(60);
  let n = 0;
  for (const o of spec) {
    switch (o[0]) {
      case 'mss': n = tcpOptMss(b, n, o[1]); break;
      case 'wscale': n = tcpOptWscale(b, n, o[1]); break;
      case 'sackOK': n = tcpOptSackPermitted(b, n); break;
      case 'ts': n = tcpOptTimestamp(b, n, o[1] >>> 0, o[2] >>> 0); break;
      case 'nop': n = tcpOptNop(b, n); break;
      case 'eol': n = tcpOptEol(b, n); break;
      case 'sack': {
        const blocks = o.slice(1) as Array<[number, number]>;
        const arr = new Uint32Array(blocks.length * 2);
        blocks.forEach(([s, e], i) => {
          arr[2 * i] = (sackBase + s) >>> 0;
          arr[2 * i + 1] = (sackBase + e) >>> 0;
        });
        n = tcpOptSack(b, n, arr, blocks.length);
        break;
      }
    }
  }
  while (n % 4) n = tcpOptEol(b, n);
  return b.slice(0, n);
}

/** The errno name a promise rejects with ('ok' when it resolves): the helpers' errnoCode. */
export const errnoOf = errnoCode;

export async function expectErrno(p: Promise<unknown>, code: string): Promise<void> {
  const got = await errnoOf(p);
  if (got !== code) throw new Error(`expected ${code}, got ${got}`);
}
