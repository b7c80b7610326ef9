#!/usr/bin/env node
/*
 * rump_server [-sv] [-c ncpu] [-l lib] [-o log] [-r ram] [-R resolv.conf] [-H hosts] url
 *
 * NetBSD's rump_server(1): boot a rump kernel linked with the components
 * named by -l and serve its system calls to clients at `url`
 * (unix://PATH or tcp://127.0.0.1:PORT, see sysproxy/url.ts) until a client
 * halts it (rump.halt) or it gets SIGTERM or SIGINT. It then removes its
 * socket and exits 0.
 *
 *   -c ncpu   RUMP_NCPU (hw.ncpu)
 *   -l lib    link a component; NetBSD spellings, value glued or not:
 *             -lrumpnet -lrumpnet_net -l rumpnet_netinet -llibrumpnet_shmif.so
 *   -o log    after detaching, append the server's messages (-v's, a crash's)
 *             to the file `log` instead of discarding them (NetBSD's
 *             rump_server has no such flag; its messages go to syslog)
 *   -r ram    RUMP_MEMLIMIT (bytes, with an optional k, m or g)
 *   -s        stay in the foreground (do not detach)
 *   -v        RUMP_VERBOSE: boot messages
 *   -R file   the kernel's resolver configuration, resolv.conf(5) text
 *             (nameserver, search, options ndots/timeout/attempts); ours,
 *             NetBSD's rump_server has none: its kernels resolve nothing
 *   -H file   the kernel's hosts table, hosts(5) text
 *
 * Without -s the command returns only once the server listens, so a script
 * can use the server on its next line: it starts itself again detached
 * (a new session, stdio on /dev/null), and waits on a pipe for the child to
 * say "listening" or why it could not. Boot messages (-v) the child printed
 * before that are passed back and printed here, as NetBSD's rump_server
 * prints them before it daemonizes. A boot or listen failure is reported
 * here as `rump_server: reason`, exit 1.
 *
 * `tcp://127.0.0.1:0` lets the host pick a free port; the server then prints
 * the URL it listens on (`tcp://127.0.0.1:PORT`) on stdout, one line.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';

import { rumpInit } from '../index.js';
import { createNodeHost } from '../hypercall/node.js';
import type { Kernel } from '../kern/kernel.js';
import { startRumpServer, type RumpServer } from '../sysproxy/server.js';
import { parseRumpUrl } from '../sysproxy/url.js';
import { errText, getopt, runIfMain, type ToolIO } from './common.js';

const PROG = 'rump_server';
const USAGE = `usage: ${PROG} [-sv] [-c ncpu] [-l libs] [-o log] [-r ram] [-R resolv.conf] [-H hosts] url\n`;

/**
 * Set in the detached child's environment: the descriptor of the pipe on
 * which it reports readiness (one JSON line). Internal; not for users.
 */
export const NOTIFY_FD_ENV = 'RUMPNET_SERVER_NOTIFY_FD';

export interface ServerArgs {
  foreground: boolean;
  verbose: boolean;
  ncpu: string | undefined;
  ram: string | undefined;
  libs: string[];
  /** -o: where the detached server's messages go. */
  log: string | undefined;
  url: string;
  /** -R, -H: files for the kernel's resolver. */
  resolvConf?: string;
  hosts?: string;
}

/** What the detached child tells its parent. */
interface Readiness {
  ok: boolean;
  /** The URL it listens on (ok), or why it could not boot or listen. */
  message: string;
  /** Boot messages printed before this point. */
  log: string[];
}

/** getopt "c:l:o:r:svR:H:" and one operand; null (usage printed) on a usage error. */
export function parseServerArgs(argv: readonly string[], io: ToolIO): ServerArgs | null {
  const g = getopt(PROG, io, argv, 'c:l:o:r:svR:H:');
  if (g === null || g.rest.length !== 1) return null;
  const a: ServerArgs = {
    foreground: false, verbose: false, ncpu: undefined, ram: undefined, libs: [], log: undefined, url: g.rest[0]!,
  };
  for (const [opt, val] of g.opts) {
    if (opt === 's') a.foreground = true;
    else if (opt === 'v') a.verbose = true;
    else if (opt === 'c') a.ncpu = val;
    else if (opt === 'r') a.ram = val;
    else if (opt === 'l') a.libs.push(val!);
    else if (opt === 'R') a.resolvConf = val;
    else if (opt === 'H') a.hosts = val;
    else if (opt === 'o') a.log = val!;
  }
  return a;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  const args = parseServerArgs(argv, io);
  if (args === null) {
    io.stderr(USAGE);
    return 1;
  }
  let kind: 'unix' | 'tcp';
  let anyPort = false;
  try {
    const u = parseRumpUrl(args.url);
    kind = u.kind;
    anyPort = u.kind === 'tcp' && u.port === 0;
  } catch (e) {
    io.stderr(`${PROG}: ${message(e)}\n`);
    return 1;
  }
  const notifyFd = process.env[NOTIFY_FD_ENV];
  if (notifyFd === undefined && kind === 'tcp') {
    io.stderr(
      `${PROG}: warning: serving on ${args.url}: anyone who can connect to this port ` +
        'controls the rump kernel (there is no authentication)\n',
    );
  }
  if (notifyFd !== undefined) {
    delete process.env[NOTIFY_FD_ENV];
    return serve(args, io, Number(notifyFd), false);
  }
  if (args.foreground) return serve(args, io, null, anyPort);
  return detach(argv, args, io, anyPort);
}

/** Flags that load a module by name, resolved against this file rather than the working directory. */
const IMPORT_FLAGS = new Set(['--import', '--loader', '--experimental-loader', '--require', '-r']);

