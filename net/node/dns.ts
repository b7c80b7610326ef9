/*
 * Node's `dns` module on a rump kernel: names resolve in the kernel's
 * world (its resolver configuration and hosts table, net/resolv.ts; its
 * sockets, its clock), never through the host's resolver.
 *
 *   const k = await rumpInit();
 *   await k.resolver.set({ nameservers: ['192.0.2.53'], search: ['lab.example'] });
 *   k.dns.lookup('www', (err, address, family) => ...);    // hosts table, then DNS
 *   await k.dns.promises.resolve4('www.lab.example');
 *   const r = new k.dns.Resolver({ timeout: 1000, tries: 2 }); r.setServers(['192.0.2.54:5353']);
 *
 * The stub resolver speaks DNS (RFC 1035; AAAA per RFC 3596) over the
 * kernel's own UDP sockets, and over TCP when an answer comes back
 * truncated (RFC 7766 section 5). Query IDs come from the kernel's random
 * source and the source port is the kernel's random ephemeral port (RFC
 * 5452: an answer must match ID, server, port and question, or it is
 * dropped and the query keeps waiting). Timeouts are timers on the
 * kernel's clock, so a simulated host resolves in virtual time.
 *
 * What follows what Node does:
 *  - `lookup` is getaddrinfo: the hosts table first, then `localhost`
 *    (RFC 6761), then DNS with resolv.conf's search list and ndots; its
 *    errors are `getaddrinfo ENOTFOUND name` (and EAI_AGAIN when no server
 *    answered).
 *  - `resolve*` are c-ares queries: DNS only, the name as given; errors are
 *    `queryA ENOTFOUND name` (NXDOMAIN), ENODATA, ESERVFAIL, EREFUSED,
 *    ETIMEOUT, ECONNREFUSED, ECANCELLED, with code, syscall and hostname.
 *  - `setServers` on the module changes what `resolve*` use, not `lookup`
 *    (as in Node); the kernel's own servers are set through its
 *    configuration (`k.resolver`, `rump.resolvconf`, `rump.sysctl`).
 */
import hostDns from 'node:dns';
import { domainToASCII } from 'node:url';
import { AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM, type Sys } from '../../kern/sys.js';
import {
  DnsRcode, DnsType, dnsNameEqual, dnsNameValid, encodeDnsQuery, parseDnsMessage, reverseName, type DnsCaa,
  type DnsMessage, type DnsMx, type DnsNaptr, type DnsRecord, type DnsSoa, type DnsSrv,
} from '../wire/dns.js';
import {
  emptyResolvConf, isAddressLiteral, parseServer, resolvFromSysctl, type ResolvConf,
} from '../resolv.js';
import { parseInAddr } from '../wire/inaddr.js';
import { parseIn6Addr } from '../wire/in6addr.js';
import { nodeErrno, nodeError } from './errors.js';
import type { HandleTimer } from './handle.js';

/** The system calls the resolver makes: a kernel's `Sys` or a sysproxy `RemoteSys`. */
export type DnsSys = Pick<Sys, 'socket' | 'connect' | 'send' | 'recv' | 'close' | 'sysctlList'>;

/** What the resolver runs on. */
export interface DnsEnv {
  readonly sys: DnsSys;
  /** A timer on the kernel's clock. */
  timer(fn: () => void): HandleTimer;
  /** Keep the process alive until the returned function is called (a query in flight does, as in Node). */
  hold(): () => void;
  /** 32 random bits from the kernel's random source (query IDs). */
  random32(): number;
  /** The configuration without a system call, where it is at hand (an in-process kernel). */
  resolvConf?(): ResolvConf;
  /**
   * Whether the kernel has IPv6, where that is known without asking it (in
   * process): AI_ADDRCONFIG then leaves AAAA out on a kernel without it.
   */
  readonly inet6?: boolean;
  /**
   * Which families have an address on the kernel's interfaces, asked each
   * time (a remote kernel, whose interfaces change
   * without our knowing): AI_ADDRCONFIG follows it when `inet6` is absent.
   */
  addrconfig?(): Promise<{ inet: boolean; inet6: boolean }>;
}

/** What kernelAddrconfig asks of the kernel. */
export type AddrconfigSys = Pick<Sys, 'socket' | 'ioctl' | 'close'>;

/**
 * AI_ADDRCONFIG's question (RFC 3493 §6.1) put to a kernel: does one of its
 * interfaces have an IPv4 address, an IPv6 address? Every address counts,
 * lo0's too, as glibc's getifaddrs-based check counts them: a kernel without
 * net_netinet6 has no IPv6 address at all (lo0 gets ::1 with it), so it is
 * never asked for AAAA, as in process. One whose interfaces cannot be listed
 * is taken to have both, as getaddrinfo is pessimistic then.
 */
export async function kernelAddrconfig(sys: AddrconfigSys): Promise<{ inet: boolean; inet6: boolean }> {
  let fd: number;
  try {
    fd = await sys.socket(AF_INET, SOCK_DGRAM, 0);
  } catch {
    try {
      fd = await sys.socket(AF_INET6, SOCK_DGRAM, 0);
    } catch {
      return { inet: false, inet6: false };
    }
  }
  try {
    const list = (await sys.ioctl(fd, 'SIOCGIFCONF', undefined)) as Array<{ inet?: Array<{ addr: string }>; inet6?: Array<{ addr: string }> }>;
    let inet = false;
    let inet6 = false;
    for (const i of list) {
      if (i.inet !== undefined && i.inet.length > 0) inet = true;
      if (i.inet6 !== undefined && i.inet6.length > 0) inet6 = true;
    }
    return { inet, inet6 };
  } catch {
    return { inet: true, inet6: true };
  } finally {
    sys.close(fd).catch(() => {});
  }
}

