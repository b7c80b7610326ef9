/*
 * DNS messages (RFC 1035 section 4; AAAA from RFC 3596, SRV from RFC 2782).
 *
 *   0       2       4       6       8       10      12
 *   +-------+-------+-------+-------+-------+-------+------------------
 *   | ID    | flags | QDCNT | ANCNT | NSCNT | ARCNT | questions, answers,
 *   +-------+-------+-------+-------+-------+-------+ authority, additional
 *
 *   flags: QR(1) OPCODE(4) AA(1) TC(1) RD(1) RA(1) Z(3) RCODE(4)
 *
 * A message is parsed once into a small value (parseDnsMessage, which
 * returns null for anything malformed and never throws) and emitted from
 * one (encodeDnsMessage, with name compression, RFC 1035 4.1.4). The stub
 * resolver and the tests' authoritative responder both use it.
 */
import { formatInAddr, parseInAddr } from './inaddr.js';
import { formatIn6Addr, parseIn6Addr } from './in6addr.js';

export const DNS_HDR_LEN = 12;
/** RFC 1035 2.3.4: a UDP message carries at most 512 bytes (no EDNS here). */
export const DNS_UDP_MAX = 512;

export const DNS_CLASS_IN = 1;
export const DNS_CLASS_ANY = 255;

/** RR types (RFC 1035 3.2.2, RFC 3596, RFC 2782, RFC 6844). */
export const DnsType = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, NAPTR: 35, CAA: 257, ANY: 255,
} as const;

/** Response codes (RFC 1035 4.1.1). */
export const DnsRcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsMx { priority: number; exchange: string }
export interface DnsSrv { priority: number; weight: number; port: number; name: string }
export interface DnsSoa {
  nsname: string; hostmaster: string; serial: number; refresh: number; retry: number; expire: number; minttl: number;
}
export interface DnsCaa { critical: number; tag: string; value: string }
export interface DnsNaptr { flags: string; service: string; regexp: string; replacement: string; order: number; preference: number }

/**
 * The data of one record, by type: A/AAAA an address literal; NS, CNAME,
 * PTR a name; TXT its strings; MX, SRV, SOA, CAA their fields; anything
 * else the raw RDATA.
 */
export type DnsRdata = string | string[] | DnsMx | DnsSrv | DnsSoa | DnsCaa | DnsNaptr | Uint8Array;

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: DnsRdata;
}

export interface DnsMessage {
  id: number;
  /** Response (QR). */
  qr: boolean;
  opcode: number;
  /** Authoritative answer. */
  aa: boolean;
  /** Truncated: the answer did not fit; ask again over TCP (RFC 7766). */
  tc: boolean;
  /** Recursion desired / available. */
  rd: boolean;
  ra: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

/** A message with defaults for everything not given. */
export function dnsMessage(m: Partial<DnsMessage> & { id: number }): DnsMessage {
  return {
    qr: false, opcode: 0, aa: false, tc: false, rd: false, ra: false, rcode: 0,
    questions: [], answers: [], authorities: [], additionals: [], ...m,
  };
}

/** Two names the same under DNS's ASCII case-insensitivity (RFC 4343), trailing dot ignored. */
export function dnsNameEqual(a: string, b: string): boolean {
  return canonical(a) === canonical(b);
}

function canonical(n: string): string {
  return (n.endsWith('.') ? n.slice(0, -1) : n).toLowerCase();
}

/** Whether `name` can be sent: labels of 1..63 bytes, 255 bytes in all (RFC 1035 2.3.4). */
export function dnsNameValid(name: string): boolean {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n === '') return true;
  if (Buffer.byteLength(n) > 253) return false;
  for (const label of n.split('.')) {
    const len = Buffer.byteLength(label);
    if (len === 0 || len > 63) return false;
  }
  return true;
}

// ---------------------------------------------------------------- parse

/** Where a name parse left off, or -1 when it was malformed. */
interface NameResult {
  name: string;
  next: number;
}

/**
 * Read a possibly compressed name at `off`. Pointers must point backwards
 * (so a loop cannot form) and the name stays within 255 bytes.
 */
function readName(b: Uint8Array, off: number): NameResult | null {
  const labels: string[] = [];
  let total = 0;
  let next = -1;
  let p = off;
  for (;;) {
    if (p >= b.length) return null;
    const len = b[p]!;
    if (len === 0) {
      if (next < 0) next = p + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= b.length) return null;
      const target = ((len & 0x3f) << 8) | b[p + 1]!;
      if (next < 0) next = p + 2;
      if (target >= p) return null;
      p = target;
      continue;
    }
    if ((len & 0xc0) !== 0) return null; // 0x40, 0x80: extended labels, not used
    if (p + 1 + len > b.length) return null;
    total += len + 1;
    if (total > 255) return null;
    labels.push(Buffer.from(b.buffer, b.byteOffset + p + 1, len).toString('latin1'));
    p += 1 + len;
  }
  return { name: labels.join('.'), next };
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

