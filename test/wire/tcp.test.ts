import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { IPPROTO_TCP, IpCheck, ipCheck, ipDst, ipHlen, ipLen, ipP, ipSrc } from '../../net/wire/ipv4.js';
import {
  TCPOPT_MAXSEG,
  TCPOPT_SACK,
  TCP_HDR_MIN,
  TH_ACK,
  TH_CWR,
  TH_ECE,
  TH_FIN,
  TH_PUSH,
  TH_RST,
  TH_SYN,
  TH_URG,
  TcpCheck,
  TcpOptions,
  formatTcpFlags,
  formatTcpSegment,
  tcpAck,
  tcpCheck,
  tcpDport,
  tcpFlags,
  tcpHlen,
  tcpOptEol,
  tcpOptMss,
  tcpOptNop,
  tcpOptSack,
  tcpOptSackPermitted,
  tcpOptTimestamp,
  tcpOptWscale,
  tcpOptionsLength,
  tcpParseOptions,
  tcpSeq,
  tcpSetAck,
  tcpSetChecksum,
  tcpSetFlags,
  tcpSetHlen,
  tcpSetSeq,
  tcpSetSum,
  tcpSetWin,
  tcpSport,
  tcpSum,
  tcpUrp,
  tcpWin,
  tcpWriteHeader,
} from '../../net/wire/tcp.js';
import { PcapWriter } from '../../net/wire/pcap.js';
import { ADDR_1, ADDR_2, fromHex, makePrng, randomBytes } from './helpers.js';

/*
 * Fixtures, as IPv4 packets (no link header).
 *
 * LINUX_*: a real exchange captured with tcpdump between two Linux network
 * namespaces joined by a veth pair (192.0.2.1 ↔ 192.0.2.2, transmit
 * checksum offload switched off so the checksums on the wire are complete).
 * The client at 192.0.2.1:54321 connects to 192.0.2.2:8080, sends
 * "hello, rumpnet\n", half-closes, the server closes; then a connect to the
 * closed port 8081 is refused with RST+ACK. tshark decoded every segment
 * with tcp.check_checksum on and found the checksums good. Linux lays out
 * SYN options as mss,sackOK,TS,nop,wscale, with window scale 10.
 *
 * BSD_*: FreeBSD's layouts (../shared/reference/packetdrill.md), built byte
 * by byte from RFC 9293 §3.1, RFC 7323 and RFC 2018 with an independent
 * Python script (its own checksum); tshark decoded them with the options,
 * SACK edges and good checksums listed in the comments.
 */
const LINUX_SYN =
  '4500003c64ac40004006520cc0000201c0000202d4311f909761177500000000a002faf00c390000020405b40402080a10e20955000000000103030a';
const LINUX_SYNACK =
  '4500003c000040004006b6b8c0000202c00002011f90d431080a46a397611776a012fe882eed0000020405b40402080afc048ef010e209550103030a';
const LINUX_ACK =
  '4500003464ad400040065213c0000201c0000202d4311f9097611776080a46a48010003f5c0600000101080a10e20955fc048ef0';
const LINUX_DATA =
  '4500004364ae400040065203c0000201c0000202d4311f9097611776080a46a48018003fa22d00000101080a10e20956fc048ef068656c6c6f2c2072756d706e65740a';
const LINUX_FIN =
  '4500003464af400040065211c0000201c0000202d4311f9097611785080a46a48011003f5b8f00000101080a10e209bbfc048ef1';
const LINUX_RST =
  '45000028000040004006b6ccc0000202c00002011f91aa96000000003b40235750140000030e0000';
/** SYN 192.0.2.1:54321 → :8080, seq 1000, win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>. */
const BSD_SYN =
  '4500003c000140004006b6b7c0000201c0000202d4311f90000003e800000000a002ffffcbef0000020405b4010303060402080a0000006400000000';
/** SYN-ACK seq 5000 ack 1001 win 65535 <mss 1460,sackOK,eol,eol> (answer to a peer offering mss and sackOK). */
const BSD_SYNACK =
  '45000030000240004006b6c2c0000202c00002011f90d43100001388000003e97012fffff4d90000020405b404020000';
/** ACK 5001 ack 2001 win 1026 <nop,nop,TS val 200 ecr 100,nop,nop,sack 3001:4001 5001:6001 7001:8001>: 40 bytes of options. */
const BSD_SACK_TS =
  '45000050000340004006b6a1c0000202c00002011f90d43100001389000007d1f0100402e74900000101080a000000c8000000640101051a00000bb900000fa1000013890000177100001b5900001f41';
