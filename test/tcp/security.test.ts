/*
 * TCP's defences and the tools' view: ISNs per RFC 6528 (keyed hash plus a
 * 4 µs clock), the SYN cache falling back to SYN cookies, randomised and
 * four-tuple-unique ephemeral ports with safe TIME_WAIT recycling, ICMP
 * "fragmentation needed" lowering the segment size, and what
 * `rump.netstat -an` / `-s` print for TCP.
 *
 *     kernel under test  hub0 10.0.0.1/24 ══ hub ══ scripted peer 10.0.0.2:8080
 *     (and two kernels on a hub for the socket-level checks)
 */
import test from 'ava';
import { AF_INET, SOCK_STREAM } from '../../kern/sys.js';
import { SOL_SOCKET, SO_REUSEADDR } from '../../net/socket.js';
import { inet } from '../../net/inet/inet.js';
import { InAddr } from '../../net/inet/in_addr.js';
import { SipHash24, tcpNewIsn, tupleHash } from '../../net/inet/tcp/isn.js';
import { main as netstat } from '../../bin/rump.netstat.js';
import { icmpMessage, ipPacket } from '../helpers/kernels.js';
import { run } from '../bin/helpers.js';
import { KERNEL_ADDR, PEER_ADDR, Peer, errnoOf } from './harness.js';
import { B_ADDR, PORT, pair, sin } from './pair.js';
import { PLAIN, inState } from './states.js';

test('SipHash-2-4 matches the reference vectors (the ISN and cookie hash)', (t) => {
  const h = new SipHash24(new Uint8Array(16).map((_, i) => i));
  const msg = new Uint8Array(64).map((_, i) => i);
  const hex = (n: number): string => `${h.hi.toString(16).padStart(8, '0')}${(n >>> 0).toString(16).padStart(8, '0')}`;
  t.is(hex(h.hash(msg, 0)), '726fdb47dd0e0e31');
  t.is(hex(h.hash(msg, 15)), 'a129ca6149be45e5');
  t.is(hex(h.hash(msg, 63)), '958a324ceb064572');
});

test('the four-tuple hash is SipHash-2-4 of the tuple\'s bytes (addresses, ports, extra word, domain byte), IPv4 and IPv6', (t) => {
  const h = new SipHash24(new Uint8Array(16).map((_, i) => 0xf0 ^ i));
  const le = (b: Uint8Array, at: number, v: number): void => {
    for (let i = 0; i < 4; i++) b[at + i] = v >>> (8 * i);
  };
  const l4 = new InAddr().setV4(0x0ac70002);
  const f4 = new InAddr().setV4(0xac1f5a17);
  const b4 = new Uint8Array(17);
  le(b4, 0, 0x0ac70002);
  le(b4, 4, 0xac1f5a17);
  le(b4, 8, (5003 << 16) | 61234);
  le(b4, 12, 0xdeadbeef);
  b4[16] = 3;
  const want4 = h.hash(b4, 17);
  const wantHi4 = h.hi;
  t.is(tupleHash(h, 3, l4, 5003, f4, 61234, 0xdeadbeef), want4);
  t.is(h.hi, wantHi4);
  const l6 = new InAddr();
  const f6 = new InAddr();
  const a6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0x00, 0x01]);
  const c6 = Uint8Array.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55]);
  l6.load(a6, 0);
  f6.load(c6, 0);
  const b6 = new Uint8Array(41);
  b6.set(a6, 0);
  b6.set(c6, 16);
  le(b6, 32, (443 << 16) | 40000);
  le(b6, 36, 7);
  b6[40] = 1;
  t.is(tupleHash(h, 1, l6, 443, f6, 40000, 7), h.hash(b6, 41));
});

