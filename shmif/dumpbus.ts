/*
 * dumpbus: a bus file -> NetBSD shmif_dumpbus's text and a pcap file.
 *
 * Output is exactly NetBSD's (the fixtures in test/fixtures/netbsd/ are
 * NetBSD's own dumps of NetBSD's own buses; the tests compare byte for byte):
 *
 *   bus version 3, lock: 0, generation: 0, firstoff: 0xfffe0, lastoff: 0x06d8
 *   packet 0, offset 0x0030, length 0x002a, ts 1/080008
 *
 * printf formats: version and lock %d, generation %PRIu64, offsets and
 * lengths 0x%04x, ts %d/%06d. A packet's offset is the data offset of its
 * frame bytes (after the 24-byte record header).
 *
 * The walk goes from `first` (DATASIZE, "none yet", counts as 0) to `last`
 * inclusive, across the end of the ring when last < first, skipping
 * zero-length records, without the lock: it reads a snapshot. A bus of the
 * other byte order (byte-swapped magic) is read by swapping every field.
 * pcap: link type Ethernet, snaplen 1518, caplen = len, ts = the record's.
 *
 * Where we differ from NetBSD's tool: a bus of version 0 (attached, nothing
 * sent yet) is dumped rather than refused, as shmif.md says readers accept
 * it; a record longer than the snaplen goes into the pcap cut to 1518 bytes
 * (NetBSD writes caplen > snaplen, which readers may reject; only a corrupt
 * or jumbo-carrying bus has one); and the walk stops after the record at
 * `last` (see the loop), where NetBSD could run on into stale bytes.
 */

import { EINVAL, ENOEXEC, Errno } from '../kern/errno.js';
import { PCAP_LINKTYPE_ETHERNET, PcapWriter } from '../net/wire/pcap.js';
import {
  BUS_SIZE,
  BusHeaderView,
  DATASIZE,
  HDR_SIZE,
  HOST_LITTLE_ENDIAN,
  PKTHDR_SIZE,
  PKT_OFF_LEN,
  PKT_OFF_SEC,
  PKT_OFF_USEC,
  SHMIF_MAGIC,
  SHMIF_VERSION,
  bswap32,
  getU32,
  ringCopyOut,
  ringGetU32,
} from './bus.js';

/** What shmif_dumpbus writes as the pcap snaplen (the 1514-byte frame plus an FCS that is never there). */
export const DUMPBUS_SNAPLEN = 1518;

export interface DumpBusOptions {
  /** Stop after the header line (`shmif_dumpbus -h`); no pcap. */
  headerOnly?: boolean;
}

export interface DumpBusResult {
  /** The text shmif_dumpbus prints, lines ending in "\n". */
  text: string;
  /** The pcap file (empty with headerOnly). */
  pcap: Uint8Array;
  /** Packet lines printed. */
  packets: number;
  /**
   * Set when the walk stopped at a record that cannot be one (a length
   * beyond the ring): a bus corrupted by someone. Text and pcap hold what
   * came before it.
   */
  error: string | null;
}

/** The decoded bus header, in the bus's own byte order. */
export interface BusHeaderInfo {
  version: number;
  lock: number;
  gen: bigint;
  first: number;
  last: number;
  /** True for a bus written by a host of the other byte order. */
  swapped: boolean;
}

function notABus(message: string): Errno {
  const e = new Errno(ENOEXEC);
  e.message = message;
  return e;
}

/**
 * Read and check the header of a bus image. Throws an Errno: ENOEXEC "not a
 * shmif bus" when the magic is wrong in both byte orders, ENOEXEC "bus
 * version V, program 3" for a version other than 3 (or 0: a bus nobody has
 * sent on yet), EINVAL when the image is shorter than a bus.
 */
export function readBusHeader(bytes: Uint8Array): BusHeaderInfo {
  if (bytes.length < HDR_SIZE) throw notABus('not a shmif bus');
  const magic = getU32(bytes, 0, HOST_LITTLE_ENDIAN);
  let le = HOST_LITTLE_ENDIAN;
  if (magic !== SHMIF_MAGIC) {
    if (magic !== bswap32(SHMIF_MAGIC)) throw notABus('not a shmif bus');
    le = !le;
  }
  const h = new BusHeaderView(bytes, le);
  const version = h.version;
  if (version !== SHMIF_VERSION && version !== 0) {
    throw notABus(`bus version ${version}, program ${SHMIF_VERSION}`);
  }
  if (bytes.length < BUS_SIZE) {
    const e = new Errno(EINVAL);
    e.message = `truncated shmif bus: ${bytes.length} of ${BUS_SIZE} bytes`;
    throw e;
  }
  return { version, lock: h.lock, gen: h.genBig(), first: h.first, last: h.last, swapped: le !== HOST_LITTLE_ENDIAN };
}

