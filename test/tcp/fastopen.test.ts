/*
 * TCP Fast Open cookies (RFC 7413 §4.1.2) are keyed per kernel: the same
 * client address gets the same cookie from one kernel every time, another
 * address gets another, and a second kernel (its own key from the
 * hypercall random source) gives a different one, so a cookie is worth
 * nothing anywhere else. Then a client's data in the SYN between two
 * kernels; the exact segments are in the packetdrill scripts of
 * test/fixtures/packetdrill-tcpfeat/fastopen/.
 */
import test from 'ava';

import { InAddr } from '../../net/inet/in_addr.js';
import { inet } from '../../net/inet/inet.js';
import { TFO_COOKIE_LEN, tcpFastOpen } from '../../net/inet/tcp/fastopen.js';
import { bootKernels, ip } from '../helpers/kernels.js';
import { F_SETFL, O_NONBLOCK, SOCK_STREAM } from '../../kern/sys.js';
import { IPPROTO_TCP } from '../../net/wire/ipv4.js';
import { TCP_FASTOPEN } from '../../net/inet/tcp/usrreq.js';
import { A_ADDR, B_ADDR, PORT, pair, sin, until, type Pair } from './pair.js';

function cookieOf(k: Parameters<typeof inet>[0], addr: string): string {
  const a = new InAddr().setV4(ip(addr));
  const c = tcpFastOpen(inet(k).tcp!).cookie(a, new Uint8Array(TFO_COOKIE_LEN));
  return Buffer.from(c).toString('hex');
}

test('a kernel gives one client the same 8-byte cookie, another client another, another kernel another', async (t) => {
  const { sim, kernels } = bootKernels(2, 7);
  const [a, b] = kernels as [typeof kernels[0], typeof kernels[0]];
  const c1 = cookieOf(a, '192.0.2.1');
  t.is(c1.length, 2 * TFO_COOKIE_LEN);
  t.is(cookieOf(a, '192.0.2.1'), c1);
  t.not(cookieOf(a, '192.0.2.2'), c1);
  t.not(cookieOf(b, '192.0.2.1'), c1);
  for (const k of kernels) await k.halt();
  await sim.settle();
});

/* ------------------------------------------------------------------------ */
/* The client's data in the SYN (RFC 7413 §3), two kernels on a hub. */


const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** The TCP segments A puts on the hub: flags and payload. */
function segmentsFromA(n: Pair): Array<{ syn: boolean; ack: boolean; payload: string }> {
  const out: Array<{ syn: boolean; ack: boolean; payload: string }> = [];
  n.hub.tap((f) => {
    if (f.length < 34 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) return;
    if (`${f[26]}.${f[27]}.${f[28]}.${f[29]}` !== A_ADDR) return;
    const ip = 14;
    const tcp = ip + (f[ip]! & 0x0f) * 4;
    const total = (f[ip + 2]! << 8) | f[ip + 3]!;
    const data = tcp + (f[tcp + 12]! >> 4) * 4;
    const flags = f[tcp + 13]!;
    out.push({ syn: (flags & 0x02) !== 0, ack: (flags & 0x10) !== 0, payload: dec(f.subarray(data, ip + total)) });
  });
  return out;
}

/** B listens on PORT with TCP_FASTOPEN (server_enable=1). */
async function tfoPair(seed: number): Promise<{ n: Pair; lfd: number }> {
  const n = await pair(seed, { 'net.inet.tcp.fastopen.server_enable': 1 });
  const lfd = await n.b.sys.socket(2, SOCK_STREAM, 0);
  await n.b.sys.bind(lfd, sin('0.0.0.0', PORT));
  await n.b.sys.listen(lfd, 16);
  await n.b.sys.setsockopt(lfd, IPPROTO_TCP, TCP_FASTOPEN, 1);
  return { n, lfd };
}

