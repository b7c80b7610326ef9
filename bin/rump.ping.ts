#!/usr/bin/env node
/*
 * rump.ping [-aCdLnoPQqRrv] [-c count] [-g gateway] [-h host] [-I addr] [-i interval]
 *           [-l preload] [-p pattern] [-s size] [-T ttl] [-t tos] [-w maxwait] host
 *
 * -g sends the requests through `gateway` with a loose source route, -R asks
 * for the route in a record route option (RFC 791) and prints what the
 * reply brings back; both write their own IP header (IP_HDRINCL). Routers
 * act on source routes only with net.inet.ip.allowsrcrt and forwsrcrt.
 *
 * NetBSD's ping(8) against a rump kernel: ICMP echo requests (RFC 792) on a
 * raw ICMP socket, replies matched by identifier, one line per reply, the
 * statistics block at the end. Exit status 0 when any reply came back, 2
 * when none did, 1 for usage and errors (as NetBSD's).
 *
 * The loop is NetBSD's doit(): send when the next transmit time is due,
 * otherwise poll the socket until then; after the last request, wait for
 * replies max(2 * the longest round trip, 10 * interval) or until the -w
 * deadline. The poll timeout runs on the kernel's clock and the times on
 * `io.clock`; on the sim host both are the virtual clock.
 *
 * Each request carries an 8-byte timestamp (the sender's clock in ms, a
 * float64) at the start of its data, so the round trip is measured from
 * the reply itself; the rest of the data is the byte pattern i & 0xff.
 * Deliberate deviation: NetBSD stores a struct timespec (16 bytes); our
 * clock is not seconds+nanoseconds, and only this program reads it.
 */
import { EAGAIN } from '../kern/errno.js';
import { POLLIN } from '../kern/select.js';
import { AF_INET, MSG_DONTROUTE, MSG_DONTWAIT, SOCK_RAW } from '../kern/sys.js';
import {
  ICMP_ECHO, ICMP_ECHOREPLY, ICMP_HDR_LEN, ICMP_MINLEN, ICMP_PARAMPROB, ICMP_REDIRECT, ICMP_SOURCEQUENCH,
  ICMP_TIMXCEED, ICMP_UNREACH, ICMP_UNREACH_NEEDFRAG, icmpCode, icmpGateway, icmpId, icmpNextMtu, icmpPptr,
  icmpSeq, icmpSetChecksum, icmpType, icmpWriteEcho,
} from '../net/wire/icmp.js';
import { IPPROTO_ICMP, IPPROTO_IP, IP_HDR_MIN, IP_MAXPACKET, ipHlen, ipP, ipSetHl, ipSrc, ipTtl, ipWriteHeader } from '../net/wire/ipv4.js';
import { formatInAddr, parseInAddr } from '../net/wire/inaddr.js';
import { SOL_SOCKET, SO_DEBUG, SO_RCVBUF, SO_SNDBUF } from '../net/socket.js';
import {
  errText, errnoOf, errx, exit, getopt, guard, parseCDouble, parseCInt, realClock, runIfMain, withSys,
  type SysLike, type ToolClock, type ToolIO,
} from './common.js';

const PROG = 'rump.ping';
const USAGE =
  'usage: \n' +
  `${PROG} [-aCDdfLnoPQqRrv] [-c count] [-g gateway] [-h host] [-I addr] [-i interval]\n` +
  '     [-l preload] [-p pattern] [-s size] [-T ttl] [-t tos] [-w maxwait] \n' +
  '     [-E policy] host\n';

/** Largest data size: an IP datagram with a maximal header and the ICMP header. */
const MAXPACKET = IP_MAXPACKET - 60 - 8;
/** NetBSD's IP_TOS and IP_TTL socket options (netinet/in.h). */
const IP_TOS = 3;
const IP_TTL = 4;
/** Bytes of the timestamp at the start of the data. */
const TIMESTAMP_LEN = 8;
/** Data sizes from which NetBSD times replies to the microsecond (a timespec fits) or at all. */
const TIMING64_MIN = 16;
/** Sequence numbers remembered for duplicate detection (NetBSD's MAX_DUP_CHK). */
const MAX_DUP_CHK = 8 * 2048;
/** Send when the next transmit time is this close (NetBSD: 100 µs). */
const SEND_SLACK_MS = 0.1;
/** Behind schedule by more than this, skip sends instead of bursting (NetBSD: 100 ms). */
const CATCH_UP_MS = 100;

