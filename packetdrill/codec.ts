/*
 * Packets in and out of the runner: IPv4 datagrams built from script lines
 * (with correct checksums) and datagrams the kernel sent, parsed into a
 * small record the matcher compares field by field; plus the one-line
 * decodes the failure messages print (tcpdump's notation, which is also
 * packetdrill's).
 *
 * Inbound: the runner has mapped the script's numbers to the kernel's
 * (seq, ack, SACK blocks, TS ecr); this file only lays out bytes.
 */
import type { IcmpPacket, IpInfo, PacketSpec, TcpOption, TcpPacket } from './ast.js';
import { ScriptFailure, Unsupported } from './failure.js';
import { icmpCodeName, icmpTypeName } from './icmp_names.js';
import { ICMP_HDR_LEN, ICMP_UNREACH, ICMP_UNREACH_NEEDFRAG, icmpSetChecksum, icmpWriteHeader } from '../net/wire/icmp.js';
import { formatInAddr } from '../net/wire/inaddr.js';
import { inCksum, cksumAdd, cksumFinish, pseudoHeaderSum } from '../net/wire/cksum.js';
import {
  IP_HDR_MIN, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, ipDst, ipHlen, ipLen, ipP, ipSrc, ipTos, ipTtl, ipVersion,
  ipWriteHeader,
} from '../net/wire/ipv4.js';
import {
  TCP_HDR_MIN, TCP_MAXOLEN, TCPOPT_EOL, TCPOPT_MAXSEG, TCPOPT_NOP, TCPOPT_SACK, TCPOPT_SACK_PERMITTED,
  TCPOPT_TIMESTAMP, TCPOPT_WINDOW, formatTcpSegment, tcpHlen, tcpSetChecksum, tcpWriteHeader,
} from '../net/wire/tcp.js';
import { UDP_HDR_LEN, udpSetChecksum, udpWriteHeader } from '../net/wire/udp.js';

/** TTL of the packets the runner injects (the remote host is one hop away, behind the gateway). */
export const INBOUND_TTL = 64;

/** The ECN codepoint of a TOS byte (RFC 3168 §5). */
export const ECN_BITS: Readonly<Record<NonNullable<IpInfo['ecn']>, number>> = { noecn: 0, ect1: 1, ect0: 2, ect01: 2, ce: 3 };

/** The AE flag (RFC 3168's NS bit) lives in the low bit of byte 12, beside the data offset. */
export const TH_AE = 0x100;

/** The TOS byte an inbound packet carries: `tos` if given, with the ECN bits of `ecn` if given. */
export function inboundTos(ip: IpInfo): number {
  let tos = ip.tos ?? 0;
  if (ip.ecn) tos = (tos & ~3) | ECN_BITS[ip.ecn];
  return tos;
}

/* ------------------------------------------------------------------------ */
/* TCP options */

/** How the runner maps numbers in inbound options to the kernel's space. */
export interface OptionMap {
  /** SACK edges (acknowledgments of local data). */
  sack(n: number): number;
  /** TS ecr (an echo of a local TS val). */
  ecr(n: number): number;
}

const IDENTITY: OptionMap = { sack: (n) => n, ecr: (n) => n };

/**
 * The options as bytes on the wire, in the script's order. The list must
 * come out a multiple of 4 bytes, as on the wire: a script pads with nop
 * and eol itself (packetdrill does not pad for it).
 */
