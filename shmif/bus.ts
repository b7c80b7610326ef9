/*
 * The shmif bus file: NetBSD's shared-memory Ethernet bus, version 3, byte
 * for byte (layout in ../../shared/reference/shmif.md; the fixtures under
 * test/fixtures/netbsd/ are real NetBSD buses).
 *
 *   file offset 0      32                                         1 MiB
 *               +------+---------------------------------------------+
 *               |header| data: a ring of records, DATASIZE bytes      |
 *               +------+---------------------------------------------+
 *   header: magic u32 | version u32 | gen u64 | first u32 | last u32 | lock u32 | spare u32
 *   record: len u32 | sec u32 | usec u32 | pad u32 | sender u64 | len frame bytes
 *
 * Integers are in the host's byte order. "Data offsets" count from byte 32.
 * Records are packed back to back and may wrap from the end of the data area
 * to data offset 0, header or payload alike.
 *
 * Who calls what (the shmif driver, pcapin, tests):
 *
 *   busAttach(map)                      once per mapping: check or initialise
 *   reader.sync()                       when the interface attaches or goes up
 *   writer.writeFrame(...)  or          per frame (takes and drops the lock),
 *     writer.lock(); writer.put(...)*; writer.unlock()   for a batch
 *   busWakeup(map)                      after a batch: readers elsewhere look
 *   reader.poll(deliver, ...)           when woken: every new record, in order
 *
 * Position arithmetic. A read or write "wraps" when it reaches the end of the
 * data area, including when it ends exactly there (NetBSD's shmif_busops.c
 * since 2014: `off + chunk == DATASIZE`). With that rule the pair (gen, offset)
 * is an exact position in the endless stream of bytes ever written: absolute
 * = gen * DATASIZE + offset, for the writer's head (gen, next(last)) and for a
 * reader's (gen, next) alike. That is what the validity check in
 * BusReader.poll compares.
 *
 * Robustness. A bus is shared with other processes and may hold anything:
 * every length read from it is checked before use, every loop is bounded,
 * nothing here throws on bad bus contents; problems are counted on the
 * reader or writer that met them. The only throws are API misuse (taking
 * the lock twice in one process) and busAttach's refusals.
 */

import type { BusMapping } from '../hypercall/types.js';
import { EBUSY, EDEADLK, EINVAL, ENOEXEC, Errno } from '../kern/errno.js';

export const SHMIF_MAGIC = 0xca11d054;
export const SHMIF_VERSION = 3;
/** The whole bus file. */
export const BUS_SIZE = 1048576;
/** The bus header; the data area starts after it. */
export const HDR_SIZE = 32;
/** Bytes in the ring of records. */
export const DATASIZE = BUS_SIZE - HDR_SIZE;
/** The header of each record. */
export const PKTHDR_SIZE = 24;
/** Longest frame on the bus: MTU 1500 + the 14-byte Ethernet header, no FCS. */
export const MAX_FRAME = 1514;
/** Shorter records cannot hold an Ethernet header; readers skip them. */
export const MIN_FRAME = 14;

/** Bus header fields (file offsets). */
export const BUS_OFF_MAGIC = 0;
export const BUS_OFF_VERSION = 4;
export const BUS_OFF_GEN = 8;
export const BUS_OFF_FIRST = 16;
export const BUS_OFF_LAST = 20;
export const BUS_OFF_LOCK = 24;
export const BUS_OFF_SPARE = 28;

/** Record header fields (offsets from the record's start). */
export const PKT_OFF_LEN = 0;
export const PKT_OFF_SEC = 4;
export const PKT_OFF_USEC = 8;
export const PKT_OFF_PAD = 12;
export const PKT_OFF_SENDER = 16;

const LOCK_UNLOCKED = 0;
const LOCK_LOCKED = 1;

/**
 * How many failed compare-and-swaps on the lock word before giving up.
 * NetBSD spins ~1000 times, sleeps 1 ms and starts again, forever. We have no
 * sleep (only hypercall/ may wait on the host clock) and one thread per
 * kernel, so a lock we cannot get is held by another process, in a critical
 * section of a few microseconds, or by a process that died holding it. We
 * spin up to 2^24 tries (roughly 0.1 s with in-memory words, about 1 s
 * through the native addon) and then report failure, which the caller counts
 * and retries at its next wake-up rather than hanging the event loop forever.
 */
export const BUS_LOCK_MAX_SPINS = 1 << 24;

/**
 * How many records `first` may be advanced over for one advance of a write:
 * it covers at most a whole record (a record header and MAX_FRAME bytes,
 * the most putv advances over at once) and records are at least 24 bytes
 * apart. More means the bus is corrupt.
 */
const MAX_ADVANCE = Math.ceil((PKTHDR_SIZE + MAX_FRAME + 1) / PKTHDR_SIZE) + 4;

export const HOST_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------
// Integer access in a chosen byte order (the bus uses the host's; dumpbus
// also reads buses of the other order).

