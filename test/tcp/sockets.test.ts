/*
 * TCP through `sys` between two kernels on a hub: connect and accept
 * (blocking and O_NONBLOCK), data both ways, half-close, the errors a user
 * sees (ECONNREFUSED, ECONNRESET, EPIPE, EINPROGRESS, EALREADY, EISCONN,
 * EAGAIN, ENOTCONN), SO_LINGER 0, the listen backlog, poll, recv flags,
 * netstat's view, and after every test: nothing leaked.
 *
 *     kernel A  hub0 10.0.0.1/24 ═══ hub "lan" ═══ hub0 10.0.0.2/24  kernel B
 */
import test from 'ava';
import { ECONNREFUSED } from '../../kern/errno.js';
import { AF_INET, F_SETFL, MSG_DONTWAIT, MSG_PEEK, MSG_WAITALL, O_NONBLOCK, SHUT_RD, SHUT_WR, SOCK_STREAM } from '../../kern/sys.js';
import { POLLERR, POLLHUP, POLLIN, POLLOUT } from '../../kern/select.js';
import { SOL_SOCKET, SO_ERROR, SO_LINGER, SO_RCVBUF, SO_SNDBUF } from '../../net/socket.js';
import { inet } from '../../net/inet/inet.js';
import { IPPROTO_TCP } from '../../net/wire/ipv4.js';
import { TCP_INFO, TCP_NODELAY, TCP_CONGESTION } from '../../net/inet/tcp/usrreq.js';
import { errnoOf } from './harness.js';
import { A_ADDR, B_ADDR, PORT, bytes, pair, readN, sin, text, until, writeAll } from './pair.js';

test('connect, accept, echo both ways, close: FIN handshake, TIME_WAIT on the closer, then nothing left', async (t) => {
  const n = await pair(1);
  const { cfd, sfd, lfd } = await n.connected();
  t.deepEqual(await n.a.sys.getpeername(cfd), sin(B_ADDR, PORT));
  t.deepEqual(await n.b.sys.getsockname(sfd), sin(B_ADDR, PORT));
  t.is((await n.b.sys.getpeername(sfd)).addr, A_ADDR);
  t.is(await n.a.sys.write(cfd, bytes('hello, B')), 8);
  await n.sim.run(1);
  t.is(text(await n.b.sys.read(sfd, 100)), 'hello, B');
  await n.b.sys.send(sfd, bytes('hello, A'));
  await n.sim.run(1);
  t.is(text(await n.a.sys.recv(cfd, 100)), 'hello, A');
  await n.a.sys.close(cfd);
  await n.sim.run(10);
  t.is((await n.b.sys.read(sfd, 100)).length, 0, 'end of file');
  await n.b.sys.close(sfd);
  await n.sim.run(10);
  const states = await n.a.sys.ext('pcblist');
  t.deepEqual(states.filter((p) => p.proto === 'tcp').map((p) => p.state), ['TIME_WAIT']);
  await n.b.sys.close(lfd);
  await n.closeAllAndCheck(t);
});

test('half-close: SHUT_WR sends FIN, the peer reads EOF and can still send back', async (t) => {
  const n = await pair(2);
  const { cfd, sfd } = await n.connected();
  await n.a.sys.write(cfd, bytes('request'));
  await n.a.sys.shutdown(cfd, SHUT_WR);
  await n.sim.run(5);
  t.is(text(await until(n, readN(n.b, sfd, 100))), 'request', 'the request, then EOF');
  t.is(await errnoOf(n.a.sys.write(cfd, bytes('x'))), 'EPIPE', 'no writing after SHUT_WR');
  await writeAll(n.b, sfd, bytes('response after your FIN'));
  await n.b.sys.close(sfd);
  await n.sim.run(5);
  t.is(text(await until(n, readN(n.a, cfd, 100))), 'response after your FIN');
  await n.closeAllAndCheck(t);
});

