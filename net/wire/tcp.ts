/*
 * TCP header and options view (RFC 9293 §3.1; options from RFC 9293 §3.2,
 * RFC 7323 §2-3 and RFC 2018 §2-3).
 *
 *   0               2               4                               8
 *   +---------------+---------------+-------------------------------+
 *   | source port   | dest port     | sequence number               |
 *   +---------------+---------------+-------------------------------+
 *   | acknowledgment number         |off|rsv|flags| window          |
 *   +-------------------------------+---+---+-----+-----------------+
 *   | checksum      | urgent ptr    |  options (off*4 - 20 bytes) ... data
 *   +---------------+---------------+
 *   12: data offset in the high nibble (32-bit words), 13: the flag bits.
 *
 * The checksum covers a pseudo header (source, destination, zero, protocol
 * 6, TCP length), the header and the data (RFC 9293 §3.1). Unlike UDP there
 * is no "no checksum" value: a 0 on the wire is checked like any other.
 *
 * Call order on input: ip_input → tcp_input: tcpCheck() over the IP payload
 * (count the result and drop unless Ok) → accessors → tcpParseOptions() over
 * [off + TCP_HDR_MIN, off + tcpHlen()) into a TcpOptions the caller keeps
 * and reuses. On output: put the data in place, write the options with the
 * tcpOpt*() writers (the caller picks the layout; FreeBSD's is in
 * ../shared/reference/packetdrill.md), then tcpWriteHeader() and
 * tcpSetChecksum().
 *
 * Sequence and acknowledgment numbers are returned as u32 (>>> 0); compare
 * them modulo 2^32 (net/inet/tcp/seq.ts), never with `<`.
 *
 * Nothing here throws or allocates per segment. Accessors read past the end
 * of a short buffer as 0 (undefined coerces to 0 in the bit operations);
 * call tcpCheck() first and they stay in range.
 */

import { cksumAdd, cksumFinish, pseudoHeaderSum } from './cksum.js';
import { IPPROTO_TCP } from './ipv4.js';

/** Header without options. */
export const TCP_HDR_MIN = 20;
/** Header with the most options (data offset 15). */
export const TCP_HDR_MAX = 60;
/** Most bytes of options a header can carry (BSD's TCP_MAXOLEN). */
export const TCP_MAXOLEN = TCP_HDR_MAX - TCP_HDR_MIN;
/** Largest window shift (RFC 7323 §2.3); larger received values are clamped to it. */
export const TCP_MAX_WINSHIFT = 14;
/** Most SACK blocks one option can carry: (40 - 2) / 8 (RFC 2018 §3). */
export const TCP_MAX_SACK = 4;

/* Flag bits, byte 13 (BSD's th_flags). */
export const TH_FIN = 0x01;
export const TH_SYN = 0x02;
export const TH_RST = 0x04;
export const TH_PUSH = 0x08;
export const TH_ACK = 0x10;
export const TH_URG = 0x20;
export const TH_ECE = 0x40;
export const TH_CWR = 0x80;

/* Option kinds (RFC 9293 §3.2, RFC 7323 §2.2/§3.2, RFC 2018 §2/§3). */
export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MAXSEG = 2;
export const TCPOPT_WINDOW = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;
/** TCP Fast Open cookie (RFC 7413 §4.1.1): kind, length, 0 (a request) to 16 cookie bytes. */
export const TCPOPT_FASTOPEN = 34;
export const TCP_FASTOPEN_MAX_COOKIE = 16;

/* Option lengths including the kind and length bytes. */
export const TCPOLEN_MAXSEG = 4;
export const TCPOLEN_WINDOW = 3;
export const TCPOLEN_SACK_PERMITTED = 2;
export const TCPOLEN_TIMESTAMP = 10;
/** One SACK block: left and right edge. */
export const TCPOLEN_SACK = 8;
/** nop,nop,TS: the 12 bytes every segment of a timestamping connection carries (RFC 7323 appendix A). */
export const TCPOLEN_TSTAMP_APPA = TCPOLEN_TIMESTAMP + 2;

const OFF_SPORT = 0;
const OFF_DPORT = 2;
const OFF_SEQ = 4;
const OFF_ACK = 8;
const OFF_OFFX2 = 12;
const OFF_FLAGS = 13;
const OFF_WIN = 14;
const OFF_SUM = 16;
const OFF_URP = 18;