/** Options this ping takes but cannot honour (DF, flood, IPsec). */
const UNSUPPORTED = 'DfE';
/** IP_HDRINCL (netinet/in.h): -g and -R write their own header, with the options. */
const IP_HDRINCL = 2;
/** IP option numbers and sizes (RFC 791): loose source route, record route, 40 bytes of options at most. */
const IPOPT_LSRR = 131;
const IPOPT_RR = 7;
const IPOPT_MINOFF = 4;
const MAX_IPOPTLEN = 40;
/** The TTL of a -g/-R request without -T (NetBSD's IPDEFTTL, the kernel's own default). */
const IPDEFTTL = 64;

/** The options rump.ping and rump.ping6 share (the same letters in NetBSD's two). */
export interface PingCommonOptions {
  host: string;
  /** Requests to send; Infinity without -c. */
  npackets: number;
  /** ms between requests. */
  interval: number;
  /** ms until giving up, 0 for none (ping -w, ping6 -X). */
  maxwait: number;
  datalen: number;
  preload: number;
  quiet: boolean;
  verbose: boolean;
  once: boolean;
  debug: boolean;
  /** -p: the fill bytes, or null. */
  pattern: number[] | null;
  /** -S: the source address, or null. */
  source: string | null;
}

interface PingOptions extends PingCommonOptions {
  semiQuiet: boolean;
  audible: boolean;
  compat: boolean;
  dontroute: boolean;
  randomFill: boolean;
  patternText: string;
  ttl: number;
  tos: number;
  /** -g: the first hop of a loose source route (RFC 791), or null. */
  gateway: string | null;
  /** -R: ask for the route in a record route option and print it. */
  recordRoute: boolean;
}

let identSeq = 0;

/** Parse the command line as NetBSD's ping does; errors leave through errx/exit. */
function parseArgs(argv: string[], io: ToolIO): PingOptions {
  const g = getopt(PROG, io, argv, 'ac:CdDfg:h:i:I:l:Lnop:PqQrRs:t:T:vw:E:');
  if (!g) usage(io);
  const o: PingOptions = {
    host: '', npackets: Infinity, interval: 0, maxwait: 0, datalen: 64 - TIMESTAMP_LEN, preload: 0,
    quiet: false, semiQuiet: false, verbose: false, once: false, audible: false, compat: false, debug: false,
    dontroute: false, randomFill: false, pattern: null, patternText: '', ttl: 0, tos: -1, source: null,
    gateway: null, recordRoute: false,
  };
  let hostOpt: string | null = null;
  for (const [c, arg] of g.opts) {
    const a = arg ?? '';
    switch (c) {
      case 'a': o.audible = true; break;
      case 'C': o.compat = true; break;
      case 'c': {
        const n = parseCInt(a);
        if (n === null || n <= 0) errx(`Bad/invalid number of packets: ${a}`);
        o.npackets = n;
        break;
      }
      case 'd': o.debug = true; break;
      case 'g': o.gateway = a; break;
      case 'R': o.recordRoute = true; break;
      case 'h': hostOpt = a; break;
      case 'i': {
        const s = parseCDouble(a);
        if (s === null || s <= 0) errx(`Bad/invalid interval: ${a}`);
        o.interval = s * 1000;
        break;
      }
      case 'I': o.source = a; break;
      case 'l': {
        const n = parseCInt(a);
        if (n === null || n < 0) errx(`Bad/invalid preload value: ${a}`);
        o.preload = n;
        break;
      }
      case 'L': break; // multicast loopback: no multicast here
      case 'n': break; // names are never looked up
      case 'o': o.once = true; break;
      case 'p':
        if (o.randomFill) errx('Only one of -P and -p allowed');
        o.patternText = a;
        break;
      case 'P':
        if (o.patternText) errx('Only one of -P and -p allowed');
        o.randomFill = true;
        break;
      case 'q': o.quiet = true; break;
      case 'Q': o.semiQuiet = true; break;
      case 'r': o.dontroute = true; break;
      case 's': {
        const n = parseCInt(a);
        if (n === null || n < 0) errx(`Bad/invalid packet size: ${a}`);
        if (n > MAXPACKET) errx('packet size is too large');
        o.datalen = n;
        break;
      }
      case 't': {
        const n = parseCInt(a);
        if (n === null || n < 0 || n > 0xff) errx(`bad tos value: ${a}`);
        o.tos = n;
        break;
      }
      case 'T': {
        const n = parseCInt(a);
        if (n === null || n > 255 || n <= 0) errx(`ttl out of range: ${a}`);
        o.ttl = n;
        break;
      }
      case 'v': o.verbose = true; break;
      case 'w': {
        const s = parseCDouble(a);
        if (s === null || s <= 0) errx(`Bad/invalid maxwait time: ${a}`);
        o.maxwait = s * 1000;
        break;
      }
      default:
        if (UNSUPPORTED.includes(c)) errx(`-${c} is not supported`);
        usage(io);
    }
  }
  if (o.interval === 0) o.interval = 1000;
  if (hostOpt !== null) {
    if (g.rest.length !== 0) usage(io);
    o.host = hostOpt;
  } else {
    if (g.rest.length !== 1) usage(io);
    o.host = g.rest[0]!;
  }
  if (o.patternText) o.pattern = parsePattern(o.patternText);
  if (Number.isFinite(o.npackets)) o.npackets += o.preload;
  return o;
}

