/*
 * The classic pcap file format ("libpcap format", version 2.4), written from
 * the format's documentation (pcap-savefile(5); the IETF draft
 * draft-ietf-opsawg-pcap, sections 4 and 5).
 *
 *   file header, 24 bytes            record header, 16 bytes, then caplen bytes
 *   0  magic     u32 0xa1b2c3d4     0  ts_sec   u32
 *   4  major u16 (2) | minor u16 (4) 4  ts_usec  u32 (microseconds; ns with the
 *   8  thiszone  i32 (0)                                 0xa1b23c4d magic)
 *   12 sigfigs   u32 (0)            8  caplen   u32 bytes stored in the file
 *   16 snaplen   u32                12 len      u32 bytes the frame had on the wire
 *   20 linktype  u32 (1 = Ethernet)
 *
 * Fields are in the byte order of whoever wrote the file; a reader tells which
 * from the magic. We always write little-endian with the microsecond magic,
 * which is what NetBSD's shmif_dumpbus writes on x86 and arm64 (the fixture
 * test/fixtures/netbsd/bus-small.pcap is compared with ours byte for byte).
 *
 * Writers: `writePcapFileHeader` / `writePcapRecordHeader` for callers that
 * manage their own buffer, and `PcapWriter`, which appends records to a
 * growable buffer or hands each one to a sink. The reader `readPcap` is for
 * tools and tests (pcapin, round trips): it returns views into the input.
 */

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
/** Same layout, but ts_usec holds nanoseconds. */
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_FILE_HEADER_SIZE = 24;
export const PCAP_RECORD_HEADER_SIZE = 16;
/** LINKTYPE_ETHERNET (DLT_EN10MB): frames start at the destination MAC, no FCS. */
export const PCAP_LINKTYPE_ETHERNET = 1;
/** The snaplen tcpdump uses by default; large enough for any frame we make. */
export const PCAP_DEFAULT_SNAPLEN = 262144;

// Every field of both headers is a u32 (the version is two u16s).
function putLE32(dst: Uint8Array, off: number, v: number): void {
  dst[off] = v & 0xff;
  dst[off + 1] = (v >>> 8) & 0xff;
  dst[off + 2] = (v >>> 16) & 0xff;
  dst[off + 3] = (v >>> 24) & 0xff;
}

/** Write the 24-byte file header at `off`; returns the offset after it. */
export function writePcapFileHeader(dst: Uint8Array, off: number, snaplen: number, linktype: number): number {
  putLE32(dst, off, PCAP_MAGIC_USEC);
  dst[off + 4] = PCAP_VERSION_MAJOR;
  dst[off + 5] = 0;
  dst[off + 6] = PCAP_VERSION_MINOR;
  dst[off + 7] = 0;
  putLE32(dst, off + 8, 0);   // thiszone: timestamps are UTC (or, for shmif, uptime)
  putLE32(dst, off + 12, 0);  // sigfigs: always 0 in practice
  putLE32(dst, off + 16, snaplen);
  putLE32(dst, off + 20, linktype);
  return off + PCAP_FILE_HEADER_SIZE;
}

/** Write a 16-byte record header at `off`; returns the offset after it (where the caplen data bytes go). */
export function writePcapRecordHeader(
  dst: Uint8Array,
  off: number,
  sec: number,
  usec: number,
  caplen: number,
  len: number,
): number {
  putLE32(dst, off, sec);
  putLE32(dst, off + 4, usec);
  putLE32(dst, off + 8, caplen);
  putLE32(dst, off + 12, len);
  return off + PCAP_RECORD_HEADER_SIZE;
}

/** Receives one piece of a pcap file; the chunk is the sink's to keep (never reused by the writer). */
export type PcapSink = (chunk: Uint8Array) => void;