/** Outcome of tcpCheck(), one per BSD tcpstat counter (netstat -s wording in the comments). */
export const TcpCheck = {
  Ok: 0,
  /** Fewer than 20 bytes: tcps_rcvshort ("discarded because packet too short"). */
  TooShort: 1,
  /** Data offset < 5 words or past the segment: tcps_rcvbadoff ("discarded for bad header offset fields"). */
  BadOff: 2,
  /** Checksum wrong: tcps_rcvbadsum ("discarded for bad checksums"). */
  BadSum: 3,
} as const;
export type TcpCheck = (typeof TcpCheck)[keyof typeof TcpCheck];

/**
 * The one check, in NetBSD tcp_input()'s order: a whole header, the
 * checksum over the pseudo header and all `len` bytes, then the data offset.
 * `len` is the IP payload length (TCP has no length field of its own; the
 * pseudo header carries it). `src`/`dst` are the IP addresses as u32.
 * After Ok, the accessors and [off, off + len) are in range and
 * TCP_HDR_MIN <= tcpHlen() <= len.
 */
export function tcpCheck(buf: Uint8Array, off: number, len: number, src: number, dst: number): TcpCheck {
  if (!(off >= 0) || !(len >= TCP_HDR_MIN) || len > buf.length - off) return TcpCheck.TooShort;
  const sum = cksumAdd(pseudoHeaderSum(src, dst, IPPROTO_TCP, len), buf, off, len);
  if (cksumFinish(sum) !== 0) return TcpCheck.BadSum;
  const hlen = tcpHlen(buf, off);
  if (hlen < TCP_HDR_MIN || hlen > len) return TcpCheck.BadOff;
  return TcpCheck.Ok;
}

function read16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function read32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

function write16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 8;
  buf[at + 1] = v;
}

function write32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
}

/*
 * Accessors. The ones every segment passes through spell out their bytes
 * instead of calling read16/read32: each call saved counts while V8 still
 * runs the stack unoptimised (a short transfer's first few thousand segments).
 */

export function tcpSport(buf: Uint8Array, off: number): number {
  return (buf[off + OFF_SPORT]! << 8) | buf[off + OFF_SPORT + 1]!;
}

export function tcpDport(buf: Uint8Array, off: number): number {
  return (buf[off + OFF_DPORT]! << 8) | buf[off + OFF_DPORT + 1]!;
}

