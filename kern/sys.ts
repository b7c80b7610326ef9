/*
 * The BSD system call facade of a kernel (`kernel.sys`): a descriptor table and
 * the calls that act on it. Sockets themselves live in net/ and come in
 * through the protocol families registered in `kernel.domains`; a kernel
 * linked without networking has none, so socket() fails with EAFNOSUPPORT as
 * on a NetBSD kernel without the family.
 *
 * Every call returns a promise. Calls that would block wait on the socket;
 * with O_NONBLOCK they fail with EAGAIN instead. Failures reject with an
 * `Errno` whose `syscall` names the call.
 */
import { Errno, EAFNOSUPPORT, EBADF, EINVAL, EMFILE, ENFILE, ENOSYS, EPERM, KernelHaltedError } from './errno.js';
import { SelInfo, POLLNVAL } from './select.js';
import type { Kernel } from './kernel.js';

export const AF_UNSPEC = 0;
export const AF_LOCAL = 1;
export const AF_INET = 2;
export const AF_ROUTE = 34;
export const AF_INET6 = 24;
export const PF_INET = AF_INET;
export const PF_ROUTE = AF_ROUTE;

export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;

export const O_RDWR = 0x2;
export const O_NONBLOCK = 0x4;
export const F_GETFL = 3;
export const F_SETFL = 4;

export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;

export const MSG_OOB = 0x1;
export const MSG_PEEK = 0x2;
export const MSG_DONTROUTE = 0x4;
export const MSG_WAITALL = 0x40;
export const MSG_DONTWAIT = 0x80;
export const MSG_NOSIGNAL = 0x400;

/** An IPv4 socket address: `{ family: AF_INET, addr: '192.0.2.1', port: 7 }`. */
export interface SockaddrIn {
  family: number;
  addr: string;
  port: number;
}
export type Sockaddr = SockaddrIn;

export interface RecvResult {
  data: Uint8Array;
  from: Sockaddr | null;
  /** MSG_TRUNC when a datagram was longer than asked for. */
  flags: number;
  /**
   * The datagram's hop limit, for a raw IPv6 socket with IPV6_RECVHOPLIMIT
   * on (what recvmsg(2) gives as IPV6_HOPLIMIT ancillary data, RFC 3542 §6.3).
   */
  hoplimit?: number;
}

export interface PollFd {
  fd: number;
  events: number;
  revents?: number;
}

export type SockoptValue = number | Uint8Array | Record<string, number | string | boolean>;

/**
 * What a descriptor refers to. Sockets implement every member; they are the
 * only kind of file a rump kernel has here.
 */
export interface KFile {
  readonly sel: SelInfo;
  /** O_NONBLOCK and friends (fcntl F_GETFL). */
  fflags: number;
  close(): void | Promise<void>;
  /** Events ready now, of those asked. */
  poll(events: number): number;
  ioctl(cmd: string, arg: unknown): unknown;
  bind(addr: Sockaddr): void | Promise<void>;
  listen(backlog: number): void;
  accept(): Promise<KFile> | KFile;
  connect(addr: Sockaddr): void | Promise<void>;
  shutdown(how: number): void;
  sendto(data: Uint8Array, flags: number, to: Sockaddr | null): Promise<number> | number;
  recvfrom(len: number, flags: number): Promise<RecvResult> | RecvResult;
  setsockopt(level: number, name: number, value: SockoptValue): void;
  getsockopt(level: number, name: number): SockoptValue;
  getsockname(): Sockaddr;
  getpeername(): Sockaddr;
}

/** A protocol family, registered by a networking component (NetBSD `struct domain`). */
export interface Domain {
  readonly family: number;
  readonly name: string;
  socreate(type: number, protocol: number): KFile;
}

/** 0, 1 and 2 are a process's stdio: a rump kernel's first socket is 3, as packetdrill expects. */
const FIRST_FD = 3;

