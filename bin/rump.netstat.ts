#!/usr/bin/env node
/*
 * rump.netstat: NetBSD's netstat(1) against a rump kernel.
 *
 *   rump.netstat [-an] [-f af]         sockets (-a: listening and unconnected ones too);
 *                                      IPv4 then IPv6 (tcp6, udp6), -f inet or -f inet6 one
 *   rump.netstat -r [-n] [-f af]       the routing tables: Internet (as `route -n show`)
 *                                      from `rtdump`, then Internet6 from `rt6dump`
 *   rump.netstat -s [-s] [-p proto]    protocol statistics (tcp, udp, ip, icmp, igmp, arp);
 *                                      -ss leaves out the zero counters
 *   rump.netstat -i [-bnv] [-I if]     interfaces and their packet counters
 *
 * Statistics come from the kernel's sysctl records (net.inet.ip.stats,
 * net.inet.icmp.stats, net.inet.igmp.stats, net.inet.udp.stats,
 * net.inet.tcp.stats, net.inet.arp.stats) and are printed with NetBSD's wording, one line per
 * counter, all of them with one -s (NetBSD's convention) and only the
 * non-zero ones with -ss. A counter the kernel has and NetBSD does not is
 * printed after the others under its own name. Sockets come from
 * `sys.ext('pcblist')` (see PcbInfo below); a kernel without that call
 * shows the header only. IPv6 sockets get their own section, as NetBSD's
 * ip6protopr() prints them, shown when there are any (or with -f inet6).
 */
import { ENOSYS } from '../kern/errno.js';
import { AF_INET6 } from '../kern/sys.js';
import type { IfInfo, RouteInfo } from '../net/ioctl.js';
import { IFF_UP } from '../net/interface.js';
import { RTF_HOST, RTF_LLDATA, RTF_STATIC, RTF_UP } from '../net/route.js';
import { formatNetShort, parseInAddr } from '../net/wire/inaddr.js';
import { formatIn6Addr, parseIn6Addr } from '../net/wire/in6addr.js';
import {
  errText, errnoOf, errx, exit, formatRouteTable, getopt, guard, padLeft, padRight, plural, routeFlagLetters, runIfMain,
  withInetSocket, withSys, type SysLike, type ToolIO,
} from './common.js';

const PROG = 'rump.netstat';
const USAGE =
  `usage: ${PROG} [-an] [-f address_family]\n` +
  `       ${PROG} [-binrsv] [-f address_family]\n` +
  `       ${PROG} [-bn] [-I interface]\n` +
  `       ${PROG} [-s] [-p protocol]\n` +
  `       ${PROG} -m\n`;

/**
 * A protocol control block as `sys.ext('pcblist')` should return it (the
 * structured form of NetBSD's net.inet.{tcp,udp}.pcblist sysctl).
 */
export interface PcbInfo {
  /** tcp, udp; tcp6, udp6 for IPv6 PCBs. */
  proto: 'tcp' | 'udp' | 'tcp6' | 'udp6' | string;
  laddr: string;
  lport: number;
  faddr: string;
  fport: number;
  /** Bytes in the receive and send buffers. */
  recvQ: number;
  sendQ: number;
  /** TCP state name ("ESTABLISHED", "LISTEN", ...); absent for UDP. */
  state?: string;
  /** AF_INET or AF_INET6 (addresses then in RFC 5952 text); absent: told by `proto`. */
  family?: number;
}

/** Whether a PCB is an IPv6 one (its family, or a kernel that only says tcp6/udp6). */
export function isInet6Pcb(p: PcbInfo): boolean {
  return p.family !== undefined ? p.family === AF_INET6 : p.proto.endsWith('6');
}

interface MbufStatsInfo { allocs: number; frees: number; drops: number; inUse: number }
interface MemLimitInfo { limit: number; used: number; peak: number; failures: number }

/**
 * -m: packet buffer use, in NetBSD's lines (mbpr), over the kernel's memory
 * account: "Kbytes allocated to network" is what packet and socket buffers
 * hold, its share of RUMP_MEMLIMIT when there is one, and every allocation
 * refused at the limit is a "request for memory denied".
 */
export function formatMbufStats(m: MbufStatsInfo, mem: MemLimitInfo): string {
  const kb = (n: number): number => Math.ceil(n / 1024);
  let out = `${m.inUse} mbuf${m.inUse === 1 ? '' : 's'} in use:\n\t${m.inUse} mbuf${m.inUse === 1 ? '' : 's'} allocated to data\n`;
  out += mem.limit >= 0
    ? `${kb(mem.used)} Kbytes allocated to network (${Math.round((100 * mem.used) / mem.limit)}% of the ${kb(mem.limit)} Kbyte limit, peak ${kb(mem.peak)})\n`
    : `${kb(mem.used)} Kbytes allocated to network (no limit, peak ${kb(mem.peak)})\n`;
  out += `${m.drops} requests for memory denied\n0 requests for memory delayed\n0 calls to protocol drain routines\n`;
  return out;
}

