/*
 * The routing socket (NetBSD net/rtsock.c, route(4)): `socket(PF_ROUTE,
 * SOCK_RAW, family)` reads the kernel's routing messages in NetBSD 8's
 * binary format, so `rump.route monitor` (and any program that speaks
 * route(4)) sees what the kernel does:
 *
 *   RTM_ADD / RTM_DELETE / RTM_CHANGE   a route came, went or changed
 *                                       (the tables call rtsockRoute), and
 *                                       ARP/ND entries as cloned host routes
 *                                       (rtsockLlinfo: flags LLINFO,CLONED)
 *   RTM_NEWADDR / RTM_DELADDR           an address on an interface (rtsockAddr)
 *   RTM_IFINFO                          an interface's flags changed
 *   RTM_IFANNOUNCE                      an interface arrived or departs
 *
 * Layout (little-endian as on amd64, every struct aligned to 64 bits):
 * struct rt_msghdr is 120 bytes (its rt_metrics of ten uint64 at 40),
 * ifa_msghdr 32, if_msghdr 152 (its if_data at 16), if_announcemsghdr 24;
 * the sockaddrs the rtm_addrs bits name follow in RTAX order, each padded
 * to a multiple of 8 (RT_ROUNDUP). sockaddr_in is 16 bytes, sockaddr_in6
 * 28, sockaddr_dl 20 or more (AF_LINK 18, sdl_index, sdl_type, name and
 * link address lengths).
 *
 * Each socket's receive buffer is bounded (ROUTE_RECVSPACE, SO_RCVBUF): a
 * message that does not fit is dropped for that reader and counted
 * (`net.route.stats` drops), as NetBSD's raw_input drops on sbappendaddr
 * failure.
 *
 * Writing a message (route_output) does what it says for IPv4 and IPv6
 * routes: RTM_ADD, RTM_DELETE, RTM_CHANGE and RTM_GET, through the same
 * code as the tools' `sys.ext('rtmsg')`/`('rt6msg')`. The message goes back
 * to every reader (the writer too: SO_USELOOPBACK) with RTF_DONE, rtm_errno
 * and, for RTM_GET, the route found (DST, GATEWAY, NETMASK, IFP, IFA); a
 * failure is also the write's error, as on NetBSD.
 */
import { defineKernelState, type Kernel } from '../kern/kernel.js';
import { Errno, EAFNOSUPPORT, EINVAL, ENOPROTOOPT, EOPNOTSUPP, EPROTONOSUPPORT, EPROTOTYPE } from '../kern/errno.js';
import type { Mbuf } from '../kern/mbuf.js';
import { AF_INET, AF_INET6, AF_ROUTE, O_NONBLOCK, SOCK_RAW, type Domain, type KFile, type Sockaddr, type SockoptValue } from '../kern/sys.js';
import { IFF_RUNNING, type Ifnet } from './interface.js';
import type { NetStack } from './netstack.js';
import { ifioctl } from './interface_ioctl.js';
import { formatIn6Addr, parseIn6Addr } from './wire/in6addr.js';
import { RTF_BLACKHOLE, RTF_DONE, RTF_GATEWAY, RTF_HOST, RTF_REJECT, RTF_STATIC, RTF_UP, prefixMask, type Rtentry } from './route.js';
import { PR_ATOMIC, SOL_SOCKET, SS_CANTRCVMORE, SS_ISCONNECTED, Socket, type Protosw } from './socket.js';

export const RTM_VERSION = 4;
export const RTM_ADD = 0x1;
export const RTM_DELETE = 0x2;
export const RTM_CHANGE = 0x3;
export const RTM_GET = 0x4;
export const RTM_LOSING = 0x5;
export const RTM_REDIRECT = 0x6;
export const RTM_MISS = 0x7;
export const RTM_IFANNOUNCE = 0x10;
export const RTM_IFINFO = 0x14;
export const RTM_NEWADDR = 0x16;
export const RTM_DELADDR = 0x17;
export const RTM_CHGADDR = 0x18;

