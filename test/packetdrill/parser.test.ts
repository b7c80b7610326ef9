/*
 * The packetdrill script parser, line kind by line kind, with lines taken
 * from FreeBSD's TCP suite (test/fixtures/freebsd-tcp-testsuite), and the
 * scanner's comments, #ifdef and --define.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { ScriptEvent, TcpPacket } from '../../packetdrill/ast.js';
import { ScriptSyntaxError, parseScript, secondsToUs } from '../../packetdrill/parser.js';

const SUITE = 'test/fixtures/freebsd-tcp-testsuite';

function one(line: string): ScriptEvent {
  const s = parseScript(line, 't.pkt');
  if (s.events.length !== 1) throw new Error(`expected one event from ${line}`);
  return s.events[0]!;
}

function tcp(line: string): TcpPacket {
  const a = one(line).action;
  if (a.type !== 'packet' || a.packet.body.proto !== 'tcp') throw new Error(`not a TCP line: ${line}`);
  return a.packet.body;
}

test('time column: absolute, relative with or without a space, *, ranges, blocking end', (t) => {
  t.deepEqual(one(' 0.00 close(3) = 0').time, { kind: 'absolute', us: 0, end: null, blocking: false });
  t.deepEqual(one('+0.10 close(3) = 0').time, { kind: 'relative', us: 100_000, end: null, blocking: false });
  t.deepEqual(one('+ 2.20 close(3) = 0').time, { kind: 'relative', us: 2_200_000, end: null, blocking: false });
  t.deepEqual(one('+65.00 close(3) = 0').time.us, 65_000_000);
  t.deepEqual(one('*     > S  0:0(0) win 65535 <...>').time, { kind: 'any', us: 0, end: null, blocking: false });
  t.deepEqual(one('0.1~0.2 > . 1:1(0) ack 1').time, { kind: 'absolute', us: 100_000, end: 200_000, blocking: false });
  t.deepEqual(one('+0.1~+0.25 > . 1:1(0) ack 1').time, { kind: 'relative', us: 100_000, end: 250_000, blocking: false });
  t.deepEqual(one('+0...0.1 accept(3, ..., ...) = 4').time, { kind: 'relative', us: 0, end: 100_000, blocking: true });
  t.is(secondsToUs('1.0000015'), 1_000_002);
  t.is(secondsToUs('.5'), 500_000);
});

test('outbound SYN with the default options, and a line with no window and no options', (t) => {
  const p = tcp('+0.00 > S  0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>');
  t.is(p.flags, 0x02);
  t.deepEqual(p.seq, { start: 0, end: 0, len: 0 });
  t.is(p.ack, null);
  t.is(p.win, 65535);
  t.deepEqual(p.options, [
    { kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'wscale', value: 6 }, { kind: 'sackOK' }, { kind: 'TS', val: 100, ecr: 0 },
  ]);
  const bare = tcp('+0.00 > S  0:0(0)');
  t.is(bare.win, null, 'no win: the window is not checked');
  t.is(bare.options, null, 'no <…>: there must be no options');
  t.is(tcp('*      > S  0:0(0) win 65535 <...>').options, 'any');
});

test('flags: S. F. R. . SF and - with ack, win, SACK blocks', (t) => {
  const synack = tcp('+0.00 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,eol,eol>');
  t.is(synack.flags, 0x12);
  t.is(synack.flagText, 'S.');
  t.is(synack.ack, 1);
  t.deepEqual(tcp('+0.10 < F. 1:1(0) ack 1 win 32767').flags, 0x11);
  t.deepEqual(tcp('+0.00 > R. 0:0(0) ack 1 win     0').flags, 0x14);
  t.deepEqual(tcp('+0.10 < SF 17:17(0)        win 32767 <mss 1460,sackOK,eol,eol>').flags, 0x03);
  const ack = tcp('+0.00 >  .   1:1(0)     ack 100 win 65535 <nop,nop,sack 400:500 200:300>');
  t.is(ack.flags, 0x10);
  t.deepEqual(ack.options, [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[400, 500], [200, 300]] }]);
  t.is(tcp('+0 < - 0:0(0) win 100').flags, 0);
  t.is(tcp('+0 < SEW 0:0(0) win 100').flags, 0x02 | 0x40 | 0x80);
  const data = tcp('+0.00 <  . 200:300(100) ack   1 win 65535');
  t.deepEqual(data.seq, { start: 200, end: 300, len: 100 });
  t.deepEqual(tcp('+0.10 < R  65701:65701(0)       win 32767').seq.start, 65701);
  t.is(tcp('+0 > P. 1:11(10) ack 1 urg 3').urg, 3);
});

test('ICMP lines: type, code, mtu and the quoted sequence, in either position', (t) => {
  const a = one('+0.10 < icmp unreachable host_prohibited [4294967295:4294967295(0)]').action;
  t.is(a.type, 'packet');
  if (a.type !== 'packet' || a.packet.body.proto !== 'icmp') return;
  t.like(a.packet.body, { type: 3, code: 10, mtu: null, quote: { proto: 'tcp', seq: { start: 4294967295, end: 4294967295, len: 0 } } });
  const frag = one('+0.00 < icmp unreachable frag_needed mtu 1234 [0:0(0)]').action;
  if (frag.type === 'packet' && frag.packet.body.proto === 'icmp') t.like(frag.packet.body, { type: 3, code: 4, mtu: 1234 });
  const tx = one('+0.00 < icmp time_exceeded frag_reass_exceeded [0:0(0)]').action;
  if (tx.type === 'packet' && tx.packet.body.proto === 'icmp') t.like(tx.packet.body, { type: 11, code: 1 });
  const pp = one('+0.00 < icmp parameter_problem code_2 [0:0(0)]').action;
  if (pp.type === 'packet' && pp.packet.body.proto === 'icmp') t.like(pp.packet.body, { type: 12, code: 2 });
  const redirect = one('+0.00 < icmp redirect [0:0(0)]').action;
  if (redirect.type === 'packet' && redirect.packet.body.proto === 'icmp') t.like(redirect.packet.body, { type: 5, code: 0, codeName: null });
  const nospace = one('+0.00 <icmp unreachable net_unreachable [0:0(0)]').action;
  if (nospace.type === 'packet' && nospace.packet.body.proto === 'icmp') t.like(nospace.packet.body, { type: 3, code: 0 });
  const old = one('+0 < [1:1461(1460)] icmp unreachable frag_needed mtu 1200').action;
  if (old.type === 'packet' && old.packet.body.proto === 'icmp') t.like(old.packet.body, { code: 4, mtu: 1200, quote: { proto: 'tcp' } });
  const udp = one('+0 < icmp unreachable port_unreachable [udp (20)]').action;
  if (udp.type === 'packet' && udp.packet.body.proto === 'icmp') t.deepEqual(udp.packet.body.quote, { proto: 'udp', len: 20 });
});

test('UDP lines and IP information', (t) => {
  const a = one('+0 > [ect0] udp (1472)').action;
  if (a.type !== 'packet') return t.fail();
  t.deepEqual(a.packet.body, { proto: 'udp', len: 1472 });
  t.is(a.packet.ip.ecn, 'ect0');
  const b = one('+0 < (tos 0x10, ttl 3) S 0:0(0) win 100').action;
  if (b.type !== 'packet') return t.fail();
  t.like(b.packet.ip, { tos: 0x10, ttl: 3, ecn: null });
});

test('system calls: ellipsis, symbols OR-ed, [pointers], errno with its note, a note after a result', (t) => {
  const c = one('+0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)').action;
  if (c.type !== 'syscall') return t.fail();
  t.is(c.call.name, 'connect');
  t.deepEqual(c.call.args, [{ kind: 'int', value: 3, text: '3' }, { kind: 'ellipsis' }, { kind: 'ellipsis' }]);
  t.deepEqual(c.call.result, { kind: 'int', value: -1, text: '-1' });
  t.is(c.call.errno, 'EINPROGRESS');
  t.is(c.call.note, 'Operation now in progress');
  const f = one('+0.00 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0').action;
  if (f.type !== 'syscall') return t.fail();
  t.deepEqual(f.call.args[2], { kind: 'or', items: [{ kind: 'word', name: 'O_RDWR' }, { kind: 'word', name: 'O_NONBLOCK' }] });
  const g = one('+0.00 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)').action;
  if (g.type !== 'syscall') return t.fail();
  t.deepEqual(g.call.result, { kind: 'int', value: 2, text: '0x02' });
  t.is(g.call.errno, null);
  t.is(g.call.note, 'flags O_RDWR');
  const o = one('+65.00 getsockopt(3, SOL_SOCKET, SO_ERROR, [ETIMEDOUT], [4]) = 0').action;
  if (o.type !== 'syscall') return t.fail();
  t.deepEqual(o.call.args[3], { kind: 'array', items: [{ kind: 'word', name: 'ETIMEDOUT' }] });
  const l = one('+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0').action;
  if (l.type !== 'syscall') return t.fail();
  t.deepEqual(l.call.args[3], { kind: 'struct', fields: [{ name: 'onoff', value: { kind: 'int', value: 1, text: '1' } }, { name: 'linger', value: { kind: 'int', value: 0, text: '0' } }] });
  const apostrophe = one("+0 bind(3, ..., ...) = -1 EADDRNOTAVAIL (Can't assign requested address)").action;
  if (apostrophe.type !== 'syscall') return t.fail();
  t.is(apostrophe.call.note, "Can't assign requested address");
});

test('commands and code snippets', (t) => {
  const c = one('+0.10 `sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1`').action;
  t.deepEqual(c, { type: 'command', command: 'sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1' });
  const d = one('+0.00 %{ assert tcpi_state == TCPI_CLOSE_WAIT }%').action;
  t.deepEqual(d, { type: 'code', code: 'assert tcpi_state == TCPI_CLOSE_WAIT' });
  const multi = parseScript('+0 %{\nassert tcpi_options == 0\nassert tcpi_state == 4\n}%', 't.pkt');
  t.deepEqual(multi.events[0]!.action, { type: 'code', code: '\nassert tcpi_options == 0\nassert tcpi_state == 4\n' });
});

test('options, comments, init and cleanup commands', (t) => {
  const s = parseScript(
    [
      '// a comment',
      '/* a block',
      '   comment */',
      '--ip_version=ipv4',
      '--tolerance_usecs=25000',
      '--strict_segments',
      '`echo init`',
      ' 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3 // trailing comment',
      '+0.00 close(3) = 0 /* inline */',
      '`echo cleanup`',
    ].join('\n'),
    't.pkt',
  );
  t.deepEqual(s.options, [
    { name: 'ip_version', value: 'ipv4', line: 4 },
    { name: 'tolerance_usecs', value: '25000', line: 5 },
    { name: 'strict_segments', value: null, line: 6 },
  ]);
  t.deepEqual(s.initCommand, { command: 'echo init', line: 7 });
  t.deepEqual(s.cleanupCommand, { command: 'echo cleanup', line: 10 });
  t.deepEqual(s.events.map((e) => [e.line, e.text]), [
    [8, '0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3'],
    [9, '+0.00 close(3) = 0'],
  ]);
});

