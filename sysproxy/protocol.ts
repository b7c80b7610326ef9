/*
 * The sysproxy wire protocol between rump_server and its clients (NetBSD's
 * rump_sp(7) in spirit, not in bytes). PROTOCOL.md is the specification;
 * this file is its code: frame layout, frame types, the HELLO exchange,
 * error payloads and a reassembler for frames split across reads.
 *
 * A frame:
 *
 *   0      4      5          9
 *   +------+------+----------+-------------+
 *   | len  | type | id       | payload ... |     len = 5 + payload bytes (u32 LE)
 *   +------+------+----------+-------------+     id: u32 LE, the request it answers
 *
 * Call order on a connection: client HELLO -> server HELLO, then any number
 * of CALL -> RESULT | ERROR, answered in any order and matched by id,
 * and a CLOSE from either side before it hangs up.
 */
import { Errno, EINVAL, EIO, errnoName } from '../kern/errno.js';
import { ProtocolError, TAG_BYTES, decode, encodedSize, encodeExact, type Value } from './codec.js';

export { ProtocolError } from './codec.js';

export const PROTOCOL_VERSION = 1;
/** "RUMP", the first bytes of both HELLO payloads. */
export const MAGIC = Uint8Array.of(0x52, 0x55, 0x4d, 0x50);

export const FRAME_HELLO = 1;
export const FRAME_CALL = 2;
export const FRAME_RESULT = 3;
export const FRAME_ERROR = 4;
export const FRAME_CLOSE = 5;

/** The length field, the type and the request id. */
export const HEADER_BYTES = 9;
/** Type and id: what the length field counts besides the payload. */
const LENGTH_OVERHEAD = 5;
/** The largest payload a frame may carry (16 MiB). */
export const MAX_PAYLOAD = 16 * 1024 * 1024;
/** The largest length field accepted. */
export const MAX_FRAME_LENGTH = MAX_PAYLOAD + LENGTH_OVERHEAD;

/** HELLO and connection-wide ERRORs carry request id 0; calls use 1 .. 2^32-1. */
export const CONNECTION_ID = 0;

/** What a server says about itself in its HELLO. */
export interface Banner {
  /** The kernel's version string (kern.version). */
  version: string;
  /** kern.ostype. */
  ostype: string;
  /** kern.hostname. */
  hostname: string;
  /** The server's host process id. */
  pid: number;
  /**
   * Optional protocol features the server offers (PROTOCOL.md, "Features"):
   * `stream` for the pipelined stream calls. Absent from older servers.
   */
  features?: string[];
}

/** A payload too large for one frame; callers turn it into EMSGSIZE. */
export class FrameTooLargeError extends ProtocolError {
  constructor(readonly size: number) {
    super(`payload of ${size} bytes exceeds the ${MAX_PAYLOAD}-byte frame limit`);
    this.name = 'FrameTooLargeError';
  }
}

export function frameTypeName(type: number): string {
  switch (type) {
    case FRAME_HELLO:
      return 'HELLO';
    case FRAME_CALL:
      return 'CALL';
    case FRAME_RESULT:
      return 'RESULT';
    case FRAME_ERROR:
      return 'ERROR';
    case FRAME_CLOSE:
      return 'CLOSE';
    default:
      return `type ${type}`;
  }
}

function header(buf: Buffer, type: number, id: number): void {
  headerAt(buf, 0, buf.length - 4, type, id);
}

/** A frame header at `at`: the length of what follows the length word, the type, the id. */
function headerAt(buf: Buffer, at: number, length: number, type: number, id: number): void {
  buf.writeUInt32LE(length, at);
  buf[at + 4] = type;
  buf.writeUInt32LE(id, at + 5);
}

/** The head of a frame whose payload is one bytes value: the header, the value's tag and its length. */
export const BYTES_FRAME_HEAD = HEADER_BYTES + 5;

/**
 * That head, written at `at` for `n` bytes of data to follow it in place:
 * what encodeFrameHeadLength makes for a bytes value, without a buffer of its own.
 */
export function writeBytesFrameHead(buf: Buffer, at: number, type: number, id: number, n: number): void {
  headerAt(buf, at, BYTES_FRAME_HEAD - 4 + n, type, id);
  buf[at + HEADER_BYTES] = TAG_BYTES;
  buf.writeUInt32LE(n, at + HEADER_BYTES + 1);
}

/**
 * A frame whose payload is one encoded value. Throws FrameTooLargeError past
 * MAX_PAYLOAD and ProtocolError for a value the codec cannot carry.
 */
