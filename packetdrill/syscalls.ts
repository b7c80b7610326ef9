/*
 * A script's system calls, on the kernel's `sys` (kern/sys.ts).
 *
 * Arguments are written with FreeBSD's symbolic names; they are translated
 * to the kernel's values here (the names are the contract, not the
 * numbers). `...` is "the obvious value": local address and --bind_port for
 * bind, remote address and --connect_port for connect, a zero-filled
 * buffer of the given length for write and send. `[x]` is an int passed by
 * pointer; for getsockopt the runner reads the option and compares it with
 * x (and the length with the `[n]` after it).
 *
 * Descriptors are the script's: the runner maps them to the kernel's
 * (which it expects to agree: kern/sys.ts hands out the lowest free one
 * from 3, as the scripts assume).
 *
 * A call resolves with its return value or rejects with the kernel's Errno;
 * it throws ScriptFailure itself for an out-parameter that differs and
 * Unsupported for what the runner cannot express.
 */
import { TCP_REMOTE_UDP_ENCAPS_PORT } from '../net/inet/tcp/tunnel.js';
import type { Expr, SyscallSpec } from './ast.js';
import { ScriptFailure, Unsupported } from './failure.js';
import type { ScriptSocket, SocketTable } from './sockets.js';
import { errnoByName, errnoName } from '../kern/errno.js';
import {
  AF_INET, AF_INET6, AF_UNSPEC, F_GETFL, F_SETFL, MSG_DONTROUTE, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_OOB, MSG_PEEK,
  MSG_WAITALL, O_NONBLOCK, SHUT_RD, SHUT_RDWR, SHUT_WR, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM,
  type Sockaddr, type SockoptValue, type Sys,
} from '../kern/sys.js';
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT } from '../kern/select.js';
import {
  SO_ACCEPTCONN, SO_BROADCAST, SO_DEBUG, SO_DONTROUTE, SO_ERROR, SO_KEEPALIVE, SO_LINGER, SO_OOBINLINE, SO_RCVBUF,
  SO_RCVLOWAT, SO_RCVTIMEO, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF, SO_SNDLOWAT, SO_SNDTIMEO, SO_TYPE, SOL_SOCKET,
} from '../net/socket.js';
import { SOCK_CLOEXEC, SOCK_NONBLOCK } from '../net/inet/domain.js';
import {
  TCP_CONGESTION, TCP_INFO, TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINIT, TCP_KEEPINTVL, TCP_MAXSEG, TCP_MD5SIG, TCP_NODELAY,
  TCP_NOOPT, TCP_NOPUSH, TCP_FASTOPEN,
} from '../net/inet/tcp/usrreq.js';
import { IPPROTO_ICMP, IPPROTO_IP, IPPROTO_RAW, IPPROTO_TCP, IPPROTO_UDP } from '../net/wire/ipv4.js';

/** FreeBSD's access mode bits: a socket descriptor is always open for reading and writing. */
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_ACCMODE = 3;

/**
 * TCP-level options by name, with the kernel's numbers (its TCP follows
 * NetBSD's netinet/tcp.h). Scripts name them, so FreeBSD's numbers never
 * matter; TCP_KEEPINIT and TCP_NOOPT, FreeBSD-only there, exist here too.
 */
export const TCP_OPTIONS: ReadonlyMap<string, number> = new Map([
  ['TCP_NODELAY', TCP_NODELAY],
  ['TCP_MAXSEG', TCP_MAXSEG],
  ['TCP_NOPUSH', TCP_NOPUSH],
  ['TCP_NOOPT', TCP_NOOPT],
  ['TCP_MD5SIG', TCP_MD5SIG],
  ['TCP_INFO', TCP_INFO],
  ['TCP_CONGESTION', TCP_CONGESTION],
  ['TCP_CONGCTL', TCP_CONGESTION],
  ['TCP_KEEPINIT', TCP_KEEPINIT],
  ['TCP_KEEPIDLE', TCP_KEEPIDLE],
  ['TCP_KEEPINTVL', TCP_KEEPINTVL],
  ['TCP_KEEPCNT', TCP_KEEPCNT],
  ['TCP_FASTOPEN', TCP_FASTOPEN],
  ['TCP_REMOTE_UDP_ENCAPS_PORT', TCP_REMOTE_UDP_ENCAPS_PORT],
]);

export { TCP_INFO };