/** As above without timestamps: four blocks, the first wrapping past 2^32 (0xfffffc00:0x200). */
const BSD_SACK_4 =
  '4500004c000440004006b6a4c0000202c00002011f90d43100001389000007d1e0100402037c000001010522fffffc000000020000000bb900000fa1000013890000177100001b5900001f41';

interface Seg {
  pkt: Uint8Array;
  /** TCP offset in pkt. */
  off: number;
  /** TCP length (IP payload). */
  len: number;
  src: number;
  dst: number;
}

function seg(hex: string): Seg {
  const pkt = fromHex(hex);
  const off = ipHlen(pkt, 0);
  return { pkt, off, len: ipLen(pkt, 0) - off, src: ipSrc(pkt, 0), dst: ipDst(pkt, 0) };
}

function check(s: Seg): TcpCheck {
  return tcpCheck(s.pkt, s.off, s.len, s.src, s.dst);
}

function parse(s: Seg, into = new TcpOptions()): { ok: boolean; o: TcpOptions } {
  const optOff = s.off + TCP_HDR_MIN;
  const ok = tcpParseOptions(s.pkt, optOff, tcpHlen(s.pkt, s.off) - TCP_HDR_MIN, (tcpFlags(s.pkt, s.off) & TH_SYN) !== 0, into);
  return { ok, o: into };
}

const ALL = { LINUX_SYN, LINUX_SYNACK, LINUX_ACK, LINUX_DATA, LINUX_FIN, LINUX_RST, BSD_SYN, BSD_SYNACK, BSD_SACK_TS, BSD_SACK_4 };

test('every fixture is an IPv4 TCP packet whose checksum verifies with its pseudo header', (t) => {
  for (const [name, hex] of Object.entries(ALL)) {
    const s = seg(hex);
    t.is(ipCheck(s.pkt, 0, s.pkt.length), IpCheck.Ok, name);
    t.is(ipP(s.pkt, 0), IPPROTO_TCP, name);
    t.is(check(s), TcpCheck.Ok, name);
    t.true(parse(s).ok, name);
  }
});

test('the Linux handshake parses to the fields tshark shows', (t) => {
  const syn = seg(LINUX_SYN);
  t.is(tcpSport(syn.pkt, syn.off), 54321);
  t.is(tcpDport(syn.pkt, syn.off), 8080);
  t.is(tcpSeq(syn.pkt, syn.off), 2539722613, 'u32, not a negative int32');
  t.is(tcpAck(syn.pkt, syn.off), 0);
  t.is(tcpHlen(syn.pkt, syn.off), 40);
  t.is(tcpOptionsLength(syn.pkt, syn.off), 20);
  t.is(tcpFlags(syn.pkt, syn.off), TH_SYN);
  t.is(tcpWin(syn.pkt, syn.off), 64240);
  t.is(tcpSum(syn.pkt, syn.off), 0x0c39);
  t.is(tcpUrp(syn.pkt, syn.off), 0);
  const o = parse(syn).o;
  t.is(o.mss, 1460);
  t.is(o.wscale, 10);
  t.true(o.sackPermitted);
  t.true(o.tsPresent);
  t.is(o.tsVal, 283248981);
  t.is(o.tsEcr, 0);
  t.is(o.nsack, 0);

  const synack = seg(LINUX_SYNACK);
  t.is(tcpFlags(synack.pkt, synack.off), TH_SYN | TH_ACK);
  t.is(tcpSeq(synack.pkt, synack.off), 134891171);
  t.is(tcpAck(synack.pkt, synack.off), 2539722614);
  t.is(tcpWin(synack.pkt, synack.off), 65160);
  const oa = parse(synack).o;
  t.is(oa.tsVal, 4228157168);
  t.is(oa.tsEcr, 283248981, 'echoes the SYN');

  const data = seg(LINUX_DATA);
  t.is(tcpFlags(data.pkt, data.off), TH_PUSH | TH_ACK);
  t.is(data.len - tcpHlen(data.pkt, data.off), 15);
  const payload = data.pkt.subarray(data.off + tcpHlen(data.pkt, data.off), data.off + data.len);
  t.is(Buffer.from(payload).toString(), 'hello, rumpnet\n');
  const od = parse(data).o;
  t.is(od.mss, -1, 'no MSS outside a SYN');
  t.true(od.tsPresent);
});

