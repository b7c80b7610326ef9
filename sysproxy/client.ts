/*
 * The client side of sysproxy (NetBSD's rumpclient(3)): connect to a
 * rump_server named by RUMP_SERVER and get a `sys` with the same calls as a
 * kernel's own `kernel.sys`, each one frame to the server and one back.
 *
 *   const c = await rumpClient();                   // RUMP_SERVER=unix:///tmp/s1
 *   const fd = await c.sys.socket(AF_INET, SOCK_DGRAM, 0);
 *   await c.sys.sendto(fd, bytes, 0, { family: AF_INET, addr: '192.0.2.2', port: 7 });
 *   await c.close();
 *
 * Failures reject with the server kernel's Errno (number, code, syscall and
 * message as the server saw them). When the connection is lost, every call
 * in flight and every later call rejects with ENOTCONN ("Socket is not
 * connected"), as rumpclient's calls fail once their server is gone.
 */
import net from 'node:net';
import { Errno, ECONNRESET, ENOTCONN, EMSGSIZE, EPIPE, ETIMEDOUT, errnoByName } from '../kern/errno.js';
import type { PollFd, Sys } from '../kern/sys.js';
import { ProtocolError, TAG_BYTES, decode, type Value } from './codec.js';
import {
  CONNECTION_ID, FRAME_CALL, FRAME_CLOSE, FRAME_ERROR, FRAME_HELLO, FRAME_RESULT, FrameReader, FrameTooLargeError,
  ACCEPTWAIT_METHOD, FEATURE_ACCEPT, FEATURE_DGRAM, RECVFROMWAIT_METHOD, FEATURE_STREAM, HALT_METHOD, TAIL_BYTES_MIN, CONNECTION_BUFFER, encodeFrameHead, MAX_IO, PROTOCOL_VERSION, RECVWAIT_METHOD, SENDALL_METHOD, SYSCALL_NAMES, encodeClientHello, encodeEmptyFrame, encodeFrame,
  errnoFromPayload, frameTypeName, parseServerHello, type Banner, type FrameSink, type HaltOptions, type SyscallName,
} from './protocol.js';
import { formatRumpUrl, parseRumpUrl } from './url.js';
import { NetConfig } from '../net/netconfig.js';
import { createNodeHost, setStreamBuffers } from '../hypercall/node.js';
import { CalloutWheel } from '../kern/callout.js';
import type { HandleEnv, StreamCalls } from '../net/node/handle.js';
import { createDns, faceLookup, kernelAddrconfig, type DnsModule } from '../net/node/dns.js';
import { createNet, type NetModule } from '../net/node/net.js';
import { createDgram, type DgramModule } from '../net/node/dgram.js';

/**
 * The system calls of a remote kernel: the same names, arguments and results
 * as kern/sys.ts `Sys`, every one a promise. Code written against
 * `Pick<Sys, ...>` (netconfig, the tools) runs on either.
 */
export interface RemoteSys extends Pick<Sys, SyscallName> {}

export interface RumpClient {
  /** The remote kernel's system calls. */
  readonly sys: RemoteSys;
  /** buildrump's netconfig calls on the remote kernel, as `kernel.netconfig` in-process. */
  readonly netconfig: NetConfig;
  /** What the server said about itself when we connected. */
  readonly banner: Banner;
  /** The server's URL (unix paths absolute). */
  readonly url: string;
  /** Node's `net` on the remote kernel, as `kernel.net` in-process (net/node/net.ts). */
  readonly net: NetModule;
  /** Node's `dgram` on the remote kernel, as `kernel.dgram` in-process. */
  readonly dgram: DgramModule;
  /** Node's `dns` resolving in the remote kernel's world (its resolver configuration, over its sockets). */
  readonly dns: DnsModule;
  /** What `net` and `dgram` run on (this client's sys, a clock, the keep-alive), for faces with extra options (the hijack). */
  readonly faceEnv: HandleEnv;
  /** Calls sent and not answered yet. */
  readonly pending: number;
  /**
   * Like a Node handle's unref(): the connection to the server no longer
   * keeps the process alive by itself, only while a ref'd socket of
   * `net`/`dgram` is active (the hijack runs unmodified programs this way,
   * so they exit when their own sockets are done). `ref()` undoes it.
   */
  unref(): void;
  ref(): void;
  /**
   * Halt the server's kernel (rump.halt). By default the server then exits
   * and removes its socket; `{ exit: false }` keeps the host process (-h).
   * Resolves once the kernel has halted (and the socket is gone).
   */
  halt(opts?: HaltOptions): Promise<void>;
  /** Say goodbye and disconnect; the server closes this client's descriptors. */
  close(): Promise<void>;
}

