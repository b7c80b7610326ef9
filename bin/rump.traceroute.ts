#!/usr/bin/env node
/*
 * rump.traceroute [-dIlnrvx] [-f first_ttl] [-m max_ttl] [-p port]
 *                 [-q nqueries] [-s src_addr] [-t tos] [-w waittime]
 *                 [-z pausemsecs] host [packetlen]
 *
 * NetBSD's traceroute(8) against a rump kernel: probes with TTL 1, 2, ...
 * until the destination answers or max_ttl is reached. Each router on the
 * way drops the probe whose TTL runs out and says so with ICMP time
 * exceeded (RFC 792, RFC 1812 §5.3.1); the destination answers a UDP probe
 * to an unused port with port unreachable, an ICMP probe (-I) with an echo
 * reply. Replies are read from a raw ICMP socket.
 *
 * Probes: UDP from source port `ident` (0x8000 | random) to port + seq,
 * seq counting every probe from 1 (port defaults to 33434, so the first
 * probe goes to 33435), TTL set per probe with IP_TTL; the data is
 * NetBSD's struct outdata (seq, ttl, two pad bytes, the send time as two
 * 32-bit words), so the default packet is 20 + 8 + 12 = 40 bytes.
 * Deviation: NetBSD writes the whole IP header itself (IP_HDRINCL); here the
 * kernel's UDP (or ICMP) output does, so -F (don't fragment) and -g (source
 * routing) are not offered.
 *
 * Output is NetBSD's: the header line on stderr
 *
 *   traceroute to b (10.0.2.2), 64 hops max, 40 byte packets
 *
 * then one line per TTL on stdout: each new address that answered (its
 * name from the kernel's hosts table unless -n) and each probe's round
 * trip, `*` for a probe that got no answer within -w seconds, !H, !N, !P,
 * ... for unreachables. max_ttl defaults to the kernel's net.inet.ip.ttl,
 * as NetBSD's does. Exit 0; usage and bad values exit 1.
 */
import { EADDRINUSE } from '../kern/errno.js';
import { AF_INET, MSG_DONTROUTE, MSG_DONTWAIT, SOCK_DGRAM, SOCK_RAW } from '../kern/sys.js';
import {
  ICMP_ECHO, ICMP_ECHOREPLY, ICMP_HDR_LEN, ICMP_MINLEN, ICMP_TIMXCEED, ICMP_TIMXCEED_INTRANS, ICMP_UNREACH,
  ICMP_UNREACH_ADMIN_PROHIBIT, ICMP_UNREACH_HOST, ICMP_UNREACH_HOST_PRECEDENCE, ICMP_UNREACH_NEEDFRAG, ICMP_UNREACH_NET,
  ICMP_UNREACH_PORT, ICMP_UNREACH_PRECEDENCE_CUTOFF, ICMP_UNREACH_PROTOCOL, ICMP_UNREACH_SRCFAIL,
  icmpCode, icmpId, icmpNextMtu, icmpSeq, icmpSetChecksum, icmpType, icmpWriteEcho,
} from '../net/wire/icmp.js';
import { IPPROTO_ICMP, IPPROTO_IP, IPPROTO_UDP, IP_HDR_MIN, ipDst, ipHlen, ipP, ipSrc, ipTtl } from '../net/wire/ipv4.js';
import { formatInAddr, parseInAddr } from '../net/wire/inaddr.js';
import { parseHosts, type HostsEntry } from '../net/resolv.js';
import { SOL_SOCKET, SO_DEBUG } from '../net/socket.js';
import {
  errText, errnoOf, errx, exit, getopt, guard, realClock, runIfMain, withSys, type SysLike, type ToolClock, type ToolIO,
} from './common.js';
import { waitReadable } from './rump.ping.js';

const PROG = 'rump.traceroute';
const USAGE =
  `Usage: ${PROG} [-dIlnrvx] [-f first_ttl]\n` +
  '\t[-m max_ttl] [-p port] [-q nqueries] [-s src_addr] [-t tos]\n' +
  '\t[-w waittime] [-z pausemsecs] host [packetlen]\n';

/** NetBSD's IP_TOS and IP_TTL socket options (netinet/in.h). */
const IP_TOS = 3;
const IP_TTL = 4;
/** struct outdata: seq, ttl, 2 pad bytes, tv32 (sec, usec). */
const OUTDATA_LEN = 12;
const UDP_HDR_LEN = 8;
const MAXPACKET = 32 * 1024;
/** What NetBSD reads a reply into (packet[512]). */
const PACKET_BUF = 512;
/** Options of NetBSD's traceroute this one does not offer (no IP_HDRINCL, AS lookups, MPLS). */
const UNSUPPORTED = 'aADFgiMP';