test('formatTcpSegment prints the Linux exchange in packetdrill notation', (t) => {
  const f = (hex: string, base?: { seqBase: number; ackBase: number }): string => {
    const s = seg(hex);
    return formatTcpSegment(s.pkt, s.off, s.len, base);
  };
  t.is(f(LINUX_SYN), 'S 2539722613:2539722613(0) win 64240 <mss 1460,sackOK,TS val 283248981 ecr 0,nop,wscale 10>');
  t.is(
    f(LINUX_SYNACK),
    'S. 134891171:134891171(0) ack 2539722614 win 65160 <mss 1460,sackOK,TS val 4228157168 ecr 283248981,nop,wscale 10>',
  );
  // Relative to the ISNs, as packetdrill writes non-SYN segments.
  const rel = { seqBase: 2539722613, ackBase: 134891171 };
  t.is(f(LINUX_ACK, rel), '. 1:1(0) ack 1 win 63 <nop,nop,TS val 283248981 ecr 4228157168>');
  t.is(f(LINUX_DATA, rel), 'P. 1:16(15) ack 1 win 63 <nop,nop,TS val 283248982 ecr 4228157168>');
  t.is(f(LINUX_FIN, rel), 'F. 16:16(0) ack 1 win 63 <nop,nop,TS val 283249083 ecr 4228157169>');
  t.is(f(LINUX_RST), 'R. 0:0(0) ack 994059095 win 0');
  const s = seg(LINUX_RST);
  t.is(formatTcpSegment(s.pkt, s.off, s.len, { ports: true }), '8081 > 43670: R. 0:0(0) ack 994059095 win 0');
});

test('FreeBSD layouts: parse, print, and re-emit byte for byte with the writers', (t) => {
  const syn = seg(BSD_SYN);
  t.is(formatTcpSegment(syn.pkt, syn.off, syn.len), 'S 1000:1000(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>');
  const synack = seg(BSD_SYNACK);
  t.is(formatTcpSegment(synack.pkt, synack.off, synack.len), 'S. 5000:5000(0) ack 1001 win 65535 <mss 1460,sackOK,eol,eol>');
  const sackTs = seg(BSD_SACK_TS);
  t.is(
    formatTcpSegment(sackTs.pkt, sackTs.off, sackTs.len, { seqBase: 5000, ackBase: 1000 }),
    '. 1:1(0) ack 1001 win 1026 <nop,nop,TS val 200 ecr 100,nop,nop,sack 2001:3001 4001:5001 6001:7001>',
  );
  const sack4 = seg(BSD_SACK_4);
  t.is(
    formatTcpSegment(sack4.pkt, sack4.off, sack4.len),
    '. 5001:5001(0) ack 2001 win 1026 <nop,nop,sack 4294966272:512 3001:4001 5001:6001 7001:8001>',
  );

  // Emit each from values into a buffer at an odd offset, then compare.
  const emit = (
    s: Seg,
    flags: number,
    seq: number,
    ack: number,
    win: number,
    writeOpts: (b: Uint8Array, at: number) => number,
  ): Uint8Array => {
    const base = 3;
    const out = new Uint8Array(base + s.len);
    const end = writeOpts(out, base + TCP_HDR_MIN);
    const hlen = end - base;
    tcpWriteHeader(out, base, tcpSport(s.pkt, s.off), tcpDport(s.pkt, s.off), seq, ack, hlen, flags, win, 0);
    t.is(tcpSum(out, base), 0, 'written with a zero checksum');
    tcpSetChecksum(out, base, hlen, s.src, s.dst);
    return out.subarray(base);
  };
  const want = (s: Seg): Uint8Array => s.pkt.subarray(s.off, s.off + s.len);

  t.deepEqual(
    emit(syn, TH_SYN, 1000, 0, 65535, (b, at) => {
      at = tcpOptMss(b, at, 1460);
      at = tcpOptNop(b, at);
      at = tcpOptWscale(b, at, 6);
      at = tcpOptSackPermitted(b, at);
      return tcpOptTimestamp(b, at, 100, 0);
    }),
    want(syn),
  );
  t.deepEqual(
    emit(synack, TH_SYN | TH_ACK, 5000, 1001, 65535, (b, at) => {
      at = tcpOptMss(b, at, 1460);
      at = tcpOptSackPermitted(b, at);
      at = tcpOptEol(b, at);
      return tcpOptEol(b, at);
    }),
    want(synack),
  );
  const blocks = new Uint32Array([0xfffffc00, 0x200, 3001, 4001, 5001, 6001, 7001, 8001]);
  t.deepEqual(
    emit(sackTs, TH_ACK, 5001, 2001, 1026, (b, at) => {
      at = tcpOptNop(b, at);
      at = tcpOptNop(b, at);
      at = tcpOptTimestamp(b, at, 200, 100);
      at = tcpOptNop(b, at);
      at = tcpOptNop(b, at);
      return tcpOptSack(b, at, blocks.subarray(2), 3);
    }),
    want(sackTs),
  );
  t.deepEqual(
    emit(sack4, TH_ACK, 5001, 2001, 1026, (b, at) => {
      at = tcpOptNop(b, at);
      at = tcpOptNop(b, at);
      return tcpOptSack(b, at, blocks, 4);
    }),
    want(sack4),
  );
});

