#!/usr/bin/env node
/*
 * rump.route: NetBSD's route(8) against a rump kernel.
 *
 *   rump.route [-dfnqstv] add|delete|change|get [modifiers] destination [gateway [netmask]]
 *   rump.route [-nv] show [-inet]
 *   rump.route [-qv] flush | flushall
 *   rump.route [-n] monitor [-c count]     (route_monitor.ts)
 *
 * Destinations: `default`, `192.0.2.1` (a host), `192.0.2/24`,
 * `10.0.0.0/8`, `10` (classful), with -host or -net to force the kind.
 * Modifiers: -netmask m, -prefixlen n, -interface (the gateway is one of our
 * interfaces or its address: a directly connected route), -ifp ifname,
 * -reject, -blackhole, -static/-nostatic, -mtu n, -gateway g, -dst d.
 *
 * Messages go to the kernel as the routing socket's RTM_ADD/DELETE/CHANGE/GET
 * (`sys.ext('rtmsg', ...)`, net/ioctl.ts RtMsg); `show` and `flush` read the
 * table with `sys.ext('rtdump')`. Output and errors are NetBSD's:
 *
 *   add net default: gateway 192.0.2.254
 *   rump.route: writing to routing socket: No such process      (stderr)
 *   delete net 10/8: gateway 192.0.2.254: not in table
 */
import { EBUSY, ENOBUFS, ESRCH, strerror } from '../kern/errno.js';
import type { IfInfo, RouteInfo, RtMsg } from '../net/ioctl.js';
import type { Rt6Msg } from '../net/inet6/route6_ops.js';
import { formatIn6Addr, parseIn6Addr } from '../net/wire/in6addr.js';
import {
  RTF_BLACKHOLE, RTF_CONNECTED, RTF_DONE, RTF_GATEWAY, RTF_HOST, RTF_NAMES, RTF_PROTO1, RTF_PROTO2, RTF_REJECT, RTF_STATIC,
} from '../net/route.js';
import { formatInAddr, maskToPrefix, parseInAddr, parseInNet, prefixToMask } from '../net/wire/inaddr.js';
import {
  ROUTE_SHOW_FLAGS, errText, errnoOf, errx, exit, formatBits, formatRouteTable, getopt, guard, padLeft, padRight, parseDecimal, parseMask,
  routeDestination, runIfMain, withInetSocket, withSys, type SysLike, type ToolIO,
} from './common.js';

import { routeMonitor } from './route_monitor.js';

const PROG = 'rump.route';
const OPTS = 'dfLnqSsTtv';

function usage(io: ToolIO, botched?: string): never {
  if (botched !== undefined) io.stderr(`${PROG}: botched keyword: ${botched}\n`);
  io.stderr(`Usage: ${PROG} [-${OPTS}] cmd [[-<qualifers>] args]\n`);
  exit(1);
}

/** route(8)'s wording for the routing socket's errors. */
function routeStrerror(e: unknown): string {
  const n = errnoOf(e);
  if (n === ESRCH) return 'not in table';
  if (n === EBUSY) return 'entry in use';
  if (n === ENOBUFS) return 'routing table overflow';
  return n !== undefined ? strerror(n) : e instanceof Error ? e.message : String(e);
}

interface Flags {
  quiet: boolean;
  debugOnly: boolean;
  short: boolean;
}

/** Modifiers that take a metric value; only -mtu has an effect here. */
const METRICS = new Set(['mtu', 'hopcount', 'expire', 'recvpipe', 'sendpipe', 'ssthresh', 'rtt', 'rttvar']);

interface NewRoute {
  cmd: 'add' | 'delete' | 'change' | 'get';
  /** 4, or 6 with -inet6. */
  family: 4 | 6;
  /** IPv6: the destination as text ('default' or an address), already masked. */
  dst6: string;
  ifa: string | null;
  /** -link: the gateway is an interface (a link-level address), not an IP address. */
  link: boolean;
  /** The destination and gateway as typed, for the report line. */
  destText: string;
  gateText: string;
  dst: number;
  prefixLen: number;
  /** A prefix was given (for get: look up exactly this network). */
  explicitPrefix: boolean;
  ishost: boolean;
  gateway: string | null;
  ifp: string | null;
  iface: boolean;
  flags: number;
  mtu: number | null;
}