/** Symbolic names a script may use as arguments, with the kernel's values. */
const SYMBOLS: ReadonlyMap<string, number> = new Map<string, number>([
  ['AF_UNSPEC', AF_UNSPEC], ['AF_INET', AF_INET], ['AF_INET6', AF_INET6], ['PF_INET', AF_INET], ['PF_INET6', AF_INET6],
  ['SOCK_STREAM', SOCK_STREAM], ['SOCK_DGRAM', SOCK_DGRAM], ['SOCK_RAW', SOCK_RAW],
  ['SOCK_NONBLOCK', SOCK_NONBLOCK], ['SOCK_CLOEXEC', SOCK_CLOEXEC],
  ['IPPROTO_IP', IPPROTO_IP], ['IPPROTO_ICMP', IPPROTO_ICMP], ['IPPROTO_TCP', IPPROTO_TCP], ['IPPROTO_UDP', IPPROTO_UDP],
  ['IPPROTO_RAW', IPPROTO_RAW], ['IPPROTO_IPV6', 41],
  ['SOL_SOCKET', SOL_SOCKET],
  ['SO_DEBUG', SO_DEBUG], ['SO_ACCEPTCONN', SO_ACCEPTCONN], ['SO_REUSEADDR', SO_REUSEADDR], ['SO_KEEPALIVE', SO_KEEPALIVE],
  ['SO_DONTROUTE', SO_DONTROUTE], ['SO_BROADCAST', SO_BROADCAST], ['SO_LINGER', SO_LINGER], ['SO_OOBINLINE', SO_OOBINLINE],
  ['SO_REUSEPORT', SO_REUSEPORT], ['SO_SNDBUF', SO_SNDBUF], ['SO_RCVBUF', SO_RCVBUF], ['SO_SNDLOWAT', SO_SNDLOWAT],
  ['SO_RCVLOWAT', SO_RCVLOWAT], ['SO_SNDTIMEO', SO_SNDTIMEO], ['SO_RCVTIMEO', SO_RCVTIMEO], ['SO_ERROR', SO_ERROR],
  ['SO_TYPE', SO_TYPE],
  ['IP_TOS', 3], ['IP_TTL', 4],
  ['O_RDONLY', O_RDONLY], ['O_WRONLY', O_WRONLY], ['O_RDWR', O_RDWR], ['O_ACCMODE', O_ACCMODE], ['O_NONBLOCK', O_NONBLOCK],
  ['F_GETFL', F_GETFL], ['F_SETFL', F_SETFL],
  ['SHUT_RD', SHUT_RD], ['SHUT_WR', SHUT_WR], ['SHUT_RDWR', SHUT_RDWR],
  ['MSG_OOB', MSG_OOB], ['MSG_PEEK', MSG_PEEK], ['MSG_DONTROUTE', MSG_DONTROUTE], ['MSG_WAITALL', MSG_WAITALL],
  ['MSG_DONTWAIT', MSG_DONTWAIT], ['MSG_NOSIGNAL', MSG_NOSIGNAL],
  ['POLLIN', POLLIN], ['POLLOUT', POLLOUT], ['POLLERR', POLLERR], ['POLLHUP', POLLHUP], ['POLLNVAL', POLLNVAL],
  ...TCP_OPTIONS,
]);

/** What the calls need from the runner. */
export interface SyscallEnv {
  sys: Sys;
  sockets: SocketTable;
  family: number;
  localIp: string;
  remoteIp: string;
  bindPort: number;
  connectPort: number;
}

/** The script's text for an expression, for messages. */
export function exprText(e: Expr): string {
  switch (e.kind) {
    case 'ellipsis':
      return '...';
    case 'int':
      return e.text;
    case 'word':
      return e.name;
    case 'string':
      return `"${e.value}"${e.ellipsis ? '...' : ''}`;
    case 'array':
      return `[${e.items.map(exprText).join(', ')}]`;
    case 'struct':
      return `{${e.fields.map((f) => (f.name ? `${f.name}=` : '') + exprText(f.value)).join(', ')}}`;
    case 'or':
      return e.items.map(exprText).join('|');
    case 'call':
      return `${e.name}(${e.args.map(exprText).join(', ')})`;
  }
}

/** An integer expression: a number, a symbol, an errno name, or an OR of them. */
export function intOf(e: Expr, what: string): number {
  switch (e.kind) {
    case 'int':
      return e.value;
    case 'word': {
      const v = SYMBOLS.get(e.name) ?? (/^E[A-Z0-9]+$/.test(e.name) ? errnoByName(e.name) : undefined);
      if (v === undefined) throw new Unsupported(`${what}: the runner does not know the symbol ${e.name}`);
      return v;
    }
    case 'or':
      return e.items.reduce((acc, x) => acc | intOf(x, what), 0);
    case 'call':
      if ((e.name === 'htons' || e.name === 'htonl') && e.args.length === 1) return intOf(e.args[0]!, what);
      throw new Unsupported(`${what}: the runner does not evaluate ${e.name}(…)`);
    default:
      throw new ScriptFailure(`${what}: expected an integer, found ${exprText(e)}`);
  }
}