export const RTA_DST = 0x1;
export const RTA_GATEWAY = 0x2;
export const RTA_NETMASK = 0x4;
export const RTA_GENMASK = 0x8;
export const RTA_IFP = 0x10;
export const RTA_IFA = 0x20;
export const RTA_AUTHOR = 0x40;
export const RTA_BRD = 0x80;
export const RTAX_DST = 0;
export const RTAX_GATEWAY = 1;
export const RTAX_NETMASK = 2;
export const RTAX_IFP = 4;
export const RTAX_IFA = 5;
export const RTAX_BRD = 7;
export const RTAX_MAX = 9;

/**
 * The flags NetBSD 8 gives the messages that stand for ARP and ND entries
 * (rt_clonedmsg "mimics" a cloned route): RTF_LLINFO is RTF_LLDATA's old
 * name, RTF_CLONED survives only here.
 */
export const RTF_LLINFO = 0x400;
export const RTF_CLONED = 0x2000;
export const RTF_ANNOUNCE = 0x20000;

export const IFAN_ARRIVAL = 0;
export const IFAN_DEPARTURE = 1;
export const LINK_STATE_UNKNOWN = 0;
export const LINK_STATE_DOWN = 1;
export const LINK_STATE_UP = 2;

export const AF_LINK = 18;
export const RT_MSGHDR_LEN = 120;
export const IFA_MSGHDR_LEN = 32;
export const IF_MSGHDR_LEN = 152;
export const IF_ANNOUNCEMSGHDR_LEN = 24;
const SOCKADDR_IN_LEN = 16;
const SOCKADDR_IN6_LEN = 28;
const SOCKADDR_DL_LEN = 20;
const IFNAMSIZ = 16;

/** NetBSD's route_recvspace: what one reader may have queued before messages are dropped. */
export const ROUTE_RECVSPACE = 8192;
export const ROUTE_SENDSPACE = 8192;

/** RT_ROUNDUP: a sockaddr's room in a message, a multiple of 8 (8 for an empty one). */
export function rtRoundup(len: number): number {
  return len > 0 ? 1 + ((len - 1) | 7) : 8;
}

/* ------------------------------------------------------------------------ */
/* Sockaddrs, as the kernel writes them into messages. */

/** sockaddr_in for a u32 address (network byte order on the wire). */
export function saIn(addr: number): Uint8Array {
  const b = new Uint8Array(SOCKADDR_IN_LEN);
  b[0] = SOCKADDR_IN_LEN;
  b[1] = AF_INET;
  b[4] = addr >>> 24;
  b[5] = (addr >>> 16) & 0xff;
  b[6] = (addr >>> 8) & 0xff;
  b[7] = addr & 0xff;
  return b;
}

/** sockaddr_in6 for the 16 bytes at `a[off]`. */
export function saIn6(a: Uint8Array, off = 0): Uint8Array {
  const b = new Uint8Array(SOCKADDR_IN6_LEN);
  b[0] = SOCKADDR_IN6_LEN;
  b[1] = AF_INET6;
  b.set(a.subarray(off, off + 16), 8);
  return b;
}

/** An IPv6 netmask of `plen` bits, as a sockaddr_in6. */
export function saMask6(plen: number): Uint8Array {
  const m = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, plen - 8 * i));
    m[i] = (0xff00 >> bits) & 0xff;
  }
  return saIn6(m);
}

/**
 * sockaddr_dl of an interface: its index and type, with its name
 * (`withName`: RTA_IFP) and a link address (`lladdr`, or none: the gateway
 * of an unresolved neighbour, which route(8) prints as `link#N`).
 */
export function saDl(ifp: Ifnet, withName: boolean, lladdr: Uint8Array | null): Uint8Array {
  const name = withName ? new TextEncoder().encode(ifp.name).subarray(0, IFNAMSIZ) : new Uint8Array(0);
  const alen = lladdr === null ? 0 : lladdr.length;
  const len = Math.max(SOCKADDR_DL_LEN, 8 + name.length + alen);
  const b = new Uint8Array(len);
  b[0] = len;
  b[1] = AF_LINK;
  b[2] = ifp.index & 0xff;
  b[3] = ifp.index >>> 8;
  b[4] = ifp.type;
  b[5] = name.length;
  b[6] = alen;
  b.set(name, 8);
  if (lladdr !== null) b.set(lladdr, 8 + name.length);
  return b;
}