test('a blocking connect to a closed port fails with ECONNREFUSED (the RST); so does a non-blocking one, in SO_ERROR', async (t) => {
  const n = await pair(3);
  const fd = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  const p = n.a.sys.connect(fd, sin(B_ADDR, 9));
  await n.sim.run(5);
  t.is(await errnoOf(p), 'ECONNREFUSED');
  const nb = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  await n.a.sys.fcntl(nb, F_SETFL, O_NONBLOCK);
  t.is(await errnoOf(n.a.sys.connect(nb, sin(B_ADDR, 9))), 'EINPROGRESS');
  t.is(await errnoOf(n.a.sys.connect(nb, sin(B_ADDR, 9))), 'EALREADY');
  await n.sim.run(5);
  const [pfd] = await n.a.sys.poll([{ fd: nb, events: POLLOUT }], 0);
  t.is(pfd!.revents! & (POLLERR | POLLHUP), POLLERR | POLLHUP);
  t.is(await n.a.sys.getsockopt(nb, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
  t.is(inet(n.b).tcpstat.noport, 2);
  await n.closeAllAndCheck(t);
});

test('non-blocking connect: EINPROGRESS, poll for POLLOUT, then EISCONN; EAGAIN for read, accept and a full send buffer', async (t) => {
  const n = await pair(4);
  const lfd = await n.b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await n.b.sys.bind(lfd, sin('0.0.0.0', PORT));
  await n.b.sys.listen(lfd, 4);
  await n.b.sys.fcntl(lfd, F_SETFL, O_NONBLOCK);
  t.is(await errnoOf(n.b.sys.accept(lfd)), 'EAGAIN');
  const fd = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  await n.a.sys.fcntl(fd, F_SETFL, O_NONBLOCK);
  t.is(await errnoOf(n.a.sys.connect(fd, sin(B_ADDR, PORT))), 'EINPROGRESS');
  const polled = n.a.sys.poll([{ fd, events: POLLOUT }], -1);
  await n.sim.run(5);
  const [r] = await polled;
  t.is(r!.revents, POLLOUT);
  t.is(await errnoOf(n.a.sys.connect(fd, sin(B_ADDR, PORT))), 'EISCONN');
  const [lp] = await n.b.sys.poll([{ fd: lfd, events: POLLIN }], 0);
  t.is(lp!.revents, POLLIN, 'the listener is readable: a connection waits');
  const { fd: sfd } = await n.b.sys.accept(lfd);
  t.is(await errnoOf(n.a.sys.read(fd, 10)), 'EAGAIN');
  // Fill A's send buffer and B's receive buffer: the write stops with what fitted.
  await n.a.sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, 8192);
  let sent = 0;
  for (;;) {
    const r2 = await errnoOf(n.a.sys.write(fd, new Uint8Array(4096)).then((k) => void (sent += k)));
    if (r2 === 'EAGAIN') break;
    await n.sim.run(1);
    if (sent > 1_000_000) break;
  }
  t.true(sent > 8192 && sent < 1_000_000, `sent ${sent} before EAGAIN`);
  t.is(await errnoOf(n.a.sys.send(fd, new Uint8Array(10), MSG_DONTWAIT)), 'EAGAIN');
  // Drain B: everything A wrote arrives.
  const got = await until(n, readN(n.b, sfd, sent));
  t.is(got.length, sent);
  await n.closeAllAndCheck(t);
});

test('SO_LINGER 0: close aborts with RST; the peer reads ECONNRESET, then a write gets EPIPE', async (t) => {
  const n = await pair(5);
  const { cfd, sfd } = await n.connected();
  await n.a.sys.setsockopt(cfd, SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 0 });
  await n.a.sys.close(cfd);
  await n.sim.run(5);
  t.is(await errnoOf(n.b.sys.read(sfd, 10)), 'ECONNRESET');
  t.is(await errnoOf(n.b.sys.write(sfd, bytes('x'))), 'EPIPE');
  t.is((await n.b.sys.read(sfd, 10)).length, 0, 'after the error: end of file');
  t.deepEqual(await n.a.sys.ext('pcblist'), [], 'no TIME_WAIT after an abort');
  await n.closeAllAndCheck(t);
});

test('writing to a connection the peer reset gets EPIPE; reading gets ECONNRESET once', async (t) => {
  const n = await pair(6);
  const { cfd, sfd } = await n.connected();
  await n.b.sys.setsockopt(sfd, SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 0 });
  await n.b.sys.close(sfd);
  await n.sim.run(5);
  t.is(await errnoOf(n.a.sys.write(cfd, bytes('x'))), 'EPIPE');
  t.is(await errnoOf(n.a.sys.read(cfd, 1)), 'ECONNRESET');
  t.is(await errnoOf(n.a.sys.read(cfd, 1)), 'ok');
  await n.closeAllAndCheck(t);
});

