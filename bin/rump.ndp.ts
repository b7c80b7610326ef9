#!/usr/bin/env node
/*
 * rump.ndp: NetBSD's ndp(8) against a rump kernel, for reading the IPv6
 * neighbor cache (RFC 4861 §5.1).
 *
 *   rump.ndp [-n] -a          every entry
 *   rump.ndp [-n] hostname    one entry
 *
 *   Neighbor                             Linklayer Address  Netif Expire    S Flags
 *   2001:db8::2                          b2:a0:b8:65:15:51 shmif0 29s       R
 *   2001:db8::9                          (incomplete)      shmif0 1s        I
 *
 * Names are never looked up (a rump kernel has no resolver), so -n changes
 * nothing. The cache comes from `sys.ext('ndpdump')` (net_netinet6); a
 * kernel without IPv6 has an empty cache. Expire is the time until the entry's next state change or its
 * removal; "permanent" when no timer runs.
 */
import { ENOSYS } from '../kern/errno.js';
import { formatIn6Addr, parseIn6Addr } from '../net/wire/in6addr.js';
import { errText, errnoOf, errx, exit, getopt, guard, padLeft, padRight, runIfMain, withSys, type ToolIO } from './common.js';

const PROG = 'rump.ndp';
const USAGE = `usage: ${PROG} [-n] hostname\n       ${PROG} [-n] -a\n`;

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
  const expire = e.expire === undefined || e.expire < 0 ? 'permanent' : sec2str(e.expire);
  const state = STATE_LETTERS[e.state] ?? '?';
  const flags = e.router ? 'R' : '';
  return `${padRight(e.addr, W_ADDR)} ${padRight(e.lladdr ?? '(incomplete)', W_LL)} ${padLeft(e.ifname.slice(0, W_IF), W_IF)} ` +
    `${padRight(expire, 9)} ${state} ${flags}\n`;
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

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, 'an');
    if (!g) usage(io);
    const all = g.opts.some(([c]) => c === 'a');
    if (all ? g.rest.length !== 0 : g.rest.length !== 1) usage(io);
    let want: string | null = null;
    if (!all) {
      const a = parseIn6Addr(g.rest[0]!);
      if (a === null) errx(`${g.rest[0]}: Unknown host`);
      want = formatIn6Addr(a);
    }
    return withSys(PROG, io, async (sys) => {
      let list: NdpEntry[];
      try {
        list = await sys.ext('ndpdump');
      } catch (e) {
        // A kernel without IPv6 has no neighbors: NetBSD's ndp prints an empty table there.
        if (errnoOf(e) !== ENOSYS) errx(`sysctl(NET_RT_FLAGS): ${errText(e)}`);
        list = [];
      }
      if (want === null) {
        io.stdout(formatNdpTable(list));
        return 0;
      }
      const found = list.filter((e) => e.addr === want);
      if (found.length === 0) {
        io.stdout(`${g.rest[0]} (${want}) -- no entry\n`);
        return 1;
      }
      io.stdout(formatNdpTable(found));
      return 0;
    });
  });
}

runIfMain(import.meta.url, PROG, main);