test('ISN (RFC 6528): M + F(tuple, key): grows with a 4 µs clock per tuple, unrelated across tuples and keys', (t) => {
  const k1 = new SipHash24(new Uint8Array(16).fill(1));
  const k2 = new SipHash24(new Uint8Array(16).fill(2));
  const l = new InAddr().setV4(1);
  const f = new InAddr().setV4(2);
  const a = tcpNewIsn(k1, 1000, l, 1000, f, 80);
  t.is((tcpNewIsn(k1, 1001, l, 1000, f, 80) - a) >>> 0, 250, '250 ticks per millisecond');
  t.not(tcpNewIsn(k1, 1000, l, 1001, f, 80), (a + 0) >>> 0);
  t.not(tcpNewIsn(k2, 1000, l, 1000, f, 80), a);
});

test('kernels with different host randomness choose different ISNs and ports for the same connection', async (t) => {
  const seen = new Set<string>();
  for (const seed of [1, 2, 3]) {
    const { p } = await inState('SYN_SENT', { seed });
    seen.add(`${p.kiss} ${p.kport}`);
  }
  t.is(seen.size, 3);
});

test('SYN cookies: with syncookies_only a listener keeps no state, the ACK alone builds the connection with its options', async (t) => {
  const p = await Peer.create({ sysctl: { 'net.inet.tcp.syncookies_only': 1 } });
  const lfd = await p.socket(false);
  await p.k.sys.bind(lfd, { family: AF_INET, addr: '0.0.0.0', port: 8080 });
  await p.k.sys.listen(lfd, 4);
  await p.send('S', 0, 0, { opts: [['mss', 1400], ['nop'], ['wscale', 7], ['sackOK'], ['nop'], ['nop']] });
  t.is(p.next(), 'S. 0:0(0) ack 1 win 32768 <mss 1460,nop,wscale 3,sackOK,eol,eol>');
  t.deepEqual(await p.states(), ['LISTEN'], 'no SYN cache entry');
  t.is(inet(p.k).tcpstat.sc_sendcookie, 1);
  await p.send('.', 1, 1, { win: 1000 });
  const { fd } = await p.k.sys.accept(lfd);
  const info = (await p.k.sys.getsockopt(fd, 6, 9)) as Record<string, number>;
  t.is(info['tcpi_snd_mss'], 1400, 'the MSS came back from the cookie');
  t.is(info['tcpi_snd_wscale'], 7, 'so did the window scale');
  t.is(info['tcpi_options']! & 2, 2, 'and SACK-permitted');
  t.is(inet(p.k).tcpstat.sc_recvcookie, 1);
  // An ACK with a forged cookie gets an RST.
  p.pport = 8081;
  await p.send('.', 1, 12345);
  t.is(p.next(), 'R 12345:12345(0) win 0');
  t.is(inet(p.k).tcpstat.sc_badcookie, 1);
  await p.finish(t);
});

test('a full SYN cache answers with cookies (syncache.cachelimit)', async (t) => {
  const p = await Peer.create({ sysctl: { 'net.inet.tcp.syncache.cachelimit': 2 } });
  const lfd = await p.socket(false);
  await p.k.sys.bind(lfd, { family: AF_INET, addr: '0.0.0.0', port: 8080 });
  await p.k.sys.listen(lfd, 8);
  for (let i = 0; i < 4; i++) await p.send('S', 0, 0, { opts: PLAIN, sport: 9000 + i });
  t.is(p.drain().length, 4);
  t.deepEqual(await p.states(), ['LISTEN', 'SYN_RCVD', 'SYN_RCVD']);
  t.is(inet(p.k).tcpstat.sc_sendcookie, 2);
  // The SYN-ACKs of the cached entries are retransmitted, then the entries time out.
  await p.run(20_000);
  t.is(inet(p.k).tcpstat.sc_retransmitted, 6);
  t.is(inet(p.k).tcpstat.sc_timed_out, 2);
  t.deepEqual(await p.states(), ['LISTEN']);
  t.is(p.k.callouts.count > 0, true);
  await p.finish(t);
});

