#!/usr/bin/env node
/*
 * rump.ifconfig: NetBSD's ifconfig(8) against a rump kernel.
 *
 *   rump.ifconfig [-a [-bdu] [-v] [inet]]          every interface (also with no arguments)
 *   rump.ifconfig [-v] interface [inet]            one interface
 *   rump.ifconfig interface create | destroy       cloning (shmif0, virt0)
 *   rump.ifconfig interface [create] [inet] [address[/prefixlen] [netmask-or-dest [broadcast]]]
 *       [netmask mask] [prefixlen n] [broadcast addr] [alias | -alias | delete]
 *   rump.ifconfig interface inet6 address[/prefixlen] [prefixlen n] [alias | -alias | delete]
 *       [anycast | -anycast] [deprecated | -deprecated] [pltime n] [vltime n] [eui64]
 *       (with net_netinet6; the prefix length defaults to 64, and an IPv6
 *       address is added beside the interface's others, alias or not)
 *       [up] [down] [arp | -arp] [debug | -debug] [link0..2 | -link0..2]
 *       [mtu n] [metric n] [linkstr str | -linkstr]
 *       [tso4 | -tso4] [tcp4csum[-rx|-tx] | -tcp4csum[-rx|-tx]] [udp4csum-rx ...]
 *       [tcp6csum-rx ...] [udp6csum-rx ...] [lro | -lro]  (offloads, SIOCSIFCAP)
 *   rump.ifconfig -l [-bdu]                        interface names
 *   rump.ifconfig -C                               interface cloners
 *   rump.ifconfig -w secs [...]                    then wait up to secs seconds
 *       until no address is tentative (DAD done, as NetBSD's -w)
 *   -v counters, -z counters zeroed as read, -N loopback addresses as
 *   localhost, -L IPv6 lifetimes, -m media (none here)
 *
 * As on NetBSD, the commands run in the order given and the address is
 * committed last (SIOCAIFADDR, which also brings the interface up); an
 * address without `alias` replaces the interface's first one. Errors are
 * reported the way NetBSD's ifconfig reports them ("SIOCSLINKSTR: Device
 * busy", "clone_command: ..." then "exec_matches: ..."), exit status 1.
 */
import { EADDRNOTAVAIL, EAFNOSUPPORT, ENXIO, strerror } from '../kern/errno.js';
import type { IfInfo, IoctlMap } from '../net/ioctl.js';
import {
  IFCAP_CSUM_IPv4_Rx, IFCAP_CSUM_IPv4_Tx, IFCAP_CSUM_TCPv4_Rx, IFCAP_CSUM_TCPv4_Tx, IFCAP_CSUM_TCPv6_Rx, IFCAP_CSUM_TCPv6_Tx,
  IFCAP_CSUM_UDPv4_Rx, IFCAP_CSUM_UDPv4_Tx, IFCAP_CSUM_UDPv6_Rx, IFCAP_CSUM_UDPv6_Tx, IFCAP_LRO, IFCAP_NAMES, IFCAP_TSOv4,
  IFCAP_TSOv6, IFF_BROADCAST, IFF_DEBUG, IFF_LINK0, IFF_LINK1, IFF_LINK2, IFF_NAMES, IFF_NOARP, IFF_UP,
} from '../net/interface.js';
import { classfulPrefixLen, formatInAddr, parseInAddr, parseInAddrPrefix, parseMac, prefixToMask } from '../net/wire/inaddr.js';
import { formatIn6Addr, parseIn6Prefix } from '../net/wire/in6addr.js';
import {
  err, errText, errx, exit, formatBits, getopt, guard, parseDecimal, parseMask, plural, runIfMain,
  realClock, withInetSocket, withSys, type SysLike, type ToolClock, type ToolIO,
} from './common.js';