type Cb<T> = (err: NodeJS.ErrnoException | null, result: T) => void;

// ------------------------------------------------------------------ errors

/** A resolve*-style error, as c-ares errors reach Node code: `queryA ENOTFOUND name`. */
function dnsError(code: string, syscall: string, hostname: string): NodeJS.ErrnoException {
  const e = new Error(`${syscall} ${code} ${hostname}`) as NodeJS.ErrnoException & { hostname?: string };
  e.errno = undefined;
  e.code = code;
  e.syscall = syscall;
  e.hostname = hostname;
  return e;
}

/** A lookup error, as getaddrinfo's reach Node code: `getaddrinfo ENOTFOUND name`, errno -3008. */
function gaiError(code: 'ENOTFOUND' | 'EAI_AGAIN', hostname: string): NodeJS.ErrnoException {
  const e = new Error(`getaddrinfo ${code} ${hostname}`) as NodeJS.ErrnoException & { hostname?: string };
  e.errno = nodeErrno(code === 'ENOTFOUND' ? 'EAI_NONAME' : 'EAI_AGAIN');
  e.code = code;
  e.syscall = 'getaddrinfo';
  e.hostname = hostname;
  return e;
}

/** Why a query failed: one of node:dns's codes. */
class QueryFailure extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

// ------------------------------------------------------------------ the stub resolver

interface Server {
  address: string;
  port: number;
}

interface QueryOptions {
  /** Per try, ms; null: the kernel's `timeout`. */
  timeout: number | null;
  /** Rounds over the servers; null: the kernel's `attempts`. */
  tries: number | null;
}

/** Something a cancel() can cut short. */
interface Pending {
  cancelled: boolean;
  fds: Set<number>;
}

async function closeQuietly(sys: DnsSys, fd: number): Promise<void> {
  try {
    await sys.close(fd);
  } catch {
    // already gone (timed out, cancelled)
  }
}

/**
 * Ask `server` about (name, type) once, over UDP or TCP. Resolves with the
 * answer, or rejects with a QueryFailure (ETIMEOUT, ECONNREFUSED, ...).
 * The timer closes the socket when the time is up, which ends whatever
 * call is asleep on it.
 */
async function ask(
  env: DnsEnv, pending: Pending, server: Server, name: string, type: number, ms: number, tcp: boolean,
): Promise<DnsMessage> {
  const { sys } = env;
  const family = parseInAddr(server.address) !== null ? AF_INET : AF_INET6;
  const id = env.random32() & 0xffff;
  let query: Uint8Array;
  try {
    query = encodeDnsQuery(id, name, type);
  } catch {
    throw new QueryFailure('EBADNAME');
  }
  let fd: number;
  try {
    fd = await sys.socket(family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  } catch {
    // No such family in this kernel (an IPv6 server, no net_netinet6), or no descriptors: not reachable.
    throw new QueryFailure('ECONNREFUSED');
  }
  if (pending.cancelled) {
    void closeQuietly(sys, fd);
    throw new QueryFailure('ECANCELLED');
  }
  pending.fds.add(fd);
  let timedOut = false;
  const timer = env.timer(() => {
    timedOut = true;
    void closeQuietly(sys, fd);
  });
  timer.reset(ms);
  try {
    await sys.connect(fd, { family, addr: server.address, port: server.port });
    if (tcp) {
      // RFC 1035 4.2.2 / RFC 7766 8: a two-byte length before each message.
      const framed = new Uint8Array(query.length + 2);
      framed[0] = query.length >>> 8;
      framed[1] = query.length & 0xff;
      framed.set(query, 2);
      await sys.send(fd, framed);
    } else {
      await sys.send(fd, query);
    }
    let acc = new Uint8Array(0);
    for (;;) {
      const data = await sys.recv(fd, 65536);
      let msg: Uint8Array;
      if (tcp) {
        if (data.length === 0) throw new QueryFailure('ECONNREFUSED'); // closed before answering
        const joined = new Uint8Array(acc.length + data.length);
        joined.set(acc);
        joined.set(data, acc.length);
        acc = joined;
        if (acc.length < 2) continue;
        const len = (acc[0]! << 8) | acc[1]!;
        if (acc.length < 2 + len) continue;
        msg = acc.subarray(2, 2 + len);
      } else {
        msg = data;
      }
      const m = parseDnsMessage(msg);
      const q = m?.questions[0];
      if (m !== null && m.qr && m.id === id && q !== undefined && q.type === type && dnsNameEqual(q.name, name)) return m;
      // Not the answer to this query (RFC 5452 9.1): drop it and keep listening;
      // over TCP a bad answer ends the connection.
      if (tcp) throw new QueryFailure('EBADRESP');
    }
  } catch (e) {
    if (pending.cancelled) throw new QueryFailure('ECANCELLED');
    if (timedOut) throw new QueryFailure('ETIMEOUT');
    if (e instanceof QueryFailure) throw e;
    // ICMP port or host unreachable, no route, reset: this server did not answer.
    throw new QueryFailure('ECONNREFUSED');
  } finally {
    timer.stop();
    pending.fds.delete(fd);
    if (!timedOut) void closeQuietly(sys, fd);
  }
}

/** An internationalised name in its ASCII (punycode) form, as Node hands names to c-ares and getaddrinfo. */
function toASCII(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(name)) return name;
  const a = domainToASCII(name);
  return a === '' ? name : a;
}

