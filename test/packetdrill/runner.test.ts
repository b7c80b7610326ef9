/*
 * The runner end to end on a real kernel, with UDP and ICMP (they need no
 * TCP): injecting and expecting packets, system calls (blocking ones on
 * the virtual clock), and how failures read: a wrong expectation, a stray
 * packet before the next `>` line, timing outside the tolerance, a call
 * that blocks when it should not.
 *
 *     runner (remote 192.0.2.1, behind gateway 192.168.0.2)
 *         |
 *     ====+==== pd0 (script link)
 *         |
 *     kernel 192.168.0.1/16
 */
import test from 'ava';

import { runScript, runScriptFile, type ScriptResult } from '../../packetdrill/runner.js';

/** A script on the bare kernel (no sysctl profile: these scripts are not FreeBSD's). */
function run(body: string, opts: Parameters<typeof runScript>[2] = {}): Promise<ScriptResult> {
  return runScript(`--profile=none\n--tolerance_usecs=10000\n${body}`, 'inline.pkt', opts);
}

const UDP_SETUP = ` 0.00 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3
+0.00 bind(3, ..., ...) = 0
+0.00 connect(3, ..., ...) = 0
`;

test('a UDP conversation passes: inject, recv, write, expect, a blocking recv, fcntl flags, EAGAIN', async (t) => {
  const r = await run(` 0.00 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3
+0.00 bind(3, ..., ...) = 0
+0.10 < udp (10)
+0.00 recv(3, ..., 100, 0) = 10
+0.00 connect(3, ..., ...) = 0
+0.05 write(3, ..., 20) = 20
+0.00 > udp (20)
+0...0.3 recv(3, ..., 100, 0) = 7
+0.3 < udp (7)
+0.00 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)
+0.00 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.00 fcntl(3, F_GETFL) = O_RDWR | O_NONBLOCK
+0.00 recv(3, ..., 100, 0) = -1 EAGAIN (Resource temporarily unavailable)
+0.00 close(3) = 0
+0.00 close(3) = -1 EBADF (Bad file descriptor)
`);
  t.is(r.failure, null);
  t.true(r.passed);
  t.is(r.events, 15);
  t.is(r.virtualUs, 450_000);
});

test('a wrong expectation fails with the line, what was expected and what the kernel sent', async (t) => {
  const r = await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 20
+0.00 > udp (30)
`);
  t.false(r.passed);
  t.is(
    r.failure,
    [
      'inline.pkt:7: outbound packet does not match: payload length',
      '  script line: +0.00 > udp (30)',
      '  script packet: 0.000000 udp (30)',
      '  actual packet: 0.000000 udp (20)  (192.168.0.1 > 192.0.2.1:8080>8080)',
      '  payload length: expected 30, got 20',
    ].join('\n'),
  );
});

test('a wrong return value or errno names both', async (t) => {
  const ret = await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 21\n`);
  t.is(ret.failure, 'inline.pkt:6: expected write() = 21, it returned 20\n  script line: +0.00 write(3, ..., 20) = 21');
  const errno = await run(`${UDP_SETUP}+0.00 fcntl(3, F_SETFL, O_NONBLOCK) = 0\n+0.00 recv(3, ..., 100, 0) = -1 ECONNREFUSED (Connection refused)\n`);
  t.regex(errno.failure ?? '', /^inline\.pkt:7: expected recv\(\) = -1 ECONNREFUSED, got -1 EAGAIN \(Resource temporarily unavailable\)/);
});

test('a stray outbound packet fails the next > line', async (t) => {
  const r = await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 20
+0.00 write(3, ..., 30) = 30
+0.00 > udp (30)
`);
  t.regex(r.failure ?? '', /^inline\.pkt:8: outbound packet does not match: payload length\n/);
  t.regex(r.failure ?? '', /actual packet: 0\.000000 udp \(20\)/);
});

test('timing: a packet earlier or later than the tolerance fails; within it passes', async (t) => {
  const early = await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 20\n+0.05 > udp (20)\n`);
  t.regex(early.failure ?? '', /^inline\.pkt:7: timing error: expected the outbound packet at 0\.050000 s \(±0\.010000\), it was sent at 0\.000000 s \(early\)/);
  const late = await run(`${UDP_SETUP}+0.20 write(3, ..., 20) = 20\n 0.10 > udp (20)\n`);
  t.regex(late.failure ?? '', /^inline\.pkt:7: timing error: expected the outbound packet at 0\.100000 s \(±0\.010000\), it was sent at 0\.200000 s \(late\)/);
  const within = await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 20\n+0.009 > udp (20)\n`);
  t.is(within.failure, null);
  const range = await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 20\n+0~+0.2 > udp (20)\n* > udp (0)\n`, {});
  t.regex(range.failure ?? '', /^inline\.pkt:8: expected outbound packet never came/, 'a * line waits until the kernel has nothing left to do');
});

