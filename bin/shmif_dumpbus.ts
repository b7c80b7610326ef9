#!/usr/bin/env node
/*
 * shmif_dumpbus [-h] [-p pcapfile] buspath
 *
 * Print a shmif bus's header and one line per frame on it, as NetBSD's
 * shmif_dumpbus does, and with -p write the frames as a pcap file ("-" for
 * stdout; the text then goes to stderr). -h prints only the header line.
 * The bus is read as a snapshot, without the lock, like NetBSD's.
 *
 * With "-p -" NetBSD's tool prints no text at all; we print it on stderr
 * (shmif.md), so the pcap on stdout stays clean and the listing is not lost.
 * Errors read "shmif_dumpbus: PATH: reason" and exit 1; usage errors print
 * the usage line and exit 1.
 */

import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { errnoByName, strerror } from '../kern/errno.js';
import { dumpBus } from '../shmif/dumpbus.js';

/** Where a tool writes; process.stdout/stderr or a test's collectors. */
export interface ToolIO {
  stdout: { write(chunk: string | Uint8Array): unknown };
  stderr: { write(chunk: string | Uint8Array): unknown };
}

const PROG = 'shmif_dumpbus';
const USAGE = `usage: ${PROG} [-h] [-p pcapfile] buspath\n`;

/** strerror(3) text for a Node fs error, NetBSD's wording. */
export function fsErrorText(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    const n = errnoByName(code);
    if (n !== undefined) return strerror(n);
  }
  return err instanceof Error ? err.message : String(err);
}

interface Args {
  headerOnly: boolean;
  pcapfile: string | null;
  buspath: string;
}

/** getopt(3) with "hp:": options first, clustered or not, "--" ends them. Null on a usage error. */
function parseArgs(argv: readonly string[]): Args | null {
  let headerOnly = false;
  let pcapfile: string | null = null;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.length < 2 || a[0] !== '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      if (c === 'h') {
        headerOnly = true;
      } else if (c === 'p') {
        if (j + 1 < a.length) pcapfile = a.slice(j + 1);
        else if (i + 1 < argv.length) pcapfile = argv[++i]!;
        else return null;
        break;
      } else {
        return null;
      }
    }
  }
  if (argv.length - i !== 1) return null;
  return { headerOnly, pcapfile, buspath: argv[i]! };
}

export async function main(argv: readonly string[], io: ToolIO): Promise<number> {
  const args = parseArgs(argv);
  if (args === null) {
    io.stderr.write(USAGE);
    return 1;
  }
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(args.buspath);
  } catch (err) {
    io.stderr.write(`${PROG}: ${args.buspath}: ${fsErrorText(err)}\n`);
    return 1;
  }
  let result;
  try {
    result = dumpBus(bytes, { headerOnly: args.headerOnly });
  } catch (err) {
    io.stderr.write(`${PROG}: ${args.buspath}: ${(err as Error).message}\n`);
    return 1;
  }
  const pcapToStdout = args.pcapfile === '-';
  (pcapToStdout ? io.stderr : io.stdout).write(result.text);
  if (args.pcapfile !== null && !args.headerOnly) {
    if (pcapToStdout) {
      io.stdout.write(result.pcap);
    } else {
      try {
        writeFileSync(args.pcapfile, result.pcap);
      } catch (err) {
        io.stderr.write(`${PROG}: ${args.pcapfile}: ${fsErrorText(err)}\n`);
        return 1;
      }
    }
  }
  if (result.error !== null) {
    io.stderr.write(`${PROG}: ${args.buspath}: ${result.error}\n`);
    return 1;
  }
  return 0;
}

/** True when `moduleUrl` is the script node was started with (not an import). */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

if (isEntryPoint(import.meta.url)) {
  main(process.argv.slice(2), process).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${PROG}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
