/*
 * Shared by the wire tests: the NetBSD capture as byte fixtures, a seeded
 * PRNG, hex helpers and a naive Internet checksum to compare against.
 *
 * The fixture frames come from bus-small.pcap, NetBSD's own shmif_dumpbus
 * output of a bus where two NetBSD rump kernels (192.0.2.1 and 192.0.2.2)
 * announced themselves with gratuitous ARP, resolved each other and pinged
 * (see ../shared/reference/netbsd/README.md).
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REFERENCE_DIR = fileURLToPath(new URL('../fixtures/netbsd/', import.meta.url));

export interface PcapRecord {
  tsSec: number;
  tsUsec: number;
  origLen: number;
  data: Uint8Array;
}

export interface Pcap {
  linkType: number;
  snapLen: number;
  records: PcapRecord[];
}

/** A minimal classic-pcap reader (either byte order, microsecond timestamps). */
export function readPcap(path: string): Pcap {
  const file = new Uint8Array(readFileSync(path));
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = view.getUint32(0, true);
  let le: boolean;
  if (magic === 0xa1b2c3d4) le = true;
  else if (magic === 0xd4c3b2a1) le = false;
  else throw new Error(`${path}: not a microsecond pcap (magic 0x${magic.toString(16)})`);
  const snapLen = view.getUint32(16, le);
  const linkType = view.getUint32(20, le);
  const records: PcapRecord[] = [];
  let at = 24;
  while (at + 16 <= file.length) {
    const inclLen = view.getUint32(at + 8, le);
    records.push({
      tsSec: view.getUint32(at, le),
      tsUsec: view.getUint32(at + 4, le),
      origLen: view.getUint32(at + 12, le),
      data: file.slice(at + 16, at + 16 + inclLen),
    });
    at += 16 + inclLen;
  }
  return { linkType, snapLen, records };
}

let busSmall: Pcap | undefined;

/** Frame `i` of bus-small.pcap, as a fresh copy the test may modify. */
export function busSmallFrame(i: number): Uint8Array {
  busSmall ??= readPcap(`${REFERENCE_DIR}bus-small.pcap`);
  const r = busSmall.records[i];
  if (r === undefined) throw new Error(`bus-small.pcap has no frame ${i}`);
  return r.data.slice();
}

export function busSmallFrameCount(): number {
  busSmall ??= readPcap(`${REFERENCE_DIR}bus-small.pcap`);
  return busSmall.records.length;
}

/* Frames of bus-small.pcap by what they are (tshark agrees). */
/** ARP announcement of 192.0.2.1 (request, spa = tpa = 192.0.2.1), broadcast. */
export const FRAME_GARP_1 = 0;
/** ARP announcement of 192.0.2.2. */
export const FRAME_GARP_2 = 1;
/** Who has 192.0.2.2? Tell 192.0.2.1. */
export const FRAME_ARP_REQUEST = 2;
/** 192.0.2.2 is at b2:a0:85:5e:e0:a5. */
export const FRAME_ARP_REPLY = 3;
/** ICMP echo request 192.0.2.1 → 192.0.2.2, id 0x0170, seq 0. */
export const FRAME_ECHO_REQUEST = 4;
/** Its echo reply. */
export const FRAME_ECHO_REPLY = 5;
/** Who has 192.0.2.9? (never answered) */
export const FRAME_ARP_UNANSWERED = 16;

export const MAC_1 = 'b2:a0:49:01:90:32';
export const MAC_2 = 'b2:a0:85:5e:e0:a5';
export const ADDR_1 = 0xc0000201;
export const ADDR_2 = 0xc0000202;

/**
 * A UDP datagram (a DNS query for example.com A) 192.0.2.1:54321 →
 * 192.0.2.2:53 framed like the capture's frames. The capture holds no UDP,
 * so this one was assembled by hand; both checksums (IP 0xf6ae, UDP 0xc597)
 * were computed with an independent Python implementation when the fixture
 * was written, not with net/wire/cksum.ts.
 */
export const UDP_FRAME_HEX =
  'b2a0855ee0a5b2a049019032' +
  '0800' +
  '45000039000200004011f6aec0000201c0000202' +
  'd43100350025c597' +
  '123401000001000000000000076578616d706c6503636f6d0000010001';

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** xorshift32: tiny, seeded, deterministic. */
export function makePrng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function randomBytes(next: () => number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = next() & 0xff;
  return out;
}

/**
 * RFC 1071 written the obvious way, as the reference: add 16-bit words, an
 * odd last byte padded with zero, fold with end-around carry.
 * Returns the folded, uncomplemented sum.
 */
export function naiveSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += (bytes[i]! << 8) + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
    sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  }
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}