function readRdata(b: Uint8Array, type: number, off: number, len: number): DnsRdata | null {
  const end = off + len;
  const nameAt = (o: number): NameResult | null => {
    const r = readName(b, o);
    return r !== null && r.next <= end ? r : null;
  };
  switch (type) {
    case DnsType.A:
      return len === 4 ? formatInAddr(u32(b, off)) : null;
    case DnsType.AAAA:
      return len === 16 ? formatIn6Addr(b.subarray(off, end)) : null;
    case DnsType.NS:
    case DnsType.CNAME:
    case DnsType.PTR: {
      const r = nameAt(off);
      return r === null ? null : r.name;
    }
    case DnsType.MX: {
      if (len < 3) return null;
      const r = nameAt(off + 2);
      return r === null ? null : { priority: u16(b, off), exchange: r.name };
    }
    case DnsType.TXT: {
      const out: string[] = [];
      let p = off;
      while (p < end) {
        const l = b[p]!;
        if (p + 1 + l > end) return null;
        out.push(Buffer.from(b.buffer, b.byteOffset + p + 1, l).toString('utf8'));
        p += 1 + l;
      }
      return out;
    }
    case DnsType.SRV: {
      if (len < 7) return null;
      const r = nameAt(off + 6);
      return r === null ? null : { priority: u16(b, off), weight: u16(b, off + 2), port: u16(b, off + 4), name: r.name };
    }
    case DnsType.SOA: {
      const m = nameAt(off);
      if (m === null) return null;
      const r = nameAt(m.next);
      if (r === null || r.next + 20 > end) return null;
      const q = r.next;
      return {
        nsname: m.name, hostmaster: r.name, serial: u32(b, q), refresh: u32(b, q + 4), retry: u32(b, q + 8),
        expire: u32(b, q + 12), minttl: u32(b, q + 16),
      };
    }
    case DnsType.NAPTR: {
      // RFC 3403 4.1: order, preference, three character-strings, a name.
      if (len < 7) return null;
      const strs: string[] = [];
      let p = off + 4;
      for (let i = 0; i < 3; i++) {
        if (p >= end || p + 1 + b[p]! > end) return null;
        strs.push(Buffer.from(b.buffer, b.byteOffset + p + 1, b[p]!).toString('utf8'));
        p += 1 + b[p]!;
      }
      const r = nameAt(p);
      if (r === null) return null;
      return { flags: strs[0]!, service: strs[1]!, regexp: strs[2]!, replacement: r.name, order: u16(b, off), preference: u16(b, off + 2) };
    }
    case DnsType.CAA: {
      if (len < 2 || 2 + b[off + 1]! > len) return null;
      const tl = b[off + 1]!;
      const tag = Buffer.from(b.buffer, b.byteOffset + off + 2, tl).toString('latin1');
      const value = Buffer.from(b.buffer, b.byteOffset + off + 2 + tl, len - 2 - tl).toString('utf8');
      return { critical: b[off]!, tag, value };
    }
    default:
      return b.slice(off, end);
  }
}

function readRecords(b: Uint8Array, off: number, n: number, out: DnsRecord[]): number {
  let p = off;
  for (let i = 0; i < n; i++) {
    const nm = readName(b, p);
    if (nm === null || nm.next + 10 > b.length) return -1;
    p = nm.next;
    const type = u16(b, p);
    const cls = u16(b, p + 2);
    const ttl = u32(b, p + 4);
    const rdlen = u16(b, p + 8);
    p += 10;
    if (p + rdlen > b.length) return -1;
    const data = readRdata(b, type, p, rdlen);
    if (data === null) return -1;
    out.push({ name: nm.name, type, class: cls, ttl, data });
    p += rdlen;
  }
  return p;
}

/** Parse a whole message; null when anything in it is malformed. */
export function parseDnsMessage(b: Uint8Array): DnsMessage | null {
  if (b.length < DNS_HDR_LEN) return null;
  const flags = u16(b, 2);
  const m: DnsMessage = {
    id: u16(b, 0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    questions: [], answers: [], authorities: [], additionals: [],
  };
  const qd = u16(b, 4);
  let p = DNS_HDR_LEN;
  for (let i = 0; i < qd; i++) {
    const nm = readName(b, p);
    if (nm === null || nm.next + 4 > b.length) return null;
    m.questions.push({ name: nm.name, type: u16(b, nm.next), class: u16(b, nm.next + 2) });
    p = nm.next + 4;
  }
  p = readRecords(b, p, u16(b, 6), m.answers);
  if (p < 0) return null;
  p = readRecords(b, p, u16(b, 8), m.authorities);
  if (p < 0) return null;
  // A truncated message may lose its tail sections; what came before stands.
  p = readRecords(b, p, u16(b, 10), m.additionals);
  if (p < 0 && !m.tc) return null;
  return m;
}

// ---------------------------------------------------------------- emit

/** Grows as needed; remembers where names were written, for compression. */
class Writer {
  buf = new Uint8Array(512);
  len = 0;
  private readonly names = new Map<string, number>();

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v & 0xff;
  }

  u16(v: number): void {
    this.room(2);
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
  }

  u32(v: number): void {
    this.u16(v >>> 16);
    this.u16(v & 0xffff);
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** A name, pointing at an earlier copy of its longest known suffix. */
  name(name: string, compress = true): void {
    const n = name.endsWith('.') ? name.slice(0, -1) : name;
    const labels = n === '' ? [] : n.split('.');
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      const at = this.names.get(suffix);
      if (compress && at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x4000) this.names.set(suffix, this.len);
      const label = Buffer.from(labels[i]!, 'latin1');
      if (label.length === 0 || label.length > 63) throw new RangeError(`bad DNS name "${name}"`);
      this.u8(label.length);
      this.bytes(label);
    }
    this.u8(0);
  }

  charString(s: string): void {
    const b = Buffer.from(s, 'utf8');
    if (b.length > 255) throw new RangeError('DNS character-string longer than 255 bytes');
    this.u8(b.length);
    this.bytes(b);
  }
}

