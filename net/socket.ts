/*
 * Sockets and socket buffers (NetBSD kern/uipc_socket.c, uipc_socket2.c).
 *
 * A Socket is the file behind a descriptor. Protocol-independent work lives
 * here: socket buffers, blocking and O_NONBLOCK, socket-level options, the
 * accept queue. Protocol work goes through the protocol switch entry
 * (`Protosw`, NetBSD's pr_usrreqs), so UDP, raw IP and TCP share this code.
 */
import type { Kernel } from '../kern/kernel.js';
import { DEFAULT_HEADROOM, MJUMBYTES, type Mbuf } from '../kern/mbuf.js';
import type { Callout } from '../kern/callout.js';
import { SelInfo, POLLIN, POLLOUT, POLLPRI, POLLRDBAND, POLLRDNORM, POLLERR, POLLHUP } from '../kern/select.js';
import { NETSTACK, DEFAULT_SOMAXCONN } from './netstack.js';
import {
  Errno, EAGAIN, EINVAL, EMSGSIZE, ENOBUFS, ENOPROTOOPT, ENOTCONN, EOPNOTSUPP, EPIPE,
  EDESTADDRREQ, EISCONN, EALREADY, EINPROGRESS, EBADF, KernelHaltedError,
} from '../kern/errno.js';
import {
  MSG_DONTWAIT, MSG_OOB, MSG_PEEK, MSG_WAITALL, O_NONBLOCK, SHUT_RD, SHUT_RDWR, SHUT_WR,
  type KFile, type RecvResult, type Sockaddr, type SockoptValue,
} from '../kern/sys.js';

export const SOL_SOCKET = 0xffff;
export const SO_DEBUG = 0x0001;
export const SO_ACCEPTCONN = 0x0002;
export const SO_REUSEADDR = 0x0004;
export const SO_KEEPALIVE = 0x0008;
export const SO_DONTROUTE = 0x0010;
export const SO_BROADCAST = 0x0020;
export const SO_USELOOPBACK = 0x0040;
export const SO_LINGER = 0x0080;
export const SO_OOBINLINE = 0x0100;
export const SO_REUSEPORT = 0x0200;
export const SO_TIMESTAMP = 0x2000;
export const SO_SNDBUF = 0x1001;
export const SO_RCVBUF = 0x1002;
export const SO_SNDLOWAT = 0x1003;
export const SO_RCVLOWAT = 0x1004;
export const SO_ERROR = 0x1007;
export const SO_TYPE = 0x1008;
export const SO_SNDTIMEO = 0x100b;
export const SO_RCVTIMEO = 0x100c;

/** Boolean options kept as bits in so_options. */
const BOOL_OPTS = SO_DEBUG | SO_REUSEADDR | SO_KEEPALIVE | SO_DONTROUTE | SO_BROADCAST | SO_USELOOPBACK | SO_OOBINLINE | SO_REUSEPORT | SO_TIMESTAMP;

export const SS_ISCONNECTED = 0x001;
export const SS_ISCONNECTING = 0x002;
export const SS_ISDISCONNECTING = 0x004;
export const SS_CANTSENDMORE = 0x008;
export const SS_CANTRCVMORE = 0x010;
/** The next byte to read is the urgent mark (SIOCATMARK). */
export const SS_RCVATMARK = 0x020;
/** Urgent data is pending (NetBSD's SS_POLLRDBAND): poll says POLLPRI; Protosw.oobmark says where. */
export const SS_POLLRDBAND = 0x100;
export const SS_ISBOUND = 0x1000;

/** Protocol flags (pr_flags). */
export const PR_ATOMIC = 0x01; // messages are sent whole (datagrams)
export const PR_ADDR = 0x02; // addresses travel with data
export const PR_CONNREQUIRED = 0x04; // must connect before sending
export const PR_LISTEN = 0x08; // supports listen/accept
export const PR_URGENT = 0x10; // sends urgent data (MSG_OOB: TCP's urgent pointer)

/** MSG_TRUNC in recvfrom's returned flags. */
export const MSG_TRUNC = 0x10;

/** The protocol side of a socket (pr_usrreqs). Methods throw Errno. */
export interface Protosw {
  readonly type: number;
  readonly protocol: number;
  readonly flags: number;
  /** Default buffer sizes (e.g. net.inet.udp.sendspace). */
  sendspace(): number;
  recvspace(): number;
  attach(so: Socket): void;
  detach(so: Socket): void;
  bind(so: Socket, addr: Sockaddr): void;
  /** Resolves when connected (datagram protocols: at once). */
  connect(so: Socket, addr: Sockaddr): void | Promise<void>;
  /**
   * A stream protocol that connects on sendto() with a destination (FreeBSD's
   * PR_IMPLOPCL): true when `so` may do so now. The data is queued first and
   * connect() follows (TCP: only with TCP_FASTOPEN, whose SYN carries it).
   */
  impliedConnect?(so: Socket): boolean;
  /**
   * Urgent data received (SS_POLLRDBAND set): the bytes to read before the
   * mark (0: the next byte is it), or -1 once it is read.
   */
  oobmark?(so: Socket): number;
  disconnect(so: Socket): void;
  listen(so: Socket, backlog: number): void;
  /** Called after SS_CANTSENDMORE is set. */
  shutdown(so: Socket): void;
  /**
   * Datagram protocols (PR_ATOMIC): send `m`, owned by the protocol from here
   * on; `to` is the destination for unconnected sockets. Stream protocols:
   * `m` has just been appended to `so.snd` (the socket buffer owns it); the
   * protocol sends what the window allows.
   */
  send(so: Socket, m: Mbuf, to: Sockaddr | null, flags: number): void;
  /** The user took data out of the receive buffer (window updates). */
  rcvd(so: Socket): void;
  setopt(so: Socket, level: number, name: number, value: SockoptValue): void;
  getopt(so: Socket, level: number, name: number): SockoptValue;
  sockaddr(so: Socket): Sockaddr;
  peeraddr(so: Socket): Sockaddr;
  /** Interface and routing ioctls arriving on this socket (ifioctl). */
  ioctl(so: Socket, cmd: string, arg: unknown): unknown;
}

