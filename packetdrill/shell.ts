/*
 * The shell commands of a script (`` `…` `` lines), interpreted against the
 * rump kernel, never run on the host: a script's `sysctl -w` is meant for
 * the stack under test, not for the machine running the tests.
 *
 *   sysctl [-n] [-w] name[=value] …   the kernel's sysctl, through the profile's names
 *   sockstat [-46clnqsu] [-P proto,…] [-p port,…]
 *                                     the kernel's PCBs, one line each, FreeBSD's columns
 *   tcpdrop -a | -s STATE | laddr lport faddr fport
 *                                     drop connections (the kernel's `tcpdrop` call)
 *   grep [-civwxqFE] [-e] PATTERN, wc -l, true
 *                                     filters in a pipeline
 *
 * Commands join with `|` only; the pipeline's status is its last command's,
 * as in sh. Anything else (another program, `;`, `&&`, redirections, `$(…)`)
 * fails the script with a message naming what was not understood.
 */
import type { Kernel } from '../kern/kernel.js';
import { Errno } from '../kern/errno.js';
import { ScriptFailure, Unsupported } from './failure.js';
import { readSysctl, writeSysctl, type Profile } from './profile.js';

export interface ShellEnv {
  kernel: Kernel;
  profile: Profile;
  /** The process name sockstat shows for the runner's sockets (FreeBSD cuts names to 10 characters). */
  command?: string;
}

interface Output {
  lines: string[];
  status: number;
}

/** A PCB as the kernel's `pcblist` call returns it (TCP entries carry `state`). */
interface PcbEntry {
  proto: string;
  laddr: string;
  lport: number;
  faddr: string;
  fport: number;
  state?: string | number;
  recvQ?: number;
  sendQ?: number;
}

/** BSD's tcpstates[] (sockstat, netstat and tcpdrop -s use these names). */
const TCP_STATES = [
  'CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RCVD', 'ESTABLISHED', 'CLOSE_WAIT',
  'FIN_WAIT_1', 'CLOSING', 'LAST_ACK', 'FIN_WAIT_2', 'TIME_WAIT',
];

/** A kernel's state name or number → BSD's name (SYN_RECEIVED and SYN_RCVD are the same state). */
export function bsdStateName(state: string | number | undefined): string {
  if (typeof state === 'number') return TCP_STATES[state] ?? `state ${state}`;
  if (state === undefined) return '';
  const s = state.toUpperCase().replace(/[- ]/g, '_');
  if (s === 'SYN_RECEIVED') return 'SYN_RCVD';
  return s;
}

/** Split a command line into words, honouring '…' and "…" quotes and backslashes, and cut it at `|`. */
export function splitPipeline(cmd: string): string[][] {
  const stages: string[][] = [[]];
  let word: string | null = null;
  const end = (): void => {
    if (word !== null) stages[stages.length - 1]!.push(word);
    word = null;
  };
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      end();
      continue;
    }
    if (c === '|') {
      if (cmd[i + 1] === '|') throw new Unsupported(`'||' in \`${cmd}\`: the runner interprets pipelines of simple commands only`);
      end();
      if (stages[stages.length - 1]!.length === 0) throw new ScriptFailure(`empty command before '|' in \`${cmd}\``);
      stages.push([]);
      continue;
    }
    if (';&<>$`(){}'.includes(c)) {
      throw new Unsupported(`'${c}' in \`${cmd}\`: the runner interprets pipelines of simple commands only (no ; && redirections or substitutions)`);
    }
    if (c === "'") {
      const close = cmd.indexOf("'", i + 1);
      if (close < 0) throw new ScriptFailure(`unterminated ' in \`${cmd}\``);
      word = (word ?? '') + cmd.slice(i + 1, close);
      i = close;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let s = '';
      for (; j < cmd.length && cmd[j] !== '"'; j++) {
        if (cmd[j] === '\\' && j + 1 < cmd.length) j++;
        s += cmd[j];
      }
      if (j >= cmd.length) throw new ScriptFailure(`unterminated " in \`${cmd}\``);
      word = (word ?? '') + s;
      i = j;
      continue;
    }
    if (c === '\\' && i + 1 < cmd.length) {
      word = (word ?? '') + cmd[++i];
      continue;
    }
    word = (word ?? '') + c;
  }
  end();
  if (stages[stages.length - 1]!.length === 0) throw new ScriptFailure(`empty command in \`${cmd}\``);
  return stages;
}

/**
 * Interpret one command line. Resolves when its status is 0; throws
 * ScriptFailure (status not 0, with what each stage printed) or Unsupported.
 */
export async function runShellCommand(cmd: string, env: ShellEnv): Promise<void> {
  const stages = splitPipeline(cmd);
  let input: string[] = [];
  const trace: string[] = [];
  let last: Output = { lines: [], status: 0 };
  for (const argv of stages) {
    last = await runOne(argv, input, env);
    trace.push(`  ${argv.join(' ')} → status ${last.status}${last.lines.length ? `, printed:` : ', printed nothing'}`);
    for (const l of last.lines.slice(0, 20)) trace.push(`      ${l}`);
    if (last.lines.length > 20) trace.push(`      … ${last.lines.length - 20} more lines`);
    input = last.lines;
  }
  if (last.status !== 0) throw new ScriptFailure(`\`${cmd}\` exited with status ${last.status}`, trace);
}

