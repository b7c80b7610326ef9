#!/usr/bin/env node
/*
 * rump.ping6 [-dnqv] [-c count] [-h hoplimit] [-I interface] [-i wait]
 *            [-l preload] [-p pattern] [-S sourceaddr] [-s packetsize]
 *            [-X deadline] host
 *
 * NetBSD's ping6(8) against a rump kernel: ICMPv6 echo requests (RFC 4443
 * §4.1) on a raw ICMPv6 socket, replies matched by identifier, one line per
 * reply with the hop limit the kernel reports (IPV6_RECVHOPLIMIT), the
 * statistics block at the end:
 *
 *   PING6(56=40+8+8 bytes) ::1 --> ::1
 *   16 bytes from ::1, icmp_seq=0 hlim=64 time=0.123 ms
 *
 *   --- ::1 ping6 statistics ---
 *   1 packets transmitted, 1 packets received, 0.0% packet loss
 *   round-trip min/avg/max/std-dev = 0.123/0.123/0.123/0.000 ms
 *
 * Exit status 0 when any reply came back, 2 when none did, 1 for usage and
 * errors. The send and wait schedule is rump.ping's (NetBSD's doit()),
 * shared: -X is the deadline rump.ping calls -w.
 *
 * The source shown is the one a datagram socket connected to the target
 * gets (as ping6 finds it), or -S, or the first address of -I's interface
 * of the target's scope. Each request carries rump.ping's 8-byte timestamp
 * (a float64 of the sender's clock) where NetBSD puts a struct tv32.
 */
import { AF_INET6, SOCK_DGRAM, SOCK_RAW } from '../kern/sys.js';
import { IPPROTO_IPV6, IPV6_UNICAST_HOPS } from '../net/inet/in_pcb.js';
import { IPV6_RECVHOPLIMIT } from '../net/inet6/raw6.js';
import type { IfInfo } from '../net/ioctl.js';
import { SOL_SOCKET, SO_DEBUG, SO_RCVBUF, SO_SNDBUF } from '../net/socket.js';
import {
  ICMP6_DST_UNREACH, ICMP6_ECHO_REPLY, ICMP6_ECHO_REQUEST, ICMP6_HDR_LEN, ICMP6_PACKET_TOO_BIG, ICMP6_PARAM_PROB,
  ICMP6_TIME_EXCEEDED, icmp6Code, icmp6Type,
} from '../net/wire/icmp6.js';
import { formatIn6Addr, parseIn6Addr } from '../net/wire/in6addr.js';
import { IPPROTO_ICMPV6, IPV6_MAXPACKET } from '../net/wire/ipv6.js';
import {
  errText, errx, exit, getopt, guard, parseCDouble, parseCInt, realClock, runIfMain, withSys,
  type SysLike, type ToolClock, type ToolIO,
} from './common.js';
import { PingTally, nextTransmit, run, type PingCommonOptions, type PingLoop } from './rump.ping.js';

const PROG = 'rump.ping6';
const USAGE =
  `usage: ${PROG} [-dnqv] [-c count] [-h hoplimit] [-I interface] [-i wait]\n` +
  '     [-l preload] [-p pattern] [-S sourceaddr] [-s packetsize] [-X deadline] host\n';

/** The data ping6 sends by default: its timestamp (ICMP6ECHOTMLEN). */
const DEFDATALEN = 8;
/** Bytes of our timestamp at the start of the data. */
const TIMESTAMP_LEN = 8;
/** The largest data: an IPv6 payload less the ICMPv6 header. */
const MAXDATALEN = IPV6_MAXPACKET - ICMP6_HDR_LEN;
/** Options of NetBSD's ping6 that this one cannot honour. */
const UNSUPPORTED = 'abfgHmNtwWxP';

interface Ping6Options extends PingCommonOptions {
  hoplimit: number;
  ifname: string | null;
}

let identSeq = 0;

function usage(io: ToolIO): never {
  io.stderr(USAGE);
  exit(1);
}