/** NetBSD's newroute() argument loop. */
function parseNewRoute(cmd: NewRoute['cmd'], args: string[], io: ToolIO): NewRoute {
  let flags = RTF_STATIC;
  let forcehost = false;
  let forcenet = false;
  let iface = false;
  let destText = '';
  let gateText = '';
  let netmaskText: string | null = null;
  let prefixlen: number | null = null;
  let ifp: string | null = null;
  let ifa: string | null = null;
  let mtu: number | null = null;
  let family: 4 | 6 = 4;
  let link = false;
  const value = (i: number, key: string): string => {
    if (i + 1 >= args.length) usage(io, key);
    return args[i + 1]!;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('-') && a.length > 1) {
      const key = a.slice(1);
      switch (key) {
        case 'inet': family = 4; break;
        case 'inet6': family = 6; break;
        // -link names the gateway as an interface; -cloning (NetBSD 7) and
        // -connected mark an on-link route, which is what such a route is.
        case 'link': link = true; break;
        case 'cloning':
        case 'connected': flags |= RTF_CONNECTED; break;
        case 'llinfo':
        case 'xresolve':
        case 'noxresolve': break;
        case 'host': forcehost = true; break;
        case 'net': forcenet = true; break;
        case 'interface':
        case 'iface': iface = true; break;
        case 'reject': flags |= RTF_REJECT; break;
        case 'noreject': flags &= ~RTF_REJECT; break;
        case 'blackhole': flags |= RTF_BLACKHOLE; break;
        case 'noblackhole': flags &= ~RTF_BLACKHOLE; break;
        case 'static': flags |= RTF_STATIC; break;
        case 'nostatic': flags &= ~RTF_STATIC; break;
        case 'proto1': flags |= RTF_PROTO1; break;
        case 'proto2': flags |= RTF_PROTO2; break;
        case 'lock':
        case 'lockrest': break;
        case 'netmask': netmaskText = value(i++, key); forcenet = true; break;
        case 'prefixlen': {
          const t = value(i++, key);
          const n = parseDecimal(t);
          if (n === null || n < 0 || n > 128) errx(`${t}: bad value`);
          prefixlen = n;
          break;
        }
        case 'gateway': gateText = value(i++, key); break;
        case 'dst': destText = value(i++, key); break;
        case 'ifp': ifp = value(i++, key); break;
        case 'ifa': ifa = value(i++, key); break;
        default:
          if (!METRICS.has(key)) usage(io, key);
          {
            const t = value(i++, key);
            if (key === 'mtu') {
              const n = parseDecimal(t);
              if (n === null || n < 0) errx(`${t}: bad value`);
              mtu = n;
            }
          }
      }
    } else if (!destText) {
      destText = a;
    } else if (!gateText) {
      gateText = a;
    } else if (netmaskText === null) {
      netmaskText = a;
    } else {
      usage(io);
    }
  }
  if (!destText) errx('missing destination specification');
  if (cmd === 'add' && !gateText) errx('missing gateway specification');
  if (forcehost && forcenet) errx('-host and -net conflict');
  if (link || iface) iface = true;
  if (family === 6 || destText.includes(':')) {
    return parseNewRoute6(cmd, { destText, gateText, forcehost, forcenet, prefixlen, flags, ifp, ifa, iface, link, mtu });
  }
  if (prefixlen !== null && prefixlen > 32) errx(`${prefixlen}: bad value`);

  let dst: number;
  let plen: number;
  let ishost: boolean;
  let explicitPrefix = destText === 'default' || destText.includes('/');
  if (forcehost) {
    const h = parseInAddr(destText);
    if (h === null) errx(`${destText}: bad value`);
    dst = h;
    plen = 32;
    ishost = true;
  } else {
    const n = parseInNet(destText);
    if (n === null) errx(`${destText}: bad value`);
    dst = n.addr;
    plen = n.prefixLen;
    ishost = n.host && !forcenet;
    if (forcenet && n.host && !destText.includes('/')) {
      // inet_makenetandmask() for a full address given as -net: the mask
      // ends after the last non-zero octet (-net 10.0.1.0 is 10.0.1/24).
      plen = (dst & 0xffffff) === 0 ? 8 : (dst & 0xffff) === 0 ? 16 : (dst & 0xff) === 0 ? 24 : 32;
    }
  }
  if (netmaskText !== null) {
    const m = parseMask(netmaskText);
    const l = m === null ? null : maskToPrefix(m);
    if (l === null) errx(`${netmaskText}: bad value`);
    plen = l;
    ishost = false;
    explicitPrefix = true;
  }
  if (prefixlen !== null) {
    plen = prefixlen;
    ishost = forcenet ? false : prefixlen === 32 || forcehost;
    explicitPrefix = true;
  }
  if (forcenet) explicitPrefix = true;
  if (ishost) plen = 32;
  dst = (dst & prefixToMask(plen)) >>> 0;
  if (ishost) flags |= RTF_HOST;
  return {
    cmd, family: 4, dst6: '', ifa, link, destText: destText.split('/')[0]!, gateText, dst, prefixLen: plen, explicitPrefix, ishost,
    gateway: gateText || null, ifp, iface, flags, mtu,
  };
}

