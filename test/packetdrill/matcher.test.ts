/*
 * Matching the kernel's packets against `>` lines, and mapping `<` lines
 * into the kernel's sequence space, on hand-built segments: what
 * packetdrill checks (flags, seq in the script's space, the ack field,
 * the window only when given, options byte for byte in order except the
 * TS value, payload zeros, checksums) and what it maps (acks, SACK blocks
 * and TS ecr of inbound lines).
 */
import test from 'ava';

import type { TcpPacket } from '../../packetdrill/ast.js';
import { buildTcpDatagram, encodeTcpOptions, formatLive, parseOutbound, type LivePacket } from '../../packetdrill/codec.js';
import { TsMap, diffTcp, type TcpMatchContext } from '../../packetdrill/matcher.js';
import { parseScript } from '../../packetdrill/parser.js';
import { ScriptSocket } from '../../packetdrill/sockets.js';
import { TH_ACK, TH_SYN, tcpAck, tcpSeq } from '../../net/wire/tcp.js';
import { parseInAddr } from '../../net/wire/inaddr.js';

const LOCAL = parseInAddr('192.168.0.1')!;
const REMOTE = parseInAddr('192.0.2.1')!;
const ISN = 0xfffffff0; // the kernel's: close to the wrap, so the mapping must be modular

function line(src: string): TcpPacket {
  const a = parseScript(src, 't.pkt').events[0]!.action;
  if (a.type !== 'packet' || a.packet.body.proto !== 'tcp') throw new Error('not TCP');
  return a.packet.body;
}

interface Seg {
  seq?: number;
  ack?: number;
  flags: number;
  win?: number;
  options?: Uint8Array;
  payload?: number;
}

/** A segment as the kernel would send it (local → remote, live sequence numbers). */
function live(s: Seg): LivePacket {
  const d = buildTcpDatagram(
    { src: LOCAL, dst: REMOTE, tos: 0, ttl: 64 },
    { sport: 50000, dport: 8080, seq: s.seq ?? ISN, ack: s.ack ?? 0, flags: s.flags, win: s.win ?? 65535, urg: 0, options: s.options ?? new Uint8Array(0), payloadLen: s.payload ?? 0 },
  );
  return parseOutbound(d, 1000)!;
}

function ctx(seqOffset = ISN): TcpMatchContext {
  return { seqOffset, ts: new TsMap(), tsTickUs: 0, toleranceUs: 4000 };
}

const SYN_OPTS = encodeTcpOptions([
  { kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'wscale', value: 6 }, { kind: 'sackOK' }, { kind: 'TS', val: 987654, ecr: 0 },
]);

test('a SYN matches in the script space: seq mapped by the ISN, TS val not compared', (t) => {
  const spec = line('+0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>');
  t.deepEqual(diffTcp(spec, { ecn: null, tos: null, ttl: null, flowlabel: null }, live({ flags: TH_SYN, options: SYN_OPTS }), ctx()), []);
});

test('each differing field is named with what was expected and what came', (t) => {
  const ip = { ecn: null, tos: null, ttl: null, flowlabel: null };
  const spec = line('+0 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>');
  const got = live({ seq: ISN + 1, ack: 2, flags: TH_SYN, win: 65000, options: SYN_OPTS });
  const d = diffTcp(spec, ip, got, ctx());
  t.deepEqual(d.map((x) => x.field), ['flags', 'seq', 'ack', 'win', 'options']);
  t.deepEqual(d[0], { field: 'flags', expected: 'S.', actual: 'S' });
  t.deepEqual(d[1], { field: 'seq', expected: '0', actual: '1' });
  t.deepEqual(d[3], { field: 'win', expected: '65535', actual: '65000' });
  t.deepEqual(d[4], { field: 'options', expected: '<mss 1460,sackOK,eol,eol>', actual: '<mss 1460,nop,wscale 6,sackOK,TS val 987654 ecr 0>' });
});

test('no win: the window is not checked; no <…>: options must be absent; <...>: anything goes', (t) => {
  const ip = { ecn: null, tos: null, ttl: null, flowlabel: null };
  const p = live({ flags: TH_SYN, win: 1234, options: SYN_OPTS });
  t.deepEqual(diffTcp(line('+0 > S 0:0(0) <...>'), ip, p, ctx()), []);
  t.deepEqual(diffTcp(line('+0 > S 0:0(0)'), ip, p, ctx()).map((x) => x.field), ['options']);
  t.deepEqual(diffTcp(line('+0 > S 0:0(0)'), ip, live({ flags: TH_SYN }), ctx()), []);
});

test('the ack field is compared even without ACK: a RST must carry 0 there, as BSD sends', (t) => {
  const ip = { ecn: null, tos: null, ttl: null, flowlabel: null };
  const spec = line('+0 > R 34:34(0) win 0');
  t.deepEqual(diffTcp(spec, ip, live({ seq: 34, flags: 0x04, win: 0 }), ctx(0)), []);
  t.deepEqual(diffTcp(spec, ip, live({ seq: 34, ack: 18, flags: 0x04, win: 0 }), ctx(0)).map((x) => x.field), ['ack']);
});

test('options in another order, or an extra nop, do not match', (t) => {
  const ip = { ecn: null, tos: null, ttl: null, flowlabel: null };
  const spec = line('+0 > S 0:0(0) <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>');
  const reordered = encodeTcpOptions([
    { kind: 'mss', value: 1460 }, { kind: 'sackOK' }, { kind: 'nop' }, { kind: 'wscale', value: 6 }, { kind: 'TS', val: 1, ecr: 0 },
  ]);
  t.deepEqual(diffTcp(spec, ip, live({ flags: TH_SYN, options: reordered }), ctx()).map((x) => x.field), ['options']);
  const otherEcr = encodeTcpOptions([
    { kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'wscale', value: 6 }, { kind: 'sackOK' }, { kind: 'TS', val: 1, ecr: 7 },
  ]);
  t.deepEqual(diffTcp(spec, ip, live({ flags: TH_SYN, options: otherEcr }), ctx()).map((x) => x.field), ['options'], 'TS ecr is compared');
});

