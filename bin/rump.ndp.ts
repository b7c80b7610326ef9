#!/usr/bin/env node
/*
 * rump.ndp: NetBSD's ndp(8) against a rump kernel: the IPv6 neighbor cache
 * (RFC 4861 §5.1), the default router and prefix lists.
 *
 *   rump.ndp [-n] hostname                      one entry ("-- no entry" on stderr, status 1)
 *   rump.ndp [-n] -a                            every entry
 *   rump.ndp [-n] -c                            delete every entry that is not permanent
 *   rump.ndp [-n] -d hostname                   delete the address's entries (every interface)
 *   rump.ndp -s hostname lladdr [temp] [proxy]  a permanent entry (temp: 20 minutes)
 *   rump.ndp -f filename                        -s for each line of a file
 *   rump.ndp -i interface                       the interface's ND parameters
 *   rump.ndp -p | -r                            the prefix list, the default router list
 *   rump.ndp -P | -R                            flush them
 *
 *   Neighbor                             Linklayer Address  Netif Expire    S Flags
 *   2001:db8::2                          b2:a0:b8:65:15:51 shmif0 29s       R
 *   2001:db8::9                          (incomplete)      shmif0 1s        I  2
 *   2001:db8::10                         b2:a0:20:00:00:10 shmif0 permanent R p
 *
 * Names are never looked up (a rump kernel has no resolver), so -n changes
 * nothing. The cache comes from `sys.ext('ndpdump')` and is changed with
 * `sys.ext('ndpmsg')` (net_netinet6), the structured forms of NetBSD's
 * NET_RT_FLAGS sysctl and routing messages; a kernel without IPv6 has an
 * empty cache. Expire is the time until the entry's next state change or
 * its removal; "permanent" for `-s` entries. Flags: R router, p proxy; a
 * number after them counts the solicitations sent in the current round.
 * Not here: -A (repeat), -H, -I (default interface), -t, setting -i flags.
 */
import { readFileSync } from 'node:fs';

import { EEXIST, ENETUNREACH, ENOENT, ENOSYS, ESRCH } from '../kern/errno.js';
import type { NdpIfInfo, NdpPrefixInfo, NdpRouterInfo } from '../net/inet6/component.js';
import { formatIn6Addr, parseIn6Addr } from '../net/wire/in6addr.js';
import { formatMac, parseMac } from '../net/wire/inaddr.js';
import {
  errText, errnoOf, errx, exit, getopt, guard, padLeft, padRight, runIfMain, withSys, type SysLike, type ToolIO,
} from './common.js';

const PROG = 'rump.ndp';
const USAGE =
  `usage: ${PROG} [-n] hostname\n` +
  `       ${PROG} [-n] -a | -c | -p | -r | -P | -R\n` +
  `       ${PROG} [-n] -d hostname\n` +
  `       ${PROG} -f filename\n` +
  `       ${PROG} -i interface\n` +
  `       ${PROG} -s nodename etheraddr [temp] [proxy]\n`;

/** A neighbor cache entry as `sys.ext('ndpdump')` returns it (net/inet6/nd6.ts NdpInfo). */
export interface NdpEntry {
  addr: string;
  /** null while INCOMPLETE. */
  lladdr: string | null;
  ifname: string;
  /** INCOMPLETE, REACHABLE, STALE, DELAY or PROBE. */
  state: string;
  router: boolean;
  /** Seconds until the timer fires; -1 or absent when none runs. */
  expire?: number;
  /** An `ndp -s` entry; absent: permanent when no timer runs. */
  permanent?: boolean;
  proxy?: boolean;
  /** Solicitations sent in the current round. */
  asked?: number;
}

/* ndp.c's column widths. */
const W_ADDR = 36;
const W_LL = 17;
const W_IF = 6;

/** State letters as ndp -a prints them (ND6_LLINFO_*). */
const STATE_LETTERS: Record<string, string> = {
  INCOMPLETE: 'I', REACHABLE: 'R', STALE: 'S', DELAY: 'D', PROBE: 'P', NOSTATE: 'N', WAITDELETE: 'W',
};