test('data sent to a closed socket draws an RST (rcvafterclose)', async (t) => {
  const n = await pair(7);
  const { cfd, sfd } = await n.connected();
  await n.b.sys.close(sfd);
  await n.sim.run(5);
  // A is in CLOSE_WAIT; its data reaches a B with no descriptor any more.
  await n.a.sys.write(cfd, bytes('too late'));
  await n.sim.run(5);
  t.is(inet(n.b).tcpstat.rcvafterclose, 1);
  t.is(await errnoOf(n.a.sys.read(cfd, 10)), 'ECONNRESET');
  await n.closeAllAndCheck(t);
});

test('kern.somaxconn cuts a larger backlog (NetBSD solisten): the accept queue stays bounded', async (t) => {
  const n = await pair(8);
  t.is(await n.b.sys.sysctl('kern.somaxconn'), 4096, 'a server-sized default (Node listens with 511)');
  await n.b.sys.sysctlSet('kern.somaxconn', 2);
  const lfd = await n.b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await n.b.sys.bind(lfd, sin('0.0.0.0', PORT));
  await n.b.sys.listen(lfd, 1000);
  const fds: number[] = [];
  for (let i = 0; i < 6; i++) {
    const fd = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
    fds.push(fd);
    void errnoOf(n.a.sys.connect(fd, sin(B_ADDR, PORT)));
    await n.sim.run(1);
  }
  await n.sim.run(10);
  const reads = await Promise.all(fds.map((fd) => errnoOf(n.a.sys.recv(fd, 1, MSG_DONTWAIT))));
  t.deepEqual(reads, ['EAGAIN', 'EAGAIN', 'EAGAIN', 'EAGAIN', 'ECONNRESET', 'ECONNRESET'], 'as with backlog 2: 3/2 · 2 + 1 queued');
  t.is(inet(n.b).tcpstat.sc_aborted, 2, 'netstat -s: aborted (no space to build PCB)');
  await n.closeAllAndCheck(t);
});

test('listen backlog: connections beyond 3/2 of it are refused with RST; accepted ones work', async (t) => {
  const n = await pair(8);
  const lfd = await n.b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await n.b.sys.bind(lfd, sin('0.0.0.0', PORT));
  await n.b.sys.listen(lfd, 2);
  const fds: number[] = [];
  const results: Array<Promise<string>> = [];
  for (let i = 0; i < 5; i++) {
    const fd = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
    fds.push(fd);
    results.push(errnoOf(n.a.sys.connect(fd, sin(B_ADDR, PORT))));
    await n.sim.run(1);
  }
  await n.sim.run(10);
  t.deepEqual(await Promise.all(results), ['ok', 'ok', 'ok', 'ok', 'ok'], 'every handshake completes at the client');
  const reads = await Promise.all(fds.map((fd) => errnoOf(n.a.sys.recv(fd, 1, MSG_DONTWAIT))));
  t.deepEqual(reads, ['EAGAIN', 'EAGAIN', 'EAGAIN', 'EAGAIN', 'ECONNRESET'], 'backlog 2: the queue takes 4 (NetBSD: more than 3/2 · 2 refuses)');
  t.is(inet(n.b).tcpstat.sc_aborted, 1);
  const a1 = await n.b.sys.accept(lfd);
  const a2 = await n.b.sys.accept(lfd);
  await n.b.sys.write(a1.fd, bytes('1'));
  await n.b.sys.write(a2.fd, bytes('2'));
  await n.sim.run(5);
  t.is(text(await n.a.sys.read(fds[0]!, 10)), '1');
  t.is(text(await n.a.sys.read(fds[1]!, 10)), '2');
  await n.closeAllAndCheck(t);
});

test('closing a listener resets the connections still in its accept queue', async (t) => {
  const n = await pair(9);
  const { cfd, sfd, lfd } = await n.connected();
  const fd2 = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  const c2 = n.a.sys.connect(fd2, sin(B_ADDR, PORT));
  await n.sim.run(5);
  await c2;
  await n.b.sys.close(lfd);
  await n.sim.run(5);
  t.is(await errnoOf(n.a.sys.read(fd2, 1)), 'ECONNRESET');
  await n.a.sys.write(cfd, bytes('still here'));
  await n.sim.run(5);
  t.is(text(await n.b.sys.read(sfd, 100)), 'still here', 'the accepted connection lives on');
  await n.closeAllAndCheck(t);
});

