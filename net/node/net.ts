/*
 * `kernel.net`: Node's `net` module on a rump kernel.
 *
 *   const server = kernel.net.createServer((sock) => sock.pipe(sock)).listen(7);
 *   const sock = kernel.net.connect(7, '192.0.2.1', () => sock.end('hello'));
 *
 * Socket is a Duplex over a TcpHandle (handle.ts), kept as thin as Node's
 * own net.js keeps its Socket over TCPWrap, and with the same behaviour:
 *
 * - connect: an address literal connects on the next tick, a name is
 *   looked up first ('lookup'); then 'connect' and 'ready', or 'error'
 *   (`connect ECONNREFUSED 192.0.2.1:7`) followed by 'close' (true).
 *   Writes made while connecting wait for the connection.
 * - reading: the handle reads while the readable side wants data; when
 *   push() says the buffer is full it stops (readStop), the kernel's
 *   receive buffer fills and TCP's window closes, until the reader drains.
 * - writing: write() returns false above the high-water mark and 'drain'
 *   follows once the kernel's send buffer has taken the data.
 * - end(): FIN after what was written ('finish'). Without allowHalfOpen a
 *   received FIN ends our side too; with it the socket stays writable.
 * - destroy(): the descriptor closes at once; 'error' (if any) and then
 *   'close' (hadError) follow, 'close' after the kernel has closed it.
 *   resetAndDestroy() closes with SO_LINGER 0, so the peer sees a RST.
 * - the idle timeout (Node's method of that name): 'timeout' after that long without activity, on the
 *   kernel's clock (simulated time on a sim host).
 *
 * Server has Node's listen() forms for TCP, address(), close() that waits
 * for the connections to end, getConnections(), maxConnections, ref/unref.
 * `kernel.net.listen(server, ...)` makes any net.Server (an http.Server)
 * listen on the kernel instead of the host; the hijack uses it too.
 *
 * Not supported, because a rump kernel has no such thing: host file
 * descriptors (`fd`), and local (AF_UNIX) sockets unless the environment
 * provides them (the hijack leaves those on the host).
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import { EventEmitter } from 'node:events';
import { Buffer } from 'node:buffer';
import { AF_INET, AF_INET6 } from '../../kern/sys.js';
import { ENOTCONN, EAFNOSUPPORT } from '../../kern/errno.js';
import {
  ConnectReq, ShutdownReq, TcpHandle, TcpServerHandle, WriteReq, isIP, isIPv4, isIPv6, lookupHost,
  type AddressInfo, type HandleEnv, type HandleTimer, type LookupFunction,
} from './handle.js';
import {
  UV_EOF, errnoException, exceptionWithHostPort, nodeError, uvExceptionWithHostPort,
} from './errors.js';

/** What a Socket needs of its handle: TcpHandle, or a local stream the environment provides. */
export interface StreamHandle {
  reading: boolean;
  onread: (nread: number, buf?: Buffer) => void;
  owner: unknown;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly writeQueueSize: number;
  connect(req: ConnectReq): number;
  readStart(): number;
  readStop(): number;
  writev(req: WriteReq, chunks: Uint8Array[]): number;
  shutdown(req: ShutdownReq): number;
  close(cb?: () => void): void;
  reset?(cb?: () => void): number;
  getsockname(out: Partial<AddressInfo>): number;
  getpeername(out: Partial<AddressInfo>): number;
  setNoDelay?(on: boolean): number;
  setKeepAlive?(on: boolean, delaySecs: number): number;
  ref(): void;
  unref(): void;
  getAsyncId?(): number;
  /** Why the kernel is out of reach (a remote server gone), appended to error messages. */
  lostDetail?(): string | undefined;
}

/** What the environment may add for the net face: local streams kept on the host (the hijack). */
export interface NetEnv extends HandleEnv {
  /** A handle for a local (AF_UNIX) path; absent, local sockets fail with EAFNOSUPPORT as on a kernel without them. */
  readonly localStream?: () => StreamHandle;
}