function usage(io: ToolIO): never {
  io.stderr(USAGE);
  exit(1);
}

/** -p: 1 to 32 hex digits, read as up to 16 bytes. */
function parsePattern(text: string): number[] {
  if (!/^[0-9a-fA-F]{1,32}$/.test(text)) {
    errx(`"-p ${text}": patterns must be specified with 1-32 hex digits\n`);
  }
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i += 2) bytes.push(parseInt(text.slice(i, i + 2), 16));
  return bytes;
}

/** The target: a dotted quad (or localhost); we resolve no other names. */
function resolveHost(host: string): number {
  const a = parseInAddr(host);
  if (a !== null) return a;
  if (host === 'localhost') return 0x7f000001;
  errx(`Cannot resolve "${host}" (Unknown host)`);
}

/**
 * What NetBSD's doit() loop (run, below) needs of a ping: rump.ping6
 * shares the loop with its own packets, lines and statistics.
 */
export interface PingLoop {
  readonly o: { npackets: number; interval: number; maxwait: number; preload: number; once: boolean };
  readonly io: ToolIO;
  readonly sys: SysLike;
  readonly fd: number;
  readonly clock: ToolClock;
  /** The program name for messages. */
  readonly prog: string;
  /** How much one receive asks for. */
  readonly packlen: number;
  ntransmitted: number;
  nreceived: number;
  nextTx: number;
  lastTx: number;
  tmax: number;
  /** Send one request at `now` and schedule the next (nextTx). */
  pinger(now: number): Promise<void>;
  /** One datagram read from the socket; `hoplimit` is -1 unless the socket reports it. */
  prPack(buf: Uint8Array, fromAddr: string | null, now: number, hoplimit: number): void;
}

/**
 * The next transmit time after a send at `now` (NetBSD's): keep a steady
 * rhythm; at most 100 ms behind, send the missed ones, further behind, skip them.
 */
export function nextTransmit(p: PingLoop, now: number): void {
  p.lastTx = now;
  if (p.nextTx < 0) p.nextTx = now;
  if (p.nextTx - now <= p.o.interval) {
    do p.nextTx += p.o.interval;
    while (p.nextTx - now < -CATCH_UP_MS);
  }
}

/**
 * What ping and ping6 count alike (NetBSD's globals of both): requests sent,
 * replies, duplicates told apart by a bitmap of the last MAX_DUP_CHK
 * sequence numbers, round-trip times, and the loss line of the statistics.
 */
export class PingTally {
  ntransmitted = 0;
  nreceived = 0;
  nrepeats = 0;
  tmin = Infinity;
  tmax = 0;
  tsum = 0;
  tsumsq = 0;
  private readonly rcvd = new Uint8Array(MAX_DUP_CHK / 8);