interface Parsed6 {
  destText: string;
  gateText: string;
  forcehost: boolean;
  forcenet: boolean;
  prefixlen: number | null;
  flags: number;
  ifp: string | null;
  ifa: string | null;
  iface: boolean;
  link: boolean;
  mtu: number | null;
}

/** newroute() for -inet6: "default", ADDR, ADDR/LEN; -net without a length is /64, as route(8) has it. */
function parseNewRoute6(cmd: NewRoute['cmd'], p: Parsed6): NewRoute {
  const slash = p.destText.indexOf('/');
  const text = slash < 0 ? p.destText : p.destText.slice(0, slash);
  let plen: number;
  let explicitPrefix = true;
  let a: Uint8Array;
  if (text === 'default') {
    a = new Uint8Array(16);
    plen = 0;
  } else {
    const parsed = parseIn6Addr(text.replace(/%.*$/, ''));
    if (parsed === null) errx(`${p.destText}: bad value`);
    a = parsed;
    if (slash >= 0) {
      const n = parseDecimal(p.destText.slice(slash + 1));
      if (n === null || n > 128) errx(`${p.destText}: bad value`);
      plen = n;
    } else if (p.prefixlen !== null) plen = p.prefixlen;
    else if (p.forcenet) plen = 64;
    else {
      plen = 128;
      explicitPrefix = false;
    }
  }
  if (p.forcehost) plen = 128;
  if (p.prefixlen !== null && !p.forcehost) plen = p.prefixlen;
  for (let i = 0; i < 16; i++) {
    const bits = plen - 8 * i;
    if (bits <= 0) a[i] = 0;
    else if (bits < 8) a[i]! &= (0xff00 >> bits) & 0xff;
  }
  const ishost = plen === 128 && !p.forcenet;
  let flags = p.flags;
  if (ishost) flags |= RTF_HOST;
  return {
    cmd, family: 6, dst6: plen === 0 ? 'default' : formatIn6Addr(a), ifa: p.ifa, link: p.link, destText: text, gateText: p.gateText,
    dst: 0, prefixLen: plen, explicitPrefix, ishost, gateway: p.gateText || null, ifp: p.ifp, iface: p.iface, flags, mtu: p.mtu,
  };
}

/** -interface's gateway: one of our interfaces, by name or by one of its addresses. */
async function interfaceOf(sys: SysLike, token: string): Promise<string> {
  const list = await withInetSocket(sys, async (fd) => (await sys.ioctl(fd, 'SIOCGIFCONF')) as IfInfo[]);
  const byName = list.find((i) => i.name === token);
  if (byName) return byName.name;
  const addr = parseInAddr(token);
  const byAddr = addr === null ? undefined : list.find((i) => i.inet.some((ia) => parseInAddr(ia.addr) === addr));
  if (!byAddr) errx(`${token}: bad value`);
  return byAddr.name;
}

