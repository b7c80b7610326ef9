/*
 * Helpers for the sysproxy tests: a kernel to serve, a temporary socket
 * directory, a raw protocol speaker, and a tiny protocol family so that the
 * proxy can be tested with real descriptors before any networking component
 * is linked.
 *
 * The "mailbox" family (AF_LOCAL here) is a datagram socket in the kernel:
 * bind to a port, sendto a port, recvfrom blocks until something arrives
 * (EAGAIN with O_NONBLOCK). It is just enough of a KFile to see descriptor
 * tables, blocking calls and close-on-disconnect through the server.
 */
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { bootKernel } from '../../kern/init.js';
import type { Kernel } from '../../kern/kernel.js';
import { createNodeHost } from '../../hypercall/node.js';
import type { Hypercall } from '../../hypercall/types.js';
import { Errno, EADDRINUSE, EAGAIN, EBADF, EDESTADDRREQ, EOPNOTSUPP, ENOPROTOOPT } from '../../kern/errno.js';
import { SelInfo, POLLIN, POLLOUT } from '../../kern/select.js';
import { AF_LOCAL, O_NONBLOCK, type KFile, type RecvResult, type Sockaddr, type SockoptValue } from '../../kern/sys.js';
import { FrameReader } from '../../sysproxy/protocol.js';

export { AF_LOCAL };

/** A scratch directory for sockets, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rumpsp-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

class Mailbox implements KFile {
  readonly sel = new SelInfo();
  fflags = 0;
  port = -1;
  queue: Array<{ data: Uint8Array; from: number }> = [];
  closed = false;

  constructor(private readonly family: MailboxFamily) {}

  close(): void {
    this.closed = true;
    if (this.port >= 0) this.family.bound.delete(this.port);
    this.family.live.delete(this);
    this.sel.notify();
    this.family.closedOne();
  }

  poll(events: number): number {
    return events & ((this.queue.length > 0 ? POLLIN : 0) | POLLOUT);
  }

  ioctl(cmd: string, arg: unknown): unknown {
    if (cmd === 'ECHO') return arg;
    if (cmd === 'MAP') return new Map();
    if (cmd === 'THROW') throw new TypeError('boom');
    throw new Errno(EOPNOTSUPP);
  }

  bind(addr: Sockaddr): void {
    if (this.family.bound.has(addr.port)) throw new Errno(EADDRINUSE);
    this.port = addr.port;
    this.family.bound.set(addr.port, this);
  }

  listen(): void {
    throw new Errno(EOPNOTSUPP);
  }

  accept(): KFile {
    throw new Errno(EOPNOTSUPP);
  }

  connect(): void {
    throw new Errno(EOPNOTSUPP);
  }

  shutdown(): void {}

  sendto(data: Uint8Array, _flags: number, to: Sockaddr | null): number {
    if (to === null) throw new Errno(EDESTADDRREQ);
    const peer = this.family.bound.get(to.port);
    if (peer !== undefined) {
      peer.queue.push({ data: Uint8Array.from(data), from: this.port });
      peer.sel.notify();
    }
    return data.length;
  }

  recvfrom(len: number): RecvResult | Promise<RecvResult> {
    const take = (): RecvResult => {
      const m = this.queue.shift()!;
      return { data: m.data.subarray(0, len), from: { family: AF_LOCAL, addr: 'mailbox', port: m.from }, flags: 0 };
    };
    if (this.queue.length > 0) return take();
    if (this.fflags & O_NONBLOCK) throw new Errno(EAGAIN);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.closed) reject(new Errno(EBADF));
        else if (this.queue.length > 0) resolve(take());
        else this.sel.wait(check);
      };
      this.sel.wait(check);
    });
  }

  setsockopt(): void {
    throw new Errno(ENOPROTOOPT);
  }

  getsockopt(): SockoptValue {
    throw new Errno(ENOPROTOOPT);
  }

  getsockname(): Sockaddr {
    return { family: AF_LOCAL, addr: 'mailbox', port: this.port };
  }

  getpeername(): Sockaddr {
    throw new Errno(EOPNOTSUPP);
  }
}

export class MailboxFamily {
  readonly family = AF_LOCAL;
  readonly name = 'mailbox';
  readonly bound = new Map<number, Mailbox>();
  readonly live = new Set<Mailbox>();
  private waiters: Array<() => void> = [];

  socreate(): KFile {
    const m = new Mailbox(this);
    this.live.add(m);
    return m;
  }

  /** @internal */
  closedOne(): void {
    if (this.live.size > 0) return;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Resolves when no mailbox is open (at once if none is). */
  allClosed(): Promise<void> {
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** A kernel with no networking components, plus the mailbox family. */
export function mailboxKernel(host: Hypercall = createNodeHost({ env: {} })): { kernel: Kernel; mailboxes: MailboxFamily } {
  const kernel = bootKernel({ components: [], env: {}, host });
  const mailboxes = new MailboxFamily();
  kernel.domains.set(AF_LOCAL, mailboxes);
  return { kernel, mailboxes };
}

/** A raw connection for speaking broken protocol at a server. */
export class RawPeer {
  readonly frames: Array<{ type: number; id: number; payload: Uint8Array }> = [];
  readonly closed: Promise<void>;
  private taken = 0;
  private wake: (() => void) | null = null;
  private readonly reader = new FrameReader({
    frame: (type, id, payload) => {
      this.frames.push({ type, id, payload });
      this.wake?.();
    },
  });

  /** The next frame the server sent (in order). */
  async next(): Promise<{ type: number; id: number; payload: Uint8Array }> {
    while (this.taken >= this.frames.length) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
    return this.frames[this.taken++]!;
  }

  private constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (b: Buffer) => {
      try {
        this.reader.push(b);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => {});
  }

  static connect(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      s.once('connect', () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  write(b: Uint8Array): void {
    this.socket.write(b);
  }
}
