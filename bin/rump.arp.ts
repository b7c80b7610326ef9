#!/usr/bin/env node
/*
 * rump.arp: NetBSD's arp(8) against a rump kernel.
 *
 *   rump.arp [-n] hostname                          one entry
 *   rump.arp [-nv] -a                               every entry
 *   rump.arp [-v] -d [-a | hostname [proxy]]        delete
 *   rump.arp -s hostname ether_addr [temp] [pub [proxy]]
 *   rump.arp -f filename                            -s for each line of a file
 *
 *   ? (192.0.2.2) at b2:a0:b8:65:15:51 on shmif0
 *   ? (192.0.2.9) at (incomplete) on shmif0
 *   ? (192.0.2.50) at 02:00:00:00:00:01 on shmif0 permanent published (proxy only)
 *
 * Names are never looked up (a rump kernel has no resolver), so the host
 * column is always "?" as with -n. The cache is read with
 * `sys.ext('arpdump')` and changed with `sys.ext('arpmsg', ...)`, the
 * structured forms of NetBSD's NET_RT_FLAGS sysctl and routing messages.
 */
import { readFileSync } from 'node:fs';

import { ENOENT, ESRCH } from '../kern/errno.js';
import type { ArpInfo, ArpMsg } from '../net/ioctl.js';
import { formatInAddr, formatMac, parseInAddr, parseMac } from '../net/wire/inaddr.js';
import { errText, errnoOf, errx, exit, getopt, guard, runIfMain, withSys, type SysLike, type ToolIO } from './common.js';

const PROG = 'rump.arp';
const USAGE =
  `Usage: ${PROG} [-n] hostname\n` +
  `       ${PROG} [-nv] -a\n` +
  `       ${PROG} [-v] -d [-a|hostname [proxy]]\n` +
  `       ${PROG} -s hostname ether_addr [temp] [pub [proxy]]\n` +
  `       ${PROG} -f filename\n`;

function usage(io: ToolIO): never {
  io.stderr(USAGE);
  exit(1);
}

/** A host argument: a dotted quad (or localhost); null after printing NetBSD's complaint. */
function hostAddr(host: string, io: ToolIO): string | null {
  const a = parseInAddr(host) ?? (host === 'localhost' ? 0x7f000001 : null);
  if (a === null) {
    io.stderr(`${PROG}: ${host}: Unknown host\n`);
    return null;
  }
  return formatInAddr(a);
}

/** One cache entry as NetBSD's arp -a prints it. */
export function formatArpEntry(e: ArpInfo): string {
  let line = `? (${e.addr}) at ${e.lladdr ?? '(incomplete)'} on ${e.ifname}`;
  if (e.permanent) line += ' permanent';
  // Published entries only answer for their address (NetBSD since lltable: "proxy only").
  if (e.published) line += ' published (proxy only)';
  return line + '\n';
}

async function dump(sys: SysLike): Promise<ArpInfo[]> {
  try {
    return await sys.ext('arpdump');
  } catch (e) {
    errx(`actual retrieval of routing table: ${errText(e)}`);
  }
}

/** -s: add a static (or temp) entry; returns the exit status. */
async function set(sys: SysLike, words: string[], verbose: boolean, io: ToolIO): Promise<number> {
  const [host, eaddr, ...rest] = words as [string, string, ...string[]];
  const addr = hostAddr(host, io);
  if (addr === null) return 1;
  const msg: ArpMsg = { type: 'add', addr };
  if (eaddr !== 'auto') {
    const mac = parseMac(eaddr);
    if (mac === null) {
      io.stderr(`${PROG}: invalid link-level address '${eaddr}'\n`);
      return 1;
    }
    msg.lladdr = formatMac(mac);
  }
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i]!;
    if (w.startsWith('temp')) msg.temp = true;
    else if (w.startsWith('pub')) {
      msg.pub = true;
      if (rest[i + 1]?.startsWith('pro')) i++;
    } else if (w.startsWith('trail')) io.stderr(`${PROG}: ${host}: Sending trailers is no longer supported\n`);
  }
  if (eaddr === 'auto' && !msg.pub) {
    io.stderr(`${PROG}: invalid link-level address '${eaddr}'\n`);
    return 1;
  }
  try {
    await sys.ext('arpmsg', msg);
  } catch (e) {
    io.stderr(`${PROG}: ${host}: ${errText(e)}\n`);
    return 1;
  }
  if (verbose) io.stdout(`${host} (${eaddr}) added\n`);
  return 0;
}