test('the Linux data segment re-emits byte for byte (header, options and payload)', (t) => {
  const s = seg(LINUX_DATA);
  const hlen = tcpHlen(s.pkt, s.off);
  const out = new Uint8Array(s.len);
  out.set(s.pkt.subarray(s.off + hlen, s.off + s.len), hlen); // data first, then the header in front
  let at = tcpOptNop(out, TCP_HDR_MIN);
  at = tcpOptNop(out, at);
  at = tcpOptTimestamp(out, at, 283248982, 4228157168);
  t.is(at, hlen);
  tcpWriteHeader(out, 0, 54321, 8080, 2539722614, 134891172, hlen, TH_PUSH | TH_ACK, 63, 0);
  tcpSetChecksum(out, 0, s.len, s.src, s.dst);
  t.deepEqual(out, s.pkt.subarray(s.off, s.off + s.len));
});

test('SACK blocks and their edges parse, including a block wrapping past 2^32', (t) => {
  const { ok, o } = parse(seg(BSD_SACK_4));
  t.true(ok);
  t.is(o.nsack, 4);
  t.deepEqual(Array.from(o.sack), [0xfffffc00, 0x200, 3001, 4001, 5001, 6001, 7001, 8001]);
  t.false(o.tsPresent);
  const ts = parse(seg(BSD_SACK_TS)).o;
  t.is(ts.nsack, 3);
  t.deepEqual(Array.from(ts.sack.subarray(0, 6)), [3001, 4001, 5001, 6001, 7001, 8001]);
  t.true(ts.tsPresent);
  t.is(ts.tsVal, 200);
  t.is(ts.tsEcr, 100);
});

test('the checksum covers the pseudo header and every byte', (t) => {
  const s = seg(LINUX_DATA);
  t.is(tcpCheck(s.pkt, s.off, s.len, s.dst, s.src), TcpCheck.Ok, 'swapping the addresses keeps the sum');
  t.is(tcpCheck(s.pkt, s.off, s.len, ADDR_1, ADDR_2 + 1), TcpCheck.BadSum);
  t.is(tcpCheck(s.pkt, s.off, s.len, ADDR_1 + 0x100, ADDR_2), TcpCheck.BadSum);
  for (let at = 0; at < s.len; at++) {
    for (const bit of [0x01, 0x80]) {
      const c = seg(LINUX_DATA);
      c.pkt[c.off + at]! ^= bit;
      t.is(check(c), TcpCheck.BadSum, `byte ${at} bit ${bit}`);
    }
  }
  // A zero on the wire is not "no checksum" as in UDP: it is checked.
  const z = seg(LINUX_ACK);
  tcpSetSum(z.pkt, z.off, 0);
  t.is(check(z), TcpCheck.BadSum);
});