interface Options {
  host: string;
  firstTtl: number;
  maxTtl: number | null;
  port: number;
  nprobes: number;
  /** ms */
  waittime: number;
  pauseMs: number;
  numeric: boolean;
  useIcmp: boolean;
  ttlFlag: boolean;
  verbose: boolean;
  dontroute: boolean;
  debug: boolean;
  source: string | null;
  tos: number;
  packlen: number | null;
}

function usage(io: ToolIO): never {
  io.stderr(USAGE);
  exit(1);
}

/** NetBSD's str2val: decimal or 0x hex, bounded; its messages. */
function str2val(s: string, what: string, mi: number, ma: number): number {
  const m = /^0[xX]([0-9a-fA-F]+)$/.exec(s);
  const ok = m ? true : /^[+-]?[0-9]+$/.test(s);
  const v = m ? parseInt(m[1]!, 16) : Number(s);
  if (!ok || !Number.isSafeInteger(v)) errx(`"${s}" bad value for ${what}`);
  if (v < mi && mi >= 0) errx(mi === 0 ? `${what} must be >= ${mi}` : `${what} must be > ${mi - 1}`);
  if (v > ma && ma >= 0) errx(`${what} must be <= ${ma}`);
  return v;
}

function parseArgs(argv: string[], io: ToolIO): Options {
  // NetBSD's traceroute sets opterr = 0: a bad option is the usage alone.
  const quiet: ToolIO = { stdout: () => undefined, stderr: () => undefined };
  const g = getopt(PROG, quiet, argv, 'aA:dDFPIMnlrvxf:g:i:m:p:q:s:t:w:z:');
  if (!g) usage(io);
  const o: Options = {
    host: '', firstTtl: 1, maxTtl: null, port: 32768 + 666, nprobes: 3, waittime: 5000, pauseMs: 0, numeric: false,
    useIcmp: false, ttlFlag: false, verbose: false, dontroute: false, debug: false, source: null, tos: -1, packlen: null,
  };
  for (const [c, arg] of g.opts) {
    const a = arg ?? '';
    switch (c) {
      case 'd': o.debug = true; break;
      case 'f': o.firstTtl = str2val(a, 'first ttl', 1, 255); break;
      case 'I': o.useIcmp = true; break;
      case 'l': o.ttlFlag = true; break;
      case 'm': o.maxTtl = str2val(a, 'max ttl', 1, 255); break;
      case 'n': o.numeric = true; break;
      case 'p': o.port = str2val(a, 'port', 1, 65535); break;
      case 'q': o.nprobes = str2val(a, 'nprobes', 1, -1); break;
      case 'r': o.dontroute = true; break;
      case 's': o.source = a; break;
      case 't': o.tos = str2val(a, 'tos', 0, 255); break;
      case 'v': o.verbose = true; break;
      case 'x': break; // checksums: the kernel computes them
      case 'w': o.waittime = str2val(a, 'wait time', 2, 24 * 60 * 60) * 1000; break;
      case 'z': o.pauseMs = str2val(a, 'pause msecs', 0, 60 * 60 * 1000); break;
      default:
        if (UNSUPPORTED.includes(c)) errx(`-${c} is not supported`);
        usage(io);
    }
  }
  if (g.rest.length < 1 || g.rest.length > 2) usage(io);
  o.host = g.rest[0]!;
  if (g.rest.length === 2) o.packlen = str2val(g.rest[1]!, 'packet length', minPacket(o), MAXPACKET);
  return o;
}

/** The smallest packet: IP header, UDP or ICMP header, outdata. */
function minPacket(o: Options): number {
  return IP_HDR_MIN + (o.useIcmp ? ICMP_HDR_LEN : UDP_HDR_LEN) + OUTDATA_LEN;
}

/** The kernel's hosts table (net.resolv.hosts), empty when it has none. */
async function hostsTable(sys: SysLike): Promise<HostsEntry[]> {
  try {
    return parseHosts(String(await sys.sysctl('net.resolv.hosts')), ';');
  } catch {
    return [];
  }
}

/** gethostinfo(): an address literal, or the first IPv4 address of the name in the hosts table. */
function resolveHost(host: string, hosts: readonly HostsEntry[]): { name: string; addr: number } {
  const a = parseInAddr(host);
  if (a !== null) return { name: host, addr: a };
  for (const e of hosts) {
    const v = parseInAddr(e.address);
    if (v !== null && e.names.includes(host)) return { name: e.names[0]!, addr: v };
  }
  errx(`unknown host ${host}`);
}