const PROG = 'rump.ifconfig';
const USAGE =
  `usage: ${PROG} [-h] [-v] interface\n` +
  '\t[ af [ address [ dest_addr ] ] [ netmask mask ] [ prefixlen n ]\n' +
  '\t\t[ alias | -alias ] ]\n' +
  '\t[ anycast | -anycast ] [ deprecated | -deprecated ] [ pltime n ] [ vltime n ] [ eui64 ]\n' +
  '\t[ up ] [ down ] [ mtu n ] [ metric n ] [ broadcast addr ]\n' +
  '\t[ arp | -arp ] [ debug | -debug ]\n' +
  '\t[ link0 | -link0 ] [ link1 | -link1 ] [ link2 | -link2 ]\n' +
  '\t[ linkstr str | -linkstr ]\n' +
  '\t[ tso4 | -tso4 ] [ tso6 | -tso6 ] [ lro | -lro ]\n' +
  '\t[ ip4csum | -ip4csum ] [ tcp4csum | -tcp4csum ] [ udp4csum | -udp4csum ]\n' +
  '\t[ tcp6csum | -tcp6csum ] [ udp6csum | -udp6csum ] (each csum also -rx, -tx)\n' +
  `       ${PROG} -a [-b] [-d] [-h] [-u] [-v] [ af ]\n` +
  `       ${PROG} -l [-b] [-d] [-s] [-u]\n` +
  `       ${PROG} -C\n` +
  `       ${PROG} -w n\n` +
  `       ${PROG} interface create\n` +
  `       ${PROG} interface destroy\n`;

/** Flag keywords: the bits they set (positive) or clear (negative), as NetBSD's ifflagskw. */
const FLAG_WORDS: Record<string, number> = {
  up: IFF_UP, down: -IFF_UP,
  arp: -IFF_NOARP, '-arp': IFF_NOARP,
  debug: IFF_DEBUG, '-debug': -IFF_DEBUG,
  link0: IFF_LINK0, '-link0': -IFF_LINK0,
  link1: IFF_LINK1, '-link1': -IFF_LINK1,
  link2: IFF_LINK2, '-link2': -IFF_LINK2,
};

/** Offload keywords (NetBSD ifconfig's ifcapskw): the IFCAP_* bits they switch. */
const CAP_WORDS: Record<string, number> = {
  tso4: IFCAP_TSOv4, tso6: IFCAP_TSOv6, lro: IFCAP_LRO,
  'ip4csum-rx': IFCAP_CSUM_IPv4_Rx, 'ip4csum-tx': IFCAP_CSUM_IPv4_Tx, ip4csum: IFCAP_CSUM_IPv4_Rx | IFCAP_CSUM_IPv4_Tx,
  'tcp4csum-rx': IFCAP_CSUM_TCPv4_Rx, 'tcp4csum-tx': IFCAP_CSUM_TCPv4_Tx, tcp4csum: IFCAP_CSUM_TCPv4_Rx | IFCAP_CSUM_TCPv4_Tx,
  'udp4csum-rx': IFCAP_CSUM_UDPv4_Rx, 'udp4csum-tx': IFCAP_CSUM_UDPv4_Tx, udp4csum: IFCAP_CSUM_UDPv4_Rx | IFCAP_CSUM_UDPv4_Tx,
  'tcp6csum-rx': IFCAP_CSUM_TCPv6_Rx, 'tcp6csum-tx': IFCAP_CSUM_TCPv6_Tx, tcp6csum: IFCAP_CSUM_TCPv6_Rx | IFCAP_CSUM_TCPv6_Tx,
  'udp6csum-rx': IFCAP_CSUM_UDPv6_Rx, 'udp6csum-tx': IFCAP_CSUM_UDPv6_Tx, udp6csum: IFCAP_CSUM_UDPv6_Rx | IFCAP_CSUM_UDPv6_Tx,
};

/** One command, run in order. */
type Action =
  | { kind: 'flag'; bits: number }
  | { kind: 'cap'; on: number; off: number }
  | { kind: 'mtu'; mtu: number }
  | { kind: 'metric'; metric: number }
  | { kind: 'linkstr'; linkstr: string | null }
  | { kind: 'link'; lladdr: string; active: boolean; remove: boolean }
  | { kind: 'clone'; cmd: 'SIOCIFCREATE' | 'SIOCIFDESTROY' }
  | { kind: 'trailers' };

