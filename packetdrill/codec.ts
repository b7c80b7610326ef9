/*
 * Packets in and out of the runner: IPv4 datagrams and IPv6 packets built
 * from script lines (with correct checksums; IpFields with src6/dst6 makes
 * an IPv6 one) and those the kernel sent, parsed into a small record the
 * matcher compares field by field; plus the one-line decodes the failure
 * messages print (tcpdump's notation, which is also packetdrill's).
 *
 * Inbound: the runner has mapped the script's numbers to the kernel's
 * (seq, ack, SACK blocks, TS ecr); this file only lays out bytes.
 */
import type { IcmpPacket, IpInfo, PacketSpec, TcpOption, TcpPacket } from './ast.js';
import { ScriptFailure, Unsupported } from './failure.js';
import { icmp6CodeName, icmp6TypeName, icmpCodeName, icmpTypeName } from './icmp_names.js';
import { ICMP_HDR_LEN, ICMP_UNREACH, ICMP_UNREACH_NEEDFRAG, icmpSetChecksum, icmpWriteHeader } from '../net/wire/icmp.js';
import { formatInAddr } from '../net/wire/inaddr.js';
import { formatIn6Addr } from '../net/wire/in6addr.js';
import { TCPOPT_FASTOPEN } from '../net/wire/tcp.js';
import {
  IP6_HDR_LEN, IP6_OFF_DST, IP6_OFF_SRC, IPPROTO_ICMPV6, ip6Cksum, ip6Hlim, ip6Nxt, ip6Plen, ip6Tclass, ip6WriteHeader,
} from '../net/wire/ipv6.js';
import { icmp6SetChecksum, icmp6WriteHeader } from '../net/wire/icmp6.js';
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
  /** TS ecr (an echo of a local TS val); `absolute`: written `ecr N!`, to be sent as is. */
  ecr(n: number, absolute: boolean): number;
  /** A Fast Open cookie (the live one a script cookie stood for in an outbound SYN-ACK). */
  fo(cookie: Uint8Array): Uint8Array;
}

const IDENTITY: OptionMap = { sack: (n) => n, ecr: (n) => n, fo: (c) => c };

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
        u32(map.ecr(o.ecr, o.ecrAbsolute === true));
        break;
      case 'FO': {
        const c = map.fo(o.cookie);
        out.push(TCPOPT_FASTOPEN, 2 + c.length, ...c);
        break;
      }
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
/** Bytes as lower-case hex (a Fast Open cookie's name in the script). */
export function hexOf(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

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
          return `TS val ${o.valIgnored ? '...' : o.val} ecr ${o.ecr}${o.ecrAbsolute ? '!' : ''}`;
        case 'FO':
          return o.cookie.length ? `FO ${hexOf(o.cookie)}` : 'FO';
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
  /** TOS, or an IPv6 traffic class. */
  tos: number;
  /** TTL, or an IPv6 hop limit. */
  ttl: number;
  /** IPv6: the addresses (src and dst are then unused): the packet is an IPv6 one. */
  src6?: Uint8Array;
  dst6?: Uint8Array;
}