  /** A request with sequence number `seq` went out: a reply to it is new again. */
  protected countSent(seq: number): void {
    this.rcvd[(seq >>> 3) % this.rcvd.length]! &= ~(1 << (seq & 7));
    this.ntransmitted++;
  }

  /** A reply to `seq`; true when it is a duplicate (counted in nrepeats, not nreceived). */
  protected countReply(seq: number): boolean {
    const i = (seq >>> 3) % this.rcvd.length;
    const bit = 1 << (seq & 7);
    if ((this.rcvd[i]! & bit) !== 0) {
      this.nrepeats++;
      return true;
    }
    this.rcvd[i]! |= bit;
    this.nreceived++;
    return false;
  }

  /** One reply's round-trip time, ms, into min, max, sum and sum of squares. */
  protected countTime(triptime: number): void {
    this.tsum += triptime;
    this.tsumsq += triptime * triptime;
    if (triptime < this.tmin) this.tmin = triptime;
    if (triptime > this.tmax) this.tmax = triptime;
  }

  /** "N packets transmitted, M packets received, [+D duplicates, ]L% packet loss\n". */
  protected lossLine(): string {
    let out = `${this.ntransmitted} packets transmitted, ${this.nreceived} packets received, `;
    if (this.nrepeats) out += `+${this.nrepeats} duplicates, `;
    if (this.ntransmitted) {
      if (this.nreceived > this.ntransmitted) out += "-- somebody's duplicating packets!";
      else out += `${(((this.ntransmitted - this.nreceived) * 100) / this.ntransmitted).toFixed(1)}% packet loss`;
    }
    return out + '\n';
  }
}

/** Statistics and state of one run (NetBSD ping's globals). */
class Ping extends PingTally implements PingLoop {
  readonly prog = PROG;
  /** The newest request has been answered (prefinish's test). */
  lastrcvd = true;
  /** Next transmit time, ms; -1 before the first. */
  nextTx = -1;
  lastTx = 0;
  /** The request, rebuilt in place for each send. */
  readonly packet: Uint8Array;
  /** Where replies are read. */
  readonly packlen: number;
  readonly timing: boolean;
  readonly precision: number;
  readonly phdrlen: number;
  private rnd = 0;
  /** -g / -R: the whole datagram, our IP header with its options in front of `packet`; null without them. */
  private datagram: Uint8Array | null = null;
  /** Where requests go: the -g gateway, else the host. */
  private sendTo: number;
  /** The last route printed (-R), to say "(same route)" as NetBSD does. */
  private lastRoute = '';

  constructor(
    readonly o: PingOptions,
    readonly io: ToolIO,
    readonly sys: SysLike,
    readonly fd: number,
    readonly dst: number,
    readonly ident: number,
    readonly clock: ToolClock,
  ) {
    super();
    // NetBSD sends the ICMP header and max(datalen, ICMP_MINLEN) bytes of data.
    this.packet = new Uint8Array(ICMP_HDR_LEN + Math.max(o.datalen, ICMP_MINLEN));
    this.packlen = o.datalen + 60 + 76;
    this.timing = o.datalen >= TIMESTAMP_LEN;
    this.precision = this.timing && !o.compat && o.datalen >= TIMING64_MIN ? 6 : 3;
    this.phdrlen = this.timing ? TIMESTAMP_LEN : 0;
    this.sendTo = dst;
    const data = this.packet.subarray(ICMP_HDR_LEN);
    if (o.pattern) {
      for (let k = this.phdrlen, j = 0; k < o.datalen; k++, j = (j + 1) % o.pattern.length) data[k] = o.pattern[j]!;
    } else if (!o.randomFill) {
      for (let i = this.phdrlen; i < o.datalen; i++) data[i] = i & 0xff;
    }
  }

