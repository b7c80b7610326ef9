/*
 * Handles with the shape of Node's TCPWrap and UDPWrap, over a rump
 * kernel's system calls: the boundary between the Node-compatible faces
 * (net.ts, dgram.ts) and the BSD face (`sys`), as Node's net.js sits on its
 * C++ handles and Deno re-implements that contract in TypeScript.
 *
 *   net.Socket ── TcpHandle ─┐                       in-process: Sys + the socket's
 *   net.Server ── TcpServerHandle ── FdHandle ── sys ─ SelInfo (no poll round trip)
 *   dgram.Socket ─ UdpHandle ─┘                       remote: RemoteSys, sys.poll
 *
 * Every descriptor is O_NONBLOCK, as libuv keeps its sockets: a read that
 * finds nothing fails with EAGAIN and the handle waits for readiness, so a
 * stream that stops reading leaves the data in the kernel's receive buffer
 * and TCP's advertised window closes (backpressure reaches the peer). A
 * connect answers EINPROGRESS, then POLLOUT and SO_ERROR say how it went.
 *
 * The shape follows Node's handles: `readStart`/`readStop` and `onread`,
 * write requests completed through `oncomplete`, `shutdown`, `close(cb)`,
 * `getsockname(out)`, `ref`/`unref`. Failures are negative numbers as in
 * Node, but NetBSD's (errors.ts): -61 is ECONNREFUSED. Where Node's handle
 * call is synchronous and ours must ask the kernel (socket, bind, listen,
 * connect), the call takes a completion instead.
 *
 * Wake-ups from the kernel (SelInfo.notify) arrive inside the kernel's own
 * packet processing; handles defer their work to a microtask so that user
 * code never runs on the kernel's stack.
 */
import { Buffer } from 'node:buffer';
import { executionAsyncId } from 'node:async_hooks';
import {
  AF_INET, AF_INET6, AF_UNSPEC, F_SETFL, MSG_DONTWAIT, O_NONBLOCK, SHUT_WR, SOCK_DGRAM, SOCK_STREAM, Sys,
  type KFile, type RecvResult, type Sockaddr, type SockoptValue,
} from '../../kern/sys.js';
import { POLLIN, POLLOUT } from '../../kern/select.js';
import { EAGAIN, EBADF, ECONNABORTED, ECONNRESET, EINPROGRESS, EINVAL, ENOTCONN, ESHUTDOWN, Errno } from '../../kern/errno.js';
import {
  SOL_SOCKET, SO_BROADCAST, SO_ERROR, SO_KEEPALIVE, SO_LINGER, SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF,
  SS_CANTSENDMORE, SS_ISCONNECTED, SS_ISCONNECTING, Socket,
} from '../socket.js';
import { ECANCELED, UV_EOF, haltedStatus, isHaltedStatus, nodeErrno, statusOf } from './errors.js';
import { parseInAddr } from '../wire/inaddr.js';
import type { Kernel } from '../../kern/kernel.js';

/* Protocol levels and options (netinet/in.h, netinet/tcp.h); net/inet is a layer above us. */
const IPPROTO_IP = 0;
const IPPROTO_TCP = 6;
const IP_TTL = 4;
const IP_MULTICAST_TTL = 10;
const IP_MULTICAST_LOOP = 11;
const IP_MULTICAST_IF = 9;
const IP_ADD_MEMBERSHIP = 12;
const IP_DROP_MEMBERSHIP = 13;
const IPPROTO_IPV6 = 41;
const IPV6_MULTICAST_IF = 9;
const IPV6_UNICAST_HOPS = 4;
const IPV6_MULTICAST_HOPS = 10;
const IPV6_MULTICAST_LOOP = 11;
const IPV6_JOIN_GROUP = 12;
const IPV6_LEAVE_GROUP = 13;
const TCP_NODELAY = 1;
const TCP_KEEPIDLE = 3;
const IPV6_V6ONLY = 27;

/** What one read asks for: libuv reads into 64 KiB buffers too. */
const READ_SIZE = 65536;
/**
 * In process a read costs no round trip, only the copy: take up to this
 * much of what is queued at once, so a large receive buffer reaches the
 * reader in a few large chunks rather than many 64 KiB ones.
 */
const LOCAL_READ_SIZE = 256 * 1024;
/** The largest datagram we take in one receive (IPv4's limit, rounded up). */
const DGRAM_SIZE = 65536;
/** recvfromwaits a remote UDP socket keeps waiting in its server (the `dgram` feature). */
const DGRAMS_AHEAD = 4;
/** After an accept failure other than EAGAIN (EMFILE...), wait this long before trying again. */
const ACCEPT_BACKOFF_MS = 100;
/**
 * acceptwaits a remote listener keeps waiting in its server (the `accept`
 * feature): a burst of connections is taken without a round trip each.
 */
const ACCEPTS_AHEAD = 32;

/** The system calls the handles use: a kernel's `Sys` or a sysproxy `RemoteSys`. */
export type SysLike = Pick<
  Sys,
  | 'socket' | 'bind' | 'listen' | 'accept' | 'connect' | 'shutdown' | 'close' | 'recv' | 'recvfrom' | 'send'
  | 'sendto' | 'setsockopt' | 'getsockopt' | 'getsockname' | 'getpeername' | 'fcntl' | 'poll'
>;

/** A re-armable one-shot timer on the kernel's clock (a callout). */
export interface HandleTimer {
  reset(ms: number): void;
  stop(): boolean;
}

/** One answer of dns.lookup with `all: true`. */
export interface LookupAddress {
  address: string;
  family: number;
}

/**
 * dns.lookup's shape: `cb(null, '192.0.2.1', 4)`; asked with `all: true`
 * it answers every address instead (LookupAllFunction, autoSelectFamily).
 */
export type LookupFunction = (
  hostname: string,
  options: { family?: number; hints?: number; all?: boolean },
  cb: (err: Error | null, address: string, family: number) => void,
) => void;

/** A LookupFunction called with `all: true`: `cb(null, [{ address: '2001:db8::1', family: 6 }, ...])`. */
export type LookupAllFunction = (
  hostname: string,
  options: { family?: number; hints?: number; all: true },
  cb: (err: Error | null, addresses: LookupAddress[]) => void,
) => void;

/** Where handles get their kernel, clock and keep-alive. */
export interface HandleEnv {
  readonly sys: SysLike;
  /** A timer on the kernel's clock: `fn` runs each time it fires. */
  timer(fn: () => void): HandleTimer;
  /** Run `fn(arg)` on a later turn (a softint), as libuv runs close callbacks. */
  defer<T>(fn: (arg: T) => void, arg: T): void;
  /** Keep the process alive until the returned function is called. */
  hold(): () => void;
  /**
   * Name resolution for host names that are not address literals
   * (dns.lookup's shape). Absent: only literals and `localhost` resolve;
   * the kernel has no resolver of its own.
   */
  readonly lookup?: LookupFunction;
  /** Whether the kernel has halted (its handles then stop, with 'kernel halted'). */
  halted?(): boolean;
  /**
   * Whether the kernel has IPv6 (net_netinet6), when that is known without
   * asking it (in process). Absent: try, and fall back on EAFNOSUPPORT.
   */
  readonly inet6?: boolean;
  /**
   * A remote kernel's stream calls (sysproxy's `stream` feature): TCP
   * writes and reads pipelined, several in flight, instead of a round trip
   * per send and a poll per read. Absent in process and on older servers.
   */
  readonly streams?: StreamCalls;
  /** Where open handles register (a remote client, so that closing it closes them). */
  readonly handles?: Set<{ owner: unknown; close(): void }>;
  /** Why the kernel is out of reach (a server that went away), for error messages; undefined while it is not. */
  lost?(): string | undefined;
}

/** sysproxy's stream calls (sysproxy/PROTOCOL.md). */
export interface StreamCalls {
  /** Resolves once every byte is in the send buffer of `fd`, in call order. */
  sendall(fd: number, data: Uint8Array): Promise<number>;
  /**
   * Resolves with data as soon as `fd` has some (empty at EOF), in call
   * order: one array, or the pieces it came in across the connection.
   */
  recvwait(fd: number, len: number): Promise<Uint8Array | Uint8Array[]>;
  /**
   * The `accept` feature: the next connection on listening `fd`, its
   * descriptor already non-blocking, with its names; several wait at once.
   */
  acceptwait?(fd: number): Promise<{ fd: number; sockname: Sockaddr; peername: Sockaddr | null }>;
  /** The `dgram` feature: the next datagram on `fd` with its source, in call order. */
  recvfromwait?(fd: number, len: number): Promise<RecvResult>;
}

/*
 * Remote stream windows: a write goes out in pieces of STREAM_PIECE with at
 * most STREAM_WINDOW bytes unanswered (the server holds them until the send
 * buffer has room; it refuses more than 4 MiB per socket), and STREAM_READS
 * reads of STREAM_READ_SIZE wait in the server at once, so data flows both
 * ways without a round trip per call and nothing is sent twice.
 */
const STREAM_PIECE = 64 << 10;
const STREAM_WINDOW = 1 << 20;
/** 1 MiB: answers of half that on a busy TAP stream, half the calls and answers (and the wake-ups of both processes) of 256 KiB reads. */
const STREAM_READ_SIZE = 1 << 20;
const STREAM_READS = 2;
/**
 * Reads kept waiting once a read came back full (the socket had more):
 * a busy stream must not drain both reads before the program's next ones
 * reach the server (the window would close meanwhile); an idle socket, of
 * which a server may hold 100,000, keeps two.
 */
const STREAM_READS_BUSY = 4;
/** Chunks of a writev shorter than this are copied together into one sendall. */
const STREAM_GATHER = 16 << 10;
/**
 * The socket buffers of a remote TCP socket. In process the kernel's
 * receive buffer is drained in the same turn that fills it; remotely the
 * data waits for a recvwait to come back across the unix socket and the
 * program's process to be scheduled, and a 32 KiB window (NetBSD's default
 * recvspace) stalls the sender meanwhile. The send buffer grows with it:
 * a send buffer smaller than lo0's MSS and half the peer's window never
 * holds a segment that the sender's silly window avoidance lets go while
 * data is in flight (RFC 1122 4.2.3.4), and the stream crawls on timers.
 * Set before SYN (on the listener, whose accepted sockets inherit them),
 * so the window scale covers them.
 */