/** One run: the sockets, the probe being sent, what the loop needs. */
class Trace {
  /** Probes sent so far (the last probe's number). */
  seq = 0;
  readonly packet: Uint8Array;

  constructor(
    readonly o: Options,
    readonly io: ToolIO,
    readonly sys: SysLike,
    /** Raw ICMP: replies, and -I's probes. */
    readonly rcv: number,
    /** UDP probes (-1 with -I). */
    readonly snd: number,
    readonly dst: number,
    readonly ident: number,
    readonly packlen: number,
    readonly clock: ToolClock,
    readonly names: Map<number, string>,
  ) {
    // What we hand the socket: the UDP data, or the whole ICMP message (header and data).
    this.packet = new Uint8Array(packlen - IP_HDR_MIN - (o.useIcmp ? 0 : UDP_HDR_LEN));
  }

  /** send_probe(): the outdata, then the UDP datagram or the echo request, with TTL `ttl`. */
  async send(seq: number, ttl: number, now: number): Promise<void> {
    const o = this.o;
    const p = this.packet;
    const at = o.useIcmp ? ICMP_HDR_LEN : 0;
    p[at] = seq & 0xff;
    p[at + 1] = ttl;
    const dv = new DataView(p.buffer, p.byteOffset + at + 4, 8);
    dv.setUint32(0, Math.floor(now / 1000) >>> 0);
    dv.setUint32(4, Math.floor((now % 1000) * 1000) >>> 0);
    const fd = o.useIcmp ? this.rcv : this.snd;
    const flags = o.dontroute ? MSG_DONTROUTE : 0;
    try {
      await this.sys.setsockopt(fd, IPPROTO_IP, IP_TTL, ttl);
    } catch (e) {
      errx(`setsockopt ttl ${ttl}: ${errText(e)}`);
    }
    let port = 0;
    if (o.useIcmp) {
      icmpWriteEcho(p, 0, ICMP_ECHO, this.ident, seq & 0xffff);
      icmpSetChecksum(p, 0, p.length);
    } else {
      port = (o.port + seq) & 0xffff;
    }
    try {
      await this.sys.sendto(fd, p, flags, { family: AF_INET, addr: formatInAddr(this.dst), port });
    } catch (e) {
      this.io.stderr(`${PROG}: sendto: ${errText(e)}\n`);
      this.io.stdout(`${PROG}: wrote ${this.o.host} ${this.packlen} chars, ret=-1\n`);
    }
  }

  /**
   * packet_ok(): 0 for a datagram that is not about probe `seq`; -1 for
   * time exceeded in transit; -2 for our echo reply; else the unreachable
   * code + 1.
   */
  classify(buf: Uint8Array, from: string, seq: number): number {
    const o = this.o;
    if (buf.length < IP_HDR_MIN) return 0;
    const hlen = ipHlen(buf, 0);
    let cc = buf.length;
    if (hlen < IP_HDR_MIN || cc < hlen + ICMP_MINLEN) {
      if (o.verbose) this.io.stdout(`packet too short (${cc} bytes) from ${from}\n`);
      return 0;
    }
    cc -= hlen;
    const type = icmpType(buf, hlen);
    const code = icmpCode(buf, hlen);
    if ((type === ICMP_TIMXCEED && code === ICMP_TIMXCEED_INTRANS) || type === ICMP_UNREACH || type === ICMP_ECHOREPLY) {
      if (o.useIcmp && type === ICMP_ECHOREPLY) {
        return icmpId(buf, hlen) === this.ident && icmpSeq(buf, hlen) === (seq & 0xffff) ? -2 : 0;
      }
      const q = hlen + ICMP_HDR_LEN;
      if (type !== ICMP_ECHOREPLY && cc >= ICMP_HDR_LEN + IP_HDR_MIN) {
        const qhlen = ipHlen(buf, q);
        const u = q + qhlen;
        // The quoted datagram's first 8 bytes: UDP ports, or the echo's id and seq.
        if (qhlen >= IP_HDR_MIN && ICMP_HDR_LEN + qhlen + 8 <= cc) {
          const ours = o.useIcmp
            ? ipP(buf, q) === IPPROTO_ICMP && icmpId(buf, u) === this.ident && icmpSeq(buf, u) === (seq & 0xffff)
            : ipP(buf, q) === IPPROTO_UDP && ((buf[u]! << 8) | buf[u + 1]!) === this.ident &&
              ((buf[u + 2]! << 8) | buf[u + 3]!) === ((o.port + seq) & 0xffff);
          if (ours) return type === ICMP_TIMXCEED ? -1 : code + 1;
        }
      }
    }
    if (o.verbose) {
      let out = `\n${cc} bytes from ${from} to ${formatInAddr(ipDst(buf, 0))}: icmp type ${type} (${typeName(type)}) code ${code}\n`;
      const dv = new DataView(buf.buffer, buf.byteOffset);
      // The words from the quoted datagram on (icmp_ip), numbered from 4 as
      // NetBSD numbers them, read as the host reads them (little-endian here).
      for (let i = 4; i < cc; i += 4) {
        const w = hlen + ICMP_HDR_LEN + (i - 4);
        const v = w + 4 <= buf.length ? dv.getUint32(w, true) : 0;
        out += `${String(i).padStart(2)}: x${v.toString(16).padStart(8, '0')}\n`;
      }
      this.io.stdout(out);
    }
    return 0;
  }