export interface SocketConstructorOpts extends DuplexOptions {
  handle?: StreamHandle;
  fd?: number;
  allowHalfOpen?: boolean;
  readable?: boolean;
  writable?: boolean;
  pauseOnCreate?: boolean;
  manualStart?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export interface TcpConnectOpts {
  port?: number | string;
  host?: string;
  localAddress?: string;
  localPort?: number;
  family?: number | string;
  hints?: number;
  lookup?: LookupFunction;
  path?: string;
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  allowHalfOpen?: boolean;
  signal?: AbortSignal;
  autoSelectFamily?: boolean;
  autoSelectFamilyAttemptTimeout?: number;
}

export interface ListenOpts {
  port?: number | string | null;
  host?: string;
  backlog?: number;
  path?: string;
  exclusive?: boolean;
  ipv6Only?: boolean;
  fd?: number;
  signal?: AbortSignal;
  handle?: unknown;
  _handle?: unknown;
  readableAll?: boolean;
  writableAll?: boolean;
}

const kLastWriteQueueSize = Symbol('lastWriteQueueSize');
const kSetNoDelay = Symbol('setNoDelay');
const kSetKeepAlive = Symbol('setKeepAlive');
const kSetKeepAliveInitialDelay = Symbol('setKeepAliveInitialDelay');
const kBytesRead = Symbol('bytesRead');
const kBytesWritten = Symbol('bytesWritten');
const kTimer = Symbol('timer');
const kTimerMs = Symbol('timerMs');
const kEnv = Symbol('env');
const normalized = Symbol('normalizedArgs');

/** The largest timer Node allows (TIMEOUT_MAX, 2^31 - 1 ms). */
const TIMEOUT_MAX = 2 ** 31 - 1;

const noop = (): void => {};

type NormalizedArgs = [Record<string, unknown>, ((...a: unknown[]) => void) | null] & { [normalized]?: true };

function toNumber(x: unknown): number | false {
  const n = Number(x);
  return n >= 0 ? n : false;
}

function isPipeName(s: unknown): s is string {
  return typeof s === 'string' && toNumber(s) === false;
}

/** The argument forms of connect() and listen(): (options[, cb]), (path[, cb]), ([port][, host][, ...][, cb]). */
function normalizeArgs(args: unknown[]): NormalizedArgs {
  let arr: NormalizedArgs;
  if (args.length === 0) {
    arr = [{}, null];
    arr[normalized] = true;
    return arr;
  }
  const arg0 = args[0];
  let options: Record<string, unknown> = {};
  if (typeof arg0 === 'object' && arg0 !== null) options = arg0 as Record<string, unknown>;
  else if (isPipeName(arg0)) options.path = arg0;
  else {
    options.port = arg0;
    if (args.length > 1 && typeof args[1] === 'string') options.host = args[1];
  }
  const cb = args[args.length - 1];
  arr = [options, typeof cb === 'function' ? (cb as (...a: unknown[]) => void) : null];
  arr[normalized] = true;
  return arr;
}

function badPort(value: unknown, allowZero: boolean): Error {
  return nodeError('ERR_SOCKET_BAD_PORT', `options.port should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${typeof value === 'string' ? `type string ('${value}')` : String(value)}.`, 'RangeError');
}

/** Node's validatePort: a number, or a string holding one, in 0..65535. */
function validPort(port: unknown, allowZero = true): number {
  if ((typeof port !== 'number' && typeof port !== 'string') || (typeof port === 'string' && port.trim().length === 0)) throw badPort(port, allowZero);
  const n = +port;
  if (!Number.isInteger(n) || n < 0 || n > 0xffff || (n === 0 && !allowZero)) throw badPort(port, allowZero);
  return n | 0;
}

/* ------------------------------------------------------------------------ */
/* Socket */

export class NetSocket extends Duplex {
  connecting = false;
  _hadError = false;
  _handle: StreamHandle | null = null;
  _parent: NetSocket | null = null;
  _host: string | null = null;
  _pendingData: unknown = null;
  _pendingEncoding = '';
  _peername: AddressInfo | null = null;
  _sockname: AddressInfo | null = null;
  _closeAfterHandlingError = false;
  resetAndClosing = false;
  server: unknown = null;
  _server: ServerLike | null = null;
  /** The inactivity timeout in ms (0: none), as Node's socket.timeout. */
  timeout = 0;
  private [kLastWriteQueueSize] = 0;
  private [kSetNoDelay]: boolean;
  private [kSetKeepAlive]: boolean;
  private [kSetKeepAliveInitialDelay]: number;
  private [kBytesRead] = 0;
  private [kBytesWritten] = 0;
  private [kTimer]: HandleTimer | null = null;
  private [kTimerMs] = 0;
  private readonly [kEnv]: NetEnv;

  constructor(env: NetEnv, options?: SocketConstructorOpts | number) {
    if (typeof options === 'number' || (options && options.fd !== undefined)) {
      throw nodeError('ERR_INVALID_ARG_VALUE', 'a rump kernel socket cannot be made from a host file descriptor', 'TypeError');
    }
    const o: SocketConstructorOpts = { ...options };
    if (o.objectMode || o.readableObjectMode || o.writableObjectMode) {
      throw nodeError('ERR_INVALID_ARG_VALUE', 'object mode is not supported on sockets', 'TypeError');
    }
    if (o.keepAliveInitialDelay !== undefined && o.keepAliveInitialDelay < 0) o.keepAliveInitialDelay = 0;
    o.allowHalfOpen = Boolean(o.allowHalfOpen);
    // As net.Socket: 'close' is ours to emit (after the handle closed), and strings go to the handle as they are.
    o.emitClose = false;
    o.autoDestroy = true;
    o.decodeStrings = false;
    super(o);
    this[kEnv] = env;
    if (o.handle) this._handle = o.handle;
    this[kSetNoDelay] = Boolean(o.noDelay);
    this[kSetKeepAlive] = Boolean(o.keepAlive);
    this[kSetKeepAliveInitialDelay] = ~~((o.keepAliveInitialDelay ?? 0) / 1000);
    this.on('end', onReadableStreamEnd);
    initSocketHandle(this);
    if (this._handle && o.readable !== false) {
      if (o.pauseOnCreate) {
        this._handle.reading = false;
        this._handle.readStop();
        (this as { readableFlowing: boolean | null }).readableFlowing = false;
      } else if (!o.manualStart) {
        this.read(0);
      }
    }
  }

  /** The environment (kernel) this socket lives in. */
  get env(): NetEnv {
    return this[kEnv];
  }

  /* --- connect ---------------------------------------------------------- */