const STREAM_BUFFER = 1 << 20;

/** What a recvwait brings: bytes (in one array or the pieces they crossed the connection in; empty at EOF) or a failure status. */
type StreamRead = Uint8Array | Uint8Array[] | number;

/** Bytes in what a recvwait brought. */
function streamBytes(x: Uint8Array | Uint8Array[]): number {
  if (!Array.isArray(x)) return x.length;
  let n = 0;
  for (let i = 0; i < x.length; i++) n += x[i]!.length;
  return n;
}

/** What StreamState's completions call back into (TcpHandle). */
interface StreamOwner {
  streamArrived(x: StreamRead): void;
  streamWrote(n: number): void;
  streamWriteFailed(e: unknown): void;
  recvDone(data: Uint8Array): void;
  recvFailed(e: unknown): void;
}

/** The completions of a remote recv on a server without the `stream` feature. */
class RecvCompletions {
  readonly onData: (data: Uint8Array) => void;
  readonly onError: (e: unknown) => void;
  constructor(h: StreamOwner) {
    this.onData = (data) => h.recvDone(data);
    this.onError = (e) => h.recvFailed(e);
  }
}

/**
 * A TcpHandle's pipelined remote I/O, made when first used, with the
 * completions of its calls: in-process handles carry none of it.
 */
class StreamState {
  readonly onData: (data: Uint8Array | Uint8Array[]) => void;
  readonly onReadError: (e: unknown) => void;
  readonly onWrote: (n: number) => void;
  readonly onWriteError: (e: unknown) => void;
  constructor(h: StreamOwner) {
    this.onData = (data) => h.streamArrived(data);
    this.onReadError = (e) => h.streamArrived(statusOf(e));
    this.onWrote = (n) => h.streamWrote(n);
    this.onWriteError = (e) => h.streamWriteFailed(e);
  }

  /** sendall bytes sent and not answered. */
  inflight = 0;
  /** Answered bytes of the handle's first write request. */
  acked = 0;
  /** Index in the handle's `writes` of the first request not wholly sent. */
  next = 0;
  /** A sendall failed: nothing more goes out. */
  writeFailed = false;
  /** recvwaits in flight, and how many to keep (STREAM_READS, STREAM_READS_BUSY once a read came back full). */
  reads = 0;
  readsWanted = STREAM_READS;
  /** EOF or an error came back: no more recvwaits. */
  readDone = false;
  /** What came back while reading was stopped: data, EOF (empty), a failure status. */
  held: StreamRead[] = [];
  /** recv's completions, against a server without the `stream` feature. */
  recv: RecvCompletions | undefined = undefined;
}

/** The environment of an in-process kernel: its sys, callouts, softints and host. */
export function kernelHandleEnv(k: Kernel): HandleEnv {
  return {
    sys: k.sys,
    halted: () => k.halted,
    inet6: k.domains.has(AF_INET6),
    timer: (fn) => k.callouts.create(fn, null),
    defer: (fn, arg) => k.host.defer(fn, arg),
    hold: () => k.host.hold(),
  };
}

/** getsockname/getpeername as Node reports them. */
export interface AddressInfo {
  address: string;
  family: string;
  port: number;
}

const noop = (): void => {};

/** The write queue of every TcpHandle that never queued a write: always empty, never pushed to. */
const NO_WRITES: WriteReq[] = [];

function fillAddress(out: Partial<AddressInfo>, sa: Sockaddr): void {
  out.address = sa.addr;
  out.family = sa.family === AF_INET6 ? 'IPv6' : 'IPv4';
  out.port = sa.port;
}

/** `::ffff:a.b.c.d` (any case, any spelling of the zeros the kernel parses): an IPv4 peer for an IPv6 socket. */
export function isV4MappedText(s: string): boolean {
  return /^[0:]*:ffff:\d+\.\d+\.\d+\.\d+$/i.test(s);
}

function sockaddr(address: string, port: number): Sockaddr {
  return { family: isIPv6(address) ? AF_INET6 : AF_INET, addr: address, port };
}

/** A strict dotted quad (what the kernel's sockaddr accepts). */
export function isIPv4(s: string): boolean {
  return parseInAddr(s) !== null;
}

/** An IPv6 literal, loosely: the kernel checks it properly. */
export function isIPv6(s: string): boolean {
  return /^[0-9a-fA-F:.]*:[0-9a-fA-F:.%a-zA-Z]*$/.test(s) && s.includes(':');
}

/** 4, 6 or 0, as node:net's isIP. */
export function isIP(s: string): number {
  return isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0;
}

/**
 * Resolve `host` for a socket of `family` (4 or 6): literals as they are,
 * `localhost` to the loopback address, anything else through the
 * environment's lookup. Answers on a later tick, as dns.lookup does.
 */
export function lookupHost(
  env: HandleEnv,
  host: string,
  family: number,
  cb: (err: Error | null, address: string, family: number) => void,
): void {
  const literal = isIP(host);
  if (literal !== 0) {
    process.nextTick(cb, null, host, literal);
    return;
  }
  if (host === 'localhost' || host === 'localhost.') {
    process.nextTick(cb, null, family === 6 ? '::1' : '127.0.0.1', family === 6 ? 6 : 4);
    return;
  }
  if (env.lookup) {
    env.lookup(host, { family: family === 6 ? 6 : 4 }, cb);
    return;
  }
  const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
    errno: nodeErrno('EAI_NONAME'),
    code: 'ENOTFOUND',
    syscall: 'getaddrinfo',
    hostname: host,
  });
  process.nextTick(cb, err, '', 0);
}

/**
 * A stream write: `oncomplete(status)` once the kernel took every byte, or
 * failed. When the kernel took it all at once (`async` false after writev
 * returned), oncomplete is not called: the caller completes it, as Node's
 * stream code does after a synchronous libuv write.
 */
export class WriteReq {
  /** Bytes in the request. */
  bytes = 0;
  /** False when writev finished the request before returning. */
  async = true;
  /** @internal */ chunks: Uint8Array[] = [];
  /** @internal */ index = 0;
  /** @internal */ offset = 0;
  constructor(public oncomplete: (status: number) => void) {}
}

/** A stream shutdown (FIN after what was written). */
export class ShutdownReq {
  constructor(public oncomplete: (status: number) => void) {}
}

/** An outgoing connection: `oncomplete(status, handle, req, readable, writable)`. */
export class ConnectReq {
  /** The call that failed, when one did: `connect`, or `bind` for a local address. */
  syscall = 'connect';
  localAddress: string | undefined = undefined;
  localPort: number | undefined = undefined;
  constructor(
    public oncomplete: (status: number, handle: TcpHandle, req: ConnectReq, readable: boolean, writable: boolean) => void,
    readonly address: string,
    readonly port: number,
  ) {}
}

/** A datagram send: `oncomplete(status, sent)`. */
export class SendReq {
  constructor(public oncomplete: (status: number, sent: number) => void) {}
}

/*
 * A handle's yes/no state, one bit each in `bits` behind accessors of the
 * same names (an idle server holds many thousands of handles: one number,
 * not a field per flag).
 */
const H_CLOSED = 0x1;
const H_REFD = 0x2;
const H_HELD = 0x4;
const H_SELARMED = 0x8;
const H_READPOLL = 0x10;
const H_WRITEPOLL = 0x20;
const H_CLOSING = 0x40;
const H_WANTREAD = 0x80;
const H_READBUSY = 0x100;
const H_EOF = 0x200;
const H_WRITEBUSY = 0x400;
const H_CONNECTING = 0x800;

/** Handle fields that are null until set, kept in the handle's `x` array from slot `first` on. */
function rareAccessors(proto: object, names: readonly string[], first: number): void {
  for (let i = 0; i < names.length; i++) {
    const at = first + i;
    Object.defineProperty(proto, names[i]!, {
      get(this: { x: unknown[] | null }): unknown {
        const x = this.x;
        return x === null ? null : (x[at] ?? null);
      },
      set(this: { x: unknown[] | null }, v: unknown): void {
        let x = this.x;
        if (x === null) {
          if (v === null) return;
          x = this.x = [null, null, null, null, null, null];
        }
        x[at] = v;
      },
    });
  }
}

function bitAccessors(proto: object, bits: Record<string, number>): void {
  for (const [name, bit] of Object.entries(bits)) {
    Object.defineProperty(proto, name, {
      get(this: { bits: number }): boolean {
        return (this.bits & bit) !== 0;
      },
      set(this: { bits: number }, on: boolean): void {
        this.bits = on ? this.bits | bit : this.bits & ~bit;
      },
    });
  }
}

/**
 * What every handle shares: a descriptor, readiness waits (SelInfo in
 * process, sys.poll remotely), the process hold, ref/unref and close.
 */
abstract class FdHandle {
  fd = -1;
  /** The kernel file behind `fd` when the kernel is in this process (the fast path). */
  protected file: KFile | null = null;
  /** The flags below and TcpHandle's (H_*). */
  protected bits = H_REFD;
  protected declare closed: boolean;
  /** connect, write, shutdown, bind, send requests in flight: they keep the process alive even when unref'd, as libuv's active requests do. */
  protected pendingReqs = 0;
  private declare refd: boolean;
  /** This handle counts in its environment's process hold. */
  private declare held: boolean;
  private declare selArmed: boolean;
  private declare readPollPending: boolean;
  private declare writePollPending: boolean;
  private declare closeCb: (() => void) | null;
  /**
   * Fields null on an idle in-process handle (closeCb here; TcpHandle's
   * shutdown request and remote names): an array made when one is first
   * set, behind accessors (rareAccessors), so an idle handle keeps one
   * slot for them, not one each.
   */
  protected x: unknown[] | null = null;
  private declare closing: boolean;
  /** Who owns the handle (the Socket or Server), as Node's `handle[owner_symbol]`. */
  owner: unknown = null;
  /** The async context the handle was made in: Node's http asks handles for one (keep-alive). */
  private readonly asyncId = smallId(executionAsyncId());
  /** What the handles of `env` share: the wake-up batch and the process hold. */
  private readonly shared: EnvShared;