test('every truncated length is rejected, and nothing throws', (t) => {
  for (const [name, hex] of Object.entries(ALL)) {
    const s = seg(hex);
    for (let len = 0; len < s.len; len++) {
      const expected = len < TCP_HDR_MIN ? TcpCheck.TooShort : TcpCheck.BadSum;
      t.is(tcpCheck(s.pkt, s.off, len, s.src, s.dst), expected, `${name} len ${len}`);
      const short = s.pkt.slice(s.off, s.off + len);
      t.is(tcpCheck(short, 0, len, s.src, s.dst), expected, `${name} len ${len} in a short buffer`);
      t.is(tcpCheck(short, 0, s.len, s.src, s.dst), TcpCheck.TooShort, 'a length beyond the buffer');
      t.notThrows(() => {
        tcpSport(short, 0);
        tcpDport(short, 0);
        tcpSeq(short, 0);
        tcpAck(short, 0);
        tcpHlen(short, 0);
        tcpFlags(short, 0);
        tcpWin(short, 0);
        tcpSum(short, 0);
        tcpUrp(short, 0);
        tcpOptionsLength(short, 0);
        // The header claims more options than the buffer holds: malformed, never a throw.
        const o = new TcpOptions();
        const ok = tcpParseOptions(short, TCP_HDR_MIN, tcpHlen(s.pkt, s.off) - TCP_HDR_MIN, true, o);
        if (len < tcpHlen(s.pkt, s.off)) t.false(ok, `${name} options cut at ${len}`);
        t.is(typeof formatTcpSegment(short, 0, len), 'string');
        t.is(typeof formatTcpSegment(short, 0, s.len), 'string');
      });
    }
    t.is(tcpCheck(s.pkt, -1, s.len, s.src, s.dst), TcpCheck.TooShort, 'negative offset');
  }
  t.is(formatTcpSegment(new Uint8Array(7), 0, 7), '[tcp truncated: 7 bytes]');
});

test('a data offset below 5 words or past the segment is BadOff', (t) => {
  for (const words of [0, 1, 4, 11, 15]) {
    const s = seg(LINUX_DATA); // 32-byte header + 15 bytes: offsets up to 11 words fit
    tcpSetHlen(s.pkt, s.off, words * 4);
    tcpSetChecksum(s.pkt, s.off, s.len, s.src, s.dst);
    const expected = words < 5 || words * 4 > s.len ? TcpCheck.BadOff : TcpCheck.Ok;
    t.is(check(s), expected, `offset ${words}`);
    t.notThrows(() => formatTcpSegment(s.pkt, s.off, s.len));
  }
  const s = seg(LINUX_ACK);
  tcpSetHlen(s.pkt, s.off, 16);
  t.is(formatTcpSegment(s.pkt, s.off, s.len), '. [bad hdr length 16, segment 32]');
});

/** Runs tcpParseOptions over raw option bytes placed at offset 5 of a buffer just long enough. */
function opts(bytes: number[], isSyn: boolean, into = new TcpOptions()): { ok: boolean; o: TcpOptions } {
  const buf = new Uint8Array(5 + bytes.length);
  buf.set(bytes, 5);
  return { ok: tcpParseOptions(buf, 5, bytes.length, isSyn, into), o: into };
}

test('malformed option lists are rejected; what came before is kept', (t) => {
  const mss = [2, 4, 0x05, 0xb4];
  // Length byte 0 or 1: would loop forever or step back; BSD stops.
  for (const bad of [0, 1]) {
    const r = opts([...mss, 8, bad, 1, 1], true);
    t.false(r.ok, `length ${bad}`);
    t.is(r.o.mss, 1460, 'the MSS before it still counts');
    t.false(r.o.tsPresent);
  }
  // A length running past the end of the options.
  t.false(opts([...mss, 8, 10, 0, 0, 0, 1], true).ok);
  t.false(opts([1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2], false).ok, 'a two-block SACK with one block of room');
  // A kind with no length byte after it.
  t.false(opts([1, 1, 1, 2], true).ok);
  t.false(opts([3], true).ok);
  // Unknown kinds and wrong lengths for known kinds are skipped, not fatal.
  const skip = opts([30, 4, 0xaa, 0xbb, 2, 3, 0xff, 3, 4, 1, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9], true);
  t.true(skip.ok);
  t.is(skip.o.mss, -1, 'MSS with length 3 ignored');
  t.is(skip.o.wscale, -1, 'window scale with length 4 ignored');
  t.true(skip.o.tsPresent, 'parsing went on to the timestamp');
  t.is(skip.o.tsVal, 7);
  t.is(skip.o.tsEcr, 9);
  t.true(opts([5, 2], false).ok, 'an empty SACK is skipped');
  t.is(opts([5, 2], false).o.nsack, 0);
  t.is(opts([5, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0], false).o.nsack, 0, 'a SACK length not 8n + 2 is skipped');
  // EOL ends the list: bytes after it are padding, even if they look like options.
  const eol = opts([0, 2, 4, 0x05, 0xb4], true);
  t.true(eol.ok);
  t.is(eol.o.mss, -1);
  // Zero-length list.
  t.true(opts([], true).ok);
});

