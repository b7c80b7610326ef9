/*
 * nplab packetdrill's marks on TCP lines, end to end on a real kernel:
 * `...(len)` (any sequence number), `a:b(len)!` (the wire's numbers, not
 * relative to an ISN), `TS val ...` (never compared) and `ecr N!`, and the
 * TCP-over-UDP syntax `/udp(sport > dport)` with `--udp_encapsulation`.
 *
 *     runner (remote 192.0.2.1:40000+) ── pd0 ── kernel 192.168.0.1:8080
 */
import test from 'ava';

import { parseScript } from '../../packetdrill/parser.js';
import { runScript, type ScriptResult } from '../../packetdrill/runner.js';
import { buildTcpDatagram, decapsulateUdpTcp, encapsulateTcpInUdp, parseOutbound } from '../../packetdrill/codec.js';
import { TH_ACK } from '../../net/wire/tcp.js';
import type { TcpPacket } from '../../packetdrill/ast.js';

function run(body: string, opts: Parameters<typeof runScript>[2] = {}): Promise<ScriptResult> {
  return runScript(`--tolerance_usecs=10000\n${body}`, 'inline.pkt', opts);
}

/** A passive open with FreeBSD's options, then 10 bytes written by the kernel. */
const ESTABLISHED = ` 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0.00 bind(3, ..., ...) = 0
+0.00 listen(3, 1) = 0
+0.00 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.00 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>
+0.00 < . 1:1(0) ack 1 win 65535
+0.00 accept(3, ..., ...) = 4
`;

function tcpLine(src: string): TcpPacket {
  const s = parseScript(`0 ${src}\n`, 'x.pkt');
  const a = s.events[0]!.action;
  if (a.type !== 'packet' || a.packet.body.proto !== 'tcp') throw new Error('not a TCP line');
  return a.packet.body;
}

test('the parser reads ...(len), !, TS val ... / ecr N! and /udp(sport > dport)', (t) => {
  t.like(tcpLine('> P. ...(10) ack 1').seq, { len: 10, ignored: true });
  t.like(tcpLine('< . 5:5(0)! ack 7 win 10').seq, { start: 5, len: 0, absolute: true });
  const ts = tcpLine('> S 0:0(0) <mss 1460,nop,wscale 6,sackOK,TS val ... ecr 0>');
  t.like(Array.isArray(ts.options) ? ts.options[4] : null, { kind: 'TS', valIgnored: true, ecr: 0 });
  const ecr = tcpLine('< . 1:1(0) ack 1 win 10 <nop,nop,TS val 5 ecr 77!>');
  t.like(Array.isArray(ecr.options) ? ecr.options[2] : null, { kind: 'TS', val: 5, ecr: 77, ecrAbsolute: true });
  t.deepEqual(tcpLine('< S 0:0(0) win 10 <mss 1000>/udp(9899 > 9900)').udp, { src: 9899, dst: 9900 });
  t.deepEqual(tcpLine('> S. 0:0(0) ack 1/udp(1 > 2)').udp, { src: 1, dst: 2 });
  t.throws(() => parseScript('0 < . ...(10) ack 1 win 10\n', 'x.pkt'), { message: /only an outbound packet/ });
  t.throws(() => parseScript('0 < . 1:1(0) win 10/udp(1 2)\n', 'x.pkt'), { message: /between the UDP ports/ });
});

test('...(len) takes any sequence number on an outbound line; a number is still compared', async (t) => {
  const ok = await run(`${ESTABLISHED}+0.00 write(4, ..., 10) = 10
+0.00 > P. ...(10) ack 1 win 65535
+0.00 < . 1:1(0) ack 11 win 65535
`);
  t.is(ok.failure, null);
  const bad = await run(`${ESTABLISHED}+0.00 write(4, ..., 10) = 10
+0.00 > P. 5:15(10) ack 1 win 65535
`);
  t.regex(bad.failure ?? '', /does not match: seq\n/);
  t.regex(bad.failure ?? '', /seq: expected 5, got 1/);
});