interface Pending {
  method: string;
  /** Made by the Node faces: a lost connection fails it as a lost peer (ECONNRESET, EPIPE), not ENOTCONN. */
  face: boolean;
  resolve: (v: Value) => void;
  reject: (e: Errno) => void;
}

function uncork(c: Client): void {
  c.corked = false;
  c.socket.uncork();
}

/** Methods whose data argument a frame must be able to hold. */
/** Calls that send: the Node faces see a lost server as EPIPE on these, ECONNRESET on the rest. */
const SEND_CALLS: ReadonlySet<string> = new Set(['write', 'send', 'sendto', SENDALL_METHOD]);

const DATA_ARG: Partial<Record<string, number>> = { write: 1, send: 1, sendto: 1, [SENDALL_METHOD]: 1 };

class Client implements FrameSink, RumpClient {
  readonly sys: RemoteSys;
  private netconfigCache: NetConfig | null = null;
  get netconfig(): NetConfig {
    return (this.netconfigCache ??= new NetConfig(this.sys));
  }
  private faces: { net: NetModule; dgram: DgramModule } | null = null;
  private envCache: HandleEnv | null = null;
  get net(): NetModule {
    return (this.faces ??= { net: createNet(this.faceEnv), dgram: createDgram(this.faceEnv) }).net;
  }
  get dgram(): DgramModule {
    return (this.faces ??= { net: createNet(this.faceEnv), dgram: createDgram(this.faceEnv) }).dgram;
  }
  private dnsCache: DnsModule | null = null;
  get dns(): DnsModule {
    void this.faceEnv;
    return this.dnsCache!;
  }
  /** The Node faces run here, so their timers and softints are this process's (a node host's). */
  get faceEnv(): HandleEnv {
    if (this.envCache === null) {
      const host = createNodeHost();
      const wheel = new CalloutWheel(host);
      const timer: HandleEnv['timer'] = (fn) => wheel.create(fn, null);
      const hold = (): (() => void) => this.hold();
      // Names resolve in the server kernel's world: its configuration, its sockets.
      this.dnsCache = createDns({ sys: this.sys, timer, hold, random32: () => host.random32(), addrconfig: () => kernelAddrconfig(this.sys) });
      this.envCache = {
        sys: this.makeSys(true),
        timer,
        defer: (fn, arg) => host.defer(fn, arg),
        hold,
        lookup: faceLookup(this.dnsCache),
        streams: this.banner.features?.includes(FEATURE_STREAM) ? this.streamCalls() : undefined,
        handles: this.handles,
        lost: () => (this.lost === null ? undefined : `(${this.lost})`),
      };
    }
    return this.envCache;
  }
  /** The server's stream calls (PROTOCOL.md "Stream calls"), for the Node faces: those its banner offers. */
  private streamCalls(): StreamCalls {
    const features = this.banner.features ?? [];
    return {
      sendall: (fd, data) => this.call(SENDALL_METHOD, [fd, data], true) as Promise<number>,
      recvwait: (fd, len) => this.call(RECVWAIT_METHOD, [fd, len], true) as Promise<Uint8Array | Uint8Array[]>,
      acceptwait: features.includes(FEATURE_ACCEPT) ? (fd) => this.call(ACCEPTWAIT_METHOD, [fd], true) as Promise<never> : undefined,
      recvfromwait: features.includes(FEATURE_DGRAM) ? (fd, len) => this.call(RECVFROMWAIT_METHOD, [fd, len], true) as Promise<never> : undefined,
    };
  }
  /** The open handles of `net` and `dgram`: close() closes them. */
  private readonly handles = new Set<OpenHandle>();
  private holds = 0;
  private unrefd = false;
  private hold(): () => void {
    if (this.holds++ === 0) this.applyRef();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds === 0) this.applyRef();
    };
  }
  private applyRef(): void {
    if (this.socket.destroyed) return;
    if (this.unrefd && this.holds === 0) this.socket.unref();
    else this.socket.ref();
  }
  unref(): void {
    this.unrefd = true;
    this.applyRef();
  }
  ref(): void {
    this.unrefd = false;
    this.applyRef();
  }
  banner!: Banner;
  corked = false;
  private readonly reader = new FrameReader(this);
  private readonly calls = new Map<number, Pending>();
  private nextId = 1;
  /** Why the connection is unusable, once it is. */
  private lost: string | null = null;
  private closed: Promise<void>;
  private hello: { resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(
    readonly socket: net.Socket,
    readonly url: string,
    slabs: ReadSlabs,
  ) {
    this.sys = this.makeSys(false);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    slabs.sink = (chunk: Uint8Array) => {
      try {
        this.reader.push(chunk);
      } catch (e) {
        this.fail(`protocol error from the server at ${url}: ${(e as Error).message}`);
      }
    };
    socket.on('error', (e: Error) => this.fail(`connection to ${url} failed: ${e.message}`));
    socket.on('close', () => this.fail(`connection to ${url} closed`));
  }

  get pending(): number {
    return this.calls.size;
  }

  private makeSys(face: boolean): RemoteSys {
    const sys: Record<string, unknown> = {};
    for (const name of SYSCALL_NAMES) {
      sys[name] = (...args: unknown[]) => this.call(name, args, face);
    }
    // poll(2) fills in the caller's array; the server filled in a copy.
    sys['poll'] = async (fds: PollFd[], timeoutMs?: number) => {
      const answered = (await this.call('poll', [fds, timeoutMs], face)) as unknown as PollFd[];
      if (Array.isArray(fds) && Array.isArray(answered)) {
        for (let i = 0; i < fds.length && i < answered.length; i++) fds[i]!.revents = answered[i]!.revents;
        return fds;
      }
      return answered;
    };
    return sys as unknown as RemoteSys;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.hello = { resolve, reject };
      this.socket.write(encodeClientHello(PROTOCOL_VERSION, { comm: programName() }));
    });
  }

  frame(type: number, id: number, payload: Uint8Array): void {
    if (this.hello !== null) {
      this.helloFrame(type, id, payload);
      return;
    }
    if (type === FRAME_RESULT || type === FRAME_ERROR) {
      if (id === CONNECTION_ID && type === FRAME_ERROR) {
        this.fail(this.connectionError(payload));
        return;
      }
      const p = this.calls.get(id);
      if (p === undefined) return; // an answer to nothing we asked: ignore it
      let v: Value;
      try {
        // A small answer gets bytes of its own (a copy: the payload may be a Buffer, whose slice() is
        // a view): what a program keeps of it must not pin a read slab.
        v = decode(payload.length < SLAB_VIEW_MIN ? new Uint8Array(payload) : payload);
      } catch (e) {
        this.fail(`undecodable ${frameTypeName(type)} from the server at ${this.url}: ${(e as Error).message}`);
        return;
      }
      this.calls.delete(id);
      if (type === FRAME_RESULT) p.resolve(v);
      else p.reject(errnoFromPayload(v, p.method));
      return;
    }
    if (type === FRAME_CLOSE) {
      this.socket.end();
      this.fail(`the server at ${this.url} closed the connection`);
      return;
    }
    this.fail(`unexpected ${frameTypeName(type)} frame from the server at ${this.url}`);
  }

  /**
   * A frame that came in pieces: a recvwait's answer, a lone bytes value,
   * is resolved with the pieces themselves (views of the reads), not a
   * copy joined from them; anything else is joined and goes to frame().
   */
  framePieces(type: number, id: number, pieces: Uint8Array[], length: number): boolean {
    if (this.hello !== null || type !== FRAME_RESULT) return false;
    const p = this.calls.get(id);
    const first = pieces[0]!;
    if (p === undefined || p.method !== RECVWAIT_METHOD || first.length < 5 || first[0] !== TAG_BYTES) return false;
    const n = (first[1]! | (first[2]! << 8) | (first[3]! << 16) | (first[4]! << 24)) >>> 0;
    // Not exactly one bytes value: the decoder judges it (and fails the connection).
    if (n !== length - 5) return false;
    if (first.length === 5) pieces.shift();
    else pieces[0] = first.subarray(5);
    this.calls.delete(id);
    p.resolve(pieces);
    return true;
  }

  private connectionError(payload: Uint8Array): string {
    try {
      return errnoFromPayload(decode(payload), 'hello').message;
    } catch {
      return 'the server refused the connection';
    }
  }

  private helloFrame(type: number, id: number, payload: Uint8Array): void {
    const h = this.hello!;
    this.hello = null;
    try {
      if (type === FRAME_ERROR && id === CONNECTION_ID) throw new ProtocolError(this.connectionError(payload));
      if (type !== FRAME_HELLO) throw new ProtocolError(`the server answered HELLO with ${frameTypeName(type)}`);
      const { version, banner } = parseServerHello(payload);
      if (version !== PROTOCOL_VERSION) {
        throw new ProtocolError(`the server speaks sysproxy protocol version ${version}, not ${PROTOCOL_VERSION}`);
      }
      this.banner = banner;
      h.resolve();
    } catch (e) {
      const msg = `${this.url}: ${(e as Error).message}`;
      this.fail(msg);
      h.reject(new Error(msg));
    }
  }

  /** The connection is unusable: reject everything in flight, hang up. */
  private fail(reason: string): void {
    if (this.hello !== null) {
      const h = this.hello;
      this.hello = null;
      h.reject(new Error(reason));
    }
    if (this.lost === null) this.lost = reason;
    this.reader.stop();
    if (this.calls.size > 0) {
      const calls = [...this.calls.values()];
      this.calls.clear();
      for (const p of calls) p.reject(this.lostErrno(p.method, p.face));
    }
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.destroy();
  }

  /** What a call fails with once the connection is gone. */
  private lostErrno(method: string, face: boolean): Errno {
    const errno = !face ? ENOTCONN : SEND_CALLS.has(method) ? EPIPE : ECONNRESET;
    return new Errno(errno, method, this.lost ?? undefined);
  }

  call(method: string, args: unknown[], face = false): Promise<Value> {
    if (this.lost !== null) return Promise.reject(this.lostErrno(method, face));
    const dataArg = DATA_ARG[method];
    if (dataArg !== undefined) {
      const data = args[dataArg];
      // One frame per call: a stream write larger than a frame goes out
      // short, as write(2) may; the caller sees the count and sends the rest.
      if (data instanceof Uint8Array && data.length > MAX_IO) args[dataArg] = data.subarray(0, MAX_IO);
    }
    const id = this.nextId;
    this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    let frame: Buffer;
    let tail: Uint8Array | null = null;
    try {
      const data = args[1];
      if (method === SENDALL_METHOD && args.length === 2 && data instanceof Uint8Array && data.length >= TAIL_BYTES_MIN) {
        // The data goes out as the caller gave it, after its header: no copy into a frame.
        frame = encodeFrameHead(FRAME_CALL, id, (b) => [method, [args[0], b]], data);
        tail = data;
      } else {
        frame = encodeFrame(FRAME_CALL, id, [method, args]);
      }
    } catch (e) {
      if (e instanceof FrameTooLargeError) return Promise.reject(new Errno(EMSGSIZE, method, 'arguments too large for one frame'));
      return Promise.reject(new TypeError(`${method}: cannot send arguments: ${(e as Error).message}`));
    }
    return new Promise<Value>((resolve, reject) => {
      this.calls.set(id, { method, face, resolve, reject });
      // Calls made in the same turn leave in one writev.
      if (!this.corked) {
        this.corked = true;
        this.socket.cork();
        process.nextTick(uncork, this);
      }
      this.socket.write(frame);
      if (tail !== null) this.socket.write(tail);
    });
  }

  async halt(opts: HaltOptions = {}): Promise<void> {
    await this.call(HALT_METHOD, [{ exit: opts.exit !== false }]);
  }

  async close(): Promise<void> {
    if (this.lost === null) {
      // Sockets of the faces close as destroy() closes them, before the connection goes.
      for (const h of [...this.handles]) closeHandle(h);
      this.lost = 'the client closed the connection';
      if (!this.socket.destroyed) {
        this.socket.write(encodeEmptyFrame(FRAME_CLOSE, CONNECTION_ID));
        this.socket.end();
      }
      this.fail(this.lost);
    }
    await this.closed;
  }
}