  /** print(): the address that answered, with its name unless -n. */
  who(buf: Uint8Array, from: string): string {
    let s = this.o.numeric ? ` ${from}` : ` ${this.names.get(parseInAddr(from) ?? -1) ?? from} (${from})`;
    if (this.o.verbose) s += ` ${buf.length - ipHlen(buf, 0)} bytes to ${formatInAddr(ipDst(buf, 0))}`;
    return s;
  }
}

const TYPE_NAMES = [
  'Echo Reply', 'ICMP 1', 'ICMP 2', 'Dest Unreachable', 'Source Quench', 'Redirect', 'ICMP 6', 'ICMP 7',
  'Echo', 'ICMP 9', 'ICMP 10', 'Time Exceeded', 'Param Problem', 'Timestamp', 'Timestamp Reply', 'Info Request', 'Info Reply',
];

function typeName(t: number): string {
  return TYPE_NAMES[t] ?? 'OUT-OF-RANGE';
}

/** The marks NetBSD prints after an unreachable's time (code → mark). */
const UNREACH_MARKS: Record<number, string> = {
  [ICMP_UNREACH_NET]: ' !N', [ICMP_UNREACH_HOST]: ' !H', [ICMP_UNREACH_SRCFAIL]: ' !S',
  [ICMP_UNREACH_ADMIN_PROHIBIT]: ' !X', [ICMP_UNREACH_HOST_PRECEDENCE]: ' !V', [ICMP_UNREACH_PRECEDENCE_CUTOFF]: ' !C',
};

/** Read one datagram from the raw socket, or null when none is waiting. */
async function readOne(t: Trace): Promise<{ data: Uint8Array; from: string } | null> {
  try {
    const r = await t.sys.recvfrom(t.rcv, PACKET_BUF, MSG_DONTWAIT);
    return { data: r.data, from: r.from?.addr ?? formatInAddr(ipSrc(r.data, 0)) };
  } catch {
    return null;
  }
}

/** main()'s loop: every TTL, every probe, until the destination answers or max_ttl. */
async function trace(t: Trace, maxTtl: number): Promise<void> {
  const { o, io, clock } = t;
  for (let ttl = o.firstTtl; ttl <= maxTtl; ttl++) {
    let lastaddr: string | null = null;
    let gotThere = false;
    let unreachable = 0;
    let line = '';
    for (let probe = 0; probe < o.nprobes; probe++) {
      if (probe > 0 && o.pauseMs > 0) await clock.sleep(o.pauseMs);
      if (!o.useIcmp && ((o.port + t.seq + 1) & 0xffff) === 0) t.seq++;
      const seq = ++t.seq;
      const t1 = clock.now();
      await t.send(seq, ttl, t1);
      if (probe === 0) line += `${String(ttl).padStart(2)} `;
      let answered = false;
      for (;;) {
        const left = t1 + o.waittime - clock.now();
        if (left <= 0 || io.signal?.aborted) break;
        if (!(await waitReadable(t.sys, t.rcv, left, clock, io.signal))) continue;
        const r = await readOne(t);
        if (r === null) continue;
        const t2 = clock.now();
        if (t2 - t1 > o.waittime) break;
        const i = t.classify(r.data, r.from, seq);
        if (i === 0) continue;
        if (lastaddr === null || r.from !== lastaddr) {
          if (lastaddr !== null) line += '\n   ';
          line += t.who(r.data, r.from);
          lastaddr = r.from;
        }
        line += `  ${(t2 - t1).toFixed(3)} ms`;
        if (o.ttlFlag) line += ` (ttl = ${ipTtl(r.data, 0)})`;
        answered = true;
        if (i === -2 || i - 1 === ICMP_UNREACH_PORT) {
          // A reply that arrived with TTL 1 or less: the destination sent it with our probe's TTL (an old stack's bug).
          if (ipTtl(r.data, 0) <= 1) line += ' !';
          gotThere = true;
        } else if (i - 1 === ICMP_UNREACH_PROTOCOL) {
          gotThere = true;
          line += ' !P';
        } else if (i - 1 === ICMP_UNREACH_NEEDFRAG) {
          unreachable++;
          line += ` !F-${icmpNextMtu(r.data, ipHlen(r.data, 0))}`;
        } else if (i !== -1) {
          unreachable++;
          line += UNREACH_MARKS[i - 1] ?? ` !<${i - 1}>`;
        }
        break;
      }
      if (!answered) line += ' *';
      io.stdout(line);
      line = '';
      if (io.signal?.aborted) break;
    }
    io.stdout('\n');
    if (gotThere || (unreachable > 0 && unreachable >= Math.floor((o.nprobes + 1) / 2)) || io.signal?.aborted) break;
  }
}