  /** AF_INET, or AF_INET6 for udp6 sockets and IPv6 peers (the kernel says whether it has IPv6). */
  constructor(
    readonly env: HandleEnv,
    readonly family: number = AF_INET,
  ) {
    this.shared = envShared(env);
    env.handles?.add(this);
  }

  /** Why the kernel is out of reach, when it is: what Node's error message adds after the code. */
  lostDetail(): string | undefined {
    return this.env.lost?.();
  }

  /** Work to redo when the descriptor may have become ready. */
  protected abstract ready(): void;
  /** Whether the handle is doing something that keeps a ref'd process alive (reading, listening). */
  protected abstract get active(): boolean;
  /** Requests cut short by close get ECANCELED here, before the close callback. */
  protected abstract cancelRequests(): void;
  /**
   * The kernel halted under the handle (its descriptor is gone): report it
   * and do nothing more. The owner closes the handle in answer, so this runs once.
   */
  protected abstract kernelHalted(): void;

  /**
   * Readiness woke the handle: do its work, unless the wake-up was the
   * kernel halting (halt closes every file, which wakes its waiters).
   */
  protected wake(): void {
    if (this.bits & H_CLOSED) return;
    if (this.env.halted?.() === true) {
      this.kernelHalted();
      return;
    }
    this.ready();
  }

  /**
   * The kernel's SelInfo fired (the handle itself is the waiter, so an idle
   * handle carries no closure for it): defer the work off the kernel's
   * stack, to a microtask.
   */
  selwakeup(): void {
    this.bits &= ~H_SELARMED;
    this.shared.queueWake(this);
  }

  /** @internal The deferred wake-up (EnvShared's microtask). */
  wakeNow(): void {
    this.wake();
  }

  // Methods, not per-handle closures: an idle server holds many thousands of handles.
  private onReadPoll(): void {
    this.readPollPending = false;
    this.wake();
  }

  private onWritePoll(): void {
    this.writePollPending = false;
    this.wake();
  }

  /** Take a descriptor (from socket() or accept()). */
  protected attach(fd: number): void {
    this.fd = fd;
    const sys = this.env.sys;
    if (sys instanceof Sys) {
      try {
        this.file = sys.file(fd);
      } catch {
        this.file = null;
      }
    }
  }

  /**
   * In process, socket(2) and O_NONBLOCK at once, with no promise (a
   * client makes one per connection); false when the kernel is remote and
   * the caller awaits `open` instead. Throws what socket(2) fails with.
   */
  protected openNow(type: number): boolean {
    const sys = this.env.sys;
    if (!(sys instanceof Sys)) return false;
    if (this.fd < 0) {
      this.attach(sys.socketNow(this.family, type, 0));
      if (this.file) this.file.fflags |= O_NONBLOCK;
    }
    return true;
  }

  /** socket(2) and O_NONBLOCK; a handle closed meanwhile closes the new descriptor again. */
  protected async open(type: number): Promise<void> {
    if (this.fd >= 0) return;
    const sys = this.env.sys;
    const fd = await sys.socket(this.family, type, 0);
    if (this.closed) {
      sys.close(fd).catch(noop);
      throw new Errno(ECANCELED);
    }
    this.attach(fd);
    if (this.file) this.file.fflags |= O_NONBLOCK;
    else await sys.fcntl(fd, F_SETFL, O_NONBLOCK);
  }

  /**
   * IPV6_V6ONLY on an AF_INET6 socket before bind, as libuv sets it on
   * every IPv6 bind (on only with UV_TCP_IPV6ONLY / UV_UDP_IPV6ONLY): off,
   * a socket on :: takes IPv4 too, as Node's do on Linux whatever the
   * kernel's net.inet6.ip6.v6only.
   */
  protected async setV6Only(on: boolean): Promise<void> {
    if (this.family === AF_INET6) await this.env.sys.setsockopt(this.fd, IPPROTO_IPV6, IPV6_V6ONLY, on ? 1 : 0);
  }

  /** Wait for `events` (POLLIN or POLLOUT) and call `ready()` once they might hold. */
  protected wait(events: number): void {
    if (this.bits & H_CLOSED || this.fd < 0) return;
    if (this.file) {
      if (this.bits & H_SELARMED) return;
      this.bits |= H_SELARMED;
      this.file.sel.add(this);
      return;
    }
    if (events & POLLIN) {
      if (this.readPollPending) return;
      this.readPollPending = true;
      const done = (): void => this.onReadPoll();
      this.env.sys.poll([{ fd: this.fd, events: POLLIN }], -1).then(done, done);
    } else {
      if (this.writePollPending) return;
      this.writePollPending = true;
      const done = (): void => this.onWritePoll();
      this.env.sys.poll([{ fd: this.fd, events: POLLOUT }], -1).then(done, done);
    }
  }

  /** Resolve once `events` hold (or the handle closed): for connect, which happens once per handle. */
  protected async waitFor(events: number): Promise<void> {
    const f = this.file;
    if (f) {
      while (!this.closed && f.poll(events) === 0) await new Promise<void>((resolve) => f.sel.wait(resolve));
      return;
    }
    await this.env.sys.poll([{ fd: this.fd, events }], -1);
  }

  /** setsockopt: in process synchronously, with the kernel's answer; remotely in order, answer dropped. */
  protected setopt(level: number, name: number, value: SockoptValue): number {
    if (this.closed || this.fd < 0) return -EBADF;
    if (this.file) {
      try {
        this.file.setsockopt(level, name, value);
        return 0;
      } catch (e) {
        return statusOf(e);
      }
    }
    this.env.sys.setsockopt(this.fd, level, name, value).catch(noop);
    return 0;
  }

  /** A remote TCP socket's buffers (STREAM_BUFFER), before SYN. */
  protected remoteBuffers(): void {
    this.setopt(SOL_SOCKET, SO_RCVBUF, STREAM_BUFFER);
    this.setopt(SOL_SOCKET, SO_SNDBUF, STREAM_BUFFER);
  }

  /** Take the process hold when active and ref'd, or while requests are in flight. */
  protected updateHold(): void {
    // A closing handle keeps the process alive until its close callback has run, as in libuv.
    const bits = this.bits;
    // Requests in flight first: they decide it without asking the subclass's `active`.
    const want = (bits & H_CLOSING) !== 0 || ((bits & H_CLOSED) === 0 && (this.pendingReqs > 0 || ((bits & H_REFD) !== 0 && this.active)));
    if (want && !(bits & H_HELD)) {
      this.bits = bits | H_HELD;
      this.shared.hold();
    } else if (!want && bits & H_HELD) {
      this.bits = bits & ~H_HELD;
      this.shared.unhold();
    }
  }

  protected reqStarted(): void {
    this.pendingReqs++;
    this.updateHold();
  }

  protected reqDone(): void {
    this.pendingReqs--;
    this.updateHold();
  }

  ref(): void {
    this.refd = true;
    this.updateHold();
  }

  unref(): void {
    this.refd = false;
    this.updateHold();
  }

  hasRef(): boolean {
    return this.refd;
  }

  getAsyncId(): number {
    return this.asyncId;
  }

  /** Whether `close` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Close the descriptor now; `cb` runs on a later turn, after requests in
   * flight were completed with ECANCELED (libuv's order).
   */
  close(cb?: () => void): void {
    const bits = this.bits;
    if (bits & H_CLOSED) return;
    this.bits = bits | H_CLOSED | H_CLOSING;
    this.updateHold();
    if (cb !== undefined) this.closeCb = cb;
    if (bits & H_SELARMED) {
      this.file?.sel.remove(this);
      this.bits &= ~H_SELARMED;
    }
    const fd = this.fd;
    const sys = this.env.sys;
    this.fd = -1;
    this.file = null;
    if (fd >= 0 && sys instanceof Sys) {
      // In process the descriptor goes at once; only a lingering close waits.
      let lingering: void | Promise<void> = undefined;
      try {
        lingering = sys.closeNow(fd);
      } catch {
        // Already gone with the halted kernel: nothing left to close.
      }
      if (lingering instanceof Promise) lingering.then(() => this.deferFinish(), () => this.deferFinish());
      else this.deferFinish();
      return;
    }
    if (fd >= 0) sys.close(fd).then(() => this.deferFinish(), () => this.deferFinish());
    else this.deferFinish();
  }

  /** The close callback runs on a later turn (a softint), as libuv runs close callbacks. */
  private deferFinish(): void {
    this.env.defer(finishClose, this);
  }

  /** @internal */
  finishClose(): void {
    this.cancelRequests();
    this.pendingReqs = 0;
    const cb = this.closeCb;
    if (cb !== null) {
      this.closeCb = null;
      cb();
    }
    this.bits &= ~H_CLOSING;
    this.updateHold();
    this.env.handles?.delete(this);
  }
}

/** An in-process socket's own or peer name, null when it has none (ENOTCONN). */
function nameOf(f: KFile, peer: boolean): Sockaddr | null {
  try {
    return peer ? f.getpeername() : f.getsockname();
  } catch {
    return null;
  }
}

function finishClose(h: FdHandle): void {
  h.finishClose();
}

bitAccessors(FdHandle.prototype, {
  closed: H_CLOSED, refd: H_REFD, held: H_HELD, selArmed: H_SELARMED,
  readPollPending: H_READPOLL, writePollPending: H_WRITEPOLL, closing: H_CLOSING,
});
rareAccessors(FdHandle.prototype, ['closeCb'], 0);

/** An async id as a small integer when it is one: Node hands them out as doubles, which a field would box. */
function smallId(id: number): number {
  return id >= 0 && id <= 0x3fffffff ? id | 0 : id;
}

/**
 * What every handle of one environment (one kernel, one remote client)
 * shares instead of carrying it, since an idle server holds many thousands
 * of handles: the wake-ups waiting for their microtask (one microtask a
 * batch, no closure per handle) and one process hold taken while any
 * handle wants the process kept alive.
 */
