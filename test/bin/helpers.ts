/*
 * Helpers for the tool tests: capture a tool's output, stand in for a
 * kernel with canned answers, and the state of the NetBSD kernels that
 * ../shared/reference/netbsd/netbsd-tools.txt was recorded against.
 */
import { readFileSync } from 'node:fs';

import { Errno, ENOSYS } from '../../kern/errno.js';
import type { IfInfo, RouteInfo } from '../../net/ioctl.js';
import {
  IFF_BROADCAST, IFF_LOOPBACK, IFF_MULTICAST, IFF_RUNNING, IFF_SIMPLEX, IFF_UP,
} from '../../net/interface.js';
import { RTF_GATEWAY, RTF_HOST, RTF_LOCAL, RTF_STATIC, RTF_UP } from '../../net/route.js';
import type { SysLike, ToolIO, ToolMain } from '../../bin/common.js';

export interface Captured {
  io: ToolIO;
  out(): string;
  err(): string;
}

/** A ToolIO that collects stdout and stderr. */
export function capture(sys?: SysLike, extra: Partial<ToolIO> = {}): Captured {
  let out = '';
  let err = '';
  const io: ToolIO = {
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    ...extra,
  };
  if (sys) io.sys = sys;
  return { io, out: () => out, err: () => err };
}

/** Run a tool and collect what it printed and its status. */
export async function run(main: ToolMain, argv: string[], sys?: SysLike, extra: Partial<ToolIO> = {}): Promise<{ status: number; out: string; err: string }> {
  const c = capture(sys, extra);
  const status = await main(argv, c.io);
  return { status, out: c.out(), err: c.err() };
}

/** A kernel that answers only what the test gives it; every other call fails with ENOSYS. */
export function fakeSys(calls: Partial<Record<keyof SysLike, (...args: never[]) => unknown>>): SysLike {
  const handler: ProxyHandler<object> = {
    get(_t, name: string) {
      const fn = (calls as Record<string, ((...args: unknown[]) => unknown) | undefined>)[name];
      return async (...args: unknown[]) => {
        if (!fn) throw new Errno(ENOSYS, name);
        return fn(...args);
      };
    },
  };
  return new Proxy({}, handler) as SysLike;
}

/** A recorded ioctl. */
export interface IoctlCall {
  cmd: string;
  arg: unknown;
}

const zeroStats = (): IfInfo['stats'] => ({
  ipackets: 0, ierrors: 0, opackets: 0, oerrors: 0, collisions: 0,
  ibytes: 0, obytes: 0, iqdrops: 0, imcasts: 0, omcasts: 0, noproto: 0,
});

const SHMIF_UP = IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_SIMPLEX | IFF_MULTICAST;

/** lo0, shmif0 on bus-small and shmif1 on bus-wrapped, as in netbsd-tools.txt. */
export function netbsdInterfaces(): IfInfo[] {
  return [
    {
      name: 'lo0', index: 1, flags: IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_MULTICAST, mtu: 33624,
      lladdr: null, linkstr: null,
      inet: [{ addr: '127.0.0.1', mask: '255.0.0.0', prefixLen: 8, broadaddr: null }],
      stats: zeroStats(),
    },
    {
      name: 'shmif0', index: 2, flags: SHMIF_UP, mtu: 1500, lladdr: 'b2:a0:49:01:90:32', linkstr: 'bus-small',
      inet: [{ addr: '192.0.2.1', mask: '255.255.255.0', prefixLen: 24, broadaddr: '192.0.2.255' }],
      stats: zeroStats(),
    },
    {
      name: 'shmif1', index: 3, flags: SHMIF_UP, mtu: 1500, lladdr: 'b2:a0:b8:65:15:51', linkstr: 'bus-wrapped',
      inet: [{ addr: '198.51.100.1', mask: '255.255.255.0', prefixLen: 24, broadaddr: '198.51.100.255' }],
      stats: zeroStats(),
    },
  ];
}

/** The routing table of netbsd-tools.txt's first `route -n show`. */
export function netbsdRoutes(): RouteInfo[] {
  const r = (dst: string, prefixLen: number, gateway: string, flags: number, mtu: number, ifname: string, ifaddr: string | null): RouteInfo => ({
    dst, prefixLen, gateway, flags, refs: 0, use: 0, mtu, ifname, ifaddr,
  });
  return [
    r('192.0.2.1', 32, 'link#2', RTF_UP | RTF_HOST | RTF_LOCAL, 0, 'lo0', '192.0.2.1'),
    r('127.0.0.1', 32, 'lo0', RTF_UP | RTF_HOST | RTF_LOCAL, 33624, 'lo0', '127.0.0.1'),
    r('198.51.100.0', 24, 'link#3', RTF_UP, 0, 'shmif1', '198.51.100.1'),
    r('192.0.2.0', 24, 'link#2', RTF_UP, 0, 'shmif0', '192.0.2.1'),
    r('198.51.100.1', 32, 'link#3', RTF_UP | RTF_HOST | RTF_LOCAL, 0, 'lo0', '198.51.100.1'),
  ];
}

/** The default route `route add default 192.0.2.254` makes. */
export function netbsdDefaultRoute(): RouteInfo {
  return {
    dst: '0.0.0.0', prefixLen: 0, gateway: '192.0.2.254', flags: RTF_UP | RTF_GATEWAY | RTF_STATIC,
    refs: 0, use: 0, mtu: 0, ifname: 'shmif0', ifaddr: '192.0.2.1',
  };
}

/**
 * What NetBSD printed for `command` in netbsd-tools.txt (stdout and stderr
 * as recorded, together) and its exit status when the transcript shows it.
 * `nth` picks a later run of the same command.
 */
export function netbsdTranscript(command: string, nth = 0): { text: string; status: number | undefined } {
  const lines = readFileSync(new URL('../fixtures/netbsd/netbsd-tools.txt', import.meta.url), 'utf8').split('\n');
  let seen = 0;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== `$ ${command}`) continue;
    if (seen++ < nth) continue;
    let text = '';
    let status: number | undefined;
    for (let j = i + 1; j < lines.length; j++) {
      const l = lines[j]!;
      if (l.startsWith('$ ')) break;
      const m = /^exit (\d+)$/.exec(l);
      if (m) {
        status = Number(m[1]);
        break;
      }
      text += `${l}\n`;
    }
    return { text: text.replace(/\n+$/, '\n'), status };
  }
  throw new Error(`no "${command}" in the transcript`);
}

/**
 * The transcript's ifconfig lines (NetBSD 7.99: "inet A netmask 0x..
 * broadcast B", "inet alias A ...") as NetBSD 8 prints them, which rumpnet
 * follows (NetBSD 8's tests/net match "inet A/len"): "inet A/len broadcast B flags 0x0".
 */
export function netbsd8Ifconfig(text: string): string {
  return text.replace(/\tinet (?:alias )?(\S+) netmask 0x([0-9a-f]{8})( broadcast \S+)?/g, (_m, a: string, mask: string, b?: string) => {
    const len = [...parseInt(mask, 16).toString(2)].filter((c) => c === '1').length;
    return `\tinet ${a}/${len}${b ?? ''} flags 0x0`;
  });
}
