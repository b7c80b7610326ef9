/*
 * Does the packet the kernel sent match the `>` line? The checks are
 * packetdrill's (run_packet.c, verify_outbound_live_packet), in its order:
 *
 *   1. checksums: the IP header's (and, here, the TCP/UDP checksum too:
 *      there is no offload to excuse a wrong one);
 *   2. IP: version and protocol, no IP options, the ECN bits when the line
 *      gives them, TOS and TTL when it gives them;
 *   3. TCP: header length, every flag bit (FIN SYN RST PSH ACK URG ECE CWR
 *      and AE), the reserved bits, seq (mapped from the kernel's ISN to the
 *      script's), the ack field (compared even when ACK is off: it must then
 *      be 0, which BSD sends), the window unless the line leaves it out, the
 *      urgent pointer;
 *   4. options: byte for byte in the script's order, except the TS value,
 *      which is only held to the clock with --tcp_ts_tick_usecs; `<...>`
 *      skips them, no `<…>` means there must be none;
 *   5. the payload: its length, and its bytes are the zeros a script's
 *      `write(…, ..., N)` sends.
 *
 * The time is checked by the runner, which knows the event's window.
 * Unlike packetdrill, every differing field is reported, not just the first.
 */
import type { IpInfo, TcpPacket, UdpPacket } from './ast.js';
import { ECN_BITS, TH_AE, encodeTcpOptions, formatScriptOptions, hexOf, tcpPayloadLen, type LivePacket } from './codec.js';
import { IP_HDR_MIN, IPPROTO_TCP, IPPROTO_UDP } from '../net/wire/ipv4.js';
import { IP6_HDR_LEN } from '../net/wire/ipv6.js';
import {
  TCP_HDR_MIN, TCPOPT_EOL, TCPOPT_FASTOPEN, TCPOPT_NOP, TCPOPT_TIMESTAMP, formatTcpFlags, formatTcpOptions, tcpAck, tcpFlags, tcpHlen, tcpSeq, tcpUrp, tcpWin,
} from '../net/wire/tcp.js';
import { UDP_HDR_LEN } from '../net/wire/udp.js';

/** One field that differs. */
export interface Difference {
  field: string;
  expected: string;
  actual: string;
}

/** The outbound TS val mapping of one connection (packetdrill's ts_val_map and first TS). */
export class TsMap {
  /** Script TS val → the kernel's, for echoing in inbound TS ecr. */
  readonly scriptToLive = new Map<number, number>();
  first: { script: number; live: number } | null = null;

  /** Remember a pair; returns the live value mapped into script space. */
  record(script: number, live: number): number {
    this.scriptToLive.set(script, live);
    if (!this.first) this.first = { script, live };
    return (this.first.script + (live - this.first.live)) >>> 0;
  }
}

export interface TcpMatchContext {
  /** Kernel ISN minus script ISN: subtracted from the kernel's seq. */
  seqOffset: number;
  ts: TsMap;
  /** --tcp_ts_tick_usecs (0: TS values are not checked). */
  tsTickUs: number;
  toleranceUs: number;
  /** --udp_encapsulation's outbound ports, for a line without its own `/udp(…)`. */
  udp?: { src: number; dst: number } | null;
  /** Fast Open cookies by the name (hex) a `>` line gave them → what the kernel sent (sockets.ts). */
  foCookies?: Map<string, Uint8Array>;
}

/** Where a Fast Open option sits in an option list (its kind byte), or -1. */
function foOffset(opts: Uint8Array): number {
  let i = 0;
  while (i < opts.length) {
    const kind = opts[i]!;
    if (kind === TCPOPT_EOL) return -1;
    if (kind === TCPOPT_NOP) {
      i++;
      continue;
    }
    const len = opts[i + 1] ?? 0;
    if (len < 2) return -1;
    if (kind === TCPOPT_FASTOPEN) return i;
    i += len;
  }
  return -1;
}

function flagName(flags: number): string {
  return formatTcpFlags(flags & 0xff) + (flags & TH_AE ? 'A' : '');
}