/** A's socket with TCP_FASTOPEN, non-blocking, sending `text` with sendto() to B (the implied connect). */
async function sendtoB(n: Pair, text: string): Promise<{ fd: number; sent: number }> {
  const fd = await n.a.sys.socket(2, SOCK_STREAM, 0);
  await n.a.sys.setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, 1);
  await n.a.sys.fcntl(fd, F_SETFL, O_NONBLOCK);
  const sent = await n.a.sys.sendto(fd, enc(text), 0, sin(B_ADDR, PORT));
  return { fd, sent };
}

test('Fast Open client: sendto() without a cookie asks for one and sends its data after the handshake; with it, the data rides in the SYN', async (t) => {
  const { n, lfd } = await tfoPair(11);
  const segs = segmentsFromA(n);

  const first = await sendtoB(n, 'GET /first');
  t.is(first.sent, 10, 'sendto queues the data and connects');
  const a1 = await until(n, n.b.sys.accept(lfd));
  await n.sim.run(50);
  t.is(dec(await n.b.sys.read(a1.fd, 100)), 'GET /first');
  t.deepEqual(segs[0], { syn: true, ack: false, payload: '' }, 'no cookie yet: a bare SYN asking for one');
  t.true(segs.some((s) => !s.syn && s.payload === 'GET /first'), 'the data after the handshake');

  segs.length = 0;
  const second = await sendtoB(n, 'GET /second');
  t.is(second.sent, 11);
  t.deepEqual(segs[0], { syn: true, ack: false, payload: 'GET /second' }, 'the cookie cached: the data in the SYN');
  const a2 = await until(n, n.b.sys.accept(lfd));
  t.is(dec(await n.b.sys.read(a2.fd, 100)), 'GET /second', 'the server reads it at once');
  await n.sim.run(50);
  t.false(segs.slice(1).some((s) => s.payload !== ''), 'the SYN-ACK acknowledged it: nothing sent twice');
  await n.a.sys.write(second.fd, enc('!'));
  await n.sim.run(50);
  t.is(dec(await n.b.sys.read(a2.fd, 100)), '!', 'the stream goes on after the SYN\'s bytes');
  await n.closeAllAndCheck(t);
});

test('Fast Open client: a server that no longer takes the cookie acknowledges only the SYN; the data is sent again after the handshake', async (t) => {
  const { n, lfd } = await tfoPair(12);
  const segs = segmentsFromA(n);
  const first = await sendtoB(n, 'warm');
  await until(n, n.b.sys.accept(lfd));
  await n.sim.run(50);
  await n.a.sys.close(first.fd);
  // The server stops serving Fast Open: the cookie's SYN is an ordinary SYN to it.
  await n.b.sys.sysctlSet('net.inet.tcp.fastopen.server_enable', 0);
  segs.length = 0;
  await sendtoB(n, 'hello again');
  const a = await until(n, n.b.sys.accept(lfd));
  await n.sim.run(50);
  t.deepEqual(segs[0], { syn: true, ack: false, payload: 'hello again' });
  t.true(segs.some((s) => !s.syn && s.payload === 'hello again'), 'sent again after the SYN-ACK');
  t.is(dec(await n.b.sys.read(a.fd, 100)), 'hello again', 'once, in order');
  await n.closeAllAndCheck(t);
});

test('without TCP_FASTOPEN sendto() with a destination on an unconnected TCP socket is ENOTCONN, as in NetBSD', async (t) => {
  const { n, lfd } = await tfoPair(13);
  const fd = await n.a.sys.socket(2, SOCK_STREAM, 0);
  const e = await n.a.sys.sendto(fd, enc('x'), 0, sin(B_ADDR, PORT)).catch((err: { code?: string }) => err.code);
  t.is(e, 'ENOTCONN');
  await n.a.sys.close(fd);
  t.is(n.b.sys.file(lfd).poll(1), 0, 'nothing reached the listener');
  await n.closeAllAndCheck(t);
});