export interface PcapWriterOptions {
  /** Default PCAP_DEFAULT_SNAPLEN. Longer frames are truncated to it (caplen < len), as a capture would be. */
  snaplen?: number;
  /** Default PCAP_LINKTYPE_ETHERNET. */
  linktype?: number;
  /**
   * Where the file goes. Without a sink the writer keeps the file in a
   * growable buffer; read it with `bytes()`. With a sink, the file header is
   * handed over at construction and then one chunk per record.
   */
  sink?: PcapSink;
  /** First size of the growable buffer (no sink). Default 64 KiB. */
  initialCapacity?: number;
}

/**
 * Appends pcap records. Each frame is copied exactly once: into the growable
 * buffer, or into the fresh chunk handed to the sink (header and data in one
 * chunk, so a sink that writes it to a file or a stream needs no copy).
 */
export class PcapWriter {
  readonly snaplen: number;
  readonly linktype: number;
  /** Records written so far. */
  records = 0;
  private readonly sink: PcapSink | null;
  private buf: Uint8Array;
  private used: number;

  constructor(opts: PcapWriterOptions = {}) {
    this.snaplen = opts.snaplen ?? PCAP_DEFAULT_SNAPLEN;
    this.linktype = opts.linktype ?? PCAP_LINKTYPE_ETHERNET;
    this.sink = opts.sink ?? null;
    if (this.sink !== null) {
      const hdr = new Uint8Array(PCAP_FILE_HEADER_SIZE);
      writePcapFileHeader(hdr, 0, this.snaplen, this.linktype);
      this.buf = new Uint8Array(0);  // no buffer: every chunk goes to the sink
      this.used = 0;
      this.sink(hdr);
    } else {
      this.buf = new Uint8Array(Math.max(opts.initialCapacity ?? 65536, PCAP_FILE_HEADER_SIZE));
      this.used = writePcapFileHeader(this.buf, 0, this.snaplen, this.linktype);
    }
  }

  /**
   * Append the frame `frame[off, off+len)` captured at `sec`.`usec`. `wireLen`
   * is the length the frame had on the wire (default `len`); only
   * min(len, snaplen) bytes are stored.
   */
  write(frame: Uint8Array, off: number, len: number, sec: number, usec: number, wireLen: number = len): void {
    const caplen = len < this.snaplen ? len : this.snaplen;
    const need = PCAP_RECORD_HEADER_SIZE + caplen;
    let dst: Uint8Array;
    let at: number;
    if (this.sink !== null) {
      dst = new Uint8Array(need);
      at = 0;
    } else {
      this.reserve(need);
      dst = this.buf;
      at = this.used;
      this.used += need;
    }
    at = writePcapRecordHeader(dst, at, sec, usec, caplen, wireLen);
    dst.set(frame.subarray(off, off + caplen), at);
    this.records++;
    if (this.sink !== null) this.sink(dst);
  }

  /** The file so far (a view of the internal buffer; copy it to keep it past the next write). Empty with a sink. */
  bytes(): Uint8Array {
    return this.sink !== null ? new Uint8Array(0) : this.buf.subarray(0, this.used);
  }

  private reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.used + n) cap *= 2;
    const grown = new Uint8Array(cap);
    grown.set(this.buf.subarray(0, this.used));
    this.buf = grown;
  }
}

export interface PcapRecord {
  sec: number;
  /** Microseconds (a nanosecond file's timestamps are divided by 1000, rounding down). */
  usec: number;
  caplen: number;
  /** Length on the wire; larger than caplen when the capture truncated the frame. */
  len: number;
  /** The caplen stored bytes: a view into the input, not a copy. */
  data: Uint8Array;
}

export interface PcapFile {
  linktype: number;
  snaplen: number;
  /** True when the file's fields were big-endian (its magic read byte-swapped). */
  bigEndian: boolean;
  /** True when the file had the nanosecond magic. */
  nanosecond: boolean;
  records: PcapRecord[];
}