function usage(io: ToolIO): never {
  io.stderr(USAGE);
  exit(1);
}

/* ------------------------------------------------------------------------ */
/* -s                                                                       */

type Stats = Record<string, unknown>;

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/**
 * Prints one section. `p(key, fmt)` prints a counter the kernel has, as
 * NetBSD's p()/ps() macros do: `%N` is the value, `%S` its plural "s".
 */
class Section {
  out = '';
  private readonly used = new Set<string>();

  constructor(
    readonly s: Stats,
    readonly sflag: number,
  ) {}

  has(key: string): boolean {
    return key in this.s;
  }

  get(key: string): number {
    this.used.add(key);
    return num(this.s[key]);
  }

  /** Mark keys as printed by a custom line. */
  use(...keys: string[]): void {
    for (const k of keys) this.used.add(k);
  }

  show(n: number): boolean {
    return n !== 0 || this.sflag <= 1;
  }

  line(n: number, fmt: string, n2 = 0): void {
    if (this.show(n)) this.out += fill(fmt, n, n2);
  }

  /** A counter with one value. */
  p(key: string, fmt: string): void {
    if (this.has(key)) this.line(this.get(key), fmt);
  }

  /** Two counters on one line, printed when either is non-zero. */
  p2(k1: string, k2: string, fmt: string): void {
    if (!this.has(k1) || !this.has(k2)) return;
    const a = this.get(k1);
    const b = this.get(k2);
    if (a || b || this.sflag <= 1) this.out += fill(fmt, a, b);
  }

  /** Counters this tool has no words for, under their own names. */
  rest(indent = '\t'): void {
    for (const [k, v] of Object.entries(this.s)) {
      if (this.used.has(k) || typeof v !== 'number') continue;
      if (this.show(v)) this.out += `${indent}${v} ${k}\n`;
    }
  }
}

/** Replace %N/%S (first value) and %M/%T (second value) in a NetBSD-style line. */
function fill(fmt: string, n: number, m = 0): string {
  return fmt.replace('%N', String(n)).replace('%S', plural(n)).replace('%M', String(m)).replace('%T', plural(m));
}

function ipStats(x: Section): void {
  x.p('total', '\t%N total packet%S received\n');
  x.p('badsum', '\t%N bad header checksum%S\n');
  x.p('toosmall', '\t%N with size smaller than minimum\n');
  x.p('tooshort', '\t%N with data size < data length\n');
  x.p('toolong', '\t%N with length > max ip packet size\n');
  x.p('badhlen', '\t%N with header length < data size\n');
  x.p('badlen', '\t%N with data length < header length\n');
  x.p('badoptions', '\t%N with bad options\n');
  x.p('badvers', '\t%N with incorrect version number\n');
  x.p('fragments', '\t%N fragment%S received\n');
  x.p('fragdropped', '\t%N fragment%S dropped (dup or out of space)\n');
  x.p('rcvmemdrop', '\t%N fragment%S dropped (out of ipqent)\n');
  x.p('badfrags', '\t%N malformed fragment%S dropped\n');
  x.p('fragtimeout', '\t%N fragment%S dropped after timeout\n');
  x.p('reassembled', '\t%N packet%S reassembled ok\n');
  x.p('delivered', '\t%N packet%S for this host\n');
  x.p('noproto', '\t%N packet%S for unknown/unsupported protocol\n');
  if (x.has('forward')) {
    const fwd = x.get('forward');
    const fast = x.has('fastforward') ? x.get('fastforward') : 0;
    if (x.show(fwd) || x.show(fast)) {
      x.out += fill('\t%N packet%S forwarded', fwd);
      if (x.has('fastforward') && x.show(fast)) x.out += fill(' (%N packet%S fast forwarded)', fast);
      x.out += '\n';
    }
  }
  x.p('cantforward', '\t%N packet%S not forwardable\n');
  x.p('redirectsent', '\t%N redirect%S sent\n');
  x.p('nogif', '\t%N packet%S no matching gif found\n');
  x.p('localout', '\t%N packet%S sent from this host\n');
  x.p('rawout', '\t%N packet%S sent with fabricated ip header\n');
  x.p('odropped', '\t%N output packet%S dropped due to no bufs, etc.\n');
  x.p('noroute', '\t%N output packet%S discarded due to no route\n');
  x.p('fragmented', '\t%N output datagram%S fragmented\n');
  x.p('ofragments', '\t%N fragment%S created\n');
  x.p('cantfrag', '\t%N datagram%S that can\'t be fragmented\n');
  x.p('badaddr', '\t%N datagram%S with bad address in header\n');
  x.p('notmember', '\t%N multicast packet%S for groups not joined\n');
}