  /**
   * -g and -R: requests carry IP options, so the header is ours (IP_HDRINCL):
   * a loose source route through `gateway` to the host (RFC 791 §3.1: the
   * header names the first hop, the option the rest), then a record route
   * option with as many slots as fit in the 40 bytes.
   */
  withOptions(gateway: number | null, source: number | null): void {
    const opts: number[] = [];
    if (gateway !== null) {
      opts.push(IPOPT_LSRR, 7, IPOPT_MINOFF, this.dst >>> 24, (this.dst >>> 16) & 0xff, (this.dst >>> 8) & 0xff, this.dst & 0xff);
      this.sendTo = gateway;
    }
    if (this.o.recordRoute) {
      const slots = Math.floor((MAX_IPOPTLEN - opts.length - 3) / 4);
      opts.push(IPOPT_RR, 3 + 4 * slots, IPOPT_MINOFF, ...new Array<number>(4 * slots).fill(0));
    }
    while (opts.length % 4) opts.push(0); // IPOPT_EOL
    const hlen = IP_HDR_MIN + opts.length;
    const d = new Uint8Array(hlen + this.packet.length);
    // Length, id and checksum are the kernel's (0 asks for them); the source too when 0.
    ipWriteHeader(d, 0, this.o.tos >= 0 ? this.o.tos : 0, 0, 0, 0, this.o.ttl || IPDEFTTL, IPPROTO_ICMP, source ?? 0, this.sendTo);
    ipSetHl(d, 0, hlen >>> 2);
    d.set(opts, IP_HDR_MIN);
    this.datagram = d;
  }

  /** NetBSD's rnd_fill(): a cheap LCG over the data after the timestamp. */
  private fillRandom(): void {
    const data = this.packet.subarray(ICMP_HDR_LEN);
    for (let i = this.phdrlen; i < this.o.datalen; i++) {
      this.rnd = (Math.imul(3141592621, this.rnd) + 663896637) >>> 0;
      data[i] = this.rnd >>> 24;
    }
  }

  /** Compose and send one echo request (NetBSD's pinger()). */
  async pinger(now: number): Promise<void> {
    const seq = this.ntransmitted & 0xffff;
    const pkt = this.packet;
    if (this.o.randomFill) this.fillRandom();
    icmpWriteEcho(pkt, 0, ICMP_ECHO, this.ident, seq);
    if (this.timing) new DataView(pkt.buffer, pkt.byteOffset + ICMP_HDR_LEN, TIMESTAMP_LEN).setFloat64(0, now);
    icmpSetChecksum(pkt, 0, pkt.length);
    const d = this.datagram;
    if (d !== null) d.set(pkt, d.length - pkt.length);
    try {
      await this.sys.sendto(this.fd, d ?? pkt, this.o.dontroute ? MSG_DONTROUTE : 0, { family: AF_INET, addr: formatInAddr(this.sendTo), port: 0 });
    } catch (e) {
      this.io.stderr(`${PROG}: sendto: ${errText(e)}\n`);
    }
    this.lastrcvd = false;
    this.countSent(seq);
    nextTransmit(this, now);
  }

  /** Handle one datagram from the raw socket: IP header, then ICMP (NetBSD's pr_pack()). */
  prPack(buf: Uint8Array, fromAddr: string | null, now: number): void {
    if (buf.length < IP_HDR_MIN) return;
    const hlen = ipHlen(buf, 0);
    const from = fromAddr ?? formatInAddr(ipSrc(buf, 0));
    if (hlen < IP_HDR_MIN || buf.length < hlen + ICMP_MINLEN) {
      if (this.o.verbose) this.io.stdout(`packet too short (${buf.length} bytes) from ${from}\n`);
      return;
    }
    const netLen = buf.length - hlen;
    const type = icmpType(buf, hlen);
    if (type === ICMP_ECHOREPLY && icmpId(buf, hlen) === this.ident) {
      const seq = icmpSeq(buf, hlen);
      if (seq === ((this.ntransmitted - 1) & 0xffff)) this.lastrcvd = true;
      let triptime = 0;
      if (this.timing && netLen >= ICMP_HDR_LEN + TIMESTAMP_LEN) {
        const sent = new DataView(buf.buffer, buf.byteOffset + hlen + ICMP_HDR_LEN, TIMESTAMP_LEN).getFloat64(0);
        triptime = now - sent;
        this.countTime(triptime);
      }
      const dup = this.countReply(seq);
      if (this.o.quiet) return;
      let line = `${netLen} bytes from ${from}: icmp_seq=${seq}`;
      if (dup) line += ' DUP!';
      line += ` ttl=${ipTtl(buf, 0)}`;
      if (this.timing) line += ` time=${triptime.toFixed(this.precision)} ms`;
      this.io.stdout(line + '\n' + this.recordedRoute(buf, hlen));
      if (this.o.audible && !dup) this.io.stderr('\x07');
      return;
    }
    const text = this.describeIcmp(buf, hlen, netLen, from);
    if (text !== null) this.io.stdout(text + '\n');
  }