/** Where the TS option's value sits in an option list, or -1. */
function tsValOffset(opts: Uint8Array): number {
  let i = 0;
  while (i < opts.length) {
    const kind = opts[i]!;
    if (kind === TCPOPT_EOL || kind === TCPOPT_NOP) {
      i++;
      continue;
    }
    const len = opts[i + 1] ?? 0;
    if (len < 2) return -1;
    if (kind === TCPOPT_TIMESTAMP && len === 10) return i + 2;
    i += len;
  }
  return -1;
}

function read32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function write32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/** Checks common to every outbound datagram: checksums, IP header, ECN/TOS/TTL when given. */
function diffIp(ip: IpInfo, live: LivePacket, proto: number, out: Difference[]): void {
  if (!live.ipSumOk) out.push({ field: 'IP checksum', expected: 'valid', actual: 'bad' });
  if (!live.l4SumOk) out.push({ field: `${proto === IPPROTO_TCP ? 'TCP' : 'UDP'} checksum`, expected: 'valid', actual: 'bad' });
  // The kernel sends no IP options and no IPv6 extension headers.
  const hlen = live.src6 !== null ? IP6_HDR_LEN : IP_HDR_MIN;
  if (live.ipHlen !== hlen) out.push({ field: 'IP header length', expected: `${hlen}`, actual: `${live.ipHlen}` });
  if (ip.ecn) {
    const got = live.tos & 3;
    const ok = ip.ecn === 'ect01' ? got === 1 || got === 2 : got === ECN_BITS[ip.ecn];
    if (!ok) out.push({ field: 'IP ECN', expected: ip.ecn, actual: ['noecn', 'ect1', 'ect0', 'ce'][got]! });
  }
  if (ip.tos !== null) {
    const mask = ip.ecn ? 0xfc : 0xff;
    if ((live.tos & mask) !== (ip.tos & mask)) out.push({ field: 'IP TOS', expected: `0x${ip.tos.toString(16)}`, actual: `0x${live.tos.toString(16)}` });
  }
  if (ip.ttl !== null && live.ttl !== ip.ttl) out.push({ field: 'IP TTL', expected: `${ip.ttl}`, actual: `${live.ttl}` });
}

/**
 * Compare a live TCP packet with a `>` TCP line. Records the TS val pair in
 * `ctx.ts` (inbound ecr values are mapped through it later) whatever the
 * outcome. Returns the differences; empty means it matches.
 */