test('! makes a line absolute: an outbound seq is the wire\'s ISN, an inbound ack is sent as written', async (t) => {
  // The kernel's ISN is not 0, so an absolute 0 on its SYN-ACK fails, naming the real ISN.
  const r = await run(` 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 bind(3, ..., ...) = 0
+0.00 listen(3, 1) = 0
+0.00 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.00 > S. 0:0(0)! ack 1 win 65535 <mss 1460,sackOK,eol,eol>
`);
  const m = /seq: expected 0, got (\d+)/.exec(r.failure ?? '');
  t.truthy(m, r.failure ?? 'passed');
  const isn = Number(m![1]);
  t.not(isn, 0);
  // With the ISN written absolute, the same line passes; an absolute ack of ISN+1 completes the handshake.
  const ok = await run(` 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 bind(3, ..., ...) = 0
+0.00 listen(3, 1) = 0
+0.00 < S 0:0(0) win 65535 <mss 1460,sackOK,eol,eol>
+0.00 > S. ${isn}:${isn}(0)! ack 1 win 65535 <mss 1460,sackOK,eol,eol>
+0.00 < . 1:1(0)! ack ${(isn + 1) >>> 0} win 65535
+0.00 accept(3, ..., ...) = 4
`);
  t.is(ok.failure, null);
  // Relative, that ack would be far beyond what was sent: the kernel answers with an ACK (RFC 9293 §3.10.7.4).
  const rel = await run(`${ESTABLISHED}+0.00 < . 1:1(0) ack ${(isn + 1) >>> 0} win 65535
+0.00 > . 1:1(0) ack 1 win 65535
`);
  t.is(rel.failure, null);
});

test('TS val ... is never compared, even with --tcp_ts_tick_usecs; a wrong TS val is', async (t) => {
  const body = ` 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.00 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>
+1.00 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val VAL ecr 0>
`;
  const ok = await run(`--tcp_ts_tick_usecs=1000\n${body.replace('VAL', '...')}`);
  t.is(ok.failure, null);
  const bad = await run(`--tcp_ts_tick_usecs=1000\n${body.replace('VAL', '5000')}`);
  t.regex(bad.failure ?? '', /TS val: expected 5000, got 1100/);
  t.is((await run(`--tcp_ts_tick_usecs=1000\n${body.replace('VAL', '1100')}`)).failure, null);
});

test('TCP in UDP: a segment is framed in UDP with its checksum over the TCP pseudo header and read back', (t) => {
  const ip = { src: 0xc0000201, dst: 0xc0a80001, tos: 0, ttl: 64 };
  const d = buildTcpDatagram(ip, { sport: 40000, dport: 8080, seq: 7, ack: 9, flags: TH_ACK, win: 100, urg: 0, options: new Uint8Array(0), payloadLen: 3 });
  const u = encapsulateTcpInUdp(ip, d, 9899, 9900);
  t.is(u.length, d.length + 8);
  t.is(u[9], 17, 'the IP protocol is UDP');
  const live = parseOutbound(u, 0)!;
  t.true(live.l4SumOk);
  const inner = decapsulateUdpTcp(live)!;
  t.is(inner.proto, 6);
  t.deepEqual([inner.sport, inner.dport], [40000, 8080]);
  t.deepEqual(inner.udp, { src: 9899, dst: 9900 });
  t.true(inner.l4SumOk, 'the inner TCP checksum verifies over the TCP pseudo header');
  u[u.length - 1] = 1;
  t.false(decapsulateUdpTcp(parseOutbound(u, 0)!)!.l4SumOk, 'a corrupted payload fails it');
});

test('--udp_encapsulation takes REMOTE:LOCAL or one port, and refuses anything else', async (t) => {
  const r = await run('--udp_encapsulation=x\n 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n');
  t.regex(r.failure ?? '', /--udp_encapsulation takes REMOTE:LOCAL/);
  const dry = await run('--udp_encapsulation=9899:9900\n--dry_run\n 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n');
  t.true(dry.passed);
});
