/*
 * Sysctl profiles: the kernel defaults a family of scripts assumes, set
 * before every script, and how the names those scripts write map onto this
 * kernel's sysctl tree.
 *
 * The `freebsd` profile is FreeBSD's TCP defaults (see
 * ../shared/reference/packetdrill.md, "FreeBSD defaults the scripts
 * assume"), so FreeBSD's suite runs with its scripts unedited. A name the
 * kernel does not have is a failure that says so — never skipped — except
 * where setting it cannot change anything here and packetdrill.md says so:
 * purging a host cache this kernel does not keep, and asking for SYN cookie
 * behaviour that is the kernel's fixed behaviour anyway.
 */
import { Errno, ENOENT } from '../kern/errno.js';
import type { Kernel } from '../kern/kernel.js';
import { ScriptFailure } from './failure.js';

export interface SysctlRule {
  /** The name as scripts write it (FreeBSD's). */
  name: string;
  /** The value set before every script, or null (only mapped, not set). */
  preset: number | null;
  /** Other names the same knob has in this kernel, tried after `name` (NetBSD spellings). */
  aliases?: readonly string[];
  /**
   * When the kernel has none of the names: the values that are no-ops here
   * (the kernel already behaves so) and why. Any other value fails.
   */
  noop?: { values: readonly number[] | 'any'; why: string };
}

export interface Profile {
  name: string;
  /** What `#ifdef` sees as defined (the OS the scripts were written for). */
  osName: string;
  rules: readonly SysctlRule[];
}

/** FreeBSD 13/14 defaults (tcp_subr.c, tcp_input.c, tcp_timer.h, uipc_sockbuf.c). */
export const FREEBSD_PROFILE: Profile = {
  name: 'freebsd',
  osName: 'FreeBSD',
  rules: [
    // RFC 7323 window scaling and timestamps on.
    { name: 'net.inet.tcp.rfc1323', preset: 1 },
    { name: 'net.inet.tcp.sack.enable', preset: 1 },
    // Accept ECN when the peer asks, never initiate it (RFC 3168 §6.1.1).
    { name: 'net.inet.tcp.ecn.enable', preset: 2 },
    // Always answer with RSTs.
    { name: 'net.inet.tcp.blackhole', preset: 0 },
    // Largest socket buffer: with 2 MiB the window scale works out to 6.
    { name: 'kern.ipc.maxsockbuf', preset: 2097152, aliases: ['kern.sbmax'] },
    { name: 'net.inet.tcp.recvspace', preset: 65536 },
    { name: 'net.inet.tcp.sendspace', preset: 32768 },
    { name: 'net.inet.tcp.mssdflt', preset: 536 },
    // RTO.initial 1 s (RFC 6298 §2.1); FreeBSD's 30 ms floor, with 200 ms of slop on every RTO.
    { name: 'net.inet.tcp.rexmit_initial', preset: 1000 },
    { name: 'net.inet.tcp.rexmit_min', preset: 30 },
    { name: 'net.inet.tcp.rexmit_slop', preset: 200 },
    { name: 'net.inet.tcp.rexmit_drop_options', preset: 0 },
    // Timers in milliseconds, as FreeBSD's sysctls take them.
    { name: 'net.inet.tcp.keepinit', preset: 75_000 },
    { name: 'net.inet.tcp.keepidle', preset: 7_200_000 },
    { name: 'net.inet.tcp.keepintvl', preset: 75_000 },
    { name: 'net.inet.tcp.keepcnt', preset: 8 },
    { name: 'net.inet.tcp.delacktime', preset: 40 },
    { name: 'net.inet.tcp.msl', preset: 30_000 },
    // RFC 5961 on: challenge ACKs for in-window RSTs and SYNs.
    { name: 'net.inet.tcp.insecure_rst', preset: 0 },
    { name: 'net.inet.tcp.insecure_syn', preset: 0 },
    // ICMP hard errors may reset a connection in SYN-SENT (RFC 5927 checks apply).
    { name: 'net.inet.tcp.icmp_may_rst', preset: 1 },
    { name: 'net.inet.tcp.drop_synfin', preset: 0 },
    {
      name: 'net.inet.tcp.hostcache.purgenow',
      preset: null,
      noop: { values: 'any', why: 'this kernel keeps no TCP host cache, so there is nothing to purge' },
    },
    {
      name: 'net.inet.tcp.syncookies',
      preset: 1,
      noop: { values: [1], why: 'the SYN cache falls back to SYN cookies when full, which is what 1 asks for' },
    },
    {
      name: 'net.inet.tcp.syncookies_only',
      preset: 0,
      noop: { values: [0], why: 'the SYN cache is always used before cookies, which is what 0 asks for' },
    },
  ],
};