async function runOne(argv: string[], input: string[], env: ShellEnv): Promise<Output> {
  const [prog, ...args] = argv as [string, ...string[]];
  switch (prog) {
    case 'sysctl':
      return sysctl(args, env);
    case 'sockstat':
      return sockstat(args, env);
    case 'tcpdrop':
      return tcpdrop(args, env);
    case 'grep':
      return grep(args, input);
    case 'wc':
      if (args.length === 1 && args[0] === '-l') return { lines: [String(input.length)], status: 0 };
      throw new Unsupported(`wc ${args.join(' ')}: the runner interprets only wc -l`);
    case 'true':
    case ':':
      return { lines: [], status: 0 };
    default:
      throw new Unsupported(
        `shell command '${prog}' is not interpreted by the runner (it runs nothing on the host; it knows sysctl, sockstat, tcpdrop, grep, wc -l)`,
      );
  }
}

/** Flags given as -abc or separately, with `withArg` letters taking the next word. */
function getopts(prog: string, args: string[], known: string, withArg: string): { flags: Map<string, string>; rest: string[] } {
  const flags = new Map<string, string>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const f = a[j]!;
      if (withArg.includes(f)) {
        const v = j + 1 < a.length ? a.slice(j + 1) : args[++i];
        if (v === undefined) throw new ScriptFailure(`${prog}: -${f} needs an argument`);
        flags.set(f, v);
        break;
      }
      if (!known.includes(f)) throw new Unsupported(`${prog} -${f}: option not interpreted by the runner (it knows -${known}${withArg ? ` and -${[...withArg].join(' -')} ARG` : ''})`);
      flags.set(f, '');
    }
  }
  return { flags, rest: args.slice(i) };
}

function sysctl(args: string[], env: ShellEnv): Output {
  const { flags, rest } = getopts('sysctl', args, 'nwq', '');
  if (rest.length === 0) throw new Unsupported('sysctl without a name: the runner does not list the whole tree');
  const lines: string[] = [];
  for (const op of rest) {
    const eq = op.indexOf('=');
    if (eq >= 0) {
      const w = writeSysctl(env.kernel, env.profile, op.slice(0, eq), op.slice(eq + 1));
      if (!flags.has('q')) lines.push(w.noop ? `${w.name}: ${w.value} (no-op: ${w.noop})` : `${w.name}: ${String(w.old)} -> ${w.value}`);
    } else {
      if (flags.has('w')) throw new ScriptFailure(`sysctl -w ${op}: expected name=value`);
      const v = readSysctl(env.kernel, env.profile, op);
      const text = typeof v === 'object' ? JSON.stringify(v) : String(v);
      lines.push(flags.has('n') ? text : `${op}: ${text}`);
    }
  }
  return { lines, status: 0 };
}

async function pcblist(env: ShellEnv): Promise<PcbEntry[]> {
  try {
    return await env.kernel.sys.ext('pcblist');
  } catch (e) {
    if (e instanceof Errno) throw new ScriptFailure(`sockstat: the kernel's pcblist call failed: ${e.message}`);
    throw e;
  }
}

function listOf(v: string | undefined): string[] | null {
  return v === undefined ? null : v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

/**
 * FreeBSD's sockstat(1) over the kernel's PCBs. Every socket of a rump
 * kernel belongs to the runner, so each line shows the runner's command
 * name; the fd column is `??` (the PCB list does not say which descriptor).
 */
async function sockstat(args: string[], env: ShellEnv): Promise<Output> {
  const { flags, rest } = getopts('sockstat', args, '46clnqsuwv', 'Pp');
  if (rest.length) throw new ScriptFailure(`sockstat: unexpected operand ${rest[0]}`);
  const protos = listOf(flags.get('P'));
  const ports = listOf(flags.get('p'))?.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ScriptFailure(`sockstat -p ${p}: not a port`);
    return n;
  });
  const want4 = flags.has('4') || !flags.has('6');
  const want6 = flags.has('6') || !flags.has('4');
  const cmdName = (env.command ?? 'packetdrill').slice(0, 10);
  const lines: string[] = [];
  if (!flags.has('q')) lines.push(`USER     COMMAND    PID   FD PROTO  LOCAL ADDRESS         FOREIGN ADDRESS${flags.has('s') ? '       PATH STATE   CONN STATE' : ''}`);
  if (flags.has('u') && !flags.has('4') && !flags.has('6')) return { lines, status: 0 };
  // The kernel lists IPv6 PCBs as tcp6/udp6; sockstat's PROTO column says tcp4 or tcp6.
  const wildcard = (a: string): boolean => a === '0.0.0.0' || a === '::' || a === '*';
  for (const p of await pcblist(env)) {
    const listed = p.proto.toLowerCase();
    const v6 = listed.endsWith('6');
    const proto = v6 ? listed.slice(0, -1) : listed;
    if (v6 ? !want6 : !want4) continue;
    if (protos && !protos.includes(proto)) continue;
    if (ports && !ports.includes(p.lport) && !ports.includes(p.fport)) continue;
    const state = proto === 'tcp' ? bsdStateName(p.state) : '';
    const listening = proto === 'tcp' ? state === 'LISTEN' : wildcard(p.faddr);
    if (flags.has('l') && !listening) continue;
    if (flags.has('c') && listening) continue;
    const local = `${wildcard(p.laddr) ? '*' : p.laddr}:${p.lport === 0 ? '*' : p.lport}`;
    const foreign = `${wildcard(p.faddr) ? '*' : p.faddr}:${p.fport === 0 ? '*' : p.fport}`;
    let line = `root     ${cmdName.padEnd(10)} ${'1'.padStart(5)} ${'??'.padStart(4)} ${(proto + (v6 ? '6' : '4')).padEnd(6)} ${local.padEnd(21)} ${foreign.padEnd(21)}`;
    if (flags.has('s')) line += ` ${state}`;
    lines.push(line.trimEnd());
  }
  return { lines, status: 0 };
}