export function diffTcp(script: TcpPacket, ip: IpInfo, live: LivePacket, ctx: TcpMatchContext): Difference[] {
  const out: Difference[] = [];
  if (live.proto !== IPPROTO_TCP) {
    out.push({ field: 'protocol', expected: 'tcp', actual: live.proto === IPPROTO_UDP ? 'udp' : `${live.proto}` });
    return out;
  }
  diffIp(ip, live, IPPROTO_TCP, out);
  const b = live.bytes;
  const o = live.l4;
  const hlen = tcpHlen(b, o);
  const liveOpts = b.subarray(o + TCP_HDR_MIN, o + hlen);

  // The options first, because the TS mapping must be recorded in any case.
  let optDiff: Difference | null = null;
  if (script.options !== 'any') {
    const want = encodeTcpOptions(script.options ?? []);
    const got = liveOpts.slice();
    const wantTs = tsValOffset(want);
    const gotTs = tsValOffset(got);
    let tsDiff: Difference | null = null;
    if (wantTs >= 0 && gotTs >= 0) {
      const scriptVal = read32(want, wantTs);
      const valIgnored = script.options?.some((x) => x.kind === 'TS' && x.valIgnored) === true;
      const mapped = valIgnored ? scriptVal : ctx.ts.record(scriptVal, read32(got, gotTs));
      const off = (mapped - scriptVal) | 0;
      if (!valIgnored && ctx.tsTickUs > 0 && Math.abs(off) * ctx.tsTickUs > ctx.toleranceUs) {
        tsDiff = { field: 'TS val', expected: `${scriptVal}`, actual: `${mapped} (in script space)` };
      }
      // Outside that check a TS value is never compared: put the script's in.
      write32(got, gotTs, scriptVal);
    }
    if (tsDiff) out.push(tsDiff);
    // A Fast Open cookie is the kernel's secret: one of the right length
    // matches any the script names, and the name stands for it from then on.
    const wantFo = foOffset(want);
    const gotFo = foOffset(got);
    if (wantFo >= 0 && gotFo >= 0 && want[wantFo + 1] === got[gotFo + 1] && want[wantFo + 1]! > 2) {
      const len = want[wantFo + 1]!;
      ctx.foCookies?.set(hexOf(want.subarray(wantFo + 2, wantFo + len)), got.slice(gotFo + 2, gotFo + len));
      got.set(want.subarray(wantFo + 2, wantFo + len), gotFo + 2);
    }
    if (got.length !== want.length || got.some((x, i) => x !== want[i])) {
      optDiff = {
        field: 'options',
        expected: want.length ? `<${formatScriptOptions(script.options ?? [])}>` : 'none',
        actual: got.length ? `<${formatTcpOptions(liveOpts, 0, liveOpts.length)}>` : 'none',
      };
    }
  }

  const flags = tcpFlags(b, o) | (b[o + 12]! & 1 ? TH_AE : 0);
  if (flags !== script.flags) out.push({ field: 'flags', expected: flagName(script.flags), actual: flagName(flags) });
  const reserved = (b[o + 12]! >>> 1) & 7;
  if (reserved !== 0) out.push({ field: 'reserved bits', expected: '0', actual: `${reserved}` });
  // `...(len)` takes any seq; `a:b(len)!` compares the wire's number itself.
  const seq = (tcpSeq(b, o) - (script.seq.absolute ? 0 : ctx.seqOffset)) >>> 0;
  if (!script.seq.ignored && seq !== script.seq.start) out.push({ field: 'seq', expected: `${script.seq.start}`, actual: `${seq}` });
  const ack = tcpAck(b, o);
  const wantAck = script.ack ?? 0;
  if (ack !== wantAck) {
    out.push({ field: 'ack', expected: `${wantAck}${script.ack === null ? ' (no ack given)' : ''}`, actual: `${ack}` });
  }
  if (script.win !== null && tcpWin(b, o) !== script.win) out.push({ field: 'win', expected: `${script.win}`, actual: `${tcpWin(b, o)}` });
  const urg = tcpUrp(b, o);
  if (urg !== (script.urg ?? 0)) out.push({ field: 'urg', expected: `${script.urg ?? 0}`, actual: `${urg}` });
  if (optDiff) out.push(optDiff);
  const wantUdp = script.udp ?? ctx.udp ?? null;
  const gotUdp = live.udp ?? null;
  if (wantUdp?.src !== gotUdp?.src || wantUdp?.dst !== gotUdp?.dst) {
    const show = (u: { src: number; dst: number } | null): string => (u ? `/udp(${u.src} > ${u.dst})` : 'plain TCP');
    out.push({ field: 'UDP encapsulation', expected: show(wantUdp), actual: show(gotUdp) });
  }
  const len = tcpPayloadLen(live);
  if (len !== script.seq.len) out.push({ field: 'payload length', expected: `${script.seq.len}`, actual: `${len}` });
  else diffZeros(b.subarray(o + hlen, o + hlen + len), out);
  return out;
}

/** Compare a live UDP datagram with a `> udp (N)` line. */
export function diffUdp(script: UdpPacket, ip: IpInfo, live: LivePacket): Difference[] {
  const out: Difference[] = [];
  if (live.proto !== IPPROTO_UDP) {
    out.push({ field: 'protocol', expected: 'udp', actual: live.proto === IPPROTO_TCP ? 'tcp' : `${live.proto}` });
    return out;
  }
  diffIp(ip, live, IPPROTO_UDP, out);
  const len = live.l4Len - UDP_HDR_LEN;
  if (len !== script.len) out.push({ field: 'payload length', expected: `${script.len}`, actual: `${len}` });
  else diffZeros(live.bytes.subarray(live.l4 + UDP_HDR_LEN, live.l4 + live.l4Len), out);
  return out;
}

function diffZeros(data: Uint8Array, out: Difference[]): void {
  const at = data.findIndex((x) => x !== 0);
  if (at >= 0) out.push({ field: 'payload', expected: `${data.length} zero bytes`, actual: `byte ${at} is 0x${data[at]!.toString(16)}` });
}

/** The differences as report lines. */
export function describeDifferences(d: readonly Difference[]): string[] {
  return d.map((x) => `  ${x.field}: expected ${x.expected}, got ${x.actual}`);
}
