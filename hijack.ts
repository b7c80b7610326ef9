/*
 * rumphijack for Node programs:
 *
 *   RUMP_SERVER=unix:///tmp/s1 node --import rumpnet/hijack app.js
 *
 * runs an unmodified program with its sockets in the rump kernel served at
 * RUMP_SERVER instead of the host, as NetBSD's rumphijack(3) does for C
 * programs by interposing on the socket system calls. Here the interposing
 * happens one level up, in Node's modules:
 *
 *   node:net    connect/createConnection, Socket (new net.Socket()), and
 *               Server.prototype.listen (so every net.Server, http.Server,
 *               https.Server, tls.Server listens in the rump kernel)
 *   node:dgram  createSocket, Socket
 *   node:http   Agent.prototype.createConnection (http captured net's at load)
 *   node:tls    connect: the TLS runs here, over a TCP socket of the kernel
 *
 * RUMPHIJACK selects what is hijacked, in NetBSD's syntax; only `socket`
 * matters to a Node program (the other keys, path, blanket, sysctl, vfs,
 * modctl, fdoff, concern file system calls and are accepted and ignored):
 *
 *   RUMPHIJACK='socket=all:nolocal'   the default: every family but local
 *   RUMPHIJACK='socket=inet'          IPv4 only (TCP and UDP)
 *   RUMPHIJACK='socket=inet6'         IPv6 only (udp6, IPv6 peers, listen on ::)
 *   RUMPHIJACK='socket=inet:inet6'    both, as the default
 *   RUMPHIJACK='socket=all:noinet6'   every family but inet6 (and local)
 *   RUMPHIJACK='socket=all'           local sockets too: the kernel has
 *                                     none, so they fail (EAFNOSUPPORT)
 *   RUMPHIJACK='socket=none'          nothing (hijack loaded, host used)
 *
 * Names resolve in the kernel's world: node:dns (lookup, resolve*,
 * Resolver, promises) and the hijacked sockets' host names ask the
 * kernel's resolver (its net.resolv configuration, rump.resolvconf), and
 * nothing reaches the host's resolver. Our own key `dns=host` (as in
 * RUMPHIJACK='socket=all:nolocal,dns=host') opts back into the host's;
 * without IPv4 or IPv6 sockets hijacked (socket=none) names stay with the
 * host unless `dns=kernel` says otherwise.
 *
 * Families: inet, inet6, local (alias unix), route. What is not hijacked
 * stays on the host: by default, unix sockets and pipes (IPC, stdio,
 * child processes). An IPv6 destination (and udp6) is inet6, anything
 * else inet. `listen()` without a host, or on `::`, is an AF_INET6 socket
 * as in Node: with inet6 hijacked it listens on :: in the kernel,
 * dual-stack (IPv4 peers show as ::ffff:a.b.c.d), or on 0.0.0.0 when the
 * kernel has no net_netinet6; with only inet hijacked it listens on
 * 0.0.0.0 in the kernel.
 *
 * The connection to the server does not keep the process alive by itself
 * (it is unref'd); the program's own ref'd sockets and servers do, as they
 * would on the host, so a program exits when it is done. If the server
 * goes away, the program's sockets fail as sockets whose peer vanished
 * ('error' with ECONNRESET, EPIPE for a write, the reason in the message);
 * a server that never answers makes the import fail after 10 s (ETIMEDOUT).
 *
 * Limits: a hijacked socket is not `instanceof net.Socket` (Node's TLS
 * would take it for a native stream), and host file descriptors cannot be
 * turned into kernel sockets.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import http from 'node:http';
import tls from 'node:tls';
import dns from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';
import { Buffer } from 'node:buffer';
import { executionAsyncId } from 'node:async_hooks';
import { rumpClient, type RumpClient } from './sysproxy/client.js';
import { createNet, type NetModule, type StreamHandle } from './net/node/net.js';
import { createDgram, type DgramModule } from './net/node/dgram.js';
import type { DnsModule } from './net/node/dns.js';
import { isIP, type AddressInfo, type ConnectReq, type ShutdownReq, type WriteReq } from './net/node/handle.js';
import { UV_EOF } from './net/node/errors.js';
import { EIO, errnoByName } from './kern/errno.js';

/** NetBSD's protocol family names for RUMPHIJACK's socket= list (hijack.c). */
const FAMILIES = ['inet', 'inet6', 'local', 'route'] as const;
export type HijackFamily = (typeof FAMILIES)[number];

