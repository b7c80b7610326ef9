/*
 * What the NetBSD network tools (rump.ifconfig, rump.route, rump.ping,
 * rump.arp, rump.netstat, rump.sysctl) share: how they reach a kernel, how
 * they read their options, how they report errors, and the routing-table
 * listing that both `route show` and `netstat -r` print.
 *
 * A tool is `main(argv, io)`: argv without the program name, io the streams
 * it writes and, optionally, the kernel it talks to. Without `io.sys` it
 * connects to the rump_server named by RUMP_SERVER, as NetBSD's rump.*
 * tools do through rumpclient(3), and disconnects when it is done.
 *
 *   const status = await main(['-a'], { stdout: s => out += s, stderr: s => err += s, sys: kernel.sys });
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { errnoByName, strerror } from '../kern/errno.js';
import { AF_INET, SOCK_DGRAM, type Sys } from '../kern/sys.js';
import type { RouteInfo } from '../net/ioctl.js';
import {
  RTF_BLACKHOLE, RTF_BROADCAST, RTF_CONNECTED, RTF_DONE, RTF_DYNAMIC, RTF_GATEWAY, RTF_HOST, RTF_LLDATA, RTF_LOCAL,
  RTF_MASK, RTF_MODIFIED, RTF_PROTO1, RTF_PROTO2, RTF_REJECT, RTF_STATIC, RTF_UP,
} from '../net/route.js';
import { formatNetShort, parseInAddr } from '../net/wire/inaddr.js';

/**
 * The calls of `Sys` the tools make. An in-process `kernel.sys` and a
 * sysproxy `RemoteSys` both fit: every call returns a promise and rejects
 * with an `Errno`.
 */
export type SysLike = Pick<
  Sys,
  'socket' | 'close' | 'bind' | 'ioctl' | 'sendto' | 'recvfrom' | 'poll' | 'setsockopt' |
  'sysctl' | 'sysctlSet' | 'sysctlList' | 'ext' | 'connect' | 'getsockname'
>;

/** Milliseconds on some monotonic clock, and a way to wait on it. */
export interface ToolClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Where a tool writes, and the kernel it works on. */
export interface ToolIO {
  stdout(s: string): void;
  stderr(s: string): void;
  /** The kernel; absent: connect to RUMP_SERVER. */
  sys?: SysLike;
  /** Time for ping's intervals and round trips; absent: the real clock. */
  clock?: ToolClock;
  /** Aborted on SIGINT: a long-running tool (ping) stops and prints its summary. */
  signal?: AbortSignal;
}

export type ToolMain = (argv: string[], io: ToolIO) => Promise<number>;

/**
 * The host's monotonic clock. Tools run outside the kernel, like NetBSD's
 * ping reading CLOCK_MONOTONIC, so they may read it; tests pass the sim
 * host's clock instead.
 */
export const realClock: ToolClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms > 0 ? ms : 0)),
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

/**
 * The errno of an error: a kernel's Errno (here or from a rump_server)
 * carries NetBSD's number; a Node system error (fs, net) its code name.
 */
export function errnoOf(e: unknown): number | undefined {
  if (e === null || typeof e !== 'object') return undefined;
  const { errno, code } = e as { errno?: unknown; code?: unknown };
  if (typeof errno === 'number' && errno > 0) return errno;
  if (typeof code === 'string') return errnoByName(code);
  return undefined;
}

/** strerror(3) of a kernel error, or the message of anything else. */
export function errText(e: unknown): string {
  const n = errnoOf(e);
  if (n !== undefined) return strerror(n);
  return e instanceof Error ? e.message : String(e);
}

/**
 * A tool's way out with a message (NetBSD's errx/err): thrown anywhere in a
 * tool, printed as `prog: message` by `guard`, which returns `status`.
 */
export class ToolExit extends Error {
  constructor(
    message: string | null,
    readonly status = 1,
  ) {
    super(message ?? '');
  }
  readonly quiet = this.message === '';
}

