/*
 * The server half of the `stream` feature (PROTOCOL.md, "Stream calls"):
 * sendall and recvwait on one connected stream socket of a client's process.
 *
 * A remote Node socket cannot afford a round trip per write or per read, and
 * a non-blocking send that takes part of a buffer makes the client send the
 * rest again. So the server does what write(2) does on a blocking socket: it
 * keeps the bytes and copies them into the send buffer as room appears, and
 * answers once every byte is in; recvwait answers with the data as soon as
 * there is some. Both wait on the socket's SelInfo, never on O_NONBLOCK, so
 * the client's descriptor stays non-blocking for its other calls, and the
 * client keeps several of each in flight (a window of sendall bytes, two
 * recvwaits) without waiting for the answers.
 *
 * A descriptor closed while a call waits ends the call with EBADF.
 */
import { EAGAIN, EBADF, EINVAL, Errno } from '../kern/errno.js';
import { POLLIN, POLLOUT } from '../kern/select.js';
import { MSG_DONTWAIT, O_NONBLOCK, type KFile, type RecvResult, type Sockaddr, type Sys } from '../kern/sys.js';
import type { Socket } from '../net/socket.js';

function selWait(file: KFile): Promise<void> {
  return new Promise<void>((resolve) => file.sel.wait(resolve));
}

/** Sleep until `events` may hold on `file`; EBADF if `fd` no longer refers to it (closed meanwhile). */
async function waitReady(sys: Sys, fd: number, file: KFile, events: number, syscall: string): Promise<void> {
  // poll and the wait are taken in one synchronous step: no wake-up falls between.
  if (file.poll(events) === 0) await selWait(file);
  if (!isOpen(sys, fd, file)) throw new Errno(EBADF, syscall);
}

function isOpen(sys: Sys, fd: number, file: KFile): boolean {
  try {
    return sys.file(fd) === file;
  } catch {
    return false;
  }
}

function isEagain(e: unknown): boolean {
  return e instanceof Errno && e.errno === EAGAIN;
}

/**
 * The file `fd` refers to, which must still be `queued`, the file the call
 * was queued on: a call that waited behind others must not act on a socket
 * that took the number of one closed meanwhile.
 */
function fileOf(sys: Sys, fd: number, queued: KFile | undefined, syscall: string): KFile {
  const file = sys.file(fd);
  if (queued !== undefined && file !== queued) throw new Errno(EBADF, syscall);
  return file;
}

/** Copy every byte of `data` into the send buffer of `fd`, waiting for room as write(2) does; the count. */
export async function sendAll(sys: Sys, fd: number, data: Uint8Array, queued?: KFile): Promise<number> {
  const file = fileOf(sys, fd, queued, 'sendall');
  let off = 0;
  while (off < data.length) {
    let n = 0;
    try {
      n = await file.sendto(off === 0 ? data : data.subarray(off), MSG_DONTWAIT, null);
    } catch (e) {
      if (!isEagain(e)) throw e;
    }
    off += n;
    if (off < data.length) await waitReady(sys, fd, file, POLLOUT, 'sendall');
  }
  return off;
}

/** Wait until `fd` has data, EOF (empty result) or an error; at most `len` bytes. */
export async function recvWait(sys: Sys, fd: number, len: number, queued?: KFile): Promise<Uint8Array> {
  if (!Number.isInteger(len) || len <= 0) throw new Errno(EINVAL, 'recvwait');
  const file = fileOf(sys, fd, queued, 'recvwait');
  for (;;) {
    try {
      return (await file.recvfrom(len, MSG_DONTWAIT)).data;
    } catch (e) {
      if (!isEagain(e)) throw e;
    }
    await waitReady(sys, fd, file, POLLIN, 'recvwait');
  }
}

/** What acceptwait answers: the new descriptor (already non-blocking) and both its names. */
export interface Accepted {
  fd: number;
  sockname: Sockaddr;
  peername: Sockaddr | null;
}