/* ------------------------------------------------------------------------ */
/* Messages. */

/** The sockaddrs of a message by RTAX index, null where absent. */
export type RtAddrs = Array<Uint8Array | null>;

function addrsBits(addrs: RtAddrs): number {
  let bits = 0;
  for (let i = 0; i < addrs.length; i++) if (addrs[i]) bits |= 1 << i;
  return bits;
}

function addrsLen(addrs: RtAddrs): number {
  let n = 0;
  for (const sa of addrs) if (sa) n += rtRoundup(sa.length);
  return n;
}

/** Write the sockaddrs after a header of `hdr` bytes. */
function putAddrs(b: Uint8Array, hdr: number, addrs: RtAddrs): void {
  let off = hdr;
  for (const sa of addrs) {
    if (!sa) continue;
    b.set(sa, off);
    off += rtRoundup(sa.length);
  }
}

/** What a route message says besides its type and addresses. */
export interface RtMsgFields {
  flags: number;
  index: number;
  pid?: number;
  seq?: number;
  errno?: number;
  use?: number;
  mtu?: number;
  /** rmx_expire: seconds (the kernel's clock), 0 for none. */
  expire?: number;
}

/** struct rt_msghdr and its sockaddrs (rt_msg1). */
export function rtMsgEncode(type: number, f: RtMsgFields, addrs: RtAddrs): Uint8Array {
  const len = RT_MSGHDR_LEN + addrsLen(addrs);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint16(0, len, true);
  b[2] = RTM_VERSION;
  b[3] = type;
  v.setUint16(4, f.index, true);
  v.setInt32(8, f.flags, true);
  v.setInt32(12, addrsBits(addrs), true);
  v.setInt32(16, f.pid ?? 0, true);
  v.setInt32(20, f.seq ?? 0, true);
  v.setInt32(24, f.errno ?? 0, true);
  v.setInt32(28, f.use ?? 0, true);
  // rtm_rmx at 40: locks, mtu, hopcount, recvpipe, sendpipe, ssthresh, rtt, rttvar, expire, pksent.
  v.setBigUint64(48, BigInt(f.mtu ?? 0), true);
  v.setBigInt64(104, BigInt(f.expire ?? 0), true);
  putAddrs(b, RT_MSGHDR_LEN, addrs);
  return b;
}

/** struct ifa_msghdr (RTM_NEWADDR, RTM_DELADDR, RTM_CHGADDR) and its sockaddrs. */
export function ifaMsgEncode(type: number, index: number, flags: number, addrflags: number, addrs: RtAddrs, pid = 0): Uint8Array {
  const len = IFA_MSGHDR_LEN + addrsLen(addrs);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint16(0, len, true);
  b[2] = RTM_VERSION;
  b[3] = type;
  v.setUint16(4, index, true);
  v.setInt32(8, flags, true);
  v.setInt32(12, addrsBits(addrs), true);
  v.setInt32(16, pid, true);
  v.setInt32(20, addrflags, true);
  v.setInt32(24, 0, true); // ifam_metric
  putAddrs(b, IFA_MSGHDR_LEN, addrs);
  return b;
}

/** struct if_msghdr (RTM_IFINFO) with the interface's if_data. */
export function ifMsgEncode(ifp: Ifnet): Uint8Array {
  const b = new Uint8Array(IF_MSGHDR_LEN);
  const v = new DataView(b.buffer);
  v.setUint16(0, IF_MSGHDR_LEN, true);
  b[2] = RTM_VERSION;
  b[3] = RTM_IFINFO;
  v.setInt32(4, 0, true); // ifm_addrs
  v.setInt32(8, ifp.flags, true);
  v.setUint16(12, ifp.index, true);
  // if_data at 16: type, addrlen, hdrlen, link_state, then uint64 counters.
  b[16] = ifp.type;
  b[17] = ifp.lladdr === null ? 0 : ifp.lladdr.length;
  b[18] = ifp.hdrlen;
  v.setInt32(20, ifp.flags & IFF_RUNNING ? LINK_STATE_UP : LINK_STATE_DOWN, true);
  const s = ifp.stats;
  const u64 = [ifp.mtu, 0, 0, s.ipackets, s.ierrors, s.opackets, s.oerrors, s.collisions, s.ibytes, s.obytes, s.imcasts, s.omcasts, s.iqdrops, s.noproto];
  for (let i = 0; i < u64.length; i++) v.setBigUint64(24 + 8 * i, BigInt(u64[i]!), true);
  return b;
}