/** ICMP type names for the histograms (NetBSD's icmpnames). */
const ICMP_NAMES = [
  'echo reply', '#1', '#2', 'destination unreachable', 'source quench', 'routing redirect',
  'alternate host address', '#7', 'echo', 'router advertisement', 'router solicitation', 'time exceeded',
  'parameter problem', 'time stamp', 'time stamp reply', 'information request', 'information request reply',
  'address mask request', 'address mask reply',
];

/**
 * A histogram per ICMP type: an array under `name`, or keys `name.N`,
 * `name_N` or `nameN` (the struct record may flatten it).
 */
function histogram(x: Section, name: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const v = x.s[name];
  if (Array.isArray(v)) {
    x.use(name);
    v.forEach((n, i) => out.push([i, num(n)]));
    return out;
  }
  const re = new RegExp(`^${name}[._]?(\\d+)$`);
  for (const k of Object.keys(x.s)) {
    const m = re.exec(k);
    if (m) {
      x.use(k);
      out.push([Number(m[1]), num(x.s[k])]);
    }
  }
  return out.sort((a, b) => a[0] - b[0]);
}

function printHistogram(x: Section, name: string, title: string, names: Readonly<Record<number, string>> = ICMP_NAMES): void {
  let first = true;
  for (const [type, n] of histogram(x, name)) {
    if (n === 0) continue;
    if (first) {
      x.out += `\t${title}:\n`;
      first = false;
    }
    x.out += `\t\t${names[type] ?? `#${type}`}: ${n}\n`;
  }
}

function icmpStats(x: Section): void {
  x.p('error', '\t%N call%S to icmp_error\n');
  x.p('oldicmp', '\t%N error%S not generated because old message was icmp\n');
  x.p('oldshort', '\t%N error%S not generated because old ip message was too short\n');
  x.p('ratelimit', '\t%N error%S not generated because of rate limitation\n');
  printHistogram(x, 'outhist', 'Output histogram');
  x.p('badcode', '\t%N message%S with bad code fields\n');
  x.p('tooshort', '\t%N message%S < minimum length\n');
  x.p('checksum', '\t%N bad checksum%S\n');
  x.p('badlen', '\t%N message%S with bad length\n');
  x.p('bmcastecho', '\t%N multicast echo request%S ignored\n');
  x.p('bmcasttstamp', '\t%N multicast timestamp request%S ignored\n');
  x.p('badaddr', '\t%N message%S with a bad source address\n');
  printHistogram(x, 'inhist', 'Input histogram');
  x.p('reflect', '\t%N message response%S generated\n');
  x.p('pmtuchg', '\t%N path MTU change%S\n');
}

function udpStats(x: Section): void {
  x.p('ipackets', '\t%N datagram%S received\n');
  x.p('hdrops', '\t%N with incomplete header\n');
  x.p('badlen', '\t%N with bad data length field\n');
  x.p('badsum', '\t%N with bad checksum\n');
  x.p('noport', '\t%N dropped due to no socket\n');
  x.p('noportbcast', '\t%N broadcast/multicast datagram%S dropped due to no socket\n');
  x.p('fullsock', '\t%N dropped due to full socket buffers\n');
  if (x.has('ipackets')) {
    const s = x.s;
    const delivered = num(s['ipackets']) - num(s['hdrops']) - num(s['badlen']) - num(s['badsum']) -
      num(s['noport']) - num(s['noportbcast']) - num(s['fullsock']);
    x.line(delivered, '\t%N delivered\n');
  }
  if (x.has('pcbhashmiss')) {
    const n = x.get('pcbhashmiss');
    x.line(n, `\t%N PCB hash miss${n === 1 ? '' : 'es'}\n`);
  }
  x.p('opackets', '\t%N datagram%S output\n');
}

function igmpStats(x: Section): void {
  const quer = (key: string, fmt: string): void => {
    if (!x.has(key)) return;
    const n = x.get(key);
    x.line(n, fmt.replace('%Y', n === 1 ? 'y' : 'ies'));
  };
  x.p('rcv_total', '\t%N message%S received\n');
  x.p('rcv_tooshort', '\t%N message%S received with too few bytes\n');
  x.p('rcv_badsum', '\t%N message%S received with bad checksum\n');
  quer('rcv_queries', '\t%N membership quer%Y received\n');
  quer('rcv_badqueries', '\t%N membership quer%Y received with invalid field(s)\n');
  x.p('rcv_reports', '\t%N membership report%S received\n');
  x.p('rcv_badreports', '\t%N membership report%S received with invalid field(s)\n');
  x.p('rcv_ourreports', '\t%N membership report%S received for groups to which we belong\n');
  x.p('snd_reports', '\t%N membership report%S sent\n');
  x.p('snd_leaves', '\t%N leave message%S sent\n');
}