  /**
   * A reply's record route option as NetBSD's pr_pack prints it: "RR:" and
   * the addresses filled so far, one per line, or "(same route)" when they
   * are the last reply's. Empty without one.
   */
  private recordedRoute(buf: Uint8Array, hlen: number): string {
    for (let i = IP_HDR_MIN; i + 2 < hlen;) {
      const opt = buf[i]!;
      if (opt === 0) break;
      if (opt === 1) {
        i++;
        continue;
      }
      const olen = buf[i + 1]!;
      if (olen < 2) break;
      if (opt === IPOPT_RR) {
        const used = Math.min(buf[i + 2]!, olen + 1) - IPOPT_MINOFF;
        const addrs: string[] = [];
        for (let a = 0; a + 4 <= used; a += 4) addrs.push(formatInAddr(new DataView(buf.buffer, buf.byteOffset + i + 3 + a, 4).getUint32(0)));
        if (addrs.length === 0) return '';
        const route = addrs.join('\n\t');
        if (route === this.lastRoute) return '\t(same route)\n';
        this.lastRoute = route;
        return `RR: \t${route}\n`;
      }
      i += olen;
    }
    return '';
  }

  /**
   * Other ICMP messages (NetBSD's pr_icmph()): errors about our own
   * requests are shown unless -q or -Q; anything else only with -v.
   */
  private describeIcmp(buf: Uint8Array, hlen: number, netLen: number, from: string): string | null {
    const type = icmpType(buf, hlen);
    const code = icmpCode(buf, hlen);
    const isError = type === ICMP_UNREACH || type === ICMP_SOURCEQUENCH || type === ICMP_REDIRECT ||
      type === ICMP_TIMXCEED || type === ICMP_PARAMPROB;
    // The quoted datagram: its IP header, then (for ours) our echo request.
    const q = hlen + ICMP_HDR_LEN;
    let ours = false;
    let quotedSeq = -1;
    if (isError && buf.length >= q + IP_HDR_MIN) {
      const qhlen = ipHlen(buf, q);
      if (ipP(buf, q) === IPPROTO_ICMP && qhlen >= IP_HDR_MIN && buf.length >= q + qhlen + ICMP_HDR_LEN) {
        ours = icmpId(buf, q + qhlen) === this.ident;
        if (icmpType(buf, q + qhlen) === ICMP_ECHO) quotedSeq = icmpSeq(buf, q + qhlen);
      }
    }
    const show = this.o.verbose || (ours && isError && !this.o.quiet && !this.o.semiQuiet);
    if (!show || type === ICMP_ECHOREPLY) return null;
    let desc: string;
    switch (type) {
      case ICMP_UNREACH:
        desc = UNREACH_TEXT[code] ?? `Bad Destination Unreachable Code: ${code}`;
        if (code === ICMP_UNREACH_NEEDFRAG) desc = `frag needed and DF set.  Next MTU=${icmpNextMtu(buf, hlen)}`;
        break;
      case ICMP_SOURCEQUENCH: desc = 'Source Quench'; break;
      case ICMP_REDIRECT:
        desc = `${REDIRECT_TEXT[code] ?? `Redirect--Bad Code: ${code}`} New router addr: ${formatInAddr(icmpGateway(buf, hlen))}`;
        break;
      case ICMP_TIMXCEED:
        desc = code === 0 ? 'Time To Live exceeded' : code === 1 ? 'Frag reassembly time exceeded' : `Time exceeded, Bad Code: ${code}`;
        break;
      case ICMP_PARAMPROB: desc = `Parameter problem: pointer = 0x${icmpPptr(buf, hlen).toString(16).padStart(2, '0')}`; break;
      case ICMP_ECHO: desc = `Echo Request: ID=${icmpId(buf, hlen)} seq=${icmpSeq(buf, hlen)}`; break;
      default: desc = OTHER_TEXT[type] ?? `Bad ICMP type: ${type}`;
    }
    if (isError && quotedSeq >= 0) desc += this.o.verbose ? `\n  ID=${icmpId(buf, q + ipHlen(buf, q))} icmp_seq=${quotedSeq}` : ` for icmp_seq=${quotedSeq}`;
    return `${netLen} bytes from ${from}: ${desc}`;
  }