/** Sequence number, u32. */
export function tcpSeq(buf: Uint8Array, off: number): number {
  const at = off + OFF_SEQ;
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** Acknowledgment number, u32 (meaningful only with TH_ACK). */
export function tcpAck(buf: Uint8Array, off: number): number {
  const at = off + OFF_ACK;
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** Header length in bytes (data offset × 4): where the data starts. */
export function tcpHlen(buf: Uint8Array, off: number): number {
  return (buf[off + OFF_OFFX2]! >>> 4) << 2;
}

/** Bytes of options after the fixed 20-byte header (0 when the offset is bad). */
export function tcpOptionsLength(buf: Uint8Array, off: number): number {
  const n = tcpHlen(buf, off) - TCP_HDR_MIN;
  return n > 0 ? n : 0;
}

/** The flag byte (TH_* bits). */
export function tcpFlags(buf: Uint8Array, off: number): number {
  return buf[off + OFF_FLAGS]! & 0xff;
}

/** The four bits after the data offset: reserved, except RFC 9768's AE in the lowest. */
export function tcpReserved(buf: Uint8Array, off: number): number {
  return buf[off + OFF_OFFX2]! & 0x0f;
}

/** The window field as sent (unscaled). */
export function tcpWin(buf: Uint8Array, off: number): number {
  return (buf[off + OFF_WIN]! << 8) | buf[off + OFF_WIN + 1]!;
}

export function tcpSum(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_SUM);
}

/** Urgent pointer (meaningful only with TH_URG). */
export function tcpUrp(buf: Uint8Array, off: number): number {
  return read16(buf, off + OFF_URP);
}

/* Setters: write in place; the checksum is the caller's (tcpSetChecksum). */

export function tcpSetSport(buf: Uint8Array, off: number, port: number): void {
  write16(buf, off + OFF_SPORT, port);
}

export function tcpSetDport(buf: Uint8Array, off: number, port: number): void {
  write16(buf, off + OFF_DPORT, port);
}

export function tcpSetSeq(buf: Uint8Array, off: number, seq: number): void {
  write32(buf, off + OFF_SEQ, seq);
}

export function tcpSetAck(buf: Uint8Array, off: number, ack: number): void {
  write32(buf, off + OFF_ACK, ack);
}

/** Header length in bytes (a multiple of 4, 20..60); the reserved bits are cleared. */
export function tcpSetHlen(buf: Uint8Array, off: number, hlen: number): void {
  buf[off + OFF_OFFX2] = ((hlen >>> 2) & 0x0f) << 4;
}

export function tcpSetFlags(buf: Uint8Array, off: number, flags: number): void {
  buf[off + OFF_FLAGS] = flags;
}

export function tcpSetWin(buf: Uint8Array, off: number, win: number): void {
  write16(buf, off + OFF_WIN, win);
}

export function tcpSetSum(buf: Uint8Array, off: number, sum: number): void {
  write16(buf, off + OFF_SUM, sum);
}

export function tcpSetUrp(buf: Uint8Array, off: number, urp: number): void {
  write16(buf, off + OFF_URP, urp);
}

/**
 * Writes the 20 fixed bytes at `off` with a zero checksum. `hlen` is the
 * header length in bytes including the options already written (or about to
 * be) at off + TCP_HDR_MIN; `win` is the window as it goes on the wire
 * (already scaled down). Follow with tcpSetChecksum().
 */
export function tcpWriteHeader(
  buf: Uint8Array,
  off: number,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  hlen: number,
  flags: number,
  win: number,
  urp: number,
): void {
  // Byte by byte, in wire order (every segment sent comes here: no call per field).
  buf[off] = sport >>> 8;
  buf[off + 1] = sport;
  buf[off + 2] = dport >>> 8;
  buf[off + 3] = dport;
  buf[off + 4] = seq >>> 24;
  buf[off + 5] = seq >>> 16;
  buf[off + 6] = seq >>> 8;
  buf[off + 7] = seq;
  buf[off + 8] = ack >>> 24;
  buf[off + 9] = ack >>> 16;
  buf[off + 10] = ack >>> 8;
  buf[off + 11] = ack;
  buf[off + OFF_OFFX2] = ((hlen >>> 2) & 0x0f) << 4;
  buf[off + OFF_FLAGS] = flags;
  buf[off + 14] = win >>> 8;
  buf[off + 15] = win;
  buf[off + 16] = 0;
  buf[off + 17] = 0;
  buf[off + 18] = urp >>> 8;
  buf[off + 19] = urp;
}

/**
 * Computes and stores the checksum over the pseudo header and `len` bytes
 * (header, options and data) from `off` (RFC 9293 §3.1).
 */
export function tcpSetChecksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): void {
  write16(buf, off + OFF_SUM, 0);
  write16(buf, off + OFF_SUM, cksumFinish(cksumAdd(pseudoHeaderSum(src, dst, IPPROTO_TCP, len), buf, off, len)));
}

/* Options. */

/**
 * The options of one segment, parsed. One instance per caller, reused for
 * every segment (tcpParseOptions resets it), so input allocates nothing.
 */
export class TcpOptions {
  /** MSS offered on a SYN (RFC 9293 §3.7.1), -1 when absent. */
  mss = -1;
  /** Window shift offered on a SYN, clamped to 14 (RFC 7323 §2.3), -1 when absent. */
  wscale = -1;
  /** SACK-permitted seen on a SYN (RFC 2018 §2). */
  sackPermitted = false;
  /** A timestamps option was present (RFC 7323 §3.2). */
  tsPresent = false;
  tsVal = 0;
  tsEcr = 0;
  /** SACK blocks received (RFC 2018 §3), 0..4. */
  nsack = 0;
  /** Block i is [sack[2i], sack[2i+1]): left edge, right edge (u32 sequence numbers). */
  readonly sack = new Uint32Array(2 * TCP_MAX_SACK);
  /** TCP Fast Open on a SYN (RFC 7413): -1 absent, 0 a cookie request, else the cookie's length in tfoCookie. */
  tfoLen = -1;
  readonly tfoCookie = new Uint8Array(TCP_FASTOPEN_MAX_COOKIE);