test('with --tcp_ts_tick_usecs the TS value must follow the clock from the first one', (t) => {
  const ip = { ecn: null, tos: null, ttl: null, flowlabel: null };
  const c = { ...ctx(), tsTickUs: 1000, toleranceUs: 25_000 };
  const ts = (val: number): Uint8Array => encodeTcpOptions([{ kind: 'nop' }, { kind: 'nop' }, { kind: 'TS', val, ecr: 0 }]);
  const first = line('+0 > S 0:0(0) <nop,nop,TS val 100 ecr 0>');
  t.deepEqual(diffTcp(first, ip, live({ flags: TH_SYN, options: ts(5000) }), c), []);
  const second = line('+1 > S 0:0(0) <nop,nop,TS val 1100 ecr 0>');
  t.deepEqual(diffTcp(second, ip, live({ flags: TH_SYN, options: ts(6010) }), c), [], '10 ticks off, within 25 ms');
  const third = line('+2.2 > S 0:0(0) <nop,nop,TS val 3300 ecr 0>');
  t.deepEqual(diffTcp(third, ip, live({ flags: TH_SYN, options: ts(8400) }), c).map((x) => x.field), ['TS val'], '100 ticks off');
  t.is(c.ts.scriptToLive.get(1100), 6010, 'script TS vals map to the live ones for inbound ecr');
});

test('payload: its length, and zeros (what a script writes)', (t) => {
  const ip = { ecn: null, tos: null, ttl: null, flowlabel: null };
  const spec = line('+0 > P. 1:11(10) ack 1');
  t.deepEqual(diffTcp(spec, ip, live({ seq: ISN + 1, ack: 1, flags: 0x18, payload: 10 }), ctx()), []);
  t.deepEqual(diffTcp(spec, ip, live({ seq: ISN + 1, ack: 1, flags: 0x18, payload: 9 }), ctx()).map((x) => x.field), ['payload length']);
  const p = live({ seq: ISN + 1, ack: 1, flags: 0x18, payload: 10 });
  p.bytes[p.bytes.length - 1] = 0x41;
  // The checksum no longer holds either: both are reported.
  const fields = diffTcp(spec, ip, parseOutbound(p.bytes, 0)!, ctx()).map((x) => x.field);
  t.deepEqual(fields, ['TCP checksum', 'payload']);
});

test('ECN, TOS and TTL only when the line gives them', (t) => {
  const p = live({ seq: ISN + 1, ack: 1, flags: TH_ACK });
  const spec = line('+0 > . 1:1(0) ack 1');
  t.deepEqual(diffTcp(spec, { ecn: null, tos: null, ttl: null, flowlabel: null }, p, ctx()), []);
  t.deepEqual(diffTcp(spec, { ecn: 'ect0', tos: null, ttl: null, flowlabel: null }, p, ctx()).map((x) => x.field), ['IP ECN']);
  t.deepEqual(diffTcp(spec, { ecn: null, tos: null, ttl: 3, flowlabel: null }, p, ctx()).map((x) => x.field), ['IP TTL']);
});

test('inbound lines: seq as written; ack, SACK edges and TS ecr shifted into the kernel space', (t) => {
  const s = new ScriptSocket('tcp', 40000);
  s.localIsnScript = 0;
  s.localIsnLive = ISN;
  s.ts.record(100, 555_000);
  const r = s.inboundTcp(line('+0 < . 1:101(100) ack 1 win 100 <nop,nop,TS val 7 ecr 100,nop,nop,sack 17:33>'));
  t.is(r.seq, 1, 'the remote side writes its own sequence numbers');
  t.is(r.ack, (ISN + 1) >>> 0);
  const d = buildTcpDatagram({ src: REMOTE, dst: LOCAL, tos: 0, ttl: 64 }, { sport: 1, dport: 2, seq: r.seq, ack: r.ack, flags: TH_ACK, win: 100, urg: 0, options: r.options, payloadLen: 100 });
  const view = parseOutbound(d, 0)!;
  t.is(tcpSeq(view.bytes, view.l4), 1);
  t.is(tcpAck(view.bytes, view.l4), (ISN + 1) >>> 0);
  t.true(view.l4SumOk && view.ipSumOk);
  t.regex(formatLive(view), /^\. 1:101\(100\) ack 4294967281 win 100 <nop,nop,TS val 7 ecr 555000,nop,nop,sack 1:17>/);
  // Without ACK nothing is shifted (a SYN's ack field is what the script says).
  t.is(s.inboundTcp(line('+0 < S 0:0(0) ack 34 win 100')).ack, 34);
  // An ecr that echoes nothing the kernel sent cannot be mapped.
  t.throws(() => s.inboundTcp(line('+0 < . 1:1(0) ack 1 win 100 <nop,nop,TS val 7 ecr 99>')), { message: /no mapping for TS ecr 99/ });
  // Before the kernel's ISN is known, nothing moves.
  const fresh = new ScriptSocket('tcp', 40001);
  t.is(fresh.inboundTcp(line('+0 < . 17:20(3) ack 34 win 32767')).ack, 34);
});

test('options that do not fill whole words are refused: scripts pad with nop and eol', (t) => {
  t.throws(() => encodeTcpOptions([{ kind: 'mss', value: 1460 }, { kind: 'sackOK' }]), { message: /not a multiple of 4/ });
});