class EnvShared {
  private wakes: FdHandle[] = [];
  private spare: FdHandle[] = [];
  private scheduled = false;
  private holds = 0;
  private release: (() => void) | null = null;

  constructor(private readonly env: HandleEnv) {}

  queueWake(h: FdHandle): void {
    this.wakes.push(h);
    if (this.scheduled) return;
    this.scheduled = true;
    // A reaction on a resolved promise, not queueMicrotask, which makes an
    // AsyncResource and a bound function for every batch (the node host's
    // softints do the same). `drain` throws nothing: it reports each
    // handle's exception on a microtask of its own.
    void RESOLVED.then(this.drain);
  }

  /** Wake the handles queued so far; wake-ups queued meanwhile get a microtask of their own, as before. */
  private readonly drain = (): void => {
    const q = this.wakes;
    this.wakes = this.spare;
    this.scheduled = false;
    for (let i = 0; i < q.length; i++) {
      try {
        q[i]!.wakeNow();
      } catch (e) {
        // As a throwing microtask would: reported, and the rest still run.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    q.length = 0;
    this.spare = q;
  };

  hold(): void {
    if (this.holds++ === 0) this.release = this.env.hold();
  }

  unhold(): void {
    if (--this.holds !== 0) return;
    const r = this.release;
    this.release = null;
    r?.();
  }
}

/** shutdownDone on a microtask of a promise: what it throws is reported as a throwing queueMicrotask callback's would be, not as a rejection. */
function reportThrow(h: TcpHandle, req: ShutdownReq, status: number): void {
  try {
    h.shutdownDone(req, status);
  } catch (e) {
    queueMicrotask(() => {
      throw e;
    });
  }
}

function isNull(v: unknown): boolean {
  return v === null;
}

/** Settled once: `then` on it queues a microtask with no allocation beyond the reaction. */
const RESOLVED: Promise<void> = Promise.resolve();

const envShares = new WeakMap<HandleEnv, EnvShared>();

function envShared(env: HandleEnv): EnvShared {
  let s = envShares.get(env);
  if (s === undefined) {
    s = new EnvShared(env);
    envShares.set(env, s);
  }
  return s;
}

/** A TCP connection: Node's TCPWrap (stream side). */
export class TcpHandle extends FdHandle {
  /** Node's net.js keeps this flag: set before readStart, cleared before readStop. */
  reading = false;
  /** Data (`nread` > 0 bytes in `buf`), UV_EOF, or a failure (-errno). */
  onread: (nread: number, buf?: Buffer) => void = noop;
  bytesRead = 0;
  bytesWritten = 0;
  /** Bytes handed to writes and not yet taken by the kernel. */
  writeQueueSize = 0;
  private declare wantRead: boolean;
  private declare readBusy: boolean;
  private declare eof: boolean;
  private declare writeBusy: boolean;
  /** Writes queued; a handle gets its own queue at its first write the kernel did not take at once. */
  private writes: WriteReq[] = NO_WRITES;
  private declare shutdownReq: ShutdownReq | null;
  /**
   * The names of a remote socket, fetched once connected. In process the
   * kernel is asked each time instead (as libuv asks its kernel), so an
   * idle connection keeps no copies; the face caches what it was told.
   */
  private declare sockname: Sockaddr | null;
  private declare peername: Sockaddr | null;

  protected get active(): boolean {
    return (this.bits & (H_WANTREAD | H_EOF)) === H_WANTREAD;
  }

  protected ready(): void {
    if (this.bits & H_CONNECTING) {
      this.connectReady();
      return;
    }
    this.pumpRead();
    this.pumpWrite();
  }

  /**
   * Connect to `req.address:req.port` (binding `req.localAddress`/`localPort`
   * first when given). Completes through `req.oncomplete`, unless the handle
   * was closed meanwhile.
   */
  connect(req: ConnectReq): number {
    if (this.bits & H_CLOSED) return -EBADF;
    this.reqStarted();
    if (this.connectLocal(req)) return 0;
    this.doConnect(req).then(
      () => this.connected(req, 0),
      // A connect the halt woke (in process it sleeps in the socket) failed because the kernel went.
      (e) => this.connected(req, this.env.halted?.() === true ? haltedStatus(ENOTCONN) : statusOf(e)),
    );
    return 0;
  }

  /** The connect under way in connectLocal (a rare field: idle handles keep none). */
  private declare connectReq: ConnectReq | null;

  /**
   * In process, a plain connect (no local address, an IPv4 socket or a
   * peer that is no v4-mapped address) with no promise: socket(2), then a
   * non-blocking connect; the handle waits on the socket's SelInfo as for
   * readiness, and `ready` finishes it (connectReady). A client makes one
   * per connection: this saves the sleeping connect's promises and its hold.
   * False when doConnect's steps are needed.
   */
  private connectLocal(req: ConnectReq): boolean {
    if (req.localAddress !== undefined || req.localPort !== undefined || this.env.streams !== undefined) return false;
    if (this.family === AF_INET6 && isV4MappedText(req.address)) return false;
    let r: number;
    try {
      if (!this.openNow(SOCK_STREAM)) return false;
      const f = this.file;
      if (!(f instanceof Socket)) return false;
      r = f.connectNow(sockaddr(req.address, req.port));
    } catch (e) {
      r = this.env.halted?.() === true ? haltedStatus(ENOTCONN) : statusOf(e);
    }
    if (r === -EINPROGRESS) {
      this.bits |= H_CONNECTING;
      this.connectReq = req;
      this.wait(POLLOUT);
      return true;
    }
    // Decided at once (a failure, mostly): answered on a later microtask, as a kernel call's answer would be.
    void RESOLVED.then(() => this.connected(req, r));
    return true;
  }

  /** Woken while connecting: the handshake is decided once SS_ISCONNECTING clears or an error is pending (as a sleeping connect wakes). */
  private connectReady(): void {
    const f = this.file as Socket;
    if (f.state & SS_ISCONNECTING && f.error === 0) {
      this.wait(POLLOUT);
      return;
    }
    const req = this.takeConnectReq();
    const e = f.takeError();
    this.connected(req, e !== 0 ? -e : f.state & SS_ISCONNECTED ? 0 : -ENOTCONN);
  }

  private takeConnectReq(): ConnectReq {
    const req = this.connectReq!;
    this.bits &= ~H_CONNECTING;
    this.connectReq = null;
    // The rare fields' array goes again when nothing else is in it: an idle connection keeps none.
    const x = this.x;
    if (x !== null && x.every(isNull)) this.x = null;
    return req;
  }

  private async doConnect(req: ConnectReq): Promise<void> {
    const sys = this.env.sys;
    if (!this.openNow(SOCK_STREAM)) await this.open(SOCK_STREAM);
    const bind = req.localAddress !== undefined || req.localPort !== undefined;
    // A bound or v4-mapped IPv6 connection is dual-stack, as Linux's default makes it.
    if (bind || isV4MappedText(req.address)) await this.setV6Only(false);
    if (this.env.streams !== undefined) this.remoteBuffers();
    if (bind) {
      req.syscall = 'bind';
      await sys.bind(this.fd, sockaddr(req.localAddress ?? '0.0.0.0', req.localPort ?? 0));
      req.syscall = 'connect';
    }
    const f = this.file;
    if (f instanceof Socket) {
      // In process, connect as a blocking socket does (sleep until it is
      // decided, then so_error), without an EINPROGRESS thrown and caught
      // per connection; every other call the handle makes says MSG_DONTWAIT.
      f.fflags &= ~O_NONBLOCK;
      try {
        await f.connect(sockaddr(req.address, req.port));
      } finally {
        f.fflags |= O_NONBLOCK;
      }
      if (this.closed) throw new Errno(ECANCELED);
      // A connect the halt woke is no connection: getpeername's ENOTCONN fails it.
      f.getpeername();
      return;
    }
    try {
      await sys.connect(this.fd, sockaddr(req.address, req.port));
    } catch (e) {
      if (!(e instanceof Errno && e.errno === EINPROGRESS)) throw e;
      // Non-blocking connect (connect(2)): writable once it is decided; SO_ERROR says how.
      await this.waitFor(POLLOUT);
      if (this.closed) throw new Errno(ECANCELED);
      const soerr = await sys.getsockopt(this.fd, SOL_SOCKET, SO_ERROR);
      if (typeof soerr === 'number' && soerr !== 0) throw new Errno(soerr);
    }
    await this.refreshNames();
  }

  private connected(req: ConnectReq, status: number): void {
    this.reqDone();
    if (this.bits & H_CLOSED) return;
    req.oncomplete(status, this, req, status === 0, status === 0);
    // Someone may have started reading before there was a connection (http does, on 'resume').
    if (status === 0) this.pumpRead();
  }

  /** Adopt a descriptor a remote acceptwait handed over: already non-blocking, with its names. */
  adoptAccepted(fd: number, sockname: Sockaddr, peername: Sockaddr | null): void {
    this.attach(fd);
    this.sockname = sockname;
    this.peername = peername;
  }

  /** Adopt an in-process descriptor accept() made for `so`, already non-blocking (no descriptor lookup: the listener has the socket). */
  adoptLocal(fd: number, so: Socket): void {
    this.fd = fd;
    this.file = so;
  }

  /** Adopt a descriptor from accept(): non-blocking, names known before anyone asks. */
  async adopt(fd: number): Promise<void> {
    this.attach(fd);
    if (this.file) {
      this.file.fflags |= O_NONBLOCK;
      return;
    }
    const sys = this.env.sys;
    const [, name, peer] = await Promise.all([
      sys.fcntl(fd, F_SETFL, O_NONBLOCK),
      sys.getsockname(fd),
      sys.getpeername(fd).catch(() => null),
    ]);
    this.sockname = name;
    this.peername = peer;
  }

  private async refreshNames(): Promise<void> {
    if (this.file) {
      // Nothing kept (getsockname asks the kernel), but a connect the halt
      // woke is no connection: getpeername's ENOTCONN fails it.
      this.file.getpeername();
      return;
    }
    const sys = this.env.sys;
    const [name, peer] = await Promise.all([sys.getsockname(this.fd), sys.getpeername(this.fd)]);
    this.sockname = name;
    this.peername = peer;
  }

  getsockname(out: Partial<AddressInfo>): number {
    const f = this.file;
    const name = f !== null ? nameOf(f, false) : this.sockname;
    if (name === null) return -EBADF;
    fillAddress(out, name);
    return 0;
  }

  getpeername(out: Partial<AddressInfo>): number {
    const f = this.file;
    const name = f !== null ? nameOf(f, true) : this.peername;
    if (name === null) return -ENOTCONN;
    fillAddress(out, name);
    return 0;
  }

  readStart(): number {
    if (this.bits & H_CLOSED) return -EBADF;
    this.bits |= H_WANTREAD;
    this.updateHold();
    this.pumpRead();
    return 0;
  }

  readStop(): number {
    this.bits &= ~H_WANTREAD;
    this.updateHold();
    return 0;
  }

  private pumpRead(): void {
    // Reading wanted, no read under way, no EOF, not closed.
    const READABLE = H_WANTREAD | H_READBUSY | H_EOF | H_CLOSED;
    if ((this.bits & READABLE) !== H_WANTREAD || this.fd < 0) return;
    const f = this.file;
    if (f instanceof Socket) {
      // In process: take what is queued, in a loop, with no promise per
      // read; nothing queued (EAGAIN) waits for the kernel's wake-up and
      // leaves the window as it is. Failures are reported on a later
      // microtask, as a read that failed in the kernel would be.
      while ((this.bits & READABLE) === H_WANTREAD) {
        const r = f.recvNow(LOCAL_READ_SIZE);
        if (typeof r !== 'number') {
          this.deliver(r);
          continue;
        }
        if (r === -EAGAIN) this.wait(POLLIN);
        else {
          this.readBusy = true;
          // Failures are rare: a closure here, none kept on every handle.
          queueMicrotask(() => this.onReadError(new Errno(-r)));
        }
        return;
      }
      return;
    }
    this.pumpReadRemote(f);
  }

  /**
   * pumpRead for a kernel file that is no in-process Socket, or a remote
   * kernel. Apart so that pumpRead stays small: V8 optimises a function
   * after running its bytecode a number of times that grows with its size.
   */
  private pumpReadRemote(f: KFile | null): void {
    if (f !== null) {
      // Nothing queued, no EOF, no error: wait, and leave the window as it is.
      if (f.poll(POLLIN) === 0) {
        this.wait(POLLIN);
        return;
      }
      this.readBusy = true;
      const r = f.recvfrom(READ_SIZE, MSG_DONTWAIT);
      if (r instanceof Promise) r.then((v) => this.onReadResult(v), (e) => this.onReadError(e));
      else this.onReadResult(r);
      return;
    }
    if (this.env.streams !== undefined) {
      this.pumpStreamRead(this.env.streams);
      return;
    }
    this.readBusy = true;
    // An older server: recv and poll, with completions made once per handle, not per call.
    const st = (this.streamState ??= new StreamState(this));
    st.recv ??= new RecvCompletions(this);
    this.env.sys.recv(this.fd, READ_SIZE, MSG_DONTWAIT).then(st.recv.onData, st.recv.onError);
  }

  private declare streamState: StreamState | null;

  /** Hand up what came while stopped, then keep STREAM_READS recvwaits in the server. */
  private pumpStreamRead(streams: StreamCalls): void {
    const st = (this.streamState ??= new StreamState(this));
    while (st.held.length > 0) {
      this.deliverStream(st.held.shift()!);
      if (!this.wantRead || this.eof || this.closed) return;
    }
    while (st.reads < st.readsWanted && !st.readDone) {
      st.reads++;
      streams.recvwait(this.fd, STREAM_READ_SIZE).then(st.onData, st.onReadError);
    }
  }

  private deliverStream(x: StreamRead): void {
    if (typeof x === 'number' || x.length === 0) {
      this.eof = true;
      this.updateHold();
      this.onread(typeof x === 'number' ? x : UV_EOF);
      return;
    }
    if (!Array.isArray(x)) {
      this.bytesRead += x.length;
      this.onread(x.length, Buffer.from(x.buffer, x.byteOffset, x.length));
      return;
    }
    // Pieces as they crossed the connection, each a chunk of its own (as a
    // host socket hands up what each read got); what a pause leaves is held.
    for (let i = 0; i < x.length; i++) {
      const p = x[i]!;
      this.bytesRead += p.length;
      this.onread(p.length, Buffer.from(p.buffer, p.byteOffset, p.length));
      if (this.closed) return;
      if (!this.wantRead && i + 1 < x.length) {
        this.streamState!.held.unshift(x.slice(i + 1));
        return;
      }
    }
  }

  /** @internal A recvwait came back: data, EOF (empty) or a failure status. */
  streamArrived(x: StreamRead): void {
    const st = this.streamState!;
    st.reads--;
    if (this.closed || st.readDone) return;
    if (typeof x === 'number' || x.length === 0) st.readDone = true;
    else if (streamBytes(x) === STREAM_READ_SIZE) st.readsWanted = STREAM_READS_BUSY;
    if (this.wantRead && st.held.length === 0 && !this.eof) this.deliverStream(x);
    else st.held.push(x);
    this.pumpRead();
  }



  /** @internal A remote recv came back with data (empty at EOF). */
  recvDone(data: Uint8Array): void {
    this.onReadData(data);
  }

  /** @internal A remote recv failed (EAGAIN: nothing yet). */
  recvFailed(e: unknown): void {
    this.onReadError(e);
  }

  private onReadResult(r: RecvResult): void {
    this.onReadData(r.data);
  }

  private onReadData(data: Uint8Array): void {
    this.readBusy = false;
    if (this.closed) return;
    this.deliver(data);
    this.pumpRead();
  }

  /** Hand `data` to onread: bytes, or EOF when empty. */
  private deliver(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) {
      // A halted kernel's sockets read as closed: that is no orderly EOF.
      if (this.env.halted?.() === true) {
        this.wake();
        return;
      }
      this.bits |= H_EOF;
      this.updateHold();
      this.onread(UV_EOF);
      return;
    }
    this.bytesRead += n;
    this.onread(n, Buffer.from(data.buffer, data.byteOffset, n));
  }

  private onReadError(e: unknown): void {
    this.readBusy = false;
    if (this.closed) return;
    const status = statusOf(e);
    if (status === -EAGAIN) {
      this.wait(POLLIN);
      return;
    }
    // A failed stream reads no more (libuv stops reading on error too).
    this.eof = true;
    this.updateHold();
    this.onread(status);
  }

  writeBuffer(req: WriteReq, data: Uint8Array): number {
    return this.writev(req, [data]);
  }

  writeUtf8String(req: WriteReq, s: string): number {
    return this.writev(req, [Buffer.from(s, 'utf8')]);
  }

  /** Queue `chunks`; `req.oncomplete(0)` once the kernel's send buffer holds them all. */
  writev(req: WriteReq, chunks: Uint8Array[]): number {
    if (this.bits & H_CLOSED || this.fd < 0) return -EBADF;
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    // Remotely every send is a round trip: one buffer, one call.
    // Remotely without stream calls every send is a round trip: one buffer, one call.
    req.chunks = this.file === null && this.env.streams === undefined && chunks.length > 1 ? [Buffer.concat(chunks, bytes)] : chunks;
    req.index = 0;
    req.offset = 0;
    req.bytes = bytes;
    req.async = true;
    if (this.writes.length === 0 && !(this.bits & H_WRITEBUSY) && this.writeNow(req)) {
      req.async = false;
      return 0;
    }
    this.writeQueueSize += bytes - this.sentNow(req);
    (this.writes === NO_WRITES ? (this.writes = []) : this.writes).push(req);
    this.reqStarted();
    this.pumpWrite();
    return 0;
  }

  /** Bytes of `req` already taken by writeNow. */
  private sentNow(req: WriteReq): number {
    let n = req.offset;
    for (let i = 0; i < req.index; i++) n += req.chunks[i]!.length;
    return n;
  }

  /**
   * In process, give the kernel what its send buffer has room for right
   * now, as libuv tries a write before queueing it: a write the kernel
   * takes whole completes at once (Node's write() then returns true below
   * the high-water mark). Returns whether all of `req` went.
   *
   * Socket.sendto on a non-blocking stream copies min(room, length) into
   * the send buffer before it returns its promise; with no pending error
   * and the socket connected and open for sending, that is `snd.space`.
   * The promise's count is checked anyway: a shortfall (ENOBUFS at the
   * memory limit) fails the stream.
   */
  private writeNow(req: WriteReq): boolean {
    const f = this.file;
    if (!(f instanceof Socket)) return false;
    while (req.index < req.chunks.length) {
      // A pending error or a socket that cannot send: pumpWrite reports it.
      if (f.error !== 0 || (f.state & (SS_ISCONNECTED | SS_CANTSENDMORE)) !== SS_ISCONNECTED) return false;
      const chunk = req.chunks[req.index]!;
      const data = req.offset === 0 ? chunk : chunk.subarray(req.offset);
      // The only failure left is ENOBUFS with nothing taken: pumpWrite meets it again and reports it.
      const n = data.length === 0 ? 0 : f.sendNow(data);
      if (n < 0) return false;
      this.bytesWritten += n;
      if (n < data.length) {
        req.offset += n;
        return false;
      }
      req.index++;
      req.offset = 0;
    }
    return true;
  }

  private pumpWrite(): void {
    if (this.bits & (H_WRITEBUSY | H_CLOSED) || this.fd < 0) return;
    const local = this.file;
    if (local instanceof Socket) this.pumpWriteLocal(local);
    else this.pumpWriteRemote(local);
  }

  /** pumpWrite for any other file or a remote kernel (apart, as pumpReadRemote, to keep pumpWrite small). */
  private pumpWriteRemote(local: KFile | null): void {
    if (local === null && this.env.streams !== undefined) {
      this.pumpStreamWrite(this.env.streams);
      return;
    }
    const req = this.writes[0];
    if (req === undefined) {
      if (this.shutdownReq !== null) this.doShutdown();
      return;
    }
    while (req.index < req.chunks.length && req.offset >= req.chunks[req.index]!.length) {
      req.index++;
      req.offset = 0;
    }
    if (req.index >= req.chunks.length) {
      this.completeWrite(0);
      this.pumpWrite();
      return;
    }
    const chunk = req.offset === 0 ? req.chunks[req.index]! : req.chunks[req.index]!.subarray(req.offset);
    const f = this.file;
    if (f !== null) {
      if (f.poll(POLLOUT) === 0) {
        this.wait(POLLOUT);
        return;
      }
      this.writeBusy = true;
      const r = f.sendto(chunk, MSG_DONTWAIT, null);
      if (r instanceof Promise) r.then((n) => this.onWrote(n), (e) => this.onWriteError(e));
      else this.onWrote(r);
      return;
    }
    this.writeBusy = true;
    // A short send means the rest goes again: at most a piece at a time, so that costs a piece, not the whole write.
    const piece = chunk.length > STREAM_PIECE ? chunk.subarray(0, STREAM_PIECE) : chunk;
    this.env.sys.send(this.fd, piece, MSG_DONTWAIT).then((n) => this.onWrote(n), (e) => this.onWriteError(e));
  }

  /**
   * In process: give the kernel queued writes, chunk after chunk, in a loop
   * with no promise per send (a writev of many chunks must not recurse once
   * per chunk); a full send buffer waits for POLLOUT, a failure completes the
   * write on a later microtask, as a send that failed in the kernel would.
   */
  private pumpWriteLocal(f: Socket): void {
    while (!(this.bits & (H_WRITEBUSY | H_CLOSED))) {
      const req = this.writes[0];
      if (req === undefined) {
        if (this.shutdownReq !== null) this.doShutdown();
        return;
      }
      if (req.index >= req.chunks.length) {
        this.completeWrite(0);
        continue;
      }
      const chunk = req.chunks[req.index]!;
      if (req.offset >= chunk.length) {
        req.index++;
        req.offset = 0;
        continue;
      }
      const n = f.sendNow(req.offset === 0 ? chunk : chunk.subarray(req.offset));
      if (n > 0) {
        req.offset += n;
        this.bytesWritten += n;
        this.writeQueueSize -= n;
      } else if (n === 0) {
        this.wait(POLLOUT);
        return;
      } else {
        this.writeBusy = true;
        queueMicrotask(() => this.onWriteError(new Errno(-n)));
        return;
      }
    }
  }

  private onWrote(n: number): void {
    this.writeBusy = false;
    if (this.closed) return;
    const req = this.writes[0]!;
    req.offset += n;
    this.bytesWritten += n;
    this.writeQueueSize -= n;
    this.pumpWrite();
  }

  private onWriteError(e: unknown): void {
    this.writeBusy = false;
    if (this.closed) return;
    const status = statusOf(e);
    if (status === -EAGAIN) {
      this.wait(POLLOUT);
      return;
    }
    this.completeWrite(status);
    this.pumpWrite();
  }

  /**
   * Remote writes: send the queued requests in pieces while the window has
   * room, each byte once; complete requests in order as their bytes are
   * answered; FIN once all are.
   */
  private pumpStreamWrite(streams: StreamCalls): void {
    const st = (this.streamState ??= new StreamState(this));
    if (st.writeFailed) return;
    const writes = this.writes;
    while (st.inflight < STREAM_WINDOW && st.next < writes.length) {
      const req = writes[st.next]!;
      if (req.index >= req.chunks.length) {
        st.next++;
        continue;
      }
      const chunk = req.chunks[req.index]!;
      let n = Math.min(chunk.length - req.offset, STREAM_PIECE);
      let piece = n === chunk.length ? chunk : chunk.subarray(req.offset, req.offset + n);
      req.offset += n;
      if (req.offset >= chunk.length) {
        req.index++;
        req.offset = 0;
      }
      if (n === 0) continue;
      // Large chunks go as views; short ones (a writev of many small writes) travel together.
      if (n < STREAM_GATHER && req.index < req.chunks.length && req.chunks[req.index]!.length < STREAM_GATHER) {
        const parts = [piece];
        while (req.index < req.chunks.length) {
          const c = req.chunks[req.index]!;
          if (c.length >= STREAM_GATHER || n + c.length > STREAM_PIECE) break;
          parts.push(c);
          n += c.length;
          req.index++;
        }
        piece = Buffer.concat(parts, n);
      }
      st.inflight += n;
      streams.sendall(this.fd, piece).then(st.onWrote, st.onWriteError);
    }
    while (st.next > 0) {
      const req = writes[0]!;
      if (req.index < req.chunks.length || st.acked < req.bytes) break;
      st.acked -= req.bytes;
      st.next--;
      this.completeWrite(0);
      if (this.closed || st.writeFailed) return;
    }
    if (writes.length === 0 && this.shutdownReq !== null) this.doShutdown();
  }

  /** @internal A sendall was answered: `n` more bytes are in the kernel. */
  streamWrote(n: number): void {
    const st = this.streamState!;
    st.inflight -= n;
    if (this.closed || st.writeFailed) return;
    st.acked += n;
    this.bytesWritten += n;
    this.writeQueueSize -= n;
    this.pumpWrite();
  }

  /** @internal A sendall failed. */
  streamWriteFailed(e: unknown): void {
    const st = this.streamState!;
    if (this.closed || st.writeFailed) return;
    // The stream is broken; what else is queued is cancelled when Node destroys the socket.
    st.writeFailed = true;
    this.completeWrite(statusOf(e));
  }

  private completeWrite(status: number): void {
    const req = this.writes.shift()!;
    let left = 0;
    for (let i = req.index; i < req.chunks.length; i++) left += req.chunks[i]!.length;
    this.writeQueueSize -= left - req.offset;
    this.reqDone();
    req.oncomplete(status);
  }

  /** Send FIN once every queued write is in the kernel (shutdown(SHUT_WR)). */
  shutdown(req: ShutdownReq): number {
    if (this.bits & H_CLOSED || this.fd < 0) return -ENOTCONN;
    this.shutdownReq = req;
    this.reqStarted();
    this.pumpWrite();
    return 0;
  }

  private doShutdown(): void {
    const req = this.shutdownReq!;
    this.shutdownReq = null;
    const f = this.file;
    if (f !== null && this.env.halted?.() !== true) {
      // In process: FIN now, completed on a microtask as a kernel call's would be.
      let status = 0;
      try {
        f.shutdown(SHUT_WR);
      } catch (e) {
        status = statusOf(e);
      }
      // Not queueMicrotask, which makes an AsyncResource each time (every connection ends once).
      void RESOLVED.then(() => reportThrow(this, req, status));
      return;
    }
    this.env.sys.shutdown(this.fd, SHUT_WR).then(() => this.shutdownDone(req, 0), (e) => this.shutdownDone(req, statusOf(e)));
  }

  /** @internal */
  shutdownDone(req: ShutdownReq, status: number): void {
    this.reqDone();
    if (!(this.bits & H_CLOSED)) req.oncomplete(status);
  }

  /** Abortive close: SO_LINGER with a zero timeout, then close, so the peer gets a RST. */
  reset(cb?: () => void): number {
    if (this.fd >= 0) this.setopt(SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 0 });
    this.close(cb);
    return 0;
  }