  reset(): void {
    this.tfoLen = -1;
    this.mss = -1;
    this.wscale = -1;
    this.sackPermitted = false;
    this.tsPresent = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.nsack = 0;
  }
}

/**
 * Parses `optlen` bytes of options starting at `off` (the byte after the
 * fixed header: tcp offset + TCP_HDR_MIN; optlen = tcpHlen() - TCP_HDR_MIN)
 * into `into`, which is reset first. BSD tcp_dooptions()'s rules:
 *
 * - EOL ends the list (RFC 9293 §3.2); NOP is one byte.
 * - Any other kind has a length byte counting kind and length. A length
 *   below 2, a missing length byte, or a length running past `optlen` makes
 *   the list malformed: parsing stops, what was read before stays in `into`,
 *   and the result is false so the caller can count or drop it (RFC 9293
 *   §3.2 asks to be prepared for this).
 * - An option with the wrong length for its kind is skipped, as is an
 *   unknown kind (RFC 9293 §3.2: "must be prepared to handle an illegal
 *   option length"; unknown options are ignored).
 * - MSS, window scale and SACK-permitted count only on a SYN (RFC 9293
 *   §3.7.1, RFC 7323 §2.2, RFC 2018 §2); SACK blocks only on a non-SYN
 *   (FreeBSD); timestamps on any segment (RFC 7323 §3.2; whether they are
 *   honoured on a non-SYN depends on negotiation, the caller's business).
 *
 * Returns true when the list was well formed.
 */
export function tcpParseOptions(buf: Uint8Array, off: number, optlen: number, isSyn: boolean, into: TcpOptions): boolean {
  into.reset();
  if (!(off >= 0)) return optlen <= 0;
  let end = off + optlen;
  // A header that claims more than the buffer holds is malformed, not a throw.
  let ok = true;
  if (end > buf.length) {
    end = buf.length;
    ok = false;
  }
  let at = off;
  while (at < end) {
    const kind = buf[at]!;
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) {
      at++;
      continue;
    }
    if (at + 1 >= end) return false;
    const len = buf[at + 1]!;
    if (len < 2 || at + len > end) return false;
    switch (kind) {
      case TCPOPT_MAXSEG:
        if (len === TCPOLEN_MAXSEG && isSyn) into.mss = read16(buf, at + 2);
        break;
      case TCPOPT_WINDOW:
        if (len === TCPOLEN_WINDOW && isSyn) {
          const shift = buf[at + 2]!;
          // RFC 7323 §2.3: a shift above 14 is used as 14.
          into.wscale = shift > TCP_MAX_WINSHIFT ? TCP_MAX_WINSHIFT : shift;
        }
        break;
      case TCPOPT_SACK_PERMITTED:
        if (len === TCPOLEN_SACK_PERMITTED && isSyn) into.sackPermitted = true;
        break;
      case TCPOPT_TIMESTAMP:
        if (len === TCPOLEN_TIMESTAMP) {
          into.tsPresent = true;
          into.tsVal = read32(buf, at + 2);
          into.tsEcr = read32(buf, at + 6);
        }
        break;
      case TCPOPT_FASTOPEN:
        // RFC 7413 §4.1.1: only on a SYN; a cookie is 4 to 16 bytes, even (a bad length is still handed on: it fails the check).
        if (isSyn && len - 2 <= TCP_FASTOPEN_MAX_COOKIE) {
          into.tfoLen = len - 2;
          into.tfoCookie.set(buf.subarray(at + 2, at + len));
        }
        break;
      case TCPOPT_SACK:
        // RFC 2018 §3: kind, length = 8n + 2. FreeBSD ignores SACK on a SYN.
        if (len > 2 && (len - 2) % TCPOLEN_SACK === 0 && !isSyn) {
          let n = (len - 2) / TCPOLEN_SACK;
          if (n > TCP_MAX_SACK) n = TCP_MAX_SACK;
          const sack = into.sack;
          for (let i = 0; i < n; i++) {
            sack[2 * i] = read32(buf, at + 2 + i * TCPOLEN_SACK);
            sack[2 * i + 1] = read32(buf, at + 6 + i * TCPOLEN_SACK);
          }
          into.nsack = n;
        }
        break;
      default:
        break;
    }
    at += len;
  }
  return ok;
}