function tcpStats(x: Section): void {
  x.p('sndtotal', '\t%N packet%S sent\n');
  x.p2('sndpack', 'sndbyte', '\t\t%N data packet%S (%M byte%T)\n');
  x.p2('sndrexmitpack', 'sndrexmitbyte', '\t\t%N data packet%S (%M byte%T) retransmitted\n');
  if (x.has('sndacks') && x.has('delack')) {
    const a = x.get('sndacks');
    const d = x.get('delack');
    if (a || d || x.sflag <= 1) x.out += fill('\t\t%N ack-only packet%S (%M delayed)\n', a, d);
  }
  x.p('sndurg', '\t\t%N URG only packet%S\n');
  x.p('sndprobe', '\t\t%N window probe packet%S\n');
  x.p('sndwinup', '\t\t%N window update packet%S\n');
  x.p('sndctrl', '\t\t%N control packet%S\n');
  x.p('selfquench', '\t\t%N send attempt%S resulted in self-quench\n');
  x.p('rcvtotal', '\t%N packet%S received\n');
  x.p2('rcvackpack', 'rcvackbyte', '\t\t%N ack%S (for %M byte%T)\n');
  x.p('rcvdupack', '\t\t%N duplicate ack%S\n');
  x.p('rcvacktoomuch', '\t\t%N ack%S for unsent data\n');
  x.p2('rcvpack', 'rcvbyte', '\t\t%N packet%S (%M byte%T) received in-sequence\n');
  x.p2('rcvduppack', 'rcvdupbyte', '\t\t%N completely duplicate packet%S (%M byte%T)\n');
  x.p('pawsdrop', '\t\t%N old duplicate packet%S\n');
  x.p2('rcvpartduppack', 'rcvpartdupbyte', '\t\t%N packet%S with some dup. data (%M byte%T duped)\n');
  x.p2('rcvoopack', 'rcvoobyte', '\t\t%N out-of-order packet%S (%M byte%T)\n');
  x.p('rcvreassfull', '\t\t%N segment%S discarded due to full reassembly queue\n');
  x.p2('rcvpackafterwin', 'rcvbyteafterwin', '\t\t%N packet%S (%M byte%T) of data after window\n');
  x.p('rcvwinprobe', '\t\t%N window probe%S\n');
  x.p('rcvwinupd', '\t\t%N window update packet%S\n');
  x.p('rcvafterclose', '\t\t%N packet%S received after close\n');
  x.p('rcvbadsum', '\t\t%N discarded for bad checksum%S\n');
  x.p('rcvbadoff', '\t\t%N discarded for bad header offset field%S\n');
  x.p('rcvshort', '\t\t%N discarded because packet too short\n');
  x.p('connattempt', '\t%N connection request%S\n');
  x.p('accepts', '\t%N connection accept%S\n');
  x.p('connects', '\t%N connection%S established (including accepts)\n');
  x.p2('closed', 'drops', '\t%N connection%S closed (including %M drop%T)\n');
  x.p('conndrops', '\t%N embryonic connection%S dropped\n');
  x.p2('rttupdated', 'segstimed', '\t%N segment%S updated rtt (of %M attempt%T)\n');
  x.p('rexmttimeo', '\t%N retransmit timeout%S\n');
  x.p('timeoutdrop', '\t\t%N connection%S dropped by rexmit timeout\n');
  x.p2('persisttimeo', 'persistdrops', '\t%N persist timeout%S (resulting in %M dropped connection%T)\n');
  x.p('keeptimeo', '\t%N keepalive timeout%S\n');
  x.p('keepprobe', '\t\t%N keepalive probe%S sent\n');
  x.p('keepdrops', '\t\t%N connection%S dropped by keepalive\n');
  x.p('predack', '\t%N correct ACK header prediction%S\n');
  x.p('preddat', '\t%N correct data packet header prediction%S\n');
  if (x.has('pcbhashmiss')) {
    const n = x.get('pcbhashmiss');
    x.line(n, `\t%N PCB hash miss${n === 1 ? '' : 'es'}\n`);
  }
  x.p('noport', '\t%N dropped due to no socket\n');
  x.p('connsdrained', '\t%N connection%S drained due to memory shortage\n');
  x.p('pmtublackhole', '\t%N PMTUD blackhole%S detected\n');
  x.p('badsyn', '\t%N bad connection attempt%S\n');
  x.p('sc_added', '\t%N SYN cache entries added\n');
  x.p('sc_collisions', '\t\t%N hash collision%S\n');
  x.p('sc_completed', '\t\t%N completed\n');
  x.p('sc_aborted', '\t\t%N aborted (no space to build PCB)\n');
  x.p('sc_timed_out', '\t\t%N timed out\n');
  x.p('sc_overflowed', '\t\t%N dropped due to overflow\n');
  x.p('sc_bucketoverflow', '\t\t%N dropped due to bucket overflow\n');
  x.p('sc_reset', '\t\t%N dropped due to RST\n');
  x.p('sc_unreach', '\t\t%N dropped due to ICMP unreachable\n');
  x.p('sc_retransmitted', '\t%N SYN,ACK%S retransmitted\n');
  x.p('sc_dupesyn', '\t%N duplicate SYN%S received for entries already in the cache\n');
  x.p('sc_dropped', '\t%N SYN%S dropped (no route or no space)\n');
}