/** Parse the command line as NetBSD's ping6 does; errors leave through errx/exit. */
function parseArgs(argv: string[], io: ToolIO): Ping6Options {
  const g = getopt(PROG, io, argv, 'a:b:c:dfg:h:HI:i:l:mnNp:qS:s:tvwWx:X:P:');
  if (!g) usage(io);
  const o: Ping6Options = {
    host: '', npackets: Infinity, interval: 1000, maxwait: 0, datalen: DEFDATALEN, preload: 0, quiet: false,
    verbose: false, once: false, debug: false, hoplimit: -1, pattern: null, source: null, ifname: null,
  };
  for (const [c, arg] of g.opts) {
    const a = arg ?? '';
    switch (c) {
      case 'c': {
        const n = parseCInt(a);
        if (n === null || n <= 0) errx(`illegal number of packets -- ${a}`);
        o.npackets = n;
        break;
      }
      case 'd': o.debug = true; break;
      case 'h': {
        const n = parseCInt(a);
        if (n === null || n < 0 || n > 255) errx(`illegal hoplimit ${a}`);
        o.hoplimit = n;
        break;
      }
      case 'I': o.ifname = a; break;
      case 'i': {
        const s = parseCDouble(a);
        if (s === null || s <= 0) errx(`illegal timing interval ${a}`);
        o.interval = s * 1000;
        break;
      }
      case 'l': {
        const n = parseCInt(a);
        if (n === null || n < 0) errx(`illegal preload value -- ${a}`);
        o.preload = n;
        break;
      }
      case 'n': break; // names are never looked up
      case 'p':
        if (!/^[0-9a-fA-F]{1,32}$/.test(a)) errx('illegal pattern character');
        o.pattern = [];
        for (let i = 0; i < a.length; i += 2) o.pattern.push(parseInt(a.slice(i, i + 2), 16));
        break;
      case 'q': o.quiet = true; break;
      case 'S': o.source = a; break;
      case 's': {
        const n = parseCInt(a);
        if (n === null || n < 0) errx(`illegal datalen value -- ${a}`);
        if (n > MAXDATALEN) errx(`datalen value too large, maximum is ${MAXDATALEN}`);
        o.datalen = n;
        break;
      }
      case 'v': o.verbose = true; break;
      case 'X': {
        const s = parseCDouble(a);
        if (s === null || s <= 0) errx(`illegal deadline value -- ${a}`);
        o.maxwait = s * 1000;
        break;
      }
      default:
        if (UNSUPPORTED.includes(c)) errx(`-${c} is not supported`);
        usage(io);
    }
  }
  // Intermediate hops (a routing header) are not supported: one host.
  if (g.rest.length !== 1) usage(io);
  o.host = g.rest[0]!;
  if (Number.isFinite(o.npackets)) o.npackets += o.preload;
  return o;
}

/** The target: an IPv6 literal (a zone is kept in the text) or localhost; we resolve no other names. */
function resolveHost(host: string): string {
  if (host === 'localhost') return '::1';
  const text = host.replace(/%.*$/, '');
  const a = parseIn6Addr(text);
  if (a === null) errx(`${host}: no address associated with name`);
  return formatIn6Addr(a) + host.slice(text.length);
}

/** Statistics and state of one run (ping6's globals). */
class Ping6 extends PingTally implements PingLoop {
  readonly prog = PROG;
  nextTx = -1;
  lastTx = 0;
  readonly packlen: number;
  readonly timing: boolean;
  readonly packet: Uint8Array;
  /** What sendto gets: the target, with its zone as an index (sin6_scope_id) when it has one. */
  target: string;
  /** The interface's name ping6 shows after link-scope addresses, or ''. */
  zone = '';

  constructor(
    readonly o: Ping6Options,
    readonly io: ToolIO,
    readonly sys: SysLike,
    readonly fd: number,
    readonly dst: string,
    readonly ident: number,
    readonly clock: ToolClock,
  ) {
    super();
    this.target = dst;
    this.packet = new Uint8Array(ICMP6_HDR_LEN + o.datalen);
    this.packlen = ICMP6_HDR_LEN + o.datalen + 512;
    this.timing = o.datalen >= TIMESTAMP_LEN;
    const start = this.timing ? TIMESTAMP_LEN : 0;
    const data = this.packet.subarray(ICMP6_HDR_LEN);
    for (let i = start, j = 0; i < o.datalen; i++, j++) data[i] = o.pattern ? o.pattern[j % o.pattern.length]! : i & 0xff;
  }

