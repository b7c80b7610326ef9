/*
 * The Internet checksum (RFC 1071), its pseudo header for UDP and TCP
 * (RFC 768, RFC 793 §3.1), and its incremental update (RFC 1624).
 *
 * Two layers, so a checksum can be built from pieces without copying them
 * together (pseudo header + transport header + payload, or a header whose
 * checksum field is skipped):
 *
 *   cksumAdd(sum, buf, off, len)  one's complement sum of a piece, folded to
 *                                 16 bits, NOT complemented; chain the result
 *                                 into the next call as `sum`.
 *   cksumFinish(sum)              the complement: the value that goes on the
 *                                 wire (0 means "verifies" when the stored
 *                                 checksum was included in the sum).
 *   inCksum(buf, off, len, init)  both in one go, like BSD's in_cksum().
 *
 * Chaining rule: every call starts a new 16-bit word, i.e. buf[off] is the
 * high-order byte. So every piece except the last must have an even length.
 * (RFC 1071 §2(B) shows how odd pieces could be joined by byte swapping;
 * our packets are contiguous views over headroom, so we never need it.)
 *
 * Why two code paths: the sum is byte-order independent and may be
 * accumulated in wider words and folded at the end (RFC 1071 §2(B), §2(C)).
 * Below SMALL_LEN bytes (IP, ICMP, UDP headers) plain byte loads win because
 * nothing needs setting up; above it a DataView reading 32-bit words is
 * 2.5-3.5x faster on V8 (Node 20: 1500 bytes in ~250 ns against ~650 ns,
 * 64 KiB in ~8 us against ~27 us). The DataView over a packet's ArrayBuffer
 * is cached (one entry): packet buffers come from a few large arenas, so
 * this avoids an allocation per packet. The cache keeps the last ArrayBuffer
 * reachable; that is one buffer, and the kernel holds its arenas anyway.
 *
 * Nothing here throws: a range that runs past the end of `buf` is clipped to
 * the bytes that exist (the checksum then fails to verify and the caller
 * drops the packet and counts it).
 */

/** Pieces shorter than this are summed with byte loads; longer with a DataView. */
const SMALL_LEN = 128;
/** Bytes summed before folding, so the double accumulator stays exact (< 2^53). */
const CHUNK_LEN = 1 << 20;

let cachedBuffer: ArrayBufferLike = new ArrayBuffer(0);
let cachedView: DataView = new DataView(cachedBuffer as ArrayBuffer);

/**
 * Folds a non-negative integer accumulator (< 2^53) to 16 bits with
 * end-around carry (RFC 1071 §4.1). The result is in [0, 0xffff].
 */
export function cksumFold(sum: number): number {
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Sum of 16-bit big-endian words by byte loads: high bytes and low bytes apart. */
function sumBytes(buf: Uint8Array, off: number, len: number): number {
  let hi = 0;
  let lo = 0;
  let i = off;
  const end = off + len;
  const end8 = off + (len & ~7);
  for (; i < end8; i += 8) {
    hi += buf[i]! + buf[i + 2]! + buf[i + 4]! + buf[i + 6]!;
    lo += buf[i + 1]! + buf[i + 3]! + buf[i + 5]! + buf[i + 7]!;
  }
  for (; i + 1 < end; i += 2) {
    hi += buf[i]!;
    lo += buf[i + 1]!;
  }
  // An odd trailing byte is the high half of a word padded with zero (RFC 1071 §4.1).
  if (i < end) hi += buf[i]!;
  return hi * 256 + lo;
}

/** Sum of 32-bit big-endian words through a cached DataView; returns a folded sum. */
function sumWords(buf: Uint8Array, off: number, len: number): number {
  const ab = buf.buffer;
  let view = cachedView;
  if (ab !== cachedBuffer) {
    view = new DataView(ab as ArrayBuffer);
    cachedView = view;
    cachedBuffer = ab;
  }
  let i = buf.byteOffset + off;
  const end = i + len;
  let folded = 0;
  while (end - i >= 16) {
    const stop = i + Math.min((end - i) & ~15, CHUNK_LEN);
    // Two accumulators let the adds overlap; each is exact below 2^53.
    let a = 0;
    let b = 0;
    for (; i < stop; i += 16) {
      a += view.getUint32(i) + view.getUint32(i + 4);
      b += view.getUint32(i + 8) + view.getUint32(i + 12);
    }
    folded = cksumFold(folded + a + b);
  }
  let tail = 0;
  for (; i + 3 < end; i += 4) tail += view.getUint32(i);
  if (i + 1 < end) {
    tail += view.getUint16(i);
    i += 2;
  }
  if (i < end) tail += view.getUint8(i) << 8;
  return cksumFold(folded + tail);
}

/**
 * Adds `len` bytes of `buf` from `off` to a running one's complement sum.
 * `sum` is a previous result (or any non-negative integer below 2^53, such as
 * pseudoHeaderSum()). Returns the folded, uncomplemented sum in [0, 0xffff].
 */
export function cksumAdd(sum: number, buf: Uint8Array, off: number, len: number): number {
  if (!(off >= 0)) return cksumFold(sum);
  const avail = buf.length - off;
  if (len > avail) len = avail;
  if (!(len > 0)) return cksumFold(sum);
  return cksumFold(sum + (len < SMALL_LEN ? sumBytes(buf, off, len) : sumWords(buf, off, len)));
}

/** The checksum to store: the one's complement of the folded sum. */
export function cksumFinish(sum: number): number {
  return ~cksumFold(sum) & 0xffff;
}

/**
 * BSD's in_cksum(): the complemented checksum of `len` bytes at `off`,
 * starting from `initial` (an uncomplemented sum, e.g. a pseudo header).
 * Over data that includes its own correct checksum field the result is 0.
 */
export function inCksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return cksumFinish(cksumAdd(initial, buf, off, len));
}

/**
 * The uncomplemented sum of the IPv4 pseudo header used by UDP (RFC 768) and
 * TCP (RFC 793 §3.1): source, destination, zero, protocol, and the transport
 * length (header + data). Addresses are unsigned 32-bit numbers.
 */
export function pseudoHeaderSum(src: number, dst: number, proto: number, len: number): number {
  return cksumFold(
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (proto & 0xff) + (len & 0xffff),
  );
}

/**
 * Incremental update when one 16-bit word of the covered data changes from
 * `oldWord` to `newWord` (RFC 1624 §3, eqn. 3: HC' = ~(~HC + ~m + m')).
 * Eqn. 3 rather than RFC 1141's form, which can yield 0xffff where a full
 * recomputation gives 0x0000 (RFC 1624 §4). Used for the TTL decrement on
 * forwarding (RFC 1812 §5.3.1).
 */
export function cksumAdjust16(oldCksum: number, oldWord: number, newWord: number): number {
  const sum = (~oldCksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~cksumFold(sum) & 0xffff;
}
