/*
 * errno values with NetBSD's numbers and strerror(3) texts (sys/errno.h).
 * A failing kernel call rejects with an `Errno`; Node-style callers read
 * `code` ("EADDRINUSE") and `syscall`, C-style callers read `errno` (48).
 */

export const EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7,
  ENOEXEC = 8, EBADF = 9, ECHILD = 10, EDEADLK = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14,
  EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22,
  ENFILE = 23, EMFILE = 24, ENOTTY = 25, EFBIG = 27, ENOSPC = 28, ESPIPE = 29, EROFS = 30,
  EPIPE = 32, EDOM = 33, ERANGE = 34, EAGAIN = 35, EWOULDBLOCK = 35, EINPROGRESS = 36,
  EALREADY = 37, ENOTSOCK = 38, EDESTADDRREQ = 39, EMSGSIZE = 40, EPROTOTYPE = 41,
  ENOPROTOOPT = 42, EPROTONOSUPPORT = 43, ESOCKTNOSUPPORT = 44, EOPNOTSUPP = 45,
  EPFNOSUPPORT = 46, EAFNOSUPPORT = 47, EADDRINUSE = 48, EADDRNOTAVAIL = 49, ENETDOWN = 50,
  ENETUNREACH = 51, ENETRESET = 52, ECONNABORTED = 53, ECONNRESET = 54, ENOBUFS = 55,
  EISCONN = 56, ENOTCONN = 57, ESHUTDOWN = 58, ETOOMANYREFS = 59, ETIMEDOUT = 60,
  ECONNREFUSED = 61, ELOOP = 62, ENAMETOOLONG = 63, EHOSTDOWN = 64, EHOSTUNREACH = 65,
  ENOTEMPTY = 66, ENOSYS = 78, ENOTSUP = 86;

const table: ReadonlyArray<readonly [number, string, string]> = [
  [EPERM, 'EPERM', 'Operation not permitted'],
  [ENOENT, 'ENOENT', 'No such file or directory'],
  [ESRCH, 'ESRCH', 'No such process'],
  [EINTR, 'EINTR', 'Interrupted system call'],
  [EIO, 'EIO', 'Input/output error'],
  [ENXIO, 'ENXIO', 'Device not configured'],
  [E2BIG, 'E2BIG', 'Argument list too long'],
  [ENOEXEC, 'ENOEXEC', 'Exec format error'],
  [EBADF, 'EBADF', 'Bad file descriptor'],
  [ECHILD, 'ECHILD', 'No child processes'],
  [EDEADLK, 'EDEADLK', 'Resource deadlock avoided'],
  [ENOMEM, 'ENOMEM', 'Cannot allocate memory'],
  [EACCES, 'EACCES', 'Permission denied'],
  [EFAULT, 'EFAULT', 'Bad address'],
  [EBUSY, 'EBUSY', 'Device busy'],
  [EEXIST, 'EEXIST', 'File exists'],
  [EXDEV, 'EXDEV', 'Cross-device link'],
  [ENODEV, 'ENODEV', 'Operation not supported by device'],
  [ENOTDIR, 'ENOTDIR', 'Not a directory'],
  [EISDIR, 'EISDIR', 'Is a directory'],
  [EINVAL, 'EINVAL', 'Invalid argument'],
  [ENFILE, 'ENFILE', 'Too many open files in system'],
  [EMFILE, 'EMFILE', 'Too many open files'],
  [ENOTTY, 'ENOTTY', 'Inappropriate ioctl for device'],
  [EFBIG, 'EFBIG', 'File too large'],
  [ENOSPC, 'ENOSPC', 'No space left on device'],
  [ESPIPE, 'ESPIPE', 'Illegal seek'],
  [EROFS, 'EROFS', 'Read-only file system'],
  [EPIPE, 'EPIPE', 'Broken pipe'],
  [EDOM, 'EDOM', 'Numerical argument out of domain'],
  [ERANGE, 'ERANGE', 'Result too large or too small'],
  [EAGAIN, 'EAGAIN', 'Resource temporarily unavailable'],
  [EINPROGRESS, 'EINPROGRESS', 'Operation now in progress'],
  [EALREADY, 'EALREADY', 'Operation already in progress'],
  [ENOTSOCK, 'ENOTSOCK', 'Socket operation on non-socket'],
  [EDESTADDRREQ, 'EDESTADDRREQ', 'Destination address required'],
  [EMSGSIZE, 'EMSGSIZE', 'Message too long'],
  [EPROTOTYPE, 'EPROTOTYPE', 'Protocol wrong type for socket'],
  [ENOPROTOOPT, 'ENOPROTOOPT', 'Protocol option not available'],
  [EPROTONOSUPPORT, 'EPROTONOSUPPORT', 'Protocol not supported'],
  [ESOCKTNOSUPPORT, 'ESOCKTNOSUPPORT', 'Socket type not supported'],
  [EOPNOTSUPP, 'EOPNOTSUPP', 'Operation not supported'],
  [EPFNOSUPPORT, 'EPFNOSUPPORT', 'Protocol family not supported'],
  [EAFNOSUPPORT, 'EAFNOSUPPORT', 'Address family not supported by protocol family'],
  [EADDRINUSE, 'EADDRINUSE', 'Address already in use'],
  [EADDRNOTAVAIL, 'EADDRNOTAVAIL', "Can't assign requested address"],
  [ENETDOWN, 'ENETDOWN', 'Network is down'],
  [ENETUNREACH, 'ENETUNREACH', 'Network is unreachable'],
  [ENETRESET, 'ENETRESET', 'Network dropped connection on reset'],
  [ECONNABORTED, 'ECONNABORTED', 'Software caused connection abort'],
  [ECONNRESET, 'ECONNRESET', 'Connection reset by peer'],
  [ENOBUFS, 'ENOBUFS', 'No buffer space available'],
  [EISCONN, 'EISCONN', 'Socket is already connected'],
  [ENOTCONN, 'ENOTCONN', 'Socket is not connected'],
  [ESHUTDOWN, 'ESHUTDOWN', "Can't send after socket shutdown"],
  [ETOOMANYREFS, 'ETOOMANYREFS', "Too many references: can't splice"],
  [ETIMEDOUT, 'ETIMEDOUT', 'Connection timed out'],
  [ECONNREFUSED, 'ECONNREFUSED', 'Connection refused'],
  [ELOOP, 'ELOOP', 'Too many levels of symbolic links'],
  [ENAMETOOLONG, 'ENAMETOOLONG', 'File name too long'],
  [EHOSTDOWN, 'EHOSTDOWN', 'Host is down'],
  [EHOSTUNREACH, 'EHOSTUNREACH', 'No route to host'],
  [ENOTEMPTY, 'ENOTEMPTY', 'Directory not empty'],
  [ENOSYS, 'ENOSYS', 'Function not implemented'],
  [ENOTSUP, 'ENOTSUP', 'Not supported'],
];