function arpStats(x: Section): void {
  if (x.has('snd_request') || x.has('snd_reply')) {
    x.line(num(x.s['snd_request']) + num(x.s['snd_reply']), '\t%N packet%S sent\n');
  }
  x.p('snd_reply', '\t\t%N reply packet%S\n');
  x.p('snd_request', '\t\t%N request packet%S\n');
  x.p('rcv_total', '\t%N packet%S received\n');
  x.p('rcv_reply', '\t\t%N reply packet%S\n');
  x.p('rcv_request', '\t\t%N valid request packet%S\n');
  x.p('rcv_mcast', '\t\t%N broadcast/multicast packet%S\n');
  x.p('rcv_badproto', '\t\t%N packet%S with unknown protocol type\n');
  x.p('rcv_badlen', '\t\t%N packet%S with bad (short) length\n');
  x.p('rcv_badaddr', '\t\t%N packet%S with a bad IP address\n');
  x.p('rcv_ours', '\t\t%N packet%S for one of our addresses\n');
  x.p('rcv_bcast_sha', '\t\t%N packet%S with a broadcast source hardware address\n');
  x.p('rcv_localspa', '\t\t%N duplicate%S for a local IP address\n');
  if (x.has('rcv_lladdr_changed')) {
    // NetBSD prints "entrys"; we spell the plural.
    const n = x.get('rcv_lladdr_changed');
    x.line(n, `\t\t%N ${n === 1 ? 'entry' : 'entries'} overwritten\n`);
  }
  if (x.has('dfrsent') || x.has('dfrdropped')) {
    x.line(num(x.s['dfrsent']) + num(x.s['dfrdropped']), '\t%N packet%S deferred pending ARP resolution\n');
  }
  x.p('dfrsent', '\t\t%N sent\n');
  x.p('dfrdropped', '\t\t%N dropped\n');
  x.p('allocfail', '\t%N failure%S to allocate llinfo\n');
  x.p('timeouts', '\t%N resolution%S timed out\n');
  x.p('ratelimit', '\t%N request%S not sent because of rate limitation\n');
}

/** ip6: NetBSD's ip6_stats() lines for the counters this kernel keeps. */
function ip6Stats(x: Section): void {
  x.p('total', '\t%N total packet%S received\n');
  x.p('toosmall', '\t%N with size smaller than minimum\n');
  x.p('tooshort', '\t%N with data size < data length\n');
  x.p('badoptions', '\t%N with bad options\n');
  x.p('badvers', '\t%N with incorrect version number\n');
  x.p('fragments', '\t%N fragment%S received\n');
  x.p('fragdropped', '\t%N fragment%S dropped (dup or out of space)\n');
  x.p('fragtimeout', '\t%N fragment%S dropped after timeout\n');
  x.p('fragoverflow', '\t%N fragment%S that exceeded limit\n');
  x.p('reassembled', '\t%N packet%S reassembled ok\n');
  x.p('delivered', '\t%N packet%S for this host\n');
  x.p('forward', '\t%N packet%S forwarded\n');
  x.p('cantforward', '\t%N packet%S not forwardable\n');
  x.p('redirectsent', '\t%N redirect%S sent\n');
  x.p('localout', '\t%N packet%S sent from this host\n');
  x.p('rawout', '\t%N packet%S sent with fabricated ip header\n');
  x.p('odropped', '\t%N output packet%S dropped due to no bufs, etc.\n');
  x.p('noroute', '\t%N output packet%S discarded due to no route\n');
  x.p('fragmented', '\t%N output datagram%S fragmented\n');
  x.p('ofragments', '\t%N fragment%S created\n');
  x.p('cantfrag', '\t%N datagram%S that can\'t be fragmented\n');
  x.p('badscope', '\t%N packet%S that violated scope rules\n');
  x.p('notmember', '\t%N multicast packet%S which we don\'t join\n');
  x.p('toomanyhdr', '\t%N packet%S discarded due to too many headers\n');
}

