#!/usr/bin/env node
/*
 * rump.halt [-dhn]
 *
 * NetBSD's rump.halt(1): halt the rump kernel of the rump_server named by
 * RUMP_SERVER. The server answers once its kernel has halted and its socket
 * is removed, then disconnects its clients and exits.
 *
 *   -d   ask for a core dump: a rump kernel here has no core to dump, so
 *        this only prints a note and halts as usual
 *   -h   halt the kernel but keep the host process (it then answers every
 *        call with ESHUTDOWN until it gets SIGTERM)
 *   -n   do not flush the file system cache: there is none, so nothing
 *
 * Exit 0 on success; 1 with a usage line for a bad flag or an operand, and
 * 1 with `rump.halt: ...` when the server cannot be reached or refuses.
 */
import { rumpClient, type RumpClient } from '../sysproxy/client.js';
import { getopt, runIfMain, type ToolIO } from './common.js';

const PROG = 'rump.halt';
const USAGE = `usage: ${PROG} [-dhn]\n`;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function main(argv: string[], io: ToolIO): Promise<number> {
  const g = getopt(PROG, io, argv, 'dhn');
  if (g === null || g.rest.length > 0) {
    io.stderr(USAGE);
    return 1;
  }
  const flags = new Set(g.opts.map(([o]) => o));
  const spec = process.env['RUMP_SERVER'];
  if (spec === undefined || spec === '') {
    io.stderr(`${PROG}: rumpclient init: RUMP_SERVER is not set\n`);
    return 1;
  }
  let client: RumpClient;
  try {
    client = await rumpClient(spec);
  } catch (e) {
    io.stderr(`${PROG}: rumpclient init: ${message(e)}\n`);
    return 1;
  }
  if (flags.has('d')) io.stderr(`${PROG}: -d: a rump kernel here cannot dump core; halting without a dump\n`);
  try {
    await client.halt({ exit: !flags.has('h') });
  } catch (e) {
    io.stderr(`${PROG}: reboot: ${message(e)}\n`);
    return 1;
  } finally {
    await client.close();
  }
  return 0;
}

runIfMain(import.meta.url, PROG, main);