export function getU32(b: Uint8Array, off: number, le: boolean): number {
  return le
    ? (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0
    : ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function putU32(b: Uint8Array, off: number, v: number, le: boolean): void {
  if (le) {
    b[off] = v & 0xff;
    b[off + 1] = (v >>> 8) & 0xff;
    b[off + 2] = (v >>> 16) & 0xff;
    b[off + 3] = (v >>> 24) & 0xff;
  } else {
    b[off] = (v >>> 24) & 0xff;
    b[off + 1] = (v >>> 16) & 0xff;
    b[off + 2] = (v >>> 8) & 0xff;
    b[off + 3] = v & 0xff;
  }
}

export function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/**
 * The u32 at data offset `dataOff` of the ring, whose bytes may wrap past the
 * end to data offset 0. `dataOff` may be anything in [0, 2 * DATASIZE).
 *
 * WRAP: an offset that passed the end is brought back by subtracting
 * DATASIZE or 0, not inside an `if` of its own. The subtraction then runs
 * on every call, so V8 has seen it by the time it optimises the function;
 * an `if` taken only when a record happens to sit across the end of the
 * ring is first taken megabytes into a transfer, and V8 throws the
 * optimised poll loop away there ("insufficient type feedback") and runs
 * it unoptimised again for the next few megabytes.
 */
export function ringGetU32(b: Uint8Array, dataOff: number, le: boolean): number {
  const p0 = HDR_SIZE + dataOff - (dataOff >= DATASIZE ? DATASIZE : 0);
  // Each byte's position wrapped by itself: a word across the end of the
  // ring takes the same loads as any other (WRAP).
  const p1 = p0 + 1 - (p0 + 1 >= BUS_SIZE ? DATASIZE : 0);
  const p2 = p0 + 2 - (p0 + 2 >= BUS_SIZE ? DATASIZE : 0);
  const p3 = p0 + 3 - (p0 + 3 >= BUS_SIZE ? DATASIZE : 0);
  return le
    ? (b[p0]! | (b[p1]! << 8) | (b[p2]! << 16) | (b[p3]! << 24)) >>> 0
    : ((b[p0]! << 24) | (b[p1]! << 16) | (b[p2]! << 8) | b[p3]!) >>> 0;
}

/** Header fields as indexes of host-order u32 words (BusWriter, BusReader). */
const W_FIRST = BUS_OFF_FIRST >>> 2;
const W_LAST = BUS_OFF_LAST >>> 2;
const W_GEN_LO = (HOST_LITTLE_ENDIAN ? BUS_OFF_GEN : BUS_OFF_GEN + 4) >>> 2;
const W_GEN_HI = (HOST_LITTLE_ENDIAN ? BUS_OFF_GEN + 4 : BUS_OFF_GEN) >>> 2;

/**
 * The bus header as host-order words, for the writer and reader, which
 * touch it on every frame: plain element loads, no accessor calls. A
 * mapping is word-aligned (the lock word is taken with atomics), so this
 * throws only on a view that could not be a bus anyway.
 */
function headerWords(bytes: Uint8Array): Uint32Array {
  return new Uint32Array(bytes.buffer, bytes.byteOffset, HDR_SIZE >>> 2);
}

/** The sender id's halves in a record header (host order: the low word first on a little-endian host). */
const SENDER_LO = HOST_LITTLE_ENDIAN ? PKT_OFF_SENDER : PKT_OFF_SENDER + 4;
const SENDER_HI = HOST_LITTLE_ENDIAN ? PKT_OFF_SENDER + 4 : PKT_OFF_SENDER;

/** A host-order u32 at `b[p]` (the bus's integers), unsigned. */
function hostU32(b: Uint8Array, p: number): number {
  return HOST_LITTLE_ENDIAN
    ? (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0
    : ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/** Copy `n` bytes of the ring from data offset `dataOff` (in [0, DATASIZE]) to `dst[dstOff]`, wrapping. */
export function ringCopyOut(b: Uint8Array, dataOff: number, dst: Uint8Array, dstOff: number, n: number): void {
  if (dataOff >= DATASIZE) dataOff -= DATASIZE;
  const chunk = n < DATASIZE - dataOff ? n : DATASIZE - dataOff;
  dst.set(b.subarray(HDR_SIZE + dataOff, HDR_SIZE + dataOff + chunk), dstOff);
  if (chunk < n) dst.set(b.subarray(HDR_SIZE, HDR_SIZE + n - chunk), dstOff + chunk);
}

/** Copy `src[srcOff, srcOff+n)` into the ring at data offset `dataOff` (< DATASIZE), wrapping. */
function ringCopyIn(b: Uint8Array, dataOff: number, src: Uint8Array, srcOff: number, n: number): void {
  if (n <= DATASIZE - dataOff) {
    // The common case; a whole-array source needs no view object.
    b.set(srcOff === 0 && n === src.length ? src : src.subarray(srcOff, srcOff + n), HDR_SIZE + dataOff);
    return;
  }
  const chunk = DATASIZE - dataOff;
  b.set(src.subarray(srcOff, srcOff + chunk), HDR_SIZE + dataOff);
  b.set(src.subarray(srcOff + chunk, srcOff + n), HDR_SIZE);
}

// ---------------------------------------------------------------------------
// The header.

/**
 * Typed access to the 32-byte bus header. Reads and writes are plain: do
 * them with the lock held (the lock word itself goes through BusMapping's
 * atomics). `le` is the bus's byte order: the host's, except in dumpbus.
 */
export class BusHeaderView {
  /**
   * The header as host-order words, when the bus is in the host's order and
   * the mapping is word-aligned (always, for a mapped file): one load per
   * field instead of four, on every frame written or read.
   */
  private readonly w: Uint32Array | null;

  constructor(
    readonly bytes: Uint8Array,
    readonly le: boolean = HOST_LITTLE_ENDIAN,
  ) {
    this.w = le === HOST_LITTLE_ENDIAN && (bytes.byteOffset & 3) === 0 && bytes.length >= HDR_SIZE
      ? new Uint32Array(bytes.buffer, bytes.byteOffset, HDR_SIZE >>> 2)
      : null;
  }

  get magic(): number {
    return getU32(this.bytes, BUS_OFF_MAGIC, this.le);
  }
  get version(): number {
    return getU32(this.bytes, BUS_OFF_VERSION, this.le);
  }
  get lock(): number {
    return getU32(this.bytes, BUS_OFF_LOCK, this.le);
  }
  get first(): number {
    const w = this.w;
    return w !== null ? w[BUS_OFF_FIRST >>> 2]! : getU32(this.bytes, BUS_OFF_FIRST, this.le);
  }
  set first(v: number) {
    const w = this.w;
    if (w !== null) w[BUS_OFF_FIRST >>> 2] = v;
    else putU32(this.bytes, BUS_OFF_FIRST, v, this.le);
  }
  get last(): number {
    const w = this.w;
    return w !== null ? w[BUS_OFF_LAST >>> 2]! : getU32(this.bytes, BUS_OFF_LAST, this.le);
  }
  set last(v: number) {
    const w = this.w;
    if (w !== null) w[BUS_OFF_LAST >>> 2] = v;
    else putU32(this.bytes, BUS_OFF_LAST, v, this.le);
  }
  /** Low 32 bits of the u64 generation. */
  get genLo(): number {
    const off = this.le ? BUS_OFF_GEN : BUS_OFF_GEN + 4;
    const w = this.w;
    return w !== null ? w[off >>> 2]! : getU32(this.bytes, off, this.le);
  }
  /** High 32 bits of the u64 generation. */
  get genHi(): number {
    const off = this.le ? BUS_OFF_GEN + 4 : BUS_OFF_GEN;
    const w = this.w;
    return w !== null ? w[off >>> 2]! : getU32(this.bytes, off, this.le);
  }
  /**
   * The generation as a number: exact below 2^53, i.e. for any bus that has
   * not been scribbled on (one wrap per MiB written).
   */
  get gen(): number {
    return this.genHi * 4294967296 + this.genLo;
  }
  setGen(lo: number, hi: number): void {
    putU32(this.bytes, this.le ? BUS_OFF_GEN : BUS_OFF_GEN + 4, lo >>> 0, this.le);
    putU32(this.bytes, this.le ? BUS_OFF_GEN + 4 : BUS_OFF_GEN, hi >>> 0, this.le);
  }
  /** gen += 1, carrying into the high word. */
  incGen(): void {
    const lo = (this.genLo + 1) >>> 0;
    this.setGen(lo, lo === 0 ? this.genHi + 1 : this.genHi);
  }
  /** The generation as an exact u64 (for printing). */
  genBig(): bigint {
    return (BigInt(this.genHi) << 32n) | BigInt(this.genLo);
  }
}

// ---------------------------------------------------------------------------
// Errors, attach, lock, wake-up.

function busErrno(errno: number, message: string): Errno {
  const e = new Errno(errno);
  e.message = message;
  return e;
}

/**
 * Check that `map` holds a bus, or make it one. Like NetBSD's attach:
 * magic 0 is a fresh file and the first attacher initialises it (magic,
 * first = DATASIZE "none yet", last = 0 pointing at an all-zero record at
 * data offset 0, gen 0; the version stays 0 until the first wake-up write).
 * Throws an Errno: ENOEXEC "bus is not magical" for any other magic,
 * including a bus of the other byte order (only dumpbus reads those);
 * EINVAL for a mapping shorter than BUS_SIZE; EBUSY when the lock stays held.
 */
export function busAttach(map: BusMapping): void {
  const b = map.bytes;
  if (b.length < BUS_SIZE) {
    throw busErrno(EINVAL, `bus mapping is ${b.length} bytes, a bus is ${BUS_SIZE}`);
  }
  checkMagic(getU32(b, BUS_OFF_MAGIC, HOST_LITTLE_ENDIAN));
  if (!busLock(map)) throw busErrno(EBUSY, 'bus lock held too long');
  try {
    const magic = getU32(b, BUS_OFF_MAGIC, HOST_LITTLE_ENDIAN);
    if (magic === 0) {
      const h = new BusHeaderView(b);
      h.setGen(0, 0);
      h.first = DATASIZE;
      h.last = 0;
      b.fill(0, HDR_SIZE, HDR_SIZE + PKTHDR_SIZE);
      map.store32(BUS_OFF_VERSION, 0);
      // Magic last, with a barrier: whoever sees it sees an initialised bus.
      map.store32(BUS_OFF_MAGIC, SHMIF_MAGIC);
    } else {
      checkMagic(magic);  // someone wrote something else meanwhile
    }
  } finally {
    busUnlock(map);
  }
}

function checkMagic(magic: number): void {
  if (magic === 0 || magic === SHMIF_MAGIC) return;
  if (magic === bswap32(SHMIF_MAGIC)) {
    throw busErrno(ENOEXEC, 'bus is not magical (it was written by a host of the other byte order)');
  }
  throw busErrno(ENOEXEC, 'bus is not magical');
}

/**
 * The buffers whose bus lock this process holds right now. One thread runs
 * every kernel of a process, so finding the lock held by ourselves means a
 * caller tried to take it inside a critical section (say, sending a frame
 * from a reader's deliver callback): that would spin until timeout and then
 * fail, so it is refused at once with EDEADLK instead. Keyed by the
 * ArrayBuffer because mappings of one file in one process share it. A plain
 * array: it holds at most a lock or two at a time (none between frames),
 * and a WeakSet's hashing cost more than the lock itself.
 */
const heldHere: ArrayBufferLike[] = [];

/**
 * Take the bus lock: compare-and-swap 0 -> 1 (the atomic has a full
 * barrier), at most `maxSpins` tries. False when it stayed held (see
 * BUS_LOCK_MAX_SPINS): count it and try again later. Throws an Errno
 * EDEADLK if this process already holds it (a programming error). Never
 * await while holding it: another process may be spinning.
 */
export function busLock(map: BusMapping, maxSpins: number = BUS_LOCK_MAX_SPINS): boolean {
  const buffer = map.bytes.buffer;
  if (heldHere.length !== 0 && heldHere.indexOf(buffer) >= 0) {
    throw busErrno(EDEADLK, 'bus lock already held by this process (no bus I/O inside a bus callback)');
  }
  for (let i = 0; i < maxSpins; i++) {
    if (map.cas32(BUS_OFF_LOCK, LOCK_UNLOCKED, LOCK_LOCKED) === LOCK_UNLOCKED) {
      heldHere.push(buffer);
      return true;
    }
  }
  return false;
}

/** Release the bus lock (the store has a barrier before it). */
export function busUnlock(map: BusMapping): void {
  const i = heldHere.indexOf(map.bytes.buffer);
  if (i >= 0) {
    if (i === heldHere.length - 1) heldHere.pop();
    else heldHere.splice(i, 1);
  }
  map.store32(BUS_OFF_LOCK, LOCK_UNLOCKED);
}

/**
 * After a batch of frames: leave the version word at 3 (what NetBSD's
 * wake-up file write leaves there, so a bus reads "version 3" once anything
 * was sent, whichever host we run on) and wake every reader. The writer
 * never calls this itself: one wake-up per batch, not per frame.
 */
export function busWakeup(map: BusMapping): void {
  map.store32(BUS_OFF_VERSION, SHMIF_VERSION);
  map.wakeup();
}

/** A record header (host order) at `b[p]`. */
function writeRecordHeader(b: Uint8Array, p: number, len: number, sec: number, usec: number, senderLo: number, senderHi: number): void {
  if (HOST_LITTLE_ENDIAN) {
    // Written out byte by byte: six calls fewer on every frame.
    b[p] = len;
    b[p + 1] = len >>> 8;
    b[p + 2] = len >>> 16;
    b[p + 3] = len >>> 24;
    b[p + 4] = sec;
    b[p + 5] = sec >>> 8;
    b[p + 6] = sec >>> 16;
    b[p + 7] = sec >>> 24;
    b[p + 8] = usec;
    b[p + 9] = usec >>> 8;
    b[p + 10] = usec >>> 16;
    b[p + 11] = usec >>> 24;
    b[p + 12] = b[p + 13] = b[p + 14] = b[p + 15] = 0;
    b[p + 16] = senderLo;
    b[p + 17] = senderLo >>> 8;
    b[p + 18] = senderLo >>> 16;
    b[p + 19] = senderLo >>> 24;
    b[p + 20] = senderHi;
    b[p + 21] = senderHi >>> 8;
    b[p + 22] = senderHi >>> 16;
    b[p + 23] = senderHi >>> 24;
    return;
  }
  putU32(b, p + PKT_OFF_LEN, len, HOST_LITTLE_ENDIAN);
  putU32(b, p + PKT_OFF_SEC, sec >>> 0, HOST_LITTLE_ENDIAN);
  putU32(b, p + PKT_OFF_USEC, usec >>> 0, HOST_LITTLE_ENDIAN);
  putU32(b, p + PKT_OFF_PAD, 0, HOST_LITTLE_ENDIAN);
  putU32(b, p + (HOST_LITTLE_ENDIAN ? PKT_OFF_SENDER : PKT_OFF_SENDER + 4), senderLo, HOST_LITTLE_ENDIAN);
  putU32(b, p + (HOST_LITTLE_ENDIAN ? PKT_OFF_SENDER + 4 : PKT_OFF_SENDER), senderHi, HOST_LITTLE_ENDIAN);
}

// ---------------------------------------------------------------------------
// Writer.

/**
 * Writes frames onto a bus as one sender (one interface). Per frame, as
 * NetBSD's shmif_start does: last = next(last); write the record header and
 * the frame at last, wrapping at the end of the ring; before each chunk is
 * copied, advance `first` over every record whose header the chunk overlaps
 * (the oldest frames are overwritten silently; a reader that had not read
 * them notices it was lapped); gen += 1 if anything reached the end.
 *
 * No allocation per frame; the frame is copied once, into the ring.
 */
export class BusWriter {
  readonly map: BusMapping;
  private readonly bytes: Uint8Array;
  private readonly hdr: BusHeaderView;
  private readonly hw: Uint32Array;
  /** This interface's 64-bit sender id, as two u32 halves. */
  senderLo: number;
  senderHi: number;
  /** Spins before lock() gives up (tests lower it). */
  lockSpins = BUS_LOCK_MAX_SPINS;

  /** Frames written. */
  frames = 0;
  /** Frames refused for being longer than MAX_FRAME (or a negative length). */
  tooLong = 0;
  /** Times the lock stayed held by someone else and a frame was not sent. */
  lockFailures = 0;
  /** Times the bus header or ring was found corrupt and reset so writing could go on. */
  repairs = 0;

  // Per-frame scratch: the record header, and the write position and flags.
  private readonly pkthdr = new Uint8Array(PKTHDR_SIZE);
  private pos = 0;
  private wrapped = false;
  private recordStart = 0;
  private firstRepaired = false;
  /** The bus's `first` while a frame is written: read once, stored once (no reader sees it meanwhile: we hold the lock). */
  private curFirst = 0;

  constructor(map: BusMapping, senderLo: number, senderHi: number) {
    this.map = map;
    this.bytes = map.bytes;
    this.hdr = new BusHeaderView(map.bytes);
    this.hw = headerWords(map.bytes);
    this.senderLo = senderLo >>> 0;
    this.senderHi = senderHi >>> 0;
  }

  /** Take the bus lock for a batch of put()s. False (and counted) if it stayed held. */
  lock(): boolean {
    if (busLock(this.map, this.lockSpins)) return true;
    this.lockFailures++;
    return false;
  }

  unlock(): void {
    busUnlock(this.map);
  }

  /**
   * Lock, put one frame, unlock. False if the frame was refused (too long)
   * or the lock could not be taken; the counters say which. Call
   * busWakeup() after the batch.
   */
  writeFrame(buf: Uint8Array, off: number, len: number, sec: number, usec: number): boolean {
    if (!(len >= 0 && len <= MAX_FRAME)) {
      this.tooLong++;
      return false;
    }
    if (!this.lock()) return false;
    try {
      return this.put(buf, off, len, sec, usec);
    } finally {
      this.unlock();
    }
  }

  /**
   * Write one frame, `buf[off, off+len)`, stamped `sec`.`usec` (the kernel's
   * uptime, as NetBSD does). The caller holds the lock. False, and counted,
   * for a frame longer than MAX_FRAME: it is not written.
   */
  put(buf: Uint8Array, off: number, len: number, sec: number, usec: number): boolean {
    return this.putv(buf, off, len, buf, off + len, 0, sec, usec);
  }

  /**
   * Write one frame gathered from two pieces, `h[hoff, hoff+hlen)` then
   * `p[poff, poff+plen)` (a segment's headers and its data, cut from a
   * larger packet without first copying them together), otherwise as put().
   */
  putv(h: Uint8Array, hoff: number, hlen: number, p: Uint8Array, poff: number, plen: number, sec: number, usec: number): boolean {
    const len = hlen + plen;
    if (!(hlen >= 0 && plen >= 0 && len <= MAX_FRAME)) {
      this.tooLong++;
      return false;
    }
    if (!(hoff >= 0 && hoff + hlen <= h.length && poff >= 0 && poff + plen <= p.length) || (hoff | 0) !== hoff || (hlen | 0) !== hlen || (poff | 0) !== poff || (plen | 0) !== plen) {
      throw new RangeError(`frame [${hoff}, ${hoff + hlen}) + [${poff}, ${poff + plen}) is outside its buffers of ${h.length} and ${p.length} bytes`);
    }
    const b = this.bytes;
    const hw = this.hw;
    let last = hw[W_LAST]!;
    const first = hw[W_FIRST]!;
    let lastLen = last < DATASIZE ? ringGetU32(b, last + PKT_OFF_LEN, HOST_LITTLE_ENDIAN) : 0;
    if (last >= DATASIZE || first > DATASIZE || lastLen > DATASIZE - PKTHDR_SIZE) {
      // Not a bus any writer left behind; start the ring afresh (a new
      // generation, so readers notice) rather than write at a wild offset.
      this.resetRing();
      last = 0;
      lastLen = 0;
    }
    const at = (last + PKTHDR_SIZE + lastLen) % DATASIZE;
    hw[W_LAST] = at;
    const curFirst = hw[W_FIRST]!;
    this.curFirst = curFirst;
    this.recordStart = at;
    this.firstRepaired = false;
    const end = at + PKTHDR_SIZE + len;
    if (end < DATASIZE) {
      // The whole record fits before the end of the ring (all records but
      // about one a lap): one advance of `first` over all of it (the same
      // as one per piece, the pieces being contiguous), the header written
      // in place, each piece copied once.
      if (at <= curFirst + PKTHDR_SIZE && end > curFirst) this.advanceFirst(at, PKTHDR_SIZE + len);
      const r = HDR_SIZE + at;
      writeRecordHeader(b, r, len, sec, usec, this.senderLo, this.senderHi);
      b.set(hoff === 0 && hlen === h.length ? h : h.subarray(hoff, hoff + hlen), r + PKTHDR_SIZE);
      if (plen > 0) b.set(p.subarray(poff, poff + plen), r + PKTHDR_SIZE + hlen);
      hw[W_FIRST] = this.curFirst;
      this.frames++;
      return true;
    }

    // The record reaches the end of the ring: its header (built aside) and
    // both pieces go through writeChunk, which wraps. One way for every
    // such record, whichever piece crosses the end, so this path has run
    // (once a lap) by the time V8 optimises putv.
    this.pos = at;
    this.wrapped = false;
    const ph = this.pkthdr;
    writeRecordHeader(ph, 0, len, sec, usec, this.senderLo, this.senderHi);
    this.writeChunk(ph, 0, PKTHDR_SIZE);
    this.writeChunk(h, hoff, hlen);
    if (plen > 0) this.writeChunk(p, poff, plen);
    hw[W_FIRST] = this.curFirst;
    if (this.wrapped) this.hdr.incGen();
    this.frames++;
    return true;
  }

  /**
   * One chunk at this.pos, as NetBSD's shmif_buswrite: the part up to the
   * end of the ring, then the rest from data offset 0. A chunk that reaches
   * the end also claims one byte more when advancing `first`, so that the
   * "none yet" value DATASIZE of a bus that never wrapped gets advanced.
   */
  private writeChunk(src: Uint8Array, srcOff: number, n: number): void {
    const off = this.pos;
    const room = DATASIZE - off;
    const chunk = n < room ? n : room;
    const filled = chunk === room;
    this.advanceFirst(off, chunk + (filled ? 1 : 0));
    ringCopyIn(this.bytes, off, src, srcOff, chunk);
    if (filled) this.wrapped = true;
    if (chunk === n) {
      this.pos = filled ? 0 : off + chunk;
      return;
    }
    this.advanceFirst(0, n - chunk);
    ringCopyIn(this.bytes, 0, src, srcOff + chunk, n - chunk);
    this.pos = n - chunk;
  }

  /**
   * While [off, off+n) overlaps the header of the record at `first`, move
   * `first` to the record after it (shmif_advancefirst). Bounded: on a
   * corrupt ring, `first` becomes the record being written, which is valid
   * once the write is done.
   */
  private advanceFirst(off: number, n: number): void {
    if (this.firstRepaired) return;
    const b = this.bytes;
    let first = this.curFirst;
    let steps = 0;
    while (off <= first + PKTHDR_SIZE && off + n > first) {
      const len = first <= DATASIZE ? ringGetU32(b, first + PKT_OFF_LEN, HOST_LITTLE_ENDIAN) : DATASIZE;
      if (len > DATASIZE - PKTHDR_SIZE || ++steps > MAX_ADVANCE) {
        this.repairs++;
        this.firstRepaired = true;
        first = this.recordStart;
        break;
      }
      first = (first + PKTHDR_SIZE + len) % DATASIZE;
    }
    this.curFirst = first;
  }

  private resetRing(): void {
    this.repairs++;
    const hdr = this.hdr;
    hdr.incGen();
    hdr.first = DATASIZE;
    hdr.last = 0;
    this.bytes.fill(0, HDR_SIZE, HDR_SIZE + PKTHDR_SIZE);
  }
}

// ---------------------------------------------------------------------------
// Reader.

/**
 * Receives one frame from BusReader.poll. `buf[off, off+len)` is the frame,
 * usually a view straight into the shared mapping: it is valid only until
 * the callback returns, so copy what you keep. The callback runs with the
 * bus lock held: do nothing slow, never await, and never write to the bus
 * from it (busLock throws EDEADLK if you try). Queue the frame and process
 * it after poll returns.
 */
export type BusDeliver = (buf: Uint8Array, off: number, len: number, sec: number, usec: number) => void;

/**
 * One interface's read position on a bus: `next` (data offset of the next
 * record to read) and `gen` (the generation that offset belongs to).
 */
export class BusReader {
  readonly map: BusMapping;
  private readonly bytes: Uint8Array;
  private readonly hdr: BusHeaderView;
  private readonly hw: Uint32Array;
  /** Data offset of the next record to read. */
  next = 0;
  /** Generation of `next` (may be one below the bus's while the ring wraps). */
  gen = 0;
  /** Spins before poll() gives up on the lock (tests lower it). */
  lockSpins = BUS_LOCK_MAX_SPINS;

  /** Frames handed to deliver. */
  delivered = 0;
  /** Times the writers lapped us: we restarted at the oldest record. */
  lapped = 0;
  /**
   * Frames lost to laps: a lower bound, since the overwritten records cannot
   * be counted any more (lostBytes / the largest record size, at least 1 per lap).
   */
  lost = 0;
  /** Ring bytes skipped by laps: exact. */
  lostBytes = 0;
  /** Records of 1..13 bytes: too short for an Ethernet header. */
  runts = 0;
  /** Records claiming more than MAX_FRAME bytes: garbage; we resynced to the newest position. */
  oversized = 0;
  /** Our own frames, skipped (a sender never hears itself). */
  own = 0;
  /** Polls that found the bus header unusable (offsets out of range). */
  corrupt = 0;
  /** Polls that could not take the lock. */
  lockFailures = 0;

  /**
   * A record split across the end of the ring, copied whole (poll). Its
   * length a multiple of 4, so a checksum over a frame in it reads whole
   * words (net/wire/cksum.ts sums the 32-bit words of the ArrayBuffer).
   */
  private readonly scratch = new Uint8Array((PKTHDR_SIZE + MAX_FRAME + 3) & ~3);
  /**
   * The writers' position (last, gen) when a poll last read everything up
   * to it; seenLast -1 when the last poll stopped early. See mayHaveNew.
   */
  private seenLast = -1;
  private seenGen = 0;

  constructor(map: BusMapping) {
    this.map = map;
    this.bytes = map.bytes;
    this.hdr = new BusHeaderView(map.bytes);
    this.hw = headerWords(map.bytes);
  }

  /**
   * Whether a poll could find anything: false when the bus header's (last,
   * gen) is still what our last poll read up to. No lock is taken, so this
   * may be looking at a writer mid-update; that errs towards true (last
   * moves before the frame is written) or, at worst, towards a false that
   * the writer's own wake-up, sent after it unlocks, corrects. (last, gen)
   * never repeats: gen counts every wrap of the ring.
   */
  mayHaveNew(): boolean {
    if (this.seenLast < 0) return true;
    const hw = this.hw;
    return hw[W_LAST] !== this.seenLast || hw[W_GEN_HI]! * 4294967296 + hw[W_GEN_LO]! !== this.seenGen;
  }

  /**
   * Start reading at the bus's newest record, as NetBSD does when an
   * interface attaches or goes up: `next = last`. So the first poll looks at
   * the record already at `last` and delivers it unless it is filtered (on a
   * fresh bus it is the all-zero placeholder, silently skipped).
   *
   * Deliberate deviation: NetBSD also sets gen = bus gen; when the newest
   * record itself wraps around the end, that puts the reader one ring ahead,
   * and its first poll takes itself for lapped and replays the whole ring.
   * We take gen - 1 in that case, the generation that record started in.
   *
   * False (and counted) when the lock could not be taken: call it again.
   */
  sync(): boolean {
    this.seenLast = -1;
    if (!busLock(this.map, this.lockSpins)) {
      this.lockFailures++;
      return false;
    }
    try {
      const last = this.hdr.last;
      const gen = this.hdr.gen;
      if (last >= DATASIZE) {
        this.corrupt++;
        this.next = 0;
        this.gen = gen;
        return true;
      }
      const len = ringGetU32(this.bytes, last + PKT_OFF_LEN, HOST_LITTLE_ENDIAN);
      this.next = last;
      this.gen = last + PKTHDR_SIZE + len >= DATASIZE && gen > 0 ? gen - 1 : gen;
      return true;
    } finally {
      busUnlock(this.map);
    }
  }

  /**
   * Read every record written since the last poll, under the lock, and hand
   * each frame to `deliver` (see BusDeliver), in bus order. Skips runts and
   * frames whose sender is (ownSenderLo, ownSenderHi). At most `limit`
   * frames per call; the rest wait for the next one. Returns the number of
   * frames delivered, or -1 if the lock could not be taken (counted).
   *
   * If `deliver` throws, the lock is released and the error propagates; the
   * frame it was given counts as read.
   */
  poll(deliver: BusDeliver, ownSenderLo: number, ownSenderHi: number, limit: number = 0x7fffffff): number {
    if (!busLock(this.map, this.lockSpins)) {
      this.lockFailures++;
      return -1;
    }
    const b = this.bytes;
    const hw = this.hw;
    const lo = ownSenderLo >>> 0;
    const hi = ownSenderHi >>> 0;
    let n = 0;
    this.seenLast = -1;
    try {
      // The writers' position: it cannot move while we hold the lock.
      const first = hw[W_FIRST]!;
      const last = hw[W_LAST]!;
      const busGen = hw[W_GEN_HI]! * 4294967296 + hw[W_GEN_LO]!;
      const lastLen = last < DATASIZE ? ringGetU32(b, last + PKT_OFF_LEN, HOST_LITTLE_ENDIAN) : 0;
      if (!(last < DATASIZE && first <= DATASIZE && lastLen <= DATASIZE - PKTHDR_SIZE)) {
        this.corrupt++;
        return 0;
      }
      const head = (last + PKTHDR_SIZE + lastLen) % DATASIZE;
      if (!this.stillValid(first, head, busGen)) {
        this.restart(first, head, busGen);
        // Still not inside the valid data: the ring does not describe itself consistently.
        if (!this.stillValid(first, head, busGen)) {
          this.corrupt++;
          return 0;
        }
      }
      // The bytes from our position to the writers' head, exactly (both are
      // absolute positions, see the header comment): the records read must
      // use them up, which checks the walk once per record with a
      // subtraction instead of the validity test, and bounds it.
      let left = (busGen - this.gen) * DATASIZE + head - this.next;
      while (left > 0 && n < limit) {
        const at = this.next;
        const len = ringGetU32(b, at + PKT_OFF_LEN, HOST_LITTLE_ENDIAN);
        const rec = PKTHDR_SIZE + len;
        if (len > MAX_FRAME || rec > left) {
          // Garbage where a record should be: skip to the newest position.
          if (len > MAX_FRAME) this.oversized++;
          else this.corrupt++;
          this.next = head;
          this.gen = busGen;
          left = 0;
          break;
        }
        left -= rec;
        const end = at + rec;
        if (end >= DATASIZE) {
          this.next = end - DATASIZE;
          this.gen++;
        } else {
          this.next = end;
        }
        if (len < MIN_FRAME) {
          // Zero-length is the placeholder record of a fresh bus: not a runt.
          if (len !== 0) this.runts++;
          continue;
        }
        // The record as one contiguous run of bytes: in the ring, or, the one
        // case that copies, the record split across the end, in the scratch.
        let src = b;
        let p = HDR_SIZE + at;
        if (end > DATASIZE) {
          ringCopyOut(b, at, this.scratch, 0, rec);
          src = this.scratch;
          p = 0;
        }
        if (hostU32(src, p + SENDER_LO) === lo && hostU32(src, p + SENDER_HI) === hi) {
          this.own++;
          continue;
        }
        n++;
        this.delivered++;
        deliver(src, p + PKTHDR_SIZE, len, hostU32(src, p + PKT_OFF_SEC), hostU32(src, p + PKT_OFF_USEC));
      }
      if (left === 0) {
        // We stand at the writers' head: nothing new until they move.
        this.seenLast = last;
        this.seenGen = busGen;
      }
    } finally {
      busUnlock(this.map);
    }
    return n;
  }

  /**
   * Whether our position still holds an unread record: the oldest record
   * <= our position <= the writers' head, compared on a window of two ring
   * lengths (NetBSD's stillvalid_p). `head` is next(last); the valid data
   * wraps when first >= head, and then `first` belongs to generation gen - 1.
   */
  private stillValid(first: number, head: number, busGen: number): boolean {
    const gendiff = busGen - this.gen;
    if (gendiff < 0 || gendiff > 1) return false;
    let devoff = this.next;
    let lastoff = head;
    if (first >= lastoff) {
      lastoff += DATASIZE;
      if (gendiff === 0) devoff += DATASIZE;
    } else if (gendiff !== 0) {
      return false;
    }
    return devoff >= first && devoff <= lastoff;
  }

  /**
   * We were lapped: restart at the oldest record still on the bus. Its
   * generation is gen - 1 when the valid data wraps (first >= head), which is
   * NetBSD's `first > last` test except when the newest record itself wraps;
   * there NetBSD's choice would leave the reader one ring ahead of the data.
   */
  private restart(first: number, head: number, busGen: number): void {
    let off = first;
    let gen = first >= head ? busGen - 1 : busGen;
    if (off >= DATASIZE) {
      // first = DATASIZE, "none yet": the oldest record is at offset 0.
      off -= DATASIZE;
      gen += 1;
    }
    const skipped = (gen - this.gen) * DATASIZE + (off - this.next);
    this.lapped++;
    if (skipped > 0 && Number.isFinite(skipped)) {
      this.lostBytes += skipped;
      this.lost += Math.max(1, Math.ceil(skipped / (PKTHDR_SIZE + MAX_FRAME)));
    }
    this.next = off;
    this.gen = gen;
  }
}