/** What the client needs of an open handle of its Node faces (net/node/handle.ts FdHandle). */
type OpenHandle = NonNullable<HandleEnv['handles']> extends Set<infer H> ? H : never;

/** Close a handle the way its owner would: a net.Socket is destroyed, a Server or dgram socket closed. */
function closeHandle(h: OpenHandle): void {
  const owner = h.owner as { destroy?: () => void; close?: () => void } | null;
  try {
    if (owner !== null && typeof owner.destroy === 'function') owner.destroy();
    else if (owner !== null && typeof owner.close === 'function') owner.close();
    else h.close();
  } catch {
    // Already closing (a dgram socket's close() throws then): its handle closes anyway.
    h.close();
  }
}

/**
 * This program's name, as getprogname(3) gives it: the script's file name
 * without its directory and extension (`rump.sockstat`, `app`), or the
 * executable's.
 */
function programName(): string {
  const script = process.argv[1];
  const base = (script !== undefined && script !== '' ? script : process.argv0).replace(/^.*[\\/]/, '');
  const name = base.replace(/\.(?:[cm]?js|[cm]?ts)$/, '');
  return name !== '' ? name : 'node';
}

export interface RumpClientOptions {
  /**
   * Milliseconds to wait for the connection and the server's HELLO before
   * giving up with ETIMEDOUT (default 10,000): a server that accepts and
   * never answers, a process stopped in a debugger, something that is not a
   * rump server and says nothing. Calls after HELLO have no time limit (a
   * recvfrom may wait for ever, as it does in process).
   */
  timeout?: number;
}

