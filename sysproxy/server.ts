/*
 * The server side of sysproxy: what rump_server runs. It listens on a unix
 * socket or a loopback TCP port and lets each client make system calls on
 * one kernel.
 *
 * Each connection is a process of the rump kernel, as in NetBSD's rumpuser_sp:
 * it gets its own descriptor table (a `Sys` of its own), so two clients both
 * see their first socket as fd 3, and when a client goes away its descriptors
 * are closed the way a process's are at exit.
 *
 *   accept -> Connection: HELLO check -> CALL -> dispatch -> Sys method -> RESULT | ERROR
 *
 * Calls run concurrently: a recvfrom that waits for a datagram does not hold
 * up the sendto behind it, and replies go out as calls finish, matched by
 * request id.
 *
 * A client that breaks the protocol (garbage, an oversized length, a bad
 * version, a CALL before HELLO, an undecodable payload) is disconnected; the
 * server and its other clients carry on.
 */
import net from 'node:net';
import { lstatSync, unlinkSync, chmodSync } from 'node:fs';
import { Sys } from '../kern/sys.js';
import { OSTYPE, RUMP_VERSION, type Kernel } from '../kern/kernel.js';
import { Errno, EADDRINUSE, EBADF, EINVAL, EMSGSIZE, ENOBUFS, ENOSYS, EPROTONOSUPPORT, ESHUTDOWN, EIO, errnoByName } from '../kern/errno.js';
import { ProtocolError, decode, type Value } from './codec.js';
import {
  BYTES_FRAME_HEAD, CONNECTION_ID, writeBytesFrameHead, FRAME_CALL, FRAME_CLOSE, FRAME_ERROR, FRAME_HELLO, FRAME_RESULT, FrameReader, FrameTooLargeError,
  ACCEPTWAIT_METHOD, FEATURE_ACCEPT, FEATURE_DGRAM, RECVFROMWAIT_METHOD, FEATURE_STREAM, HALT_METHOD, TAIL_BYTES_MIN, CONNECTION_BUFFER, encodeFrameHead, encodeFrameHeadLength, MAX_IO, PROTOCOL_VERSION, RECVWAIT_METHOD, SENDALL_METHOD, encodeEmptyFrame, encodeFrame, encodeServerHello, errorPayload,
  frameTypeName, isSyscallName, parseClientHello, type Banner, type FrameSink,
} from './protocol.js';
import { formatRumpUrl, parseRumpUrl, type RumpUrl } from './url.js';
import { InputQueue, acceptWait, recvWait, recvfromWait, sendAll, type InputSink } from './stream.js';
import { Socket } from '../net/socket.js';
import { setStreamBuffers } from '../hypercall/node.js';
import type { KFile, RecvResult } from '../kern/sys.js';

export interface RumpServerOptions {
  /**
   * Called after a client's `halt` has halted the kernel, been answered and
   * the server has closed (rump_server exits here). Not called for
   * `halt({ exit: false })` (rump.halt -h).
   */
  onHalt?: () => void;
  /**
   * The most calls one client may have in flight (default 1,048,576):
   * beyond it a call is answered ENOBUFS at once.
   */
  maxCallsInFlight?: number;
}

export interface RumpServer {
  /** Where it listens: an absolute `unix://` path, or `tcp://host:port` with the real port. */
  readonly url: string;
  /** Connected clients. */
  readonly clients: number;
  /** Stop listening, disconnect every client (closing its descriptors), remove the unix socket. */
  close(): Promise<void>;
}

/** Unix socket mode: the socket is the kernel's front door (rump_sp(7)), so only its owner may open it. */
export const SOCKET_MODE = 0o600;

/** How long a closing connection may take to flush before it is cut (host milliseconds). */
const CLOSE_FLUSH_MS = 2000;

const enum ConnState {
  HELLO,
  READY,
  CLOSED,
}

/**
 * The most sendall data the server holds for one descriptor, and for one
 * connection, waiting for room in send buffers: beyond it sendall fails with
 * ENOBUFS, so a client that ignores its window cannot grow the server's
 * memory. Four times the window our client keeps per socket (net/node/handle.ts).
 */
const SENDALL_HELD_PER_FD = 4 << 20;
const SENDALL_HELD_PER_CONN = 64 << 20;