test('recv flags: MSG_PEEK leaves data, MSG_WAITALL waits for all, MSG_DONTWAIT does not wait; SHUT_RD discards', async (t) => {
  const n = await pair(10);
  const { cfd, sfd } = await n.connected();
  await n.a.sys.write(cfd, bytes('abcdef'));
  await n.sim.run(2);
  t.is(text(await n.b.sys.recv(sfd, 3, MSG_PEEK)), 'abc');
  t.is(text(await n.b.sys.recv(sfd, 3, MSG_PEEK)), 'abc');
  const all = n.b.sys.recv(sfd, 10, MSG_WAITALL);
  await n.sim.run(2);
  await n.a.sys.write(cfd, bytes('ghij'));
  t.is(text(await until(n, all)), 'abcdefghij', 'the second write waited for the delayed ACK (Nagle)');
  t.is(await errnoOf(n.b.sys.recv(sfd, 10, MSG_DONTWAIT)), 'EAGAIN');
  await n.b.sys.shutdown(sfd, SHUT_RD);
  await n.a.sys.write(cfd, bytes('ignored'));
  await n.sim.run(2);
  t.is((await n.b.sys.read(sfd, 10)).length, 0, 'after SHUT_RD: EOF, data dropped');
  await n.closeAllAndCheck(t);
});

test('poll: POLLIN for data and for EOF, POLLHUP when both directions are done', async (t) => {
  const n = await pair(11);
  const { cfd, sfd } = await n.connected();
  const waiting = n.b.sys.poll([{ fd: sfd, events: POLLIN }], -1);
  await n.a.sys.write(cfd, bytes('x'));
  await n.sim.run(2);
  t.is((await waiting)[0]!.revents, POLLIN);
  await n.b.sys.read(sfd, 10);
  const [idle] = await n.b.sys.poll([{ fd: sfd, events: POLLIN | POLLOUT }], 0);
  t.is(idle!.revents, POLLOUT);
  await n.a.sys.shutdown(cfd, SHUT_WR);
  await n.sim.run(2);
  const [eof] = await n.b.sys.poll([{ fd: sfd, events: POLLIN }], 0);
  t.is(eof!.revents, POLLIN);
  await n.b.sys.shutdown(sfd, SHUT_WR);
  await n.sim.run(2);
  const [hup] = await n.a.sys.poll([{ fd: cfd, events: POLLIN }], 0);
  t.is(hup!.revents! & (POLLIN | POLLHUP), POLLIN | POLLHUP);
  await n.closeAllAndCheck(t);
});

test('ENOTCONN before connect; EINVAL to connect a listener; EADDRINUSE to listen twice on a port', async (t) => {
  const n = await pair(12);
  const fd = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  t.is(await errnoOf(n.a.sys.write(fd, bytes('x'))), 'ENOTCONN');
  t.is(await errnoOf(n.a.sys.read(fd, 1)), 'ENOTCONN');
  t.is(await errnoOf(n.a.sys.shutdown(fd, SHUT_WR)), 'ENOTCONN');
  t.is(await errnoOf(n.a.sys.getpeername(fd)), 'ENOTCONN');
  await n.a.sys.bind(fd, sin('0.0.0.0', PORT));
  await n.a.sys.listen(fd, 1);
  t.is(await errnoOf(n.a.sys.connect(fd, sin(B_ADDR, PORT))), 'EOPNOTSUPP');
  const fd2 = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  t.is(await errnoOf(n.a.sys.bind(fd2, sin('0.0.0.0', PORT))), 'EADDRINUSE');
  await n.closeAllAndCheck(t);
});

test('Nagle holds small writes while data is unacknowledged; TCP_NODELAY sends each at once', async (t) => {
  const n = await pair(13, { 'net.inet.tcp.delacktime': 100 });
  const { cfd, sfd } = await n.connected();
  const segs: number[] = [];
  n.hub.tap((f) => {
    if (f[23] === 6 && f[29] === 1) {
      const hl = (f[14]! & 15) * 4;
      const th = ((f[14 + hl + 12]! >> 4) & 15) * 4;
      const len = ((f[16]! << 8) | f[17]!) - hl - th;
      if (len > 0) segs.push(len);
    }
  });
  for (let i = 0; i < 5; i++) await n.a.sys.write(cfd, bytes('x'));
  await n.sim.run(500);
  t.deepEqual(segs, [1, 4], 'one byte goes, four wait for its ACK (delayed 100 ms) and go together');
  t.is(text(await n.b.sys.read(sfd, 10)), 'xxxxx');
  segs.length = 0;
  await n.a.sys.setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, 1);
  for (let i = 0; i < 5; i++) await n.a.sys.write(cfd, bytes('y'));
  await n.sim.run(500);
  t.deepEqual(segs, [1, 1, 1, 1, 1]);
  await n.closeAllAndCheck(t);
});