/** getrlimit/setrlimit resources (NetBSD sys/resource.h); only the descriptor limit is kept. */
export const RLIMIT_NOFILE = 8;
/** "No limit": setrlimit clamps it to kern.maxfiles for RLIMIT_NOFILE, as NetBSD does. */
export const RLIM_INFINITY = Infinity;

export interface Rlimit {
  /** The soft limit: what the process gets now. */
  cur: number;
  /** The hard limit: how far an unprivileged process may raise `cur`. */
  max: number;
}

/**
 * The lowest free descriptor in O(log n) (POSIX: open/socket/accept return
 * the lowest-numbered free descriptor). Every descriptor below `top` is open
 * or sits in a binary min-heap of freed ones; everything from `top` up is
 * free. So the lowest free descriptor is the heap's root, or `top`.
 */
class FdFreeList {
  top = FIRST_FD;
  private readonly heap: number[] = [];

  lowest(): number {
    return this.heap.length > 0 ? this.heap[0]! : this.top;
  }

  /** Take `lowest()`. */
  take(): number {
    const h = this.heap;
    if (h.length === 0) return this.top++;
    const fd = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      // Sift the last element down from the root.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const c = l + 1 < h.length && h[l + 1]! < h[l]! ? l + 1 : l;
        if (h[c]! >= last) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return fd;
  }

  give(fd: number): void {
    const h = this.heap;
    // Sift up from the end.
    let i = h.length;
    h.push(fd);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= fd) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = fd;
  }
}

/**
 * The calls components add to `sys` (`sys.ext(name, ...args)`), by name.
 * Empty here: each component declares the calls it adds beside the
 * `extend` that adds them, as
 * `declare module '../kern/sys.js' { interface SysExtensions { rtdump: () => RouteInfo[] } }`,
 * so a caller's arguments and result are typed and a name no component
 * declares does not compile.
 */
export interface SysExtensions {}
export type SysExtName = keyof SysExtensions & string;
export type SysExtArgs<N extends SysExtName> = SysExtensions[N] extends (...args: infer A) => unknown ? A : never;
export type SysExtResult<N extends SysExtName> = SysExtensions[N] extends (...args: never[]) => infer R ? Awaited<R> : never;

export class Sys {
  private readonly files: Array<KFile | undefined> = [];
  private readonly free = new FdFreeList();
  /**
   * RLIMIT_NOFILE. A new process may open up to kern.maxfiles descriptors:
   * a rump kernel is usually one server, and NetBSD's historical 1,024 stops
   * an in-process server at 511 connection pairs. Lower it with setrlimit.
   */
  private readonly nofile: Rlimit;
  /**
   * Whether this process may raise its hard limits (NetBSD: kauth, i.e.
   * root). Processes of a rump kernel run with root credentials, as
   * rump_server's clients do on NetBSD; clear it to run one as a user.
   */
  privileged = true;

  /**
   * @param pid  the process id inside the rump kernel (0: proc0, the
   *             kernel's own, which in-process calls run as)
   * @param comm the command name sockstat shows (NetBSD's p_comm; a
   *             rumpclient sends its program name at HELLO)
   */
  constructor(
    private readonly kernel: Kernel,
    readonly pid = 0,
    public comm = 'system',
  ) {
    kernel.procs.add(this);
    this.nofile = { cur: kernel.maxfiles, max: kernel.maxfiles };
  }

  /**
   * Let a component add a call (e.g. `rtmsg` for the routing socket). Calls
   * belong to the kernel, so every process's `Sys` (each rump_server client
   * has its own) sees them. The component declares the call's type in
   * SysExtensions.
   */
  extend<N extends SysExtName>(name: N, fn: SysExtensions[N]): void {
    this.kernel.sysExtensions.set(name, fn as (...args: unknown[]) => unknown);
  }

  /** Open descriptors, for leak checks and `sockstat`. */
  openFds(): number[] {
    const out: number[] = [];
    this.files.forEach((f, i) => {
      if (f) out.push(i);
    });
    return out;
  }