function isBareSpecifier(spec: string): boolean {
  return !/^(\.|\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(spec);
}

/**
 * Node's own flags for the child. A loader named by package (`--import=tsx`)
 * is looked up from the working directory, which the child keeps (relative
 * socket and bus paths mean what the user meant), so it may not be found
 * there; name it by its resolved location instead.
 */
function childExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  const require = createRequire(import.meta.url);
  const resolveSpec = (flag: string, spec: string): string => {
    if (!isBareSpecifier(spec)) return spec;
    try {
      return flag === '--require' || flag === '-r' ? require.resolve(spec) : import.meta.resolve(spec);
    } catch {
      return spec;
    }
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (!IMPORT_FLAGS.has(flag)) {
      out.push(a);
    } else if (eq > 0) {
      out.push(`${flag}=${resolveSpec(flag, a.slice(eq + 1))}`);
    } else if (i + 1 < args.length) {
      out.push(flag, resolveSpec(flag, args[++i]!));
    } else {
      out.push(a);
    }
  }
  return out;
}

/**
 * Start this program again, detached, with the same arguments, and wait
 * for it to report. Resolves 0 once the child listens.
 */
async function detach(argv: readonly string[], args: ServerArgs, io: ToolIO, anyPort: boolean): Promise<number> {
  const script = fileURLToPath(import.meta.url);
  let logFd: number | 'ignore' = 'ignore';
  if (args.log !== undefined) {
    try {
      logFd = openSync(args.log, 'a', 0o600);
    } catch (e) {
      io.stderr(`${PROG}: ${args.log}: ${errText(e)}\n`);
      return 1;
    }
  }
  const child = spawn(process.execPath, [...childExecArgv(), script, ...argv], {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'pipe'],
    env: { ...process.env, [NOTIFY_FD_ENV]: '3' },
    cwd: process.cwd(),
  });
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal !== null ? `killed by ${signal}` : `exit status ${code}`));
    child.once('error', (e) => resolve(e.message));
  });
  const pipe = child.stdio[3] as Readable | null;
  if (pipe === null) {
    io.stderr(`${PROG}: cannot start the server process (${await exited})\n`);
    return 1;
  }
  const report = await new Promise<Readiness | null>((resolve) => {
    let text = '';
    pipe.setEncoding('utf8');
    pipe.on('data', (chunk: string) => {
      text += chunk;
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      try {
        resolve(JSON.parse(text.slice(0, nl)) as Readiness);
      } catch {
        resolve(null);
      }
    });
    pipe.once('end', () => resolve(null));
    pipe.once('error', () => resolve(null));
  });
  pipe.destroy();
  if (report === null) {
    io.stderr(`${PROG}: the server process ended before it listened (${await exited})\n`);
    return 1;
  }
  for (const line of report.log) io.stderr(line.endsWith('\n') ? line : `${line}\n`);
  if (!report.ok) {
    io.stderr(`${PROG}: ${report.message}\n`);
    return 1;
  }
  child.unref();
  if (typeof logFd === 'number') closeSync(logFd);
  if (anyPort) io.stdout(`${report.message}\n`);
  return 0;
}

/** Report to the parent (detached mode); a parent that went away is not an error. */
function notify(fd: number | null, r: Readiness): void {
  if (fd === null) return;
  try {
    writeSync(fd, `${JSON.stringify(r)}\n`);
    closeSync(fd);
  } catch {
    // nobody is waiting any more
  }
}

/** Boot, listen, and serve until halted or signalled. */
async function serve(args: ServerArgs, io: ToolIO, notifyFd: number | null, anyPort: boolean): Promise<number> {
  const host = createNodeHost();
  const bootLog: string[] = [];
  let collecting = notifyFd !== null;
  if (collecting) {
    // Until the parent has printed them, boot messages travel in the readiness report.
    const print = host.log.bind(host);
    host.log = (msg: string) => {
      if (collecting) bootLog.push(msg);
      else print(msg);
    };
  }
  const fail = (why: string): number => {
    if (notifyFd !== null) {
      collecting = false;
      notify(notifyFd, { ok: false, message: why, log: bootLog });
    } else {
      io.stderr(`${PROG}: ${why}\n`);
    }
    return 1;
  };

  const env: Record<string, string> = {};
  if (args.ncpu !== undefined) env['RUMP_NCPU'] = args.ncpu;
  if (args.ram !== undefined) env['RUMP_MEMLIMIT'] = args.ram;
  if (args.verbose) env['RUMP_VERBOSE'] = '1';

  let kernel: Kernel;
  try {
    const read = (f: string | undefined): string | undefined => (f === undefined ? undefined : readFileSync(f, 'utf8'));
    kernel = await rumpInit({ components: args.libs, env, host, resolvConf: read(args.resolvConf), hosts: read(args.hosts) });
  } catch (e) {
    return fail(message(e));
  }

  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let server: RumpServer;
  try {
    server = await startRumpServer(kernel, args.url, { onHalt: stop });
  } catch (e) {
    await kernel.halt();
    return fail(message(e));
  }
  const onSignal = (): void => stop();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  kernel.verbose(`${PROG}: listening on ${server.url}`);
  if (anyPort) io.stdout(`${server.url}\n`);
  collecting = false;
  notify(notifyFd, { ok: true, message: server.url, log: bootLog });

  await stopped;
  process.removeListener('SIGTERM', onSignal);
  process.removeListener('SIGINT', onSignal);
  await server.close();
  await kernel.halt();
  return 0;
}

runIfMain(import.meta.url, PROG, main);