  /** One echo request; the kernel fills in the checksum (RFC 3542 §3.1). */
  async pinger(now: number): Promise<void> {
    const seq = this.ntransmitted & 0xffff;
    const pkt = this.packet;
    pkt[0] = ICMP6_ECHO_REQUEST;
    pkt[1] = 0;
    pkt[2] = pkt[3] = 0;
    pkt[4] = this.ident >>> 8;
    pkt[5] = this.ident & 0xff;
    pkt[6] = seq >>> 8;
    pkt[7] = seq & 0xff;
    if (this.timing) new DataView(pkt.buffer, pkt.byteOffset + ICMP6_HDR_LEN, TIMESTAMP_LEN).setFloat64(0, now);
    try {
      await this.sys.sendto(this.fd, pkt, 0, { family: AF_INET6, addr: this.target, port: 0 });
    } catch (e) {
      this.io.stderr(`${PROG}: sendmsg: ${errText(e)}\n`);
    }
    this.countSent(seq);
    nextTransmit(this, now);
  }

  /** One ICMPv6 message from the raw socket (no IPv6 header), ping6's pr_pack(). */
  prPack(buf: Uint8Array, fromAddr: string | null, now: number, hoplimit: number): void {
    const from = fromAddr === null ? '?' : fromAddr + (this.zone !== '' && isLinkScope(fromAddr) ? `%${this.zone}` : '');
    const cc = buf.length;
    if (cc < ICMP6_HDR_LEN) {
      if (this.o.verbose) this.io.stdout(`packet too short (${cc} bytes) from ${from}\n`);
      return;
    }
    const type = icmp6Type(buf, 0);
    const id = (buf[4]! << 8) | buf[5]!;
    if (type === ICMP6_ECHO_REPLY && id === this.ident) {
      const seq = (buf[6]! << 8) | buf[7]!;
      let triptime = 0;
      if (this.timing && cc >= ICMP6_HDR_LEN + TIMESTAMP_LEN) {
        triptime = now - new DataView(buf.buffer, buf.byteOffset + ICMP6_HDR_LEN, TIMESTAMP_LEN).getFloat64(0);
        this.countTime(triptime);
      }
      const dup = this.countReply(seq);
      if (this.o.quiet) return;
      let line = `${cc} bytes from ${from}, icmp_seq=${seq}`;
      if (hoplimit >= 0) line += ` hlim=${hoplimit}`;
      if (this.timing) line += ` time=${triptime.toFixed(3)} ms`;
      if (dup) line += '(DUP!)';
      this.io.stdout(line + '\n');
      return;
    }
    // ping6 lets only its replies through ICMP6_FILTER unless -v.
    if (this.o.verbose && type !== ICMP6_ECHO_REQUEST) this.io.stdout(`${cc} bytes from ${from}: ${describe(type, icmp6Code(buf, 0))}\n`);
  }

  /** The statistics block (ping6's summary()). */
  summary(hostname: string): string {
    let out = `\n--- ${hostname} ping6 statistics ---\n` + this.lossLine();
    if (this.nreceived && this.timing) {
      const n = this.nreceived + this.nrepeats;
      const avg = this.tsum / n;
      // ping6's deviation: over all replies, not the sample's.
      const dev = Math.sqrt(Math.max(0, this.tsumsq / n - avg * avg));
      out += `round-trip min/avg/max/std-dev = ${this.tmin.toFixed(3)}/${avg.toFixed(3)}/${this.tmax.toFixed(3)}/${dev.toFixed(3)} ms\n`;
    }
    return out;
  }
}

/** A short name for a message that is not our reply (-v). */
function describe(type: number, code: number): string {
  switch (type) {
    case ICMP6_DST_UNREACH: return `Destination Unreachable, code ${code}`;
    case ICMP6_PACKET_TOO_BIG: return 'Packet too big';
    case ICMP6_TIME_EXCEEDED: return code === 0 ? 'Time to live exceeded' : 'Frag reassembly time exceeded';
    case ICMP6_PARAM_PROB: return `Parameter problem, code ${code}`;
    case ICMP6_ECHO_REPLY: return 'Echo Reply (not ours)';
    default: return `Bad ICMP type: ${type}`;
  }
}

/** -I: the interface's first IPv6 address of the target's scope (link-local or not). */
async function interfaceSource(sys: SysLike, fd: number, ifname: string, dst: string): Promise<string> {
  let ifs: IfInfo[];
  try {
    ifs = (await sys.ioctl(fd, 'SIOCGIFCONF', { name: ifname })) as IfInfo[];
  } catch (e) {
    errx(`${ifname}: ${errText(e)}`);
  }
  const wantLL = /^fe[89ab]/i.test(dst);
  const addrs = ifs[0]?.inet6 ?? [];
  const a = addrs.find((x) => /^fe[89ab]/i.test(x.addr) === wantLL);
  if (a === undefined) errx(`${ifname}: no IPv6 address for ${dst}`);
  return a.addr;
}

