/*
 * Errors of the Node-compatible faces (kernel.net, kernel.dgram), shaped
 * the way Node's own `net` and `dgram` shape theirs, so that code written
 * for Node reads them unchanged:
 *
 *   err.code     'ECONNREFUSED'            the symbolic name
 *   err.syscall  'connect'                 the call that failed
 *   err.errno    -111 (on Linux)           Node's number: the negative libuv
 *                                          value of that code on this host
 *   err.rumpErrno 61                       NetBSD's errno, as the rump kernel
 *                                          returned it (kern/errno.ts)
 *   err.address, err.port                  where connect/bind/listen/send went
 *   message      'connect ECONNREFUSED 192.0.2.1:80'
 *
 * Why `errno` follows Node rather than NetBSD: a program run under the
 * hijack cannot know it is talking to a rump kernel, and Node's contract
 * is that `errno` is negative and names a libuv error
 * (`util.getSystemErrorName(err.errno)` throws on a positive number). The
 * kernel's own number stays available, unambiguously, as `rumpErrno`.
 *
 * Handles (handle.ts) report failures the way Node's C++ handles do, as a
 * negative number, but in NetBSD's numbering: `-ECONNREFUSED` is -61.
 * UV_EOF is outside that range.
 */
import { getSystemErrorMap } from 'node:util';
import { EIO, ENOTCONN, Errno, KernelHaltedError, errnoName, strerror } from '../../kern/errno.js';

/** End of stream, as libuv's UV_EOF: what a handle's `onread` gets at EOF. */
export const UV_EOF = -4095;

/** NetBSD's ECANCELED (sys/errno.h): a request cut short by close. */
export const ECANCELED = 87;

/* The host's errno table (libuv's codes and texts) by code, read once: a fact of the host, not of any kernel. */
const hostErrors: ReadonlyArray<[number, [string, string]]> = [...getSystemErrorMap()];
const hostNumbers: ReadonlyMap<string, number> = new Map(hostErrors.map(([n, [name]]) => [name, n] as const));
const hostMessages: ReadonlyMap<string, string> = new Map(hostErrors.map(([, [name, msg]]) => [name, msg] as const));

/** Node's `errno` for a code on this host (negative), or UV_UNKNOWN's when the host has no such code. */
export function nodeErrno(code: string): number {
  return hostNumbers.get(code) ?? hostNumbers.get('UNKNOWN') ?? -4094;
}

/** libuv's text for a code (`address already in use`), falling back to NetBSD's strerror. */
function uvMessage(code: string, rumpErrno: number): string {
  return hostMessages.get(code) ?? strerror(rumpErrno).toLowerCase();
}

/**
 * A failure because the kernel halted: the handle's status is
 * `HALTED - errno`, below every other status, so the error built from it
 * keeps the errno's code and says `kernel halted` (`read ECONNRESET: kernel
 * halted`). Calls report the kernel's ENOTCONN (KernelHaltedError); a
 * stream's read reports ECONNRESET, which the faces take as the end of
 * the socket: the program halted its kernel itself, so its sockets, servers
 * and dgram sockets close as destroy() and close() close them.
 */
export const HALTED = -0x10000;

export function haltedStatus(errno: number): number {
  return HALTED - errno;
}

export function isHaltedStatus(status: number): boolean {
  return status <= HALTED;
}

/** The NetBSD errno in a status, halted or not. */
function errnoOf(status: number): number {
  return status <= HALTED ? HALTED - status : -status;
}

/** A kernel failure as a handle reports it: -errno (NetBSD numbering). */
export function statusOf(e: unknown): number {
  if (e instanceof KernelHaltedError) return haltedStatus(ENOTCONN);
  if (e instanceof Errno) return -e.errno;
  const n = (e as { errno?: unknown } | null)?.errno;
  if (typeof n === 'number' && n > 0 && n < 4096) return -n;
  return -EIO;
}

/** A Node system error: `code`, `errno` (Node's), `syscall`, and `rumpErrno`. */
export interface NodeSystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  rumpErrno: number;
  address?: string;
  port?: number;
  localAddress?: string;
  localPort?: number;
}

function make(message: string, status: number, syscall: string): NodeSystemError {
  const rumpErrno = errnoOf(status);
  const code = errnoName(rumpErrno);
  const err = new Error(message) as NodeSystemError;
  err.errno = nodeErrno(code);
  err.code = code;
  err.syscall = syscall;
  err.rumpErrno = rumpErrno;
  return err;
}

/** `read ECONNRESET` (Node's ErrnoException). */
export function errnoException(status: number, syscall: string, detail?: string): NodeSystemError {
  const code = errnoName(errnoOf(status)) + haltedNote(status);
  return make(detail ? `${syscall} ${code} ${detail}` : `${syscall} ${code}`, status, syscall);
}

function haltedNote(status: number): string {
  return status <= HALTED ? ': kernel halted' : '';
}

/** `connect ECONNREFUSED 192.0.2.1:80` (Node's ExceptionWithHostPort). */
export function exceptionWithHostPort(status: number, syscall: string, address: string, port: number, local?: string): NodeSystemError {
  const code = errnoName(errnoOf(status)) + haltedNote(status);
  let where = port > 0 ? `${address}:${port}` : address;
  if (local) where += ` - Local (${local})`;
  const err = make(`${syscall} ${code} ${where}`, status, syscall);
  err.address = address;
  if (port) err.port = port;
  return err;
}

/** `listen EADDRINUSE: address already in use 0.0.0.0:80` (Node's UVExceptionWithHostPort). */
export function uvExceptionWithHostPort(status: number, syscall: string, address: string, port: number): NodeSystemError {
  const code = errnoName(errnoOf(status));
  const where = port > 0 ? ` ${address}:${port}` : address ? ` ${address}` : '';
  const why = status <= HALTED ? 'kernel halted' : uvMessage(code, errnoOf(status));
  const err = make(`${syscall} ${code}: ${why}${where}`, status, syscall);
  err.address = address;
  if (port) err.port = port;
  return err;
}

/** An error with one of Node's `ERR_*` codes (argument and state errors, not system errors). */
export function nodeError(code: string, message: string, kind: 'Error' | 'TypeError' | 'RangeError' = 'Error'): Error & { code: string } {
  const err = (kind === 'TypeError' ? new TypeError(message) : kind === 'RangeError' ? new RangeError(message) : new Error(message)) as Error & { code: string };
  err.code = code;
  return err;
}