/** struct if_announcemsghdr (RTM_IFANNOUNCE). */
export function ifAnnounceEncode(ifp: Ifnet, what: number): Uint8Array {
  const b = new Uint8Array(IF_ANNOUNCEMSGHDR_LEN);
  const v = new DataView(b.buffer);
  v.setUint16(0, IF_ANNOUNCEMSGHDR_LEN, true);
  b[2] = RTM_VERSION;
  b[3] = RTM_IFANNOUNCE;
  v.setUint16(4, ifp.index, true);
  b.set(new TextEncoder().encode(ifp.name).subarray(0, IFNAMSIZ - 1), 6);
  v.setUint16(22, what, true);
  return b;
}

/* ------------------------------------------------------------------------ */
/* The readers. */

/** Routing-socket counters (`net.route.stats`). */
export interface RouteStats {
  /** Messages queued to a reader. */
  msgs: number;
  /** Messages a reader's full receive buffer (or a lack of memory) cost it. */
  drops: number;
}

/** The routing sockets of one kernel (NetBSD's route_info and its rawcb list). */
class RouteCb {
  readonly socks: Socket[] = [];
  /** While a write is carried out: its echo stands for the tables' messages. */
  quiet = false;
  /** Each interface's flags when last reported, so RTM_IFINFO goes out only on a change. */
  readonly ifFlags = new WeakMap<Ifnet, number>();
  readonly stats: RouteStats = { msgs: 0, drops: 0 };
  constructor(readonly kernel: Kernel) {}
}

const RTSOCK = defineKernelState<RouteCb>('routing sockets (component net_net)');

/** Whether anyone reads routing messages: the hooks build nothing otherwise. */
export function rtsockListening(k: Kernel): boolean {
  const cb = RTSOCK.peek(k);
  return cb !== undefined && cb.socks.length !== 0;
}

/**
 * route_enqueue/raw_input: a copy of `msg` to every reader whose protocol
 * (the family it asked for at socket(), 0 for all) is 0 or `family`.
 */
export function rtsockBroadcast(k: Kernel, msg: Uint8Array, family: number): void {
  const cb = RTSOCK.peek(k);
  if (cb === undefined) return;
  for (const so of cb.socks) {
    const want = so.pcb as number;
    if (want !== 0 && family !== 0 && want !== family) continue;
    if (so.state & SS_CANTRCVMORE) continue;
    const m = k.mbufs.copyin(msg, 0, msg.length, 0);
    if (m === null || !so.appendRecord(m, null)) {
      if (m !== null) k.mbufs.free(m);
      cb.stats.drops++;
      continue;
    }
    cb.stats.msgs++;
  }
}

/** A route came (RTM_ADD), went (RTM_DELETE) or changed (RTM_CHANGE): rt_newmsg. */
export function rtsockRoute(k: Kernel, type: number, family: number, f: RtMsgFields, addrs: RtAddrs): void {
  if (!rtsockListening(k) || RTSOCK.get(k).quiet) return;
  rtsockBroadcast(k, rtMsgEncode(type, f, addrs), family);
}

/**
 * An ARP or ND entry as NetBSD 8 reports it (rt_clonedmsg): a cloned host
 * route to `dst` whose gateway is the interface's link address, empty until
 * resolved. RTM_ADD when the entry is made, RTM_CHANGE when its address
 * changes, RTM_DELETE when it goes (RTF_UP then off).
 */
export function rtsockLlinfo(k: Kernel, type: number, family: number, dst: () => Uint8Array, ifp: Ifnet, lladdr: Uint8Array | null, flags = 0): void {
  if (!rtsockListening(k)) return;
  const f = flags | RTF_LLINFO | RTF_CLONED | RTF_HOST | RTF_DONE | (type === RTM_DELETE ? 0 : RTF_UP);
  rtsockBroadcast(k, rtMsgEncode(type, { flags: f, index: ifp.index }, [dst(), saDl(ifp, false, lladdr)]), family);
}

