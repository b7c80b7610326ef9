/*
 * The kernel's resolver configuration: what NetBSD keeps in resolv.conf(5)
 * and hosts(5), held per kernel so that names resolve in the kernel's
 * world and not the host's.
 *
 * The state lives in the sysctl tree, so the same calls read and write it
 * in-process, through rump_server (the sysctl syscalls of sysproxy) and
 * from `rump.resolvconf` / `rump.sysctl`:
 *
 *   net.resolv.nameserver  "192.0.2.53 2001:db8::53"  up to MAXNS (3) addresses, optionally [addr]:port
 *   net.resolv.search      "lab.example example"      up to MAXDNSRCH (6) domains
 *   net.resolv.ndots       1       dots that make a name tried as-is first (0..15)
 *   net.resolv.timeout     5       seconds for one query to one server (1..30)
 *   net.resolv.attempts    2       rounds over the servers (1..5)
 *   net.resolv.hosts       "192.0.2.1 www www.lab; ..."  the hosts table, entries split by ';'
 *
 * The limits are resolv.conf(5)'s (RES_MAXNDOTS, RES_MAXRETRANS, RES_MAXRETRY).
 * The resolver itself runs in whoever asks (net/node/dns.ts, over any sys).
 * No nameservers means no DNS: names then resolve from the hosts table and
 * `localhost` only (glibc falls back to 127.0.0.1; a rump kernel's own
 * loopback has no server, so asking it would only time out).
 */
import { Errno, EINVAL } from '../kern/errno.js';
import { defineKernelState, type Kernel } from '../kern/kernel.js';
import { parseInAddr } from './wire/inaddr.js';
import { parseIn6Addr } from './wire/in6addr.js';

export const MAXNS = 3;
export const MAXDNSRCH = 6;
export const RES_MAXNDOTS = 15;
export const RES_MAXRETRANS = 30;
export const RES_MAXRETRY = 5;

/** One hosts(5) line: an address and its names (the first is canonical). */
export interface HostsEntry {
  address: string;
  names: string[];
}

/** resolv.conf(5) and hosts(5) as values. */
export interface ResolvConf {
  /** `addr`, or `[addr]:port` / `addr:port` for IPv4 (a server on another port, as node:dns setServers takes). */
  nameservers: string[];
  search: string[];
  ndots: number;
  /** Seconds. */
  timeout: number;
  attempts: number;
  hosts: HostsEntry[];
}

export const DEFAULT_RESOLV: Readonly<Omit<ResolvConf, 'nameservers' | 'search' | 'hosts'>> = { ndots: 1, timeout: 5, attempts: 2 };

export function emptyResolvConf(): ResolvConf {
  return { nameservers: [], search: [], ...DEFAULT_RESOLV, hosts: [] };
}

/** An address literal of either family. */
export function isAddressLiteral(s: string): boolean {
  return parseInAddr(s) !== null || parseIn6Addr(s) !== null;
}

/**
 * A server as node:dns setServers writes it: `addr`, `addr:port` (IPv4),
 * `[addr]` or `[addr]:port`. Null when it is not one.
 */
export function parseServer(s: string): { address: string; port: number } | null {
  let m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (m === null && parseIn6Addr(s) === null) m = /^([^:]+):(\d+)$/.exec(s);
  const address = m !== null ? m[1]! : s;
  const port = m !== null && m[2] !== undefined ? Number(m[2]) : 53;
  if (!isAddressLiteral(address) || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { address, port };
}

/** A name as hosts(5) and resolv.conf(5) allow one: letters, digits, '-', '_', dots. */
function isHostName(s: string): boolean {
  return /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/.test(s) && s.length <= 253;
}

/**
 * Parse resolv.conf(5) text into `into` (its hosts are left alone).
 * Unknown keywords and options are ignored, as the resolver ignores them;
 * a bad nameserver or domain is an error naming the line, so a typo does
 * not silently leave a kernel without DNS.
 */
export function parseResolvConf(text: string, into: ResolvConf = emptyResolvConf()): ResolvConf {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const [key, ...args] = line.split(/\s+/);
    const bad = (what: string): never => {
      throw new Error(`resolv.conf line ${i + 1}: ${what}`);
    };
    switch (key) {
      case 'nameserver':
        // A scoped link-local server (fe80::1%eth0) names a host interface; the kernel's sockaddr carries no scope: skipped.
        if (args.length === 1 && /^[^%]+%[^%]+$/.test(args[0]!) && parseIn6Addr(args[0]!.split('%')[0]!) !== null) break;
        if (args.length !== 1 || parseServer(args[0]!) === null) bad(`bad nameserver "${args.join(' ')}"`);
        if (into.nameservers.length < MAXNS) into.nameservers.push(args[0]!);
        break;
      case 'domain':
      case 'search':
        // The last of domain/search wins (resolv.conf(5)); "." (the root, as systemd writes it) adds nothing.
        for (const d of args) if (d !== '.' && !isHostName(d)) bad(`bad domain "${d}"`);
        into.search = args.filter((d) => d !== '.').slice(0, MAXDNSRCH).map((d) => d.replace(/\.$/, ''));
        break;
      case 'options':
        for (const o of args) {
          const m = /^(ndots|timeout|attempts):(\d+)$/.exec(o);
          if (m === null) continue;
          const v = Number(m[2]);
          if (m[1] === 'ndots') into.ndots = Math.min(v, RES_MAXNDOTS);
          else if (m[1] === 'timeout') into.timeout = Math.max(1, Math.min(v, RES_MAXRETRANS));
          else into.attempts = Math.max(1, Math.min(v, RES_MAXRETRY));
        }
        break;
      default:
        break; // sortlist, lookup, family, ...: not ours
    }
  }
  return into;
}