  setNoDelay(on: boolean): number {
    if (this.fd < 0) return 0;
    return this.setopt(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
  }

  /** SO_KEEPALIVE, and TCP_KEEPIDLE in seconds when given (Node passes seconds too). */
  setKeepAlive(on: boolean, delaySecs: number): number {
    if (this.fd < 0) return 0;
    const err = this.setopt(SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0);
    if (err === 0 && on && delaySecs > 0) this.setopt(IPPROTO_TCP, TCP_KEEPIDLE, delaySecs);
    return err;
  }

  /** The connection went with the kernel: the reader hears it (as ECONNRESET, "kernel halted"). */
  protected kernelHalted(): void {
    if (this.bits & H_CONNECTING) {
      this.connected(this.takeConnectReq(), haltedStatus(ENOTCONN));
      return;
    }
    if (this.eof) return;
    this.eof = true;
    this.updateHold();
    this.onread(haltedStatus(ECONNRESET));
  }

  protected cancelRequests(): void {
    // A connect cut short by close completes no more (its connected() would not report it either).
    if (this.bits & H_CONNECTING) this.takeConnectReq();
    this.writeQueueSize = 0;
    if (this.writes.length !== 0) {
      const writes = this.writes.splice(0);
      for (const w of writes) w.oncomplete(-ECANCELED);
    }
    const sd = this.shutdownReq;
    this.shutdownReq = null;
    sd?.oncomplete(-ECANCELED);
  }
}

bitAccessors(TcpHandle.prototype, { wantRead: H_WANTREAD, readBusy: H_READBUSY, eof: H_EOF, writeBusy: H_WRITEBUSY });
rareAccessors(TcpHandle.prototype, ['shutdownReq', 'sockname', 'peername', 'streamState', 'connectReq'], 1);

/** A listening TCP socket: Node's TCPWrap (server side). */
export class TcpServerHandle extends FdHandle {
  /** A new connection (status 0), or a failure to accept one (-errno). */
  onconnection: (status: number, client?: TcpHandle) => void = noop;
  private listening = false;
  private acceptBusy = false;
  private sockname: Sockaddr | null = null;
  private backoff: HandleTimer | null = null;

