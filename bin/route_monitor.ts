/*
 * `rump.route [-n] monitor [-c count]`: read the kernel's routing socket
 * (net/rtsock.ts, route(4)) and print each message as NetBSD's route(8)
 * does (print_rtmsg):
 *
 *   got message of size 160 on Mon Dec  7 21:40:00 2026
 *   RTM_ADD: Add Route: len 160, pid 0, seq 0, errno 0, flags: <UP,HOST,DONE,LLINFO,CLONED>
 *   locks: none inits: none
 *   sockaddrs: <DST,GATEWAY>
 *    10.0.1.2 link#2
 *
 * Addresses print numerically (route(8) -n); names are never looked up.
 */
import { AF_INET, AF_INET6, PF_ROUTE, SOCK_RAW } from '../kern/sys.js';
import {
  AF_LINK, IFAN_ARRIVAL, IFAN_DEPARTURE, IFA_MSGHDR_LEN, IF_MSGHDR_LEN, LINK_STATE_DOWN, LINK_STATE_UNKNOWN, LINK_STATE_UP,
  RTAX_MAX, RTAX_NETMASK, RTM_CHGADDR, RTM_DELADDR, RTM_IFANNOUNCE, RTM_IFINFO, RTM_NEWADDR, RTM_VERSION, RT_MSGHDR_LEN, rtRoundup,
} from '../net/rtsock.js';
import { IFT_ETHER } from '../net/interface.js';
import { formatIn6Addr } from '../net/wire/in6addr.js';
import { formatFlagNames, type SysLike, type ToolIO } from './common.js';

const MSGTYPES: Record<number, string> = {
  1: 'RTM_ADD: Add Route',
  2: 'RTM_DELETE: Delete Route',
  3: 'RTM_CHANGE: Change Metrics, Flags or Gateway',
  4: 'RTM_GET: Report Metrics',
  5: 'RTM_LOSING: Kernel Suspects Partitioning',
  6: 'RTM_REDIRECT: Told to use different route',
  7: 'RTM_MISS: Lookup failed on this address',
  8: 'RTM_LOCK: fix specified metrics',
  9: 'RTM_OLDADD: caused by SIOCADDRT',
  10: 'RTM_OLDDEL: caused by SIOCDELRT',
  0x16: 'RTM_NEWADDR: address being added to iface',
  0x17: 'RTM_DELADDR: address being removed from iface',
  0x0e: 'RTM_OOIFINFO: iface status change (pre-1.5)',
  0x0f: 'RTM_OIFINFO: iface status change (pre-64bit time)',
  0x10: 'RTM_IFANNOUNCE: iface arrival/departure',
  0x11: 'RTM_IEEE80211: IEEE80211 wireless event',
  0x14: 'RTM_IFINFO: iface status change',
  0x18: 'RTM_CHGADDR: address being changed on iface',
};

/* Bit names, lowest bit first (route(8)'s bprintf strings, not the kernel's); '' for an unnamed bit. */
const METRICNAMES = ['mtu', 'hopcount', 'expire', 'recvpipe', 'sendpipe', 'ssthresh', 'rtt', 'rttvar', 'pksent'];
const ROUTEFLAGS = ['UP', 'GATEWAY', 'HOST', 'REJECT', 'DYNAMIC', 'MODIFIED', 'DONE', 'MASK_PRESENT', 'CONNECTED', 'XRESOLVE',
  'LLINFO', 'STATIC', 'BLACKHOLE', 'CLONED', 'PROTO2', 'PROTO1', '', '', 'LOCAL', 'BROADCAST'];
const IFNETFLAGS = ['UP', 'BROADCAST', 'DEBUG', 'LOOPBACK', 'PTP', 'NOTRAILERS', 'RUNNING', 'NOARP', 'PROMISC', 'ALLMULTI',
  'OACTIVE', 'SIMPLEX', 'LINK0', 'LINK1', 'LINK2', 'MULTICAST'];
const ADDRNAMES = ['DST', 'GATEWAY', 'NETMASK', 'GENMASK', 'IFP', 'IFA', 'AUTHOR', 'BRD', 'TAG'];

/** A lowest-bit-first name list as formatFlagNames' (bit, name) pairs. */
function bitPairs(names: readonly string[]): ReadonlyArray<readonly [number, string]> {
  return names.flatMap((n, i) => (n === '' ? [] : [[2 ** i, n] as const]));
}
const METRICBITS = bitPairs(METRICNAMES);
const ROUTEBITS = bitPairs(ROUTEFLAGS);
const IFNETBITS = bitPairs(IFNETFLAGS);
const ADDRBITS = bitPairs(ADDRNAMES);

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** routename() of one sockaddr, numerically; its length is sa_len (0: empty). */
function saText(b: Uint8Array, off: number, isMask: boolean, maskFamily: number): string {
  const len = b[off]!;
  const family = b[off + 1]!;
  const fam = isMask && len > 0 ? maskFamily : family;
  if (fam === AF_INET) {
    const a = new Uint8Array(4);
    a.set(b.subarray(off + 4, off + Math.min(len, 8)));
    return a.join('.');
  }
  if (fam === AF_INET6) {
    const a = new Uint8Array(16);
    a.set(b.subarray(off + 8, off + Math.min(len, 24)));
    return formatIn6Addr(a);
  }
  if (family === AF_LINK) {
    const index = b[off + 2]! | (b[off + 3]! << 8);
    const type = b[off + 4]!;
    const nlen = b[off + 5]!;
    const alen = b[off + 6]!;
    const slen = b[off + 7]!;
    if (nlen === 0 && alen === 0 && slen === 0) return `link#${index}`;
    const lla = b.subarray(off + 8 + nlen, off + 8 + nlen + alen);
    if (type === IFT_ETHER) {
      const e = new Uint8Array(6);
      e.set(lla.subarray(0, 6));
      return [...e].map(hex2).join(':');
    }
    const name = new TextDecoder().decode(b.subarray(off + 8, off + 8 + nlen));
    return name + (name !== '' && lla.length > 0 ? ':' : '') + [...lla].map((x) => x.toString(16)).join('.');
  }
  return len === 0 ? 'default' : `(${family})`;
}