  /** The file behind a descriptor (for the Node face and the server). */
  file(fd: number): KFile {
    const f = Number.isInteger(fd) ? this.files[fd] : undefined;
    if (!f) throw new Errno(EBADF);
    return f;
  }

  /**
   * Install a file in the lowest free descriptor: EMFILE past this process's
   * RLIMIT_NOFILE, ENFILE when the kernel holds kern.maxfiles open files in
   * all (BSD's two errors: this process's table full, the system's).
   */
  fdalloc(f: KFile): number {
    this.fdcheck();
    const fd = this.free.take();
    this.files[fd] = f;
    this.kernel.nfiles++;
    return fd;
  }

  /** Throw what fdalloc would throw now (EMFILE, ENFILE), taking nothing. */
  private fdcheck(): void {
    if (this.free.lowest() >= this.nofile.cur) throw new Errno(EMFILE);
    if (this.kernel.nfiles >= this.kernel.maxfiles) throw new Errno(ENFILE);
  }

  /** Empty a descriptor slot and hand its number back. */
  private fdrelease(fd: number): void {
    this.files[fd] = undefined;
    this.free.give(fd);
    this.kernel.nfiles--;
  }

  /** getrlimit(2). Only RLIMIT_NOFILE is kept; other resources are EINVAL. */
  getrlimit(resource: number): Promise<Rlimit> {
    return this.run('getrlimit', () => {
      if (resource !== RLIMIT_NOFILE) throw new Errno(EINVAL);
      return { cur: this.nofile.cur, max: this.nofile.max };
    });
  }

  /**
   * setrlimit(2), NetBSD's rules (kern_resource.c dosetrlimit): a soft limit
   * above the hard one is EINVAL; raising the hard limit needs privilege
   * (EPERM); both are clamped to kern.maxfiles. Descriptors already open
   * above a lowered limit stay open; new ones fail with EMFILE.
   */
  setrlimit(resource: number, limit: Rlimit): Promise<void> {
    return this.run('setrlimit', () => {
      if (resource !== RLIMIT_NOFILE) throw new Errno(EINVAL);
      const { cur, max } = limit ?? ({} as Rlimit);
      const ok = (v: unknown): v is number => typeof v === 'number' && (Number.isInteger(v) || v === Infinity) && v >= 0;
      if (!ok(cur) || !ok(max) || cur > max) throw new Errno(EINVAL);
      if (max > this.nofile.max && !this.privileged) throw new Errno(EPERM);
      this.nofile.cur = Math.min(cur, this.kernel.maxfiles);
      this.nofile.max = Math.min(max, this.kernel.maxfiles);
    });
  }

  /**
   * Run a call. A halted kernel takes no calls, and a call that was asleep
   * when the kernel halted (its socket closed under it) or that finishes
   * after it fails the same way: KernelHaltedError.
   */
  private async run<T>(syscall: string, fn: () => T | Promise<T>): Promise<T> {
    if (this.kernel.halted) throw new KernelHaltedError(syscall);
    try {
      const r = await fn();
      if (this.kernel.halted) throw new KernelHaltedError(syscall);
      return r;
    } catch (e) {
      if (this.kernel.halted) throw new KernelHaltedError(syscall);
      if (e instanceof Errno) {
        if (!e.syscall) e.syscall = syscall;
        throw e;
      }
      throw e;
    }
  }

  socket(domain: number, type: number, protocol = 0): Promise<number> {
    return this.run('socket', () => this.socketNow(domain, type, protocol));
  }

  /**
   * socket(2) answered at once, for the in-process Node faces (which make
   * one per connection and need no promise for it): the descriptor, or a
   * thrown Errno (KernelHaltedError once halted), as socket() rejects.
   */
  socketNow(domain: number, type: number, protocol = 0): number {
    if (this.kernel.halted) throw new KernelHaltedError('socket');
    const d = this.kernel.domains.get(domain);
    if (!d) throw new Errno(EAFNOSUPPORT);
    return this.fdalloc(d.socreate(type, protocol));
  }