/** FreeBSD's tcpdrop(8): -a all, -s STATE, or one connection by its four-tuple. */
async function tcpdrop(args: string[], env: ShellEnv): Promise<Output> {
  const { flags, rest } = getopts('tcpdrop', args, 'al', 's');
  const all = await pcblist(env);
  const tcp = all.filter((p) => /^tcp6?$/.test(p.proto.toLowerCase()) && bsdStateName(p.state) !== 'LISTEN');
  let victims: PcbEntry[];
  if (flags.has('a') || flags.has('s')) {
    if (rest.length) throw new ScriptFailure(`tcpdrop: -a and -s take no addresses`);
    const state = flags.get('s')?.toUpperCase();
    victims = state === undefined ? tcp : tcp.filter((p) => bsdStateName(p.state) === bsdStateName(state));
  } else {
    if (rest.length !== 4) throw new ScriptFailure('usage: tcpdrop laddr lport faddr fport | -a | -s state');
    const [laddr, lport, faddr, fport] = rest as [string, string, string, string];
    victims = tcp.filter((p) => p.laddr === laddr && String(p.lport) === lport && p.faddr === faddr && String(p.fport) === fport);
    if (victims.length === 0) throw new ScriptFailure(`tcpdrop: ${laddr} ${lport} ${faddr} ${fport}: no such connection`);
  }
  const lines: string[] = [];
  for (const v of victims) {
    const tuple = `${v.laddr} ${v.lport} ${v.faddr} ${v.fport}`;
    if (flags.has('l')) {
      lines.push(`tcpdrop ${tuple}`);
      continue;
    }
    try {
      await env.kernel.sys.ext('tcpdrop', { laddr: v.laddr, lport: v.lport, faddr: v.faddr, fport: v.fport });
    } catch (e) {
      if (e instanceof Errno) throw new ScriptFailure(`tcpdrop ${tuple}: the kernel's tcpdrop call failed: ${e.message}`);
      throw e;
    }
    lines.push(`${tuple}: dropped`);
  }
  return { lines, status: 0 };
}

/** grep(1) over the previous stage's lines: -c -i -v -w -x -q -F -E -e. */
function grep(args: string[], input: string[]): Output {
  const { flags, rest } = getopts('grep', args, 'civwxqFEGs', 'e');
  let pattern = flags.get('e');
  const operands = pattern === undefined ? rest.slice(1) : rest;
  if (pattern === undefined) pattern = rest[0];
  if (pattern === undefined) throw new ScriptFailure('grep: no pattern');
  if (operands.length) throw new Unsupported(`grep ${operands.join(' ')}: the runner's grep reads only its pipeline, not files`);
  let source: string;
  if (flags.has('F')) source = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  else if (flags.has('E')) source = pattern;
  else source = basicRegex(pattern);
  if (flags.has('w')) source = `(?<![A-Za-z0-9_])(?:${source})(?![A-Za-z0-9_])`;
  if (flags.has('x')) source = `^(?:${source})$`;
  let re: RegExp;
  try {
    re = new RegExp(source, flags.has('i') ? 'i' : '');
  } catch {
    throw new ScriptFailure(`grep: bad pattern ${pattern}`);
  }
  const hits = input.filter((l) => re.test(l) !== flags.has('v'));
  const status = hits.length > 0 ? 0 : 1;
  if (flags.has('q')) return { lines: [], status };
  if (flags.has('c')) return { lines: [String(hits.length)], status };
  return { lines: hits, status };
}

/** POSIX basic regular expression → JavaScript: + ? | ( ) { } are literal unless escaped. */
function basicRegex(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\' && i + 1 < p.length) {
      const n = p[++i]!;
      out += '+?|(){}'.includes(n) ? n : `\\${n}`;
    } else if ('+?|(){}'.includes(c)) out += `\\${c}`;
    else out += c;
  }
  return out;
}