test('#ifdef keeps one branch: names from the profile OS or --define; #else; one level only', (t) => {
  const src = [
    '+0 close(3) = 0',
    '#ifdef STANDARD',
    '+0 close(4) = 0',
    '#endif',
    '#ifdef FreeBSD',
    '+0 close(5) = 0',
    '#else',
    '+0 close(6) = 0',
    '#endif',
    '+0 close(7) = 0',
  ].join('\n');
  const fds = (opts: Parameters<typeof parseScript>[2]): number[] =>
    parseScript(src, 't.pkt', opts).events.map((e) => (e.action.type === 'syscall' && e.action.call.args[0]!.kind === 'int' ? e.action.call.args[0]!.value : -1));
  t.deepEqual(fds({ symbols: new Set(['FreeBSD']) }), [3, 5, 7]);
  t.deepEqual(fds({}), [3, 6, 7]);
  t.deepEqual(fds({ defines: new Map([['STANDARD', '1']]) }), [3, 4, 6, 7]);
  const nested = '#ifdef A\n#ifdef B\n#endif\n#endif\n';
  const e = t.throws(() => parseScript(nested, 'n.pkt'), { instanceOf: ScriptSyntaxError });
  t.regex(e.message, /n\.pkt:2:1: .*only one level of #ifdef/);
  t.throws(() => parseScript('#ifdef A\n+0 close(3) = 0\n', 'u.pkt'), { message: /no #endif/ });
});

test('--define replaces words', (t) => {
  const s = parseScript('+0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [BUF], 4) = 0\n+0 > S 0:0(0) win WIN', 't.pkt', {
    defines: new Map([['BUF', '4096'], ['WIN', '1000']]),
  });
  const a = s.events[0]!.action;
  if (a.type !== 'syscall') return t.fail();
  t.deepEqual(a.call.args[3], { kind: 'array', items: [{ kind: 'int', value: 4096, text: '4096' }] });
  const p = s.events[1]!.action;
  if (p.type !== 'packet' || p.packet.body.proto !== 'tcp') return t.fail();
  t.is(p.packet.body.win, 1000);
});

test('mistakes are syntax errors with the line and column, never skipped', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['+0.00 > S 0:1(0)', /1:15: inconsistent 0:1\(0\)/],
    ['+0.00 > Q 0:0(0)', /expected TCP flags/],
    ['+0.00 < S 0:0(0) win 10 <mss 1460,bogus 3>', /unknown TCP option 'bogus'/],
    ['+0.00 < S 0:0(0) win 10 ack 1', /out of order/],
    ['+0.00 < icmp unreachable no_such_code [0:0(0)]', /unknown code 'no_such_code'/],
    ['+0.00 < icmp nonsense [0:0(0)]', /unknown ICMP type/],
    ['close(3) = 0', /expected a time/],
    ['+0.00 close(3)', /expected '= result'/],
    ['+0.00 close(3) = 0 bogus', /expected an errno name/],
    ['+0...0.1 > S 0:0(0)', /only system calls can block/],
    ['+0 `never closed', /unterminated ` command/],
    ['+0.00 close(3) = 0\n--late_option=1', /options go at the top/],
    ['#pragma once\n', /unknown preprocessor line/],
  ];
  for (const [src, re] of cases) {
    const e = t.throws(() => parseScript(src, 'bad.pkt'), { instanceOf: ScriptSyntaxError }, src);
    t.regex(e.message, /^bad\.pkt:\d+:\d+: /, src);
    t.regex(e.message, re, src);
  }
});

function pktFiles(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...pktFiles(p));
    else if (n.endsWith('.pkt')) out.push(p);
  }
  return out;
}

test('every script of the FreeBSD suite parses, with every event kind present', (t) => {
  const files = pktFiles(SUITE);
  t.true(files.length >= 69);
  const kinds = new Set<string>();
  for (const f of files) {
    const s = parseScript(readFileSync(f, 'utf8'), f, { symbols: new Set(['FreeBSD']) });
    t.true(s.events.length > 0, f);
    for (const e of s.events) {
      const a = e.action;
      kinds.add(a.type === 'packet' ? `${a.packet.direction} ${a.packet.body.proto}` : a.type);
    }
  }
  t.deepEqual([...kinds].sort(), ['code', 'command', 'inbound icmp', 'inbound tcp', 'outbound tcp', 'syscall']);
});