/**
 * accept(2) that waits for a connection whatever O_NONBLOCK says, and hands
 * back what the client would otherwise ask in three more calls: the new
 * descriptor set non-blocking, its local and its peer's address.
 */
export async function acceptWait(sys: Sys, fd: number, queued?: KFile): Promise<Accepted> {
  const file = fileOf(sys, fd, queued, 'acceptwait');
  for (;;) {
    await waitReady(sys, fd, file, POLLIN, 'acceptwait');
    let r: { fd: number };
    try {
      r = await sys.accept(fd);
    } catch (e) {
      // Another accept took it first, or nothing was queued after all.
      if (isEagain(e)) continue;
      throw e;
    }
    const nf = sys.file(r.fd);
    nf.fflags |= O_NONBLOCK;
    let peername: Sockaddr | null = null;
    try {
      peername = nf.getpeername();
    } catch {
      // Reset before we got here: the client's first read says so.
    }
    return { fd: r.fd, sockname: nf.getsockname(), peername };
  }
}

/** One datagram (its bytes, its source, MSG_TRUNC), as soon as `fd` has one: recvfrom(2) that waits. */
export async function recvfromWait(sys: Sys, fd: number, len: number, queued?: KFile): Promise<RecvResult> {
  if (!Number.isInteger(len) || len <= 0) throw new Errno(EINVAL, 'recvfromwait');
  const file = fileOf(sys, fd, queued, 'recvfromwait');
  for (;;) {
    try {
      return await file.recvfrom(len, MSG_DONTWAIT);
    } catch (e) {
      if (!isEagain(e)) throw e;
    }
    await waitReady(sys, fd, file, POLLIN, 'recvfromwait');
  }
}

/** Where an InputQueue sends its answers (the server's connection). */
export interface InputSink {
  /** The connection is gone: drop the answers. */
  readonly closed: boolean;
  /** `result` as an array: the pieces of one bytes value (a recvwait answer gathered from several records). */
  inputDone(id: number, method: string, result: Uint8Array | Uint8Array[] | RecvResult): void;
  inputFailed(id: number, method: string, e: Errno): void;
  /**
   * Room in the connection's answer ring for a recvwait answer of up to
   * `len` bytes: the ring, whose data part starts at `answerAt`; null when
   * the ring has no room (the answer then goes out as views).
   */
  answerRoom(len: number): Uint8Array | null;
  /** Where answerRoom's data part starts. */
  readonly answerAt: number;
  /** The recvwait answer put in the room answerRoom gave, `n` > 0 bytes of data: send it. */
  answerSend(id: number, n: number): void;
}

/** One recvwait or recvfromwait waiting. */
interface InputCall {
  id: number;
  method: string;
  len: number;
}

/**
 * A recvwait's answer past its first piece: what else the receive buffer
 * holds, up to `len` bytes in all, as the views (or coalesced copies of
 * small records) the socket hands out, not copied into one buffer. A
 * received record is at most one segment (64 KB with LRO): one each would
 * spend the client's calls in flight on a fraction of the window.
 */
function gather(file: Socket, first: Uint8Array, len: number): Uint8Array[] {
  const parts = [first];
  let total = first.length;
  // Data only: an error or EOF behind it is for the next call to find.
  while (total < len && file.rcv.cc > 0) {
    const r = file.recvNow(len - total);
    if (typeof r === 'number' || r.length === 0) break;
    parts.push(r);
    total += r.length;
  }
  return parts;
}

/** A recvwait's answer at end of file. */
const EMPTY = new Uint8Array(0);

/** A deferred pump of an InputQueue (a softint: no closure per wake-up). */
function pumpLater(q: InputQueue): void {
  q.runDeferred();
}