/** Per descriptor, the last sendall and the last call that waits for input: each kind runs in call order. */
interface StreamTails {
  /** The file the queue belongs to: calls queued on it never act on a later socket with its number. */
  file: KFile;
  send: Promise<unknown>;
  /** recvwait, recvfromwait or acceptwait: one of them, by the socket's kind. */
  recv: Promise<unknown>;
  /** sendall bytes of this descriptor held now. */
  held: number;
  /** Input calls queued and not answered: at most INPUT_CALLS_PER_FD. */
  waiting: number;
  /** recvwait and recvfromwait on a socket of the kernel: queued without a promise each. */
  inputs: InputQueue | null;
}

/**
 * The most input calls (recvwait, recvfromwait, acceptwait) one descriptor
 * may have queued in the server: our client keeps 2 to 64; beyond it a call
 * is answered ENOBUFS at once, so a peer cannot queue calls without bound.
 */
const INPUT_CALLS_PER_FD = 256;

/**
 * The most calls of one connection in flight at once (waiting in the kernel
 * or queued): beyond it a call is answered ENOBUFS at once. Room for a
 * client holding 100,000 connections, each with its reads waiting, and a
 * bound on what a peer flooding calls that never finish can make us keep.
 */
const CALLS_IN_FLIGHT_MAX = 1 << 20;

/** Methods Connection.stream runs, with the feature that offers each. */
const STREAM_METHODS: ReadonlySet<string> = new Set([SENDALL_METHOD, RECVWAIT_METHOD, ACCEPTWAIT_METHOD, RECVFROMWAIT_METHOD]);

/**
 * Answers a connection may have queued in the server (beyond what its
 * socket buffer took) before the server stops reading its calls. A client
 * keeps up to 1 MiB of recvwait answers per stream socket coming; past
 * Node's default of 16 KiB nearly every answer would stop the reading, and
 * the client's next recvwaits, which keep the stream's window open, would
 * wait in the socket until every queued answer was written.
 */
const ANSWERS_QUEUED = 2 << 20;

/** Longest method name quoted back in an error or a log line. */
const NAME_QUOTE_MAX = 64;

function quoteName(name: string): string {
  return name.length > NAME_QUOTE_MAX ? `${name.slice(0, NAME_QUOTE_MAX)}...` : name;
}

function identity<T>(x: T): T {
  return x;
}

/** A recvwait answer's head in the answer ring: a bytes frame's (protocol.ts). */
const ANSWER_HEAD = BYTES_FRAME_HEAD;

/**
 * The answer ring of a connection: 4 MiB, room for a busy stream's reads
 * in flight (two of 1 MiB, net/node/handle.ts; answered with what the
 * socket holds, about half that on a busy stream), made when its first
 * recvwait is answered.
 */
const ANSWER_RING = 4 << 20;

/**
 * Where a connection builds its recvwait answers: the socket's bytes are
 * copied straight in behind their frame's head, and the answer is written
 * from there, so the kernel's clusters go back to its pool at once instead
 * of being lent to the write (a fresh cluster per segment for the next
 * packets, and garbage for the collector). An answer's room is reused once
 * the host has taken its write; answers are written in order, so the room
 * is freed in order too.
 */
class AnswerRing {
  readonly buf = Buffer.allocUnsafeSlow(ANSWER_RING);
  /** Where the next answer goes. */
  private head = 0;
  /** Where each answer being written starts, oldest first. */
  private readonly starts: number[] = [];

  /** The offset of room for `size` bytes, or -1. */
  room(size: number): number {
    const n = this.starts.length;
    if (n === 0) return size <= ANSWER_RING ? (this.head = 0) : -1;
    const tail = this.starts[0]!;
    if (this.head >= tail) {
      if (this.head + size <= ANSWER_RING) return this.head;
      // Wrap: what is left at the end stays unused this time round.
      return size < tail ? (this.head = 0) : -1;
    }
    return this.head + size < tail ? this.head : -1;
  }

  /** `size` bytes at `at` (from room()) are being written. */
  commit(at: number, size: number): void {
    this.starts.push(at);
    this.head = at + size;
  }

  /** The oldest answer's write is done. */
  release(): void {
    this.starts.shift();
  }
}

function uncork(c: Connection): void {
  c.corked = false;
  c.socket.uncork();
}

