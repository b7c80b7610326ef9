/*
 * The value encoding of the sysproxy protocol: system call arguments and
 * results, which are numbers, strings, byte arrays and small records
 * (sockaddrs, poll sets, ioctl arguments, sysctl values).
 *
 * Each value is a one-byte tag and its body; multi-byte integers are
 * little-endian (PROTOCOL.md has the table):
 *
 *   0x00 null            0x04 float64 (8 bytes)          0x07 array  (u32 count, values)
 *   0x01 undefined       0x05 string (u32 length, UTF-8) 0x08 object (u32 count, (u32 length,
 *   0x02 false           0x06 bytes  (u32 length, raw)                 UTF-8 key, value) pairs)
 *   0x03 true
 *
 * Bytes travel raw: a datagram costs its length plus five bytes, with no
 * base64 and no JSON. Encoding sizes a value first and then writes it into
 * one buffer, so a frame is built with a single allocation.
 *
 * Decoding takes input from the other end of a socket, so it trusts nothing:
 * every read is bounds-checked, a count can never promise more elements than
 * there are bytes left, nesting is limited, strings must be valid UTF-8, and
 * the value must use the buffer exactly. Anything else is a ProtocolError;
 * no RangeError or TypeError escapes.
 */

/** A malformed frame or value, or a value that cannot be encoded. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export const TAG_NULL = 0x00;
export const TAG_UNDEFINED = 0x01;
export const TAG_FALSE = 0x02;
export const TAG_TRUE = 0x03;
export const TAG_F64 = 0x04;
export const TAG_STRING = 0x05;
export const TAG_BYTES = 0x06;
export const TAG_ARRAY = 0x07;
export const TAG_OBJECT = 0x08;

/** Arrays and objects nest at most this deep (a sockaddr inside a result is depth 2). */
export const MAX_DEPTH = 64;

/** What the codec carries. Objects are records of these. */
export type Value =
  | null
  | undefined
  | boolean
  | number
  | string
  | Uint8Array
  | Value[]
  | { [key: string]: Value };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/**
 * Objects that would silently lose their meaning as a record of their own
 * enumerable properties are refused rather than sent as `{}`.
 */
function isOpaqueObject(v: object): boolean {
  return (
    ArrayBuffer.isView(v) ||
    v instanceof ArrayBuffer ||
    v instanceof Map ||
    v instanceof Set ||
    v instanceof Date ||
    v instanceof RegExp ||
    v instanceof Promise ||
    v instanceof WeakMap ||
    v instanceof WeakSet
  );
}

function sizeOf(v: unknown, depth: number, path: string): number {
  switch (typeof v) {
    case 'undefined':
    case 'boolean':
      return 1;
    case 'number':
      return 9;
    case 'string':
      return 5 + Buffer.byteLength(v, 'utf8');
    case 'object': {
      if (v === null) return 1;
      if (v instanceof Uint8Array) return 5 + v.length;
      if (depth >= MAX_DEPTH) throw new ProtocolError(`cannot encode ${path}: nested deeper than ${MAX_DEPTH}`);
      if (Array.isArray(v)) {
        let n = 5;
        for (let i = 0; i < v.length; i++) n += sizeOf(v[i], depth + 1, path);
        return n;
      }
      if (isOpaqueObject(v)) throw new ProtocolError(`cannot encode ${path}: a ${describe(v)}`);
      let n = 5;
      for (const key of Object.keys(v)) {
        n += 4 + Buffer.byteLength(key, 'utf8') + sizeOf((v as Record<string, unknown>)[key], depth + 1, `${path}.${key}`);
      }
      return n;
    }
    default:
      throw new ProtocolError(`cannot encode ${path}: a ${typeof v}`);
  }
}

/** Bytes `v` takes encoded. Throws ProtocolError for a value the codec cannot carry. */
export function encodedSize(v: unknown): number {
  return sizeOf(v, 0, 'value');
}

/**
 * Write `v` into `buf` at `off` and return the offset after it. `buf` must
 * have `encodedSize(v)` bytes free there; call encodedSize first (it is
 * also what rejects values that cannot be encoded).
 */
export function encodeInto(v: unknown, buf: Buffer, off: number): number {
  switch (typeof v) {
    case 'undefined':
      buf[off] = TAG_UNDEFINED;
      return off + 1;
    case 'boolean':
      buf[off] = v ? TAG_TRUE : TAG_FALSE;
      return off + 1;
    case 'number':
      buf[off] = TAG_F64;
      buf.writeDoubleLE(v, off + 1);
      return off + 9;
    case 'string': {
      buf[off] = TAG_STRING;
      const n = buf.write(v, off + 5, 'utf8');
      buf.writeUInt32LE(n, off + 1);
      return off + 5 + n;
    }
    default: {
      if (v === null) {
        buf[off] = TAG_NULL;
        return off + 1;
      }
      if (v instanceof Uint8Array) {
        buf[off] = TAG_BYTES;
        buf.writeUInt32LE(v.length, off + 1);
        buf.set(v, off + 5);
        return off + 5 + v.length;
      }
      if (Array.isArray(v)) {
        buf[off] = TAG_ARRAY;
        buf.writeUInt32LE(v.length, off + 1);
        let o = off + 5;
        for (let i = 0; i < v.length; i++) o = encodeInto(v[i], buf, o);
        return o;
      }
      const rec = v as Record<string, unknown>;
      const keys = Object.keys(rec);
      buf[off] = TAG_OBJECT;
      buf.writeUInt32LE(keys.length, off + 1);
      let o = off + 5;
      for (const key of keys) {
        const n = buf.write(key, o + 4, 'utf8');
        buf.writeUInt32LE(n, o);
        o = encodeInto(rec[key], buf, o + 4 + n);
      }
      return o;
    }
  }
}