export const NO_PROFILE: Profile = { name: 'none', osName: '', rules: [] };

export const PROFILES: ReadonlyMap<string, Profile> = new Map([
  ['freebsd', FREEBSD_PROFILE],
  ['none', NO_PROFILE],
]);

/** What a `sysctl -w name=value` did, for the shell's output. */
export interface SysctlWrite {
  name: string;
  /** The kernel name written, or null for a no-op. */
  kernelName: string | null;
  old: unknown;
  value: number | string;
  /** Why nothing was written. */
  noop: string | null;
}

/** The kernel's name for a script's sysctl name, or null when it has none of them. */
export function kernelSysctlName(k: Kernel, profile: Profile, name: string): string | null {
  if (k.sysctl.has(name) && !k.sysctl.isNode(name)) return name;
  const rule = profile.rules.find((r) => r.name === name);
  for (const alias of rule?.aliases ?? []) if (k.sysctl.has(alias) && !k.sysctl.isNode(alias)) return alias;
  return null;
}

/**
 * `sysctl -w name=value` through the profile. Throws ScriptFailure when the
 * kernel has no such variable (unless the profile documents the value as a
 * no-op here) or refuses the value.
 */
export function writeSysctl(k: Kernel, profile: Profile, name: string, value: string): SysctlWrite {
  const kname = kernelSysctlName(k, profile, name);
  if (kname === null) {
    const rule = profile.rules.find((r) => r.name === name);
    const num = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (rule?.noop && (rule.noop.values === 'any' || rule.noop.values.includes(num))) {
      return { name, kernelName: null, old: null, value, noop: rule.noop.why };
    }
    const also = rule?.aliases?.length ? ` (nor ${rule.aliases.join(', ')})` : '';
    const noopHint = rule?.noop && rule.noop.values !== 'any' ? `; only ${name}=${rule.noop.values.join('|')} is a no-op here (${rule.noop.why})` : '';
    throw new ScriptFailure(`sysctl ${name}: this kernel has no such variable${also}${noopHint}`);
  }
  let old: unknown;
  try {
    old = k.sysctl.get(kname);
    k.sysctl.set(kname, value);
  } catch (e) {
    if (e instanceof Errno) {
      const why = e.errno === ENOENT ? 'no such variable' : `${e.code} (${e.message})`;
      throw new ScriptFailure(`sysctl ${kname}=${value}: ${why}`);
    }
    throw e;
  }
  return { name, kernelName: kname, old, value, noop: null };
}

/** Read a sysctl through the profile's names (for `sysctl name`); throws ScriptFailure when absent. */
export function readSysctl(k: Kernel, profile: Profile, name: string): unknown {
  const kname = kernelSysctlName(k, profile, name);
  if (kname === null) throw new ScriptFailure(`sysctl ${name}: this kernel has no such variable`);
  return k.sysctl.get(kname);
}

/**
 * Set every preset of the profile. All missing names are reported together,
 * so one run shows everything the kernel lacks for these scripts.
 */
export function applyProfile(k: Kernel, profile: Profile): void {
  const missing: string[] = [];
  const refused: string[] = [];
  for (const r of profile.rules) {
    if (r.preset === null) continue;
    try {
      writeSysctl(k, profile, r.name, String(r.preset));
    } catch (e) {
      if (!(e instanceof ScriptFailure)) throw e;
      if (kernelSysctlName(k, profile, r.name) === null) missing.push(`${r.name}=${r.preset}`);
      else refused.push(e.reason);
    }
  }
  if (missing.length || refused.length) {
    const details: string[] = [];
    if (missing.length) details.push(`  the kernel has no sysctl for: ${missing.join(', ')}`);
    for (const r of refused) details.push(`  ${r}`);
    throw new ScriptFailure(`the ${profile.name} profile cannot be applied to this kernel`, details);
  }
}