async function deleteOne(sys: SysLike, host: string, addr: string, verbose: boolean, io: ToolIO): Promise<number> {
  try {
    await sys.ext('arpmsg', { type: 'delete', addr } satisfies ArpMsg);
  } catch (e) {
    const n = errnoOf(e);
    if (n === ESRCH || n === ENOENT) io.stderr(`${PROG}: delete: can't locate ${host}\n`);
    else io.stderr(`${PROG}: ${host}: ${errText(e)}\n`);
    return 1;
  }
  if (verbose) io.stdout(`${host} (${addr}) deleted\n`);
  return 0;
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, 'andsfv');
    if (!g) usage(io);
    let op = '';
    let aflag = false;
    let verbose = false;
    for (const [c] of g.opts) {
      if (c === 'a') aflag = true;
      else if (c === 'v') verbose = true;
      else if (c === 'd' || c === 's' || c === 'f') {
        if (op) usage(io);
        op = c;
      }
    }
    if (!op && aflag) op = 'a';
    const args = g.rest;

    switch (op) {
      case 'a':
        if (args.length) usage(io);
        return withSys(PROG, io, async (sys) => {
          for (const e of await dump(sys)) io.stdout(formatArpEntry(e));
          return 0;
        });
      case 'd':
        if (aflag && args.length === 0) {
          return withSys(PROG, io, async (sys) => {
            let status = 0;
            // One delete per address: it takes the entries of every interface (the same address on two).
            for (const addr of new Set((await dump(sys)).map((e) => e.addr))) status |= await deleteOne(sys, '?', addr, verbose, io);
            return status;
          });
        }
        if (aflag || args.length < 1 || args.length > 2) usage(io);
        {
          const host = args[0]!;
          const addr = hostAddr(host, io);
          if (addr === null) return 1;
          return withSys(PROG, io, (sys) => deleteOne(sys, host, addr, verbose, io));
        }
      case 's':
        if (args.length < 2 || args.length > 7) usage(io);
        return withSys(PROG, io, (sys) => set(sys, args, verbose, io));
      case 'f': {
        if (args.length !== 1) usage(io);
        let text: string;
        try {
          text = readFileSync(args[0]!, 'utf8');
        } catch (e) {
          errx(`Cannot open ${args[0]}: ${errText(e)}`);
        }
        return withSys(PROG, io, async (sys) => {
          let status = 0;
          for (const raw of text.split('\n')) {
            const line = raw.replace(/#.*/, '').trim();
            if (!line) continue;
            const words = line.split(/\s+/);
            if (words.length < 2) {
              io.stderr(`${PROG}: bad line: ${raw}\n`);
              status = 1;
              continue;
            }
            if (await set(sys, words.slice(0, 5), verbose, io)) status = 1;
          }
          return status;
        });
      }
      default: {
        if (args.length !== 1) usage(io);
        const host = args[0]!;
        const addr = hostAddr(host, io);
        if (addr === null) return 1;
        return withSys(PROG, io, async (sys) => {
          const found = (await dump(sys)).filter((e) => e.addr === addr);
          if (found.length === 0) errx(`${host} (${addr}) -- no entry`);
          for (const e of found) io.stdout(formatArpEntry(e));
          return 0;
        });
      }
    }
  });
}

runIfMain(import.meta.url, PROG, main);