export function encodeTcpOptions(opts: readonly TcpOption[], map: OptionMap = IDENTITY): Uint8Array {
  const out: number[] = [];
  const u16 = (v: number): void => void out.push((v >>> 8) & 0xff, v & 0xff);
  const u32 = (v: number): void => void out.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  for (const o of opts) {
    switch (o.kind) {
      case 'nop':
        out.push(TCPOPT_NOP);
        break;
      case 'eol':
        out.push(TCPOPT_EOL);
        break;
      case 'mss':
        out.push(TCPOPT_MAXSEG, 4);
        u16(o.value);
        break;
      case 'wscale':
        out.push(TCPOPT_WINDOW, 3, o.value);
        break;
      case 'sackOK':
        out.push(TCPOPT_SACK_PERMITTED, 2);
        break;
      case 'sack':
        out.push(TCPOPT_SACK, 2 + 8 * o.blocks.length);
        for (const [a, b] of o.blocks) {
          u32(map.sack(a));
          u32(map.sack(b));
        }
        break;
      case 'TS':
        out.push(TCPOPT_TIMESTAMP, 10);
        u32(o.val);
        u32(map.ecr(o.ecr));
        break;
      case 'unsupported':
        throw new Unsupported(`TCP option ${o.name} is not supported by the runner`);
    }
  }
  if (out.length > TCP_MAXOLEN) throw new ScriptFailure(`TCP options take ${out.length} bytes; a header holds at most ${TCP_MAXOLEN}`);
  if (out.length % 4 !== 0) {
    throw new ScriptFailure(`TCP options take ${out.length} bytes, not a multiple of 4: pad the list with nop or eol as the wire needs`);
  }
  return Uint8Array.from(out);
}

/** The options in script notation, as formatTcpOptions prints the wire's. */
export function formatScriptOptions(opts: readonly TcpOption[]): string {
  return opts
    .map((o) => {
      switch (o.kind) {
        case 'mss':
          return `mss ${o.value}`;
        case 'wscale':
          return `wscale ${o.value}`;
        case 'sack':
          return `sack ${o.blocks.map(([a, b]) => `${a}:${b}`).join(' ')}`;
        case 'TS':
          return `TS val ${o.val} ecr ${o.ecr}`;
        case 'unsupported':
          return o.name;
        default:
          return o.kind;
      }
    })
    .join(',');
}

/* ------------------------------------------------------------------------ */
/* Building inbound datagrams */

export interface IpFields {
  src: number;
  dst: number;
  tos: number;
  ttl: number;
}

export interface TcpFields {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  /** Flag bits including TH_AE. */
  flags: number;
  win: number;
  urg: number;
  options: Uint8Array;
  /** Data bytes (packetdrill sends zeros). */
  payloadLen: number;
}

/** A whole IPv4 datagram carrying one TCP segment, checksums filled in. */
export function buildTcpDatagram(ip: IpFields, t: TcpFields): Uint8Array {
  const hlen = TCP_HDR_MIN + t.options.length;
  const total = IP_HDR_MIN + hlen + t.payloadLen;
  if (total > 0xffff) throw new ScriptFailure(`a ${total}-byte datagram does not fit IPv4`);
  const b = new Uint8Array(total);
  ipWriteHeader(b, 0, ip.tos, total, 0, 0, ip.ttl, IPPROTO_TCP, ip.src, ip.dst);
  const off = IP_HDR_MIN;
  b.set(t.options, off + TCP_HDR_MIN);
  tcpWriteHeader(b, off, t.sport, t.dport, t.seq >>> 0, t.ack >>> 0, hlen, t.flags & 0xff, t.win, t.urg);
  if (t.flags & TH_AE) b[off + 12]! |= 1;
  tcpSetChecksum(b, off, hlen + t.payloadLen, ip.src, ip.dst);
  return b;
}

/** A whole IPv4 datagram carrying one UDP datagram of `payloadLen` zeros. */
export function buildUdpDatagram(ip: IpFields, sport: number, dport: number, payloadLen: number): Uint8Array {
  const total = IP_HDR_MIN + UDP_HDR_LEN + payloadLen;
  const b = new Uint8Array(total);
  ipWriteHeader(b, 0, ip.tos, total, 0, 0, ip.ttl, IPPROTO_UDP, ip.src, ip.dst);
  udpWriteHeader(b, IP_HDR_MIN, sport, dport, UDP_HDR_LEN + payloadLen);
  udpSetChecksum(b, IP_HDR_MIN, ip.src, ip.dst);
  return b;
}

/**
 * What an ICMP error quotes (RFC 792): the offending datagram's IP header
 * and its first 8 bytes, i.e. the ports and the sequence number for TCP.
 * `l4` is the transport header as sent (only its first 8 bytes are kept);
 * `totalLen` is the quoted datagram's ip_len.
 */