/** How long rumpClient waits for the connection and the server's HELLO by default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Connect to the rump server at `url` (default: the RUMP_SERVER environment
 * variable) and say HELLO. Rejects with an Error when RUMP_SERVER is not set
 * or the URL is bad, with an Errno when the connection fails (ENOENT for a
 * missing unix socket, ECONNREFUSED) or the server does not answer in time
 * (ETIMEDOUT), and with an Error when the other end does not speak this
 * protocol.
 */
export async function rumpClient(url?: string, opts: RumpClientOptions = {}): Promise<RumpClient> {
  const spec = url ?? process.env['RUMP_SERVER'];
  if (spec === undefined || spec === '') throw new Error('RUMP_SERVER is not set');
  const addr = parseRumpUrl(spec);
  if (addr.kind === 'tcp' && addr.port === 0) throw new Error(`bad rump server URL "${spec}": port 0`);
  const ms = opts.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!(ms > 0)) throw new RangeError(`rumpClient: timeout must be a positive number of milliseconds, not ${ms}`);
  const where = formatRumpUrl(addr);
  const host = createNodeHost();
  let socket: net.Socket | null = null;
  let timer: ReturnType<typeof host.armTimer> | null = null;
  const timedOut = new Promise<never>((_, reject) => {
    timer = host.armTimer(host.now() + ms, () => {
      socket?.destroy();
      reject(new Errno(ETIMEDOUT, 'connect', `${where}: the server did not answer within ${ms} ms`));
    });
  });
  const open = async (): Promise<Client> => {
    const slabs = new ReadSlabs();
    socket = await connectTo(addr, where, slabs, (s) => (socket = s));
    socket.setNoDelay(true);
    setStreamBuffers(socket, CONNECTION_BUFFER);
    const client = new Client(socket, where, slabs);
    await client.start();
    return client;
  };
  try {
    return await Promise.race([open(), timedOut]);
  } finally {
    host.cancelTimer(timer!);
  }
}