/** resolv.conf(5) text for a configuration (what `rump.resolvconf` prints). */
export function formatResolvConf(c: ResolvConf): string {
  const out: string[] = [];
  if (c.search.length > 0) out.push(`search ${c.search.join(' ')}`);
  for (const ns of c.nameservers) out.push(`nameserver ${ns}`);
  const opts: string[] = [];
  if (c.ndots !== DEFAULT_RESOLV.ndots) opts.push(`ndots:${c.ndots}`);
  if (c.timeout !== DEFAULT_RESOLV.timeout) opts.push(`timeout:${c.timeout}`);
  if (c.attempts !== DEFAULT_RESOLV.attempts) opts.push(`attempts:${c.attempts}`);
  if (opts.length > 0) out.push(`options ${opts.join(' ')}`);
  return out.map((l) => `${l}\n`).join('');
}

/** Parse hosts(5) text: `address name [alias...]` per line, '#' comments. A bad line is an error naming it. */
export function parseHosts(text: string, sep = '\n'): HostsEntry[] {
  const out: HostsEntry[] = [];
  const lines = text.split(sep);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const [address, ...names] = line.split(/\s+/);
    if (!isAddressLiteral(address!)) throw new Error(`hosts line ${i + 1}: bad address "${address}"`);
    if (names.length === 0) throw new Error(`hosts line ${i + 1}: no name for ${address}`);
    for (const n of names) if (!isHostName(n)) throw new Error(`hosts line ${i + 1}: bad name "${n}"`);
    out.push({ address: address!, names });
  }
  return out;
}

/** hosts(5) text (`sep` '\n'), or the one-line form of the sysctl (`sep` '; '). */
export function formatHosts(entries: readonly HostsEntry[], sep = '\n'): string {
  const lines = entries.map((e) => `${e.address}\t${e.names.join(' ')}`);
  return sep === '\n' ? lines.map((l) => `${l}\n`).join('') : lines.map((l) => l.replace('\t', ' ')).join(sep);
}

/** A configuration from the `net.resolv` sysctl leaves as sysctlList gives them. */
export function resolvFromSysctl(entries: ReadonlyArray<{ name: string; value: unknown }>): ResolvConf {
  const c = emptyResolvConf();
  for (const e of entries) {
    const v = e.value;
    switch (e.name) {
      case 'net.resolv.nameserver':
        c.nameservers = String(v).split(/\s+/).filter((s) => s !== '');
        break;
      case 'net.resolv.search':
        c.search = String(v).split(/\s+/).filter((s) => s !== '');
        break;
      case 'net.resolv.ndots':
        c.ndots = Number(v);
        break;
      case 'net.resolv.timeout':
        c.timeout = Number(v);
        break;
      case 'net.resolv.attempts':
        c.attempts = Number(v);
        break;
      case 'net.resolv.hosts':
        c.hosts = parseHosts(String(v), ';');
        break;
      default:
        break;
    }
  }
  return c;
}