function usage(io: ToolIO): never {
  io.stderr(USAGE);
  exit(1);
}

/** ndp.c's sec2str(): "45s", "2m5s", "1d0h0m0s" (leading zero units left out). */
export function sec2str(total: number): string {
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const mins = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  let out = '';
  let first = true;
  if (days) {
    first = false;
    out += `${days}d`;
  }
  if (!first || hours) {
    first = false;
    out += `${hours}h`;
  }
  if (!first || mins) out += `${mins}m`;
  return `${out}${secs}s`;
}

export const NDP_HEADER =
  `${padRight('Neighbor', W_ADDR)} ${padRight('Linklayer Address', W_LL)} ${padLeft('Netif', W_IF)} ${padRight('Expire', 9)} S Flags\n`;

/** One line of ndp -a. */
export function formatNdpEntry(e: NdpEntry): string {
  const permanent = e.permanent ?? (e.expire === undefined || e.expire < 0);
  const expire = permanent ? 'permanent' : e.expire === undefined || e.expire < 0 ? 'expired' : sec2str(e.expire);
  const state = STATE_LETTERS[e.state] ?? '?';
  const flags = `${e.router ? 'R' : ''}${e.proxy ? 'p' : ''}`;
  const probes = e.asked ? ` ${e.asked}` : '';
  // ndp.c widens a column for a long value and narrows the next to keep the rest aligned; nothing is cut.
  // A link-local neighbor carries its zone, as getnameinfo prints it.
  const host = e.addr.startsWith('fe80:') && !e.addr.includes('%') ? `${e.addr}%${e.ifname}` : e.addr;
  const ll = e.lladdr ?? '(incomplete)';
  const addrW = Math.max(host.length, W_ADDR);
  const llW = Math.max(ll.length, W_ADDR + W_LL - addrW);
  const ifW = Math.max(e.ifname.length, W_ADDR + W_LL + W_IF - addrW - llW);
  return `${padRight(host, addrW)} ${padRight(ll, llW)} ${padLeft(e.ifname, ifW)} ` +
    `${padRight(expire, 9)} ${state} ${flags}${probes}\n`;
}

/** The whole table (header first), in address order. */
export function formatNdpTable(list: readonly NdpEntry[]): string {
  const key = (e: NdpEntry): string => {
    const a = parseIn6Addr(e.addr);
    return a === null ? e.addr : [...a].map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  const sorted = [...list].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.ifname < b.ifname ? -1 : 1));
  return NDP_HEADER + sorted.map(formatNdpEntry).join('');
}

/** ndp.c's lifetime words: "infinity" or sec2str. */
function lifetime(secs: number): string {
  return secs < 0 ? 'infinity' : sec2str(secs);
}

/** ndp -p: each prefix, its flags (L on link, A autonomous) and lifetimes, as ndp.c's plist(). */
export function formatPrefixes(list: readonly NdpPrefixInfo[]): string {
  let out = '';
  for (const p of list) {
    out += `${p.prefix}/${p.plen} if=${p.ifname}\n`;
    out += `flags=${p.onlink ? 'L' : ''}${p.pltime >= 0 ? 'A' : ''}, vltime=${p.vltime < 0 ? 'infinity' : p.vltime}, ` +
      `pltime=${p.pltime < 0 ? 'infinity' : p.pltime}, expire=${p.expire < 0 ? 'Never' : sec2str(p.expire)}\n`;
    out += '  No advertising router\n';
  }
  return out;
}

/** ndp -r: the default router list, as ndp.c's rtrlist(). */
export function formatRouters(list: readonly NdpRouterInfo[]): string {
  return list.map((r) => `${r.addr}${r.addr.startsWith('fe80:') ? `%${r.ifname}` : ''} if=${r.ifname}, flags=, pref=medium, ` +
    `expire=${r.expire < 0 ? 'Never' : sec2str(r.expire)}\n`).join('');
}