/** errx(3): `prog: message`, exit 1. */
export function errx(message: string, status = 1): never {
  throw new ToolExit(message, status);
}

/** err(3): `prog: message: strerror(errno)`, exit 1. */
export function err(message: string, e: unknown, status = 1): never {
  throw new ToolExit(`${message}: ${errText(e)}`, status);
}

/** Leave with `status`, everything already printed. */
export function exit(status: number): never {
  throw new ToolExit(null, status);
}

/**
 * Run a tool body: a ToolExit prints its message and gives its status; any
 * other failure prints `prog: reason` and gives 1. Never a stack trace.
 */
export async function guard(prog: string, io: ToolIO, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof ToolExit) {
      if (!e.quiet) io.stderr(`${prog}: ${e.message}\n`);
      return e.status;
    }
    io.stderr(`${prog}: ${errText(e)}\n`);
    return 1;
  }
}

/* ------------------------------------------------------------------------ */
/* Reaching a kernel                                                        */

/**
 * Run `fn` on the tool's kernel: `io.sys`, or a connection to RUMP_SERVER
 * made for the call and closed after it. An unreachable server is
 * `prog: RUMP_SERVER url: reason` and status 1.
 */
export async function withSys(prog: string, io: ToolIO, fn: (sys: SysLike) => Promise<number>): Promise<number> {
  if (io.sys) return fn(io.sys);
  const spec = process.env['RUMP_SERVER'];
  let client;
  try {
    const { rumpClient } = await import('../sysproxy/client.js');
    client = await rumpClient();
  } catch (e) {
    if (spec === undefined || spec === '') io.stderr(`${prog}: RUMP_SERVER is not set\n`);
    else io.stderr(`${prog}: RUMP_SERVER ${spec}: ${errText(e)}\n`);
    return 1;
  }
  try {
    return await fn(client.sys);
  } finally {
    try {
      await client.close();
    } catch {
      // the answer is already printed; a lost goodbye changes nothing
    }
  }
}

