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
import type { LookupFunction as NodeLookupFunction } from 'node:net';
import { EventEmitter } from 'node:events';
import hostDns from 'node:dns';
import { Buffer } from 'node:buffer';
import { AF_INET, AF_INET6 } from '../../kern/sys.js';
import { ENOTCONN, EAFNOSUPPORT, ETIMEDOUT } from '../../kern/errno.js';
import {
  ConnectReq, ShutdownReq, TcpHandle, TcpServerHandle, UV_TCP_IPV6ONLY, WriteReq, isIP, isIPv4, isIPv6, lookupHost,
  type AddressInfo, type HandleEnv, type HandleTimer, type LookupAddress, type LookupAllFunction, type LookupFunction,
} from './handle.js';
import {
  ECANCELED, UV_EOF, errnoException, exceptionWithHostPort, isHaltedStatus, nodeError, uvExceptionWithHostPort,
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

/**
 * connect()'s options. `null` is taken where http's ClientRequestArgs may
 * carry it, so `createConnection: (o) => k.net.createConnection(o)` fits
 * (a null port fails with ERR_SOCKET_BAD_PORT, as in Node).
 */
export interface TcpConnectOpts {
  port?: number | string | null;
  host?: string | null;
  localAddress?: string;
  localPort?: number;
  family?: number | string;
  hints?: number;
  /** dns.lookup's shape; node:net's LookupFunction type is taken too (it is called without `all`, so answers one address). */
  lookup?: LookupFunction | NodeLookupFunction;
  path?: string | null;
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

/** A write request that knows its socket and callback: no closure per write (Node's WriteWrap keeps them as fields too). */
class SocketWriteReq extends WriteReq {
  constructor(
    readonly socket: NetSocket,
    readonly callback: (error?: Error | null) => void,
  ) {
    super(onWriteComplete);
  }
}

/** A shutdown request that knows its callback (no closure per end()); the status is not the stream's concern, as in Node's afterShutdown. */
class SocketShutdownReq extends ShutdownReq {
  constructor(readonly callback: (error?: Error | null) => void) {
    super(onShutdownComplete);
  }
}

function onShutdownComplete(this: ShutdownReq): void {
  (this as SocketShutdownReq).callback();
}

function onWriteComplete(this: WriteReq, status: number): void {
  const req = this as SocketWriteReq;
  req.socket.afterWrite(status, req.callback);
}

export class NetSocket extends Duplex {
  connecting = false;
  /** autoSelectFamily: every `address:port` tried, in order (Node 20); absent, as in Node, on a socket that did not try several. */
  declare autoSelectFamilyAttemptedAddresses: string[];
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
    // initSocketHandle without its _undestroy: a stream just made has nothing to undo.
    if (o.handle) {
      o.handle.owner = this;
      o.handle.onread = onStreamRead;
    }
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
  connect(port: number, connectListener?: () => void): this;
  connect(port: number, host?: string, connectListener?: () => void): this;
  connect(path: string, connectListener?: () => void): this;
  connect(...args: unknown[]): this {
    const norm = Array.isArray(args[0]) && (args[0] as NormalizedArgs)[normalized] ? (args[0] as NormalizedArgs) : normalizeArgs(args);
    return this._connect(norm, false);
  }

  /**
   * connect() with its arguments normalized; `fresh`: the socket was made
   * for this connect a moment ago (net.connect), so there is no state of an
   * earlier connection to undo (initSocketHandle's _undestroy).
   */
  private _connect(norm: NormalizedArgs, fresh: boolean): this {
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
      if (fresh) {
        this._handle.owner = this;
        this._handle.onread = onStreamRead;
      } else {
        initSocketHandle(this);
      }
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
      this.writeWhenConnected(writev, data, encoding, cb);
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
    const chunks = writev ? writevBytes(data as Array<{ chunk: unknown; encoding: BufferEncoding }>) : [toBytes(data, encoding as BufferEncoding)];
    const req = new SocketWriteReq(this, cb);
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

  /** A write made while connecting waits for 'connect' (apart from _writeGeneric, which every write runs: V8 optimises small functions sooner). */
  private writeWhenConnected(writev: boolean, data: unknown, encoding: string, cb: (error?: Error | null) => void): void {
    this._pendingData = data;
    this._pendingEncoding = encoding;
    const onClose = (): void => cb(nodeError('ERR_SOCKET_CLOSED_BEFORE_CONNECTION', 'Socket closed before the connection was established'));
    this.once('connect', () => {
      this.off('close', onClose);
      this._writeGeneric(writev, data, encoding, cb);
    });
    this.once('close', onClose);
  }

  /** @internal a write request completed (SocketWriteReq). */
  afterWrite(status: number, cb: (error?: Error | null) => void): void {
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
    const req = new SocketShutdownReq(cb);
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

  /** Node's three parameters, passed on as they are (no rest array and apply per end()). */
  override end(data?: unknown, encoding?: unknown, callback?: unknown): this {
    (Duplex.prototype.end as (a: unknown, b: unknown, c: unknown) => unknown).call(this, data, encoding, callback);
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

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  /** Typed `number` as @types/node types it; undefined without a handle, as in Node. */
  get bufferSize(): number {
    return (this._handle ? this.writableLength : undefined) as number;
  }

  get bytesRead(): number {
    return this._handle ? this._handle.bytesRead : this[kBytesRead];
  }

  get _bytesDispatched(): number {
    return this._handle ? this._handle.bytesWritten + this._handle.writeQueueSize : this[kBytesWritten];
  }

  /** Typed `number` as @types/node types it; undefined once destroyed, as in Node. */
  get bytesWritten(): number {
    let bytes = this._bytesDispatched;
    const buffered = (this as unknown as { writableBuffer?: unknown[] }).writableBuffer;
    if (!buffered) return undefined as unknown as number;
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

/** The chunks of a writev as bytes. */
function writevBytes(data: Array<{ chunk: unknown; encoding: BufferEncoding }>): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (const c of data) chunks.push(toBytes(c.chunk, c.encoding));
  return chunks;
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
    // The program halted the kernel: its connections end as destroy() ends them ('close', no error).
    if (isHaltedStatus(nread)) stream.destroy();
    else stream.destroy(errnoException(nread, 'read', this.lostDetail?.()));
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
  // Node's dns.lookup refuses a host that is not a string before any lookup function runs.
  if (typeof host !== 'string') throw nodeError('ERR_INVALID_ARG_TYPE', `The "hostname" argument must be of type string. Received type ${typeof host}`, 'TypeError');
  if (options.lookup != null && typeof options.lookup !== 'function') {
    throw nodeError('ERR_INVALID_ARG_TYPE', 'The "options.lookup" property must be of type function', 'TypeError');
  }
  self._host = host;
  const asked = options.family === 6 || options.family === 'IPv6' ? 6 : options.family === 4 || options.family === 'IPv4' ? 4 : 0;
  // RFC 8305 as Node 20: no family asked, no local address: every address, families alternating.
  if (asked === 0 && !localAddress && (options.autoSelectFamily ?? defaultAutoSelectFamily)) {
    let timeout = defaultAutoSelectFamilyAttemptTimeout;
    if (options.autoSelectFamilyAttemptTimeout !== undefined) timeout = Math.max(validAttemptTimeout(options.autoSelectFamilyAttemptTimeout), 10);
    // As Node's net on Linux: no family asked and no hints, AI_ADDRCONFIG.
    const hints = options.hints || hostDns.ADDRCONFIG;
    // A lookup that ignores `all` answers one address: take it as a list of one.
    const answer = (err: Error | null, addresses: LookupAddress[] | string, family?: number): void => {
      const list = Array.isArray(addresses) ? addresses : typeof addresses === 'string' ? [{ address: addresses, family: family ?? isIP(addresses) }] : [];
      connectToAddresses(self, host, port, localPort, timeout, err, list);
    };
    if (options.lookup) (options.lookup as unknown as LookupAllFunction)(host, { family: 0, hints, all: true }, answer);
    else lookupAll(self.env, host, hints, answer);
    return;
  }
  const family = asked === 6 ? 6 : 4;
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
  // A lookup of the caller's gets the family as asked (0: either), as Node passes it.
  const hints = options.hints || (asked === 0 ? hostDns.ADDRCONFIG : 0);
  if (options.lookup) (options.lookup as LookupFunction)(host, { family: asked, hints }, done);
  else lookupHost(self.env, host, family, done);
}

/* ------------------------------------------------------------------------ */
/*
 * autoSelectFamily (RFC 8305, "Happy Eyeballs v2", as Node 20 does it):
 * the lookup's addresses, deduplicated and grouped by family, alternate
 * families starting with the first answer's (§4); one attempt at a time,
 * each given autoSelectFamilyAttemptTimeout ms (on the kernel's clock)
 * before the next starts and it is abandoned (Node's simplification of
 * §5's racing); the first connection wins. Events as Node's:
 * 'connectionAttempt', 'connectionAttemptFailed', 'connectionAttemptTimeout';
 * every attempt failing is an AggregateError of them all.
 */

/** Node 20's defaults (net.getDefaultAutoSelectFamily(), ...AttemptTimeout()). */
let defaultAutoSelectFamily = true;
let defaultAutoSelectFamilyAttemptTimeout = 250;

function validAttemptTimeout(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
    throw nodeError('ERR_OUT_OF_RANGE', `The value of "autoSelectFamilyAttemptTimeout" is out of range. It must be an integer. Received ${String(v)}`, 'RangeError');
  }
  return v;
}

/** lookupHost with `all: true`: the environment's lookup, else lookupHost's one answer. */
function lookupAll(env: NetEnv, host: string, hints: number, cb: (err: Error | null, addresses: LookupAddress[]) => void): void {
  if (env.lookup) (env.lookup as unknown as LookupAllFunction)(host, { family: 0, hints, all: true }, cb);
  else lookupHost(env, host, 4, (err, address, family) => cb(err, err ? [] : [{ address, family }]));
}

interface AttemptContext {
  socket: NetSocket;
  addresses: LookupAddress[];
  /** The next address to try. */
  current: number;
  port: number;
  localPort: number | undefined;
  timeout: number;
  timer: HandleTimer | null;
  errors: Error[];
  /** The attempt under way (what its timeout abandons). */
  req: ConnectReq | null;
  handle: TcpHandle | null;
}

/** The lookup answered: order the addresses and start, as Node's lookupAndConnectMultiple. */
function connectToAddresses(
  self: NetSocket, host: string, port: number, localPort: number | undefined, timeout: number, err: Error | null, addresses: LookupAddress[],
): void {
  if (!self.connecting) return;
  if (err) {
    self.emit('lookup', err, undefined, undefined, host);
    process.nextTick(() => self.destroy(err));
    return;
  }
  // [first answer's family, the other]; each address once.
  const groups: LookupAddress[][] = [[], []];
  let firstFamily = 0;
  for (const a of addresses) {
    self.emit('lookup', null, a.address, a.family, host);
    if (!self.connecting) return;
    if (isIP(a.address) === 0 || (a.family !== 4 && a.family !== 6)) continue;
    if (firstFamily === 0) firstFamily = a.family;
    const g = groups[a.family === firstFamily ? 0 : 1]!;
    if (!g.some((b) => b.address === a.address)) g.push(a);
  }
  if (groups[0]!.length === 0) {
    const first = addresses[0];
    let e: Error;
    if (first === undefined) e = nodeError('ENOTFOUND', `getaddrinfo ENOTFOUND ${host}`);
    else if (isIP(first.address) === 0) e = nodeError('ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${first.address}`, 'TypeError');
    else e = nodeError('ERR_INVALID_ADDRESS_FAMILY', `Invalid address family: ${first.family} ${host}:${port}`, 'RangeError');
    process.nextTick(() => self.destroy(e));
    return;
  }
  const order: LookupAddress[] = [];
  for (let i = 0; i < Math.max(groups[0]!.length, groups[1]!.length); i++) {
    if (i < groups[0]!.length) order.push(groups[0]![i]!);
    if (i < groups[1]!.length) order.push(groups[1]![i]!);
  }
  self._unrefTimer();
  if (order.length === 1) {
    internalConnect(self, order[0]!.address, port, order[0]!.family, undefined, localPort);
    return;
  }
  self.autoSelectFamilyAttemptedAddresses = [];
  const ctx: AttemptContext = {
    socket: self, addresses: order, current: 0, port, localPort, timeout, timer: null, errors: [], req: null, handle: null,
  };
  attemptNext(ctx, false);
}

/** Try the next address, or fail with every attempt's error (Node's internalConnectMultiple). */
function attemptNext(ctx: AttemptContext, canceled: boolean): void {
  ctx.timer?.stop();
  const self = ctx.socket;
  if (self.destroyed) return;
  if (canceled || ctx.current === ctx.addresses.length) {
    if (ctx.errors.length === 0) self.destroy(nodeError('ERR_SOCKET_CONNECTION_TIMEOUT', 'Socket connection timeout'));
    else {
      const agg = new AggregateError(ctx.errors) as AggregateError & { code?: string };
      agg.code = (ctx.errors[0] as { code?: string }).code;
      self.destroy(agg);
    }
    return;
  }
  const i = ctx.current++;
  const { address, family } = ctx.addresses[i]!;
  // Each attempt gets a socket of its address's family; the last one's is closed.
  self._handle?.close();
  const handle = new TcpHandle(self.env, family === 6 ? AF_INET6 : AF_INET);
  self._handle = handle;
  initSocketHandle(self);
  self.emit('connectionAttempt', address, ctx.port, family);
  const req = new ConnectReq((status, h, r, readable, writable) => attemptDone(ctx, i, family, status, h, r, readable, writable), address, ctx.port);
  if (ctx.localPort) {
    req.localAddress = family === 6 ? '::' : '0.0.0.0';
    req.localPort = ctx.localPort;
  }
  ctx.req = req;
  ctx.handle = handle;
  self.autoSelectFamilyAttemptedAddresses.push(`${address}:${ctx.port}`);
  const err = handle.connect(req);
  if (err) {
    const ex = exceptionWithHostPort(err, 'connect', address, ctx.port);
    ctx.errors.push(ex);
    self.emit('connectionAttemptFailed', address, ctx.port, family, ex);
    attemptNext(ctx, false);
    return;
  }
  if (i < ctx.addresses.length - 1) {
    ctx.timer ??= self.env.timer(() => attemptTimedOut(ctx));
    ctx.timer.reset(ctx.timeout);
  }
}

/** An attempt finished (Node's afterConnectMultiple). */
function attemptDone(
  ctx: AttemptContext, i: number, family: number, status: number, handle: TcpHandle, req: ConnectReq, readable: boolean, writable: boolean,
): void {
  ctx.timer?.stop();
  // Connected after its time was up and the next attempt started: not ours any more.
  if (status === 0 && i !== ctx.current - 1) {
    handle.close();
    return;
  }
  const self = ctx.socket;
  if (status !== 0) {
    const ex = exceptionWithHostPort(status, req.syscall, req.syscall === 'bind' ? req.localAddress ?? '' : req.address, req.syscall === 'bind' ? req.localPort ?? 0 : req.port);
    ctx.errors.push(ex);
    self.emit('connectionAttemptFailed', req.address, req.port, family, ex);
    if (self.connecting) attemptNext(ctx, status === -ECANCELED);
    return;
  }
  afterConnect(status, handle, req, readable, writable);
}

/** The attempt's time is up: abandon it and start the next (Node's internalConnectMultipleTimeout). */
function attemptTimedOut(ctx: AttemptContext): void {
  const self = ctx.socket;
  const req = ctx.req;
  const handle = ctx.handle;
  if (req === null || handle === null || self.destroyed) return;
  const family = handle.family === AF_INET6 ? 6 : 4;
  self.emit('connectionAttemptTimeout', req.address, req.port, family);
  req.oncomplete = noopConnect;
  ctx.errors.push(exceptionWithHostPort(-ETIMEDOUT, 'connect', req.address, req.port));
  handle.close();
  if (self.connecting) attemptNext(ctx, false);
}

const noopConnect = (): void => {};

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
  /** Unset (undefined) until the program sets it, as on a node:net Server; typed as @types/node types it. */
  declare maxConnections: number;
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

  listen(port?: number | string | null, hostname?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number | string | null, hostname?: string, listeningListener?: () => void): this;
  listen(port?: number | string | null, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number | string | null, listeningListener?: () => void): this;
  listen(options: ListenOpts, listeningListener?: () => void): this;
  listen(listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    listenOn(this[kEnv], this, args);
    return this;
  }

  get listening(): boolean {
    return !!this._handle;
  }

  /** Node's deprecated count of connections (DEP0020); getConnections() is the call to use. */
  get connections(): number {
    return this._connections;
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
    // ipv6Only applies to a host of :: (Node 20 passes no flags without a host).
    if (options.host) lookupAndListen(env, server, port, options.host, backlog, options.ipv6Only ? UV_TCP_IPV6ONLY : 0);
    // No host: every address of both families (:: dual-stack), as Node on Linux;
    // a kernel known to have no IPv6 listens on 0.0.0.0 straight away.
    else if (env.inet6 === false) setupListenHandle(env, server, '0.0.0.0', port, 4, backlog, 0);
    else setupListenHandle(env, server, '::', port, 6, backlog, 0);
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

function lookupAndListen(env: NetEnv, server: ServerLike, port: number, host: string, backlog: number, flags: number): void {
  const id = server._listeningId;
  lookupHost(env, host, 4, (err, address, family) => {
    if (id !== server._listeningId) return;
    if (err) server.emit('error', err);
    else setupListenHandle(env, server, address, port, family, backlog, flags);
  });
}

function setupListenHandle(
  env: NetEnv, server: ServerLike, addr: string, port: number, addressType: number, backlog: number, flags: number,
): void {
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
      // '::' asks for every address of both families: a kernel without
      // net_netinet6 has only 0.0.0.0 (Node falls back so when IPv6 is
      // unavailable). The failed handle is gone first, as Node's never was.
      if (status === -EAFNOSUPPORT && addressType === 6 && (addr === '::' || addr === '::0')) {
        s[kListenPending] = true;
        handle.close(() => {
          if (id === server._listeningId) setupListenHandle(env, server, '0.0.0.0', port, 4, backlog, flags);
          else s[kListenPending] = false;
        });
        return;
      }
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
  }, flags);
}

/** A connection arrived (`this` is the listening handle), as Node's onconnection. */
function onconnection(this: TcpServerHandle, status: number, clientHandle?: TcpHandle): void {
  const self = this.owner as ServerLike;
  if (status) {
    // The kernel halted: the server closes ('close'), as if close() had been called.
    if (isHaltedStatus(status)) (self as ServerLike & { close(): unknown }).close();
    else self.emit('error', errnoException(status, 'accept'));
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
  connect(path: string, listener?: () => void): NetSocket;
  createConnection(options: TcpConnectOpts, listener?: () => void): NetSocket;
  createConnection(port: number, host?: string, listener?: () => void): NetSocket;
  createConnection(path: string, listener?: () => void): NetSocket;
  /**
   * Make a server made elsewhere listen on this kernel: any net.Server,
   * e.g. `kernel.net.listen(http.createServer(app), 80)`. Takes listen()'s
   * arguments; the server's own address(), close(), ref() then apply.
   */
  listen<S extends EventEmitter>(server: S, ...args: unknown[]): S;
  isIP(input: string): number;
  isIPv4(input: string): boolean;
  isIPv6(input: string): boolean;
  /** autoSelectFamily's default for connect() (Node 20: true), for every kernel's net in this process as in Node. */
  getDefaultAutoSelectFamily(): boolean;
  setDefaultAutoSelectFamily(value: boolean): void;
  /** The time each attempt gets, ms (Node's default 250; at least 10). */
  getDefaultAutoSelectFamilyAttemptTimeout(): number;
  setDefaultAutoSelectFamilyAttemptTimeout(value: number): void;
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
    return (socket as unknown as { _connect(n: NormalizedArgs, fresh: boolean): NetSocket })._connect(norm, true);
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
    getDefaultAutoSelectFamily: () => defaultAutoSelectFamily,
    setDefaultAutoSelectFamily: (value) => {
      if (typeof value !== 'boolean') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "value" argument must be of type boolean', 'TypeError');
      defaultAutoSelectFamily = value;
    },
    getDefaultAutoSelectFamilyAttemptTimeout: () => defaultAutoSelectFamilyAttemptTimeout,
    setDefaultAutoSelectFamilyAttemptTimeout: (value) => {
      const v = validAttemptTimeout(value);
      if (v < 1) throw nodeError('ERR_OUT_OF_RANGE', `The value of "value" is out of range. It must be >= 1. Received ${v}`, 'RangeError');
      defaultAutoSelectFamilyAttemptTimeout = Math.max(v, 10);
    },
  };
}

/*
 * The events of sockets and servers, typed as @types/node types node:net's,
 * so listeners get their arguments' types (and a socket from a kernel is
 * accepted where a net.Socket is). The last form takes any other event.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
type SocketEvents = {
  close: (hadError: boolean) => void;
  connect: () => void;
  connectionAttempt: (ip: string, port: number, family: number) => void;
  connectionAttemptFailed: (ip: string, port: number, family: number, error: Error) => void;
  connectionAttemptTimeout: (ip: string, port: number, family: number) => void;
  data: (data: Buffer) => void;
  drain: () => void;
  end: () => void;
  error: (err: Error) => void;
  lookup: (err: Error | null, address: string, family: string | number, host: string) => void;
  ready: () => void;
  timeout: () => void;
};

type ServerEvents = {
  close: () => void;
  connection: (socket: NetSocket) => void;
  error: (err: Error) => void;
  listening: () => void;
  drop: (data?: { localAddress?: string; localPort?: number; remoteAddress?: string; remotePort?: number; remoteFamily?: string }) => void;
};

// Declaration merging: typed overloads for the classes' listener methods, no code.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface NetSocket {
  on<K extends keyof SocketEvents>(event: K, listener: SocketEvents[K]): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<K extends keyof SocketEvents>(event: K, listener: SocketEvents[K]): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  addListener<K extends keyof SocketEvents>(event: K, listener: SocketEvents[K]): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependListener<K extends keyof SocketEvents>(event: K, listener: SocketEvents[K]): this;
  prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependOnceListener<K extends keyof SocketEvents>(event: K, listener: SocketEvents[K]): this;
  prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this;
  off<K extends keyof SocketEvents>(event: K, listener: SocketEvents[K]): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
  removeListener<K extends keyof SocketEvents>(event: K, listener: SocketEvents[K]): this;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  emit<K extends keyof SocketEvents>(event: K, ...args: Parameters<SocketEvents[K]>): boolean;
  emit(event: string | symbol, ...args: any[]): boolean;
}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface NetServer {
  on<K extends keyof ServerEvents>(event: K, listener: ServerEvents[K]): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<K extends keyof ServerEvents>(event: K, listener: ServerEvents[K]): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  addListener<K extends keyof ServerEvents>(event: K, listener: ServerEvents[K]): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependListener<K extends keyof ServerEvents>(event: K, listener: ServerEvents[K]): this;
  prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependOnceListener<K extends keyof ServerEvents>(event: K, listener: ServerEvents[K]): this;
  prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this;
  off<K extends keyof ServerEvents>(event: K, listener: ServerEvents[K]): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
  removeListener<K extends keyof ServerEvents>(event: K, listener: ServerEvents[K]): this;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  emit<K extends keyof ServerEvents>(event: K, ...args: Parameters<ServerEvents[K]>): boolean;
  emit(event: string | symbol, ...args: any[]): boolean;
}
/* eslint-enable @typescript-eslint/no-explicit-any */