  bind(fd: number, addr: Sockaddr): Promise<void> {
    return this.run('bind', () => this.file(fd).bind(addr));
  }

  listen(fd: number, backlog = 128): Promise<void> {
    return this.run('listen', () => this.file(fd).listen(backlog));
  }

  accept(fd: number): Promise<{ fd: number; addr: Sockaddr }> {
    return this.run('accept', async () => {
      // As BSD's sys_accept, find the descriptor before taking a connection
      // off the queue: out of descriptors, the connection stays queued for
      // a later accept instead of being dropped.
      this.fdcheck();
      const f = await this.file(fd).accept();
      let nfd: number;
      try {
        nfd = this.fdalloc(f);
      } catch (e) {
        // Another call took the last descriptor while this one slept.
        await f.close();
        throw e;
      }
      return { fd: nfd, addr: f.getpeername() };
    });
  }

  connect(fd: number, addr: Sockaddr): Promise<void> {
    return this.run('connect', () => this.file(fd).connect(addr));
  }

  shutdown(fd: number, how: number): Promise<void> {
    return this.run('shutdown', () => this.file(fd).shutdown(how));
  }

  close(fd: number): Promise<void> {
    return this.run('close', () => this.closeNow(fd));
  }

  /**
   * close(2) started at once, for the in-process Node faces: the
   * descriptor is gone on return; a promise only while SO_LINGER holds the
   * close (the file's own close). Throws EBADF for a descriptor not open.
   */
  closeNow(fd: number): void | Promise<void> {
    const f = this.file(fd);
    this.fdrelease(fd);
    return f.close();
  }

  read(fd: number, len: number): Promise<Uint8Array> {
    return this.run('read', async () => (await this.file(fd).recvfrom(len, 0)).data);
  }

  write(fd: number, data: Uint8Array): Promise<number> {
    return this.run('write', () => this.file(fd).sendto(data, 0, null));
  }

  send(fd: number, data: Uint8Array, flags = 0): Promise<number> {
    return this.run('send', () => this.file(fd).sendto(data, flags, null));
  }

  sendto(fd: number, data: Uint8Array, flags: number, to: Sockaddr | null): Promise<number> {
    return this.run('sendto', () => this.file(fd).sendto(data, flags, to));
  }

  recv(fd: number, len: number, flags = 0): Promise<Uint8Array> {
    return this.run('recv', async () => (await this.file(fd).recvfrom(len, flags)).data);
  }

  recvfrom(fd: number, len: number, flags = 0): Promise<RecvResult> {
    return this.run('recvfrom', () => this.file(fd).recvfrom(len, flags));
  }

  setsockopt(fd: number, level: number, name: number, value: SockoptValue): Promise<void> {
    return this.run('setsockopt', () => this.file(fd).setsockopt(level, name, value));
  }

  getsockopt(fd: number, level: number, name: number): Promise<SockoptValue> {
    return this.run('getsockopt', () => this.file(fd).getsockopt(level, name));
  }

  getsockname(fd: number): Promise<Sockaddr> {
    return this.run('getsockname', () => this.file(fd).getsockname());
  }

  getpeername(fd: number): Promise<Sockaddr> {
    return this.run('getpeername', () => this.file(fd).getpeername());
  }

  fcntl(fd: number, cmd: number, arg = 0): Promise<number> {
    return this.run('fcntl', () => {
      const f = this.file(fd);
      // A socket is always open for reading and writing (BSD's falloc: FREAD|FWRITE).
      if (cmd === F_GETFL) return f.fflags | O_RDWR;
      if (cmd === F_SETFL) {
        f.fflags = arg & O_NONBLOCK;
        return 0;
      }
      throw new Errno(EINVAL);
    });
  }