test('options are honoured only where RFCs and BSD allow them', (t) => {
  const synOpts = [2, 4, 0x05, 0xb4, 1, 3, 3, 6, 4, 2, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0];
  const onSyn = opts(synOpts, true).o;
  t.is(onSyn.mss, 1460);
  t.is(onSyn.wscale, 6);
  t.true(onSyn.sackPermitted);
  t.true(onSyn.tsPresent);
  // The same bytes on a non-SYN: only the timestamp counts (RFC 9293 §3.7.1, RFC 7323 §2.2, RFC 2018 §2).
  const later = opts(synOpts, false).o;
  t.is(later.mss, -1);
  t.is(later.wscale, -1);
  t.false(later.sackPermitted);
  t.true(later.tsPresent);
  t.is(later.tsVal, 100);
  // SACK blocks on a SYN are ignored (FreeBSD's tcp_dooptions).
  const sack = [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2];
  t.is(opts(sack, true).o.nsack, 0);
  t.is(opts(sack, false).o.nsack, 1);
  // A window shift above 14 is used as 14 (RFC 7323 §2.3).
  t.is(opts([3, 3, 15, 0], true).o.wscale, 14);
  t.is(opts([3, 3, 255, 0], true).o.wscale, 14);
  t.is(opts([3, 3, 14, 0], true).o.wscale, 14);
  t.is(opts([3, 3, 0, 0], true).o.wscale, 0);
});

test('one TcpOptions is reused: each parse starts from nothing', (t) => {
  const o = new TcpOptions();
  opts([2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], true, o);
  t.is(o.mss, 1460);
  opts([1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2], false, o);
  t.is(o.mss, -1);
  t.false(o.sackPermitted);
  t.false(o.tsPresent);
  t.is(o.nsack, 1);
  opts([], false, o);
  t.is(o.nsack, 0);
});

test('formatTcpSegment never throws on hostile option bytes and says what it saw', (t) => {
  const buf = new Uint8Array(TCP_HDR_MIN + 8);
  tcpWriteHeader(buf, 0, 1, 2, 10, 20, buf.length, TH_ACK | TH_URG, 100, 7);
  buf.set([2, 4, 0x02, 0x18, TCPOPT_MAXSEG, 0, 1, 1], TCP_HDR_MIN);
  t.is(formatTcpSegment(buf, 0, buf.length), '.U 10:10(0) ack 20 win 100 urg 7 <mss 536,malformed kind 2 len 0>');
  buf.set([30, 3, 9, 1, 1, 1, TCPOPT_SACK, 12], TCP_HDR_MIN);
  t.is(formatTcpSegment(buf, 0, buf.length), '.U 10:10(0) ack 20 win 100 urg 7 <opt 30 len 3,nop,nop,nop,malformed kind 5 len 12>');
  const next = makePrng(9293);
  for (let round = 0; round < 2000; round++) {
    const b = randomBytes(next, TCP_HDR_MIN + (next() % 48));
    const len = next() % (b.length + 8);
    t.notThrows(() => {
      formatTcpSegment(b, 0, len);
      tcpParseOptions(b, TCP_HDR_MIN, tcpHlen(b, 0) - TCP_HDR_MIN, (b[13]! & TH_SYN) !== 0, new TcpOptions());
    });
  }
});

test('flags print in packetdrill letters and order', (t) => {
  t.is(formatTcpFlags(TH_SYN), 'S');
  t.is(formatTcpFlags(TH_SYN | TH_ACK), 'S.');
  t.is(formatTcpFlags(TH_ACK), '.');
  t.is(formatTcpFlags(TH_PUSH | TH_ACK), 'P.');
  t.is(formatTcpFlags(TH_FIN | TH_ACK), 'F.');
  t.is(formatTcpFlags(TH_FIN | TH_PUSH | TH_ACK), 'FP.');
  t.is(formatTcpFlags(TH_RST), 'R');
  t.is(formatTcpFlags(TH_RST | TH_ACK), 'R.');
  t.is(formatTcpFlags(TH_SYN | TH_ECE | TH_CWR), 'SEW');
  t.is(formatTcpFlags(0), '-');
});