let identSeq = 0;

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const o = parseArgs(argv, io);
    let source: number | null = null;
    if (o.source !== null) {
      source = parseInAddr(o.source);
      if (source === null) errx(`unknown host ${o.source}`);
    }
    return withSys(PROG, io, async (sys) => {
      const hosts = await hostsTable(sys);
      const target = resolveHost(o.host, hosts);
      let maxTtl = o.maxTtl;
      if (maxTtl === null) {
        // NetBSD starts from the kernel's default TTL (IPCTL_DEFTTL).
        const v = await sys.sysctl('net.inet.ip.ttl').catch(() => 30);
        maxTtl = typeof v === 'number' && v > 0 ? v : 30;
      }
      if (o.firstTtl > maxTtl) errx(`first ttl (${o.firstTtl}) may not be greater than max ttl (${maxTtl})`);
      const packlen = o.packlen ?? minPacket(o);
      const names = new Map<number, string>();
      for (const e of hosts) {
        const v = parseInAddr(e.address);
        if (v !== null && !names.has(v)) names.set(v, e.names[0]!);
      }
      let rcv: number;
      try {
        rcv = await sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
      } catch (e) {
        errx(`icmp socket: ${errText(e)}`);
      }
      let snd = -1;
      try {
        if (o.debug) await sys.setsockopt(rcv, SOL_SOCKET, SO_DEBUG, 1).catch(() => undefined);
        let ident = 0;
        if (o.useIcmp) {
          ident = ((process.pid + identSeq++) & 0x7fff) | 0x8000;
          if (source !== null) await sys.bind(rcv, { family: AF_INET, addr: formatInAddr(source), port: 0 }).catch((e: unknown) => errx(`bind: ${errText(e)}`));
          if (o.tos >= 0) await sys.setsockopt(rcv, IPPROTO_IP, IP_TOS, o.tos).catch((e: unknown) => errx(`setsockopt tos ${o.tos}: ${errText(e)}`));
        } else {
          try {
            snd = await sys.socket(AF_INET, SOCK_DGRAM, 0);
          } catch (e) {
            errx(`raw socket: ${errText(e)}`);
          }
          // The source port is the run's identifier: the next free one from 0x8000 | pid.
          for (let tries = 0; ; tries++) {
            ident = ((process.pid + identSeq++) & 0x7fff) | 0x8000;
            try {
              await sys.bind(snd, { family: AF_INET, addr: source === null ? '0.0.0.0' : formatInAddr(source), port: ident });
              break;
            } catch (e) {
              if (errnoOf(e) !== EADDRINUSE || tries > 64) errx(`bind: ${errText(e)}`);
            }
          }
          if (o.tos >= 0) await sys.setsockopt(snd, IPPROTO_IP, IP_TOS, o.tos).catch((e: unknown) => errx(`setsockopt tos ${o.tos}: ${errText(e)}`));
        }
        let head = `${PROG} to ${target.name} (${formatInAddr(target.addr)})`;
        if (o.source !== null) head += ` from ${o.source}`;
        io.stderr(`${head}, ${maxTtl} hops max, ${packlen} byte packets\n`);
        const t = new Trace(o, io, sys, rcv, snd, target.addr, ident, packlen, io.clock ?? realClock, names);
        await trace(t, maxTtl);
        return 0;
      } finally {
        await sys.close(rcv).catch(() => undefined);
        if (snd >= 0) await sys.close(snd).catch(() => undefined);
      }
    });
  });
}

runIfMain(import.meta.url, PROG, main, { interruptible: true });