/** ndp -i: as ndp.c's ifinfo() (times as it prints them: seconds and milliseconds). */
export function formatIfinfo(i: NdpIfInfo): string {
  const ms = (v: number): string => `${Math.floor(v / 1000)}s${v % 1000}ms`;
  return `linkmtu=${i.linkmtu}, maxmtu=${i.maxmtu}, curhlim=${i.curhlim}, basereachable=${ms(i.basereachable)}, ` +
    `reachable=${lifetime(Math.floor(i.basereachable / 1000))}, retrans=${ms(i.retrans)}\n` +
    `Flags: nud${i.acceptRtadv ? ' accept_rtadv' : ''} auto_linklocal\n`;
}

/** A host argument in numeric form, or null after NetBSD's complaint (names are not looked up). */
function hostAddr(host: string, io: ToolIO): string | null {
  const a = parseIn6Addr(host.replace(/%.*$/, ''));
  if (a === null) {
    io.stderr(`${PROG}: ${host}: Unknown host\n`);
    return null;
  }
  return formatIn6Addr(a);
}

async function dump(sys: SysLike): Promise<NdpEntry[]> {
  try {
    return await sys.ext('ndpdump');
  } catch (e) {
    // A kernel without IPv6 has no neighbors: NetBSD's ndp prints an empty table there.
    if (errnoOf(e) !== ENOSYS) errx(`sysctl(NET_RT_FLAGS): ${errText(e)}`);
    return [];
  }
}

/** -s host lladdr [temp] [proxy]; the exit status. */
async function set(sys: SysLike, words: readonly string[], io: ToolIO): Promise<number> {
  const [host, eaddr, ...rest] = words as [string, string, ...string[]];
  const addr = hostAddr(host, io);
  if (addr === null) return 1;
  const mac = parseMac(eaddr);
  if (mac === null) {
    io.stderr(`${PROG}: invalid Ethernet address '${eaddr}'\n`);
    return 1;
  }
  let temp = false;
  let proxy = false;
  for (const w of rest) {
    if (w.startsWith('temp')) temp = true;
    else if (w.startsWith('proxy')) proxy = true;
  }
  try {
    await sys.ext('ndpmsg', { type: 'add', addr, lladdr: formatMac(mac), temp, proxy });
  } catch (e) {
    const n = errnoOf(e);
    if (n === ENETUNREACH) io.stderr(`${PROG}: cannot intuit interface index and type for ${host}\n`);
    else if (n === EEXIST) io.stderr(`${PROG}: writing to routing socket: ${errText(e)}\n${PROG}: ${host}: a permanent entry is there (ndp -d it first)\n`);
    else io.stderr(`${PROG}: writing to routing socket: ${errText(e)}\n`);
    return 1;
  }
  return 0;
}

/** -d host, and each entry of -c; prints "host (addr) deleted" as ndp.c does. */
async function del(sys: SysLike, host: string, addr: string, io: ToolIO): Promise<number> {
  try {
    await sys.ext('ndpmsg', { type: 'delete', addr });
  } catch (e) {
    const n = errnoOf(e);
    if (n === ESRCH || n === ENOENT || n === ENOSYS) io.stderr(`${PROG}: delete: cannot locate ${host}\n`);
    else io.stderr(`${PROG}: writing to routing socket: ${errText(e)}\n`);
    return 1;
  }
  io.stdout(`${host} (${addr}) deleted\n`);
  return 0;
}

