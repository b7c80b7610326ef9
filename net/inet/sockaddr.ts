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
import { AF_INET, AF_INET6, AF_UNSPEC, type Sockaddr } from '../../kern/sys.js';
import { formatInAddr, parseInAddr } from '../wire/inaddr.js';
import { formatIn6Addr, parseIn6Addr } from '../wire/in6addr.js';
import { InAddr, formatAddr } from './in_addr.js';

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

/**
 * The API form of an IPv4 (addr, port) seen by an AF_INET6 socket: the
 * v4-mapped address (RFC 4291 §2.5.5.2) in the text form Node and
 * inet_ntop give it, `::ffff:192.0.2.1`.
 */
export function inToSockaddrMapped(addr: number, port: number): Sockaddr {
  addr >>>= 0;
  if (addr !== lastAddr) {
    lastText = formatInAddr(addr);
    lastAddr = addr;
  }
  return { family: AF_INET6, addr: `::ffff:${lastText}`, port };
}

/* ------------------------------------------------------------------------ */
/*
 * IPv6 socket addresses (struct sockaddr_in6, netinet6/in6.h): callers hand
 * us `{ family: AF_INET6, addr: '2001:db8::1', port: 80 }` (optionally
 * `flowinfo` and `scope_id`, as the C struct has them); PCBs keep the
 * address as 16 bytes. TCP and UDP over IPv6 live in net/inet like their
 * IPv4 halves (NetBSD's netinet/tcp_usrreq.c serves both), so the parsing
 * lives here too.
 *
 *   not an object, or a port that is not an integer 0..65535   EINVAL
 *   family other than AF_INET6                                   EAFNOSUPPORT
 *   address that inet_pton(AF_INET6) refuses                     EINVAL
 *   a zone ("fe80::1%shmif0"): the address without it, scope_id from the
 *   zone when it is a number (interface names are not resolved here)
 */

/** A parsed IPv6 socket address: the address into `addr` (16 bytes, reused), port in host order. */
export interface In6AddrPort {
  readonly addr: Uint8Array;
  port: number;
  scopeId: number;
}

/** A fresh holder for sockaddrToIn6 (callers keep one and reuse it). */
export function newIn6AddrPort(): In6AddrPort {
  return { addr: new Uint8Array(16), port: 0, scopeId: 0 };
}

/** Parse and validate an AF_INET6 sockaddr into `out`. Throws `Errno`. */
export function sockaddrToIn6(sa: unknown, out: In6AddrPort): In6AddrPort {
  if (typeof sa !== 'object' || sa === null) throw new Errno(EINVAL);
  const s = sa as { family?: unknown; addr?: unknown; port?: unknown; scope_id?: unknown };
  if (s.family !== AF_INET6) throw new Errno(EAFNOSUPPORT);
  if (typeof s.addr !== 'string') throw new Errno(EINVAL);
  let text = s.addr;
  let scope = typeof s.scope_id === 'number' && Number.isInteger(s.scope_id) && s.scope_id >= 0 ? s.scope_id : 0;
  const pct = text.indexOf('%');
  if (pct >= 0) {
    const zone = text.slice(pct + 1);
    text = text.slice(0, pct);
    if (/^[0-9]{1,5}$/.test(zone)) scope = Number(zone);
  }
  const addr = parseIn6Addr(text);
  if (addr === null) throw new Errno(EINVAL);
  const port = s.port === undefined ? 0 : s.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 0xffff) throw new Errno(EINVAL);
  out.addr.set(addr);
  out.port = port;
  out.scopeId = scope;
  return out;
}

/** The API form of an IPv6 (addr, port), the address read at `off`: a fresh object, the address in RFC 5952 text. */
export function in6ToSockaddr(addr: Uint8Array, port: number, off = 0): Sockaddr {
  return { family: AF_INET6, addr: formatIn6Addr(addr, off), port };
}

/* ------------------------------------------------------------------------ */
/* Either family as one address type (in_addr.ts). */

/** A parsed socket address of either family: the address as an InAddr (IPv4 v4-mapped), the port. Callers keep one and reuse it. */
export class AddrPort {
  readonly addr = new InAddr();
  port = 0;
  /** AF_INET6: sin6_scope_id (RFC 4007 §6: the zone of a link-local address); 0 otherwise. */
  scopeId = 0;
  private readonly sin: InAddrPort = { addr: 0, port: 0 };
  private readonly sin6 = newIn6AddrPort();

  /** Parse and validate a sockaddr of family `af` (AF_INET or AF_INET6) into this. Throws `Errno`. */
  parse(sa: unknown, af: number): this {
    if (af === AF_INET6) {
      const s6 = sockaddrToIn6(sa, this.sin6);
      this.addr.load(s6.addr, 0);
      this.port = s6.port;
      this.scopeId = s6.scopeId;
    } else {
      const s = sockaddrToIn(sa, this.sin);
      this.addr.setV4(s.addr);
      this.port = s.port;
      this.scopeId = 0;
    }
    return this;
  }
}

/**
 * The API form of (addr, port) for a socket of family `af`: a dotted quad
 * for AF_INET; for AF_INET6 the RFC 5952 text, an IPv4 address v4-mapped
 * (`::ffff:192.0.2.1`, as Node and inet_ntop give it). A fresh object.
 */
export function addrToSockaddr(a: InAddr, port: number, af: number): Sockaddr {
  if (af !== AF_INET6) return inToSockaddr(a.v4(), port);
  if (a.isV4()) return inToSockaddrMapped(a.v4(), port);
  return { family: AF_INET6, addr: formatAddr(a, true), port };
}
