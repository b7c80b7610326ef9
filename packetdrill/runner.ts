/*
 * The packetdrill runner: one script against one fresh rump kernel on the
 * sim host's virtual clock.
 *
 *   runScriptFile(path) → parse (parser.ts) → boot a kernel (net, net_net,
 *   net_netinet, and net_netinet6 for --ip_version=ipv6) → attach the
 *   script link (link.ts), address it as packetdrill does (local
 *   192.168.0.1/16, gateway 192.168.0.2, remote 192.0.2.1 behind it; over
 *   IPv6 local fd3d:fa7b:d17d::/48, gateway fd3d:fa7b:d17d:8888::, remote
 *   2001:db8::1) → apply the profile (profile.ts) → run the events in order
 *   → evaluate the code snippets → halt.
 *
 * Time. Every event has a time in script time (µs since the script
 * started). The runner advances the virtual clock to it with `sim.run`,
 * which fires every kernel timer due on the way, so a 70 s SYN
 * retransmission schedule takes milliseconds of real time while every
 * timer still fires at its exact virtual moment. Relative times count from
 * when the previous event completed (when its packet was seen, its call
 * returned), as packetdrill's do; two inbound packets in a row count from
 * the previous one's script time.
 *
 *   < packet  advance to its time, build it (the socket's ports, remote seq
 *             as written, acks/SACKs/ICMP quotes shifted by the kernel's ISN),
 *             inject it.
 *   > packet  take the kernel's next packet for the socket under test (others
 *             are skipped, as packetdrill skips them), running the clock
 *             until one comes or 2 s past its window; compare (matcher.ts) and
 *             check it came within the tolerance.
 *   call      advance to its time and call `sys`; it must return at once,
 *             unless written start...end, when it may block and must return
 *             within the tolerance of end while later events run.
 *   `cmd`     interpreted by shell.ts.
 *   %{ }%     TCP_INFO of the socket under test is snapshot now; the
 *             assertions run after the last event, as packetdrill runs
 *             its Python at the end.
 */
import '../net/components.js';
import '../net/if/component.js';
import '../net/inet/component.js';
import '../net/inet6/component.js';
import { IN6_IFF_NODAD } from '../net/inet6/inet6.js';

import { readFile } from 'node:fs/promises';

import type { IcmpPacket, PacketSpec, Script, ScriptEvent, SyscallSpec, TcpPacket, UdpPacket } from './ast.js';
import { ScriptSyntaxError } from './ast.js';
import { runCode, codeConstants } from './code.js';
import {
  INBOUND_TTL, buildIcmp6Datagram, buildIcmpDatagram, buildTcpDatagram, buildUdpDatagram, decapsulateUdpTcp, encapsulateTcpInUdp,
  formatLive, formatScriptPacket,
  formatSeconds, icmpRestOfHeader, inboundTos, parseOutbound, quoteDatagram, quoteDatagram6, type IpFields, type LivePacket,
} from './codec.js';
import { applyOption, defaultConfig, parseDefine, prescanOptions, type RunConfig } from './config.js';
import { ScriptFailure, Unsupported } from './failure.js';
import { ScriptLink, PEER_MAC } from './link.js';
import { describeDifferences, diffTcp, diffUdp, type Difference } from './matcher.js';
import { parseScript } from './parser.js';
import { applyProfile } from './profile.js';
import { runShellCommand } from './shell.js';
import { SocketTable, type ScriptSocket } from './sockets.js';
import { TCP_INFO, exprText, intOf, runSyscall, type SyscallEnv } from './syscalls.js';
import { createSimHost, type SimHost } from '../hypercall/sim.js';
import { Errno, errnoByName, errnoName, strerror } from '../kern/errno.js';
import { bootKernel } from '../kern/init.js';
import type { Kernel } from '../kern/kernel.js';
import { AF_INET, AF_INET6 } from '../kern/sys.js';
import { ifioctl } from '../net/interface_ioctl.js';
import { netstack } from '../net/netstack.js';
import { ICMP_IREQ, icmpIsError } from '../net/wire/icmp.js';
import { formatMac, parseInAddr } from '../net/wire/inaddr.js';
import { in6Equal, in6PrefixEqual, parseIn6Addr } from '../net/wire/in6addr.js';
import { icmp6ByName } from './icmp_names.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../net/wire/ipv4.js';
import { TCP_HDR_MIN, TH_ACK, TH_SYN, tcpFlags, tcpSeq } from '../net/wire/tcp.js';
import { UDP_HDR_LEN } from '../net/wire/udp.js';

export const RUNNER_COMPONENTS = ['net', 'net_net', 'net_netinet'] as const;
/** What an `--ip_version=ipv6` script runs on. */
export const RUNNER_COMPONENTS6 = [...RUNNER_COMPONENTS, 'net_netinet6'] as const;

/** How long an outbound line waits past the end of its window before giving up (packetdrill's sniff timeout). */
const OUTBOUND_GRACE_US = 2_000_000;
/** How long a `*` outbound line waits for a kernel that still has timers pending. */
const ANY_TIME_LIMIT_US = 4 * 3600 * 1_000_000;
/** Remote ports the runner uses start here (each new connection takes the next). */
const FIRST_REMOTE_PORT = 40_000;

export interface RunOptions {
  /** Command-line options (`name` → value, null for a bare flag); they override the script's. */
  options?: ReadonlyArray<readonly [string, string | null]>;
  /** `-D NAME=VALUE`. */
  defines?: ReadonlyArray<readonly [string, string]>;
  /** Where verbose lines go. */
  log?: (line: string) => void;
}