class Connection implements FrameSink, InputSink {
  readonly sys: Sys;
  state = ConnState.HELLO;
  corked = false;
  /** Resolves once the socket is gone and the descriptors are closed. */
  readonly gone: Promise<void>;
  private readonly reader = new FrameReader(this);
  private markGone!: () => void;
  private readonly tails = new Map<number, StreamTails>();
  /** sendall bytes held for this connection. */
  private held = 0;
  /** Calls started and not answered (CALLS_IN_FLIGHT_MAX). */
  inflight = 0;
  /** Where recvwait answers are built (made with the first one). */
  private ring: AnswerRing | null = null;
  /** Where the room answerRoom gave starts. */
  private roomAt = 0;
  readonly answerAt = ANSWER_HEAD;
  private readonly answerWritten = (): void => this.ring!.release();
  /** The kernel's softint queue, for the InputQueues' deferred answers. */
  private readonly defer: <T>(fn: (arg: T) => void, arg: T) => void;

  constructor(
    private readonly server: Server,
    readonly socket: net.Socket,
    readonly serial: number,
  ) {
    // A process of the rump kernel's own for this client; its name comes with HELLO.
    this.sys = new Sys(server.kernel, server.kernel.allocPid(), 'rumpclient');
    const host = server.kernel.host;
    this.defer = (fn, arg) => host.defer(fn, arg);
    setStreamBuffers(socket, CONNECTION_BUFFER);
    this.gone = new Promise((resolve) => {
      this.markGone = resolve;
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => socket.resume());
    socket.on('error', (e: Error) => this.server.log(`client ${this.serial}: ${e.message}`));
    socket.on('close', () => this.onClose());
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (e) {
      this.abort(e instanceof ProtocolError ? e.message : `internal error: ${(e as Error).message}`);
    }
  }

  private onClose(): void {
    this.state = ConnState.CLOSED;
    this.reader.stop();
    this.server.forget(this);
    // Like a process exiting: every descriptor it left open is closed.
    this.sys
      .closeAll()
      .catch((e: unknown) => this.server.log(`client ${this.serial}: closing descriptors: ${(e as Error).message}`))
      .finally(() => this.markGone());
  }

  frame(type: number, id: number, payload: Uint8Array): void {
    if (this.state === ConnState.HELLO) {
      this.hello(type, payload);
      return;
    }
    switch (type) {
      case FRAME_CALL: {
        let v: Value;
        try {
          v = decode(payload);
        } catch (e) {
          this.abort(`undecodable CALL: ${(e as Error).message}`);
          return;
        }
        if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !Array.isArray(v[1])) {
          this.abort('CALL payload is not [method, args]');
          return;
        }
        if (id === CONNECTION_ID) {
          this.abort('CALL with request id 0');
          return;
        }
        void this.server.dispatch(this, id, v[0], v[1]);
        return;
      }
      case FRAME_CLOSE:
        this.finish();
        return;
      default:
        this.abort(`unexpected ${frameTypeName(type)} frame from a client`);
    }
  }

  private hello(type: number, payload: Uint8Array): void {
    if (type !== FRAME_HELLO) {
      this.abort(`${frameTypeName(type)} frame before HELLO`);
      return;
    }
    let version: number;
    try {
      const hello = parseClientHello(payload);
      version = hello.version;
      if (hello.info !== null) this.sys.comm = hello.info.comm;
    } catch (e) {
      this.abort((e as Error).message);
      return;
    }
    if (version !== PROTOCOL_VERSION) {
      // Say why before hanging up, so the client can tell its user.
      const msg = `unsupported sysproxy protocol version ${version} (this server speaks ${PROTOCOL_VERSION})`;
      this.sendError(CONNECTION_ID, 'hello', new Errno(EPROTONOSUPPORT, 'hello', msg));
      this.server.log(`client ${this.serial}: ${msg}; disconnecting`);
      this.finish();
      return;
    }
    this.state = ConnState.READY;
    this.send(encodeServerHello(this.server.banner()));
  }

