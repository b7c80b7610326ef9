#!/usr/bin/env node
/*
 * rump.brconfig -a
 * rump.brconfig bridge
 * rump.brconfig bridge command [args ...]
 *
 * NetBSD's brconfig(8) on the rump kernel at RUMP_SERVER (NetBSD runs its
 * own brconfig under the hijack; this one talks to the kernel directly):
 * show or change a bridge(4) interface. Commands run in order, as NetBSD's:
 *
 *   add IF / delete IF          a member joins / leaves
 *   up / down                   the bridge's IFF_UP (set once, after the commands)
 *   addr                        the address cache
 *   maxaddr N / timeout S       cache size / seconds a learned address lives
 *   static IF MAC / deladdr MAC a static entry / remove an entry
 *   flush / flushall            the learned entries / every entry
 *   learn IF / -learn IF        learn source addresses on IF
 *   discover IF / -discover IF  flood unknown destinations to IF
 *
 * The spanning tree commands (stp, priority, ...) are refused: this bridge
 * runs no STP. Without a command it prints NetBSD's listing: flags, the
 * configuration, the members and the address cache with seconds left.
 * A bad command is a usage message and exit 1; a refused one `rump.brconfig:
 * add shmif9: No such file or directory`, exit 1.
 */
import { IFF_NAMES, IFF_UP } from '../net/interface.js';
import {
  IFBAF_NAMES, IFBAF_STATIC, IFBF_FLUSHALL, IFBF_FLUSHDYN, IFBIF_DISCOVER, IFBIF_LEARNING, IFBIF_NAMES,
  type BridgeIfInfo, type BridgeParams, type BridgeRtInfo,
} from '../net/if/if_bridge.js';
import { parseMac } from '../net/wire/inaddr.js';
import { err, errx, exit, getopt, guard, runIfMain, withInetSocket, withSys, type SysLike, type ToolIO } from './common.js';

const PROG = 'rump.brconfig';
const USAGE_LINES = [
  '-a', '<bridge>', '<bridge> up|down', '<bridge> addr', '<bridge> add <interface>', '<bridge> delete <interface>',
  '<bridge> maxaddr <size>', '<bridge> timeout <time>', '<bridge> static <interface> <address>', '<bridge> deladdr <address>',
  '<bridge> flush', '<bridge> flushall', '<bridge> discover|-discover <interface>', '<bridge> learn|-learn <interface>',
];

function usage(io: ToolIO): never {
  io.stderr(USAGE_LINES.map((l, i) => `${i === 0 ? 'usage:' : '      '} ${PROG} ${l}\n`).join(''));
  exit(1);
}

/** Commands and how many arguments each takes (brconfig's command_table). */
const ARGC: Record<string, number> = {
  add: 1, delete: 1, up: 0, down: 0, discover: 1, '-discover': 1, learn: 1, '-learn': 1, flush: 0, flushall: 0,
  static: 2, deladdr: 1, addr: 0, maxaddr: 1, timeout: 1,
};
const STP_COMMANDS = new Set(['stp', '-stp', 'hellotime', 'fwddelay', 'maxage', 'priority', 'ifpriority']);

function isBridge(name: string): boolean {
  return /^bridge[0-9]/.test(name);
}

/** brconfig's printb: `flags=3<LEARNING,DISCOVER>` (hexadecimal without 0x; `<>` when none is set). */
function printb(label: string, v: number, names: ReadonlyArray<readonly [number, string]>): string {
  const set = names.filter(([bit]) => (v & bit) !== 0).map(([, n]) => n);
  return `${label}=${(v >>> 0).toString(16)}<${set.join(',')}>`;
}

/** strtoul(…, 0) as get_val takes it, within `max`. */
function getVal(s: string, max: number): number | null {
  const v = /^0[xX][0-9a-fA-F]+$/.test(s) ? parseInt(s, 16) : /^0[0-7]*$/.test(s) ? parseInt(s, 8) : /^[1-9][0-9]*$/.test(s) ? Number(s) : NaN;
  return Number.isSafeInteger(v) && v >= 0 && v <= max ? v : null;
}

type Drv = (cmd: string, set: boolean, a?: Record<string, unknown>) => Promise<unknown>;

function showAddresses(rts: BridgeRtInfo[], prefix: string): string {
  return rts.map((r) => `${prefix}${r.dst} ${r.ifsname} ${r.expire} ${printb('flags', r.flags, IFBAF_NAMES)}\n`).join('');
}