/** What a queued record costs beyond its data: its address (sizeof(struct sockaddr_in)). */
const SB_RECORD_OVERHEAD = 16;

/** One queued record of a socket buffer. */
export interface SbRecord {
  m: Mbuf;
  from: Sockaddr | null;
  /** IPV6_RECVHOPLIMIT's hop limit, -1 for none. */
  hoplimit: number;
}

/** The records of every socket buffer that never held one: always empty, never pushed to. */
const NO_RECORDS: SbRecord[] = [];

/** What a socket buffer's options say: low-water mark, timeout, SB_AUTOSIZE. */
interface SbOpts {
  lowat: number;
  timeo: number;
  autosize: boolean;
}

/** The options of every send and every receive buffer the application left alone: shared, never written. */
const SB_SND_OPTS: Readonly<SbOpts> = Object.freeze({ lowat: 2048, timeo: 0, autosize: true });
const SB_RCV_OPTS: Readonly<SbOpts> = Object.freeze({ lowat: 1, timeo: 0, autosize: true });

/** A socket buffer (struct sockbuf). */
export class Sockbuf {
  /** Bytes held. */
  cc = 0;
  hiwat: number;
  /** The records; a buffer gets its own array at its first record (an idle connection's stay empty). */
  q: SbRecord[] = NO_RECORDS;
  /** Bytes of the first record already consumed (streams). */
  headOff = 0;
  /**
   * lowat, timeo and autosize, which few applications change: a buffer
   * shares its kind's defaults and gets a copy of its own when one changes
   * (one field, not three, on every socket buffer).
   */
  private o: Readonly<SbOpts>;

  constructor(hiwat: number, lowat: number) {
    this.hiwat = hiwat;
    this.o = lowat === SB_SND_OPTS.lowat ? SB_SND_OPTS : lowat === SB_RCV_OPTS.lowat ? SB_RCV_OPTS : { lowat, timeo: 0, autosize: true };
  }

  get lowat(): number {
    return this.o.lowat;
  }

  set lowat(v: number) {
    if (this.o.lowat !== v) this.o = { ...this.o, lowat: v };
  }

  /** Receive timeout or send timeout in ms, 0 for none. */
  get timeo(): number {
    return this.o.timeo;
  }

  set timeo(v: number) {
    if (this.o.timeo !== v) this.o = { ...this.o, timeo: v };
  }

  /** SB_AUTOSIZE: the protocol may grow hiwat (TCP); cleared when the application sets the size. */
  get autosize(): boolean {
    return this.o.autosize;
  }

  set autosize(v: boolean) {
    if (this.o.autosize !== v) this.o = { ...this.o, autosize: v };
  }

  get space(): number {
    return this.hiwat - this.cc;
  }

  append(m: Mbuf, from: Sockaddr | null, hoplimit = -1): void {
    (this.q === NO_RECORDS ? (this.q = []) : this.q).push({ m, from, hoplimit });
    this.cc += m.len;
  }
}

/* What a blocked call waits for (Socket.ready). Any error ends every wait. */
const UNTIL_ACCEPT = 0;
const UNTIL_CONNECTED = 1;
const UNTIL_SEND_SPACE = 2;
const UNTIL_RECORD = 3;
const UNTIL_DATA = 4;
const UNTIL_DISCONNECTED = 5;

function noop(): void {}

/**
 * A stream read hands a received record over as a view, not a copy, when
 * it holds at least this many bytes (Socket.lendHead); so does a datagram
 * read (takeRecord). Below it the bytes
 * are copied: a view pins its whole cluster (36 KiB on lo0, 2 KiB off a
 * bus) for as long as the reader keeps it, which for a few bytes would
 * cost more memory than the copy costs time.
 */
const RCV_VIEW_MIN = 8192;

/** What a read at end of file returns (zero bytes: nothing to share or change). */
const EMPTY = new Uint8Array(0);

/** The accept queue of every socket that never listened: always empty, never pushed to. */
const NO_SOCKETS: Socket[] = [];

/** One blocked call: its promise, its timeout, its hold on the host. */
class Sleeper {
  resolve: () => void = noop;
  reject: (e: Errno) => void = noop;
  release: () => void = noop;
  timer: Callout<Sleeper> | null = null;
  constructor(
    readonly so: Socket,
    readonly until: number,
  ) {}
}

function sleepTimedOut(s: Sleeper): void {
  s.so.timedOut(s);
}

/**
 * A socket is its own SelInfo (BSD embeds the selinfo in the socket's
 * buffers): one object fewer on every idle connection.
 */
export class Socket extends SelInfo implements KFile {
  fflags = 0;
  state = 0;
  options = 0;
  /** so_error: a pending asynchronous error, reported once. */
  error = 0;
  linger = 0;
  readonly snd: Sockbuf;
  readonly rcv: Sockbuf;
  /** The protocol control block (inpcb, tcpcb...). */
  pcb: unknown = null;
  /** Completed connections waiting for accept (so_q); a socket gets its own queue at listen(). */
  acceptq: Socket[] = NO_SOCKETS;
  qlimit = 0;
  /** The listening socket that this one waits on, until accepted. */
  head: Socket | null = null;
  closed = false;
  /** Blocked calls (accept, connect, send, recv, a lingering close); created when first needed. */
  private sleepers: Sleeper[] | null = null;