  connect(options: TcpConnectOpts, connectListener?: () => void): this;
  connect(port: number, host?: string, connectListener?: () => void): this;
  connect(path: string, connectListener?: () => void): this;
  connect(...args: unknown[]): this {
    const norm = Array.isArray(args[0]) && (args[0] as NormalizedArgs)[normalized] ? (args[0] as NormalizedArgs) : normalizeArgs(args);
    const options = norm[0] as TcpConnectOpts;
    const cb = norm[1];
    if (cb !== null) this.once('connect', cb);
    if (this._parent && this._parent.connecting) return this;
    if (options.port === undefined && options.path == null) {
      throw nodeError('ERR_MISSING_ARGS', 'The "options" or "port" or "path" argument must be specified', 'TypeError');
    }
    if (this.write !== NetSocket.prototype.write) this.write = NetSocket.prototype.write;
    if (this.destroyed) {
      this._handle = null;
      this._peername = null;
      this._sockname = null;
    }
    const path = options.path;
    const pipe = path !== undefined && path !== null && path !== '';
    if (!this._handle) {
      if (pipe) {
        const local = this[kEnv].localStream;
        this._handle = local ? local() : new TcpHandle(this[kEnv], LOCAL_FAMILY);
      } else {
        this._handle = new TcpHandle(this[kEnv], AF_INET);
      }
      initSocketHandle(this);
    }
    this._unrefTimer();
    this.connecting = true;
    if (pipe) {
      if (typeof path !== 'string') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "options.path" property must be of type string', 'TypeError');
      internalConnect(this, path, 0, 0, undefined, undefined);
    } else {
      lookupAndConnect(this, options);
    }
    return this;
  }

  /* --- stream plumbing -------------------------------------------------- */

  override _read(n: number): void {
    if (this.connecting || !this._handle) this.once('connect', () => this._read(n));
    else if (!this._handle.reading) tryReadStart(this);
  }

  override _write(data: unknown, encoding: BufferEncoding, cb: (error?: Error | null) => void): void {
    this._writeGeneric(false, data, encoding, cb);
  }

  override _writev(chunks: Array<{ chunk: unknown; encoding: BufferEncoding }>, cb: (error?: Error | null) => void): void {
    this._writeGeneric(true, chunks, '', cb);
  }

  _writeGeneric(writev: boolean, data: unknown, encoding: string, cb: (error?: Error | null) => void): void {
    if (this.connecting) {
      this._pendingData = data;
      this._pendingEncoding = encoding;
      const onClose = (): void => cb(nodeError('ERR_SOCKET_CLOSED_BEFORE_CONNECTION', 'Socket closed before the connection was established'));
      this.once('connect', () => {
        this.off('close', onClose);
        this._writeGeneric(writev, data, encoding, cb);
      });
      this.once('close', onClose);
      return;
    }
    this._pendingData = null;
    this._pendingEncoding = '';
    const handle = this._handle;
    if (!handle) {
      cb(nodeError('ERR_SOCKET_CLOSED', 'Socket is closed'));
      return;
    }
    this._unrefTimer();
    const chunks: Uint8Array[] = [];
    if (writev) {
      for (const c of data as Array<{ chunk: unknown; encoding: BufferEncoding }>) chunks.push(toBytes(c.chunk, c.encoding));
    } else {
      chunks.push(toBytes(data, encoding as BufferEncoding));
    }
    const req = new WriteReq((status) => this.afterWrite(status, cb));
    const err = handle.writev(req, chunks);
    if (err !== 0) {
      cb(errnoException(err, 'write'));
      return;
    }
    if (!req.async) {
      // The kernel took it all at once (Node's synchronous write).
      cb(null);
      return;
    }
    this[kLastWriteQueueSize] = req.bytes;
  }

  private afterWrite(status: number, cb: (error?: Error | null) => void): void {
    // Cancelled by destroy: Node completes it quietly.
    if (this.destroyed) {
      cb(null);
      return;
    }
    if (status < 0) {
      cb(errnoException(status, 'write', this._handle?.lostDetail?.()));
      return;
    }
    this._unrefTimer();
    this[kLastWriteQueueSize] = 0;
    cb(null);
  }

  override _final(cb: (error?: Error | null) => void): void {
    if (this.connecting) {
      this.once('connect', () => this._final(cb));
      return;
    }
    const handle = this._handle;
    if (!handle) {
      cb();
      return;
    }
    const req = new ShutdownReq(() => cb());
    const err = handle.shutdown(req);
    if (err === -ENOTCONN) cb();
    else if (err !== 0) cb(errnoException(err, 'shutdown'));
  }

  override _destroy(exception: Error | null, cb: (error?: Error | null) => void): void {
    this.connecting = false;
    for (let s: NetSocket | null = this; s !== null; s = s._parent) s[kTimer]?.stop();
    this[kTimerMs] = 0;
    const handle = this._handle;
    if (handle) {
      const isException = exception ? true : false;
      this[kBytesRead] = handle.bytesRead;
      this[kBytesWritten] = handle.bytesWritten;
      if (this.resetAndClosing) {
        this.resetAndClosing = false;
        if (handle.reset) handle.reset(() => this.emit('close', isException));
        else handle.close(() => this.emit('close', isException));
      } else if (this._closeAfterHandlingError) {
        // Close on a microtask, so that an 'error' listener on the next tick still finds the handle.
        queueMicrotask(() => closeSocketHandle(this, handle, isException, true));
      } else {
        closeSocketHandle(this, handle, isException, false);
      }
      if (!this._closeAfterHandlingError) {
        handle.onread = noop;
        this._handle = null;
        this._sockname = null;
      }
      cb(exception);
    } else {
      cb(exception);
      process.nextTick(() => this.emit('close'));
    }
    const server = this._server;
    if (server) {
      server._connections--;
      server._emitCloseIfDrained?.();
    }
  }

