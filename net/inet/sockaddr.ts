/*
 * IPv4 socket addresses at the API edge (NetBSD's struct sockaddr_in checks
 * in in_pcbbind/in_pcbconnect/rip_bind, sockaddr_in in netinet/in.h).
 *
 * Callers hand us `{ family: AF_INET, addr: '192.0.2.1', port: 7 }`
 * (kern/sys.ts SockaddrIn); PCBs keep the address as a u32 in host order and
 * the port as a number. Parsing validates once, here, so protocol code never
 * sees a malformed address:
 *
 *   not an object, or a port that is not an integer 0..65535   EINVAL
 *   family other than AF_INET                                    EAFNOSUPPORT
 *   address that is not a strict dotted quad                     EINVAL
 *
 * A missing port reads as 0, as a zeroed struct sockaddr_in would (raw
 * sockets have no ports; their callers often leave it out).
 */
import { Errno, EAFNOSUPPORT, EINVAL } from '../../kern/errno.js';
import { AF_INET, AF_UNSPEC, type Sockaddr } from '../../kern/sys.js';
import { formatInAddr, parseInAddr } from '../wire/inaddr.js';

/** A parsed IPv4 socket address: address as u32, port in host order. */
export interface InAddrPort {
  addr: number;
  port: number;
}

/** Whether `sa` asks for AF_UNSPEC (connect(2) with it dissolves a datagram association). */
export function sockaddrIsUnspec(sa: unknown): boolean {
  return typeof sa === 'object' && sa !== null && (sa as { family?: unknown }).family === AF_UNSPEC;
}

/**
 * Parse and validate an API sockaddr into `out` (reused by callers on the
 * send path, so a sendto allocates nothing here). Throws `Errno`.
 */
export function sockaddrToIn(sa: unknown, out: InAddrPort): InAddrPort {
  if (typeof sa !== 'object' || sa === null) throw new Errno(EINVAL);
  const s = sa as { family?: unknown; addr?: unknown; port?: unknown };
  if (s.family !== AF_INET) throw new Errno(EAFNOSUPPORT);
  const addr = typeof s.addr === 'string' ? parseInAddr(s.addr) : null;
  if (addr === null) throw new Errno(EINVAL);
  const port = s.port === undefined ? 0 : s.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 0xffff) throw new Errno(EINVAL);
  out.addr = addr;
  out.port = port;
  return out;
}

/*
 * The last address formatted. Input builds a sockaddr for every datagram,
 * and a busy socket mostly hears from the same few peers: reusing the
 * (immutable) string saves formatting it per packet.
 */
let lastAddr = -1;
let lastText = '';

/** The API form of (addr, port). A fresh object: callers keep it. */
export function inToSockaddr(addr: number, port: number): Sockaddr {
  addr >>>= 0;
  if (addr !== lastAddr) {
    lastText = formatInAddr(addr);
    lastAddr = addr;
  }
  return { family: AF_INET, addr: lastText, port };
}
