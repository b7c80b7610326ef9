#!/usr/bin/env node
/*
 * shmif_pcapin pcapfile buspath
 *
 * Put every frame of an Ethernet pcap file onto an existing shmif bus, as
 * NetBSD's shmif_pcapin does (see shmif/pcapin.ts for the differences): it
 * prints the bus header line, writes the frames under the bus lock, then
 * wakes the bus's readers. The bus file is mapped shared through the node
 * host, so kernels running on it in other processes see the frames arrive.
 */

import { readFileSync, statSync } from 'node:fs';

import { createNodeHost } from '../hypercall/node.js';
import type { BusMapping } from '../hypercall/types.js';
import { PCAP_LINKTYPE_ETHERNET, readPcap } from '../net/wire/pcap.js';
import { BUS_SIZE, busAttach } from '../shmif/bus.js';
import { formatBusHeaderLine, readBusHeader } from '../shmif/dumpbus.js';
import { pcapIn } from '../shmif/pcapin.js';
import { type ToolIO, fsErrorText, isEntryPoint } from './shmif_dumpbus.js';

const PROG = 'shmif_pcapin';
const USAGE = `usage: ${PROG} pcap-file-path bus-path\n`;

export async function main(argv: readonly string[], io: ToolIO): Promise<number> {
  let args = argv;
  if (args[0] === '--') args = args.slice(1);
  else if (args.some((a) => a.length > 1 && a[0] === '-')) {
    io.stderr.write(USAGE);
    return 1;
  }
  if (args.length !== 2) {
    io.stderr.write(USAGE);
    return 1;
  }
  const pcapPath = args[0]!;
  const busPath = args[1]!;

  let pcap: Uint8Array;
  try {
    pcap = readFileSync(pcapPath);
  } catch (err) {
    io.stderr.write(`${PROG}: ${pcapPath}: ${fsErrorText(err)}\n`);
    return 1;
  }
  // Check the capture before touching the bus.
  try {
    const file = readPcap(pcap);
    if (file.linktype !== PCAP_LINKTYPE_ETHERNET) {
      io.stderr.write(`${PROG}: ${pcapPath}: link type ${file.linktype} is not Ethernet (${PCAP_LINKTYPE_ETHERNET})\n`);
      return 1;
    }
  } catch (err) {
    io.stderr.write(`${PROG}: ${pcapPath}: ${(err as Error).message}\n`);
    return 1;
  }
  // NetBSD's tool opens the bus without O_CREAT: a typo in the bus path is
  // an error, not a new bus nobody listens on.
  try {
    statSync(busPath);
  } catch (err) {
    io.stderr.write(`${PROG}: ${busPath}: ${fsErrorText(err)}\n`);
    return 1;
  }

  const host = createNodeHost();
  let map: BusMapping;
  try {
    map = host.mapBus(busPath, BUS_SIZE);
  } catch (err) {
    io.stderr.write(`${PROG}: ${busPath}: ${fsErrorText(err)}\n`);
    return 1;
  }
  try {
    try {
      busAttach(map);
      io.stdout.write(formatBusHeaderLine(readBusHeader(map.bytes)));
    } catch (err) {
      io.stderr.write(`${PROG}: ${busPath}: ${(err as Error).message}\n`);
      return 1;
    }
    let result;
    try {
      result = pcapIn(pcap, map);
    } catch (err) {
      io.stderr.write(`${PROG}: ${pcapPath}: ${(err as Error).message}\n`);
      return 1;
    }
    if (result.tooLong > 0) {
      io.stderr.write(`${PROG}: ${pcapPath}: ${result.tooLong} frames longer than 1514 bytes skipped\n`);
    }
    if (result.truncated > 0) {
      io.stderr.write(`${PROG}: ${pcapPath}: ${result.truncated} frames cut short by the capture skipped\n`);
    }
    return 0;
  } finally {
    // The host's wake-up file write is a softint: let it run before unmapping.
    await new Promise<void>((resolve) => host.defer(resolve, undefined));
    map.close();
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