export interface ScriptResult {
  path: string;
  passed: boolean;
  /** The report: `path:line: reason`, then indented details. Null when it passed. */
  failure: string | null;
  /** Non-fatal mismatches (--non_fatal). */
  warnings: string[];
  /** Events run (all of them when it passed). */
  events: number;
  /** Virtual time the script took, µs. */
  virtualUs: number;
}

/** A failure tied to a line of the script. */
class EventFailure extends Error {
  constructor(
    readonly line: number,
    readonly eventText: string | null,
    readonly failure: ScriptFailure,
  ) {
    super(failure.message);
  }
}

interface PendingCall {
  ev: ScriptEvent;
  call: SyscallSpec;
  /** Window the call must return in (script µs): end ± tolerance. */
  endUs: number;
  toleranceUs: number;
  outcome: CallOutcome | null;
}

type CallOutcome = { ok: true; ret: number; atUs: number } | { ok: false; error: unknown; atUs: number };

/** Run one script from its text. Never throws for the script's sake: the result says what happened. */
export async function runScript(src: string, path: string, opts: RunOptions = {}): Promise<ScriptResult> {
  const result: ScriptResult = { path, passed: false, failure: null, warnings: [], events: 0, virtualUs: 0 };
  let script: Script;
  const cfg = defaultConfig();
  try {
    // Defines and the profile (its OS name is what #ifdef sees) shape the scan, so they come first;
    // the command line wins over the script.
    const early = [...prescanOptions(src), ...(opts.options ?? [])];
    const defines = new Map<string, string>();
    for (const [n, v] of early) {
      if (n === 'define' && v !== null) defines.set(...parseDefine(v));
      if (n === 'profile') applyOption(cfg, n, v);
    }
    for (const [n, v] of opts.defines ?? []) defines.set(n, v);
    const symbols = new Set<string>(cfg.profile.osName ? [cfg.profile.osName] : []);
    script = parseScript(src, path, { defines, symbols });
    for (const o of script.options) applyOption(cfg, o.name, o.value);
    for (const [n, v] of opts.options ?? []) applyOption(cfg, n, v);
  } catch (e) {
    if (e instanceof ScriptSyntaxError) {
      result.failure = `${e.path}:${e.line}:${e.col}: syntax error: ${e.reason}`;
      return result;
    }
    if (e instanceof ScriptFailure) {
      result.failure = `${path}: ${e.message}`;
      return result;
    }
    throw e;
  }
  if (cfg.dryRun) {
    result.passed = true;
    return result;
  }
  const run = new ScriptRun(script, cfg, opts.log ?? (() => {}));
  try {
    await run.run();
    result.passed = true;
  } catch (e) {
    if (e instanceof EventFailure) {
      const head = `${path}:${e.line}: ${e.failure.reason}`;
      const lines = [head];
      if (e.eventText) lines.push(`  script line: ${e.eventText}`);
      lines.push(...e.failure.details);
      result.failure = lines.join('\n');
    } else if (e instanceof ScriptFailure) {
      result.failure = [`${path}: ${e.reason}`, ...e.details].join('\n');
    } else {
      result.failure = `${path}: the runner failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    }
  } finally {
    result.events = run.eventsRun;
    result.virtualUs = run.virtualUs();
    result.warnings = run.warnings;
    await run.halt();
  }
  return result;
}

/** Run one script file. */
export async function runScriptFile(path: string, opts: RunOptions = {}): Promise<ScriptResult> {
  let src: string;
  try {
    src = await readFile(path, 'utf8');
  } catch (e) {
    return { path, passed: false, failure: `${path}: cannot read: ${(e as Error).message}`, warnings: [], events: 0, virtualUs: 0 };
  }
  return runScript(src, path, opts);
}

class ScriptRun {
  readonly warnings: string[] = [];
  eventsRun = 0;
  private readonly sim: SimHost;
  private kernel: Kernel | null = null;
  private link: ScriptLink | null = null;
  private startMs = 0;
  /** Datagrams the kernel sent, not yet consumed by a `>` line. */
  private readonly queue: LivePacket[] = [];
  /** Recently skipped packets (not for the socket under test), for messages. */
  private readonly skipped: LivePacket[] = [];
  private readonly sockets = new SocketTable(FIRST_REMOTE_PORT);
  private pending: PendingCall | null = null;
  private prev: ScriptEvent | null = null;
  private prevStartUs = 0;
  private lastEventUs = 0;
  private readonly snapshots: Array<{ ev: ScriptEvent; vars: Map<string, number> }> = [];
  private local = 0;
  private remote = 0;
  /** The IPv6 addresses of an IPv6 run (null otherwise). */
  private local6: Uint8Array | null = null;
  private remote6: Uint8Array | null = null;
  private started = false;
  private readonly udpPorts: Set<string>;

  constructor(
    private readonly script: Script,
    private readonly cfg: RunConfig,
    private readonly log: (line: string) => void,
  ) {
    this.sim = createSimHost({ seed: cfg.seed });
    this.udpPorts = this.udpPortsOf();
  }

  /* ---------------------------------------------------------------------- */
  /* Setup and teardown */

  private async setup(): Promise<void> {
    const cfg = this.cfg;
    if (cfg.ipVersion === 'ipv4-mapped-ipv6') {
      throw new Unsupported(
        '--ip_version=ipv4-mapped-ipv6: IPv6 sockets in this kernel are IPv6-only (net.inet6.ip6.v6only = 1), there is no v4-mapped service',
      );
    }
    if (cfg.ipVersion === 'ipv6') {
      await this.setup6();
      return;
    }
    const k = bootKernel({ components: RUNNER_COMPONENTS, host: this.sim });
    this.kernel = k;
    if (!k.domains.has(AF_INET)) throw new Unsupported('the kernel has no AF_INET sockets');
    this.local = parseInAddr(cfg.localIp)!;
    this.remote = parseInAddr(cfg.remoteIp)!;
    const gateway = parseInAddr(cfg.gatewayIp)!;
    const link = new ScriptLink(k, 'pd0', cfg.mtu, (d) => this.capture(d));
    this.link = link;
    link.peerAddrs.add(gateway);
    link.peerAddrs.add(this.remote);
    try {
      ifioctl(netstack(k), 'SIOCAIFADDR', { name: 'pd0', addr: cfg.localIp, mask: cfg.netmask });
    } catch (e) {
      throw new ScriptFailure(`cannot give pd0 the address ${cfg.localIp} mask ${cfg.netmask}: ${(e as Error).message}`);
    }
    const mask = parseInAddr(cfg.netmask)!;
    const onLink = (a: number): boolean => ((a ^ this.local) & mask) === 0;
    const peer = formatMac(PEER_MAC);
    try {
      if (onLink(this.remote)) {
        await k.sys.ext('arpmsg', { type: 'add', addr: cfg.remoteIp, lladdr: peer });
      } else {
        if (!onLink(gateway)) throw new ScriptFailure(`--gateway_ip ${cfg.gatewayIp} is not on the local network ${cfg.localIp}/${cfg.netmask}`);
        await k.sys.ext('arpmsg', { type: 'add', addr: cfg.gatewayIp, lladdr: peer });
        await k.sys.ext('rtmsg', { type: 'add', dst: 'default', gateway: cfg.gatewayIp });
      }
    } catch (e) {
      if (e instanceof Errno) throw new ScriptFailure(`cannot set up the route to ${cfg.remoteIp}: ${e.message}`);
      throw e;
    }
  }

  /**
   * The IPv6 setup: pd0 gets the local address and prefix, the peer answers
   * Neighbor Solicitations for the gateway and the remote address, and the
   * remote address is reached on-link or through a default route via the
   * gateway, as packetdrill arranges it.
   */
  private async setup6(): Promise<void> {
    const cfg = this.cfg;
    const k = bootKernel({ components: RUNNER_COMPONENTS6, host: this.sim });
    this.kernel = k;
    if (!k.domains.has(AF_INET6)) throw new Unsupported('the kernel has no AF_INET6 sockets');
    this.local6 = parseIn6Addr(cfg.localIp6)!;
    this.remote6 = parseIn6Addr(cfg.remoteIp6)!;
    const gateway = parseIn6Addr(cfg.gatewayIp6)!;
    const link = new ScriptLink(k, 'pd0', cfg.mtu, (d) => this.capture(d));
    this.link = link;
    link.peerAddrs6.add(cfg.gatewayIp6);
    link.peerAddrs6.add(cfg.remoteIp6);
    try {
      // No DAD, as packetdrill's own tun set-up asks of Linux (IFA_F_NODAD): the script starts at once.
      ifioctl(netstack(k), 'SIOCAIFADDR_IN6', { name: 'pd0', addr: cfg.localIp6, prefixlen: cfg.prefixLen6, flags: IN6_IFF_NODAD });
    } catch (e) {
      throw new ScriptFailure(`cannot give pd0 the address ${cfg.localIp6}/${cfg.prefixLen6}: ${(e as Error).message}`);
    }
    const onLink = (a: Uint8Array): boolean => in6PrefixEqual(a, 0, this.local6!, 0, cfg.prefixLen6);
    if (!onLink(this.remote6)) {
      if (!onLink(gateway)) throw new ScriptFailure(`--gateway_ip ${cfg.gatewayIp6} is not on the local network ${cfg.localIp6}/${cfg.prefixLen6}`);
      try {
        await k.sys.ext('rt6msg', { type: 'add', dst: 'default', gateway: cfg.gatewayIp6 });
      } catch (e) {
        if (e instanceof Errno) throw new ScriptFailure(`cannot set up the route to ${cfg.remoteIp6}: ${e.message}`);
        throw e;
      }
    }
  }

  async halt(): Promise<void> {
    const k = this.kernel;
    if (!k || k.halted) return;
    try {
      await k.halt();
      await this.sim.settle();
    } catch {
      // A kernel that cannot halt cleanly after a failed script is not the script's report.
    }
  }

  /** Virtual µs since the script's first event. */
  private nowUs(): number {
    return Math.round((this.sim.now() - this.startMs) * 1000);
  }

  virtualUs(): number {
    return this.started ? this.nowUs() : 0;
  }

  private capture(datagram: Uint8Array): void {
    let p = parseOutbound(datagram, this.started ? this.nowUs() : 0);
    // TCP in UDP between ports the script expects it on: matched as TCP, its outer ports kept.
    if (p && p.proto === IPPROTO_UDP && this.udpPorts.has(`${p.sport}>${p.dport}`)) p = decapsulateUdpTcp(p) ?? p;
    if (p) this.queue.push(p);
  }

  /** The outbound `sport>dport` pairs of TCP-over-UDP the script expects (its `/udp(…)` lines, --udp_encapsulation). */
  private udpPortsOf(): Set<string> {
    const out = new Set<string>();
    const u = this.cfg.udpEncapsulation;
    if (u) out.add(`${u.local}>${u.remote}`);
    for (const ev of this.script.events) {
      const a = ev.action;
      if (a.type === 'packet' && a.packet.direction === 'outbound' && a.packet.body.proto === 'tcp' && a.packet.body.udp) {
        out.add(`${a.packet.body.udp.src}>${a.packet.body.udp.dst}`);
      }
    }
    return out;
  }

  /** The outbound UDP ports --udp_encapsulation asks of a line without `/udp(…)`. */
  private outboundUdpDefault(): { src: number; dst: number } | null {
    const u = this.cfg.udpEncapsulation;
    return u ? { src: u.local, dst: u.remote } : null;
  }

  /* ---------------------------------------------------------------------- */
  /* The clock */

  /** Run the kernel until script time `us` (or just what is due now). */
  private async advanceTo(us: number): Promise<void> {
    const now = this.nowUs();
    if (us > now) await this.sim.run((us - now) / 1000);
    else await this.sim.settle();
    this.checkPending();
  }

  private tolerance(expectedUs: number): number {
    const gap = Math.max(0, expectedUs - this.lastEventUs);
    return Math.max(this.cfg.toleranceUs, Math.floor((this.cfg.tolerancePercent / 100) * gap));
  }

  /* ---------------------------------------------------------------------- */
  /* Events */

  async run(): Promise<void> {
    await this.setupAll();
    const events = this.script.events;
    if (events.length > 0 && events[0]!.time.kind === 'absolute' && events[0]!.time.us !== 0) {
      throw new EventFailure(events[0]!.line, events[0]!.text, new ScriptFailure('the first event should be at time 0'));
    }
    for (const ev of events) {
      try {
        await this.event(ev);
      } catch (e) {
        if (e instanceof EventFailure) throw e;
        if (e instanceof ScriptFailure) throw new EventFailure(ev.line, ev.text, e);
        throw e;
      }
      this.eventsRun++;
    }
    await this.finish();
  }

  private async setupAll(): Promise<void> {
    await this.setup();
    await this.sim.settle();
    applyProfile(this.kernel!, this.cfg.profile);
    await this.sim.settle();
    this.queue.length = 0;
    this.startMs = this.sim.now();
    this.started = true;
    const init = this.script.initCommand;
    if (init) {
      try {
        await runShellCommand(init.command, this.shellEnv());
      } catch (e) {
        if (e instanceof ScriptFailure) throw new EventFailure(init.line, `\`${init.command}\``, e);
        throw e;
      }
    }
  }

  private shellEnv(): { kernel: Kernel; profile: RunConfig['profile']; command: string } {
    return { kernel: this.kernel!, profile: this.cfg.profile, command: 'packetdrill' };
  }

  private isInbound(ev: ScriptEvent | null): boolean {
    return ev !== null && ev.action.type === 'packet' && ev.action.packet.direction === 'inbound';
  }

  private async event(ev: ScriptEvent): Promise<void> {
    const t = ev.time;
    let base = 0;
    if (t.kind !== 'absolute') {
      base = this.isInbound(this.prev) && this.isInbound(ev) && t.kind === 'relative' ? this.prevStartUs : this.nowUs();
    }
    const startUs = t.kind === 'any' ? this.nowUs() : base + t.us;
    const endUs = t.end === null ? null : base + t.end;
    if (this.prev && this.prev.time.kind === 'absolute' && t.kind === 'absolute' && startUs < this.prevStartUs) {
      throw new ScriptFailure(`time goes backward in the script: from ${formatSeconds(this.prevStartUs)} to ${formatSeconds(startUs)}`);
    }
    if (this.cfg.verbose) this.log(`${formatSeconds(this.nowUs())} line ${ev.line}: ${ev.text}`);
    const a = ev.action;
    if (a.type === 'packet' && a.packet.direction === 'outbound') {
      await this.outbound(ev, a.packet, startUs, endUs);
    } else {
      await this.advanceTo(startUs);
      this.checkLate(ev, startUs);
      // Like packetdrill's single system call thread: a call starts once the previous blocking one has returned.
      if (a.type === 'syscall') await this.awaitPending();
      switch (a.type) {
        case 'packet':
          await this.inbound(a.packet);
          break;
        case 'syscall':
          await this.syscall(ev, a.call, startUs, endUs);
          break;
        case 'command':
          await runShellCommand(a.command, this.shellEnv());
          await this.sim.settle();
          break;
        case 'code':
          await this.snapshot(ev);
          break;
      }
    }
    this.prev = ev;
    this.prevStartUs = startUs;
    this.lastEventUs = startUs;
  }

  /** An event that should have run at `startUs` but could only start later (the previous one ran long). */
  private checkLate(ev: ScriptEvent, startUs: number): void {
    if (ev.time.kind === 'any') return;
    const now = this.nowUs();
    const tol = this.tolerance(startUs);
    if (now > startUs + tol) {
      throw new ScriptFailure(
        `timing error: expected ${describeEvent(ev)} at ${formatSeconds(startUs)} s (±${formatSeconds(tol)}), but the previous events ran until ${formatSeconds(now)} s`,
      );
    }
  }

  private async finish(): Promise<void> {
    if (this.pending) await this.awaitPending();
    const cleanup = this.script.cleanupCommand;
    if (cleanup) {
      try {
        await runShellCommand(cleanup.command, this.shellEnv());
      } catch (e) {
        if (e instanceof ScriptFailure) throw new EventFailure(cleanup.line, `\`${cleanup.command}\``, e);
        throw e;
      }
    }
    for (const s of this.snapshots) {
      try {
        runCode(s.ev.action.type === 'code' ? s.ev.action.code : '', s.vars);
      } catch (e) {
        if (e instanceof ScriptFailure) throw new EventFailure(s.ev.line, s.ev.text, e);
        throw e;
      }
    }
    if (this.cfg.strictPackets) {
      await this.sim.settle();
      if (this.queue.length > 0) {
        const lines = this.queue.slice(0, 5).map((q) => `  ${formatSeconds(q.timeUs)} ${formatLive(q, this.seqBaseFor(q))}`);
        throw new EventFailure(
          this.script.events.at(-1)?.line ?? 0,
          null,
          new ScriptFailure('--strict_packets: the kernel sent packets after the last expected one', lines),
        );
      }
    }
  }

  /* ---------------------------------------------------------------------- */
  /* Inbound packets */

  private socketForInbound(p: PacketSpec): ScriptSocket {
    let s = this.sockets.underTest;
    if (!s) throw new ScriptFailure('no socket for this packet: the script has not created one with socket()');
    const b = p.body;
    if (b.proto === 'tcp' && b.flags & TH_SYN && !(b.flags & TH_ACK)) {
      // A SYN starts a connection on the listener: the one under test, or,
      // once the script closed that connection, the listener still open.
      const l = s.state === 'listening' ? s : s.closed ? this.sockets.all.find((x) => x.state === 'listening' && !x.closed) : undefined;
      if (l) s = this.sockets.child(l, this.cfg.bindPort);
    }
    return s;
  }

  private async inbound(p: PacketSpec): Promise<void> {
    const s = this.socketForInbound(p);
    const ip: IpFields = { src: this.remote, dst: this.local, tos: inboundTos(p.ip), ttl: p.ip.ttl ?? INBOUND_TTL };
    if (this.local6 !== null) {
      ip.src6 = this.remote6!;
      ip.dst6 = this.local6;
    }
    const sport = p.ports?.src ?? s.remotePort;
    const dport = p.ports?.dst ?? s.localPort ?? this.cfg.bindPort;
    const b = p.body;
    let datagram: Uint8Array;
    if (b.proto === 'tcp') datagram = this.inboundTcp(s, b, ip, sport, dport);
    else if (b.proto === 'udp') datagram = buildUdpDatagram(ip, sport, dport, b.len);
    else datagram = this.inboundIcmp(s, b, ip);
    this.link!.inject(datagram);
    await this.sim.settle();
    this.checkPending();
  }

  private inboundTcp(s: ScriptSocket, t: TcpPacket, ip: IpFields, sport: number, dport: number): Uint8Array {
    if (t.win === null) throw new ScriptFailure('an inbound TCP packet needs a window (win N)');
    const { seq, ack, options } = s.inboundTcp(t, this.sockets.foCookies);
    const d = buildTcpDatagram(ip, { sport, dport, seq, ack, flags: t.flags, win: t.win, urg: t.urg ?? 0, options, payloadLen: t.seq.len });
    const u = this.cfg.udpEncapsulation;
    const udp = t.udp ?? (u ? { src: u.remote, dst: u.local } : null);
    return udp ? encapsulateTcpInUdp(ip, d, udp.src, udp.dst) : d;
  }

  private inboundIcmp(s: ScriptSocket, c: IcmpPacket, ip: IpFields): Uint8Array {
    if (this.local6 !== null) return this.inboundIcmp6(s, c, ip);
    if (c.type < 0) throw new ScriptFailure(`ICMP ${c.typeName}${c.codeName ? ` ${c.codeName}` : ''} is ICMPv6 only; this is an IPv4 script`);
    let data: Uint8Array = new Uint8Array(0);
    const q = c.quote;
    if (q) {
      const lport = s.localPort ?? this.cfg.bindPort;
      if (q.proto === 'tcp') {
        // The quoted header is one the kernel sent: local → remote, seq in the kernel's space.
        const l4 = new Uint8Array(8);
        const seq = (q.seq.start + s.seqOffset) >>> 0;
        l4.set([lport >>> 8, lport & 0xff, s.remotePort >>> 8, s.remotePort & 0xff, seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff]);
        data = quoteDatagram(this.local, this.remote, IPPROTO_TCP, 20 + TCP_HDR_MIN + q.seq.len, l4);
      } else {
        const ulen = UDP_HDR_LEN + q.len;
        const l4 = Uint8Array.of(lport >>> 8, lport & 0xff, s.remotePort >>> 8, s.remotePort & 0xff, ulen >>> 8, ulen & 0xff, 0, 0);
        data = quoteDatagram(this.local, this.remote, IPPROTO_UDP, 20 + ulen, l4);
      }
    } else if (icmpIsError(c.type)) {
      throw new ScriptFailure(`ICMP ${c.typeName} quotes a packet: write it after the code, e.g. [1:1(0)] for TCP or [udp (10)]`);
    } else if (c.type >= ICMP_IREQ) {
      throw new Unsupported(`ICMP ${c.typeName} is not supported by the runner`);
    }
    return buildIcmpDatagram(ip, c.type, c.code, icmpRestOfHeader(c), data);
  }

  /**
   * An ICMP line of an IPv6 script: the names mean ICMPv6's type and code
   * (packetdrill's IPv6 table: `unreachable port_unreachable` is type 1
   * code 4), the quote is our IPv6 header and the first 8 bytes of what we
   * sent (RFC 4443 §2.4 (c)); packet_too_big carries its `mtu`.
   */
  private inboundIcmp6(s: ScriptSocket, c: IcmpPacket, ip: IpFields): Uint8Array {
    const tc = icmp6ByName(c.typeName, c.codeName);
    if (tc === null) throw new ScriptFailure(`ICMP ${c.typeName}${c.codeName ? ` ${c.codeName}` : ''} has no ICMPv6 meaning in this IPv6 script`);
    let data: Uint8Array = new Uint8Array(0);
    const q = c.quote;
    const lport = s.localPort ?? this.cfg.bindPort;
    if (q) {
      const l4 = new Uint8Array(8);
      if (q.proto === 'tcp') {
        const seq = (q.seq.start + s.seqOffset) >>> 0;
        l4.set([lport >>> 8, lport & 0xff, s.remotePort >>> 8, s.remotePort & 0xff, seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff]);
        data = quoteDatagram6(this.local6!, this.remote6!, IPPROTO_TCP, TCP_HDR_MIN + q.seq.len, l4);
      } else {
        const ulen = UDP_HDR_LEN + q.len;
        l4.set([lport >>> 8, lport & 0xff, s.remotePort >>> 8, s.remotePort & 0xff, ulen >>> 8, ulen & 0xff, 0, 0]);
        data = quoteDatagram6(this.local6!, this.remote6!, IPPROTO_UDP, ulen, l4);
      }
    } else if (tc.type < 128) {
      throw new ScriptFailure(`ICMPv6 ${c.typeName} quotes a packet: write it after the code, e.g. [1:1(0)] for TCP or [udp (10)]`);
    }
    const rest = tc.type === 2 ? (c.mtu ?? 0) >>> 0 : 0;
    return buildIcmp6Datagram(ip, tc.type, tc.code, rest, data);
  }

  /* ---------------------------------------------------------------------- */
  /* Outbound packets */

  /** Subtract this from a live seq to read it in script space (for messages about any socket). */
  private seqBaseFor(p: LivePacket): number {
    const s = this.sockets.all.find((x) => x.localPort === p.sport && x.remotePort === p.dport);
    return s ? s.seqOffset : 0;
  }

  /**
   * Is `p` the socket's? A packet on the socket's four-tuple is; so is the
   * first SYN (or UDP datagram) towards the remote end of a connecting
   * socket, which teaches the runner the local port the kernel chose.
   */
  private belongsTo(p: LivePacket, s: ScriptSocket): boolean {
    if (this.local6 !== null) {
      if (p.src6 === null || p.dst6 === null || !in6Equal(p.src6, 0, this.local6, 0) || !in6Equal(p.dst6, 0, this.remote6!, 0)) return false;
    } else if (p.src6 !== null || p.src !== this.local || p.dst !== this.remote) return false;
    const proto = s.proto === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP;
    if (p.proto !== proto) return false;
    if (s.localPort !== null && p.sport === s.localPort && p.dport === s.remotePort) return true;
    if (p.dport !== s.remotePort) return false;
    const connecting =
      proto === IPPROTO_TCP
        ? s.state === 'syn_sent' && (tcpFlags(p.bytes, p.l4) & (TH_SYN | TH_ACK)) === TH_SYN
        : s.state === 'connecting';
    if (!connecting) return false;
    s.localPort = p.sport;
    return true;
  }

  /** The next queued packet for `s`, skipping (and remembering) others. */
  private take(s: ScriptSocket): LivePacket | null {
    while (this.queue.length > 0) {
      const p = this.queue.shift()!;
      if (this.belongsTo(p, s)) return p;
      if (this.cfg.strictPackets) {
        throw new ScriptFailure('--strict_packets: the kernel sent a packet for another socket', [
          `  ${formatSeconds(p.timeUs)} ${formatLive(p, this.seqBaseFor(p))}`,
        ]);
      }
      this.skipped.push(p);
      if (this.skipped.length > 5) this.skipped.shift();
    }
    return null;
  }

  private async outbound(ev: ScriptEvent, spec: PacketSpec, startUs: number, endUs: number | null): Promise<void> {
    const s = this.sockets.underTest;
    if (!s) throw new ScriptFailure('no socket is expected to send this packet: the script has not created one with socket()');
    const b = spec.body;
    if (b.proto === 'icmp') throw new Unsupported('outbound ICMP lines are not supported (packetdrill does not check them either)');
    if ((b.proto === 'tcp') !== (s.proto === 'tcp')) {
      throw new ScriptFailure(`a ${b.proto} line for the ${s.describe()}`);
    }
    if (b.proto === 'tcp') {
      const synOnly = (b.flags & (TH_SYN | TH_ACK)) === TH_SYN;
      const synAck = (b.flags & (TH_SYN | TH_ACK)) === (TH_SYN | TH_ACK);
      if (synOnly && s.state === 'connecting') {
        s.state = 'syn_sent';
        s.localIsnScript = b.seq.start;
      } else if (synAck && s.state === 'passive_syn_received') {
        s.localIsnScript = b.seq.start;
      }
    }
    const any = ev.time.kind === 'any';
    const tol = this.tolerance(startUs);
    const deadlineUs = (endUs ?? startUs) + tol + OUTBOUND_GRACE_US;
    this.skipped.length = 0;
    let live = this.take(s);
    let waitedUs = 0;
    while (!live) {
      let budgetUs: number;
      if (any) {
        // `*` waits as long as the kernel still has something to do.
        await this.sim.settle();
        live = this.take(s);
        if (live || this.sim.pending() === 0 || waitedUs >= ANY_TIME_LIMIT_US) break;
        budgetUs = Math.min(60_000_000, ANY_TIME_LIMIT_US - waitedUs);
      } else {
        budgetUs = deadlineUs - this.nowUs();
        if (budgetUs <= 0) break;
      }
      const before = this.nowUs();
      await this.sim.runUntil(() => this.queue.length > 0, budgetUs / 1000);
      this.checkPending();
      waitedUs += this.nowUs() - before;
      live = this.take(s);
    }
    if (!live) {
      const details = [`  expected: ${formatScriptPacket(spec)}  (for the ${s.describe()})`];
      if (any) details.push(`  the kernel sent nothing for this socket by ${formatSeconds(this.nowUs())} s and has nothing more scheduled`);
      for (const p of this.skipped) details.push(`  skipped (another socket): ${formatSeconds(p.timeUs)} ${formatLive(p, this.seqBaseFor(p))}`);
      throw new ScriptFailure(
        any
          ? 'expected outbound packet never came'
          : `expected outbound packet did not come (expected at ${formatSeconds(startUs)} s ±${formatSeconds(tol)}, waited until ${formatSeconds(this.nowUs())} s)`,
        details,
      );
    }
    // The kernel's ISN, from the first SYN (active) or SYN-ACK (passive) it sent on this connection.
    if (b.proto === 'tcp' && live.proto === IPPROTO_TCP && s.localIsnLive === null && tcpFlags(live.bytes, live.l4) & TH_SYN) {
      s.localIsnLive = tcpSeq(live.bytes, live.l4);
      if (s.state === 'passive_syn_received') s.state = 'passive_synack_sent';
    }
    const diffs: Difference[] =
      b.proto === 'tcp'
        ? diffTcp(b, spec.ip, live, {
          seqOffset: s.seqOffset, ts: s.ts, tsTickUs: this.cfg.tsTickUs, toleranceUs: this.cfg.toleranceUs, udp: this.outboundUdpDefault(),
          foCookies: this.sockets.foCookies,
        })
        : diffUdp(b as UdpPacket, spec.ip, live);
    const report = [
      `  script packet: ${formatSeconds(startUs)} ${formatScriptPacket(spec)}`,
      `  actual packet: ${formatSeconds(live.timeUs)} ${formatLive(live, s.seqOffset)}`,
    ];
    if (diffs.length > 0) {
      const f = new ScriptFailure(`outbound packet does not match: ${diffs.map((d) => d.field).join(', ')}`, [...report, ...describeDifferences(diffs)]);
      this.packetProblem(ev, f);
    }
    if (!any) {
      const lo = startUs - tol;
      const hi = (endUs ?? startUs) + tol;
      if (live.timeUs < lo || live.timeUs > hi) {
        const when = endUs === null ? `at ${formatSeconds(startUs)} s` : `in ${formatSeconds(startUs)}~${formatSeconds(endUs)} s`;
        const f = new ScriptFailure(
          `timing error: expected the outbound packet ${when} (±${formatSeconds(tol)}), it was sent at ${formatSeconds(live.timeUs)} s (${live.timeUs < lo ? 'early' : 'late'})`,
          report,
        );
        this.packetProblem(ev, f);
      }
    }
    if (this.cfg.verbose) this.log(`  matched ${formatSeconds(live.timeUs)} ${formatLive(live, s.seqOffset)}`);
  }

  /** A mismatch: fatal unless --non_fatal=packet. */
  private packetProblem(ev: ScriptEvent, f: ScriptFailure): void {
    if (!this.cfg.nonFatalPacket) throw f;
    this.warnings.push([`${this.script.path}:${ev.line}: warning: ${f.reason}`, ...f.details].join('\n'));
  }

  /* ---------------------------------------------------------------------- */
  /* System calls */

  private syscallEnv(): SyscallEnv {
    const v6 = this.local6 !== null;
    return {
      sys: this.kernel!.sys, sockets: this.sockets, family: v6 ? AF_INET6 : AF_INET,
      localIp: v6 ? this.cfg.localIp6 : this.cfg.localIp, remoteIp: v6 ? this.cfg.remoteIp6 : this.cfg.remoteIp,
      bindPort: this.cfg.bindPort, connectPort: this.cfg.connectPort,
    };
  }

  private async syscall(ev: ScriptEvent, call: SyscallSpec, startUs: number, endUs: number | null): Promise<void> {
    let expectFd: number | null = null;
    if ((call.name === 'socket' || call.name === 'accept') && call.result.kind === 'int' && call.result.value >= 0) expectFd = call.result.value;
    const pending: PendingCall = {
      ev, call, endUs: endUs ?? startUs, toleranceUs: this.tolerance(endUs ?? startUs), outcome: null,
    };
    runSyscall(call, this.syscallEnv(), expectFd).then(
      (ret) => {
        pending.outcome = { ok: true, ret, atUs: this.nowUs() };
      },
      (error: unknown) => {
        pending.outcome = { ok: false, error, atUs: this.nowUs() };
      },
    );
    await this.sim.settle();
    if (pending.outcome) {
      this.verifyCall(pending, pending.outcome);
      return;
    }
    if (!ev.time.blocking) {
      throw new ScriptFailure(
        `${call.name}() blocked: it did not return at once (a call that may block is written start...end, e.g. +0...0.1 ${call.name}(…))`,
      );
    }
    this.pending = pending;
  }

  /** A blocking call that finished: check when and what it returned. */
  private checkPending(): void {
    const p = this.pending;
    if (!p || !p.outcome) return;
    this.pending = null;
    try {
      const at = p.outcome.atUs;
      if (at < p.endUs - p.toleranceUs || at > p.endUs + p.toleranceUs) {
        throw new ScriptFailure(
          `timing error: expected ${p.call.name}() to return at ${formatSeconds(p.endUs)} s (±${formatSeconds(p.toleranceUs)}), it returned at ${formatSeconds(at)} s`,
        );
      }
      this.verifyCall(p, p.outcome);
    } catch (e) {
      if (e instanceof ScriptFailure) throw new EventFailure(p.ev.line, p.ev.text, e);
      throw e;
    }
  }

  /** Wait for a blocking call to return (the next call cannot start before it, as in packetdrill). */
  private async awaitPending(): Promise<void> {
    const p = this.pending;
    if (!p) return;
    const limit = p.endUs + p.toleranceUs;
    if (!p.outcome && this.nowUs() < limit) {
      await this.sim.runUntil(() => p.outcome !== null, (limit - this.nowUs()) / 1000);
    }
    if (!p.outcome) {
      this.pending = null;
      throw new EventFailure(
        p.ev.line,
        p.ev.text,
        new ScriptFailure(`${p.call.name}() did not return by ${formatSeconds(limit)} s (expected at ${formatSeconds(p.endUs)} s ±${formatSeconds(p.toleranceUs)})`),
      );
    }
    this.checkPending();
  }

  /** Compare a call's outcome with `= result [ERRNO]`. */
  private verifyCall(p: PendingCall, o: CallOutcome): void {
    const call = p.call;
    // A ScriptFailure from the call itself (an out-parameter differs), or a runner bug.
    if (!o.ok && !(o.error instanceof Errno)) throw o.error;
    const want = call.result;
    const wantText = `${exprText(want)}${call.errno ? ` ${call.errno}` : ''}`;
    let problem: string | null = null;
    if (!o.ok) {
      const err = o.error as Errno;
      const got = `-1 ${errnoName(err.errno)} (${strerror(err.errno)})`;
      if (!call.errno) problem = `expected ${call.name}() = ${wantText}, it failed: ${got}`;
      else {
        const wantErr = errnoByName(call.errno);
        if (wantErr === undefined) throw new Unsupported(`errno ${call.errno} is not known to the kernel`);
        if (wantErr !== err.errno) problem = `expected ${call.name}() = ${wantText}, got ${got}`;
        else if (want.kind === 'int' && want.value !== -1) problem = `a failing call returns -1, the script says ${exprText(want)}`;
      }
    } else if (call.errno) {
      problem = `expected ${call.name}() = ${wantText}, it returned ${o.ret}`;
    } else if (want.kind !== 'ellipsis') {
      // Symbolic results (O_RDWR, …) read from the same table as arguments.
      if (intOf(want, `${call.name} result`) !== o.ret) problem = `expected ${call.name}() = ${wantText}, it returned ${o.ret}`;
    }
    if (problem === null) return;
    const f = new ScriptFailure(problem);
    if (!this.cfg.nonFatalSyscall) throw f;
    this.warnings.push(`${this.script.path}:${p.ev.line}: warning: ${problem}`);
  }

  /* ---------------------------------------------------------------------- */
  /* Code snippets */

  private async snapshot(ev: ScriptEvent): Promise<void> {
    const s = this.sockets.underTest;
    if (!s || s.liveFd === null || s.closed) {
      throw new ScriptFailure('a code snippet reads TCP_INFO of the socket under test, and it has no open descriptor');
    }
    let info: unknown;
    try {
      info = await this.kernel!.sys.getsockopt(s.liveFd, IPPROTO_TCP, TCP_INFO);
    } catch (e) {
      if (e instanceof Errno) throw new ScriptFailure(`getsockopt(${s.scriptFd}, IPPROTO_TCP, TCP_INFO) for the code snippet failed: ${errnoName(e.errno)} (${strerror(e.errno)})`);
      throw e;
    }
    const vars = codeConstants();
    for (const [k, v] of tcpInfoVars(info)) vars.set(k, v);
    this.snapshots.push({ ev, vars });
  }
}