  protected get active(): boolean {
    return this.listening;
  }

  protected ready(): void {
    this.pumpAccept();
  }

  /**
   * socket, SO_REUSEADDR (libuv sets it on every TCP socket it binds, so a
   * restarted server is not kept out by TIME_WAIT), IPV6_V6ONLY for an
   * IPv6 one (on only with `flags` & UV_TCP_IPV6ONLY), bind, listen.
   * `cb(status, syscall)` names the call that failed.
   */
  listen(address: string, port: number, backlog: number, cb: (status: number, syscall: string) => void, flags = 0): void {
    let syscall = 'socket';
    this.reqStarted();
    const run = async (): Promise<void> => {
      const sys = this.env.sys;
      await this.open(SOCK_STREAM);
      syscall = 'setsockopt';
      if (this.setopt(SOL_SOCKET, SO_REUSEADDR, 1) !== 0) throw new Errno(EINVAL);
      await this.setV6Only((flags & UV_TCP_IPV6ONLY) !== 0);
      if (this.env.streams !== undefined) this.remoteBuffers();
      syscall = 'bind';
      await sys.bind(this.fd, sockaddr(address, port));
      syscall = 'listen';
      await sys.listen(this.fd, backlog);
      this.sockname = this.file ? this.file.getsockname() : await sys.getsockname(this.fd);
    };
    run().then(
      () => {
        this.reqDone();
        if (this.closed) return;
        this.listening = true;
        this.updateHold();
        cb(0, syscall);
        this.pumpAccept();
      },
      (e) => {
        this.reqDone();
        if (!this.closed) cb(statusOf(e), syscall);
      },
    );
  }