/** The address parts collected from the command line, committed last. */
interface AddrSpec {
  /** The address family word given (inet unless `inet6`). */
  family: 'inet' | 'inet6';
  addr: number | null;
  /** The IPv6 address of an `inet6` command. */
  addr6: Uint8Array | null;
  prefixLen: number | null;
  netmask: number | null;
  broadcast: number | null;
  /** true: alias, false: -alias/delete, null: replace the first address. */
  alias: boolean | null;
  /** inet6: IN6_IFF_ANYCAST / IN6_IFF_DEPRECATED asked for (anycast, deprecated; their `-` forms clear). */
  flags6: number;
  /** inet6: pltime and vltime in seconds; null: infinite. */
  pltime: number | null;
  vltime: number | null;
  /** inet6 eui64: the interface identifier from the link-local address. */
  eui64: boolean;
}

interface IfCommand {
  ifname: string;
  actions: Action[];
  address: AddrSpec;
  /** Nothing to do but show the interface. */
  statusOnly: boolean;
}

function usage(io: ToolIO): never {
  io.stderr(USAGE);
  exit(1);
}

/** The words after the interface name, as NetBSD's parser reads them. */
function parseCommand(ifname: string, words: string[], io: ToolIO): IfCommand {
  const cmd: IfCommand = {
    ifname,
    actions: [],
    address: {
      family: 'inet', addr: null, addr6: null, prefixLen: null, netmask: null, broadcast: null, alias: null,
      flags6: 0, pltime: null, vltime: null, eui64: false,
    },
    statusOnly: false,
  };
  let i = 0;
  if (words[0] === 'create' || words[0] === 'destroy') {
    cmd.actions.push({ kind: 'clone', cmd: words[0] === 'create' ? 'SIOCIFCREATE' : 'SIOCIFDESTROY' });
    i++;
    if (words[0] === 'destroy' && words.length > 1) usage(io);
  }
  // AppleTalk is a family NetBSD's ifconfig knows and no kernel here has: its socket(2) fails.
  if (words[i] === 'atalk') errx(`socket: ${strerror(EAFNOSUPPORT)}`);
  if (words[i] === 'inet' || (words[i] === 'link' && i + 1 === words.length)) i++;
  else if (words[i] === 'inet6') {
    cmd.address.family = 'inet6';
    i++;
  }
  if (i === words.length) {
    cmd.statusOnly = cmd.actions.length === 0;
    return cmd;
  }
  const a = cmd.address;
  let positional = 0;
  const next = (): string => {
    if (i + 1 >= words.length) usage(io);
    return words[++i]!;
  };
  for (; i < words.length; i++) {
    const w = words[i]!;
    if (w in FLAG_WORDS) {
      cmd.actions.push({ kind: 'flag', bits: FLAG_WORDS[w]! });
      continue;
    }
    const capOff = w.startsWith('-');
    const capBits = CAP_WORDS[capOff ? w.slice(1) : w];
    if (capBits !== undefined) {
      cmd.actions.push({ kind: 'cap', on: capOff ? 0 : capBits, off: capOff ? capBits : 0 });
      continue;
    }
    switch (w) {
      case 'alias':
        a.alias = true;
        break;
      case '-alias':
      case 'delete':
        a.alias = false;
        break;
      case 'netmask': {
        const m = parseMask(next());
        if (m === null) usage(io);
        a.netmask = m;
        break;
      }
      case 'prefixlen': {
        const n = parseDecimal(next());
        if (n === null || n < 0 || n > (a.family === 'inet6' ? 128 : 32)) usage(io);
        a.prefixLen = n;
        break;
      }
      case 'broadcast': {
        const b = parseInAddr(next());
        if (b === null) usage(io);
        a.broadcast = b;
        break;
      }
      case 'mtu': {
        const n = parseDecimal(next());
        if (n === null) usage(io);
        cmd.actions.push({ kind: 'mtu', mtu: n });
        break;
      }
      case 'anycast':
      case 'deprecated':
        a.flags6 |= w === 'anycast' ? IN6_IFF_ANYCAST : IN6_IFF_DEPRECATED;
        break;
      case '-anycast':
      case '-deprecated':
        a.flags6 &= ~(w === '-anycast' ? IN6_IFF_ANYCAST : IN6_IFF_DEPRECATED);
        break;
      case 'pltime':
      case 'vltime': {
        const n = parseDecimal(next());
        if (n === null || n > 0xffffffff) usage(io);
        if (w === 'pltime') a.pltime = n;
        else a.vltime = n;
        break;
      }
      case 'eui64':
        a.eui64 = true;
        break;
      case 'metric': {
        const n = parseDecimal(next());
        if (n === null) usage(io);
        cmd.actions.push({ kind: 'metric', metric: n });
        break;
      }
      case 'linkstr':
        cmd.actions.push({ kind: 'linkstr', linkstr: next() });
        break;
      case '-linkstr':
        cmd.actions.push({ kind: 'linkstr', linkstr: null });
        break;
      case 'link': {
        // `link MAC [active | delete]`: a link-layer address for the interface,
        // made its own with `active`; a spare one dropped with `delete`.
        const mac = next();
        if (parseMac(mac) === null) errx(`${mac}: bad value`);
        const active = words[i + 1] === 'active';
        const remove = words[i + 1] === 'delete';
        if (active || remove) i++;
        cmd.actions.push({ kind: 'link', lladdr: mac, active, remove });
        break;
      }
      case 'trailers':
      case '-trailers':
        cmd.actions.push({ kind: 'trailers' });
        break;
      default:
        // Positional addresses: local address, then netmask (on a
        // broadcast interface), then broadcast address.
        if (positional === 0 && a.family === 'inet6') {
          const p = parseIn6Prefix(w.replace(/%[^/]*/, ''));
          if (p === null) errx(`${w}: bad value`);
          a.addr6 = p.addr;
          if (p.prefixLen !== null) a.prefixLen = p.prefixLen;
        } else if (a.family === 'inet6') {
          usage(io);
        } else if (positional === 0) {
          const p = parseInAddrPrefix(w);
          if (p === null) errx(`${w}: bad value`);
          a.addr = p.addr;
          if (p.prefixLen !== null) a.prefixLen = p.prefixLen;
        } else if (positional === 1) {
          const m = parseMask(w);
          if (m === null) errx(`${w}: bad value`);
          a.netmask = m;
        } else if (positional === 2) {
          const b = parseInAddr(w);
          if (b === null) errx(`${w}: bad value`);
          a.broadcast = b;
        } else {
          usage(io);
        }
        positional++;
    }
  }
  return cmd;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */

/** print_plural(): "12 packets", "1 byte". */
function count(n: number, unit: string): string {
  return `${n} ${unit}${plural(n)}`;
}

/**
 * One interface as NetBSD's ifconfig status() prints it:
 *
 *   shmif0: flags=0x8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500
 *   \taddress: b2:a0:49:01:90:32
 *   \tlinkstr: bus-small
 *   \tinet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255
 *   \tinet6 2001:db8::1 prefixlen 64
 *   \tinet6 fe80::1%shmif0 prefixlen 64 scopeid 0x2
 *
 * (IPv6 lines as NetBSD 7's in6_alias prints them: the zone after a
 * link-local address, the prefix length, the address flags as words, the
 * scope id.)
 */
export function formatStatus(info: IfInfo, verbose = false, opts: StatusOptions = {}): string {
  let out = `${info.name}: flags=${formatBits(info.flags, IFF_NAMES)}`;
  if (info.metric) out += ` metric ${info.metric}`;
  if (info.mtu !== 0) out += ` mtu ${info.mtu}`;
  out += '\n';
  if (info.capabilities) {
    // NetBSD prints the capabilities and the enabled ones right after the flags.
    out += `\tcapabilities=${formatBits(info.capabilities, IFCAP_NAMES)}\n`;
    out += `\tenabled=${formatBits(info.capenable ?? 0, IFCAP_NAMES)}\n`;
  }
  if (info.lladdr) out += `\taddress: ${info.lladdr}\n`;
  if (info.linkstr !== null) out += `\tlinkstr: ${info.linkstr}\n`;
  if (verbose) {
    const s = info.stats;
    out += `\tinput: ${count(s.ipackets, 'packet')}, ${count(s.ibytes, 'byte')}`;
    if (s.imcasts) out += `, ${count(s.imcasts, 'multicast')}`;
    if (s.ierrors) out += `, ${count(s.ierrors, 'error')}`;
    if (s.iqdrops) out += `, ${count(s.iqdrops, 'queue drop')}`;
    if (s.noproto) out += `, ${s.noproto} unknown protocol`;
    out += `\n\toutput: ${count(s.opackets, 'packet')}, ${count(s.obytes, 'byte')}`;
    if (s.omcasts) out += `, ${count(s.omcasts, 'multicast')}`;
    if (s.oerrors) out += `, ${count(s.oerrors, 'error')}`;
    if (s.collisions) out += `, ${count(s.collisions, 'collision')}`;
    out += '\n';
  }
  // NetBSD 8's lines: "inet A/len [broadcast B] flags 0x..<..>",
  // "inet6 A[%if]/len flags 0x..<..> [scopeid 0x..]" (-L adds the lifetimes).
  const name = (a: string): string => (opts.names && (a === '127.0.0.1' || a === '::1') ? 'localhost' : a);
  // The inactive link-layer addresses, one "link MAC" line each (NetBSD's af_link status).
  for (const mac of info.links ?? []) out += `\tlink ${mac}\n`;
  for (const ia of info.inet) {
    out += `\tinet ${name(ia.addr)}/${ia.prefixLen}`;
    if (info.flags & IFF_BROADCAST && ia.broadaddr) out += ` broadcast ${ia.broadaddr}`;
    out += ` flags ${formatBits(ia.flags ?? 0, IN_IFF_NAMES)}\n`;
  }
  for (const ia of info.inet6 ?? []) {
    out += `\tinet6 ${name(ia.addr)}${ia.scopeId ? `%${info.name}` : ''}/${ia.prefixLen}`;
    out += ` flags ${formatBits(ia.flags, IN6_IFF_NAMES)}`;
    if (ia.scopeId) out += ` scopeid 0x${ia.scopeId.toString(16)}`;
    // Seconds left, or infty (NetBSD's sec2str prints plain seconds).
    if (opts.lifetimes) out += ` pltime ${ia.pltime ?? 'infty'} vltime ${ia.vltime ?? 'infty'}`;
    out += '\n';
  }
  return out;
}

/** Options of the listing: -N (loopback addresses as localhost), -L (address lifetimes). */
export interface StatusOptions {
  names?: boolean;
  lifetimes?: boolean;
}

/** IPv4 address flags (netinet/in_var.h IN_IFFBITS). */
const IN_IFF_NAMES: ReadonlyArray<readonly [number, string]> = [[0x01, 'TENTATIVE'], [0x02, 'DUPLICATED'], [0x04, 'DETACHED']];

/** IPv6 address flags (netinet6/in6_var.h IN6_IFFBITS). */
const IN6_IFF_NAMES: ReadonlyArray<readonly [number, string]> = [
  [0x01, 'ANYCAST'], [0x02, 'TENTATIVE'], [0x04, 'DUPLICATED'], [0x08, 'DETACHED'], [0x10, 'DEPRECATED'],
  [0x20, 'NODAD'], [0x40, 'AUTOCONF'], [0x80, 'TEMPORARY'],
];

async function getIfconf(sys: SysLike, fd: number, name?: string): Promise<IfInfo[]> {
  return (await sys.ioctl(fd, 'SIOCGIFCONF', name === undefined ? undefined : { name })) as IfInfo[];
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                 */

async function runActions(sys: SysLike, fd: number, cmd: IfCommand, io: ToolIO): Promise<void> {
  const name = cmd.ifname;
  for (const act of cmd.actions) {
    switch (act.kind) {
      case 'clone':
        try {
          await sys.ioctl(fd, act.cmd, { name });
        } catch (e) {
          io.stderr(`${PROG}: clone_command: ${errText(e)}\n`);
          // A driver that said what is wrong and what to do (virt0: a TUN
          // of that name, a busy TAP, no /dev/net/tun, no CAP_NET_ADMIN).
          if (e instanceof Error && !e.message.endsWith(errText(e))) io.stderr(`${PROG}: ${e.message}\n`);
          err('exec_matches', e);
        }
        break;
      case 'flag':
        try {
          const { flags } = (await sys.ioctl(fd, 'SIOCGIFFLAGS', { name })) as { flags: number };
          const next = act.bits < 0 ? flags & ~-act.bits : flags | act.bits;
          await sys.ioctl(fd, 'SIOCSIFFLAGS', { name, flags: next });
        } catch (e) {
          err('exec_matches', e);
        }
        break;
      case 'cap':
        // As NetBSD's setifcaps: read the enabled set, change it, write it back.
        try {
          const [info] = await getIfconf(sys, fd, name);
          const cur = info?.capenable ?? 0;
          await sys.ioctl(fd, 'SIOCSIFCAP', { name, capenable: (cur | act.on) & ~act.off });
        } catch (e) {
          err('SIOCSIFCAP', e);
        }
        break;
      case 'mtu':
        // NetBSD warns and carries on.
        await sys.ioctl(fd, 'SIOCSIFMTU', { name, mtu: act.mtu }).catch((e: unknown) => io.stderr(`${PROG}: SIOCSIFMTU: ${errText(e)}\n`));
        break;
      case 'metric':
        await sys.ioctl(fd, 'SIOCSIFMETRIC', { name, metric: act.metric }).catch((e: unknown) => err('SIOCSIFMETRIC', e));
        break;
      case 'linkstr':
        try {
          await sys.ioctl(fd, 'SIOCSLINKSTR', { name, linkstr: act.linkstr });
        } catch (e) {
          err('SIOCSLINKSTR', e);
        }
        break;
      case 'link':
        if (act.remove) {
          await sys.ioctl(fd, 'SIOCDLIFADDR', { name, lladdr: act.lladdr }).catch((e: unknown) => err('SIOCDLIFADDR', e));
          break;
        }
        try {
          await sys.ioctl(fd, 'SIOCALIFADDR', { name, lladdr: act.lladdr, active: act.active });
        } catch (e) {
          err('SIOCALIFADDR', e);
        }
        break;
      case 'trailers':
        io.stdout('Note: trailers are no longer sent, but always received\n');
        break;
    }
  }
}

/** The address commit (NetBSD's commit_address): add, replace or delete. */
async function commitAddress(sys: SysLike, fd: number, cmd: IfCommand): Promise<void> {
  const a = cmd.address;
  const name = cmd.ifname;
  if (a.family === 'inet6') {
    if (a.addr6 === null) {
      if (a.alias === false || a.prefixLen !== null) errx('SIOCDIFADDR_IN6: an address is needed');
      return;
    }
    if (a.eui64) await setEui64(sys, fd, name, a.addr6);
    const addr = formatIn6Addr(a.addr6);
    if (a.alias === false) {
      await sys.ioctl(fd, 'SIOCDIFADDR_IN6', { name, addr }).catch((e: unknown) => err('SIOCDIFADDR_IN6', e));
      return;
    }
    const req: IoctlMap['SIOCAIFADDR_IN6'][0] = { name, addr, prefixlen: a.prefixLen ?? 64 };
    if (a.flags6) req.flags = a.flags6;
    if (a.pltime !== null) req.pltime = a.pltime;
    if (a.vltime !== null) req.vltime = a.vltime;
    await sys.ioctl(fd, 'SIOCAIFADDR_IN6', req).catch((e: unknown) => err('SIOCAIFADDR_IN6', e));
    return;
  }
  const nothing = a.addr === null && a.alias !== false && a.netmask === null && a.broadcast === null && a.prefixLen === null;
  if (nothing) return;
  let flags: number;
  try {
    flags = ((await sys.ioctl(fd, 'SIOCGIFFLAGS', { name })) as { flags: number }).flags;
  } catch (e) {
    err(`SIOCGIFFLAGS ${name}`, e);
  }
  if (a.broadcast !== null && !(flags & IFF_BROADCAST)) errx('not a broadcast interface');
  if (a.addr === null) {
    if (a.alias !== false) return;
    // -alias with no address: remove the interface's first address.
    const [info] = await getIfconf(sys, fd, name).catch((e: unknown) => err('SIOCGIFADDR', e));
    const first = info?.inet[0];
    if (!first) errx(`SIOCGIFADDR: ${strerror(EADDRNOTAVAIL)}`);
    await sys.ioctl(fd, 'SIOCDIFADDR', { name, addr: first.addr }).catch((e: unknown) => err('SIOCDIFADDR', e));
    return;
  }
  const addr = formatInAddr(a.addr);
  if (a.alias === false) {
    await sys.ioctl(fd, 'SIOCDIFADDR', { name, addr }).catch((e: unknown) => err('SIOCDIFADDR', e));
    return;
  }
  // Without a mask, NetBSD's in_ifinit() picks the classful one.
  const mask = a.prefixLen !== null ? prefixToMask(a.prefixLen) : a.netmask ?? prefixToMask(classfulPrefixLen(a.addr));
  const req: { name: string; addr: string; mask: string; broadaddr?: string; alias?: boolean } = { name, addr, mask: formatInAddr(mask) };
  if (a.broadcast !== null) req.broadaddr = formatInAddr(a.broadcast);
  if (a.alias === true) req.alias = true;
  await sys.ioctl(fd, 'SIOCAIFADDR', req).catch((e: unknown) => err('SIOCAIFADDR', e));
}

/**
 * eui64 (NetBSD's setia6eui64_impl): the address's low 64 bits become the
 * interface identifier of the interface's link-local address; its prefix
 * must leave them free (a /64 or shorter is what RFC 4291 §2.5.1 expects).
 */
async function setEui64(sys: SysLike, fd: number, name: string, addr6: Uint8Array): Promise<void> {
  const [info] = await getIfconf(sys, fd, name).catch((e: unknown) => err(`SIOCGIFFLAGS ${name}`, e));
  const ll = (info?.inet6 ?? []).find((ia) => ia.addr.startsWith('fe80:'));
  const llAddr = ll === undefined ? null : parseIn6Prefix(ll.addr);
  if (llAddr === null) errx('could not determine link local address');
  addr6.set(llAddr.addr.subarray(8), 8);
}

/** NetBSD's wait_dad_exec: poll every tenth of a second until no address is tentative, at most `ms`. */
async function waitDad(sys: SysLike, fd: number, ms: number, clock: ToolClock): Promise<number> {
  const end = clock.now() + ms;
  for (;;) {
    const list = await getIfconf(sys, fd).catch((e: unknown) => err('getifaddrs', e));
    const tentative = (i: IfInfo): boolean =>
      (i.inet6 ?? []).some((a) => a.flags & IN6_IFF_TENTATIVE) || i.inet.some((a) => (a.flags ?? 0) & IN_IFF_TENTATIVE);
    if (!list.some(tentative)) return 0;
    if (clock.now() >= end) return 0;
    await clock.sleep(100);
  }
}

/** IN6_IFF_TENTATIVE, _ANYCAST, _DEPRECATED (netinet6/in6_var.h), IN_IFF_TENTATIVE (netinet/in_var.h). */
const IN6_IFF_TENTATIVE = 0x02;
const IN6_IFF_ANYCAST = 0x01;
const IN6_IFF_DEPRECATED = 0x10;
const IN_IFF_TENTATIVE = 0x01;

interface ListFilter {
  broadcastOnly: boolean;
  downOnly: boolean;
  upOnly: boolean;
}

function keep(info: IfInfo, f: ListFilter): boolean {
  if (f.broadcastOnly && !(info.flags & IFF_BROADCAST)) return false;
  if (f.downOnly && info.flags & IFF_UP) return false;
  if (f.upOnly && !(info.flags & IFF_UP)) return false;
  return true;
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, 'abCdhlLmNsuvzw:');
    if (!g) usage(io);
    const has = (c: string): boolean => g.opts.some(([o]) => o === c);
    const wOpt = g.opts.find(([o]) => o === 'w')?.[1];
    const wait = wOpt === undefined ? 0 : parseDecimal(wOpt);
    if (wait === null || wait < 0) usage(io);
    if (wOpt !== undefined) {
      // The command without -w first; -w alone only waits (NetBSD's `ifconfig -w 10` after configuring).
      const inner = [...g.opts.filter(([o]) => o !== 'w').map(([o]) => `-${o}`), ...g.rest];
      const st = inner.length === 0 ? 0 : await main(inner, io);
      if (st !== 0) return st;
      return withSys(PROG, io, (sys) => withInetSocket(sys, (fd) => waitDad(sys, fd, wait * 1000, io.clock ?? realClock)));
    }
    // No arguments at all means -a, as on NetBSD.
    const aflag = has('a') || argv.length === 0;
    const lflag = has('l');
    const Cflag = has('C');
    // -z: the counters (as -v), zeroed as they are read (SIOCZIFDATA).
    const zflag = has('z');
    const vflag = has('v') || zflag;
    const sopts: StatusOptions = { names: has('N'), lifetimes: has('L') };
    const show = async (sys: SysLike, fd: number, info: IfInfo): Promise<string> => {
      if (zflag) info.stats = ((await sys.ioctl(fd, 'SIOCZIFDATA', { name: info.name })) as { stats: IfInfo['stats'] }).stats;
      return formatStatus(info, vflag, sopts);
    };
    const filter: ListFilter = { broadcastOnly: has('b'), downOnly: has('d'), upOnly: has('u') };
    if ((lflag || Cflag) && (aflag || vflag)) usage(io);
    if (lflag && Cflag) usage(io);
    const rest = g.rest;

    if (Cflag) {
      if (rest.length) usage(io);
      return withSys(PROG, io, (sys) => withInetSocket(sys, async (fd) => {
        const names = (await sys.ioctl(fd, 'SIOCIFGCLONERS').catch((e: unknown) => err('SIOCIFGCLONERS for names', e))) as string[];
        io.stdout(names.join(' ') + '\n');
        return 0;
      }));
    }
    if (aflag || lflag) {
      if (rest.length > 1 || (rest.length === 1 && (lflag || (rest[0] !== 'inet' && rest[0] !== 'inet6')))) usage(io);
      return withSys(PROG, io, (sys) => withInetSocket(sys, async (fd) => {
        const list = (await getIfconf(sys, fd).catch((e: unknown) => err('getifaddrs', e))).filter((i) => keep(i, filter));
        if (lflag) io.stdout(list.map((i) => i.name).join(' ') + '\n');
        else for (const info of list) io.stdout(await show(sys, fd, info));
        return 0;
      }));
    }
    if (rest.length === 0) usage(io);
    let ifname = rest[0]!;
    if (ifname.length > 16) usage(io);
    const numeric = /^\d+$/.test(ifname);
    let cmd = parseCommand(ifname, rest.slice(1), io);
    return withSys(PROG, io, (sys) => withInetSocket(sys, async (fd) => {
      if (numeric) {
        // NetBSD's kernel takes an all-digits interface name as an interface index (ifunit),
        // so the ioctls reach that interface (ENXIO when there is none); its status lists
        // the addresses getifaddrs(3) gives under the name "1", which are none: nothing.
        const found = (await getIfconf(sys, fd)).find((i) => i.index === Number(ifname));
        if (found === undefined) errx(`SIOCGIFFLAGS ${ifname}: ${strerror(ENXIO)}`);
        if (cmd.statusOnly) return 0;
        ifname = found.name;
        cmd = parseCommand(ifname, rest.slice(1), io);
      }
      if (has('s')) {
        // Carrier status: interfaces here report no media, which NetBSD counts as up.
        await sys.ioctl(fd, 'SIOCGIFFLAGS', { name: ifname }).catch((e: unknown) => err(`SIOCGIFFLAGS ${ifname}`, e));
        return 0;
      }
      if (cmd.statusOnly) {
        let info: IfInfo[];
        try {
          info = await getIfconf(sys, fd, ifname);
        } catch (e) {
          err(`SIOCGIFFLAGS ${ifname}`, e);
        }
        for (const i of info) io.stdout(await show(sys, fd, i));
        return 0;
      }
      await runActions(sys, fd, cmd, io);
      await commitAddress(sys, fd, cmd);
      return 0;
    }));
  });
}

runIfMain(import.meta.url, PROG, main);