/** pmsg_addrs: the sockaddrs named by `addrs`, from `off`. */
function addrsText(b: Uint8Array, off: number, end: number, addrs: number): string {
  if (addrs === 0) return '\n';
  const at: Array<number | null> = [];
  let maskFamily = -1;
  for (let i = 0; i < RTAX_MAX; i++) {
    if (!(addrs & (1 << i)) || off >= end) {
      at.push(null);
      continue;
    }
    at.push(off);
    if ((i === 0 || i === 5) && maskFamily === -1) maskFamily = b[off + 1]!;
    off += rtRoundup(b[off]!);
  }
  let s = `\nsockaddrs: ${formatFlagNames(addrs, ADDRBITS)}\n`;
  for (let i = 0; i < RTAX_MAX; i++) {
    const o = at[i];
    if (o === null || o === undefined) continue;
    s += ` ${saText(b, o, i === RTAX_NETMASK, maskFamily)}`;
  }
  return `${s}\n`;
}

function linkstate(state: number): string {
  if (state === LINK_STATE_UNKNOWN) return 'carrier: unknown';
  if (state === LINK_STATE_DOWN) return 'carrier: no carrier';
  if (state === LINK_STATE_UP) return 'carrier: active';
  return `carrier: 0x${state.toString(16)}`;
}

/** print_rtmsg: one message (its first `n` bytes) as route(8) prints it in verbose mode. */
export function formatRtMsg(b: Uint8Array, n: number): string {
  if (n < 4) return `routing message too short (${n} bytes)\n`;
  const v = new DataView(b.buffer, b.byteOffset, n);
  if (b[2] !== RTM_VERSION) return `routing message version ${b[2]} not understood\n`;
  const type = b[3]!;
  let s = `${MSGTYPES[type] ?? `#${type}`}: len ${v.getUint16(0, true)}, `;
  const i32 = (o: number): number => (o + 4 <= n ? v.getInt32(o, true) : 0);
  const u16 = (o: number): number => (o + 2 <= n ? v.getUint16(o, true) : 0);
  switch (type) {
    case RTM_IFINFO:
      s += `if# ${u16(12)}, ${linkstate(i32(20))}, flags: ${formatFlagNames(i32(8), IFNETBITS)}`;
      return s + addrsText(b, IF_MSGHDR_LEN, n, i32(4));
    case RTM_NEWADDR:
    case RTM_DELADDR:
    case RTM_CHGADDR:
      s += `pid ${i32(16)}, metric ${i32(24)}, flags: ${formatFlagNames(i32(8), ROUTEBITS)}`;
      return s + addrsText(b, IFA_MSGHDR_LEN, n, i32(12));
    case RTM_IFANNOUNCE: {
      const what = u16(22);
      s += `if# ${u16(4)}, what: ${what === IFAN_ARRIVAL ? 'arrival' : what === IFAN_DEPARTURE ? 'departure' : `#${what}`}\n`;
      return s;
    }
    default: {
      s += `pid ${i32(16)}, seq ${i32(20)}, errno ${i32(24)}, flags: ${formatFlagNames(i32(8), ROUTEBITS)}`;
      const locks = n >= 48 ? Number(v.getBigUint64(40, true) & 0x1ffn) : 0;
      s += `\nlocks: ${formatFlagNames(locks, METRICBITS)} inits: ${formatFlagNames(i32(32), METRICBITS)}`;
      return s + addrsText(b, RT_MSGHDR_LEN, n, i32(12));
    }
  }
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ctime(3): "Mon Dec  7 21:40:00 2026\n", local time. */
export function ctime(d: Date): string {
  const p2 = (x: number): string => String(x).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ` +
    `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}\n`;
}

/**
 * route(8)'s monitor: `count` messages (0: for ever), each after its "got
 * message" line. An interrupt (io.signal, ^C) ends it: the socket is
 * closed, which wakes the read.
 */
export async function routeMonitor(sys: SysLike, count: number, io: ToolIO, now: () => Date = () => new Date()): Promise<number> {
  const fd = await sys.socket(PF_ROUTE, SOCK_RAW, 0);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await sys.close(fd);
  };
  const onAbort = (): void => void close().catch(() => {});
  const aborted = (): boolean => io.signal?.aborted === true;
  io.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (let i = 0; (count === 0 || i < count) && !aborted(); i++) {
      let r;
      try {
        r = await sys.recvfrom(fd, 2048, 0);
      } catch (e) {
        if (aborted()) break;
        throw e;
      }
      if (aborted()) break; // the closed socket's empty read
      io.stdout(`got message of size ${r.data.length} on ${ctime(now())}`);
      io.stdout(formatRtMsg(r.data, r.data.length));
    }
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    await close();
  }
  return 0;
}