  /* --- Node's public Socket API ------------------------------------------ */

  override end(...args: unknown[]): this {
    (Duplex.prototype.end as (...a: unknown[]) => unknown).apply(this, args);
    return this;
  }

  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Close with a RST (SO_LINGER 0), as Node's resetAndDestroy. */
  resetAndDestroy(): this {
    if (this._handle) {
      if (this.connecting) this.once('connect', () => this._reset());
      else this._reset();
    } else {
      this.destroy(nodeError('ERR_SOCKET_CLOSED', 'Socket is closed'));
    }
    return this;
  }

  _reset(): this {
    this.resetAndClosing = true;
    return this.destroy();
  }

  setTimeout(msecs: number, callback?: () => void): this {
    if (this.destroyed) return this;
    if (typeof msecs !== 'number') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "msecs" argument must be of type number', 'TypeError');
    if (!(msecs >= 0)) throw nodeError('ERR_OUT_OF_RANGE', `The value of "msecs" is out of range. It must be a non-negative number. Received ${msecs}`, 'RangeError');
    this.timeout = msecs;
    const ms = msecs > TIMEOUT_MAX ? 1 : msecs;
    this[kTimer]?.stop();
    if (ms === 0) {
      this[kTimerMs] = 0;
      if (callback !== undefined) {
        if (typeof callback !== 'function') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "callback" argument must be of type function', 'TypeError');
        this.removeListener('timeout', callback);
      }
    } else {
      this[kTimerMs] = ms;
      this[kTimer] ??= this[kEnv].timer(() => this._onTimeout());
      this[kTimer].reset(ms);
      if (callback !== undefined) {
        if (typeof callback !== 'function') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "callback" argument must be of type function', 'TypeError');
        this.once('timeout', callback);
      }
    }
    return this;
  }

  /** Activity: push the inactivity timeout back (Node refreshes its timer the same way). */
  _unrefTimer(): void {
    for (let s: NetSocket | null = this; s !== null; s = s._parent) {
      if (s[kTimerMs] > 0 && s[kTimer]) s[kTimer].reset(s[kTimerMs]);
    }
  }

  _onTimeout(): void {
    const handle = this._handle;
    const last = this[kLastWriteQueueSize];
    if (last > 0 && handle) {
      // A write is still going out: that is activity, not a timeout.
      const now = handle.writeQueueSize;
      if (last !== now) {
        this[kLastWriteQueueSize] = now;
        this._unrefTimer();
        return;
      }
    }
    this.emit('timeout');
  }

  setNoDelay(enable?: boolean): this {
    const on = Boolean(enable === undefined ? true : enable);
    if (!this._handle) {
      this[kSetNoDelay] = on;
      return this;
    }
    if (this._handle.setNoDelay && on !== this[kSetNoDelay]) {
      this[kSetNoDelay] = on;
      this._handle.setNoDelay(on);
    }
    return this;
  }

  setKeepAlive(enable?: boolean, initialDelayMsecs?: number): this {
    const on = Boolean(enable);
    const delay = ~~((initialDelayMsecs ?? 0) / 1000);
    if (!this._handle) {
      this[kSetKeepAlive] = on;
      this[kSetKeepAliveInitialDelay] = delay;
      return this;
    }
    if (!this._handle.setKeepAlive) return this;
    if (on !== this[kSetKeepAlive] || (on && this[kSetKeepAliveInitialDelay] !== delay)) {
      this[kSetKeepAlive] = on;
      this[kSetKeepAliveInitialDelay] = delay;
      this._handle.setKeepAlive(on, delay);
    }
    return this;
  }

  address(): AddressInfo | Record<string, never> {
    return this._getsockname();
  }

  ref(): this {
    if (!this._handle) {
      this.once('connect', () => this.ref());
      return this;
    }
    this._handle.ref();
    return this;
  }

  unref(): this {
    if (!this._handle) {
      this.once('connect', () => this.unref());
      return this;
    }
    this._handle.unref();
    return this;
  }

  get _connecting(): boolean {
    return this.connecting;
  }

  get pending(): boolean {
    return !this._handle || this.connecting;
  }

  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  get bufferSize(): number | undefined {
    return this._handle ? this.writableLength : undefined;
  }

  get bytesRead(): number {
    return this._handle ? this._handle.bytesRead : this[kBytesRead];
  }

  get _bytesDispatched(): number {
    return this._handle ? this._handle.bytesWritten + this._handle.writeQueueSize : this[kBytesWritten];
  }

  get bytesWritten(): number | undefined {
    let bytes = this._bytesDispatched;
    const buffered = (this as unknown as { writableBuffer?: unknown[] }).writableBuffer;
    if (!buffered) return undefined;
    for (const el of buffered as Array<{ chunk: unknown; encoding: BufferEncoding }>) bytes += byteLength(el.chunk, el.encoding);
    const data = this._pendingData;
    if (Array.isArray(data)) {
      for (const el of data as Array<{ chunk: unknown; encoding: BufferEncoding }>) bytes += byteLength(el.chunk, el.encoding);
    } else if (data) {
      bytes += byteLength(data, this._pendingEncoding as BufferEncoding);
    }
    return bytes;
  }