/** Two address literals for the same address ('2001:db8::1' and '2001:DB8:0::1'). */
function sameAddress(a: string, b: string): boolean {
  const a4 = parseInAddr(a);
  if (a4 !== null) return a4 === parseInAddr(b);
  const a6 = parseIn6Addr(a);
  const b6 = parseIn6Addr(b);
  return a6 !== null && b6 !== null && a6.every((x, i) => x === b6[i]);
}

/** Which failure to report when every server failed: the most telling one seen. */
function worse(a: string | null, b: string): string {
  const rank = ['ECONNREFUSED', 'ETIMEOUT', 'EBADRESP', 'EFORMERR', 'ENOTIMP', 'EREFUSED', 'ESERVFAIL'];
  if (a === null) return b;
  return rank.indexOf(b) > rank.indexOf(a) ? b : a;
}

const RCODE_ERRORS: Record<number, string> = {
  [DnsRcode.FORMERR]: 'EFORMERR',
  [DnsRcode.SERVFAIL]: 'ESERVFAIL',
  [DnsRcode.NOTIMP]: 'ENOTIMP',
  [DnsRcode.REFUSED]: 'EREFUSED',
};

/**
 * One question to the servers, as res_send does: each server in turn, the
 * per-try time doubling each round (RES_TIMEOUT << round), a truncated
 * answer asked again over TCP. Resolves with an answer whose rcode is
 * NOERROR or NXDOMAIN; rejects with a QueryFailure otherwise.
 */
async function query(
  env: DnsEnv, pending: Pending, servers: Server[], conf: ResolvConf, opts: QueryOptions, name: string, type: number,
): Promise<DnsMessage> {
  if (!dnsNameValid(name)) throw new QueryFailure('EBADNAME');
  if (servers.length === 0) throw new QueryFailure('ECONNREFUSED');
  const base = opts.timeout ?? conf.timeout * 1000;
  const tries = opts.tries ?? conf.attempts;
  let failure: string | null = null;
  for (let round = 0; round < tries; round++) {
    for (const server of servers) {
      if (pending.cancelled) throw new QueryFailure('ECANCELLED');
      const ms = Math.min(base * 2 ** round, 60_000);
      let m: DnsMessage;
      try {
        m = await ask(env, pending, server, name, type, ms, false);
        if (m.tc) m = await ask(env, pending, server, name, type, ms, true);
      } catch (e) {
        const code = (e as QueryFailure).code;
        if (code === 'ECANCELLED') throw e;
        failure = worse(failure, code);
        continue;
      }
      if (m.rcode === DnsRcode.NOERROR || m.rcode === DnsRcode.NXDOMAIN) return m;
      failure = worse(failure, RCODE_ERRORS[m.rcode] ?? 'EBADRESP');
    }
  }
  throw new QueryFailure(failure ?? 'ETIMEOUT');
}

/** The records of `type` in an answer (a CNAME chain's targets included, as a recursive server gives them). */
function recordsOf(m: DnsMessage, type: number): DnsRecord[] {
  return m.answers.filter((r) => r.type === type);
}

// ------------------------------------------------------------------ arguments

function validateString(v: unknown, name: string): asserts v is string {
  if (typeof v !== 'string') {
    throw nodeError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type string. Received ${describe(v)}`, 'TypeError');
  }
}

function validateFunction(v: unknown, name: string): asserts v is (...a: never[]) => unknown {
  if (typeof v !== 'function') {
    throw nodeError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type function. Received ${describe(v)}`, 'TypeError');
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'function') return `function ${(v as { name?: string }).name ?? ''}`;
  if (typeof v === 'object') return 'an instance of Object';
  return `type ${typeof v} (${String(v)})`;
}

/** node:dns's server syntax into host:port, or ERR_INVALID_IP_ADDRESS. */
function parseServers(list: unknown): Server[] {
  if (!Array.isArray(list)) {
    throw nodeError('ERR_INVALID_ARG_TYPE', `The "servers" argument must be an instance of Array. Received ${describe(list)}`, 'TypeError');
  }
  return list.map((s: unknown, i) => {
    validateString(s, `servers[${i}]`);
    const p = parseServer(s);
    if (p === null) throw nodeError('ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${s}`, 'TypeError');
    return p;
  });
}

function formatServer(s: Server): string {
  if (s.port === 53) return s.address;
  return parseInAddr(s.address) !== null ? `${s.address}:${s.port}` : `[${s.address}]:${s.port}`;
}

// ------------------------------------------------------------------ results

const RRTYPES: Record<string, { type: number; syscall: string }> = {
  A: { type: DnsType.A, syscall: 'queryA' },
  AAAA: { type: DnsType.AAAA, syscall: 'queryAaaa' },
  ANY: { type: DnsType.ANY, syscall: 'queryAny' },
  CAA: { type: DnsType.CAA, syscall: 'queryCaa' },
  CNAME: { type: DnsType.CNAME, syscall: 'queryCname' },
  MX: { type: DnsType.MX, syscall: 'queryMx' },
  NAPTR: { type: DnsType.NAPTR, syscall: 'queryNaptr' },
  NS: { type: DnsType.NS, syscall: 'queryNs' },
  PTR: { type: DnsType.PTR, syscall: 'queryPtr' },
  SOA: { type: DnsType.SOA, syscall: 'querySoa' },
  SRV: { type: DnsType.SRV, syscall: 'querySrv' },
  TXT: { type: DnsType.TXT, syscall: 'queryTxt' },
};

const TYPE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(DnsType).map(([k, v]) => [v as number, k]));

