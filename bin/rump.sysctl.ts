#!/usr/bin/env node
/*
 * rump.sysctl: NetBSD's sysctl(8) against a rump kernel.
 *
 *   rump.sysctl [-enq] name ...            read (a node: every leaf under it)
 *   rump.sysctl [-enq] -a                  every leaf
 *   rump.sysctl [-nq] -w name=value ...    write, printing "name: old -> new"
 *
 *   net.inet.ip.forwarding = 0
 *   net.inet.ip.stats.total = 12           (a record: one line per counter)
 *
 * Errors as NetBSD's: an unknown name is "third level name 'x' in
 * 'net.inet.x' is invalid", writing a read-only leaf "kern.ostype:
 * Operation not permitted", a bad value "Invalid argument"; exit status 1.
 */
import { EISDIR, ENOENT, strerror } from '../kern/errno.js';
import { errText, errnoOf, errx, exit, getopt, guard, runIfMain, withSys, type SysLike, type ToolIO } from './common.js';

const PROG = 'rump.sysctl';
const USAGE =
  `usage: ${PROG} [-enq] [-w] name[=value] ...\n` +
  `       ${PROG} [-enq] -a\n`;

const LEVELS = ['top', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth', 'eleventh', 'twelfth'];

interface Flags {
  /** -n: values only. */
  valuesOnly: boolean;
  /** -e: name=value without spaces. */
  equals: boolean;
  /** -q: no output for writes. */
  quiet: boolean;
}

type Entry = { name: string; value: unknown };

function usage(io: ToolIO): never {
  io.stderr(USAGE);
  exit(1);
}

/** A leaf value as text: numbers and strings as they are. */
function valueText(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
}

/** Leaves as lines; a record leaf gives one line per counter (`name.counter = N`). */
export function formatEntries(entries: readonly Entry[], f: Pick<Flags, 'valuesOnly' | 'equals'>): string {
  let out = '';
  const emit = (name: string, v: unknown): void => {
    if (v !== null && typeof v === 'object') {
      if (Array.isArray(v)) v.forEach((x, i) => emit(`${name}.${i}`, x));
      else for (const [k, x] of Object.entries(v)) emit(`${name}.${k}`, x);
      return;
    }
    out += f.valuesOnly ? `${valueText(v)}\n` : f.equals ? `${name}=${valueText(v)}\n` : `${name} = ${valueText(v)}\n`;
  };
  for (const e of entries) emit(e.name, e.value);
  return out;
}

/**
 * NetBSD's complaint about a name: the first component that does not
 * exist, and its level ("third level name 'x' in 'net.inet.x' is invalid").
 */
async function invalidName(sys: SysLike, name: string): Promise<string> {
  const parts = name.split('.');
  const complaint = (i: number): string => `${LEVELS[i] ?? `level ${i + 1}`} level name '${parts[i]}' in '${name}' is invalid`;
  for (let i = 0; i < parts.length; i++) {
    const prefix = parts.slice(0, i + 1).join('.');
    if (parts[i] === '') return complaint(i);
    let below;
    try {
      below = await sys.sysctlList(prefix);
    } catch {
      return complaint(i);
    }
    // A leaf has nothing below it: the next part of a longer name is the invalid one.
    if (i < parts.length - 1 && !below.some((e) => e.name !== prefix)) return complaint(i + 1);
  }
  return `${name}: ${strerror(ENOENT)}`;
}

/** Every leaf at or under `name`, or a counter inside a record leaf. */
async function read(sys: SysLike, name: string): Promise<Entry[]> {
  try {
    return (await sys.sysctlList(name)).map((e) => ({ name: e.name, value: e.value }));
  } catch (e) {
    if (errnoOf(e) !== ENOENT) errx(`${name}: ${errText(e)}`);
  }
  // net.inet.ip.stats.total: one counter of a record.
  const dot = name.lastIndexOf('.');
  if (dot > 0) {
    try {
      const rec = await sys.sysctl(name.slice(0, dot));
      const key = name.slice(dot + 1);
      if (rec !== null && typeof rec === 'object' && key in rec) {
        return [{ name, value: (rec as Record<string, unknown>)[key] }];
      }
    } catch {
      // fall through to the complaint
    }
  }
  errx(await invalidName(sys, name));
}

async function write(sys: SysLike, name: string, value: string, f: Flags, io: ToolIO): Promise<void> {
  let old: unknown;
  try {
    old = await sys.sysctl(name);
  } catch (e) {
    const n = errnoOf(e);
    if (n === ENOENT) errx(await invalidName(sys, name));
    if (n === EISDIR) errx(`${name}: cannot write to a node`);
    errx(`${name}: ${errText(e)}`);
  }
  try {
    await sys.sysctlSet(name, value);
  } catch (e) {
    errx(`${name}: ${errText(e)}`);
  }
  if (f.quiet) return;
  const now = await sys.sysctl(name);
  io.stdout(f.valuesOnly ? `${valueText(old)} -> ${valueText(now)}\n` : `${name}: ${valueText(old)} -> ${valueText(now)}\n`);
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  return guard(PROG, io, async () => {
    const g = getopt(PROG, io, argv, 'aAenqw');
    if (!g) usage(io);
    const has = (c: string): boolean => g.opts.some(([o]) => o === c);
    const f: Flags = { valuesOnly: has('n'), equals: has('e'), quiet: has('q') };
    const all = has('a') || has('A');
    const wflag = has('w');
    const names = g.rest;
    if (all ? names.length > 0 || wflag : names.length === 0) usage(io);
    if (!wflag && names.some((n) => n.includes('='))) errx('Must specify -w to set variables');

    return withSys(PROG, io, async (sys) => {
      if (all) {
        io.stdout(formatEntries(await read(sys, ''), f));
        return 0;
      }
      for (const arg of names) {
        const eq = arg.indexOf('=');
        if (wflag && eq >= 0) await write(sys, arg.slice(0, eq), arg.slice(eq + 1), f, io);
        else io.stdout(formatEntries(await read(sys, arg), f));
      }
      return 0;
    });
  });
}

runIfMain(import.meta.url, PROG, main);