/**
 * An address was added to (RTM_NEWADDR) or removed from (RTM_DELADDR) an
 * interface: rt_addrmsg, with the address, its mask, the interface and the
 * broadcast address (null for none).
 */
export function rtsockAddr(k: Kernel, type: number, family: number, ifp: Ifnet, addr: Uint8Array, mask: Uint8Array, brd: Uint8Array | null, addrflags = 0): void {
  if (!rtsockListening(k)) return;
  const addrs: RtAddrs = new Array(RTAX_MAX).fill(null);
  addrs[RTAX_NETMASK] = mask;
  addrs[RTAX_IFP] = saDl(ifp, true, ifp.lladdr);
  addrs[RTAX_IFA] = addr;
  addrs[RTAX_BRD] = brd;
  rtsockBroadcast(k, ifaMsgEncode(type, ifp.index, 0, addrflags, addrs), family);
}

/** The header fields of a route's message: RTF_DONE (the kernel did it), RTF_UP off once deleted. */
export function rtFields(type: number, flags: number, ifp: Ifnet, mtu: number): RtMsgFields {
  return { flags: (type === RTM_DELETE ? flags & ~RTF_UP : flags) | RTF_DONE, index: ifp.index, mtu };
}

/** An IPv4 route's destination, gateway (an address, or the interface: `link#N`) and mask (none for a host). */
function rt4Addrs(rt: Rtentry): RtAddrs {
  const gw = rt.flags & RTF_GATEWAY ? saIn(rt.gateway) : saDl(rt.ifp, false, null);
  return [saIn(rt.dst), gw, rt.flags & RTF_HOST || rt.plen === 32 ? null : saIn(prefixMask(rt.plen))];
}

/** rt_newmsg for an IPv6 route (net_netinet6's table calls it): destination, gateway or `link#N`, mask unless a host. */
export function rtsockRoute6(k: Kernel, type: number, dst: Uint8Array, plen: number, gateway: Uint8Array | null, flags: number, ifp: Ifnet, mtu: number): void {
  if (!rtsockListening(k)) return;
  const gw = flags & RTF_GATEWAY && gateway !== null ? saIn6(gateway) : saDl(ifp, false, null);
  rtsockRoute(k, type, AF_INET6, rtFields(type, flags, ifp, mtu), [saIn6(dst), gw, flags & RTF_HOST || plen === 128 ? null : saMask6(plen)]);
}

/* ------------------------------------------------------------------------ */
/* The protocol (route_usrreqs) and the domain (routedomain). */

class RouteUsrreqs implements Protosw {
  readonly type = SOCK_RAW;
  readonly protocol = 0;
  readonly flags = PR_ATOMIC;
  constructor(private readonly cb: RouteCb, private readonly ns: NetStack) {}
  sendspace(): number {
    return ROUTE_SENDSPACE;
  }
  recvspace(): number {
    return ROUTE_RECVSPACE;
  }
  attach(so: Socket): void {
    // A raw socket is "connected" from the start: writes need no address.
    so.state |= SS_ISCONNECTED;
    this.cb.socks.push(so);
  }
  detach(so: Socket): void {
    const i = this.cb.socks.indexOf(so);
    if (i >= 0) this.cb.socks.splice(i, 1);
  }
  bind(): void {
    throw new Errno(EOPNOTSUPP);
  }
  connect(): void {
    throw new Errno(EOPNOTSUPP);
  }
  disconnect(): void {}
  listen(): void {
    throw new Errno(EOPNOTSUPP);
  }
  shutdown(): void {}
  send(so: Socket, m: Mbuf): void {
    const req = m.buf.slice(m.off, m.off + m.len);
    so.kernel.mbufs.free(m);
    const err = routeOutput(this.cb, this.ns, req);
    if (err !== 0) throw new Errno(err);
  }
  rcvd(): void {}
  /** Socket-level options are the socket's (SO_RCVBUF bounds the queue); a routing socket has none of its own. */
  setopt(_so: Socket, level: number, _name: number, _value: SockoptValue): void {
    if (level !== SOL_SOCKET) throw new Errno(ENOPROTOOPT);
  }
  getopt(): SockoptValue {
    throw new Errno(ENOPROTOOPT);
  }
  sockaddr(): Sockaddr {
    return { family: AF_ROUTE, addr: '', port: 0 };
  }
  peeraddr(): Sockaddr {
    return { family: AF_ROUTE, addr: '', port: 0 };
  }
  /** Interface ioctls work on any socket (ifioctl), a routing socket too. */
  ioctl(_so: Socket, cmd: string, arg: unknown): unknown {
    return ifioctl(this.ns, cmd, arg);
  }
}