/** RUMPHIJACK's keys that act on file system calls, which a Node program makes through the host. */
const IGNORED_KEYS = new Set(['path', 'blanket', 'sysctl', 'vfs', 'modctl', 'fdoff']);

export const DEFAULT_RUMPHIJACK = 'path=/rump,socket=all:nolocal';

/**
 * The families RUMPHIJACK hijacks. Throws an Error naming the bad part of
 * a malformed value, as rumphijack refuses to start on one.
 */
export function parseRumpHijack(value: string | undefined): Set<HijackFamily> {
  const spec = value === undefined || value === '' ? DEFAULT_RUMPHIJACK : value;
  let families: Set<HijackFamily> | null = null;
  for (const part of spec.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const val = eq < 0 ? '' : part.slice(eq + 1);
    if (IGNORED_KEYS.has(key) || key === 'dns') continue;
    if (key !== 'socket') throw new Error(`RUMPHIJACK: unknown key "${key}" in "${spec}"`);
    families = new Set();
    const items = val.split(':');
    for (let i = 0; i < items.length; i++) {
      let item = items[i]!;
      if (item === 'unix') item = 'local';
      if (item === 'nounix') item = 'nolocal';
      if (i === 0 && item === 'all') {
        for (const f of FAMILIES) families.add(f);
      } else if (i === 0 && item === 'none') {
        // nothing
      } else if ((FAMILIES as readonly string[]).includes(item)) {
        families.add(item as HijackFamily);
      } else if (item.startsWith('no') && (FAMILIES as readonly string[]).includes(item.slice(2))) {
        families.delete(item.slice(2) as HijackFamily);
      } else {
        throw new Error(`RUMPHIJACK: unknown socket family "${item}" in "${spec}"`);
      }
    }
  }
  // No socket= at all: NetBSD's default for sockets.
  return families ?? parseRumpHijack('socket=all:nolocal');
}

/**
 * Where node:dns asks (our `dns` key; rumphijack has no resolver to take):
 * `dns=kernel`, the default, sends dns.lookup, dns.resolve*, dns.promises
 * and the hijacked sockets' host names to the kernel's resolver
 * (its resolv.conf and hosts, over its sockets); `dns=host` leaves them all
 * with the host's resolver.
 */
export type HijackDns = 'kernel' | 'host';

export function parseRumpHijackDns(value: string | undefined, families: ReadonlySet<HijackFamily>): HijackDns {
  // Without a dns key, names go where the Internet sockets go: socket=none (or local only) keeps the host's.
  let out: HijackDns = families.has('inet') || families.has('inet6') ? 'kernel' : 'host';
  for (const part of (value ?? '').split(',')) {
    if (!part.startsWith('dns=')) continue;
    const v = part.slice(4);
    if (v !== 'kernel' && v !== 'host') throw new Error(`RUMPHIJACK: unknown dns "${v}" in "${value}" (kernel or host)`);
    out = v;
  }
  return out;
}

/** The node:dns calls the hijack answers from the kernel (dns and dns.promises alike). */
const DNS_CALLS = [
  'lookup', 'lookupService', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCaa', 'resolveCname', 'resolveMx',
  'resolveNaptr', 'resolveNs', 'resolvePtr', 'resolveSoa', 'resolveSrv', 'resolveTxt', 'reverse', 'getServers', 'setServers', 'Resolver',
  'getDefaultResultOrder', 'setDefaultResultOrder',
] as const;

