/*
 * `kernel.dgram`: Node's `dgram` module on a rump kernel.
 *
 *   const s = kernel.dgram.createSocket('udp4');
 *   s.on('message', (msg, rinfo) => ...);
 *   s.bind(7, () => s.send('hi', 7, '192.0.2.2'));
 *
 * The behaviour is Node's: bind resolves its address and emits 'listening'
 * (or 'error' with `bind EADDRINUSE 0.0.0.0:7`) on a later tick; send on an
 * unbound socket binds it to an ephemeral port first and queues the
 * datagram until then; a send error goes to the callback when there is
 * one and is dropped otherwise, as Node drops it; a connected socket hears
 * ICMP port unreachable as an 'error' with syscall `recvmsg`; close emits
 * 'close' on the next tick. Argument errors throw Node's ERR_* codes.
 *
 * Socket ── UdpHandle (handle.ts) ── sys ── the kernel's UDP
 */
import { EventEmitter } from 'node:events';
import { Buffer } from 'node:buffer';
import { AF_INET, AF_INET6 } from '../../kern/sys.js';
import {
  SendReq, UdpHandle, UV_UDP_IPV6ONLY, UV_UDP_REUSEADDR, lookupHost, type AddressInfo, type HandleEnv, type LookupFunction,
} from './handle.js';
import { errnoException, exceptionWithHostPort, isHaltedStatus, nodeError } from './errors.js';

const BIND_UNBOUND = 0;
const BIND_BINDING = 1;
const BIND_BOUND = 2;

const CONNECT_NONE = 0;
const CONNECT_CONNECTING = 1;
const CONNECT_CONNECTED = 2;

export type SocketType = 'udp4' | 'udp6';

export interface SocketOptions {
  type: SocketType;
  reuseAddr?: boolean;
  ipv6Only?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  lookup?: LookupFunction;
  signal?: AbortSignal;
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
  fd?: number;
}

export interface RemoteInfo extends AddressInfo {
  family: 'IPv4' | 'IPv6';
  size: number;
}

type SendCallback = (error: Error | null, bytes?: number) => void;
/** send()'s callback as @types/node types it (a failed send passes no count). */
type SendListener = (error: Error | null, bytes: number) => void;
type MessageListener = (msg: Buffer, rinfo: RemoteInfo) => void;

function badPort(name: string, value: unknown, allowZero: boolean): Error {
  return nodeError('ERR_SOCKET_BAD_PORT', `${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${String(value)}.`, 'RangeError');
}

/** Node's validatePort: a number or numeric string, 0 (when allowed) to 65535. */
function validPort(port: unknown, name: string, allowZero: boolean): number {
  const n = typeof port === 'string' && port.trim() !== '' ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff || (n === 0 && !allowZero)) throw badPort(name, port, allowZero);
  return n;
}

function missingArgs(name: string): Error {
  return nodeError('ERR_MISSING_ARGS', `The "${name}" argument must be specified`, 'TypeError');
}