/* Option writers: each writes at `off` and returns the offset after it. */

export function tcpOptEol(buf: Uint8Array, off: number): number {
  buf[off] = TCPOPT_EOL;
  return off + 1;
}

export function tcpOptNop(buf: Uint8Array, off: number): number {
  buf[off] = TCPOPT_NOP;
  return off + 1;
}

/** MSS (RFC 9293 §3.2), 4 bytes. */
export function tcpOptMss(buf: Uint8Array, off: number, mss: number): number {
  buf[off] = TCPOPT_MAXSEG;
  buf[off + 1] = TCPOLEN_MAXSEG;
  write16(buf, off + 2, mss);
  return off + TCPOLEN_MAXSEG;
}

/** Window scale (RFC 7323 §2.2), 3 bytes. */
export function tcpOptWscale(buf: Uint8Array, off: number, shift: number): number {
  buf[off] = TCPOPT_WINDOW;
  buf[off + 1] = TCPOLEN_WINDOW;
  buf[off + 2] = shift;
  return off + TCPOLEN_WINDOW;
}

/** SACK-permitted (RFC 2018 §2), 2 bytes. */
export function tcpOptSackPermitted(buf: Uint8Array, off: number): number {
  buf[off] = TCPOPT_SACK_PERMITTED;
  buf[off + 1] = TCPOLEN_SACK_PERMITTED;
  return off + TCPOLEN_SACK_PERMITTED;
}

/** Timestamps (RFC 7323 §3.2), 10 bytes. */
export function tcpOptTimestamp(buf: Uint8Array, off: number, val: number, ecr: number): number {
  buf[off] = TCPOPT_TIMESTAMP;
  buf[off + 1] = TCPOLEN_TIMESTAMP;
  buf[off + 2] = val >>> 24;
  buf[off + 3] = val >>> 16;
  buf[off + 4] = val >>> 8;
  buf[off + 5] = val;
  buf[off + 6] = ecr >>> 24;
  buf[off + 7] = ecr >>> 16;
  buf[off + 8] = ecr >>> 8;
  buf[off + 9] = ecr;
  return off + TCPOLEN_TIMESTAMP;
}

/**
 * SACK (RFC 2018 §3): `n` blocks (1..4) from `blocks` as (left, right)
 * pairs, 2 + 8n bytes. The caller keeps n within the space left (3 blocks
 * beside timestamps, RFC 2018 §3).
 */
export function tcpOptSack(buf: Uint8Array, off: number, blocks: Uint32Array, n: number): number {
  buf[off] = TCPOPT_SACK;
  buf[off + 1] = 2 + n * TCPOLEN_SACK;
  let at = off + 2;
  for (let i = 0; i < n; i++) {
    write32(buf, at, blocks[2 * i]!);
    write32(buf, at + 4, blocks[2 * i + 1]!);
    at += TCPOLEN_SACK;
  }
  return at;
}

/* Decoding for people. */

/** How formatTcpSegment prints numbers; every field is optional. */
export interface TcpFormatOptions {
  /** Subtracted (mod 2^32) from seq and its end: packetdrill's relative sequence numbers. */
  seqBase?: number;
  /** Subtracted (mod 2^32) from ack and the SACK edges (they are in the same space). */
  ackBase?: number;
  /** Prefix `sport > dport: `. */
  ports?: boolean;
}

/** Flags in packetdrill's letters and order: F S R P . U E W; `-` for none. */
export function formatTcpFlags(flags: number): string {
  let s = '';
  if (flags & TH_FIN) s += 'F';
  if (flags & TH_SYN) s += 'S';
  if (flags & TH_RST) s += 'R';
  if (flags & TH_PUSH) s += 'P';
  if (flags & TH_ACK) s += '.';
  if (flags & TH_URG) s += 'U';
  if (flags & TH_ECE) s += 'E';
  if (flags & TH_CWR) s += 'W';
  return s === '' ? '-' : s;
}

/**
 * The options as packetdrill writes them, comma-separated, in wire order,
 * every byte shown (an EOL and the padding after it are each `eol`). What
 * cannot be decoded ends the list with `malformed`.
 */