/** ICMPv6 type names for the histograms (NetBSD's icmp6names). */
const ICMP6_NAMES: Readonly<Record<number, string>> = {
  1: 'unreach', 2: 'packet too big', 3: 'time exceed', 4: 'parameter problem', 128: 'echo', 129: 'echo reply',
  130: 'multicast listener query', 131: 'MLDv1 listener report', 132: 'multicast listener done',
  133: 'router solicitation', 134: 'router advertisement', 135: 'neighbor solicitation', 136: 'neighbor advertisement',
  137: 'redirect', 143: 'MLDv2 listener report',
};

/** icmp6: NetBSD's icmp6_stats() lines for the counters this kernel keeps. */
function icmp6Stats(x: Section): void {
  x.p('error', '\t%N call%S to icmp6_error\n');
  x.p('canterror', '\t%N error%S not generated because old message was icmp6 or so\n');
  x.p('toofreq', '\t%N error%S not generated because of rate limitation\n');
  printHistogram(x, 'outhist', 'Output packet histogram', ICMP6_NAMES);
  x.p('badcode', '\t%N message%S with bad code fields\n');
  x.p('tooshort', '\t%N message%S < minimum length\n');
  x.p('checksum', '\t%N bad checksum%S\n');
  x.p('badlen', '\t%N message%S with bad length\n');
  printHistogram(x, 'inhist', 'Input packet histogram', ICMP6_NAMES);
  x.p('reflect', '\t%N message response%S generated\n');
  x.p('badns', '\t%N bad neighbor solicitation message%S\n');
  x.p('badna', '\t%N bad neighbor advertisement message%S\n');
  x.p('badredirect', '\t%N bad redirect message%S\n');
}

/** The protocols of -s, in NetBSD's order, with their sysctl records. */
const PROTOCOLS: ReadonlyArray<readonly [string, string, (x: Section) => void]> = [
  ['tcp', 'net.inet.tcp.stats', tcpStats],
  ['udp', 'net.inet.udp.stats', udpStats],
  ['ip', 'net.inet.ip.stats', ipStats],
  ['icmp', 'net.inet.icmp.stats', icmpStats],
  ['igmp', 'net.inet.igmp.stats', igmpStats],
  ['arp', 'net.inet.arp.stats', arpStats],
  ['ip6', 'net.inet6.ip6.stats', ip6Stats],
  ['icmp6', 'net.inet6.icmp6.stats', icmp6Stats],
];

/** Every section of `netstat -s` (or only `proto`'s), as text. */
export async function formatStats(sys: SysLike, sflag: number, proto: string | null): Promise<string> {
  let out = '';
  for (const [name, mib, fn] of PROTOCOLS) {
    if (proto !== null && proto !== name) continue;
    let s: unknown;
    try {
      s = await sys.sysctl(mib);
    } catch {
      continue; // not in this kernel (NetBSD skips it silently too)
    }
    if (s === null || typeof s !== 'object') continue;
    const x = new Section(s as Stats, sflag);
    fn(x);
    x.rest();
    out += `${name}:\n${x.out}`;
  }
  return out;
}

/* ------------------------------------------------------------------------ */
/* -i                                                                       */

/** `netstat -i` (NetBSD's intpr()): a <Link> row and one per IPv4 address. */
export function formatInterfaces(list: readonly IfInfo[], opts: { bytes?: boolean; wide?: boolean } = {}): string {
  const wide = opts.wide ?? false;
  const col = (s: string, w: number): string => padRight(s, wide ? Math.max(w, s.length) : w, !wide);
  let out = `${padRight('Name', 5)} ${padRight('Mtu', 5)} ${padRight('Network', 13)} ${padRight('Address', 17)} `;
  out += opts.bytes
    ? `${padLeft('Ibytes', 10)} ${padLeft('Obytes', 10)}\n`
    : `${padLeft('Ipkts', 8)} ${padLeft('Ierrs', 5)} ${padLeft('Opkts', 8)} ${padLeft('Oerrs', 5)} ${padLeft('Colls', 5)}\n`;
  for (const info of list) {
    const name = info.flags & IFF_UP ? info.name : `${info.name}*`;
    const s = info.stats;
    const counters = opts.bytes
      ? `${padLeft(s.ibytes, 10)} ${padLeft(s.obytes, 10)}`
      : `${padLeft(s.ipackets, 8)} ${padLeft(s.ierrors, 5)} ${padLeft(s.opackets, 8)} ${padLeft(s.oerrors, 5)} ${padLeft(s.collisions, 5)}`;
    const row = (network: string, address: string): string =>
      `${col(name, 5)} ${padRight(String(info.mtu), 5, false)} ${col(network, 13)} ${col(address, 17)} ${counters}\n`;
    out += row('<Link>', info.lladdr ?? '');
    for (const ia of info.inet) {
      const addr = parseInAddr(ia.addr) ?? 0;
      const net = (addr & (parseInAddr(ia.mask) ?? 0)) >>> 0;
      out += row(formatNetShort(net, ia.prefixLen, ia.prefixLen === 32), ia.addr);
    }
  }
  return out;
}