  constructor(
    readonly kernel: Kernel,
    readonly proto: Protosw,
  ) {
    super();
    this.snd = new Sockbuf(proto.sendspace(), 2048);
    this.rcv = new Sockbuf(proto.recvspace(), 1);
  }

  /** Who waits for this socket (select, poll, blocked calls, the Node handle). */
  get sel(): SelInfo {
    return this;
  }

  get type(): number {
    return this.proto.type;
  }

  /** Wake readers, writers and pollers (sorwakeup/sowwakeup). */
  wakeup(): void {
    this.notify(); // the socket is its own SelInfo (sel)
    const ss = this.sleepers;
    if (ss !== null && ss.length !== 0) this.wakeSleepers(ss);
  }

  /** soisconnected(). */
  isConnected(): void {
    this.state = (this.state & ~(SS_ISCONNECTING | SS_ISDISCONNECTING)) | SS_ISCONNECTED;
    const head = this.head;
    if (head) {
      head.acceptq.push(this);
      head.wakeup();
    }
    this.wakeup();
  }

  /** soisdisconnected(). */
  isDisconnected(): void {
    this.state = (this.state & ~(SS_ISCONNECTING | SS_ISCONNECTED | SS_ISDISCONNECTING)) | SS_CANTRCVMORE | SS_CANTSENDMORE;
    this.wakeup();
  }

  /** socantrcvmore(): the peer will send no more. */
  cantRcvMore(): void {
    this.state |= SS_CANTRCVMORE;
    this.wakeup();
  }

  /**
   * Queue a received record (sbappendaddr); false (and the caller counts a
   * drop) when full or when the socket reads no more. Each record is charged
   * its address besides its data, as sbappendaddr charges the sockaddr, so a
   * flood of empty datagrams cannot queue without bound.
   */
  appendRecord(m: Mbuf, from: Sockaddr | null, hoplimit = -1): boolean {
    if (this.state & SS_CANTRCVMORE) return false;
    if (m.len + SB_RECORD_OVERHEAD * (this.rcv.q.length + 1) > this.rcv.space) return false;
    this.rcv.append(m, from, hoplimit);
    this.wakeup();
    return true;
  }

  /** Report an asynchronous error (ICMP unreachable...) to the next call. */
  setError(errno: number): void {
    this.error = errno;
    this.wakeup();
  }

  /** so_error, taken (cleared), as connect(2) and SO_ERROR take it. */
  takeError(): number {
    const e = this.error;
    this.error = 0;
    return e;
  }

  private wouldBlock(flags: number): boolean {
    return (this.fflags & O_NONBLOCK) !== 0 || (flags & MSG_DONTWAIT) !== 0;
  }

  /**
   * Sleep until the condition `until` (UNTIL_*) holds, or `timeo` ms pass
   * (EAGAIN; by default the buffer's SO_SNDTIMEO/SO_RCVTIMEO, none without
   * a buffer; a lingering close passes its interval). A blocked call is a Sleeper on the
   * socket's own list, woken by `wakeup` after the SelInfo waiters: no
   * closure per call for the condition, the wake-up or its cancellation.
   */
  private sleep(sb: Sockbuf | null, until: number, timeo: number = sb !== null ? sb.timeo : 0): Promise<void> {
    const s = new Sleeper(this, until);
    const p = new Promise<void>((resolve, reject) => {
      s.resolve = resolve;
      s.reject = reject;
    });
    // A thread asleep in the kernel keeps its host process alive, as a
    // pending read on a Node handle does.
    s.release = this.kernel.host.hold();
    if (timeo > 0) {
      const t = this.kernel.callouts.create(sleepTimedOut, s);
      t.reset(timeo);
      s.timer = t;
    }
    (this.sleepers ??= []).push(s);
    return p;
  }

  /** Whether a blocked call waiting for `until` may go on. */
  private ready(until: number): boolean {
    if (this.error !== 0) return true;
    switch (until) {
      case UNTIL_ACCEPT:
        return this.acceptq.length > 0 || this.closed;
      case UNTIL_CONNECTED:
        return !(this.state & SS_ISCONNECTING);
      case UNTIL_SEND_SPACE:
        return this.snd.space > 0 || (this.state & SS_CANTSENDMORE) !== 0;
      case UNTIL_RECORD:
        return this.rcv.q.length > 0 || (this.state & SS_CANTRCVMORE) !== 0;
      case UNTIL_DATA:
        return this.rcv.cc > 0 || (this.state & SS_CANTRCVMORE) !== 0;
      default: // UNTIL_DISCONNECTED
        return !(this.state & SS_ISCONNECTED);
    }
  }

  /** Let go of the sleepers whose condition now holds. */
  private wakeSleepers(ss: Sleeper[]): void {
    let kept = 0;
    for (let i = 0; i < ss.length; i++) {
      const s = ss[i]!;
      if (this.ready(s.until)) {
        s.timer?.stop();
        s.release();
        s.resolve();
      } else {
        ss[kept++] = s;
      }
    }
    ss.length = kept;
    // No list kept for a socket nobody sleeps on (connect sleeps once, then the socket idles).
    if (kept === 0) this.sleepers = null;
  }

  /** @internal A sleeper's timeout ran out (SO_RCVTIMEO, SO_SNDTIMEO, the linger time): EAGAIN. */
  timedOut(s: Sleeper): void {
    const ss = this.sleepers;
    const i = ss === null ? -1 : ss.indexOf(s);
    if (i < 0) return;
    ss!.splice(i, 1);
    s.release();
    s.reject(new Errno(EAGAIN));
  }