/** Point node:dns (and node:dns/promises) at `kdns`; returns the undo. */
function hijackDns(kdns: DnsModule): () => void {
  const targets: Array<[Record<string, unknown>, Record<string, unknown>]> = [
    [dns as unknown as Record<string, unknown>, kdns as unknown as Record<string, unknown>],
    [dns.promises as unknown as Record<string, unknown>, kdns.promises as unknown as Record<string, unknown>],
  ];
  const saved = targets.map(([host]) => Object.fromEntries(DNS_CALLS.map((n) => [n, host[n]])));
  for (const [host, kernel] of targets) for (const n of DNS_CALLS) if (kernel[n] !== undefined) host[n] = kernel[n];
  // `import { lookup } from 'node:dns'` sees the new functions too.
  syncBuiltinESMExports();
  return () => {
    targets.forEach(([host], i) => Object.assign(host, saved[i]));
    syncBuiltinESMExports();
  };
}

/** listen()'s "every address": no host, or :: (either spelling). */
function anyHost(host: unknown): boolean {
  return host === undefined || host === null || host === '' || host === '::' || host === '::0';
}

/**
 * listen()'s arguments with "every address" made 0.0.0.0: with inet
 * hijacked and inet6 not, the program's listening socket is the kernel's
 * IPv4 one.
 */
function ipv4AnyArgs(args: unknown[]): unknown[] {
  const a0 = args[0];
  if (typeof a0 === 'object' && a0 !== null) {
    const o = a0 as { host?: unknown };
    return anyHost(o.host) ? [{ ...o, host: '0.0.0.0' }, ...args.slice(1)] : args;
  }
  if (typeof a0 === 'function') return [0, '0.0.0.0', ...args];
  if (typeof a0 !== 'number' && typeof a0 !== 'string' && a0 !== undefined && a0 !== null) return args;
  // listen(port?, host?, backlog?, cb?): the host is the string after the port.
  if (typeof args[1] === 'string') return anyHost(args[1]) ? [a0, '0.0.0.0', ...args.slice(2)] : args;
  return [a0 ?? 0, '0.0.0.0', ...args.slice(1)];
}

function isPipeName(s: unknown): boolean {
  return typeof s === 'string' && !(Number(s) >= 0);
}

/** connect()'s options from its argument forms, just enough to decide where it goes. */
function connectTarget(args: unknown[]): { path?: unknown; host?: unknown } {
  const a0 = args[0];
  if (Array.isArray(a0)) return connectTarget(a0 as unknown[]);
  if (typeof a0 === 'object' && a0 !== null) return a0 as { path?: unknown; host?: unknown };
  if (isPipeName(a0)) return { path: a0 };
  return { host: typeof args[1] === 'string' ? args[1] : undefined };
}

const errnoOfCode = (code: unknown): number => (typeof code === 'string' ? errnoByName(code) ?? EIO : EIO);

/**
 * A local stream left on the host, behind the handle shape kernel.net's
 * Socket uses: for `new net.Socket()` (a kernel socket until it connects)
 * connecting to a unix path that is not hijacked.
 */
class HostStreamHandle implements StreamHandle {
  reading = false;
  onread: (nread: number, buf?: Buffer) => void = () => {};
  owner: unknown = null;
  bytesRead = 0;
  bytesWritten = 0;
  writeQueueSize = 0;
  private sock: net.Socket | null = null;
  private connected = false;

  constructor(private readonly hostConnect: typeof net.connect) {}

  connect(req: ConnectReq): number {
    const s = this.hostConnect({ path: req.address });
    this.sock = s;
    s.pause();
    s.once('connect', () => {
      this.connected = true;
      req.oncomplete(0, this as never, req, true, true);
    });
    s.on('data', (d: Buffer) => {
      this.bytesRead += d.length;
      this.onread(d.length, d);
    });
    s.on('end', () => this.onread(UV_EOF));
    s.on('error', (e: NodeJS.ErrnoException) => {
      const status = -errnoOfCode(e.code);
      if (!this.connected) req.oncomplete(status, this as never, req, false, false);
      else this.onread(status);
    });
    return 0;
  }

  readStart(): number {
    this.sock?.resume();
    return 0;
  }

  readStop(): number {
    this.sock?.pause();
    return 0;
  }