/**
 * Write `v`, whose encodedSize is `size`, at `off`, and check it took exactly
 * that: a getter that answers differently the second time must not leave a
 * frame whose length field lies (Buffer#write would truncate silently).
 */
export function encodeExact(v: unknown, buf: Buffer, off: number, size: number): void {
  let end: number;
  try {
    end = encodeInto(v, buf, off);
  } catch (e) {
    if (e instanceof RangeError) throw new ProtocolError('cannot encode value: it changed while being encoded');
    throw e;
  }
  if (end !== off + size) throw new ProtocolError('cannot encode value: it changed while being encoded');
}

/** Encode one value into a new buffer of exactly its size. */
export function encode(v: unknown): Buffer {
  const size = encodedSize(v);
  const buf = Buffer.allocUnsafe(size);
  encodeExact(v, buf, 0, size);
  return buf;
}

/** A bounds-checked cursor over one encoded value. */
class Reader {
  private readonly view: DataView;
  off: number;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.off = start;
  }

  private need(n: number, what: string): void {
    if (this.end - this.off < n) {
      throw new ProtocolError(`truncated ${what} at offset ${this.off}: need ${n} bytes, have ${this.end - this.off}`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.off++]!;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.off, true);
    this.off += 4;
    return v;
  }

  f64(): number {
    this.need(8, 'number');
    const v = this.view.getFloat64(this.off, true);
    this.off += 8;
    return v;
  }

  /** A view of the next `n` bytes (plain Uint8Array, never a Buffer, no copy). */
  raw(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + this.off, n);
    this.off += n;
    return v;
  }

  string(what: string): string {
    const n = this.u32(`${what} length`);
    this.need(n, what);
    const start = this.off;
    this.off += n;
    // Short ASCII strings (method names, addresses, sysctl names) are most
    // of what travels: build them directly instead of going through TextDecoder.
    if (n <= 32) {
      let s = '';
      for (let i = start; i < start + n; i++) {
        const c = this.bytes[i]!;
        if (c >= 0x80) return this.decodeUtf8(start, n, what);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return this.decodeUtf8(start, n, what);
  }

  private decodeUtf8(start: number, n: number, what: string): string {
    try {
      return utf8.decode(this.bytes.subarray(start, start + n));
    } catch {
      throw new ProtocolError(`${what} at offset ${start} is not valid UTF-8`);
    }
  }

  /** Elements announced by a count must each take at least `min` bytes. */
  count(min: number, what: string): number {
    const n = this.u32(`${what} count`);
    if (n * min > this.end - this.off) {
      throw new ProtocolError(`${what} of ${n} elements at offset ${this.off} is longer than the ${this.end - this.off} bytes left`);
    }
    return n;
  }

  value(depth: number): Value {
    const at = this.off;
    const tag = this.u8('tag');
    switch (tag) {
      case TAG_NULL:
        return null;
      case TAG_UNDEFINED:
        return undefined;
      case TAG_FALSE:
        return false;
      case TAG_TRUE:
        return true;
      case TAG_F64:
        return this.f64();
      case TAG_STRING:
        return this.string('string');
      case TAG_BYTES:
        return this.raw(this.u32('bytes length'), 'bytes');
      case TAG_ARRAY: {
        if (depth >= MAX_DEPTH) throw new ProtocolError(`array at offset ${at} nested deeper than ${MAX_DEPTH}`);
        const n = this.count(1, 'array');
        const out: Value[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
        return out;
      }
      case TAG_OBJECT: {
        if (depth >= MAX_DEPTH) throw new ProtocolError(`object at offset ${at} nested deeper than ${MAX_DEPTH}`);
        const n = this.count(5, 'object');
        const out: { [key: string]: Value } = {};
        for (let i = 0; i < n; i++) {
          const key = this.string('key');
          const v = this.value(depth + 1);
          // defineProperty, not assignment: a key "__proto__" from the wire
          // must become an ordinary property, never the object's prototype.
          Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
        }
        return out;
      }
      default:
        throw new ProtocolError(`unknown tag 0x${tag.toString(16).padStart(2, '0')} at offset ${at}`);
    }
  }
}

/**
 * Decode the one value that fills `bytes[start, end)` exactly. Byte arrays
 * in the result are views into `bytes` (no copy), so the caller must not
 * reuse `bytes` while it holds the result. Throws ProtocolError.
 */
export function decode(bytes: Uint8Array, start = 0, end = bytes.length): Value {
  if (start < 0 || end > bytes.length || start > end) throw new ProtocolError('decode: range outside the buffer');
  const r = new Reader(bytes, start, end);
  const v = r.value(0);
  if (r.off !== end) throw new ProtocolError(`${end - r.off} bytes after the value at offset ${r.off}`);
  return v;
}