test('kernel timers run on the virtual clock: a receive timeout returns EAGAIN at its deadline', async (t) => {
  const script = (end: string): string => `${UDP_SETUP}+0.00 setsockopt(3, SOL_SOCKET, SO_RCVTIMEO, [30000], 4) = 0
+0...${end} recv(3, ..., 100, 0) = -1 EAGAIN (Resource temporarily unavailable)
+0.00 close(3) = 0
`;
  const ok = await run(script('30'));
  t.is(ok.failure, null);
  t.is(ok.virtualUs, 30_000_000, 'thirty virtual seconds');
  const wrong = await run(script('20'));
  t.regex(wrong.failure ?? '', /^inline\.pkt:7: recv\(\) did not return by 20\.010000 s \(expected at 20\.000000 s ±0\.010000\)/);
});

test('a call that blocks without start...end fails and says how to write a blocking call', async (t) => {
  const r = await run(`${UDP_SETUP}+0.00 recv(3, ..., 100, 0) = 7\n`);
  t.regex(r.failure ?? '', /^inline\.pkt:6: recv\(\) blocked: it did not return at once \(a call that may block is written start\.\.\.end/);
});

test('ICMP port unreachable quoting the datagram makes the connected socket report ECONNREFUSED', async (t) => {
  const r = await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 20
+0.00 > udp (20)
+0.01 < icmp unreachable port_unreachable [udp (20)]
+0.00 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.00 recv(3, ..., 100, 0) = -1 ECONNREFUSED (Connection refused)
`);
  t.is(r.failure, null);
});

test("packets for another socket are skipped, and named when the expected one never comes", async (t) => {
  const r = await run(` 0.00 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3
+0.00 bind(3, ..., ...) = 0
+0.00 close(3) = 0
+0.00 < udp (10)
+0.00 > udp (10)
`);
  t.regex(r.failure ?? '', /^inline\.pkt:7: expected outbound packet did not come \(expected at 0\.000000 s ±0\.010000, waited until 2\.010000 s\)/);
  t.regex(r.failure ?? '', /skipped \(another socket\): 0\.000000 icmp unreachable port_unreachable/);
});

test('--strict_packets fails on a packet no line expects, at once and after the last line', async (t) => {
  const r = await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 20\n`, { options: [['strict_packets', null]] });
  t.regex(r.failure ?? '', /--strict_packets: the kernel sent packets after the last expected one\n {2}0\.000000 udp \(20\)/);
  t.is((await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 20\n`)).failure, null, 'packetdrill itself never checks for silence');
  const other = await run(
    ' 0.00 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n+0.00 bind(3, ..., ...) = 0\n+0.00 close(3) = 0\n+0.00 < udp (10)\n+0.00 > udp (10)\n',
    { options: [['strict_packets', null]] },
  );
  t.regex(other.failure ?? '', /^inline\.pkt:7: --strict_packets: the kernel sent a packet for another socket\n.*\n {2}0\.000000 icmp unreachable port_unreachable/);
});

test('--non_fatal=packet turns a mismatch into a warning', async (t) => {
  const r = await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 20\n+0.00 > udp (21)\n`, { options: [['non_fatal', 'packet']] });
  t.true(r.passed);
  t.is(r.warnings.length, 1);
  t.regex(r.warnings[0]!, /^inline\.pkt:7: warning: outbound packet does not match: payload length/);
});

test('shell lines: sysctl -w reaches the kernel, sockstat | grep counts its sockets, other programs fail', async (t) => {
  const ttl = await run(`+0.00 \`sysctl -w net.inet.ip.ttl=33\`\n${UDP_SETUP.replace(' 0.00', '+0.00')}+0.00 write(3, ..., 20) = 20\n+0.00 > (ttl 33) udp (20)\n`);
  t.is(ttl.failure, null);
  const count = await run(`${UDP_SETUP}+0.00 \`sockstat -4 -P udp -p 8080 | grep -c udp4 | grep 1\`\n`);
  t.is(count.failure, null);
  const wrong = await run(`${UDP_SETUP}+0.00 \`sockstat -4 -P udp -p 8080 | grep -c udp4 | grep 2\`\n`);
  t.regex(wrong.failure ?? '', /^inline\.pkt:6: `sockstat -4 -P udp -p 8080 \| grep -c udp4 \| grep 2` exited with status 1\n/);
  t.regex(wrong.failure ?? '', /grep -c udp4 → status 0, printed:\n {6}1\n/);
  const missing = await run('+0.00 `sysctl -w net.inet.tcp.no_such_knob=1`\n');
  t.regex(missing.failure ?? '', /^inline\.pkt:3: sysctl net\.inet\.tcp\.no_such_knob: this kernel has no such variable/);
  const other = await run('+0.00 `ls /`\n');
  t.regex(other.failure ?? '', /^inline\.pkt:3: shell command 'ls' is not interpreted by the runner/);
});

test('--define and -D replace words; #ifdef sees them', async (t) => {
  const body = `${UDP_SETUP}+0.00 write(3, ..., LEN) = LEN\n#ifdef CHECK\n+0.00 > udp (LEN)\n#endif\n`;
  t.is((await run(`--define LEN=20\n${body}`)).failure, null);
  t.is((await run(body, { defines: [['LEN', '20'], ['CHECK', '1']] })).failure, null);
  const r = await run(body, { defines: [['LEN', '20'], ['CHECK', '1']], options: [['define', 'LEN=21']] });
  t.true(r.passed, 'the command line wins');
});

test('a code snippet needs TCP_INFO from the socket under test', async (t) => {
  const r = await run(`${UDP_SETUP}+0.00 %{ assert tcpi_state == TCPI_CLOSED }%\n`);
  t.regex(r.failure ?? '', /^inline\.pkt:6: getsockopt\(3, IPPROTO_TCP, TCP_INFO\) for the code snippet failed: ENOPROTOOPT/);
});

test('what the runner cannot interpret is a failure, not a skip', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['+0.00 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n+0.00 epoll_create(1) = 4\n', /system call epoll_create\(\) is not supported/],
    ['+0.00 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n+0.00 setsockopt(3, SOL_SOCKET, SO_WEIRD, [1], 4) = 0\n', /does not know the symbol SO_WEIRD/],
    ['--wire_client\n+0 close(3) = -1 EBADF\n', /option --wire_client is not supported/],
    ['--ip_version=ipv4-mapped-ipv6\n+0 close(3) = -1 EBADF\n', /there is no v4-mapped service/],
    ['+0.00 > S 0:0(0)\n', /no socket is expected to send this packet/],
    [' 1.00 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n', /the first event should be at time 0/],
    ['+0.00 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n+0.00 > icmp echo_reply\n', /outbound ICMP lines are not supported/],
  ];
  for (const [body, re] of cases) {
    const r = await run(body);
    t.false(r.passed, body);
    t.regex(r.failure ?? '', re, body);
  }
  const syntax = await run('+0.00 > S 0:1(0)\n');
  t.regex(syntax.failure ?? '', /^inline\.pkt:3:15: syntax error: inconsistent/);
});