  writev(req: WriteReq, chunks: Uint8Array[]): number {
    const s = this.sock;
    if (!s) return -EIO;
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    req.bytes = data.length;
    this.writeQueueSize += data.length;
    s.write(data, (err?: Error | null) => {
      this.writeQueueSize -= data.length;
      if (!err) this.bytesWritten += data.length;
      req.oncomplete(err ? -errnoOfCode((err as NodeJS.ErrnoException).code) : 0);
    });
    return 0;
  }

  shutdown(req: ShutdownReq): number {
    const s = this.sock;
    if (!s) return -EIO;
    s.end(() => req.oncomplete(0));
    return 0;
  }

  close(cb?: () => void): void {
    const s = this.sock;
    if (!s || s.destroyed) {
      if (cb) process.nextTick(cb);
      return;
    }
    if (cb) s.once('close', () => cb());
    s.destroy();
  }

  getsockname(out: Partial<AddressInfo>): number {
    void out;
    return -EIO;
  }

  getpeername(out: Partial<AddressInfo>): number {
    void out;
    return -EIO;
  }

  ref(): void {
    this.sock?.ref();
  }

  getAsyncId(): number {
    return executionAsyncId();
  }

  unref(): void {
    this.sock?.unref();
  }
}

/** What installHijack replaced, so that it can be put back (tests, a second install). */
export interface Hijack {
  readonly families: ReadonlySet<HijackFamily>;
  readonly net: NetModule;
  readonly dgram: DgramModule;
  uninstall(): void;
}

/**
 * Patch node:net, node:dgram, node:http and node:tls so that the families in
 * `families` use `client`'s kernel, and node:dns so that names resolve there
 * (unless `dnsFrom` is 'host').
 */