function validateString(value: unknown, name: string): void {
  if (typeof value !== 'string') throw nodeError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type string`, 'TypeError');
}

/** NetBSD's ENOSYS (sys/errno.h). */
const ENOSYS = 78;

function notRunning(): Error {
  return nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
}

/** A datagram as a list of buffers, from the forms Node accepts. */
function toList(msg: unknown): Uint8Array[] {
  if (typeof msg === 'string') return [Buffer.from(msg)];
  if (ArrayBuffer.isView(msg)) return [msg instanceof Uint8Array ? msg : new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength)];
  if (Array.isArray(msg)) {
    return msg.map((m) => {
      if (typeof m === 'string') return Buffer.from(m);
      if (ArrayBuffer.isView(m)) return new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
      throw nodeError('ERR_INVALID_ARG_TYPE', 'The "buffer list arguments" argument must be of type Buffer, TypedArray, DataView or string', 'TypeError');
    });
  }
  throw nodeError('ERR_INVALID_ARG_TYPE', 'The "buffer" argument must be of type string or an instance of Buffer, TypedArray or DataView', 'TypeError');
}

function slice(msg: unknown, offset: unknown, length: unknown): Uint8Array {
  const buf = typeof msg === 'string' ? Buffer.from(msg) : msg;
  if (!ArrayBuffer.isView(buf)) {
    throw nodeError('ERR_INVALID_ARG_TYPE', 'The "buffer" argument must be of type string or an instance of Buffer, TypedArray or DataView', 'TypeError');
  }
  if (typeof offset !== 'number' || typeof length !== 'number') {
    throw nodeError('ERR_INVALID_ARG_TYPE', 'The "offset" and "length" arguments must be of type number', 'TypeError');
  }
  const off = offset >>> 0;
  const len = length >>> 0;
  if (off > buf.byteLength) throw nodeError('ERR_BUFFER_OUT_OF_BOUNDS', '"offset" is outside of buffer bounds', 'RangeError');
  if (off + len > buf.byteLength) throw nodeError('ERR_BUFFER_OUT_OF_BOUNDS', '"length" is outside of buffer bounds', 'RangeError');
  return new Uint8Array(buf.buffer, buf.byteOffset + off, len);
}

/**
 * The buffer sizes a dgram socket starts with: Linux's defaults
 * (net.core.rmem_default / wmem_default), which Node users' programs rely
 * on, where NetBSD's (net.inet.udp.sendspace 9216, recvspace 41600) would
 * refuse a send above 9,216 bytes and drop a received datagram above
 * ~41,000. Then a 65,507-byte datagram goes and arrives, as on Node. The
 * sysctls still rule the BSD face (kernel.sys).
 */
const DGRAM_DEFAULT_BUFSIZE = 212992;

function raiseBuffer(handle: UdpHandle, recv: boolean): void {
  const now = handle.bufferSize(0, recv);
  if (now >= 0 && now < DGRAM_DEFAULT_BUFSIZE) handle.bufferSize(DGRAM_DEFAULT_BUFSIZE, recv);
}

/** A UDP socket on a rump kernel, with Node's dgram.Socket API. */
export class DgramSocket extends EventEmitter {
  readonly type: SocketType;
  private handle: UdpHandle | null;
  private bindState = BIND_UNBOUND;
  private connectState = CONNECT_NONE;
  /** Sends and connects waiting for the implicit bind to finish. */
  private queue: Array<() => void> | null = null;
  private readonly reuseAddr: boolean;
  /** udp6 with ipv6Only: IPV6_V6ONLY on (otherwise a udp6 socket on :: takes IPv4 too, as on Linux). */
  private readonly ipv6Only: boolean;
  private readonly recvBufferSize: number;
  private readonly sendBufferSize: number;
  private readonly lookupFn: LookupFunction | undefined;
  private unrefd = false;

  constructor(
    private readonly env: HandleEnv,
    type: SocketType | SocketOptions,
    listener?: MessageListener,
  ) {
    super();
    const opts: Partial<SocketOptions> = typeof type === 'object' && type !== null ? type : { type };
    if (opts.type !== 'udp4' && opts.type !== 'udp6') {
      throw nodeError('ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6', 'TypeError');
    }
    this.type = opts.type;
    this.reuseAddr = Boolean(opts.reuseAddr);
    this.ipv6Only = Boolean(opts.ipv6Only);
    this.recvBufferSize = opts.recvBufferSize ?? 0;
    this.sendBufferSize = opts.sendBufferSize ?? 0;
    this.lookupFn = opts.lookup;
    this.handle = new UdpHandle(env, this.type === 'udp6' ? AF_INET6 : AF_INET);
    this.handle.owner = this;
    this.handle.onmessage = onMessage;
    if (typeof listener === 'function') this.on('message', listener);
    const signal = opts.signal;
    if (signal !== undefined) {
      const onAbort = (): void => {
        if (this.handle) this.close();
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
  }

  private running(): UdpHandle {
    if (this.handle === null) throw notRunning();
    return this.handle;
  }

  private lookup(address: string, cb: (err: Error | null, ip: string) => void): void {
    const family = this.type === 'udp6' ? 6 : 4;
    const done = (err: Error | null, ip: string): void => cb(err, ip);
    if (this.lookupFn) this.lookupFn(address, { family }, done);
    else lookupHost(this.env, address, family, done);
  }

  bind(port?: number, address?: string, callback?: () => void): this;
  bind(port?: number, callback?: () => void): this;
  bind(callback?: () => void): this;
  bind(options: BindOptions, callback?: () => void): this;
  bind(port?: number | BindOptions | (() => void) | null, address?: string | (() => void), callback?: () => void): this {
    const handle = this.running();
    if (this.bindState !== BIND_UNBOUND) throw nodeError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    this.bindState = BIND_BINDING;
    const args = [port, address, callback];
    let cb: (() => void) | undefined;
    for (let i = args.length - 1; i >= 0; i--) {
      if (args[i] !== undefined) {
        if (typeof args[i] === 'function') cb = args[i] as () => void;
        break;
      }
    }
    if (cb) {
      const onListening = (): void => {
        this.removeListener('error', removeListeners);
        cb!.call(this);
      };
      const removeListeners = (): void => {
        this.removeListener('error', removeListeners);
        this.removeListener('listening', onListening);
      };
      this.on('error', removeListeners);
      this.on('listening', onListening);
    }
    let p: unknown;
    let addr: string;
    if (port !== null && typeof port === 'object') {
      if (typeof port.fd === 'number' && port.fd > 0) throw nodeError('ERR_INVALID_ARG_VALUE', 'a rump kernel socket cannot adopt a host file descriptor', 'TypeError');
      p = port.port;
      addr = port.address ?? '';
    } else {
      p = typeof port === 'function' ? 0 : port;
      addr = typeof address === 'string' ? address : '';
    }
    const portNum = p === undefined || p === null ? 0 : validPort(p, 'Port', true);
    if (!addr) addr = this.type === 'udp4' ? '0.0.0.0' : '::';
    this.lookup(addr, (err, ip) => {
      if (this.handle !== handle) return; // closed meanwhile
      if (err) {
        this.bindState = BIND_UNBOUND;
        this.emit('error', err);
        return;
      }
      const flags = (this.reuseAddr ? UV_UDP_REUSEADDR : 0) | (this.ipv6Only ? UV_UDP_IPV6ONLY : 0);
      handle.bind(ip, portNum, flags, (status) => {
        if (this.handle !== handle) return;
        if (status !== 0) {
          this.bindState = BIND_UNBOUND;
          this.emit('error', exceptionWithHostPort(status, 'bind', ip, portNum));
          return;
        }
        this.startListening(handle);
      });
    });
    return this;
  }

  private startListening(handle: UdpHandle): void {
    handle.recvStart();
    this.bindState = BIND_BOUND;
    if (this.recvBufferSize) this.bufferSize(this.recvBufferSize, true, 'recv');
    else raiseBuffer(handle, true);
    if (this.sendBufferSize) this.bufferSize(this.sendBufferSize, false, 'send');
    else raiseBuffer(handle, false);
    if (this.unrefd) handle.unref();
    this.emit('listening');
  }

  /** Queue `fn` until the implicit bind has finished (or failed: then the queue is dropped). */
  private enqueue(fn: () => void): void {
    if (this.queue === null) {
      this.queue = [];
      const onError = (): void => {
        this.removeListener('listening', onListening);
        this.queue = null;
      };
      const onListening = (): void => {
        this.removeListener(EventEmitter.errorMonitor, onError);
        const q = this.queue ?? [];
        this.queue = null;
        for (const f of q) f();
      };
      this.once(EventEmitter.errorMonitor, onError);
      this.once('listening', onListening);
    }
    this.queue.push(fn);
  }

  connect(port: number, address?: string, callback?: () => void): void;
  connect(port: number, callback: () => void): void;
  connect(port: number, address?: string | (() => void), callback?: () => void): void {
    const portNum = validPort(port, 'Port', false);
    let cb = callback;
    let addr = '';
    if (typeof address === 'function') cb = address;
    else if (address !== undefined) {
      if (typeof address !== 'string') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "address" argument must be of type string', 'TypeError');
      addr = address;
    }
    this.running();
    if (this.connectState !== CONNECT_NONE) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    this.connectState = CONNECT_CONNECTING;
    if (this.bindState === BIND_UNBOUND) this.bind({ port: 0, exclusive: true });
    if (this.bindState !== BIND_BOUND) {
      this.enqueue(() => this.doConnect(portNum, addr, cb));
      return;
    }
    this.doConnect(portNum, addr, cb);
  }

  private doConnect(port: number, address: string, cb: (() => void) | undefined): void {
    if (cb) this.once('connect', cb);
    const handle = this.handle;
    if (handle === null) return;
    const fail = (ex: Error): void => {
      this.connectState = CONNECT_NONE;
      process.nextTick(() => {
        if (cb) {
          this.removeListener('connect', cb);
          (cb as (err: Error) => void)(ex);
        } else this.emit('error', ex);
      });
    };
    this.lookup(address || (this.type === 'udp6' ? '::1' : '127.0.0.1'), (err, ip) => {
      if (this.handle !== handle) return;
      if (err) {
        fail(err);
        return;
      }
      handle.connect(ip, port, (status) => {
        if (this.handle !== handle) return;
        if (status !== 0) {
          fail(exceptionWithHostPort(status, 'connect', address, port));
          return;
        }
        this.connectState = CONNECT_CONNECTED;
        process.nextTick(() => this.emit('connect'));
      });
    });
  }

  disconnect(): void {
    const handle = this.running();
    if (this.connectState !== CONNECT_CONNECTED) throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    const err = handle.disconnect();
    if (err) throw errnoException(err, 'connect');
    this.connectState = CONNECT_NONE;
  }

  /**
   * send(msg[, offset, length][, port][, address][, callback]), as Node:
   * on a connected socket without port and address.
   */
  send(msg: string | NodeJS.ArrayBufferView | readonly unknown[], port?: number, address?: string, callback?: SendListener): void;
  send(msg: string | NodeJS.ArrayBufferView | readonly unknown[], port?: number, callback?: SendListener): void;
  send(msg: string | NodeJS.ArrayBufferView | readonly unknown[], callback?: SendListener): void;
  send(msg: string | NodeJS.ArrayBufferView, offset: number, length: number, port?: number, address?: string, callback?: SendListener): void;
  send(msg: string | NodeJS.ArrayBufferView, offset: number, length: number, port?: number, callback?: SendListener): void;
  send(msg: string | NodeJS.ArrayBufferView, offset: number, length: number, callback?: SendListener): void;
  send(msg: unknown, ...rest: unknown[]): void {
    let offset: unknown = rest[0];
    let length: unknown = rest[1];
    let port: unknown = rest[2];
    let address: unknown = rest[3];
    let callback: unknown = rest[4];
    let buffer: unknown = msg;
    const connected = this.connectState === CONNECT_CONNECTED;
    if (!connected) {
      if (address || (port && typeof port !== 'function')) {
        buffer = slice(msg, offset, length);
      } else {
        callback = port;
        port = offset;
        address = length;
      }
    } else {
      if (typeof length === 'number') {
        buffer = slice(msg, offset, length);
        if (typeof port === 'function') {
          callback = port;
          port = null;
        }
      } else {
        callback = offset;
      }
      if (port || address) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    }
    const list = toList(buffer);
    let portNum = 0;
    if (!connected) portNum = validPort(port, 'Port', false);
    if (typeof callback !== 'function') callback = undefined;
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    } else if (address !== undefined && address !== null && typeof address !== 'string') {
      throw nodeError('ERR_INVALID_ARG_TYPE', 'The "address" argument must be of type string', 'TypeError');
    }
    this.running();
    if (this.bindState === BIND_UNBOUND) this.bind({ port: 0, exclusive: true });
    if (list.length === 0) list.push(Buffer.alloc(0));
    const cb = callback as SendCallback | undefined;
    const addr = (address as string | undefined | null) ?? undefined;
    if (this.bindState !== BIND_BOUND) {
      this.enqueue(() => this.sendBound(list, connected, portNum, addr, cb));
      return;
    }
    this.sendBound(list, connected, portNum, addr, cb);
  }

  private sendBound(list: Uint8Array[], connected: boolean, port: number, address: string | undefined, cb: SendCallback | undefined): void {
    if (connected) {
      this.doSend(null, null, list, address, port, cb);
      return;
    }
    const dest = address || (this.type === 'udp6' ? '::1' : '127.0.0.1');
    this.lookup(dest, (err, ip) => this.doSend(err, ip, list, address, port, cb));
  }

  private doSend(err: Error | null, ip: string | null, list: Uint8Array[], address: string | undefined, port: number, cb: SendCallback | undefined): void {
    const handle = this.handle;
    if (err) {
      if (cb) process.nextTick(cb, err);
      else process.nextTick(() => this.emit('error', err));
      return;
    }
    if (handle === null) return;
    const shown = address ?? ip ?? '';
    const req = new SendReq((status, sent) => {
      if (!cb) return; // Node drops a failed send that has no callback
      if (status !== 0) cb(exceptionWithHostPort(status, 'send', shown, port));
      else cb(null, sent);
    });
    const e = ip === null ? handle.send(req, list) : handle.send(req, list, port, ip);
    if (e !== 0 && cb) process.nextTick(cb, exceptionWithHostPort(e, 'send', shown, port));
  }

  close(callback?: () => void): this {
    if (typeof callback === 'function') this.on('close', callback);
    if (this.queue !== null) {
      this.queue.push(() => this.close());
      return this;
    }
    const handle = this.running();
    handle.recvStop();
    handle.close();
    this.handle = null;
    process.nextTick(() => this.emit('close'));
    return this;
  }

  address(): AddressInfo {
    const handle = this.running();
    const out: Partial<AddressInfo> = {};
    const err = handle.getsockname(out);
    if (err) throw errnoException(err, 'getsockname');
    return out as AddressInfo;
  }

  remoteAddress(): AddressInfo {
    const handle = this.running();
    if (this.connectState !== CONNECT_CONNECTED) throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    const out: Partial<AddressInfo> = {};
    const err = handle.getpeername(out);
    if (err) throw errnoException(err, 'getpeername');
    return out as AddressInfo;
  }

  setBroadcast(flag: boolean): void {
    const err = this.running().setBroadcast(Boolean(flag));
    if (err) throw errnoException(err, 'setBroadcast');
  }

  setTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "ttl" argument must be of type number', 'TypeError');
    const err = this.running().setTTL(ttl);
    if (err) throw errnoException(err, 'setTTL');
    return ttl;
  }

  setMulticastTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "ttl" argument must be of type number', 'TypeError');
    const err = this.running().setMulticastTTL(ttl);
    if (err) throw errnoException(err, 'setMulticastTTL');
    return ttl;
  }

  setMulticastLoopback(flag: boolean): boolean {
    const err = this.running().setMulticastLoopback(Boolean(flag));
    if (err) throw errnoException(err, 'setMulticastLoopback');
    return flag;
  }

  /** IP_ADD_MEMBERSHIP: join `group` on the interface with address `iface` (none: the route's). */
  addMembership(multicastAddress: string, interfaceAddress?: string): void {
    const handle = this.running();
    if (!multicastAddress) throw missingArgs('multicastAddress');
    const err = handle.setMembership(multicastAddress, interfaceAddress, true);
    if (err) throw errnoException(err, 'addMembership');
  }

  dropMembership(multicastAddress: string, interfaceAddress?: string): void {
    const handle = this.running();
    if (!multicastAddress) throw missingArgs('multicastAddress');
    const err = handle.setMembership(multicastAddress, interfaceAddress, false);
    if (err) throw errnoException(err, 'dropMembership');
  }

  /**
   * Source-specific membership needs IGMPv3/MLDv2 (RFC 4604), which the
   * kernel does not speak (NetBSD has no IP_ADD_SOURCE_MEMBERSHIP either):
   * ENOSYS, as libuv answers on such a system.
   */
  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, _interfaceAddress?: string): void {
    this.running();
    validateString(sourceAddress, 'sourceAddress');
    validateString(groupAddress, 'groupAddress');
    throw errnoException(-ENOSYS, 'addSourceSpecificMembership');
  }

  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, _interfaceAddress?: string): void {
    this.running();
    validateString(sourceAddress, 'sourceAddress');
    validateString(groupAddress, 'groupAddress');
    throw errnoException(-ENOSYS, 'dropSourceSpecificMembership');
  }

  /** IP_MULTICAST_IF: send multicast from the interface with this address ('0.0.0.0': by route again). */
  setMulticastInterface(interfaceAddress: string): void {
    const handle = this.running();
    validateString(interfaceAddress, 'interfaceAddress');
    const err = handle.setMulticastInterface(interfaceAddress);
    if (err) throw errnoException(err, 'setMulticastInterface');
  }

  private bufferSize(size: number, recv: boolean, which: 'recv' | 'send'): number {
    const handle = this.handle;
    const r = handle ? handle.bufferSize(size, recv) : -9;
    if (r < 0) {
      const e = errnoException(r, which === 'recv' ? 'uv_recv_buffer_size' : 'uv_send_buffer_size');
      throw Object.assign(nodeError('ERR_SOCKET_BUFFER_SIZE', `Could not get or set buffer size: ${e.message}`, 'Error'), { info: e });
    }
    return r;
  }

  setRecvBufferSize(size: number): void {
    this.bufferSize(size, true, 'recv');
  }

  setSendBufferSize(size: number): void {
    this.bufferSize(size, false, 'send');
  }

  getRecvBufferSize(): number {
    return this.bufferSize(0, true, 'recv');
  }

  getSendBufferSize(): number {
    return this.bufferSize(0, false, 'send');
  }

  /** Datagrams are handed to the kernel at once; nothing waits in a queue of ours. */
  getSendQueueSize(): number {
    return 0;
  }

  getSendQueueCount(): number {
    return 0;
  }

  ref(): this {
    this.unrefd = false;
    this.handle?.ref();
    return this;
  }

  unref(): this {
    this.unrefd = true;
    this.handle?.unref();
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.handle === null) return;
    await new Promise<void>((resolve) => this.close(resolve));
  }
}

function onMessage(nread: number, handle: UdpHandle, buf?: Buffer, rinfo?: AddressInfo & { size: number }): void {
  const self = handle.owner as DgramSocket;
  if (nread < 0) {
    // The kernel halted: the socket closes ('close'), as if close() had been called.
    if (isHaltedStatus(nread)) self.close();
    else self.emit('error', errnoException(nread, 'recvmsg'));
    return;
  }
  self.emit('message', buf!, { address: rinfo!.address, family: rinfo!.family, port: rinfo!.port, size: buf!.length });
}

/** What `kernel.dgram` is: node:dgram's API on one kernel. */
export interface DgramModule {
  createSocket(type: SocketType | SocketOptions, listener?: MessageListener): DgramSocket;
  /** `new kernel.dgram.Socket('udp4')`, as `new dgram.Socket(...)`. */
  Socket: new (type: SocketType | SocketOptions, listener?: MessageListener) => DgramSocket;
}

/** Node's `dgram` over the kernel behind `env`. */
export function createDgram(env: HandleEnv): DgramModule {
  class Socket extends DgramSocket {
    constructor(type: SocketType | SocketOptions, listener?: MessageListener) {
      super(env, type, listener);
    }
  }
  return {
    Socket,
    createSocket: (type, listener) => new Socket(type, listener),
  };
}

/*
 * The events of a dgram socket, typed as @types/node types node:dgram's
 * (declaration merging: overloads for the listener methods, no code).
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
type DgramEvents = {
  close: () => void;
  connect: () => void;
  error: (err: Error) => void;
  listening: () => void;
  message: (msg: Buffer, rinfo: RemoteInfo) => void;
};

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface DgramSocket {
  on<K extends keyof DgramEvents>(event: K, listener: DgramEvents[K]): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once<K extends keyof DgramEvents>(event: K, listener: DgramEvents[K]): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  addListener<K extends keyof DgramEvents>(event: K, listener: DgramEvents[K]): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependListener<K extends keyof DgramEvents>(event: K, listener: DgramEvents[K]): this;
  prependListener(event: string | symbol, listener: (...args: any[]) => void): this;
  prependOnceListener<K extends keyof DgramEvents>(event: K, listener: DgramEvents[K]): this;
  prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this;
  off<K extends keyof DgramEvents>(event: K, listener: DgramEvents[K]): this;
  off(event: string | symbol, listener: (...args: any[]) => void): this;
  removeListener<K extends keyof DgramEvents>(event: K, listener: DgramEvents[K]): this;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  emit<K extends keyof DgramEvents>(event: K, ...args: Parameters<DgramEvents[K]>): boolean;
  emit(event: string | symbol, ...args: any[]): boolean;
}
/* eslint-enable @typescript-eslint/no-explicit-any */