export function encodeFrame(type: number, id: number, value: unknown): Buffer {
  const size = encodedSize(value);
  if (size > MAX_PAYLOAD) throw new FrameTooLargeError(size);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + size);
  header(buf, type, id);
  encodeExact(value, buf, HEADER_BYTES, size);
  return buf;
}

const NO_BYTES = new Uint8Array(0);

/** From this size on, bytes at the end of a value travel without being copied into the frame. */
export const TAIL_BYTES_MIN = 4096;

/**
 * The head of a frame whose value ends with a bytes value `data` (`build`
 * puts its placeholder where the data goes, as the value's last element):
 * everything up to the data. Write the head, then `data` itself: the same
 * bytes as encodeFrame(type, id, build(data)), without copying the data.
 */
export function encodeFrameHead(type: number, id: number, build: (placeholder: Uint8Array) => unknown, data: Uint8Array): Buffer {
  return encodeFrameHeadLength(type, id, build, data.length);
}

/** encodeFrameHead for data of `length` bytes that follows in pieces (written one after another). */
export function encodeFrameHeadLength(type: number, id: number, build: (placeholder: Uint8Array) => unknown, length: number): Buffer {
  const head = encodeFrame(type, id, build(NO_BYTES));
  const size = head.length - HEADER_BYTES + length;
  if (size > MAX_PAYLOAD) throw new FrameTooLargeError(size);
  head.writeUInt32LE(head.length - 4 + length, 0);
  head.writeUInt32LE(length, head.length - 4); // the bytes value's length, its last field
  return head;
}

/** A frame with no payload (CLOSE). */
export function encodeEmptyFrame(type: number, id: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES);
  header(buf, type, id);
  return buf;
}

/** What a client may say of itself at HELLO (NetBSD's rumpclient handshake sends its program name). */
export interface ClientInfo {
  /** The command name the rump kernel shows for the client's process (sockstat's COMMAND). */
  comm: string;
}

/** The longest command name kept (NetBSD's MAXCOMLEN). */
export const MAXCOMLEN = 16;

/** The client's HELLO: magic, the protocol version it speaks, and optionally who it is. */
export function encodeClientHello(version: number = PROTOCOL_VERSION, info?: ClientInfo): Buffer {
  const rec = info === undefined ? undefined : { comm: info.comm.slice(0, MAXCOMLEN) };
  const size = rec === undefined ? 0 : encodedSize(rec);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + 6 + size);
  header(buf, FRAME_HELLO, CONNECTION_ID);
  buf.set(MAGIC, HEADER_BYTES);
  buf.writeUInt16LE(version, HEADER_BYTES + 4);
  if (rec !== undefined) encodeExact(rec, buf, HEADER_BYTES + 6, size);
  return buf;
}

/** The server's HELLO: magic, the version it will speak, its banner. */
export function encodeServerHello(banner: Banner): Buffer {
  const b: Banner = { version: banner.version, ostype: banner.ostype, hostname: banner.hostname, pid: banner.pid };
  if (banner.features !== undefined) b.features = banner.features;
  const size = encodedSize(b);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + 6 + size);
  header(buf, FRAME_HELLO, CONNECTION_ID);
  buf.set(MAGIC, HEADER_BYTES);
  buf.writeUInt16LE(PROTOCOL_VERSION, HEADER_BYTES + 4);
  encodeExact(b, buf, HEADER_BYTES + 6, size);
  return buf;
}

function helloVersion(payload: Uint8Array): number {
  if (payload.length < 6) throw new ProtocolError(`HELLO payload of ${payload.length} bytes is too short`);
  for (let i = 0; i < 4; i++) {
    if (payload[i] !== MAGIC[i]) throw new ProtocolError('HELLO without the "RUMP" magic');
  }
  return payload[4]! | (payload[5]! << 8);
}

/**
 * The version a client asks for and what it says of itself (null when it
 * says nothing). Throws ProtocolError for a malformed HELLO.
 */
export function parseClientHello(payload: Uint8Array): { version: number; info: ClientInfo | null } {
  const version = helloVersion(payload);
  if (version !== PROTOCOL_VERSION || payload.length === 6) return { version, info: null };
  const v = decode(payload, 6);
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    throw new ProtocolError('client HELLO: what follows the version is not a record');
  }
  const comm = (v as Record<string, Value>)['comm'];
  if (typeof comm !== 'string' || comm.length === 0) throw new ProtocolError('client HELLO record has no string "comm"');
  return { version, info: { comm: comm.slice(0, MAXCOMLEN) } };
}

