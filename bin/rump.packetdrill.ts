#!/usr/bin/env node
/*
 * rump.packetdrill [options] script.pkt|directory …
 *
 * Run packetdrill scripts against a rump kernel in this process, on a
 * virtual clock: each script gets a fresh kernel (net, net_net,
 * net_netinet, and net_netinet6 for --ip_version=ipv6) attached to a link
 * the runner drives. Scripts are read unedited; a directory stands for
 * every *.pkt below it, in name order.
 *
 * Options are packetdrill's, as `--name=value` or `--name value`; they
 * override the script's own option lines:
 *   --ip_version, --local_ip, --remote_ip, --gateway_ip, --netmask_ip,
 *   --bind_port, --connect_port, --mtu, --tolerance_usecs,
 *   --tolerance_percent, --tcp_ts_tick_usecs, --non_fatal=packet,syscall,
 *   --define NAME=VALUE (or -D NAME=VALUE), --dry_run (parse only),
 *   --verbose (-v: every event and every matched packet)
 * and the runner's:
 *   --profile=freebsd|none   the sysctl defaults applied first (default freebsd)
 *   --seed=N                 the sim host's random seed (ISNs; default 1)
 *   --strict_packets         fail on outbound packets no line expects
 *
 * Prints a line per script (and, for a failure, where and why: the line,
 * what was expected, what the kernel sent, decoded), then one line
 * `N passed, N failed`. Exit 0 when every script passed, 1 otherwise.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { runScripts, summaryLine, type RunOptions, type ScriptResult } from '../packetdrill/runner.js';
import { formatSeconds } from '../packetdrill/codec.js';
import { runIfMain, type ToolIO } from './common.js';

const PROG = 'rump.packetdrill';
const USAGE = `usage: ${PROG} [--name=value ...] [-D NAME=VALUE] [-v] script.pkt|directory ...\n`;

/** Options that take no value on the command line. */
const FLAGS = new Set(['verbose', 'dry_run', 'strict_packets', 'strict_segments']);

/** Every *.pkt under `dir`, sorted. */
function scriptsIn(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...scriptsIn(p));
    else if (name.endsWith('.pkt')) out.push(p);
  }
  return out;
}

export interface ParsedArgs {
  options: Array<[string, string | null]>;
  defines: Array<[string, string]>;
  paths: string[];
}

/** The command line → options, defines and operands; a string is a usage error. */
export function parseArgs(argv: readonly string[]): ParsedArgs | string {
  const options: Array<[string, string | null]> = [];
  const defines: Array<[string, string]> = [];
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-v') options.push(['verbose', null]);
    else if (a.startsWith('-D')) {
      const d = a === '-D' ? argv[++i] : a.slice(2);
      if (d === undefined) return '-D needs NAME=VALUE';
      const eq = d.indexOf('=');
      defines.push(eq < 0 ? [d, '1'] : [d.slice(0, eq), d.slice(eq + 1)]);
    } else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      if (!/^[A-Za-z0-9_]+$/.test(name)) return `bad option ${a}`;
      let value: string | null = eq < 0 ? null : a.slice(eq + 1);
      if (value === null && !FLAGS.has(name)) {
        value = argv[++i] ?? null;
        if (value === null) return `--${name} needs a value`;
      }
      if (name === 'define') {
        if (value === null) return '--define needs NAME=VALUE';
        const deq = value.indexOf('=');
        defines.push(deq < 0 ? [value, '1'] : [value.slice(0, deq), value.slice(deq + 1)]);
      } else options.push([name, value]);
    } else if (a.startsWith('-') && a !== '-') {
      return `unknown option ${a}`;
    } else paths.push(a);
  }
  return { options, defines, paths };
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  const parsed = parseArgs(argv);
  if (typeof parsed === 'string') {
    io.stderr(`${PROG}: ${parsed}\n${USAGE}`);
    return 1;
  }
  if (parsed.paths.length === 0) {
    io.stderr(USAGE);
    return 1;
  }
  const files: string[] = [];
  for (const p of parsed.paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      // a missing file is reported as that script's failure
    }
    files.push(...(isDir ? scriptsIn(p) : [p]));
  }
  const opts: RunOptions = {
    options: parsed.options,
    defines: parsed.defines,
    log: (line) => io.stdout(`${line}\n`),
  };
  const report = (r: ScriptResult): void => {
    if (r.passed) io.stdout(`ok    ${r.path}  (${r.events} events, ${formatSeconds(r.virtualUs)} s virtual)\n`);
    else io.stdout(`FAIL  ${r.path}\n${indent(r.failure ?? 'failed')}\n`);
    for (const w of r.warnings) io.stdout(`${indent(w)}\n`);
  };
  const suite = await runScripts(files, opts, report);
  io.stdout(`${summaryLine(suite)}\n`);
  return suite.failed === 0 ? 0 : 1;
}

runIfMain(import.meta.url, PROG, main);