  _getpeername(): AddressInfo | Record<string, never> {
    if (!this._handle || this.connecting) return this._peername ?? {};
    if (!this._peername) {
      const out: Partial<AddressInfo> = {};
      if (this._handle.getpeername(out) !== 0) return out as Record<string, never>;
      this._peername = out as AddressInfo;
    }
    return this._peername;
  }

  _getsockname(): AddressInfo | Record<string, never> {
    if (!this._handle) return {};
    if (!this._sockname) {
      const out: Partial<AddressInfo> = {};
      if (this._handle.getsockname(out) !== 0) return {};
      this._sockname = out as AddressInfo;
    }
    return this._sockname;
  }

  get remoteAddress(): string | undefined {
    return (this._getpeername() as Partial<AddressInfo>).address;
  }

  get remoteFamily(): string | undefined {
    return (this._getpeername() as Partial<AddressInfo>).family;
  }

  get remotePort(): number | undefined {
    return (this._getpeername() as Partial<AddressInfo>).port;
  }

  get localAddress(): string | undefined {
    return (this._getsockname() as Partial<AddressInfo>).address;
  }

  get localPort(): number | undefined {
    return (this._getsockname() as Partial<AddressInfo>).port;
  }

  get localFamily(): string | undefined {
    return (this._getsockname() as Partial<AddressInfo>).family;
  }
}

/** An AF_UNIX path on a kernel without local sockets: the kernel's socket() answers EAFNOSUPPORT. */
const LOCAL_FAMILY = 1;

function toBytes(chunk: unknown, encoding: BufferEncoding): Uint8Array {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding || 'utf8');
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw nodeError('ERR_INVALID_ARG_TYPE', 'The "chunk" argument must be of type string or an instance of Buffer or Uint8Array', 'TypeError');
}

function byteLength(chunk: unknown, encoding: BufferEncoding): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, encoding || 'utf8');
  return (chunk as Uint8Array).byteLength ?? 0;
}

function initSocketHandle(self: NetSocket): void {
  (self as unknown as { _undestroy(): void })._undestroy();
  self._sockname = null;
  const h = self._handle;
  if (h) {
    h.owner = self;
    h.onread = onStreamRead;
  }
}

function closeSocketHandle(self: NetSocket, handle: StreamHandle, isException: boolean, cleanup: boolean): void {
  handle.close(() => {
    self.emit('close', isException);
    if (cleanup) {
      handle.onread = noop;
      if (self._handle === handle) {
        self._handle = null;
        self._sockname = null;
      }
    }
  });
}

function tryReadStart(socket: NetSocket): void {
  const h = socket._handle!;
  h.reading = true;
  const err = h.readStart();
  if (err) socket.destroy(errnoException(err, 'read'));
}

/** The handle's onread (`this` is the handle), as Node's onStreamRead. */
function onStreamRead(this: StreamHandle, nread: number, buf?: Buffer): void {
  const stream = this.owner as NetSocket;
  stream._unrefTimer();
  if (nread > 0) {
    if (stream.destroyed) return;
    const more = stream.push(buf);
    if (!more) {
      // Backpressure: stop reading the kernel socket; its buffer fills and the window closes.
      this.reading = false;
      const err = this.readStop();
      if (err) stream.destroy(errnoException(err, 'read'));
    }
    return;
  }
  if (nread === 0) return;
  if (nread !== UV_EOF) {
    stream.destroy(errnoException(nread, 'read', this.lostDetail?.()));
    return;
  }
  if (!stream.readableEnded) {
    stream.push(null);
    stream.read(0);
  }
}

function onReadableStreamEnd(this: NetSocket): void {
  if (!this.allowHalfOpen) this.write = writeAfterFIN as NetSocket['write'];
}

/** write() after the peer's FIN on a socket that is not half-open. */
function writeAfterFIN(this: NetSocket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (!this.writableEnded) return (Duplex.prototype.write as (...a: unknown[]) => boolean).call(this, chunk, encoding, cb);
  const callback = typeof encoding === 'function' ? encoding : cb;
  const er = nodeError('EPIPE', 'This socket has been ended by the other party');
  if (typeof callback === 'function') process.nextTick(callback as (e: Error) => void, er);
  this.destroy(er);
  return false;
}