test('setters write in place; sequence numbers stay u32 across the wrap', (t) => {
  const b = new Uint8Array(TCP_HDR_MIN);
  tcpWriteHeader(b, 0, 65535, 1, 0xffffffff, 0x80000000, TCP_HDR_MIN, TH_ACK, 65535, 0);
  t.is(tcpSport(b, 0), 65535);
  t.is(tcpSeq(b, 0), 0xffffffff);
  t.is(tcpAck(b, 0), 0x80000000);
  t.is(tcpHlen(b, 0), 20);
  tcpSetSeq(b, 0, (0xffffffff + 2) >>> 0);
  t.is(tcpSeq(b, 0), 1);
  tcpSetAck(b, 0, 0xdeadbeef);
  t.is(tcpAck(b, 0), 0xdeadbeef);
  tcpSetWin(b, 0, 1234);
  t.is(tcpWin(b, 0), 1234);
  tcpSetFlags(b, 0, TH_FIN | TH_ACK);
  t.is(tcpFlags(b, 0), TH_FIN | TH_ACK);
  t.is(formatTcpSegment(b, 0, 20), 'F. 1:1(0) ack 3735928559 win 1234');
  t.is(formatTcpSegment(b, 0, 20, { seqBase: 0xfffffff0 }), 'F. 17:17(0) ack 3735928559 win 1234', 'relative across the wrap');
});

test('random segments with random options round-trip through emit, check and parse', (t) => {
  const next = makePrng(7323);
  const o = new TcpOptions();
  const blocks = new Uint32Array(8);
  for (let round = 0; round < 300; round++) {
    const off = next() % 5;
    const dataLen = next() % 1500;
    const isSyn = (next() & 1) === 1;
    const want = { mss: -1, wscale: -1, sackPermitted: false, tsPresent: false, tsVal: 0, tsEcr: 0, nsack: 0 };
    const buf = new Uint8Array(off + 60 + dataLen);
    let at = off + TCP_HDR_MIN;
    if (isSyn && next() & 1) {
      want.mss = next() & 0xffff;
      at = tcpOptMss(buf, at, want.mss);
    }
    if (isSyn && next() & 1) {
      want.wscale = next() % 15;
      at = tcpOptNop(buf, at);
      at = tcpOptWscale(buf, at, want.wscale);
    }
    if (isSyn && next() & 1) {
      want.sackPermitted = true;
      at = tcpOptSackPermitted(buf, at);
    }
    if (next() & 1) {
      want.tsPresent = true;
      want.tsVal = next();
      want.tsEcr = next();
      at = tcpOptNop(buf, at);
      at = tcpOptNop(buf, at);
      at = tcpOptTimestamp(buf, at, want.tsVal, want.tsEcr);
    }
    if (!isSyn && next() & 1) {
      want.nsack = 1 + (next() % (want.tsPresent ? 3 : 4));
      for (let i = 0; i < 2 * want.nsack; i++) blocks[i] = next();
      at = tcpOptNop(buf, at);
      at = tcpOptNop(buf, at);
      at = tcpOptSack(buf, at, blocks, want.nsack);
    }
    while ((at - off) % 4 !== 0) at = tcpOptEol(buf, at);
    const hlen = at - off;
    t.true(hlen <= 60);
    buf.set(randomBytes(next, dataLen), off + hlen);
    const len = hlen + dataLen;
    const src = next();
    const dst = next();
    const flags = (isSyn ? TH_SYN : 0) | (next() & ~TH_SYN & 0xff);
    tcpWriteHeader(buf, off, next() & 0xffff, next() & 0xffff, next(), next(), hlen, flags, next() & 0xffff, next() & 0xffff);
    tcpSetChecksum(buf, off, len, src, dst);
    t.is(tcpCheck(buf, off, len, src, dst), TcpCheck.Ok, `round ${round}`);
    t.is(tcpHlen(buf, off), hlen);
    t.is(tcpFlags(buf, off), flags);
    t.true(tcpParseOptions(buf, off + TCP_HDR_MIN, hlen - TCP_HDR_MIN, isSyn, o));
    t.deepEqual(
      { mss: o.mss, wscale: o.wscale, sackPermitted: o.sackPermitted, tsPresent: o.tsPresent, tsVal: o.tsVal, tsEcr: o.tsEcr, nsack: o.nsack },
      want,
    );
    t.deepEqual(Array.from(o.sack.subarray(0, 2 * o.nsack)), Array.from(blocks.subarray(0, 2 * want.nsack)));
  }
});

/*
 * An independent decoder reads what the writers emit: random segments with
 * random options, wrapped in IPv4, written to a pcap (LINKTYPE_IPV4) and
 * decoded by tshark with checksum verification. Skipped (and says so) where
 * tshark is not installed; CI installs it.
 */