/** The source ping6 shows: -S, -I's, else what a datagram socket connected to the target gets. */
async function sourceFor(o: Ping6Options, sys: SysLike, fd: number, dst: string): Promise<string> {
  if (o.source !== null) return o.source;
  if (o.ifname !== null) return interfaceSource(sys, fd, o.ifname, dst);
  const u = await sys.socket(AF_INET6, SOCK_DGRAM, 0);
  try {
    await sys.connect(u, { family: AF_INET6, addr: dst, port: 1025 });
    return (await sys.getsockname(u)).addr;
  } catch (e) {
    errx(`UDP connect: ${errText(e)}`);
  } finally {
    await sys.close(u).catch(() => undefined);
  }
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const o = parseArgs(argv, io);
    const dst = resolveHost(o.host);
    if (o.source !== null && parseIn6Addr(o.source) === null) errx(`${o.source}: no address associated with name`);
    return withSys(PROG, io, async (sys) => {
      let fd: number;
      try {
        fd = await sys.socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
      } catch (e) {
        errx(`socket: ${errText(e)}`);
      }
      try {
        return await ping6(o, io, sys, fd, dst);
      } finally {
        await sys.close(fd).catch(() => undefined);
      }
    });
  });
}

/** fe80::/10 or a multicast group of interface- or link-local scope: an address that needs its zone (RFC 4007). */
function isLinkScope(a: string): boolean {
  return /^fe[89ab]/i.test(a) || /^ff[0-9a-f][12]:/i.test(a);
}

/**
 * The zone of a link-scope target: its `%zone` (an interface name or index,
 * as getaddrinfo and if_nametoindex take it), else -I's interface. Null for
 * a target that needs none.
 */
async function targetZone(o: Ping6Options, sys: SysLike, fd: number, dst: string): Promise<IfInfo | null> {
  const pct = dst.indexOf('%');
  const zone = pct >= 0 ? dst.slice(pct + 1) : isLinkScope(dst) ? o.ifname : null;
  if (zone === null) return null;
  const all = (await sys.ioctl(fd, 'SIOCGIFCONF', {}).catch(() => [])) as IfInfo[];
  const ifp = all.find((i) => i.name === zone || String(i.index) === zone);
  if (ifp === undefined) errx(`${o.host}: no address associated with name`);
  return ifp;
}

async function ping6(o: Ping6Options, io: ToolIO, sys: SysLike, fd: number, dst: string): Promise<number> {
  if (o.debug) await sys.setsockopt(fd, SOL_SOCKET, SO_DEBUG, 1).catch(() => undefined);
  const zone = await targetZone(o, sys, fd, dst);
  const bare = dst.replace(/%.*$/, '');
  // A scoped target's source is an address of its interface, as the kernel would choose.
  let src = zone !== null && o.source === null && o.ifname === null ? await interfaceSource(sys, fd, zone.name, bare) : await sourceFor(o, sys, fd, dst);
  if (zone !== null && isLinkScope(src) && !src.includes('%')) src += `%${zone.name}`;
  if (o.source !== null || o.ifname !== null) {
    await sys.bind(fd, { family: AF_INET6, addr: src.replace(/%.*$/, ''), port: 0 }).catch((e: unknown) => errx(`bind: ${errText(e)}`));
  }
  const bufspace = IPV6_MAXPACKET + 512;
  await sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, bufspace).catch(() => undefined);
  await sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, bufspace).catch(() => undefined);
  if (o.hoplimit >= 0) {
    await sys.setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, o.hoplimit).catch((e: unknown) => errx(`IPV6_UNICAST_HOPS: ${errText(e)}`));
  }
  await sys.setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1).catch(() => undefined);
  const clock = io.clock ?? realClock;
  const ident = (process.pid + identSeq++) & 0xffff;
  const p = new Ping6(o, io, sys, fd, dst, ident, clock);
  if (zone !== null) {
    p.target = `${bare}%${zone.index}`;
    p.zone = zone.name;
  }
  io.stdout(`PING6(${40 + ICMP6_HDR_LEN + o.datalen}=40+8+${o.datalen} bytes) ${src} --> ${dst}\n`);
  await run(p, io.signal);
  io.stdout(p.summary(o.host));
  return p.nreceived > 0 ? 0 : 2;
}


runIfMain(import.meta.url, PROG, main, { interruptible: true });