/** TCP_INFO as the kernel returns it → `tcpi_*` numbers. */
export function tcpInfoVars(info: unknown): Map<string, number> {
  const out = new Map<string, number>();
  if (info instanceof Uint8Array) {
    // FreeBSD's struct tcp_info: u8 state, ca_state, retransmits, probes, backoff, options, wscales; then u32s.
    if (info.length < 8) return out;
    out.set('tcpi_state', info[0]!);
    out.set('tcpi_retransmits', info[2]!);
    out.set('tcpi_probes', info[3]!);
    out.set('tcpi_backoff', info[4]!);
    out.set('tcpi_options', info[5]!);
    out.set('tcpi_snd_wscale', info[6]! & 0x0f);
    out.set('tcpi_rcv_wscale', info[6]! >>> 4);
    return out;
  }
  if (info === null || typeof info !== 'object') throw new ScriptFailure(`TCP_INFO returned ${String(info)}, not a structure`);
  const states = ['CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RECEIVED', 'ESTABLISHED', 'CLOSE_WAIT', 'FIN_WAIT_1', 'CLOSING', 'LAST_ACK', 'FIN_WAIT_2', 'TIME_WAIT'];
  for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
    const name = k.startsWith('tcpi_') ? k : `tcpi_${k}`;
    if (typeof v === 'number') out.set(name, v);
    else if (typeof v === 'boolean') out.set(name, v ? 1 : 0);
    else if (typeof v === 'string' && name === 'tcpi_state') {
      const s = v.toUpperCase().replace(/^TCPS?_/, '').replace('SYN_RCVD', 'SYN_RECEIVED');
      const i = states.indexOf(s);
      if (i >= 0) out.set(name, i);
    }
  }
  return out;
}

function describeEvent(ev: ScriptEvent): string {
  const a = ev.action;
  switch (a.type) {
    case 'packet':
      return a.packet.direction === 'inbound' ? 'the inbound packet' : 'the outbound packet';
    case 'syscall':
      return `${a.call.name}()`;
    case 'command':
      return 'the command';
    case 'code':
      return 'the code snippet';
  }
}

/* ------------------------------------------------------------------------ */
/* Many scripts */

export interface SuiteResult {
  results: ScriptResult[];
  passed: number;
  failed: number;
}

/** Run scripts one after another; `report` sees each result as it comes. */
export async function runScripts(paths: readonly string[], opts: RunOptions = {}, report?: (r: ScriptResult) => void): Promise<SuiteResult> {
  const results: ScriptResult[] = [];
  for (const p of paths) {
    const r = await runScriptFile(p, opts);
    results.push(r);
    report?.(r);
  }
  const passed = results.filter((r) => r.passed).length;
  return { results, passed, failed: results.length - passed };
}

/** The one summary line. */
export function summaryLine(s: SuiteResult): string {
  return `${s.passed} passed, ${s.failed} failed`;
}