export function formatTcpOptions(buf: Uint8Array, off: number, optlen: number, ackBase = 0): string {
  const parts: string[] = [];
  const end = Math.min(off + optlen, buf.length);
  let at = off;
  while (at < end) {
    const kind = buf[at]!;
    if (kind === TCPOPT_EOL) {
      parts.push('eol');
      at++;
      continue;
    }
    if (kind === TCPOPT_NOP) {
      parts.push('nop');
      at++;
      continue;
    }
    const len = at + 1 < end ? buf[at + 1]! : 0;
    if (len < 2 || at + len > end) {
      parts.push(`malformed kind ${kind} len ${at + 1 < end ? len : '-'}`);
      break;
    }
    if (kind === TCPOPT_MAXSEG && len === TCPOLEN_MAXSEG) parts.push(`mss ${read16(buf, at + 2)}`);
    else if (kind === TCPOPT_WINDOW && len === TCPOLEN_WINDOW) parts.push(`wscale ${buf[at + 2]!}`);
    else if (kind === TCPOPT_SACK_PERMITTED && len === TCPOLEN_SACK_PERMITTED) parts.push('sackOK');
    else if (kind === TCPOPT_TIMESTAMP && len === TCPOLEN_TIMESTAMP)
      parts.push(`TS val ${read32(buf, at + 2)} ecr ${read32(buf, at + 6)}`);
    else if (kind === TCPOPT_SACK && len > 2 && (len - 2) % TCPOLEN_SACK === 0) {
      let s = 'sack';
      for (let b = at + 2; b < at + len; b += TCPOLEN_SACK) {
        s += ` ${(read32(buf, b) - ackBase) >>> 0}:${(read32(buf, b + 4) - ackBase) >>> 0}`;
      }
      parts.push(s);
    } else if (kind === TCPOPT_FASTOPEN) {
      let s = 'FO';
      if (len > 2) s += ` ${Array.from(buf.subarray(at + 2, at + len), (x) => x.toString(16).padStart(2, '0')).join('')}`;
      parts.push(s);
    } else parts.push(`opt ${kind} len ${len}`);
    at += len;
  }
  if (off + optlen > buf.length) parts.push('truncated');
  return parts.join(',');
}

/**
 * A one-line decode of the segment of `len` bytes at `off`, in packetdrill's
 * notation (tcpdump's order): `S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>`.
 * Data length is len - header length; `urg N` appears with TH_URG, `ack N`
 * with TH_ACK, `<…>` when there are options. Never throws: a truncated or
 * inconsistent header is described instead.
 */
export function formatTcpSegment(buf: Uint8Array, off: number, len: number, opts?: TcpFormatOptions): string {
  const avail = off >= 0 ? Math.min(len, buf.length - off) : 0;
  if (!(avail >= TCP_HDR_MIN)) return `[tcp truncated: ${avail > 0 ? avail : 0} bytes]`;
  const prefix = opts?.ports === true ? `${tcpSport(buf, off)} > ${tcpDport(buf, off)}: ` : '';
  const flags = tcpFlags(buf, off);
  const hlen = tcpHlen(buf, off);
  if (hlen < TCP_HDR_MIN || hlen > avail) {
    return `${prefix}${formatTcpFlags(flags)} [bad hdr length ${hlen}, segment ${avail}]`;
  }
  const seqBase = opts?.seqBase ?? 0;
  const ackBase = opts?.ackBase ?? 0;
  const dataLen = avail - hlen;
  const seq = (tcpSeq(buf, off) - seqBase) >>> 0;
  let s = `${prefix}${formatTcpFlags(flags)} ${seq}:${(seq + dataLen) >>> 0}(${dataLen})`;
  if (flags & TH_ACK) s += ` ack ${(tcpAck(buf, off) - ackBase) >>> 0}`;
  s += ` win ${tcpWin(buf, off)}`;
  if (flags & TH_URG) s += ` urg ${tcpUrp(buf, off)}`;
  if (hlen > TCP_HDR_MIN) s += ` <${formatTcpOptions(buf, off + TCP_HDR_MIN, hlen - TCP_HDR_MIN, ackBase)}>`;
  if (avail < len) s += ` [truncated: ${avail} of ${len}]`;
  return s;
}