  /** The statistics block (NetBSD's summary(1)). */
  summary(hostname: string): string {
    let out = `\n----${hostname} PING Statistics----\n` + this.lossLine();
    if (this.nreceived && this.timing) {
      const n = this.nreceived + this.nrepeats;
      const avg = this.tsum / n;
      // The sample standard deviation, as NetBSD computes it.
      const variance = n > 1 ? Math.max(0, (this.tsumsq - n * avg * avg) / (n - 1)) : 0;
      const p = this.precision;
      out += `round-trip min/avg/max/stddev = ${this.tmin.toFixed(p)}/${avg.toFixed(p)}/${this.tmax.toFixed(p)}/${Math.sqrt(variance).toFixed(p)} ms\n`;
    }
    return out;
  }
}

const UNREACH_TEXT: Record<number, string> = {
  0: 'Destination Net Unreachable',
  1: 'Destination Host Unreachable',
  2: 'Destination Protocol Unreachable',
  3: 'Destination Port Unreachable',
  5: 'Source Route Failed',
  6: 'Unreachable unknown net',
  7: 'Unreachable unknown host',
  8: 'Unreachable host isolated',
  9: 'Net prohibited access',
  10: 'Host prohibited access',
  11: 'Bad TOS for net',
  12: 'Bad TOS for host',
  13: 'Communication prohibited',
  14: 'Host precedence violation',
  15: 'Precedence cutoff',
};

const REDIRECT_TEXT: Record<number, string> = {
  0: 'Redirect Network',
  1: 'Redirect Host',
  2: 'Redirect Type of Service and Network',
  3: 'Redirect Type of Service and Host',
};

const OTHER_TEXT: Record<number, string> = {
  9: 'Router Discovery Advert',
  10: 'Router Discovery Solicit',
  13: 'Timestamp',
  14: 'Timestamp Reply',
  15: 'Information Request',
  16: 'Information Reply',
  17: 'Address Mask Request',
  18: 'Address Mask Reply',
};

/**
 * Wait until the socket is readable or `ms` passed; false on timeout or
 * interrupt. The poll's timeout runs on the kernel's clock; our own clock's
 * sleep, a millisecond longer, runs beside it so that a kernel whose timers
 * do not keep the host process alive (an in-process node host) cannot let
 * the process exit under us, and so that we never wait past the deadline.
 */
