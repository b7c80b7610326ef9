/*
 * pcapin: put the frames of a pcap file onto a bus, as NetBSD's
 * shmif_pcapin does: one record per frame, in file order, under the bus lock
 * frame by frame, and one wake-up at the end.
 *
 * Differences from NetBSD's tool, on purpose:
 * - Timestamps are the ones recorded in the pcap (NetBSD stamps the time of
 *   day when it writes). Code outside hypercall/ reads no clock, and with
 *   the recorded times a dumpbus of the result gives back the capture.
 * - The sender id is the caller's (NetBSD leaves it uninitialised).
 * - Frames the bus cannot carry are skipped and counted rather than written
 *   whatever their size: longer than 1514 bytes, or truncated by the capture
 *   (caplen < len: NetBSD would copy bytes past the captured ones).
 * - A file that is not an Ethernet capture is refused.
 * - A fresh (all-zero) bus is initialised, as any attacher does.
 */

import type { BusMapping } from '../hypercall/types.js';
import { EBUSY, EINVAL, Errno } from '../kern/errno.js';
import { PCAP_LINKTYPE_ETHERNET, readPcap } from '../net/wire/pcap.js';
import { BusWriter, MAX_FRAME, busAttach, busWakeup } from './bus.js';

export interface PcapInOptions {
  /** Low and high 32 bits of the sender id written in every record. Default 0. */
  senderLo?: number;
  senderHi?: number;
}

export interface PcapInResult {
  /** Frames written onto the bus. */
  written: number;
  /** Frames skipped for being longer than 1514 bytes. */
  tooLong: number;
  /** Frames skipped because the capture holds only part of them. */
  truncated: number;
}

/**
 * Write every Ethernet frame of `pcap` onto the bus mapped at `map`.
 * Throws an Error from readPcap for a bad or truncated pcap, an Errno EINVAL
 * for a link type other than Ethernet (nothing written then), and what
 * busAttach throws; an Errno EBUSY if the bus lock stays held mid-way (the
 * frames before it are on the bus and readers were woken).
 */
export function pcapIn(pcap: Uint8Array, map: BusMapping, opts: PcapInOptions = {}): PcapInResult {
  const file = readPcap(pcap);
  if (file.linktype !== PCAP_LINKTYPE_ETHERNET) {
    const e = new Errno(EINVAL);
    e.message = `pcap link type ${file.linktype} is not Ethernet (${PCAP_LINKTYPE_ETHERNET})`;
    throw e;
  }
  busAttach(map);
  const writer = new BusWriter(map, opts.senderLo ?? 0, opts.senderHi ?? 0);
  const result: PcapInResult = { written: 0, tooLong: 0, truncated: 0 };
  try {
    for (const r of file.records) {
      if (r.caplen < r.len) {
        result.truncated++;
        continue;
      }
      if (r.len > MAX_FRAME) {
        result.tooLong++;
        continue;
      }
      if (!writer.writeFrame(r.data, 0, r.len, r.sec, r.usec)) {
        const e = new Errno(EBUSY);
        e.message = `bus lock held too long; ${result.written} of ${file.records.length} frames written`;
        throw e;
      }
      result.written++;
    }
  } finally {
    if (result.written > 0) busWakeup(map);
  }
  return result;
}