/** `[x]` → x (an int by pointer); a bare int is accepted too. */
function pointedInt(e: Expr, what: string): number {
  if (e.kind === 'array') {
    if (e.items.length !== 1) throw new ScriptFailure(`${what}: expected [value], found ${exprText(e)}`);
    return intOf(e.items[0]!, what);
  }
  return intOf(e, what);
}

function arg(call: SyscallSpec, i: number, what: string): Expr {
  const a = call.args[i];
  if (a === undefined) throw new ScriptFailure(`${call.name}: missing argument ${i + 1} (${what})`);
  return a;
}

function argCount(call: SyscallSpec, min: number, max = min): void {
  const n = call.args.length;
  if (n < min || n > max) {
    throw new ScriptFailure(`${call.name} takes ${min === max ? min : `${min} to ${max}`} arguments, the script gives ${n}`);
  }
}

function fdArg(call: SyscallSpec, env: SyscallEnv): number {
  return env.sockets.liveFd(intOf(arg(call, 0, 'descriptor'), `${call.name} descriptor`));
}

/** The data a write-like call sends: `...` is zeros (what packetdrill sends), a string its bytes. */
function dataArg(e: Expr, len: number, what: string): Uint8Array {
  if (e.kind === 'ellipsis') return new Uint8Array(len);
  if (e.kind === 'string') {
    const bytes = new TextEncoder().encode(e.value);
    if (!e.ellipsis && bytes.length < len) throw new ScriptFailure(`${what}: the string has ${bytes.length} bytes, the length says ${len}`);
    const out = new Uint8Array(len);
    out.set(bytes.subarray(0, len));
    return out;
  }
  throw new Unsupported(`${what}: buffer ${exprText(e)} (the runner takes ... or "string")`);
}

/** A sockaddr argument: `...` is the script's default for the call. */
function sockaddrArg(e: Expr, dflt: Sockaddr, what: string): Sockaddr {
  if (e.kind === 'ellipsis') return dflt;
  if (e.kind === 'struct') {
    let port: number | null = null;
    let addr: string | null = null;
    let family = dflt.family;
    for (const f of e.fields) {
      if (f.name === 'sin_port' || f.name === 'sin6_port') port = intOf(f.value, what);
      else if (f.name === 'sa_family' || f.name === 'sin_family') family = intOf(f.value, what);
      else if (f.name === 'sin_addr' && f.value.kind === 'call' && f.value.name === 'inet_addr' && f.value.args[0]?.kind === 'string') {
        addr = f.value.args[0].value;
      } else throw new Unsupported(`${what}: sockaddr field ${exprText(f.value)}`);
    }
    if (port === null || addr === null) throw new ScriptFailure(`${what}: a sockaddr needs sin_port and sin_addr`);
    return { family, addr, port };
  }
  throw new Unsupported(`${what}: address ${exprText(e)} (the runner takes ... or {sa_family=…, sin_port=htons(…), sin_addr=inet_addr("…")})`);
}

/** The length argument that follows a sockaddr: `...` or a number. */
function ignoreLen(e: Expr | undefined): void {
  if (e && e.kind !== 'ellipsis' && e.kind !== 'int' && e.kind !== 'array') throw new ScriptFailure(`address length ${exprText(e)}`);
}

/** How many bytes a getsockopt value occupies, as the kernel would copy it out. */
function optSize(v: SockoptValue): number | null {
  if (typeof v === 'number') return 4;
  if (v instanceof Uint8Array) return v.length;
  if ('l_onoff' in v) return 8;
  return null;
}

function describeValue(name: number, v: number): string {
  if (name === SO_ERROR) return v === 0 ? '0' : `${v} (${errnoName(v)})`;
  return String(v);
}