/**
 * libpcap refuses records larger than this (its MAXIMUM_SNAPLEN): a caplen
 * beyond it means a corrupt file, not a big frame.
 */
const PCAP_MAX_CAPLEN = 262144;

function getU32(b: Uint8Array, off: number, le: boolean): number {
  return le
    ? (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0
    : ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function hex32(v: number): string {
  return '0x' + v.toString(16).padStart(8, '0');
}

/**
 * Parse a whole classic pcap file, in either byte order, microsecond or
 * nanosecond. Throws an Error saying what is wrong and where on a file that
 * is not pcap, has an unknown major version, or is truncated (a partial
 * record at the end is an error too: a capture cut short loses frames, and
 * a tool should say so rather than carry on quietly).
 */
export function readPcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < PCAP_FILE_HEADER_SIZE) {
    if (bytes.length >= 4 && magicKind(bytes) === null) {
      throw new Error(`not a pcap file (magic ${hex32(getU32(bytes, 0, false))})`);
    }
    throw new Error(`truncated pcap file: ${bytes.length} bytes, shorter than the ${PCAP_FILE_HEADER_SIZE}-byte file header`);
  }
  const kind = magicKind(bytes);
  if (kind === null) {
    throw new Error(`not a pcap file (magic ${hex32(getU32(bytes, 0, false))})`);
  }
  const le = kind.le;
  const major = le ? bytes[4]! | (bytes[5]! << 8) : (bytes[4]! << 8) | bytes[5]!;
  if (major !== PCAP_VERSION_MAJOR) {
    throw new Error(`unsupported pcap version ${major}.x (only 2.4 is known)`);
  }
  const snaplen = getU32(bytes, 16, le);
  const linktype = getU32(bytes, 20, le) & 0x0fffffff;  // the high bits carry FCS info (draft-ietf-opsawg-pcap §4)
  const records: PcapRecord[] = [];
  let off = PCAP_FILE_HEADER_SIZE;
  while (off < bytes.length) {
    const n = records.length;
    if (bytes.length - off < PCAP_RECORD_HEADER_SIZE) {
      throw new Error(
        `truncated pcap file: record ${n} at offset ${off} has ${bytes.length - off} of ${PCAP_RECORD_HEADER_SIZE} header bytes`,
      );
    }
    const sec = getU32(bytes, off, le);
    const frac = getU32(bytes, off + 4, le);
    const caplen = getU32(bytes, off + 8, le);
    const len = getU32(bytes, off + 12, le);
    if (caplen > PCAP_MAX_CAPLEN) {
      throw new Error(`corrupt pcap file: record ${n} at offset ${off} claims ${caplen} captured bytes`);
    }
    const dataOff = off + PCAP_RECORD_HEADER_SIZE;
    if (bytes.length - dataOff < caplen) {
      throw new Error(
        `truncated pcap file: record ${n} at offset ${off} has ${bytes.length - dataOff} of ${caplen} data bytes`,
      );
    }
    records.push({
      sec,
      usec: kind.nsec ? Math.floor(frac / 1000) : frac,
      caplen,
      len,
      data: bytes.subarray(dataOff, dataOff + caplen),
    });
    off = dataOff + caplen;
  }
  return { linktype, snaplen, bigEndian: !le, nanosecond: kind.nsec, records };
}

/** Which magic the file starts with: byte order and timestamp unit, or null. */
function magicKind(bytes: Uint8Array): { le: boolean; nsec: boolean } | null {
  const asLE = getU32(bytes, 0, true);
  const asBE = getU32(bytes, 0, false);
  if (asLE === PCAP_MAGIC_USEC) return { le: true, nsec: false };
  if (asBE === PCAP_MAGIC_USEC) return { le: false, nsec: false };
  if (asLE === PCAP_MAGIC_NSEC) return { le: true, nsec: true };
  if (asBE === PCAP_MAGIC_NSEC) return { le: false, nsec: true };
  return null;
}