/** One record as node:dns gives it for `rrtype`. */
function present(r: DnsRecord, ttl: boolean): unknown {
  switch (r.type) {
    case DnsType.A:
    case DnsType.AAAA:
      return ttl ? { address: r.data as string, ttl: r.ttl } : r.data;
    case DnsType.CAA: {
      const c = r.data as DnsCaa;
      return { critical: c.critical, [c.tag]: c.value };
    }
    case DnsType.MX:
    case DnsType.SRV:
    case DnsType.NAPTR:
      return { ...(r.data as DnsMx | DnsSrv | DnsNaptr) };
    case DnsType.SOA:
      return { ...(r.data as DnsSoa) };
    default:
      return r.data;
  }
}

/** resolveAny's shape: every record with its `type`. */
function presentAny(r: DnsRecord): unknown {
  const type = TYPE_NAMES.get(r.type) ?? String(r.type);
  switch (r.type) {
    case DnsType.A:
    case DnsType.AAAA:
      return { address: r.data, ttl: r.ttl, type };
    case DnsType.TXT:
      return { entries: r.data, type };
    case DnsType.CNAME:
    case DnsType.NS:
    case DnsType.PTR:
      return { value: r.data, type };
    default: {
      const v = present(r, false);
      return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) ? { ...v, type } : { value: v, type };
    }
  }
}

// ------------------------------------------------------------------ Resolver

export interface ResolverOptions {
  /** Per-try timeout in ms (-1: the kernel's). */
  timeout?: number;
  /** Tries per server (the kernel's attempts by default). */
  tries?: number;
}

export interface ResolveOptions {
  ttl?: boolean;
}

/**
 * node:dns's Resolver on the kernel: its own servers (`setServers`) or the
 * kernel's, `cancel()` for everything in flight.
 */
export class Resolver {
  private servers: Server[] | null = null;
  private readonly opts: QueryOptions;
  private readonly pending = new Set<Pending>();
  /** @internal */
  readonly env: DnsEnv;
  /** @internal set by the module: the configuration last read (getServers is synchronous). */
  lastConf: ResolvConf = emptyResolvConf();

