#!/usr/bin/env node
/*
 * rump.sockstat: NetBSD's sockstat(1) against a rump kernel: the open
 * sockets of every process of the kernel (the kernel's own, pid 0
 * "system", and each rump_server client under the name it gave).
 *
 *   rump.sockstat [-46cln] [-f address_family] [-p ports] [-u]
 *
 *   USER     COMMAND    PID   FD PROTO  LOCAL ADDRESS         FOREIGN ADDRESS
 *   root     app        1      3 tcp    *.8080                *.*
 *   root     app        1      4 tcp    10.0.0.2.8080         10.0.0.1.65012
 *
 * Addresses are printed numerically (a rump kernel has no services or
 * hosts database), as NetBSD does with -n. Every process of a rump kernel
 * runs as root. The list comes from `sys.ext('sockstat')`.
 */
import { AF_INET, SOCK_DGRAM, SOCK_RAW, type Sockaddr } from '../kern/sys.js';
import { IPPROTO_RAW, IPPROTO_TCP, IPPROTO_UDP } from '../net/wire/ipv4.js';
import type { SockstatEntry } from '../net/sockstat.js';
import { errText, getopt, guard, runIfMain, withSys, type ToolIO } from './common.js';

const PROG = 'rump.sockstat';
const USAGE = `usage: ${PROG} [-46clnu] [-f address_family] [-p ports]\n`;
const AF_INET6 = 24;
const AF_LOCAL = 1;

/** The PROTO column (NetBSD: tcp, udp, raw; tcp6, udp6, raw6; else family/protocol). */
function protoName(e: SockstatEntry): string {
  const names: Record<number, string> = { [IPPROTO_TCP]: 'tcp', [IPPROTO_UDP]: 'udp', [IPPROTO_RAW]: 'raw' };
  const n = names[e.protocol];
  if (e.family === AF_INET && n !== undefined) return n;
  if (e.family === AF_INET6 && n !== undefined) return `${n}6`;
  return `${e.family}/${e.protocol}`;
}

/** addr.port, *.port, or *.* (NetBSD's print_addr). */
function formatAddr(sa: Sockaddr): string {
  const any = sa.addr === '0.0.0.0' || sa.addr === '::';
  if (!any) return `${sa.addr}.${sa.port}`;
  return sa.port !== 0 ? `*.${sa.port}` : '*.*';
}

function isConnected(e: SockstatEntry): boolean {
  return e.foreign !== null;
}

/** NetBSD's islistening: a TCP listener, a raw socket, or a datagram socket with a local port. */
function isListening(e: SockstatEntry): boolean {
  if (isConnected(e)) return false;
  if (e.listening) return true;
  return e.type === SOCK_RAW || (e.type === SOCK_DGRAM && e.local.port !== 0);
}

export function formatSockstatLine(e: SockstatEntry): string {
  const foreign = e.foreign !== null ? formatAddr(e.foreign) : '*.*';
  return `${'root'.padEnd(8)} ${e.comm.slice(0, 10).padEnd(10)} ${String(e.pid).padEnd(5)} ${String(e.fd).padStart(2)} ${protoName(e).padEnd(6)} ${formatAddr(e.local).padEnd(21)} ${foreign}\n`;
}

export const SOCKSTAT_HEADER = `${'USER'.padEnd(8)} ${'COMMAND'.padEnd(10)} ${'PID'.padEnd(5)} ${'FD'.padEnd(2)} ${'PROTO'.padEnd(6)} ${'LOCAL ADDRESS'.padEnd(21)} FOREIGN ADDRESS\n`;

/** -p: "80,8000-8080" → a predicate; null when malformed. */
function parsePorts(spec: string): ((p: number) => boolean) | null {
  const ranges: Array<[number, number]> = [];
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) return null;
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (lo > 65535 || hi > 65535 || lo > hi) return null;
    ranges.push([lo, hi]);
  }
  return (p) => ranges.some(([lo, hi]) => p >= lo && p <= hi);
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, '46cf:lnp:u');
    if (g === null || g.rest.length > 0) {
      io.stderr(USAGE);
      return 1;
    }
    const families = new Set<number>();
    let onlyConnected = false;
    let onlyListening = false;
    let ports: ((p: number) => boolean) | null = null;
    for (const [o, arg] of g.opts) {
      switch (o) {
        case '4':
          families.add(AF_INET);
          break;
        case '6':
          families.add(AF_INET6);
          break;
        case 'u':
          families.add(AF_LOCAL);
          break;
        case 'f': {
          const f = { inet: AF_INET, inet6: AF_INET6, local: AF_LOCAL, unix: AF_LOCAL }[arg!.toLowerCase()];
          if (f === undefined) {
            io.stderr(`${PROG}: ${arg}: unknown address family\n`);
            return 1;
          }
          families.add(f);
          break;
        }
        case 'c':
          onlyConnected = true;
          break;
        case 'l':
          onlyListening = true;
          break;
        case 'p':
          ports = parsePorts(arg!);
          if (ports === null) {
            io.stderr(`${PROG}: ${arg}: bad port list\n`);
            io.stderr(USAGE);
            return 1;
          }
          break;
        case 'n':
          break; // always numeric
      }
    }
    // No family named: the Internet families (and local with -u only), as NetBSD.
    if (families.size === 0 || (families.size === 1 && families.has(AF_LOCAL))) {
      families.add(AF_INET);
      families.add(AF_INET6);
    }
    return withSys(PROG, io, async (sys) => {
      let entries: SockstatEntry[];
      try {
        entries = await sys.ext('sockstat');
      } catch (e) {
        io.stderr(`${PROG}: kern.file2: ${errText(e)}\n`);
        return 1;
      }
      let out = SOCKSTAT_HEADER;
      for (const e of entries) {
        if (!families.has(e.family)) continue;
        if (onlyConnected || onlyListening) {
          const keep = (onlyConnected && isConnected(e)) || (onlyListening && isListening(e));
          if (!keep) continue;
        }
        if (ports !== null && !ports(e.local.port) && !(e.foreign !== null && ports(e.foreign.port))) continue;
        out += formatSockstatLine(e);
      }
      io.stdout(out);
      return 0;
    });
  });
}

runIfMain(import.meta.url, PROG, main);