function writeRdata(w: Writer, type: number, data: DnsRdata): void {
  switch (type) {
    case DnsType.A: {
      const a = parseInAddr(data as string);
      if (a === null) throw new RangeError(`bad A address "${String(data)}"`);
      w.u32(a);
      return;
    }
    case DnsType.AAAA: {
      const a = parseIn6Addr(data as string);
      if (a === null) throw new RangeError(`bad AAAA address "${String(data)}"`);
      w.bytes(a);
      return;
    }
    case DnsType.NS:
    case DnsType.CNAME:
    case DnsType.PTR:
      w.name(data as string);
      return;
    case DnsType.MX: {
      const mx = data as DnsMx;
      w.u16(mx.priority);
      w.name(mx.exchange);
      return;
    }
    case DnsType.TXT:
      for (const s of data as string[]) w.charString(s);
      return;
    case DnsType.SRV: {
      const s = data as DnsSrv;
      w.u16(s.priority);
      w.u16(s.weight);
      w.u16(s.port);
      w.name(s.name, false); // RFC 2782: the target is not compressed
      return;
    }
    case DnsType.SOA: {
      const s = data as DnsSoa;
      w.name(s.nsname);
      w.name(s.hostmaster);
      for (const v of [s.serial, s.refresh, s.retry, s.expire, s.minttl]) w.u32(v >>> 0);
      return;
    }
    case DnsType.NAPTR: {
      const n = data as DnsNaptr;
      w.u16(n.order);
      w.u16(n.preference);
      w.charString(n.flags);
      w.charString(n.service);
      w.charString(n.regexp);
      w.name(n.replacement, false); // RFC 3403: not compressed
      return;
    }
    case DnsType.CAA: {
      const c = data as DnsCaa;
      w.u8(c.critical);
      w.charString(c.tag);
      w.bytes(Buffer.from(c.value, 'utf8'));
      return;
    }
    default:
      w.bytes(data as Uint8Array);
  }
}

function writeRecord(w: Writer, r: DnsRecord): void {
  w.name(r.name);
  w.u16(r.type);
  w.u16(r.class);
  w.u32(r.ttl >>> 0);
  const lenAt = w.len;
  w.u16(0);
  writeRdata(w, r.type, r.data);
  const rdlen = w.len - lenAt - 2;
  w.buf[lenAt] = rdlen >>> 8;
  w.buf[lenAt + 1] = rdlen & 0xff;
}

/** Emit a message. Throws a RangeError for a name or value that cannot be encoded. */
export function encodeDnsMessage(m: DnsMessage): Uint8Array {
  const w = new Writer();
  w.u16(m.id);
  w.u16(
    (m.qr ? 0x8000 : 0) | ((m.opcode & 0xf) << 11) | (m.aa ? 0x0400 : 0) | (m.tc ? 0x0200 : 0) |
      (m.rd ? 0x0100 : 0) | (m.ra ? 0x0080 : 0) | (m.rcode & 0xf),
  );
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authorities.length);
  w.u16(m.additionals.length);
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const r of m.answers) writeRecord(w, r);
  for (const r of m.authorities) writeRecord(w, r);
  for (const r of m.additionals) writeRecord(w, r);
  return w.buf.subarray(0, w.len);
}

/** A standard query for one name and type, recursion desired. */
export function encodeDnsQuery(id: number, name: string, type: number): Uint8Array {
  return encodeDnsMessage(dnsMessage({ id, rd: true, questions: [{ name, type, class: DNS_CLASS_IN }] }));
}

/** The name PTR lookups ask for (RFC 1035 3.5 in-addr.arpa, RFC 3596 2.5 ip6.arpa); null for a non-address. */
export function reverseName(ip: string): string | null {
  const a = parseInAddr(ip);
  if (a !== null) return `${a & 0xff}.${(a >>> 8) & 0xff}.${(a >>> 16) & 0xff}.${a >>> 24}.in-addr.arpa`;
  const b = parseIn6Addr(ip);
  if (b === null) return null;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) nibbles.push((b[i]! & 0xf).toString(16), (b[i]! >> 4).toString(16));
  return `${nibbles.join('.')}.ip6.arpa`;
}