  getsockname(out: Partial<AddressInfo>): number {
    if (this.sockname === null) return -EINVAL;
    fillAddress(out, this.sockname);
    return 0;
  }

  private pumpAccept(): void {
    if (!this.listening || this.acceptBusy || this.closed) return;
    const streams = this.env.streams;
    if (streams?.acceptwait !== undefined) {
      // A remote kernel with the `accept` feature: connections come ahead of our calls.
      while (this.acceptsAhead < ACCEPTS_AHEAD) {
        this.acceptsAhead++;
        streams.acceptwait(this.fd).then(this.onAcceptedAhead, this.onAcceptAheadError);
      }
      return;
    }
    const f = this.file;
    const sys = this.env.sys;
    if (f instanceof Socket && sys instanceof Sys && f.error === 0) {
      this.acceptNow(f, sys);
      return;
    }
    if (f !== null && f.poll(POLLIN) === 0) {
      this.wait(POLLIN);
      return;
    }
    this.acceptBusy = true;
    this.env.sys.accept(this.fd).then(this.onAccepted, this.onAcceptError);
  }

  /**
   * In process: take every queued connection now, with no promise per
   * accept (a server takes one per connection), as accept(2) does: the
   * descriptor first, so that out of descriptors (EMFILE) the connection
   * stays queued for later; then the connection off the queue.
   */
  private acceptNow(f: Socket, sys: Sys): void {
    while (this.listening && !this.closed) {
      const so = f.acceptq[0];
      if (so === undefined) {
        this.wait(POLLIN);
        return;
      }
      let fd: number;
      try {
        fd = sys.fdalloc(so);
      } catch (e) {
        this.acceptFailed(statusOf(e));
        return;
      }
      f.acceptq.shift();
      so.head = null;
      so.fflags |= O_NONBLOCK;
      const client = new TcpHandle(this.env, this.family);
      client.adoptLocal(fd, so);
      this.onconnection(0, client);
    }
  }

  private readonly onAccepted = (r: { fd: number }): void => {
    this.acceptBusy = false;
    if (this.closed) {
      this.env.sys.close(r.fd).catch(noop);
      return;
    }
    const client = new TcpHandle(this.env, this.family);
    client.adopt(r.fd).then(
      () => {
        if (this.closed) client.close();
        else this.onconnection(0, client);
      },
      () => client.close(),
    );
    this.pumpAccept();
  };

  /** acceptwaits waiting in the remote server. */
  private acceptsAhead = 0;
  /** An accept failure was reported and the backoff has not run yet: the others waiting fail quietly. */
  private acceptFailing = false;

  private readonly onAcceptedAhead = (r: { fd: number; sockname: Sockaddr; peername: Sockaddr | null }): void => {
    this.acceptsAhead--;
    if (this.closed) {
      this.env.sys.close(r.fd).catch(noop);
      return;
    }
    const client = new TcpHandle(this.env, this.family);
    client.adoptAccepted(r.fd, r.sockname, r.peername);
    this.onconnection(0, client);
    this.pumpAccept();
  };

  private readonly onAcceptAheadError = (e: unknown): void => {
    this.acceptsAhead--;
    // Stopped by the first of the failures (a lost server, the listener gone): the rest say nothing.
    if (this.closed || !this.listening) return;
    const status = statusOf(e);
    // The rest of a failing round fail the same way: report the first, retry after the backoff.
    if (this.acceptFailing && status !== -ECONNABORTED) return;
    this.acceptFailed(status);
  };

  private readonly onAcceptError = (e: unknown): void => {
    this.acceptBusy = false;
    if (this.closed) return;
    this.acceptFailed(statusOf(e));
  };

  private acceptFailed(status: number): void {
    if (status === -EAGAIN) {
      this.wait(POLLIN);
      return;
    }
    // The connection went away before we took it: nothing to report.
    if (status === -ECONNABORTED) {
      this.pumpAccept();
      return;
    }
    // The listening socket itself is gone (the kernel halted): stop quietly, as a closed listener does.
    if (status === -EBADF || status === -EINVAL) {
      this.listening = false;
      this.updateHold();
      return;
    }
    if (this.lostDetail() !== undefined) {
      // The kernel is out of reach (its server went away): say so once and accept no more.
      this.listening = false;
      this.updateHold();
      this.onconnection(status);
      return;
    }
    this.onconnection(status);
    // EMFILE and friends would fail again at once: back off instead of spinning.
    this.acceptFailing = true;
    this.backoff ??= this.env.timer(() => {
      this.acceptFailing = false;
      this.pumpAccept();
    });
    this.backoff.reset(ACCEPT_BACKOFF_MS);
  }

  protected cancelRequests(): void {
    this.listening = false;
    this.backoff?.stop();
  }

  /** The listener went with the kernel: stop, and say so (the server closes). */
  protected kernelHalted(): void {
    if (!this.listening) return;
    this.listening = false;
    this.updateHold();
    this.onconnection(haltedStatus(ENOTCONN));
  }
}

/** A UDP socket: Node's UDPWrap. */
export class UdpHandle extends FdHandle {
  /** A datagram (`nread` bytes, sender in `rinfo`), or a failure (-errno, e.g. ECONNREFUSED on a connected socket). */
  onmessage: (nread: number, handle: UdpHandle, buf?: Buffer, rinfo?: AddressInfo & { size: number }) => void = noop;
  private receiving = false;
  private recvBusy = false;
  private recvLooping = false;
  private sockname: Sockaddr | null = null;
  private peername: Sockaddr | null = null;
  private rcvbuf = 0;
  private sndbuf = 0;

  protected get active(): boolean {
    return this.receiving;
  }

  protected ready(): void {
    this.pumpRecv();
  }

  /**
   * Open and bind; `flags` & 4 (UV_UDP_REUSEADDR) sets SO_REUSEADDR and
   * SO_REUSEPORT, as libuv does on BSD; an IPv6 socket is dual-stack unless
   * `flags` & 1 (UV_UDP_IPV6ONLY).
   */
  bind(address: string, port: number, flags: number, cb: (status: number) => void): void {
    this.reqStarted();
    const run = async (): Promise<void> => {
      await this.open(SOCK_DGRAM);
      if (flags & UV_UDP_REUSEADDR) {
        this.setopt(SOL_SOCKET, SO_REUSEADDR, 1);
        this.setopt(SOL_SOCKET, SO_REUSEPORT, 1);
      }
      await this.setV6Only((flags & UV_UDP_IPV6ONLY) !== 0);
      await this.env.sys.bind(this.fd, sockaddr(address, port));
      await this.refreshNames();
    };
    run().then(
      () => this.reqFinished(cb, 0),
      (e) => this.reqFinished(cb, statusOf(e)),
    );
  }

  private reqFinished(cb: (status: number) => void, status: number): void {
    this.reqDone();
    if (!this.closed) cb(status);
  }

  private async refreshNames(): Promise<void> {
    const sys = this.env.sys;
    if (this.file) {
      this.sockname = this.file.getsockname();
      try {
        this.peername = this.file.getpeername();
      } catch {
        this.peername = null;
      }
      this.rcvbuf = this.file.getsockopt(SOL_SOCKET, SO_RCVBUF) as number;
      this.sndbuf = this.file.getsockopt(SOL_SOCKET, SO_SNDBUF) as number;
      return;
    }
    const [name, peer, rcv, snd] = await Promise.all([
      sys.getsockname(this.fd),
      sys.getpeername(this.fd).catch(() => null),
      sys.getsockopt(this.fd, SOL_SOCKET, SO_RCVBUF),
      sys.getsockopt(this.fd, SOL_SOCKET, SO_SNDBUF),
    ]);
    this.sockname = name;
    this.peername = peer;
    this.rcvbuf = rcv as number;
    this.sndbuf = snd as number;
  }

  /** Set the default destination (connect(2) on a datagram socket). */
  connect(address: string, port: number, cb: (status: number) => void): void {
    if (this.closed || this.fd < 0) {
      cb(-EBADF);
      return;
    }
    this.reqStarted();
    const run = async (): Promise<void> => {
      await this.env.sys.connect(this.fd, sockaddr(address, port));
      await this.refreshNames();
    };
    run().then(
      () => this.reqFinished(cb, 0),
      (e) => this.reqFinished(cb, statusOf(e)),
    );
  }

  /** Dissolve the association (connect with AF_UNSPEC). Later calls go to the kernel after it. */
  disconnect(): number {
    if (this.closed || this.fd < 0) return -EBADF;
    this.peername = null;
    this.env.sys.connect(this.fd, { family: AF_UNSPEC, addr: '0.0.0.0', port: 0 }).catch(noop);
    return 0;
  }

  /** Send one datagram made of `chunks`; to `address:port`, or to the connected peer when `port` is undefined. */
  send(req: SendReq, chunks: Uint8Array[], port?: number, address?: string): number {
    if (this.closed || this.fd < 0) return -EBADF;
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const to = port === undefined ? null : sockaddr(address ?? '127.0.0.1', port);
    this.reqStarted();
    const f = this.file;
    if (f instanceof Socket) {
      // In process a datagram send never sleeps: done at once, no promise;
      // the completion still comes on a later tick, as Node's send callback does.
      let sent = 0;
      let status = 0;
      try {
        sent = f.sendRecord(data, 0, to);
      } catch (e) {
        status = statusOf(e);
      }
      process.nextTick(sendDone, this, req, status, sent);
      return 0;
    }
    const done = (status: number, sent: number): void => this.sendDone(req, status, sent);
    const r = f ? f.sendto(data, 0, to) : this.env.sys.sendto(this.fd, data, 0, to);
    if (r instanceof Promise) r.then((n) => done(0, n), (e) => done(statusOf(e), 0));
    else done(0, r);
    return 0;
  }