/** The server's answer. Throws ProtocolError for a malformed HELLO or banner. */
export function parseServerHello(payload: Uint8Array): { version: number; banner: Banner } {
  const version = helloVersion(payload);
  const v = decode(payload, 6);
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    throw new ProtocolError('server HELLO banner is not a record');
  }
  const rec = v as Record<string, Value>;
  const str = (k: string): string => {
    const x = rec[k];
    if (typeof x !== 'string') throw new ProtocolError(`server HELLO banner has no string "${k}"`);
    return x;
  };
  const pid = rec['pid'];
  if (typeof pid !== 'number') throw new ProtocolError('server HELLO banner has no number "pid"');
  const banner: Banner = { version: str('version'), ostype: str('ostype'), hostname: str('hostname'), pid };
  // Features unknown to us are ignored, so a server may offer more than a client uses.
  const features = rec['features'];
  if (features !== undefined) {
    if (!Array.isArray(features) || !features.every((f) => typeof f === 'string')) {
      throw new ProtocolError('server HELLO banner: "features" is not a list of strings');
    }
    banner.features = features as string[];
  }
  return { version, banner };
}

/** The body of an ERROR frame. */
export interface ErrorPayload {
  errno: number;
  code: string;
  message: string;
  syscall: string;
}

/**
 * What a failed call sends back. A kernel Errno travels as it is; anything
 * else that a call threw (a TypeError from arguments of the wrong shape, an
 * Error from inside the kernel) becomes EINVAL with its message, because the
 * client can only be given an errno.
 */
export function errorPayload(e: unknown, syscall: string): ErrorPayload {
  if (e instanceof Errno) {
    return { errno: e.errno, code: e.code, message: e.message, syscall: e.syscall ?? syscall };
  }
  const text = e instanceof Error ? e.message : String(e);
  return { errno: EINVAL, code: errnoName(EINVAL), message: `${syscall}: ${text}`, syscall };
}

/**
 * Rebuild the Errno of an ERROR payload on the client. A payload without a
 * usable errno becomes EIO: the client must always get a real Errno.
 */
export function errnoFromPayload(v: Value, syscall: string): Errno {
  const rec = v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Record<string, Value>) : {};
  const errno = rec['errno'];
  const sc = typeof rec['syscall'] === 'string' ? (rec['syscall'] as string) : syscall;
  const ok = typeof errno === 'number' && Number.isInteger(errno) && errno > 0 && errno < 0x10000;
  const e = new Errno(ok ? errno : EIO, sc);
  if (typeof rec['message'] === 'string' && rec['message'].length > 0) e.message = rec['message'];
  return e;
}

/** Receives the frames a FrameReader reassembles. */
export interface FrameSink {
  /** `payload` is a view into the reader's input, valid for as long as the caller keeps it. */
  frame(type: number, id: number, payload: Uint8Array): void;
  /**
   * Optional: a frame that came in pieces (views of the reads it spans,
   * in order, `length` payload bytes in all), offered before they are
   * copied into one buffer. True when the sink took them; false makes the
   * reader join them and call frame(). A bulk answer (a recvwait's bytes)
   * reaches its reader as the views, never copied.
   */
  framePieces?(type: number, id: number, pieces: Uint8Array[], length: number): boolean;
}

/**
 * A frame split across reads is kept as views of the reads while they are
 * at least this large (the first and the last may be shorter), at most
 * PIECES_MAX of them: then, or for smaller pieces, it is copied into one
 * buffer instead, so a peer trickling bytes cannot make us keep a view
 * object per byte.
 */
const PIECE_MIN = 16 << 10;
const PIECES_MAX = 1024;

/**
 * Reassembles frames from a byte stream. A read that holds whole frames is
 * handed out as views without copying; a frame split across reads is kept
 * as views of the reads it spans, offered to the sink as they are
 * (framePieces), else joined into one buffer of its size; a peer trickling
 * small reads gets its frame collected into one buffer that grows as
 * bytes arrive (never by repeated concatenation). A bad length field
 * throws ProtocolError; the caller closes the connection, since the stream
 * can no longer be trusted to be in step.
 *
 * Input chunks must not be reused after push(): payload views point into them.
 */