  constructor(env: DnsEnv, options: ResolverOptions = {}) {
    this.env = env;
    if (typeof options !== 'object' || options === null) {
      throw nodeError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received ${describe(options)}`, 'TypeError');
    }
    const t = options.timeout;
    if (t !== undefined && (!Number.isInteger(t) || t < -1 || t > 0x7fffffff)) {
      throw nodeError('ERR_OUT_OF_RANGE', `The value of "options.timeout" is out of range. Received ${String(t)}`, 'RangeError');
    }
    const n = options.tries;
    if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 0x7fffffff)) {
      throw nodeError('ERR_OUT_OF_RANGE', `The value of "options.tries" is out of range. Received ${String(n)}`, 'RangeError');
    }
    this.opts = { timeout: t === undefined || t === -1 ? null : Math.max(t, 1), tries: n ?? null };
  }

  getServers(): string[] {
    const s = this.servers ?? this.kernelServers(this.env.resolvConf?.() ?? this.lastConf);
    return s.map(formatServer);
  }

  setServers(servers: string[]): void {
    this.servers = parseServers(servers);
  }

  /** Accepted for compatibility; queries leave from the kernel's chosen address. */
  setLocalAddress(ipv4?: string, ipv6?: string): void {
    if (ipv4 !== undefined) validateString(ipv4, 'ipv4');
    if (ipv6 !== undefined) validateString(ipv6, 'ipv6');
  }

  /** Stop every query in flight: their callbacks get ECANCELLED. */
  cancel(): void {
    for (const p of this.pending) {
      p.cancelled = true;
      for (const fd of p.fds) void closeQuietly(this.env.sys, fd);
    }
  }

  private kernelServers(c: ResolvConf): Server[] {
    return c.nameservers.map((s) => parseServer(s)).filter((s): s is Server => s !== null);
  }

  /** @internal The configuration, read fresh (in-process: directly; remote: one sysctl call). */
  async conf(): Promise<ResolvConf> {
    let c = this.env.resolvConf?.();
    if (c === undefined) {
      // A remote kernel: one call, during which the process stays up (a lookup in flight keeps it alive).
      const release = this.env.hold();
      try {
        c = resolvFromSysctl(await this.env.sys.sysctlList('net.resolv'));
      } finally {
        release();
      }
    }
    this.lastConf = c;
    return c;
  }

  /**
   * @internal Ask the servers; the answer's rcode is NOERROR or NXDOMAIN.
   * `useKernel` forces the kernel's servers (lookup ignores setServers).
   */
  async ask(name: string, type: number, useKernel = false): Promise<DnsMessage> {
    name = toASCII(name);
    const pending: Pending = { cancelled: false, fds: new Set() };
    this.pending.add(pending);
    const release = this.env.hold();
    try {
      const conf = await this.conf();
      const servers = !useKernel && this.servers !== null ? this.servers : this.kernelServers(conf);
      return await query(this.env, pending, servers, conf, this.opts, name, type);
    } finally {
      release();
      this.pending.delete(pending);
    }
  }

  private run(hostname: unknown, rrtype: string, options: ResolveOptions, cb: Cb<unknown>): void {
    validateString(hostname, 'name');
    const spec = RRTYPES[rrtype];
    const ttl = options.ttl === true;
    this.ask(hostname, spec!.type).then(
      (m) => {
        if (m.rcode === DnsRcode.NXDOMAIN) throw new QueryFailure('ENOTFOUND');
        const rs = spec!.type === DnsType.ANY ? m.answers : recordsOf(m, spec!.type);
        if (rs.length === 0) throw new QueryFailure('ENODATA');
        if (spec!.type === DnsType.SOA) return present(rs[0]!, false);
        return rs.map((r) => (spec!.type === DnsType.ANY ? presentAny(r) : present(r, ttl)));
      },
    ).then(
      (v) => cb(null, v),
      (e: unknown) => cb(e instanceof QueryFailure ? dnsError(e.code, spec!.syscall, hostname) : (e as Error), undefined),
    );
  }

  resolve(hostname: string, ...args: unknown[]): void {
    let rrtype: unknown = 'A';
    let cb = args[0];
    if (args.length > 1) {
      rrtype = args[0];
      cb = args[1];
    }
    validateString(hostname, 'name');
    validateString(rrtype, 'rrtype');
    if (RRTYPES[rrtype] === undefined) {
      throw nodeError('ERR_INVALID_ARG_VALUE', `The argument 'rrtype' is invalid. Received '${rrtype}'`, 'TypeError');
    }
    validateFunction(cb, 'callback');
    this.run(hostname, rrtype, {}, cb as Cb<unknown>);
  }

  private typed(rrtype: string, hostname: string, a: unknown, b: unknown): void {
    const options = typeof a === 'function' ? {} : ((a ?? {}) as ResolveOptions);
    const cb = typeof a === 'function' ? a : b;
    validateString(hostname, 'name');
    validateFunction(cb, 'callback');
    this.run(hostname, rrtype, options, cb as Cb<unknown>);
  }

  resolve4(hostname: string, a: unknown, b?: unknown): void { this.typed('A', hostname, a, b); }
  resolve6(hostname: string, a: unknown, b?: unknown): void { this.typed('AAAA', hostname, a, b); }
  resolveAny(hostname: string, cb: unknown): void { this.typed('ANY', hostname, cb, undefined); }
  resolveCaa(hostname: string, cb: unknown): void { this.typed('CAA', hostname, cb, undefined); }
  resolveCname(hostname: string, cb: unknown): void { this.typed('CNAME', hostname, cb, undefined); }
  resolveMx(hostname: string, cb: unknown): void { this.typed('MX', hostname, cb, undefined); }
  resolveNaptr(hostname: string, cb: unknown): void { this.typed('NAPTR', hostname, cb, undefined); }
  resolveNs(hostname: string, cb: unknown): void { this.typed('NS', hostname, cb, undefined); }
  resolvePtr(hostname: string, cb: unknown): void { this.typed('PTR', hostname, cb, undefined); }
  resolveSoa(hostname: string, cb: unknown): void { this.typed('SOA', hostname, cb, undefined); }
  resolveSrv(hostname: string, cb: unknown): void { this.typed('SRV', hostname, cb, undefined); }
  resolveTxt(hostname: string, cb: unknown): void { this.typed('TXT', hostname, cb, undefined); }

  /**
   * The names of an address: the hosts table's, else PTR in in-addr.arpa /
   * ip6.arpa (c-ares's gethostbyaddr looks in the hosts file first, too).
   */
  reverse(ip: string, cb: unknown): void {
    validateString(ip, 'ip');
    validateFunction(cb, 'callback');
    const name = reverseName(ip);
    const done = cb as Cb<string[] | undefined>;
    if (name === null) {
      process.nextTick(done, dnsError('EINVAL', 'getHostByAddr', ip), undefined);
      return;
    }
    const fromDns = (): void =>
      this.run(name, 'PTR', {}, (err, v) => {
        if (err !== null) {
          (err as { hostname?: string }).hostname = ip;
          err.message = `getHostByAddr ${err.code} ${ip}`;
          err.syscall = 'getHostByAddr';
        }
        done(err, v as string[] | undefined);
      });
    this.conf().then((c) => {
      const entry = c.hosts.find((e) => sameAddress(e.address, ip));
      if (entry !== undefined) done(null, [...entry.names]);
      else fromDns();
    }, fromDns);
  }
}

// ------------------------------------------------------------------ lookup

export interface LookupOptions {
  family?: number | 'IPv4' | 'IPv6';
  hints?: number;
  all?: boolean;
  verbatim?: boolean;
  order?: 'ipv4first' | 'ipv6first' | 'verbatim';
}

export interface LookupAddress {
  address: string;
  family: number;
}

function familyOf(v: unknown): 0 | 4 | 6 {
  if (v === undefined || v === null || v === 0) return 0;
  if (v === 4 || v === 'IPv4') return 4;
  if (v === 6 || v === 'IPv6') return 6;
  throw nodeError('ERR_INVALID_ARG_VALUE', `The property 'options.family' must be one of: 0, 4, 6. Received ${String(v)}`, 'TypeError');
}

function stripDot(n: string): string {
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** The hosts table's addresses for `name` of `family` (0: both), in file order. */
function fromHosts(conf: ResolvConf, name: string, family: number): LookupAddress[] {
  const want = stripDot(name).toLowerCase();
  const out: LookupAddress[] = [];
  for (const e of conf.hosts) {
    if (!e.names.some((n) => stripDot(n).toLowerCase() === want)) continue;
    const f = parseInAddr(e.address) !== null ? 4 : 6;
    if (family === 0 || family === f) out.push({ address: e.address, family: f });
  }
  return out;
}

/**
 * The names res_search tries for `name` (resolv.conf(5)): an absolute name
 * (trailing dot) as is; one with at least ndots dots as is first, then with
 * each search domain; a shorter one with the search domains first.
 */
export function searchList(name: string, conf: ResolvConf): string[] {
  if (name.endsWith('.')) return [name.slice(0, -1)];
  const dots = name.split('.').length - 1;
  const withDomains = conf.search.map((d) => `${name}.${d}`);
  return dots >= conf.ndots ? [name, ...withDomains] : [...withDomains, name];
}

/** getaddrinfo over the kernel's configuration: hosts, localhost, then DNS. */
async function lookupAll(r: Resolver, hostname: string, family: number, order: string): Promise<LookupAddress[]> {
  const conf = await r.conf();
  const fromTable = fromHosts(conf, hostname, family);
  if (fromTable.length > 0) return fromTable;
  const lower = stripDot(hostname).toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost')) {
    // RFC 6761 6.3: localhost names are the loopback addresses, never asked of DNS.
    const v4 = { address: '127.0.0.1', family: 4 };
    const v6 = { address: '::1', family: 6 };
    return family === 4 ? [v4] : family === 6 ? [v6] : order === 'ipv6first' ? [v6, v4] : [v4, v6];
  }
  let temporary = false;
  // No name servers: the hosts table was all there is (not a temporary failure).
  const names = conf.nameservers.length > 0 ? searchList(hostname, conf) : [];
  for (const name of names) {
    const asks: Array<Promise<LookupAddress[]>> = [];
    const one = async (type: number, f: number): Promise<LookupAddress[]> => {
      try {
        const m = await r.ask(name, type, true);
        return recordsOf(m, type).map((rec) => ({ address: rec.data as string, family: f }));
      } catch (e) {
        if (!(e instanceof QueryFailure) || e.code === 'ECANCELLED') throw e;
        temporary = true;
        return [];
      }
    };
    if (family !== 6) asks.push(one(DnsType.A, 4));
    if (family !== 4) asks.push(one(DnsType.AAAA, 6));
    const got = (await Promise.all(asks)).flat();
    if (got.length > 0) {
      if (order === 'ipv6first') got.sort((a, b) => b.family - a.family);
      return got;
    }
  }
  throw temporary ? gaiError('EAI_AGAIN', hostname) : gaiError('ENOTFOUND', hostname);
}

// ------------------------------------------------------------------ the module

/** Node's `dns` on a kernel: what `kernel.dns` and `rumpClient(...).dns` are. */
export interface DnsModule {
  lookup(hostname: string, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void;
  lookup(hostname: string, options: number | LookupOptions, cb: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void;
  lookupService(address: string, port: number, cb: (err: NodeJS.ErrnoException | null, hostname: string, service: string) => void): void;
  resolve(hostname: string, cb: Cb<string[]>): void;
  resolve(hostname: string, rrtype: string, cb: Cb<unknown>): void;
  resolve4(hostname: string, cb: Cb<string[]>): void;
  resolve4(hostname: string, options: ResolveOptions, cb: Cb<string[] | Array<{ address: string; ttl: number }>>): void;
  resolve6(hostname: string, cb: Cb<string[]>): void;
  resolve6(hostname: string, options: ResolveOptions, cb: Cb<string[] | Array<{ address: string; ttl: number }>>): void;
  resolveAny(hostname: string, cb: Cb<unknown[]>): void;
  resolveCaa(hostname: string, cb: Cb<Array<{ critical: number }>>): void;
  resolveCname(hostname: string, cb: Cb<string[]>): void;
  resolveMx(hostname: string, cb: Cb<DnsMx[]>): void;
  resolveNaptr(hostname: string, cb: Cb<DnsNaptr[]>): void;
  resolveNs(hostname: string, cb: Cb<string[]>): void;
  resolvePtr(hostname: string, cb: Cb<string[]>): void;
  resolveSoa(hostname: string, cb: Cb<DnsSoa>): void;
  resolveSrv(hostname: string, cb: Cb<DnsSrv[]>): void;
  resolveTxt(hostname: string, cb: Cb<string[][]>): void;
  reverse(ip: string, cb: Cb<string[]>): void;
  getServers(): string[];
  setServers(servers: string[]): void;
  getDefaultResultOrder(): 'ipv4first' | 'ipv6first' | 'verbatim';
  setDefaultResultOrder(order: 'ipv4first' | 'ipv6first' | 'verbatim'): void;
  Resolver: new (options?: ResolverOptions) => Resolver;
  promises: DnsPromises;
  [constant: string]: unknown;
}

type P<T> = Promise<T>;
export interface DnsPromises {
  lookup(hostname: string, options?: number | LookupOptions): P<LookupAddress | LookupAddress[]>;
  lookupService(address: string, port: number): P<{ hostname: string; service: string }>;
  resolve(hostname: string, rrtype?: string): P<unknown>;
  resolve4(hostname: string, options?: ResolveOptions): P<string[]>;
  resolve6(hostname: string, options?: ResolveOptions): P<string[]>;
  resolveAny(hostname: string): P<unknown[]>;
  resolveCaa(hostname: string): P<Array<{ critical: number }>>;
  resolveCname(hostname: string): P<string[]>;
  resolveMx(hostname: string): P<DnsMx[]>;
  resolveNaptr(hostname: string): P<DnsNaptr[]>;
  resolveNs(hostname: string): P<string[]>;
  resolvePtr(hostname: string): P<string[]>;
  resolveSoa(hostname: string): P<DnsSoa>;
  resolveSrv(hostname: string): P<DnsSrv[]>;
  resolveTxt(hostname: string): P<string[][]>;
  reverse(ip: string): P<string[]>;
  getServers(): string[];
  setServers(servers: string[]): void;
  getDefaultResultOrder(): string;
  setDefaultResultOrder(order: string): void;
  Resolver: new (options?: ResolverOptions) => PromiseResolver;
  [constant: string]: unknown;
}

export type PromiseResolver = {
  [K in 'resolve4' | 'resolve6' | 'resolveAny' | 'resolveCaa' | 'resolveCname' | 'resolveMx' | 'resolveNaptr' | 'resolveNs' | 'resolvePtr'
    | 'resolveSoa' | 'resolveSrv' | 'resolveTxt' | 'reverse']: (name: string, options?: ResolveOptions) => P<unknown>;
} & {
  resolve(hostname: string, rrtype?: string): P<unknown>;
  getServers(): string[];
  setServers(servers: string[]): void;
  cancel(): void;
  setLocalAddress(ipv4?: string, ipv6?: string): void;
};

/** The well-known ports getnameinfo names (lookupService); others are given as numbers. */
const SERVICES: Record<number, string> = {
  7: 'echo', 21: 'ftp', 22: 'ssh', 23: 'telnet', 25: 'smtp', 53: 'domain', 80: 'http', 110: 'pop3', 123: 'ntp',
  143: 'imap2', 443: 'https', 993: 'imaps', 995: 'pop3s',
};

const METHODS = [
  'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCaa', 'resolveCname', 'resolveMx', 'resolveNaptr', 'resolveNs', 'resolvePtr',
  'resolveSoa', 'resolveSrv', 'resolveTxt', 'reverse',
] as const;

/** node:dns's error-code constants (dns.NOTFOUND === 'ENOTFOUND', ...), and the getaddrinfo hints. */
function constants(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(hostDns)) if (/^[A-Z0-9_]+$/.test(k) && typeof v !== 'function') out[k] = v;
  return out;
}

/** A promise-returning face over a callback Resolver. */
function promiseResolver(r: Resolver): PromiseResolver {
  const out: Record<string, unknown> = {
    getServers: () => r.getServers(),
    setServers: (s: string[]) => r.setServers(s),
    cancel: () => r.cancel(),
    setLocalAddress: (a?: string, b?: string) => r.setLocalAddress(a, b),
  };
  for (const m of METHODS) {
    out[m] = (name: string, opt?: unknown) =>
      new Promise((resolve, reject) => {
        const cb = (err: Error | null, v: unknown): void => (err ? reject(err) : resolve(v));
        if (m === 'resolve') r.resolve(name, opt ?? 'A', cb);
        else if (m === 'resolve4' || m === 'resolve6') r[m](name, opt ?? {}, cb);
        else (r[m] as (n: string, c: unknown) => void)(name, cb);
      });
  }
  return out as PromiseResolver;
}

/** Build `dns` for a kernel reached through `env`. */
export function createDns(env: DnsEnv): DnsModule {
  const base = new Resolver(env);
  let defaultOrder: 'ipv4first' | 'ipv6first' | 'verbatim' = 'verbatim';

  function lookup(hostname: unknown, a: unknown, b?: unknown): void {
    const cb = (typeof a === 'function' ? a : b) as (err: Error | null, address?: unknown, family?: number) => void;
    validateFunction(cb, 'callback');
    if (hostname !== undefined && hostname !== null && hostname !== '') validateString(hostname, 'hostname');
    let options: LookupOptions = {};
    if (typeof a === 'number') options = { family: a };
    else if (typeof a === 'object' && a !== null) options = a as LookupOptions;
    else if (a !== undefined && typeof a !== 'function') {
      throw nodeError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received ${describe(a)}`, 'TypeError');
    }
    let family = familyOf(options.family);
    // AI_ADDRCONFIG (RFC 3493 §6.1; Node's net passes it when no family is asked):
    // no AAAA question from a kernel that has no IPv6.
    if (family === 0 && ((options.hints ?? 0) & hostDns.ADDRCONFIG) !== 0 && env.inet6 === false) family = 4;
    const all = options.all === true;
    const order = options.order ?? (options.verbatim === false ? 'ipv4first' : defaultOrder);
    const answer = (list: LookupAddress[]): void => {
      if (all) cb(null, list);
      else cb(null, list[0]!.address, list[0]!.family);
    };
    if (!hostname) {
      // Node: an empty name looks up nothing.
      process.nextTick(() => (all ? cb(null, []) : cb(null, null, family === 6 ? 6 : 4)));
      return;
    }
    const literal = parseInAddr(hostname as string) !== null ? 4 : parseIn6Addr(hostname as string) !== null ? 6 : 0;
    if (literal !== 0) {
      process.nextTick(answer, [{ address: hostname as string, family: literal }]);
      return;
    }
    const ask = (family: number): void => {
      // AI_V4MAPPED (dns.V4MAPPED): an IPv6 question with only IPv4 answers gets them as ::ffff:a.b.c.d.
      const v4mapped = family === 6 && ((options.hints ?? 0) & hostDns.V4MAPPED) !== 0;
      lookupAll(base, hostname as string, family, order).then(answer, (e: NodeJS.ErrnoException) => {
        if (!v4mapped || e.code !== 'ENOTFOUND') return cb(e);
        lookupAll(base, hostname as string, 4, order).then(
          (list) => answer(list.map((a) => ({ address: `::ffff:${a.address}`, family: 6 }))),
          () => cb(e),
        );
      });
    };
    if (family === 0 && ((options.hints ?? 0) & hostDns.ADDRCONFIG) !== 0 && env.inet6 === undefined && env.addrconfig !== undefined) {
      // A remote kernel: ask it which families it has addresses of (neither: ask both).
      // The question keeps the process alive, as the query after it does.
      const release = env.hold();
      env.addrconfig().then(
        (have) => {
          ask(have.inet === have.inet6 ? 0 : have.inet ? 4 : 6);
          release();
        },
        () => {
          ask(0);
          release();
        },
      );
      return;
    }
    ask(family);
  }

  function lookupService(address: unknown, port: unknown, cb: unknown): void {
    validateString(address, 'address');
    if (!isAddressLiteral(address)) {
      throw nodeError('ERR_INVALID_ARG_VALUE', `The argument 'address' is invalid. Received '${address}'`, 'TypeError');
    }
    const p = Number(port);
    if (!Number.isInteger(p) || p < 0 || p > 65535) {
      throw nodeError('ERR_SOCKET_BAD_PORT', `Port should be >= 0 and < 65536. Received ${String(port)}.`, 'RangeError');
    }
    validateFunction(cb, 'callback');
    const done = cb as (err: Error | null, hostname?: string, service?: string) => void;
    const service = SERVICES[p] ?? String(p);
    // The hosts table, then PTR (reverse does both), as getnameinfo asks.
    base.reverse(address, (err: Error | null, names?: string[]) => {
      // getnameinfo without NI_NAMEREQD gives the address itself when no name is known.
      if (err !== null && !['ENOTFOUND', 'ENODATA'].includes((err as NodeJS.ErrnoException).code ?? '')) {
        const e = err as NodeJS.ErrnoException;
        e.syscall = 'getnameinfo';
        e.message = `getnameinfo ${e.code} ${address}`;
        done(e);
      } else done(null, names?.[0] ?? address, service);
    });
  }

  const Bound = class extends Resolver {
    constructor(options?: ResolverOptions) {
      super(env, options);
    }
  };
  const PromiseBound = class {
    constructor(options?: ResolverOptions) {
      return promiseResolver(new Resolver(env, options));
    }
  } as unknown as new (options?: ResolverOptions) => PromiseResolver;

  const promisesBase = promiseResolver(base);
  const getDefaultResultOrder = (): typeof defaultOrder => defaultOrder;
  const setDefaultResultOrder = (o: string): void => {
    if (o !== 'ipv4first' && o !== 'ipv6first' && o !== 'verbatim') {
      throw nodeError('ERR_INVALID_ARG_VALUE', `The argument 'value' must be one of: 'verbatim', 'ipv4first', 'ipv6first'. Received '${o}'`, 'TypeError');
    }
    defaultOrder = o;
  };
  const promises: DnsPromises = {
    ...constants(),
    ...promisesBase,
    lookup: (hostname: string, options?: number | LookupOptions) =>
      new Promise((resolve, reject) =>
        lookup(hostname, options ?? {}, (err: Error | null, address?: unknown, family?: number) => {
          if (err) reject(err);
          else resolve(Array.isArray(address) ? (address as LookupAddress[]) : { address: address as string, family: family! });
        })),
    lookupService: (address: string, port: number) =>
      new Promise((resolve, reject) =>
        lookupService(address, port, (err: Error | null, hostname?: string, service?: string) =>
          err ? reject(err) : resolve({ hostname: hostname!, service: service! }))),
    getDefaultResultOrder,
    setDefaultResultOrder,
    Resolver: PromiseBound,
  } as DnsPromises;
  delete (promises as Record<string, unknown>)['cancel'];
  delete (promises as Record<string, unknown>)['setLocalAddress'];

  const mod: Record<string, unknown> = {
    ...constants(),
    lookup,
    lookupService,
    getServers: () => base.getServers(),
    setServers: (s: string[]) => base.setServers(s),
    getDefaultResultOrder,
    setDefaultResultOrder,
    Resolver: Bound,
    promises,
  };
  for (const m of METHODS) mod[m] = (base[m] as (...a: unknown[]) => unknown).bind(base);
  return mod as unknown as DnsModule;
}

/**
 * dns.lookup's shape for the net/dgram faces (handle.ts LookupFunction), over a kernel's dns.
 * Asked with `all` (autoSelectFamily), the callback gets every address, as dns.lookup gives them.
 */
export function faceLookup(dns: DnsModule): (
  hostname: string, options: { family?: number; hints?: number; all?: boolean },
  cb: (err: Error | null, address: string, family: number) => void,
) => void {
  return (hostname, options, cb) =>
    dns.lookup(hostname, { family: options.family, hints: options.hints, all: options.all === true }, (err, address, family) =>
      cb(err, address as string, family ?? 0));
}