const hasTshark = spawnSync('sh', ['-c', 'command -v tshark']).status === 0;
(hasTshark ? test : test.skip)('tshark decodes emitted segments: good checksums, the same options, nothing malformed', (t) => {
  const next = makePrng(2018);
  const writer = new PcapWriter({ linktype: 228 /* LINKTYPE_IPV4 */ });
  const want: string[] = [];
  const blocks = new Uint32Array(8);
  for (let i = 0; i < 200; i++) {
    const isSyn = i % 3 === 0;
    const dataLen = isSyn ? 0 : next() % 1400;
    const pkt = new Uint8Array(20 + 60 + dataLen);
    const t0 = 20;
    let at = t0 + TCP_HDR_MIN;
    const mss = 536 + (next() % 9000);
    const ws = next() % 15;
    const tsVal = next();
    const tsEcr = next();
    let nsack = 0;
    if (isSyn) {
      at = tcpOptMss(pkt, at, mss);
      at = tcpOptNop(pkt, at);
      at = tcpOptWscale(pkt, at, ws);
      at = tcpOptSackPermitted(pkt, at);
      at = tcpOptTimestamp(pkt, at, tsVal, tsEcr);
    } else {
      at = tcpOptNop(pkt, at);
      at = tcpOptNop(pkt, at);
      at = tcpOptTimestamp(pkt, at, tsVal, tsEcr);
      nsack = next() % 4;
      if (nsack > 0) {
        for (let j = 0; j < 2 * nsack; j++) blocks[j] = next();
        at = tcpOptNop(pkt, at);
        at = tcpOptNop(pkt, at);
        at = tcpOptSack(pkt, at, blocks, nsack);
      }
    }
    const hlen = at - t0;
    const tcpLen = hlen + dataLen;
    pkt.set(randomBytes(next, dataLen), t0 + hlen);
    const seq = next();
    const ack = isSyn ? 0 : next();
    const flags = isSyn ? TH_SYN : TH_ACK | (next() & TH_PUSH);
    // Ports without a tshark dissector, so random payload is not decoded as some protocol.
    tcpWriteHeader(pkt, t0, 40000 + i, 47001, seq, ack, hlen, flags, next() & 0xffff, 0);
    tcpSetChecksum(pkt, t0, tcpLen, ADDR_1, ADDR_2);
    const total = 20 + tcpLen;
    // The IPv4 header by hand (version 4, hl 5, DF, TTL 64, TCP), its checksum summed here.
    pkt.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6], 0);
    const v = new DataView(pkt.buffer);
    v.setUint16(2, total);
    v.setUint16(4, i);
    v.setUint32(12, ADDR_1);
    v.setUint32(16, ADDR_2);
    let s = 0;
    for (let j = 0; j < 20; j += 2) s += v.getUint16(j);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    v.setUint16(10, ~s & 0xffff);
    writer.write(pkt, 0, total, i, 0);
    const sack = Array.from(blocks.subarray(0, 2 * nsack));
    want.push(
      [
        '1',
        String(seq),
        String(dataLen),
        isSyn ? String(mss) : '',
        isSyn ? String(ws) : '',
        String(tsVal),
        String(tsEcr),
        sack.filter((_, j) => j % 2 === 0).join(','),
        sack.filter((_, j) => j % 2 === 1).join(','),
        '',
      ].join('\t'),
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'rumpnet-tcp-wire-'));
  try {
    const file = join(dir, 'segments.pcap');
    writeFileSync(file, writer.bytes());
    const r = spawnSync('tshark', [
      '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'tcp.relative_sequence_numbers:FALSE', '-o', 'tcp.analyze_sequence_numbers:FALSE',
      '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,',
      '-e', 'tcp.checksum.status', '-e', 'tcp.seq', '-e', 'tcp.len', '-e', 'tcp.options.mss_val', '-e', 'tcp.options.wscale.shift',
      '-e', 'tcp.options.timestamp.tsval', '-e', 'tcp.options.timestamp.tsecr', '-e', 'tcp.options.sack_le', '-e', 'tcp.options.sack_re',
      '-e', '_ws.malformed',
    ], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    const got = r.stdout.split('\n').filter((l) => l.length > 0);
    t.is(got.length, want.length);
    for (let i = 0; i < want.length; i++) t.is(got[i], want[i], `segment ${i}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