/* ------------------------------------------------------------------------ */
/* sockets                                                                  */

/** inetprint()/inet6print(): "192.0.2.1.7", "::1.22", "*.*", "*.53"; the host cut to 16 characters, as NetBSD's. */
function endpoint(addr: string, port: number): string {
  const host = addr === '0.0.0.0' || addr === '::' || addr === '' ? '*' : addr.slice(0, 16);
  return `${host}.${port === 0 ? '*' : port}`;
}

/** One protocol family's section: its title, the column header, TCP then UDP (as NetBSD walks its protocols). */
function socketSection(title: string, tcp: string, udp: string, pcbs: readonly PcbInfo[], all: boolean): string {
  let out = `${title}${all ? ' (including servers)' : ''}\n`;
  out += `${padRight('Proto', 5)} ${padRight('Recv-Q', 6)} ${padRight('Send-Q', 6)}  ${padRight('Local Address', 22)} ${padRight('Foreign Address', 22)} State\n`;
  const order = (p: string): number => (p === tcp ? 0 : p === udp ? 1 : 2);
  const list = pcbs.filter((p) => p.proto === tcp || p.proto === udp).sort((a, b) => order(a.proto) - order(b.proto));
  for (const p of list) {
    if (!all && (p.faddr === '0.0.0.0' || p.faddr === '::' || p.faddr === '')) continue;
    let line = `${padRight(p.proto, 5)} ${padLeft(p.recvQ, 6)} ${padLeft(p.sendQ, 6)}  ${padRight(endpoint(p.laddr, p.lport), 22)} ${padRight(endpoint(p.faddr, p.fport), 22)}`;
    if (p.proto === tcp) line += ` ${p.state ?? ''}`;
    out += line + '\n';
  }
  return out;
}

/** `netstat [-a]`'s Internet connections (NetBSD's protopr()): the IPv4 PCBs only. */
export function formatSockets(pcbs: readonly PcbInfo[], all: boolean): string {
  return socketSection('Active Internet connections', 'tcp', 'udp', pcbs.filter((p) => !isInet6Pcb(p)), all);
}

/** `netstat [-a]`'s Internet6 connections (NetBSD's ip6protopr()): tcp6 and udp6 PCBs. */
export function formatSockets6(pcbs: readonly PcbInfo[], all: boolean): string {
  return socketSection('Active Internet6 connections', 'tcp6', 'udp6', pcbs.filter(isInet6Pcb), all);
}

/* ------------------------------------------------------------------------ */
/* -r for IPv6                                                              */

/* NetBSD's WID_DST/WID_GW for AF_INET6 with -n (rtutil.c). */
const WID_DST6 = 34;
const WID_GW6 = 30;

/** An IPv6 destination column: "default", "2001:db8::/64", "::1" (a host route has no length). */
function route6Destination(r: RouteInfo): string {
  if (r.dst === 'default' || (r.prefixLen === 0 && (r.dst === '::' || r.dst === ''))) return 'default';
  const a = parseIn6Addr(r.dst);
  const text = a === null ? r.dst : formatIn6Addr(a);
  return r.prefixLen === 128 ? text : `${text}/${r.prefixLen}`;
}

/** 16 bytes of a route's destination for sorting ('default' and unparsable ones are ::). */
function route6Key(r: RouteInfo): Uint8Array {
  return (r.dst === 'default' ? null : parseIn6Addr(r.dst)) ?? new Uint8Array(16);
}

/**
 * The "Internet6:" table of `netstat -rn` (the title, the column header,
 * one line per route by destination then prefix length), with IPv4's
 * conventions: every flag, Refs and Use "-", Mtu "-" for the interface's.
 */