  /**
   * sendall, recvwait, recvfromwait or acceptwait (stream.ts), queued behind
   * the descriptor's earlier calls of the same kind, so that several in
   * flight keep their order.
   */
  stream(method: string, args: Value[]): Promise<Value> {
    const fd = args[0];
    const arg = args[1];
    if (typeof fd !== 'number') return Promise.reject(new Errno(EBADF, method));
    const send = method === SENDALL_METHOD;
    const accept = method === ACCEPTWAIT_METHOD;
    if (send ? !(arg instanceof Uint8Array) : !accept && typeof arg !== 'number') {
      return Promise.reject(new Errno(EINVAL, method, `${method}: bad arguments`));
    }
    let tails: StreamTails;
    try {
      tails = this.tailsOf(fd, method);
    } catch (e) {
      return Promise.reject(e);
    }
    const file = tails.file;
    if (!send) {
      if (tails.waiting >= INPUT_CALLS_PER_FD) {
        return Promise.reject(new Errno(ENOBUFS, method, `${method}: more calls waiting on one descriptor than the server keeps`));
      }
      tails.waiting++;
      const sys = this.sys;
      const len = Math.min(arg as number, MAX_IO);
      const p = tails.recv.then((): Promise<Value> => {
        if (accept) return acceptWait(sys, fd, file) as unknown as Promise<Value>;
        if (method === RECVWAIT_METHOD) return recvWait(sys, fd, len, file);
        return recvfromWait(sys, fd, len, file) as unknown as Promise<Value>;
      }).finally(() => tails.waiting--);
      tails.recv = p.catch(() => undefined);
      return p;
    }
    const data = arg as Uint8Array;
    if (tails.held + data.length > SENDALL_HELD_PER_FD || this.held + data.length > SENDALL_HELD_PER_CONN) {
      return Promise.reject(new Errno(ENOBUFS, method, `${method}: more unsent data than the server holds for a client`));
    }
    tails.held += data.length;
    this.held += data.length;
    const release = (): void => {
      tails.held -= data.length;
      this.held -= data.length;
    };
    const p = tails.send.then(() => sendAll(this.sys, fd, data, file)).finally(release);
    tails.send = p.catch(() => undefined);
    return p;
  }

  get closed(): boolean {
    return this.state === ConnState.CLOSED;
  }

  /**
   * recvwait or recvfromwait on a socket of the kernel, queued on its
   * InputQueue and answered from there (no promise per call). False when
   * the descriptor is some other file: stream() then runs it.
   */
  input(id: number, method: string, args: Value[]): boolean {
    const fd = args[0];
    const len = args[1];
    if (typeof fd !== 'number') throw new Errno(EBADF, method);
    if (typeof len !== 'number') throw new Errno(EINVAL, method, `${method}: bad arguments`);
    const t = this.tailsOf(fd, method);
    if (!Number.isInteger(len) || len <= 0) throw new Errno(EINVAL, method);
    if (!(t.file instanceof Socket)) return false;
    const q = (t.inputs ??= new InputQueue(this.sys, fd, t.file, this, this.defer));
    if (q.length >= INPUT_CALLS_PER_FD) {
      throw new Errno(ENOBUFS, method, `${method}: more calls waiting on one descriptor than the server keeps`);
    }
    this.inflight++;
    q.push(id, method, Math.min(len, MAX_IO));
    return true;
  }

  inputDone(id: number, method: string, result: Uint8Array | Uint8Array[] | RecvResult): void {
    this.inflight--;
    if (Array.isArray(result)) this.sendPieces(id, result);
    else this.sendResult(id, method, result);
  }

  /** A RESULT whose value is one bytes value made of `pieces`: its header, then each piece as it lies (one writev under the cork). */
  private sendPieces(id: number, pieces: Uint8Array[]): void {
    let n = 0;
    for (let i = 0; i < pieces.length; i++) n += pieces[i]!.length;
    // At most MAX_IO bytes were gathered: the frame fits.
    this.send(encodeFrameHeadLength(FRAME_RESULT, id, identity, n));
    for (let i = 0; i < pieces.length; i++) this.send(pieces[i]!);
  }

  answerRoom(len: number): Uint8Array | null {
    if (this.state === ConnState.CLOSED) return null;
    const ring = (this.ring ??= new AnswerRing());
    const at = ring.room(ANSWER_HEAD + len);
    if (at < 0) return null;
    this.roomAt = at;
    // The caller copies to answerAt: hand out the room as a view starting there.
    return at === 0 ? ring.buf : ring.buf.subarray(at);
  }