async function status(sys: SysLike, fd: number, drv: Drv, bridge: string): Promise<string> {
  const { flags } = (await sys.ioctl(fd, 'SIOCGIFFLAGS', { name: bridge }).catch((e: unknown) => err('unable to get flags', e))) as { flags: number };
  const p = (await drv('BRDGGPARAM', false).catch((e: unknown) => err('unable to get bridge priority', e))) as BridgeParams;
  const ifs = (await drv('BRDGGIFS', false).catch((e: unknown) => err('unable to get interface list', e))) as BridgeIfInfo[];
  const rts = (await drv('BRDGRTS', false).catch((e: unknown) => err('unable to get address cache', e))) as BridgeRtInfo[];
  let out = `${bridge}: ${printb('flags', flags, IFF_NAMES)}\n`;
  out += '\tConfiguration:\n';
  out += `\t\tpriority ${p.priority} hellotime ${p.hellotime} fwddelay ${p.fwddelay} maxage ${p.maxage}\n`;
  out += '\tInterfaces:\n';
  for (const i of ifs) out += `\t\t${i.ifsname} ${printb('flags', i.flags, IFBIF_NAMES)}\n\t\t\tport ${i.portno} priority ${i.priority}\n`;
  out += `\tAddress cache (max cache: ${p.maxaddr}, timeout: ${p.timeout}):\n`;
  out += showAddresses(rts, '\t\t');
  return out;
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, 'a');
    if (g === null) usage(io);
    const all = g.opts.some(([o]) => o === 'a');
    const args = g.rest;
    if (all ? args.length !== 0 : args.length === 0) usage(io);
    const bridge = args[0];
    if (bridge !== undefined && !isBridge(bridge)) errx(`${bridge} is not a bridge`);
    // Check the commands before touching the kernel, so a typo changes nothing.
    for (let i = 1; i < args.length; ) {
      const c = args[i]!;
      if (STP_COMMANDS.has(c)) errx(`${c}: the spanning tree is not supported`);
      const n = ARGC[c];
      if (n === undefined) errx(`unknown command: ${c}`);
      if (args.length - i - 1 < n) errx(`command ${c} requires ${n} argument${n === 1 ? '' : 's'}`);
      i += 1 + n;
    }
    return withSys(PROG, io, (sys) => withInetSocket(sys, async (fd) => {
      if (all) {
        const ifs = (await sys.ioctl(fd, 'SIOCGIFCONF')) as Array<{ name: string }>;
        let out = '';
        for (const i of ifs) {
          if (!isBridge(i.name)) continue;
          out += await status(sys, fd, (cmd, set, a) => sys.ioctl(fd, set ? 'SIOCSDRVSPEC' : 'SIOCGDRVSPEC', { ...a, name: i.name, cmd }), i.name);
        }
        io.stdout(out);
        return 0;
      }
      const name = bridge!;
      const drv: Drv = (cmd, set, a) => sys.ioctl(fd, set ? 'SIOCSDRVSPEC' : 'SIOCGDRVSPEC', { ...a, name, cmd });
      let { flags } = (await sys.ioctl(fd, 'SIOCGIFFLAGS', { name }).catch((e: unknown) => err('unable to get interface flags', e))) as { flags: number };
      if (args.length === 1) {
        io.stdout(await status(sys, fd, drv, name));
        return 0;
      }
      let flagsChanged = false;
      for (let i = 1; i < args.length; ) {
        const c = args[i]!;
        const v = args.slice(i + 1, i + 1 + ARGC[c]!);
        i += 1 + ARGC[c]!;
        switch (c) {
          case 'add':
          case 'delete':
            await drv(c === 'add' ? 'BRDGADD' : 'BRDGDEL', true, { ifsname: v[0] }).catch((e: unknown) => err(`${c} ${v[0]}`, e));
            break;
          case 'up':
          case 'down':
            flags = c === 'up' ? flags | IFF_UP : flags & ~IFF_UP;
            flagsChanged = true;
            break;
          case 'learn':
          case '-learn':
          case 'discover':
          case '-discover': {
            const bit = c.endsWith('learn') ? IFBIF_LEARNING : IFBIF_DISCOVER;
            const cur = (await drv('BRDGGIFFLGS', false, { ifsname: v[0] }).catch((e: unknown) => err('unable to get bridge flags', e))) as { flags: number };
            const next = c.startsWith('-') ? cur.flags & ~bit : cur.flags | bit;
            await drv('BRDGSIFFLGS', true, { ifsname: v[0], flags: next }).catch((e: unknown) => err('unable to set bridge flags', e));
            break;
          }
          case 'flush':
          case 'flushall':
            await drv('BRDGFLUSH', true, { flags: c === 'flush' ? IFBF_FLUSHDYN : IFBF_FLUSHALL }).catch((e: unknown) => err(c, e));
            break;
          case 'static': {
            if (parseMac(v[1]!) === null) errx(`${c}: invalid address: ${v[1]}`);
            await drv('BRDGSADDR', true, { ifsname: v[0], addr: v[1], flags: IFBAF_STATIC }).catch((e: unknown) => err(`${c} ${v[0]} ${v[1]}`, e));
            break;
          }
          case 'deladdr':
            if (parseMac(v[0]!) === null) errx(`${c}: invalid address: ${v[0]}`);
            await drv('BRDGDADDR', true, { addr: v[0] }).catch((e: unknown) => err(`${c} ${v[0]}`, e));
            break;
          case 'addr':
            io.stdout(showAddresses((await drv('BRDGRTS', false).catch((e: unknown) => err('unable to get address cache', e))) as BridgeRtInfo[], '\t'));
            break;
          case 'maxaddr':
          case 'timeout': {
            const n = getVal(v[0]!, 0xffffffff);
            if (n === null) errx(`${c}: invalid value: ${v[0]}`);
            await drv(c === 'maxaddr' ? 'BRDGSCACHE' : 'BRDGSTO', true, { value: n }).catch((e: unknown) => err(`${c} ${v[0]}`, e));
            break;
          }
        }
      }
      if (flagsChanged) await sys.ioctl(fd, 'SIOCSIFFLAGS', { name, flags }).catch((e: unknown) => err('unable to set interface flags', e));
      return 0;
    }));
  });
}

runIfMain(import.meta.url, PROG, main);