/** getsockopt's out-parameters: `[value]` (or `...`) and `[len]`. */
function checkOptValue(call: SyscallSpec, optname: number, v: SockoptValue): void {
  const want = arg(call, 3, 'option value');
  const what = `${call.name} ${exprText(arg(call, 2, 'option name'))}`;
  if (want.kind !== 'ellipsis') {
    if (want.kind === 'struct') {
      if (typeof v !== 'object' || v instanceof Uint8Array) throw new ScriptFailure(`${what}: expected ${exprText(want)}, the kernel returned ${String(v)}`);
      for (const f of want.fields) {
        const key = f.name === 'onoff' ? 'l_onoff' : f.name === 'linger' ? 'l_linger' : f.name;
        if (key === null) throw new ScriptFailure(`${what}: struct fields need names`);
        const got = Number(v[key]);
        const exp = intOf(f.value, what);
        if (got !== exp) throw new ScriptFailure(`${what}: ${f.name} expected ${exp}, got ${String(v[key])}`);
      }
    } else {
      const exp = pointedInt(want, what);
      if (typeof v !== 'number') throw new ScriptFailure(`${what}: expected [${exp}], the kernel returned a ${v instanceof Uint8Array ? `${v.length}-byte buffer` : 'structure'}`);
      if (v !== exp) throw new ScriptFailure(`${what}: expected [${describeValue(optname, exp)}], got [${describeValue(optname, v)}]`);
    }
  }
  const len = call.args[4];
  if (len && len.kind !== 'ellipsis') {
    const expLen = pointedInt(len, `${what} length`);
    const size = optSize(v);
    if (size !== null && size !== expLen) throw new ScriptFailure(`${what}: expected length [${expLen}], got [${size}]`);
  }
}

/** A setsockopt value: `[1]`, `1`, `{onoff=1, linger=0}` or a string (TCP_CONGESTION). */
function optValueArg(e: Expr, what: string): SockoptValue {
  if (e.kind === 'struct') {
    const out: Record<string, number> = {};
    for (const f of e.fields) {
      if (!f.name) throw new ScriptFailure(`${what}: struct fields need names`);
      out[f.name === 'onoff' ? 'l_onoff' : f.name === 'linger' ? 'l_linger' : f.name] = intOf(f.value, what);
    }
    return out;
  }
  if (e.kind === 'string') return new TextEncoder().encode(e.value);
  return pointedInt(e, what);
}

/** recv/send flags. */
function flagsArg(call: SyscallSpec, i: number): number {
  const e = call.args[i];
  return e === undefined ? 0 : intOf(e, `${call.name} flags`);
}

/**
 * Run one system call. `expectFd` is the descriptor the script says a
 * socket()/accept() returns, so the runner can map it.
 */