export async function waitReadable(sys: SysLike, fd: number, ms: number, clock: ToolClock, signal: AbortSignal | undefined): Promise<boolean> {
  // Whole milliseconds, rounded up: a timeout that rounds to 0 would spin.
  const wait = Math.max(0, Math.ceil(ms));
  const polled = sys.poll([{ fd, events: POLLIN }], wait).then((r) => ((r[0]?.revents ?? 0) & POLLIN) !== 0);
  const bounded = wait === 0 ? polled : Promise.race([polled, clock.sleep(wait + 1).then(() => false)]);
  if (!signal) return bounded;
  if (signal.aborted) return false;
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<boolean>((resolve) => {
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([bounded, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Read every datagram waiting on the socket. */
async function drain(p: PingLoop): Promise<void> {
  for (;;) {
    let r;
    try {
      r = await p.sys.recvfrom(p.fd, p.packlen, MSG_DONTWAIT);
    } catch (e) {
      if (errnoOf(e) !== EAGAIN) p.io.stderr(`${p.prog}: recvfrom: ${errText(e)}\n`);
      return;
    }
    p.prPack(r.data, r.from?.addr ?? null, p.clock.now(), r.hoplimit ?? -1);
  }
}

/** NetBSD's doit(): send on schedule, collect replies, stop at the count or the deadline. */
export async function run(p: PingLoop, signal: AbortSignal | undefined): Promise<void> {
  const { o, clock } = p;
  for (let i = 0; i < o.preload; i++) await p.pinger(clock.now());
  const last = o.maxwait ? clock.now() + o.maxwait : 0;
  do {
    if (signal?.aborted) return;
    let now = clock.now();
    const dLast = last ? last - now : Infinity;
    let wait: number;
    if (p.ntransmitted < o.npackets && dLast > 0) {
      let ms = p.nextTx < 0 ? 0 : p.nextTx - now;
      if (ms <= SEND_SLACK_MS) {
        await p.pinger(now);
        now = clock.now();
        ms = p.nextTx - now;
      }
      wait = Math.min(Math.max(ms, 0), dLast);
    } else {
      // For the last reply, wait twice the worst round trip seen or ten
      // intervals, whichever is longer.
      wait = Math.min(Math.max(2 * p.tmax, 10 * o.interval) - (now - p.lastTx), dLast);
      if (wait <= 0) return;
    }
    if (await waitReadable(p.sys, p.fd, wait, clock, signal)) await drain(p);
  } while (p.nreceived < o.npackets && (p.nreceived === 0 || !o.once));
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const o = parseArgs(argv, io);
    const dst = resolveHost(o.host);
    const source = o.source === null ? null : parseInAddr(o.source);
    if (o.source !== null && source === null) errx(`Cannot resolve "${o.source}" (Unknown host)`);
    return withSys(PROG, io, async (sys) => {
      let fd: number;
      try {
        fd = await sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
      } catch (e) {
        errx(`Cannot create socket: ${errText(e)}`);
      }
      try {
        return await ping(o, io, sys, fd, dst, source);
      } finally {
        await sys.close(fd).catch(() => undefined);
      }
    });
  });
}

async function ping(o: PingOptions, io: ToolIO, sys: SysLike, fd: number, dst: number, source: number | null): Promise<number> {
  if (o.debug) {
    await sys.setsockopt(fd, SOL_SOCKET, SO_DEBUG, 1).catch((e: unknown) => io.stderr(`${PROG}: Can't turn on socket debugging: ${errText(e)}\n`));
  }
  if (source !== null) {
    await sys.bind(fd, { family: AF_INET, addr: formatInAddr(source), port: 0 }).catch((e: unknown) => errx(`Can't set source interface/address: ${errText(e)}`));
  }
  // As BSD ping: room for the largest datagram both ways (a 65507-byte -s, or the reply to it).
  const bufspace = IP_MAXPACKET + 128;
  await sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, bufspace).catch(() => undefined);
  await sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, bufspace).catch(() => undefined);
  if (o.ttl) await sys.setsockopt(fd, IPPROTO_IP, IP_TTL, o.ttl).catch((e: unknown) => errx(`Can't set time-to-live: ${errText(e)}`));
  if (o.tos >= 0) await sys.setsockopt(fd, IPPROTO_IP, IP_TOS, o.tos).catch((e: unknown) => errx(`Can't set type-of-service: ${errText(e)}`));
  let gateway: number | null = null;
  if (o.gateway !== null) {
    gateway = parseInAddr(o.gateway);
    if (gateway === null) errx(`Cannot resolve "${o.gateway}" (Unknown host)`);
  }
  if (gateway !== null || o.recordRoute) {
    await sys.setsockopt(fd, IPPROTO_IP, IP_HDRINCL, 1).catch((e: unknown) => errx(`Can't set IP_HDRINCL: ${errText(e)}`));
  }

  const clock = io.clock ?? realClock;
  const ident = (process.pid + identSeq++) & 0xffff;
  const p = new Ping(o, io, sys, fd, dst, ident, clock);
  if (gateway !== null || o.recordRoute) p.withOptions(gateway, source);
  if (o.pattern && !o.quiet) {
    io.stdout(`PATTERN: 0x${o.pattern.map((b) => b.toString(16).padStart(2, '0')).join('')}\n`);
  }
  io.stdout(`PING ${o.host} (${formatInAddr(dst)}): ${o.datalen} data bytes\n`);
  await run(p, io.signal);
  io.stdout(p.summary(o.host));
  return p.nreceived > 0 ? 0 : 2;
}

runIfMain(import.meta.url, PROG, main, { interruptible: true });