/** -f: -s for each line ("host lladdr [temp] [proxy]"; '#' starts a comment). */
async function file(sys: SysLike, name: string, io: ToolIO): Promise<number> {
  let text: string;
  try {
    text = readFileSync(name, 'utf8');
  } catch (e) {
    errx(`cannot open ${name}: ${errText(e)}`);
  }
  let status = 0;
  for (const raw of text.split('\n')) {
    const words = raw.replace(/#.*/, '').trim().split(/\s+/).filter((w) => w !== '');
    if (words.length === 0) continue;
    if (words.length < 2) {
      io.stderr(`${PROG}: bad line: ${raw}\n`);
      status = 1;
      continue;
    }
    if (await set(sys, words.slice(0, 4), io)) status = 1;
  }
  return status;
}

/* The modes, as ndp.c's getopt string: one of them at most. */
const MODES = 'acdfiprsPR';

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, 'acd:f:i:nprsPR');
    if (!g) usage(io);
    let mode = '';
    let arg: string | undefined;
    for (const [c, a] of g.opts) {
      if (!MODES.includes(c)) continue;
      if (mode) usage(io);
      mode = c;
      arg = a;
    }
    const args = g.rest;
    const noArgs = (): void => {
      if (args.length !== 0) usage(io);
    };
    switch (mode) {
      case 'a':
        noArgs();
        return withSys(PROG, io, async (sys) => {
          io.stdout(formatNdpTable(await dump(sys)));
          return 0;
        });
      case 'c':
        noArgs();
        return withSys(PROG, io, async (sys) => {
          // ndp.c deletes each cloned (learnt) entry in turn; the kernel does it in one call.
          for (const addr of await sys.ext('ndpmsg', { type: 'flush' }).catch((e: unknown) => {
            if (errnoOf(e) === ENOSYS) return [];
            errx(`sysctl(NET_RT_FLAGS): ${errText(e)}`);
          })) io.stdout(`${addr} (${addr}) deleted\n`);
          return 0;
        });
      case 'd': {
        noArgs();
        const addr = hostAddr(arg!, io);
        if (addr === null) return 1;
        return withSys(PROG, io, (sys) => del(sys, arg!, addr, io));
      }
      case 's':
        if (args.length < 2 || args.length > 4) usage(io);
        return withSys(PROG, io, (sys) => set(sys, args, io));
      case 'f':
        noArgs();
        return withSys(PROG, io, (sys) => file(sys, arg!, io));
      case 'i':
        if (args.length !== 0) errx('setting ND flags is not supported: ndp -i shows them only');
        return withSys(PROG, io, async (sys) => {
          try {
            io.stdout(formatIfinfo((await sys.ext('ndpinfo', 'ifinfo', arg)) as NdpIfInfo));
          } catch (e) {
            errx(`ioctl(SIOCGIFINFO_IN6): ${errText(e)}`);
          }
          return 0;
        });
      case 'p':
      case 'r':
        noArgs();
        return withSys(PROG, io, async (sys) => {
          let list: NdpPrefixInfo[] | NdpRouterInfo[];
          try {
            list = (await sys.ext('ndpinfo', mode === 'p' ? 'prefixes' : 'routers')) as NdpPrefixInfo[] | NdpRouterInfo[];
          } catch (e) {
            if (errnoOf(e) !== ENOSYS) errx(`sysctl(ICMPV6CTL_ND6_${mode === 'p' ? 'PRLIST' : 'DRLIST'}): ${errText(e)}`);
            list = [];
          }
          io.stdout(mode === 'p' ? formatPrefixes(list as NdpPrefixInfo[]) : formatRouters(list as NdpRouterInfo[]));
          return 0;
        });
      case 'P':
      case 'R':
        noArgs();
        return withSys(PROG, io, async (sys) => {
          try {
            await sys.ext('ndpmsg', { type: mode === 'P' ? 'flushprefixes' : 'flushrouters' });
          } catch (e) {
            errx(`ioctl(${mode === 'P' ? 'SIOCSPFXFLUSH_IN6' : 'SIOCSRTRFLUSH_IN6'}): ${errText(e)}`);
          }
          return 0;
        });
      default: {
        if (args.length !== 1) usage(io);
        const host = args[0]!;
        const addr = hostAddr(host, io);
        if (addr === null) return 1;
        return withSys(PROG, io, async (sys) => {
          const found = (await dump(sys)).filter((e) => e.addr === addr);
          // ndp.c prints the header, then complains on stderr (errx) when nothing matched.
          io.stdout(formatNdpTable(found));
          if (found.length === 0) errx(`${host} (${addr}) -- no entry`);
          return 0;
        });
      }
    }
  });
}

runIfMain(import.meta.url, PROG, main);