test('pcblist shows states (netstat -a); net.inet.tcp.stats counts; TCP_INFO and TCP_CONGESTION', async (t) => {
  const n = await pair(14);
  const { cfd, sfd } = await n.connected();
  const list = await n.b.sys.ext('pcblist');
  t.deepEqual(list.filter((p) => p.proto === 'tcp').map((p) => `${p.lport} ${p.faddr} ${p.state}`).sort(), [
    `${PORT} 0.0.0.0 LISTEN`, `${PORT} ${A_ADDR} ESTABLISHED`,
  ]);
  const st = (await n.a.sys.sysctl('net.inet.tcp.stats')) as Record<string, number>;
  t.is(st['connattempt'], 1);
  t.is(st['connects'], 1);
  t.is(((await n.b.sys.sysctl('net.inet.tcp.stats')) as Record<string, number>)['accepts'], 1);
  const info = (await n.a.sys.getsockopt(cfd, IPPROTO_TCP, TCP_INFO)) as Record<string, number | string>;
  t.is(info['tcpi_state'], 4);
  t.is(info['tcpi_options'], 7, 'timestamps, SACK and window scaling negotiated');
  t.is(text((await n.a.sys.getsockopt(cfd, IPPROTO_TCP, TCP_CONGESTION)) as Uint8Array), 'newreno');
  await n.a.sys.setsockopt(cfd, IPPROTO_TCP, TCP_CONGESTION, bytes('cubic'));
  t.is(text((await n.a.sys.getsockopt(cfd, IPPROTO_TCP, TCP_CONGESTION)) as Uint8Array), 'cubic');
  t.is(await errnoOf(n.a.sys.setsockopt(cfd, IPPROTO_TCP, TCP_CONGESTION, bytes('vegas'))), 'ENOENT');
  await n.b.sys.sysctlSet('net.inet.tcp.congctl.selected', 'cubic');
  const s2 = await n.b.sys.socket(AF_INET, SOCK_STREAM, 0);
  t.is(text((await n.b.sys.getsockopt(s2, IPPROTO_TCP, TCP_CONGESTION)) as Uint8Array), 'cubic');
  t.is(await errnoOf(n.b.sys.sysctlSet('net.inet.tcp.congctl.selected', 'vegas')), 'ENOENT');
  const w = writeAll(n.a, cfd, new Uint8Array(100_000));
  t.is((await until(n, readN(n.b, sfd, 100_000))).length, 100_000);
  await w;
  t.is(await n.a.sys.getsockopt(cfd, SOL_SOCKET, SO_RCVBUF), 33304, '32768 rounded up to 23 segments of 1448');
  await n.closeAllAndCheck(t);
});

test('a connection reset while it waits in the accept queue leaves the queue', async (t) => {
  const n = await pair(15);
  const lfd = await n.b.sys.socket(AF_INET, SOCK_STREAM, 0);
  await n.b.sys.bind(lfd, sin('0.0.0.0', PORT));
  await n.b.sys.listen(lfd, 4);
  await n.b.sys.fcntl(lfd, F_SETFL, O_NONBLOCK);
  const fd = await n.a.sys.socket(AF_INET, SOCK_STREAM, 0);
  const c = n.a.sys.connect(fd, sin(B_ADDR, PORT));
  await n.sim.run(5);
  await c;
  const [ready] = await n.b.sys.poll([{ fd: lfd, events: POLLIN }], 0);
  t.is(ready!.revents, POLLIN);
  await n.a.sys.setsockopt(fd, SOL_SOCKET, SO_LINGER, { l_onoff: 1, l_linger: 0 });
  await n.a.sys.close(fd);
  await n.sim.run(5);
  t.is(await errnoOf(n.b.sys.accept(lfd)), 'EAGAIN');
  await n.closeAllAndCheck(t);
});
