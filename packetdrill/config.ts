/*
 * The runner's configuration: packetdrill's options (from the script's
 * `--name=value` lines, then the command line, which wins), plus the
 * runner's own (`--profile`, `--seed`, `--strict_packets`).
 */
import { ScriptFailure, Unsupported } from './failure.js';
import { PROFILES, FREEBSD_PROFILE, type Profile } from './profile.js';
import { parseInAddr } from '../net/wire/inaddr.js';
import { formatIn6Addr, parseIn6Prefix } from '../net/wire/in6addr.js';

export interface RunConfig {
  ipVersion: 'ipv4' | 'ipv4-mapped-ipv6' | 'ipv6';
  localIp: string;
  remoteIp: string;
  gatewayIp: string;
  netmask: string;
  /**
   * The IPv6 addresses of an `--ip_version=ipv6` run: packetdrill's defaults
   * (local fd3d:fa7b:d17d::0/48, its gateway fd3d:fa7b:d17d:8888::0, the
   * remote 2001:db8::1 behind it); --local_ip and friends set these when
   * given an IPv6 address.
   */
  localIp6: string;
  remoteIp6: string;
  gatewayIp6: string;
  prefixLen6: number;
  bindPort: number;
  connectPort: number;
  mtu: number;
  /** Timing slack, µs (packetdrill's default 4 ms). */
  toleranceUs: number;
  /** Extra slack as a percentage of the gap since the previous event (Google's newer option; 0 as in nplab's packetdrill). */
  tolerancePercent: number;
  /** µs per TS val tick; 0: outbound TS values are not checked (packetdrill's default). */
  tsTickUs: number;
  nonFatalPacket: boolean;
  nonFatalSyscall: boolean;
  /** Runner option: an outbound packet no line expects fails the script (packetdrill skips it). */
  strictPackets: boolean;
  profile: Profile;
  /** Runner option: the sim host's PRNG seed (ISNs, ports). */
  seed: number;
  verbose: boolean;
  /** Parse only. */
  dryRun: boolean;
  /**
   * `--udp_encapsulation=REMOTE:LOCAL` (or one PORT for both): every TCP
   * line without its own `/udp(…)` travels in UDP between these ports, as
   * if written `/udp(REMOTE > LOCAL)` inbound and `/udp(LOCAL > REMOTE)`
   * outbound. Null: plain TCP.
   */
  udpEncapsulation: { remote: number; local: number } | null;
}

export function defaultConfig(): RunConfig {
  return {
    ipVersion: 'ipv4',
    localIp: '192.168.0.1',
    remoteIp: '192.0.2.1',
    gatewayIp: '192.168.0.2',
    netmask: '255.255.0.0',
    localIp6: 'fd3d:fa7b:d17d::',
    remoteIp6: '2001:db8::1',
    gatewayIp6: 'fd3d:fa7b:d17d:8888::',
    prefixLen6: 48,
    bindPort: 8080,
    connectPort: 8080,
    mtu: 1500,
    toleranceUs: 4000,
    tolerancePercent: 0,
    tsTickUs: 0,
    nonFatalPacket: false,
    nonFatalSyscall: false,
    strictPackets: false,
    profile: FREEBSD_PROFILE,
    seed: 1,
    verbose: false,
    dryRun: false,
    udpEncapsulation: null,
  };
}

function int(name: string, v: string | null, min: number, max: number): number {
  if (v === null || !/^\d+$/.test(v)) throw new ScriptFailure(`--${name} needs an integer, got ${v === null ? 'nothing' : v}`);
  const n = Number(v);
  if (n < min || n > max) throw new ScriptFailure(`--${name}=${v} is out of range ${min}..${max}`);
  return n;
}

function ipv4(name: string, v: string | null): string {
  const a = (v ?? '').replace(/\/\d+$/, '');
  if (parseInAddr(a) === null) throw new ScriptFailure(`--${name} needs an IPv4 address, got ${v ?? 'nothing'}`);
  return a;
}

/** An IPv6 address option (`addr` or `addr/len`): the address in RFC 5952 text and the length given, if any. */
function ipv6(name: string, v: string | null): { addr: string; prefixLen: number | null } {
  const p = parseIn6Prefix(v ?? '');
  if (p === null) throw new ScriptFailure(`--${name} needs an IPv4 or IPv6 address, got ${v ?? 'nothing'}`);
  return { addr: formatIn6Addr(p.addr), prefixLen: p.prefixLen };
}

/** Options packetdrill has that mean nothing on a virtual link and a virtual clock. */
const NO_OPS = new Set(['speed', 'strict_segments']);