test('the same script and seed give the same run', async (t) => {
  const body = `${UDP_SETUP}+0.00 write(3, ..., 20) = 20\n+0.00 > udp (20)\n+1.5 < udp (5)\n+0.00 recv(3, ..., 10, 0) = 5\n`;
  const a = await run(body);
  const b = await run(body);
  t.deepEqual(a, b);
  t.true(a.passed);
});

/* With TCP: the freebsd profile, sequence spaces, the virtual clock under retransmission timers. */

const TCP_LISTEN = `--tolerance_usecs=10000
 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0.00 bind(3, ..., ...) = 0
+0.00 listen(3, 1) = 0
`;

test('TCP: a wrong window on the SYN-ACK names the field and shows both segments decoded', async (t) => {
  const r = await runScript(`${TCP_LISTEN}+0.10 < S 17:20(3) win 32767 <mss 1460,sackOK,eol,eol>\n+0.00 > S. 0:0(0) ack 18 win 1000 <mss 1460,sackOK,eol,eol>\n`, 'tcp.pkt');
  t.is(
    r.failure,
    [
      'tcp.pkt:7: outbound packet does not match: win',
      '  script line: +0.00 > S. 0:0(0) ack 18 win 1000 <mss 1460,sackOK,eol,eol>',
      '  script packet: 0.100000 S. 0:0(0) ack 18 win 1000 <mss 1460,sackOK,eol,eol>',
      '  actual packet: 0.100000 S. 0:0(0) ack 18 win 65535 <mss 1460,sackOK,eol,eol>  (192.168.0.1 > 192.0.2.1:8080>40001)',
      '  win: expected 1000, got 65535',
    ].join('\n'),
  );
});