  ioctl(fd: number, cmd: string, arg?: unknown): Promise<unknown> {
    return this.run('ioctl', () => this.file(fd).ioctl(cmd, arg));
  }

  /**
   * poll(2): resolves with the descriptors that have events, after at most
   * `timeoutMs` (negative: wait forever; 0: just look). Returns the array
   * with `revents` filled in.
   */
  poll(fds: PollFd[], timeoutMs = -1): Promise<PollFd[]> {
    return this.run('poll', () => {
      const scan = (): number => {
        let n = 0;
        for (const p of fds) {
          const f = this.files[p.fd];
          p.revents = f ? f.poll(p.events) : POLLNVAL;
          if (p.revents) n++;
        }
        return n;
      };
      if (scan() > 0 || timeoutMs === 0) return fds;
      return new Promise<PollFd[]>((resolve) => {
        /*
         * One registration of `recheck` per file and one on the halt
         * wake-up, all taken back before it sleeps again: a wake-up from
         * one file leaves the others' in place, and a file listed twice
         * would otherwise be woken twice and re-armed twice, doubling at
         * every wake-up (a poll(-1) on a busy socket is woken by each ACK).
         */
        const sels = new Set<SelInfo>();
        let done = false;
        let timer: ReturnType<typeof this.kernel.callouts.create<null>> | null = null;
        // Asleep in poll: keep the host process alive until it returns.
        const release = this.kernel.host.hold();
        const disarm = (): void => {
          for (const s of sels) s.remove(recheck);
          sels.clear();
        };
        const finish = (): void => {
          done = true;
          disarm();
          timer?.stop();
          release();
          resolve(fds);
        };
        const recheck = (): void => {
          if (done) return;
          disarm();
          if (scan() > 0 || this.kernel.halted) finish();
          else arm();
        };
        const arm = (): void => {
          // A halt wakes every poll, whatever it waits for.
          sels.add(this.kernel.haltSel);
          for (const p of fds) {
            const f = this.files[p.fd];
            if (f) sels.add(f.sel);
          }
          for (const s of sels) s.add(recheck);
        };
        arm();
        if (timeoutMs > 0) {
          timer = this.kernel.callouts.create(() => {
            scan();
            finish();
          }, null);
          timer.reset(timeoutMs);
        }
      });
    });
  }

  /** sysctl read by name. */
  sysctl(name: string): Promise<unknown> {
    return this.run('sysctl', () => this.kernel.sysctl.get(name));
  }

  /** sysctl write by name (`sysctl -w`). Values may be strings as typed by a user. */
  sysctlSet(name: string, value: number | string): Promise<void> {
    return this.run('sysctl', () => this.kernel.sysctl.set(name, value));
  }

  /** Every leaf under a prefix (`sysctl -a`, `sysctl net.inet`). */
  sysctlList(prefix = ''): Promise<Array<{ name: string; type: string; value: unknown; writable: boolean }>> {
    return this.run('sysctl', () => this.kernel.sysctl.list(prefix));
  }

  /** A call added by a component (`rtmsg`, ...), typed by its name; ENOSYS when none added it. */
  ext<N extends SysExtName>(name: N, ...args: SysExtArgs<N>): Promise<SysExtResult<N>> {
    return this.run(name, () => {
      const fn = this.kernel.sysExtensions.get(name);
      if (!fn) throw new Errno(ENOSYS);
      return fn(...args);
    }) as Promise<SysExtResult<N>>;
  }

  /** Close everything (halt). */
  async closeAll(): Promise<void> {
    for (let i = 0; i < this.files.length; i++) {
      const f = this.files[i];
      if (f) {
        this.fdrelease(i);
        try {
          await f.close();
        } catch {
          // a file that fails to close at halt is gone anyway
        }
      }
    }
    // Like an exiting process: gone from the process table with its files.
    if (this !== this.kernel.sys) this.kernel.procs.delete(this);
  }
}