/** RTM_GET's answer, as route(8)'s print_getmsg() prints it. */
function formatGet(routeTo: string, r: RouteInfo, family: 4 | 6): string {
  let out = `   route to: ${routeTo}\n`;
  if (family === 6) {
    out += `destination: ${r.dst === 'default' ? '::' : r.dst}\n`;
    if (!(r.flags & RTF_HOST) && r.prefixLen < 128) out += `       mask: ${r.prefixLen === 0 ? 'default' : mask6Text(r.prefixLen)}\n`;
  } else {
    const dstNum = r.dst === 'default' ? 0 : parseInAddr(r.dst) ?? 0;
    const isDefault = dstNum === 0 && r.prefixLen === 0;
    out += `destination: ${isDefault ? 'default' : formatInAddr(dstNum)}\n`;
    if (!(r.flags & RTF_HOST) && r.prefixLen < 32) {
      out += `       mask: ${r.prefixLen === 0 ? 'default' : formatInAddr(prefixToMask(r.prefixLen))}\n`;
    }
  }
  if (r.flags & RTF_GATEWAY) out += `    gateway: ${r.gateway}\n`;
  if (r.ifaddr) out += ` local addr: ${r.ifaddr}\n`;
  if (r.ifname) out += `  interface: ${r.ifname}\n`;
  // RTF_DONE marks the reply message as processed, as the kernel's does.
  // NetBSD 8 prints the flags as a number, then their names (snprintb).
  out += `      flags: ${formatBits(r.flags | RTF_DONE, RTF_NAMES)}\n`;
  out += ' recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire\n';
  const metrics = [0, 0, 0, 0, 0, 0, r.mtu, 0];
  out += metrics.map((v, i) => padLeft(v, 8) + (i === metrics.length - 1 ? ' \n' : '  ')).join('');
  return out;
}

/** An IPv6 prefix length as a mask: 64 is ffff:ffff:ffff:ffff::. */
function mask6Text(plen: number): string {
  const m = new Uint8Array(16);
  for (let i = 0; i < 16; i++) m[i] = plen >= 8 * (i + 1) ? 0xff : plen > 8 * i ? (0xff00 >> (plen - 8 * i)) & 0xff : 0;
  return formatIn6Addr(m);
}

/** The same message for rt6msg: addresses as IPv6 text, a gateway that is an interface as its name. */
async function newRoute6(sys: SysLike, r: NewRoute, f: Flags, io: ToolIO): Promise<number> {
  const msg: Rt6Msg = { type: r.cmd, dst: r.dst6 };
  if (r.cmd !== 'get' || r.explicitPrefix) msg.prefixLen = r.prefixLen;
  if (r.cmd !== 'get') msg.flags = r.flags;
  if (r.mtu !== null) msg.mtu = r.mtu;
  if (r.gateway !== null) {
    if (r.iface) msg.ifname = await interfaceOf(sys, r.gateway);
    else {
      const g = parseIn6Addr(r.gateway.replace(/%.*$/, ''));
      if (g === null) errx(`${r.gateway}: bad value`);
      msg.gateway = formatIn6Addr(g);
    }
  }
  if (r.ifp !== null) msg.ifname = r.ifp;
  if (f.debugOnly) return 0;
  return report(io, r, f, () => sys.ext('rt6msg', msg));
}

/** Send one message and say what happened as route(8) does. */
async function report(io: ToolIO, r: NewRoute, f: Flags, send: () => Promise<unknown>): Promise<number> {
  let reply: unknown;
  let failure: unknown = null;
  try {
    reply = await send();
  } catch (e) {
    failure = e;
    io.stderr(`${PROG}: writing to routing socket: ${errText(e)}\n`);
  }
  if (r.cmd === 'get') {
    if (failure !== null) return 1;
    const info = reply as RouteInfo;
    if (f.short) {
      if (!(info.flags & RTF_GATEWAY)) return 1;
      io.stdout(`${info.gateway}\n`);
      return 0;
    }
    const to = r.family === 6 ? (r.dst6 === 'default' ? 'default' : r.destText) : r.dst === 0 && r.prefixLen === 0 ? 'default' : formatInAddr(r.dst);
    io.stdout(formatGet(to, info, r.family));
    return 0;
  }
  if (!f.quiet) {
    let line = `${r.cmd} ${r.ishost ? 'host' : 'net'} ${r.destText}`;
    if (r.gateText) line += `: gateway ${r.gateText}`;
    if (failure !== null) line += `: ${routeStrerror(failure)}`;
    io.stdout(line + '\n');
  }
  return failure === null ? 0 : 1;
}