/** A read slab's size, and the least room a read is given (less left: the next slab). */
const READ_SLAB = 1 << 20;
const READ_ROOM_MIN = 64 << 10;
/** Answers smaller than this are copied out of the slab before they are decoded. */
const SLAB_VIEW_MIN = 64 << 10;

/**
 * Where the connection's reads land (net's `onread`): one slab of
 * READ_SLAB bytes after another, each read into what is left of the
 * current one. One read can take a recvwait answer of 256 KiB whole (where
 * Node's own reads stop at 64 KiB), in one system call and one callback,
 * and the answer's bytes are handed up as a view of the slab: no buffer
 * allocated per read, no copy. Answers under SLAB_VIEW_MIN are copied out
 * (Client.frame), so a small piece a program keeps never pins a slab;
 * what is handed up as a view is at least 1/16 of the slab it pins.
 */
class ReadSlabs {
  private slab = Buffer.allocUnsafeSlow(READ_SLAB);
  private fill = 0;
  /** Where the bytes go (the client's frame reader), once there is a client. */
  sink: ((chunk: Uint8Array) => void) | null = null;
  /** The next read's buffer (called by net after each read). */
  readonly buffer = (): Buffer => {
    if (READ_SLAB - this.fill < READ_ROOM_MIN) {
      this.slab = Buffer.allocUnsafeSlow(READ_SLAB);
      this.fill = 0;
    }
    return this.slab.subarray(this.fill);
  };
  /** `n` bytes were read to the start of `buf`, the last buffer handed out; true: go on reading. */
  readonly callback = (n: number, buf: Buffer): boolean => {
    this.fill += n;
    this.sink?.(buf.subarray(0, n));
    return true;
  };
}

function connectTo(addr: ReturnType<typeof parseRumpUrl>, where: string, slabs: ReadSlabs, started: (s: net.Socket) => void): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const onread = { buffer: slabs.buffer, callback: slabs.callback };
    const s = addr.kind === 'unix' ? net.connect({ path: addr.path, onread }) : net.connect({ host: addr.host, port: addr.port, onread });
    started(s);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.destroy();
      const n = e.code !== undefined ? errnoByName(e.code) : undefined;
      reject(n !== undefined ? new Errno(n, 'connect', where) : e);
    });
  });
}