export function quoteDatagram(src: number, dst: number, proto: number, totalLen: number, l4: Uint8Array): Uint8Array {
  const q = new Uint8Array(IP_HDR_MIN + 8);
  ipWriteHeader(q, 0, 0, totalLen, 0, 0, INBOUND_TTL, proto, src, dst);
  q.set(l4.subarray(0, 8), IP_HDR_MIN);
  return q;
}

/** A whole IPv4 datagram carrying an ICMP message: header, rest-of-header word, data. */
export function buildIcmpDatagram(ip: IpFields, type: number, code: number, restOfHeader: number, data: Uint8Array): Uint8Array {
  const total = IP_HDR_MIN + ICMP_HDR_LEN + data.length;
  const b = new Uint8Array(total);
  ipWriteHeader(b, 0, ip.tos, total, 0, 0, ip.ttl, IPPROTO_ICMP, ip.src, ip.dst);
  icmpWriteHeader(b, IP_HDR_MIN, type, code, restOfHeader >>> 0);
  b.set(data, IP_HDR_MIN + ICMP_HDR_LEN);
  icmpSetChecksum(b, IP_HDR_MIN, ICMP_HDR_LEN + data.length);
  return b;
}

/** The rest-of-header word an ICMP line implies: the next-hop MTU for frag_needed (RFC 1191). */
export function icmpRestOfHeader(p: IcmpPacket): number {
  if (p.type === ICMP_UNREACH && p.code === ICMP_UNREACH_NEEDFRAG) return (p.mtu ?? 0) & 0xffff;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Datagrams the kernel sent */

/** An outbound IPv4 datagram, as captured. */
export interface LivePacket {
  /** Capture time, µs of virtual time since the script started. */
  timeUs: number;
  /** The IP datagram (a copy the runner owns). */
  bytes: Uint8Array;
  src: number;
  dst: number;
  proto: number;
  tos: number;
  ttl: number;
  ipHlen: number;
  /** Transport header offset (= ipHlen) and length (ip_len - ipHlen). */
  l4: number;
  l4Len: number;
  /** The IP header checksum verified. */
  ipSumOk: boolean;
  /** The transport checksum verified (TCP, UDP with a checksum, ICMP). */
  l4SumOk: boolean;
  /** Ports for TCP and UDP, 0 otherwise. */
  sport: number;
  dport: number;
}

/** Parse a datagram the kernel sent; null when it is not IPv4 or is too short to be one. */
export function parseOutbound(bytes: Uint8Array, timeUs: number): LivePacket | null {
  if (bytes.length < IP_HDR_MIN || ipVersion(bytes, 0) !== 4) return null;
  const hl = ipHlen(bytes, 0);
  const len = ipLen(bytes, 0);
  if (hl < IP_HDR_MIN || len < hl || len > bytes.length) return null;
  const src = ipSrc(bytes, 0);
  const dst = ipDst(bytes, 0);
  const proto = ipP(bytes, 0);
  const l4Len = len - hl;
  let l4SumOk = true;
  let sport = 0;
  let dport = 0;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    if (l4Len < (proto === IPPROTO_TCP ? TCP_HDR_MIN : UDP_HDR_LEN)) return null;
    sport = (bytes[hl]! << 8) | bytes[hl + 1]!;
    dport = (bytes[hl + 2]! << 8) | bytes[hl + 3]!;
    const sumField = (bytes[hl + (proto === IPPROTO_TCP ? 16 : 6)]! << 8) | bytes[hl + (proto === IPPROTO_TCP ? 17 : 7)]!;
    // A UDP checksum of 0 means none was computed (RFC 768).
    if (proto === IPPROTO_TCP || sumField !== 0) {
      l4SumOk = cksumFinish(cksumAdd(pseudoHeaderSum(src, dst, proto, l4Len), bytes, hl, l4Len)) === 0;
    }
  } else if (proto === IPPROTO_ICMP) {
    if (l4Len < ICMP_HDR_LEN) return null;
    l4SumOk = inCksum(bytes, hl, l4Len) === 0;
  }
  return {
    timeUs, bytes, src, dst, proto, tos: ipTos(bytes, 0), ttl: ipTtl(bytes, 0), ipHlen: hl, l4: hl, l4Len,
    ipSumOk: inCksum(bytes, 0, hl) === 0, l4SumOk, sport, dport,
  };
}