export class FrameReader {
  /** The partial length field of a frame split inside its first four bytes. */
  private readonly head = new Uint8Array(4);
  private headFill = 0;
  /** A frame (without its length field) is being collected across reads. */
  private collecting = false;
  /** Its pieces, as views of the reads, while they are large enough (PIECE_MIN). */
  private pieces: Uint8Array[] | null = null;
  /**
   * Or its bytes copied into one buffer, which grows as bytes arrive: a
   * peer that announces 16 MiB and sends ten bytes makes us hold ten
   * bytes' worth, not 16 MiB.
   */
  private partial: Uint8Array | null = null;
  private partialLen = 0;
  private partialFill = 0;
  private stopped = false;

  constructor(private readonly sink: FrameSink) {}

  /** Stop delivering frames (the connection is closing). */
  stop(): void {
    this.stopped = true;
    this.collecting = false;
    this.partial = null;
    this.pieces = null;
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.headFill + this.partialFill;
  }

  private checkLength(len: number): void {
    if (len < LENGTH_OVERHEAD) throw new ProtocolError(`frame length ${len} is shorter than its header`);
    if (len > MAX_FRAME_LENGTH) throw new ProtocolError(`frame length ${len} exceeds the limit of ${MAX_FRAME_LENGTH}`);
  }

  private deliver(bytes: Uint8Array, off: number, len: number): void {
    const type = bytes[off]!;
    const id = (bytes[off + 1]! | (bytes[off + 2]! << 8) | (bytes[off + 3]! << 16) | (bytes[off + 4]! << 24)) >>> 0;
    this.sink.frame(type, id, bytes.subarray(off + LENGTH_OVERHEAD, off + len));
  }

  push(chunk: Uint8Array): void {
    const end = chunk.length;
    let off = 0;
    while (!this.stopped) {
      if (this.collecting) {
        const want = this.partialLen - this.partialFill;
        const n = Math.min(want, end - off);
        this.collect(chunk.subarray(off, off + n), n < want);
        off += n;
        if (this.partialFill < this.partialLen) return;
        this.complete();
        continue;
      }
      if (this.headFill > 0) {
        while (this.headFill < 4 && off < end) this.head[this.headFill++] = chunk[off++]!;
        if (this.headFill < 4) return;
        this.headFill = 0;
        const len = (this.head[0]! | (this.head[1]! << 8) | (this.head[2]! << 16) | (this.head[3]! << 24)) >>> 0;
        this.checkLength(len);
        this.startPartial(len);
        continue;
      }
      const avail = end - off;
      if (avail === 0) return;
      if (avail < 4) {
        while (off < end) this.head[this.headFill++] = chunk[off++]!;
        return;
      }
      const len = (chunk[off]! | (chunk[off + 1]! << 8) | (chunk[off + 2]! << 16) | (chunk[off + 3]! << 24)) >>> 0;
      this.checkLength(len);
      off += 4;
      if (end - off >= len) {
        const at = off;
        off += len;
        this.deliver(chunk, at, len);
      } else {
        this.startPartial(len);
      }
    }
  }

  private startPartial(len: number): void {
    this.collecting = true;
    this.partialLen = len;
    this.partialFill = 0;
    this.pieces = [];
  }

  /** Keep `piece` of the frame being collected; `more`: it is not the last. */
  private collect(piece: Uint8Array, more: boolean): void {
    if (piece.length === 0) return;
    const pieces = this.pieces;
    if (pieces !== null && (pieces.length === 0 || piece.length >= PIECE_MIN || !more) && pieces.length < PIECES_MAX) {
      pieces.push(piece);
    } else {
      if (pieces !== null) {
        // From here on one buffer: what was kept as views is copied in first.
        this.pieces = null;
        this.partial = new Uint8Array(0);
        let at = 0;
        this.grow(this.partialFill + piece.length);
        for (const p of pieces) {
          this.partial.set(p, at);
          at += p.length;
        }
      } else if (this.partialFill + piece.length > this.partial!.length) this.grow(this.partialFill + piece.length);
      this.partial!.set(piece, this.partialFill);
    }
    this.partialFill += piece.length;
  }

  /** The frame being collected is whole: hand it on. */
  private complete(): void {
    const len = this.partialLen;
    const pieces = this.pieces;
    const buf = this.partial;
    this.collecting = false;
    this.pieces = null;
    this.partial = null;
    this.partialFill = 0;
    if (pieces === null) {
      this.deliver(buf!, 0, len);
      return;
    }
    if (pieces.length === 1) {
      this.deliver(pieces[0]!, 0, len);
      return;
    }
    const first = pieces[0]!;
    if (first.length > LENGTH_OVERHEAD && this.sink.framePieces !== undefined) {
      const type = first[0]!;
      const id = (first[1]! | (first[2]! << 8) | (first[3]! << 16) | (first[4]! << 24)) >>> 0;
      pieces[0] = first.subarray(LENGTH_OVERHEAD);
      if (this.sink.framePieces(type, id, pieces, len - LENGTH_OVERHEAD)) return;
      pieces[0] = first;
    }
    this.deliver(Buffer.concat(pieces, len), 0, len);
  }

