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
import { MSG_DONTWAIT, type KFile, type Sys } from '../kern/sys.js';

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

/** Copy every byte of `data` into the send buffer of `fd`, waiting for room as write(2) does; the count. */
export async function sendAll(sys: Sys, fd: number, data: Uint8Array): Promise<number> {
  const file = sys.file(fd);
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
export async function recvWait(sys: Sys, fd: number, len: number): Promise<Uint8Array> {
  if (!Number.isInteger(len) || len <= 0) throw new Errno(EINVAL, 'recvwait');
  const file = sys.file(fd);
  for (;;) {
    try {
      return (await file.recvfrom(len, MSG_DONTWAIT)).data;
    } catch (e) {
      if (!isEagain(e)) throw e;
    }
    await waitReady(sys, fd, file, POLLIN, 'recvwait');
  }
}