/** TCP data length of a live TCP packet. */
export function tcpPayloadLen(p: LivePacket): number {
  return p.l4Len - tcpHlen(p.bytes, p.l4);
}

/* ------------------------------------------------------------------------ */
/* Decodes for messages */

/**
 * A live packet in script notation. For TCP, `seqBase` is subtracted from
 * seq (the local ISN offset, live - script) so the line reads in the
 * script's sequence space; acks and SACK blocks are the remote side's,
 * which the script writes as they are on the wire.
 */
export function formatLive(p: LivePacket, seqBase = 0): string {
  const ip = `${formatInAddr(p.src)} > ${formatInAddr(p.dst)}`;
  const info: string[] = [];
  if (p.tos & 3) info.push(['noecn', 'ect1', 'ect0', 'ce'][p.tos & 3]!);
  const ipPart = info.length ? `[${info.join(',')}] ` : '';
  if (p.proto === IPPROTO_TCP) {
    let s = formatTcpSegment(p.bytes, p.l4, p.l4Len, { seqBase });
    if (p.bytes[p.l4 + 12]! & 1) s = s.replace(/^(\S+)/, '$1A');
    return `${ipPart}${s}  (${ip}:${p.sport}>${p.dport})`;
  }
  if (p.proto === IPPROTO_UDP) return `${ipPart}udp (${p.l4Len - UDP_HDR_LEN})  (${ip}:${p.sport}>${p.dport})`;
  if (p.proto === IPPROTO_ICMP) {
    const type = p.bytes[p.l4]!;
    const code = p.bytes[p.l4 + 1]!;
    return `${ipPart}icmp ${icmpTypeName(type)} ${icmpCodeName(type, code)}  (${ip})`;
  }
  return `protocol ${p.proto}, ${p.l4Len} bytes  (${ip})`;
}

function formatIpInfo(ip: IpInfo): string {
  const parts: string[] = [];
  if (ip.ecn) parts.push(ip.ecn);
  if (ip.tos !== null) parts.push(`tos 0x${ip.tos.toString(16)}`);
  if (ip.flowlabel !== null) parts.push(`flowlabel 0x${ip.flowlabel.toString(16)}`);
  if (ip.ttl !== null) parts.push(`ttl ${ip.ttl}`);
  return parts.length ? `[${parts.join(',')}] ` : '';
}

/** A TCP line of the script, normalised (the notation formatLive uses). */
export function formatScriptTcp(t: TcpPacket): string {
  let s = `${t.flagText} ${t.seq.start}:${t.seq.end}(${t.seq.len})`;
  if (t.ack !== null) s += ` ack ${t.ack}`;
  if (t.win !== null) s += ` win ${t.win}`;
  if (t.urg !== null) s += ` urg ${t.urg}`;
  if (t.options === 'any') s += ' <...>';
  else if (t.options) s += ` <${formatScriptOptions(t.options)}>`;
  return s;
}

/** A packet line of the script without its direction and time, normalised. */
export function formatScriptPacket(p: PacketSpec): string {
  const ip = formatIpInfo(p.ip);
  const b = p.body;
  if (b.proto === 'tcp') return ip + formatScriptTcp(b);
  if (b.proto === 'udp') return `${ip}udp (${b.len})`;
  let s = `${ip}icmp ${b.typeName}${b.codeName ? ` ${b.codeName}` : ''}${b.mtu !== null ? ` mtu ${b.mtu}` : ''}`;
  if (b.quote) s += b.quote.proto === 'udp' ? ` [udp (${b.quote.len})]` : ` [${b.quote.seq.start}:${b.quote.seq.end}(${b.quote.seq.len})]`;
  return s;
}

/** Seconds with microseconds, as packetdrill prints times. */
export function formatSeconds(us: number): string {
  return (us / 1e6).toFixed(6);
}