/** The fixed IPv6 header for `plen` payload bytes of `nxt` at the start of `b`. */
function writeIp6(b: Uint8Array, ip: IpFields, plen: number, nxt: number): void {
  ip6WriteHeader(b, 0, ip.tos, 0, plen, nxt, ip.ttl, ip.src6!, 0, ip.dst6!, 0);
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

/** A whole IPv4 datagram (IPv6 packet) carrying one TCP segment, checksums filled in. */
export function buildTcpDatagram(ip: IpFields, t: TcpFields): Uint8Array {
  const hlen = TCP_HDR_MIN + t.options.length;
  if (ip.src6 && ip.dst6) {
    const plen = hlen + t.payloadLen;
    if (plen > 0xffff) throw new ScriptFailure(`a ${plen}-byte payload does not fit IPv6 without a jumbogram`);
    const b = new Uint8Array(IP6_HDR_LEN + plen);
    writeIp6(b, ip, plen, IPPROTO_TCP);
    const off = IP6_HDR_LEN;
    b.set(t.options, off + TCP_HDR_MIN);
    tcpWriteHeader(b, off, t.sport, t.dport, t.seq >>> 0, t.ack >>> 0, hlen, t.flags & 0xff, t.win, t.urg);
    if (t.flags & TH_AE) b[off + 12]! |= 1;
    const c = ip6Cksum(b, off, plen, IPPROTO_TCP, ip.src6, 0, ip.dst6, 0);
    b[off + 16] = c >>> 8;
    b[off + 17] = c & 0xff;
    return b;
  }
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

/**
 * TCP over UDP (FreeBSD's net.inet.tcp.udp_tunneling_port, RFC 8229's
 * framing without its length prefix): the TCP segment of `tcpDatagram`
 * (built by buildTcpDatagram, its checksum over the TCP pseudo header as
 * usual) as the payload of a UDP datagram from `sport` to `dport`.
 */
export function encapsulateTcpInUdp(ip: IpFields, tcpDatagram: Uint8Array, sport: number, dport: number): Uint8Array {
  const hl = ip.src6 && ip.dst6 ? IP6_HDR_LEN : IP_HDR_MIN;
  return buildUdpDatagram(ip, sport, dport, tcpDatagram.length - hl, tcpDatagram.subarray(hl));
}

/**
 * A UDP datagram the kernel sent, read as TCP inside UDP: the packet with
 * its transport view moved to the inner TCP header (ports, checksum over
 * the TCP pseudo header) and `udp` set to the outer ports. Null when the
 * payload is no TCP header.
 */
export function decapsulateUdpTcp(p: LivePacket): LivePacket | null {
  if (p.proto !== IPPROTO_UDP || p.l4Len < UDP_HDR_LEN + TCP_HDR_MIN) return null;
  const b = p.bytes;
  const l4 = p.l4 + UDP_HDR_LEN;
  const l4Len = p.l4Len - UDP_HDR_LEN;
  const thl = tcpHlen(b, l4);
  if (thl < TCP_HDR_MIN || thl > l4Len) return null;
  const sum = p.src6 !== null && p.dst6 !== null
    ? ip6Cksum(b, l4, l4Len, IPPROTO_TCP, p.src6, 0, p.dst6, 0)
    : cksumFinish(cksumAdd(pseudoHeaderSum(p.src, p.dst, IPPROTO_TCP, l4Len), b, l4, l4Len));
  return {
    ...p, proto: IPPROTO_TCP, l4, l4Len, l4SumOk: p.l4SumOk && sum === 0,
    sport: (b[l4]! << 8) | b[l4 + 1]!, dport: (b[l4 + 2]! << 8) | b[l4 + 3]!, udp: { src: p.sport, dst: p.dport },
  };
}

/** A whole IPv4 datagram (IPv6 packet) carrying one UDP datagram of `payloadLen` zeros (or `payload`). */
export function buildUdpDatagram(ip: IpFields, sport: number, dport: number, payloadLen: number, payload?: Uint8Array): Uint8Array {
  if (ip.src6 && ip.dst6) {
    const plen = UDP_HDR_LEN + payloadLen;
    const b = new Uint8Array(IP6_HDR_LEN + plen);
    writeIp6(b, ip, plen, IPPROTO_UDP);
    udpWriteHeader(b, IP6_HDR_LEN, sport, dport, plen);
    if (payload) b.set(payload, IP6_HDR_LEN + UDP_HDR_LEN);
    // RFC 8200 §8.1: the UDP checksum is mandatory over IPv6 (0 is sent as 0xffff).
    const c = ip6Cksum(b, IP6_HDR_LEN, plen, IPPROTO_UDP, ip.src6, 0, ip.dst6, 0) || 0xffff;
    b[IP6_HDR_LEN + 6] = c >>> 8;
    b[IP6_HDR_LEN + 7] = c & 0xff;
    return b;
  }
  const total = IP_HDR_MIN + UDP_HDR_LEN + payloadLen;
  const b = new Uint8Array(total);
  ipWriteHeader(b, 0, ip.tos, total, 0, 0, ip.ttl, IPPROTO_UDP, ip.src, ip.dst);
  udpWriteHeader(b, IP_HDR_MIN, sport, dport, UDP_HDR_LEN + payloadLen);
  if (payload) b.set(payload, IP_HDR_MIN + UDP_HDR_LEN);
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

/**
 * What an ICMPv6 error quotes of a packet we sent (RFC 4443 §2.4 (c): as
 * much as fits; packetdrill quotes the header and 8 bytes): the IPv6 header
 * with `plen`, the payload length of the quoted packet, then the first 8
 * bytes of `l4`.
 */
export function quoteDatagram6(src6: Uint8Array, dst6: Uint8Array, nxt: number, plen: number, l4: Uint8Array): Uint8Array {
  const q = new Uint8Array(IP6_HDR_LEN + 8);
  ip6WriteHeader(q, 0, 0, 0, plen, nxt, INBOUND_TTL, src6, 0, dst6, 0);
  q.set(l4.subarray(0, 8), IP6_HDR_LEN);
  return q;
}

/** A whole IPv6 packet carrying an ICMPv6 message: header, rest-of-header word, data; checksum over the pseudo header. */
export function buildIcmp6Datagram(ip: IpFields, type: number, code: number, restOfHeader: number, data: Uint8Array): Uint8Array {
  const plen = ICMP_HDR_LEN + data.length;
  const b = new Uint8Array(IP6_HDR_LEN + plen);
  writeIp6(b, ip, plen, IPPROTO_ICMPV6);
  icmp6WriteHeader(b, IP6_HDR_LEN, type, code, restOfHeader >>> 0);
  b.set(data, IP6_HDR_LEN + ICMP_HDR_LEN);
  icmp6SetChecksum(b, IP6_HDR_LEN, plen, ip.src6!, 0, ip.dst6!, 0);
  return b;
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

/** An outbound IPv4 datagram or IPv6 packet, as captured. */
export interface LivePacket {
  /** Capture time, µs of virtual time since the script started. */
  timeUs: number;
  /** The IP datagram (a copy the runner owns). */
  bytes: Uint8Array;
  /** IPv4 addresses (0 for IPv6). */
  src: number;
  dst: number;
  /** IPv6: the addresses (views into `bytes`); null for IPv4. */
  src6: Uint8Array | null;
  dst6: Uint8Array | null;
  proto: number;
  tos: number;
  ttl: number;
  /** IPv4 header length, or the 40 bytes of the IPv6 header. */
  ipHlen: number;
  /** Transport header offset (= ipHlen) and length (ip_len - ipHlen). */
  l4: number;
  l4Len: number;
  /** The IP header checksum verified (IPv6 has none: always true). */
  ipSumOk: boolean;
  /** The transport checksum verified (TCP, UDP with a checksum, ICMP). */
  l4SumOk: boolean;
  /** Ports for TCP and UDP, 0 otherwise. */
  sport: number;
  dport: number;
  /** TCP inside UDP (decapsulateUdpTcp): the outer ports; null for a plain datagram. */
  udp?: { src: number; dst: number } | null;
}

/**
 * An IPv6 packet the kernel sent. Its upper layer follows the fixed header
 * directly (this kernel sends TCP, UDP and ICMPv6 without extension
 * headers); anything else is reported with its next header as `proto`.
 */
function parseOutbound6(bytes: Uint8Array, timeUs: number): LivePacket | null {
  if (bytes.length < IP6_HDR_LEN) return null;
  const plen = ip6Plen(bytes, 0);
  if (IP6_HDR_LEN + plen > bytes.length) return null;
  const proto = ip6Nxt(bytes, 0);
  const src6 = bytes.subarray(IP6_OFF_SRC, IP6_OFF_SRC + 16);
  const dst6 = bytes.subarray(IP6_OFF_DST, IP6_OFF_DST + 16);
  const hl = IP6_HDR_LEN;
  let l4SumOk = true;
  let sport = 0;
  let dport = 0;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    if (plen < (proto === IPPROTO_TCP ? TCP_HDR_MIN : UDP_HDR_LEN)) return null;
    sport = (bytes[hl]! << 8) | bytes[hl + 1]!;
    dport = (bytes[hl + 2]! << 8) | bytes[hl + 3]!;
    // Mandatory for both over IPv6 (RFC 8200 §8.1).
    l4SumOk = ip6Cksum(bytes, hl, plen, proto, bytes, IP6_OFF_SRC, bytes, IP6_OFF_DST) === 0;
  } else if (proto === IPPROTO_ICMPV6) {
    if (plen < ICMP_HDR_LEN) return null;
    l4SumOk = ip6Cksum(bytes, hl, plen, proto, bytes, IP6_OFF_SRC, bytes, IP6_OFF_DST) === 0;
  }
  return {
    timeUs, bytes, src: 0, dst: 0, src6, dst6, proto, tos: ip6Tclass(bytes, 0), ttl: ip6Hlim(bytes, 0), ipHlen: hl, l4: hl,
    l4Len: plen, ipSumOk: true, l4SumOk, sport, dport,
  };
}

/** Parse a datagram the kernel sent; null when it is not IPv4 or IPv6 or is too short to be one. */
export function parseOutbound(bytes: Uint8Array, timeUs: number): LivePacket | null {
  if (bytes.length >= 1 && bytes[0]! >>> 4 === 6) return parseOutbound6(bytes, timeUs);
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
    timeUs, bytes, src, dst, src6: null, dst6: null, proto, tos: ipTos(bytes, 0), ttl: ipTtl(bytes, 0), ipHlen: hl, l4: hl, l4Len,
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
  const ip = p.src6 !== null && p.dst6 !== null
    ? `${formatIn6Addr(p.src6)} > ${formatIn6Addr(p.dst6)}`
    : `${formatInAddr(p.src)} > ${formatInAddr(p.dst)}`;
  const info: string[] = [];
  if (p.tos & 3) info.push(['noecn', 'ect1', 'ect0', 'ce'][p.tos & 3]!);
  const ipPart = info.length ? `[${info.join(',')}] ` : '';
  if (p.proto === IPPROTO_TCP) {
    let s = formatTcpSegment(p.bytes, p.l4, p.l4Len, { seqBase });
    if (p.bytes[p.l4 + 12]! & 1) s = s.replace(/^(\S+)/, '$1A');
    return `${ipPart}${s}  (${ip}:${p.sport}>${p.dport})`;
  }
  if (p.proto === IPPROTO_UDP) return `${ipPart}udp (${p.l4Len - UDP_HDR_LEN})  (${ip}:${p.sport}>${p.dport})`;
  if (p.proto === IPPROTO_ICMP && p.src6 === null) {
    const type = p.bytes[p.l4]!;
    const code = p.bytes[p.l4 + 1]!;
    return `${ipPart}icmp ${icmpTypeName(type)} ${icmpCodeName(type, code)}  (${ip})`;
  }
  if (p.proto === IPPROTO_ICMPV6 && p.src6 !== null) {
    const type = p.bytes[p.l4]!;
    const code = p.bytes[p.l4 + 1]!;
    return `${ipPart}icmp6 ${icmp6TypeName(type)} ${icmp6CodeName(type, code)}  (${ip})`;
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
  let s = t.seq.ignored ? `${t.flagText} ...(${t.seq.len})` : `${t.flagText} ${t.seq.start}:${t.seq.end}(${t.seq.len})${t.seq.absolute ? '!' : ''}`;
  if (t.ack !== null) s += ` ack ${t.ack}`;
  if (t.win !== null) s += ` win ${t.win}`;
  if (t.urg !== null) s += ` urg ${t.urg}`;
  if (t.options === 'any') s += ' <...>';
  else if (t.options) s += ` <${formatScriptOptions(t.options)}>`;
  if (t.udp) s += `/udp(${t.udp.src} > ${t.udp.dst})`;
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
