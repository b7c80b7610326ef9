/*
 * A tiny authoritative DNS server for tests, running on a rump kernel's
 * Node faces (kernel.dgram for UDP, kernel.net for TCP, port 53 or any):
 * a zone of records by name, and knobs for the failures a resolver must
 * survive (silence, truncation, a forged answer first, an rcode).
 */
import type { RumpKernel } from '../../index.js';
import {
  DNS_CLASS_IN, DNS_UDP_MAX, DnsRcode, DnsType, dnsMessage, encodeDnsMessage, parseDnsMessage, type DnsMessage,
  type DnsRdata, type DnsRecord,
} from '../../net/wire/dns.js';

export interface ZoneRecord {
  type: number;
  data: DnsRdata;
  ttl?: number;
}

export interface DnsServerOptions {
  port?: number;
  /** Names (lower case, no trailing dot) and their records; a name not here is NXDOMAIN. */
  zone: Record<string, ZoneRecord[]>;
  /** Say nothing at all (a dead server). */
  silent?: boolean;
  /** Names whose UDP answers are truncated (TC, no records): the resolver must ask over TCP. */
  truncate?: Set<string>;
  /** Before each real answer, send one with the wrong ID (a forgery the resolver must drop). */
  forgeFirst?: boolean;
  /** Answer every query with this rcode. */
  rcode?: number;
  /** Serve UDP on an IPv6 socket (udp6) instead of udp4. */
  udp6?: boolean;
}

export interface TestDnsServer {
  /** Queries seen, as `udp A www.lab.example`. */
  readonly log: string[];
  close(): void;
}

function answer(opts: DnsServerOptions, q: DnsMessage, udp: boolean): DnsMessage {
  const question = q.questions[0]!;
  const name = question.name.toLowerCase().replace(/\.$/, '');
  const reply = dnsMessage({ id: q.id, qr: true, aa: true, rd: q.rd, questions: q.questions });
  if (opts.rcode !== undefined) return { ...reply, rcode: opts.rcode };
  const rrs = opts.zone[name];
  if (rrs === undefined) return { ...reply, rcode: DnsRcode.NXDOMAIN };
  if (udp && opts.truncate?.has(name)) return { ...reply, tc: true };
  const out: DnsRecord[] = [];
  const add = (n: string, type: number): void => {
    for (const r of opts.zone[n] ?? []) {
      if (r.type === type || type === DnsType.ANY) out.push({ name: n, type: r.type, class: DNS_CLASS_IN, ttl: r.ttl ?? 300, data: r.data });
      else if (r.type === DnsType.CNAME) {
        // Follow the alias in the zone, as a server authoritative for both gives the chain.
        out.push({ name: n, type: r.type, class: DNS_CLASS_IN, ttl: r.ttl ?? 300, data: r.data });
        add((r.data as string).toLowerCase(), type);
      }
    }
  };
  add(name, question.type);
  return { ...reply, answers: out };
}

/** Serve `opts.zone` on `k` (UDP and TCP on the same port). */
export function startDnsServer(k: RumpKernel, opts: DnsServerOptions): TestDnsServer {
  const port = opts.port ?? 53;
  const log: string[] = [];
  const typeName = (t: number): string => Object.entries(DnsType).find(([, v]) => v === t)?.[0] ?? String(t);
  const udp = k.dgram.createSocket(opts.udp6 ? 'udp6' : 'udp4');
  udp.on('message', (buf: Buffer, rinfo: { address: string; port: number }) => {
    const q = parseDnsMessage(buf);
    if (q === null || q.qr || q.questions.length !== 1) return;
    log.push(`udp ${typeName(q.questions[0]!.type)} ${q.questions[0]!.name}`);
    if (opts.silent) return;
    if (opts.forgeFirst) {
      const forged = answer(opts, q, true);
      forged.id = (q.id + 1) & 0xffff;
      forged.answers = forged.answers.map((r) => (r.type === DnsType.A ? { ...r, data: '203.0.113.66' } : r));
      udp.send(encodeDnsMessage(forged), rinfo.port, rinfo.address);
    }
    const bytes = encodeDnsMessage(answer(opts, q, true));
    if (bytes.length > DNS_UDP_MAX) throw new Error('test zone answer too big for UDP: truncate it');
    udp.send(bytes, rinfo.port, rinfo.address);
  });
  udp.bind(port);
  const tcp = k.net.createServer((sock) => {
    let acc = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      while (acc.length >= 2 && acc.length >= 2 + acc.readUInt16BE(0)) {
        const q = parseDnsMessage(acc.subarray(2, 2 + acc.readUInt16BE(0)));
        acc = acc.subarray(2 + acc.readUInt16BE(0));
        if (q === null || q.questions.length !== 1) {
          sock.destroy();
          return;
        }
        log.push(`tcp ${typeName(q.questions[0]!.type)} ${q.questions[0]!.name}`);
        if (opts.silent) continue;
        const bytes = encodeDnsMessage(answer(opts, q, false));
        const len = Buffer.alloc(2);
        len.writeUInt16BE(bytes.length);
        sock.write(Buffer.concat([len, bytes]));
      }
    });
    sock.on('error', () => {});
  });
  tcp.listen(port);
  let closed = false;
  return {
    log,
    close(): void {
      if (closed) return;
      closed = true;
      udp.close();
      tcp.close();
    },
  };
}