  answerSend(id: number, n: number): void {
    this.inflight--;
    const ring = this.ring!;
    const at = this.roomAt;
    const b = ring.buf;
    writeBytesFrameHead(b, at, FRAME_RESULT, id, n);
    if (this.state === ConnState.CLOSED || this.socket.destroyed || this.socket.writableEnded) return;
    ring.commit(at, ANSWER_HEAD + n);
    this.cork();
    // Its room is freed when the host has taken the write.
    if (!this.socket.write(b.subarray(at, at + ANSWER_HEAD + n), this.answerWritten)) this.socket.pause();
  }

  inputFailed(id: number, method: string, e: Errno): void {
    this.inflight--;
    this.sendError(id, method, e);
  }

  /** The queues of descriptor `fd`, made for an open descriptor only (a peer cannot grow the map with numbers). */
  private tailsOf(fd: number, method: string): StreamTails {
    let t = this.tails.get(fd);
    if (t === undefined) {
      let file: KFile;
      try {
        file = this.sys.file(fd);
      } catch (e) {
        throw e instanceof Errno ? new Errno(e.errno, method) : e;
      }
      t = { file, send: Promise.resolve(), recv: Promise.resolve(), held: 0, waiting: 0, inputs: null };
      this.tails.set(fd, t);
    }
    return t;
  }

  /** The descriptor is being closed: later stream calls on its number start a fresh queue. */
  forgetStreams(fd: Value): void {
    if (typeof fd === 'number') this.tails.delete(fd);
  }

  private cork(): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(uncork, this);
    }
  }

  send(buf: Uint8Array): void {
    if (this.state === ConnState.CLOSED || this.socket.destroyed || this.socket.writableEnded) return;
    // Replies finished in the same turn go out in one writev.
    this.cork();
    if (!this.socket.write(buf)) {
      // A client that does not read its replies stops being read from
      // until it catches up, instead of growing our write queue without bound.
      this.socket.pause();
    }
  }

  sendResult(id: number, method: string, result: unknown): void {
    if (result instanceof Uint8Array && result.length >= TAIL_BYTES_MIN && result.length <= MAX_IO) {
      // Read data goes out as it came from the kernel, after its header: no copy into a frame.
      this.send(encodeFrameHead(FRAME_RESULT, id, (b) => b, result));
      this.send(result);
      return;
    }
    let frame: Buffer;
    try {
      frame = encodeFrame(FRAME_RESULT, id, result);
    } catch (e) {
      const errno = e instanceof FrameTooLargeError ? EMSGSIZE : EIO;
      this.server.log(`client ${this.serial}: ${method}: cannot send result: ${(e as Error).message}`);
      this.sendError(id, method, new Errno(errno, method, `cannot send result: ${(e as Error).message}`));
      return;
    }
    this.send(frame);
  }

  sendError(id: number, method: string, e: unknown): void {
    if (!(e instanceof Errno)) this.server.log(`client ${this.serial}: ${method}: ${(e as Error)?.message ?? String(e)}`);
    this.send(encodeFrame(FRAME_ERROR, id, errorPayload(e, method)));
  }

  /** Break the connection for a protocol violation: one log line, no reply. */
  abort(reason: string): void {
    if (this.state === ConnState.CLOSED) return;
    this.server.log(`client ${this.serial}: ${reason}; disconnecting`);
    this.state = ConnState.CLOSED;
    this.reader.stop();
    this.socket.destroy();
  }

  /** Hang up politely: CLOSE, then FIN once everything queued is written. */
  finish(): void {
    if (this.state === ConnState.CLOSED) return;
    this.send(encodeEmptyFrame(FRAME_CLOSE, CONNECTION_ID));
    this.state = ConnState.CLOSED;
    this.reader.stop();
    const socket = this.socket;
    socket.end(() => socket.destroy());
    if (socket.destroyed) return;
    // A peer that never reads would keep the flush, and close(), waiting forever.
    const host = this.server.kernel.host;
    const t = host.armTimer(host.now() + CLOSE_FLUSH_MS, () => socket.destroy());
    socket.once('close', () => host.cancelTimer(t));
  }
}