/* ------------------------------------------------------------------------ */
/* Writes (route_output). */

/** The sockaddrs of a message by RTAX index (views into `b`), or null when one runs past the end. */
function splitAddrs(b: Uint8Array, off: number, bits: number): RtAddrs | null {
  const out: RtAddrs = new Array(RTAX_MAX).fill(null);
  for (let i = 0; i < RTAX_MAX; i++) {
    if (!(bits & (1 << i))) continue;
    if (off >= b.length) return null;
    const len = b[off]!;
    if (off + len > b.length) return null;
    out[i] = b.subarray(off, off + len);
    off += rtRoundup(len);
  }
  return out;
}

/** The address in a sockaddr_in or sockaddr_in6 as text, or null. */
function saAddrText(sa: Uint8Array | null, family: number): string | null {
  if (sa === null || sa[1] !== family) return null;
  if (family === AF_INET) return sa.length >= 8 ? `${sa[4]}.${sa[5]}.${sa[6]}.${sa[7]}` : null;
  if (sa.length < 24) return null;
  const a = new Uint8Array(16);
  a.set(sa.subarray(8, 24));
  return formatIn6Addr(a);
}

/** A netmask sockaddr's prefix length (its sa_len may stop short: the rest is zero), or -1 when not contiguous. */
function maskPrefixLen(sa: Uint8Array, family: number): number {
  const start = family === AF_INET ? 4 : 8;
  const n = family === AF_INET ? 4 : 16;
  let plen = 0;
  let ended = false;
  for (let i = 0; i < n; i++) {
    const byte = start + i < sa.length ? sa[start + i]! : 0;
    for (let bit = 7; bit >= 0; bit--) {
      if (byte & (1 << bit)) {
        if (ended) return -1;
        plen++;
      } else ended = true;
    }
  }
  return plen;
}

/** The interface a sockaddr_dl names: by name when it has one, else by index. */
function saDlIfname(ns: NetStack, sa: Uint8Array | null): string | undefined {
  if (sa === null || sa[1] !== AF_LINK || sa.length < 8) return undefined;
  const nlen = sa[5]!;
  if (nlen > 0 && 8 + nlen <= sa.length) return new TextDecoder().decode(sa.subarray(8, 8 + nlen));
  return ns.ifs.byIndex[sa[2]! | (sa[3]! << 8)]?.name;
}

const RTM_NAMES: Readonly<Record<number, 'add' | 'delete' | 'change' | 'get'>> = { 1: 'add', 2: 'delete', 3: 'change', 4: 'get' };
/** The flags a writer may set (route(8)'s -reject, -blackhole, -static, -host). */
const RTF_WRITABLE = RTF_REJECT | RTF_BLACKHOLE | RTF_STATIC | RTF_HOST;
const RTV_MTU = 0x1;