async function newRoute(sys: SysLike, r: NewRoute, f: Flags, io: ToolIO): Promise<number> {
  if (r.family === 6) return newRoute6(sys, r, f, io);
  const msg: RtMsg = { type: r.cmd, dst: r.dst === 0 && r.prefixLen === 0 ? 'default' : formatInAddr(r.dst) };
  if (r.ifa !== null) msg.ifa = r.ifa;
  if (r.cmd !== 'get' || r.explicitPrefix) msg.prefixLen = r.prefixLen;
  if (r.cmd !== 'get') msg.flags = r.flags;
  if (r.mtu !== null) msg.mtu = r.mtu;
  if (r.gateway !== null) {
    if (r.iface) msg.ifname = await interfaceOf(sys, r.gateway);
    else {
      const g = parseInAddr(r.gateway);
      if (g === null) errx(`${r.gateway}: bad value`);
      msg.gateway = formatInAddr(g);
    }
  }
  if (r.ifp !== null) msg.ifname = r.ifp;
  if (f.debugOnly) return 0;
  return report(io, r, f, () => sys.ext('rtmsg', msg));
}

/** `flush`: delete every gateway or static route (`flushall`: every route). */
async function flush(sys: SysLike, all: boolean, f: Flags, io: ToolIO): Promise<number> {
  const routes = await sys.ext('rtdump');
  for (const r of routes) {
    if (!all && !(r.flags & (RTF_GATEWAY | RTF_STATIC))) continue;
    if (f.debugOnly) continue;
    const dst = r.prefixLen === 0 ? 'default' : r.dst;
    try {
      await sys.ext('rtmsg', { type: 'delete', dst, prefixLen: r.prefixLen } satisfies RtMsg);
    } catch (e) {
      io.stderr(`${PROG}: writing to routing socket: ${routeStrerror(e)}\n`);
      return 1;
    }
    if (!f.quiet) io.stdout(`${padRight(routeDestination(r), 20)} ${padRight(r.gateway, 20)} done\n`);
  }
  return 0;
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    if (argv.length < 1) usage(io);
    const g = getopt(PROG, io, argv, OPTS);
    if (!g) usage(io);
    const has = (c: string): boolean => g.opts.some(([o]) => o === c);
    const f: Flags = { quiet: has('q'), debugOnly: has('d') || has('t'), short: has('s') };
    const doflush = has('f');
    const [cmd, ...args] = g.rest;
    const word = cmd ?? (doflush ? 'flush' : undefined);
    if (word === undefined) usage(io);
    switch (word) {
      case 'add':
      case 'delete':
      case 'change':
      case 'get': {
        const r = parseNewRoute(word, args, io);
        return withSys(PROG, io, async (sys) => {
          if (doflush) await flush(sys, false, f, io);
          return newRoute(sys, r, f, io);
        });
      }
      case 'show':
        for (const a of args) if (a !== '-inet') usage(io, a.startsWith('-') ? a.slice(1) : a);
        return withSys(PROG, io, async (sys) => {
          io.stdout(formatRouteTable(await sys.ext('rtdump'), ROUTE_SHOW_FLAGS));
          return 0;
        });
      case 'monitor': {
        // route monitor [-c count]: count as atoi(3) reads it.
        if (args.length > 0 && (args.length !== 2 || args[0] !== '-c')) usage(io, args[0]);
        const count = args.length === 2 ? Number.parseInt(args[1]!, 10) || 0 : 0;
        if (f.debugOnly) return 0;
        return withSys(PROG, io, (sys) => routeMonitor(sys, count, io));
      }
      case 'flush':
      case 'flushall':
        for (const a of args) if (a !== '-inet') usage(io, a.startsWith('-') ? a.slice(1) : a);
        return withSys(PROG, io, (sys) => flush(sys, word === 'flushall', f, io));
      default:
        usage(io, word);
    }
  });
}

runIfMain(import.meta.url, PROG, main);