export function installHijack(client: RumpClient, families: ReadonlySet<HijackFamily>, dnsFrom: HijackDns = 'kernel'): Hijack {
  const orig = {
    connect: net.connect,
    createConnection: net.createConnection,
    Socket: net.Socket,
    Stream: (net as unknown as { Stream: unknown }).Stream,
    listen: net.Server.prototype.listen,
    createSocket: dgram.createSocket,
    DgramSocket: dgram.Socket,
    agentCreateConnection: http.Agent.prototype.createConnection,
    tlsConnect: tls.connect,
  };
  const hostConnect = orig.connect.bind(net) as typeof net.connect;
  const hostLookup = dns.lookup;
  let env = families.has('local') ? client.faceEnv : { ...client.faceEnv, localStream: () => new HostStreamHandle(hostConnect) };
  // dns=host: the kernel's sockets resolve with the host's resolver, as node:dns does.
  if (dnsFrom === 'host') env = { ...env, lookup: (h, o, cb) => hostLookup(h, { family: o.family ?? 0, hints: o.hints ?? 0 }, cb) };
  const undoDns = dnsFrom === 'kernel' ? hijackDns(client.dns) : (): void => {};
  const rnet = createNet(env);
  const rdgram = createDgram(env);
  // The program's autoSelectFamily defaults (--no-network-family-autoselection, net.setDefault…) apply in the kernel too.
  rnet.setDefaultAutoSelectFamily(net.getDefaultAutoSelectFamily());
  rnet.setDefaultAutoSelectFamilyAttemptTimeout(net.getDefaultAutoSelectFamilyAttemptTimeout());
  const hostSetAuto = net.setDefaultAutoSelectFamily;
  const hostSetAutoTimeout = net.setDefaultAutoSelectFamilyAttemptTimeout;
  (net as unknown as Record<string, unknown>).setDefaultAutoSelectFamily = (v: boolean): void => {
    hostSetAuto.call(net, v);
    rnet.setDefaultAutoSelectFamily(v);
  };
  (net as unknown as Record<string, unknown>).setDefaultAutoSelectFamilyAttemptTimeout = (v: number): void => {
    hostSetAutoTimeout.call(net, v);
    rnet.setDefaultAutoSelectFamilyAttemptTimeout(v);
  };

  /** Whether a stream to this target goes to the kernel. */
  const tcpToKernel = (t: { path?: unknown; host?: unknown }): boolean => {
    if (t.path !== undefined && t.path !== null && t.path !== '') return families.has('local');
    const host = typeof t.host === 'string' && t.host !== '' ? t.host : 'localhost';
    return isIP(host) === 6 ? families.has('inet6') : families.has('inet');
  };

  const m = net as unknown as Record<string, unknown>;
  const connect = function (this: unknown, ...args: unknown[]): unknown {
    if (!tcpToKernel(connectTarget(args))) return (orig.connect as (...a: unknown[]) => unknown).apply(net, args);
    return (rnet.connect as (...a: unknown[]) => unknown)(...args);
  };
  m.connect = connect;
  m.createConnection = connect;

  // new net.Socket(): a kernel socket, unless it wraps a host descriptor or handle.
  const HostSocket = orig.Socket as unknown as (...a: unknown[]) => unknown;
  const RumpSocket = rnet.Socket;
  const hijackedSocket = function (this: unknown, options?: unknown): unknown {
    const o = typeof options === 'number' ? { fd: options } : (options as { fd?: unknown; handle?: unknown } | undefined);
    // A host descriptor or handle stays on the host; so does every stream when inet is not hijacked.
    const hostOnly = (o !== undefined && o !== null && (o.fd !== undefined || o.handle !== undefined)) || !families.has('inet');
    if (!new.target) {
      // Called as a function: net.Socket(opts), or a host class's constructor calling net.Socket.call(this, ...) (tty).
      if (this instanceof orig.Socket) return HostSocket.call(this, o);
      return hostOnly ? new orig.Socket(o as net.SocketConstructorOpts) : new RumpSocket(o as never);
    }
    if (hostOnly) return new orig.Socket(o as net.SocketConstructorOpts);
    return Reflect.construct(RumpSocket, [o], (new.target as unknown) === hijackedSocket ? RumpSocket : new.target);
  } as unknown as typeof net.Socket;
  (hijackedSocket as unknown as { prototype: unknown }).prototype = RumpSocket.prototype;
  // `x instanceof net.Socket` holds for host sockets only: Node's TLS takes a net.Socket with a
  // _handle for a native stream, and must wrap a kernel socket as the JS stream it is.
  Object.defineProperty(hijackedSocket, Symbol.hasInstance, {
    value: function (this: unknown, v: unknown): boolean {
      if (this !== hijackedSocket) return Function.prototype[Symbol.hasInstance].call(this, v);
      return v instanceof orig.Socket;
    },
  });
  m.Socket = hijackedSocket;
  m.Stream = hijackedSocket;

  // Every net.Server (http.Server and tls.Server are ones) listens in the kernel.
  const listenToKernel = (args: unknown[]): boolean => {
    const a0 = args[0];
    if (isPipeName(a0)) return families.has('local');
    let host: unknown;
    if (typeof a0 === 'object' && a0 !== null) {
      const o = a0 as { port?: unknown; path?: unknown; host?: unknown; fd?: unknown; handle?: unknown; _handle?: unknown };
      // A descriptor or handle the host already has stays there.
      if (o.fd !== undefined || o.handle !== undefined || o._handle !== undefined) return false;
      if (!('port' in o)) return o.path !== undefined && o.path !== null && o.path !== '' ? families.has('local') : false;
      host = o.host;
    } else {
      host = typeof args[1] === 'string' ? args[1] : undefined;
    }
    // No host, or '::' (any address of either family): the kernel's :: (or 0.0.0.0, below).
    if (anyHost(host)) return families.has('inet') || families.has('inet6');
    return tcpToKernel({ host });
  };
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]): net.Server {
    if (!listenToKernel(args)) return (orig.listen as (...a: unknown[]) => net.Server).apply(this, args);
    rnet.listen(this, ...(families.has('inet6') ? args : ipv4AnyArgs(args)));
    return this;
  } as typeof net.Server.prototype.listen;

  // http captured net.createConnection when it loaded.
  http.Agent.prototype.createConnection = connect as typeof http.Agent.prototype.createConnection;

  // TLS runs in this process, over a kernel TCP socket given as options.socket.
  const tlsConnect = function (...args: unknown[]): tls.TLSSocket {
    let options: tls.ConnectionOptions = {};
    let cb: (() => void) | undefined;
    let i = 0;
    if (typeof args[0] === 'object' && args[0] !== null) options = { ...(args[i++] as tls.ConnectionOptions) };
    else {
      if (args[0] !== undefined && typeof args[0] !== 'function') options.port = Number(args[i++]);
      if (typeof args[i] === 'string') options.host = args[i++] as string;
      if (typeof args[i] === 'object' && args[i] !== null) options = { ...(args[i++] as tls.ConnectionOptions), ...options };
    }
    if (typeof args[i] === 'function') cb = args[i] as () => void;
    if (options.socket || !tcpToKernel(options as { path?: unknown; host?: unknown })) {
      return (orig.tlsConnect as (...a: unknown[]) => tls.TLSSocket).apply(tls, args);
    }
    const o = options as tls.ConnectionOptions & { localAddress?: string; lookup?: unknown };
    const raw = rnet.connect({
      port: o.port, host: o.host ?? 'localhost', localAddress: o.localAddress, timeout: o.timeout, lookup: o.lookup as never,
    });
    const connectTls = orig.tlsConnect as (options: tls.ConnectionOptions, cb?: () => void) => tls.TLSSocket;
    const secure = connectTls.call(tls, { ...options, socket: raw as never }, cb);
    raw.on('error', (e) => secure.destroy(e));
    return secure;
  };
  (tls as unknown as Record<string, unknown>).connect = tlsConnect;

  // dgram: udp4 is inet, udp6 inet6.
  const udpToKernel = (type: unknown): boolean => {
    const t = typeof type === 'object' && type !== null ? (type as { type?: unknown }).type : type;
    return t === 'udp6' ? families.has('inet6') : families.has('inet');
  };
  const d = dgram as unknown as Record<string, unknown>;
  d.createSocket = (type: unknown, listener?: unknown): unknown =>
    udpToKernel(type) ? rdgram.createSocket(type as never, listener as never) : (orig.createSocket as (...a: unknown[]) => unknown)(type, listener);
  const HostDgram = orig.DgramSocket as unknown as new (...a: unknown[]) => unknown;
  const RumpDgram = rdgram.Socket;
  const hijackedDgram = function (this: unknown, type: unknown, listener?: unknown): unknown {
    if (!udpToKernel(type)) return new HostDgram(type, listener);
    return Reflect.construct(RumpDgram, [type, listener], new.target && new.target !== hijackedDgram ? new.target : RumpDgram);
  };
  hijackedDgram.prototype = RumpDgram.prototype;
  d.Socket = hijackedDgram;

  return {
    families,
    net: rnet,
    dgram: rdgram,
    uninstall(): void {
      m.connect = orig.connect;
      m.createConnection = orig.createConnection;
      m.Socket = orig.Socket;
      m.Stream = orig.Stream;
      net.Server.prototype.listen = orig.listen;
      http.Agent.prototype.createConnection = orig.agentCreateConnection;
      (tls as unknown as Record<string, unknown>).connect = orig.tlsConnect;
      d.createSocket = orig.createSocket;
      d.Socket = orig.DgramSocket;
      undoDns();
      (net as unknown as Record<string, unknown>).setDefaultAutoSelectFamily = hostSetAuto;
      (net as unknown as Record<string, unknown>).setDefaultAutoSelectFamilyAttemptTimeout = hostSetAutoTimeout;
    },
  };
}

/*
 * Loaded with --import: connect to RUMP_SERVER before the program runs (so
 * that connection itself is made on the host), then hijack.
 */
const families = parseRumpHijack(process.env['RUMPHIJACK']);
if (process.env['RUMP_SERVER'] === undefined || process.env['RUMP_SERVER'] === '') {
  throw new Error('rumpnet/hijack: RUMP_SERVER is not set (e.g. RUMP_SERVER=unix:///tmp/s1)');
}
const client = await rumpClient();
client.unref();
export const hijack: Hijack = installHijack(client, families, parseRumpHijackDns(process.env['RUMPHIJACK'], families));