/** What a route message asks, as the families' rtmsg/rt6msg take it; an errno when it cannot be read. */
function routeRequest(ns: NetStack, type: number, flags: number, addrs: RtAddrs, mtu: number | undefined): { family: number; msg: Record<string, unknown> } | number {
  const dst = addrs[RTAX_DST];
  if (!dst || dst.length < 2) return EINVAL;
  const family = dst[1]!;
  if (family !== AF_INET && family !== AF_INET6) return EAFNOSUPPORT;
  const dstText = saAddrText(dst, family);
  if (dstText === null) return EINVAL;
  const msg: Record<string, unknown> = { type: RTM_NAMES[type]!, dst: dstText, flags: flags & RTF_WRITABLE };
  const mask = addrs[RTAX_NETMASK];
  if (flags & RTF_HOST) msg['prefixLen'] = family === AF_INET ? 32 : 128;
  else if (mask) {
    const plen = maskPrefixLen(mask, family);
    if (plen < 0) return EINVAL;
    msg['prefixLen'] = plen;
  } else if (type !== RTM_GET) msg['prefixLen'] = family === AF_INET ? 32 : 128;
  const gw = addrs[RTAX_GATEWAY] ?? null;
  if (gw && gw[1] === AF_LINK) msg['ifname'] = saDlIfname(ns, gw);
  else if (gw) {
    const g = saAddrText(gw, family);
    if (g === null) return EINVAL;
    msg['gateway'] = g;
  }
  const ifp = saDlIfname(ns, addrs[RTAX_IFP] ?? null);
  if (ifp !== undefined && type !== RTM_GET) msg['ifname'] = ifp;
  const ifa = saAddrText(addrs[RTAX_IFA] ?? null, AF_INET);
  if (ifa !== null && family === AF_INET) msg['ifa'] = ifa;
  if (mtu !== undefined) msg['mtu'] = mtu;
  for (const k of Object.keys(msg)) if (msg[k] === undefined) delete msg[k];
  return { family, msg };
}