/* The table by number and by name, built once (read-only: the same for every kernel). */
/** The first name the table gives a number. */
const names: ReadonlyMap<number, string> = new Map(table.map(([n, name]) => [n, name] as const).reverse());
const messages: ReadonlyMap<number, string> = new Map(table.map(([n, , msg]) => [n, msg] as const));
const numbers: ReadonlyMap<string, number> = new Map([...table.map(([n, name]) => [name, n] as const), ['EWOULDBLOCK', EAGAIN] as const]);

/** The symbolic name of an errno value ("EINVAL"), or `E<number>` if unknown. */
export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}

/** strerror(3). */
export function strerror(errno: number): string {
  return messages.get(errno) ?? `Unknown error: ${errno}`;
}

/** The errno value of a symbolic name, or undefined. */
export function errnoByName(name: string): number | undefined {
  return numbers.get(name);
}

/**
 * A failed kernel call. Shaped like Node's ErrnoException so that Node-style
 * code can test `err.code === 'ECONNREFUSED'`, and C-style code `err.errno === 61`.
 */
export class Errno extends Error {
  readonly errno: number;
  readonly code: string;
  syscall: string | undefined;

  constructor(errno: number, syscall?: string, detail?: string) {
    const text = strerror(errno);
    super(syscall ? `${syscall}: ${detail ? `${detail}: ` : ''}${text}` : detail ? `${detail}: ${text}` : text);
    this.name = 'Errno';
    this.errno = errno;
    this.code = errnoName(errno);
    this.syscall = syscall;
  }
}

/**
 * What every call on a halted kernel rejects with: ENOTCONN, the errno a
 * rumpclient process gets once its kernel is gone (NetBSD's rumpclient
 * answers ENOTCONN when the connection to the server is dying), with a
 * message that says why: `socket: kernel halted: Socket is not connected`.
 */
export class KernelHaltedError extends Errno {
  constructor(syscall?: string) {
    super(ENOTCONN, syscall, 'kernel halted');
  }
}