class Server implements RumpServer {
  url: string;
  private readonly conns = new Set<Connection>();
  private listener: net.Server | null = null;
  private listenerClosed: Promise<void> = Promise.resolve();
  private serial = 0;
  private closing: Promise<void> | null = null;
  private halting: Promise<void> | null = null;

  constructor(
    readonly kernel: Kernel,
    private readonly addr: RumpUrl,
    private readonly opts: RumpServerOptions,
  ) {
    this.url = formatRumpUrl(addr);
  }

  get clients(): number {
    return this.conns.size;
  }

  log(msg: string): void {
    this.kernel.verbose(`rump_server: ${msg}`);
  }

  banner(): Banner {
    return {
      version: RUMP_VERSION, ostype: OSTYPE, hostname: this.kernel.hostname, pid: this.kernel.host.pid(), features: [FEATURE_STREAM, FEATURE_ACCEPT, FEATURE_DGRAM],
    };
  }

  forget(c: Connection): void {
    this.conns.delete(c);
  }

  private accept(socket: net.Socket): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    this.conns.add(new Connection(this, socket, ++this.serial));
  }

  async dispatch(conn: Connection, id: number, method: string, args: Value[]): Promise<void> {
    conn.inflight++;
    try {
      if (conn.inflight > (this.opts.maxCallsInFlight ?? CALLS_IN_FLIGHT_MAX)) {
        throw new Errno(ENOBUFS, quoteName(method), 'more calls in flight than the server keeps for a client');
      }
      if (method === HALT_METHOD) {
        await this.halt(conn, id, args[0]);
        return;
      }
      if (STREAM_METHODS.has(method)) {
        if (this.kernel.halted) throw new Errno(ESHUTDOWN, method, 'the rump kernel has halted');
        // Queued and answered by the descriptor's InputQueue.
        if ((method === RECVWAIT_METHOD || method === RECVFROMWAIT_METHOD) && conn.input(id, method, args)) return;
        conn.sendResult(id, method, await conn.stream(method, args));
        return;
      }
      if (!isSyscallName(method)) {
        throw new Errno(ENOSYS, quoteName(method), `no system call "${quoteName(method)}"`);
      }
      if (this.kernel.halted) throw new Errno(ESHUTDOWN, method, 'the rump kernel has halted');
      if ((method === 'read' || method === 'recv' || method === 'recvfrom') && typeof args[1] === 'number' && args[1] > MAX_IO) {
        // A read may be short; a result must fit one frame.
        args[1] = MAX_IO;
      }
      if (method === 'close') conn.forgetStreams(args[0]!);
      const fn = conn.sys[method] as (...a: unknown[]) => Promise<unknown>;
      const result = await fn.apply(conn.sys, args);
      conn.sendResult(id, method, result);
    } catch (e) {
      try {
        conn.sendError(id, method, e);
      } catch (e2) {
        // Not even the error fits a frame: nothing sensible is left to say.
        conn.abort(`${quoteName(method)}: cannot send the error: ${(e2 as Error).message}`);
      }
    } finally {
      conn.inflight--;
    }
  }

  /**
   * rump.halt: close every client's descriptors, halt the kernel, stop
   * listening and remove the socket, and only then answer, so that when
   * rump.halt returns the socket is already gone. Then disconnect everyone
   * and let the host exit (onHalt).
   */
  private async halt(conn: Connection, id: number, arg: Value): Promise<void> {
    const exit = !(arg !== null && typeof arg === 'object' && !Array.isArray(arg) && (arg as Record<string, Value>)['exit'] === false);
    if (this.halting === null) {
      this.halting = (async () => {
        this.log(`halt requested by client ${conn.serial}`);
        await Promise.all([...this.conns].map((c) => c.sys.closeAll()));
        await this.kernel.halt();
      })();
    }
    await this.halting;
    if (!exit) {
      conn.sendResult(id, HALT_METHOD, null);
      return;
    }
    this.stopListening();
    conn.sendResult(id, HALT_METHOD, null);
    await this.close();
    this.opts.onHalt?.();
  }

  listen(): Promise<void> {
    return this.addr.kind === 'unix' ? this.listenUnix(this.addr.path, true) : this.listenTcp(this.addr.host, this.addr.port);
  }

  private newListener(): net.Server {
    const s = net.createServer({ noDelay: true, highWaterMark: ANSWERS_QUEUED }, (socket) => this.accept(socket));
    s.on('error', (e) => this.log(`listener: ${e.message}`));
    return s;
  }

  private bindError(e: NodeJS.ErrnoException, detail: string): Error {
    const n = e.code !== undefined ? errnoByName(e.code) : undefined;
    return n !== undefined ? new Errno(n, 'bind', detail) : e;
  }

  private listenTcp(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = this.newListener();
      s.once('error', (e: NodeJS.ErrnoException) => reject(this.bindError(e, this.url)));
      s.listen({ host, port, exclusive: true }, () => {
        this.listener = s;
        const a = s.address() as net.AddressInfo;
        this.url = formatRumpUrl({ kind: 'tcp', host, port: a.port });
        resolve();
      });
    });
  }

  private listenUnix(path: string, mayReclaim: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const s = this.newListener();
      s.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE' && mayReclaim) {
          this.reclaim(path).then(() => this.listenUnix(path, false).then(resolve, reject), reject);
        } else {
          reject(this.bindError(e, this.url));
        }
      });
      s.once('listening', () => {
        // The umask below already made it 0700; 0600 is the conventional mode.
        // This runs before the first accept, so nobody got in in between.
        try {
          chmodSync(path, SOCKET_MODE);
        } catch (e) {
          s.close();
          reject(this.bindError(e as NodeJS.ErrnoException, this.url));
          return;
        }
        this.listener = s;
        resolve();
      });
      // bind(2) happens inside listen(); with umask 077 the socket is never
      // reachable by others, not even for the moment before chmod.
      let oldMask: number | null = null;
      try {
        oldMask = process.umask(0o077);
      } catch {
        // worker threads cannot change the umask; chmod alone closes the gap.
      }
      try {
        s.listen(path);
      } finally {
        if (oldMask !== null) process.umask(oldMask);
      }
    });
  }

  /**
   * A socket file is in the way. If a server answers on it, it is live and
   * ours must not start; if nothing does, it was left by a server that died
   * and is removed. Anything that is not a socket is never removed.
   */
  private reclaim(path: string): Promise<void> {
    let isSocket = false;
    try {
      isSocket = lstatSync(path).isSocket();
    } catch {
      return Promise.resolve(); // gone meanwhile: just try again
    }
    if (!isSocket) {
      return Promise.reject(new Errno(EADDRINUSE, 'bind', `${this.url}: the path exists and is not a socket`));
    }
    return new Promise((resolve, reject) => {
      const probe = net.connect(path);
      probe.once('connect', () => {
        probe.destroy();
        reject(new Errno(EADDRINUSE, 'bind', `${this.url}: a rump server is already listening there`));
      });
      probe.once('error', (e: NodeJS.ErrnoException) => {
        probe.destroy();
        if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') {
          try {
            unlinkSync(path);
          } catch {
            // someone else removed it first
          }
          this.log(`removed stale socket ${path}`);
          resolve();
        } else {
          reject(this.bindError(e, this.url));
        }
      });
    });
  }

  /** Stop accepting and remove the socket file (idempotent). */
  private stopListening(): void {
    const s = this.listener;
    if (s === null) return;
    this.listener = null;
    // Calls back once the connections it accepted have ended too (close() ends them).
    this.listenerClosed = new Promise<void>((resolve) => s.close(() => resolve()));
    if (this.addr.kind === 'unix') {
      // libuv removes the socket when the handle closes; make sure of it.
      try {
        unlinkSync(this.addr.path);
      } catch {
        // already gone
      }
    }
  }

  close(): Promise<void> {
    if (this.closing === null) {
      this.closing = (async () => {
        this.stopListening();
        const conns = [...this.conns];
        for (const c of conns) c.finish();
        await Promise.all(conns.map((c) => c.gone));
        await this.listenerClosed;
      })();
    }
    return this.closing;
  }
}

/**
 * Serve `kernel` on `url` (rump_sp(7)). Resolves once it listens; rejects
 * with an Errno (EADDRINUSE when a live server already has the socket,
 * EACCES, ...) or an Error for a bad URL.
 */
export async function startRumpServer(kernel: Kernel, url: string, opts: RumpServerOptions = {}): Promise<RumpServer> {
  const server = new Server(kernel, parseRumpUrl(url), opts);
  await server.listen();
  return server;
}