/** The sockaddrs of a route as a reply tells it (RTM_GET's, and the others' echo). */
function routeReplyAddrs(ns: NetStack, family: number, r: RouteInfoLike): RtAddrs {
  const ifp = ns.ifs.get(r.ifname);
  const addrs: RtAddrs = new Array(RTAX_MAX).fill(null);
  const sa = (text: string): Uint8Array | null => {
    if (family === AF_INET) {
      const p = text.split('.').map(Number);
      return p.length === 4 ? saIn(((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0) : null;
    }
    const a = parseIn6Addr(text);
    return a === null ? null : saIn6(a);
  };
  addrs[RTAX_DST] = sa(r.dst === 'default' ? (family === AF_INET ? '0.0.0.0' : '::') : r.dst);
  addrs[RTAX_GATEWAY] = r.flags & RTF_GATEWAY ? sa(r.gateway) : ifp ? saDl(ifp, false, null) : null;
  if (!(r.flags & RTF_HOST)) addrs[RTAX_NETMASK] = family === AF_INET ? saIn(prefixMask(r.prefixLen)) : saMask6(r.prefixLen);
  if (ifp) addrs[RTAX_IFP] = saDl(ifp, true, ifp.lladdr);
  if (r.ifaddr !== null) addrs[RTAX_IFA] = sa(r.ifaddr);
  return addrs;
}

/** The fields of RouteInfo (net/ioctl.ts) a reply needs. */
interface RouteInfoLike {
  dst: string;
  prefixLen: number;
  gateway: string;
  flags: number;
  mtu: number;
  ifname: string;
  ifaddr: string | null;
}

/**
 * route_output: do what the message `b` asks and send it back to every
 * reader, done or with its errno. Returns the errno (0: done).
 */
function routeOutput(cb: RouteCb, ns: NetStack, b: Uint8Array): number {
  const k = cb.kernel;
  if (b.length < RT_MSGHDR_LEN) return EINVAL;
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  if (v.getUint16(0, true) !== b.length) return EINVAL;
  if (b[2] !== RTM_VERSION) return EPROTONOSUPPORT;
  const type = b[3]!;
  if (RTM_NAMES[type] === undefined) return EOPNOTSUPP;
  const flags = v.getInt32(8, true);
  const seq = v.getInt32(20, true);
  const pid = v.getInt32(16, true);
  const inits = v.getInt32(32, true);
  const addrs = splitAddrs(b, RT_MSGHDR_LEN, v.getInt32(12, true));
  if (addrs === null) return EINVAL;
  const mtu = inits & RTV_MTU ? Number(v.getBigUint64(48, true)) : undefined;
  const req = routeRequest(ns, type, flags, addrs, mtu);
  if (typeof req === 'number') return req;
  const call = k.extension(req.family === AF_INET ? 'rtmsg' : 'rt6msg') as ((m: unknown) => RouteInfoLike | undefined) | undefined;
  if (call === undefined) return EAFNOSUPPORT;
  let result: RouteInfoLike | undefined;
  let err = 0;
  // The tables' own messages would say the same again: the echo below is the one message.
  cb.quiet = true;
  try {
    result = call(req.msg);
  } catch (e) {
    err = e instanceof Errno ? e.errno : EINVAL;
  } finally {
    cb.quiet = false;
  }
  const ifp = result !== undefined ? ns.ifs.get(result.ifname) : undefined;
  const f: RtMsgFields = { flags: (result !== undefined ? result.flags : flags) | RTF_DONE, index: ifp?.index ?? 0, pid, seq, errno: err, mtu: result?.mtu ?? 0 };
  const replyAddrs = result !== undefined && (type === RTM_GET || type === RTM_CHANGE) ? routeReplyAddrs(ns, req.family, result) : addrs;
  if (type === RTM_DELETE && result !== undefined) f.flags &= ~RTF_UP;
  rtsockBroadcast(k, rtMsgEncode(type, f, replyAddrs), req.family);
  return err;
}

/** SOCK_NONBLOCK in socket()'s type (NetBSD sys/socket.h). */
const SOCK_NONBLOCK = 0x20000000;
const SOCK_FLAGS = 0x10000000 | SOCK_NONBLOCK | 0x40000000;

class RouteDomain implements Domain {
  readonly family = AF_ROUTE;
  readonly name = 'route';
  private readonly pr: RouteUsrreqs;
  constructor(private readonly cb: RouteCb, ns: NetStack) {
    this.pr = new RouteUsrreqs(cb, ns);
  }
  socreate(type: number, protocol: number): KFile {
    if (!Number.isInteger(type) || !Number.isInteger(protocol)) throw new Errno(EINVAL);
    const sflags = type & SOCK_FLAGS;
    type &= ~SOCK_FLAGS;
    if (type !== SOCK_RAW) throw new Errno(EPROTOTYPE);
    // The protocol is the address family to hear about (0: every family).
    if (protocol < 0 || protocol > 255) throw new Errno(EPROTONOSUPPORT);
    if (protocol !== 0 && protocol !== AF_INET && protocol !== AF_INET6) throw new Errno(EAFNOSUPPORT);
    const so = new Socket(this.cb.kernel, this.pr);
    so.pcb = protocol;
    this.pr.attach(so);
    if (sflags & SOCK_NONBLOCK) so.fflags |= O_NONBLOCK;
    return so;
  }
}

/**
 * Register PF_ROUTE in `k` and report interfaces coming, going and
 * changing state (net_net's init).
 */
export function rtsockAttach(ns: NetStack): void {
  const k = ns.kernel;
  const cb = new RouteCb(k);
  RTSOCK.set(k, cb);
  k.domains.set(AF_ROUTE, new RouteDomain(cb, ns));
  k.sysctl.struct('net.route.stats', () => ({ ...cb.stats }));
  ns.rt4.notify = (type, rt) => {
    if (rtsockListening(k)) rtsockRoute(k, type, AF_INET, rtFields(type, rt.flags, rt.ifp, rt.mtu), rt4Addrs(rt));
  };
  ns.ifs.listeners.push({
    attached(ifp) {
      cb.ifFlags.set(ifp, ifp.flags);
      if (!rtsockListening(k)) return;
      rtsockBroadcast(k, ifAnnounceEncode(ifp, IFAN_ARRIVAL), 0);
      rtsockBroadcast(k, ifMsgEncode(ifp), 0);
    },
    detaching(ifp) {
      if (rtsockListening(k)) rtsockBroadcast(k, ifAnnounceEncode(ifp, IFAN_DEPARTURE), 0);
    },
    changed(ifp) {
      if (cb.ifFlags.get(ifp) === ifp.flags) return;
      cb.ifFlags.set(ifp, ifp.flags);
      if (rtsockListening(k)) rtsockBroadcast(k, ifMsgEncode(ifp), 0);
    },
  });
}