/** printf("%04x") */
function hex4(v: number): string {
  return v.toString(16).padStart(4, '0');
}

/** printf("%d") of a u32 passed as int. */
function int32(v: number): string {
  return String(v | 0);
}

/** printf("%06d") of a u32 passed as int: zero padding after the sign, width 6 in all. */
function int32pad6(v: number): string {
  const s = v | 0;
  return s < 0 ? '-' + String(-s).padStart(5, '0') : String(s).padStart(6, '0');
}

/** The first line of shmif_dumpbus (and of NetBSD's shmif_pcapin), with its "\n". */
export function formatBusHeaderLine(h: BusHeaderInfo): string {
  return (
    `bus version ${int32(h.version)}, lock: ${int32(h.lock)}, generation: ${h.gen}, ` +
    `firstoff: 0x${hex4(h.first)}, lastoff: 0x${hex4(h.last)}\n`
  );
}

/** Dump a bus image (a snapshot of the file). See the file comment; throws as readBusHeader does. */
export function dumpBus(bytes: Uint8Array, opts: DumpBusOptions = {}): DumpBusResult {
  const h = readBusHeader(bytes);
  const head = formatBusHeaderLine(h);
  if (opts.headerOnly) return { text: head, pcap: new Uint8Array(0), packets: 0, error: null };

  const le = h.swapped ? !HOST_LITTLE_ENDIAN : HOST_LITTLE_ENDIAN;
  const lines: string[] = [head];
  const pcap = new PcapWriter({ snaplen: DUMPBUS_SNAPLEN, linktype: PCAP_LINKTYPE_ETHERNET });
  let scratch: Uint8Array | null = null;
  let error: string | null = null;
  let packets = 0;

  const last = h.last;
  let cur = h.first === DATASIZE ? 0 : h.first;
  if (cur > DATASIZE) error = `firstoff 0x${hex4(h.first)} is outside the bus`;
  else if (last >= DATASIZE) error = `lastoff 0x${hex4(last)} is outside the bus`;
  // When the valid records wrap, walk past the end of the ring before
  // comparing with `last` (NetBSD's "bonus" round).
  let pendingWrap = last < cur;

  for (let iter = 0; error === null && iter < DATASIZE / PKTHDR_SIZE + 2; iter++) {
    if (!(cur <= last || pendingWrap)) break;
    const recOff = cur;
    const len = ringGetU32(bytes, cur + PKT_OFF_LEN, le);
    const sec = ringGetU32(bytes, cur + PKT_OFF_SEC, le);
    const usec = ringGetU32(bytes, cur + PKT_OFF_USEC, le);
    // Reaching the end of the ring, exactly or beyond, is a wrap (shmif_busread).
    if (cur + PKTHDR_SIZE >= DATASIZE) pendingWrap = false;
    cur = (cur + PKTHDR_SIZE) % DATASIZE;
    if (len === 0) {
      if (recOff === last) break;
      continue;
    }
    if (len > DATASIZE - PKTHDR_SIZE) {
      error = `corrupt record at offset 0x${hex4(recOff)}: length 0x${hex4(len)}`;
      break;
    }
    lines.push(`packet ${packets}, offset 0x${hex4(cur)}, length 0x${hex4(len)}, ts ${int32(sec)}/${int32pad6(usec)}\n`);
    packets++;
    if (cur + len <= DATASIZE) {
      pcap.write(bytes, HDR_SIZE + cur, len, sec, usec);
    } else {
      if (scratch === null || scratch.length < len) scratch = new Uint8Array(len);
      ringCopyOut(bytes, cur, scratch, 0, len);
      pcap.write(scratch, 0, len, sec, usec);
    }
    if (cur + len >= DATASIZE) pendingWrap = false;
    cur = (cur + len) % DATASIZE;
    // The newest record is done. NetBSD walks on while cur <= last, which
    // only differs when the newest record wraps while first <= last, where
    // it would go on to print stale bytes as packets.
    if (recOff === last) break;
  }

  return { text: lines.join(''), pcap: pcap.bytes(), packets, error };
}