  /** @internal */
  sendDone(req: SendReq, status: number, sent: number): void {
    this.reqDone();
    if (!this.closed) req.oncomplete(status, sent);
  }

  recvStart(): number {
    if (this.closed || this.fd < 0) return -EBADF;
    this.receiving = true;
    this.updateHold();
    this.pumpRecv();
    return 0;
  }

  recvStop(): number {
    this.receiving = false;
    this.updateHold();
    return 0;
  }

  private pumpRecv(): void {
    if (!this.receiving || this.recvBusy || this.closed || this.fd < 0) return;
    const f = this.file;
    if (f instanceof Socket) {
      // In process: take what is queued in a loop, no promise per datagram;
      // onDatagram's own pumpRecv returns at once meanwhile, so a queue of
      // thousands of small datagrams does not recurse once per datagram.
      if (this.recvLooping) return;
      this.recvLooping = true;
      try {
        while (this.receiving && !this.closed) {
          const r = f.recvRecordNow(DGRAM_SIZE);
          if (typeof r !== 'number') this.onDatagram(r);
          else if (r === 0) break; // shut down for reading: nothing more will come, nothing to wait for
          else if (r === -EAGAIN) {
            this.wait(POLLIN);
            break;
          } else {
            // An asynchronous error (ICMP port unreachable on a connected socket) is reported once; receiving goes on.
            this.onmessage(r, this);
          }
        }
      } finally {
        this.recvLooping = false;
      }
      return;
    }
    if (f !== null) {
      // No poll() first: a zero-length datagram queues no bytes, and
      // Socket.poll counts bytes; the receive itself sees the record.
      this.recvBusy = true;
      const r = f.recvfrom(DGRAM_SIZE, MSG_DONTWAIT);
      if (r instanceof Promise) r.then(this.onDatagram, this.onRecvError);
      else this.onDatagram(r);
      return;
    }
    const streams = this.env.streams;
    if (streams?.recvfromwait !== undefined) {
      this.pumpRecvAhead(streams.recvfromwait);
      return;
    }
    this.recvBusy = true;
    this.env.sys.recvfrom(this.fd, DGRAM_SIZE, MSG_DONTWAIT).then(this.onDatagram, this.onRecvError);
  }

  /** recvfromwaits in the remote server; datagrams that came while receiving was stopped. */
  private dgramsAhead = 0;
  private dgramsHeld: RecvResult[] | null = null;

  /**
   * A remote kernel with the `dgram` feature: DGRAMS_AHEAD recvfromwaits
   * wait in the server, each answered with a datagram as it comes, so none
   * costs a poll and a recvfrom. What comes while receiving is stopped is
   * held (at most DGRAMS_AHEAD) and handed up on the next recvStart.
   */
  private pumpRecvAhead(recvfromwait: NonNullable<StreamCalls['recvfromwait']>): void {
    const held = this.dgramsHeld;
    while (held !== null && held.length > 0) {
      this.emitDatagram(held.shift()!);
      if (!this.receiving || this.closed) return;
    }
    while (this.dgramsAhead < DGRAMS_AHEAD) {
      this.dgramsAhead++;
      recvfromwait(this.fd, DGRAM_SIZE).then(this.onDatagramAhead, this.onRecvAheadError);
    }
  }

  private readonly onDatagramAhead = (r: RecvResult): void => {
    this.dgramsAhead--;
    if (this.closed) return;
    if (!this.receiving || (this.dgramsHeld !== null && this.dgramsHeld.length > 0)) {
      (this.dgramsHeld ??= []).push(r);
      return;
    }
    this.emitDatagram(r);
    this.pumpRecv();
  };

  private readonly onRecvAheadError = (e: unknown): void => {
    this.dgramsAhead--;
    if (this.closed) return;
    const status = statusOf(e);
    if (status === -EBADF || isHaltedStatus(status)) {
      this.wake();
      return;
    }
    this.onmessage(status, this);
    // An asynchronous error (ICMP port unreachable on a connected socket) is
    // reported once and receiving goes on; a kernel out of reach or halted stops it.
    if (this.lostDetail() !== undefined || status === -ESHUTDOWN) {
      this.receiving = false;
      this.updateHold();
      return;
    }
    this.pumpRecv();
  };

  private readonly onDatagram = (r: RecvResult): void => {
    this.recvBusy = false;
    if (this.closed) return;
    if (this.emitDatagram(r)) this.pumpRecv();
  };

  /** Hand a datagram to onmessage with its rinfo; false for a halted kernel's empty record (receiving stops). */
  private emitDatagram(r: RecvResult): boolean {
    const d = r.data;
    // A halted kernel's socket answers every receive with an empty record: stop, do not spin.
    if (d.length === 0 && this.env.halted?.() === true) {
      this.wake();
      return false;
    }
    const from = r.from;
    const rinfo = { address: from ? from.addr : '', family: from?.family === AF_INET6 ? 'IPv6' : 'IPv4', port: from ? from.port : 0, size: d.length };
    this.onmessage(d.length, this, Buffer.from(d.buffer, d.byteOffset, d.length), rinfo);
    return true;
  }

  private readonly onRecvError = (e: unknown): void => {
    this.recvBusy = false;
    if (this.closed) return;
    const status = statusOf(e);
    if (status === -EAGAIN) {
      this.wait(POLLIN);
      return;
    }
    if (isHaltedStatus(status)) {
      this.wake();
      return;
    }
    // An asynchronous error (ICMP port unreachable on a connected socket) is reported once; receiving goes on.
    this.onmessage(status, this);
    this.pumpRecv();
  };

  getsockname(out: Partial<AddressInfo>): number {
    if (this.sockname === null) return -EBADF;
    fillAddress(out, this.sockname);
    return 0;
  }

  getpeername(out: Partial<AddressInfo>): number {
    if (this.peername === null) return -ENOTCONN;
    fillAddress(out, this.peername);
    return 0;
  }

  setBroadcast(on: boolean): number {
    return this.setopt(SOL_SOCKET, SO_BROADCAST, on ? 1 : 0);
  }

  /* libuv's ranges: a unicast TTL of 1..255, a multicast one of 0..255 (uv_udp_set_ttl, uv_udp_set_multicast_ttl). */
  setTTL(ttl: number): number {
    // libuv checks the range before it looks at the descriptor (uv_udp_set_ttl).
    if (!(ttl >= 1 && ttl <= 255)) return -EINVAL;
    // A udp6 socket's unicast hop limit is IPV6_UNICAST_HOPS (RFC 3493 §5.1), as libuv sets it.
    if (this.family === AF_INET6) return this.setopt(IPPROTO_IPV6, IPV6_UNICAST_HOPS, Math.trunc(ttl));
    return this.setopt(IPPROTO_IP, IP_TTL, Math.trunc(ttl));
  }

  setMulticastTTL(ttl: number): number {
    if (!(ttl >= 0 && ttl <= 255)) return -EINVAL;
    if (this.family === AF_INET6) return this.setopt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, Math.trunc(ttl));
    return this.setopt(IPPROTO_IP, IP_MULTICAST_TTL, Math.trunc(ttl));
  }

  setMulticastLoopback(on: boolean): number {
    if (this.family === AF_INET6) return this.setopt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, on ? 1 : 0);
    return this.setopt(IPPROTO_IP, IP_MULTICAST_LOOP, on ? 1 : 0);
  }

  /** IP_MULTICAST_IF by the interface's address (uv_udp_set_multicast_interface); '0.0.0.0' for the route's again. */
  setMulticastInterface(address: string): number {
    if (this.family === AF_INET6) return this.setopt(IPPROTO_IPV6, IPV6_MULTICAST_IF, { addr: address });
    if (parseInAddr(address) === null) return -EINVAL;
    return this.setopt(IPPROTO_IP, IP_MULTICAST_IF, { addr: address });
  }

  /** IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP (uv_udp_set_membership); no interface: the route chooses. */
  setMembership(group: string, iface: string | undefined, join: boolean): number {
    if (this.family === AF_INET6) {
      return this.setopt(IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, { ipv6mr_multiaddr: group, ipv6mr_interface: iface ?? '' });
    }
    if (parseInAddr(group) === null || (iface !== undefined && parseInAddr(iface) === null)) return -EINVAL;
    return this.setopt(IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, { imr_multiaddr: group, imr_interface: iface ?? '0.0.0.0' });
  }

  /** SO_RCVBUF (`recv`) or SO_SNDBUF: read with `size` 0, else set. Returns the size, or -errno. */
  bufferSize(size: number, recv: boolean): number {
    if (this.closed || this.fd < 0) return -EBADF;
    if (size === 0) return recv ? this.rcvbuf : this.sndbuf;
    const err = this.setopt(SOL_SOCKET, recv ? SO_RCVBUF : SO_SNDBUF, size);
    if (err !== 0) return err;
    if (recv) this.rcvbuf = size;
    else this.sndbuf = size;
    return size;
  }

  protected cancelRequests(): void {
    this.receiving = false;
  }

  /** The socket went with the kernel: stop receiving, and say so (the socket closes). */
  protected kernelHalted(): void {
    this.receiving = false;
    this.updateHold();
    this.onmessage(haltedStatus(ENOTCONN), this);
  }
}

function sendDone(h: UdpHandle, req: SendReq, status: number, sent: number): void {
  h.sendDone(req, status, sent);
}

/** libuv's UV_UDP_REUSEADDR bind flag. */
export const UV_UDP_REUSEADDR = 4;
/** libuv's UV_UDP_IPV6ONLY bind flag (dgram's ipv6Only). */
export const UV_UDP_IPV6ONLY = 1;
/** libuv's UV_TCP_IPV6ONLY bind flag (listen's ipv6Only). */
export const UV_TCP_IPV6ONLY = 1;