export async function runSyscall(call: SyscallSpec, env: SyscallEnv, expectFd: number | null): Promise<number> {
  const { sys, sockets } = env;
  const name = call.name;
  switch (name) {
    case 'socket': {
      argCount(call, 3);
      const d = arg(call, 0, 'domain');
      const domain = d.kind === 'ellipsis' ? env.family : intOf(d, 'socket domain');
      const type = intOf(arg(call, 1, 'type'), 'socket type');
      const protocol = intOf(arg(call, 2, 'protocol'), 'socket protocol');
      const fd = await sys.socket(domain, type, protocol);
      const s = sockets.create((type & 0xff) === SOCK_DGRAM ? 'udp' : 'tcp');
      sockets.attachFd(s, expectFd ?? fd, fd);
      return expectFd ?? fd;
    }
    case 'bind': {
      argCount(call, 3);
      const fd = fdArg(call, env);
      // packetdrill binds to the wildcard address and --bind_port.
      const wildcard = env.family === AF_INET6 ? '::' : '0.0.0.0';
      const addr = sockaddrArg(arg(call, 1, 'address'), { family: env.family, addr: wildcard, port: env.bindPort }, 'bind');
      ignoreLen(call.args[2]);
      await sys.bind(fd, addr);
      const s = sockets.byFd(intOf(call.args[0]!, 'bind descriptor'));
      if (s) s.localPort = addr.port;
      return 0;
    }
    case 'listen': {
      argCount(call, 2);
      const fd = fdArg(call, env);
      await sys.listen(fd, intOf(arg(call, 1, 'backlog'), 'listen backlog'));
      const s = sockets.byFd(intOf(call.args[0]!, 'listen descriptor'));
      if (s) s.state = 'listening';
      return 0;
    }
    case 'accept': {
      argCount(call, 1, 3);
      const scriptListenFd = intOf(arg(call, 0, 'descriptor'), 'accept descriptor');
      const r = await sys.accept(sockets.liveFd(scriptListenFd));
      const listener = sockets.byFd(scriptListenFd);
      const child: ScriptSocket | undefined = listener ? sockets.nextToAccept(listener) : undefined;
      if (!child) {
        throw new ScriptFailure(
          `accept returned a connection from port ${r.addr.port} the script never started (no SYN was injected to this listener)`,
        );
      }
      if (r.addr.port !== child.remotePort) {
        throw new ScriptFailure(`accept returned the connection from port ${r.addr.port}; the script's connection is from port ${child.remotePort}`);
      }
      child.accepted = true;
      sockets.attachFd(child, expectFd ?? r.fd, r.fd);
      return expectFd ?? r.fd;
    }
    case 'connect': {
      argCount(call, 3);
      const scriptFd = intOf(arg(call, 0, 'descriptor'), 'connect descriptor');
      const to = sockaddrArg(arg(call, 1, 'address'), { family: env.family, addr: env.remoteIp, port: env.connectPort }, 'connect');
      ignoreLen(call.args[2]);
      const s = sockets.byFd(scriptFd);
      if (s) {
        // The SYN (or datagram) goes out inside connect(): the socket must already expect it.
        s.state = 'connecting';
        s.remotePort = to.port;
        sockets.underTest = s;
      }
      await sys.connect(sockets.liveFd(scriptFd), to);
      return 0;
    }
    case 'close': {
      argCount(call, 1);
      const scriptFd = intOf(arg(call, 0, 'descriptor'), 'close descriptor');
      await sys.close(sockets.liveFd(scriptFd));
      sockets.closeFd(scriptFd);
      return 0;
    }
    case 'shutdown': {
      argCount(call, 2);
      await sys.shutdown(fdArg(call, env), intOf(arg(call, 1, 'how'), 'shutdown how'));
      return 0;
    }
    case 'fcntl': {
      argCount(call, 2, 3);
      const fd = fdArg(call, env);
      const cmd = intOf(arg(call, 1, 'command'), 'fcntl command');
      if (cmd === F_GETFL) {
        return sys.fcntl(fd, F_GETFL);
      }
      if (cmd === F_SETFL) {
        const flags = intOf(arg(call, 2, 'flags'), 'fcntl flags');
        // F_SETFL ignores the access mode bits, as on BSD.
        return sys.fcntl(fd, F_SETFL, flags & ~O_ACCMODE);
      }
      throw new Unsupported(`fcntl command ${exprText(call.args[1]!)}: the runner knows F_GETFL and F_SETFL`);
    }
    case 'read':
    case 'recv':
    case 'recvfrom': {
      argCount(call, name === 'read' ? 3 : name === 'recv' ? 4 : 6);
      const fd = fdArg(call, env);
      const len = intOf(arg(call, 2, 'length'), `${name} length`);
      const flags = name === 'read' ? 0 : flagsArg(call, 3);
      const data = name === 'recvfrom' ? (await sys.recvfrom(fd, len, flags)).data : await sys.recv(fd, len, flags);
      return data.length;
    }
    case 'write':
    case 'send':
    case 'sendto': {
      argCount(call, name === 'write' ? 3 : name === 'send' ? 4 : 6);
      const fd = fdArg(call, env);
      const len = intOf(arg(call, 2, 'length'), `${name} length`);
      const data = dataArg(arg(call, 1, 'buffer'), len, name);
      if (name === 'write') return sys.write(fd, data);
      const flags = flagsArg(call, 3);
      if (name === 'send') return sys.send(fd, data, flags);
      const toArg = arg(call, 4, 'address');
      const to = toArg.kind === 'ellipsis' ? { family: env.family, addr: env.remoteIp, port: env.connectPort } : sockaddrArg(toArg, { family: env.family, addr: env.remoteIp, port: env.connectPort }, 'sendto');
      // A TCP socket not yet connecting connects inside sendto (Fast Open's implied connect): expect its SYN, as connect does.
      const s = sockets.byFd(intOf(arg(call, 0, 'descriptor'), 'sendto descriptor'));
      if (s && s.proto === 'tcp' && s.state === 'new') {
        s.state = 'connecting';
        s.remotePort = to.port;
        sockets.underTest = s;
      }
      return sys.sendto(fd, data, flags, to);
    }
    case 'setsockopt': {
      argCount(call, 5);
      const fd = fdArg(call, env);
      const level = intOf(arg(call, 1, 'level'), 'setsockopt level');
      const optname = intOf(arg(call, 2, 'option'), 'setsockopt option');
      await sys.setsockopt(fd, level, optname, optValueArg(arg(call, 3, 'value'), `setsockopt ${exprText(call.args[2]!)}`));
      return 0;
    }
    case 'getsockopt': {
      argCount(call, 5);
      const fd = fdArg(call, env);
      const level = intOf(arg(call, 1, 'level'), 'getsockopt level');
      const optname = intOf(arg(call, 2, 'option'), 'getsockopt option');
      const v = await sys.getsockopt(fd, level, optname);
      checkOptValue(call, optname, v);
      return 0;
    }
    default:
      throw new Unsupported(`system call ${name}() is not supported by the runner`);
  }
}