  /** Room for at least `need` bytes of the partial frame: doubling, never past its length. */
  private grow(need: number): void {
    const old = this.partial!;
    const next = Buffer.allocUnsafeSlow(Math.min(this.partialLen, Math.max(need, old.length * 2, PARTIAL_FIRST)));
    next.set(old.subarray(0, this.partialFill));
    this.partial = next;
  }
}

/**
 * What a frame collected into one buffer gets at first (when small
 * reads made it leave views); it doubles as its bytes arrive.
 */
const PARTIAL_FIRST = 64 << 10;

/**
 * The calls a client may make: exactly the system calls of kern/sys.ts `Sys`
 * (its bookkeeping methods, such as `fdalloc` or `closeAll`, stay private to
 * the server), plus `halt`, which the server handles itself.
 */
export const SYSCALL_NAMES = [
  'socket', 'bind', 'listen', 'accept', 'connect', 'shutdown', 'close',
  'read', 'write', 'send', 'sendto', 'recv', 'recvfrom',
  'setsockopt', 'getsockopt', 'getsockname', 'getpeername',
  'fcntl', 'ioctl', 'poll', 'sysctl', 'sysctlSet', 'sysctlList', 'ext', 'getrlimit', 'setrlimit',
] as const;
export type SyscallName = (typeof SYSCALL_NAMES)[number];

const syscallSet: ReadonlySet<string> = new Set(SYSCALL_NAMES);
export function isSyscallName(name: string): name is SyscallName {
  return syscallSet.has(name);
}

/**
 * The `stream` feature (PROTOCOL.md): calls the server runs itself on a
 * connected stream socket, in call order per descriptor and kind, whatever
 * O_NONBLOCK says, so a client can have several in flight.
 *
 *   sendall(fd, bytes) -> count   every byte is in the socket's send buffer
 *   recvwait(fd, len)  -> bytes   waits until at least one byte, EOF (empty) or an error
 */
export const FEATURE_STREAM = 'stream';
export const SENDALL_METHOD = 'sendall';
export const RECVWAIT_METHOD = 'recvwait';

/**
 * The `accept` feature: acceptwait(fd) -> { fd, sockname, peername }, an
 * accept(2) that waits, on a listening socket, in call order per
 * descriptor; the new descriptor comes non-blocking, with its names. A
 * client keeps several waiting, so connections arrive without a round trip
 * each (PROTOCOL.md, "Accept and datagram calls").
 */
export const FEATURE_ACCEPT = 'accept';
export const ACCEPTWAIT_METHOD = 'acceptwait';

/**
 * The `dgram` feature: recvfromwait(fd, len) -> { data, from, flags }, one
 * datagram with its source as soon as there is one, in call order per
 * descriptor.
 */
export const FEATURE_DGRAM = 'dgram';
export const RECVFROMWAIT_METHOD = 'recvfromwait';

/**
 * The host socket buffers of a sysproxy connection, each way; both ends
 * set them (hypercall/node.ts setStreamBuffers). A stream's recvwait
 * answers are up to 1 MiB each, several in flight; in the host's default
 * unix-socket buffer (about 208 KiB on Linux) each answer took more than
 * one write, each waiting until the client's process had been scheduled
 * and had read: under load those waits, not the work, set the speed.
 */
export const CONNECTION_BUFFER = 2 << 20;

/** The server-side call that halts the kernel (rump.halt). */
export const HALT_METHOD = 'halt';

/** halt's argument: `exit: false` is rump.halt -h (halt the kernel, keep the host process). */
export interface HaltOptions {
  exit?: boolean;
}

/**
 * The most a read, recv or recvfrom asks of the server's kernel in one call,
 * and the most data a write, send or sendto carries in one frame: what fits
 * a frame with room left for the rest of the result record. A stream read or
 * write may be short, as read(2) and write(2) allow; a datagram that large
 * does not exist (IPv4 stops at 64 KiB).
 */
export const MAX_IO = MAX_PAYLOAD - 4096;