/**
 * recvwait and recvfromwait on one socket of the kernel, without a promise
 * per call: the calls wait in a queue, in call order, and one wake-up on the
 * socket (a SelInfo registration, no closure per call) answers as many as
 * the data allows. An idle connection of a server holding 100,000 costs
 * this object and its two queued calls.
 *
 * A wake-up answers from a softint, not at once: a TAP batch (or a softint
 * batch of lo0) hands TCP many segments in one go, each waking the socket,
 * and answering the first wake-up would spend a waiting call on one
 * segment's worth while the rest of the batch lands behind it. From the
 * softint, after the batch, a call takes all that arrived (up to its
 * length), so the calls in flight cover the window instead of a few
 * segments, and the client sends fewer of them. recvfromwait answers at
 * once: a datagram is a whole answer.
 */
export class InputQueue {
  private readonly calls: InputCall[] = [];
  /** Registered on the socket's SelInfo. */
  private armed = false;
  /** A deferred pump is queued. */
  private deferred = false;
  private readonly wake: () => void;

  constructor(
    private readonly sys: Sys,
    private readonly fd: number,
    private readonly file: Socket,
    private readonly sink: InputSink,
    private readonly defer: <T>(fn: (arg: T) => void, arg: T) => void,
  ) {
    this.wake = () => {
      this.armed = false;
      if (this.deferred) return;
      // A datagram is an answer of its own: no batch to wait for.
      if (this.calls.length > 0 && this.calls[0]!.method !== 'recvwait') {
        this.pump();
        return;
      }
      this.deferred = true;
      this.defer(pumpLater, this);
    };
  }

  get length(): number {
    return this.calls.length;
  }

  push(id: number, method: string, len: number): void {
    this.calls.push({ id, method, len });
    if (!this.armed && !this.deferred) this.pump();
  }

  /** @internal The softint queued by a wake-up. */
  runDeferred(): void {
    this.deferred = false;
    this.pump();
  }

  /** Nothing to answer yet: wait on the socket, in the same synchronous step as the failed receive (no wake-up falls between). */
  private sleep(): void {
    if (!this.armed) {
      this.armed = true;
      this.file.sel.add(this.wake);
    }
  }

  /** Answer what can be answered now; sleep on the socket for the rest. */
  private pump(): void {
    const calls = this.calls;
    while (calls.length > 0) {
      if (this.sink.closed) {
        calls.length = 0;
        return;
      }
      const c = calls[0]!;
      if (!isOpen(this.sys, this.fd, this.file)) {
        // Closed meanwhile: every call waiting on it ends with EBADF.
        const all = calls.splice(0);
        for (const x of all) this.sink.inputFailed(x.id, x.method, new Errno(EBADF, x.method));
        return;
      }
      if (c.method === 'recvwait') {
        const ring = this.sink.answerRoom(c.len);
        if (ring !== null) {
          // Copied straight into the answer: the clusters go back to the pool now.
          const n = this.file.recvIntoNow(ring, this.sink.answerAt, c.len);
          if (n === -EAGAIN) {
            this.sleep();
            return;
          }
          calls.shift();
          if (n > 0) this.sink.answerSend(c.id, n);
          else if (n === 0) this.sink.inputDone(c.id, c.method, EMPTY);
          else this.sink.inputFailed(c.id, c.method, new Errno(-n, c.method));
          continue;
        }
      }
      const r = c.method === 'recvwait' ? this.file.recvNow(c.len) : this.file.recvRecordNow(c.len);
      if (r === -EAGAIN) {
        this.sleep();
        return;
      }
      calls.shift();
      if (r instanceof Uint8Array && r.length > 0 && r.length < c.len && this.file.rcv.cc > 0) {
        this.sink.inputDone(c.id, c.method, gather(this.file, r, c.len));
      } else if (typeof r !== 'number') this.sink.inputDone(c.id, c.method, r);
      else if (r === 0) this.sink.inputDone(c.id, c.method, { data: new Uint8Array(0), from: null, flags: 0 });
      else this.sink.inputFailed(c.id, c.method, new Errno(-r, c.method));
    }
  }
}