/** Apply one option. `define` options are handled before parsing (they change the tokens). */
export function applyOption(cfg: RunConfig, name: string, value: string | null): void {
  switch (name) {
    case 'ip_version':
      if (value !== 'ipv4' && value !== 'ipv6' && value !== 'ipv4-mapped-ipv6') {
        throw new ScriptFailure(`--ip_version must be ipv4, ipv6 or ipv4-mapped-ipv6, not ${value ?? 'nothing'}`);
      }
      cfg.ipVersion = value;
      return;
    case 'local_ip':
      if (value?.includes(':')) {
        const a = ipv6(name, value);
        cfg.localIp6 = a.addr;
        if (a.prefixLen !== null) cfg.prefixLen6 = a.prefixLen;
      } else cfg.localIp = ipv4(name, value);
      return;
    case 'remote_ip':
      if (value?.includes(':')) cfg.remoteIp6 = ipv6(name, value).addr;
      else cfg.remoteIp = ipv4(name, value);
      return;
    case 'gateway_ip':
      if (value?.includes(':')) cfg.gatewayIp6 = ipv6(name, value).addr;
      else cfg.gatewayIp = ipv4(name, value);
      return;
    case 'netmask_ip':
      cfg.netmask = ipv4(name, value);
      return;
    case 'bind_port':
      cfg.bindPort = int(name, value, 1, 65535);
      return;
    case 'connect_port':
      cfg.connectPort = int(name, value, 1, 65535);
      return;
    case 'mtu':
      cfg.mtu = int(name, value, 68, 65535);
      return;
    case 'udp_encapsulation': {
      const m = /^(\d+)(?::(\d+))?$/.exec(value ?? '');
      if (!m) throw new ScriptFailure(`--udp_encapsulation takes REMOTE:LOCAL (UDP ports) or one PORT for both, not ${value ?? 'nothing'}`);
      const remote = int(name, m[1]!, 1, 65535);
      cfg.udpEncapsulation = { remote, local: m[2] === undefined ? remote : int(name, m[2], 1, 65535) };
      return;
    }
    case 'tolerance_usecs':
      cfg.toleranceUs = int(name, value, 1, 3_600_000_000);
      return;
    case 'tolerance_percent': {
      const p = Number(value);
      if (value === null || !Number.isFinite(p) || p < 0 || p > 100) throw new ScriptFailure(`--tolerance_percent needs 0..100, got ${value ?? 'nothing'}`);
      cfg.tolerancePercent = p;
      return;
    }
    case 'tcp_ts_tick_usecs':
      cfg.tsTickUs = int(name, value, 0, 1_000_000);
      return;
    case 'non_fatal':
      for (const t of (value ?? '').split(/[, ]+/).filter(Boolean)) {
        if (t === 'packet') cfg.nonFatalPacket = true;
        else if (t === 'syscall') cfg.nonFatalSyscall = true;
        else throw new ScriptFailure(`--non_fatal takes packet and syscall, not ${t}`);
      }
      return;
    case 'strict_packets':
      cfg.strictPackets = value === null || value === '1' || value === 'true';
      return;
    case 'profile': {
      const p = PROFILES.get(value ?? '');
      if (!p) throw new ScriptFailure(`--profile must be one of ${[...PROFILES.keys()].join(', ')}, not ${value ?? 'nothing'}`);
      cfg.profile = p;
      return;
    }
    case 'seed':
      cfg.seed = int(name, value, 0, 0xffffffff);
      return;
    case 'verbose':
      cfg.verbose = true;
      return;
    case 'dry_run':
      cfg.dryRun = true;
      return;
    case 'define':
      return;
    case 'code_format':
    case 'code_command':
      if (value === 'python' || name === 'code_command') return;
      throw new Unsupported(`--code_format=${value}: the runner evaluates python-style assertions only`);
    case 'code_sockopt':
      if (value === null || value === '' || value === 'TCP_INFO') return;
      throw new Unsupported(`--code_sockopt=${value}: the runner snapshots TCP_INFO only`);
    default:
      if (NO_OPS.has(name)) return;
      throw new Unsupported(`option --${name} is not supported by the runner`);
  }
}

/**
 * `--define NAME=VALUE` / `-D NAME=VALUE` values found in option lines
 * (script or command line), before the script is scanned.
 */
export function parseDefine(text: string): [string, string] {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(text.trim());
  if (!m) throw new ScriptFailure(`--define needs NAME or NAME=VALUE, got ${text}`);
  return [m[1]!, m[2] ?? '1'];
}

/**
 * The `--name[=value]` lines of a script, read before it is scanned: the
 * defines and the profile (whose OS name #ifdef sees) change how the rest
 * of it is read. `--define NAME=VALUE` may also be written with a space.
 */
export function prescanOptions(src: string): Array<[string, string | null]> {
  const out: Array<[string, string | null]> = [];
  for (const m of src.matchAll(/^[ \t]*--([A-Za-z0-9_]+)(?:=(\S*)|[ \t]+(?=[A-Za-z_])(\S+))?/gm)) {
    const name = m[1]!;
    if (m[3] !== undefined && name !== 'define') continue;
    out.push([name, m[2] ?? m[3] ?? null]);
  }
  return out;
}