function lookupAndConnect(self: NetSocket, options: TcpConnectOpts): void {
  const { localAddress, localPort } = options;
  const host = options.host || 'localhost';
  if (localAddress && !isIP(localAddress)) throw nodeError('ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${localAddress}`, 'TypeError');
  if (localPort !== undefined && typeof localPort !== 'number') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "options.localPort" property must be of type number', 'TypeError');
  let port = 0;
  if (options.port !== undefined) {
    if (typeof options.port !== 'number' && typeof options.port !== 'string') {
      throw nodeError('ERR_INVALID_ARG_TYPE', 'The "options.port" property must be one of type number or string', 'TypeError');
    }
    port = validPort(options.port);
  }
  const addressType = isIP(host);
  if (addressType) {
    process.nextTick(() => {
      if (self.connecting) internalConnect(self, host, port, addressType, localAddress, localPort);
    });
    return;
  }
  if (options.lookup != null && typeof options.lookup !== 'function') {
    throw nodeError('ERR_INVALID_ARG_TYPE', 'The "options.lookup" property must be of type function', 'TypeError');
  }
  self._host = host;
  const family = options.family === 6 || options.family === 'IPv6' ? 6 : 4;
  const done = (err: Error | null, ip: string, type: number): void => {
    self.emit('lookup', err, ip, type, host);
    if (!self.connecting) return;
    if (err) process.nextTick(() => self.destroy(err));
    else if (!isIP(ip)) process.nextTick(() => self.destroy(nodeError('ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${ip}`, 'TypeError')));
    else if (type !== 4 && type !== 6) {
      process.nextTick(() => self.destroy(nodeError('ERR_INVALID_ADDRESS_FAMILY', `Invalid address family: ${type} ${host}:${port}`, 'RangeError')));
    } else {
      self._unrefTimer();
      internalConnect(self, ip, port, type, localAddress, localPort);
    }
  };
  if (options.lookup) options.lookup(host, { family, hints: options.hints ?? 0 }, done);
  else lookupHost(self.env, host, family, done);
}

function internalConnect(
  self: NetSocket, address: string, port: number, addressType: number, localAddress: string | undefined, localPort: number | undefined,
): void {
  let handle = self._handle!;
  // An IPv6 peer needs an IPv6 socket; the handle has not opened one yet.
  if (addressType === 6 && handle instanceof TcpHandle && handle.family !== AF_INET6) {
    handle = new TcpHandle(self.env, AF_INET6);
    self._handle = handle;
    initSocketHandle(self);
  }
  if (addressType === 4 || addressType === 6) self.emit('connectionAttempt', address, port, addressType);
  const req = new ConnectReq(afterConnect, address, port);
  if (localAddress || localPort) {
    req.localAddress = localAddress || (addressType === 6 ? '::' : '0.0.0.0');
    req.localPort = localPort ?? 0;
  }
  const err = handle.connect(req);
  if (err) self.destroy(exceptionWithHostPort(err, 'connect', address, port));
}

function afterConnect(status: number, handle: StreamHandle, req: ConnectReq, readable: boolean, writable: boolean): void {
  const self = handle.owner as NetSocket;
  if (self.destroyed) return;
  self.connecting = false;
  self._sockname = null;
  if (status === 0) {
    if (self.readable && !readable) {
      self.push(null);
      self.read();
    }
    if (self.writable && !writable) self.end();
    self._unrefTimer();
    const s = self as unknown as Record<symbol, unknown>;
    if (s[kSetNoDelay] && handle.setNoDelay) handle.setNoDelay(true);
    if (s[kSetKeepAlive] && handle.setKeepAlive) handle.setKeepAlive(true, s[kSetKeepAliveInitialDelay] as number);
    self.emit('connect');
    self.emit('ready');
    if (readable && !self.isPaused()) self.read(0);
    return;
  }
  let ex: Error;
  if (req.syscall === 'bind') {
    ex = exceptionWithHostPort(status, 'bind', req.localAddress ?? '', req.localPort ?? 0);
  } else {
    const local = req.localAddress && req.localPort ? `${req.localAddress}:${req.localPort}` : undefined;
    const e = exceptionWithHostPort(status, 'connect', req.address, req.port, local);
    if (local) {
      e.localAddress = req.localAddress;
      e.localPort = req.localPort;
    }
    ex = e;
  }
  if (handle instanceof TcpHandle) self.emit('connectionAttemptFailed', req.address, req.port, handle.family === AF_INET6 ? 6 : 4, ex);
  self.destroy(ex);
}

/* ------------------------------------------------------------------------ */
/* Server */

/** The fields of a net.Server that listen and accept use: ours, or a host net.Server / http.Server. */
export interface ServerLike extends EventEmitter {
  _handle: unknown;
  _connections: number;
  _listeningId?: number;
  _unref?: boolean;
  _connectionKey?: string;
  _pipeName?: string;
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
  maxConnections?: number | null;
  _emitCloseIfDrained?(): void;
}

export interface ServerOpts {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
}

/** Which Socket class a kernel's accepted connections get (the kernel.net.Socket of that env). */
const socketClasses = new WeakMap<HandleEnv, new (options?: SocketConstructorOpts) => NetSocket>();

const kListenPending = Symbol('listenPending');

export class NetServer extends EventEmitter implements ServerLike {
  _connections = 0;
  _handle: TcpServerHandle | null = null;
  _usingWorkers = false;
  _workers: unknown[] = [];
  _unref = false;
  _listeningId = 1;
  _connectionKey?: string;
  allowHalfOpen: boolean;
  pauseOnConnect: boolean;
  noDelay: boolean;
  keepAlive: boolean;
  keepAliveInitialDelay: number;
  highWaterMark: number;
  maxConnections: number | null = null;
  private readonly [kEnv]: NetEnv;

  constructor(env: NetEnv, options?: ServerOpts | ((socket: NetSocket) => void), connectionListener?: (socket: NetSocket) => void) {
    super();
    this[kEnv] = env;
    let opts: ServerOpts;
    if (typeof options === 'function') {
      this.on('connection', options);
      opts = {};
    } else if (options == null || typeof options === 'object') {
      opts = { ...options };
      if (typeof connectionListener === 'function') this.on('connection', connectionListener);
    } else {
      throw nodeError('ERR_INVALID_ARG_TYPE', 'The "options" argument must be of type object', 'TypeError');
    }
    if (opts.keepAliveInitialDelay !== undefined && opts.keepAliveInitialDelay < 0) opts.keepAliveInitialDelay = 0;
    this.allowHalfOpen = opts.allowHalfOpen || false;
    this.pauseOnConnect = !!opts.pauseOnConnect;
    this.noDelay = Boolean(opts.noDelay);
    this.keepAlive = Boolean(opts.keepAlive);
    this.keepAliveInitialDelay = ~~((opts.keepAliveInitialDelay ?? 0) / 1000);
    this.highWaterMark = opts.highWaterMark !== undefined && opts.highWaterMark >= 0 ? opts.highWaterMark : 16384;
  }

  listen(...args: unknown[]): this {
    listenOn(this[kEnv], this, args);
    return this;
  }

  get listening(): boolean {
    return !!this._handle;
  }

  address(): AddressInfo | string | null {
    if (this._handle) {
      const out: Partial<AddressInfo> = {};
      const err = this._handle.getsockname(out);
      if (err) throw errnoException(err, 'address');
      return out as AddressInfo;
    }
    return null;
  }

  close(cb?: (err?: Error) => void): this {
    this._listeningId++;
    if (typeof cb === 'function') {
      if (!this._handle) this.once('close', () => cb(nodeError('ERR_SERVER_NOT_RUNNING', 'Server is not running.')));
      else this.once('close', cb);
    }
    if (this._handle) {
      this._handle.close();
      this._handle = null;
    }
    this._emitCloseIfDrained();
    return this;
  }

  _emitCloseIfDrained(): void {
    if (this._handle || this._connections) return;
    process.nextTick(() => this.emit('close'));
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    process.nextTick(cb, null, this._connections);
    return this;
  }

  ref(): this {
    this._unref = false;
    this._handle?.ref();
    return this;
  }

  unref(): this {
    this._unref = true;
    this._handle?.unref();
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this._handle) return;
    await new Promise<void>((resolve, reject) => this.close((err) => (err ? reject(err) : resolve())));
  }
}

/**
 * Node's Server.prototype.listen for TCP, on the kernel behind `env`, for
 * any server with net.Server's fields (ours, or a host net.Server such as
 * an http.Server: its own close(), address(), ref() then work through the
 * handle installed in `_handle`).
 */
export function listenOn(env: NetEnv, server: ServerLike, args: unknown[]): void {
  const norm = normalizeArgs(args);
  let options = norm[0] as ListenOpts;
  const cb = norm[1];
  const s = server as ServerLike & { [kListenPending]?: boolean };
  if (server._handle || s[kListenPending]) {
    throw nodeError('ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
  }
  if (cb !== null) server.once('listening', cb);
  const backlogFromArgs = toNumber(args.length > 1 && args[1]) || toNumber(args.length > 2 && args[2]) || 0;
  options = ((options._handle || options.handle || options) as ListenOpts);
  server._listeningId = (server._listeningId ?? 0) + 1;
  if (typeof options.fd === 'number' && options.fd >= 0) {
    throw nodeError('ERR_INVALID_ARG_VALUE', 'a rump kernel server cannot listen on a host file descriptor', 'TypeError');
  }
  if (args.length === 0 || typeof args[0] === 'function' || (typeof options.port === 'undefined' && 'port' in options) || options.port === null) {
    options.port = 0;
  }
  if (typeof options.port === 'number' || typeof options.port === 'string') {
    const port = validPort(options.port);
    const backlog = options.backlog || backlogFromArgs;
    if (options.host) lookupAndListen(env, server, port, options.host, backlog);
    else setupListenHandle(env, server, '0.0.0.0', port, 4, backlog);
    return;
  }
  if (options.path && isPipeName(options.path)) {
    // No local sockets in a rump kernel: the kernel says so.
    server._pipeName = options.path;
    const ex = uvExceptionWithHostPort(-EAFNOSUPPORT, 'listen', options.path, -1);
    process.nextTick(() => server.emit('error', ex));
    return;
  }
  if (!('port' in options || 'path' in options)) {
    throw nodeError('ERR_INVALID_ARG_VALUE', 'The argument \'options\' must have the property "port" or "path"', 'TypeError');
  }
  throw nodeError('ERR_INVALID_ARG_VALUE', 'The argument \'options\' is invalid', 'TypeError');
}

function lookupAndListen(env: NetEnv, server: ServerLike, port: number, host: string, backlog: number): void {
  const id = server._listeningId;
  lookupHost(env, host, 4, (err, address, family) => {
    if (id !== server._listeningId) return;
    if (err) server.emit('error', err);
    else setupListenHandle(env, server, address, port, family, backlog);
  });
}

function setupListenHandle(env: NetEnv, server: ServerLike, address: string, port: number, addressType: number, backlog: number): void {
  // '::' asks for every address of both families: on an IPv4-only kernel that is 0.0.0.0.
  let addr = address;
  if (addressType === 6 && (addr === '::' || addr === '::0')) {
    addr = '0.0.0.0';
    addressType = 4;
  }
  const s = server as ServerLike & { [kListenPending]?: boolean };
  const id = server._listeningId;
  const handle = new TcpServerHandle(env, addressType === 6 ? AF_INET6 : AF_INET);
  handle.owner = server;
  handle.onconnection = onconnection;
  s[kListenPending] = true;
  // Node listens with a backlog of 511 (512 once the kernel rounds it).
  handle.listen(addr, port, backlog || 511, (status) => {
    s[kListenPending] = false;
    if (id !== server._listeningId) {
      handle.close();
      return;
    }
    if (status !== 0) {
      handle.close();
      const ex = uvExceptionWithHostPort(status, 'listen', addr, port);
      process.nextTick(() => server.emit('error', ex));
      return;
    }
    server._handle = handle;
    server._connectionKey = `${addressType}:${addr}:${port}`;
    if (server._unref) handle.unref();
    process.nextTick(() => {
      if (server._handle) server.emit('listening');
    });
  });
}

/** A connection arrived (`this` is the listening handle), as Node's onconnection. */
function onconnection(this: TcpServerHandle, status: number, clientHandle?: TcpHandle): void {
  const self = this.owner as ServerLike;
  if (status) {
    self.emit('error', errnoException(status, 'accept'));
    return;
  }
  const client = clientHandle!;
  if (self.maxConnections != null && self._connections >= self.maxConnections) {
    const local: Partial<AddressInfo> = {};
    const remote: Partial<AddressInfo> = {};
    client.getsockname(local);
    client.getpeername(remote);
    self.emit('drop', {
      localAddress: local.address, localPort: local.port, localFamily: local.family,
      remoteAddress: remote.address, remotePort: remote.port, remoteFamily: remote.family,
    });
    client.close();
    return;
  }
  const Ctor = socketClasses.get(this.env);
  const opts: SocketConstructorOpts = {
    handle: client,
    allowHalfOpen: self.allowHalfOpen,
    pauseOnCreate: self.pauseOnConnect,
    readable: true,
    writable: true,
  };
  if (self.highWaterMark !== undefined) {
    opts.readableHighWaterMark = self.highWaterMark;
    opts.writableHighWaterMark = self.highWaterMark;
  }
  const socket = Ctor ? new Ctor(opts) : new NetSocket(this.env as NetEnv, opts);
  const sk = socket as unknown as Record<symbol, unknown>;
  if (self.noDelay) {
    sk[kSetNoDelay] = true;
    client.setNoDelay(true);
  }
  if (self.keepAlive) {
    sk[kSetKeepAlive] = true;
    sk[kSetKeepAliveInitialDelay] = self.keepAliveInitialDelay ?? 0;
    client.setKeepAlive(true, self.keepAliveInitialDelay ?? 0);
  }
  self._connections++;
  socket.server = self;
  socket._server = self;
  self.emit('connection', socket);
}

/* ------------------------------------------------------------------------ */
/* The module */

/** What `kernel.net` is: node:net's API on one kernel. */
export interface NetModule {
  Socket: new (options?: SocketConstructorOpts) => NetSocket;
  Stream: new (options?: SocketConstructorOpts) => NetSocket;
  Server: new (options?: ServerOpts | ((socket: NetSocket) => void), listener?: (socket: NetSocket) => void) => NetServer;
  createServer(options?: ServerOpts | ((socket: NetSocket) => void), listener?: (socket: NetSocket) => void): NetServer;
  connect(options: TcpConnectOpts, listener?: () => void): NetSocket;
  connect(port: number, host?: string, listener?: () => void): NetSocket;
  createConnection(options: TcpConnectOpts, listener?: () => void): NetSocket;
  createConnection(port: number, host?: string, listener?: () => void): NetSocket;
  /**
   * Make a server made elsewhere listen on this kernel: any net.Server,
   * e.g. `kernel.net.listen(http.createServer(app), 80)`. Takes listen()'s
   * arguments; the server's own address(), close(), ref() then apply.
   */
  listen<S extends EventEmitter>(server: S, ...args: unknown[]): S;
  isIP(input: string): number;
  isIPv4(input: string): boolean;
  isIPv6(input: string): boolean;
}

/** Node's `net` over the kernel behind `env`. */
export function createNet(env: NetEnv): NetModule {
  class Socket extends NetSocket {
    constructor(options?: SocketConstructorOpts) {
      super(env, options);
    }
  }
  class Server extends NetServer {
    constructor(options?: ServerOpts | ((socket: NetSocket) => void), listener?: (socket: NetSocket) => void) {
      super(env, options, listener);
    }
  }
  socketClasses.set(env, Socket);
  const connect = (...args: unknown[]): NetSocket => {
    const norm = normalizeArgs(args);
    const options = norm[0] as TcpConnectOpts & SocketConstructorOpts;
    const socket = new Socket(options);
    if (options.timeout) socket.setTimeout(options.timeout);
    return socket.connect(norm as unknown as TcpConnectOpts);
  };
  return {
    Socket,
    Stream: Socket,
    Server,
    createServer: (options, listener) => new Server(options, listener),
    connect: connect as NetModule['connect'],
    createConnection: connect as NetModule['createConnection'],
    listen: (server, ...args) => {
      listenOn(env, server as unknown as ServerLike, args);
      return server;
    },
    isIP,
    isIPv4,
    isIPv6,
  };
}