/** The sysctl writes that make a kernel's configuration `c` (rump.resolvconf, rump_server, rumpInit). */
export function resolvSysctlWrites(c: Partial<ResolvConf>): Array<[string, string | number]> {
  const w: Array<[string, string | number]> = [];
  if (c.nameservers !== undefined) w.push(['net.resolv.nameserver', c.nameservers.join(' ')]);
  if (c.search !== undefined) w.push(['net.resolv.search', c.search.join(' ')]);
  if (c.ndots !== undefined) w.push(['net.resolv.ndots', c.ndots]);
  if (c.timeout !== undefined) w.push(['net.resolv.timeout', c.timeout]);
  if (c.attempts !== undefined) w.push(['net.resolv.attempts', c.attempts]);
  if (c.hosts !== undefined) w.push(['net.resolv.hosts', formatHosts(c.hosts, '; ')]);
  return w;
}

const RESOLV = defineKernelState<ResolvConf>('resolv');

/** This kernel's configuration (the `net` component keeps it; a kernel without one has an empty one). */
export function kernelResolv(k: Kernel): ResolvConf {
  return RESOLV.peek(k) ?? emptyResolvConf();
}

function einval(): never {
  throw new Errno(EINVAL);
}

/** Create the state and its `net.resolv` sysctl leaves (at `net` init). */
export function resolvAttach(k: Kernel): void {
  const c = emptyResolvConf();
  RESOLV.set(k, c);
  const words = (v: unknown): string[] => String(v).split(/\s+/).filter((s) => s !== '');
  k.sysctl.string('net.resolv.nameserver', () => c.nameservers.join(' '), (v) => {
    const ns = words(v);
    if (ns.length > MAXNS || ns.some((s) => parseServer(s) === null)) einval();
    c.nameservers = ns;
  }, 'DNS servers (resolv.conf nameserver)');
  k.sysctl.string('net.resolv.search', () => c.search.join(' '), (v) => {
    const d = words(v);
    if (d.length > MAXDNSRCH || d.some((s) => !isHostName(s))) einval();
    c.search = d.map((s) => s.replace(/\.$/, ''));
  }, 'search domains (resolv.conf search)');
  k.sysctl.int('net.resolv.ndots', () => c.ndots, (v) => (c.ndots = v), 0, RES_MAXNDOTS, 'dots that make a name absolute first');
  k.sysctl.int('net.resolv.timeout', () => c.timeout, (v) => (c.timeout = v), 1, RES_MAXRETRANS, 'seconds per query and server');
  k.sysctl.int('net.resolv.attempts', () => c.attempts, (v) => (c.attempts = v), 1, RES_MAXRETRY, 'rounds over the servers');
  k.sysctl.string('net.resolv.hosts', () => formatHosts(c.hosts, '; '), (v) => {
    try {
      c.hosts = parseHosts(String(v), ';');
    } catch {
      einval();
    }
  }, 'the hosts table (hosts(5) lines split by ";")');
}

/**
 * A kernel's resolver configuration over its sysctl calls: `kernel.resolver`
 * in-process, the same over a rumpClient's sys (rump.resolvconf).
 *
 *   await k.resolver.set({ nameservers: ['192.0.2.53'], search: ['lab.example'] });
 *   await k.resolver.load(readFileSync('/etc/resolv.conf', 'utf8'));   // resolv.conf(5) text
 *   await k.resolver.loadHosts('192.0.2.1 www\n');                      // hosts(5) text
 */
export class ResolverConfig {
  constructor(private readonly sys: { sysctlList(prefix?: string): Promise<Array<{ name: string; value: unknown }>>; sysctlSet(name: string, value: number | string): Promise<void> }) {}

  /** The configuration now. */
  async get(): Promise<ResolvConf> {
    return resolvFromSysctl(await this.sys.sysctlList('net.resolv'));
  }

  /** Change the fields given; the others stay. Rejects with EINVAL for a bad value. */
  async set(c: Partial<ResolvConf>): Promise<void> {
    for (const [name, value] of resolvSysctlWrites(c)) await this.sys.sysctlSet(name, value);
  }

  /** Replace the resolv.conf part (nameservers, search, options) with resolv.conf(5) text. Throws naming a bad line. */
  async load(resolvConfText: string): Promise<void> {
    const { hosts: _hosts, ...rest } = parseResolvConf(resolvConfText);
    await this.set(rest);
  }

  /** Replace the hosts table with hosts(5) text. Throws naming a bad line. */
  async loadHosts(hostsText: string): Promise<void> {
    await this.set({ hosts: parseHosts(hostsText) });
  }
}