export function formatRouteTable6(routes: readonly RouteInfo[]): string {
  let out = 'Internet6:\n';
  out += `${padRight('Destination', WID_DST6)} ${padRight('Gateway', WID_GW6)} ${padRight('Flags', 6)} ` +
    `${padLeft('Refs', 6)} ${padLeft('Use', 8)} ${padLeft('Mtu', 6)} Interface\n`;
  const sorted = [...routes].sort((a, b) => {
    const ka = route6Key(a);
    const kb = route6Key(b);
    for (let i = 0; i < 16; i++) if (ka[i] !== kb[i]) return ka[i]! - kb[i]!;
    return a.prefixLen - b.prefixLen;
  });
  for (const r of sorted) {
    out += `${padRight(route6Destination(r), WID_DST6, false)} ${padRight(r.gateway, WID_GW6, false)} ${padRight(routeFlagLetters(r.flags), 6)} ` +
      `${padLeft('-', 6)} ${padLeft('-', 8)} ${padLeft(r.mtu > 0 ? r.mtu : '-', 6)}  ${r.ifname}\n`;
  }
  return out;
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, 'abf:I:imnp:rsv');
    if (!g) usage(io);
    if (g.rest.length) usage(io);
    let sflag = 0;
    let family: string | null = null;
    let proto: string | null = null;
    let iface: string | null = null;
    const has = (c: string): boolean => g.opts.some(([o]) => o === c);
    for (const [c, arg] of g.opts) {
      if (c === 's') sflag++;
      else if (c === 'f') family = arg!;
      else if (c === 'p') proto = arg!;
      else if (c === 'I') iface = arg!;
    }
    if (family !== null && !['inet', 'inet6', 'local', 'unix'].includes(family)) errx(`${family}: unknown address family`);
    const inet = family === null || family === 'inet';
    const inet6 = family === null || family === 'inet6';
    if (proto !== null && !PROTOCOLS.some(([n]) => n === proto)) errx(`${proto}: unknown or uninstrumented protocol`);

    return withSys(PROG, io, async (sys) => {
      if (has('r')) {
        let out = '';
        if (inet) {
          const routes = (await sys.ext('rtdump').catch((e: unknown) => errx(`route-sysctl-estimate: ${errText(e)}`))) as RouteInfo[];
          const arp = await sys.ext('arpdump').catch(() => []);
          out += formatRouteTable([...routes, ...neighborRoutes(arp.map((a) => ({ ...a, permanent: a.permanent })))]);
        }
        if (inet6) {
          // A kernel without net_netinet6 has no Internet6 table (ENOSYS); NetBSD omits an empty family too.
          let routes6: RouteInfo[] | null = null;
          try {
            routes6 = await sys.ext('rt6dump');
            const nd = await sys.ext('ndpdump').catch(() => []);
            routes6 = [...routes6, ...neighborRoutes(nd)];
          } catch (e) {
            if (errnoOf(e) !== ENOSYS) errx(`route-sysctl-estimate: ${errText(e)}`);
          }
          if (routes6 !== null) out += `${inet ? '\n' : 'Routing tables\n\n'}${formatRouteTable6(routes6)}`;
          else if (!inet) out += 'Routing tables\n';
        }
        io.stdout(out);
        return 0;
      }
      if (has('m')) {
        io.stdout(formatMbufStats((await sys.sysctl('kern.mbuf.stats')) as MbufStatsInfo, (await sys.sysctl('hw.memlimit')) as MemLimitInfo));
        return 0;
      }
      if (sflag || proto !== null) {
        if (inet) io.stdout(await formatStats(sys, Math.max(sflag, 1), proto));
        return 0;
      }
      if (has('i') || iface !== null) {
        const list = await withInetSocket(sys, async (fd) => (await sys.ioctl(fd, 'SIOCGIFCONF')) as IfInfo[]);
        io.stdout(formatInterfaces(iface === null ? list : list.filter((i) => i.name === iface), { bytes: has('b'), wide: has('v') }));
        return 0;
      }
      if (!inet && !inet6) return 0;
      let pcbs: PcbInfo[] = [];
      try {
        pcbs = await sys.ext('pcblist');
      } catch (e) {
        if (errnoOf(e) !== ENOSYS) errx(`sysctl (copy): ${errText(e)}`);
      }
      let out = '';
      if (inet) out += formatSockets(pcbs, has('a'));
      // Without -f, the Internet6 section appears when there are IPv6 sockets (an IPv4-only kernel prints what it did before).
      if (inet6 && (!inet || pcbs.some(isInet6Pcb))) out += formatSockets6(pcbs, has('a'));
      io.stdout(out);
      return 0;
    });
  });
}

/**
 * NetBSD 8 lists the neighbor caches (ARP, ND) in the routing table as
 * host entries whose gateway is the link-layer address: UHL, UHLS for a
 * static one. Entries still resolving have no address and are left out.
 */
function neighborRoutes(list: ReadonlyArray<{ addr: string; lladdr: string | null; ifname: string; permanent: boolean }>): RouteInfo[] {
  return list.filter((e) => e.lladdr !== null).map((e) => ({
    dst: e.addr, prefixLen: e.addr.includes(':') ? 128 : 32, gateway: e.lladdr!,
    flags: RTF_UP | RTF_HOST | RTF_LLDATA | (e.permanent ? RTF_STATIC : 0),
    refs: 0, use: 0, mtu: 0, ifname: e.ifname, ifaddr: null,
  }));
}

runIfMain(import.meta.url, PROG, main);