test('TCP: relative sequence numbers both ways, whatever ISN the kernel picks', async (t) => {
  const script = `${TCP_LISTEN}+0.00 < S 1000:1000(0) win 32767 <mss 1460,sackOK,eol,eol>
+0.00 > S. 0:0(0) ack 1001 win 65535 <mss 1460,sackOK,eol,eol>
+0.01 < . 1001:1001(0) ack 1 win 32767
+0.00 accept(3, ..., ...) = 4
+0.00 < P. 1001:1011(10) ack 1 win 32767
+0.00 write(4, ..., 5) = 5
+0.00 > P. 1:6(5) ack 1011 win 65535
+0.01 < . 1011:1011(0) ack 6 win 32767
+0.00 read(4, ..., 100) = 10
`;
  for (const seed of [1, 2, 3]) {
    const r = await runScript(script, `seed${seed}.pkt`, { options: [['seed', String(seed)]] });
    t.is(r.failure, null, `seed ${seed}`);
  }
});

test('TCP: 70 s and more of SYN retransmissions run on the virtual clock', async (t) => {
  const r = await runScriptFile('test/fixtures/freebsd-tcp-testsuite/snd-syn/snd-syn-rtx-max-number-ipv4.pkt');
  t.is(r.failure, null);
  t.true(r.virtualUs > 70_000_000, `${r.virtualUs} µs of virtual time`);
});

test('IPv6: a passive open, data and close, the gateway found by Neighbor Discovery, nothing stray', async (t) => {
  // packetdrill's IPv6 addresses: local fd3d:fa7b:d17d::/48, remote 2001:db8::1 behind fd3d:fa7b:d17d:8888::.
  const r = await run(`--ip_version=ipv6
--strict_packets
 0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0.00 bind(3, ..., ...) = 0
+0.00 listen(3, 1) = 0
+0.10 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0.00 > S. 0:0(0) ack 1 <mss 1440,nop,wscale 3>
+0.10 < . 1:1(0) ack 1 win 257
+0.00 accept(3, ..., ...) = 4
+0.00 write(4, ..., 100) = 100
+0.00 > P. 1:101(100) ack 1
+0.05 < . 1:1(0) ack 101 win 257
+0.00 close(4) = 0
+0.00 > F. 101:101(0) ack 1
+0.05 < F. 1:1(0) ack 102 win 257
+0.00 > . 102:102(0) ack 2
`);
  t.is(r.failure, null);
  t.true(r.passed);
});

test('IPv6: an ICMPv6-only name is refused in an IPv4 script, and an IPv6 quote reads back', async (t) => {
  const v4 = await run(`${UDP_SETUP}+0.00 write(3, ..., 20) = 20\n+0.00 > udp (20)\n+0.01 < icmp packet_too_big mtu 1300 [udp (20)]\n`);
  t.regex(v4.failure ?? '', /packet_too_big is ICMPv6 only; this is an IPv4 script/);
  const v6 = await run(`--ip_version=ipv6
 0.00 \`sysctl -w net.inet.tcp.icmp_may_rst=1\`
+0.00 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.00 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.00 > S 0:0(0) <...>
+0.01 < icmp unreachable port_unreachable [0:0(0)]
+0.00 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0
`);
  t.is(v6.failure, null);
});