  poll(events: number): number {
    let r = 0;
    if (events & (POLLIN | POLLRDNORM)) {
      if (this.rcv.q.length > 0 || this.state & SS_CANTRCVMORE || this.acceptq.length > 0 || this.error) r |= events & (POLLIN | POLLRDNORM);
    }
    if (events & POLLOUT) {
      const connReq = (this.proto.flags & PR_CONNREQUIRED) !== 0;
      if ((!connReq || this.state & SS_ISCONNECTED) && this.snd.space >= this.snd.lowat && !(this.state & SS_CANTSENDMORE)) r |= POLLOUT;
      if (this.state & SS_CANTSENDMORE) r |= POLLOUT;
    }
    // Urgent data pending (BSD sopoll): the mark is ahead or here.
    if (events & (POLLPRI | POLLRDBAND) && this.state & SS_POLLRDBAND && this.urgentMark() >= 0) r |= events & (POLLPRI | POLLRDBAND);
    if (this.error) r |= POLLERR;
    if ((this.state & (SS_CANTRCVMORE | SS_CANTSENDMORE)) === (SS_CANTRCVMORE | SS_CANTSENDMORE) && this.proto.flags & PR_CONNREQUIRED) r |= POLLHUP;
    return r;
  }

  /**
   * Bytes before the urgent mark (0: at it), -1 when none is pending; the
   * flag goes once the mark is read past. Only asked with SS_POLLRDBAND set.
   */
  private urgentMark(): number {
    const mark = this.proto.oobmark?.(this) ?? -1;
    if (mark < 0) this.state &= ~(SS_POLLRDBAND | SS_RCVATMARK);
    else if (mark === 0) this.state |= SS_RCVATMARK;
    else this.state &= ~SS_RCVATMARK;
    return mark;
  }

  ioctl(cmd: string, arg: unknown): unknown {
    if (cmd === 'FIONREAD') return this.rcv.cc;
    // At the urgent mark: 1 when the next byte read is the urgent byte (BSD, RFC 6093 §2: one before the pointer).
    if (cmd === 'SIOCATMARK') return this.state & SS_POLLRDBAND && this.urgentMark() === 0 ? 1 : 0;
    if (cmd === 'FIONBIO') {
      this.fflags = arg ? this.fflags | O_NONBLOCK : this.fflags & ~O_NONBLOCK;
      return 0;
    }
    return this.proto.ioctl(this, cmd, arg);
  }

  bind(addr: Sockaddr): void {
    this.proto.bind(this, addr);
    this.state |= SS_ISBOUND;
  }

  listen(backlog: number): void {
    if (!(this.proto.flags & PR_LISTEN)) throw new Errno(EOPNOTSUPP);
    this.proto.listen(this, backlog);
    // NetBSD solisten: the backlog is cut to kern.somaxconn; the accept
    // queue then holds at most 3/2 of it (sonewconn), counted as sc_aborted.
    const max = NETSTACK.peek(this.kernel)?.somaxconn ?? DEFAULT_SOMAXCONN;
    this.qlimit = backlog < 0 ? 0 : Math.min(backlog, max);
    if (this.acceptq === NO_SOCKETS) this.acceptq = [];
    this.options |= SO_ACCEPTCONN;
    this.wakeup();
  }

  async accept(): Promise<Socket> {
    if (!(this.options & SO_ACCEPTCONN)) throw new Errno(EINVAL);
    for (;;) {
      const so = this.acceptq.shift();
      if (so) {
        so.head = null;
        return so;
      }
      const e = this.takeError();
      if (e) throw new Errno(e);
      if (this.wouldBlock(0)) throw new Errno(EAGAIN);
      await this.sleep(this.rcv, UNTIL_ACCEPT);
      if (this.closed) throw new Errno(EINVAL);
    }
  }

  /**
   * connect(2). For connection-oriented protocols, as NetBSD's
   * do_sys_connect: a connect under way answers EALREADY, a connected socket
   * EISCONN; after the protocol started the handshake a non-blocking socket
   * answers EINPROGRESS, a blocking one sleeps until it is connected or
   * failed (and then reports so_error).
   */
  /** soconnect's refusals before the protocol is asked: an errno, or 0. */
  private connectRefusal(connReq: boolean): number {
    if (this.options & SO_ACCEPTCONN) return EOPNOTSUPP;
    if (!connReq) return 0;
    if (this.state & SS_ISCONNECTING) return EALREADY;
    if (this.state & SS_ISCONNECTED) return EISCONN;
    return 0;
  }

  async connect(addr: Sockaddr): Promise<void> {
    const connReq = (this.proto.flags & PR_CONNREQUIRED) !== 0;
    const refused = this.connectRefusal(connReq);
    if (refused) throw new Errno(refused);
    // Awaited only when the protocol answers with a promise (TCP and UDP answer at once).
    const started = this.proto.connect(this, addr);
    if (started instanceof Promise) await started;
    if (!connReq) return;
    if (this.state & SS_ISCONNECTING) {
      if (this.wouldBlock(0)) throw new Errno(EINPROGRESS);
      await this.sleep(null, UNTIL_CONNECTED);
    }
    const e = this.takeError();
    if (e) throw new Errno(e);
  }

  /**
   * A non-blocking connect that answers at once (no promise, nothing
   * thrown), for the in-process Node face, which makes one per connection:
   * -EINPROGRESS while the handshake runs (the caller waits on the socket's
   * SelInfo until SS_ISCONNECTING clears, then reads `error`), 0 when
   * connected at once, -errno on failure. connect's refusals, and only
   * for protocols that need a connection. For protocols whose connect answers at once (TCP's
   * does); one that answers with a promise is decided when it settles.
   */
  connectNow(addr: Sockaddr): number {
    if (!(this.proto.flags & PR_CONNREQUIRED)) return -EOPNOTSUPP;
    const refused = this.connectRefusal(true);
    if (refused) return -refused;
    let started: void | Promise<void>;
    try {
      started = this.proto.connect(this, addr);
    } catch (e) {
      if (e instanceof Errno) return -e.errno;
      throw e;
    }
    if (started instanceof Promise) {
      started.then(
        () => this.wakeup(),
        (e: unknown) => this.setError(e instanceof Errno ? e.errno : EINVAL),
      );
      return -EINPROGRESS;
    }
    if (this.state & SS_ISCONNECTING) return -EINPROGRESS;
    const e = this.takeError();
    return e ? -e : 0;
  }

