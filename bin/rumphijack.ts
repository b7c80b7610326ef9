#!/usr/bin/env node
/*
 * rumphijack [-p] | rumphijack program [arg ...]
 *
 * Run an unmodified, dynamically linked program with its sockets in the
 * rump kernel of the rump_server named by RUMP_SERVER: the program runs
 * with librumphijack.so (sysproxy/native/rumphijack.c) in LD_PRELOAD, as
 * NetBSD runs programs with `env LD_PRELOAD=/usr/lib/librumphijack.so`.
 * RUMPHIJACK selects what is hijacked (docs/HIJACK-NATIVE.md).
 *
 *   -p   print the library's path (for LD_PRELOAD=$(rumphijack -p) ...)
 *
 * The program's exit status is rumphijack's; a signal that ends it ends
 * rumphijack the same way, and SIGINT, SIGTERM and SIGHUP are passed on.
 * Exit 1 with a usage line for bad arguments, 1 with a message when the
 * library is not built or RUMP_SERVER is not set, 127 when the program is
 * not found.
 */
import { spawn } from 'node:child_process';
import { hijackLibraryPath } from '../hypercall/node.js';
import { runIfMain, type ToolIO } from './common.js';

const PROG = 'rumphijack';
const USAGE = `usage: ${PROG} -p\n       ${PROG} program [arg ...]\n`;

export async function main(argv: string[], io: ToolIO): Promise<number> {
  if (argv.length === 0 || (argv[0]!.startsWith('-') && argv[0] !== '-p') || (argv[0] === '-p' && argv.length > 1)) {
    io.stderr(USAGE);
    return 1;
  }
  const lib = hijackLibraryPath();
  if (lib === null) {
    io.stderr(`${PROG}: librumphijack.so is not built (it is built with the addon at npm install, on Linux)\n`);
    return 1;
  }
  if (argv[0] === '-p') {
    io.stdout(`${lib}\n`);
    return 0;
  }
  if (!process.env['RUMP_SERVER']) {
    io.stderr(`${PROG}: RUMP_SERVER is not set\n`);
    return 1;
  }
  const preload = process.env['LD_PRELOAD'] ? `${lib}:${process.env['LD_PRELOAD']}` : lib;
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env: { ...process.env, LD_PRELOAD: preload } });
  const pass = (sig: NodeJS.Signals): void => void child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, pass);
  return new Promise<number>((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      io.stderr(`${PROG}: ${argv[0]}: ${e.code === 'ENOENT' ? 'not found' : e.message}\n`);
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, pass);
      if (signal !== null) process.kill(process.pid, signal);
      resolve(code ?? 1);
    });
  });
}

runIfMain(import.meta.url, PROG, main);