/** An AF_INET datagram socket for interface ioctls, closed after `fn` (ifconfig's getsock). */
export async function withInetSocket<T>(sys: SysLike, fn: (fd: number) => Promise<T>): Promise<T> {
  let fd: number;
  try {
    fd = await sys.socket(AF_INET, SOCK_DGRAM, 0);
  } catch (e) {
    err('socket', e);
  }
  try {
    return await fn(fd);
  } finally {
    try {
      await sys.close(fd);
    } catch {
      // closing a socket we opened cannot fail in a way the user can act on
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Running as a program                                                     */

/** True when the module at `metaUrl` is the script node was started with (npm bin links resolved). */
export function isEntryPoint(metaUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(fileURLToPath(metaUrl)) === realpathSync(script);
  } catch {
    return false;
  }
}

/**
 * When `metaUrl` is the entry point: run `main` on the process's arguments
 * and streams, then exit with its status once stdout has drained.
 * `interruptible` turns SIGINT into `io.signal` (ping prints its summary).
 */
export function runIfMain(metaUrl: string, prog: string, main: ToolMain, opts: { interruptible?: boolean } = {}): void {
  if (!isEntryPoint(metaUrl)) return;
  const io: ToolIO = {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
  };
  if (opts.interruptible) {
    const ac = new AbortController();
    io.signal = ac.signal;
    process.on('SIGINT', () => {
      if (ac.signal.aborted) process.exit(130);
      ac.abort();
    });
  }
  const finish = (status: number): void => {
    process.stdout.write('', () => process.exit(status));
  };
  main(process.argv.slice(2), io).then(finish, (e: unknown) => {
    process.stderr.write(`${prog}: ${errText(e)}\n`);
    finish(1);
  });
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

export interface GetoptResult {
  /** Options in the order given, with their argument when they take one. */
  opts: Array<[string, string | undefined]>;
  /** The operands after the options. */
  rest: string[];
}

/**
 * getopt(3) as BSD does it: options before the first operand only (no
 * permutation), clustered (`-nq`) or not, an argument attached (`-c3`) or
 * next (`-c 3`), `--` ends them. `spec` is getopt's string ("c:nq"). On an
 * unknown option or a missing argument, prints BSD's message and returns null.
 */
export function getopt(prog: string, io: ToolIO, argv: readonly string[], spec: string): GetoptResult | null {
  const opts: Array<[string, string | undefined]> = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.length < 2 || a[0] !== '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const at = c === ':' ? -1 : spec.indexOf(c);
      if (at < 0) {
        io.stderr(`${prog}: unknown option -- ${c}\n`);
        return null;
      }
      if (spec[at + 1] === ':') {
        if (j + 1 < a.length) opts.push([c, a.slice(j + 1)]);
        else if (i + 1 < argv.length) opts.push([c, argv[++i]!]);
        else {
          io.stderr(`${prog}: option requires an argument -- ${c}\n`);
          return null;
        }
        break;
      }
      opts.push([c, undefined]);
    }
  }
  return { opts, rest: argv.slice(i) };
}

/**
 * strtol(s, &end, 0) with `*end == '\0'` required: decimal, 0x hex or
 * leading-0 octal, optional sign. Null when the whole string is not one.
 */
export function parseCInt(s: string): number | null {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return null;
  const body = m[2]!;
  let v: number;
  if (/^0[xX]/.test(body)) v = parseInt(body.slice(2), 16);
  else if (body.length > 1 && body[0] === '0') v = parseInt(body.slice(1), 8);
  else v = parseInt(body, 10);
  if (!Number.isSafeInteger(v)) return null;
  return m[1] === '-' ? -v : v;
}

/** A decimal integer and nothing else (strtol base 10 with a full match), or null. */
export function parseDecimal(s: string): number | null {
  if (!/^[+-]?[0-9]+$/.test(s)) return null;
  const v = Number(s);
  return Number.isSafeInteger(v) ? v : null;
}

/** strtod with a full match: "1", "0.01", ".5", "1e-2"; null otherwise. */
export function parseCDouble(s: string): number | null {
  if (!/^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) return null;
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

/**
 * A netmask as ifconfig and route take it: a dotted quad or C hex
 * ("0xffffff00"). Returns the mask as u32, or null.
 */
export function parseMask(s: string): number | null {
  const hex = /^0[xX]([0-9a-fA-F]{1,8})$/.exec(s);
  if (hex) return parseInt(hex[1]!, 16) >>> 0;
  return parseInAddr(s);
}

/* ------------------------------------------------------------------------ */
/* Formatting                                                               */

/** printf("%-*.*s"): left-justified in `w`, cut to `w` when `cut`. */
export function padRight(s: string, w: number, cut = true): string {
  if (s.length > w) return cut ? s.slice(0, w) : s;
  return s + ' '.repeat(w - s.length);
}

/** printf("%*s"): right-justified in `w` (never cut). */
export function padLeft(s: string | number, w: number): string {
  const t = String(s);
  return t.length >= w ? t : ' '.repeat(w - t.length) + t;
}

/** "s" unless exactly one, as BSD's plural(). */
export function plural(n: number): string {
  return n === 1 ? '' : 's';
}

/**
 * NetBSD's snprintb(3) for a 16-bit style flag word: "0x8843<UP,BROADCAST>",
 * "0x0" when no bit is set.
 */
export function formatBits(value: number, names: ReadonlyArray<readonly [number, string]>): string {
  const set = names.filter(([bit]) => (value & bit) !== 0).map(([, name]) => name);
  return `0x${(value >>> 0).toString(16)}${set.length ? `<${set.join(',')}>` : ''}`;
}

/** route(8)'s bprintf: "<UP,GATEWAY,DONE>", "none" for no flags. */
export function formatFlagNames(value: number, names: ReadonlyArray<readonly [number, string]>): string {
  if (value === 0) return 'none';
  const set = names.filter(([bit]) => (value & bit) !== 0).map(([, name]) => name);
  return set.length ? `<${set.join(',')}>` : '';
}

/** Flag letters in the order NetBSD's sbin/route/rtutil.c prints them. */
const ROUTE_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [RTF_UP, 'U'], [RTF_GATEWAY, 'G'], [RTF_HOST, 'H'], [RTF_REJECT, 'R'], [RTF_BLACKHOLE, 'B'],
  [RTF_DYNAMIC, 'D'], [RTF_MODIFIED, 'M'], [RTF_DONE, 'd'], [RTF_MASK, 'm'], [RTF_CONNECTED, 'C'],
  [RTF_LLDATA, 'L'], [RTF_STATIC, 'S'], [RTF_PROTO1, '1'], [RTF_PROTO2, '2'], [RTF_LOCAL, 'l'],
  [RTF_BROADCAST, 'b'],
];

/**
 * The flags `route show` prints (NetBSD's show.c `interesting`): not S, B,
 * D or M, which `netstat -r` (every flag) does show.
 */
export const ROUTE_SHOW_FLAGS = RTF_UP | RTF_GATEWAY | RTF_HOST | RTF_REJECT | RTF_LLDATA | RTF_LOCAL | RTF_BROADCAST;

/** The flag letters of a route ("UGS", "UHl"). */
export function routeFlagLetters(flags: number): string {
  let s = '';
  for (const [bit, letter] of ROUTE_LETTERS) if (flags & bit) s += letter;
  return s;
}

/** A route destination as an address number: 'default' and '0.0.0.0' are 0. */
export function routeDstNumber(dst: string): number {
  if (dst === 'default') return 0;
  return parseInAddr(dst) ?? 0;
}

/** A route's destination column: "default", "192.0.2/24", "192.0.2.1". */
export function routeDestination(r: RouteInfo): string {
  return formatNetShort(routeDstNumber(r.dst), r.prefixLen, (r.flags & RTF_HOST) !== 0 || r.prefixLen === 32);
}

/** Routes in the order netstat prints them: by destination, then prefix length. */
export function sortRoutes(routes: readonly RouteInfo[]): RouteInfo[] {
  return [...routes].sort((a, b) => {
    const da = routeDstNumber(a.dst);
    const db = routeDstNumber(b.dst);
    return da !== db ? (da < db ? -1 : 1) : a.prefixLen - b.prefixLen;
  });
}

/**
 * The IPv4 routing table as NetBSD's `route -n show` and `netstat -rn`
 * print it (sbin/route/rtutil.c): fixed columns, Refs and Use as "-",
 * Mtu "-" when the route uses the interface's. `interesting` masks the
 * flags shown (ROUTE_SHOW_FLAGS for route show, every flag for netstat).
 *
 *   Routing tables
 *
 *   Internet:
 *   Destination        Gateway            Flags    Refs      Use    Mtu Interface
 *   default            192.0.2.254        UG          -        -      -  shmif0
 */
export function formatRouteTable(routes: readonly RouteInfo[], interesting = ~0): string {
  let out = 'Routing tables\n\nInternet:\n';
  out += `${padRight('Destination', 18)} ${padRight('Gateway', 18)} ${padRight('Flags', 6)} ` +
    `${padLeft('Refs', 6)} ${padLeft('Use', 8)} ${padLeft('Mtu', 6)} Interface\n`;
  for (const r of sortRoutes(routes)) {
    out += `${padRight(routeDestination(r), 18)} ${padRight(r.gateway, 18)} ${padRight(routeFlagLetters(r.flags & interesting), 6)} ` +
      `${padLeft('-', 6)} ${padLeft('-', 8)} ${padLeft(r.mtu > 0 ? r.mtu : '-', 6)}  ${r.ifname}\n`;
  }
  return out;
}