test('ephemeral ports: random start (RFC 6056), shared between peers, unique per four-tuple', async (t) => {
  const n = await pair(21);
  const l = await n.b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await n.b.sys.bind(l, sin('0.0.0.0', PORT));
  await n.b.sys.listen(l, 64);
  const ports = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const fd = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
    const c = n.a.sys.connect(fd, sin(B_ADDR, PORT));
    await n.sim.run(2);
    await c;
    ports.add((await n.a.sys.getsockname(fd)).port);
  }
  t.is(ports.size, 20);
  t.true([...ports].every((p) => p >= 49152 && p <= 65535));
  await n.closeAllAndCheck(t);
});

test('connect from a port whose four-tuple is in TIME_WAIT recycles it once that is safe (FreeBSD tcp_twrecycleable)', async (t) => {
  const n = await pair(22);
  const { cfd, sfd, lfd } = await n.connected();
  const port = (await n.a.sys.getsockname(cfd)).port;
  await n.a.sys.close(cfd);
  await n.sim.run(5);
  await n.b.sys.close(sfd);
  await n.sim.run(5);
  const fd = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  await n.a.sys.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  await n.a.sys.bind(fd, sin('0.0.0.0', port));
  const c = n.a.sys.connect(fd, sin(B_ADDR, PORT));
  await n.sim.run(5);
  t.is(await errnoOf(c), 'ok');
  t.is(inet(n.a).tcpstat.tw_reuse, 1);
  await n.b.sys.close(lfd);
  await n.closeAllAndCheck(t);
});

test('ICMP fragmentation needed (RFC 1191) lowers the segment size and resends at once', async (t) => {
  const { p, fd } = await inState('ESTABLISHED');
  await p.k.sys.write(fd, new Uint8Array(3000));
  await p.sim.settle();
  t.deepEqual(p.drain(), ['. 1:1461(1460) ack 1 win 33580', '. 1461:2921(1460) ack 1 win 33580', 'P. 2921:3001(80) ack 1 win 33580'],
    'one write on an idle connection goes whole (BSD decides Nagle\'s "idle" once per output)');
  const quoted = ipPacket({ src: KERNEL_ADDR, dst: PEER_ADDR, p: 6, payload: new Uint8Array(8) }).slice(0, 28);
  const dv = new DataView(quoted.buffer);
  dv.setUint16(20, p.kport);
  dv.setUint16(22, p.pport);
  dv.setUint32(24, (p.kiss + 1) >>> 0);
  p.injectIp(ipPacket({ src: PEER_ADDR, dst: KERNEL_ADDR, p: 1, payload: icmpMessage(3, 4, 1000, quoted) }));
  await p.sim.settle();
  t.deepEqual(p.drain(), [
    '. 1:961(960) ack 1 win 33580', '. 961:1921(960) ack 1 win 33580', '. 1921:2881(960) ack 1 win 33580',
    'P. 2881:3001(120) ack 1 win 33580',
  ], 'MTU 1000: back to snd_una, everything again in 960-byte segments');
  t.is(inet(p.k).tcpstat.mturesent, 1);
  await p.finish(t);
});

test('rump.netstat -an lists TCP states; -s -p tcp prints the counters', async (t) => {
  const n = await pair(23);
  await n.connected();
  const an = await run(netstat, ['-an', '-f', 'inet'], n.b.sys);
  t.regex(an.out, /tcp\s+0\s+0\s+10\.0\.0\.2\.7777\s+10\.0\.0\.1\.\d+\s+ESTABLISHED/);
  t.regex(an.out, /tcp\s+0\s+0\s+\*\.7777\s+\*\.\*\s+LISTEN/);
  const s = await run(netstat, ['-s', '-p', 'tcp'], n.a.sys);
  t.regex(s.out, /1 connection request/);
  t.regex(s.out, /1 connection established \(including accepts\)/);
  await n.closeAllAndCheck(t);
});