  shutdown(how: number): void {
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) throw new Errno(EINVAL);
    if (this.proto.flags & PR_CONNREQUIRED && !(this.state & (SS_ISCONNECTED | SS_ISCONNECTING))) throw new Errno(ENOTCONN);
    if (how !== SHUT_WR) this.flushRcv();
    if (how !== SHUT_RD) {
      this.state |= SS_CANTSENDMORE;
      this.proto.shutdown(this);
    }
    this.wakeup();
  }

  /** sorflush(): discard what is queued and read nothing more. */
  private flushRcv(): void {
    this.state |= SS_CANTRCVMORE;
    for (const r of this.rcv.q) this.kernel.mbufs.free(r.m);
    this.rcv.q.length = 0;
    this.rcv.cc = 0;
    this.rcv.headOff = 0;
  }

  sendto(data: Uint8Array, flags: number, to: Sockaddr | null): Promise<number> {
    if (flags & MSG_OOB && !(this.proto.flags & PR_URGENT)) return Promise.reject(new Errno(EOPNOTSUPP));
    if (this.proto.flags & PR_ATOMIC) {
      try {
        return Promise.resolve(this.sendRecord(data, flags, to));
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    return this.sendStream(data, flags, to);
  }

  /**
   * sendto for a datagram (atomic) protocol, which never sleeps: the
   * length sent, or an Errno thrown. The in-process dgram face calls it
   * directly, without a promise per datagram.
   */
  sendRecord(data: Uint8Array, flags: number, to: Sockaddr | null): number {
    this.sendCheck(to);
    if (data.length > this.snd.hiwat) throw new Errno(EMSGSIZE);
    const m = this.kernel.mbufs.copyin(data, 0, data.length, DEFAULT_HEADROOM, true);
    if (!m) throw new Errno(ENOBUFS);
    this.proto.send(this, m, to, flags);
    return data.length;
  }

  /**
   * What sendto checks first, for every protocol: shutdown, a pending error,
   * the destination. True for an implied connect (Protosw.impliedConnect).
   */
  private sendCheck(to: Sockaddr | null): boolean {
    if (this.state & SS_CANTSENDMORE) throw new Errno(EPIPE);
    const e = this.takeError();
    if (e) throw new Errno(e);
    if (this.proto.flags & PR_CONNREQUIRED) {
      if (!(this.state & SS_ISCONNECTED)) {
        if (to && !(this.state & SS_ISCONNECTING) && this.proto.impliedConnect?.(this)) return true;
        throw new Errno(ENOTCONN);
      }
      if (to) throw new Errno(EISCONN);
    } else if (!to && !(this.state & SS_ISCONNECTED)) {
      throw new Errno(this.proto.flags & PR_ADDR ? EDESTADDRREQ : ENOTCONN);
    } else if (to && this.state & SS_ISCONNECTED) {
      throw new Errno(EISCONN);
    }
    return false;
  }

  private async sendStream(data: Uint8Array, flags: number, to: Sockaddr | null): Promise<number> {
    // Streams: copy into the send buffer as space allows; the protocol drains it.
    let sent = this.sendCheck(to) ? this.sendImplied(data, flags, to!) : 0;
    while (sent < data.length) {
      if (this.state & SS_CANTSENDMORE) {
        if (sent > 0) return sent;
        throw new Errno(EPIPE);
      }
      const err = this.takeError();
      if (err) throw new Errno(err);
      const space = this.snd.space;
      if (space <= 0) {
        if (this.wouldBlock(flags)) {
          if (sent > 0) return sent;
          throw new Errno(EAGAIN);
        }
        await this.sleep(this.snd, UNTIL_SEND_SPACE);
        continue;
      }
      const room = Math.min(space, data.length - sent);
      const n = this.appendStream(data, sent, room, flags);
      if (n === 0) {
        if (sent > 0) return sent;
        throw new Errno(ENOBUFS);
      }
      sent += n;
      if (n < room) return sent; // out of memory part way: a short write
    }
    return sent;
  }

  /**
   * An implied connect (Protosw.impliedConnect): what the send buffer takes
   * goes in before the connect, so the protocol's first segment may carry
   * it; the bytes queued. A connect that fails takes them back.
   */
  private sendImplied(data: Uint8Array, flags: number, to: Sockaddr): number {
    const n = this.appendStream(data, 0, Math.min(this.snd.space, data.length), flags, false);
    try {
      const started = this.proto.connect(this, to);
      if (started instanceof Promise) void started.catch(() => {});
    } catch (e) {
      for (const r of this.snd.q) this.kernel.mbufs.free(r.m);
      this.snd.q.length = 0;
      this.snd.cc = 0;
      this.snd.headOff = 0;
      throw e;
    }
    return n;
  }

  /**
   * Copy `room` bytes of `data` from `at` into the stream send buffer, a
   * jumbo cluster at a time (the pool reuses those, kern/mbuf.ts), then
   * tell the protocol once, as for one buffer: a send per cluster would let
   * Nagle's "idle" send each cluster's tail as a short segment of its own.
   * Returns the bytes queued: fewer than `room` at the memory limit.
   */
  private appendStream(data: Uint8Array, at: number, room: number, flags: number, tell = true): number {
    let last: Mbuf | null = null;
    let done = 0;
    while (done < room) {
      const n = Math.min(room - done, MJUMBYTES);
      const m = this.kernel.mbufs.copyin(data, at + done, n, 0, true);
      if (!m) break;
      this.snd.append(m, null);
      done += n;
      last = m;
    }
    if (last !== null && tell) this.proto.send(this, last, null, flags);
    return done;
  }

  /**
   * A non-blocking stream send that answers at once (no promise), for the
   * in-process Node face, which makes one per write: queue what the send
   * buffer has room for and return the count, 0 when it has none, or
   * -errno (EPIPE after shutdown, a pending error, ENOTCONN, ENOBUFS at the
   * memory limit). The same checks as sendto, in the same order.
   */
  sendNow(data: Uint8Array): number {
    if (this.proto.flags & PR_ATOMIC || !(this.proto.flags & PR_CONNREQUIRED)) return -EOPNOTSUPP;
    if (this.state & SS_CANTSENDMORE) return -EPIPE;
    const e = this.takeError();
    if (e) return -e;
    if (!(this.state & SS_ISCONNECTED)) return -ENOTCONN;
    const room = Math.min(this.snd.space, data.length);
    if (room <= 0) return 0;
    const n = this.appendStream(data, 0, room, 0);
    return n === 0 ? -ENOBUFS : n;
  }

  /**
   * A non-blocking stream receive that answers at once (no promise): up to
   * `len` bytes, an empty array at end of file, or -errno (EAGAIN when
   * nothing is queued yet, a pending error, ENOTCONN). As recvfrom.
   */
  recvNow(len: number): Uint8Array | number {
    if (this.proto.flags & PR_ATOMIC) return -EOPNOTSUPP;
    if (this.rcv.q.length > 0) return this.takeStream(len, 0).data;
    const e = this.takeError();
    if (e) return -e;
    if (this.state & SS_CANTRCVMORE) return EMPTY;
    if (this.proto.flags & PR_CONNREQUIRED && !(this.state & (SS_ISCONNECTED | SS_ISCONNECTING))) return -ENOTCONN;
    return -EAGAIN;
  }

  /**
   * recvNow into the caller's buffer: up to `len` bytes copied to `dst` at
   * `at`, 0 at end of file, or -errno as recvNow. Nothing is lent, so every
   * cluster consumed goes back to the pool at once: for a reader that copies
   * the bytes anyway (rump_server writing them to its client's connection).
   */
  recvIntoNow(dst: Uint8Array, at: number, len: number): number {
    if (this.proto.flags & PR_ATOMIC) return -EOPNOTSUPP;
    if (this.rcv.q.length > 0) {
      // As takeStream: a read stops at the urgent mark.
      const mark = this.state & SS_POLLRDBAND ? this.urgentMark() : -1;
      return this.copyOutStream(dst, at, mark > 0 && len > mark ? mark : len, false);
    }
    const r = this.recvNow(len);
    return typeof r === 'number' ? r : 0;
  }

  async recvfrom(len: number, flags: number): Promise<RecvResult> {
    if (!Number.isInteger(len) || len < 0) throw new Errno(EINVAL);
    // Received urgent data stays inline (TCP behaves as if SO_OOBINLINE were set, RFC 6093 §6),
    // so there is never a byte apart to take: EINVAL, as BSD answers with SO_OOBINLINE on.
    if (flags & MSG_OOB) throw new Errno(this.proto.flags & PR_URGENT ? EINVAL : EOPNOTSUPP);
    const rcv = this.rcv;
    if (flags & MSG_WAITALL && !(flags & MSG_PEEK) && !(this.proto.flags & PR_ATOMIC) && len > 0) return this.recvWaitAll(len, flags);
    for (;;) {
      if (rcv.q.length > 0) {
        if (this.proto.flags & PR_ATOMIC) return this.takeRecord(len, flags);
        return this.takeStream(len, flags);
      }
      const e = this.takeError();
      if (e) throw new Errno(e);
      if (this.state & SS_CANTRCVMORE) return { data: new Uint8Array(0), from: null, flags: 0 };
      if (this.proto.flags & PR_CONNREQUIRED && !(this.state & (SS_ISCONNECTED | SS_ISCONNECTING))) throw new Errno(ENOTCONN);
      if (len === 0) return { data: new Uint8Array(0), from: null, flags: 0 };
      if (this.wouldBlock(flags)) throw new Errno(EAGAIN);
      try {
        await this.sleep(rcv, UNTIL_RECORD);
      } catch (err) {
        if (err instanceof Errno && err.errno === EAGAIN && rcv.timeo > 0) throw new Errno(EAGAIN);
        throw err;
      }
    }
  }

  /**
   * A non-blocking datagram receive that answers at once (no promise), for
   * the in-process dgram face: the next record; 0 when nothing more will
   * come (shut down for reading, closed: where recvfrom returns an empty
   * result with no sender); or -errno (EAGAIN when none is queued, a
   * pending error such as ECONNREFUSED).
   */
  recvRecordNow(len: number): RecvResult | number {
    if (!(this.proto.flags & PR_ATOMIC)) return -EOPNOTSUPP;
    if (this.rcv.q.length > 0) return this.takeRecord(len, 0);
    const e = this.takeError();
    if (e) return -e;
    if (this.state & SS_CANTRCVMORE) return 0;
    return -EAGAIN;
  }

  private takeRecord(len: number, flags: number): RecvResult {
    const rcv = this.rcv;
    const r = rcv.q[0]!;
    const m = r.m;
    const n = Math.min(len, m.len);
    let data: Uint8Array;
    if (n >= RCV_VIEW_MIN && !(flags & MSG_PEEK)) {
      // A large datagram is handed over as it lies, as stream reads are
      // (lendHead): its storage leaves the pool, since the reader keeps it.
      m.cluster = null;
      data = m.buf.subarray(m.off, m.off + n);
    } else data = m.buf.slice(m.off, m.off + n);
    const out: RecvResult = { data, from: r.from, flags: m.len > len ? MSG_TRUNC : 0 };
    if (r.hoplimit >= 0) out.hoplimit = r.hoplimit;
    if (!(flags & MSG_PEEK)) {
      rcv.q.shift();
      rcv.cc -= m.len;
      this.kernel.mbufs.free(m);
      this.proto.rcvd(this);
    }
    return out;
  }

  /**
   * MSG_WAITALL on a stream (soreceive's loop): take what arrives as it
   * arrives, so the receive window keeps opening, until `len` bytes, end of
   * file or an error; what was gathered before EOF, an error, a timeout or
   * O_NONBLOCK ends the wait is returned rather than lost.
   */
  private async recvWaitAll(len: number, flags: number): Promise<RecvResult> {
    const rcv = this.rcv;
    // Handed out whole only once every byte was copied in; a short result
    // is a copy of the part that was.
    const out = this.kernel.host.allocUninit(len);
    let got = 0;
    const partial = (): RecvResult => ({ data: got === len ? out : out.slice(0, got), from: null, flags: 0 });
    for (;;) {
      if (rcv.cc > 0) {
        // MSG_WAITALL stops at the urgent mark too (BSD soreceive).
        const mark = this.state & SS_POLLRDBAND ? this.urgentMark() : -1;
        if (mark === 0 && got > 0) return partial();
        got += this.copyOutStream(out, got, mark > 0 ? Math.min(len - got, mark) : len - got, false);
        if (got === len || (mark > 0 && this.urgentMark() === 0)) return partial();
      }
      if (this.error) {
        if (got > 0) return partial();
        throw new Errno(this.takeError());
      }
      if (this.state & SS_CANTRCVMORE) return partial();
      if (!(this.state & (SS_ISCONNECTED | SS_ISCONNECTING))) {
        if (got > 0) return partial();
        throw new Errno(ENOTCONN);
      }
      if (this.wouldBlock(flags)) {
        if (got > 0) return partial();
        throw new Errno(EAGAIN);
      }
      try {
        await this.sleep(rcv, UNTIL_DATA);
      } catch (err) {
        if (got > 0) return partial();
        throw err;
      }
    }
  }

  private takeStream(len: number, flags: number): RecvResult {
    // A read stops at the urgent mark (BSD soreceive), so SIOCATMARK can tell the urgent byte comes next.
    if (this.state & SS_POLLRDBAND) {
      const mark = this.urgentMark();
      if (mark > 0 && len > mark) len = mark;
    }
    const peek = (flags & MSG_PEEK) !== 0;
    if (!peek) {
      const view = this.lendHead(len);
      if (view !== null) return { data: view, from: null, flags: 0 };
    }
    const n = this.coalesceLength(len, peek);
    // Every byte is copied in below: no need to zero it first.
    const data = this.kernel.host.allocUninit(n);
    this.copyOutStream(data, 0, n, peek);
    return { data, from: null, flags: 0 };
  }

  /**
   * The first record's bytes (up to `len`), consumed and handed to the
   * reader as a view of the record's own storage instead of a copy, when
   * there are at least RCV_VIEW_MIN of them (a whole lo0 segment, or a
   * coalesced run); null when the head is smaller and is copied instead.
   * The record's cluster leaves the pool for good: the reader may keep
   * the view (Node users keep their Buffers), so the kernel must never
   * write into that storage again. Nothing else holds a received mbuf once
   * it is in the receive buffer.
   */
  private lendHead(len: number): Uint8Array | null {
    const rcv = this.rcv;
    const m = rcv.q[0]!.m;
    const start = rcv.headOff;
    const avail = m.len - start;
    const n = avail < len ? avail : len;
    if (n < RCV_VIEW_MIN) return null;
    m.cluster = null;
    const view = m.buf.subarray(m.off + start, m.off + start + n);
    if (n === avail) {
      rcv.q.shift();
      rcv.headOff = 0;
      this.kernel.mbufs.free(m);
    } else rcv.headOff = start + n;
    rcv.cc -= n;
    this.proto.rcvd(this);
    return view;
  }

  /**
   * How many bytes one copying read takes: up to `len`, but not into a
   * record that `lendHead` would hand over as a view on the next read
   * (copying it would be the copy the view saves).
   */
  private coalesceLength(len: number, peek: boolean): number {
    const rcv = this.rcv;
    let n = rcv.q[0]!.m.len - rcv.headOff;
    if (!peek) {
      for (let i = 1; i < rcv.q.length && n < len; i++) {
        const l = rcv.q[i]!.m.len;
        if (l >= RCV_VIEW_MIN) break;
        n += l;
      }
    } else n = rcv.cc;
    return n < len ? n : len;
  }

  /**
   * Copy up to `n` bytes from the front of the stream receive buffer into
   * `dst` at `at`; unless peeking, consume them and tell the protocol (which
   * may open the window). Returns the bytes copied.
   */
  private copyOutStream(dst: Uint8Array, at: number, n: number, peek: boolean): number {
    const rcv = this.rcv;
    if (n > rcv.cc) n = rcv.cc;
    let got = 0;
    let i = 0;
    let headOff = rcv.headOff;
    while (got < n) {
      const r = rcv.q[i]!;
      const avail = r.m.len - headOff;
      const take = Math.min(avail, n - got);
      dst.set(r.m.buf.subarray(r.m.off + headOff, r.m.off + headOff + take), at + got);
      got += take;
      if (take === avail) {
        i++;
        headOff = 0;
      } else headOff += take;
    }
    if (!peek) {
      for (let j = 0; j < i; j++) this.kernel.mbufs.free(rcv.q[j]!.m);
      rcv.q.splice(0, i);
      rcv.headOff = headOff;
      rcv.cc -= n;
      this.proto.rcvd(this);
    }
    return n;
  }

  setsockopt(level: number, name: number, value: SockoptValue): void {
    if (level !== SOL_SOCKET) return this.proto.setopt(this, level, name, value);
    const num = typeof value === 'number' ? value : NaN;
    if (BOOL_OPTS & name && (name & (name - 1)) === 0) {
      if (typeof value !== 'number') throw new Errno(EINVAL);
      this.options = num ? this.options | name : this.options & ~name;
      this.proto.setopt(this, level, name, value);
      return;
    }
    switch (name) {
      case SO_SNDBUF:
      case SO_RCVBUF: {
        if (!Number.isInteger(num) || num <= 0 || num > 64 * 1024 * 1024) throw new Errno(num > 0 ? ENOBUFS : EINVAL);
        const sb = name === SO_SNDBUF ? this.snd : this.rcv;
        sb.hiwat = num;
        sb.autosize = false;
        this.proto.setopt(this, level, name, value);
        return;
      }
      case SO_SNDLOWAT:
      case SO_RCVLOWAT:
        if (!Number.isInteger(num) || num < 0) throw new Errno(EINVAL);
        (name === SO_SNDLOWAT ? this.snd : this.rcv).lowat = num;
        return;
      case SO_SNDTIMEO:
      case SO_RCVTIMEO:
        if (!Number.isFinite(num) || num < 0) throw new Errno(EINVAL);
        (name === SO_SNDTIMEO ? this.snd : this.rcv).timeo = num;
        return;
      case SO_LINGER: {
        if (typeof value !== 'object' || value instanceof Uint8Array) throw new Errno(EINVAL);
        const on = Boolean(value.l_onoff);
        const secs = Number(value.l_linger ?? 0);
        if (!Number.isInteger(secs) || secs < 0) throw new Errno(EINVAL);
        this.options = on ? this.options | SO_LINGER : this.options & ~SO_LINGER;
        this.linger = secs;
        this.proto.setopt(this, level, name, value);
        return;
      }
      default:
        throw new Errno(ENOPROTOOPT);
    }
  }

  getsockopt(level: number, name: number): SockoptValue {
    if (level !== SOL_SOCKET) return this.proto.getopt(this, level, name);
    if (BOOL_OPTS & name && (name & (name - 1)) === 0) return this.options & name ? 1 : 0;
    switch (name) {
      case SO_ACCEPTCONN:
        return this.options & SO_ACCEPTCONN ? 1 : 0;
      case SO_SNDBUF:
        return this.snd.hiwat;
      case SO_RCVBUF:
        return this.rcv.hiwat;
      case SO_SNDLOWAT:
        return this.snd.lowat;
      case SO_RCVLOWAT:
        return this.rcv.lowat;
      case SO_SNDTIMEO:
        return this.snd.timeo;
      case SO_RCVTIMEO:
        return this.rcv.timeo;
      case SO_ERROR:
        return this.takeError();
      case SO_TYPE:
        return this.proto.type;
      case SO_LINGER:
        return { l_onoff: this.options & SO_LINGER ? 1 : 0, l_linger: this.linger };
      default:
        throw new Errno(ENOPROTOOPT);
    }
  }

  getsockname(): Sockaddr {
    return this.proto.sockaddr(this);
  }

  getpeername(): Sockaddr {
    if (!(this.state & (SS_ISCONNECTED | SS_ISCONNECTING))) throw new Errno(ENOTCONN);
    return this.proto.peeraddr(this);
  }

  /**
   * soclose. With SO_LINGER set to a non-zero interval on a blocking,
   * connected socket, close first starts the disconnect (our FIN follows
   * the queued data) and sleeps until the connection is gone or the
   * interval has passed (setsockopt(2): "block ... until it is able to
   * transmit the data or until it decides it is unable to deliver"); then
   * the descriptor goes and the connection, if still there, closes on
   * gracefully without it. A halting kernel does not linger. A zero
   * interval aborts (the protocol's detach sends an RST).
   */
  close(): void | Promise<void> {
    if (this.closed) return;
    if (
      this.options & SO_LINGER && this.linger > 0 && this.state & SS_ISCONNECTED && this.head === null &&
      !(this.fflags & O_NONBLOCK) && this.proto.flags & PR_CONNREQUIRED && !this.kernel.halted
    ) {
      return this.lingerClose();
    }
    this.closeNow();
  }

  private async lingerClose(): Promise<void> {
    if (!(this.state & SS_ISDISCONNECTING)) this.proto.disconnect(this);
    try {
      await this.sleep(null, UNTIL_DISCONNECTED, this.linger * 1000);
    } catch (e) {
      // The interval ran out (EAGAIN from sleep): the descriptor goes anyway.
      if (!(e instanceof Errno) || e.errno !== EAGAIN) throw e;
    } finally {
      this.closeNow();
    }
  }

  private closeNow(): void {
    if (this.closed) return;
    this.closed = true;
    for (const so of this.acceptq.splice(0)) so.close();
    this.flushRcv();
    this.proto.detach(this);
    this.wakeup();
    // Calls still asleep here (a receive on a datagram socket, which no
    // state change wakes) lost their file: EBADF, or the halt's error.
    const ss = this.sleepers;
    if (ss !== null && ss.length !== 0) {
      this.sleepers = null;
      for (const s of ss) {
        s.timer?.stop();
        s.release();
        s.reject(this.kernel.halted ? new KernelHaltedError() : new Errno(EBADF));
      }
    }
  }

  /** Free what the send buffer still holds (the protocol calls this at detach). */
  flushSnd(): void {
    for (const r of this.snd.q) this.kernel.mbufs.free(r.m);
    this.snd.q.length = 0;
    this.snd.cc = 0;
    this.snd.headOff = 0;
  }
}

